/* test_appmesh.c: engine/providers/appmesh/, App Mesh's provider. The semantics table is data:
 * tests/data/import/appmesh/cases.json (scenario files + request + expected effect and the
 * resource and rule that decide, each citing App Mesh's docs or source), one cmocka test per
 * case (the runner: casetable.h). Then the corpus (../shared/corpus/appmesh) with pinned counts,
 * the three forms of one mesh, the analyzers' findings, malformed input, the export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "casetable.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR "tests/data/import/appmesh"

int main(void)
{
	return casetable_main("appmesh", DIR, NULL, 0);
}
