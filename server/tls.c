/* tls.c: TLS and mutual TLS for the server's listener (OpenSSL): the context, and the caller's
 * identity from its certificate's URI SAN. User guide: docs/server.md ("TLS"). */
#include "tls.h"
#include "alloc.h"
#include "match.h"
#include "server_int.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void ssl_error(char *err, size_t errlen, const char *what, const char *path)
{
	char detail[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, detail, sizeof(detail));
	snprintf(err, errlen, "%s: %s: %s", path, what, e ? detail : "unknown error");
	ERR_clear_error();
}

SSL_CTX *mp_tls_ctx_new(const char *cert, const char *key, const char *client_ca, char *err,
                        size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_error(err, errlen, "cannot make a TLS context", "TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_error(err, errlen, "cannot load the certificate chain", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, errlen, "cannot load the private key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errlen, "the key does not match the certificate", key);
		goto fail;
	}
	if (client_ca) {
		if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
			ssl_error(err, errlen, "cannot load the client CA", client_ca);
			goto fail;
		}
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		/* mutual TLS: a caller without a certificate the CA signed is refused */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_verify_depth(ctx, 8);
		static const unsigned char sid[] = "meshpol";
		SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The first URI SAN of cert (mp_malloc), or NULL when it has none that is printable ASCII of
 * at most 2048 bytes. */
static char *cert_uri(X509 *cert)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	char *uri = NULL;
	for (int i = 0; names && !uri && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		if (n->type != GEN_URI)
			continue;
		const unsigned char *p = ASN1_STRING_get0_data(n->d.uniformResourceIdentifier);
		int len = ASN1_STRING_length(n->d.uniformResourceIdentifier);
		/* an identity with a NUL or a control byte in it is no identity */
		int ok = len > 0 && len <= 2048;
		for (int k = 0; ok && k < len; k++)
			ok = p[k] > 0x20 && p[k] < 0x7f;
		if (ok)
			uri = mp_strndup((const char *)p, (size_t)len);
	}
	GENERAL_NAMES_free(names);
	return uri;
}

char *mp_tls_peer_uri(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	X509 *cert = SSL_get0_peer_certificate(ssl);
	return cert ? cert_uri(cert) : NULL;
}

char *mp_tls_escaped_pem_uri(const char *escaped, int *malformed)
{
	size_t n = strlen(escaped), o = 0;
	char *pem = n <= MP_TLS_MAX_ESCAPED_PEM ? mp_malloc(n + 1) : NULL;
	BIO *bio = NULL;
	X509 *cert = NULL;
	char *uri = NULL;
	*malformed = 1;
	if (!pem)
		goto done;
	for (size_t i = 0; i < n; i++) {
		int pct = mp_percent_byte(escaped + i);
		if (pct >= 0) {
			pem[o++] = (char)pct;
			i += 2;
		} else {
			pem[o++] = escaped[i];
		}
	}
	if (!(bio = BIO_new_mem_buf(pem, (int)o)) ||
	    !(cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		goto done;
	*malformed = 0;
	uri = cert_uri(cert);
done:
	ERR_clear_error();
	X509_free(cert);
	BIO_free(bio);
	mp_free(pem);
	return uri;
}
