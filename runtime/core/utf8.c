/*
 * utf8.c - UTF-8 validation (see utf8.h).
 */
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

size_t cs_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char b = p[0];
	size_t n;
	uint32_t cp;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
		cp = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		cp = b & 0x0f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		cp = b & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

int cs_utf8_valid(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p, *e = s + n;

	while (s < e) {
		size_t k;

		if (*s < 0x80) {
			uint64_t w;

			/* ASCII eight bytes at a time */
			while (e - s >= 8) {
				memcpy(&w, s, 8);
				if (w & UINT64_C(0x8080808080808080))
					break;
				s += 8;
			}
			if (s < e && *s < 0x80)
				s++;
			continue;
		}
		k = cs_utf8_seq(s, e);
		if (!k)
			return 0;
		s += k;
	}
	return 1;
}
