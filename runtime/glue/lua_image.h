/*
 * lua_image.h - images in the glue (the global `image`, docs/glue.md).
 *
 * image.decode(bytes) reads a JPEG (libjpeg-turbo's TurboJPEG) or a PNG
 * (libspng) into an image userdata: 8-bit pixels, interleaved, row-major,
 * 1 (grey), 3 (RGB, the default) or 4 (RGBA) channels. Its methods resize
 * (Pillow's convolution resampler, bit for bit), crop and turn it into a
 * tensor; tensor:to_png() and image:to_png() encode back.
 *
 * Limits: the encoded size (limits.max_image_bytes) is checked first, the
 * pixel count (limits.max_image_pixels) in the header pass, before any
 * pixel buffer exists, so a small file that claims a huge image costs
 * nothing. Pixel buffers are Lua userdata: they count against the glue's
 * memory budget (limits.glue_memory_bytes) and are freed by the garbage
 * collector. So does the decoders' own working memory: libspng allocates
 * from the state's allocator; TurboJPEG takes no allocator, so an estimate
 * of what libjpeg-turbo uses (a band of rows; every coefficient of a
 * progressive JPEG) is reserved from the budget while it decodes.
 *
 * EXIF orientation is applied by default (image.decode's orient option).
 *
 * Bad data (empty, truncated, corrupt, GIF and other formats, over a limit)
 * is raised with cs_lua_raise(): 400, or 413 for the limits; misuse of the
 * API by the glue is an ordinary Lua error (500).
 *
 * Functions here run on the Lua state's thread only.
 */
#ifndef CS_LUA_IMAGE_H
#define CS_LUA_IMAGE_H

#include <stdint.h>

#include <lua.h>

/* The registry name of the image metatable. */
#define CS_LUA_IMAGE_MT "cubeserve.image"

/*
 * Sets the global table `image` and adds to_png to the tensor methods, so
 * cs_lua_tensor_open() must have run. max_pixels and max_bytes bound every
 * decoded image (0: no bound). [-0, +0, m]
 */
void cs_lua_image_open(lua_State *L, uint64_t max_pixels, size_t max_bytes);

#endif
