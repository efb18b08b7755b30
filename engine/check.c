/* check.c: the one list of checks (check.h): the auditor's own rows, then the analyzers each
 * mesh provider's row names, in the order of mp_providers[], which is the order they run.
 * Design: docs/architecture.md ("Audit checks"). */
#include "check.h"
#include "provider.h"

#include <stddef.h>
#include <string.h>

/* The i-th table: the auditor's first (its rows run first, and its last row reports what the
 * import rows found), then each provider's analyzers; NULL past the last. */
static const mp_check_row *table(size_t i)
{
	if (i == 0)
		return mp_audit_checks;
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if ((*p)->analyzers && --i == 0)
			return (*p)->analyzers;
	return NULL;
}

const mp_check_row *mp_check_at(uint32_t i)
{
	const mp_check_row *t;
	for (size_t k = 0; (t = table(k)); k++) {
		uint32_t n = 0;
		while (t[n].id)
			n++;
		if (i < n)
			return &t[i];
		i -= n;
	}
	return NULL;
}

const mp_check_row *mp_check_find(const char *id)
{
	const mp_check_row *r;
	for (uint32_t i = 0; id && (r = mp_check_at(i)); i++)
		if (!strcmp(r->id, id))
			return r;
	return NULL;
}

const mp_check_row *mp_check_for_code(const char *code, const mp_check_row *after)
{
	const mp_check_row *r;
	int past = after == NULL;
	for (uint32_t i = 0; code && (r = mp_check_at(i)); i++) {
		if (!past) {
			past = r == after;
			continue;
		}
		for (const char *const *c = r->codes; r->phase == MP_CHECK_IMPORT && c && *c; c++)
			if (!strcmp(*c, code))
				return r;
	}
	return NULL;
}
