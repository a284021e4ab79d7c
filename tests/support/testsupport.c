/*
 * testsupport.c - database, file and process helpers for tests.
 */
#define _GNU_SOURCE

#include "testsupport.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "rpc_client.h"
#include "status.h"

#ifndef FLOW_TEST_BINDIR
#error "FLOW_TEST_BINDIR must be defined (tests/CMakeLists.txt)"
#endif
#ifndef FLOW_TEST_SRCDIR
#error "FLOW_TEST_SRCDIR must be defined (tests/CMakeLists.txt)"
#endif

#define DB_PREFIX "flowtest_"

/* ---- time ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1: no deadline, never expires). */
static int ms_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left < 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

void ts_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- PostgreSQL ---------------------------------------------------------- */

static char admin_url[1024];
static bool admin_url_found;
static pthread_once_t admin_url_once = PTHREAD_ONCE_INIT;

static void load_admin_url(void)
{
	const char *dir = getenv("FLOW_TEST_PGDIR");
	char path[4096];
	size_t n;
	FILE *f;

	if (dir == NULL || *dir == '\0')
		return;
	if (snprintf(path, sizeof(path), "%s/url", dir) >= (int)sizeof(path))
		return;
	f = fopen(path, "re");
	if (f == NULL)
		return;
	n = fread(admin_url, 1, sizeof(admin_url) - 1, f);
	fclose(f);
	admin_url[n] = '\0';
	while (n > 0 && (admin_url[n - 1] == '\n' || admin_url[n - 1] == '\r' ||
			 admin_url[n - 1] == ' ' || admin_url[n - 1] == '\t'))
		admin_url[--n] = '\0';
	admin_url_found = n > 0;
}

const char *ts_pg_admin_url(void)
{
	pthread_once(&admin_url_once, load_admin_url);
	return admin_url_found ? admin_url : NULL;
}

const char *ts_skip_without_pg(void)
{
	const char *url = ts_pg_admin_url();
	const char *dir = getenv("FLOW_TEST_PGDIR");

	if (url != NULL)
		return url;
	if (dir == NULL || *dir == '\0')
		fprintf(stderr,
			"SKIPPED: this test needs PostgreSQL and FLOW_TEST_PGDIR is not set "
			"(run it through ctest, or: scripts/pg.sh start /tmp/pg; "
			"FLOW_TEST_PGDIR=/tmp/pg <test>)\n");
	else
		fprintf(stderr,
			"SKIPPED: this test needs PostgreSQL and %s/url does not exist "
			"(start one with: scripts/pg.sh start %s)\n",
			dir, dir);
	exit(TS_SKIP_EXIT);
}

/* Only names this module generates: flowtest_[a-z0-9_]*, at most 63 bytes. */
static bool valid_db_name(const char *name)
{
	size_t n = strlen(name);

	if (n > 63 || strncmp(name, DB_PREFIX, strlen(DB_PREFIX)) != 0)
		return false;
	for (const char *p = name; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

int ts_db_url_with(const char *admin, const char *name, char *out, size_t len)
{
	const char *auth, *path, *query, *end;
	int n;

	if (strncmp(admin, "postgresql://", 13) != 0 && strncmp(admin, "postgres://", 11) != 0) {
		/* conninfo: a later keyword overrides an earlier one. */
		n = snprintf(out, len, "%s dbname=%s", admin, name);
		return n < 0 || (size_t)n >= len ? -1 : 0;
	}
	auth = strstr(admin, "://") + 3;
	query = strchr(auth, '?');
	path = strchr(auth, '/');
	if (path != NULL && query != NULL && path > query)
		path = NULL;
	end = path ? path : query ? query : auth + strlen(auth);
	n = snprintf(out, len, "%.*s/%s%s", (int)(end - admin), admin, name, query ? query : "");
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Runs "<verb> <quoted name><tail>" on the admin database. */
static int admin_exec(const char *verb, const char *name, const char *tail)
{
	const char *admin = ts_pg_admin_url();
	char *ident = NULL, sql[256];
	PGresult *res = NULL;
	PGconn *conn;
	int rv = -1;

	if (admin == NULL) {
		fprintf(stderr, "testsupport: no test PostgreSQL (FLOW_TEST_PGDIR)\n");
		return -1;
	}
	conn = PQconnectdb(admin);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "testsupport: cannot connect to %s: %s", admin,
			PQerrorMessage(conn));
		goto out_conn;
	}
	PQsetNoticeProcessor(conn, quiet_notices, NULL);
	/* The identifier is generated and validated here; quote it anyway. */
	ident = PQescapeIdentifier(conn, name, strlen(name));
	if (ident == NULL) {
		fprintf(stderr, "testsupport: %s", PQerrorMessage(conn));
		goto out_conn;
	}
	if (snprintf(sql, sizeof(sql), "%s %s%s", verb, ident, tail) >= (int)sizeof(sql))
		goto out_ident;
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "testsupport: %s failed: %s", sql, PQerrorMessage(conn));
		goto out_res;
	}
	rv = 0;
out_res:
	PQclear(res);
out_ident:
	PQfreemem(ident);
out_conn:
	PQfinish(conn);
	return rv;
}

static uint32_t random_u32(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	return (uint32_t)now_ms() ^ ((uint32_t)getpid() << 16) ^ (uint32_t)(uintptr_t)&r;
}

int ts_create_db(char *url_out, size_t len)
{
	static atomic_uint counter;
	const char *admin = ts_pg_admin_url();
	char name[64];
	int n;

	if (admin == NULL) {
		fprintf(stderr, "testsupport: no test PostgreSQL (FLOW_TEST_PGDIR)\n");
		return -1;
	}
	n = snprintf(name, sizeof(name), DB_PREFIX "%ld_%u_%08x", (long)getpid(),
		     atomic_fetch_add(&counter, 1), random_u32());
	if (n < 0 || (size_t)n >= sizeof(name) || !valid_db_name(name)) {
		fprintf(stderr, "testsupport: bad database name %s\n", name);
		return -1;
	}
	if (ts_db_url_with(admin, name, url_out, len) != 0) {
		fprintf(stderr, "testsupport: database URL does not fit in %zu bytes\n", len);
		return -1;
	}
	return admin_exec("CREATE DATABASE", name, "");
}

void ts_drop_db(const char *url)
{
	PQconninfoOption *opts, *o;
	char *errmsg = NULL;
	char name[64] = "";

	if (url == NULL)
		return;
	opts = PQconninfoParse(url, &errmsg);
	if (opts == NULL) {
		fprintf(stderr, "testsupport: bad URL %s: %s", url, errmsg ? errmsg : "\n");
		PQfreemem(errmsg);
		return;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL)
			snprintf(name, sizeof(name), "%s", o->val);
	}
	PQconninfoFree(opts);
	if (!valid_db_name(name)) {
		fprintf(stderr, "testsupport: not dropping '%s': not a test database\n", name);
		return;
	}
	admin_exec("DROP DATABASE IF EXISTS", name, " WITH (FORCE)");
}

/* ---- files and ports ----------------------------------------------------- */

int ts_free_tcp_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	int fd, port = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &salen) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

char *ts_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&path, "%s/flowtest.XXXXXX", base) < 0)
		return NULL;
	if (mkdtemp(path) == NULL) {
		fprintf(stderr, "testsupport: mkdtemp %s: %s\n", path, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

static int rmrf_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fprintf(stderr, "testsupport: remove %s: %s\n", path, strerror(errno));
	return 0;
}

void ts_rmrf(const char *dir)
{
	if (dir == NULL || dir[0] == '\0' || strcmp(dir, "/") == 0)
		return;
	nftw(dir, rmrf_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *ts_read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap), *nb;
	FILE *f;

	if (buf == NULL)
		return NULL;
	f = fopen(path, "re");
	if (f == NULL) {
		free(buf);
		return NULL;
	}
	while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n - 1 == 0) {
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* Paths returned by ts_bin/ts_src: kept (reachable) until exit. */
struct interned {
	struct interned *next;
	char s[];
};

static struct interned *interned_head;
static pthread_mutex_t interned_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *intern_path(const char *dir, const char *name)
{
	size_t need = strlen(dir) + 1 + strlen(name) + 1;
	struct interned *it;
	const char *found = NULL;

	pthread_mutex_lock(&interned_lock);
	for (it = interned_head; it != NULL; it = it->next) {
		if (strncmp(it->s, dir, strlen(dir)) == 0 && it->s[strlen(dir)] == '/' &&
		    strcmp(it->s + strlen(dir) + 1, name) == 0) {
			found = it->s;
			goto out;
		}
	}
	it = malloc(sizeof(*it) + need);
	if (it != NULL) {
		snprintf(it->s, need, "%s/%s", dir, name);
		it->next = interned_head;
		interned_head = it;
		found = it->s;
	}
out:
	pthread_mutex_unlock(&interned_lock);
	return found;
}

const char *ts_bin(const char *name)
{
	return intern_path(FLOW_TEST_BINDIR, name);
}

const char *ts_src(const char *relpath)
{
	return intern_path(FLOW_TEST_SRCDIR, relpath);
}

/* ---- processes ----------------------------------------------------------- */

/* environ with the NAME=value entries of extra added or replaced. */
static char **build_env(char *const extra[])
{
	size_t n = 0, m = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strcspn(environ[i], "=");
		bool replaced = false;

		for (size_t j = 0; j < m && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=';
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		env[k++] = extra[j];
	return env;
}

static void child_write(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));

	(void)r;
}

/*
 * In the child after fork: own process group, fds in_fd/out_fd/err_fd as
 * 0/1/2 (-1: /dev/null for stdin, inherited for the others), nothing else
 * open, default signals, then exec. Never returns.
 */
static void child_exec(char *const argv[], char **envp, int in_fd, int out_fd, int err_fd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	setpgid(0, 0);
	if (in_fd < 0)
		in_fd = open("/dev/null", O_RDONLY);
	if (in_fd >= 0 && in_fd != STDIN_FILENO)
		dup2(in_fd, STDIN_FILENO);
	if (out_fd >= 0 && out_fd != STDOUT_FILENO)
		dup2(out_fd, STDOUT_FILENO);
	if (err_fd >= 0 && err_fd != STDERR_FILENO)
		dup2(err_fd, STDERR_FILENO);
	if (close_range(3, ~0U, 0) != 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (strchr(argv[0], '/'))
		execve(argv[0], argv, envp);
	else
		execvpe(argv[0], argv, envp);
	child_write("testsupport: cannot execute ");
	child_write(argv[0]);
	child_write("\n");
	_exit(127);
}

pid_t ts_spawn(char *const argv[], char *const envp_extra[], const char *log_path)
{
	int log_fd = -1;
	char **env;
	pid_t pid;

	if (argv == NULL || argv[0] == NULL)
		return -1;
	env = build_env(envp_extra);
	if (env == NULL)
		return -1;
	if (log_path != NULL) {
		log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "testsupport: open %s: %s\n", log_path, strerror(errno));
			free(env);
			return -1;
		}
	}
	pid = fork();
	if (pid == 0)
		child_exec(argv, env, -1, log_fd, log_fd);
	if (pid < 0)
		fprintf(stderr, "testsupport: fork: %s\n", strerror(errno));
	else
		setpgid(pid, pid); /* also here: no race with an early ts_kill */
	if (log_fd >= 0)
		close(log_fd);
	free(env);
	return pid;
}

int ts_wait_exit(pid_t pid, int timeout_ms, int *status)
{
	int64_t deadline = deadline_after(timeout_ms);
	int st, nap = 1;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			if (status)
				*status = st;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (ms_left(deadline) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ts_sleep_ms(nap);
		if (nap < 20)
			nap *= 2;
	}
}

void ts_kill(pid_t pid, int sig)
{
	if (pid <= 1)
		return; /* kill(0 or -1, ...) would hit far more than one test child */
	if (kill(-pid, sig) != 0)
		kill(pid, sig);
}

int ts_terminate(pid_t pid, int timeout_ms, int *status)
{
	if (pid <= 1)
		return -1;
	ts_kill(pid, SIGTERM);
	if (ts_wait_exit(pid, timeout_ms, status) == 0)
		return 0;
	fprintf(stderr, "testsupport: pid %ld ignored SIGTERM for %d ms; killing it\n", (long)pid,
		timeout_ms);
	ts_kill(pid, SIGKILL);
	return ts_wait_exit(pid, -1, status);
}

struct tsbuf {
	char *p;
	size_t len, cap;
};

static int tsbuf_append(struct tsbuf *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Hands the buffer to *dst (an empty string if nothing came), or frees it. */
static void tsbuf_give(struct tsbuf *b, char **dst)
{
	if (dst == NULL) {
		free(b->p);
		return;
	}
	if (b->p == NULL)
		b->p = calloc(1, 1);
	*dst = b->p;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Reads what is available from *fd into b; closes it at end of file. */
static void drain(int *fd, struct tsbuf *b)
{
	char chunk[8192];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n > 0) {
		if (tsbuf_append(b, chunk, (size_t)n) != 0)
			close_fd(fd);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close_fd(fd);
	}
}

/* Writes the next part of the child's stdin; closes it when done or gone. */
static void feed(int *fd, const char *data, size_t len, size_t *off)
{
	ssize_t n = write(*fd, data + *off, len - *off);

	if (n > 0)
		*off += (size_t)n;
	else if (n < 0 && errno != EINTR && errno != EAGAIN)
		close_fd(fd); /* EPIPE: the child does not read its input */
	if (*off == len)
		close_fd(fd);
}

/* Moves the pipes' data until all are closed; false on timeout. */
static bool pump(int *in_w, int *out_r, int *err_r, const char *in_data, struct tsbuf *bo,
		 struct tsbuf *be, int64_t deadline)
{
	size_t in_len = in_data ? strlen(in_data) : 0, in_off = 0;

	while (*in_w >= 0 || *out_r >= 0 || *err_r >= 0) {
		struct pollfd p[3] = {
		    {.fd = *in_w, .events = POLLOUT},
		    {.fd = *out_r, .events = POLLIN},
		    {.fd = *err_r, .events = POLLIN},
		};
		int r = poll(p, 3, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		if (p[0].revents)
			feed(in_w, in_data, in_len, &in_off);
		if (p[1].revents)
			drain(out_r, bo);
		if (p[2].revents)
			drain(err_r, be);
	}
	return true;
}

/* Exit code of a waitpid status: the code, or 128 + the signal. */
static int exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int ts_run_capture(char *const argv[], const char *stdin_data, char **out, char **err,
		   int *exit_status, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	int in[2] = {-1, -1}, op[2] = {-1, -1}, ep[2] = {-1, -1};
	struct tsbuf bo = {0}, be = {0};
	sigset_t pipeset, oldset, pending;
	bool pipe_was_pending, finished;
	struct timespec zero = {0};
	int st = 0, rv = -1;
	pid_t pid;

	if (out)
		*out = NULL;
	if (err)
		*err = NULL;
	if (argv == NULL || argv[0] == NULL)
		return -1;
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
		fprintf(stderr, "testsupport: pipe: %s\n", strerror(errno));
		goto out_fds;
	}
	/* Writing to a child that exited must give EPIPE, not kill the test. */
	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipeset, &oldset);
	sigpending(&pending);
	pipe_was_pending = sigismember(&pending, SIGPIPE);

	pid = fork();
	if (pid == 0)
		child_exec(argv, environ, in[0], op[1], ep[1]);
	if (pid < 0) {
		fprintf(stderr, "testsupport: fork: %s\n", strerror(errno));
		goto out_sig;
	}
	setpgid(pid, pid);
	close_fd(&in[0]);
	close_fd(&op[1]);
	close_fd(&ep[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (stdin_data == NULL || *stdin_data == '\0')
		close_fd(&in[1]);

	finished = pump(&in[1], &op[0], &ep[0], stdin_data, &bo, &be, deadline) &&
		   ts_wait_exit(pid, ms_left(deadline), &st) == 0;
	if (!finished) {
		fprintf(stderr, "testsupport: %s did not finish within %d ms; killing it\n",
			argv[0], timeout_ms);
		ts_kill(pid, SIGKILL);
		ts_wait_exit(pid, -1, &st);
		errno = ETIMEDOUT;
	} else {
		rv = 0;
	}
	if (exit_status)
		*exit_status = exit_code(st);
out_sig:
	sigpending(&pending);
	if (!pipe_was_pending && sigismember(&pending, SIGPIPE))
		sigtimedwait(&pipeset, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &oldset, NULL);
out_fds:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&op[i]);
		close_fd(&ep[i]);
	}
	tsbuf_give(&bo, out);
	tsbuf_give(&be, err);
	return rv;
}

/* ---- RPC ----------------------------------------------------------------- */

/* True when host:port (from a tls+tcp:// URL) accepts a TCP connection. */
static bool tcp_accepts(const char *url)
{
	const char *hp = strstr(url, "://");
	char host[256], *colon, *h = host;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
	bool ok = false;

	if (hp == NULL || snprintf(host, sizeof(host), "%s", hp + 3) >= (int)sizeof(host))
		return false;
	host[strcspn(host, "/")] = '\0';
	colon = strrchr(host, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	if (*h == '[' && colon > h && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	if (getaddrinfo(*h == '\0' || strcmp(h, "*") == 0 ? "127.0.0.1" : h, colon + 1, &hints,
			&ai) != 0)
		return false;
	for (a = ai; a != NULL && !ok; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);

		if (fd < 0)
			continue;
		ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

int ts_wait_for_rpc(const char *url, int timeout_ms)
{
	struct rpc_client_opts opts = {.deadline_ms = 1000, .background_dial = false};
	int64_t deadline = deadline_after(timeout_ms);
	bool tls = strncmp(url, "tls+", 4) == 0;
	struct rpc_status st = {0};
	rpc_client *c;

	for (;;) {
		if (tls) {
			if (tcp_accepts(url))
				return 0;
			snprintf(st.message, sizeof(st.message), "no TCP listener");
		} else if (rpc_client_open(url, &opts, &c, &st) == FLOW_OK) {
			rpc_client_close(c);
			return 0;
		}
		if (ms_left(deadline) == 0)
			break;
		ts_sleep_ms(20);
	}
	fprintf(stderr, "testsupport: flowd at %s not reachable within %d ms: %s\n", url,
		timeout_ms, st.message);
	return -1;
}
