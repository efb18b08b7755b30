/* decl.c: content digests of Lua values, to recognise one declaration in two Lua states (see
 * decl.h). Tables hash as the sum of their pairs' hashes, so the order lua_next visits them in
 * (which differs between states) cannot change the result; a cycle hashes as the distance to the
 * table it returns to, which depends on the path from the root alone. */
#include "decl.h"

#include <lauxlib.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

typedef struct {
	lua_State *L;
	int visiting; /* stack index: table or function -> depth, while it is being hashed */
	int cache;    /* stack index: table or function -> digest, for cycle-free values */
	size_t values;
} dctx;

static void hash_tagged(unsigned char tag, const void *a, size_t alen, const void *b, size_t blen,
                        unsigned char out[MP_DECL_DIGEST_LEN])
{
	unsigned char buf[1 + 8 + 2 * MP_DECL_DIGEST_LEN];
	size_t n = 0;
	buf[n++] = tag;
	memcpy(buf + n, a, alen); /* callers pass at most 8 + 32 and 32 bytes */
	n += alen;
	if (blen)
		memcpy(buf + n, b, blen);
	n += blen;
	SHA256(buf, n, out);
}

/* acc += d, as 256-bit little-endian numbers: a sum does not depend on the order of its terms. */
static void add_digest(unsigned char acc[MP_DECL_DIGEST_LEN],
                       const unsigned char d[MP_DECL_DIGEST_LEN])
{
	unsigned carry = 0;
	for (int i = 0; i < MP_DECL_DIGEST_LEN; i++) {
		unsigned s = acc[i] + d[i] + carry;
		acc[i] = (unsigned char)s;
		carry = s >> 8;
	}
}

/* Returns 1 when the digest met a cycle (so it depends on the path to the value). */
static int digest(dctx *c, int idx, int depth, unsigned char out[MP_DECL_DIGEST_LEN]);

/* A table or function already on the path, or already hashed: fills out and returns 1. */
static int seen(dctx *c, const void *p, int depth, unsigned char out[MP_DECL_DIGEST_LEN], int *cyc)
{
	lua_State *L = c->L;
	if (lua_rawgetp(L, c->visiting, p) == LUA_TNUMBER) {
		int64_t back = depth - (int64_t)lua_tointeger(L, -1);
		lua_pop(L, 1);
		hash_tagged('c', &back, sizeof(back), NULL, 0, out);
		*cyc = 1;
		return 1;
	}
	lua_pop(L, 1);
	if (lua_rawgetp(L, c->cache, p) == LUA_TSTRING) {
		memcpy(out, lua_tostring(L, -1), MP_DECL_DIGEST_LEN);
		lua_pop(L, 1);
		*cyc = 0;
		return 1;
	}
	lua_pop(L, 1);
	lua_pushinteger(L, depth);
	lua_rawsetp(L, c->visiting, p);
	return 0;
}

static void done(dctx *c, const void *p, int cyc, const unsigned char d[MP_DECL_DIGEST_LEN])
{
	lua_State *L = c->L;
	lua_pushnil(L);
	lua_rawsetp(L, c->visiting, p);
	if (!cyc) {
		lua_pushlstring(L, (const char *)d, MP_DECL_DIGEST_LEN);
		lua_rawsetp(L, c->cache, p);
	}
}

static int digest_table(dctx *c, int idx, int depth, unsigned char out[MP_DECL_DIGEST_LEN])
{
	lua_State *L = c->L;
	const void *p = lua_topointer(L, idx);
	int cyc = 0;
	if (seen(c, p, depth, out, &cyc))
		return cyc;
	unsigned char acc[MP_DECL_DIGEST_LEN] = {0}, kv[2 * MP_DECL_DIGEST_LEN],
	              pair[MP_DECL_DIGEST_LEN];
	uint64_t count = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		cyc |= digest(c, -2, depth + 1, kv);
		cyc |= digest(c, -1, depth + 1, kv + MP_DECL_DIGEST_LEN);
		SHA256(kv, sizeof(kv), pair);
		add_digest(acc, pair);
		count++;
		lua_pop(L, 1);
	}
	hash_tagged('t', &count, sizeof(count), acc, sizeof(acc), out);
	done(c, p, cyc, out);
	return cyc;
}

static int digest_function(dctx *c, int idx, int depth, unsigned char out[MP_DECL_DIGEST_LEN])
{
	lua_State *L = c->L;
	const void *p = lua_topointer(L, idx);
	int cyc = 0;
	if (seen(c, p, depth, out, &cyc))
		return cyc;
	unsigned char h[MP_DECL_DIGEST_LEN], up[MP_DECL_DIGEST_LEN];
	lua_CFunction cf = lua_tocfunction(L, idx);
	if (cf) { /* the same process compares: an address names a C function */
		unsigned char addr[sizeof(void *)];
		void *fp = NULL;
		memcpy(&fp, &cf, sizeof(fp) < sizeof(cf) ? sizeof(fp) : sizeof(cf));
		memcpy(addr, &fp, sizeof(addr));
		hash_tagged('C', addr, sizeof(addr), NULL, 0, h);
	} else {
		lua_Debug ar;
		lua_pushvalue(L, idx);
		lua_getinfo(L, ">S", &ar);
		int64_t lines[2] = {ar.linedefined, ar.lastlinedefined};
		unsigned char src[MP_DECL_DIGEST_LEN];
		SHA256((const unsigned char *)ar.source, strlen(ar.source), src);
		hash_tagged('L', lines, sizeof(lines), src, sizeof(src), h);
	}
	const char *name;
	for (int i = 1; (name = lua_getupvalue(L, idx, i)); i++) {
		if (!strcmp(name,
		            "_ENV")) { /* the policy's globals: its whole file, not its data */
			lua_pop(L, 1);
			continue;
		}
		cyc |= digest(c, -1, depth + 1, up);
		lua_pop(L, 1);
		hash_tagged('u', h, sizeof(h), up, sizeof(up), h);
	}
	memcpy(out, h, sizeof(h));
	done(c, p, cyc, out);
	return cyc;
}

static int digest(dctx *c, int idx, int depth, unsigned char out[MP_DECL_DIGEST_LEN])
{
	lua_State *L = c->L;
	idx = lua_absindex(L, idx);
	if (++c->values > MP_DECL_MAX_VALUES)
		luaL_error(L, "the declaration holds more than %d values", MP_DECL_MAX_VALUES);
	if (depth > MP_DECL_MAX_DEPTH)
		luaL_error(L, "the declaration nests deeper than %d levels", MP_DECL_MAX_DEPTH);
	luaL_checkstack(L, 8, "declaration digest");
	int t = lua_type(L, idx);
	switch (t) {
	case LUA_TBOOLEAN: {
		unsigned char v = (unsigned char)lua_toboolean(L, idx);
		hash_tagged('b', &v, 1, NULL, 0, out);
		return 0;
	}
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			int64_t v = (int64_t)lua_tointeger(L, idx);
			hash_tagged('i', &v, sizeof(v), NULL, 0, out);
		} else {
			double v = (double)lua_tonumber(L, idx);
			hash_tagged('f', &v, sizeof(v), NULL, 0, out);
		}
		return 0;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		uint64_t n = len;
		unsigned char sd[MP_DECL_DIGEST_LEN];
		SHA256((const unsigned char *)s, len, sd);
		hash_tagged('s', &n, sizeof(n), sd, sizeof(sd), out);
		return 0;
	}
	case LUA_TTABLE:
		return digest_table(c, idx, depth, out);
	case LUA_TFUNCTION:
		return digest_function(c, idx, depth, out);
	default: { /* nil, userdata, threads: their type is all two states can agree on */
		unsigned char v = (unsigned char)t;
		hash_tagged('x', &v, 1, NULL, 0, out);
		return 0;
	}
	}
}

void mp_decl_digest(lua_State *L, int idx, unsigned char out[MP_DECL_DIGEST_LEN])
{
	idx = lua_absindex(L, idx);
	dctx c = {L, 0, 0, 0};
	lua_newtable(L);
	c.visiting = lua_gettop(L);
	lua_newtable(L);
	c.cache = lua_gettop(L);
	digest(&c, idx, 0, out);
	lua_pop(L, 2);
}
