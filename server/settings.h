/*
 * settings.h - the queue-engine settings handlers read.
 *
 * Filled once from the configuration at start (config.c) before any thread
 * runs, read-only afterwards. Tests may set them before starting a server.
 */
#ifndef FLOW_SETTINGS_H
#define FLOW_SETTINGS_H

#include <stdint.h>

struct flow_settings {
	int32_t processor_lease_s;  /* lease of a processor_get_next claim */
	int32_t retry_base_ms;      /* first retry delay; doubles per attempt */
	int32_t retry_max_ms;       /* cap on the retry delay */
	int32_t claim_max_wait_ms;  /* cap on a Claim's long-poll wait */
	int32_t claim_poll_ms;      /* parked claims re-check at least this often */
	int32_t rescue_interval_ms; /* how often expired leases are rescued */
	int32_t history_retention_s; /* finished items older than this are pruned */
};

extern struct flow_settings flow_settings;

#endif
