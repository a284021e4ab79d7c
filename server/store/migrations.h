/*
 * migrations.h - the SQL migrations compiled into flowd.
 *
 * Generated from store/migrations/NNNN_name.sql at build time, in order.
 */
#ifndef FLOW_STORE_MIGRATIONS_H
#define FLOW_STORE_MIGRATIONS_H

#include <stddef.h>

struct store_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

#endif
