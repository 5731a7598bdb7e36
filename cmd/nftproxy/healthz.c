#include "cmd/nftproxy/healthz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config/kpconfig.h"
#include "lib/util/httpd.h"
#include "lib/util/log.h"

struct healthz {
	uv_loop_t *loop;
	struct httpd *srv;
	uint64_t timeout_ms;
	uint64_t oldest_queued;    /* loop time of the oldest unsynced change; 0: none */
	struct timespec last_updated; /* wall clock of the last complete sync */
	bool node_eligible;
};

/* Go's time.Time String() without the monotonic part, in UTC, as kube-proxy
 * prints it. */
static void go_time(const struct timespec *ts, char *buf, size_t size)
{
	struct tm tm;
	char base[32];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09ld +0000 UTC", base, ts->tv_nsec);
}

bool healthz_healthy(const struct healthz *h)
{
	uint64_t now = uv_now(h->loop);

	return !h->oldest_queued || now - h->oldest_queued < h->timeout_ms;
}

static int handle(void *data, const struct httpd_request *req, struct httpd_response *resp)
{
	struct healthz *h = data;
	bool livez = strcmp(req->path, "/livez") == 0;
	bool healthy = healthz_healthy(h);
	struct timespec now;
	char body[256], cur[64], last[64];
	int n, r;

	if (!livez && strcmp(req->path, "/healthz") != 0)
		return 0; /* 404 */
	clock_gettime(CLOCK_REALTIME, &now);
	go_time(&now, cur, sizeof(cur));
	/* As kube-proxy: a healthy proxy reports lastUpdated as now (older
	 * releases updated it on every sync loop, even an idle one). */
	go_time(healthy ? &now : &h->last_updated, last, sizeof(last));
	if (!livez)
		healthy = healthy && h->node_eligible;
	if (livez)
		n = snprintf(body, sizeof(body), "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\"}",
			     last, cur);
	else
		n = snprintf(body, sizeof(body),
			     "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\", \"nodeEligible\": %s}",
			     last, cur, h->node_eligible ? "true" : "false");
	r = httpd_respond(resp, healthy ? 200 : 503, "application/json", body, (size_t)n);
	return r < 0 ? r : httpd_add_header(resp, "X-Content-Type-Options", "nosniff");
}

int healthz_new(uv_loop_t *loop, const char *hostport, uint64_t timeout_ms,
		struct healthz **out)
{
	struct healthz *h;
	char host[64];
	uint16_t port;
	int r;

	if (kpc_hostport_split(hostport, host, sizeof(host), &port) < 0)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->timeout_ms = timeout_ms;
	h->node_eligible = true;
	clock_gettime(CLOCK_REALTIME, &h->last_updated);
	r = httpd_new(loop, host[0] ? host : NULL, port, handle, h, &h->srv);
	if (r < 0) {
		free(h);
		return r;
	}
	log_v(2, "serving /healthz and /livez on %s", hostport);
	*out = h;
	return 0;
}

void healthz_queued(struct healthz *h)
{
	if (h && !h->oldest_queued)
		h->oldest_queued = uv_now(h->loop) ? uv_now(h->loop) : 1;
}

void healthz_updated(struct healthz *h)
{
	if (!h)
		return;
	h->oldest_queued = 0;
	clock_gettime(CLOCK_REALTIME, &h->last_updated);
}

void healthz_set_node_eligible(struct healthz *h, bool eligible)
{
	if (h && h->node_eligible != eligible) {
		log_info("this node is %s: /healthz now answers %d", eligible ? "no longer being "
			 "deleted" : "being deleted", eligible ? 200 : 503);
		h->node_eligible = eligible;
	}
}

void healthz_close(struct healthz *h)
{
	if (!h)
		return;
	httpd_close(h->srv);
	free(h);
}
