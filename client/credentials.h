/*
 * credentials.h - flowctl's saved logins: the credentials file.
 *
 * Where: $FLOW_CREDENTIALS, else $XDG_CONFIG_HOME/flowd/credentials.json
 * (an absolute XDG_CONFIG_HOME only), else ~/.config/flowd/credentials.json.
 *
 * What: one JSON object holding a login per server URL, so logins to
 * several servers coexist:
 *
 *   {"version": 1,
 *    "servers": {"tcp://127.0.0.1:7600": {"url": ..., "username": ...,
 *      "role": ..., "access_token": ..., "access_expires_at": <epoch ms>,
 *      "refresh_token": ..., "refresh_expires_at": <epoch ms>}}}
 *
 * Rules (the file holds bearer tokens):
 *  - Reading refuses a symbolic link (O_NOFOLLOW), anything but a regular
 *    file, a file not owned by the current user, and a file that its group
 *    or others may read or write; the error names the fix ("chmod 600 F").
 *  - Writing is an atomic replace: a new temporary file in the same
 *    directory, created O_CREAT|O_EXCL with mode 0600, written, fsync'd and
 *    renamed over the file (then the directory is fsync'd). A crash leaves
 *    the old file or the new one, never a mix, and no reader ever sees a
 *    file with a wider mode. Missing directories are created with 0700.
 *  - Updates are read-modify-write under an exclusive flock(2) on the
 *    directory, so two flowctl processes (two logins, or two refreshes of
 *    one login) do not lose each other's changes.
 *  - Error messages never contain token text (malformed JSON is reported
 *    by line and column only).
 *
 * Functions return a flow code (status.h): FLOW_OK; FLOW_NOT_FOUND (no
 * entry for the URL); FLOW_FAILED_PRECONDITION (a file flowctl refuses to
 * use: insecure, a link, not JSON of the right shape); FLOW_INTERNAL (I/O
 * errors); FLOW_RESOURCE_EXHAUSTED (memory). Failures put a one-line
 * message naming the file into err.
 */
#ifndef FLOW_CREDENTIALS_H
#define FLOW_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRED_VERSION 1
#define CRED_MAX_FILE (1u << 20) /* larger files are refused */

/* One saved login. Strings are owned (cred_entry_clear frees them). */
struct cred_entry {
	char *url;
	char *username;		   /* NULL: unknown */
	char *role;		   /* NULL: unknown */
	char *access_token;	   /* required */
	int64_t access_expires_at; /* epoch ms, the server's hint; 0: unknown */
	char *refresh_token;	   /* required */
	int64_t refresh_expires_at;
};

/* Wipes the tokens, frees every string and zeroes *e; NULL is a no-op. */
void cred_entry_clear(struct cred_entry *e);

/* The credentials file path (see above) into buf. */
int cred_path(char *buf, size_t len, char *err, size_t errlen);

typedef struct cred_file cred_file;

/*
 * Loads the credentials file at path into *out. A missing file (or
 * directory) is an empty set of logins. With for_update, missing
 * directories are created (0700) and the directory is locked until
 * cred_close, so that cred_save can follow; without it the result is
 * read-only. *out is set only on success.
 */
int cred_open(const char *path, bool for_update, cred_file **out, char *err, size_t errlen);

/* Unlocks, wipes the tokens held in memory and frees; NULL is a no-op. */
void cred_close(cred_file *f);

/* The path given to cred_open. */
const char *cred_file_path(const cred_file *f);

/* Number of saved logins. */
size_t cred_count(const cred_file *f);

/* Copies the entry for url into *out (clear it with cred_entry_clear). */
int cred_get(const cred_file *f, const char *url, struct cred_entry *out);

/*
 * Adds or replaces the entry for e->url (copied). FLOW_INVALID_ARGUMENT
 * when e lacks the url or a token.
 */
int cred_put(cred_file *f, const struct cred_entry *e);

/* Removes the entry for url; FLOW_NOT_FOUND when there is none. */
int cred_remove(cred_file *f, const char *url);

/* Writes the logins back (atomic replace, mode 0600). for_update only. */
int cred_save(cred_file *f, char *err, size_t errlen);

#endif
