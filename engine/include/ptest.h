/* ptest.h: the policy test runner behind `meshpol test`: runs a bundle's *_test.lua files,
 * each against the model it names, and reports every failed expectation with its file:line,
 * the expected and actual outcome and the decision's reasons. Language: docs/policy-language.md
 * ("Tests"). */
#ifndef MP_PTEST_H
#define MP_PTEST_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"

#include <lua.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
	int verbose;     /* print passing tests too */
	const char *run; /* run only tests whose name contains this; NULL: all */
	FILE *out;       /* where results go */
} mp_ptest_opts;

typedef struct {
	unsigned passed, failed, files;
} mp_ptest_result;

/* Runs every test of the bundle in dir. Problems that stop a whole file (a syntax error, a model
 * or bundle that does not load) count as one failed test each and are printed. Returns 0, or
 * -1 when dir has no test files (reported into d). */
int mp_ptest_run(const char *dir, const mp_ptest_opts *o, mp_ptest_result *res, mp_diags *d);

/* Checks the keys of the table at idx against names (NULL-terminated, at most 32), for the
 * request tables of the tests and of the shell's decide: raw, so fields an __index gives are not
 * seen. Raises "WHAT: unknown key 'k' (did you mean 'x'?)", naming every unknown key in sorted
 * order, or "WHAT: fields must be named" for a key that is not a string. Returns the keys
 * present: bit i for names[i]. */
uint32_t mp_ptest_check_keys(lua_State *L, int idx, const char *const *names, const char *what);

#pragma GCC visibility pop

#endif
