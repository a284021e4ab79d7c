#include "store/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "status.h"
#include "store/migrations.h"

/* pg_advisory_lock key: "flowd" in ASCII. */
#define MIGRATE_LOCK_KEY "435678131556"

static int simple(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		snprintf(err, errlen, "%s", PQerrorMessage(pg));
	PQclear(res);
	return ok ? FLOW_OK : FLOW_UNAVAILABLE;
}

static int params_ok(PGconn *pg, const char *sql, int n, const char *const *p, char *err,
		     size_t errlen)
{
	PGresult *res = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		snprintf(err, errlen, "%s", PQerrorMessage(pg));
	PQclear(res);
	return ok ? FLOW_OK : FLOW_INTERNAL;
}

int store_schema_target(void)
{
	return store_migrations_count ? store_migrations[store_migrations_count - 1].version : 0;
}

int store_schema_version(PGconn *pg)
{
	PGresult *res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	int v = -1;

	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static int apply_one(PGconn *pg, const struct store_migration *m, char *err, size_t errlen)
{
	char ver[16];
	const char *p[2] = { ver, m->name };
	int rv;

	snprintf(ver, sizeof(ver), "%d", m->version);
	if ((rv = simple(pg, "BEGIN", err, errlen)) != FLOW_OK)
		return rv;
	if (simple(pg, m->sql, err, errlen) != FLOW_OK ||
	    params_ok(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, p,
		      err, errlen) != FLOW_OK) {
		char why[512];

		snprintf(why, sizeof(why), "%s", err);
		simple(pg, "ROLLBACK", err, errlen);
		snprintf(err, errlen, "migration %s failed: %s", m->name, why);
		return FLOW_INTERNAL;
	}
	if ((rv = simple(pg, "COMMIT", err, errlen)) != FLOW_OK)
		return rv;
	log_info("db.migrated", "applied migration %s", m->name);
	return FLOW_OK;
}

static int apply_missing(PGconn *pg, int *applied, char *err, size_t errlen)
{
	int have = store_schema_version(pg);

	if (have < 0) {
		snprintf(err, errlen, "cannot read schema_migrations: %s", PQerrorMessage(pg));
		return FLOW_UNAVAILABLE;
	}
	if (have > store_schema_target()) {
		snprintf(err, errlen,
			 "database schema version %d is newer than this flowd knows (%d); "
			 "upgrade flowd",
			 have, store_schema_target());
		return FLOW_FAILED_PRECONDITION;
	}
	for (size_t i = 0; i < store_migrations_count; i++) {
		int rv;

		if (store_migrations[i].version <= have)
			continue;
		if ((rv = apply_one(pg, &store_migrations[i], err, errlen)) != FLOW_OK)
			return rv;
		(*applied)++;
	}
	return FLOW_OK;
}

int store_migrate(PGconn *pg, int *applied, char *err, size_t errlen)
{
	char ignored[256];
	int rv;

	*applied = 0;
	if ((rv = simple(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen)) != FLOW_OK)
		return rv;
	rv = simple(pg,
		    "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " version int PRIMARY KEY, name text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())",
		    err, errlen);
	if (rv == FLOW_OK)
		rv = apply_missing(pg, applied, err, errlen);
	simple(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignored, sizeof(ignored));
	return rv;
}
