/*
 * session.h - which token flowctl sends, and the saved login's life cycle:
 * login, refresh, logout.
 *
 * Token precedence, first that applies:
 *   1. the caller's token (call_ctx.token; flowctl itself never sets one);
 *   2. FLOW_TOKEN: an access token or an API key;
 *   3. FLOW_API_KEY;
 *   4. the saved login for the server URL in the credentials file
 *      (credentials.h);
 *   5. none: every call but Login and Refresh gets UNAUTHENTICATED.
 * An empty variable counts as unset. The file is read only when 1-3 do not
 * apply, so a token in the environment works even with a broken file.
 *
 * Only a saved login is refreshed (session_refresh): when its access token's
 * expiry hint is less than SESSION_REFRESH_EARLY_MS away (session_expiring),
 * and when the server answers UNAUTHENTICATED (the caller then retries the
 * call once). The expiry is the server's hint; flowctl never decodes the
 * token, and the server alone decides whether it is valid.
 *
 * Secrets: tokens are copied into memory owned here and wiped on free;
 * they never appear in a message.
 */
#ifndef FLOW_SESSION_H
#define FLOW_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc_client.h"

#define SESSION_REFRESH_EARLY_MS 30000

#define SESSION_LOGIN "/flow.v1.AuthService/Login"
#define SESSION_REFRESH "/flow.v1.AuthService/Refresh"
#define SESSION_LOGOUT "/flow.v1.AuthService/Logout"

enum session_source {
	SESSION_NONE,
	SESSION_GIVEN,	      /* the caller's token */
	SESSION_FLOW_TOKEN,   /* $FLOW_TOKEN */
	SESSION_FLOW_API_KEY, /* $FLOW_API_KEY */
	SESSION_SAVED,	      /* the credentials file */
};

typedef struct session session;

/*
 * Picks the token for url (see above); given may be NULL. Fails only when
 * the credentials file must be read and is refused (FLOW_FAILED_PRECONDITION
 * with credentials.h's message) or memory runs out. *out set on success.
 */
int session_open(const char *url, const char *given, session **out, char *err, size_t errlen);

/* Like session_open, but only the saved login counts (for logout). */
int session_open_saved(const char *url, session **out, char *err, size_t errlen);

/* Wipes the tokens and frees; NULL is a no-op. */
void session_free(session *s);

enum session_source session_source(const session *s);

/* "FLOW_TOKEN", "FLOW_API_KEY", "saved login", "none", "given". */
const char *session_source_name(enum session_source src);

/* The access token or key to send; NULL for none. Valid until the next
 * session_refresh or session_free. */
const char *session_token(const session *s);

/* Epoch milliseconds now. */
int64_t session_now_ms(void);

/* A saved login whose access token expires (by the hint) before now + 30 s. */
bool session_expiring(const session *s, int64_t now_ms);

/*
 * A few words for a message after UNAUTHENTICATED saying what was sent and
 * what to do ("not logged in to URL: run flowctl login", "the token in
 * FLOW_TOKEN was refused"), leaving out advice the server's message
 * already gives; "" when there is nothing to add.
 */
void session_hint(const session *s, const char *server_msg, char *buf, size_t len);

/* The saved login's username; NULL for other sources or when unknown. */
const char *session_username(const session *s);

/*
 * Renews a saved login: under the credentials file's lock, reloads the
 * entry; if another flowctl already replaced the pair (refresh tokens are
 * single-use), adopts that pair; else calls Refresh over c (without an
 * access token) and saves the new pair (atomic replace). On success the new
 * access token is also set on c. If the server answers UNAUTHENTICATED, the
 * saved login is removed and the session becomes SESSION_NONE; st->message
 * tells the user to log in again. Other failures keep everything as it was.
 * Returns the code, also in st->code.
 */
int session_refresh(session *s, rpc_client *c, struct rpc_status *st);

/* Who a login is. */
struct session_who {
	char username[128];
	char role[32];
	int64_t access_expires_at;
};

/*
 * Login over c (no token is sent) with username and password, then saves
 * the token pair for url in the credentials file. The password is only
 * read. On failure st says why: the server's answer, or why the pair could
 * not be saved.
 */
int session_login(rpc_client *c, const char *url, const char *username, const char *password,
		  struct session_who *who, struct rpc_status *st);

/*
 * Logout of url's saved login: Logout over c with its access token and
 * refresh token (the server revokes both; on UNAUTHENTICATED the login is
 * refreshed once and Logout retried), then the saved login is removed from
 * the file whatever the server answered. Returns FLOW_OK when nothing is
 * saved for url any more, else why the file could not be updated (err).
 * *had_login says whether there was one; server->code is the server's
 * answer (FLOW_OK: revoked there too). c NULL (flowd unreachable): only
 * the local removal.
 */
int session_logout(rpc_client *c, const char *url, bool *had_login, struct rpc_status *server,
		   char *err, size_t errlen);

#endif
