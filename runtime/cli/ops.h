/*
 * ops.h - the deployment operations, callable without the command line.
 *
 * Each operation takes the command's context (a cs_cli with the run
 * directory, tool paths and an open registry: cli_registry() first), an
 * options struct, and an error buffer; it returns a cs_status (or one of
 * the CS_OP_* codes below) and on failure writes one sentence into err
 * naming the model, the version and the failing step. Progress lines go
 * through cli_step() (silent with cli->json or cli->quiet). The `cubeserve`
 * subcommands are thin argv wrappers over these; the web console calls them
 * the same way.
 *
 * The model (docs/operations.md, "Desired state"): every operation writes
 * the DESIRED state of a deployment into its registry hash (version,
 * processes, instances, paused, canary version and percent, previous
 * version) under the deployment's lock, then runs one reconcile pass
 * (cs_reconcile) that makes the running pools match it. `cubeserve
 * supervise` (and `cubeserve up`) run the same pass for every deployment
 * every 200 ms, so a crash half-way through an operation, or a pool that
 * dies, is repaired by the next pass.
 *
 * Not thread-safe (one cs_cli per thread). Operations on one model are
 * serialized across processes by a Redis lock; a second operation while
 * one runs gets CS_OP_BUSY with the holder in err.
 */
#ifndef CS_OPS_H
#define CS_OPS_H

#include <stddef.h>

#include "cli.h"

/* Outcomes beyond cs_status; never renumbered. */
enum {
	CS_OP_BUSY = -110,    /* another operation on the model is running */
	CS_OP_REFUSED = -111  /* refused as asked: nothing to promote, ... */
};

#define CS_OP_MAX_PROCESSES 64
#define CS_OP_MAX_INSTANCES 16
#define CS_OP_KEEP_WARM_S 60 /* the previous pool after a switch or promote */

typedef struct cs_deploy_opts {
	const char *name;     /* the model */
	const char *version;  /* NULL: the model's default */
	int processes;        /* children per instance; 0: 1 (or as deployed) */
	int instances;        /* prefork masters per version; 0: 1 (or as deployed) */
	int canary_percent;   /* 1..99: version takes this share next to the
				 deployed one; 0: a full switch */
	int keep_warm_s;      /* -1: CS_OP_KEEP_WARM_S */
	int timeout_s;        /* readiness wait per pool; 0: 60 */
	const char *hosts;    /* "a,b": place the instances on these hosts;
				 NULL: on the live hosts when agents run,
				 else on this machine (place.h) */
} cs_deploy_opts;

/*
 * Deploys name@version, or, when the model is deployed at another
 * version, switches it (canary_percent 0) or adds a canary of it.
 * Refused with CS_REG_DEPLOYED when that version is already deployed;
 * CS_ENOTFOUND for an unknown model or version; CS_EFORMAT when its
 * files fail their sha256; CS_EINVAL for a canary share outside 1..99.
 * On a failed switch the deployed version keeps serving.
 */
int cs_op_deploy(cs_cli *cli, const cs_deploy_opts *o, char *err, size_t errlen);

/* The canary becomes the deployment (CS_OP_REFUSED: no canary). */
int cs_op_promote(cs_cli *cli, const char *name, int keep_warm_s,
		  int timeout_s, char *err, size_t errlen);

/*
 * Drops a canary, or else goes back to the previous version (its warm
 * pool when it still runs, else a new one). CS_OP_REFUSED when there is
 * nothing to go back to.
 */
int cs_op_rollback(cs_cli *cli, const char *name, int timeout_s, char *err,
		   size_t errlen);

/* Children per instance, signalled to the running masters (no new load). */
int cs_op_scale(cs_cli *cli, const char *name, int processes, char *err,
		size_t errlen);

/* Prefork masters per version (fail-over; hosts later). */
int cs_op_instances(cs_cli *cli, const char *name, int instances,
		    int timeout_s, char *err, size_t errlen);

/* pause: the routes answer 503 "paused", then the pools drain and stop. */
int cs_op_pause(cs_cli *cli, const char *name, char *err, size_t errlen);
int cs_op_resume(cs_cli *cli, const char *name, int timeout_s, char *err,
		 size_t errlen);

/* New pools beside the old, route switch, old ones drain. */
int cs_op_restart(cs_cli *cli, const char *name, int timeout_s, char *err,
		  size_t errlen);

/* Route out, then the pools drain and stop, then the record goes. */
int cs_op_undeploy(cs_cli *cli, const char *name, char *err, size_t errlen);

/* ------------------------------------------------------------ reconcile */

/* What a pass found and did, for the supervisor's log. */
typedef struct cs_reconcile_report {
	int started, stopped, restarted, routes_changed;
	char last[512];   /* the latest notable event, "" when none */
} cs_reconcile_report;

/*
 * One reconcile pass over deployment name, taking its lock (CS_OP_BUSY
 * when an operation holds it). timeout_s bounds each pool's start.
 * blocking: wait for scale changes and drains to finish (operations);
 * the supervisor passes 0 and comes back on its next pass.
 */
int cs_reconcile(cs_cli *cli, const char *name, int timeout_s, int blocking,
		 cs_reconcile_report *rep, char *err, size_t errlen);

/*
 * For a deployment placed on hosts: when a host's agent stopped beating
 * (its lease of CS_HOST_TTL_MS lapsed), its pools leave the record (and so
 * the route) and its slots go to the other live hosts (place.h); a host
 * that is back gets slots again where another has two more. Does nothing
 * (CS_OK) when nothing changes or the deployment is not placed.
 */
int cs_op_replace(cs_cli *cli, const char *name, cs_reconcile_report *rep, char *err,
		  size_t errlen);

/* Stops every pool of every deployment (state "stopped"), for `up`. */
void cs_ops_stop_all(cs_cli *cli);

#endif
