/* podserver: the backend "pod" of the integration tests.
 *
 *   podserver --name pod-a --port 8080 [--tcp 9000] [--udp 9001] [--ready-file F]
 *
 * Listens on every given port, TCP and UDP (--port means both), on IPv4 and
 * IPv6 at once (one dual-stack socket per port and protocol; a plain IPv4
 * socket if IPv6 is disabled). Answers each TCP connection and each UDP
 * datagram with its name and a newline, so a client can tell which endpoint a
 * service sent it to. With --show-peer the reply also names the source address
 * the pod saw ("pod-a peer=192.0.2.2:40312"), for checks of masquerading.
 *
 * Single-threaded: one poll() loop. Once every socket is bound it writes
 * --ready-file (if given) so the harness knows it can send. Exits on
 * SIGTERM/SIGINT. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SOCKS 64

struct listener {
	int fd;
	int type;          /* SOCK_STREAM or SOCK_DGRAM */
	unsigned short port;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: podserver --name NAME [--port P]... [--tcp P]... [--udp P]...\n"
		"                 [--ready-file FILE] [--show-peer] [--verbose]\n"
		"  --port P   listen on TCP and UDP port P\n"
		"  --tcp P    listen on TCP port P only\n"
		"  --udp P    listen on UDP port P only\n");
}

static int parse_port(const char *s, unsigned short *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*out = (unsigned short)v;
	return 0;
}

static void format_peer(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr, sizeof(addr));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
		port = ntohs(s6->sin6_port);
		snprintf(buf, size, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
		port = ntohs(s4->sin_port);
		snprintf(buf, size, "%s:%u", addr, port);
	} else {
		snprintf(buf, size, "?");
	}
}

/* Returns the fd, or -errno. Tries a dual-stack IPv6 socket first. */
static int open_listener(int type, unsigned short port)
{
	int one = 1, zero = 0;
	int fd, r;

	fd = socket(AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0) {
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port),
					   .sin6_addr = IN6ADDR_ANY_INIT };

		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
			goto fail;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
	} else if (errno == EAFNOSUPPORT) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
					  .sin_addr.s_addr = htonl(INADDR_ANY) };

		fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
	} else {
		return -errno;
	}
	if (type == SOCK_STREAM && listen(fd, 128) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

static void reply_text(const char *name, bool show_peer, const struct sockaddr_storage *peer,
		       char *buf, size_t size)
{
	if (show_peer) {
		char p[INET6_ADDRSTRLEN + 16];

		format_peer(peer, p, sizeof(p));
		snprintf(buf, size, "%s peer=%s\n", name, p);
	} else {
		snprintf(buf, size, "%s\n", name);
	}
}

static void serve_tcp(const struct listener *l, const char *name, bool show_peer, bool verbose)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		char msg[256];
		size_t len, off = 0;
		int c;

		c = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				fprintf(stderr, "podserver %s: accept on tcp/%u: %s\n", name,
					l->port, strerror(errno));
			return;
		}
		reply_text(name, show_peer, &peer, msg, sizeof(msg));
		len = strlen(msg);
		/* The socket is blocking; the reply is tiny and fits the send buffer. */
		while (off < len) {
			ssize_t n = send(c, msg + off, len - off, MSG_NOSIGNAL);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			off += (size_t)n;
		}
		if (verbose) {
			char p[INET6_ADDRSTRLEN + 16];

			format_peer(&peer, p, sizeof(p));
			fprintf(stderr, "podserver %s: tcp/%u from %s\n", name, l->port, p);
		}
		/* FIN, not RST: the client reads to EOF. */
		shutdown(c, SHUT_WR);
		close(c);
	}
}

static void serve_udp(const struct listener *l, const char *name, bool show_peer, bool verbose)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		char in[2048], msg[256];
		ssize_t n;

		n = recvfrom(l->fd, in, sizeof(in), 0, (struct sockaddr *)&peer, &plen);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				fprintf(stderr, "podserver %s: recvfrom on udp/%u: %s\n", name,
					l->port, strerror(errno));
			return;
		}
		reply_text(name, show_peer, &peer, msg, sizeof(msg));
		if (sendto(l->fd, msg, strlen(msg), 0, (struct sockaddr *)&peer, plen) < 0)
			fprintf(stderr, "podserver %s: sendto on udp/%u: %s\n", name, l->port,
				strerror(errno));
		if (verbose) {
			char p[INET6_ADDRSTRLEN + 16];

			format_peer(&peer, p, sizeof(p));
			fprintf(stderr, "podserver %s: udp/%u from %s\n", name, l->port, p);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "tcp", required_argument, NULL, 't' },
		{ "udp", required_argument, NULL, 'u' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "show-peer", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct listener ls[MAX_SOCKS];
	struct pollfd pfds[MAX_SOCKS];
	const char *name = NULL, *ready_file = NULL;
	bool show_peer = false, verbose = false;
	size_t n = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	int c;

	while ((c = getopt_long(argc, argv, "n:p:t:u:r:svh", opts, NULL)) != -1) {
		unsigned short port;

		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'p':
		case 't':
		case 'u':
			if (parse_port(optarg, &port) < 0) {
				fprintf(stderr, "podserver: invalid port \"%s\"\n", optarg);
				return 2;
			}
			if (n + 2 > MAX_SOCKS) {
				fprintf(stderr, "podserver: too many ports\n");
				return 2;
			}
			if (c != 'u')
				ls[n++] = (struct listener){ .fd = -1, .type = SOCK_STREAM, .port = port };
			if (c != 't')
				ls[n++] = (struct listener){ .fd = -1, .type = SOCK_DGRAM, .port = port };
			break;
		case 'r':
			ready_file = optarg;
			break;
		case 's':
			show_peer = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!name || n == 0 || optind != argc) {
		usage(stderr);
		return 2;
	}

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < n; i++) {
		int fd = open_listener(ls[i].type, ls[i].port);

		if (fd < 0) {
			fprintf(stderr, "podserver %s: cannot listen on %s/%u: %s\n", name,
				ls[i].type == SOCK_STREAM ? "tcp" : "udp", ls[i].port,
				strerror(-fd));
			return 1;
		}
		ls[i].fd = fd;
		pfds[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}

	if (ready_file) {
		FILE *f = fopen(ready_file, "w");

		if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
			fprintf(stderr, "podserver %s: cannot write %s: %s\n", name, ready_file,
				strerror(errno));
			return 1;
		}
	}
	if (verbose)
		fprintf(stderr, "podserver %s: listening on %zu sockets\n", name, n);

	while (!stop) {
		int r = poll(pfds, n, 1000);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "podserver %s: poll: %s\n", name, strerror(errno));
			return 1;
		}
		for (size_t i = 0; i < n && r > 0; i++) {
			if (!(pfds[i].revents & POLLIN))
				continue;
			if (ls[i].type == SOCK_STREAM)
				serve_tcp(&ls[i], name, show_peer, verbose);
			else
				serve_udp(&ls[i], name, show_peer, verbose);
		}
	}
	for (size_t i = 0; i < n; i++)
		close(ls[i].fd);
	return 0;
}
