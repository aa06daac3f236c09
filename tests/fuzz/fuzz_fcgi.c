/*
 * fuzz_fcgi.c - libFuzzer target: the FastCGI record reader and the params
 * decoder of the event loop, fed any bytes as a connection would, and the
 * writer: every stream record read is written again and must read back
 * the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int pair(void *arg, const unsigned char *n, size_t nl,
		const unsigned char *v, size_t vl)
{
	size_t *total = arg;

	/* touch every byte, as the loop copies them */
	for (size_t i = 0; i < nl; i++)
		*total += n[i];
	for (size_t i = 0; i < vl; i++)
		*total += v[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, total = 0;
	cs_fcgi_buf out = {0};

	/* cut at every split point a slow peer could make: the first 16 */
	for (size_t cut = 0; cut < 16 && cut <= size; cut++) {
		cs_fcgi_record rec;

		(void)cs_fcgi_next(data, cut, &rec);
	}
	while (off < size) {
		cs_fcgi_record rec, back;
		long k = cs_fcgi_next(data + off, size - off, &rec);

		if (k <= 0)
			break;
		if ((size_t)k > size - off || rec.len > (size_t)k)
			abort();
		if (rec.type == CS_FCGI_PARAMS)
			(void)cs_fcgi_params(rec.content, rec.len, pair, &total);
		out.len = out.off = 0;
		if (cs_fcgi_put(&out, rec.type, rec.id, rec.content, rec.len) == 0) {
			long kb = cs_fcgi_next(out.p, out.len, &back);

			if (kb <= 0 || back.type != rec.type || back.id != rec.id ||
			    back.len != rec.len || memcmp(back.content, rec.content, rec.len))
				abort();
		}
		cs_fcgi_put_end(&out, rec.id, 7, 0);
		off += (size_t)k;
	}
	/* the whole input as a params stream, too */
	(void)cs_fcgi_params(data, size, pair, &total);
	cs_fcgi_buf_free(&out);
	return total == 1 ? 1 : 0;
}
