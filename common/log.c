#include "log.h"
#include "sanitize.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int log_level_cur = LOG_INFO;
static _Atomic bool log_json;
static const char *log_program = "flow";
static _Thread_local const char *log_request_id;

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };

void log_set_level(enum log_level level)
{
	atomic_store(&log_level_cur, (int)level);
}

void log_set_json(bool json)
{
	atomic_store(&log_json, json);
}

void log_set_program(const char *name)
{
	log_program = name;
}

int log_level_parse(const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i <= LOG_OFF; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (strcmp(s, "warning") == 0)
		return LOG_WARN;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level <= LOG_OFF ? level_names[level] : "?";
}

bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load(&log_level_cur) && level != LOG_OFF;
}

void log_set_request_id(const char *id)
{
	log_request_id = id;
}

void log_escape(char *dst, size_t dstlen, const char *src)
{
	size_t o = 0;

	if (dstlen == 0)
		return;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		char tmp[8];
		size_t n;

		if (*p == '"' || *p == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			n = 2;
		} else if (*p == '\n') {
			memcpy(tmp, "\\n", 2);
			n = 2;
		} else if (*p == '\t') {
			memcpy(tmp, "\\t", 2);
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
		} else {
			tmp[0] = (char)*p;
			n = 1;
		}
		if (o + n + 4 > dstlen) {
			if (dstlen >= 4) {
				o = o < dstlen - 4 ? o : dstlen - 4;
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, n);
		o += n;
	}
	dst[o] = '\0';
}

static void format_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_write(enum log_level level, const char *msgid, const char *fmt, ...)
{
	char raw[2048], red[2048], msg[4096], ts[40], rid[160] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sanitize_secrets(raw, red, sizeof(red)); /* no secret is ever logged */
	explicit_bzero(raw, sizeof(raw));
	log_escape(msg, sizeof(msg), red);
	format_time(ts, sizeof(ts));
	if (log_request_id != NULL)
		log_escape(rid, sizeof(rid), log_request_id);

	if (atomic_load(&log_json)) {
		fprintf(stderr,
			"{\"ts\":\"%s\",\"level\":\"%s\",\"program\":\"%s\",\"id\":\"%s\"%s%s%s,\"msg\":\"%s\"}\n",
			ts, level_names[level], log_program, msgid,
			rid[0] ? ",\"request_id\":\"" : "", rid, rid[0] ? "\"" : "", msg);
	} else {
		fprintf(stderr, "%s %s %-5s %s%s%s: %s\n", ts, log_program,
			level_names[level], msgid, rid[0] ? " req=" : "", rid, msg);
	}
}

enum log_level log_toggle_debug(enum log_level configured)
{
	enum log_level to = LOG_DEBUG;

	if (log_enabled(LOG_DEBUG))
		to = configured == LOG_DEBUG ? LOG_INFO : configured;
	log_set_level(to);
	return to;
}
