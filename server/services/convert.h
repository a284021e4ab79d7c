/*
 * convert.h - request checks and value conversions shared by the services.
 *
 * Every check names the offending field by its JSON (lowerCamelCase) name,
 * records the message with req_error() and returns its code, so a handler
 * can `if ((rv = convert_id(...)) != FLOW_OK) return rv;`. Nothing here
 * allocates except where noted (r->arena).
 */
#ifndef FLOW_CONVERT_H
#define FLOW_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "req.h"

/* Ticket priority: 0..10, higher is more urgent. */
#define CONVERT_PRIORITY_MIN 0
#define CONVERT_PRIORITY_MAX 10
#define CONVERT_PRIORITY_DEFAULT 5

/* Bounds of a queue item's completion notes and error text. */
#define CONVERT_NOTES_MAX_CHARS 262144
#define CONVERT_ERROR_MAX_CHARS 65536

/* "low" (0-3), "normal" (4-6) or "high" (7-10; also above); a static string. */
const char *convert_priority_name(int priority);
/* low -> 2, normal -> 5, high -> 8; -1 when name is not one of them. */
int convert_priority_value(const char *name);

/*
 * Resolves a request's priority (0..10, has_num) and priorityName (NULL:
 * absent). When both are given they must agree (the number's name is the
 * name given). *present is false when neither is given (*out untouched).
 */
int convert_priority(struct flow_req *r, bool has_num, int32_t num, const char *name,
		     bool *present, int *out);

/* Canonical ticket status for s: open | in_progress | closed, accepting
 * "pending" as open and "completed" as closed. NULL when s is not one. */
const char *convert_ticket_status(const char *s);
/* Canonical task status for s: pending | in_progress | completed |
 * cancelled, accepting "open" as pending and "done" as completed. */
const char *convert_task_status(const char *s);

/* Checks an id field: present and > 0. */
int convert_id(struct flow_req *r, const char *field, bool has, int64_t v);

/* Checks a repeated id field: at most max_n entries, each > 0, none twice.
 * Uses r->arena for a sorted copy. */
int convert_ids(struct flow_req *r, const char *field, const int64_t *v, size_t n, size_t max_n);

/* Length of a UTF-8 string in code points. */
size_t convert_utf8_len(const char *s);

/*
 * Checks a string field: at most max_chars code points; when required,
 * present and not blank ("title is required"). NULL is absent.
 */
int convert_text(struct flow_req *r, const char *field, const char *s, size_t max_chars,
		 bool required);

/* convert_text for one line of text (names, titles): also no control
 * characters (C0, DEL). */
int convert_line(struct flow_req *r, const char *field, const char *s, size_t max_chars,
		 bool required);

/* Checks a repeated string field: at most max_n entries, each 1..max_chars
 * code points without control characters. */
int convert_strs(struct flow_req *r, const char *field, char *const *v, size_t n, size_t max_n,
		 size_t max_chars);

/* Checks an optional JSON text field (any JSON value; NULL is absent):
 * "metadata is not valid JSON: <why> (line 1, column 5)". */
int convert_json(struct flow_req *r, const char *field, const char *s);

/* s quoted and escaped for an error message, truncated to fit buf. */
const char *convert_quote(char *buf, size_t len, const char *s);

#endif
