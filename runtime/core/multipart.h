/*
 * multipart.h - a multipart/form-data reader (RFC 7578) over a body in
 * memory: the envelope's api/file and the glue's req.files both use it.
 * Pure functions; thread-safe.
 */
#ifndef CS_MULTIPART_H
#define CS_MULTIPART_H

#include <stddef.h>

#include <cubeserve/plugin.h>

/* One part as cs_form_each() reports it (valid during the callback). */
typedef struct cs_form_field {
	char name[256];            /* the form field */
	char filename[256];        /* "" when the part is no file */
	char content_type[128];    /* "" when the part has none */
	int is_file;               /* the part has a filename parameter */
	const char *data;          /* into the body */
	size_t len;
} cs_form_field;

/*
 * Walks every part of a multipart/form-data body (at most 64), calling
 * fn(ud, part) for each in order; a status other than CS_OK from fn stops
 * the walk and is returned. Returns CS_OK, CS_EMEDIA when content_type is
 * not multipart/form-data, CS_EINVAL when the body is malformed (a wrong
 * boundary, no closing boundary, a part without headers or name), with the
 * message in err.
 */
cs_status cs_form_each(const char *content_type, const char *body, size_t len,
		 cs_status (*fn)(void *ud, const cs_form_field *f), void *ud,
		 char *err, size_t errlen);

#endif
