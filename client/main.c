/*
 * flowctl - command-line client of flowd.
 *
 *   flowctl [--url URL] [--timeout MS] [--json] COMMAND [ARGS]
 *
 * Global options come before the command; the commands are in cli.c and the
 * MCP tool calls (`flowctl call TOOL JSON`) in call.c. Settings:
 *
 *   option      env          default
 *   --url       FLOW_URL     tcp://127.0.0.1:7600
 *   --timeout   -            30000 ms (1 .. 86400000)
 *   (token)     FLOW_TOKEN, FLOW_API_KEY, else the saved login (session.h);
 *               never taken from argv
 *
 * Exit status: 0 success, 1 server or connection error, 2 usage error,
 * 130 interrupted (SIGINT in queue watch).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "call.h"
#include "cli.h"
#include "exitguard.h"

#define TIMEOUT_MAX_MS 86400000ul

enum global_result { GLOBAL_OK, GLOBAL_HELP, GLOBAL_ERROR };

static enum global_result usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static enum global_result usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "flowctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see flowctl --help)\n");
	return GLOBAL_ERROR;
}

static int parse_timeout(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0 ||
	    v > TIMEOUT_MAX_MS)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Options taking a value, "--opt value" or "--opt=value". */
/* No --token: a token in argv is visible to every local user (ps); see cli_secret_option. */
enum global_opt { G_URL, G_TIMEOUT, G_NONE };
static const char *const global_names[] = { "--url", "--timeout", NULL };

static enum global_opt find_global(const char *arg, const char **inline_val)
{
	for (int g = 0; global_names[g] != NULL; g++) {
		size_t n = strlen(global_names[g]);

		if (strncmp(arg, global_names[g], n) == 0 && (arg[n] == '\0' || arg[n] == '=')) {
			*inline_val = arg[n] == '=' ? arg + n + 1 : NULL;
			return (enum global_opt)g;
		}
	}
	return G_NONE;
}

static enum global_result set_global(enum global_opt g, const char *v, struct cli_opts *o)
{
	if (g == G_URL)
		o->url = v;
	else if (parse_timeout(v, &o->timeout_ms) != 0)
		return usage("--timeout: expected milliseconds (1 to 86400000), got \"%s\"", v);
	return GLOBAL_OK;
}

/* The global option at argv[*i]; advances *i past its value. */
static enum global_result parse_global(int argc, char **argv, int *i, struct cli_opts *o)
{
	const char *a = argv[*i], *v = NULL;
	enum global_opt g;

	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		cli_help(stdout);
		return GLOBAL_HELP;
	}
	if (strcmp(a, "--json") == 0) {
		o->json = true;
		return GLOBAL_OK;
	}
	if (cli_secret_option(a) != NULL)
		return usage("there is no %.*s option: flowctl never takes passwords or tokens on "
			     "the command line, where other local users can read them; %s",
			     (int)strcspn(a, "="), a, cli_secret_option(a));
	if ((g = find_global(a, &v)) == G_NONE)
		return usage("unknown option %.*s", (int)strcspn(a, "="), a);
	if (v == NULL && *i + 1 >= argc)
		return usage("option %s needs a value", a);
	return set_global(g, v ? v : argv[++*i], o);
}

/* Called by cli_run once the output is flushed: closing the connection and
 * nng_fini get CLOSE_BOUND_MS (exitguard.h), then flowctl exits anyway, so
 * that a `flowctl mcp` whose client closed stdin, or any command after a
 * timeout, cannot hang in nng. */
#define CLOSE_BOUND_MS 2000

static void bound_close(int status)
{
	exit_guard_arm("flowctl", CLOSE_BOUND_MS, status);
}

int main(int argc, char **argv)
{
	struct cli_opts o = { getenv("FLOW_URL"), CLI_DEFAULT_TIMEOUT_MS, NULL, false };
	enum global_result r;
	int i, rc;

	if (o.url == NULL || o.url[0] == '\0')
		o.url = CLI_DEFAULT_URL;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if ((r = parse_global(argc, argv, &i, &o)) != GLOBAL_OK)
			return r == GLOBAL_HELP ? CALL_EXIT_OK : CALL_EXIT_USAGE;
	}
	if (i >= argc) {
		cli_help(stderr);
		return CALL_EXIT_USAGE;
	}
	cli_on_closing(bound_close);
	rc = cli_run(&o, argc - i, argv + i);
	nng_fini(); /* ends nng's threads: leak checkers see a clean exit */
	return rc;
}
