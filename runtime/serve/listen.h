/*
 * listen.h - the worker's listening socket: inherited on fd 0 (spawn-fcgi)
 * or bound from an address.
 */
#ifndef CS_LISTEN_H
#define CS_LISTEN_H

#include <stddef.h>

/*
 * Binds and listens on "unix:PATH" or "HOST:PORT" (IPv4, IPv6 in [..], or a
 * name). A unix socket path that a live process still serves is refused
 * (a stale one is removed). On success returns the non-blocking socket and,
 * for unix sockets, *unix_path (malloc'd, or NULL) for unlinking at exit.
 * On failure returns -1 with err naming the address and the reason.
 */
int cs_listen_open(const char *addr, int backlog, char **unix_path,
		   char *err, size_t errlen);

/*
 * Checks that fd 0 is a listening socket (as spawn-fcgi leaves it) and makes
 * it non-blocking. Returns 0, or -1 with err saying what fd 0 is instead.
 */
int cs_listen_inherited(char *err, size_t errlen);

/*
 * Connections waiting in a listening socket's accept queue, as the kernel
 * tells it (TCP_INFO for TCP, sock_diag for unix sockets); -1 when unknown.
 * Cheap enough for a status page or a once-a-second heartbeat.
 */
int cs_listen_queue(int fd);

#endif
