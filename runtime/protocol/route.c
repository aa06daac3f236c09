/*
 * route.c - endpoint matching (see route.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/names.h"
#include "protocol/route.h"

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

/* A version segment: [A-Za-z0-9._+-], 1..64, not "." or "..". */
static int take_version(const char *s, const char *e, char *dst, size_t dstlen)
{
	size_t n = (size_t)(e - s);

	if (n == 0 || n >= dstlen)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("._+-", c)))
			return 0;
	}
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 1;
}

/* Whether [s, e) equals the literal lit. */
static int seg_is(const char *s, const char *e, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(e - s) == n && memcmp(s, lit, n) == 0;
}

/* Splits [p, end) into at most max segments at '/'. Returns the count, or
 * max + 1 when there are more (or an empty segment). */
static int split(const char *p, const char *end, const char **seg,
		 const char **seg_end, int max)
{
	int n = 0;

	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *e = slash ? slash : end;

		if (e == p || n == max)
			return max + 1;
		seg[n] = p;
		seg_end[n] = e;
		n++;
		p = slash ? slash + 1 : end;
		if (slash && p == end)
			return max + 1;
	}
	return n;
}

static void set_kind(cs_route *out, const char *http_method, int want_post,
		     cs_route_kind kind)
{
	if (want_post ? strcmp(http_method, "POST") == 0 : is_get(http_method)) {
		out->kind = kind;
	} else {
		out->kind = CS_ROUTE_BAD_METHOD;
		out->allow = want_post ? "POST" : "GET, HEAD";
	}
}

/* /v2/... with p just past "/v2". */
static void match_v2(const char *http_method, const char *p, const char *end,
		     const char *served, cs_route *out)
{
	const char *seg[6], *se[6];
	int n;

	if (p == end) {
		set_kind(out, http_method, 0, CS_ROUTE_V2_SERVER);
		return;
	}
	if (*p != '/')
		return;
	n = split(p + 1, end, seg, se, 5);
	if (n == 2 && seg_is(seg[0], se[0], "health")) {
		if (seg_is(seg[1], se[1], "live"))
			set_kind(out, http_method, 0, CS_ROUTE_V2_LIVE);
		else if (seg_is(seg[1], se[1], "ready"))
			set_kind(out, http_method, 0, CS_ROUTE_V2_READY);
		return;
	}
	if (n < 2 || n > 5 || !seg_is(seg[0], se[0], "models"))
		return;
	if (!take_name(seg[1], se[1], out->model, sizeof out->model)) {
		out->why = "bad model name";
		return;
	}
	if (strcmp(out->model, served) != 0) {
		out->why = "unknown model";
		return;
	}
	/* seg[2..]: [versions <v>] [ready|infer] */
	{
		int i = 2;

		if (n >= 4 && seg_is(seg[2], se[2], "versions")) {
			if (!take_version(seg[3], se[3], out->version, sizeof out->version)) {
				out->why = "bad version";
				return;
			}
			i = 4;
		}
		if (i == n) {
			set_kind(out, http_method, 0, CS_ROUTE_V2_MODEL);
		} else if (i + 1 == n && seg_is(seg[i], se[i], "ready")) {
			set_kind(out, http_method, 0, CS_ROUTE_V2_MODEL_READY);
		} else if (i + 1 == n && seg_is(seg[i], se[i], "infer")) {
			set_kind(out, http_method, 1, CS_ROUTE_V2_INFER);
		}
	}
}

void cs_route_match(const char *http_method, const char *path,
		    const char *served, cs_route *out)
{
	static const char prefix[] = "/models/";
	const char *p, *slash, *end;
	const char *seg[4], *se[4];
	size_t len;
	int n;

	memset(out, 0, sizeof(*out));
	out->kind = CS_ROUTE_NOT_FOUND;
	out->why = "no such endpoint";
	if (!path || !http_method || !served)
		return;
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	end = path + len;

	if (seg_is(path, end, "/health")) {
		set_kind(out, http_method, 0, CS_ROUTE_HEALTH);
		return;
	}
	if (seg_is(path, end, "/metrics")) {
		set_kind(out, http_method, 0, CS_ROUTE_METRICS);
		return;
	}
	if (seg_is(path, end, "/status")) {
		set_kind(out, http_method, 0, CS_ROUTE_STATUS);
		return;
	}
	if (len >= 3 && strncmp(path, "/v2", 3) == 0) {
		match_v2(http_method, path + 3, end, served, out);
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
	n = split(slash + 1, end, seg, se, 3);
	if (n > 3) {
		/* an empty segment or too many: seg[] is not all set (found by fuzzing) */
		out->why = "no such method";
		return;
	}
	if (n >= 2 && seg_is(seg[0], se[0], "api")) {
		/* the CubeAI call envelope */
		if (n == 2 && seg_is(seg[1], se[1], "model")) {
			set_kind(out, http_method, 1, CS_ROUTE_API_MODEL);
		} else if (n == 2 && seg_is(seg[1], se[1], "data")) {
			set_kind(out, http_method, 1, CS_ROUTE_API_DATA);
		} else if (n == 3 && (seg_is(seg[1], se[1], "stream") ||
				      seg_is(seg[1], se[1], "file"))) {
			if (!take_name(seg[2], se[2], out->method, sizeof out->method)) {
				out->why = "no such method";
				return;
			}
			set_kind(out, http_method, 1,
				 seg_is(seg[1], se[1], "stream") ?
				 CS_ROUTE_API_STREAM : CS_ROUTE_API_FILE);
		}
		return;
	}
	if (n != 1 || !take_name(seg[0], se[0], out->method, sizeof out->method)) {
		out->why = "no such method";
		return;
	}
	set_kind(out, http_method, 1, CS_ROUTE_CALL);
}
