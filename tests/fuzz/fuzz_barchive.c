/* fuzz_barchive.c: libFuzzer harness: any bytes as a bundle archive (mp_barchive_read), checked
 * without and with the fixtures' public key (mp_barchive_check), and, when it passes, its model
 * and its bundle loaded against the unit mesh (mp_barchive_model, mp_barchive_bundle). Every
 * refusal must come with an error; every file read must have a safe relative path and the size
 * its data has. docs/bundles.md ("What is refused"), docs/testing.md. */
#include "barchive.h"
#include "compile.h"
#include "fuzzutil.h"
#include "policy.h"

static char pubkey_path[1024];
static mp_model *unit;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char mesh[1024], stdlib_dir[1024];
	mp_diags d = {0};
	(void)argc;
	(void)argv;
	fuzz_path(pubkey_path, sizeof(pubkey_path), "tests/data/bundles/archives/signing.pub.pem");
	fuzz_path(mesh, sizeof(mesh), "tests/data/bundles/unit/mesh.yaml");
	setenv("MESHPOL_STDLIB", fuzz_path(stdlib_dir, sizeof(stdlib_dir), "stdlib"), 1);
	const char *p = mesh;
	if (!(unit = mp_compile(&p, 1, NULL, &d)))
		fuzz_die(mesh);
	mp_diags_free(&d);
	return 0;
}

/* A path the reader kept must be one a walk of a directory could have found. */
static void check_path(const char *p)
{
	if (!*p || p[0] == '/' || strstr(p, "..") == p || strstr(p, "/../") || strstr(p, "//") ||
	    p[strlen(p) - 1] == '/') {
		fprintf(stderr, "unsafe path kept: '%s'\n", p);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_diags d = {0};
	mp_barchive *a = mp_barchive_read("fuzz.tar.gz", data, size, NULL, &d);
	if (!a != (d.errors > 0)) {
		fprintf(stderr, "mp_barchive_read: %s without errors being %s\n",
		        a ? "read" : "refused", a ? "empty" : "said");
		abort();
	}
	for (uint32_t i = 0; a && i < a->nfiles; i++) {
		check_path(a->files[i].path);
		if (a->files[i].data[a->files[i].len] != '\0')
			abort();
	}
	if (a && mp_barchive_check(a, NULL, &d) == 0) {
		mp_barchive_check(a, pubkey_path, &d);
		mp_model *m = a->model ? mp_barchive_model(a, &d) : NULL;
		mp_bundle *b = mp_barchive_bundle(a, m ? m : unit, NULL, &d);
		mp_bundle_free(b);
		mp_model_free(m);
	}
	mp_barchive_free(a);
	mp_diags_free(&d);
	return 0;
}
