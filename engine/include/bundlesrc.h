/* bundlesrc.h: where a bundle is read from, named by one string (a SPEC): a bundle directory, or
 * a Git revision of one (REV:PATH), whose files are read through libgit2 from the repository's
 * object database into memory (no checkout). The one place that decides what a SPEC names, so
 * that other kinds (archives, URLs) plug in here. Syntax: docs/bundles-diff.md ("Naming a
 * bundle"). Implemented by engine/bundlesrc.c.
 *
 * Ownership: an opened source owns its label and files (mp_bundle_source.owned); pass it to
 * mp_bundle_load_source as many times as needed (each bundle copies what it keeps), then
 * mp_bundle_source_close. */
#ifndef MP_BUNDLESRC_H
#define MP_BUNDLESRC_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"
#include "policy.h"

/* Limits on a revision's tree, against a hostile repository. */
#define MP_BUNDLESRC_MAX_FILES 10000u
#define MP_BUNDLESRC_MAX_BYTES (256u << 20)

/* Opens the bundle spec names:
 *   an existing directory        the bundle directory, read when the bundle is loaded;
 *   REV:PATH                     the directory PATH of Git revision REV (anything
 *                                `git rev-parse` takes: HEAD~1, main, v2.3, a commit id), in the
 *                                repository the current directory is in; PATH is relative to
 *                                the repository's top, or to the current directory when it
 *                                starts with ./ or ../ (as in Git); REV: alone is the top.
 * The first ':' outside braces ends REV (HEAD@{1}:policies). A directory whose name holds a ':'
 * is a directory. NULL with the reason in d, naming spec (no such directory or revision, the
 * path is not a directory in it, a symbolic link or submodule in it, over the limits). */
mp_bundle_source *mp_bundle_source_open(const char *spec, mp_diags *d);
/* The bundle directory dir as Git revision rev has it, in the repository dir is in (CI's
 * `--base-rev origin/main`): the same as REV:PATH with PATH dir's place in the repository. */
mp_bundle_source *mp_bundle_source_open_rev(const char *rev, const char *dir, mp_diags *d);
/* What the source is: "directory" or "git". */
const char *mp_bundle_source_kind(const mp_bundle_source *s);
void mp_bundle_source_close(mp_bundle_source *s); /* NULL is fine */

#pragma GCC visibility pop

#endif
