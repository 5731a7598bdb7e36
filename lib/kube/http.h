/* HTTP(S) requests to the API server: libcurl's multi interface driven by
 * the daemon's libuv loop (curl_multi_socket_action from uv_poll and
 * uv_timer), so no thread blocks and nothing polls. Requests to one server
 * share connections; over HTTP/2 every watch is a stream of one connection.
 *
 * The response body of a 2xx answer is handed over chunk by chunk as it
 * arrives and never buffered here. A non-2xx body (a Kubernetes Status) is
 * kept, up to 8 KiB, only to say what went wrong.
 *
 * All calls run on the loop given to khttp_new; nothing is thread-safe. */
#ifndef NFTPROXY_KUBE_HTTP_H
#define NFTPROXY_KUBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct kcfg;
struct khttp;
struct khttp_req;

struct khttp_result {
	int curl_code;             /* CURLE_OK, or why the transfer failed */
	long status;               /* HTTP status; 0 when no response came */
	const char *error;         /* one line when something failed: curl's message, or
	                              the Status message of the body; NULL when all went well */
	const char *reason;        /* Status.reason of an error body ("Expired"), or NULL */
	long code;                 /* Status.code of an error body, else status */
	uint64_t retry_after_ms;   /* Retry-After of the answer, 0 when absent */
	bool aborted;              /* the data callback stopped the transfer */
	const char *protocol;      /* "HTTP/2", "HTTP/1.1" */
};

struct khttp_handler {
	/* Body bytes of a 2xx answer, as they arrive. A negative return stops
	 * the transfer (done then reports aborted). It must not call
	 * khttp_get or khttp_cancel: return negative and act in done. */
	int (*data)(void *ud, const void *buf, size_t len);
	/* The transfer ended, one way or another. Called outside curl's
	 * callbacks, so it may start or cancel requests. Not called after
	 * khttp_cancel or khttp_close. */
	void (*done)(void *ud, const struct khttp_result *res);
};

/* Creates a client for the server and credentials of cfg, which it
 * borrows (it must outlive the client: the token file is re-read through
 * it). Returns 0 or -errno. Release with khttp_close. */
int khttp_new(uv_loop_t *loop, struct kcfg *cfg, struct khttp **out);

/* Starts GET <server><path> (path includes the query, already escaped).
 * timeout_ms bounds the whole transfer (0: none). *out (may be NULL) is
 * the request, valid until done is called or it is cancelled. Returns 0 or
 * -errno (-ENOMEM, -EINVAL). */
int khttp_get(struct khttp *h, const char *path, uint64_t timeout_ms,
	      const struct khttp_handler *hd, void *ud, struct khttp_req **out);

/* "HTTP/2" or "HTTP/1.1", once the answer has begun. */
const char *khttp_protocol(const struct khttp_req *r);

/* Stops a request; its done is not called. NULL is fine. */
void khttp_cancel(struct khttp_req *r);

/* Cancels every request and releases the client once libuv has closed its
 * handles; then closed(data) is called (may be NULL). The loop must run. */
void khttp_close(struct khttp *h, void (*closed)(void *data), void *data);

/* "https://host:port": for messages. */
const char *khttp_server(const struct khttp *h);

/* Escapes s for a query string value ("!a/b,c" -> "%21a%2Fb%2Cc") into buf.
 * Returns buf, or NULL when it does not fit. */
char *khttp_escape(const char *s, char *buf, size_t size);

#endif
