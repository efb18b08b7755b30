/* audit.c: the auditor's engine (see audit.h): the rows of the check table (check.h) that run
 * at audit time. The auditor's own rows, in order: policy `check` functions in the sandbox, then
 * the built-in analyses in C: residency paths (an undirected search from the services that
 * handle a class, through services that do not, to anything outside the jurisdiction), RBAC
 * hygiene, every declared route decided against the policies, and the findings the import rows
 * stored in the model. Output shape: docs/audit-format.md; design: docs/architecture.md. */
#include "alloc.h"
#include "audit_int.h"
#include "decide.h"
#include "diag.h"
#include "pathbase.h"
#include "sandbox.h"
#include "scope.h"
#include "version.h"

#include <lauxlib.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATH_HOPS 64

/* A parallel audit (mp_audit_stream): the Lua checks' row runs on a worker thread in an audit
 * context of its own while the calling thread runs the other rows. The progress callback is
 * only ever called from the calling thread: the worker posts its progress here. */
struct au_par {
	pthread_mutex_t lock;
	pthread_cond_t posted;
	uint64_t done[2];        /* [0] the calling thread's rows, [1] the worker's */
	const char *worker_step; /* its last step not yet reported, or NULL */
	int finished;            /* the worker's row returned */
	audit *worker;           /* its context */
	const mp_check_row *row; /* its row */
};

/* Has the caller asked the audit to stop (mp_audit_opts.interrupt)? Rows look between steps. */
static int stopped(const audit *a)
{
	return a->o->interrupt && atomic_load_explicit(a->o->interrupt, memory_order_relaxed);
}

/* Progress inside the running row: part i of n is done (n = 0: the whole row). */
static void progress(audit *a, const char *step, uint64_t i, uint64_t n)
{
	uint64_t w = a->row ? a->row->weight : 0, done = a->base + (n && i < n ? w * i / n : w);
	struct au_par *p = a->par;
	if (p) {
		int worker = a == p->worker;
		pthread_mutex_lock(&p->lock);
		p->done[worker] = done;
		if (worker) {
			p->worker_step = step;
			pthread_cond_signal(&p->posted);
		}
		done = p->done[0] + p->done[1];
		pthread_mutex_unlock(&p->lock);
		if (worker)
			return; /* the calling thread reports it */
	}
	if (a->o->progress)
		a->o->progress(a->o->progress_ctx, step, done, a->total);
}

/* --- locations and rules --- */

static au_loc loc_model(audit *a, mp_loc loc)
{
	return (au_loc){au_place(a, mp_model_str(a->m, loc.file)), (long)loc.line,
	                loc.col > 0 ? (long)loc.col : 0, NULL};
}

/* "file:line" as a location (file NULL when s names no line). */
static au_loc loc_text(audit *a, const char *s)
{
	au_loc l = {0};
	if (!au_loc_text(a, s, &l))
		l.file = NULL;
	return l;
}

/* The entry of rule (policy, name) in the report's rules, added on first use. */
static uint32_t rule_entry(audit *a, uint32_t policy, const char *name, const char *type,
                           uint32_t severity, const char *description, const char *loc)
{
	const mp_policy *p = policy == MP_NONE ? NULL : &a->b->policies[policy];
	return au_rule_entry(a, p, p ? p->name : MP_AUDIT_POLICY, name, type, severity, description,
	                     loc);
}

static void add_finding(audit *a, uint32_t rule, const char *subject, const char *message,
                        au_loc loc)
{
	au_finding(a, rule, subject, message, &loc, NULL, 0, NULL, 0);
}

/* --- policy checks in Lua --- */

/* The upvalue of `report`: live only while its check runs, so a `report` kept by policy code
 * and called later raises instead of touching a finished audit. */
typedef struct {
	audit *a;
	uint32_t rule;
} report_slot;

/* The text of the value at idx for a finding: strings as they are, elements by tostring, nil as
 * "". Always pushes the string, which stays on the stack (keeping it alive). */
static const char *text_at(lua_State *L, int idx)
{
	if (lua_isnoneornil(L, idx)) {
		lua_pushliteral(L, "");
		return lua_tostring(L, -1);
	}
	return luaL_tolstring(L, idx, NULL);
}

/* A location from a value: "file:line", or an element's loc. Pushes one string or nil. */
static const char *loc_at(lua_State *L, int idx)
{
	if (lua_type(L, idx) == LUA_TSTRING) {
		lua_pushvalue(L, idx);
		return lua_tostring(L, -1);
	}
	if (lua_type(L, idx) == LUA_TUSERDATA || lua_type(L, idx) == LUA_TTABLE) {
		lua_getfield(L, idx, "loc");
		if (lua_type(L, -1) == LUA_TSTRING)
			return lua_tostring(L, -1);
		return NULL;
	}
	lua_pushnil(L);
	return NULL;
}

/* report { subject = ..., message = ..., loc = ..., path = {...}, related = {...} } */
static int l_report(lua_State *L)
{
	report_slot *slot = lua_touserdata(L, lua_upvalueindex(1));
	if (!slot->a)
		return luaL_error(L, "report called after its check returned");
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	/* a misspelt field would silently drop what it carries: refuse it, naming the nearest */
	static const char *const fields[] = {"subject", "message", "loc", "path", "related", NULL};
	for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
		char hint[128];
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		int known = 0;
		for (const char *const *f = fields; k && *f && !known; f++)
			known = !strcmp(*f, k);
		if (!k)
			return luaL_error(L,
			                  "report: fields are named (subject, message, loc, path, "
			                  "related); got a %s key",
			                  luaL_typename(L, -2));
		if (!known)
			return luaL_error(L, "report: unknown field '%s' (%s)", k,
			                  mp_diag_hint(k, fields, hint, sizeof(hint)));
	}
	lua_getfield(L, 1, "subject"); /* 2 */
	lua_getfield(L, 1, "message"); /* 3 */
	lua_getfield(L, 1, "loc");     /* 4 */
	lua_getfield(L, 1, "path");    /* 5 */
	lua_getfield(L, 1, "related"); /* 6 */
	const char *subject = text_at(L, 2);

	if (lua_type(L, 3) != LUA_TSTRING)
		return luaL_error(L, "report: 'message' must be a string");
	/* past the cap a finding is only counted: its location, path and related are not read
	 * (a check over 100,000 routes may report tens of thousands more) */
	if (slot->rule != UINT32_MAX &&
	    slot->a->rules[slot->rule].findings >= MAX_FINDINGS_PER_RULE) {
		au_finding(slot->a, slot->rule, "", "", NULL, NULL, 0, NULL, 0);
		return 0;
	}
	const char *message = lua_tostring(L, 3);
	const char *loc = loc_at(L, lua_isnil(L, 4) ? 2 : 4);
	/* path and related: read every string first, then build JSON with no Lua call between */
	int first_path = lua_gettop(L) + 1;
	lua_Integer npath = lua_istable(L, 5) ? (lua_Integer)lua_rawlen(L, 5) : 0;
	if (npath > MAX_PATH_HOPS)
		npath = MAX_PATH_HOPS;
	lua_Integer nrel = lua_istable(L, 6) ? (lua_Integer)lua_rawlen(L, 6) : 0;
	if (nrel > MAX_PATH_HOPS)
		nrel = MAX_PATH_HOPS;
	/* a string a hop, two a related, and what luaL_tolstring uses meanwhile: far more than the
	 * LUA_MINSTACK slots a C function is given (a long path wrote past the stack) */
	luaL_checkstack(L, (int)(npath + 2 * nrel) + 8, "report: path and related");
	for (lua_Integer i = 1; i <= npath; i++) {
		lua_rawgeti(L, 5, i);
		lua_Integer at = lua_gettop(L);
		text_at(L, (int)at);
		lua_remove(L, (int)at);
	}
	int first_rel = lua_gettop(L) + 1;
	for (lua_Integer i = 1; i <= nrel; i++) {
		lua_rawgeti(L, 6, i);
		int at = lua_gettop(L);
		loc_at(L, at);
		if (lua_istable(L, at))
			lua_getfield(L, at, "message");
		else
			lua_pushnil(L);
		lua_remove(L, at);
	}
	const char *path[MAX_PATH_HOPS];
	au_loc related[MAX_PATH_HOPS];
	for (lua_Integer i = 0; i < npath; i++)
		path[i] = lua_tostring(L, first_path + (int)i);
	for (lua_Integer i = 0; i < nrel; i++) {
		related[i] = loc_text(slot->a, lua_tostring(L, first_rel + 2 * (int)i));
		related[i].message = lua_tostring(L, first_rel + 2 * (int)i + 1);
	}
	au_loc l = loc_text(slot->a, loc);
	au_finding(slot->a, slot->rule, subject, message, &l, path, (uint32_t)npath, related,
	           (uint32_t)nrel);
	return 0;
}

/* mp_sandbox_host_fn, run protected (each push can raise a memory error): pushes a check's
 * report slot (a copy of ud), then its arguments, mesh and report. */
static int push_check_args(lua_State *L, void *ud)
{
	report_slot *slot = lua_newuserdatauv(L, sizeof(*slot), 0);
	*slot = *(const report_slot *)ud;
	lua_getglobal(L, "mesh");
	lua_pushvalue(L, -2);
	lua_pushcclosure(L, l_report, 1);
	return 3;
}

static void run_checks(audit *a)
{
	char err[1024];
	mp_sandbox *sb = mp_evaluator_sandbox(a->ev, err, sizeof(err));
	if (sb) /* a stop request ends the running check at its next hook */
		mp_sandbox_watch(sb, a->o->interrupt);
	for (uint32_t i = 0; i < a->b->nchecks && !stopped(a); i++) {
		const mp_check *k = &a->b->checks[i];
		if (a->o->only_policy && strcmp(a->b->policies[k->policy].name, a->o->only_policy))
			continue;
		uint32_t rule =
		    rule_entry(a, k->policy, k->name, "check", k->severity, k->description, k->loc);
		if (!sb) {
			au_error(a, rule, err);
			continue;
		}
		lua_State *L = mp_sandbox_lua(sb);
		int top = lua_gettop(L);
		/* the slot stays below the call so that it outlives it */
		if (mp_sandbox_protect(sb, push_check_args, &(report_slot){a, rule}, 0, 3, err,
		                       sizeof(err)) < 0 ||
		    mp_evaluator_push_fn(a->ev, "runs", k->run, err, sizeof(err)) < 0) {
			au_error(a, rule, err);
			lua_settop(L, top);
			continue;
		}
		report_slot *slot = lua_touserdata(L, top + 1);
		lua_insert(L, top + 2); /* slot, run, mesh, report */
		if (mp_sandbox_pcall(sb, 2, 0, err, sizeof(err)) < 0)
			au_error(a, rule, err);
		slot->a = NULL;
		lua_settop(L, top);
		progress(a, k->name, i + 1, a->b->nchecks);
	}
	if (sb)
		mp_sandbox_watch(sb, NULL);
}

/* --- residency paths --- */

enum { N_CLASS = 1, N_TRANSIT, N_OUTSIDE, N_INSIDE_EXT };

typedef struct {
	mp_edge edge;
	int reverse; /* the hop runs against the route (the next node calls this one) */
} hop;

static int region_inside(const mp_model *m, mp_str region, const mp_rule *r)
{
	mp_id j = mp_model_jurisdiction_of_region(m, region);
	for (uint32_t k = 0; j != MP_NONE && k < r->njurisdictions; k++)
		if (r->jurisdictions[k] == j)
			return 1;
	return 0;
}

/* The first region of a service outside the rule's jurisdictions, or MP_NONE. */
static mp_str service_outside(const mp_model *m, mp_id s, const mp_rule *r)
{
	mp_model_view v = mp_model_get_view(m);
	const mp_service *sv = &v.services[s];
	for (uint32_t i = 0; i < sv->clusters.n; i++) {
		mp_str region = v.clusters[v.u32[sv->clusters.off + i]].region;
		if (!region_inside(m, region, r))
			return region;
	}
	return MP_NONE;
}

static int handles_class(const mp_model *m, mp_id s, mp_str cls)
{
	mp_model_view v = mp_model_get_view(m);
	const mp_service *sv = &v.services[s];
	for (uint32_t i = 0; i < sv->data.n; i++)
		if (v.u32[sv->data.off + i] == cls)
			return 1;
	return 0;
}

static const char *target_kind(const mp_route *r, uint32_t t)
{
	if (t >= r->failover.off && t < r->failover.off + r->failover.n)
		return "failover";
	if (t >= r->mirrors.off && t < r->mirrors.off + r->mirrors.n)
		return "mirror";
	return "destination";
}

/* Joins up to four strings into buf (len > 0), cut to fit as snprintf cuts: no snprintf, since
 * the residency and route checks name the ends of every finding's hops. */
static void join4(char *buf, size_t len, const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[4] = {a, b, c, d};
	size_t at = 0;
	for (int k = 0; k < 4 && parts[k]; k++) {
		size_t n = strlen(parts[k]);
		if (n > len - 1 - at)
			n = len - 1 - at;
		memcpy(buf + at, parts[k], n);
		at += n;
	}
	buf[at] = '\0';
}

/* "svc" or "svc@cluster" or an external's host, for subjects and paths. */
static void end_text(const mp_model *m, const mp_target *t, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	if (t->kind == MP_TARGET_EXTERNAL) {
		join4(buf, len, mp_model_str(m, v.externals[t->id].host), NULL, NULL, NULL);
		return;
	}
	const mp_service *s = &v.services[t->id];
	join4(buf, len, mp_model_str(m, v.namespaces[s->ns].name), "/", mp_model_str(m, s->name),
	      NULL);
	if (t->cluster != MP_NONE) {
		size_t at = strlen(buf);
		join4(buf + at, len - at, "@", mp_model_str(m, v.clusters[t->cluster].name), NULL,
		      NULL);
	}
}

static void svc_text(const mp_model *m, mp_id s, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	join4(buf, len, mp_model_str(m, v.namespaces[v.services[s].ns].name), "/",
	      mp_model_str(m, v.services[s].name), NULL);
}

/* Reports the leak that crosses at edge e, reached from the origin through parent hops. */
static void report_leak(audit *a, uint32_t rule, const mp_rule *rr, const char *cls, mp_id from,
                        const hop *h, const hop *parent, const mp_id *origin, const char *where)
{
	const mp_model *m = a->m;
	mp_model_view v = mp_model_get_view(m);
	hop chain[MAX_PATH_HOPS];
	int n = 0;
	if (rule == UINT32_MAX || a->rules[rule].findings >= MAX_FINDINGS_PER_RULE) {
		au_finding(a, rule, "", "", NULL, NULL, 0, NULL, 0); /* counted, not listed */
		return;
	}

	chain[n++] = *h;
	for (mp_id cur = from; cur != origin[from] && n < MAX_PATH_HOPS;) {
		chain[n++] = parent[cur];
		const mp_route *r = &v.routes[parent[cur].edge.route];
		const mp_target *t = &v.targets[parent[cur].edge.target];
		cur = parent[cur].reverse ? t->id : r->source;
	}
	/* the texts of the path's ends and hops, kept until the finding is written */
	char paths[MAX_PATH_HOPS + 1][600], hops[MAX_PATH_HOPS][700];
	const char *path[MAX_PATH_HOPS + 1];
	au_loc related[MAX_PATH_HOPS];
	uint32_t npath = 0, nrel = 0;
	char subject[2048] = "", hoptext[700];
	char *buf = paths[npath];
	svc_text(m, origin[from], buf, sizeof(paths[0]));
	path[npath++] = buf;
	snprintf(subject, sizeof(subject), "%.600s", buf);
	for (int i = n - 1; i >= 0; i--) {
		const mp_route *r = &v.routes[chain[i].edge.route];
		const mp_target *t = &v.targets[chain[i].edge.target];
		buf = paths[npath];
		if (chain[i].reverse)
			svc_text(m, r->source, buf, sizeof(paths[0]));
		else
			end_text(m, t, buf, sizeof(paths[0]));
		path[npath++] = buf;
		join4(hoptext, sizeof(hoptext), chain[i].reverse ? " <- " : " -> ", buf, NULL,
		      NULL);
		strncat(subject, hoptext, sizeof(subject) - strlen(subject) - 1);
		related[nrel] = loc_model(a, r->loc);
		snprintf(hops[nrel], sizeof(hops[0]), "route %s (%s%s)", mp_model_str(m, r->name),
		         target_kind(r, chain[i].edge.target),
		         chain[i].reverse ? ", called from outside" : "");
		related[nrel].message = hops[nrel];
		nrel++;
	}
	const mp_route *last = &v.routes[h->edge.route];
	const mp_target *lt = &v.targets[h->edge.target];
	char msg[1600];
	snprintf(
	    msg, sizeof(msg), "%s data can leave %s: %s through route %s (%s)%s; %s (rule %s)%s",
	    cls,
	    rr->njurisdictions ? mp_model_str(m, v.jurisdictions[rr->jurisdictions[0]].name) : "?",
	    where, mp_model_str(m, last->name), target_kind(last, h->edge.target),
	    n > 1 ? ", several hops from where it is handled" : "",
	    rr->message ? rr->message : "data must stay in its jurisdiction", rr->name,
	    lt->flags & (MP_TARGET_F_LOCALITY_REORDER | MP_TARGET_F_LOCALITY_FAILOVER)
	        ? ". Istio locality failover and failoverPriority only reorder endpoints: they "
	          "keep no traffic in a region unless localityLbSetting.distribute (or a deny) "
	          "excludes the other regions"
	        : "");
	au_loc l = loc_model(a, last->loc);
	au_finding(a, rule, subject, msg, &l, path, npath, related, nrel);
}

static void residency_class(audit *a, const mp_rule *rr, uint32_t rule, mp_str cls,
                            const char *cname)
{
	const mp_model *m = a->m;
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = v.nservices;
	unsigned char *kind = mp_calloc(n + 1, 1);
	unsigned char *seen = mp_calloc(n + 1, 1);
	mp_id *origin = mp_malloc((n + 1) * sizeof(mp_id));
	hop *parent = mp_malloc((n + 1) * sizeof(hop));
	mp_id *queue = mp_malloc((n + 1) * sizeof(mp_id));
	unsigned char *reported = mp_calloc(v.nroutes + 1, 1);
	if (!kind || !seen || !origin || !parent || !queue || !reported)
		goto out;
	uint32_t head = 0, tail = 0;
	char buf[600], where[900];
	for (mp_id s = 0; s < n; s++) {
		mp_str out_region = service_outside(m, s, rr);
		if (handles_class(m, s, cls)) {
			kind[s] = N_CLASS;
			if (out_region != MP_NONE) { /* handled outside to begin with */
				svc_text(m, s, buf, sizeof(buf));
				snprintf(where, sizeof(where),
				         "%s handles %s data and runs in %s, outside the "
				         "jurisdiction (rule %s)",
				         buf, cname, mp_model_str(m, out_region), rr->name);
				add_finding(a, rule, buf, where, loc_model(a, v.services[s].loc));
				continue;
			}
			seen[s] = 1;
			origin[s] = s;
			queue[tail++] = s;
		} else {
			kind[s] = out_region != MP_NONE ? N_OUTSIDE : N_TRANSIT;
		}
	}
	while (head < tail && (head % 1024 || !stopped(a))) {
		mp_id u = queue[head++];
		const mp_edge *e;
		uint32_t ne = mp_model_edges_from(m, u, &e);
		for (int dir = 0; dir < 2; dir++) {
			for (uint32_t i = 0; i < ne; i++) {
				const mp_target *t = &v.targets[e[i].target];
				const mp_route *r = &v.routes[e[i].route];
				hop h = {e[i], dir};
				mp_id other = dir ? r->source : t->id;
				int leaves;
				if (dir) { /* another service calls u: its kind decides */
					if (other == MP_NONE)
						continue; /* any caller: reported by the route check
						           */
					leaves = kind[other] == N_OUTSIDE;
				} else if (t->kind == MP_TARGET_EXTERNAL) {
					mp_id j = v.externals[t->id].jurisdiction;
					leaves = 1;
					for (uint32_t k = 0; j != MP_NONE && k < rr->njurisdictions;
					     k++)
						leaves &= rr->jurisdictions[k] != j;
				} else if (t->cluster !=
				           MP_NONE) { /* pinned: that cluster's region */
					leaves =
					    !region_inside(m, v.clusters[t->cluster].region, rr);
				} else {
					leaves = kind[other] == N_OUTSIDE;
				}
				if (leaves) {
					uint32_t idx = e[i].route;
					if (reported[idx] & (1 << dir))
						continue;
					reported[idx] |= (unsigned char)(1 << dir);
					if (dir) {
						svc_text(m, other, buf, sizeof(buf));
						snprintf(where, sizeof(where),
						         "%s (outside) calls it", buf);
					} else {
						end_text(m, t, buf, sizeof(buf));
						snprintf(where, sizeof(where),
						         "it reaches %s, outside the jurisdiction",
						         buf);
					}
					report_leak(a, rule, rr, cname, u, &h, parent, origin,
					            where);
					continue;
				}
				if (other == MP_NONE || t->kind == MP_TARGET_EXTERNAL ||
				    seen[other] || kind[other] != N_TRANSIT)
					continue;
				seen[other] = 1;
				origin[other] = origin[u];
				parent[other] = h;
				queue[tail++] = other;
			}
			ne = mp_model_edges_to(m, u, &e);
		}
	}
out:
	mp_free(kind);
	mp_free(seen);
	mp_free(origin);
	mp_free(parent);
	mp_free(queue);
	mp_free(reported);
}

static void run_residency(audit *a)
{
	for (uint32_t i = 0; i < a->b->nrules && !stopped(a); i++) {
		const mp_rule *r = &a->b->rules[i];
		if (r->type != MP_RULE_RESIDENCY ||
		    (a->o->only_policy &&
		     strcmp(a->b->policies[r->policy].name, a->o->only_policy)))
			continue;
		uint32_t rule = rule_entry(a, r->policy, r->name, "residency",
		                           a->b->policies[r->policy].severity, r->message, r->loc);
		for (uint32_t k = 0; k < r->ndata; k++)
			if (r->data_ids[k] != MP_NONE)
				residency_class(a, r, rule, r->data_ids[k], r->data[k]);
		progress(a, r->name, i + 1, a->b->nrules);
	}
}

/* --- RBAC hygiene --- */

static int is_wildcard_source(const mp_source *s)
{
	if (s->any || (s->authenticated && !s->nprincipals && !s->nnamespaces && !s->nservices &&
	               !s->nlabels))
		return 1;
	for (uint32_t i = 0; i < s->nprincipals; i++)
		if (s->principals[i].kind == MP_PAT_ANY)
			return 1;
	return 0;
}

static int is_wildcard_path(const mp_rule *r)
{
	if (!r->npaths)
		return 1;
	for (uint32_t i = 0; i < r->npaths; i++)
		if (r->paths[i].kind == MP_PAT_ANY ||
		    (r->paths[i].kind == MP_PAT_PREFIX && r->paths[i].len <= 1))
			return 1;
	return 0;
}

/* A set of pointers (open addressing), to report each shared binding once. */
typedef struct {
	const void **v;
	uint32_t cap;
} ptrset;

static int ptrset_add(ptrset *s, const void *p)
{
	uint32_t i = (uint32_t)(((uintptr_t)p >> 4) * 2654435761u) & (s->cap - 1);
	while (s->v[i]) {
		if (s->v[i] == p)
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	s->v[i] = p;
	return 1;
}

/* Does any service identity match the principal pattern? Exact patterns are a lookup. */
static int identity_exists(const mp_model *m, const mp_pattern *p)
{
	if (p->kind == MP_PAT_EXACT)
		return p->id != MP_NONE &&
		       mp_model_find_service_by_identity_id(m, p->id) != MP_NONE;
	mp_model_view v = mp_model_get_view(m);
	for (mp_id s = 0; s < v.nservices; s++) {
		mp_str id = v.services[s].identity;
		if (id && mp_pattern_match(p, mp_model_str(m, id), mp_model_str_len(m, id)))
			return 1;
	}
	return 0;
}

static void run_rbac(audit *a)
{
	const mp_model *m = a->m;
	const mp_bundle *b = a->b;
	mp_model_view v = mp_model_get_view(m);
	char subject[700], msg[1200], buf[600];
	/* rule -> the services it applies to: the bundle's index, inverted once */
	uint32_t nent = b->svc_off[v.nservices];
	uint32_t *roff = mp_calloc(b->nrules + 2, sizeof(uint32_t));
	mp_id *rsvc = mp_malloc((nent + 1) * sizeof(mp_id));
	uint32_t *fill = mp_malloc((b->nrules + 1) * sizeof(uint32_t));
	ptrset reported = {NULL, 64};
	while (reported.cap < 2 * b->nrules + 2)
		reported.cap *= 2;
	reported.v = mp_calloc(reported.cap, sizeof(void *));

	if (!roff || !rsvc || !fill || !reported.v)
		goto out;
	au_reserve_rules(a, b->nrules + b->nroles); /* a rule per grant and role, at most */
	for (uint32_t k = 0; k < nent; k++)
		roff[b->svc_rules[k] + 1]++;
	for (uint32_t r = 0; r < b->nrules; r++)
		roff[r + 1] += roff[r];
	memcpy(fill, roff, b->nrules * sizeof(uint32_t));
	for (mp_id s = 0; s < v.nservices; s++)
		for (uint32_t k = b->svc_off[s]; k < b->svc_off[s + 1]; k++)
			rsvc[fill[b->svc_rules[k]]++] = s;
	for (uint32_t i = 0; i < b->nrules && (i % 1024 || !stopped(a)); i++) {
		const mp_rule *r = &b->rules[i];
		if (r->type != MP_RULE_ALLOW ||
		    (a->o->only_policy && strcmp(b->policies[r->policy].name, a->o->only_policy)))
			continue;
		uint32_t rule = rule_entry(a, r->policy, r->name, r->via ? "role" : "allow",
		                           b->policies[r->policy].severity, r->message,
		                           r->via ? r->bind_loc : r->loc);
		/* over-broad: a wildcard caller or path on a service that handles a data class */
		int wide_src = is_wildcard_source(&r->from),
		    wide_path = is_wildcard_path(r) && !r->methods && !r->nports;
		if (wide_src || wide_path) {
			uint32_t nsens = 0;
			mp_id first = MP_NONE;
			for (uint32_t k = roff[i]; k < roff[i + 1]; k++) {
				if (!v.services[rsvc[k]].data.n)
					continue;
				if (first == MP_NONE)
					first = rsvc[k];
				nsens++;
			}
			if (first != MP_NONE) {
				svc_text(m, first, buf, sizeof(buf));
				snprintf(subject, sizeof(subject), "%s %s on %s%s",
				         r->via ? "role" : "rule", r->name, buf,
				         nsens > 1 ? " and other data services" : "");
				snprintf(msg, sizeof(msg),
				         "over-broad grant: %s%s%s on %u service%s that handle%s "
				         "data classes",
				         wide_src ? "any caller" : "",
				         wide_src && wide_path ? ", " : "",
				         wide_path ? "any method and path" : "", nsens,
				         nsens == 1 ? "" : "s", nsens == 1 ? "s" : "");
				add_finding(a, rule, subject, msg,
				            loc_model(a, v.services[first].loc));
			}
		}
		/* principals that no service of the model has; a role's entries share their
		 * binding's principals: report each binding once */
		for (uint32_t k = 0; k < r->from.nprincipals; k++) {
			const mp_pattern *p = &r->from.principals[k];
			if (p->kind == MP_PAT_ANY || identity_exists(m, p) ||
			    !ptrset_add(&reported, p))
				continue;
			snprintf(subject, sizeof(subject), "%s %s",
			         r->via ? "binding of role" : "rule", r->name);
			snprintf(msg, sizeof(msg),
			         "principal '%s%.*s%s' matches no identity of the model",
			         p->kind == MP_PAT_SUFFIX ? "*" : "", (int)p->len, p->text,
			         p->kind == MP_PAT_PREFIX ? "*" : "");
			add_finding(a, rule, subject, msg,
			            loc_text(a, r->via ? r->bind_loc : r->loc));
		}
	}
	for (uint32_t i = 0; i < b->nroles; i++) {
		const mp_role *role = &b->roles[i];
		if (role->policy >= b->npolicies || !b->policies[role->policy].enabled ||
		    (a->o->only_policy &&
		     strcmp(b->policies[role->policy].name, a->o->only_policy)))
			continue;
		uint32_t rule = rule_entry(a, role->policy, role->name, "role",
		                           b->policies[role->policy].severity, NULL, role->loc);
		if (role->nbinds)
			continue;
		snprintf(subject, sizeof(subject), "role %s", role->name);
		add_finding(a, rule, subject, "no binding grants this role to anyone",
		            loc_text(a, role->loc));
	}
out:
	mp_free(roff);
	mp_free(rsvc);
	mp_free(fill);
	mp_free(reported.v);
}

/* --- declared routes against the policies --- */

/* Is item one of the ", "-separated items of list? */
static int in_list(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; (p = strstr(p, item)); p++)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

/* The locations of a finding's related targets; each message mp_strdup'd. */
typedef struct {
	au_loc *v;
	uint32_t cap;
} loc_list;

/* Appends loc with a copy of msg as l's n-th; dropped (as jansson would) when out of memory. */
static void add_related(loc_list *l, uint32_t *n, au_loc loc, const char *msg)
{
	if (!loc.file)
		return;
	if (*n == l->cap) {
		uint32_t cap = l->cap ? 2 * l->cap : 8;
		au_loc *v = mp_realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	loc.message = mp_strdup(msg);
	if (loc.message)
		l->v[(*n)++] = loc;
}

/* One finding per route for the targets no rule permits (route-not-permitted), naming them
 * all; one per target a deny or traffic rule forbids, under that rule. */
static void run_routes(audit *a)
{
	const mp_model *m = a->m;
	const mp_bundle *b = a->b;
	mp_model_view v = mp_model_get_view(m);
	uint32_t not_permitted =
	    a->o->only_policy
	        ? UINT32_MAX
	        : rule_entry(a, MP_NONE, "route-not-permitted", "builtin", MP_SEV_MEDIUM,
	                     "every declared route is allowed by some rule", NULL);
	char subject[2048], msg[1200], buf[600], dst[600];
	loc_list rel = {0};
	for (mp_id ri = 0; ri < v.nroutes && (ri % 1024 || !stopped(a)); ri++) {
		const mp_route *r = &v.routes[ri];
		if (r->source == MP_NONE)
			continue;
		const mp_span spans[3] = {r->dests, r->mirrors, r->failover};
		int unpermitted = 0; /* some target no rule permits: nrel of them have a location */
		uint32_t nrel = 0;
		char dsts[1200] = "", kinds[400] = "";
		buf[0] = '\0'; /* the source's text, made when a finding needs it */
		for (int sp = 0; sp < 3; sp++) {
			for (uint32_t t = spans[sp].off; t < spans[sp].off + spans[sp].n; t++) {
				uint32_t ruleidx;
				mp_route_verdict verdict = mp_decide_route(a->e, ri, t, &ruleidx);
				if (verdict == MP_ROUTE_ALLOWED)
					continue;
				const mp_rule *deciding =
				    ruleidx == MP_NONE ? NULL : &b->rules[ruleidx];
				if (a->o->only_policy &&
				    (!deciding ||
				     strcmp(b->policies[deciding->policy].name, a->o->only_policy)))
					continue;
				end_text(m, &v.targets[t], dst, sizeof(dst));
				if (!deciding) {
					if (not_permitted == UINT32_MAX)
						continue;
					unpermitted = 1;
					snprintf(msg, sizeof(msg), "%s %s", target_kind(r, t), dst);
					add_related(&rel, &nrel, loc_model(a, v.targets[t].loc),
					            msg);
					if (!in_list(dsts, dst))
						snprintf(dsts + strlen(dsts),
						         sizeof(dsts) - strlen(dsts), "%s%s",
						         *dsts ? ", " : "", dst);
					if (!in_list(kinds, target_kind(r, t)))
						snprintf(kinds + strlen(kinds),
						         sizeof(kinds) - strlen(kinds), "%s%s",
						         *kinds ? ", " : "", target_kind(r, t));
					continue;
				}
				if (!buf[0])
					svc_text(m, r->source, buf, sizeof(buf));
				snprintf(subject, sizeof(subject), "route %s: %s -> %s",
				         mp_model_str(m, r->name), buf, dst);
				uint32_t rule =
				    rule_entry(a, deciding->policy, deciding->name,
				               deciding->type == MP_RULE_DENY ? "deny" : "traffic",
				               b->policies[deciding->policy].severity,
				               deciding->message, deciding->loc);
				snprintf(msg, sizeof(msg),
				         "the configuration sends this traffic (%s) and "
				         "the policies forbid "
				         "all of it (%s %s)",
				         target_kind(r, t), b->policies[deciding->policy].name,
				         deciding->name);
				add_finding(a, rule, subject, msg, loc_model(a, r->loc));
			}
		}
		if (unpermitted) {
			uint32_t n = nrel;
			if (!buf[0])
				svc_text(m, r->source, buf, sizeof(buf));
			snprintf(subject, sizeof(subject), "route %s: %s -> %s",
			         mp_model_str(m, r->name), buf, dsts);
			snprintf(msg, sizeof(msg),
			         "the configuration sends this traffic (%s%s) and no rule allows "
			         "any of it",
			         kinds, n > 1 ? ", to each of its targets" : "");
			au_loc l = loc_model(a, r->loc);
			/* one target: its location is the route's, nothing more to point at */
			au_finding(a, not_permitted, subject, msg, &l, NULL, 0,
			           n == 1 ? NULL : rel.v, n == 1 ? 0 : n);
		}
		for (uint32_t i = 0; i < nrel; i++)
			mp_free((char *)rel.v[i].message);
		if (ri % 1000 == 999)
			progress(a, "routes", ri + 1, v.nroutes);
	}
	mp_free(rel.v);
}

/* --- the findings import rows stored in the model (docs/import.md, "Findings") --- */

static void run_import(audit *a)
{
	const mp_model *m = a->m;
	mp_model_view v = mp_model_get_view(m);
	for (uint32_t i = 0; i < v.nfindings; i++) {
		const mp_import_finding *f = &v.findings[i];
		uint32_t rule = au_import_rule(a, mp_model_str(m, f->code), f->level);
		add_finding(a, rule, mp_model_str(m, f->subject), mp_model_str(m, f->text),
		            loc_model(a, f->loc));
	}
}

/* --- the auditor's rows of the check table --- */

/* Does --policy (o->only_policy) select bundle policy p? */
static int selected(const audit *a, uint32_t p)
{
	return !a->o->only_policy || !strcmp(a->b->policies[p].name, a->o->only_policy);
}

static int has_checks(const audit *a)
{
	for (uint32_t i = 0; i < a->b->nchecks; i++)
		if (selected(a, a->b->checks[i].policy))
			return 1;
	return 0;
}

static int has_residency(const audit *a)
{
	for (uint32_t i = 0; i < a->b->nrules; i++)
		if (a->b->rules[i].type == MP_RULE_RESIDENCY && selected(a, a->b->rules[i].policy))
			return 1;
	return 0;
}

/* Any bundle policy selected: every one, or the one --policy names (never meshpol.import). */
static int bundle_selected(const audit *a)
{
	return !a->o->only_policy || strcmp(a->o->only_policy, MP_IMPORT_POLICY);
}

static int has_import_findings(const audit *a)
{
	return mp_model_get_view(a->m).nfindings &&
	       (!a->o->only_policy || !strcmp(a->o->only_policy, MP_IMPORT_POLICY));
}

/* In run order. Weights: shares of the progress bar (they add up to 100), from where the wall
 * time went, row by row with --jobs 1, in the audit benchmark's audit (bench/audit_bench.sh:
 * 10,000 services, 100,000 routes, 84,000 allow rules; best of 5 on a shared machine): Lua
 * checks 1.81 s, residency 0.22 s, RBAC hygiene 0.40 s, routes 0.36 s (64/8/14/13). At 1,000
 * services residency weighs more (0.07 of 0.33 s); the bar is for the large audits. Import
 * findings are a copy of what the model holds. */
const mp_check_row mp_audit_checks[] = {
    {.id = "policy-checks",
     .weight = 64,
     .phase = MP_CHECK_AUDIT,
     .flags = MP_CHECK_NEEDS_BUNDLE,
     .applies = has_checks,
     .audit = run_checks},
    {.id = "residency",
     .weight = 8,
     .phase = MP_CHECK_AUDIT,
     .flags = MP_CHECK_NEEDS_BUNDLE,
     .applies = has_residency,
     .audit = run_residency},
    {.id = "rbac",
     .weight = 14,
     .phase = MP_CHECK_AUDIT,
     .flags = MP_CHECK_NEEDS_BUNDLE,
     .applies = bundle_selected,
     .audit = run_rbac},
    {.id = "routes", /* meshpol.audit/route-not-permitted, and the deny rules */
     .weight = 13,
     .phase = MP_CHECK_AUDIT,
     .flags = MP_CHECK_NEEDS_BUNDLE,
     .applies = bundle_selected,
     .audit = run_routes},
    {.id = "import-findings", /* what the import rows (every provider's) stored */
     .weight = 1,
     .phase = MP_CHECK_AUDIT,
     .applies = has_import_findings,
     .audit = run_import},
    {.id = NULL},
};

static int row_runs(const audit *a, const mp_check_row *r)
{
	return r->phase == MP_CHECK_AUDIT && r->audit &&
	       (a->b || !(r->flags & MP_CHECK_NEEDS_BUNDLE)) && (!r->applies || r->applies(a));
}

/* The audit's members but "findings" and "rules" (au_write_json writes those): tool, time,
 * bundle, model, sources, policies, errors, waivers, base, counts, fail_on, result and scope. */
static json_t *summary(audit *a)
{
	const mp_audit_opts *o = a->o;
	char when[32];
	time_t now = (time_t)a->now;
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *policies = json_array();
	for (uint32_t i = 0; a->b && i < a->b->npolicies; i++) {
		const mp_policy *p = &a->b->policies[i];
		if (!p->enabled || (o->only_policy && strcmp(p->name, o->only_policy)))
			continue;
		json_t *controls = json_array();
		for (uint32_t k = 0; k < p->ncontrols; k++)
			json_array_append_new(controls, json_string(p->controls[k]));
		json_t *po = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "name", p->name, "version",
		    p->version ? p->version : "", "kind", p->kind ? p->kind : "", "enforcement",
		    mp_enforcement_name(p->enforcement), "severity", mp_severity_name(p->severity),
		    "controls", controls, "file", p->file ? au_place(a, p->file) : "");
		if (po && p->description)
			json_object_set_new(po, "description", json_string(p->description));
		json_array_append_new(policies, po);
	}
	json_t *sources = json_array();
	for (uint32_t i = 0; i < o->nsources; i++)
		json_array_append_new(sources, json_string(o->sources[i]));
	/* null, not an empty object, when there is no bundle: reports and trails say so; the
	 * sources go into "model" (the shape docs/audit-format.md gives) */
	json_t *bundle =
	    a->b ? json_pack("{s:s, s:s, s:s, s:s?}", "name", a->b->name ? a->b->name : "",
	                     "revision", a->b->revision ? a->b->revision : "", "sha256",
	                     a->b->sha256, "dir", a->b->dir)
	         : json_null();
	json_t *waivers = au_waivers(a);
	json_int_t failed = 0, expired = 0, unused = 0;
	size_t i;
	json_t *w;
	int fail = a->fail, by_severity = o->fail_on_by == MP_FAIL_ON_SEVERITY;
	json_array_foreach(waivers, i, w)
	{
		const char *st = json_string_value(json_object_get(w, "status"));
		expired += !strcmp(st, "expired");
		unused += !strcmp(st, "unused");
	}
	if (expired) /* a lapsed acceptance is a decision someone owes: fail until it is made */
		fail = 1;
	for (uint32_t k = 0; k < a->nrules; k++)
		failed += a->rules[k].status == AU_FAIL || a->rules[k].status == AU_ERROR;
	json_t *out = json_pack(
	    "{s:{s:s, s:s}, s:s, s:o, s:{s:s, s:o}, s:o, s:O, s:o, s:{s:I, s:{s:I, s:I, s:I, s:I, "
	    "s:I}, s:{s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:s, s:s}",
	    "tool", "name", "meshpol", "version", MP_VERSION, "time", when, "bundle", bundle,
	    "model", "sha256", mp_model_sha256(a->m), "sources", sources, "policies", policies,
	    "errors", a->errors, "waivers", waivers, "counts", "findings", (json_int_t)a->listed,
	    "by_severity", "critical", (json_int_t)a->by_sev[4], "high", (json_int_t)a->by_sev[3],
	    "medium", (json_int_t)a->by_sev[2], "low", (json_int_t)a->by_sev[1], "info",
	    (json_int_t)a->by_sev[0], "by_enforcement", "hard", (json_int_t)a->by_enf[2], "soft",
	    (json_int_t)a->by_enf[1], "advisory", (json_int_t)a->by_enf[0], "rules",
	    (json_int_t)a->nrules, "rules_failed", failed, "errors",
	    (json_int_t)json_array_size(a->errors), "waived", (json_int_t)a->waived, "waivers",
	    (json_int_t)json_array_size(waivers), "waivers_expired", expired, "waivers_unused",
	    unused, "fail_on",
	    by_severity ? mp_severity_name(o->fail_on) : mp_enforcement_name(o->fail_on), "result",
	    fail ? "fail" : "pass");
	if (out && o->base)
		json_object_set_new(out, "base", json_string(o->base));
	if (out)
		json_object_set_new(out, "scope", mp_scope_json(a->m));
	return out;
}

struct mp_audit_result {
	json_t *summary;
	au_spools spools; /* the findings listed */
	au_rules rules;   /* written as the json report's "rules" when a report is written */
};

/* Would a rule of the Lua checks have the name of one the other rows report? A check shares
 * its policy's names with the policy's rules and roles, and a bundle policy may be named as a
 * pseudo-policy. Then the two threads would count one rule apart: the audit runs serially. */
static int names_shared(const audit *a)
{
	const mp_bundle *b = a->b;
	for (uint32_t i = 0; i < b->nchecks; i++) {
		const mp_check *k = &b->checks[i];
		const char *pol = b->policies[k->policy].name;
		if (!strcmp(pol, MP_AUDIT_POLICY) || !strcmp(pol, MP_IMPORT_POLICY))
			return 1;
		for (uint32_t r = 0; r < b->nrules; r++)
			if (b->rules[r].policy == k->policy && !strcmp(b->rules[r].name, k->name))
				return 1;
		for (uint32_t r = 0; r < b->nroles; r++)
			if (b->roles[r].policy == k->policy && !strcmp(b->roles[r].name, k->name))
				return 1;
	}
	return 0;
}

/* The row to run on a worker thread: the Lua checks, when they are the first row that runs,
 * another row runs beside them, and the audit may use two threads (o->jobs; 0: when the machine
 * has two cores). NULL: serial. */
static const mp_check_row *parallel_row(const audit *a)
{
	const mp_check_row *r, *first = NULL;
	uint32_t nrun = 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (a->o->jobs == 1 || (a->o->jobs == 0 && cores < 2))
		return NULL;
	for (uint32_t i = 0; (r = mp_check_at(i)); i++)
		if (row_runs(a, r) && !nrun++)
			first = r;
	if (nrun < 2 || first->audit != run_checks || names_shared(a))
		return NULL;
	return first;
}

static void *worker_main(void *arg)
{
	struct au_par *p = arg;
	audit *w = p->worker;
	w->row = p->row;
	p->row->audit(w);
	progress(w, p->row->id, 0, 0);
	pthread_mutex_lock(&p->lock);
	p->finished = 1;
	pthread_cond_signal(&p->posted);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Reports the worker's progress until its row returns, then joins it. */
static void wait_worker(audit *a, struct au_par *p, pthread_t t)
{
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->finished && !p->worker_step)
			pthread_cond_wait(&p->posted, &p->lock);
		const char *step = p->worker_step;
		uint64_t done = p->done[0] + p->done[1];
		int finished = p->finished;
		p->worker_step = NULL;
		pthread_mutex_unlock(&p->lock);
		if (step && a->o->progress)
			a->o->progress(a->o->progress_ctx, step, done, a->total);
		if (finished)
			break;
		pthread_mutex_lock(&p->lock);
	}
	pthread_join(t, NULL);
}

/* Runs the rows: serially, or the Lua checks on a worker thread beside the others, merged as if
 * they had run first (their findings, rules and errors before the others'), so that every
 * report is byte for byte the serial one. -1 when the merge runs out of memory. */
static int run_rows(audit *a)
{
	const mp_check_row *r, *pr = parallel_row(a);
	struct au_par par = {.row = pr};
	audit w = {.ev = a->ev, .e = a->e, .m = a->m, .b = a->b, .o = a->o, .total = a->total};
	pthread_t t;
	int threaded = 0;
	if (pr && au_open(&w) == 0 && pthread_mutex_init(&par.lock, NULL) == 0) {
		if (pthread_cond_init(&par.posted, NULL) == 0) {
			par.worker = &w;
			w.par = a->par = &par;
			threaded = pthread_create(&t, NULL, worker_main, &par) == 0;
			if (!threaded)
				pthread_cond_destroy(&par.posted);
		}
		if (!threaded)
			pthread_mutex_destroy(&par.lock);
	}
	if (!threaded) { /* serial, the worker's context unused */
		a->par = NULL;
		au_close(&w);
	}
	for (uint32_t i = 0; (r = mp_check_at(i)) && !stopped(a); i++) {
		if (!row_runs(a, r) || (threaded && r == pr))
			continue;
		a->row = r;
		r->audit(a);
		progress(a, r->id, 0, 0);
		a->base += r->weight;
	}
	a->row = NULL;
	if (!threaded)
		return 0;
	if (a->write_ahead && !stopped(a)) /* while the checks run: this side's rules are final */
		au_rules_ahead(a);
	wait_worker(a, &par, t);
	pthread_cond_destroy(&par.posted);
	pthread_mutex_destroy(&par.lock);
	w.par = a->par = NULL;
	/* the worker's audit first, as in a serial run */
	return au_merge(a, &w);
}

int mp_audit_stream(mp_evaluator *ev, const mp_audit_opts *o, FILE *out, mp_audit_result **res)
{
	const mp_engine *e = mp_evaluator_engine(ev);
	audit a = {.ev = ev, .e = e, .m = e->model, .b = e->bundle, .o = o};
	const mp_check_row *r;
	json_t *top = NULL;
	int rc = -1;
	*res = NULL;
	if (au_open(&a) < 0)
		goto out;
	for (uint32_t i = 0; (r = mp_check_at(i)); i++)
		if (row_runs(&a, r))
			a.total += r->weight;
	a.write_ahead = out != NULL; /* the json report follows at once */
	if (run_rows(&a) < 0)
		goto out;
	if (stopped(&a)) { /* what ran is a part of the audit: no result claims to be all of it */
		rc = MP_AUDIT_INTERRUPTED;
		goto out;
	}
	au_settle(&a);
	if (!(top = summary(&a)) || !(*res = mp_calloc(1, sizeof(**res))))
		goto out;
	/* the spools' sizes as written: reading them back checks they are whole */
	if (au_take_spools(&a, &(*res)->spools) < 0 || au_take_rules(&a, &(*res)->rules) < 0) {
		au_spools_close(&(*res)->spools);
		mp_free(*res);
		*res = NULL;
		goto out;
	}
	(*res)->summary = top;
	top = NULL;
	if (out && mp_audit_result_write_json(*res, out) < 0) {
		mp_audit_result_free(*res);
		*res = NULL;
		goto out;
	}
	rc = 0;
out:
	json_decref(top);
	au_close(&a);
	return rc;
}

int mp_audit_result_write_json(mp_audit_result *r, FILE *out)
{
	return au_write_json(r->summary, &r->spools, &r->rules, out);
}

json_t *mp_audit_result_summary(const mp_audit_result *r)
{
	return r->summary;
}

const au_rules *au_result_rules(const mp_audit_result *r)
{
	return &r->rules;
}

FILE *au_result_spool(const mp_audit_result *r, int i)
{
	return r->spools.part[i].f;
}

int mp_audit_result_findings(mp_audit_result *r, int (*fn)(void *ctx, json_t *finding), void *ctx)
{
	return au_spool_each(&r->spools, fn, ctx);
}

void mp_audit_result_free(mp_audit_result *r)
{
	if (!r)
		return;
	json_decref(r->summary);
	au_rules_free(&r->rules);
	au_spools_close(&r->spools);
	mp_free(r);
}

static int append_finding(void *ctx, json_t *f)
{
	return json_array_append(ctx, f) < 0 ? -1 : 0;
}

/* The tree: the streamed audit's summary as it was built (its members' keys in the order the
 * writers that copy them, SARIF's properties, print), with "findings" read back from the spool
 * and "rules" parsed from their bytes. */
json_t *mp_audit_run(mp_evaluator *ev, const mp_audit_opts *o)
{
	mp_audit_result *res = NULL;
	json_t *out = NULL, *findings = NULL, *rules = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = NULL;
	if (mp_audit_stream(ev, o, NULL, &res) < 0)
		return NULL;
	if (!(findings = json_array()) ||
	    mp_audit_result_findings(res, append_finding, findings) != 0 ||
	    !(f = open_memstream(&text, &len)))
		goto out;
	fputc('[', f);
	int bad = au_write_rules(&res->rules, f) < 0;
	fputc(']', f);
	bad |= fclose(f) != 0;
	if (bad || !(rules = json_loadb(text, len, 0, NULL)) ||
	    json_object_set(res->summary, "rules", rules) < 0 ||
	    json_object_set(res->summary, "findings", findings) < 0)
		goto out;
	out = json_incref(res->summary);
out:
	json_decref(findings);
	json_decref(rules);
	free(text);
	mp_audit_result_free(res);
	return out;
}
