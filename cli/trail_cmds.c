/* trail_cmds.c: `meshpol verify` (check a trail's hash chain and seals, and a head or run count
 * kept elsewhere), `meshpol trail head|adopt` (record a trail's head; seal records found unsealed,
 * on purpose) and `meshpol keygen` (an Ed25519 key pair for signing seals). Reference:
 * docs/cli.md, docs/trail-format.md. */
#include "cli.h"
#include "diag.h"
#include "files.h"
#include "trail.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* --runs: a whole number from 1, digits only (no sign, no spaces, no 0x). */
static int parse_runs(const char *s, uint64_t *out)
{
	uint64_t n = 0;
	if (!*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = n;
	return n ? 0 : -1;
}

/* Checks --head before the trail is read, so a malformed value is a usage error (exit 2). */
static int check_head_arg(const mp_verb *v, const char *head)
{
	size_t n = strlen(head), hex = 0;
	char q[96];
	if (mp_trail_is_hash(head))
		return MP_EXIT_OK;
	if (!n)
		return mp_cli_usage_error(v, "--head is empty; give the 64 hex digits of a head "
		                             "(meshpol trail head prints it)");
	for (const char *p = head; *p; p++)
		hex += (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		       (*p >= 'A' && *p <= 'F');
	if (n == 64 && hex == n)
		return mp_cli_usage_error(v, "--head must be in lower case, as trails and meshpol "
		                             "trail head write hashes");
	return mp_cli_usage_error(v, "--head takes a SHA-256 in 64 lower-case hex digits, not '%s'",
	                          mp_diag_quote(head, n, q, sizeof(q)));
}

enum { O_PUBKEY = 256, O_HEAD, O_RUNS, O_SIGN_KEY };

#define PUBKEY_OPTION                                                                              \
	{                                                                                          \
		O_PUBKEY, 0, "pubkey", "PUB.pem",                                                  \
		    "check every seal's Ed25519 signature with this public key", NULL, MP_OPT_FILE \
	}

const mp_option mp_verify_options[] = {
    PUBKEY_OPTION,
    {O_HEAD, 0, "head", "SHA256",
     "a head recorded earlier (meshpol trail head): some record must have this hash", NULL, 0},
    {O_RUNS, 0, "runs", "N", "the trail must hold at least N audit runs", NULL, 0},
    {0},
};

int mp_cmd_verify(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("verify");
	mp_trail_verify_opts o = {0};
	char err[512], q[64];
	mp_trail_report rep;
	mp_cli_parser p = {0};
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR) {
			return MP_EXIT_USAGE;
		} else if (c == O_PUBKEY) {
			o.pubkey_path = optarg;
		} else if (c == O_HEAD) {
			if ((rc = check_head_arg(v, optarg)) != MP_EXIT_OK)
				return rc;
			o.head = optarg;
		} else if (c == O_RUNS) {
			if (parse_runs(optarg, &o.min_runs) < 0)
				return mp_cli_usage_error(
				    v, "--runs takes a whole number of runs from 1, not '%s'",
				    mp_diag_quote(optarg, strlen(optarg), q, sizeof(q)));
		}
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	const char *path = argv[optind];
	rc = mp_trail_verify_with(path, &o, &rep, err, sizeof(err));
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
	       path, rep.records, plural(rep.records), rep.runs, plural(rep.runs), rep.seals,
	       plural(rep.seals), rep.verified_signatures, plural(rep.verified_signatures));
	if (o.head && rep.head_line == 0)
		printf("%s: head: the given head is an empty trail's (64 zeros); %" PRIu64
		       " record%s follow%s it\n",
		       path, rep.after_head, plural(rep.after_head),
		       rep.after_head == 1 ? "s" : "");
	else if (o.head && rep.after_head == 0)
		printf("%s: head: the last record (line %" PRIu64 ") has the given hash\n", path,
		       rep.head_line);
	else if (o.head)
		printf("%s: head: line %" PRIu64 " has the given hash; %" PRIu64
		       " record%s follow%s it\n",
		       path, rep.head_line, rep.after_head, plural(rep.after_head),
		       rep.after_head == 1 ? "s" : "");
	if (!o.pubkey_path && rep.signed_seals)
		printf("%s: note: %" PRIu64
		       " signed seal%s present but not checked (give --pubkey; "
		       "key_id %s)\n",
		       path, rep.signed_seals, plural(rep.signed_seals), rep.key_id);
	if (rep.unsealed)
		printf("%s: note: %" PRIu64 " record%s after the last seal %s not sealed\n", path,
		       rep.unsealed, plural(rep.unsealed), rep.unsealed == 1 ? "is" : "are");
	if (rep.unlogged || rep.gaps)
		printf("%s: note: decision log: %" PRIu64
		       " decision%s answered closed and not logged "
		       "while the log could not be written (%" PRIu64 " gap record%s, the first at "
		       "line %" PRIu64 "; end records from line %" PRIu64 ")\n",
		       path, rep.unlogged, plural(rep.unlogged), rep.gaps, plural(rep.gaps),
		       rep.first_gap_line, rep.first_short_end_line);
	if (rep.dropped)
		printf("%s: note: decision log: %" PRIu64
		       " decision%s answered but dropped from the "
		       "log (drop mode; the first end record saying so is at line %" PRIu64 ")\n",
		       path, rep.dropped, plural(rep.dropped), rep.first_short_end_line);
	if (rep.adopting_seals)
		printf("%s: note: %" PRIu64 " seal%s adopted %" PRIu64
		       " record%s found unsealed (the first at line %" PRIu64
		       "): sealed on purpose, not written by the run that sealed them\n",
		       path, rep.adopting_seals, plural(rep.adopting_seals), rep.adopted,
		       plural(rep.adopted), rep.first_adopting_line);
	if (!rep.records)
		printf(
		    "%s: note: the trail is empty (nothing to check; a trail cut to nothing looks "
		    "the same: --pubkey, --head or --runs refuse it)\n",
		    path);
	return MP_EXIT_OK;
}

/* ---- meshpol trail SUBCOMMAND: one row per subcommand, checked like the verbs ---- */

/* Prints the trail's head as the arguments that check it again: `--head HASH --runs N`. */
static int trail_head(int argc, char **argv);
/* Seals the records after the last seal, marking the seal as adopting them. */
static int trail_adopt(int argc, char **argv);
/* Decision log batches (--decision-log-url) back into the trail's JSON Lines. */
static int trail_join(int argc, char **argv);

static const mp_option head_options[] = {PUBKEY_OPTION, {0}};
static const mp_option adopt_options[] = {
    {O_SIGN_KEY, 0, "sign-key", "KEY.pem", "sign the seal with this Ed25519 private key", NULL,
     MP_OPT_FILE},
    {0},
};

static const mp_verb subcommands[] = {
    {"trail head", trail_head, 1, 1, "trail head TRAIL [--pubkey PUB.pem]",
     "print the trail's head as \"--head SHA256 --runs N\", for verify to check later",
     head_options, NULL, NULL},
    {"trail adopt", trail_adopt, 1, 1, "trail adopt TRAIL [--sign-key KEY.pem]",
     "seal the records after the last seal, the seal saying that it adopted them", adopt_options,
     NULL, NULL},
    {"trail join", trail_join, 1, -1, "trail join BATCH...",
     "print the records of decision log batches (--decision-log-url) as the trail's JSON "
     "Lines, in order, each once, for verify",
     NULL, NULL, NULL},
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

const mp_verb *mp_trail_subcommands(size_t *n)
{
	*n = NSUBCOMMANDS;
	return subcommands;
}

static int trail_head(int argc, char **argv)
{
	const mp_verb *v = &subcommands[0];
	mp_trail_verify_opts o = {0};
	mp_trail_report rep;
	char err[512];
	mp_cli_parser p = {0};
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		o.pubkey_path = optarg; /* --pubkey, the one option */
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	const char *path = argv[optind];
	rc = mp_trail_verify_with(path, &o, &rep, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		return MP_EXIT_USAGE;
	}
	/* stdout is for a script to keep: a head is printed only for a trail that verifies */
	if (rc > 0) {
		fprintf(stderr, "meshpol %s: %s: TAMPERED: %s\n", v->name, path, rep.message);
		return MP_EXIT_FAIL;
	}
	if (!rep.records) {
		fprintf(stderr, "meshpol %s: %s: the trail is empty: it has no head to record\n",
		        v->name, path);
		return MP_EXIT_FAIL;
	}
	if (rep.runs)
		printf("--head %s --runs %" PRIu64 "\n", rep.last_hash, rep.runs);
	else
		printf("--head %s\n", rep.last_hash);
	return MP_EXIT_OK;
}

static int trail_adopt(int argc, char **argv)
{
	const mp_verb *v = &subcommands[1];
	const char *key = NULL;
	char err[1024];
	struct stat st;
	mp_cli_parser p = {0};
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		key = optarg; /* --sign-key, the one option */
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	const char *path = argv[optind];
	/* adopting never starts a trail: opening would create a missing file */
	if (stat(path, &st) < 0) {
		fprintf(stderr, "meshpol %s: %s: %s\n", v->name, path, strerror(errno));
		return MP_EXIT_USAGE;
	}
	mp_trail *t = mp_trail_open_flags(path, key, MP_TRAIL_ADOPT_UNSEALED, err, sizeof(err));
	if (!t) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		return MP_EXIT_USAGE;
	}
	uint64_t n = mp_trail_unsealed(t), last = mp_trail_seq(t);
	if (!n) {
		printf("%s: nothing to adopt: %s\n", path,
		       last ? "the trail ends in a seal" : "the trail is empty");
		mp_trail_close(t);
		return MP_EXIT_OK;
	}
	if (mp_trail_seal(t, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshpol %s: %s\n", v->name, err);
		mp_trail_close(t);
		return MP_EXIT_FAIL;
	}
	printf("%s: adopted %" PRIu64 " unsealed record%s (lines %" PRIu64 "-%" PRIu64
	       "): sealed %s at line %" PRIu64 "\n",
	       path, n, plural(n), last - n + 1, last, key ? "and signed" : "unsigned", last + 1);
	mp_trail_close(t);
	return MP_EXIT_OK;
}

const mp_option mp_keygen_options[] = {
    {'o', 'o', "output", "KEY.pem",
     "the private key's path; the public key goes beside it as KEY.pub.pem (never replaced)", NULL,
     MP_OPT_FILE},
    {0},
};

int mp_cmd_keygen(int argc, char **argv)
{
	const mp_verb *v = mp_cli_verb("keygen");
	const char *out = NULL;
	char err[512], pub[PATH_MAX], key_id[65];
	mp_cli_parser p = {0};
	mp_out *priv_out = NULL, *pub_out = NULL;
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE) {
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
		out = optarg; /* -o, the one option */
	}
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	if (!out)
		return mp_cli_usage_error(v, "-o KEY.pem is required");
	if (!strcmp(out, "-"))
		return mp_cli_usage_error(v, "-o takes a file name: a key pair is two files");
	if (mp_trail_pubkey_path(out, pub, sizeof(pub)) < 0)
		return mp_cli_usage_error(v, "%s: path too long", out);
	/* As mp_trail_keygen, in two steps: a path that cannot be created (it exists, its
	 * directory does not) is an input error, exit 2; a failure after that is exit 1. Keys are
	 * never overwritten (MP_OUT_NEW), and a failure leaves neither file behind. */
	rc = MP_EXIT_USAGE;
	if (!(priv_out = mp_out_open(out, 0600, MP_OUT_NEW, err, sizeof(err))) ||
	    !(pub_out = mp_out_open(pub, 0644, MP_OUT_NEW, err, sizeof(err))))
		goto fail;
	rc = MP_EXIT_FAIL;
	int made = mp_trail_keygen_into(priv_out, out, pub_out, err, sizeof(err));
	priv_out = pub_out = NULL; /* consumed */
	if (made < 0 || mp_trail_key_id(pub, key_id, err, sizeof(err)) < 0)
		goto fail;
	printf("%s: private key (keep it secret; mode 0600)\n%s: public key, key_id %s\n", out, pub,
	       key_id);
	return MP_EXIT_OK;
fail:
	fprintf(stderr, "meshpol keygen: %s\n", err);
	mp_out_discard(priv_out);
	mp_out_discard(pub_out);
	return rc;
}

/* ---- trail join: a batch is "[\n", then each record's exact bytes on a line of its own, a
 * comma after every one but the last, then "]\n" (docs/bundles.md, "Shipping decision logs"),
 * gzip-compressed as uploaded or not ---- */

#define BATCH_MAX (256u << 20)

/* The whole of a gzip (or plain) file, malloc'd; NULL with err. */
static char *read_batch(const char *path, size_t *len, char *err, size_t errlen)
{
	gzFile g = gzopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0;
	*len = 0;
	if (!g) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : ENOENT));
		return NULL;
	}
	for (;;) {
		if (*len + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			char *b = cap > BATCH_MAX + 65536 + 1 ? NULL : realloc(buf, cap);
			if (!b) {
				snprintf(err, errlen, "%s: over %u bytes uncompressed", path,
				         BATCH_MAX);
				goto fail;
			}
			buf = b;
		}
		int n = gzread(g, buf + *len, 65536);
		if (n < 0) {
			int e;
			snprintf(err, errlen, "%s: %s", path, gzerror(g, &e));
			goto fail;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	gzclose(g);
	buf[*len] = '\0';
	return buf;
fail:
	gzclose(g);
	free(buf);
	return NULL;
}

/* Writes the batch's records newer than *last_seq to out; -1 with err when the batch is not
 * what an upload sends. */
static int join_batch(const char *path, char *text, size_t len, uint64_t *last_seq, FILE *out,
                      uint64_t *written, char *err, size_t errlen)
{
	if (len < 4 || strncmp(text, "[\n", 2) || strcmp(text + len - 2, "]\n")) {
		snprintf(err, errlen, "%s: not a decision log batch (\"[\", records, \"]\")", path);
		return -1;
	}
	text[len - 2] = '\0';
	uint64_t line = 1;
	for (char *p = text + 2; *p;) {
		char *nl = strchr(p, '\n');
		line++;
		if (!nl) {
			snprintf(err, errlen, "%s:%" PRIu64 ": a record without its newline", path,
			         line);
			return -1;
		}
		size_t n = (size_t)(nl - p);
		int last = nl[1] == '\0';
		if (!last && n && p[n - 1] == ',')
			n--;
		char *end;
		uint64_t seq = strtoull(p + 7, &end, 10);
		if (n < 10 || strncmp(p, "{\"seq\":", 7) || *end != ',' || p[n - 1] != '}') {
			snprintf(err, errlen, "%s:%" PRIu64 ": not a trail record", path, line);
			return -1;
		}
		if (seq > *last_seq || *written == 0) { /* a batch sent again: its records once */
			fwrite(p, 1, n, out);
			fputc('\n', out);
			*last_seq = seq;
			(*written)++;
		}
		p = nl + 1;
	}
	return 0;
}

static int trail_join(int argc, char **argv)
{
	const mp_verb *v = &subcommands[2];
	char err[600];
	mp_cli_parser p = {0};
	int c, rc;
	while ((c = mp_cli_next(v, &p, argc, argv)) != MP_CLI_DONE)
		if (c == MP_CLI_ERROR)
			return MP_EXIT_USAGE;
	if ((rc = mp_cli_check_arity(v, argc - optind)) != MP_EXIT_OK)
		return rc;
	uint64_t last_seq = 0, written = 0;
	for (int i = optind; i < argc; i++) {
		size_t len;
		char *text = read_batch(argv[i], &len, err, sizeof(err));
		rc = text ? join_batch(argv[i], text, len, &last_seq, stdout, &written, err,
		                       sizeof(err))
		          : -1;
		free(text);
		if (rc < 0) {
			fprintf(stderr, "meshpol %s: %s\n", v->name, err);
			return MP_EXIT_USAGE;
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "meshpol %s: cannot write the records: %s\n", v->name,
		        strerror(errno));
		return MP_EXIT_FAIL;
	}
	return MP_EXIT_OK;
}
