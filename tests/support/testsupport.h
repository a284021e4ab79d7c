/*
 * testsupport.h - helpers for flowd's integration and end-to-end tests.
 *
 * Database: ctest's fixture "pg" starts one throwaway PostgreSQL
 * (scripts/pg.sh) and sets FLOW_TEST_PGDIR to its directory; its admin URL is
 * in $FLOW_TEST_PGDIR/url. Each test creates its own database with
 * ts_create_db() and drops it with ts_drop_db(), so tests run in parallel.
 * A test run by hand without the fixture: scripts/pg.sh start /tmp/pg and
 * FLOW_TEST_PGDIR=/tmp/pg ./build/tests/integration_x_test.
 *
 * Processes: ts_spawn() starts a program (flowd, flow-worker) in its own
 * process group with output to a log file; ts_run_capture() runs one to
 * completion (flowctl) and captures its output.
 *
 * Errors are reported on stderr and as a -1 / NULL return; none of these
 * functions abort. Strings returned as "char *" are malloc'd and freed by
 * the caller; "const char *" ones are owned by this module and live until
 * exit.
 */
#ifndef FLOW_TESTSUPPORT_H
#define FLOW_TESTSUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/* Exit status that ctest reports as "skipped" (SKIP_RETURN_CODE). */
#define TS_SKIP_EXIT 77

/*
 * The admin URL of the test server ($FLOW_TEST_PGDIR/url), or NULL when
 * FLOW_TEST_PGDIR is unset or holds no server.
 */
const char *ts_pg_admin_url(void);

/*
 * Returns the admin URL; without one, prints why and exits with
 * TS_SKIP_EXIT. Call it first in main() of tests that need PostgreSQL.
 */
const char *ts_skip_without_pg(void);

/*
 * Creates an empty database flowtest_<pid>_<n>_<random> and writes a libpq
 * URL for it to url_out (len bytes). Returns 0, or -1 (reason on stderr).
 * Safe to call from several threads.
 */
int ts_create_db(char *url_out, size_t len);

/*
 * Drops a database made by ts_create_db (WITH (FORCE): open sessions are
 * ended). url NULL is a no-op; a URL naming any other database is refused.
 */
void ts_drop_db(const char *url);

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int ts_free_tcp_port(void);

/* Creates a private directory under $TMPDIR (or /tmp); NULL on failure. */
char *ts_tmpdir(void);

/* URL (or key=value conninfo) admin with its database replaced by name, into
 * out. 0, or -1 when it does not fit. */
int ts_db_url_with(const char *admin, const char *name, char *out, size_t len);

/* Removes dir and everything under it (symlinks are not followed). */
void ts_rmrf(const char *dir);

/*
 * Reads a whole file into a NUL-terminated malloc'd string (*len, if not
 * NULL, gets its length). NULL on failure.
 */
char *ts_read_file(const char *path, size_t *len);

/* FLOW_TEST_BINDIR "/" name: where flowd, flowctl and flow-worker are built. */
const char *ts_bin(const char *name);

/* FLOW_TEST_SRCDIR "/" relpath: a file of the source tree. */
const char *ts_src(const char *relpath);

/*
 * Starts argv[0] (a path; searched in PATH if it has no '/') with argv, in
 * a new process group, stdin from /dev/null and stdout+stderr appended to
 * log_path (NULL: inherited). envp_extra ("NAME=value" strings, NULL-
 * terminated, may be NULL) is added to, and overrides, the environment.
 * Returns the child's pid (= its process group), or -1.
 */
pid_t ts_spawn(char *const argv[], char *const envp_extra[], const char *log_path);

/*
 * Waits up to timeout_ms (< 0: forever) for pid to exit and reaps it.
 * Returns 0 with the waitpid status in *status (may be NULL), or -1 on
 * timeout (errno ETIMEDOUT) or error.
 */
int ts_wait_exit(pid_t pid, int timeout_ms, int *status);

/* Sends sig to pid's process group (to pid alone if it has none). */
void ts_kill(pid_t pid, int sig);

/*
 * SIGTERM to pid's group, waits up to timeout_ms, then SIGKILL; reaps it.
 * Returns 0 with the status in *status (may be NULL) or -1.
 */
int ts_terminate(pid_t pid, int timeout_ms, int *status);

/*
 * Runs argv (as ts_spawn does, in its own process group) to completion,
 * feeding stdin_data (NULL: empty stdin) and capturing stdout and stderr
 * into NUL-terminated malloc'd strings *out and *err (either may be NULL
 * to discard). *exit_status gets the exit code, or 128 + signal number.
 * After timeout_ms (< 0: none) the process group is killed and -1 returned
 * (errno ETIMEDOUT), with the output so far still stored. Returns 0 when
 * the command ran, whatever its exit code; -1 if it could not be run.
 */
int ts_run_capture(char *const argv[], const char *stdin_data, char **out, char **err,
		   int *exit_status, int timeout_ms);

/*
 * Polls until a connection to flowd's RPC URL (ipc://, tcp://; tls+tcp://
 * is checked with a plain TCP connect) succeeds. Returns 0, or -1 after
 * timeout_ms.
 */
int ts_wait_for_rpc(const char *url, int timeout_ms);

/* Sleeps ms milliseconds. */
void ts_sleep_ms(int ms);

#endif
