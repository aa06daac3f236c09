/*
 * status.h - cs_status helpers: text and HTTP mapping.
 */
#ifndef CS_STATUS_H
#define CS_STATUS_H

#include <cubeserve/plugin.h>

/* A short static description of a status ("invalid argument"). */
const char *cs_strerror(int status);

/* The HTTP status a cs_status becomes in a response. */
int cs_status_http(int status);

/* The reason phrase of an HTTP status ("Bad Request"). */
const char *cs_http_reason(int http_status);

#endif
