/* compile_native.c: the native format (meshpol.io/v1): each document decoded through its kind's
 * field table (declarative, below) into raw elements, its YAML freed at once (pass 1); then
 * references resolved and everything added to the model in source order (pass 2). The driver
 * that calls it: compile.c. Format: docs/mesh-format.md; design: docs/architecture.md
 * ("Compiling"). */
#include "alloc.h"
#include "compile_int.h"
#include "files.h"
#include "scalar.h"
#include "yamlload.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- raw values: what pass 1 records, with the location of each for pass 2's errors --- */

typedef struct rstr {
	mp_str s;
	mp_loc loc;
	int set;
} rstr;

typedef struct {
	uint32_t v;
	mp_loc loc;
	int set;
} ru32;

typedef struct {
	uint32_t off, n; /* into a pool: c->strs, c->targets, or the model's labels or ports */
	mp_loc loc;
	int set;
} rspan;

typedef struct {
	int64_t v;
	mp_loc loc;
	int set;
} rtime;

typedef struct {
	rstr service, external, cluster;
	ru32 weight;
} rtarget_fields;

typedef struct rtarget {
	mp_str ref; /* service reference or external name/host */
	int hint;   /* 0: either, 1: service, 2: external */
	mp_str cluster;
	uint32_t weight;
	int has_weight;
	mp_loc loc;
} rtarget;

typedef struct {
	rstr exact, prefix, regex;
} rpath;

/* Set when a nested mapping (T_SUB) was present, with its location. */
typedef struct {
	int set;
	mp_loc loc;
} rsub;

typedef struct {
	ru32 methods;
	rpath path;
	rsub path_set;
	rspan headers;
} rmatch;

typedef struct {
	ru32 attempts, per_try;
} rretries;

typedef struct {
	ru32 port;
	rstr protocol, name;
} rport;

typedef struct {
	rstr name, provider, region, zone, network;
} rcluster;
typedef struct {
	rstr name;
	rspan regions;
} rjurisdiction;
typedef struct {
	rstr name;
	rspan labels, data;
} rnamespace;
typedef struct rservice {
	rstr name, ns, identity, owner;
	ru32 mtls;
	rspan cluster, clusters, labels, ports, data;
	mp_loc loc;
} rservice;
typedef struct rroute {
	rstr name, source;
	rspan dest, dests, mirror, mirrors, failover;
	rmatch match;
	rsub match_set;
	ru32 timeout;
	rretries retries;
	rsub retries_set;
	mp_loc loc;
} rroute;
typedef struct rexternal {
	rstr name, host, region, jurisdiction;
	rspan ports;
	mp_loc loc;
} rexternal;
typedef struct {
	rstr name, subject, identity, pem;
	rtime not_after;
} rcert;

/* --- pools and nodes --- */

/* Appends one element to a compiler vector; returns its index, or MP_NONE (and marks oom). */
#define APPEND(c, vec, val)                                                                        \
	(mp_grow((void **)&(vec).v, &(vec).cap, sizeof(*(vec).v), (vec).n, 32) < 0                 \
	     ? ((c)->oom = 1, MP_NONE)                                                             \
	     : ((vec).v[(vec).n] = (val), (vec).n++))

static mp_loc loc_of(compiler *c, const yaml_node_t *n)
{
	return (mp_loc){c->file_id, (uint32_t)n->start_mark.line + 1,
	                (uint32_t)n->start_mark.column + 1};
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* --- field tables --- */

typedef enum {
	T_STR,      /* rstr */
	T_STRLIST,  /* rspan into c->strs; a list of scalars (a lone scalar is an error) */
	T_STRONE,   /* rspan into c->strs: one scalar, as a one-item list (a service's cluster) */
	T_LABELS,   /* rspan into the model's label pool; mapping of scalars */
	T_PORTS,    /* rspan into the model's port pool */
	T_U32,      /* ru32, within [min, max] */
	T_MTLS,     /* ru32 mp_mtls */
	T_DURATION, /* ru32 milliseconds */
	T_TARGET,   /* rspan into c->targets: one target (a scalar or a mapping), not a list */
	T_TARGETS,  /* rspan into c->targets: a list of targets */
	T_METHODS,  /* ru32 bitmask */
	T_TIME,     /* rtime */
	T_SUB,      /* a nested mapping decoded with sub; the rsub at set_off records it */
} ftype;

typedef struct schema schema;
typedef struct {
	const char *name;
	ftype type;
	int required;
	size_t off;
	uint32_t min, max;
	const schema *sub;
	size_t set_off;
} field;

struct schema {
	const char *kind;
	const field *fields;
	size_t nfields;
	size_t size;
	/* Runs after the fields decode, with the element's mapping node. */
	void (*finish)(compiler *c, void *raw, const yaml_node_t *node, const char *what);
};

#define F(st, fname, type, req)                                                                    \
	{                                                                                          \
#fname, type, req, offsetof(st, fname), 0, 0, NULL, 0                              \
	}
#define FN(st, key, member, type, req)                                                             \
	{                                                                                          \
		key, type, req, offsetof(st, member), 0, 0, NULL, 0                                \
	}
#define FR(st, fname, type, req, lo, hi)                                                           \
	{                                                                                          \
#fname, type, req, offsetof(st, fname), lo, hi, NULL, 0                            \
	}
#define FSUB(st, key, member, sch, flag)                                                           \
	{                                                                                          \
		key, T_SUB, 0, offsetof(st, member), 0, 0, &sch, offsetof(st, flag)                \
	}
#define SCHEMA(name, st, tbl, fin)                                                                 \
	{                                                                                          \
		name, tbl, sizeof(tbl) / sizeof(tbl[0]), sizeof(st), fin                           \
	}

static int decode_mapping(compiler *c, const yaml_node_t *node, const schema *sch, void *raw,
                          const char *what);

/* A list of strings (one: a single string instead) into c->strs. */
static int decode_strlist(compiler *c, const yaml_node_t *n, rspan *out, const char *what,
                          const char *fname, int one)
{
	out->off = c->strs.n;
	if (one && n->type == YAML_SCALAR_NODE && !mp_yaml_is_null(n)) {
		rstr s = {cc_intern(c, scalar(n), n->data.scalar.length), loc_of(c, n), 1};
		APPEND(c, c->strs, s);
		out->n = 1;
		return 0;
	}
	if (one || n->type != YAML_SEQUENCE_NODE) {
		char q[80];
		int sc = n->type == YAML_SCALAR_NODE && !mp_yaml_is_null(n);
		cc_errorf(c, loc_of(c, n), "%s: '%s' must be %s, not %s%s%s%s", what, fname,
		          one ? "a string" : "a list of strings",
		          sc ? "the scalar '" : mp_yaml_kind_of(n),
		          sc ? mp_diag_quote(scalar(n), n->data.scalar.length, q, sizeof(q)) : "",
		          sc ? "'" : "", sc ? " (write [...] for a list, even of one)" : "");
		return -1;
	}
	int bad = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (item->type != YAML_SCALAR_NODE || mp_yaml_is_null(item)) {
			cc_errorf(c, loc_of(c, item), "%s: items of '%s' must be strings, not %s",
			          what, fname, mp_yaml_kind_of(item));
			bad = 1;
			continue;
		}
		rstr s = {cc_intern(c, scalar(item), item->data.scalar.length), loc_of(c, item), 1};
		APPEND(c, c->strs, s);
	}
	out->n = c->strs.n - out->off;
	return bad ? -1 : 0;
}

static int decode_labels(compiler *c, const yaml_node_t *n, rspan *out, const char *what,
                         const char *fname)
{
	if (n->type != YAML_MAPPING_NODE) {
		cc_errorf(c, loc_of(c, n), "%s: '%s' must be a mapping of strings, not %s", what,
		          fname, mp_yaml_kind_of(n));
		return -1;
	}
	int bad = 0;
	out->off = MP_NONE;
	out->n = 0;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
			cc_errorf(c, loc_of(c, k->type != YAML_SCALAR_NODE ? k : v),
			          "%s: '%s' must map strings to strings", what, fname);
			bad = 1;
			continue;
		}
		mp_label l = {cc_intern(c, scalar(k), k->data.scalar.length),
		              cc_intern(c, scalar(v), v->data.scalar.length)};
		uint32_t off = mp_model_push_labels(c->m, &l, 1);
		if (off == MP_NONE) {
			c->oom = 1;
			return -1;
		}
		if (out->off == MP_NONE)
			out->off = off;
		out->n++;
	}
	if (out->off == MP_NONE)
		out->off = 0;
	return bad ? -1 : 0;
}

static const char *const protocols[] = {"http", "http2", "grpc", "https", "tls", "tcp", NULL};

static const field port_fields[] = {
    FR(rport, port, T_U32, 1, 1, 65535),
    F(rport, protocol, T_STR, 0),
    F(rport, name, T_STR, 0),
};
static const schema port_schema = SCHEMA("port", rport, port_fields, NULL);

static int decode_ports(compiler *c, const yaml_node_t *n, rspan *out, const char *what,
                        const char *fname)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		cc_errorf(c, loc_of(c, n), "%s: '%s' must be a list of ports, not %s", what, fname,
		          mp_yaml_kind_of(n));
		return -1;
	}
	int bad = 0;
	out->off = 0;
	out->n = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		rport rp;
		memset(&rp, 0, sizeof(rp));
		if (decode_mapping(c, item, &port_schema, &rp, what) < 0) {
			bad = 1;
			continue;
		}
		mp_port p = {rp.port.v, cc_intern(c, "tcp", 3), rp.name.s};
		if (rp.protocol.set) {
			char lower[16];
			const char *s = cc_str(c, rp.protocol.s);
			size_t i, len = strlen(s);
			int known = 0;
			for (i = 0; i < len && i < sizeof(lower) - 1; i++)
				lower[i] = (char)tolower((unsigned char)s[i]);
			lower[i] = '\0';
			for (size_t k = 0; protocols[k]; k++)
				known |= len < sizeof(lower) && !strcmp(lower, protocols[k]);
			if (!known) {
				char hint[120];
				cc_errorf(c, rp.protocol.loc, "%s: unknown protocol '%s' (%s)",
				          what, s, mp_diag_hint(s, protocols, hint, sizeof(hint)));
				bad = 1;
				continue;
			}
			p.protocol = cc_intern(c, lower, strlen(lower));
		}
		uint32_t off = mp_model_push_ports(c->m, &p, 1);
		if (off == MP_NONE) {
			c->oom = 1;
			return -1;
		}
		if (!out->n)
			out->off = off;
		out->n++;
	}
	return bad ? -1 : 0;
}

static const field target_fields[] = {
    F(rtarget_fields, service, T_STR, 0),
    F(rtarget_fields, external, T_STR, 0),
    F(rtarget_fields, cluster, T_STR, 0),
    FR(rtarget_fields, weight, T_U32, 0, 0, 100),
};
static const schema target_schema = SCHEMA("target", rtarget_fields, target_fields, NULL);

static int decode_target(compiler *c, const yaml_node_t *n, const char *what)
{
	rtarget t = {.loc = loc_of(c, n)};
	if (n->type == YAML_SCALAR_NODE && !mp_yaml_is_null(n)) {
		const char *s = scalar(n);
		const char *at = strchr(s, '@');
		size_t len = at ? (size_t)(at - s) : n->data.scalar.length;
		if (!len || (at && !at[1])) {
			cc_errorf(c, t.loc,
			          "%s: malformed target '%s' (expected REF or REF@cluster)", what,
			          s);
			return -1;
		}
		t.ref = cc_intern(c, s, len);
		if (at) {
			t.cluster = cc_intern(c, at + 1, strlen(at + 1));
			t.hint = 1;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		rtarget_fields f;
		memset(&f, 0, sizeof(f));
		if (decode_mapping(c, n, &target_schema, &f, what) < 0)
			return -1;
		if (f.service.set == f.external.set) {
			cc_errorf(c, t.loc,
			          "%s: a target needs exactly one of 'service' or 'external'",
			          what);
			return -1;
		}
		if (f.external.set && f.cluster.set) {
			cc_errorf(c, f.cluster.loc,
			          "%s: 'cluster' applies to services, not externals", what);
			return -1;
		}
		t.ref = f.service.set ? f.service.s : f.external.s;
		t.hint = f.service.set ? 1 : 2;
		t.cluster = f.cluster.set ? f.cluster.s : 0;
		t.weight = f.weight.v;
		t.has_weight = f.weight.set;
	} else {
		cc_errorf(c, t.loc, "%s: a target must be a string or a mapping, not %s", what,
		          mp_yaml_kind_of(n));
		return -1;
	}
	APPEND(c, c->targets, t);
	return 0;
}

/* A list of targets, or (one) a single target, into c->targets. */
static int decode_targets(compiler *c, const yaml_node_t *n, rspan *out, const char *what,
                          const char *fname, int one)
{
	out->off = c->targets.n;
	int bad = 0;
	if (one == (n->type == YAML_SEQUENCE_NODE)) {
		char q[80];
		int sc = n->type == YAML_SCALAR_NODE && !mp_yaml_is_null(n);
		cc_errorf(c, loc_of(c, n), "%s: '%s' must be %s, not %s%s%s%s", what, fname,
		          one ? "one target (a string or a mapping)" : "a list of targets",
		          sc ? "the scalar '" : mp_yaml_kind_of(n),
		          sc ? mp_diag_quote(scalar(n), n->data.scalar.length, q, sizeof(q)) : "",
		          sc ? "'" : "",
		          one ? " (the plural field takes several)"
		              : " (write [...] for a list, even of one)");
		return -1;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			bad |= decode_target(c, yaml_document_get_node(c->doc, *it), what) < 0;
	} else {
		bad = decode_target(c, n, what) < 0;
	}
	out->n = c->targets.n - out->off;
	return bad ? -1 : 0;
}

static int decode_u32(compiler *c, const yaml_node_t *n, const field *f, ru32 *out,
                      const char *what)
{
	const char *s = n->type == YAML_SCALAR_NODE ? scalar(n) : "";
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (n->type == YAML_SCALAR_NODE && *s == '-' && isdigit((unsigned char)s[1])) {
		/* a negative number: say the bound, not the type (these are all counts) */
		cc_errorf(c, loc_of(c, n), "%s: '%s' must be >= %u, not %s", what, f->name, f->min,
		          s);
		return -1;
	}
	if (n->type != YAML_SCALAR_NODE || !isdigit((unsigned char)*s) || *end || errno) {
		cc_errorf(c, loc_of(c, n), "%s: '%s' must be an integer, not %s%s%s", what, f->name,
		          n->type == YAML_SCALAR_NODE ? "'" : mp_yaml_kind_of(n),
		          n->type == YAML_SCALAR_NODE ? s : "",
		          n->type == YAML_SCALAR_NODE ? "'" : "");
		return -1;
	}
	uint32_t max = f->max ? f->max : UINT32_MAX;
	if (v < f->min || v > max) {
		cc_errorf(c, loc_of(c, n), "%s: '%s' is %llu, outside %u..%u", what, f->name, v,
		          f->min, max);
		return -1;
	}
	out->v = (uint32_t)v;
	return 0;
}

static int decode_value(compiler *c, const yaml_node_t *v, const field *f, void *dst,
                        const char *what)
{
	mp_loc loc = loc_of(c, v);
	const char *s = v->type == YAML_SCALAR_NODE ? scalar(v) : NULL;
	int rc = 0;
	switch (f->type) {
	case T_STR: {
		rstr *o = dst;
		if (!s || mp_yaml_is_null(v)) {
			cc_errorf(c, loc, "%s: '%s' must be a string, not %s", what, f->name,
			          mp_yaml_kind_of(v));
			return -1;
		}
		o->s = cc_intern(c, s, v->data.scalar.length);
		break;
	}
	case T_STRLIST:
	case T_STRONE:
		rc = decode_strlist(c, v, dst, what, f->name, f->type == T_STRONE);
		break;
	case T_LABELS:
		rc = decode_labels(c, v, dst, what, f->name);
		break;
	case T_PORTS:
		rc = decode_ports(c, v, dst, what, f->name);
		break;
	case T_TARGET:
	case T_TARGETS:
		rc = decode_targets(c, v, dst, what, f->name, f->type == T_TARGET);
		break;
	case T_U32:
		rc = decode_u32(c, v, f, dst, what);
		break;
	case T_MTLS: {
		/* Istio's spelling, exactly (in mp_mtls order, from 1) */
		static const char *const modes[] = {"STRICT", "PERMISSIVE", "DISABLE", NULL};
		ru32 *o = dst;
		for (uint32_t i = 0; s && modes[i]; i++)
			if (!strcmp(s, modes[i]))
				o->v = i + 1;
		if (!o->v) {
			const char *near = s ? mp_diag_nearest(s, modes) : NULL;
			cc_errorf(
			    c, loc,
			    "%s: 'mtls' must be STRICT, PERMISSIVE or DISABLE, not %s%s%s%s%s%s",
			    what, s ? "'" : mp_yaml_kind_of(v), s ? s : "", s ? "'" : "",
			    near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
			return -1;
		}
		break;
	}
	case T_DURATION: {
		ru32 *o = dst;
		if (!s || mp_parse_duration(s, &o->v) < 0) {
			cc_errorf(c, loc,
			          "%s: '%s' must be a duration such as 250ms, 2s or 1m, not %s%s%s",
			          what, f->name, s ? "'" : mp_yaml_kind_of(v), s ? s : "",
			          s ? "'" : "");
			return -1;
		}
		break;
	}
	case T_METHODS: {
		rspan tmp;
		ru32 *o = dst;
		uint32_t mark = c->strs.n;
		if (decode_strlist(c, v, &tmp, what, f->name, 0) < 0)
			return -1;
		for (uint32_t i = tmp.off; i < tmp.off + tmp.n; i++) {
			uint32_t bit = mp_method_bit(cc_str(c, c->strs.v[i].s));
			if (!bit) {
				cc_errorf(c, c->strs.v[i].loc, "%s: unknown HTTP method '%s'", what,
				          cc_str(c, c->strs.v[i].s));
				rc = -1;
			}
			o->v |= bit;
		}
		c->strs.n = mark; /* the names were only needed for the mask */
		break;
	}
	case T_TIME: {
		rtime *o = dst;
		if (!s || mp_parse_time(s, &o->v) < 0) {
			cc_errorf(
			    c, loc,
			    "%s: '%s' must be an RFC 3339 time such as 2027-01-31T00:00:00Z or a "
			    "date, not %s%s%s",
			    what, f->name, s ? "'" : mp_yaml_kind_of(v), s ? s : "", s ? "'" : "");
			return -1;
		}
		break;
	}
	case T_SUB:
		rc = decode_mapping(c, v, f->sub, dst, what);
		break;
	}
	if (rc < 0)
		return -1;
	/* every raw type starts with its payload and keeps loc and set at a fixed place */
	switch (f->type) {
	case T_STR:
		((rstr *)dst)->loc = loc, ((rstr *)dst)->set = 1;
		break;
	case T_STRLIST:
	case T_STRONE:
	case T_LABELS:
	case T_PORTS:
	case T_TARGET:
	case T_TARGETS:
		((rspan *)dst)->loc = loc, ((rspan *)dst)->set = 1;
		break;
	case T_U32:
	case T_MTLS:
	case T_DURATION:
	case T_METHODS:
		((ru32 *)dst)->loc = loc, ((ru32 *)dst)->set = 1;
		break;
	case T_TIME:
		((rtime *)dst)->loc = loc, ((rtime *)dst)->set = 1;
		break;
	case T_SUB:
		break;
	}
	return 0;
}

/* Decodes a mapping through a field table: unknown keys, repeated keys, wrong types and
 * missing required fields are each an error at the offending node. -1 if any. */
static int decode_mapping(compiler *c, const yaml_node_t *node, const schema *sch, void *raw,
                          const char *what)
{
	if (node->type != YAML_MAPPING_NODE) {
		cc_errorf(c, loc_of(c, node), "%s: a %s must be a mapping, not %s", what, sch->kind,
		          mp_yaml_kind_of(node));
		return -1;
	}
	int bad = 0;
	unsigned char seen[32] = {0};
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (k->type != YAML_SCALAR_NODE) {
			cc_errorf(c, loc_of(c, k), "%s: keys must be strings", what);
			bad = 1;
			continue;
		}
		const char *key = scalar(k);
		if (!strcmp(key, "kind") || !strcmp(key, "apiVersion")) {
			if (sch->finish) /* element level: handled by the kind dispatch */
				continue;
		}
		size_t i;
		for (i = 0; i < sch->nfields && strcmp(sch->fields[i].name, key); i++)
			;
		if (i == sch->nfields) {
			char q[80], hint[300];
			const char *names[33];
			for (i = 0; i < sch->nfields && i + 1 < sizeof(names) / sizeof(names[0]);
			     i++)
				names[i] = sch->fields[i].name;
			names[i] = NULL;
			cc_errorf(c, loc_of(c, k), "%s: unknown field '%s' (%s)", what,
			          mp_diag_quote(key, k->data.scalar.length, q, sizeof(q)),
			          mp_diag_hint(key, names, hint, sizeof(hint)));
			bad = 1;
			continue;
		}
		if (seen[i]) {
			cc_errorf(c, loc_of(c, k), "%s: field '%s' given twice", what, key);
			bad = 1;
			continue;
		}
		seen[i] = 1;
		const field *f = &sch->fields[i];
		if (f->type == T_SUB)
			*(rsub *)((char *)raw + f->set_off) = (rsub){1, loc_of(c, v)};
		if (decode_value(c, v, f, (char *)raw + f->off, what) < 0)
			bad = 1;
	}
	for (size_t i = 0; i < sch->nfields; i++)
		if (sch->fields[i].required && !seen[i]) {
			cc_errorf(c, loc_of(c, node), "%s: missing required field '%s'", what,
			          sch->fields[i].name);
			bad = 1;
		}
	return bad ? -1 : 0;
}

/* --- kinds --- */

static void finish_cluster(compiler *c, void *raw, const yaml_node_t *node, const char *what)
{
	rcluster *r = raw;
	mp_cluster cl = {r->name.s, r->provider.s, r->region.s,
	                 r->zone.s, r->network.s,  loc_of(c, node)};
	if (cc_declare(c, K_CLUSTER, r->name.s, 0, mp_model_get_view(c->m).nclusters, r->name.loc,
	               what) == 0 &&
	    mp_model_add_cluster(c->m, &cl) == MP_NONE)
		c->oom = 1;
}

static uint32_t push_strs(compiler *c, rspan sp)
{
	uint32_t first = MP_NONE;
	for (uint32_t i = 0; i < sp.n; i++) {
		uint32_t off = mp_model_push_u32(c->m, &c->strs.v[sp.off + i].s, 1);
		if (off == MP_NONE) {
			c->oom = 1;
			return 0;
		}
		if (first == MP_NONE)
			first = off;
	}
	return first == MP_NONE ? 0 : first;
}

static void finish_jurisdiction(compiler *c, void *raw, const yaml_node_t *node, const char *what)
{
	rjurisdiction *r = raw;
	mp_jurisdiction j = {r->name.s, {0, 0}, loc_of(c, node)};
	mp_id id = mp_model_get_view(c->m).njurisdictions;
	if (!r->regions.n) {
		cc_errorf(c, r->regions.loc, "%s: 'regions' must not be empty", what);
		return;
	}
	if (cc_declare(c, K_JURISDICTION, r->name.s, 0, id, r->name.loc, what) < 0)
		return;
	for (uint32_t i = 0; i < r->regions.n; i++) {
		rstr *reg = &c->strs.v[r->regions.off + i];
		mapent *e = cc_map_find(&c->names, K_REGION, reg->s, 0);
		if (e && e->id == id) { /* this jurisdiction, not yet added: name it from r */
			cc_errorf(c, reg->loc, "%s: region '%s' is listed twice", what,
			          cc_str(c, reg->s));
			return;
		}
		if (e) {
			cc_errorf(c, reg->loc, "%s: region '%s' is already in Jurisdiction '%s'",
			          what, cc_str(c, reg->s),
			          cc_str(c, mp_model_get_view(c->m).jurisdictions[e->id].name));
			return;
		}

		if (cc_map_put(&c->names, K_REGION, reg->s, 0, id, reg->loc) < 0)
			c->oom = 1;
	}
	j.regions = (mp_span){push_strs(c, r->regions), r->regions.n};
	if (mp_model_add_jurisdiction(c->m, &j) == MP_NONE)
		c->oom = 1;
}

static void finish_namespace(compiler *c, void *raw, const yaml_node_t *node, const char *what)
{
	rnamespace *r = raw;
	mp_namespace ns = {r->name.s, {r->labels.off, r->labels.n}, {0, 0}, loc_of(c, node)};
	if (cc_declare(c, K_NAMESPACE, r->name.s, 0, mp_model_get_view(c->m).nnamespaces,
	               r->name.loc, what) < 0)
		return;
	ns.data = (mp_span){push_strs(c, r->data), r->data.n};
	if (mp_model_add_namespace(c->m, &ns) == MP_NONE)
		c->oom = 1;
}

static void finish_service(compiler *c, void *raw, const yaml_node_t *node, const char *what)
{
	rservice *r = raw;
	r->loc = loc_of(c, node);
	if (r->cluster.set == r->clusters.set) {
		cc_errorf(c, r->loc, "%s: needs exactly one of 'cluster' or 'clusters'", what);
		return;
	}
	if (r->identity.set && strncmp(cc_str(c, r->identity.s), "spiffe://", 9)) {
		cc_errorf(c, r->identity.loc,
		          "%s: 'identity' must be a SPIFFE ID (spiffe://...), not '%s'", what,
		          cc_str(c, r->identity.s));
		return;
	}
	if (r->clusters.set && !r->clusters.n) {
		cc_errorf(c, r->clusters.loc, "%s: 'clusters' must not be empty", what);
		return;
	}
	APPEND(c, c->services, *r);
}

static void finish_route(compiler *c, void *raw, const yaml_node_t *node, const char *what)
{
	rroute *r = raw;
	r->loc = loc_of(c, node);
	if (r->dest.set == r->dests.set) {
		cc_errorf(c, r->loc, "%s: needs exactly one of 'destination' or 'destinations'",
		          what);
		return;
	}
	if (r->mirror.set && r->mirrors.set) {
		cc_errorf(c, r->mirrors.loc, "%s: give 'mirror' or 'mirrors', not both", what);
		return;
	}
	if (r->match.path_set.set) {
		int n =
		    r->match.path.exact.set + r->match.path.prefix.set + r->match.path.regex.set;
		if (n != 1) {
			cc_errorf(c, r->match.path_set.loc,
			          "%s: 'path' needs exactly one of 'exact', 'prefix' or 'regex'",
			          what);
			return;
		}
	}
	APPEND(c, c->routes, *r);
}

static void finish_external(compiler *c, void *raw, const yaml_node_t *node, const char *what)
{
	rexternal *r = raw;
	(void)what;
	r->loc = loc_of(c, node);
	APPEND(c, c->externals, *r);
}

static void read_pem(compiler *c, rcert *r, mp_certificate *out, const char *what);

static void finish_cert(compiler *c, void *raw, const yaml_node_t *node, const char *what)
{
	rcert *r = raw;
	mp_certificate cert = {.not_after = INT64_MIN,
	                       .name = r->name.s,
	                       .subject = r->subject.s,
	                       .identity = r->identity.s,
	                       .loc = loc_of(c, node)};
	if (!r->not_after.set && !r->pem.set) {
		cc_errorf(c, cert.loc, "%s: needs 'not_after' or 'pem'", what);
		return;
	}
	if (r->not_after.set)
		cert.not_after = r->not_after.v;
	if (r->pem.set)
		read_pem(c, r, &cert, what);
	if (cc_declare(c, K_CERT, r->name.s, 0, mp_model_get_view(c->m).ncerts, r->name.loc,
	               what) == 0 &&
	    mp_model_add_cert(c->m, &cert) == MP_NONE)
		c->oom = 1;
}

static const field cluster_fields[] = {
    F(rcluster, name, T_STR, 1), F(rcluster, provider, T_STR, 1), F(rcluster, region, T_STR, 1),
    F(rcluster, zone, T_STR, 0), F(rcluster, network, T_STR, 0),
};
static const field jurisdiction_fields[] = {
    F(rjurisdiction, name, T_STR, 1),
    F(rjurisdiction, regions, T_STRLIST, 1),
};
static const field namespace_fields[] = {
    F(rnamespace, name, T_STR, 1),
    F(rnamespace, labels, T_LABELS, 0),
    F(rnamespace, data, T_STRLIST, 0),
};
static const field service_fields[] = {
    F(rservice, name, T_STR, 1),       FN(rservice, "namespace", ns, T_STR, 1),
    F(rservice, cluster, T_STRONE, 0), F(rservice, clusters, T_STRLIST, 0),
    F(rservice, identity, T_STR, 0),   F(rservice, labels, T_LABELS, 0),
    F(rservice, ports, T_PORTS, 0),    F(rservice, data, T_STRLIST, 0),
    F(rservice, owner, T_STR, 0),      F(rservice, mtls, T_MTLS, 0),
};
static const field path_fields[] = {
    F(rpath, exact, T_STR, 0),
    F(rpath, prefix, T_STR, 0),
    F(rpath, regex, T_STR, 0),
};
static const schema path_schema = SCHEMA("path", rpath, path_fields, NULL);
static const field match_fields[] = {
    F(rmatch, methods, T_METHODS, 0),
    FSUB(rmatch, "path", path, path_schema, path_set),
    F(rmatch, headers, T_LABELS, 0),
};
static const schema match_schema = SCHEMA("match", rmatch, match_fields, NULL);
static const field retries_fields[] = {
    F(rretries, attempts, T_U32, 1),
    FN(rretries, "per_try_timeout", per_try, T_DURATION, 0),
};
static const schema retries_schema = SCHEMA("retries", rretries, retries_fields, NULL);
static const field route_fields[] = {
    F(rroute, name, T_STR, 1),
    F(rroute, source, T_STR, 0),
    FN(rroute, "destination", dest, T_TARGET, 0),
    FN(rroute, "destinations", dests, T_TARGETS, 0),
    FSUB(rroute, "match", match, match_schema, match_set),
    F(rroute, timeout, T_DURATION, 0),
    FSUB(rroute, "retries", retries, retries_schema, retries_set),
    F(rroute, mirror, T_TARGET, 0),
    F(rroute, mirrors, T_TARGETS, 0),
    F(rroute, failover, T_TARGETS, 0),
};
static const field external_fields[] = {
    F(rexternal, name, T_STR, 1),    F(rexternal, host, T_STR, 1),
    F(rexternal, region, T_STR, 0),  F(rexternal, jurisdiction, T_STR, 0),
    F(rexternal, ports, T_PORTS, 0),
};
static const field cert_fields[] = {
    F(rcert, name, T_STR, 1),     F(rcert, subject, T_STR, 0),
    F(rcert, identity, T_STR, 0), FN(rcert, "not_after", not_after, T_TIME, 0),
    F(rcert, pem, T_STR, 0),
};

/* The native kinds: one row each, checked in one place (cc_native_document). */
static const schema kinds[] = {
    SCHEMA("Cluster", rcluster, cluster_fields, finish_cluster),
    SCHEMA("Jurisdiction", rjurisdiction, jurisdiction_fields, finish_jurisdiction),
    SCHEMA("Namespace", rnamespace, namespace_fields, finish_namespace),
    SCHEMA("Service", rservice, service_fields, finish_service),
    SCHEMA("Route", rroute, route_fields, finish_route),
    SCHEMA("External", rexternal, external_fields, finish_external),
    SCHEMA("Certificate", rcert, cert_fields, finish_cert),
};

/* Is root a mapping whose `type` is a native kind (`type: Service`)? */
static int native_type(compiler *c, const yaml_node_t *root)
{
	const yaml_node_t *t = mp_yaml_get(c->doc, root, "type");
	for (size_t i = 0; t && t->type == YAML_SCALAR_NODE && i < sizeof(kinds) / sizeof(kinds[0]);
	     i++)
		if (!strcmp(kinds[i].kind, scalar(t)))
			return 1;
	return 0;
}

/* The kinds whose names other elements refer to, by their schema's kind name. */
static uint32_t kind_id(const char *kind)
{
	static const struct {
		const char *name;
		uint32_t kind;
	} ids[] = {{"Cluster", K_CLUSTER},
	           {"Service", K_SERVICE},
	           {"External", K_EXTERNAL},
	           {"Jurisdiction", K_JURISDICTION}};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		if (!strcmp(ids[i].name, kind))
			return ids[i].kind;
	return 0;
}

/* Remembers an element dropped for its own errors by the names references use: its name, and
 * a service's "namespace/name", an external's host. */
static void record_dropped(compiler *c, const schema *sch, const yaml_node_t *root,
                           const yaml_node_t *name)
{
	uint32_t kind = kind_id(sch->kind);
	const char *ns = NULL, *host = NULL;
	if (!kind || !name || name->type != YAML_SCALAR_NODE || mp_yaml_is_null(name))
		return;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
			continue;
		if (!strcmp(scalar(k), "namespace"))
			ns = scalar(v);
		else if (!strcmp(scalar(k), "host"))
			host = scalar(v);
	}
	char ref[600];
	const char *names[3] = {scalar(name), NULL, host};
	if (ns && kind == K_SERVICE) {
		snprintf(ref, sizeof(ref), "%s/%s", ns, scalar(name));
		names[1] = ref;
	}
	for (int i = 0; i < 3; i++) {
		mp_str s = names[i] ? cc_intern(c, names[i], strlen(names[i])) : 0;
		if (s && cc_map_put(&c->names, K_DROPPED + kind, s, 0, 0, loc_of(c, name)) < 0)
			c->oom = 1;
	}
}

/* Does ref name an element of kind (or, for 0, a service or an external) that pass 1 dropped
 * for its own errors? Then an error about the reference would only repeat that one. */
static int dropped(compiler *c, uint32_t kind, mp_str ref)
{
	if (!kind)
		return dropped(c, K_SERVICE, ref) || dropped(c, K_EXTERNAL, ref);
	return cc_map_find(&c->names, K_DROPPED + kind, ref, 0) != NULL;
}

int cc_native_document(compiler *c, const yaml_node_t *root)
{
	if (mp_yaml_is_null(root))
		return 0; /* an empty document */
	/* a provider's form (import_int.h: Consul's config entries, one or a list; Kuma's
	 * Universal resources; Terraform's JSON): the importer's, but a native kind written as
	 * Kuma's `type:` is a mistake (below: no 'kind') */
	if (mp_import_is_form(c->doc, root) && !native_type(c, root))
		return 1;
	if (root->type != YAML_MAPPING_NODE) {
		cc_errorf(c, loc_of(c, root), "a document must be a mapping with a 'kind', not %s",
		          mp_yaml_kind_of(root));
		return 0;
	}
	const yaml_node_t *kind = NULL, *name = NULL, *api = NULL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
			continue;
		if (!strcmp(scalar(k), "kind"))
			kind = v;
		else if (!strcmp(scalar(k), "name") && !name)
			name = v;
		else if (!strcmp(scalar(k), "apiVersion"))
			api = v;
	}
	if (!kind) {
		cc_errorf(c, loc_of(c, root), "document has no 'kind'");
		return 0;
	}
	/* Another apiVersion is Kubernetes' or Istio's (import.h), except another version of
	 * meshpol.io and a core-group version Kubernetes does not have: a mistake */
	if (api && strcmp(scalar(api), "meshpol.io/v1")) {
		const char *av = scalar(api);
		if (!strncmp(av, "meshpol.io/", 11) || (!strchr(av, '/') && strcmp(av, "v1"))) {
			char q[80];
			cc_errorf(
			    c, loc_of(c, api),
			    "unsupported apiVersion '%s' (native documents use meshpol.io/v1)",
			    mp_diag_quote(av, api->data.scalar.length, q, sizeof(q)));
			return 0;
		}
		return 1; /* the importer's */
	}
	const schema *sch = NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].kind, scalar(kind)))
			sch = &kinds[i];
	if (!sch) {
		char q[80], hint[200];
		const char *names[sizeof(kinds) / sizeof(kinds[0]) + 1];
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			names[i] = kinds[i].kind;
		names[sizeof(kinds) / sizeof(kinds[0])] = NULL;
		cc_errorf(c, loc_of(c, kind), "unknown kind '%s' (%s)",
		          mp_diag_quote(scalar(kind), kind->data.scalar.length, q, sizeof(q)),
		          mp_diag_hint(scalar(kind), names, hint, sizeof(hint)));
		return 0;
	}
	char what[200], q[120];
	if (name && !mp_yaml_is_null(name))
		snprintf(what, sizeof(what), "%s '%s'", sch->kind,
		         mp_diag_quote(scalar(name), name->data.scalar.length, q, sizeof(q)));
	else
		snprintf(what, sizeof(what), "%s", sch->kind);
	union {
		rcluster a;
		rjurisdiction b;
		rnamespace n;
		rservice s;
		rroute r;
		rexternal e;
		rcert t;
	} raw;
	memset(&raw, 0, sizeof(raw));
	if (decode_mapping(c, root, sch, &raw, what) < 0) {
		record_dropped(c, sch, root, name);
		return 0;
	}
	sch->finish(c, &raw, root, what);
	return 0;
}

/* --- pass 2: references --- */

static mp_id lookup(compiler *c, uint32_t kind, mp_str name)
{
	mapent *e = cc_map_find(&c->names, kind, name, 0);
	return e ? e->id : MP_NONE;
}

void cc_native_services(compiler *c)
{
	for (uint32_t i = 0; i < c->services.n && !c->oom; i++) {
		rservice *r = &c->services.v[i];
		char what[300];
		snprintf(what, sizeof(what), "Service '%s/%s'", cc_str(c, r->ns.s),
		         cc_str(c, r->name.s));
		mp_id ns = lookup(c, K_NAMESPACE, r->ns.s);
		if (ns == MP_NONE) { /* implicit namespace */
			mp_namespace n = {r->ns.s, {0, 0}, {0, 0}, r->ns.loc};
			ns = mp_model_add_namespace(c->m, &n);
			if (ns == MP_NONE ||
			    cc_map_put(&c->names, K_NAMESPACE, r->ns.s, 0, ns, r->ns.loc) < 0) {
				c->oom = 1;
				return;
			}
		}
		int bad = 0;
		rspan cl = r->cluster.set ? r->cluster : r->clusters;
		uint32_t ids[64], n = 0;
		for (uint32_t k = 0; k < cl.n; k++) {
			rstr *name = &c->strs.v[cl.off + k];
			mp_id id = lookup(c, K_CLUSTER, name->s);
			if (id == MP_NONE) {
				if (!dropped(c, K_CLUSTER, name->s))
					cc_errorf(c, name->loc, "%s: no Cluster '%s'", what,
					          cc_str(c, name->s));
				bad = 1;
			} else if (n < 64) {
				ids[n++] = id;
			}
		}
		if (cl.n > 64) {
			cc_errorf(c, cl.loc, "%s: more than 64 clusters", what);
			bad = 1;
		}
		if (bad) { /* dropped: references to it are not errors of their own */
			char ref[600];
			snprintf(ref, sizeof(ref), "%s/%s", cc_str(c, r->ns.s),
			         cc_str(c, r->name.s));
			mp_str full = cc_intern(c, ref, strlen(ref));
			if (cc_map_put(&c->names, K_DROPPED + K_SERVICE, r->name.s, 0, 0, r->loc) <
			        0 ||
			    (full &&
			     cc_map_put(&c->names, K_DROPPED + K_SERVICE, full, 0, 0, r->loc) < 0))
				c->oom = 1;
			continue;
		}
		if (cc_declare(c, K_SERVICE, ns, r->name.s, mp_model_get_view(c->m).nservices,
		               r->name.loc, what) < 0)
			continue;
		char ident[400];
		snprintf(ident, sizeof(ident), "identity '%s'", cc_str(c, r->identity.s));
		if (r->identity.set &&
		    cc_declare(c, K_IDENTITY, r->identity.s, 0, 0, r->identity.loc, ident) < 0)
			continue;
		mp_service s = {.name = r->name.s,
		                .ns = ns,
		                .identity = r->identity.s,
		                .owner = r->owner.s,
		                .mtls = r->mtls.v,
		                .labels = {r->labels.off, r->labels.n},
		                .ports = {r->ports.off, r->ports.n},
		                .loc = r->loc};
		s.clusters = (mp_span){mp_model_push_u32(c->m, ids, n), n};
		/* data classes: the service's own, then its namespace's, without repeats */
		const mp_namespace *nsp = &mp_model_get_view(c->m).namespaces[ns];
		uint32_t data[128], nd = 0;
		for (uint32_t k = 0; k < r->data.n + nsp->data.n && nd < 128; k++) {
			mp_str d = k < r->data.n
			               ? c->strs.v[r->data.off + k].s
			               : mp_model_get_view(c->m).u32[nsp->data.off + k - r->data.n];
			uint32_t j;
			for (j = 0; j < nd && data[j] != d; j++)
				;
			if (j == nd)
				data[nd++] = d;
		}
		s.data = (mp_span){nd ? mp_model_push_u32(c->m, data, nd) : 0, nd};
		if (s.clusters.off == MP_NONE || s.data.off == MP_NONE ||
		    mp_model_add_service(c->m, &s) == MP_NONE)
			c->oom = 1;
	}
}

void cc_native_externals(compiler *c)
{
	for (uint32_t i = 0; i < c->externals.n && !c->oom; i++) {
		rexternal *r = &c->externals.v[i];
		char what[300];
		snprintf(what, sizeof(what), "External '%s'", cc_str(c, r->name.s));
		mp_external e = {
		    r->name.s, r->host.s, r->region.s, MP_NONE, {r->ports.off, r->ports.n}, r->loc};
		mp_id by_region = r->region.set ? lookup(c, K_REGION, r->region.s) : MP_NONE;
		if (r->jurisdiction.set) {
			e.jurisdiction = lookup(c, K_JURISDICTION, r->jurisdiction.s);
			if (e.jurisdiction == MP_NONE) {
				cc_errorf(c, r->jurisdiction.loc, "%s: no Jurisdiction '%s'", what,
				          cc_str(c, r->jurisdiction.s));
				continue;
			}
			if (by_region != MP_NONE && by_region != e.jurisdiction) {
				cc_errorf(
				    c, r->region.loc,
				    "%s: region '%s' is in Jurisdiction '%s', not '%s'", what,
				    cc_str(c, r->region.s),
				    cc_str(c,
				           mp_model_get_view(c->m).jurisdictions[by_region].name),
				    cc_str(c, r->jurisdiction.s));
				continue;
			}
		} else {
			e.jurisdiction = by_region;
		}
		if (cc_declare(c, K_EXTERNAL, r->name.s, 0, mp_model_get_view(c->m).nexternals,
		               r->name.loc, what) < 0)
			continue;
		if (mp_model_add_external(c->m, &e) == MP_NONE)
			c->oom = 1;
	}
}

/* Resolves a service reference for an error-friendly answer: MP_NONE with *ambiguous set when
 * several namespaces have a service of that name. */
static mp_id find_service(compiler *c, mp_str ref, int *ambiguous)
{
	const mp_id *ids;
	const char *s = cc_str(c, ref);
	*ambiguous = !strchr(s, '/') && mp_model_services_named(c->m, s, &ids) > 1;
	return mp_model_find_service(c->m, s);
}

static int resolve_target(compiler *c, const rtarget *t, mp_target *out, const char *what)
{
	int amb = 0;
	const char *ref = cc_str(c, t->ref);
	*out = (mp_target){MP_TARGET_SERVICE, MP_NONE, MP_NONE, t->weight, t->loc, 0, 0};
	if (t->hint != 2)
		out->id = find_service(c, t->ref, &amb);
	if (out->id == MP_NONE && t->hint != 1 && !amb) {
		out->kind = MP_TARGET_EXTERNAL;
		out->id = mp_model_find_external(c->m, ref);
	}
	if (out->id == MP_NONE) {
		if (amb)
			cc_errorf(
			    c, t->loc,
			    "%s: service '%s' is ambiguous (several namespaces have it); write "
			    "namespace/name",
			    what, ref);
		else if (!dropped(c,
		                  t->hint == 1   ? K_SERVICE
		                  : t->hint == 2 ? K_EXTERNAL
		                                 : 0,
		                  t->ref))
			cc_errorf(c, t->loc, "%s: no %s '%s'", what,
			          t->hint == 1   ? "service"
			          : t->hint == 2 ? "external"
			                         : "service or external",
			          ref);
		return -1;
	}
	if (t->cluster) {
		mp_model_view v = mp_model_get_view(c->m);
		mp_id cl = lookup(c, K_CLUSTER, t->cluster);
		const mp_service *s = &v.services[out->id];
		uint32_t k;
		for (k = 0; cl != MP_NONE && k < s->clusters.n && v.u32[s->clusters.off + k] != cl;
		     k++)
			;
		if (cl == MP_NONE || k == s->clusters.n) {
			cc_errorf(c, t->loc, "%s: service '%s' does not run in cluster '%s'", what,
			          ref, cc_str(c, t->cluster));
			return -1;
		}
		out->cluster = cl;
	}
	return 0;
}

static int resolve_targets(compiler *c, rspan sp, int weighted, mp_span *out, const char *what)
{
	mp_target ts[256];
	int bad = 0;
	if (sp.n > 256) {
		cc_errorf(c, sp.loc, "%s: more than 256 targets", what);
		return -1;
	}
	for (uint32_t i = 0; i < sp.n; i++) {
		const rtarget *t = &c->targets.v[sp.off + i];
		bad |= resolve_target(c, t, &ts[i], what) < 0;
		if (!weighted)
			ts[i].weight = 0;
		else if (!t->has_weight)
			ts[i].weight = sp.n == 1 ? 100 : 0;
	}
	if (bad)
		return -1;
	out->n = sp.n;
	out->off = sp.n ? mp_model_push_targets(c->m, ts, sp.n) : 0;
	if (out->off == MP_NONE) {
		c->oom = 1;
		return -1;
	}
	return 0;
}

void cc_native_routes(compiler *c)
{
	for (uint32_t i = 0; i < c->routes.n && !c->oom; i++) {
		rroute *r = &c->routes.v[i];
		char what[300];
		snprintf(what, sizeof(what), "Route '%s'", cc_str(c, r->name.s));
		mp_route rt = {.name = r->name.s,
		               .source = MP_NONE,
		               .timeout_ms = r->timeout.v,
		               .retry_attempts = r->retries.attempts.v,
		               .per_try_timeout_ms = r->retries.per_try.v,
		               .loc = r->loc};
		int bad = 0, amb = 0;
		if (r->source.set) {
			rt.source = find_service(c, r->source.s, &amb);
			if (rt.source == MP_NONE) {
				if (amb || !dropped(c, K_SERVICE, r->source.s))
					cc_errorf(c, r->source.loc,
					          amb ? "%s: source '%s' is ambiguous; write "
					                "namespace/name"
					              : "%s: no service '%s'",
					          what, cc_str(c, r->source.s));
				bad = 1;
			}
		}
		const rpath *p = &r->match.path;
		rt.match.methods = r->match.methods.v;
		rt.match.headers = (mp_span){r->match.headers.off, r->match.headers.n};
		if (p->exact.set)
			rt.match.path_kind = MP_PATH_EXACT, rt.match.path = p->exact.s;
		else if (p->prefix.set)
			rt.match.path_kind = MP_PATH_PREFIX, rt.match.path = p->prefix.s;
		else if (p->regex.set)
			rt.match.path_kind = MP_PATH_REGEX, rt.match.path = p->regex.s;
		bad |= resolve_targets(c, r->dest.set ? r->dest : r->dests, 1, &rt.dests, what) < 0;
		bad |= resolve_targets(c, r->mirror.set ? r->mirror : r->mirrors, 0, &rt.mirrors,
		                       what) < 0;
		bad |= resolve_targets(c, r->failover, 0, &rt.failover, what) < 0;
		if (bad || cc_declare(c, K_ROUTE, r->name.s, 0, mp_model_get_view(c->m).nroutes,
		                      r->name.loc, what) < 0)
			continue;
		if (mp_model_add_route(c->m, &rt) == MP_NONE)
			c->oom = 1;
	}
}

/* --- certificates --- */

static void read_pem(compiler *c, rcert *r, mp_certificate *out, const char *what)
{
	char path[PATH_MAX + 1024];
	const char *rel = cc_str(c, r->pem.s);
	X509 *x = NULL;
	if (rel[0] == '/' || !c->dir[0])
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "%s/%s", c->dir, rel);
	char *text;
	size_t len;
	size_t max =
	    c->opts && c->opts->max_file_bytes ? c->opts->max_file_bytes : MP_COMPILE_MAX_FILE;
	mp_diags rd = {0}; /* the reason only: the message below names the certificate */
	if (mp_files_read(path, max, &text, &len, &rd) < 0) {
		cc_errorf(c, r->pem.loc, "%s: PEM '%s': %s", what, path,
		          rd.n ? rd.v[0].msg : "out of memory");
		mp_diags_free(&rd);
		return;
	}
	BIO *in = BIO_new_mem_buf(text, (int)len);
	x = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
	BIO_free(in);
	mp_free(text);
	if (!x) {
		cc_errorf(c, r->pem.loc, "%s: '%s' holds no PEM certificate", what, path);
		return;
	}
	out->pem_path = cc_intern(c, path, strlen(path));
	/* a PEM path read relative to the YAML file begins with that file's source root (rel may
	 * have moved with the string data: only path and c->path are read here) */
	if (c->root_len && out->pem_path != MP_NONE && !strncmp(path, c->path, c->root_len) &&
	    mp_model_add_source(c->m, out->pem_path, c->root_len) < 0)
		c->oom = 1;
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
		int64_t t = (int64_t)timegm(&tm);
		if (r->not_after.set && r->not_after.v != t)
			cc_errorf(c, r->not_after.loc,
			          "%s: 'not_after' disagrees with the PEM's notAfter", what);
		out->not_after = t;
		out->from_pem = 1;
	}
	if (!r->subject.set) {
		char buf[512];
		BIO *b = BIO_new(BIO_s_mem());
		if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
			int n = BIO_read(b, buf, sizeof(buf) - 1);
			if (n > 0)
				out->subject = cc_intern(c, buf, (size_t)n);
		}
		BIO_free(b);
	}
	if (!r->identity.set) {
		GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
			if (g->type == GEN_URI) {
				const unsigned char *u =
				    ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
				int len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
				out->identity = cc_intern(c, (const char *)u, (size_t)len);
				break;
			}
		}
		GENERAL_NAMES_free(sans);
	}
	X509_free(x);
}

void cc_native_free(compiler *c)
{
	mp_free(c->strs.v);
	mp_free(c->targets.v);
	mp_free(c->services.v);
	mp_free(c->routes.v);
	mp_free(c->externals.v);
}
