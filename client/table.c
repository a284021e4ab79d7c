/*
 * table.c - flowctl's human-readable output: aligned columns and field
 * lists built from JSON results.
 */
#include "table.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CELL_MAX 1024
#define MAX_COLUMNS 16 /* columns of one table, at most */

/* The value at a dotted path ("item.attempt"), or NULL. */
static const json_t *get_path(const json_t *obj, const char *path)
{
	char part[64];
	const char *dot;

	while (obj != NULL && (dot = strchr(path, '.')) != NULL) {
		snprintf(part, sizeof(part), "%.*s", (int)(dot - path), path);
		obj = json_object_get(obj, part);
		path = dot + 1;
	}
	return obj ? json_object_get(obj, path) : NULL;
}

static void scalar_text(const json_t *v, char *buf, size_t len)
{
	buf[0] = '\0';
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
}

static void list_text(const json_t *v, char *buf, size_t len)
{
	size_t i;
	const json_t *x;
	char item[256];

	buf[0] = '\0';
	json_array_foreach(v, i, x) {
		size_t used = strlen(buf);

		scalar_text(x, item, sizeof(item));
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", item);
	}
}

void table_time(json_int_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	buf[0] = '\0';
	if (ms > 0 && localtime_r(&t, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void time_text(const json_t *v, char *buf, size_t len)
{
	buf[0] = '\0';
	if (json_is_integer(v))
		table_time(json_integer_value(v), buf, len);
}

static void priority_text(const json_t *row, char *buf, size_t len)
{
	const json_t *p = json_object_get(row, "priority");
	const char *name = json_string_value(json_object_get(row, "priorityName"));

	buf[0] = '\0';
	if (json_is_integer(p))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT "%s%s", json_integer_value(p),
			 name ? " " : "", name ? name : "");
	else if (name)
		snprintf(buf, len, "%s", name);
}

const char *table_str(const json_t *obj, const char *path, const char *dflt)
{
	const char *s = json_string_value(get_path(obj, path));

	return s != NULL ? s : dflt;
}

/* Control characters become spaces so a value cannot break the layout. */
void table_sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void cell_text(const json_t *row, const struct table_col *c, char *buf, size_t len)
{
	const json_t *v = get_path(row, c->key);

	buf[0] = '\0';
	if (c->kind == K_PRIORITY)
		priority_text(row, buf, len);
	else if (v == NULL || json_is_null(v))
		return;
	else if (c->kind == K_LIST)
		list_text(v, buf, len);
	else if (c->kind == K_TIME)
		time_text(v, buf, len);
	else if (c->kind == K_PERCENT && json_is_number(v))
		snprintf(buf, len, "%.1f%%", json_number_value(v) * 100.0);
	else if (c->kind == K_SECONDS && json_is_number(v))
		snprintf(buf, len, "%.1fs", json_number_value(v) / 1000.0);
	else
		scalar_text(v, buf, len);
	table_sanitize(buf);
}

/* Characters (UTF-8 code points) in s. */
static int text_width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Cuts s to at most max characters, ending in "..." when cut. */
static void truncate_text(char *s, int max)
{
	int n = 0;

	if (max <= 0 || text_width(s) <= max)
		return;
	for (char *p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 && n++ == max - 3) {
			strcpy(p, "...");
			return;
		}
	}
}

static void table_cell(const json_t *row, const struct table_col *c, char *buf)
{
	cell_text(row, c, buf, CELL_MAX);
	truncate_text(buf, c->max);
}

static void column_widths(const json_t *rows, const struct table_col *cols, int *w)
{
	char buf[CELL_MAX];
	const json_t *row;
	size_t i;

	for (int c = 0; cols[c].title != NULL; c++)
		w[c] = text_width(cols[c].title);
	json_array_foreach(rows, i, row) {
		for (int c = 0; cols[c].title != NULL; c++) {
			table_cell(row, &cols[c], buf);
			if (text_width(buf) > w[c])
				w[c] = text_width(buf);
		}
	}
}

/*
 * Prints one cell. Padding is written only before the next non-empty cell,
 * so lines carry no trailing blanks; *pending holds it meanwhile.
 */
static void print_cell(const char *s, int width, int *pending)
{
	if (s[0] == '\0') {
		*pending += width + 2;
		return;
	}
	printf("%*s%s", *pending, "", s);
	*pending = width - text_width(s) + 2;
}

/* Prints rows (an array of objects) as aligned columns; none: the note. */
void table_print(const json_t *rows, const struct table_col *cols, const char *none)
{
	int w[MAX_COLUMNS], pending = 0;
	char buf[CELL_MAX];
	const json_t *row;
	size_t i;

	for (int c = 0; cols[c].title != NULL; c++)
		assert(c < MAX_COLUMNS); /* a table definition error */
	if (json_array_size(rows) == 0) {
		printf("%s\n", none);
		return;
	}
	column_widths(rows, cols, w);
	for (int c = 0; cols[c].title != NULL; c++)
		print_cell(cols[c].title, w[c], &pending);
	fputc('\n', stdout);
	json_array_foreach(rows, i, row) {
		pending = 0;
		for (int c = 0; cols[c].title != NULL; c++) {
			table_cell(row, &cols[c], buf);
			print_cell(buf, w[c], &pending);
		}
		fputc('\n', stdout);
	}
}

/* Prints "Title:  value" lines for the fields of obj that are present. */
void table_fields(const json_t *obj, const struct table_col *fields)
{
	char buf[CELL_MAX];
	int w = 0;

	for (int i = 0; fields[i].title != NULL; i++)
		if (text_width(fields[i].title) > w)
			w = text_width(fields[i].title);
	for (int i = 0; fields[i].title != NULL; i++) {
		cell_text(obj, &fields[i], buf, sizeof(buf));
		if (buf[0] == '\0')
			continue;
		truncate_text(buf, fields[i].max);
		printf("%s:%*s %s\n", fields[i].title, w - text_width(fields[i].title), "", buf);
	}
}

/* Multi-line text with control characters other than newline and tab blanked. */
void table_text(const char *label, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	printf("\n%s:\n", label);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		fputc(ch < 0x20 && ch != '\n' && ch != '\t' ? ' ' : ch == 0x7f ? ' ' : ch, stdout);
	}
	fputc('\n', stdout);
}
