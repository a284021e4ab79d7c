/*
 * cli_ops.h - flowctl's operator commands (commands of cli.c's table):
 *
 *   flowctl workers [--all] [--seen-within S]
 *	workers with their agents and the items they run (auth_manager
 *	workers_list = FlowManager.ListWorkers; admins only)
 *   flowctl queue watch QUEUE_ID [--interval MS]
 *	polls queues_get_stats and shows progress until the queue drains
 *	(nothing queued, nothing in progress); exit 0 then, 1 on a server
 *	error, 2 on a usage error, 130 on SIGINT
 *
 * Output rules of queue watch: on a terminal one line redrawn in place
 * (\r, then ESC[K), colored as term.h allows; otherwise (a pipe, a file)
 * one plain line per change of the counts, no control characters; with
 * --json one compact JSON object per poll (NDJSON, watch.h's watch_json).
 */
#ifndef FLOW_CLI_OPS_H
#define FLOW_CLI_OPS_H

#include "cli_cmd.h"

int cli_ops_workers(struct cli_env *env, const struct cli_args *a);
int cli_ops_queue_watch(struct cli_env *env, const struct cli_args *a);

#endif
