/* policy.c: loading a policy bundle: its manifest, running the policy files in the sandbox
 * (with the declarations in-memory files replace left out), and the arena a bundle lives in.
 * Its files come from policy_files.c; what they declare is compiled by policy_compile.c;
 * another state's functions are bound by policy_bind.c (policy_int.h).
 * Language: docs/policy-language.md. Design: docs/architecture.md ("Policies"). */
#include "policy.h"
#include "alloc.h"
#include "arena.h"
#include "barchive.h"
#include "decide.h"
#include "files.h"
#include "keys.h"
#include "policy_int.h"
#include "sandbox.h"
#include "yamlload.h"

#include <assert.h>
#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DSL_KEY     "meshpol.dsl.private" /* registry: the host's own instance of the DSL module */
#define DSL_SHA_KEY "meshpol.dsl.sha256"  /* registry: SHA-256 of its text (32 bytes) */

/* --- the arena: everything a bundle points at, freed at once (arena.h) --- */

void *pol_arena_alloc(mp_bundle *b, size_t n)
{
	return mp_arena_alloc(b->arena, n);
}

char *pol_arena_strn(mp_bundle *b, const char *s, size_t len)
{
	return mp_arena_strn(b->arena, s, len);
}

char *pol_arena_str(mp_bundle *b, const char *s)
{
	return mp_arena_str(b->arena, s);
}

void mp_bundle_free(mp_bundle *b)
{
	if (!b)
		return;
	if (b->arena) {
		mp_arena_free(b->arena);
		mp_free(b->arena);
	}
	mp_free(b);
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
				/* the source tree's bin/, then an installed PREFIX/bin (make
				 * install puts the stdlib in PREFIX/share/meshpol/stdlib) */
				static const char *const beside[] = {"../stdlib",
				                                     "../share/meshpol/stdlib"};
				char cand[PATH_MAX + 32];
				for (size_t k = 0; k < sizeof(beside) / sizeof(beside[0]); k++) {
					snprintf(cand, sizeof(cand), "%s/%s", exe, beside[k]);
					if (strlen(cand) < sizeof(dir) && stat(cand, &st) == 0 &&
					    S_ISDIR(st.st_mode)) {
						memcpy(dir, cand, strlen(cand) + 1);
						break;
					}
				}
			}
		}
	}
	return dir;
}

/* --- diagnostics from "file:line" locations and Lua error messages --- */

void pol_loc_error(mp_diags *d, const char *loc, const char *fmt, ...)
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
			pol_loc_error(d, loc, "%s", q[1] == ' ' ? q + 2 : q + 1);
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

/* Reads the manifest at path, or from the copy of it in text (NULL: read the file). */
static int load_manifest(mp_bundle *b, const char *path, const mp_bundle_file *text,
                         const char **enabled_out[], uint32_t *nenabled, mp_diags *d)
{
	yaml_document_t doc;
	int rc = text ? mp_yaml_load_buf(path, text->text, text->len, &doc, d)
	              : mp_yaml_load_file(path, 1 << 20, &doc, d);
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
			b->name = pol_arena_str(b, val);
			seen_name = 1;
		} else if (!strcmp(key, "revision")) {
			b->revision = pol_arena_str(b, val);
			seen_rev = 1;
		} else if (!strcmp(key, "model")) {
			char full[PATH_MAX];
			snprintf(full, sizeof(full), "%s/%s", b->dir, val);
			b->model_hint = pol_arena_str(b, val[0] == '/' ? val : full);
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
			const char **arr = pol_arena_alloc(b, (n + 1) * sizeof(char *));
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
				arr[k2++] = pol_arena_str(b, text);
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
	struct stat st;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		/* the model in it, or the reason there is none when mp_model_open reads it */
		if (!mp_barchive_is_file(dir) || strlen(dir) >= len)
			return -1;
		memcpy(buf, dir, strlen(dir) + 1);
		return 0;
	}
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
	/* "%s:%d" without lua_pushfstring's formatting: once per declaration, 84,000 at a time */
	char digits[16];
	int n = 0;
	long cl = ar.currentline;
	unsigned long line = cl < 0 ? (unsigned long)-cl : (unsigned long)cl;
	do
		digits[sizeof(digits) - 1 - n++] = (char)('0' + line % 10);
	while ((line /= 10) && n < (int)sizeof(digits) - 1);
	if (cl < 0)
		digits[sizeof(digits) - 1 - n++] = '-';
	luaL_Buffer buf;
	luaL_buffinit(L, &buf);
	luaL_addstring(&buf, src);
	luaL_addchar(&buf, ':');
	luaL_addlstring(&buf, digits + sizeof(digits) - n, (size_t)n);
	luaL_pushresult(&buf);
	return 1;
}

/* skipped(word, name): is the declaration the policy file makes here one that an in-memory
 * file replaces (mp_bundle_skip), to be left out? Called by the DSL's words (stdlib's dsl.lua)
 * from the function the file calls, so the file's line is two levels up. Upvalues: the bundle
 * (a light userdata; it outlives every state that runs its files) and the file's
 * mp_bundle_file.in_memory. */
static int host_skipped(lua_State *L)
{
	const mp_bundle *b = lua_touserdata(L, lua_upvalueindex(1));
	lua_Integer mem = lua_tointeger(L, lua_upvalueindex(2)), line = 0;
	size_t nlen = 0;
	const char *word = lua_tostring(L, 1), *name = lua_tolstring(L, 2, &nlen);
	lua_Debug ar;
	int skip = 0;
	if (lua_getstack(L, 2, &ar) && lua_getinfo(L, "l", &ar))
		line = ar.currentline;
	for (uint32_t i = 0; word && name && i < b->nskips && !skip; i++) {
		const mp_bundle_skip *k = &b->skips[i];
		skip = !strcmp(k->type, word) && strlen(k->name) == nlen &&
		       !memcmp(k->name, name, nlen) &&
		       (mem < 0 || k->file > mem || (k->file == mem && line < k->line));
	}
	lua_pushboolean(L, skip);
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
 * leaves it on the stack. Like every function here that takes the sandbox, it can raise a
 * memory error: it runs inside mp_sandbox_protect (load_in_state, record_in_state). */
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
	if (mp_files_read(path, POL_FILE_MAX, &text, &len, d) < 0) {
		mp_diags_error(
		    d, NULL, 0, 0,
		    "the policy DSL is missing (set MESHPOL_STDLIB to meshpol's stdlib/)");
		return -1;
	}
	/* text is freed before any call that can raise (mp_sandbox_run cannot) */
	unsigned char sha[32];
	mp_key_sha256(text, len, sha);
	int rc = mp_sandbox_run(sb, text, len, path, 1, err, sizeof(err));
	mp_free(text);
	lua_pushlstring(L, (const char *)sha, sizeof(sha));
	lua_setfield(L, LUA_REGISTRYINDEX, DSL_SHA_KEY);
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

/* #whens + #runs of the DSL's state (the table at index dsl): the functions declared so far. */
static lua_Unsigned count_fns(lua_State *L, int dsl)
{
	lua_Unsigned n = 0;
	lua_getfield(L, dsl, "state");
	if (lua_istable(L, -1)) {
		lua_pushliteral(L, "whens");
		lua_rawget(L, -2);
		n += lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
		lua_pop(L, 1);
		lua_pushliteral(L, "runs");
		lua_rawget(L, -2);
		n += lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return n;
}

void pol_dsl_sha256(lua_State *L, unsigned char out[32])
{
	size_t n = 0;
	lua_getfield(L, LUA_REGISTRYINDEX, DSL_SHA_KEY);
	const char *s = lua_tolstring(L, -1, &n);
	memset(out, 0, 32);
	if (s && n == 32)
		memcpy(out, s, 32);
	lua_pop(L, 1);
}

/* What run_files does besides running files. */
typedef struct {
	uint64_t *units; /* the loader: units[i], the load cost of file i ... */
	uint32_t *fns;   /* ... fns[i] = 1 when it declared a function */
	/* The loader of an archive: the stored declarations, put in the state instead of
	 * running the files they are of (NULL: run every file) ... */
	pol_decls *decls;
	const char *decls_label;             /* ... named in errors; the files they stand for */
	struct pol_decls_block_list *blocks; /* (npolicy_files), for pol_compile */
	pol_decls_marks *marks;          /* pol_decls_build's: npolicy_files + 1 marks, or NULL */
	const unsigned char *const *sha; /* NULL, or the SHA-256 of b->files[i] where known */
	/* Recording: the most units (memory's charge included) a file took, or NULL. */
	uint64_t *max_charged;
	/* The directory's loader on two threads (policy_split.c): the files from split->from on
	 * were recorded on the second thread; at that file run_files asks for them
	 * (pol_split_join), and a file whose recording cannot be injected runs. NULL: none. */
	pol_split *split;
} run_opts;

/* The lengths of the state's policies and rules (the table at state). */
static void list_lengths(lua_State *L, int state, lua_Unsigned n[2])
{
	lua_getfield(L, state, "policies");
	n[0] = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
	lua_getfield(L, state, "rules");
	n[1] = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
	lua_pop(L, 2);
}

/* The state's policies and rules cut back to the lengths n (list_lengths): what a failed
 * injection had added. Only removes, so it cannot fail. */
static void cut_lists(lua_State *L, int state, const lua_Unsigned n[2])
{
	static const char *const names[2] = {"policies", "rules"};
	for (int k = 0; k < 2; k++) {
		lua_getfield(L, state, names[k]);
		for (lua_Unsigned i = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0; i > n[k]; i--) {
			lua_pushnil(L);
			lua_rawseti(L, -2, (lua_Integer)i);
		}
		lua_pop(L, 1);
	}
}

/* Puts file f's stored declarations e in the state instead of running it. -1 after reporting;
 * for a recording of the second thread (quiet), -1 with the state as it was, to run the file. */
static int inject_file(mp_sandbox *sb, int dsl, const mp_bundle_file *f, const pol_decls_entry *e,
                       const pol_decls *decls, const run_opts *o, int quiet, mp_diags *d)
{
	char err[512];
	lua_State *L = mp_sandbox_lua(sb);
	pol_decls_block *blk = &o->blocks->v[o->blocks->n];
	lua_Unsigned lens[2];
	*blk = (pol_decls_block){
	    .e = e, .d = (pol_decls *)decls, .path = f->path, .label = o->decls_label};
	lua_getfield(L, dsl, "state");
	int state = lua_gettop(L);
	list_lengths(L, state, lens);
	if (pol_decls_inject(sb, blk, o->blocks->n + 1, err, sizeof(err)) == 0) {
		o->blocks->n++;
		return 0;
	}
	if (quiet) {
		lua_getfield(L, dsl, "state");
		cut_lists(L, lua_gettop(L), lens);
		lua_pop(L, 1);
		return -1;
	}
	mp_diags_error(d, o->decls_label, 0, 0, "the declarations stored for '%s': %s", f->rel,
	               err);
	return -1;
}

/* Runs policy file f (index i) in the state, the DSL at index dsl; its units (memory's charge
 * left out: pol_split's recordings must count what the loader would) into *units. -1 when it
 * failed, after reporting. */
static int run_file(mp_sandbox *sb, int dsl, const mp_bundle *b, const mp_bundle_file *f,
                    uint64_t *units, uint64_t *charged, mp_diags *d)
{
	lua_State *L = mp_sandbox_lua(sb);
	char err[2048];
	int failed = 0;
	*units = *charged = 0;
	if (mp_sandbox_load(sb, f->text, f->len, f->path, err, sizeof(err)) < 0) {
		lua_error_diag(d, err);
		return -1;
	}
	int fn = lua_gettop(L);
	mp_sandbox_push_env(L);
	lua_getfield(L, dsl, "install");
	lua_pushvalue(L, fn + 1);
	lua_pushstring(L, f->path);
	if (b->nskips) {
		lua_pushlightuserdata(L, (void *)b);
		lua_pushinteger(L, f->in_memory);
		lua_pushcclosure(L, host_skipped, 2);
	} else {
		lua_pushnil(L);
	}
	if (mp_sandbox_pcall(sb, 3, 0, err, sizeof(err)) < 0) {
		lua_error_diag(d, err);
		lua_settop(L, fn - 1);
		return -1;
	}
	lua_setupvalue(L, fn, 1); /* the file's _ENV is its own environment */
	uint64_t installed = mp_sandbox_instructions_used(sb),
	         installed_mem = mp_sandbox_memory_units_used(sb);
	if (mp_sandbox_pcall(sb, 0, 0, err, sizeof(err)) < 0) {
		lua_error_diag(d, err);
		failed = 1;
	}
	*charged = installed + mp_sandbox_instructions_used(sb);
	*units = *charged - installed_mem - mp_sandbox_memory_units_used(sb);
	lua_settop(L, dsl);
	return failed ? -1 : 0;
}

/* mp_bundle_run_files, with what o asks for (every field may be 0). */
static int run_files(mp_sandbox *sb, const mp_bundle *b, const run_opts *o, mp_diags *d)
{
	lua_State *L = mp_sandbox_lua(sb);
	char err[2048];
	int failed = 0;
	uint64_t *units = o->units;
	uint32_t *fns = o->fns;
	const pol_decls *decls = o->decls;
	if (push_dsl(sb, d) < 0)
		return -1;
	int dsl = lua_gettop(L);
	lua_getfield(L, dsl, "reset");
	if (mp_sandbox_pcall(sb, 0, 0, err, sizeof(err)) < 0) {
		lua_error_diag(d, err);
		lua_pop(L, 1);
		return -1;
	}
	if (o->marks) {
		lua_getfield(L, dsl, "state");
		pol_decls_mark(L, -1, &o->marks[0]);
		lua_pop(L, 1);
	}
	for (uint32_t i = 0; i < b->npolicy_files; i++) {
		const mp_bundle_file *f = &b->files[i];
		if (o->split && i == pol_split_from(o->split))
			decls = pol_split_join(o->split, sb);
		if (!units && f->no_fns)
			continue;
		const pol_decls_entry *e =
		    decls && !b->nskips
		        ? pol_decls_find(decls, f->text, f->len, o->sha ? o->sha[i] : NULL)
		        : NULL;
		if (e && inject_file(sb, dsl, f, e, decls, o, o->split != NULL, d) == 0) {
			units[i] = e->units;
			fns[i] = 0;
			continue;
		}
		if (e && !o->split) { /* reported */
			failed = 1;
			units[i] = e->units;
			fns[i] = 0;
			continue;
		}
		uint64_t nondet = mp_sandbox_nondeterministic(sb), req = mp_sandbox_requires(sb);
		uint64_t used = 0, charged = 0;
		lua_Unsigned before = fns ? count_fns(L, dsl) : 0;
		int bad = run_file(sb, dsl, b, f, &used, &charged, d) < 0;
		failed |= bad;
		if (units)
			units[i] = used;
		if (o->max_charged && charged > *o->max_charged)
			*o->max_charged = charged;
		if (fns)
			fns[i] = count_fns(L, dsl) != before;
		if (o->marks) {
			lua_getfield(L, dsl, "state");
			pol_decls_mark(L, -1, &o->marks[i + 1]);
			lua_pop(L, 1);
			/* what it declared is its own: it ran to the end, without the clock or a
			 * module that another file may have changed */
			o->marks[i + 1].storable = !bad &&
			                           mp_sandbox_nondeterministic(sb) == nondet &&
			                           mp_sandbox_requires(sb) == req;
		}
	}
	lua_getfield(L, dsl, "state");
	lua_remove(L, dsl);
	return failed ? -1 : 0;
}

int mp_bundle_run_files(mp_sandbox *sb, const mp_bundle *b, uint64_t *units, mp_diags *d)
{
	run_opts o = {.units = units};
	return run_files(sb, b, &o, d);
}

/* record_files' part in the sandbox's state (run protected: mp_sandbox_protect). */
typedef struct {
	const mp_bundle *b;
	mp_sandbox *sb;
	int strict;
	pol_record *rec;
	run_opts o;
	mp_diags *d;
	int failed; /* reported into d */
} recording;

static int record_in_state(lua_State *L, void *ud)
{
	recording *r = ud;
	char err[1024];
	mp_bundle_prepare_state(r->sb);
	if (run_files(r->sb, r->b, &r->o, r->d) < 0 && (r->strict || lua_gettop(L) == 0))
		return 0;
	pol_dsl_sha256(L, r->rec->dsl_sha256);
	if (pol_decls_build(r->sb, r->b, r->o.marks, r->strict ? NULL : r->o.units, r->rec->sha,
	                    r->rec->dsl_sha256, &r->rec->out, &r->rec->len, err, sizeof(err)) < 0) {
		mp_diags_error(r->d, r->b->dir, 0, 0, "cannot record the declarations: %s", err);
		return 0;
	}
	r->failed = 0;
	return 0;
}

/* Runs b's policy files in a fresh sandbox and records their declarations (pol_decls_build):
 * *rec's fields as pol_record describes them. strict (mp_bundle_declarations): a file that
 * fails fails the recording, and each file's units are the ones b->files holds from its load;
 * else a file that fails is not stored, and the units are this run's. -1 after reporting. */
static int record_files(const mp_bundle *b, const char *stdlib_dir, int strict, pol_record *rec,
                        mp_diags *d)
{
	mp_sandbox_opts opts = {.instr_budget = MP_BUNDLE_LOAD_BUDGET,
	                        .mem_limit =
	                            rec->mem_limit ? rec->mem_limit : MP_BUNDLE_LOAD_MEM_LIMIT,
	                        .stdlib_dir = stdlib_dir ? stdlib_dir : mp_stdlib_dir()};
	char err[1024];
	int rc = -1;
	recording r = {
	    .b = b,
	    .strict = strict,
	    .rec = rec,
	    .d = d,
	    .failed = 1,
	    .o = {.units = mp_calloc((size_t)b->npolicy_files + 1, sizeof(uint64_t)),
	          .fns = mp_calloc((size_t)b->npolicy_files + 1, sizeof(uint32_t)),
	          .marks = mp_calloc((size_t)b->npolicy_files + 1, sizeof(pol_decls_marks)),
	          .max_charged = &rec->max_units,
	          .sha = rec->sha}};
	if (!r.o.marks || !r.o.units || !r.o.fns) {
		mp_diags_error(d, b->dir, 0, 0, "out of memory");
		goto out;
	}
	if (b->nskips) {
		mp_diags_error(d, b->dir, 0, 0,
		               "a bundle with in-memory files cannot keep its declarations");
		goto out;
	}
	if (!(r.sb = mp_sandbox_new(&opts, err, sizeof(err)))) {
		mp_diags_error(d, b->dir, 0, 0, "%s", err);
		goto out;
	}
	if (mp_sandbox_protect(r.sb, record_in_state, &r, 0, 0, err, sizeof(err)) < 0) {
		mp_diags_error(d, b->dir, 0, 0, "cannot record the declarations: %s", err);
		goto out;
	}
	if (r.failed)
		goto out;
	rec->mem_peak = mp_sandbox_mem_peak(r.sb);
	rec->mem_refused = mp_sandbox_mem_refused(r.sb);
	rc = 0;
out:
	mp_sandbox_free(r.sb);
	mp_free(r.o.marks);
	mp_free(r.o.units);
	mp_free(r.o.fns);
	return rc;
}

int pol_record_files(const mp_bundle *b, const char *stdlib_dir, pol_record *rec, mp_diags *d)
{
	return record_files(b, stdlib_dir, 0, rec, d);
}

int mp_bundle_declarations(const mp_bundle *b, const char *stdlib_dir, void **out, size_t *len,
                           mp_diags *d)
{
	pol_record rec = {0};
	if (record_files(b, stdlib_dir, 1, &rec, d) < 0)
		return -1;
	*out = rec.out;
	*len = rec.len;
	return 0;
}

/* The bundle's name, revision, default, mask and model from the manifest (read from dir, or
 * from src->files_of's copy of it), or from src without a directory; the policies the
 * manifest enables into *enabled. */
static void describe(mp_bundle *b, const mp_bundle_source *src, const char ***enabled,
                     uint32_t *nenabled, mp_diags *d)
{
	char path[PATH_MAX];
	const mp_bundle_file *copy =
	    src->files_of ? pol_find_file(src->files_of, "bundle.yaml") : NULL;
	mp_bundle_file mem = {0}; /* the manifest among src->tree */
	for (uint32_t i = 0; !copy && i < src->ntree; i++)
		if (src->tree[i].name && !strcmp(src->tree[i].name, "bundle.yaml")) {
			mem.text = src->tree[i].text ? src->tree[i].text : "";
			mem.len = src->tree[i].len;
			copy = &mem;
		}
	const char *override = src->revision_override ? src->revision_override
	                       : src->files_of        ? src->files_of->revision_override
	                                              : NULL;
	if (!b->dir) {
		b->name = src->name ? pol_arena_str(b, src->name) : NULL;
		b->revision = src->revision ? pol_arena_str(b, src->revision) : NULL;
		if (!src->name || !src->revision)
			mp_diags_error(d, NULL, 0, 0,
			               "a bundle without a directory needs a name and a revision");
		return;
	}
	snprintf(path, sizeof(path), "%s/bundle.yaml", b->dir);
	if (src->files_of && !copy)
		mp_diags_error(d, path, 0, 0, "the bundle read before kept no manifest");
	else if (src->ntree && !copy)
		mp_diags_error(d, path, 0, 0, "the bundle has no manifest (bundle.yaml)");
	else
		load_manifest(b, copy && copy->path ? copy->path : path, copy, enabled, nenabled,
		              d);
	if (override) {
		b->revision_override = pol_arena_str(b, override);
		b->revision = b->revision_override;
	}
	if (b->revision && src->revision_suffix) {
		size_t n = strlen(b->revision), k = strlen(src->revision_suffix);
		char *r = pol_arena_alloc(b, n + k + 1);
		if (r) {
			memcpy(r, b->revision, n);
			memcpy(r + n, src->revision_suffix, k + 1);
		}
		b->revision = r;
	}
}

/* The bundle against what an archive's manifest says it is (src->expect_*), before any of its
 * code runs. -1 after reporting. */
static int check_expected(const mp_bundle *b, const mp_bundle_source *src, mp_diags *d)
{
	char b1[200], b2[200];
	const char *name = b->name ? b->name : "";
	if (src->expect_sha256 && strcmp(b->sha256, src->expect_sha256)) {
		mp_diags_error(d, b->dir, 0, 0,
		               "the bundle's SHA-256 is %.16s..., the manifest says %.16s...",
		               b->sha256, src->expect_sha256);
		return -1;
	}
	if (src->expect_name && strcmp(name, src->expect_name)) {
		mp_diags_error(
		    d, b->dir, 0, 0, "the bundle is '%s', the manifest says '%s'",
		    mp_diag_quote(name, strlen(name), b1, sizeof(b1)),
		    mp_diag_quote(src->expect_name, strlen(src->expect_name), b2, sizeof(b2)));
		return -1;
	}
	return 0;
}

mp_bundle *mp_bundle_load_source(const mp_bundle_source *src, const mp_model *m,
                                 const char *stdlib_dir, mp_diags *d)
{
	return pol_load_source(src, NULL, m, stdlib_dir, d);
}

/* pol_load_source's part in the sandbox's state (run protected: mp_sandbox_protect): what it
 * reads, and the C memory it allocates, which the caller frees whether the part returned or
 * raised. */
typedef struct {
	mp_bundle *b;
	const mp_bundle_source *src;
	pol_given *g;
	mp_sandbox *sb;
	const char *stdlib_dir;
	const char **enabled; /* the manifest's `policies` */
	uint32_t nenabled;
	const unsigned char **sha;          /* the files' SHA-256, where g gave them */
	uint64_t *units;                    /* load cost of each policy file */
	uint32_t *fns;                      /* did it declare a `when` or `run`? */
	pol_decls decls;                    /* an archive's stored declarations ... */
	struct pol_decls_block_list blocks; /* ... and the files they stand for */
	pol_split *split; /* the second thread's recordings of a directory's files */
	mp_diags *d;
	int failed; /* reported into d, or the caller says why (g->model) */
} loading;

static int load_in_state(lua_State *L, void *ud)
{
	loading *l = ud;
	mp_bundle *b = l->b;
	const mp_bundle_source *src = l->src;
	mp_diags *d = l->d;
	char err[1024];
	mp_bundle_prepare_state(l->sb);
	run_opts o = {.units = l->units, .fns = l->fns, .blocks = &l->blocks, .sha = l->sha};
	if (src->decls && !b->nskips) {
		unsigned char sha[32];
		int usable;
		if (push_dsl(l->sb, d) < 0)
			return 0;
		lua_pop(L, 1);
		pol_dsl_sha256(L, sha);
		usable =
		    pol_decls_open(src->decls, src->decls_len, sha, &l->decls, err, sizeof(err));
		if (usable < 0) {
			mp_diags_error(d, src->decls_label, 0, 0, "%s", err);
			return 0;
		}
		o.decls = usable ? &l->decls : NULL;
		o.decls_label = src->decls_label;
		if (usable &&
		    !(l->blocks.v = mp_calloc(b->npolicy_files + 1, sizeof(*l->blocks.v)))) {
			mp_diags_error(d, b->dir, 0, 0, "out of memory");
			return 0;
		}
	} else if (!b->nskips && (l->split = pol_split_start(b, src, l->stdlib_dir))) {
		/* the second part's declarations, recorded on a second thread meanwhile */
		if (!(l->blocks.v = mp_calloc(b->npolicy_files + 1, sizeof(*l->blocks.v)))) {
			mp_diags_error(d, b->dir, 0, 0, "out of memory");
			return 0;
		}
		o.split = l->split;
		o.sha = pol_split_sha(l->split);
		o.decls_label = b->dir;
	}
	int ran = run_files(l->sb, b, &o, d);
	if (l->g)
		l->g->injected = l->blocks.n;
	for (uint32_t i = 0; i < b->npolicy_files; i++) {
		b->files[i].load_units = l->units[i];
		b->files[i].no_fns = !l->fns[i];
	}
	if ((ran < 0 && lua_gettop(L) == 0) || !lua_istable(L, -1))
		return 0;
	if (l->g && l->g->model && !(b->model = l->g->model(l->g->model_arg)))
		return 0; /* the caller says why */
	if (pol_compile(l->sb, b, l->enabled, l->nenabled, &l->blocks, d, err, sizeof(err)) < 0)
		mp_diags_error(d, b->dir, 0, 0, "cannot compile the bundle: %s", err);
	l->failed = 0;
	return 0;
}

mp_bundle *pol_load_source(const mp_bundle_source *src, pol_given *g, const mp_model *m,
                           const char *stdlib_dir, mp_diags *d)
{
	const char *dir = src->files_of ? src->files_of->dir : src->dir;
	mp_bundle *b = mp_calloc(1, sizeof(*b)), *loaded = NULL;
	uint32_t errors = d->errors;
	char err[1024];
	loading l = {.b = b, .src = src, .g = g, .d = d, .failed = 1};
	assert(!src->files_of || !src->dir || !strcmp(src->dir, src->files_of->dir));
	if (!b || !(b->arena = mp_calloc(1, sizeof(*b->arena))) ||
	    (dir && !(b->dir = pol_arena_str(b, dir)))) {
		mp_diags_error(d, dir, 0, 0, "out of memory");
		goto fail;
	}
	b->arena->chunk = 65536;
	struct stat st;
	if (dir && !src->files_of && !src->ntree && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
		mp_diags_error(d, dir, 0, 0, "not a policy bundle directory or bundle archive");
		goto fail;
	}
	b->model = m;
	describe(b, src, &l.enabled, &l.nenabled, d);
	if (pol_read_files(b, src, g, &l.sha, d) < 0 || check_expected(b, src, d) < 0)
		goto fail;
	if (!b->npolicy_files)
		mp_diags_error(d, dir, 0, 0, "the bundle has no policy files (*.lua)");

	mp_sandbox_opts opts = {.instr_budget = MP_BUNDLE_LOAD_BUDGET,
	                        .mem_limit = MP_BUNDLE_LOAD_MEM_LIMIT,
	                        .stdlib_dir = stdlib_dir ? stdlib_dir : mp_stdlib_dir()};
	l.stdlib_dir = opts.stdlib_dir;
	if (!(l.sb = mp_sandbox_new(&opts, err, sizeof(err)))) {
		mp_diags_error(d, dir, 0, 0, "%s", err);
		goto fail;
	}
	if (b->npolicy_files && (!(l.units = mp_calloc(b->npolicy_files, sizeof(*l.units))) ||
	                         !(l.fns = mp_calloc(b->npolicy_files, sizeof(*l.fns))))) {
		mp_diags_error(d, dir, 0, 0, "out of memory");
		goto fail;
	}
	if (mp_sandbox_protect(l.sb, load_in_state, &l, 0, 0, err, sizeof(err)) < 0) {
		mp_diags_error(d, dir, 0, 0, "cannot load the bundle: %s", err);
		goto fail;
	}
	if (!l.failed && d->errors == errors)
		loaded = b;
fail:
	pol_split_free(l.split);
	pol_decls_close(&l.decls);
	mp_free(l.blocks.v);
	mp_free(l.sha);
	mp_free(l.units);
	mp_free(l.fns);
	mp_sandbox_free(l.sb);
	if (!loaded)
		mp_bundle_free(b);
	return loaded;
}

/* mp_bundle_load's and mp_bundle_load_late's: the model m, or late's. */
static mp_bundle *load_path(const char *dir, const mp_model *m, const pol_given *late,
                            uint32_t jobs, const char *stdlib_dir, mp_diags *d)
{
	struct stat st;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode) && mp_barchive_is_file(dir))
		return late ? pol_barchive_load(dir, late, stdlib_dir, d)
		            : mp_barchive_load_bundle(dir, m, stdlib_dir, d);
	mp_bundle_source src = {.dir = dir, .jobs = jobs};
	pol_given g = late ? *late : (pol_given){0};
	return pol_load_source(&src, late ? &g : NULL, m, stdlib_dir, d);
}

mp_bundle *mp_bundle_load(const char *dir, const mp_model *m, const char *stdlib_dir, mp_diags *d)
{
	return load_path(dir, m, NULL, 0, stdlib_dir, d);
}

mp_bundle *mp_bundle_load_late(const char *dir, mp_bundle_model_fn model, void *arg, uint32_t jobs,
                               const char *stdlib_dir, mp_diags *d)
{
	pol_given late = {.model = model, .model_arg = arg};
	return load_path(dir, NULL, &late, jobs, stdlib_dir, d);
}

uint32_t mp_load_jobs(uint32_t jobs)
{
	const char *env = getenv("MESHPOL_LOAD_JOBS");
	if (jobs == 1 || jobs == 2)
		return jobs;
	if (env && (!strcmp(env, "1") || !strcmp(env, "2")))
		return (uint32_t)(env[0] - '0');
	return 0;
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
