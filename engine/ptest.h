/* ptest.h: the policy test runner behind `meshpol test`: runs a bundle's *_test.lua files,
 * each against the model it names, and reports every failed expectation with its file:line,
 * the expected and actual outcome and the decision's reasons. Language: docs/policy-language.md
 * ("Tests"). */
#ifndef MP_PTEST_H
#define MP_PTEST_H

#include "diag.h"

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

#endif
