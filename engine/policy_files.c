/* policy_files.c: the files of a bundle: read from its directory, taken again from a bundle
 * read before, or given in memory (mp_bundle_source); the order they load in, the hash over
 * them, and the declarations the in-memory files replace. Design: docs/architecture.md
 * ("Policies", "Snapshots"). */
#include "alloc.h"
#include "arena.h"
#include "files.h"
#include "policy_int.h"

#include <assert.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* The DSL words whose declarations another can replace: each names one rule, role or check
 * (a policy is a file's own, a binding adds to its role). */
static const char *const replaceable[] = {
    "allow", "deny", "residency", "require_mtls", "declared_routes_only", "role", "check", NULL,
};

int mp_bundle_replaceable(const char *word)
{
	for (const char *const *w = replaceable; word && *w; w++)
		if (!strcmp(*w, word))
			return 1;
	return 0;
}

static int is_policy_file(const char *rel)
{
	return mp_has_suffix(rel, ".lua") && !mp_has_suffix(rel, "_test.lua");
}

/* Appends one file to b->files, its text copied (or, with keep, already NUL-terminated in
 * memory the bundle owns, kept); rel is the path without its first reloff bytes. */
static int add_file_text(mp_bundle *b, const char *path, size_t reloff, const char *text,
                         size_t len, int32_t in_memory, int keep)
{
	mp_bundle_file *f = &b->files[b->nfiles];
	f->path = pol_arena_str(b, path);
	f->text = keep ? text : pol_arena_strn(b, text, len);
	if (!f->path || !f->text)
		return -1;
	f->rel = f->path + reloff;
	f->len = len;
	f->is_test = (uint32_t)mp_has_suffix(f->rel, "_test.lua");
	f->in_memory = in_memory;
	b->nfiles++;
	return 0;
}

static int add_file(mp_bundle *b, const char *path, size_t reloff, const char *text, size_t len,
                    int32_t in_memory)
{
	return add_file_text(b, path, reloff, text, len, in_memory, 0);
}

/* Takes the files of the directory given in memory (src->tree) of one pass, in the walk's
 * order (order: the indexes of src->tree in it), with what g knows of them (sha: their
 * digests, by b->files index). -1 when out of memory. */
static int take_tree_files(mp_bundle *b, const mp_bundle_source *src, const uint32_t *order,
                           int pass, const pol_given *g, const unsigned char **sha)
{
	size_t dlen = strlen(b->dir);
	for (uint32_t k = 0; k < src->ntree; k++) {
		const mp_bundle_text *t = &src->tree[order[k]];
		if (is_policy_file(t->name) != (pass == 0))
			continue;
		size_t n = dlen + 1 + strlen(t->name) + 1;
		char *path = mp_malloc(n);
		if (!path)
			return -1;
		snprintf(path, n, "%s/%s", b->dir, t->name);
		if (sha && g->sha256)
			sha[b->nfiles] = g->sha256[order[k]];
		int rc = add_file_text(b, path, dlen + 1, t->text ? t->text : "", t->len, -1,
		                       g && g->texts && t->text);
		mp_free(path);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Takes the directory's policy files (pass 0) or its other files (pass 1: tests, manifest,
 * docs), in the walk's order: read from all, the walk of the directory, copied from
 * src->files_of, or taken from the tree given in memory (src->tree, in tree_order). A file
 * that cannot be read is reported and left out; -1 when out of memory. */
static int take_dir_files(mp_bundle *b, const mp_bundle_source *src, const mp_pathlist *all,
                          const uint32_t *tree_order, int pass, const pol_given *g,
                          const unsigned char **sha, mp_diags *d)
{
	const mp_bundle *o = src->files_of;
	if (src->ntree)
		return take_tree_files(b, src, tree_order, pass, g, sha);
	for (uint32_t i = 0; o && i < o->nfiles; i++) {
		const mp_bundle_file *f = &o->files[i];
		if (f->in_memory < 0 && is_policy_file(f->rel) == (pass == 0) &&
		    add_file(b, f->path, (size_t)(f->rel - f->path), f->text, f->len, -1) < 0)
			return -1;
	}
	size_t dlen = strlen(b->dir ? b->dir : "");
	for (uint32_t i = 0; !o && i < all->n; i++) {
		const char *p = all->v[i];
		char *text;
		size_t len;
		if (is_policy_file(p) != (pass == 0) ||
		    mp_files_read(p, POL_FILE_MAX, &text, &len, d) < 0)
			continue;
		int rc = add_file(b, p, dlen + (p[dlen] == '/'), text, len, -1);
		mp_free(text);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Is name the first component of rel (a file of the directory, or a directory it is in)? */
static int first_component_is(const char *rel, const char *name)
{
	size_t n = strcspn(rel, "/");
	return strlen(name) == n && !strncmp(rel, name, n);
}

/* Does the top of the bundle directory hold a file or directory called name? all: the walk of
 * the directory, or empty with src->files_of. */
static int dir_has(const mp_bundle *b, const mp_bundle_source *src, const mp_pathlist *all,
                   const char *name)
{
	const mp_bundle *o = src->files_of;
	size_t dlen = strlen(b->dir ? b->dir : "");
	for (uint32_t i = 0; o && i < o->nfiles; i++)
		if (o->files[i].in_memory < 0 && first_component_is(o->files[i].rel, name))
			return 1;
	for (uint32_t i = 0; !o && i < src->ntree; i++)
		if (first_component_is(src->tree[i].name, name))
			return 1;
	for (uint32_t i = 0; i < all->n; i++)
		if (first_component_is(all->v[i] + dlen + (all->v[i][dlen] == '/'), name))
			return 1;
	return 0;
}

/* Why the name of in-memory file k breaks a rule of mp_bundle_text, or NULL. */
static const char *bad_name(const mp_bundle *b, const mp_bundle_source *src, const mp_pathlist *all,
                            uint32_t k)
{
	const char *name = src->files[k].name;
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 255)
		return "must be 1 to 255 bytes long";
	if (!mp_utf8_valid(name, n))
		return "is not UTF-8";
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == ':')
			return "may not hold '/', ':' or a control character (it is a file name, "
			       "and "
			       "locations read NAME:LINE)";
	if (name[0] == '.')
		return "may not start with '.' (a directory's walk skips such names)";
	if (!is_policy_file(name))
		return "must end in \".lua\", and not in \"_test.lua\" (it is a policy file)";
	for (uint32_t i = 0; i < k; i++)
		if (src->files[i].name && !strcmp(src->files[i].name, name))
			return "is given twice";
	if (dir_has(b, src, all, name))
		return "is taken: the bundle directory has a file or directory of that name";
	return NULL;
}

/* Checks in-memory file k against the rules of mp_bundle_text; reports what it breaks. */
static int check_text(const mp_bundle *b, const mp_bundle_source *src, const mp_pathlist *all,
                      uint32_t k, mp_diags *d)
{
	const mp_bundle_text *t = &src->files[k];
	const char *why = bad_name(b, src, all, k), *nul;
	char q[300];
	if (why) {
		const char *name = t->name ? t->name : "";
		mp_diags_error(d, NULL, 0, 0, "in-memory policy file %u, '%s': the name %s", k,
		               mp_diag_quote(name, strlen(name), q, sizeof(q)), why);
		return -1;
	}
	if (t->len > POL_FILE_MAX) {
		mp_diags_error(d, t->name, 0, 0,
		               "file is %zu bytes, over the %u-byte limit for one file (split it)",
		               t->len, POL_FILE_MAX);
		return -1;
	}
	if (t->len && !t->text) {
		mp_diags_error(d, t->name, 0, 0, "no text for %zu bytes", t->len);
		return -1;
	}
	if (t->len && (nul = memchr(t->text, '\0', t->len))) {
		uint32_t line = 1;
		for (const char *p = t->text; p < nul; p++)
			line += *p == '\n';
		mp_diags_error(d, t->name, line, 0,
		               "a NUL byte: a policy file given in memory is text (is its length "
		               "right?)");
		return -1;
	}
	return 0;
}

/* Does in-memory file name load before the directory's file rel? As if it were a file at the
 * top of the directory: a walk sorts the names of each directory, so name goes before the
 * first file whose first component sorts after it. */
static int loads_before(const char *name, const char *rel)
{
	return strncmp(name, rel, strcspn(rel, "/")) < 0;
}

/* Adds the in-memory files to the policy files taken from the directory (all of b->files so
 * far), each where a file of its name would be. -1 after reporting every file that breaks a
 * rule, or when out of memory. */
static int merge_in_memory(mp_bundle *b, const mp_bundle_source *src, const mp_pathlist *all,
                           mp_diags *d)
{
	int bad = 0;
	for (uint32_t k = 0; k < src->nfiles; k++)
		bad |= check_text(b, src, all, k, d) < 0;
	for (uint32_t k = 0; k < src->nfiles && !bad; k++) {
		const mp_bundle_text *t = &src->files[k];
		if (add_file(b, t->name, 0, t->text ? t->text : "", t->len, (int32_t)k) < 0) {
			mp_diags_error(d, t->name, 0, 0, "out of memory");
			return -1;
		}
		/* before the first file, of the directory or given, that sorts after it */
		mp_bundle_file f = b->files[b->nfiles - 1];
		uint32_t at = 0;
		while (at < b->nfiles - 1 &&
		       (b->files[at].in_memory < 0 ? !loads_before(f.rel, b->files[at].rel)
		                                   : strcmp(b->files[at].rel, f.rel) < 0))
			at++;
		memmove(&b->files[at + 1], &b->files[at], (b->nfiles - 1 - at) * sizeof(f));
		b->files[at] = f;
	}
	return bad ? -1 : 0;
}

int pol_hash_files(const mp_bundle_file *files, uint32_t nfiles, char out[65])
{
	uint32_t *order = mp_malloc((nfiles + 1) * sizeof(*order));
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	unsigned char digest[32];
	unsigned int dn;
	int rc = -1;
	if (!order || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		goto out;
	for (uint32_t i = 0; i < nfiles; i++)
		order[i] = i;
	for (uint32_t i = 1; i < nfiles; i++) /* insertion sort: bundles are small */
		for (uint32_t j = i;
		     j > 0 && strcmp(files[order[j - 1]].rel, files[order[j]].rel) > 0; j--) {
			uint32_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (uint32_t i = 0; i < nfiles; i++) {
		const mp_bundle_file *f = &files[order[i]];
		char lenbuf[32];
		int n = snprintf(lenbuf, sizeof(lenbuf), "%zu", f->len);
		EVP_DigestUpdate(sha, f->rel, strlen(f->rel) + 1);
		EVP_DigestUpdate(sha, lenbuf, (size_t)n + 1);
		EVP_DigestUpdate(sha, f->text, f->len);
	}
	EVP_DigestFinal_ex(sha, digest, &dn);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
	rc = 0;
out:
	EVP_MD_CTX_free(sha);
	mp_free(order);
	return rc;
}

/* Copies src's skips into b after checking each names a word that can be replaced and an
 * in-memory file. -1 after reporting every bad one. */
static int copy_skips(mp_bundle *b, const mp_bundle_source *src, mp_diags *d)
{
	int bad = 0;
	b->skips = pol_arena_alloc(b, (src->nskips + 1) * sizeof(*b->skips));
	if (!b->skips) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < src->nskips; i++) {
		const mp_bundle_skip *s = &src->skips[i];
		char q[300];
		const char *type = s->type ? s->type : "";
		if (!mp_bundle_replaceable(type) || !s->name || s->file >= src->nfiles ||
		    !s->line) {
			mp_diags_error(
			    d, NULL, 0, 0, "skip %u ('%s'): %s", i,
			    mp_diag_quote(type, strlen(type), q, sizeof(q)),
			    !mp_bundle_replaceable(type)
			        ? "not a word whose declarations can be replaced (allow, "
			          "deny, residency, require_mtls, declared_routes_only, role, "
			          "check)"
			    : !s->name ? "no name"
			    : s->line  ? "names no in-memory file"
			               : "lines count from 1");
			bad = 1;
			continue;
		}
		mp_bundle_skip *c = &b->skips[b->nskips++];
		*c = *s;
		c->type = pol_arena_str(b, s->type);
		c->name = pol_arena_str(b, s->name);
		if (!c->type || !c->name) {
			mp_diags_error(d, NULL, 0, 0, "out of memory");
			return -1;
		}
	}
	return bad ? -1 : 0;
}

/* Why the name of file t of the tree given in memory breaks a rule of mp_bundle_source.tree,
 * or NULL. */
static const char *bad_tree_file(const mp_bundle_text *t)
{
	const char *p = t->name;
	if (!p || !*p || *p == '/')
		return "is not a path relative to the bundle directory";
	for (const char *c = p; *c; c += strcspn(c, "/"), c += *c == '/') {
		size_t n = strcspn(c, "/");
		if (n == 0 || c[0] == '.')
			return "has an empty component or one starting with '.' (a walk never "
			       "finds such a file)";
	}
	if (t->len > POL_FILE_MAX)
		return "is over the 16 MiB limit for one file";
	if (t->len && !t->text)
		return "has no text";
	return NULL;
}

/* The tree given in memory in the walk's order, as indexes into src->tree in *order
 * (mp_malloc'd), after checking each file against the rules of mp_bundle_source.tree; -1 after
 * reporting. */
static int order_tree(const mp_bundle_source *src, uint32_t **order, mp_diags *d)
{
	const mp_bundle_text *t = src->tree;
	int bad = 0;
	char q[300];
	for (uint32_t i = 0; i < src->ntree; i++) {
		const char *why = bad_tree_file(&t[i]), *name = t[i].name ? t[i].name : "";
		if (why) {
			mp_diags_error(d, src->dir, 0, 0, "file '%s' %s",
			               mp_diag_quote(name, strlen(name), q, sizeof(q)), why);
			bad = 1;
		}
	}
	if (bad)
		return -1;
	uint32_t *o = *order = mp_malloc(((size_t)src->ntree + 1) * sizeof(*o));
	if (!o) {
		mp_diags_error(d, src->dir, 0, 0, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < src->ntree; i++)
		o[i] = i;
	/* insertion sort: bundles are small, and a Git tree comes in order already */
	for (uint32_t i = 1; i < src->ntree; i++)
		for (uint32_t j = i; j > 0; j--) {
			int c = mp_files_path_cmp(t[o[j - 1]].name, t[o[j]].name);
			if (c < 0)
				break;
			if (c == 0) {
				mp_diags_error(d, src->dir, 0, 0, "file '%s' is given twice",
				               mp_diag_quote(t[o[j]].name, strlen(t[o[j]].name), q,
				                             sizeof(q)));
				return -1;
			}
			uint32_t k = o[j];
			o[j] = o[j - 1];
			o[j - 1] = k;
		}
	return 0;
}

int pol_read_files(mp_bundle *b, const mp_bundle_source *src, pol_given *g,
                   const unsigned char ***sha, mp_diags *d)
{
	static const char *const any[] = {"", NULL};
	mp_pathlist all = {0};
	uint32_t *tree_order = NULL; /* src->tree in the walk's order */
	int rc = -1;
	assert(!src->ntree || (b->dir && !src->files_of));
	if (src->ntree && order_tree(src, &tree_order, d) < 0)
		goto out;
	if (b->dir && !src->files_of && !src->ntree && mp_files_walk(b->dir, any, &all, d) < 0)
		goto oom;
	uint32_t most = src->files_of ? src->files_of->nfiles : src->ntree ? src->ntree : all.n;
	b->files = pol_arena_alloc(b, ((size_t)most + src->nfiles + 1) * sizeof(*b->files));
	/* the tree alone: g's digests and bundle hash are of exactly these files */
	int tree_only = src->ntree && !src->nfiles && g;
	*sha = tree_only && g->sha256 ? mp_calloc((size_t)most + 1, sizeof(**sha)) : NULL;
	if (tree_only && g->texts) /* the texts become the bundle's: kept, not copied */
		mp_arena_adopt(b->arena, g->texts);
	/* policy files first, in load order; then the rest (tests, manifest, docs) */
	if (!b->files || (tree_only && g->sha256 && !*sha) ||
	    take_dir_files(b, src, &all, tree_order, 0, tree_only ? g : NULL, *sha, d) < 0)
		goto oom;
	int merged = merge_in_memory(b, src, &all, d);
	b->npolicy_files = b->nfiles;
	if (take_dir_files(b, src, &all, tree_order, 1, tree_only ? g : NULL, *sha, d) < 0)
		goto oom;
	if (merged < 0 || copy_skips(b, src, d) < 0)
		goto out;
	if (tree_only && g->bundle_sha256)
		memcpy(b->sha256, g->bundle_sha256, sizeof(b->sha256));
	else if (pol_hash_files(b->files, b->nfiles, b->sha256) < 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	mp_diags_error(d, b->dir, 0, 0, "out of memory");
out:
	mp_pathlist_free(&all);
	mp_free(tree_order);
	return rc;
}

const mp_bundle_file *pol_find_file(const mp_bundle *b, const char *rel)
{
	for (uint32_t i = 0; i < b->nfiles; i++)
		if (!strcmp(b->files[i].rel, rel))
			return &b->files[i];
	return NULL;
}

int pol_in_memory(const mp_bundle *b, const char *path)
{
	for (uint32_t i = 0; path && i < b->npolicy_files; i++)
		if (b->files[i].in_memory >= 0 && !strcmp(b->files[i].path, path))
			return 1;
	return 0;
}
