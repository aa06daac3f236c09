/*
 * url.c - parsing and masking the registry's address (see url.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cubeserve/plugin.h>

#include "registry/url.h"

#define FORMS "expected unix:/PATH, unix://[USER:]PASSWORD@/PATH[?db=N] or redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB]"

/* Where the userinfo of url ends (its '@'), or NULL when it has none. */
static const char *userinfo_end(const char *url, const char **start)
{
	const char *rest, *at, *stop;

	/* any scheme: an address of a form we refuse is masked all the same */
	rest = strstr(url, "://");
	if (!rest)
		return NULL;
	rest += 3;
	*start = rest;
	if (strncmp(url, "unix://", 7) == 0) {
		/* unix://USERINFO@/PATH: the userinfo ends at the last "@/" */
		const char *hit = NULL;

		for (const char *p = rest; (p = strstr(p, "@/")) != NULL; p++)
			hit = p;
		return rest[0] == '/' ? NULL : hit;
	}
	/* the host part ends at the first '/' or '?'; the '@' before it, last one */
	stop = rest + strcspn(rest, "/?");
	at = NULL;
	for (const char *p = rest; p < stop; p++)
		if (*p == '@')
			at = p;
	return at;
}

char *cs_registry_url_mask(const char *url, char *out, size_t outlen)
{
	const char *start = NULL, *at, *colon;

	if (!outlen)
		return out;
	if (!url) {
		snprintf(out, outlen, "%s", "");
		return out;
	}
	at = userinfo_end(url, &start);
	if (!at) {
		snprintf(out, outlen, "%s", url);
		return out;
	}
	colon = memchr(start, ':', (size_t)(at - start));
	if (!colon) /* only one word: redis://PASSWORD@ is not a form, mask it all */
		colon = start - 1;
	snprintf(out, outlen, "%.*s***%s", (int)(colon - url + 1), url, at);
	return out;
}

int cs_registry_url_has_secret(const char *url)
{
	const char *start = NULL;

	return url && userinfo_end(url, &start) != NULL;
}

void cs_registry_addr_wipe(cs_registry_addr *a)
{
	volatile char *p = a->password;

	for (size_t i = 0; i < sizeof a->password; i++)
		p[i] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes [s, e) into out. -1 on a bad escape, NUL or overflow. */
static int decode(const char *s, const char *e, char *out, size_t outlen)
{
	size_t n = 0;

	for (; s < e; s++) {
		int c = (unsigned char)*s;

		if (c == '%') {
			if (e - s < 3 || hexval(s[1]) < 0 || hexval(s[2]) < 0)
				return -1;
			c = hexval(s[1]) * 16 + hexval(s[2]);
			s += 2;
			if (c == 0)
				return -1;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

static int bad(const char *url, char *err, size_t errlen, const char *what)
{
	char masked[600];

	snprintf(err, errlen, "registry '%s': %s (%s)", cs_registry_url_mask(url, masked, sizeof masked),
		 what, FORMS);
	return CS_EINVAL;
}

/* USER:PASSWORD (or :PASSWORD, or PASSWORD alone for unix://) in [s, e). */
static int userinfo(const char *url, const char *s, const char *e, int bare_password,
		    cs_registry_addr *a, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', (size_t)(e - s));

	if (!colon) {
		if (!bare_password)
			return bad(url, err, errlen, "a user name needs a password: USER:PASSWORD@");
		colon = s - 1;
	} else if (decode(s, colon, a->user, sizeof a->user) != 0) {
		return bad(url, err, errlen, "the user name is badly encoded or longer than 127 bytes");
	}
	if (decode(colon + 1, e, a->password, sizeof a->password) != 0 || !a->password[0])
		return bad(url, err, errlen, "the password is empty, badly encoded or longer than 255 bytes");
	return CS_OK;
}

static int number(const char *s, const char *e, long lo, long hi, long *out)
{
	char buf[16], *end;
	long v;

	if (e <= s || (size_t)(e - s) >= sizeof buf)
		return -1;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || buf[0] == '-' || buf[0] == '+' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_unix(const char *url, cs_registry_addr *a, char *err, size_t errlen)
{
	const char *rest = url + 5, *path, *q, *start = NULL, *at;
	long db = 0;

	if (strncmp(rest, "//", 2) == 0)
		rest += 2;
	at = userinfo_end(url, &start);
	path = rest;
	if (at) {
		int rc = userinfo(url, rest, at, 1, a, err, errlen);

		if (rc != CS_OK)
			return rc;
		path = at + 1;
	}
	q = strchr(path, '?');
	if (q) {
		if (strncmp(q, "?db=", 4) != 0 || number(q + 4, q + strlen(q), 0, 1000000, &db) != 0)
			return bad(url, err, errlen, "the only query is ?db=N");
	} else {
		q = path + strlen(path);
	}
	if (q == path || (size_t)(q - path) > 107)
		return bad(url, err, errlen, "the socket path is empty or longer than 107 bytes");
	memcpy(a->path, path, (size_t)(q - path));
	a->path[q - path] = '\0';
	a->db = (int)db;
	return CS_OK;
}

static int parse_tcp(const char *url, cs_registry_addr *a, char *err, size_t errlen)
{
	const char *rest = strchr(url, ':') + 3, *start = NULL, *at, *host, *hend, *end;
	long port = 6379, db = 0;

	a->tls = url[5] == 's';
	at = userinfo_end(url, &start);
	host = rest;
	if (at) {
		int rc = userinfo(url, rest, at, 0, a, err, errlen);

		if (rc != CS_OK)
			return rc;
		host = at + 1;
	}
	end = host + strcspn(host, "/?");
	if (*end == '?')
		return bad(url, err, errlen, "no query is known after the host");
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(end - host));
		if (!hend || hend == host + 1)
			return bad(url, err, errlen, "an IPv6 address needs its closing ']'");
		if ((size_t)(hend - host - 1) >= sizeof a->host)
			return bad(url, err, errlen, "the host name is too long");
		memcpy(a->host, host + 1, (size_t)(hend - host - 1));
		a->host[hend - host - 1] = '\0';
		hend++;
		if (hend != end && *hend != ':')
			return bad(url, err, errlen, "':PORT' or '/DB' must follow the IPv6 address");
	} else {
		hend = memchr(host, ':', (size_t)(end - host));
		if (!hend)
			hend = end;
		if (hend == host || (size_t)(hend - host) >= sizeof a->host)
			return bad(url, err, errlen, "the host is empty or too long");
		memcpy(a->host, host, (size_t)(hend - host));
		a->host[hend - host] = '\0';
		for (const char *p = a->host; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
				return bad(url, err, errlen, "the host name has a character a host name cannot have");
	}
	if (hend < end && *hend == ':' && number(hend + 1, end, 1, 65535, &port) != 0)
		return bad(url, err, errlen, "the port is not a number 1..65535");
	if (*end == '/') {
		const char *d = end + 1, *de = d + strlen(d);

		if (de > d && number(d, de, 0, 1000000, &db) != 0)
			return bad(url, err, errlen, "the database is not a number 0..1000000");
	}
	a->port = (int)port;
	a->db = (int)db;
	return CS_OK;
}

int cs_registry_addr_parse(const char *url, cs_registry_addr *a, char *err, size_t errlen)
{
	int rc;

	memset(a, 0, sizeof *a);
	if (!url || !*url)
		return bad("", err, errlen, "no address");
	if (strncmp(url, "unix:", 5) == 0)
		rc = parse_unix(url, a, err, errlen);
	else if (strncmp(url, "redis://", 8) == 0 || strncmp(url, "rediss://", 9) == 0)
		rc = parse_tcp(url, a, err, errlen);
	else
		rc = bad(url, err, errlen, "unknown scheme");
	if (rc != CS_OK) {
		cs_registry_addr_wipe(a);
		memset(a, 0, sizeof *a);
	}
	return rc;
}
