/* check.c: the one list of check tables (check.h): the auditor's own rows, then each mesh
 * provider's analyzers, in the order they run. Design: docs/architecture.md ("Audit checks"). */
#include "check.h"

#include <stddef.h>
#include <string.h>

/* Edit this list to add a provider's table, as Lua's linit.c lists libraries. The auditor's
 * table comes first: its rows run first, and its last row reports what the import rows found. */
static const mp_check_row *const tables[] = {
    mp_audit_checks,
    mp_k8s_analyzers,
    mp_istio_analyzers,
};

const mp_check_row *mp_check_at(uint32_t i)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		uint32_t n = 0;
		while (tables[t][n].id)
			n++;
		if (i < n)
			return &tables[t][i];
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
