/* fuzz_trail.c: libFuzzer harness: any bytes as a compliance trail file, verified without and
 * with the fixtures' public key (mp_trail_verify), then opened for appending (mp_trail_open).
 * When the writer accepts the file, one record and a seal appended to it must leave a trail that
 * verifies as intact: the writer and the verifier read a trail the same way. docs/testing.md. */
#include "fuzzutil.h"
#include "trail.h"

static char trail_path[1024], pubkey_path[1024];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmp_path(trail_path, sizeof(trail_path), "trail.jsonl");
	fuzz_path(pubkey_path, sizeof(pubkey_path), "tests/data/trail/key.pub.pem");
	if (access(pubkey_path, R_OK) != 0)
		fuzz_die(pubkey_path);
	return 0;
}

static int verify(const char *key, mp_trail_report *rep)
{
	char err[512];
	err[0] = '\0';
	int rc = mp_trail_verify(trail_path, key, rep, err, sizeof(err));
	if (rc < -1 || rc > 1 || (rc == -1 && !err[0]) || (rc == 1 && !rep->message[0]) ||
	    (rc == 0 && rep->bad_line)) {
		fprintf(stderr, "mp_trail_verify: rc %d, err '%s', report '%s'\n", rc, err,
		        rep->message);
		abort();
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_trail_report rep;
	char err[512];
	fuzz_write_file(trail_path, data, size);
	int plain = verify(NULL, &rep);
	verify(pubkey_path, &rep);

	mp_trail *t = mp_trail_open(trail_path, NULL, err, sizeof(err));
	if (!t)
		return 0;
	if (plain != 0) {
		fprintf(stderr, "the writer accepts a trail the verifier refuses: %s\n",
		        rep.message);
		abort();
	}
	json_t *content = json_pack("{s:s}", "note", "appended by fuzz_trail");
	if (mp_trail_append_nosync(t, "fuzz", content, err, sizeof(err)) < 0 ||
	    mp_trail_seal(t, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot extend an accepted trail: %s\n", err);
		abort();
	}
	json_decref(content);
	mp_trail_close(t);
	if (verify(NULL, &rep) != 0) {
		fprintf(stderr, "an accepted trail, extended, does not verify: %s\n", rep.message);
		abort();
	}
	return 0;
}
