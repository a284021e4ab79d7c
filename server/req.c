#include "req.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int req_error(struct flow_req *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	return code;
}

int64_t req_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void req_after_reply(struct flow_req *r)
{
	void (*fn)(struct flow_req *, void *) = r->after_reply;

	r->after_reply = NULL;
	if (fn != NULL)
		fn(r, r->after_arg);
}

int64_t req_remaining_ms(const struct flow_req *r)
{
	if (r->deadline_ms == 0)
		return INT32_MAX;
	return r->deadline_ms - req_now_ms();
}
