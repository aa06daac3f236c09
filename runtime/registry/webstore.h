/*
 * webstore.h - a model's web/ folder (its demo page) in the model store.
 *
 * Every file of the folder is a blob like the model's own files; the
 * folder is recorded as a JSON object "relative/path" -> sha256 (the
 * version's web_files field, docs/registry.md) and named by the sha256 of
 * that listing. The served copy is a tree of hard links to the blobs,
 * STORE/web/<listing sha256>/..., built once and never changed; nginx
 * serves it at /models/NAME/web/.
 *
 * Functions keep no state; they are safe to call from several processes
 * at once (a tree is built in STORE/tmp and renamed into place).
 */
#ifndef CS_WEBSTORE_H
#define CS_WEBSTORE_H

#include <stddef.h>

#include <jansson.h>

#include "registry/store.h"

/* At most this many files in a web folder, at most 8 directories deep. */
#define CS_WEB_MAX_FILES 256

/*
 * Stores every regular file under dir into the store at root. Symbolic
 * links, devices and names starting with '.' are refused (CS_EINVAL, err
 * names the entry); more than CS_WEB_MAX_FILES files is CS_ETOOLARGE. On
 * CS_OK *files is a new object path -> sha256, *created a new array of the
 * sha256 this call added to the store (to delete again when the publish
 * fails), and hex the sha256 of the listing. On failure the blobs this
 * call added are still listed in *created when it is not NULL (else
 * NULL), so the caller can roll them back.
 */
int cs_web_store(const char *root, const char *dir, json_t **files,
		 json_t **created, char hex[CS_SHA256_HEX], char *err,
		 size_t errlen);

/*
 * The served tree of a web folder recorded as files (path -> sha256)
 * with listing digest hex: STORE/web/<hex>, built when missing after
 * verifying every blob. On CS_OK *dir is its path (free() it). Errors:
 * CS_EINVAL (a bad path in files), CS_ENOTFOUND / CS_EFORMAT (a blob
 * missing or corrupt), CS_EIO, with err.
 */
int cs_web_tree(const char *root, json_t *files, const char *hex, char **dir,
		char *err, size_t errlen);

/*
 * Deletes the served tree STORE/web/<hex> (missing is fine; the blobs it
 * links to stay). Returns CS_OK, CS_EINVAL (hex is not a sha256) or
 * CS_EIO, with err.
 */
int cs_web_remove(const char *root, const char *hex, char *err, size_t errlen);

#endif
