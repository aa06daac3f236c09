/*
 * typed.c - registry hashes (all strings) as typed JSON for --json output:
 * counters and times become numbers, JSON-valued fields become the JSON
 * they hold. The schemas are in docs/cli.md ("--json schemas").
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Fields that hold numbers, in any registry hash we print. */
static const char *const number_fields[] = {
	"processes", "instances", "min", "max", "next_socket", "max_body_bytes",
	"request_timeout_ms", "updated", "created", "published", "size",
	"canary_percent", "keep_warm_s", "rating_sum", "rating_count",
	"favorites", "views", "calls", "pid", "busy", "threads", "waiting",
	"requests", "rps", "p50_ms", "p99_ms", "started", "errors",
	"last_error_time", "desired", "time", NULL,
};

/* Fields that hold JSON text. */
static const char *const json_fields[] = {
	"tags", "inputs", "outputs", "files", "blobs", "example", "manifest",
	"pools", "sockets", "pids", "placement", NULL,
};

static int listed(const char *const *list, const char *k)
{
	for (; *list; list++)
		if (!strcmp(*list, k))
			return 1;
	return 0;
}

void cli_json_typed(json_t *o)
{
	const char *k;
	json_t *v;
	void *tmp;

	if (!json_is_object(o))
		return;
	json_object_foreach_safe(o, tmp, k, v) {
		const char *s = json_string_value(v);

		if (json_is_object(v)) {
			cli_json_typed(v);
			continue;
		}
		if (!s)
			continue;
		if (listed(number_fields, k)) {
			char *end;
			double d;

			if (!*s) {
				json_object_set_new(o, k, json_null());
				continue;
			}
			d = strtod(s, &end);
			if (*end)
				continue;
			if (strpbrk(s, ".eE"))
				json_object_set_new(o, k, json_real(d));
			else
				json_object_set_new(o, k, json_integer(strtoll(s, NULL, 10)));
		} else if (listed(json_fields, k)) {
			json_t *j = *s ? json_loads(s, JSON_DECODE_ANY, NULL) : json_null();

			if (j)
				json_object_set_new(o, k, j);
		}
	}
}
