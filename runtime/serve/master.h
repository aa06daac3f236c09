/*
 * master.h - the prefork master: one loaded model, N serving children.
 *
 * The master loads the plugin, the model and the glue (including init, so
 * lazily prepared weights are warm) BEFORE forking, so the children share
 * the model copy-on-write. It then only supervises: it respawns a child
 * that dies (with back-off), replaces one that reached max_requests,
 * forwards HUP (glue reload, between requests: nothing is dropped), and on
 * TERM/INT/QUIT lets every child finish its request in flight and exits.
 * TTIN/TTOU add or remove a child.
 *
 * Not thread-safe; runs in the worker's main thread.
 */
#ifndef CS_MASTER_H
#define CS_MASTER_H

#include "serve/server.h"

typedef struct cs_master_opts {
	int processes;              /* children to keep (>= 1) */
	int max_processes;          /* TTIN stops here */
	unsigned long max_requests; /* recycle a child after this many (0: never) */
	int stop_timeout_s;         /* SIGKILL children still running after this */
} cs_master_opts;

/* What cs_master_run() returns: which process the caller now is. */
enum {
	CS_MASTER_DONE = 0,         /* master: clean stop */
	CS_MASTER_FAILED = 1,       /* master: no child could start */
	CS_MASTER_CHILD_DONE = 2,   /* child: served, exit 0 */
	CS_MASTER_CHILD_FAILED = 3, /* child: serving failed, exit 1 */
};

/*
 * Forks and supervises the children. In a child it runs cs_server_run()
 * and returns CS_MASTER_CHILD_DONE when the child should exit (the caller
 * releases its resources and exits 0). In the master it returns
 * CS_MASTER_DONE after a clean stop, CS_MASTER_FAILED when it could not
 * start any child. The caller has installed the stop/reload handlers and
 * blocked those signals (srv->wait_mask is the mask to wait with).
 */
int cs_master_run(cs_server *srv, const cs_master_opts *opts);

#endif
