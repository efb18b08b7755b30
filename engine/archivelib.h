/* archivelib.h: libarchive, loaded on first use (dynlib.h): a check or an audit of a bundle
 * directory never maps it and the ten libraries it brings. The functions barchive.c and
 * barchive_build.c call, as sym_NAME, valid once mp_archivelib_load returned 0. */
#ifndef MP_ARCHIVELIB_H
#define MP_ARCHIVELIB_H

#include "dynlib.h"

#include <archive.h>
#include <archive_entry.h>
#include <stddef.h>

#define ARCHIVE_FUNCS(X)                                                                           \
	X(archive_entry_clear)                                                                     \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_free)                                                                      \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_new)                                                                       \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_set_filetype)                                                              \
	X(archive_entry_set_gid)                                                                   \
	X(archive_entry_set_mtime)                                                                 \
	X(archive_entry_set_pathname)                                                              \
	X(archive_entry_set_perm)                                                                  \
	X(archive_entry_set_size)                                                                  \
	X(archive_entry_set_uid)                                                                   \
	X(archive_entry_size)                                                                      \
	X(archive_entry_size_is_set)                                                               \
	X(archive_entry_sparse_count)                                                              \
	X(archive_entry_symlink)                                                                   \
	X(archive_error_string)                                                                    \
	X(archive_read_data)                                                                       \
	X(archive_read_free)                                                                       \
	X(archive_read_new)                                                                        \
	X(archive_read_next_header)                                                                \
	X(archive_read_open_memory)                                                                \
	X(archive_read_support_filter_gzip)                                                        \
	X(archive_read_support_format_tar)                                                         \
	X(archive_write_add_filter_gzip)                                                           \
	X(archive_write_close)                                                                     \
	X(archive_write_data)                                                                      \
	X(archive_write_free)                                                                      \
	X(archive_write_header)                                                                    \
	X(archive_write_new)                                                                       \
	X(archive_write_open)                                                                      \
	X(archive_write_set_bytes_in_last_block)                                                   \
	X(archive_write_set_filter_option)                                                         \
	X(archive_write_set_format_pax_restricted)
ARCHIVE_FUNCS(MP_DYNLIB_EXTERN)

/* Loads libarchive: 0, or -1 with "libarchive: SONAME: why" in err. Any thread. */
int mp_archivelib_load(char *err, size_t errlen);

#endif
