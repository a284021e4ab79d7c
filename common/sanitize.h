/*
 * sanitize.h - making text safe to log and to send to flowd.
 *
 * Agents write whatever they like; flowd accepts only valid UTF-8 without
 * NUL bytes; and no log line may carry a secret (the logger runs every
 * message through sanitize_secrets()).
 */
#ifndef FLOW_SANITIZE_H
#define FLOW_SANITIZE_H

#include <stddef.h>

/*
 * Replaces, in place, every byte of s[0..len) that is not part of a valid
 * UTF-8 sequence, and every NUL byte, with '?'. The length never changes.
 */
void sanitize_utf8(char *s, size_t len);

/*
 * The largest n <= len such that s[0..n) does not end inside a multibyte
 * UTF-8 sequence (where to cut a string that is being truncated).
 */
size_t sanitize_utf8_cut(const char *s, size_t len);

/*
 * Copies the NUL-terminated line in to out (outlen bytes, always
 * NUL-terminated, truncated to fit) with the values of obvious secrets
 * replaced by "***": what follows token, password, passwd, secret, api_key,
 * apikey or api-key and then '=' or ':'; the credentials of
 * "Authorization: Bearer|Basic ..." and of a bare "Bearer ..."; and the
 * password of a URL (scheme://user:password@host); and anything shaped
 * like a JWT ("eyJ..." base64url with two dots). Keys are matched without
 * regard to case.
 */
void sanitize_secrets(const char *in, char *out, size_t outlen);

#endif
