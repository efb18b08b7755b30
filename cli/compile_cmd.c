/* compile_cmd.c: `meshpol compile`: YAML sources -> model summary, optionally an .mpm file
 * (written as every output is: engine/include/files.h). Kubernetes, Istio, Consul, Linkerd,
 * App Mesh and Kuma resources are imported from the same sources (docs/import.md). */
#include "cli.h"
#include "compile.h"
#include "diag.h"
#include "files.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLUSTER_DIRS 64

/* Is optarg one of values, all that the provider option of opts' val c takes? MP_EXIT_OK, else
 * the usage error that names them ("--consul-default-intention-policy wants allow or deny"). */
static int check_value(const mp_verb *v, const struct option *opts, int c,
                       const char *const *values)
{
	const char *name = "";
	char want[200] = "", q[64];
	size_t at = 0;
	for (const struct option *o = opts; o->name; o++)
		if (o->val == c)
			name = o->name;
	for (size_t i = 0; values[i]; i++) {
		if (!strcmp(values[i], optarg))
			return MP_EXIT_OK;
		if (at < sizeof(want))
			at += (size_t)snprintf(want + at, sizeof(want) - at, "%s%s",
			                       !i              ? ""
			                       : values[i + 1] ? ", "
			                                       : " or ",
			                       values[i]);
	}
	return mp_cli_usage_error(v, "--%s wants %s, not '%s'", name, want,
	                          mp_diag_quote(optarg, strlen(optarg), q, sizeof(q)));
}

int mp_cmd_compile(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("compile");
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"max-file-size", required_argument, NULL, 'M'},
	    {"trust-domain", required_argument, NULL, 'T'},
	    {"root-namespace", required_argument, NULL, 'R'},
	    {"cluster", required_argument, NULL, 'C'},
	    {"cloud", required_argument, NULL, 'P'},
	    {"region", required_argument, NULL, 'G'},
	    {"zone", required_argument, NULL, 'Z'},
	    {"cluster-dir", required_argument, NULL, 'D'},
	    {"follow-symlinks", no_argument, NULL, 'L'},
	    {"default-inbound-policy", required_argument, NULL, 'I'},
	    {"cluster-networks", required_argument, NULL, 'N'},
	    {"control-plane-namespace", required_argument, NULL, 'K'},
	    {"consul-default-intention-policy", required_argument, NULL, 'J'},
	    {"consul-namespaces", required_argument, NULL, 'S'},
	    {"appmesh-allow-all-with-backends", required_argument, NULL, 'W'},
	    {"kuma-system-namespace", required_argument, NULL, 'U'},
	    {"istio-mesh-config", required_argument, NULL, 'X'},
	    {"istio-meshpol-provider", required_argument, NULL, 'E'},
	    {NULL, 0, NULL, 0},
	};
	static const char *const allow_deny[] = {"allow", "deny", NULL};
	static const char *const refuse_allow[] = {"refuse", "allow", NULL};
	/* The mesh providers' options: long option, provider, the option's name there
	 * (engine/provider.h: a provider's row lists them), and the values it takes when the
	 * command line checks them (NULL: the provider does, as its import begins). */
	static const struct {
		int opt;
		const char *provider, *name;
		const char *const *values;
	} provider_opts[] = {
	    {'R', "istio", "root-namespace", NULL},
	    {'E', "istio", "meshpol-provider", NULL},
	    {'I', "linkerd", "default-inbound-policy", NULL},
	    {'N', "linkerd", "cluster-networks", NULL},
	    {'K', "linkerd", "control-plane-namespace", NULL},
	    {'J', "consul", "default-intention-policy", allow_deny},
	    {'S', "consul", "namespaces", NULL},
	    {'W', "appmesh", "allow-all-with-backends", refuse_allow},
	    {'U', "kuma", "system-namespace", NULL},
	    {'X', "istio", "mesh-config", NULL},
	};
	mp_provider_setting settings[sizeof(provider_opts) / sizeof(provider_opts[0])];
	static const char shortopts[] = "o:";
	const char *out = NULL;
	mp_compile_opts copts = {0};
	mp_cluster_dir dirs[MAX_CLUSTER_DIRS];
	const char *sources[4096];
	uint32_t ndirs = 0;
	char *dirbuf[MAX_CLUSTER_DIRS], err[1024];
	mp_cli_seen seen = {0};
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (c != 'D' && mp_cli_once(v, &seen, c, shortopts, opts) != MP_EXIT_OK)
			return MP_EXIT_USAGE;
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'M': {
			char *end;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (*end || !n)
				return mp_cli_usage_error(
				    v, "--max-file-size wants a byte count, not '%s'", optarg);
			copts.max_file_bytes = (size_t)n;
			break;
		}
		case 'T':
			copts.trust_domain = optarg;
			break;
		case 'R':
		case 'I':
		case 'N':
		case 'K':
		case 'J':
		case 'S':
		case 'W':
		case 'U':
		case 'X':
		case 'E':
			for (size_t i = 0; i < sizeof(provider_opts) / sizeof(provider_opts[0]);
			     i++) {
				if (provider_opts[i].opt != c)
					continue;
				if (provider_opts[i].values &&
				    (rc = check_value(v, opts, c, provider_opts[i].values)) !=
				        MP_EXIT_OK)
					return rc;
				settings[copts.nprovider_opts++] = (mp_provider_setting){
				    provider_opts[i].provider, provider_opts[i].name, optarg};
			}
			copts.provider_opts = settings;
			break;
		case 'C':
			copts.cluster = optarg;
			break;
		case 'P':
			copts.cloud = optarg;
			break;
		case 'G':
			copts.region = optarg;
			break;
		case 'Z':
			copts.zone = optarg;
			break;
		case 'D': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1])
				return mp_cli_usage_error(
				    v, "--cluster-dir wants NAME=DIR, not '%s'", optarg);
			if (ndirs == MAX_CLUSTER_DIRS)
				return mp_cli_usage_error(v, "more than %d --cluster-dir options",
				                          MAX_CLUSTER_DIRS);
			dirs[ndirs].name = optarg;
			dirs[ndirs].dir = eq + 1;
			dirbuf[ndirs] = optarg; /* NAME ends at '=': cut it there below */
			ndirs++;
			break;
		}
		case 'L':
			copts.follow_symlinks = 1;
			break;
		default:
			return mp_cli_usage_error(v, "unknown option");
		}
	}
	if ((copts.cloud || copts.region || copts.zone) && !copts.cluster)
		return mp_cli_usage_error(v,
		                          "--cloud, --region and --zone describe --cluster NAME");
	if (!ndirs && (rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	uint32_t nsrc = 0;
	for (uint32_t i = 0; i < ndirs; i++) {
		*strchr(dirbuf[i], '=') = '\0';
		sources[nsrc++] = dirs[i].dir;
	}
	for (int i = optind; i < argc && nsrc < sizeof(sources) / sizeof(sources[0]); i++)
		sources[nsrc++] = argv[i];
	copts.cluster_dirs = dirs;
	copts.ncluster_dirs = ndirs;

	/* The output first: a path that cannot be written is the user's to fix (exit 2), and is
	 * better said before a long compile than after. Nothing replaces it until the commit. */
	mp_diags d = {0};
	mp_model *m = NULL;
	mp_out *o = NULL;
	FILE *summary = stdout;
	rc = MP_EXIT_USAGE;
	if (out && !(o = mp_out_open(out, 0666, 0, err, sizeof(err)))) {
		fprintf(stderr, "meshpol compile: %s\n", err);
		goto out;
	}
	if (o && mp_out_file(o) == stdout)
		summary = stderr; /* stdout carries the model */
	m = mp_compile(sources, nsrc, &copts, &d);
	mp_diags_print(&d, stderr);
	if (!m) {
		fprintf(stderr, "meshpol compile: %u error%s\n", d.errors,
		        d.errors == 1 ? "" : "s");
		goto out;
	}
	rc = MP_EXIT_FAIL;
	if (o && mp_model_write(m, mp_out_file(o)) < 0) {
		fprintf(stderr, "meshpol compile: %s: cannot write: %s\n", out, strerror(errno));
		goto out;
	}
	if (o) {
		int committed = mp_out_commit(o, err, sizeof(err));
		o = NULL; /* freed by the commit, whatever its result */
		if (committed < 0) {
			fprintf(stderr, "meshpol compile: %s\n", err);
			goto out;
		}
	}
	rc = MP_EXIT_OK;
	mp_model_view mv = mp_model_get_view(m);
	char imported[200] = "";
	if (mv.nworkloads || mv.nresources) {
		uint32_t npolicies = 0;
		/* the meshes' authorization kinds (Istio's and Linkerd's, Consul's, Kuma's) */
		static const char *const authz[] = {"AuthorizationPolicy", "ServiceIntentions",
		                                    "MeshTrafficPermission", "TrafficPermission",
		                                    NULL};
		for (uint32_t i = 0; i < mv.nresources; i++)
			for (size_t k = 0; authz[k]; k++)
				npolicies +=
				    !strcmp(mp_model_str(m, mv.resources[i].kind), authz[k]);
		snprintf(imported, sizeof(imported),
		         ", %u workloads, %u authorization policies, %u import findings",
		         mv.nworkloads, npolicies, mv.nfindings);
	}
	fprintf(summary,
	        "%u clusters, %u jurisdictions, %u namespaces, %u services, %u routes, %u "
	        "externals, %u certificates%s; sha256 %s%s%s\n",
	        mv.nclusters, mv.njurisdictions, mv.nnamespaces, mv.nservices, mv.nroutes,
	        mv.nexternals, mv.ncerts, imported, mp_model_sha256(m), out ? " -> " : "",
	        out ? out : "");
out:
	mp_out_discard(o);
	mp_model_free(m);
	mp_diags_free(&d);
	return rc;
}
