/*
 * migrate.h - applies the compiled-in SQL migrations.
 *
 * Runs under a session advisory lock, so several flowd starting at once
 * apply each migration exactly once; each migration and its record in
 * schema_migrations commit together.
 */
#ifndef FLOW_STORE_MIGRATE_H
#define FLOW_STORE_MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

/* Applies what is missing. Returns FLOW_OK, or a flow code with err filled
 * (FLOW_FAILED_PRECONDITION when the database is newer than this flowd). */
int store_migrate(PGconn *pg, int *applied, char *err, size_t errlen);

/* Latest version applied (0: none), or -1 on error. */
int store_schema_version(PGconn *pg);

/* Latest version this binary knows. */
int store_schema_target(void);

#endif
