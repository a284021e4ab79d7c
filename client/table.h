/*
 * table.h - flowctl's human-readable output: JSON results as aligned
 * columns (lists) or "Title: value" lines (one object).
 *
 * Everything printed from a result has its control characters blanked, so
 * a value cannot move the cursor or break the layout. Output goes to
 * stdout.
 */
#ifndef FLOW_TABLE_H
#define FLOW_TABLE_H

#include <jansson.h>

enum col_kind {
	K_TEXT,	    /* any scalar as text */
	K_BOOL,	    /* yes / no */
	K_LIST,	    /* array joined with ", " */
	K_TIME,	    /* epoch ms as local time */
	K_PRIORITY, /* priority and priorityName: "10 high" */
	K_PERCENT,  /* 0..1 as a percentage */
	K_SECONDS,  /* milliseconds as seconds */
};

/* A table column or a field line. key is a dotted path into the object. */
struct table_col {
	const char *title;
	const char *key;
	enum col_kind kind;
	int max; /* widest cell in a table, in characters; 0: no limit */
};

#define END_COLUMNS { NULL, NULL, K_TEXT, 0 }

/* rows (an array of objects) as aligned columns; none when it is empty. */
void table_print(const json_t *rows, const struct table_col *cols, const char *none);

/* "Title:  value" lines for the fields of obj that are present. */
void table_fields(const json_t *obj, const struct table_col *fields);

/* "\nlabel:\n" and multi-line text s (newlines and tabs kept); nothing if empty. */
void table_text(const char *label, const char *s);

/* Epoch milliseconds as local time "2025-01-31 12:00:00"; "" for ms <= 0. */
void table_time(json_int_t ms, char *buf, size_t len);

/* The string at the dotted path in obj, or dflt. */
const char *table_str(const json_t *obj, const char *path, const char *dflt);

/* Replaces control characters in s with spaces. */
void table_sanitize(char *s);

#endif
