/* The FlowManager service table. */
#include "flow/v1/flow_manager.pb-c.h"
#include "services/handlers.h"

static const struct service_method methods[] = {
	{ "CreateTicket", h_create_ticket },
	{ "GetTicket", h_get_ticket },
	{ "ListTickets", h_list_tickets },
	{ "UpdateTicket", h_update_ticket },
	{ "DeleteTicket", h_delete_ticket },
	{ "CreateTask", h_create_task },
	{ "ListTasks", h_list_tasks },
	{ "UpdateTask", h_update_task },
	{ "DeleteTask", h_delete_task },
	{ "ReorderTasks", h_reorder_tasks },
	{ "CreateQueue", h_create_queue },
	{ "ListQueues", h_list_queues },
	{ "GetQueue", h_get_queue },
	{ "UpdateQueue", h_update_queue },
	{ "DeleteQueue", h_delete_queue },
	{ "EnqueueTicket", h_enqueue_ticket },
	{ "EnqueueTask", h_enqueue_task },
	{ "DequeueTicket", h_dequeue_ticket },
	{ "DequeueTask", h_dequeue_task },
	{ "GetNext", h_get_next },
	{ "CompleteItem", h_complete_item },
	{ "FailItem", h_fail_item },
	{ "RetryItems", h_retry_items },
	{ "CancelItems", h_cancel_items },
	{ "GetQueueStats", h_get_queue_stats },
	{ "GetAllQueueStats", h_get_all_queue_stats },
	{ "ListWorkers", h_list_workers },
};

const struct service_def flow_service = {
	&flow__v1__flow_manager__descriptor,
	methods,
	sizeof(methods) / sizeof(methods[0]),
};
