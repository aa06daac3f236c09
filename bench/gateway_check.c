/*
 * gateway_check.c - the key check alone, in process: how long one
 * cs_gateway_check() of a valid key (Authorization: Bearer) takes against
 * the shared table, for bench/auth.sh. Usage: gateway_check URL MODEL KEY N
 * Prints "ns_per_check=X".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/request.h"
#include "serve/gateway.h"

int main(int argc, char **argv)
{
	cs_gateway_config gc;
	cs_gateway *g = NULL;
	char err[512], path[] = "/tmp/cs-gw-bench.XXXXXX", hdr[256];
	char *envp[2] = {hdr, NULL};
	struct timespec t0, t1;
	cs_request req;
	cs_response resp;
	long n, ok = 0;

	if (argc != 5 || (n = atol(argv[4])) < 1) {
		fprintf(stderr, "usage: gateway_check URL MODEL KEY N\n");
		return 2;
	}
	if (!mkdtemp(path))
		return 1;
	strcat(path, "/table");
	memset(&gc, 0, sizeof gc);
	gc.url = argv[1];
	gc.model = argv[2];
	gc.path = path;
	gc.listen_fd = -1;
	if (cs_gateway_open(&gc, &g, err, sizeof err) != CS_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	snprintf(hdr, sizeof hdr, "HTTP_AUTHORIZATION=Bearer %s", argv[3]);
	memset(&req, 0, sizeof req);
	req.envp = envp;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		memset(&resp, 0, sizeof resp);
		ok += cs_gateway_check(g, &req, &resp) == CS_OK;
		cs_gateway_done(g, 200);
		cs_response_reset(&resp);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cs_gateway_close(g);
	remove(path);
	*strrchr(path, '/') = '\0';
	remove(path);
	if (ok != n) {
		fprintf(stderr, "gateway_check: %ld of %ld checks passed (is the key valid for %s?)\n",
			ok, n, argv[2]);
		return 1;
	}
	printf("ns_per_check=%.0f\n", ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
				       (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n);
	return 0;
}
