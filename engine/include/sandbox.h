/* sandbox.h: Lua 5.4 states that run policy code: allow-listed libraries, text-only chunks, a
 * memory cap, an instruction budget that C functions pay into, and a deadline. Design: DESIGN.md
 * rule 2, the notes atop sandbox.c and docs/architecture.md ("The sandbox"). */
#ifndef MP_SANDBOX_H
#define MP_SANDBOX_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <lua.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Ownership and threading, stated once:
 * - An mp_sandbox owns its lua_State, a copy of the stdlib directory name and nothing else.
 *   mp_sandbox_free() closes the state; every pointer obtained from the sandbox (the
 *   lua_State, values on its stack) is invalid afterwards.
 * - A sandbox is used by one thread at a time. The one exception is mp_sandbox_interrupt(),
 *   which any thread or a signal handler may call while another thread runs the sandbox.
 * - err/errlen arguments are caller-owned buffers; when err is non-NULL and errlen > 0 they are
 *   always NUL-terminated on return (truncated if need be). err may be NULL.
 *
 * What policy code sees (the allow-list):
 *   base   without dofile, loadfile; load forces mode "t" and uses the sandbox globals unless
 *          an env is passed; setmetatable refuses metatables with a __gc field; rawset refuses
 *          read-only tables; collectgarbage accepts only "count"; xpcall skips its message
 *          handler once the call has run out of budget or been interrupted
 *   string without string.dump      table, math, utf8: whole
 *   os     only time, date, clock   require: stdlib modules only (see below)
 *   absent: io, package, debug, coroutine, dofile, loadfile, string.dump
 * The library tables (string, table, math, os, utf8) are read-only proxies, as are tables
 * returned by stdlib modules; the string metatable is hidden (getmetatable("") returns a
 * string), so no policy can change what another policy's library calls do. The global table
 * stays writable and is shared by everything run in the sandbox: a policy may rebind a global
 * (even `string`) for the others. mp_sandbox_push_env gives each policy its own environment so
 * that such writes stay its own; that guards against accidents, not malice (load() without an
 * env still reaches the shared globals). What no policy can reach is the libraries themselves.
 *
 * Pattern matching: Lua's matcher runs in C and backtracks, beyond the instruction budget's
 * sight (string.find(("a"):rep(600), ".-.-.-b") would run for 40 s). So string.find, match,
 * gmatch and gsub, as functions or as methods of strings, first bound the steps the matcher can
 * take on this pattern for any subject of this length, and raise "string.find: pattern too
 * complex for a subject of N bytes (worst case W matcher steps, limit L)", an ordinary error,
 * when the bound passes MP_SANDBOX_PATTERN_LIMIT. Otherwise they are the originals: same
 * arguments, results and errors. Plain finds (plain = true, or no special character) search in
 * linear time and are never refused. The bound (the notes in sandbox.c) multiplies about n for
 * each quantifier, %b or back-reference that the rest of the pattern can backtrack into, and n
 * more for the start positions of an unanchored pattern ('^' never anchors in gmatch); a
 * quantifier followed by what always matches (a trailing "%d+") or by what cannot begin with a
 * byte it takes ("%w+=", "[^,]*,") costs one scan instead.
 *
 * The trade-off, at a limit of at most about 0.4 s of matching: a pattern is refused on any
 * subject long enough for its worst case, even one that would match at once. Patterns that
 * cannot backtrack are linear and get megabytes (find, match, gsub: 10 MB and more):
 * "%d+", "[^,]+" (in gmatch too: 3 MB), "^/v1/(%w+)", "^([^:]+):(%d+)$", "^Bearer%s+(.+)$".
 * One level of backtracking is quadratic in Lua's matcher and gets 3.5 to 10 KB: "a*b",
 * "[^/]+$", "%b()", "^%s*(.-)%s*$" (5.7 KB), "(%w+)=(%w+)" (4.9 KB), "([^&=]+)=([^&]*)" in
 * gmatch (3.5 KB). Two levels get hundreds of bytes ("(.-)%1": 460), three tens (".-.-.-b":
 * 74). Large subjects want anchors, sets that exclude what follows, or plain finds. Each call is
 * bounded by the limit and charged its subject's length (below), but not its worst case: a loop
 * of calls just under the limit spends C time the budget counts at a unit a few bytes; the
 * deadline bounds that. (Charging the worst case would cost "([^&=]+)=([^&]*)" on a 1 KB query
 * string 8e6 units, eight `when` budgets.)
 *
 * The budget and C functions (the table: luacost.c): the budget is in units of one VM
 * instruction, counted by a hook, and C code does work the hook cannot see (string.rep("", 1e15)
 * or table.move({}, 1, 1e15, 2, {}) is one instruction and runs for days). So every C function
 * of the allow-list first pays a cost computed from its arguments, and when the budget left
 * cannot pay it the call stops with MP_SANDBOX_TIMEOUT, "instruction budget exceeded:
 * table.move would cost 4e+15 units, N left", before any of the work, and as uncatchable by
 * pcall as the hook's timeout. Wrong arguments cost nothing: the original raises its usual
 * error. Results, errors and messages are otherwise the originals'. Bytes are charged at a
 * ratio per kind of work: COPY 32 bytes a unit (memcpy), SCAN 8 (a C loop over bytes), DECODE
 * 2 (utf8, %q, digits in a base):
 *
 *   string.rep(s, n, sep)       n/2 (n with a sep: a piece is a memcpy however short) + the
 *                               result COPY; a result that cannot fit under the memory cap
 *                               is the memory error it always was, charged nothing
 *   string.sub                  the result COPY
 *   string.upper, lower, reverse  the string SCAN
 *   string.byte                 1 a value; utf8.codepoint 1 a value + its bytes DECODE
 *   string.char, utf8.char, assert, warn, math.max, math.min  1 an argument
 *   select(n, ...)              1 a value returned
 *   string.format               8 a byte of format + string arguments COPY (DECODE with %q)
 *   string.pack                 the sizes in the format DECODE, 16 an option + strings COPY
 *   string.unpack, packsize     1 a byte of format + the data DECODE; the format SCAN
 *   string.find, match, gmatch, gsub  the subject SCAN (and the pattern limit above)
 *   table.concat                4 an element + the separator COPY
 *   table.insert, remove        4 an element moved (a __len runs once more, for the charge)
 *   table.move, table.pack      4 an element; table.unpack 1 a value
 *   table.sort                  8 n*log2(n) (a Lua comparator is counted by the hook besides)
 *   utf8.len                    the bytes DECODE; utf8.offset the string SCAN
 *   tonumber                    the string SCAN (DECODE with a base)
 *   print                       the strings COPY + 1 an argument; rawequal: equal lengths COPY
 *   load, require               1 a byte of source (a reader function's pieces as they come)
 *   os.date                     8 a byte of format
 *   a string where a number is expected (math.*, string arithmetic "10" + 1, positions): its
 *   length SCAN; everything else (type, next, rawget, tostring, pcall, ...): nothing more
 *   memory taken while a call runs: 1 a new block + 1 a 16 bytes
 *
 * The memory charge covers what the VM copies in one instruction (`..` of long strings), the
 * growth of tables, the collector and every result; it is charged when taken, before it is
 * filled, and never refused: a call it leaves without budget stops at its next instruction or
 * costed call. A unit is about 7 ns of work on the machine measured (VM instructions took 5 to
 * 11 ns there; each ratio is the measured ns a byte or element over that, rounded to err on the
 * side of charging more; method: docs/architecture.md). Not charged, because no C function of
 * the allow-list does it: the VM's comparison of two long strings of one length (==, <, a table
 * key), its copies of varargs, and next() from a key followed by many empty slots; each is
 * bounded by the memory cap per instruction, and together by the deadline.
 *
 * The deadline: each top-level call also has a wall-clock deadline (deadline_ms; 0 derives it:
 * 50 ns a unit of budget, at least MP_SANDBOX_MIN_DEADLINE_MS, none for a budget too big to run
 * out such as UINT64_MAX; MP_SANDBOX_NO_DEADLINE: none). The hook and the charges read the
 * monotonic clock every 16,000 units (about 0.1 ms); once it has passed, the call fails with
 * MP_SANDBOX_DEADLINE, "deadline exceeded", uncatchable like a timeout. It is the last line,
 * for work the cost model misses; with the cost model right, the budget trips first.
 *
 * require(name): name must match ^[a-z_][a-z0-9_.]*$ (no empty component, at most 128 bytes);
 * dots map to '/', and STDLIB_DIR/<name>.lua is loaded as text into the sandbox globals, run
 * once, and cached. Any other name, or a missing file, raises "module 'name' not found in
 * stdlib". The host may preload modules by storing values in the registry table
 * MP_SANDBOX_LOADED_KEY (name -> value); require returns those as they are.
 */

/* Result of the calls below. Every failure is negative, so `if (rc < 0)` checks for any. */
enum mp_sandbox_status {
	MP_SANDBOX_OK = 0,
	MP_SANDBOX_ERROR = -1,       /* syntax or runtime error (the message says where) */
	MP_SANDBOX_TIMEOUT = -2,     /* the instruction budget of the call ran out */
	MP_SANDBOX_NOMEM = -3,       /* an allocation would have passed the memory limit */
	MP_SANDBOX_INTERRUPTED = -4, /* mp_sandbox_interrupt() stopped the call */
	MP_SANDBOX_DEADLINE = -5,    /* the wall-clock deadline of the call passed */
};

#define MP_SANDBOX_DEFAULT_MEM_LIMIT    ((size_t)64 << 20)       /* 64 MiB */
#define MP_SANDBOX_DEFAULT_INSTR_BUDGET ((uint64_t)100000000u)   /* VM instructions per call */
#define MP_SANDBOX_LOADED_KEY           "meshpol.sandbox.loaded" /* registry: require's cache */
/* Matcher steps a string.find, match, gmatch or gsub may take in the worst case (see above). A
 * step (one match() call, one byte tested against a class, scanned by %b or compared by %1) took
 * 2 to 4 ns in Lua 5.4 on the machines measured, so the limit is at most about 0.4 s. */
#define MP_SANDBOX_PATTERN_LIMIT 1e8
/* The deadline (see above): none at all; the least derived one; ns a budget unit may take. */
#define MP_SANDBOX_NO_DEADLINE          UINT32_MAX
#define MP_SANDBOX_MIN_DEADLINE_MS      1000u
#define MP_SANDBOX_DEADLINE_NS_PER_UNIT 50u

typedef struct mp_sandbox mp_sandbox;

typedef struct mp_sandbox_opts {
	size_t mem_limit;      /* bytes the whole state may use; 0 = MP_SANDBOX_DEFAULT_MEM_LIMIT */
	uint64_t instr_budget; /* budget units per top-level call; 0 = the default */
	uint32_t deadline_ms;  /* wall-clock ms per top-level call; 0 = derived from the budget,
	                          MP_SANDBOX_NO_DEADLINE = none */
	const char *stdlib_dir; /* copied; NULL = require finds no module at all */
} mp_sandbox_opts;

/* A new sandbox, or NULL with a message in err. opts may be NULL (all defaults). */
mp_sandbox *mp_sandbox_new(const mp_sandbox_opts *opts, char *err, size_t errlen);

/* Closes the state and frees the sandbox. NULL is a no-op. Must not be called while a call is
 * running in the sandbox (from inside a C function that policy code called). */
void mp_sandbox_free(mp_sandbox *sb);

/* The sandbox's state, valid until mp_sandbox_free(). The host may push values, read results
 * and register C functions with it, but must not close it, change its allocator, hook or panic
 * function, and must run policy code only through mp_sandbox_pcall/run: a direct lua_call or
 * lua_pcall runs without budget and without memory cap. A C function given to policy code may
 * call back into Lua with mp_sandbox_pcall (it shares the running call's budget) or lua_pcall
 * without a message handler, never with a message handler written in Lua: when the budget
 * trips, that handler would run with hooks off, so without budget. */
lua_State *mp_sandbox_lua(mp_sandbox *sb);

/* Compiles code (len bytes, text only: a binary chunk is refused) as a chunk named chunkname
 * (e.g. "policies/x.lua"; error messages read "policies/x.lua:LINE: message") and pushes the
 * function. On failure pushes nothing and returns MP_SANDBOX_ERROR or MP_SANDBOX_NOMEM. The
 * function's _ENV is the sandbox globals; replace upvalue 1 to give it another environment. */
int mp_sandbox_load(mp_sandbox *sb, const char *code, size_t len, const char *chunkname, char *err,
                    size_t errlen);

/* mp_sandbox_load, then mp_sandbox_pcall with no arguments. On success leaves nresults values
 * (LUA_MULTRET: all) on the stack; on failure leaves the stack as it was. */
int mp_sandbox_run(mp_sandbox *sb, const char *code, size_t len, const char *chunkname,
                   int nresults, char *err, size_t errlen);

/* Calls the function below the nargs arguments on top of the stack, like lua_pcall, under the
 * instruction budget, the deadline and the memory cap. Pops the function and the arguments; on
 * success pushes nresults values, on failure pushes nothing and describes the failure in err. A
 * call made while no other call runs ("top-level") starts with the full budget and its own
 * deadline; a call made from C code that policy code called shares the budget and deadline of the
 * call around it. A timeout (the instruction budget or a C function's charge), deadline or
 * interrupt cannot be caught by pcall/xpcall in Lua: once tripped, the hook raises again at every
 * instruction, and every costed C function at once, until the top-level call returns. */
int mp_sandbox_pcall(mp_sandbox *sb, int nargs, int nresults, char *err, size_t errlen);

/* Host code that calls the Lua API: fn(L, ud) runs in protected mode, as a C function called with
 * the nargs values on top of the stack as its arguments (indices 1 to nargs), in a stack frame of
 * its own; it returns how many values it leaves on top, as a lua_CFunction does, and nresults
 * of them are kept (LUA_MULTRET: all). No budget, hook, deadline or memory cap applies: it is
 * the host's code, which may still run policy code through mp_sandbox_pcall/run. Pops the
 * arguments; on success pushes the results and returns MP_SANDBOX_OK; when fn raised an error,
 * pushes nothing and returns MP_SANDBOX_NOMEM with "not enough memory" in err (the process ran
 * out of memory) or MP_SANDBOX_ERROR with the error's message.
 *
 * Every lua_* call marked `m` or `e` in the manual that the host makes outside a protected call
 * must go through here (or run inside mp_sandbox_pcall): an error raised outside every protected
 * call reaches the panic function, and Lua aborts the process (sandbox.c, invariant 10). An
 * error ends fn where it is, so its C locals are lost: what fn allocates in C must be owned by
 * ud (or something else its caller frees), never by fn's locals alone. */
typedef int (*mp_sandbox_host_fn)(lua_State *L, void *ud);
int mp_sandbox_protect(mp_sandbox *sb, mp_sandbox_host_fn fn, void *ud, int nargs, int nresults,
                       char *err, size_t errlen);

/* Test hooks. mp_sandbox_fail_after(n), as mp_alloc_fail_after (alloc.h) for the Lua states'
 * own blocks, which the pool (luapool.h) serves mostly without calling the engine allocator:
 * the n-th growth of a block in any sandbox from now (0 = the next), and every one after it, is
 * refused as when the process has no memory left, until mp_sandbox_fail_after(-1).
 * mp_sandbox_on_panic(fn): fn(msg) is called when an error escapes every protected call of a
 * sandbox's state, before the panic function returns and Lua aborts the process; fn may longjmp
 * out instead (cmocka's fail_msg does: a test then fails rather than crashes). NULL: none. */
void mp_sandbox_fail_after(long n);
void mp_sandbox_on_panic(void (*fn)(const char *msg));

/* Asks the running call to stop with MP_SANDBOX_INTERRUPTED; if no call is running, the next
 * top-level call fails at once with MP_SANDBOX_INTERRUPTED. A top-level call consumes the request
 * when it returns. Async-signal-safe and thread-safe (it only sets a lock-free atomic flag). */
void mp_sandbox_interrupt(mp_sandbox *sb);
/* Stops calls as mp_sandbox_interrupt does for as long as *flag is non-zero: the running one at
 * its next hook, every later one at once. The flag is the caller's (NULL: none), read here and
 * never reset, so one flag set from a signal handler stops every sandbox that watches it (the
 * audit's, on both of its threads). It must outlive the watch (mp_sandbox_watch(sb, NULL)). */
void mp_sandbox_watch(mp_sandbox *sb, const atomic_int *flag);

/* Bytes the state holds right now (Lua's own accounting). */
size_t mp_sandbox_mem_used(const mp_sandbox *sb);
/* The most bytes it has held since mp_sandbox_new, and the most it may hold (its cap). */
size_t mp_sandbox_mem_peak(const mp_sandbox *sb);
size_t mp_sandbox_mem_limit(const mp_sandbox *sb);
/* Allocations refused so far (the cap, or the allocator had none): each is a memory error,
 * unless Lua's emergency collection then made room (counted also when policy code catches the
 * error). */
uint64_t mp_sandbox_mem_refused(const mp_sandbox *sb);
/* Of those, the ones the allocator refused (the process had no memory; mp_sandbox_fail_after's
 * too), not the cap: a failure that may pass, where the cap's comes back on every run. Its
 * memory error says so: "not enough memory: the process could not allocate (...)" instead of
 * "not enough memory (limit N bytes)". */
uint64_t mp_sandbox_mem_exhausted(const mp_sandbox *sb);

/* Accounting, for reports such as `meshpol check`'s load-time cost. All are cheap reads.
 * instructions_used: budget units (VM instructions plus the charges of C functions and memory)
 *   the running top-level call has used so far, or the last one used once it has returned (0
 *   before the first). Counted in hook steps, so at most HOOK_STEP (1,000) above the truth; a
 *   call that failed with MP_SANDBOX_TIMEOUT used at least budget - 1,000 or was refused a
 *   charge that would have passed the budget (its message says which function and how much).
 *   Nested calls are part of the top-level call's count.
 * instructions_total: the same summed over every top-level call since mp_sandbox_new, the
 *   running one included.
 * instr_budget: the budget each top-level call gets (after the default).
 * deadline_ms: the deadline each top-level call gets (after deriving it), or
 *   MP_SANDBOX_NO_DEADLINE. */
uint64_t mp_sandbox_instructions_used(const mp_sandbox *sb);
/* Calls so far to a function whose result differs from run to run (os.clock, os.date, os.time,
 * math.random, math.randomseed, collectgarbage): what the code did may not happen again. */
uint64_t mp_sandbox_nondeterministic(const mp_sandbox *sb);
/* Of mp_sandbox_instructions_used, the units paid for memory taken: what a call allocates
 * depends on what the state held before it (a short string already interned is not allocated
 * again, a shared table grows when it is full), so this share of the count differs between
 * states that ran the same code after different code. */
uint64_t mp_sandbox_memory_units_used(const mp_sandbox *sb);
/* Calls so far to require: a module's instance is shared by every chunk of the state that
 * requires it, so what code does after a require may depend on what other code did before. */
uint64_t mp_sandbox_requires(const mp_sandbox *sb);
uint64_t mp_sandbox_instructions_total(const mp_sandbox *sb);
uint64_t mp_sandbox_instr_budget(const mp_sandbox *sb);
uint32_t mp_sandbox_deadline_ms(const mp_sandbox *sb);

/* Sets the budget of the top-level calls started from now on (0: the default) and returns the
 * previous one. Called between calls, never from inside one: a bundle's files load under the
 * load budget, then its `when` functions run under theirs in the same state. A derived deadline
 * follows the budget. */
uint64_t mp_sandbox_set_budget(mp_sandbox *sb, uint64_t units);

/* Lets the state gather about bytes of garbage between two collections, counted from the live
 * heap now (call it once the state holds what it keeps: a bundle loaded): the collector's pause
 * is set so that a cycle starts when the heap reaches live + bytes, at least twice and at most
 * ten times the live heap (Lua's bounds; 2x is its default). A small state whose calls leave a
 * little garbage each then collects less often; the memory cap holds as before (a growth it
 * refuses makes Lua collect in full and retry). Host code, between calls. */
void mp_sandbox_gc_headroom(mp_sandbox *sb, size_t bytes);

/* Sets the deadline of the top-level calls started from now on, as deadline_ms in the options
 * (0: derived, MP_SANDBOX_NO_DEADLINE: none), and returns the previous setting so that a caller
 * can restore it. A call already running keeps its deadline. E.g. a server gives the `when`
 * functions of a request the time the request has left. */
uint32_t mp_sandbox_set_deadline(mp_sandbox *sb, uint32_t ms);

/* "ok", "error", "timeout", "nomem", "interrupted", "deadline" (or "unknown"). Static
 * strings. */
const char *mp_sandbox_status_name(int status);

/* Pushes a read-only proxy of the table at idx: reads, #, pairs and ipairs see the table;
 * assignment (and rawset from policy code) raises "attempt to modify read-only table 'name'";
 * the proxy's metatable is protected. Shallow: nested tables stay as they are. next() and
 * rawget() on the proxy see an empty table. name is copied. Can raise a memory error ([-0,+1,m]):
 * call it where an error is caught (mp_sandbox_pcall, mp_sandbox_protect). */
void mp_sandbox_push_readonly(lua_State *L, int idx, const char *name);

/* A kind of lazy read-only proxy (mp_sandbox_push_lazy): fields, its field names (ended by NULL;
 * nfields of them), in the order a plain table of them would have been filled; make(L, data, i)
 * pushes the value of field i from the data at stack index data and returns 1, or pushes
 * nothing and returns 0 when the field is absent. make may raise a memory error. Bit i of
 * plain says that field i is never a value with an identity (a string, number or boolean, or
 * absent): a read of it does not look for a kept value first. With keep_uv > 0, a field i with
 * an identity is kept in user value keep_uv + i of the data, which must then be a full userdata
 * with those user values and the data of no other proxy of the kind (each proxy has its own
 * kept fields); with 0, in weak tables beside the proxy. */
typedef struct mp_sandbox_lazy {
	int (*make)(lua_State *L, int data, int i);
	const char *const *fields;
	int nfields;
	uint32_t plain;
	int keep_uv;
} mp_sandbox_lazy;

/* Pops a value (the data: neither nil nor false) and pushes a read-only proxy, as
 * mp_sandbox_push_readonly's, of a table of kind's fields, each made by kind->make when read (a
 * `when`'s `req`: most reads touch a field or two of it). A field with an identity (a table,
 * userdata, function) is made once and kept; a string, number or boolean is made again on each
 * read, which no code can tell apart, so make must give the same value each time. Reads, #,
 * pairs, assignment and rawset behave as on the plain proxy of the table of every field; pairs
 * and # make every field first, in kind's order. The proxies of one kind and name share one
 * metatable per Lua state (a proxy costs one empty table); the data stays reachable while the
 * proxy is (it must own what make reads). kind must outlive the Lua state (static).
 * [-1,+1,m], like mp_sandbox_push_readonly. */
void mp_sandbox_push_lazy(lua_State *L, const mp_sandbox_lazy *kind, const char *name);

/* Pushes a fresh environment table whose reads fall through to the sandbox globals and whose
 * writes stay in it (see above), for upvalue 1 of a function from mp_sandbox_load.
 * [-0,+1,m], like mp_sandbox_push_readonly. */
void mp_sandbox_push_env(lua_State *L);

#pragma GCC visibility pop

#endif
