/*
 * e2e.db_restart: the real flowd against its own PostgreSQL, which is
 * stopped and started under it. flowd waits for a database that is not up
 * yet, answers UNAVAILABLE (with a retry hint) while it is gone, stays up,
 * and reconnects by itself with nothing lost.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow/v1/project_manager.pb-c.h"
#include "rpc_client.h"
#include "status.h"
#include "testsupport.h"
#include "ts_flowd.h"

static char *dir;
static char pgdir[512], rpc_url[600], log_path[600], db_url[512];

static void pg(const char *action)
{
	char *argv[] = { (char *)ts_src("scripts/pg.sh"), (char *)action, pgdir, NULL };
	char *out = NULL, *err = NULL;
	int status = -1;

	assert_int_equal(ts_run_capture(argv, NULL, &out, &err, &status, 120000), 0);
	if (status != 0)
		fprintf(stderr, "pg.sh %s: %s\n", action, err);
	assert_int_equal(status, 0);
	if (strcmp(action, "start") == 0) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(db_url, sizeof(db_url), "%s", out);
	}
	free(out);
	free(err);
}

static int list_projects(rpc_client *c, size_t *n, struct rpc_status *st)
{
	Flow__V1__ListProjectsRequest req = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rv = rpc_client_call(c, "/flow.v1.ProjectManager/ListProjects", &req.base, NULL, &resp,
				 st);

	if (rv == FLOW_OK) {
		*n = ((Flow__V1__ListProjectsResponse *)resp)->n_projects;
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return rv;
}

static void test_flowd_survives_database_restart(void **state)
{
	Flow__V1__CreateProjectRequest create = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	struct rpc_client_opts co = { .deadline_ms = 10000, .background_dial = true };
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	rpc_client *c;
	size_t n = 0;
	char db_arg[600], listen_arg[700];
	int rv, status;

	pg("start");
	pg("halt");
	/* flowd starts while the database is down and waits for it. */
	snprintf(db_arg, sizeof(db_arg), "--db=%s", db_url);
	snprintf(listen_arg, sizeof(listen_arg), "--listen=%s", rpc_url);
	char *argv[] = { (char *)ts_bin("flowd"), db_arg, listen_arg, "--threads=2",
			 "--db-wait=60000", NULL };
	char *const env[] = { "FLOW_JWT_SECRET=" TS_JWT_SECRET,
			      "FLOW_ADMIN_PASSWORD=" TS_ADMIN_PASSWORD, NULL };
	char token[2048];
	pid_t pid = ts_spawn(argv, env, log_path);

	assert_true(pid > 0);
	ts_sleep_ms(1000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still waiting, not dead */
	pg("start");
	assert_int_equal(ts_wait_for_rpc(rpc_url, 30000), 0);
	assert_int_equal(ts_login(rpc_url, TS_ADMIN_USER, TS_ADMIN_PASSWORD, token, sizeof(token),
				  NULL, 0, &st),
			 FLOW_OK);
	co.token = token;
	assert_int_equal(rpc_client_open(rpc_url, &co, &c, &st), FLOW_OK);
	create.name = "survivor";
	assert_int_equal(rpc_client_call(c, "/flow.v1.ProjectManager/CreateProject", &create.base,
					 NULL, &resp, &st),
			 FLOW_OK);
	protobuf_c_message_free_unpacked(resp, NULL);

	pg("halt");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(list_projects(c, &n, &st), FLOW_UNAVAILABLE);
		assert_non_null(strstr(st.message, "database unavailable"));
		assert_true(st.retry_after_ms > 0);
	}
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* flowd stayed up */

	pg("start");
	rv = FLOW_UNAVAILABLE;
	for (int i = 0; i < 100 && rv != FLOW_OK; i++) {
		rv = list_projects(c, &n, &st);
		if (rv != FLOW_OK)
			ts_sleep_ms(100);
	}
	assert_int_equal(rv, FLOW_OK);
	assert_int_equal(n, 1); /* nothing lost */
	rpc_client_close(c);

	assert_int_equal(ts_terminate(pid, 15000, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int setup(void **state)
{
	dir = ts_tmpdir();
	if (dir == NULL)
		return -1;
	snprintf(pgdir, sizeof(pgdir), "%s/pg", dir);
	snprintf(rpc_url, sizeof(rpc_url), "ipc://%s/flowd.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/flowd.log", dir);
	return 0;
}

static int teardown(void **state)
{
	char *argv[] = { (char *)ts_src("scripts/pg.sh"), "stop", pgdir, NULL };
	char *out = NULL, *err = NULL;
	int status;

	ts_run_capture(argv, NULL, &out, &err, &status, 120000);
	free(out);
	free(err);
	ts_rmrf(dir);
	free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flowd_survives_database_restart),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
