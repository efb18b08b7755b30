/* ptest.h: the policy test runner behind `meshpol test`: runs a bundle's *_test.lua files,
 * each against the model it names, and reports every failed expectation with its file:line,
 * the expected and actual outcome and the decision's reasons. Language: docs/policy-language.md
 * ("Tests"). */
#ifndef MP_PTEST_H
#define MP_PTEST_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"

#include <jansson.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
	int verbose;     /* print passing tests too */
	const char *run; /* run only tests whose name contains this; NULL: all */
	FILE *out;       /* where results go as text while they run; NULL: nowhere */
} mp_ptest_opts;

/* What a run found. cases is an array with one object per test run (owned; mp_ptest_result_free
 * releases it): {"file", "name", "location" ("file:line"), "status" ("pass", "fail" or
 * "error"), "failures": [each failed expectation, as text], "error": the message of an error
 * that stopped the test}; a problem that stops a whole file is one case named "(file)" with
 * status "error". models lists the models the files named (paths as resolved). */
typedef struct {
	unsigned passed, failed, files;
	json_t *cases, *models;
} mp_ptest_result;

/* Runs every test of the bundle in dir. Problems that stop a whole file (a syntax error, a model
 * or bundle that does not load) count as one failed test each and are printed. Returns 0, or
 * -1 when dir has no test files (reported into d). */
int mp_ptest_run(const char *dir, const mp_ptest_opts *o, mp_ptest_result *res, mp_diags *d);
void mp_ptest_result_free(mp_ptest_result *res);

/* 1 if format names a writer of results (text, junit, json), else 0. */
int mp_ptest_format_known(const char *format);
/* Writes res in format: junit (a testsuite per test file, valid against the Jenkins xunit
 * junit-10.xsd) or json ({"bundle", "passed", "failed", "tests": cases}); text is what the run
 * printed as it went (mp_ptest_opts.out), so nothing is written for it. dir names the bundle.
 * 0, or -1 for an unknown format, out of memory or a failed write. Format: docs/cli.md
 * ("test"). */
int mp_ptest_write(const mp_ptest_result *res, const char *dir, const char *format, FILE *out);

/* Checks the keys of the table at idx against names (NULL-terminated, at most 32), for the
 * request tables of the tests and of the shell's decide: raw, so fields an __index gives are not
 * seen. Raises "WHAT: unknown key 'k' (did you mean 'x'?)", naming every unknown key in sorted
 * order, or "WHAT: fields must be named" for a key that is not a string. Returns the keys
 * present: bit i for names[i]. */
uint32_t mp_ptest_check_keys(lua_State *L, int idx, const char *const *names, const char *what);

#pragma GCC visibility pop

#endif
