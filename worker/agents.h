/*
 * agents.h - the agents file: which command runs for which agent id.
 *
 *   # comment
 *   code-reviewer = /usr/local/bin/run-claude --agent code-reviewer
 *   code-reviewer.timeout = 900
 *   echo-demo = /usr/bin/env "ARG WITH SPACES" back\"slash
 *
 * A line is blank, a comment (first non-blank character '#'), an agent
 * ("id = command args...") or a key of an agent ("id.timeout = SECONDS").
 * The command line is split on blanks, with double quotes grouping and a
 * backslash escaping the next character; no shell is involved and nothing
 * is expanded. The command must be an absolute path to an executable file,
 * checked when the file is loaded. Agent ids are 1-64 characters of
 * [A-Za-z0-9_-]. The built-in agent "noop" (completes at once, runs
 * nothing) exists unless the file defines its own "noop".
 * docs/worker.md documents the format.
 */
#ifndef FLOW_WORKER_AGENTS_H
#define FLOW_WORKER_AGENTS_H

#include <stdbool.h>
#include <stddef.h>

#define AGENTS_NOOP "noop"
#define AGENTS_MAX_ID 64
#define AGENTS_MAX_TIMEOUT_S 604800

struct agent {
	char *id;
	char **argv;   /* NULL-terminated; NULL for the built-in noop */
	int timeout_s; /* 0: the worker's default */
	int line;      /* where it is defined; 0 when built in */
};

typedef struct agents agents;

/*
 * Loads the agents file at path (NULL or "": only the built-in noop).
 * Returns 0, or -1 with a message in err naming the file and line
 * ("agents.conf:3: ..."). *out is set only on success.
 */
int agents_load(const char *path, agents **out, char *err, size_t errlen);

/* The same for text already in memory; name is used in messages. */
int agents_parse(const char *text, const char *name, agents **out, char *err, size_t errlen);

/* agents_free(NULL) is a no-op. */
void agents_free(agents *a);

/* The agent with this id, or NULL. Owned by a. */
const struct agent *agents_find(const agents *a, const char *id);
size_t agents_count(const agents *a);
/* The i-th agent in file order (the built-in noop last), or NULL. */
const struct agent *agents_get(const agents *a, size_t i);

/* True for the built-in noop, which runs no process. */
bool agent_is_builtin(const struct agent *ag);

/*
 * Splits a command line as the agents file does into a NULL-terminated
 * malloc'd argv (free with agents_argv_free), *argc words. Returns 0, or -1
 * with the reason in err (unterminated quote, trailing backslash).
 */
int agents_split(const char *line, char ***argv, int *argc, char *err, size_t errlen);
void agents_argv_free(char **argv);

#endif
