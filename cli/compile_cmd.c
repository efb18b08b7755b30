/* compile_cmd.c: `meshpol compile`: YAML sources -> model summary, optionally an .mpm file
 * (written as every output is: engine/include/files.h). Kubernetes, Istio, Consul, Linkerd,
 * App Mesh and Kuma resources are imported from the same sources (docs/import.md). */
#include "cli.h"
#include "compile.h"
#include "diag.h"
#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLUSTER_DIRS 64

static const char *const allow_deny[] = {"allow", "deny", NULL};
static const char *const refuse_allow[] = {"refuse", "allow", NULL};

const mp_option mp_compile_options[] = {
    {'o', 'o', "output", "OUT.mpm",
     "also write the compiled model to OUT.mpm, replaced whole (- for stdout)", NULL, MP_OPT_FILE},
    {'M', 0, "max-file-size", "BYTES", "refuse source files larger than BYTES (default 64 MiB)",
     NULL, 0},
    {'L', 0, "follow-symlinks", NULL,
     "read symbolic links that lead outside the directory walked, rather than refuse them", NULL,
     0},
    {'T', 0, "trust-domain", "TD",
     "the trust domain of imported identities (spiffe://TD/...; default cluster.local)", NULL, 0},
    {'R', 0, "root-namespace", "NS", "Istio's root namespace (default istio-system)", NULL, 0},
    {'E', 0, "istio-meshpol-provider", "NAME",
     "the name of meshpol's entry in Istio's extensionProviders, which CUSTOM policies name", NULL,
     0},
    {'I', 0, "default-inbound-policy", "POLICY",
     "Linkerd's cluster default inbound policy (proxy.defaultInboundPolicy), over the "
     "configuration's",
     NULL, 0},
    {'N', 0, "cluster-networks", "CIDRS",
     "Linkerd's cluster networks, comma-separated CIDRs (clusterNetworks)", NULL, 0},
    {'K', 0, "control-plane-namespace", "NS",
     "the namespace Linkerd's control plane runs in (part of its identities)", NULL, 0},
    {'J', 0, "consul-default-intention-policy", "POLICY",
     "Consul's intention default, over what the server configuration says", allow_deny, 0},
    {'S', 0, "consul-namespaces", "MODE",
     "Kubernetes namespaces as Consul namespaces: off (Consul CE), mirror, mirror=PREFIX, or "
     "one namespace for all",
     NULL, 0},
    {'W', 0, "appmesh-allow-all-with-backends", "CHOICE",
     "App Mesh's ALLOW_ALL egress for a node that declares backends: refuse (the API "
     "reference; the default) or allow (the user guide)",
     refuse_allow, 0},
    {'U', 0, "kuma-system-namespace", "NS",
     "Kuma's system namespace, whose policies apply mesh-wide (default kuma-system)", NULL, 0},
    {'X', 0, "istio-mesh-config", "FILE",
     "Istio's MeshConfig (istioctl's --meshConfigFile), over the istio ConfigMap of the sources",
     NULL, MP_OPT_FILE},
    {'C', 0, "cluster", "NAME", "put the sources' resources in cluster NAME", NULL, 0},
    {'P', 0, "cloud", "X", "the cloud of --cluster", NULL, 0},
    {'G', 0, "region", "R", "the region of --cluster", NULL, 0},
    {'Z', 0, "zone", "Z", "the zone of --cluster", NULL, 0},
    {'D', 0, "cluster-dir", "NAME=DIR", "read DIR as the resources of cluster NAME", NULL,
     MP_OPT_REPEAT | MP_OPT_DIR},
    MP_CLI_QUIET_OPTION,
    {0},
};

int mp_cmd_compile(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("compile");
	/* The mesh providers' options: option, provider and the option's name there
	 * (engine/provider.h: a provider's row lists them); the table checked the values. */
	static const struct {
		int opt;
		const char *provider, *name;
	} provider_opts[] = {
	    {'R', "istio", "root-namespace"},
	    {'E', "istio", "meshpol-provider"},
	    {'I', "linkerd", "default-inbound-policy"},
	    {'N', "linkerd", "cluster-networks"},
	    {'K', "linkerd", "control-plane-namespace"},
	    {'J', "consul", "default-intention-policy"},
	    {'S', "consul", "namespaces"},
	    {'W', "appmesh", "allow-all-with-backends"},
	    {'U', "kuma", "system-namespace"},
	    {'X', "istio", "mesh-config"},
	};
	mp_provider_setting settings[sizeof(provider_opts) / sizeof(provider_opts[0])];
	const char *out = NULL;
	mp_compile_opts copts = {0};
	mp_cluster_dir dirs[MAX_CLUSTER_DIRS];
	const char *sources[4096];
	uint32_t ndirs = 0;
	char *dirbuf[MAX_CLUSTER_DIRS], err[1024];
	mp_cli_parser p = {0};
	int c, rc, quiet = 0;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		switch (c) {
		case MP_CLI_ERROR:
			return MP_EXIT_USAGE;
		case 'o':
			out = optarg;
			break;
		case 'q':
			quiet = 1;
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
			     i++)
				if (provider_opts[i].opt == c)
					settings[copts.nprovider_opts++] =
					    (mp_provider_setting){provider_opts[i].provider,
					                          provider_opts[i].name, optarg};
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
	mp_diags d = {.quiet = quiet};
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
