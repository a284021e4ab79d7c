/*
 * cli_auth.h - flowctl's authentication and administration commands:
 * login, logout, whoami, user ..., key ..., member ..., audit.
 *
 * Commands of cli.c's table (cli_cmd.h). Passwords are read from the
 * terminal with echo off, or one line each from stdin with
 * --password-stdin; they are never arguments, never printed, and wiped
 * after use. login and logout handle the tokens themselves (session.h);
 * the other commands run auth_manager actions (actions.h), with a password
 * put on the built request directly, never into JSON.
 */
#ifndef FLOW_CLI_AUTH_H
#define FLOW_CLI_AUTH_H

#include "cli_cmd.h"

int cli_auth_login(struct cli_env *env, const struct cli_args *a);
int cli_auth_logout(struct cli_env *env, const struct cli_args *a);
int cli_auth_whoami(struct cli_env *env, const struct cli_args *a);

int cli_auth_user_list(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_create(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_disable(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_enable(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_role(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_unlock(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_revoke_tokens(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_set_password(struct cli_env *env, const struct cli_args *a);
int cli_auth_user_passwd(struct cli_env *env, const struct cli_args *a);

int cli_auth_key_create(struct cli_env *env, const struct cli_args *a);
int cli_auth_key_list(struct cli_env *env, const struct cli_args *a);
int cli_auth_key_revoke(struct cli_env *env, const struct cli_args *a);

int cli_auth_member_add(struct cli_env *env, const struct cli_args *a);
int cli_auth_member_remove(struct cli_env *env, const struct cli_args *a);
int cli_auth_member_list(struct cli_env *env, const struct cli_args *a);

int cli_auth_audit(struct cli_env *env, const struct cli_args *a);

#endif
