/*
 * ts_flowd.h - the real flowd binary for end-to-end tests, and the real
 * flowctl against it.
 */
#ifndef FLOW_TS_FLOWD_H
#define FLOW_TS_FLOWD_H

#include <sys/types.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "rpc_client.h"

struct ts_flowd {
	char *dir;          /* private folder: socket and log */
	char db_url[512];   /* the database flowd uses */
	char url[600];      /* ipc:// URL flowd listens on */
	char log_path[600];
	pid_t pid;
	int own_db;         /* the database was made by ts_flowd_start */
	char *const *extra; /* extra flowd arguments (kept by the caller) */
	char token[2048];   /* the admin's access token (also in $FLOW_TOKEN) */
	char worker_key[160]; /* API key of the service account "test-worker" */
};

/* The test deployment's JWT secret and first admin (FLOW_ADMIN_PASSWORD). */
#define TS_JWT_SECRET "test-secret-4f8a1c9e2b7d6053e1a9c4b8f7d2e6a1"
#define TS_ADMIN_USER "admin"
#define TS_ADMIN_PASSWORD "Xq7-verbose-Kestrel-92-plum"

/*
 * Logs in to flowd at url (Login RPC). Returns the flow code; on FLOW_OK the
 * access token is in token (len >= 2048) and the refresh token in refresh
 * (may be NULL). st (may be NULL) gets the reply status.
 */
int ts_login(const char *url, const char *user, const char *password, char *token, size_t len,
	     char *refresh, size_t rlen, struct rpc_status *st);

/*
 * Calls method on flowd at url with token (NULL: none) and returns the flow
 * code; the reply (malloc'd by protobuf-c, free with
 * protobuf_c_message_free_unpacked) in *resp when not NULL.
 */
int ts_rpc(const char *url, const char *token, const char *method, const ProtobufCMessage *req,
	   ProtobufCMessage **resp, struct rpc_status *st);

/*
 * Starts build/bin/flowd on a fresh database (db_url NULL) or on db_url,
 * listening on an ipc:// socket in a private folder, with extra arguments
 * (NULL-terminated, may be NULL), and waits until it answers. flowd gets
 * TS_JWT_SECRET, creates the admin TS_ADMIN_USER from FLOW_ADMIN_PASSWORD,
 * and runs with generous admin and login rate limits (extra arguments may
 * set others). The test then logs in as the admin: f->token, also exported
 * as FLOW_TOKEN so every flowctl the test runs acts for the admin
 * (FLOW_CREDENTIALS points into the private folder, so no user's own
 * flowctl login is ever read); and
 * makes the service account "test-worker" (role worker) with an API key,
 * f->worker_key, which ts_worker_start gives every worker. Returns 0, or
 * -1 with the reason and flowd's log on stderr.
 */
int ts_flowd_start(struct ts_flowd *f, const char *db_url, char *const extra_args[]);

/* Starts flowd again with the same database, address and arguments (after
 * it was killed). Returns 0 once it answers. */
int ts_flowd_restart(struct ts_flowd *f);

/*
 * Starts build/bin/flow-worker against f with the agents file, concurrency
 * and extra arguments (may be NULL); its log goes to <f->dir>/<name>.log.
 * Returns its pid (own process group) or -1.
 */
pid_t ts_worker_start(const struct ts_flowd *f, const char *name, const char *agents_file,
		      int concurrency, char *const extra_args[]);

/* SIGTERM; returns flowd's exit status (0 for a clean stop) or -1. Also
 * stops any worker from ts_worker_start still running (a failed test's),
 * drops the database it made and removes the folder. */
int ts_flowd_stop(struct ts_flowd *f);

/*
 * Runs `flowctl --url F call TOOL ARGS` (ARGS "-" reads stdin_data) and
 * returns its exit status. *out is the parsed stdout on exit 0, else the
 * parsed stderr ({"error": ...}); NULL if it was not JSON. Caller decrefs.
 */
int ts_flowctl(const struct ts_flowd *f, const char *tool, const char *args,
	       const char *stdin_data, json_t **out);

/* The error code / message of a flowctl error object, or "". */
const char *ts_err_code(const json_t *j);
const char *ts_err_message(const json_t *j);

#endif
