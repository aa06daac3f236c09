/*
 * http.c - what every API handler uses: JSON responses and errors, the
 * body, query parameters, names, the user and the write checks.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/names.h"
#include "core/status.h"

void api_send_h(api_req *q, int status, const char *headers, json_t *body)
{
	char *s = json_dumps(body, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	FCGX_FPrintF(q->fr->out,
		     "Status: %d %s\r\nContent-Type: application/json\r\n"
		     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
		     status, cs_http_reason(status), headers ? headers : "");
	if (s) {
		FCGX_PutStr(s, (int)strlen(s), q->fr->out);
		FCGX_PutS("\n", q->fr->out);
	}
	free(s);
	json_decref(body);
	q->sent = 1;
}

void api_send(api_req *q, int status, json_t *body)
{
	api_send_h(q, status, NULL, body);
}

void api_error(api_req *q, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	api_send(q, status, json_pack("{s:s,s:i}", "error", msg, "status", status));
}

int api_http_for(int status)
{
	switch (status) {
	case CS_REG_EXISTS:
	case CS_REG_DEPLOYED:
		return 409;
	case CS_REG_SCHEMA:
		return 500;
	case CS_ENOTFOUND:
		return 404;
	case CS_EINVAL:
		return 400;
	case CS_ETOOLARGE:
		return 413;
	case CS_EUNAVAILABLE:
		return 503;
	case CS_AUTH_DENIED:
		return 401;
	case CS_AUTH_FORBIDDEN:
		return 403;
	case CS_AUTH_LOCKED:
		return 429;
	default:
		return cs_status_http(status);
	}
}

void api_reg_error(api_req *q)
{
	cs_registry *r = q->ctx->reg;

	if (!r) {
		api_error(q, 503, "the registry at %s cannot be reached", q->ctx->registry_url);
		return;
	}
	if (r->err == CS_EUNAVAILABLE) {
		char msg[sizeof r->errstr];

		/* reconnect on the next request */
		snprintf(msg, sizeof msg, "%s", r->errstr[0] ? r->errstr : "the registry cannot be reached");
		cs_registry_close(r);
		q->ctx->reg = NULL;
		api_error(q, 503, "%s", msg);
		return;
	}
	api_error(q, api_http_for(r->err), "%s", r->errstr[0] ? r->errstr : cs_strerror(r->err));
}

cs_registry *api_reg(api_req *q)
{
	char err[CS_ERROR_SIZE * 2];

	if (q->ctx->reg)
		return q->ctx->reg;
	if (cs_registry_open(q->ctx->registry_url, q->ctx->prefix, 2000, &q->ctx->reg, err,
			     sizeof err) != CS_OK) {
		q->ctx->reg = NULL;
		api_error(q, 503, "%s", err);
		return NULL;
	}
	if (cs_registry_check_schema(q->ctx->reg, 0) == CS_REG_SCHEMA) {
		api_error(q, 500, "%s", q->ctx->reg->errstr);
		cs_registry_close(q->ctx->reg);
		q->ctx->reg = NULL;
		return NULL;
	}
	return q->ctx->reg;
}

json_t *api_json_body(api_req *q)
{
	json_t *j;
	json_error_t e;

	if (q->json)
		return q->json;
	if (strncmp(q->ctype, "application/json", 16) != 0) {
		api_error(q, 415, "this endpoint takes a JSON body (Content-Type: application/json), got '%s'",
			  q->ctype[0] ? q->ctype : "no Content-Type");
		return NULL;
	}
	if (!q->body || q->body_len == 0) {
		api_error(q, 400, "the request body is empty; this endpoint takes a JSON object");
		return NULL;
	}
	j = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		api_error(q, 400, "malformed JSON at line %d column %d: %s", e.line, e.column, e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_error(q, 400, "the body must be a JSON object");
		return NULL;
	}
	q->json = j; /* freed when the request ends */
	return j;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out ('+' is a space in a query). */
static void decode(const char *s, size_t n, char *out, size_t len, int plus)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (plus && s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

const char *api_query(const api_req *q, const char *key, int nth, char *buf,
		      size_t len)
{
	const char *s = q->query;
	size_t kl = strlen(key);

	while (s && *s) {
		const char *amp = strchr(s, '&');
		size_t l = amp ? (size_t)(amp - s) : strlen(s);

		if (l >= kl && strncmp(s, key, kl) == 0 && (l == kl || s[kl] == '=')) {
			if (nth-- == 0) {
				if (l == kl)
					buf[0] = '\0';
				else
					decode(s + kl + 1, l - kl - 1, buf, len, 1);
				return buf;
			}
		}
		s = amp ? amp + 1 : NULL;
	}
	return NULL;
}

int api_name_ok(const char *s)
{
	return s && cs_name_valid(s);
}

int api_version_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 64)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

int api_identify(api_req *q)
{
	const char *h = FCGX_GetParam("HTTP_AUTHORIZATION", q->fr->envp);
	cs_registry *r;
	size_t n;
	int rc;

	q->auth_on = 0;
	q->have_who = 0;
	q->token[0] = '\0';
	if (!(r = api_reg(q)))
		return -1;
	rc = cs_auth_mode(r, &q->auth_on);
	if (rc != CS_OK && r->err == CS_EUNAVAILABLE) {
		/* a connection Redis dropped (a restart): one new one, at once */
		cs_registry_close(r);
		q->ctx->reg = NULL;
		if (!(r = api_reg(q)))
			return -1;
		rc = cs_auth_mode(r, &q->auth_on);
	}
	if (rc != CS_OK) {
		api_reg_error(q);
		return -1;
	}
	if (!h || !*h)
		return 0;
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		api_error(q, 401, "malformed credentials: send 'Authorization: Bearer TOKEN'");
		return -1;
	}
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	if (n == 0 || n > CS_AUTH_KEY_MAX) {
		api_error(q, 401, "malformed credentials: the token is empty or too long");
		return -1;
	}
	if (!q->auth_on)
		return 0; /* the stack has no accounts on: nothing to check it against */
	if (cs_auth_key_verify(r, h, &q->who) != CS_OK) {
		api_reg_error(q);
		return -1;
	}
	memcpy(q->token, h, n + 1);
	q->have_who = 1;
	return 0;
}

const char *api_user(api_req *q)
{
	const char *u;
	size_t n;

	if (q->have_who)
		return q->who.user;
	if (q->auth_on)
		return "anonymous";
	u = FCGX_GetParam("HTTP_X_CUBESERVE_USER", q->fr->envp);
	n = u ? strlen(u) : 0;
	if (n == 0 || n > 64 ||
	    strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") != n)
		return "anonymous";
	return u;
}

int api_csrf_ok(api_req *q, const char *action)
{
	const char *csrf = FCGX_GetParam("HTTP_X_CUBESERVE_CSRF", q->fr->envp);

	if (!csrf || strcmp(csrf, "1") != 0) {
		api_error(q, 403, "%s refused: a write needs the header 'X-Cubeserve-Csrf: 1' (a cross-site form cannot send it)",
			  action);
		return 0;
	}
	return 1;
}

int api_write_allowed(api_req *q, const char *action, const char *model)
{
	cs_registry *r;

	if (!api_csrf_ok(q, action))
		return 0;
	if (!q->auth_on)
		return 1;
	if (!q->have_who) {
		api_error(q, 401, "%s refused: sign in first (this stack has accounts: Authorization: Bearer TOKEN from POST /api/session)",
			  action);
		return 0;
	}
	if (!(r = api_reg(q)))
		return 0;
	if (cs_auth_allow(r, &q->who, action, model) != CS_OK) {
		api_reg_error(q);
		return 0;
	}
	return 1;
}

int api_can_read(api_req *q, const char *name)
{
	char owner[80] = "";
	int pub = 1;
	cs_registry *r = q->ctx->reg;

	if (!q->auth_on || !r)
		return 1;
	if (cs_auth_access(r, name, &pub, owner, sizeof owner) != CS_OK)
		return 0;
	if (pub)
		return 1;
	return q->have_who && (q->who.role == CS_ROLE_ADMIN || q->who.role == CS_ROLE_OPERATOR ||
			       strcmp(owner, q->who.user) == 0);
}
