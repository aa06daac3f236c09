/*
 * fcgi_hello.c - the smallest useful libfcgi responder: the baseline (b)
 * of bench/http.sh. Reads and discards the request body, answers a tiny
 * JSON. Serves the listening socket on fd 0 (spawn-fcgi).
 *
 *   fcgi_hello [N]    N responder processes (default 1) sharing fd 0
 *
 * Each responder is a plain FCGX_Accept_r loop, so it stays on a kept-alive
 * connection until nginx closes it: the pinning that bench/http.sh shows.
 * SIGTERM to the parent stops the children too.
 *
 * Build: gcc -O2 -o fcgi_hello fcgi_hello.c -lfcgi
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#define MAX_CHILDREN 256

static const char body[] = "{\"hello\":\"world\"}\n";

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int serve(void)
{
	FCGX_Request req;
	char buf[4096];

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	/* libfcgi may have taken SIGTERM; a baseline just dies on it */
	signal(SIGTERM, SIG_DFL);
	while (FCGX_Accept_r(&req) >= 0) {
		while (FCGX_GetStr(buf, sizeof buf, req.in) > 0)
			;
		FCGX_FPrintF(req.out, "Status: 200 OK\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %d\r\n\r\n", (int)sizeof body - 1);
		FCGX_PutStr(body, (int)sizeof body - 1, req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}

int main(int argc, char **argv)
{
	pid_t kids[MAX_CHILDREN];
	int n = argc > 1 ? atoi(argv[1]) : 1;
	struct sigaction sa;

	if (n < 1 || n > MAX_CHILDREN) {
		fprintf(stderr, "fcgi_hello: N must be 1..%d\n", MAX_CHILDREN);
		return 2;
	}
	if (n == 1)
		return serve();

	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("fcgi_hello: fork");
			n = i;
			break;
		}
		if (kids[i] == 0)
			return serve();
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stopping) {
		if (wait(NULL) < 0 && errno == ECHILD)
			return 1;
	}
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
