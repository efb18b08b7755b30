/* barchive.h: bundle archives: a policy bundle as one file (BUNDLE.tar.gz) with a manifest, an
 * optional compiled model and an optional Ed25519 signature, read and checked in memory (never
 * extracted) and loaded with the same bundle hash as the directory it was built from. Format,
 * limits and the reasons for them: docs/bundles.md. Read by barchive.c, written by
 * barchive_build.c.
 *
 * Ownership: an mp_barchive owns everything it points at (two arenas) and is immutable once
 * read; any number of threads may read it. Bundles and models loaded from it copy what they
 * keep, so it may be freed as soon as they are loaded.
 *
 * Lifecycle: mp_barchive_read (structure: every entry a regular file with a safe path, within
 * the limits; the manifest and signature well-formed) -> mp_barchive_check (integrity: every
 * file as the manifest lists it, the bundle hash, the signature; with a key, signed by it) ->
 * mp_barchive_bundle (or mp_barchive_source), mp_barchive_model -> mp_barchive_free.
 */
#ifndef MP_BARCHIVE_H
#define MP_BARCHIVE_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "diag.h"
#include "model.h"
#include "policy.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Defaults of mp_barchive_limits (docs/bundles.md, "Limits"). */
#define MP_BARCHIVE_MAX_ARCHIVE (64u << 20)  /* the archive file itself */
#define MP_BARCHIVE_MAX_TOTAL   (256u << 20) /* all entries, uncompressed */
#define MP_BARCHIVE_MAX_ENTRIES 10000u
#define MP_BARCHIVE_MAX_PATH    1024u /* bytes of one entry's path */
#define MP_BARCHIVE_MAX_DEPTH   32u   /* components of one path, as a directory walk */

/* The archive's own entries, beside the bundle's files. */
#define MP_BARCHIVE_DIR        ".meshpol"
#define MP_BARCHIVE_MANIFEST   ".meshpol/manifest.json"
#define MP_BARCHIVE_SIGNATURE  ".meshpol/signature.json"
#define MP_BARCHIVE_MODEL      ".meshpol/model.mpm"
#define MP_BARCHIVE_DECLS      ".meshpol/declarations.bin"
#define MP_BARCHIVE_FORMAT     "meshpol-bundle/1"
#define MP_BARCHIVE_SIG_FORMAT "meshpol-bundle-signature/1"

/* Zero-initialise; a zero field takes its default. */
typedef struct {
	size_t max_archive; /* bytes of the archive as given */
	size_t max_total;   /* bytes of every entry together, uncompressed */
	size_t max_file;    /* bytes of one bundle file (the model may use the whole total);
	                     * default 16 MiB, the limit of a bundle directory's files */
	uint32_t max_entries;
} mp_barchive_limits;

typedef struct {
	const char *path; /* relative to the bundle directory: "pci/cardholder.lua" */
	const char *data; /* len bytes and a NUL */
	size_t len;
	char sha256[65];          /* of data, in hex ... */
	unsigned char digest[32]; /* ... and as bytes (made once, on reading; none in listed) */
} mp_barchive_file;

typedef struct {
	const char *name, *version;
} mp_barchive_policy;

typedef struct mp_barchive {
	const char *label; /* the archive's path or URL, for messages */
	/* The bundle's files, in the order a walk of its directory finds them. */
	mp_barchive_file *files;
	uint32_t nfiles;
	char files_sha256[65]; /* their bundle hash (the directory's), made on reading */
	uint32_t nskipped;     /* hidden entries left out as a directory walk leaves them out (an
	                        * archive without a manifest only: with one they are refused) */
	const char **hidden;   /* their paths */
	/* .meshpol/manifest.json, NULL when the archive has none (a plain tar.gz of a bundle
	 * directory); what it says, once read */
	const char *manifest;
	size_t manifest_len;
	char manifest_sha256[65];
	const char *name, *revision, *bundle_sha256;
	mp_barchive_policy *policies;
	uint32_t npolicies;
	mp_barchive_file *listed; /* the manifest's files (data NULL), sorted by strcmp of path */
	uint32_t nlisted;
	const char *listed_model_sha256; /* the manifest's model: its file's SHA-256 ... */
	const char *listed_model_hash;   /* ... and the model's own (mp_model_sha256); or NULL */
	size_t listed_model_size;
	/* .meshpol/model.mpm, or NULL */
	const char *model;
	size_t model_len;
	char model_sha256[65]; /* the file's */
	/* .meshpol/declarations.bin (mp_bundle_declarations), or NULL; the manifest's size and
	 * SHA-256 of it (listed_decls_sha256 NULL: not listed) */
	const char *decls;
	size_t decls_len;
	char decls_sha256[65];
	const char *decls_label; /* "LABEL/.meshpol/declarations.bin", for messages */
	const char *listed_decls_sha256;
	size_t listed_decls_size;
	/* .meshpol/signature.json, or NULL: unsigned */
	const char *signature;
	size_t signature_len;
	const char *key_id;      /* of the key that signed, as the signature says */
	const char *public_key;  /* that key's PEM, carried in the signature */
	const char *signed_hash; /* the manifest SHA-256 the signature covers */
	const char *sig64;
	struct mp_arena *arena; /* everything but the files' data ... */
	struct mp_arena *texts; /* ... which is here (mp_barchive_load_bundle hands it on) */
} mp_barchive;

/* Reads the archive in the len bytes at data (a gzip-compressed or plain tar) under lim (NULL:
 * the defaults). Refused, with the entry and the reason in d: more bytes, entries or a path
 * longer than the limits; an entry that is not a regular file or a directory (a symbolic or
 * hard link, a device, a FIFO); an absolute path, a ".." component or an empty one; a path
 * given twice, or both a file and a directory; an entry under .meshpol/ other than the
 * manifest, the signature and the model; a truncated or corrupt archive; a manifest or
 * signature that is not what docs/bundles.md describes. NULL then; else the archive. */
mp_barchive *mp_barchive_read(const char *label, const void *data, size_t len,
                              const mp_barchive_limits *lim, mp_diags *d);
/* mp_barchive_read of the regular file at path (at most lim->max_archive bytes). */
mp_barchive *mp_barchive_open(const char *path, const mp_barchive_limits *lim, mp_diags *d);
void mp_barchive_free(mp_barchive *a); /* NULL is fine */

/* Checks integrity: every file of the archive is the manifest's (path, size, SHA-256) and
 * every file the manifest lists is there, the model too; the files' bundle hash is the
 * manifest's; a signature verifies with the key it carries and covers this manifest. With
 * pubkey_path (an Ed25519 public key PEM), the archive must also be signed by that key: an
 * unsigned archive, or one signed by another key, is refused. An archive without a manifest
 * passes without a key (there is nothing to check it against). 0, or -1 with every problem in
 * d. A public key that cannot be read is reported the same way. */
int mp_barchive_check(const mp_barchive *a, const char *pubkey_path, mp_diags *d);

/* Sets src up to load a checked archive's bundle as its directory would load: dir (the
 * archive's label), the archive's files as the directory's tree in memory
 * (mp_bundle_source.tree), and what its manifest says (the revision to report, the name and
 * bundle hash to expect); the rest of src is left as it is. Returns that tree, which the caller
 * frees (mp_free) once done with src; it points into a, which must outlive src. NULL when out
 * of memory (src unchanged). */
mp_bundle_text *mp_barchive_source(const mp_barchive *a, mp_bundle_source *src);
/* Loads the bundle of a checked archive against m (mp_barchive_source, then
 * mp_bundle_load_source): the same files, order and hash as its directory; its revision is the
 * manifest's. Refused when the bundle's name or hash differs from what the manifest says. NULL
 * with errors in d. */
mp_bundle *mp_barchive_bundle(const mp_barchive *a, const mp_model *m, const char *stdlib_dir,
                              mp_diags *d);
/* The model the archive holds (mp_model_load_mem of .meshpol/model.mpm); NULL with an error in
 * d when it holds none or it does not load. */
mp_model *mp_barchive_model(const mp_barchive *a, mp_diags *d);

/* Open, check (no key) and load, for the front-ends' -p and -m (mp_bundle_load, mp_model_open,
 * mp_bundle_model_hint). */
mp_bundle *mp_barchive_load_bundle(const char *path, const mp_model *m, const char *stdlib_dir,
                                   mp_diags *d);
mp_model *mp_barchive_load_model(const char *path, mp_diags *d);
/* Do the first bytes of data look like a gzip stream or a tar archive? */
int mp_barchive_sniff(const void *data, size_t len);
/* Is path a regular file whose first bytes do (mp_barchive_sniff)? */
int mp_barchive_is_file(const char *path);

/* What mp_barchive_build writes. */
typedef struct {
	const mp_bundle *bundle; /* loaded from a directory (or an archive); no in-memory files */
	const char *revision;    /* the manifest's revision; NULL: the bundle's */
	const void *model;       /* an .mpm file's bytes (mp_model_write), or NULL */
	size_t model_len;
	const char *model_sha256; /* that model's mp_model_sha256 */
	const void *decls;        /* mp_bundle_declarations of bundle, or NULL */
	size_t decls_len;
	const char *sign_key; /* an Ed25519 private key PEM path (meshpol keygen), or NULL */
	long long mtime;      /* of every entry (SOURCE_DATE_EPOCH); 0 by default */
} mp_barchive_build_opts;

/* The key_id of the private key at key_path, which must be an Ed25519 private key PEM (the
 * check made before anything is built). 0, or -1 and err. */
int mp_barchive_sign_key_id(const char *key_path, char out[65], char *err, size_t errlen);
/* Writes the archive to out: the manifest, the signature (with sign_key), the model, then the
 * bundle's files in the walk's order; tar (pax) compressed with gzip, every entry mode 0644,
 * owner 0, the same mtime, and no time in the gzip header, so the same inputs give the same
 * bytes. 0, or -1 and err. */
int mp_barchive_build(const mp_barchive_build_opts *o, FILE *out, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
