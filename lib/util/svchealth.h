/* The service health-check server, as kube-proxy's: for each Service with
 * externalTrafficPolicy: Local, an HTTP server on its healthCheckNodePort
 * that tells load balancers whether this node has local endpoints for it.
 * Any GET (or HEAD) on any path answers
 *
 *   200 (or 503 with no local endpoint, or while the proxy is unhealthy)
 *   Content-Type: application/json
 *   X-Content-Type-Options: nosniff
 *
 *   {
 *   	"service": {
 *   		"namespace": "NS",
 *   		"name": "NAME"
 *   	},
 *   	"localEndpoints": N,
 *   	"serviceProxyHealthy": true
 *   }
 *
 * byte for byte kube-proxy's body (>= 1.28): tab-indented, no final newline.
 * All calls run on the loop's thread. */
#ifndef NFTPROXY_UTIL_SVCHEALTH_H
#define NFTPROXY_UTIL_SVCHEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct svchealth;

struct svchealth_service {
	const char *ns;			 /* never NULL */
	const char *name;		 /* never NULL */
	uint16_t health_check_node_port; /* 0: none, the entry is skipped */
	unsigned int local_endpoints;	 /* ready endpoints on this node */
};

/* A server with no ports yet, listening on every address (IPv4 and IPv6)
 * once ports are synced. Returns 0 and *out (free with svchealth_close()),
 * or -ENOMEM. */
int svchealth_new(uv_loop_t *loop, struct svchealth **out);

/* Listens on addr instead of every address (an IP literal, as for
 * httpd_new()); applies to ports opened from now on, so call it before the
 * first sync. NULL: every address. Returns 0, -EINVAL or -ENOMEM. */
int svchealth_set_address(struct svchealth *h, const char *addr);

/* Makes svcs[0..n) the set served: opens a port for each one not open yet,
 * closes the ports no longer listed, and updates names and counts (the
 * strings are copied). A port listed by two services stays with the one
 * that had it, else goes to the first listed; the others are logged as
 * errors naming both (once while the conflict lasts). A port that cannot
 * be opened is logged with its service and the error, and tried again on
 * every later call. Returns the number of listed ports not served (bind
 * failures), or -ENOMEM (the ports already open stay open and the call can
 * be repeated). */
int svchealth_sync(struct svchealth *h, const struct svchealth_service *svcs, size_t n);

/* kube-proxy's serviceProxyHealthy: while false every port answers 503
 * (load balancers move away from a node whose rules are stale). Initially
 * true. */
void svchealth_set_proxy_healthy(struct svchealth *h, bool healthy);

/* How many ports are open now. */
size_t svchealth_port_count(const struct svchealth *h);

/* Closes every port; memory is freed when the loop has closed the sockets
 * (the loop must run on). NULL is a no-op. */
void svchealth_close(struct svchealth *h);

#endif
