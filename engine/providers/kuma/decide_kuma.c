/* decide_kuma.c: one request decided as Kuma's inbound RBAC decides it (see kuma_authz.h), on
 * every dataplane inbound behind the destination (a request may land on any; the strictest
 * wins). A mesh without mTLS (and a proxy without a workload identity) builds no RBAC: Kuma
 * lets everyone in. Plaintext meets the inbound's mode first: refused when strict, let in
 * unchecked when permissive. With a workload identity the rules form decides (any deny
 * matcher denies, else any allow admits, else deny); otherwise the from form (the last entry
 * matching the client, over the selected policies in Kuma's order), else the one legacy
 * TrafficPermission Kuma picked, else deny. Semantics and sources: docs/import.md ("Kuma");
 * the state: kuma_state.h. */
#include "kuma_int.h"
#include "kuma_state.h"

#include <stdio.h>
#include <string.h>

#define MAX_HITS  8
#define MAX_UNITS 64

typedef struct {
	const char *policy, *version, *rule, *source;
} hit;

/* What one inbound decided. */
typedef struct {
	uint32_t verdict; /* MP_PROVIDER_*; ABSTAIN: Kuma's implicit allow */
	uint32_t kind;    /* MP_REASON_ALLOW or DENY */
	hit h[MAX_HITS];
	uint32_t nh;
	const char *fmt, *a1, *a2;
	const hit *shadow; /* admitted by AllowWithShadowDeny: an advisory */
	hit shadow_hit;
	mp_id workload;
} outcome;

typedef struct {
	const mp_kmauthz *a;
	const mp_request *r;
	const char *principal; /* NULL: plaintext */
	json_t *explain;
	const char *wname;
} dctx;

static void explain(const dctx *x, const char *type, const char *policy, const char *version,
                    const char *rule, const char *source, const char *why)
{
	if (!x->explain)
		return;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "policy", policy ? policy : "",
	                      "version", version ? version : "", "rule", rule ? rule : "", "type",
	                      type, "source", source ? source : "", "matched", !why);
	if (o && why)
		json_object_set_new(o, "why", json_string(why));
	if (o && x->wname)
		json_object_set_new(o, "workload", json_string(x->wname));
	if (o)
		json_array_append_new(x->explain, o);
}

static void set(outcome *o, uint32_t verdict, const char *policy, const char *version,
                const char *rule, const char *source, const char *fmt, const char *a1,
                const char *a2)
{
	o->verdict = verdict;
	o->kind = verdict == MP_PROVIDER_ALLOW || verdict == MP_PROVIDER_ABSTAIN ? MP_REASON_ALLOW
	                                                                         : MP_REASON_DENY;
	o->h[0] = (hit){policy, version, rule, source};
	o->nh = 1;
	o->fmt = fmt;
	o->a1 = a1;
	o->a2 = a2;
	o->shadow = NULL;
}

/* The client as its certificate shows it to this mesh: spiffe://MESH/SERVICE names its
 * service; its tags are source.labels, else those of the service's inbounds in the model. */
static km_client client_of(const dctx *x, const char *mesh)
{
	km_client c = {NULL, NULL};
	size_t ml = strlen(mesh);
	const char *p = x->principal;
	if (p && !strncmp(p, "spiffe://", 9) && !strncmp(p + 9, mesh, ml) && p[9 + ml] == '/' &&
	    !strchr(p + 10 + ml, '/'))
		c.service = p + 10 + ml;
	if (json_is_object(x->r->src_labels)) {
		c.tags = x->r->src_labels;
		return c;
	}
	for (uint32_t i = 0; c.service && i < x->a->nclients; i++)
		if (!strcmp(x->a->clients[i].service, c.service) &&
		    !strcmp(x->a->clients[i].mesh, mesh)) {
			c.tags = x->a->clients[i].tags;
			break;
		}
	return c;
}

static const char *default_deny = "nothing allows the client on this inbound: %s denies it "
                                  "(Kuma's RBAC matches no rule, its default is deny)%s";

/* The rules form: any deny matcher of any selected policy denies; else any allow or
 * allowWithShadowDeny admits; else deny (078-special-mtp-algo.md). */
static void rules_form(const dctx *x, const ks_dp *dp, const ks_in *in, outcome *o)
{
	const mp_kmauthz *a = x->a;
	hit deny[MAX_HITS], allow[MAX_HITS];
	uint32_t nd = 0, na = 0;
	const ks_matcher *shadow = NULL;
	const ks_policy *shadow_p = NULL;
	size_t plen = strlen(x->principal);
	for (uint32_t i = 0; i < in->nmtp; i++) {
		const ks_policy *p = &a->pol[in->mtp[i]];
		if (!p->rules) {
			explain(x, "kuma.policy", p->title, p->version, "from", p->source,
			        "the proxy has a workload identity: Kuma ignores the from form");
			continue;
		}
		for (uint32_t k = 0; k < p->nm; k++) {
			const ks_matcher *t = &p->m[k];
			size_t vl = t->value ? strlen(t->value) : 0;
			int hitm = t->value &&
			           (t->prefix ? plen >= vl && !memcmp(x->principal, t->value, vl)
			                      : !strcmp(x->principal, t->value));
			explain(x, "kuma.matcher", p->title, p->version, t->rule, t->source,
			        hitm ? NULL : "the client's SPIFFE ID does not match");
			if (!hitm)
				continue;
			hit h = {p->title, p->version, t->rule, t->source};
			if (t->action == KS_DENY && nd < MAX_HITS)
				deny[nd++] = h;
			else if (t->action != KS_DENY && na < MAX_HITS)
				allow[na++] = h;
			if (t->action == KS_SHADOW && !shadow)
				shadow = t, shadow_p = p;
		}
	}
	if (nd) {
		set(o, MP_PROVIDER_DENY, NULL, NULL, NULL, NULL,
		    "a deny matcher matches the client: Kuma denies it whatever allows it%s%s", "",
		    "");
		memcpy(o->h, deny, nd * sizeof(*deny));
		o->nh = nd;
		return;
	}
	if (na) {
		set(o, MP_PROVIDER_ALLOW, NULL, NULL, NULL, NULL,
		    "an allow matcher matches the client and no deny matcher does%s%s", "", "");
		memcpy(o->h, allow, na * sizeof(*allow));
		o->nh = na;
		if (shadow) {
			o->shadow_hit =
			    (hit){shadow_p->title, shadow_p->version, shadow->rule, shadow->source};
			o->shadow = &o->shadow_hit;
		}
		return;
	}
	set(o, MP_PROVIDER_NOT_PERMITTED, dp->mesh->title, dp->mesh->version, "default:deny",
	    dp->mesh->source, default_deny, dp->mesh->title, "");
}

/* The legacy TrafficPermission Kuma picked for the inbound: one of its sources matches the
 * client, or nothing admits it. */
static void traffic_permission(const dctx *x, const ks_dp *dp, const ks_in *in, outcome *o)
{
	const ks_policy *p = &x->a->pol[in->tp];
	km_client c = client_of(x, dp->mesh_name);
	json_t *s;
	size_t i;
	json_array_foreach(p->sources, i, s)
	{
		int ok = km_source_matches(json_object_get(s, "match"), &c);
		explain(x, "kuma.permission", p->title, p->version, p->src_rule[i],
		        p->src_source[i], ok ? NULL : "the client's tags do not match the source");
		if (ok) {
			set(o, MP_PROVIDER_ALLOW, p->title, p->version, p->src_rule[i],
			    p->src_source[i],
			    "%s, the TrafficPermission Kuma picks for this inbound, lists the "
			    "client (%s)",
			    p->title, p->src_rule[i]);
			return;
		}
	}
	set(o, MP_PROVIDER_NOT_PERMITTED, p->title, p->version, "no-source-matched", p->source,
	    "%s is the TrafficPermission Kuma picks for this inbound (the best match of its "
	    "destinations), and none of its sources is the client%s",
	    p->title, "");
}

/* The from form: the selected policies' from[] entries in Kuma's order; the last one that
 * matches the client decides (BuildFromRules, merge.Confs). */
static void from_form(const dctx *x, const ks_dp *dp, const ks_in *in, outcome *o)
{
	const mp_kmauthz *a = x->a;
	km_client c = client_of(x, dp->mesh_name);
	const ks_policy *lp = NULL;
	const ks_from *last = NULL;
	uint32_t with_from = 0;
	for (uint32_t i = 0; i < in->nmtp; i++) {
		const ks_policy *p = &a->pol[in->mtp[i]];
		if (!p->nfrom) {
			explain(
			    x, "kuma.policy", p->title, p->version, "rules", p->source,
			    "no MeshIdentity gives the proxy a workload identity: Kuma applies the "
			    "from form only");
			continue;
		}
		with_from++;
		for (uint32_t k = 0; k < p->nfrom; k++) {
			int ok = km_from_matches(p->from[k].ref, &c);
			explain(x, "kuma.policy", p->title, p->version, p->from[k].rule,
			        p->from[k].source,
			        ok ? NULL : "its targetRef does not match the client");
			if (ok)
				lp = p, last = &p->from[k];
		}
	}
	if (!with_from && in->tp != UINT32_MAX) {
		traffic_permission(x, dp, in, o);
		return;
	}
	if (!last) {
		set(o, MP_PROVIDER_NOT_PERMITTED, dp->mesh->title, dp->mesh->version,
		    "default:deny", dp->mesh->source, default_deny, dp->mesh->title, "");
		return;
	}
	if (last->action == KS_DENY) {
		set(o, MP_PROVIDER_DENY, lp->title, lp->version, last->rule, last->source,
		    "%s of %s, the last entry that matches the client in Kuma's order, is Deny",
		    last->rule, lp->title);
		return;
	}
	set(o, MP_PROVIDER_ALLOW, lp->title, lp->version, last->rule, last->source,
	    last->action == KS_SHADOW
	        ? "%s of %s, the last entry that matches the client in Kuma's "
	          "order, is AllowWithShadowDeny: allowed"
	        : "%s of %s, the last entry that matches the client in Kuma's "
	          "order, is Allow",
	    last->rule, lp->title);
	if (last->action == KS_SHADOW) {
		o->shadow_hit = o->h[0];
		o->shadow = &o->shadow_hit;
	}
}

static void decide_inbound(const dctx *x, const ks_dp *dp, const ks_in *in, outcome *o)
{
	char what[32];
	snprintf(what, sizeof(what), "port %u", in->k.port);
	explain(x, "kuma.dataplane", dp->title, "", what, dp->source, NULL);
	if (!dp->mesh) {
		set(o, MP_PROVIDER_NOT_PERMITTED, dp->title, "", "mesh-not-found", dp->source,
		    "the dataplane's mesh '%s' does not exist: Kuma admits no dataplane of it%s",
		    dp->mesh_name, "");
		return;
	}
	if (!dp->identity && !dp->mesh->mtls) {
		set(o, MP_PROVIDER_ABSTAIN, dp->mesh->title, dp->mesh->version, "mtls:off",
		    dp->mesh->source,
		    "%s has no mTLS and no MeshIdentity gives the proxy an identity: Kuma builds "
		    "no "
		    "RBAC filter and lets every client in%s",
		    dp->mesh->title, "");
		explain(x, "kuma.mtls", dp->mesh->title, dp->mesh->version, "mtls:off",
		        dp->mesh->source, NULL);
		return;
	}
	if (!x->principal) {
		const ks_mode *m = &in->mode;
		explain(x, "kuma.mtls", m->title, m->version, m->rule, m->source,
		        m->strict ? "the inbound requires mTLS and the client sends plaintext"
		                  : NULL);
		if (m->strict)
			set(o, MP_PROVIDER_NOT_PERMITTED, m->title, m->version, m->rule, m->source,
			    "the inbound requires mTLS (%s): a plaintext client is refused before "
			    "any "
			    "permission%s",
			    m->title, "");
		else
			set(o, MP_PROVIDER_ABSTAIN, m->title, m->version, m->rule, m->source,
			    "the inbound is permissive (%s): a plaintext client is let in, and no "
			    "permission checks it%s",
			    m->title, "");
		return;
	}
	if (dp->identity)
		rules_form(x, dp, in, o);
	else
		from_form(x, dp, in, o);
}

/* --- the request --- */

static void add(mp_decision *d, const hit *h, uint32_t kind, const char *msg, int advisory)
{
	mp_reason_origin og = {.provider = mp_provider_kuma.name,
	                       .resource = h->policy,
	                       .version = h->version ? h->version : "",
	                       .rule = -1,
	                       .rule_name = h->rule ? h->rule : "",
	                       .source = h->source ? h->source : ""};
	mp_decision_add(d, kind, msg, advisory, h->policy ? &og : NULL);
}

/* Adds the reasons of o, each unless one with the same resource and rule is there. */
static void add_outcome(mp_decision *d, const outcome *o, int mixed, const mp_model *m)
{
	const char *msg = mp_decision_text(d, o->fmt, o->a1 ? o->a1 : "", o->a2 ? o->a2 : "");
	if (mixed && o->workload != MP_NONE)
		msg = mp_decision_text(
		    d, "%s (workload %s)", msg,
		    mp_model_str(m, mp_model_get_view(m).workloads[o->workload].name));
	for (uint32_t k = 0; k < o->nh; k++) {
		uint32_t i;
		for (i = 0; i < d->nreasons; i++) {
			const mp_reason_origin *g = &d->reasons[i].origin;
			if (g->provider == mp_provider_kuma.name && g->resource == o->h[k].policy &&
			    g->rule_name == o->h[k].rule)
				break;
		}
		if (i == d->nreasons)
			add(d, &o->h[k], o->kind, msg, 0);
	}
}

static const mp_reason_origin no_proxy = {.provider = "kuma",
                                          .resource = "kuma.io/sidecar-injection",
                                          .version = "",
                                          .rule = -1,
                                          .rule_name = "not-meshed",
                                          .source = ""};

static int port_is(const ks_in *in, uint32_t port)
{
	return !port || in->k.port == port || in->service_port == port;
}

uint32_t mp_kmauthz_decide(const mp_kmauthz *a, const mp_provider_request *q, mp_decision *d,
                           json_t *explain_arr, int fallback)
{
	const mp_model *m = a->m;
	const mp_request *r = q->r;
	mp_model_view v = mp_model_get_view(m);
	outcome units[MAX_UNITS];
	uint32_t nu = 0, verdict = MP_PROVIDER_ABSTAIN, meshed = 0;
	const mp_id *ids;
	dctx x = {a, r, r->principal && *r->principal ? r->principal : NULL, explain_arr, NULL};
	if (q->dst_svc == MP_NONE) /* an external host: no Kuma inbound decides */
		return MP_PROVIDER_ABSTAIN;
	uint32_t nw = mp_model_workloads_of_service(m, q->dst_svc, &ids);
	for (uint32_t i = 0; i < nw && nu < MAX_UNITS; i++) {
		const mp_workload *w = &v.workloads[ids[i]];
		uint32_t di = a->dp_of[ids[i]], n = 0;
		if ((q->dst_cluster != MP_NONE && w->cluster != q->dst_cluster) ||
		    (r->dst_workload && strcmp(r->dst_workload, mp_model_str(m, w->name))) ||
		    di == UINT32_MAX)
			continue; /* no Kuma proxy there */
		const ks_dp *dp = &a->dps[di];
		x.wname = mp_model_str(m, w->name);
		meshed++;
		for (uint32_t k = 0; k < dp->nin && nu < MAX_UNITS; k++) {
			if (dp->in[k].svc != q->dst_svc || !port_is(&dp->in[k], r->port))
				continue;
			decide_inbound(&x, dp, &dp->in[k], &units[nu]);
			units[nu].workload = ids[i];
			n++;
			nu++;
		}
		if (!n && nu < MAX_UNITS) {
			char what[32];
			snprintf(what, sizeof(what), "port %u", r->port);
			explain(&x, "kuma.dataplane", dp->title, "", what, dp->source,
			        "no inbound of the service listens on that port");
			set(&units[nu], MP_PROVIDER_NOT_PERMITTED, dp->title, "", "no-inbound",
			    dp->source,
			    "%s has no inbound of the service on the request's port: its proxy "
			    "accepts no such connection%s",
			    dp->title, "");
			units[nu++].workload = ids[i];
		}
	}
	for (uint32_t i = 0; i < nu; i++)
		if (units[i].verdict > verdict)
			verdict = units[i].verdict;
	if (fallback) {
		if (!meshed)
			mp_decision_add(
			    d, MP_REASON_ALLOW,
			    "the destination runs no Kuma proxy (no dataplane: its pods are "
			    "not injected): Kuma has no say",
			    0, &no_proxy);
		for (uint32_t i = 0; i < nu; i++)
			if (units[i].verdict == MP_PROVIDER_ABSTAIN)
				add_outcome(d, &units[i], 0, m);
		return MP_PROVIDER_ALLOW;
	}
	int mixed = 0;
	for (uint32_t i = 1; i < nu; i++)
		mixed |= units[i].verdict != units[0].verdict;
	for (uint32_t i = 0; i < nu; i++) {
		if (units[i].verdict == verdict && verdict != MP_PROVIDER_ABSTAIN)
			add_outcome(d, &units[i], mixed, m);
		if (units[i].shadow && units[i].verdict == verdict)
			add(d, units[i].shadow, MP_REASON_AUDIT,
			    mp_decision_text(
			        d,
			        "%s admits the client with AllowWithShadowDeny: Kuma lets it "
			        "in and logs the request as one it would deny (%s)",
			        units[i].shadow->policy, units[i].shadow->rule),
			    1);
	}
	return verdict;
}
