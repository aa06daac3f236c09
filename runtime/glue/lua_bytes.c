/*
 * lua_bytes.c - base64, uploads, the request's input bytes and model files
 * in the glue (see lua_bytes.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#include "glue/lua_util.h"
#include "glue/lua_bytes.h"
#include "core/multipart.h"
#include "core/request.h"

#define REG_MAX_FIELD "cubeserve.bytes.max_field"
#define MAX_MODEL_FILE_NAME 128

/* ------------------------------------------------------------ base64 */

/* The value of a base64 character (standard or URL alphabet), or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * cs.base64_decode(s) -> bytes. Accepts the standard and the URL-safe
 * alphabet, with or without padding, whitespace between, and a data URL
 * prefix ("data:image/png;base64,"), as a browser's FileReader gives it.
 */
static int l_base64_decode(lua_State *L)
{
	size_t len, i = 0, n = 0, pad = 0, chars = 0;
	const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
	unsigned char *out;
	unsigned int acc = 0;
	int bits = 0;
	luaL_Buffer b;

	if (len > 5 && memcmp(s, "data:", 5) == 0) {
		const unsigned char *comma = memchr(s, ',', len);

		if (!comma || comma - s < 12 || memcmp(comma - 7, ";base64", 7) != 0)
			return cs_lua_raise(L, CS_EINVAL, "cs.base64_decode: a data URL without ';base64,'");
		i = (size_t)(comma - s) + 1;
	}
	out = (unsigned char *)luaL_buffinitsize(L, &b, (len - i) / 4 * 3 + 3);
	for (; i < len; i++) {
		unsigned char c = s[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad)
			return cs_lua_raise(L, CS_EINVAL,
					     "cs.base64_decode: not base64: %s at offset %I",
					     pad ? "data after the '=' padding" : "a character outside the alphabet",
					     (lua_Integer)i);
		chars++;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits >= 6 || (bits && (acc & ((1u << bits) - 1))))
		return cs_lua_raise(L, CS_EINVAL, "cs.base64_decode: not base64: the data ends in the middle of a byte (truncated?)");
	if (pad && (chars + pad) % 4 != 0)
		return cs_lua_raise(L, CS_EINVAL, "cs.base64_decode: not base64: wrong '=' padding");
	luaL_pushresultsize(&b, n);
	return 1;
}

/* cs.base64_encode(s) -> the standard alphabet, padded. */
static int l_base64_encode(lua_State *L)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len, n = 0;
	const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, (len + 2) / 3 * 4);

	for (size_t i = 0; i < len; i += 3) {
		unsigned int v = (unsigned int)s[i] << 16;

		if (i + 1 < len)
			v |= (unsigned int)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		out[n++] = abc[(v >> 18) & 63];
		out[n++] = abc[(v >> 12) & 63];
		out[n++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		out[n++] = i + 2 < len ? abc[v & 63] : '=';
	}
	luaL_pushresultsize(&b, n);
	return 1;
}

/* ------------------------------------------------------------ uploads */

typedef struct upload_ctx {
	lua_State *L;
	int files, form;  /* stack indices of the tables */
	lua_Integer n;
	size_t max_field;
	char *err;        /* a field over the limit */
	size_t errlen;
} upload_ctx;

static cs_status add_part(void *ud, const cs_form_field *f)
{
	upload_ctx *c = ud;
	lua_State *L = c->L;

	if (!f->is_file) {
		if (c->max_field && f->len > c->max_field) {
			snprintf(c->err, c->errlen,
				 "multipart field '%s' has %zu bytes, over the limit of %zu for a form field (limits.max_string_bytes; send large data as a file)",
				 f->name, f->len, c->max_field);
			return CS_ETOOLARGE;
		}
		lua_pushlstring(L, f->data, f->len);
		lua_setfield(L, c->form, f->name);
		return CS_OK;
	}
	lua_createtable(L, 0, 4);
	lua_pushstring(L, f->name);
	lua_setfield(L, -2, "name");
	lua_pushstring(L, f->filename);
	lua_setfield(L, -2, "filename");
	lua_pushstring(L, f->content_type[0] ? f->content_type : "application/octet-stream");
	lua_setfield(L, -2, "content_type");
	lua_pushlstring(L, f->data, f->len);
	lua_setfield(L, -2, "data");
	if (lua_getfield(L, c->files, f->name) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_setfield(L, c->files, f->name);
	} else {
		lua_pop(L, 1);
	}
	lua_rawseti(L, c->files, ++c->n);
	return CS_OK;
}

static int is_multipart(const char *ct)
{
	return ct && strncasecmp(ct, "multipart/form-data", 19) == 0;
}

/* Pushes req.files and req.form (two tables). */
static void push_uploads(lua_State *L, const cs_request *req)
{
	char err[512];
	upload_ctx c;
	cs_status rc;

	lua_newtable(L);
	lua_newtable(L);
	if (req->file_name) { /* api/file: the one part the envelope found */
		lua_createtable(L, 0, 4);
		lua_pushstring(L, req->file_name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, req->file_filename ? req->file_filename : "");
		lua_setfield(L, -2, "filename");
		lua_pushstring(L, req->file_type ? req->file_type : "application/octet-stream");
		lua_setfield(L, -2, "content_type");
		lua_pushlstring(L, req->file_data ? req->file_data : "", req->file_len);
		lua_setfield(L, -2, "data");
		lua_pushvalue(L, -1);
		lua_setfield(L, -4, req->file_name);
		lua_rawseti(L, -3, 1);
		return;
	}
	if (!is_multipart(req->content_type) || !req->body)
		return;
	lua_getfield(L, LUA_REGISTRYINDEX, REG_MAX_FIELD);
	c.max_field = (size_t)lua_tointeger(L, -1);
	lua_pop(L, 1);
	c.L = L;
	c.files = lua_absindex(L, -2);
	c.form = lua_absindex(L, -1);
	c.n = 0;
	c.err = err;
	c.errlen = sizeof err;
	rc = cs_form_each(req->content_type, req->body, req->body_len, add_part, &c,
			  err, sizeof err);
	if (rc)
		cs_lua_raise(L, rc, "%s", err);
}

int cs_lua_request_uploads(lua_State *L, const cs_request *req, const char *key)
{
	if (strcmp(key, "files") != 0 && strcmp(key, "form") != 0 &&
	    strcmp(key, "file") != 0)
		return 0;
	push_uploads(L, req);
	if (strcmp(key, "form") == 0) {
		lua_remove(L, -2);
	} else {
		lua_pop(L, 1);
		if (strcmp(key, "file") == 0) {
			lua_rawgeti(L, -1, 1);
			lua_remove(L, -2);
		}
	}
	return 1;
}

/* ------------------------------------------------------------ input_bytes */

static int is_json_ct(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/*
 * cs.input_bytes(req [, field]) -> bytes, content_type, filename: the one
 * input of a request, however it was sent: the file in the multipart field
 * `field` (default: the first file), the base64 string in the JSON field
 * `field` (default "image"), or else the raw body (image/jpeg, image/png,
 * application/octet-stream, ...).
 */
static int l_input_bytes(lua_State *L)
{
	const char *field = luaL_optstring(L, 2, NULL);
	const char *ct;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	lua_getfield(L, 1, "content_type"); /* 3 */
	ct = lua_tostring(L, 3);
	ct = ct ? ct : "";
	if (is_multipart(ct)) {
		lua_getfield(L, 1, "files"); /* 4 */
		if (!lua_istable(L, 4))
			return luaL_error(L, "cs.input_bytes: req.files is not a table");
		if (field)
			lua_getfield(L, 4, field);
		else
			lua_rawgeti(L, 4, 1);
		if (!lua_istable(L, -1)) {
			if (field) {
				lua_getfield(L, 1, "form");
				if (lua_istable(L, -1) && lua_getfield(L, -1, field) == LUA_TSTRING) {
					lua_pushliteral(L, "application/octet-stream");
					lua_pushliteral(L, "");
					return 3;
				}
			}
			return cs_lua_raise(L, CS_EINVAL, field ?
					     "the multipart body has no file in the field '%s'" :
					     "the multipart body has no file (a part with a filename)%s",
					     field ? field : "");
		}
		lua_getfield(L, -1, "data");
		lua_getfield(L, -2, "content_type");
		lua_getfield(L, -3, "filename");
		return 3;
	}
	if (is_json_ct(ct)) {
		const char *f = field ? field : "image";

		lua_getfield(L, 1, "json"); /* 4: raises a 400 on a bad body */
		if (!lua_istable(L, 4) || lua_getfield(L, 4, f) != LUA_TSTRING)
			return cs_lua_raise(L, CS_EINVAL,
					     "the JSON body has no string field '%s' (the image, base64-encoded)", f);
		lua_pushcfunction(L, l_base64_decode);
		lua_insert(L, -2);
		lua_call(L, 1, 1);
		lua_pushliteral(L, "application/octet-stream");
		lua_pushliteral(L, "");
		return 3;
	}
	lua_getfield(L, 1, "body");
	if (lua_rawlen(L, -1) == 0)
		return cs_lua_raise(L, CS_EINVAL,
				     "the request has no input: send the file as the body (e.g. Content-Type image/jpeg), as a multipart/form-data file, or base64 in the JSON field '%s'",
				     field ? field : "image");
	lua_pushstring(L, ct[0] ? ct : "application/octet-stream");
	lua_pushliteral(L, "");
	return 3;
}

/* ------------------------------------------------------------ model_file */

/*
 * cs.model_file(name) -> the contents of a file in the manifest's
 * directory (labels, vocabularies). Only plain names: [A-Za-z0-9_.-], no
 * leading dot, no directories.
 */
static int l_model_file(lua_State *L)
{
	const char *dir = lua_tostring(L, lua_upvalueindex(1));
	size_t n;
	const char *name = luaL_checklstring(L, 1, &n);
	char path[4096];
	struct stat st;
	char *buf;
	FILE *f;
	size_t got;

	if (n == 0 || n > MAX_MODEL_FILE_NAME || name[0] == '.')
		return luaL_error(L, "cs.model_file: bad file name '%s'", name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return luaL_error(L, "cs.model_file: '%s' is not a plain file name ([A-Za-z0-9_.-], beside the manifest)",
					  name);
	}
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return luaL_error(L, "cs.model_file: path too long");
	errno = 0;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return luaL_error(L, "cs.model_file: cannot read %s: %s", path,
				  errno ? strerror(errno) : "not a regular file");
	/* the buffer first (it may raise), then the file: nothing leaks */
	buf = lua_newuserdatauv(L, (size_t)st.st_size + 1, 0);
	f = fopen(path, "rb");
	if (!f)
		return luaL_error(L, "cs.model_file: cannot open %s: %s", path, strerror(errno));
	got = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size)
		return luaL_error(L, "cs.model_file: cannot read %s (short read)", path);
	lua_pushlstring(L, buf, got);
	return 1;
}

void cs_lua_bytes_open(lua_State *L, const char *model_dir, size_t max_field_bytes)
{
	lua_pushinteger(L, (lua_Integer)max_field_bytes);
	lua_setfield(L, LUA_REGISTRYINDEX, REG_MAX_FIELD);
	lua_getglobal(L, "cs");
	lua_pushcfunction(L, l_base64_decode);
	lua_setfield(L, -2, "base64_decode");
	lua_pushcfunction(L, l_base64_encode);
	lua_setfield(L, -2, "base64_encode");
	lua_pushcfunction(L, l_input_bytes);
	lua_setfield(L, -2, "input_bytes");
	lua_pushstring(L, model_dir ? model_dir : ".");
	lua_pushcclosure(L, l_model_file, 1);
	lua_setfield(L, -2, "model_file");
	lua_pop(L, 1);
}
