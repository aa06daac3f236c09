/*
 * pool.h - one instance of a deployment: a prefork master
 * (`cubeserve-worker --processes N`) under spawn-fcgi on its own unix
 * socket, started through a watcher that records how it ended.
 *
 * A pool is a JSON object kept in the deployment's `pools` field
 * (docs/registry.md): id, version, role, socket, pid (the master),
 * scoreboard, host, started, until. Its scoreboard path is unique and on
 * the command line of the master and of every child it forks, so the
 * processes of a pool are found by it (also children orphaned by a killed
 * master, which go on serving until a replacement is in the route).
 * Internal to the command; not thread-safe.
 */
#ifndef CS_POOL_H
#define CS_POOL_H

#include <jansson.h>

#include "cli.h"

/*
 * Starts pool id of name@version with `processes` children; on CS_OK *out
 * is the new pool object (role "staging"). Does not wait for readiness.
 */
int pool_start(cs_cli *cli, const char *name, const char *version, long long id,
	       int processes, json_t **out, char *err, size_t errlen);

/*
 * Waits until the pool answers GET /models/NAME with 200 over its socket,
 * then runs the version's example (example_json, may be NULL or "")
 * through POST /models/NAME. CS_OK, or a failure with err (and the log's
 * tail printed).
 */
int pool_wait_ready(cs_cli *cli, const char *name, json_t *pool,
		    const char *example_json, int timeout_s, char *err,
		    size_t errlen);

/* Whether the pool's master runs (pid alive and still this pool's). */
int pool_alive(const char *name, const json_t *pool);

/* Whether the pool's socket accepts connections (its master or orphans). */
int pool_serving(const json_t *pool);

/*
 * Stops every process of the pool: TERM to the master (its children
 * finish the requests in flight), and to children a dead master left;
 * KILL after grace_ms. Removes the socket. Returns 0 when all are gone.
 */
int pool_stop(cs_cli *cli, const char *name, const json_t *pool, int grace_ms);

/* The number of children of the pool's master, or -1. */
int pool_children(const json_t *pool);

/*
 * Brings the master's child count to n by TTIN/TTOU, one signal at a
 * time, each awaited (bounded) when blocking. Returns 0 when it has n.
 */
int pool_scale(const json_t *pool, int n, int blocking);

/*
 * How the pool's master ended ("was killed by signal 9 (Killed)", "exited
 * with status 1"), from its watcher's file, into buf; "" when unknown.
 */
void pool_exit_reason(cs_cli *cli, const char *name, const json_t *pool,
		      char *buf, size_t len);

/* Milliseconds since the epoch. */
long long pool_wall_ms(void);

#endif
