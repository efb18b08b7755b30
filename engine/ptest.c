/* ptest.c: running policy tests (see ptest.h). Each test file runs in its own sandbox with
 * model/test/expect_allow/expect_deny/decide as globals; expectations call the decision engine
 * of the snapshot (model + bundle) the file names, shared between files naming the same model. */
#include "ptest.h"
#include "alloc.h"
#include "barchive.h"
#include "decide.h"
#include "diag.h"
#include "files.h"
#include "luajson.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENGINES 16

typedef struct {
	char model[PATH_MAX];
	mp_engine *engine;
	mp_evaluator *ev;
} cached;

typedef struct {
	const char *dir;
	const mp_barchive *archive; /* dir is a bundle archive: its files, not the disk's */
	const mp_ptest_opts *o;
	mp_ptest_result *res;
	cached engines[MAX_ENGINES];
	int nengines;
	char model[PATH_MAX]; /* named by the running file's `model`, or "" */
	mp_evaluator *ev;     /* the running file's evaluator, once resolved */
	const mp_model *m;
} ptest;

static ptest *ctx_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* "file:line" of the test code calling a C function. */
static const char *caller(lua_State *L)
{
	lua_Debug ar;
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
		return lua_pushfstring(
		    L, "%s:%d", ar.source[0] == '@' ? ar.source + 1 : ar.short_src, ar.currentline);
	return lua_pushliteral(L, "?");
}

static int l_model(lua_State *L)
{
	ptest *t = ctx_of(L);
	const char *path = luaL_checkstring(L, 1);
	if (t->archive && path[0] != '/') /* a relative path would leave the archive: its model */
		snprintf(t->model, sizeof(t->model), "%s", t->dir);
	else if (path[0] == '/')
		snprintf(t->model, sizeof(t->model), "%s", path);
	else
		snprintf(t->model, sizeof(t->model), "%s/%s", t->dir, path);
	return 0;
}

/* test "name" (function() ... end), or test("name", function() ... end) */
static int l_test_register(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_getfield(L, LUA_REGISTRYINDEX, "meshpol.tests");
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_setfield(L, -2, "name");
	lua_pushvalue(L, lua_upvalueindex(2));
	lua_setfield(L, -2, "loc");
	lua_pushvalue(L, 1);
	lua_setfield(L, -2, "fn");
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return 0;
}

static int l_test(lua_State *L)
{
	int direct = lua_isfunction(L, 2);
	luaL_checkstring(L, 1);
	lua_settop(L, 2);
	lua_pushvalue(L, 1);
	caller(L);
	lua_pushcclosure(L, l_test_register, 2);
	if (direct) {
		lua_pushvalue(L, 2);
		lua_call(L, 1, 0);
		return 0;
	}
	return 1;
}

#define MAX_UNKNOWN 8 /* unknown keys named in one error */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

uint32_t mp_ptest_check_keys(lua_State *L, int idx, const char *const *names, const char *what)
{
	const char *unknown[MAX_UNKNOWN];
	size_t nunknown = 0, more = 0;
	const char *bad_type = NULL;
	uint32_t seen = 0;
	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 6, "table keys");
	lua_newtable(L); /* keeps the unknown keys alive until the error is made */
	int keep = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING) {
			bad_type = luaL_typename(L, -1);
			continue;
		}
		const char *k = lua_tostring(L, -1);
		size_t i;
		for (i = 0; names[i] && strcmp(k, names[i]); i++)
			;
		if (names[i]) {
			seen |= i < 32 ? 1u << i : 0;
		} else if (nunknown < MAX_UNKNOWN) {
			lua_pushvalue(L, -1);
			lua_rawseti(L, keep, (lua_Integer)nunknown + 1);
			unknown[nunknown++] = k;
		} else {
			more++;
		}
	}
	if (bad_type)
		luaL_error(L, "%s: fields must be named, not a %s key", what, bad_type);
	if (nunknown) {
		/* sorted: the order of a table's keys changes from one state to the next */
		luaL_Buffer b;
		qsort(unknown, nunknown, sizeof(unknown[0]), cmp_str);
		luaL_buffinit(L, &b);
		luaL_addstring(&b, what);
		luaL_addstring(&b, nunknown + more > 1 ? ": unknown keys " : ": unknown key ");
		for (size_t i = 0; i < nunknown; i++) {
			char q[96], hint[300], one[420];
			snprintf(one, sizeof(one), "%s'%s' (%s)", i ? ", " : "",
			         mp_diag_quote(unknown[i], strlen(unknown[i]), q, sizeof(q)),
			         mp_diag_hint(unknown[i], names, hint, sizeof(hint)));
			luaL_addstring(&b, one);
		}
		if (more)
			luaL_addstring(&b, " and more");
		luaL_pushresult(&b);
		luaL_error(L, "%s", lua_tostring(L, -1));
	}
	lua_pop(L, 1);
	return seen;
}

/* The keys of the tables that expect_allow, expect_deny and decide take (docs/policy-language.md,
 * "Tests"): the request's own (from .. ip), input (a whole decision input, which replaces them),
 * then the expectation's; decide takes the request's and input. */
static const char *const expect_keys[] = {"from", "to",    "method", "path",   "port",   "headers",
                                          "ip",   "input", "rule",   "policy", "effect", NULL};
static const char *const decide_keys[] = {"from",    "to", "method", "path", "port",
                                          "headers", "ip", "input",  NULL};
#define REQUEST_KEYS 0x7fu /* the bits of from .. ip */
#define INPUT_KEY    0x80u

/* Checks an expectation's keys: known, and not both input and the request's own. */
static void check_keys(lua_State *L, int tbl, const char *const *names, const char *what)
{
	uint32_t seen = mp_ptest_check_keys(L, tbl, names, what);
	if ((seen & INPUT_KEY) && (seen & REQUEST_KEYS))
		luaL_error(L,
		           "%s: 'input' is a whole decision input: give either it or from, to, "
		           "method, path, port, headers and ip",
		           what);
}

/* t[k] if it is a string, else NULL; raises for any other type. Metamethods run (a test may take
 * defaults from an __index), so nothing says the table holds what they return: the value stays
 * on the stack, which keeps it alive until the C function calling this returns. */
static const char *opt_field(lua_State *L, int t, const char *k)
{
	luaL_checkstack(L, 2, "test expectation");
	int type = lua_getfield(L, t, k);
	if (type == LUA_TSTRING)
		return lua_tostring(L, -1);
	if (type != LUA_TNIL)
		luaL_error(L, "'%s' must be a string, not a %s", k, lua_typename(L, type));
	lua_pop(L, 1);
	return NULL;
}

/* Builds a request from an expectation table; raises for a test author's mistakes. The
 * `input` form is converted to JSON and parsed as the decision API would. */
static void build_request(lua_State *L, ptest *t, int tbl, mp_request *r, mp_header *hbuf,
                          json_t **holder)
{
	mp_model_view v = mp_model_get_view(t->m);
	char err[512];
	memset(r, 0, sizeof(*r));
	*holder = NULL;
	int type = lua_getfield(L, tbl, "input");
	if (type == LUA_TTABLE) {
		json_t *j = mp_luajson_from(L, -1);
		lua_pop(L, 1);
		if (!j || mp_request_from_json(j, r, hbuf, err, sizeof(err)) < 0) {
			json_decref(j);
			luaL_error(L, "input: %s",
			           j ? err
			             : "not convertible to JSON (out of memory, or more than "
			               "100000 values counting each path to a shared table)");
		}
		*holder = j;
		return;
	}
	if (type != LUA_TNIL)
		luaL_error(L, "'input' must be a table (a decision input), not a %s",
		           lua_typename(L, type));
	lua_pop(L, 1);
	const char *from = opt_field(L, tbl, "from");
	if (from && !strncmp(from, "spiffe://", 9)) {
		r->principal = from;
	} else if (from) {
		mp_id s = mp_model_find_service(t->m, from);
		if (s == MP_NONE)
			luaL_error(
			    L, "from: no service '%s' in the model (give a SPIFFE ID or a service)",
			    from);
		if (v.services[s].identity)
			r->principal = mp_model_str(t->m, v.services[s].identity);
		r->src_service = mp_model_str(t->m, v.services[s].name);
		r->src_namespace = mp_model_str(t->m, v.namespaces[v.services[s].ns].name);
	}
	r->dst_service = opt_field(L, tbl, "to");
	if (!r->dst_service)
		luaL_error(L, "'to' is required (a service reference or an external host)");
	if (mp_model_find_service(t->m, r->dst_service) == MP_NONE &&
	    mp_model_find_external(t->m, r->dst_service) == MP_NONE)
		luaL_error(L, "to: no service or external '%s' in the model", r->dst_service);
	r->method = opt_field(L, tbl, "method");
	r->path = opt_field(L, tbl, "path");
	r->src_ip = opt_field(L, tbl, "ip");
	type = lua_getfield(L, tbl, "port");
	if (type != LUA_TNIL) {
		lua_Integer port = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
		if (port < 1 || port > 65535)
			luaL_error(L, "'port' must be an integer 1..65535, not %s%s",
			           type == LUA_TNUMBER ? "" : "a ",
			           type == LUA_TNUMBER ? lua_tostring(L, -1)
			                               : lua_typename(L, type));
		r->port = (uint32_t)port;
	}
	lua_pop(L, 1);
	/* the headers table stays on the stack: it holds the strings hbuf points at (an __index
	 * may have made it just now) */
	luaL_checkstack(L, 3, "test expectation");
	type = lua_getfield(L, tbl, "headers");
	if (type == LUA_TTABLE) {
		r->headers = hbuf;
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "'headers' must map header names to strings");
			if (r->nheaders == MP_REQUEST_MAX_HEADERS)
				luaL_error(L, "'headers': more than %d headers",
				           MP_REQUEST_MAX_HEADERS);
			hbuf[r->nheaders].name = lua_tostring(L, -2);
			hbuf[r->nheaders++].value = lua_tostring(L, -1);
			lua_pop(L, 1);
		}
	} else if (type != LUA_TNIL) {
		luaL_error(L, "'headers' must be a table, not a %s", lua_typename(L, type));
	}
}

static void need_engine(lua_State *L, ptest *t)
{
	if (!t->ev)
		luaL_error(
		    L,
		    "no model: call model \"PATH\" at the top of the test file, or set 'model' in "
		    "bundle.yaml");
}

/* Appends the decision's reasons, one per line, to the buffer at the top of the stack. */
static void add_reasons(luaL_Buffer *b, const mp_engine *e, const mp_decision *dec)
{
	const mp_bundle *bd = e->bundle;
	for (uint32_t i = 0; i < dec->nreasons; i++) {
		const mp_reason *r = &dec->reasons[i];
		char line[1024];
		const char *kind = r->kind == MP_REASON_ALLOW  ? "allow"
		                   : r->kind == MP_REASON_DENY ? "deny"
		                                               : "error";
		if (r->rule == MP_NONE || !bd) {
			snprintf(line, sizeof(line), "\n      reason: %s: %s", kind,
			         r->message ? r->message : "");
		} else {
			const mp_rule *rule = &bd->rules[r->rule];
			snprintf(line, sizeof(line), "\n      reason: %s %s %s rule '%s' at %s%s%s",
			         kind, bd->policies[rule->policy].name,
			         bd->policies[rule->policy].version, rule->name, rule->loc,
			         r->message ? ": " : "", r->message ? r->message : "");
		}
		luaL_addstring(b, line);
	}
	if (!dec->nreasons)
		luaL_addstring(b, "\n      reason: none (no rule matched)");
}

static int has_reason(const mp_engine *e, const mp_decision *dec, const char *rule,
                      const char *policy)
{
	const mp_bundle *b = e->bundle;
	for (uint32_t i = 0; b && i < dec->nreasons; i++) {
		const mp_reason *r = &dec->reasons[i];
		if (r->rule == MP_NONE)
			continue;
		const mp_rule *ru = &b->rules[r->rule];
		if ((!rule || !strcmp(ru->name, rule)) &&
		    (!policy || !strcmp(b->policies[ru->policy].name, policy)))
			return 1;
	}
	return 0;
}

/* The effects each expectation can meet: expect_deny's, then expect_allow's. */
static const char *const deny_effects[] = {"forbidden", "not_permitted", NULL};
static const char *const allow_effects[] = {"allowed", NULL};

static int expect(lua_State *L, int want_allow)
{
	ptest *t = ctx_of(L);
	const char *what = want_allow ? "expect_allow" : "expect_deny";
	luaL_checktype(L, 1, LUA_TTABLE);
	need_engine(L, t);
	check_keys(L, 1, expect_keys, what);
	const char *where = caller(L);
	mp_request req;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	json_t *holder;
	/* read before the request: a metamethod that raises must not leak its JSON */
	const char *rule = opt_field(L, 1, "rule"), *policy = opt_field(L, 1, "policy");
	const char *effect = opt_field(L, 1, "effect");
	const char *const *effects = want_allow ? allow_effects : deny_effects;
	size_t k;
	for (k = 0; effect && effects[k] && strcmp(effect, effects[k]); k++)
		;
	if (effect && !effects[k]) {
		char q[96], hint[200];
		luaL_error(L, "%s: effect '%s' is not %s (%s)", what,
		           mp_diag_quote(effect, strlen(effect), q, sizeof(q)),
		           want_allow ? "allowed" : "forbidden or not_permitted",
		           mp_diag_hint(effect, effects, hint, sizeof(hint)));
	}
	build_request(L, t, 1, &req, hbuf, &holder);
	mp_decision dec;
	mp_decide(t->ev, &req, &dec, NULL);
	json_decref(holder);
	mp_engine *e = mp_evaluator_engine(t->ev);
	int ok = dec.allow == want_allow;
	if (ok && effect && strcmp(effect, mp_effect_name(dec.effect)))
		ok = 0;
	if (ok && (rule || policy) && !has_reason(e, &dec, rule, policy))
		ok = 0;
	if (ok)
		return 0;
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addstring(&b, where);
	luaL_addstring(&b, want_allow ? ": expected allow" : ": expected deny");
	if (effect || rule || policy) {
		luaL_addstring(&b, " (");
		if (effect)
			luaL_addstring(&b, effect);
		if (policy) {
			luaL_addstring(&b, effect ? ", policy " : "policy ");
			luaL_addstring(&b, policy);
		}
		if (rule) {
			luaL_addstring(&b, effect || policy ? ", rule " : "rule ");
			luaL_addstring(&b, rule);
		}
		luaL_addstring(&b, ")");
	}
	luaL_addstring(&b, ", got ");
	luaL_addstring(&b, mp_effect_name(dec.effect));
	add_reasons(&b, e, &dec);
	luaL_pushresult(&b);
	lua_getfield(L, LUA_REGISTRYINDEX, "meshpol.failures");
	lua_insert(L, -2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return 0;
}

static int l_expect_allow(lua_State *L)
{
	return expect(L, 1);
}
static int l_expect_deny(lua_State *L)
{
	return expect(L, 0);
}

static int l_decide(lua_State *L)
{
	ptest *t = ctx_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	need_engine(L, t);
	check_keys(L, 1, decide_keys, "decide");
	mp_request req;
	mp_header hbuf[MP_REQUEST_MAX_HEADERS];
	json_t *holder;
	build_request(L, t, 1, &req, hbuf, &holder);
	mp_decision dec;
	mp_decide(t->ev, &req, &dec, NULL);
	json_decref(holder);
	json_t **j = mp_luajson_box(L); /* a Lua error while pushing cannot leak it */
	*j = mp_decision_json(mp_evaluator_engine(t->ev), &dec, "test");
	mp_luajson_push(L, *j);
	return 1;
}

/* Prints like fprintf to the run's text output, if it has one. */
static void say(ptest *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(ptest *t, const char *fmt, ...)
{
	va_list ap;
	if (!t->o->out)
		return;
	va_start(ap, fmt);
	vfprintf(t->o->out, fmt, ap);
	va_end(ap);
}

/* Records a case (ptest.h) of file; name NULL: the file as a whole. */
static json_t *record(ptest *t, const char *file, const char *name, const char *loc,
                      const char *status, const char *error)
{
	json_t *c =
	    json_pack("{s:s, s:s, s:s, s:s, s:[]}", "file", file, "name", name ? name : "(file)",
	              "location", loc ? loc : file, "status", status, "failures");
	if (c && error)
		json_object_set_new(c, "error", json_string(error));
	if (json_array_append_new(t->res->cases, c) < 0)
		return NULL;
	return c;
}

/* Diagnostics as the text mp_diags_print writes (free it with free()); NULL when out of
 * memory. */
static char *diags_text(const mp_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	mp_diags_print(d, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	while (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	return buf;
}

/* The snapshot for the running file, from the cache or built now. NULL after printing why. */
static mp_evaluator *evaluator_for(ptest *t, const char *file)
{
	char hint[PATH_MAX];
	const char *model = t->model[0] ? t->model : NULL;
	if (!model && mp_bundle_model_hint(t->dir, hint, sizeof(hint)) == 0)
		model = hint;
	if (!model) {
		const char *why =
		    "no model: call model \"PATH\" in the file or set 'model' in bundle.yaml";
		say(t, "FAIL %s: %s\n", file, why);
		record(t, file, NULL, NULL, "error", why);
		return NULL;
	}
	for (int i = 0; i < t->nengines; i++)
		if (!strcmp(t->engines[i].model, model))
			return t->engines[i].ev;
	if (t->nengines == MAX_ENGINES) {
		say(t, "FAIL %s: more than %d different models\n", file, MAX_ENGINES);
		record(t, file, NULL, NULL, "error", "more than 16 different models");
		return NULL;
	}
	json_array_append_new(t->res->models, json_string(model));
	mp_diags d = {0};
	mp_engine *e = mp_engine_open(model, t->dir, &d);
	mp_evaluator *ev = e ? mp_evaluator_new(e, NULL, &d) : NULL;
	if (!ev) {
		char *why = diags_text(&d);
		say(t, "FAIL %s: the bundle or its model does not load:\n%s\n", file,
		    why ? why : "");
		record(t, file, NULL, NULL, "error",
		       why ? why : "the bundle or its model does not load");
		free(why);
		mp_engine_release(e);
		mp_diags_free(&d);
		return NULL;
	}
	mp_diags_free(&d);
	cached *c = &t->engines[t->nengines++];
	snprintf(c->model, sizeof(c->model), "%s", model);
	c->engine = e;
	c->ev = ev;
	return ev;
}

/* run_file's part in the sandbox's state (run protected: mp_sandbox_protect). */
typedef struct {
	ptest *t;
	const char *path;
	const char *given; /* the file's text, or NULL to read it */
	size_t given_len;
	mp_ptest_result *res;
	mp_sandbox *sb;
	mp_diags d; /* the caller frees it */
} file_run;

static int run_tests(lua_State *L, void *ud)
{
	file_run *f = ud;
	ptest *t = f->t;
	const char *path = f->path;
	mp_ptest_result *res = f->res;
	char err[2048];
	char *text;
	size_t len;
	static const luaL_Reg fns[] = {
	    {"model", l_model},
	    {"test", l_test},
	    {"expect_allow", l_expect_allow},
	    {"expect_deny", l_expect_deny},
	    {"decide", l_decide},
	    {NULL, NULL},
	};
	lua_pushglobaltable(L);
	lua_pushlightuserdata(L, t);
	luaL_setfuncs(L, fns, 1);
	lua_pop(L, 1);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "meshpol.tests");
	if (f->given) {
		text = (char *)f->given;
		len = f->given_len;
	} else if (mp_files_read(path, 16u << 20, &text, &len, &f->d) < 0) {
		char *why = diags_text(&f->d);
		say(t, "%s\n", why ? why : path);
		record(t, path, NULL, NULL, "error", why ? why : "cannot read the file");
		free(why);
		res->failed++;
		return 0;
	}
	int rc = mp_sandbox_run(f->sb, text, len, path, 0, err, sizeof(err));
	if (!f->given)
		mp_free(text);
	if (rc < 0) {
		say(t, "FAIL %s: %s\n", path, err);
		record(t, path, NULL, NULL, "error", err);
		res->failed++;
		return 0;
	}
	lua_getfield(L, LUA_REGISTRYINDEX, "meshpol.tests");
	int tests = lua_gettop(L);
	lua_Unsigned n = lua_rawlen(L, tests);
	if (!n)
		return 0;
	if (!(t->ev = evaluator_for(t, path))) {
		res->failed += (unsigned)n; /* one case says why; each of its tests counts */
		return 0;
	}
	t->m = mp_evaluator_engine(t->ev)->model;
	for (lua_Unsigned i = 1; i <= n; i++) {
		lua_rawgeti(L, tests, (lua_Integer)i);
		int test = lua_gettop(L);
		lua_getfield(L, test, "name");
		const char *name = lua_tostring(L, -1);
		if (t->o->run && !strstr(name, t->o->run)) {
			lua_settop(L, tests);
			continue;
		}
		lua_newtable(L);
		lua_setfield(L, LUA_REGISTRYINDEX, "meshpol.failures");
		lua_getfield(L, test, "fn");
		rc = mp_sandbox_pcall(f->sb, 0, 0, err, sizeof(err));
		lua_getfield(L, LUA_REGISTRYINDEX, "meshpol.failures");
		lua_Unsigned nf = lua_rawlen(L, -1);
		lua_getfield(L, test, "loc");
		const char *loc = lua_tostring(L, -1);
		json_t *c = record(t, path, name, loc,
		                   rc < 0 ? "error"
		                   : nf   ? "fail"
		                          : "pass",
		                   rc < 0 ? err : NULL);
		lua_pop(L, 1);
		if (rc == 0 && nf == 0) {
			res->passed++;
			if (t->o->verbose)
				say(t, "ok   %s: %s\n", path, name);
		} else {
			res->failed++;
			say(t, "FAIL %s: %s\n", loc, name);
			for (lua_Unsigned k = 1; k <= nf; k++) {
				lua_rawgeti(L, -1, (lua_Integer)k);
				say(t, "  %s\n", lua_tostring(L, -1));
				json_array_append_new(json_object_get(c, "failures"),
				                      json_string(lua_tostring(L, -1)));
				lua_pop(L, 1);
			}
			if (rc < 0)
				say(t, "  error: %s\n", err);
		}
		lua_settop(L, tests);
	}
	return 0;
}

/* Runs the test file at path: its text (len bytes), or NULL to read it. */
static void run_file(ptest *t, const char *path, const char *given, size_t given_len,
                     mp_ptest_result *res)
{
	char err[2048];
	mp_sandbox_opts so = {.stdlib_dir = mp_stdlib_dir()};
	file_run f = {.t = t, .path = path, .given = given, .given_len = given_len, .res = res};
	t->model[0] = '\0';
	t->ev = NULL;
	if (!(f.sb = mp_sandbox_new(&so, err, sizeof(err))) ||
	    mp_sandbox_protect(f.sb, run_tests, &f, 0, 0, err, sizeof(err)) < 0) {
		say(t, "FAIL %s: %s\n", path, err);
		record(t, path, NULL, NULL, "error", err);
		res->failed++;
	}
	mp_diags_free(&f.d);
	mp_sandbox_free(f.sb);
}

static void free_engines(ptest *t)
{
	for (int i = 0; i < t->nengines; i++) {
		mp_evaluator_free(t->engines[i].ev);
		mp_engine_release(t->engines[i].engine);
	}
}

/* The test files of a bundle archive, in its order (a walk's). -1 with errors in d. */
static int run_archive(ptest *t, mp_ptest_result *res, mp_diags *d)
{
	mp_barchive *a = mp_barchive_open(t->dir, NULL, d);
	if (!a || mp_barchive_check(a, NULL, d) < 0) {
		mp_barchive_free(a);
		return -1;
	}
	t->archive = a;
	for (uint32_t i = 0; i < a->nfiles; i++) {
		const mp_barchive_file *f = &a->files[i];
		char path[PATH_MAX];
		if (!mp_has_suffix(f->path, "_test.lua"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->dir, f->path);
		run_file(t, path, f->data, f->len, res);
		res->files++;
	}
	if (!res->files)
		mp_diags_error(d, t->dir, 0, 0, "no test files (*_test.lua)");
	return res->files ? 0 : -1;
}

int mp_ptest_run(const char *dir, const mp_ptest_opts *o, mp_ptest_result *res, mp_diags *d)
{
	static const char *const suffix[] = {"_test.lua", NULL};
	mp_pathlist files = {0};
	ptest t = {.dir = dir, .o = o, .res = res};
	memset(res, 0, sizeof(*res));
	res->cases = json_array();
	res->models = json_array();
	if (!res->cases || !res->models) {
		mp_diags_error(d, dir, 0, 0, "out of memory");
		mp_ptest_result_free(res);
		return -1;
	}
	if (mp_barchive_is_file(dir)) {
		int rc = run_archive(&t, res, d);
		free_engines(&t);
		mp_barchive_free((mp_barchive *)t.archive);
		if (rc < 0)
			mp_ptest_result_free(res);
		return rc;
	}
	if (mp_files_walk(dir, suffix, &files, d) < 0 || files.n == 0) {
		if (!d->errors)
			mp_diags_error(d, dir, 0, 0, "no test files (*_test.lua)");
		mp_pathlist_free(&files);
		mp_ptest_result_free(res);
		return -1;
	}
	for (uint32_t i = 0; i < files.n; i++) {
		run_file(&t, files.v[i], NULL, 0, res);
		res->files++;
	}
	free_engines(&t);
	mp_pathlist_free(&files);
	return 0;
}

void mp_ptest_result_free(mp_ptest_result *res)
{
	json_decref(res->cases);
	json_decref(res->models);
	res->cases = res->models = NULL;
}
