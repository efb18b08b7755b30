/* bundle_cmd.c: `meshpol bundle build|verify|inspect`: a policy bundle as one signed archive,
 * checked and shown (engine/include/barchive.h). Reference: docs/cli.md, docs/bundles.md. */
#include "alloc.h"
#include "barchive.h"
#include "cli.h"
#include "compile.h"
#include "files.h"
#include "trail.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bundle_build(int argc, char **argv);
static int bundle_verify(int argc, char **argv);
static int bundle_inspect(int argc, char **argv);

enum { O_SIGN_KEY = 256, O_REVISION, O_PUBKEY, O_FORMAT, O_NO_DECLS };
static const mp_option build_options[] = {
    {'p', 'p', "policies", "DIR", "the policy bundle's directory", NULL, MP_OPT_DIR},
    MP_CLI_MODEL_OPTION,
    {'o', 'o', "output", "BUNDLE.tar.gz", "the archive to write, replaced whole", NULL,
     MP_OPT_FILE},
    {O_SIGN_KEY, 0, "sign-key", "KEY.pem", "sign the archive with this Ed25519 key", NULL,
     MP_OPT_FILE},
    {O_REVISION, 0, "revision", "R", "the revision the manifest names (a Git commit, a tag)", NULL,
     0},
    {O_NO_DECLS, 0, "no-declarations", NULL,
     "leave out the compiled declarations: every policy file runs at load", NULL, 0},
    {0},
};
static const mp_option verify_options[] = {
    {O_PUBKEY, 0, "pubkey", "PUB.pem", "the archive must be signed by this Ed25519 key", NULL,
     MP_OPT_FILE},
    {0},
};
static const char *const inspect_formats[] = {"text", "json", NULL};
static const mp_option inspect_options[] = {
    {O_FORMAT, 0, "format", "FORMAT", "how to show it (default text)", inspect_formats, 0},
    {0},
};

/* One row per subcommand, checked like the verbs. */
static const mp_verb subcommands[] = {
    {"bundle build", bundle_build, 0, 0,
     "bundle build -p DIR [-m MODEL] -o BUNDLE.tar.gz [--sign-key KEY.pem] [--revision R] "
     "[--no-declarations]",
     "write a bundle directory as one archive: its files, a manifest, the model, a signature",
     build_options, "none", NULL},
    {"bundle verify", bundle_verify, 1, 1, "bundle verify BUNDLE.tar.gz [--pubkey PUB.pem]",
     "check an archive's files against its manifest and its signature (exit 0 intact, 1 not)",
     verify_options, NULL, NULL},
    {"bundle inspect", bundle_inspect, 1, 1, "bundle inspect BUNDLE.tar.gz [--format text|json]",
     "show what an archive holds: manifest, policies, files, model and who signed it",
     inspect_options, NULL, NULL},
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

const mp_verb *mp_bundle_subcommands(size_t *n)
{
	*n = NSUBCOMMANDS;
	return subcommands;
}

/* The model's .mpm bytes (malloc'd), as mp_model_save would write them. */
static char *model_bytes(const mp_model *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	int rc = mp_model_write(m, f);
	if (fclose(f) != 0 || rc < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int bundle_build(int argc, char **argv)
{
	const mp_verb *v = &subcommands[0];
	mp_barchive_build_opts bo = {0};
	const char *dir = NULL, *model = NULL, *out = NULL;
	char hint[PATH_MAX], err[1024], key_id[65] = "";
	mp_cli_parser p = {0};
	mp_diags d = {0};
	mp_model *m = NULL;
	mp_bundle *b = NULL;
	mp_out *o = NULL;
	char *mpm = NULL;
	void *decls = NULL;
	int c, rc, with_decls = 1;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == 'p')
			dir = optarg;
		else if (c == 'm')
			model = optarg;
		else if (c == 'o')
			out = optarg;
		else if (c == O_SIGN_KEY)
			bo.sign_key = optarg;
		else if (c == O_REVISION)
			bo.revision = optarg;
		else if (c == O_NO_DECLS)
			with_decls = 0;
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!dir || !out)
		return mp_cli_usage_error(v, "-p DIR and -o BUNDLE.tar.gz are required");
	if (bo.revision && !*bo.revision)
		return mp_cli_usage_error(v, "--revision is empty");
	const char *check_model = model;
	if (!check_model && mp_bundle_model_hint(dir, hint, sizeof(hint)) == 0)
		check_model = hint;
	if (!check_model)
		return mp_cli_usage_error(
		    v,
		    "no model to check the bundle against: give -m MODEL or set 'model' in "
		    "%s/bundle.yaml",
		    dir);
	rc = MP_EXIT_USAGE;
	if (bo.sign_key && mp_barchive_sign_key_id(bo.sign_key, key_id, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		goto out;
	}
	/* the whole bundle loads against the model before anything is written */
	if (!(m = mp_model_open(check_model, &d)) || !(b = mp_bundle_load(dir, m, NULL, &d))) {
		mp_diags_print(&d, stderr);
		fprintf(stderr, "meshpol %s: %s: %u error%s\n", v->name, dir, d.errors,
		        d.errors == 1 ? "" : "s");
		goto out;
	}
	bo.bundle = b;
	if (with_decls && mp_bundle_declarations(b, NULL, &decls, &bo.decls_len, &d) < 0) {
		mp_diags_print(&d, stderr);
		rc = MP_EXIT_FAIL;
		goto out;
	}
	bo.decls = decls;
	if (model) { /* -m: the model goes in the archive too */
		if (!(mpm = model_bytes(m, &bo.model_len))) {
			fprintf(stderr, "meshpol %s: %s: cannot encode the model\n", v->name,
			        model);
			rc = MP_EXIT_FAIL;
			goto out;
		}
		bo.model = mpm;
		bo.model_sha256 = mp_model_sha256(m);
	}
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	bo.mtime = epoch ? strtoll(epoch, NULL, 10) : 0;
	if (!(o = mp_out_open(out, 0644, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		goto out;
	}
	rc = MP_EXIT_FAIL;
	if (mp_barchive_build(&bo, mp_out_file(o), err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol %s: %s: %s\n", v->name, out, err);
		goto out;
	}
	int committed = mp_out_commit(o, err, sizeof(err));
	o = NULL;
	if (committed < 0) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		goto out;
	}
	/* the archive may be going to stdout: then the summary goes to stderr */
	FILE *say = !strcmp(out, "-") || !strcmp(out, "/dev/stdout") ? stderr : stdout;
	fprintf(say, "%s: %s revision %s: %u polic%s, %u files%s; bundle sha256 %s\n", out, b->name,
	        bo.revision ? bo.revision : b->revision, b->npolicies,
	        b->npolicies == 1 ? "y" : "ies", b->nfiles, model ? ", the model" : "", b->sha256);
	if (bo.sign_key)
		fprintf(say, "%s: signed by key_id %s\n", out, key_id);
	rc = MP_EXIT_OK;
out:
	mp_out_discard(o);
	free(mpm);
	mp_free(decls);
	mp_bundle_free(b);
	mp_model_free(m);
	mp_diags_free(&d);
	return rc;
}

/* Reads the archive at path: MP_EXIT_USAGE when the file cannot be read (the reason on
 * stderr), MP_EXIT_FAIL when what is in it is not a bundle archive (each reason on stdout, as
 * verify reports what it found); else MP_EXIT_OK and *out. */
static int read_archive(const char *path, mp_barchive **out)
{
	mp_diags d = {0};
	char *data;
	size_t len;
	int rc = MP_EXIT_USAGE;
	*out = NULL;
	if (mp_files_read(path, MP_BARCHIVE_MAX_ARCHIVE, &data, &len, &d) < 0) {
		mp_diags_print(&d, stderr);
		goto out;
	}
	rc = MP_EXIT_OK;
	if (!(*out = mp_barchive_read(path, data, len, NULL, &d))) {
		for (uint32_t i = 0; i < d.n; i++)
			printf("%s: NOT A VALID BUNDLE: %s\n", path, d.v[i].msg);
		rc = MP_EXIT_FAIL;
	}
	mp_free(data);
out:
	mp_diags_free(&d);
	return rc;
}

static int bundle_verify(int argc, char **argv)
{
	const mp_verb *v = &subcommands[1];
	const char *pubkey = NULL;
	char err[512], key_id[65];
	mp_cli_parser p = {0};
	mp_diags d = {0};
	mp_barchive *a = NULL;
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == O_PUBKEY)
			pubkey = optarg;
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	const char *path = argv[optind];
	if (pubkey && mp_trail_key_id(pubkey, key_id, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		return MP_EXIT_USAGE;
	}
	if ((rc = read_archive(path, &a)) != MP_EXIT_OK)
		return rc;
	if (mp_barchive_check(a, pubkey, &d) < 0) {
		for (uint32_t i = 0; i < d.n; i++)
			printf("%s: TAMPERED: %s\n", path, d.v[i].msg);
		rc = MP_EXIT_FAIL;
		goto out;
	}
	if (!a->manifest) {
		printf("%s: intact as far as it goes: a plain archive of %u files, no manifest and "
		       "no signature to check it against\n",
		       path, a->nfiles);
		goto out;
	}
	printf("%s: intact: %s revision %s, %u files%s; bundle sha256 %s\n", path, a->name,
	       a->revision, a->nfiles, a->model ? " and a model" : "", a->bundle_sha256);
	if (!a->signature)
		printf("%s: unsigned\n", path);
	else if (pubkey)
		printf("%s: signed by key_id %s, the given key\n", path, a->key_id);
	else
		printf("%s: signed by key_id %s (the key it carries; give --pubkey to require "
		       "yours)\n",
		       path, a->key_id);
out:
	mp_barchive_free(a);
	mp_diags_free(&d);
	return rc;
}

/* The archive as JSON: manifest (as written), signer, files, problems. */
static json_t *inspect_json(const mp_barchive *a, const mp_diags *problems)
{
	json_t *o = json_object(), *files = json_array(), *errs = json_array();
	json_t *manifest = a->manifest ? json_loadb(a->manifest, a->manifest_len, 0, NULL) : NULL;
	for (uint32_t i = 0; i < a->nfiles; i++)
		json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "path", a->files[i].path,
		                                       "size", (json_int_t)a->files[i].len,
		                                       "sha256", a->files[i].sha256));
	for (uint32_t i = 0; i < problems->n; i++)
		json_array_append_new(errs, json_string(problems->v[i].msg));
	json_object_set_new(o, "archive", json_string(a->label));
	json_object_set_new(o, "intact", json_boolean(problems->errors == 0));
	json_object_set_new(o, "manifest", manifest ? manifest : json_null());
	json_object_set_new(
	    o, "signature",
	    a->signature ? json_pack("{s:s, s:s}", "algorithm", "ed25519", "key_id", a->key_id)
	                 : json_null());
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "skipped", json_integer(a->nskipped));
	json_object_set_new(o, "problems", errs);
	return o;
}

static void inspect_text(const mp_barchive *a, const mp_diags *problems)
{
	printf("%s\n", a->label);
	if (a->manifest) {
		printf("  name:          %s\n  revision:      %s\n  bundle sha256: %s\n", a->name,
		       a->revision, a->bundle_sha256);
	} else {
		printf("  manifest:      none (a plain archive of a bundle directory)\n");
	}
	if (a->signature)
		printf("  signed:        ed25519, key_id %s\n", a->key_id);
	else
		printf("  signed:        no\n");
	if (a->model)
		printf("  model:         %s, %zu bytes%s%s\n", MP_BARCHIVE_MODEL, a->model_len,
		       a->listed_model_hash ? ", model sha256 " : "",
		       a->listed_model_hash ? a->listed_model_hash : "");
	else
		printf("  model:         none\n");
	if (a->decls) {
		int64_t n = mp_bundle_declarations_count(a->decls, a->decls_len);
		if (n < 0)
			printf("  declarations:  %s, %zu bytes, in another format\n",
			       MP_BARCHIVE_DECLS, a->decls_len);
		else
			printf("  declarations:  %s, %zu bytes, of %lld policy file%s\n",
			       MP_BARCHIVE_DECLS, a->decls_len, (long long)n, n == 1 ? "" : "s");
	}
	if (a->manifest) {
		printf("  policies:      %u\n", a->npolicies);
		for (uint32_t i = 0; i < a->npolicies; i++)
			printf("    %s %s\n", a->policies[i].name, a->policies[i].version);
	}
	printf("  files:         %u%s\n", a->nfiles,
	       a->nskipped ? " (and hidden files left out, as a directory's walk would)" : "");
	for (uint32_t i = 0; i < a->nfiles; i++)
		printf("    %8zu  %.12s  %s\n", a->files[i].len, a->files[i].sha256,
		       a->files[i].path);
	for (uint32_t i = 0; i < problems->n; i++)
		printf("%s: TAMPERED: %s\n", a->label, problems->v[i].msg);
}

static int bundle_inspect(int argc, char **argv)
{
	const mp_verb *v = &subcommands[2];
	int json = 0, c, rc;
	mp_cli_parser p = {0};
	mp_diags d = {0};
	mp_barchive *a = NULL;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		if (c == O_FORMAT) /* the table checked the word */
			json = !strcmp(optarg, "json");
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if ((rc = read_archive(argv[optind], &a)) != MP_EXIT_OK)
		return rc;
	rc = mp_barchive_check(a, NULL, &d) < 0 ? MP_EXIT_FAIL : MP_EXIT_OK;
	if (json) {
		json_t *o = inspect_json(a, &d);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		inspect_text(a, &d);
	}
	mp_barchive_free(a);
	mp_diags_free(&d);
	return rc;
}
