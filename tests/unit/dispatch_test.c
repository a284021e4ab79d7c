/*
 * unit.dispatch: from encoded request to encoded reply, without a database
 * (r->db is NULL, so a handler that reaches the store gets UNAVAILABLE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dispatch.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/rpc.pb-c.h"
#include "status.h"
#include "ts_store.h"

static const struct dispatch_limits lim = { 4096, 256, 60000 };

struct result {
	int code;
	char message[512];
	char request_id[80];
};

static struct result call_raw(const void *data, size_t len, int64_t queued_ms)
{
	struct flow_req r = { 0 };
	struct result res = { 0 };
	void *reply = NULL;
	size_t reply_len = 0;
	Flow__V1__RpcResponse *resp;

	r.arena = arena_new(0);
	assert_non_null(r.arena);
	r.received_ms = req_now_ms() - queued_ms;
	res.code = dispatch_handle(&r, &lim, data, len, &reply, &reply_len);
	assert_non_null(reply);
	resp = flow__v1__rpc_response__unpack(NULL, reply_len, reply);
	assert_non_null(resp);
	assert_int_equal(resp->code, res.code);
	assert_false(resp->has_body && res.code != FLOW_OK);
	snprintf(res.message, sizeof(res.message), "%s", resp->message ? resp->message : "");
	snprintf(res.request_id, sizeof(res.request_id), "%s",
		 resp->request_id ? resp->request_id : "");
	flow__v1__rpc_response__free_unpacked(resp, NULL);
	arena_free(r.arena);
	return res;
}

static struct result call(const char *method, const ProtobufCMessage *body, const char *rid,
			  int64_t queued_ms)
{
	Flow__V1__RpcRequest env = FLOW__V1__RPC_REQUEST__INIT;
	uint8_t bodybuf[8192], buf[16384];

	env.method = (char *)method;
	env.request_id = (char *)rid;
	if (body) {
		env.has_body = 1;
		env.body.len = protobuf_c_message_pack(body, bodybuf);
		env.body.data = bodybuf;
	}
	return call_raw(buf, flow__v1__rpc_request__pack(&env, buf), queued_ms);
}

static void test_init(void **state)
{
	assert_int_equal(dispatch_init(ts_guard_admin), FLOW_OK);
}

static void test_unknown_method(void **state)
{
	struct result r = call("/flow.v1.FlowManager/LaunchRocket", NULL, "rid-1", 0);

	assert_int_equal(r.code, FLOW_UNIMPLEMENTED);
	assert_non_null(strstr(r.message, "LaunchRocket"));
	assert_string_equal(r.request_id, "rid-1");
	r = call("not-a-path", NULL, NULL, 0);
	assert_int_equal(r.code, FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(r.message, "/flow.v1.Service/Method"));
	assert_memory_equal(r.request_id, "r-", 2); /* one was made up */
}

static void test_undecodable_envelope(void **state)
{
	const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 };
	struct result r = call_raw(junk, sizeof(junk), 0);

	assert_int_equal(r.code, FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(r.message, "RpcRequest"));
}

static void test_undecodable_body(void **state)
{
	Flow__V1__RpcRequest env = FLOW__V1__RPC_REQUEST__INIT;
	uint8_t junk[] = { 0x0a, 0xff, 0x01 }, buf[256];
	struct result r;

	env.method = "/flow.v1.FlowManager/GetTicket";
	env.has_body = 1;
	env.body.data = junk;
	env.body.len = sizeof(junk);
	r = call_raw(buf, flow__v1__rpc_request__pack(&env, buf), 0);
	assert_int_equal(r.code, FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(r.message, "flow.v1.GetTicketRequest"));
}

static void test_oversized(void **state)
{
	size_t n = lim.max_message + 1;
	uint8_t *big = calloc(1, n);
	struct result r = call_raw(big, n, 0);

	assert_int_equal(r.code, FLOW_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(r.message, "4096-byte"));
	free(big);
}

static void test_invalid_utf8_and_long_strings(void **state)
{
	Flow__V1__CreateTicketRequest t = FLOW__V1__CREATE_TICKET_REQUEST__INIT;
	char longs[300];
	struct result r;

	t.has_project_id = 1;
	t.project_id = 1;
	t.title = "bad \xc3\x28 utf8";
	r = call("/flow.v1.FlowManager/CreateTicket", &t.base, NULL, 0);
	assert_int_equal(r.code, FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(r.message, "title"));
	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	t.title = longs;
	r = call("/flow.v1.FlowManager/CreateTicket", &t.base, NULL, 0);
	assert_int_equal(r.code, FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(r.message, "title"));
}

static void test_deadline_passed_in_queue(void **state)
{
	Flow__V1__GetTicketRequest g = FLOW__V1__GET_TICKET_REQUEST__INIT;
	struct result r = call("/flow.v1.FlowManager/GetTicket", &g.base, NULL, 70000);

	assert_int_equal(r.code, FLOW_DEADLINE_EXCEEDED);
}

static void test_no_database_is_unavailable(void **state)
{
	Flow__V1__GetTicketRequest g = FLOW__V1__GET_TICKET_REQUEST__INIT;
	struct result r;

	g.has_ticket_id = 1;
	g.ticket_id = 5;
	r = call("/flow.v1.FlowManager/GetTicket", &g.base, NULL, 0);
	assert_int_equal(r.code, FLOW_UNAVAILABLE);
	assert_non_null(strstr(r.message, "database"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_unknown_method),
		cmocka_unit_test(test_undecodable_envelope),
		cmocka_unit_test(test_undecodable_body),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_invalid_utf8_and_long_strings),
		cmocka_unit_test(test_deadline_passed_in_queue),
		cmocka_unit_test(test_no_database_is_unavailable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
