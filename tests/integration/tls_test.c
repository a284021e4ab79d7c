/*
 * integration.tls: tls+tcp:// between the real client library and the real
 * server, with certificates made by the test (openssl): the server's
 * certificate is verified, a wrong CA is refused, and with a client CA only
 * clients with a certificate it signed get in (mutual TLS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow/v1/project_manager.pb-c.h"
#include "rpc_client.h"
#include "rpc_server.h"
#include "status.h"
#include "testsupport.h"
#include "ts_store.h"

static char *dir;
static char db_url[512];

static const char *file(const char *name)
{
	static char bufs[16][700];
	static int k;
	char *b = bufs[k++ % 16];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void sh(const char *script)
{
	char *argv[] = { "/bin/sh", "-ec", (char *)script, NULL };
	char *err = NULL;
	int status = -1;

	assert_int_equal(ts_run_capture(argv, NULL, NULL, &err, &status, 60000), 0);
	if (status != 0)
		fail_msg("%s: %s", script, err);
	free(err);
}

/* A CA, a certificate it signs for name (SAN DNS:name), and an unrelated CA. */
static void make_certs(void)
{
	char s[4096];

	snprintf(s, sizeof(s),
		 "cd %s\n"
		 "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
		 "for ca in ca evil; do openssl req -x509 $ec -keyout $ca.key -out $ca.pem"
		 " -days 2 -subj /CN=flowtest-$ca 2>/dev/null; done\n"
		 "for who in server:localhost client:worker-1; do n=${who%%%%:*}; cn=${who#*:}\n"
		 " openssl req $ec -keyout $n.key -out $n.csr -subj /CN=$cn 2>/dev/null\n"
		 " printf 'subjectAltName=DNS:%%s\\n' $cn > $n.ext\n"
		 " openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
		 " -out $n.pem -days 2 -extfile $n.ext 2>/dev/null; done\n",
		 dir);
	sh(s);
}

static int setup(void **state)
{
	struct flow_req *r = ts_req_open(db_url, sizeof(db_url));

	ts_req_close(r, NULL);
	dir = ts_tmpdir();
	make_certs();
	return dispatch_init(ts_guard_admin) == FLOW_OK ? 0 : -1;
}

static int teardown(void **state)
{
	ts_drop_db(db_url);
	ts_rmrf(dir);
	free(dir);
	return 0;
}

static int start(rpc_server **srv, char *url, size_t len, const char *client_ca, char *err,
		 size_t errlen)
{
	const char *urls[1] = { url };
	struct rpc_server_opts o = {
		.urls = urls,
		.n_urls = 1,
		.n_threads = 1,
		.n_contexts = 8,
		.db_conninfo = db_url,
		.limits = { 65536, 4096, 10000 },
		.tls = { file("server.pem"), file("server.key"), client_ca, NULL },
	};

	snprintf(url, len, "tls+tcp://127.0.0.1:%d", ts_free_tcp_port());
	return rpc_server_start(&o, srv, err, errlen);
}

/* Opens a client and makes one call; the code of whichever failed. */
static int call(const char *url, const struct tls_files *tls, char *msg, size_t len)
{
	struct rpc_client_opts co = { .deadline_ms = 3000, .tls = tls };
	Flow__V1__ListProjectsRequest req = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;
	rpc_client *c;
	int rv = rpc_client_open(url, &co, &c, &st);

	if (rv == FLOW_OK) {
		rv = rpc_client_call(c, "/flow.v1.ProjectManager/ListProjects", &req.base, NULL,
				     &resp, &st);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		rpc_client_close(c);
	}
	snprintf(msg, len, "%s", st.message);
	return rv;
}

static void test_server_certificate_verified(void **state)
{
	rpc_server *srv;
	char url[64], err[512], msg[1024];
	struct tls_files good = { NULL, NULL, file("ca.pem"), "localhost" };
	struct tls_files evil = { NULL, NULL, file("evil.pem"), "localhost" };
	struct tls_files wrong_name = { NULL, NULL, file("ca.pem"), "flowd.example" };
	struct tls_files none = { NULL, NULL, NULL, NULL };

	assert_int_equal(start(&srv, url, sizeof(url), NULL, err, sizeof(err)), FLOW_OK);
	assert_int_equal(call(url, &good, msg, sizeof(msg)), FLOW_OK);
	assert_int_not_equal(call(url, &evil, msg, sizeof(msg)), FLOW_OK);
	assert_int_not_equal(call(url, &wrong_name, msg, sizeof(msg)), FLOW_OK);
	assert_int_equal(call(url, &none, msg, sizeof(msg)), FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "FLOW_TLS_CA"));
	/* still serving */
	assert_int_equal(call(url, &good, msg, sizeof(msg)), FLOW_OK);
	rpc_server_stop(srv, 1000);
}

static void test_mutual_tls(void **state)
{
	rpc_server *srv;
	char url[64], err[512], msg[1024];
	struct tls_files anon = { NULL, NULL, file("ca.pem"), "localhost" };
	struct tls_files worker = { file("client.pem"), file("client.key"), file("ca.pem"),
				    "localhost" };

	assert_int_equal(start(&srv, url, sizeof(url), file("ca.pem"), err, sizeof(err)), FLOW_OK);
	assert_int_not_equal(call(url, &anon, msg, sizeof(msg)), FLOW_OK);
	assert_int_equal(call(url, &worker, msg, sizeof(msg)), FLOW_OK);
	rpc_server_stop(srv, 1000);
}

static void test_listener_needs_certificate(void **state)
{
	const char *urls[1] = { "tls+tcp://127.0.0.1:0" };
	struct rpc_server_opts o = {
		.urls = urls,
		.n_urls = 1,
		.n_threads = 1,
		.n_contexts = 4,
		.db_conninfo = db_url,
		.limits = { 65536, 4096, 10000 },
	};
	rpc_server *srv = NULL;
	char err[512];

	assert_int_equal(rpc_server_start(&o, &srv, err, sizeof(err)), FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(err, "--tls-cert"));
	o.tls.cert = file("server.pem");
	o.tls.key = file("missing.key");
	assert_int_equal(rpc_server_start(&o, &srv, err, sizeof(err)), FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(err, "missing.key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_certificate_verified),
		cmocka_unit_test(test_mutual_tls),
		cmocka_unit_test(test_listener_needs_certificate),
	};
	ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
