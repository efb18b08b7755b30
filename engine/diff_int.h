/* diff_int.h: the inside of the diff (diff.c, diffhints.c), open to its unit test, which checks
 * the classes against brute force (tests/unit/test_diff.c). Internal prefix diff_. */
#ifndef MP_DIFF_INT_H
#define MP_DIFF_INT_H

#include "decide.h"
#include "diff.h"

#include <stddef.h>
#include <stdint.h>

/* --- diffhints.c --- */

/* Strings a `when` holds (mp_strdup'd each). */
typedef struct {
	char **v;
	uint32_t n, cap;
} diff_hints;

/* Appends to out the string literals of `when` function number when (1-based) of ev's bundle,
 * and of the functions it captures, and the strings it captures. 0, or -1 with err. */
int diff_hints_of_when(mp_evaluator *ev, int32_t when, diff_hints *out, char *err, size_t errlen);
void diff_hints_free(diff_hints *h);

/* --- diff.c --- */

/* The classes of request two snapshots are compared over. */
typedef struct diff_space diff_space;

/* Builds the classes of base and head (whose evaluators it makes). NULL with the error in d. */
diff_space *diff_space_new(mp_engine *base, mp_engine *head, mp_diags *d);
void diff_space_free(diff_space *s);
/* The class key of r (a request of the shape the classes have: a caller as a principal, a
 * service or a namespace; a destination of either model), as the report's "class" spells it,
 * into buf; -1 when r's destination or caller is in no class. */
int diff_space_classify(const diff_space *s, const mp_request *r, char *buf, size_t len);
/* on: run_dest decides every class, also of destinations whose rules are the same on both
 * sides (the unit test compares the reports). */
void diff_space_exhaustive(diff_space *s, int on);
/* The destinations the last run skipped as having the same rules on both sides. */
uint32_t diff_space_skipped(const diff_space *s);
/* Decides every class by both; the report as mp_diff makes it. */
long diff_space_run(diff_space *s, const mp_diff_opts *opts, json_t **report, mp_diags *d);

#endif
