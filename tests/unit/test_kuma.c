/* test_kuma.c: engine/providers/kuma/, Kuma's provider. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "casetable.h"
#include "testutil.h"

#define DIR "tests/data/import/kuma"

int main(void)
{
	struct CMUnitTest *tests;
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	int nc = case_tests(DIR, &tests, 0);
	if (nc < 0)
		return 1;
	int rc = _cmocka_run_group_tests("kuma", tests, (size_t)nc, NULL, case_teardown);
	free(tests);
	return rc;
}
