#include "exitguard.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static struct {
	const char *program;
	int ms;
	int status;
} guard;

static void *guard_main(void *arg)
{
	struct timespec left = { guard.ms / 1000, (guard.ms % 1000) * 1000000L };

	(void)arg;
	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
	fprintf(stderr, "%s: the connection did not close within %d ms; exiting without waiting "
			"for it\n",
		guard.program, guard.ms);
	_exit(guard.status);
}

void exit_guard_arm(const char *program, int ms, int status)
{
	pthread_attr_t attr;
	pthread_t t;

	guard.program = program;
	guard.ms = ms;
	guard.status = status;
	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, guard_main, NULL) != 0)
		fprintf(stderr, "%s: cannot bound the connection's close\n", program);
	pthread_attr_destroy(&attr);
}
