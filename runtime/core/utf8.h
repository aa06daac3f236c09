/*
 * utf8.h - strict UTF-8 (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF. The one validator of the runtime. Pure;
 * thread-safe.
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence at p (p < end), or 0. */
size_t cs_utf8_seq(const unsigned char *p, const unsigned char *end);

/* Whether [p, p+n) is valid UTF-8. */
int cs_utf8_valid(const char *p, size_t n);

#endif
