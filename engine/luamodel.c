/* luamodel.c: the read-only Lua view of a compiled model (see luamodel.h).
 * Elements are small userdata (model, kind, id) whose fields are computed on access;
 * collections (mesh.services, mesh.routes, ...) index by name, SPIFFE ID, host or position. */
#include "luamodel.h"
#include "graph.h"
#include "luajson.h"

#include <assert.h>
#include <lauxlib.h>
#include <string.h>

#define ELEMENT_MT    "meshpol.element"
#define COLLECTION_MT "meshpol.collection"
#define MESH_MT       "meshpol.mesh"

typedef struct {
	const mp_model *m;
	uint32_t kind;
	mp_id id;
} element;

typedef struct {
	const mp_model *m;
	uint32_t kind;
} collection;

/* The registry keys of the element and collection metatables, besides their names: a lookup by
 * address skips hashing the name, and an element is made for every field read that returns one
 * (100,000 routes, each with its source and targets). */
static const char element_mt_key, collection_mt_key;

static const char *const kind_names[MP_LK_COUNT] = {
    "Cluster", "Jurisdiction", "Namespace", "Service", "Route", "External", "Certificate",
};
static const char *const mtls_names[] = {"", "STRICT", "PERMISSIVE", "DISABLE"};

static uint32_t kind_count(const mp_model *m, uint32_t kind)
{
	mp_model_view v = mp_model_get_view(m);
	const uint32_t counts[MP_LK_COUNT] = {v.nclusters, v.njurisdictions, v.nnamespaces,
	                                      v.nservices, v.nroutes,        v.nexternals,
	                                      v.ncerts};
	return counts[kind];
}

void mp_lmodel_push_element(lua_State *L, const mp_model *m, mp_lkind kind, mp_id id)
{
	if (id == MP_NONE) {
		lua_pushnil(L);
		return;
	}
	element *e = lua_newuserdatauv(L, sizeof(*e), 0);
	*e = (element){m, (uint32_t)kind, id};
	lua_rawgetp(L, LUA_REGISTRYINDEX, &element_mt_key);
	lua_setmetatable(L, -2);
}

mp_id mp_lmodel_to_element(lua_State *L, int idx, mp_lkind kind)
{
	element *e = luaL_testudata(L, idx, ELEMENT_MT);
	return e && e->kind == (uint32_t)kind ? e->id : MP_NONE;
}

static void push_str(lua_State *L, const mp_model *m, mp_str s)
{
	lua_pushlstring(L, mp_model_str(m, s), mp_model_str_len(m, s));
}

/* A string field that is absent (id 0) reads as nil. */
static void push_opt_str(lua_State *L, const mp_model *m, mp_str s)
{
	if (s)
		push_str(L, m, s);
	else
		lua_pushnil(L);
}

/* a, sep and b as one string: lua_pushfstring's formatting is most of a field's cost when a
 * check reads loc or ref of 100,000 elements. */
static void push_join(lua_State *L, const char *a, size_t na, char sep, const char *b, size_t nb)
{
	char buf[512];
	if (na + nb + 1 > sizeof(buf)) {
		lua_pushfstring(L, "%s%c%s", a, (int)sep, b);
		return;
	}
	memcpy(buf, a, na);
	buf[na] = sep;
	memcpy(buf + na + 1, b, nb);
	lua_pushlstring(L, buf, na + 1 + nb);
}

static void push_loc(lua_State *L, const mp_model *m, mp_loc loc)
{
	char line[16];
	int n = 0;
	char d[16];
	int k = 0;
	uint32_t v = loc.line;
	do
		d[k++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (k > 0)
		line[n++] = d[--k];
	push_join(L, mp_model_str(m, loc.file), mp_model_str_len(m, loc.file), ':', line,
	          (size_t)n);
}

static void push_str_array(lua_State *L, const mp_model *m, mp_span sp)
{
	mp_model_view v = mp_model_get_view(m);
	lua_createtable(L, (int)sp.n, 0);
	for (uint32_t i = 0; i < sp.n; i++) {
		push_str(L, m, v.u32[sp.off + i]);
		lua_rawseti(L, -2, i + 1);
	}
}

static void push_labels(lua_State *L, const mp_model *m, mp_span sp)
{
	mp_model_view v = mp_model_get_view(m);
	lua_createtable(L, 0, (int)sp.n);
	for (uint32_t i = 0; i < sp.n; i++) {
		push_str(L, m, v.labels[sp.off + i].key);
		push_str(L, m, v.labels[sp.off + i].value);
		lua_rawset(L, -3);
	}
}

static void push_ports(lua_State *L, const mp_model *m, mp_span sp)
{
	mp_model_view v = mp_model_get_view(m);
	lua_createtable(L, (int)sp.n, 0);
	for (uint32_t i = 0; i < sp.n; i++) {
		const mp_port *p = &v.ports[sp.off + i];
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, p->port);
		lua_setfield(L, -2, "port");
		push_str(L, m, p->protocol);
		lua_setfield(L, -2, "protocol");
		push_opt_str(L, m, p->name);
		lua_setfield(L, -2, "name");
		lua_rawseti(L, -2, i + 1);
	}
}

static void push_targets(lua_State *L, const mp_model *m, mp_span sp)
{
	mp_model_view v = mp_model_get_view(m);
	lua_createtable(L, (int)sp.n, 0);
	for (uint32_t i = 0; i < sp.n; i++) {
		const mp_target *t = &v.targets[sp.off + i];
		/* sized for its fields: service or external, weight and loc, then the optional ones
		 */
		lua_createtable(L, 0,
		                3 + (t->cluster != MP_NONE) + (t->subset != 0) + (t->flags != 0));
		if (t->kind == MP_TARGET_SERVICE) {
			mp_lmodel_push_element(L, m, MP_LK_SERVICE, t->id);
			lua_setfield(L, -2, "service");
		} else {
			mp_lmodel_push_element(L, m, MP_LK_EXTERNAL, t->id);
			lua_setfield(L, -2, "external");
		}
		if (t->cluster != MP_NONE) {
			mp_lmodel_push_element(L, m, MP_LK_CLUSTER, t->cluster);
			lua_setfield(L, -2, "cluster");
		}
		lua_pushinteger(L, t->weight);
		lua_setfield(L, -2, "weight");
		push_loc(L, m, t->loc);
		lua_setfield(L, -2, "loc");
		if (t->subset) { /* imported routes: docs/import.md */
			push_str(L, m, t->subset);
			lua_setfield(L, -2, "subset");
		}
		if (t->flags) {
			lua_pushstring(L, t->flags & MP_TARGET_F_LOCALITY_DISTRIBUTE ? "distribute"
			                  : t->flags & MP_TARGET_F_LOCALITY_FAILOVER ? "failover"
			                                                             : "reorder");
			lua_setfield(L, -2, "locality");
		}
		lua_rawseti(L, -2, i + 1);
	}
}

/* What cluster i of s gives its service's regions (jur 0) or jurisdictions (jur 1): its region,
 * or its region's jurisdiction's name; MP_NONE for a region of no jurisdiction. */
static mp_str cluster_value(const mp_model *m, const mp_model_view *v, const mp_service *s,
                            uint32_t i, int jur)
{
	mp_str region = v->clusters[v->u32[s->clusters.off + i]].region;
	if (!jur)
		return region;
	mp_id j = mp_model_jurisdiction_of_region(m, region);
	return j == MP_NONE ? MP_NONE : v->jurisdictions[j].name;
}

/* The regions a service runs in (one per cluster, without repeats). A repeat is found among
 * the earlier clusters' values in the model, not by reading the Lua table back: the same id, or
 * the same text (a loaded model's strings need not be unique). */
static void push_service_regions(lua_State *L, const mp_model *m, const mp_service *s, int jur)
{
	mp_model_view v = mp_model_get_view(m);
	int n = 0;
	lua_createtable(L, (int)s->clusters.n, 0);
	for (uint32_t i = 0; i < s->clusters.n; i++) {
		mp_str value = cluster_value(m, &v, s, i, jur);
		if (value == MP_NONE)
			continue;
		const char *text = mp_model_str(m, value);
		int seen = 0;
		for (uint32_t k = 0; k < i && !seen; k++) {
			mp_str prev = cluster_value(m, &v, s, k, jur);
			seen = prev != MP_NONE &&
			       (prev == value || !strcmp(mp_model_str(m, prev), text));
		}
		if (!seen) {
			lua_pushlstring(L, text, mp_model_str_len(m, value));
			lua_rawseti(L, -2, ++n);
		}
	}
}

static void push_edges(lua_State *L, const mp_model *m, const mp_edge *e, uint32_t n)
{
	lua_createtable(L, (int)n, 0);
	int k = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i && e[i].route == e[i - 1].route)
			continue; /* one entry per route */
		mp_lmodel_push_element(L, m, MP_LK_ROUTE, e[i].route);
		lua_rawseti(L, -2, ++k);
	}
}

/* The fields elements answer, each a code: element_index finds the code of a key with one
 * lookup in a table of the state (its upvalue; the key is a Lua string, hashed already), where a
 * chain of strcmp cost more than the field itself when a check reads 100,000 routes. */
/* clang-format off */
#define ELEMENT_FIELDS(X)                                                                        \
	X(kind) X(id) X(loc) X(name) X(namespace) X(ref) X(identity) X(owner) X(mtls) X(labels)   \
	X(ports) X(data) X(regions) X(jurisdictions) X(clusters) X(provider) X(region) X(zone)    \
	X(network) X(jurisdiction) X(source) X(destinations) X(mirrors) X(failover)               \
	X(timeout_ms) X(fault) X(retries) X(match) X(host) X(subject) X(pem) X(not_after)
/* clang-format on */
#define FIELD_CODE(f) F_##f,
#define FIELD_NAME(f) #f,
enum { F_NONE, ELEMENT_FIELDS(FIELD_CODE) F_COUNT };
static const char *const field_names[F_COUNT] = {NULL, ELEMENT_FIELDS(FIELD_NAME)};

static int service_field(lua_State *L, const element *e, const mp_model_view *v, int f)
{
	const mp_model *m = e->m;
	const mp_service *s = &v->services[e->id];
	switch (f) {
	case F_loc:
		push_loc(L, m, s->loc);
		break;
	case F_name:
		push_str(L, m, s->name);
		break;
	case F_namespace:
		push_str(L, m, v->namespaces[s->ns].name);
		break;
	case F_ref:
		push_join(L, mp_model_str(m, v->namespaces[s->ns].name),
		          mp_model_str_len(m, v->namespaces[s->ns].name), '/',
		          mp_model_str(m, s->name), mp_model_str_len(m, s->name));
		break;
	case F_identity:
		push_opt_str(L, m, s->identity);
		break;
	case F_owner:
		push_opt_str(L, m, s->owner);
		break;
	case F_mtls:
		s->mtls ? (void)lua_pushstring(L, mtls_names[s->mtls]) : lua_pushnil(L);
		break;
	case F_labels:
		push_labels(L, m, s->labels);
		break;
	case F_ports:
		push_ports(L, m, s->ports);
		break;
	case F_data:
		push_str_array(L, m, s->data);
		break;
	case F_regions:
		push_service_regions(L, m, s, 0);
		break;
	case F_jurisdictions:
		push_service_regions(L, m, s, 1);
		break;
	case F_clusters:
		lua_createtable(L, (int)s->clusters.n, 0);
		for (uint32_t i = 0; i < s->clusters.n; i++) {
			mp_lmodel_push_element(L, m, MP_LK_CLUSTER, v->u32[s->clusters.off + i]);
			lua_rawseti(L, -2, i + 1);
		}
		break;
	default:
		return 0;
	}
	return 1;
}

static int route_field(lua_State *L, const element *e, const mp_model_view *v, int f)
{
	const mp_model *m = e->m;
	const mp_route *r = &v->routes[e->id];
	static const char *const path_kinds[] = {"any", "exact", "prefix", "regex"};
	static const char *const methods[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
	                                      "PATCH", "OPTIONS", "CONNECT", "TRACE"};
	switch (f) {
	case F_loc:
		push_loc(L, m, r->loc);
		break;
	case F_name:
		push_str(L, m, r->name);
		break;
	case F_source:
		mp_lmodel_push_element(L, m, MP_LK_SERVICE, r->source);
		break;
	case F_destinations:
		push_targets(L, m, r->dests);
		break;
	case F_mirrors:
		push_targets(L, m, r->mirrors);
		break;
	case F_failover:
		push_targets(L, m, r->failover);
		break;
	case F_timeout_ms:
		r->timeout_ms ? lua_pushinteger(L, r->timeout_ms) : lua_pushnil(L);
		break;
	case F_fault: /* imported routes: docs/import.md */
		if (!r->fault_delay_permille && !r->fault_abort_permille) {
			lua_pushnil(L);
			break;
		}
		lua_createtable(L, 0, 4);
		lua_pushinteger(L, r->fault_delay_ms);
		lua_setfield(L, -2, "delay_ms");
		lua_pushnumber(L, r->fault_delay_permille / 10.0);
		lua_setfield(L, -2, "delay_percent");
		lua_pushinteger(L, r->fault_abort_status);
		lua_setfield(L, -2, "abort_status");
		lua_pushnumber(L, r->fault_abort_permille / 10.0);
		lua_setfield(L, -2, "abort_percent");
		break;
	case F_retries:
		if (!r->retry_attempts) {
			lua_pushnil(L);
			break;
		}
		lua_createtable(L, 0, 2);
		lua_pushinteger(L, r->retry_attempts);
		lua_setfield(L, -2, "attempts");
		if (r->per_try_timeout_ms) {
			lua_pushinteger(L, r->per_try_timeout_ms);
			lua_setfield(L, -2, "per_try_timeout_ms");
		}
		break;
	case F_match:
		lua_createtable(L, 0, 4);
		lua_createtable(L, 0, 0);
		for (int i = 0, n = 0; i < 9; i++)
			if (r->match.methods & (1u << i)) {
				lua_pushstring(L, methods[i]);
				lua_rawseti(L, -2, ++n);
			}
		lua_setfield(L, -2, "methods");
		lua_pushstring(L, path_kinds[r->match.path_kind & 3]);
		lua_setfield(L, -2, "path_kind");
		push_opt_str(L, m, r->match.path);
		lua_setfield(L, -2, "path");
		push_labels(L, m, r->match.headers);
		lua_setfield(L, -2, "headers");
		break;
	default:
		return 0;
	}
	return 1;
}

/* Pushes field f of e and returns 1, or 0 when e's kind has no such field. */
static int element_field(lua_State *L, const element *e, const mp_model_view *v, int f)
{
	const mp_model *m = e->m;
	if (f == F_kind)
		return lua_pushstring(L, kind_names[e->kind]), 1;
	if (f == F_id)
		return lua_pushinteger(L, e->id), 1;
	switch (e->kind) {
	case MP_LK_CLUSTER: {
		const mp_cluster *c = &v->clusters[e->id];
		mp_id j;
		switch (f) {
		case F_loc:
			return push_loc(L, m, c->loc), 1;
		case F_name:
			return push_str(L, m, c->name), 1;
		case F_provider:
			return push_str(L, m, c->provider), 1;
		case F_region:
			return push_str(L, m, c->region), 1;
		case F_zone:
			return push_opt_str(L, m, c->zone), 1;
		case F_network:
			return push_opt_str(L, m, c->network), 1;
		case F_jurisdiction:
			j = mp_model_jurisdiction_of_region(m, c->region);
			return j == MP_NONE ? lua_pushnil(L)
			                    : push_str(L, m, v->jurisdictions[j].name),
			       1;
		}
		return 0;
	}
	case MP_LK_JURISDICTION: {
		const mp_jurisdiction *j = &v->jurisdictions[e->id];
		switch (f) {
		case F_loc:
			return push_loc(L, m, j->loc), 1;
		case F_name:
			return push_str(L, m, j->name), 1;
		case F_regions:
			return push_str_array(L, m, j->regions), 1;
		}
		return 0;
	}
	case MP_LK_NAMESPACE: {
		const mp_namespace *n = &v->namespaces[e->id];
		switch (f) {
		case F_loc:
			return push_loc(L, m, n->loc), 1;
		case F_name:
			return push_str(L, m, n->name), 1;
		case F_labels:
			return push_labels(L, m, n->labels), 1;
		case F_data:
			return push_str_array(L, m, n->data), 1;
		}
		return 0;
	}
	case MP_LK_SERVICE:
		return service_field(L, e, v, f);
	case MP_LK_ROUTE:
		return route_field(L, e, v, f);
	case MP_LK_EXTERNAL: {
		const mp_external *x = &v->externals[e->id];
		switch (f) {
		case F_loc:
			return push_loc(L, m, x->loc), 1;
		case F_name:
			return push_str(L, m, x->name), 1;
		case F_host:
			return push_str(L, m, x->host), 1;
		case F_region:
			return push_opt_str(L, m, x->region), 1;
		case F_jurisdiction:
			return x->jurisdiction == MP_NONE
			           ? lua_pushnil(L)
			           : push_str(L, m, v->jurisdictions[x->jurisdiction].name),
			       1;
		case F_ports:
			return push_ports(L, m, x->ports), 1;
		}
		return 0;
	}
	case MP_LK_CERT: {
		const mp_certificate *c = &v->certs[e->id];
		switch (f) {
		case F_loc:
			return push_loc(L, m, c->loc), 1;
		case F_name:
			return push_str(L, m, c->name), 1;
		case F_subject:
			return push_opt_str(L, m, c->subject), 1;
		case F_identity:
			return push_opt_str(L, m, c->identity), 1;
		case F_pem:
			return push_opt_str(L, m, c->pem_path), 1;
		case F_not_after:
			return c->not_after == INT64_MIN
			           ? lua_pushnil(L)
			           : lua_pushinteger(L, (lua_Integer)c->not_after),
			       1;
		}
		return 0;
	}
	}
	return 0;
}

/* Upvalue: the field codes (name -> code). */
static int element_index(lua_State *L)
{
	/* only ever called as the __index of ELEMENT_MT, which __metatable hides from policy code,
	 * so argument 1 is an element: no registry lookup to check it on every field read */
	element *e = lua_touserdata(L, 1);
	int f;
	assert(e);
	lua_pushvalue(L, 2);
	f = lua_rawget(L, lua_upvalueindex(1)) == LUA_TNUMBER ? (int)lua_tointeger(L, -1) : F_NONE;
	lua_pop(L, 1);
	if (f != F_NONE) {
		mp_model_view v = mp_model_get_view(e->m);
		if (element_field(L, e, &v, f))
			return 1;
	}
	const char *k = luaL_checkstring(L, 2);
	if (k[0] == '_' && k[1] == '_')
		return 0;
	/* methods live in the metatable */
	luaL_getmetatable(L, ELEMENT_MT);
	lua_getfield(L, -1, k);
	return 1;
}

static int read_only(lua_State *L)
{
	return luaL_error(L, "the mesh model is read-only (attempt to set '%s')",
	                  luaL_tolstring(L, 2, NULL));
}

static int element_eq(lua_State *L)
{
	element *a = luaL_testudata(L, 1, ELEMENT_MT), *b = luaL_testudata(L, 2, ELEMENT_MT);
	lua_pushboolean(L, a && b && a->kind == b->kind && a->id == b->id && a->m == b->m);
	return 1;
}

static int element_tostring(lua_State *L)
{
	element *e = luaL_checkudata(L, 1, ELEMENT_MT);
	mp_model_view v = mp_model_get_view(e->m);
	if (e->kind == MP_LK_SERVICE) {
		service_field(L, e, &v, F_ref);
		lua_pushfstring(L, "Service %s", lua_tostring(L, -1));
	} else {
		element_field(L, e, &v, F_name);
		lua_pushfstring(L, "%s %s", kind_names[e->kind], lua_tostring(L, -1));
	}
	return 1;
}

/* svc:has_data("pii") */
static int element_has_data(lua_State *L)
{
	element *e = luaL_checkudata(L, 1, ELEMENT_MT);
	const char *cls = luaL_checkstring(L, 2);
	int found = 0;
	if (e->kind == MP_LK_SERVICE) {
		mp_model_view v = mp_model_get_view(e->m);
		const mp_service *s = &v.services[e->id];
		for (uint32_t i = 0; i < s->data.n && !found; i++)
			found = !strcmp(mp_model_str(e->m, v.u32[s->data.off + i]), cls);
	}
	lua_pushboolean(L, found);
	return 1;
}

/* --- collections --- */

/* Finds an element of a collection by key: a position (1-based), or a name; services also by
 * "namespace/name" and SPIFFE ID, externals also by host. */
static mp_id collection_find(lua_State *L, const collection *c, int key)
{
	const mp_model *m = c->m;
	if (lua_type(L, key) == LUA_TNUMBER) {
		lua_Integer i = lua_tointeger(L, key);
		return i >= 1 && i <= kind_count(m, c->kind) ? (mp_id)(i - 1) : MP_NONE;
	}
	if (lua_type(L, key) != LUA_TSTRING)
		return MP_NONE;
	const char *k = lua_tostring(L, key);
	switch (c->kind) {
	case MP_LK_CLUSTER:
		return mp_model_find_cluster(m, k);
	case MP_LK_JURISDICTION:
		return mp_model_find_jurisdiction(m, k);
	case MP_LK_NAMESPACE:
		return mp_model_find_namespace(m, k);
	case MP_LK_SERVICE:
		return strncmp(k, "spiffe://", 9) ? mp_model_find_service(m, k)
		                                  : mp_model_find_service_by_identity(m, k);
	case MP_LK_EXTERNAL:
		return mp_model_find_external(m, k);
	default: { /* routes and certificates: by name, a scan (small, audit-time only) */
		mp_model_view v = mp_model_get_view(m);
		uint32_t n = kind_count(m, c->kind);
		for (uint32_t i = 0; i < n; i++) {
			mp_str name = c->kind == MP_LK_ROUTE ? v.routes[i].name : v.certs[i].name;
			if (!strcmp(mp_model_str(m, name), k))
				return i;
		}
		return MP_NONE;
	}
	}
}

static int collection_index(lua_State *L)
{
	/* only ever called as the __index of COLLECTION_MT, hidden from policy code (as
	 * element_index): argument 1 is a collection */
	collection *c = lua_touserdata(L, 1);
	assert(c);
	mp_lmodel_push_element(L, c->m, c->kind, collection_find(L, c, 2));
	return 1;
}

static int collection_len(lua_State *L)
{
	collection *c = luaL_checkudata(L, 1, COLLECTION_MT);
	lua_pushinteger(L, kind_count(c->m, c->kind));
	return 1;
}

/* Iteration yields position, element: for i, svc in pairs(mesh.services) (or ipairs). */
static int collection_next(lua_State *L)
{
	collection *c = luaL_checkudata(L, 1, COLLECTION_MT);
	lua_Integer i = lua_isnil(L, 2) ? 0 : luaL_checkinteger(L, 2);
	if (i < 0 || i >= kind_count(c->m, c->kind))
		return 0;
	lua_pushinteger(L, i + 1);
	mp_lmodel_push_element(L, c->m, c->kind, (mp_id)i);
	return 2;
}

static int collection_pairs(lua_State *L)
{
	luaL_checkudata(L, 1, COLLECTION_MT);
	lua_pushcfunction(L, collection_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static void push_collection(lua_State *L, const mp_model *m, uint32_t kind)
{
	collection *c = lua_newuserdatauv(L, sizeof(*c), 0);
	*c = (collection){m, kind};
	lua_rawgetp(L, LUA_REGISTRYINDEX, &collection_mt_key);
	lua_setmetatable(L, -2);
}

/* --- mesh --- */

static const mp_model *check_mesh(lua_State *L, int idx)
{
	return *(const mp_model **)luaL_checkudata(L, idx, MESH_MT);
}

static mp_id arg_service(lua_State *L, const mp_model *m, int idx)
{
	mp_id id = mp_lmodel_to_element(L, idx, MP_LK_SERVICE);
	if (id == MP_NONE && lua_type(L, idx) == LUA_TSTRING) {
		const char *k = lua_tostring(L, idx);
		id = strncmp(k, "spiffe://", 9) ? mp_model_find_service(m, k)
		                                : mp_model_find_service_by_identity(m, k);
	}
	if (id == MP_NONE)
		luaL_argerror(L, idx, "expected a service or a service reference");
	return id;
}

/* mesh:routes_from(svc): routes whose source is svc (routes from any caller not included). */
static int mesh_routes_from(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	const mp_edge *e;
	uint32_t n = mp_model_edges_from(m, arg_service(L, m, 2), &e);
	push_edges(L, m, e, n);
	return 1;
}

/* mesh:routes_to(svc): routes with svc among their destinations, mirrors or failover. */
static int mesh_routes_to(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	const mp_edge *e;
	uint32_t n = mp_model_edges_to(m, arg_service(L, m, 2), &e);
	lua_createtable(L, (int)n, 0);
	int k = 0;
	for (uint32_t i = 0; i < n; i++) {
		int dup = 0;
		for (uint32_t j = 0; j < i && !dup; j++)
			dup = e[j].route == e[i].route;
		if (!dup) {
			mp_lmodel_push_element(L, m, MP_LK_ROUTE, e[i].route);
			lua_rawseti(L, -2, ++k);
		}
	}
	return 1;
}

/* mesh:service(ref): by "name", "namespace/name" or SPIFFE ID; nil when absent. */
static int mesh_service(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	const char *k = luaL_checkstring(L, 2);
	mp_lmodel_push_element(L, m, MP_LK_SERVICE,
	                       strncmp(k, "spiffe://", 9)
	                           ? mp_model_find_service(m, k)
	                           : mp_model_find_service_by_identity(m, k));
	return 1;
}

/* Cycles are collected in two passes (count, then copy into a userdata) so that no Lua call
 * that can raise happens while mp_graph_cycles holds its buffers. */
typedef struct {
	uint32_t ncycles, total;
	uint32_t *lens; /* NULL in the counting pass */
	mp_id *svcs;
	uint32_t *routes;
} cycles_ctx;

static int collect_cycle(void *vctx, const mp_id *svcs, const mp_edge *edges, uint32_t n)
{
	cycles_ctx *c = vctx;
	if (c->lens) {
		c->lens[c->ncycles] = n;
		for (uint32_t i = 0; i < n; i++) {
			c->svcs[c->total + i] = svcs[i];
			c->routes[c->total + i] = edges[i].route;
		}
	}
	c->ncycles++;
	c->total += n;
	return 0;
}

/* mesh:cycles(): every routing cycle, one per strongly connected component, as
 * { services = {...}, routes = {...} } where routes[i] leaves services[i]. */
static int mesh_cycles(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	cycles_ctx c = {0};
	if (mp_graph_cycles(m, collect_cycle, &c) < 0)
		return luaL_error(L, "out of memory finding cycles");
	size_t bytes = (size_t)(c.ncycles + 1) * 4 + (size_t)(c.total + 1) * 8;
	unsigned char *buf = lua_newuserdatauv(L, bytes, 0);
	cycles_ctx fill = {0, 0, (uint32_t *)buf, (mp_id *)(buf + (c.ncycles + 1) * 4),
	                   (uint32_t *)(buf + (c.ncycles + 1) * 4 + (size_t)(c.total + 1) * 4)};
	if (mp_graph_cycles(m, collect_cycle, &fill) < 0)
		return luaL_error(L, "out of memory finding cycles");
	lua_createtable(L, (int)fill.ncycles, 0);
	for (uint32_t i = 0, at = 0; i < fill.ncycles; at += fill.lens[i], i++) {
		lua_createtable(L, 0, 2);
		lua_createtable(L, (int)fill.lens[i], 0);
		for (uint32_t k = 0; k < fill.lens[i]; k++) {
			mp_lmodel_push_element(L, m, MP_LK_SERVICE, fill.svcs[at + k]);
			lua_rawseti(L, -2, k + 1);
		}
		lua_setfield(L, -2, "services");
		lua_createtable(L, (int)fill.lens[i], 0);
		for (uint32_t k = 0; k < fill.lens[i]; k++) {
			mp_lmodel_push_element(L, m, MP_LK_ROUTE, fill.routes[at + k]);
			lua_rawseti(L, -2, k + 1);
		}
		lua_setfield(L, -2, "routes");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* mesh:path(a, b): the routes of a shortest path from service a to service b, or nil. */
static int mesh_path(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	mp_id a = arg_service(L, m, 2), b = arg_service(L, m, 3);
	mp_model_view v = mp_model_get_view(m);
	mp_edge *edges = lua_newuserdatauv(L, (v.nservices + 1) * sizeof(mp_edge), 0);
	long n = mp_graph_path(m, a, b, edges, v.nservices);
	if (n < 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, (int)n, 0);
	for (long i = 0; i < n; i++) {
		mp_lmodel_push_element(L, m, MP_LK_ROUTE, edges[i].route);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* mesh:reachable(svc): every service reachable from svc through routes (svc itself first). */
static int mesh_reachable(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	mp_id a = arg_service(L, m, 2);
	mp_model_view v = mp_model_get_view(m);
	unsigned char *seen = lua_newuserdatauv(L, v.nservices + 1, 0);
	memset(seen, 0, v.nservices + 1);
	if (mp_graph_reachable(m, a, seen) < 0)
		return luaL_error(L, "out of memory");
	lua_newtable(L);
	int k = 0;
	mp_lmodel_push_element(L, m, MP_LK_SERVICE, a);
	lua_rawseti(L, -2, ++k);
	for (mp_id s = 0; s < v.nservices; s++)
		if (seen[s] && s != a) {
			mp_lmodel_push_element(L, m, MP_LK_SERVICE, s);
			lua_rawseti(L, -2, ++k);
		}
	return 1;
}

/* mesh:jurisdiction_of(region): the jurisdiction's name, or nil. */
static int mesh_jurisdiction_of(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	size_t len;
	const char *region = luaL_checklstring(L, 2, &len);
	mp_str s = mp_model_find_str(m, region, len);
	mp_id j = s == MP_NONE ? MP_NONE : mp_model_jurisdiction_of_region(m, s);
	mp_lmodel_push_element(L, m, MP_LK_JURISDICTION, j);
	return 1;
}

static int mesh_index(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	const char *k = luaL_checkstring(L, 2);
	static const char *const colls[MP_LK_COUNT] = {
	    "clusters", "jurisdictions", "namespaces",   "services",
	    "routes",   "externals",     "certificates",
	};
	for (uint32_t i = 0; i < MP_LK_COUNT; i++)
		if (!strcmp(k, colls[i])) {
			push_collection(L, m, i);
			return 1;
		}
	if (!strcmp(k, "sha256")) {
		lua_pushstring(L, mp_model_sha256(m));
		return 1;
	}
	if (k[0] == '_' && k[1] == '_')
		return 0;
	luaL_getmetatable(L, MESH_MT);
	lua_getfield(L, -1, k);
	return 1;
}

static int mesh_tostring(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	mp_model_view v = mp_model_get_view(m);
	lua_pushfstring(L, "mesh (%d services, %d routes; sha256 %s)", (int)v.nservices,
	                (int)v.nroutes, mp_model_sha256(m));
	return 1;
}

/* --- imported configuration (docs/import.md, "Lua") --- */

static const char *const level_names[] = {"error", "warning", "info"};

/* mesh:workloads([svc]): every imported workload, or those of one service. */
static int mesh_workloads(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	mp_model_view v = mp_model_get_view(m);
	const mp_id *ids = NULL;
	uint32_t n = v.nworkloads;
	if (!lua_isnoneornil(L, 2))
		n = mp_model_workloads_of_service(m, arg_service(L, m, 2), &ids);
	lua_createtable(L, (int)n, 0);
	for (uint32_t i = 0; i < n; i++) {
		const mp_workload *w = &v.workloads[ids ? ids[i] : i];
		lua_createtable(L, 0, 9);
		push_str(L, m, w->name);
		lua_setfield(L, -2, "name");
		push_str(L, m, w->kind);
		lua_setfield(L, -2, "kind");
		push_str(L, m, v.namespaces[w->ns].name);
		lua_setfield(L, -2, "namespace");
		mp_lmodel_push_element(L, m, MP_LK_CLUSTER, w->cluster);
		lua_setfield(L, -2, "cluster");
		push_opt_str(L, m, w->identity);
		lua_setfield(L, -2, "identity");
		push_labels(L, m, w->labels);
		lua_setfield(L, -2, "labels");
		w->mtls ? (void)lua_pushstring(L, mtls_names[w->mtls]) : lua_pushnil(L);
		lua_setfield(L, -2, "mtls");
		lua_createtable(L, (int)w->services.n, 0);
		for (uint32_t k = 0; k < w->services.n; k++) {
			mp_lmodel_push_element(L, m, MP_LK_SERVICE, v.u32[w->services.off + k]);
			lua_rawseti(L, -2, k + 1);
		}
		lua_setfield(L, -2, "services");
		push_loc(L, m, w->loc);
		lua_setfield(L, -2, "loc");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* Pushes the JSON text as a Lua value; the json_t is freed before an error can be raised. */
static int push_json_protected(lua_State *L)
{
	mp_luajson_push(L, lua_touserdata(L, 1));
	return 1;
}

static void push_json_text(lua_State *L, const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	lua_pushcfunction(L, push_json_protected);
	lua_pushlightuserdata(L, j);
	int rc = j ? lua_pcall(L, 1, 1, 0) : (lua_pop(L, 2), lua_pushnil(L), LUA_OK);
	json_decref(j);
	if (rc != LUA_OK)
		lua_error(L);
}

/* mesh:resources([kind]): the imported Istio resources (of one kind), spec as a table. */
static int mesh_resources(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	const char *kind = luaL_optstring(L, 2, NULL);
	mp_model_view v = mp_model_get_view(m);
	lua_createtable(L, 0, 0);
	for (uint32_t i = 0, n = 0; i < v.nresources; i++) {
		const mp_resource *r = &v.resources[i];
		if (kind && strcmp(kind, mp_model_str(m, r->kind)))
			continue;
		lua_createtable(L, 0, 8);
		push_str(L, m, r->kind);
		lua_setfield(L, -2, "kind");
		push_str(L, m, r->api);
		lua_setfield(L, -2, "api_version");
		push_str(L, m, r->ns);
		lua_setfield(L, -2, "namespace");
		push_str(L, m, r->name);
		lua_setfield(L, -2, "name");
		push_opt_str(L, m, r->version);
		lua_setfield(L, -2, "version");
		mp_lmodel_push_element(L, m, MP_LK_CLUSTER, r->cluster);
		lua_setfield(L, -2, "cluster");
		push_json_text(L, mp_model_str(m, r->spec));
		lua_setfield(L, -2, "spec");
		push_loc(L, m, r->loc);
		lua_setfield(L, -2, "loc");
		lua_rawseti(L, -2, (lua_Integer)++n);
	}
	return 1;
}

/* mesh:import_findings(): what the importer found (docs/import.md, "Findings"). */
static int mesh_import_findings(lua_State *L)
{
	const mp_model *m = check_mesh(L, 1);
	mp_model_view v = mp_model_get_view(m);
	lua_createtable(L, (int)v.nfindings, 0);
	for (uint32_t i = 0; i < v.nfindings; i++) {
		const mp_import_finding *f = &v.findings[i];
		lua_createtable(L, 0, 5);
		push_str(L, m, f->code);
		lua_setfield(L, -2, "code");
		lua_pushstring(L, level_names[f->level < 3 ? f->level : 2]);
		lua_setfield(L, -2, "level");
		push_str(L, m, f->subject);
		lua_setfield(L, -2, "subject");
		push_str(L, m, f->text);
		lua_setfield(L, -2, "message");
		push_loc(L, m, f->loc);
		lua_setfield(L, -2, "loc");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

static void make_metatables(lua_State *L)
{
	static const luaL_Reg element_mt[] = {
	    {"__newindex", read_only},      {"__eq", element_eq}, {"__tostring", element_tostring},
	    {"has_data", element_has_data}, {NULL, NULL},
	};
	static const luaL_Reg collection_mt[] = {
	    {"__index", collection_index},
	    {"__newindex", read_only},
	    {"__len", collection_len},
	    {"__pairs", collection_pairs},
	    {NULL, NULL},
	};
	static const luaL_Reg mesh_mt[] = {
	    {"__index", mesh_index},
	    {"__newindex", read_only},
	    {"__tostring", mesh_tostring},
	    {"routes_from", mesh_routes_from},
	    {"routes_to", mesh_routes_to},
	    {"service", mesh_service},
	    {"jurisdiction_of", mesh_jurisdiction_of},
	    {"cycles", mesh_cycles},
	    {"path", mesh_path},
	    {"reachable", mesh_reachable},
	    {"workloads", mesh_workloads},
	    {"resources", mesh_resources},
	    {"import_findings", mesh_import_findings},
	    {NULL, NULL},
	};
	if (luaL_newmetatable(L, ELEMENT_MT)) {
		luaL_setfuncs(L, element_mt, 0);
		lua_createtable(L, 0, F_COUNT);
		for (int f = F_NONE + 1; f < F_COUNT; f++) {
			lua_pushinteger(L, f);
			lua_setfield(L, -2, field_names[f]);
		}
		lua_pushcclosure(L, element_index, 1);
		lua_setfield(L, -2, "__index");
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &element_mt_key);
	}
	if (luaL_newmetatable(L, COLLECTION_MT)) {
		luaL_setfuncs(L, collection_mt, 0);
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &collection_mt_key);
	}
	if (luaL_newmetatable(L, MESH_MT)) {
		luaL_setfuncs(L, mesh_mt, 0);
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 3);
}

void mp_lmodel_push(lua_State *L, const mp_model *m)
{
	make_metatables(L);
	const mp_model **u = lua_newuserdatauv(L, sizeof(*u), 0);
	*u = m;
	luaL_setmetatable(L, MESH_MT);
}
