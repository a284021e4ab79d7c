/*
 * store.h - the PostgreSQL connection of a service thread, and the helpers
 * every store/ file uses. All SQL of flowd lives in store/.
 *
 * Discipline (after PostgreSQL's fe_utils/query_utils.c): statements are
 * static `struct store_stmt`s, prepared lazily once per connection and run
 * with text parameters only; every result status is checked; every
 * PGresult is cleared on every path; errors are logged with their SQLSTATE
 * and mapped to a flow code (store_error_code) with a message for the reply.
 * A lost connection is re-established on the next call; meanwhile calls
 * return FLOW_UNAVAILABLE with a retry hint.
 */
#ifndef FLOW_STORE_H
#define FLOW_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "req.h"

struct store_stmt {
	const char *name; /* unique, e.g. "ticket_get" */
	const char *sql;
	int nparams;
	int id; /* assigned on first use; initialise to 0 */
};

#define STORE_MAX_STMTS 256

/* Opens a connection. On failure returns FLOW_UNAVAILABLE (or
 * FLOW_INVALID_ARGUMENT for a malformed conninfo) with err filled. */
int store_open(const char *conninfo, store_conn **out, char *err, size_t errlen);
/* store_close(NULL) is a no-op. */
void store_close(store_conn *c);
/* The libpq connection, for the migration runner and tests. */
PGconn *store_pg(store_conn *c);
/* Reconnects if the connection is bad; FLOW_OK when usable. */
int store_ensure(store_conn *c, char *err, size_t errlen);

/*
 * Runs stmt with params (text form; NULL is SQL NULL) on r->db. On FLOW_OK
 * *res holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result the caller must
 * PQclear. On failure *res is NULL, r->message says why, and the code is
 * returned.
 */
int store_exec(struct flow_req *r, struct store_stmt *stmt, const char *const *params,
	       PGresult **res);

/*
 * Runs a, then b, in one round trip (libpq pipeline mode), each in a
 * transaction of its own: b runs after a has committed, whether or not a
 * succeeded. On FLOW_OK *ra and *rb hold their results (the caller clears
 * both); on failure neither is kept, r->message says why (a's error comes
 * first), and the code is returned.
 */
int store_exec_then(struct flow_req *r, struct store_stmt *a, const char *const *pa,
		    struct store_stmt *b, const char *const *pb, PGresult **ra, PGresult **rb);

/* Runs a statement that must return exactly one row; zero rows give
 * FLOW_NOT_FOUND with not_found as the message. */
int store_exec_row(struct flow_req *r, struct store_stmt *stmt, const char *const *params,
		   const char *not_found, PGresult **res);

/* store_exec_row for a statement whose only parameter is an id; zero rows
 * give FLOW_NOT_FOUND "<what> <id> not found". */
int store_exec_id_row(struct flow_req *r, struct store_stmt *stmt, int64_t id, const char *what,
		      PGresult **res);

/* SQLSTATE -> flow code (23505 -> ALREADY_EXISTS, 23503/P0002 -> NOT_FOUND,
 * 22xxx/23514/23502 -> INVALID_ARGUMENT, 55000 -> FAILED_PRECONDITION,
 * 40001/40P01 -> ABORTED, 57014 -> DEADLINE_EXCEEDED, 08xxx/57P0x ->
 * UNAVAILABLE, else INTERNAL). */
int store_error_code(const char *sqlstate);

/* Parameter builders: strings allocated in r->arena (NULL when out of memory). */
const char *store_p_i64(struct flow_req *r, int64_t v);
const char *store_p_int(struct flow_req *r, int v);
const char *store_p_double(struct flow_req *r, double v);
const char *store_p_bool(bool v);
/* A PostgreSQL array literal of strings / int64s, elements quoted as needed;
 * a NULL string is an SQL NULL element. */
const char *store_p_text_array(struct flow_req *r, char **v, size_t n);
const char *store_p_i64_array(struct flow_req *r, const int64_t *v, size_t n);

/* Column getters by name (the column must exist: a missing one is a bug
 * and aborts). NULL values give 0 / false / NULL. Strings are copied into
 * r->arena. */
int64_t store_i64(const PGresult *res, int row, const char *col);
int store_int(const PGresult *res, int row, const char *col);
double store_double(const PGresult *res, int row, const char *col);
bool store_bool(const PGresult *res, int row, const char *col);
bool store_isnull(const PGresult *res, int row, const char *col);
char *store_text(struct flow_req *r, const PGresult *res, int row, const char *col);
/* Timestamps: select them as epoch ms (bigint) in SQL and use store_i64. */
/* A column holding a JSON array of strings / integers (select to_json(col)):
 * *out is an arena array, *n its length. Returns FLOW_OK or FLOW_INTERNAL. */
int store_json_strs(struct flow_req *r, const PGresult *res, int row, const char *col,
		    char ***out, size_t *n);
int store_json_i64s(struct flow_req *r, const PGresult *res, int row, const char *col,
		    int64_t **out, size_t *n);

#endif
