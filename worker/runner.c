#define _GNU_SOURCE

#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sanitize.h"

#define STDERR_LINE_MAX 1024
#define STDERR_MAX_LINES 1000
#define WRITE_CHUNK 65536
#define DRAIN_MS 200
#define REAP_SLICE_MS 20 /* exit checks when there is no pidfd */

struct runner {
	const struct runner_spec *spec;
	pid_t pid;
	int in_fd, out_fd, err_fd; /* our ends; -1 once closed */
	int pidfd;		   /* -1 when the kernel has none */
	int cancel_rd, cancel_wr;  /* self-pipe of runner_cancel */
	atomic_bool cancel_asked;
	size_t in_off;
	char *out; /* max_output + 1 bytes */
	size_t out_len, out_total;
	char line[STDERR_LINE_MAX + 1];
	size_t line_len;
	char last_err[512];
	unsigned lines_logged, lines_dropped;
	long long start_ms, deadline_ms, kill_at_ms;
	long long started_at_us; /* CLOCK_REALTIME, for the outcome's metadata */
	bool terminating, timed_out, cancelled, exited, reaped;
	int status;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long runner_realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- start ----------------------------------------------------------------- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* pipes[0..3]: stdin, stdout, stderr, cancel. */
static int make_pipes(int pipes[4][2])
{
	for (int i = 0; i < 4; i++)
		pipes[i][0] = pipes[i][1] = -1;
	for (int i = 0; i < 4; i++)
		if (pipe2(pipes[i], O_CLOEXEC) != 0)
			return -1;
	if (set_nonblock(pipes[0][1]) || set_nonblock(pipes[1][0]) || set_nonblock(pipes[2][0]) ||
	    set_nonblock(pipes[3][0]) || set_nonblock(pipes[3][1]))
		return -1;
	return 0;
}

static void close_pipes(int pipes[4][2])
{
	for (int i = 0; i < 4; i++) {
		close_fd(&pipes[i][0]);
		close_fd(&pipes[i][1]);
	}
}

/*
 * Starts the agent with posix_spawn (glibc: clone with CLONE_VM|CLONE_VFORK,
 * so no page tables are copied and an exec failure comes back as the
 * return value): the pipes on 0-2, every other descriptor closed, in a
 * process group of its own, all signals default and none blocked.
 * Returns 0 or an errno.
 */
static int spawn_child(const struct runner_spec *spec, int pipes[4][2], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	int rv;

	if ((rv = posix_spawn_file_actions_init(&fa)) != 0)
		return rv;
	if ((rv = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rv;
	}
	sigfillset(&all);
	sigemptyset(&none);
	for (int i = 0; i < 3 && rv == 0; i++)
		rv = posix_spawn_file_actions_adddup2(&fa, pipes[i][i == 0 ? 0 : 1], i);
	if (rv == 0)
		rv = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (rv == 0)
		rv = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
							   POSIX_SPAWN_SETSIGMASK);
	if (rv == 0)
		rv = posix_spawnattr_setpgroup(&at, 0);
	if (rv == 0)
		rv = posix_spawnattr_setsigdefault(&at, &all);
	if (rv == 0)
		rv = posix_spawnattr_setsigmask(&at, &none);
	if (rv == 0)
		rv = posix_spawn(pid, spec->argv[0], &fa, &at, spec->argv, spec->envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rv;
}

static runner *runner_new(const struct runner_spec *spec)
{
	runner *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if ((r->out = malloc(spec->max_output + 1)) == NULL) {
		free(r);
		return NULL;
	}
	r->spec = spec;
	r->in_fd = r->out_fd = r->err_fd = r->pidfd = r->cancel_rd = r->cancel_wr = -1;
	atomic_init(&r->cancel_asked, false);
	return r;
}

/* The parent's half after a successful spawn. */
static void adopt_child(runner *r, pid_t pid, int pipes[4][2])
{
	r->pid = pid;
	r->in_fd = pipes[0][1];
	r->out_fd = pipes[1][0];
	r->err_fd = pipes[2][0];
	r->cancel_rd = pipes[3][0];
	r->cancel_wr = pipes[3][1];
	pipes[0][1] = pipes[1][0] = pipes[2][0] = pipes[3][0] = pipes[3][1] = -1;
	r->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (r->pidfd < 0)
		r->pidfd = -1;
	r->start_ms = now_ms();
	r->started_at_us = runner_realtime_us();
	r->deadline_ms = r->start_ms + (long long)r->spec->timeout_s * 1000;
	if (r->spec->input_len == 0)
		close_fd(&r->in_fd);
}

int runner_start(const struct runner_spec *spec, runner **out, char *err, size_t errlen)
{
	int pipes[4][2], e;
	runner *r = runner_new(spec);
	pid_t pid;

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (make_pipes(pipes) != 0) {
		snprintf(err, errlen, "cannot make pipes: %s", strerror(errno));
		goto undo;
	}
	if ((e = spawn_child(spec, pipes, &pid)) != 0) {
		snprintf(err, errlen, "cannot execute %s: %s", spec->argv[0], strerror(e));
		goto undo;
	}
	adopt_child(r, pid, pipes);
	close_pipes(pipes);
	log_debug("agent.spawn", "%s pid=%ld command=%s", spec->label, (long)pid, spec->argv[0]);
	*out = r;
	return 0;
undo:
	close_pipes(pipes);
	free(r->out);
	free(r);
	return -1;
}

pid_t runner_pid(const runner *r)
{
	return r->pid;
}

int runner_cancel(runner *r)
{
	char b = 'c';

	atomic_store(&r->cancel_asked, true);
	if (r->cancel_wr >= 0 && write(r->cancel_wr, &b, 1) < 0 && errno != EAGAIN)
		log_debug("agent.cancel", "cannot wake the runner: %s", strerror(errno));
	return 0;
}

/* ---- the wait loop ----------------------------------------------------------- */

/* write() that cannot raise SIGPIPE: blocked for this thread meanwhile. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = { 0, 0 };
	bool was_pending;
	ssize_t n;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

static void feed_stdin(runner *r)
{
	size_t left = r->spec->input_len - r->in_off;
	ssize_t n = write_nosigpipe(r->in_fd, r->spec->input + r->in_off,
				    left < WRITE_CHUNK ? left : WRITE_CHUNK);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (errno != EPIPE)
			log_debug("agent.stdin", "%s: %s", r->spec->label, strerror(errno));
		close_fd(&r->in_fd); /* EPIPE: the agent does not read its stdin */
		return;
	}
	r->in_off += (size_t)n;
	if (r->in_off == r->spec->input_len)
		close_fd(&r->in_fd);
}

/* Reads what stdout has; keeps the first max_output bytes. */
static void read_stdout(runner *r)
{
	char scratch[16384];

	for (;;) {
		size_t room = r->spec->max_output - r->out_len;
		char *dst = room ? r->out + r->out_len : scratch;
		ssize_t n =
		    read(r->out_fd, dst, room && room < sizeof(scratch) ? room : sizeof(scratch));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_fd(&r->out_fd);
			return;
		}
		if (room)
			r->out_len += (size_t)n;
		r->out_total += (size_t)n;
	}
}

/* One stderr line: redacted, logged, remembered as the last line. */
static void stderr_line(runner *r)
{
	char red[2 * STDERR_LINE_MAX + 16];
	size_t len = r->line_len;

	while (len > 0 && (r->line[len - 1] == '\r' || r->line[len - 1] == '\n'))
		len--;
	r->line[len] = '\0';
	r->line_len = 0;
	if (len == 0)
		return;
	sanitize_utf8(r->line, len);
	sanitize_secrets(r->line, red, sizeof(red));
	len = sanitize_utf8_cut(red, strnlen(red, sizeof(r->last_err) - 1));
	memcpy(r->last_err, red, len);
	r->last_err[len] = '\0';
	if (r->lines_logged >= STDERR_MAX_LINES) {
		r->lines_dropped++;
		return;
	}
	r->lines_logged++;
	log_info("agent.stderr", "%s %s", r->spec->label, red);
}

static void read_stderr(runner *r)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(r->err_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			stderr_line(r);
			close_fd(&r->err_fd);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			r->line[r->line_len++] = buf[i];
			if (buf[i] == '\n' || r->line_len == STDERR_LINE_MAX)
				stderr_line(r);
		}
	}
}

static void terminate(runner *r)
{
	if (r->terminating || r->exited)
		return;
	r->terminating = true;
	kill(-r->pid, SIGTERM);
	r->kill_at_ms = now_ms() + r->spec->kill_grace_ms;
}

/* Timeout, cancel and the SIGKILL after the grace. */
static void check_deadlines(runner *r)
{
	long long now = now_ms();
	char b[64];

	if (r->cancel_rd >= 0)
		while (read(r->cancel_rd, b, sizeof(b)) > 0)
			;
	if (!r->terminating && atomic_load(&r->cancel_asked)) {
		r->cancelled = true;
		terminate(r);
	}
	if (!r->terminating && now >= r->deadline_ms) {
		r->timed_out = true;
		terminate(r);
	}
	if (r->terminating && r->kill_at_ms && now >= r->kill_at_ms) {
		kill(-r->pid, SIGKILL);
		r->kill_at_ms = 0;
	}
}

/* Has the agent exited? Leaves it unreaped, so its pid keeps naming the
 * process group until the leftovers are killed. */
static void check_exit(runner *r)
{
	siginfo_t si;
	int rv;

	memset(&si, 0, sizeof(si));
	rv = waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT);
	if (rv == 0 && si.si_pid != 0)
		r->exited = true;
	else if (rv < 0 && errno == ECHILD)
		r->exited = true; /* reaped elsewhere (SIGCHLD ignored): nothing to wait for */
}

static int poll_timeout(const runner *r)
{
	long long now = now_ms(), until = r->terminating ? r->kill_at_ms : r->deadline_ms;
	long long t = until ? until - now : -1;

	if (r->pidfd < 0 && (t < 0 || t > REAP_SLICE_MS))
		t = REAP_SLICE_MS;
	if (t < 0 && until)
		t = 0;
	return t > 1000000 ? 1000000 : (int)t;
}

static void poll_once(runner *r)
{
	struct pollfd p[5] = {
		{ r->in_fd, POLLOUT, 0 },    { r->out_fd, POLLIN, 0 }, { r->err_fd, POLLIN, 0 },
		{ r->cancel_rd, POLLIN, 0 }, { r->pidfd, POLLIN, 0 },
	};

	if (poll(p, 5, poll_timeout(r)) < 0)
		return; /* EINTR: just look again */
	if (r->in_fd >= 0 && p[0].revents)
		feed_stdin(r);
	if (r->out_fd >= 0 && p[1].revents)
		read_stdout(r);
	if (r->err_fd >= 0 && p[2].revents)
		read_stderr(r);
}

/* ---- the end --------------------------------------------------------------- */

/* After the agent exited: kill what it left in its group, read the pipes
 * to their end (briefly), reap. */
static void finish(runner *r)
{
	long long until;

	kill(-r->pid, SIGKILL);
	close_fd(&r->in_fd);
	until = now_ms() + DRAIN_MS;
	while ((r->out_fd >= 0 || r->err_fd >= 0) && now_ms() < until) {
		struct pollfd p[2] = { { r->out_fd, POLLIN, 0 }, { r->err_fd, POLLIN, 0 } };

		if (poll(p, 2, (int)(until - now_ms())) <= 0)
			continue;
		if (r->out_fd >= 0 && p[0].revents)
			read_stdout(r);
		if (r->err_fd >= 0 && p[1].revents)
			read_stderr(r);
	}
	if (r->line_len)
		stderr_line(r);
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
	while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
		;
	r->reaped = true;
	if (r->lines_dropped)
		log_info("agent.stderr", "%s (%u more stderr lines not logged)", r->spec->label,
			 r->lines_dropped);
}

/* The notes: the kept stdout, cut at a character boundary to leave room
 * for the truncation note when there was more. */
static int build_output(runner *r, struct runner_result *res)
{
	size_t note = sizeof(RUNNER_TRUNCATED_NOTE); /* with the '\n' before it */
	size_t len = r->out_len;

	res->truncated = r->out_total > r->spec->max_output;
	if (res->truncated) {
		len = sanitize_utf8_cut(r->out, r->spec->max_output - note);
		r->out[len++] = '\n';
		memcpy(r->out + len, RUNNER_TRUNCATED_NOTE, note - 1);
		len += note - 1;
	}
	r->out[len] = '\0';
	sanitize_utf8(r->out, len);
	res->output = r->out;
	res->output_len = len;
	r->out = NULL;
	return 0;
}

static void describe_exit(const runner *r, struct runner_result *res)
{
	const char *abbrev;

	if (WIFSIGNALED(r->status)) {
		res->signal = WTERMSIG(r->status);
		abbrev = sigabbrev_np(res->signal);
		res->outcome = RUNNER_FAILED;
		if (abbrev)
			snprintf(res->error, sizeof(res->error), "killed by signal SIG%s", abbrev);
		else
			snprintf(res->error, sizeof(res->error), "killed by signal %d",
				 res->signal);
		return;
	}
	res->exit_code = WEXITSTATUS(r->status);
	if (res->exit_code == 0)
		res->outcome = RUNNER_COMPLETED;
	else if (res->exit_code == RUNNER_EX_TEMPFAIL)
		res->outcome = RUNNER_RETRY;
	else
		res->outcome = RUNNER_FAILED;
	if (res->exit_code != 0)
		snprintf(res->error, sizeof(res->error), "exited with status %d%s", res->exit_code,
			 res->exit_code == RUNNER_EX_TEMPFAIL ? " (EX_TEMPFAIL)" : "");
}

static void fill_result(runner *r, struct runner_result *res)
{
	size_t n;

	res->exit_code = -1;
	res->timed_out = r->timed_out;
	res->cancelled = r->cancelled;
	res->duration_ms = now_ms() - r->start_ms;
	res->started_at_us = r->started_at_us;
	describe_exit(r, res);
	if (r->timed_out || r->cancelled) {
		res->outcome = RUNNER_RETRY;
		if (r->timed_out)
			snprintf(res->error, sizeof(res->error), "timed out after %d s",
				 r->spec->timeout_s);
		else
			snprintf(res->error, sizeof(res->error), "cancelled");
	}
	n = strlen(res->error);
	if (res->outcome != RUNNER_COMPLETED && r->last_err[0])
		snprintf(res->error + n, sizeof(res->error) - n, ": %s", r->last_err);
}

int runner_wait(runner *r, struct runner_result *res)
{
	memset(res, 0, sizeof(*res));
	while (!r->reaped && !r->exited) {
		poll_once(r);
		check_deadlines(r);
		check_exit(r);
	}
	if (!r->reaped)
		finish(r);
	fill_result(r, res);
	return build_output(r, res);
}

void runner_free(runner *r)
{
	if (r == NULL)
		return;
	if (!r->reaped) {
		kill(-r->pid, SIGKILL);
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	close_fd(&r->in_fd);
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
	close_fd(&r->pidfd);
	close_fd(&r->cancel_rd);
	close_fd(&r->cancel_wr);
	free(r->out);
	free(r);
}

int runner_run(const struct runner_spec *spec, struct runner_result *res)
{
	runner *r;
	int rv;

	memset(res, 0, sizeof(*res));
	if (runner_start(spec, &r, res->error, sizeof(res->error)) != 0) {
		res->outcome = RUNNER_RETRY;
		res->exit_code = -1;
		return (res->output = strdup("")) ? 0 : -1;
	}
	rv = runner_wait(r, res);
	runner_free(r);
	return rv;
}

void runner_result_clear(struct runner_result *res)
{
	free(res->output);
	res->output = NULL;
}
