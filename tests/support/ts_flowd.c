#include "ts_flowd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "flow/v1/auth.pb-c.h"
#include "status.h"
#include "testsupport.h"

static void dump_log(const struct ts_flowd *f)
{
	char *log = ts_read_file(f->log_path, NULL);

	fprintf(stderr, "--- flowd log (%s) ---\n%s\n---\n", f->log_path, log ? log : "(none)");
	free(log);
}

static int spawn_flowd(struct ts_flowd *f)
{
	char *const env[] = { "FLOW_JWT_SECRET=" TS_JWT_SECRET,
			      "FLOW_ADMIN_PASSWORD=" TS_ADMIN_PASSWORD,
			      "FLOW_ADMIN_USER=" TS_ADMIN_USER,
			      "FLOW_RATE_ADMIN=10000",
			      "FLOW_RATE_LOGIN=1000",
			      "FLOW_RATE_LOGIN_PEER=1000",
			      NULL };
	char db_arg[600], listen_arg[700];
	char *argv[32];
	int n = 0;

	snprintf(db_arg, sizeof(db_arg), "--db=%s", f->db_url);
	snprintf(listen_arg, sizeof(listen_arg), "--listen=%s", f->url);
	argv[n++] = (char *)ts_bin("flowd");
	argv[n++] = db_arg;
	argv[n++] = listen_arg;
	argv[n++] = "--threads=2";
	for (int i = 0; f->extra && f->extra[i] && n < 31; i++)
		argv[n++] = f->extra[i];
	argv[n] = NULL;
	f->pid = ts_spawn(argv, env, f->log_path);
	if (f->pid <= 0 || ts_wait_for_rpc(f->url, 20000) != 0) {
		fprintf(stderr, "flowd did not come up\n");
		dump_log(f);
		return -1;
	}
	return 0;
}

int ts_flowd_restart(struct ts_flowd *f)
{
	return spawn_flowd(f);
}

/* Workers started by ts_worker_start, killed by ts_flowd_stop if a failed
 * test left them running. */
#define MAX_WORKERS 64
static pid_t workers[MAX_WORKERS];

/* Still our running child? (A reaped pid that the system reused for
 * another process is not our child, so it is never touched.) */
static int running_child(pid_t pid)
{
	siginfo_t info = { 0 };

	/* WNOWAIT: an exited child stays for the test's own wait */
	return pid > 0 && waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       info.si_pid == 0;
}

static void remember_worker(pid_t pid)
{
	for (int i = 0; i < MAX_WORKERS; i++)
		if (!running_child(workers[i])) {
			workers[i] = pid;
			return;
		}
}

static void reap_workers(void)
{
	for (int i = 0; i < MAX_WORKERS; i++) {
		if (running_child(workers[i]))
			ts_terminate(workers[i], 2000, NULL);
		workers[i] = 0;
	}
}

pid_t ts_worker_start(const struct ts_flowd *f, const char *name, const char *agents_file,
		      int concurrency, char *const extra_args[])
{
	pid_t pid;
	char url[640], agents[600], conc[32], nm[128], log[700], key[200];
	char *const env[] = { key, NULL };
	char *argv[32];
	int n = 0;

	snprintf(url, sizeof(url), "--url=%s", f->url);
	snprintf(agents, sizeof(agents), "--agents=%s", agents_file);
	snprintf(conc, sizeof(conc), "--concurrency=%d", concurrency);
	snprintf(nm, sizeof(nm), "--name=%s", name);
	snprintf(log, sizeof(log), "%s/%s.log", f->dir, name);
	argv[n++] = (char *)ts_bin("flow-worker");
	argv[n++] = url;
	argv[n++] = agents;
	argv[n++] = conc;
	argv[n++] = nm;
	for (int i = 0; extra_args && extra_args[i] && n < 31; i++)
		argv[n++] = extra_args[i];
	argv[n] = NULL;
	snprintf(key, sizeof(key), "FLOW_TOKEN=%s", f->worker_key);
	pid = ts_spawn(argv, env, log);
	if (pid > 0)
		remember_worker(pid);
	return pid;
}

int ts_rpc(const char *url, const char *token, const char *method, const ProtobufCMessage *req,
	   ProtobufCMessage **resp, struct rpc_status *st)
{
	struct rpc_client_opts o = { .deadline_ms = 20000, .token = token };
	struct rpc_status local;
	ProtobufCMessage *out = NULL;
	rpc_client *c;
	int rv;

	if (st == NULL)
		st = &local;
	if (resp != NULL)
		*resp = NULL;
	if ((rv = rpc_client_open(url, &o, &c, st)) != FLOW_OK)
		return rv;
	rv = rpc_client_call(c, method, req, NULL, &out, st);
	rpc_client_close(c);
	if (resp != NULL)
		*resp = out;
	else if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	return rv;
}

int ts_login(const char *url, const char *user, const char *password, char *token, size_t len,
	     char *refresh, size_t rlen, struct rpc_status *st)
{
	Flow__V1__LoginRequest req = FLOW__V1__LOGIN_REQUEST__INIT;
	ProtobufCMessage *resp;
	Flow__V1__TokenPair *tp;
	int rv;

	req.username = (char *)user;
	req.password = (char *)password;
	rv = ts_rpc(url, NULL, "/flow.v1.AuthService/Login", &req.base, &resp, st);
	if (rv != FLOW_OK)
		return rv;
	tp = (Flow__V1__TokenPair *)resp;
	snprintf(token, len, "%s", tp->access_token ? tp->access_token : "");
	if (refresh != NULL)
		snprintf(refresh, rlen, "%s", tp->refresh_token ? tp->refresh_token : "");
	protobuf_c_message_free_unpacked(resp, NULL);
	return FLOW_OK;
}

/* Logs in as the admin and makes the worker's service account and key. */
static int make_principals(struct ts_flowd *f)
{
	Flow__V1__CreateUserRequest cu = FLOW__V1__CREATE_USER_REQUEST__INIT;
	Flow__V1__CreateApiKeyRequest ck = FLOW__V1__CREATE_API_KEY_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	char path[700];
	int rv;

	if (ts_login(f->url, TS_ADMIN_USER, TS_ADMIN_PASSWORD, f->token, sizeof(f->token), NULL, 0,
		     &st) != FLOW_OK) {
		fprintf(stderr, "ts_flowd_start: admin login failed: %s\n", st.message);
		dump_log(f);
		return -1;
	}
	setenv("FLOW_TOKEN", f->token, 1);
	/* a flowctl that ignores FLOW_TOKEN must not find the user's own login */
	snprintf(path, sizeof(path), "%s/credentials.json", f->dir);
	setenv("FLOW_CREDENTIALS", path, 1);
	cu.username = "test-worker";
	cu.role = "worker";
	cu.has_service_account = 1;
	cu.service_account = 1;
	rv = ts_rpc(f->url, f->token, "/flow.v1.AuthService/CreateUser", &cu.base, NULL, &st);
	if (rv != FLOW_OK && rv != FLOW_ALREADY_EXISTS) {
		fprintf(stderr, "ts_flowd_start: cannot create the worker account: %s\n", st.message);
		return -1;
	}
	ck.username = "test-worker";
	ck.name = "tests";
	if (ts_rpc(f->url, f->token, "/flow.v1.AuthService/CreateApiKey", &ck.base, &resp, &st) !=
	    FLOW_OK) {
		fprintf(stderr, "ts_flowd_start: cannot create the worker key: %s\n", st.message);
		return -1;
	}
	snprintf(f->worker_key, sizeof(f->worker_key), "%s",
		 ((Flow__V1__CreateApiKeyResponse *)resp)->key);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

int ts_flowd_start(struct ts_flowd *f, const char *db_url, char *const extra_args[])
{
	memset(f, 0, sizeof(*f));
	f->extra = extra_args;
	if ((f->dir = ts_tmpdir()) == NULL)
		return -1;
	if (db_url != NULL) {
		snprintf(f->db_url, sizeof(f->db_url), "%s", db_url);
	} else {
		if (ts_create_db(f->db_url, sizeof(f->db_url)) != 0)
			return -1;
		f->own_db = 1;
	}
	snprintf(f->url, sizeof(f->url), "ipc://%s/flowd.sock", f->dir);
	snprintf(f->log_path, sizeof(f->log_path), "%s/flowd.log", f->dir);
	if (spawn_flowd(f) != 0)
		return -1;
	return make_principals(f);
}

int ts_flowd_stop(struct ts_flowd *f)
{
	int status = -1, rv = -1;

	reap_workers();
	if (f->pid > 0 && ts_terminate(f->pid, 15000, &status) == 0 && WIFEXITED(status))
		rv = WEXITSTATUS(status);
	if (rv != 0)
		dump_log(f);
	if (f->own_db)
		ts_drop_db(f->db_url);
	if (f->dir) {
		ts_rmrf(f->dir);
		free(f->dir);
	}
	memset(f, 0, sizeof(*f));
	return rv;
}

int ts_flowctl(const struct ts_flowd *f, const char *tool, const char *args,
	       const char *stdin_data, json_t **out)
{
	char *argv[] = { (char *)ts_bin("flowctl"), "--url", (char *)f->url, "call",
			 (char *)tool, (char *)args, NULL };
	char *sout = NULL, *serr = NULL;
	int status = -1;

	*out = NULL;
	if (ts_run_capture(argv, stdin_data, &sout, &serr, &status, 30000) != 0)
		status = -1;
	*out = json_loads(status == 0 ? sout : serr, 0, NULL);
	if (*out == NULL)
		fprintf(stderr, "flowctl call %s %.200s: not JSON:\nstdout: %s\nstderr: %s\n", tool,
			args, sout ? sout : "", serr ? serr : "");
	free(sout);
	free(serr);
	return status;
}

const char *ts_err_code(const json_t *j)
{
	const char *s = json_string_value(json_object_get(json_object_get(j, "error"), "code"));

	return s ? s : "";
}

const char *ts_err_message(const json_t *j)
{
	const char *s = json_string_value(json_object_get(json_object_get(j, "error"), "message"));

	return s ? s : "";
}
