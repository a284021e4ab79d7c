#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

bool tls_url(const char *url)
{
	return url != NULL && strncmp(url, "tls+", 4) == 0;
}

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

void tls_files_from_env(struct tls_files *f)
{
	f->ca = env_or_null("FLOW_TLS_CA");
	f->cert = env_or_null("FLOW_TLS_CLIENT_CERT");
	f->key = env_or_null("FLOW_TLS_CLIENT_KEY");
	f->server_name = env_or_null("FLOW_TLS_SERVER_NAME");
}

static bool given(const char *s)
{
	return s != NULL && *s != '\0';
}

/* Reads a whole PEM file (NUL-terminated); NULL with err on failure. */
static char *read_pem(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) <= 0 || n > (1 << 20) ||
	    fseek(fp, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		snprintf(err, errlen, "cannot read the TLS %s file %s", what, path);
		free(buf);
		if (fp)
			fclose(fp);
		return NULL;
	}
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static int own_cert(nng_tls_config *cfg, const struct tls_files *f, char *err, size_t errlen)
{
	char *cert = read_pem(f->cert, "certificate", err, errlen), *key = NULL;
	int rv = FLOW_INVALID_ARGUMENT;

	if (cert != NULL && (key = read_pem(f->key, "key", err, errlen)) != NULL) {
		int nrv = nng_tls_config_own_cert(cfg, cert, key, NULL);

		if (nrv == 0)
			rv = FLOW_OK;
		else
			snprintf(err, errlen, "TLS certificate %s or key %s rejected: %s", f->cert,
				 f->key, nng_strerror(nrv));
		explicit_bzero(key, strlen(key));
	}
	free(cert);
	free(key);
	return rv;
}

static int check_files(bool server, const struct tls_files *f, char *err, size_t errlen)
{
	if (server && (!given(f->cert) || !given(f->key))) {
		snprintf(err, errlen, "a tls+tcp:// listener needs a certificate and a key "
				      "(--tls-cert and --tls-key)");
		return FLOW_INVALID_ARGUMENT;
	}
	if (!server && !given(f->ca)) {
		snprintf(err, errlen, "a tls+tcp:// URL needs the CA that signed flowd's "
				      "certificate (FLOW_TLS_CA), to verify it");
		return FLOW_INVALID_ARGUMENT;
	}
	if (given(f->cert) != given(f->key)) {
		snprintf(err, errlen, "a TLS certificate needs its key and a key its certificate");
		return FLOW_INVALID_ARGUMENT;
	}
	return FLOW_OK;
}

int tls_config_new(bool server, const struct tls_files *f, nng_tls_config **out, char *err,
		   size_t errlen)
{
	nng_tls_config *cfg;
	int rv, nrv;

	if ((rv = check_files(server, f, err, errlen)) != FLOW_OK)
		return rv;
	if ((nrv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT))) {
		snprintf(err, errlen, "TLS is not available: %s", nng_strerror(nrv));
		return FLOW_INVALID_ARGUMENT;
	}
	if (given(f->cert) && (rv = own_cert(cfg, f, err, errlen)) != FLOW_OK)
		goto fail;
	if (given(f->ca) && (nrv = nng_tls_config_ca_file(cfg, f->ca)) != 0) {
		snprintf(err, errlen, "TLS CA file %s rejected: %s", f->ca, nng_strerror(nrv));
		goto fail;
	}
	nng_tls_config_auth_mode(cfg, given(f->ca) ? NNG_TLS_AUTH_MODE_REQUIRED
						   : NNG_TLS_AUTH_MODE_NONE);
	if (!server && given(f->server_name) && nng_tls_config_server_name(cfg, f->server_name)) {
		snprintf(err, errlen, "invalid TLS server name %s", f->server_name);
		goto fail;
	}
	*out = cfg;
	return FLOW_OK;
fail:
	nng_tls_config_free(cfg);
	return FLOW_INVALID_ARGUMENT;
}
