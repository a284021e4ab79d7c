/*
 * pbjson_test.c - JSON <-> protobuf-c conversion: round trips with flowd's
 * messages, every field type through a hand-written descriptor, error
 * messages naming the field, and string checks. Error cases run with the
 * default allocator (ASan/valgrind catch leaks on error paths) and with an
 * arena.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "pbjson.h"
#include "status.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/model.pb-c.h"
#include "flow/v1/rpc.pb-c.h"

/* --- a message with every field type, and a oneof --- */

typedef struct AllTypes AllTypes;
struct AllTypes {
	ProtobufCMessage base;
	protobuf_c_boolean has_f_int32;
	int32_t f_int32;
	protobuf_c_boolean has_f_sint32;
	int32_t f_sint32;
	protobuf_c_boolean has_f_sfixed32;
	int32_t f_sfixed32;
	protobuf_c_boolean has_f_int64;
	int64_t f_int64;
	protobuf_c_boolean has_f_sint64;
	int64_t f_sint64;
	protobuf_c_boolean has_f_sfixed64;
	int64_t f_sfixed64;
	protobuf_c_boolean has_f_uint32;
	uint32_t f_uint32;
	protobuf_c_boolean has_f_fixed32;
	uint32_t f_fixed32;
	protobuf_c_boolean has_f_uint64;
	uint64_t f_uint64;
	protobuf_c_boolean has_f_fixed64;
	uint64_t f_fixed64;
	protobuf_c_boolean has_f_float;
	float f_float;
	protobuf_c_boolean has_f_double;
	double f_double;
	protobuf_c_boolean has_f_bool;
	protobuf_c_boolean f_bool;
	protobuf_c_boolean has_f_enum;
	Flow__V1__Code f_enum;
	char *f_string;
	protobuf_c_boolean has_f_bytes;
	ProtobufCBinaryData f_bytes;
	AllTypes *f_msg;
	size_t n_r_uint64;
	uint64_t *r_uint64;
	size_t n_r_float;
	float *r_float;
	size_t n_r_bool;
	protobuf_c_boolean *r_bool;
	size_t n_r_enum;
	Flow__V1__Code *r_enum;
	size_t n_r_bytes;
	ProtobufCBinaryData *r_bytes;
	size_t n_r_msg;
	AllTypes **r_msg;
	size_t n_r_sint32;
	int32_t *r_sint32;
	uint32_t pick_case;
	union {
		char *pick_str;
		int32_t pick_int;
		AllTypes *pick_msg;
	};
};

static const ProtobufCMessageDescriptor all_types_descriptor;

#define AT_FIELD(name, id, label, type, q, member, desc, flags)                                    \
	{                                                                                          \
		name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q,                     \
		    offsetof(AllTypes, member), desc, NULL, flags, 0, NULL, NULL                   \
	}
#define AT_OPT(id, type, member, desc)                                                             \
	AT_FIELD(#member, id, OPTIONAL, type, offsetof(AllTypes, has_##member), member, desc, 0)
#define AT_PTR(id, type, member, desc) AT_FIELD(#member, id, OPTIONAL, type, 0, member, desc, 0)
#define AT_REP(id, type, member, desc)                                                             \
	AT_FIELD(#member, id, REPEATED, type, offsetof(AllTypes, n_##member), member, desc, 0)
#define AT_ONE(id, type, member, desc)                                                             \
	AT_FIELD(#member, id, OPTIONAL, type, offsetof(AllTypes, pick_case), member, desc,         \
		 PROTOBUF_C_FIELD_FLAG_ONEOF)

static const ProtobufCFieldDescriptor all_types_fields[] = {
	AT_OPT(1, INT32, f_int32, NULL),
	AT_OPT(2, SINT32, f_sint32, NULL),
	AT_OPT(3, SFIXED32, f_sfixed32, NULL),
	AT_OPT(4, INT64, f_int64, NULL),
	AT_OPT(5, SINT64, f_sint64, NULL),
	AT_OPT(6, SFIXED64, f_sfixed64, NULL),
	AT_OPT(7, UINT32, f_uint32, NULL),
	AT_OPT(8, FIXED32, f_fixed32, NULL),
	AT_OPT(9, UINT64, f_uint64, NULL),
	AT_OPT(10, FIXED64, f_fixed64, NULL),
	AT_OPT(11, FLOAT, f_float, NULL),
	AT_OPT(12, DOUBLE, f_double, NULL),
	AT_OPT(13, BOOL, f_bool, NULL),
	AT_OPT(14, ENUM, f_enum, &flow__v1__code__descriptor),
	AT_PTR(15, STRING, f_string, NULL),
	AT_OPT(16, BYTES, f_bytes, NULL),
	AT_PTR(17, MESSAGE, f_msg, &all_types_descriptor),
	AT_REP(18, UINT64, r_uint64, NULL),
	AT_REP(19, FLOAT, r_float, NULL),
	AT_REP(20, BOOL, r_bool, NULL),
	AT_REP(21, ENUM, r_enum, &flow__v1__code__descriptor),
	AT_REP(22, BYTES, r_bytes, NULL),
	AT_REP(23, MESSAGE, r_msg, &all_types_descriptor),
	AT_REP(24, SINT32, r_sint32, NULL),
	AT_ONE(25, STRING, pick_str, NULL),
	AT_ONE(26, INT32, pick_int, NULL),
	AT_ONE(27, MESSAGE, pick_msg, &all_types_descriptor),
};

#define AT_N_FIELDS (sizeof(all_types_fields) / sizeof(all_types_fields[0]))

static unsigned all_types_by_name[AT_N_FIELDS];
static const ProtobufCIntRange all_types_ranges[] = { { 1, 0 }, { 0, AT_N_FIELDS } };

static void all_types_init(ProtobufCMessage *m)
{
	memset(m, 0, sizeof(AllTypes));
	m->descriptor = &all_types_descriptor;
}

static const ProtobufCMessageDescriptor all_types_descriptor = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	"test.AllTypes",
	"AllTypes",
	"AllTypes",
	"test",
	sizeof(AllTypes),
	AT_N_FIELDS,
	all_types_fields,
	all_types_by_name,
	1,
	all_types_ranges,
	all_types_init,
	NULL,
	NULL,
	NULL,
};

static int cmp_field_name(const void *a, const void *b)
{
	return strcmp(all_types_fields[*(const unsigned *)a].name,
		      all_types_fields[*(const unsigned *)b].name);
}

static int setup_descriptor(void **state)
{
	unsigned i;

	for (i = 0; i < AT_N_FIELDS; i++)
		all_types_by_name[i] = i;
	qsort(all_types_by_name, AT_N_FIELDS, sizeof(unsigned), cmp_field_name);
	return 0;
}

/* --- helpers --- */

/* JSON text with ' for " so the cases stay readable. */
static json_t *J(const char *text)
{
	char buf[4096];
	json_error_t e;
	json_t *j;
	size_t i;

	assert_true(strlen(text) < sizeof(buf));
	for (i = 0; text[i] != '\0'; i++)
		buf[i] = text[i] == '\'' ? '"' : text[i];
	buf[i] = '\0';
	j = json_loads(buf, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (j == NULL)
		fail_msg("bad test JSON %s: %s", buf, e.text);
	return j;
}

static ProtobufCMessage *to_msg(const char *text, const ProtobufCMessageDescriptor *desc,
				ProtobufCAllocator *alloc)
{
	ProtobufCMessage *m = NULL;
	char err[256];
	json_t *j = J(text);
	int rc;

	rc = pbjson_to_message(j, desc, alloc, &m, err, sizeof(err));
	json_decref(j);
	if (rc != FLOW_OK)
		fail_msg("pbjson_to_message(%s): %d %s", text, rc, err);
	assert_non_null(m);
	assert_ptr_equal(m->descriptor, desc);
	assert_string_equal(err, "");
	return m;
}

static void expect_error_with(const char *text, const ProtobufCMessageDescriptor *desc,
			      ProtobufCAllocator *alloc, const char *want)
{
	ProtobufCMessage sentinel;
	ProtobufCMessage *m = &sentinel;
	char err[256];
	json_t *j = J(text);
	int rc;

	rc = pbjson_to_message(j, desc, alloc, &m, err, sizeof(err));
	json_decref(j);
	if (rc != FLOW_INVALID_ARGUMENT || strcmp(err, want) != 0)
		fail_msg("%s: got %d \"%s\", want \"%s\"", text, rc, err, want);
	assert_ptr_equal(m, &sentinel);
}

/* Each error case with the default allocator (leaks show up under ASan) and
 * with an arena. */
static void expect_error(const char *text, const ProtobufCMessageDescriptor *desc, const char *want)
{
	arena *a = arena_new(4096);

	assert_non_null(a);
	expect_error_with(text, desc, NULL, want);
	expect_error_with(text, desc, arena_allocator(a), want);
	arena_free(a);
}

static json_t *get(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		fail_msg("missing key %s", key);
	return v;
}

static json_int_t get_int(json_t *obj, const char *key)
{
	json_t *v = get(obj, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *get_str(json_t *obj, const char *key)
{
	json_t *v = get(obj, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* Packed bytes of two messages are the same. */
static void assert_same_wire(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a);
	size_t nb = protobuf_c_message_get_packed_size(b);
	uint8_t *ba = malloc(na + 1), *bb = malloc(nb + 1);

	assert_non_null(ba);
	assert_non_null(bb);
	assert_int_equal(na, nb);
	assert_int_equal(protobuf_c_message_pack(a, ba), na);
	assert_int_equal(protobuf_c_message_pack(b, bb), nb);
	assert_memory_equal(ba, bb, na);
	free(ba);
	free(bb);
}

/* --- names --- */

static void test_json_name(void **state)
{
	char buf[64];

	pbjson_json_name("max_parallel_items", buf, sizeof(buf));
	assert_string_equal(buf, "maxParallelItems");
	pbjson_json_name("ticket_id", buf, sizeof(buf));
	assert_string_equal(buf, "ticketId");
	pbjson_json_name("id", buf, sizeof(buf));
	assert_string_equal(buf, "id");
	pbjson_json_name("f_int32", buf, sizeof(buf));
	assert_string_equal(buf, "fInt32");
	pbjson_json_name("a__b_", buf, sizeof(buf));
	assert_string_equal(buf, "aB");
	pbjson_json_name("completion_notes", buf, 6);
	assert_string_equal(buf, "compl");
	buf[0] = 'x';
	pbjson_json_name("abc", buf, 1);
	assert_string_equal(buf, "");
}

/* --- round trips with flowd messages --- */

static void test_create_ticket(void **state)
{
	Flow__V1__CreateTicketRequest *r;
	json_t *out, *tags;

	r = (Flow__V1__CreateTicketRequest *)to_msg(
	    "{'projectId': '123', 'title': 'Fix login', 'priority': 7,"
	    " 'priority_name': 'high', 'tags': ['auth', 'bug'], 'suggestedFileIds': [],"
	    " 'overview': null}",
	    &flow__v1__create_ticket_request__descriptor, NULL);
	assert_true(r->has_project_id);
	assert_int_equal(r->project_id, 123);
	assert_string_equal(r->title, "Fix login");
	assert_true(r->has_priority);
	assert_int_equal(r->priority, 7);
	assert_string_equal(r->priority_name, "high");
	assert_int_equal(r->n_tags, 2);
	assert_string_equal(r->tags[0], "auth");
	assert_string_equal(r->tags[1], "bug");
	assert_int_equal(r->n_suggested_file_ids, 0);
	assert_null(r->overview);
	assert_null(r->status);

	out = pbjson_from_message(&r->base);
	assert_non_null(out);
	assert_int_equal(get_int(out, "projectId"), 123);
	assert_string_equal(get_str(out, "title"), "Fix login");
	assert_string_equal(get_str(out, "priorityName"), "high");
	tags = get(out, "tags");
	assert_int_equal(json_array_size(tags), 2);
	assert_string_equal(json_string_value(json_array_get(tags, 1)), "bug");
	/* Repeated fields always appear; absent optionals never do. */
	assert_true(json_is_array(get(out, "suggestedAgentIds")));
	assert_int_equal(json_array_size(get(out, "suggestedAgentIds")), 0);
	assert_null(json_object_get(out, "overview"));
	assert_null(json_object_get(out, "status"));
	assert_null(json_object_get(out, "project_id"));
	assert_int_equal(json_object_size(out), 7);
	json_decref(out);
	flow__v1__create_ticket_request__free_unpacked(r, NULL);
}

static void test_update_task_arena(void **state)
{
	arena *a = arena_new(1024);
	Flow__V1__UpdateTaskRequest *r;
	json_t *out, *deps;

	assert_non_null(a);
	r = (Flow__V1__UpdateTaskRequest *)to_msg(
	    "{'task_id': 9, 'estimatedHours': 2.5, 'done': true, 'orderIndex': -3,"
	    " 'dependencies': [1, '2', 3.0, '9007199254740993', -4],"
	    " 'completionNotes': 'ok \\u00e9', 'clear_tags': false}",
	    &flow__v1__update_task_request__descriptor, arena_allocator(a));
	assert_int_equal(r->task_id, 9);
	assert_true(r->has_estimated_hours);
	assert_true(r->estimated_hours == 2.5);
	assert_true(r->has_done && r->done);
	assert_int_equal(r->order_index, -3);
	assert_int_equal(r->n_dependencies, 5);
	assert_int_equal(r->dependencies[0], 1);
	assert_int_equal(r->dependencies[1], 2);
	assert_int_equal(r->dependencies[2], 3);
	assert_true(r->dependencies[3] == INT64_C(9007199254740993));
	assert_true(r->dependencies[4] == -4);
	assert_string_equal(r->completion_notes, "ok \xc3\xa9");
	assert_true(r->has_clear_tags);
	assert_false(r->clear_tags);
	assert_false(r->has_clear_dependencies);

	out = pbjson_from_message(&r->base);
	assert_non_null(out);
	assert_true(json_is_real(get(out, "estimatedHours")));
	assert_true(json_real_value(get(out, "estimatedHours")) == 2.5);
	assert_true(json_is_true(get(out, "done")));
	assert_true(json_is_false(get(out, "clearTags")));
	assert_int_equal(get_int(out, "orderIndex"), -3);
	deps = get(out, "dependencies");
	assert_int_equal(json_array_size(deps), 5);
	assert_true(json_integer_value(json_array_get(deps, 3)) == 9007199254740993LL);
	assert_null(json_object_get(out, "clearDependencies"));
	json_decref(out);

	/* An integral double stays a JSON real. */
	r->estimated_hours = 2.0;
	out = pbjson_from_message(&r->base);
	assert_true(json_is_real(get(out, "estimatedHours")));
	assert_true(json_real_value(get(out, "estimatedHours")) == 2.0);
	json_decref(out);
	arena_free(a); /* everything, the message included */
}

static const char *get_next_json =
	"{'found': true, 'message': 'next', 'queueItemId': 41, 'ticketId': 7,"
	" 'item': {'id': 41, 'queueId': 3, 'ticketId': 7, 'itemType': 'ticket',"
	"  'status': 'in_progress', 'attempt': 1, 'metadata': '{\\'k\\': 1}'},"
	" 'ticket': {'id': 7, 'projectId': 1, 'title': 'T', 'priority': 5,"
	"  'tags': ['x'], 'created': 1700000000000},"
	" 'tasks': [{'id': 70, 'content': 'a', 'done': true, 'estimatedHours': 1.25},"
	"  {'id': 71, 'content': 'b', 'dependencies': [70]}],"
	" 'nextTask': {'id': 71, 'content': 'b'},"
	" 'agentId': 'coder', 'suggestedFiles': ['a.c', 'b.c']}";

static void test_get_next_nested(void **state)
{
	Flow__V1__GetNextResponse *r, *r2;
	json_t *out, *tasks;
	char err[128];
	int rc;

	r = (Flow__V1__GetNextResponse *)to_msg(get_next_json,
						&flow__v1__get_next_response__descriptor, NULL);
	assert_true(r->found);
	assert_non_null(r->item);
	assert_int_equal(r->item->id, 41);
	assert_int_equal(r->item->queue_id, 3);
	assert_string_equal(r->item->metadata, "{\"k\": 1}");
	assert_false(r->item->has_task_id);
	assert_non_null(r->ticket);
	assert_int_equal(r->ticket->created, INT64_C(1700000000000));
	assert_string_equal(r->ticket->tags[0], "x");
	assert_null(r->task);
	assert_int_equal(r->n_tasks, 2);
	assert_true(r->tasks[0]->done);
	assert_true(r->tasks[0]->estimated_hours == 1.25);
	assert_int_equal(r->tasks[1]->n_dependencies, 1);
	assert_int_equal(r->tasks[1]->dependencies[0], 70);
	assert_int_equal(r->next_task->id, 71);
	assert_int_equal(r->n_suggested_files, 2);

	out = pbjson_from_message(&r->base);
	assert_non_null(out);
	assert_int_equal(get_int(get(out, "item"), "queueId"), 3);
	assert_string_equal(get_str(get(out, "item"), "itemType"), "ticket");
	assert_null(json_object_get(out, "task"));
	tasks = get(out, "tasks");
	assert_int_equal(json_array_size(tasks), 2);
	assert_int_equal(get_int(json_array_get(tasks, 1), "id"), 71);
	assert_true(json_is_array(get(json_array_get(tasks, 0), "dependencies")));

	/* JSON -> message -> JSON -> message gives the same wire bytes. */
	r2 = NULL;
	rc = pbjson_to_message(out, &flow__v1__get_next_response__descriptor, NULL,
			       (ProtobufCMessage **)&r2, err, sizeof(err));
	assert_int_equal(rc, FLOW_OK);
	assert_same_wire(&r->base, &r2->base);
	json_decref(out);
	flow__v1__get_next_response__free_unpacked(r2, NULL);
	flow__v1__get_next_response__free_unpacked(r, NULL);
}

static void test_rpc_response_enum_bytes(void **state)
{
	Flow__V1__RpcResponse *r;
	json_t *out;

	r = (Flow__V1__RpcResponse *)to_msg(
	    "{'code': 'NOT_FOUND', 'message': 'no such ticket', 'body': 'aGVsbG8=',"
	    " 'retryAfterMs': 250}",
	    &flow__v1__rpc_response__descriptor, NULL);
	assert_true(r->has_code);
	assert_int_equal(r->code, FLOW__V1__CODE__NOT_FOUND);
	assert_true(r->has_body);
	assert_int_equal(r->body.len, 5);
	assert_memory_equal(r->body.data, "hello", 5);
	assert_int_equal(r->retry_after_ms, 250);
	out = pbjson_from_message(&r->base);
	assert_string_equal(get_str(out, "code"), "NOT_FOUND");
	assert_string_equal(get_str(out, "body"), "aGVsbG8=");
	assert_int_equal(get_int(out, "retryAfterMs"), 250);
	assert_null(json_object_get(out, "requestId"));
	json_decref(out);
	flow__v1__rpc_response__free_unpacked(r, NULL);

	/* Enum by number; bytes URL-safe and unpadded; empty bytes present. */
	r = (Flow__V1__RpcResponse *)to_msg("{'code': 16, 'body': '-_8'}",
					    &flow__v1__rpc_response__descriptor, NULL);
	assert_int_equal(r->code, FLOW__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(r->body.len, 2);
	assert_int_equal(r->body.data[0], 0xFB);
	assert_int_equal(r->body.data[1], 0xFF);
	out = pbjson_from_message(&r->base);
	assert_string_equal(get_str(out, "code"), "UNAUTHENTICATED");
	assert_string_equal(get_str(out, "body"), "+/8=");
	json_decref(out);
	flow__v1__rpc_response__free_unpacked(r, NULL);

	r = (Flow__V1__RpcResponse *)to_msg("{'body': ''}", &flow__v1__rpc_response__descriptor,
					    NULL);
	assert_true(r->has_body);
	assert_int_equal(r->body.len, 0);
	out = pbjson_from_message(&r->base);
	assert_string_equal(get_str(out, "body"), "");
	json_decref(out);
	flow__v1__rpc_response__free_unpacked(r, NULL);
}

/* --- input forms --- */

static void test_ids_and_integer_forms(void **state)
{
	Flow__V1__GetTicketRequest *g;
	Flow__V1__CreateTicketRequest *c;

	g = (Flow__V1__GetTicketRequest *)to_msg("{'ticketId': '123'}",
						 &flow__v1__get_ticket_request__descriptor, NULL);
	assert_true(g->has_ticket_id);
	assert_int_equal(g->ticket_id, 123);
	flow__v1__get_ticket_request__free_unpacked(g, NULL);

	g = (Flow__V1__GetTicketRequest *)to_msg("{'ticket_id': '-9223372036854775808'}",
						 &flow__v1__get_ticket_request__descriptor, NULL);
	assert_true(g->ticket_id == INT64_MIN);
	flow__v1__get_ticket_request__free_unpacked(g, NULL);

	g = (Flow__V1__GetTicketRequest *)to_msg("{'ticketId': 9223372036854775807}",
						 &flow__v1__get_ticket_request__descriptor, NULL);
	assert_true(g->ticket_id == INT64_MAX);
	flow__v1__get_ticket_request__free_unpacked(g, NULL);

	/* Reals with no fraction, strings in exponent form, int32 limits. */
	c = (Flow__V1__CreateTicketRequest *)to_msg("{'priority': 4.0, 'projectId': '1e3'}",
						    &flow__v1__create_ticket_request__descriptor,
						    NULL);
	assert_int_equal(c->priority, 4);
	assert_int_equal(c->project_id, 1000);
	flow__v1__create_ticket_request__free_unpacked(c, NULL);
	c = (Flow__V1__CreateTicketRequest *)to_msg(
	    "{'priority': -2147483648}", &flow__v1__create_ticket_request__descriptor, NULL);
	assert_int_equal(c->priority, INT32_MIN);
	flow__v1__create_ticket_request__free_unpacked(c, NULL);
	c = (Flow__V1__CreateTicketRequest *)to_msg(
	    "{'priority': '2147483647'}", &flow__v1__create_ticket_request__descriptor, NULL);
	assert_int_equal(c->priority, INT32_MAX);
	flow__v1__create_ticket_request__free_unpacked(c, NULL);
}

static void test_null_means_absent(void **state)
{
	Flow__V1__CreateTicketRequest *c;
	json_t *out;

	c = (Flow__V1__CreateTicketRequest *)to_msg(
	    "{'projectId': 5, 'title': null, 'priority': null, 'tags': null,"
	    " 'suggested_agent_ids': null}",
	    &flow__v1__create_ticket_request__descriptor, NULL);
	assert_true(c->has_project_id);
	assert_int_equal(c->project_id, 5);
	assert_null(c->title);
	assert_false(c->has_priority);
	assert_int_equal(c->n_tags, 0);
	assert_null(c->tags);
	out = pbjson_from_message(&c->base);
	assert_null(json_object_get(out, "title"));
	assert_null(json_object_get(out, "priority"));
	assert_int_equal(json_array_size(get(out, "tags")), 0);
	json_decref(out);
	flow__v1__create_ticket_request__free_unpacked(c, NULL);

	/* null is not a value inside an array, and null is not a message. */
	expect_error("{'tags': ['a', null]}", &flow__v1__create_ticket_request__descriptor,
		     "tags[1]: expected a string, got null");
}

static void test_camel_and_snake_keys(void **state)
{
	Flow__V1__Queue *q;

	q = (Flow__V1__Queue *)to_msg(
	    "{'max_parallel_items': 3, 'isActive': true, 'lease_seconds': 30,"
	    " 'maxAttempts': 5, 'project_id': 2, 'name': 'main'}",
	    &flow__v1__queue__descriptor, NULL);
	assert_true(q->has_max_parallel_items);
	assert_int_equal(q->max_parallel_items, 3);
	assert_true(q->has_is_active && q->is_active);
	assert_int_equal(q->lease_seconds, 30);
	assert_int_equal(q->max_attempts, 5);
	assert_int_equal(q->project_id, 2);
	assert_string_equal(q->name, "main");
	assert_false(q->has_id);
	flow__v1__queue__free_unpacked(q, NULL);

	/* Both spellings of one field: ambiguous, rejected (and nothing leaks). */
	expect_error("{'title': 'a', 'projectId': 1, 'project_id': 2}",
		     &flow__v1__create_ticket_request__descriptor,
		     "project_id: field given twice (as snake_case and lowerCamelCase)");
	expect_error("{'tags': ['a'], 'title': 'x', 'tags_': 1}",
		     &flow__v1__create_ticket_request__descriptor, "tags_: unknown field");
}

/* --- errors --- */

static void test_errors_type(void **state)
{
	const ProtobufCMessageDescriptor *ct = &flow__v1__create_ticket_request__descriptor;
	const ProtobufCMessageDescriptor *ut = &flow__v1__update_task_request__descriptor;
	const ProtobufCMessageDescriptor *gn = &flow__v1__get_next_response__descriptor;

	expect_error("{'maxParallelItems': 'abc'}", &flow__v1__queue__descriptor,
		     "maxParallelItems: expected an integer, got a string \"abc\"");
	expect_error("{'title': 'x', 'tags': ['a', 'b', 3]}", ct,
		     "tags[2]: expected a string, got a number 3");
	expect_error("{'tags': 'a'}", ct, "tags: expected an array, got a string \"a\"");
	expect_error("{'title': 5}", ct, "title: expected a string, got a number 5");
	expect_error("{'title': {}}", ct, "title: expected a string, got an object");
	expect_error("{'done': 'yes'}", ut, "done: expected true or false, got a string \"yes\"");
	expect_error("{'done': 1}", ut, "done: expected true or false, got a number 1");
	expect_error("{'estimatedHours': true}", ut, "estimatedHours: expected a number, got true");
	expect_error("{'estimatedHours': 'lots'}", ut,
		     "estimatedHours: expected a number, got a string \"lots\"");
	expect_error("{'dependencies': [1, [2]]}", ut,
		     "dependencies[1]: expected an integer, got an array");
	expect_error("{'item': []}", gn, "item: expected an object, got an array");
	expect_error("{'tasks': [{'id': 1}, {'id': 2, 'estimatedHours': 'x'}]}", gn,
		     "tasks[1].estimatedHours: expected a number, got a string \"x\"");
	expect_error("{'title': 'a\\u0000b'}", ct, "title: contains a NUL character");
	expect_error("{'title': '0123456789012345678901234567890123456789XYZ', 'priority': 'p'}",
		     ct, "priority: expected an integer, got a string \"p\"");
	expect_error("{'priority': '\\n0123456789012345678901234567890123456789XYZ'}", ct,
		     "priority: expected an integer, got a string "
		     "\"?012345678901234567890123456789012345678...\"");
	expect_error("[]", ct, "expected a JSON object, got an array");
	expect_error("'x'", ct, "expected a JSON object, got a string \"x\"");
}

static void test_errors_numbers(void **state)
{
	const ProtobufCMessageDescriptor *ct = &flow__v1__create_ticket_request__descriptor;

	expect_error("{'priority': 11.5}", ct, "priority: 11.5 is not an integer");
	expect_error("{'priority': '11.5'}", ct, "priority: 11.5 is not an integer");
	expect_error("{'projectId': 0.1}", ct, "projectId: 0.1 is not an integer");
	expect_error("{'projectId': '99999999999999999999'}", ct,
		     "projectId: 99999999999999999999 is out of range for int64");
	expect_error("{'projectId': '9223372036854775808'}", ct,
		     "projectId: 9223372036854775808 is out of range for int64");
	expect_error("{'projectId': 1e19}", ct, "projectId: 1e+19 is out of range for int64");
	expect_error("{'projectId': 1e300}", ct, "projectId: 1e+300 is out of range for int64");
	expect_error("{'priority': 2147483648}", ct,
		     "priority: 2147483648 is out of range for int32");
	expect_error("{'priority': -2147483649}", ct,
		     "priority: -2147483649 is out of range for int32");
	expect_error("{'priority': '1e10'}", ct, "priority: 1e10 is out of range for int32");
	expect_error("{'deadlineMs': -1}", &flow__v1__rpc_request__descriptor,
		     "deadlineMs: -1 is out of range for uint32");
	expect_error("{'deadline_ms': 4294967296}", &flow__v1__rpc_request__descriptor,
		     "deadline_ms: 4294967296 is out of range for uint32");
	expect_error("{'projectId': ''}", ct, "projectId: expected an integer, got a string \"\"");
	expect_error("{'projectId': ' 1'}", ct,
		     "projectId: expected an integer, got a string \" 1\"");
	expect_error("{'projectId': '0x10'}", ct,
		     "projectId: expected an integer, got a string \"0x10\"");
	expect_error("{'projectId': 'NaN'}", ct,
		     "projectId: expected an integer, got a string \"NaN\"");
	expect_error("{'dependencies': [1, 2.5]}", &flow__v1__update_task_request__descriptor,
		     "dependencies[1]: 2.5 is not an integer");
}

static void test_errors_unknown(void **state)
{
	const ProtobufCMessageDescriptor *rr = &flow__v1__rpc_response__descriptor;
	const ProtobufCMessageDescriptor *gn = &flow__v1__get_next_response__descriptor;

	expect_error("{'bogus': 1}", &flow__v1__create_ticket_request__descriptor,
		     "bogus: unknown field");
	expect_error("{'Title': 'x'}", &flow__v1__create_ticket_request__descriptor,
		     "Title: unknown field");
	expect_error("{'item': {'metadata': '{}', 'nope': 1}}", gn, "item.nope: unknown field");
	expect_error("{'tasks': [{}, {}, {'tags': ['a'], 'x\\ny': 1}]}", gn,
		     "tasks[2].x?y: unknown field");
	expect_error("{'code': 'NOPE'}", rr, "code: unknown value \"NOPE\" for enum flow.v1.Code");
	expect_error("{'code': 'not_found'}", rr,
		     "code: unknown value \"not_found\" for enum flow.v1.Code");
	expect_error("{'code': 99}", rr, "code: 99 is not a value of enum flow.v1.Code");
	expect_error("{'code': -1}", rr, "code: -1 is not a value of enum flow.v1.Code");
	expect_error("{'code': 1.0}", rr, "code: expected an enum value name, got a number 1");
	expect_error("{'body': 'aGV=sbG8'}", rr, "body: not valid base64");
	expect_error("{'body': 'a'}", rr, "body: not valid base64");
	expect_error("{'body': 'aGVs bG8='}", rr, "body: not valid base64");
	expect_error("{'body': 'aGVsbG8=='}", rr, "body: not valid base64");
	expect_error("{'body': 5}", rr, "body: expected a base64 string, got a number 5");
}

static void test_error_buffer(void **state)
{
	ProtobufCMessage *m = NULL;
	char err[8];
	json_t *j = J("{'bogus': 1}");

	memset(err, 'x', sizeof(err));
	assert_int_equal(
	    pbjson_to_message(j, &flow__v1__rpc_response__descriptor, NULL, &m, err, sizeof(err)),
	    FLOW_INVALID_ARGUMENT);
	assert_string_equal(err, "bogus: ");
	assert_int_equal(
	    pbjson_to_message(j, &flow__v1__rpc_response__descriptor, NULL, &m, NULL, 0),
	    FLOW_INVALID_ARGUMENT);
	assert_null(m);
	json_decref(j);
}

/* --- every field type --- */

static const char *all_types_json =
	"{'fInt32': -2147483648, 'f_sint32': -7, 'fSfixed32': 2147483647,"
	" 'fInt64': '-9223372036854775808', 'fSint64': -1, 'fSfixed64': 9223372036854775807,"
	" 'fUint32': 4294967295, 'fFixed32': '4000000000',"
	" 'fUint64': '18446744073709551615', 'fFixed64': 12,"
	" 'fFloat': 0.1, 'fDouble': 'NaN', 'fBool': false, 'fEnum': 'ABORTED',"
	" 'fString': 'h\\u00e9llo \\ud83d\\ude00', 'fBytes': 'AAEC/w==',"
	" 'fMsg': {'fInt32': 1, 'fMsg': {'fString': 'deep'}},"
	" 'rUint64': [0, '18446744073709551614'], 'rFloat': [1.5, '-Infinity', 'Infinity'],"
	" 'rBool': [true, false, true], 'rEnum': ['OK', 5], 'rBytes': ['', 'YQ'],"
	" 'rMsg': [{'pickInt': 4}, {}], 'rSint32': [-1, 1],"
	" 'pickStr': 'chosen'}";

static void check_all_types(const AllTypes *m)
{
	assert_true(m->has_f_int32 && m->f_int32 == INT32_MIN);
	assert_true(m->has_f_sint32 && m->f_sint32 == -7);
	assert_true(m->has_f_sfixed32 && m->f_sfixed32 == INT32_MAX);
	assert_true(m->has_f_int64 && m->f_int64 == INT64_MIN);
	assert_true(m->has_f_sint64 && m->f_sint64 == -1);
	assert_true(m->has_f_sfixed64 && m->f_sfixed64 == INT64_MAX);
	assert_true(m->has_f_uint32 && m->f_uint32 == UINT32_MAX);
	assert_true(m->has_f_fixed32 && m->f_fixed32 == 4000000000u);
	assert_true(m->has_f_uint64 && m->f_uint64 == UINT64_MAX);
	assert_true(m->has_f_fixed64 && m->f_fixed64 == 12);
	assert_true(m->has_f_float && m->f_float == 0.1f);
	assert_true(m->has_f_double && isnan(m->f_double));
	assert_true(m->has_f_bool && !m->f_bool);
	assert_true(m->has_f_enum && m->f_enum == FLOW__V1__CODE__ABORTED);
	assert_string_equal(m->f_string, "h\xc3\xa9llo \xf0\x9f\x98\x80");
	assert_true(m->has_f_bytes && m->f_bytes.len == 4);
	assert_memory_equal(m->f_bytes.data, "\x00\x01\x02\xff", 4);
	assert_non_null(m->f_msg);
	assert_int_equal(m->f_msg->f_int32, 1);
	assert_false(m->f_msg->has_f_sint32);
	assert_string_equal(m->f_msg->f_msg->f_string, "deep");
	assert_int_equal(m->n_r_uint64, 2);
	assert_true(m->r_uint64[1] == UINT64_MAX - 1);
	assert_int_equal(m->n_r_float, 3);
	assert_true(m->r_float[0] == 1.5f && isinf(m->r_float[1]) && m->r_float[1] < 0);
	assert_true(isinf(m->r_float[2]) && m->r_float[2] > 0);
	assert_int_equal(m->n_r_bool, 3);
	assert_true(m->r_bool[0] && !m->r_bool[1] && m->r_bool[2]);
	assert_int_equal(m->n_r_enum, 2);
	assert_int_equal(m->r_enum[1], FLOW__V1__CODE__NOT_FOUND);
	assert_int_equal(m->n_r_bytes, 2);
	assert_int_equal(m->r_bytes[0].len, 0);
	assert_int_equal(m->r_bytes[1].len, 1);
	assert_int_equal(m->r_bytes[1].data[0], 'a');
	assert_int_equal(m->n_r_msg, 2);
	assert_int_equal(m->r_msg[0]->pick_case, 26);
	assert_int_equal(m->r_msg[0]->pick_int, 4);
	assert_int_equal(m->r_msg[1]->pick_case, 0);
	assert_int_equal(m->n_r_sint32, 2);
	assert_int_equal(m->r_sint32[0], -1);
	assert_int_equal(m->pick_case, 25);
	assert_string_equal(m->pick_str, "chosen");
}

static void check_all_types_json(json_t *o)
{
	json_t *rf = get(o, "rFloat");

	assert_int_equal(get_int(o, "fInt32"), INT32_MIN);
	assert_true(get_int(o, "fInt64") == INT64_MIN);
	assert_int_equal(get_int(o, "fUint32"), UINT32_MAX);
	assert_string_equal(get_str(o, "fUint64"), "18446744073709551615");
	assert_int_equal(get_int(o, "fFixed64"), 12);
	assert_true(json_is_real(get(o, "fFloat")));
	assert_true(json_real_value(get(o, "fFloat")) == 0.1); /* not 0.100000001490116 */
	assert_string_equal(get_str(o, "fDouble"), "NaN");
	assert_true(json_is_false(get(o, "fBool")));
	assert_string_equal(get_str(o, "fEnum"), "ABORTED");
	assert_string_equal(get_str(o, "fString"), "h\xc3\xa9llo \xf0\x9f\x98\x80");
	assert_string_equal(get_str(o, "fBytes"), "AAEC/w==");
	assert_string_equal(get_str(get(get(o, "fMsg"), "fMsg"), "fString"), "deep");
	assert_string_equal(json_string_value(json_array_get(get(o, "rUint64"), 1)),
			    "18446744073709551614");
	assert_int_equal(json_integer_value(json_array_get(get(o, "rUint64"), 0)), 0);
	assert_string_equal(json_string_value(json_array_get(rf, 1)), "-Infinity");
	assert_string_equal(json_string_value(json_array_get(rf, 2)), "Infinity");
	assert_string_equal(json_string_value(json_array_get(get(o, "rEnum"), 1)), "NOT_FOUND");
	assert_string_equal(json_string_value(json_array_get(get(o, "rBytes"), 1)), "YQ==");
	assert_int_equal(get_int(json_array_get(get(o, "rMsg"), 0), "pickInt"), 4);
	assert_string_equal(get_str(o, "pickStr"), "chosen");
	assert_null(json_object_get(o, "pickInt"));
	assert_null(json_object_get(o, "pickMsg"));
}

static void test_all_types(void **state)
{
	AllTypes *m, *m2, *m3;
	json_t *out;
	char err[128];
	uint8_t *wire;
	size_t n;

	m = (AllTypes *)to_msg(all_types_json, &all_types_descriptor, NULL);
	check_all_types(m);
	out = pbjson_from_message(&m->base);
	assert_non_null(out);
	check_all_types_json(out);

	/* Back from its own JSON, and through the wire: the same message. */
	assert_int_equal(pbjson_to_message(out, &all_types_descriptor, NULL,
					   (ProtobufCMessage **)&m2, err, sizeof(err)),
			 FLOW_OK);
	check_all_types(m2);
	n = protobuf_c_message_get_packed_size(&m2->base);
	wire = malloc(n);
	assert_non_null(wire);
	protobuf_c_message_pack(&m2->base, wire);
	m3 = (AllTypes *)protobuf_c_message_unpack(&all_types_descriptor, NULL, n, wire);
	assert_non_null(m3);
	check_all_types(m3);
	assert_same_wire(&m->base, &m3->base);
	free(wire);
	json_decref(out);
	protobuf_c_message_free_unpacked(&m3->base, NULL);
	protobuf_c_message_free_unpacked(&m2->base, NULL);
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void test_all_types_arena(void **state)
{
	arena *a = arena_new(256);
	AllTypes *m;

	assert_non_null(a);
	m = (AllTypes *)to_msg(all_types_json, &all_types_descriptor, arena_allocator(a));
	check_all_types(m);
	assert_true(arena_used(a) >= sizeof(AllTypes) * 5);
	arena_free(a);
}

static void test_all_types_errors(void **state)
{
	const ProtobufCMessageDescriptor *d = &all_types_descriptor;

	expect_error("{'fUint64': -1}", d, "fUint64: -1 is out of range for uint64");
	expect_error("{'fUint64': '18446744073709551616'}", d,
		     "fUint64: 18446744073709551616 is out of range for uint64");
	expect_error("{'fFixed32': '-1'}", d, "fFixed32: -1 is out of range for fixed32");
	expect_error("{'fSint32': 2147483648}", d,
		     "fSint32: 2147483648 is out of range for sint32");
	expect_error("{'fFloat': 1e39}", d, "fFloat: 1e+39 is out of range for float");
	expect_error("{'fDouble': '1e999'}", d, "fDouble: 1e999 is out of range for double");
	expect_error("{'fDouble': 'nan'}", d, "fDouble: expected a number, got a string \"nan\"");
	expect_error("{'rFloat': [1, 'inf']}", d,
		     "rFloat[1]: expected a number, got a string \"inf\"");
	expect_error("{'rBool': [true, 0]}", d, "rBool[1]: expected true or false, got a number 0");
	expect_error("{'rEnum': ['OK', 'BAD']}", d,
		     "rEnum[1]: unknown value \"BAD\" for enum flow.v1.Code");
	expect_error("{'rBytes': ['YQ', '*']}", d, "rBytes[1]: not valid base64");
	/* Failures deep inside allocated state: everything is released. */
	expect_error("{'fString': 'x', 'fBytes': 'YQ', 'fMsg': {'fString': 'y', 'rMsg':"
		     " [{'fString': 'z', 'rBytes': ['YQ']}, {'pickMsg': {'rUint64': [1, -1]}}]}}",
		     d, "fMsg.rMsg[1].pickMsg.rUint64[1]: -1 is out of range for uint64");
	/* Two members of one oneof. */
	expect_error("{'pickStr': 'a', 'pickInt': 1}", d,
		     "pickInt: cannot be set together with pickStr (same oneof)");
	expect_error("{'pickMsg': {'fString': 'a'}, 'pick_str': 'b'}", d,
		     "pick_str: cannot be set together with pickMsg (same oneof)");
}

static void test_depth_limit(void **state)
{
	ProtobufCMessage sentinel, *m = &sentinel;
	char json[2048], err[512];
	size_t n = 0;
	json_t *j;
	int i;

	for (i = 0; i < 70; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "{'fMsg':");
	n += (size_t)snprintf(json + n, sizeof(json) - n, "{}");
	for (i = 0; i < 70; i++)
		json[n++] = '}';
	json[n] = '\0';
	j = J(json);

	assert_int_equal(pbjson_to_message(j, &all_types_descriptor, NULL, &m, err, sizeof(err)),
			 FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(err, "fMsg.fMsg.fMsg"));
	assert_non_null(strstr(err, ": nested more than 64 levels deep"));
	assert_ptr_equal(m, &sentinel);
	json_decref(j);
}

/* --- writing odd messages --- */

static void test_from_message_edges(void **state)
{
	AllTypes m;
	Flow__V1__Code codes[2] = {FLOW__V1__CODE__OK, (Flow__V1__Code)77};
	char bad[] = "a\xff"
		     "b";
	json_t *o;

	all_types_init(&m.base);
	m.has_f_enum = 1;
	m.f_enum = (Flow__V1__Code)42; /* not a value of the enum: written as a number */
	m.f_string = bad;	       /* invalid UTF-8: bad bytes become U+FFFD */
	m.has_f_double = 1;
	m.f_double = -INFINITY;
	m.n_r_enum = 2;
	m.r_enum = codes;
	m.pick_case = 26;
	m.pick_int = 0;
	o = pbjson_from_message(&m.base);
	assert_non_null(o);
	assert_int_equal(get_int(o, "fEnum"), 42);
	assert_string_equal(get_str(o, "fString"), "a\xef\xbf\xbd"
						   "b");
	assert_string_equal(get_str(o, "fDouble"), "-Infinity");
	assert_string_equal(json_string_value(json_array_get(get(o, "rEnum"), 0)), "OK");
	assert_int_equal(json_integer_value(json_array_get(get(o, "rEnum"), 1)), 77);
	assert_int_equal(get_int(o, "pickInt"), 0); /* the chosen oneof member, even zero */
	assert_null(json_object_get(o, "fInt32"));
	assert_null(json_object_get(o, "fMsg"));
	assert_int_equal(json_array_size(get(o, "rMsg")), 0);
	/* 4 singular + 7 repeated */
	assert_int_equal(json_object_size(o), 11);
	json_decref(o);
	assert_null(pbjson_from_message(NULL));
}

/* --- string checks --- */

static void strings_check_is(const ProtobufCMessage *m, size_t max, int want_rc, const char *want)
{
	char err[128];

	assert_int_equal(pbjson_check_strings(m, max, err, sizeof(err)), want_rc);
	assert_string_equal(err, want);
}

static void test_check_strings_utf8(void **state)
{
	Flow__V1__CreateTicketRequest r = FLOW__V1__CREATE_TICKET_REQUEST__INIT;
	char *tags[3] = {"ok", "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x98\x80"};

	r.title = "plain";
	r.overview = "caf\xc3\xa9 \xe2\x82\xac \xf4\x8f\xbf\xbf"; /* up to U+10FFFF */
	r.n_tags = 3;
	r.tags = tags;
	strings_check_is(&r.base, 0, FLOW_OK, "");

	r.title = "\xc0\xaf"; /* overlong '/' */
	strings_check_is(&r.base, 0, FLOW_INVALID_ARGUMENT, "title: not valid UTF-8");
	r.title = "\xe0\x80\xaf"; /* overlong, 3 bytes */
	strings_check_is(&r.base, 0, FLOW_INVALID_ARGUMENT, "title: not valid UTF-8");
	r.title = "\xed\xa0\x80"; /* surrogate U+D800 */
	strings_check_is(&r.base, 0, FLOW_INVALID_ARGUMENT, "title: not valid UTF-8");
	r.title = "\xf4\x90\x80\x80"; /* U+110000 */
	strings_check_is(&r.base, 0, FLOW_INVALID_ARGUMENT, "title: not valid UTF-8");
	r.title = "ab\xe2\x82"; /* truncated */
	strings_check_is(&r.base, 0, FLOW_INVALID_ARGUMENT, "title: not valid UTF-8");
	r.title = "\x80";
	strings_check_is(&r.base, 0, FLOW_INVALID_ARGUMENT, "title: not valid UTF-8");
	r.title = "fine";
	tags[2] = "x\xfe";
	strings_check_is(&r.base, 0, FLOW_INVALID_ARGUMENT, "tags[2]: not valid UTF-8");
	r.n_tags = 2; /* only counted elements are looked at */
	strings_check_is(&r.base, 0, FLOW_OK, "");
}

static void test_check_strings_length(void **state)
{
	Flow__V1__CreateTicketRequest r = FLOW__V1__CREATE_TICKET_REQUEST__INIT;
	char *big = malloc(10002);
	char *tags[2] = {"a", big};

	assert_non_null(big);
	memset(big, 'x', 10001);
	big[10001] = '\0';
	r.title = "t";
	r.n_tags = 2;
	r.tags = tags;
	strings_check_is(&r.base, 10000, FLOW_INVALID_ARGUMENT, "tags[1]: longer than 10000 bytes");
	strings_check_is(&r.base, 10001, FLOW_OK, "");
	strings_check_is(&r.base, 0, FLOW_OK, "");
	r.title = "four";
	strings_check_is(&r.base, 3, FLOW_INVALID_ARGUMENT, "title: longer than 3 bytes");
	free(big);
}

static void test_check_strings_nested(void **state)
{
	Flow__V1__GetNextResponse *r;
	char err[128];

	r = (Flow__V1__GetNextResponse *)to_msg(get_next_json,
						&flow__v1__get_next_response__descriptor, NULL);
	strings_check_is(&r->base, 0, FLOW_OK, "");
	strings_check_is(&r->base, 10, FLOW_INVALID_ARGUMENT, "item.status: longer than 10 bytes");
	r->item->metadata[1] = (char)0xC0;
	strings_check_is(&r->base, 0, FLOW_INVALID_ARGUMENT, "item.metadata: not valid UTF-8");
	r->item->metadata[1] = 'k';
	r->tasks[1]->content[0] = (char)0xFF;
	strings_check_is(&r->base, 0, FLOW_INVALID_ARGUMENT, "tasks[1].content: not valid UTF-8");
	r->tasks[1]->content[0] = 'b';
	r->next_task->content[0] = (char)0x80;
	strings_check_is(&r->base, 0, FLOW_INVALID_ARGUMENT, "nextTask.content: not valid UTF-8");
	assert_int_equal(pbjson_check_strings(&r->base, 0, NULL, 0), FLOW_INVALID_ARGUMENT);
	assert_int_equal(pbjson_check_strings(NULL, 0, err, sizeof(err)), FLOW_OK);
	flow__v1__get_next_response__free_unpacked(r, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_name),
	    cmocka_unit_test(test_create_ticket),
	    cmocka_unit_test(test_update_task_arena),
	    cmocka_unit_test(test_get_next_nested),
	    cmocka_unit_test(test_rpc_response_enum_bytes),
	    cmocka_unit_test(test_ids_and_integer_forms),
	    cmocka_unit_test(test_null_means_absent),
	    cmocka_unit_test(test_camel_and_snake_keys),
	    cmocka_unit_test(test_errors_type),
	    cmocka_unit_test(test_errors_numbers),
	    cmocka_unit_test(test_errors_unknown),
	    cmocka_unit_test(test_error_buffer),
	    cmocka_unit_test(test_all_types),
	    cmocka_unit_test(test_all_types_arena),
	    cmocka_unit_test(test_all_types_errors),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_from_message_edges),
	    cmocka_unit_test(test_check_strings_utf8),
	    cmocka_unit_test(test_check_strings_length),
	    cmocka_unit_test(test_check_strings_nested),
	};

	return cmocka_run_group_tests(tests, setup_descriptor, NULL);
}
