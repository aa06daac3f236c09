/*
 * listen.c - listening sockets (see listen.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <linux/rtnetlink.h>

#include "serve/listen.h"

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_unix(const char *path, int backlog, char **unix_path,
		     char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "unix:%s: path longer than %zu bytes",
			 path, sizeof sa.sun_path - 1);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);

	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "unix:%s: exists and is not a socket; refusing to replace it",
				 path);
			return -1;
		}
		/* a socket someone still accepts on is live: refuse */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			snprintf(err, errlen, "unix:%s: already served by a live process; stop it first or choose another socket",
				 path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		if (unlink(path) != 0) {
			snprintf(err, errlen, "unix:%s: cannot remove the stale socket: %s",
				 path, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "unix:%s: socket: %s", path, strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(fd, backlog) != 0) {
		snprintf(err, errlen, "unix:%s: cannot listen: %s", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	set_nonblock(fd);
	*unix_path = strdup(path);
	return fd;
}

static int open_tcp(const char *addr, int backlog, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256];
	const char *colon = strrchr(addr, ':');
	const char *port;
	size_t hlen;
	int fd = -1, rc, one = 1, last = 0;

	if (!colon || colon == addr || !colon[1]) {
		snprintf(err, errlen, "'%s': expected unix:PATH or HOST:PORT", addr);
		return -1;
	}
	port = colon + 1;
	hlen = (size_t)(colon - addr);
	if (addr[0] == '[' && colon[-1] == ']') { /* [::1]:9000 */
		addr++;
		hlen -= 2;
	}
	if (hlen >= sizeof host) {
		snprintf(err, errlen, "'%s': host name too long", addr);
		return -1;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s:%s: %s", host, port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		last = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s:%s: cannot listen: %s%s", host, port,
			 strerror(last),
			 last == EADDRINUSE ? " (another process serves it)" : "");
		return -1;
	}
	set_nonblock(fd);
	return fd;
}

int cs_listen_open(const char *addr, int backlog, char **unix_path,
		   char *err, size_t errlen)
{
	*unix_path = NULL;
	if (strncmp(addr, "unix:", 5) == 0)
		return open_unix(addr + 5, backlog, unix_path, err, errlen);
	return open_tcp(addr, backlog, err, errlen);
}

int cs_listen_inherited(char *err, size_t errlen)
{
	int acc = 0;
	socklen_t len = sizeof acc;

	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0) {
		snprintf(err, errlen,
			 "fd 0 is not a socket (%s): run the worker under spawn-fcgi, or give --listen unix:PATH | HOST:PORT",
			 strerror(errno));
		return -1;
	}
	if (!acc) {
		snprintf(err, errlen,
			 "fd 0 is a socket but not a listening one: run the worker under spawn-fcgi, or give --listen");
		return -1;
	}
	return set_nonblock(0) == 0 ? 0 : -1;
}

/* The accept queue of a listening unix socket, by its inode (sock_diag). */
static int unix_queue(int fd)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg;
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	struct stat st;
	char buf[8192];
	int nlfd, queue = -1;
	ssize_t n;

	if (fstat(fd, &st) != 0)
		return -1;
	nlfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nlfd < 0)
		return -1;
	memset(&msg, 0, sizeof msg);
	msg.nlh.nlmsg_len = sizeof msg;
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;
	msg.req.sdiag_family = AF_UNIX;
	msg.req.udiag_states = 1u << 10; /* TCP_LISTEN */
	msg.req.udiag_ino = (unsigned)st.st_ino;
	msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE */
	msg.req.udiag_show = UDIAG_SHOW_RQLEN;
	if (sendto(nlfd, &msg, sizeof msg, 0, (struct sockaddr *)&nl, sizeof nl) < 0)
		goto out_close;
	n = recv(nlfd, buf, sizeof buf, 0);
	if (n > 0) {
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (NLMSG_OK(h, (unsigned)n) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			struct unix_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *a = (struct rtattr *)(m + 1);
			int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

			for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
				if (a->rta_type == UNIX_DIAG_RQLEN &&
				    RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
					struct unix_diag_rqlen *q = RTA_DATA(a);

					queue = (int)q->udiag_rqueue;
				}
		}
	}
out_close:
	close(nlfd);
	return queue;
}

int cs_listen_queue(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_UNIX)
		return unix_queue(fd);
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
		struct tcp_info ti;
		socklen_t tl = sizeof ti;

		/* for a listening socket, tcpi_unacked is the accept queue */
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0)
			return (int)ti.tcpi_unacked;
	}
	return -1;
}
