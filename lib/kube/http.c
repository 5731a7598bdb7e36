/* libcurl's multi interface on a libuv loop. curl tells us which sockets
 * to watch (on_curl_socket) and when to call it back (on_curl_timer); the
 * loop tells curl what became ready (on_poll, on_timeout); after each of
 * those, finished transfers are collected (collect_done) and reported,
 * outside curl's callbacks, so that handlers may start new requests. */
#include "lib/kube/http.h"
#include "lib/kube/doc_json.h"
#include "lib/kube/kubeconfig.h"
#include "lib/util/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#ifndef NFTPROXY_VERSION
#define NFTPROXY_VERSION "0.1.0"
#endif

#define KHTTP_CONNECT_TIMEOUT_MS 10000
#define KHTTP_ERROR_BODY_MAX 8192

struct khttp_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct khttp *h;
	struct khttp_sock *next;   /* h->socks */
	bool closing;
};

struct khttp_req {
	struct khttp *h;
	CURL *easy;
	struct curl_slist *headers;
	const struct khttp_handler *hd;
	void *ud;
	long status;               /* read at the first body byte */
	bool is_2xx;
	bool aborted;
	bool detached;             /* no longer in h->reqs nor in the multi handle */
	char *errbody;             /* non-2xx body, capped */
	size_t errlen;
	uint64_t retry_after_ms;
	struct khttp_req *prev, *next; /* h->reqs */
	char errbuf[CURL_ERROR_SIZE];
};

struct khttp {
	uv_loop_t *loop;
	struct kcfg *cfg;
	char *base;                /* URL prefix of every request */
	struct curl_slist *connect_to; /* tls-server-name: the name to verify, the host to reach */
	CURLM *multi;
	uv_timer_t timer;
	struct khttp_sock *socks;
	struct khttp_req *reqs;
	int open_handles;          /* the timer and every poll handle not yet closed */
	bool closing;
	bool force_token;          /* a 401 came back: re-read the token file */
	void (*closed)(void *data);
	void *closed_data;
};

static void collect_done(struct khttp *h);
static const char *version_name(CURL *easy);

/* One libuv handle of h is closed: the last one frees h. */
static void handle_released(struct khttp *h)
{
	void (*closed)(void *);
	void *data;

	if (--h->open_handles > 0 || !h->closing)
		return;
	closed = h->closed;
	data = h->closed_data;
	curl_slist_free_all(h->connect_to);
	free(h->base);
	free(h);
	curl_global_cleanup();
	if (closed)
		closed(data);
}

static void sock_closed(uv_handle_t *hd)
{
	struct khttp_sock *s = hd->data;
	struct khttp *h = s->h;
	struct khttp_sock **pp;

	for (pp = &h->socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	free(s);
	handle_released(h);
}

static void timer_closed(uv_handle_t *hd)
{
	handle_released(hd->data);
}

static void sock_close(struct khttp_sock *s)
{
	if (s->closing)
		return;
	s->closing = true;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct khttp_sock *s = p->data;
	struct khttp *h = s->h;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	collect_done(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct khttp *h = userp;
	struct khttp_sock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(h->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->fd = fd;
		s->h = h;
		s->poll.data = s;
		s->next = h->socks;
		h->socks = s;
		h->open_handles++;
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static void on_timeout(uv_timer_t *t)
{
	struct khttp *h = t->data;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect_done(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct khttp *h = userp;

	/* curl must not be called back from inside this callback: even a 0
	 * ms timeout goes through the loop. */
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

/* tls-server-name: curl verifies the certificate against the URL's host,
 * so the URL names tls_server_name and CONNECT_TO sends the connection to
 * the server's real host and port. kcfg validated the URL already. Returns
 * 0, -EINVAL or -ENOMEM. */
static int set_server_name(struct khttp *h)
{
	const char *url = h->cfg->server, *name = h->cfg->tls_server_name;
	const char *host, *path, *colon;
	char hostbuf[256], port[8] = "443", *entry = NULL;
	size_t hlen;
	struct curl_slist *l;

	host = strstr(url, "://");
	if (!host)
		return -EINVAL;
	host += 3;
	path = host + strcspn(host, "/");
	/* The port's colon: after the brackets of an IPv6 literal. */
	colon = memchr(host[0] == '[' ? (const char *)memchr(host, ']', (size_t)(path - host)) ?: host
				      : host, ':', (size_t)(path - host));
	hlen = (size_t)((colon ? colon : path) - host);
	if (hlen >= sizeof(hostbuf) || (colon && (size_t)(path - colon - 1) >= sizeof(port)))
		return -EINVAL;
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	if (colon) {
		memcpy(port, colon + 1, (size_t)(path - colon - 1));
		port[path - colon - 1] = '\0';
	}
	/* "name:port:host:port": connections for name:port go to host:port. */
	if (asprintf(&entry, "%s:%s:%s:%s", name, port, hostbuf, port) < 0)
		return -ENOMEM;
	l = curl_slist_append(NULL, entry);
	free(entry);
	if (!l)
		return -ENOMEM;
	h->connect_to = l;
	free(h->base);
	if (asprintf(&h->base, "%.*s%s:%s%s", (int)(host - url), url, name, port, path) < 0) {
		h->base = NULL;
		return -ENOMEM;
	}
	return 0;
}

int khttp_new(uv_loop_t *loop, struct kcfg *cfg, struct khttp **out)
{
	struct khttp *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto fail;
	h->cfg = cfg;
	h->base = strdup(cfg->server);
	if (!h->base || (cfg->tls_server_name && set_server_name(h) < 0))
		goto fail;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto fail;
	h->loop = loop;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	/* Over HTTP/2 the watches and lists share one connection. */
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	*out = h;
	return 0;
fail:
	if (h) {
		curl_slist_free_all(h->connect_to);
		free(h->base);
	}
	free(h);
	curl_global_cleanup();
	return -ENOMEM;
}

const char *khttp_server(const struct khttp *h)
{
	return h->cfg->server;
}

char *khttp_escape(const char *s, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			if (n + 1 >= size)
				return NULL;
			buf[n++] = (char)c;
		} else {
			if (n + 3 >= size)
				return NULL;
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		}
	}
	if (n >= size)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/* --v 6, as client-go's round trippers: one line per response, when its
 * head is in (a watch's body may stream for minutes after). */
static void log_response(struct khttp_req *r)
{
	curl_off_t us = 0;
	long status = 0;
	char *url = NULL;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url);
	curl_easy_getinfo(r->easy, CURLINFO_STARTTRANSFER_TIME_T, &us);
	log_v(6, "GET %s %ld in %lld ms (%s)", url ? url : "?", status, (long long)(us / 1000),
	      version_name(r->easy));
}

/* Retry-After: seconds (an HTTP date is not what the API server sends). */
static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	struct khttp_req *r = ud;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	/* The blank line that ends a head; a 1xx head is followed by another. */
	if (log_enabled(6) && (len == 2 && buf[0] == '\r' && buf[1] == '\n')) {
		long status = 0;

		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200)
			log_response(r);
	}
	if (len > sizeof(name) && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		char tmp[32];
		size_t k = len - (sizeof(name) - 1);
		char *end;
		unsigned long v;

		if (k >= sizeof(tmp))
			k = sizeof(tmp) - 1;
		memcpy(tmp, buf + sizeof(name) - 1, k);
		tmp[k] = '\0';
		v = strtoul(tmp, &end, 10);
		if (end != tmp && v < 3600)
			r->retry_after_ms = v * 1000;
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	struct khttp_req *r = ud;
	size_t len = size * n;

	if (!r->status) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		r->is_2xx = r->status >= 200 && r->status < 300;
	}
	if (r->is_2xx) {
		if (r->hd->data(r->ud, buf, len) < 0) {
			r->aborted = true;
			return 0;  /* curl ends the transfer with CURLE_WRITE_ERROR */
		}
		return len;
	}
	if (r->errlen < KHTTP_ERROR_BODY_MAX) {
		size_t k = len;
		char *nb;

		if (r->errlen + k > KHTTP_ERROR_BODY_MAX)
			k = KHTTP_ERROR_BODY_MAX - r->errlen;
		nb = realloc(r->errbody, r->errlen + k + 1);
		if (!nb)
			return len;  /* the message is lost, not the status */
		memcpy(nb + r->errlen, buf, k);
		r->errlen += k;
		nb[r->errlen] = '\0';
		r->errbody = nb;
	}
	return len;
}

/* Takes r out of h's list and out of curl's multi handle. */
static void req_detach(struct khttp_req *r)
{
	struct khttp *h = r->h;

	if (r->detached)
		return;
	r->detached = true;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (h->multi)
		curl_multi_remove_handle(h->multi, r->easy);
}

static void req_free(struct khttp_req *r)
{
	req_detach(r);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->errbody);
	free(r);
}

static int set_blob(CURL *easy, CURLoption opt, const struct kcfg_blob *b)
{
	struct curl_blob blob = { .data = b->data, .len = b->len, .flags = CURL_BLOB_COPY };

	return curl_easy_setopt(easy, opt, &blob) == CURLE_OK ? 0 : -EINVAL;
}

/* TLS trust and client identity, as the kubeconfig says. */
static int set_tls(struct khttp *h, CURL *easy)
{
	const struct kcfg *c = h->cfg;

	if (c->insecure) {
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (c->ca_data.data || c->ca_file) {
		/* Only the cluster's CA, as client-go: not the system store too. */
		curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
		if (c->ca_data.data) {
			if (set_blob(easy, CURLOPT_CAINFO_BLOB, &c->ca_data) < 0)
				return -EINVAL;
		} else {
			curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_file);
		}
	}
	if (c->cert_data.data) {
		if (set_blob(easy, CURLOPT_SSLCERT_BLOB, &c->cert_data) < 0)
			return -EINVAL;
		curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cert_file) {
		curl_easy_setopt(easy, CURLOPT_SSLCERT, c->cert_file);
	}
	if (c->key_data.data) {
		if (set_blob(easy, CURLOPT_SSLKEY_BLOB, &c->key_data) < 0)
			return -EINVAL;
		curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->key_file) {
		curl_easy_setopt(easy, CURLOPT_SSLKEY, c->key_file);
	}
	return 0;
}

/* Lines that may carry a credential: curl's own trace prints HTTP/2
 * request headers as text ("[HTTP/2] [1] [authorization: Bearer ...]"). */
static bool secret_line(const char *s, size_t len)
{
	static const char *const words[] = { "authorization", "bearer", "private key", "cookie" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t w = strlen(words[i]);

		for (size_t k = 0; k + w <= len; k++)
			if (strncasecmp(s + k, words[i], w) == 0)
				return true;
	}
	return false;
}

/* --v 9: curl's own trace of connections and TLS (its informational text
 * only: never headers or data, and never a line that names a credential). */
static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *ud)
{
	size_t len = size;

	(void)easy;
	(void)ud;
	if (type != CURLINFO_TEXT)
		return 0;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len > 512)
		len = 512;
	if (secret_line(data, len))
		log_v(9, "curl: (a line with credentials, not shown)");
	else
		log_v(9, "curl: %.*s", (int)len, data);
	return 0;
}

static int set_headers(struct khttp *h, struct khttp_req *r)
{
	const char *token = kcfg_token(h->cfg, h->force_token);
	struct curl_slist *l;
	char *auth = NULL;

	h->force_token = false;
	l = curl_slist_append(NULL, "Accept: application/json");
	if (!l)
		return -ENOMEM;
	r->headers = l;
	if (token) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
			return -ENOMEM;
		l = curl_slist_append(r->headers, auth);
		/* The token does not linger in freed memory. */
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (!l)
			return -ENOMEM;
		r->headers = l;
	}
	return 0;
}

int khttp_get(struct khttp *h, const char *path, uint64_t timeout_ms,
	      const struct khttp_handler *hd, void *ud, struct khttp_req **out)
{
	struct khttp_req *r;
	char *url = NULL;
	int ret = -ENOMEM;

	if (h->closing)
		return -ECANCELED;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->h = h;
	r->hd = hd;
	r->ud = ud;
	r->easy = curl_easy_init();
	if (!r->easy)
		goto fail;
	if (asprintf(&url, "%s%s", h->base, path) < 0) {
		url = NULL;
		goto fail;
	}
	if (set_headers(h, r) < 0)
		goto fail;
	ret = set_tls(h, r->easy);
	if (ret < 0)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	/* --v 7, as client-go: the request's headers, the token masked. */
	log_v(7, "GET %s: request headers: Accept: application/json%s, User-Agent: nftproxy/%s",
	      url, r->headers && r->headers->next ? ", Authorization: Bearer <masked>" : "",
	      NFTPROXY_VERSION);
	if (log_enabled(9)) {
		curl_easy_setopt(r->easy, CURLOPT_DEBUGFUNCTION, on_debug);
		curl_easy_setopt(r->easy, CURLOPT_VERBOSE, 1L);
	}
	if (h->connect_to)
		curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, h->connect_to);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "nftproxy/" NFTPROXY_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Wait for the HTTP/2 connection in progress rather than open another. */
	curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)KHTTP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	/* A watch idles between events: keepalives find a dead peer. */
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, 10L);
	/* Compressed lists are a tenth of the size over the wire. */
	curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
	free(url);
	url = NULL;
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		ret = -ENOMEM;
		goto fail;
	}
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	if (out)
		*out = r;
	return 0;
fail:
	free(url);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r);
	return ret;
}

static const char *version_name(CURL *easy)
{
	long version = 0;

	curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
	return version == CURL_HTTP_VERSION_2_0 ? "HTTP/2" : "HTTP/1.1";
}

const char *khttp_protocol(const struct khttp_req *r)
{
	return version_name(r->easy);
}

void khttp_cancel(struct khttp_req *r)
{
	if (r)
		req_free(r);
}

static int status_first(struct doc *root, void *data)
{
	struct doc **out = data;

	if (!*out)
		*out = root;
	else
		doc_free(root);
	return 0;
}

/* The message and reason of a Kubernetes Status body, when it is one. */
static void parse_status(const char *body, size_t len, char *msg, size_t msg_size,
			 char *reason, size_t reason_size, long *code)
{
	struct doc_json *p = NULL;
	struct doc *root = NULL;
	const char *s;
	int64_t c;

	msg[0] = reason[0] = '\0';
	if (!body || doc_json_new(status_first, &root, &p) < 0)
		return;
	if (doc_json_feed(p, body, len) == 0)
		doc_json_finish(p);
	doc_json_free(p);
	if (!root)
		return;
	if (doc_get_string(root, "message", &s) == 0)
		snprintf(msg, msg_size, "%s", s);
	if (doc_get_string(root, "reason", &s) == 0)
		snprintf(reason, reason_size, "%s", s);
	if (doc_get_int(root, "code", &c) == 0)
		*code = (long)c;
	doc_free(root);
}

/* Whether a transfer failed in the TLS handshake: curl's TLS errors, or a
 * connection that was made but closed before its handshake completed
 * (curl then only says "reset by peer" or "SSL_ERROR_SYSCALL"). */
static bool tls_failed(CURL *easy, CURLcode code)
{
	curl_off_t tcp = 0, tls = 0;
	char *scheme = NULL;

	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		return false;
	default:
		break;
	}
	curl_easy_getinfo(easy, CURLINFO_SCHEME, &scheme);
	curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &tcp);
	curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &tls);
	return scheme && strcasecmp(scheme, "https") == 0 && tcp > 0 && tls == 0;
}

static void report(struct khttp_req *r, CURLcode code)
{
	struct khttp_result res = { .curl_code = (int)code };
	char msg[512], reason[64], line[640];

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
	res.protocol = version_name(r->easy);
	res.code = res.status;
	res.aborted = r->aborted;
	res.retry_after_ms = r->retry_after_ms;
	if (res.status == 401)
		r->h->force_token = true;
	if (res.status && (res.status < 200 || res.status >= 300)) {
		parse_status(r->errbody, r->errlen, msg, sizeof(msg), reason, sizeof(reason),
			     &res.code);
		if (msg[0])
			snprintf(line, sizeof(line), "HTTP %ld: %s", res.status, msg);
		else
			snprintf(line, sizeof(line), "HTTP %ld", res.status);
		res.error = line;
		res.reason = reason[0] ? reason : NULL;
	} else if (code != CURLE_OK && !r->aborted) {
		const char *m = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
		size_t n = strlen(m);

		while (n && m[n - 1] == ' ')
			n--;  /* curl ends some messages with a space */
		snprintf(line, sizeof(line), "%.*s%s", (int)n, m,
			 tls_failed(r->easy, code) ? " (in the TLS handshake)" : "");
		res.error = line;
	}
	r->hd->done(r->ud, &res);
}

/* Reports every finished transfer. done() may add or cancel requests;
 * curl drops a cancelled request's pending message itself. */
static void collect_done(struct khttp *h)
{
	CURLMsg *msg;
	int left;

	while (!h->closing && (msg = curl_multi_info_read(h->multi, &left))) {
		struct khttp_req *r = NULL;
		CURLcode code;

		if (msg->msg != CURLMSG_DONE)
			continue;
		code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (!r)
			continue;
		/* Detached first: the handler may close the client, which then
		 * does not see r; r is freed here either way. */
		req_detach(r);
		report(r, code);
		req_free(r);
	}
}

void khttp_close(struct khttp *h, void (*closed)(void *data), void *data)
{
	if (!h || h->closing)
		return;
	h->closing = true;
	h->closed = closed;
	h->closed_data = data;
	while (h->reqs)
		req_free(h->reqs);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	for (struct khttp_sock *s = h->socks; s; s = s->next)
		sock_close(s);
	uv_close((uv_handle_t *)&h->timer, timer_closed);
}
