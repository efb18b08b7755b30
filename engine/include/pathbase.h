/* pathbase.h: the base directory reports name files against (`meshpol audit --base DIR`): the
 * root of the Git work tree holding the sources, found by walking up for `.git`, and paths made
 * relative to it. Prefix mp_path_. Design: docs/audit-format.md ("Locations and --base").
 *
 * Nothing here allocates: every result goes into the caller's buffer, and a result that does not
 * fit is an error (-1), never a cut path. */
#ifndef MP_PATHBASE_H
#define MP_PATHBASE_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <stddef.h>

/* path made absolute against the current directory and normalised lexically: "." and empty
 * components dropped, ".." taking off the component before it (never above "/"). Symbolic links
 * are not resolved. 0, or -1 when it does not fit or the current directory cannot be read. */
int mp_path_absolute(const char *path, char *out, size_t outlen);

/* The root of the Git work tree holding path (a file or a directory, which must exist): the
 * nearest directory at or above it, its symbolic links resolved, that holds an entry `.git` (a
 * directory, or the file a linked work tree or a submodule has). No subprocess. 0 with the
 * absolute root in out, or -1 when there is none (or it does not fit). */
int mp_path_work_tree(const char *path, char *out, size_t outlen);

/* file relative to base (an absolute, normalised directory, as mp_path_work_tree gives): file
 * made absolute (mp_path_absolute) and, when it is not under base so, with the symbolic links
 * of its directory resolved. 1 with the relative path in out: "a/b.yaml" under base, or
 * "../x/b.yaml" beside it when the two share a directory other than "/" (a checkout and its
 * neighbours); 0 with the absolute path in out when they share only "/"; -1 when it does not
 * fit. */
int mp_path_relative(const char *base, const char *file, char *out, size_t outlen);

#pragma GCC visibility pop

#endif
