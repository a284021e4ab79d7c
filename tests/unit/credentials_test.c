/*
 * unit.credentials: flowctl's credentials file (client/credentials.c) and
 * what sits on it without a server - the token precedence and expiry hint
 * of client/session.c, the stdin password reader, and the rule that no
 * password or token is taken from argv or tool arguments.
 *
 * Every test works in its own mkdtemp directory through FLOW_CREDENTIALS.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "actions.h"
#include "cli.h"
#include "credentials.h"
#include "prompt.h"
#include "session.h"
#include "status.h"

#define URL_A "tcp://flowd-a.example:7600"
#define URL_B "ipc:///run/flowd/b.sock"

struct fixture {
	char dir[64];	/* the mkdtemp directory */
	char path[128]; /* dir/cfg/credentials.json: cfg does not exist yet */
};

static struct fixture fx;

static void rm_tree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int setup(void **state)
{
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/flow-cred-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.path, sizeof(fx.path), "%s/cfg/credentials.json", fx.dir);
	setenv("FLOW_CREDENTIALS", fx.path, 1);
	unsetenv("FLOW_TOKEN");
	unsetenv("FLOW_API_KEY");
	return 0;
}

static int teardown(void **state)
{
	rm_tree(fx.dir);
	unsetenv("FLOW_CREDENTIALS");
	return 0;
}

/* An entry for url with tokens derived from tag. */
static struct cred_entry entry(const char *url, const char *tag, int64_t exp)
{
	static char access[4][64], refresh[4][64];
	static int n;
	struct cred_entry e = { 0 };

	n = (n + 1) % 4;
	snprintf(access[n], sizeof(access[n]), "access-%s", tag);
	snprintf(refresh[n], sizeof(refresh[n]), "refresh-%s", tag);
	e.url = (char *)url;
	e.username = "alice";
	e.role = "admin";
	e.access_token = access[n];
	e.access_expires_at = exp;
	e.refresh_token = refresh[n];
	e.refresh_expires_at = exp + 86400000;
	return e;
}

/* Opens for update, puts the entries, saves, closes. */
static void save(const struct cred_entry *e, int n)
{
	char err[512] = "";
	cred_file *f = NULL;

	if (cred_open(fx.path, true, &f, err, sizeof(err)) != FLOW_OK)
		fail_msg("cred_open: %s", err);
	for (int i = 0; i < n; i++)
		assert_int_equal(cred_put(f, &e[i]), FLOW_OK);
	if (cred_save(f, err, sizeof(err)) != FLOW_OK)
		fail_msg("cred_save: %s", err);
	cred_close(f);
}

/* cred_open(read-only) must fail with code; returns its message. */
static const char *open_fails(int code)
{
	static char err[1024];
	cred_file *f = NULL;

	err[0] = '\0';
	assert_int_equal(cred_open(fx.path, false, &f, err, sizeof(err)), code);
	assert_null(f);
	return err;
}

static void write_file(const char *text, mode_t mode)
{
	char dir[128];
	int fd;

	snprintf(dir, sizeof(dir), "%s/cfg", fx.dir);
	mkdir(dir, 0700);
	fd = open(fx.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(fx.path, mode), 0);
}

/* ---- the file ---- */

static void test_path_precedence(void **state)
{
	char p[512], err[256], home[512];

	snprintf(home, sizeof(home), "%s", getenv("HOME") ? getenv("HOME") : "/");

	assert_int_equal(cred_path(p, sizeof(p), err, sizeof(err)), FLOW_OK);
	assert_string_equal(p, fx.path);
	unsetenv("FLOW_CREDENTIALS");
	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	assert_int_equal(cred_path(p, sizeof(p), err, sizeof(err)), FLOW_OK);
	assert_string_equal(p, "/xdg/config/flowd/credentials.json");
	setenv("XDG_CONFIG_HOME", "relative/is/ignored", 1);
	setenv("HOME", "/home/someone", 1);
	assert_int_equal(cred_path(p, sizeof(p), err, sizeof(err)), FLOW_OK);
	assert_string_equal(p, "/home/someone/.config/flowd/credentials.json");
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", home, 1);
}

static void test_round_trip(void **state)
{
	struct cred_entry e = entry(URL_A, "one", 1700000000123), got;
	char err[256];
	cred_file *f = NULL;

	save(&e, 1);
	assert_int_equal(cred_open(fx.path, false, &f, err, sizeof(err)), FLOW_OK);
	assert_int_equal(cred_count(f), 1);
	assert_int_equal(cred_get(f, URL_A, &got), FLOW_OK);
	assert_string_equal(got.url, URL_A);
	assert_string_equal(got.username, "alice");
	assert_string_equal(got.role, "admin");
	assert_string_equal(got.access_token, "access-one");
	assert_string_equal(got.refresh_token, "refresh-one");
	assert_true(got.access_expires_at == 1700000000123);
	assert_true(got.refresh_expires_at == 1700000000123 + 86400000);
	cred_entry_clear(&got);
	assert_null(got.access_token);
	assert_int_equal(cred_get(f, URL_B, &got), FLOW_NOT_FOUND);
	cred_close(f);
}

static void test_missing_file_is_empty(void **state)
{
	char dir[128], err[256];
	cred_file *f = NULL;
	struct stat st;

	assert_int_equal(cred_open(fx.path, false, &f, err, sizeof(err)), FLOW_OK);
	assert_int_equal(cred_count(f), 0);
	cred_close(f);
	snprintf(dir, sizeof(dir), "%s/cfg", fx.dir);
	assert_int_equal(stat(dir, &st), -1); /* reading creates nothing */
}

/* 0600 file, 0700 directory, even with a umask that would allow more. */
static void test_modes_after_save(void **state)
{
	struct cred_entry e = entry(URL_A, "m", 1);
	mode_t old = umask(0);
	char dir[128];
	struct stat st;

	save(&e, 1);
	umask(old);
	assert_int_equal(lstat(fx.path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(dir, sizeof(dir), "%s/cfg", fx.dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* a replace keeps 0600 even if someone loosened the old file first */
	assert_int_equal(chmod(fx.path, 0600), 0);
	save(&e, 1);
	assert_int_equal(stat(fx.path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_refuses_open_modes(void **state)
{
	struct cred_entry e = entry(URL_A, "x", 1);
	char want[256];
	const char *msg;
	cred_file *f = NULL;

	save(&e, 1);
	assert_int_equal(chmod(fx.path, 0644), 0);
	msg = open_fails(FLOW_FAILED_PRECONDITION);
	snprintf(want, sizeof(want), "chmod 600 %s", fx.path);
	assert_non_null(strstr(msg, want));
	assert_non_null(strstr(msg, "mode 0644; group: read; others: read"));
	assert_null(strstr(msg, "access-x"));

	assert_int_equal(chmod(fx.path, 0620), 0);
	msg = open_fails(FLOW_FAILED_PRECONDITION);
	assert_non_null(strstr(msg, "mode 0620; group: write"));
	assert_int_equal(chmod(fx.path, 0602), 0);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION), "others: write"));
	/* an update refuses too: it must not rewrite tokens others have seen unnoticed */
	assert_int_equal(cred_open(fx.path, true, &f, want, sizeof(want)),
			 FLOW_FAILED_PRECONDITION);
	assert_int_equal(chmod(fx.path, 0600), 0);
	assert_int_equal(cred_open(fx.path, false, &f, want, sizeof(want)), FLOW_OK);
	cred_close(f);
}

static void test_refuses_symlink(void **state)
{
	struct cred_entry e = entry(URL_A, "s", 1);
	char real[160], err[512];
	cred_file *f = NULL;

	save(&e, 1);
	snprintf(real, sizeof(real), "%s/real.json", fx.dir);
	assert_int_equal(rename(fx.path, real), 0);
	assert_int_equal(symlink(real, fx.path), 0);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION), "is a symbolic link"));
	assert_int_equal(cred_open(fx.path, true, &f, err, sizeof(err)), FLOW_FAILED_PRECONDITION);
	assert_non_null(strstr(err, "symbolic link"));
}

static void test_refuses_other_owner(void **state)
{
	struct cred_entry e = entry(URL_A, "o", 1);

	if (geteuid() != 0)
		skip(); /* only root can give a file away */
	save(&e, 1);
	assert_int_equal(chown(fx.path, 65534, 65534), 0);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION), "is owned by uid 65534"));
}

static void test_refuses_non_regular(void **state)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/cfg", fx.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkfifo(fx.path, 0600), 0);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION), "not a regular file"));
}

/* Only credentials.json is left in the directory after many replaces. */
static void test_atomic_replace_leaves_no_temp(void **state)
{
	char dir[128];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	for (int i = 0; i < 5; i++) {
		struct cred_entry e[2] = { entry(URL_A, "a", i + 1), entry(URL_B, "b", i + 1) };

		save(e, 2);
	}
	snprintf(dir, sizeof(dir), "%s/cfg", fx.dir);
	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		assert_string_equal(d->d_name, "credentials.json");
		n++;
	}
	closedir(dp);
	assert_int_equal(n, 1);
}

static void test_two_urls_coexist_and_remove(void **state)
{
	struct cred_entry a = entry(URL_A, "a", 1), b = entry(URL_B, "b", 2), got;
	char err[256];
	cred_file *f = NULL;

	save(&a, 1);
	save(&b, 1); /* a second login, separate update */
	assert_int_equal(cred_open(fx.path, true, &f, err, sizeof(err)), FLOW_OK);
	assert_int_equal(cred_count(f), 2);
	assert_int_equal(cred_remove(f, URL_A), FLOW_OK);
	assert_int_equal(cred_remove(f, URL_A), FLOW_NOT_FOUND);
	assert_int_equal(cred_save(f, err, sizeof(err)), FLOW_OK);
	cred_close(f);

	assert_int_equal(cred_open(fx.path, false, &f, err, sizeof(err)), FLOW_OK);
	assert_int_equal(cred_count(f), 1);
	assert_int_equal(cred_get(f, URL_A, &got), FLOW_NOT_FOUND);
	assert_int_equal(cred_get(f, URL_B, &got), FLOW_OK);
	assert_string_equal(got.access_token, "access-b");
	cred_entry_clear(&got);
	/* a read-only handle cannot save */
	assert_int_equal(cred_save(f, err, sizeof(err)), FLOW_INTERNAL);
	cred_close(f);
}

static void test_malformed(void **state)
{
	const char *msg;

	write_file("{\"servers\": {\"u\": {\"access_token\": SECRETTOKENTEXT}}}", 0600);
	msg = open_fails(FLOW_FAILED_PRECONDITION);
	assert_non_null(strstr(msg, "is not valid JSON (line 1, column"));
	assert_non_null(strstr(msg, fx.path));
	assert_null(strstr(msg, "SECRET")); /* jansson's "near '...'" is not passed on */

	write_file("[1, 2]", 0600);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION), "top level is not a JSON object"));
	write_file("{\"servers\": []}", 0600);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION), "servers is not an object"));
	write_file("{\"servers\": {\"u\": {\"access_token\": 5, \"refresh_token\": \"r\"}}}", 0600);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION),
			       "access_token of the login for u is not a string"));
	write_file("{\"servers\": {\"u\": {\"access_token\": \"a\"}}}", 0600);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION),
			       "refresh_token of the login for u is missing"));
	write_file("{\"version\": 7, \"servers\": {}}", 0600);
	assert_non_null(strstr(open_fails(FLOW_FAILED_PRECONDITION), "newer flowctl"));
	write_file("{\"servers\": {}, \"servers\": {}}", 0600);
	open_fails(FLOW_FAILED_PRECONDITION); /* duplicate keys */
}

static void test_put_needs_tokens(void **state)
{
	struct cred_entry e = entry(URL_A, "p", 1);
	char err[256];
	cred_file *f = NULL;

	assert_int_equal(cred_open(fx.path, true, &f, err, sizeof(err)), FLOW_OK);
	e.refresh_token = NULL;
	assert_int_equal(cred_put(f, &e), FLOW_INVALID_ARGUMENT);
	e = entry(NULL, "p", 1);
	assert_int_equal(cred_put(f, &e), FLOW_INVALID_ARGUMENT);
	cred_close(f);
}

/* ---- session: which token ---- */

static session *open_session(const char *url, const char *given)
{
	char err[512] = "";
	session *s = NULL;

	if (session_open(url, given, &s, err, sizeof(err)) != FLOW_OK)
		fail_msg("session_open: %s", err);
	return s;
}

static void test_token_precedence(void **state)
{
	struct cred_entry e = entry(URL_A, "saved", 1);
	session *s;

	save(&e, 1);
	s = open_session(URL_A, NULL);
	assert_int_equal(session_source(s), SESSION_SAVED);
	assert_string_equal(session_token(s), "access-saved");
	session_free(s);

	setenv("FLOW_API_KEY", "flk_key", 1);
	s = open_session(URL_A, NULL);
	assert_int_equal(session_source(s), SESSION_FLOW_API_KEY);
	assert_string_equal(session_token(s), "flk_key");
	session_free(s);

	setenv("FLOW_TOKEN", "env-token", 1);
	s = open_session(URL_A, NULL);
	assert_int_equal(session_source(s), SESSION_FLOW_TOKEN);
	assert_string_equal(session_token(s), "env-token");
	session_free(s);

	s = open_session(URL_A, "given");
	assert_int_equal(session_source(s), SESSION_GIVEN);
	session_free(s);

	setenv("FLOW_TOKEN", "", 1); /* empty counts as unset */
	unsetenv("FLOW_API_KEY");
	s = open_session(URL_B, NULL); /* nothing saved for B */
	assert_int_equal(session_source(s), SESSION_NONE);
	assert_null(session_token(s));
	session_free(s);
	unsetenv("FLOW_TOKEN");
}

/* The file is not even read while the environment has a token. */
static void test_env_token_ignores_bad_file(void **state)
{
	char err[512];
	session *s = NULL;

	write_file("not json", 0644);
	assert_int_equal(session_open(URL_A, NULL, &s, err, sizeof(err)), FLOW_FAILED_PRECONDITION);
	assert_non_null(strstr(err, "chmod 600"));
	setenv("FLOW_TOKEN", "env-token", 1);
	s = open_session(URL_A, NULL);
	assert_int_equal(session_source(s), SESSION_FLOW_TOKEN);
	session_free(s);
	unsetenv("FLOW_TOKEN");
}

static void test_expiry_hint(void **state)
{
	int64_t now = session_now_ms();
	struct cred_entry e[3] = { entry(URL_A, "soon", now + 10000),
				   entry(URL_B, "later", now + 120000),
				   entry("tcp://c:1", "unknown", 0) };
	char hint[256];
	session *s;

	save(e, 3);
	s = open_session(URL_A, NULL);
	assert_true(session_expiring(s, now)); /* within 30 s */
	assert_false(session_expiring(s, now - 60000));
	session_hint(s, "token expired", hint, sizeof(hint));
	assert_non_null(strstr(hint, "flowctl login"));
	assert_null(strstr(hint, "access-"));
	session_free(s);
	s = open_session(URL_B, NULL);
	assert_false(session_expiring(s, now));
	assert_true(session_expiring(s, now + 100000));
	session_free(s);
	s = open_session("tcp://c:1", NULL);
	assert_false(session_expiring(s, now)); /* no hint: the server decides */
	session_free(s);

	setenv("FLOW_TOKEN", "t", 1);
	s = open_session(URL_A, NULL);
	assert_false(session_expiring(s, now)); /* only saved logins are renewed */
	session_hint(s, NULL, hint, sizeof(hint));
	assert_string_equal(hint, "the token in FLOW_TOKEN was refused");
	session_free(s);
	unsetenv("FLOW_TOKEN");
	s = open_session("tcp://nobody:1", NULL);
	session_hint(s, NULL, hint, sizeof(hint));
	assert_non_null(strstr(hint, "not logged in to tcp://nobody:1: run flowctl login"));
	/* no advice twice */
	session_hint(s, "this call needs credentials: log in (flowctl login)", hint, sizeof(hint));
	assert_string_equal(hint, "not logged in to tcp://nobody:1");
	session_free(s);
}

/* ---- reading passwords from stdin ---- */

static int pipe_with(const char *text)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
	close(p[1]);
	return p[0];
}

static void test_read_lines(void **state)
{
	char buf[16], err[128];
	int fd = pipe_with("old pw\r\nnew-pw\nlast");

	assert_int_equal(prompt_read_line(fd, buf, sizeof(buf), err, sizeof(err)), FLOW_OK);
	assert_string_equal(buf, "old pw");
	assert_int_equal(prompt_read_line(fd, buf, sizeof(buf), err, sizeof(err)), FLOW_OK);
	assert_string_equal(buf, "new-pw"); /* the second line was left for this read */
	assert_int_equal(prompt_read_line(fd, buf, sizeof(buf), err, sizeof(err)), FLOW_OK);
	assert_string_equal(buf, "last");
	assert_int_equal(prompt_read_line(fd, buf, sizeof(buf), err, sizeof(err)), FLOW_NOT_FOUND);
	close(fd);

	fd = pipe_with("0123456789abcdefTOOLONG\nnext\n");
	assert_int_equal(prompt_read_line(fd, buf, sizeof(buf), err, sizeof(err)),
			 FLOW_OUT_OF_RANGE);
	assert_null(strstr(err, "0123")); /* the input is never in the message */
	assert_int_equal(buf[0], '\0');	  /* wiped */
	assert_int_equal(prompt_read_line(fd, buf, sizeof(buf), err, sizeof(err)), FLOW_OK);
	assert_string_equal(buf, "next");
	close(fd);
}

/* ---- no secrets in argv or tool arguments ---- */

/* Runs flowctl's cli_run on argv; returns the exit status and stderr. */
static int run_cli(char **argv, int argc, char *err, size_t len)
{
	struct cli_opts o = { "ipc:///nonexistent/flowd.sock", 1000, NULL, false };
	char path[160];
	int saved = dup(STDERR_FILENO), fd, st;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr", fx.dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	st = cli_run(&o, argc, argv);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, err, len - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(fd);
	return st;
}

static void test_no_secret_options(void **state)
{
	char err[2048];
	char *login[] = { "login", "alice", "--password=hunter2-secret", NULL };
	char *login2[] = { "login", "--password", "hunter2-secret", NULL };
	char *create[] = { "user", "create", "bob", "--role", "member", "--token=tok-secret", NULL };
	char *unknown[] = { "projects", "--passphrase=pp-secret", NULL };

	assert_int_equal(run_cli(login, 3, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "there is no --password option"));
	assert_non_null(strstr(err, "--password-stdin"));
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(run_cli(login2, 3, err, sizeof(err)), 2);
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(run_cli(create, 6, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "FLOW_TOKEN"));
	assert_null(strstr(err, "tok-secret"));
	assert_int_equal(run_cli(unknown, 2, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "unknown option --passphrase"));
	assert_null(strstr(err, "pp-secret")); /* an unknown option's value is not echoed */
	assert_non_null(cli_secret_option("--api-key=x"));
	assert_null(cli_secret_option("--password-stdin"));
}

static void test_no_secrets_in_tool_arguments(void **state)
{
	static const char *const calls[] = {
		"{\"action\":\"users_create\",\"data\":{\"username\":\"bob\",\"role\":\"member\","
		"\"password\":\"hunter2-secret\"}}",
		"{\"action\":\"users_update\",\"data\":{\"username\":\"bob\",\"password\":\"hunter2-secret\"}}",
		"{\"action\":\"users_update\",\"data\":{\"username\":\"bob\",\"new_password\":\"x\"}}",
		NULL,
	};
	struct action_request r;
	char err[1024];

	for (int i = 0; calls[i] != NULL; i++) {
		json_t *args = json_loads(calls[i], 0, NULL);

		assert_int_equal(action_build_request(ACTION_TOOL_AUTH, args, &r, err, sizeof(err)),
				 FLOW_INVALID_ARGUMENT);
		assert_non_null(strstr(err, "passwords and tokens are not taken in tool arguments"));
		assert_null(strstr(err, "hunter2"));
		json_decref(args);
	}
	/* and the help does not offer the field */
	action_data_fields(action_find(ACTION_TOOL_AUTH, "users_create"), err, sizeof(err));
	assert_null(strstr(err, "password"));
	assert_non_null(strstr(err, "serviceAccount"));
	/* the login calls have no action at all */
	assert_null(action_find(ACTION_TOOL_AUTH, "login"));
	assert_null(action_find(ACTION_TOOL_AUTH, "refresh"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_path_precedence),
		T(test_round_trip),
		T(test_missing_file_is_empty),
		T(test_modes_after_save),
		T(test_refuses_open_modes),
		T(test_refuses_symlink),
		T(test_refuses_other_owner),
		T(test_refuses_non_regular),
		T(test_atomic_replace_leaves_no_temp),
		T(test_two_urls_coexist_and_remove),
		T(test_malformed),
		T(test_put_needs_tokens),
		T(test_token_precedence),
		T(test_env_token_ignores_bad_file),
		T(test_expiry_hint),
		T(test_read_lines),
		T(test_no_secret_options),
		T(test_no_secrets_in_tool_arguments),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
