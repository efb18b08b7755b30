/* policy_decls.c: a policy file's declarations recorded once (`meshpol bundle build`) and kept in
 * the bundle archive (.meshpol/declarations.bin), so that loading the archive need not parse and
 * run the file: its policy goes into the DSL's state as a run would put it, its rules are read
 * here, in C, by pol_compile, which resolves them with the code that resolves the DSL's records.
 * Only files that declare a policy and rules (no function, role, bind, check or DSL error) and
 * call nothing nondeterministic are kept; every other file still runs. Format and trust:
 * docs/bundles.md ("Compiled declarations"). Internal prefix pol_decls_. */
#include "alloc.h"
#include "arena.h"
#include "keys.h"
#include "policy_int.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC       "MPDECLS2" /* the last byte is the format's version */
#define MAGIC_LEN   8
#define HEADER_LEN  (MAGIC_LEN + 32 + 12) /* magic, DSL, files, strings, the strings' bytes */
#define ENTRY_HEAD  (32 + 8 + 4)
#define MAX_DEPTH   32           /* tables within tables in one declaration */
#define MAX_PAYLOAD (256u << 20) /* bytes of one file's declarations, as the archive's total */

/* The lists of the DSL's state (stdlib/meshpol/dsl.lua, fresh()), in pol_decls_marks order. */
static const char *const lists[POL_DECLS_NLISTS] = {"policies", "rules",  "roles", "binds",
                                                    "checks",   "errors", "whens", "runs"};
enum { L_POLICIES, L_RULES, L_ROLES, L_BINDS, L_CHECKS, L_ERRORS, L_WHENS, L_RUNS };

static const char *const rule_types[] = {"allow", "deny", "residency", "require_mtls",
                                         "declared_routes_only"};

void pol_decls_mark(lua_State *L, int state, pol_decls_marks *m)
{
	state = lua_absindex(L, state);
	for (int i = 0; i < POL_DECLS_NLISTS; i++) {
		lua_pushstring(L, lists[i]);
		m->n[i] = lua_rawget(L, state) == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
		lua_pop(L, 1);
	}
}

/* --- writing (runs protected: the buffer is the caller's, freed by it after the call) --- */

typedef struct strtab strtab;

typedef struct {
	char *p;
	size_t n, cap;
	lua_State *L;
	const char *path; /* the file's path, as its locations start */
	size_t pathlen;
	int ok;     /* 0 once the file is found not to be storable */
	strtab *st; /* where put_cstr's strings go */
} wbuf;

/* The container's strings, each once: rules name them by index. */
struct strtab {
	wbuf buf; /* each string and its NUL */
	uint32_t n;
	int map; /* stack index of a table: string -> its index */
};

static void put(wbuf *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->n + n)
			cap *= 2;
		char *np = mp_realloc(w->p, cap);
		if (!np)
			luaL_error(w->L, "out of memory recording declarations");
		w->p = np;
		w->cap = cap;
	}
	if (p)
		memcpy(w->p + w->n, p, n);
	w->n += n;
}

static void put_u32(wbuf *w, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	put(w, b, 4);
}

static void put_u64(wbuf *w, uint64_t v)
{
	put_u32(w, (uint32_t)v);
	put_u32(w, (uint32_t)(v >> 32));
}

static void put_str(wbuf *w, const char *s, size_t n)
{
	put_u32(w, (uint32_t)n);
	put(w, s, n);
}

/* A string policy_compile.c reads as a C string, as its index in the container's strings (one
 * with a NUL byte would be cut there by policy_compile.c and not here: its file is one to
 * run). */
static void put_cstr(wbuf *w, const char *s, size_t n)
{
	lua_State *L = w->L;
	strtab *st = w->st;
	uint32_t idx = 0;
	w->ok &= !memchr(s, 0, n);
	if (w->ok) {
		lua_pushlstring(L, s, n);
		if (lua_rawget(L, st->map) == LUA_TNUMBER) {
			idx = (uint32_t)lua_tointeger(L, -1);
		} else {
			idx = st->n++;
			put(&st->buf, s, n);
			put(&st->buf, "", 1);
			lua_pushlstring(L, s, n);
			lua_pushinteger(L, idx);
			lua_rawset(L, st->map);
		}
		lua_pop(L, 1);
	}
	put_u32(w, idx);
}

/* At most this many pairs in one table of a stored declaration: their order is made canonical
 * with offsets on the stack (a bigger table makes its file one to run). */
#define MAX_PAIRS 64

typedef struct {
	size_t key, val, end; /* offsets in the buffer: key bytes [key, val), the pair [key, end) */
} pair_at;

/* The n pairs just written at [pairs[0].key, w->n) rewritten in the order of their keys' bytes,
 * so that the same table gives the same bytes whatever order lua_next took (its order follows
 * the state's random string-hash seed). */
static void sort_pairs(wbuf *w, pair_at *pairs, uint32_t n)
{
	if (n < 2)
		return;
	for (uint32_t i = 1; i < n; i++) /* insertion sort: n <= MAX_PAIRS */
		for (uint32_t j = i; j > 0; j--) {
			pair_at *a = &pairs[j - 1], *b = &pairs[j];
			size_t la = a->val - a->key, lb = b->val - b->key;
			int c = memcmp(w->p + a->key, w->p + b->key, la < lb ? la : lb);
			if (c < 0 || (c == 0 && la <= lb))
				break;
			pair_at t = *a;
			*a = *b;
			*b = t;
		}
	size_t start = w->n, from = start;
	for (uint32_t i = 0; i < n; i++)
		from = pairs[i].key < from ? pairs[i].key : from;
	for (uint32_t i = 0; i < n; i++) { /* copied after the end, then back in place */
		size_t len = pairs[i].end - pairs[i].key;
		put(w, NULL, len);
		memcpy(w->p + w->n - len, w->p + pairs[i].key, len);
	}
	memmove(w->p + from, w->p + start, w->n - start);
	w->n = from + (w->n - start);
}

/* The value at idx (a spec or a part of one): booleans, numbers, strings and tables of them;
 * anything else (a function, a cycle) makes the file one to run. */
static void put_value(wbuf *w, int idx, int depth)
{
	lua_State *L = w->L;
	if (!w->ok)
		return;
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TBOOLEAN:
		put(w, lua_toboolean(L, idx) ? "t" : "f", 1);
		return;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			put(w, "i", 1);
			put_u64(w, (uint64_t)lua_tointeger(L, idx));
		} else {
			double d = lua_tonumber(L, idx);
			uint64_t bits;
			memcpy(&bits, &d, sizeof(bits));
			put(w, "d", 1);
			put_u64(w, bits);
		}
		return;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		put(w, "s", 1);
		put_str(w, s, n);
		return;
	}
	case LUA_TTABLE:
		break;
	default:
		w->ok = 0;
		return;
	}
	if (depth >= MAX_DEPTH || !lua_checkstack(L, 4)) {
		w->ok = 0;
		return;
	}
	uint32_t pairs = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		pairs++;
		lua_pop(L, 1);
	}
	put(w, "T", 1);
	put_u32(w, pairs);
	if (pairs > MAX_PAIRS) {
		w->ok = 0;
		return;
	}
	pair_at at[MAX_PAIRS];
	uint32_t k = 0;
	lua_pushnil(L);
	while (w->ok && lua_next(L, idx)) {
		at[k].key = w->n;
		put_value(w, -2, depth + 1);
		at[k].val = w->n;
		put_value(w, -1, depth + 1);
		at[k++].end = w->n;
		lua_pop(L, 1);
	}
	if (!w->ok)
		lua_pop(L, 1); /* the key lua_next left */
	else
		sort_pairs(w, at, k);
}

/* The line of a location "PATH:LINE" of this file; 0 when it is not one (a declaration made
 * by code in another file: the file is then one to run). */
static uint32_t loc_line(wbuf *w, int rec)
{
	lua_State *L = w->L;
	uint32_t line = 0;
	size_t n;
	lua_getfield(L, rec, "loc");
	const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
	if (s && n > w->pathlen + 1 && n - w->pathlen - 1 <= 9 && !memcmp(s, w->path, w->pathlen) &&
	    s[w->pathlen] == ':') {
		for (size_t i = w->pathlen + 1; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			line = line * 10 + (uint32_t)(s[i] - '0');
		for (size_t i = w->pathlen + 1; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				line = 0;
	}
	lua_pop(L, 1);
	if (!line)
		w->ok = 0;
	return line;
}

/* rec[field] must be a string: written; else the file is one to run. */
static void put_field_str(wbuf *w, int rec, const char *field)
{
	size_t n;
	lua_getfield(w->L, rec, field);
	if (lua_type(w->L, -1) == LUA_TSTRING) {
		const char *s = lua_tolstring(w->L, -1, &n);
		put_cstr(w, s, n);
	} else {
		w->ok = 0;
	}
	lua_pop(w->L, 1);
}

/* --- a rule's spec as its fields (pol_raw_rule), read as policy_compile.c reads them; the
 * load succeeded, so anything else than what it accepts makes the file one to run --- */

/* Is the table on top exactly the list 1..#t? */
static int dense(lua_State *L)
{
	lua_Unsigned len = lua_rawlen(L, -1), count = 0;
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		count++;
		lua_pop(L, 1);
	}
	return count == len;
}

/* spec[name]: a list of strings (or one string, where scalar_ok), absent as an empty list. */
static void put_strs(wbuf *w, int spec, const char *name, int scalar_ok)
{
	lua_State *L = w->L;
	int type = lua_getfield(L, spec, name);
	size_t n;
	if (type == LUA_TNIL) {
		put_u32(w, 0);
	} else if (type == LUA_TSTRING && scalar_ok) {
		const char *s = lua_tolstring(L, -1, &n);
		put_u32(w, 1);
		put_cstr(w, s, n);
	} else if (type == LUA_TTABLE && dense(L)) {
		lua_Unsigned len = lua_rawlen(L, -1);
		put_u32(w, (uint32_t)len);
		for (lua_Unsigned i = 1; w->ok && i <= len; i++) {
			if (lua_rawgeti(L, -1, (lua_Integer)i) == LUA_TSTRING) {
				const char *s = lua_tolstring(L, -1, &n);
				put_cstr(w, s, n);
			} else {
				w->ok = 0;
			}
			lua_pop(L, 1);
		}
	} else {
		w->ok = 0;
	}
	lua_pop(L, 1);
}

/* spec[name]: a table of strings to strings (in lua_next's order, as kv_table reads it). */
static void put_kvs(wbuf *w, int spec, const char *name)
{
	lua_State *L = w->L;
	int type = lua_getfield(L, spec, name);
	if (type == LUA_TNIL) {
		put_u32(w, 0);
	} else if (type == LUA_TTABLE) {
		uint32_t count = 0;
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			count++;
			w->ok &= lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING;
			lua_pop(L, 1);
		}
		put_u32(w, count);
		struct kvp {
			const char *s[2];
			size_t n[2];
		} kv[MAX_PAIRS]; /* the table on the stack keeps its strings alive */
		uint32_t k = 0;
		w->ok &= count <= MAX_PAIRS;
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (w->ok) {
				kv[k].s[0] = lua_tolstring(L, -2, &kv[k].n[0]);
				kv[k].s[1] = lua_tolstring(L, -1, &kv[k].n[1]);
				/* in strcmp order, as kv_table sorts them */
				for (uint32_t j = k++; j > 0; j--) {
					size_t la = kv[j - 1].n[0], lb = kv[j].n[0];
					int c =
					    memcmp(kv[j - 1].s[0], kv[j].s[0], la < lb ? la : lb);
					if (c < 0 || (c == 0 && la <= lb))
						break;
					struct kvp t = kv[j - 1];
					kv[j - 1] = kv[j];
					kv[j] = t;
				}
			}
			lua_pop(L, 1);
		}
		for (uint32_t i = 0; w->ok && i < k; i++) {
			put_cstr(w, kv[i].s[0], kv[i].n[0]);
			put_cstr(w, kv[i].s[1], kv[i].n[1]);
		}
	} else {
		w->ok = 0;
	}
	lua_pop(L, 1);
}

/* Does the table at t hold only these string keys? */
static int only_fields(lua_State *L, int t, const char *const *fields)
{
	int ok = 1;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		int known = 0;
		for (const char *const *f = fields; k && *f && !known; f++)
			known = !strcmp(*f, k);
		ok &= known;
	}
	return ok;
}

static void put_from(wbuf *w, int spec)
{
	static const char *const fields[] = {"principals", "namespaces",    "services",
	                                     "labels",     "authenticated", NULL};
	lua_State *L = w->L;
	int type = lua_getfield(L, spec, "from");
	int t = lua_gettop(L);
	if (type == LUA_TNIL || (type == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "*"))) {
		put(w, "\0", 1);
	} else if (type == LUA_TTABLE && only_fields(L, t, fields)) {
		put(w, "\1", 1);
		put_strs(w, t, "principals", 0);
		put_strs(w, t, "namespaces", 0);
		put_strs(w, t, "services", 0);
		put_kvs(w, t, "labels");
		type = lua_getfield(L, t, "authenticated");
		w->ok &= type == LUA_TNIL || type == LUA_TBOOLEAN;
		put(w, lua_toboolean(L, -1) ? "\1" : "\0", 1);
		lua_pop(L, 1);
	} else {
		w->ok = 0;
	}
	lua_settop(L, t - 1);
}

static void put_ports(wbuf *w, int spec)
{
	lua_State *L = w->L;
	int type = lua_getfield(L, spec, "ports");
	if (type == LUA_TNIL) {
		put_u32(w, 0);
	} else if (type == LUA_TTABLE && dense(L)) {
		lua_Unsigned len = lua_rawlen(L, -1);
		put_u32(w, (uint32_t)len);
		for (lua_Unsigned i = 1; i <= len; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i);
			lua_Integer p = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
			w->ok &= p >= 1 && p <= 65535;
			put_u32(w, (uint32_t)p);
			lua_pop(L, 1);
		}
	} else {
		w->ok = 0;
	}
	lua_pop(L, 1);
}

/* One rule record: its type, name, line, message and fields. */
static void put_rule(wbuf *w, int rec, lua_Integer policy)
{
	static const char *const request_fields[] = {
	    "service", "namespace", "labels",  "external", "from", "methods",
	    "paths",   "ports",     "headers", "message",  NULL}; /* no `when`: none was declared */
	static const char *const residency_fields[] = {"data", "stay_in", "message", NULL};
	static const char *const mtls_fields[] = {"message", NULL};
	static const char *const routes_fields[] = {"from", "message", NULL};
	static const char *const *const fields[] = {request_fields, request_fields,
	                                            residency_fields, mtls_fields, routes_fields};
	lua_State *L = w->L;
	lua_getfield(L, rec, "type");
	const char *type = lua_tostring(L, -1);
	unsigned char t = 0;
	while (type && t < 5 && strcmp(type, rule_types[t]))
		t++;
	lua_pop(L, 1);
	lua_getfield(L, rec, "policy");
	w->ok &= t < 5 && lua_isinteger(L, -1) && lua_tointeger(L, -1) == policy;
	lua_getfield(L, rec, "when_index");
	w->ok &= lua_isnil(L, -1);
	lua_getfield(L, rec, "spec");
	int spec = lua_gettop(L);
	if (!w->ok || !lua_istable(L, spec) || !only_fields(L, spec, fields[t])) {
		w->ok = 0;
		lua_settop(L, spec - 3);
		return;
	}
	put(w, &t, 1);
	put_field_str(w, rec, "name");
	put_u32(w, loc_line(w, rec));
	int mtype = lua_getfield(L, spec, "message");
	w->ok &= mtype == LUA_TNIL || mtype == LUA_TSTRING;
	put(w, mtype == LUA_TSTRING ? "\1" : "\0", 1);
	lua_pop(L, 1);
	if (mtype == LUA_TSTRING)
		put_field_str(w, spec, "message");
	switch (t) {
	case MP_RULE_ALLOW:
	case MP_RULE_DENY:
		put_strs(w, spec, "service", 1);
		put_strs(w, spec, "namespace", 1);
		put_kvs(w, spec, "labels");
		put_strs(w, spec, "external", 1);
		put_from(w, spec);
		put_strs(w, spec, "methods", 0);
		put_strs(w, spec, "paths", 0);
		put_ports(w, spec);
		put_kvs(w, spec, "headers");
		break;
	case MP_RULE_RESIDENCY:
		put_strs(w, spec, "data", 1);
		put_strs(w, spec, "stay_in", 1);
		break;
	case MP_RULE_DECLARED_ROUTES:
		put_from(w, spec);
		break;
	}
	lua_settop(L, spec - 3);
}

/* The payload of one file from the records it added between before and after: its policy (as
 * the DSL recorded it) and its rules; a file with anything else (a role, a bind, a check, a
 * function, an error) is one to run. */
static void put_file(wbuf *w, int state, const pol_decls_marks *before,
                     const pol_decls_marks *after)
{
	lua_State *L = w->L;
	const lua_Unsigned *b = before->n, *a = after->n;
	if (a[L_ROLES] != b[L_ROLES] || a[L_BINDS] != b[L_BINDS] || a[L_CHECKS] != b[L_CHECKS] ||
	    a[L_ERRORS] != b[L_ERRORS] || a[L_WHENS] != b[L_WHENS] || a[L_RUNS] != b[L_RUNS] ||
	    a[L_POLICIES] > b[L_POLICIES] + 1) {
		w->ok = 0;
		return;
	}
	lua_Integer policy = (lua_Integer)a[L_POLICIES];
	if (a[L_POLICIES] == b[L_POLICIES]) { /* no policy: then no rule either */
		w->ok = a[L_RULES] == b[L_RULES];
		put(w, "\0", 1);
		return;
	}
	put(w, "\1", 1);
	lua_getfield(L, state, "policies");
	lua_rawgeti(L, -1, policy);
	int rec = lua_gettop(L);
	put_field_str(w, rec, "name");
	put_u32(w, loc_line(w, rec));
	lua_getfield(L, rec, "file");
	size_t n = 0;
	const char *file = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
	w->ok &= file && n == w->pathlen && !memcmp(file, w->path, n);
	lua_pop(L, 1);
	lua_getfield(L, rec, "spec");
	if (lua_type(L, -1) != LUA_TTABLE)
		w->ok = 0;
	else
		put_value(w, -1, 0);
	lua_pop(L, 3);
	put_u32(w, (uint32_t)(a[L_RULES] - b[L_RULES]));
	lua_getfield(L, state, "rules");
	int t = lua_gettop(L);
	for (lua_Unsigned i = b[L_RULES] + 1; w->ok && i <= a[L_RULES]; i++) {
		lua_rawgeti(L, t, (lua_Integer)i);
		put_rule(w, lua_gettop(L), policy);
		lua_settop(L, t);
	}
	lua_pop(L, 1);
}

typedef struct {
	const mp_bundle *b;
	const pol_decls_marks *marks;    /* npolicy_files + 1: before each file, after the last */
	const uint64_t *units;           /* or NULL: b->files[i].load_units */
	const unsigned char *const *sha; /* or NULL: hashed */
	const unsigned char *dsl_sha256;
	wbuf out, file, all; /* freed by pol_decls_build, whatever ends the call */
	strtab st;
} build_ctx;

/* Runs protected, the DSL's state at index 1. */
static int build_all(lua_State *L)
{
	build_ctx *c = lua_touserdata(L, lua_upvalueindex(1));
	const mp_bundle *b = c->b;
	c->out.L = c->file.L = c->all.L = c->st.buf.L = L;
	c->file.st = &c->st;
	lua_newtable(L);
	c->st.map = lua_gettop(L);
	uint32_t count = 0;
	for (uint32_t i = 0; i < b->npolicy_files; i++) {
		const mp_bundle_file *f = &b->files[i];
		if (!c->marks[i + 1].storable)
			continue;
		c->file.n = 0;
		c->file.ok = 1;
		c->file.path = f->path;
		c->file.pathlen = strlen(f->path);
		put_file(&c->file, 1, &c->marks[i], &c->marks[i + 1]);
		if (!c->file.ok || c->file.n > MAX_PAYLOAD)
			continue;
		unsigned char sha[32];
		if (c->sha && c->sha[i])
			memcpy(sha, c->sha[i], 32);
		else
			mp_key_sha256(f->text, f->len, sha);
		put(&c->out, sha, 32);
		put_u64(&c->out, c->units ? c->units[i] : f->load_units);
		put_u32(&c->out, (uint32_t)c->file.n);
		put(&c->out, c->file.p, c->file.n);
		count++;
	}
	put(&c->all, MAGIC, MAGIC_LEN);
	put(&c->all, c->dsl_sha256, 32);
	put_u32(&c->all, count);
	put_u32(&c->all, c->st.n);
	put_u32(&c->all, (uint32_t)c->st.buf.n);
	put(&c->all, c->st.buf.p, c->st.buf.n);
	put(&c->all, c->out.p, c->out.n);
	return 0;
}

int pol_decls_build(mp_sandbox *sb, const mp_bundle *b, const pol_decls_marks *marks,
                    const uint64_t *units, const unsigned char *const *sha,
                    const unsigned char dsl_sha256[32], void **out, size_t *len, char *err,
                    size_t errlen)
{
	lua_State *L = mp_sandbox_lua(sb);
	build_ctx c = {
	    .b = b, .marks = marks, .units = units, .sha = sha, .dsl_sha256 = dsl_sha256};
	lua_pushlightuserdata(L, &c);
	lua_pushcclosure(L, build_all, 1);
	lua_insert(L, -2);
	int rc = mp_sandbox_pcall(sb, 1, 0, err, errlen);
	mp_free(c.file.p);
	mp_free(c.out.p);
	mp_free(c.st.buf.p);
	if (rc < 0) {
		mp_free(c.all.p);
		return -1;
	}
	*out = c.all.p;
	*len = c.all.n;
	return 0;
}

/* --- reading --- */

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

int pol_decls_open(const void *data, size_t len, const unsigned char dsl_sha256[32], pol_decls *out,
                   char *err, size_t errlen)
{
	const unsigned char *p = data;
	pol_decls_entry *es = NULL;
	memset(out, 0, sizeof(*out));
	if (len < HEADER_LEN || memcmp(p, MAGIC, MAGIC_LEN - 1)) {
		snprintf(err, errlen, "not meshpol's compiled declarations (%zu bytes)", len);
		return -1;
	}
	if (p[MAGIC_LEN - 1] != (unsigned char)MAGIC[MAGIC_LEN - 1] ||
	    memcmp(p + MAGIC_LEN, dsl_sha256, 32))
		return 0; /* another version of meshpol made them: every file runs */
	uint32_t n = get_u32(p + MAGIC_LEN + 32), nstrs = get_u32(p + MAGIC_LEN + 36);
	size_t slen = get_u32(p + MAGIC_LEN + 40), at = HEADER_LEN;
	if (slen > len - at || (slen && p[at + slen - 1]) || nstrs > slen) {
		snprintf(err, errlen, "corrupt: %u strings in %zu bytes", nstrs, slen);
		return -1;
	}
	uint32_t *offs = mp_calloc((size_t)nstrs + 1, sizeof(*offs)), k = 0;
	if (!offs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < slen && k <= nstrs; k++) { /* each string starts after a NUL */
		if (k < nstrs)
			offs[k] = (uint32_t)i;
		const char *nul = memchr(p + at + i, 0, slen - i); /* found: slen's last is NUL */
		i = (size_t)(nul - (const char *)(p + at)) + 1;
	}
	if (k != nstrs) {
		snprintf(err, errlen, "corrupt: %u strings where %u are said", k, nstrs);
		mp_free(offs);
		return -1;
	}
	out->strs = (const char *)p + at;
	out->strs_len = slen;
	out->offs = offs;
	out->nstrs = nstrs;
	at += slen;
	if (n > (len - at) / ENTRY_HEAD) {
		snprintf(err, errlen, "corrupt: %u files in %zu bytes", n, len);
		goto fail;
	}
	es = mp_calloc((size_t)n + 1, sizeof(*es));
	if (!es) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (len - at < ENTRY_HEAD) {
			snprintf(err, errlen, "corrupt: truncated at byte %zu (file %u of %u)", at,
			         i + 1, n);
			goto fail;
		}
		memcpy(es[i].sha256, p + at, 32);
		es[i].units = get_u64(p + at + 32);
		size_t plen = get_u32(p + at + 40);
		at += ENTRY_HEAD;
		if (plen > len - at) {
			snprintf(err, errlen, "corrupt: truncated at byte %zu (file %u of %u)", at,
			         i + 1, n);
			goto fail;
		}
		es[i].payload = p + at;
		es[i].len = plen;
		at += plen;
		for (uint32_t k = 0; k < i; k++)
			if (!memcmp(es[k].sha256, es[i].sha256, 32)) {
				snprintf(err, errlen, "corrupt: file %u is given twice", i + 1);
				goto fail;
			}
	}
	if (at != len) {
		snprintf(err, errlen, "corrupt: %zu bytes after the last file", len - at);
		goto fail;
	}
	out->entries = es;
	out->n = n;
	return 1;
fail:
	mp_free(es);
	pol_decls_close(out);
	return -1;
}

int64_t mp_bundle_declarations_count(const void *data, size_t len)
{
	const unsigned char *p = data;
	if (len < HEADER_LEN || memcmp(p, MAGIC, MAGIC_LEN))
		return -1;
	return get_u32(p + MAGIC_LEN + 32);
}

void pol_decls_close(pol_decls *d)
{
	mp_free(d->entries);
	mp_free(d->offs);
	memset(d, 0, sizeof(*d));
}

const pol_decls_entry *pol_decls_find(const pol_decls *d, const char *text, size_t len,
                                      const unsigned char *sha256)
{
	unsigned char sha[32];
	if (!d || !d->n)
		return NULL;
	if (!sha256 && mp_key_sha256(text, len, sha) == 0)
		sha256 = sha;
	for (uint32_t i = 0; sha256 && i < d->n; i++)
		if (!memcmp(d->entries[i].sha256, sha256, 32))
			return &d->entries[i];
	return NULL;
}

/* A file's payload read into the DSL's state (its policy): runs protected, errors raise. */
typedef struct {
	const unsigned char *p;
	size_t at, len;
	lua_State *L;
	const char *path;
} rbuf;

static _Noreturn void corrupt(rbuf *r, const char *why)
{
	luaL_error(r->L, "corrupt at byte %d of %d: %s", (int)r->at, (int)r->len, why);
	abort(); /* not reached */
}

static const unsigned char *take(rbuf *r, size_t n)
{
	if (n > r->len - r->at)
		corrupt(r, "truncated");
	const unsigned char *p = r->p + r->at;
	r->at += n;
	return p;
}

static uint32_t take_u32(rbuf *r)
{
	return get_u32(take(r, 4));
}

static void push_str(rbuf *r)
{
	uint32_t n = take_u32(r);
	const char *s = (const char *)take(r, n);
	lua_pushlstring(r->L, s, n);
}

static uint32_t take_line(rbuf *r)
{
	uint32_t line = take_u32(r);
	if (!line || line > 999999999)
		corrupt(r, "a line out of range");
	return line;
}

static void push_value(rbuf *r, int depth)
{
	lua_State *L = r->L;
	unsigned char tag = *take(r, 1);
	switch (tag) {
	case 't':
	case 'f':
		lua_pushboolean(L, tag == 't');
		return;
	case 'i':
		lua_pushinteger(L, (lua_Integer)get_u64(take(r, 8)));
		return;
	case 'd': {
		uint64_t bits = get_u64(take(r, 8));
		double d;
		memcpy(&d, &bits, sizeof(d));
		lua_pushnumber(L, d);
		return;
	}
	case 's':
		push_str(r);
		return;
	case 'T':
		break;
	default:
		corrupt(r, "an unknown value");
	}
	if (depth >= MAX_DEPTH)
		corrupt(r, "tables nested too deep");
	uint32_t n = take_u32(r);
	if (n > (r->len - r->at) / 2)
		corrupt(r, "more pairs than bytes");
	luaL_checkstack(L, 3, "declarations");
	lua_createtable(L, 0, 0);
	for (uint32_t i = 0; i < n; i++) {
		push_value(r, depth + 1);
		if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
		    isnan(lua_tonumber(L, -1)))
			corrupt(r, "a NaN key");
		push_value(r, depth + 1);
		lua_rawset(L, -3);
	}
}

typedef struct {
	pol_decls_block *blk;
	uint32_t k;
} inject_ctx;

/* Runs protected, the DSL's state at index 1: the file's policy as its run would have recorded
 * it, and the marker of its rules. */
static int inject(lua_State *L)
{
	inject_ctx *c = lua_touserdata(L, lua_upvalueindex(1));
	pol_decls_block *blk = c->blk;
	rbuf r = {.p = blk->e->payload, .len = blk->e->len, .L = L, .path = blk->path};
	const int state = 1;
	unsigned char has_policy = *take(&r, 1);
	if (has_policy > 1)
		corrupt(&r, "a bad policy flag");
	blk->nrules = 0;
	blk->rules_at = r.len;
	if (!has_policy) {
		if (r.at != r.len)
			corrupt(&r, "bytes after a file without a policy");
		return 0;
	}
	lua_getfield(L, state, "policies");
	int list = lua_gettop(L);
	blk->policy = (uint32_t)lua_rawlen(L, list);
	lua_createtable(L, 0, 4);
	int rec = lua_gettop(L);
	uint32_t name = take_u32(&r);
	if (name >= blk->d->nstrs)
		corrupt(&r, "a string index out of range");
	lua_pushstring(L, blk->d->strs + blk->d->offs[name]);
	lua_setfield(L, rec, "name");
	lua_pushfstring(L, "%s:%d", blk->path, (int)take_line(&r));
	lua_setfield(L, rec, "loc");
	lua_pushstring(L, blk->path);
	lua_setfield(L, rec, "file");
	if (r.at < r.len && r.p[r.at] != 'T')
		corrupt(&r, "a policy whose fields are not a table");
	push_value(&r, 0);
	lua_setfield(L, rec, "spec");
	lua_rawseti(L, list, (lua_Integer)blk->policy + 1);
	blk->nrules = take_u32(&r);
	blk->rules_at = r.at;
	if (blk->nrules > r.len - r.at)
		corrupt(&r, "more rules than bytes");
	if (blk->nrules) {
		lua_getfield(L, state, "rules");
		lua_createtable(L, 0, 1);
		lua_pushinteger(L, (lua_Integer)c->k);
		lua_setfield(L, -2, "block");
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	}
	return 0;
}

int pol_decls_inject(mp_sandbox *sb, pol_decls_block *blk, uint32_t k, char *err, size_t errlen)
{
	lua_State *L = mp_sandbox_lua(sb);
	inject_ctx c = {blk, k};
	lua_pushlightuserdata(L, &c);
	lua_pushcclosure(L, inject, 1);
	lua_insert(L, -2);
	return mp_sandbox_pcall(sb, 1, 0, err, errlen);
}

/* --- a block's rules, read without Lua: errors return through the reader --- */

typedef struct {
	const unsigned char *p;
	size_t at, len;
	mp_bundle *b;
	mp_arena *tmp;      /* the arrays' arena, or NULL: b's */
	const pol_decls *d; /* its strings, copied into b's arena */
	const char *why;    /* NULL until something is wrong */
} rd_t;

static const unsigned char *rd_take(rd_t *r, size_t n)
{
	if (r->why || n > r->len - r->at) {
		r->why = r->why ? r->why : "truncated";
		return NULL;
	}
	const unsigned char *p = r->p + r->at;
	r->at += n;
	return p;
}

static uint32_t rd_u32(rd_t *r)
{
	const unsigned char *p = rd_take(r, 4);
	return p ? get_u32(p) : 0;
}

static const char *rd_str(rd_t *r)
{
	uint32_t i = rd_u32(r);
	if (r->why)
		return NULL;
	if (i >= r->d->nstrs) {
		r->why = "a string index out of range";
		return NULL;
	}
	return r->d->copy + r->d->offs[i];
}

/* n items of size bytes, with at least min bytes each still to read. */
static void *rd_array(rd_t *r, uint32_t n, size_t size, size_t min)
{
	if (r->why)
		return NULL;
	if (n > (r->len - r->at) / min) {
		r->why = "more items than bytes";
		return NULL;
	}
	size_t bytes = ((size_t)n + 1) * size;
	void *v = r->tmp ? mp_arena_alloc_raw(r->tmp, bytes) : pol_arena_alloc(r->b, bytes);
	if (!v)
		r->why = "out of memory";
	else /* the items are written by the caller; the slot after them is zero, as ever */
		memset((char *)v + (size_t)n * size, 0, size);
	return v;
}

static pol_strs rd_strs(rd_t *r)
{
	pol_strs s = {0};
	uint32_t n = rd_u32(r);
	if (!n) /* absent, as string_list leaves it */
		return s;
	const char **v = rd_array(r, n, sizeof(*v), 4);
	for (uint32_t i = 0; v && i < n && !r->why; i++)
		v[i] = rd_str(r);
	if (v && !r->why)
		s = (pol_strs){v, n};
	return s;
}

static pol_kvs rd_kvs(rd_t *r)
{
	pol_kvs s = {0};
	uint32_t n = rd_u32(r);
	if (!n)
		return s;
	mp_kv *v = rd_array(r, n, sizeof(*v), 8);
	for (uint32_t i = 0; v && i < n && !r->why; i++) {
		v[i].key = rd_str(r);
		v[i].value = rd_str(r);
	}
	if (v && !r->why)
		s = (pol_kvs){v, n};
	return s;
}

static uint32_t rd_flag(rd_t *r)
{
	const unsigned char *p = rd_take(r, 1);
	if (p && *p > 1)
		r->why = "a flag that is neither 0 nor 1";
	return p && *p == 1;
}

static void rd_from(rd_t *r, pol_raw_from *f)
{
	f->any = !rd_flag(r);
	if (f->any)
		return;
	f->principals = rd_strs(r);
	f->namespaces = rd_strs(r);
	f->services = rd_strs(r);
	f->labels = rd_kvs(r);
	f->authenticated = rd_flag(r);
}

int pol_decls_rule(pol_decls_reader *rd, mp_bundle *b, pol_raw_rule *out, char *err, size_t errlen)
{
	const pol_decls_entry *e = rd->blk->e;
	pol_decls *d = rd->blk->d;
	rd_t r = {.p = e->payload, .at = rd->at, .len = e->len, .b = b, .tmp = rd->tmp, .d = d};
	memset(out, 0, sizeof(*out));
	if (!d->copy) { /* the strings once, whole: each rule's then point into the copy */
		char *copy = mp_arena_alloc_raw(b->arena, d->strs_len + 1);
		if (!copy) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memcpy(copy, d->strs, d->strs_len);
		d->copy = copy;
	}
	if (!rd->left) {
		if (rd->at == e->len)
			return 0;
		snprintf(err, errlen, "corrupt at byte %zu of %zu: bytes after the last rule",
		         rd->at, e->len);
		return -1;
	}
	const unsigned char *t = rd_take(&r, 1);
	if (t && *t > MP_RULE_DECLARED_ROUTES)
		r.why = "an unknown rule type";
	out->type = t ? *t : 0;
	out->name = rd_str(&r);
	uint32_t line = rd_u32(&r);
	if (!r.why && (!line || line > 999999999))
		r.why = "a line out of range";
	if (!r.why) { /* "PATH:LINE", as the DSL's where() writes it */
		char digits[12];
		size_t nd = 0, plen = strlen(rd->blk->path);
		for (uint32_t v = line; v; v /= 10)
			digits[nd++] = (char)('0' + v % 10);
		char *s = pol_arena_alloc(b, plen + nd + 2);
		if (s) {
			memcpy(s, rd->blk->path, plen);
			s[plen] = ':';
			for (size_t i = 0; i < nd; i++)
				s[plen + 1 + i] = digits[nd - 1 - i];
		}
		out->loc = s;
		r.why = s ? NULL : "out of memory";
	}
	if (rd_flag(&r))
		out->message = rd_str(&r);
	switch (out->type) {
	case MP_RULE_ALLOW:
	case MP_RULE_DENY:
		out->service = rd_strs(&r);
		out->namespace = rd_strs(&r);
		out->labels = rd_kvs(&r);
		out->external = rd_strs(&r);
		rd_from(&r, &out->from);
		out->methods = rd_strs(&r);
		out->paths = rd_strs(&r);
		out->nports = rd_u32(&r);
		out->ports = out->nports ? rd_array(&r, out->nports, sizeof(uint32_t), 4) : NULL;
		for (uint32_t i = 0; out->ports && i < out->nports && !r.why; i++) {
			out->ports[i] = rd_u32(&r);
			if (!r.why && (out->ports[i] < 1 || out->ports[i] > 65535))
				r.why = "a port out of range";
		}
		out->headers = rd_kvs(&r);
		break;
	case MP_RULE_RESIDENCY:
		out->data = rd_strs(&r);
		out->stay_in = rd_strs(&r);
		break;
	case MP_RULE_DECLARED_ROUTES:
		rd_from(&r, &out->from);
		break;
	}
	if (r.why) {
		snprintf(err, errlen, "corrupt at byte %zu of %zu: %s", r.at, r.len, r.why);
		return -1;
	}
	rd->at = r.at;
	rd->left--;
	return 1;
}
