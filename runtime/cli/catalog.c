/*
 * catalog.c - the model market: list, search, show, versions,
 * set-default, remove, rate, favorite.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/names.h"
#include "registry/store.h"
#include "registry/webstore.h"

/* Parses the options of a command that has none of its own. */
static int no_options(cs_cli *cli, int argc, char **argv, int nargs_min,
		      int nargs_max)
{
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", NULL)) != -1)
		return c == CLI_OPT_HELP ? -CLI_OK - 1 : -CLI_USAGE - 1;
	if (argc - optind < nargs_min || argc - optind > nargs_max) {
		cli_err(cli, "expected %d%s argument%s (see --help)", nargs_min,
			nargs_max > nargs_min ? " or more" : "", nargs_max == 1 ? "" : "s");
		return -CLI_USAGE - 1;
	}
	return 0;
}

/* "2024-05-01 12:00" from milliseconds since the epoch. */
static const char *when(long long ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !localtime_r(&t, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
	return buf;
}

/* A model hash as the JSON that list/search print. */
static json_t *summary(const json_t *m)
{
	long long sum = jnum(m, "rating_sum", 0), n = jnum(m, "rating_count", 0);
	json_t *tags = json_loads(jstr(m, "tags", "[]"), 0, NULL);

	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:f,s:I,s:I,s:I,s:I,s:s}",
		"name", jstr(m, "name", ""), "description", jstr(m, "description", ""),
		"owner", jstr(m, "owner", ""), "default", jstr(m, "default", ""),
		"tags", tags ? tags : json_array(),
		"rating", n ? (double)sum / (double)n : 0.0,
		"ratings", (json_int_t)n, "favorites", (json_int_t)jnum(m, "favorites", 0),
		"views", (json_int_t)jnum(m, "views", 0), "calls", (json_int_t)jnum(m, "calls", 0),
		"latest", jstr(m, "latest", ""));
}

static void print_table(cs_cli *cli, json_t *rows)
{
	size_t i;
	json_t *r;

	if (cli->json) {
		cli_print_json(rows);
		return;
	}
	if (json_array_size(rows) == 0) {
		printf("no models\n");
		return;
	}
	printf("%-20s %-10s %-7s %-9s %-5s %s\n", "NAME", "DEFAULT", "RATING",
	       "FAVORITES", "CALLS", "DESCRIPTION");
	json_array_foreach(rows, i, r) {
		char rating[16];
		const char *d = jstr(r, "description", "");

		if (json_integer_value(json_object_get(r, "ratings")))
			snprintf(rating, sizeof rating, "%.1f (%lld)",
				 json_real_value(json_object_get(r, "rating")),
				 (long long)json_integer_value(json_object_get(r, "ratings")));
		else
			snprintf(rating, sizeof rating, "-");
		printf("%-20s %-10s %-7s %-9lld %-5lld %.60s%s\n", jstr(r, "name", ""),
		       jstr(r, "default", ""), rating,
		       (long long)json_integer_value(json_object_get(r, "favorites")),
		       (long long)json_integer_value(json_object_get(r, "calls")), d,
		       strlen(d) > 60 ? "..." : "");
	}
}

/* Connects for reading: an empty registry is an empty catalog. */
static int connect_read(cs_cli *cli, int *empty)
{
	int rc = cli_registry(cli, 0);

	*empty = rc == CLI_NOTFOUND;
	return rc == CLI_NOTFOUND ? CLI_OK : rc;
}

int cli_cmd_list(cs_cli *cli, int argc, char **argv)
{
	json_t *models = NULL, *rows;
	int rc, empty;
	size_t i;
	json_t *m;

	if ((rc = no_options(cli, argc, argv, 0, 0)) != 0)
		return -rc - 1;
	if ((rc = connect_read(cli, &empty)) != CLI_OK)
		return rc;
	rows = json_array();
	if (!empty) {
		if (cs_registry_models(cli->reg, &models) != CS_OK) {
			json_decref(rows);
			return cli_reg_fail(cli);
		}
		json_array_foreach(models, i, m)
			json_array_append_new(rows, summary(m));
	}
	print_table(cli, rows);
	json_decref(rows);
	json_decref(models);
	return CLI_OK;
}

static int icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (!n)
		return 1;
	for (; *hay; hay++) {
		size_t i = 0;

		while (i < n && hay[i] && tolower((unsigned char)hay[i]) ==
		       tolower((unsigned char)needle[i]))
			i++;
		if (i == n)
			return 1;
	}
	return 0;
}

int cli_cmd_search(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tag", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *tags[32], *text = "";
	json_t *models = NULL, *tagged = NULL, *rows, *m;
	size_t ntags = 0, i;
	int c, rc, empty;

	while ((c = cli_getopt(cli, argc, argv, "t:", opts)) != -1) {
		switch (c) {
		case 't':
			if (ntags == 32) {
				cli_err(cli, "at most 32 --tag options");
				return CLI_USAGE;
			}
			tags[ntags++] = optarg;
			break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind > 1 || (argc - optind == 0 && ntags == 0)) {
		cli_err(cli, "expected TEXT and/or --tag T (see --help)");
		return CLI_USAGE;
	}
	if (argc - optind == 1)
		text = argv[optind];
	if ((rc = connect_read(cli, &empty)) != CLI_OK)
		return rc;
	rows = json_array();
	if (!empty) {
		if (cs_registry_models(cli->reg, &models) != CS_OK ||
		    (ntags && cs_registry_tagged(cli->reg, tags, ntags, &tagged) != CS_OK)) {
			json_decref(rows);
			json_decref(models);
			return cli_reg_fail(cli);
		}
		json_array_foreach(models, i, m) {
			const char *name = jstr(m, "name", "");
			int hit = icontains(name, text) || icontains(jstr(m, "description", ""), text) ||
				  icontains(jstr(m, "owner", ""), text) || icontains(jstr(m, "tags", ""), text);

			if (hit && tagged) {
				size_t j;
				json_t *t;

				hit = 0;
				json_array_foreach(tagged, j, t)
					if (strcmp(json_string_value(t), name) == 0)
						hit = 1;
			}
			if (hit)
				json_array_append_new(rows, summary(m));
		}
	}
	print_table(cli, rows);
	json_decref(rows);
	json_decref(models);
	json_decref(tagged);
	return CLI_OK;
}

/* Parses NAME[@VERSION] for a command; prints the error. */
static int ref(cs_cli *cli, const char *s, char *name, char *ver)
{
	char err[CS_ERROR_SIZE];

	if (cs_model_ref_parse(s, name, 80, ver, 80, err, sizeof err) != CS_OK) {
		cli_err(cli, "%s", err);
		return CLI_USAGE;
	}
	return CLI_OK;
}

/* Connects for a command that needs the model to exist. */
static int connect_model(cs_cli *cli, const char *name)
{
	int rc = cli_registry(cli, 0);

	if (rc == CLI_NOTFOUND)
		cli_err(cli, "no model named '%s': the registry at %s is empty", name,
			cli_registry_shown(cli));
	return rc;
}

int cli_cmd_show(cs_cli *cli, int argc, char **argv)
{
	char name[80], ver[80], t[32];
	json_t *m = NULL, *rec, *v, *files;
	const char *k;
	size_t i;
	int rc;

	if ((rc = no_options(cli, argc, argv, 1, 1)) != 0)
		return -rc - 1;
	if ((rc = ref(cli, argv[optind], name, ver)) != CLI_OK)
		return rc;
	if ((rc = connect_model(cli, name)) != CLI_OK)
		return rc;
	if (cs_registry_model(cli->reg, name, ver[0] ? ver : NULL, 1, &m) != CS_OK)
		return cli_reg_fail(cli);
	if (cli->json) {
		json_t *vs;

		cli_json_typed(m);
		json_array_foreach(json_object_get(m, "versions"), i, vs)
			cli_json_typed(vs);
		cli_print_json(m);
		json_decref(m);
		return CLI_OK;
	}
	rec = json_object_get(m, "record");
	printf("%s  %s\n", name, jstr(m, "description", ""));
	printf("  owner       %s\n", jstr(m, "owner", "") [0] ? jstr(m, "owner", "") : "-");
	printf("  tags        %s\n", jstr(m, "tags", "[]"));
	printf("  default     %s\n", jstr(m, "default", "-"));
	printf("  created     %s\n", when(jnum(m, "created", 0), t, sizeof t));
	if (jnum(m, "rating_count", 0))
		printf("  rating      %.1f of 5 (%lld ratings)\n",
		       (double)jnum(m, "rating_sum", 0) / (double)jnum(m, "rating_count", 1),
		       jnum(m, "rating_count", 0));
	else
		printf("  rating      - (no ratings)\n");
	printf("  favorites   %lld\n  views       %lld\n  calls       %lld\n",
	       jnum(m, "favorites", 0), jnum(m, "views", 0), jnum(m, "calls", 0));
	printf("  versions   ");
	json_array_foreach(json_object_get(m, "versions"), i, v)
		printf(" %s", jstr(v, "version", ""));
	printf("\n");
	if (json_object_get(m, "deployment")) {
		json_t *d = json_object_get(m, "deployment");

		printf("  deployed    %s, %s, %lld process(es)\n", jstr(d, "version", ""),
		       jstr(d, "state", ""), jnum(d, "processes", 0));
	} else {
		printf("  deployed    no\n");
	}
	if (rec) {
		printf("\nversion %s\n", jstr(rec, "version", ""));
		printf("  published   %s by %s\n", when(jnum(rec, "published", 0), t, sizeof t),
		       jstr(rec, "publisher", "-"));
		printf("  plugin      %s\n", jstr(rec, "plugin", ""));
		printf("  inputs      %s\n", jstr(rec, "inputs", "[]"));
		printf("  outputs     %s\n", jstr(rec, "outputs", "[]"));
		printf("  size        %s bytes\n", jstr(rec, "size", "0"));
		files = json_loads(jstr(rec, "files", "{}"), 0, NULL);
		printf("  files\n");
		json_object_foreach(files, k, v)
			printf("    %-24s sha256 %s\n", k, json_string_value(v));
		json_decref(files);
		if (jstr(rec, "example", "")[0])
			printf("  example     %s\n", jstr(rec, "example", ""));
	}
	json_decref(m);
	return CLI_OK;
}

int cli_cmd_versions(cs_cli *cli, int argc, char **argv)
{
	char name[80], ver[80], t[32];
	json_t *m = NULL, *v, *vers;
	size_t i;
	int rc;

	if ((rc = no_options(cli, argc, argv, 1, 1)) != 0)
		return -rc - 1;
	if ((rc = ref(cli, argv[optind], name, ver)) != CLI_OK)
		return rc;
	if ((rc = connect_model(cli, name)) != CLI_OK)
		return rc;
	if (cs_registry_model(cli->reg, name, NULL, 0, &m) != CS_OK)
		return cli_reg_fail(cli);
	vers = json_object_get(m, "versions");
	json_array_foreach(vers, i, v)
		json_object_set_new(v, "default", json_boolean(strcmp(jstr(v, "version", ""),
			jstr(m, "default", "")) == 0));
	if (cli->json) {
		cli_print_json(vers);
	} else {
		printf("%-16s %-17s %s\n", "VERSION", "PUBLISHED", "");
		json_array_foreach(vers, i, v)
			printf("%-16s %-17s %s\n", jstr(v, "version", ""),
			       when(jnum(v, "published", 0), t, sizeof t),
			       json_is_true(json_object_get(v, "default")) ? "default" : "");
	}
	json_decref(m);
	return CLI_OK;
}

int cli_cmd_set_default(cs_cli *cli, int argc, char **argv)
{
	char name[80], ver[80];
	int rc;

	if ((rc = no_options(cli, argc, argv, 2, 2)) != 0)
		return -rc - 1;
	if ((rc = ref(cli, argv[optind], name, ver)) != CLI_OK)
		return rc;
	if ((rc = connect_model(cli, name)) != CLI_OK)
		return rc;
	if (cs_registry_set_default(cli->reg, name, argv[optind + 1]) != CS_OK)
		return cli_reg_fail(cli);
	cli_step(cli, "%s: default version is now %s", name, argv[optind + 1]);
	return CLI_OK;
}

int cli_cmd_remove(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	char name[80], ver[80], err[CS_ERROR_SIZE * 2];
	json_t *orphans = NULL, *webs = NULL, *dep = NULL, *o;
	int c, rc, force = 0, st;
	size_t i;

	while ((c = cli_getopt(cli, argc, argv, "f", opts)) != -1) {
		switch (c) {
		case 'f': force = 1; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err(cli, "expected NAME[@VERSION] (see --help)");
		return CLI_USAGE;
	}
	if ((rc = ref(cli, argv[optind], name, ver)) != CLI_OK)
		return rc;
	if ((rc = connect_model(cli, name)) != CLI_OK)
		return rc;
	if (force && cs_registry_deployment(cli->reg, name, &dep) == CS_OK) {
		if (!ver[0] || strcmp(jstr(dep, "version", ""), ver) == 0) {
			cli_step(cli, "%s is deployed (version %s): undeploying it first (--force)",
				 name, jstr(dep, "version", ""));
			rc = cli_undeploy(cli, name);
			if (rc != CLI_OK) {
				json_decref(dep);
				return rc;
			}
		}
	}
	json_decref(dep);
	st = cs_registry_remove(cli->reg, name, ver[0] ? ver : NULL, force, &orphans, &webs);
	if (st == CS_REG_DEPLOYED) {
		cli_err(cli, "refused: %s; `cubeserve undeploy %s` first, or --force", cli->reg->errstr, name);
		return CLI_REFUSED;
	}
	if (st != CS_OK)
		return cli_reg_fail(cli);
	if (json_array_size(orphans) && cli_store(cli)) {
		json_array_foreach(orphans, i, o)
			if (cs_store_remove(cli->store, json_string_value(o), err, sizeof err) != CS_OK)
				cli_err(cli, "warning: %s", err);
	}
	if (json_array_size(webs) && cli_store(cli)) {
		json_array_foreach(webs, i, o)
			if (cs_web_remove(cli->store, json_string_value(o), err, sizeof err) != CS_OK)
				cli_err(cli, "warning: %s", err);
	}
	cli_step(cli, "removed %s%s%s (%zu file(s) and %zu web folder(s) no other version uses deleted from the store)",
		 name, ver[0] ? "@" : "", ver, json_array_size(orphans), json_array_size(webs));
	json_decref(orphans);
	json_decref(webs);
	return CLI_OK;
}

int cli_cmd_rate(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"user", required_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	const char *user = NULL;
	char name[80], ver[80], *end;
	long long sum = 0, count = 0;
	long stars;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "u:", opts)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 2) {
		cli_err(cli, "expected NAME STARS (see --help)");
		return CLI_USAGE;
	}
	stars = strtol(argv[optind + 1], &end, 10);
	if (*end || stars < 1 || stars > 5) {
		cli_err(cli, "STARS must be 1, 2, 3, 4 or 5, got '%s'", argv[optind + 1]);
		return CLI_USAGE;
	}
	if ((rc = ref(cli, argv[optind], name, ver)) != CLI_OK)
		return rc;
	if ((rc = connect_model(cli, name)) != CLI_OK)
		return rc;
	if (!(user = cli_vote_user(cli, user)))
		return CLI_DENIED;
	if (cs_registry_rate(cli->reg, name, cli_user(user), (int)stars, &sum, &count) != CS_OK)
		return cli_reg_fail(cli);
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:i,s:f,s:I}", "name", name, "user", cli_user(user),
				      "stars", (int)stars, "rating", count ? (double)sum / (double)count : 0.0,
				      "ratings", (json_int_t)count);
		cli_print_json(o);
		json_decref(o);
	} else {
		printf("%s rated %s %ld; its rating is now %.1f of 5 (%lld ratings)\n",
		       cli_user(user), name, stars, count ? (double)sum / (double)count : 0.0, count);
	}
	return CLI_OK;
}

int cli_cmd_favorite(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"user", required_argument, NULL, 'u'},
		{"remove", no_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *user = NULL;
	char name[80], ver[80];
	long long count = 0;
	int c, rc, on = 1;

	while ((c = cli_getopt(cli, argc, argv, "u:r", opts)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'r': on = 0; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err(cli, "expected NAME (see --help)");
		return CLI_USAGE;
	}
	if ((rc = ref(cli, argv[optind], name, ver)) != CLI_OK)
		return rc;
	if ((rc = connect_model(cli, name)) != CLI_OK)
		return rc;
	if (!(user = cli_vote_user(cli, user)))
		return CLI_DENIED;
	if (cs_registry_favorite(cli->reg, name, cli_user(user), on, &count) != CS_OK)
		return cli_reg_fail(cli);
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:b,s:I}", "name", name, "user", cli_user(user),
				      "favorite", on, "favorites", (json_int_t)count);
		cli_print_json(o);
		json_decref(o);
	} else {
		printf("%s %s %s's favourites; %lld user(s) have it\n", name,
		       on ? "is in" : "is no longer in", cli_user(user), count);
	}
	return CLI_OK;
}
