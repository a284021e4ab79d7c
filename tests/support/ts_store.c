#include "ts_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "store/migrate.h"
#include "store/store.h"
#include "testsupport.h"

struct flow_req *ts_req_connect(const char *url)
{
	struct flow_req *r = calloc(1, sizeof(*r));
	char err[512];

	if (r == NULL || (r->arena = arena_new(64 * 1024)) == NULL) {
		fprintf(stderr, "ts_req_connect: out of memory\n");
		abort();
	}
	if (store_open(url, &r->db, err, sizeof(err)) != FLOW_OK) {
		fprintf(stderr, "ts_req_connect: %s\n", err);
		abort();
	}
	r->method = "test";
	r->request_id = "test";
	return r;
}

struct flow_req *ts_req_open(char *url, size_t len)
{
	char buf[512], err[512];
	struct flow_req *r;
	int applied;

	if (ts_pg_admin_url() == NULL)
		ts_skip_without_pg();
	if (ts_create_db(buf, sizeof(buf)) != 0) {
		fprintf(stderr, "ts_req_open: cannot create a test database\n");
		abort();
	}
	r = ts_req_connect(buf);
	if (store_migrate(store_pg(r->db), &applied, err, sizeof(err)) != FLOW_OK) {
		fprintf(stderr, "ts_req_open: migrations failed: %s\n", err);
		abort();
	}
	if (url != NULL)
		snprintf(url, len, "%s", buf);
	return r;
}

void ts_req_reset(struct flow_req *r)
{
	arena_reset(r->arena);
	r->message[0] = '\0';
	r->retry_after_ms = 0;
}

void ts_req_close(struct flow_req *r, const char *url_to_drop)
{
	if (r == NULL)
		return;
	store_close(r->db);
	arena_free(r->arena);
	free(r);
	if (url_to_drop != NULL)
		ts_drop_db(url_to_drop);
}
