#define _GNU_SOURCE

#include "context.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pbjson.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static const char *const base_env[] = {
	"HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", NULL,
};

/* A message as JSON, or JSON null when it is absent. */
static json_t *msg_json(const void *msg)
{
	return msg ? pbjson_from_message((const ProtobufCMessage *)msg) : json_null();
}

int context_json(const Flow__V1__ClaimedItem *ci, char **out, size_t *len)
{
	json_t *o = json_object();
	int32_t attempt = ci->item && ci->item->has_attempt ? ci->item->attempt : 0;
	char *text = NULL, *withnl;
	int bad = o == NULL;

	bad = bad || json_object_set_new(o, "queueItem", msg_json(ci->item)) != 0;
	bad = bad || json_object_set_new(o, "ticket", msg_json(ci->ticket)) != 0;
	bad = bad || json_object_set_new(o, "task", msg_json(ci->task)) != 0;
	bad = bad || json_object_set_new(o, "project", msg_json(ci->project)) != 0;
	bad = bad || json_object_set_new(o, "attempt", json_integer(attempt)) != 0;
	if (!bad)
		text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return -1;
	*len = strlen(text) + 1;
	if ((withnl = realloc(text, *len + 1)) == NULL) {
		free(text);
		return -1;
	}
	withnl[*len - 1] = '\n';
	withnl[*len] = '\0';
	*out = withnl;
	return 0;
}

struct envbuf {
	char **v;
	size_t n, cap;
	bool oom;
};

static void env_add(struct envbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void env_add(struct envbuf *e, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (e->oom)
		return;
	if (e->n + 2 > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 32;
		char **v = realloc(e->v, cap * sizeof(*v));

		if (v == NULL) {
			e->oom = true;
			return;
		}
		e->v = v;
		e->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL) {
		e->oom = true;
		return;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

/* Copies NAME=value from the worker's environment when it is set. */
static void env_pass(struct envbuf *e, const char *name)
{
	const char *v = getenv(name);

	if (v != NULL)
		env_add(e, "%s=%s", name, v);
}

static void env_pass_list(struct envbuf *e, const char *list)
{
	char *copy, *save = NULL;

	if (list == NULL || *list == '\0')
		return;
	if ((copy = strdup(list)) == NULL) {
		e->oom = true;
		return;
	}
	for (char *n = strtok_r(copy, ", \t", &save); n; n = strtok_r(NULL, ", \t", &save))
		if (strncmp(n, "FLOW_", 5) != 0)
			env_pass(e, n);
	free(copy);
}

static void env_flow(struct envbuf *e, const Flow__V1__ClaimedItem *ci, const char *agent_id)
{
	const Flow__V1__QueueItem *it = ci->item;

	if (it && it->has_id)
		env_add(e, "FLOW_QUEUE_ITEM_ID=%" PRId64, it->id);
	if (it && it->has_queue_id)
		env_add(e, "FLOW_QUEUE_ID=%" PRId64, it->queue_id);
	if (it && it->has_ticket_id)
		env_add(e, "FLOW_TICKET_ID=%" PRId64, it->ticket_id);
	if (it && it->has_task_id)
		env_add(e, "FLOW_TASK_ID=%" PRId64, it->task_id);
	if (ci->project && ci->project->has_id)
		env_add(e, "FLOW_PROJECT_ID=%" PRId64, ci->project->id);
	else if (ci->ticket && ci->ticket->has_project_id)
		env_add(e, "FLOW_PROJECT_ID=%" PRId64, ci->ticket->project_id);
	env_add(e, "FLOW_ATTEMPT=%d", it && it->has_attempt ? (int)it->attempt : 0);
	env_add(e, "FLOW_AGENT_ID=%s", agent_id ? agent_id : "");
}

int context_env(const Flow__V1__ClaimedItem *ci, const char *agent_id, const char *flow_url,
		const char *pass_env, char ***out)
{
	struct envbuf e = { 0 };
	const char *path = getenv("PATH");

	env_add(&e, "PATH=%s", path && *path ? path : DEFAULT_PATH);
	for (size_t i = 0; base_env[i]; i++)
		env_pass(&e, base_env[i]);
	env_pass_list(&e, pass_env);
	env_flow(&e, ci, agent_id);
	if (flow_url && *flow_url)
		env_add(&e, "FLOW_URL=%s", flow_url);
	if (e.oom) {
		context_env_free(e.v);
		return -1;
	}
	*out = e.v;
	return 0;
}

void context_env_free(char **env)
{
	if (env == NULL)
		return;
	for (char **p = env; *p; p++)
		free(*p);
	free(env);
}
