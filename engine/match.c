/* match.c: pattern matching for rules (see match.h). No allocation, no backtracking: templates
 * walk the path segment by segment. */
#include "match.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int mp_pattern_compile(mp_pattern *p, const char *s, int allow_template, char *err, size_t errlen)
{
	size_t n = strlen(s);
	p->text = s;
	p->len = (uint32_t)n;
	p->id = UINT32_MAX;
	if (allow_template && strchr(s, '{')) {
		const char *q = s;
		while ((q = strchr(q, '{'))) {
			int two = !strncmp(q, "{**}", 4), one = !strncmp(q, "{*}", 3);
			if (!one && !two) {
				snprintf(err, errlen,
				         "path template '%s': only {*} and {**} are allowed", s);
				return -1;
			}
			if ((q != s && q[-1] != '/') || (q[two ? 4 : 3] && q[two ? 4 : 3] != '/')) {
				snprintf(err, errlen,
				         "path template '%s': {*} and {**} must be whole segments",
				         s);
				return -1;
			}
			if (two && q[4]) {
				snprintf(err, errlen,
				         "path template '%s': {**} must be the last segment", s);
				return -1;
			}
			q += two ? 4 : 3;
		}
		p->kind = MP_PAT_TEMPLATE;
		return 0;
	}
	if (n == 1 && s[0] == '*') {
		p->kind = MP_PAT_ANY;
	} else if (n > 1 && s[n - 1] == '*') {
		p->kind = MP_PAT_PREFIX;
		p->len = (uint32_t)(n - 1);
	} else if (n > 1 && s[0] == '*') {
		p->kind = MP_PAT_SUFFIX;
		p->text = s + 1;
		p->len = (uint32_t)(n - 1);
	} else {
		p->kind = MP_PAT_EXACT;
	}
	return 0;
}

/* Matches a path against a template: literal segments compare exactly, {*} takes one non-empty
 * segment, a final {**} takes the rest (zero or more segments). */
static int match_template(const char *t, const char *v, size_t vlen)
{
	const char *end = v + vlen;
	for (;;) {
		if (!strcmp(t, "{**}"))
			return 1;
		if (!strncmp(t, "{*}", 3)) {
			const char *seg = v;
			while (v < end && *v != '/')
				v++;
			if (v == seg)
				return 0;
			t += 3;
		} else if (*t && *t != '{') {
			if (v == end || *v != *t)
				return 0;
			t++, v++;
			continue;
		}
		if (!*t)
			return v == end;
	}
}

static int cmp_case(const char *a, const char *b, size_t n)
{
	return memcmp(a, b, n);
}
static int cmp_nocase(const char *a, const char *b, size_t n)
{
	return strncasecmp(a, b, n);
}

static int match(const mp_pattern *p, const char *value, size_t len,
                 int (*cmp)(const char *, const char *, size_t))
{
	if (!value)
		return 0;
	switch (p->kind) {
	case MP_PAT_ANY:
		return 1;
	case MP_PAT_EXACT:
		return len == p->len && !cmp(value, p->text, len);
	case MP_PAT_PREFIX:
		return len >= p->len && !cmp(value, p->text, p->len);
	case MP_PAT_SUFFIX:
		return len >= p->len && !cmp(value + len - p->len, p->text, p->len);
	case MP_PAT_TEMPLATE: /* paths only: always case-sensitive */
		return match_template(p->text, value, len);
	}
	return 0;
}

int mp_pattern_match(const mp_pattern *p, const char *value, size_t len)
{
	return match(p, value, len, cmp_case);
}

int mp_pattern_match_nocase(const mp_pattern *p, const char *value, size_t len)
{
	return match(p, value, len, cmp_nocase);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

int mp_percent_byte(const char *p)
{
	if (p[0] != '%' || hexval(p[1]) < 0 || hexval(p[2]) < 0)
		return -1;
	return hexval(p[1]) * 16 + hexval(p[2]);
}

long mp_path_normalize(const char *in, char *out, size_t cap, int merge_slashes)
{
	size_t o = 0;
	for (const char *p = in; *p && *p != '?' && *p != '#'; p++) {
		char ch =
		    *p == '\\' ? '/' : *p; /* as Envoy's normalize_path: a backslash is a slash */
		int pct = mp_percent_byte(p);
		if (pct >= 0) {
			char d = (char)pct;
			if ((d >= 'A' && d <= 'Z') || (d >= 'a' && d <= 'z') ||
			    (d >= '0' && d <= '9') || d == '-' || d == '.' || d == '_' ||
			    d == '~') {
				ch = d;
				p += 2;
			}
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = ch;
		char next = p[1];
		int end = !next || next == '?' || next == '#';
		if (!end && next != '/' && next != '\\')
			continue;
		/* a segment just ended: drop "." and ".." segments (RFC 3986 section 5.2.4); a path
		 * that ends in one keeps its trailing slash */
		if (o >= 2 && out[o - 1] == '.' && out[o - 2] == '/') {
			o -= 2;
		} else if (o >= 3 && out[o - 1] == '.' && out[o - 2] == '.' && out[o - 3] == '/') {
			o -= 3;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			continue;
		}
		if (end)
			out[o++] = '/';
	}
	/* slashes merge after dot segments are gone, as Envoy merges after normalize_path:
	 * /app//../admin is /app/admin (the ".." took the empty segment), not /admin */
	size_t w = 0;
	for (size_t i = 0; i < o; i++)
		if (!merge_slashes || out[i] != '/' || w == 0 || out[w - 1] != '/')
			out[w++] = out[i];
	out[w] = '\0';
	return (long)w;
}
