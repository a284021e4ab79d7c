/*
 * report.c - the setup block and one line (or one JSON object) per figure.
 *
 * Text:  "mode figure value unit  [target: TEXT: PASS|FAIL]"
 * JSON:  {"mode":M,"figure":F,"value":V,"unit":U,F:V,"target":T,"pass":B,...}
 *        plus the sizes the mode ran with (report_ctx), one object a line.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"

int report_failed_targets;

static json_t *setup_obj;
static json_t *ctx_obj;

static void emit_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (s == NULL)
		return;
	if (opt.json) {
		printf("%s\n", s);
		fflush(stdout);
	}
	if (opt.json_file) {
		FILE *f = fopen(opt.json_file, "ae");

		if (f) {
			fprintf(f, "%s\n", s);
			fclose(f);
		}
	}
	free(s);
}

void report_ctx(const char *key, long value)
{
	if (ctx_obj == NULL)
		ctx_obj = json_object();
	json_object_set_new(ctx_obj, key, json_integer(value));
}

void report_ctx_clear(void)
{
	json_decref(ctx_obj);
	ctx_obj = NULL;
}

/* A readable number of significant digits for the text line. */
static void fmt_value(char *buf, size_t len, double v)
{
	double a = fabs(v);

	if (a >= 1000 || v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, len, "%.1f", v);
	else if (a >= 1)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3f", v);
}

void report_figure(const char *mode, const char *figure, double value, const char *unit,
		   const char *target, int pass)
{
	char num[64];
	json_t *o;

	if (pass == 0)
		report_failed_targets++;
	fmt_value(num, sizeof(num), value);
	if (!opt.json) {
		if (target && pass >= 0)
			printf("%-8s %-32s %12s %-8s [target: %s: %s]\n", mode, figure, num, unit,
			       target, pass ? "PASS" : "FAIL");
		else if (target)
			printf("%-8s %-32s %12s %-8s (%s)\n", mode, figure, num, unit, target);
		else
			printf("%-8s %-32s %12s %s\n", mode, figure, num, unit);
		fflush(stdout);
	}
	o = json_object();
	json_object_set_new(o, "mode", json_string(mode));
	json_object_set_new(o, "figure", json_string(figure));
	json_object_set_new(o, "value", json_real(isfinite(value) ? value : 0));
	json_object_set_new(o, "unit", json_string(unit));
	json_object_set_new(o, figure, json_real(isfinite(value) ? value : 0));
	if (target) {
		json_object_set_new(o, pass >= 0 ? "target" : "note", json_string(target));
		if (pass >= 0)
			json_object_set_new(o, "pass", json_boolean(pass));
	}
	if (ctx_obj)
		json_object_update(o, ctx_obj);
	emit_json(o);
	json_decref(o);
}

void report_text(const char *fmt, ...)
{
	va_list ap;

	if (opt.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

void report_setup(const char *key, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (setup_obj == NULL) {
		setup_obj = json_object();
		json_object_set_new(setup_obj, "mode", json_string("setup"));
	}
	json_object_set_new(setup_obj, key, json_string(buf));
	report_text("setup    %-26s %s\n", key, buf);
}

void report_setup_end(void)
{
	if (setup_obj == NULL)
		return;
	emit_json(setup_obj);
	json_decref(setup_obj);
	setup_obj = NULL;
}

void report_note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "flow-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
