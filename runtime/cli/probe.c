/*
 * probe.c - ready checks: a FastCGI GET straight to a worker's socket (as
 * nginx would send it) and an HTTP GET through nginx.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

/*
 * A connection to a worker's address: a unix socket path, or "HOST:PORT"
 * (an IPv4 address or a name; [v6]:PORT) for a worker of a host agent.
 * Non-blocking when nonblock (the connect may be in progress); -1 on a
 * refusal or a bad address.
 */
static int open_worker(const char *sock, int nonblock)
{
	int fl = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), fd;

	if (!sock || !*sock)
		return -1;
	if (sock[0] == '/') {
		struct sockaddr_un sa;

		if (strlen(sock) >= sizeof sa.sun_path)
			return -1;
		fd = socket(AF_UNIX, fl, 0);
		if (fd < 0)
			return -1;
		memset(&sa, 0, sizeof sa);
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, sock, strlen(sock) + 1);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
			close(fd);
			return -1;
		}
		return fd;
	}
	{
		char host[256];
		const char *colon = strrchr(sock, ':');
		struct addrinfo hints, *res = NULL;
		size_t hl;

		if (!colon || colon == sock || !colon[1])
			return -1;
		hl = (size_t)(colon - sock);
		if (sock[0] == '[' && hl >= 2 && sock[hl - 1] == ']') {
			sock++;
			hl -= 2;
		}
		if (hl >= sizeof host)
			return -1;
		memcpy(host, sock, hl);
		host[hl] = '\0';
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
			return -1;
		fd = socket(res->ai_family, fl, 0);
		if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0 &&
		    errno != EINPROGRESS) {
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		return fd;
	}
}

/* Waits for fd to be readable (or writable) until deadline; 0 when ready. */
static int wait_fd(int fd, short ev, long long deadline)
{
	for (;;) {
		struct pollfd p = {fd, ev, 0};
		long long left = deadline - cli_now_ms();
		int n;

		if (left <= 0)
			return -1;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int send_all(int fd, const unsigned char *p, size_t len, long long deadline)
{
	while (len) {
		ssize_t n;

		if (wait_fd(fd, POLLOUT, deadline) != 0)
			return -1;
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_some(int fd, unsigned char *p, size_t len, long long deadline)
{
	for (;;) {
		ssize_t n;

		if (wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
		n = recv(fd, p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return (int)n;
	}
}

static int recv_exact(int fd, unsigned char *p, size_t len, long long deadline)
{
	while (len) {
		int n = recv_some(fd, p, len, deadline);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Appends a FastCGI name-value pair (short lengths only). */
static size_t nv(unsigned char *buf, size_t off, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	buf[off++] = (unsigned char)nl;
	buf[off++] = (unsigned char)vl;
	memcpy(buf + off, name, nl);
	off += nl;
	memcpy(buf + off, value, vl);
	return off + vl;
}

static size_t record(unsigned char *buf, size_t off, int type,
		     const unsigned char *content, size_t len)
{
	buf[off++] = 1;            /* version */
	buf[off++] = (unsigned char)type;
	buf[off++] = 0;            /* request id 1 */
	buf[off++] = 1;
	buf[off++] = (unsigned char)(len >> 8);
	buf[off++] = (unsigned char)len;
	buf[off++] = 0;            /* padding */
	buf[off++] = 0;
	if (len)
		memcpy(buf + off, content, len);
	return off + len;
}

int cli_fcgi_get(const char *sock, const char *path, int timeout_ms,
		 char *body, size_t bodylen)
{
	return cli_fcgi_request(sock, "GET", path, NULL, NULL, 0, timeout_ms, body,
				bodylen);
}

int cli_fcgi_request(const char *sock, const char *method, const char *path,
		     const char *content_type, const char *in, size_t inlen,
		     int timeout_ms, char *body, size_t bodylen)
{
	static const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0};
	unsigned char params[1024], hdr[8], content[65536 + 256], *msg = NULL;
	char clen_s[32];
	long long deadline = cli_now_ms() + timeout_ms;
	char *out = NULL, *st;
	size_t plen = 0, mlen = 0, olen = 0;
	int fd, status = -1;

	if (body && bodylen)
		body[0] = '\0';
	if (strlen(path) > 200 || (content_type && strlen(content_type) > 100) || inlen > 60000)
		return -1;
	fd = open_worker(sock, 1);
	if (fd < 0)
		return -1;

	plen = nv(params, plen, "REQUEST_METHOD", method);
	plen = nv(params, plen, "DOCUMENT_URI", path);
	plen = nv(params, plen, "REQUEST_URI", path);
	plen = nv(params, plen, "SCRIPT_NAME", path);
	plen = nv(params, plen, "QUERY_STRING", "");
	plen = nv(params, plen, "SERVER_PROTOCOL", "HTTP/1.1");
	snprintf(clen_s, sizeof clen_s, "%zu", inlen);
	plen = nv(params, plen, "CONTENT_LENGTH", clen_s);
	if (content_type)
		plen = nv(params, plen, "CONTENT_TYPE", content_type);
	plen = nv(params, plen, "REMOTE_ADDR", "127.0.0.1");
	/* a probe over the pool's own socket (mode 0600) skips the key gateway */
	plen = nv(params, plen, "CS_GATEWAY", "off");
	msg = malloc(sizeof params + inlen + 64);
	if (!msg)
		goto out_close;
	mlen = record(msg, mlen, 1, begin, sizeof begin);
	mlen = record(msg, mlen, 4, params, plen);
	mlen = record(msg, mlen, 4, NULL, 0);
	if (inlen)
		mlen = record(msg, mlen, 5, (const unsigned char *)in, inlen);
	mlen = record(msg, mlen, 5, NULL, 0);
	if (send_all(fd, msg, mlen, deadline) != 0)
		goto out_close;
	out = malloc(65536);
	if (!out)
		goto out_close;
	for (;;) {
		size_t clen, padding;

		if (recv_exact(fd, hdr, 8, deadline) != 0)
			goto out_close;
		clen = (size_t)hdr[4] << 8 | hdr[5];
		padding = hdr[6];
		if (recv_exact(fd, content, clen + padding, deadline) != 0)
			goto out_close;
		if (hdr[1] == 6) { /* STDOUT */
			size_t k = clen < 65535 - olen ? clen : 65535 - olen;

			memcpy(out + olen, content, k);
			olen += k;
		} else if (hdr[1] == 3) { /* END_REQUEST */
			break;
		}
	}
	out[olen] = '\0';
	status = 200;
	st = strstr(out, "Status:");
	if (st && (st == out || st[-1] == '\n'))
		status = atoi(st + 7);
	if (body && bodylen) {
		char *b = strstr(out, "\r\n\r\n");

		snprintf(body, bodylen, "%s", b ? b + 4 : out);
	}
out_close:
	free(msg);
	free(out);
	close(fd);
	return status;
}

int cli_sock_connectable(const char *sock)
{
	int fd = open_worker(sock, 1), ok = 0;

	if (fd < 0)
		return 0;
	/* bounded: an address behind a link that is down does not answer */
	if (wait_fd(fd, POLLOUT, cli_now_ms() + 500) == 0) {
		int soerr = 0;
		socklen_t sl = sizeof soerr;

		ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
	}
	close(fd);
	return ok;
}

int cli_http_get(int port, const char *path, int timeout_ms, char *body,
		 size_t bodylen)
{
	long long deadline = cli_now_ms() + timeout_ms;
	struct sockaddr_in sa;
	char req[512], resp[8192], *b;
	size_t used = 0;
	int fd, n, status = -1;

	if (body && bodylen)
		body[0] = '\0';
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
		goto out_close;
	if (wait_fd(fd, POLLOUT, deadline) != 0)
		goto out_close;
	{
		int soerr = 0;
		socklen_t sl = sizeof soerr;

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr)
			goto out_close;
	}
	n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (send_all(fd, (const unsigned char *)req, (size_t)n, deadline) != 0)
		goto out_close;
	while (used < sizeof resp - 1) {
		n = recv_some(fd, (unsigned char *)resp + used, sizeof resp - 1 - used, deadline);
		if (n < 0)
			goto out_close;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	resp[used] = '\0';
	if (strncmp(resp, "HTTP/1.", 7) == 0 && used > 12)
		status = atoi(resp + 9);
	if (body && bodylen) {
		b = strstr(resp, "\r\n\r\n");
		snprintf(body, bodylen, "%s", b ? b + 4 : "");
	}
out_close:
	close(fd);
	return status;
}

int cli_port_busy(int port)
{
	struct sockaddr_in sa;
	int fd, busy;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	busy = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return busy;
}
