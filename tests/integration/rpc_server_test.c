/*
 * integration.rpc_server: the real nng front end (REP contexts + service
 * threads) on real sockets, against a real PostgreSQL, driven by the real
 * client library. Bad input of every kind gets the right code and the
 * server keeps serving.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow/v1/project_manager.pb-c.h"
#include "flow/v1/rpc.pb-c.h"
#include "rpc_client.h"
#include "rpc_server.h"
#include "status.h"
#include "testsupport.h"
#include "ts_store.h"

#define MAX_MESSAGE 65536

static char db_url[512];
static char rpc_url[128];
static rpc_server *srv;
static rpc_client *cli;

static int setup(void **state)
{
	struct flow_req *r = ts_req_open(db_url, sizeof(db_url));
	const char *urls[1] = { rpc_url };
	struct rpc_server_opts o = {
		.urls = urls,
		.n_urls = 1,
		.n_threads = 4,
		.n_contexts = 32,
		.db_conninfo = db_url,
		.limits = { MAX_MESSAGE, 4096, 10000 },
	};
	struct rpc_client_opts co = { .deadline_ms = 10000, .max_message = MAX_MESSAGE * 4 };
	struct rpc_status st;
	char err[256];

	ts_req_close(r, NULL);
	snprintf(rpc_url, sizeof(rpc_url), "ipc:///tmp/flowtest-rpc-%d.sock", (int)getpid());
	assert_int_equal(dispatch_init(ts_guard_admin), FLOW_OK);
	if (rpc_server_start(&o, &srv, err, sizeof(err)) != FLOW_OK) {
		fprintf(stderr, "rpc_server_start: %s\n", err);
		return -1;
	}
	assert_int_equal(rpc_client_open(rpc_url, &co, &cli, &st), FLOW_OK);
	return 0;
}

static int teardown(void **state)
{
	rpc_client_close(cli);
	rpc_server_stop(srv, 1000);
	ts_drop_db(db_url);
	return 0;
}

static int64_t create_project(const char *name, struct rpc_status *st)
{
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int64_t id = -1;

	req.name = (char *)name;
	req.path = "/srv/demo";
	if (rpc_client_call(cli, "/flow.v1.ProjectManager/CreateProject", &req.base, NULL, &resp,
			    st) == FLOW_OK) {
		id = ((Flow__V1__Project *)resp)->id;
		assert_string_equal(((Flow__V1__Project *)resp)->name, name);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return id;
}

static void test_round_trip(void **state)
{
	Flow__V1__GetProjectRequest get = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	int64_t id = create_project("x'); DROP TABLE projects; --", &st);

	assert_true(id > 0);
	get.has_project_id = 1;
	get.project_id = id;
	assert_int_equal(rpc_client_call(cli, "/flow.v1.ProjectManager/GetProject", &get.base, NULL,
					 &resp, &st),
			 FLOW_OK);
	assert_string_equal(((Flow__V1__Project *)resp)->name, "x'); DROP TABLE projects; --");
	assert_string_equal(((Flow__V1__Project *)resp)->path, "/srv/demo");
	protobuf_c_message_free_unpacked(resp, NULL);
}

/* Sends raw bytes; returns the decoded reply's code and copies its message. */
static int raw(const void *data, size_t len, char *msg, size_t msglen)
{
	struct rpc_status st;
	void *reply = NULL;
	size_t reply_len = 0;
	Flow__V1__RpcResponse *resp;
	int code;

	assert_int_equal(rpc_client_call_raw(cli, data, len, &reply, &reply_len, &st), FLOW_OK);
	resp = flow__v1__rpc_response__unpack(NULL, reply_len, reply);
	assert_non_null(resp);
	code = resp->code;
	snprintf(msg, msglen, "%s", resp->message ? resp->message : "");
	flow__v1__rpc_response__free_unpacked(resp, NULL);
	free(reply);
	return code;
}

static void assert_still_serving(void)
{
	struct rpc_status st;

	assert_true(create_project("still here", &st) > 0);
}

static void test_garbage_and_unknown_method(void **state)
{
	const uint8_t junk[] = { 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff };
	Flow__V1__RpcRequest env = FLOW__V1__RPC_REQUEST__INIT;
	uint8_t buf[256];
	char msg[512];

	assert_int_equal(raw(junk, sizeof(junk), msg, sizeof(msg)), FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "RpcRequest"));
	env.method = "/flow.v1.ProjectManager/Explode";
	assert_int_equal(raw(buf, flow__v1__rpc_request__pack(&env, buf), msg, sizeof(msg)),
			 FLOW_UNIMPLEMENTED);
	assert_non_null(strstr(msg, "Explode"));
	assert_int_equal(raw("", 0, msg, sizeof(msg)), FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "method"));
	assert_still_serving();
}

static void test_oversized(void **state)
{
	size_t n = MAX_MESSAGE + 100;
	uint8_t *big = calloc(1, n);
	char msg[512];
	struct rpc_status st;
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	rpc_client *small;
	struct rpc_client_opts co = { .deadline_ms = 5000, .max_message = 1024 };
	char *desc = calloc(1, 4000);

	assert_int_equal(raw(big, n, msg, sizeof(msg)), FLOW_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "65536-byte"));
	/* The client refuses before sending. */
	assert_int_equal(rpc_client_open(rpc_url, &co, &small, &st), FLOW_OK);
	memset(desc, 'd', 3999);
	req.name = "big";
	req.description = desc;
	assert_int_equal(rpc_client_call(small, "/flow.v1.ProjectManager/CreateProject", &req.base,
					 NULL, &resp, &st),
			 FLOW_RESOURCE_EXHAUSTED);
	assert_null(resp);
	rpc_client_close(small);
	free(desc);
	free(big);
	assert_still_serving();
}

static void test_bad_body_and_strings(void **state)
{
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	char huge[5000];

	req.name = "bad \xff\xfe";
	assert_int_equal(rpc_client_call(cli, "/flow.v1.ProjectManager/CreateProject", &req.base,
					 NULL, &resp, &st),
			 FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(st.message, "name"));
	memset(huge, 'h', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	req.name = huge;
	assert_int_equal(rpc_client_call(cli, "/flow.v1.ProjectManager/CreateProject", &req.base,
					 NULL, &resp, &st),
			 FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(st.message, "name"));
	assert_still_serving();
}

static void *hammer(void *arg)
{
	Flow__V1__ListProjectsRequest req = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	long ok = 0;

	for (int i = 0; i < 50; i++) {
		ProtobufCMessage *resp = NULL;
		struct rpc_status st;

		if (rpc_client_call(cli, "/flow.v1.ProjectManager/ListProjects", &req.base, NULL,
				    &resp, &st) == FLOW_OK) {
			ok++;
			protobuf_c_message_free_unpacked(resp, NULL);
		}
	}
	return (void *)ok;
}

static void test_concurrent_clients(void **state)
{
	pthread_t t[16];
	long total = 0;

	for (int i = 0; i < 16; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 16; i++) {
		void *ok;

		pthread_join(t[i], &ok);
		total += (long)ok;
	}
	assert_int_equal(total, 16 * 50);
}

/* The client redials by itself when flowd restarts on the same address. */
static void test_redial_after_server_restart(void **state)
{
	const char *urls[1] = { rpc_url };
	struct rpc_server_opts o = {
		.urls = urls,
		.n_urls = 1,
		.n_threads = 2,
		.n_contexts = 8,
		.db_conninfo = db_url,
		.limits = { MAX_MESSAGE, 4096, 10000 },
	};
	struct rpc_client_opts co = { .deadline_ms = 2000, .background_dial = true };
	rpc_client *c;
	struct rpc_status st;
	char err[256];
	size_t before;
	Flow__V1__ListProjectsRequest req = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;

	assert_int_equal(rpc_client_open(rpc_url, &co, &c, &st), FLOW_OK);
	assert_int_equal(rpc_client_call(c, "/flow.v1.ProjectManager/ListProjects", &req.base, NULL,
					 &resp, &st), FLOW_OK);
	before = ((Flow__V1__ListProjectsResponse *)resp)->n_projects;
	protobuf_c_message_free_unpacked(resp, NULL);

	rpc_server_stop(srv, 1000);
	srv = NULL;
	assert_int_equal(rpc_client_call(c, "/flow.v1.ProjectManager/ListProjects", &req.base, NULL,
					 &resp, &st), FLOW_DEADLINE_EXCEEDED);
	assert_non_null(strstr(st.message, "no reply"));
	assert_int_equal(rpc_server_start(&o, &srv, err, sizeof(err)), FLOW_OK);
	assert_int_equal(rpc_client_call(c, "/flow.v1.ProjectManager/ListProjects", &req.base, NULL,
					 &resp, &st), FLOW_OK);
	assert_int_equal(((Flow__V1__ListProjectsResponse *)resp)->n_projects, before);
	protobuf_c_message_free_unpacked(resp, NULL);
	rpc_client_close(c);
}

static void test_no_server(void **state)
{
	rpc_client *c = NULL;
	struct rpc_status st;

	assert_int_equal(rpc_client_open("ipc:///tmp/flowtest-nobody-here.sock", NULL, &c, &st),
			 FLOW_UNAVAILABLE);
	assert_null(c);
	assert_non_null(strstr(st.message, "cannot connect"));
	assert_int_equal(rpc_client_open("bogus://x", NULL, &c, &st), FLOW_INVALID_ARGUMENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_garbage_and_unknown_method),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_bad_body_and_strings),
		cmocka_unit_test(test_concurrent_clients),
		cmocka_unit_test(test_redial_after_server_restart),
		cmocka_unit_test(test_no_server),
	};
	if (ts_pg_admin_url() == NULL)
		ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
