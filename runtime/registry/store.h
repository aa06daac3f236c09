/*
 * store.h - the content-addressed model store: every artifact is kept once,
 * under its sha256, and checked against it before a worker loads it.
 *
 * Layout under the store root (docs/registry.md, "The model store"):
 *   ROOT/sha256/ab/abcdef...    one file per distinct content, read-only
 *   ROOT/trees/<key>/NAME       a model directory: hard links to blobs,
 *                               named as the stored manifest expects
 *   ROOT/tmp/                   files being written (renamed into place)
 *
 * A blob is written to tmp/ and renamed, so a reader never sees half a
 * file; two writers of the same content end with one blob. Not a cache:
 * nothing here expires by itself; `cubeserve remove` deletes blobs that no
 * registered version references any more.
 */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stddef.h>

#define CS_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* sha256 of a buffer, as 64 lower-case hex digits. */
void cs_sha256_hex(const void *data, size_t len, char hex[CS_SHA256_HEX]);

/*
 * sha256 of a file's content. Returns CS_OK, or CS_EIO with err naming the
 * file and the reason. *size (when not NULL) gets the file's size.
 */
int cs_sha256_file(const char *path, char hex[CS_SHA256_HEX], size_t *size,
		   char *err, size_t errlen);

/* Whether s is 64 lower-case hex digits. */
int cs_sha256_valid(const char *s);

/*
 * Creates the store's folders under root (mode 0755) when missing.
 * Returns CS_OK or CS_EIO with err.
 */
int cs_store_init(const char *root, char *err, size_t errlen);

/*
 * The path of blob hex under root, written into out (outlen >= strlen(root)
 * + 80). Does not check that it exists.
 */
void cs_store_blob_path(const char *root, const char *hex, char *out,
			size_t outlen);

/*
 * Copies a file into the store. On CS_OK hex is its sha256 and *created
 * (when not NULL) is 1 when this call added the blob, 0 when the same
 * content was already stored. Errors: CS_EIO with err.
 */
int cs_store_put_file(const char *root, const char *src,
		      char hex[CS_SHA256_HEX], int *created, char *err,
		      size_t errlen);

/* Like cs_store_put_file() for a buffer. */
int cs_store_put_data(const char *root, const void *data, size_t len,
		      char hex[CS_SHA256_HEX], int *created, char *err,
		      size_t errlen);

/*
 * Checks that blob hex exists and that its content still hashes to hex.
 * Returns CS_OK, CS_ENOTFOUND (missing) or CS_EFORMAT (corrupt: the
 * message gives both digests), with err.
 */
int cs_store_verify(const char *root, const char *hex, char *err,
		    size_t errlen);

/* Deletes blob hex (missing is fine). Returns CS_OK or CS_EIO. */
int cs_store_remove(const char *root, const char *hex, char *err,
		    size_t errlen);

/* One file of a model directory: its name there and its blob. */
typedef struct cs_store_file {
	const char *name; /* a plain file name: no '/', not "." or ".." */
	const char *sha256;
} cs_store_file;

/*
 * Builds (or finds, when already built) the model directory holding these
 * files, after verifying every blob (cs_store_verify()). On CS_OK *dir is
 * its absolute path (free() it). The directory is shared by every worker
 * of the same files and never changed once complete.
 */
int cs_store_tree(const char *root, const cs_store_file *files, size_t n,
		  char **dir, char *err, size_t errlen);

#endif
