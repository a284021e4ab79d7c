/*
 * password.c - Argon2id password hashing and the password strength policy.
 */
#include "auth/password.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>
#include <pwquality.h>

#include "status.h"

/* ---- randomness ---- */

static int fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- hashing ---- */

static int hash_with_len(const char *pw, size_t pwlen, char *out, size_t outlen)
{
	unsigned char salt[PASSWORD_SALT_LEN];
	int rc;

	if (outlen < argon2_encodedlen(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB, PASSWORD_ARGON2_P,
				       PASSWORD_SALT_LEN, PASSWORD_HASH_LEN, Argon2_id))
		return FLOW_INVALID_ARGUMENT;
	if (fill_random(salt, sizeof(salt)) != 0)
		return FLOW_INTERNAL;
	rc = argon2id_hash_encoded(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB, PASSWORD_ARGON2_P, pw,
				   pwlen, salt, sizeof(salt), PASSWORD_HASH_LEN, out, outlen);
	return rc == ARGON2_OK ? FLOW_OK : FLOW_INTERNAL;
}

int password_hash(const char *pw, char *out, size_t outlen)
{
	size_t n;

	if (!pw || !out)
		return FLOW_INVALID_ARGUMENT;
	n = strnlen(pw, PASSWORD_MAX_LEN + 1);
	if (n > PASSWORD_MAX_LEN)
		return FLOW_INVALID_ARGUMENT;
	return hash_with_len(pw, n, out, outlen);
}

/* ---- the dummy hash ---- */

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_buf[PASSWORD_ENCODED_MAX];
static int dummy_rc = FLOW_INTERNAL;

static void dummy_init(void)
{
	unsigned char secret[32];

	/* A random 32-byte "password" that is forgotten right away. */
	if (fill_random(secret, sizeof(secret)) != 0) {
		dummy_rc = FLOW_INTERNAL;
		return;
	}
	dummy_rc =
	    hash_with_len((const char *)secret, sizeof(secret), dummy_buf, sizeof(dummy_buf));
	explicit_bzero(secret, sizeof(secret));
}

int password_init(void)
{
	pthread_once(&dummy_once, dummy_init);
	return dummy_rc;
}

const char *password_dummy_hash(void)
{
	return password_init() == FLOW_OK ? dummy_buf : NULL;
}

/* ---- parsing the PHC string ---- */

struct phc {
	unsigned long v, m, t, p;
	size_t saltlen, hashlen; /* decoded bytes */
};

static int parse_ulong(const char **sp, const char *prefix, unsigned long *out)
{
	const char *s = *sp;
	unsigned long v = 0;
	size_t plen = strlen(prefix);

	if (strncmp(s, prefix, plen) != 0)
		return -1;
	s += plen;
	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		if (v > 0xffffffffUL / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		s++;
	}
	*sp = s;
	*out = v;
	return 0;
}

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Unpadded base64 field up to '$' or NUL; returns decoded length or -1. */
static long b64_field(const char **sp, char end)
{
	const char *s = *sp;
	size_t n = 0;

	while (s[n] && s[n] != end) {
		if (!is_b64(s[n]))
			return -1;
		n++;
	}
	if (s[n] != end || n % 4 == 1 || n == 0)
		return -1;
	*sp = s + n;
	return (long)(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
}

/* Only "$argon2id$v=<v>$m=<m>,t=<t>,p=<p>$<salt>$<hash>" is accepted. */
static int phc_parse(const char *s, struct phc *ph)
{
	long len;

	if (!s || strncmp(s, "$argon2id$", 10) != 0)
		return -1;
	s += 10;
	if (parse_ulong(&s, "v=", &ph->v) || *s++ != '$' || parse_ulong(&s, "m=", &ph->m) ||
	    parse_ulong(&s, ",t=", &ph->t) || parse_ulong(&s, ",p=", &ph->p) || *s++ != '$')
		return -1;
	len = b64_field(&s, '$');
	if (len < 0)
		return -1;
	ph->saltlen = (size_t)len;
	s++;
	len = b64_field(&s, '\0');
	if (len < 0)
		return -1;
	ph->hashlen = (size_t)len;
	return 0;
}

bool password_needs_rehash(const char *encoded)
{
	struct phc ph;

	if (phc_parse(encoded, &ph) != 0)
		return true;
	return ph.v != ARGON2_VERSION_13 || ph.m < PASSWORD_ARGON2_M_KIB ||
	       ph.t < PASSWORD_ARGON2_T || ph.p < PASSWORD_ARGON2_P ||
	       ph.saltlen < PASSWORD_SALT_LEN || ph.hashlen < PASSWORD_HASH_LEN;
}

/* ---- verifying ---- */

/* One full hash against the dummy; the result is thrown away. */
static void burn_dummy(void)
{
	const char *d = password_dummy_hash();
	static const char nothing[] = "";

	if (d)
		(void)argon2id_verify(d, nothing, 0);
}

int password_verify(const char *encoded, const char *pw)
{
	struct phc ph;
	size_t n;
	int rc;

	if (!pw || (n = strnlen(pw, PASSWORD_MAX_LEN + 1)) > PASSWORD_MAX_LEN ||
	    phc_parse(encoded, &ph) != 0 || ph.v != ARGON2_VERSION_13) {
		burn_dummy();
		return FLOW_UNAUTHENTICATED;
	}
	/* argon2_verify recomputes the hash and compares in constant time. */
	rc = argon2id_verify(encoded, pw, n);
	if (rc == ARGON2_OK)
		return FLOW_OK;
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return FLOW_INTERNAL;
	/* Parameters libargon2 rejects before hashing: still do the work. */
	if (rc != ARGON2_VERIFY_MISMATCH)
		burn_dummy();
	return FLOW_UNAUTHENTICATED;
}

/* ---- strength ---- */

/* cracklib keeps static state, so checks are serialised (they are rare). */
static pthread_mutex_t pwq_lock = PTHREAD_MUTEX_INITIALIZER;

static int reason(char *why, size_t len, const char *msg)
{
	if (why && len > 0)
		snprintf(why, len, "%s", msg);
	return FLOW_INVALID_ARGUMENT;
}

/*
 * Valid UTF-8 without C0 controls, DEL or C1 controls (U+0080..U+009F).
 * Returns NULL when fine, else the reason.
 */
static const char *check_chars(const unsigned char *s)
{
	while (*s) {
		unsigned char c = *s;
		uint32_t cp;
		int extra;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return "The password contains a control character";
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			cp = c & 0x07;
		} else {
			return "The password is not valid UTF-8";
		}
		for (int i = 1; i <= extra; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return "The password is not valid UTF-8";
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((extra == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return "The password is not valid UTF-8";
		if (cp >= 0x80 && cp <= 0x9f)
			return "The password contains a control character";
		s += extra + 1;
	}
	return NULL;
}

int password_strength(const char *pw, const char *username, char *why, size_t len)
{
	pwquality_settings_t *pwq;
	const char *bad;
	void *aux = NULL;
	char buf[PWQ_MAX_ERROR_MESSAGE_LEN];
	int rc;

	if (why && len > 0)
		why[0] = '\0';
	if (!pw)
		return reason(why, len, "No password given");
	if (strnlen(pw, PASSWORD_MAX_LEN + 1) > PASSWORD_MAX_LEN) {
		snprintf(buf, sizeof(buf), "The password is longer than %d characters",
			 PASSWORD_MAX_LEN);
		return reason(why, len, buf);
	}
	bad = check_chars((const unsigned char *)pw);
	if (bad)
		return reason(why, len, bad);

	pwq = pwquality_default_settings();
	if (!pwq)
		return reason(why, len, "Cannot check the password (out of memory)");
	/* Exact policy, independent of /etc/security/pwquality.conf. */
	if (pwquality_set_int_value(pwq, PWQ_SETTING_MIN_LENGTH, PASSWORD_MIN_LEN) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_DIG_CREDIT, 0) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_UP_CREDIT, 0) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_LOW_CREDIT, 0) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_OTH_CREDIT, 0) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_DICT_CHECK, 1) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_USER_CHECK, 1) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_USER_SUBSTR, 4) ||
	    pwquality_set_int_value(pwq, PWQ_SETTING_GECOS_CHECK, 0)) {
		pwquality_free_settings(pwq);
		return reason(why, len, "Cannot check the password (bad settings)");
	}
	pthread_mutex_lock(&pwq_lock);
	rc = pwquality_check(pwq, pw, NULL, username, &aux);
	if (rc < 0) {
		/* Frees aux; the message never includes the password. */
		const char *msg = pwquality_strerror(buf, sizeof(buf), rc, aux);

		pthread_mutex_unlock(&pwq_lock);
		pwquality_free_settings(pwq);
		return reason(why, len, msg ? msg : "The password is too weak");
	}
	pthread_mutex_unlock(&pwq_lock);
	pwquality_free_settings(pwq);
	return FLOW_OK;
}
