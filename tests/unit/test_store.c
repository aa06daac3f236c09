/*
 * test_store.c - the content-addressed model store: sha256 (FIPS 180-2
 * test vectors), dedup, verification, model directories.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cubeserve/plugin.h>

#include "registry/store.h"
#include "tap.h"

static char root[64];

static void make_root(void)
{
	snprintf(root, sizeof root, "/tmp/cs-store.XXXXXX");
	if (!mkdtemp(root))
		abort();
}

static void rm_root(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
}

static int count_blobs(void)
{
	char cmd[160], buf[32] = "0";
	FILE *p;

	snprintf(cmd, sizeof cmd, "find '%s/sha256' -type f | wc -l", root);
	p = popen(cmd, "r");
	if (!p || !fgets(buf, sizeof buf, p))
		abort();
	pclose(p);
	return atoi(buf);
}

TEST(sha256_vectors)
{
	char hex[CS_SHA256_HEX];
	char *million = malloc(1000000);

	cs_sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cs_sha256_hex("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	cs_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', 1000000);
	cs_sha256_hex(million, 1000000, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
	CHECK(cs_sha256_valid(hex));
	CHECK(!cs_sha256_valid("abc"));
	CHECK(!cs_sha256_valid("CDC76E5C9914FB9281A1C7E284D73E67F1809A48A497200E046D39CCC7112CD0"));
}

TEST(sha256_file_matches_buffer)
{
	char hex[CS_SHA256_HEX], err[256], path[128];
	size_t size = 0;
	FILE *f;

	make_root();
	snprintf(path, sizeof path, "%s/f", root);
	f = fopen(path, "w");
	fputs("abc", f);
	fclose(f);
	CHECK(cs_sha256_file(path, hex, &size, err, sizeof err) == CS_OK);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK(size == 3);
	CHECK(cs_sha256_file("/nonexistent/x", hex, NULL, err, sizeof err) == CS_EIO);
	CHECK_HAS(err, "/nonexistent/x");
	rm_root();
}

TEST(put_twice_stores_once)
{
	char a[CS_SHA256_HEX], b[CS_SHA256_HEX], err[256], path[256];
	int created = -1;

	make_root();
	CHECK(cs_store_put_data(root, "weights", 7, a, &created, err, sizeof err) == CS_OK);
	CHECK(created == 1);
	CHECK(cs_store_put_data(root, "weights", 7, b, &created, err, sizeof err) == CS_OK);
	CHECK(created == 0);
	CHECK_STR(a, b);
	CHECK(count_blobs() == 1);
	/* a file with the same content is the same blob */
	snprintf(path, sizeof path, "%s/w.json", root);
	{
		FILE *f = fopen(path, "w");

		fputs("weights", f);
		fclose(f);
	}
	CHECK(cs_store_put_file(root, path, b, &created, err, sizeof err) == CS_OK);
	CHECK(created == 0);
	CHECK_STR(a, b);
	CHECK(count_blobs() == 1);
	cs_store_blob_path(root, a, path, sizeof path);
	CHECK(access(path, R_OK) == 0);
	CHECK(access(path, W_OK) != 0 || getuid() == 0); /* read-only */
	rm_root();
}

TEST(verify_detects_corruption_and_absence)
{
	char hex[CS_SHA256_HEX], err[512], path[256];
	int fd;

	make_root();
	CHECK(cs_store_put_data(root, "model", 5, hex, NULL, err, sizeof err) == CS_OK);
	CHECK(cs_store_verify(root, hex, err, sizeof err) == CS_OK);
	cs_store_blob_path(root, hex, path, sizeof path);
	chmod(path, 0644);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK(write(fd, "MODEL", 5) == 5);
	close(fd);
	CHECK(cs_store_verify(root, hex, err, sizeof err) == CS_EFORMAT);
	CHECK_HAS(err, "corrupt");
	CHECK_HAS(err, hex);
	CHECK(cs_store_remove(root, hex, err, sizeof err) == CS_OK);
	CHECK(cs_store_verify(root, hex, err, sizeof err) == CS_ENOTFOUND);
	CHECK_HAS(err, "missing");
	CHECK(cs_store_verify(root, "not-a-digest", err, sizeof err) == CS_EINVAL);
	rm_root();
}

TEST(tree_links_files_by_name)
{
	char m[CS_SHA256_HEX], w[CS_SHA256_HEX], err[512], path[512], buf[32];
	char *dir = NULL, *dir2 = NULL;
	cs_store_file files[2];
	FILE *f;

	make_root();
	CHECK(cs_store_put_data(root, "{\"m\":1}", 7, m, NULL, err, sizeof err) == CS_OK);
	CHECK(cs_store_put_data(root, "W", 1, w, NULL, err, sizeof err) == CS_OK);
	files[0] = (cs_store_file){"model.json", m};
	files[1] = (cs_store_file){"weights.json", w};
	CHECK(cs_store_tree(root, files, 2, &dir, err, sizeof err) == CS_OK);
	snprintf(path, sizeof path, "%s/weights.json", dir ? dir : "");
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof buf, f) && strcmp(buf, "W") == 0);
	if (f)
		fclose(f);
	/* the same files give the same directory */
	CHECK(cs_store_tree(root, files, 2, &dir2, err, sizeof err) == CS_OK);
	CHECK_STR(dir, dir2);
	free(dir2);
	/* names with a slash are refused; a missing blob is named */
	files[1] = (cs_store_file){"../x", w};
	CHECK(cs_store_tree(root, files, 2, &dir2, err, sizeof err) == CS_EINVAL);
	files[1] = (cs_store_file){"w", "0000000000000000000000000000000000000000000000000000000000000000"};
	CHECK(cs_store_tree(root, files, 2, &dir2, err, sizeof err) == CS_ENOTFOUND);
	CHECK(dir2 == NULL);
	free(dir);
	rm_root();
}

int main(void)
{
	RUN(sha256_vectors);
	RUN(sha256_file_matches_buffer);
	RUN(put_twice_stores_once);
	RUN(verify_detects_corruption_and_absence);
	RUN(tree_links_files_by_name);
	return tap_done();
}
