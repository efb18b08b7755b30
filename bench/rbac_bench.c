/* rbac_bench.c: meshpol's in-process decision latency on the shared mesh-RBAC workload
 * (../shared/bench/gen_rbac_workload.py; its docstring defines the semantics).
 *
 * Usage: rbac_bench WORKLOAD.json [--keep DIR] [--count]
 *
 * 1. Reads the workload and translates it into a native mesh (docs/mesh-format.md) and a policy
 *    bundle (docs/policy-language.md), written under a fresh bench/out/rbac.XXXXXX (removed at
 *    exit) or under DIR/mesh and DIR/bundle with --keep (kept; stale *.yaml and *.lua files in
 *    those two directories are removed first):
 *      mesh/clusters.yaml    one Cluster per region of the workload (aws, cluster-K)
 *      mesh/namespaces.yaml  one Namespace per namespace the workload names
 *      mesh/services.yaml    one Service per service: namespace, the cluster of its region,
 *                            identity = its principal
 *      bundle/bundle.yaml    name, revision, default: deny
 *      bundle/rbac-NNNN.lua  policy "rbac.<ns>": the allow rules whose destination is in <ns>
 *      bundle/deny.lua       policy "rbac.denies": every deny rule
 *    An allow rule {destination D, methods M, path_prefix P, principal X | namespace N} becomes
 *      allow "<id>" { service = "<ns of D>/D", methods = { M }, paths = { P .. "*" },
 *                     from = { principals = { X } } | from = { namespaces = { N } } }
 *    and a deny rule {source_namespace S, destination_namespace T} becomes
 *      deny "<id>" { service = "*", namespace = "T", from = { namespaces = { "S" } } }
 *    The translation is exact: meshpol's pattern "P*" is a byte prefix test, as Python's
 *    str.startswith (so "/health" -> "/health*" matches "/health", "/healthz" and "/health/x"
 *    alike, and "/" -> "/" .. "*" matches every path); a principal without '*' matches
 *    exactly; allow and deny rules both see the caller's namespace as resolved from its
 *    principal. What meshpol cannot express the same way is refused with an error: a prefix
 *    with '{' (a path template), a principal with '*', a rule with both a principal and a
 *    namespace (the docstring says "or", the generator's decide() means "and"). An allow rule
 *    with no methods never matches in the workload but means "any method" in meshpol: it is
 *    left out (and counted).
 * 2. Loads mesh + bundle with mp_engine_open (YAML compiled on the fly) and mp_evaluator_new.
 * 3. Builds every query's mp_request up front (principal, destination service, method, path),
 *    decides each once untimed (warm-up) and counts agreements with the query's `expect`.
 * 4. Pinned to one CPU, times each mp_decide with two clock_gettime(CLOCK_MONOTONIC) calls
 *    (nothing subtracted) over enough passes for >= MIN_DECISIONS decisions (at least 3
 *    passes), then the same passes again as one batch loop with no clock in it.
 * 5. Prints `# ...` comment lines (workload, load time, resident memory, clock overhead, batch
 *    mean) and then exactly one result line:
 *      meshpol decisions=N agree=N p50_us=X p99_us=Y per_s=Z
 *    decisions and agree count the workload's queries (each checked once); p50/p99 come from
 *    the per-call timings; per_s from the batch loop.
 * --count (for callgrind, bench/decide_cache.sh): instead of 4, one more untimed pass over
 *    every query between CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS_AT("decisions"), with
 *    instrumentation started just before step 3 (run callgrind with --instr-atstart=no: the
 *    load is not simulated, the warm-up pass warms the simulated caches, the dump counts the
 *    steady state); then the result line without timings (p50_us=n/a ...). Without valgrind
 *    the client requests do nothing.
 * Exit: 0 when it ran (whatever the agreement; the caller checks it), 1 on any error.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "decide.h"
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else /* no valgrind headers: --count runs the pass, and nothing counts it */
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(name)
#endif

#define MIN_DECISIONS 200000u
#define MIN_PASSES    3u

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("rbac_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

/* --- files we write (removed at exit unless --keep) --- */

static char **created;
static size_t ncreated, capcreated;
static int keep;

static void track(const char *path)
{
	if (ncreated == capcreated) {
		capcreated = capcreated ? capcreated * 2 : 64;
		created = realloc(created, capcreated * sizeof(*created));
		if (!created)
			die("out of memory");
	}
	created[ncreated++] = xstrdup(path);
}

static void cleanup(void)
{
	if (keep)
		return;
	/* files and directories were tracked parent first: remove in reverse order */
	for (size_t i = ncreated; i-- > 0;)
		if (remove(created[i]) < 0 && errno != ENOENT)
			fprintf(stderr, "rbac_bench: cannot remove %s: %s\n", created[i],
			        strerror(errno));
}

static void make_dir(const char *path, int tracked)
{
	if (mkdir(path, 0777) == 0) {
		if (tracked)
			track(path);
		return;
	}
	struct stat st;
	if (errno != EEXIST || stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		die("cannot create directory %s: %s", path, strerror(errno));
}

/* mkdir -p, for --keep DIR (not tracked: kept anyway) */
static void make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		die("path too long: %s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			make_dir(buf, 0);
			*p = '/';
		}
	make_dir(buf, 0);
}

/* Removes the *.yaml, *.yml and *.lua files of dir (a previous --keep run's output). */
static void clear_generated(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		int ours = (n > 5 && !strcmp(e->d_name + n - 5, ".yaml")) ||
		           (n > 4 && !strcmp(e->d_name + n - 4, ".yml")) ||
		           (n > 4 && !strcmp(e->d_name + n - 4, ".lua"));
		char path[PATH_MAX];
		if (ours &&
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
}

static FILE *create_file(const char *dir, const char *name, char *path, size_t pathlen)
{
	if (snprintf(path, pathlen, "%s/%s", dir, name) >= (int)pathlen)
		die("path too long: %s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		die("cannot create %s: %s", path, strerror(errno));
	track(path);
	return f;
}

static void close_file(FILE *f, const char *path)
{
	if (ferror(f) | fclose(f))
		die("cannot write %s", path);
}

/* --- quoting --- */

/* A YAML double-quoted scalar. */
static void yq(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* A Lua double-quoted string literal. */
static void lq(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\%03u", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* --- reading the workload --- */

static const char *str_field(json_t *o, const char *key, const char *what, size_t i, int required)
{
	json_t *v = json_object_get(o, key);
	if (!v) {
		if (required)
			die("workload: %s[%zu]: missing '%s'", what, i, key);
		return NULL;
	}
	if (!json_is_string(v) || !json_string_length(v))
		die("workload: %s[%zu].%s: must be a non-empty string", what, i, key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		die("workload: %s[%zu].%s: contains a NUL byte", what, i, key);
	return json_string_value(v);
}

static json_t *array_field(json_t *o, const char *key, const char *what)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_array(v))
		die("workload: %s: '%s' must be an array", what, key);
	return v;
}

typedef struct {
	const char *name, *ns, *principal, *region;
} service;

typedef struct {
	const char *key;
	size_t idx;
} name_idx;

static int cmp_name_idx(const void *a, const void *b)
{
	return strcmp(((const name_idx *)a)->key, ((const name_idx *)b)->key);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* index of key in the sorted table, or -1 */
static long lookup(const name_idx *t, size_t n, const char *key)
{
	name_idx k = {key, 0};
	const name_idx *hit = bsearch(&k, t, n, sizeof(*t), cmp_name_idx);
	return hit ? (long)hit->idx : -1;
}

/* sorted unique copy of v (pointers borrowed) */
static size_t uniq(const char **v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || strcmp(v[k - 1], v[i]))
			v[k++] = v[i];
	return k;
}

static long index_of(const char **v, size_t n, const char *s)
{
	const char **hit = bsearch(&s, v, n, sizeof(*v), cmp_str);
	return hit ? hit - v : -1;
}

/* --- measuring --- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* the same rank as cedar_rbac_bench.mjs: v[min(n - 1, floor(p * n))] of the sorted values */
static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n);
	return v[i < n ? i : n - 1];
}

static long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	size_t n = strlen(field);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static int pin_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	int cpu = -1;
	if (CPU_ISSET(0, &set))
		cpu = 0;
	for (int c = 0; cpu < 0 && c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpu = c;
	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -1 : cpu;
}

/* The directory of this executable (bench/), for bench/out. */
static void exe_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0) {
		snprintf(buf, len, ".");
		return;
	}
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
}

static void usage(void)
{
	fprintf(stderr, "usage: rbac_bench WORKLOAD.json [--keep DIR] [--count]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *wpath = NULL, *keep_dir = NULL;
	int count = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--keep") && i + 1 < argc)
			keep_dir = argv[++i];
		else if (!strcmp(argv[i], "--count"))
			count = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			usage();
		else if (!wpath)
			wpath = argv[i];
		else
			usage();
	}
	if (!wpath)
		usage();

	/* --- 1. read and translate --- */
	json_error_t jerr;
	json_t *w = json_load_file(wpath, 0, &jerr);
	if (!w)
		die("%s:%d:%d: %s", wpath, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(w))
		die("%s: the workload must be a JSON object", wpath);
	json_t *jsvc = array_field(w, "services", "workload"),
	       *jallow = array_field(w, "allows", "workload"),
	       *jdeny = array_field(w, "denies", "workload"),
	       *jq = array_field(w, "queries", "workload");
	size_t nsvc = json_array_size(jsvc), nallow = json_array_size(jallow),
	       ndeny = json_array_size(jdeny), nq = json_array_size(jq);
	if (!nsvc || !nq)
		die("%s: no services or no queries", wpath);

	service *svcs = xmalloc(nsvc * sizeof(*svcs));
	name_idx *by_name = xmalloc(nsvc * sizeof(*by_name));
	name_idx *by_principal = xmalloc(nsvc * sizeof(*by_principal));
	/* every namespace and region named anywhere: services, allow sources, deny rules */
	const char **nss = xmalloc((nsvc + nallow + 2 * ndeny) * sizeof(*nss));
	const char **regions = xmalloc(nsvc * sizeof(*regions));
	size_t nns = 0, nreg = 0;
	for (size_t i = 0; i < nsvc; i++) {
		json_t *s = json_array_get(jsvc, i);
		if (!json_is_object(s))
			die("workload: services[%zu]: must be an object", i);
		svcs[i] = (service){str_field(s, "name", "services", i, 1),
		                    str_field(s, "namespace", "services", i, 1),
		                    str_field(s, "principal", "services", i, 1),
		                    str_field(s, "region", "services", i, 1)};
		if (strchr(svcs[i].name, '/') || strchr(svcs[i].ns, '/'))
			die("workload: services[%zu]: a name or namespace with '/' cannot be a "
			    "service reference",
			    i);
		by_name[i] = (name_idx){svcs[i].name, i};
		by_principal[i] = (name_idx){svcs[i].principal, i};
		nss[nns++] = svcs[i].ns;
		regions[nreg++] = svcs[i].region;
	}
	qsort(by_name, nsvc, sizeof(*by_name), cmp_name_idx);
	qsort(by_principal, nsvc, sizeof(*by_principal), cmp_name_idx);
	for (size_t i = 1; i < nsvc; i++) {
		if (!strcmp(by_name[i - 1].key, by_name[i].key))
			die("workload: two services named '%s' (the workload identifies services "
			    "by name)",
			    by_name[i].key);
		if (!strcmp(by_principal[i - 1].key, by_principal[i].key))
			die("workload: two services with principal '%s'", by_principal[i].key);
	}

	typedef struct {
		const char *id, *dst_ns, *dst, *principal, *src_ns, *prefix;
		json_t *methods;
	} allow_rule;
	allow_rule *allows = xmalloc((nallow + 1) * sizeof(*allows));
	size_t skipped_no_methods = 0;
	for (size_t i = 0; i < nallow; i++) {
		json_t *r = json_array_get(jallow, i);
		if (!json_is_object(r))
			die("workload: allows[%zu]: must be an object", i);
		allow_rule a = {str_field(r, "id", "allows", i, 1),
		                NULL,
		                str_field(r, "destination", "allows", i, 1),
		                str_field(r, "principal", "allows", i, 0),
		                str_field(r, "namespace", "allows", i, 0),
		                NULL,
		                array_field(r, "methods", "allows[]")};
		json_t *pp = json_object_get(r, "path_prefix");
		if (!json_is_string(pp))
			die("workload: allows[%zu].path_prefix: must be a string", i);
		a.prefix = json_string_value(pp);
		long d = lookup(by_name, nsvc, a.dst);
		if (d < 0)
			die("workload: allows[%zu]: no service '%s'", i, a.dst);
		a.dst_ns = svcs[d].ns;
		if (a.principal && a.src_ns)
			die("workload: allows[%zu] has both a principal and a namespace: the "
			    "docstring (or) and "
			    "the generator (and) disagree; refusing to guess",
			    i);
		if (a.principal && strchr(a.principal, '*'))
			die("workload: allows[%zu].principal has '*', which meshpol reads as a "
			    "pattern",
			    i);
		if (strchr(a.prefix, '{'))
			die("workload: allows[%zu].path_prefix has '{', which meshpol reads as a "
			    "path template",
			    i);
		for (size_t k = 0; k < json_array_size(a.methods); k++) {
			json_t *m = json_array_get(a.methods, k);
			if (!json_is_string(m) || !mp_method_bit(json_string_value(m)))
				die("workload: allows[%zu].methods[%zu]: not an HTTP method "
				    "meshpol knows",
				    i, k);
		}
		if (!json_array_size(a.methods)) {
			skipped_no_methods++;
			a.id = NULL; /* never matches in the workload; "any method" in meshpol */
		}
		if (a.src_ns)
			nss[nns++] = a.src_ns;
		allows[i] = a;
	}
	const char **deny_src = xmalloc((ndeny + 1) * sizeof(*deny_src)),
	           **deny_dst = xmalloc((ndeny + 1) * sizeof(*deny_dst)),
	           **deny_id = xmalloc((ndeny + 1) * sizeof(*deny_id));
	for (size_t i = 0; i < ndeny; i++) {
		json_t *r = json_array_get(jdeny, i);
		if (!json_is_object(r))
			die("workload: denies[%zu]: must be an object", i);
		deny_id[i] = str_field(r, "id", "denies", i, 1);
		deny_src[i] = str_field(r, "source_namespace", "denies", i, 1);
		deny_dst[i] = str_field(r, "destination_namespace", "denies", i, 1);
		nss[nns++] = deny_src[i];
		nss[nns++] = deny_dst[i];
	}
	nns = uniq(nss, nns);
	nreg = uniq(regions, nreg);

	/* the output directories */
	char base[PATH_MAX], mesh_dir[PATH_MAX + 8], bundle_dir[PATH_MAX + 8], path[PATH_MAX + 64];
	if (keep_dir) {
		keep = 1;
		if (snprintf(base, sizeof(base), "%s", keep_dir) >= (int)sizeof(base))
			die("path too long: %s", keep_dir);
		make_dirs(base);
	} else {
		char here[PATH_MAX - 32], out[PATH_MAX];
		exe_dir(here, sizeof(here));
		snprintf(out, sizeof(out), "%s/out", here);
		make_dir(out, 0);
		if (snprintf(base, sizeof(base), "%s/rbac.XXXXXX", out) >= (int)sizeof(base))
			die("path too long: %s", out);
		if (!mkdtemp(base))
			die("cannot create a temporary directory in %s: %s", out, strerror(errno));
		track(base);
		atexit(cleanup);
	}
	snprintf(mesh_dir, sizeof(mesh_dir), "%s/mesh", base);
	snprintf(bundle_dir, sizeof(bundle_dir), "%s/bundle", base);
	make_dir(mesh_dir, 1);
	make_dir(bundle_dir, 1);
	if (keep) {
		clear_generated(mesh_dir);
		clear_generated(bundle_dir);
	}

	/* mesh */
	FILE *f = create_file(mesh_dir, "clusters.yaml", path, sizeof(path));
	fprintf(f, "# generated by bench/rbac_bench from %s: one cluster per region\n", wpath);
	for (size_t i = 0; i < nreg; i++) {
		fprintf(f, "---\nkind: Cluster\nname: cluster-%zu\nprovider: aws\nregion: ", i);
		yq(f, regions[i]);
		fputc('\n', f);
	}
	close_file(f, path);
	f = create_file(mesh_dir, "namespaces.yaml", path, sizeof(path));
	for (size_t i = 0; i < nns; i++) {
		fprintf(f, "---\nkind: Namespace\nname: ");
		yq(f, nss[i]);
		fputc('\n', f);
	}
	close_file(f, path);
	f = create_file(mesh_dir, "services.yaml", path, sizeof(path));
	for (size_t i = 0; i < nsvc; i++) {
		fprintf(f, "---\nkind: Service\nname: ");
		yq(f, svcs[i].name);
		fprintf(f, "\nnamespace: ");
		yq(f, svcs[i].ns);
		fprintf(f, "\ncluster: cluster-%ld\nidentity: ",
		        index_of(regions, nreg, svcs[i].region));
		yq(f, svcs[i].principal);
		fputc('\n', f);
	}
	close_file(f, path);

	/* bundle */
	f = create_file(bundle_dir, "bundle.yaml", path, sizeof(path));
	fprintf(f, "# generated by bench/rbac_bench from %s\nname: rbac-bench\nrevision: ", wpath);
	{
		char rev[128];
		snprintf(rev, sizeof(rev), "services-%zu-allows-%zu-denies-%zu", nsvc, nallow,
		         ndeny);
		yq(f, rev);
	}
	fprintf(f, "\ndefault: deny\n");
	close_file(f, path);
	size_t nrules_written = 0, npolicies = 0;
	for (size_t k = 0; k < nns; k++) {
		FILE *pf = NULL;
		char name[32];
		for (size_t i = 0; i < nallow; i++) {
			const allow_rule *a = &allows[i];
			if (!a->id || strcmp(a->dst_ns, nss[k]))
				continue;
			if (!pf) {
				snprintf(name, sizeof(name), "rbac-%04zu.lua", k);
				pf = create_file(bundle_dir, name, path, sizeof(path));
				fprintf(pf,
				        "-- allow rules of the workload whose destination is in "
				        "namespace %s\npolicy ",
				        nss[k]);
				char pname[512];
				snprintf(pname, sizeof(pname), "rbac.%s", nss[k]);
				lq(pf, pname);
				fprintf(pf, " { version = \"1.0.0\", kind = \"rbac\" }\n");
				npolicies++;
			}
			fputs("allow ", pf);
			lq(pf, a->id);
			fputs(" { service = ", pf);
			char ref[1024];
			snprintf(ref, sizeof(ref), "%s/%s", a->dst_ns, a->dst);
			lq(pf, ref);
			fputs(", methods = {", pf);
			for (size_t m = 0; m < json_array_size(a->methods); m++) {
				fputs(m ? ", " : " ", pf);
				lq(pf, json_string_value(json_array_get(a->methods, m)));
			}
			fputs(" }, paths = { ", pf);
			{
				size_t n = strlen(a->prefix);
				char *pat = xmalloc(n + 2);
				memcpy(pat, a->prefix, n);
				memcpy(pat + n, "*", 2);
				lq(pf, pat);
				free(pat);
			}
			fputs(" }, from = ", pf);
			if (a->principal) {
				fputs("{ principals = { ", pf);
				lq(pf, a->principal);
				fputs(" } }", pf);
			} else if (a->src_ns) {
				fputs("{ namespaces = { ", pf);
				lq(pf, a->src_ns);
				fputs(" } }", pf);
			} else {
				fputs("\"*\"",
				      pf); /* the generator's decide(): no source constraint */
			}
			fputs(" }\n", pf);
			nrules_written++;
		}
		if (pf)
			close_file(pf, path);
	}
	if (ndeny) {
		f = create_file(bundle_dir, "deny.lua", path, sizeof(path));
		fprintf(f, "-- the deny rules of the workload\npolicy \"rbac.denies\" { version = "
		           "\"1.0.0\", "
		           "kind = \"rbac\" }\n");
		npolicies++;
		for (size_t i = 0; i < ndeny; i++) {
			fputs("deny ", f);
			lq(f, deny_id[i]);
			fputs(" { service = \"*\", namespace = ", f);
			lq(f, deny_dst[i]);
			fputs(", from = { namespaces = { ", f);
			lq(f, deny_src[i]);
			fputs(" } } }\n", f);
			nrules_written++;
		}
		close_file(f, path);
	}
	if (!npolicies)
		die("workload: no rules at all");

	/* the requests, built before anything is timed; strings borrowed from the JSON */
	mp_request *reqs = xmalloc(nq * sizeof(*reqs));
	unsigned char *expect = xmalloc(nq);
	size_t nexpect_allow = 0;
	for (size_t i = 0; i < nq; i++) {
		json_t *q = json_array_get(jq, i), *src = json_object_get(q, "source"),
		       *dst = json_object_get(q, "destination"),
		       *req = json_object_get(q, "request");
		if (!json_is_object(src) || !json_is_object(dst) || !json_is_object(req))
			die("workload: queries[%zu]: needs source, destination and request objects",
			    i);
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].principal = str_field(src, "principal", "queries[].source", i, 1);
		reqs[i].dst_service = str_field(dst, "service", "queries[].destination", i, 1);
		reqs[i].method = str_field(req, "method", "queries[].request", i, 1);
		json_t *p = json_object_get(req, "path");
		if (!json_is_string(p))
			die("workload: queries[%zu].request.path: must be a string", i);
		reqs[i].path = json_string_value(p);
		const char *e = str_field(q, "expect", "queries", i, 1);
		if (strcmp(e, "allow") && strcmp(e, "deny"))
			die("workload: queries[%zu].expect: '%s' (allow or deny)", i, e);
		expect[i] = !strcmp(e, "allow");
		nexpect_allow += expect[i];
	}
	printf("# workload: %s: services=%zu namespaces=%zu regions=%zu allows=%zu denies=%zu "
	       "rules=%zu "
	       "queries=%zu (expect allow %zu)\n",
	       wpath, nsvc, nns, nreg, nallow, ndeny, nallow + ndeny, nq, nexpect_allow);
	if (skipped_no_methods)
		printf("# %zu allow rules with no methods left out (they can never match)\n",
		       skipped_no_methods);
	printf("# translated into %s (%s)\n", base, keep ? "kept" : "removed at exit");
	fflush(stdout);

	/* --- 2. load --- */
	long rss_before = status_kb("VmRSS");
	mp_diags diags = {0};
	uint64_t t0 = now_ns();
	mp_engine *eng = mp_engine_open(mesh_dir, bundle_dir, &diags);
	mp_evaluator *ev = eng ? mp_evaluator_new(eng, NULL, &diags) : NULL;
	uint64_t t1 = now_ns();
	if (!eng || !ev) {
		mp_diags_print(&diags, stderr);
		keep = 1; /* leave the files for a look */
		die("cannot load the translated mesh and bundle (kept in %s)", base);
	}
	mp_diags_free(&diags);
	if (!eng->bundle || eng->bundle->nrules != nrules_written)
		die("the bundle has %u rules, %zu written", eng->bundle ? eng->bundle->nrules : 0,
		    nrules_written);
	long rss_after = status_kb("VmRSS");
	printf("# load: load_ms=%.1f policies=%u rules=%u services=%u (mp_engine_open: YAML "
	       "compile and "
	       "bundle load; mp_evaluator_new)\n",
	       (double)(t1 - t0) / 1e6, eng->bundle->npolicies, eng->bundle->nrules,
	       mp_model_get_view(eng->model).nservices);

	/* --- 3. warm-up and agreement --- */
	mp_decision d;
	size_t agree = 0, allowed = 0;
	if (count)
		CALLGRIND_START_INSTRUMENTATION;
	for (size_t i = 0; i < nq; i++) {
		mp_decide(ev, &reqs[i], &d, NULL);
		agree += (d.allow != 0) == expect[i];
		allowed += d.allow != 0;
	}
	printf("# agreement: %zu of %zu (meshpol allows %zu, expected %zu)\n", agree, nq, allowed,
	       nexpect_allow);
	if (agree != nq) {
		size_t shown = 0;
		for (size_t i = 0; i < nq && shown < 5; i++) {
			mp_decide(ev, &reqs[i], &d, NULL);
			if ((d.allow != 0) != expect[i]) {
				fprintf(stderr,
				        "rbac_bench: disagree: queries[%zu] %s -> %s %s %s: "
				        "meshpol %s (%s), expected %s\n",
				        i, reqs[i].principal, reqs[i].dst_service, reqs[i].method,
				        reqs[i].path, d.allow ? "allow" : "deny",
				        mp_effect_name(d.effect), expect[i] ? "allow" : "deny");
				shown++;
			}
		}
	}

	if (count) { /* the steady state of one pass, counted by callgrind */
		size_t allowed_counted = 0;
		CALLGRIND_ZERO_STATS;
		for (size_t i = 0; i < nq; i++) {
			mp_decide(ev, &reqs[i], &d, NULL);
			allowed_counted += d.allow != 0;
		}
		CALLGRIND_DUMP_STATS_AT("decisions");
		CALLGRIND_STOP_INSTRUMENTATION;
		if (allowed_counted != allowed)
			die("decisions changed between passes (%zu, expected %zu)", allowed_counted,
			    allowed);
		printf("meshpol decisions=%zu agree=%zu p50_us=n/a p99_us=n/a per_s=n/a\n", nq,
		       agree);
		goto done;
	}

	/* --- 4. timing --- */
	int cpu = pin_cpu();
	unsigned passes = (unsigned)((MIN_DECISIONS + nq - 1) / nq);
	if (passes < MIN_PASSES)
		passes = MIN_PASSES;
	size_t ntimed = (size_t)passes * nq;
	uint64_t *lat = xmalloc(ntimed * sizeof(*lat));

	/* the cost of one clock read, which every per-call sample includes once (not subtracted) */
	uint64_t *clk = xmalloc(100000 * sizeof(*clk));
	for (size_t i = 0; i < 100000; i++) {
		uint64_t a = now_ns();
		clk[i] = now_ns() - a;
	}
	qsort(clk, 100000, sizeof(*clk), cmp_u64);
	uint64_t clk_med = clk[50000];
	free(clk);

	size_t k = 0, allowed_timed = 0;
	uint64_t sum_ns = 0;
	for (unsigned p = 0; p < passes; p++)
		for (size_t i = 0; i < nq; i++) {
			uint64_t a = now_ns();
			mp_decide(ev, &reqs[i], &d, NULL);
			uint64_t b = now_ns();
			lat[k++] = b - a;
			sum_ns += b - a;
			allowed_timed += d.allow != 0;
		}
	uint64_t b0 = now_ns();
	size_t allowed_batch = 0;
	for (unsigned p = 0; p < passes; p++)
		for (size_t i = 0; i < nq; i++) {
			mp_decide(ev, &reqs[i], &d, NULL);
			allowed_batch += d.allow != 0;
		}
	uint64_t b1 = now_ns();
	if (allowed_timed != allowed * passes || allowed_batch != allowed * passes)
		die("decisions changed between passes (%zu, %zu, expected %zu)", allowed_timed,
		    allowed_batch, allowed * passes);

	qsort(lat, ntimed, sizeof(*lat), cmp_u64);
	double batch_s = (double)(b1 - b0) / 1e9;
	long rss_end = status_kb("VmRSS"), hwm = status_kb("VmHWM");
	printf("# memory (VmRSS, MiB): rss_before_load=%.1f (workload JSON and requests) "
	       "rss_after_load=%.1f loaded=%.1f (the load's share: model, bundle, evaluator) "
	       "rss_end=%.1f "
	       "hwm=%.1f\n",
	       rss_before / 1024.0, rss_after / 1024.0, (rss_after - rss_before) / 1024.0,
	       rss_end / 1024.0, hwm / 1024.0);
	if (cpu >= 0)
		printf("# pinned to cpu %d; ", cpu);
	else
		printf("# not pinned (sched_setaffinity failed); ");
	printf("%u passes over %zu queries = %zu timed decisions\n", passes, nq, ntimed);
	printf(
	    "# per-call timing (clock_gettime around each mp_decide, nothing subtracted; one clock "
	    "read costs ~%llu ns): min %.3f us, mean_us=%.3f, p50 %.3f us, p90 %.3f us, p99 %.3f "
	    "us, "
	    "p99.9 %.3f us, max %.3f us\n",
	    (unsigned long long)clk_med, lat[0] / 1e3, (double)sum_ns / (double)ntimed / 1e3,
	    pct(lat, ntimed, 0.5) / 1e3, pct(lat, ntimed, 0.9) / 1e3, pct(lat, ntimed, 0.99) / 1e3,
	    pct(lat, ntimed, 0.999) / 1e3, lat[ntimed - 1] / 1e3);
	printf("# batch timing (the same %zu decisions, one clock read around the loop): "
	       "batch_mean_us=%.3f "
	       "batch_per_s=%.0f\n",
	       ntimed, batch_s * 1e6 / (double)ntimed, (double)ntimed / batch_s);
	printf("meshpol decisions=%zu agree=%zu p50_us=%.3f p99_us=%.3f per_s=%.0f\n", nq, agree,
	       pct(lat, ntimed, 0.5) / 1e3, pct(lat, ntimed, 0.99) / 1e3, (double)ntimed / batch_s);
	free(lat);
done:
	fflush(stdout);
	free(reqs);
	free(expect);
	mp_evaluator_free(ev);
	mp_engine_release(eng);
	free(allows);
	free(deny_src);
	free(deny_dst);
	free(deny_id);
	free(svcs);
	free(by_name);
	free(by_principal);
	free(nss);
	free(regions);
	json_decref(w);
	return 0;
}
