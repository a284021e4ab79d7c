/*
 * ts_store.h - a flow_req on a fresh test database, for integration tests
 * that call handlers and store functions directly.
 */
#ifndef FLOW_TS_STORE_H
#define FLOW_TS_STORE_H

#include "req.h"

/*
 * Creates a fresh database (ts_create_db), applies the migrations and
 * returns a request context connected to it; the test is skipped (exit 77)
 * when no test PostgreSQL is configured. The database URL is written to
 * url (may be NULL). Aborts the test on any other failure.
 */
struct flow_req *ts_req_open(char *url, size_t len);
/* Another connection to the same database (for concurrency tests). */
struct flow_req *ts_req_connect(const char *url);
/* Frees the arena's contents and clears the error state between calls. */
void ts_req_reset(struct flow_req *r);
/* Closes the connection; drop_db also drops the database. */
void ts_req_close(struct flow_req *r, const char *url_to_drop);

#endif
