/*
 * url.h - the registry's address: where Redis is and how to log in.
 *
 *   unix:PATH                 unix:///run/redis.sock too
 *   unix://[USER:]PASSWORD@/PATH[?db=N]
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]     port 6379 by default
 *   rediss://...              the same over TLS (needs hiredis_ssl)
 *
 * USER and PASSWORD may be percent-encoded (%40 for '@', %3A for ':').
 * With a USER the login is Redis 6's ACL form (AUTH USER PASSWORD), else
 * the requirepass form (AUTH PASSWORD). HOST may be [v6 address].
 *
 * The password never leaves this module in a message: every error shows
 * the URL masked (cs_registry_url_mask()), and so must every caller that
 * prints or stores an address. Thread-safe: no state.
 */
#ifndef CS_REGISTRY_URL_H
#define CS_REGISTRY_URL_H

#include <stddef.h>

typedef struct cs_registry_addr {
	char host[256];     /* TCP: host name or address ("" for unix) */
	int port;           /* TCP port (0 for unix) */
	char path[108];     /* unix socket path ("" for TCP) */
	char user[128];     /* ACL user ("" none) */
	char password[256]; /* "" none; secret: never print it */
	int db;             /* database number, 0 by default */
	int tls;            /* rediss:// */
} cs_registry_addr;

/*
 * Parses url into *a (all of it overwritten). Returns CS_OK, or CS_EINVAL
 * with err naming the (masked) URL, what is wrong and the accepted forms.
 */
int cs_registry_addr_parse(const char *url, cs_registry_addr *a, char *err,
			   size_t errlen);

/*
 * url with its password replaced by "***" (the user name stays), into out;
 * also for URLs that do not parse. Returns out.
 */
char *cs_registry_url_mask(const char *url, char *out, size_t outlen);

/* Whether url carries a password (then keep it off command lines). */
int cs_registry_url_has_secret(const char *url);

/* Wipes the password of *a (memset that the compiler keeps). */
void cs_registry_addr_wipe(cs_registry_addr *a);

#endif
