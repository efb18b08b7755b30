/* barchive_build.c: writing a bundle archive (mp_barchive_build, barchive.h): the manifest, the
 * signature, the model and the bundle's files as a reproducible tar.gz. Format:
 * docs/bundles.md. */
#include "alloc.h"
#include "archivelib.h"
#include "barchive.h"
#include "files.h"
#include "keys.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#define SIG_DOMAIN "meshpol-bundle-signature-v1"

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The bundle's files in the walk's order (indexes into b->files). */
static uint32_t *walk_order(const mp_bundle *b)
{
	uint32_t *o = mp_malloc(((size_t)b->nfiles + 1) * sizeof(*o));
	if (!o)
		return NULL;
	for (uint32_t i = 0; i < b->nfiles; i++) {
		uint32_t j = i;
		for (; j > 0 && mp_files_path_cmp(b->files[o[j - 1]].rel, b->files[i].rel) > 0; j--)
			o[j] = o[j - 1];
		o[j] = i;
	}
	return o;
}

/* text (json_dumps's) with a final newline, for people who cat it; NULL when out of memory. */
static char *with_newline(char *text)
{
	size_t n = text ? strlen(text) : 0;
	char *t = text ? realloc(text, n + 2) : NULL;
	if (!t) {
		free(text);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	return t;
}

/* The manifest's text (JSON, two-space indent, a final newline; json_dumps's: free()). */
static char *manifest_text(const mp_barchive_build_opts *o, const uint32_t *order)
{
	const mp_bundle *b = o->bundle;
	json_t *m = json_object(), *ps = json_array(), *fs = json_array();
	char *text = NULL;
	if (!m || !ps || !fs)
		goto out;
	for (uint32_t i = 0; i < b->npolicies; i++)
		json_array_append_new(ps, json_pack("{s:s, s:s}", "name", b->policies[i].name,
		                                    "version", b->policies[i].version));
	for (uint32_t i = 0; i < b->nfiles; i++) {
		const mp_bundle_file *f = &b->files[order[i]];
		char sha[65];
		mp_key_sha256_hex(f->text, f->len, sha);
		json_array_append_new(fs, json_pack("{s:s, s:I, s:s}", "path", f->rel, "size",
		                                    (json_int_t)f->len, "sha256", sha));
	}
	json_object_set_new(m, "format", json_string(MP_BARCHIVE_FORMAT));
	json_object_set_new(m, "name", json_string(b->name));
	json_object_set_new(m, "revision", json_string(o->revision ? o->revision : b->revision));
	json_object_set_new(m, "bundle_sha256", json_string(b->sha256));
	json_object_set(m, "policies", ps);
	json_object_set(m, "files", fs);
	if (o->model) {
		char sha[65];
		mp_key_sha256_hex(o->model, o->model_len, sha);
		json_object_set_new(m, "model",
		                    json_pack("{s:s, s:I, s:s, s:s}", "path", MP_BARCHIVE_MODEL,
		                              "size", (json_int_t)o->model_len, "sha256", sha,
		                              "model_sha256", o->model_sha256));
	}
	if (o->decls) {
		char sha[65];
		mp_key_sha256_hex(o->decls, o->decls_len, sha);
		json_object_set_new(m, "declarations",
		                    json_pack("{s:s, s:I, s:s}", "path", MP_BARCHIVE_DECLS, "size",
		                              (json_int_t)o->decls_len, "sha256", sha));
	}
	text = with_newline(json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
out:
	json_decref(ps);
	json_decref(fs);
	json_decref(m);
	return text;
}

/* The signature's text over the manifest (json_dumps's: free()); NULL with err. */
static char *signature_text(const char *key_path, const char *manifest, char *err, size_t errlen)
{
	char id[65], hash[65], msg[160], sig64[MP_KEY_SIG_B64_LEN + 1];
	unsigned char sig[MP_KEY_SIG_LEN];
	size_t pemlen = 0;
	char *pem = NULL, *text = NULL;
	EVP_PKEY *k = mp_key_load(key_path, 1, err, errlen);
	if (!k)
		return NULL;
	mp_key_sha256_hex(manifest, strlen(manifest), hash);
	int n = snprintf(msg, sizeof(msg), SIG_DOMAIN " manifest_sha256=%s", hash);
	if (mp_key_id(k, id) < 0 || !(pem = mp_key_public_pem(k, &pemlen)) ||
	    mp_key_sign(k, msg, (size_t)n, sig) < 0) {
		errf(err, errlen, "%s: signing failed", key_path);
		goto out;
	}
	mp_key_sig_encode(sig, sig64);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "format", MP_BARCHIVE_SIG_FORMAT,
	                      "algorithm", "ed25519", "key_id", id, "public_key", pem,
	                      "manifest_sha256", hash, "signature", sig64);
	text = j ? with_newline(json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) : NULL;
	json_decref(j);
	if (!text)
		errf(err, errlen, "out of memory");
out:
	mp_free(pem);
	EVP_PKEY_free(k);
	return text;
}

int mp_barchive_sign_key_id(const char *key_path, char out[65], char *err, size_t errlen)
{
	EVP_PKEY *k = mp_key_load(key_path, 1, err, errlen);
	int rc = k ? mp_key_id(k, out) : -1;
	if (k && rc < 0)
		errf(err, errlen, "%s: cannot encode the public key", key_path);
	EVP_PKEY_free(k);
	return rc;
}

static la_ssize_t to_file(struct archive *a, void *f, const void *buf, size_t n)
{
	(void)a;
	return fwrite(buf, 1, n, f) == n ? (la_ssize_t)n : -1;
}

/* One regular file entry: mode 0644, owner 0, the given mtime. */
static int add_entry(struct archive *ar, struct archive_entry *e, const char *path,
                     const void *data, size_t len, long long mtime)
{
	sym_archive_entry_clear(e);
	sym_archive_entry_set_pathname(e, path);
	sym_archive_entry_set_filetype(e, AE_IFREG);
	sym_archive_entry_set_perm(e, 0644);
	sym_archive_entry_set_size(e, (la_int64_t)len);
	sym_archive_entry_set_mtime(e, (time_t)mtime, 0);
	sym_archive_entry_set_uid(e, 0);
	sym_archive_entry_set_gid(e, 0);
	if (sym_archive_write_header(ar, e) != ARCHIVE_OK)
		return -1;
	return len == 0 || sym_archive_write_data(ar, data, len) == (la_ssize_t)len ? 0 : -1;
}

int mp_barchive_build(const mp_barchive_build_opts *o, FILE *out, char *err, size_t errlen)
{
	const mp_bundle *b = o->bundle;
	struct archive *ar = NULL;
	struct archive_entry *e = NULL;
	char *manifest = NULL, *signature = NULL;
	uint32_t *order = NULL;
	int rc = -1;
	for (uint32_t i = 0; i < b->nfiles; i++)
		if (b->files[i].in_memory >= 0) {
			errf(err, errlen, "%s: a policy file given in memory cannot be archived",
			     b->files[i].path);
			return -1;
		}
	if (!(order = walk_order(b)) || !(manifest = manifest_text(o, order))) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if (o->sign_key && !(signature = signature_text(o->sign_key, manifest, err, errlen)))
		goto out;
	if (mp_archivelib_load(err, errlen) < 0)
		goto out;
	if (!(ar = sym_archive_write_new()) || !(e = sym_archive_entry_new()) ||
	    sym_archive_write_set_format_pax_restricted(ar) != ARCHIVE_OK ||
	    sym_archive_write_add_filter_gzip(ar) != ARCHIVE_OK ||
	    sym_archive_write_set_filter_option(ar, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
	    sym_archive_write_set_bytes_in_last_block(ar, 1) != ARCHIVE_OK ||
	    sym_archive_write_open(ar, out, NULL, to_file, NULL) != ARCHIVE_OK) {
		errf(err, errlen, "cannot start the archive: %s",
		     ar && sym_archive_error_string(ar) ? sym_archive_error_string(ar)
		                                        : "out of memory");
		goto out;
	}
	int ok =
	    add_entry(ar, e, MP_BARCHIVE_MANIFEST, manifest, strlen(manifest), o->mtime) == 0 &&
	    (!signature || add_entry(ar, e, MP_BARCHIVE_SIGNATURE, signature, strlen(signature),
	                             o->mtime) == 0) &&
	    (!o->model ||
	     add_entry(ar, e, MP_BARCHIVE_MODEL, o->model, o->model_len, o->mtime) == 0) &&
	    (!o->decls ||
	     add_entry(ar, e, MP_BARCHIVE_DECLS, o->decls, o->decls_len, o->mtime) == 0);
	for (uint32_t i = 0; ok && i < b->nfiles; i++) {
		const mp_bundle_file *f = &b->files[order[i]];
		ok = add_entry(ar, e, f->rel, f->text, f->len, o->mtime) == 0;
	}
	if (!ok || sym_archive_write_close(ar) != ARCHIVE_OK) {
		errf(err, errlen, "cannot write the archive: %s",
		     sym_archive_error_string(ar) ? sym_archive_error_string(ar) : strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (e) /* NULL too when libarchive could not be loaded */
		sym_archive_entry_free(e);
	if (ar)
		sym_archive_write_free(ar);
	free(manifest);
	free(signature);
	mp_free(order);
	return rc;
}
