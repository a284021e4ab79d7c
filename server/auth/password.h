/*
 * password.h - password storage (Argon2id) and password strength (libpwquality).
 *
 * Hashes are PHC strings ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"),
 * so the parameters travel with the hash and can be raised later:
 * password_needs_rehash() tells a caller, after a successful login, that the
 * stored hash uses weaker parameters than the current ones.
 *
 * Current parameters (OWASP password storage cheat sheet): Argon2id,
 * m = 19 MiB, t = 2, p = 1, 16-byte salt from getrandom(), 32-byte hash.
 *
 * All functions are thread-safe. Nothing here logs, and no password is ever
 * copied into a buffer that is not wiped afterwards.
 */
#ifndef FLOW_AUTH_PASSWORD_H
#define FLOW_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_ARGON2_M_KIB 19456u /* 19 MiB */
#define PASSWORD_ARGON2_T 2u
#define PASSWORD_ARGON2_P 1u
#define PASSWORD_SALT_LEN 16u
#define PASSWORD_HASH_LEN 32u

/* Longest accepted password in bytes (hash, verify and strength). */
#define PASSWORD_MAX_LEN 1024
/* Shortest password password_strength() accepts. */
#define PASSWORD_MIN_LEN 12
/* Buffer size that always holds an encoded hash, NUL included. */
#define PASSWORD_ENCODED_MAX 128

/*
 * Computes the precomputed dummy hash now (call once at startup so the first
 * login for an unknown user costs no more than any other). Optional: the
 * other functions initialise lazily. Returns FLOW_OK or FLOW_INTERNAL.
 */
int password_init(void);

/*
 * Hashes pw with a fresh random salt into out (a NUL-terminated PHC string).
 * Returns FLOW_OK; FLOW_INVALID_ARGUMENT for a NULL or over-long password or
 * an out buffer smaller than needed (PASSWORD_ENCODED_MAX always suffices);
 * FLOW_INTERNAL if the salt or the hash cannot be computed.
 */
int password_hash(const char *pw, char *out, size_t outlen);

/*
 * Checks pw against an encoded hash. Returns FLOW_OK on a match,
 * FLOW_UNAUTHENTICATED on a mismatch, FLOW_INTERNAL if the hash could not be
 * computed (out of memory); any non-zero result means "not authenticated".
 * A NULL, malformed or non-Argon2id hash and a NULL or over-long password are
 * mismatches that still cost one full hash (against the dummy hash), and the
 * comparison of the digests is constant-time.
 */
int password_verify(const char *encoded, const char *pw);

/*
 * A valid hash with the current parameters of a random password nobody
 * knows, computed once per process (thread-safe). Verify against it when the
 * user does not exist or is locked, so those replies take as long as a wrong
 * password. NULL only if it could not be computed (out of memory).
 */
const char *password_dummy_hash(void);

/*
 * True if the hash is not an Argon2id v19 PHC string or any of its
 * parameters (memory, iterations, parallelism, salt or hash length) is below
 * the current ones. Re-hash the password after a successful verify.
 */
bool password_needs_rehash(const char *encoded);

/*
 * Strength policy for new passwords: valid UTF-8, at most PASSWORD_MAX_LEN
 * bytes, no control characters, then libpwquality with minimum length
 * PASSWORD_MIN_LEN (no character-class credits), the cracklib dictionary
 * check and the username check (the password must not contain the user
 * name, reversed or not, nor a 4-character piece of it). The system's
 * pwquality.conf is not read, so the policy is the same everywhere.
 * username may be NULL. Returns FLOW_OK, or FLOW_INVALID_ARGUMENT with a
 * human-readable reason in why (if why is not NULL and len > 0; it never
 * contains the password).
 */
int password_strength(const char *pw, const char *username, char *why, size_t len);

#endif
