/* archivelib.c: libarchive loaded on first use (archivelib.h). */
#include "archivelib.h"

ARCHIVE_FUNCS(MP_DYNLIB_DEFINE)
static const mp_dynlib_sym archive_syms[] = {ARCHIVE_FUNCS(MP_DYNLIB_SYM){NULL, NULL}};
static mp_dynlib libarchive = MP_DYNLIB_INIT("libarchive", MP_SONAME_ARCHIVE, archive_syms);
_Static_assert(sizeof(MP_SONAME_ARCHIVE) > 1,
               "the Makefile found no libarchive.so (libarchive-dev)");

int mp_archivelib_load(char *err, size_t errlen)
{
	return mp_dynlib_load(&libarchive, err, errlen);
}
