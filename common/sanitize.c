#include "sanitize.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Length of the valid UTF-8 sequence at p (left bytes available), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void sanitize_utf8(char *s, size_t len)
{
	unsigned char *p = (unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);

		if (n == 0) {
			p[i++] = '?';
			continue;
		}
		i += n;
	}
}

size_t sanitize_utf8_cut(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = len, cont = 0, need;

	while (i > 0 && cont < 4 && (p[i - 1] & 0xc0) == 0x80) {
		i--;
		cont++;
	}
	if (i == 0 || p[i - 1] < 0xc0)
		return len;
	need = p[i - 1] >= 0xf0 ? 4 : p[i - 1] >= 0xe0 ? 3 : 2;
	return need > cont + 1 ? i - 1 : len;
}

/* ---- secrets -------------------------------------------------------------- */

static const char *const secret_keys[] = {
	"authorization", "password", "passwd", "secret", "api_key",
	"apikey",	 "api-key",  "token",  NULL,
};

static const char *const auth_schemes[] = { "bearer", "basic", "token", "digest", NULL };

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* If s starts (case-insensitively) with one of words followed by a space,
 * the index after the spaces; else 0. */
static size_t skip_scheme(const char *s, const char *const *words)
{
	for (size_t k = 0; words[k]; k++) {
		size_t n = strlen(words[k]), j;

		if (strncasecmp(s, words[k], n) != 0 || !is_space(s[n]))
			continue;
		for (j = n; is_space(s[j]); j++)
			;
		return j;
	}
	return 0;
}

/*
 * Does a secret key start at s? Sets *value to the offset of its value and
 * *quote to the quote around the value ('\0' if none).
 */
static bool match_key(const char *s, size_t *value, char *quote)
{
	for (size_t k = 0; secret_keys[k]; k++) {
		size_t j = strlen(secret_keys[k]);

		if (strncasecmp(s, secret_keys[k], j) != 0)
			continue;
		if (s[j] == '"' || s[j] == '\'')
			j++;
		while (is_space(s[j]))
			j++;
		if (s[j] != '=' && s[j] != ':')
			continue;
		for (j++; is_space(s[j]); j++)
			;
		*quote = (s[j] == '"' || s[j] == '\'') ? s[j] : '\0';
		j += *quote ? 1 : 0;
		if (k == 0)
			j += skip_scheme(s + j, auth_schemes);
		*value = j;
		return true;
	}
	if ((*value = skip_scheme(s, auth_schemes)) != 0 && strncasecmp(s, "bearer", 6) == 0) {
		*quote = '\0';
		return true;
	}
	return false;
}

static size_t value_end(const char *s, size_t i, char quote)
{
	if (quote) {
		while (s[i] && s[i] != quote)
			i++;
		return i;
	}
	while (s[i] && !is_space(s[i]) && !strchr("\"',;&)}]>", s[i]))
		i++;
	return i;
}

/* scheme://user:password@host: the offsets of the password, or false. */
static bool match_url_password(const char *s, size_t *from, size_t *to)
{
	size_t i = 3, colon = 0;

	if (strncmp(s, "://", 3) != 0)
		return false;
	for (; s[i] && !is_space(s[i]) && s[i] != '/' && s[i] != '@'; i++)
		if (s[i] == ':' && colon == 0)
			colon = i;
	if (s[i] != '@' || colon == 0 || i == colon + 1)
		return false;
	*from = colon + 1;
	*to = i;
	return true;
}

static bool is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* A JWT ("eyJ" header, two dots) starting at s[0]: its length, else 0. */
static size_t match_jwt(const char *s, bool at_word_start)
{
	size_t i = 0;
	int dots = 0;

	if (!at_word_start || strncmp(s, "eyJ", 3) != 0)
		return 0;
	while (is_b64url(s[i]) || (s[i] == '.' && dots < 2 && ++dots))
		i++;
	return dots == 2 && i >= 20 ? i : 0;
}

/*
 * An API key or refresh token ("flk_<id>_<secret>", "flr_<id>_<secret>")
 * starting at s[0]: sets *keep to the length of "flk_<id>_" (the visible,
 * non-secret part) and returns the whole length, else 0.
 */
static size_t match_flow_secret(const char *s, bool at_word_start, size_t *keep)
{
	size_t i = 4, n;

	if (!at_word_start || (strncmp(s, "flk_", 4) != 0 && strncmp(s, "flr_", 4) != 0))
		return 0;
	while ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z'))
		i++;
	if (i == 4 || s[i] != '_')
		return 0;
	*keep = ++i;
	for (n = 0; is_b64url(s[i]); n++)
		i++;
	return n >= 16 ? i : 0;
}

struct outbuf {
	char *p;
	size_t len, o;
};

static void put(struct outbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n && b->o + 1 < b->len; i++)
		b->p[b->o++] = s[i];
}

void sanitize_secrets(const char *in, char *out, size_t outlen)
{
	struct outbuf b = { out, outlen, 0 };
	size_t i = 0;

	if (outlen == 0)
		return;
	while (in[i]) {
		size_t from, to, jwt, keep;
		char quote;
		bool word_start = i == 0 || !is_b64url(in[i - 1]);

		if ((jwt = match_jwt(in + i, word_start)) != 0) {
			put(&b, "***", 3);
			i += jwt;
			continue;
		}
		if ((to = match_flow_secret(in + i, word_start, &keep)) != 0) {
			put(&b, in + i, keep);
			put(&b, "***", 3);
			i += to;
			continue;
		}
		if (match_url_password(in + i, &from, &to) ||
		    (match_key(in + i, &from, &quote) &&
		     (to = value_end(in + i, from, quote)) > from)) {
			put(&b, in + i, from);
			put(&b, "***", 3);
			i += to;
			continue;
		}
		put(&b, in + i, 1);
		i++;
	}
	out[b.o] = '\0';
}
