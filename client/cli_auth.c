/*
 * cli_auth.c - login, logout, whoami and the user / key / member / audit
 * commands. See cli_auth.h.
 */
#include "cli_auth.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "flow/v1/auth.pb-c.h"
#include "pbjson.h"
#include "prompt.h"
#include "session.h"
#include "status.h"
#include "table.h"

#define SECRET_MAX 1024 /* longest password accepted, in bytes */
#define USER_MAX 256
#define CHANGE_PASSWORD "/flow.v1.AuthService/ChangePassword"

/* clang-format off */
static const struct table_col whoami_fields[] = {
	{ "User", "username", K_TEXT, 0 }, { "Role", "role", K_TEXT, 0 },
	{ "User ID", "userId", K_TEXT, 0 }, { "Via", "via", K_TEXT, 0 },
	{ "Expires", "expiresAt", K_TIME, 0 }, { "Token from", "tokenFrom", K_TEXT, 0 },
	END_COLUMNS,
};
static const struct table_col user_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "USERNAME", "username", K_TEXT, 40 },
	{ "ROLE", "role", K_TEXT, 0 }, { "KIND", "kind", K_TEXT, 0 },
	{ "DISABLED", "disabled", K_BOOL, 0 }, { "LOCKED_UNTIL", "lockedUntil", K_TIME, 0 },
	{ "FAILED", "failedLogins", K_TEXT, 0 }, { "CREATED", "createdAt", K_TIME, 0 },
	END_COLUMNS,
};
static const struct table_col key_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "PREFIX", "prefix", K_TEXT, 0 },
	{ "USER", "username", K_TEXT, 30 }, { "NAME", "name", K_TEXT, 30 },
	{ "CREATED", "createdAt", K_TIME, 0 }, { "LAST_USED", "lastUsedAt", K_TIME, 0 },
	{ "EXPIRES", "expiresAt", K_TIME, 0 }, { "REVOKED", "revokedAt", K_TIME, 0 },
	END_COLUMNS,
};
static const struct table_col member_cols[] = {
	{ "USER", "username", K_TEXT, 40 }, { "ROLE", "role", K_TEXT, 0 },
	{ "ADDED", "addedAt", K_TIME, 0 },
	END_COLUMNS,
};
static const struct table_col audit_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "TIME", "at", K_TIME, 0 }, { "ACTOR", "actor", K_TEXT, 24 },
	{ "ACTION", "action", K_TEXT, 24 }, { "TARGET", "target", K_TEXT, 30 },
	{ "OUTCOME", "outcome", K_TEXT, 0 }, { "PEER", "peer", K_TEXT, 24 },
	{ "DETAIL", "detail", K_TEXT, 40 },
	END_COLUMNS,
};
/* clang-format on */

/* ---- small helpers ---- */

/* s with control characters blanked, for messages built from results. */
static const char *clean(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", s ? s : "");
	table_sanitize(buf);
	return buf;
}

/* The string at key of r, cleaned into buf. */
static const char *field(const json_t *r, const char *key, char *buf, size_t len)
{
	return clean(table_str(r, key, ""), buf, len);
}

static bool from_stdin(const struct cli_args *a)
{
	return a->opt[OPT_PASSWORD_STDIN] != NULL;
}

/* Runs an auth_manager action (args taken); 0 or the reported exit status. */
static int auth_action(struct cli_env *env, json_t *args, json_t **r)
{
	return cli_run_action(env, ACTION_TOOL_AUTH, args, r);
}

/* ---- reading passwords ---- */

/* One password: a line of stdin, or a prompt on the terminal (echo off). */
static int read_password(struct cli_env *env, bool stdin_line, const char *label, char *buf,
			 size_t len)
{
	char err[256];
	int rc;

	if (stdin_line)
		rc = prompt_read_line(STDIN_FILENO, buf, len, err, sizeof(err));
	else
		rc = prompt_tty(label, false, buf, len, err, sizeof(err));
	if (rc == FLOW_FAILED_PRECONDITION)
		return cli_usage_error(env, "%s: pipe the password in with --password-stdin", err);
	if (rc == FLOW_OUT_OF_RANGE)
		return cli_usage_error(env, "the password is longer than %d bytes", SECRET_MAX - 1);
	if (rc != FLOW_OK)
		return cli_usage_error(env, "cannot read the password: %s", err);
	if (buf[0] == '\0')
		return cli_usage_error(env, "the password is empty");
	return 0;
}

/* A new password: one line of stdin, or typed twice at the terminal. */
static int read_new_password(struct cli_env *env, bool stdin_line, const char *label,
			     char *buf, size_t len)
{
	char again[SECRET_MAX];
	int st = read_password(env, stdin_line, label, buf, len);

	if (st != 0 || stdin_line)
		return st;
	st = read_password(env, false, "Repeat it: ", again, sizeof(again));
	if (st == 0 && strcmp(buf, again) != 0)
		st = cli_usage_error(env, "the two passwords differ; nothing was changed");
	explicit_bzero(again, sizeof(again));
	if (st != 0)
		explicit_bzero(buf, len);
	return st;
}

/* Builds the auth_manager request for args (taken); reports usage errors. */
static int build_request(struct cli_env *env, json_t *args, struct action_request *req)
{
	char err[1024];
	int rc;

	if (args == NULL)
		return cli_fail(env, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rc = action_build_request(ACTION_TOOL_AUTH, args, req, err, sizeof(err));
	json_decref(args);
	if (rc == FLOW_INVALID_ARGUMENT)
		return cli_usage_error(env, "%s", err);
	return rc == FLOW_OK ? 0 : cli_fail(env, rc, "%s", err);
}

/*
 * Runs req with its string field `name` set to secret: the secret goes on
 * the built message, never into JSON, and is detached before the message
 * is freed. Clears req.
 */
static int invoke_with_secret(struct cli_env *env, struct action_request *req, const char *name,
			      const char *secret, json_t **r)
{
	const ProtobufCFieldDescriptor *f;
	struct call_error e;
	char **slot;
	int rc;

	f = protobuf_c_message_descriptor_get_field_by_name(req->md->input, name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING) {
		action_request_clear(req);
		return cli_fail(env, FLOW_INTERNAL, "%s has no field %s", req->method, name);
	}
	slot = (char **)((char *)req->msg + f->offset);
	*slot = (char *)secret;
	rc = call_invoke(&env->call, req, r, &e);
	*slot = NULL; /* not ours to free */
	action_request_clear(req);
	return rc == FLOW_OK ? 0 : cli_report(env, &e);
}

/*
 * The auth_manager call args (taken) with a new password for `name`, asked
 * for after the arguments are known to be valid.
 */
static int run_with_new_password(struct cli_env *env, json_t *args, bool stdin_line,
				 const char *label, json_t **r)
{
	struct action_request req;
	char pw[SECRET_MAX];
	int st;

	if ((st = build_request(env, args, &req)) != 0)
		return st;
	if ((st = read_new_password(env, stdin_line, label, pw, sizeof(pw))) != 0) {
		action_request_clear(&req);
		return st;
	}
	st = invoke_with_secret(env, &req, "password", pw, r);
	explicit_bzero(pw, sizeof(pw));
	return st;
}

/* ---- login, logout, whoami ---- */

/* The username: the argument, FLOW_USER, or asked for on the terminal. */
static int login_username(struct cli_env *env, const struct cli_args *a, char *buf, size_t len)
{
	const char *env_user = getenv("FLOW_USER");
	char err[256];
	int rc;

	if (a->npos > 0 || (env_user != NULL && env_user[0] != '\0')) {
		snprintf(buf, len, "%s", a->npos > 0 ? a->pos[0] : env_user);
	} else if ((rc = prompt_tty("Username: ", true, buf, len, err, sizeof(err))) != FLOW_OK) {
		return cli_usage_error(env, "no username (%s): give it, flowctl login NAME, or "
					    "set FLOW_USER", err);
	}
	if (buf[0] == '\0')
		return cli_usage_error(env, "the username is empty");
	return 0;
}

static int print_login(struct cli_env *env, const struct session_who *who)
{
	const char *t = getenv("FLOW_TOKEN"), *k = getenv("FLOW_API_KEY");
	char u[USER_MAX], r[64];
	json_t *j;

	if ((t != NULL && t[0] != '\0') || (k != NULL && k[0] != '\0'))
		fprintf(stderr, "flowctl: note: FLOW_TOKEN or FLOW_API_KEY is set, and takes "
				"precedence over this login\n");
	if (!env->json) {
		printf("logged in as %s (%s)\n", clean(who->username, u, sizeof(u)),
		       who->role[0] ? clean(who->role, r, sizeof(r)) : "no role");
		return 0;
	}
	j = json_pack("{s:s, s:s, s:s, s:I}", "url", env->call.url, "username", who->username,
		      "role", who->role, "accessExpiresAt", (json_int_t)who->access_expires_at);
	if (j == NULL || call_print_json(stdout, j) != 0) {
		json_decref(j);
		return cli_fail(env, FLOW_INTERNAL, "cannot write the result");
	}
	json_decref(j);
	return 0;
}

int cli_auth_login(struct cli_env *env, const struct cli_args *a)
{
	char user[USER_MAX], pw[SECRET_MAX], label[USER_MAX + 512];
	struct session_who who;
	struct rpc_status st;
	struct call_error e;
	int rc;

	if ((rc = login_username(env, a, user, sizeof(user))) != 0)
		return rc;
	snprintf(label, sizeof(label), "Password for %s at %s: ", user, env->call.url);
	if ((rc = read_password(env, from_stdin(a), label, pw, sizeof(pw))) != 0)
		return rc;
	if (call_connect(&env->call, &e) != FLOW_OK) {
		explicit_bzero(pw, sizeof(pw));
		return cli_report(env, &e);
	}
	rc = session_login(env->call.client, env->call.url, user, pw, &who, &st);
	explicit_bzero(pw, sizeof(pw));
	if (rc != FLOW_OK) {
		call_error_from_status(&e, &st);
		return cli_report(env, &e);
	}
	return print_login(env, &who);
}

static void print_logout(const struct cli_env *env, bool had, const struct rpc_status *srv,
			 const struct call_error *conn)
{
	const char *why = conn ? conn->message : srv->message;
	int code = conn ? conn->code : srv->code;
	json_t *j;

	if (had && code != FLOW_OK)
		fprintf(stderr, "flowctl: warning: the server did not confirm the logout (%s: %s); "
				"the tokens stay valid until they expire\n", status_name(code), why);
	if (env->json) {
		j = json_pack("{s:s, s:b, s:b}", "url", env->call.url, "loggedOut", had, "revoked",
			      had && code == FLOW_OK);
		if (j != NULL)
			call_print_json(stdout, j);
		json_decref(j);
	} else if (had) {
		printf("logged out of %s\n", env->call.url);
	} else {
		fprintf(stderr, "flowctl: not logged in to %s\n", env->call.url);
	}
}

int cli_auth_logout(struct cli_env *env, const struct cli_args *a)
{
	struct call_error conn;
	struct rpc_status srv;
	char err[1024];
	bool had = false, connected;
	int rc;

	/* an unreachable server does not stop the local logout */
	connected = call_connect(&env->call, &conn) == FLOW_OK;
	if (!connected && conn.usage)
		return cli_report(env, &conn);
	rc = session_logout(connected ? env->call.client : NULL, env->call.url, &had, &srv, err,
			    sizeof(err));
	if (rc != FLOW_OK)
		return cli_fail(env, rc, "%s", err);
	print_logout(env, had, &srv, connected ? NULL : &conn);
	return 0;
}

int cli_auth_whoami(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = auth_action(env, json_pack("{s:s}", "action", "whoami"), &r);

	if (st == 0 && !cli_json_mode(env, r)) {
		json_object_set_new(r, "tokenFrom",
				    json_string(session_source_name(session_source(env->call.session))));
		table_fields(r, whoami_fields);
	}
	json_decref(r);
	return st;
}

/* ---- users ---- */

int cli_auth_user_list(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = auth_action(env, json_pack("{s:s}", "action", "users_list"), &r);

	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "users"), user_cols, "No users.");
	json_decref(r);
	return st;
}

static void print_created(const json_t *r, bool service)
{
	char u[USER_MAX], role[64];

	printf("Created %s %s (%s).\n", service ? "service account" : "user",
	       field(r, "username", u, sizeof(u)), field(r, "role", role, sizeof(role)));
	if (service)
		printf("It logs in with API keys only: flowctl key create %s\n", u);
}

int cli_auth_user_create(struct cli_env *env, const struct cli_args *a)
{
	bool service = a->opt[OPT_SERVICE_ACCOUNT] != NULL;
	char label[USER_MAX + 64];
	json_t *r = NULL, *args;
	int st;

	if (a->opt[OPT_ROLE] == NULL)
		return cli_usage_error(env, "user create needs --role ROLE (admin or member; a "
					    "service account: worker or member)");
	if (service && from_stdin(a))
		return cli_usage_error(env, "a service account has no password (it uses API "
					    "keys): drop --password-stdin");
	args = json_pack("{s:s, s:{s:s, s:s, s:b}}", "action", "users_create", "data", "username",
			 a->pos[0], "role", a->opt[OPT_ROLE], "serviceAccount", service);
	snprintf(label, sizeof(label), "Password for the new user %s: ", a->pos[0]);
	if (service)
		st = auth_action(env, args, &r);
	else
		st = run_with_new_password(env, args, from_stdin(a), label, &r);
	if (st == 0 && !cli_json_mode(env, r))
		print_created(r, service);
	json_decref(r);
	return st;
}

/* users_update / users_unlock (args taken); done: what happened ("enabled"). */
static int user_update(struct cli_env *env, json_t *args, const char *done)
{
	char u[USER_MAX], role[64];
	json_t *r = NULL;
	int st = auth_action(env, args, &r);

	if (st == 0 && !cli_json_mode(env, r))
		printf("User %s (%s) %s.\n", field(r, "username", u, sizeof(u)),
		       field(r, "role", role, sizeof(role)), done);
	json_decref(r);
	return st;
}

int cli_auth_user_disable(struct cli_env *env, const struct cli_args *a)
{
	return user_update(env,
			   json_pack("{s:s, s:{s:s, s:b}}", "action", "users_update", "data",
				     "username", a->pos[0], "disabled", 1),
			   "disabled; its tokens are revoked");
}

int cli_auth_user_enable(struct cli_env *env, const struct cli_args *a)
{
	return user_update(env,
			   json_pack("{s:s, s:{s:s, s:b}}", "action", "users_update", "data",
				     "username", a->pos[0], "disabled", 0),
			   "enabled");
}

int cli_auth_user_role(struct cli_env *env, const struct cli_args *a)
{
	return user_update(env,
			   json_pack("{s:s, s:{s:s, s:s}}", "action", "users_update", "data",
				     "username", a->pos[0], "role", a->pos[1]),
			   "has the new role");
}

int cli_auth_user_unlock(struct cli_env *env, const struct cli_args *a)
{
	return user_update(env,
			   json_pack("{s:s, s:{s:s}}", "action", "users_unlock", "data",
				     "username", a->pos[0]),
			   "unlocked");
}

int cli_auth_user_revoke_tokens(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	char u[USER_MAX];
	int st = auth_action(env,
			     json_pack("{s:s, s:{s:s}}", "action", "users_revoke_tokens", "data",
				       "username", a->pos[0]),
			     &r);

	if (st == 0 && !cli_json_mode(env, r))
		printf("Revoked the tokens of %s (%" JSON_INTEGER_FORMAT
		       " refresh tokens, %" JSON_INTEGER_FORMAT " API keys).\n",
		       clean(a->pos[0], u, sizeof(u)),
		       json_integer_value(json_object_get(r, "refreshTokensRevoked")),
		       json_integer_value(json_object_get(r, "apiKeysRevoked")));
	json_decref(r);
	return st;
}

int cli_auth_user_set_password(struct cli_env *env, const struct cli_args *a)
{
	char label[USER_MAX + 64], u[USER_MAX];
	json_t *r = NULL;
	int st;

	snprintf(label, sizeof(label), "New password for %s: ", a->pos[0]);
	st = run_with_new_password(env,
				   json_pack("{s:s, s:{s:s}}", "action", "users_update", "data",
					     "username", a->pos[0]),
				   from_stdin(a), label, &r);
	if (st == 0 && !cli_json_mode(env, r))
		printf("Password of %s set.\n", field(r, "username", u, sizeof(u)));
	json_decref(r);
	return st;
}

/*
 * After ChangePassword, which revokes every token of the user: a saved
 * login is renewed by logging in again with the new password. Returns
 * whether that worked; says what to do otherwise.
 */
static bool login_again(struct cli_env *env, const char *new_pw)
{
	const char *user = session_username(env->call.session);
	struct session_who who;
	struct rpc_status st;

	if (user == NULL) {
		fprintf(stderr, "flowctl: every token of yours was revoked, also the one in use; "
				"run flowctl login with the new password\n");
		return false;
	}
	if (session_login(env->call.client, env->call.url, user, new_pw, &who, &st) != FLOW_OK) {
		fprintf(stderr, "flowctl: every token of yours was revoked, and logging in again "
				"failed (%s: %s): run flowctl login\n", status_name(st.code),
			st.message);
		return false;
	}
	return true;
}

/* ChangePassword with old and new; prints the result. */
static int change_password(struct cli_env *env, char *old, char *new_pw)
{
	Flow__V1__ChangePasswordRequest req = FLOW__V1__CHANGE_PASSWORD_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	struct call_error e;
	json_t *j;
	bool again;

	req.old_password = old;
	req.new_password = new_pw;
	if (call_rpc(&env->call, CHANGE_PASSWORD, &req.base, &reply, &e) != FLOW_OK)
		return cli_report(env, &e);
	j = pbjson_from_message(reply);
	protobuf_c_message_free_unpacked(reply, NULL);
	again = login_again(env, new_pw);
	if (j == NULL || json_object_set_new(j, "loggedInAgain", json_boolean(again)) != 0) {
		json_decref(j);
		return cli_fail(env, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	if (!cli_json_mode(env, j))
		printf("Password changed%s.\n", again ? "; logged in again with it" : "");
	json_decref(j);
	return 0;
}

int cli_auth_user_passwd(struct cli_env *env, const struct cli_args *a)
{
	char old[SECRET_MAX], new_pw[SECRET_MAX];
	int st = read_password(env, from_stdin(a), "Current password: ", old, sizeof(old));

	if (st == 0)
		st = read_new_password(env, from_stdin(a), "New password: ", new_pw,
				       sizeof(new_pw));
	if (st == 0)
		st = change_password(env, old, new_pw);
	explicit_bzero(old, sizeof(old));
	explicit_bzero(new_pw, sizeof(new_pw));
	return st;
}

/* ---- API keys ---- */

static void print_key(const json_t *r)
{
	const json_t *info = json_object_get(r, "keyInfo");
	char prefix[64], u[USER_MAX], when[64] = "";
	json_int_t exp = json_integer_value(json_object_get(info, "expiresAt"));

	if (exp > 0)
		table_time(exp, when, sizeof(when));
	/* the key alone on stdout (KEY=$(flowctl key create ...)); the rest on stderr */
	printf("%s\n", table_str(r, "key", ""));
	fflush(stdout);
	fprintf(stderr, "API key %" JSON_INTEGER_FORMAT " (%s) for %s, %s%s.\n"
			"This is the only time the key is shown: store it now, it cannot be "
			"shown again.\n",
		json_integer_value(json_object_get(info, "id")),
		field(info, "prefix", prefix, sizeof(prefix)), field(info, "username", u, sizeof(u)),
		exp > 0 ? "expires " : "no expiry", when);
}

int cli_auth_key_create(struct cli_env *env, const struct cli_args *a)
{
	json_int_t days = 0;
	json_t *r = NULL, *key;
	int st;

	if (a->opt[OPT_EXPIRES_DAYS] != NULL &&
	    (st = cli_opt_number(env, "--expires-days", a->opt[OPT_EXPIRES_DAYS], 1, 36500, &days)) != 0)
		return st;
	st = auth_action(env,
			 json_pack("{s:s, s:{s:s, s:s*, s:o?}}", "action", "api_keys_create",
				   "data", "username", a->pos[0], "name", a->opt[OPT_NAME],
				   "expiresInDays", days ? json_integer(days) : NULL),
			 &r);
	if (st == 0 && !cli_json_mode(env, r))
		print_key(r);
	key = json_object_get(r, "key");
	if (json_is_string(key)) /* wipe the one copy of the key */
		explicit_bzero((char *)json_string_value(key), json_string_length(key));
	json_decref(r);
	return st;
}

int cli_auth_key_list(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = auth_action(env,
			     json_pack("{s:s, s:{s:s*}}", "action", "api_keys_list", "data",
				       "username", a->npos > 0 ? a->pos[0] : NULL),
			     &r);

	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "keys"), key_cols, "No API keys.");
	json_decref(r);
	return st;
}

int cli_auth_key_revoke(struct cli_env *env, const struct cli_args *a)
{
	char prefix[64], u[USER_MAX];
	json_t *r = NULL;
	int st = auth_action(env,
			     json_pack("{s:s, s:s}", "action", "api_keys_revoke", "keyId",
				       a->pos[0]),
			     &r);

	if (st == 0 && !cli_json_mode(env, r))
		printf("API key %" JSON_INTEGER_FORMAT " (%s) of %s revoked.\n",
		       json_integer_value(json_object_get(r, "id")),
		       field(r, "prefix", prefix, sizeof(prefix)),
		       field(r, "username", u, sizeof(u)));
	json_decref(r);
	return st;
}

/* ---- project members ---- */

int cli_auth_member_add(struct cli_env *env, const struct cli_args *a)
{
	char u[USER_MAX], role[64];
	json_t *r = NULL;
	int st = auth_action(env,
			     json_pack("{s:s, s:s, s:{s:s, s:s*}}", "action", "members_add",
				       "projectId", a->pos[0], "data", "username", a->pos[1],
				       "role", a->opt[OPT_ROLE]),
			     &r);

	if (st == 0 && !cli_json_mode(env, r))
		printf("%s is now %s of project %" JSON_INTEGER_FORMAT ".\n",
		       field(r, "username", u, sizeof(u)),
		       strcmp(field(r, "role", role, sizeof(role)), "owner") == 0 ? "an owner"
										  : "a member",
		       json_integer_value(json_object_get(r, "projectId")));
	json_decref(r);
	return st;
}

int cli_auth_member_remove(struct cli_env *env, const struct cli_args *a)
{
	char u[USER_MAX], p[32];
	json_t *r = NULL;
	int st = auth_action(env,
			     json_pack("{s:s, s:s, s:{s:s}}", "action", "members_remove",
				       "projectId", a->pos[0], "data", "username", a->pos[1]),
			     &r);

	if (st == 0 && !cli_json_mode(env, r))
		printf(json_is_true(json_object_get(r, "removed"))
			       ? "%s removed from project %s.\n"
			       : "%s was not a member of project %s.\n",
		       clean(a->pos[1], u, sizeof(u)), clean(a->pos[0], p, sizeof(p)));
	json_decref(r);
	return st;
}

int cli_auth_member_list(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = auth_action(env,
			     json_pack("{s:s, s:s}", "action", "members_list", "projectId",
				       a->pos[0]),
			     &r);

	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "members"), member_cols, "No members.");
	json_decref(r);
	return st;
}

/* ---- audit ---- */

int cli_auth_audit(struct cli_env *env, const struct cli_args *a)
{
	json_int_t limit = 0, before = 0;
	json_t *r = NULL;
	int st;

	if (a->opt[OPT_LIMIT] != NULL &&
	    (st = cli_opt_number(env, "--limit", a->opt[OPT_LIMIT], 1, 100000, &limit)) != 0)
		return st;
	if (a->opt[OPT_BEFORE] != NULL &&
	    (st = cli_opt_number(env, "--before", a->opt[OPT_BEFORE], 1, LONG_MAX, &before)) != 0)
		return st;
	st = auth_action(env,
			 json_pack("{s:s, s:{s:o?, s:o?, s:s*, s:s*}}", "action", "audit_list",
				   "data", "limit", limit ? json_integer(limit) : NULL, "beforeId",
				   before ? json_integer(before) : NULL, "actor",
				   a->opt[OPT_ACTOR], "action", a->opt[OPT_ACTION]),
			 &r);
	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "events"), audit_cols, "No audit events.");
	json_decref(r);
	return st;
}
