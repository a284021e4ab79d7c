/*
 * bench_login_timing - does a failed login take as long as a good one?
 *
 * Calls the Login handler on a real PostgreSQL (a throwaway database, see
 * scripts/bench-login.sh) for four cases, interleaved round by round so
 * machine noise hits them alike:
 *   ok       the right password
 *   wrong    a wrong password for an existing user
 *   unknown  a user that does not exist
 *   locked   the right password of a locked account
 * and prints each case's median and its ratio to the "ok" median. Every
 * case must cost one Argon2id verification, so the ratios should be close
 * to 1.00 (the "ok" case also issues tokens, a few database writes).
 *
 *   bench_login_timing [ROUNDS]     (default 40)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "flow/v1/auth.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "ts_store.h"

#define PW "Tundra-marble-4471-glide"

enum { C_OK, C_WRONG, C_UNKNOWN, C_LOCKED, N_CASES };
static const char *const names[N_CASES] = { "ok", "wrong", "unknown", "locked" };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void create(struct flow_req *r, const char *name)
{
	Flow__V1__CreateUserRequest cu = FLOW__V1__CREATE_USER_REQUEST__INIT;

	cu.username = (char *)name;
	cu.password = PW;
	cu.role = "member";
	if (ts_call(r, h_create_user, &cu, NULL) != FLOW_OK) {
		fprintf(stderr, "CreateUser %s: %s\n", name, r->message);
		exit(1);
	}
}

/* One login; returns its time in ms and checks the expected outcome. */
static double login(struct flow_req *r, int c)
{
	Flow__V1__LoginRequest req = FLOW__V1__LOGIN_REQUEST__INIT;
	double t0;
	int rv;

	req.username = c == C_UNKNOWN ? "nobody-here" : c == C_LOCKED ? "locked-user" : "bench-user";
	req.password = c == C_WRONG ? "Wrong-password-0000" : PW;
	ts_req_reset(r);
	t0 = now_ms();
	rv = ts_call(r, h_login, &req, NULL);
	t0 = now_ms() - t0;
	if ((c == C_OK) != (rv == FLOW_OK)) {
		fprintf(stderr, "login case %s: unexpected %s: %s\n", names[c], status_name(rv),
			r->message);
		exit(1);
	}
	return t0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	struct flow_req *r;
	char url[512];
	double *t[N_CASES], med[N_CASES];

	if (rounds < 5 || rounds > 10000) {
		fprintf(stderr, "usage: bench_login_timing [ROUNDS 5..10000]\n");
		return 2;
	}
	r = ts_req_open(url, sizeof(url));
	memset(&auth_config, 0, sizeof(auth_config));
	memcpy(auth_config.key, "bench-key-0123456789abcdefghijklmnopqrstuvwxyz", 46);
	auth_config.key_len = 46;
	strcpy(auth_config.issuer, "flowd");
	strcpy(auth_config.audience, "flowd");
	auth_config.access_ttl_s = 900;
	auth_config.refresh_ttl_s = 3600;
	auth_config.lockout_threshold = 100000; /* "wrong" must not lock the account */
	auth_config.lockout_base_s = 900;
	auth_config.lockout_max_s = 86400;
	auth_config.login_rate = auth_config.login_peer_rate = 10000;
	auth_config.login_window_s = 1;
	auth_config.admin_rate = 10000;
	if (auth_init() != FLOW_OK) {
		fprintf(stderr, "bench_login_timing: auth_init failed\n");
		return 1;
	}
	create(r, "bench-user");
	create(r, "locked-user");
	ts_sql_i64(r, "UPDATE users SET locked_until = now() + interval '1 day'"
		      " WHERE username = 'locked-user'", 0);

	for (int c = 0; c < N_CASES; c++)
		t[c] = calloc((size_t)rounds, sizeof(double));
	for (int c = 0; c < N_CASES; c++)
		login(r, c); /* warm-up: prepared statements, caches */
	for (int i = 0; i < rounds; i++)
		for (int k = 0; k < N_CASES; k++) {
			int c = (i + k) % N_CASES; /* rotate the order each round */

			t[c][i] = login(r, c);
		}
	printf("login timing: %d rounds per case, Argon2id m=19 MiB t=2 p=1, one process,\n"
	       "handler called directly on a local PostgreSQL; medians in ms\n\n",
	       rounds);
	printf("%-8s %10s %10s %10s %12s\n", "case", "median", "min", "max", "ratio to ok");
	for (int c = 0; c < N_CASES; c++) {
		qsort(t[c], (size_t)rounds, sizeof(double), cmp_double);
		med[c] = t[c][rounds / 2];
	}
	for (int c = 0; c < N_CASES; c++)
		printf("%-8s %10.2f %10.2f %10.2f %12.2f\n", names[c], med[c], t[c][0],
		       t[c][rounds - 1], med[c] / med[C_OK]);
	for (int c = 0; c < N_CASES; c++)
		free(t[c]);
	auth_shutdown();
	ts_req_close(r, url);
	return 0;
}
