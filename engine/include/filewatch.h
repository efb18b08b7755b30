/* filewatch.h: watching the model's and the bundle's files for changes (inotify), for every
 * front-end that reloads on its own: `meshpol serve --watch` and the shell's :watch. The watcher
 * never blocks and owns no event loop: the front-end polls its descriptor and asks how long to
 * wait. Design: docs/architecture.md ("Watching files"). Linux only.
 *
 * Ownership: an mp_filewatch owns its inotify descriptor, its copies of the paths, the watched
 * directory names and the list of changed paths; mp_filewatch_free releases them all. The array
 * mp_filewatch_changes hands out is valid until the next mp_filewatch_read or _clear.
 *
 * What is watched, for each path added:
 *   - a directory: it and every directory under it (32 levels; not those whose name starts with
 *     '.', which the loaders skip too), new ones as they appear;
 *   - a file: the file itself (through a symbolic link: the file it points to);
 *   - its parent directory, for the path's own name only, so that the path replaced as a whole
 *     (a directory renamed over it, `mv -T new policies`; a symbolic link pointed elsewhere; an
 *     editor that writes a new file and renames it over the old) is seen.
 * What counts as a change: in a directory, a name created, written (closed after writing),
 * deleted, moved in or out, or whose attributes changed, except names starting with '.' or
 * ending in '~' (editors' scratch files); in a model directory, only *.yaml, *.yml and
 * directories. A burst of changes is due once no change came for the debounce time. Once the
 * front-end has handled a burst, mp_filewatch_clear re-creates the watches from the paths, so a
 * path that now leads elsewhere is watched where it leads.
 */
#ifndef MP_FILEWATCH_H
#define MP_FILEWATCH_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <stddef.h>
#include <stdint.h>

typedef struct mp_filewatch mp_filewatch;

/* What a path is, carried by the changes it reports. */
enum { MP_FILEWATCH_MODEL = 1, MP_FILEWATCH_BUNDLE = 2 };

/* A watcher with nothing watched yet. debounce_ms: how long the files must be quiet before a
 * burst is due (mp_filewatch_wait_ms). NULL and a message in err on failure. */
mp_filewatch *mp_filewatch_new(unsigned debounce_ms, char *err, size_t errlen);
void mp_filewatch_free(mp_filewatch *w); /* NULL is fine */

/* Watches path (see above). tag is MP_FILEWATCH_MODEL or MP_FILEWATCH_BUNDLE. 0, or -1 with a
 * message in err ("cannot watch PATH: No such file or directory"); at most 32 paths. */
int mp_filewatch_add(mp_filewatch *w, const char *path, int tag, char *err, size_t errlen);

/* The descriptor to poll for reading; it never changes. */
int mp_filewatch_fd(const mp_filewatch *w);
/* How many directories are watched for their files: each directory of a tree, and the one
 * holding each path that is a file (a parent watched only for a directory's own name does not
 * count; a directory watched for two reasons counts once). */
uint32_t mp_filewatch_ndirs(const mp_filewatch *w);

/* Reads the events waiting on the descriptor (it never blocks), records the paths that changed
 * and restarts the quiet time when any did. Returns how many events counted as changes. */
uint32_t mp_filewatch_read(mp_filewatch *w);

/* -1: no change recorded; 0: a burst is due (the files were quiet for the debounce time); else
 * the milliseconds to wait before it is. */
int mp_filewatch_wait_ms(const mp_filewatch *w);

/* The paths recorded since the last mp_filewatch_clear (each once, in the order first seen;
 * a path added is reported as it was given, others as DIR/NAME below it), and the tags they
 * carry (OR'ed). */
uint32_t mp_filewatch_changes(const mp_filewatch *w, const char *const **paths, int *tags);

/* The burst was handled: forgets the changes and re-creates the watches from the paths (keeping
 * those still valid, so no event waiting for them is lost). 0, or -1 with a message in err when
 * some watch could not be made (the others are in place). */
int mp_filewatch_clear(mp_filewatch *w, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
