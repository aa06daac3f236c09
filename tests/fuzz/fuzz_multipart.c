/*
 * fuzz_multipart.c - libFuzzer target: the multipart/form-data reader
 * (every part, as req.files and req.form walk it) and the envelope's
 * three forms of api/data. Input: "CONTENT-TYPE\nQUERY\nBODY" (the body
 * may hold any bytes, NULs included).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/multipart.h"
#include "protocol/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte of every part, as the glue copies them. */
static cs_status each(void *ud, const cs_form_field *f)
{
	size_t *sum = ud;

	for (size_t i = 0; i < f->len; i++)
		*sum += (unsigned char)f->data[i];
	*sum += strlen(f->name) + strlen(f->filename) + strlen(f->content_type);
	return CS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl, *nl2;
	char ct[512], query[256], err[512];
	cs_arena arena;
	size_t sum = 0, n;
	json_t *args;
	char *method;
	int form;

	nl = memchr(p, '\n', size);
	if (!nl)
		return 0;
	n = (size_t)(nl - p);
	if (n >= sizeof ct || memchr(p, '\0', n))
		return 0;
	memcpy(ct, p, n);
	ct[n] = '\0';
	nl2 = memchr(nl + 1, '\n', (size_t)(end - nl - 1));
	if (!nl2)
		return 0;
	n = (size_t)(nl2 - nl - 1);
	if (n >= sizeof query || memchr(nl + 1, '\0', n))
		return 0;
	memcpy(query, nl + 1, n);
	query[n] = '\0';
	p = nl2 + 1;
	/* the body in its own allocation, so reads past it are caught */
	n = (size_t)(end - p);
	{
		char *body = malloc(n ? n : 1);

		if (!body)
			return 0;
		memcpy(body, p, n);
		cs_form_each(ct, body, n, each, &sum, err, sizeof err);
		cs_arena_init(&arena, 0);
		if (cs_envelope_read("action", ct, query, body, n, &arena, &method, &args,
				     &form, err, sizeof err) == CS_OK)
			json_decref(args);
		cs_arena_destroy(&arena);
		free(body);
	}
	return sum == 1 ? 1 : 0; /* keep sum alive */
}
