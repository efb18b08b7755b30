/* diffhints.c: what a rule's `when` function compares requests against, as far as the diff can
 * see it without running it: the string literals in its source lines and in those of the
 * functions it captures, and the strings it captures (tables, keys and values, at any depth up
 * to HINT_DEPTH). The diff makes each one a representative of the dimension it looks like (a
 * path, a principal, a method), so that a `when` that tells `NAMED_CALLERS[p]` apart is
 * evaluated on a principal of the table. What it cannot see (a value computed at run time, the
 * request's context) is covered only by the other representatives: docs/bundles-diff.md ("Lua
 * conditions"). Internal: diff_int.h. */
#include "alloc.h"
#include "diff_int.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <string.h>

#define HINT_DEPTH 4
#define HINT_MAX   4096 /* strings per `when` */
#define HINT_LEN   512  /* longer strings are no request field the diff enumerates */
#define HINT_SEEN  256  /* tables and functions visited, against cycles */

typedef struct {
	diff_hints *out;
	const mp_bundle *b;
	const void *seen[HINT_SEEN];
	uint32_t nseen;
} walk;

static void add(walk *w, const char *s, size_t len)
{
	diff_hints *h = w->out;
	if (!len || len > HINT_LEN || h->n >= HINT_MAX)
		return;
	for (uint32_t i = 0; i < h->n; i++)
		if (strlen(h->v[i]) == len && !memcmp(h->v[i], s, len))
			return;
	char *c = mp_strndup(s, len);
	if (!c || mp_grow((void **)&h->v, &h->cap, sizeof(*h->v), h->n, 16) < 0) {
		mp_free(c);
		return;
	}
	h->v[h->n++] = c;
}

/* The string literals of lines first..last of text: "..." and '...' with their escapes read
 * as Lua reads the simple ones, and [[...]] / [=[...]=]; comments skipped. */
static void scan_literals(walk *w, const char *text, size_t len, int first, int last)
{
	const char *p = text, *end = text + len;
	int line = 1;
	char buf[HINT_LEN + 1];
	while (p < end && line < first)
		line += *p++ == '\n';
	while (p < end && line <= last) {
		if (*p == '\n') {
			line++;
			p++;
		} else if (p + 1 < end && p[0] == '-' && p[1] == '-' &&
		           !(p + 2 < end && p[2] == '[')) {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == '"' || *p == '\'') {
			char q = *p++;
			size_t n = 0;
			while (p < end && *p != q && *p != '\n') {
				char c = *p++;
				if (c == '\\' && p < end) {
					c = *p++;
					c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
				}
				if (n < HINT_LEN)
					buf[n++] = c;
			}
			if (p < end && *p == q)
				p++;
			add(w, buf, n);
		} else if (*p == '[' && p + 1 < end && (p[1] == '[' || p[1] == '=')) {
			const char *s = p + 1;
			size_t level = 0;
			while (s < end && *s == '=')
				level++, s++;
			if (s >= end || *s != '[') {
				p++;
				continue;
			}
			const char *body = ++s;
			while (s < end) {
				if (*s == ']') {
					const char *t = s + 1;
					size_t k = 0;
					while (t < end && *t == '=' && k < level)
						k++, t++;
					if (k == level && t < end && *t == ']') {
						add(w, body, (size_t)(s - body));
						s = t + 1;
						break;
					}
				}
				line += *s == '\n';
				s++;
			}
			p = s;
		} else {
			p++;
		}
	}
}

static int visited(walk *w, const void *ptr)
{
	for (uint32_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == ptr)
			return 1;
	if (w->nseen < HINT_SEEN)
		w->seen[w->nseen++] = ptr;
	return w->nseen >= HINT_SEEN;
}

/* The value at idx (absolute), depth levels deep at most. */
static void walk_value(lua_State *L, walk *w, int idx, int depth)
{
	size_t len;
	switch (lua_type(L, idx)) {
	case LUA_TSTRING: {
		const char *s = lua_tolstring(L, idx, &len);
		add(w, s, len);
		return;
	}
	case LUA_TTABLE:
		if (depth <= 0 || visited(w, lua_topointer(L, idx)))
			return;
		luaL_checkstack(L, 4, "hints");
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			int top = lua_gettop(L);
			walk_value(L, w, top - 1, depth - 1);
			walk_value(L, w, top, depth - 1);
			lua_pop(L, 1);
		}
		return;
	case LUA_TFUNCTION: {
		lua_Debug ar;
		if (depth <= 0 || lua_iscfunction(L, idx) || visited(w, lua_topointer(L, idx)))
			return;
		lua_pushvalue(L, idx);
		if (lua_getinfo(L, ">S", &ar) && ar.source) {
			const char *src =
			    ar.source[0] == '@' || ar.source[0] == '=' ? ar.source + 1 : ar.source;
			for (uint32_t i = 0; i < w->b->npolicy_files; i++)
				if (!strcmp(w->b->files[i].path, src))
					scan_literals(w, w->b->files[i].text, w->b->files[i].len,
					              ar.linedefined, ar.lastlinedefined);
		}
		luaL_checkstack(L, 2, "hints");
		for (int i = 1; lua_getupvalue(L, idx, i); i++) {
			walk_value(L, w, lua_gettop(L), depth - 1);
			lua_pop(L, 1);
		}
		return;
	}
	default:
		return;
	}
}

/* Protected: the function at 1, the walk at 2 (light userdata). */
static int collect(lua_State *L)
{
	walk *w = lua_touserdata(L, 2);
	walk_value(L, w, 1, HINT_DEPTH);
	return 0;
}

int diff_hints_of_when(mp_evaluator *ev, int32_t when, diff_hints *out, char *err, size_t errlen)
{
	mp_sandbox *sb = mp_evaluator_sandbox(ev, err, errlen);
	const mp_engine *e = mp_evaluator_engine(ev);
	if (!sb)
		return -1;
	lua_State *L = mp_sandbox_lua(sb);
	walk w = {.out = out, .b = e->bundle};
	int top = lua_gettop(L);
	lua_pushcfunction(L, collect);
	if (mp_evaluator_push_fn(ev, "whens", when, err, errlen) < 0) {
		lua_settop(L, top);
		return -1;
	}
	lua_pushlightuserdata(L, &w);
	int rc = mp_sandbox_pcall(sb, 2, 0, err, errlen);
	lua_settop(L, top);
	return rc < 0 ? -1 : 0;
}

void diff_hints_free(diff_hints *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		mp_free(h->v[i]);
	mp_free(h->v);
	memset(h, 0, sizeof(*h));
}
