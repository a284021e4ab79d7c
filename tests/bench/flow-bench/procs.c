/*
 * procs.c - a throwaway database per mode, flowd and flow-worker processes
 * from flow-bench's own folder, and what /proc says about them.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "flow/v1/auth.pb-c.h"
#include "jwt.h"
#include "status.h"
#include "testsupport.h"

#define WORKER_ACCOUNT "bench-worker"

static long long stat_ticks(const char *path, long *ppid);

/* ---- databases ------------------------------------------------------------- */

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* URL (or key=value conninfo) opt.db with its database replaced by name. */
int env_db_url(const char *name, char *out, size_t len)
{
	return ts_db_url_with(opt.db, name, out, len);
}

/* Runs one statement on the admin database. */
static int admin_exec(const char *sql)
{
	PGconn *c = PQconnectdb(opt.db);
	PGresult *res;
	int rv = -1;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "flow-bench: cannot connect to the database: %s",
			PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	res = PQexec(c, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		rv = 0;
	else
		fprintf(stderr, "flow-bench: %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return rv;
}

int env_sql(struct env *e, const char *sql)
{
	PGresult *res = PQexec(e->pg, sql);
	ExecStatusType st = PQresultStatus(res);
	int rv = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;

	if (rv != 0)
		fprintf(stderr, "flow-bench: SQL failed: %.200s: %s", sql, PQerrorMessage(e->pg));
	PQclear(res);
	return rv;
}

PGresult *env_query(struct env *e, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(e->pg, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	fprintf(stderr, "flow-bench: SQL failed: %.200s: %s", sql, PQerrorMessage(e->pg));
	PQclear(res);
	return NULL;
}

int env_sql_params_long(struct env *e, const char *sql, int n, const char *const *params,
			long long *out)
{
	PGresult *res = env_query(e, sql, n, params);
	int rv = -1;

	if (res != NULL && PQntuples(res) == 1 && PQnfields(res) >= 1) {
		*out = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		rv = 0;
	} else if (res != NULL) {
		fprintf(stderr, "flow-bench: not one value: %.200s\n", sql);
	}
	PQclear(res);
	return rv;
}

int env_sql_long(struct env *e, const char *sql, long long *out)
{
	return env_sql_params_long(e, sql, 0, NULL, out);
}

/* ---- the environment of one mode ---------------------------------------------- */

static int random_secrets(struct env *e)
{
	char buf[JWT_RANDOM_SECRET_SIZE];

	if (jwt_random_secret(e->secret, sizeof(e->secret)) != 0 ||
	    jwt_random_secret(buf, sizeof(buf)) != 0)
		return -1;
	/*
	 * A passphrase the strength policy accepts (random base64url alone can
	 * fail its dictionary check as "systematic"), made unique by random
	 * letters and digits.
	 */
	for (char *p = buf; *p; p++)
		if (*p == '-' || *p == '_')
			*p = 'q';
	snprintf(e->password, sizeof(e->password), "Xq7-verbose-Kestrel-92-%.12s", buf);
	return 0;
}

/* The postmaster of a server on this machine: the parent of our backend
 * (0 when the server runs elsewhere or /proc does not show it). */
static pid_t find_postmaster(struct env *e)
{
	char path[64];
	long long backend = 0;
	long ppid = 0;

	if (env_sql_long(e, "SELECT pg_backend_pid()", &backend) != 0 || backend <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%lld/stat", backend);
	if (stat_ticks(path, &ppid) < 0)
		return 0;
	return (pid_t)ppid;
}

int env_open(struct env *e, const char *tag)
{
	char sql[160];

	memset(e, 0, sizeof(*e));
	snprintf(e->tag, sizeof(e->tag), "%s", tag);
	snprintf(e->db_name, sizeof(e->db_name), "bench_%ld_%s", (long)getpid(), tag);
	if (random_secrets(e) != 0) {
		fprintf(stderr, "flow-bench: cannot make random secrets\n");
		return -1;
	}
	if ((e->dir = ts_tmpdir()) == NULL)
		return -1;
	if (env_db_url(e->db_name, e->db_url, sizeof(e->db_url)) != 0) {
		fprintf(stderr, "flow-bench: database URL too long\n");
		return -1;
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", e->db_name);
	if (admin_exec(sql) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", e->db_name);
	if (admin_exec(sql) != 0)
		return -1;
	e->db_made = true;
	e->pg = PQconnectdb(e->db_url);
	if (PQstatus(e->pg) != CONNECTION_OK) {
		fprintf(stderr, "flow-bench: cannot connect to %s: %s", e->db_name,
			PQerrorMessage(e->pg));
		return -1;
	}
	PQsetNoticeProcessor(e->pg, quiet_notices, NULL);
	e->postmaster = find_postmaster(e);
	return 0;
}

int env_call(struct env *e, int fi, const char *method, const ProtobufCMessage *req,
	     ProtobufCMessage **resp, struct rpc_status *st)
{
	struct rpc_client_opts o = { .deadline_ms = 60000, .token = e->token[0] ? e->token : NULL };
	ProtobufCMessage *out = NULL;
	rpc_client *c;
	int rv;

	if (resp)
		*resp = NULL;
	if ((rv = rpc_client_open(e->flowd[fi].url, &o, &c, st)) != FLOW_OK)
		return rv;
	rv = rpc_client_call(c, method, req, NULL, &out, st);
	rpc_client_close(c);
	if (resp)
		*resp = out;
	else if (out)
		protobuf_c_message_free_unpacked(out, NULL);
	return rv;
}

static int login(struct env *e)
{
	Flow__V1__LoginRequest req = FLOW__V1__LOGIN_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct rpc_status st;

	req.username = "admin";
	req.password = e->password;
	if (env_call(e, 0, "/flow.v1.AuthService/Login", &req.base, &resp, &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: admin login failed: %s\n", st.message);
		return -1;
	}
	snprintf(e->token, sizeof(e->token), "%s", ((Flow__V1__TokenPair *)resp)->access_token);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/* The worker service account and its API key. */
static int make_worker_key(struct env *e)
{
	Flow__V1__CreateUserRequest cu = FLOW__V1__CREATE_USER_REQUEST__INIT;
	Flow__V1__CreateApiKeyRequest ck = FLOW__V1__CREATE_API_KEY_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct rpc_status st;

	cu.username = WORKER_ACCOUNT;
	cu.role = "worker";
	cu.has_service_account = 1;
	cu.service_account = 1;
	if (env_call(e, 0, "/flow.v1.AuthService/CreateUser", &cu.base, NULL, &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: CreateUser: %s\n", st.message);
		return -1;
	}
	ck.username = WORKER_ACCOUNT;
	ck.name = "flow-bench";
	if (env_call(e, 0, "/flow.v1.AuthService/CreateApiKey", &ck.base, &resp, &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: CreateApiKey: %s\n", st.message);
		return -1;
	}
	snprintf(e->worker_key, sizeof(e->worker_key), "%s",
		 ((Flow__V1__CreateApiKeyResponse *)resp)->key);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/* --setup-sql: an experiment's schema change, after flowd migrated. */
static int run_setup_sql(struct env *e)
{
	char *sql;
	int rv;

	if (opt.setup_sql == NULL)
		return 0;
	if ((sql = ts_read_file(opt.setup_sql, NULL)) == NULL) {
		fprintf(stderr, "flow-bench: cannot read %s\n", opt.setup_sql);
		return -1;
	}
	rv = env_sql(e, sql);
	free(sql);
	return rv;
}

static const char *bin(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", opt.bindir, name);
	return buf;
}

/*
 * flowd as the benchmark runs it: ipc:// listener in the private folder,
 * --rate-rpc=0 (no per-principal limit), history kept for 10 years (the
 * growth mode's rows must stay), warnings-only log.
 */
int env_flowd_start(struct env *e)
{
	struct env_flowd *f;
	char secret[160], password[120], db[1300], listen[760], threads[40], path[4200];
	char *env[] = { secret,
			password,
			"FLOW_ADMIN_USER=admin",
			"FLOW_RATE_ADMIN=10000",
			"FLOW_RATE_LOGIN=1000",
			"FLOW_RATE_LOGIN_PEER=1000",
			NULL };
	char *argv[] = { (char *)bin("flowd", path, sizeof(path)),
			 db,
			 listen,
			 threads,
			 "--rate-rpc=0",
			 "--history-retention=315360000",
			 "--log-level=warn",
			 NULL };
	int i = e->n_flowd;

	if (i >= ENV_MAX_FLOWD)
		return -1;
	f = &e->flowd[i];
	snprintf(f->url, sizeof(f->url), "ipc://%s/flowd%d.sock", e->dir, i);
	snprintf(f->log, sizeof(f->log), "%s/flowd%d.log", e->dir, i);
	snprintf(secret, sizeof(secret), "FLOW_JWT_SECRET=%s", e->secret);
	snprintf(password, sizeof(password), "FLOW_ADMIN_PASSWORD=%s", e->password);
	snprintf(db, sizeof(db), "--db=%s", e->db_url);
	snprintf(listen, sizeof(listen), "--listen=%s", f->url);
	snprintf(threads, sizeof(threads), "--threads=%ld", opt.threads);
	f->pid = ts_spawn(argv, env, f->log);
	if (f->pid <= 0)
		return -1;
	e->n_flowd++;
	if (ts_wait_for_rpc(f->url, 30000) != 0) {
		env_dump_logs(e);
		return -1;
	}
	if (i > 0)
		return 0;
	if (login(e) != 0 || make_worker_key(e) != 0) {
		env_dump_logs(e);
		return -1;
	}
	return run_setup_sql(e);
}

pid_t env_worker_start(struct env *e, int fi, const char *agents, long concurrency)
{
	char url[760], ag[4200], conc[40], pre[40], name[80], log[760], key[260], path[4200];
	char *env[] = { key, NULL };
	char *argv[] = { (char *)bin("flow-worker", path, sizeof(path)),
			 url,
			 conc,
			 pre,
			 name,
			 "--log-level=warn",
			 agents ? ag : NULL,
			 NULL };
	pid_t pid;

	if (e->n_workers >= ENV_MAX_WORKERS)
		return -1;
	snprintf(url, sizeof(url), "--url=%s", e->flowd[fi].url);
	snprintf(ag, sizeof(ag), "--agents=%s", agents ? agents : "");
	snprintf(conc, sizeof(conc), "--concurrency=%ld", concurrency);
	snprintf(pre, sizeof(pre), "--prefetch=%ld", opt.prefetch);
	snprintf(name, sizeof(name), "--name=bench-%d", e->n_workers);
	snprintf(log, sizeof(log), "%s/worker%d.log", e->dir, e->n_workers);
	snprintf(key, sizeof(key), "FLOW_TOKEN=%s", e->worker_key);
	pid = ts_spawn(argv, env, log);
	if (pid > 0)
		e->workers[e->n_workers++] = pid;
	return pid;
}

int env_workers_alive(struct env *e)
{
	for (int i = 0; i < e->n_workers; i++) {
		int st;

		if (e->workers[i] > 0 && waitpid(e->workers[i], &st, WNOHANG) == e->workers[i]) {
			fprintf(stderr,
				"flow-bench: flow-worker %d (pid %ld) exited early (status %d)\n",
				i, (long)e->workers[i],
				WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			e->workers[i] = 0;
			return -1;
		}
	}
	return 0;
}

int env_workers_stop(struct env *e)
{
	int rv = 0;

	/* signal all first, so they shut down in parallel */
	for (int i = 0; i < e->n_workers; i++)
		if (e->workers[i] > 0)
			ts_kill(e->workers[i], SIGTERM);
	for (int i = 0; i < e->n_workers; i++) {
		int st = 0;

		if (e->workers[i] <= 0)
			continue;
		if (ts_terminate(e->workers[i], 15000, &st) != 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			rv = -1;
		e->workers[i] = 0;
	}
	e->n_workers = 0;
	return rv;
}

void env_dump_logs(const struct env *e)
{
	char path[800];

	for (int i = 0; i < e->n_flowd; i++) {
		char *log = ts_read_file(e->flowd[i].log, NULL);
		size_t n = log ? strlen(log) : 0;

		fprintf(stderr, "--- %s (tail) ---\n%s\n", e->flowd[i].log,
			log ? log + (n > 4000 ? n - 4000 : 0) : "(none)");
		free(log);
	}
	for (int i = 0; i < 4; i++) {
		char *log;

		snprintf(path, sizeof(path), "%s/worker%d.log", e->dir, i);
		if ((log = ts_read_file(path, NULL)) == NULL)
			continue;
		fprintf(stderr, "--- %s (tail) ---\n%s\n", path,
			log + (strlen(log) > 2000 ? strlen(log) - 2000 : 0));
		free(log);
	}
}

void env_close(struct env *e)
{
	char sql[160];

	env_workers_stop(e);
	for (int i = 0; i < e->n_flowd; i++) {
		int st = 0;

		if (e->flowd[i].pid > 0 && (ts_terminate(e->flowd[i].pid, 20000, &st) != 0 ||
					    !WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			if (WIFSIGNALED(st))
				fprintf(stderr, "flow-bench: flowd %d was killed by signal %d\n", i,
					WTERMSIG(st));
			else
				fprintf(stderr,
					"flow-bench: flowd %d did not stop cleanly (%s %d)\n", i,
					WIFEXITED(st) ? "exit status" : "wait status",
					WIFEXITED(st) ? WEXITSTATUS(st) : st);
			env_dump_logs(e);
		}
		e->flowd[i].pid = 0;
	}
	if (e->pg)
		PQfinish(e->pg);
	e->pg = NULL;
	if (e->db_made && !opt.keep) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", e->db_name);
		admin_exec(sql);
	}
	if (e->dir && !opt.keep)
		ts_rmrf(e->dir);
	else if (e->dir)
		fprintf(stderr, "flow-bench: kept %s and database %s\n", e->dir, e->db_name);
	free(e->dir);
	memset(e, 0, sizeof(*e));
}

/* ---- /proc ----------------------------------------------------------------------- */

int proc_rss_kib(pid_t pid, long *rss, long *hwm)
{
	char path[64], line[256];
	FILE *f;

	*rss = *hwm = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	return *rss >= 0 && *hwm >= 0 ? 0 : -1;
}

/* utime + stime in clock ticks from /proc/<pid>/stat, and the parent. */
static long long stat_ticks(const char *path, long *ppid)
{
	char buf[1024], *p;
	unsigned long long ut, st;
	long pp;
	size_t n;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* pid (comm) state ppid ... field 14 utime, 15 stime */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp, &ut, &st) !=
	    3)
		return -1;
	if (ppid)
		*ppid = pp;
	return (long long)(ut + st);
}

static long long ticks_to_us(long long t)
{
	static long hz;

	if (hz == 0)
		hz = sysconf(_SC_CLK_TCK);
	return t * 1000000LL / (hz > 0 ? hz : 100);
}

long long proc_cpu_us(pid_t pid)
{
	char path[64];
	long long t;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	t = stat_ticks(path, NULL);
	return t < 0 ? -1 : ticks_to_us(t);
}

int proc_machine_cpu_us(long long *busy, long long *total)
{
	unsigned long long v[10] = { 0 };
	char line[512];
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* cpu user nice system idle iowait irq softirq steal guest guest_nice */
	n = sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	if (n < 4)
		return -1;
	/* guest time is already counted in user */
	*total = ticks_to_us((long long)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]));
	*busy = ticks_to_us((long long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]));
	return 0;
}

double proc_background_pct(long ms)
{
	long long b0, t0, b1, t1;

	if (proc_machine_cpu_us(&b0, &t0) != 0)
		return -1;
	stats_sleep_ms(ms);
	if (proc_machine_cpu_us(&b1, &t1) != 0 || t1 <= t0)
		return -1;
	return 100.0 * (double)(b1 - b0) / (double)(t1 - t0);
}

long long proc_postgres_cpu_us(pid_t postmaster)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	long long sum = 0;

	if (d == NULL || postmaster <= 0) {
		if (d)
			closedir(d);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		char path[300];
		long long t;
		long ppid = 0;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		t = stat_ticks(path, &ppid);
		if (t > 0 && (ppid == (long)postmaster || atol(de->d_name) == (long)postmaster))
			sum += t;
	}
	closedir(d);
	return ticks_to_us(sum);
}
