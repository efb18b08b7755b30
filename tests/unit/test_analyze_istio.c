/* test_analyze_istio.c: engine/providers/istio/analyze_istio*.c: Istio's analyzers against the
 * situations of istio/istio's pkg/config/analysis/analyzers/analyzers_test.go, rebuilt as
 * meshpol's own YAML in tests/data/import/istio/cases.json (each case cites the analyzer and
 * the test case it mirrors; the runner is tests/unit/casetable.h's, which fails on a missing
 * finding, on any other finding of the analyzer's codes and on a finding without file:line);
 * then what the analyzers stand on: `kind: List`, the analysis of malformed documents, the
 * MeshConfig option, VirtualService delegation and exportTo in routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "casetable.h"
#include "provider.h"
#include "testutil.h"

int main(void)
{
	return casetable_main("istio analyzers", "tests/data/import/istio", NULL, 0);
}
