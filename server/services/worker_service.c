/* The WorkerService table. */
#include "flow/v1/worker.pb-c.h"
#include "services/handlers.h"

static const struct service_method methods[] = {
	{ "RegisterWorker", h_register_worker },
	{ "Claim", h_claim },
	{ "Heartbeat", h_heartbeat },
	{ "Complete", h_worker_complete },
	{ "Fail", h_worker_fail },
	{ "Report", h_report },
};

const struct service_def worker_service = {
	&flow__v1__worker_service__descriptor,
	methods,
	sizeof(methods) / sizeof(methods[0]),
};
