#include "agents.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AGENTS_MAX_FILE (1024 * 1024)

struct agents {
	struct agent *v;
	size_t n, cap;
};

/* A timeout line, matched with its agent once the whole file is read. */
struct pending_timeout {
	char id[AGENTS_MAX_ID + 1];
	int seconds;
	int line;
};

struct parser {
	const char *name;
	int line;
	agents *a;
	struct pending_timeout *t;
	size_t nt, capt;
	char *err;
	size_t errlen;
};

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- splitting ------------------------------------------------------------- */

struct words {
	char **v;
	int n, cap;
};

static int words_push(struct words *w, char *word)
{
	if (w->n + 2 > w->cap) {
		int cap = w->cap ? w->cap * 2 : 8;
		char **v = realloc(w->v, (size_t)cap * sizeof(*v));

		if (v == NULL)
			return -1;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = word;
	w->v[w->n] = NULL;
	return 0;
}

void agents_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* Reads one word starting at *s (not blank) into buf; advances *s. */
static int split_word(const char **s, char *buf, char *err, size_t errlen)
{
	const char *p = *s;
	size_t o = 0;
	bool quoted = false;

	for (; *p && (quoted || (*p != ' ' && *p != '\t')); p++) {
		if (*p == '"') {
			quoted = !quoted;
			continue;
		}
		if (*p == '\\') {
			if (p[1] == '\0') {
				snprintf(err, errlen, "a backslash ends the line");
				return -1;
			}
			p++;
		}
		buf[o++] = *p;
	}
	if (quoted) {
		snprintf(err, errlen, "a double quote is not closed");
		return -1;
	}
	buf[o] = '\0';
	*s = p;
	return 0;
}

int agents_split(const char *line, char ***argv, int *argc, char *err, size_t errlen)
{
	struct words w = { 0 };
	char *buf = malloc(strlen(line) + 1);
	const char *s = line;

	if (buf == NULL)
		goto oom;
	for (;;) {
		char *word;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		if (split_word(&s, buf, err, errlen) != 0)
			goto fail;
		if ((word = strdup(buf)) == NULL || words_push(&w, word) != 0) {
			free(word);
			goto oom;
		}
	}
	if (w.v == NULL && (w.v = calloc(1, sizeof(*w.v))) == NULL)
		goto oom;
	free(buf);
	*argv = w.v;
	*argc = w.n;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(buf);
	agents_argv_free(w.v);
	return -1;
}

/* ---- the table ------------------------------------------------------------ */

void agents_free(agents *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].id);
		agents_argv_free(a->v[i].argv);
	}
	free(a->v);
	free(a);
}

const struct agent *agents_find(const agents *a, const char *id)
{
	for (size_t i = 0; id && i < a->n; i++)
		if (strcmp(a->v[i].id, id) == 0)
			return &a->v[i];
	return NULL;
}

size_t agents_count(const agents *a)
{
	return a->n;
}

const struct agent *agents_get(const agents *a, size_t i)
{
	return i < a->n ? &a->v[i] : NULL;
}

bool agent_is_builtin(const struct agent *ag)
{
	return ag->argv == NULL;
}

/* Adds an agent; takes id and argv, also on failure. */
static int agents_add(agents *a, char *id, char **argv, int line)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct agent *v = realloc(a->v, cap * sizeof(*v));

		if (v == NULL) {
			free(id);
			agents_argv_free(argv);
			return -1;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = (struct agent){ id, argv, 0, line };
	return 0;
}

/* ---- parsing --------------------------------------------------------------- */

static bool valid_id(const char *s, size_t n)
{
	if (n == 0 || n > AGENTS_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!(c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

/* The command must be an absolute path to an executable regular file. */
static int check_command(struct parser *p, const char *cmd)
{
	struct stat st;

	if (cmd[0] != '/')
		return perr(p,
			    "the command \"%s\" is not an absolute path (no PATH search and "
			    "no shell: write /usr/bin/%s or the like)",
			    cmd, cmd);
	if (stat(cmd, &st) != 0)
		return perr(p, "the command %s: %s", cmd, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return perr(p, "the command %s is not a regular file", cmd);
	if (access(cmd, X_OK) != 0)
		return perr(p, "the command %s is not executable: %s", cmd, strerror(errno));
	return 0;
}

static int parse_agent(struct parser *p, const char *id, size_t idlen, const char *value)
{
	char msg[128], **argv = NULL, *copy;
	const struct agent *dup;
	int argc;

	if ((copy = strndup(id, idlen)) == NULL)
		return perr(p, "out of memory");
	if ((dup = agents_find(p->a, copy)) != NULL) {
		perr(p, "agent \"%s\" is already defined on line %d", copy, dup->line);
		free(copy);
		return -1;
	}
	if (agents_split(value, &argv, &argc, msg, sizeof(msg)) != 0) {
		free(copy);
		return perr(p, "%s", msg);
	}
	if (argc == 0 || check_command(p, argv[0]) != 0) {
		if (argc == 0)
			perr(p, "agent \"%s\" has no command", copy);
		free(copy);
		agents_argv_free(argv);
		return -1;
	}
	if (agents_add(p->a, copy, argv, p->line) != 0)
		return perr(p, "out of memory");
	return 0;
}

static int parse_timeout(struct parser *p, const char *id, size_t idlen, const char *value)
{
	struct pending_timeout *t;
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end != '\0' || v < 1 || v > AGENTS_MAX_TIMEOUT_S)
		return perr(p, "timeout \"%s\" is not a whole number of seconds between 1 and %d",
			    value, AGENTS_MAX_TIMEOUT_S);
	for (size_t i = 0; i < p->nt; i++)
		if (strlen(p->t[i].id) == idlen && strncmp(p->t[i].id, id, idlen) == 0)
			return perr(p, "the timeout of \"%s\" is already set on line %d",
				    p->t[i].id, p->t[i].line);
	if (p->nt == p->capt) {
		size_t cap = p->capt ? p->capt * 2 : 8;

		if ((t = realloc(p->t, cap * sizeof(*t))) == NULL)
			return perr(p, "out of memory");
		p->t = t;
		p->capt = cap;
	}
	t = &p->t[p->nt++];
	snprintf(t->id, sizeof(t->id), "%.*s", (int)idlen, id);
	t->seconds = (int)v;
	t->line = p->line;
	return 0;
}

/* "key = value" with key "id" or "id.timeout". */
static int parse_setting(struct parser *p, const char *key, size_t keylen, const char *value)
{
	const char *dot = memchr(key, '.', keylen);
	size_t idlen = dot ? (size_t)(dot - key) : keylen;

	if (!valid_id(key, idlen))
		return perr(p,
			    "\"%.*s\" is not a valid agent id (1-%d characters of A-Z a-z 0-9 "
			    "_ -)",
			    (int)idlen, key, AGENTS_MAX_ID);
	if (dot == NULL)
		return parse_agent(p, key, idlen, value);
	if (keylen - idlen - 1 == 7 && strncmp(dot + 1, "timeout", 7) == 0)
		return parse_timeout(p, key, idlen, value);
	return perr(p, "unknown key \"%.*s\" (the only key of an agent is \"timeout\")",
		    (int)(keylen - idlen - 1), dot + 1);
}

static void trim(const char **s, const char **e)
{
	while (*s < *e && strchr(" \t\r", **s))
		(*s)++;
	while (*e > *s && strchr(" \t\r", (*e)[-1]))
		(*e)--;
}

/* One line, [s, e). */
static int parse_line(struct parser *p, const char *s, const char *e)
{
	const char *eq, *ks, *ke, *vs, *ve;
	char value[4096];

	trim(&s, &e);
	if (s == e || *s == '#')
		return 0;
	if (memchr(s, '\0', (size_t)(e - s)) != NULL)
		return perr(p, "the line contains a NUL byte");
	if ((eq = memchr(s, '=', (size_t)(e - s))) == NULL)
		return perr(p, "expected \"agent-id = /path/to/command args...\" or "
			       "\"agent-id.timeout = SECONDS\"");
	ks = s;
	ke = eq;
	vs = eq + 1;
	ve = e;
	trim(&ks, &ke);
	trim(&vs, &ve);
	if ((size_t)(ve - vs) >= sizeof(value))
		return perr(p, "the line is longer than %zu bytes", sizeof(value) - 1);
	snprintf(value, sizeof(value), "%.*s", (int)(ve - vs), vs);
	return parse_setting(p, ks, (size_t)(ke - ks), value);
}

/* Applies the timeout lines; each must name an agent of the file. */
static int apply_timeouts(struct parser *p)
{
	for (size_t i = 0; i < p->nt; i++) {
		struct agent *ag = (struct agent *)agents_find(p->a, p->t[i].id);

		if (ag == NULL) {
			p->line = p->t[i].line;
			return perr(p, "timeout for agent \"%s\", which the file does not define",
				    p->t[i].id);
		}
		ag->timeout_s = p->t[i].seconds;
	}
	return 0;
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	const char *s = text, *end = text + len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl ? nl : end;

		p->line++;
		if (parse_line(p, s, e) != 0)
			return -1;
		s = e + 1;
	}
	if (apply_timeouts(p) != 0)
		return -1;
	if (agents_find(p->a, AGENTS_NOOP) == NULL) {
		char *id = strdup(AGENTS_NOOP);

		if (id == NULL || agents_add(p->a, id, NULL, 0) != 0)
			return perr(p, "out of memory");
	}
	return 0;
}

static int parse_buf(const char *text, size_t len, const char *name, agents **out, char *err,
		     size_t errlen)
{
	struct parser p = { .name = name, .err = err, .errlen = errlen };
	int rv;

	if ((p.a = calloc(1, sizeof(*p.a))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	rv = parse_text(&p, text, len);
	free(p.t);
	if (rv != 0) {
		agents_free(p.a);
		return -1;
	}
	*out = p.a;
	return 0;
}

int agents_parse(const char *text, const char *name, agents **out, char *err, size_t errlen)
{
	return parse_buf(text, strlen(text), name, out, err, errlen);
}

/* Reads the whole file (at most AGENTS_MAX_FILE bytes) into *buf. */
static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *b;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((b = malloc(AGENTS_MAX_FILE + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	n = fread(b, 1, AGENTS_MAX_FILE + 1, f);
	if (ferror(f) || n > AGENTS_MAX_FILE) {
		snprintf(err, errlen, "%s: %s", path,
			 ferror(f) ? "cannot read the file" : "the file is larger than 1 MiB");
		fclose(f);
		free(b);
		return -1;
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

int agents_load(const char *path, agents **out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rv;

	if (path == NULL || *path == '\0')
		return parse_buf("", 0, "(no agents file)", out, err, errlen);
	if (read_file(path, &buf, &len, err, errlen) != 0)
		return -1;
	rv = parse_buf(buf, len, path, out, err, errlen);
	free(buf);
	return rv;
}
