/* barchive.c: reading and checking bundle archives, and loading the bundle and model they hold
 * (see barchive.h). libarchive parses the tar and gzip, OpenSSL hashes and verifies, jansson
 * reads the manifest; this file decides what an archive may hold. Format: docs/bundles.md. */
#include "barchive.h"
#include "alloc.h"
#include "archivelib.h"
#include "arena.h"
#include "files.h"
#include "keys.h"
#include "policy_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG_DOMAIN "meshpol-bundle-signature-v1"

/* --- small helpers --- */

static int is_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* A path for a message: quoted (control and non-ASCII bytes escaped) and cut. */
static const char *q(const char *s, char *buf, size_t len)
{
	return mp_diag_quote(s ? s : "", s ? strlen(s) : 0, buf, len);
}

int mp_barchive_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return 1;                                  /* gzip */
	return len >= 262 && !memcmp(p + 257, "ustar", 5); /* tar: ustar, pax, GNU */
}

int mp_barchive_is_file(const char *path)
{
	unsigned char head[512];
	struct stat st;
	char why[256];
	int fd = mp_files_open(path, &st, why, sizeof(why));
	if (fd < 0)
		return 0;
	ssize_t got = mp_files_read_fd(fd, head, sizeof(head));
	close(fd);
	return got > 0 && mp_barchive_sniff(head, (size_t)got);
}

/* --- paths --- */

/* Normalises an entry's path in place (a leading "./", and for a directory its trailing '/')
 * and returns why it is refused, or NULL. */
static const char *bad_path(char *p, int is_dir)
{
	size_t n = strlen(p);
	if (n > MP_BARCHIVE_MAX_PATH)
		return "is longer than the 1024-byte limit for a path";
	if (!mp_utf8_valid(p, n))
		return "is not UTF-8";
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f || *c == '\\')
			return "holds a control character or a backslash";
	if (p[0] == '/')
		return "is an absolute path (an archive's paths are relative to the bundle)";
	while (p[0] == '.' && p[1] == '/')
		memmove(p, p + 2, strlen(p + 2) + 1);
	n = strlen(p);
	if (is_dir && n && p[n - 1] == '/')
		p[--n] = '\0';
	if (n == 0 || !strcmp(p, "."))
		return is_dir ? NULL : "is empty";
	uint32_t depth = 0;
	for (const char *c = p;; c++) {
		size_t k = strcspn(c, "/");
		if (k == 0)
			return "has an empty component ('//' or a trailing '/')";
		if (k == 2 && c[0] == '.' && c[1] == '.')
			return "has a '..' component (it would leave the bundle)";
		if (k == 1 && c[0] == '.')
			return "has a '.' component";
		if (++depth > MP_BARCHIVE_MAX_DEPTH)
			return "is nested deeper than 32 directories";
		c += k;
		if (!*c)
			break;
	}
	return NULL;
}

/* Is a component of p hidden (starting with '.'), as a directory walk skips it? */
static int is_hidden(const char *p)
{
	for (const char *c = p; *c; c += strcspn(c, "/"), c += *c == '/')
		if (*c == '.')
			return 1;
	return 0;
}

static const char *kind_of(struct archive_entry *e)
{
	if (sym_archive_entry_hardlink(e))
		return "a hard link";
	switch (sym_archive_entry_filetype(e)) {
	case AE_IFREG:
		return NULL;
	case AE_IFDIR:
		return NULL;
	case AE_IFLNK:
		return "a symbolic link";
	case AE_IFCHR:
	case AE_IFBLK:
		return "a device";
	case AE_IFIFO:
		return "a FIFO";
	case AE_IFSOCK:
		return "a socket";
	default:
		return "an unknown kind of entry";
	}
}

/* --- reading --- */

typedef struct {
	mp_barchive *a;
	const mp_barchive_limits *lim;
	mp_diags *d;
	size_t total; /* uncompressed bytes so far */
	uint32_t cap, hidden_cap;
} reader;

#define ERR(r, ...) mp_diags_error((r)->d, (r)->a->label, 0, 0, __VA_ARGS__)

/* Reads the current entry's data (size bytes) into the arena ar_to. NULL after reporting. */
static char *read_data(reader *r, struct archive *ar, const char *path, size_t size,
                       mp_arena *ar_to)
{
	char b1[200];
	char *buf = mp_arena_alloc_raw(ar_to, size + 1); /* written whole below */
	if (!buf) {
		ERR(r, "'%s': out of memory", q(path, b1, sizeof(b1)));
		return NULL;
	}
	size_t got = 0;
	while (got < size) {
		la_ssize_t n = sym_archive_read_data(ar, buf + got, size - got);
		if (n < 0) {
			ERR(r, "'%s': %s", q(path, b1, sizeof(b1)), sym_archive_error_string(ar));
			return NULL;
		}
		if (n == 0) {
			ERR(r, "'%s': truncated: %zu of its %zu bytes are in the archive",
			    q(path, b1, sizeof(b1)), got, size);
			return NULL;
		}
		got += (size_t)n;
	}
	buf[size] = '\0';
	return buf;
}

/* Sets *slot to the data of a .meshpol/ entry met once. */
static int take_meta(reader *r, struct archive *ar, const char *path, size_t size,
                     const char **slot, size_t *len)
{
	char b1[200];
	if (*slot) {
		ERR(r, "'%s': given twice", q(path, b1, sizeof(b1)));
		return -1;
	}
	if (!(*slot = read_data(r, ar, path, size, r->a->arena)))
		return -1;
	*len = size;
	return 0;
}

/* One entry: checked, then its data taken (a file), skipped (a hidden file: counted; a
 * directory) or refused. -1 after reporting. */
static int read_entry(reader *r, struct archive *ar, struct archive_entry *e)
{
	mp_barchive *a = r->a;
	char b1[200], path[MP_BARCHIVE_MAX_PATH + 2];
	const char *raw = sym_archive_entry_pathname(e), *why;
	if (!raw) {
		ERR(r, "an entry without a path");
		return -1;
	}
	if (strlen(raw) > MP_BARCHIVE_MAX_PATH) {
		ERR(r, "'%s': is longer than the 1024-byte limit for a path",
		    q(raw, b1, sizeof(b1)));
		return -1;
	}
	memcpy(path, raw, strlen(raw) + 1);
	const char *kind = kind_of(e);
	int is_dir = sym_archive_entry_filetype(e) == AE_IFDIR && !sym_archive_entry_hardlink(e);
	if ((why = bad_path(path, is_dir))) {
		ERR(r, "'%s': %s", q(raw, b1, sizeof(b1)), why);
		return -1;
	}
	if (kind) {
		const char *to = sym_archive_entry_hardlink(e) ? sym_archive_entry_hardlink(e)
		                                               : sym_archive_entry_symlink(e);
		char b2[200];
		ERR(r, "'%s': is %s%s%s%s; a bundle archive holds regular files only",
		    q(path, b1, sizeof(b1)), kind, to ? " (to '" : "",
		    to ? q(to, b2, sizeof(b2)) : "", to ? "')" : "");
		return -1;
	}
	if (is_dir)
		return 0;
	if (!sym_archive_entry_size_is_set(e) || sym_archive_entry_size(e) < 0) {
		ERR(r, "'%s': an entry without a size", q(path, b1, sizeof(b1)));
		return -1;
	}
	if (sym_archive_entry_sparse_count(e) > 0) {
		ERR(r, "'%s': a sparse file; a bundle archive holds regular files only",
		    q(path, b1, sizeof(b1)));
		return -1;
	}
	uint64_t size = (uint64_t)sym_archive_entry_size(e);
	int is_model = !strcmp(path, MP_BARCHIVE_MODEL),
	    is_decls = !strcmp(path, MP_BARCHIVE_DECLS);
	if (!is_model && !is_decls && size > r->lim->max_file) {
		ERR(r, "'%s': %llu bytes, over the %zu-byte limit for one file",
		    q(path, b1, sizeof(b1)), (unsigned long long)size, r->lim->max_file);
		return -1;
	}
	if (size > r->lim->max_total - r->total) {
		ERR(r,
		    "'%s': %llu bytes would take the archive past its %zu-byte limit, uncompressed "
		    "(a gzip bomb, or a bundle too large)",
		    q(path, b1, sizeof(b1)), (unsigned long long)size, r->lim->max_total);
		return -1;
	}
	r->total += (size_t)size;
	if (!strcmp(path, MP_BARCHIVE_MANIFEST))
		return take_meta(r, ar, path, (size_t)size, &a->manifest, &a->manifest_len);
	if (!strcmp(path, MP_BARCHIVE_SIGNATURE))
		return take_meta(r, ar, path, (size_t)size, &a->signature, &a->signature_len);
	if (is_model)
		return take_meta(r, ar, path, (size_t)size, &a->model, &a->model_len);
	if (is_decls)
		return take_meta(r, ar, path, (size_t)size, &a->decls, &a->decls_len);
	if (!strncmp(path, MP_BARCHIVE_DIR "/", sizeof(MP_BARCHIVE_DIR))) {
		ERR(r,
		    "'%s': not an entry meshpol writes (manifest.json, signature.json, model.mpm, "
		    "declarations.bin)",
		    q(path, b1, sizeof(b1)));
		return -1;
	}
	if (is_hidden(path)) { /* kept by name: refused later when there is a manifest */
		if (mp_grow((void **)&a->hidden, &r->hidden_cap, sizeof(*a->hidden), a->nskipped,
		            16) < 0 ||
		    !(a->hidden[a->nskipped] = mp_arena_str(a->arena, path))) {
			ERR(r, "out of memory");
			return -1;
		}
		a->nskipped++;
		return 0;
	}
	if (mp_grow((void **)&a->files, &r->cap, sizeof(*a->files), a->nfiles, 64) < 0) {
		ERR(r, "out of memory");
		return -1;
	}
	mp_barchive_file *f = &a->files[a->nfiles];
	memset(f, 0, sizeof(*f));
	if (!(f->path = mp_arena_str(a->arena, path)) ||
	    !(f->data = read_data(r, ar, path, (size_t)size, a->texts)))
		return -1;
	f->len = (size_t)size;
	/* each file's one hash: the manifest's check and the stored declarations' keys */
	mp_key_sha256(f->data, f->len, f->digest);
	mp_key_hex(f->digest, 32, f->sha256);
	a->nfiles++;
	return 0;
}

/* The files in the walk's order; a path given twice, or a file that is also a directory,
 * refused. */
static int order_files(reader *r)
{
	mp_barchive *a = r->a;
	char b1[200];
	for (uint32_t i = 1; i < a->nfiles; i++) { /* insertion sort: archives are small */
		mp_barchive_file f = a->files[i];
		uint32_t j = i;
		for (; j > 0 && mp_files_path_cmp(a->files[j - 1].path, f.path) > 0; j--)
			a->files[j] = a->files[j - 1];
		a->files[j] = f;
	}
	for (uint32_t i = 1; i < a->nfiles; i++) {
		const char *prev = a->files[i - 1].path, *cur = a->files[i].path;
		size_t n = strlen(prev);
		if (!strcmp(prev, cur)) {
			ERR(r, "'%s': given twice", q(cur, b1, sizeof(b1)));
			return -1;
		}
		if (!strncmp(prev, cur, n) && cur[n] == '/') {
			ERR(r, "'%s': both a file and a directory", q(prev, b1, sizeof(b1)));
			return -1;
		}
	}
	return 0;
}

/* --- the manifest and the signature (docs/bundles.md) --- */

typedef struct {
	const char *key;
	json_type type; /* JSON_STRING, JSON_INTEGER, JSON_ARRAY, JSON_OBJECT */
	int required;   /* 1 */
	int hex;        /* a string of 64 hex digits */
} field;

/* Checks obj's members against a table: every required one there with its type, no unknown
 * one. where: "manifest.json", "manifest.json: files[3]". -1 after reporting. */
static int check_fields(reader *r, json_t *obj, const field *fs, const char *where)
{
	const char *names[16], *k;
	json_t *v;
	char hint[200], b1[200];
	int bad = 0, n = 0;
	if (!json_is_object(obj)) {
		ERR(r, "%s: not a JSON object", where);
		return -1;
	}
	for (const field *f = fs; f->key; f++)
		names[n++] = f->key;
	names[n] = NULL;
	json_object_foreach(obj, k, v)
	{
		const field *f = fs;
		while (f->key && strcmp(f->key, k))
			f++;
		if (!f->key) {
			ERR(r, "%s: unknown field '%s' (%s)", where, q(k, b1, sizeof(b1)),
			    mp_diag_hint(k, names, hint, sizeof(hint)));
			bad = 1;
		} else if (json_typeof(v) != f->type ||
		           (f->type == JSON_INTEGER && json_integer_value(v) < 0) ||
		           (f->hex && !is_hex64(json_string_value(v))) ||
		           (f->type == JSON_STRING && !f->hex && !*json_string_value(v))) {
			ERR(r, "%s: '%s' must be %s", where, k,
			    f->hex                    ? "64 lower-case hex digits (a SHA-256)"
			    : f->type == JSON_STRING  ? "a non-empty string"
			    : f->type == JSON_INTEGER ? "a count of bytes"
			    : f->type == JSON_ARRAY   ? "a list"
			                              : "an object");
			bad = 1;
		}
	}
	for (const field *f = fs; f->key; f++)
		if (f->required && !json_object_get(obj, f->key)) {
			ERR(r, "%s: missing required field '%s'", where, f->key);
			bad = 1;
		}
	return bad ? -1 : 0;
}

static const char *str(json_t *o, const char *key, mp_arena *ar)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? mp_arena_str(ar, s) : NULL;
}

static int cmp_listed(const void *x, const void *y)
{
	return strcmp(((const mp_barchive_file *)x)->path, ((const mp_barchive_file *)y)->path);
}

static int read_manifest(reader *r)
{
	static const field top[] = {
	    {"format", JSON_STRING, 1, 0},
	    {"name", JSON_STRING, 1, 0},
	    {"revision", JSON_STRING, 1, 0},
	    {"bundle_sha256", JSON_STRING, 1, 1},
	    {"policies", JSON_ARRAY, 1, 0},
	    {"files", JSON_ARRAY, 1, 0},
	    {"model", JSON_OBJECT, 0, 0},
	    {"declarations", JSON_OBJECT, 0, 0},
	    {NULL, 0, 0, 0},
	};
	static const field policy[] = {
	    {"name", JSON_STRING, 1, 0}, {"version", JSON_STRING, 1, 0}, {NULL, 0, 0, 0}};
	static const field file[] = {{"path", JSON_STRING, 1, 0},
	                             {"size", JSON_INTEGER, 1, 0},
	                             {"sha256", JSON_STRING, 1, 1},
	                             {NULL, 0, 0, 0}};
	static const field model[] = {{"path", JSON_STRING, 1, 0},
	                              {"size", JSON_INTEGER, 1, 0},
	                              {"sha256", JSON_STRING, 1, 1},
	                              {"model_sha256", JSON_STRING, 1, 1},
	                              {NULL, 0, 0, 0}};
	static const field decls[] = {{"path", JSON_STRING, 1, 0},
	                              {"size", JSON_INTEGER, 1, 0},
	                              {"sha256", JSON_STRING, 1, 1},
	                              {NULL, 0, 0, 0}};
	mp_barchive *a = r->a;
	json_error_t e;
	char where[160], b1[200];
	int rc = -1;
	mp_key_sha256_hex(a->manifest, a->manifest_len, a->manifest_sha256);
	json_t *j = json_loadb(a->manifest, a->manifest_len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		ERR(r, MP_BARCHIVE_MANIFEST ":%d:%d: invalid JSON: %s", e.line, e.column, e.text);
		return -1;
	}
	if (check_fields(r, j, top, MP_BARCHIVE_MANIFEST) < 0)
		goto out;
	const char *format = json_string_value(json_object_get(j, "format"));
	if (strcmp(format, MP_BARCHIVE_FORMAT)) {
		ERR(r, MP_BARCHIVE_MANIFEST ": format '%s': this meshpol reads " MP_BARCHIVE_FORMAT,
		    q(format, b1, sizeof(b1)));
		goto out;
	}
	a->name = str(j, "name", a->arena);
	a->revision = str(j, "revision", a->arena);
	a->bundle_sha256 = str(j, "bundle_sha256", a->arena);
	json_t *ps = json_object_get(j, "policies"), *fs = json_object_get(j, "files"), *v;
	size_t i;
	int bad = 0;
	a->policies = mp_arena_alloc(a->arena, (json_array_size(ps) + 1) * sizeof(*a->policies));
	a->listed = mp_arena_alloc(a->arena, (json_array_size(fs) + 1) * sizeof(*a->listed));
	if (!a->policies || !a->listed) {
		ERR(r, "out of memory");
		goto out;
	}
	json_array_foreach(ps, i, v)
	{
		snprintf(where, sizeof(where), MP_BARCHIVE_MANIFEST ": policies[%zu]", i);
		if (check_fields(r, v, policy, where) < 0) {
			bad = 1;
			continue;
		}
		a->policies[a->npolicies++] =
		    (mp_barchive_policy){str(v, "name", a->arena), str(v, "version", a->arena)};
	}
	json_array_foreach(fs, i, v)
	{
		snprintf(where, sizeof(where), MP_BARCHIVE_MANIFEST ": files[%zu]", i);
		if (check_fields(r, v, file, where) < 0) {
			bad = 1;
			continue;
		}
		mp_barchive_file *f = &a->listed[a->nlisted++];
		f->path = str(v, "path", a->arena);
		f->len = (size_t)json_integer_value(json_object_get(v, "size"));
		memcpy(f->sha256, json_string_value(json_object_get(v, "sha256")), 65);
	}
	json_t *m = json_object_get(j, "model");
	if (m && check_fields(r, m, model, MP_BARCHIVE_MANIFEST ": model") == 0) {
		if (strcmp(json_string_value(json_object_get(m, "path")), MP_BARCHIVE_MODEL)) {
			ERR(r, MP_BARCHIVE_MANIFEST ": model: 'path' must be " MP_BARCHIVE_MODEL);
			bad = 1;
		}
		a->listed_model_sha256 = str(m, "sha256", a->arena);
		a->listed_model_hash = str(m, "model_sha256", a->arena);
		a->listed_model_size = (size_t)json_integer_value(json_object_get(m, "size"));
	} else if (m) {
		bad = 1;
	}
	json_t *dj = json_object_get(j, "declarations");
	if (dj && check_fields(r, dj, decls, MP_BARCHIVE_MANIFEST ": declarations") == 0) {
		if (strcmp(json_string_value(json_object_get(dj, "path")), MP_BARCHIVE_DECLS)) {
			ERR(r, MP_BARCHIVE_MANIFEST
			    ": declarations: 'path' must be " MP_BARCHIVE_DECLS);
			bad = 1;
		}
		a->listed_decls_sha256 = str(dj, "sha256", a->arena);
		a->listed_decls_size = (size_t)json_integer_value(json_object_get(dj, "size"));
	} else if (dj) {
		bad = 1;
	}
	qsort(a->listed, a->nlisted, sizeof(*a->listed), cmp_listed);
	for (uint32_t k = 1; k < a->nlisted; k++)
		if (!strcmp(a->listed[k - 1].path, a->listed[k].path)) {
			ERR(r, MP_BARCHIVE_MANIFEST ": '%s' is listed twice",
			    q(a->listed[k].path, b1, sizeof(b1)));
			bad = 1;
		}
	rc = bad ? -1 : 0;
out:
	json_decref(j);
	return rc;
}

static int read_signature(reader *r)
{
	static const field sig[] = {
	    {"format", JSON_STRING, 1, 0},
	    {"algorithm", JSON_STRING, 1, 0},
	    {"key_id", JSON_STRING, 1, 1},
	    {"public_key", JSON_STRING, 1, 0},
	    {"manifest_sha256", JSON_STRING, 1, 1},
	    {"signature", JSON_STRING, 1, 0},
	    {NULL, 0, 0, 0},
	};
	mp_barchive *a = r->a;
	json_error_t e;
	char b1[200];
	int rc = -1;
	json_t *j = json_loadb(a->signature, a->signature_len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		ERR(r, MP_BARCHIVE_SIGNATURE ":%d:%d: invalid JSON: %s", e.line, e.column, e.text);
		return -1;
	}
	if (check_fields(r, j, sig, MP_BARCHIVE_SIGNATURE) < 0)
		goto out;
	const char *format = json_string_value(json_object_get(j, "format")),
	           *alg = json_string_value(json_object_get(j, "algorithm"));
	if (strcmp(format, MP_BARCHIVE_SIG_FORMAT)) {
		ERR(r,
		    MP_BARCHIVE_SIGNATURE
		    ": format '%s': this meshpol reads " MP_BARCHIVE_SIG_FORMAT,
		    q(format, b1, sizeof(b1)));
		goto out;
	}
	if (strcmp(alg, "ed25519")) {
		ERR(r, MP_BARCHIVE_SIGNATURE ": algorithm '%s': meshpol signs with ed25519",
		    q(alg, b1, sizeof(b1)));
		goto out;
	}
	a->key_id = str(j, "key_id", a->arena);
	a->public_key = str(j, "public_key", a->arena);
	a->signed_hash = str(j, "manifest_sha256", a->arena);
	a->sig64 = str(j, "signature", a->arena);
	rc = a->key_id && a->public_key && a->signed_hash && a->sig64 ? 0 : -1;
	if (rc < 0)
		ERR(r, "out of memory");
out:
	json_decref(j);
	return rc;
}

/* The bundle hash of the archive's files (pol_hash_files): made once, on reading, from the
 * bytes the loader is given (pol_given), and checked against the manifest's. */
static int files_hash(const mp_barchive *a, char out[65])
{
	mp_bundle_file *fs = mp_calloc((size_t)a->nfiles + 1, sizeof(*fs));
	if (!fs)
		return -1;
	for (uint32_t i = 0; i < a->nfiles; i++) {
		fs[i].path = fs[i].rel = a->files[i].path;
		fs[i].text = a->files[i].data;
		fs[i].len = a->files[i].len;
	}
	int rc = pol_hash_files(fs, a->nfiles, out);
	mp_free(fs);
	return rc;
}

/* libarchive's allocations are its own; its errors name the archive. */
static int read_all(reader *r, const void *data, size_t len)
{
	char why[700];
	if (mp_archivelib_load(why, sizeof(why)) < 0) {
		ERR(r, "cannot read a bundle archive: %s", why);
		return -1;
	}
	struct archive *ar = sym_archive_read_new();
	struct archive_entry *e;
	uint32_t entries = 0;
	int rc = -1, st;
	if (!ar || sym_archive_read_support_filter_gzip(ar) != ARCHIVE_OK ||
	    sym_archive_read_support_format_tar(ar) != ARCHIVE_OK) {
		ERR(r, "cannot set up libarchive");
		goto out;
	}
	if (sym_archive_read_open_memory(ar, data, len) != ARCHIVE_OK) {
		ERR(r, "not a tar.gz bundle archive (%s)", sym_archive_error_string(ar));
		goto out;
	}
	while ((st = sym_archive_read_next_header(ar, &e)) != ARCHIVE_EOF) {
		if (st != ARCHIVE_OK) { /* a warning too: a header libarchive had to guess at */
			const char *why = sym_archive_error_string(ar);
			if (entries == 0)
				ERR(r, "not a tar.gz bundle archive (%s)",
				    why ? why : "unreadable");
			else
				ERR(r, "corrupt or truncated after %u entries (%s)", entries,
				    why ? why : "unreadable");
			goto out;
		}
		if (++entries > r->lim->max_entries) {
			ERR(r, "more than %u entries", r->lim->max_entries);
			goto out;
		}
		if (read_entry(r, ar, e) < 0)
			goto out;
	}
	rc = 0;
out:
	sym_archive_read_free(ar);
	return rc;
}

mp_barchive *mp_barchive_read(const char *label, const void *data, size_t len,
                              const mp_barchive_limits *lim, mp_diags *d)
{
	mp_barchive_limits l = lim ? *lim : (mp_barchive_limits){0};
	l.max_archive = l.max_archive ? l.max_archive : MP_BARCHIVE_MAX_ARCHIVE;
	l.max_total = l.max_total ? l.max_total : MP_BARCHIVE_MAX_TOTAL;
	l.max_file = l.max_file ? l.max_file : POL_FILE_MAX;
	l.max_entries = l.max_entries ? l.max_entries : MP_BARCHIVE_MAX_ENTRIES;
	mp_barchive *a = mp_calloc(1, sizeof(*a));
	reader r = {.a = a, .lim = &l, .d = d};
	uint32_t errors = d->errors;
	char b1[200];
	if (!a || !(a->arena = mp_calloc(1, sizeof(*a->arena))) ||
	    !(a->texts = mp_calloc(1, sizeof(*a->texts))) ||
	    !(a->label = mp_arena_str(a->arena, label))) {
		mp_diags_error(d, label, 0, 0, "out of memory");
		goto fail;
	}
	a->arena->chunk = a->texts->chunk = 65536;
	if (len > l.max_archive) {
		ERR(&r, "%zu bytes, over the %zu-byte limit for a bundle archive", len,
		    l.max_archive);
		goto fail;
	}
	if (read_all(&r, data, len) < 0 || order_files(&r) < 0)
		goto fail;
	if (files_hash(a, a->files_sha256) < 0) {
		ERR(&r, "out of memory");
		goto fail;
	}
	if (a->manifest)
		read_manifest(&r);
	if (a->signature && read_signature(&r) == 0 && !a->manifest)
		ERR(&r, "signed, but without a manifest (" MP_BARCHIVE_MANIFEST ") to sign");
	if (a->manifest)
		for (uint32_t i = 0; i < a->nskipped; i++)
			ERR(&r, "'%s': not in the manifest (a hidden file)",
			    q(a->hidden[i], b1, sizeof(b1)));
	if (a->model)
		mp_key_sha256_hex(a->model, a->model_len, a->model_sha256);
	if (a->decls && !a->manifest)
		ERR(&r, MP_BARCHIVE_DECLS " without a manifest (" MP_BARCHIVE_MANIFEST
		                          ") to check it against");
	if (a->decls) {
		char label_decls[PATH_MAX];
		snprintf(label_decls, sizeof(label_decls), "%s/" MP_BARCHIVE_DECLS, a->label);
		mp_key_sha256_hex(a->decls, a->decls_len, a->decls_sha256);
		if (!(a->decls_label = mp_arena_str(a->arena, label_decls)))
			ERR(&r, "out of memory");
	}
	if (d->errors > errors)
		goto fail;
	return a;
fail:
	mp_barchive_free(a);
	return NULL;
}

mp_barchive *mp_barchive_open(const char *path, const mp_barchive_limits *lim, mp_diags *d)
{
	size_t max = lim && lim->max_archive ? lim->max_archive : MP_BARCHIVE_MAX_ARCHIVE;
	char *data;
	size_t len;
	if (mp_files_read(path, max, &data, &len, d) < 0)
		return NULL;
	mp_barchive *a = mp_barchive_read(path, data, len, lim, d);
	mp_free(data);
	return a;
}

void mp_barchive_free(mp_barchive *a)
{
	if (!a)
		return;
	mp_free(a->files);
	mp_free(a->hidden);
	if (a->arena) {
		mp_arena_free(a->arena);
		mp_free(a->arena);
	}
	if (a->texts) {
		mp_arena_free(a->texts);
		mp_free(a->texts);
	}
	mp_free(a);
}

/* --- integrity --- */

#define PROBLEM(d, a, ...) mp_diags_error(d, (a)->label, 0, 0, __VA_ARGS__)

static void check_files(const mp_barchive *a, mp_diags *d)
{
	char b1[200];
	uint32_t seen = 0;
	for (uint32_t i = 0; i < a->nfiles; i++) {
		const mp_barchive_file *f = &a->files[i];
		mp_barchive_file key = {.path = f->path};
		const mp_barchive_file *l =
		    bsearch(&key, a->listed, a->nlisted, sizeof(*a->listed), cmp_listed);
		if (!l) {
			PROBLEM(d, a, "'%s': in the archive, not in the manifest",
			        q(f->path, b1, sizeof(b1)));
			continue;
		}
		seen++;
		if (l->len != f->len || strcmp(l->sha256, f->sha256))
			PROBLEM(
			    d, a,
			    "'%s': %zu bytes with SHA-256 %.16s..., the manifest says %zu bytes "
			    "with %.16s... (changed after the bundle was built)",
			    q(f->path, b1, sizeof(b1)), f->len, f->sha256, l->len, l->sha256);
	}
	if (seen < a->nlisted)
		for (uint32_t i = 0; i < a->nlisted; i++) {
			int found = 0;
			for (uint32_t k = 0; k < a->nfiles && !found; k++)
				found = !strcmp(a->files[k].path, a->listed[i].path);
			if (!found)
				PROBLEM(d, a, "'%s': in the manifest, missing from the archive",
				        q(a->listed[i].path, b1, sizeof(b1)));
		}
	if (!a->model != !a->listed_model_sha256)
		PROBLEM(d, a, "%s",
		        a->model ? MP_BARCHIVE_MODEL ": in the archive, not in the manifest"
		                 : MP_BARCHIVE_MODEL ": in the manifest, missing from the "
		                                     "archive");
	else if (a->model && (a->model_len != a->listed_model_size ||
	                      strcmp(a->model_sha256, a->listed_model_sha256)))
		PROBLEM(d, a,
		        MP_BARCHIVE_MODEL ": SHA-256 %.16s..., the manifest says %.16s... (changed "
		                          "after the bundle was built)",
		        a->model_sha256, a->listed_model_sha256);
	if (!a->decls != !a->listed_decls_sha256)
		PROBLEM(d, a, "%s",
		        a->decls ? MP_BARCHIVE_DECLS ": in the archive, not in the manifest"
		                 : MP_BARCHIVE_DECLS ": in the manifest, missing from the "
		                                     "archive");
	else if (a->decls && (a->decls_len != a->listed_decls_size ||
	                      strcmp(a->decls_sha256, a->listed_decls_sha256)))
		PROBLEM(
		    d, a,
		    MP_BARCHIVE_DECLS ": %zu bytes with SHA-256 %.16s..., the manifest says %zu "
		                      "bytes with %.16s... (changed after the bundle was built)",
		    a->decls_len, a->decls_sha256, a->listed_decls_size, a->listed_decls_sha256);
	if (strcmp(a->files_sha256, a->bundle_sha256))
		PROBLEM(d, a, "the files' bundle SHA-256 is %.16s..., the manifest says %.16s...",
		        a->files_sha256, a->bundle_sha256);
}

static void check_signature(const mp_barchive *a, const char *pubkey_path, mp_diags *d)
{
	char err[512], id[65];
	unsigned char sig[MP_KEY_SIG_LEN];
	EVP_PKEY *carried = NULL, *given = NULL;
	if (pubkey_path && !(given = mp_key_load(pubkey_path, 0, err, sizeof(err)))) {
		mp_diags_error(d, NULL, 0, 0, "%s", err);
		goto out;
	}
	if (!a->signature) {
		if (given)
			PROBLEM(d, a, "unsigned; a signature by the given key is required");
		goto out;
	}
	if (strcmp(a->signed_hash, a->manifest_sha256)) {
		PROBLEM(d, a,
		        "the signature covers another manifest (SHA-256 %.16s..., this one's "
		        "is %.16s...)",
		        a->signed_hash, a->manifest_sha256);
		goto out;
	}
	if (!(carried = mp_key_from_pem(MP_BARCHIVE_SIGNATURE ": public_key", a->public_key,
	                                strlen(a->public_key), 0, err, sizeof(err)))) {
		PROBLEM(d, a, "%s", err);
		goto out;
	}
	if (mp_key_id(carried, id) < 0 || strcmp(id, a->key_id)) {
		PROBLEM(d, a, "the signature's key_id %.16s... is not its public key's", a->key_id);
		goto out;
	}
	if (given && (mp_key_id(given, id) < 0 || strcmp(id, a->key_id))) {
		PROBLEM(d, a, "signed by another key (key_id %.16s..., the given key is %.16s...)",
		        a->key_id, id);
		goto out;
	}
	char msg[160];
	int n = snprintf(msg, sizeof(msg), SIG_DOMAIN " manifest_sha256=%s", a->manifest_sha256);
	if (mp_key_sig_decode(a->sig64, sig) < 0) {
		PROBLEM(d, a, MP_BARCHIVE_SIGNATURE ": 'signature' is not the base64 of 64 bytes");
		goto out;
	}
	if (!mp_key_verify(given ? given : carried, msg, (size_t)n, sig))
		PROBLEM(d, a, "the signature does not verify (key_id %.16s...)", a->key_id);
out:
	EVP_PKEY_free(carried);
	EVP_PKEY_free(given);
}

int mp_barchive_check(const mp_barchive *a, const char *pubkey_path, mp_diags *d)
{
	uint32_t errors = d->errors;
	if (a->manifest)
		check_files(a, d);
	check_signature(a, pubkey_path, d);
	return d->errors > errors ? -1 : 0;
}

/* --- loading --- */

mp_bundle_text *mp_barchive_source(const mp_barchive *a, mp_bundle_source *src)
{
	mp_bundle_text *tree = mp_calloc((size_t)a->nfiles + 1, sizeof(*tree));
	if (!tree)
		return NULL;
	for (uint32_t i = 0; i < a->nfiles; i++)
		tree[i] = (mp_bundle_text){a->files[i].path, a->files[i].data, a->files[i].len};
	src->dir = a->label;
	src->tree = tree;
	src->ntree = a->nfiles;
	if (a->manifest) {
		src->revision_override = a->revision;
		src->expect_name = a->name;
		src->expect_sha256 = a->bundle_sha256;
	}
	if (a->manifest && a->decls) { /* listed, so checked with the rest */
		src->decls = a->decls;
		src->decls_len = a->decls_len;
		src->decls_label = a->decls_label;
	}
	return tree;
}

/* The bundle of a checked archive, loaded with the digests made on reading; with texts (a's
 * own, which then loses them to the bundle), the files' texts kept rather than copied. */
static mp_bundle *load_bundle(const mp_barchive *a, mp_arena *texts, const mp_model *m,
                              const pol_given *late, const char *stdlib_dir, mp_diags *d)
{
	mp_bundle_source src = {0};
	mp_bundle_text *tree = mp_barchive_source(a, &src);
	const unsigned char **sha = mp_calloc((size_t)a->nfiles + 1, sizeof(*sha));
	mp_bundle *b = NULL;
	if (!tree || !sha) {
		mp_diags_error(d, a->label, 0, 0, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < a->nfiles; i++) /* tree[i] is files[i] */
		sha[i] = a->files[i].digest;
	pol_given g = {.sha256 = sha,
	               .bundle_sha256 = a->files_sha256,
	               .texts = texts,
	               .model = late ? late->model : NULL,
	               .model_arg = late ? late->model_arg : NULL};
	b = pol_load_source(&src, &g, m, stdlib_dir, d);
out:
	mp_free(sha);
	mp_free(tree);
	return b;
}

mp_bundle *mp_barchive_bundle(const mp_barchive *a, const mp_model *m, const char *stdlib_dir,
                              mp_diags *d)
{
	return load_bundle(a, NULL, m, NULL, stdlib_dir, d);
}

mp_model *mp_barchive_model(const mp_barchive *a, mp_diags *d)
{
	char err[512];
	if (!a->model) {
		mp_diags_error(d, a->label, 0, 0,
		               "holds no model (meshpol bundle build -m MODEL puts one in)");
		return NULL;
	}
	mp_model *m = mp_model_load_mem(a->model, a->model_len, err, sizeof(err));
	if (!m) {
		mp_diags_error(d, a->label, 0, 0, MP_BARCHIVE_MODEL ": %s", err);
		return NULL;
	}
	if (a->listed_model_hash && strcmp(mp_model_sha256(m), a->listed_model_hash)) {
		mp_diags_error(d, a->label, 0, 0,
		               MP_BARCHIVE_MODEL ": the model's SHA-256 is %.16s..., the manifest "
		                                 "says %.16s...",
		               mp_model_sha256(m), a->listed_model_hash);
		mp_model_free(m);
		return NULL;
	}
	return m;
}

static mp_barchive *open_checked(const char *path, mp_diags *d)
{
	mp_barchive *a = mp_barchive_open(path, NULL, d);
	if (a && mp_barchive_check(a, NULL, d) < 0) {
		mp_barchive_free(a);
		return NULL;
	}
	return a;
}

static mp_bundle *open_load(const char *path, const mp_model *m, const pol_given *late,
                            const char *stdlib_dir, mp_diags *d)
{
	mp_barchive *a = open_checked(path, d);
	mp_bundle *b = a ? load_bundle(a, a->texts, m, late, stdlib_dir, d) : NULL;
	mp_barchive_free(a); /* its files' texts are the bundle's now */
	return b;
}

mp_bundle *mp_barchive_load_bundle(const char *path, const mp_model *m, const char *stdlib_dir,
                                   mp_diags *d)
{
	return open_load(path, m, NULL, stdlib_dir, d);
}

mp_bundle *pol_barchive_load(const char *path, const pol_given *late, const char *stdlib_dir,
                             mp_diags *d)
{
	return open_load(path, NULL, late, stdlib_dir, d);
}

mp_model *mp_barchive_load_model(const char *path, mp_diags *d)
{
	mp_barchive *a = open_checked(path, d);
	mp_model *m = a ? mp_barchive_model(a, d) : NULL;
	mp_barchive_free(a);
	return m;
}
