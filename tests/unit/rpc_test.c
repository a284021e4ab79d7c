/* unit.rpc: method paths, lookup through the service descriptors, status names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "rpc.h"
#include "status.h"

static void test_find_known_method(void **state)
{
	const ProtobufCServiceDescriptor *s = NULL;
	const ProtobufCMethodDescriptor *m = NULL;

	assert_int_equal(rpc_method_find("/flow.v1.FlowManager/CreateTicket", &s, &m), FLOW_OK);
	assert_ptr_equal(s, &flow__v1__flow_manager__descriptor);
	assert_string_equal(m->name, "CreateTicket");
	assert_ptr_equal(m->input, &flow__v1__create_ticket_request__descriptor);
	assert_ptr_equal(m->output, &flow__v1__ticket__descriptor);
}

static void test_unknown_and_malformed(void **state)
{
	assert_int_equal(rpc_method_find("/flow.v1.FlowManager/Nope", NULL, NULL),
			 FLOW_UNIMPLEMENTED);
	assert_int_equal(rpc_method_find("/flow.v1.Nope/CreateTicket", NULL, NULL),
			 FLOW_UNIMPLEMENTED);
	assert_int_equal(rpc_method_find("flow.v1.FlowManager/CreateTicket", NULL, NULL),
			 FLOW_INVALID_ARGUMENT);
	assert_int_equal(rpc_method_find("/flow.v1.FlowManager/", NULL, NULL),
			 FLOW_INVALID_ARGUMENT);
	assert_int_equal(rpc_method_find("//CreateTicket", NULL, NULL), FLOW_INVALID_ARGUMENT);
	assert_int_equal(rpc_method_find(NULL, NULL, NULL), FLOW_INVALID_ARGUMENT);
}

static void test_every_method_round_trips(void **state)
{
	char path[RPC_MAX_METHOD_LEN + 1];
	int n = 0;

	for (size_t i = 0; rpc_services[i] != NULL; i++) {
		const ProtobufCServiceDescriptor *s = rpc_services[i];

		for (unsigned j = 0; j < s->n_methods; j++) {
			const ProtobufCMethodDescriptor *m = NULL;

			assert_int_equal(rpc_method_path(s, &s->methods[j], path, sizeof(path)), 0);
			assert_int_equal(rpc_method_find(path, NULL, &m), FLOW_OK);
			assert_ptr_equal(m, &s->methods[j]);
			n++;
		}
	}
	assert_true(n >= 30);
	assert_int_equal(rpc_method_path(rpc_services[0], &rpc_services[0]->methods[0], path, 5),
			 -1);
}

static void test_status_names(void **state)
{
	assert_string_equal(status_name(FLOW_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(status_name(FLOW_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(status_name(99), "UNKNOWN");
	assert_int_equal(status_from_name("FAILED_PRECONDITION"), FLOW_FAILED_PRECONDITION);
	assert_int_equal(status_from_name("nope"), -1);
}

static void test_request_ids_differ(void **state)
{
	char a[32], b[32];

	rpc_new_request_id(a, sizeof(a));
	rpc_new_request_id(b, sizeof(b));
	assert_int_equal(strlen(a), 18);
	assert_memory_equal(a, "r-", 2);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_known_method),
		cmocka_unit_test(test_unknown_and_malformed),
		cmocka_unit_test(test_every_method_round_trips),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_request_ids_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
