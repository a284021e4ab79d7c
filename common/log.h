/*
 * log.h - the one logger.
 *
 * Every line has a level, a stable message id ("db.connect_failed") and a
 * message; the request id of the calling thread is added when one is set.
 * Secrets are redacted from every message (sanitize_secrets: passwords,
 * tokens, keys, URL passwords, JWTs) before it is written.
 * Levels are checked before any formatting. Control characters in the
 * message are escaped, so a request can never forge a log line.
 * Output goes to stderr: "text" (human-readable) or "json" (one object a line).
 */
#ifndef FLOW_LOG_H
#define FLOW_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Process-wide settings; safe to call again (e.g. on SIGHUP). */
void log_set_level(enum log_level level);
void log_set_json(bool json);
/* Prefix naming the program in text mode ("flowd"). Not copied. */
void log_set_program(const char *name);

/* "debug" | "info" | "warn" | "error" | "off"; returns -1 if unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

bool log_enabled(enum log_level level);

/*
 * SIGHUP without a settings file: switches between configured and debug
 * (from debug, to configured; to info when debug is the configured level).
 * Returns the new level.
 */
enum log_level log_toggle_debug(enum log_level configured);

/* Request id for log lines of this thread; NULL clears it. Not copied:
 * the caller keeps it alive until it clears it. */
void log_set_request_id(const char *id);

void log_write(enum log_level level, const char *msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_at(level, msgid, ...)                                  \
	do {                                                       \
		if (log_enabled(level))                            \
			log_write((level), (msgid), __VA_ARGS__);  \
	} while (0)

#define log_debug(msgid, ...) log_at(LOG_DEBUG, msgid, __VA_ARGS__)
#define log_info(msgid, ...) log_at(LOG_INFO, msgid, __VA_ARGS__)
#define log_warn(msgid, ...) log_at(LOG_WARN, msgid, __VA_ARGS__)
#define log_error(msgid, ...) log_at(LOG_ERROR, msgid, __VA_ARGS__)

/*
 * Escapes control characters and '"' '\\' of src into dst (always
 * NUL-terminated, truncated with "..." when it does not fit).
 */
void log_escape(char *dst, size_t dstlen, const char *src);

#endif
