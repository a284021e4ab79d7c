#include "settings.h"

struct flow_settings flow_settings = {
	.processor_lease_s = 3600,
	.retry_base_ms = 1000,
	.retry_max_ms = 300000,
	.claim_max_wait_ms = 30000,
	.claim_poll_ms = 1000,
	.rescue_interval_ms = 1000,
	.history_retention_s = 7 * 86400,
};
