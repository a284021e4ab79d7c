/*
 * session.c - token selection and the saved login's life cycle.
 */
#include "session.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credentials.h"
#include "flow/v1/auth.pb-c.h"
#include "status.h"

struct session {
	enum session_source source;
	char *url;
	char *token;		 /* GIVEN, FLOW_TOKEN, FLOW_API_KEY */
	struct cred_entry saved; /* SAVED */
	char path[PATH_MAX];	 /* credentials file; "" when not consulted */
	bool ended;		 /* the saved login was removed in this run */
};

static int st_set(struct rpc_status *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int st_set(struct rpc_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return code;
}

static void wipe_str(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int64_t session_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- choosing the token ---- */

static int new_session(const char *url, session **out, char *err, size_t errlen)
{
	session *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->url = strdup(url)) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	*out = s;
	return FLOW_OK;
}

/* Reads url's saved login into s (SAVED), or leaves s NONE. */
static int load_saved(session *s, char *err, size_t errlen)
{
	cred_file *f = NULL;
	int rc = cred_path(s->path, sizeof(s->path), err, errlen);

	if (rc == FLOW_OK)
		rc = cred_open(s->path, false, &f, err, errlen);
	if (rc != FLOW_OK)
		return rc;
	rc = cred_get(f, s->url, &s->saved);
	cred_close(f);
	if (rc == FLOW_NOT_FOUND)
		return FLOW_OK;
	if (rc != FLOW_OK) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	s->source = SESSION_SAVED;
	return FLOW_OK;
}

static int use_token(session *s, enum session_source src, const char *token, char *err,
		     size_t errlen)
{
	s->token = strdup(token);
	if (s->token == NULL) {
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	s->source = src;
	return FLOW_OK;
}

int session_open(const char *url, const char *given, session **out, char *err, size_t errlen)
{
	const char *v;
	session *s;
	int rc;

	if ((rc = new_session(url, &s, err, errlen)) != FLOW_OK)
		return rc;
	if (given != NULL && given[0] != '\0')
		rc = use_token(s, SESSION_GIVEN, given, err, errlen);
	else if ((v = env_nonempty("FLOW_TOKEN")) != NULL)
		rc = use_token(s, SESSION_FLOW_TOKEN, v, err, errlen);
	else if ((v = env_nonempty("FLOW_API_KEY")) != NULL)
		rc = use_token(s, SESSION_FLOW_API_KEY, v, err, errlen);
	else
		rc = load_saved(s, err, errlen);
	if (rc != FLOW_OK) {
		session_free(s);
		return rc;
	}
	*out = s;
	return FLOW_OK;
}

int session_open_saved(const char *url, session **out, char *err, size_t errlen)
{
	session *s;
	int rc;

	if ((rc = new_session(url, &s, err, errlen)) != FLOW_OK)
		return rc;
	if ((rc = load_saved(s, err, errlen)) != FLOW_OK) {
		session_free(s);
		return rc;
	}
	*out = s;
	return FLOW_OK;
}

void session_free(session *s)
{
	if (s == NULL)
		return;
	if (s->token != NULL) {
		wipe_str(s->token);
		free(s->token);
	}
	cred_entry_clear(&s->saved);
	free(s->url);
	free(s);
}

enum session_source session_source(const session *s)
{
	return s->source;
}

const char *session_source_name(enum session_source src)
{
	switch (src) {
	case SESSION_GIVEN:
		return "given";
	case SESSION_FLOW_TOKEN:
		return "FLOW_TOKEN";
	case SESSION_FLOW_API_KEY:
		return "FLOW_API_KEY";
	case SESSION_SAVED:
		return "saved login";
	default:
		return "none";
	}
}

const char *session_token(const session *s)
{
	switch (s->source) {
	case SESSION_SAVED:
		return s->saved.access_token;
	case SESSION_NONE:
		return NULL;
	default:
		return s->token;
	}
}

bool session_expiring(const session *s, int64_t now_ms)
{
	return s->source == SESSION_SAVED && s->saved.access_expires_at > 0 &&
	       s->saved.access_expires_at - SESSION_REFRESH_EARLY_MS <= now_ms;
}

const char *session_username(const session *s)
{
	return s->source == SESSION_SAVED ? s->saved.username : NULL;
}

void session_hint(const session *s, const char *server_msg, char *buf, size_t len)
{
	bool said = server_msg != NULL && strstr(server_msg, "flowctl login") != NULL;

	switch (s->source) {
	case SESSION_NONE:
		if (s->ended)
			snprintf(buf, len, "%s", ""); /* the refresh message said it */
		else
			snprintf(buf, len, "not logged in to %s%s", s->url,
				 said ? "" : ": run flowctl login, or set FLOW_TOKEN or FLOW_API_KEY");
		break;
	case SESSION_FLOW_TOKEN:
		snprintf(buf, len, "the token in FLOW_TOKEN was refused");
		break;
	case SESSION_FLOW_API_KEY:
		snprintf(buf, len, "the key in FLOW_API_KEY was refused");
		break;
	case SESSION_SAVED:
		snprintf(buf, len, "the saved login for %s was refused%s", s->url,
			 said ? "" : ": run flowctl login");
		break;
	default:
		snprintf(buf, len, "%s", "");
	}
}

/* ---- token pairs ---- */

static void pair_free(Flow__V1__TokenPair *p)
{
	if (p == NULL)
		return;
	wipe_str(p->access_token);
	wipe_str(p->refresh_token);
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* The entry for a pair from Login or Refresh; old fills what it lacks. */
static int pair_entry(const char *url, const Flow__V1__TokenPair *p, const struct cred_entry *old,
		      struct cred_entry *e)
{
	const char *user = p->username && *p->username ? p->username : old ? old->username : NULL;
	const char *role = p->role && *p->role ? p->role : old ? old->role : NULL;

	memset(e, 0, sizeof(*e));
	if (p->access_token == NULL || !*p->access_token || p->refresh_token == NULL ||
	    !*p->refresh_token)
		return FLOW_INTERNAL;
	e->url = strdup(url);
	e->username = user ? strdup(user) : NULL;
	e->role = role ? strdup(role) : NULL;
	e->access_token = strdup(p->access_token);
	e->refresh_token = strdup(p->refresh_token);
	e->access_expires_at = p->has_access_expires_at ? p->access_expires_at : 0;
	e->refresh_expires_at = p->has_refresh_expires_at ? p->refresh_expires_at : 0;
	if (!e->url || (user && !e->username) || (role && !e->role) || !e->access_token ||
	    !e->refresh_token) {
		cred_entry_clear(e);
		return FLOW_RESOURCE_EXHAUSTED;
	}
	return FLOW_OK;
}

/* Saves e in the open (locked) file f; st says why not. */
static int store_entry(cred_file *f, const struct cred_entry *e, struct rpc_status *st)
{
	char err[512];
	int rc = cred_put(f, e);

	if (rc != FLOW_OK)
		return st_set(st, rc, "cannot keep the new login: out of memory");
	if ((rc = cred_save(f, err, sizeof(err))) != FLOW_OK)
		return st_set(st, rc, "cannot save the login: %s", err);
	return FLOW_OK;
}

/* Replaces the session's saved login with e (taken). */
static void adopt(session *s, struct cred_entry *e)
{
	cred_entry_clear(&s->saved);
	s->saved = *e;
	memset(e, 0, sizeof(*e));
	s->source = SESSION_SAVED;
}

static void drop(session *s)
{
	cred_entry_clear(&s->saved);
	s->source = SESSION_NONE;
	s->ended = true;
}

/* ---- refresh ---- */

/* The server refused the refresh token: forget the login everywhere. */
static int refresh_refused(session *s, cred_file *f, const struct rpc_status *srv,
			   struct rpc_status *st)
{
	char err[512] = "";
	int rc = FLOW_OK;

	if (cred_remove(f, s->url) == FLOW_OK)
		rc = cred_save(f, err, sizeof(err));
	drop(s);
	if (rc != FLOW_OK)
		return st_set(st, FLOW_UNAUTHENTICATED,
			      "your login to %s has ended (%s), and it cannot be removed from "
			      "the credentials file: %s; run flowctl login",
			      s->url, srv->message, err);
	return st_set(st, FLOW_UNAUTHENTICATED,
		      "your login to %s has ended (%s); run flowctl login to log in again",
		      s->url, srv->message);
}

/* Refresh over c with cur's refresh token; saves and adopts the new pair. */
static int refresh_call(session *s, rpc_client *c, cred_file *f, const struct cred_entry *cur,
			struct rpc_status *st)
{
	Flow__V1__RefreshRequest req = FLOW__V1__REFRESH_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	struct cred_entry e;
	struct rpc_status srv;
	int rc;

	req.refresh_token = cur->refresh_token;
	if (rpc_client_set_token(c, NULL) != FLOW_OK)
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rc = rpc_client_call(c, SESSION_REFRESH, &req.base, NULL, &reply, &srv);
	if (rc == FLOW_UNAUTHENTICATED)
		return refresh_refused(s, f, &srv, st);
	if (rc != FLOW_OK)
		return st_set(st, rc, "cannot renew the login to %s: %s", s->url, srv.message);
	rc = pair_entry(s->url, (Flow__V1__TokenPair *)reply, cur, &e);
	pair_free((Flow__V1__TokenPair *)reply);
	if (rc == FLOW_INTERNAL)
		return st_set(st, rc, "the server's Refresh reply has no token pair");
	if (rc != FLOW_OK)
		return st_set(st, rc, "out of memory");
	if ((rc = store_entry(f, &e, st)) != FLOW_OK) {
		cred_entry_clear(&e);
		return rc;
	}
	adopt(s, &e);
	return FLOW_OK;
}

int session_refresh(session *s, rpc_client *c, struct rpc_status *st)
{
	struct cred_entry cur;
	cred_file *f = NULL;
	char err[512];
	int rc;

	memset(st, 0, sizeof(*st));
	if (s->source != SESSION_SAVED)
		return st_set(st, FLOW_FAILED_PRECONDITION, "there is no saved login to renew");
	if ((rc = cred_open(s->path, true, &f, err, sizeof(err))) != FLOW_OK)
		return st_set(st, rc, "%s", err);
	rc = cred_get(f, s->url, &cur);
	if (rc == FLOW_NOT_FOUND) {
		drop(s); /* another flowctl logged out */
		rc = st_set(st, FLOW_UNAUTHENTICATED,
			    "you were logged out of %s meanwhile; run flowctl login", s->url);
	} else if (rc != FLOW_OK) {
		rc = st_set(st, rc, "out of memory");
	} else if (strcmp(cur.refresh_token, s->saved.refresh_token) != 0) {
		adopt(s, &cur); /* another flowctl renewed it first */
	} else {
		rc = refresh_call(s, c, f, &cur, st);
	}
	cred_entry_clear(&cur);
	cred_close(f);
	if (rpc_client_set_token(c, session_token(s)) != FLOW_OK && rc == FLOW_OK)
		rc = st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return rc;
}

/* ---- login ---- */

static int save_login(const char *url, const Flow__V1__TokenPair *p, struct rpc_status *st)
{
	char path[PATH_MAX], err[512];
	struct cred_entry e;
	cred_file *f = NULL;
	int rc = pair_entry(url, p, NULL, &e);

	if (rc == FLOW_INTERNAL)
		return st_set(st, rc, "the server's Login reply has no token pair");
	if (rc != FLOW_OK)
		return st_set(st, rc, "out of memory");
	rc = cred_path(path, sizeof(path), err, sizeof(err));
	if (rc == FLOW_OK)
		rc = cred_open(path, true, &f, err, sizeof(err));
	if (rc != FLOW_OK)
		st_set(st, rc, "logged in, but cannot save the login: %s", err);
	else
		rc = store_entry(f, &e, st);
	cred_close(f);
	cred_entry_clear(&e);
	return rc;
}

int session_login(rpc_client *c, const char *url, const char *username, const char *password,
		  struct session_who *who, struct rpc_status *st)
{
	Flow__V1__LoginRequest req = FLOW__V1__LOGIN_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	Flow__V1__TokenPair *p;
	int rc;

	req.username = (char *)username;
	req.password = (char *)password;
	if (rpc_client_set_token(c, NULL) != FLOW_OK)
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rc = rpc_client_call(c, SESSION_LOGIN, &req.base, NULL, &reply, st);
	if (rc != FLOW_OK)
		return rc;
	p = (Flow__V1__TokenPair *)reply;
	rc = save_login(url, p, st);
	if (rc == FLOW_OK) {
		memset(who, 0, sizeof(*who));
		snprintf(who->username, sizeof(who->username), "%s",
			 p->username && *p->username ? p->username : username);
		snprintf(who->role, sizeof(who->role), "%s", p->role ? p->role : "");
		who->access_expires_at = p->has_access_expires_at ? p->access_expires_at : 0;
	}
	pair_free(p);
	return rc;
}

/* ---- logout ---- */

static int logout_call(rpc_client *c, const session *s, struct rpc_status *st)
{
	Flow__V1__LogoutRequest req = FLOW__V1__LOGOUT_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	int rc;

	req.refresh_token = s->saved.refresh_token;
	if (rpc_client_set_token(c, s->saved.access_token) != FLOW_OK)
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rc = rpc_client_call(c, SESSION_LOGOUT, &req.base, NULL, &reply, st);
	if (reply != NULL)
		protobuf_c_message_free_unpacked(reply, NULL);
	return rc;
}

/* Removes url's saved login (under the lock); gone already is fine. */
static int forget(const char *path, const char *url, char *err, size_t errlen)
{
	cred_file *f = NULL;
	int rc = cred_open(path, true, &f, err, errlen);

	if (rc == FLOW_OK && cred_remove(f, url) == FLOW_OK)
		rc = cred_save(f, err, errlen);
	cred_close(f);
	return rc;
}

int session_logout(rpc_client *c, const char *url, bool *had_login, struct rpc_status *server,
		   char *err, size_t errlen)
{
	struct rpc_status again;
	session *s = NULL;
	int rc;

	memset(server, 0, sizeof(*server));
	*had_login = false;
	if ((rc = session_open_saved(url, &s, err, errlen)) != FLOW_OK)
		return rc;
	if (s->source == SESSION_SAVED) {
		*had_login = true;
		rc = c ? logout_call(c, s, server) : FLOW_UNAVAILABLE;
		/* an expired access token: renew once so both tokens get revoked */
		if (rc == FLOW_UNAUTHENTICATED && session_refresh(s, c, &again) == FLOW_OK)
			logout_call(c, s, server);
		rc = forget(s->path, url, err, errlen);
	}
	if (c != NULL)
		rpc_client_set_token(c, NULL);
	session_free(s);
	return rc;
}
