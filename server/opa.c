/* opa.c: OPA's REST API without the HTTP plumbing: query parameters, gzip bodies, the document
 * tree under /v1/data and a reply's extras (see opa.h). What OPA does is read from its own
 * server (v1/server/server.go, types/types.go, util/read_gzip_body.go); where meshpol differs,
 * docs/server.md ("OPA's REST API") says so. */
#include "opa.h"
#include "alloc.h"
#include "decision_json.h"
#include "version.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

const char *mp_opa_code(int status)
{
	if (status == 404)
		return MP_OPA_RESOURCE_NOT_FOUND;
	if (status == 405)
		return MP_OPA_INVALID_OPERATION;
	return status >= 500 ? MP_OPA_INTERNAL : MP_OPA_INVALID_PARAMETER;
}

/* --- query parameters --- */

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Decodes n bytes of a URL component (%XX; with plus_space '+' is a space, as in a query) into
 * a new buffer (mp_malloc, NUL-terminated; *outlen bytes before the NUL, which may include NUL).
 * NULL with *bad set for a malformed escape, or without it when out of memory. */
static char *pct_decode(const char *s, size_t n, int plus_space, size_t *outlen, int *bad)
{
	char *out = mp_malloc(n + 1);
	size_t o = 0;
	*bad = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] != '%') {
			out[o++] = plus_space && s[i] == '+' ? ' ' : s[i];
			continue;
		}
		if (n - i < 3 || (hi = hexval((unsigned char)s[i + 1])) < 0 ||
		    (lo = hexval((unsigned char)s[i + 2])) < 0) {
			mp_free(out);
			*bad = 1;
			return NULL;
		}
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* OPA's getBoolParam: given without a value, or "true" in any case. */
static int flag_value(const char *v, size_t n)
{
	return n == 0 || (n == 4 && !strncasecmp(v, "true", 4));
}

int mp_opa_params_read(mp_opa_params *p, const char *query, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int mode;
	} explains[] = {{"notes", MP_OPA_EXPLAIN_NOTES},
	                {"fails", MP_OPA_EXPLAIN_FAILS},
	                {"full", MP_OPA_EXPLAIN_FULL},
	                {"debug", MP_OPA_EXPLAIN_FULL}};
	memset(p, 0, sizeof(*p));
	for (const char *q = query; q && *q;) {
		const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
		const char *eq = memchr(q, '=', (size_t)(end - q));
		const char *kend = eq ? eq : end, *v = eq ? eq + 1 : end;
		size_t klen, vlen;
		int bad;
		char *key = pct_decode(q, (size_t)(kend - q), 1, &klen, &bad);
		char *val = key ? pct_decode(v, (size_t)(end - v), 1, &vlen, &bad) : NULL;
		if (!val) {
			snprintf(err, errlen,
			         bad ? "the query string has a malformed %%-escape"
			             : "out of memory");
			mp_free(key);
			goto fail;
		}
		int *flag = !strcmp(key, "pretty")       ? &p->pretty
		            : !strcmp(key, "metrics")    ? &p->metrics
		            : !strcmp(key, "instrument") ? &p->metrics
		            : !strcmp(key, "provenance") ? &p->provenance
		                                         : NULL;
		if (flag) {
			*flag |= flag_value(val, vlen);
		} else if (!strcmp(key, "explain")) {
			for (size_t i = 0; i < sizeof(explains) / sizeof(explains[0]); i++)
				if (!strcmp(val, explains[i].name) && !p->explain)
					p->explain = explains[i].mode;
		} else if (!strcmp(key, "input")) { /* the last one counts, as in OPA */
			mp_free(p->input);
			p->input = val;
			p->input_len = vlen;
			val = NULL;
		}
		mp_free(key);
		mp_free(val);
		q = amp ? amp + 1 : end;
	}
	return 0;
fail:
	mp_opa_params_free(p);
	return -1;
}

void mp_opa_params_free(mp_opa_params *p)
{
	mp_free(p->input);
	memset(p, 0, sizeof(*p));
}

/* --- gzip --- */

int mp_opa_gunzip(const unsigned char *in, size_t n, size_t max, char **out, size_t *outlen,
                  char *err, size_t errlen)
{
	z_stream zs;
	size_t cap = n * 4 + 256 < max + 1 ? n * 4 + 256 : max + 1, len = 0;
	char *buf = mp_malloc(cap + 1);
	int rc = MP_OPA_GZ_NOMEM, zrc = Z_OK;
	*out = NULL;
	memset(&zs, 0, sizeof(zs));
	if (!buf)
		return MP_OPA_GZ_NOMEM;
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) /* 16: gzip's wrapper, nothing else */
		goto done;
	zs.next_in = (unsigned char *)in;
	zs.avail_in = n > UINT_MAX ? UINT_MAX : (unsigned)n;
	for (;;) {
		if (len == cap) { /* full: grow up to max + 1, which already says too large */
			if (cap > max) {
				rc = MP_OPA_GZ_TOO_LARGE;
				goto done;
			}
			size_t ncap = cap * 2 < max + 1 ? cap * 2 : max + 1;
			char *nb = mp_realloc(buf, ncap + 1);
			if (!nb)
				goto done;
			buf = nb;
			cap = ncap;
		}
		size_t room = cap - len;
		zs.next_out = (unsigned char *)buf + len;
		zs.avail_out = room > UINT_MAX ? UINT_MAX : (unsigned)room;
		zrc = inflate(&zs, Z_NO_FLUSH);
		len = (size_t)((char *)zs.next_out - buf);
		if (zrc == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			if (inflateReset(&zs) != Z_OK) /* another member follows */
				goto done;
			continue;
		}
		if (zrc == Z_MEM_ERROR)
			goto done;
		if (zrc == Z_OK || (zrc == Z_BUF_ERROR && zs.avail_out == 0))
			continue;
		snprintf(err, errlen, "%s",
		         zrc == Z_BUF_ERROR ? "the gzip stream ends early"
		         : zs.msg           ? zs.msg
		                            : "not a gzip stream");
		rc = MP_OPA_GZ_BAD;
		goto done;
	}
	if (len > max) {
		rc = MP_OPA_GZ_TOO_LARGE;
		goto done;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = MP_OPA_GZ_OK;
done:
	if (rc == MP_OPA_GZ_NOMEM)
		snprintf(err, errlen, "out of memory");
	inflateEnd(&zs);
	mp_free(buf);
	return rc;
}

/* --- the document tree --- */

/* The children of data.meshpol, and what each is. */
static const struct {
	const char *name;
	int doc;
} meshpol_docs[] = {
    {"allow", MP_OPA_DOC_ALLOW},
    {"decision", MP_OPA_DOC_DECISION},
    {"effect", MP_OPA_DOC_WALK},
    {"reasons", MP_OPA_DOC_WALK},
};

int mp_opa_path_read(mp_opa_path *p, const char *rest, int *doc, char *err, size_t errlen)
{
	size_t o = 0, dlen;
	char *seg = NULL;
	int bad;
	p->n = 0;
	p->too_deep = 0;
	*doc = MP_OPA_DOC_UNDEFINED;
	for (const char *s = rest; *s; s += *s == '/') {
		const char *end = s + strcspn(s, "/");
		size_t n = (size_t)(end - s);
		const char *at = s;
		s = end;
		if (n == 0)
			continue;
		if (!(seg = pct_decode(at, n, 0, &dlen, &bad))) {
			snprintf(err, errlen, "invalid path: %s",
			         bad ? "a malformed %-escape" : "out of memory");
			goto fail;
		}
		if (memchr(seg, '\0', dlen) || strchr(seg, '"')) {
			snprintf(err, errlen, "invalid path: a segment holds NUL or '\"'");
			goto fail;
		}
		if (o + dlen + 1 > sizeof(p->buf)) {
			snprintf(err, errlen, "invalid path: longer than %zu bytes",
			         sizeof(p->buf) - 1);
			goto fail;
		}
		if (p->n == MP_OPA_MAX_SEGMENTS) {
			p->too_deep = 1;
		} else {
			memcpy(p->buf + o, seg, dlen + 1);
			p->seg[p->n++] = p->buf + o;
			o += dlen + 1;
		}
		mp_free(seg);
		seg = NULL;
	}
	if (p->too_deep || (p->n > 0 && strcmp(p->seg[0], "meshpol") != 0))
		return 0; /* undefined */
	if (p->n <= 1) {
		*doc = MP_OPA_DOC_WALK;
		return 0;
	}
	for (size_t i = 0; i < sizeof(meshpol_docs) / sizeof(meshpol_docs[0]); i++)
		if (!strcmp(p->seg[1], meshpol_docs[i].name))
			*doc = p->n == 2 ? meshpol_docs[i].doc : MP_OPA_DOC_WALK;
	return 0;
fail:
	mp_free(seg);
	return -1;
}

json_t *mp_opa_tree(const mp_engine *e, const mp_decision *d, const char *id)
{
	json_t *dec = mp_decision_json(e, d, id);
	json_t *reasons = dec ? json_object_get(dec, "reasons") : NULL;
	json_t *tree = dec ? json_pack("{s:{s:b, s:s, s:O, s:o}}", "meshpol", "allow", d->allow,
	                               "effect", mp_effect_name(d->effect), "reasons",
	                               reasons ? reasons : json_null(), "decision", dec)
	                   : NULL;
	return tree;
}

/* An OPA ref term made from a path segment: an integer as Go's strconv.Atoi reads it. 1 with
 * *v, or 0. */
static int seg_index(const char *s, long long *v)
{
	char *end;
	if (!*s || isspace((unsigned char)*s))
		return 0;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return !*end && errno == 0;
}

json_t *mp_opa_walk(json_t *tree, const mp_opa_path *p)
{
	json_t *v = tree;
	for (uint32_t i = 0; v && i < p->n; i++) {
		long long k;
		if (json_is_object(v))
			v = seg_index(p->seg[i], &k) ? NULL : json_object_get(v, p->seg[i]);
		else if (json_is_array(v) && seg_index(p->seg[i], &k) && k >= 0)
			v = json_array_get(v, (size_t)k);
		else
			v = NULL;
	}
	return v;
}

/* --- a reply's extras --- */

void mp_opa_put_provenance(mp_jsonbuf *b, const mp_engine *e)
{
	const mp_bundle *bu = e->bundle;
	MP_JSONBUF_LIT(b, "\"provenance\":{\"version\":");
	mp_jsonbuf_string(b, MP_VERSION);
	MP_JSONBUF_LIT(b, ",\"bundles\":{");
	if (bu) {
		mp_jsonbuf_string(b, bu->name);
		MP_JSONBUF_LIT(b, ":{\"revision\":");
		mp_jsonbuf_string(b, bu->revision);
		MP_JSONBUF_LIT(b, ",\"sha256\":");
		mp_jsonbuf_string(b, bu->sha256);
		MP_JSONBUF_LIT(b, "}");
	}
	MP_JSONBUF_LIT(b, "},\"model\":{\"sha256\":");
	mp_jsonbuf_string(b, mp_model_sha256(e->model));
	MP_JSONBUF_LIT(b, "}}");
}

void mp_opa_put_metrics(mp_jsonbuf *b, uint64_t parse_ns, uint64_t eval_ns, uint64_t handler_ns)
{
	MP_JSONBUF_LIT(b, "\"metrics\":{\"timer_rego_input_parse_ns\":");
	mp_jsonbuf_uint(b, parse_ns);
	MP_JSONBUF_LIT(b, ",\"timer_rego_query_eval_ns\":");
	mp_jsonbuf_uint(b, eval_ns);
	MP_JSONBUF_LIT(b, ",\"timer_server_handler_ns\":");
	mp_jsonbuf_uint(b, handler_ns);
	MP_JSONBUF_LIT(b, "}");
}

void mp_opa_explain_filter(json_t *arr, int mode)
{
	if (mode == MP_OPA_EXPLAIN_FULL)
		return;
	for (size_t i = json_array_size(arr); i-- > 0;) {
		int matched = json_is_true(json_object_get(json_array_get(arr, i), "matched"));
		if (matched != (mode == MP_OPA_EXPLAIN_NOTES))
			json_array_remove(arr, i);
	}
}

char *mp_opa_pretty(const char *in, size_t len, size_t *outlen)
{
	json_t *v = json_loadb(in, len, JSON_DECODE_ANY, NULL);
	char *text =
	    v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
	json_decref(v);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *out = realloc(text, n + 2);
	if (!out) {
		free(text);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	*outlen = n + 1;
	return out;
}
