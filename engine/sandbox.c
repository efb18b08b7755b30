/* sandbox.c: Lua states for policy code (allow-listed libraries, text chunks, memory cap,
 * instruction budget). The contract is in sandbox.h and DESIGN.md rule 2; the design notes,
 * invariants and the life of a call are below. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open, read, stat, O_CLOEXEC: the Makefile sets it too */
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem (glibc, musl and the BSDs have it): a linear plain string.find */
#endif
#include "sandbox.h"

#include "alloc.h"
#include "files.h"
#include "luacost.h"
#include "luapool.h"
#include "patcost.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Invariants:
 *  1. Policy code runs only inside mp_sandbox_pcall (mp_sandbox_run calls it). The count hook is
 *     installed exactly while a call runs (depth > 0) and removed when the top-level one returns.
 *  2. The memory cap is enforced exactly while protected code runs in the sandbox (`capped`):
 *     state creation, mp_sandbox_load, mp_sandbox_pcall. Host code outside those is never
 *     refused an allocation because of the cap, so the cap alone never makes a host call raise.
 *     mem_used may therefore exceed mem_limit; growth is then refused.
 *  3. The real library tables are reachable only from C: policy code sees read-only proxies
 *     whose metatables are protected, and the string metatable is protected too.
 *  4. No finalizer written in Lua can exist: setmetatable refuses a metatable with a __gc field
 *     (Lua marks an object for finalization only when its metatable is set), so garbage
 *     collection in host code and lua_close never run policy code outside the budget.
 *  5. The interrupt flag is a lock-free atomic, the only field touched asynchronously.
 *  6. No Lua function runs inside budget_hook's dynamic extent, where Lua disables hooks: the
 *     errors it raises reach no message handler written in Lua (xpcall's is guarded, the host's
 *     calls use none). C functions given to policies must not call lua_pcall with a message
 *     handler written in Lua either.
 *  7. Lua's pattern matcher, which runs in C outside the budget, only runs when a bound on its
 *     steps is under MP_SANDBOX_PATTERN_LIMIT: string.find, match, gmatch and gsub are wrappers
 *     (see "pattern matching under a cost cap"), the originals are their upvalues only.
 *  8. Every C function of the allow-list pays its cost (luacost.c) from the budget before it
 *     runs: policy code reaches only the costed wrappers (see "C functions under the budget"),
 *     the originals are their upvalues only. Memory taken while a call runs is charged too.
 *  9. budget_left is the budget not yet committed: the hook's armed step is paid when armed, so
 *     budget_left never underflows and a charge that passes it is refused whole. The units a
 *     call has used are instr_budget - budget_left, at most HOOK_STEP above the truth.
 * 10. No error is raised outside a protected call, so the panic function (whose return makes
 *     Lua abort the process) is never reached. The process can really run out of memory (the
 *     pool's mp_malloc fails, whatever the cap), and then any lua_* call marked `m` or `e`
 *     raises. So the host makes such calls only inside mp_sandbox_pcall/run (policy code),
 *     mp_sandbox_load, or mp_sandbox_protect (its own setup: the evaluator's state, a bundle's
 *     load and compile, an audit check's arguments), and reports the error like any other.
 *     Calls that cannot raise (reading a value, lua_getfield of a key the table holds, pushing
 *     a light C function, lua_pop) may stay outside. tests/unit/test_sandbox_oom.c fails every
 *     allocation in turn, of the Lua states (mp_sandbox_fail_after) and of the process
 *     (mp_alloc_fail_after), and holds that the panic function is never reached.
 *
 * The life of a top-level call (one made while no call runs):
 *
 *    IDLE --mp_sandbox_pcall: budget reset, clock read, hook every min(left, HOOK_STEP)--> RUNNING
 *    RUNNING --budget_hook: budget spent, deadline passed or interrupt set: trip()--> TRIPPED
 *    RUNNING --charge(): a C function's cost passes the budget: trip(), raise--> TRIPPED
 *    RUNNING --sandbox_alloc: memory's cost passes the budget: stop_call()--> TRIPPED
 *    TRIPPED --budget_hook, re-armed for every instruction: raises again--> TRIPPED
 *    TRIPPED --charge(): raises again--> TRIPPED
 *    RUNNING, TRIPPED --lua_pcall returns to mp_sandbox_pcall: hook removed--> IDLE
 *
 * In TRIPPED a pcall in Lua may catch the error, but the very next instruction (or costed C
 * function) raises it again, so only the host's lua_pcall ends the call (as Redis's
 * script_lua.c does).
 */

#if ATOMIC_INT_LOCK_FREE != 2
#error "mp_sandbox_interrupt needs a lock-free atomic int to be async-signal-safe"
#endif

enum {
	HOOK_STEP = 1000,      /* instructions between hook calls: interrupt latency, accuracy */
	CLOCK_STEP = 16000,    /* units between clock reads (about 0.1 ms): deadline latency */
	MODULE_NAME_MAX = 128, /* bytes in a require name */
	MODULE_FILE_MAX = 16 << 20 /* bytes in a stdlib module file */
};

enum stop { STOP_NONE, STOP_TIMEOUT, STOP_INTERRUPTED, STOP_DEADLINE };

/* A registry ref of the metatable lazy proxies of kind and name share (mp_sandbox_push_lazy),
 * so that a proxy is made without a lookup by the kind's address and one by name. */
typedef struct {
	const mp_sandbox_lazy *kind; /* NULL: a free slot */
	char name[24];
	int mt_ref;
} lazy_mt_ref;

struct mp_sandbox {
	lua_State *L;
	mp_luapool pool; /* the state's blocks; released after lua_close */
	size_t mem_limit;
	size_t mem_used;
	int capped;                       /* enforce mem_limit now (invariant 2) */
	int depth;                        /* mp_sandbox_pcall calls running, nested ones included */
	uint64_t instr_budget;            /* per top-level call */
	uint64_t budget_left;             /* not yet committed in this call (invariant 9) */
	uint64_t total_used;              /* units of the top-level calls that have returned */
	uint64_t last_used;               /* units of the last top-level call that returned */
	uint64_t mem_units;               /* of those of the running call: memory's charge ... */
	uint64_t last_mem_units;          /* ... and of the last top-level call that returned */
	size_t mem_peak;                  /* the most mem_used has been */
	uint64_t requires;                /* calls to require */
	uint64_t mem_refused;             /* growths refused */
	uint64_t mem_exhausted;           /* of those, the allocator's (the process had none) */
	int exhausted_last;               /* the last growth refused was the allocator's */
	int hook_step;                    /* the count the hook is armed with */
	uint32_t deadline_ms;             /* as set: 0 = derived, MP_SANDBOX_NO_DEADLINE */
	uint64_t deadline_at;             /* monotonic ns the running call must end by; 0: none */
	int64_t clock_credit;             /* units to spend before the clock is read again */
	enum stop stop;                   /* why the running call must end, once tripped */
	int located;                      /* stop_where is filled in */
	atomic_int interrupt;             /* set by mp_sandbox_interrupt, from anywhere */
	const atomic_int *watch;          /* mp_sandbox_watch's flag, or NULL; never written here */
	char *stdlib_dir;                 /* NULL: require finds nothing */
	uint64_t nondeterministic;        /* calls whose result differs from run to run */
	lazy_mt_ref lazy_mts[4];          /* the first kinds and names made */
	int lazy_data_ref;                /* a registry ref of lazy_data_key's table, or 0 */
	char stop_where[LUA_IDSIZE + 24]; /* "chunk:line: " of the trip, or "" */
	char stop_detail[128];            /* ": string.rep needs ..." or "" */
};

static char loading_sentinel; /* its address marks a module being loaded */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static mp_sandbox *sandbox_of(lua_State *L)
{
	void *ud;

	lua_getallocf(L, &ud);
	return ud;
}

/* --- memory --- */

static void stop_call(mp_sandbox *sb, enum stop why);

/* While a call runs, memory taken costs budget (luacost.c): this is what bounds the VM's own
 * copying (`..` on long strings), the growth of tables and the collector's work, and the
 * results of C functions. It is charged before the block is filled but never refused for it:
 * an allocation the budget cannot pay still succeeds, and the call stops at its next instruction
 * or costed call (so at most one C call's work, under the memory cap, runs past the budget).
 * Refusing it would make Lua collect and retry, and report a memory error. */
static void charge_alloc(mp_sandbox *sb, size_t grow, int new_block)
{
	uint64_t units;

	if (sb->depth == 0 || sb->stop != STOP_NONE)
		return;
	units = mp_luacost_units(mp_luacost_alloc(grow, new_block));
	if (units <= sb->budget_left) {
		sb->budget_left -= units;
		sb->mem_units += units;
		return;
	}
	snprintf(sb->stop_detail, sizeof sb->stop_detail,
	         ": memory (%zu bytes) would cost %llu units, %llu left", grow,
	         (unsigned long long)units, (unsigned long long)sb->budget_left);
	sb->budget_left = 0;
	stop_call(sb, STOP_TIMEOUT);
}

/* mp_sandbox_fail_after's countdown: < 0 off, else the growths left before they fail. */
static atomic_long fail_countdown = -1;

void mp_sandbox_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}

/* Is an injected failure due for this growth? One relaxed load when the hook is off. */
static int injected_failure(void)
{
	return atomic_load_explicit(&fail_countdown, memory_order_relaxed) >= 0 &&
	       mp_alloc_countdown(&fail_countdown);
}

/* A growth refused (mp_sandbox_mem_refused): by the cap, or (process) because the allocator had
 * none, which an injected failure stands for. */
static void *refuse(mp_sandbox *sb, int process)
{
	sb->mem_refused++;
	sb->mem_exhausted += (uint64_t)process;
	sb->exhausted_last = process;
	return NULL;
}

/* A memory error's text, what (a chunk's name) first when not empty: the cap's, or the process's
 * when the allocator itself had none (the cap was not what stopped it). */
static void nomem_err(const mp_sandbox *sb, const char *what, char *err, size_t errlen)
{
	const char *sep = *what ? ": " : "";
	if (sb->exhausted_last)
		set_err(err, errlen,
		        "%s%snot enough memory: the process could not allocate (the state held %zu "
		        "of its %zu bytes)",
		        what, sep, sb->mem_used, sb->mem_limit);
	else
		set_err(err, errlen, "%s%snot enough memory (limit %zu bytes)", what, sep,
		        sb->mem_limit);
}

/* lua_Alloc: the state's pool (luapool.h) plus accounting, the cap and the budget's charge.
 * Shrinking never fails. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	mp_sandbox *sb = ud;
	size_t old = ptr ? osize : 0; /* for a new block osize is a type tag */
	void *p;

	if (nsize == 0) {
		mp_luapool_realloc(&sb->pool, ptr, osize, 0, 0);
		sb->mem_used -= old;
		return NULL;
	}
	if (nsize > old && sb->capped &&
	    (sb->mem_used > sb->mem_limit || nsize - old > sb->mem_limit - sb->mem_used))
		return refuse(sb, 0);
	if (nsize > old && injected_failure())
		return refuse(sb, 1);
	/* the pool's own bound (luapool.h): twice the cap, while the cap holds */
	p = mp_luapool_realloc(&sb->pool, ptr, osize, nsize, sb->capped ? 2 * sb->mem_limit : 0);
	if (!p) /* a growth: a shrink never fails */
		return refuse(sb, 1);
	sb->mem_used = sb->mem_used - old + nsize;
	if (nsize > old) {
		if (sb->mem_used > sb->mem_peak)
			sb->mem_peak = sb->mem_used;
		charge_alloc(sb, nsize - old, ptr == NULL);
	}
	return p;
}

typedef void (*panic_fn)(const char *msg);
static _Atomic(panic_fn) panic_hook; /* mp_sandbox_on_panic's */

void mp_sandbox_on_panic(void (*fn)(const char *msg))
{
	atomic_store(&panic_hook, fn);
}

/* The last line only: invariant 10 says no path reaches it. */
static int sandbox_panic(lua_State *L)
{
	const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)";
	panic_fn hook = atomic_load(&panic_hook);

	fprintf(stderr, "meshpol: unprotected error in a Lua sandbox: %s\n", msg);
	if (hook)
		hook(msg);
	return 0; /* Lua aborts */
}

/* --- the instruction budget and the deadline --- */

static void budget_hook(lua_State *L, lua_Debug *ar);

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The deadline of a top-level call in ns, 0 for none: as set, or derived from the budget (see
 * sandbox.h). */
static uint64_t deadline_ns(const mp_sandbox *sb)
{
	uint64_t ns;

	if (sb->deadline_ms == MP_SANDBOX_NO_DEADLINE)
		return 0;
	if (sb->deadline_ms)
		return (uint64_t)sb->deadline_ms * 1000000u;
	if (sb->instr_budget > UINT64_MAX / 2 / MP_SANDBOX_DEADLINE_NS_PER_UNIT)
		return 0; /* a budget too big to run out, as the REPL's: no deadline either */
	ns = sb->instr_budget * MP_SANDBOX_DEADLINE_NS_PER_UNIT;
	return ns < (uint64_t)MP_SANDBOX_MIN_DEADLINE_MS * 1000000u
	           ? (uint64_t)MP_SANDBOX_MIN_DEADLINE_MS * 1000000u
	           : ns;
}

/* Arms the hook for the next step and pays for it (invariant 9). */
static void arm_step(lua_State *L, mp_sandbox *sb)
{
	int step = sb->budget_left < HOOK_STEP ? (int)sb->budget_left : HOOK_STEP;

	sb->budget_left -= (uint64_t)step;
	if (step != sb->hook_step) {
		sb->hook_step = step;
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, step);
	}
}

/* Marks the running call as stopped and re-arms the hook for every instruction, so that the
 * next one raises. Touches no Lua stack: the allocator calls it too. */
static void stop_call(mp_sandbox *sb, enum stop why)
{
	sb->stop = why;
	sb->located = 0;
	sb->stop_where[0] = '\0';
	sb->hook_step = 1;
	lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, 1);
}

static void trip(mp_sandbox *sb, enum stop why)
{
	if (why != STOP_TIMEOUT)
		sb->stop_detail[0] = '\0';
	stop_call(sb, why);
}

static const char *stop_message(enum stop why)
{
	switch (why) {
	case STOP_TIMEOUT:
		return "instruction budget exceeded";
	case STOP_DEADLINE:
		return "deadline exceeded";
	default:
		return "interrupted";
	}
}

/* Raises the stop's error, first recording "chunk:line: " of the innermost Lua function (from
 * the hook, level 0 is that function; from a costed C function, its caller). */
static int raise_stop(lua_State *L, mp_sandbox *sb)
{
	lua_Debug d;
	int level;

	if (!sb->located) {
		sb->located = 1;
		for (level = 0; lua_getstack(L, level, &d); level++) {
			if (lua_getinfo(L, "Sl", &d) && d.currentline > 0) {
				snprintf(sb->stop_where, sizeof sb->stop_where,
				         "%s:%d: ", d.short_src, d.currentline);
				break;
			}
		}
	}
	lua_pushfstring(L, "%s%s%s", sb->stop_where, stop_message(sb->stop), sb->stop_detail);
	return lua_error(L);
}

/* Spends units of clock credit; reads the clock when it runs out. 1 if the deadline passed. */
static int deadline_passed(mp_sandbox *sb, uint64_t units)
{
	sb->clock_credit -= units > CLOCK_STEP ? CLOCK_STEP : (int64_t)units;
	if (sb->clock_credit > 0)
		return 0;
	sb->clock_credit = CLOCK_STEP;
	return sb->deadline_at && now_ns() >= sb->deadline_at;
}

/* Is the flag mp_sandbox_watch gave set? */
static int watched(const mp_sandbox *sb)
{
	return sb->watch && atomic_load_explicit(sb->watch, memory_order_relaxed);
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
	mp_sandbox *sb = sandbox_of(L);

	(void)ar;
	if (sb->stop == STOP_NONE) {
		if (atomic_load_explicit(&sb->interrupt, memory_order_relaxed) || watched(sb)) {
			trip(sb, STOP_INTERRUPTED);
		} else if (sb->budget_left == 0) {
			sb->stop_detail[0] = '\0';
			trip(sb, STOP_TIMEOUT);
		} else if (deadline_passed(sb, (uint64_t)sb->hook_step)) {
			trip(sb, STOP_DEADLINE);
		} else {
			arm_step(L, sb);
			return;
		}
	}
	raise_stop(L, sb);
}

/* Pays cost units from the running call's budget before lib.fn (lib NULL: a global) does its
 * work, or stops the call
 * and raises, as the hook does, if the budget cannot pay (or the call had stopped already, or
 * the deadline passed). Outside any call (host code calling a library function) it is free. */
static void charge(lua_State *L, double cost, const char *lib, const char *fn)
{
	mp_sandbox *sb = sandbox_of(L);
	uint64_t units;

	if (sb->depth == 0)
		return;
	if (sb->stop != STOP_NONE)
		raise_stop(L, sb);
	units = mp_luacost_units(cost);
	if (units > sb->budget_left) {
		snprintf(sb->stop_detail, sizeof sb->stop_detail,
		         ": %s%s%s would cost %.3g units, %llu left", lib ? lib : "",
		         lib ? "." : "", fn, cost, (unsigned long long)sb->budget_left);
		trip(sb, STOP_TIMEOUT);
		raise_stop(L, sb);
	}
	sb->budget_left -= units;
	if (deadline_passed(sb, units)) {
		trip(sb, STOP_DEADLINE);
		raise_stop(L, sb);
	}
}

/* --- errors --- */

/* Copies the error object at the top of the stack into err without calling anything that can
 * raise an error (this runs outside protected mode). */
static void copy_error(lua_State *L, char *err, size_t errlen)
{
	switch (lua_type(L, -1)) {
	case LUA_TSTRING:
		set_err(err, errlen, "%s", lua_tostring(L, -1));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, -1))
			set_err(err, errlen, LUA_INTEGER_FMT, lua_tointeger(L, -1));
		else
			set_err(err, errlen, LUA_NUMBER_FMT, lua_tonumber(L, -1));
		break;
	default:
		set_err(err, errlen, "(error object is a %s value)", luaL_typename(L, -1));
		break;
	}
}

/* Pushes "chunk:line: " for the innermost Lua function on the call stack, or "". */
static void push_where(lua_State *L)
{
	lua_Debug d;
	int level;

	for (level = 1; lua_getstack(L, level, &d); level++) {
		lua_getinfo(L, "Sl", &d);
		if (d.currentline > 0) {
			lua_pushfstring(L, "%s:%d: ", d.short_src, d.currentline);
			return;
		}
	}
	lua_pushliteral(L, "");
}

/* Untrusted text (a module name) made fit for an error message: printable, at most 60 bytes. */
static const char *printable(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t i, n = len < buflen - 4 ? len : buflen - 4;

	for (i = 0; i < n; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* --- read-only tables --- */

/* A read-only proxy's metatable holds the real table as __index and the proxy's name as RO_NAME;
 * the metamethods are plain C functions shared by every proxy, so a proxy costs two tables and
 * no closures, and a read is a plain table read (the library tables). */
static int ro_newindex(lua_State *L);

/* The metatable's field with the proxy's name, for ro_newindex's message (no metamethod reads
 * it; policy code never sees the metatable). */
#define RO_NAME "__meshpol_ro"

/* Lazy proxies (mp_sandbox_push_lazy) are made per decision, so they share their metatable: one
 * per kind and name in a Lua state, made on first use and kept in the registry (at the kind's
 * address: name -> metatable). It holds the fields above and __index = ro_lazy_index, a closure
 * whose upvalues are the kind and weak-keyed tables that hold each proxy's own state:
 *   LAZY_UV_DATA       data[proxy], the host's data, until every field is made (pairs, #); then
 *                      nil (shared by every kind: registry, lazy_data_key);
 *   LAZY_UV_ALL        all[proxy], once every field is made, the table of them (lazy_all_key);
 *   LAZY_UV_FIELDS+i   field i of each proxy once made, if it has an identity (a table,
 *                      userdata, function: a string or a number is made again on each read,
 *                      which no code can tell apart); one table per field and metatable
 *                      (false for a plain field, and for every field of a kind that keeps
 *                      them in its data's user values: keep_uv).
 * A proxy is then one empty table and an entry in data. Policy code reaches none of these (the
 * metatable is protected), and a proxy's entries go with it when it is collected, the data
 * with them. */
enum { LAZY_UV_KIND = 1, LAZY_UV_DATA, LAZY_UV_ALL, LAZY_UV_FIELDS };
static const char lazy_data_key, lazy_all_key;
static int ro_lazy_index(lua_State *L);
static void lazy_complete(lua_State *L, int proxy, int mt);

/* Pushes the real table behind the read-only proxy at idx and returns 1; 0, pushing nothing,
 * when idx is no proxy (ro_next is policy code's to call with anything). A lazy proxy makes
 * every field first. */
static int push_real(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	if (!lua_getmetatable(L, idx))
		return 0;
	lua_pushliteral(L, "__newindex");
	lua_rawget(L, -2);
	int ok = lua_tocfunction(L, -1) == ro_newindex;
	lua_pop(L, 1);
	lua_pushliteral(L, "__index");
	int t = lua_rawget(L, -2);
	if (ok && t == LUA_TFUNCTION && lua_tocfunction(L, -1) == ro_lazy_index) {
		lua_pop(L, 1);
		lazy_complete(L, idx, -1);
		t = LUA_TTABLE;
	}
	if (!ok || t != LUA_TTABLE) {
		lua_pop(L, 2);
		return 0;
	}
	lua_remove(L, -2);
	return 1;
}

static int ro_newindex(lua_State *L)
{
	size_t keylen;
	const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &keylen) : NULL;
	lua_getmetatable(L, 1);
	lua_getfield(L, -1, RO_NAME);
	const char *name = lua_tostring(L, -1);

	push_where(L);
	if (key && keylen <= 64)
		lua_pushfstring(L, "attempt to modify read-only table '%s' (key '%s')", name, key);
	else
		lua_pushfstring(L, "attempt to modify read-only table '%s'", name);
	lua_concat(L, 2);
	return lua_error(L);
}

static int ro_len(lua_State *L)
{
	if (!push_real(L, 1))
		return luaL_argerror(L, 1, "read-only table expected");
	lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
	return 1;
}

/* The iterator __pairs returns: the proxy is its state, so the real table stays out of policy
 * code's reach. */
static int ro_next(lua_State *L)
{
	lua_settop(L, 2);
	if (!push_real(L, 1))
		return luaL_argerror(L, 1, "read-only table expected");
	lua_pushvalue(L, 2);
	return lua_next(L, -2) ? 2 : 0;
}

static int ro_pairs(lua_State *L)
{
	lua_pushcfunction(L, ro_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Pushes a metatable with room for nfields fields (one allocation) and every field of a
 * read-only proxy's but __index set; the caller sets __index (and its own). */
static void push_proxy_mt(lua_State *L, int nfields, const char *name)
{
	lua_createtable(L, 0, nfields);
	lua_pushstring(L, name ? name : "?");
	lua_setfield(L, -2, RO_NAME);
	lua_pushcfunction(L, ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, ro_len);
	lua_setfield(L, -2, "__len");
	lua_pushcfunction(L, ro_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_pushliteral(L, "read-only");
	lua_setfield(L, -2, "__metatable");
}

void mp_sandbox_push_readonly(lua_State *L, int idx, const char *name)
{
	idx = lua_absindex(L, idx);
	assert(lua_type(L, idx) == LUA_TTABLE);
	lua_createtable(L, 0, 0); /* the proxy */
	push_proxy_mt(L, 6, name);
	lua_pushvalue(L, idx);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
}

/* The index of field key in kind k, or -1. */
static int lazy_field(const mp_sandbox_lazy *k, const char *key, size_t len)
{
	for (int i = 0; k->fields[i]; i++)
		if (strlen(k->fields[i]) == len && memcmp(k->fields[i], key, len) == 0)
			return i;
	return -1;
}

/* Pushes the registry's table at key, made (empty; weak-keyed when weak) if there is none; with
 * key NULL, a fresh one kept nowhere. */
static void push_registry_table(lua_State *L, const void *key, int weak)
{
	if (key && lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
		return;
	if (key)
		lua_pop(L, 1);
	lua_createtable(L, 0, 0);
	if (weak) {
		lua_createtable(L, 0, 1);
		lua_pushliteral(L, "k");
		lua_setfield(L, -2, "__mode");
		lua_setmetatable(L, -2);
	}
	if (key) {
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, key);
	}
}

/* Is v a value with an identity, which a lazy proxy must make once and keep? */
static int has_identity(int type)
{
	return type == LUA_TTABLE || type == LUA_TUSERDATA || type == LUA_TFUNCTION ||
	       type == LUA_TTHREAD;
}

/* __index of a lazy proxy: (proxy, key); upvalues: LAZY_UV_*. */
static int ro_lazy_index(lua_State *L)
{
	size_t len;
	const mp_sandbox_lazy *k = lua_touserdata(L, lua_upvalueindex(LAZY_UV_KIND));
	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	const char *key = lua_tolstring(L, 2, &len);
	int i = lazy_field(k, key, len);
	if (i < 0)
		return 0;
	int plain = (k->plain >> i) & 1;
	lua_settop(L, 2);
	if (plain || k->keep_uv) {
		lua_pushnil(L); /* 3: nothing kept (here) */
	} else {
		lua_pushvalue(L, 1);
		if (lua_rawget(L, lua_upvalueindex(LAZY_UV_FIELDS + i)) != LUA_TNIL) /* 3: kept */
			return 1;
	}
	lua_pushvalue(L, 1);
	if (lua_rawget(L, lua_upvalueindex(LAZY_UV_DATA)) == LUA_TNIL) { /* 4: nil: all made */
		lua_pushvalue(L, 1);
		lua_rawget(L, lua_upvalueindex(LAZY_UV_ALL));
		lua_pushvalue(L, 2);
		lua_rawget(L, -2);
		return 1;
	}
	if (k->keep_uv && !plain) {
		if (lua_getiuservalue(L, 4, k->keep_uv + i) > LUA_TNIL) /* 5: kept in the data */
			return 1;
		lua_pop(L, 1);
	}
	if (!k->make(L, 4, i))
		return 0;
	assert(!plain || !has_identity(lua_type(L, -1)));
	if (!plain && has_identity(lua_type(L, -1))) {
		if (k->keep_uv) {
			lua_pushvalue(L, -1);
			int set = lua_setiuservalue(L, 4, k->keep_uv + i);
			assert(set);
			(void)set;
		} else {
			lua_pushvalue(L, 1);
			lua_pushvalue(L, -2);
			lua_rawset(L, lua_upvalueindex(LAZY_UV_FIELDS + i));
		}
	}
	return 1;
}

/* Pushes field i of the lazy proxy at index proxy as kept (f: its __index, data: its data)
 * and returns 1, or pushes nothing and returns 0 when it is not kept. */
static int push_kept(lua_State *L, const mp_sandbox_lazy *k, int f, int proxy, int data, int i)
{
	if ((k->plain >> i) & 1)
		return 0;
	if (k->keep_uv) {
		if (lua_getiuservalue(L, data, k->keep_uv + i) > LUA_TNIL)
			return 1;
		lua_pop(L, 1);
		return 0;
	}
	lua_getupvalue(L, f, LAZY_UV_FIELDS + i);
	lua_pushvalue(L, proxy);
	if (lua_rawget(L, -2) != LUA_TNIL) {
		lua_remove(L, -2);
		return 1;
	}
	lua_pop(L, 2);
	return 0;
}

/* Makes every field of the lazy proxy at index proxy (its metatable at mt), in the kind's
 * order, into a fresh table (the one a plain proxy's would be: pairs visits it in the same
 * order), which becomes its all table, its data dropped; pushes it. A field kept before keeps
 * its value. */
static void lazy_complete(lua_State *L, int proxy, int mt)
{
	luaL_checkstack(L, 8, "lazy proxy");
	proxy = lua_absindex(L, proxy);
	mt = lua_absindex(L, mt);
	lua_pushliteral(L, "__index");
	lua_rawget(L, mt);
	int f = lua_gettop(L);
	lua_getupvalue(L, f, LAZY_UV_KIND);
	const mp_sandbox_lazy *k = lua_touserdata(L, -1);
	lua_getupvalue(L, f, LAZY_UV_DATA); /* f + 2 */
	lua_pushvalue(L, proxy);
	lua_rawget(L, f + 2);
	int data = lua_gettop(L);
	lua_getupvalue(L, f, LAZY_UV_ALL); /* data + 1 */
	if (lua_isnil(L, data)) {          /* made before */
		lua_pushvalue(L, proxy);
		lua_rawget(L, data + 1);
		lua_replace(L, f);
		lua_settop(L, f);
		return;
	}
	lua_createtable(L, 0, k->nfields);
	int all = lua_gettop(L);
	for (int i = 0; k->fields[i]; i++) {
		if (!push_kept(L, k, f, proxy, data, i) && !k->make(L, data, i))
			continue;
		lua_setfield(L, all, k->fields[i]); /* a raw set: the table is plain */
	}
	lua_pushvalue(L, proxy);
	lua_pushvalue(L, all);
	lua_rawset(L, data + 1);
	lua_pushvalue(L, proxy);
	lua_pushnil(L);
	lua_rawset(L, f + 2);
	lua_replace(L, f);
	lua_settop(L, f);
}

/* Pushes the metatable the lazy proxies of kind named name share (made on first use). */
static void push_lazy_mt(lua_State *L, const mp_sandbox_lazy *kind, const char *name)
{
	assert(kind->nfields >= 0 && kind->nfields <= 200 && !kind->fields[kind->nfields]);
	luaL_checkstack(L, kind->nfields + 8, "lazy proxy");
	name = name ? name : "?";
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, kind) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 1);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, kind);
	}
	if (lua_getfield(L, -1, name) == LUA_TTABLE) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	push_proxy_mt(L, 6, name);
	lua_pushlightuserdata(L, (void *)kind);
	push_registry_table(L, &lazy_data_key, 1);
	push_registry_table(L, &lazy_all_key, 1);
	for (int i = 0; i < kind->nfields; i++) { /* none: kept in the data or never */
		if (kind->keep_uv || ((kind->plain >> i) & 1))
			lua_pushboolean(L, 0);
		else
			push_registry_table(L, NULL, 1);
	}
	lua_pushcclosure(L, ro_lazy_index, LAZY_UV_FIELDS - 1 + kind->nfields);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	lua_remove(L, -2);
}

/* Pushes the metatable of kind and name through the registry ref sb keeps of it, made and
 * kept on first use (while a slot is free; a name too long to keep is looked up each time). */
static void push_lazy_mt_cached(lua_State *L, mp_sandbox *sb, const mp_sandbox_lazy *kind,
                                const char *name)
{
	size_t n = sizeof sb->lazy_mts / sizeof sb->lazy_mts[0], len;
	name = name ? name : "?";
	len = strlen(name);
	for (size_t i = 0; i < n && sb->lazy_mts[i].kind; i++) {
		if (sb->lazy_mts[i].kind == kind && strcmp(sb->lazy_mts[i].name, name) == 0) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, sb->lazy_mts[i].mt_ref);
			return;
		}
	}
	push_lazy_mt(L, kind, name);
	for (size_t i = 0; i < n && len < sizeof sb->lazy_mts[0].name; i++) {
		if (!sb->lazy_mts[i].kind) {
			lua_pushvalue(L, -1);
			sb->lazy_mts[i].mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
			memcpy(sb->lazy_mts[i].name, name, len + 1);
			sb->lazy_mts[i].kind = kind;
			break;
		}
	}
}

void mp_sandbox_push_lazy(lua_State *L, const mp_sandbox_lazy *kind, const char *name)
{
	mp_sandbox *sb = sandbox_of(L);
	int data = lua_gettop(L);
	assert(lua_toboolean(L, data)); /* nil marks a proxy whose fields are all made */
	assert(!kind->keep_uv || lua_type(L, data) == LUA_TUSERDATA);
	lua_createtable(L, 0, 0); /* the proxy */
	push_lazy_mt_cached(L, sb, kind, name);
	lua_setmetatable(L, -2);
	if (sb->lazy_data_ref) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, sb->lazy_data_ref);
	} else {
		push_registry_table(L, &lazy_data_key, 1);
		lua_pushvalue(L, -1);
		sb->lazy_data_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_pushvalue(L, -2);
	lua_pushvalue(L, data);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	lua_replace(L, data);
}

/* If the table at idx is a read-only proxy, pushes its __newindex and returns 1. */
static int push_readonly_newindex(lua_State *L, int idx)
{
	if (!lua_getmetatable(L, idx))
		return 0;
	lua_pushliteral(L, "__newindex");
	lua_rawget(L, -2);
	lua_remove(L, -2);
	if (lua_tocfunction(L, -1) == ro_newindex)
		return 1;
	lua_pop(L, 1);
	return 0;
}

void mp_sandbox_push_env(lua_State *L)
{
	lua_createtable(L, 0, 0);
	lua_createtable(L, 0, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
}

/* --- the base library, narrowed --- */

/* The reader load is given for a function chunk: calls the policy's reader (upvalue 1) and pays
 * for each piece it returns before the compiler reads it. */
static int charged_reader(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_call(L, 0, 1);
	if (lua_type(L, -1) == LUA_TSTRING)
		charge(L, mp_luacost_load(lua_rawlen(L, -1)), NULL, "load");
	return 1;
}

/* load(chunk [, chunkname [, mode [, env]]]): upvalue 1 is the original load, run in this frame
 * (so its messages name the policy's line). The mode is always "t"; without env the chunk gets
 * the sandbox globals. Compiling is paid per byte of source, before it starts. */
static int sandbox_load(lua_State *L)
{
	lua_CFunction original = lua_tocfunction(L, lua_upvalueindex(1));
	int has_env = !lua_isnone(L, 4);

	assert(original);
	if (lua_type(L, 1) == LUA_TSTRING)
		charge(L, mp_luacost_load(lua_rawlen(L, 1)), NULL, "load");
	lua_settop(L, 4);
	if (lua_type(L, 1) == LUA_TFUNCTION) {
		lua_pushvalue(L, 1);
		lua_pushcclosure(L, charged_reader, 1);
		lua_replace(L, 1);
	}
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	if (!has_env) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
		lua_replace(L, 4);
	}
	return original(L);
}

/* setmetatable(t, mt): upvalue 1 is the original; refuses __gc (invariant 4). */
static int sandbox_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L,
			                  "setmetatable: __gc metamethods are not allowed in the "
			                  "sandbox");
		lua_pop(L, 1);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* rawset(t, k, v): upvalue 1 is the original; a read-only proxy raises its usual error. */
static int sandbox_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 3);
	if (push_readonly_newindex(L, 1)) {
		lua_insert(L, 1);
		lua_call(L, 3, 0); /* raises */
		return 0;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 3, 1);
	return 1;
}

/* The message handler sandbox_xpcall installs around the policy's handler (upvalue 1). An error
 * raised by budget_hook reaches the message handler while Lua still has hooks disabled (the hook
 * has not returned), so a policy handler run then would run without budget (invariant 6). Once
 * the call has tripped, the error object passes through untouched instead. */
static int guarded_msgh(lua_State *L)
{
	if (sandbox_of(L)->stop != STOP_NONE)
		return 1;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* xpcall(f, msgh, ...), as the base library's but with msgh guarded. No continuation is needed:
 * policy code has no coroutines to yield from. */
static int sandbox_xpcall(lua_State *L)
{
	int n = lua_gettop(L), status;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, guarded_msgh, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1); /* the first result if f succeeds */
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2); /* true and f go below f's arguments */
	status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
	if (status != LUA_OK) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - 2;
}

/* collectgarbage("count") only: a policy must not drive the collector (a full collection per
 * instruction would slip past the budget, which counts VM instructions only). */
static int sandbox_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "collect");

	sandbox_of(L)->nondeterministic++; /* the count differs from run to run */
	if (strcmp(opt, "count") != 0)
		return luaL_error(L, "collectgarbage: option '%s' is not allowed in the sandbox",
		                  opt);
	lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT) +
	                      (lua_Number)lua_gc(L, LUA_GCCOUNTB) / 1024.0);
	return 1;
}

/* --- require --- */

/* Checks ^[a-z_][a-z0-9_.]*$ with no empty component and writes the relative path (dots as
 * slashes) to out, which holds MODULE_NAME_MAX + 1 bytes. 0 if the name is not valid. */
static int module_relpath(const char *name, size_t len, char *out)
{
	size_t i;

	if (len == 0 || len > MODULE_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];
		if ((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9'))
			out[i] = c;
		else if (c == '.' && i > 0 && name[i - 1] != '.' && i + 1 < len)
			out[i] = '/';
		else
			return 0;
	}
	out[len] = '\0';
	return 1;
}

/* Reads a regular file into a new userdata (pushed) and sets *len. Returns 0 and pushes
 * nothing if there is no such file. No Lua call happens while the descriptor is open. */
static int push_module_file(lua_State *L, const char *path, size_t *len)
{
	struct stat st;
	size_t size;
	ssize_t got;
	char *buf, why[256];
	int fd;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if (st.st_size > MODULE_FILE_MAX)
		return luaL_error(L, "module file '%s' is larger than %d bytes", path,
		                  MODULE_FILE_MAX);
	size = (size_t)st.st_size;
	buf = lua_newuserdatauv(L, size + 1, 0);
	fd = mp_files_open(path, &st, why, sizeof why); /* replaced by a FIFO since the stat */
	if (fd < 0) {
		lua_pop(L, 1);
		return 0;
	}
	got = mp_files_read_fd(fd, buf, size + 1); /* one byte more: did it grow? */
	close(fd);
	if (got < 0)
		return luaL_error(L, "cannot read module file '%s'", path);
	if ((size_t)got > size)
		return luaL_error(L, "module file '%s' changed while being read", path);
	*len = (size_t)got;
	return 1;
}

static int sandbox_require(lua_State *L)
{
	mp_sandbox *sb = sandbox_of(L);
	char rel[MODULE_NAME_MAX + 1], shown[64];
	size_t len, size = 0;
	const char *name = luaL_checklstring(L, 1, &len);
	const char *path;

	printable(name, len, shown, sizeof shown);
	sb->requires ++;
	lua_settop(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, MP_SANDBOX_LOADED_KEY); /* 2: the cache */
	lua_pushvalue(L, 1);
	if (lua_rawget(L, 2) != LUA_TNIL) {
		if (lua_touserdata(L, -1) == &loading_sentinel)
			return luaL_error(L, "module '%s' requires itself while loading", shown);
		return 1;
	}
	lua_pop(L, 1);
	if (!module_relpath(name, len, rel))
		return luaL_error(L, "module '%s' not found in stdlib (not a valid module name)",
		                  shown);
	if (!sb->stdlib_dir)
		return luaL_error(L, "module '%s' not found in stdlib (no stdlib directory)",
		                  shown);
	path = lua_pushfstring(L, "%s/%s.lua", sb->stdlib_dir, rel); /* 3 */
	if (!push_module_file(L, path, &size))                       /* 4: the text */
		return luaL_error(L, "module '%s' not found in stdlib", shown);
	charge(L, mp_luacost_load(size), NULL, "require");
	lua_pushfstring(L, "@%s", path); /* 5 */
	switch (luaL_loadbufferx(L, lua_touserdata(L, 4), size, lua_tostring(L, 5), "t")) {
	case LUA_OK:
		break;
	case LUA_ERRMEM:
		return lua_error(L); /* stays a memory error */
	default:
		return luaL_error(L, "error loading module '%s': %s", shown, lua_tostring(L, -1));
	}
	lua_replace(L, 4); /* 4: the chunk; the text is garbage now */
	lua_settop(L, 4);
	lua_pushvalue(L, 1);
	lua_pushlightuserdata(L, &loading_sentinel);
	lua_rawset(L, 2);
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 3);
	if (lua_pcall(L, 2, 1, 0) != LUA_OK) { /* forget the sentinel, then re-raise */
		lua_pushvalue(L, 1);
		lua_pushnil(L);
		lua_rawset(L, 2);
		return lua_error(L);
	}
	if (lua_isnil(L, -1)) {
		lua_pushboolean(L, 1);
	} else if (lua_type(L, -1) == LUA_TTABLE) {
		mp_sandbox_push_readonly(L, -1, shown);
	} else {
		lua_pushvalue(L, -1);
	}
	lua_pushvalue(L, 1);
	lua_pushvalue(L, -2);
	lua_rawset(L, 2);
	return 1;
}

/* --- pattern matching under a cost cap (the bound: patcost.c) --- */

/* lstrlib's posrelatI(pos, len) - 1: the offset where find, match and gmatch start. */
static size_t start_offset(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos - 1;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 0;
	return len + (size_t)pos;
}

/* Whether lstrlib's nospecials() would say no: a byte of "^$*+?.([%-" anywhere. */
static int has_specials(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		switch (p[i]) {
		case '^':
		case '$':
		case '*':
		case '+':
		case '?':
		case '.':
		case '(':
		case '[':
		case '%':
		case '-':
			return 1;
		}
	}
	return 0;
}

/* Raises "<where>fn: pattern too complex ..." if matching p (lp bytes) against n subject bytes
 * can take more than MP_SANDBOX_PATTERN_LIMIT steps. can_anchor: a leading '^' anchors. */
static void check_pattern(lua_State *L, const char *fn, const char *p, size_t lp, size_t n,
                          int can_anchor, enum mp_patcost_attempts unanchored)
{
	int anchored = can_anchor && lp > 0 && *p == '^';
	double cost = mp_patcost(p + anchored, lp - (size_t)anchored, n,
	                         anchored ? MP_ATTEMPT_ONCE : unanchored);
	char msg[192];

	if (cost <= MP_SANDBOX_PATTERN_LIMIT)
		return;
	snprintf(msg, sizeof msg,
	         "%s: pattern too complex for a subject of %zu bytes (worst case %.2g matcher "
	         "steps, limit %.2g)",
	         fn, n, cost, (double)MP_SANDBOX_PATTERN_LIMIT);
	push_where(L);
	lua_pushstring(L, msg);
	lua_concat(L, 2);
	lua_error(L);
}

/* Runs upvalue 1, the original (a C function without upvalues), in this very call frame: it
 * sees the same arguments and returns its results, and its errors name the caller and the line
 * as if policy code had called it (luaL_where(L, 1) would name this C function after a
 * lua_call). Memory errors, errors from gsub's callbacks and budget trips pass through as they
 * are. */
static int call_original(lua_State *L)
{
	lua_CFunction original = lua_tocfunction(L, lua_upvalueindex(1));

	assert(original);
	return original(L);
}

/* Each wrapper checks its arguments as the original then does, in the same order and with the
 * same calls (so with the same messages, and with numbers coerced to strings in place, as the
 * original would). */

/* string.find(s, pattern [, init [, plain]]) */
static int sandbox_find(lua_State *L)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
	const char *hit;

	if (init > ls) /* nothing to find: the original says so */
		return call_original(L);
	if (lua_toboolean(L, 4) || !has_specials(p, lp)) { /* a plain search */
		charge(L, mp_luacost_scan(ls - init + lp), "string", "find");
		hit = memmem(s + init, ls - init, p, lp);
		if (!hit) {
			luaL_pushfail(L);
			return 1;
		}
		lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
		lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
		return 2;
	}
	check_pattern(L, "string.find", p, lp, ls - init, 1, MP_ATTEMPT_UNTIL_MATCH);
	charge(L, mp_luacost_scan(ls - init), "string", "find");
	return call_original(L);
}

/* match and gmatch take (s, pattern [, init]) and differ only in how the matcher starts. */
static int guard_from_init(lua_State *L, const char *fn, int can_anchor,
                           enum mp_patcost_attempts how)
{
	size_t ls, lp;
	const char *p;
	size_t init;

	luaL_checklstring(L, 1, &ls);
	p = luaL_checklstring(L, 2, &lp);
	init = start_offset(luaL_optinteger(L, 3, 1), ls);
	if (init <= ls) {
		check_pattern(L, fn, p, lp, ls - init, can_anchor, how);
		charge(L, mp_luacost_scan(ls - init), NULL, fn);
	}
	return call_original(L);
}

/* string.match(s, pattern [, init]) */
static int sandbox_match(lua_State *L)
{
	return guard_from_init(L, "string.match", 1, MP_ATTEMPT_UNTIL_MATCH);
}

/* string.gmatch(s, pattern [, init]): the bound covers every call of the iterator it returns
 * until that returns nil ('^' anchors nothing in gmatch). */
static int sandbox_gmatch(lua_State *L)
{
	return guard_from_init(L, "string.gmatch", 0, MP_ATTEMPT_EVERYWHERE);
}

/* string.gsub(s, pattern, repl [, n]) */
static int sandbox_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *p;
	int tr;

	luaL_checklstring(L, 1, &ls);
	p = luaL_checklstring(L, 2, &lp);
	tr = lua_type(L, 3);
	(void)luaL_optinteger(L, 4, 0);
	luaL_argexpected(
	    L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
	    "string/function/table");
	check_pattern(L, "string.gsub", p, lp, ls, 1, MP_ATTEMPT_EVERYWHERE);
	charge(L, mp_luacost_scan(ls), "string", "gsub");
	return call_original(L);
}

/* Replaces find, match, gmatch and gsub in the real string table at idx with the wrappers. */
static void guard_patterns(lua_State *L, int idx)
{
	static const struct {
		const char *name;
		lua_CFunction wrapper;
	} wrap[] = {{"find", sandbox_find},
	            {"match", sandbox_match},
	            {"gmatch", sandbox_gmatch},
	            {"gsub", sandbox_gsub}};
	size_t i;

	idx = lua_absindex(L, idx);
	for (i = 0; i < sizeof wrap / sizeof *wrap; i++) {
		lua_getfield(L, idx, wrap[i].name);
		assert(lua_tocfunction(L, -1) && !lua_getupvalue(L, -1, 1)); /* call_original */
		lua_pushcclosure(L, wrap[i].wrapper, 1);
		lua_setfield(L, idx, wrap[i].name);
	}
}

/* --- C functions under the budget (the costs: luacost.c) --- */

/* A costed library function: upvalue 1 is the original (a C function without upvalues),
 * upvalue 2 its row in mp_luacost_rows. Pays the row's cost, then runs the original in this
 * frame, as call_original does (so its errors and results are the original's). */
static int costed_call(lua_State *L)
{
	const mp_luacost_row *row = lua_touserdata(L, lua_upvalueindex(2));
	mp_sandbox *sb = sandbox_of(L);

	sb->nondeterministic += !strcmp(row->lib, "os"); /* os.date, os.time: the clock */

	if (row->result && sb->capped &&
	    row->result(L) >
	        (double)(sb->mem_limit -
	                 (sb->mem_used < sb->mem_limit ? sb->mem_used : sb->mem_limit)))
		return call_original(L); /* fails allocating its result, before any work */
	charge(L, mp_luacost_of(L, row), strcmp(row->lib, "_G") ? row->lib : NULL, row->name);
	return call_original(L);
}

/* Replaces each function of the table at idx that has a row for lib with its costed closure
 * (invariant 8). */
static void guard_costs(lua_State *L, int idx, const char *lib)
{
	const mp_luacost_row *row;

	idx = lua_absindex(L, idx);
	for (row = mp_luacost_rows; row->lib; row++) {
		if (strcmp(row->lib, lib) != 0)
			continue;
		lua_getfield(L, idx, row->name);
		assert(lua_tocfunction(L, -1) && !lua_getupvalue(L, -1, 1)); /* call_original */
		lua_pushlightuserdata(L, (void *)row);
		lua_pushcclosure(L, costed_call, 2);
		lua_setfield(L, idx, row->name);
	}
}

/* The functions whose result differs from one run to the next (the clock, the random
 * generator, the collector's count): each call is counted (mp_sandbox_nondeterministic), so
 * that a policy file whose loading used one is never replaced by what it declared once. */
static const struct {
	const char *lib, *name;
} nondeterministic[] = {{"os", "clock"}, {"math", "random"}, {"math", "randomseed"}};
/* (os.date and os.time are counted by costed_call, collectgarbage by sandbox_collectgarbage.) */

/* Counts the call, then runs the original in this very frame, as call_original does: its
 * upvalues (random's generator) are this closure's first ones, the original C function the one
 * after them, so its errors name the function and the caller's line as before. */
static int nondeterministic_call(lua_State *L)
{
	lua_CFunction original = NULL;
	sandbox_of(L)->nondeterministic++;
	for (int i = 1; i <= 3 && !original; i++)
		original = lua_tocfunction(L, lua_upvalueindex(i));
	assert(original);
	return original(L);
}

static void mark_nondeterministic(lua_State *L, int idx, const char *lib)
{
	idx = lua_absindex(L, idx);
	for (size_t i = 0; i < sizeof(nondeterministic) / sizeof(nondeterministic[0]); i++) {
		if (strcmp(nondeterministic[i].lib, lib) != 0)
			continue;
		lua_getfield(L, idx, nondeterministic[i].name);
		int f = lua_gettop(L), n = 0;
		assert(lua_tocfunction(L, f));
		while (lua_getupvalue(L, f, n + 1)) { /* userdata, never a C function */
			assert(!lua_iscfunction(L, -1));
			n++;
		}
		lua_pushcfunction(L, lua_tocfunction(L, f));
		lua_pushcclosure(L, nondeterministic_call, n + 1);
		lua_setfield(L, idx, nondeterministic[i].name);
		lua_pop(L, 1);
	}
}

uint64_t mp_sandbox_nondeterministic(const mp_sandbox *sb)
{
	return sb->nondeterministic;
}

uint64_t mp_sandbox_mem_refused(const mp_sandbox *sb)
{
	return sb->mem_refused;
}

uint64_t mp_sandbox_mem_exhausted(const mp_sandbox *sb)
{
	return sb->mem_exhausted;
}

uint64_t mp_sandbox_requires(const mp_sandbox *sb)
{
	return sb->requires;
}

/* --- building the state --- */

/* Replaces the global `name` with a C closure over its original value. */
static void wrap_global(lua_State *L, int g, const char *name, lua_CFunction f)
{
	lua_getfield(L, g, name);
	lua_pushcclosure(L, f, 1);
	lua_setfield(L, g, name);
}

/* Opens a library, keeps only the names in keep (all if NULL), drops those in drop, and sets a
 * read-only proxy of it as global `name`. */
static void open_library(lua_State *L, int g, const char *name, lua_CFunction open,
                         const char *const *keep, const char *const *drop)
{
	lua_pushcfunction(L, open);
	lua_call(L, 0, 1);
	if (keep) {
		lua_createtable(L, 0, 4);
		for (; *keep; keep++) {
			lua_getfield(L, -2, *keep);
			lua_setfield(L, -2, *keep);
		}
		lua_remove(L, -2);
	}
	for (; drop && *drop; drop++) {
		lua_pushnil(L);
		lua_setfield(L, -2, *drop);
	}
	guard_costs(L, -1, name);
	mark_nondeterministic(L, -1, name);
	mp_sandbox_push_readonly(L, -1, name);
	lua_setfield(L, g, name);
	lua_pop(L, 1);
}

static int open_sandbox(lua_State *L, void *ud)
{
	static const char *const string_drop[] = {"dump", NULL};
	static const char *const os_keep[] = {"clock", "date", "time", NULL};
	int g;

	(void)ud;
	lua_pushcfunction(L, luaopen_base); /* fills the global table and returns it */
	lua_call(L, 0, 1);
	g = lua_gettop(L);
	guard_costs(L, g, "_G");
	lua_pushnil(L);
	lua_setfield(L, g, "dofile");
	lua_pushnil(L);
	lua_setfield(L, g, "loadfile");
	wrap_global(L, g, "load", sandbox_load);
	wrap_global(L, g, "setmetatable", sandbox_setmetatable);
	wrap_global(L, g, "rawset", sandbox_rawset);
	lua_pushcfunction(L, sandbox_xpcall);
	lua_setfield(L, g, "xpcall");
	lua_pushcfunction(L, sandbox_collectgarbage);
	lua_setfield(L, g, "collectgarbage");
	lua_pushcfunction(L, sandbox_require);
	lua_setfield(L, g, "require");

	open_library(L, g, "string", luaopen_string, NULL, string_drop);
	open_library(L, g, "table", luaopen_table, NULL, NULL);
	open_library(L, g, "math", luaopen_math, NULL, NULL);
	open_library(L, g, "utf8", luaopen_utf8, NULL, NULL);
	open_library(L, g, "os", luaopen_os, os_keep, NULL);

	/* The string metatable's __index is the real string table: hide it (invariant 3), and
	 * guard its pattern functions, which string.x and ("").x both reach (invariant 7). */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	guard_costs(L, -1, "string.mt");
	lua_pushliteral(L, "string");
	lua_setfield(L, -2, "__metatable");
	lua_getfield(L, -1, "__index");
	guard_patterns(L, -1);
	lua_pop(L, 3);

	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, MP_SANDBOX_LOADED_KEY);
	return 0;
}

mp_sandbox *mp_sandbox_new(const mp_sandbox_opts *opts, char *err, size_t errlen)
{
	mp_sandbox *sb = mp_calloc(1, sizeof *sb);

	if (!sb) {
		set_err(err, errlen, "cannot create a sandbox: out of memory");
		goto fail;
	}
	sb->mem_limit = opts && opts->mem_limit ? opts->mem_limit : MP_SANDBOX_DEFAULT_MEM_LIMIT;
	sb->instr_budget =
	    opts && opts->instr_budget ? opts->instr_budget : MP_SANDBOX_DEFAULT_INSTR_BUDGET;
	sb->deadline_ms = opts ? opts->deadline_ms : 0;
	sb->budget_left = sb->instr_budget; /* nothing used yet */
	atomic_init(&sb->interrupt, 0);
	if (opts && opts->stdlib_dir && !(sb->stdlib_dir = mp_strdup(opts->stdlib_dir))) {
		set_err(err, errlen, "cannot create a sandbox: out of memory");
		goto fail;
	}
	sb->capped = 1;
	sb->L = lua_newstate(sandbox_alloc, sb);
	if (!sb->L) {
		set_err(err, errlen, "cannot create a Lua state: out of memory (limit %zu bytes)",
		        sb->mem_limit);
		goto fail;
	}
	lua_atpanic(sb->L, sandbox_panic);
	switch (mp_sandbox_protect(sb, open_sandbox, NULL, 0, 0, err, errlen)) {
	case MP_SANDBOX_OK:
		break;
	case MP_SANDBOX_NOMEM:
		set_err(err, errlen, "cannot set up the sandbox: out of memory (limit %zu bytes)",
		        sb->mem_limit);
		goto fail;
	default:
		goto fail;
	}
	sb->capped = 0;
	return sb;
fail:
	mp_sandbox_free(sb);
	return NULL;
}

void mp_sandbox_free(mp_sandbox *sb)
{
	if (!sb)
		return;
	assert(sb->depth == 0);
	if (sb->L) {
		sb->capped = 0;
		lua_close(sb->L);
	}
	mp_luapool_release(&sb->pool);
	mp_free(sb->stdlib_dir);
	mp_free(sb);
}

lua_State *mp_sandbox_lua(mp_sandbox *sb)
{
	return sb->L;
}

size_t mp_sandbox_mem_used(const mp_sandbox *sb)
{
	return sb->mem_used;
}

size_t mp_sandbox_mem_peak(const mp_sandbox *sb)
{
	return sb->mem_peak;
}

size_t mp_sandbox_mem_limit(const mp_sandbox *sb)
{
	return sb->mem_limit;
}

void mp_sandbox_interrupt(mp_sandbox *sb)
{
	if (sb)
		atomic_store_explicit(&sb->interrupt, 1, memory_order_relaxed);
}

void mp_sandbox_watch(mp_sandbox *sb, const atomic_int *flag)
{
	sb->watch = flag;
}

uint64_t mp_sandbox_instructions_used(const mp_sandbox *sb)
{
	return sb->depth ? sb->instr_budget - sb->budget_left : sb->last_used;
}

uint64_t mp_sandbox_memory_units_used(const mp_sandbox *sb)
{
	return sb->depth ? sb->mem_units : sb->last_mem_units;
}

uint64_t mp_sandbox_instructions_total(const mp_sandbox *sb)
{
	return sb->total_used + (sb->depth ? sb->instr_budget - sb->budget_left : 0);
}

uint64_t mp_sandbox_instr_budget(const mp_sandbox *sb)
{
	return sb->instr_budget;
}

uint64_t mp_sandbox_set_budget(mp_sandbox *sb, uint64_t units)
{
	uint64_t before = sb->instr_budget;

	assert(sb->depth == 0);
	sb->instr_budget = units ? units : MP_SANDBOX_DEFAULT_INSTR_BUDGET;
	return before;
}

void mp_sandbox_gc_headroom(mp_sandbox *sb, size_t bytes)
{
	double live = sb->mem_used ? (double)sb->mem_used : 1.0;
	double pause = 100.0 + 100.0 * (double)bytes / live; /* percent of the live heap */

	/* setting a parameter allocates nothing and cannot raise */
	lua_gc(sb->L, LUA_GCINC, pause < 200.0 ? 200 : pause > 1000.0 ? 1000 : (int)pause, 0, 0);
}

uint32_t mp_sandbox_set_deadline(mp_sandbox *sb, uint32_t ms)
{
	uint32_t before = sb->deadline_ms;

	sb->deadline_ms = ms;
	return before;
}

uint32_t mp_sandbox_deadline_ms(const mp_sandbox *sb)
{
	uint64_t ns = deadline_ns(sb);

	if (!ns || ns / 1000000u >= MP_SANDBOX_NO_DEADLINE)
		return MP_SANDBOX_NO_DEADLINE;
	return (uint32_t)(ns / 1000000u);
}

const char *mp_sandbox_status_name(int status)
{
	switch (status) {
	case MP_SANDBOX_OK:
		return "ok";
	case MP_SANDBOX_ERROR:
		return "error";
	case MP_SANDBOX_TIMEOUT:
		return "timeout";
	case MP_SANDBOX_NOMEM:
		return "nomem";
	case MP_SANDBOX_INTERRUPTED:
		return "interrupted";
	case MP_SANDBOX_DEADLINE:
		return "deadline";
	default:
		return "unknown";
	}
}

/* --- running code --- */

int mp_sandbox_load(mp_sandbox *sb, const char *code, size_t len, const char *chunkname, char *err,
                    size_t errlen)
{
	lua_State *L = sb->L;
	char name[256];
	size_t namelen = strlen(chunkname);
	int saved = sb->capped, status;
	const char *msg;

	assert(code || len == 0);
	snprintf(name, sizeof name, "@%s", chunkname);
	sb->capped = 1;
	status = luaL_loadbufferx(L, code ? code : "", len, name, "t");
	sb->capped = saved;
	if (status == LUA_OK)
		return MP_SANDBOX_OK;
	if (status == LUA_ERRMEM) {
		nomem_err(sb, chunkname, err, errlen);
		lua_pop(L, 1);
		return MP_SANDBOX_NOMEM;
	}
	/* Syntax errors name the chunk already; a refused binary chunk does not. */
	msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "cannot load chunk";
	if (strncmp(msg, chunkname, namelen) == 0 || strncmp(msg, "...", 3) == 0)
		set_err(err, errlen, "%s", msg);
	else
		set_err(err, errlen, "%s: %s", chunkname, msg);
	lua_pop(L, 1);
	return MP_SANDBOX_ERROR;
}

int mp_sandbox_run(mp_sandbox *sb, const char *code, size_t len, const char *chunkname,
                   int nresults, char *err, size_t errlen)
{
	int rc = mp_sandbox_load(sb, code, len, chunkname, err, errlen);

	if (rc != MP_SANDBOX_OK)
		return rc;
	rc = mp_sandbox_pcall(sb, 0, nresults, err, errlen);
	if (rc == MP_SANDBOX_NOMEM) /* a memory error carries no position: name the chunk */
		nomem_err(sb, chunkname, err, errlen);
	return rc;
}

/* mp_sandbox_protect's call: the host's function and its argument. */
typedef struct {
	mp_sandbox_host_fn fn;
	void *ud;
} host_call;

static int run_host(lua_State *L)
{
	const host_call *c = lua_touserdata(L, 1);

	lua_remove(L, 1);
	return c->fn(L, c->ud);
}

int mp_sandbox_protect(mp_sandbox *sb, mp_sandbox_host_fn fn, void *ud, int nargs, int nresults,
                       char *err, size_t errlen)
{
	lua_State *L = sb->L;
	host_call c = {fn, ud};
	int status;

	assert(nargs >= 0 && lua_gettop(L) >= nargs);
	if (!lua_checkstack(L, 2)) { /* refuses rather than raises */
		lua_pop(L, nargs);
		set_err(err, errlen, "not enough memory");
		return MP_SANDBOX_NOMEM;
	}
	/* pushing a light C function and a light userdata allocates nothing */
	lua_pushcfunction(L, run_host);
	lua_pushlightuserdata(L, &c);
	lua_rotate(L, -(nargs + 2), 2);
	status = lua_pcall(L, nargs + 1, nresults, 0);
	if (status == LUA_OK)
		return MP_SANDBOX_OK;
	if (status == LUA_ERRMEM)
		set_err(err, errlen, "not enough memory");
	else
		copy_error(L, err, errlen);
	lua_pop(L, 1);
	return status == LUA_ERRMEM ? MP_SANDBOX_NOMEM : MP_SANDBOX_ERROR;
}

int mp_sandbox_pcall(mp_sandbox *sb, int nargs, int nresults, char *err, size_t errlen)
{
	lua_State *L = sb->L;
	int top_level = sb->depth == 0, saved_capped = sb->capped, status, rc;

	assert(nargs >= 0 && lua_gettop(L) > nargs);
	if (top_level) {
		if (atomic_exchange(&sb->interrupt, 0) || watched(sb)) {
			lua_pop(L, nargs + 1);
			set_err(err, errlen, "interrupted");
			return MP_SANDBOX_INTERRUPTED;
		}
		uint64_t ns = deadline_ns(sb);

		sb->stop = STOP_NONE;
		sb->stop_detail[0] = '\0';
		sb->budget_left = sb->instr_budget;
		sb->mem_units = 0;
		sb->hook_step = 0; /* arm_step sets the hook */
		arm_step(L, sb);
		sb->deadline_at =
		    ns ? now_ns() + ns : 0; /* the clock is read only for a deadline */
		sb->clock_credit = CLOCK_STEP;
	}
	sb->depth++;
	sb->capped = 1;
	status = lua_pcall(L, nargs, nresults, 0);
	sb->capped = saved_capped;
	sb->depth--;

	if (status == LUA_OK) {
		rc = MP_SANDBOX_OK;
	} else if (sb->stop == STOP_TIMEOUT) {
		rc = MP_SANDBOX_TIMEOUT;
		set_err(err, errlen, "%s%s%s (budget %llu instructions)", sb->stop_where,
		        stop_message(sb->stop), sb->stop_detail,
		        (unsigned long long)sb->instr_budget);
	} else if (sb->stop == STOP_DEADLINE) {
		rc = MP_SANDBOX_DEADLINE;
		set_err(err, errlen, "%s%s (deadline %llu ms)", sb->stop_where,
		        stop_message(sb->stop), (unsigned long long)(deadline_ns(sb) / 1000000u));
	} else if (sb->stop == STOP_INTERRUPTED) {
		rc = MP_SANDBOX_INTERRUPTED;
		set_err(err, errlen, "%s%s", sb->stop_where, stop_message(sb->stop));
	} else if (status == LUA_ERRMEM) {
		rc = MP_SANDBOX_NOMEM;
		nomem_err(sb, "", err, errlen);
	} else {
		rc = MP_SANDBOX_ERROR;
		copy_error(L, err, errlen);
	}
	if (status != LUA_OK)
		lua_pop(L, 1);
	if (top_level) {
		lua_sethook(L, NULL, 0, 0);
		sb->last_used = sb->instr_budget - sb->budget_left;
		sb->last_mem_units = sb->mem_units;
		sb->total_used += sb->last_used;
		sb->stop = STOP_NONE;
		atomic_store(&sb->interrupt, 0);
		if (rc == MP_SANDBOX_NOMEM)
			lua_gc(L, LUA_GCCOLLECT); /* give the next call its headroom back */
	}
	return rc;
}
