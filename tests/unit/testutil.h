/* testutil.h: small helpers shared by the cmocka tests. */
#ifndef MP_TESTUTIL_H
#define MP_TESTUTIL_H

#include "diag.h"

#include <stdio.h>

/* Diagnostics as `meshpol` prints them, one per line, in memory the caller frees with free(). */
static inline char *diags_text(const mp_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	mp_diags_print(d, f);
	fclose(f);
	return buf;
}

#endif
