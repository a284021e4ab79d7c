/*
 * unit.jwt: HS256 tokens and JWT secret checks. Signatures are checked
 * against HMAC-SHA256 computed here with OpenSSL directly, against a vector
 * computed independently (Python hmac/json) and against RFC 7515 A.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"
#include "status.h"

#define KEY "flowd-test-key-0123456789abcdefghijklmnop"
#define ISS "flowd"
#define AUD "flowd-rpc"
#define NOW 1700000100

static const uint8_t *key = (const uint8_t *)KEY;
static const size_t keylen = sizeof KEY - 1;

/* The claims of the known vector. */
static void std_claims(struct jwt_claims *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->jti, "0123456789abcdef0123456789abcdef");
	strcpy(c->sub, "user:42");
	strcpy(c->role, "member");
	strcpy(c->iss, ISS);
	strcpy(c->aud, AUD);
	c->iat = 1700000000;
	c->exp = 1700000900;
}

/* Computed with Python: base64url(json) and hmac.new(KEY, h.p, sha256). */
static const char known_token[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsInN1YiI6InVzZXI6NDIiLCJyb2xlIjoib"
    "WVtYmVyIiwiaXNzIjoiZmxvd2QiLCJhdWQiOiJmbG93ZC1ycGMiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAw"
    "MDkwMH0."
    "CZgl6d-YnKsXtBPfBzHBpAGQL_wfaTiL4xjXUj1zuwM";

/* base64url without padding, through OpenSSL's encoder (not jwt.c's). */
static void enc(const void *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (int i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
}

/* HMAC-SHA256 of data with k as base64url. */
static void mac_b64(const uint8_t *k, size_t kn, const char *data, size_t n, char out[64])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	assert_non_null(
	    HMAC(EVP_sha256(), k, (int)kn, (const unsigned char *)data, n, mac, &maclen));
	assert_int_equal(maclen, 32);
	enc(mac, maclen, out);
}

/* header.payload.HS256(KEY), from raw JSON texts. */
static char *make_token(const char *hjson, const char *pjson, char *out, size_t outlen)
{
	char sig[64];
	size_t n;

	assert_true(outlen > (strlen(hjson) + strlen(pjson)) * 4 / 3 + 64);
	enc(hjson, strlen(hjson), out);
	n = strlen(out);
	out[n++] = '.';
	enc(pjson, strlen(pjson), out + n);
	n = strlen(out);
	mac_b64(key, keylen, out, n, sig);
	snprintf(out + n, outlen - n, ".%s", sig);
	return out;
}

#define HS256_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A payload with the standard claims; extra is spliced in before "}". */
static const char *payload(char *buf, size_t n, long long iat, long long exp, const char *extra)
{
	snprintf(buf, n,
		 "{\"jti\":\"j1\",\"sub\":\"user:42\",\"role\":\"member\",\"iss\":\"" ISS
		 "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld%s}",
		 iat, exp, extra ? extra : "");
	return buf;
}

/* err must not contain the key or any part of the token longer than 6. */
static void assert_err_clean(const char *err, const char *token)
{
	assert_null(strstr(err, KEY));
	assert_null(strstr(err, "flowd-test-key"));
	if (!token)
		return;
	size_t n = strlen(token);

	for (size_t i = 0; i + 7 <= n; i++) {
		char part[8];

		memcpy(part, token + i, 7);
		part[7] = '\0';
		if (strstr(err, part)) {
			/* Only fixed reasons are allowed: show which one leaked what. */
			print_error("err \"%s\" contains token text \"%s\"\n", err, part);
			fail();
		}
	}
}

static void reject_at(const char *token, int64_t now, int leeway, const char *why)
{
	struct jwt_claims c;
	char err[128];

	memset(&c, 0x5a, sizeof c);
	assert_int_equal(jwt_verify(token, key, keylen, ISS, AUD, now, leeway, &c, err, sizeof err),
			 FLOW_UNAUTHENTICATED);
	assert_true(err[0] != '\0');
	if (why && !strstr(err, why)) {
		print_error("expected \"%s\", got \"%s\"\n", why, err);
		fail();
	}
	assert_err_clean(err, token);
	/* Nothing of a rejected token is handed out. */
	assert_int_equal(c.sub[0], 0);
	assert_int_equal(c.exp, 0);
}

static void reject(const char *token, const char *why)
{
	reject_at(token, NOW, 0, why);
}

static void accept_at(const char *token, int64_t now, int leeway)
{
	char err[128];

	assert_int_equal(
	    jwt_verify(token, key, keylen, ISS, AUD, now, leeway, NULL, err, sizeof err), FLOW_OK);
}

static void test_round_trip(void **state)
{
	struct jwt_claims c, v;
	char tok[1024], err[128], jti2[33];

	std_claims(&c);
	assert_int_equal(jwt_new_jti(c.jti), 0);
	assert_int_equal(strlen(c.jti), 32);
	assert_int_equal(strspn(c.jti, "0123456789abcdef"), 32);
	assert_int_equal(jwt_new_jti(jti2), 0);
	assert_string_not_equal(c.jti, jti2);
	strcpy(c.sub, "ünïcode user/1");

	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_OK);
	assert_int_equal(jwt_verify(tok, key, keylen, ISS, AUD, NOW, 0, &v, err, sizeof err),
			 FLOW_OK);
	assert_string_equal(v.jti, c.jti);
	assert_string_equal(v.sub, c.sub);
	assert_string_equal(v.role, "member");
	assert_string_equal(v.iss, ISS);
	assert_string_equal(v.aud, AUD);
	assert_int_equal(v.iat, c.iat);
	assert_int_equal(v.exp, c.exp);

	/* Another key does not verify it. */
	const uint8_t other[] = "another-key-0123456789abcdefghijklmnop";

	assert_int_equal(
	    jwt_verify(tok, other, sizeof other - 1, ISS, AUD, NOW, 0, NULL, err, sizeof err),
	    FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "bad signature");
}

static void test_known_vector(void **state)
{
	struct jwt_claims c, v;
	char tok[1024], sig[64], err[128];

	std_claims(&c);
	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_OK);
	assert_string_equal(tok, known_token);

	/* The signature is HMAC-SHA256(key, header.payload), base64url. */
	const char *dot = strrchr(tok, '.');

	mac_b64(key, keylen, tok, (size_t)(dot - tok), sig);
	assert_string_equal(dot + 1, sig);

	assert_int_equal(
	    jwt_verify(known_token, key, keylen, ISS, AUD, NOW, 0, &v, err, sizeof err), FLOW_OK);
	assert_string_equal(v.sub, "user:42");
	assert_int_equal(v.exp, 1700000900);
}

/* RFC 7515 appendix A.1: an HS256 JWS (header {"typ":"JWT","alg":"HS256"}). */
static void test_rfc7515_vector(void **state)
{
	static const uint8_t k[] = {
		0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06, 0x65, 0x77,
		0x7b, 0xa6, 0x8f, 0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54, 0xc9, 0x28, 0xa9, 0x0f,
		0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf, 0xd3, 0xfb, 0x5a, 0x92, 0xd2, 0x06, 0x47,
		0xef, 0x96, 0x8a, 0xb4, 0xc3, 0x77, 0x62, 0x3d, 0x22, 0x3d, 0x2e, 0x21, 0x72,
		0x05, 0x2e, 0x4f, 0x08, 0xc0, 0xcd, 0x9a, 0xf5, 0x67, 0xd0, 0x80, 0xa3,
	};
	static const char hp[] =
	    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGx"
	    "lLmNvbS9pc19yb290Ijp0cnVlfQ";
	static const char sig[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	char mine[64], tok[512], err[128];

	mac_b64(k, sizeof k, hp, strlen(hp), mine);
	assert_string_equal(mine, sig);

	/* jwt.c accepts its header and signature; the claims are not flowd's. */
	snprintf(tok, sizeof tok, "%s.%s", hp, sig);
	assert_int_equal(
	    jwt_verify(tok, k, sizeof k, "joe", AUD, 1300819370, 0, NULL, err, sizeof err),
	    FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "missing iat");
	tok[strlen(tok) - 2] = 'Y';
	assert_int_equal(
	    jwt_verify(tok, k, sizeof k, "joe", AUD, 1300819370, 0, NULL, err, sizeof err),
	    FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "bad signature");
}

static void test_hand_built(void **state)
{
	char p[512], tok[2048];

	/* Header content is what counts: order and whitespace may differ. */
	make_token(" { \"typ\" : \"JWT\",\r\n \"alg\" : \"HS256\" } ",
		   payload(p, sizeof p, 1700000000, 1700000900, NULL), tok, sizeof tok);
	accept_at(tok, NOW, 0);
	/* Unknown claims are ignored. */
	make_token(HS256_HDR, payload(p, sizeof p, 1700000000, 1700000900, ",\"x\":[1,{}]"), tok,
		   sizeof tok);
	accept_at(tok, NOW, 0);
}

static void test_alg_none(void **state)
{
	char p[512], tok[2048], pb[1024];

	/* {"alg":"none"} with an empty signature. */
	payload(p, sizeof p, 1700000000, 1700000900, NULL);
	enc(p, strlen(p), pb);
	snprintf(tok, sizeof tok, "eyJhbGciOiJub25lIn0.%s.", pb);
	reject(tok, "unsupported alg");
	snprintf(tok, sizeof tok, "eyJhbGciOiJub25lIn0.%s", pb);
	reject(tok, "malformed token");
	/* none, even with a valid HMAC attached, and in other spellings. */
	make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "unsupported alg");
	make_token("{\"alg\":\"None\",\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "unsupported alg");
	make_token("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "unsupported alg");
	/* A valid HS256 token with its signature removed. */
	strcpy(tok, known_token);
	*(strrchr(tok, '.') + 1) = '\0';
	reject(tok, "bad signature encoding");
}

static void test_other_algs_and_headers(void **state)
{
	char p[512], tok[2048];

	payload(p, sizeof p, 1700000000, 1700000900, NULL);
	make_token("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "unsupported alg");
	make_token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "unsupported alg");
	make_token("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "unsupported alg");
	make_token("{\"alg\":[\"HS256\"],\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "unsupported alg");
	make_token("{\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "header has no alg");
	make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"exp\"]}", p, tok, sizeof tok);
	reject(tok, "crit");
	make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"../../k\"}", p, tok, sizeof tok);
	reject(tok, "unexpected header field");
	make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"jku\":\"http://x\"}", p, tok, sizeof tok);
	reject(tok, "unexpected header field");
	make_token("{\"alg\":\"HS256\"}", p, tok, sizeof tok);
	reject(tok, "typ");
	make_token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", p, tok, sizeof tok);
	reject(tok, "typ");
	/* Duplicate names: a parser that keeps the last one would see none. */
	make_token("{\"alg\":\"HS256\",\"alg\":\"none\",\"typ\":\"JWT\"}", p, tok, sizeof tok);
	reject(tok, "malformed header");
	make_token("[\"HS256\"]", p, tok, sizeof tok);
	reject(tok, "malformed header");
	make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"} x", p, tok, sizeof tok);
	reject(tok, "malformed header");
	make_token("not json", p, tok, sizeof tok);
	reject(tok, "malformed header");
}

static void test_tampered(void **state)
{
	char tok[1024], p[512], pb[1024];
	char *d1, *d2;

	/* Another payload under the original signature. */
	strcpy(tok, known_token);
	d1 = strchr(tok, '.');
	d2 = strrchr(tok, '.');
	char sig[64];

	strcpy(sig, d2 + 1);
	payload(p, sizeof p, 1700000000, 1800000000, NULL);
	enc(p, strlen(p), pb);
	snprintf(d1 + 1, sizeof tok - (size_t)(d1 + 1 - tok), "%s.%s", pb, sig);
	reject(tok, "bad signature");

	/* One payload character changed. */
	strcpy(tok, known_token);
	d1 = strchr(tok, '.');
	d1[5] = d1[5] == 'A' ? 'B' : 'A';
	reject(tok, NULL);

	/* One signature character changed, and the signature truncated or extended. */
	strcpy(tok, known_token);
	d2 = strrchr(tok, '.');
	d2[3] = d2[3] == 'A' ? 'B' : 'A';
	reject(tok, "bad signature");
	strcpy(tok, known_token);
	tok[strlen(tok) - 1] = '\0';
	reject(tok, "bad signature encoding");
	snprintf(tok, sizeof tok, "%sAAAA", known_token);
	reject(tok, "bad signature encoding");

	/* Extra segments. */
	snprintf(tok, sizeof tok, "%s.", known_token);
	reject(tok, "malformed token");
	reject("a.b", "malformed token");
	reject("..", "malformed token");
	reject("", "missing token");
}

static void test_expiry_and_leeway(void **state)
{
	char p[512], tok[2048];

	/* Valid strictly before exp. */
	accept_at(known_token, 1700000899, 0);
	reject_at(known_token, 1700000900, 0, "token expired");
	reject_at(known_token, 1800000000, 0, "token expired");
	/* Leeway extends it, by exactly that much. */
	accept_at(known_token, 1700000929, 30);
	reject_at(known_token, 1700000930, 30, "token expired");

	/* iat in the future: only within leeway. */
	make_token(HS256_HDR, payload(p, sizeof p, NOW + 20, NOW + 900, NULL), tok, sizeof tok);
	reject_at(tok, NOW, 0, "issued in the future");
	reject_at(tok, NOW, 19, "issued in the future");
	accept_at(tok, NOW, 20);

	/* nbf, when present, is enforced too. */
	make_token(HS256_HDR, payload(p, sizeof p, NOW - 10, NOW + 900, ",\"nbf\":1700000200"), tok,
		   sizeof tok);
	reject_at(tok, NOW, 0, "not yet valid");
	accept_at(tok, 1700000200, 0);

	/* exp must come after iat. */
	make_token(HS256_HDR, payload(p, sizeof p, NOW - 10, NOW - 10, NULL), tok, sizeof tok);
	reject(tok, "exp not after iat");
}

static void test_iss_aud(void **state)
{
	char tok[2048], err[128];
	const char *p;

	assert_int_equal(
	    jwt_verify(known_token, key, keylen, "other", AUD, NOW, 0, NULL, err, sizeof err),
	    FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "wrong issuer");
	assert_int_equal(
	    jwt_verify(known_token, key, keylen, "FLOWD", AUD, NOW, 0, NULL, err, sizeof err),
	    FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "wrong issuer");
	assert_int_equal(
	    jwt_verify(known_token, key, keylen, ISS, "flowd-web", NOW, 0, NULL, err, sizeof err),
	    FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "wrong audience");
	assert_int_equal(
	    jwt_verify(known_token, key, keylen, ISS, "flowd-rp", NOW, 0, NULL, err, sizeof err),
	    FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "wrong audience");

	/* aud as an array containing ours. */
	p = "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"admin\",\"iss\":\"flowd\","
	    "\"aud\":[\"flowd-web\",\"flowd-rpc\"],\"iat\":1700000000,\"exp\":1700000900}";
	make_token(HS256_HDR, p, tok, sizeof tok);
	struct jwt_claims c;

	assert_int_equal(jwt_verify(tok, key, keylen, ISS, AUD, NOW, 0, &c, err, sizeof err),
			 FLOW_OK);
	assert_string_equal(c.aud, AUD);
	assert_string_equal(c.role, "admin");

	p = "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"admin\",\"iss\":\"flowd\","
	    "\"aud\":[\"flowd-web\"],\"iat\":1700000000,\"exp\":1700000900}";
	reject(make_token(HS256_HDR, p, tok, sizeof tok), "wrong audience");
	p = "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"admin\",\"iss\":\"flowd\","
	    "\"aud\":[],\"iat\":1700000000,\"exp\":1700000900}";
	reject(make_token(HS256_HDR, p, tok, sizeof tok), "wrong audience");
	p = "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"admin\",\"iss\":\"flowd\","
	    "\"aud\":[\"flowd-rpc\",7],\"iat\":1700000000,\"exp\":1700000900}";
	reject(make_token(HS256_HDR, p, tok, sizeof tok), "wrong audience");
	p = "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"admin\",\"iss\":[\"flowd\"],"
	    "\"aud\":\"flowd-rpc\",\"iat\":1700000000,\"exp\":1700000900}";
	reject(make_token(HS256_HDR, p, tok, sizeof tok), "wrong issuer");
}

static void test_base64_strict(void **state)
{
	char tok[1024];
	char *d2;

	/* Padding on any segment. */
	snprintf(tok, sizeof tok, "%s=", known_token);
	reject(tok, "bad signature encoding");
	strcpy(tok, known_token);
	d2 = strrchr(tok, '.');
	memmove(d2 + 1, d2, strlen(d2) + 1);
	*d2 = '=';
	reject(tok, NULL);
	/* {"alg":"HS256","typ":"JWT"} is 27 bytes: 36 characters, or 36 plus "=" never. */
	snprintf(tok, sizeof tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9=%s",
		 strchr(known_token, '.'));
	reject(tok, "bad header encoding");

	/* Standard-alphabet and other characters. */
	strcpy(tok, known_token);
	d2 = strrchr(tok, '.');
	for (const char *bad = "+/ \n%*"; *bad; bad++) {
		char saved = d2[10];

		d2[10] = *bad;
		reject(tok, "bad signature encoding");
		d2[10] = saved;
	}
	strcpy(tok, known_token);
	tok[3] = '+';
	reject(tok, "bad header encoding");

	/* A length that leaves one character over (4k + 1). */
	snprintf(tok, sizeof tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9A%s",
		 strchr(known_token, '.'));
	reject(tok, "bad header encoding");

	/*
	 * Non-canonical: the last of the 43 signature characters carries 4 bits
	 * and 2 unused ones. Setting an unused bit decodes to the same bytes, so
	 * only a strict decoder notices.
	 */
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	strcpy(tok, known_token);
	char *last = tok + strlen(tok) - 1;
	int v = (int)(strchr(alpha, *last) - alpha);

	assert_int_equal(v & 3, 0);
	*last = alpha[v | 1];
	reject(tok, "bad signature encoding");
}

static void test_oversize(void **state)
{
	static char big[JWT_MAX_TOKEN + 2];
	char p[JWT_MAX_TOKEN], extra[7000];
	static char tok[2 * JWT_MAX_TOKEN];

	memset(big, 'a', JWT_MAX_TOKEN + 1);
	big[JWT_MAX_TOKEN + 1] = '\0';
	reject(big, "token too long");
	/* Exactly the limit is looked at (and then found malformed). */
	big[JWT_MAX_TOKEN] = '\0';
	reject(big, "malformed token");

	/* A correctly signed token over the limit is refused all the same. */
	snprintf(extra, sizeof extra, ",\"pad\":\"%06000d\"", 0);
	make_token(HS256_HDR, payload(p, sizeof p, 1700000000, 1700000900, extra), tok, sizeof tok);
	assert_true(strlen(tok) > JWT_MAX_TOKEN);
	reject(tok, "token too long");
	/* and under the limit it is fine. */
	snprintf(extra, sizeof extra, ",\"pad\":\"%05000d\"", 0);
	make_token(HS256_HDR, payload(p, sizeof p, 1700000000, 1700000900, extra), tok, sizeof tok);
	assert_true(strlen(tok) <= JWT_MAX_TOKEN);
	accept_at(tok, NOW, 0);
}

static void test_claims_required(void **state)
{
	static const struct {
		const char *json, *why;
	} cases[] = {
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":1700000000}",
		  "missing exp" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":1700000000,\"exp\":null}",
		  "bad exp" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":1700000000,\"exp\":\"1700000900\"}",
		  "bad exp" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900.5}",
		  "bad exp" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"exp\":1700000900}",
		  "missing iat" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":-5,\"exp\":1700000900}",
		  "bad iat" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"aud\":\"flowd-rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900}",
		  "missing iss" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\","
		  "\"iat\":1700000000,\"exp\":1700000900}",
		  "missing aud" },
		{ "{\"jti\":\"j\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900}",
		  "missing sub" },
		{ "{\"jti\":\"j\",\"sub\":\"\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900}",
		  "bad sub" },
		{ "{\"jti\":\"j\",\"sub\":42,\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900}",
		  "bad sub" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"iss\":\"flowd\",\"aud\":\"flowd-rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900}",
		  "missing role" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"ad\\nmin\",\"iss\":\"flowd\",\"aud\":"
		  "\"flowd-rpc\",\"iat\":1700000000,\"exp\":1700000900}",
		  "bad role" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"ad\\u0000min\",\"iss\":\"flowd\","
		  "\"aud\":"
		  "\"flowd-rpc\",\"iat\":1700000000,\"exp\":1700000900}",
		  "malformed payload" },
		{ "{\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900}",
		  "missing jti" },
		{ "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\",\"aud\":\"flowd-"
		  "rpc\","
		  "\"iat\":1700000000,\"exp\":1700000900,\"exp\":1800000000}",
		  "malformed payload" },
		{ "[1,2]", "malformed payload" },
		{ "{\"a\":1} ", NULL },
	};
	char tok[2048];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		reject(make_token(HS256_HDR, cases[i].json, tok, sizeof tok), cases[i].why);

	/* Bounded lengths: role has 31 bytes of room, sub 127, jti 63. */
	char p[1024], extra[256];

	snprintf(p, sizeof p,
		 "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"%031d\",\"iss\":\"flowd\","
		 "\"aud\":\"flowd-rpc\",\"iat\":1700000000,\"exp\":1700000900}",
		 0);
	accept_at(make_token(HS256_HDR, p, tok, sizeof tok), NOW, 0);
	snprintf(p, sizeof p,
		 "{\"jti\":\"j\",\"sub\":\"s\",\"role\":\"%032d\",\"iss\":\"flowd\","
		 "\"aud\":\"flowd-rpc\",\"iat\":1700000000,\"exp\":1700000900}",
		 0);
	reject(make_token(HS256_HDR, p, tok, sizeof tok), "bad role");
	snprintf(extra, sizeof extra, "%0128d", 0);
	snprintf(p, sizeof p,
		 "{\"jti\":\"j\",\"sub\":\"%s\",\"role\":\"r\",\"iss\":\"flowd\","
		 "\"aud\":\"flowd-rpc\",\"iat\":1700000000,\"exp\":1700000900}",
		 extra);
	reject(make_token(HS256_HDR, p, tok, sizeof tok), "bad sub");
	snprintf(p, sizeof p,
		 "{\"jti\":\"%064d\",\"sub\":\"s\",\"role\":\"r\",\"iss\":\"flowd\","
		 "\"aud\":\"flowd-rpc\",\"iat\":1700000000,\"exp\":1700000900}",
		 0);
	reject(make_token(HS256_HDR, p, tok, sizeof tok), "bad jti");
}

static void test_errors_never_echo(void **state)
{
	/* Tokens whose every segment would show up if an error quoted them. */
	char tok[2048], err[256];
	const char *bad[] = {
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
		"garbage-garbage-garbage",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.!!!!!!!!.xxxxxxx",
		tok,
	};

	make_token(HS256_HDR, "{\"sub\":\"secret-user-name\"}", tok, sizeof tok);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(
		    jwt_verify(bad[i], key, keylen, ISS, AUD, NOW, 0, NULL, err, sizeof err),
		    FLOW_UNAUTHENTICATED);
		assert_err_clean(err, bad[i]);
		assert_null(strstr(err, "secret-user-name"));
		assert_null(strstr(err, "admin"));
	}
	/* A tiny or absent err buffer is fine. */
	assert_int_equal(jwt_verify(bad[0], key, keylen, ISS, AUD, NOW, 0, NULL, err, 4),
			 FLOW_UNAUTHENTICATED);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(jwt_verify(bad[0], key, keylen, ISS, AUD, NOW, 0, NULL, NULL, 0),
			 FLOW_UNAUTHENTICATED);
}

static void test_caller_mistakes(void **state)
{
	char err[128], tok[1024];
	struct jwt_claims c;

	/* Verifier misuse is the server's fault: INTERNAL, not UNAUTHENTICATED. */
	assert_int_equal(jwt_verify(known_token, key, 31, ISS, AUD, NOW, 0, NULL, err, sizeof err),
			 FLOW_INTERNAL);
	assert_int_equal(jwt_verify(known_token, NULL, 0, ISS, AUD, NOW, 0, NULL, err, sizeof err),
			 FLOW_INTERNAL);
	assert_int_equal(
	    jwt_verify(known_token, key, keylen, "", AUD, NOW, 0, NULL, err, sizeof err),
	    FLOW_INTERNAL);
	assert_int_equal(
	    jwt_verify(known_token, key, keylen, ISS, NULL, NOW, 0, NULL, err, sizeof err),
	    FLOW_INTERNAL);
	assert_int_equal(
	    jwt_verify(known_token, key, keylen, ISS, AUD, NOW, -1, NULL, err, sizeof err),
	    FLOW_INTERNAL);
	assert_int_equal(jwt_verify(known_token, key, keylen, ISS, AUD, NOW, JWT_MAX_LEEWAY + 1,
				    NULL, err, sizeof err),
			 FLOW_INTERNAL);
	assert_int_equal(
	    jwt_verify(known_token, key, keylen, ISS, AUD, -1, 0, NULL, err, sizeof err),
	    FLOW_INTERNAL);
	assert_int_equal(jwt_verify(NULL, key, keylen, ISS, AUD, NOW, 0, NULL, err, sizeof err),
			 FLOW_UNAUTHENTICATED);
	assert_string_equal(err, "missing token");

	/* Signing refuses bad claims, short keys and small buffers. */
	std_claims(&c);
	assert_int_equal(jwt_sign(&c, key, 31, tok, sizeof tok), FLOW_INVALID_ARGUMENT);
	assert_int_equal(jwt_sign(&c, key, keylen, tok, strlen(known_token)), FLOW_OUT_OF_RANGE);
	assert_string_equal(tok, "");
	assert_int_equal(jwt_sign(&c, key, keylen, tok, strlen(known_token) + 1), FLOW_OK);
	c.exp = c.iat;
	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_INVALID_ARGUMENT);
	std_claims(&c);
	c.sub[0] = '\0';
	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_INVALID_ARGUMENT);
	std_claims(&c);
	strcpy(c.role, "a\nb");
	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_INVALID_ARGUMENT);
	std_claims(&c);
	memset(c.aud, 'x', sizeof c.aud); /* unterminated */
	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_INVALID_ARGUMENT);
	std_claims(&c);
	strcpy(c.sub, "\xff\xfe");
	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_INVALID_ARGUMENT);
	std_claims(&c);
	c.iat = -1;
	assert_int_equal(jwt_sign(&c, key, keylen, tok, sizeof tok), FLOW_INVALID_ARGUMENT);
}

static void expect_bad_secret(const char *s, const char *why)
{
	char msg[256];

	assert_int_equal(jwt_secret_check(s, msg, sizeof msg), -1);
	assert_true(msg[0] != '\0');
	if (why && !strstr(msg, why)) {
		print_error("expected \"%s\", got \"%s\"\n", why, msg);
		fail();
	}
	/* The reason never quotes the secret ("secret" itself is a word of it). */
	if (s && strlen(s) >= 8)
		assert_null(strstr(msg, s));
}

static void test_secret_check(void **state)
{
	static const char *defaults[] = {
		"dev-secret-please-change-in-production",
		"change-this-to-a-long-random-secret",
		"secret",
		"changeme",
		"change-me",
		"password",
		"jwt-secret",
		"your-secret-key",
		"your-256-bit-secret",
		"CHANGEME",
		"Dev-Secret-Please-Change-In-Production",
		"change-this-to-a-long-random-secret-and-some-more",
	};
	char msg[256], s[JWT_RANDOM_SECRET_SIZE];

	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		expect_bad_secret(defaults[i], "default");
	expect_bad_secret(NULL, "not set");
	expect_bad_secret("", "not set");
	expect_bad_secret("Xk3#pQ9!", "at least 32");
	expect_bad_secret("0123456789abcdefghijklmnopqrstu", "31 bytes"); /* 31 */
	expect_bad_secret("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1 distinct");
	expect_bad_secret("abcdefghijklmnoabcdefghijklmnoabcdefghijklmno", "15 distinct");

	assert_int_equal(jwt_secret_check("0123456789abcdefghijklmnopqrstuv", msg, sizeof msg), 0);
	assert_int_equal(jwt_secret_check("k9Vv2_Qe7-tXzR0bLm4NwY8sHc1JdFgA", msg, sizeof msg), 0);
	/* A long phrase that merely contains a short default is fine. */
	assert_int_equal(jwt_secret_check("the-password-is-not-9-Z-q-x-k-W-v-B-7", msg, sizeof msg),
			 0);
	assert_int_equal(jwt_random_secret(s, sizeof s), 0);
	assert_int_equal(jwt_secret_check(s, msg, sizeof msg), 0);
	assert_int_equal(jwt_secret_check(s, NULL, 0), 0);
	assert_int_equal(jwt_secret_check("short", NULL, 0), -1);
}

static void test_random_secret(void **state)
{
	char a[JWT_RANDOM_SECRET_SIZE], b[JWT_RANDOM_SECRET_SIZE];

	assert_int_equal(jwt_random_secret(a, sizeof a), 0);
	assert_int_equal(jwt_random_secret(b, sizeof b), 0);
	assert_int_equal(strlen(a), 86);
	assert_int_equal(
	    strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 86);
	assert_string_not_equal(a, b);
	assert_int_equal(jwt_random_secret(a, JWT_RANDOM_SECRET_SIZE - 1), -1);
	assert_int_equal(jwt_random_secret(NULL, 100), -1);

	/* It signs and verifies. */
	struct jwt_claims c;
	char tok[1024], err[128];

	std_claims(&c);
	assert_int_equal(jwt_sign(&c, (const uint8_t *)a, strlen(a), tok, sizeof tok), FLOW_OK);
	assert_int_equal(
	    jwt_verify(tok, (const uint8_t *)a, strlen(a), ISS, AUD, NOW, 0, NULL, err, sizeof err),
	    FLOW_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_known_vector),
		cmocka_unit_test(test_rfc7515_vector),
		cmocka_unit_test(test_hand_built),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_other_algs_and_headers),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_expiry_and_leeway),
		cmocka_unit_test(test_iss_aud),
		cmocka_unit_test(test_base64_strict),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_claims_required),
		cmocka_unit_test(test_errors_never_echo),
		cmocka_unit_test(test_caller_mistakes),
		cmocka_unit_test(test_secret_check),
		cmocka_unit_test(test_random_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
