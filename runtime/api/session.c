/*
 * session.c - signing in to the console: POST /api/session checks a
 * password and opens a session (cs_auth_login: a key of kind "session";
 * the token goes to the browser once and is kept only as its hash),
 * DELETE /api/session revokes it, GET /api/me says who the request is.
 * The password is never stored, logged or sent back.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api/api.h"

/* How long a console session lasts. */
#define SESSION_TTL_S (12 * 3600)

void api_session_new(api_req *q)
{
	char token[CS_AUTH_KEY_SIZE];
	const char *name, *pw;
	cs_principal who;
	cs_registry *r;
	json_t *b;
	int st;

	if (!api_csrf_ok(q, "sign-in") || !(b = api_json_body(q)))
		return;
	if (!q->auth_on) {
		api_error(q, 409, "this stack runs without accounts (cubeserve up --auth off): there is nothing to sign in to; the console uses the name you give");
		return;
	}
	name = json_string_value(json_object_get(b, "name"));
	pw = json_string_value(json_object_get(b, "password"));
	if (!name || !cs_auth_user_name_ok(name) || !pw || !*pw) {
		api_error(q, 400, "signing in needs fields 'name' (a user name) and 'password'");
		return;
	}
	if (!(r = api_reg(q)))
		return;
	st = cs_auth_login(r, name, pw, strlen(pw), SESSION_TTL_S, token, sizeof token, &who);
	/* the body held the password: wipe it now */
	sodium_memzero(q->body, q->body_len);
	json_object_del(b, "password");
	if (st != CS_OK) {
		char msg[sizeof r->errstr];

		/* the audit entry below replaces r's last error: keep it */
		snprintf(msg, sizeof msg, "%s", r->errstr);
		cs_auth_audit(r, name, "login", "console", "refused");
		api_error(q, api_http_for(st), "%s", msg);
		return;
	}
	cs_auth_audit(r, name, "login", "console", "ok");
	api_send(q, 201, json_pack("{s:s,s:s,s:s,s:i}", "token", token, "user", who.user, "role",
				   cs_role_name(who.role), "expires_in", SESSION_TTL_S));
	sodium_memzero(token, sizeof token);
}

void api_session_end(api_req *q)
{
	cs_registry *r;

	if (!api_csrf_ok(q, "sign-out"))
		return;
	if (!q->have_who) {
		api_error(q, 401, "not signed in");
		return;
	}
	if (!(r = api_reg(q)))
		return;
	if (cs_auth_key_revoke(r, q->who.key_id) != CS_OK) {
		api_reg_error(q);
		return;
	}
	cs_auth_audit(r, q->who.user, "logout", "console", "ok");
	api_send(q, 200, json_pack("{s:s,s:b}", "user", q->who.user, "signed_in", 0));
}

void api_me(api_req *q)
{
	api_send(q, 200, json_pack("{s:s,s:s,s:b,s:b}", "user", api_user(q), "role",
				   q->have_who ? cs_role_name(q->who.role) : "none",
				   "accounts", q->auth_on, "signed_in", q->have_who));
}
