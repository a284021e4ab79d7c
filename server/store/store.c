#include "store.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "status.h"

struct store_conn {
	PGconn *pg;
	char *conninfo;
	bool prepared[STORE_MAX_STMTS];
};

static atomic_int stmt_next_id = 1;

static void notice_quiet(void *arg, const PGresult *res)
{
	(void)arg;
	log_debug("db.notice", "%s", PQresultErrorMessage(res));
}

static int connect_pg(store_conn *c, char *err, size_t errlen)
{
	PGconn *pg = PQconnectdb(c->conninfo);
	PGresult *res;
	bool ok;

	if (pg == NULL) {
		snprintf(err, errlen, "out of memory connecting to the database");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		char *nl;

		snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(pg));
		if ((nl = strrchr(err, '\n')) != NULL && nl[1] == '\0')
			*nl = '\0';
		PQfinish(pg);
		return FLOW_UNAVAILABLE;
	}
	PQsetNoticeReceiver(pg, notice_quiet, NULL);
	/*
	 * flowd's statements are short and index-driven; once a table is large
	 * their estimated cost passes jit_above_cost and PostgreSQL would compile
	 * each claim to machine code afresh, which costs far more than it saves.
	 */
	res = PQexec(pg, "SET jit = off");
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		snprintf(err, errlen, "cannot configure the database session: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return FLOW_UNAVAILABLE;
	}
	if (c->pg)
		PQfinish(c->pg);
	c->pg = pg;
	memset(c->prepared, 0, sizeof(c->prepared));
	return FLOW_OK;
}

int store_open(const char *conninfo, store_conn **out, char *err, size_t errlen)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
	store_conn *c;
	int rv;

	if (opts == NULL) {
		snprintf(err, errlen, "invalid database URL: %s", perr ? perr : "out of memory");
		PQfreemem(perr);
		return FLOW_INVALID_ARGUMENT;
	}
	PQconninfoFree(opts);
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->conninfo = strdup(conninfo)) == NULL) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	if ((rv = connect_pg(c, err, errlen)) != FLOW_OK) {
		store_close(c);
		return rv;
	}
	*out = c;
	return FLOW_OK;
}

void store_close(store_conn *c)
{
	if (c == NULL)
		return;
	if (c->pg)
		PQfinish(c->pg);
	free(c->conninfo);
	free(c);
}

PGconn *store_pg(store_conn *c)
{
	return c->pg;
}

int store_ensure(store_conn *c, char *err, size_t errlen)
{
	if (c == NULL) {
		snprintf(err, errlen, "no database connection");
		return FLOW_UNAVAILABLE;
	}
	if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK)
		return FLOW_OK;
	log_warn("db.reconnect", "database connection lost; reconnecting");
	return connect_pg(c, err, errlen);
}

int store_error_code(const char *s)
{
	if (s == NULL)
		return FLOW_UNAVAILABLE; /* no SQLSTATE: the connection failed */
	if (strcmp(s, "23505") == 0)
		return FLOW_ALREADY_EXISTS;
	if (strcmp(s, "23503") == 0 || strcmp(s, "P0002") == 0)
		return FLOW_NOT_FOUND;
	if (strncmp(s, "22", 2) == 0 || strcmp(s, "23514") == 0 || strcmp(s, "23502") == 0)
		return FLOW_INVALID_ARGUMENT;
	if (strcmp(s, "55000") == 0)
		return FLOW_FAILED_PRECONDITION;
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strcmp(s, "55P03") == 0)
		return FLOW_ABORTED;
	if (strcmp(s, "57014") == 0)
		return FLOW_DEADLINE_EXCEEDED;
	if (strncmp(s, "08", 2) == 0 || strncmp(s, "57P0", 4) == 0 || strcmp(s, "53300") == 0)
		return FLOW_UNAVAILABLE;
	if (strncmp(s, "53", 2) == 0)
		return FLOW_RESOURCE_EXHAUSTED;
	return FLOW_INTERNAL;
}

/* Records a failed result in r and returns its code. Clears res. */
static int result_error(struct flow_req *r, struct store_stmt *stmt, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int code = store_error_code(state);

	if (state == NULL || code == FLOW_UNAVAILABLE) {
		log_warn("db.unavailable", "%s: %s", stmt->name, PQerrorMessage(store_pg(r->db)));
		r->retry_after_ms = 1000;
		req_error(r, FLOW_UNAVAILABLE, "database unavailable, try again shortly");
		code = FLOW_UNAVAILABLE;
	} else if (code == FLOW_INTERNAL) {
		log_error("db.error", "%s failed: SQLSTATE %s: %s", stmt->name, state,
			  primary ? primary : "?");
		req_error(r, code, "internal database error (SQLSTATE %s)", state);
	} else {
		log_debug("db.reject", "%s: SQLSTATE %s: %s", stmt->name, state,
			  primary ? primary : "?");
		req_error(r, code, "%s", primary ? primary : "rejected by the database");
	}
	PQclear(res);
	return code;
}

static int prepare(struct flow_req *r, struct store_stmt *stmt)
{
	store_conn *c = r->db;
	PGresult *res;

	if (stmt->id == 0) {
		int expected = 0;
		int id = atomic_fetch_add(&stmt_next_id, 1);

		if (id >= STORE_MAX_STMTS)
			abort(); /* more statements than STORE_MAX_STMTS: raise it */
		__atomic_compare_exchange_n(&stmt->id, &expected, id, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
	}
	if (c->prepared[stmt->id])
		return FLOW_OK;
	res = PQprepare(c->pg, stmt->name, stmt->sql, stmt->nparams, NULL);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		return result_error(r, stmt, res);
	PQclear(res);
	c->prepared[stmt->id] = true;
	return FLOW_OK;
}

/* A usable connection with a and (if not NULL) b prepared on it. */
static int ready(struct flow_req *r, struct store_stmt *a, struct store_stmt *b)
{
	char err[256];
	int rv;

	if (store_ensure(r->db, err, sizeof(err)) != FLOW_OK) {
		r->retry_after_ms = 1000;
		return req_error(r, FLOW_UNAVAILABLE, "database unavailable, try again shortly");
	}
	if ((rv = prepare(r, a)) != FLOW_OK || (b != NULL && (rv = prepare(r, b)) != FLOW_OK))
		return rv;
	return FLOW_OK;
}

int store_exec(struct flow_req *r, struct store_stmt *stmt, const char *const *params,
	       PGresult **res)
{
	PGresult *pr;
	int rv;

	*res = NULL;
	if ((rv = ready(r, stmt, NULL)) != FLOW_OK)
		return rv;
	pr = PQexecPrepared(store_pg(r->db), stmt->name, stmt->nparams, params, NULL, NULL, 0);
	if (pr == NULL)
		return result_error(r, stmt, NULL);
	ExecStatusType st = PQresultStatus(pr);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		return result_error(r, stmt, pr);
	*res = pr;
	return FLOW_OK;
}

int store_exec_then(struct flow_req *r, struct store_stmt *a, const char *const *pa,
		    struct store_stmt *b, const char *const *pb, PGresult **ra, PGresult **rb)
{
	PGconn *pg;
	PGresult *res[2];
	struct store_stmt *stmt[2] = { a, b };
	int rv;

	*ra = *rb = NULL;
	if ((rv = ready(r, a, b)) != FLOW_OK)
		return rv;
	pg = store_pg(r->db);
	if (!PQenterPipelineMode(pg) ||
	    !PQsendQueryPrepared(pg, a->name, a->nparams, pa, NULL, NULL, 0) ||
	    !PQpipelineSync(pg) ||
	    !PQsendQueryPrepared(pg, b->name, b->nparams, pb, NULL, NULL, 0) ||
	    !PQpipelineSync(pg)) {
		PQexitPipelineMode(pg); /* nothing sent: it leaves at once */
		return result_error(r, a, NULL);
	}
	/* Each statement's first result, up to both syncs (or a broken
	 * connection, which the next call re-establishes). */
	res[0] = res[1] = NULL;
	for (int syncs = 0; syncs < 2;) {
		PGresult *x = PQgetResult(pg);

		if (x == NULL) { /* the end of one statement's results */
			if (PQstatus(pg) != CONNECTION_OK)
				break;
			continue;
		}
		if (PQresultStatus(x) == PGRES_PIPELINE_SYNC) {
			syncs++;
		} else if (res[syncs] == NULL) {
			res[syncs] = x;
			continue;
		}
		PQclear(x);
	}
	if (!PQexitPipelineMode(pg) || res[0] == NULL || res[1] == NULL) {
		PQclear(res[0]);
		PQclear(res[1]);
		return result_error(r, a, NULL);
	}
	for (int i = 0; i < 2; i++) {
		ExecStatusType st = PQresultStatus(res[i]);

		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			PQclear(res[1 - i]);
			return result_error(r, stmt[i], res[i]);
		}
	}
	*ra = res[0];
	*rb = res[1];
	return FLOW_OK;
}

int store_exec_row(struct flow_req *r, struct store_stmt *stmt, const char *const *params,
		   const char *not_found, PGresult **res)
{
	int rv = store_exec(r, stmt, params, res);

	if (rv != FLOW_OK)
		return rv;
	if (PQntuples(*res) != 1) {
		PQclear(*res);
		*res = NULL;
		return req_error(r, FLOW_NOT_FOUND, "%s", not_found);
	}
	return FLOW_OK;
}

int store_exec_id_row(struct flow_req *r, struct store_stmt *stmt, int64_t id, const char *what,
		      PGresult **res)
{
	const char *p[1] = { store_p_i64(r, id) };
	const char *nf = arena_printf(r->arena, "%s %" PRId64 " not found", what, id);

	*res = NULL;
	if (p[0] == NULL || nf == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return store_exec_row(r, stmt, p, nf, res);
}

const char *store_p_i64(struct flow_req *r, int64_t v)
{
	return arena_printf(r->arena, "%" PRId64, v);
}

const char *store_p_int(struct flow_req *r, int v)
{
	return arena_printf(r->arena, "%d", v);
}

const char *store_p_double(struct flow_req *r, double v)
{
	return arena_printf(r->arena, "%.17g", v);
}

const char *store_p_bool(bool v)
{
	return v ? "true" : "false";
}

const char *store_p_text_array(struct flow_req *r, char **v, size_t n)
{
	size_t len = 3;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(v[i] ? v[i] : "") + 5;
	out = arena_alloc(r->arena, len);
	if (out == NULL)
		return NULL;
	o = out;
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*o++ = ',';
		if (v[i] == NULL) {
			memcpy(o, "NULL", 4);
			o += 4;
			continue;
		}
		*o++ = '"';
		for (const char *s = v[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				*o++ = '\\';
			*o++ = *s;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return out;
}

const char *store_p_i64_array(struct flow_req *r, const int64_t *v, size_t n)
{
	char *out = arena_alloc(r->arena, n * 22 + 3), *o;

	if (out == NULL)
		return NULL;
	o = out;
	*o++ = '{';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, "%s%" PRId64, i ? "," : "", v[i]);
	*o++ = '}';
	*o = '\0';
	return out;
}

static int col(const PGresult *res, const char *name)
{
	int c = PQfnumber(res, name);

	if (c < 0) {
		log_error("db.no_column", "result has no column %s", name);
		abort(); /* a statement and its reader disagree: a bug */
	}
	return c;
}

bool store_isnull(const PGresult *res, int row, const char *name)
{
	return PQgetisnull(res, row, col(res, name));
}

int64_t store_i64(const PGresult *res, int row, const char *name)
{
	int c = col(res, name);

	return PQgetisnull(res, row, c) ? 0 : strtoll(PQgetvalue(res, row, c), NULL, 10);
}

int store_int(const PGresult *res, int row, const char *name)
{
	return (int)store_i64(res, row, name);
}

double store_double(const PGresult *res, int row, const char *name)
{
	int c = col(res, name);

	return PQgetisnull(res, row, c) ? 0.0 : strtod(PQgetvalue(res, row, c), NULL);
}

bool store_bool(const PGresult *res, int row, const char *name)
{
	int c = col(res, name);

	return !PQgetisnull(res, row, c) && PQgetvalue(res, row, c)[0] == 't';
}

char *store_text(struct flow_req *r, const PGresult *res, int row, const char *name)
{
	int c = col(res, name);

	if (PQgetisnull(res, row, c))
		return NULL;
	return arena_strndup(r->arena, PQgetvalue(res, row, c), (size_t)PQgetlength(res, row, c));
}

static json_t *json_col(const PGresult *res, int row, const char *name)
{
	int c = col(res, name);

	if (PQgetisnull(res, row, c))
		return json_array();
	return json_loadb(PQgetvalue(res, row, c), (size_t)PQgetlength(res, row, c), 0, NULL);
}

int store_json_strs(struct flow_req *r, const PGresult *res, int row, const char *name,
		    char ***out, size_t *n)
{
	json_t *a = json_col(res, row, name), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return req_error(r, FLOW_INTERNAL, "column %s is not a JSON array", name);
	}
	*out = arena_alloc(r->arena, sizeof(char *) * (json_array_size(a) + 1));
	if (*out == NULL) {
		json_decref(a);
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	json_array_foreach(a, i, v) {
		(*out)[i] = arena_strdup(r->arena, json_is_string(v) ? json_string_value(v) : "");
	}
	*n = json_array_size(a);
	json_decref(a);
	return FLOW_OK;
}

int store_json_i64s(struct flow_req *r, const PGresult *res, int row, const char *name,
		    int64_t **out, size_t *n)
{
	json_t *a = json_col(res, row, name), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return req_error(r, FLOW_INTERNAL, "column %s is not a JSON array", name);
	}
	*out = arena_alloc(r->arena, sizeof(int64_t) * (json_array_size(a) + 1));
	if (*out == NULL) {
		json_decref(a);
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	json_array_foreach(a, i, v) {
		(*out)[i] = json_integer_value(v);
	}
	*n = json_array_size(a);
	json_decref(a);
	return FLOW_OK;
}
