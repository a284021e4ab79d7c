/*
 * runner.h - runs one agent process and maps how it ended to an outcome.
 *
 * The agent is started with posix_spawn (vfork + execve) (no shell; argv comes from the
 * agents file only, never from item content) in a process group of its
 * own, with:
 *   stdin   spec->input, written fully and then closed (an agent that does
 *           not read it is fine: EPIPE just ends the writing);
 *   stdout  captured up to spec->max_output bytes as completion notes; the
 *           rest is read and discarded, and the notes end in
 *           "[output truncated]";
 *   stderr  each line logged at info ("agent.stderr") with secrets
 *           redacted; the last line goes into the error of a failure;
 *   env     spec->envp exactly (the caller builds a minimal environment);
 *   signals default dispositions, nothing blocked.
 *
 * Outcome: exit 0 -> COMPLETED; exit 75 (EX_TEMPFAIL) -> RETRY; other exit
 * statuses -> FAILED "exited with status N"; a signal -> FAILED "killed by
 * signal SIGSEGV"; the timeout -> RETRY "timed out after N s"; a
 * runner_cancel() -> RETRY "cancelled". On timeout or cancel the group gets
 * SIGTERM, then SIGKILL after spec->kill_grace_ms. When the agent itself
 * has exited, whatever it left running in its process group is killed
 * (SIGKILL), so no agent leaves processes behind, and the agent is reaped:
 * no zombies.
 *
 * SIGCHLD must not be set to SIG_IGN in the calling process (children would
 * be reaped by the kernel and their exit status lost). SIGPIPE needs no
 * handling: the runner blocks it around its own writes.
 */
#ifndef FLOW_WORKER_RUNNER_H
#define FLOW_WORKER_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNNER_TRUNCATED_NOTE "[output truncated]"
#define RUNNER_EX_TEMPFAIL 75

typedef struct runner runner;

enum runner_outcome { RUNNER_COMPLETED, RUNNER_RETRY, RUNNER_FAILED };

struct runner_spec {
	char *const *argv; /* argv[0]: absolute path of the program */
	char *const *envp; /* the whole environment, NULL-terminated */
	const char *input; /* stdin bytes (may be NULL when input_len is 0) */
	size_t input_len;
	int timeout_s;	   /* > 0 */
	int kill_grace_ms; /* SIGTERM -> SIGKILL; >= 0 */
	size_t max_output; /* >= 64 */
	const char *label; /* prefix of stderr log lines, e.g. "item=42 agent=x" */
};

struct runner_result {
	enum runner_outcome outcome;
	char *output;	   /* stdout, NUL-terminated, valid UTF-8; malloc'd */
	size_t output_len; /* <= max_output */
	bool truncated;
	int exit_code; /* -1 when killed by a signal */
	int signal;    /* the signal that killed it, else 0 */
	bool timed_out;
	bool cancelled;
	long long duration_ms;
	long long started_at_us; /* CLOCK_REALTIME µs at which it was started; 0: never */
	char error[1024]; /* why, for RETRY and FAILED; "" for COMPLETED */
};

/*
 * Starts the agent. spec and everything it points to must stay valid until
 * runner_wait() returns. Returns 0, or -1 with the reason in err ("cannot
 * execute /x: Permission denied", pipe or spawn failures); nothing is left
 * running then.
 */
int runner_start(const struct runner_spec *spec, runner **out, char *err, size_t errlen);

/*
 * Feeds stdin, collects output and enforces the timeout until the agent
 * has ended and is reaped; fills res (free with runner_result_clear).
 * Returns 0, or -1 when out of memory (the agent is still stopped and
 * reaped).
 */
int runner_wait(runner *r, struct runner_result *res);

/*
 * Asks a running agent to stop: SIGTERM to its group, SIGKILL after the
 * grace. Safe from any thread while another is in runner_wait(), and
 * harmless after the agent ended; returns 0. It only must not race with
 * runner_free().
 */
int runner_cancel(runner *r);

/* The agent's pid, which is also its process group id. */
pid_t runner_pid(const runner *r);

/* Frees r; if runner_wait() was not called, kills the group and reaps.
 * runner_free(NULL) is a no-op. */
void runner_free(runner *r);

/* runner_start + runner_wait + runner_free; start failures become RETRY
 * results. Returns 0, or -1 when out of memory. */
int runner_run(const struct runner_spec *spec, struct runner_result *res);

void runner_result_clear(struct runner_result *res);

/* CLOCK_REALTIME in µs: the clock of runner_result.started_at_us. */
long long runner_realtime_us(void);

#endif
