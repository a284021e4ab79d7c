/*
 * e2e.deploy: the deployment files, checked without a container engine.
 *
 * - scripts/gen-secrets.sh writes a private .env whose secrets flowd accepts
 *   in production, refuses to overwrite it, and sets the workers' key from
 *   stdin;
 * - deploy/docker-compose.yml (and the TLS override) pass
 *   `docker-compose config` with that .env, and stop with a message when a
 *   required secret is missing;
 * - every variable the compose files use, and every setting flowd and
 *   flow-worker list in --help, is documented in deploy/.env.example;
 * - deploy/Dockerfile copies only files that exist, and its runtime stage
 *   installs the Debian package of every shared library the programs link;
 * - the systemd units pass `systemd-analyze verify` (when it is installed).
 *
 * docker-compose (Debian's 1.29, from scripts/deps.sh) or `docker compose`
 * must be installed: without one this test fails, it does not skip.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testsupport.h"

extern char **environ;

static char *tmp;
static char env_file[700];
static const char *compose[3]; /* the command: {"docker-compose"} or {"docker", "compose"} */

/* ---- plumbing ---- */

static const char *tmp_path(const char *name)
{
	static char bufs[8][700];
	static int k;
	char *b = bufs[k++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, name);
	return b;
}

/* Appends to the string in buf (size bytes), cutting what does not fit. */
__attribute__((format(printf, 3, 4)))
static void appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* Runs argv; returns the exit status, output in *out / *err (caller frees). */
static int run(char *const argv[], const char *in, char **out, char **err)
{
	int status = -1;

	if (ts_run_capture(argv, in, out, err, &status, 60000) != 0)
		fail_msg("%s did not run or timed out", argv[0]);
	return status;
}

/* The value of the NAME= line of an env file text, in buf; NULL when none. */
static const char *env_value(const char *text, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			size_t v = strcspn(p + n + 1, "\n");

			snprintf(buf, len, "%.*s", (int)v, p + n + 1);
			return buf;
		}
	}
	return NULL;
}

/* Number of lines of text that start with prefix. */
static int count_lines_with(const char *text, const char *prefix)
{
	int n = 0;
	size_t k = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n += strncmp(p, prefix, k) == 0;
	return n;
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
	for (char *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char full[4200];

		snprintf(full, sizeof(full), "%s/%s", d, prog);
		if (access(full, X_OK) == 0)
			return true;
	}
	return false;
}

/* Runs the compose command with the files and the env file; returns its status. */
static int compose_config(const char *envf, bool tls, char **out, char **err)
{
	char *argv[16];
	int n = 0;

	for (int i = 0; compose[i]; i++)
		argv[n++] = (char *)compose[i];
	argv[n++] = "-f";
	argv[n++] = (char *)ts_src("deploy/docker-compose.yml");
	if (tls) {
		argv[n++] = "-f";
		argv[n++] = (char *)ts_src("deploy/docker-compose.tls.yml");
	}
	argv[n++] = "--env-file";
	argv[n++] = (char *)envf;
	argv[n++] = "config";
	argv[n] = NULL;
	return run(argv, NULL, out, err);
}

/* The ${NAME...} references of a compose file, outside comment lines. */
static int compose_vars(const char *text, char names[][64], int max)
{
	int n = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n'), *p = line;

		if (end == NULL)
			end = line + strlen(line);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		for (; *p != '#' && p + 2 < end; p++) {
			size_t k = 0;
			char name[64];
			bool seen = false;

			if (p[0] != '$' || p[1] != '{')
				continue;
			while (k < sizeof(name) - 1 && (isalnum((unsigned char)p[2 + k]) || p[2 + k] == '_')) {
				name[k] = p[2 + k];
				k++;
			}
			name[k] = '\0';
			for (int i = 0; i < n; i++)
				seen = seen || strcmp(names[i], name) == 0;
			if (k > 0 && !seen && n < max)
				snprintf(names[n++], 64, "%s", name);
		}
		line = *end ? end + 1 : end;
	}
	return n;
}

/*
 * True when .env.example has a line "NAME=" (or "# NAME=" when commented is
 * allowed) in a block of lines (between blank lines) that has a comment.
 */
static bool documented(const char *example, const char *name, bool commented)
{
	char want[80], want_c[84];
	const char *block = example;

	snprintf(want, sizeof(want), "%s=", name);
	snprintf(want_c, sizeof(want_c), "# %s=", name);
	for (const char *p = example; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 0)
			block = end + 1;
		if (strncmp(p, want, strlen(want)) == 0 ||
		    (commented && strncmp(p, want_c, strlen(want_c)) == 0)) {
			/* a comment line in the block before (or at) this line */
			for (const char *q = block; q <= p; q = strchr(q, '\n') + 1)
				if (*q == '#' && (q != p || commented))
					return true;
			return false;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* ---- gen-secrets.sh ---- */

static void test_gen_secrets(void **state)
{
	char *const gen[] = { (char *)ts_src("scripts/gen-secrets.sh"), "--env-file", env_file, NULL };
	char *const force[] = { (char *)ts_src("scripts/gen-secrets.sh"), "--env-file", env_file,
				"--force", NULL };
	char *const set[] = { (char *)ts_src("scripts/gen-secrets.sh"), "set", "FLOW_API_KEY",
			      "--env-file", env_file, NULL };
	char pg[256], jwt[256], admin[256], buf[256], check[1200];
	char *out = NULL, *err = NULL, *text, *text2, *example;
	struct stat st;

	assert_int_equal(run(gen, NULL, &out, &err), 0);
	assert_int_equal(stat(env_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = ts_read_file(env_file, NULL);
	assert_non_null(env_value(text, "POSTGRES_PASSWORD", pg, sizeof(pg)));
	assert_non_null(env_value(text, "FLOW_JWT_SECRET", jwt, sizeof(jwt)));
	assert_non_null(env_value(text, "FLOW_ADMIN_PASSWORD", admin, sizeof(admin)));
	assert_int_equal(strlen(pg), 48);
	assert_int_equal(strspn(pg, "0123456789abcdef"), 48); /* URL-safe: it goes into FLOW_DB_URL */
	assert_int_equal(strlen(jwt), 64);
	assert_true(strlen(admin) >= 16);
	/* the secrets are never printed */
	assert_null(strstr(err, jwt));
	assert_null(strstr(err, admin));
	assert_null(strstr(err, pg));
	assert_string_equal(out, "");
	/* everything else is the template, line for line */
	example = ts_read_file(ts_src("deploy/.env.example"), NULL);
	assert_int_equal(count_lines_with(text, ""), count_lines_with(example, ""));
	assert_int_equal(count_lines_with(text, "FLOW_API_KEY="), 1);
	free(out);
	free(err);

	/* flowd accepts the signing secret in production */
	snprintf(check, sizeof(check), "FLOW_JWT_SECRET=%s", jwt);
	{
		char *const argv[] = { "env", "FLOW_ENV=production", check, (char *)ts_bin("flowd"),
				       "--check-config", "--db", "postgresql://flow@127.0.0.1:1/flow",
				       "--listen", "ipc:///nonexistent/flowd.sock", NULL };

		assert_int_equal(run(argv, NULL, &out, &err), 0);
		assert_null(strstr(err, "CRITICAL"));
		free(out);
		free(err);
	}

	/* an existing .env is kept, unless --force */
	assert_int_equal(run(gen, NULL, &out, &err), 1);
	assert_non_null(strstr(err, "not overwriting"));
	free(out);
	free(err);
	text2 = ts_read_file(env_file, NULL);
	assert_string_equal(text, text2);
	free(text2);
	assert_int_equal(run(force, NULL, &out, &err), 0);
	free(out);
	free(err);
	text2 = ts_read_file(env_file, NULL);
	assert_string_not_equal(env_value(text2, "FLOW_JWT_SECRET", buf, sizeof(buf)), jwt);
	free(text2);

	/* set: the value comes from stdin, replaces the line, keeps the mode */
	assert_int_equal(run(set, "flk_test_0123456789\n", &out, &err), 0);
	free(out);
	free(err);
	text2 = ts_read_file(env_file, NULL);
	assert_string_equal(env_value(text2, "FLOW_API_KEY", buf, sizeof(buf)), "flk_test_0123456789");
	assert_int_equal(count_lines_with(text2, "FLOW_API_KEY="), 1);
	assert_int_equal(stat(env_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(run(set, "", &out, &err), 1); /* no value: refused */
	free(out);
	free(err);
	free(text2);
	free(text);
	free(example);
}

/* ---- docker-compose.yml ---- */

static void test_compose_config(void **state)
{
	char *out = NULL, *err = NULL, *text, pg[256], want[400];

	text = ts_read_file(env_file, NULL);
	assert_non_null(text);
	assert_non_null(env_value(text, "POSTGRES_PASSWORD", pg, sizeof(pg)));
	if (compose_config(env_file, false, &out, &err) != 0)
		fail_msg("%s config failed:\n%s", compose[0], err);
	for (const char *s[] = { "postgres:", "flowd:", "worker:", "image: postgres:15",
				 "condition: service_healthy", "FLOW_ENV: production",
				 "FLOW_HTTP_LISTEN: 0.0.0.0:9464", "FLOW_URL: tcp://flowd:7600",
				 "FLOW_API_KEY: flk_test_0123456789", "flow-healthcheck", "pgdata",
				 "/etc/flowd/agents.conf", NULL },
			**p = s;
	     *p; p++)
		if (strstr(out, *p) == NULL)
			fail_msg("`%s config` lacks \"%s\":\n%s", compose[0], *p, out);
	/* published on the host's loopback only (1.29's short syntax) */
	if (compose[1] == NULL) {
		assert_non_null(strstr(out, "- 127.0.0.1:7600:7600/tcp"));
		assert_non_null(strstr(out, "- 127.0.0.1:9464:9464/tcp"));
		assert_non_null(strstr(out, "/etc/flowd/agents.conf:ro"));
	}
	snprintf(want, sizeof(want), "postgresql://flow:%s@postgres:5432/flow", pg);
	assert_non_null(strstr(out, want));
	assert_null(strstr(out, "container_name")); /* --scale worker=N works */
	free(out);
	free(err);

	if (compose_config(env_file, true, &out, &err) != 0)
		fail_msg("%s config with docker-compose.tls.yml failed:\n%s", compose[0], err);
	assert_non_null(strstr(out, "tls+tcp://flowd:7600"));
	assert_non_null(strstr(out, "FLOW_TLS_CLIENT_CA: /etc/flowd/tls/ca.pem"));
	assert_true(strstr(out, "FLOW_ALLOW_PLAINTEXT: '0'") || strstr(out, "FLOW_ALLOW_PLAINTEXT: \"0\""));
	free(out);
	free(err);
	free(text);
}

static void test_compose_requires_secrets(void **state)
{
	const char *empty = tmp_path("empty.env"), *nokey = tmp_path("nokey.env");
	char *out = NULL, *err = NULL;
	FILE *f;

	f = fopen(empty, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_not_equal(compose_config(empty, false, &out, &err), 0);
	assert_non_null(strstr(err, "POSTGRES_PASSWORD"));
	free(out);
	free(err);

	/* the workers' key may be empty during bring-up, but not absent */
	f = fopen(nokey, "w");
	assert_non_null(f);
	fputs("POSTGRES_PASSWORD=0123abcd\nFLOW_JWT_SECRET=x\n", f);
	fclose(f);
	assert_int_not_equal(compose_config(nokey, false, &out, &err), 0);
	assert_non_null(strstr(err, "FLOW_API_KEY"));
	free(out);
	free(err);
}

/* ---- .env.example ---- */

static void test_compose_variables_documented(void **state)
{
	char *example = ts_read_file(ts_src("deploy/.env.example"), NULL);
	const char *files[] = { "deploy/docker-compose.yml", "deploy/docker-compose.tls.yml" };
	char names[128][64], missing[4096] = "";
	int total = 0;

	assert_non_null(example);
	for (size_t i = 0; i < 2; i++) {
		char *text = ts_read_file(ts_src(files[i]), NULL);
		int n;

		assert_non_null(text);
		n = compose_vars(text, names, 128);
		for (int k = 0; k < n; k++)
			if (!documented(example, names[k], false))
				appendf(missing, sizeof(missing), " %s (%s)", names[k], files[i]);
		total += n;
		free(text);
	}
	print_message("%d variable references checked\n", total);
	assert_true(total >= 40);
	if (missing[0])
		fail_msg("not documented as NAME= with a comment in deploy/.env.example:%s", missing);
	free(example);
}

/* Every FLOW_* name in a program's --help output is in .env.example. */
static void check_help(const char *prog, const char *example, char *missing, size_t len)
{
	char *const argv[] = { (char *)ts_bin(prog), "--help", NULL };
	char *out = NULL, *err = NULL;
	int n = 0;

	assert_int_equal(run(argv, NULL, &out, &err), 0);
	for (char *p = strstr(out, "FLOW_"); p; p = strstr(p + 1, "FLOW_")) {
		char name[64];
		size_t k = 0;

		while (k < sizeof(name) - 1 && (isupper((unsigned char)p[k]) || isdigit((unsigned char)p[k]) ||
						p[k] == '_'))
			name[k] = p[k], k++;
		name[k] = '\0';
		n++;
		if (!documented(example, name, true) && strstr(missing, name) == NULL)
			appendf(missing, len, " %s (%s)", name, prog);
	}
	print_message("%s --help: %d FLOW_* names\n", prog, n);
	assert_true(n >= 10);
	free(out);
	free(err);
}

static void test_settings_documented(void **state)
{
	char *example = ts_read_file(ts_src("deploy/.env.example"), NULL);
	char missing[4096] = "";

	assert_non_null(example);
	check_help("flowd", example, missing, sizeof(missing));
	check_help("flow-worker", example, missing, sizeof(missing));
	/* settings that are environment only */
	for (const char *s[] = { "FLOW_JWT_SECRET", "FLOW_ADMIN_PASSWORD", "FLOW_API_KEY",
				 "FLOW_TLS_CA", "FLOW_TLS_SERVER_NAME", "FLOW_TLS_CLIENT_CERT",
				 "FLOW_TLS_CLIENT_KEY", NULL },
			**p = s;
	     *p; p++)
		if (!documented(example, *p, false))
			appendf(missing, sizeof(missing), " %s", *p);
	if (missing[0])
		fail_msg("not documented in deploy/.env.example:%s", missing);
	free(example);
}

/* ---- Dockerfile ---- */

/* Checks the COPY sources of the Dockerfile exist; returns the runtime stage. */
static const char *check_copies(const char *df)
{
	const char *runtime = strstr(df, "\nFROM debian:12-slim");
	int copies = 0;

	assert_non_null(runtime);
	for (const char *p = strstr(df, "\nCOPY "); p; p = strstr(p + 1, "\nCOPY ")) {
		char line[512], *save = NULL, *words[16];
		int n = 0;

		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p + 6, "\n"), p + 6);
		for (char *w = strtok_r(line, " \t", &save); w && n < 16; w = strtok_r(NULL, " \t", &save))
			words[n++] = w;
		if (n < 2 || strncmp(words[0], "--from=", 7) == 0)
			continue;
		for (int i = 0; i < n - 1; i++) {
			if (access(ts_src(words[i]), R_OK) != 0)
				fail_msg("deploy/Dockerfile copies %s, which is not in the repository",
					 words[i]);
			copies++;
		}
	}
	assert_true(copies >= 8);
	return runtime;
}

static void test_dockerfile(void **state)
{
	char *df = ts_read_file(ts_src("deploy/Dockerfile"), NULL);
	char *ign = ts_read_file(ts_src(".dockerignore"), NULL);
	const char *runtime;
	char *out = NULL, *err = NULL, script[2048];
	int checked = 0;

	assert_non_null(df);
	assert_non_null(ign);
	for (const char *s[] = { "FROM debian:12 AS build", "-DCMAKE_BUILD_TYPE=Release",
				 "USER 10001", "EXPOSE 7600 9464", "HEALTHCHECK", "flow-healthcheck",
				 "/usr/local/lib/flowd/agents/demo-note", "CMD [\"flowd\"]", NULL },
			**p = s;
	     *p; p++)
		if (strstr(df, *p) == NULL)
			fail_msg("deploy/Dockerfile lacks \"%s\"", *p);
	assert_int_equal(count_lines_with(df, "\t&& apt-get install -y --no-install-recommends"), 2);
	assert_int_equal(count_lines_with(df, "\t&& rm -rf /var/lib/apt/lists/*"), 2);
	for (const char *s[] = { ".git", "/build*", "node_modules", "deploy/.env", NULL }, **p = s;
	     *p; p++)
		assert_non_null(strstr(ign, *p));
	runtime = check_copies(df);

	/*
	 * The Debian package of every library the programs link directly must be
	 * installed in the runtime stage (the C library and sanitizer runtimes
	 * aside). Needs dpkg: elsewhere this part is skipped.
	 */
	if (!on_path("dpkg-query") || !on_path("objdump")) {
		print_message("no dpkg or objdump: runtime packages not checked\n");
		goto out;
	}
	snprintf(script, sizeof(script),
		 "for b in %s %s %s; do\n"
		 "  for so in $(objdump -p \"$b\" | awk '$1 == \"NEEDED\" {print $2}'); do\n"
		 "    path=$(ldd \"$b\" | awk -v s=\"$so\" '$1 == s && $2 == \"=>\" {print $3}')\n"
		 "    [ -n \"$path\" ] || { echo \"?$so\"; continue; }\n"
		 "    dpkg-query -S \"$(readlink -f \"$path\")\" 2>/dev/null | head -n 1 | cut -d: -f1\n"
		 "  done\n"
		 "done | sort -u\n",
		 ts_bin("flowd"), ts_bin("flowctl"), ts_bin("flow-worker"));
	{
		char *const argv[] = { "sh", "-c", script, NULL };

		assert_int_equal(run(argv, NULL, &out, &err), 0);
	}
	for (char *save = NULL, *pkg = strtok_r(out, "\n", &save); pkg;
	     pkg = strtok_r(NULL, "\n", &save)) {
		char want[128];

		if (strcmp(pkg, "libc6") == 0 || strncmp(pkg, "libasan", 7) == 0 ||
		    strncmp(pkg, "libubsan", 8) == 0 || strncmp(pkg, "libgcc-s", 8) == 0)
			continue;
		if (pkg[0] == '?')
			fail_msg("cannot find the library %s that the programs link", pkg + 1);
		snprintf(want, sizeof(want), "\t\t%s \\\n", pkg);
		if (strstr(runtime, want) == NULL)
			fail_msg("the programs link a library of package %s, which the runtime stage of "
				 "deploy/Dockerfile does not install", pkg);
		checked++;
	}
	print_message("%d runtime packages checked\n", checked);
	assert_true(checked >= 6);
out:
	free(out);
	free(err);
	free(df);
	free(ign);
}

/* ---- systemd units ---- */

static void test_systemd_units(void **state)
{
	const char *units[] = { "flowd.service", "flow-worker@.service" };
	char dir[700], bindir[600], script[4096], *out = NULL, *err = NULL;

	for (size_t i = 0; i < 2; i++) {
		char path[300];
		char *u;

		snprintf(path, sizeof(path), "deploy/systemd/%s", units[i]);
		u = ts_read_file(ts_src(path), NULL);
		assert_non_null(u);
		for (const char *s[] = { "\nType=simple\n", "\nEnvironmentFile=/etc/flowd/",
					 "\nRestart=on-failure\n", "\nKillSignal=SIGTERM\n",
					 "\nTimeoutStopSec=", "\nNoNewPrivileges=yes\n",
					 "\nCapabilityBoundingSet=\n", "\nProtectSystem=strict\n",
					 "\nProtectHome=yes\n", "\nPrivateTmp=yes\n",
					 "\nRestrictNamespaces=yes\n", "\nSystemCallArchitectures=native\n",
					 "\nExecStart=/usr/local/bin/", NULL },
				**p = s;
		     *p; p++)
			if (strstr(u, *p) == NULL)
				fail_msg("deploy/systemd/%s lacks \"%s\"", units[i], *p + 1);
		free(u);
	}
	if (!on_path("systemd-analyze")) {
		print_message("systemd-analyze is not installed: units not verified\n");
		return;
	}
	/* verify needs the programs where ExecStart says: use the built ones */
	snprintf(dir, sizeof(dir), "%s", tmp_path("systemd"));
	snprintf(bindir, sizeof(bindir), "%s", ts_bin(""));
	snprintf(script, sizeof(script),
		 "set -e; mkdir -p '%s'; cd '%s'\n"
		 "for u in flowd.service flow-worker@.service; do\n"
		 "  sed 's#/usr/local/bin/#%s#' '%s/deploy/systemd/'\"$u\" > \"$u\"\n"
		 "done\n"
		 "cp flow-worker@.service flow-worker@1.service\n"
		 "systemd-analyze verify ./flowd.service ./flow-worker@1.service\n",
		 dir, dir, bindir, ts_src(""));
	{
		char *const argv[] = { "sh", "-c", script, NULL };

		if (run(argv, NULL, &out, &err) != 0)
			fail_msg("systemd-analyze verify failed:\n%s%s", out, err);
	}
	free(out);
	free(err);
}

/* ---- main ---- */

static int setup(void **state)
{
	/* values from the caller's environment would win over the .env file */
	const char *vars[] = { "POSTGRES_PASSWORD", "FLOW_JWT_SECRET", "FLOW_ADMIN_PASSWORD",
			       "FLOW_ADMIN_USER", "FLOW_API_KEY", "FLOWD_IMAGE",
			       "FLOWD_PUBLISH_RPC", "FLOWD_PUBLISH_HTTP", "COMPOSE_FILE",
			       "COMPOSE_PROJECT_NAME", NULL };

	for (const char **v = vars; *v; v++)
		unsetenv(*v);
	for (char **e = environ; *e;) {
		if (strncmp(*e, "FLOW", 4) == 0) {
			char name[128];

			snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
			unsetenv(name);
			continue; /* environ changed under us: look at the same slot again */
		}
		e++;
	}
	if (on_path("docker-compose")) {
		compose[0] = "docker-compose";
	} else {
		char *const argv[] = { "docker", "compose", "version", NULL };
		char *out = NULL, *err = NULL;
		int status = -1;

		if (on_path("docker") &&
		    ts_run_capture(argv, NULL, &out, &err, &status, 20000) == 0 && status == 0) {
			compose[0] = "docker";
			compose[1] = "compose";
		}
		free(out);
		free(err);
	}
	if (compose[0] == NULL) {
		fprintf(stderr, "e2e.deploy: neither docker-compose nor `docker compose` is installed; "
				"scripts/deps.sh installs Debian's docker-compose, which this test "
				"needs to validate deploy/docker-compose.yml\n");
		return -1;
	}
	tmp = ts_tmpdir();
	if (tmp == NULL)
		return -1;
	snprintf(env_file, sizeof(env_file), "%s/.env", tmp);
	return 0;
}

static int teardown(void **state)
{
	ts_rmrf(tmp);
	free(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_secrets),
		cmocka_unit_test(test_compose_config),
		cmocka_unit_test(test_compose_requires_secrets),
		cmocka_unit_test(test_compose_variables_documented),
		cmocka_unit_test(test_settings_documented),
		cmocka_unit_test(test_dockerfile),
		cmocka_unit_test(test_systemd_units),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
