/*
 * seed.c - what the modes work on: a project and a queue (RPC), tickets
 * and tasks (libpq, one statement each), the bulk enqueue (RPC), and
 * finished history rows (libpq).
 *
 * Tickets and tasks are inserted with SQL because creating 200,000 tasks
 * one CreateTask call at a time would take longer than the drain they are
 * for; the enqueue, which is what the benchmark times, goes through flowd.
 * Inserting runs with session_replication_role = replica when the role may
 * set it (a superuser, as scripts/pg.sh's): the per-row task triggers then
 * do not run. For new pending tasks they would change nothing (a ticket
 * with only pending tasks stays open), so the rows are the same either way.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/model.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "status.h"

int seed_project_queue(struct env *e, const char *agent, struct seed *s)
{
	Flow__V1__CreateProjectRequest cp = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__CreateQueueRequest cq = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct rpc_status st;

	memset(s, 0, sizeof(*s));
	cp.name = "bench";
	cp.path = "/tmp/bench";
	if (env_call(e, 0, "/flow.v1.ProjectManager/CreateProject", &cp.base, &resp, &st) !=
	    FLOW_OK) {
		fprintf(stderr, "flow-bench: CreateProject: %s\n", st.message);
		return -1;
	}
	s->project_id = ((Flow__V1__Project *)resp)->id;
	protobuf_c_message_free_unpacked(resp, NULL);
	cq.has_project_id = 1;
	cq.project_id = s->project_id;
	cq.name = "bench";
	cq.has_max_parallel_items = 1;
	cq.max_parallel_items = 10000; /* the largest: never the limit here */
	cq.default_agent_id = (char *)agent;
	if (env_call(e, 0, "/flow.v1.FlowManager/CreateQueue", &cq.base, &resp, &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: CreateQueue: %s\n", st.message);
		return -1;
	}
	s->queue_id = ((Flow__V1__Queue *)resp)->id;
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/* Triggers off for this session when allowed; true when they are. */
static bool triggers_off(struct env *e)
{
	PGresult *res = PQexec(e->pg, "SET session_replication_role = replica");
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	return ok;
}

static void triggers_on(struct env *e)
{
	PQclear(PQexec(e->pg, "RESET session_replication_role"));
}

/* Runs sql with params; the first column of every row into *ids (malloc'd). */
static int query_ids(struct env *e, const char *sql, int n, const char *const *params,
		     int64_t **ids, long *count)
{
	PGresult *res = env_query(e, sql, n, params);
	long rows;

	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	*ids = calloc(rows ? (size_t)rows : 1, sizeof(**ids));
	if (*ids == NULL) {
		PQclear(res);
		return -1;
	}
	for (long i = 0; i < rows; i++)
		(*ids)[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
	*count = rows;
	PQclear(res);
	return 0;
}

/* "{1,2,3}" for ids[0..n). */
static char *id_array(const int64_t *ids, long n)
{
	size_t cap = (size_t)n * 21 + 3, off = 1;
	char *s = malloc(cap);

	if (s == NULL)
		return NULL;
	s[0] = '{';
	for (long i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "%s%" PRId64, i ? "," : "", ids[i]);
	snprintf(s + off, cap - off, "}");
	return s;
}

int seed_tickets(struct env *e, struct seed *s, long items, long per_ticket, const char *agent)
{
	char proj[32], nt[32], nk[32], *arr;
	long tickets = (items + per_ticket - 1) / per_ticket;
	bool off;
	int rv = -1;

	snprintf(proj, sizeof(proj), "%" PRId64, s->project_id);
	snprintf(nt, sizeof(nt), "%ld", tickets);
	snprintf(nk, sizeof(nk), "%ld", per_ticket - 1);
	free(s->tickets);
	free(s->tasks);
	s->tickets = s->tasks = NULL;
	off = triggers_off(e);
	if (env_sql(e, "BEGIN") != 0)
		goto out;
	{
		const char *p[] = { proj, nt };

		if (query_ids(
			e,
			"INSERT INTO tickets (project_id, title, priority) "
			"SELECT $1, 'bench ticket ' || g, 5 FROM generate_series(1, $2::int) g "
			"ORDER BY g RETURNING id",
			2, p, &s->tickets, &s->n_tickets) != 0)
			goto out_rollback;
	}
	if ((arr = id_array(s->tickets, s->n_tickets)) == NULL)
		goto out_rollback;
	{
		const char *p[] = { arr, nk, agent };

		rv = query_ids(e,
			       "INSERT INTO tasks (ticket_id, content, agent_id, order_index) "
			       "SELECT t.id, 'bench task ' || k, $3, k "
			       "FROM unnest($1::bigint[]) AS t(id), generate_series(1, $2::int) k "
			       "ORDER BY t.id, k RETURNING id",
			       3, p, &s->tasks, &s->n_tasks);
	}
	free(arr);
	if (rv != 0)
		goto out_rollback;
	rv = env_sql(e, "COMMIT");
	s->items = s->n_tickets * per_ticket;
	goto out;
out_rollback:
	rv = -1;
	env_sql(e, "ROLLBACK");
out:
	if (off)
		triggers_on(e);
	return rv;
}

int seed_enqueue_tickets(struct env *e, struct seed *s, double *secs)
{
	struct rpc_client_opts o = { .deadline_ms = 60000, .token = e->token };
	struct rpc_status st;
	rpc_client *c;
	long got = 0;
	double t0;
	int rv = 0;

	if (rpc_client_open(e->flowd[0].url, &o, &c, &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: %s\n", st.message);
		return -1;
	}
	t0 = stats_mono_s();
	for (long i = 0; i < s->n_tickets && rv == 0 && !bench_interrupted; i++) {
		Flow__V1__EnqueueTicketRequest q = FLOW__V1__ENQUEUE_TICKET_REQUEST__INIT;
		Flow__V1__EnqueueResponse *r = NULL;

		q.has_queue_id = q.has_ticket_id = q.has_include_tasks = 1;
		q.queue_id = s->queue_id;
		q.ticket_id = s->tickets[i];
		q.include_tasks = 1;
		if (rpc_client_call(c, "/flow.v1.FlowManager/EnqueueTicket", &q.base, NULL,
				    (ProtobufCMessage **)&r, &st) != FLOW_OK) {
			fprintf(stderr, "flow-bench: EnqueueTicket: %s\n", st.message);
			rv = -1;
			break;
		}
		got += (long)r->n_items;
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	*secs = stats_mono_s() - t0;
	rpc_client_close(c);
	if (rv == 0 && got != s->items) {
		fprintf(stderr, "flow-bench: enqueued %ld items, expected %ld\n", got, s->items);
		rv = -1;
	}
	return bench_interrupted ? -1 : rv;
}

int seed_history(struct env *e, struct seed *s, long n, double *secs)
{
	char proj[32], nt[32], nn[32], q[32], *arr;
	int64_t *tickets = NULL;
	long n_tickets = 0, tickets_needed = (n + 99) / 100;
	double t0 = stats_mono_s();
	bool off;
	int rv = -1;

	snprintf(proj, sizeof(proj), "%" PRId64, s->project_id);
	snprintf(nt, sizeof(nt), "%ld", tickets_needed);
	snprintf(nn, sizeof(nn), "%ld", n);
	snprintf(q, sizeof(q), "%" PRId64, s->queue_id);
	off = triggers_off(e);
	if (!off)
		report_note("growth: cannot turn triggers off (not a superuser); inserting "
			    "history with them");
	if (env_sql(e, "BEGIN") != 0)
		goto out;
	{
		const char *p[] = { proj, nt };

		if (query_ids(e,
			      "INSERT INTO tickets (project_id, title, status, priority) "
			      "SELECT $1, 'history ticket ' || g, 'closed', 5 "
			      "FROM generate_series(1, $2::int) g ORDER BY g RETURNING id",
			      2, p, &tickets, &n_tickets) != 0)
			goto out_rollback;
	}
	if ((arr = id_array(tickets, n_tickets)) == NULL)
		goto out_rollback;
	{
		/* 100 completed tasks per closed ticket, each with its completed
		 * task item, finished over the last 6 days (inside any retention) */
		const char *p[] = { arr, nn, q };
		PGresult *res = PQexecParams(
		    e->pg,
		    "WITH k AS ("
		    " INSERT INTO tasks (ticket_id, content, status, done, agent_id, order_index,"
		    "                    completion_notes)"
		    " SELECT t.id, 'history task ' || g, 'completed', true, 'noop', g, 'noop'"
		    " FROM unnest($1::bigint[]) AS t(id), generate_series(1, 100) g"
		    " ORDER BY t.id, g LIMIT $2::int"
		    " RETURNING id, ticket_id)"
		    " INSERT INTO queue_items (queue_id, ticket_id, task_id, priority, status,"
		    "   attempt, max_attempts, run_after, agent_id, completion_notes, enqueued_at,"
		    "   started_at, completed_at)"
		    " SELECT $3, k.ticket_id, k.id, 5, 'completed', 1, 3, x.ts, 'noop', 'noop',"
		    "   x.ts, x.ts, x.ts + interval '3 ms'"
		    " FROM k, LATERAL (SELECT now() - (k.id % 518400) * interval '1 second' AS ts) "
		    "x",
		    3, NULL, p, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_COMMAND_OK ||
		    strtol(PQcmdTuples(res), NULL, 10) != n) {
			fprintf(stderr, "flow-bench: history insert: %s (%s rows)\n",
				PQerrorMessage(e->pg), PQcmdTuples(res));
			PQclear(res);
			free(arr);
			goto out_rollback;
		}
		PQclear(res);
	}
	free(arr);
	if ((rv = env_sql(e, "COMMIT")) != 0)
		goto out;
	if (off)
		triggers_on(e);
	off = false;
	rv = env_sql(e, "VACUUM ANALYZE tickets") || env_sql(e, "VACUUM ANALYZE tasks") ||
		     env_sql(e, "VACUUM ANALYZE queue_items")
		 ? -1
		 : 0;
	goto out;
out_rollback:
	rv = -1;
	env_sql(e, "ROLLBACK");
out:
	if (off)
		triggers_on(e);
	free(tickets);
	*secs = stats_mono_s() - t0;
	return rv;
}

void seed_free(struct seed *s)
{
	free(s->tickets);
	free(s->tasks);
	memset(s, 0, sizeof(*s));
}
