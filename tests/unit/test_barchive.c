/* test_barchive.c: engine/barchive.c and barchive_build.c: a bundle archive built from the unit
 * bundle loads with the directory's hash, files and revision; its signature binds the manifest
 * and every file; every hostile archive is refused with an error that names the entry (path
 * traversal, absolute paths, links, devices, FIFOs, duplicates, too many or too large entries,
 * a gzip bomb, truncation, files not in the manifest or changed since); and out of memory at
 * every allocation. Format: docs/bundles.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "barchive.h"
#include "compile.h"
#include "policy.h"
#include "testutil.h"
#include "trail.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNIT "tests/data/bundles/unit"

/* --- a tar written entry by entry (the hostile cases) --- */

enum { REG = 0, DIR_, SYMLINK, HARDLINK, CHARDEV, FIFO };

typedef struct {
	const char *path;
	int kind;
	const char *data; /* NULL: "" */
	size_t len;       /* 0: strlen(data) */
	const char *link; /* SYMLINK, HARDLINK */
} ent;

static la_ssize_t to_memstream(struct archive *a, void *f, const void *buf, size_t n)
{
	(void)a;
	return (la_ssize_t)fwrite(buf, 1, n, f);
}

/* The entries as a tar (gzip-compressed unless plain), in malloc'd memory. */
static char *make_tar(const ent *es, size_t n, int plain, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	assert_non_null(f);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (!plain)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK); /* no padding */
	assert_int_equal(archive_write_open(a, f, NULL, to_memstream, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const char *data = es[i].data ? es[i].data : "";
		size_t dlen = es[i].len ? es[i].len : strlen(data);
		static const int types[] = {AE_IFREG, AE_IFDIR, AE_IFLNK,
		                            AE_IFREG, AE_IFCHR, AE_IFIFO};
		archive_entry_clear(e);
		archive_entry_set_pathname(e, es[i].path);
		archive_entry_set_filetype(e, (unsigned)types[es[i].kind]);
		archive_entry_set_perm(e, 0644);
		if (es[i].kind == SYMLINK)
			archive_entry_set_symlink(e, es[i].link);
		if (es[i].kind == HARDLINK)
			archive_entry_set_hardlink(e, es[i].link);
		archive_entry_set_size(e, es[i].kind == REG ? (la_int64_t)dlen : 0);
		assert_true(archive_write_header(a, e) >=
		            ARCHIVE_WARN); /* names pax cannot convert */
		if (es[i].kind == REG && dlen)
			assert_int_equal(archive_write_data(a, data, dlen), (la_ssize_t)dlen);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
	fclose(f);
	return buf;
}

static const char manifest_yaml[] = "name: t\nrevision: r1\n";
static const char policy_lua[] = "policy \"p\" { version = \"1.0.0\", kind = \"rbac\" }\n";

/* Reads es as an archive under lim; the errors as text (free()), NULL when it was read (and
 * then checked, the check's errors as text). */
static char *read_errors(const ent *es, size_t n, const mp_barchive_limits *lim)
{
	size_t len;
	char *tar = make_tar(es, n, 0, &len);
	mp_diags d = {0};
	mp_barchive *a = mp_barchive_read("t.tar.gz", tar, len, lim, &d);
	if (a)
		mp_barchive_check(a, NULL, &d);
	char *text = d.errors ? diags_text(&d) : NULL;
	mp_barchive_free(a);
	mp_diags_free(&d);
	free(tar);
	return text;
}

/* The archive of es is refused with an error containing want. */
static void refused(const ent *es, size_t n, const mp_barchive_limits *lim, const char *want)
{
	char *errs = read_errors(es, n, lim);
	if (!errs || !strstr(errs, want)) {
		print_error("want an error with '%s', got: %s\n", want, errs ? errs : "(none)");
		free(errs);
		fail();
	}
	free(errs);
}

#define BASE                                                                                       \
	{"bundle.yaml", REG, manifest_yaml, 0, NULL},                                              \
	{                                                                                          \
		"p.lua", REG, policy_lua, 0, NULL                                                  \
	}
#define REFUSED(want, ...)                                                                         \
	do {                                                                                       \
		const ent es_[] = {BASE, __VA_ARGS__};                                             \
		refused(es_, sizeof(es_) / sizeof(es_[0]), NULL, want);                            \
	} while (0)

/* Every entry that would reach outside the bundle, or is not a regular file, is refused. */
static void test_hostile_entries(void **state)
{
	(void)state;
	REFUSED("'../evil.lua': has a '..' component", {"../evil.lua", REG, policy_lua, 0, NULL});
	REFUSED("'a/../../evil.lua': has a '..' component",
	        {"a/../../evil.lua", REG, "x", 0, NULL});
	REFUSED("'/etc/evil.lua': is an absolute path", {"/etc/evil.lua", REG, "x", 0, NULL});
	REFUSED("'a//b.lua': has an empty component", {"a//b.lua", REG, "x", 0, NULL});
	REFUSED("'a/./b.lua': has a '.' component", {"a/./b.lua", REG, "x", 0, NULL});
	REFUSED("'link.lua': is a symbolic link (to '/etc/passwd')",
	        {"link.lua", SYMLINK, NULL, 0, "/etc/passwd"});
	REFUSED("'hard.lua': is a hard link (to 'bundle.yaml')",
	        {"hard.lua", HARDLINK, NULL, 0, "bundle.yaml"});
	REFUSED("'dev': is a device", {"dev", CHARDEV, NULL, 0, NULL});
	REFUSED("'fifo': is a FIFO", {"fifo", FIFO, NULL, 0, NULL});
	REFUSED("'p.lua': given twice", {"p.lua", REG, "-- again\n", 0, NULL});
	REFUSED("'sub': both a file and a directory", {"sub", REG, "x", 0, NULL},
	        {"sub/x.lua", REG, "x", 0, NULL});
	REFUSED("'.meshpol/run.sh': not an entry meshpol writes",
	        {".meshpol/run.sh", REG, "x", 0, NULL});
	REFUSED("holds a control character", {"a\nb.lua", REG, "x", 0, NULL});
	REFUSED("holds a control character or a backslash", {"a\\b.lua", REG, "x", 0, NULL});
	REFUSED("is not UTF-8", {"\xff.lua", REG, "x", 0, NULL});
	char deep[200] = "";
	for (int i = 0; i < 33; i++)
		strcat(deep, "d/");
	strcat(deep, "x.lua");
	REFUSED("is nested deeper than 32 directories", {deep, REG, "x", 0, NULL});
	static char longpath[1100];
	memset(longpath, 'a', 1050);
	REFUSED("longer than the 1024-byte limit", {longpath, REG, "x", 0, NULL});
	/* a manifest given twice, and a signature without a manifest */
	REFUSED("'.meshpol/manifest.json': given twice",
	        {".meshpol/manifest.json", REG, "{}", 0, NULL},
	        {".meshpol/manifest.json", REG, "{}", 0, NULL});
	REFUSED("signed, but without a manifest",
	        {".meshpol/signature.json", REG,
	         "{\"format\": \"meshpol-bundle-signature/1\", "
	         "\"algorithm\": \"ed25519\", \"key_id\": \""
	         "0000000000000000000000000000000000000000000000"
	         "000000000000000000\", \"public_key\": \"x\", "
	         "\"manifest_sha256\": \"00000000000000000000000000"
	         "00000000000000000000000000000000000000\", "
	         "\"signature\": \"x\"}",
	         0, NULL});
}

/* Limits: entries, one file's bytes, the uncompressed total (a gzip bomb), the archive's own. */
static void test_limits(void **state)
{
	(void)state;
	static char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	const ent three[] = {BASE, {"a.md", REG, "x", 0, NULL}};
	mp_barchive_limits l = {.max_entries = 2};
	refused(three, 3, &l, "more than 2 entries");
	const ent one_big[] = {BASE, {"big.md", REG, big, 0, NULL}};
	l = (mp_barchive_limits){.max_file = 1000};
	refused(one_big, 3, &l, "'big.md': 4095 bytes, over the 1000-byte limit for one file");
	/* many entries well inside the per-file limit that add up past the total: a bomb's shape */
	const ent bomb[] = {BASE,
	                    {"a.md", REG, big, 0, NULL},
	                    {"b.md", REG, big, 0, NULL},
	                    {"c.md", REG, big, 0, NULL}};
	l = (mp_barchive_limits){.max_total = 10000};
	refused(bomb, 5, &l, "'c.md': 4095 bytes would take the archive past its 10000-byte limit");
	/* hidden entries count too, though they are skipped */
	const ent hidden_bomb[] = {
	    BASE, {".a", REG, big, 0, NULL}, {".b", REG, big, 0, NULL}, {".c", REG, big, 0, NULL}};
	refused(hidden_bomb, 5, &l, "'.c': 4095 bytes would take the archive past");
	l = (mp_barchive_limits){.max_archive = 64};
	refused(three, 3, &l, "over the 64-byte limit for a bundle archive");
	/* the defaults hold a bundle */
	assert_null(read_errors(three, 3, NULL));
}

/* A cut archive, bytes that are no archive, and an empty one. */
static void test_truncated_and_garbage(void **state)
{
	(void)state;
	static char big[60000];
	uint32_t x = 1;
	for (size_t i = 0; i < sizeof(big) - 1; i++) { /* incompressible: the gzip spans it all */
		x = x * 1103515245u + 12345u;
		big[i] = (char)('a' + (x >> 16) % 26);
	}
	const ent es[] = {BASE, {"big.md", REG, big, 0, NULL}};
	size_t len;
	char *tar = make_tar(es, 3, 0, &len);
	for (size_t cut = 1; cut < len; cut += len / 7 + 1) {
		mp_diags d = {0};
		mp_barchive *a = mp_barchive_read("cut.tar.gz", tar, cut, NULL, &d);
		if (a)
			print_error("cut at %zu of %zu: read\n", cut, len);
		assert_null(a);
		assert_true(d.errors > 0);
		char *text = diags_text(&d);
		assert_non_null(strstr(text, "cut.tar.gz"));
		free(text);
		mp_diags_free(&d);
	}
	free(tar);
	mp_diags d = {0};
	assert_null(mp_barchive_read("junk", "not an archive at all", 21, NULL, &d));
	char *text = diags_text(&d);
	assert_non_null(strstr(text, "junk: not a tar.gz bundle archive"));
	free(text);
	mp_diags_free(&d);
}

/* --- built archives --- */

static char keydir[64], key[96], pub[96], other[96], otherpub[96];

static int keys_setup(void **state)
{
	char err[256];
	*state = unit_mesh();
	snprintf(keydir, sizeof(keydir), "/tmp/meshpol-barchive-XXXXXX");
	if (!*state || !mkdtemp(keydir))
		return -1;
	snprintf(key, sizeof(key), "%s/k.pem", keydir);
	snprintf(pub, sizeof(pub), "%s/k.pub.pem", keydir);
	snprintf(other, sizeof(other), "%s/o.pem", keydir);
	snprintf(otherpub, sizeof(otherpub), "%s/o.pub.pem", keydir);
	return mp_trail_keygen(key, err, sizeof(err)) || mp_trail_keygen(other, err, sizeof(err));
}

static int keys_teardown(void **state)
{
	mp_model_free(*state);
	return remove_bundle_dir(keydir);
}

/* The unit bundle built as an archive (malloc'd bytes): signed with sign_key, with the unit
 * mesh's model when with_model, the manifest's revision when revision. */
static char *build(const mp_model *m, const char *sign_key, int with_model, const char *revision,
                   size_t *len)
{
	mp_diags d = {0};
	char err[512], *out = NULL, *mpm = NULL;
	size_t mlen = 0;
	mp_bundle *b = mp_bundle_load(UNIT, m, NULL, &d);
	assert_non_null(b);
	FILE *mf = open_memstream(&mpm, &mlen);
	assert_int_equal(mp_model_write(m, mf), 0);
	fclose(mf);
	mp_barchive_build_opts o = {.bundle = b,
	                            .revision = revision,
	                            .model = with_model ? mpm : NULL,
	                            .model_len = mlen,
	                            .model_sha256 = mp_model_sha256(m),
	                            .sign_key = sign_key};
	FILE *f = open_memstream(&out, len);
	int rc = mp_barchive_build(&o, f, err, sizeof(err));
	fclose(f);
	if (rc < 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	free(mpm);
	mp_bundle_free(b);
	mp_diags_free(&d);
	return out;
}

/* The archive's bundle loads with the directory's hash, files, load order, rules and name;
 * the revision is the manifest's; the model in it is the model it was built with; the same
 * inputs give the same bytes. */
static void test_round_trip(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	size_t len, len2;
	char *tar = build(m, key, 1, "2026.01-ci.42", &len);
	char *again = build(m, key, 1, "2026.01-ci.42", &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(tar, again, len);
	free(again);

	mp_bundle *dir = mp_bundle_load(UNIT, m, NULL, &d);
	mp_barchive *a = mp_barchive_read("unit.tar.gz", tar, len, NULL, &d);
	assert_non_null(a);
	assert_int_equal(mp_barchive_check(a, pub, &d), 0);
	assert_string_equal(a->bundle_sha256, dir->sha256);
	assert_string_equal(a->name, "unit");
	mp_bundle *b = mp_barchive_bundle(a, m, NULL, &d);
	if (!b) {
		char *t = diags_text(&d);
		print_error("%s", t);
		free(t);
	}
	assert_non_null(b);
	assert_string_equal(b->sha256, dir->sha256);
	assert_string_equal(b->revision, "2026.01-ci.42");
	assert_int_equal(b->nfiles, dir->nfiles);
	assert_int_equal(b->npolicy_files, dir->npolicy_files);
	for (uint32_t i = 0; i < b->nfiles; i++) {
		assert_string_equal(b->files[i].rel, dir->files[i].rel);
		assert_int_equal(b->files[i].len, dir->files[i].len);
	}
	assert_int_equal(b->nrules, dir->nrules);
	for (uint32_t i = 0; i < b->nrules; i++)
		assert_string_equal(b->rules[i].name, dir->rules[i].name);
	char loc[300];
	snprintf(loc, sizeof(loc), "unit.tar.gz/%s", dir->rules[0].loc + strlen(UNIT) + 1);
	assert_string_equal(b->rules[0].loc, loc);
	mp_model *m2 = mp_barchive_model(a, &d);
	assert_non_null(m2);
	assert_string_equal(mp_model_sha256(m2), mp_model_sha256(m));
	assert_int_equal(d.errors, 0);
	mp_model_free(m2);
	mp_bundle_free(b);
	mp_barchive_free(a);

	/* from a file: mp_bundle_load and mp_model_open take the archive's path */
	char path[128];
	snprintf(path, sizeof(path), "%s/unit.tar.gz", keydir);
	FILE *f = fopen(path, "wb");
	assert_int_equal(fwrite(tar, 1, len, f), len);
	fclose(f);
	b = mp_bundle_load(path, m, NULL, &d);
	m2 = mp_model_open(path, &d);
	assert_non_null(b);
	assert_non_null(m2);
	assert_string_equal(b->sha256, dir->sha256);
	assert_string_equal(mp_model_sha256(m2), mp_model_sha256(m));
	char hint[256];
	assert_int_equal(mp_bundle_model_hint(path, hint, sizeof(hint)), 0);
	assert_string_equal(hint, path);
	mp_model_free(m2);
	mp_bundle_free(b);
	mp_bundle_free(dir);
	free(tar);
	mp_diags_free(&d);
}

/* Re-tars a's entries with edit applied (the manifest and signature kept as they are). */
typedef void (*editor)(ent *es, size_t *n, mp_barchive *a);

static char *retar(const char *tar, size_t len, editor edit, size_t *out_len)
{
	mp_diags d = {0};
	mp_barchive *a = mp_barchive_read("x", tar, len, NULL, &d);
	assert_non_null(a);
	ent es[64];
	size_t n = 0;
	es[n++] = (ent){MP_BARCHIVE_MANIFEST, REG, a->manifest, a->manifest_len, NULL};
	if (a->signature)
		es[n++] = (ent){MP_BARCHIVE_SIGNATURE, REG, a->signature, a->signature_len, NULL};
	if (a->model)
		es[n++] = (ent){MP_BARCHIVE_MODEL, REG, a->model, a->model_len, NULL};
	for (uint32_t i = 0; i < a->nfiles; i++)
		es[n++] = (ent){a->files[i].path, REG, a->files[i].data, a->files[i].len, NULL};
	edit(es, &n, a);
	char *out = make_tar(es, n, 0, out_len);
	mp_barchive_free(a);
	mp_diags_free(&d);
	return out;
}

static void edit_file(ent *es, size_t *n, mp_barchive *a)
{
	(void)a;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(es[i].path, "rbac.lua"))
			es[i].data = "-- nothing to see\n", es[i].len = 0;
}
static void add_file(ent *es, size_t *n, mp_barchive *a)
{
	(void)a;
	es[(*n)++] = (ent){"extra.lua", REG, policy_lua, 0, NULL};
}
static void add_hidden(ent *es, size_t *n, mp_barchive *a)
{
	(void)a;
	es[(*n)++] = (ent){".hidden.lua", REG, policy_lua, 0, NULL};
}
static void drop_file(ent *es, size_t *n, mp_barchive *a)
{
	(void)a;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(es[i].path, "traffic.lua"))
			es[i] = es[--*n];
}
static void drop_model(ent *es, size_t *n, mp_barchive *a)
{
	(void)a;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(es[i].path, MP_BARCHIVE_MODEL))
			es[i] = es[--*n];
}
static void drop_signature(ent *es, size_t *n, mp_barchive *a)
{
	(void)a;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(es[i].path, MP_BARCHIVE_SIGNATURE))
			es[i] = es[--*n];
}
/* a manifest edited to match an edited file: the signature no longer covers it */
static char edited_manifest[16384];
static void edit_file_and_manifest(ent *es, size_t *n, mp_barchive *a)
{
	edit_file(es, n, a);
	json_t *j = json_loadb(a->manifest, a->manifest_len, 0, NULL);
	json_t *f;
	size_t i;
	json_array_foreach(json_object_get(j, "files"), i, f)
	{
		if (!strcmp(json_string_value(json_object_get(f, "path")), "rbac.lua")) {
			json_object_set_new(f, "size", json_integer(18));
			json_object_set_new(f, "sha256",
			                    json_string("0f3c6f4f0c3b6d4c7f0b3d1f5b0b1a"
			                                "2e4f7b7b0d7c1d8b4b1f6f6e5d2a3c1"
			                                "b0a"));
		}
	}
	char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	snprintf(edited_manifest, sizeof(edited_manifest), "%s", t);
	free(t);
	json_decref(j);
	es[0].data = edited_manifest;
	es[0].len = 0;
}
/* a manifest whose bundle hash is another's, its files' entries right */
static void edit_bundle_hash(ent *es, size_t *n, mp_barchive *a)
{
	(void)n;
	json_t *j = json_loadb(a->manifest, a->manifest_len, 0, NULL);
	json_object_set_new(j, "bundle_sha256",
	                    json_string("00000000000000000000000000000000"
	                                "00000000000000000000000000000000"));
	char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	snprintf(edited_manifest, sizeof(edited_manifest), "%s", t);
	free(t);
	json_decref(j);
	es[0].data = edited_manifest;
	es[0].len = 0;
}
/* a manifest listing one file twice (its entry copied whole) */
static void list_twice(ent *es, size_t *n, mp_barchive *a)
{
	(void)n;
	json_t *j = json_loadb(a->manifest, a->manifest_len, 0, NULL);
	json_t *files = json_object_get(j, "files");
	json_array_append(files, json_array_get(files, 0));
	char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	snprintf(edited_manifest, sizeof(edited_manifest), "%s", t);
	free(t);
	json_decref(j);
	es[0].data = edited_manifest;
	es[0].len = 0;
}
/* The archive from edit is refused, naming what changed (checked with with_key, or none). */
static void tampered(const mp_model *m, editor edit, const char *want, const char *with_key)
{
	size_t len, tlen;
	char *tar = build(m, key, 1, NULL, &len);
	char *bad = retar(tar, len, edit, &tlen);
	mp_diags d = {0};
	mp_barchive *a = mp_barchive_read("t.tar.gz", bad, tlen, NULL, &d);
	if (a)
		mp_barchive_check(a, with_key, &d);
	char *text = diags_text(&d);
	if (!strstr(text, want)) {
		print_error("want an error with '%s', got: %s\n", want, text);
		fail();
	}
	free(text);
	mp_barchive_free(a);
	mp_diags_free(&d);
	free(bad);
	free(tar);
}

/* Files changed, added, removed after the build; the model removed; a hidden file added; the
 * manifest edited to match (its signature then covers another manifest); the signature
 * removed or made by another key. */
static void test_tampered(void **state)
{
	mp_model *m = *state;
	tampered(m, edit_file, "t.tar.gz: 'rbac.lua': 18 bytes with SHA-256", NULL);
	tampered(m, edit_file, "(changed after the bundle was built)", NULL);
	tampered(m, add_file, "'extra.lua': in the archive, not in the manifest", NULL);
	tampered(m, add_hidden, "'.hidden.lua': not in the manifest (a hidden file)", NULL);
	tampered(m, drop_file, "'traffic.lua': in the manifest, missing from the archive", NULL);
	tampered(m, drop_model, MP_BARCHIVE_MODEL ": in the manifest, missing from the archive",
	         NULL);
	tampered(m, edit_file_and_manifest, "the signature covers another manifest", NULL);
	tampered(m, drop_signature, "unsigned; a signature by the given key is required", pub);
	/* each file is hashed once, on reading; the bundle hash over them is still checked */
	tampered(m, edit_bundle_hash, "t.tar.gz: the files' bundle SHA-256 is ", NULL);
	tampered(m, edit_bundle_hash, "the manifest says 0000000000000000...", NULL);
	tampered(m, list_twice, "manifest.json: 'advisory.lua' is listed twice", NULL);

	/* signed by another key: refused with the key, accepted without (it verifies with the
	 * key it carries) */
	size_t len;
	char *tar = build(m, other, 0, NULL, &len);
	mp_diags d = {0};
	mp_barchive *a = mp_barchive_read("o.tar.gz", tar, len, NULL, &d);
	assert_non_null(a);
	assert_int_equal(mp_barchive_check(a, NULL, &d), 0);
	assert_int_equal(mp_barchive_check(a, pub, &d), -1);
	char *text = diags_text(&d);
	assert_non_null(strstr(text, "signed by another key"));
	free(text);
	mp_barchive_free(a);
	mp_diags_free(&d);

	/* a flipped bit in the signature */
	mp_diags d2 = {0};
	a = mp_barchive_read("o.tar.gz", tar, len, NULL, &d2);
	assert_non_null(a);
	char *sig = (char *)strstr(a->sig64, "") + 10;
	*sig = *sig == 'A' ? 'B' : 'A';
	assert_int_equal(mp_barchive_check(a, NULL, &d2), -1);
	text = diags_text(&d2);
	assert_non_null(strstr(text, "the signature does not verify"));
	free(text);
	mp_barchive_free(a);
	mp_diags_free(&d2);
	free(tar);
}

/* Each file hashed once, on reading: its digest is the SHA-256 of the bytes kept, the bundle
 * hash over them is the directory's, and the bundle loaded with them (mp_barchive_bundle, the
 * archive kept; mp_bundle_load of the file, the archive freed and its texts the bundle's) has
 * the directory's hash and texts and outlives the archive. */
static void test_hashed_once(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	size_t len;
	char *tar = build(m, NULL, 0, NULL, &len);
	mp_bundle *dir = mp_bundle_load(UNIT, m, NULL, &d);
	assert_non_null(dir);
	mp_barchive *a = mp_barchive_read("h.tar.gz", tar, len, NULL, &d);
	assert_non_null(a);
	assert_string_equal(a->files_sha256, dir->sha256);
	for (uint32_t i = 0; i < a->nfiles; i++) {
		unsigned char want[32];
		char hex[65];
		SHA256((const unsigned char *)a->files[i].data, a->files[i].len, want);
		assert_memory_equal(a->files[i].digest, want, 32);
		for (int k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", want[k]);
		assert_string_equal(a->files[i].sha256, hex);
	}
	assert_int_equal(mp_barchive_check(a, NULL, &d), 0);
	mp_bundle *b = mp_barchive_bundle(a, m, NULL, &d);
	assert_non_null(b);
	assert_string_equal(b->sha256, dir->sha256);
	mp_bundle_free(b); /* the archive's files are still its own */
	for (uint32_t i = 0; i < a->nfiles; i++)
		if (!strcmp(a->files[i].path, dir->files[0].rel))
			assert_memory_equal(a->files[i].data, dir->files[0].text,
			                    dir->files[0].len);
	mp_barchive_free(a);

	char path[128];
	snprintf(path, sizeof(path), "%s/h.tar.gz", keydir);
	FILE *f = fopen(path, "wb");
	assert_int_equal(fwrite(tar, 1, len, f), len);
	fclose(f);
	b = mp_bundle_load(path, m, NULL, &d); /* reads, checks, loads, frees the archive */
	assert_non_null(b);
	assert_string_equal(b->sha256, dir->sha256);
	assert_int_equal(b->nfiles, dir->nfiles);
	for (uint32_t i = 0; i < b->nfiles; i++) {
		assert_int_equal(b->files[i].len, dir->files[i].len);
		assert_memory_equal(b->files[i].text, dir->files[i].text, dir->files[i].len + 1);
	}
	assert_int_equal(d.errors, 0);
	unlink(path);
	mp_bundle_free(b);
	mp_bundle_free(dir);
	free(tar);
	mp_diags_free(&d);
}

/* Manifests that are not what docs/bundles.md describes. */
static void test_bad_manifest(void **state)
{
	(void)state;
	static const struct {
		const char *manifest, *want;
	} cases[] = {
	    {"{", "manifest.json:1:1: invalid JSON"},
	    {"[]", "manifest.json: not a JSON object"},
	    {"{\"format\": \"meshpol-bundle/2\", \"name\": \"t\", \"revision\": \"r\", "
	     "\"bundle_sha256\": \"" /* 64 */
	     "0000000000000000000000000000000000000000000000000000000000000000\", "
	     "\"policies\": [], \"files\": []}",
	     "format 'meshpol-bundle/2': this meshpol reads meshpol-bundle/1"},
	    {"{\"format\": \"meshpol-bundle/1\", \"name\": \"t\", \"revison\": \"r\"}",
	     "unknown field 'revison' (did you mean 'revision'?)"},
	    {"{\"format\": \"meshpol-bundle/1\", \"name\": \"t\"}",
	     "missing required field 'bundle_sha256'"},
	    {"{\"format\": \"meshpol-bundle/1\", \"name\": \"t\", \"name\": \"u\"}",
	     "invalid JSON: duplicate object key"},
	    {"{\"format\": \"meshpol-bundle/1\", \"name\": \"t\", \"revision\": \"r\", "
	     "\"bundle_sha256\": \"ABC\", \"policies\": [], \"files\": []}",
	     "'bundle_sha256' must be 64 lower-case hex digits"},
	    {"{\"format\": \"meshpol-bundle/1\", \"name\": \"t\", \"revision\": \"r\", "
	     "\"bundle_sha256\": "
	     "\"0000000000000000000000000000000000000000000000000000000000000000\", "
	     "\"policies\": [{\"name\": \"p\"}], \"files\": [{\"path\": \"a\", \"size\": -1, "
	     "\"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
	     "policies[0]: missing required field 'version'"},
	    {"{\"format\": \"meshpol-bundle/1\", \"name\": \"t\", \"revision\": \"r\", "
	     "\"bundle_sha256\": "
	     "\"0000000000000000000000000000000000000000000000000000000000000000\", "
	     "\"policies\": [], \"files\": [{\"path\": \"a\", \"size\": -1, "
	     "\"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
	     "files[0]: 'size' must be a count of bytes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const ent es[] = {BASE, {MP_BARCHIVE_MANIFEST, REG, cases[i].manifest, 0, NULL}};
		refused(es, 3, NULL, cases[i].want);
	}
}

/* Without a manifest: a plain tar.gz of a bundle directory loads like the directory, hidden
 * files left out as a walk leaves them, and "./" prefixes (tar -C DIR .) taken off. */
static void test_plain_archive(void **state)
{
	mp_model *m = *state;
	mp_diags d = {0};
	char *dir =
	    write_bundle_dir(manifest_yaml, "p.lua", policy_lua, "sub/q.lua",
	                     "policy \"q\" { version = \"2.0.0\", kind = \"rbac\" }\n", NULL);
	assert_non_null(dir);
	mp_bundle *from_dir = mp_bundle_load(dir, m, NULL, &d);
	assert_non_null(from_dir);
	const ent es[] = {{"./", DIR_, NULL, 0, NULL},
	                  {"./sub/", DIR_, NULL, 0, NULL},
	                  {"./sub/q.lua", REG,
	                   "policy \"q\" { version = \"2.0.0\", kind = \"rbac\" }\n", 0, NULL},
	                  {"./p.lua", REG, policy_lua, 0, NULL},
	                  {"./.git/config", REG, "[core]\n", 0, NULL},
	                  {"./bundle.yaml", REG, manifest_yaml, 0, NULL}};
	size_t len;
	char *tar = make_tar(es, 6, 1, &len); /* plain tar, no gzip */
	mp_barchive *a = mp_barchive_read("plain.tar", tar, len, NULL, &d);
	assert_non_null(a);
	assert_int_equal(a->nskipped, 1);
	assert_null(a->manifest);
	assert_int_equal(mp_barchive_check(a, NULL, &d), 0);
	mp_bundle *b = mp_barchive_bundle(a, m, NULL, &d);
	assert_non_null(b);
	assert_string_equal(b->sha256, from_dir->sha256);
	assert_string_equal(b->revision, "r1");
	assert_string_equal(b->policies[0].name, from_dir->policies[0].name); /* load order */
	assert_int_equal(mp_barchive_check(a, pub, &d), -1);                  /* no signature */
	mp_bundle_free(b);
	mp_bundle_free(from_dir);
	mp_barchive_free(a);
	free(tar);
	remove_bundle_dir(dir);
	mp_diags_free(&d);
}

/* Out of memory at every allocation of reading and checking: NULL or -1 and an error, no crash
 * and (under make check) no leak. (Loading the bundle then runs Lua, whose states cannot start
 * without memory: test_policy_files.c covers the loader's own allocations.) */
static void test_out_of_memory(void **state)
{
	mp_model *m = *state;
	size_t len;
	char *tar = build(m, key, 1, NULL, &len);
	long n;
	int done = 0;
	for (n = 0; n < 100000 && !done; n++) {
		mp_diags d = {0};
		mp_alloc_fail_after(n);
		mp_barchive *a = mp_barchive_read("t.tar.gz", tar, len, NULL, &d);
		int ok = a && mp_barchive_check(a, pub, &d) == 0;
		mp_alloc_fail_after(-1);
		if (!ok)
			assert_true(d.errors > 0);
		done = ok;
		mp_barchive_free(a);
		mp_diags_free(&d);
	}
	assert_true(done);
	assert_true(n > 3);
	free(tar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hostile_entries),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_truncated_and_garbage),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_hashed_once),
	    cmocka_unit_test(test_bad_manifest),
	    cmocka_unit_test(test_plain_archive),
	    cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
