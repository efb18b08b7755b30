/* keys.c: Ed25519 keys, key ids, signatures (see keys.h). OpenSSL EVP does the work; the
 * formats: docs/trail-format.md ("Keys"). */
#include "keys.h"
#include "alloc.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *mp_key_ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

/* Two digits a byte from a table: the trail's head goes into every decision record. */
void mp_key_hex(const unsigned char *in, size_t n, char *out)
{
	static const char pairs[513] = "000102030405060708090a0b0c0d0e0f"
	                               "101112131415161718191a1b1c1d1e1f"
	                               "202122232425262728292a2b2c2d2e2f"
	                               "303132333435363738393a3b3c3d3e3f"
	                               "404142434445464748494a4b4c4d4e4f"
	                               "505152535455565758595a5b5c5d5e5f"
	                               "606162636465666768696a6b6c6d6e6f"
	                               "707172737475767778797a7b7c7d7e7f"
	                               "808182838485868788898a8b8c8d8e8f"
	                               "909192939495969798999a9b9c9d9e9f"
	                               "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	                               "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	                               "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	                               "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	                               "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	                               "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
	for (size_t i = 0; i < n; i++)
		memcpy(out + 2 * i, pairs + 2 * in[i], 2);
	out[2 * n] = '\0';
}

int mp_key_sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int dn = 0;
	if (EVP_Digest(p, n, out, &dn, EVP_sha256(), NULL) == 1 && dn == 32)
		return 0;
	ERR_clear_error();
	memset(out, 0, 32);
	return -1;
}

int mp_key_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char digest[32];
	int rc = mp_key_sha256(p, n, digest);
	if (rc == 0)
		mp_key_hex(digest, 32, out);
	else
		memset(out, '0', 64), out[64] = '\0';
	return rc;
}

/* Reads a small PEM file whole, NUL-terminated, into an mp_malloc'd buffer. */
static char *read_pem(const char *path, size_t *len, char *err, size_t errlen)
{
	char *text = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!(text = mp_malloc(MP_KEY_MAX_PEM + 1))) {
		errf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	*len = fread(text, 1, MP_KEY_MAX_PEM + 1, f);
	if (ferror(f)) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (*len > MP_KEY_MAX_PEM) {
		errf(err, errlen, "%s: not a PEM key (over %u bytes)", path, MP_KEY_MAX_PEM);
		goto fail;
	}
	text[*len] = '\0';
	fclose(f);
	return text;
fail:
	if (f)
		fclose(f);
	mp_free(text);
	return NULL;
}

/* Never prompt for a passphrase: encrypted keys are refused with a message instead. */
static int no_passphrase(char *pw, int size, int rwflag, void *u)
{
	(void)pw;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int check_ed25519(EVP_PKEY *k, const char *label, char *err, size_t errlen)
{
	if (EVP_PKEY_is_a(k, "ED25519"))
		return 0;
	const char *name = EVP_PKEY_get0_type_name(k);
	errf(err, errlen, "%s: a%s %s key, not Ed25519 (make one with meshpol keygen)", label,
	     name && strchr("AEIOU", name[0]) ? "n" : "", name ? name : "unknown");
	return -1;
}

EVP_PKEY *mp_key_from_pem(const char *label, const char *text, size_t len, int private, char *err,
                          size_t errlen)
{
	EVP_PKEY *k = NULL;
	BIO *bio = NULL;
	char why[256];
	if (len > MP_KEY_MAX_PEM) {
		errf(err, errlen, "%s: not a PEM key (over %u bytes)", label, MP_KEY_MAX_PEM);
		goto fail;
	}
	/* the text may not end in a NUL: strstr needs one */
	char *copy = mp_malloc(len + 1);
	if (!copy) {
		errf(err, errlen, "%s: out of memory", label);
		goto fail;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	int encrypted = strstr(copy, "ENCRYPTED") != NULL;
	int has_public = strstr(copy, "PUBLIC KEY-----") != NULL,
	    has_private = strstr(copy, "PRIVATE KEY-----") != NULL;
	mp_free(copy);
	if (encrypted) {
		errf(err, errlen, "%s: an encrypted private key; meshpol needs an unencrypted one",
		     label);
		goto fail;
	}
	if (!(bio = BIO_new_mem_buf(text, (int)len))) {
		errf(err, errlen, "%s: out of memory", label);
		goto fail;
	}
	k = private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
	            : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	if (!k) {
		mp_key_ssl_reason(why, sizeof(why));
		if (private && has_public)
			errf(err, errlen,
			     "%s: a public key; signing needs the private key "
			     "(KEY.pem, not KEY.pub.pem)",
			     label);
		else if (!private && has_private)
			errf(err, errlen, "%s: a private key; give the public key (KEY.pub.pem)",
			     label);
		else
			errf(err, errlen, "%s: not a PEM %s key (%s)", label,
			     private ? "private" : "public", why);
		goto fail;
	}
	if (check_ed25519(k, label, err, errlen) < 0)
		goto fail;
	BIO_free(bio);
	return k;
fail:
	EVP_PKEY_free(k);
	BIO_free(bio);
	return NULL;
}

EVP_PKEY *mp_key_load(const char *path, int private, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = read_pem(path, &len, err, errlen);
	if (!text)
		return NULL;
	EVP_PKEY *k = mp_key_from_pem(path, text, len, private, err, errlen);
	mp_free(text);
	return k;
}

char *mp_key_public_pem(EVP_PKEY *k, size_t *len)
{
	char *data, *out = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	long n = bio && PEM_write_bio_PUBKEY(bio, k) == 1 ? BIO_get_mem_data(bio, &data) : 0;
	if (n > 0 && (out = mp_malloc((size_t)n + 1))) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
		*len = (size_t)n;
	}
	BIO_free(bio);
	ERR_clear_error();
	return out;
}

int mp_key_id(EVP_PKEY *k, char out[65])
{
	unsigned char *der = NULL, digest[32];
	int n = i2d_PUBKEY(k, &der);
	int ok = n > 0 && mp_key_sha256(der, (size_t)n, digest) == 0;
	OPENSSL_free(der);
	if (ok)
		mp_key_hex(digest, 32, out);
	else
		ERR_clear_error();
	return ok ? 0 : -1;
}

int mp_key_sign(EVP_PKEY *k, const void *msg, size_t len, unsigned char sig[MP_KEY_SIG_LEN])
{
	size_t n = MP_KEY_SIG_LEN;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestSign(c, sig, &n, msg, len) == 1 && n == MP_KEY_SIG_LEN;
	EVP_MD_CTX_free(c);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}

int mp_key_verify(EVP_PKEY *k, const void *msg, size_t len, const unsigned char sig[MP_KEY_SIG_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestVerify(c, sig, MP_KEY_SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok;
}

void mp_key_sig_encode(const unsigned char sig[MP_KEY_SIG_LEN], char out[MP_KEY_SIG_B64_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, sig, MP_KEY_SIG_LEN);
}

int mp_key_sig_decode(const char *b64, unsigned char sig[MP_KEY_SIG_LEN])
{
	unsigned char raw[MP_KEY_SIG_LEN + 3], again[MP_KEY_SIG_B64_LEN + 1];
	if (!b64 || strlen(b64) != MP_KEY_SIG_B64_LEN)
		return -1;
	if (EVP_DecodeBlock(raw, (const unsigned char *)b64, MP_KEY_SIG_B64_LEN) !=
	    MP_KEY_SIG_LEN + 2)
		return -1;
	EVP_EncodeBlock(again, raw, MP_KEY_SIG_LEN);
	if (memcmp(again, b64, MP_KEY_SIG_B64_LEN) != 0)
		return -1;
	memcpy(sig, raw, MP_KEY_SIG_LEN);
	return 0;
}
