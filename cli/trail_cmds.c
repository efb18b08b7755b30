/* trail_cmds.c: `meshpol verify` (check a trail's hash chain and seals) and `meshpol keygen`
 * (an Ed25519 key pair for signing seals). Reference: docs/cli.md, docs/trail-format.md. */
#include "cli.h"
#include "trail.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

int mp_cmd_verify(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("verify");
	static const struct option opts[] = {
	    {"pubkey", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	const char *pubkey = NULL;
	char err[512];
	mp_trail_report rep;
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'k')
			pubkey = optarg;
		else
			return mp_cli_usage_error(v, "unknown option");
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	const char *path = argv[optind];
	rc = mp_trail_verify(path, pubkey, &rep, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "meshpol verify: %s\n", err);
		return MP_EXIT_USAGE;
	}
	if (rc > 0) {
		printf("%s: TAMPERED: %s\n", path, rep.message);
		return MP_EXIT_FAIL;
	}
	printf("%s: intact: %" PRIu64 " record%s in %" PRIu64 " run%s, %" PRIu64 " seal%s (%" PRIu64
	       " signature%s verified)\n",
	       path, rep.records, rep.records == 1 ? "" : "s", rep.runs, rep.runs == 1 ? "" : "s",
	       rep.seals, rep.seals == 1 ? "" : "s", rep.verified_signatures,
	       rep.verified_signatures == 1 ? "" : "s");
	if (!pubkey && rep.signed_seals)
		printf("%s: note: %" PRIu64
		       " signed seal%s present but not checked (give --pubkey; "
		       "key_id %s)\n",
		       path, rep.signed_seals, rep.signed_seals == 1 ? "" : "s", rep.key_id);
	if (rep.unsealed)
		printf("%s: note: %" PRIu64 " record%s after the last seal %s not sealed\n", path,
		       rep.unsealed, rep.unsealed == 1 ? "" : "s",
		       rep.unsealed == 1 ? "is" : "are");
	return MP_EXIT_OK;
}

int mp_cmd_keygen(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("keygen");
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	char err[512], pub[PATH_MAX], key_id[65];
	int c, rc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else
			return mp_cli_usage_error(v, "unknown option");
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!out)
		return mp_cli_usage_error(v, "-o KEY.pem is required");
	if (mp_trail_pubkey_path(out, pub, sizeof(pub)) < 0)
		return mp_cli_usage_error(v, "%s: path too long", out);
	if (mp_trail_keygen(out, err, sizeof(err)) < 0 ||
	    mp_trail_key_id(pub, key_id, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol keygen: %s\n", err);
		return MP_EXIT_FAIL;
	}
	printf("%s: private key (keep it secret; mode 0600)\n%s: public key, key_id %s\n", out, pub,
	       key_id);
	return MP_EXIT_OK;
}
