/* trail.h: the tamper-evident compliance trail: hash-chained JSON Lines records, sealed with
 * Ed25519 signatures, and their verification. Format and threat model: docs/trail-format.md.
 *
 * Ownership: an mp_trail owns its file descriptor, its key and its line buffer; mp_trail_close
 * frees them. Content objects passed in are borrowed (never stolen, never kept). An mp_trail is
 * not thread-safe: one thread (the audit run, or the server's log writer thread) owns it. The
 * functions that take no mp_trail (encode, verify, keygen, key_id) may run on any thread.
 *
 * Lifecycle of a writer:
 *   mp_trail_open -> (mp_trail_append | mp_trail_append_nosync ... mp_trail_sync
 *                     | mp_trail_seal)* -> mp_trail_close
 * A run normally writes "start", its records, "end", then mp_trail_seal. Closing does not seal,
 * and the next mp_trail_open refuses a trail left without its seal (MP_TRAIL_ADOPT_UNSEALED).
 * After a write that failed and could not be undone, every later append or seal fails; close the
 * trail (the file on disk ends at the last complete record, or is torn and verify says so).
 */
#ifndef MP_TRAIL_H
#define MP_TRAIL_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "files.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The longest record line the writer produces and the verifier reads. */
#define MP_TRAIL_MAX_LINE (16u << 20)

typedef struct mp_trail mp_trail;

/* Opens the trail at path for appending, creating it (mode 0640 before umask) when absent. The
 * existing file is read once, in full: its whole chain is verified, and the last record's seq and
 * hash are kept, so appending never reads the file again. Refuses (NULL, and err says why, naming
 * the line) a trail whose chain is broken or whose last line is torn (no newline), a trail another
 * process holds open for appending (an exclusive flock, held until close), a trail whose seals
 * would disagree with the new ones (with a key, every earlier signed seal must verify with it and
 * none may be unsigned; without one, no earlier seal may be signed: that keeps every trail
 * verifiable with one public key), and a trail with records after its last seal (or records and
 * no seal): anyone can chain records, so this writer's next seal would vouch for records it did
 * not write. A trail is extended only where it ends in a seal, or is empty.
 * sign_key_path: the path of an Ed25519 private key PEM (as written by mp_trail_keygen), or NULL
 * for unsigned seals ("alg": "none"). Encrypted keys are refused. */
mp_trail *mp_trail_open(const char *path, const char *sign_key_path, char *err, size_t errlen);
/* path NULL: a new chain kept in memory only (seq 1 first; nothing is read or written, syncs
 * do nothing), whose records reach whoever reads them through its sink (mp_trail_set_sink). */

/* Flags for mp_trail_open_flags. */
enum {
	/* Accept records after the last seal instead of refusing them: the next seal covers them
	 * and says so ("adopted": how many, also in the signed message), and verify reports it.
	 * For an operator who has looked at them (a run that died before its seal). */
	MP_TRAIL_ADOPT_UNSEALED = 1u << 0,
};
/* mp_trail_open with flags (0: the same as mp_trail_open). */
mp_trail *mp_trail_open_flags(const char *path, const char *sign_key_path, unsigned flags,
                              char *err, size_t errlen);

/* Told each record right after it was written (appended, or kept in memory), on the thread
 * that wrote it: line is the record's exact bytes with its newline (len bytes), valid only for
 * the call. The decision log's upload (server/logship.c) ships them as written. */
typedef void (*mp_trail_sink)(void *arg, const char *line, size_t len);
/* Sets (or, with NULL, clears) t's sink. */
void mp_trail_set_sink(mp_trail *t, mp_trail_sink sink, void *arg);

/* Appends one record {"seq", "time", "type", "prev", ...content} with one write(2) of the whole
 * line, then fsyncs. type: 1-64 characters of [a-z0-9_.-], and not "seal" (mp_trail_seal writes
 * seals). content: a JSON object (borrowed), or NULL for none; its keys are written sorted, and
 * must not be seq, time, type or prev. 0 on success; -1 and err otherwise (the trail is then
 * unchanged on disk unless the failure was in fsync, or the write could not be rolled back). */
int mp_trail_append(mp_trail *t, const char *type, json_t *content, char *err, size_t errlen);
/* The same without fsync: the record is in the file (visible to readers, and surviving a crash
 * of this process) but not yet on stable storage. Call mp_trail_sync to make a batch durable. */
int mp_trail_append_nosync(mp_trail *t, const char *type, json_t *content, char *err,
                           size_t errlen);
/* Batched writes, for a writer with many records at once: after mp_trail_hold, appends frame and
 * chain their records in memory; mp_trail_flush writes all of them with one write(2) (the caller
 * bounds how much it holds). When that write fails none of them
 * is in the file and the chain is as it was before them (seq, head); -1 and err. The sink is told
 * each record once it is written. mp_trail_sync, mp_trail_seal and the appends that sync flush
 * first. */
void mp_trail_hold(mp_trail *t);
int mp_trail_flush(mp_trail *t, char *err, size_t errlen);
/* The trail's file descriptor (-1 for a chain in memory), for a writer that fsyncs on another
 * thread while appends go on: fsync(2) of it makes durable every append that returned before.
 * A new file's directory is synced by the first mp_trail_sync (mp_trail_append makes one). */
int mp_trail_fd(const mp_trail *t);
/* fsyncs the trail (and, the first time after creating it, its directory), after flushing. */
int mp_trail_sync(mp_trail *t, char *err, size_t errlen);

/* For a writer thread fed by other threads: those threads encode the content (the costly part),
 * the writer only frames, hashes and writes it. mp_trail_content_encode returns the compact,
 * key-sorted JSON text of content (an object, or NULL for {}) in memory the caller frees with
 * mp_free, or NULL and err (not an object, a reserved key, out of memory). Any thread. */
char *mp_trail_content_encode(json_t *content, size_t *len, char *err, size_t errlen);
/* Like mp_trail_append_nosync, with content as returned by mp_trail_content_encode (borrowed). */
int mp_trail_append_encoded(mp_trail *t, const char *type, const char *content, size_t len,
                            char *err, size_t errlen);

/* Appends a "seal" record: {"head": hash of the previous record, "records": records since the
 * previous seal (or the start of the file), "alg": "ed25519", "signature": base64, "key_id": hex
 * SHA-256 of the public key's DER} with a key, or {"head", "records", "alg": "none"} without; then
 * fsyncs everything written so far. The signed message is given in docs/trail-format.md. */
int mp_trail_seal(mp_trail *t, char *err, size_t errlen);

/* The last record's seq (0 for an empty trail) and hex hash (64 zeros for an empty trail). */
uint64_t mp_trail_seq(const mp_trail *t);
void mp_trail_head(const mp_trail *t, char out[65]);
/* Records after the last seal, seals not counted: 0 right after a seal, and after opening unless
 * the trail was opened with MP_TRAIL_ADOPT_UNSEALED. */
uint64_t mp_trail_unsealed(const mp_trail *t);

/* Closes the file and frees t (NULL is fine). Does not seal and does not fsync. */
void mp_trail_close(mp_trail *t);

/* What mp_trail_verify found. Counts cover the records read up to the first failure. */
typedef struct {
	uint64_t records;             /* records read (seals included) */
	uint64_t runs;                /* "start" records */
	uint64_t seals;               /* seal records */
	uint64_t signed_seals;        /* seals with "alg": "ed25519" */
	uint64_t verified_signatures; /* signatures checked and valid (0 without a public key) */
	uint64_t unsealed;            /* records after the last seal */
	uint64_t first_unsealed_line; /* the first of them, 0 if none */
	uint64_t adopting_seals;      /* seals with "adopted" (mp_trail_open_flags) */
	uint64_t adopted;             /* records those seals adopted */
	uint64_t first_adopting_line; /* the first such seal, 0 if none */
	/* Decision logs (`meshpol serve --decision-log`): runs whose end record counts their
	 * decision records (each checked against the records the run holds), "gap" records, and
	 * what the end records say was not logged: decisions answered closed because the log could
	 * not take them (failed + refused; never allowed unlogged), and decisions answered but
	 * dropped (drop mode). first_*_line: the first gap record, the first end record that
	 * reports a loss; 0 if none. */
	uint64_t logged_runs, gaps, unlogged, dropped;
	uint64_t first_gap_line, first_short_end_line;
	char key_id[65];    /* key_id of the first signed seal, "" if none */
	char last_hash[65]; /* the head: hash of the last record read, 64 zeros if none */
	/* With mp_trail_verify_opts.head, when found: the record that has it (0 for 64 zeros, the
	 * head of an empty trail) and how many records follow it. */
	int head_found;
	uint64_t head_line, after_head;
	/* On failure: the first bad record. For the checks of the whole trail (head, runs) the
	 * line after the last, and message does not start with "line". */
	uint64_t bad_line; /* 1-based line number, 0 when intact */
	uint64_t bad_seq;  /* its seq, 0 when unknown (not JSON, no seq) */
	char reason[384]; /* what is wrong, e.g. "seq 5 expected, found 6 (a record was removed)" */
	char message[480]; /* "line 7 (seq 7): <reason>", "line 12 (seq 12, seal): ..." */
} mp_trail_report;

/* Verifies the trail at path: every line is a JSON object with seq 1, 2, 3, ... and prev the
 * SHA-256 of the line before it (64 zeros for the first), every seal's head and record count match
 * the chain, and, with pubkey_path (a PEM public key), every seal is signed and its signature
 * verifies, and the trail is not empty and ends in a seal (a signed trail has no unsigned tail).
 * Without a public key, signed seals are counted but not checked. Returns 0 intact, 1 tampered
 * (rep says where and why), -1 when the trail or the key cannot be read (err). */
int mp_trail_verify(const char *path, const char *pubkey_path, mp_trail_report *rep, char *err,
                    size_t errlen);

/* What a verifier can check beyond the chain, with values its owner kept outside the trail. */
typedef struct {
	const char *pubkey_path; /* as for mp_trail_verify; NULL: signatures not checked */
	/* A head recorded earlier (mp_trail_report.last_hash, `meshpol trail head`): some record
	 * must have this hash, which proves it and every record before it unchanged. 64 lower-case
	 * hex digits; NULL: no check. Not found: tampered ("truncated or rewritten"). */
	const char *head;
	uint64_t min_runs; /* at least this many "start" records; 0: no check */
} mp_trail_verify_opts;
/* mp_trail_verify with the checks of opts; -1 and err also for a malformed opts->head. */
int mp_trail_verify_with(const char *path, const mp_trail_verify_opts *opts, mp_trail_report *rep,
                         char *err, size_t errlen);
/* 1 when s is 64 lower-case hex digits, the form of every hash in a trail; else 0. */
int mp_trail_is_hash(const char *s);

/* Writes a new Ed25519 key pair: the private key PEM at path (mode 0600) and the public key PEM
 * at mp_trail_pubkey_path(path) (mode 0644), each an output made with MP_OUT_NEW (files.h).
 * Refuses to overwrite either file; on failure leaves neither behind. 0 or -1 and err. */
int mp_trail_keygen(const char *path, char *err, size_t errlen);
/* mp_trail_keygen into two outputs the caller opened with MP_OUT_NEW (so that it can tell a path
 * that cannot be created from a failure after): the private key PEM into priv, whose path is
 * priv_path, the public key PEM into pub. Consumes both: commits both, or discards both and
 * removes priv_path if it was committed already, so no half pair is left. 0 or -1 and err. */
int mp_trail_keygen_into(mp_out *priv, const char *priv_path, mp_out *pub, char *err,
                         size_t errlen);
/* The public key's path for a private key's: a trailing ".pem" becomes ".pub.pem", else
 * ".pub.pem" is added. -1 when out is too small. */
int mp_trail_pubkey_path(const char *key_path, char *out, size_t outlen);
/* The key_id (hex SHA-256 of the public key's DER) of a PEM public or private key file. */
int mp_trail_key_id(const char *pem_path, char out[65], char *err, size_t errlen);

#pragma GCC visibility pop

#endif
