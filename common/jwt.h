/*
 * jwt.h - JSON Web Tokens, HS256 only (RFC 7519, RFC 8725), and checks on
 * the HMAC secret that signs them.
 *
 * A token is header.payload.signature, each part base64url without padding.
 * The header is always {"alg":"HS256","typ":"JWT"}; jwt_verify() accepts no
 * other algorithm and no other header field. The signature is HMAC-SHA256
 * over "header.payload" with the server's secret, compared in constant time.
 * docs/security.md ("Tokens (JWT)") lists every rule jwt_verify() enforces.
 *
 * Only the server decides whether a token is valid: clients treat tokens as
 * opaque strings.
 */
#ifndef FLOW_JWT_H
#define FLOW_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Longest token jwt_verify() looks at, bytes (without the NUL). */
#define JWT_MAX_TOKEN 8192
/* Shortest HMAC key jwt_sign() and jwt_verify() use (RFC 7518 3.2). */
#define JWT_MIN_KEY 32
/* Largest leeway jwt_verify() accepts, seconds. */
#define JWT_MAX_LEEWAY 300
/* Buffer size for jwt_random_secret(): 64 random bytes as base64url + NUL. */
#define JWT_RANDOM_SECRET_SIZE 87

/*
 * The claims flowd issues. Strings are NUL-terminated, non-empty, valid
 * UTF-8 without control characters, and shorter than their array.
 */
struct jwt_claims {
	char jti[64];
	char sub[128];
	char role[32];
	char iss[128];
	char aud[128];
	int64_t iat, exp; /* seconds since the epoch */
};

/*
 * Signs the claims into out (NUL-terminated). Returns FLOW_OK,
 * FLOW_INVALID_ARGUMENT when a claim is missing or malformed (empty or
 * unterminated string, control characters, invalid UTF-8, iat < 0,
 * exp <= iat) or the key is shorter than JWT_MIN_KEY, FLOW_OUT_OF_RANGE
 * when out is too small, FLOW_INTERNAL when OpenSSL or jansson fail.
 * On failure out holds "" (when outlen > 0).
 */
int jwt_sign(const struct jwt_claims *c, const uint8_t *key, size_t keylen, char *out,
	     size_t outlen);

/*
 * Verifies a token for issuer iss and audience aud at time now_s, allowing
 * leeway_s (0..JWT_MAX_LEEWAY) seconds of clock skew on exp and iat.
 * Returns FLOW_OK and fills out (when not NULL), or FLOW_UNAUTHENTICATED
 * with a short reason in err that never quotes the token, its contents or
 * the key. Returns FLOW_INTERNAL for the caller's mistakes (NULL key, key
 * shorter than JWT_MIN_KEY, empty iss/aud, now_s < 0, leeway out of range)
 * and OpenSSL failures. On failure out is zeroed.
 */
int jwt_verify(const char *token, const uint8_t *key, size_t keylen, const char *iss,
	       const char *aud, int64_t now_s, int leeway_s, struct jwt_claims *out, char *err,
	       size_t errlen);

/* A fresh token id: 128 random bits as 32 lowercase hex digits. 0 or -1. */
int jwt_new_jti(char out[33]);

/*
 * Hardening item 1: is secret fit to sign tokens? It must be at least 32
 * bytes, not a known default or placeholder (case-insensitive; the long
 * placeholders also with anything appended), and have at least 16 distinct
 * characters. Returns 0, or -1 with a reason in why that never quotes the
 * secret.
 */
int jwt_secret_check(const char *secret, char *why, size_t len);

/*
 * A random secret for development mode: 64 bytes from RAND_bytes as
 * base64url (86 characters). outlen must be at least
 * JWT_RANDOM_SECRET_SIZE. 0 or -1.
 */
int jwt_random_secret(char *out, size_t outlen);

#endif
