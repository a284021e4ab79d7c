/*
 * handlers.h - every RPC handler, by the file that implements it.
 * The service tables (project_manager.c, flow_manager.c) refer to these.
 * Signature and rules: see service.h.
 */
#ifndef FLOW_HANDLERS_H
#define FLOW_HANDLERS_H

#include "service.h"

#define HANDLER(name) int name(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)

/* projects.c */
HANDLER(h_list_projects);
HANDLER(h_get_project);
HANDLER(h_create_project);
HANDLER(h_update_project);
HANDLER(h_delete_project);
HANDLER(h_get_overview);

/* tickets.c */
HANDLER(h_create_ticket);
HANDLER(h_get_ticket);
HANDLER(h_list_tickets);
HANDLER(h_update_ticket);
HANDLER(h_delete_ticket);

/* tasks.c */
HANDLER(h_create_task);
HANDLER(h_list_tasks);
HANDLER(h_update_task);
HANDLER(h_delete_task);
HANDLER(h_reorder_tasks);

/* queues.c */
HANDLER(h_create_queue);
HANDLER(h_list_queues);
HANDLER(h_get_queue);
HANDLER(h_update_queue);
HANDLER(h_delete_queue);
HANDLER(h_enqueue_ticket);
HANDLER(h_enqueue_task);
HANDLER(h_dequeue_ticket);
HANDLER(h_dequeue_task);
HANDLER(h_get_queue_stats);
HANDLER(h_get_all_queue_stats);

/* processor.c */
HANDLER(h_get_next);
HANDLER(h_complete_item);
HANDLER(h_fail_item);
HANDLER(h_retry_items);
HANDLER(h_cancel_items);

/* workers.c (WorkerService) */
HANDLER(h_register_worker);
HANDLER(h_claim);
HANDLER(h_heartbeat);
HANDLER(h_worker_complete);
HANDLER(h_worker_fail);
HANDLER(h_report);
/* ... and FlowManager's ListWorkers (admins only) */
HANDLER(h_list_workers);

/* auth.c (AuthService) */
HANDLER(h_login);
HANDLER(h_refresh);
HANDLER(h_logout);
HANDLER(h_who_am_i);
HANDLER(h_change_password);
HANDLER(h_create_user);
HANDLER(h_update_user);
HANDLER(h_list_users);
HANDLER(h_unlock_user);
HANDLER(h_revoke_user_tokens);
HANDLER(h_create_api_key);
HANDLER(h_list_api_keys);
HANDLER(h_revoke_api_key);
HANDLER(h_add_project_member);
HANDLER(h_remove_project_member);
HANDLER(h_list_project_members);
HANDLER(h_list_audit);

#endif
