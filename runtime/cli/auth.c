/*
 * auth.c - `cubeserve user|key|access|login|logout|whoami|audit`, the
 * login token under the user's config dir, and the checks the other
 * commands make (cli_authorize). The rules themselves are
 * cs_auth_allow() in registry/auth.c, which the console's API calls too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "registry/auth.h"

/* ------------------------------------------------------------ the token */

/* $XDG_CONFIG_HOME/cubeserve (else ~/.config/cubeserve), created 0700. */
static int config_dir(char *out, size_t len, int create)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char base[PATH_MAX - 64];

	if (x && *x && x[0] == '/')
		snprintf(base, sizeof base, "%s", x);
	else if (home && *home)
		snprintf(base, sizeof base, "%s/.config", home);
	else
		return -1;
	if (create && mkdir(base, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(out, len, "%s/cubeserve", base);
	if (create && mkdir(out, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* The token file of this registry: one per registry address and prefix. */
static int token_path(cs_cli *cli, char *out, size_t len, int create)
{
	char dir[PATH_MAX - 32], what[PATH_MAX + 80], hex[17];
	unsigned char h[8];

	cli_registry_default(cli);
	if (config_dir(dir, sizeof dir, create) != 0)
		return -1;
	snprintf(what, sizeof what, "%s\n%s", cli->registry_url, cli->prefix);
	crypto_generichash(h, sizeof h, (const unsigned char *)what, strlen(what), NULL, 0);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	snprintf(out, len, "%s/token-%s", dir, hex);
	return 0;
}

/* Writes the token file (mode 0600, replaced atomically). */
static int token_save(cs_cli *cli, const char *user, const char *token)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	json_t *o;
	char *text;
	int fd, ok;

	if (token_path(cli, p, sizeof p, 1) != 0) {
		cli_err(cli, "cannot create the config directory ($XDG_CONFIG_HOME or ~/.config)/cubeserve");
		return CLI_FAIL;
	}
	o = json_pack("{s:s,s:s,s:s}", "registry", cli_registry_shown(cli), "user", user, "token", token);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	snprintf(tmp, sizeof tmp, "%s.tmp", p);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok = fd >= 0 && text && fchmod(fd, 0600) == 0 &&
	     write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	if (!ok || rename(tmp, p) != 0) {
		cli_err(cli, "cannot write the login token file %s: %s", p, strerror(errno));
		unlink(tmp);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The stored token (into tok), or 0 when there is none. */
static int token_load(cs_cli *cli, char *tok, size_t len)
{
	char p[PATH_MAX];
	json_t *o;
	const char *t;

	tok[0] = '\0';
	if (token_path(cli, p, sizeof p, 0) != 0 || !(o = json_load_file(p, 0, NULL)))
		return 0;
	t = json_string_value(json_object_get(o, "token"));
	if (t && strlen(t) < len)
		snprintf(tok, len, "%s", t);
	json_decref(o);
	return tok[0] != '\0';
}

/* ------------------------------------------------------------ principal */

static int auth_on(cs_cli *cli)
{
	int on = 0;

	if (!cli->reg)
		return 0;
	return cs_auth_mode(cli->reg, &on) == CS_OK && on;
}

int cli_auth_enabled(cs_cli *cli)
{
	return auth_on(cli);
}

int cli_principal(cs_cli *cli, cs_principal *who, int quiet)
{
	char tok[CS_AUTH_KEY_SIZE * 2];
	const char *env = getenv("CUBESERVE_KEY");
	const char *how;
	int rc;

	memset(who, 0, sizeof *who);
	if (env && *env) {
		snprintf(tok, sizeof tok, "%s", env);
		how = "$CUBESERVE_KEY";
	} else if (token_load(cli, tok, sizeof tok)) {
		how = "the login token";
	} else {
		if (!quiet)
			cli_err(cli, "not logged in: run `cubeserve login NAME`, or set CUBESERVE_KEY to a key of a user with the role needed");
		return CLI_DENIED;
	}
	rc = cs_auth_key_verify(cli->reg, tok, who);
	sodium_memzero(tok, sizeof tok);
	if (rc == CS_AUTH_DENIED) {
		if (!quiet)
			cli_err(cli, "%s: %s; run `cubeserve login NAME`", how, cli->reg->errstr);
		return CLI_DENIED;
	}
	if (rc != CS_OK)
		return cli_reg_fail(cli);
	return CLI_OK;
}

int cli_authorize(cs_cli *cli, const char *action, const char *model)
{
	cs_principal who;
	int rc;

	/* the stack's own start (up) is the local machine's: trusted */
	if (!auth_on(cli) || (cli->cmd && strcmp(cli->cmd, "up") == 0))
		return CLI_OK;
	if ((rc = cli_principal(cli, &who, 0)) != CLI_OK)
		return rc;
	if (cs_auth_allow(cli->reg, &who, action, model) != CS_OK) {
		cli_err(cli, "refused: %s", cli->reg->errstr);
		return cli->reg->err == CS_EINVAL ? CLI_FAIL : CLI_DENIED;
	}
	return CLI_OK;
}

const char *cli_actor(cs_cli *cli, char *buf, size_t len)
{
	cs_principal who;

	if (cli->reg && cli_principal(cli, &who, 1) == CLI_OK)
		snprintf(buf, len, "%s", who.user);
	else
		snprintf(buf, len, "local:%s", cli_user(NULL));
	return buf;
}

const char *cli_vote_user(cs_cli *cli, const char *given)
{
	static char user[65];
	cs_principal who;

	if (!auth_on(cli))
		return cli_user(given);
	if (cli_principal(cli, &who, 0) != CLI_OK)
		return NULL;
	if (given && *given && strcmp(given, who.user) != 0) {
		cli_err(cli, "refused: with auth on a rating or favourite is the logged-in user's (%s); --user %s is not you",
			who.user, given);
		return NULL;
	}
	snprintf(user, sizeof user, "%s", who.user);
	return user;
}

/* ------------------------------------------------------------ helpers */

/* Reads a password: --password-file, else stdin (no echo on a terminal). */
static int read_password(cs_cli *cli, const char *file, const char *prompt,
			 char *pw, size_t len, size_t *n)
{
	FILE *f = stdin;
	struct termios old, quiet;
	int tty = 0;

	*n = 0;
	if (file) {
		f = fopen(file, "r");
		if (!f) {
			cli_err(cli, "cannot read the password file %s: %s", file, strerror(errno));
			return CLI_USAGE;
		}
	} else if (isatty(0)) {
		tty = tcgetattr(0, &old) == 0;
		fprintf(stderr, "%s", prompt);
		if (tty) {
			quiet = old;
			quiet.c_lflag &= (tcflag_t)~ECHO;
			tcsetattr(0, TCSAFLUSH, &quiet);
		}
	}
	if (!fgets(pw, (int)len, f))
		pw[0] = '\0';
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (file)
		fclose(f);
	*n = strcspn(pw, "\r\n");
	pw[*n] = '\0';
	if (*n == 0) {
		cli_err(cli, "no password given (on stdin, or with --password-file FILE)");
		return CLI_USAGE;
	}
	if (*n > CS_AUTH_PASSWORD_MAX) {
		cli_err(cli, "the password is longer than %d bytes", CS_AUTH_PASSWORD_MAX);
		return CLI_USAGE;
	}
	return CLI_OK;
}

/* A random password for the first admin: 24 characters of base64url. */
static void random_password(char *out, size_t len)
{
	unsigned char b[18];

	randombytes_buf(b, sizeof b);
	sodium_bin2base64(out, len, b, sizeof b, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(b, sizeof b);
}

static int reg_fail(cs_cli *cli)
{
	if (cli->reg->err == CS_AUTH_DENIED || cli->reg->err == CS_AUTH_FORBIDDEN) {
		cli_err(cli, "%s", cli->reg->errstr);
		return CLI_DENIED;
	}
	if (cli->reg->err == CS_AUTH_LOCKED) {
		cli_err(cli, "%s", cli->reg->errstr);
		return CLI_DENIED;
	}
	return cli_reg_fail(cli);
}

static const char *when(long long t, int ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms ? t / 1000 : t);
	struct tm tm;

	if (t <= 0 || !gmtime_r(&s, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* Whether sub (argv[optind]) is one of the given words; prints usage. */
static const char *subcommand(cs_cli *cli, int argc, char **argv,
			      const char *const *words)
{
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			cli_usage(cli, stdout);
			return "";
		}
		cli_err(cli, "expected a subcommand (see --help)");
		return NULL;
	}
	for (; *words; words++)
		if (strcmp(argv[1], *words) == 0)
			return *words;
	cli_err(cli, "unknown subcommand '%s' (see --help)", argv[1]);
	return NULL;
}

/* ------------------------------------------------------------ user */

int cli_cmd_user(cs_cli *cli, int argc, char **argv)
{
	static const char *const words[] = {"add", "list", "remove", "passwd", "role", NULL};
	static const struct option opts[] = {
		{"role", required_argument, NULL, 'r'},
		{"admin", no_argument, NULL, 'a'},
		{"password-file", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	const char *sub = subcommand(cli, argc, argv, words);
	const char *role_s = NULL, *pwfile = NULL;
	char pw[CS_AUTH_PASSWORD_MAX + 2];
	cs_role role = CS_ROLE_NONE;
	long long nusers = 0;
	size_t pwlen;
	int c, rc, want;

	if (!sub)
		return CLI_USAGE;
	if (!*sub)
		return CLI_OK;
	argc--;
	argv++;
	optind = 0;
	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'r': role_s = optarg; break;
		case 'a': role_s = "admin"; break;
		case 'f': pwfile = optarg; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	want = strcmp(sub, "list") == 0 ? 0 : strcmp(sub, "role") == 0 ? 2 : 1;
	if (argc - optind != want) {
		cli_err(cli, "user %s expects %s (see --help)", sub,
			want == 0 ? "no arguments" : want == 1 ? "NAME" : "NAME ROLE");
		return CLI_USAGE;
	}
	if (strcmp(sub, "role") == 0)
		role_s = argv[optind + 1];
	if ((strcmp(sub, "add") == 0 || strcmp(sub, "role") == 0) &&
	    cs_role_parse(role_s, &role) != CS_OK) {
		cli_err(cli, "--role must be admin, owner, operator or consumer%s%s%s",
			role_s ? ", got '" : "", role_s ? role_s : "", role_s ? "'" : "");
		return CLI_USAGE;
	}
	if ((rc = cli_registry(cli, 1)) != CLI_OK)
		return rc;
	if (strcmp(sub, "list") == 0) {
		json_t *users, *u;
		size_t i;
		char t[40];

		if (auth_on(cli) && (rc = cli_authorize(cli, "user.manage", NULL)) != CLI_OK)
			return rc;
		if (cs_auth_users(cli->reg, &users) != CS_OK)
			return reg_fail(cli);
		if (cli->json) {
			cli_print_json(users);
		} else {
			printf("%-24s %-9s %-5s %-20s %s\n", "NAME", "ROLE", "KEYS", "CREATED", "LOCKED");
			json_array_foreach(users, i, u)
				printf("%-24s %-9s %-5lld %-20s %s\n", jstr(u, "name", ""), jstr(u, "role", ""),
				       (long long)json_integer_value(json_object_get(u, "keys")),
				       when(json_integer_value(json_object_get(u, "created")), 1, t, sizeof t),
				       json_integer_value(json_object_get(u, "locked_until")) > (json_int_t)time(NULL) * 1000
				       ? "locked" : "-");
		}
		json_decref(users);
		return CLI_OK;
	}
	/* the first user of a registry may be added by anyone who can reach it */
	if (cs_auth_user_count(cli->reg, &nusers) != CS_OK)
		return reg_fail(cli);
	if (strcmp(sub, "passwd") == 0 && auth_on(cli)) {
		cs_principal who;

		if ((rc = cli_principal(cli, &who, 0)) != CLI_OK)
			return rc;
		if (strcmp(who.user, argv[optind]) != 0 &&
		    cs_auth_allow(cli->reg, &who, "user.manage", NULL) != CS_OK) {
			cli_err(cli, "refused: %s", cli->reg->errstr);
			return CLI_DENIED;
		}
	} else if (!(strcmp(sub, "add") == 0 && nusers == 0) &&
		   (rc = cli_authorize(cli, "user.manage", NULL)) != CLI_OK) {
		return rc;
	}
	if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0) {
		if ((rc = read_password(cli, pwfile, "password: ", pw, sizeof pw, &pwlen)) != CLI_OK)
			return rc;
		if (strcmp(sub, "add") == 0)
			rc = cs_auth_user_add(cli->reg, argv[optind], role, pw, pwlen);
		else
			rc = cs_auth_user_passwd(cli->reg, argv[optind], pw, pwlen);
		sodium_memzero(pw, sizeof pw);
	} else if (strcmp(sub, "remove") == 0) {
		rc = cs_auth_user_remove(cli->reg, argv[optind]);
	} else {
		rc = cs_auth_user_role(cli->reg, argv[optind], role);
	}
	if (rc == CS_REG_EXISTS) {
		cli_err(cli, "refused: %s", cli->reg->errstr);
		return CLI_REFUSED;
	}
	if (rc != CS_OK)
		return reg_fail(cli);
	if (strcmp(sub, "add") == 0)
		cli_step(cli, "user %s added with role %s", argv[optind], cs_role_name(role));
	else if (strcmp(sub, "remove") == 0)
		cli_step(cli, "user %s removed; its keys are revoked", argv[optind]);
	else if (strcmp(sub, "passwd") == 0)
		cli_step(cli, "password of %s changed (and its lock cleared)", argv[optind]);
	else
		cli_step(cli, "user %s now has role %s", argv[optind], cs_role_name(role));
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s}", "user", argv[optind], "done", sub);

		cli_print_json(o);
		json_decref(o);
	}
	return CLI_OK;
}

/* ------------------------------------------------------------ login */

int cli_cmd_login(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"password-file", required_argument, NULL, 'f'},
		{"ttl", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *pwfile = NULL, *name;
	char pw[CS_AUTH_PASSWORD_MAX + 2], tok[CS_AUTH_KEY_SIZE], p[PATH_MAX];
	long long ttl = 0;
	cs_principal who;
	size_t pwlen;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'f': pwfile = optarg; break;
		case 't': {
			char *end;
			long long d = strtoll(optarg, &end, 10);

			if (*end || d < 1 || d > 365) {
				cli_err(cli, "--ttl must be 1..365 days, got '%s'", optarg);
				return CLI_USAGE;
			}
			ttl = d * 86400;
			break;
		}
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (argc - optind > 1) {
		cli_err(cli, "expected [NAME] (see --help)");
		return CLI_USAGE;
	}
	name = argc - optind == 1 ? argv[optind] : cli_user(NULL);
	if ((rc = cli_registry(cli, 0)) != CLI_OK)
		return rc;
	if ((rc = read_password(cli, pwfile, "password: ", pw, sizeof pw, &pwlen)) != CLI_OK)
		return rc;
	rc = cs_auth_login(cli->reg, name, pw, pwlen, ttl, tok, sizeof tok, &who);
	sodium_memzero(pw, sizeof pw);
	if (rc != CS_OK)
		return reg_fail(cli);
	rc = token_save(cli, who.user, tok);
	sodium_memzero(tok, sizeof tok);
	if (rc != CLI_OK)
		return rc;
	token_path(cli, p, sizeof p, 0);
	cli_step(cli, "logged in as %s (role %s); the token is in %s (mode 0600)", who.user,
		 cs_role_name(who.role), p);
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "user", who.user, "role",
				      cs_role_name(who.role), "token_file", p);

		cli_print_json(o);
		json_decref(o);
	}
	return CLI_OK;
}

int cli_cmd_logout(cs_cli *cli, int argc, char **argv)
{
	char p[PATH_MAX], tok[CS_AUTH_KEY_SIZE * 2];
	cs_principal who;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", NULL)) != -1)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	if ((rc = cli_registry(cli, 0)) != CLI_OK)
		return rc;
	if (token_load(cli, tok, sizeof tok)) {
		if (cs_auth_key_verify(cli->reg, tok, &who) == CS_OK)
			cs_auth_key_revoke(cli->reg, who.key_id);
		sodium_memzero(tok, sizeof tok);
	}
	if (token_path(cli, p, sizeof p, 0) == 0 && unlink(p) == 0)
		cli_step(cli, "logged out (session revoked, %s removed)", p);
	else
		cli_step(cli, "not logged in");
	return CLI_OK;
}

int cli_cmd_whoami(cs_cli *cli, int argc, char **argv)
{
	cs_principal who;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", NULL)) != -1)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	if ((rc = cli_registry(cli, 0)) != CLI_OK)
		return rc;
	if ((rc = cli_principal(cli, &who, 0)) != CLI_OK)
		return rc;
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:b}", "user", who.user, "role",
				      cs_role_name(who.role), "auth", auth_on(cli));

		cli_print_json(o);
		json_decref(o);
	} else {
		printf("%s (role %s); auth is %s\n", who.user, cs_role_name(who.role),
		       auth_on(cli) ? "on" : "off");
	}
	return CLI_OK;
}

/* ------------------------------------------------------------ key */

/* "N", "N/s", "N/min", "N/h" as calls per second. */
static int parse_rate(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v <= 0 || v > 1e6)
		return -1;
	if (!*end || strcmp(end, "/s") == 0)
		*out = v;
	else if (strcmp(end, "/min") == 0)
		*out = v / 60;
	else if (strcmp(end, "/h") == 0)
		*out = v / 3600;
	else
		return -1;
	return 0;
}

/* "N" or "N/day". */
static int parse_quota(const char *s, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || v <= 0 || (*end && strcmp(end, "/day") != 0))
		return -1;
	*out = v;
	return 0;
}

/* YYYY-MM-DD[THH:MM[:SS]][Z] (UTC), or +N[s|m|h|d] from now. */
static int parse_expires(const char *s, long long *out)
{
	struct tm tm;
	char *end;
	const char *rest;

	if (s[0] == '+') {
		long long v = strtoll(s + 1, &end, 10);
		long long mul = 1;

		if (end == s + 1 || v <= 0)
			return -1;
		if (*end == 'm')
			mul = 60;
		else if (*end == 'h')
			mul = 3600;
		else if (*end == 'd')
			mul = 86400;
		else if (*end && *end != 's')
			return -1;
		if (*end && end[1])
			return -1;
		*out = (long long)time(NULL) + v * mul;
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	rest = strptime(s, "%Y-%m-%d", &tm);
	if (!rest)
		return -1;
	if (*rest == 'T' || *rest == ' ') {
		const char *r2 = strptime(rest + 1, "%H:%M:%S", &tm);

		rest = r2 ? r2 : strptime(rest + 1, "%H:%M", &tm);
		if (!rest)
			return -1;
	}
	if (*rest == 'Z')
		rest++;
	if (*rest)
		return -1;
	*out = (long long)timegm(&tm);
	return 0;
}

static void print_key_row(const json_t *k)
{
	char t[40];
	long long exp = json_integer_value(json_object_get(k, "expires"));
	long long rev = json_integer_value(json_object_get(k, "revoked"));
	char rate[32], quota[32];

	if (json_real_value(json_object_get(k, "rate")) > 0)
		snprintf(rate, sizeof rate, "%g/s", json_real_value(json_object_get(k, "rate")));
	else
		snprintf(rate, sizeof rate, "-");
	if (json_integer_value(json_object_get(k, "quota")) > 0)
		snprintf(quota, sizeof quota, "%lld/day", (long long)json_integer_value(json_object_get(k, "quota")));
	else
		snprintf(quota, sizeof quota, "-");
	printf("%-12s %-17s %-14s %-9s %-10s %-11s %-20s %s\n", jstr(k, "id", ""), jstr(k, "prefix", ""),
	       jstr(k, "user", ""), jstr(k, "kind", ""), rate, quota,
	       rev ? "revoked" : exp && exp <= (long long)time(NULL) ? "expired" :
	       exp ? when(exp, 0, t, sizeof t) : "never", jstr(k, "models", ""));
}

/* Whether who may see or revoke key k: admin, its user, its creator (owner). */
static int key_allowed(cs_cli *cli, const json_t *k)
{
	cs_principal who;
	int rc;

	if (!auth_on(cli))
		return CLI_OK;
	if ((rc = cli_principal(cli, &who, 0)) != CLI_OK)
		return rc;
	if (strcmp(jstr(k, "user", ""), who.user) == 0)
		return CLI_OK;
	if (cs_auth_allow(cli->reg, &who, "key.manage", jstr(k, "creator", "")) != CS_OK) {
		cli_err(cli, "refused: %s", cli->reg->errstr);
		return CLI_DENIED;
	}
	return CLI_OK;
}

int cli_cmd_key(cs_cli *cli, int argc, char **argv)
{
	static const char *const words[] = {"create", "list", "show", "revoke", NULL};
	static const struct option opts[] = {
		{"user", required_argument, NULL, 'u'},
		{"models", required_argument, NULL, 'm'},
		{"all", no_argument, NULL, 'a'},
		{"rate", required_argument, NULL, 'r'},
		{"quota", required_argument, NULL, 'q'},
		{"expires", required_argument, NULL, 'e'},
		{"days", required_argument, NULL, 'd'},
		{"sessions", no_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	const char *sub = subcommand(cli, argc, argv, words);
	const char *user = NULL, *models = NULL;
	char actor[80];
	cs_key_spec spec;
	int c, rc, all = 0, days = 7, sessions = 0;

	if (!sub)
		return CLI_USAGE;
	if (!*sub)
		return CLI_OK;
	memset(&spec, 0, sizeof spec);
	argc--;
	argv++;
	optind = 0;
	while ((c = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'm': models = optarg; break;
		case 'a': all = 1; break;
		case 'r':
			if (parse_rate(optarg, &spec.rate) != 0) {
				cli_err(cli, "--rate must be N/s (or N/min, N/h), N > 0, got '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case 'q':
			if (parse_quota(optarg, &spec.quota) != 0) {
				cli_err(cli, "--quota must be N/day, N > 0, got '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case 'e':
			if (parse_expires(optarg, &spec.expires) != 0) {
				cli_err(cli, "--expires must be YYYY-MM-DD[THH:MM[:SS]] (UTC) or +N[s|m|h|d], got '%s'", optarg);
				return CLI_USAGE;
			}
			if (spec.expires <= (long long)time(NULL)) {
				cli_err(cli, "--expires %s is in the past", optarg);
				return CLI_USAGE;
			}
			break;
		case 'd': days = atoi(optarg); break;
		case 's': sessions = 1; break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if ((rc = cli_registry(cli, 1)) != CLI_OK)
		return rc;
	if (strcmp(sub, "create") == 0) {
		char key[CS_AUTH_KEY_SIZE], id[CS_AUTH_ID_SIZE];

		if (argc - optind != 0 || !user || (!models == !all)) {
			cli_err(cli, "key create needs --user NAME and one of --models a,b or --all (see --help)");
			return CLI_USAGE;
		}
		if ((rc = cli_authorize(cli, "key.create", all ? "*" : models)) != CLI_OK)
			return rc;
		spec.user = user;
		spec.models = all ? "*" : models;
		spec.creator = auth_on(cli) ? cli_actor(cli, actor, sizeof actor) : user;
		if (strncmp(spec.creator, "local:", 6) == 0)
			spec.creator = user;
		if (cs_auth_key_create(cli->reg, &spec, key, sizeof key, id, sizeof id) != CS_OK)
			return reg_fail(cli);
		if (cli->json) {
			json_t *o = json_pack("{s:s,s:s,s:s}", "id", id, "user", user, "key", key);

			cli_print_json(o);
			json_decref(o);
		} else {
			printf("key %s for %s created (models %s, rate %s, quota %s); it is shown once, keep it now:\n",
			       id, user, spec.models, spec.rate > 0 ? "limited" : "none",
			       spec.quota > 0 ? "limited" : "none");
			printf("%s\n", key);
			fflush(stdout);
		}
		sodium_memzero(key, sizeof key);
		return CLI_OK;
	}
	if (strcmp(sub, "list") == 0) {
		json_t *keys, *k;
		size_t i;
		cs_principal who;

		if (argc - optind != 0) {
			cli_err(cli, "key list takes no arguments (--user NAME filters)");
			return CLI_USAGE;
		}
		if (auth_on(cli)) {
			if ((rc = cli_principal(cli, &who, 0)) != CLI_OK)
				return rc;
			if (who.role != CS_ROLE_ADMIN) {
				if (user && strcmp(user, who.user) != 0) {
					cli_err(cli, "refused: user '%s' (role %s) may only list its own keys and the keys it made",
						who.user, cs_role_name(who.role));
					return CLI_DENIED;
				}
				user = who.user;
			}
		}
		if (cs_auth_keys(cli->reg, user, sessions, &keys) != CS_OK)
			return reg_fail(cli);
		if (cli->json) {
			cli_print_json(keys);
		} else {
			printf("%-12s %-17s %-14s %-9s %-10s %-11s %-20s %s\n", "ID", "PREFIX", "USER",
			       "KIND", "RATE", "QUOTA", "EXPIRES", "MODELS");
			json_array_foreach(keys, i, k)
				print_key_row(k);
		}
		json_decref(keys);
		return CLI_OK;
	}
	if (argc - optind != 1) {
		cli_err(cli, "key %s expects the key's ID (see `cubeserve key list`)", sub);
		return CLI_USAGE;
	}
	{
		json_t *k, *row;
		size_t i;

		if (cs_auth_key_show(cli->reg, argv[optind], days, &k) != CS_OK)
			return reg_fail(cli);
		if ((rc = key_allowed(cli, k)) != CLI_OK) {
			json_decref(k);
			return rc;
		}
		if (strcmp(sub, "revoke") == 0) {
			json_decref(k);
			if (cs_auth_key_revoke(cli->reg, argv[optind]) != CS_OK)
				return reg_fail(cli);
			cli_step(cli, "key %s revoked (the gateways drop it within about a second)", argv[optind]);
			return CLI_OK;
		}
		if (cli->json) {
			cli_print_json(k);
		} else {
			char t[40];

			printf("key %s  %s\n", jstr(k, "id", ""), jstr(k, "prefix", ""));
			printf("  user      %s (made by %s)\n", jstr(k, "user", ""), jstr(k, "creator", ""));
			printf("  kind      %s\n  models    %s\n", jstr(k, "kind", ""), jstr(k, "models", ""));
			printf("  rate      %g/s (0: none)\n", json_real_value(json_object_get(k, "rate")));
			printf("  quota     %lld/day (0: none)\n", (long long)json_integer_value(json_object_get(k, "quota")));
			printf("  created   %s\n", when(json_integer_value(json_object_get(k, "created")), 1, t, sizeof t));
			printf("  expires   %s\n", json_integer_value(json_object_get(k, "expires")) ?
			       when(json_integer_value(json_object_get(k, "expires")), 0, t, sizeof t) : "never");
			printf("  revoked   %s\n", json_integer_value(json_object_get(k, "revoked")) ?
			       when(json_integer_value(json_object_get(k, "revoked")), 1, t, sizeof t) : "no");
			printf("  calls (last %d days, UTC):\n", days);
			printf("    %-10s %-20s %8s %8s\n", "DAY", "MODEL", "OK", "ERROR");
			json_array_foreach(json_object_get(k, "calls"), i, row)
				printf("    %-10s %-20s %8lld %8lld\n", jstr(row, "day", ""), jstr(row, "model", ""),
				       (long long)json_integer_value(json_object_get(row, "ok")),
				       (long long)json_integer_value(json_object_get(row, "error")));
		}
		json_decref(k);
	}
	return CLI_OK;
}

/* ------------------------------------------------------------ access */

int cli_cmd_access(cs_cli *cli, int argc, char **argv)
{
	char owner[80];
	int c, rc, pub;

	while ((c = cli_getopt(cli, argc, argv, "", NULL)) != -1)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	if (argc - optind < 1 || argc - optind > 2 ||
	    (argc - optind == 2 && strcmp(argv[optind + 1], "public") != 0 &&
	     strcmp(argv[optind + 1], "private") != 0)) {
		cli_err(cli, "expected NAME [public|private] (see --help)");
		return CLI_USAGE;
	}
	if ((rc = cli_registry(cli, 1)) != CLI_OK)
		return rc;
	if (argc - optind == 2) {
		json_t *m = NULL;

		if (cs_registry_model(cli->reg, argv[optind], NULL, 0, &m) != CS_OK)
			return cli_reg_fail(cli);
		json_decref(m);
		if ((rc = cli_authorize(cli, "model.manage", argv[optind])) != CLI_OK)
			return rc;
		if (cs_auth_access_set(cli->reg, argv[optind],
				       strcmp(argv[optind + 1], "public") == 0) != CS_OK)
			return reg_fail(cli);
	}
	if (cs_auth_access(cli->reg, argv[optind], &pub, owner, sizeof owner) != CS_OK)
		return reg_fail(cli);
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "name", argv[optind], "access",
				      pub ? "public" : "private", "owner", owner, "auth", auth_on(cli));

		cli_print_json(o);
		json_decref(o);
	} else {
		printf("%s is %s%s%s%s\n", argv[optind], pub ? "public" : "private",
		       owner[0] ? " (owner " : "", owner, owner[0] ? ")" : "");
		if (!auth_on(cli))
			printf("note: auth is off in this stack, so every model answers everyone (`cubeserve up --auth on`)\n");
	}
	return CLI_OK;
}

/* ------------------------------------------------------------ audit */

int cli_cmd_audit(cs_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"lines", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	json_t *log, *e;
	long n = 50;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "n:", opts)) != -1) {
		switch (c) {
		case 'n': n = atol(optarg); break;
		case CLI_OPT_HELP: return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (n < 1 || argc - optind != 0) {
		cli_err(cli, "usage: cubeserve audit [-n N] (N >= 1)");
		return CLI_USAGE;
	}
	if ((rc = cli_registry(cli, 0)) != CLI_OK)
		return rc == CLI_NOTFOUND ? CLI_OK : rc;
	if ((rc = cli_authorize(cli, "audit.read", NULL)) != CLI_OK)
		return rc;
	if (cs_auth_audit_list(cli->reg, n, &log) != CS_OK)
		return reg_fail(cli);
	if (cli->json) {
		cli_print_json(log);
	} else {
		printf("%-20s %-16s %-12s %-30s %s\n", "TIME (UTC)", "WHO", "WHAT", "TARGET", "RESULT");
		json_array_foreach(log, i, e) {
			char t[40];

			printf("%-20s %-16s %-12s %-30s %s\n",
			       when(json_integer_value(json_object_get(e, "time")), 1, t, sizeof t),
			       jstr(e, "who", ""), jstr(e, "what", ""), jstr(e, "target", ""),
			       jstr(e, "result", ""));
		}
	}
	json_decref(log);
	return CLI_OK;
}

/* ------------------------------------------------------------ hooks */

/*
 * The commands that change something, the action cs_auth_allow checks
 * (NULL: the command checks itself) and whether their first argument
 * names the model.
 */
static const struct {
	const char *cmd, *action;
	int model_arg;
} managed[] = {
	{"publish", NULL, 0},
	{"set-default", "model.manage", 1},
	{"remove", "model.manage", 1},
	{"deploy", "deploy", 1},
	{"undeploy", "deploy", 1},
	{"pause", "deploy", 1},
	{"resume", "deploy", 1},
	{"restart", "deploy", 1},
	{"scale", "deploy", 1},
	{"autoscale", "deploy", 1},
	{"switch", "deploy", 1},
	{"promote", "deploy", 1},
	{"rollback", "deploy", 1},
	{"supervise", "deploy", 0},
	{"rate", NULL, 1},
	{"favorite", NULL, 1},
	{"user", NULL, 0},
	{"key", NULL, 0},
	{"access", NULL, 1},
	{"login", NULL, 0},
	{"logout", NULL, 0},
};

static int managed_index(const char *cmd)
{
	for (size_t i = 0; i < sizeof managed / sizeof managed[0]; i++)
		if (strcmp(managed[i].cmd, cmd) == 0)
			return (int)i;
	return -1;
}

int cli_auth_gate(cs_cli *cli, int argc, char **argv)
{
	int i = managed_index(cli->cmd);
	char model[80];
	const char *a;

	if (i < 0 || !managed[i].action || cli->gate_done)
		return CLI_OK;
	cli->gate_done = 1;
	if (!auth_on(cli))
		return CLI_OK;
	model[0] = '\0';
	a = optind > 0 && optind < argc ? argv[optind] : NULL;
	if (managed[i].model_arg && a)
		snprintf(model, sizeof model, "%.*s", (int)strcspn(a, "@"), a);
	if ((strcmp(cli->cmd, "autoscale") == 0 && !a) || strcmp(cli->cmd, "supervise") == 0)
		snprintf(model, sizeof model, "*");
	return cli_authorize(cli, managed[i].action, model);
}

void cli_auth_record(cs_cli *cli, int argc, char **argv, int rc)
{
	char target[256], who[80], res[64];
	size_t o = 0;
	int i = managed_index(cli->cmd);

	if (i < 0 || !cli->reg || rc == CLI_USAGE)
		return;
	target[0] = '\0';
	/* the arguments, never option values (no secret is an argument) */
	for (int k = 1; k < argc && o < sizeof target - 1; k++) {
		if (argv[k][0] == '-')
			continue;
		o += (size_t)snprintf(target + o, sizeof target - o, "%s%.60s", o ? " " : "", argv[k]);
	}
	if (o >= sizeof target)
		target[sizeof target - 1] = '\0';
	snprintf(res, sizeof res, rc == CLI_OK ? "ok" : rc == CLI_DENIED ? "denied" : "failed (exit %d)", rc);
	cs_auth_audit(cli->reg, cli_actor(cli, who, sizeof who), cli->cmd, target, res);
}

int cli_auth_publish(cs_cli *cli, const char *model, int claim)
{
	char actor[80];

	if (!auth_on(cli))
		return CLI_OK;
	if (!claim)
		return cli_authorize(cli, "model.publish", model);
	cli_actor(cli, actor, sizeof actor);
	if (strncmp(actor, "local:", 6) != 0 && cs_auth_owner_claim(cli->reg, model, actor) != CS_OK)
		return cli_reg_fail(cli);
	return CLI_OK;
}

int cli_auth_up(cs_cli *cli, int mode, FILE *out)
{
	char pw[40], tok[CS_AUTH_KEY_SIZE];
	const char *admin = "admin";
	long long n = 0;
	int on;

	if (mode >= 0 && cs_auth_set_mode(cli->reg, mode) != CS_OK)
		return cli_reg_fail(cli);
	if (cs_auth_mode(cli->reg, &on) != CS_OK)
		return cli_reg_fail(cli);
	fprintf(out, "up: auth is %s%s\n", on ? "on" : "off",
		on ? " (private models need an API key; management needs a login)" :
		     " (every model answers everyone; use --auth on for anything others can reach)");
	if (!on)
		return CLI_OK;
	if (cs_auth_user_count(cli->reg, &n) != CS_OK)
		return cli_reg_fail(cli);
	if (n == 0) {
		random_password(pw, sizeof pw);
		if (cs_auth_user_add(cli->reg, admin, CS_ROLE_ADMIN, pw, strlen(pw)) != CS_OK) {
			sodium_memzero(pw, sizeof pw);
			return cli_reg_fail(cli);
		}
		fprintf(out, "up: created the first admin: user %s, password %s (shown once; change it with `cubeserve user passwd %s`)\n",
			admin, pw, admin);
		sodium_memzero(pw, sizeof pw);
		/* the local admin's session, as `cubeserve login admin` would make it */
		{
			cs_key_spec spec;

			memset(&spec, 0, sizeof spec);
			spec.user = admin;
			spec.kind = "session";
			spec.expires = (long long)time(NULL) + 30LL * 86400;
			if (cs_auth_key_create(cli->reg, &spec, tok, sizeof tok, NULL, 0) != CS_OK)
				return cli_reg_fail(cli);
		}
		if (token_save(cli, admin, tok) == CLI_OK)
			fprintf(out, "up: the local admin is logged in (token under the config dir, mode 0600)\n");
		sodium_memzero(tok, sizeof tok);
		cs_auth_audit(cli->reg, "local", "user", "add admin (first admin, by up)", "ok");
	}
	return CLI_OK;
}

void cli_auth_example(cs_cli *cli, const char *model)
{
	char k[256];
	const char *a[4] = {"HSETNX", k, "access", "public"};

	/* the examples are public unless someone decided otherwise */
	cs_registry_key(cli->reg, k, sizeof k, "acl:%s", model);
	cs_registry_free_reply(cs_registry_argv(cli->reg, 4, a));
}

void cli_auth_status(cs_cli *cli, const char *model, json_t *row)
{
	json_t *calls = NULL, *v;
	const char *id;

	if (cs_auth_meter_model(cli->reg, model, cs_auth_today(), &calls) != CS_OK) {
		json_decref(calls);
		return;
	}
	if (row) {
		json_object_set_new(row, "calls_today_by_key", calls);
		return;
	}
	if (json_object_size(calls)) {
		printf("  calls today (UTC) by key:");
		json_object_foreach(calls, id, v)
			printf(" %s %lld ok / %lld error;", id,
			       (long long)json_integer_value(json_object_get(v, "ok")),
			       (long long)json_integer_value(json_object_get(v, "error")));
		printf("\n");
	}
	json_decref(calls);
}
