/*
 * ts_prom.h - for the tests of flowd's HTTP endpoints: a reader of the
 * Prometheus text format 0.0.4 that also checks the text is well formed,
 * and a minimal HTTP/1.1 client. Header only (static functions), so it
 * needs no change to the test support library; include it in one .c file.
 *
 * ts_prom_parse() rejects: a sample line that does not parse (name,
 * labels with only the escapes \\ \" \n, value); a sample whose metric
 * family has no "# TYPE" line before it (name_bucket, name_sum and
 * name_count belong to histogram/summary "name"); a family whose lines are
 * not together, or typed twice; a histogram whose buckets (per label set)
 * are not cumulative, do not end with le="+Inf", or whose +Inf bucket is
 * not its _count, or that has no _sum.
 *
 * Ownership: ts_prom_parse fills a struct ts_prom the caller frees with
 * ts_prom_free; ts_http's *body is malloc'd, freed by the caller.
 */
#ifndef FLOW_TS_PROM_H
#define FLOW_TS_PROM_H

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TS_PROM_MAX_LABELS 8

struct ts_sample {
	char name[128];
	int n_labels;
	char key[TS_PROM_MAX_LABELS][64];
	char val[TS_PROM_MAX_LABELS][256]; /* unescaped */
	double value;
};

struct ts_family {
	char name[128];
	char type[32];
	bool closed; /* another family's samples came after its own */
	bool seen;
};

struct ts_prom {
	struct ts_sample *s;
	size_t n, cap;
	struct ts_family *f;
	size_t nf, capf;
	char err[512];
};

static void ts_prom_free(struct ts_prom *p)
{
	free(p->s);
	free(p->f);
	memset(p, 0, sizeof(*p));
}

static int ts_prom_fail(struct ts_prom *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ts_prom_fail(struct ts_prom *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, sizeof(p->err), "line %d: ", line);

	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool ts_prom_name_ok(const char *s, bool label)
{
	if (!(isalpha((unsigned char)*s) || *s == '_' || (!label && *s == ':')))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || (!label && *s == ':')))
			return false;
	return true;
}

/* Reads a name into out (len); returns the character after it. */
static const char *ts_prom_word(const char *s, char *out, size_t len)
{
	size_t n = 0;

	while (*s && (isalnum((unsigned char)*s) || *s == '_' || *s == ':')) {
		if (n + 1 < len)
			out[n++] = *s;
		s++;
	}
	out[n] = '\0';
	return s;
}

static struct ts_family *ts_prom_family(struct ts_prom *p, const char *name)
{
	for (size_t i = 0; i < p->nf; i++)
		if (strcmp(p->f[i].name, name) == 0)
			return &p->f[i];
	return NULL;
}

/* The family a sample name belongs to, or NULL. */
static struct ts_family *ts_prom_owner(struct ts_prom *p, const char *name)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	struct ts_family *f = ts_prom_family(p, name);
	char base[128];

	if (f != NULL)
		return f;
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(name), k = strlen(sfx[i]);

		if (n <= k || strcmp(name + n - k, sfx[i]) != 0 || n - k >= sizeof(base))
			continue;
		memcpy(base, name, n - k);
		base[n - k] = '\0';
		f = ts_prom_family(p, base);
		if (f != NULL && (strcmp(f->type, "histogram") == 0 ||
				  (strcmp(f->type, "summary") == 0 && i > 0)))
			return f;
	}
	return NULL;
}

/* Parses {k="v",...}; returns the character after '}' or NULL. */
static const char *ts_prom_labels(const char *s, struct ts_sample *smp)
{
	s++; /* '{' */
	while (*s != '}') {
		char *v;
		size_t n = 0;

		if (smp->n_labels == TS_PROM_MAX_LABELS)
			return NULL;
		s = ts_prom_word(s, smp->key[smp->n_labels], sizeof(smp->key[0]));
		if (!ts_prom_name_ok(smp->key[smp->n_labels], true) || *s++ != '=' || *s++ != '"')
			return NULL;
		v = smp->val[smp->n_labels];
		while (*s != '"') {
			char c = *s++;

			if (c == '\0' || c == '\n')
				return NULL;
			if (c == '\\') {
				c = *s++;
				if (c == 'n')
					c = '\n';
				else if (c != '\\' && c != '"')
					return NULL;
			}
			if (n + 1 < sizeof(smp->val[0]))
				v[n++] = c;
		}
		v[n] = '\0';
		s++;
		smp->n_labels++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return NULL;
	}
	return s + 1;
}

static int ts_prom_sample(struct ts_prom *p, int line, const char *s)
{
	struct ts_sample smp;
	struct ts_family *f;
	char *end;

	memset(&smp, 0, sizeof(smp));
	s = ts_prom_word(s, smp.name, sizeof(smp.name));
	if (!ts_prom_name_ok(smp.name, false))
		return ts_prom_fail(p, line, "bad metric name");
	if (*s == '{' && (s = ts_prom_labels(s, &smp)) == NULL)
		return ts_prom_fail(p, line, "bad labels on %s", smp.name);
	if (*s != ' ')
		return ts_prom_fail(p, line, "no space before the value of %s", smp.name);
	errno = 0;
	smp.value = strtod(s + 1, &end);
	if (end == s + 1 || errno != 0 || (*end != '\0' && *end != ' '))
		return ts_prom_fail(p, line, "bad value of %s", smp.name);
	if ((f = ts_prom_owner(p, smp.name)) == NULL)
		return ts_prom_fail(p, line, "%s has no # TYPE line before it", smp.name);
	if (f->closed)
		return ts_prom_fail(p, line, "the lines of %s are not together", f->name);
	for (size_t i = 0; i < p->nf; i++)
		if (&p->f[i] != f && p->f[i].seen)
			p->f[i].closed = true;
	f->seen = true;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct ts_sample *v = realloc(p->s, cap * sizeof(*v));

		if (v == NULL)
			return ts_prom_fail(p, line, "out of memory");
		p->s = v;
		p->cap = cap;
	}
	p->s[p->n++] = smp;
	return 0;
}

static int ts_prom_comment(struct ts_prom *p, int line, const char *s)
{
	char kind[8], name[128], type[32];
	struct ts_family *f;

	if (sscanf(s, "# %7s %127s %31s", kind, name, type) < 2 ||
	    (strcmp(kind, "TYPE") != 0 && strcmp(kind, "HELP") != 0))
		return 0; /* any other comment */
	if (!ts_prom_name_ok(name, false))
		return ts_prom_fail(p, line, "bad metric name in # %s", kind);
	if (strcmp(kind, "HELP") == 0)
		return 0;
	if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
	    strcmp(type, "histogram") != 0 && strcmp(type, "summary") != 0 &&
	    strcmp(type, "untyped") != 0)
		return ts_prom_fail(p, line, "bad type %s", type);
	if (ts_prom_family(p, name) != NULL)
		return ts_prom_fail(p, line, "%s typed twice", name);
	if (p->nf == p->capf) {
		size_t cap = p->capf ? p->capf * 2 : 64;
		struct ts_family *v = realloc(p->f, cap * sizeof(*v));

		if (v == NULL)
			return ts_prom_fail(p, line, "out of memory");
		p->f = v;
		p->capf = cap;
	}
	f = &p->f[p->nf++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->type, sizeof(f->type), "%s", type);
	return 0;
}

static const char *ts_prom_label(const struct ts_sample *s, const char *key)
{
	for (int i = 0; i < s->n_labels; i++)
		if (strcmp(s->key[i], key) == 0)
			return s->val[i];
	return NULL;
}

/* The same labels but le. */
static bool ts_prom_same_series(const struct ts_sample *a, const struct ts_sample *b)
{
	int na = 0, nb = 0;

	for (int i = 0; i < a->n_labels; i++) {
		const char *v;

		if (strcmp(a->key[i], "le") == 0)
			continue;
		na++;
		if ((v = ts_prom_label(b, a->key[i])) == NULL || strcmp(v, a->val[i]) != 0)
			return false;
	}
	for (int i = 0; i < b->n_labels; i++)
		nb += strcmp(b->key[i], "le") != 0;
	return na == nb;
}

/* Checks the histogram series starting at bucket sample i. */
static int ts_prom_check_series(struct ts_prom *p, const struct ts_family *f, size_t i)
{
	char nb[160], ns[160], nc[160];
	double last_le = -INFINITY, last = 0;
	bool inf = false, sum = false, count = false;

	snprintf(nb, sizeof(nb), "%s_bucket", f->name);
	snprintf(ns, sizeof(ns), "%s_sum", f->name);
	snprintf(nc, sizeof(nc), "%s_count", f->name);
	for (size_t k = i; k < p->n; k++) {
		const struct ts_sample *s = &p->s[k];

		if (!ts_prom_same_series(&p->s[i], s))
			continue;
		if (strcmp(s->name, nb) == 0) {
			const char *le = ts_prom_label(s, "le");
			double v = le ? strtod(le, NULL) : NAN;

			if (le == NULL || inf || !(v > last_le) || s->value < last)
				return ts_prom_fail(p, 0,
						    "%s: buckets not cumulative / ordered at le=%s",
						    f->name, le ? le : "?");
			inf = strcmp(le, "+Inf") == 0;
			last_le = v;
			last = s->value;
		} else if (strcmp(s->name, ns) == 0) {
			sum = true;
		} else if (strcmp(s->name, nc) == 0) {
			if (!inf || s->value != last)
				return ts_prom_fail(p, 0, "%s: _count %g is not the +Inf bucket %g",
						    f->name, s->value, last);
			count = true;
		}
	}
	if (!inf || !sum || !count)
		return ts_prom_fail(p, 0, "%s: a series lacks le=\"+Inf\", _sum or _count",
				    f->name);
	return 0;
}

static int ts_prom_check_histograms(struct ts_prom *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct ts_family *f = ts_prom_owner(p, p->s[i].name);
		char nb[160];
		bool first = true;

		if (strcmp(f->type, "histogram") != 0)
			continue;
		snprintf(nb, sizeof(nb), "%s_bucket", f->name);
		if (strcmp(p->s[i].name, nb) != 0)
			continue;
		for (size_t k = 0; k < i && first; k++)
			if (strcmp(p->s[k].name, nb) == 0 &&
			    ts_prom_same_series(&p->s[k], &p->s[i]))
				first = false;
		if (first && ts_prom_check_series(p, f, i) != 0)
			return -1;
	}
	return 0;
}

/* Parses and checks text (see the top). 0, or -1 with p->err. */
static int ts_prom_parse(const char *text, struct ts_prom *p)
{
	int line = 0;

	memset(p, 0, sizeof(*p));
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		char buf[2048];
		int rv = 0;

		line++;
		if (n >= sizeof(buf))
			return ts_prom_fail(p, line, "line too long");
		memcpy(buf, text, n);
		buf[n] = '\0';
		text += n + (nl != NULL);
		if (nl == NULL)
			return ts_prom_fail(p, line, "the last line has no newline");
		if (buf[0] == '\0')
			continue;
		rv = buf[0] == '#' ? ts_prom_comment(p, line, buf) : ts_prom_sample(p, line, buf);
		if (rv != 0)
			return rv;
	}
	return ts_prom_check_histograms(p);
}

/*
 * The sum of the samples named name whose labels include every pair of the
 * NULL-terminated list of key, value strings (other labels may be present);
 * *n (may be NULL) gets how many matched. A missing sample sums to 0.
 */
static double ts_prom_sum(const struct ts_prom *p, int *n, const char *name, ...)
{
	double sum = 0;
	int count = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct ts_sample *s = &p->s[i];
		bool ok = strcmp(s->name, name) == 0;
		va_list ap;
		const char *k;

		va_start(ap, name);
		while (ok && (k = va_arg(ap, const char *)) != NULL) {
			const char *v = va_arg(ap, const char *), *have = ts_prom_label(s, k);

			ok = have != NULL && strcmp(have, v) == 0;
		}
		va_end(ap);
		if (ok) {
			sum += s->value;
			count++;
		}
	}
	if (n != NULL)
		*n = count;
	return sum;
}

/*
 * One HTTP/1.1 request (Connection: close) to 127.0.0.1:port. Returns the
 * status code, or -1 (reason on stderr). *body (may be NULL) gets the body,
 * NUL-terminated and malloc'd; ctype (may be NULL) the Content-Type; allow
 * (may be NULL) the Allow header.
 */
static int ts_http(int port, const char *method, const char *path, char **body, char *ctype,
		   size_t ctlen, char *allow, size_t alen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 10, 0 };
	char req[512], *buf = NULL, *p;
	size_t len = 0, cap = 0;
	int fd, status = -1;
	bool post;

	if (body)
		*body = NULL;
	if (ctype)
		ctype[0] = '\0';
	if (allow)
		allow[0] = '\0';
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "ts_http: connect to port %d: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	post = strcmp(method, "POST") == 0; /* with a small body */
	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n%s", method,
		 path, port, post ? "Content-Length: 2\r\n" : "", post ? "{}" : "");
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n;

		if (len + 4097 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);

			if (nb == NULL)
				break;
			buf = nb;
		}
		if ((n = read(fd, buf + len, cap - len - 1)) <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return -1;
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || (p = strstr(buf, "\r\n\r\n")) == NULL) {
		fprintf(stderr, "ts_http: not an HTTP response: %.200s\n", buf);
		free(buf);
		return -1;
	}
	*p = '\0';
	for (char *h = strstr(buf, "\r\n"); h != NULL; h = strstr(h + 2, "\r\n")) {
		char *v = strchr(h + 2, ':'), *e;

		if (v == NULL)
			break;
		e = strstr(v, "\r\n");
		if (ctype && strncasecmp(h + 2, "Content-Type:", 13) == 0)
			snprintf(ctype, ctlen, "%.*s", (int)((e ? e : v + strlen(v)) - v - 2),
				 v + 2);
		if (allow && strncasecmp(h + 2, "Allow:", 6) == 0)
			snprintf(allow, alen, "%.*s", (int)((e ? e : v + strlen(v)) - v - 2),
				 v + 2);
	}
	if (body && (*body = strdup(p + 4)) == NULL)
		status = -1;
	free(buf);
	return status;
}

#endif
