/* diag.c: collecting and printing diagnostics (see diag.h). */
#include "diag.h"
#include "alloc.h"

#include <stdarg.h>
#include <string.h>

const char *mp_diag_quote(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t o = 0;
	if (buflen < 8) {
		if (buflen)
			buf[0] = '\0';
		return buf;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 8 >= buflen) {
			/* never end inside a UTF-8 sequence: drop its start too */
			size_t k = o;
			while (k > 0 && ((unsigned char)buf[k - 1] & 0xc0) == 0x80)
				k--;
			if (k > 0 && (unsigned char)buf[k - 1] >= 0xc0)
				o = k - 1;
			memcpy(buf + o, "...", 3);

			o += 3;
			break;
		}
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (c < 0x20 || c == 0x7f ||
		    (c >= 0x80 &&
		     (n > len - i || o + n + 8 >= buflen || !mp_utf8_valid(s + i, n)))) {
			/* control bytes, and bytes that are not whole UTF-8, are shown escaped */
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
		} else {
			memcpy(buf + o, s + i, n); /* a whole character */
			o += n;
			i += n - 1;
		}
	}
	buf[o] = '\0';
	return buf;
}

void mp_diags_add(mp_diags *d, mp_diag_level level, const char *file, uint32_t line, uint32_t col,
                  const char *fmt, ...)
{
	char raw[1024], clean[1200];
	va_list ap;
	if (level == MP_DIAG_ERROR)
		d->errors++;
	if (d->n >= MP_DIAGS_MAX) {
		d->dropped++;
		return;
	}
	if (mp_grow((void **)&d->v, &d->cap, sizeof(*d->v), d->n, 16) < 0) {
		d->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	mp_diag_quote(raw, strlen(raw), clean, sizeof(clean));
	mp_diag *g = &d->v[d->n];
	g->file = file ? mp_strdup(file) : NULL;
	g->msg = mp_strdup(clean);
	g->line = line;
	g->col = col;
	g->level = level;
	if ((file && !g->file) || !g->msg) {
		mp_free(g->file);
		mp_free(g->msg);
		d->dropped++;
		return;
	}
	d->n++;
}

void mp_diags_print(const mp_diags *d, FILE *f)
{
	for (uint32_t i = 0; i < d->n; i++) {
		const mp_diag *g = &d->v[i];
		if (d->quiet && g->level == MP_DIAG_NOTE)
			continue;
		const char *lvl = g->level == MP_DIAG_NOTE ? "note: " : "";
		if (g->file && g->line && g->col)
			fprintf(f, "%s:%u:%u: %s%s\n", g->file, g->line, g->col, lvl, g->msg);
		else if (g->file && g->line)
			fprintf(f, "%s:%u: %s%s\n", g->file, g->line, lvl, g->msg);
		else if (g->file)
			fprintf(f, "%s: %s%s\n", g->file, lvl, g->msg);
		else
			fprintf(f, "%s%s\n", lvl, g->msg);
	}
	if (d->dropped)
		fprintf(f, "(%u more diagnostics not shown)\n", d->dropped);
}

void mp_diags_free(mp_diags *d)
{
	for (uint32_t i = 0; i < d->n; i++) {
		mp_free(d->v[i].file);
		mp_free(d->v[i].msg);
	}
	mp_free(d->v);
	memset(d, 0, sizeof(*d));
}

void mp_diags_append(mp_diags *d, mp_diags *from)
{
	d->errors += from->errors;
	d->dropped += from->dropped;
	for (uint32_t i = 0; i < from->n; i++) {
		mp_diag *g = &from->v[i];
		if (d->n >= MP_DIAGS_MAX ||
		    mp_grow((void **)&d->v, &d->cap, sizeof(*d->v), d->n, 16) < 0) {
			d->dropped++;
			continue; /* freed with from */
		}
		d->v[d->n++] = *g;
		g->file = g->msg = NULL;
	}
	mp_diags_free(from);
}

int mp_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p++;
		int n;
		unsigned cp, min;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, min = 0x10000;
		else
			return 0;
		if (end - p < n)
			return 0;
		for (int i = 0; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		p += n;
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

/* --- nearest names: what an unknown key or value most likely misspells --- */

#define NEAREST_MAX 64

static unsigned char fold(char c)
{
	return (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* The optimal string alignment distance between a and b (each at most NEAREST_MAX bytes),
 * ignoring ASCII case: three rows of the usual table. */
static size_t osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t rows[3][NEAREST_MAX + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = fold(a[i - 1]) != fold(b[j - 1]);
			size_t d = prev[j] + 1; /* deletion */
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1; /* insertion */
			if (prev[j - 1] + cost < d)
				d = prev[j - 1] + cost; /* substitution */
			if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
			    fold(a[i - 2]) == fold(b[j - 1]) && prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1; /* two neighbours swapped */
			cur[j] = d;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

const char *mp_diag_nearest(const char *s, const char *const *names)
{
	size_t ls = strlen(s), best_d = (ls > 3 ? ls : 3) / 3 + 1;
	const char *best = NULL;
	if (ls > NEAREST_MAX)
		return NULL;
	for (const char *const *n = names; *n; n++) {
		size_t ln = strlen(*n);
		size_t gap = ln > ls ? ln - ls : ls - ln;
		if (ln > NEAREST_MAX || gap >= best_d) /* the distance is at least the gap */
			continue;
		size_t d = osa_distance(s, ls, *n, ln);
		if (d < best_d) {
			best_d = d;
			best = *n;
		}
	}
	return best;
}

const char *mp_diag_hint(const char *s, const char *const *names, char *buf, size_t len)
{
	const char *near = mp_diag_nearest(s, names);
	size_t n = 0, count = 0;
	if (!len)
		return buf;
	buf[0] = '\0';
	if (near) {
		snprintf(buf, len, "did you mean '%s'?", near);
		return buf;
	}
	while (names[count])
		count++;
	n = (size_t)snprintf(buf, len, "expected ");
	for (size_t i = 0; i < count && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
		                      i == 0           ? ""
		                      : i + 1 == count ? " or "
		                                       : ", ",
		                      names[i]);
	return buf;
}
