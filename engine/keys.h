/* keys.h: Ed25519 keys for everything meshpol signs (trail seals, bundle archives): reading PEM
 * files, key ids, signing and verifying, and a signature's base64 form; the SHA-256 helpers.
 * Internal prefix mp_key_; the formats: docs/trail-format.md ("Keys") and docs/bundles.md
 * ("Signature").
 *
 * Ownership: every EVP_PKEY returned is the caller's (EVP_PKEY_free). Any thread. */
#ifndef MP_KEYS_H
#define MP_KEYS_H

#include <openssl/evp.h>
#include <stddef.h>

#define MP_KEY_SIG_LEN     64
#define MP_KEY_SIG_B64_LEN 88 /* base64 of 64 bytes, with "==" */
#define MP_KEY_MAX_PEM     (64u << 10)

/* The Ed25519 key in the PEM file at path: the private key when private, else the public key.
 * Encrypted keys, keys of other types and the wrong half of a pair are refused with a message
 * that says which file to give instead. NULL and err ("PATH: ...") on failure. */
EVP_PKEY *mp_key_load(const char *path, int private, char *err, size_t errlen);
/* The same from len bytes of PEM text in memory; label names it in messages. */
EVP_PKEY *mp_key_from_pem(const char *label, const char *pem, size_t len, int private, char *err,
                          size_t errlen);
/* The public half of k as PEM text (mp_malloc'd, NUL-terminated, *len without the NUL). */
char *mp_key_public_pem(EVP_PKEY *k, size_t *len);
/* key_id: the hex SHA-256 of the public key's DER (SubjectPublicKeyInfo). 0 or -1. */
int mp_key_id(EVP_PKEY *k, char out[65]);
/* Ed25519 over msg. 0 or -1. */
int mp_key_sign(EVP_PKEY *k, const void *msg, size_t len, unsigned char sig[MP_KEY_SIG_LEN]);
/* 1 when sig is k's signature of msg, else 0. */
int mp_key_verify(EVP_PKEY *k, const void *msg, size_t len,
                  const unsigned char sig[MP_KEY_SIG_LEN]);
/* The canonical base64 of a signature (88 characters and a NUL). */
void mp_key_sig_encode(const unsigned char sig[MP_KEY_SIG_LEN], char out[MP_KEY_SIG_B64_LEN + 1]);
/* Decodes exactly the canonical base64 of a 64-byte signature; -1 for anything else. */
int mp_key_sig_decode(const char *b64, unsigned char sig[MP_KEY_SIG_LEN]);
/* The reason OpenSSL gave for its last failure (the queue is cleared). */
const char *mp_key_ssl_reason(char *buf, size_t len);
/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void mp_key_hex(const unsigned char *in, size_t n, char *out);
/* The SHA-256 of n bytes at p: the engine's one-shot digest (archives, their manifests, stored
 * declarations, key ids). 0, or -1 (OpenSSL failed: out is zeros, which matches nothing). */
int mp_key_sha256(const void *p, size_t n, unsigned char out[32]);
/* The same as 64 lower-case hex digits and a NUL (all '0' when it failed). */
int mp_key_sha256_hex(const void *p, size_t n, char out[65]);

#endif
