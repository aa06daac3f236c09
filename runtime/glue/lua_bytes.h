/*
 * lua_bytes.h - bytes in the glue: base64, the request's uploads
 * (req.files, req.form), the one input of a request in whatever form it
 * came (cs.input_bytes) and files beside the manifest (cs.model_file).
 * docs/glue.md documents the Lua side.
 *
 * Bad client data (base64 that is not, a malformed multipart body, a form
 * field over limits.max_string_bytes, a request without the input) is
 * raised with cs_lua_raise(): 400, 413 or 415. Functions here run on the
 * Lua state's thread only.
 */
#ifndef CS_LUA_BYTES_H
#define CS_LUA_BYTES_H

#include <stddef.h>

#include <lua.h>

struct cs_request;

/*
 * Adds base64_decode, base64_encode, input_bytes and model_file to the
 * global table `cs` (which must exist). model_dir is the directory
 * model_file reads from (copied); max_field_bytes bounds one non-file form
 * field (0: no bound). [-0, +0, m]
 */
void cs_lua_bytes_open(lua_State *L, const char *model_dir, size_t max_field_bytes);

/*
 * For the request table's lazy fields: pushes req.files (an array of
 * {name, filename, content_type, data}, each also under its field name
 * when that is free) when key is "files", req.form (field name -> string)
 * when "form", req.file (the first file, or nil) when "file", and returns
 * 1; returns 0 and pushes nothing for other keys. A body that is not
 * multipart/form-data gives an empty files/form and a nil file; a
 * malformed one raises a 400. [-0, +(0|1), v]
 */
int cs_lua_request_uploads(lua_State *L, const struct cs_request *req,
			   const char *key);

#endif
