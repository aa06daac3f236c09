/*
 * fuzz_manifest.c - libFuzzer target: the manifest parser (model.json),
 * through a file, as the worker reads it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "model/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	cs_manifest *m = NULL;
	char err[1024];
	FILE *f;

	if (!path[0]) {
		int fd;

		snprintf(path, sizeof path, "/tmp/cs-fuzz-manifest-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
	}
	f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	if (cs_manifest_load(path, &m, err, sizeof err) == 0)
		cs_manifest_free(m);
	return 0;
}
