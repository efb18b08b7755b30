/* bundlesrc.c: what a bundle SPEC names (bundlesrc.h): a directory; a bundle archive's files,
 * read and checked in memory (barchive.h); or a Git revision's tree read through libgit2 into
 * memory. Both in-memory kinds reach the loader the same way, as mp_bundle_source.tree. Syntax:
 * docs/bundles.md ("Naming a bundle"). */
#include "bundlesrc.h"
#include "alloc.h"
#include "barchive.h"
#include "dynlib.h"
#include "files.h"

#include <git2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 32 /* as a directory walk */

enum kind { DIRECTORY, GIT, ARCHIVE };

/* What an opened source owns (mp_bundle_source.owned). */
typedef struct {
	char *label; /* the source's dir: the directory, the archive's path, or "REV:PATH" */
	/* GIT: names and texts mp_malloc'd each; ARCHIVE: the array only (mp_barchive_source),
	 * its names and texts are the archive's */
	mp_bundle_text *tree;
	uint32_t ntree, cap;
	size_t bytes;
	mp_barchive *archive; /* ARCHIVE */
	enum kind kind;
} owned;

static void free_owned(owned *o)
{
	if (!o)
		return;
	for (uint32_t i = 0; o->kind == GIT && i < o->ntree; i++) {
		mp_free((char *)o->tree[i].name);
		mp_free((char *)o->tree[i].text);
	}
	mp_free(o->tree);
	mp_barchive_free(o->archive);
	mp_free(o->label);
	mp_free(o);
}

void mp_bundle_source_close(mp_bundle_source *s)
{
	if (!s)
		return;
	free_owned(s->owned);
	mp_free(s);
}

const char *mp_bundle_source_kind(const mp_bundle_source *s)
{
	static const char *const names[] = {"directory", "git", "archive"};
	const owned *o = s->owned;
	return names[o ? o->kind : DIRECTORY];
}

static mp_bundle_source *new_source(const char *label, enum kind kind)
{
	mp_bundle_source *s = mp_calloc(1, sizeof(*s));
	owned *o = mp_calloc(1, sizeof(*o));
	if (!s || !o || !(o->label = mp_strdup(label))) {
		mp_free(s);
		free_owned(o);
		return NULL;
	}
	o->kind = kind;
	s->owned = o;
	s->dir = o->label;
	return s;
}

/* --- Git --- */

/* libgit2, loaded when a source names a revision (dynlib.h: not at every start of every verb);
 * these are the functions this file calls, as sym_NAME. */
#define GIT_FUNCS(X)                                                                               \
	X(git_error_last)                                                                          \
	X(git_tree_entry_name)                                                                     \
	X(git_blob_lookup)                                                                         \
	X(git_tree_entry_id)                                                                       \
	X(git_blob_rawsize)                                                                        \
	X(git_blob_rawcontent)                                                                     \
	X(git_blob_free)                                                                           \
	X(git_tree_entrycount)                                                                     \
	X(git_tree_entry_byindex)                                                                  \
	X(git_tree_entry_filemode)                                                                 \
	X(git_tree_lookup)                                                                         \
	X(git_tree_free)                                                                           \
	X(git_repository_workdir)                                                                  \
	X(git_libgit2_init)                                                                        \
	X(git_repository_open_ext)                                                                 \
	X(git_repository_free)                                                                     \
	X(git_revparse_single)                                                                     \
	X(git_object_peel)                                                                         \
	X(git_tree_entry_bypath)                                                                   \
	X(git_tree_entry_type)                                                                     \
	X(git_tree_entry_free)                                                                     \
	X(git_object_free)                                                                         \
	X(git_libgit2_shutdown)
GIT_FUNCS(MP_DYNLIB_DECLARE)
static const mp_dynlib_sym git_syms[] = {GIT_FUNCS(MP_DYNLIB_SYM){NULL, NULL}};
static mp_dynlib libgit2 = MP_DYNLIB_INIT("libgit2", MP_SONAME_GIT2, git_syms);
_Static_assert(sizeof(MP_SONAME_GIT2) > 1, "the Makefile found no libgit2.so (libgit2-dev)");

/* Loads libgit2 and initialises it (undone by sym_git_libgit2_shutdown); -1 with the reason
 * under label. */
static int git_start(const char *label, mp_diags *d)
{
	char err[600];
	if (mp_dynlib_load(&libgit2, err, sizeof(err)) < 0) {
		mp_diags_error(d, label, 0, 0, "cannot read a Git revision: %s", err);
		return -1;
	}
	sym_git_libgit2_init();
	return 0;
}

typedef struct {
	git_repository *repo;
	owned *o;
	const char *label;
	mp_diags *d;
	int failed;
} reader;

static const char *git_why(void)
{
	const git_error *e = sym_git_error_last();
	return e && e->message ? e->message : "unknown error";
}

static int cmp_entry_names(const void *a, const void *b)
{
	return strcmp(sym_git_tree_entry_name(*(const git_tree_entry *const *)a),
	              sym_git_tree_entry_name(*(const git_tree_entry *const *)b));
}

static int add_blob(reader *r, const char *rel, const git_tree_entry *e)
{
	git_blob *blob = NULL;
	owned *o = r->o;
	if (sym_git_blob_lookup(&blob, r->repo, sym_git_tree_entry_id(e)) < 0) {
		mp_diags_error(r->d, r->label, 0, 0, "%s: cannot read: %s", rel, git_why());
		return -1;
	}
	git_object_size_t size = sym_git_blob_rawsize(blob);
	int rc = -1;
	if (o->ntree >= MP_BUNDLESRC_MAX_FILES || size > MP_BUNDLESRC_MAX_BYTES - o->bytes) {
		mp_diags_error(r->d, r->label, 0, 0,
		               "more than %u files or %u bytes: not a policy bundle",
		               MP_BUNDLESRC_MAX_FILES, MP_BUNDLESRC_MAX_BYTES);
		goto out;
	}
	if (mp_grow((void **)&o->tree, &o->cap, sizeof(*o->tree), o->ntree, 64) < 0)
		goto oom;
	char *name = mp_strdup(rel), *text = mp_malloc((size_t)size + 1);
	if (!name || !text) {
		mp_free(name);
		mp_free(text);
		goto oom;
	}
	memcpy(text, sym_git_blob_rawcontent(blob), (size_t)size);
	text[size] = '\0';
	o->tree[o->ntree++] = (mp_bundle_text){name, text, (size_t)size};
	o->bytes += (size_t)size;
	rc = 0;
	goto out;
oom:
	mp_diags_error(r->d, r->label, 0, 0, "out of memory");
out:
	sym_git_blob_free(blob);
	return rc;
}

/* Reads tree (at rel, "" for the top) into r->o in a directory walk's order: each tree's names
 * sorted bytewise (Git sorts a tree's directories as if their names ended in '/'), names
 * starting with '.' left out. -1 stops the walk (out of memory, over the limits). */
static int read_tree(reader *r, git_tree *tree, const char *rel, int depth)
{
	size_t n = sym_git_tree_entrycount(tree);
	const git_tree_entry **v = mp_malloc((n + 1) * sizeof(*v));
	int rc = 0;
	if (!v) {
		mp_diags_error(r->d, r->label, 0, 0, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = sym_git_tree_entry_byindex(tree, i);
	qsort(v, n, sizeof(*v), cmp_entry_names);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *name = sym_git_tree_entry_name(v[i]);
		char path[PATH_MAX];
		if (name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", name) >=
		    sizeof(path)) {
			mp_diags_error(r->d, r->label, 0, 0, "%s...: path too long", rel);
			r->failed = 1;
			continue;
		}
		git_filemode_t mode = sym_git_tree_entry_filemode(v[i]);
		if (mode == GIT_FILEMODE_TREE) {
			git_tree *sub = NULL;
			if (depth >= MAX_DEPTH) {
				mp_diags_error(r->d, r->label, 0, 0,
				               "%s: directories nested too deep", path);
				r->failed = 1;
			} else if (sym_git_tree_lookup(&sub, r->repo, sym_git_tree_entry_id(v[i])) <
			           0) {
				mp_diags_error(r->d, r->label, 0, 0, "%s: cannot read: %s", path,
				               git_why());
				r->failed = 1;
			} else {
				rc = read_tree(r, sub, path, depth + 1);
			}
			sym_git_tree_free(sub);
		} else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
			rc = add_blob(r, path, v[i]);
		} else {
			/* a directory walk would follow a link inside the tree; a revision's link
			 * names a path of a checkout that is not there */
			mp_diags_error(
			    r->d, r->label, 0, 0, "%s: %s in the revision, not read", path,
			    mode == GIT_FILEMODE_LINK ? "a symbolic link" : "a submodule");
			r->failed = 1;
		}
	}
	mp_free(v);
	return rc;
}

/* Where in the repository's work tree dir is ("" for its top); -1 when it is not inside. */
static int place_in_repo(git_repository *repo, const char *dir, char *out, size_t len)
{
	const char *wd = sym_git_repository_workdir(repo);
	char real[PATH_MAX], top[PATH_MAX];
	if (!wd || !realpath(dir, real) || !realpath(wd, top))
		return -1;
	size_t n = strlen(top);
	if (strncmp(real, top, n) || (real[n] && real[n] != '/'))
		return -1;
	snprintf(out, len, "%s", real[n] ? real + n + 1 : "");
	return 0;
}

/* The tree of rev at path in the repository that start is in, read into a new source labelled
 * label. rel_to_cwd: path is relative to the current directory (./x, ../x). */
static mp_bundle_source *open_git(const char *label, const char *rev, const char *path,
                                  const char *start, int rel_to_cwd, mp_diags *d)
{
	git_repository *repo = NULL;
	git_object *obj = NULL, *treeobj = NULL;
	git_tree *tree = NULL;
	git_tree_entry *entry = NULL;
	mp_bundle_source *s = NULL;
	char where[PATH_MAX];
	if (git_start(label, d) < 0)
		return NULL;
	if (sym_git_repository_open_ext(&repo, start, 0, NULL) < 0) {
		mp_diags_error(d, label, 0, 0, "not in a Git repository (from %s): %s", start,
		               git_why());
		goto fail;
	}
	if (rel_to_cwd) {
		char joined[PATH_MAX * 2];
		if (place_in_repo(repo, ".", where, sizeof(where)) < 0) {
			mp_diags_error(
			    d, label, 0, 0,
			    "the current directory is not in the repository's work tree");
			goto fail;
		}
		snprintf(joined, sizeof(joined), "%s%s%s", where, *where ? "/" : "", path);
		/* ./ and ../ resolved by hand: the path names a tree, not a file on disk */
		char *parts[MAX_DEPTH * 4];
		int np = 0;
		for (char *tok = strtok(joined, "/"); tok; tok = strtok(NULL, "/")) {
			if (!strcmp(tok, ".") || !*tok)
				continue;
			if (!strcmp(tok, "..")) {
				if (np == 0) {
					mp_diags_error(d, label, 0, 0,
					               "the path leaves the repository");
					goto fail;
				}
				np--;
			} else if (np < (int)(sizeof(parts) / sizeof(parts[0]))) {
				parts[np++] = tok;
			}
		}
		where[0] = '\0';
		for (int i = 0; i < np; i++)
			snprintf(where + strlen(where), sizeof(where) - strlen(where), "%s%s",
			         i ? "/" : "", parts[i]);
	} else {
		snprintf(where, sizeof(where), "%s", path);
		size_t n = strlen(where);
		while (n > 0 && where[n - 1] == '/')
			where[--n] = '\0';
	}
	if (sym_git_revparse_single(&obj, repo, rev) < 0) {
		mp_diags_error(d, label, 0, 0, "no revision '%s' in the repository: %s", rev,
		               git_why());
		goto fail;
	}
	if (sym_git_object_peel(&treeobj, obj, GIT_OBJECT_TREE) < 0) {
		mp_diags_error(d, label, 0, 0, "revision '%s' has no tree: %s", rev, git_why());
		goto fail;
	}
	if (*where) {
		if (sym_git_tree_entry_bypath(&entry, (git_tree *)treeobj, where) < 0) {
			mp_diags_error(d, label, 0, 0, "revision '%s' has no '%s'", rev, where);
			goto fail;
		}
		if (sym_git_tree_entry_type(entry) != GIT_OBJECT_TREE) {
			mp_diags_error(d, label, 0, 0,
			               "'%s' is a file in revision '%s', not a bundle directory",
			               where, rev);
			goto fail;
		}
		if (sym_git_tree_lookup(&tree, repo, sym_git_tree_entry_id(entry)) < 0) {
			mp_diags_error(d, label, 0, 0, "cannot read '%s': %s", where, git_why());
			goto fail;
		}
	} else {
		tree = (git_tree *)treeobj;
		treeobj = NULL;
	}
	if (!(s = new_source(label, GIT))) {
		mp_diags_error(d, label, 0, 0, "out of memory");
		goto fail;
	}
	reader r = {repo, s->owned, label, d, 0};
	if (read_tree(&r, tree, "", 0) < 0 || r.failed)
		goto fail;
	owned *o = s->owned;
	s->tree = o->tree;
	s->ntree = o->ntree;
	if (!o->ntree) {
		mp_diags_error(d, label, 0, 0, "the directory is empty in revision '%s'", rev);
		goto fail;
	}
	goto out;
fail:
	mp_bundle_source_close(s);
	s = NULL;
out:
	sym_git_tree_entry_free(entry);
	sym_git_tree_free(tree);
	sym_git_object_free(treeobj);
	sym_git_object_free(obj);
	sym_git_repository_free(repo);
	sym_git_libgit2_shutdown();
	return s;
}

/* --- archives --- */

/* A source of the archive a (read, taken over: freed with the source, or now on failure),
 * checked as -p BUNDLE.tar.gz is (its manifest's hashes, its signature with the key it carries)
 * and, with pubkey, signed by that key. */
static mp_bundle_source *archive_source(mp_barchive *a, const char *pubkey, mp_diags *d)
{
	mp_bundle_source *s = new_source(a->label, ARCHIVE);
	if (!s) {
		mp_diags_error(d, a->label, 0, 0, "out of memory");
		mp_barchive_free(a);
		return NULL;
	}
	owned *o = s->owned;
	o->archive = a;
	if (mp_barchive_check(a, pubkey, d) < 0)
		goto fail;
	if (!(o->tree = mp_barchive_source(a, s))) {
		mp_diags_error(d, a->label, 0, 0, "out of memory");
		goto fail;
	}
	o->ntree = s->ntree;
	s->dir = o->label; /* the source's own copy, as for the other kinds */
	return s;
fail:
	mp_bundle_source_close(s);
	return NULL;
}

int mp_bundle_spec_is_url(const char *spec)
{
	return spec && (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8));
}

/* The end of REV in spec: its first ':' outside braces; NULL when none. */
static const char *rev_end(const char *spec)
{
	int depth = 0;
	for (const char *p = spec; *p; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && depth > 0)
			depth--;
		else if (*p == ':' && depth == 0)
			return p;
	}
	return NULL;
}

mp_bundle_source *mp_bundle_source_open_opts(const char *spec, const mp_bundle_source_opts *o,
                                             mp_diags *d)
{
	static const mp_bundle_source_opts none = {0};
	struct stat st;
	const char *colon;
	o = o ? o : &none;
	if (!spec || !*spec) {
		mp_diags_error(d, NULL, 0, 0, "an empty bundle name");
		return NULL;
	}
	if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
		mp_bundle_source *s = new_source(spec, DIRECTORY);
		if (!s)
			mp_diags_error(d, spec, 0, 0, "out of memory");
		return s;
	}
	/* the other kinds are decided here, before REV:PATH ("https://h/b.tar.gz" would be one) */
	if (stat(spec, &st) == 0 && S_ISREG(st.st_mode) && mp_barchive_is_file(spec)) {
		mp_barchive *a = mp_barchive_open(spec, NULL, d);
		return a ? archive_source(a, o->pubkey, d) : NULL;
	}
	if (mp_bundle_spec_is_url(spec)) {
		if (!o->fetch) {
			mp_diags_error(
			    d, spec, 0, 0,
			    "a URL names a bundle only for serve --shadow-bundle (download "
			    "the archive and name the file)");
			return NULL;
		}
		mp_barchive *a = o->fetch(o->ctx, spec, d);
		return a ? archive_source(a, o->pubkey, d) : NULL;
	}
	if ((colon = rev_end(spec)) && colon > spec) {
		char rev[PATH_MAX];
		size_t n = (size_t)(colon - spec);
		if (n >= sizeof(rev)) {
			mp_diags_error(d, NULL, 0, 0, "a revision name of %zu bytes", n);
			return NULL;
		}
		memcpy(rev, spec, n);
		rev[n] = '\0';
		const char *path = colon + 1;
		int rel = !strncmp(path, "./", 2) || !strncmp(path, "../", 3) ||
		          !strcmp(path, ".") || !strcmp(path, "..");
		return open_git(spec, rev, path, ".", rel, d);
	}
	mp_diags_error(d, spec, 0, 0,
	               "%s (a bundle is a directory, a bundle archive BUNDLE.tar.gz, or a Git "
	               "revision REV:PATH)",
	               stat(spec, &st) == 0 ? "neither a directory nor a bundle archive"
	                                    : "no such directory or file");
	return NULL;
}

mp_bundle_source *mp_bundle_source_open(const char *spec, mp_diags *d)
{
	return mp_bundle_source_open_opts(spec, NULL, d);
}

mp_bundle_source *mp_bundle_source_open_rev(const char *rev, const char *dir, mp_diags *d)
{
	git_repository *repo = NULL;
	char where[PATH_MAX], label[PATH_MAX * 2];
	if (git_start(dir, d) < 0)
		return NULL;
	int rc = sym_git_repository_open_ext(&repo, dir, 0, NULL);
	if (rc == 0 && place_in_repo(repo, dir, where, sizeof(where)) < 0)
		rc = -2;
	sym_git_repository_free(repo);
	sym_git_libgit2_shutdown();
	if (rc < 0) {
		mp_diags_error(d, dir, 0, 0, "%s",
		               rc == -2 ? "not in the repository's work tree"
		                        : "not in a Git repository");
		return NULL;
	}
	snprintf(label, sizeof(label), "%s:%s", rev, where);
	return open_git(label, rev, where, dir, 0, d);
}
