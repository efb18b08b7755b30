/* policy.c: loading a policy bundle: manifest, files and hash, running the policy files in the
 * sandbox, and compiling what they declare (stdlib/meshpol/dsl.lua) into C rules and indexes.
 * Language: docs/policy-language.md. Design: docs/architecture.md ("Policies"). */
#include "policy.h"
#include "alloc.h"
#include "compile.h"
#include "decide.h"
#include "decl.h"
#include "files.h"
#include "sandbox.h"

#include <assert.h>
#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUNDLE_FILE_MAX (16u << 20)
#define DSL_KEY         "meshpol.dsl.private" /* registry: the host's own instance of the DSL module */

/* --- the arena: everything a bundle points at, freed at once --- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct mp_arena {
	struct chunk *head;
};

static void *arena_alloc(mp_bundle *b, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct chunk *c = b->arena->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		c = mp_malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = b->arena->head;
		c->used = 0;
		c->cap = cap;
		b->arena->head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static char *arena_strn(mp_bundle *b, const char *s, size_t len)
{
	char *p = arena_alloc(b, len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static char *arena_str(mp_bundle *b, const char *s)
{
	return arena_strn(b, s, strlen(s));
}

void mp_bundle_free(mp_bundle *b)
{
	if (!b)
		return;
	if (b->arena) {
		for (struct chunk *c = b->arena->head, *next; c; c = next) {
			next = c->next;
			mp_free(c);
		}
		mp_free(b->arena);
	}
	mp_free(b);
}

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

const char *mp_stdlib_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("MESHPOL_STDLIB");
	if (env && *env)
		return env;
	if (!dir[0]) {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		struct stat st;
		snprintf(dir, sizeof(dir), "stdlib");
		if (n > 0) {
			exe[n] = '\0';
			char *slash = strrchr(exe, '/');
			if (slash) {
				*slash = '\0';
				char cand[PATH_MAX + 16];
				snprintf(cand, sizeof(cand), "%s/../stdlib", exe);
				if (strlen(cand) < sizeof(dir) && stat(cand, &st) == 0 &&
				    S_ISDIR(st.st_mode))
					memcpy(dir, cand, strlen(cand) + 1);
			}
		}
	}
	return dir;
}

/* --- diagnostics from "file:line" locations and Lua error messages --- */

static void loc_error(mp_diags *d, const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void loc_error(mp_diags *d, const char *loc, const char *fmt, ...)
{
	char msg[1024], file[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *colon = loc ? strrchr(loc, ':') : NULL;
	unsigned line = 0;
	if (colon && sscanf(colon + 1, "%u", &line) == 1 && (size_t)(colon - loc) < sizeof(file)) {
		memcpy(file, loc, (size_t)(colon - loc));
		file[colon - loc] = '\0';
		mp_diags_error(d, file, line, 0, "%s", msg);
	} else {
		mp_diags_error(d, loc, 0, 0, "%s", msg);
	}
}

/* A Lua error "file:line: message" becomes a diagnostic at file:line. */
static void lua_error_diag(mp_diags *d, const char *msg)
{
	const char *p = msg;
	while ((p = strchr(p, ':'))) {
		const char *q = p + 1;
		while (isdigit((unsigned char)*q))
			q++;
		if (q > p + 1 && *q == ':') {
			char loc[PATH_MAX + 32];
			snprintf(loc, sizeof(loc), "%.*s", (int)(q - msg), msg);
			loc_error(d, loc, "%s", q[1] == ' ' ? q + 2 : q + 1);
			return;
		}
		p++;
	}
	mp_diags_error(d, NULL, 0, 0, "%s", msg);
}

/* --- the manifest --- */

/* The fields of bundle.yaml (docs/policy-language.md, "bundle.yaml"). */
static const char *const manifest_fields[] = {"name",     "revision", "default", "model",
                                              "policies", "mask",     NULL};

static int load_manifest(mp_bundle *b, const char *path, const char **enabled_out[],
                         uint32_t *nenabled, mp_diags *d)
{
	yaml_document_t doc;
	int rc = mp_yaml_load_file(path, 1 << 20, &doc, d);
	uint32_t before = d->errors;
	if (rc <= 0) {
		if (rc == 0)
			mp_diags_error(d, path, 0, 0, "the manifest is empty");
		return -1;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	b->default_decision = MP_DEFAULT_DENY;
	if (!root || root->type != YAML_MAPPING_NODE) {
		mp_diags_error(d, path, 1, 1,
		               "the manifest must be a mapping (name, revision, ...)");
		goto out;
	}
	int seen_name = 0, seen_rev = 0;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);
		unsigned line = (unsigned)v->start_mark.line + 1,
		         col = (unsigned)v->start_mark.column + 1;
		const char *key =
		    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		const char *val =
		    v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
		int list = !strcmp(key, "policies") || !strcmp(key, "mask");
		if (!list && !val) {
			mp_diags_error(d, path, line, col, "'%s' must be a string", key);
			continue;
		}
		if (!strcmp(key, "name")) {
			b->name = arena_str(b, val);
			seen_name = 1;
		} else if (!strcmp(key, "revision")) {
			b->revision = arena_str(b, val);
			seen_rev = 1;
		} else if (!strcmp(key, "model")) {
			char full[PATH_MAX];
			snprintf(full, sizeof(full), "%s/%s", b->dir, val);
			b->model_hint = arena_str(b, val[0] == '/' ? val : full);
		} else if (!strcmp(key, "default")) {
			if (!strcmp(val, "allow"))
				b->default_decision = MP_DEFAULT_ALLOW;
			else if (strcmp(val, "deny"))
				mp_diags_error(d, path, line, col,
				               "'default' must be deny or allow, not '%s'", val);
		} else if (list) {
			if (v->type != YAML_SEQUENCE_NODE) {
				mp_diags_error(d, path, line, col, "'%s' must be a list of strings",
				               key);
				continue;
			}
			uint32_t n =
			    (uint32_t)(v->data.sequence.items.top - v->data.sequence.items.start);
			const char **arr = arena_alloc(b, (n + 1) * sizeof(char *));
			uint32_t k2 = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     arr && it < v->data.sequence.items.top; it++) {
				yaml_node_t *item = yaml_document_get_node(&doc, *it);
				if (item->type != YAML_SCALAR_NODE) {
					mp_diags_error(d, path, (unsigned)item->start_mark.line + 1,
					               (unsigned)item->start_mark.column + 1,
					               "items of '%s' must be strings", key);
					continue;
				}
				const char *text = (const char *)item->data.scalar.value;
				char err[300];
				/* a misspelt mask would log what it was meant to hide */
				if (!strcmp(key, "mask") &&
				    mp_request_field_check(text, err, sizeof(err)) < 0) {
					mp_diags_error(d, path, (unsigned)item->start_mark.line + 1,
					               (unsigned)item->start_mark.column + 1,
					               "'mask': %s", err);
					continue;
				}
				arr[k2++] = arena_str(b, text);
			}
			if (!strcmp(key, "mask")) {
				b->mask = arr;
				b->nmask = k2;
			} else {
				*enabled_out = arr;
				*nenabled = k2;
			}
		} else {
			char hint[200];
			mp_diags_error(d, path, (unsigned)k->start_mark.line + 1,
			               (unsigned)k->start_mark.column + 1,
			               "unknown field '%s' (%s)", key,
			               mp_diag_hint(key, manifest_fields, hint, sizeof(hint)));
		}
	}
	if (!seen_name)
		mp_diags_error(d, path, 1, 1, "missing required field 'name'");
	if (!seen_rev)
		mp_diags_error(d, path, 1, 1, "missing required field 'revision'");
out:
	yaml_document_delete(&doc);
	return d->errors > before ? -1 : 0;
}

int mp_bundle_model_hint(const char *dir, char *buf, size_t len)
{
	char path[PATH_MAX];
	yaml_document_t doc;
	mp_diags d = {0};
	int rc = -1;
	snprintf(path, sizeof(path), "%s/bundle.yaml", dir);
	if (mp_yaml_load_file(path, 1 << 20, &doc, &d) == 1) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		for (yaml_node_pair_t *p = root && root->type == YAML_MAPPING_NODE
		                               ? root->data.mapping.pairs.start
		                               : NULL;
		     p && p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(&doc, p->key);
			yaml_node_t *v = yaml_document_get_node(&doc, p->value);
			if (k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k->data.scalar.value, "model")) {
				const char *val = (const char *)v->data.scalar.value;
				if (val[0] == '/')
					snprintf(buf, len, "%s", val);
				else
					snprintf(buf, len, "%s/%s", dir, val);
				rc = 0;
			}
		}
		yaml_document_delete(&doc);
	}
	mp_diags_free(&d);
	return rc;
}

/* --- files and hash --- */

static int read_files(mp_bundle *b, const char *dir, mp_diags *d)
{
	static const char *const any[] = {"", NULL};
	mp_pathlist all = {0};
	int rc = -1;
	if (mp_files_walk(dir, any, &all, d) < 0)
		goto out;
	b->files = arena_alloc(b, (all.n + 1) * sizeof(*b->files));
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	if (!b->files || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(sha);
		mp_diags_error(d, dir, 0, 0, "out of memory");
		goto out;
	}
	size_t dlen = strlen(dir);
	/* policy files first, in path order; then the rest (tests, manifest, docs) */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < all.n; i++) {
			const char *p = all.v[i];
			int is_lua = mp_has_suffix(p, ".lua"),
			    is_test = mp_has_suffix(p, "_test.lua");
			if ((pass == 0) != (is_lua && !is_test))
				continue;
			char *text;
			size_t len;
			if (mp_files_read(p, BUNDLE_FILE_MAX, &text, &len, d) < 0)
				continue;
			mp_bundle_file *f = &b->files[b->nfiles++];
			f->path = arena_str(b, p);
			f->rel = f->path + dlen + (p[dlen] == '/');
			f->text = arena_strn(b, text, len);
			f->len = len;
			f->is_test = (uint32_t)is_test;
			mp_free(text);
			if (!f->path || !f->text) {
				mp_diags_error(d, p, 0, 0, "out of memory");
				continue;
			}
		}
		if (pass == 0)
			b->npolicy_files = b->nfiles;
	}
	/* the hash covers every file in path order: "path\0length\0content" */
	uint32_t *order = mp_malloc((b->nfiles + 1) * sizeof(*order));
	for (uint32_t i = 0; order && i < b->nfiles; i++)
		order[i] = i;
	for (uint32_t i = 1; order && i < b->nfiles; i++) /* insertion sort: bundles are small */
		for (uint32_t j = i;
		     j > 0 && strcmp(b->files[order[j - 1]].rel, b->files[order[j]].rel) > 0; j--) {
			uint32_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (uint32_t i = 0; order && i < b->nfiles; i++) {
		const mp_bundle_file *f = &b->files[order[i]];
		char lenbuf[32];
		int n = snprintf(lenbuf, sizeof(lenbuf), "%zu", f->len);
		EVP_DigestUpdate(sha, f->rel, strlen(f->rel) + 1);
		EVP_DigestUpdate(sha, lenbuf, (size_t)n + 1);
		EVP_DigestUpdate(sha, f->text, f->len);
	}
	unsigned char digest[32];
	unsigned int dn;
	EVP_DigestFinal_ex(sha, digest, &dn);
	EVP_MD_CTX_free(sha);
	for (int i = 0; i < 32; i++)
		snprintf(b->sha256 + 2 * i, 3, "%02x", digest[i]);
	rc = order ? 0 : -1;
	mp_free(order);
out:
	mp_pathlist_free(&all);
	return rc;
}

/* --- the Lua side: running policy files --- */

/* where(level): "file:line" of the function `level` frames up (1 = the caller of where). */
static int host_where(lua_State *L)
{
	lua_Debug ar;
	int level = (int)luaL_optinteger(L, 1, 1);
	if (!lua_getstack(L, level, &ar) || !lua_getinfo(L, "Sl", &ar)) {
		lua_pushliteral(L, "?:0");
		return 1;
	}
	const char *src = ar.source[0] == '@' || ar.source[0] == '=' ? ar.source + 1 : ar.short_src;
	lua_pushfstring(L, "%s:%d", src, ar.currentline);
	return 1;
}

void mp_bundle_prepare_state(mp_sandbox *sb)
{
	lua_State *L = mp_sandbox_lua(sb);
	lua_getfield(L, LUA_REGISTRYINDEX, MP_SANDBOX_LOADED_KEY);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, host_where);
	lua_setfield(L, -2, "where");
	mp_sandbox_push_readonly(L, -1, "meshpol.host");
	lua_setfield(L, -3, "meshpol.host");
	lua_pop(L, 2);
}

/* Loads the host's private instance of the DSL (policies that require it get their own) and
 * leaves it on the stack. */
static int push_dsl(mp_sandbox *sb, mp_diags *d)
{
	lua_State *L = mp_sandbox_lua(sb);
	char path[PATH_MAX], err[1024];
	char *text;
	size_t len;
	lua_getfield(L, LUA_REGISTRYINDEX, DSL_KEY);
	if (!lua_isnil(L, -1))
		return 0;
	lua_pop(L, 1);
	snprintf(path, sizeof(path), "%s/meshpol/dsl.lua", mp_stdlib_dir());
	if (mp_files_read(path, BUNDLE_FILE_MAX, &text, &len, d) < 0) {
		mp_diags_error(
		    d, NULL, 0, 0,
		    "the policy DSL is missing (set MESHPOL_STDLIB to meshpol's stdlib/)");
		return -1;
	}
	int rc = mp_sandbox_run(sb, text, len, path, 1, err, sizeof(err));
	mp_free(text);
	if (rc < 0 || !lua_istable(L, -1)) {
		mp_diags_error(d, path, 0, 0, "cannot load the policy DSL: %s",
		               rc < 0 ? err : "no table");
		if (rc >= 0)
			lua_pop(L, 1);
		return -1;
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, DSL_KEY);
	return 0;
}

int mp_bundle_run_files(mp_sandbox *sb, const mp_bundle *b, uint64_t *units, mp_diags *d)
{
	lua_State *L = mp_sandbox_lua(sb);
	char err[2048];
	int failed = 0;
	if (push_dsl(sb, d) < 0)
		return -1;
	int dsl = lua_gettop(L);
	lua_getfield(L, dsl, "reset");
	if (mp_sandbox_pcall(sb, 0, 0, err, sizeof(err)) < 0) {
		lua_error_diag(d, err);
		lua_pop(L, 1);
		return -1;
	}
	for (uint32_t i = 0; i < b->npolicy_files; i++) {
		const mp_bundle_file *f = &b->files[i];
		if (mp_sandbox_load(sb, f->text, f->len, f->path, err, sizeof(err)) < 0) {
			lua_error_diag(d, err);
			failed = 1;
			continue;
		}
		int fn = lua_gettop(L);
		mp_sandbox_push_env(L);
		lua_getfield(L, dsl, "install");
		lua_pushvalue(L, fn + 1);
		lua_pushstring(L, f->path);
		if (mp_sandbox_pcall(sb, 2, 0, err, sizeof(err)) < 0) {
			lua_error_diag(d, err);
			lua_settop(L, fn - 1);
			failed = 1;
			continue;
		}
		lua_setupvalue(L, fn, 1); /* the file's _ENV is its own environment */
		uint64_t installed = mp_sandbox_instructions_used(sb);
		if (mp_sandbox_pcall(sb, 0, 0, err, sizeof(err)) < 0) {
			lua_error_diag(d, err);
			failed = 1;
		}
		if (units)
			units[i] = installed + mp_sandbox_instructions_used(sb);
		lua_settop(L, dsl);
	}
	lua_getfield(L, dsl, "state");
	lua_remove(L, dsl);
	return failed ? -1 : 0;
}

/* --- compiling declarations (runs protected: raw reads only, arena allocations only) --- */

typedef struct {
	mp_bundle *b;
	mp_diags *d;
	lua_State *L;
	const char **enabled;
	uint32_t nenabled;
	uint32_t rules_cap;
	uint32_t *names, names_cap; /* seen_rule's hash set of rule indexes */
	int state;                  /* stack index of the DSL's state table */
	int keys;                   /* stack index: declaration key -> true, to refuse duplicates */

	/* per rule under construction: its destinations */
	mp_id **dst_svcs;
	uint32_t *ndst_svcs;
	mp_id **dst_exts;
	uint32_t *ndst_exts;
} cctx;

static void *alloc_or_raise(cctx *c, size_t n)
{
	void *p = arena_alloc(c->b, n);
	if (!p)
		luaL_error(c->L, "out of memory compiling the bundle");
	return p;
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
		s = arena_str(c->b, lua_tostring(c->L, -1));
	lua_pop(c->L, 1);
	return s;
}

/* --- declaration identity (decl.h): what binds a `when` or `run` to its rule in every state --- */

/* Pushes the key of a declaration: what it is and its names, never its position in the
 * declaration order (which, for rules declared in a loop over pairs(), differs between states).
 * kind is "rule", "entry" (of a role) or "check"; decl is the DSL's record at that index; entry
 * is the entry's position in its role (for "entry"). */
static void push_decl_key(lua_State *L, int state, const char *kind, int decl, lua_Integer entry)
{
	int top = lua_gettop(L);
	lua_pushstring(L, "name");
	lua_rawget(L, decl);
	const char *name = lua_tostring(L, -1);
	if (!strcmp(kind, "entry")) {
		lua_pushfstring(L, "entry %I of role \"%s\"", entry, name ? name : "?");
	} else {
		const char *pname = NULL;
		lua_pushstring(L, "policies");
		lua_rawget(L, state);
		lua_pushstring(L, "policy");
		lua_rawget(L, decl);
		if (lua_istable(L, -2) && lua_isinteger(L, -1) &&
		    lua_rawgeti(L, -2, lua_tointeger(L, -1)) == LUA_TTABLE) {
			lua_pushstring(L, "name");
			lua_rawget(L, -2);
			pname = lua_tostring(L, -1);
		}
		lua_pushfstring(L, "%s \"%s\" of policy \"%s\"", kind, name ? name : "?",
		                pname ? pname : "?");
	}
	lua_replace(L, top + 1);
	lua_settop(L, top + 1);
}

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
	push_decl_key(L, c->state, kind, decl, entry);
	const char *key = lua_tostring(L, -1);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, c->keys) != LUA_TNIL) {
		loc_error(c->d, loc, "%s is declared twice", key);
		lua_pop(L, 2);
		return;
	}
	lua_pop(L, 1);
	lua_pushvalue(L, -1);
	lua_pushboolean(L, 1);
	lua_rawset(L, c->keys);
	ids[i].key = arena_str(c->b, key);
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
		loc_error(c->d, loc, "%s: fields must be named (%s)", what,
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
		loc_error(c->d, loc, "%s: unknown field '%s' (%s)", what, unknown[i],
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
		(*out)[(*n)++] = arena_str(c->b, lua_tostring(L, -1));
	} else if (type == LUA_TSTRING) {
		loc_error(
		    c->d, loc,
		    "%s: '%s' must be a list of strings, not a string (write %s = { \"%s\" })",
		    what, name, name, lua_tostring(L, -1));
		goto fail;
	} else if (type == LUA_TTABLE) {
		lua_Unsigned len = lua_rawlen(L, -1);
		if (!is_list(L, len)) {
			loc_error(c->d, loc,
			          "%s: '%s' must be a list { ... }, not a table with other keys",
			          what, name);
			goto fail;
		}
		*out = alloc_or_raise(c, (len + 1) * sizeof(char *));
		for (lua_Unsigned i = 1; i <= len; i++) {
			if (lua_rawgeti(L, -1, (lua_Integer)i) != LUA_TSTRING) {
				loc_error(c->d, loc, "%s: item %d of '%s' must be a string", what,
				          (int)i, name);
				lua_pop(L, 1);
				goto fail;
			}
			(*out)[(*n)++] = arena_str(c->b, lua_tostring(L, -1));
			lua_pop(L, 1);
		}
	} else if (type != LUA_TNIL) {
		loc_error(c->d, loc, "%s: '%s' must be %s, not a %s", what, name,
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
		loc_error(c->d, loc, "%s: '%s' must be a table of strings", what, name);
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
			loc_error(c->d, loc, "%s: '%s' must map strings to strings", what, name);
			bad = 1;
		} else {
			(*out)[*n].key = arena_str(c->b, lua_tostring(L, -2));
			(*out)[*n].value = arena_str(c->b, lua_tostring(L, -1));
			(*n)++;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return bad ? -1 : 0;
}

static int patterns(cctx *c, int t, const char *name, int paths, mp_pattern **out, uint32_t *n,
                    const char *loc, const char *what)
{
	const char **items;
	char err[256];
	if (string_list(c, t, name, 0, &items, n, loc, what) < 0)
		return -1;
	*out = *n ? alloc_or_raise(c, *n * sizeof(mp_pattern)) : NULL;
	for (uint32_t i = 0; i < *n; i++) {
		mp_pattern *p = &(*out)[i];
		if (mp_pattern_compile(p, items[i], paths, err, sizeof(err)) < 0) {
			loc_error(c->d, loc, "%s: %s", what, err);
			return -1;
		}
		/* principals: an exact one compares as a model string id at decision time */
		if (!paths && p->kind == MP_PAT_EXACT)
			p->id = mp_model_find_str(c->b->model, p->text, p->len);
	}
	return 0;
}

/* Resolves service references; a name that is no service may be an external (externals). */
static int resolve_services(cctx *c, const char **refs, uint32_t n, mp_id **svcs, uint32_t *nsvcs,
                            mp_id **exts, uint32_t *nexts, const char *loc, const char *what,
                            const char *field)
{
	const mp_model *m = c->b->model;
	int bad = 0;
	*svcs = alloc_or_raise(c, (n + 1) * sizeof(mp_id));
	if (exts)
		*exts = alloc_or_raise(c, (n + 1) * sizeof(mp_id));
	for (uint32_t i = 0; i < n; i++) {
		mp_id id = mp_model_find_service(m, refs[i]);
		if (id != MP_NONE) {
			(*svcs)[(*nsvcs)++] = id;
			continue;
		}
		mp_id e = exts ? mp_model_find_external(m, refs[i]) : MP_NONE;
		if (e != MP_NONE) {
			(*exts)[(*nexts)++] = e;
			continue;
		}
		const mp_id *ids;
		if (!strchr(refs[i], '/') && mp_model_services_named(m, refs[i], &ids) > 1)
			loc_error(c->d, loc,
			          "%s: '%s' names service '%s' in several namespaces; write "
			          "namespace/name",
			          what, field, refs[i]);
		else
			loc_error(c->d, loc,
			          "%s: '%s' names '%s', which is not a service%s of the model",
			          what, field, refs[i], exts ? " or external" : "");
		bad = 1;
	}
	return bad ? -1 : 0;
}

static int resolve_namespaces(cctx *c, const char **names, uint32_t n, mp_id **out, const char *loc,
                              const char *what, const char *field)
{
	int bad = 0;
	*out = alloc_or_raise(c, (n + 1) * sizeof(mp_id));
	for (uint32_t i = 0; i < n; i++) {
		(*out)[i] = mp_model_find_namespace(c->b->model, names[i]);
		if ((*out)[i] == MP_NONE) {
			loc_error(c->d, loc,
			          "%s: '%s' names namespace '%s', which the model does not have",
			          what, field, names[i]);
			bad = 1;
		}
	}
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
	else if (n &&
	         resolve_namespaces(c, names, n, &src->namespaces, loc, what, "namespaces") == 0)
		src->nnamespaces = n;
	else if (n)
		bad = 1;
	if (string_list(c, t, "services", 0, &names, &n, loc, what) < 0)
		bad = 1;
	else if (n)
		bad |= resolve_services(c, names, n, &src->services, &src->nservices, NULL, NULL,
		                        loc, what, "services") < 0;
	bad |= kv_table(c, t, "labels", &src->labels, &src->nlabels, loc, what) < 0;
	int type = rawfield(c->L, t, "authenticated");
	if (type == LUA_TBOOLEAN) {
		src->authenticated = (uint32_t)lua_toboolean(c->L, -1);
	} else if (type != LUA_TNIL) {
		loc_error(c->d, loc, "%s: 'authenticated' must be true or false, not a %s", what,
		          lua_typename(c->L, type));
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
		loc_error(c->d, loc,
		          "%s: 'from' must be a table (principals, namespaces, services, labels) "
		          "or \"*\"",
		          what);
		rc = -1;
	} else {
		int t = lua_gettop(L);
		char w[300];
		snprintf(w, sizeof(w), "%s: from", what);
		rc = check_fields(c, t, from_fields, loc, w) < 0
		         ? -1
		         : read_source(c, t, src, loc, what);
	}
	lua_pop(L, 1);
	return rc;
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
	for (uint32_t i = 0; i < n; i++) {
		uint32_t bit = mp_method_bit(items[i]);
		if (!bit) {
			loc_error(c->d, loc, "%s: unknown HTTP method '%s'", what, items[i]);
			bad = 1;
		}
		r->methods |= bit;
	}
	bad |= patterns(c, spec, "paths", 1, &r->paths, &r->npaths, loc, what) < 0;
	int type = rawfield(L, spec, "ports");
	if (type == LUA_TTABLE && !is_list(L, lua_rawlen(L, -1))) {
		loc_error(c->d, loc,
		          "%s: 'ports' must be a list { ... }, not a table with other keys", what);
		bad = 1;
	} else if (type == LUA_TTABLE) {
		lua_Unsigned len = lua_rawlen(L, -1);
		r->ports = alloc_or_raise(c, (len + 1) * sizeof(uint32_t));
		for (lua_Unsigned i = 1; i <= len; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i);
			lua_Integer p = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
			lua_pop(L, 1);
			if (p < 1 || p > 65535) {
				loc_error(c->d, loc, "%s: 'ports' must hold integers 1..65535",
				          what);
				bad = 1;
				break;
			}
			r->ports[r->nports++] = (uint32_t)p;
		}
	} else if (type != LUA_TNIL) {
		loc_error(c->d, loc, "%s: 'ports' must be a list of ports ({ 8080 }), not a %s",
		          what, lua_typename(L, type));
		bad = 1;
	}
	lua_pop(L, 1);
	mp_kv *hdrs;
	if (kv_table(c, spec, "headers", &hdrs, &n, loc, what) < 0) {
		bad = 1;
	} else if (n) {
		char err[256];
		r->headers = alloc_or_raise(c, n * sizeof(mp_header_match));
		for (uint32_t i = 0; i < n; i++) {
			char *name = arena_str(c->b, hdrs[i].key);
			for (char *p = name; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			r->headers[i].name = name;
			mp_pattern_compile(&r->headers[i].value, hdrs[i].value, 0, err,
			                   sizeof(err));
		}
		r->nheaders = n;
	}
	type = rawfield(L, spec, "when");
	if (type != LUA_TNIL && type != LUA_TFUNCTION) {
		loc_error(c->d, loc, "%s: 'when' must be a function", what);
		bad = 1;
	}
	lua_pop(L, 1);
	return bad ? -1 : 0;
}

/* The destination fields: service, namespace and labels select services; external selects
 * external hosts (egress). Records the ids the rule applies to, for the index. */
static int read_destination(cctx *c, int spec, mp_rule *r, uint32_t idx, const char *loc,
                            const char *what)
{
	const mp_model *m = c->b->model;
	mp_model_view v = mp_model_get_view(m);
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
	if (!nsvc && !nns && !nlabels && !next_names) {
		loc_error(c->d, loc,
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
	    resolve_services(c, svc_refs, nsvc, &ids, &nids, NULL, NULL, loc, what, "service") < 0)
		return -1;
	if (nns && resolve_namespaces(c, ns_names, nns, &nsids, loc, what, "namespace") < 0)
		return -1;
	mp_id *exts = alloc_or_raise(c, (v.nexternals + next_names + 1) * sizeof(mp_id));
	uint32_t nexts = 0;
	for (uint32_t i = 0; i < next_names; i++) {
		if (!strcmp(ext_names[i], "*")) {
			any_external = 1;
			continue;
		}
		exts[nexts] = mp_model_find_external(m, ext_names[i]);
		if (exts[nexts] == MP_NONE) {
			loc_error(
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
	char text[512] = "";
	for (uint32_t i = 0; i < nsvc; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", i ? "," : "",
		         svc_refs[i]);
	for (uint32_t i = 0; i < nns; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%snamespace %s",
		         text[0] ? "," : "", ns_names[i]);
	for (uint32_t i = 0; i < next_names; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%sexternal %s",
		         text[0] ? "," : "", ext_names[i]);
	r->dest_text = arena_str(c->b, text[0] ? text : "labels");
	r->dest_any = any_service && !nns && !nlabels;

	/* services: the named ones, else every service of the named namespaces (or all), filtered
	 * by namespace and labels; none when only externals were named */
	mp_id *cand = ids;
	uint32_t ncand = nids, nout = 0;
	if (any_service || (!nsvc && (nns || nlabels))) {
		cand = alloc_or_raise(c, (v.nservices + 1) * sizeof(mp_id));
		for (ncand = 0; ncand < v.nservices; ncand++)
			cand[ncand] = ncand;
	}
	mp_id *out = alloc_or_raise(c, (ncand + 1) * sizeof(mp_id));
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
	c->dst_svcs[idx] = out;
	c->ndst_svcs[idx] = nout;
	c->dst_exts[idx] = exts;
	c->ndst_exts[idx] = nexts;
	return 0;
}

static const char *opt_message(cctx *c, int spec, const char *loc, const char *what)
{
	int type = rawfield(c->L, spec, "message");
	const char *s = NULL;
	if (type == LUA_TSTRING)
		s = arena_str(c->b, lua_tostring(c->L, -1));
	else if (type != LUA_TNIL)
		loc_error(c->d, loc, "%s: 'message' must be a string", what);
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
		s = arena_str(c->b, lua_tostring(c->L, -1));
	else if (type != LUA_TNIL)
		loc_error(c->d, loc, "%s: '%s' must be a string, not a %s", what, name,
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
	loc_error(c->d, loc, "%s: %s '%s' is not %s%s", what, name, s, list, hint);
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
			loc_error(c->d, p->loc, "%s: missing required field 'version'", what);
		else if (p->version && !semver_ok(p->version))
			loc_error(c->d, p->loc,
			          "%s: version '%s' is not a semantic version (MAJOR.MINOR.PATCH)",
			          what, p->version);
		p->kind = spec_string(c, spec, "kind", p->loc, what);
		if (!p->kind && absent(c, spec, "kind"))
			loc_error(c->d, p->loc, "%s: missing required field 'kind'", what);
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
		p->enabled = c->nenabled == 0;
		for (uint32_t k = 0; k < c->nenabled; k++)
			p->enabled |= !strcmp(c->enabled[k], p->name);
		for (uint32_t k = 0; k + 1 < b->npolicies; k++)
			if (!strcmp(b->policies[k].name, p->name))
				loc_error(c->d, p->loc, "duplicate policy '%s' (first at %s)",
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
	r->type = type;
	r->policy = policy;
	r->name = name;
	r->loc = loc;
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
		c->names = alloc_or_raise(c, c->names_cap * sizeof(uint32_t));
		memset(c->names, 0xff, c->names_cap * sizeof(uint32_t));
	}
	uint32_t h = 2166136261u ^ policy;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (uint32_t i = h & (c->names_cap - 1);; i = (i + 1) & (c->names_cap - 1)) {
		uint32_t k = c->names[i];
		if (k == MP_NONE) {
			c->names[i] = c->b->nrules;
			return MP_NONE;
		}
		if (c->b->rules[k].policy == policy && !strcmp(c->b->rules[k].name, name))
			return k;
	}
}

static void compile_rules(cctx *c, int state)
{
	static const char *const request_fields[] = {"service", "namespace", "labels",  "external",
	                                             "from",    "methods",   "paths",   "ports",
	                                             "headers", "when",      "message", NULL};
	static const char *const residency_fields[] = {"data", "stay_in", "message", NULL};
	static const char *const mtls_fields[] = {"message", NULL};
	static const char *const routes_fields[] = {"from", "message", NULL};
	static const char *const types[] = {"allow", "deny", "residency", "require_mtls",
	                                    "declared_routes_only"};
	lua_State *L = c->L;
	mp_bundle *b = c->b;
	rawfield(L, state, "rules");
	int list = lua_gettop(L);
	lua_Unsigned n = lua_rawlen(L, list);
	for (lua_Unsigned i = 1; i <= n; i++) {
		lua_rawgeti(L, list, (lua_Integer)i);
		int decl = lua_gettop(L);
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
		snprintf(what, sizeof(what), "%s '%s'", type, name);
		if (policy >= b->npolicies || t < 0) {
			lua_settop(L, list);
			continue;
		}
		uint32_t first = seen_rule(c, policy, name);
		if (first != MP_NONE)
			loc_error(c->d, loc,
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
			if (!bad && (!r->ndata || !nj)) {
				loc_error(c->d, loc, "%s: needs 'data' and 'stay_in'", what);
				bad = 1;
			}
			r->data_ids = alloc_or_raise(c, (r->ndata + 1) * sizeof(mp_str));
			for (uint32_t k = 0; k < r->ndata; k++)
				r->data_ids[k] =
				    mp_model_find_str(b->model, r->data[k], strlen(r->data[k]));
			r->jurisdictions = alloc_or_raise(c, (nj + 1) * sizeof(mp_id));
			for (uint32_t k = 0; !bad && k < nj; k++) {
				r->jurisdictions[k] = mp_model_find_jurisdiction(b->model, jur[k]);
				if (r->jurisdictions[k] == MP_NONE) {
					loc_error(c->d, loc,
					          "%s: the model has no jurisdiction '%s'", what,
					          jur[k]);
					bad = 1;
				}
			}
			r->njurisdictions = nj;
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
				loc_error(c->d, loc, "duplicate role '%s' (first at %s)", name,
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
			loc_error(
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
			const char *via_s = arena_str(b, via);
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
					                      arena_str(b, role), eloc);
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
			loc_error(c->d, bloc, "%s: no role named '%s' in the bundle", what, role);
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
				loc_error(
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
			loc_error(c->d, k->loc, "%s: needs 'run = function(mesh, report) ... end'",
			          what);
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
		loc_error(c->d, loc, "%s", msg ? msg : "?");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static uint32_t count_rules(lua_State *L, int state)
{
	uint32_t n = 0;
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
	uint32_t *to = alloc_or_raise(c, (b->nrules + 1) * sizeof(uint32_t));
	mp_rule *sorted = alloc_or_raise(c, (b->nrules + 1) * sizeof(mp_rule));
	uint32_t n = 0;
	memset(to, 0xff, (b->nrules + 1) * sizeof(uint32_t));
	uint32_t nsvc = b->svc_off[v.nservices], next = b->ext_off[v.nexternals];
	for (int pass = 0; pass < 3; pass++) {
		const uint32_t *list = pass == 0   ? b->svc_rules
		                       : pass == 1 ? b->ext_rules
		                                   : b->global_rules;
		uint32_t len = pass == 0 ? nsvc : pass == 1 ? next : b->nglobal;
		for (uint32_t i = 0; i < len; i++)
			if (to[list[i]] == MP_NONE) {
				to[list[i]] = n;
				sorted[n++] = b->rules[list[i]];
			}
	}
	for (uint32_t r = 0; r < b->nrules; r++) /* rules no destination reaches, kept for audits */
		if (to[r] == MP_NONE) {
			to[r] = n;
			sorted[n++] = b->rules[r];
		}
	for (uint32_t i = 0; i < nsvc; i++)
		b->svc_rules[i] = to[b->svc_rules[i]];
	for (uint32_t i = 0; i < next; i++)
		b->ext_rules[i] = to[b->ext_rules[i]];
	for (uint32_t i = 0; i < b->nglobal; i++)
		b->global_rules[i] = to[b->global_rules[i]];
	b->rules = sorted;
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
			for (uint32_t k = 0; k < c->ndst_svcs[r]; k++)
				b->svc_off[c->dst_svcs[r][k] + 1]++;
			for (uint32_t k = 0; k < c->ndst_exts[r]; k++)
				b->ext_off[c->dst_exts[r][k] + 1]++;
			nsvc += c->ndst_svcs[r];
			next += c->ndst_exts[r];
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
	uint32_t *fs = alloc_or_raise(c, (v.nservices + 1) * sizeof(uint32_t));
	uint32_t *fe = alloc_or_raise(c, (v.nexternals + 1) * sizeof(uint32_t));
	memcpy(fs, b->svc_off, v.nservices * sizeof(uint32_t));
	memcpy(fe, b->ext_off, v.nexternals * sizeof(uint32_t));
	uint32_t g = 0;
	for (uint32_t r = 0; r < b->nrules; r++) {
		uint32_t t = b->rules[r].type;
		if (t == MP_RULE_ALLOW || t == MP_RULE_DENY) {
			for (uint32_t k = 0; k < c->ndst_svcs[r]; k++)
				b->svc_rules[fs[c->dst_svcs[r][k]]++] = r;
			for (uint32_t k = 0; k < c->ndst_exts[r]; k++)
				b->ext_rules[fe[c->dst_exts[r][k]]++] = r;
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
				loc_error(c->d, p->loc,
				          "policy: the name, version, kind or description is not "
				          "valid UTF-8");
		for (uint32_t k = 0; k < p->ncontrols; k++)
			if (!mp_utf8_valid(p->controls[k], strlen(p->controls[k])))
				loc_error(c->d, p->loc, "policy: a control is not valid UTF-8");
	}
	for (uint32_t i = 0; i < b->nrules; i++) {
		const mp_rule *r = &b->rules[i];
		if ((r->name && !mp_utf8_valid(r->name, strlen(r->name))) ||
		    (r->message && !mp_utf8_valid(r->message, strlen(r->message))))
			loc_error(c->d, r->loc, "rule: the name or message is not valid UTF-8");
	}
	for (uint32_t i = 0; i < b->nchecks; i++) {
		const mp_check *k = &b->checks[i];
		if ((k->name && !mp_utf8_valid(k->name, strlen(k->name))) ||
		    (k->description && !mp_utf8_valid(k->description, strlen(k->description))))
			loc_error(c->d, k->loc,
			          "check: the name or description is not valid UTF-8");
	}
}

static int compile_state(lua_State *L)
{
	cctx *c = lua_touserdata(L, lua_upvalueindex(1));
	int state = 1;
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
	c->rules_cap = count_rules(L, state);
	c->b->rules = alloc_or_raise(c, (c->rules_cap + 1) * sizeof(mp_rule));
	c->dst_svcs = alloc_or_raise(c, (c->rules_cap + 1) * sizeof(mp_id *));
	c->ndst_svcs = alloc_or_raise(c, (c->rules_cap + 1) * sizeof(uint32_t));
	c->dst_exts = alloc_or_raise(c, (c->rules_cap + 1) * sizeof(mp_id *));
	c->ndst_exts = alloc_or_raise(c, (c->rules_cap + 1) * sizeof(uint32_t));
	dsl_errors(c, state);
	compile_policies(c, state);
	compile_rules(c, state);
	compile_roles(c, state);
	compile_checks(c, state);
	check_texts(c);
	build_index(c);

	return 0;
}

mp_bundle *mp_bundle_load(const char *dir, const mp_model *m, const char *stdlib_dir, mp_diags *d)
{
	mp_bundle *b = mp_calloc(1, sizeof(*b));
	mp_sandbox *sb = NULL;
	uint64_t *units = NULL; /* load cost of each policy file */
	uint32_t errors = d->errors;
	char path[PATH_MAX], err[1024];
	cctx c = {.d = d};
	if (!b || !(b->arena = mp_calloc(1, sizeof(*b->arena)))) {
		mp_diags_error(d, dir, 0, 0, "out of memory");
		goto fail;
	}
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		mp_diags_error(d, dir, 0, 0, "not a policy bundle directory");
		goto fail;
	}
	b->model = m;
	b->dir = arena_str(b, dir);
	c.b = b;
	snprintf(path, sizeof(path), "%s/bundle.yaml", dir);
	load_manifest(b, path, &c.enabled, &c.nenabled, d);
	if (read_files(b, dir, d) < 0)
		goto fail;
	if (!b->npolicy_files)
		mp_diags_error(d, dir, 0, 0, "the bundle has no policy files (*.lua)");

	mp_sandbox_opts opts = {.instr_budget = MP_BUNDLE_LOAD_BUDGET,
	                        .stdlib_dir = stdlib_dir ? stdlib_dir : mp_stdlib_dir()};
	if (!(sb = mp_sandbox_new(&opts, err, sizeof(err)))) {
		mp_diags_error(d, dir, 0, 0, "%s", err);
		goto fail;
	}
	mp_bundle_prepare_state(sb);
	if (b->npolicy_files && !(units = mp_calloc(b->npolicy_files, sizeof(*units)))) {
		mp_diags_error(d, dir, 0, 0, "out of memory");
		goto fail;
	}
	int ran = mp_bundle_run_files(sb, b, units, d);
	for (uint32_t i = 0; i < b->npolicy_files; i++)
		b->files[i].load_units = units[i];
	if (ran < 0 && lua_gettop(mp_sandbox_lua(sb)) == 0)
		goto fail;
	lua_State *L = mp_sandbox_lua(sb);
	if (!lua_istable(L, -1))
		goto fail;
	lua_pushlightuserdata(L, &c);
	lua_pushcclosure(L, compile_state, 1);
	lua_insert(L, -2);
	if (mp_sandbox_pcall(sb, 1, 0, err, sizeof(err)) < 0)
		mp_diags_error(d, dir, 0, 0, "cannot compile the bundle: %s", err);
	if (d->errors > errors)
		goto fail;
	mp_free(units);
	mp_sandbox_free(sb);
	return b;
fail:
	mp_free(units);
	mp_sandbox_free(sb);
	mp_bundle_free(b);
	return NULL;
}

/* --- binding another state's functions to the compiled rules (mp_bundle_bind) --- */

/* map[key] = {spec, fns[i]} for a declaration (decl: the record that names it) with a function. */
static void collect_decl(lua_State *L, int state, int map, int decl, int spec, int fns,
                         lua_Integer i, const char *kind, lua_Integer entry)
{
	if (i <= 0)
		return;
	push_decl_key(L, state, kind, decl, entry);
	lua_pushvalue(L, -1);
	if (lua_rawget(L, map) != LUA_TNIL)
		luaL_error(L, "%s is declared twice", lua_tostring(L, -2));
	lua_pop(L, 1);
	lua_createtable(L, 2, 0);
	lua_pushvalue(L, spec);
	lua_rawseti(L, -2, 1);
	lua_rawgeti(L, fns, i);
	lua_rawseti(L, -2, 2);
	lua_rawset(L, map);
}

/* Every declaration with a function, by key. Leaves the map on the stack. */
static void collect_decls(lua_State *L, int state)
{
	lua_newtable(L);
	int map = lua_gettop(L);
	static const struct {
		const char *list, *fns, *index, *kind;
	} lists[] = {{"rules", "whens", "when_index", "rule"},
	             {"checks", "runs", "run_index", "check"}};
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		lua_pushstring(L, lists[l].list);
		lua_rawget(L, state);
		int list = lua_gettop(L);
		lua_pushstring(L, lists[l].fns);
		lua_rawget(L, state);
		int fns = lua_gettop(L);
		for (lua_Integer i = 1; lua_rawgeti(L, list, i) == LUA_TTABLE; i++) {
			int decl = lua_gettop(L);
			lua_pushstring(L, "spec");
			lua_rawget(L, decl);
			lua_pushstring(L, lists[l].index);
			lua_rawget(L, decl);
			collect_decl(L, state, map, decl, decl + 1, fns, lua_tointeger(L, -1),
			             lists[l].kind, 0);
			lua_settop(L, fns);
		}
		lua_settop(L, map);
	}
	lua_pushstring(L, "roles");
	lua_rawget(L, state);
	int roles = lua_gettop(L);
	lua_pushstring(L, "whens");
	lua_rawget(L, state);
	int whens = lua_gettop(L);
	for (lua_Integer i = 1; lua_rawgeti(L, roles, i) == LUA_TTABLE; i++) {
		int role = lua_gettop(L);
		lua_pushstring(L, "entries");
		lua_rawget(L, role);
		int entries = lua_gettop(L);
		for (lua_Integer e = 1; lua_rawgeti(L, entries, e) == LUA_TTABLE; e++) {
			int ent = lua_gettop(L);
			lua_pushstring(L, "spec");
			lua_rawget(L, ent);
			lua_pushstring(L, "when_index");
			lua_rawget(L, ent);
			/* an entry's key names its role and its place in it */
			collect_decl(L, state, map, role, ent + 1, whens, lua_tointeger(L, -1),
			             "entry", e);
			lua_settop(L, entries);
		}
		lua_settop(L, whens);
	}
	lua_settop(L, map);
}

/* Runs protected: upvalue 1 is the bundle, argument 1 the DSL's state table. */
static int bind_state(lua_State *L)
{
	const mp_bundle *b = lua_touserdata(L, lua_upvalueindex(1));
	static const char *const names[] = {"whens", "runs"};
	collect_decls(L, 1);
	int map = lua_gettop(L);
	lua_createtable(L, 0, 2);
	for (int w = 0; w < 2; w++) {
		const mp_decl_id *ids = w == 0 ? b->when_ids : b->run_ids;
		uint32_t n = w == 0 ? b->nwhens : b->nruns;
		lua_createtable(L, (int)n, 0);
		for (uint32_t i = 1; ids && i <= n; i++) {
			unsigned char d[MP_DECL_DIGEST_LEN];
			if (!ids[i].key)
				continue;
			if (lua_getfield(L, map, ids[i].key) != LUA_TTABLE)
				luaL_error(L,
				           "%s: %s is not declared when the bundle runs again: its "
				           "declarations "
				           "depend on something that changes between runs",
				           ids[i].loc ? ids[i].loc : "?", ids[i].key);
			mp_decl_digest(L, -1, d);
			if (memcmp(d, ids[i].digest, sizeof(d)))
				luaL_error(L,
				           "%s: %s declares something else when the bundle runs "
				           "again (its "
				           "declaration depends on the order of pairs(), the time "
				           "or another "
				           "value that changes between runs)",
				           ids[i].loc ? ids[i].loc : "?", ids[i].key);
			lua_rawgeti(L, -1, 2);
			lua_rawseti(L, -3, (lua_Integer)i);
			lua_pop(L, 1);
		}
		lua_setfield(L, -2, names[w]);
	}
	return 1;
}

int mp_bundle_bind(mp_sandbox *sb, const mp_bundle *b, char *err, size_t errlen)
{
	lua_State *L = mp_sandbox_lua(sb);
	assert(lua_istable(L, -1));
	lua_pushlightuserdata(L, (void *)b);
	lua_pushcclosure(L, bind_state, 1);
	lua_insert(L, -2);
	return mp_sandbox_pcall(sb, 1, 1, err, errlen) < 0 ? -1 : 0;
}

void mp_bundle_release_declarations(mp_sandbox *sb)
{
	char err[256];
	lua_State *L = mp_sandbox_lua(sb);
	lua_getfield(L, LUA_REGISTRYINDEX, DSL_KEY);
	if (lua_istable(L, -1)) {
		lua_getfield(L, -1, "reset");
		if (mp_sandbox_pcall(sb, 0, 0, err, sizeof(err)) < 0)
			lua_settop(L, lua_gettop(L)); /* nothing to undo: the old state stays */
	}
	lua_pop(L, 1);
	lua_gc(L, LUA_GCCOLLECT);
}
