/*
 * pbjson.h - generic JSON <-> protobuf-c conversion (proto3 JSON mapping).
 *
 * Works from protobuf-c descriptors only; no per-message code. Field names
 * are the proto3 JSON names (lowerCamelCase of the .proto name:
 * max_parallel_items -> maxParallelItems); input accepts the original
 * snake_case name too. One deliberate difference from proto3 JSON: 64-bit
 * integers are written as JSON numbers (input accepts numbers and decimal
 * strings). Enums are written as their value names and read from a name or
 * a number. bytes are base64. Only present fields are written (proto2
 * has_ flags, non-NULL strings/messages); repeated fields always, as arrays.
 */
#ifndef FLOW_PBJSON_H
#define FLOW_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/*
 * Builds a message of type desc from the JSON object obj. Strict: an
 * unknown field, a wrong JSON type, an out-of-range number, a fractional
 * value for an integer field, or an unknown enum name fails with
 * FLOW_INVALID_ARGUMENT and err says which field, by JSON path
 * ("data.tags[2]: expected a string, got a number"). JSON null leaves a
 * field absent. The message and everything in it are allocated with alloc
 * (NULL: the default allocator; free with protobuf_c_message_free_unpacked).
 * Returns FLOW_OK or a flow code; on failure *out is untouched and nothing
 * leaks.
 */
int pbjson_to_message(const json_t *obj, const ProtobufCMessageDescriptor *desc,
		      ProtobufCAllocator *alloc, ProtobufCMessage **out, char *err,
		      size_t errlen);

/* JSON object for msg; new reference, NULL only when out of memory. */
json_t *pbjson_from_message(const ProtobufCMessage *msg);

/* What a JSON value is, for "expected X, got Y" messages: "a string \"abc\"",
 * "a number 5", "an object", "true", "null"... Returns buf or a static string. */
const char *pbjson_describe(const json_t *v, char *buf, size_t len);

/* lowerCamelCase JSON name of a .proto field name into buf (truncated to fit). */
void pbjson_json_name(const char *proto_name, char *buf, size_t len);

/*
 * Checks every string field of msg, recursively, is valid UTF-8 without NUL
 * bytes and at most max_len bytes (0: no limit). Returns FLOW_OK, or
 * FLOW_INVALID_ARGUMENT with err naming the field (JSON name).
 */
int pbjson_check_strings(const ProtobufCMessage *msg, size_t max_len, char *err,
			 size_t errlen);

#endif
