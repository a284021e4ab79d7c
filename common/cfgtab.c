#include "cfgtab.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFGTAB_MAX 64

static bool enum_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = choices; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static int set_long(const struct cfgtab_setting *s, char *dst, const char *v, const char *from,
		    char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end != '\0' || n < s->min || n > s->max) {
		snprintf(err, errlen, "%s: \"%s\" is not an integer between %ld and %ld", from, v,
			 s->min, s->max);
		return -1;
	}
	*(long *)(void *)dst = n;
	return 0;
}

static int set_value(void *cfg, const struct cfgtab_setting *s, const char *v, const char *from,
		     char *err, size_t errlen)
{
	char *dst = (char *)cfg + s->offset;

	if (s->type == CFGTAB_LONG)
		return set_long(s, dst, v, from, err, errlen);
	if (s->type == CFGTAB_ENUM && !enum_ok(s->choices, v)) {
		snprintf(err, errlen, "%s: \"%s\" is not one of %s", from, v, s->choices);
		return -1;
	}
	if (strlen(v) >= s->size) {
		snprintf(err, errlen, "%s: value is longer than %zu bytes", from, s->size - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int load_defaults(const struct cfgtab *t, void *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->n_settings; i++)
		if (set_value(cfg, &t->settings[i], t->settings[i].def, "default", err, errlen) != 0)
			return -1;
	return 0;
}

static int load_env(const struct cfgtab *t, void *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->n_settings; i++) {
		const struct cfgtab_setting *s = &t->settings[i];
		const char *v = getenv(s->env);

		if (v != NULL && *v != '\0' && set_value(cfg, s, v, s->env, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* The setting whose environment variable is name (n bytes), or NULL. */
static const struct cfgtab_setting *by_env(const struct cfgtab *t, const char *name, size_t n)
{
	for (size_t i = 0; i < t->n_settings; i++)
		if (strlen(t->settings[i].env) == n && strncmp(t->settings[i].env, name, n) == 0)
			return &t->settings[i];
	return NULL;
}

/* Strips blanks around s in place, and one pair of matching quotes. */
static char *unquote(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		s[--n] = '\0';
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

int cfgtab_load_file(const struct cfgtab *t, void *cfg, const char *path, char *err,
		     size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096], from[600];
	int lineno = 0, rv = 0;

	if (f == NULL) {
		snprintf(err, errlen, "cannot read the configuration file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while (rv == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *eq;
		const struct cfgtab_setting *s;
		size_t n;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
			continue;
		if (strncmp(p, "export ", 7) == 0)
			p += 7;
		if ((eq = strchr(p, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected NAME=value", path, lineno);
			rv = -1;
			break;
		}
		n = (size_t)(eq - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		/* names of other programs' settings (a shared .env file) are skipped */
		if ((s = by_env(t, p, n)) == NULL)
			continue;
		snprintf(from, sizeof(from), "%s:%d (%s)", path, lineno, s->env);
		p = unquote(eq + 1);
		if (*p != '\0')
			rv = set_value(cfg, s, p, from, err, errlen);
	}
	explicit_bzero(line, sizeof(line)); /* such files hold secrets too */
	fclose(f);
	return rv;
}

/* The configuration file named by --config (FLAG) or its variable, or NULL. */
static const char *config_path(const struct cfgtab *t, int argc, char **argv)
{
	const struct cfgtab_setting *s = NULL;
	const char *v;
	size_t n;

	for (size_t i = 0; i < t->n_settings; i++)
		if (strcmp(t->settings[i].flag, "config") == 0)
			s = &t->settings[i];
	if (s == NULL)
		return NULL;
	n = strlen(s->flag);
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0 || strncmp(argv[i] + 2, s->flag, n) != 0)
			continue;
		if (argv[i][2 + n] == '=')
			return argv[i] + 3 + n;
		if (argv[i][2 + n] == '\0' && i + 1 < argc)
			return argv[i + 1];
	}
	v = getenv(s->env);
	return v != NULL && *v != '\0' ? v : NULL;
}

/* getopt's val: i for setting i, CFGTAB_MAX + j for switch j. */
static void fill_options(const struct cfgtab *t, struct option *opts)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_settings; i++)
		opts[n++] = (struct option){ t->settings[i].flag, required_argument, NULL, (int)i };
	for (size_t j = 0; j < t->n_switches; j++)
		opts[n++] = (struct option){ t->switches[j].flag, no_argument, NULL,
					     (int)(CFGTAB_MAX + j) };
	opts[n] = (struct option){ 0 };
}

static int apply(const struct cfgtab *t, void *cfg, int c, char *err, size_t errlen)
{
	char from[80];

	if (c == 'h')
		for (size_t j = 0; j < t->n_switches; j++)
			if (strcmp(t->switches[j].flag, "help") == 0)
				c = (int)(CFGTAB_MAX + j);
	if (c >= CFGTAB_MAX && (size_t)(c - CFGTAB_MAX) < t->n_switches) {
		*(bool *)(void *)((char *)cfg + t->switches[c - CFGTAB_MAX].offset) = true;
		return 0;
	}
	if (c < 0 || (size_t)c >= t->n_settings)
		return 1;
	snprintf(from, sizeof(from), "--%s (%s)", t->settings[c].flag, t->settings[c].env);
	return set_value(cfg, &t->settings[c], optarg, from, err, errlen);
}

int cfgtab_load(const struct cfgtab *t, void *cfg, int argc, char **argv, char *err,
		size_t errlen)
{
	struct option opts[2 * CFGTAB_MAX + 1];
	int c, idx, rv;

	const char *path = config_path(t, argc, argv);

	if (t->n_settings > CFGTAB_MAX || t->n_switches > CFGTAB_MAX)
		abort(); /* a table too large for opts: raise CFGTAB_MAX */
	if (load_defaults(t, cfg, err, errlen) != 0 ||
	    (path != NULL && cfgtab_load_file(t, cfg, path, err, errlen) != 0) ||
	    load_env(t, cfg, err, errlen) != 0)
		return -1;
	fill_options(t, opts);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if ((rv = apply(t, cfg, c, err, errlen)) < 0)
			return -1;
		if (rv > 0) {
			snprintf(err, errlen, "unknown or incomplete option %s (see --help)",
				 argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return -1;
	}
	return 0;
}

void cfgtab_usage(const struct cfgtab *t, FILE *out)
{
	for (size_t j = 0; j < t->n_switches; j++)
		fprintf(out, "  --%-18s %s\n", t->switches[j].flag, t->switches[j].help);
	fprintf(out, "\nsettings (flag, environment variable, default, bounds):\n");
	for (size_t i = 0; i < t->n_settings; i++) {
		const struct cfgtab_setting *s = &t->settings[i];
		char bounds[64] = "";

		if (s->type == CFGTAB_LONG)
			snprintf(bounds, sizeof(bounds), " [%ld..%ld]", s->min, s->max);
		else if (s->type == CFGTAB_ENUM)
			snprintf(bounds, sizeof(bounds), " [%s]", s->choices);
		fprintf(out, "  --%-18s %-26s default \"%s\"%s\n      %s\n", s->flag, s->env, s->def,
			bounds, s->help);
	}
}

const char *cfgtab_value(const struct cfgtab_setting *s, const void *cfg, char *buf,
			 size_t len)
{
	const char *p = (const char *)cfg + s->offset;

	if (s->type == CFGTAB_LONG)
		snprintf(buf, len, "%ld", *(const long *)(const void *)p);
	else
		snprintf(buf, len, "%s", p);
	return buf;
}
