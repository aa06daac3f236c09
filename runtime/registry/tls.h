/*
 * tls.h - TLS to Redis (rediss://) over hiredis_ssl, when the build has it
 * (configure: hiredis_ssl >= 1.0). Without it cs_registry_tls_available()
 * is 0 and cs_registry_open() refuses rediss:// with a message.
 *
 * Certificates: $CUBESERVE_REDIS_CACERT (a CA file) or
 * $CUBESERVE_REDIS_CAPATH (a CA folder; default /etc/ssl/certs) verify the
 * server, whose name is checked against the URL's host;
 * $CUBESERVE_REDIS_CERT and $CUBESERVE_REDIS_KEY give a client certificate.
 * One TLS context serves the whole process (made on first use, never freed:
 * connections come and go, the context lives as long as the process).
 * Thread-safe: the context is made once under a lock.
 */
#ifndef CS_REGISTRY_TLS_H
#define CS_REGISTRY_TLS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

/* Whether this build can speak TLS to Redis. */
int cs_registry_tls_available(void);

/*
 * Starts TLS on the connected c, checking the server against host. shown
 * is the (masked) address for messages. Returns CS_OK, CS_EUNSUPPORTED
 * (no TLS in this build) or CS_EUNAVAILABLE with err.
 */
int cs_registry_tls_start(redisContext *c, const char *host, const char *shown,
			  char *err, size_t errlen);

#endif
