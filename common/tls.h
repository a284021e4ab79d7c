/*
 * tls.h - TLS for tls+tcp:// RPC URLs (nng's TLS transport, mbedTLS).
 *
 * flowd listens with a certificate and key, and with a client CA it
 * requires client certificates (mutual TLS, e.g. for workers). Clients
 * always verify flowd's certificate against a CA file and the server name.
 */
#ifndef FLOW_TLS_H
#define FLOW_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* PEM file paths; NULL or "" when not given. Not copied. */
struct tls_files {
	const char *cert;        /* own certificate (server; client for mTLS) */
	const char *key;         /* its private key */
	const char *ca;          /* CA that signed the peer (server: client CA) */
	const char *server_name; /* client: name to verify (default: URL host) */
};

/* True for URLs of the TLS transport ("tls+tcp://..."). */
bool tls_url(const char *url);

/*
 * Fills f from FLOW_TLS_CA, FLOW_TLS_CLIENT_CERT, FLOW_TLS_CLIENT_KEY and
 * FLOW_TLS_SERVER_NAME (for flowctl and flow-worker).
 */
void tls_files_from_env(struct tls_files *f);

/*
 * A configuration for a server (listener) or a client (dialer). A server
 * needs cert and key, and requires client certificates when ca is given. A
 * client needs ca (flowd's certificate is always verified). On failure
 * returns FLOW_INVALID_ARGUMENT with err naming the file and the reason.
 * The caller frees *out with nng_tls_config_free once set on the endpoint.
 */
int tls_config_new(bool server, const struct tls_files *f, nng_tls_config **out, char *err,
		   size_t errlen);

#endif
