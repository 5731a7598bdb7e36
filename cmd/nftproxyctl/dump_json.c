/* The JSON form of nftproxyctl dump, for scripts and tests:
 *
 *   {"table": "nftproxy", "services": [{"namespace": "default", "name": "web",
 *    "port_name": "http", "family": "ipv4", "protocol": "tcp", "ip": "10.96.0.10",
 *    "port": 80, "type": "NodePort", "node_port": 30080, "external_ips": [],
 *    "load_balancer_ips": [], "load_balancer_source_ranges": false,
 *    "external_traffic_policy": "Cluster", "internal_traffic_policy": "Cluster",
 *    "session_affinity": "None", "no_endpoints": null,
 *    "endpoints": [{"ip": "10.244.1.11", "port": 8080, "local": false}]}]}
 *
 * no_endpoints is "reject" or "drop" when there is no endpoint; with
 * ClientIP affinity, "affinity_timeout_seconds" follows session_affinity.
 *
 * Generated with yajl so that every name is escaped properly. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "cmd/nftproxyctl/ctl.h"
#include "lib/util/ipaddr.h"
#include "lib/util/utf8.h"
#include "nft/dump.h"

/* Every generator call goes through these: the first failure sticks. A
 * name read back from the kernel may be any bytes (someone else's element
 * comment); yajl writes them as they are, so the bytes that are not UTF-8
 * become U+FFFD and the output stays JSON. */
static int put_str(yajl_gen g, const char *s)
{
	yajl_gen_status st;
	size_t len;
	char *fixed;

	if (!s)
		return yajl_gen_null(g) == yajl_gen_status_ok ? 0 : -ENOMEM;
	if (utf8_repair(s, strlen(s), &fixed, &len) < 0)
		return -ENOMEM;
	st = yajl_gen_string(g, (const unsigned char *)(fixed ? fixed : s), len);
	free(fixed);
	return st == yajl_gen_status_ok ? 0 : -ENOMEM;
}

static int put_kv_str(yajl_gen g, const char *key, const char *value)
{
	return put_str(g, key) ?: put_str(g, value);
}

static int put_kv_int(yajl_gen g, const char *key, long long value)
{
	return put_str(g, key) ?: (yajl_gen_integer(g, value) == yajl_gen_status_ok ? 0 : -ENOMEM);
}

static int ok(yajl_gen_status st)
{
	return st == yajl_gen_status_ok ? 0 : -ENOMEM;
}

static int put_endpoint(yajl_gen g, const struct nft_dump_endpoint *ep)
{
	char addr[IP_ADDR_STRLEN];

	return ok(yajl_gen_map_open(g)) ?: put_kv_str(g, "ip", ip_addr_fmt(&ep->ip, addr)) ?:
	       put_kv_int(g, "port", ep->port) ?: put_str(g, "local") ?:
	       ok(yajl_gen_bool(g, ep->local)) ?: ok(yajl_gen_map_close(g));
}

static int put_ips(yajl_gen g, const char *key, const struct ip_addr *ips, size_t n)
{
	char addr[IP_ADDR_STRLEN];
	int r = put_str(g, key) ?: ok(yajl_gen_array_open(g));

	for (size_t i = 0; r == 0 && i < n; i++)
		r = put_str(g, ip_addr_fmt(&ips[i], addr));
	return r ?: ok(yajl_gen_array_close(g));
}

static int put_service(yajl_gen g, const struct nft_dump_service *svc)
{
	char addr[IP_ADDR_STRLEN], proto[8];
	int r;

	r = ok(yajl_gen_map_open(g)) ?: put_kv_str(g, "namespace", svc->ns) ?:
	    put_kv_str(g, "name", svc->name) ?: put_kv_str(g, "port_name", svc->port_name) ?:
	    put_kv_str(g, "family", svc->family == AF_INET6 ? "ipv6" : "ipv4") ?:
	    put_kv_str(g, "protocol", ctl_proto_name(svc->proto, proto, sizeof(proto))) ?:
	    put_kv_str(g, "ip", ip_addr_fmt(&svc->ip, addr)) ?:
	    put_kv_int(g, "port", svc->port) ?: put_kv_str(g, "type", svc->type) ?:
	    (svc->node_port ? put_kv_int(g, "node_port", svc->node_port) : 0) ?:
	    put_ips(g, "external_ips", svc->external_ips, svc->n_external_ips) ?:
	    put_ips(g, "load_balancer_ips", svc->lb_ips, svc->n_lb_ips) ?:
	    put_str(g, "load_balancer_source_ranges") ?: ok(yajl_gen_bool(g, svc->source_ranges)) ?:
	    put_kv_str(g, "external_traffic_policy", svc->external_local ? "Local" : "Cluster") ?:
	    put_kv_str(g, "internal_traffic_policy", svc->internal_local ? "Local" : "Cluster") ?:
	    put_kv_str(g, "session_affinity", svc->affinity_timeout ? "ClientIP" : "None") ?:
	    (svc->affinity_timeout ? put_kv_int(g, "affinity_timeout_seconds",
						svc->affinity_timeout) : 0) ?:
	    put_kv_str(g, "no_endpoints", svc->n_eps ? NULL : svc->drops ? "drop" : "reject") ?:
	    put_str(g, "endpoints") ?: ok(yajl_gen_array_open(g));
	for (size_t i = 0; r == 0 && i < svc->n_eps; i++)
		r = put_endpoint(g, &svc->eps[i]);
	return r ?: ok(yajl_gen_array_close(g)) ?: ok(yajl_gen_map_close(g));
}

int ctl_dump_json(const struct nft_dump *d, FILE *out)
{
	const unsigned char *buf;
	size_t len;
	yajl_gen g;
	int r;

	g = yajl_gen_alloc(NULL);
	if (!g)
		return -ENOMEM;
	if (!yajl_gen_config(g, yajl_gen_beautify, 1)) {
		r = -EINVAL;
		goto out;
	}
	r = ok(yajl_gen_map_open(g)) ?: put_kv_str(g, "table", d->table) ?:
	    put_str(g, "services") ?: ok(yajl_gen_array_open(g));
	for (size_t i = 0; r == 0 && i < d->n_svcs; i++)
		r = put_service(g, &d->svcs[i]);
	r = r ?: ok(yajl_gen_array_close(g)) ?: ok(yajl_gen_map_close(g)) ?:
	    ok(yajl_gen_get_buf(g, &buf, &len));
	if (r < 0)
		goto out;
	if (fwrite(buf, 1, len, out) != len || (len && buf[len - 1] != '\n' && fputc('\n', out) == EOF))
		r = -EIO;
out:
	yajl_gen_free(g);
	return r;
}
