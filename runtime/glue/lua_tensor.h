/*
 * lua_tensor.h - the tensor type seen from Lua (the glue's `tensor`).
 *
 * A Lua tensor is a full userdata holding a cs_tensor header and its data
 * inline (16-byte aligned), so its memory counts against the Lua state's
 * allocator (the glue's memory cap) and is freed by the garbage collector.
 * The API is documented in docs/glue.md. Errors caused by data (wrong count
 * of values, non-numbers, out-of-range indices) are raised with
 * cs_lua_raise(L, CS_EINVAL, ...) so the client gets a 400; errors in
 * argument types of the API itself are ordinary Lua errors (500).
 *
 * Functions here run on the Lua state's thread only.
 */
#ifndef CS_LUA_TENSOR_H
#define CS_LUA_TENSOR_H

#include <lua.h>

#include <cubeserve/tensor.h>

/* The registry name of the tensor metatable. */
#define CS_LUA_TENSOR_MT "cubeserve.tensor"

/*
 * Creates the metatable and sets the global table `tensor` (constructors).
 * [-0, +0, m]
 */
void cs_lua_tensor_open(lua_State *L);

/*
 * Pushes a new tensor userdata of the given dtype and shape with nbytes of
 * uninitialised (zeroed) data and returns its view (name NULL). The view
 * and data stay valid while the userdata is reachable. Raises a Lua error
 * when out of memory. [-0, +1, m]
 */
cs_tensor *cs_lua_tensor_new(lua_State *L, cs_dtype dtype, int32_t ndim,
			     const int64_t *shape, size_t nbytes);

/* Pushes a new tensor userdata holding a copy of t. [-0, +1, m] */
cs_tensor *cs_lua_tensor_push_copy(lua_State *L, const cs_tensor *t);

/* The tensor at idx, or NULL when it is not one. [-0, +0, -] */
cs_tensor *cs_lua_tensor_test(lua_State *L, int idx);

/* The tensor at idx; raises an argument error when it is not one. [-0, +0, v] */
cs_tensor *cs_lua_tensor_check(lua_State *L, int idx);

/*
 * Pushes the tensor's values as nested Lua tables with the array metatable
 * (CS_LUA_ARRAY_MT), following its shape; a scalar (ndim 0) is pushed as a
 * plain value. BOOL gives booleans, BYTES strings, integers Lua integers
 * (UINT64 above the integer range a float), floats floats. [-0, +1, m]
 */
void cs_lua_tensor_push_table(lua_State *L, const cs_tensor *t);

#endif
