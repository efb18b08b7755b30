/* test_consul.c: engine/providers/consul/, Consul's intentions through mp_decide. The table is
 * data: tests/data/import/consul/cases.json (scenario files + request + expected effect and the
 * deciding entry and rule, each citing the Consul source or docs it checks), run by
 * casetable.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "casetable.h"

#define DIR "tests/data/import/consul"

int main(void)
{
	setenv("MESHPOL_STDLIB", "stdlib", 1);
	if (casetable_load(DIR) < 0)
		return 1;
	size_t n = casetable_size();
	struct CMUnitTest *tests = calloc(n + 8, sizeof(*tests));
	n = casetable_tests(tests);
	int rc = _cmocka_run_group_tests("consul", tests, n, NULL, casetable_teardown);
	free(tests);
	return rc;
}
