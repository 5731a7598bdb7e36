/* Synthetic services and slices for benchmarks and scale tests: service i
 * is ns(i%100)/svc(i), ClusterIP 10.96.0.0/12 + i + 1, TCP port 80 "http",
 * with n_eps ready endpoints in 10.128.0.0/9 on port 8080. Exits on ENOMEM
 * (test code only). */
#include "tests/common/gen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		perror("strdup");
		exit(1);
	}
	return p;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p) {
		perror("calloc");
		exit(1);
	}
	return p;
}

struct model_service *gen_service(unsigned i)
{
	struct model_service *s = xcalloc(1, sizeof(*s));
	char buf[64];

	snprintf(buf, sizeof(buf), "ns%u", i % 100);
	s->ns = xstrdup(buf);
	snprintf(buf, sizeof(buf), "svc%u", i);
	s->name = xstrdup(buf);
	s->type = SVC_TYPE_CLUSTER_IP;
	s->cluster_ips = xcalloc(1, sizeof(*s->cluster_ips));
	s->n_cluster_ips = 1;
	s->cluster_ips[0].family = AF_INET;
	/* 10.96.0.0/12 */
	s->cluster_ips[0].v4.s_addr = htonl((10u << 24) | (96u << 16) | (i + 1));
	s->ip_families[0] = AF_INET;
	s->ports = xcalloc(1, sizeof(*s->ports));
	s->n_ports = 1;
	s->ports[0].name = xstrdup("http");
	s->ports[0].protocol = IPPROTO_TCP;
	s->ports[0].port = 80;
	s->ports[0].target_port.present = true;
	s->ports[0].target_port.num = 8080;
	s->affinity_timeout = SVC_AFFINITY_DEFAULT_TIMEOUT;
	return s;
}

struct model_slice *gen_slice(unsigned i, unsigned n_eps, unsigned gen)
{
	struct model_slice *sl = xcalloc(1, sizeof(*sl));
	char buf[64];

	snprintf(buf, sizeof(buf), "ns%u", i % 100);
	sl->ns = xstrdup(buf);
	snprintf(buf, sizeof(buf), "svc%u-abcde", i);
	sl->name = xstrdup(buf);
	snprintf(buf, sizeof(buf), "svc%u", i);
	sl->service_name = xstrdup(buf);
	sl->addr_type = SLICE_ADDR_IPV4;
	sl->ports = xcalloc(1, sizeof(*sl->ports));
	sl->n_ports = 1;
	sl->ports[0].name = xstrdup("http");
	sl->ports[0].has_port = true;
	sl->ports[0].port = 8080;
	sl->ports[0].protocol = IPPROTO_TCP;
	sl->endpoints = xcalloc(n_eps, sizeof(*sl->endpoints));
	sl->n_endpoints = n_eps;
	for (unsigned e = 0; e < n_eps; e++) {
		struct slice_endpoint *ep = &sl->endpoints[e];
		/* 10.128.0.0/9: endpoint e of service i, distinct for every pair */
		uint32_t a = (10u << 24) | (128u << 16) | ((i * 16 + e + gen) & 0x7fffff);

		ep->n_addrs = 1;
		ep->addr.family = AF_INET;
		ep->addr.v4.s_addr = htonl(a);
		ep->ready = TRI_TRUE;
		ep->serving = TRI_ABSENT;
		ep->terminating = TRI_ABSENT;
	}
	return sl;
}

