/*
 * lua_json.c - converting between jansson values and Lua values.
 *
 * The rules are in lua_json.h. Lua -> JSON reads tables raw (no
 * metamethods), encodes tensors straight from their buffers, and on error
 * names the bad value by its path from the root, "value": object keys as
 * ".name" (or ["odd key"]), array and tensor positions as 1-based "[i]"
 * like the Lua indices the glue author wrote.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "core/utf8.h"
#include "glue/lua_json.h"
#include "glue/lua_tensor.h"


/* Longest path the error message spells out, in segments. */
#define MAX_PATH_SEGMENTS (CS_LUA_JSON_MAX_DEPTH + CS_MAX_DIMS + 2)
/* Longest key the error message quotes. */
#define MAX_QUOTED_KEY 40

/* One step of the path to the value being encoded; lives on the C stack. */
typedef struct path {
	const struct path *up;
	const char *key;     /* object key, or NULL for an index */
	size_t keylen;
	lua_Integer index;   /* 1-based array or tensor position */
} path;

typedef struct encoder {
	lua_State *L;
	char *err;
	size_t errlen;
	int array_mt;        /* stack index of the array metatable */
	int depth;           /* tables being encoded, outermost first */
	const void *open[CS_LUA_JSON_MAX_DEPTH];
} encoder;

/* ------------------------------------------------------------------ */
/* JSON -> Lua                                                         */

static void push_value(lua_State *L, const json_t *v, int mt)
{
	json_t *o = (json_t *)v; /* jansson's iterators take non-const */

	luaL_checkstack(L, 3, "JSON value nested too deep");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		size_t keylen;
		json_t *child;
		size_t n = json_object_size(v);

		lua_createtable(L, 0, n <= INT32_MAX ? (int)n : 0);
		json_object_keylen_foreach(o, key, keylen, child) {
			lua_pushlstring(L, key, keylen);
			push_value(L, child, mt);
			lua_rawset(L, -3);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);

		lua_createtable(L, n <= INT32_MAX ? (int)n : 0, 0);
		for (size_t i = 0; i < n; i++) {
			push_value(L, json_array_get(v, i), mt);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_pushvalue(L, mt);
		lua_setmetatable(L, -2);
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, (lua_Number)json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushlightuserdata(L, cs_lua_null);
		break;
	}
}

void cs_lua_push_json(lua_State *L, const json_t *v)
{
	int mt;

	if (!v) {
		lua_pushlightuserdata(L, cs_lua_null);
		return;
	}
	luaL_checkstack(L, 4, "JSON value");
	luaL_getmetatable(L, CS_LUA_ARRAY_MT);
	mt = lua_gettop(L);
	push_value(L, v, mt);
	lua_remove(L, mt);
}

/* ------------------------------------------------------------------ */
/* errors                                                              */

static bool is_identifier(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!(c == '_' || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* Appends a printf-style piece to err, keeping it NUL-terminated. */
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

static void append_key(char *buf, size_t len, size_t *off, const path *p)
{
	if (is_identifier(p->key, p->keylen)) {
		append(buf, len, off, ".%.*s", (int)p->keylen, p->key);
		return;
	}
	append(buf, len, off, "[\"");
	for (size_t i = 0; i < p->keylen && i < MAX_QUOTED_KEY; i++) {
		unsigned char c = (unsigned char)p->key[i];

		if (c == '"' || c == '\\')
			append(buf, len, off, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			append(buf, len, off, "\\x%02x", c);
		else
			append(buf, len, off, "%c", c);
	}
	append(buf, len, off, "%s\"]", p->keylen > MAX_QUOTED_KEY ? "..." : "");
}

/* Writes "<path>: <message>" into the encoder's err. Returns NULL. */
static json_t *fail(encoder *e, const path *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static json_t *fail(encoder *e, const path *p, const char *fmt, ...)
{
	const path *steps[MAX_PATH_SEGMENTS];
	size_t n = 0, off = 0;
	va_list ap;
	int w;

	if (!e->err || e->errlen == 0)
		return NULL;
	for (const path *q = p; q && q->up; q = q->up)
		if (n < MAX_PATH_SEGMENTS)
			steps[n++] = q;
	append(e->err, e->errlen, &off, "value");
	while (n-- > 0) {
		if (steps[n]->key)
			append_key(e->err, e->errlen, &off, steps[n]);
		else
			append(e->err, e->errlen, &off, "[%lld]",
			       (long long)steps[n]->index);
	}
	append(e->err, e->errlen, &off, ": ");
	if (off < e->errlen) {
		va_start(ap, fmt);
		w = vsnprintf(e->err + off, e->errlen - off, fmt, ap);
		va_end(ap);
		(void)w;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Lua -> JSON                                                         */


static json_t *oom(encoder *e, const path *p)
{
	return fail(e, p, "out of memory");
}

static json_t *encode_string(encoder *e, const path *p, const char *s,
			     size_t len)
{
	json_t *j;

	if (!cs_utf8_valid(s, len))
		return fail(e, p, "string is not valid UTF-8");
	j = json_stringn_nocheck(s, len);
	return j ? j : oom(e, p);
}

static json_t *encode_number(lua_State *L, int idx)
{
	lua_Number d;

	if (lua_isinteger(L, idx))
		return json_integer((json_int_t)lua_tointeger(L, idx));
	d = lua_tonumber(L, idx);
	return isfinite(d) ? json_real((double)d) : json_null();
}

/* Tensors: straight from the buffer. */

typedef struct tensor_walk {
	const cs_tensor *t;
	int64_t flat;
	const unsigned char *p, *end; /* BYTES: next element */
} tensor_walk;

static json_t *tensor_elem(encoder *e, const path *p, tensor_walk *w)
{
	const cs_tensor *t = w->t;
	int64_t i = w->flat++;
	const void *d = t->data;
	double f;

	switch (t->dtype) {
	case CS_BOOL:
		return json_boolean(((const unsigned char *)d)[i]);
	case CS_UINT8:
		return json_integer(((const uint8_t *)d)[i]);
	case CS_UINT16:
		return json_integer(((const uint16_t *)d)[i]);
	case CS_UINT32:
		return json_integer(((const uint32_t *)d)[i]);
	case CS_UINT64: {
		uint64_t u = ((const uint64_t *)d)[i];

		if (u <= (uint64_t)INT64_MAX)
			return json_integer((json_int_t)u);
		return json_real((double)u);
	}
	case CS_INT8:
		return json_integer(((const int8_t *)d)[i]);
	case CS_INT16:
		return json_integer(((const int16_t *)d)[i]);
	case CS_INT32:
		return json_integer(((const int32_t *)d)[i]);
	case CS_INT64:
		return json_integer(((const int64_t *)d)[i]);
	case CS_FP16:
		f = cs_fp16_to_fp32(((const uint16_t *)d)[i]);
		break;
	case CS_FP32:
		f = ((const float *)d)[i];
		break;
	case CS_FP64:
		f = ((const double *)d)[i];
		break;
	case CS_BYTES: {
		uint32_t n;

		if (!w->p || w->end - w->p < 4)
			return fail(e, p, "BYTES tensor data is malformed");
		n = (uint32_t)w->p[0] | (uint32_t)w->p[1] << 8 |
		    (uint32_t)w->p[2] << 16 | (uint32_t)w->p[3] << 24;
		if ((size_t)(w->end - w->p - 4) < n)
			return fail(e, p, "BYTES tensor data is malformed");
		w->p += 4 + (size_t)n;
		return encode_string(e, p, (const char *)w->p - n, n);
	}
	default:
		return fail(e, p, "cannot encode a tensor of dtype %s",
			    cs_dtype_name(t->dtype));
	}
	return isfinite(f) ? json_real(f) : json_null();
}

static json_t *tensor_level(encoder *e, const path *p, tensor_walk *w,
			    int32_t d)
{
	json_t *arr = json_array(), *child;
	path step = {p, NULL, 0, 0};

	if (!arr)
		return oom(e, p);
	for (int64_t j = 0; j < w->t->shape[d]; j++) {
		step.index = (lua_Integer)j + 1;
		if (d < w->t->ndim - 1)
			child = tensor_level(e, &step, w, d + 1);
		else
			child = tensor_elem(e, &step, w);
		if (!child) {
			if (e->err && !e->err[0])
				oom(e, &step);
			goto out_free_arr;
		}
		if (json_array_append_new(arr, child) < 0) {
			oom(e, &step);
			goto out_free_arr;
		}
	}
	return arr;

out_free_arr:
	json_decref(arr);
	return NULL;
}

static json_t *encode_tensor(encoder *e, const path *p, const cs_tensor *t)
{
	tensor_walk w = {t, 0, t->data, NULL};
	json_t *j;

	if (t->nbytes && !t->data)
		return fail(e, p, "tensor has no data");
	if (t->dtype != CS_BYTES &&
	    (uint64_t)cs_shape_numel(t->ndim, t->shape) * cs_dtype_size(t->dtype) >
		    t->nbytes)
		return fail(e, p, "tensor data is shorter than its shape");
	w.end = w.p ? w.p + t->nbytes : NULL;
	if (t->ndim == 0)
		j = tensor_elem(e, p, &w);
	else
		j = tensor_level(e, p, &w, 0);
	if (!j && e->err && !e->err[0])
		oom(e, p);
	return j;
}

static json_t *encode(encoder *e, const path *p, int idx);

/* Whether the table at idx encodes as an array; *n is its length. */
static bool is_array(encoder *e, int idx, lua_Unsigned *n)
{
	lua_State *L = e->L;
	lua_Unsigned count = 0;
	lua_Integer max = 0;

	if (lua_getmetatable(L, idx)) {
		bool marked = lua_rawequal(L, -1, e->array_mt);

		lua_pop(L, 1);
		if (marked) {
			*n = lua_rawlen(L, idx);
			return true;
		}
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_Integer k;

		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || (k = lua_tointeger(L, -1)) < 1) {
			lua_pop(L, 1);
			return false;
		}
		count++;
		if (k > max)
			max = k;
	}
	*n = count;
	return count >= 1 && (lua_Unsigned)max == count;
}

static json_t *encode_array(encoder *e, const path *p, int idx,
			    lua_Unsigned n)
{
	json_t *arr = json_array(), *child;
	path step = {p, NULL, 0, 0};

	if (!arr)
		return oom(e, p);
	for (lua_Unsigned i = 1; i <= n; i++) {
		step.index = (lua_Integer)i;
		lua_rawgeti(e->L, idx, (lua_Integer)i);
		child = encode(e, &step, lua_gettop(e->L));
		lua_pop(e->L, 1);
		if (!child)
			goto out_free_arr;
		if (json_array_append_new(arr, child) < 0) {
			oom(e, &step);
			goto out_free_arr;
		}
	}
	return arr;

out_free_arr:
	json_decref(arr);
	return NULL;
}

static json_t *encode_object(encoder *e, const path *p, int idx)
{
	lua_State *L = e->L;
	json_t *obj = json_object(), *child;
	char numkey[64];

	if (!obj)
		return oom(e, p);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		path step = {p, NULL, 0, 0};

		/* Never lua_tolstring() a number key: it would break lua_next. */
		switch (lua_type(L, -2)) {
		case LUA_TSTRING:
			step.key = lua_tolstring(L, -2, &step.keylen);
			if (!cs_utf8_valid(step.key, step.keylen)) {
				fail(e, &step, "key is not valid UTF-8");
				goto out_pop;
			}
			break;
		case LUA_TNUMBER:
			if (lua_isinteger(L, -2))
				snprintf(numkey, sizeof numkey, LUA_INTEGER_FMT,
					 (LUAI_UACINT)lua_tointeger(L, -2));
			else
				snprintf(numkey, sizeof numkey, LUA_NUMBER_FMT,
					 (LUAI_UACNUMBER)lua_tonumber(L, -2));
			step.key = numkey;
			step.keylen = strlen(numkey);
			break;
		default:
			fail(e, p, "cannot encode a table with a %s key",
			     luaL_typename(L, -2));
			goto out_pop;
		}
		child = encode(e, &step, lua_gettop(L));
		if (!child)
			goto out_pop;
		if (json_object_setn_new_nocheck(obj, step.key, step.keylen,
						 child) < 0) {
			oom(e, &step);
			goto out_pop;
		}
		lua_pop(L, 1);
	}
	return obj;

out_pop:
	lua_pop(L, 2);
	json_decref(obj);
	return NULL;
}

static json_t *encode_table(encoder *e, const path *p, int idx)
{
	const void *self = lua_topointer(e->L, idx);
	lua_Unsigned n;
	json_t *j;

	for (int i = 0; i < e->depth; i++)
		if (e->open[i] == self)
			return fail(e, p, "cycle: the table contains itself");
	if (e->depth >= CS_LUA_JSON_MAX_DEPTH)
		return fail(e, p, "nested deeper than %d levels",
			    CS_LUA_JSON_MAX_DEPTH);
	if (!lua_checkstack(e->L, 4))
		return fail(e, p, "out of Lua stack");
	e->open[e->depth++] = self;
	if (is_array(e, idx, &n))
		j = encode_array(e, p, idx, n);
	else
		j = encode_object(e, p, idx);
	e->depth--;
	return j;
}

/* Encodes the value at the absolute index idx. */
static json_t *encode(encoder *e, const path *p, int idx)
{
	lua_State *L = e->L;
	json_t *j;
	const char *s;
	size_t len;
	cs_tensor *t;

	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		j = json_null();
		break;
	case LUA_TBOOLEAN:
		j = json_boolean(lua_toboolean(L, idx));
		break;
	case LUA_TNUMBER:
		j = encode_number(L, idx);
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		return encode_string(e, p, s, len);
	case LUA_TTABLE:
		return encode_table(e, p, idx);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) != cs_lua_null)
			return fail(e, p, "cannot encode a light userdata");
		j = json_null();
		break;
	case LUA_TUSERDATA:
		t = cs_lua_tensor_test(L, idx);
		if (!t)
			return fail(e, p, "cannot encode a userdata");
		return encode_tensor(e, p, t);
	default:
		return fail(e, p, "cannot encode a %s", luaL_typename(L, idx));
	}
	return j ? j : oom(e, p);
}

json_t *cs_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
	encoder e = {L, err, errlen, 0, 0, {NULL}};
	path root = {NULL, NULL, 0, 0};
	json_t *j;

	if (err && errlen)
		err[0] = '\0';
	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 4)) {
		fail(&e, &root, "out of Lua stack");
		return NULL;
	}
	luaL_getmetatable(L, CS_LUA_ARRAY_MT);
	e.array_mt = lua_gettop(L);
	j = encode(&e, &root, idx);
	lua_pop(L, 1);
	return j;
}
