/* filewatch.h: inotify watches on the model's and the bundle's files, for the shell's :watch. The
 * shell polls the descriptor between prompts (docs/repl.md, ":watch"). Linux only.
 *
 * Ownership: an mp_filewatch owns its inotify descriptor, the watched directory names and the list
 * of changed paths; mp_filewatch_free releases them all.
 */
#ifndef MP_FILEWATCH_H
#define MP_FILEWATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct mp_filewatch mp_filewatch;

enum { MP_FILEWATCH_MODEL = 1, MP_FILEWATCH_BUNDLE = 2 };

mp_filewatch *mp_filewatch_new(char *err, size_t errlen);
void mp_filewatch_free(mp_filewatch *w); /* NULL is fine */

/* Watches path, a directory (and every directory under it, including ones made later) or a
 * file (through its directory, filtered by name). Model trees report *.yaml and *.yml only.
 * tag is MP_FILEWATCH_MODEL or MP_FILEWATCH_BUNDLE. 0, or -1 with a message in err. */
int mp_filewatch_add(mp_filewatch *w, const char *path, int tag, char *err, size_t errlen);
int mp_filewatch_fd(const mp_filewatch *w);
uint32_t mp_filewatch_ndirs(const mp_filewatch *w);

/* Reads the events waiting on the descriptor (it never blocks) and records the files that
 * changed (written, moved in or out, deleted). Returns how many paths were newly recorded. */
uint32_t mp_filewatch_read(mp_filewatch *w);
/* The paths recorded since the last mp_filewatch_clear, and the tags they carry (OR'ed). */
uint32_t mp_filewatch_changes(const mp_filewatch *w, const char *const **paths, int *tags);
void mp_filewatch_clear(mp_filewatch *w);

#endif
