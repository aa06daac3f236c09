/*
 * place.c - which host runs each instance of a deployment (see place.h).
 *
 * The rule is deliberately small (docs/scaling.md, "Placement"): the
 * hosts a deployment may use are the ones `--hosts` named, or every host
 * with a live agent; an instance goes to the eligible host with the
 * fewest instances of this deployment, then the fewest instances of all
 * deployments, then the first by name. A host holds at most one instance
 * of a deployment per core it reported. Slots already on a live eligible
 * host stay where they are; then, while one host has two instances more
 * than another eligible host with room, one moves: never two on one host
 * while another is free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "place.h"
#include "registry/hosts.h"

#define MAX_HOSTS 256

typedef struct cand {
	const char *name;
	int alive, eligible, cap;
	int here;  /* slots of this deployment */
	int load;  /* slots of the other deployments */
} cand;

json_t *place_slots(const json_t *d)
{
	json_t *pl = json_loads(jstr(d, "placement", ""), 0, NULL);

	if (json_is_array(pl))
		return pl;
	json_decref(pl);
	return json_array();
}

int place_is_placed(const json_t *d)
{
	json_t *pl = place_slots(d);
	int r = json_array_size(pl) > 0;

	json_decref(pl);
	return r;
}

int place_count(const json_t *d, const char *host)
{
	json_t *pl = place_slots(d), *s;
	size_t i;
	int n = 0;

	json_array_foreach(pl, i, s)
		if (json_is_string(s) && !strcmp(json_string_value(s), host))
			n++;
	json_decref(pl);
	return n;
}

static cand *find(cand *c, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return &c[i];
	return NULL;
}

/* The eligible host with room that should take the next slot, or NULL. */
static cand *best(cand *c, int n)
{
	cand *b = NULL;

	for (int i = 0; i < n; i++) {
		if (!c[i].eligible || c[i].here >= c[i].cap)
			continue;
		if (!b || c[i].here < b->here || (c[i].here == b->here && c[i].load < b->load))
			b = &c[i];
	}
	return b;
}

/* The eligible host with the most slots (ties: the most loaded), or NULL. */
static cand *fullest(cand *c, int n)
{
	cand *b = NULL;

	for (int i = 0; i < n; i++) {
		if (!c[i].eligible || !c[i].here)
			continue;
		if (!b || c[i].here > b->here || (c[i].here == b->here && c[i].load > b->load))
			b = &c[i];
	}
	return b;
}

int place_compute(cs_cli *cli, const char *name, json_t *d, int k, const char *hosts_csv,
		  int strict, int *changed, char *err, size_t errlen)
{
	json_t *hosts = NULL, *deps = NULL, *h, *o, *old = place_slots(d), *s, *out;
	const char *want_hosts = hosts_csv ? hosts_csv : jstr(d, "hosts", "");
	cand c[MAX_HOSTS];
	int n = 0, placed = 0, cap = 0, rc = CS_OK;
	size_t i;
	char *a, *b;

	*changed = 0;
	if (cs_hosts_list(cli->reg, &hosts) != CS_OK ||
	    cs_registry_deployments(cli->reg, &deps) != CS_OK) {
		snprintf(err, errlen, "%s", cli->reg->errstr);
		rc = cli->reg->err;
		goto out;
	}
	json_array_foreach(hosts, i, h) {
		if (n == MAX_HOSTS)
			break;
		c[n].name = jstr(h, "name", "");
		c[n].alive = json_is_true(json_object_get(h, "alive"));
		c[n].eligible = c[n].alive && !*want_hosts;
		c[n].cap = (int)jnum(h, "cores", 1) > 0 ? (int)jnum(h, "cores", 1) : 1;
		c[n].here = c[n].load = 0;
		n++;
	}
	/* an explicit list: every name must be a host with a live agent */
	if (*want_hosts) {
		char list[1024], *save = NULL, *tok;

		snprintf(list, sizeof list, "%s", want_hosts);
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			cand *x = find(c, n, tok);

			if (!cs_host_name_valid(tok)) {
				snprintf(err, errlen, "--hosts: '%s' is not a host name (lower-case letters, digits and '-', at most 63)",
					 tok);
				rc = CS_EINVAL;
				goto out;
			}
			if (!x && !strict)
				continue; /* forgotten since: the others still count */
			if (!x) {
				snprintf(err, errlen, "no host named '%s' in the registry (`cubeserve hosts` lists them; its agent registers one: cubeserve supervise --host %s)",
					 tok, tok);
				rc = CS_ENOTFOUND;
				goto out;
			}
			if (!x->alive && strict) {
				snprintf(err, errlen, "refused: host '%s' is down (no live agent); start its agent (cubeserve supervise --host %s) or leave it out of --hosts",
					 tok, tok);
				rc = CS_OP_REFUSED;
				goto out;
			}
			x->eligible = x->alive;
		}
	}
	/* the other deployments' slots are the hosts' load */
	json_array_foreach(deps, i, o) {
		json_t *pl;
		size_t j;

		if (!strcmp(jstr(o, "name", ""), name))
			continue;
		pl = place_slots(o);
		json_array_foreach(pl, j, s) {
			cand *x = json_is_string(s) ? find(c, n, json_string_value(s)) : NULL;

			if (x)
				x->load++;
		}
		json_decref(pl);
	}
	for (int j = 0; j < n; j++)
		if (c[j].eligible)
			cap += c[j].cap;
	if (strict && k > cap) {
		char names[512] = "";
		size_t off = 0;

		for (int j = 0; j < n && off < sizeof names - 80; j++)
			if (c[j].eligible)
				off += (size_t)snprintf(names + off, sizeof names - off, "%s%s (%d)",
							off ? ", " : "", c[j].name, c[j].cap);
		if (!cap)
			snprintf(err, errlen, "refused: %s has no live host to run on%s%s (`cubeserve hosts`)",
				 name, *want_hosts ? " among " : "", want_hosts);
		else
			snprintf(err, errlen, "refused: --instances %d is more than the live hosts can hold: %d instance(s) of %s (one per core: %s); nothing was placed",
				 k, cap, name, names);
		rc = CS_OP_REFUSED;
		goto out;
	}
	/* keep what runs on a live eligible host, up to k and each host's room */
	json_array_foreach(old, i, s) {
		cand *x = json_is_string(s) ? find(c, n, json_string_value(s)) : NULL;

		if (x && x->eligible && x->here < x->cap && placed < k) {
			x->here++;
			placed++;
		}
	}
	while (placed < k) {
		cand *x = best(c, n);

		if (!x)
			break;
		x->here++;
		placed++;
	}
	/* even out: a host two slots above another one with room gives one */
	for (int guard = 0; guard < 64; guard++) {
		cand *hi = fullest(c, n), *lo = best(c, n);

		if (!hi || !lo || hi->here < lo->here + 2)
			break;
		hi->here--;
		lo->here++;
	}
	/* the slots in a stable order: the old ones first where they still are */
	out = json_array();
	{
		int left[MAX_HOSTS];

		for (int j = 0; j < n; j++)
			left[j] = c[j].here;
		json_array_foreach(old, i, s) {
			cand *x = json_is_string(s) ? find(c, n, json_string_value(s)) : NULL;

			if (x && left[x - c] > 0) {
				left[x - c]--;
				json_array_append_new(out, json_string(x->name));
			}
		}
		for (int j = 0; j < n; j++)
			while (left[j]-- > 0)
				json_array_append_new(out, json_string(c[j].name));
		while ((int)json_array_size(out) < k)
			json_array_append_new(out, json_string("")); /* waits for room */
	}
	a = json_dumps(old, JSON_COMPACT);
	b = json_dumps(out, JSON_COMPACT);
	*changed = !a || !b || strcmp(a, b) != 0;
	json_object_set_new(d, "placement", json_string(b ? b : "[]"));
	if (hosts_csv)
		json_object_set_new(d, "hosts", json_string(hosts_csv));
	free(a);
	free(b);
	json_decref(out);
out:
	json_decref(old);
	json_decref(hosts);
	json_decref(deps);
	return rc;
}

int place_hosts_live(cs_cli *cli)
{
	json_t *hosts = NULL, *h;
	size_t i;
	int n = 0;

	if (cs_hosts_list(cli->reg, &hosts) != CS_OK)
		return 0;
	json_array_foreach(hosts, i, h)
		if (json_is_true(json_object_get(h, "alive")))
			n++;
	json_decref(hosts);
	return n;
}
