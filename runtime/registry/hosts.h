/*
 * hosts.h - the hosts of an installation in the registry: which machines
 * run an agent, where their workers can be reached, how big they are, and
 * whether their agent is alive (docs/registry.md, "Hosts").
 *
 *   PREFIX host:NAME       hash: name, address, cores, memory_bytes, agent,
 *                          state (up | stopped), started, heartbeat, version
 *   PREFIX hostlive:NAME   string AGENT, TTL CS_HOST_TTL_MS: the agent's lease
 *   PREFIX hosts           set of NAMEs
 *
 * An agent owns its host name through the lease: a beat renews it only for
 * the agent that holds it, so a second agent under a name a live one holds
 * is refused (CS_REG_TAKEN) until that lease has lapsed. The host hash
 * stays when the agent goes, so a dead host is listed as down, with the
 * time of its last beat, until someone forgets it.
 *
 * The functions take a cs_registry (one connection, not thread-safe);
 * cs_host_agent_start() runs the beats on a thread with its own connection.
 */
#ifndef CS_REGISTRY_HOSTS_H
#define CS_REGISTRY_HOSTS_H

#include <stddef.h>

#include <jansson.h>

#include "registry/registry.h"

/* How long a host counts as alive after its last beat. */
#define CS_HOST_TTL_MS 5000
/* How often an agent beats. */
#define CS_HOST_BEAT_MS 1000

typedef struct cs_host_info {
	const char *name;    /* [a-z0-9-], 1..63, starts with a letter or digit */
	const char *address; /* where its workers are reached (host or IP) */
	int cores;           /* online CPUs */
	long long memory_bytes;
} cs_host_info;

/* Whether name is a valid host name (the rule above). */
int cs_host_name_valid(const char *name);

/* The cores and memory of this machine, for a cs_host_info. */
void cs_host_measure(int *cores, long long *memory_bytes);

/*
 * One beat of agent (an id unique to the agent process, e.g.
 * "HOSTNAME:PID:START") for host h: takes or renews the lease and writes
 * the hash, in one atomic step. The first beat of an agent sets started.
 * Returns CS_OK; CS_REG_TAKEN when another agent's lease is live (errstr
 * names it and how long it has left); CS_EINVAL for a bad name; or a
 * connection failure.
 */
int cs_host_beat(cs_registry *r, const cs_host_info *h, const char *agent);

/*
 * A clean stop: drops the lease (only agent's own) and marks the host
 * stopped. CS_OK also when the lease was gone already.
 */
int cs_host_release(cs_registry *r, const char *name, const char *agent);

/*
 * Every host's hash with "alive" (true while a lease is live) and
 * "lease_ms" (its time left, 0 when down), sorted by name, as a new array
 * in *out (json_decref() it).
 */
int cs_hosts_list(cs_registry *r, json_t **out);

/*
 * Removes a host that is down from the registry. CS_REG_TAKEN while its
 * agent is alive, CS_ENOTFOUND when there is no such host.
 */
int cs_host_forget(cs_registry *r, const char *name);

/* ------------------------------------------------------------ the agent */

typedef struct cs_host_agent cs_host_agent;

/*
 * Registers the host (one beat, so a refusal is seen here) and starts a
 * thread that beats every CS_HOST_BEAT_MS over its own connection to url,
 * riding out Redis outages (logged once, retried). On CS_OK *out is the
 * agent (cs_host_agent_stop()). CS_REG_TAKEN with err when the name is held
 * by a live agent; connection failures with err. h's strings are copied.
 */
int cs_host_agent_start(const char *url, const char *prefix,
			const cs_host_info *h, cs_host_agent **out, char *err,
			size_t errlen);

/* The agent's id (valid until cs_host_agent_stop()). */
const char *cs_host_agent_id(const cs_host_agent *a);

/*
 * Whether the agent still holds its lease (0 after another agent took the
 * name while Redis was unreachable for longer than the lease).
 */
int cs_host_agent_holds(cs_host_agent *a);

/* Stops the thread, releases the lease, frees the agent. NULL is fine. */
void cs_host_agent_stop(cs_host_agent *a);

#endif
