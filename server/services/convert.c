#include "services/convert.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "status.h"

const char *convert_priority_name(int priority)
{
	if (priority <= 3)
		return "low";
	if (priority <= 6)
		return "normal";
	return "high";
}

int convert_priority_value(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "low") == 0)
		return 2;
	if (strcmp(name, "normal") == 0)
		return 5;
	if (strcmp(name, "high") == 0)
		return 8;
	return -1;
}

int convert_priority(struct flow_req *r, bool has_num, int32_t num, const char *name,
		     bool *present, int *out)
{
	char q[80];
	int v = -1;

	*present = has_num || name != NULL;
	if (has_num && (num < CONVERT_PRIORITY_MIN || num > CONVERT_PRIORITY_MAX))
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "priority must be between %d and %d (got %d)",
				 CONVERT_PRIORITY_MIN, CONVERT_PRIORITY_MAX, (int)num);
	if (name != NULL && (v = convert_priority_value(name)) < 0)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "priority must be a number from 0 to 10 or one of low, normal, high (got %s)",
				 convert_quote(q, sizeof(q), name));
	if (has_num && name != NULL && strcmp(convert_priority_name(num), name) != 0)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "priority %d is %s but priorityName is %s; give one of them "
				 "or matching values",
				 (int)num, convert_priority_name(num),
				 convert_quote(q, sizeof(q), name));
	if (*present)
		*out = has_num ? num : v;
	return FLOW_OK;
}

struct alias {
	const char *in;
	const char *out;
};

static const char *lookup(const struct alias *t, const char *s)
{
	if (s == NULL)
		return NULL;
	for (; t->in != NULL; t++)
		if (strcmp(t->in, s) == 0)
			return t->out;
	return NULL;
}

const char *convert_ticket_status(const char *s)
{
	static const struct alias t[] = {
		{ "open", "open" },     { "in_progress", "in_progress" },
		{ "closed", "closed" }, { "pending", "open" },
		{ "completed", "closed" }, { NULL, NULL },
	};

	return lookup(t, s);
}

const char *convert_task_status(const char *s)
{
	static const struct alias t[] = {
		{ "pending", "pending" },     { "in_progress", "in_progress" },
		{ "completed", "completed" }, { "cancelled", "cancelled" },
		{ "open", "pending" },        { "done", "completed" },
		{ NULL, NULL },
	};

	return lookup(t, s);
}

int convert_id(struct flow_req *r, const char *field, bool has, int64_t v)
{
	if (!has || v <= 0)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s must be a positive integer", field);
	return FLOW_OK;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int convert_ids(struct flow_req *r, const char *field, const int64_t *v, size_t n, size_t max_n)
{
	int64_t *s;

	if (n > max_n)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "%s has %zu entries; at most %zu are allowed", field, n, max_n);
	for (size_t i = 0; i < n; i++)
		if (v[i] <= 0)
			return req_error(r, FLOW_INVALID_ARGUMENT,
					 "%s[%zu] must be a positive integer", field, i);
	if (n < 2)
		return FLOW_OK;
	if ((s = arena_alloc(r->arena, n * sizeof(*s))) == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_i64);
	for (size_t i = 1; i < n; i++)
		if (s[i] == s[i - 1])
			return req_error(r, FLOW_INVALID_ARGUMENT,
					 "%s lists id %" PRId64 " more than once", field, s[i]);
	return FLOW_OK;
}

size_t convert_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

int convert_text(struct flow_req *r, const char *field, const char *s, size_t max_chars,
		 bool required)
{
	if (s == NULL || (required && blank(s))) {
		if (required)
			return req_error(r, FLOW_INVALID_ARGUMENT, "%s is required", field);
		return FLOW_OK;
	}
	if (convert_utf8_len(s) > max_chars)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s is longer than %zu characters",
				 field, max_chars);
	return FLOW_OK;
}

/* A C0 control character or DEL in s (names and titles are one line of text). */
static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

int convert_line(struct flow_req *r, const char *field, const char *s, size_t max_chars,
		 bool required)
{
	int rv = convert_text(r, field, s, max_chars, required);

	if (rv == FLOW_OK && s != NULL && has_control(s))
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "%s must not contain control characters (newlines, tabs, ...)", field);
	return rv;
}

int convert_strs(struct flow_req *r, const char *field, char *const *v, size_t n, size_t max_n,
		 size_t max_chars)
{
	if (n > max_n)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "%s has %zu entries; at most %zu are allowed", field, n, max_n);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == NULL || v[i][0] == '\0')
			return req_error(r, FLOW_INVALID_ARGUMENT, "%s[%zu] must not be empty",
					 field, i);
		if (convert_utf8_len(v[i]) > max_chars)
			return req_error(r, FLOW_INVALID_ARGUMENT,
					 "%s[%zu] is longer than %zu characters", field, i,
					 max_chars);
		if (has_control(v[i]))
			return req_error(r, FLOW_INVALID_ARGUMENT,
					 "%s[%zu] must not contain control characters", field, i);
	}
	return FLOW_OK;
}

int convert_json(struct flow_req *r, const char *field, const char *s)
{
	json_error_t err;
	json_t *v;

	if (s == NULL)
		return FLOW_OK;
	v = json_loads(s, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
	if (v == NULL)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "%s is not valid JSON: %s (line %d, column %d)", field, err.text,
				 err.line, err.column);
	json_decref(v);
	return FLOW_OK;
}

const char *convert_quote(char *buf, size_t len, const char *s)
{
	if (len < 3) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	buf[0] = '"';
	log_escape(buf + 1, len - 2, s ? s : "");
	strcat(buf, "\"");
	return buf;
}
