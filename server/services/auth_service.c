/* The AuthService table. */
#include "flow/v1/auth.pb-c.h"
#include "services/handlers.h"

static const struct service_method methods[] = {
	{ "Login", h_login },
	{ "Refresh", h_refresh },
	{ "Logout", h_logout },
	{ "WhoAmI", h_who_am_i },
	{ "ChangePassword", h_change_password },
	{ "CreateUser", h_create_user },
	{ "UpdateUser", h_update_user },
	{ "ListUsers", h_list_users },
	{ "UnlockUser", h_unlock_user },
	{ "RevokeUserTokens", h_revoke_user_tokens },
	{ "CreateApiKey", h_create_api_key },
	{ "ListApiKeys", h_list_api_keys },
	{ "RevokeApiKey", h_revoke_api_key },
	{ "AddProjectMember", h_add_project_member },
	{ "RemoveProjectMember", h_remove_project_member },
	{ "ListProjectMembers", h_list_project_members },
	{ "ListAudit", h_list_audit },
};

const struct service_def auth_service = {
	&flow__v1__auth_service__descriptor,
	methods,
	sizeof(methods) / sizeof(methods[0]),
};
