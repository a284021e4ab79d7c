/*
 * security.h - flowd's start-up security check.
 *
 * Runs every check, logs each result ("security.check"), and fails the
 * start when a critical one fails:
 *   - token signing key: FLOW_JWT_SECRET (environment only, never a flag) must pass
 *     jwt_secret_check(). In production a missing or weak secret is
 *     critical; in development flowd warns and uses a random per-process
 *     secret (tokens then do not survive a restart).
 *   - plaintext: in production a tcp:// listener (no TLS) is critical
 *     unless --allow-plaintext; in development a tcp:// listener off
 *     loopback is a warning.
 *   - tls: a tls+tcp:// listener needs --tls-cert and --tls-key.
 * The secret is kept for the token code in auth_config.key (auth/auth.h)
 * and scrubbed from the environment.
 */
#ifndef FLOW_SECURITY_H
#define FLOW_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* 0 when the start may go on; -1 after logging the critical failures, with
 * a one-line summary in err. */
int security_check(const struct config *cfg, char *err, size_t errlen);

/* Overwrites the value of environment variable name in place and removes
 * it: secrets read from the environment are not left in the process. */
void security_scrub_env(const char *name);

#endif
