/* probe: the client of the integration tests.
 *
 *   probe [--proto tcp|udp] [--count N] [--timeout-ms T] [--interval-ms I]
 *         [--duration-ms D] [--source IP] [--sport P | --sport-base P] [--trace]
 *         [--expect ok|refused|any] IP PORT
 *
 * Makes N attempts (a fresh socket, so a fresh conntrack entry, each time) to
 * IP:PORT. A TCP attempt connects and reads the reply up to EOF; a UDP attempt
 * sends one datagram on a connected socket and waits for one back, so an ICMP
 * port unreachable shows up as ECONNREFUSED (also after a send() that a local
 * output hook made fail with EPERM). Each attempt ends as one of
 *
 *   ok           a reply came; counted per distinct reply line ("pod-a")
 *   refused      ECONNREFUSED: a TCP RST or ICMP port unreachable
 *   unreachable  EHOSTUNREACH / ENETUNREACH / EACCES (ICMP host/net/admin)
 *   timeout      nothing within --timeout-ms
 *   error        anything else (reset after connect, empty reply, ...)
 *
 * and its duration is measured, so "refused at once" can be told from a slow
 * refusal. With --interval-ms the attempts are paced from a fixed schedule;
 * with --duration-ms the run stops after that long (--count 0 = no limit), and
 * SIGTERM/SIGINT stop it early: the summary is printed either way.
 *
 * The kernel picks a random source port per attempt, and a UDP attempt that
 * happens to reuse the port of an earlier one joins that one's conntrack entry
 * (and its DNAT choice). --sport-base P makes attempt i use port P+i, so no
 * two attempts share a flow; --sport P makes every attempt use port P, so all
 * attempts are one UDP flow as far as conntrack is concerned.
 *
 * The summary goes to stdout as "key value" lines, easy to read from shell:
 *
 *   target 10.96.0.10:80/tcp
 *   attempts 60
 *   ok 60
 *   refused 0  unreachable 0  timeout 0  error 0   (one per line)
 *   reply pod-a 21
 *   peer pod-a 192.0.2.2 21      (only for replies of podserver --show-peer)
 *   ms_max_ok 0.412   ms_max_refused 0.000   ms_max_fail 0.000
 *
 * A reply "pod-a peer=192.0.2.2:40312" (podserver --show-peer) counts as a
 * reply of pod-a, and as a "peer" line per pod and source address the pod saw
 * (the port left out: it differs every attempt), for checks of masquerading.
 *
 * --trace adds one line per attempt before the summary:
 *   attempt 3 t=1701320000.123456 result=ok reply=pod-b ms=0.311
 * (t is the wall clock at the start of the attempt, comparable with
 * `date +%s.%N`). The first failures are described on stderr.
 *
 * Exit status: 0 when every attempt met --expect (default ok; "any" never
 * fails), 1 otherwise or when no attempt was made, 2 on bad usage. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLIES 64
#define MAX_REPORTED_FAILURES 5

enum result { RES_OK, RES_REFUSED, RES_UNREACHABLE, RES_TIMEOUT, RES_ERROR, RES__MAX };

static const char *const result_names[RES__MAX] = {
	[RES_OK] = "ok",
	[RES_REFUSED] = "refused",
	[RES_UNREACHABLE] = "unreachable",
	[RES_TIMEOUT] = "timeout",
	[RES_ERROR] = "error",
};

struct reply_count {
	char text[128];
	unsigned long n;
};

struct target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct sockaddr_storage src;
	socklen_t srclen;           /* 0 = no --source */
	int type;                   /* SOCK_STREAM / SOCK_DGRAM */
	unsigned long sport;        /* 0 = kernel's choice */
	bool sport_step;            /* attempt i uses sport + i */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: probe [--proto tcp|udp] [--count N] [--timeout-ms T] [--interval-ms I]\n"
		"             [--duration-ms D] [--source IP] [--sport P | --sport-base P] [--trace]\n"
		"             [--expect ok|refused|any] IP PORT\n");
}

/* Splits a --show-peer reply "NAME peer=ADDR:PORT" in place: reply keeps NAME,
 * *peer points at ADDR (brackets and port removed). *peer is NULL for a plain
 * reply. */
static void split_peer(char *reply, char **peer)
{
	char *p = strstr(reply, " peer="), *end;

	*peer = NULL;
	if (!p)
		return;
	*p = '\0';
	p += strlen(" peer=");
	if (*p == '[') {
		p++;
		end = strchr(p, ']');
	} else {
		end = strrchr(p, ':');
	}
	if (end)
		*end = '\0';
	*peer = p;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parses a numeric IPv4 or IPv6 address (brackets allowed) into ss. */
static int parse_ip(const char *s, unsigned short port, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t l = strlen(s);

	memset(ss, 0, sizeof(*ss));
	if (l >= 2 && s[0] == '[' && s[l - 1] == ']' && l - 2 < sizeof(buf)) {
		memcpy(buf, s + 1, l - 2);
		buf[l - 2] = '\0';
		s = buf;
	}
	if (strchr(s, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, s, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, s, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
	}
	return 0;
}

static enum result classify_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return RES_REFUSED;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EACCES:
	case EPERM:
		return RES_UNREACHABLE;
	case ETIMEDOUT:
		return RES_TIMEOUT;
	default:
		return RES_ERROR;
	}
}

/* Waits for events on fd until deadline (monotonic ms). Returns revents, 0 on
 * timeout, -errno on failure. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		double left = deadline - now_mono_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left + 0.999));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			continue;   /* re-check the deadline; poll rounds */
		return p.revents;
	}
}

/* One attempt. Fills reply (first line, NUL-terminated) on RES_OK, detail with a
 * description otherwise. */
static enum result attempt(const struct target *t, unsigned long seq, double timeout_ms,
			   char *reply, size_t rsize, char *detail, size_t dsize)
{
	double deadline = now_mono_ms() + timeout_ms;
	size_t got = 0;
	bool send_eperm = false;
	enum result res;
	int fd, r, err;
	socklen_t elen = sizeof(err);

	reply[0] = '\0';
	detail[0] = '\0';
	fd = socket(t->addr.ss_family, t->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(detail, dsize, "socket: %s", strerror(errno));
		return RES_ERROR;
	}
	if (t->srclen || t->sport) {
		struct sockaddr_storage src = t->src;
		socklen_t srclen = t->srclen;
		unsigned long port = t->sport ? t->sport + (t->sport_step ? seq : 0) : 0;
		int one = 1;

		if (port > 65535) {
			snprintf(detail, dsize, "source port %lu out of range", port);
			res = RES_ERROR;
			goto out;
		}
		if (!srclen) {
			memset(&src, 0, sizeof(src));
			src.ss_family = t->addr.ss_family;
			srclen = t->addrlen;
		}
		if (src.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&src)->sin6_port = htons((unsigned short)port);
		else
			((struct sockaddr_in *)&src)->sin_port = htons((unsigned short)port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&src, srclen) < 0) {
			snprintf(detail, dsize, "bind source: %s", strerror(errno));
			res = RES_ERROR;
			goto out;
		}
	}
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(detail, dsize, "connect: %s", strerror(errno));
		res = classify_errno(errno);
		goto out;
	}

	if (t->type == SOCK_STREAM) {
		r = wait_fd(fd, POLLOUT, deadline);
		if (r == 0) {
			snprintf(detail, dsize, "no connection within %.0f ms", timeout_ms);
			res = RES_TIMEOUT;
			goto out;
		}
		if (r < 0) {
			snprintf(detail, dsize, "poll: %s", strerror(-r));
			res = RES_ERROR;
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err) {
			snprintf(detail, dsize, "connect: %s", strerror(err));
			res = classify_errno(err);
			goto out;
		}
	} else {
		static const char ping[] = "ping\n";

		if (send(fd, ping, sizeof(ping) - 1, 0) < 0) {
			/* A datagram dropped by a local output hook fails with EPERM;
			 * if the hook rejected it, the ICMP error follows on the socket,
			 * so wait for that before calling it unreachable. */
			if (errno != EPERM) {
				snprintf(detail, dsize, "send: %s", strerror(errno));
				res = classify_errno(errno);
				goto out;
			}
			send_eperm = true;
		}
	}

	/* Read the reply: TCP up to EOF, UDP one datagram. */
	for (;;) {
		ssize_t n;

		r = wait_fd(fd, POLLIN, deadline);
		if (r == 0 && send_eperm) {
			snprintf(detail, dsize, "send: %s, and no ICMP error within %.0f ms",
				 strerror(EPERM), timeout_ms);
			res = RES_UNREACHABLE;
			goto out;
		}
		if (r == 0) {
			snprintf(detail, dsize, "no %s within %.0f ms",
				 got ? "end of reply" : "reply", timeout_ms);
			res = RES_TIMEOUT;
			goto out;
		}
		if (r < 0) {
			snprintf(detail, dsize, "poll: %s", strerror(-r));
			res = RES_ERROR;
			goto out;
		}
		n = recv(fd, reply + got, rsize - 1 - got, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			snprintf(detail, dsize, "%srecv: %s", send_eperm ? "send: EPERM, then " : "",
				 strerror(errno));
			res = classify_errno(errno);
			/* A reset after the connection was established is no refusal. */
			if (t->type == SOCK_STREAM && res == RES_REFUSED)
				res = RES_ERROR;
			goto out;
		}
		got += (size_t)n;
		reply[got] = '\0';
		if (t->type == SOCK_DGRAM || n == 0 || got == rsize - 1)
			break;
	}
	reply[strcspn(reply, "\r\n")] = '\0';
	if (!reply[0]) {
		snprintf(detail, dsize, "empty reply");
		res = RES_ERROR;
		goto out;
	}
	res = RES_OK;
out:
	close(fd);
	return res;
}

static void count_reply(struct reply_count *rc, size_t *n, const char *text)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(rc[i].text, text) == 0) {
			rc[i].n++;
			return;
		}
	}
	if (*n == MAX_REPLIES)
		text = "(other)";   /* should never happen in the tests */
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(rc[i].text, text) == 0) {
			rc[i].n++;
			return;
		}
	}
	snprintf(rc[*n].text, sizeof(rc[*n].text), "%s", text);
	rc[*n].n = 1;
	(*n)++;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "source", required_argument, NULL, 's' },
		{ "sport", required_argument, NULL, 'S' },
		{ "sport-base", required_argument, NULL, 'B' },
		{ "trace", no_argument, NULL, 'T' },
		{ "expect", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct target t = { .type = SOCK_STREAM };
	struct reply_count replies[MAX_REPLIES + 1], peers[MAX_REPLIES + 1];
	size_t n_replies = 0, n_peers = 0;
	unsigned long count = 1, timeout_ms = 1000, interval_ms = 0, duration_ms = 0, port;
	unsigned long counts[RES__MAX] = { 0 }, attempts = 0;
	double ms_max_ok = 0, ms_max_refused = 0, ms_max_fail = 0;
	const char *source = NULL, *expect = "ok";
	bool trace = false, ok;
	struct sigaction sa = { .sa_handler = on_signal };
	double start;
	int c;

	while ((c = getopt_long(argc, argv, "p:c:t:i:d:s:S:B:Te:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (strcmp(optarg, "tcp") == 0) {
				t.type = SOCK_STREAM;
			} else if (strcmp(optarg, "udp") == 0) {
				t.type = SOCK_DGRAM;
			} else {
				fprintf(stderr, "probe: --proto must be tcp or udp, not \"%s\"\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
		case 't':
		case 'i':
		case 'd': {
			unsigned long *dst = c == 'c' ? &count : c == 't' ? &timeout_ms :
					     c == 'i' ? &interval_ms : &duration_ms;

			if (parse_ulong(optarg, 100000000UL, dst) < 0) {
				fprintf(stderr, "probe: invalid number \"%s\"\n", optarg);
				return 2;
			}
			break;
		}
		case 's':
			source = optarg;
			break;
		case 'S':
		case 'B':
			if (parse_ulong(optarg, 65535, &t.sport) < 0 || t.sport == 0) {
				fprintf(stderr, "probe: invalid source port \"%s\"\n", optarg);
				return 2;
			}
			t.sport_step = c == 'B';
			break;
		case 'T':
			trace = true;
			break;
		case 'e':
			if (strcmp(optarg, "ok") && strcmp(optarg, "refused") && strcmp(optarg, "any")) {
				fprintf(stderr, "probe: --expect must be ok, refused or any\n");
				return 2;
			}
			expect = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 || parse_ulong(argv[optind + 1], 65535, &port) < 0 || port == 0) {
		usage(stderr);
		return 2;
	}
	if (parse_ip(argv[optind], (unsigned short)port, &t.addr, &t.addrlen) < 0) {
		fprintf(stderr, "probe: invalid IP address \"%s\"\n", argv[optind]);
		return 2;
	}
	if (source) {
		if (parse_ip(source, 0, &t.src, &t.srclen) < 0 ||
		    t.src.ss_family != t.addr.ss_family) {
			fprintf(stderr, "probe: invalid --source \"%s\" for this target\n", source);
			return 2;
		}
	}
	if (count == 0 && duration_ms == 0) {
		fprintf(stderr, "probe: --count 0 needs --duration-ms\n");
		return 2;
	}
	if (timeout_ms == 0) {
		fprintf(stderr, "probe: --timeout-ms must be > 0\n");
		return 2;
	}

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	start = now_mono_ms();
	while (!stop && (count == 0 || attempts < count)) {
		char reply[128], detail[160];
		struct timespec wall;
		double t0, ms;
		enum result res;

		if (interval_ms) {
			double due = start + (double)attempts * (double)interval_ms;
			double wait = due - now_mono_ms();

			if (wait > 0) {
				long long us = (long long)(wait * 1e3);
				struct timespec ts = { .tv_sec = (time_t)(us / 1000000),
						       .tv_nsec = (long)(us % 1000000) * 1000 };

				if (nanosleep(&ts, NULL) < 0 && stop)
					break;
			}
		}
		if (duration_ms && now_mono_ms() - start >= (double)duration_ms)
			break;

		clock_gettime(CLOCK_REALTIME, &wall);
		t0 = now_mono_ms();
		res = attempt(&t, attempts, (double)timeout_ms, reply, sizeof(reply), detail,
			      sizeof(detail));
		ms = now_mono_ms() - t0;
		attempts++;
		counts[res]++;
		if (res == RES_OK) {
			char name[sizeof(reply)], *peer;

			memcpy(name, reply, sizeof(name));
			split_peer(name, &peer);
			count_reply(replies, &n_replies, name);
			if (peer) {
				char key[sizeof(reply) + 2];

				snprintf(key, sizeof(key), "%s %s", name, peer);
				count_reply(peers, &n_peers, key);
			}
			if (ms > ms_max_ok)
				ms_max_ok = ms;
		} else {
			if (res == RES_REFUSED && ms > ms_max_refused)
				ms_max_refused = ms;
			if (ms > ms_max_fail)
				ms_max_fail = ms;
			if (strcmp(expect, "any") != 0 && !(res == RES_REFUSED && !strcmp(expect, "refused")) &&
			    attempts - counts[RES_OK] <= MAX_REPORTED_FAILURES)
				fprintf(stderr, "probe: attempt %lu to %s %s/%s: %s (%s) after %.3f ms\n",
					attempts, argv[optind], argv[optind + 1],
					t.type == SOCK_STREAM ? "tcp" : "udp", result_names[res],
					detail, ms);
		}
		if (trace)
			printf("attempt %lu t=%lld.%06ld result=%s reply=%s ms=%.3f%s%s\n", attempts,
			       (long long)wall.tv_sec, wall.tv_nsec / 1000, result_names[res],
			       res == RES_OK ? reply : "-", ms, detail[0] ? " detail=" : "",
			       detail[0] ? detail : "");
	}

	printf("target %s:%s/%s\n", argv[optind], argv[optind + 1],
	       t.type == SOCK_STREAM ? "tcp" : "udp");
	printf("attempts %lu\n", attempts);
	for (int r = 0; r < RES__MAX; r++)
		printf("%s %lu\n", result_names[r], counts[r]);
	for (size_t i = 0; i < n_replies; i++)
		printf("reply %s %lu\n", replies[i].text, replies[i].n);
	for (size_t i = 0; i < n_peers; i++)
		printf("peer %s %lu\n", peers[i].text, peers[i].n);
	printf("ms_max_ok %.3f\n", ms_max_ok);
	printf("ms_max_refused %.3f\n", ms_max_refused);
	printf("ms_max_fail %.3f\n", ms_max_fail);
	printf("elapsed_ms %.1f\n", now_mono_ms() - start);

	if (!strcmp(expect, "any"))
		ok = true;
	else if (!strcmp(expect, "refused"))
		ok = attempts > 0 && counts[RES_REFUSED] == attempts;
	else
		ok = attempts > 0 && counts[RES_OK] == attempts;
	return ok ? 0 : 1;
}
