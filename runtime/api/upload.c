/*
 * upload.c - a model directory uploaded as a .tar.gz, unpacked with
 * libarchive into a fresh folder. Every entry is checked before it is
 * written: a plain relative path with no "..", a regular file or a
 * directory (a symbolic link only when it stays inside the folder; hard
 * links, devices and fifos refused), and the total unpacked size bounded.
 * libarchive's own secure-extraction flags (no "..", no writing through
 * a symbolic link) are on as a second guard; absolute entry names are
 * refused here, since every entry is then written under dir's absolute
 * path.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "api/api.h"

/* Whether relative path p stays inside its root ("a/../b" ok, "../a" not). */
static int stays_inside(const char *p)
{
	int depth = 0;
	const char *s = p;

	if (*p == '/')
		return 0;
	while (*s) {
		size_t l = strcspn(s, "/");

		if (l == 2 && strncmp(s, "..", 2) == 0) {
			if (--depth < 0)
				return 0;
		} else if (l > 0 && !(l == 1 && *s == '.')) {
			depth++;
		}
		s += l;
		while (*s == '/')
			s++;
	}
	return 1;
}

/* Whether a symlink at entry path `path` with target `target` stays inside. */
static int link_inside(const char *path, const char *target)
{
	char joined[PATH_MAX * 2];
	const char *sl = strrchr(path, '/');

	if (target[0] == '/')
		return 0;
	snprintf(joined, sizeof joined, "%.*s%s%s", sl ? (int)(sl - path) : 0, path, sl ? "/" : "",
		 target);
	return stays_inside(joined);
}

static int has_dotdot(const char *p)
{
	const char *s = p;

	while (*s) {
		size_t l = strcspn(s, "/");

		if (l == 2 && strncmp(s, "..", 2) == 0)
			return 1;
		s += l;
		while (*s == '/')
			s++;
	}
	return 0;
}

static int is_dir(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int api_untar(const void *data, size_t len, const char *dir, size_t max_bytes,
	      char **model_dir, char *err, size_t errlen)
{
	struct archive *a = archive_read_new(), *w = archive_write_disk_new();
	struct archive_entry *e;
	char path[PATH_MAX * 2], top[256] = "";
	int rc = CS_EFORMAT, r, entries = 0, tops = 0;
	size_t total = 0;

	*model_dir = NULL;
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
				       ARCHIVE_EXTRACT_SECURE_SYMLINKS |
				       ARCHIVE_EXTRACT_NO_OVERWRITE);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		snprintf(err, errlen, "not a .tar.gz: %s", archive_error_string(a));
		goto out;
	}
	for (;;) {
		const char *name, *lt;
		mode_t type;
		const void *buf;
		size_t n;
		la_int64_t off;

		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			snprintf(err, errlen, "not a .tar.gz (or a damaged one): %s",
				 archive_error_string(a) ? archive_error_string(a) : "unreadable header");
			goto out;
		}
		entries++;
		name = archive_entry_pathname(e);
		type = archive_entry_filetype(e);
		if (!name || !*name) {
			snprintf(err, errlen, "entry %d has no name", entries);
			goto out;
		}
		if (name[0] == '/') {
			snprintf(err, errlen, "entry '%.200s' has an absolute path", name);
			goto out;
		}
		if (has_dotdot(name)) {
			snprintf(err, errlen, "entry '%.200s' has '..' in its path", name);
			goto out;
		}
		if (archive_entry_hardlink(e)) {
			snprintf(err, errlen, "entry '%.200s' is a hard link (not allowed)", name);
			goto out;
		}
		if (type == AE_IFLNK) {
			lt = archive_entry_symlink(e);
			if (!lt || !link_inside(name, lt)) {
				snprintf(err, errlen, "entry '%.200s' is a symbolic link to '%.200s', outside the model directory",
					 name, lt ? lt : "");
				goto out;
			}
		} else if (type != AE_IFREG && type != AE_IFDIR) {
			snprintf(err, errlen, "entry '%.200s' is not a file or a directory", name);
			goto out;
		}
		if (archive_entry_size(e) > 0)
			total += (size_t)archive_entry_size(e);
		if (total > max_bytes) {
			snprintf(err, errlen, "the files unpack to more than %zu bytes", max_bytes);
			rc = CS_ETOOLARGE;
			goto out;
		}
		{
			/* the first path segment, to find the model directory */
			size_t l = strcspn(name, "/");

			if (l > 0 && !(l == 1 && name[0] == '.') && l < sizeof top) {
				if (!top[0]) {
					snprintf(top, sizeof top, "%.*s", (int)l, name);
					tops = 1;
				} else if (strlen(top) != l || strncmp(top, name, l) != 0) {
					tops++;
				}
			}
		}
		snprintf(path, sizeof path, "%s/%s", dir, name);
		archive_entry_set_pathname(e, path);
		if (type == AE_IFDIR)
			archive_entry_set_perm(e, 0700);
		else if (type == AE_IFREG)
			archive_entry_set_perm(e, 0600);
		if (archive_write_header(w, e) != ARCHIVE_OK) {
			snprintf(err, errlen, "cannot unpack '%.200s': %s", name, archive_error_string(w));
			goto out;
		}
		while ((r = archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK) {
			if (archive_write_data_block(w, buf, n, off) != ARCHIVE_OK) {
				snprintf(err, errlen, "cannot write '%.200s': %s", name,
					 archive_error_string(w));
				goto out;
			}
		}
		if (r != ARCHIVE_EOF) {
			snprintf(err, errlen, "not a .tar.gz (or a damaged one) at '%.200s': %s", name,
				 archive_error_string(a));
			goto out;
		}
		archive_write_finish_entry(w);
	}
	if (entries == 0) {
		snprintf(err, errlen, "the archive is empty");
		goto out;
	}
	snprintf(path, sizeof path, "%s/model.json", dir);
	if (access(path, F_OK) == 0) {
		*model_dir = strdup(dir);
	} else if (tops == 1) {
		snprintf(path, sizeof path, "%s/%s", dir, top);
		if (is_dir(path)) {
			char mj[PATH_MAX * 2 + 16];

			snprintf(mj, sizeof mj, "%s/model.json", path);
			if (access(mj, F_OK) == 0)
				*model_dir = strdup(path);
		}
	}
	if (!*model_dir) {
		snprintf(err, errlen, "no model.json at the top of the archive (or in its one top-level folder)");
		rc = CS_ENOTFOUND;
		goto out;
	}
	rc = CS_OK;
out:
	archive_read_free(a);
	archive_write_free(w);
	return rc;
}
