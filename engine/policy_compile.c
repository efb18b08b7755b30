/* policy_compile.c: what a bundle's files declare (the DSL's state table) compiled into C:
 * policies, rules, roles and checks, every field checked against one list per declaration type,
 * references resolved against the model, and the indexes by destination. Runs protected, with
 * raw reads only and every allocation in the bundle's arena. Language:
 * docs/policy-language.md. Design: docs/architecture.md ("Policies"). */
#include "alloc.h"
#include "arena.h"
#include "decide_index.h"
#include "decl.h"
#include "policy_int.h"
#include "sandbox.h"

#include <assert.h>
#include <ctype.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- names --- */

/* NULL-terminated, for mp_diag_hint */
static const char *const enforcement_names[] = {"advisory", "soft", "hard", NULL};
static const char *const severity_names[] = {"info", "low", "medium", "high", "critical", NULL};
static const char *const kind_names[] = {"rbac", "traffic", "residency", "custom", NULL};

const char *mp_enforcement_name(uint32_t e)
{
	return e < 3 ? enforcement_names[e] : "?";
}
const char *mp_severity_name(uint32_t s)
{
	return s < 5 ? severity_names[s] : "?";
}

static int lookup_name(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

/* Appends sep and s to text (tlen bytes so far, NUL-terminated), cut at size - 1 bytes as
 * snprintf would; returns the new length. */
static size_t text_append(char *text, size_t size, size_t tlen, const char *sep, const char *s)
{
	const char *parts[2] = {sep, s};
	for (int k = 0; k < 2; k++) {
		size_t n = strlen(parts[k]), room = size - 1 - tlen; /* tlen < size always */
		n = n < room ? n : room;
		memcpy(text + tlen, parts[k], n);
		tlen += n;
	}
	text[tlen] = '\0';
	return tlen;
}

/* --- compiling declarations (runs protected: raw reads only, arena allocations only) --- */

/* An open-addressing map from a string's address to an id (cctx.by_ptr); in cctx.tmp. */
typedef struct {
	const void **keys; /* cap slots, NULL: empty */
	uint32_t *vals;
	uint32_t n, cap; /* cap 0 or a power of two, at most half full */
} ptrmap;

typedef struct {
	mp_id *v;
	uint32_t n, cap;
} id_pool;

typedef struct {
	mp_bundle *b;
	mp_diags *d;
	lua_State *L;
	const char **enabled;
	uint32_t nenabled;
	uint32_t rules_cap;
	struct name_slot {
		uint32_t rule, hash; /* rule MP_NONE: empty */
	} * names; /* seen_rule's hash set of rule indexes, with their names' hashes */
	uint32_t names_cap;
	const struct pol_decls_block_list *blocks; /* stored rules, or NULL */
	int state;                                 /* stack index of the DSL's state table */
	int keys; /* stack index: declaration key -> true, to refuse duplicates */

	/* Scratch, freed by pol_compile whatever ends the call: tmp for the whole compile, rule_tmp
	 * for one stored rule (reset before each), so that what a rule only needs while it is
	 * compiled is not kept in the bundle's arena, nor touches fresh memory per rule. */
	mp_arena tmp, rule_tmp;
	/* Compiling a stored block (compile_block): its strings are one copy each (pol_decls), so
	 * what the model says of a name is looked up once per distinct string, by its address. */
	int by_ptr;
	ptrmap svc_ids, str_ids, ns_ids;
	/* per rule under construction (by index): where its destinations are in the pools
	 * (mp_malloc'd, freed by pol_compile) */
	uint32_t *svc_at, *nsvc_at, *ext_at, *next_at;
	id_pool svcs, exts;
} cctx;

static void *alloc_or_raise(cctx *c, size_t n)
{
	void *p = pol_arena_alloc(c->b, n);
	if (!p)
		luaL_error(c->L, "out of memory compiling the bundle");
	return p;
}

static void *raise_alloc(void *c, size_t n)
{
	return alloc_or_raise(c, n);
}

/* n zeroed bytes of scratch a (cctx.tmp or cctx.rule_tmp). */
static void *tmp_or_raise(cctx *c, mp_arena *a, size_t n)
{
	void *p = mp_arena_alloc(a, n);
	if (!p)
		luaL_error(c->L, "out of memory compiling the bundle");
	return p;
}

/* The scratch of one rule's resolving: reset per rule for stored ones. */
static mp_arena *rule_scratch(cctx *c)
{
	return c->by_ptr ? &c->rule_tmp : &c->tmp;
}

/* n elements of size bytes at p, copied into the bundle's arena (NULL for none). */
static void *keep_copy(cctx *c, const void *p, uint32_t n, size_t size)
{
	if (!p || !n)
		return NULL;
	void *q = alloc_or_raise(c, ((size_t)n + 1) * size);
	return memcpy(q, p, (size_t)n * size);
}

/* The slot of key in m, added (*fresh = 1, its value to be set) when it was not there. */
static uint32_t *ptrmap_at(cctx *c, ptrmap *m, const void *key, int *fresh)
{
	if (2 * (m->n + 1) > m->cap) {
		ptrmap g = {.cap = m->cap ? 2 * m->cap : 1024};
		g.keys = tmp_or_raise(c, &c->tmp, g.cap * sizeof(*g.keys));
		g.vals = tmp_or_raise(c, &c->tmp, g.cap * sizeof(*g.vals));
		for (uint32_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				int f;
				*ptrmap_at(c, &g, m->keys[i], &f) = m->vals[i];
			}
		*m = g;
	}
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15u;
	for (uint32_t i = (uint32_t)(h >> 32) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key) {
			*fresh = 0;
			return &m->vals[i];
		}
		if (!m->keys[i]) {
			m->keys[i] = key;
			m->n++;
			*fresh = 1;
			return &m->vals[i];
		}
	}
}

static mp_id find_service(cctx *c, const char *ref)
{
	int fresh;
	if (!c->by_ptr)
		return mp_model_find_service(c->b->model, ref);
	uint32_t *v = ptrmap_at(c, &c->svc_ids, ref, &fresh);
	if (fresh)
		*v = mp_model_find_service(c->b->model, ref);
	return *v;
}

static mp_id find_namespace(cctx *c, const char *name)
{
	int fresh;
	if (!c->by_ptr)
		return mp_model_find_namespace(c->b->model, name);
	uint32_t *v = ptrmap_at(c, &c->ns_ids, name, &fresh);
	if (fresh)
		*v = mp_model_find_namespace(c->b->model, name);
	return *v;
}

/* The model string id of the exact pattern p compiled from item. */
static mp_str find_str(cctx *c, const char *item, const mp_pattern *p)
{
	int fresh;
	if (!c->by_ptr)
		return mp_model_find_str(c->b->model, p->text, p->len);
	uint32_t *v = ptrmap_at(c, &c->str_ids, item, &fresh);
	if (fresh)
		*v = mp_model_find_str(c->b->model, p->text, p->len);
	return *v;
}

/* Room for n more ids at the end of pool. */
static mp_id *pool_room(cctx *c, id_pool *pool, uint32_t n)
{
	if (mp_grow((void **)&pool->v, &pool->cap, sizeof(*pool->v), pool->n + n, 1024) < 0)
		luaL_error(c->L, "out of memory compiling the bundle");
	return pool->v + pool->n;
}

/* Raw field read: pushes t[name] (no metamethods) and returns its type. */
static int rawfield(lua_State *L, int t, const char *name)
{
	lua_pushstring(L, name);
	return lua_rawget(L, t);
}

static const char *rawstring(cctx *c, int t, const char *name)
{
	const char *s = NULL;
	if (rawfield(c->L, t, name) == LUA_TSTRING)
		s = pol_arena_str(c->b, lua_tostring(c->L, -1));
	lua_pop(c->L, 1);
	return s;
}

/* --- declaration identity (decl.h): what binds a `when` or `run` to its rule in every state;
 * the keys are policy_bind.c's (pol_push_decl_key) --- */

/* The digest of a declaration: its spec (every field, with what its functions capture) and
 * the function the DSL recorded for it (which the spec may no longer hold). */
static void decl_digest(lua_State *L, int spec, int fn, unsigned char out[MP_DECL_DIGEST_LEN])
{
	lua_createtable(L, 2, 0);
	lua_pushvalue(L, spec);
	lua_rawseti(L, -2, 1);
	lua_pushvalue(L, fn);
	lua_rawseti(L, -2, 2);
	mp_decl_digest(L, -1, out);
	lua_pop(L, 1);
}

/* Records the identity of function i of the state's list ("whens" or "runs") for the declaration
 * decl with spec at spec. Several rules may share one function (a role entry, once per binding);
 * it is recorded once. */
static void record_decl(cctx *c, const char *list, mp_decl_id *ids, uint32_t nids, int32_t i,
                        const char *kind, int decl, int spec, lua_Integer entry, const char *loc)
{
	lua_State *L = c->L;
	if (i <= 0 || (uint32_t)i > nids || ids[i].key)
		return;
	pol_push_decl_key(L, c->state, kind, decl, entry);
	const char *key = lua_tostring(L, -1);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, c->keys) != LUA_TNIL) {
		pol_loc_error(c->d, loc, "%s is declared twice", key);
		lua_pop(L, 2);
		return;
	}
	lua_pop(L, 1);
	lua_pushvalue(L, -1);
	lua_pushboolean(L, 1);
	lua_rawset(L, c->keys);
	ids[i].key = pol_arena_str(c->b, key);
	ids[i].loc = loc;
	if (!ids[i].key)
		luaL_error(L, "out of memory compiling the bundle");
	lua_pushstring(L, list);
	lua_rawget(L, c->state);
	lua_rawgeti(L, -1, i);
	decl_digest(L, spec, lua_gettop(L), ids[i].digest);
	lua_pop(L, 3);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int known_field(const char *const *fields, const char *k)
{
	for (const char *const *f = fields; *f; f++)
		if (!strcmp(*f, k))
			return 1;
	return 0;
}

/* Checks that every key of the table at t is one of fields (NULL-terminated): one error per
 * unknown key, naming the nearest field, in sorted order (the order of a table's keys changes
 * from one state to the next), and one for keys that are not strings. */
static int check_fields(cctx *c, int t, const char *const *fields, const char *loc,
                        const char *what)
{
	lua_State *L = c->L;
	uint32_t nunknown = 0, unnamed = 0;
	char hint[512];
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		nunknown += k && !known_field(fields, k);
		unnamed += !k;
	}
	if (unnamed)
		pol_loc_error(c->d, loc, "%s: fields must be named (%s)", what,
		              mp_diag_hint("", fields, hint, sizeof(hint)));
	if (!nunknown)
		return unnamed ? -1 : 0;
	const char **unknown = alloc_or_raise(c, nunknown * sizeof(char *));
	uint32_t n = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		lua_pop(L, 1);
		const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		if (k && !known_field(fields, k) && n < nunknown) {
			size_t len = strlen(k) + 1;
			char *copy = alloc_or_raise(c, len);
			unknown[n++] = memcpy(copy, k, len);
		}
	}
	qsort(unknown, n, sizeof(unknown[0]), cmp_str);
	for (uint32_t i = 0; i < n; i++)
		pol_loc_error(c->d, loc, "%s: unknown field '%s' (%s)", what, unknown[i],
		              mp_diag_hint(unknown[i], fields, hint, sizeof(hint)));
	return -1;
}

/* Does the table on top of the stack hold exactly the keys 1..len (raw)? */
static int is_list(lua_State *L, lua_Unsigned len)
{
	lua_Unsigned count = 0;
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		count++;
		lua_pop(L, 1);
	}
	return count == len;
}

/* Reads a list of strings at t[name] into an arena array; one string counts as a list of one
 * when scalar_ok (the fields with singular names: service, namespace, external, data, stay_in).
 * -1 on a type error. */
static int string_list(cctx *c, int t, const char *name, int scalar_ok, const char ***out,
                       uint32_t *n, const char *loc, const char *what)
{
	lua_State *L = c->L;
	int type = rawfield(L, t, name);
	*out = NULL;
	*n = 0;
	if (type == LUA_TSTRING && scalar_ok) {
		*out = alloc_or_raise(c, sizeof(char *));
		(*out)[(*n)++] = pol_arena_str(c->b, lua_tostring(L, -1));
	} else if (type == LUA_TSTRING) {
		pol_loc_error(
		    c->d, loc,
		    "%s: '%s' must be a list of strings, not a string (write %s = { \"%s\" })",
		    what, name, name, lua_tostring(L, -1));
		goto fail;
	} else if (type == LUA_TTABLE) {
		lua_Unsigned len = lua_rawlen(L, -1);
		if (!is_list(L, len)) {
			pol_loc_error(
			    c->d, loc,
			    "%s: '%s' must be a list { ... }, not a table with other keys", what,
			    name);
			goto fail;
		}
		*out = alloc_or_raise(c, (len + 1) * sizeof(char *));
		for (lua_Unsigned i = 1; i <= len; i++) {
			if (lua_rawgeti(L, -1, (lua_Integer)i) != LUA_TSTRING) {
				pol_loc_error(c->d, loc, "%s: item %d of '%s' must be a string",
				              what, (int)i, name);
				lua_pop(L, 1);
				goto fail;
			}
			(*out)[(*n)++] = pol_arena_str(c->b, lua_tostring(L, -1));
			lua_pop(L, 1);
		}
	} else if (type != LUA_TNIL) {
		pol_loc_error(c->d, loc, "%s: '%s' must be %s, not a %s", what, name,
		              scalar_ok ? "a string or a list of strings" : "a list of strings",
		              lua_typename(L, type));
		goto fail;
	}
	lua_pop(L, 1);
	return 0;
fail:
	lua_pop(L, 1);
	*n = 0;
	return -1;
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const mp_kv *)a)->key, ((const mp_kv *)b)->key);
}

static int kv_table(cctx *c, int t, const char *name, mp_kv **out, uint32_t *n, const char *loc,
                    const char *what)
{
	lua_State *L = c->L;
	int type = rawfield(L, t, name);
	*out = NULL;
	*n = 0;
	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	if (type != LUA_TTABLE) {
		pol_loc_error(c->d, loc, "%s: '%s' must be a table of strings", what, name);
		lua_pop(L, 1);
		return -1;
	}
	uint32_t count = 0;
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		count++;
		lua_pop(L, 1);
	}
	*out = alloc_or_raise(c, (count + 1) * sizeof(mp_kv));
	int bad = 0;
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
			pol_loc_error(c->d, loc, "%s: '%s' must map strings to strings", what,
			              name);
			bad = 1;
		} else {
			(*out)[*n].key = pol_arena_str(c->b, lua_tostring(L, -2));
			(*out)[*n].value = pol_arena_str(c->b, lua_tostring(L, -1));
			(*n)++;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	/* in the order of the keys: lua_next's follows the state's random string-hash seed, and
	 * what reads the pairs (explanations, stored declarations) must not */
	qsort(*out, *n, sizeof(**out), cmp_kv);
	return bad ? -1 : 0;
}

/* Compiles the n patterns items (paths: path patterns, else principals) into *out. */
static int compile_patterns(cctx *c, const char **items, uint32_t n, int paths, mp_pattern **out,
                            const char *loc, const char *what)
{
	char err[256];
	*out = n ? alloc_or_raise(c, n * sizeof(mp_pattern)) : NULL;
	for (uint32_t i = 0; i < n; i++) {
		mp_pattern *p = &(*out)[i];
		if (mp_pattern_compile(p, items[i], paths, err, sizeof(err)) < 0) {
			pol_loc_error(c->d, loc, "%s: %s", what, err);
			return -1;
		}
		/* principals: an exact one compares as a model string id at decision time */
		if (!paths && p->kind == MP_PAT_EXACT)
			p->id = find_str(c, items[i], p);
	}
	return 0;
}

static int patterns(cctx *c, int t, const char *name, int paths, mp_pattern **out, uint32_t *n,
                    const char *loc, const char *what)
{
	const char **items;
	if (string_list(c, t, name, 0, &items, n, loc, what) < 0)
		return -1;
	return compile_patterns(c, items, *n, paths, out, loc, what);
}

/* Resolves service references into *svcs (in scratch, or NULL: the bundle's arena). */
static int resolve_services(cctx *c, const char **refs, uint32_t n, mp_id **svcs, uint32_t *nsvcs,
                            mp_arena *scratch, const char *loc, const char *what, const char *field)
{
	const mp_model *m = c->b->model;
	int bad = 0;
	*svcs = scratch ? tmp_or_raise(c, scratch, (n + 1) * sizeof(mp_id))
	                : alloc_or_raise(c, (n + 1) * sizeof(mp_id));
	for (uint32_t i = 0; i < n; i++) {
		mp_id id = find_service(c, refs[i]);
		if (id != MP_NONE) {
			(*svcs)[(*nsvcs)++] = id;
			continue;
		}
		const mp_id *ids;
		if (!strchr(refs[i], '/') && mp_model_services_named(m, refs[i], &ids) > 1)
			pol_loc_error(c->d, loc,
			              "%s: '%s' names service '%s' in several namespaces; write "
			              "namespace/name",
			              what, field, refs[i]);
		else
			pol_loc_error(c->d, loc,
			              "%s: '%s' names '%s', which is not a service of the model",
			              what, field, refs[i]);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* Resolves namespace names into *out (in scratch, or NULL: the bundle's arena). */
static int resolve_namespaces(cctx *c, const char **names, uint32_t n, mp_id **out,
                              mp_arena *scratch, const char *loc, const char *what,
                              const char *field)
{
	int bad = 0;
	*out = scratch ? tmp_or_raise(c, scratch, (n + 1) * sizeof(mp_id))
	               : alloc_or_raise(c, (n + 1) * sizeof(mp_id));
	for (uint32_t i = 0; i < n; i++) {
		(*out)[i] = find_namespace(c, names[i]);
		if ((*out)[i] == MP_NONE) {
			pol_loc_error(
			    c->d, loc,
			    "%s: '%s' names namespace '%s', which the model does not have", what,
			    field, names[i]);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* A source selector from what a stored declaration holds (pol_raw_from), resolved as
 * read_source resolves what it reads, in the same order. */
static int source_from_raw(cctx *c, const pol_raw_from *f, mp_source *src, const char *loc,
                           const char *what)
{
	int bad = 0;
	src->nprincipals = f->principals.n;
	bad |= compile_patterns(c, f->principals.v, f->principals.n, 0, &src->principals, loc,
	                        what) < 0;
	if (f->namespaces.n &&
	    resolve_namespaces(c, f->namespaces.v, f->namespaces.n, &src->namespaces, NULL, loc,
	                       what, "namespaces") == 0)
		src->nnamespaces = f->namespaces.n;
	else if (f->namespaces.n)
		bad = 1;
	if (f->services.n)
		bad |= resolve_services(c, f->services.v, f->services.n, &src->services,
		                        &src->nservices, NULL, loc, what, "services") < 0;
	src->labels = keep_copy(c, f->labels.v, f->labels.n, sizeof(*f->labels.v));
	src->nlabels = f->labels.n;
	src->authenticated = f->authenticated;
	return bad ? -1 : 0;
}

/* Reads a source selector from the table at t (the `from` table, or a binding). */
static int read_source(cctx *c, int t, mp_source *src, const char *loc, const char *what)
{
	const char **names;
	uint32_t n;
	int bad = 0;
	bad |= patterns(c, t, "principals", 0, &src->principals, &src->nprincipals, loc, what) < 0;
	if (string_list(c, t, "namespaces", 0, &names, &n, loc, what) < 0)
		bad = 1;
	else if (n && resolve_namespaces(c, names, n, &src->namespaces, NULL, loc, what,
	                                 "namespaces") == 0)
		src->nnamespaces = n;
	else if (n)
		bad = 1;
	if (string_list(c, t, "services", 0, &names, &n, loc, what) < 0)
		bad = 1;
	else if (n)
		bad |= resolve_services(c, names, n, &src->services, &src->nservices, NULL, loc,
		                        what, "services") < 0;
	bad |= kv_table(c, t, "labels", &src->labels, &src->nlabels, loc, what) < 0;
	int type = rawfield(c->L, t, "authenticated");
	if (type == LUA_TBOOLEAN) {
		src->authenticated = (uint32_t)lua_toboolean(c->L, -1);
	} else if (type != LUA_TNIL) {
		pol_loc_error(c->d, loc, "%s: 'authenticated' must be true or false, not a %s",
		              what, lua_typename(c->L, type));
		bad = 1;
	}
	lua_pop(c->L, 1);
	return bad ? -1 : 0;
}

static int read_from(cctx *c, int spec, mp_source *src, const char *loc, const char *what)
{
	static const char *const from_fields[] = {"principals", "namespaces",    "services",
	                                          "labels",     "authenticated", NULL};
	lua_State *L = c->L;
	int type = rawfield(L, spec, "from");
	int rc = 0;
	if (type == LUA_TNIL || (type == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "*"))) {
		src->any = 1;
	} else if (type != LUA_TTABLE) {
		pol_loc_error(
		    c->d, loc,
		    "%s: 'from' must be a table (principals, namespaces, services, labels) "
		    "or \"*\"",
		    what);
		rc = -1;
	} else {
		int t = lua_gettop(L);
		char w[300];
		text_append(w, sizeof(w), text_append(w, sizeof(w), 0, "", what), "", ": from");
		rc = check_fields(c, t, from_fields, loc, w) < 0
		         ? -1
		         : read_source(c, t, src, loc, what);
	}
	lua_pop(L, 1);
	return rc;
}

static int method_bits(cctx *c, const char **items, uint32_t n, mp_rule *r, const char *loc,
                       const char *what)
{
	int bad = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t bit = mp_method_bit(items[i]);
		if (!bit) {
			pol_loc_error(c->d, loc, "%s: unknown HTTP method '%s'", what, items[i]);
			bad = 1;
		}
		r->methods |= bit;
	}
	return bad ? -1 : 0;
}

static void compile_headers(cctx *c, const mp_kv *hdrs, uint32_t n, mp_rule *r)
{
	char err[256];
	if (!n)
		return;
	r->headers = alloc_or_raise(c, n * sizeof(mp_header_match));
	for (uint32_t i = 0; i < n; i++) {
		char *name = pol_arena_str(c->b, hdrs[i].key);
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		r->headers[i].name = name;
		mp_pattern_compile(&r->headers[i].value, hdrs[i].value, 0, err, sizeof(err));
	}
	r->nheaders = n;
}

/* The request-matching fields shared by allow and deny rules and role entries. */
static int read_match(cctx *c, int spec, mp_rule *r, const char *loc, const char *what)
{
	lua_State *L = c->L;
	const char **items;
	uint32_t n;
	int bad = 0;
	if (string_list(c, spec, "methods", 0, &items, &n, loc, what) < 0)
		bad = 1;
	bad |= method_bits(c, items, n, r, loc, what) < 0;
	bad |= patterns(c, spec, "paths", 1, &r->paths, &r->npaths, loc, what) < 0;
	int type = rawfield(L, spec, "ports");
	if (type == LUA_TTABLE && !is_list(L, lua_rawlen(L, -1))) {
		pol_loc_error(c->d, loc,
		              "%s: 'ports' must be a list { ... }, not a table with other keys",
		              what);
		bad = 1;
	} else if (type == LUA_TTABLE) {
		lua_Unsigned len = lua_rawlen(L, -1);
		r->ports = alloc_or_raise(c, (len + 1) * sizeof(uint32_t));
		for (lua_Unsigned i = 1; i <= len; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i);
			lua_Integer p = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
			lua_pop(L, 1);
			if (p < 1 || p > 65535) {
				pol_loc_error(c->d, loc, "%s: 'ports' must hold integers 1..65535",
				              what);
				bad = 1;
				break;
			}
			r->ports[r->nports++] = (uint32_t)p;
		}
	} else if (type != LUA_TNIL) {
		pol_loc_error(c->d, loc, "%s: 'ports' must be a list of ports ({ 8080 }), not a %s",
		              what, lua_typename(L, type));
		bad = 1;
	}
	lua_pop(L, 1);
	mp_kv *hdrs;
	if (kv_table(c, spec, "headers", &hdrs, &n, loc, what) < 0) {
		bad = 1;
	} else {
		compile_headers(c, hdrs, n, r);
	}
	type = rawfield(L, spec, "when");
	if (type != LUA_TNIL && type != LUA_TFUNCTION) {
		pol_loc_error(c->d, loc, "%s: 'when' must be a function", what);
		bad = 1;
	}
	lua_pop(L, 1);
	return bad ? -1 : 0;
}

static int any_ext_named(const char **names, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(names[i], "*"))
			return 1;
	return 0;
}

/* The destination fields: service, namespace and labels select services; external selects
 * external hosts (egress). Records the ids the rule applies to, for the index. */
static int resolve_destination(cctx *c, mp_rule *r, uint32_t idx, const char **svc_refs,
                               uint32_t nsvc, const char **ns_names, uint32_t nns,
                               const mp_kv *labels, uint32_t nlabels, const char **ext_names,
                               uint32_t next_names, const char *loc, const char *what);

static int read_destination(cctx *c, int spec, mp_rule *r, uint32_t idx, const char *loc,
                            const char *what)
{
	const char **svc_refs, **ns_names, **ext_names;
	uint32_t nsvc, nns, next_names;
	mp_kv *labels;
	uint32_t nlabels;
	int bad = 0;
	bad |= string_list(c, spec, "service", 1, &svc_refs, &nsvc, loc, what) < 0;
	bad |= string_list(c, spec, "namespace", 1, &ns_names, &nns, loc, what) < 0;
	bad |= kv_table(c, spec, "labels", &labels, &nlabels, loc, what) < 0;
	bad |= string_list(c, spec, "external", 1, &ext_names, &next_names, loc, what) < 0;
	if (bad)
		return -1;
	return resolve_destination(c, r, idx, svc_refs, nsvc, ns_names, nns, labels, nlabels,
	                           ext_names, next_names, loc, what);
}

/* The destination read (by read_destination, or from a stored declaration) resolved against
 * the model: the rule's text and the ids it applies to, for the index. */
static int resolve_destination(cctx *c, mp_rule *r, uint32_t idx, const char **svc_refs,
                               uint32_t nsvc, const char **ns_names, uint32_t nns,
                               const mp_kv *labels, uint32_t nlabels, const char **ext_names,
                               uint32_t next_names, const char *loc, const char *what)
{
	const mp_model *m = c->b->model;
	mp_model_view v = mp_model_get_view(m);
	int bad = 0;
	if (!nsvc && !nns && !nlabels && !next_names) {
		pol_loc_error(
		    c->d, loc,
		    "%s: needs a destination: 'service', 'namespace', 'labels' or 'external'",
		    what);
		return -1;
	}
	int any_service = 0, any_external = 0;
	for (uint32_t i = 0; i < nsvc; i++)
		any_service |= !strcmp(svc_refs[i], "*");
	mp_id *ids = NULL, *nsids = NULL;
	uint32_t nids = 0;
	if (nsvc && !any_service &&
	    resolve_services(c, svc_refs, nsvc, &ids, &nids, rule_scratch(c), loc, what,
	                     "service") < 0)
		return -1;
	if (nns && resolve_namespaces(c, ns_names, nns, &nsids, rule_scratch(c), loc, what,
	                              "namespace") < 0)
		return -1;
	/* every external only for external = "*"; most rules name none */
	mp_id *exts =
	    next_names
	        ? pool_room(c, &c->exts,
	                    (any_ext_named(ext_names, next_names) ? v.nexternals : 0) + next_names)
	        : NULL;
	uint32_t nexts = 0;
	for (uint32_t i = 0; i < next_names; i++) {
		if (!strcmp(ext_names[i], "*")) {
			any_external = 1;
			continue;
		}
		exts[nexts] = mp_model_find_external(m, ext_names[i]);
		if (exts[nexts] == MP_NONE) {
			pol_loc_error(
			    c->d, loc,
			    "%s: 'external' names '%s', which is not an external of the model",
			    what, ext_names[i]);
			bad = 1;
			continue;
		}
		nexts++;
	}
	if (bad)
		return -1;
	if (any_external)
		for (nexts = 0; nexts < v.nexternals; nexts++)
			exts[nexts] = nexts;
	char text[512];
	size_t tlen = 0;
	text[0] = '\0';
	if (nsvc == 1 && !nns && !next_names && strlen(svc_refs[0]) + 1 < sizeof(text))
		r->dest_text = svc_refs[0]; /* already an arena string, and not cut */
	for (uint32_t i = 0; i < nsvc && !r->dest_text; i++)
		tlen = text_append(text, sizeof(text), tlen, i ? "," : "", svc_refs[i]);
	for (uint32_t i = 0; i < nns; i++)
		tlen = text_append(text, sizeof(text), tlen, tlen ? ",namespace " : "namespace ",
		                   ns_names[i]);
	for (uint32_t i = 0; i < next_names; i++)
		tlen = text_append(text, sizeof(text), tlen, tlen ? ",external " : "external ",
		                   ext_names[i]);
	if (!r->dest_text)
		r->dest_text = pol_arena_str(c->b, tlen ? text : "labels");
	r->dest_any = any_service && !nns && !nlabels;

	/* services: the named ones, else every service of the named namespaces (or all), filtered
	 * by namespace and labels; none when only externals were named */
	mp_id *cand = ids;
	uint32_t ncand = nids, nout = 0;
	if (any_service || (!nsvc && (nns || nlabels))) {
		cand = tmp_or_raise(c, rule_scratch(c), (v.nservices + 1) * sizeof(mp_id));
		for (ncand = 0; ncand < v.nservices; ncand++)
			cand[ncand] = ncand;
	}
	mp_id *out = pool_room(c, &c->svcs, ncand);
	for (uint32_t i = 0; i < ncand; i++) {
		const mp_service *s = &v.services[cand[i]];
		int ok = !nns;
		for (uint32_t k = 0; k < nns && !ok; k++)
			ok = s->ns == nsids[k];
		for (uint32_t k = 0; k < nlabels && ok; k++) {
			int found = 0;
			for (uint32_t j = 0; j < s->labels.n && !found; j++) {
				const mp_label *l = &v.labels[s->labels.off + j];
				found = !strcmp(mp_model_str(m, l->key), labels[k].key) &&
				        !strcmp(mp_model_str(m, l->value), labels[k].value);
			}
			ok = found;
		}
		if (ok)
			out[nout++] = cand[i];
	}
	c->svc_at[idx] = c->svcs.n;
	c->nsvc_at[idx] = nout;
	c->svcs.n += nout;
	c->ext_at[idx] = c->exts.n;
	c->next_at[idx] = nexts;
	c->exts.n += nexts;
	return 0;
}

static const char *opt_message(cctx *c, int spec, const char *loc, const char *what)
{
	int type = rawfield(c->L, spec, "message");
	const char *s = NULL;
	if (type == LUA_TSTRING)
		s = pol_arena_str(c->b, lua_tostring(c->L, -1));
	else if (type != LUA_TNIL)
		pol_loc_error(c->d, loc, "%s: 'message' must be a string", what);
	lua_pop(c->L, 1);
	return s;
}

static int absent(cctx *c, int spec, const char *name)
{
	int type = rawfield(c->L, spec, name);
	lua_pop(c->L, 1);
	return type == LUA_TNIL;
}

/* spec[name] as an arena string; NULL when absent, or (after an error) not a string. */
static const char *spec_string(cctx *c, int spec, const char *name, const char *loc,
                               const char *what)
{
	int type = rawfield(c->L, spec, name);
	const char *s = NULL;
	if (type == LUA_TSTRING)
		s = pol_arena_str(c->b, lua_tostring(c->L, -1));
	else if (type != LUA_TNIL)
		pol_loc_error(c->d, loc, "%s: '%s' must be a string, not a %s", what, name,
		              lua_typename(c->L, type));
	lua_pop(c->L, 1);
	return s;
}

/* spec[name], one of names (NULL-terminated): its index; dflt when absent; -1 after an error
 * that lists the names and the nearest one. */
static int spec_enum(cctx *c, int spec, const char *name, const char *const *names, int dflt,
                     const char *loc, const char *what)
{
	const char *s = spec_string(c, spec, name, loc, what);
	if (!s)
		return absent(c, spec, name) ? dflt : -1;
	char list[200] = "", hint[200] = "";
	for (int i = 0; names[i]; i++) {
		if (!strcmp(names[i], s))
			return i;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
		         i == 0         ? ""
		         : names[i + 1] ? ", "
		                        : " or ",
		         names[i]);
	}
	const char *near = mp_diag_nearest(s, names);
	if (near)
		snprintf(hint, sizeof(hint), " (did you mean '%s'?)", near);
	pol_loc_error(c->d, loc, "%s: %s '%s' is not %s%s", what, name, s, list, hint);
	return -1;
}

static int semver_ok(const char *v)
{
	const char *p = v;
	for (int part = 0; part < 3; part++) {
		if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
		if (part < 2 && *p++ != '.')
			return 0;
	}
	if (*p == '-')
		for (p++; *p && *p != '+'; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
				return 0;
	if (*p == '+')
		for (p++; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
				return 0;
	return *p == '\0';
}

static void compile_policies(cctx *c, int state)
{
	static const char *const fields[] = {"version",  "kind",        "enforcement", "severity",
	                                     "controls", "description", NULL};
	lua_State *L = c->L;
	mp_bundle *b = c->b;
	rawfield(L, state, "policies");
	int list = lua_gettop(L);
	lua_Unsigned n = lua_rawlen(L, list);
	b->policies = alloc_or_raise(c, (n + 1) * sizeof(mp_policy));
	for (lua_Unsigned i = 1; i <= n; i++) {
		lua_rawgeti(L, list, (lua_Integer)i);
		int decl = lua_gettop(L);
		mp_policy *p = &b->policies[b->npolicies++];
		p->name = rawstring(c, decl, "name");
		p->loc = rawstring(c, decl, "loc");
		p->file = rawstring(c, decl, "file");
		char what[300];
		snprintf(what, sizeof(what), "policy '%s'", p->name);
		rawfield(L, decl, "spec");
		int spec = lua_gettop(L);
		check_fields(c, spec, fields, p->loc, what);
		p->version = spec_string(c, spec, "version", p->loc, what);
		if (!p->version && absent(c, spec, "version"))
			pol_loc_error(c->d, p->loc, "%s: missing required field 'version'", what);
		else if (p->version && !semver_ok(p->version))
			pol_loc_error(
			    c->d, p->loc,
			    "%s: version '%s' is not a semantic version (MAJOR.MINOR.PATCH)", what,
			    p->version);
		p->kind = spec_string(c, spec, "kind", p->loc, what);
		if (!p->kind && absent(c, spec, "kind"))
			pol_loc_error(c->d, p->loc, "%s: missing required field 'kind'", what);
		else if (p->kind)
			spec_enum(c, spec, "kind", kind_names, 0, p->loc, what);
		int ei =
		    spec_enum(c, spec, "enforcement", enforcement_names, MP_ENF_HARD, p->loc, what);
		p->enforcement = ei < 0 ? MP_ENF_HARD : (uint32_t)ei;
		int si =
		    spec_enum(c, spec, "severity", severity_names, MP_SEV_MEDIUM, p->loc, what);
		p->severity = si < 0 ? MP_SEV_MEDIUM : (uint32_t)si;
		string_list(c, spec, "controls", 0, &p->controls, &p->ncontrols, p->loc, what);
		p->description = spec_string(c, spec, "description", p->loc, what);
		p->enabled = c->nenabled == 0 || pol_in_memory(b, p->file);
		for (uint32_t k = 0; k < c->nenabled; k++)
			p->enabled |= !strcmp(c->enabled[k], p->name);
		for (uint32_t k = 0; k + 1 < b->npolicies; k++)
			if (!strcmp(b->policies[k].name, p->name))
				pol_loc_error(c->d, p->loc, "duplicate policy '%s' (first at %s)",
				              p->name, b->policies[k].loc);
		lua_settop(L, list);
	}
	for (uint32_t k = 0; k < c->nenabled; k++) {
		uint32_t i;
		for (i = 0; i < b->npolicies && strcmp(b->policies[i].name, c->enabled[k]); i++)
			;
		if (i == b->npolicies)
			mp_diags_error(c->d, "bundle.yaml", 0, 0,
			               "'policies' lists '%s', which no file declares",
			               c->enabled[k]);
	}
	lua_settop(L, list - 1);
}

static mp_rule *new_rule(cctx *c, uint32_t type, uint32_t policy, const char *name, const char *loc)
{
	mp_bundle *b = c->b;
	if (b->nrules == c->rules_cap)
		luaL_error(c->L, "internal error: rule count");
	mp_rule *r = &b->rules[b->nrules++];
	/* every field written here: the array is not zeroed beforehand */
	*r = (mp_rule){.type = type, .policy = policy, .name = name, .loc = loc};
	return r;
}

/* Drops the rule just added (it had errors). */
static void drop_rule(cctx *c)
{
	c->b->nrules--;
}

/* Rule names are unique per policy: a hash set of (policy, name) over the direct rules, so that
 * 50,000 rules load in linear time. Returns the earlier rule's index, or MP_NONE after adding
 * the one about to be created (at index b->nrules). */
static uint32_t seen_rule(cctx *c, uint32_t policy, const char *name)
{
	if (!c->names) {
		for (c->names_cap = 64; c->names_cap < 2 * c->rules_cap; c->names_cap *= 2)
			;
		c->names = tmp_or_raise(c, &c->tmp, c->names_cap * sizeof(*c->names));
		for (uint32_t i = 0; i < c->names_cap; i++)
			c->names[i].rule = MP_NONE;
	}
	uint32_t h = 2166136261u ^ policy;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	/* the hash beside each index (one cache line for both): a rule (184 bytes, anywhere in
	 * the array) is read only when its hash is this one */
	for (uint32_t i = h & (c->names_cap - 1);; i = (i + 1) & (c->names_cap - 1)) {
		uint32_t k = c->names[i].rule;
		if (k == MP_NONE) {
			c->names[i] = (struct name_slot){c->b->nrules, h};
			return MP_NONE;
		}
		if (c->names[i].hash == h && c->b->rules[k].policy == policy &&
		    !strcmp(c->b->rules[k].name, name))
			return k;
	}
}

/* A residency rule's data and jurisdictions (r->data read) against the model; bad: an error
 * was reported already. Returns bad, or 1 after a new error. */
static int residency_ids(cctx *c, mp_rule *r, const char **jur, uint32_t nj, int bad,
                         const char *loc, const char *what)
{
	const mp_model *m = c->b->model;
	if (!bad && (!r->ndata || !nj)) {
		pol_loc_error(c->d, loc, "%s: needs 'data' and 'stay_in'", what);
		bad = 1;
	}
	r->data_ids = alloc_or_raise(c, (r->ndata + 1) * sizeof(mp_str));
	for (uint32_t k = 0; k < r->ndata; k++)
		r->data_ids[k] = mp_model_find_str(m, r->data[k], strlen(r->data[k]));
	r->jurisdictions = alloc_or_raise(c, (nj + 1) * sizeof(mp_id));
	for (uint32_t k = 0; !bad && k < nj; k++) {
		r->jurisdictions[k] = mp_model_find_jurisdiction(m, jur[k]);
		if (r->jurisdictions[k] == MP_NONE) {
			pol_loc_error(c->d, loc, "%s: the model has no jurisdiction '%s'", what,
			              jur[k]);
			bad = 1;
		}
	}
	r->njurisdictions = nj;
	return bad;
}

static const char *const rule_types[] = {"allow", "deny", "residency", "require_mtls",
                                         "declared_routes_only"};

/* "TYPE 'NAME'", as errors name a rule. */
static void rule_what(char *what, size_t size, const char *type, const char *name)
{
	size_t wlen = text_append(what, size, 0, type ? type : "", " '");
	text_append(what, size, text_append(what, size, wlen, "", name ? name : ""), "", "'");
}

static int from_raw(cctx *c, const pol_raw_from *f, mp_source *src, const char *loc,
                    const char *what)
{
	if (f->any) {
		src->any = 1;
		return 0;
	}
	return source_from_raw(c, f, src, loc, what);
}

/* A stored rule (pol_decls_rule) compiled as compile_rules compiles one read from the DSL:
 * the same checks against the model, in the same order, with the same errors. */
static void compile_raw_rule(cctx *c, const pol_raw_rule *raw, uint32_t policy)
{
	mp_bundle *b = c->b;
	const char *loc = raw->loc;
	char what[300];
	rule_what(what, sizeof(what), rule_types[raw->type], raw->name);
	uint32_t first = seen_rule(c, policy, raw->name);
	if (first != MP_NONE)
		pol_loc_error(c->d, loc, "%s: policy '%s' already has a rule named '%s' (at %s)",
		              what, b->policies[policy].name, raw->name, b->rules[first].loc);
	uint32_t idx = b->nrules;
	mp_rule *r = new_rule(c, raw->type, policy, raw->name, loc);
	int bad = 0;
	r->message = raw->message;
	switch (raw->type) {
	case MP_RULE_ALLOW:
	case MP_RULE_DENY:
		bad |=
		    resolve_destination(c, r, idx, raw->service.v, raw->service.n, raw->namespace.v,
		                        raw->namespace.n, raw->labels.v, raw->labels.n,
		                        raw->external.v, raw->external.n, loc, what) < 0;
		bad |= from_raw(c, &raw->from, &r->from, loc, what) < 0;
		bad |= method_bits(c, raw->methods.v, raw->methods.n, r, loc, what) < 0;
		r->npaths = raw->paths.n;
		bad |= compile_patterns(c, raw->paths.v, raw->paths.n, 1, &r->paths, loc, what) < 0;
		r->ports = keep_copy(c, raw->ports, raw->nports, sizeof(*raw->ports));
		r->nports = raw->nports;
		compile_headers(c, raw->headers.v, raw->headers.n, r);
		break;
	case MP_RULE_RESIDENCY:
		r->data = keep_copy(c, raw->data.v, raw->data.n, sizeof(*raw->data.v));
		r->ndata = raw->data.n;
		bad = residency_ids(c, r, raw->stay_in.v, raw->stay_in.n, bad, loc, what);
		break;
	case MP_RULE_DECLARED_ROUTES:
		bad |= from_raw(c, &raw->from, &r->from, loc, what) < 0;
		break;
	}
	if (bad || !b->policies[policy].enabled)
		drop_rule(c);
}

/* The rules of the k-th stored block, where the DSL's rules hold its marker. */
static void compile_block(cctx *c, lua_Integer k)
{
	char err[256];
	if (!c->blocks || k < 1 || (uint64_t)k > c->blocks->n)
		luaL_error(c->L, "internal error: no stored declarations %d", (int)k);
	const pol_decls_block *blk = &c->blocks->v[k - 1];
	pol_decls_reader rd = {
	    .blk = blk, .at = blk->rules_at, .left = blk->nrules, .tmp = &c->rule_tmp};
	pol_raw_rule raw;
	int rc;
	if (blk->policy >= c->b->npolicies)
		luaL_error(c->L, "internal error: stored declarations without their policy");
	c->by_ptr = 1;
	while ((mp_arena_reset(&c->rule_tmp),
	        rc = pol_decls_rule(&rd, c->b, &raw, err, sizeof(err))) > 0)
		compile_raw_rule(c, &raw, blk->policy);
	c->by_ptr = 0;
	if (rc < 0)
		mp_diags_error(c->d, blk->label, 0, 0, "the declarations stored for '%s': %s",
		               blk->path, err);
}

static void compile_rules(cctx *c, int state)
{
	static const char *const request_fields[] = {"service", "namespace", "labels",  "external",
	                                             "from",    "methods",   "paths",   "ports",
	                                             "headers", "when",      "message", NULL};
	static const char *const residency_fields[] = {"data", "stay_in", "message", NULL};
	static const char *const mtls_fields[] = {"message", NULL};
	static const char *const routes_fields[] = {"from", "message", NULL};
	const char *const *types = rule_types;
	lua_State *L = c->L;
	mp_bundle *b = c->b;
	rawfield(L, state, "rules");
	int list = lua_gettop(L);
	lua_Unsigned n = lua_rawlen(L, list);
	for (lua_Unsigned i = 1; i <= n; i++) {
		lua_rawgeti(L, list, (lua_Integer)i);
		int decl = lua_gettop(L);
		if (rawfield(L, decl, "block") == LUA_TNUMBER) {
			compile_block(c, lua_tointeger(L, -1));
			lua_settop(L, list);
			continue;
		}
		lua_pop(L, 1);
		const char *type = rawstring(c, decl, "type");
		const char *name = rawstring(c, decl, "name");
		const char *loc = rawstring(c, decl, "loc");
		rawfield(L, decl, "policy");
		uint32_t policy = (uint32_t)lua_tointeger(L, -1) - 1;
		rawfield(L, decl, "when_index");
		int32_t when = (int32_t)lua_tointeger(L, -1);
		rawfield(L, decl, "spec");
		int spec = lua_gettop(L);
		int t = lookup_name(types, 5, type ? type : "");
		char what[300];
		rule_what(what, sizeof(what), type, name);
		if (policy >= b->npolicies || t < 0) {
			lua_settop(L, list);
			continue;
		}
		uint32_t first = seen_rule(c, policy, name);
		if (first != MP_NONE)
			pol_loc_error(c->d, loc,
			              "%s: policy '%s' already has a rule named '%s' (at %s)", what,
			              b->policies[policy].name, name, b->rules[first].loc);
		uint32_t idx = b->nrules;
		mp_rule *r = new_rule(c, (uint32_t)t, policy, name, loc);
		r->when = when;
		record_decl(c, "whens", b->when_ids, b->nwhens, when, "rule", decl, spec, 0, loc);
		int bad = 0;
		r->message = opt_message(c, spec, loc, what);
		switch (t) {
		case MP_RULE_ALLOW:
		case MP_RULE_DENY:
			bad |= check_fields(c, spec, request_fields, loc, what) < 0;
			bad |= read_destination(c, spec, r, idx, loc, what) < 0;
			bad |= read_from(c, spec, &r->from, loc, what) < 0;
			bad |= read_match(c, spec, r, loc, what) < 0;
			break;
		case MP_RULE_RESIDENCY: {
			const char **jur;
			uint32_t nj;
			bad |= check_fields(c, spec, residency_fields, loc, what) < 0;
			bad |= string_list(c, spec, "data", 1, &r->data, &r->ndata, loc, what) < 0;
			bad |= string_list(c, spec, "stay_in", 1, &jur, &nj, loc, what) < 0;
			bad = residency_ids(c, r, jur, nj, bad, loc, what);
			break;
		}
		case MP_RULE_REQUIRE_MTLS:
			bad |= check_fields(c, spec, mtls_fields, loc, what) < 0;
			break;
		case MP_RULE_DECLARED_ROUTES:
			bad |= check_fields(c, spec, routes_fields, loc, what) < 0;
			bad |= read_from(c, spec, &r->from, loc, what) < 0;
			break;
		}
		if (bad || !b->policies[policy].enabled)
			drop_rule(c);
		lua_settop(L, list);
	}
	lua_settop(L, list - 1);
}

/* Roles and bindings: every allow entry of a role, once per binding, becomes an allow rule with
 * the binding's source. */
static void compile_roles(cctx *c, int state)
{
	static const char *const entry_fields[] = {"service", "namespace", "labels", "external",
	                                           "methods", "paths",     "ports",  "headers",
	                                           "when",    "message",   NULL};
	static const char *const bind_fields[] = {"principals", "namespaces",    "services",
	                                          "labels",     "authenticated", NULL};
	lua_State *L = c->L;
	mp_bundle *b = c->b;
	rawfield(L, state, "roles");
	int roles = lua_gettop(L);
	rawfield(L, state, "binds");
	int binds = lua_gettop(L);
	lua_Unsigned nroles = lua_rawlen(L, roles), nbinds = lua_rawlen(L, binds);
	b->roles = alloc_or_raise(c, (nroles + 1) * sizeof(mp_role));
	for (lua_Unsigned i = 1; i <= nroles; i++) { /* duplicate role names */
		lua_rawgeti(L, roles, (lua_Integer)i);
		const char *name = rawstring(c, lua_gettop(L), "name");
		const char *loc = rawstring(c, lua_gettop(L), "loc");
		rawfield(L, lua_gettop(L), "policy");
		b->roles[b->nroles++] = (mp_role){name, loc, (uint32_t)lua_tointeger(L, -1) - 1, 0};
		lua_pop(L, 1);
		for (lua_Unsigned j = 1; j < i; j++) {
			lua_rawgeti(L, roles, (lua_Integer)j);
			const char *other = rawstring(c, lua_gettop(L), "name");
			if (!strcmp(other, name))
				pol_loc_error(c->d, loc, "duplicate role '%s' (first at %s)", name,
				              rawstring(c, lua_gettop(L), "loc"));
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	for (lua_Unsigned i = 1; i <= nbinds; i++) {
		lua_rawgeti(L, binds, (lua_Integer)i);
		int bind = lua_gettop(L);
		const char *role = rawstring(c, bind, "role");
		const char *bloc = rawstring(c, bind, "loc");
		rawfield(L, bind, "spec");
		int bspec = lua_gettop(L);
		char what[300];
		snprintf(what, sizeof(what), "bind '%s'", role);
		mp_source src = {0};
		int bad = check_fields(c, bspec, bind_fields, bloc, what) < 0;
		bad |= read_source(c, bspec, &src, bloc, what) < 0;
		if (!bad && !src.nprincipals && !src.nnamespaces && !src.nservices &&
		    !src.nlabels && !src.authenticated) {
			pol_loc_error(
			    c->d, bloc,
			    "%s: binds nobody (give principals, namespaces, services or labels)",
			    what);
			bad = 1;
		}
		int found = 0;
		for (lua_Unsigned k = 1; k <= nroles && !found; k++) {
			lua_rawgeti(L, roles, (lua_Integer)k);
			int rdecl = lua_gettop(L);
			const char *rname = rawstring(c, rdecl, "name");
			if (strcmp(rname, role)) {
				lua_pop(L, 1);
				continue;
			}
			found = 1;
			b->roles[k - 1].nbinds++;
			rawfield(L, rdecl, "policy");

			uint32_t policy = (uint32_t)lua_tointeger(L, -1) - 1;
			lua_pop(L, 1);
			char via[600];
			snprintf(via, sizeof(via), "role %s (bind at %s)", role, bloc);
			const char *via_s = pol_arena_str(b, via);
			/* a binding's keys are alternatives: each grants the role on its own */
			mp_source alts[5];
			int nalts = 0;
			if (src.nprincipals)
				alts[nalts++] = (mp_source){.principals = src.principals,
				                            .nprincipals = src.nprincipals};
			if (src.nnamespaces)
				alts[nalts++] = (mp_source){.namespaces = src.namespaces,
				                            .nnamespaces = src.nnamespaces};
			if (src.nservices)
				alts[nalts++] = (mp_source){.services = src.services,
				                            .nservices = src.nservices};
			if (src.nlabels)
				alts[nalts++] =
				    (mp_source){.labels = src.labels, .nlabels = src.nlabels};
			if (src.authenticated && !nalts)
				alts[nalts++] = (mp_source){.authenticated = 1};
			for (int a = 0; a < nalts; a++)
				alts[a].authenticated = src.authenticated;
			rawfield(L, rdecl, "entries");
			int entries = lua_gettop(L);
			lua_Unsigned ne = lua_rawlen(L, entries);
			for (lua_Unsigned e = 1; e <= ne && !bad; e++) {
				lua_rawgeti(L, entries, (lua_Integer)e);
				int ent = lua_gettop(L);
				const char *eloc = rawstring(c, ent, "loc");
				rawfield(L, ent, "when_index");
				int32_t when = (int32_t)lua_tointeger(L, -1);
				rawfield(L, ent, "spec");
				int espec = lua_gettop(L);
				char ewhat[300];
				snprintf(ewhat, sizeof(ewhat), "role '%s' entry %d", role, (int)e);
				int ebad = check_fields(c, espec, entry_fields, eloc, ewhat) < 0;
				if (!ebad)
					record_decl(c, "whens", b->when_ids, b->nwhens, when,
					            "entry", rdecl, espec, (lua_Integer)e, eloc);
				for (int a = 0; a < nalts && !ebad; a++) {
					uint32_t idx = b->nrules;
					mp_rule *r = new_rule(c, MP_RULE_ALLOW, policy,
					                      pol_arena_str(b, role), eloc);
					r->via = via_s;
					r->bind_loc = bloc;

					r->when = when;
					r->from = alts[a];
					r->message = opt_message(c, espec, eloc, ewhat);
					ebad |= read_destination(c, espec, r, idx, eloc, ewhat) < 0;
					ebad |= read_match(c, espec, r, eloc, ewhat) < 0;
					if (ebad || policy >= b->npolicies ||
					    !b->policies[policy].enabled)
						drop_rule(c);
				}
				lua_settop(L, entries);
			}
			lua_settop(L, rdecl - 1);
		}
		if (!found)
			pol_loc_error(c->d, bloc, "%s: no role named '%s' in the bundle", what,
			              role);
		lua_settop(L, binds);
	}
	lua_settop(L, roles - 1);
}

static void compile_checks(cctx *c, int state)
{
	static const char *const fields[] = {"run", "severity", "description", NULL};
	lua_State *L = c->L;
	mp_bundle *b = c->b;
	rawfield(L, state, "checks");
	int list = lua_gettop(L);
	lua_Unsigned n = lua_rawlen(L, list);
	b->checks = alloc_or_raise(c, (n + 1) * sizeof(mp_check));
	for (lua_Unsigned i = 1; i <= n; i++) {
		lua_rawgeti(L, list, (lua_Integer)i);
		int decl = lua_gettop(L);
		mp_check *k = &b->checks[b->nchecks];
		k->name = rawstring(c, decl, "name");
		k->loc = rawstring(c, decl, "loc");
		rawfield(L, decl, "policy");
		k->policy = (uint32_t)lua_tointeger(L, -1) - 1;
		rawfield(L, decl, "run_index");
		k->run = (int32_t)lua_tointeger(L, -1);
		rawfield(L, decl, "spec");
		int spec = lua_gettop(L);
		char what[300];
		snprintf(what, sizeof(what), "check '%s'", k->name);
		int bad = check_fields(c, spec, fields, k->loc, what) < 0;
		for (uint32_t j = 0; j < b->nchecks && k->name; j++)
			if (b->checks[j].policy == k->policy && b->checks[j].name &&
			    !strcmp(b->checks[j].name, k->name)) {
				pol_loc_error(
				    c->d, k->loc,
				    "%s: policy '%s' already has a check named '%s' (at %s)", what,
				    k->policy < b->npolicies ? b->policies[k->policy].name : "?",
				    k->name, b->checks[j].loc);
				bad = 1;
			}
		if (!bad)
			record_decl(c, "runs", b->run_ids, b->nruns, k->run, "check", decl, spec, 0,
			            k->loc);
		if (!k->run) {
			pol_loc_error(c->d, k->loc,
			              "%s: needs 'run = function(mesh, report) ... end'", what);
			bad = 1;
		}
		k->description = spec_string(c, spec, "description", k->loc, what);
		int si = spec_enum(c, spec, "severity", severity_names, -2, k->loc, what);
		bad |= si == -1;
		if (k->policy < b->npolicies) {
			k->severity = si >= 0 ? (uint32_t)si : b->policies[k->policy].severity;
			if (!bad && b->policies[k->policy].enabled)
				b->nchecks++;
		}
		lua_settop(L, list);
	}
	lua_settop(L, list - 1);
}

/* The DSL's own errors (a rule before `policy`, a name that is not a string, ...). */
static void dsl_errors(cctx *c, int state)
{
	lua_State *L = c->L;
	rawfield(L, state, "errors");
	int list = lua_gettop(L);
	for (lua_Unsigned i = 1; i <= lua_rawlen(L, list); i++) {
		lua_rawgeti(L, list, (lua_Integer)i);
		const char *loc = rawstring(c, lua_gettop(L), "loc");
		const char *msg = rawstring(c, lua_gettop(L), "msg");
		pol_loc_error(c->d, loc, "%s", msg ? msg : "?");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static uint32_t count_rules(cctx *c, lua_State *L, int state)
{
	uint32_t n = 0;
	for (uint32_t k = 0; c->blocks && k < c->blocks->n; k++)
		n += c->blocks->v[k].nrules;
	rawfield(L, state, "rules");
	n += (uint32_t)lua_rawlen(L, -1);
	lua_pop(L, 1);
	rawfield(L, state, "roles");
	int roles = lua_gettop(L);
	rawfield(L, state, "binds");
	lua_Unsigned nb = lua_rawlen(L, -1);
	lua_Unsigned entries = 0;
	for (lua_Unsigned i = 1; i <= lua_rawlen(L, roles); i++) {
		lua_rawgeti(L, roles, (lua_Integer)i);
		rawfield(L, lua_gettop(L), "entries");
		entries += lua_rawlen(L, -1);
		lua_pop(L, 2);
	}
	lua_pop(L, 2);
	return n + (uint32_t)(entries * nb * 5); /* a binding has at most 5 alternatives */
}

/* Builds the destination indexes from the per-rule destination lists. */
/* Orders the rules as the index visits them (service 0's candidates first, then service 1's,
 * ...), so that one decision reads a few adjacent rules instead of rules scattered over the
 * whole array: at 50,000 rules that keeps the cost of a decision from growing with the bundle.
 * The index rows keep their order; only the numbers change. */
static void cluster_rules(cctx *c)
{
	mp_bundle *b = c->b;
	mp_model_view v = mp_model_get_view(b->model);
	uint32_t *to = tmp_or_raise(c, &c->tmp, (b->nrules + 1) * sizeof(uint32_t));
	uint32_t n = 0;
	memset(to, 0xff, (b->nrules + 1) * sizeof(uint32_t));
	uint32_t nsvc = b->svc_off[v.nservices], next = b->ext_off[v.nexternals];
	for (int pass = 0; pass < 3; pass++) {
		const uint32_t *list = pass == 0   ? b->svc_rules
		                       : pass == 1 ? b->ext_rules
		                                   : b->global_rules;
		uint32_t len = pass == 0 ? nsvc : pass == 1 ? next : b->nglobal;
		for (uint32_t i = 0; i < len; i++)
			if (to[list[i]] == MP_NONE)
				to[list[i]] = n++;
	}
	for (uint32_t r = 0; r < b->nrules; r++) /* rules no destination reaches, kept for audits */
		if (to[r] == MP_NONE)
			to[r] = n++;
	for (uint32_t i = 0; i < nsvc; i++)
		b->svc_rules[i] = to[b->svc_rules[i]];
	for (uint32_t i = 0; i < next; i++)
		b->ext_rules[i] = to[b->ext_rules[i]];
	for (uint32_t i = 0; i < b->nglobal; i++)
		b->global_rules[i] = to[b->global_rules[i]];
	/* the rules moved in place, cycle by cycle (a copy would touch 180 bytes a rule more) */
	for (uint32_t i = 0; i < b->nrules; i++)
		while (to[i] != i) {
			uint32_t j = to[i];
			mp_rule t = b->rules[j];
			b->rules[j] = b->rules[i];
			b->rules[i] = t;
			to[i] = to[j];
			to[j] = j;
		}
}

static void build_index(cctx *c)
{

	mp_bundle *b = c->b;
	mp_model_view v = mp_model_get_view(b->model);
	b->svc_off = alloc_or_raise(c, (v.nservices + 2) * sizeof(uint32_t));
	b->ext_off = alloc_or_raise(c, (v.nexternals + 2) * sizeof(uint32_t));
	uint64_t nsvc = 0, next = 0;
	for (uint32_t r = 0; r < b->nrules; r++) {
		uint32_t t = b->rules[r].type;
		if (t == MP_RULE_ALLOW || t == MP_RULE_DENY) {
			const mp_id *ss = c->svcs.v + c->svc_at[r], *es = c->exts.v + c->ext_at[r];
			for (uint32_t k = 0; k < c->nsvc_at[r]; k++)
				b->svc_off[ss[k] + 1]++;
			for (uint32_t k = 0; k < c->next_at[r]; k++)
				b->ext_off[es[k] + 1]++;
			nsvc += c->nsvc_at[r];
			next += c->next_at[r];
		} else {
			b->nglobal++;
		}
	}
	for (uint32_t s = 0; s < v.nservices; s++)
		b->svc_off[s + 1] += b->svc_off[s];
	for (uint32_t e = 0; e < v.nexternals; e++)
		b->ext_off[e + 1] += b->ext_off[e];
	b->svc_rules = alloc_or_raise(c, (nsvc + 1) * sizeof(uint32_t));
	b->ext_rules = alloc_or_raise(c, (next + 1) * sizeof(uint32_t));
	b->global_rules = alloc_or_raise(c, (b->nglobal + 1) * sizeof(uint32_t));
	uint32_t *fs = tmp_or_raise(c, &c->tmp, (v.nservices + 1) * sizeof(uint32_t));
	uint32_t *fe = tmp_or_raise(c, &c->tmp, (v.nexternals + 1) * sizeof(uint32_t));
	memcpy(fs, b->svc_off, v.nservices * sizeof(uint32_t));
	memcpy(fe, b->ext_off, v.nexternals * sizeof(uint32_t));
	uint32_t g = 0;
	for (uint32_t r = 0; r < b->nrules; r++) {
		uint32_t t = b->rules[r].type;
		if (t == MP_RULE_ALLOW || t == MP_RULE_DENY) {
			const mp_id *ss = c->svcs.v + c->svc_at[r], *es = c->exts.v + c->ext_at[r];
			for (uint32_t k = 0; k < c->nsvc_at[r]; k++)
				b->svc_rules[fs[ss[k]]++] = r;
			for (uint32_t k = 0; k < c->next_at[r]; k++)
				b->ext_rules[fe[es[k]]++] = r;
		} else {
			b->global_rules[g++] = r;
		}
	}
	cluster_rules(c);
}

/* Names and messages end up in JSON (decisions, audits, trails), which needs UTF-8: a bundle
 * whose texts are not is refused here, where the error can name the declaration. */
static void check_texts(cctx *c)
{
	const mp_bundle *b = c->b;
	for (uint32_t i = 0; i < b->npolicies; i++) {
		const mp_policy *p = &b->policies[i];
		const char *t[] = {p->name, p->version, p->kind, p->description};
		for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++)
			if (t[k] && !mp_utf8_valid(t[k], strlen(t[k])))
				pol_loc_error(
				    c->d, p->loc,
				    "policy: the name, version, kind or description is not "
				    "valid UTF-8");
		for (uint32_t k = 0; k < p->ncontrols; k++)
			if (!mp_utf8_valid(p->controls[k], strlen(p->controls[k])))
				pol_loc_error(c->d, p->loc, "policy: a control is not valid UTF-8");
	}
	for (uint32_t i = 0; i < b->nrules; i++) {
		const mp_rule *r = &b->rules[i];
		if ((r->name && !mp_utf8_valid(r->name, strlen(r->name))) ||
		    (r->message && !mp_utf8_valid(r->message, strlen(r->message))))
			pol_loc_error(c->d, r->loc, "rule: the name or message is not valid UTF-8");
	}
	for (uint32_t i = 0; i < b->nchecks; i++) {
		const mp_check *k = &b->checks[i];
		if ((k->name && !mp_utf8_valid(k->name, strlen(k->name))) ||
		    (k->description && !mp_utf8_valid(k->description, strlen(k->description))))
			pol_loc_error(c->d, k->loc,
			              "check: the name or description is not valid UTF-8");
	}
}

static int compile_state(lua_State *L)
{
	cctx *c = lua_touserdata(L, lua_upvalueindex(1));
	int state = 1;
	uint32_t errors = c->d->errors;
	c->L = L;
	c->state = state;
	lua_newtable(L);
	c->keys = lua_gettop(L);
	rawfield(L, state, "whens");
	c->b->nwhens = (uint32_t)lua_rawlen(L, -1);
	rawfield(L, state, "runs");
	c->b->nruns = (uint32_t)lua_rawlen(L, -1);
	lua_pop(L, 2);
	c->b->when_ids = alloc_or_raise(c, (c->b->nwhens + 1) * sizeof(mp_decl_id));
	c->b->run_ids = alloc_or_raise(c, (c->b->nruns + 1) * sizeof(mp_decl_id));
	c->rules_cap = count_rules(c, L, state);
	/* not zeroed: new_rule writes each rule whole (15 MB at 84,000 rules) */
	c->b->rules = mp_arena_alloc_raw(c->b->arena, (c->rules_cap + 1) * sizeof(mp_rule));
	if (!c->b->rules)
		luaL_error(L, "out of memory compiling the bundle");
	size_t n = ((size_t)c->rules_cap + 1) * sizeof(uint32_t);
	c->svc_at = tmp_or_raise(c, &c->tmp, n);
	c->nsvc_at = tmp_or_raise(c, &c->tmp, n);
	c->ext_at = tmp_or_raise(c, &c->tmp, n);
	c->next_at = tmp_or_raise(c, &c->tmp, n);
	dsl_errors(c, state);
	compile_policies(c, state);
	compile_rules(c, state);
	compile_roles(c, state);
	compile_checks(c, state);
	check_texts(c);
	build_index(c);
	if (c->d->errors == errors) /* a bundle with errors is never decided with */
		c->b->dindex = mp_dindex_build(c->b, raise_alloc, c, 0);

	return 0;
}

int pol_compile(mp_sandbox *sb, mp_bundle *b, const char **enabled, uint32_t nenabled,
                const struct pol_decls_block_list *blocks, mp_diags *d, char *err, size_t errlen)
{
	lua_State *L = mp_sandbox_lua(sb);
	cctx c = {.b = b, .d = d, .enabled = enabled, .nenabled = nenabled, .blocks = blocks};
	assert(lua_istable(L, -1));
	lua_pushlightuserdata(L, &c);
	lua_pushcclosure(L, compile_state, 1);
	lua_insert(L, -2);
	c.tmp.chunk = c.rule_tmp.chunk = 65536;
	int rc = mp_sandbox_pcall(sb, 1, 0, err, errlen) < 0 ? -1 : 0;
	mp_arena_free(&c.tmp);
	mp_arena_free(&c.rule_tmp);
	mp_free(c.svcs.v);
	mp_free(c.exts.v);
	return rc;
}
