/* replay_main.c: runs a fuzz harness without libFuzzer, once over each input named on the command
 * line (files, or directories of files, in the order given; a directory's files in name order).
 * tests/e2e/fuzz_replay.sh links it with each harness so that `make test` replays the committed
 * corpora of tests/fuzz/corpus/ and a bug found by fuzzing stays fixed. docs/testing.md. */
#include "fuzzutil.h"

#include <dirent.h>
#include <sys/stat.h>

static unsigned long replayed;

static void replay_file(const char *path)
{
	size_t len;
	char *data = fuzz_read_file(path, &len);
	if (!data) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		exit(2);
	}
	/* Printed before the run, so that the last line names the input when one crashes. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	replayed++;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: no such file or directory\n", path);
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		replay_file(path);
		return;
	}
	struct dirent **names;
	int n = scandir(path, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "replay: %s: cannot list\n", path);
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];
		if (names[i]->d_name[0] != '.' && snprintf(sub, sizeof(sub), "%s/%s", path,
		                                           names[i]->d_name) < (int)sizeof(sub)) {
			if (stat(sub, &st) == 0 && S_ISREG(st.st_mode))
				replay_file(sub);
		}
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		replay(argv[i]);
	printf("replayed %lu inputs\n", replayed);
	return 0;
}
