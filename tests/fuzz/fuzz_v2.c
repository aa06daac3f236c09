/*
 * fuzz_v2.c - libFuzzer target: the V2 request decoder (JSON and binary
 * data) and the response encoder. Byte 0 picks the mode: odd = the rest is
 * a binary request whose JSON header length is bytes 1-2 (mod the size).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/v2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const cs_json_limits lim = {64, 1 << 16, 1 << 20, 16 << 20};
	size_t header_len = (size_t)-1;
	cs_v2_request rq;
	cs_arena arena;
	char err[1024];
	char *body;

	if (size < 3)
		return 0;
	if (data[0] & 1)
		header_len = ((size_t)data[1] << 8 | data[2]) % (size - 2);
	body = malloc(size - 3 + 1); /* exact size: ASan sees any over-read */
	if (!body)
		return 0;
	memcpy(body, data + 3, size - 3);
	cs_arena_init(&arena, 0);
	if (cs_v2_parse_request(body, size - 3, header_len, &lim, &arena, &rq, err,
				sizeof err) == 0) {
		cs_response resp;

		memset(&resp, 0, sizeof resp);
		cs_v2_encode_response("m", "1", &rq, rq.inputs, rq.n_inputs, rq.parameters, &resp);
		cs_response_reset(&resp);
		cs_v2_request_free(&rq);
	}
	cs_arena_destroy(&arena);
	free(body);
	return 0;
}
