/* luacost.h: what the C functions of the sandbox's allow-list cost, in budget units (one unit is
 * one VM instruction), computed from their arguments before they run (luacost.c). The table and
 * how its ratios were measured: the header comment of sandbox.h and docs/architecture.md. */
#ifndef MP_LUACOST_H
#define MP_LUACOST_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* The ratios, measured against stock Lua 5.4.4 (docs/architecture.md, "The sandbox"): a unit is
 * one VM instruction, 5 to 11 ns on the machine measured (7 ns in a loop of arithmetic and table
 * stores). */
enum {
	MP_LUACOST_COPY_BYTES = 32, /* bytes a unit: memcpy, memcmp (0.04 to 0.2 ns a byte) */
	MP_LUACOST_SCAN_BYTES =
	    8, /* bytes a unit: a C loop over bytes, toupper, digits (0.5-1 ns) */
	MP_LUACOST_DECODE_BYTES =
	    2,                     /* bytes a unit: utf8 decoding, %q, digits in a base (1.5-3.5) */
	MP_LUACOST_LOAD_UNITS = 1, /* units a byte of source given to load or require (2.5-6 ns) */
	MP_LUACOST_ELEM_UNITS = 4, /* units a table element read and written (lua_geti+seti: 29) */
	MP_LUACOST_VALUE_UNITS = 1, /* units a value pushed or taken from the stack (2 to 6 ns) */
	MP_LUACOST_REP_PIECES = 2,  /* pieces a unit string.rep copies, however short (3 to 4 ns) */
	MP_LUACOST_SORT_UNITS = 8,  /* units per n*log2(n) of table.sort's C part (42 ns) */
	MP_LUACOST_FORMAT_UNITS = 8, /* units a byte of a format string (%99d: 35 units a spec) */
	MP_LUACOST_ALLOC_BYTES = 16, /* bytes a unit of memory taken while a call runs */
	MP_LUACOST_ALLOC_BLOCK = 1   /* units a new block (the collector's share of it) */
};

/* A cost function: reads the arguments of the call in progress (stack indexes 1..top, as the
 * original will), changes nothing a policy can see and returns units. It raises only where the
 * original would raise the same error first (a __len metamethod that fails). */
typedef double (*mp_luacost_fn)(lua_State *L);

/* One allow-listed C function. lib: "_G", "string", "table", "math", "utf8", "os", or
 * "string.mt" (the string metatable's arithmetic). args: one letter an argument, 'n' where a
 * number is expected (a string there is converted, which costs its length in SCAN bytes), '.'
 * elsewhere; a trailing '*' repeats the letter before it for the remaining arguments. cost: the
 * charge for the function's own work, NULL when it is O(1). result: NULL, or the bytes of a
 * result the function allocates before doing any work (string.rep): when they cannot fit under
 * the memory cap the sandbox charges nothing and lets the allocation fail with the memory error
 * it always gave. */
typedef struct mp_luacost_row {
	const char *lib;
	const char *name;
	const char *args;
	mp_luacost_fn cost;
	mp_luacost_fn result;
} mp_luacost_row;

extern const mp_luacost_row mp_luacost_rows[]; /* ends with a row whose lib is NULL */

/* The charge for calling row's function with the arguments now on the stack: the conversion of
 * string arguments where numbers are expected, plus row->cost. */
double mp_luacost_of(lua_State *L, const mp_luacost_row *row);

/* Charges the sandbox applies itself: compiling len bytes of source (load, require); a byte
 * scan (plain string.find, the subject of a pattern); memory taken (grow bytes, a new block or
 * not). */
double mp_luacost_load(size_t len);
double mp_luacost_scan(size_t len);
double mp_luacost_alloc(size_t grow, int new_block);

/* Units for a charge: rounded down, saturated at UINT64_MAX (a NaN counts as the maximum). */
uint64_t mp_luacost_units(double cost);

#endif
