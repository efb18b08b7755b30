/* bundlesrc.h: where a bundle is read from, named by one string (a SPEC): a bundle directory; a
 * bundle archive (barchive.h), read and checked in memory, from a file or (where the caller
 * can download) a URL; or a Git revision of a directory (REV:PATH), whose files are read through
 * libgit2 from the repository's object database into memory (no checkout). The one place that
 * decides what a SPEC names. An archive's and a revision's files reach the loader the same way,
 * as mp_bundle_source.tree. Syntax: docs/bundles.md ("Naming a bundle"). Implemented by
 * engine/bundlesrc.c.
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
 *   a bundle archive file        its files, read and checked now (mp_barchive_check, with the
 *                                key it carries), loaded with the manifest's revision;
 *   REV:PATH                     the directory PATH of Git revision REV (anything
 *                                `git rev-parse` takes: HEAD~1, main, v2.3, a commit id), in the
 *                                repository the current directory is in; PATH is relative to
 *                                the repository's top, or to the current directory when it
 *                                starts with ./ or ../ (as in Git); REV: alone is the top.
 * The first ':' outside braces ends REV (HEAD@{1}:policies). A directory whose name holds a ':'
 * is a directory. NULL with the reason in d, naming spec (no such directory or revision, the
 * path is not a directory in it, a symbolic link or submodule in it, over the limits; an
 * archive refused; a URL, which needs mp_bundle_source_open_opts). */
mp_bundle_source *mp_bundle_source_open(const char *spec, mp_diags *d);

/* Downloads the bundle archive at url and reads it (mp_barchive_read, labelled with url's
 * credentials and query left out); NULL with the reason in d. */
typedef struct mp_barchive *(*mp_bundle_fetch_fn)(void *ctx, const char *url, mp_diags *d);
typedef struct {
	mp_bundle_fetch_fn fetch; /* an http:// or https:// SPEC; NULL: a URL is refused */
	void *ctx;                /* fetch's */
	const char *pubkey;       /* an archive must be signed by this Ed25519 public key (PEM
	                           * path); NULL: checked with the key it carries, if signed */
} mp_bundle_source_opts;
/* mp_bundle_source_open with o (NULL: none): a URL is downloaded once, now, by o->fetch; the
 * source keeps what it read. */
mp_bundle_source *mp_bundle_source_open_opts(const char *spec, const mp_bundle_source_opts *o,
                                             mp_diags *d);
/* Does spec name a URL (http:// or https://)? */
int mp_bundle_spec_is_url(const char *spec);
/* The bundle directory dir as Git revision rev has it, in the repository dir is in (CI's
 * `--base-rev origin/main`): the same as REV:PATH with PATH dir's place in the repository. */
mp_bundle_source *mp_bundle_source_open_rev(const char *rev, const char *dir, mp_diags *d);
/* What the source is: "directory", "archive" or "git". */
const char *mp_bundle_source_kind(const mp_bundle_source *s);
void mp_bundle_source_close(mp_bundle_source *s); /* NULL is fine */

#pragma GCC visibility pop

#endif
