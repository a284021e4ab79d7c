/*
 * status.h - gRPC status codes used on the wire and in every layer.
 *
 * Functions across flowd return one of these codes (0 = FLOW_OK) and pass
 * results through out-parameters.
 */
#ifndef FLOW_STATUS_H
#define FLOW_STATUS_H

#include <stddef.h>

enum flow_code {
	FLOW_OK = 0,
	FLOW_CANCELLED = 1,
	FLOW_UNKNOWN = 2,
	FLOW_INVALID_ARGUMENT = 3,
	FLOW_DEADLINE_EXCEEDED = 4,
	FLOW_NOT_FOUND = 5,
	FLOW_ALREADY_EXISTS = 6,
	FLOW_PERMISSION_DENIED = 7,
	FLOW_RESOURCE_EXHAUSTED = 8,
	FLOW_FAILED_PRECONDITION = 9,
	FLOW_ABORTED = 10,
	FLOW_OUT_OF_RANGE = 11,
	FLOW_UNIMPLEMENTED = 12,
	FLOW_INTERNAL = 13,
	FLOW_UNAVAILABLE = 14,
	FLOW_DATA_LOSS = 15,
	FLOW_UNAUTHENTICATED = 16,
};

#define FLOW_CODE_MAX FLOW_UNAUTHENTICATED

/* "NOT_FOUND" for FLOW_NOT_FOUND; "UNKNOWN" for anything out of range. */
const char *status_name(int code);

/* Parses a code name ("NOT_FOUND"); returns -1 when it is not one. */
int status_from_name(const char *name);

/* printf into err (when not NULL and errlen > 0) and return code: for
 * functions that report a code with a message buffer. */
int status_errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
