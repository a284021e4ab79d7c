/* WorkerService handlers (placeholders until the queue engine lands). */
#include "services/handlers.h"
#include "status.h"

#define NOT_YET(name)                                                                   \
	HANDLER(name)                                                                   \
	{                                                                               \
		(void)in;                                                               \
		(void)out;                                                              \
		return req_error(r, FLOW_UNIMPLEMENTED, "%s is not implemented yet", #name); \
	}

NOT_YET(h_register_worker)
NOT_YET(h_claim)
NOT_YET(h_heartbeat)
NOT_YET(h_worker_complete)
NOT_YET(h_worker_fail)
NOT_YET(h_report)
NOT_YET(h_retry_items)
NOT_YET(h_cancel_items)
