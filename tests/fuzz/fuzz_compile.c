/* fuzz_compile.c: libFuzzer harness: any bytes as a YAML document stream through
 * mp_compile_string, diagnostics printed (to /dev/null), and every model that compiles saved as
 * .mpm and loaded back, which must give the same content hash. docs/testing.md, "Fuzzing". */
#include "compile.h"
#include "fuzzutil.h"

static FILE *devnull;
static char stream_name[1024], mpm_path[1024];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Named as if it sat beside the Acme example, so `pem: certs/...` resolves as it does
	 * there and the PEM reader is reached. */
	fuzz_path(stream_name, sizeof(stream_name), "examples/acme/fuzz.yaml");
	fuzz_tmp_path(mpm_path, sizeof(mpm_path), "fuzz.mpm");
	if (!(devnull = fopen("/dev/null", "w")))
		fuzz_die("/dev/null");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_diags d = {0};
	mp_model *m = mp_compile_string(stream_name, (const char *)data, size, &d);
	mp_diags_print(&d, devnull);
	/* A model is returned exactly when no error was reported. */
	if ((m != NULL) != (d.errors == 0)) {
		fprintf(stderr, "compile returned %s with %u errors\n", m ? "a model" : "NULL",
		        d.errors);
		abort();
	}
	if (m) {
		char err[512];
		if (mp_model_save(m, mpm_path, err, sizeof(err)) < 0)
			fuzz_die(err);
		mp_model *back = mp_model_load(mpm_path, err, sizeof(err));
		if (!back) {
			fprintf(stderr, "a compiled model does not load back: %s\n", err);
			abort();
		}
		if (strcmp(mp_model_sha256(m), mp_model_sha256(back)) != 0) {
			fprintf(stderr, "hash changed by save and load: %s, then %s\n",
			        mp_model_sha256(m), mp_model_sha256(back));
			abort();
		}
		mp_model_free(back);
	}
	mp_model_free(m);
	mp_diags_free(&d);
	return 0;
}
