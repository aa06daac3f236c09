/*
 * webstore.c - a model's web/ folder in the model store (webstore.h).
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cubeserve/plugin.h>

#include "registry/webstore.h"

/* Walks dir/rel, storing files; depth bounds the recursion. */
static int walk(const char *root, const char *dir, const char *rel, int depth,
		json_t *files, json_t *created, char *err, size_t errlen)
{
	char p[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = CS_OK;

	if (depth > 8) {
		snprintf(err, errlen, "web/%s: more than 8 directories deep", rel);
		return CS_EINVAL;
	}
	snprintf(p, sizeof p, "%s%s%s", dir, *rel ? "/" : "", rel);
	d = opendir(p);
	if (!d) {
		snprintf(err, errlen, "cannot read '%s': %s", p, strerror(errno));
		return CS_EIO;
	}
	while (rc == CS_OK && (de = readdir(d))) {
		struct stat sb;
		char full[PATH_MAX * 2];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		if (de->d_name[0] == '.') {
			snprintf(err, errlen, "web/%s: names starting with '.' are not served", sub);
			rc = CS_EINVAL;
			break;
		}
		snprintf(full, sizeof full, "%s/%s", p, de->d_name);
		if (lstat(full, &sb) != 0) {
			snprintf(err, errlen, "cannot stat '%s': %s", full, strerror(errno));
			rc = CS_EIO;
		} else if (S_ISDIR(sb.st_mode)) {
			rc = walk(root, dir, sub, depth + 1, files, created, err, errlen);
		} else if (S_ISREG(sb.st_mode)) {
			char hex[CS_SHA256_HEX];
			int made = 0;

			if (json_object_size(files) >= CS_WEB_MAX_FILES) {
				snprintf(err, errlen, "web/ has more than %d files", CS_WEB_MAX_FILES);
				rc = CS_ETOOLARGE;
				break;
			}
			rc = cs_store_put_file(root, full, hex, &made, err, errlen);
			if (rc == CS_OK) {
				json_object_set_new(files, sub, json_string(hex));
				if (made)
					json_array_append_new(created, json_string(hex));
			}
		} else {
			snprintf(err, errlen, "web/%s is not a regular file or a directory%s", sub,
				 S_ISLNK(sb.st_mode) ? " (a symbolic link)" : "");
			rc = CS_EINVAL;
		}
	}
	closedir(d);
	return rc;
}

/* The listing's digest: "sha path\n" lines in path order. */
static void listing_hex(json_t *files, char hex[CS_SHA256_HEX])
{
	char *s = json_dumps(files, JSON_COMPACT | JSON_SORT_KEYS);

	cs_sha256_hex(s ? s : "", s ? strlen(s) : 0, hex);
	free(s);
}

int cs_web_store(const char *root, const char *dir, json_t **files,
		 json_t **created, char hex[CS_SHA256_HEX], char *err,
		 size_t errlen)
{
	json_t *f = json_object(), *c = json_array();
	int rc;

	*files = NULL;
	rc = walk(root, dir, "", 0, f, c, err, errlen);
	if (rc != CS_OK) {
		json_decref(f);
		if (created)
			*created = c;
		else
			json_decref(c);
		return rc;
	}
	listing_hex(f, hex);
	*files = f;
	if (created)
		*created = c;
	else
		json_decref(c);
	return CS_OK;
}

/* Whether p is a relative path of plain segments (no "", ".", ".." or dot-files). */
static int safe_rel(const char *p)
{
	const char *s = p;

	if (!*p || *p == '/')
		return 0;
	while (*s) {
		size_t l = strcspn(s, "/");

		if (l == 0 || s[0] == '.')
			return 0;
		s += l;
		if (*s == '/')
			s++;
		else
			break;
	}
	return p[strlen(p) - 1] != '/';
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

/* mkdir -p of the parent folders of path (below base). */
static int mkparents(const char *path, size_t base)
{
	char p[PATH_MAX * 2];

	if (strlen(path) >= sizeof p || base >= strlen(path))
		return -1;
	memcpy(p, path, strlen(path) + 1);
	for (char *s = p + base + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	}
	return 0;
}

int cs_web_tree(const char *root, json_t *files, const char *hex, char **dir,
		char *err, size_t errlen)
{
	char final[PATH_MAX], tmp[PATH_MAX], blob[PATH_MAX], p[PATH_MAX * 2];
	const char *rel;
	json_t *sha;
	struct stat st;
	int rc;

	*dir = NULL;
	if (!cs_sha256_valid(hex) || !json_is_object(files)) {
		snprintf(err, errlen, "not a web folder record (digest '%s')", hex ? hex : "");
		return CS_EINVAL;
	}
	snprintf(final, sizeof final, "%s/web/%s", root, hex);
	if (stat(final, &st) == 0 && S_ISDIR(st.st_mode))
		goto out_done;
	json_object_foreach(files, rel, sha) {
		if (!safe_rel(rel) || !json_is_string(sha)) {
			snprintf(err, errlen, "web file '%s' has an unsafe name", rel);
			return CS_EINVAL;
		}
		rc = cs_store_verify(root, json_string_value(sha), err, errlen);
		if (rc != CS_OK)
			return rc;
	}
	if (cs_store_init(root, err, errlen) != CS_OK)
		return CS_EIO;
	snprintf(p, sizeof p, "%s/web", root);
	mkdir(p, 0755);
	snprintf(tmp, sizeof tmp, "%s/tmp/web.XXXXXX", root);
	if (!mkdtemp(tmp)) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
		return CS_EIO;
	}
	json_object_foreach(files, rel, sha) {
		cs_store_blob_path(root, json_string_value(sha), blob, sizeof blob);
		snprintf(p, sizeof p, "%s/%s", tmp, rel);
		if (mkparents(p, strlen(tmp)) != 0 || link(blob, p) != 0) {
			snprintf(err, errlen, "cannot link '%s' to '%s': %s", p, blob, strerror(errno));
			nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
			return CS_EIO;
		}
	}
	chmod(tmp, 0755);
	if (rename(tmp, final) != 0) {
		int e = errno;

		nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		if (e != EEXIST && e != ENOTEMPTY) {
			snprintf(err, errlen, "cannot create '%s': %s", final, strerror(e));
			return CS_EIO;
		}
	}
out_done:
	*dir = strdup(final);
	return *dir ? CS_OK : CS_ENOMEM;
}

int cs_web_remove(const char *root, const char *hex, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;

	if (!cs_sha256_valid(hex)) {
		snprintf(err, errlen, "not a web folder digest: '%s'", hex ? hex : "");
		return CS_EINVAL;
	}
	snprintf(dir, sizeof dir, "%s/web/%s", root, hex);
	if (lstat(dir, &st) != 0)
		return CS_OK;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (lstat(dir, &st) == 0) {
		snprintf(err, errlen, "cannot delete '%s'", dir);
		return CS_EIO;
	}
	return CS_OK;
}
