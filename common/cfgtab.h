/*
 * cfgtab.h - a program's settings as one table: flag, environment
 * variable, default, bounds, help.
 *
 * cfgtab_load() fills a caller's settings struct from the defaults, then a
 * configuration file (when the table has a setting with the flag "config"
 * and it is given), then the environment, then the command line (the flag
 * wins), checking each value
 * against its bounds with a message that names the flag or the variable.
 * cfgtab_usage() prints the table. flowd and flow-worker each declare their
 * table; docs/operations.md and docs/worker.md document them.
 */
#ifndef FLOW_CFGTAB_H
#define FLOW_CFGTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cfgtab_type { CFGTAB_STR, CFGTAB_LONG, CFGTAB_ENUM };

struct cfgtab_setting {
	const char *flag; /* long option, without "--" */
	const char *env;
	enum cfgtab_type type;
	size_t offset; /* of a long, or of a char array of `size` bytes */
	size_t size;
	const char *def;
	long min, max;       /* CFGTAB_LONG */
	const char *choices; /* "a|b|c", CFGTAB_ENUM */
	const char *help;
};

/* A flag without a value that sets a bool (--help, --check-config). */
struct cfgtab_switch {
	const char *flag;
	size_t offset; /* of a bool */
	const char *help;
};

struct cfgtab {
	const struct cfgtab_setting *settings;
	size_t n_settings;
	const struct cfgtab_switch *switches;
	size_t n_switches;
};

/* Field helpers for the tables: CFGTAB_FIELD_STR(struct cfg, url). */
#define CFGTAB_FIELD_STR(type, f) offsetof(type, f), sizeof(((type *)0)->f)
#define CFGTAB_FIELD_LONG(type, f) offsetof(type, f), 0

/*
 * Fills cfg (which the caller zeroed) from defaults, environ and argv; "-h"
 * is the switch named "help". Returns 0, or -1 with err naming the flag or
 * variable, the value and the bounds.
 */
int cfgtab_load(const struct cfgtab *t, void *cfg, int argc, char **argv, char *err,
		size_t errlen);

/*
 * Applies a configuration file: lines NAME=value with the settings'
 * environment variable names (an .env file: blank lines, # comments,
 * "export NAME=value" and quoted values are accepted; names of no setting of
 * this table are skipped, so one file can serve several programs; an empty
 * value leaves the setting as it is). Returns 0, or -1 with err naming the
 * file and line.
 */
int cfgtab_load_file(const struct cfgtab *t, void *cfg, const char *path, char *err,
		     size_t errlen);

/* Prints the switches and the settings with their variables, defaults,
 * bounds and help. */
void cfgtab_usage(const struct cfgtab *t, FILE *out);

/* The value of setting s in cfg as text, into buf. */
const char *cfgtab_value(const struct cfgtab_setting *s, const void *cfg, char *buf,
			 size_t len);

#endif
