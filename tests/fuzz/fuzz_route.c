/*
 * fuzz_route.c - libFuzzer target: the request router, plus the other
 * parsers a path or a header reaches before any glue: the multipart form
 * reader and the envelope body. Input: "METHOD\nPATH\nrest".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/envelope.h"
#include "protocol/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *method, *path, *rest, *nl;
	cs_form_part part;
	cs_route r;
	cs_arena arena;
	json_t *kw;
	char err[512], *m;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	method = s;
	nl = strchr(s, '\n');
	path = nl ? (*nl = '\0', nl + 1) : s + size;
	nl = strchr(path, '\n');
	rest = nl ? (*nl = '\0', nl + 1) : path + strlen(path);
	cs_route_match(method, path, "linear", &r);
	cs_arena_init(&arena, 0);
	cs_form_find(path, rest, strlen(rest), r.method[0] ? r.method : "f", &arena,
		     &part, err, sizeof err);
	if (cs_envelope_parse(rest, strlen(rest), &arena, &m, &kw, err, sizeof err) == 0)
		json_decref(kw);
	cs_arena_destroy(&arena);
	free(s);
	return 0;
}
