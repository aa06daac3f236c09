/*
 * lua_image.c - the glue's `image`: decode, resize, crop, to_tensor,
 * to_png (see lua_image.h and docs/glue.md).
 *
 * An image is one full userdata: a header, then the pixels (8 bits per
 * sample, interleaved, rows without padding). Decoder contexts that must be
 * released live in a small guard userdata whose __gc frees them, so a Lua
 * error (a limit, out of memory) between creating and freeing them leaks
 * nothing.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <spng.h>
#include <turbojpeg.h>

#include "glue/lua_util.h"
#include "glue/lua_image.h"
#include "glue/lua_tensor.h"

#define ENV_MT "cubeserve.image.env"
#define GUARD_MT "cubeserve.image.guard"
#define DATA_ALIGN 16
/* Largest width or height accepted at all (TurboJPEG and PNG fit in it). */
#define MAX_SIDE 65535
/* Fixed-point bits of the resampling weights (as Pillow's 8-bit path). */
#define PRECISION_BITS (32 - 8 - 2)
/* Room for a TurboJPEG message (libjpeg's JMSG_LENGTH_MAX is 200). */
#define JMSG_LENGTH_MAX_CS 256

typedef struct cs_image {
	int32_t width, height, channels;
	size_t nbytes;
	unsigned char *data; /* inline, after the header */
} cs_image;

/* Shared by the functions of one state (their upvalue). */
typedef struct image_env {
	uint64_t max_pixels;
	size_t max_bytes;
	tjhandle dec;        /* created on first use */
} image_env;

/* What a guard releases on collection (or at once, guard_release). */
typedef struct guard {
	spng_ctx *png;
	void *buf;           /* from png_malloc (spng's encoded output) */
} guard;

/* ------------------------------------------------------------ PNG memory */

/*
 * libspng allocates through these, from the Lua state's allocator, so its
 * buffers count against the glue's memory budget. Each block starts with
 * the allocator it came from (it may be freed by a guard's __gc, outside
 * any decode); the allocator of new blocks is the one of the state whose
 * decode or encode is running on this thread.
 */
typedef struct png_block {
	lua_Alloc f;
	void *ud;
	size_t size;
} png_block;
#define PNG_HDR ((sizeof(png_block) + 15) & ~(size_t)15)

static _Thread_local lua_Alloc png_f;
static _Thread_local void *png_ud;

static void *png_malloc(size_t n)
{
	png_block *b;

	if (!png_f || n > SIZE_MAX - PNG_HDR)
		return NULL;
	b = png_f(png_ud, NULL, 0, n + PNG_HDR);
	if (!b)
		return NULL;
	b->f = png_f;
	b->ud = png_ud;
	b->size = n;
	return (unsigned char *)b + PNG_HDR;
}

static void png_free(void *p)
{
	png_block *b;

	if (!p)
		return;
	b = (png_block *)(void *)((unsigned char *)p - PNG_HDR);
	b->f(b->ud, b, b->size + PNG_HDR, 0);
}

static void *png_realloc(void *p, size_t n)
{
	png_block *b, *nb;

	if (!p)
		return png_malloc(n);
	if (n > SIZE_MAX - PNG_HDR)
		return NULL;
	b = (png_block *)(void *)((unsigned char *)p - PNG_HDR);
	nb = b->f(b->ud, b, b->size + PNG_HDR, n + PNG_HDR);
	if (!nb)
		return NULL;
	nb->size = n;
	return (unsigned char *)nb + PNG_HDR;
}

static void *png_calloc(size_t count, size_t size)
{
	void *p;

	if (size && count > SIZE_MAX / size)
		return NULL;
	p = png_malloc(count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

/* A libspng context whose memory is the state's. NULL: out of memory. */
static spng_ctx *png_ctx_new(lua_State *L, int flags)
{
	static struct spng_alloc alloc = {png_malloc, png_realloc, png_calloc, png_free};

	png_f = lua_getallocf(L, &png_ud);
	return spng_ctx_new2(&alloc, flags);
}

/* ------------------------------------------------------------ helpers */

static image_env *env_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static int env_gc(lua_State *L)
{
	image_env *e = luaL_checkudata(L, 1, ENV_MT);

	if (e->dec) {
		tjDestroy(e->dec);
		e->dec = NULL;
	}
	return 0;
}

static void guard_release(guard *g)
{
	if (g->png)
		spng_ctx_free(g->png);
	png_free(g->buf);
	g->png = NULL;
	g->buf = NULL;
}

static int guard_gc(lua_State *L)
{
	guard_release(luaL_checkudata(L, 1, GUARD_MT));
	return 0;
}

/* Pushes a new empty guard. [-0, +1, m] */
static guard *guard_new(lua_State *L)
{
	guard *g = lua_newuserdatauv(L, sizeof(*g), 0);

	g->png = NULL;
	g->buf = NULL;
	luaL_setmetatable(L, GUARD_MT);
	return g;
}

/* Pushes a new image with uninitialised pixels. [-0, +1, m] */
static cs_image *image_push(lua_State *L, int32_t w, int32_t h, int32_t c)
{
	size_t nbytes = (size_t)w * (size_t)h * (size_t)c;
	cs_image *im;
	uintptr_t data;

	im = lua_newuserdatauv(L, sizeof(*im) + DATA_ALIGN - 1 + nbytes, 0);
	data = ((uintptr_t)(im + 1) + DATA_ALIGN - 1) & ~(uintptr_t)(DATA_ALIGN - 1);
	im->width = w;
	im->height = h;
	im->channels = c;
	im->nbytes = nbytes;
	im->data = (unsigned char *)data;
	luaL_setmetatable(L, CS_LUA_IMAGE_MT);
	return im;
}

/* A scratch buffer of n bytes, alive while it stays on the stack. */
static unsigned char *scratch_push(lua_State *L, size_t n)
{
	return lua_newuserdatauv(L, n ? n : 1, 0);
}

static cs_image *check_image(lua_State *L, int idx)
{
	return luaL_checkudata(L, idx, CS_LUA_IMAGE_MT);
}

/* Raises 413 unless w x h fits the pixel limit. */
static void check_pixels(lua_State *L, const image_env *e, const char *what,
			 uint32_t w, uint32_t h)
{
	uint64_t n = (uint64_t)w * h;

	if (w == 0 || h == 0)
		cs_lua_raise(L, CS_EINVAL, "image.decode: the %s claims an empty image (%dx%d)",
			      what, (int)w, (int)h);
	if ((e->max_pixels && n > e->max_pixels) || w > MAX_SIDE || h > MAX_SIDE)
		cs_lua_raise(L, CS_ETOOLARGE,
			      "image.decode: the %s claims %Ix%I = %I pixels, over the limit of %I (limits.max_image_pixels) or %d per side",
			      what, (lua_Integer)w, (lua_Integer)h, (lua_Integer)n,
			      (lua_Integer)e->max_pixels, MAX_SIDE);
}

/* Pillow's RGB -> L (ITU-R 601-2 luma, 16-bit fixed point). */
static unsigned char luma(const unsigned char *p)
{
	return (unsigned char)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
}

/* RGB(A) pixels at src (sc channels) into dc channels at dst. */
static void convert_pixels(const unsigned char *src, int sc, unsigned char *dst,
			   int dc, size_t n)
{
	for (size_t i = 0; i < n; i++, src += sc, dst += dc) {
		if (dc == 1) {
			dst[0] = sc == 1 ? src[0] : luma(src);
			continue;
		}
		if (sc == 1) {
			dst[0] = dst[1] = dst[2] = src[0];
		} else {
			dst[0] = src[0];
			dst[1] = src[1];
			dst[2] = src[2];
		}
		if (dc == 4)
			dst[3] = sc == 4 ? src[3] : 255;
	}
}

/* ------------------------------------------------------------ EXIF */

static uint32_t rd16(const unsigned char *p, bool le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
}

static uint32_t rd32(const unsigned char *p, bool le)
{
	return le ? rd16(p, true) | rd16(p + 2, true) << 16 : rd16(p, false) << 16 | rd16(p + 2, false);
}

/*
 * The Orientation tag (1..8) of an EXIF block (a TIFF header and IFD0),
 * 1 when it has none or anything in it is out of bounds or malformed.
 */
static int exif_orientation(const unsigned char *t, size_t n)
{
	uint32_t ifd, count;
	bool le;

	if (n < 8)
		return 1;
	if (t[0] == 'I' && t[1] == 'I')
		le = true;
	else if (t[0] == 'M' && t[1] == 'M')
		le = false;
	else
		return 1;
	if (rd16(t + 2, le) != 42)
		return 1;
	ifd = rd32(t + 4, le);
	if (ifd < 8 || ifd > n - 2)
		return 1;
	count = rd16(t + ifd, le);
	if (count > (n - ifd - 2) / 12)
		count = (uint32_t)((n - ifd - 2) / 12);
	for (const unsigned char *e = t + ifd + 2; count--; e += 12) {
		uint32_t v;

		if (rd16(e, le) != 0x0112)
			continue;
		/* a SHORT (type 3), or a LONG (4) as some writers store it; of
		 * two SHORTs the first counts, as Pillow reads them */
		if (rd32(e + 4, le) != 1 && !(rd32(e + 4, le) == 2 && rd16(e + 2, le) == 3))
			return 1;
		v = rd16(e + 2, le) == 3 ? rd16(e + 8, le) :
		    rd16(e + 2, le) == 4 ? rd32(e + 8, le) : 0;
		return v >= 1 && v <= 8 ? (int)v : 1;
	}
	return 1;
}

/* What the markers before a JPEG's first scan say. */
typedef struct jpeg_markers {
	int orientation;  /* EXIF, 1..8 */
	bool progressive; /* SOF2, 6, 10, 14: the decoder buffers every coefficient */
} jpeg_markers;

/*
 * Reads the markers before the first scan: the first APP1 "Exif" segment's
 * orientation and the frame's kind, every length bounded by the bytes
 * there are (a malformed segment ends the reading, keeping the defaults).
 */
static jpeg_markers read_markers(const unsigned char *p, size_t len)
{
	jpeg_markers jm = {1, false};
	bool exif_seen = false;
	size_t i = 2;

	while (i + 4 <= len) {
		unsigned m = p[i + 1];
		size_t seg;

		if (p[i] != 0xff)
			break;
		if (m == 0xff) { /* fill byte */
			i++;
			continue;
		}
		if (m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { /* no length */
			i += 2;
			continue;
		}
		if (m == 0xda || m == 0xd9) /* the scan or the end */
			break;
		seg = (size_t)p[i + 2] << 8 | p[i + 3];
		if (seg < 2 || seg > len - i - 2)
			break;
		if (m == 0xe1 && !exif_seen && seg >= 2 + 6 &&
		    memcmp(p + i + 4, "Exif\0\0", 6) == 0) {
			jm.orientation = exif_orientation(p + i + 10, seg - 8);
			exif_seen = true;
		}
		if (m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce)
			jm.progressive = true;
		i += 2 + seg;
	}
	return jm;
}

/*
 * An estimate of libjpeg-turbo's working memory for a w x h JPEG (TurboJPEG
 * takes no allocator, so this is what is reserved from the glue's budget
 * while it decodes): the rows of one MCU band with their context and
 * colour buffers, and for a progressive JPEG the coefficients of the whole
 * image (2 bytes a sample, chroma at its subsampled size).
 */
static size_t jpeg_scratch(int w, int h, int subsamp, int cs, bool progressive)
{
	size_t px = (size_t)w * (size_t)h, samples;

	if (cs == TJCS_GRAY)
		samples = px;
	else if (cs == TJCS_CMYK || cs == TJCS_YCCK)
		samples = px * 4;
	else if (subsamp >= 0 && subsamp < TJ_NUMSAMP)
		samples = px + 2 * px * 64 / ((size_t)tjMCUWidth[subsamp] * tjMCUHeight[subsamp]);
	else
		samples = px * 3;
	return (size_t)w * 4 * 64 + (progressive ? samples * 2 : 0);
}

/*
 * Replaces the image at the top of the stack by its upright view for EXIF
 * orientation o (2..8), as Pillow's ImageOps.exif_transpose: 2 mirrored,
 * 3 turned 180, 4 flipped, 5 transposed, 6 turned 90 clockwise, 7
 * transversed, 8 turned 90 anticlockwise. [-1, +1, m]
 */
static void orient_image(lua_State *L, int o)
{
	const cs_image *in = check_image(L, -1);
	int w = in->width, h = in->height, c = in->channels;
	bool swap = o >= 5;
	int ow = swap ? h : w, oh = swap ? w : h;
	cs_image *out = image_push(L, ow, oh, c);

	for (int y = 0; y < oh; y++) {
		unsigned char *d = out->data + (size_t)y * ow * c;

		for (int x = 0; x < ow; x++, d += c) {
			int sx, sy;

			switch (o) {
			case 2: sx = w - 1 - x; sy = y; break;
			case 3: sx = w - 1 - x; sy = h - 1 - y; break;
			case 4: sx = x; sy = h - 1 - y; break;
			case 5: sx = y; sy = x; break;
			case 6: sx = y; sy = h - 1 - x; break;
			case 7: sx = w - 1 - y; sy = h - 1 - x; break;
			default: sx = w - 1 - y; sy = x; break;
			}
			memcpy(d, in->data + ((size_t)sy * w + (size_t)sx) * c, (size_t)c);
		}
	}
	lua_remove(L, -2);
}

/* ------------------------------------------------------------ decoding */

enum format { F_UNKNOWN, F_JPEG, F_PNG };

/* The format named by the first bytes; raises for known others. */
static enum format sniff(lua_State *L, const unsigned char *p, size_t len)
{
	static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

	if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return F_JPEG;
	if (len >= 8 && memcmp(p, png, 8) == 0)
		return F_PNG;
	if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		cs_lua_raise(L, CS_EUNSUPPORTED, "image.decode: GIF images are not accepted (JPEG or PNG only)");
	if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		cs_lua_raise(L, CS_EUNSUPPORTED, "image.decode: WebP images are not accepted (JPEG or PNG only)");
	if (len >= 2 && p[0] == 'B' && p[1] == 'M')
		cs_lua_raise(L, CS_EUNSUPPORTED, "image.decode: BMP images are not accepted (JPEG or PNG only)");
	if (len >= 4 && (memcmp(p, "II*", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
		cs_lua_raise(L, CS_EUNSUPPORTED, "image.decode: TIFF images are not accepted (JPEG or PNG only)");
	return F_UNKNOWN;
}

/* Adobe (inverted) CMYK -> RGB, as Pillow converts a CMYK JPEG. */
static void cmyk_to_rgb(const unsigned char *src, unsigned char *dst, size_t n)
{
	for (size_t i = 0; i < n; i++, src += 4, dst += 3) {
		int nk = src[3]; /* stored inverted: 255 - K */

		for (int c = 0; c < 3; c++) {
			int ink = 255 - src[c];
			int t = ink * nk + 128;
			int v = nk - (((t >> 8) + t) >> 8);

			dst[c] = (unsigned char)(v < 0 ? 0 : v);
		}
	}
}

/*
 * Raises a 400 with TurboJPEG's message. The handle is dropped: after a
 * failure it may keep state that spoils the next image.
 */
static void jpeg_fail(lua_State *L, image_env *e, const char *what)
{
	char msg[JMSG_LENGTH_MAX_CS];

	snprintf(msg, sizeof msg, "%s", tjGetErrorStr2(e->dec));
	tjDestroy(e->dec);
	e->dec = NULL;
	cs_lua_raise(L, CS_EINVAL, "image.decode: %s: %s", what, msg);
}

/*
 * Pillow's draft(): the largest DCT scale 1/8, 1/4, 1/2 that keeps the
 * image at least dw x dh (1 when no draft is asked for).
 */
static int draft_denom(int w, int h, int dw, int dh)
{
	int scale;

	if (dw <= 0 || dh <= 0)
		return 1;
	scale = w / dw < h / dh ? w / dw : h / dh;
	return scale >= 8 ? 8 : scale >= 4 ? 4 : scale >= 2 ? 2 : 1;
}

/* Leaves the image on the stack and returns its EXIF orientation (1..8). */
static int decode_jpeg(lua_State *L, image_env *e, const unsigned char *buf,
		       size_t len, int channels, int dw, int dh)
{
	int w, h, subsamp, cs, denom;
	jpeg_markers jm = read_markers(buf, len);
	size_t reserve;
	cs_image *im;
	unsigned char *tmp;
	int pf;

	if (!e->dec && !(e->dec = tjInitDecompress()))
		luaL_error(L, "image.decode: cannot create a JPEG decoder: %s",
			   tjGetErrorStr2(NULL));
	if (tjDecompressHeader3(e->dec, buf, (unsigned long)len, &w, &h, &subsamp, &cs))
		jpeg_fail(L, e, "not a valid JPEG");
	check_pixels(L, e, "JPEG header", (uint32_t)w, (uint32_t)h);
	reserve = jpeg_scratch(w, h, subsamp, cs, jm.progressive);
	denom = draft_denom(w, h, dw, dh);
	w = (w + denom - 1) / denom; /* TJSCALED(w, 1/denom) */
	h = (h + denom - 1) / denom;
	im = image_push(L, w, h, channels);
	if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
		tmp = scratch_push(L, (size_t)w * (size_t)h * 4);
		pf = TJPF_CMYK;
	} else if (channels == 1 && cs == TJCS_GRAY) {
		tmp = im->data;
		pf = TJPF_GRAY;
	} else if (channels == 1) {
		tmp = scratch_push(L, (size_t)w * (size_t)h * 3);
		pf = TJPF_RGB;
	} else {
		tmp = im->data;
		pf = channels == 4 ? TJPF_RGBA : TJPF_RGB;
	}
	/* the decoder's own memory, as a block of the budget it does not touch */
	scratch_push(L, reserve);
	if (tjDecompress2(e->dec, buf, (unsigned long)len, tmp, w, 0, h, pf, 0))
		jpeg_fail(L, e, tjGetErrorCode(e->dec) == TJERR_FATAL ?
			  "cannot decode the JPEG" : "truncated or corrupt JPEG");
	lua_pop(L, 1);
	if (pf == TJPF_CMYK) {
		if (channels == 3) {
			cmyk_to_rgb(tmp, im->data, (size_t)w * (size_t)h);
		} else {
			unsigned char *rgb = scratch_push(L, (size_t)w * (size_t)h * 3);

			cmyk_to_rgb(tmp, rgb, (size_t)w * (size_t)h);
			convert_pixels(rgb, 3, im->data, channels, (size_t)w * (size_t)h);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	} else if (tmp != im->data) {
		convert_pixels(tmp, 3, im->data, 1, (size_t)w * (size_t)h);
		lua_pop(L, 1);
	}
	return jm.orientation;
}

static int png_fail(lua_State *L, guard *g, cs_status st, const char *what, int rc)
{
	guard_release(g);
	return cs_lua_raise(L, st, "image.decode: %s PNG: %s", what, spng_strerror(rc));
}

/* Leaves the image on the stack and returns its EXIF orientation (1..8). */
static int decode_png(lua_State *L, image_env *e, const unsigned char *buf,
		      size_t len, int channels)
{
	struct spng_exif exif;
	int orientation = 1;
	struct spng_ihdr ihdr;
	guard *g = guard_new(L);
	cs_image *im;
	size_t need;
	int fmt, flags = 0, rc;

	g->png = png_ctx_new(L, 0);
	if (!g->png)
		luaL_error(L, "image.decode: cannot create a PNG decoder");
	/* ancillary chunks (text, ICC) are bounded by the input itself */
	spng_set_chunk_limits(g->png, len, len);
	spng_set_crc_action(g->png, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
	if ((rc = spng_set_png_buffer(g->png, buf, len)))
		png_fail(L, g, CS_EINVAL, "not a valid", rc);
	if ((rc = spng_get_ihdr(g->png, &ihdr)))
		png_fail(L, g, CS_EINVAL, "not a valid", rc);
	if ((e->max_pixels && (uint64_t)ihdr.width * ihdr.height > e->max_pixels) ||
	    ihdr.width > MAX_SIDE || ihdr.height > MAX_SIDE || !ihdr.width || !ihdr.height)
		guard_release(g);
	check_pixels(L, e, "PNG header", ihdr.width, ihdr.height);

	if (channels == 1 && ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE &&
	    ihdr.bit_depth <= 8) {
		fmt = SPNG_FMT_G8;
	} else if (channels == 4) {
		fmt = SPNG_FMT_RGBA8;
		flags = SPNG_DECODE_TRNS;
	} else {
		fmt = SPNG_FMT_RGB8;
	}
	if ((rc = spng_decoded_image_size(g->png, fmt, &need)))
		png_fail(L, g, CS_EINVAL, "cannot decode the", rc);
	im = image_push(L, (int32_t)ihdr.width, (int32_t)ihdr.height, channels);
	if (fmt == SPNG_FMT_RGB8 && channels == 1) {
		unsigned char *rgb = scratch_push(L, need);

		if ((rc = spng_decode_image(g->png, rgb, need, fmt, flags)))
			png_fail(L, g, CS_EINVAL, "truncated or corrupt", rc);
		convert_pixels(rgb, 3, im->data, 1, (size_t)ihdr.width * ihdr.height);
		lua_pop(L, 1);
	} else {
		if (need != im->nbytes)
			luaL_error(L, "image.decode: PNG decoder size mismatch");
		if ((rc = spng_decode_image(g->png, im->data, need, fmt, flags)))
			png_fail(L, g, CS_EINVAL, "truncated or corrupt", rc);
	}
	if (spng_get_exif(g->png, &exif) == 0)
		orientation = exif_orientation((const unsigned char *)exif.data, exif.length);
	guard_release(g);
	lua_remove(L, -2); /* the guard */
	return orientation;
}

/* The bytes of a string or of a one-element BYTES tensor at idx. */
static const unsigned char *input_bytes(lua_State *L, int idx, size_t *len)
{
	cs_tensor *t;

	if (lua_type(L, idx) == LUA_TSTRING)
		return (const unsigned char *)lua_tolstring(L, idx, len);
	t = cs_lua_tensor_test(L, idx);
	if (t && t->dtype == CS_BYTES) {
		const unsigned char *p = t->data;
		uint32_t n;

		if (cs_shape_numel(t->ndim, t->shape) != 1)
			cs_lua_raise(L, CS_EINVAL, "image.decode: a BYTES tensor must hold one encoded image, this one has %I elements",
				      (lua_Integer)cs_shape_numel(t->ndim, t->shape));
		if (t->nbytes < 4)
			cs_lua_raise(L, CS_EINVAL, "image.decode: malformed BYTES tensor");
		n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 24;
		if ((size_t)n > t->nbytes - 4)
			cs_lua_raise(L, CS_EINVAL, "image.decode: malformed BYTES tensor");
		*len = n;
		return p + 4;
	}
	if (lua_isnoneornil(L, idx))
		cs_lua_raise(L, CS_EINVAL, "image.decode: no image (got nil; expected the bytes of a JPEG or PNG)");
	luaL_argerror(L, idx, "expected a string of bytes or a BYTES tensor");
	return NULL;
}

/*
 * image.decode(bytes [, {channels = 1|3|4, draft = {w, h}, orient = bool}])
 * -> image. draft: a JPEG may be decoded at 1/2, 1/4 or 1/8 of its size (in
 * the DCT, much faster) as long as it stays at least w x h, as Pillow's
 * draft(). orient (default true): the EXIF orientation is applied, as
 * Pillow's ImageOps.exif_transpose, so the image is upright.
 * A string second argument is ignored, so
 * image.decode(cs.input_bytes(req)) works.
 */
static int l_decode(lua_State *L)
{
	image_env *e = env_of(L);
	size_t len;
	const unsigned char *buf = input_bytes(L, 1, &len);
	lua_Integer channels = 3, dw = 0, dh = 0;
	bool orient = true;
	enum format f;
	int o;

	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "channels");
		if (!lua_isnil(L, -1))
			channels = luaL_checkinteger(L, -1);
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "draft") == LUA_TTABLE) {
			lua_rawgeti(L, -1, 1);
			lua_rawgeti(L, -2, 2);
			dw = luaL_checkinteger(L, -2);
			dh = luaL_checkinteger(L, -1);
			luaL_argcheck(L, dw >= 1 && dh >= 1 && dw <= MAX_SIDE && dh <= MAX_SIDE, 2,
				      "draft must be {width, height}, 1..65535");
			lua_pop(L, 2);
		} else if (!lua_isnil(L, -1)) {
			luaL_argerror(L, 2, "draft must be {width, height}");
		}
		lua_pop(L, 1);
		if (lua_getfield(L, 2, "orient") != LUA_TNIL) {
			luaL_argcheck(L, lua_isboolean(L, -1), 2, "orient must be true or false");
			orient = lua_toboolean(L, -1);
		}
		lua_pop(L, 1);
		luaL_argcheck(L, channels == 1 || channels == 3 || channels == 4, 2,
			      "channels must be 1, 3 or 4");
	} else if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TSTRING) {
		/* a string: the content type cs.input_bytes returns beside the
		 * bytes; the format is read from the bytes themselves */
		luaL_argerror(L, 2, "expected a table of options");
	}
	if (len == 0)
		return cs_lua_raise(L, CS_EINVAL, "image.decode: the image is empty (0 bytes); expected a JPEG or PNG");
	if (e->max_bytes && len > e->max_bytes)
		return cs_lua_raise(L, CS_ETOOLARGE,
				     "image.decode: the image has %I bytes, over the limit of %I (limits.max_image_bytes)",
				     (lua_Integer)len, (lua_Integer)e->max_bytes);
	f = sniff(L, buf, len);
	lua_settop(L, 2);
	if (f == F_JPEG)
		o = decode_jpeg(L, e, buf, len, (int)channels, (int)dw, (int)dh);
	else if (f == F_PNG)
		o = decode_png(L, e, buf, len, (int)channels);
	else
		return cs_lua_raise(L, CS_EINVAL, "image.decode: not a JPEG or PNG image (unrecognised first bytes)");
	if (orient && o != 1)
		orient_image(L, o);
	return 1;
}

/* image.is(x) */
static int l_is(lua_State *L)
{
	lua_pushboolean(L, luaL_testudata(L, 1, CS_LUA_IMAGE_MT) != NULL);
	return 1;
}

/* ------------------------------------------------------------ resampling */

/* Pillow's bilinear (triangle) filter, support 1. */
static double triangle(double x)
{
	if (x < 0)
		x = -x;
	return x < 1 ? 1 - x : 0;
}

/*
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc: for each output
 * position its first input, count and fixed-point weights (ksize each).
 */
static int coeffs(lua_State *L, int in, int out, int **bounds_out, int32_t **kk_out)
{
	double scale = (double)in / out;
	double filterscale = scale < 1 ? 1 : scale;
	double support = 1.0 * filterscale;
	int ksize = (int)ceil(support) * 2 + 1;
	double *pre = (double *)scratch_push(L, (size_t)ksize * sizeof(double));
	int32_t *kk = (int32_t *)scratch_push(L, (size_t)out * (size_t)ksize * sizeof(int32_t));
	int *bounds = (int *)scratch_push(L, (size_t)out * 2 * sizeof(int));

	for (int xx = 0; xx < out; xx++) {
		double center = (xx + 0.5) * scale;
		double ww = 0, ss = 1.0 / filterscale;
		int xmin = (int)(center - support + 0.5), xmax, x;

		if (xmin < 0)
			xmin = 0;
		xmax = (int)(center + support + 0.5);
		if (xmax > in)
			xmax = in;
		xmax -= xmin;
		for (x = 0; x < xmax; x++) {
			double w = triangle((x + xmin - center + 0.5) * ss);

			pre[x] = w;
			ww += w;
		}
		for (x = 0; x < ksize; x++) {
			double w = x < xmax && ww != 0.0 ? pre[x] / ww : 0;

			kk[xx * ksize + x] = w < 0 ?
				(int32_t)(-0.5 + w * (1 << PRECISION_BITS)) :
				(int32_t)(0.5 + w * (1 << PRECISION_BITS));
		}
		bounds[xx * 2] = xmin;
		bounds[xx * 2 + 1] = xmax;
	}
	*bounds_out = bounds;
	*kk_out = kk;
	return ksize;
}

static unsigned char clip8(int32_t v)
{
	v >>= PRECISION_BITS;
	return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/*
 * The resampling loops are written for the vectoriser, which gcc runs at
 * -O2 only for loops of known length: ask for it here.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define VECTORISE __attribute__((optimize("tree-vectorize")))
#else
#define VECTORISE
#endif
#if defined(__GNUC__)
#define ALWAYS_INLINE __attribute__((always_inline))
#else
#define ALWAYS_INLINE
#endif
/* ... and for AVX2 beside the baseline, picked at load time (ifunc). Not
 * under ThreadSanitizer: an ifunc resolver runs while the dynamic linker
 * relocates, before the TSan runtime is up, and its instrumented entry
 * crashes the program. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
	!defined(__SANITIZE_THREAD__)
#define MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSION
#endif

/*
 * The horizontal pass works on blocks of HBLOCK rows, transposed so that
 * one input column of the block (HBLOCK pixels) is contiguous: every output
 * pixel is then a weighted sum of whole columns, the vertical pass's loop
 * over HBLOCK x c lanes, which vectorises. The sums are the same integers as
 * Pillow's pixel-by-pixel loop, so the result is too.
 */
#define HBLOCK 16
#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL_HBLOCK _Pragma("GCC unroll 16")
#else
#define UNROLL_HBLOCK
#endif

/*
 * Rows 0 .. rows - 1 of src into the column-major block tr. With 3
 * channels a pixel moves as 4 bytes, the fourth overwritten by the next
 * pixel written (tr has 4 bytes of slack); the last column of a row is read
 * as 3, so nothing past the row is read.
 */
VECTORISE static inline ALWAYS_INLINE void transpose_in(const unsigned char *src,
							 size_t sstride, int sw, int rows,
							 int c, unsigned char *tr)
{
	const int lanes = HBLOCK * c;
	int x;

	if (c != 3) {
		for (int r = 0; r < rows; r++) {
			const unsigned char *s = src + (size_t)r * sstride;
			unsigned char *t = tr + r * c;

			for (x = 0; x < sw; x++, s += c, t += lanes)
				memcpy(t, s, (size_t)c);
		}
		return;
	}
	for (x = 0; x < sw - 1; x++) {
		const unsigned char *s = src + (size_t)x * 3;
		unsigned char *t = tr + (size_t)x * lanes;

		if (rows == HBLOCK) {
			UNROLL_HBLOCK
			for (int r = 0; r < HBLOCK; r++, t += 3, s += sstride)
				memcpy(t, s, 4);
		} else {
			for (int r = 0; r < rows; r++, t += 3, s += sstride)
				memcpy(t, s, 4);
		}
	}
	for (int r = 0; r < rows; r++)
		memcpy(tr + (size_t)x * lanes + r * 3, src + (size_t)r * sstride + (size_t)x * 3, 3);
}

/* The output columns of one block, written back row-major into dst. */
VECTORISE static inline ALWAYS_INLINE void hpass_block(const unsigned char *tr, int c, unsigned char *dst,
			       size_t dstride, int rows, int dw, int ksize,
			       const int *b, const int32_t *kk)
{
	const int lanes = HBLOCK * c;
	int32_t acc[HBLOCK * 4];
	unsigned char px[HBLOCK * 4 + 1] = {0}; /* a spare byte: pixels move as 4 bytes */

	for (int x = 0; x < dw; x++) {
		const unsigned char *col = tr + (size_t)b[x * 2] * lanes;
		const int32_t *k = kk + x * ksize;
		int n = b[x * 2 + 1];
		unsigned char *o = dst + (size_t)x * c;

		for (int j = 0; j < lanes; j++)
			acc[j] = 1 << (PRECISION_BITS - 1);
		for (int i = 0; i < n; i++, col += lanes) {
			int32_t w = k[i];

			for (int j = 0; j < lanes; j++)
				acc[j] += col[j] * w;
		}
		for (int j = 0; j < lanes; j++) {
			int32_t v = acc[j] >> PRECISION_BITS;

			v = v < 0 ? 0 : v;
			px[j] = (unsigned char)(v > 255 ? 255 : v);
		}
		/* 3 channels as 4 bytes, the fourth rewritten by pixel x + 1 */
		if (c == 3 && x + 1 < dw && rows == HBLOCK) {
			UNROLL_HBLOCK
			for (int r = 0; r < HBLOCK; r++)
				memcpy(o + (size_t)r * dstride, px + r * 3, 4);
		} else if (c == 3 && x + 1 < dw) {
			for (int r = 0; r < rows; r++)
				memcpy(o + (size_t)r * dstride, px + r * 3, 4);
		} else {
			for (int r = 0; r < rows; r++)
				memcpy(o + (size_t)r * dstride, px + r * c, (size_t)c);
		}
	}
}

/* One block, with c a constant in each call so the lane loops unroll. */
MULTIVERSION VECTORISE static void hpass(const unsigned char *src, int sw, int rows, int c,
			    unsigned char *tr, unsigned char *dst, int dw, int ksize,
			    const int *b, const int32_t *kk)
{
	size_t ss = (size_t)sw * c, ds = (size_t)dw * c;

	switch (c) {
	case 1:
		transpose_in(src, ss, sw, rows, 1, tr);
		hpass_block(tr, 1, dst, ds, rows, dw, ksize, b, kk);
		break;
	case 3:
		transpose_in(src, ss, sw, rows, 3, tr);
		hpass_block(tr, 3, dst, ds, rows, dw, ksize, b, kk);
		break;
	default:
		transpose_in(src, ss, sw, rows, 4, tr);
		hpass_block(tr, 4, dst, ds, rows, dw, ksize, b, kk);
		break;
	}
}

/* The horizontal pass: h rows of sw pixels into h rows of dw. */
static void resample_h(lua_State *L, const unsigned char *src, int sw, int h, int c,
		       unsigned char *dst, int dw, int ksize, const int *b,
		       const int32_t *kk)
{
	size_t tn = (size_t)sw * HBLOCK * c + 4;
	unsigned char *tr = scratch_push(L, tn);

	memset(tr, 0, tn); /* the lanes of a short last block stay defined */
	for (int y = 0; y < h; y += HBLOCK) {
		int rows = h - y < HBLOCK ? h - y : HBLOCK;

		hpass(src + (size_t)y * sw * c, sw, rows, c, tr,
		      dst + (size_t)y * dw * c, dw, ksize, b, kk);
	}
	lua_pop(L, 1);
}

/* The vertical pass: whole rows at a time into an accumulator row. */
MULTIVERSION VECTORISE static void resample_v(lua_State *L, const unsigned char *src, int w, int c,
		       unsigned char *dst, int dh, int ksize, const int *b,
		       const int32_t *kk)
{
	size_t stride = (size_t)w * c;
	int32_t *acc = (int32_t *)scratch_push(L, stride * sizeof(int32_t));

	for (int y = 0; y < dh; y++) {
		const int32_t *k = kk + y * ksize;
		const unsigned char *base = src + (size_t)b[y * 2] * stride;
		int n = b[y * 2 + 1];
		unsigned char *o = dst + (size_t)y * stride;

		for (size_t j = 0; j < stride; j++)
			acc[j] = 1 << (PRECISION_BITS - 1);
		for (int i = 0; i < n; i++) {
			const unsigned char *row = base + (size_t)i * stride;
			int32_t wt = k[i];

			for (size_t j = 0; j < stride; j++)
				acc[j] += row[j] * wt;
		}
		for (size_t j = 0; j < stride; j++)
			o[j] = clip8(acc[j]);
	}
	lua_pop(L, 1);
}

/*
 * Pillow's NEAREST: the source pixel under each output pixel's centre,
 * with the centres accumulated step by step as Pillow's affine scaler does
 * (a product would round differently at some pixels).
 */
static void resize_nearest(lua_State *L, const cs_image *in, cs_image *out)
{
	int c = in->channels;
	double sx = (double)in->width / out->width, sy = (double)in->height / out->height;
	int *xs = (int *)scratch_push(L, (size_t)out->width * sizeof(int));
	double o = 0.5 * sx;

	for (int x = 0; x < out->width; x++, o += sx)
		xs[x] = o >= in->width ? in->width - 1 : (int)o;
	o = 0.5 * sy;
	for (int y = 0; y < out->height; y++, o += sy) {
		int iy = o >= in->height ? in->height - 1 : (int)o;
		const unsigned char *row = in->data + (size_t)iy * in->width * c;
		unsigned char *dst = out->data + (size_t)y * out->width * c;

		for (int x = 0; x < out->width; x++)
			memcpy(dst + (size_t)x * c, row + (size_t)xs[x] * c, (size_t)c);
	}
}

static int64_t check_side(lua_State *L, int idx, const char *what)
{
	lua_Integer v = luaL_checkinteger(L, idx);

	if (v < 1 || v > MAX_SIDE)
		luaL_error(L, "image: %s must be 1..%d, got %I", what, MAX_SIDE, v);
	return v;
}

/*
 * img:resize(w, h [, "bilinear"|"nearest"]) or img:resize(short [, filter]):
 * the second keeps the aspect ratio with the shorter side `short`, as
 * torchvision's Resize(int) does.
 */
static int m_resize(lua_State *L)
{
	static const char *const filters[] = {"bilinear", "nearest", NULL};
	cs_image *in = check_image(L, 1), *out;
	image_env *e = env_of(L);
	int64_t w, h;
	int filter, top;

	if (lua_type(L, 3) == LUA_TNUMBER) {
		w = check_side(L, 2, "width");
		h = check_side(L, 3, "height");
		filter = luaL_checkoption(L, 4, "bilinear", filters);
	} else {
		int64_t s = check_side(L, 2, "size");

		filter = luaL_checkoption(L, 3, "bilinear", filters);
		if (in->width <= in->height) {
			w = s;
			h = (int64_t)((double)s * in->height / in->width);
		} else {
			h = s;
			w = (int64_t)((double)s * in->width / in->height);
		}
		if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
			luaL_error(L, "image:resize: %I x %I is out of range", (lua_Integer)w,
				   (lua_Integer)h);
	}
	if (e->max_pixels && (uint64_t)w * (uint64_t)h > e->max_pixels)
		return cs_lua_raise(L, CS_ETOOLARGE, "image:resize: %Ix%I is over the limit of %I pixels (limits.max_image_pixels)",
				     (lua_Integer)w, (lua_Integer)h, (lua_Integer)e->max_pixels);
	lua_settop(L, 1);
	out = image_push(L, (int32_t)w, (int32_t)h, in->channels);
	top = lua_gettop(L);
	if (w == in->width && h == in->height) {
		memcpy(out->data, in->data, in->nbytes);
	} else if (filter == 1) {
		resize_nearest(L, in, out);
	} else if (h == in->height) {
		int *b;
		int32_t *kk;
		int ks = coeffs(L, in->width, (int)w, &b, &kk);

		resample_h(L, in->data, in->width, in->height, in->channels, out->data,
			   (int)w, ks, b, kk);
	} else if (w == in->width) {
		int *b;
		int32_t *kk;
		int ks = coeffs(L, in->height, (int)h, &b, &kk);

		resample_v(L, in->data, in->width, in->channels, out->data, (int)h, ks, b, kk);
	} else {
		int *bx, *by;
		int32_t *kx, *ky;
		int ksx = coeffs(L, in->width, (int)w, &bx, &kx);
		int ksy = coeffs(L, in->height, (int)h, &by, &ky);
		int first = by[0], last = by[(h - 1) * 2] + by[(h - 1) * 2 + 1];
		unsigned char *mid;

		/* only the rows the vertical pass reads, as Pillow does */
		mid = scratch_push(L, (size_t)(last - first) * (size_t)w * in->channels);
		resample_h(L, in->data + (size_t)first * in->width * in->channels, in->width,
			   last - first, in->channels, mid, (int)w, ksx, bx, kx);
		for (int y = 0; y < h; y++)
			by[y * 2] -= first;
		resample_v(L, mid, (int)w, in->channels, out->data, (int)h, ksy, by, ky);
	}
	lua_settop(L, top);
	return 1;
}

/* ------------------------------------------------------------ crops */

static cs_image *crop(lua_State *L, const cs_image *in, int64_t x, int64_t y,
		      int64_t w, int64_t h)
{
	cs_image *out;
	size_t row;

	if (w < 1 || h < 1)
		luaL_error(L, "image:crop: width and height must be at least 1");
	if (x < 0 || y < 0 || x + w > in->width || y + h > in->height)
		cs_lua_raise(L, CS_EINVAL,
			      "image:crop: the box %Ix%I at (%I,%I) is outside the %dx%d image",
			      (lua_Integer)w, (lua_Integer)h, (lua_Integer)x, (lua_Integer)y,
			      (int)in->width, (int)in->height);
	out = image_push(L, (int32_t)w, (int32_t)h, in->channels);
	row = (size_t)w * in->channels;
	for (int64_t r = 0; r < h; r++)
		memcpy(out->data + (size_t)r * row,
		       in->data + ((size_t)(y + r) * in->width + (size_t)x) * in->channels, row);
	return out;
}

/* img:crop(x, y, w, h): x, y the 0-based offset of the top-left corner. */
static int m_crop(lua_State *L)
{
	cs_image *in = check_image(L, 1);

	crop(L, in, luaL_checkinteger(L, 2), luaL_checkinteger(L, 3),
	     luaL_checkinteger(L, 4), luaL_checkinteger(L, 5));
	return 1;
}

/* Python's round() of d / 2 for d >= 0: halves go to the even neighbour. */
static int64_t half_even(int64_t d)
{
	int64_t q = d / 2;

	if (d % 2 == 0)
		return q;
	return q % 2 == 0 ? q : q + 1;
}

/* img:center_crop(w [, h]): torchvision's CenterCrop offsets. */
static int m_center_crop(lua_State *L)
{
	cs_image *in = check_image(L, 1);
	int64_t w = luaL_checkinteger(L, 2);
	int64_t h = luaL_optinteger(L, 3, w);

	if (w > in->width || h > in->height)
		return cs_lua_raise(L, CS_EINVAL, "image:center_crop: %Ix%I is larger than the %dx%d image",
				     (lua_Integer)w, (lua_Integer)h, (int)in->width,
				     (int)in->height);
	crop(L, in, half_even(in->width - w), half_even(in->height - h), w, h);
	return 1;
}

/* ------------------------------------------------------------ to_tensor */

/* Reads opts[key] as one number per channel (a number or an array). */
static void per_channel(lua_State *L, int opts, const char *key, int c,
			double dflt, double *out)
{
	for (int i = 0; i < c; i++)
		out[i] = dflt;
	if (opts == 0)
		return;
	lua_getfield(L, opts, key);
	if (lua_type(L, -1) == LUA_TNUMBER) {
		for (int i = 0; i < c; i++)
			out[i] = lua_tonumber(L, -1);
	} else if (lua_istable(L, -1)) {
		if (luaL_len(L, -1) != c)
			luaL_error(L, "image:to_tensor: '%s' must have %d values (one per channel), it has %I",
				   key, c, luaL_len(L, -1));
		for (int i = 0; i < c; i++) {
			lua_rawgeti(L, -1, i + 1);
			if (lua_type(L, -1) != LUA_TNUMBER)
				luaL_error(L, "image:to_tensor: '%s' must hold numbers", key);
			out[i] = lua_tonumber(L, -1);
			lua_pop(L, 1);
		}
	} else if (!lua_isnil(L, -1)) {
		luaL_error(L, "image:to_tensor: '%s' must be a number or an array", key);
	}
	lua_pop(L, 1);
}

/*
 * img:to_tensor{layout = "NCHW"|"NHWC"|"CHW"|"HWC", dtype = "FP32"|"UINT8",
 * mean = {...}, std = {...}, scale = 1/255}: FP32 values are
 * (pixel * scale - mean[c]) / std[c]; UINT8 gives the pixels as they are.
 */
static int m_to_tensor(lua_State *L)
{
	static const char *const layouts[] = {"NCHW", "NHWC", "CHW", "HWC", NULL};
	cs_image *im = check_image(L, 1);
	int c = im->channels, opts = lua_istable(L, 2) ? 2 : 0;
	int layout = 0, chw;
	double mean[4], stdv[4], scale = 0; /* 0: divide by 255 */
	float add[4];
	const char *dtype = "FP32";
	int64_t shape[4];
	int32_t nd = 0;
	size_t n = (size_t)im->width * im->height;
	cs_tensor *t;

	if (!opts && !lua_isnoneornil(L, 2))
		luaL_argerror(L, 2, "expected a table of options");
	if (opts) {
		lua_getfield(L, opts, "layout");
		layout = luaL_checkoption(L, -1, "NCHW", layouts);
		lua_getfield(L, opts, "dtype");
		dtype = luaL_optstring(L, -1, "FP32");
		lua_getfield(L, opts, "scale");
		scale = luaL_optnumber(L, -1, 0);
		lua_pop(L, 3);
	}
	if (strcmp(dtype, "FP32") != 0 && strcmp(dtype, "UINT8") != 0)
		luaL_error(L, "image:to_tensor: dtype must be FP32 or UINT8, got '%s'", dtype);
	per_channel(L, opts, "mean", c, 0.0, mean);
	per_channel(L, opts, "std", c, 1.0, stdv);
	for (int i = 0; i < c; i++) {
		if (stdv[i] == 0)
			luaL_error(L, "image:to_tensor: std must not be 0");
		add[i] = (float)mean[i];
	}
	chw = layout == 0 || layout == 2;
	if (layout <= 1)
		shape[nd++] = 1;
	if (chw) {
		shape[nd++] = c;
		shape[nd++] = im->height;
		shape[nd++] = im->width;
	} else {
		shape[nd++] = im->height;
		shape[nd++] = im->width;
		shape[nd++] = c;
	}
	if (dtype[0] == 'U') {
		t = cs_lua_tensor_new(L, CS_UINT8, nd, shape, im->nbytes);
		if (!chw) {
			memcpy(t->data, im->data, im->nbytes);
		} else {
			unsigned char *d = t->data;

			for (int ch = 0; ch < c; ch++)
				for (size_t i = 0; i < n; i++)
					d[(size_t)ch * n + i] = im->data[i * c + ch];
		}
		return 1;
	}
	t = cs_lua_tensor_new(L, CS_FP32, nd, shape, im->nbytes * sizeof(float));
	{
		float *d = t->data;
		float lut[4][256];
		float sd[4];

		for (int ch = 0; ch < c; ch++) {
			sd[ch] = (float)stdv[ch];
			/* in float, as torchvision's ToTensor + Normalize */
			for (int v = 0; v < 256; v++) {
				float x = scale == 0 ? (float)v / 255.0f : (float)v * (float)scale;

				lut[ch][v] = (x - add[ch]) / sd[ch];
			}
		}
		if (chw) {
			for (int ch = 0; ch < c; ch++) {
				float *o = d + (size_t)ch * n;
				const unsigned char *p = im->data + ch;
				const float *l = lut[ch];

				for (size_t i = 0; i < n; i++)
					o[i] = l[p[i * c]];
			}
		} else {
			for (size_t i = 0; i < n * c; i++)
				d[i] = lut[i % c][im->data[i]];
		}
	}
	return 1;
}

/* ------------------------------------------------------------ PNG out */

/* Pushes the PNG encoding of 8-bit pixels (c = 1, 3 or 4). [-0, +1, m] */
static void push_png(lua_State *L, const unsigned char *px, int w, int h, int c)
{
	struct spng_ihdr ihdr;
	guard *g = guard_new(L);
	size_t len = 0;
	int rc;

	memset(&ihdr, 0, sizeof ihdr);
	ihdr.width = (uint32_t)w;
	ihdr.height = (uint32_t)h;
	ihdr.bit_depth = 8;
	ihdr.color_type = c == 1 ? SPNG_COLOR_TYPE_GRAYSCALE :
			  c == 3 ? SPNG_COLOR_TYPE_TRUECOLOR :
			  SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
	g->png = png_ctx_new(L, SPNG_CTX_ENCODER);
	if (!g->png)
		luaL_error(L, "to_png: cannot create a PNG encoder");
	spng_set_option(g->png, SPNG_ENCODE_TO_BUFFER, 1);
	if ((rc = spng_set_ihdr(g->png, &ihdr)) ||
	    (rc = spng_encode_image(g->png, px, (size_t)w * h * c, SPNG_FMT_PNG,
				    SPNG_ENCODE_FINALIZE))) {
		guard_release(g);
		luaL_error(L, "to_png: %s", spng_strerror(rc));
	}
	g->buf = spng_get_png_buffer(g->png, &len, &rc);
	if (!g->buf) {
		guard_release(g);
		luaL_error(L, "to_png: %s", spng_strerror(rc));
	}
	lua_pushlstring(L, g->buf, len);
	guard_release(g);
	lua_remove(L, -2);
}

/* img:to_png() -> the PNG file as a string */
static int m_image_to_png(lua_State *L)
{
	cs_image *im = check_image(L, 1);

	push_png(L, im->data, im->width, im->height, im->channels);
	return 1;
}

/* Reads element i of a numeric tensor as a double. */
static double elem(const cs_tensor *t, size_t i)
{
	switch (t->dtype) {
	case CS_UINT8: return ((const uint8_t *)t->data)[i];
	case CS_INT8: return ((const int8_t *)t->data)[i];
	case CS_UINT16: return ((const uint16_t *)t->data)[i];
	case CS_INT16: return ((const int16_t *)t->data)[i];
	case CS_INT32: return ((const int32_t *)t->data)[i];
	case CS_UINT32: return ((const uint32_t *)t->data)[i];
	case CS_INT64: return (double)((const int64_t *)t->data)[i];
	case CS_UINT64: return (double)((const uint64_t *)t->data)[i];
	case CS_FP32: return ((const float *)t->data)[i];
	case CS_FP64: return ((const double *)t->data)[i];
	default: return 0;
	}
}

static bool is_channels(int64_t c)
{
	return c == 1 || c == 3 || c == 4;
}

/*
 * tensor:to_png([{layout = "HW"|"HWC"|"CHW"|"NHWC"|"NCHW", scale = s}]):
 * values times scale (default 255 for FP16/FP32/FP64 in 0..1, else 1),
 * rounded and clamped to 0..255. Without a layout it is guessed from the
 * shape: [H,W], [H,W,C] or [C,H,W], [1,H,W,C] or [1,C,H,W], C in 1, 3, 4.
 */
static int m_tensor_to_png(lua_State *L)
{
	static const char *const layouts[] = {"HW", "HWC", "CHW", "NHWC", "NCHW", NULL};
	cs_tensor *t = cs_lua_tensor_check(L, 1);
	const int64_t *s = t->shape;
	int layout = -1;
	double scale;
	int64_t w, h, c;
	unsigned char *px;
	size_t n;
	bool chw;

	if (t->dtype == CS_BOOL || t->dtype == CS_BYTES || t->dtype == CS_FP16)
		luaL_error(L, "tensor:to_png: a %s tensor cannot be an image", cs_dtype_name(t->dtype));
	scale = t->dtype == CS_FP32 || t->dtype == CS_FP64 ? 255.0 : 1.0;
	if (lua_istable(L, 2)) {
		lua_getfield(L, 2, "layout");
		if (!lua_isnil(L, -1))
			layout = luaL_checkoption(L, -1, NULL, layouts);
		lua_getfield(L, 2, "scale");
		scale = luaL_optnumber(L, -1, scale);
		lua_pop(L, 2);
	}
	if (layout < 0) {
		if (t->ndim == 2)
			layout = 0;
		else if (t->ndim == 3)
			layout = is_channels(s[2]) ? 1 : 2;
		else if (t->ndim == 4 && s[0] == 1)
			layout = is_channels(s[3]) ? 3 : 4;
		else
			luaL_error(L, "tensor:to_png: cannot read a [H,W], [H,W,C], [C,H,W] or [1,...] image from shape with %d dimensions",
				   (int)t->ndim);
	}
	if (t->ndim != (layout == 0 ? 2 : layout <= 2 ? 3 : 4) ||
	    (layout >= 3 && s[0] != 1))
		luaL_error(L, "tensor:to_png: the shape does not fit layout %s", layouts[layout]);
	{
		const int64_t *d = layout >= 3 ? s + 1 : s;

		chw = layout == 2 || layout == 4;
		c = layout == 0 ? 1 : chw ? d[0] : d[2];
		h = chw ? d[1] : d[0];
		w = chw ? d[2] : d[1];
	}
	if (!is_channels(c) || w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
		luaL_error(L, "tensor:to_png: %I channels of %Ix%I pixels is no PNG (1, 3 or 4 channels)",
			   (lua_Integer)c, (lua_Integer)w, (lua_Integer)h);
	n = (size_t)w * (size_t)h;
	px = scratch_push(L, n * (size_t)c);
	for (size_t i = 0; i < n; i++) {
		for (int64_t ch = 0; ch < c; ch++) {
			double v = elem(t, chw ? (size_t)ch * n + i : i * (size_t)c + (size_t)ch) * scale;

			v = v != v ? 0 : v < 0 ? 0 : v > 255 ? 255 : v;
			px[i * (size_t)c + (size_t)ch] = (unsigned char)lrint(v);
		}
	}
	push_png(L, px, (int)w, (int)h, (int)c);
	return 1;
}

/* ------------------------------------------------------------ metatable */

static int m_index(lua_State *L)
{
	cs_image *im = check_image(L, 1);
	const char *k = lua_tostring(L, 2);

	if (k && strcmp(k, "width") == 0)
		lua_pushinteger(L, im->width);
	else if (k && strcmp(k, "height") == 0)
		lua_pushinteger(L, im->height);
	else if (k && strcmp(k, "channels") == 0)
		lua_pushinteger(L, im->channels);
	else {
		lua_pushvalue(L, 2);
		lua_rawget(L, lua_upvalueindex(1)); /* the methods */
	}
	return 1;
}

static int m_tostring(lua_State *L)
{
	cs_image *im = check_image(L, 1);

	lua_pushfstring(L, "image<%dx%dx%d>", (int)im->width, (int)im->height,
			(int)im->channels);
	return 1;
}

/* img:bytes(): the pixels, row by row, interleaved. */
static int m_bytes(lua_State *L)
{
	cs_image *im = check_image(L, 1);

	lua_pushlstring(L, (const char *)im->data, im->nbytes);
	return 1;
}

static const luaL_Reg image_methods[] = {
	{"resize", m_resize},
	{"crop", m_crop},
	{"center_crop", m_center_crop},
	{"to_tensor", m_to_tensor},
	{"to_png", m_image_to_png},
	{"bytes", m_bytes},
	{NULL, NULL},
};

static const luaL_Reg image_funcs[] = {
	{"decode", l_decode},
	{"is", l_is},
	{NULL, NULL},
};

void cs_lua_image_open(lua_State *L, uint64_t max_pixels, size_t max_bytes)
{
	image_env *e;

	luaL_newmetatable(L, GUARD_MT);
	lua_pushcfunction(L, guard_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);

	luaL_newmetatable(L, ENV_MT);
	lua_pushcfunction(L, env_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);

	/* the env: the upvalue of every function here */
	e = lua_newuserdatauv(L, sizeof(*e), 0);
	e->max_pixels = max_pixels;
	e->max_bytes = max_bytes;
	e->dec = NULL;
	luaL_setmetatable(L, ENV_MT);

	luaL_newmetatable(L, CS_LUA_IMAGE_MT);
	luaL_newlibtable(L, image_methods);
	lua_pushvalue(L, -3);
	luaL_setfuncs(L, image_methods, 1);
	lua_pushcclosure(L, m_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, m_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, CS_LUA_IMAGE_MT);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);

	luaL_newlibtable(L, image_funcs);
	lua_insert(L, -2);
	luaL_setfuncs(L, image_funcs, 1);
	lua_setglobal(L, "image");

	/* tensor:to_png */
	luaL_getmetatable(L, CS_LUA_TENSOR_MT);
	lua_getfield(L, -1, "__index");
	if (lua_istable(L, -1)) {
		lua_pushcfunction(L, m_tensor_to_png);
		lua_setfield(L, -2, "to_png");
	}
	lua_pop(L, 2);
}
