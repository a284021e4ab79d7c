/*
 * rpc_client_test.c - connecting to a server whose listen backlog is full.
 *
 * A child process (forked before this process uses nng: nng's threads do
 * not survive a fork) listens with nng on an ipc:// path; each test stops it
 * (SIGSTOP), so it accepts nothing, and fills its backlog with plain
 * Unix-socket connections until the kernel answers EAGAIN. rpc_client_open must then keep
 * trying (nng reports NNG_EAGAIN, "Try again") and connect once the server
 * runs again (SIGCONT); with the server still stopped it must give up
 * after its retry budget with a clear error, not hang.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "rpc_client.h"
#include "status.h"

#define MAX_FILL 4096

static char dir[48], path[80], url[96];
static pid_t server;
static int fill[MAX_FILL], n_fill;

/* The child: listens and then sleeps until killed. */
static void serve(void)
{
	nng_socket s;

	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
		_exit(1);
	for (;;)
		pause();
}

/* Plain connections until the backlog is full (EAGAIN). */
static void fill_backlog(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (n_fill = 0; n_fill < MAX_FILL; n_fill++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			assert_int_equal(errno, EAGAIN);
			close(fd);
			return;
		}
		fill[n_fill] = fd;
	}
	fail_msg("the backlog never filled");
}

static int setup(void **state)
{
	assert_int_equal(kill(server, SIGSTOP), 0);
	usleep(20000);
	fill_backlog();
	return 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < n_fill; i++)
		close(fill[i]);
	n_fill = 0;
	kill(server, SIGCONT);
	return 0;
}

/* Forks the server and waits until it listens. */
static int start_server(void)
{
	snprintf(dir, sizeof(dir), "/tmp/rpc_client_test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	if ((server = fork()) == 0)
		serve();
	if (server < 0)
		return -1;
	for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
		usleep(10000);
	usleep(50000); /* listening */
	return access(path, F_OK);
}

static void *resume_later(void *arg)
{
	usleep(300000);
	kill(server, SIGCONT);
	return NULL;
}

static void test_full_backlog_then_accepting(void **state)
{
	struct rpc_client_opts o = { .deadline_ms = 5000 };
	struct rpc_status st;
	rpc_client *c = NULL;
	pthread_t t;
	long long t0 = (long long)nng_clock();

	assert_int_equal(pthread_create(&t, NULL, resume_later, NULL), 0);
	assert_int_equal(rpc_client_open(url, &o, &c, &st), FLOW_OK);
	assert_true((long long)nng_clock() - t0 >= 250); /* it waited for the server */
	pthread_join(t, NULL);
	rpc_client_close(c);
}

static void test_full_backlog_gives_up(void **state)
{
	struct rpc_client_opts o = { .deadline_ms = 5000 };
	struct rpc_status st;
	rpc_client *c = NULL;
	long long t0 = (long long)nng_clock(), took;

	assert_int_equal(rpc_client_open(url, &o, &c, &st), FLOW_UNAVAILABLE);
	took = (long long)nng_clock() - t0;
	assert_true(took >= 1500 && took < 10000);
	assert_non_null(strstr(st.message, "cannot connect to flowd at ipc://"));
	assert_non_null(strstr(st.message, "Try again"));
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_backlog_then_accepting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_backlog_gives_up, setup, teardown),
	};
	int rv;

	if (start_server() != 0) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	unlink(path);
	rmdir(dir);
	return rv;
}
