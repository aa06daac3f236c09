/*
 * fcgi.h - FastCGI 1.0 records, read from a byte stream and written into
 * a buffer, for a transport that does its own non-blocking IO (the event
 * loop in serve/evloop.c; the threaded transport lets libfcgi read).
 *
 * Nothing here allocates except cs_fcgi_buf's functions; nothing keeps
 * state between calls, so any bytes are safe input (tests/fuzz/fuzz_fcgi.c).
 */
#ifndef CS_FCGI_H
#define CS_FCGI_H

#include <stddef.h>

#define CS_FCGI_HEADER_LEN 8
#define CS_FCGI_MAX_CONTENT 65535

enum {
	CS_FCGI_BEGIN_REQUEST = 1,
	CS_FCGI_ABORT_REQUEST = 2,
	CS_FCGI_END_REQUEST = 3,
	CS_FCGI_PARAMS = 4,
	CS_FCGI_STDIN = 5,
	CS_FCGI_STDOUT = 6,
	CS_FCGI_STDERR = 7,
	CS_FCGI_DATA = 8,
	CS_FCGI_GET_VALUES = 9,
	CS_FCGI_GET_VALUES_RESULT = 10,
	CS_FCGI_UNKNOWN_TYPE = 11,
};

enum { CS_FCGI_RESPONDER = 1 };            /* the only role served */
enum { CS_FCGI_KEEP_CONN = 1 };            /* BEGIN_REQUEST flag */
enum {                                     /* END_REQUEST protocolStatus */
	CS_FCGI_REQUEST_COMPLETE = 0,
	CS_FCGI_CANT_MPX_CONN = 1,
	CS_FCGI_OVERLOADED = 2,
	CS_FCGI_UNKNOWN_ROLE = 3,
};

/* One record; content points into the caller's buffer. */
typedef struct cs_fcgi_record {
	int type;
	int id;                      /* 0: a management record */
	const unsigned char *content;
	size_t len;
} cs_fcgi_record;

/*
 * Looks for one whole record at the start of buf[0..len). Returns the
 * bytes it takes (header, content and padding) with *rec filled, 0 when
 * more bytes are needed, or -1 when the stream is not FastCGI 1.0 (the
 * connection should be closed).
 */
long cs_fcgi_next(const unsigned char *buf, size_t len, cs_fcgi_record *rec);

/*
 * Calls fn for each name-value pair of a complete PARAMS stream
 * p[0..len). fn returns 0 to go on, anything else to stop with that value.
 * Returns 0, fn's value, or -1 when the pairs are malformed (a length
 * running past the end).
 */
typedef int (*cs_fcgi_pair_fn)(void *arg, const unsigned char *name,
			       size_t name_len, const unsigned char *value,
			       size_t value_len);
int cs_fcgi_params(const unsigned char *p, size_t len, cs_fcgi_pair_fn fn,
		   void *arg);

/* A growable output buffer: bytes [off, len) are still to be sent. */
typedef struct cs_fcgi_buf {
	unsigned char *p;
	size_t len, off, cap;
} cs_fcgi_buf;

/*
 * Appends data as records of a stream (STDOUT, STDERR, GET_VALUES_RESULT),
 * at most CS_FCGI_MAX_CONTENT bytes each, padded to 8. len 0 appends
 * the empty record that ends a stream. Returns 0, or -1 out of memory.
 */
int cs_fcgi_put(cs_fcgi_buf *b, int type, int id, const void *data,
		size_t len);

/* Appends an END_REQUEST record. Returns 0, or -1 out of memory. */
int cs_fcgi_put_end(cs_fcgi_buf *b, int id, unsigned app_status,
		    int protocol_status);

/* Drops what was sent and compacts; frees the buffer when it is empty. */
void cs_fcgi_buf_consumed(cs_fcgi_buf *b, size_t n);

void cs_fcgi_buf_free(cs_fcgi_buf *b);

#endif
