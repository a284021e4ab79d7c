#include "status.h"

#include <string.h>

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *status_name(int code)
{
	if (code < 0 || code > FLOW_CODE_MAX)
		return "UNKNOWN";
	return status_names[code];
}

int status_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i <= FLOW_CODE_MAX; i++)
		if (strcmp(status_names[i], name) == 0)
			return i;
	return -1;
}
