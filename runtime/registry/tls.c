/*
 * tls.c - rediss:// on hiredis_ssl (see tls.h). Compiled to a refusal when
 * the build has no hiredis_ssl.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cubeserve/plugin.h>

#include "registry/tls.h"

#ifdef HAVE_HIREDIS_SSL
#include <pthread.h>

#include <hiredis/hiredis_ssl.h>

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static redisSSLContext *tls_ctx;
static redisSSLContextError tls_ctx_err = REDIS_SSL_CTX_NONE;

int cs_registry_tls_available(void)
{
	return 1;
}

static redisSSLContext *context(const char *host)
{
	const char *ca = getenv("CUBESERVE_REDIS_CACERT"), *cadir = getenv("CUBESERVE_REDIS_CAPATH");
	redisSSLContext *c;

	pthread_mutex_lock(&tls_lock);
	if (!tls_ctx && tls_ctx_err == REDIS_SSL_CTX_NONE) {
		redisInitOpenSSL();
		if ((!ca || !*ca) && (!cadir || !*cadir))
			cadir = "/etc/ssl/certs";
		tls_ctx = redisCreateSSLContext(ca && *ca ? ca : NULL, cadir && *cadir ? cadir : NULL,
						getenv("CUBESERVE_REDIS_CERT"),
						getenv("CUBESERVE_REDIS_KEY"), host, &tls_ctx_err);
		if (!tls_ctx && tls_ctx_err == REDIS_SSL_CTX_NONE)
			tls_ctx_err = REDIS_SSL_CTX_CREATE_FAILED;
	}
	c = tls_ctx;
	pthread_mutex_unlock(&tls_lock);
	return c;
}

int cs_registry_tls_start(redisContext *c, const char *host, const char *shown,
			  char *err, size_t errlen)
{
	redisSSLContext *ctx = context(host);

	if (!ctx) {
		snprintf(err, errlen, "TLS to Redis at %s: %s", shown,
			 redisSSLContextGetError(tls_ctx_err));
		return CS_EUNAVAILABLE;
	}
	if (redisInitiateSSLWithContext(c, ctx) != REDIS_OK) {
		snprintf(err, errlen, "TLS to Redis at %s: %s", shown, c->errstr);
		return CS_EUNAVAILABLE;
	}
	return CS_OK;
}

#else

int cs_registry_tls_available(void)
{
	return 0;
}

int cs_registry_tls_start(redisContext *c, const char *host, const char *shown,
			  char *err, size_t errlen)
{
	(void)c;
	(void)host;
	snprintf(err, errlen, "registry '%s': this cubeserve was built without TLS (hiredis_ssl)", shown);
	return CS_EUNSUPPORTED;
}

#endif
