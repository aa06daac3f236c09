/*
 * lua_tensor.c - the tensor type seen from Lua (the glue's `tensor`).
 *
 * A tensor is one full userdata: a cs_tensor header, padding, then the data
 * aligned to 16 bytes. Values enter from Lua tables (flat or nested), raw
 * little-endian strings or C buffers, and leave as Lua values, tables or
 * strings. Errors caused by data are CS_EINVAL (HTTP 400) through
 * cs_lua_raise(); misuse of the API is an ordinary Lua error.
 *
 * The data layout is the host's; like the rest of cubeserve this assumes a
 * little-endian host.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "glue/lua_tensor.h"
#include "glue/lua_util.h"

#define DATA_ALIGN 16
/* Bytes of a userdata besides the data: the header and the alignment slack. */
#define UD_OVERHEAD (sizeof(cs_tensor) + DATA_ALIGN - 1)
/* Largest data block we try to allocate (Lua refuses larger ones anyway). */
#define MAX_DATA_BYTES ((size_t)PTRDIFF_MAX - UD_OVERHEAD)
/* Enough for "[" + 8 x "-9223372036854775808," + "]". */
#define SHAPE_BUF 200

/* How an element's value is read and compared. */
enum kind { K_INT, K_UINT, K_FLOAT, K_BYTES };

/* One element read out of a tensor. */
typedef struct scalar {
	enum kind kind;
	int64_t i;  /* K_INT: BOOL, INT*, UINT8..UINT32 */
	uint64_t u; /* K_UINT: UINT64 */
	double d;   /* K_FLOAT: FP16, FP32, FP64 */
} scalar;

/* Outcome of storing one value into an element. */
enum put { PUT_OK, PUT_TYPE, PUT_RANGE, PUT_FRACTION };

/* Sequential reader of a BYTES buffer. */
typedef struct bytes_cursor {
	const unsigned char *p, *end;
} bytes_cursor;

/* ------------------------------------------------------------------ */
/* dtypes and elements                                                 */

static enum kind kind_of(cs_dtype dt)
{
	switch (dt) {
	case CS_UINT64:
		return K_UINT;
	case CS_FP16:
	case CS_FP32:
	case CS_FP64:
		return K_FLOAT;
	case CS_BYTES:
		return K_BYTES;
	default:
		return K_INT;
	}
}

static bool is_numeric(cs_dtype dt)
{
	return dt != CS_BOOL && dt != CS_BYTES && dt != CS_DTYPE_INVALID;
}

static int64_t numel_of(const cs_tensor *t)
{
	return cs_shape_numel(t->ndim, t->shape);
}

static scalar read_elem(const cs_tensor *t, int64_t i)
{
	const unsigned char *p = t->data;
	scalar s = {K_INT, 0, 0, 0.0};

	switch (t->dtype) {
	case CS_BOOL:
		s.i = p[i] != 0;
		break;
	case CS_UINT8:
		s.i = p[i];
		break;
	case CS_UINT16:
		s.i = ((const uint16_t *)t->data)[i];
		break;
	case CS_UINT32:
		s.i = ((const uint32_t *)t->data)[i];
		break;
	case CS_UINT64:
		s.kind = K_UINT;
		s.u = ((const uint64_t *)t->data)[i];
		break;
	case CS_INT8:
		s.i = ((const int8_t *)t->data)[i];
		break;
	case CS_INT16:
		s.i = ((const int16_t *)t->data)[i];
		break;
	case CS_INT32:
		s.i = ((const int32_t *)t->data)[i];
		break;
	case CS_INT64:
		s.i = ((const int64_t *)t->data)[i];
		break;
	case CS_FP16:
		s.kind = K_FLOAT;
		s.d = cs_fp16_to_fp32(((const uint16_t *)t->data)[i]);
		break;
	case CS_FP32:
		s.kind = K_FLOAT;
		s.d = ((const float *)t->data)[i];
		break;
	case CS_FP64:
		s.kind = K_FLOAT;
		s.d = ((const double *)t->data)[i];
		break;
	default:
		s.kind = K_BYTES;
		break;
	}
	return s;
}

static double scalar_double(scalar s)
{
	switch (s.kind) {
	case K_INT:
		return (double)s.i;
	case K_UINT:
		return (double)s.u;
	default:
		return s.d;
	}
}

static void push_scalar(lua_State *L, scalar s)
{
	switch (s.kind) {
	case K_INT:
		lua_pushinteger(L, (lua_Integer)s.i);
		break;
	case K_UINT:
		if (s.u <= (uint64_t)LUA_MAXINTEGER)
			lua_pushinteger(L, (lua_Integer)s.u);
		else
			lua_pushnumber(L, (lua_Number)s.u);
		break;
	default:
		lua_pushnumber(L, (lua_Number)s.d);
		break;
	}
}

/* Stores a signed integer into element dst of dtype dt. */
static enum put store_i64(cs_dtype dt, unsigned char *dst, int64_t v)
{
	switch (dt) {
	case CS_BOOL:
		if (v != 0 && v != 1)
			return PUT_RANGE;
		*dst = (unsigned char)v;
		return PUT_OK;
	case CS_UINT8:
		if (v < 0 || v > UINT8_MAX)
			return PUT_RANGE;
		*dst = (uint8_t)v;
		return PUT_OK;
	case CS_UINT16:
		if (v < 0 || v > UINT16_MAX)
			return PUT_RANGE;
		*(uint16_t *)dst = (uint16_t)v;
		return PUT_OK;
	case CS_UINT32:
		if (v < 0 || v > (int64_t)UINT32_MAX)
			return PUT_RANGE;
		*(uint32_t *)dst = (uint32_t)v;
		return PUT_OK;
	case CS_UINT64:
		if (v < 0)
			return PUT_RANGE;
		*(uint64_t *)dst = (uint64_t)v;
		return PUT_OK;
	case CS_INT8:
		if (v < INT8_MIN || v > INT8_MAX)
			return PUT_RANGE;
		*(int8_t *)dst = (int8_t)v;
		return PUT_OK;
	case CS_INT16:
		if (v < INT16_MIN || v > INT16_MAX)
			return PUT_RANGE;
		*(int16_t *)dst = (int16_t)v;
		return PUT_OK;
	case CS_INT32:
		if (v < INT32_MIN || v > INT32_MAX)
			return PUT_RANGE;
		*(int32_t *)dst = (int32_t)v;
		return PUT_OK;
	case CS_INT64:
		*(int64_t *)dst = v;
		return PUT_OK;
	case CS_FP16:
		if (v <= -65520 || v >= 65520)
			return PUT_RANGE;
		*(uint16_t *)dst = cs_fp32_to_fp16((float)v);
		return PUT_OK;
	case CS_FP32:
		*(float *)dst = (float)v;
		return PUT_OK;
	case CS_FP64:
		*(double *)dst = (double)v;
		return PUT_OK;
	default:
		return PUT_TYPE;
	}
}

static enum put store_u64(cs_dtype dt, unsigned char *dst, uint64_t v)
{
	if (v <= (uint64_t)INT64_MAX)
		return store_i64(dt, dst, (int64_t)v);
	switch (dt) {
	case CS_UINT64:
		*(uint64_t *)dst = v;
		return PUT_OK;
	case CS_FP32:
		*(float *)dst = (float)v;
		return PUT_OK;
	case CS_FP64:
		*(double *)dst = (double)v;
		return PUT_OK;
	default:
		return PUT_RANGE;
	}
}

/*
 * Stores a float. Integer dtypes take only integral values unless truncate
 * is set (astype), and never values outside their range; FP16 and FP32
 * refuse finite values that would become infinite.
 */
static enum put store_f64(cs_dtype dt, unsigned char *dst, double d,
			  bool truncate)
{
	switch (dt) {
	case CS_FP16:
		if (isfinite(d) && fabs(d) >= 65520.0)
			return PUT_RANGE;
		*(uint16_t *)dst = cs_fp32_to_fp16((float)d);
		return PUT_OK;
	case CS_FP32:
		if (isfinite(d) && fabs(d) > FLT_MAX)
			return PUT_RANGE;
		*(float *)dst = (float)d;
		return PUT_OK;
	case CS_FP64:
		*(double *)dst = d;
		return PUT_OK;
	case CS_BYTES:
	case CS_DTYPE_INVALID:
		return PUT_TYPE;
	default:
		break;
	}
	if (isnan(d))
		return PUT_FRACTION;
	if (truncate)
		d = trunc(d);
	else if (d != trunc(d))
		return PUT_FRACTION;
	if (d >= 0) {
		if (d >= 18446744073709551616.0) /* 2^64 */
			return PUT_RANGE;
		return store_u64(dt, dst, (uint64_t)d);
	}
	if (d < -9223372036854775808.0) /* -2^63 */
		return PUT_RANGE;
	return store_i64(dt, dst, (int64_t)d);
}

static enum put store_scalar(cs_dtype dt, unsigned char *dst, scalar s)
{
	switch (s.kind) {
	case K_INT:
		return store_i64(dt, dst, s.i);
	case K_UINT:
		return store_u64(dt, dst, s.u);
	case K_FLOAT:
		return store_f64(dt, dst, s.d, true);
	default:
		return PUT_TYPE;
	}
}

/* Stores the Lua value at idx into element dst of a fixed-size dtype. */
static enum put store_lua(lua_State *L, int idx, cs_dtype dt,
			  unsigned char *dst)
{
	switch (lua_type(L, idx)) {
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return store_i64(dt, dst, (int64_t)lua_tointeger(L, idx));
		return store_f64(dt, dst, (double)lua_tonumber(L, idx), false);
	case LUA_TBOOLEAN:
		if (dt != CS_BOOL)
			return PUT_TYPE;
		*dst = (unsigned char)lua_toboolean(L, idx);
		return PUT_OK;
	default:
		return PUT_TYPE;
	}
}

static const char *expected_for(cs_dtype dt)
{
	switch (dt) {
	case CS_BOOL:
		return "a boolean";
	case CS_BYTES:
		return "a string";
	default:
		return "a number";
	}
}

/*
 * Raises the CS_EINVAL error for a value (at idx) that store_lua() or the
 * BYTES path refused; where names it ("values[2][3]").
 */
static int raise_put(lua_State *L, const char *fn, const char *where,
		     enum put why, int idx, cs_dtype dt)
{
	const char *name = cs_dtype_name(dt);
	const char *v;

	idx = lua_absindex(L, idx);
	if (why == PUT_TYPE)
		return cs_lua_raise(L, CS_EINVAL, "%s: %s: expected %s for %s, got %s",
				     fn, where, expected_for(dt), name,
				     luaL_typename(L, idx));
	v = luaL_tolstring(L, idx, NULL);
	if (dt == CS_BOOL)
		return cs_lua_raise(L, CS_EINVAL,
				     "%s: %s: %s is not a boolean, 0 or 1 (BOOL)",
				     fn, where, v);
	if (why == PUT_FRACTION)
		return cs_lua_raise(L, CS_EINVAL, "%s: %s: %s is not an integer (%s)",
				     fn, where, v, name);
	return cs_lua_raise(L, CS_EINVAL, "%s: %s: %s is out of range for %s",
			     fn, where, v, name);
}

/* ------------------------------------------------------------------ */
/* BYTES buffers                                                       */

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void bytes_open(bytes_cursor *c, const cs_tensor *t)
{
	c->p = t->data;
	c->end = c->p ? c->p + t->nbytes : NULL;
}

/* The next element; false when the buffer is malformed. */
static bool bytes_next(bytes_cursor *c, const char **s, size_t *len)
{
	uint32_t n;

	if (!c->p || c->end - c->p < 4)
		return false;
	n = get_le32(c->p);
	if ((size_t)(c->end - c->p - 4) < n)
		return false;
	*s = (const char *)c->p + 4;
	*len = n;
	c->p += 4 + (size_t)n;
	return true;
}

static int raise_malformed(lua_State *L, const char *fn, int64_t i)
{
	return cs_lua_raise(L, CS_EINVAL,
			     "%s: BYTES data is malformed at element %I", fn,
			     (lua_Integer)(i + 1));
}

/* Moves the cursor past n elements. */
static void bytes_skip(lua_State *L, const char *fn, bytes_cursor *c,
		       int64_t from, int64_t n)
{
	const char *s;
	size_t len;

	for (int64_t i = 0; i < n; i++)
		if (!bytes_next(c, &s, &len))
			raise_malformed(L, fn, from + i);
}

/* ------------------------------------------------------------------ */
/* allocation                                                          */

static cs_tensor *tensor_alloc(lua_State *L, cs_dtype dt, int32_t ndim,
			       const int64_t *shape, size_t nbytes, bool zero)
{
	cs_tensor *t;
	uintptr_t data;

	if (nbytes > MAX_DATA_BYTES)
		luaL_error(L, "tensor: %f bytes is too large", (lua_Number)nbytes);
	t = lua_newuserdatauv(L, UD_OVERHEAD + nbytes, 0);
	data = (uintptr_t)(t + 1);
	data = (data + DATA_ALIGN - 1) & ~(uintptr_t)(DATA_ALIGN - 1);
	t->name = NULL;
	t->dtype = dt;
	t->ndim = ndim;
	memset(t->shape, 0, sizeof t->shape);
	if (ndim > 0)
		memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
	t->data = (void *)data;
	t->nbytes = nbytes;
	if (zero && nbytes)
		memset(t->data, 0, nbytes);
	luaL_setmetatable(L, CS_LUA_TENSOR_MT);
	return t;
}

cs_tensor *cs_lua_tensor_new(lua_State *L, cs_dtype dtype, int32_t ndim,
			     const int64_t *shape, size_t nbytes)
{
	int64_t numel;
	size_t size = cs_dtype_size(dtype);

	if (dtype == CS_DTYPE_INVALID || (size == 0 && dtype != CS_BYTES))
		luaL_error(L, "tensor: invalid dtype %d", (int)dtype);
	if (ndim < 0 || ndim > CS_MAX_DIMS)
		luaL_error(L, "tensor: %d dimensions, at most %d allowed",
			   (int)ndim, CS_MAX_DIMS);
	numel = cs_shape_numel(ndim, shape);
	if (numel < 0)
		luaL_error(L, "tensor: invalid shape");
	if (dtype != CS_BYTES &&
	    ((uint64_t)numel > SIZE_MAX / size || (size_t)numel * size != nbytes))
		luaL_error(L, "tensor: %s data of %I bytes does not fit its shape",
			   cs_dtype_name(dtype), (lua_Integer)nbytes);
	return tensor_alloc(L, dtype, ndim, shape, nbytes, true);
}

cs_tensor *cs_lua_tensor_push_copy(lua_State *L, const cs_tensor *t)
{
	cs_tensor *c;

	if (t->nbytes && !t->data)
		luaL_error(L, "tensor: %I bytes of data missing", (lua_Integer)t->nbytes);
	c = cs_lua_tensor_new(L, t->dtype, t->ndim, t->shape, t->nbytes);
	if (t->nbytes)
		memcpy(c->data, t->data, t->nbytes);
	return c;
}

cs_tensor *cs_lua_tensor_test(lua_State *L, int idx)
{
	return luaL_testudata(L, idx, CS_LUA_TENSOR_MT);
}

cs_tensor *cs_lua_tensor_check(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, CS_LUA_TENSOR_MT);
}

/* ------------------------------------------------------------------ */
/* argument helpers                                                    */

static cs_dtype check_dtype(lua_State *L, int idx, const char *fn)
{
	const char *name = luaL_checkstring(L, idx);
	cs_dtype dt = cs_dtype_from_name(name);

	if (dt == CS_DTYPE_INVALID)
		cs_lua_raise(L, CS_EINVAL,
			      "%s: unknown dtype '%s' (expected a V2 name such as FP32, INT64, BOOL, BYTES)",
			      fn, name);
	return dt;
}

/* An integral Lua number at idx; false when it is not one. */
static bool get_integer(lua_State *L, int idx, int64_t *out)
{
	lua_Number d;

	if (lua_type(L, idx) != LUA_TNUMBER)
		return false;
	if (lua_isinteger(L, idx)) {
		*out = (int64_t)lua_tointeger(L, idx);
		return true;
	}
	d = lua_tonumber(L, idx);
	if (d != trunc(d) || d < -9223372036854775808.0 ||
	    d >= 9223372036854775808.0)
		return false;
	*out = (int64_t)d;
	return true;
}

/* An integer argument that may come from request data (CS_EINVAL if not). */
static int64_t check_int_arg(lua_State *L, int idx, const char *fn,
			     const char *what)
{
	int64_t v;

	if (!get_integer(L, idx, &v))
		cs_lua_raise(L, CS_EINVAL, "%s: %s must be an integer, got %s",
			      fn, what,
			      lua_type(L, idx) == LUA_TNUMBER
				      ? lua_tostring(L, idx)
				      : luaL_typename(L, idx));
	return v;
}

/*
 * Reads a shape table at idx. With allow_infer one dimension may be -1;
 * its position is returned in *infer (else -1).
 */
static void check_shape(lua_State *L, int idx, const char *fn,
			bool allow_infer, int32_t *ndim, int64_t *shape,
			int *infer)
{
	lua_Unsigned n;

	luaL_checktype(L, idx, LUA_TTABLE);
	n = lua_rawlen(L, idx);
	if (n > CS_MAX_DIMS)
		cs_lua_raise(L, CS_EINVAL,
			      "%s: shape has %I dimensions, at most %d allowed",
			      fn, (lua_Integer)n, CS_MAX_DIMS);
	*infer = -1;
	for (int i = 0; i < (int)n; i++) {
		int64_t v;

		lua_rawgeti(L, idx, i + 1);
		if (!get_integer(L, -1, &v))
			cs_lua_raise(L, CS_EINVAL,
				      "%s: shape[%d] must be an integer, got %s",
				      fn, i + 1,
				      lua_type(L, -1) == LUA_TNUMBER
					      ? lua_tostring(L, -1)
					      : luaL_typename(L, -1));
		lua_pop(L, 1);
		if (v == -1 && allow_infer && *infer < 0) {
			*infer = i;
		} else if (v < 0) {
			cs_lua_raise(L, CS_EINVAL, "%s: shape[%d] is %I, %s",
				      fn, i + 1, (lua_Integer)v,
				      allow_infer ? "only one -1 is allowed"
						  : "dimensions must not be negative");
		}
		shape[i] = v;
	}
	*ndim = (int32_t)n;
}

/* Elements of a shape already checked for negative dimensions. */
static int64_t checked_numel(lua_State *L, const char *fn, int32_t ndim,
			     const int64_t *shape)
{
	int64_t numel = cs_shape_numel(ndim, shape);
	char sb[SHAPE_BUF];

	if (numel < 0)
		cs_lua_raise(L, CS_EINVAL, "%s: shape %s is too large", fn,
			      cs_shape_format(ndim, shape, sb, sizeof sb));
	return numel;
}

/*
 * Data bytes of a tensor of numel fixed-size elements, refusing overflow.
 * For BYTES: numel empty strings.
 */
static size_t fixed_nbytes(lua_State *L, const char *fn, cs_dtype dt,
			   int32_t ndim, const int64_t *shape, int64_t numel)
{
	size_t size = dt == CS_BYTES ? 4 : cs_dtype_size(dt);
	char sb[SHAPE_BUF];

	if ((uint64_t)numel > MAX_DATA_BYTES / size)
		cs_lua_raise(L, CS_EINVAL, "%s: %s %s is too large", fn,
			      cs_dtype_name(dt),
			      cs_shape_format(ndim, shape, sb, sizeof sb));
	return (size_t)numel * size;
}

/* ------------------------------------------------------------------ */
/* tensor.new from a table                                             */

typedef struct fill_ctx {
	const char *fn;
	cs_dtype dtype;
	int32_t ndim;
	const int64_t *shape;
	bool nested;
	int64_t pos[CS_MAX_DIMS]; /* 1-based position of the current value */
	int64_t flat;             /* 0-based index of the current value */
	bool measure;             /* BYTES first pass: only add up sizes */
	size_t total;             /* BYTES: bytes needed */
	unsigned char *dst, *end; /* where the next value goes */
} fill_ctx;

/* Names the current value: "values[2][3]" (nested) or "values[7]". */
static const char *where(const fill_ctx *c, char *buf, size_t len,
			 int32_t depth)
{
	size_t off = (size_t)snprintf(buf, len, "values");

	if (!c->nested) {
		snprintf(buf + off, len - off, "[%lld]", (long long)c->flat + 1);
		return buf;
	}
	for (int32_t d = 0; d < depth && off < len; d++)
		off += (size_t)snprintf(buf + off, len - off, "[%lld]",
					(long long)c->pos[d]);
	return buf;
}

/* Handles the value on top of the stack. */
static void fill_leaf(lua_State *L, fill_ctx *c)
{
	char wb[SHAPE_BUF];

	if (c->dtype != CS_BYTES) {
		enum put r = store_lua(L, -1, c->dtype, c->dst);

		if (r != PUT_OK)
			raise_put(L, c->fn, where(c, wb, sizeof wb, c->ndim), r,
				  -1, c->dtype);
		c->dst += cs_dtype_size(c->dtype);
	} else {
		size_t len;
		const char *s;

		if (lua_type(L, -1) != LUA_TSTRING)
			raise_put(L, c->fn, where(c, wb, sizeof wb, c->ndim),
				  PUT_TYPE, -1, c->dtype);
		s = lua_tolstring(L, -1, &len);
		if (c->measure) {
			if (len > UINT32_MAX)
				cs_lua_raise(L, CS_EINVAL,
					      "%s: %s: a string of %I bytes is too long for BYTES",
					      c->fn, where(c, wb, sizeof wb, c->ndim),
					      (lua_Integer)len);
			if (c->total > MAX_DATA_BYTES - 4 - len)
				cs_lua_raise(L, CS_EINVAL, "%s: BYTES values are too large",
					      c->fn);
			c->total += 4 + len;
		} else {
			if ((size_t)(c->end - c->dst) < 4 + len)
				luaL_error(L, "%s: values changed while being read", c->fn);
			put_le32(c->dst, (uint32_t)len);
			if (len)
				memcpy(c->dst + 4, s, len);
			c->dst += 4 + len;
		}
	}
	c->flat++;
}

/* Checks the nesting and the lengths of a nested values table at idx. */
static void check_nested(lua_State *L, fill_ctx *c, int idx, int32_t d)
{
	char wb[SHAPE_BUF], sb[SHAPE_BUF];
	lua_Unsigned n = lua_rawlen(L, idx);

	if ((lua_Unsigned)c->shape[d] != n)
		cs_lua_raise(L, CS_EINVAL,
			      "%s: %s has %I values, shape %s needs %I along dimension %d",
			      c->fn, where(c, wb, sizeof wb, d), (lua_Integer)n,
			      cs_shape_format(c->ndim, c->shape, sb, sizeof sb),
			      (lua_Integer)c->shape[d], (int)d + 1);
	if (d == c->ndim - 1)
		return;
	luaL_checkstack(L, 2, "tensor.new: values nested too deep");
	for (int64_t j = 1; j <= c->shape[d]; j++) {
		c->pos[d] = j;
		if (lua_rawgeti(L, idx, (lua_Integer)j) != LUA_TTABLE)
			cs_lua_raise(L, CS_EINVAL,
				      "%s: %s: expected a table (shape %s), got %s",
				      c->fn, where(c, wb, sizeof wb, d + 1),
				      cs_shape_format(c->ndim, c->shape, sb, sizeof sb),
				      luaL_typename(L, -1));
		check_nested(L, c, lua_gettop(L), d + 1);
		lua_pop(L, 1);
	}
}

static void fill_nested(lua_State *L, fill_ctx *c, int idx, int32_t d)
{
	for (int64_t j = 1; j <= c->shape[d]; j++) {
		c->pos[d] = j;
		lua_rawgeti(L, idx, (lua_Integer)j);
		if (d == c->ndim - 1)
			fill_leaf(L, c);
		else
			fill_nested(L, c, lua_gettop(L), d + 1);
		lua_pop(L, 1);
	}
}

/* One pass over all values of the table at idx. */
static void fill_pass(lua_State *L, fill_ctx *c, int idx, int64_t numel)
{
	c->flat = 0;
	if (c->nested) {
		fill_nested(L, c, idx, 0);
		return;
	}
	for (int64_t i = 1; i <= numel; i++) {
		lua_rawgeti(L, idx, (lua_Integer)i);
		fill_leaf(L, c);
		lua_pop(L, 1);
	}
}

static void new_from_table(lua_State *L, const char *fn, cs_dtype dt,
			   int32_t ndim, const int64_t *shape, int64_t numel,
			   int idx)
{
	fill_ctx c = {fn, dt, ndim, shape, false, {0}, 0, false, 0, NULL, NULL};
	char sb[SHAPE_BUF];
	cs_tensor *t;
	size_t nbytes;

	if (ndim >= 2 && lua_rawgeti(L, idx, 1) == LUA_TTABLE)
		c.nested = true;
	if (ndim >= 2)
		lua_pop(L, 1);
	if (c.nested) {
		check_nested(L, &c, idx, 0);
	} else if (lua_rawlen(L, idx) != (lua_Unsigned)numel) {
		cs_lua_raise(L, CS_EINVAL, "%s: shape %s needs %I values, got %I",
			      fn, cs_shape_format(ndim, shape, sb, sizeof sb),
			      (lua_Integer)numel, (lua_Integer)lua_rawlen(L, idx));
	}
	if (dt == CS_BYTES) {
		c.measure = true;
		fill_pass(L, &c, idx, numel);
		c.measure = false;
		nbytes = c.total;
	} else {
		nbytes = fixed_nbytes(L, fn, dt, ndim, shape, numel);
	}
	t = tensor_alloc(L, dt, ndim, shape, nbytes, false);
	c.dst = t->data;
	c.end = c.dst + nbytes;
	fill_pass(L, &c, idx, numel);
}

/* ------------------------------------------------------------------ */
/* constructors                                                        */

static int l_new(lua_State *L)
{
	const char *fn = "tensor.new";
	cs_dtype dt = check_dtype(L, 1, fn);
	int32_t ndim;
	int64_t shape[CS_MAX_DIMS], numel;
	int infer;
	char sb[SHAPE_BUF];
	size_t nbytes, len;
	const char *raw;
	cs_tensor *t;

	check_shape(L, 2, fn, false, &ndim, shape, &infer);
	numel = checked_numel(L, fn, ndim, shape);
	switch (lua_type(L, 3)) {
	case LUA_TNIL:
		/* an explicit nil is almost always a missing request field */
		return cs_lua_raise(L, CS_EINVAL,
				     "%s: values are nil (is a field missing from the request?); use tensor.zeros for a zero-filled tensor",
				     fn);
	case LUA_TNONE:
		if (dt == CS_BYTES)
			return cs_lua_raise(L, CS_EINVAL,
					     "%s: BYTES values must be a table of strings, got nil",
					     fn);
		nbytes = fixed_nbytes(L, fn, dt, ndim, shape, numel);
		tensor_alloc(L, dt, ndim, shape, nbytes, true);
		return 1;
	case LUA_TSTRING:
		if (dt == CS_BYTES)
			return cs_lua_raise(L, CS_EINVAL,
					     "%s: BYTES values must be a table of strings, not a raw string",
					     fn);
		nbytes = fixed_nbytes(L, fn, dt, ndim, shape, numel);
		raw = lua_tolstring(L, 3, &len);
		if (len != nbytes)
			return cs_lua_raise(L, CS_EINVAL,
					     "%s: raw data for %s %s must be %I bytes, got %I",
					     fn, cs_dtype_name(dt),
					     cs_shape_format(ndim, shape, sb, sizeof sb),
					     (lua_Integer)nbytes, (lua_Integer)len);
		t = tensor_alloc(L, dt, ndim, shape, nbytes, false);
		if (nbytes)
			memcpy(t->data, raw, nbytes);
		return 1;
	case LUA_TTABLE:
		new_from_table(L, fn, dt, ndim, shape, numel, 3);
		return 1;
	default:
		return cs_lua_raise(L, CS_EINVAL,
				     "%s: values must be a table, a string or nil, got %s",
				     fn, luaL_typename(L, 3));
	}
}

static int l_zeros(lua_State *L)
{
	const char *fn = "tensor.zeros";
	cs_dtype dt = check_dtype(L, 1, fn);
	int32_t ndim;
	int64_t shape[CS_MAX_DIMS], numel;
	int infer;
	size_t nbytes;

	check_shape(L, 2, fn, false, &ndim, shape, &infer);
	numel = checked_numel(L, fn, ndim, shape);
	/* BYTES zeros are empty strings: a zero length per element. */
	nbytes = fixed_nbytes(L, fn, dt, ndim, shape, numel);
	tensor_alloc(L, dt, ndim, shape, nbytes, true);
	return 1;
}

static int l_is(lua_State *L)
{
	lua_pushboolean(L, cs_lua_tensor_test(L, 1) != NULL);
	return 1;
}

/* ------------------------------------------------------------------ */
/* reading values out                                                  */

/* Pushes element i (0-based) of t. */
static void push_elem(lua_State *L, const char *fn, const cs_tensor *t,
		      int64_t i)
{
	if (t->dtype == CS_BOOL) {
		lua_pushboolean(L, ((const unsigned char *)t->data)[i] != 0);
	} else if (t->dtype == CS_BYTES) {
		bytes_cursor c;
		const char *s;
		size_t len;

		bytes_open(&c, t);
		bytes_skip(L, fn, &c, 0, i);
		if (!bytes_next(&c, &s, &len))
			raise_malformed(L, fn, i);
		lua_pushlstring(L, s, len);
	} else {
		push_scalar(L, read_elem(t, i));
	}
}

typedef struct push_ctx {
	const cs_tensor *t;
	int mt;          /* stack index of the array metatable */
	int64_t flat;    /* next element */
	bytes_cursor bc; /* BYTES: next element */
} push_ctx;

static void push_level(lua_State *L, push_ctx *c, int32_t d)
{
	const cs_tensor *t = c->t;
	int64_t n = t->shape[d];

	lua_createtable(L, n <= INT32_MAX ? (int)n : 0, 0);
	for (int64_t j = 1; j <= n; j++) {
		if (d < t->ndim - 1) {
			push_level(L, c, d + 1);
		} else if (t->dtype == CS_BYTES) {
			const char *s;
			size_t len;

			if (!bytes_next(&c->bc, &s, &len))
				raise_malformed(L, "tensor:totable", c->flat);
			lua_pushlstring(L, s, len);
			c->flat++;
		} else {
			push_elem(L, "tensor:totable", t, c->flat++);
		}
		lua_rawseti(L, -2, (lua_Integer)j);
	}
	lua_pushvalue(L, c->mt);
	lua_setmetatable(L, -2);
}

void cs_lua_tensor_push_table(lua_State *L, const cs_tensor *t)
{
	push_ctx c;

	if (t->ndim == 0) {
		push_elem(L, "tensor:totable", t, 0);
		return;
	}
	luaL_checkstack(L, t->ndim + 4, "tensor:totable");
	luaL_getmetatable(L, CS_LUA_ARRAY_MT);
	c.t = t;
	c.mt = lua_gettop(L);
	c.flat = 0;
	bytes_open(&c.bc, t);
	push_level(L, &c, 0);
	lua_remove(L, c.mt);
}

/* A new table with the array metatable, sized for n entries. */
static void new_array(lua_State *L, int64_t n)
{
	lua_createtable(L, n >= 0 && n <= INT32_MAX ? (int)n : 0, 0);
	luaL_setmetatable(L, CS_LUA_ARRAY_MT);
}

/* ------------------------------------------------------------------ */
/* methods: shape and identity                                         */

static int m_shape(lua_State *L)
{
	cs_tensor *t = cs_lua_tensor_check(L, 1);

	new_array(L, t->ndim);
	for (int32_t d = 0; d < t->ndim; d++) {
		lua_pushinteger(L, (lua_Integer)t->shape[d]);
		lua_rawseti(L, -2, d + 1);
	}
	return 1;
}

static int m_dtype(lua_State *L)
{
	lua_pushstring(L, cs_dtype_name(cs_lua_tensor_check(L, 1)->dtype));
	return 1;
}

static int m_numel(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)numel_of(cs_lua_tensor_check(L, 1)));
	return 1;
}

static int m_tostring(lua_State *L)
{
	cs_tensor *t = cs_lua_tensor_check(L, 1);
	char sb[SHAPE_BUF];

	lua_pushfstring(L, "tensor<%s>%s", cs_dtype_name(t->dtype),
			cs_shape_format(t->ndim, t->shape, sb, sizeof sb));
	return 1;
}

static int m_bytes(lua_State *L)
{
	cs_tensor *t = cs_lua_tensor_check(L, 1);

	lua_pushlstring(L, t->nbytes ? t->data : "", t->nbytes);
	return 1;
}

static int m_totable(lua_State *L)
{
	cs_lua_tensor_push_table(L, cs_lua_tensor_check(L, 1));
	return 1;
}

static int m_reshape(lua_State *L)
{
	const char *fn = "tensor:reshape";
	cs_tensor *t = cs_lua_tensor_check(L, 1), *r;
	int32_t ndim;
	int64_t shape[CS_MAX_DIMS], numel = numel_of(t), known = 1;
	int infer;
	char sa[SHAPE_BUF], sb[SHAPE_BUF];

	check_shape(L, 2, fn, true, &ndim, shape, &infer);
	for (int32_t d = 0; d < ndim; d++) {
		if (d == infer)
			continue;
		if (shape[d] != 0 && known > INT64_MAX / shape[d])
			known = -1;
		if (known >= 0)
			known *= shape[d];
	}
	if (infer >= 0) {
		if (known <= 0 || numel % known != 0)
			return cs_lua_raise(L, CS_EINVAL,
					     "%s: cannot reshape %s (%I elements) to %s",
					     fn, cs_shape_format(t->ndim, t->shape, sa, sizeof sa),
					     (lua_Integer)numel,
					     cs_shape_format(ndim, shape, sb, sizeof sb));
		shape[infer] = numel / known;
		known = numel;
	}
	if (known != numel)
		return cs_lua_raise(L, CS_EINVAL,
				     "%s: cannot reshape %s (%I elements) to %s (%s elements)",
				     fn, cs_shape_format(t->ndim, t->shape, sa, sizeof sa),
				     (lua_Integer)numel,
				     cs_shape_format(ndim, shape, sb, sizeof sb),
				     known < 0 ? "too many" : lua_pushfstring(L, "%I", (lua_Integer)known));
	r = tensor_alloc(L, t->dtype, ndim, shape, t->nbytes, false);
	if (t->nbytes)
		memcpy(r->data, t->data, t->nbytes);
	return 1;
}

/* ------------------------------------------------------------------ */
/* methods: indexing                                                   */

/*
 * The 0-based flat index named by the n arguments from stack index first:
 * ndim indices, or one flat index. All 1-based.
 */
static int64_t check_index(lua_State *L, const char *fn, const cs_tensor *t,
			   int first, int n)
{
	int64_t numel = numel_of(t), idx[CS_MAX_DIMS], flat = 0;
	char sa[SHAPE_BUF], sb[SHAPE_BUF];

	if (n == 1 && t->ndim != 1) {
		int64_t i = check_int_arg(L, first, fn, "index");

		if (i < 1 || i > numel)
			cs_lua_raise(L, CS_EINVAL,
				      "%s: flat index %I is out of range for shape %s (%I elements)",
				      fn, (lua_Integer)i,
				      cs_shape_format(t->ndim, t->shape, sb, sizeof sb),
				      (lua_Integer)numel);
		return i - 1;
	}
	if (n != t->ndim)
		luaL_error(L, "%s: shape %s needs %d indices or one flat index, got %d",
			   fn, cs_shape_format(t->ndim, t->shape, sb, sizeof sb),
			   (int)t->ndim, n);
	for (int d = 0; d < n; d++)
		idx[d] = check_int_arg(L, first + d, fn, "index");
	for (int d = 0; d < n; d++) {
		if (idx[d] < 1 || idx[d] > t->shape[d])
			cs_lua_raise(L, CS_EINVAL,
				      "%s: index %s is out of range for shape %s",
				      fn, cs_shape_format(n, idx, sa, sizeof sa),
				      cs_shape_format(t->ndim, t->shape, sb, sizeof sb));
		flat = flat * t->shape[d] + (idx[d] - 1);
	}
	return flat;
}

static int m_get(lua_State *L)
{
	cs_tensor *t = cs_lua_tensor_check(L, 1);
	int64_t i = check_index(L, "tensor:get", t, 2, lua_gettop(L) - 1);

	push_elem(L, "tensor:get", t, i);
	return 1;
}

static int m_set(lua_State *L)
{
	const char *fn = "tensor:set";
	cs_tensor *t = cs_lua_tensor_check(L, 1);
	int top = lua_gettop(L);
	int64_t i;
	enum put r;

	if (t->dtype == CS_BYTES)
		return luaL_error(L, "%s: BYTES tensors cannot be changed in place; build a new one with tensor.new",
				  fn);
	if (top < 2)
		return luaL_error(L, "%s: missing the value", fn);
	i = check_index(L, fn, t, 2, top - 2);
	r = store_lua(L, top, t->dtype,
		      (unsigned char *)t->data + (size_t)i * cs_dtype_size(t->dtype));
	if (r != PUT_OK)
		raise_put(L, fn, "value", r, top, t->dtype);
	return 0;
}

static int m_row(lua_State *L)
{
	const char *fn = "tensor:row";
	cs_tensor *t = cs_lua_tensor_check(L, 1), *r;
	int64_t i, per_row, numel = numel_of(t);
	char sb[SHAPE_BUF];
	const unsigned char *from;
	size_t nbytes;

	if (t->ndim < 1)
		return luaL_error(L, "%s: a scalar has no rows", fn);
	i = check_int_arg(L, 2, fn, "row");
	if (i < 1 || i > t->shape[0])
		return cs_lua_raise(L, CS_EINVAL, "%s: row %I is out of range for shape %s",
				     fn, (lua_Integer)i,
				     cs_shape_format(t->ndim, t->shape, sb, sizeof sb));
	per_row = numel / t->shape[0];
	if (t->dtype == CS_BYTES) {
		bytes_cursor c;

		bytes_open(&c, t);
		bytes_skip(L, fn, &c, 0, (i - 1) * per_row);
		from = c.p;
		bytes_skip(L, fn, &c, (i - 1) * per_row, per_row);
		nbytes = (size_t)(c.p - from);
	} else {
		nbytes = (size_t)per_row * cs_dtype_size(t->dtype);
		from = (const unsigned char *)t->data + (size_t)(i - 1) * nbytes;
	}
	r = tensor_alloc(L, t->dtype, t->ndim - 1, t->shape + 1, nbytes, false);
	if (nbytes)
		memcpy(r->data, from, nbytes);
	return 1;
}

/* ------------------------------------------------------------------ */
/* methods: reductions and friends                                     */

/* The numeric tensor of a reduction; BOOL and BYTES are refused. */
static cs_tensor *check_numeric(lua_State *L, const char *fn)
{
	cs_tensor *t = cs_lua_tensor_check(L, 1);

	if (!is_numeric(t->dtype))
		luaL_error(L, "%s: not defined for %s tensors", fn,
			   cs_dtype_name(t->dtype));
	return t;
}

static void check_not_empty(lua_State *L, const char *fn, const cs_tensor *t)
{
	char sb[SHAPE_BUF];

	if (numel_of(t) == 0)
		cs_lua_raise(L, CS_EINVAL, "%s: the tensor %s is empty", fn,
			      cs_shape_format(t->ndim, t->shape, sb, sizeof sb));
}

/*
 * Whether a comes before b in descending order: larger first, NaN before
 * everything, the lower index first among equals.
 */
static bool before(scalar a, int64_t ia, scalar b, int64_t ib)
{
	switch (a.kind) {
	case K_INT:
		if (a.i != b.i)
			return a.i > b.i;
		break;
	case K_UINT:
		if (a.u != b.u)
			return a.u > b.u;
		break;
	default: {
		bool na = isnan(a.d), nb = isnan(b.d);

		if (na != nb)
			return na;
		if (!na && a.d != b.d)
			return a.d > b.d;
		break;
	}
	}
	return ia < ib;
}

/* Whether a replaces b as the minimum: smaller, or NaN (NaN wins). */
static bool below(scalar a, scalar b)
{
	switch (a.kind) {
	case K_INT:
		return a.i < b.i;
	case K_UINT:
		return a.u < b.u;
	default:
		return (isnan(a.d) && !isnan(b.d)) || a.d < b.d;
	}
}

static int64_t argmax_of(const cs_tensor *t)
{
	int64_t n = numel_of(t), best = 0;
	scalar bv = read_elem(t, 0);

	for (int64_t i = 1; i < n; i++) {
		scalar v = read_elem(t, i);

		if (before(v, i, bv, best)) {
			best = i;
			bv = v;
		}
	}
	return best;
}

static int m_argmax(lua_State *L)
{
	cs_tensor *t = check_numeric(L, "tensor:argmax");

	check_not_empty(L, "tensor:argmax", t);
	lua_pushinteger(L, (lua_Integer)argmax_of(t) + 1);
	return 1;
}

static int m_max(lua_State *L)
{
	cs_tensor *t = check_numeric(L, "tensor:max");

	check_not_empty(L, "tensor:max", t);
	push_scalar(L, read_elem(t, argmax_of(t)));
	return 1;
}

static int m_min(lua_State *L)
{
	cs_tensor *t = check_numeric(L, "tensor:min");
	int64_t n = numel_of(t);
	scalar best;

	check_not_empty(L, "tensor:min", t);
	best = read_elem(t, 0);
	for (int64_t i = 1; i < n; i++) {
		scalar v = read_elem(t, i);

		if (below(v, best))
			best = v;
	}
	push_scalar(L, best);
	return 1;
}

/*
 * Sums t. Integer dtypes sum exactly into *isum while they fit int64;
 * returns false when the sum is only available as the double *dsum.
 */
static bool sum_of(const cs_tensor *t, int64_t *isum, double *dsum)
{
	int64_t n = numel_of(t), acc = 0;
	double d = 0.0;
	bool exact = kind_of(t->dtype) != K_FLOAT;

	for (int64_t i = 0; i < n; i++) {
		scalar v = read_elem(t, i);

		if (exact) {
			if (v.kind == K_UINT && v.u > (uint64_t)INT64_MAX) {
				exact = false;
			} else {
				int64_t x = v.kind == K_UINT ? (int64_t)v.u : v.i;

				int64_t next;

				if (!__builtin_add_overflow(acc, x, &next)) {
					acc = next;
					continue;
				}
				exact = false;
				d = (double)acc + (double)x;
				continue;
			}
			d = (double)acc;
		}
		d += scalar_double(v);
	}
	*isum = acc;
	*dsum = exact ? (double)acc : d;
	return exact;
}

static int m_sum(lua_State *L)
{
	cs_tensor *t = check_numeric(L, "tensor:sum");
	int64_t isum;
	double dsum;

	if (sum_of(t, &isum, &dsum))
		lua_pushinteger(L, (lua_Integer)isum);
	else
		lua_pushnumber(L, (lua_Number)dsum);
	return 1;
}

static int m_mean(lua_State *L)
{
	cs_tensor *t = check_numeric(L, "tensor:mean");
	int64_t isum;
	double dsum;

	check_not_empty(L, "tensor:mean", t);
	sum_of(t, &isum, &dsum);
	lua_pushnumber(L, (lua_Number)(dsum / (double)numel_of(t)));
	return 1;
}

static int m_softmax(lua_State *L)
{
	cs_tensor *t = check_numeric(L, "tensor:softmax"), *r;
	cs_dtype out = t->dtype == CS_FP64 ? CS_FP64 : CS_FP32;
	int64_t numel = numel_of(t);
	int64_t last = t->ndim ? t->shape[t->ndim - 1] : 1;
	int64_t rows = last ? numel / last : 0;

	r = tensor_alloc(L, out, t->ndim, t->shape,
			 (size_t)numel * cs_dtype_size(out), false);
	for (int64_t row = 0; row < rows; row++) {
		int64_t base = row * last;
		double m = -INFINITY, sum = 0.0;

		for (int64_t j = 0; j < last; j++) {
			double x = scalar_double(read_elem(t, base + j));

			if (x > m || isnan(x))
				m = x;
			if (isnan(x))
				break;
		}
		for (int64_t j = 0; j < last; j++) {
			double e = exp(scalar_double(read_elem(t, base + j)) - m);

			sum += e;
			if (out == CS_FP64)
				((double *)r->data)[base + j] = e;
			else
				((float *)r->data)[base + j] = (float)e;
		}
		for (int64_t j = 0; j < last; j++) {
			if (out == CS_FP64)
				((double *)r->data)[base + j] /= sum;
			else
				((float *)r->data)[base + j] =
					(float)(((float *)r->data)[base + j] / sum);
		}
	}
	return 1;
}

/* topk's heap: the root is the kept element that comes last. */
static void heap_down(const cs_tensor *t, int64_t *h, int64_t n, int64_t i)
{
	for (;;) {
		int64_t l = 2 * i + 1, r = l + 1, w = i;

		if (l < n && before(read_elem(t, h[w]), h[w], read_elem(t, h[l]), h[l]))
			w = l;
		if (r < n && before(read_elem(t, h[w]), h[w], read_elem(t, h[r]), h[r]))
			w = r;
		if (w == i)
			return;
		int64_t tmp = h[i];
		h[i] = h[w];
		h[w] = tmp;
		i = w;
	}
}

static void heap_up(const cs_tensor *t, int64_t *h, int64_t i)
{
	while (i > 0) {
		int64_t p = (i - 1) / 2;

		if (!before(read_elem(t, h[p]), h[p], read_elem(t, h[i]), h[i]))
			return;
		int64_t tmp = h[i];
		h[i] = h[p];
		h[p] = tmp;
		i = p;
	}
}

static int m_topk(lua_State *L)
{
	const char *fn = "tensor:topk";
	cs_tensor *t = check_numeric(L, fn);
	int64_t numel = numel_of(t), k = check_int_arg(L, 2, fn, "k"), n = 0;
	int64_t *h;

	if (k < 0)
		return cs_lua_raise(L, CS_EINVAL, "%s: k must not be negative, got %I",
				     fn, (lua_Integer)k);
	if (k > numel)
		k = numel;
	h = lua_newuserdatauv(L, (size_t)k * sizeof *h, 0);
	for (int64_t i = 0; i < numel && k > 0; i++) {
		if (n < k) {
			h[n] = i;
			heap_up(t, h, n++);
		} else if (before(read_elem(t, i), i, read_elem(t, h[0]), h[0])) {
			h[0] = i;
			heap_down(t, h, n, 0);
		}
	}
	new_array(L, k);
	new_array(L, k);
	/* Popping the root yields the kept elements from last to first. */
	for (int64_t j = k; j >= 1; j--) {
		int64_t i = h[0];

		push_scalar(L, read_elem(t, i));
		lua_rawseti(L, -3, (lua_Integer)j);
		lua_pushinteger(L, (lua_Integer)i + 1);
		lua_rawseti(L, -2, (lua_Integer)j);
		h[0] = h[--n];
		heap_down(t, h, n, 0);
	}
	return 2;
}

static int m_astype(lua_State *L)
{
	const char *fn = "tensor:astype";
	cs_tensor *t = cs_lua_tensor_check(L, 1), *r;
	cs_dtype dt = check_dtype(L, 2, fn);
	int64_t numel = numel_of(t);
	size_t size = cs_dtype_size(dt);
	unsigned char *dst;

	if (dt == t->dtype) {
		cs_lua_tensor_push_copy(L, t);
		return 1;
	}
	if (dt == CS_BYTES || t->dtype == CS_BYTES)
		return luaL_error(L, "%s: cannot convert %s to %s", fn,
				  cs_dtype_name(t->dtype), cs_dtype_name(dt));
	r = tensor_alloc(L, dt, t->ndim, t->shape, (size_t)numel * size, false);
	dst = r->data;
	for (int64_t i = 0; i < numel; i++, dst += size) {
		scalar v = read_elem(t, i);
		enum put p;

		if (dt == CS_BOOL) {
			*dst = scalar_double(v) != 0.0 || v.i != 0 || v.u != 0;
			continue;
		}
		p = store_scalar(dt, dst, v);
		if (p != PUT_OK) {
			char wb[64];

			snprintf(wb, sizeof wb, "element %lld", (long long)i + 1);
			push_scalar(L, v);
			raise_put(L, fn, wb, p, -1, dt);
		}
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* registration                                                        */

static const luaL_Reg tensor_methods[] = {
	{"shape", m_shape},
	{"dtype", m_dtype},
	{"numel", m_numel},
	{"reshape", m_reshape},
	{"get", m_get},
	{"set", m_set},
	{"totable", m_totable},
	{"argmax", m_argmax},
	{"max", m_max},
	{"min", m_min},
	{"sum", m_sum},
	{"mean", m_mean},
	{"softmax", m_softmax},
	{"topk", m_topk},
	{"astype", m_astype},
	{"bytes", m_bytes},
	{"row", m_row},
	{NULL, NULL},
};

static const luaL_Reg tensor_meta[] = {
	{"__tostring", m_tostring},
	{"__len", m_numel},
	{NULL, NULL},
};

static const luaL_Reg tensor_funcs[] = {
	{"new", l_new},
	{"zeros", l_zeros},
	{"is", l_is},
	{NULL, NULL},
};

void cs_lua_tensor_open(lua_State *L)
{
	luaL_newmetatable(L, CS_LUA_TENSOR_MT);
	luaL_setfuncs(L, tensor_meta, 0);
	luaL_newlib(L, tensor_methods);
	lua_setfield(L, -2, "__index");
	/* Glue sees the metatable as a string, so it cannot change it. */
	lua_pushliteral(L, CS_LUA_TENSOR_MT);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);

	luaL_newlib(L, tensor_funcs);
	lua_setglobal(L, "tensor");
}
