/*
 * place.h - placement: which host runs each instance of a deployment
 * (docs/scaling.md, "Placement"; the rule is in place.c).
 *
 * A placed deployment's record (docs/registry.md) has
 *   placement  JSON array of host names, one per instance ("" for an
 *              instance no live host has room for yet)
 *   hosts      the --hosts list it was deployed with ("" = any live host)
 * and each host's agent (`cubeserve supervise --host NAME`) runs the
 * instances whose slot names its host. A record without a placement is a
 * single-machine deployment, run by the supervisor of that machine.
 * Internal to the command; not thread-safe.
 */
#ifndef CS_PLACE_H
#define CS_PLACE_H

#include <stddef.h>

#include <jansson.h>

#include "cli.h"

/* The record's placement as a new array (empty when not placed). */
json_t *place_slots(const json_t *d);

/* Whether the record is placed on hosts. */
int place_is_placed(const json_t *d);

/* The number of slots of the record on host. */
int place_count(const json_t *d, const char *host);

/* The number of hosts whose agent is alive (0 on a registry error). */
int place_hosts_live(cs_cli *cli);

/*
 * Computes the placement of k instances of deployment name into d's
 * "placement" (and "hosts" when hosts_csv is not NULL: the --hosts list,
 * "" for any live host). strict (an operation): an unknown host
 * (CS_ENOTFOUND), a bad name (CS_EINVAL), a host that is down or more
 * instances than the eligible hosts hold (CS_OP_REFUSED) are refused with err and d unchanged. Not strict (the
 * supervisor re-placing a dead host's instances): what fits is placed,
 * the rest waits as "" slots. *changed says whether the slots moved.
 */
int place_compute(cs_cli *cli, const char *name, json_t *d, int k, const char *hosts_csv,
		  int strict, int *changed, char *err, size_t errlen);

#endif
