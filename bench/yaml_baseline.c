/* yaml_baseline.c: the floor for the compile benchmark: libyaml's bare event parse of YAML files.
 * Design: the performance targets of the design brief (compile within 3x of this parse).
 *
 * usage: yaml_baseline [-q] PATH...
 * Each PATH is a file, or a directory read recursively for *.yaml and *.yml in sorted path order
 * (as `meshpol compile` reads them). Every file is parsed with yaml_parser_parse until
 * YAML_STREAM_END_EVENT, each event deleted and nothing else done with it. The elapsed wall time
 * covers walking the directories, opening, reading and parsing; not process start-up.
 * Prints one line: "yaml_baseline files=F bytes=B documents=D events=E elapsed_s=S" (-q: none).
 * Exit codes: 0 ok, 1 a file failed to open or parse (reported as file:line:col), 2 usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <yaml.h>

struct totals {
	unsigned long files, documents, events;
	unsigned long long bytes;
	int failed;
};

static int has_yaml_suffix(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Parses one file to the end of its stream; reports the first error as file:line:col. */
static void parse_file(const char *path, struct totals *t)
{
	yaml_parser_t parser;
	yaml_event_t event;
	FILE *f = fopen(path, "rb");
	int done = 0;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		t->failed = 1;
		return;
	}
	if (!yaml_parser_initialize(&parser)) {
		fprintf(stderr, "%s: cannot initialise the YAML parser\n", path);
		fclose(f);
		t->failed = 1;
		return;
	}
	yaml_parser_set_input_file(&parser, f);
	while (!done) {
		if (!yaml_parser_parse(&parser, &event)) {
			fprintf(stderr, "%s:%lu:%lu: YAML: %s%s%s%s\n", path,
			        (unsigned long)parser.problem_mark.line + 1,
			        (unsigned long)parser.problem_mark.column + 1,
			        parser.problem ? parser.problem : "error",
			        parser.context ? " (" : "", parser.context ? parser.context : "",
			        parser.context ? ")" : "");
			t->failed = 1;
			break;
		}
		t->events++;
		if (event.type == YAML_DOCUMENT_START_EVENT)
			t->documents++;
		done = event.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&event);
	}
	t->bytes += (unsigned long long)ftello(f);
	t->files++;
	yaml_parser_delete(&parser);
	fclose(f);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void walk(const char *path, int top, struct totals *t)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		t->failed = 1;
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		/* A file named on the command line is read whatever its name, as compile does. */
		if (top || has_yaml_suffix(path))
			parse_file(path, t);
		return;
	}

	struct dirent **entries;
	int n = scandir(path, &entries, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		t->failed = 1;
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = entries[i]->d_name;
		if (name[0] != '.') { /* skips ".", ".." and hidden files */
			size_t len = strlen(path) + strlen(name) + 2;
			char *child = malloc(len);
			if (!child) {
				fprintf(stderr, "yaml_baseline: out of memory\n");
				exit(1);
			}
			snprintf(child, len, "%s/%s", path, name);
			walk(child, 0, t);
			free(child);
		}
		free(entries[i]);
	}
	free(entries);
}

int main(int argc, char **argv)
{
	struct totals t = {0};
	struct timespec start, end;
	int quiet = 0, first = 1;

	if (argc > 1 && strcmp(argv[1], "-q") == 0) {
		quiet = 1;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: yaml_baseline [-q] PATH...\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int i = first; i < argc; i++)
		walk(argv[i], 1, &t);
	clock_gettime(CLOCK_MONOTONIC, &end);

	double elapsed = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
	if (!quiet)
		printf(
		    "yaml_baseline files=%lu bytes=%llu documents=%lu events=%lu elapsed_s=%.6f\n",
		    t.files, t.bytes, t.documents, t.events, elapsed);
	return t.failed ? 1 : 0;
}
