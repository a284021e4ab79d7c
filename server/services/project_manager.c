/* The ProjectManager service table. */
#include "flow/v1/project_manager.pb-c.h"
#include "services/handlers.h"

static const struct service_method methods[] = {
	{ "ListProjects", h_list_projects },
	{ "GetProject", h_get_project },
	{ "CreateProject", h_create_project },
	{ "UpdateProject", h_update_project },
	{ "DeleteProject", h_delete_project },
	{ "GetOverview", h_get_overview },
};

const struct service_def project_service = {
	&flow__v1__project_manager__descriptor,
	methods,
	sizeof(methods) / sizeof(methods[0]),
};
