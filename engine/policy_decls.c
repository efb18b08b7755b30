/* policy_decls.c: a policy file's declarations recorded once (`meshpol bundle build`) and kept in
 * the bundle archive (.meshpol/declarations.bin), so that loading the archive puts them in the
 * DSL's state instead of parsing and running the file; pol_compile then compiles them as it
 * compiles what a run records. Only files that declared no function, made no DSL error and
 * called nothing nondeterministic are kept; every other file still runs. Format and trust:
 * docs/bundles.md ("Compiled declarations"). Internal prefix pol_decls_. */
#include "alloc.h"
#include "keys.h"
#include "policy_int.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC       "MPDECLS1" /* the last byte is the format's version */
#define MAGIC_LEN   8
#define HEADER_LEN  (MAGIC_LEN + 32 + 4)
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

void pol_decls_sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int dn = 0;
	EVP_Digest(p, n, out, &dn, EVP_sha256(), NULL);
}

/* --- writing (runs protected: the buffer is the caller's, freed by it after the call) --- */

typedef struct {
	char *p;
	size_t n, cap;
	lua_State *L;
	const char *path; /* the file's path, as its locations start */
	size_t pathlen;
	int ok; /* 0 once the file is found not to be storable */
} wbuf;

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
	lua_pushnil(L);
	while (w->ok && lua_next(L, idx)) {
		put_value(w, -2, depth + 1);
		put_value(w, -1, depth + 1);
		lua_pop(L, 1);
	}
	if (!w->ok)
		lua_pop(L, 1); /* the key lua_next left */
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
		put_str(w, s, n);
	} else {
		w->ok = 0;
	}
	lua_pop(w->L, 1);
}

/* rec.policy must be the file's own policy (policy, 1-based) and rec.when_index absent. */
static void check_owner(wbuf *w, int rec, lua_Integer policy)
{
	lua_getfield(w->L, rec, "policy");
	if (!lua_isinteger(w->L, -1) || lua_tointeger(w->L, -1) != policy)
		w->ok = 0;
	lua_getfield(w->L, rec, "when_index");
	if (!lua_isnil(w->L, -1))
		w->ok = 0;
	lua_pop(w->L, 2);
}

static void put_spec(wbuf *w, int rec)
{
	lua_getfield(w->L, rec, "spec");
	if (lua_type(w->L, -1) != LUA_TTABLE)
		w->ok = 0;
	else
		put_value(w, -1, 0);
	lua_pop(w->L, 1);
}

/* The records of list [from, to) of the state: each as its type says. */
static void put_records(wbuf *w, int state, int list, lua_Unsigned from, lua_Unsigned to,
                        lua_Integer policy)
{
	lua_State *L = w->L;
	lua_getfield(L, state, lists[list]);
	int t = lua_gettop(L);
	put_u32(w, (uint32_t)(to - from));
	for (lua_Unsigned i = from + 1; w->ok && i <= to; i++) {
		lua_rawgeti(L, t, (lua_Integer)i);
		int rec = lua_gettop(L);
		switch (list) {
		case L_RULES:
			put_field_str(w, rec, "type");
			put_field_str(w, rec, "name");
			put_u32(w, loc_line(w, rec));
			check_owner(w, rec, policy);
			put_spec(w, rec);
			break;
		case L_ROLES: {
			put_field_str(w, rec, "name");
			put_u32(w, loc_line(w, rec));
			check_owner(w, rec, policy);
			lua_getfield(L, rec, "entries");
			int es = lua_gettop(L);
			lua_Unsigned ne = lua_istable(L, es) ? lua_rawlen(L, es) : 0;
			put_u32(w, (uint32_t)ne);
			for (lua_Unsigned e = 1; w->ok && e <= ne; e++) {
				lua_rawgeti(L, es, (lua_Integer)e);
				int ent = lua_gettop(L);
				put_u32(w, loc_line(w, ent));
				lua_getfield(L, ent, "when_index");
				w->ok &= lua_isnil(L, -1);
				lua_pop(L, 1);
				put_spec(w, ent);
				lua_settop(L, es);
			}
			break;
		}
		case L_BINDS:
			put_field_str(w, rec, "role");
			put_u32(w, loc_line(w, rec));
			lua_getfield(L, rec, "policy");
			w->ok &= lua_isinteger(L, -1) && lua_tointeger(L, -1) == policy;
			lua_pop(L, 1);
			put_spec(w, rec);
			break;
		}
		lua_settop(L, t);
	}
	lua_settop(L, t - 1);
}

/* The payload of one file from the records it added between before and after. */
static void put_file(wbuf *w, int state, const pol_decls_marks *before,
                     const pol_decls_marks *after)
{
	lua_State *L = w->L;
	const lua_Unsigned *b = before->n, *a = after->n;
	if (a[L_CHECKS] != b[L_CHECKS] || a[L_ERRORS] != b[L_ERRORS] || a[L_WHENS] != b[L_WHENS] ||
	    a[L_RUNS] != b[L_RUNS] || a[L_POLICIES] > b[L_POLICIES] + 1) {
		w->ok = 0;
		return;
	}
	lua_Integer policy = (lua_Integer)a[L_POLICIES];
	if (a[L_POLICIES] == b[L_POLICIES]) { /* no policy: then nothing else either */
		w->ok = a[L_RULES] == b[L_RULES] && a[L_ROLES] == b[L_ROLES] &&
		        a[L_BINDS] == b[L_BINDS];
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
	put_spec(w, rec);
	lua_pop(L, 2);
	put_records(w, state, L_RULES, b[L_RULES], a[L_RULES], policy);
	put_records(w, state, L_ROLES, b[L_ROLES], a[L_ROLES], policy);
	put_records(w, state, L_BINDS, b[L_BINDS], a[L_BINDS], policy);
}

typedef struct {
	const mp_bundle *b;
	const pol_decls_marks *marks; /* npolicy_files + 1: before each file, after the last */
	const unsigned char *dsl_sha256;
	wbuf out, file; /* both freed by pol_decls_build, whatever ends the call */
} build_ctx;

/* Runs protected, the DSL's state at index 1. */
static int build_all(lua_State *L)
{
	build_ctx *c = lua_touserdata(L, lua_upvalueindex(1));
	const mp_bundle *b = c->b;
	c->out.L = c->file.L = L;
	put(&c->out, MAGIC, MAGIC_LEN);
	put(&c->out, c->dsl_sha256, 32);
	size_t count_at = c->out.n;
	uint32_t count = 0;
	put_u32(&c->out, 0);
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
		pol_decls_sha256(f->text, f->len, sha);
		put(&c->out, sha, 32);
		put_u64(&c->out, f->load_units);
		put_u32(&c->out, (uint32_t)c->file.n);
		put(&c->out, c->file.p, c->file.n);
		count++;
	}
	unsigned char cb[4] = {(unsigned char)count, (unsigned char)(count >> 8),
	                       (unsigned char)(count >> 16), (unsigned char)(count >> 24)};
	memcpy(c->out.p + count_at, cb, 4);
	return 0;
}

int pol_decls_build(mp_sandbox *sb, const mp_bundle *b, const pol_decls_marks *marks,
                    const unsigned char dsl_sha256[32], void **out, size_t *len, char *err,
                    size_t errlen)
{
	lua_State *L = mp_sandbox_lua(sb);
	build_ctx c = {.b = b, .marks = marks, .dsl_sha256 = dsl_sha256};
	lua_pushlightuserdata(L, &c);
	lua_pushcclosure(L, build_all, 1);
	lua_insert(L, -2);
	int rc = mp_sandbox_pcall(sb, 1, 0, err, errlen);
	mp_free(c.file.p);
	if (rc < 0) {
		mp_free(c.out.p);
		return -1;
	}
	*out = c.out.p;
	*len = c.out.n;
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
	memset(out, 0, sizeof(*out));
	if (len < HEADER_LEN || memcmp(p, MAGIC, MAGIC_LEN - 1)) {
		snprintf(err, errlen, "not meshpol's compiled declarations (%zu bytes)", len);
		return -1;
	}
	if (p[MAGIC_LEN - 1] != (unsigned char)MAGIC[MAGIC_LEN - 1] ||
	    memcmp(p + MAGIC_LEN, dsl_sha256, 32))
		return 0; /* another version of meshpol made them: every file runs */
	uint32_t n = get_u32(p + MAGIC_LEN + 32);
	size_t at = HEADER_LEN;
	if (n > (len - at) / ENTRY_HEAD) {
		snprintf(err, errlen, "corrupt: %u files in %zu bytes", n, len);
		return -1;
	}
	pol_decls_entry *es = mp_calloc((size_t)n + 1, sizeof(*es));
	if (!es) {
		snprintf(err, errlen, "out of memory");
		return -1;
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
	return -1;
}

void pol_decls_close(pol_decls *d)
{
	mp_free(d->entries);
	memset(d, 0, sizeof(*d));
}

const pol_decls_entry *pol_decls_find(const pol_decls *d, const char *text, size_t len)
{
	unsigned char sha[32];
	if (!d || !d->n)
		return NULL;
	pol_decls_sha256(text, len, sha);
	for (uint32_t i = 0; i < d->n; i++)
		if (!memcmp(d->entries[i].sha256, sha, 32))
			return &d->entries[i];
	return NULL;
}

typedef struct {
	const unsigned char *p;
	size_t at, len;
	lua_State *L;
	const char *path;
} rbuf;

static _Noreturn void corrupt(rbuf *r, const char *why)
{
	luaL_error(r->L, "corrupt declarations: %s at byte %d of %d", why, (int)r->at, (int)r->len);
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

static void push_loc(rbuf *r)
{
	uint32_t line = take_u32(r);
	if (!line)
		corrupt(r, "a line 0");
	lua_pushfstring(r->L, "%s:%d", r->path, (int)line);
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

/* t[k] = the value on top (popped); t at idx. */
static void set(lua_State *L, int idx, const char *k)
{
	lua_setfield(L, idx, k);
}

/* Appends the table on top to the state's list (popped). */
static void append(lua_State *L, int state, int list)
{
	lua_getfield(L, state, lists[list]);
	lua_insert(L, -2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 1);
}

typedef struct {
	const pol_decls_entry *e;
	const char *path;
} inject_ctx;

/* Runs protected, the DSL's state at index 1: appends the entry's records as a run of the file
 * would have. */
static int inject(lua_State *L)
{
	inject_ctx *c = lua_touserdata(L, lua_upvalueindex(1));
	rbuf r = {.p = c->e->payload, .len = c->e->len, .L = L, .path = c->path};
	const int state = 1;
	unsigned char has_policy = *take(&r, 1);
	if (has_policy > 1)
		corrupt(&r, "a bad policy flag");
	if (!has_policy) {
		if (r.at != r.len)
			corrupt(&r, "records without a policy");
		return 0;
	}
	lua_getfield(L, state, "policies");
	lua_Integer policy = (lua_Integer)lua_rawlen(L, -1) + 1;
	lua_pop(L, 1);
	lua_createtable(L, 0, 4);
	int rec = lua_gettop(L);
	push_str(&r);
	set(L, rec, "name");
	push_loc(&r);
	set(L, rec, "loc");
	lua_pushstring(L, c->path);
	set(L, rec, "file");
	if (r.at < r.len && r.p[r.at] != 'T')
		corrupt(&r, "a spec that is not a table");
	push_value(&r, 0);
	set(L, rec, "spec");
	append(L, state, L_POLICIES);
	static const int order[] = {L_RULES, L_ROLES, L_BINDS};
	for (int k = 0; k < 3; k++) {
		uint32_t n = take_u32(&r);
		if (n > r.len - r.at)
			corrupt(&r, "more records than bytes");
		for (uint32_t i = 0; i < n; i++) {
			lua_createtable(L, 0, 6);
			rec = lua_gettop(L);
			if (order[k] == L_RULES) {
				push_str(&r);
				const char *type = lua_tostring(L, -1);
				size_t t = 0;
				while (t < 5 && strcmp(type, rule_types[t]))
					t++;
				if (t == 5)
					corrupt(&r, "an unknown rule type");
				set(L, rec, "type");
			}
			push_str(&r);
			set(L, rec, order[k] == L_BINDS ? "role" : "name");
			push_loc(&r);
			set(L, rec, "loc");
			lua_pushinteger(L, policy);
			set(L, rec, "policy");
			if (order[k] == L_ROLES) {
				uint32_t ne = take_u32(&r);
				if (ne > r.len - r.at)
					corrupt(&r, "more entries than bytes");
				lua_createtable(L, (int)ne, 0);
				for (uint32_t e = 1; e <= ne; e++) {
					lua_createtable(L, 0, 2);
					push_loc(&r);
					set(L, -2, "loc");
					if (r.at < r.len && r.p[r.at] != 'T')
						corrupt(&r, "a spec that is not a table");
					push_value(&r, 0);
					set(L, -2, "spec");
					lua_rawseti(L, -2, (lua_Integer)e);
				}
				set(L, rec, "entries");
			} else {
				if (r.at < r.len && r.p[r.at] != 'T')
					corrupt(&r, "a spec that is not a table");
				push_value(&r, 0);
				set(L, rec, "spec");
			}
			append(L, state, order[k]);
		}
	}
	if (r.at != r.len)
		corrupt(&r, "bytes after the last record");
	return 0;
}

int pol_decls_inject(mp_sandbox *sb, const pol_decls_entry *e, const char *path, char *err,
                     size_t errlen)
{
	lua_State *L = mp_sandbox_lua(sb);
	inject_ctx c = {e, path};
	lua_pushlightuserdata(L, &c);
	lua_pushcclosure(L, inject, 1);
	lua_insert(L, -2);
	return mp_sandbox_pcall(sb, 1, 0, err, errlen);
}
