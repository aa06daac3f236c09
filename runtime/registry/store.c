/*
 * store.c - the content-addressed model store (see store.h), on nettle's
 * sha256.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include <cubeserve/plugin.h>

#include "registry/store.h"

static void to_hex(const uint8_t *d, char hex[CS_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = '\0';
}

void cs_sha256_hex(const void *data, size_t len, char hex[CS_SHA256_HEX])
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof d, d);
	to_hex(d, hex);
}

int cs_sha256_valid(const char *s)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

/* Hashes an open fd from where it is to its end. */
static int hash_fd(int fd, char hex[CS_SHA256_HEX], size_t *size)
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	static __thread uint8_t buf[1 << 16];
	size_t total = 0;
	ssize_t n;

	sha256_init(&ctx);
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
		total += (size_t)n;
	}
	sha256_digest(&ctx, sizeof d, d);
	to_hex(d, hex);
	if (size)
		*size = total;
	return 0;
}

int cs_sha256_file(const char *path, char hex[CS_SHA256_HEX], size_t *size,
		   char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		return CS_EIO;
	}
	if (hash_fd(fd, hex, size) != 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		close(fd);
		return CS_EIO;
	}
	close(fd);
	return CS_OK;
}

/* mkdir -p for one path (mode 0755). */
static int mkdirs(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof buf) {
		snprintf(err, errlen, "store path '%s' is empty or too long", path);
		return CS_EINVAL;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create '%s': %s",
					 buf, strerror(errno));
				return CS_EIO;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	return CS_OK;
}

int cs_store_init(const char *root, char *err, size_t errlen)
{
	char p[PATH_MAX];
	static const char *const sub[] = {"sha256", "trees", "tmp"};

	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", root, sub[i]);
		if (mkdirs(p, err, errlen) != CS_OK)
			return CS_EIO;
	}
	return CS_OK;
}

void cs_store_blob_path(const char *root, const char *hex, char *out,
			size_t outlen)
{
	snprintf(out, outlen, "%s/sha256/%.2s/%s", root, hex, hex);
}

/* A fresh temp file under ROOT/tmp; its path goes into tmp. */
static int open_tmp(const char *root, char *tmp, size_t tmplen, char *err,
		    size_t errlen)
{
	int fd;

	snprintf(tmp, tmplen, "%s/tmp/blob.XXXXXX", root);
	fd = mkstemp(tmp);
	if (fd < 0)
		snprintf(err, errlen, "cannot create a file in '%s/tmp': %s",
			 root, strerror(errno));
	return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Moves a complete temp file to its blob path (read-only), unless the blob
 * exists already; *created says which.
 */
static int commit_tmp(const char *root, const char *tmp, const char *hex,
		      int *created, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof dir, "%s/sha256/%.2s", root, hex);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		unlink(tmp);
		return CS_EIO;
	}
	cs_store_blob_path(root, hex, path, sizeof path);
	if (created)
		*created = 0;
	if (stat(path, &st) == 0) {
		unlink(tmp);
		return CS_OK;
	}
	chmod(tmp, 0444);
	/* link() fails with EEXIST when a concurrent writer got there first */
	if (link(tmp, path) == 0) {
		if (created)
			*created = 1;
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot store '%s': %s", path, strerror(errno));
		unlink(tmp);
		return CS_EIO;
	}
	unlink(tmp);
	return CS_OK;
}

int cs_store_put_data(const char *root, const void *data, size_t len,
		      char hex[CS_SHA256_HEX], int *created, char *err,
		      size_t errlen)
{
	char tmp[PATH_MAX];
	int fd;

	if (cs_store_init(root, err, errlen) != CS_OK)
		return CS_EIO;
	cs_sha256_hex(data, len, hex);
	fd = open_tmp(root, tmp, sizeof tmp, err, errlen);
	if (fd < 0)
		return CS_EIO;
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return CS_EIO;
	}
	close(fd);
	return commit_tmp(root, tmp, hex, created, err, errlen);
}

int cs_store_put_file(const char *root, const char *src,
		      char hex[CS_SHA256_HEX], int *created, char *err,
		      size_t errlen)
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	static __thread uint8_t buf[1 << 16];
	char tmp[PATH_MAX];
	int in, out;
	ssize_t n;

	if (cs_store_init(root, err, errlen) != CS_OK)
		return CS_EIO;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", src, strerror(errno));
		return CS_EIO;
	}
	out = open_tmp(root, tmp, sizeof tmp, err, errlen);
	if (out < 0)
		goto out_close_in;
	/* hash what is copied, so the digest is the stored content's */
	sha256_init(&ctx);
	for (;;) {
		n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", src, strerror(errno));
			goto out_unlink;
		}
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
		if (write_all(out, buf, (size_t)n) != 0) {
			snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
			goto out_unlink;
		}
	}
	if (fsync(out) != 0) {
		snprintf(err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	sha256_digest(&ctx, sizeof d, d);
	to_hex(d, hex);
	close(out);
	close(in);
	return commit_tmp(root, tmp, hex, created, err, errlen);

out_unlink:
	close(out);
	unlink(tmp);
out_close_in:
	close(in);
	return CS_EIO;
}

int cs_store_verify(const char *root, const char *hex, char *err,
		    size_t errlen)
{
	char path[PATH_MAX], got[CS_SHA256_HEX];
	int fd;

	if (!cs_sha256_valid(hex)) {
		snprintf(err, errlen, "'%s' is not a sha256 digest", hex ? hex : "(null)");
		return CS_EINVAL;
	}
	cs_store_blob_path(root, hex, path, sizeof path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "blob %s is missing from the store (%s): %s",
			 hex, path, strerror(errno));
		return CS_ENOTFOUND;
	}
	if (hash_fd(fd, got, NULL) != 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		close(fd);
		return CS_EIO;
	}
	close(fd);
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "blob '%s' is corrupt: its content hashes to sha256 %s, expected %s",
			 path, got, hex);
		return CS_EFORMAT;
	}
	return CS_OK;
}

int cs_store_remove(const char *root, const char *hex, char *err,
		    size_t errlen)
{
	char path[PATH_MAX];

	if (!cs_sha256_valid(hex)) {
		snprintf(err, errlen, "'%s' is not a sha256 digest", hex ? hex : "(null)");
		return CS_EINVAL;
	}
	cs_store_blob_path(root, hex, path, sizeof path);
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove '%s': %s", path, strerror(errno));
		return CS_EIO;
	}
	return CS_OK;
}

static int plain_name(const char *s)
{
	return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0 && strlen(s) < 200;
}

/* Removes a directory of plain files (a half-built tree). */
static void remove_flat_dir(const char *dir, const cs_store_file *files,
			    size_t n)
{
	char p[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		if (snprintf(p, sizeof p, "%s/%s", dir, files[i].name) < (int)sizeof p)
			unlink(p);
	}
	rmdir(dir);
}

int cs_store_tree(const char *root, const cs_store_file *files, size_t n,
		  char **dir, char *err, size_t errlen)
{
	char key[CS_SHA256_HEX], final[PATH_MAX], tmp[PATH_MAX], blob[PATH_MAX];
	char p[PATH_MAX], *abs;
	size_t listlen = 0, off = 0;
	char *list;
	struct stat st;
	int rc;

	*dir = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!plain_name(files[i].name)) {
			snprintf(err, errlen, "'%s' is not a plain file name",
				 files[i].name ? files[i].name : "(null)");
			return CS_EINVAL;
		}
		rc = cs_store_verify(root, files[i].sha256, err, errlen);
		if (rc != CS_OK)
			return rc;
		listlen += strlen(files[i].name) + 66;
	}
	/* the tree's name: the digest of its (name, blob) list */
	list = malloc(listlen + 1);
	if (!list)
		return CS_ENOMEM;
	for (size_t i = 0; i < n; i++)
		off += (size_t)sprintf(list + off, "%s %s\n", files[i].sha256,
				       files[i].name);
	cs_sha256_hex(list, off, key);
	free(list);

	snprintf(final, sizeof final, "%s/trees/%s", root, key);
	if (stat(final, &st) != 0) {
		if (cs_store_init(root, err, errlen) != CS_OK)
			return CS_EIO;
		snprintf(tmp, sizeof tmp, "%s/tmp/tree.XXXXXX", root);
		if (!mkdtemp(tmp)) {
			snprintf(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
			return CS_EIO;
		}
		for (size_t i = 0; i < n; i++) {
			cs_store_blob_path(root, files[i].sha256, blob, sizeof blob);
			if (snprintf(p, sizeof p, "%s/%s", tmp, files[i].name) >= (int)sizeof p ||
			    link(blob, p) != 0) {
				snprintf(err, errlen, "cannot link '%s' to '%s': %s",
					 p, blob, strerror(errno));
				remove_flat_dir(tmp, files, n);
				return CS_EIO;
			}
		}
		chmod(tmp, 0755);
		/* a concurrent builder may have won: then use its tree */
		if (rename(tmp, final) != 0) {
			int e = errno;

			remove_flat_dir(tmp, files, n);
			if (e != EEXIST && e != ENOTEMPTY) {
				snprintf(err, errlen, "cannot create '%s': %s",
					 final, strerror(e));
				return CS_EIO;
			}
		}
	}
	abs = realpath(final, NULL);
	if (!abs) {
		snprintf(err, errlen, "cannot resolve '%s': %s", final, strerror(errno));
		return CS_EIO;
	}
	*dir = abs;
	return CS_OK;
}
