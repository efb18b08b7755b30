/* test_compile.c: engine/compile.c: the bad-input fixtures of tests/data/bad (exact
 * file:line:col diagnostics from its EXPECTED file), inline error cases, hostile inputs
 * (deep nesting, binary, huge, empty directory, billion laughs, FIFOs, symbolic links out of
 * the tree) and the duration and time parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compile.h"
#include "scalar.h"
#include "testutil.h"
#include "yamlload.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs every "== FILE exit N" block of tests/data/bad/EXPECTED from inside that directory. */
static void test_fixtures(void **state)
{
	(void)state;
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("tests/data/bad"), 0);
	FILE *f = fopen("EXPECTED", "r");
	assert_non_null(f);
	char line[2048], file[256] = "", want[8192] = "";
	int want_exit = -1, blocks = 0, failures = 0;
	for (int more = 1; more;) {
		more = fgets(line, sizeof(line), f) != NULL;
		if (more && (line[0] == '#' || line[0] == '\n'))
			continue;
		if (!more || !strncmp(line, "== ", 3)) {
			if (file[0]) { /* check the block just read */
				mp_diags d = {0};
				const char *p = file;
				mp_model *m = mp_compile(&p, 1, NULL, &d);
				char *got = diags_text(&d);
				int got_exit = m ? 0 : 2;
				if (got_exit != want_exit || strcmp(got, want)) {
					print_error(
					    "%s: exit %d (want %d)\n--- got:\n%s--- want:\n%s",
					    file, got_exit, want_exit, got, want);
					failures++;
				}
				free(got);
				mp_model_free(m);
				mp_diags_free(&d);
				blocks++;
			}
			if (more && sscanf(line, "== %255s exit %d", file, &want_exit) != 2)
				fail_msg("bad EXPECTED line: %s", line);
			want[0] = '\0';
			continue;
		}
		strncat(want, line, sizeof(want) - strlen(want) - 1);
	}
	fclose(f);
	assert_int_equal(chdir(cwd), 0);
	assert_true(blocks >= 15);
	assert_int_equal(failures, 0);
}

typedef struct {
	const char *yaml;
	const char *want; /* the first diagnostic, exactly, as "x.yaml:L:C: message" */
} error_case;

#define CL "kind: Cluster\nname: c1\nprovider: aws\nregion: r1\n---\n"
#define SV "kind: Service\nname: s\nnamespace: n\ncluster: c1\n"

static const error_case error_cases[] = {
    {"- a\n- b\n", "x.yaml:1:1: a document must be a mapping with a 'kind', not a list"},
    {"name: x\n", "x.yaml:1:1: document has no 'kind'"},
    {"kind: Cluster\napiVersion: v2\nname: a\n",
     "x.yaml:2:13: unsupported apiVersion 'v2' (native documents use meshpol.io/v1)"},
    {"kind: Cluster\nname: a\nprovider: aws\nregion: [x]\n",
     "x.yaml:4:9: Cluster 'a': 'region' must be a string, not a list"},
    {"kind: Cluster\nname: a\nname: b\nprovider: p\nregion: r\n",
     "x.yaml:3:1: Cluster 'a': field 'name' given twice"},
    {"kind: Jurisdiction\nname: EU\nregions: []\n",
     "x.yaml:3:10: Jurisdiction 'EU': 'regions' must not be empty"},
    {"kind: Jurisdiction\nname: EU\nregions: [a]\n---\nkind: Jurisdiction\nname: UK\nregions: "
     "[a]\n",
     "x.yaml:7:11: Jurisdiction 'UK': region 'a' is already in Jurisdiction 'EU'"},
    {CL SV "identity: web\n",
     "x.yaml:10:11: Service 's': 'identity' must be a SPIFFE ID (spiffe://...), not 'web'"},
    {CL SV "clusters: [c1]\n",
     "x.yaml:6:1: Service 's': needs exactly one of 'cluster' or 'clusters'"},
    {CL SV "ports: [{port: 80, protocol: quic}]\n",
     "x.yaml:10:30: Service 's': unknown protocol 'quic' (expected http, http2, grpc, https, tls "
     "or tcp)"},
    {CL SV "labels: [a]\n",
     "x.yaml:10:9: Service 's': 'labels' must be a mapping of strings, not a list"},
    {CL SV "identity: spiffe://a/b\n---\nkind: Service\nname: t\nnamespace: n\ncluster: c1\n"
           "identity: spiffe://a/b\n",
     "x.yaml:16:11: duplicate identity 'spiffe://a/b' (first at x.yaml:10)"},
    {CL SV "---\nkind: Route\nname: r\ndestination: s@c2\n",
     "x.yaml:13:14: Route 'r': service 's' does not run in cluster 'c2'"},
    {CL SV "---\nkind: Service\nname: s\nnamespace: m\ncluster: c1\n---\nkind: Route\nname: r\n"
           "destination: s\n",
     "x.yaml:18:14: Route 'r': service 's' is ambiguous (several namespaces have it); write "
     "namespace/name"},
    {CL SV "---\nkind: Route\nname: r\ndestination: s\nmatch: {methods: [FETCH]}\n",
     "x.yaml:14:19: Route 'r': unknown HTTP method 'FETCH'"},
    {CL SV "---\nkind: Route\nname: r\ndestination: s\nmatch: {path: {exact: /a, prefix: /b}}\n",
     "x.yaml:14:15: Route 'r': 'path' needs exactly one of 'exact', 'prefix' or 'regex'"},
    {CL SV "---\nkind: Route\nname: r\ndestinations: [{service: s, external: e}]\n",
     "x.yaml:13:16: Route 'r': a target needs exactly one of 'service' or 'external'"},
    {CL SV "---\nkind: Route\nname: r\ndestinations: [{service: s, weight: 101}]\n",
     "x.yaml:13:37: Route 'r': 'weight' is 101, outside 0..100"},
    {CL SV "---\nkind: Route\nname: r\ndestination: s\nretries: {per_try_timeout: 1s}\n",
     "x.yaml:14:10: Route 'r': missing required field 'attempts'"},
    {"kind: External\nname: e\nhost: h\njurisdiction: Mars\n",
     "x.yaml:4:15: External 'e': no Jurisdiction 'Mars'"},
    {"kind: Jurisdiction\nname: EU\nregions: [r1]\n---\nkind: Jurisdiction\nname: US\nregions: "
     "[r2]\n"
     "---\nkind: External\nname: e\nhost: h\nregion: r1\njurisdiction: US\n",
     "x.yaml:12:9: External 'e': region 'r1' is in Jurisdiction 'EU', not 'US'"},
    {"kind: Certificate\nname: c\n", "x.yaml:1:1: Certificate 'c': needs 'not_after' or 'pem'"},
    {"kind: Certificate\nname: c\nnot_after: 2026-02-30\n",
     "x.yaml:3:12: Certificate 'c': 'not_after' must be an RFC 3339 time such as "
     "2027-01-31T00:00:00Z or a date, not '2026-02-30'"},
    {"kind: Certificate\nname: c\npem: /nonexistent.pem\n",
     "x.yaml:3:6: Certificate 'c': PEM '/nonexistent.pem': cannot read: No such file or "
     "directory"},
    {"kind: Certificate\nname: c\npem: /\n",
     "x.yaml:3:6: Certificate 'c': PEM '/': is a directory, not a regular file"},
    {"kind: \"Serv\\x01ce\"\n", "x.yaml:1:7: unknown kind 'Serv\\x01ce' (did you mean 'Service'?)"},
    {"kind: Cluster\nname: *a\n", "x.yaml:2:7: YAML: alias '*a' names no anchor defined before it"},
    {"kind: &k [*k]\n", "x.yaml:1:11: YAML: alias '*k' names no anchor defined before it"},
    /* an alias may not nest its anchor past the depth a document may have */
    {"a: &a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]"
     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\nb: [[[[[*a]]]]]\n",
     "x.yaml:2:9: YAML: alias '*a' nests its anchor deeper than 64 levels"},
    {"a: b\n\xff\n",
     "x.yaml:2:1: YAML: invalid leading UTF-8 octet (byte 5; is this a text file?)"},
    /* strict shapes and values (issue 11) */
    {CL SV "mtls: permissive\n",
     "x.yaml:10:7: Service 's': 'mtls' must be STRICT, PERMISSIVE or DISABLE, not 'permissive' "
     "(did you mean 'PERMISSIVE'?)"},
    {"kind: Jurisdiction\nname: EU\nregions: eu-west-1\n",
     "x.yaml:3:10: Jurisdiction 'EU': 'regions' must be a list of strings, not the scalar "
     "'eu-west-1' (write [...] for a list, even of one)"},
    {"kind: Service\nname: s\nnamespace: n\ncluster: [c1]\n",
     "x.yaml:4:10: Service 's': 'cluster' must be a string, not a list"},
    {CL SV "colour: blue\n",
     "x.yaml:10:1: Service 's': unknown field 'colour' (expected name, namespace, cluster, "
     "clusters, identity, labels, ports, data, owner or mtls)"},
    {CL SV "ports: [{port: 80, protocol: htp}]\n",
     "x.yaml:10:30: Service 's': unknown protocol 'htp' (did you mean 'http'?)"},
    {CL SV "---\nkind: Route\nname: r\ndestination: s\nmirrors: s\n",
     "x.yaml:14:10: Route 'r': 'mirrors' must be a list of targets, not the scalar 's' (write "
     "[...] for a list, even of one)"},
    {CL SV "---\nkind: Route\nname: r\ndestination: s\nmirror: [s]\n",
     "x.yaml:14:9: Route 'r': 'mirror' must be one target (a string or a mapping), not a list "
     "(the plural field takes several)"},
    {CL SV "---\nkind: Route\nname: r\ndestination: s\nmatch: {methods: GET}\n",
     "x.yaml:14:18: Route 'r': 'methods' must be a list of strings, not the scalar 'GET' (write "
     "[...] for a list, even of one)"},
};

static void test_error_cases(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const error_case *t = &error_cases[i];
		mp_diags d = {0};
		mp_model *m = mp_compile_string("x.yaml", t->yaml, strlen(t->yaml), &d);
		char *got = diags_text(&d);
		size_t wl = strlen(t->want);
		if (m || strncmp(got, t->want, wl) || got[wl] != '\n') {
			print_error("case %zu:\n--- got:\n%s--- want:\n%s\n", i, got, t->want);
			failures++;
		}
		free(got);
		mp_model_free(m);
		mp_diags_free(&d);
	}
	assert_int_equal(failures, 0);
}

/* Every error is reported, not only the first. */
static void test_reports_all(void **state)
{
	(void)state;
	static const char yaml[] =
	    CL SV "mtls: maybe\n---\nkind: Route\nname: r\ndestination: nope\n"
	          "---\nkind: Route\nname: q\nsource: ghost\ndestination: s\n"
	          "timeout: soon\n";
	mp_diags d = {0};
	mp_model *m = mp_compile_string("x.yaml", yaml, sizeof(yaml) - 1, &d);
	assert_null(m);
	char *got = diags_text(&d);
	assert_int_equal(d.errors, 3);
	assert_non_null(strstr(got, "x.yaml:10:7: Service 's': 'mtls'"));
	assert_non_null(strstr(got, "x.yaml:20:10: Route 'q': 'timeout'"));
	assert_non_null(strstr(got, "x.yaml:14:14: Route 'r': no service or external 'nope'"));
	free(got);
	mp_diags_free(&d);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	size_t depth = 100000, len = 2 * depth + 16;
	char *y = malloc(len);
	size_t o = (size_t)sprintf(y, "kind: ");
	memset(y + o, '[', depth);
	memset(y + o + depth, ']', depth);
	y[o + 2 * depth] = '\n';
	mp_diags d = {0};
	mp_model *m = mp_compile_string("deep.yaml", y, o + 2 * depth + 1, &d);
	assert_null(m);
	assert_int_equal(d.errors, 1);
	assert_string_equal(d.v[0].msg, "YAML: nested deeper than 64 levels");
	mp_diags_free(&d);
	/* the same depth of block mappings */
	char *b = malloc(2000 * 2004 + 64);
	o = 0;
	for (size_t i = 0; i < 2000; i++)
		o += (size_t)sprintf(b + o, "%*sa:\n", (int)i, "");
	mp_diags d2 = {0};
	m = mp_compile_string("deep2.yaml", b, o, &d2);
	assert_null(m);
	assert_int_equal(d2.errors, 1);
	mp_diags_free(&d2);
	free(b);
	free(y);
}

/* Anchors and aliases resolve to the same node within a document, as YAML says. */
static void test_anchors(void **state)
{
	(void)state;
	static const char yaml[] = CL "kind: Service\nname: a\nnamespace: n\ncluster: &c c1\n"
	                              "---\nkind: Route\nname: r\ndestination: &d {service: a}\n"
	                              "mirror: *d\nfailover: [*d, *d]\n";
	mp_diags d = {0};
	mp_model *m = mp_compile_string("x.yaml", yaml, sizeof(yaml) - 1, &d);
	mp_diags_print(&d, stderr);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.routes[0].mirrors.n, 1);
	assert_int_equal(v.routes[0].failover.n, 2);
	assert_int_equal(v.targets[v.routes[0].failover.off + 1].id, 0);
	mp_model_free(m);
	mp_diags_free(&d);
}

/* A Service whose data list holds one 1000-byte string and n aliases of it (each adds 1003
 * bytes: the anchored scalar's text, less the alias's two), after pad bytes of comment. */
static char *aliased_service(int n, size_t pad, size_t *len)
{
	char *y = malloc(pad + 1100 + 4 * (size_t)n + 256);
	size_t o = (size_t)sprintf(y, "#");
	memset(y + o, '.', pad);
	o += pad;
	o += (size_t)sprintf(y + o, "\n" CL SV "data: [&s \"");
	memset(y + o, 'x', 1000);
	o += 1000;
	y[o++] = '"';
	for (int i = 0; i < n; i++)
		o += (size_t)sprintf(y + o, ", *s");
	o += (size_t)sprintf(y + o, "]\n");
	*len = o;
	return y;
}

/* Aliases: reuse compiles; what the aliases of a file add is capped at 10 times its size or
 * 1 MiB, refused at the alias that passes it, counted across the file's documents. */
static void test_alias_limit(void **state)
{
	(void)state;
	size_t len;
	char *y = aliased_service(1000, 0, &len); /* 1,003,000 bytes: under 1 MiB */
	mp_diags d = {0};
	mp_model *m = mp_compile_string("x.yaml", y, len, &d);
	mp_diags_print(&d, stderr);
	assert_non_null(m);
	mp_model_free(m);
	free(y);

	y = aliased_service(1100, 0, &len);
	assert_null(mp_compile_string("x.yaml", y, len, &d));
	assert_int_equal(d.errors, 1);
	/* the 1046th alias passes 1 MiB: column 7 + 1005 for "data: [&s "x..."", 4 per ", *s" */
	assert_string_equal(d.v[0].file, "x.yaml");
	assert_int_equal(d.v[0].line, 11);
	assert_int_equal(d.v[0].col, 1012 + 4 * 1045 + 3);
	assert_string_equal(
	    d.v[0].msg, "YAML: alias '*s' passes the alias expansion limit: the aliases of this "
	                "file may add at most 1048576 bytes to it (10 times its size, or 1 MiB "
	                "if more)");
	mp_diags_free(&d);
	free(y);

	/* a file of 200 KB may add 2 MB */
	y = aliased_service(1100, 200000, &len);
	assert_non_null(m = mp_compile_string("x.yaml", y, len, &d));
	mp_model_free(m);
	mp_diags_free(&d);
	free(y);

	/* two documents of 600 aliases each: the second passes the file's limit */
	size_t l1, l2;
	char *a = aliased_service(600, 0, &l1), *b = aliased_service(600, 0, &l2);
	char *two = malloc(l1 + l2 + 8);
	sprintf(two, "%s---\n%s", a, b);
	assert_null(mp_compile_string("x.yaml", two, strlen(two), &d));
	uint32_t limit_errors = 0;
	for (uint32_t i = 0; i < d.n; i++)
		if (strstr(d.v[i].msg, "passes the alias expansion limit")) {
			assert_true(d.v[i].line > 11); /* in the second document */
			limit_errors++;
		}
	assert_int_equal(limit_errors, 1);
	mp_diags_free(&d);
	free(two);
	free(a);
	free(b);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Only regular files are read: a FIFO is refused without opening it for reading (which would
 * wait for a writer), a symbolic link out of the directory is refused without reading what it
 * leads to, unless the options allow it. */
static void test_file_kinds(void **state)
{
	(void)state;
	char dir[] = "/tmp/meshpol-kinds-XXXXXX", secret_dir[] = "/tmp/meshpol-secret-XXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(secret_dir));
	char path[512], secret[512], fifo[512];
	mp_diags d = {0};
	const char *p = dir;
	snprintf(path, sizeof(path), "%s/clusters.yaml", dir);
	write_file(path, CL);
	snprintf(secret, sizeof(secret), "%s/secret.yaml", secret_dir);
	write_file(secret, "kind: SECRETTOKEN1234\n"); /* an unknown kind, quoted if it is read */

	/* a FIFO in the directory, and named as a source */
	snprintf(fifo, sizeof(fifo), "%s/pipe.yaml", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_null(mp_compile(&p, 1, NULL, &d));
	assert_int_equal(d.errors, 1);
	assert_string_equal(d.v[0].file, fifo);
	assert_string_equal(d.v[0].msg, "is a FIFO, not a regular file");
	mp_diags_free(&d);
	const char *fp = fifo;
	assert_null(mp_compile(&fp, 1, NULL, &d));
	assert_string_equal(d.v[0].msg, "is a FIFO, not a regular file");
	mp_diags_free(&d);
	/* as a certificate's PEM */
	char yaml[1024];
	snprintf(yaml, sizeof(yaml), CL "kind: Certificate\nname: c\npem: %s\n", fifo);
	assert_null(mp_compile_string("x.yaml", yaml, strlen(yaml), &d));
	assert_non_null(strstr(d.v[0].msg, "is a FIFO, not a regular file"));
	mp_diags_free(&d);
	unlink(fifo);

	/* a link out of the tree: refused, the secret never quoted; allowed by the option */
	snprintf(path, sizeof(path), "%s/stolen.yaml", dir);
	assert_int_equal(symlink(secret, path), 0);
	assert_null(mp_compile(&p, 1, NULL, &d));
	assert_int_equal(d.errors, 1);
	assert_string_equal(d.v[0].file, path);
	char want[600];
	snprintf(want, sizeof(want),
	         "symbolic link to a file outside %s, not read (meshpol compile --follow-symlinks "
	         "reads it)",
	         dir);
	assert_string_equal(d.v[0].msg, want);
	char *t = diags_text(&d);
	assert_null(strstr(t, "SECRETTOKEN"));
	free(t);
	mp_diags_free(&d);
	mp_compile_opts follow = {.follow_symlinks = 1};
	assert_null(mp_compile(&p, 1, &follow, &d));
	assert_non_null(strstr(d.v[0].file, "stolen.yaml"));
	assert_non_null(strstr(d.v[0].msg, "unknown kind 'SECRETTOKEN1234'"));
	mp_diags_free(&d);
	unlink(path);

	/* a link inside the tree is read; a dangling one is reported */
	snprintf(path, sizeof(path), "%s/inner", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/inner/more.txt", dir);
	write_file(path, "kind: Cluster\nname: c2\nprovider: gcp\nregion: r2\n");
	snprintf(path, sizeof(path), "%s/more.yaml", dir);
	assert_int_equal(symlink("inner/more.txt", path), 0);
	mp_model *m = mp_compile(&p, 1, NULL, &d);
	assert_non_null(m);
	assert_int_equal(mp_model_get_view(m).nclusters, 2);
	mp_model_free(m);
	mp_diags_free(&d);
	snprintf(path, sizeof(path), "%s/gone.yaml", dir);
	assert_int_equal(symlink("nowhere.yaml", path), 0);
	assert_null(mp_compile(&p, 1, NULL, &d));
	assert_string_equal(d.v[0].msg, "cannot read: No such file or directory");
	mp_diags_free(&d);
	unlink(path);

	/* a lone file (a bundle's manifest) keeps to its directory */
	yaml_document_t doc;
	snprintf(path, sizeof(path), "%s/bundle.yaml", dir);
	assert_int_equal(symlink(secret, path), 0);
	assert_int_equal(mp_yaml_load_file(path, 1 << 20, &doc, &d), -1);
	assert_non_null(strstr(d.v[0].msg, "symbolic link to a file outside"));
	assert_null(strstr(d.v[0].msg, "SECRETTOKEN"));
	mp_diags_free(&d);
	unlink(path);
	assert_int_equal(mp_yaml_load_file(dir, 1 << 20, &doc, &d), -1);
	assert_string_equal(d.v[0].msg, "is a directory, not a regular file");
	mp_diags_free(&d);

	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, secret_dir);
	assert_int_equal(system(cmd), 0);
}

static void test_files_and_dirs(void **state)
{
	(void)state;
	char dir[] = "/tmp/meshpol-compile-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[512];
	mp_diags d = {0};
	const char *p = dir;

	/* an empty directory */
	assert_null(mp_compile(&p, 1, NULL, &d));
	assert_non_null(strstr(d.v[0].msg, "no .yaml or .yml files"));
	mp_diags_free(&d);

	/* a 100 MB file: refused by size before it is read, or parsed when the limit allows */
	snprintf(path, sizeof(path), "%s/huge.yaml", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100 << 20), 0);
	close(fd);
	p = path;
	assert_null(mp_compile(&p, 1, NULL, &d));
	assert_non_null(strstr(d.v[0].msg, "over the 67108864-byte limit"));
	mp_diags_free(&d);
	mp_compile_opts big = {.max_file_bytes = 200u << 20};
	assert_null(mp_compile(&p, 1, &big, &d));
	assert_non_null(strstr(d.v[0].msg, "control characters are not allowed"));
	mp_diags_free(&d);
	unlink(path);

	/* nested directories, .yml, hidden files skipped, multi-document files */
	snprintf(path, sizeof(path), "%s/sub", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/sub/a.yml", dir);
	FILE *f = fopen(path, "w");
	fputs(CL "kind: Cluster\nname: c2\nprovider: gcp\nregion: r2\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.hidden.yaml", dir);
	f = fopen(path, "w");
	fputs("this: [is not read\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	f = fopen(path, "w");
	fputs("not yaml\n", f);
	fclose(f);
	p = dir;
	mp_model *m = mp_compile(&p, 1, NULL, &d);
	assert_non_null(m);
	assert_int_equal(mp_model_get_view(m).nclusters, 2);
	mp_model_free(m);
	mp_diags_free(&d);

	const char *missing = "/nonexistent/mesh";
	assert_null(mp_compile(&missing, 1, NULL, &d));
	assert_string_equal(d.v[0].msg, "No such file or directory");
	mp_diags_free(&d);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_durations_and_times(void **state)
{
	(void)state;
	uint32_t ms;
	assert_int_equal(mp_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(mp_parse_duration("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(mp_parse_duration("2m", &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(mp_parse_duration("1h", &ms), 0);
	assert_int_equal(ms, 3600000);
	const char *bad[] = {"", "5", "5 s", "-1s", "s", "1d", "1e400s", "2000h", "nan s", ".5s"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mp_parse_duration(bad[i], &ms) == 0)
			fail_msg("duration '%s' accepted", bad[i]);

	int64_t t;
	assert_int_equal(mp_parse_time("1970-01-02", &t), 0);
	assert_true(t == 86400);
	assert_int_equal(mp_parse_time("2026-11-25T10:00:00Z", &t), 0);
	assert_true(t == 1795600800);
	assert_int_equal(mp_parse_time("2026-11-25T12:00:00.123+02:00", &t), 0);
	assert_true(t == 1795600800);
	const char *badt[] = {"2026-13-01",          "2026-02-30",          "2026-1-1",
	                      "2026-11-25T10:00Z",   "2026-11-25T10:00:00", "tomorrow",
	                      "2026-11-25T25:00:00Z"};
	for (size_t i = 0; i < sizeof(badt) / sizeof(badt[0]); i++)
		if (mp_parse_time(badt[i], &t) == 0)
			fail_msg("time '%s' accepted", badt[i]);
}

/* The model's hash leaves out each file's source root (model.h, mp_source_name): a directory
 * SOURCE and a single-file SOURCE, compiled from two places with a PEM read relative to its
 * YAML file, hash the same; the PEM path kept is the one that was opened. */
static void compile_two_sources(const char *base, char *sha, char *pem)
{
	char dir[600], file[600];
	snprintf(dir, sizeof(dir), "%s/mesh", base);
	snprintf(file, sizeof(file), "%s/extra/ns.yaml", base);
	const char *sources[] = {dir, file};
	mp_diags d = {0};
	mp_model *m = mp_compile(sources, 2, NULL, &d);
	if (!m)
		mp_diags_print(&d, stderr);
	assert_non_null(m);
	mp_model_view v = mp_model_get_view(m);
	assert_int_equal(v.ncerts, 1);
	snprintf(sha, 65, "%s", mp_model_sha256(m));
	snprintf(pem, 600, "%s", mp_model_str(m, v.certs[0].pem_path));
	mp_model_free(m);
	mp_diags_free(&d);
}

static void test_source_roots(void **state)
{
	(void)state;
	char a[] = "/tmp/meshpol-roots-XXXXXX", b[] = "/tmp/meshpol-roots-copy-XXXXXX";
	char path[700], cmd[1400], sha_a[65], sha_b[65], pem[600], want[700];
	assert_non_null(mkdtemp(a));
	assert_non_null(mkdtemp(b));
	snprintf(
	    cmd, sizeof(cmd),
	    "mkdir -p %s/mesh/certs %s/extra && cp examples/acme/certs/payments.pem %s/mesh/certs/",
	    a, a, a);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/mesh/cert.yaml", a);
	write_file(path, "kind: Certificate\nname: payments-mtls\npem: certs/payments.pem\n");
	snprintf(path, sizeof(path), "%s/extra/ns.yaml", a);
	write_file(path, "kind: Namespace\nname: shop\n");
	snprintf(cmd, sizeof(cmd), "cp -r %s/mesh %s/extra %s/", a, a, b);
	assert_int_equal(system(cmd), 0);

	compile_two_sources(a, sha_a, pem);
	snprintf(want, sizeof(want), "%s/mesh/certs/payments.pem", a);
	assert_string_equal(pem, want);
	compile_two_sources(b, sha_b, pem);
	snprintf(want, sizeof(want), "%s/mesh/certs/payments.pem", b);
	assert_string_equal(pem, want);
	assert_string_equal(sha_a, sha_b);

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", a, b);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixtures),       cmocka_unit_test(test_error_cases),
	    cmocka_unit_test(test_reports_all),    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_files_and_dirs), cmocka_unit_test(test_durations_and_times),
	    cmocka_unit_test(test_anchors),        cmocka_unit_test(test_alias_limit),
	    cmocka_unit_test(test_file_kinds),     cmocka_unit_test(test_source_roots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
