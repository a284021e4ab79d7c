/* upkeep.c - rescue, history prune, idle workers. See upkeep.h; the
 * functions called are in migrations/0004_queue_engine.sql. */
#include "store/upkeep.h"

#include <stddef.h>

#include "status.h"
#include "store/store.h"

static struct store_stmt st_rescue = {
	"upkeep_rescue",
	"SELECT requeued, dead FROM flow_rescue($1::int, $2::int, $3::int)",
	3,
	0,
};

static struct store_stmt st_prune = {
	"upkeep_prune",
	"SELECT flow_prune($1::int, $2::int) AS pruned",
	2,
	0,
};

static struct store_stmt st_forget = {
	"upkeep_forget_workers",
	"WITH d AS (DELETE FROM workers"
	"           WHERE last_seen_at < now() - make_interval(secs => $1::int) RETURNING 1)"
	" SELECT count(*) AS removed FROM d",
	1,
	0,
};

/* Runs st with the n int parameters v; its one row goes to *res. */
static int run_ints(struct flow_req *r, struct store_stmt *st, const int *v, int n, PGresult **res)
{
	const char *p[3] = { NULL, NULL, NULL };

	for (int i = 0; i < n; i++)
		if ((p[i] = store_p_int(r, v[i])) == NULL)
			return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return store_exec_row(r, st, p, "upkeep statement returned no row", res);
}

int store_upkeep_rescue(struct flow_req *r, int limit, int base_ms, int max_ms, int64_t *requeued,
			int64_t *dead)
{
	const int v[3] = { limit, base_ms, max_ms };
	PGresult *res;
	int rv;

	if ((rv = run_ints(r, &st_rescue, v, 3, &res)) != FLOW_OK)
		return rv;
	*requeued = store_i64(res, 0, "requeued");
	*dead = store_i64(res, 0, "dead");
	PQclear(res);
	return FLOW_OK;
}

int store_upkeep_prune(struct flow_req *r, int retention_s, int limit, int64_t *pruned)
{
	const int v[2] = { retention_s, limit };
	PGresult *res;
	int rv;

	if ((rv = run_ints(r, &st_prune, v, 2, &res)) != FLOW_OK)
		return rv;
	*pruned = store_i64(res, 0, "pruned");
	PQclear(res);
	return FLOW_OK;
}

int store_upkeep_forget_workers(struct flow_req *r, int idle_s, int64_t *removed)
{
	const int v[1] = { idle_s };
	PGresult *res;
	int rv;

	if ((rv = run_ints(r, &st_forget, v, 1, &res)) != FLOW_OK)
		return rv;
	*removed = store_i64(res, 0, "removed");
	PQclear(res);
	return FLOW_OK;
}
