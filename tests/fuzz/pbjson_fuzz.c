/*
 * Fuzz target: JSON text to every request message flowd serves, the path
 * flowctl and the MCP bridge take with untrusted input. A message that
 * converts must convert back to JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "pbjson.h"
#include "rpc.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first byte picks the method; the rest is the JSON. */
static const ProtobufCMessageDescriptor *pick(uint8_t k)
{
	size_t total = 0, n = k;

	for (size_t i = 0; rpc_services[i]; i++)
		total += rpc_services[i]->n_methods;
	n %= total;
	for (size_t i = 0; rpc_services[i]; i++) {
		if (n < rpc_services[i]->n_methods)
			return rpc_services[i]->methods[n].input;
		n -= rpc_services[i]->n_methods;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *msg = NULL;
	json_t *j, *back;
	char err[256];

	if (size < 1)
		return 0;
	j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
	if (j == NULL)
		return 0;
	if (pbjson_to_message(j, pick(data[0]), NULL, &msg, err, sizeof(err)) == FLOW_OK) {
		back = pbjson_from_message(msg);
		if (back == NULL)
			abort();
		json_decref(back);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	json_decref(j);
	return 0;
}
