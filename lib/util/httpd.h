/* A tiny HTTP/1.0 and 1.1 server on a libuv loop, for health checks and
 * metrics: the service health-check ports, /healthz, /livez, /metrics.
 *
 * Deliberately small, because it listens on node ports that anyone can
 * reach: GET and HEAD only (405 otherwise), one request per connection
 * (every response says `Connection: close`), a request head of at most
 * HTTPD_MAX_HEAD bytes (431), at most HTTPD_MAX_CONNS connections at once
 * (more are closed as soon as they are accepted), and a deadline per
 * connection (HTTPD_DEFAULT_TIMEOUT_MS) after which it is closed, answered or
 * not. Request headers and bodies are read but ignored. Nothing blocks the
 * loop. All calls, and the handler, run on the loop's thread. */
#ifndef NFTPROXY_UTIL_HTTPD_H
#define NFTPROXY_UTIL_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTPD_MAX_HEAD		 8192
#define HTTPD_MAX_CONNS		 64
#define HTTPD_DEFAULT_TIMEOUT_MS 10000

struct httpd;
struct httpd_response;

struct httpd_request {
	const char *method; /* "GET" or "HEAD" */
	const char *path;   /* the target's path, without query: "/healthz" */
	const char *query;  /* what followed '?', or "" */
};

/* Answers one request by calling httpd_respond() (and httpd_add_header()).
 * A handler that leaves resp alone answers 404; one that returns -errno
 * answers 500. For HEAD the body is dropped by the server, so handlers
 * need not look at the method. Strings in req live for the call only. */
typedef int (*httpd_handler)(void *data, const struct httpd_request *req,
			     struct httpd_response *resp);

/* Sets the status, the Content-Type (NULL: none) and a copy of the body.
 * A later call replaces an earlier one. Returns 0 or -ENOMEM. */
int httpd_respond(struct httpd_response *resp, int status, const char *content_type,
		  const void *body, size_t len);
/* Adds a response header. Returns 0, -EINVAL for a name that is not an
 * HTTP token, a value with CR or LF, or a header the server writes itself
 * (Content-Type, Content-Length, Connection, Transfer-Encoding, Date), or
 * -ENOMEM. */
int httpd_add_header(struct httpd_response *resp, const char *name, const char *value);

/* Listens on addr:port. addr is an IPv4 or IPv6 literal ("127.0.0.1",
 * "fd00::1"); "0.0.0.0" is every IPv4 address; NULL, "" and "::" are every
 * address of both families (one socket, IPV6_V6ONLY off), or every IPv4
 * address when the kernel has no IPv6. Port 0 picks a free port (see
 * httpd_port()). fn(data, ...) answers the requests; data must outlive the
 * server. Logs nothing: the caller names what the port is for. Returns 0
 * and *out (free with httpd_close()), or -errno: -EINVAL for a bad
 * address, -EADDRINUSE, -EACCES, -EADDRNOTAVAIL, -ENOMEM... */
int httpd_new(uv_loop_t *loop, const char *addr, uint16_t port, httpd_handler fn, void *data,
	      struct httpd **out);

/* The port the server listens on (the one chosen by the kernel for port 0). */
uint16_t httpd_port(const struct httpd *h);

/* The deadline of each connection from its accept, for later connections
 * (0: the default). */
void httpd_set_timeout(struct httpd *h, uint64_t ms);

/* The number of connections open now (for tests and metrics). */
size_t httpd_conn_count(const struct httpd *h);

/* Stops listening and closes every connection at once; the handler is not
 * called again after this returns. The memory is freed when libuv has
 * closed the handles, so the loop must run on. NULL is a no-op. */
void httpd_close(struct httpd *h);

#endif
