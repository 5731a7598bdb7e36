/* The tiny HTTP server: a listening socket made by hand (so that a failed
 * bind costs no libuv handle), then per connection one uv_tcp_t and one
 * uv_timer_t embedded in a struct conn, freed in the close callback of the
 * last of the two. A connection reads its head into a fixed buffer, answers
 * once, sends FIN and drains what the client still sends until it closes
 * (a close with unread data would send RST and could destroy the answer
 * before the client read it). */
#include "lib/util/httpd.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/util/log.h"

#define LISTEN_BACKLOG 128
/* How long a connection that was answered waits for the client's FIN. */
#define LINGER_MS 1000
/* After running out of memory for a connection: when to try again. */
#define RETRY_MS 1000

enum conn_state {
	CONN_READING,	/* the head is not complete yet */
	CONN_WRITING,	/* the response is being sent */
	CONN_LINGERING, /* answered, FIN sent: waiting for the client's */
};

struct httpd_response {
	int status; /* 0: the handler did not answer */
	char *content_type;
	char *body;
	size_t body_len;
	char *headers; /* "Name: value\r\n"... */
	size_t headers_len;
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* the deadline, then the linger */
	uv_write_t write_req;
	uv_shutdown_t shutdown_req;
	struct httpd *srv;
	struct conn *prev, *next;
	enum conn_state state;
	int open_handles;
	bool closing;
	bool peer_eof;
	char *out;		      /* the response being written */
	size_t len;		      /* bytes of the head in buf */
	char buf[HTTPD_MAX_HEAD + 1]; /* +1 for the NUL the parser adds */
};

struct httpd {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t retry;
	httpd_handler fn;
	void *data;
	uint16_t port;
	uint64_t timeout_ms;
	struct conn *conns;
	size_t nconns; /* including the ones being closed */
	int open_handles;
	bool closing;
	bool accept_stalled;
};

static const struct {
	int status;
	const char *text;
} reasons[] = {
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 304, "Not Modified" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" },
};

static const char *reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].text;
	return ""; /* RFC 9112 4: the reason phrase may be empty */
}

/* ---- responses ---- */

int httpd_respond(struct httpd_response *resp, int status, const char *content_type,
		  const void *body, size_t len)
{
	char *ct = NULL, *b = NULL;

	if (content_type) {
		if (strpbrk(content_type, "\r\n"))
			return -EINVAL;
		ct = strdup(content_type);
		if (!ct)
			return -ENOMEM;
	}
	if (len) {
		b = malloc(len);
		if (!b) {
			free(ct);
			return -ENOMEM;
		}
		memcpy(b, body, len);
	}
	free(resp->content_type);
	free(resp->body);
	resp->status = status;
	resp->content_type = ct;
	resp->body = b;
	resp->body_len = len;
	return 0;
}

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

int httpd_add_header(struct httpd_response *resp, const char *name, const char *value)
{
	/* These are the server's: another value would break the framing. */
	static const char *const reserved[] = { "Content-Length", "Content-Type", "Connection",
						"Transfer-Encoding", "Date" };
	size_t nlen = strlen(name), vlen = strlen(value), add;
	char *p;

	if (!nlen || strpbrk(value, "\r\n"))
		return -EINVAL;
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)name[i]))
			return -EINVAL;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return -EINVAL;
	add = nlen + 2 + vlen + 2;
	p = realloc(resp->headers, resp->headers_len + add + 1);
	if (!p)
		return -ENOMEM;
	resp->headers = p;
	snprintf(p + resp->headers_len, add + 1, "%s: %s\r\n", name, value);
	resp->headers_len += add;
	return 0;
}

static void response_fini(struct httpd_response *resp)
{
	free(resp->content_type);
	free(resp->body);
	free(resp->headers);
	memset(resp, 0, sizeof(*resp));
}

/* An answer of the server's own (errors, and 404 for what the handler left). */
static int respond_plain(struct httpd_response *resp, int status)
{
	char body[64];
	int n, r;

	response_fini(resp);
	n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	r = httpd_respond(resp, status, "text/plain; charset=utf-8", body, (size_t)n);
	if (r >= 0)
		r = httpd_add_header(resp, "X-Content-Type-Options", "nosniff");
	if (r >= 0 && status == 405)
		r = httpd_add_header(resp, "Allow", "GET, HEAD");
	return r;
}

/* The IMF-fixdate of RFC 9110 5.6.7, spelled by hand: strftime's names
 * follow the locale. */
static void http_date(char out[32])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The whole response in one buffer, for one uv_write. */
static char *serialize(const struct httpd_response *resp, bool http10, bool head, size_t *len)
{
	char date[32], *out;
	int n;
	size_t body = head ? 0 : resp->body_len, cap;

	http_date(date);
	cap = 256 + (resp->content_type ? strlen(resp->content_type) : 0) + resp->headers_len +
	      body;
	out = malloc(cap);
	if (!out)
		return NULL;
	n = snprintf(out, cap,
		     "HTTP/1.%d %d %s\r\n"
		     "Date: %s\r\n"
		     "%s%s%s"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n"
		     "%.*s"
		     "\r\n",
		     http10 ? 0 : 1, resp->status, reason(resp->status), date,
		     resp->content_type ? "Content-Type: " : "",
		     resp->content_type ? resp->content_type : "", resp->content_type ? "\r\n" : "",
		     resp->body_len, (int)resp->headers_len, resp->headers ? resp->headers : "");
	if (n < 0 || (size_t)n + body >= cap) {
		free(out);
		return NULL;
	}
	if (body)
		memcpy(out + n, resp->body, body);
	*len = (size_t)n + body;
	return out;
}

/* ---- connections ---- */

static void on_conn_handle_closed(uv_handle_t *handle);

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void server_maybe_free(struct httpd *h)
{
	if (h->closing && h->open_handles == 0 && !h->conns)
		free(h);
}

static void on_conn_handle_closed(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	struct httpd *h = c->srv;

	if (--c->open_handles > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	free(c->out);
	free(c);
	server_maybe_free(h);
}

static void on_deadline(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->state == CONN_READING)
		log_v(5, "http port %u: no complete request within %llu ms; closing the connection",
		      c->srv->port, (unsigned long long)c->srv->timeout_ms);
	conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	if (status < 0 || c->peer_eof || c->closing) {
		conn_close(c);
		return;
	}
	c->state = CONN_LINGERING;
	uv_timer_start(&c->timer, on_deadline, LINGER_MS, 0);
}

static void on_written(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	free(c->out);
	c->out = NULL;
	if (status < 0 || c->closing) {
		conn_close(c);
		return;
	}
	/* The client closed its side already: nothing left to drain. */
	if (c->peer_eof) {
		conn_close(c);
		return;
	}
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
		conn_close(c);
}

static void conn_send(struct conn *c, const struct httpd_response *resp, bool http10, bool head)
{
	uv_buf_t b;
	size_t len;
	int r;

	c->state = CONN_WRITING;
	c->out = serialize(resp, http10, head, &len);
	if (!c->out) {
		log_warn("http port %u: out of memory for a response; closing the connection",
			 c->srv->port);
		conn_close(c);
		return;
	}
	b = uv_buf_init(c->out, (unsigned int)len);
	c->write_req.data = c;
	r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
	if (r < 0)
		conn_close(c);
}

/* Errors found before the handler: answered as HTTP/1.1, body included. */
static void conn_fail(struct conn *c, int status)
{
	struct httpd_response resp = { 0 };

	log_v(4, "http port %u: bad request: %d %s", c->srv->port, status, reason(status));
	if (respond_plain(&resp, status) < 0) {
		response_fini(&resp);
		conn_close(c);
		return;
	}
	conn_send(c, &resp, false, false);
	response_fini(&resp);
}

/* The offset just past the empty line that ends the head, or 0. Bare LF
 * ends lines too (RFC 9112 2.2 allows it). */
static size_t head_end(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Reduces an absolute-form target ("http://host:80/x?y") to its path and
 * query, in place. Returns NULL for a target that is neither that nor an
 * origin-form "/...". */
static char *origin_form(char *target)
{
	char *p;

	if (target[0] == '/')
		return target;
	if (strncasecmp(target, "http://", 7) == 0)
		p = target + 7;
	else if (strncasecmp(target, "https://", 8) == 0)
		p = target + 8;
	else
		return NULL;
	p += strcspn(p, "/?#");
	if (*p == '/')
		return p;
	/* "http://host?q": the path is "/"; the byte before p belongs to the
	 * authority or to "//", both of which are dropped. */
	p[-1] = '/';
	return p - 1;
}

static void conn_process(struct conn *c)
{
	struct httpd *h = c->srv;
	struct httpd_response resp = { 0 };
	struct httpd_request req;
	size_t start = 0, end, llen;
	char *line, *nl, *sp1, *sp2, *version, *target, *q;
	bool http10, head;
	int r;

	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	while (start < c->len && (c->buf[start] == '\r' || c->buf[start] == '\n'))
		start++;
	end = head_end(c->buf + start, c->len - start);
	if (!end) {
		if (c->len >= HTTPD_MAX_HEAD)
			conn_fail(c, 431);
		return;
	}
	line = c->buf + start;
	nl = memchr(line, '\n', end);
	llen = (size_t)(nl - line);
	if (llen && line[llen - 1] == '\r')
		llen--;
	if (memchr(line, '\0', llen)) {
		conn_fail(c, 400);
		return;
	}
	line[llen] = '\0';

	/* method SP request-target SP HTTP-version */
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' ')) {
		conn_fail(c, 400);
		return;
	}
	*sp1 = *sp2 = '\0';
	target = sp1 + 1;
	version = sp2 + 1;
	for (char *p = line; *p; p++)
		if (!is_tchar((unsigned char)*p)) {
			conn_fail(c, 400);
			return;
		}
	for (unsigned char *p = (unsigned char *)target; *p; p++)
		if (*p < 0x21 || *p == 0x7f) {
			conn_fail(c, 400);
			return;
		}
	if (strncmp(version, "HTTP/", 5) != 0 || version[5] < '0' || version[5] > '9' ||
	    version[6] != '.' || version[7] < '0' || version[7] > '9' || version[8]) {
		conn_fail(c, 400);
		return;
	}
	if (version[5] != '1') {
		conn_fail(c, 505);
		return;
	}
	http10 = version[7] == '0';
	if (strcmp(line, "GET") != 0 && strcmp(line, "HEAD") != 0) {
		conn_fail(c, 405);
		return;
	}
	head = line[0] == 'H';
	target = origin_form(target);
	if (!target) {
		conn_fail(c, 400);
		return;
	}
	target[strcspn(target, "#")] = '\0';
	q = strchr(target, '?');
	if (q)
		*q++ = '\0';

	req.method = line;
	req.path = target;
	req.query = q ? q : "";
	r = h->fn(h->data, &req, &resp);
	if (c->closing) { /* the handler closed the server */
		response_fini(&resp);
		return;
	}
	if (r < 0 || (resp.status && (resp.status < 100 || resp.status > 599)))
		r = respond_plain(&resp, 500);
	else if (!resp.status)
		r = respond_plain(&resp, 404);
	if (r < 0) {
		response_fini(&resp);
		conn_close(c);
		return;
	}
	log_v(5, "http port %u: %s %s: %d", h->port, req.method, req.path, resp.status);
	conn_send(c, &resp, http10, head);
	response_fini(&resp);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = handle->data;

	/* While reading, c->len < HTTPD_MAX_HEAD: a full buffer is answered
	 * with 431 at once. Afterwards what arrives is dropped. */
	if (c->state == CONN_READING)
		*buf = uv_buf_init(c->buf + c->len, (unsigned int)(HTTPD_MAX_HEAD - c->len));
	else
		*buf = uv_buf_init(c->buf, HTTPD_MAX_HEAD);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;

	if (c->closing)
		return;
	if (nread < 0) {
		/* A half-close while we answer: let the answer go out. */
		if (nread == UV_EOF && c->state == CONN_WRITING) {
			c->peer_eof = true;
			uv_read_stop(stream);
			return;
		}
		conn_close(c);
		return;
	}
	if (nread == 0 || c->state != CONN_READING)
		return;
	c->len += (size_t)nread;
	conn_process(c);
}

static void on_retry(uv_timer_t *t);

static void accept_one(struct httpd *h)
{
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (!c) {
		/* libuv keeps the accepted socket and pauses the listener until
		 * uv_accept(): try again later rather than never. */
		if (!h->accept_stalled)
			log_warn("http port %u: out of memory for a connection; retrying in %d ms",
				 h->port, RETRY_MS);
		h->accept_stalled = true;
		uv_timer_start(&h->retry, on_retry, RETRY_MS, 0);
		return;
	}
	h->accept_stalled = false;
	c->srv = h;
	uv_tcp_init(h->loop, &c->tcp);
	uv_timer_init(h->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;

	if (uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&c->tcp) < 0 ||
	    h->nconns > HTTPD_MAX_CONNS) {
		if (h->nconns > HTTPD_MAX_CONNS)
			log_v(4, "http port %u: %d connections open; closing a new one", h->port,
			      HTTPD_MAX_CONNS);
		conn_close(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_deadline, h->timeout_ms, 0);
}

static void on_retry(uv_timer_t *t)
{
	struct httpd *h = t->data;

	if (h->accept_stalled && !h->closing)
		accept_one(h);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct httpd *h = server->data;

	if (status < 0) {
		/* EMFILE and friends: libuv already dropped the connection. */
		log_v(2, "http port %u: accept failed: %s", h->port, uv_strerror(status));
		return;
	}
	accept_one(h);
}

/* ---- the server ---- */

static int listen_socket(const struct sockaddr *sa, socklen_t salen, bool dual, uint16_t *port)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int fd, one = 1, zero = 0, r;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted daemon gets its ports back while the connections of the
	 * old one sit in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		goto fail;
	if (bind(fd, sa, salen) < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
		goto fail;
	*port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						  : ((struct sockaddr_in *)&bound)->sin_port);
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

static void on_server_handle_closed(uv_handle_t *handle)
{
	struct httpd *h = handle->data;

	h->open_handles--;
	server_maybe_free(h);
}

int httpd_new(uv_loop_t *loop, const char *addr, uint16_t port, httpd_handler fn, void *data,
	      struct httpd **out)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct httpd *h;
	bool dual = !addr || !*addr || strcmp(addr, "::") == 0;
	uint16_t bound = 0;
	int fd, r;

	if (dual) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr = in6addr_any;
		sin6.sin6_port = htons(port);
		fd = listen_socket((struct sockaddr *)&sin6, sizeof(sin6), true, &bound);
		/* A kernel without IPv6 (ipv6.disable=1) still has IPv4. */
		if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL || fd == -EPROTONOSUPPORT) {
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_addr.s_addr = htonl(INADDR_ANY);
			sin.sin_port = htons(port);
			fd = listen_socket((struct sockaddr *)&sin, sizeof(sin), false, &bound);
		}
	} else if (strchr(addr, ':')) {
		if (uv_ip6_addr(addr, port, &sin6) < 0)
			return -EINVAL;
		fd = listen_socket((struct sockaddr *)&sin6, sizeof(sin6), false, &bound);
	} else {
		if (uv_ip4_addr(addr, port, &sin) < 0)
			return -EINVAL;
		fd = listen_socket((struct sockaddr *)&sin, sizeof(sin), false, &bound);
	}
	if (fd < 0)
		return fd;

	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->loop = loop;
	h->fn = fn;
	h->data = data;
	h->port = bound;
	h->timeout_ms = HTTPD_DEFAULT_TIMEOUT_MS;
	uv_tcp_init(loop, &h->listener);
	uv_timer_init(loop, &h->retry);
	h->listener.data = h->retry.data = h;
	h->open_handles = 2;
	r = uv_tcp_open(&h->listener, fd);
	if (r < 0) {
		close(fd);
		goto fail;
	}
	r = uv_listen((uv_stream_t *)&h->listener, LISTEN_BACKLOG, on_connection);
	if (r < 0)
		goto fail;
	*out = h;
	return 0;
fail:
	/* The handles exist now: h is freed once the loop has closed them. */
	httpd_close(h);
	return r;
}

uint16_t httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_set_timeout(struct httpd *h, uint64_t ms)
{
	h->timeout_ms = ms ? ms : HTTPD_DEFAULT_TIMEOUT_MS;
}

size_t httpd_conn_count(const struct httpd *h)
{
	return h->nconns;
}

void httpd_close(struct httpd *h)
{
	if (!h || h->closing)
		return;
	h->closing = true;
	uv_close((uv_handle_t *)&h->listener, on_server_handle_closed);
	uv_close((uv_handle_t *)&h->retry, on_server_handle_closed);
	for (struct conn *c = h->conns; c; c = c->next)
		conn_close(c);
}
