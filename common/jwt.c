/*
 * jwt.c - HS256 JSON Web Tokens (RFC 7519) following RFC 8725, and the JWT
 * secret checks (hardening item 1). See jwt.h and docs/security.md.
 */
#include "jwt.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "status.h"

/* base64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"): the only header we issue. */
static const char jwt_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#define JWT_MAC_LEN 32	   /* SHA-256 */
#define JWT_MAC_B64_LEN 43 /* 32 bytes as base64url without padding */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Characters base64url without padding needs for n bytes. */
static size_t b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Encodes n bytes into out, which has room for b64url_len(n) + 1. */
static void b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict base64url decoding (RFC 4648 section 5, no padding): only the
 * url-safe alphabet, no '=', no whitespace, no length that leaves a lone
 * character, and the unused low bits of the last character must be zero so
 * that every byte string has exactly one encoding. Returns the number of
 * bytes written to out (at most cap), or -1.
 */
static long b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap || n > LONG_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return -1;
	return (long)o;
}

static int hs256(const uint8_t *key, size_t keylen, const char *data, size_t n,
		 uint8_t mac[JWT_MAC_LEN])
{
	unsigned int maclen = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n, mac, &maclen) ||
	    maclen != JWT_MAC_LEN)
		return -1;
	return 0;
}

static int fail(char *err, size_t errlen, int code, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", why);
	return code;
}

/* Non-empty, shorter than size, no control characters. */
static bool claim_string_ok(const char *s, size_t n, size_t size)
{
	if (n == 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* A claim from struct jwt_claims: must be NUL-terminated inside its array. */
static bool field_ok(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	return nul && claim_string_ok(s, (size_t)(nul - s), size);
}

int jwt_sign(const struct jwt_claims *c, const uint8_t *key, size_t keylen, char *out,
	     size_t outlen)
{
	json_t *p = NULL;
	char *ps = NULL;
	int rc = FLOW_INTERNAL;

	if (out && outlen)
		out[0] = '\0';
	if (!c || !out || !key || keylen < JWT_MIN_KEY || keylen > INT_MAX)
		return FLOW_INVALID_ARGUMENT;
	if (!field_ok(c->jti, sizeof c->jti) || !field_ok(c->sub, sizeof c->sub) ||
	    !field_ok(c->role, sizeof c->role) || !field_ok(c->iss, sizeof c->iss) ||
	    !field_ok(c->aud, sizeof c->aud) || c->iat < 0 || c->exp <= c->iat)
		return FLOW_INVALID_ARGUMENT;

	p = json_object();
	if (!p)
		goto out;
	/* json_string() refuses invalid UTF-8, and json_object_set_new() NULL. */
	if (json_object_set_new(p, "jti", json_string(c->jti)) ||
	    json_object_set_new(p, "sub", json_string(c->sub)) ||
	    json_object_set_new(p, "role", json_string(c->role)) ||
	    json_object_set_new(p, "iss", json_string(c->iss)) ||
	    json_object_set_new(p, "aud", json_string(c->aud)) ||
	    json_object_set_new(p, "iat", json_integer((json_int_t)c->iat)) ||
	    json_object_set_new(p, "exp", json_integer((json_int_t)c->exp))) {
		rc = FLOW_INVALID_ARGUMENT;
		goto out;
	}
	ps = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!ps)
		goto out;

	size_t hlen = sizeof jwt_header_b64 - 1, plen = strlen(ps);
	size_t signed_len = hlen + 1 + b64url_len(plen);
	size_t total = signed_len + 1 + JWT_MAC_B64_LEN;
	uint8_t mac[JWT_MAC_LEN];

	if (total > JWT_MAX_TOKEN) {
		rc = FLOW_INVALID_ARGUMENT;
		goto out;
	}
	if (total + 1 > outlen) {
		rc = FLOW_OUT_OF_RANGE;
		goto out;
	}
	memcpy(out, jwt_header_b64, hlen);
	out[hlen] = '.';
	b64url_encode((const uint8_t *)ps, plen, out + hlen + 1);
	if (hs256(key, keylen, out, signed_len, mac)) {
		out[0] = '\0';
		goto out;
	}
	out[signed_len] = '.';
	b64url_encode(mac, sizeof mac, out + signed_len + 1);
	rc = FLOW_OK;
out:
	free(ps);
	json_decref(p);
	return rc;
}

/* Loads a decoded JSON object, refusing duplicate keys and trailing data. */
static json_t *load_object(const uint8_t *buf, size_t n)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);

	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static const char *check_header(const json_t *h)
{
	const json_t *alg = json_object_get(h, "alg"), *typ = json_object_get(h, "typ");

	if (json_object_get(h, "crit"))
		return "crit header not supported";
	if (!alg)
		return "header has no alg";
	if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
		return "unsupported alg";
	if (!typ || !json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0)
		return "header typ must be JWT";
	if (json_object_size(h) != 2)
		return "unexpected header field";
	return NULL;
}

/* A NumericDate we issue: a non-negative integer. 1 present, 0 absent, -1 bad. */
static int get_time(const json_t *p, const char *name, int64_t *v)
{
	const json_t *j = json_object_get(p, name);

	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -1;
	*v = (int64_t)json_integer_value(j);
	return 1;
}

/* Copies string claim name into dst (size bytes); false when missing or bad. */
static bool get_string(const json_t *p, const char *name, char *dst, size_t size)
{
	const json_t *j = json_object_get(p, name);

	if (!json_is_string(j) ||
	    !claim_string_ok(json_string_value(j), json_string_length(j), size))
		return false;
	memcpy(dst, json_string_value(j), json_string_length(j) + 1);
	return true;
}

static bool aud_matches(const json_t *a, const char *aud)
{
	size_t i;
	const json_t *v;
	bool found = false;

	if (json_is_string(a))
		return strcmp(json_string_value(a), aud) == 0;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return false;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return false;
		if (strcmp(json_string_value(v), aud) == 0)
			found = true;
	}
	return found;
}

static const char *check_claims(const json_t *p, const char *iss, const char *aud, int64_t now_s,
				int leeway_s, struct jwt_claims *c)
{
	const json_t *j;
	int64_t nbf = 0;
	int r;

	r = get_time(p, "exp", &c->exp);
	if (r == 0)
		return "missing exp";
	if (r < 0)
		return "bad exp";
	r = get_time(p, "iat", &c->iat);
	if (r == 0)
		return "missing iat";
	if (r < 0)
		return "bad iat";
	if (c->exp <= c->iat)
		return "exp not after iat";
	/* RFC 7519 4.1.4: the token is valid only before exp. */
	if (now_s - leeway_s >= c->exp)
		return "token expired";
	if (c->iat > now_s + leeway_s)
		return "token issued in the future";
	r = get_time(p, "nbf", &nbf);
	if (r < 0)
		return "bad nbf";
	if (r > 0 && nbf > now_s + leeway_s)
		return "token not yet valid";

	j = json_object_get(p, "iss");
	if (!j)
		return "missing iss";
	if (!json_is_string(j) || strcmp(json_string_value(j), iss) != 0)
		return "wrong issuer";
	j = json_object_get(p, "aud");
	if (!j)
		return "missing aud";
	if (!aud_matches(j, aud))
		return "wrong audience";

	if (!json_object_get(p, "sub"))
		return "missing sub";
	if (!get_string(p, "sub", c->sub, sizeof c->sub))
		return "bad sub";
	if (!json_object_get(p, "role"))
		return "missing role";
	if (!get_string(p, "role", c->role, sizeof c->role))
		return "bad role";
	if (!json_object_get(p, "jti"))
		return "missing jti";
	if (!get_string(p, "jti", c->jti, sizeof c->jti))
		return "bad jti";
	memcpy(c->iss, iss, strlen(iss) + 1);
	memcpy(c->aud, aud, strlen(aud) + 1);
	return NULL;
}

int jwt_verify(const char *token, const uint8_t *key, size_t keylen, const char *iss,
	       const char *aud, int64_t now_s, int leeway_s, struct jwt_claims *out, char *err,
	       size_t errlen)
{
	struct jwt_claims c;
	uint8_t mac[JWT_MAC_LEN], sig[JWT_MAC_LEN];
	uint8_t *buf = NULL;
	json_t *h = NULL, *p = NULL;
	const char *why = "malformed token";
	int rc = FLOW_UNAUTHENTICATED;
	long dn;

	memset(&c, 0, sizeof c);
	if (out)
		memset(out, 0, sizeof *out);
	if (err && errlen)
		err[0] = '\0';
	if (!key || keylen < JWT_MIN_KEY || keylen > INT_MAX || !iss || !*iss ||
	    strlen(iss) >= sizeof c.iss || !aud || !*aud || strlen(aud) >= sizeof c.aud ||
	    now_s < 0 || now_s > INT64_MAX - JWT_MAX_LEEWAY || leeway_s < 0 ||
	    leeway_s > JWT_MAX_LEEWAY)
		return fail(err, errlen, FLOW_INTERNAL, "token verifier misconfigured");
	if (!token || !*token)
		return fail(err, errlen, FLOW_UNAUTHENTICATED, "missing token");

	size_t n = strnlen(token, JWT_MAX_TOKEN + 1);

	if (n > JWT_MAX_TOKEN)
		return fail(err, errlen, FLOW_UNAUTHENTICATED, "token too long");

	const char *d1 = memchr(token, '.', n);
	const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token)) : NULL;

	if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)))
		return fail(err, errlen, FLOW_UNAUTHENTICATED, "malformed token");

	size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
	size_t slen = n - (size_t)(d2 + 1 - token);

	if (!hlen || !plen)
		return fail(err, errlen, FLOW_UNAUTHENTICATED, "malformed token");
	buf = malloc(n);
	if (!buf)
		return fail(err, errlen, FLOW_INTERNAL, "out of memory");

	/* The header first: it decides how the rest is read (RFC 8725 3.1). */
	dn = b64url_decode(token, hlen, buf, n);
	if (dn < 0) {
		why = "bad header encoding";
		goto out;
	}
	h = load_object(buf, (size_t)dn);
	if (!h) {
		why = "malformed header";
		goto out;
	}
	why = check_header(h);
	if (why)
		goto out;

	/* Then the signature, before anything in the payload is believed. */
	if (slen != JWT_MAC_B64_LEN ||
	    b64url_decode(d2 + 1, slen, sig, sizeof sig) != JWT_MAC_LEN) {
		why = "bad signature encoding";
		goto out;
	}
	if (hs256(key, keylen, token, (size_t)(d2 - token), mac)) {
		rc = FLOW_INTERNAL;
		why = "signature check failed";
		goto out;
	}
	if (CRYPTO_memcmp(mac, sig, sizeof mac) != 0) {
		why = "bad signature";
		goto out;
	}

	dn = b64url_decode(d1 + 1, plen, buf, n);
	if (dn < 0) {
		why = "bad payload encoding";
		goto out;
	}
	p = load_object(buf, (size_t)dn);
	if (!p) {
		why = "malformed payload";
		goto out;
	}
	why = check_claims(p, iss, aud, now_s, leeway_s, &c);
	if (why)
		goto out;
	if (out)
		*out = c;
	rc = FLOW_OK;
out:
	json_decref(p);
	json_decref(h);
	free(buf);
	OPENSSL_cleanse(mac, sizeof mac);
	OPENSSL_cleanse(&c, sizeof c);
	if (rc != FLOW_OK)
		fail(err, errlen, rc, why);
	return rc;
}

int jwt_new_jti(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[16];

	if (!out)
		return -1;
	out[0] = '\0';
	if (RAND_bytes(r, sizeof r) != 1)
		return -1;
	for (size_t i = 0; i < sizeof r; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

/*
 * Secrets published in documentation, tutorials and example files. The
 * entries of 16 characters or more are also refused with anything appended.
 * "change-this-to-a-long-random-secret" is the FLOW_JWT_SECRET placeholder
 * of deploy/.env.example.
 */
static const char *const jwt_known_secrets[] = {
	"dev-secret-please-change-in-production",
	"change-this-to-a-long-random-secret",
	"your-256-bit-secret",
	"your-secret-key",
	"your_secret_key",
	"jwt-secret",
	"jwt_secret",
	"jwtsecret",
	"secret",
	"secretkey",
	"secret-key",
	"mysecret",
	"supersecret",
	"changeme",
	"change-me",
	"changeit",
	"password",
	"default",
};

int jwt_secret_check(const char *secret, char *why, size_t len)
{
	bool seen[256] = { false };
	size_t n;
	int distinct = 0;

	if (why && len)
		why[0] = '\0';
	if (!secret || !*secret) {
		if (why && len)
			snprintf(why, len, "the JWT secret is not set");
		return -1;
	}
	n = strlen(secret);
	for (size_t i = 0; i < sizeof jwt_known_secrets / sizeof jwt_known_secrets[0]; i++) {
		const char *k = jwt_known_secrets[i];
		size_t kn = strlen(k);

		if ((n == kn || kn >= 16) && n >= kn && strncasecmp(secret, k, kn) == 0) {
			if (why && len)
				snprintf(why, len,
					 "the JWT secret is a published default or placeholder; "
					 "generate one with `openssl rand -base64 48`");
			return -1;
		}
	}
	if (n < 32) {
		if (why && len)
			snprintf(why, len,
				 "the JWT secret is %zu bytes; at least 32 are required "
				 "(generate one with `openssl rand -base64 48`)",
				 n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)secret[i];

		if (!seen[ch]) {
			seen[ch] = true;
			distinct++;
		}
	}
	if (distinct < 16) {
		if (why && len)
			snprintf(why, len,
				 "the JWT secret has only %d distinct characters; at least 16 are "
				 "required (generate one with `openssl rand -base64 48`)",
				 distinct);
		return -1;
	}
	return 0;
}

int jwt_random_secret(char *out, size_t outlen)
{
	uint8_t r[64];

	if (!out || outlen < JWT_RANDOM_SECRET_SIZE)
		return -1;
	out[0] = '\0';
	if (RAND_bytes(r, sizeof r) != 1)
		return -1;
	b64url_encode(r, sizeof r, out);
	OPENSSL_cleanse(r, sizeof r);
	return 0;
}
