/* lib/util/httpd and svchealth: real sockets on the loopback. The servers
 * run on the loop in the main thread; each client runs in a thread of its
 * own with blocking sockets and wakes the loop up when it is done.
 *
 * When the test may create a network namespace (root), everything runs in
 * a private one, so that the every-address listeners are reachable from
 * nowhere else; otherwise only 127.0.0.1 is used and those cases are
 * skipped. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "lib/util/httpd.h"
#include "lib/util/log.h"
#include "lib/util/svchealth.h"
#include "tests/unit/check.h"

static uv_loop_t loop;
static uv_async_t wake;
static bool in_netns;

/* ---- the loop and the client thread ---- */

static void on_wake(uv_async_t *a)
{
	uv_stop(a->loop);
}

struct job {
	void (*fn)(void *arg);
	void *arg;
};

static void *job_main(void *p)
{
	struct job *j = p;

	j->fn(j->arg);
	uv_async_send(&wake);
	return NULL;
}

/* Runs fn(arg) in a thread while the loop serves; returns when it is done. */
static void with_client(void (*fn)(void *arg), void *arg)
{
	struct job j = { fn, arg };
	pthread_t t;

	CHECK_INT(pthread_create(&t, NULL, job_main, &j), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(pthread_join(t, NULL), 0);
}

static bool (*until_fn)(void *arg);
static void *until_arg;

static void on_until_tick(uv_timer_t *t)
{
	if (until_fn(until_arg))
		uv_stop(t->loop);
}

/* Runs the loop until pred(arg) holds, for at most ms. */
static bool run_until(bool (*pred)(void *arg), void *arg, uint64_t ms)
{
	uv_timer_t tick;
	uint64_t deadline = uv_now(&loop) + ms;
	bool ok;

	until_fn = pred;
	until_arg = arg;
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_until_tick, 5, 5);
	while (!(ok = pred(arg)) && uv_now(&loop) < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

/* Lets libuv finish every close, so that what was closed is freed. */
static void drain(void)
{
	uv_unref((uv_handle_t *)&wake);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_ref((uv_handle_t *)&wake);
}

/* ---- a blocking client ---- */

static int sockaddr_of(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		CHECK_INT(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		*len = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		CHECK_INT(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
		*len = sizeof(*sin);
	}
	return ss->ss_family;
}

/* A connected socket with 5 s timeouts, or -errno. */
static int dial(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct timeval tv = { 5, 0 };
	socklen_t len;
	int fd, family = sockaddr_of(ip, port, &ss, &len);

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		CHECK(w > 0);
		c += w;
		n -= (size_t)w;
	}
}

/* Reads until EOF; a reset counts as the end too. Returns the length. */
static size_t recv_all(int fd, char *out, size_t cap)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, out + len, cap - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			CHECK(errno == ECONNRESET);
		if (n <= 0)
			break;
		len += (size_t)n;
		CHECK(len < cap - 1);
	}
	out[len] = '\0';
	return len;
}

struct fetch {
	const char *ip;
	uint16_t port;
	const char *req;
	size_t req_len;	 /* 0: strlen(req) */
	bool half_close; /* shutdown(SHUT_WR) after sending */
	int err;	 /* connect's -errno */
	size_t len;
	char resp[65536];
};

static void fetch_fn(void *arg)
{
	struct fetch *f = arg;
	int fd = dial(f->ip, f->port);

	f->len = 0;
	f->resp[0] = '\0';
	f->err = fd < 0 ? fd : 0;
	if (fd < 0)
		return;
	send_all(fd, f->req, f->req_len ? f->req_len : strlen(f->req));
	if (f->half_close)
		shutdown(fd, SHUT_WR);
	f->len = recv_all(fd, f->resp, sizeof(f->resp));
	close(fd);
}

static struct fetch fetched;

static struct fetch *fetch(const char *ip, uint16_t port, const char *req)
{
	memset(&fetched, 0, sizeof(fetched));
	fetched.ip = ip;
	fetched.port = port;
	fetched.req = req;
	with_client(fetch_fn, &fetched);
	CHECK_INT(fetched.err, 0);
	return &fetched;
}

static int status_of(const struct fetch *f)
{
	int minor, status;

	if (sscanf(f->resp, "HTTP/1.%d %d ", &minor, &status) != 2)
		return -1;
	return status;
}

static const char *body_of(const struct fetch *f)
{
	const char *p = strstr(f->resp, "\r\n\r\n");

	return p ? p + 4 : NULL;
}

static bool has_header(const struct fetch *f, const char *line)
{
	const char *end = strstr(f->resp, "\r\n\r\n");
	char want[256];
	const char *p;

	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	p = strstr(f->resp, want);
	return p && end && p < end;
}

/* ---- httpd ---- */

static char last_path[256], last_query[256];
static int handled;

static int handler(void *data, const struct httpd_request *req, struct httpd_response *resp)
{
	handled++;
	snprintf(last_path, sizeof(last_path), "%s", req->path);
	snprintf(last_query, sizeof(last_query), "%s", req->query);
	CHECK(data == &handled);
	if (strcmp(req->path, "/ok") == 0) {
		CHECK_INT(httpd_respond(resp, 200, "text/plain", "hello\n", 6), 0);
		CHECK_INT(httpd_add_header(resp, "X-Test", "yes"), 0);
		CHECK_INT(httpd_add_header(resp, "Bad\r\nName", "x"), -EINVAL);
		CHECK_INT(httpd_add_header(resp, "X-Bad", "a\r\nInjected: 1"), -EINVAL);
		CHECK_INT(httpd_add_header(resp, "content-length", "1"), -EINVAL);
		return 0;
	}
	if (strcmp(req->path, "/fail") == 0)
		return -EIO;
	if (strcmp(req->path, "/empty") == 0)
		return httpd_respond(resp, 204, NULL, NULL, 0);
	return 0; /* 404 */
}

static bool no_conns(void *arg)
{
	return httpd_conn_count(arg) == 0;
}

static void test_httpd_requests(void)
{
	struct httpd *h;
	struct fetch *f;
	char *big;
	uint16_t port;

	CHECK_INT(httpd_new(&loop, "127.0.0.1", 0, handler, &handled, &h), 0);
	port = httpd_port(h);
	CHECK(port != 0);

	f = fetch("127.0.0.1", port, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_INT(status_of(f), 200);
	CHECK(strncmp(f->resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(has_header(f, "Content-Type: text/plain"));
	CHECK(has_header(f, "Content-Length: 6"));
	CHECK(has_header(f, "Connection: close"));
	CHECK(has_header(f, "X-Test: yes"));
	CHECK(strstr(f->resp, "\r\nDate: ") != NULL);
	CHECK(strstr(f->resp, "Injected") == NULL);
	CHECK_STR(body_of(f), "hello\n");
	CHECK_STR(last_path, "/ok");
	CHECK_STR(last_query, "");

	f = fetch("127.0.0.1", port, "GET /ok?a=1&b=2#frag HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 200);
	CHECK_STR(last_path, "/ok");
	CHECK_STR(last_query, "a=1&b=2");

	/* HEAD: the headers of GET, no body. */
	f = fetch("127.0.0.1", port, "HEAD /ok HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 200);
	CHECK(has_header(f, "Content-Length: 6"));
	CHECK_STR(body_of(f), "");

	/* HTTP/1.0 is answered in kind; bare LF, leading empty lines. */
	f = fetch("127.0.0.1", port, "GET /ok HTTP/1.0\n\n");
	CHECK(strncmp(f->resp, "HTTP/1.0 200 OK\r\n", 17) == 0);
	f = fetch("127.0.0.1", port, "\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 200);
	/* Absolute-form targets. */
	f = fetch("127.0.0.1", port, "GET http://example:80/ok?q HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 200);
	CHECK_STR(last_query, "q");
	f = fetch("127.0.0.1", port, "GET HTTP://example?z HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 404);
	CHECK_STR(last_path, "/");
	CHECK_STR(last_query, "z");
	/* A body is ignored. */
	f = fetch("127.0.0.1", port, "GET /ok HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
	CHECK_INT(status_of(f), 200);
	/* A client that half-closes after its request still gets the answer. */
	memset(&fetched, 0, sizeof(fetched));
	fetched.ip = "127.0.0.1";
	fetched.port = port;
	fetched.req = "GET /ok HTTP/1.1\r\n\r\n";
	fetched.half_close = true;
	with_client(fetch_fn, &fetched);
	CHECK_INT(status_of(&fetched), 200);
	CHECK_STR(body_of(&fetched), "hello\n");

	f = fetch("127.0.0.1", port, "GET /nope HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 404);
	CHECK(has_header(f, "X-Content-Type-Options: nosniff"));
	CHECK_STR(body_of(f), "404 Not Found\n");
	f = fetch("127.0.0.1", port, "HEAD /nope HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 404);
	CHECK_STR(body_of(f), "");
	f = fetch("127.0.0.1", port, "GET /fail HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 500);
	f = fetch("127.0.0.1", port, "GET /empty HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 204);
	CHECK(has_header(f, "Content-Length: 0"));

	handled = 0;
	f = fetch("127.0.0.1", port, "POST /ok HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
	CHECK_INT(status_of(f), 405);
	CHECK(has_header(f, "Allow: GET, HEAD"));
	f = fetch("127.0.0.1", port, "get /ok HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 405);
	f = fetch("127.0.0.1", port, "GET /ok HTTP/2.0\r\n\r\n");
	CHECK_INT(status_of(f), 505);
	f = fetch("127.0.0.1", port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	CHECK_INT(status_of(f), 505);
	f = fetch("127.0.0.1", port, "GET /ok\r\n\r\n");
	CHECK_INT(status_of(f), 400);
	f = fetch("127.0.0.1", port, "GET  /ok HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 400);
	f = fetch("127.0.0.1", port, "GET * HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 400);
	f = fetch("127.0.0.1", port, "GET /o\x01k HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 400);
	memset(&fetched, 0, sizeof(fetched));
	fetched.ip = "127.0.0.1";
	fetched.port = port;
	fetched.req = "GET /ok\0 HTTP/1.1\r\n\r\n";
	fetched.req_len = 21;
	with_client(fetch_fn, &fetched);
	CHECK_INT(status_of(&fetched), 400);
	CHECK_INT(handled, 0);

	/* A head over 8 KiB: 431, even while the client is still sending. */
	big = malloc(20000);
	CHECK(big);
	strcpy(big, "GET /ok HTTP/1.1\r\nX-Big: ");
	memset(big + strlen(big), 'a', 19000);
	big[19025] = '\0';
	strcat(big, "\r\n\r\n");
	f = fetch("127.0.0.1", port, big);
	CHECK_INT(status_of(f), 431);
	/* Exactly at the limit without an end is too large; just under is fine. */
	memset(big, 0, 20000);
	strcpy(big, "GET /ok HTTP/1.1\r\nX-Big: ");
	memset(big + strlen(big), 'a', HTTPD_MAX_HEAD - strlen(big) - 4);
	strcat(big, "\r\n\r\n");
	CHECK_INT(strlen(big), HTTPD_MAX_HEAD);
	f = fetch("127.0.0.1", port, big);
	CHECK_INT(status_of(f), 200);
	free(big);

	CHECK(run_until(no_conns, h, 3000));
	httpd_close(h);
	drain();
}

/* Garbage of every shape: each answered with an HTTP status or closed. */
static void test_httpd_garbage(void)
{
	static const char alphabet[] = "GETHPOST /?#:\r\n\r\n\t HTTP/1.1 \x00\x01\xff%*";
	struct httpd *h;
	uint16_t port;
	unsigned int seed = 42;
	char *req = malloc(12000);

	CHECK(req);
	CHECK_INT(httpd_new(&loop, "127.0.0.1", 0, handler, &handled, &h), 0);
	port = httpd_port(h);
	for (int i = 0; i < 300; i++) {
		size_t len = (size_t)(rand_r(&seed) % (i % 10 == 0 ? 11000 : 300));

		for (size_t k = 0; k < len; k++)
			req[k] = (i % 3) ? alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)]
					 : (char)(rand_r(&seed) & 0xff);
		if (i % 2 && len > 20)
			memcpy(req, "GET /", 5);
		memset(&fetched, 0, sizeof(fetched));
		fetched.ip = "127.0.0.1";
		fetched.port = port;
		fetched.req = req;
		fetched.req_len = len ? len : 1;
		if (!len)
			req[0] = '\r';
		fetched.half_close = true;
		with_client(fetch_fn, &fetched);
		CHECK_INT(fetched.err, 0);
		if (fetched.len) {
			int st = status_of(&fetched);

			CHECK(st == 200 || st == 404 || st == 400 || st == 405 || st == 431 ||
			      st == 505 || st == 500 || st == 204);
		}
	}
	free(req);
	CHECK(run_until(no_conns, h, 3000));
	/* Still serving. */
	CHECK_INT(status_of(fetch("127.0.0.1", port, "GET /ok HTTP/1.1\r\n\r\n")), 200);
	httpd_close(h);
	drain();
}

struct many {
	uint16_t port;
	int refused_ok; /* the 65th was closed without an answer */
	int answered;	/* of the first 64 */
};

static void many_fn(void *arg)
{
	enum { N = HTTPD_MAX_CONNS + 1 };
	struct many *m = arg;
	static char buf[4096];
	int fds[N];
	struct fetch one;
	ssize_t n;

	for (int i = 0; i < N; i++) {
		fds[i] = dial("127.0.0.1", m->port);
		CHECK(fds[i] >= 0);
	}
	/* The one past the limit is closed as soon as it is accepted. */
	n = recv(fds[N - 1], buf, sizeof(buf), 0);
	m->refused_ok = n == 0 || (n < 0 && errno == ECONNRESET);
	close(fds[N - 1]);
	for (int i = 0; i < N - 1; i++)
		send_all(fds[i], "GET /ok HTTP/1.1\r\n\r\n", 20);
	for (int i = 0; i < N - 1; i++) {
		memset(&one, 0, sizeof(one));
		one.len = recv_all(fds[i], one.resp, sizeof(one.resp));
		if (status_of(&one) == 200)
			m->answered++;
		close(fds[i]);
	}
}

static void test_httpd_limit(void)
{
	struct many m = { 0 };
	struct httpd *h;

	CHECK_INT(httpd_new(&loop, "127.0.0.1", 0, handler, &handled, &h), 0);
	m.port = httpd_port(h);
	with_client(many_fn, &m);
	CHECK_INT(m.refused_ok, 1);
	CHECK_INT(m.answered, HTTPD_MAX_CONNS);
	CHECK(run_until(no_conns, h, 3000));
	CHECK_INT(status_of(fetch("127.0.0.1", m.port, "GET /ok HTTP/1.1\r\n\r\n")), 200);

	/* Again: the slots were all given back. */
	memset(&m, 0, sizeof(m));
	m.port = httpd_port(h);
	with_client(many_fn, &m);
	CHECK_INT(m.refused_ok, 1);
	CHECK_INT(m.answered, HTTPD_MAX_CONNS);
	CHECK(run_until(no_conns, h, 3000));
	httpd_close(h);
	drain();
}

struct idle {
	uint16_t port;
	ssize_t n;
	double secs;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void idle_fn(void *arg)
{
	struct idle *d = arg;
	double t0 = now_s();
	char b[16];
	int fd = dial("127.0.0.1", d->port);

	CHECK(fd >= 0);
	send_all(fd, "GET /ok HTTP/1.1\r\n", 18); /* never finished */
	d->n = recv(fd, b, sizeof(b), 0);
	d->secs = now_s() - t0;
	close(fd);
}

static int half_fd = -1;

static void half_open_fn(void *arg)
{
	struct idle *d = arg;

	half_fd = dial("127.0.0.1", d->port);
	CHECK(half_fd >= 0);
	send_all(half_fd, "GET /ok HT", 10);
}

static void half_read_fn(void *arg)
{
	struct idle *d = arg;
	char b[16];

	d->n = recv(half_fd, b, sizeof(b), 0);
	close(half_fd);
	half_fd = -1;
}

static bool one_conn(void *arg)
{
	return httpd_conn_count(arg) == 1;
}

static void test_httpd_timeout(void)
{
	struct idle d = { 0 };
	struct httpd *h;

	CHECK_INT(httpd_new(&loop, "127.0.0.1", 0, handler, &handled, &h), 0);
	httpd_set_timeout(h, 300);
	d.port = httpd_port(h);
	with_client(idle_fn, &d);
	CHECK_INT(d.n, 0);
	CHECK(d.secs >= 0.25 && d.secs < 4.0);
	CHECK(run_until(no_conns, h, 3000));

	/* Closing a server with a connection open closes and frees both. */
	httpd_set_timeout(h, 0);
	with_client(half_open_fn, &d);
	CHECK(run_until(one_conn, h, 3000));
	httpd_close(h);
	drain();
	with_client(half_read_fn, &d);
	CHECK_INT(d.n, 0);
}

static uint16_t free_port(void)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len;
	int fd;
	uint16_t port;

	if (in_netns) {
		fd = socket(AF_INET6, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		CHECK_INT(bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
		len = sizeof(sin6);
		CHECK_INT(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
		port = ntohs(sin6.sin6_port);
	} else {
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		CHECK_INT(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		len = sizeof(sin);
		CHECK_INT(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
		port = ntohs(sin.sin_port);
	}
	close(fd);
	return port;
}

static void test_httpd_addresses(void)
{
	struct httpd *h, *h2;
	struct fetch *f;
	uint16_t port;

	CHECK_INT(httpd_new(&loop, "nope", 0, handler, &handled, &h), -EINVAL);
	CHECK_INT(httpd_new(&loop, "1.2.3", 0, handler, &handled, &h), -EINVAL);
	CHECK_INT(httpd_new(&loop, "::zz", 0, handler, &handled, &h), -EINVAL);
	/* An address this host does not have. */
	CHECK_INT(httpd_new(&loop, "192.0.2.77", 0, handler, &handled, &h), -EADDRNOTAVAIL);

	CHECK_INT(httpd_new(&loop, "127.0.0.1", 0, handler, &handled, &h), 0);
	port = httpd_port(h);
	CHECK_INT(httpd_new(&loop, "127.0.0.1", port, handler, &handled, &h2), -EADDRINUSE);
	httpd_close(h);
	drain();
	/* Closed: connecting is refused, and the port can be bound again. */
	memset(&fetched, 0, sizeof(fetched));
	fetched.ip = "127.0.0.1";
	fetched.port = port;
	fetched.req = "GET / HTTP/1.1\r\n\r\n";
	with_client(fetch_fn, &fetched);
	CHECK_INT(fetched.err, -ECONNREFUSED);
	CHECK_INT(httpd_new(&loop, "127.0.0.1", port, handler, &handled, &h), 0);
	httpd_close(h);
	drain();

	if (!in_netns) {
		fprintf(stderr,
			"skipped: every-address listeners (no private network namespace)\n");
		return;
	}
	/* NULL, "" and "::": one socket for both families. */
	for (int i = 0; i < 3; i++) {
		const char *addr = i == 0 ? NULL : i == 1 ? "" : "::";

		CHECK_INT(httpd_new(&loop, addr, 0, handler, &handled, &h), 0);
		port = httpd_port(h);
		f = fetch("127.0.0.1", port, "GET /ok HTTP/1.1\r\n\r\n");
		CHECK_INT(status_of(f), 200);
		f = fetch("::1", port, "GET /ok HTTP/1.1\r\n\r\n");
		CHECK_INT(status_of(f), 200);
		/* Taken for both families. */
		CHECK_INT(httpd_new(&loop, "127.0.0.1", port, handler, &handled, &h2), -EADDRINUSE);
		CHECK_INT(httpd_new(&loop, "::1", port, handler, &handled, &h2), -EADDRINUSE);
		httpd_close(h);
		drain();
	}
	/* "0.0.0.0" is IPv4 only, "::1" IPv6 only. */
	CHECK_INT(httpd_new(&loop, "0.0.0.0", 0, handler, &handled, &h), 0);
	port = httpd_port(h);
	CHECK_INT(status_of(fetch("127.0.0.1", port, "GET /ok HTTP/1.1\r\n\r\n")), 200);
	memset(&fetched, 0, sizeof(fetched));
	fetched.ip = "::1";
	fetched.port = port;
	fetched.req = "GET / HTTP/1.1\r\n\r\n";
	with_client(fetch_fn, &fetched);
	CHECK_INT(fetched.err, -ECONNREFUSED);
	httpd_close(h);
	CHECK_INT(httpd_new(&loop, "::1", 0, handler, &handled, &h), 0);
	CHECK_INT(status_of(fetch("::1", httpd_port(h), "GET /ok HTTP/1.1\r\n\r\n")), 200);
	httpd_close(h);
	drain();
}

/* ---- svchealth ---- */

static const char *expect_body(const char *ns, const char *name, unsigned n, bool healthy)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
		 "{\n\t\"service\": {\n\t\t\"namespace\": \"%s\",\n\t\t\"name\": \"%s\"\n\t},\n"
		 "\t\"localEndpoints\": %u,\n\t\"serviceProxyHealthy\": %s\n}",
		 ns, name, n, healthy ? "true" : "false");
	return buf;
}

static const char *svc_ip(void)
{
	return "127.0.0.1";
}

static struct fetch *hc_get(uint16_t port)
{
	return fetch(svc_ip(), port, "GET /healthz HTTP/1.1\r\nHost: lb\r\n\r\n");
}

static void check_hc(uint16_t port, int status, const char *ns, const char *name, unsigned n,
		     bool healthy)
{
	struct fetch *f = hc_get(port);

	CHECK_INT(status_of(f), status);
	CHECK(has_header(f, "Content-Type: application/json"));
	CHECK(has_header(f, "X-Content-Type-Options: nosniff"));
	CHECK_STR(body_of(f), expect_body(ns, name, n, healthy));
}

static void check_refused(uint16_t port)
{
	memset(&fetched, 0, sizeof(fetched));
	fetched.ip = svc_ip();
	fetched.port = port;
	fetched.req = "GET / HTTP/1.1\r\n\r\n";
	with_client(fetch_fn, &fetched);
	CHECK_INT(fetched.err, -ECONNREFUSED);
}

static void test_svchealth(void)
{
	struct svchealth *h;
	struct fetch *f;
	uint16_t p1 = free_port(), p2, p3;
	int blocker;
	struct sockaddr_in sin = { .sin_family = AF_INET };

	do
		p2 = free_port();
	while (p2 == p1);
	do
		p3 = free_port();
	while (p3 == p1 || p3 == p2);

	CHECK_INT(svchealth_new(&loop, &h), 0);
	CHECK_INT(svchealth_set_address(h, "not an address"), -EINVAL);
	if (!in_netns)
		CHECK_INT(svchealth_set_address(h, "127.0.0.1"), 0);

	{
		struct svchealth_service s[] = {
			{ "default", "web", p1, 2 },
			{ "shop", "cart", p2, 0 },
			{ "default", "no-hc", 0, 3 },
		};

		CHECK_INT(svchealth_sync(h, s, 3), 0);
		CHECK_INT(svchealth_port_count(h), 2);
	}
	check_hc(p1, 200, "default", "web", 2, true);
	check_hc(p2, 503, "shop", "cart", 0, true);
	f = fetch(svc_ip(), p1, "HEAD / HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 200);
	CHECK_STR(body_of(f), "");
	f = fetch(svc_ip(), p1, "POST / HTTP/1.1\r\n\r\n");
	CHECK_INT(status_of(f), 405);
	if (in_netns)
		CHECK_INT(status_of(fetch("::1", p1, "GET / HTTP/1.1\r\n\r\n")), 200);

	/* The proxy's own health: 503 everywhere while unhealthy. */
	svchealth_set_proxy_healthy(h, false);
	check_hc(p1, 503, "default", "web", 2, false);
	svchealth_set_proxy_healthy(h, true);

	/* Counts change; the listeners stay. */
	{
		struct svchealth_service s[] = {
			{ "default", "web", p1, 0 },
			{ "shop", "cart", p2, 1 },
		};

		CHECK_INT(svchealth_sync(h, s, 2), 0);
	}
	check_hc(p1, 503, "default", "web", 0, true);
	check_hc(p2, 200, "shop", "cart", 1, true);

	/* Two services on one port: the one that had it keeps it, whatever the
	 * order; when it goes, the other gets the port. */
	{
		struct svchealth_service s[] = {
			{ "other", "intruder", p1, 5 },
			{ "default", "web", p1, 2 },
			{ "shop", "cart", p2, 1 },
		};

		CHECK_INT(svchealth_sync(h, s, 3), 0);
		check_hc(p1, 200, "default", "web", 2, true);
		CHECK_INT(svchealth_sync(h, s, 3), 0); /* logged once, not again */
		CHECK_INT(svchealth_sync(h, s, 1), 0);
		CHECK_INT(svchealth_port_count(h), 1);
		check_hc(p1, 200, "other", "intruder", 5, true);
		check_refused(p2);
	}
	/* A new port shared by two new services: the first listed wins. */
	{
		struct svchealth_service s[] = {
			{ "a", "first", p2, 1 },
			{ "b", "second", p2, 2 },
			{ "other", "intruder", p1, 5 },
		};

		CHECK_INT(svchealth_sync(h, s, 3), 0);
		check_hc(p2, 200, "a", "first", 1, true);
	}

	/* Names are JSON-escaped. */
	{
		struct svchealth_service s[] = { { "we\"ird", "na\\me\n", p1, 1 } };

		CHECK_INT(svchealth_sync(h, s, 1), 0);
		check_hc(p1, 200, "we\\\"ird", "na\\\\me\\n", 1, true);
		check_refused(p2);
	}

	/* A port that cannot be bound: reported, retried by the next sync. */
	blocker = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(blocker >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(p3);
	CHECK_INT(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CHECK_INT(listen(blocker, 1), 0);
	{
		struct svchealth_service s[] = {
			{ "default", "web", p1, 1 },
			{ "blocked", "svc", p3, 1 },
		};

		CHECK_INT(svchealth_sync(h, s, 2), 1);
		CHECK_INT(svchealth_port_count(h), 1);
		check_hc(p1, 200, "default", "web", 1, true);
		CHECK_INT(svchealth_sync(h, s, 2), 1);
		close(blocker);
		CHECK_INT(svchealth_sync(h, s, 2), 0);
		CHECK_INT(svchealth_port_count(h), 2);
		check_hc(p3, 200, "blocked", "svc", 1, true);
	}

	/* Nothing listed: every port closes. */
	CHECK_INT(svchealth_sync(h, NULL, 0), 0);
	CHECK_INT(svchealth_port_count(h), 0);
	check_refused(p1);
	check_refused(p3);

	{
		struct svchealth_service s[] = { { "default", "web", p1, 1 } };

		CHECK_INT(svchealth_sync(h, s, 1), 0);
	}
	svchealth_close(h);
	drain();
	check_refused(p1);
	svchealth_close(NULL);
	httpd_close(NULL);
}

/* ---- setup ---- */

/* A private network namespace with lo up, if this process may make one. */
static bool enter_netns(void)
{
	struct ifreq ifr;
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return false;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	CHECK_INT(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	CHECK_INT(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
	return true;
}

int main(void)
{
	in_netns = enter_netns();
	if (!in_netns)
		fprintf(stderr, "no private network namespace (%s): 127.0.0.1 only\n",
			strerror(errno));
	if (getenv("TEST_HTTPD_VERBOSE"))
		log_verbosity = 6;
	CHECK_INT(uv_loop_init(&loop), 0);
	CHECK_INT(uv_async_init(&loop, &wake, on_wake), 0);

	RUN(test_httpd_requests);
	RUN(test_httpd_garbage);
	RUN(test_httpd_limit);
	RUN(test_httpd_timeout);
	RUN(test_httpd_addresses);
	RUN(test_svchealth);

	uv_close((uv_handle_t *)&wake, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
	fprintf(stderr, "ok\n");
	return 0;
}
