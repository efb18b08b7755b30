/* test_filewatch.c: engine/filewatch.c in a temporary directory: files written in place, written
 * by rename, created, deleted; new and dot directories; a model directory that counts YAML only;
 * a model file behind a symbolic link that is swapped; a bundle directory renamed over; the
 * debounce; errors. Each test waits for the watcher's descriptor with a generous bound (10 s) and
 * never times anything else: what must NOT count is written before a sentinel that must, and the
 * changes must then be the sentinel alone (inotify keeps the order of events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "filewatch.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 10000 /* the bound: only a machine that is stuck takes this long */

static char root[256];

static const char *at(const char *rel)
{
	static char bufs[4][PATH_MAX];
	static int k;
	char *b = bufs[k++ % 4];
	if (snprintf(b, PATH_MAX, "%s/%s", root, rel) >= PATH_MAX)
		fail_msg("path too long");
	return b;
}

static void write_file(const char *rel, const char *text)
{
	FILE *f = fopen(at(rel), "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* As editors do: a new file beside the old, renamed over it. */
static void write_by_rename(const char *rel, const char *tmp, const char *text)
{
	write_file(tmp, text);
	assert_int_equal(rename(at(tmp), at(rel)), 0);
}

static int setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/meshpol-watch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		return -1;
	/* bundle/{rbac.lua, sub/more.lua, .git/HEAD}, model/{a.yaml, notes.txt}, mesh-v1.yaml,
	 * mesh-v2.yaml, mesh.yaml -> mesh-v1.yaml */
	if (mkdir(at("bundle"), 0755) || mkdir(at("bundle/sub"), 0755) ||
	    mkdir(at("bundle/.git"), 0755) || mkdir(at("model"), 0755))
		return -1;
	write_file("bundle/rbac.lua", "-- v1\n");
	write_file("bundle/sub/more.lua", "-- v1\n");
	write_file("bundle/.git/HEAD", "ref\n");
	write_file("model/a.yaml", "a: 1\n");
	write_file("model/notes.txt", "notes\n");
	write_file("mesh-v1.yaml", "v: 1\n");
	write_file("mesh-v2.yaml", "v: 2\n");
	return symlink("mesh-v1.yaml", at("mesh.yaml"));
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static mp_filewatch *watcher(unsigned debounce_ms)
{
	char err[512];
	mp_filewatch *w = mp_filewatch_new(debounce_ms, err, sizeof(err));
	if (!w)
		print_error("%s\n", err);
	assert_non_null(w);
	return w;
}

static void watch(mp_filewatch *w, const char *rel, int tag)
{
	char err[512];
	int rc = mp_filewatch_add(w, at(rel), tag, err, sizeof(err));
	if (rc < 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
}

/* Reads events until a burst is due; fails after WAIT_MS. Returns the changes. */
static uint32_t wait_burst(mp_filewatch *w, const char *const **paths, int *tags)
{
	for (int waited = 0; waited < WAIT_MS; waited += 10) {
		struct pollfd p = {mp_filewatch_fd(w), POLLIN, 0};
		int ms = mp_filewatch_wait_ms(w);
		if (ms == 0)
			return mp_filewatch_changes(w, paths, tags);
		if (poll(&p, 1, ms > 0 && ms < 10 ? ms : 10) > 0)
			mp_filewatch_read(w);
	}
	fail_msg("no change seen in %d ms", WAIT_MS);
	return 0;
}

/* The burst must be exactly these paths (relative to root), in any order, with these tags. */
static void expect(mp_filewatch *w, int want_tags, const char *const *want, size_t nwant)
{
	const char *const *paths;
	int tags;
	uint32_t n = wait_burst(w, &paths, &tags);
	int ok = n == nwant && tags == want_tags;
	for (size_t i = 0; ok && i < nwant; i++) {
		int found = 0;
		for (uint32_t k = 0; k < n; k++)
			found |= !strcmp(paths[k], at(want[i]));
		ok = found;
	}
	if (!ok) {
		print_error("want tags %d:", want_tags);
		for (size_t i = 0; i < nwant; i++)
			print_error(" %s", want[i]);
		print_error("\ngot tags %d:", tags);
		for (uint32_t k = 0; k < n; k++)
			print_error(" %s", paths[k]);
		print_error("\n");
	}
	assert_true(ok);
	char err[512];
	int fd = mp_filewatch_fd(w);
	assert_int_equal(mp_filewatch_clear(w, err, sizeof(err)), 0);
	assert_int_equal(mp_filewatch_fd(w), fd);
	assert_int_equal(mp_filewatch_wait_ms(w), -1);
}

/* The burst must include this path, with these tags. */
static void expect_among(mp_filewatch *w, int want_tags, const char *want)
{
	const char *const *paths;
	int tags, found = 0;
	uint32_t n = wait_burst(w, &paths, &tags);
	for (uint32_t k = 0; k < n; k++)
		found |= !strcmp(paths[k], at(want));
	assert_true(found);
	assert_int_equal(tags, want_tags);
	char err[512];
	assert_int_equal(mp_filewatch_clear(w, err, sizeof(err)), 0);
}

#define EXPECT(w, tags, ...)                                                                       \
	do {                                                                                       \
		static const char *const want_[] = {__VA_ARGS__};                                  \
		expect(w, tags, want_, sizeof(want_) / sizeof(want_[0]));                          \
	} while (0)

static void test_bundle_tree(void **state)
{
	(void)state;
	mp_filewatch *w = watcher(0);
	watch(w, "bundle", MP_FILEWATCH_BUNDLE);
	assert_int_equal(mp_filewatch_ndirs(w), 2); /* bundle, bundle/sub; not .git */
	assert_int_equal(mp_filewatch_wait_ms(w), -1);

	write_file("bundle/rbac.lua", "-- v2\n"); /* in place */
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/rbac.lua");

	write_file("bundle/sub/more.lua", "-- v2\n"); /* below */
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/sub/more.lua");

	/* by rename, through a scratch file the watcher ignores */
	write_by_rename("bundle/rbac.lua", "bundle/.rbac.lua.swp", "-- v3\n");
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/rbac.lua");

	/* ignored: dot files, backups, dot directories; then a sentinel */
	write_file("bundle/.hidden.lua", "x");
	write_file("bundle/rbac.lua~", "x");
	write_file("bundle/.git/HEAD", "ref2\n");
	write_file("bundle/new.lua", "-- new\n");
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/new.lua");

	assert_int_equal(unlink(at("bundle/new.lua")), 0); /* deleted */
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/new.lua");

	/* a new directory is watched at once: a file written in it in the same burst counts */
	assert_int_equal(mkdir(at("bundle/later"), 0755), 0);
	write_file("bundle/later/x.lua", "-- x\n");
	const char *const *paths;
	int tags;
	uint32_t n = wait_burst(w, &paths, &tags);
	int dir = 0, file = 0;
	for (uint32_t i = 0; i < n; i++) {
		dir |= !strcmp(paths[i], at("bundle/later"));
		file |= !strcmp(paths[i], at("bundle/later/x.lua"));
	}
	/* the file may have been written before the directory's watch was in place; then the
	 * directory's creation is the change, and the clear below watches it */
	assert_true(dir);
	(void)file;
	char err[512];
	assert_int_equal(mp_filewatch_clear(w, err, sizeof(err)), 0);
	write_file("bundle/later/x.lua", "-- y\n");
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/later/x.lua");
	mp_filewatch_free(w);
}

static void test_model_tree_counts_yaml(void **state)
{
	(void)state;
	mp_filewatch *w = watcher(0);
	watch(w, "model/", MP_FILEWATCH_MODEL); /* a trailing slash is the same path */
	write_file("model/notes.txt", "more notes\n");
	write_file("model/b.yml", "b: 2\n");
	EXPECT(w, MP_FILEWATCH_MODEL, "model/b.yml");
	write_file("model/a.yaml", "a: 2\n");
	EXPECT(w, MP_FILEWATCH_MODEL, "model/a.yaml");
	mp_filewatch_free(w);
}

static void test_model_file_behind_a_link(void **state)
{
	(void)state;
	mp_filewatch *w = watcher(0);
	watch(w, "mesh.yaml", MP_FILEWATCH_MODEL);
	assert_int_equal(mp_filewatch_ndirs(w), 1); /* the file's directory */
	watch(w, "bundle", MP_FILEWATCH_BUNDLE);
	assert_int_equal(mp_filewatch_ndirs(w), 3); /* and bundle, bundle/sub */
	/* the file the link leads to, edited in place: seen as the path given */
	write_file("mesh-v1.yaml", "v: 1.1\n");
	EXPECT(w, MP_FILEWATCH_MODEL, "mesh.yaml");

	/* the link swapped as deploy tools do: a new link renamed over the old */
	assert_int_equal(symlink("mesh-v2.yaml", at("mesh.yaml.tmp")), 0);
	assert_int_equal(rename(at("mesh.yaml.tmp"), at("mesh.yaml")), 0);
	EXPECT(w, MP_FILEWATCH_MODEL, "mesh.yaml");

	/* now the watch follows the new target, not the old */
	write_file("mesh-v1.yaml", "v: 1.2\n");
	write_file("mesh-v2.yaml", "v: 2.1\n");
	EXPECT(w, MP_FILEWATCH_MODEL, "mesh.yaml");
	write_file("mesh-v1.yaml", "v: 1.3\n");
	write_file("bundle/rbac.lua", "-- sentinel\n");
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/rbac.lua");

	/* both kinds in one burst */
	write_file("mesh-v2.yaml", "v: 2.2\n");
	write_file("bundle/rbac.lua", "-- both\n");
	EXPECT(w, MP_FILEWATCH_MODEL | MP_FILEWATCH_BUNDLE, "mesh.yaml", "bundle/rbac.lua");
	mp_filewatch_free(w);
}

static void test_bundle_renamed_over(void **state)
{
	(void)state;
	mp_filewatch *w = watcher(0);
	watch(w, "bundle", MP_FILEWATCH_BUNDLE);
	assert_int_equal(mkdir(at("bundle.new"), 0755), 0);
	write_file("bundle.new/rbac.lua", "-- new tree\n");
	/* mv -T bundle bundle.old && mv -T bundle.new bundle */
	assert_int_equal(rename(at("bundle"), at("bundle.old")), 0);
	assert_int_equal(rename(at("bundle.new"), at("bundle")), 0);
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle");

	/* the new tree is watched, the old one no longer */
	write_file("bundle.old/rbac.lua", "-- old tree\n");
	write_file("bundle/rbac.lua", "-- new tree, edited\n");
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/rbac.lua");

	/* the whole tree deleted (its files are changes too), then made again */
	char cmd[PATH_MAX + 16];
	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", at("bundle")) >= (int)sizeof(cmd))
		fail_msg("path too long");
	assert_int_equal(system(cmd), 0);
	expect_among(w, MP_FILEWATCH_BUNDLE, "bundle");
	assert_int_equal(mkdir(at("bundle"), 0755), 0);
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle");
	write_file("bundle/rbac.lua", "-- back\n");
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/rbac.lua");
	mp_filewatch_free(w);
}

/* A burst is due once quiet for the debounce time: asked right after a change, the wait is
 * within the debounce (no lower bound is asserted: the machine may be slow). */
static void test_debounce(void **state)
{
	(void)state;
	mp_filewatch *w = watcher(300);
	watch(w, "bundle", MP_FILEWATCH_BUNDLE);
	write_file("bundle/rbac.lua", "-- debounce\n");
	struct pollfd p = {mp_filewatch_fd(w), POLLIN, 0};
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_true(mp_filewatch_read(w) >= 1);
	int ms = mp_filewatch_wait_ms(w);
	assert_true(ms >= 0 && ms <= 300);
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/rbac.lua");
	mp_filewatch_free(w);
}

static void test_errors(void **state)
{
	(void)state;
	char err[512], want[PATH_MAX + 64];
	mp_filewatch *w = watcher(0);
	assert_int_equal(mp_filewatch_add(w, at("missing"), MP_FILEWATCH_BUNDLE, err, sizeof(err)),
	                 -1);
	if (snprintf(want, sizeof(want), "cannot watch %s: %s", at("missing"), strerror(ENOENT)) >=
	    (int)sizeof(want))
		fail_msg("path too long");
	assert_string_equal(err, want);
	assert_int_equal(mp_filewatch_ndirs(w), 0);
	/* the watcher still works */
	watch(w, "bundle", MP_FILEWATCH_BUNDLE);
	write_file("bundle/rbac.lua", "-- after an error\n");
	EXPECT(w, MP_FILEWATCH_BUNDLE, "bundle/rbac.lua");
	mp_filewatch_free(w);
	mp_filewatch_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bundle_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_model_tree_counts_yaml, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_model_file_behind_a_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bundle_renamed_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_debounce, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
