/* test_policy_files.c: engine/policy_files.c and the skip set of engine/policy.c: bundles from a
 * directory plus in-memory policy files (mp_bundle_load_source): where an in-memory file loads,
 * its locations and errors under the name it was given, the declarations it replaces for every
 * word that can be replaced, a bundle read before used again, a bundle with no directory, the
 * rules every in-memory file must keep (hostile names, sizes, NUL bytes, bad skips), and out of
 * memory at every allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "alloc.h"
#include "compile.h"
#include "decide.h"
#include "policy.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char manifest[] = "name: t\nrevision: r1\n";

#define HEAD(p) "policy \"" p "\" { version = \"1.0.0\", kind = \"rbac\" }\n"
#define MEM     HEAD("m")

/* A bundle written by write_bundle_dir (testutil.h); the test fails when it cannot be. */
#define BUNDLE(...) must(write_bundle_dir(manifest, __VA_ARGS__, NULL))

static char *must(char *dir)
{
	assert_non_null(dir);
	return dir;
}

static void unbundle(const char *dir)
{
	assert_int_equal(remove_bundle_dir(dir), 0);
}

/* Loads src against model; returns the bundle, or NULL with the diagnostics as text in *errs
 * (free()). */
static mp_bundle *load(const mp_bundle_source *src, const mp_model *model, char **errs)
{
	mp_diags d = {0};
	mp_bundle *b = mp_bundle_load_source(src, model, NULL, &d);
	*errs = diags_text(&d);
	if (b && d.errors) {
		print_error("errors with a bundle: %s", *errs);
		fail();
	}
	mp_diags_free(&d);
	return b;
}

static const mp_rule *rule_named(const mp_bundle *b, const char *policy, const char *name)
{
	for (uint32_t i = 0; i < b->nrules; i++)
		if (!strcmp(b->rules[i].name, name) &&
		    !strcmp(b->policies[b->rules[i].policy].name, policy))
			return &b->rules[i];
	return NULL;
}

/* An in-memory file loads where a file of its name at the top of the directory would: in the
 * walk's order, after a directory whose name sorts before it; its locations, its policy's file
 * and the hash use its name. */
static void test_in_memory_file(void **state)
{
	mp_model *model = *state;
	char *errs, want[512];
	char *dir = BUNDLE("a.lua", HEAD("a") "allow \"x\" { service = \"shop/web\" }\n", "c.lua",
	                   HEAD("c"), "sub/d.lua", HEAD("d"));
	mp_bundle_text files[] = {
	    {"z.lua", HEAD("z"), strlen(HEAD("z"))},
	    {"sub.lua", HEAD("s"), strlen(HEAD("s"))},
	    {"b.lua", MEM "\nallow \"y\" { service = \"shop/web\" }\n",
	     strlen(MEM "\nallow \"y\" { service = \"shop/web\" }\n")},
	};
	mp_bundle_source src = {.dir = dir, .files = files, .nfiles = 3};
	mp_bundle *b = load(&src, model, &errs);
	assert_non_null(b);
	free(errs);
	const char *order[] = {"a.lua", "b.lua", "c.lua", "sub/d.lua", "sub.lua", "z.lua"};
	assert_int_equal(b->npolicy_files, 6);
	for (uint32_t i = 0; i < 6; i++)
		assert_string_equal(b->files[i].rel, order[i]);
	assert_string_equal(b->files[1].path, "b.lua");
	assert_int_equal(b->files[1].in_memory, 2);
	assert_int_equal(b->files[0].in_memory, -1);
	assert_string_equal(b->files[6].rel, "bundle.yaml"); /* then the rest */
	assert_string_equal(rule_named(b, "m", "y")->loc, "b.lua:3");
	snprintf(want, sizeof(want), "%s/a.lua:2", dir);
	assert_string_equal(rule_named(b, "a", "x")->loc, want);
	assert_string_equal(b->policies[1].file, "b.lua");
	assert_string_equal(b->revision, "r1");

	/* the hash covers the in-memory files: the same inputs give the same hash, others not */
	char sha[65];
	snprintf(sha, sizeof(sha), "%s", b->sha256);
	mp_bundle_free(b);
	assert_non_null(b = load(&src, model, &errs));
	free(errs);
	assert_string_equal(b->sha256, sha);
	mp_bundle_free(b);
	files[0].text = HEAD("z") "-- changed\n";
	files[0].len = strlen(files[0].text);
	assert_non_null(b = load(&src, model, &errs));
	free(errs);
	assert_string_not_equal(b->sha256, sha);
	mp_bundle_free(b);
	src.nfiles = 0;
	assert_non_null(b = load(&src, model, &errs));
	free(errs);
	assert_string_not_equal(b->sha256, sha);
	assert_int_equal(b->npolicy_files, 3);
	mp_bundle_free(b);
	unbundle(dir);
}

/* An in-memory file's errors, from Lua and from the compiler, name it and its line. */
static void test_in_memory_errors(void **state)
{
	mp_model *model = *state;
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {MEM "\nallow \"x\" {\n", "shell.lua:4: unexpected symbol near <eof>\n"},
	    {MEM "allow \"x\" { service = \"shop/web\", methds = {} }\n",
	     "shell.lua:2: allow 'x': unknown field 'methds' (did you mean 'methods'?)\n"},
	    {MEM "local t = nil\nprint(t.x)\n",
	     "shell.lua:3: attempt to index a nil value (local 't')\n"},
	    {MEM "deny(42)\n",
	     "shell.lua:2: deny: expected a name in quotes, as in deny \"name\" { "
	     "... }\n"},
	};
	char *dir = BUNDLE("a.lua", HEAD("a"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *errs;
		mp_bundle_text f = {"shell.lua", cases[i].text, strlen(cases[i].text)};
		mp_bundle_source src = {.dir = dir, .files = &f, .nfiles = 1};
		assert_null(load(&src, model, &errs));
		if (strcmp(errs, cases[i].want))
			print_error("case %zu: want %sgot %s", i, cases[i].want, errs);
		assert_string_equal(errs, cases[i].want);
		free(errs);
	}
	unbundle(dir);
}

/* One row per word a declaration can replace: the directory's declaration, the in-memory
 * file's that replaces it, and the error without the skip when the name is the bundle's (a
 * role), else NULL (rules and checks are named per policy: both are kept). */
static const struct {
	const char *word, *dir_decl, *mem_decl, *dup;
} words[] = {
    {"allow", "allow \"x\" { service = \"shop/web\" }\n",
     "allow \"x\" { service = \"billing/pay\" }\n", NULL},
    {"deny", "deny \"x\" { service = \"shop/web\" }\n",
     "deny \"x\" { service = \"billing/pay\" }\n", NULL},
    {"residency", "residency \"x\" { data = \"pii\", stay_in = \"EU\" }\n",
     "residency \"x\" { data = \"pci\", stay_in = \"EU\" }\n", NULL},
    {"require_mtls", "require_mtls \"x\" {}\n", "require_mtls \"x\" { message = \"m\" }\n", NULL},
    {"declared_routes_only", "declared_routes_only \"x\" {}\n",
     "declared_routes_only \"x\" { message = \"m\" }\n", NULL},
    {"role",
     "role \"x\" { allow { service = \"shop/web\" } }\nbind \"x\" { services = { "
     "\"shop/web\" } }\n",
     "role \"x\" { allow { service = \"billing/pay\" } }\n", "mem.lua:2: duplicate role 'x'"},
    {"check", "check \"x\" { run = function() end }\n",
     "check \"x\" { description = \"m\", run = function() end }\n", NULL},
};

/* Where the declaration named x of a row's word ended up: its location, or NULL. */
static const char *declared_at(const mp_bundle *b, const char *word)
{
	if (!strcmp(word, "role")) {
		for (uint32_t i = 0; i < b->nroles; i++)
			if (!strcmp(b->roles[i].name, "x"))
				return b->roles[i].loc;
		return NULL;
	}
	if (!strcmp(word, "check")) {
		for (uint32_t i = 0; i < b->nchecks; i++)
			if (!strcmp(b->checks[i].name, "x"))
				return b->checks[i].loc;
		return NULL;
	}
	for (uint32_t i = 0; i < b->nrules; i++)
		if (!strcmp(b->rules[i].name, "x") && !b->rules[i].via)
			return b->rules[i].loc;
	return NULL;
}

/* Counts the declarations named x of a row's word. */
static uint32_t declared(const mp_bundle *b, const char *word)
{
	uint32_t n = 0;
	if (!strcmp(word, "role")) {
		for (uint32_t i = 0; i < b->nroles; i++)
			n += !strcmp(b->roles[i].name, "x");
	} else if (!strcmp(word, "check")) {
		for (uint32_t i = 0; i < b->nchecks; i++)
			n += !strcmp(b->checks[i].name, "x");
	} else {
		for (uint32_t i = 0; i < b->nrules; i++)
			n += !strcmp(b->rules[i].name, "x") && !b->rules[i].via;
	}
	return n;
}

/* A skip leaves the directory's declaration out for every word that can be replaced; without it
 * both are there (another policy may use the name). The replacement is located in memory, and
 * an engine over it (which runs the files again in its own state, with the same skips) builds. */
static void test_skip_each_word(void **state)
{
	mp_model *model = *state;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		char text[512], dtext[512], *errs;
		snprintf(dtext, sizeof(dtext), "%s%s", HEAD("a"), words[i].dir_decl);
		snprintf(text, sizeof(text), "%s%s", MEM, words[i].mem_decl);
		char *dir = BUNDLE("a.lua", dtext);
		mp_bundle_text f = {"mem.lua", text, strlen(text)};
		mp_bundle_skip skip = {words[i].word, "x", 0, 2};
		mp_bundle_source src = {.dir = dir, .files = &f, .nfiles = 1};

		mp_bundle *b = load(&src, model, &errs);
		if (words[i].dup) {
			assert_null(b);
			assert_non_null(strstr(errs, words[i].dup));
		} else {
			assert_non_null(b);
			assert_int_equal(declared(b, words[i].word), 2);
		}
		free(errs);
		mp_bundle_free(b);

		src.skips = &skip;
		src.nskips = 1;
		b = load(&src, model, &errs);
		if (!b)
			print_error("%s: %s", words[i].word, errs);
		free(errs);
		assert_non_null(b);
		assert_int_equal(declared(b, words[i].word), 1);
		assert_string_equal(declared_at(b, words[i].word), "mem.lua:2");
		mp_model *m = mp_model_retain(model);
		mp_engine *e = mp_engine_new(m, b);
		assert_non_null(e);
		mp_engine_release(e);
		unbundle(dir);
	}
}

/* In the in-memory file itself a skip reaches only the lines above its own: a later chunk of
 * lines replaces an earlier one's declaration, and two in one chunk are still a duplicate. The
 * engine's evaluator, which binds `when` functions by their declaration, agrees. */
static void test_skip_by_line(void **state)
{
	mp_model *model = *state;
	static const char text[] = MEM
	    "allow \"x\" { service = \"shop/web\", when = function() return false end }\n"
	    "allow \"keep\" { service = \"billing/pay\" }\n"
	    "allow \"x\" { service = \"shop/web\", methods = { \"GET\" }, when = function() return "
	    "true end }\n";
	char *dir = BUNDLE("a.lua", HEAD("a")), *errs;
	mp_bundle_text f = {"mem.lua", text, strlen(text)};
	mp_bundle_skip skip = {"allow", "x", 0, 4};
	mp_bundle_source src = {.dir = dir, .files = &f, .nfiles = 1, .skips = &skip, .nskips = 1};
	mp_bundle *b = load(&src, model, &errs);
	assert_non_null(b);
	free(errs);
	assert_string_equal(rule_named(b, "m", "x")->loc, "mem.lua:4");
	assert_non_null(rule_named(b, "m", "keep"));
	mp_engine *e = mp_engine_new(mp_model_retain(model), b);
	assert_non_null(e);
	mp_request r = {.principal = "spiffe://t/ns/shop/sa/web",
	                .dst_service = "shop/web",
	                .method = "GET",
	                .path = "/"};
	mp_decision out;
	assert_int_equal(decide_once(e, &r, &out), 0);
	/* allowed by line 4's rule and its own `when`, not line 2's */
	assert_string_equal(mp_effect_name(out.effect), "allowed");
	assert_int_equal(out.nreasons, 1);
	assert_string_equal(b->rules[out.reasons[0].rule].loc, "mem.lua:4");
	mp_engine_release(e);

	skip.line = 3; /* the line-2 rule is left out, but the one on line 4 duplicates nothing */
	assert_non_null(b = load(&src, model, &errs));
	free(errs);
	mp_bundle_free(b);
	skip.line = 2; /* both declarations are from line 2 on: a duplicate */
	assert_null(load(&src, model, &errs));
	assert_non_null(strstr(errs,
	                       "mem.lua:4: allow 'x': policy 'm' already has a rule named 'x' "
	                       "(at mem.lua:2)\n"));
	free(errs);
	unbundle(dir);
}

/* A bundle read before is used again as it was: an edit on disk since does not show, its
 * manifest comes from its copy, and its own in-memory files are not taken. */
static void test_files_of(void **state)
{
	mp_model *model = *state;
	char *dir = BUNDLE("a.lua", HEAD("a") "allow \"x\" { service = \"shop/web\" }\n"), *errs;
	mp_bundle_source first = {.dir = dir};
	mp_bundle *disk = load(&first, model, &errs);
	assert_non_null(disk);
	free(errs);
	char path[128];
	snprintf(path, sizeof(path), "%s/a.lua", dir);
	FILE *f = fopen(path, "w");
	fputs(HEAD("a") "syntax error here\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/bundle.yaml", dir);
	f = fopen(path, "w");
	fputs("name: other\nrevision: r2\n", f);
	fclose(f);

	mp_bundle_text mem = {"mem.lua", MEM "allow \"y\" { service = \"shop/web\" }\n",
	                      strlen(MEM "allow \"y\" { service = \"shop/web\" }\n")};
	mp_bundle_source again = {
	    .dir = dir, .files_of = disk, .files = &mem, .nfiles = 1, .revision_suffix = "+shell"};
	mp_bundle *b = load(&again, model, &errs);
	assert_non_null(b);
	free(errs);
	assert_string_equal(b->name, "t");
	assert_string_equal(b->revision, "r1+shell");
	assert_string_equal(b->dir, dir);
	assert_non_null(rule_named(b, "a", "x"));
	assert_non_null(rule_named(b, "m", "y"));

	mp_bundle_source third = {.files_of = b};
	mp_bundle *c = load(&third, model, &errs);
	assert_non_null(c);
	free(errs);
	assert_null(rule_named(c, "m", "y"));
	assert_string_equal(c->sha256, disk->sha256); /* the same files as first read */
	mp_bundle_free(c);
	mp_bundle_free(b);
	mp_bundle_free(disk);

	assert_null(load(&first, model, &errs)); /* the directory itself has changed */
	assert_non_null(strstr(errs, "a.lua:2:"));
	free(errs);
	unbundle(dir);
}

/* Without a directory the bundle is the in-memory files, named by the source; the manifest's
 * `policies` list does not disable an in-memory file's policy. */
static void test_no_directory_and_enabled(void **state)
{
	mp_model *model = *state;
	char *errs;
	mp_bundle_text mem = {"shell.lua", MEM "allow \"y\" { service = \"shop/web\" }\n",
	                      strlen(MEM "allow \"y\" { service = \"shop/web\" }\n")};
	mp_bundle_source src = {.files = &mem, .nfiles = 1, .name = "shell", .revision = "0+shell"};
	mp_bundle *b = load(&src, model, &errs);
	assert_non_null(b);
	free(errs);
	assert_null(b->dir);
	assert_string_equal(b->name, "shell");
	assert_string_equal(b->revision, "0+shell");
	assert_int_equal(b->default_decision, MP_DEFAULT_DENY);
	assert_int_equal(b->nfiles, 1);
	assert_true(b->policies[0].enabled);
	mp_bundle_free(b);

	src.name = NULL;
	assert_null(load(&src, model, &errs));
	assert_string_equal(errs, "a bundle without a directory needs a name and a revision\n");
	free(errs);

	char *dir = must(write_bundle_dir("name: t\nrevision: r1\npolicies: [a]\n", "a.lua",
	                                  HEAD("a"), "b.lua", HEAD("b"), NULL));
	mp_bundle_source both = {.dir = dir, .files = &mem, .nfiles = 1};
	assert_non_null(b = load(&both, model, &errs));
	free(errs);
	for (uint32_t i = 0; i < b->npolicies; i++)
		assert_int_equal(b->policies[i].enabled, strcmp(b->policies[i].name, "b") != 0);
	mp_bundle_free(b);
	unbundle(dir);
}

/* Hostile in-memory files and skips: each is refused with an error that says what is wrong,
 * before any Lua runs. */
static void test_hostile(void **state)
{
	mp_model *model = *state;
	static const struct {
		const char *name, *text;
		size_t len; /* 0: strlen(text) */
		const char *want;
	} cases[] = {
	    {"a/b.lua", MEM, 0, "in-memory policy file 0, 'a/b.lua': the name may not hold '/'"},
	    {"../x.lua", MEM, 0, "in-memory policy file 0, '../x.lua': the name may not hold '/'"},
	    {"..", MEM, 0, "'..': the name may not start with '.'"},
	    {".x.lua", MEM, 0, "'.x.lua': the name may not start with '.'"},
	    {"x:1.lua", MEM, 0, "'x:1.lua': the name may not hold '/', ':'"},
	    {"x\n.lua", MEM, 0, "'x\\x0a.lua': the name may not hold '/', ':' or a control"},
	    {"\xff.lua", MEM, 0, "'\\xff.lua': the name is not UTF-8"},
	    {"", MEM, 0, "'': the name must be 1 to 255 bytes long"},
	    {"x.txt", MEM, 0, "'x.txt': the name must end in \".lua\""},
	    {"x_test.lua", MEM, 0, "'x_test.lua': the name must end in \".lua\", and not in"},
	    {"a.lua", MEM, 0, "'a.lua': the name is taken: the bundle directory has a file"},
	    {"sub.lua", MEM, 0,
	     "'sub.lua': the name is taken: the bundle directory has a file or "
	     "directory"},
	    {"nul.lua", MEM "allow \"x\0\" {}\n", sizeof(MEM) + 12,
	     "nul.lua:2: a NUL byte: a policy file given in memory is text"},
	};
	char *dir = BUNDLE("a.lua", HEAD("a"), "sub.lua/d.lua", HEAD("d"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *errs;
		mp_bundle_text f = {cases[i].name, cases[i].text,
		                    cases[i].len ? cases[i].len : strlen(cases[i].text)};
		mp_bundle_source src = {.dir = dir, .files = &f, .nfiles = 1};
		assert_null(load(&src, model, &errs));
		if (!strstr(errs, cases[i].want))
			print_error("case %zu: want '%s' in: %s", i, cases[i].want, errs);
		assert_non_null(strstr(errs, cases[i].want));
		free(errs);
	}

	char *errs, longname[300];
	memset(longname, 'a', 256);
	strcpy(longname + 256, ".lua");
	mp_bundle_text two[] = {{"m.lua", MEM, strlen(MEM)}, {"m.lua", MEM, strlen(MEM)}};
	mp_bundle_source src = {.dir = dir, .files = two, .nfiles = 2};
	assert_null(load(&src, model, &errs));
	assert_non_null(strstr(errs, "in-memory policy file 1, 'm.lua': the name is given twice"));
	free(errs);
	two[0].name = longname;
	src.nfiles = 1;
	assert_null(load(&src, model, &errs));
	assert_non_null(strstr(errs, "the name must be 1 to 255 bytes long"));
	free(errs);

	/* too large: refused by its length, before anything reads it */
	size_t big = (16u << 20) + 1;
	char *text = malloc(big);
	assert_non_null(text);
	memset(text, '-', big);
	mp_bundle_text huge = {"big.lua", text, big};
	src.files = &huge;
	assert_null(load(&src, model, &errs));
	assert_string_equal(errs,
	                    "big.lua: file is 16777217 bytes, over the 16777216-byte limit for "
	                    "one file (split it)\n");
	free(errs);
	free(text);

	static const struct {
		mp_bundle_skip skip;
		const char *want;
	} skips[] = {
	    {{"policy", "m", 0, 1},
	     "skip 0 ('policy'): not a word whose declarations can be replaced"},
	    {{"bind", "m", 0, 1}, "skip 0 ('bind'): not a word"},
	    {{"allow", NULL, 0, 1}, "skip 0 ('allow'): no name"},
	    {{"allow", "x", 1, 1}, "skip 0 ('allow'): names no in-memory file"},
	    {{"allow", "x", 0, 0}, "skip 0 ('allow'): lines count from 1"},
	};
	mp_bundle_text one = {"m.lua", MEM, strlen(MEM)};
	for (size_t i = 0; i < sizeof(skips) / sizeof(skips[0]); i++) {
		mp_bundle_source s = {
		    .dir = dir, .files = &one, .nfiles = 1, .skips = &skips[i].skip, .nskips = 1};
		assert_null(load(&s, model, &errs));
		if (!strstr(errs, skips[i].want))
			print_error("skip %zu: want '%s' in: %s", i, skips[i].want, errs);
		assert_non_null(strstr(errs, skips[i].want));
		free(errs);
	}
	unbundle(dir);
}

/* Out of memory at each allocation in turn, while the files are read, ordered and checked:
 * an error, never a crash or (under make check) a leak. The last skip is bad, so that every
 * load stops before the sandbox (whose state setup is not written to survive an allocation
 * failure injected there) and the loop ends when the only error left is that skip. */
static void test_out_of_memory(void **state)
{
	mp_model *model = *state;
	char *dir = BUNDLE("a.lua", HEAD("a") "allow \"x\" { service = \"shop/web\" }\n", "t/b.lua",
	                   HEAD("b"));
	static const char text[] = MEM "allow \"x\" { service = \"billing/pay\" }\n";
	mp_bundle_text f[] = {{"mem.lua", text, strlen(text)},
	                      {"b.lua", HEAD("c"), strlen(HEAD("c"))}};
	mp_bundle_skip skips[] = {{"allow", "x", 0, 1}, {"policy", "m", 0, 1}};
	mp_bundle_source src = {.dir = dir, .files = f, .nfiles = 2, .skips = skips, .nskips = 2};
	int done = 0;
	long n;
	for (n = 0; n < 100000 && !done; n++) {
		mp_diags d = {0};
		mp_alloc_fail_after(n);
		mp_bundle *b = mp_bundle_load_source(&src, model, NULL, &d);
		mp_alloc_fail_after(-1);
		assert_null(b);
		assert_true(d.errors > 0);
		done = d.errors == 1 && d.n == 1 && strstr(d.v[0].msg, "skip 1 ('policy')");
		mp_diags_free(&d);
	}
	assert_true(done);
	assert_true(n > 5);
	unbundle(dir);
}

/* A directory given in memory (an archive's files, mp_bundle_source.tree): loaded as the
 * walk of that directory would load it (order, hash, locations, an in-memory file among them),
 * never read from disk; files a walk could not find are refused by name. */
static void test_dir_in_memory(void **state)
{
	mp_model *model = *state;
	char *errs;
	char *dir = BUNDLE("z.lua", HEAD("z"), "a/b.lua", HEAD("b"), "a.lua", HEAD("a"),
	                   "a_test.lua", "-- t\n");
	mp_bundle_source from_disk = {.dir = dir};
	mp_bundle *d = load(&from_disk, model, &errs);
	free(errs);
	assert_non_null(d);
	/* given out of order: the loader takes them in the walk's (a/b.lua before a.lua) */
	const mp_bundle_text files[] = {
	    {"z.lua", HEAD("z"), strlen(HEAD("z"))},
	    {"a.lua", HEAD("a"), strlen(HEAD("a"))},
	    {"a_test.lua", "-- t\n", 5},
	    {"bundle.yaml", manifest, strlen(manifest)},
	    {"a/b.lua", HEAD("b"), strlen(HEAD("b"))},
	};
	const mp_bundle_text mine = {"m.lua", MEM, strlen(MEM)};
	mp_bundle_source src = {
	    .dir = "x.tar.gz", .tree = files, .ntree = 5, .revision_override = "ci-1"};
	mp_bundle *b = load(&src, model, &errs);
	free(errs);
	assert_non_null(b);
	assert_string_equal(b->sha256, d->sha256);
	assert_string_equal(b->revision, "ci-1");
	assert_int_equal(b->npolicy_files, d->npolicy_files);
	for (uint32_t i = 0; i < b->nfiles; i++)
		assert_string_equal(b->files[i].rel, d->files[i].rel);
	assert_string_equal(b->files[0].path, "x.tar.gz/a/b.lua");
	/* a rebuild from it keeps the revision; an in-memory policy file joins as for a directory
	 */
	mp_bundle_source again = {.files_of = b, .files = &mine, .nfiles = 1};
	mp_bundle *c = load(&again, model, &errs);
	free(errs);
	assert_non_null(c);
	assert_string_equal(c->revision, "ci-1");
	assert_int_equal(c->npolicy_files, b->npolicy_files + 1);
	mp_bundle_free(c);
	mp_bundle_free(b);
	mp_bundle_free(d);
	unbundle(dir);

	static const struct {
		const char *name, *want;
	} bad[] = {
	    {"../x.lua", "file '../x.lua' has an empty component or one starting with '.'"},
	    {"/etc/x.lua", "file '/etc/x.lua' is not a path relative to the bundle directory"},
	    {"a//x.lua", "file 'a//x.lua' has an empty component"},
	    {".git/config", "file '.git/config' has an empty component or one starting with '.'"},
	    {"bundle.yaml", "file 'bundle.yaml' is given twice"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const mp_bundle_text two[] = {{"bundle.yaml", manifest, strlen(manifest)},
		                              {bad[i].name, "-- x\n", 5}};
		mp_bundle_source s2 = {.dir = "x.tar.gz", .tree = two, .ntree = 2};
		assert_null(load(&s2, model, &errs));
		if (!strstr(errs, bad[i].want))
			print_error("case %zu: want '%s' in: %s", i, bad[i].want, errs);
		assert_non_null(strstr(errs, bad[i].want));
		free(errs);
	}
	const mp_bundle_text none[] = {{"p.lua", HEAD("p"), strlen(HEAD("p"))}};
	mp_bundle_source s3 = {.dir = "x.tar.gz", .tree = none, .ntree = 1};
	assert_null(load(&s3, model, &errs));
	assert_non_null(strstr(errs, "x.tar.gz/bundle.yaml: the bundle has no manifest"));
	free(errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_memory_file), cmocka_unit_test(test_in_memory_errors),
	    cmocka_unit_test(test_skip_each_word), cmocka_unit_test(test_skip_by_line),
	    cmocka_unit_test(test_files_of),       cmocka_unit_test(test_no_directory_and_enabled),
	    cmocka_unit_test(test_hostile),        cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_dir_in_memory),
	};
	return cmocka_run_group_tests(tests, unit_mesh_setup, unit_mesh_teardown);
}
