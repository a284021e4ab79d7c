/*
 * context.h - what an agent is told about its item: the JSON on its stdin
 * and its environment.
 *
 * stdin: one JSON object and a newline,
 *   {"queueItem": {...}, "ticket": {...}, "task": {...} | null,
 *    "project": {...} | null, "attempt": N}
 * in the proto3 JSON mapping of model.proto (lowerCamelCase, ids as
 * numbers), as flowctl prints them.
 *
 * environment: a minimal one, never the worker's own (which may hold
 * FLOW_TOKEN or FLOW_API_KEY): PATH (the worker's, else
 * /usr/local/bin:/usr/bin:/bin), HOME, USER, LOGNAME, LANG, LC_ALL,
 * LC_CTYPE, TZ, TMPDIR when set, the names listed in pass_env, and
 * FLOW_QUEUE_ITEM_ID, FLOW_QUEUE_ID, FLOW_TICKET_ID, FLOW_TASK_ID (task
 * items only), FLOW_PROJECT_ID, FLOW_ATTEMPT, FLOW_AGENT_ID, FLOW_URL.
 */
#ifndef FLOW_WORKER_CONTEXT_H
#define FLOW_WORKER_CONTEXT_H

#include <stddef.h>

#include "flow/v1/worker.pb-c.h"

/*
 * The stdin JSON of ci into a malloc'd NUL-terminated string (*len bytes,
 * without the NUL). Returns 0, or -1 when out of memory.
 */
int context_json(const Flow__V1__ClaimedItem *ci, char **out, size_t *len);

/*
 * The environment for an agent running ci: a malloc'd NULL-terminated
 * array of "NAME=value" (free with context_env_free). pass_env is a comma-
 * or blank-separated list of names (may be NULL); flow_url may be NULL.
 * Returns 0, or -1 when out of memory.
 */
int context_env(const Flow__V1__ClaimedItem *ci, const char *agent_id, const char *flow_url,
		const char *pass_env, char ***out);

/* context_env_free(NULL) is a no-op. */
void context_env_free(char **env);

#endif
