/*
 * cli.c - flowctl's command table, argument parsing, dispatch and help, and
 * the project/ticket/queue commands (the auth commands are in cli_auth.c).
 *
 * The command table drives parsing, dispatch and help; each command turns
 * its arguments into a tool argument object, runs it with call_run and
 * prints the result with a column table (lists) or a field list (one
 * object; table.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "call.h"
#include "cli_auth.h"
#include "cli_cmd.h"
#include "cli_ops.h"
#include "mcp.h"
#include "status.h"
#include "table.h"

/* clang-format off */
static const struct table_col project_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "NAME", "name", K_TEXT, 30 },
	{ "PATH", "path", K_TEXT, 40 }, { "DESCRIPTION", "description", K_TEXT, 50 },
	END_COLUMNS,
};
static const struct table_col project_fields[] = {
	{ "Project", "id", K_TEXT, 0 }, { "Name", "name", K_TEXT, 0 },
	{ "Path", "path", K_TEXT, 0 }, { "Description", "description", K_TEXT, 0 },
	{ "Created", "created", K_TIME, 0 }, { "Updated", "updated", K_TIME, 0 },
	END_COLUMNS,
};
static const struct table_col ticket_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "TITLE", "title", K_TEXT, 50 },
	{ "STATUS", "status", K_TEXT, 12 }, { "PRIORITY", "priority", K_PRIORITY, 10 },
	{ "TAGS", "tags", K_LIST, 30 },
	END_COLUMNS,
};
static const struct table_col ticket_fields[] = {
	{ "Ticket", "id", K_TEXT, 0 }, { "Project", "projectId", K_TEXT, 0 },
	{ "Title", "title", K_TEXT, 0 }, { "Status", "status", K_TEXT, 0 },
	{ "Priority", "priority", K_PRIORITY, 0 }, { "Tags", "tags", K_LIST, 0 },
	{ "Suggested files", "suggestedFileIds", K_LIST, 0 },
	{ "Suggested agents", "suggestedAgentIds", K_LIST, 0 },
	{ "Created", "created", K_TIME, 0 }, { "Updated", "updated", K_TIME, 0 },
	END_COLUMNS,
};
static const struct table_col task_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "ORDER", "orderIndex", K_TEXT, 0 },
	{ "CONTENT", "content", K_TEXT, 50 }, { "STATUS", "status", K_TEXT, 12 },
	{ "DONE", "done", K_BOOL, 0 }, { "HOURS", "estimatedHours", K_TEXT, 0 },
	{ "AGENT", "agentId", K_TEXT, 30 },
	END_COLUMNS,
};
static const struct table_col queue_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "NAME", "name", K_TEXT, 40 },
	{ "ACTIVE", "isActive", K_BOOL, 0 }, { "PARALLEL", "maxParallelItems", K_TEXT, 0 },
	{ "LEASE_S", "leaseSeconds", K_TEXT, 0 }, { "ATTEMPTS", "maxAttempts", K_TEXT, 0 },
	{ "DESCRIPTION", "description", K_TEXT, 40 },
	END_COLUMNS,
};
static const struct table_col summary_cols[] = {
	{ "ID", "queueId", K_TEXT, 0 }, { "NAME", "name", K_TEXT, 40 },
	{ "ACTIVE", "isActive", K_BOOL, 0 }, { "QUEUED", "queued", K_TEXT, 0 },
	{ "IN_PROGRESS", "inProgress", K_TEXT, 0 }, { "COMPLETED", "completed", K_TEXT, 0 },
	{ "FAILED", "failed", K_TEXT, 0 },
	END_COLUMNS,
};
static const struct table_col stats_fields[] = {
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
static const struct table_col next_fields[] = {
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

int cli_report(const struct cli_env *env, const struct call_error *e)
{
	if (env->json)
		return call_report_error(e);
	if (e->usage)
		fprintf(stderr, "flowctl: %s\n", e->message);
	else
		fprintf(stderr, "flowctl: %s: %s\n", status_name(e->code), e->message);
	return call_exit_status(e);
}

int cli_run_action(struct cli_env *env, const char *tool, json_t *args, json_t **result)
{
	struct call_error e;
	int rc;

	if (args == NULL)
		return cli_fail(env, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rc = call_run(&env->call, tool, args, result, &e);
	json_decref(args);
	return rc == FLOW_OK ? 0 : cli_report(env, &e);
}

bool cli_json_mode(const struct cli_env *env, const json_t *result)
{
	if (env->json)
		call_print_json(stdout, result);
	return env->json;
}

int cli_usage_error(const struct cli_env *env, const char *fmt, ...)
{
	struct call_error e;
	va_list ap;

	call_usage_error(&e, "%s", "");
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	return cli_report(env, &e);
}

int cli_fail(const struct cli_env *env, int code, const char *fmt, ...)
{
	struct call_error e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	return cli_report(env, &e);
}

int cli_opt_number(const struct cli_env *env, const char *opt, const char *v, long min, long max,
		   json_int_t *out)
{
	char *end = NULL;
	long n = 0;

	errno = 0;
	if (v != NULL && v[0] >= '0' && v[0] <= '9')
		n = strtol(v, &end, 10);
	if (end == NULL || *end != '\0' || errno != 0 || n < min || n > max)
		return cli_usage_error(env,
				       "%s: expected a whole number from %ld to %ld, got \"%.40s\"",
				       opt, min, max, v ? v : "");
	*out = (json_int_t)n;
	return 0;
}

void cli_print_queue_stats(const json_t *stats)
{
	table_fields(stats, stats_fields);
}

/* ---- commands ---- */

static int cmd_projects(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = cli_run_action(env, ACTION_TOOL_PROJECT, json_pack("{s:s}", "action", "list"), &r);

	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "projects"), project_cols, "No projects.");
	json_decref(r);
	return st;
}

static int cmd_project_create(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	json_t *args = json_pack("{s:s, s:{s:s, s:s*, s:s*}}", "action", "create", "data", "name",
				 a->pos[0], "path", a->opt[OPT_PATH], "description",
				 a->opt[OPT_DESCRIPTION]);
	int st = cli_run_action(env, ACTION_TOOL_PROJECT, args, &r);

	if (st == 0 && !cli_json_mode(env, r))
		table_fields(r, project_fields);
	json_decref(r);
	return st;
}

static void print_overview(const json_t *r)
{
	table_fields(json_object_get(r, "project"), project_fields);
	printf("Tickets: %" JSON_INTEGER_FORMAT " open, %" JSON_INTEGER_FORMAT
	       " in progress, %" JSON_INTEGER_FORMAT " closed\n",
	       json_integer_value(json_object_get(r, "openTicketCount")),
	       json_integer_value(json_object_get(r, "inProgressTicketCount")),
	       json_integer_value(json_object_get(r, "closedTicketCount")));
	printf("\nOpen tickets:\n");
	table_print(json_object_get(r, "openTickets"), ticket_cols, "None.");
	printf("\nQueues:\n");
	table_print(json_object_get(r, "queues"), summary_cols, "None.");
}

static int cmd_overview(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = cli_run_action(env, ACTION_TOOL_PROJECT,
			    json_pack("{s:s, s:s}", "action", "overview", "projectId", a->pos[0]),
			    &r);

	if (st == 0 && !cli_json_mode(env, r))
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
		return cli_usage_error(env, "tickets needs -p PROJECT_ID");
	args = json_pack("{s:s, s:s, s:{s:s*}}", "action", "tickets_list", "projectId",
			 a->opt[OPT_PROJECT], "data", "status", a->opt[OPT_STATUS]);
	st = cli_run_action(env, ACTION_TOOL_FLOW, args, &r);
	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "tickets"), ticket_cols, "No tickets.");
	json_decref(r);
	return st;
}

static json_t *by_ticket(const char *action, const char *ticket_id)
{
	return json_pack("{s:s, s:s}", "action", action, "ticketId", ticket_id);
}

static void print_ticket(const json_t *ticket, const json_t *tasks)
{
	table_fields(ticket, ticket_fields);
	table_text("Overview", json_string_value(json_object_get(ticket, "overview")));
	printf("\nTasks:\n");
	table_print(json_object_get(tasks, "tasks"), task_cols, "None.");
}

static int cmd_ticket_show(struct cli_env *env, const struct cli_args *a)
{
	json_t *t = NULL, *tasks = NULL;
	int st = cli_run_action(env, ACTION_TOOL_FLOW, by_ticket("tickets_get", a->pos[0]), &t);

	if (st == 0)
		st = cli_run_action(env, ACTION_TOOL_FLOW, by_ticket("tasks_list", a->pos[0]), &tasks);
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
	int st = cli_run_action(env, ACTION_TOOL_FLOW, by_ticket("tasks_list", a->pos[0]), &r);

	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "tasks"), task_cols, "No tasks.");
	json_decref(r);
	return st;
}

static int cmd_queues(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st;

	if (a->opt[OPT_PROJECT] == NULL)
		return cli_usage_error(env, "queues needs -p PROJECT_ID");
	st = cli_run_action(env, ACTION_TOOL_FLOW,
			json_pack("{s:s, s:s}", "action", "queues_list", "projectId",
				  a->opt[OPT_PROJECT]),
			&r);
	if (st == 0 && !cli_json_mode(env, r))
		table_print(json_object_get(r, "queues"), queue_cols, "No queues.");
	json_decref(r);
	return st;
}

static int cmd_queue_stats(struct cli_env *env, const struct cli_args *a)
{
	json_t *r = NULL;
	int st = cli_run_action(env, ACTION_TOOL_FLOW,
			    json_pack("{s:s, s:s}", "action", "queues_get_stats", "queueId",
				      a->pos[0]),
			    &r);

	if (st == 0 && !cli_json_mode(env, r))
		cli_print_queue_stats(r);
	json_decref(r);
	return st;
}

static int queue_set_active(struct cli_env *env, const char *queue_id, bool active)
{
	json_t *r = NULL;
	int st = cli_run_action(env, ACTION_TOOL_FLOW,
			    json_pack("{s:s, s:s, s:{s:b}}", "action", "queues_update", "queueId",
				      queue_id, "data", "isActive", active),
			    &r);

	if (st == 0 && !cli_json_mode(env, r))
		printf("Queue %" JSON_INTEGER_FORMAT " (%s) %s.\n",
		       json_integer_value(json_object_get(r, "id")),
		       table_str(r, "name", ""),
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
	int st = cli_run_action(env, ACTION_TOOL_FLOW,
			    json_pack("{s:s, s:{s:[s]}}", "action", action, "data", "queueItemIds",
				      item_id),
			    &r);
	size_t i;

	if (st == 0 && !cli_json_mode(env, r))
		json_array_foreach(json_object_get(r, "items"), i, it)
			printf("Item %" JSON_INTEGER_FORMAT ": %s.\n",
			       json_integer_value(json_object_get(it, "id")),
			       table_str(it, "status", "?"));
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
	int st = cli_run_action(env, ACTION_TOOL_FLOW, args, &r);

	if (st != 0 || cli_json_mode(env, r)) {
		json_decref(r);
		return st;
	}
	if (json_is_true(json_object_get(r, "found")))
		table_fields(r, next_fields);
	else
		printf("Nothing to do: %s\n",
		       table_str(r, "message", "queue is empty"));
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
	int opt_pos; /* optional positional arguments after the npos required */
};

static int cmd_call(struct cli_env *env, int argc, char **argv);
static int cmd_mcp(struct cli_env *env, int argc, char **argv);
static int cmd_help(struct cli_env *env, int argc, char **argv);
static int cmd_version(struct cli_env *env, int argc, char **argv);

#define O(slot) (1u << (slot))

/* clang-format off */
static const struct cli_cmd commands[] = {
	{ "projects", "", "List projects.", 0, 0, cmd_projects, NULL, 0 },
	{ "project create", "NAME [--path P] [--description D]", "Create a project.", 1,
	  O(OPT_PATH) | O(OPT_DESCRIPTION), cmd_project_create, NULL, 0 },
	{ "overview", "PROJECT_ID", "Ticket counts, open tickets and queues of a project.", 1, 0,
	  cmd_overview, NULL, 0 },
	{ "tickets", "-p PROJECT_ID [--status S]", "List a project's tickets.", 0,
	  O(OPT_PROJECT) | O(OPT_STATUS), cmd_tickets, NULL, 0 },
	{ "ticket show", "TICKET_ID", "Show a ticket and its tasks.", 1, 0, cmd_ticket_show, NULL, 0 },
	{ "tasks", "TICKET_ID", "List a ticket's tasks.", 1, 0, cmd_tasks, NULL, 0 },
	{ "queues", "-p PROJECT_ID", "List a project's queues.", 0, O(OPT_PROJECT), cmd_queues, NULL, 0 },
	{ "queue stats", "QUEUE_ID", "Item counts, agents and timings of a queue.", 1, 0,
	  cmd_queue_stats, NULL, 0 },
	{ "queue watch", "QUEUE_ID [--interval MS]",
	  "Show a queue's progress until it drains (exit 0; Ctrl-C: 130).", 1, O(OPT_INTERVAL),
	  cli_ops_queue_watch, NULL, 0 },
	{ "queue pause", "QUEUE_ID", "Stop handing out the queue's items.", 1, 0, cmd_queue_pause, NULL, 0 },
	{ "queue resume", "QUEUE_ID", "Hand out the queue's items again.", 1, 0, cmd_queue_resume, NULL, 0 },
	{ "item retry", "ITEM_ID", "Queue a failed or dead item again (queue_items_retry).", 1, 0,
	  cmd_item_retry, NULL, 0 },
	{ "item cancel", "ITEM_ID", "Cancel a queued or running item (queue_items_cancel).", 1, 0,
	  cmd_item_cancel, NULL, 0 },
	{ "next", "QUEUE_ID [--agent A]", "Claim the next item of a queue (processor_get_next).", 1,
	  O(OPT_AGENT), cmd_next, NULL, 0 },
	{ "workers", "[--all] [--seen-within S]",
	  "Connected workers, their agents and running items (admin).", 0,
	  O(OPT_ALL) | O(OPT_SEEN_WITHIN), cli_ops_workers, NULL, 0 },

	/* authentication and administration: cli_auth.c */
	{ "login", "[USERNAME] [--password-stdin]",
	  "Log in and save the tokens (password prompted, or one line on stdin).", 0,
	  O(OPT_PASSWORD_STDIN), cli_auth_login, NULL, 1 },
	{ "logout", "", "Revoke the saved login at the server and remove it.", 0, 0,
	  cli_auth_logout, NULL, 0 },
	{ "whoami", "", "Who the token in use belongs to.", 0, 0, cli_auth_whoami, NULL, 0 },
	{ "user list", "", "List users and service accounts (admin).", 0, 0, cli_auth_user_list,
	  NULL, 0 },
	{ "user create", "NAME --role ROLE [--service-account] [--password-stdin]",
	  "Create a user (password prompted twice) or a service account (admin).", 1,
	  O(OPT_ROLE) | O(OPT_SERVICE_ACCOUNT) | O(OPT_PASSWORD_STDIN), cli_auth_user_create, NULL, 0 },
	{ "user disable", "NAME", "Disable a user; revokes its tokens (admin).", 1, 0,
	  cli_auth_user_disable, NULL, 0 },
	{ "user enable", "NAME", "Enable a disabled user (admin).", 1, 0, cli_auth_user_enable, NULL, 0 },
	{ "user role", "NAME ROLE", "Change a user's role (admin).", 2, 0, cli_auth_user_role, NULL, 0 },
	{ "user unlock", "NAME", "Clear a user's login lockout (admin).", 1, 0, cli_auth_user_unlock,
	  NULL, 0 },
	{ "user revoke-tokens", "NAME", "Revoke every token of a user (admin).", 1, 0,
	  cli_auth_user_revoke_tokens, NULL, 0 },
	{ "user set-password", "NAME [--password-stdin]",
	  "Set a user's password (admin; prompted twice).", 1, O(OPT_PASSWORD_STDIN),
	  cli_auth_user_set_password, NULL, 0 },
	{ "user passwd", "[--password-stdin]",
	  "Change your password (prompted; stdin: old and new, one line each).", 0,
	  O(OPT_PASSWORD_STDIN), cli_auth_user_passwd, NULL, 0 },
	{ "key create", "USER [--name N] [--expires-days D]",
	  "Create an API key for USER; printed this once only (admin).", 1,
	  O(OPT_NAME) | O(OPT_EXPIRES_DAYS), cli_auth_key_create, NULL, 0 },
	{ "key list", "[USER]", "List API keys, all or USER's (admin).", 0, 0, cli_auth_key_list,
	  NULL, 1 },
	{ "key revoke", "KEY_ID", "Revoke an API key (admin).", 1, 0, cli_auth_key_revoke, NULL, 0 },
	{ "member add", "PROJECT_ID USER [--role owner|member]", "Add a user to a project.", 2,
	  O(OPT_ROLE), cli_auth_member_add, NULL, 0 },
	{ "member remove", "PROJECT_ID USER", "Remove a user from a project.", 2, 0,
	  cli_auth_member_remove, NULL, 0 },
	{ "member list", "PROJECT_ID", "List a project's members.", 1, 0, cli_auth_member_list, NULL, 0 },
	{ "audit", "[--limit N] [--actor A] [--action X] [--before ID]",
	  "The audit log, newest first (admin).", 0,
	  O(OPT_LIMIT) | O(OPT_ACTOR) | O(OPT_ACTION) | O(OPT_BEFORE), cli_auth_audit, NULL, 0 },

	{ "call", "TOOL JSON", "Run an MCP tool call; JSON result (see flowctl help call).", -1, 0,
	  NULL, cmd_call, 0 },
	{ "mcp", "", "MCP server on stdin/stdout for AI clients (see docs/mcp.md).", -1, 0, NULL,
	  cmd_mcp, 0 },
	{ "help", "[COMMAND | call | ACTION]", "Show help.", -1, 0, NULL, cmd_help, 0 },
	{ "version", "", "Print the version.", -1, 0, NULL, cmd_version, 0 },
	{ NULL, NULL, NULL, 0, 0, NULL, NULL, 0 },
};

struct cli_opt_def {
	const char *long_name;
	char short_name;
	enum opt_slot slot;
	bool flag; /* takes no value */
};

static const struct cli_opt_def opt_defs[] = {
	{ "--project", 'p', OPT_PROJECT, false }, { "--status", 's', OPT_STATUS, false },
	{ "--path", 0, OPT_PATH, false }, { "--description", 'd', OPT_DESCRIPTION, false },
	{ "--agent", 'a', OPT_AGENT, false }, { "--role", 0, OPT_ROLE, false }, { "--name", 0, OPT_NAME, false },
	{ "--expires-days", 0, OPT_EXPIRES_DAYS, false }, { "--limit", 0, OPT_LIMIT, false },
	{ "--actor", 0, OPT_ACTOR, false }, { "--action", 0, OPT_ACTION, false }, { "--before", 0, OPT_BEFORE, false },
	{ "--password-stdin", 0, OPT_PASSWORD_STDIN, true },
	{ "--service-account", 0, OPT_SERVICE_ACCOUNT, true },
	{ "--interval", 0, OPT_INTERVAL, false }, { "--seen-within", 0, OPT_SEEN_WITHIN, false },
	{ "--all", 0, OPT_ALL, true },
	{ NULL, 0, OPT_COUNT, false },
};

/* Options that would put a secret in argv, and what to do instead. */
static const struct {
	const char *name;
	const char *instead;
} secret_opts[] = {
	{ "--password", "type it at the prompt, or pipe it in with --password-stdin" },
	{ "--passwd", "type it at the prompt, or pipe it in with --password-stdin" },
	{ "--token", "set FLOW_TOKEN, or run flowctl login" },
	{ "--access-token", "set FLOW_TOKEN, or run flowctl login" },
	{ "--refresh-token", "run flowctl login" },
	{ "--api-key", "set FLOW_API_KEY" },
	{ NULL, NULL },
};
/* clang-format on */

const char *cli_secret_option(const char *arg)
{
	for (int i = 0; secret_opts[i].name != NULL; i++) {
		size_t n = strlen(secret_opts[i].name);

		if (strncmp(arg, secret_opts[i].name, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
			return secret_opts[i].instead;
	}
	return NULL;
}

/* An option's name without any "=value" (which may be a secret). */
static int opt_name_len(const char *arg)
{
	return (int)strcspn(arg, "=");
}

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
	const char *val, *instead;
	const struct cli_opt_def *d;

	if (strcmp(argv[*i], "--json") == 0) {
		env->json = true;
		return 0;
	}
	if ((instead = cli_secret_option(argv[*i])) != NULL)
		return cli_usage_error(env, "%s: there is no %.*s option: flowctl never takes "
					    "passwords or tokens on the command line, where other "
					    "local users can read them (ps) and shells keep them in "
					    "their history; %s",
				       cmd->name, opt_name_len(argv[*i]), argv[*i], instead);
	d = find_opt(argv[*i], &val);
	if (d == NULL || !(cmd->opts & O(d->slot)))
		return cli_usage_error(env, "%s: unknown option %.*s (usage: flowctl %s %s)",
				       cmd->name, opt_name_len(argv[*i]), argv[*i], cmd->name,
				       cmd->usage);
	if (d->flag && val != NULL)
		return cli_usage_error(env, "%s: option %s takes no value", cmd->name,
				       d->long_name);
	if (d->flag) {
		a->opt[d->slot] = "";
		return 0;
	}
	if (val == NULL && *i + 1 >= argc)
		return cli_usage_error(env, "%s: option %s needs a value", cmd->name, argv[*i]);
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
	if (a->npos < cmd->npos || a->npos > cmd->npos + cmd->opt_pos)
		return cli_usage_error(env, "usage: flowctl %s %s", cmd->name, cmd->usage);
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
		cli_usage_error(env, "unknown command \"%s%s%s\"; try: %s", argv[0],
			    argc > 1 ? " " : "", argc > 1 ? argv[1] : "", subs);
	else
		cli_usage_error(env, "unknown command \"%s\" (see flowctl --help)", argv[0]);
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

static void (*on_closing)(int status);

void cli_on_closing(void (*fn)(int status))
{
	on_closing = fn;
}

int cli_run(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_env env = { { o->url, o->timeout_ms, o->token, NULL, NULL }, o->json };
	int st = dispatch(&env, argc, argv);

	if (fflush(stdout) != 0 && st == 0) {
		fprintf(stderr, "flowctl: cannot write the output\n");
		st = CALL_EXIT_FAILED;
	}
	if (on_closing != NULL)
		on_closing(st);
	call_ctx_close(&env.call);
	return st;
}

/* ---- call, help, version ---- */

static int cmd_call(struct cli_env *env, int argc, char **argv)
{
	return call_command(&env->call, argc, argv);
}

static int cmd_mcp(struct cli_env *env, int argc, char **argv)
{
	return mcp_command(&env->call, argc, argv);
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
		if (strlen(left) > 50) /* its own line */
			fprintf(f, "  %s\n  %-50s %s\n", left, "", c->help);
		else
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
		   "  -h, --help     this help; flowctl help COMMAND for one command\n"
		   "\nCredentials (never on the command line), first that is set:\n"
		   "  FLOW_TOKEN (access token or API key), FLOW_API_KEY, else the login saved\n"
		   "  by flowctl login for the URL in $FLOW_CREDENTIALS, else\n"
		   "  $XDG_CONFIG_HOME/flowd/credentials.json or ~/.config/flowd/credentials.json\n",
		CLI_DEFAULT_URL, CLI_DEFAULT_TIMEOUT_MS);
	help_action_names(f);
	fprintf(f, "\nExit status: 0 success, 1 server or connection error, "
		   "2 usage or argument error,\n130 interrupted (Ctrl-C in queue watch).\n"
		   "\nColor: only on a terminal, never when NO_COLOR is set (non-empty) or "
		   "TERM=dumb.\n");
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
	char tools[256];

	action_tools_text(tools, sizeof(tools));
	fprintf(f, "usage: flowctl call TOOL JSON\n\n"
		   "TOOL is one of %s; JSON is the MCP tool argument object\n"
		   "{\"action\": ..., \"projectId\": ..., \"ticketId\": ..., \"taskId\": ...,\n"
		   " \"queueId\": ..., \"itemId\": ..., \"data\": {...}}, or - to read it from "
		   "stdin.\n"
		   "Ids are positive integers (numbers or numeric strings). The result JSON goes\n"
		   "to stdout; errors go to stderr as {\"error\": {\"code\": ..., \"message\": "
		   "...}}\n"
		   "with exit status 1 (server/connection) or 2 (bad arguments). Passwords and\n"
		   "tokens are never taken in JSON arguments.\n\nActions:\n\n",
		tools);
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
	return found ? 0 : cli_usage_error(env, "no help for \"%s\" (see flowctl --help)", argv[0]);
}

static int cmd_help(struct cli_env *env, int argc, char **argv)
{
	if (argc == 0) {
		cli_help(stdout);
		return 0;
	}
	return help_topic(env, argc, argv);
}
