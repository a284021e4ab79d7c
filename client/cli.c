/*
 * cli.c - flowctl commands and human-readable output.
 *
 * The command table drives parsing, dispatch and help; each command turns
 * its arguments into a tool argument object, runs it with call_run and
 * prints the result with a column table (lists) or a field list (one object).
 */
#include "cli.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions.h"
#include "call.h"
#include "status.h"

/* ---- output: columns and fields ---- */

enum col_kind {
	K_TEXT,	    /* any scalar as text */
	K_BOOL,	    /* yes / no */
	K_LIST,	    /* array joined with ", " */
	K_TIME,	    /* epoch ms as local time */
	K_PRIORITY, /* priority and priorityName: "10 high" */
	K_PERCENT,  /* 0..1 as a percentage */
	K_SECONDS,  /* milliseconds as seconds */
};

/* A table column or a field line. key is a dotted path into the object. */
struct column {
	const char *title;
	const char *key;
	enum col_kind kind;
	int max; /* widest cell in a table, in characters; 0: no limit */
};

#define CELL_MAX 1024
#define MAX_COLUMNS 16 /* columns of one table, at most */
#define END_COLUMNS { NULL, NULL, K_TEXT, 0 }

/* The value at a dotted path ("item.attempt"), or NULL. */
static const json_t *get_path(const json_t *obj, const char *path)
{
	char part[64];
	const char *dot;

	while (obj != NULL && (dot = strchr(path, '.')) != NULL) {
		snprintf(part, sizeof(part), "%.*s", (int)(dot - path), path);
		obj = json_object_get(obj, part);
		path = dot + 1;
	}
	return obj ? json_object_get(obj, path) : NULL;
}

static void scalar_text(const json_t *v, char *buf, size_t len)
{
	buf[0] = '\0';
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
}

static void list_text(const json_t *v, char *buf, size_t len)
{
	size_t i;
	const json_t *x;
	char item[256];

	buf[0] = '\0';
	json_array_foreach(v, i, x) {
		size_t used = strlen(buf);

		scalar_text(x, item, sizeof(item));
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", item);
	}
}

static void time_text(const json_t *v, char *buf, size_t len)
{
	time_t t;
	struct tm tm;

	buf[0] = '\0';
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return;
	t = (time_t)(json_integer_value(v) / 1000);
	if (localtime_r(&t, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void priority_text(const json_t *row, char *buf, size_t len)
{
	const json_t *p = json_object_get(row, "priority");
	const char *name = json_string_value(json_object_get(row, "priorityName"));

	buf[0] = '\0';
	if (json_is_integer(p))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT "%s%s", json_integer_value(p),
			 name ? " " : "", name ? name : "");
	else if (name)
		snprintf(buf, len, "%s", name);
}

static const char *str_or(const char *s, const char *dflt)
{
	return s != NULL ? s : dflt;
}

/* Control characters become spaces so a value cannot break the layout. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void cell_text(const json_t *row, const struct column *c, char *buf, size_t len)
{
	const json_t *v = get_path(row, c->key);

	buf[0] = '\0';
	if (c->kind == K_PRIORITY)
		priority_text(row, buf, len);
	else if (v == NULL || json_is_null(v))
		return;
	else if (c->kind == K_LIST)
		list_text(v, buf, len);
	else if (c->kind == K_TIME)
		time_text(v, buf, len);
	else if (c->kind == K_PERCENT && json_is_number(v))
		snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
	else if (c->kind == K_SECONDS && json_is_number(v))
		snprintf(buf, len, "%.1fs", json_number_value(v) / 1000.0);
	else
		scalar_text(v, buf, len);
	sanitize(buf);
}

/* Characters (UTF-8 code points) in s. */
static int text_width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Cuts s to at most max characters, ending in "..." when cut. */
static void truncate_text(char *s, int max)
{
	int n = 0;

	if (max <= 0 || text_width(s) <= max)
		return;
	for (char *p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 && n++ == max - 3) {
			strcpy(p, "...");
			return;
		}
	}
}

static void table_cell(const json_t *row, const struct column *c, char *buf)
{
	cell_text(row, c, buf, CELL_MAX);
	truncate_text(buf, c->max);
}

static void column_widths(const json_t *rows, const struct column *cols, int *w)
{
	char buf[CELL_MAX];
	const json_t *row;
	size_t i;

	for (int c = 0; cols[c].title != NULL; c++)
		w[c] = text_width(cols[c].title);
	json_array_foreach(rows, i, row) {
		for (int c = 0; cols[c].title != NULL; c++) {
			table_cell(row, &cols[c], buf);
			if (text_width(buf) > w[c])
				w[c] = text_width(buf);
		}
	}
}

/*
 * Prints one cell. Padding is written only before the next non-empty cell,
 * so lines carry no trailing blanks; *pending holds it meanwhile.
 */
static void print_cell(const char *s, int width, int *pending)
{
	if (s[0] == '\0') {
		*pending += width + 2;
		return;
	}
	printf("%*s%s", *pending, "", s);
	*pending = width - text_width(s) + 2;
}

/* Prints rows (an array of objects) as aligned columns; none: the note. */
static void print_table(const json_t *rows, const struct column *cols, const char *none)
{
	int w[MAX_COLUMNS], pending = 0;
	char buf[CELL_MAX];
	const json_t *row;
	size_t i;

	for (int c = 0; cols[c].title != NULL; c++)
		assert(c < MAX_COLUMNS); /* a table definition error */
	if (json_array_size(rows) == 0) {
		printf("%s\n", none);
		return;
	}
	column_widths(rows, cols, w);
	for (int c = 0; cols[c].title != NULL; c++)
		print_cell(cols[c].title, w[c], &pending);
	fputc('\n', stdout);
	json_array_foreach(rows, i, row) {
		pending = 0;
		for (int c = 0; cols[c].title != NULL; c++) {
			table_cell(row, &cols[c], buf);
			print_cell(buf, w[c], &pending);
		}
		fputc('\n', stdout);
	}
}

/* Prints "Title:  value" lines for the fields of obj that are present. */
static void print_fields(const json_t *obj, const struct column *fields)
{
	char buf[CELL_MAX];
	int w = 0;

	for (int i = 0; fields[i].title != NULL; i++)
		if (text_width(fields[i].title) > w)
			w = text_width(fields[i].title);
	for (int i = 0; fields[i].title != NULL; i++) {
		cell_text(obj, &fields[i], buf, sizeof(buf));
		if (buf[0] == '\0')
			continue;
		truncate_text(buf, fields[i].max);
		printf("%s:%*s %s\n", fields[i].title, w - text_width(fields[i].title), "", buf);
	}
}

/* Multi-line text with control characters other than newline and tab blanked. */
static void print_text(const char *label, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	printf("\n%s:\n", label);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		fputc(ch < 0x20 && ch != '\n' && ch != '\t' ? ' ' : ch == 0x7f ? ' ' : ch, stdout);
	}
	fputc('\n', stdout);
}

/* clang-format off */
static const struct column project_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "NAME", "name", K_TEXT, 30 },
	{ "PATH", "path", K_TEXT, 40 }, { "DESCRIPTION", "description", K_TEXT, 50 },
	END_COLUMNS,
};
static const struct column project_fields[] = {
	{ "Project", "id", K_TEXT, 0 }, { "Name", "name", K_TEXT, 0 },
	{ "Path", "path", K_TEXT, 0 }, { "Description", "description", K_TEXT, 0 },
	{ "Created", "created", K_TIME, 0 }, { "Updated", "updated", K_TIME, 0 },
	END_COLUMNS,
};
static const struct column ticket_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "TITLE", "title", K_TEXT, 50 },
	{ "STATUS", "status", K_TEXT, 12 }, { "PRIORITY", "priority", K_PRIORITY, 10 },
	{ "TAGS", "tags", K_LIST, 30 },
	END_COLUMNS,
};
static const struct column ticket_fields[] = {
	{ "Ticket", "id", K_TEXT, 0 }, { "Project", "projectId", K_TEXT, 0 },
	{ "Title", "title", K_TEXT, 0 }, { "Status", "status", K_TEXT, 0 },
	{ "Priority", "priority", K_PRIORITY, 0 }, { "Tags", "tags", K_LIST, 0 },
	{ "Suggested files", "suggestedFileIds", K_LIST, 0 },
	{ "Suggested agents", "suggestedAgentIds", K_LIST, 0 },
	{ "Created", "created", K_TIME, 0 }, { "Updated", "updated", K_TIME, 0 },
	END_COLUMNS,
};
static const struct column task_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "ORDER", "orderIndex", K_TEXT, 0 },
	{ "CONTENT", "content", K_TEXT, 50 }, { "STATUS", "status", K_TEXT, 12 },
	{ "DONE", "done", K_BOOL, 0 }, { "HOURS", "estimatedHours", K_TEXT, 0 },
	{ "AGENT", "agentId", K_TEXT, 30 },
	END_COLUMNS,
};
static const struct column queue_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "NAME", "name", K_TEXT, 40 },
	{ "ACTIVE", "isActive", K_BOOL, 0 }, { "PARALLEL", "maxParallelItems", K_TEXT, 0 },
	{ "LEASE_S", "leaseSeconds", K_TEXT, 0 }, { "ATTEMPTS", "maxAttempts", K_TEXT, 0 },
	{ "DESCRIPTION", "description", K_TEXT, 40 },
	END_COLUMNS,
};
static const struct column summary_cols[] = {
	{ "ID", "queueId", K_TEXT, 0 }, { "NAME", "name", K_TEXT, 40 },
	{ "ACTIVE", "isActive", K_BOOL, 0 }, { "QUEUED", "queued", K_TEXT, 0 },
	{ "IN_PROGRESS", "inProgress", K_TEXT, 0 }, { "COMPLETED", "completed", K_TEXT, 0 },
	{ "FAILED", "failed", K_TEXT, 0 },
	END_COLUMNS,
};
static const struct column stats_fields[] = {
	{ "Queue", "queueId", K_TEXT, 0 }, { "Name", "queueName", K_TEXT, 0 },
	{ "Active", "isActive", K_BOOL, 0 }, { "Max parallel", "maxParallelItems", K_TEXT, 0 },
	{ "Total", "totalItems", K_TEXT, 0 }, { "Queued", "queuedItems", K_TEXT, 0 },
	{ "In progress", "inProgressItems", K_TEXT, 0 },
	{ "Completed", "completedItems", K_TEXT, 0 }, { "Failed", "failedItems", K_TEXT, 0 },
	{ "Cancelled", "cancelledItems", K_TEXT, 0 }, { "Dead", "deadItems", K_TEXT, 0 },
	{ "Agents", "currentAgents", K_LIST, 0 },
	{ "Avg processing", "averageProcessingTime", K_SECONDS, 0 },
	{ "Success rate", "successRate", K_PERCENT, 0 },
	END_COLUMNS,
};
static const struct column next_fields[] = {
	{ "Queue item", "queueItemId", K_TEXT, 0 }, { "Type", "item.itemType", K_TEXT, 0 },
	{ "Ticket", "ticketId", K_TEXT, 0 }, { "Task", "taskId", K_TEXT, 0 },
	{ "Title", "ticket.title", K_TEXT, 0 }, { "Task content", "task.content", K_TEXT, 0 },
	{ "Next task", "nextTask.content", K_TEXT, 0 }, { "Agent", "agentId", K_TEXT, 0 },
	{ "Attempt", "item.attempt", K_TEXT, 0 },
	{ "Lease expires", "item.leaseExpires", K_TIME, 0 },
	{ "Suggested files", "suggestedFiles", K_LIST, 0 },
	END_COLUMNS,
};
/* clang-format on */

/* ---- running actions ---- */

struct cli_env {
	struct call_ctx call;
	bool json;
};

enum opt_slot { OPT_PROJECT, OPT_STATUS, OPT_PATH, OPT_DESCRIPTION, OPT_AGENT, OPT_COUNT };

#define MAX_POS 2

struct cli_args {
	const char *pos[MAX_POS];
	int npos;
	const char *opt[OPT_COUNT];
};

static int report(const struct cli_env *env, const struct call_error *e)
{
	if (env->json)
		return call_report_error(e);
	if (e->usage)
		fprintf(stderr, "flowctl: %s\n", e->message);
	else
		fprintf(stderr, "flowctl: %s: %s\n", status_name(e->code), e->message);
	return call_exit_status(e);
}

/*
 * Runs the tool call args (taken; NULL means out of memory) and stores the
 * result. Returns 0, or the exit status after reporting the error.
 */
static int run_action(struct cli_env *env, const char *tool, json_t *args, json_t **result)
{
	struct call_error e;
	int rc;

	if (args == NULL) {
		memset(&e, 0, sizeof(e));
		e.code = FLOW_RESOURCE_EXHAUSTED;
		snprintf(e.message, sizeof(e.message), "out of memory");
		return report(env, &e);
	}
	rc = call_run(&env->call, tool, args, result, &e);
	json_decref(args);
	return rc == FLOW_OK ? 0 : report(env, &e);
}

/* Prints result as JSON with --json; returns true if it did. */
static bool print_json_mode(const struct cli_env *env, const json_t *result)
{
	if (env->json)
		call_print_json(stdout, result);
	return env->json;
}

static int usage_error(const struct cli_env *env, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct cli_env *env, const char *fmt, ...)
{
	struct call_error e;
	va_list ap;

	call_usage_error(&e, "%s", "");
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	return report(env, &e);
}

/* ---- commands ---- */

static int cmd_projects(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = run_action(env, ACTION_TOOL_PROJECT, json_pack("{s:s}", "action", "list"), &r);

	if (st == 0 && !print_json_mode(env, r))
		print_table(json_object_get(r, "projects"), project_cols, "No projects.");
	json_decref(r);
	return st;
}

static int cmd_project_create(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	json_t *args = json_pack("{s:s, s:{s:s, s:s*, s:s*}}", "action", "create", "data", "name",
				 a->pos[0], "path", a->opt[OPT_PATH], "description",
				 a->opt[OPT_DESCRIPTION]);
	int st = run_action(env, ACTION_TOOL_PROJECT, args, &r);

	if (st == 0 && !print_json_mode(env, r))
		print_fields(r, project_fields);
	json_decref(r);
	return st;
}

static void print_overview(const json_t *r)
{
	print_fields(json_object_get(r, "project"), project_fields);
	printf("Tickets: %" JSON_INTEGER_FORMAT " open, %" JSON_INTEGER_FORMAT
	       " in progress, %" JSON_INTEGER_FORMAT " closed\n",
	       json_integer_value(json_object_get(r, "openTicketCount")),
	       json_integer_value(json_object_get(r, "inProgressTicketCount")),
	       json_integer_value(json_object_get(r, "closedTicketCount")));
	printf("\nOpen tickets:\n");
	print_table(json_object_get(r, "openTickets"), ticket_cols, "None.");
	printf("\nQueues:\n");
	print_table(json_object_get(r, "queues"), summary_cols, "None.");
}

static int cmd_overview(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = run_action(env, ACTION_TOOL_PROJECT,
			    json_pack("{s:s, s:s}", "action", "overview", "projectId", a->pos[0]),
			    &r);

	if (st == 0 && !print_json_mode(env, r))
		print_overview(r);
	json_decref(r);
	return st;
}

static int cmd_tickets(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	json_t *args;
	int st;

	if (a->opt[OPT_PROJECT] == NULL)
		return usage_error(env, "tickets needs -p PROJECT_ID");
	args = json_pack("{s:s, s:s, s:{s:s*}}", "action", "tickets_list", "projectId",
			 a->opt[OPT_PROJECT], "data", "status", a->opt[OPT_STATUS]);
	st = run_action(env, ACTION_TOOL_FLOW, args, &r);
	if (st == 0 && !print_json_mode(env, r))
		print_table(json_object_get(r, "tickets"), ticket_cols, "No tickets.");
	json_decref(r);
	return st;
}

static json_t *by_ticket(const char *action, const char *ticket_id)
{
	return json_pack("{s:s, s:s}", "action", action, "ticketId", ticket_id);
}

static void print_ticket(const json_t *ticket, const json_t *tasks)
{
	print_fields(ticket, ticket_fields);
	print_text("Overview", json_string_value(json_object_get(ticket, "overview")));
	printf("\nTasks:\n");
	print_table(json_object_get(tasks, "tasks"), task_cols, "None.");
}

static int cmd_ticket_show(struct cli_env *env, const struct cli_args *a)
{
	json_t *t = NULL, *tasks = NULL;
	int st = run_action(env, ACTION_TOOL_FLOW, by_ticket("tickets_get", a->pos[0]), &t);

	if (st == 0)
		st = run_action(env, ACTION_TOOL_FLOW, by_ticket("tasks_list", a->pos[0]), &tasks);
	if (st == 0 && env->json) {
		json_t *both = json_pack("{s:O, s:O}", "ticket", t, "tasks",
					 json_object_get(tasks, "tasks"));

		if (both == NULL || call_print_json(stdout, both) != 0)
			st = CALL_EXIT_FAILED;
		json_decref(both);
	} else if (st == 0) {
		print_ticket(t, tasks);
	}
	json_decref(t);
	json_decref(tasks);
	return st;
}

static int cmd_tasks(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = run_action(env, ACTION_TOOL_FLOW, by_ticket("tasks_list", a->pos[0]), &r);

	if (st == 0 && !print_json_mode(env, r))
		print_table(json_object_get(r, "tasks"), task_cols, "No tasks.");
	json_decref(r);
	return st;
}

static int cmd_queues(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st;

	if (a->opt[OPT_PROJECT] == NULL)
		return usage_error(env, "queues needs -p PROJECT_ID");
	st = run_action(env, ACTION_TOOL_FLOW,
			json_pack("{s:s, s:s}", "action", "queues_list", "projectId",
				  a->opt[OPT_PROJECT]),
			&r);
	if (st == 0 && !print_json_mode(env, r))
		print_table(json_object_get(r, "queues"), queue_cols, "No queues.");
	json_decref(r);
	return st;
}

static int cmd_queue_stats(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = run_action(env, ACTION_TOOL_FLOW,
			    json_pack("{s:s, s:s}", "action", "queues_get_stats", "queueId",
				      a->pos[0]),
			    &r);

	if (st == 0 && !print_json_mode(env, r))
		print_fields(r, stats_fields);
	json_decref(r);
	return st;
}

static int queue_set_active(struct cli_env *env, const char *queue_id, bool active)
{
	json_t *r = NULL;
	int st = run_action(env, ACTION_TOOL_FLOW,
			    json_pack("{s:s, s:s, s:{s:b}}", "action", "queues_update", "queueId",
				      queue_id, "data", "isActive", active),
			    &r);

	if (st == 0 && !print_json_mode(env, r))
		printf("Queue %" JSON_INTEGER_FORMAT " (%s) %s.\n",
		       json_integer_value(json_object_get(r, "id")),
		       str_or(json_string_value(json_object_get(r, "name")), ""),
		       active ? "resumed" : "paused");
	json_decref(r);
	return st;
}

static int cmd_queue_pause(struct cli_env *env, const struct cli_args *a)
{
	return queue_set_active(env, a->pos[0], false);
}

static int cmd_queue_resume(struct cli_env *env, const struct cli_args *a)
{
	return queue_set_active(env, a->pos[0], true);
}

/* queue_items_retry / queue_items_cancel on one item; prints its new status. */
static int item_action(struct cli_env *env, const char *action, const char *item_id)
{
	json_t *r = NULL, *it;
	int st = run_action(env, ACTION_TOOL_FLOW,
			    json_pack("{s:s, s:{s:[s]}}", "action", action, "data", "queueItemIds",
				      item_id),
			    &r);
	size_t i;

	if (st == 0 && !print_json_mode(env, r))
		json_array_foreach(json_object_get(r, "items"), i, it)
			printf("Item %" JSON_INTEGER_FORMAT ": %s.\n",
			       json_integer_value(json_object_get(it, "id")),
			       str_or(json_string_value(json_object_get(it, "status")), "?"));
	json_decref(r);
	return st;
}

static int cmd_item_retry(struct cli_env *env, const struct cli_args *a)
{
	return item_action(env, "queue_items_retry", a->pos[0]);
}

static int cmd_item_cancel(struct cli_env *env, const struct cli_args *a)
{
	return item_action(env, "queue_items_cancel", a->pos[0]);
}

static int cmd_next(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	json_t *args = json_pack("{s:s, s:s, s:{s:s*}}", "action", "processor_get_next", "queueId",
				 a->pos[0], "data", "agentId", a->opt[OPT_AGENT]);
	int st = run_action(env, ACTION_TOOL_FLOW, args, &r);

	if (st != 0 || print_json_mode(env, r)) {
		json_decref(r);
		return st;
	}
	if (json_is_true(json_object_get(r, "found")))
		print_fields(r, next_fields);
	else
		printf("Nothing to do: %s\n",
		       str_or(json_string_value(json_object_get(r, "message")), "queue is empty"));
	json_decref(r);
	return st;
}

/* ---- the command table ---- */

struct cli_cmd {
	const char *name;  /* one or two words */
	const char *usage; /* arguments, for help */
	const char *help;
	int npos;	   /* positional arguments; -1: raw argv to raw */
	unsigned opts;	   /* accepted option slots, 1 << enum opt_slot */
	int (*run)(struct cli_env *env, const struct cli_args *a);
	int (*raw)(struct cli_env *env, int argc, char **argv);
};

static int cmd_call(struct cli_env *env, int argc, char **argv);
static int cmd_help(struct cli_env *env, int argc, char **argv);
static int cmd_version(struct cli_env *env, int argc, char **argv);

#define O(slot) (1u << (slot))

/* clang-format off */
static const struct cli_cmd commands[] = {
	{ "projects", "", "List projects.", 0, 0, cmd_projects, NULL },
	{ "project create", "NAME [--path P] [--description D]", "Create a project.", 1,
	  O(OPT_PATH) | O(OPT_DESCRIPTION), cmd_project_create, NULL },
	{ "overview", "PROJECT_ID", "Ticket counts, open tickets and queues of a project.", 1, 0,
	  cmd_overview, NULL },
	{ "tickets", "-p PROJECT_ID [--status S]", "List a project's tickets.", 0,
	  O(OPT_PROJECT) | O(OPT_STATUS), cmd_tickets, NULL },
	{ "ticket show", "TICKET_ID", "Show a ticket and its tasks.", 1, 0, cmd_ticket_show, NULL },
	{ "tasks", "TICKET_ID", "List a ticket's tasks.", 1, 0, cmd_tasks, NULL },
	{ "queues", "-p PROJECT_ID", "List a project's queues.", 0, O(OPT_PROJECT), cmd_queues, NULL },
	{ "queue stats", "QUEUE_ID", "Item counts, agents and timings of a queue.", 1, 0,
	  cmd_queue_stats, NULL },
	{ "queue pause", "QUEUE_ID", "Stop handing out the queue's items.", 1, 0, cmd_queue_pause, NULL },
	{ "queue resume", "QUEUE_ID", "Hand out the queue's items again.", 1, 0, cmd_queue_resume, NULL },
	{ "item retry", "ITEM_ID", "Queue a failed or dead item again (queue_items_retry).", 1, 0,
	  cmd_item_retry, NULL },
	{ "item cancel", "ITEM_ID", "Cancel a queued or running item (queue_items_cancel).", 1, 0,
	  cmd_item_cancel, NULL },
	{ "next", "QUEUE_ID [--agent A]", "Claim the next item of a queue (processor_get_next).", 1,
	  O(OPT_AGENT), cmd_next, NULL },
	{ "call", "TOOL JSON", "Run an MCP tool call; JSON result (see flowctl help call).", -1, 0,
	  NULL, cmd_call },
	{ "help", "[COMMAND | call | ACTION]", "Show help.", -1, 0, NULL, cmd_help },
	{ "version", "", "Print the version.", -1, 0, NULL, cmd_version },
	{ NULL, NULL, NULL, 0, 0, NULL, NULL },
};

struct cli_opt_def {
	const char *long_name;
	char short_name;
	enum opt_slot slot;
};

static const struct cli_opt_def opt_defs[] = {
	{ "--project", 'p', OPT_PROJECT }, { "--status", 's', OPT_STATUS },
	{ "--path", 0, OPT_PATH }, { "--description", 'd', OPT_DESCRIPTION },
	{ "--agent", 'a', OPT_AGENT }, { NULL, 0, OPT_COUNT },
};
/* clang-format on */

/* Words of cmd->name matched by argv: 0 when it does not match. */
static int match_words(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sp = strchr(cmd->name, ' ');
	size_t n1 = sp ? (size_t)(sp - cmd->name) : strlen(cmd->name);

	if (strlen(argv[0]) != n1 || strncmp(argv[0], cmd->name, n1) != 0)
		return 0;
	if (sp == NULL)
		return 1;
	return argc > 1 && strcmp(argv[1], sp + 1) == 0 ? 2 : 0;
}

static const struct cli_cmd *find_command(int argc, char **argv, int *words)
{
	for (const struct cli_cmd *c = commands; c->name != NULL; c++)
		if ((*words = match_words(c, argc, argv)) != 0)
			return c;
	return NULL;
}

static const struct cli_opt_def *find_opt(const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	for (const struct cli_opt_def *d = opt_defs; d->long_name != NULL; d++) {
		size_t n = strlen(d->long_name);

		if (arg[1] != '-' && d->short_name && arg[1] == d->short_name) {
			*inline_val = arg[2] ? arg + 2 : NULL;
			return d;
		}
		if (strncmp(arg, d->long_name, n) == 0 && (arg[n] == '\0' || arg[n] == '=')) {
			*inline_val = arg[n] == '=' ? arg + n + 1 : NULL;
			return d;
		}
	}
	return NULL;
}

/* One option at argv[*i]; advances *i past its value. */
static int parse_opt(struct cli_env *env, const struct cli_cmd *cmd, int argc, char **argv,
		     int *i, struct cli_args *a)
{
	const char *val;
	const struct cli_opt_def *d;

	if (strcmp(argv[*i], "--json") == 0) {
		env->json = true;
		return 0;
	}
	d = find_opt(argv[*i], &val);
	if (d == NULL || !(cmd->opts & O(d->slot)))
		return usage_error(env, "%s: unknown option %s (usage: flowctl %s %s)", cmd->name,
				   argv[*i], cmd->name, cmd->usage);
	if (val == NULL && *i + 1 >= argc)
		return usage_error(env, "%s: option %s needs a value", cmd->name, argv[*i]);
	a->opt[d->slot] = val ? val : argv[++*i];
	return 0;
}

static int parse_args(struct cli_env *env, const struct cli_cmd *cmd, int argc, char **argv,
		      struct cli_args *a)
{
	bool opts_done = false;
	int st;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		if (!opts_done && strcmp(argv[i], "--") == 0) {
			opts_done = true;
		} else if (!opts_done && argv[i][0] == '-' && argv[i][1] != '\0') {
			if ((st = parse_opt(env, cmd, argc, argv, &i, a)) != 0)
				return st;
		} else if (a->npos < MAX_POS) {
			a->pos[a->npos++] = argv[i];
		} else {
			a->npos++;
		}
	}
	if (a->npos != cmd->npos)
		return usage_error(env, "usage: flowctl %s %s", cmd->name, cmd->usage);
	return 0;
}

static void unknown_command(struct cli_env *env, int argc, char **argv)
{
	char subs[256] = "";

	for (const struct cli_cmd *c = commands; c->name != NULL; c++) {
		const char *sp = strchr(c->name, ' ');

		if (sp && strncmp(c->name, argv[0], (size_t)(sp - c->name)) == 0 &&
		    strlen(argv[0]) == (size_t)(sp - c->name))
			snprintf(subs + strlen(subs), sizeof(subs) - strlen(subs), "%s%s",
				 subs[0] ? ", " : "", c->name);
	}
	if (subs[0])
		usage_error(env, "unknown command \"%s%s%s\"; try: %s", argv[0],
			    argc > 1 ? " " : "", argc > 1 ? argv[1] : "", subs);
	else
		usage_error(env, "unknown command \"%s\" (see flowctl --help)", argv[0]);
}

static int dispatch(struct cli_env *env, int argc, char **argv)
{
	int words = 0;
	const struct cli_cmd *cmd = find_command(argc, argv, &words);
	struct cli_args a;
	int st;

	if (cmd == NULL) {
		unknown_command(env, argc, argv);
		return CALL_EXIT_USAGE;
	}
	if (cmd->raw != NULL)
		return cmd->raw(env, argc - words, argv + words);
	if ((st = parse_args(env, cmd, argc - words, argv + words, &a)) != 0)
		return st;
	return cmd->run(env, &a);
}

int cli_run(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_env env = { { o->url, o->timeout_ms, o->token, NULL }, o->json };
	int st = dispatch(&env, argc, argv);

	call_ctx_close(&env.call);
	if (fflush(stdout) != 0 && st == 0) {
		fprintf(stderr, "flowctl: cannot write the output\n");
		st = CALL_EXIT_FAILED;
	}
	return st;
}

/* ---- call, help, version ---- */

static int cmd_call(struct cli_env *env, int argc, char **argv)
{
	return call_command(&env->call, argc, argv);
}

static int cmd_version(struct cli_env *env, int argc, char **argv)
{
	printf("flowctl %s\n", FLOWCTL_VERSION);
	return 0;
}

static void help_commands(FILE *f)
{
	fprintf(f, "Commands:\n");
	for (const struct cli_cmd *c = commands; c->name != NULL; c++) {
		char left[80];

		snprintf(left, sizeof(left), "%s%s%s", c->name, c->usage[0] ? " " : "", c->usage);
		fprintf(f, "  %-50s %s\n", left, c->help);
	}
}

static void help_action_names(FILE *f)
{
	fprintf(f, "\nTool actions (flowctl call TOOL JSON; details: flowctl help call):\n");
	for (size_t t = 0; action_tools[t] != NULL; t++) {
		int col = fprintf(f, "  %s:", action_tools[t]);

		for (const struct action *a = action_table; a->tool != NULL; a++) {
			if (strcmp(a->tool, action_tools[t]) != 0)
				continue;
			if (col + (int)strlen(a->name) + 1 > 90)
				col = fprintf(f, "\n   ");
			col += fprintf(f, " %s", a->name);
		}
		fputc('\n', f);
	}
}

void cli_help(FILE *f)
{
	fprintf(f, "usage: flowctl [--url URL] [--timeout MS] [--json] COMMAND "
		   "[ARGS]\n\n");
	help_commands(f);
	fprintf(f, "\nOptions:\n"
		   "  --url URL      flowd address (env FLOW_URL; default %s)\n"
		   "  --timeout MS   deadline of each call in milliseconds (default %u)\n"
		   "  --json         print results as JSON (also accepted after the command)\n"
		   "  -h, --help     this help; flowctl help COMMAND for one command\n",
		CLI_DEFAULT_URL, CLI_DEFAULT_TIMEOUT_MS);
	help_action_names(f);
	fprintf(f, "\nExit status: 0 success, 1 server or connection error, "
		   "2 usage or argument error.\n");
}

static void help_action(FILE *f, const struct action *a)
{
	char buf[1024];

	fprintf(f, "%s %s  -> %s\n    %s\n", a->tool, a->name, a->method, a->summary);
	action_args_text(a, buf, sizeof(buf));
	fprintf(f, "    ids:  %s\n", buf[0] ? buf : "(none)");
	action_data_fields(a, buf, sizeof(buf));
	fprintf(f, "    data: %s\n", buf);
	fprintf(f, "    e.g.  flowctl call %s '%s'\n", a->tool, a->example);
}

static void help_call(FILE *f)
{
	fprintf(f, "usage: flowctl call TOOL JSON\n\n"
		   "TOOL is %s or %s; JSON is the MCP tool argument object\n"
		   "{\"action\": ..., \"projectId\": ..., \"ticketId\": ..., \"taskId\": ...,\n"
		   " \"queueId\": ..., \"itemId\": ..., \"data\": {...}}, or - to read it from "
		   "stdin.\n"
		   "Ids are positive integers (numbers or numeric strings). The result JSON goes\n"
		   "to stdout; errors go to stderr as {\"error\": {\"code\": ..., \"message\": "
		   "...}}\n"
		   "with exit status 1 (server/connection) or 2 (bad arguments).\n\nActions:\n\n",
		ACTION_TOOL_PROJECT, ACTION_TOOL_FLOW);
	for (const struct action *a = action_table; a->tool != NULL; a++) {
		help_action(f, a);
		fputc('\n', f);
	}
}

/* help for argv[0]: a command, "call", or an action name. */
static int help_topic(struct cli_env *env, int argc, char **argv)
{
	int words = 0;
	const struct cli_cmd *cmd = find_command(argc, argv, &words);
	bool found = false;

	if (strcmp(argv[0], "call") == 0) {
		help_call(stdout);
		return 0;
	}
	if (cmd != NULL) {
		printf("usage: flowctl %s %s\n    %s\n", cmd->name, cmd->usage, cmd->help);
		return 0;
	}
	for (const struct action *a = action_table; a->tool != NULL; a++) {
		if (strcmp(a->name, argv[0]) == 0) {
			help_action(stdout, a);
			found = true;
		}
	}
	return found ? 0 : usage_error(env, "no help for \"%s\" (see flowctl --help)", argv[0]);
}

static int cmd_help(struct cli_env *env, int argc, char **argv)
{
	if (argc == 0) {
		cli_help(stdout);
		return 0;
	}
	return help_topic(env, argc, argv);
}
