/*
 * route.c - endpoint matching (see route.h).
 */
#include <stdio.h>
#include <string.h>

#include "manifest.h"
#include "route.h"

static int is_get(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* Copies one path segment [s, e) into dst when it is a valid name. */
static int take_name(const char *s, const char *e, char *dst, size_t dstlen)
{
	size_t n = (size_t)(e - s);

	if (n == 0 || n >= dstlen)
		return 0;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return cs_name_valid(dst);
}

void cs_route_match(const char *http_method, const char *path,
		    const char *served, cs_route *out)
{
	static const char prefix[] = "/models/";
	const char *p, *slash, *end;
	size_t len;

	memset(out, 0, sizeof(*out));
	out->kind = CS_ROUTE_NOT_FOUND;
	out->why = "no such endpoint";
	if (!path || !http_method)
		return;
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	end = path + len;

	if ((size_t)(end - path) == 7 && strncmp(path, "/health", 7) == 0) {
		if (is_get(http_method)) {
			out->kind = CS_ROUTE_HEALTH;
		} else {
			out->kind = CS_ROUTE_BAD_METHOD;
			out->allow = "GET, HEAD";
		}
		return;
	}
	if (strncmp(path, prefix, sizeof prefix - 1) != 0)
		return;
	p = path + sizeof prefix - 1;
	if (p >= end)
		return;
	slash = memchr(p, '/', (size_t)(end - p));
	if (!take_name(p, slash ? slash : end, out->model, sizeof out->model)) {
		out->why = "bad model name";
		return;
	}
	if (strcmp(out->model, served) != 0) {
		out->why = "unknown model";
		return;
	}
	if (!slash) {
		if (strcmp(http_method, "POST") == 0) {
			out->kind = CS_ROUTE_CALL;
			snprintf(out->method, sizeof out->method, "predict");
		} else if (is_get(http_method)) {
			out->kind = CS_ROUTE_METADATA;
		} else {
			out->kind = CS_ROUTE_BAD_METHOD;
			out->allow = "GET, HEAD, POST";
		}
		return;
	}
	p = slash + 1;
	if (memchr(p, '/', (size_t)(end - p)) ||
	    !take_name(p, end, out->method, sizeof out->method)) {
		out->why = "no such method";
		return;
	}
	if (strcmp(http_method, "POST") != 0) {
		out->kind = CS_ROUTE_BAD_METHOD;
		out->allow = "POST";
		return;
	}
	out->kind = CS_ROUTE_CALL;
}
