/* test_metrics.c - the shared-memory scoreboard and its Prometheus text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

#include "serve/metrics.h"

static char path[128];

static cs_metrics *open_board(const char *p, const char *model)
{
	char err[512] = "";
	cs_metrics *m = NULL;

	if (cs_metrics_open(p, "unix:/test", model, 0.25, &m, err, sizeof err) != 0)
		printf("#   open: %s\n", err);
	return m;
}

/* The value of a sample line "name{labels} value" in text, or -1. */
static double sample(const char *text, const char *key)
{
	const char *p = text;
	size_t n = strlen(key);

	while ((p = strstr(p, key))) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

TEST(counts_and_text)
{
	cs_metrics *m = open_board("anon", "lin");
	size_t len;
	char *t;

	CHECK(m != NULL);
	cs_metrics_begin(m);
	cs_metrics_infer(m, 0.003);
	cs_metrics_end(m, CS_EP_V2_INFER, 200, 0.004, 0.0001);
	cs_metrics_begin(m);
	cs_metrics_end(m, CS_EP_CALL, 404, 0.2, -1);
	cs_metrics_begin(m); /* still in flight */
	t = cs_metrics_render(m, "1.0", "native", &len);
	CHECK(t != NULL && strlen(t) == len);
	CHECK(sample(t, "cubeserve_requests_total{model=\"lin\",endpoint=\"v2_infer\",code=\"2xx\"}") == 1);
	CHECK(sample(t, "cubeserve_requests_total{model=\"lin\",endpoint=\"call\",code=\"4xx\"}") == 1);
	CHECK(sample(t, "cubeserve_request_duration_seconds_bucket{model=\"lin\",le=\"0.005\"}") == 1);
	CHECK(sample(t, "cubeserve_request_duration_seconds_bucket{model=\"lin\",le=\"+Inf\"}") == 2);
	CHECK(sample(t, "cubeserve_request_duration_seconds_count{model=\"lin\"}") == 2);
	CHECK(sample(t, "cubeserve_queue_duration_seconds_count{model=\"lin\"}") == 1);
	CHECK(sample(t, "cubeserve_inference_duration_seconds_count{model=\"lin\"}") == 1);
	CHECK(sample(t, "cubeserve_requests_in_flight{model=\"lin\"}") == 1);
	CHECK(sample(t, "cubeserve_model_load_seconds{model=\"lin\"}") == 0.25);
	CHECK(sample(t, "cubeserve_resident_memory_bytes{model=\"lin\"}") > 100000);
	CHECK(sample(t, "cubeserve_processes{model=\"lin\"}") == 1);
	CHECK_HAS(t, "# TYPE cubeserve_request_duration_seconds histogram\n");
	free(t);
	cs_metrics_close(m);
}

/* Children forked after the open count into the same board. */
TEST(forked_children_share)
{
	cs_metrics *m = open_board("anon", "pool");
	int fds[2];
	size_t len;
	char *t, c;

	CHECK(m != NULL && pipe(fds) == 0);
	for (int k = 0; k < 3; k++) {
		pid_t pid = fork();

		if (pid == 0) {
			for (int i = 0; i < 10; i++) {
				cs_metrics_begin(m);
				cs_metrics_end(m, CS_EP_CALL, 200, 0.001, -1);
			}
			if (write(fds[1], "x", 1) != 1)
				_exit(1);
			sleep(2); /* alive while the parent reads */
			_exit(0);
		}
	}
	for (int k = 0; k < 3; k++)
		CHECK(read(fds[0], &c, 1) == 1);
	t = cs_metrics_render(m, "1", "p", &len);
	CHECK(sample(t, "cubeserve_requests_total{model=\"pool\",endpoint=\"call\",code=\"2xx\"}") == 30);
	/* three children + the parent rendering */
	CHECK(sample(t, "cubeserve_processes{model=\"pool\"}") == 4);
	free(t);
	while (wait(NULL) > 0)
		;
	/* dead processes' counts stay; they no longer count as processes */
	t = cs_metrics_render(m, "1", "p", &len);
	CHECK(sample(t, "cubeserve_requests_total{model=\"pool\",endpoint=\"call\",code=\"2xx\"}") == 30);
	CHECK(sample(t, "cubeserve_processes{model=\"pool\"}") == 1);
	free(t);
	cs_metrics_close(m);
}

/* Separately started processes (spawn-fcgi -F) share a board by its file. */
TEST(file_board_across_exec)
{
	cs_metrics *a, *b;
	size_t len;
	char *t;
	pid_t pid;
	int st;

	snprintf(path, sizeof path, "/tmp/cs-test-metrics-%d.scoreboard", (int)getpid());
	unlink(path);
	a = open_board(path, "filemodel");
	CHECK(a != NULL);
	cs_metrics_begin(a);
	cs_metrics_end(a, CS_EP_API, 500, 0.01, -1);
	pid = fork();
	if (pid == 0) { /* a fresh open, as an exec'd process would do */
		cs_metrics *c = open_board(path, "filemodel");

		if (!c)
			_exit(1);
		cs_metrics_begin(c);
		cs_metrics_end(c, CS_EP_API, 500, 0.01, -1);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	b = open_board(path, "filemodel");
	t = cs_metrics_render(b, "1", "p", &len);
	CHECK(sample(t, "cubeserve_requests_total{model=\"filemodel\",endpoint=\"api\",code=\"5xx\"}") == 2);
	free(t);
	/* another model's board is refused */
	{
		char err[512] = "";
		cs_metrics *x = NULL;

		CHECK(cs_metrics_open(path, NULL, "other", 0, &x, err, sizeof err) != 0);
		CHECK_HAS(err, "belongs to model 'filemodel'");
	}
	cs_metrics_close(b);
	cs_metrics_close(a);
	CHECK(access(path, F_OK) != 0); /* the last one removed it */
	unlink(path);
}

TEST(null_is_harmless)
{
	size_t len;

	cs_metrics_begin(NULL);
	cs_metrics_end(NULL, CS_EP_CALL, 200, 0, 0);
	cs_metrics_infer(NULL, 0);
	CHECK(cs_metrics_render(NULL, "", "", &len) == NULL);
	cs_metrics_close(NULL);
}

int main(void)
{
	RUN(counts_and_text);
	RUN(forked_children_share);
	RUN(file_board_across_exec);
	RUN(null_is_harmless);
	return tap_done();
}
