/* encode.c: the decision output object as bytes (see encode.h). It mirrors
 * mp_decision_json in engine/decide.c field for field; a change there needs the same change
 * here, and the e2e comparison in tests/e2e/server.sh fails until it is made. */
#include "encode.h"
#include "alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void mp_encode_init(mp_encode_buf *b, char *storage, size_t cap)
{
	*b = (mp_encode_buf){.p = storage, .cap = cap};
}

void mp_encode_free(mp_encode_buf *b)
{
	if (b->heap)
		mp_free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int reserve(mp_encode_buf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n + 256;
	char *p = b->heap ? mp_realloc(b->p, cap) : mp_malloc(cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	if (!b->heap && b->len)
		memcpy(p, b->p, b->len);
	b->p = p;
	b->cap = cap;
	b->heap = 1;
	return 0;
}

void mp_encode_raw(mp_encode_buf *b, const char *s, size_t n)
{
	if (reserve(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define LIT(b, s) mp_encode_raw(b, s, sizeof(s) - 1)

/* The length of the UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void u_escape(mp_encode_buf *b, uint32_t v)
{
	static const char hex[] = "0123456789ABCDEF";
	char u[6] = {'\\',       'u', hex[(v >> 12) & 15], hex[(v >> 8) & 15], hex[(v >> 4) & 15],
	             hex[v & 15]};
	mp_encode_raw(b, u, 6);
}

/* A UTF-8 sequence as \uXXXX, or a surrogate pair beyond the BMP (JSON_ENSURE_ASCII). */
static void escape_codepoint(mp_encode_buf *b, const unsigned char *p, size_t n)
{
	static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	uint32_t cp = p[0] & lead_mask[n];
	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	if (cp < 0x10000) {
		u_escape(b, cp);
	} else {
		cp -= 0x10000;
		u_escape(b, 0xd800 | (cp >> 10));
		u_escape(b, 0xdc00 | (cp & 0x3ff));
	}
}

void mp_encode_string(mp_encode_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	LIT(b, "\"");
	while (*p) {
		const unsigned char *run = p;
		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		mp_encode_raw(b, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		unsigned c = *p;
		if (c >= 0x80) {
			size_t n = utf8_len(p);
			if (!n) {
				LIT(b, "\\uFFFD");
				p++;
			} else if (!b->ascii) {
				mp_encode_raw(b, (const char *)p, n);
				p += n;
			} else {
				escape_codepoint(b, p, n);
				p += n;
			}
			continue;
		}
		p++;
		switch (c) {
		case '"':
			LIT(b, "\\\"");
			break;
		case '\\':
			LIT(b, "\\\\");
			break;
		case '\b':
			LIT(b, "\\b");
			break;
		case '\f':
			LIT(b, "\\f");
			break;
		case '\n':
			LIT(b, "\\n");
			break;
		case '\r':
			LIT(b, "\\r");
			break;
		case '\t':
			LIT(b, "\\t");
			break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			mp_encode_raw(b, u, 6);
		}
		}
	}
	LIT(b, "\"");
}

/* The same names, in the same order, as decide.c's type_name. */
static const char *rule_type_name(uint32_t t)
{
	static const char *const names[] = {"allow", "deny", "residency", "require_mtls",
	                                    "declared_routes_only"};
	return t < 5 ? names[t] : "?";
}

/* One reason: in mp_decision_json's key order, or sorted (for the log). */
static void reason(mp_encode_buf *b, const mp_bundle *bundle, const mp_reason *r, int sorted)
{
	static const char *const kinds[] = {"allow", "deny", "error"};
	const char *kind = r->kind < 3 ? kinds[r->kind] : "?";
	if (r->rule == MP_NONE || !bundle) {
		const char *m = r->message ? r->message : "";
		if (sorted) {
			LIT(b, "{\"effect\":");
			mp_encode_string(b, kind);
			LIT(b, ",\"message\":");
			mp_encode_string(b, m);
			LIT(b, ",\"policy\":\"meshpol\",\"rule\":\"engine\"}");
		} else {
			LIT(b, "{\"policy\":\"meshpol\",\"rule\":\"engine\",\"effect\":");
			mp_encode_string(b, kind);
			LIT(b, ",\"message\":");
			mp_encode_string(b, m);
			LIT(b, "}");
		}
		return;
	}
	const mp_rule *rule = &bundle->rules[r->rule];
	const mp_policy *p = &bundle->policies[rule->policy];
	char msg[600];
	const char *m = r->message;
	if (!m) {
		snprintf(msg, sizeof(msg), "%s by %s '%s'",
		         r->kind == MP_REASON_ALLOW ? "allowed" : "denied",
		         rule_type_name(rule->type), rule->name);
		m = msg;
	}
	if (sorted) {
		LIT(b, "{\"effect\":");
		mp_encode_string(b, kind);
		LIT(b, ",\"message\":");
		mp_encode_string(b, m);
		LIT(b, ",\"policy\":");
		mp_encode_string(b, p->name);
		LIT(b, ",\"rule\":");
		mp_encode_string(b, rule->name);
		LIT(b, ",\"source\":");
		mp_encode_string(b, rule->loc ? rule->loc : "");
		LIT(b, ",\"version\":");
		mp_encode_string(b, p->version ? p->version : "");
		if (rule->via) {
			LIT(b, ",\"via\":");
			mp_encode_string(b, rule->via);
		}
		LIT(b, "}");
		return;
	}
	LIT(b, "{\"policy\":");
	mp_encode_string(b, p->name);
	LIT(b, ",\"version\":");
	mp_encode_string(b, p->version ? p->version : "");
	LIT(b, ",\"rule\":");
	mp_encode_string(b, rule->name);
	LIT(b, ",\"effect\":");
	mp_encode_string(b, kind);
	LIT(b, ",\"message\":");
	mp_encode_string(b, m);
	LIT(b, ",\"source\":");
	mp_encode_string(b, rule->loc ? rule->loc : "");
	if (rule->via) {
		LIT(b, ",\"via\":");
		mp_encode_string(b, rule->via);
	}
	LIT(b, "}");
}

static void reasons(mp_encode_buf *b, const mp_bundle *bundle, const mp_reason *v, uint32_t n,
                    int sorted)
{
	LIT(b, "[");
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			LIT(b, ",");
		reason(b, bundle, &v[i], sorted);
	}
	LIT(b, "]");
}

static void bundle_object(mp_encode_buf *b, const mp_bundle *bundle)
{
	if (!bundle) {
		LIT(b, "null");
		return;
	}
	LIT(b, "{\"name\":");
	mp_encode_string(b, bundle->name ? bundle->name : "");
	LIT(b, ",\"revision\":");
	mp_encode_string(b, bundle->revision ? bundle->revision : "");
	LIT(b, ",\"sha256\":");
	mp_encode_string(b, bundle->sha256);
	LIT(b, "}");
}

static void dropped(mp_encode_buf *b, const mp_decision *d)
{
	char n[40];
	int len = snprintf(n, sizeof(n), ",\"reasons_dropped\":%" PRIu32, d->dropped);
	mp_encode_raw(b, n, (size_t)len);
}

int mp_encode_knows(const mp_engine *e, const mp_decision *d)
{
	const mp_bundle *b = e->bundle;
	if (!b)
		return 0;
	for (uint32_t i = 0; i < d->nreasons; i++)
		if (d->reasons[i].rule == MP_NONE || d->reasons[i].rule >= b->nrules ||
		    d->reasons[i].kind > MP_REASON_ERROR)
			return 0;
	for (uint32_t i = 0; i < d->nadvisories; i++)
		if (d->advisories[i].rule == MP_NONE || d->advisories[i].rule >= b->nrules ||
		    d->advisories[i].kind > MP_REASON_ERROR)
			return 0;
	return 1;
}

void mp_encode_decision(mp_encode_buf *b, const mp_engine *e, const mp_decision *d, const char *id)
{
	LIT(b, "{\"decision_id\":");
	mp_encode_string(b, id);
	if (d->allow)
		LIT(b, ",\"allow\":true,\"effect\":");
	else
		LIT(b, ",\"allow\":false,\"effect\":");
	mp_encode_string(b, mp_effect_name(d->effect));
	LIT(b, ",\"reasons\":");
	reasons(b, e->bundle, d->reasons, d->nreasons, 0);
	if (d->dropped)
		dropped(b, d);
	if (d->nadvisories) {
		LIT(b, ",\"advisories\":");
		reasons(b, e->bundle, d->advisories, d->nadvisories, 0);
	}
	LIT(b, ",\"bundle\":");
	bundle_object(b, e->bundle);
	LIT(b, ",\"model\":{\"sha256\":");
	mp_encode_string(b, mp_model_sha256(e->model));
	LIT(b, "}}");
}

void mp_encode_decision_sorted(mp_encode_buf *b, const mp_engine *e, const mp_decision *d,
                               const char *id)
{
	LIT(b, "{");
	if (d->nadvisories) {
		LIT(b, "\"advisories\":");
		reasons(b, e->bundle, d->advisories, d->nadvisories, 1);
		LIT(b, ",");
	}
	if (d->allow)
		LIT(b, "\"allow\":true,\"bundle\":");
	else
		LIT(b, "\"allow\":false,\"bundle\":");
	bundle_object(b, e->bundle);
	LIT(b, ",\"decision_id\":");
	mp_encode_string(b, id);
	LIT(b, ",\"effect\":");
	mp_encode_string(b, mp_effect_name(d->effect));
	LIT(b, ",\"model\":{\"sha256\":");
	mp_encode_string(b, mp_model_sha256(e->model));
	LIT(b, "},\"reasons\":");
	reasons(b, e->bundle, d->reasons, d->nreasons, 1);
	if (d->dropped)
		dropped(b, d);
	LIT(b, "}");
}
