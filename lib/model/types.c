#include "lib/model/types.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static void kvs_free(struct kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void model_service_free(struct model_service *svc)
{
	if (!svc)
		return;
	free(svc->ns);
	free(svc->name);
	free(svc->uid);
	free(svc->resource_version);
	free(svc->cluster_ips);
	for (size_t i = 0; i < svc->n_ports; i++) {
		free(svc->ports[i].name);
		free(svc->ports[i].target_port.str);
	}
	free(svc->ports);
	free(svc->external_ips);
	free(svc->lb_ingress_ips);
	free(svc->lb_source_ranges);
	free(svc->external_name);
	free(svc->traffic_distribution);
	kvs_free(svc->labels, svc->n_labels);
	free(svc);
}

void model_node_free(struct model_node *node)
{
	if (!node)
		return;
	free(node->name);
	free(node->resource_version);
	kvs_free(node->labels, node->n_labels);
	free(node->addrs);
	free(node->pod_cidrs);
	free(node);
}

void model_slice_free(struct model_slice *slice)
{
	if (!slice)
		return;
	free(slice->ns);
	free(slice->name);
	free(slice->service_name);
	free(slice->resource_version);
	for (size_t i = 0; i < slice->n_ports; i++)
		free(slice->ports[i].name);
	free(slice->ports);
	for (size_t i = 0; i < slice->n_endpoints; i++) {
		struct slice_endpoint *ep = &slice->endpoints[i];

		free(ep->node_name);
		free(ep->zone);
		if (ep->hints) {
			strv_free(ep->hints->zones, ep->hints->n_zones);
			strv_free(ep->hints->nodes, ep->hints->n_nodes);
			free(ep->hints);
		}
	}
	free(slice->endpoints);
	kvs_free(slice->labels, slice->n_labels);
	free(slice);
}

/* NULL-safe string equality: NULL equals only NULL. */
static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool ips_eq(const struct ip_addr *a, size_t na, const struct ip_addr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!ip_addr_eq(&a[i], &b[i]))
			return false;
	return true;
}

/* Labels compare as sets: the decoder sorts them, but other producers need
 * not, and label order carries no meaning. */
static bool kvs_eq(const struct kv *a, size_t na, const struct kv *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (str_eq(a[i].key, b[i].key) && str_eq(a[i].value, b[i].value))
			continue;
		if (!str_eq(kv_get(b, nb, a[i].key), a[i].value))
			return false;
	}
	return true;
}

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool prefixes_eq(const struct svc_prefix *a, size_t na, const struct svc_prefix *b,
			size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].len != b[i].len || !ip_addr_eq(&a[i].addr, &b[i].addr))
			return false;
	return true;
}

static bool svc_port_eq(const struct svc_port *a, const struct svc_port *b)
{
	return str_eq(a->name, b->name) && a->protocol == b->protocol && a->port == b->port &&
	       a->node_port == b->node_port && a->target_port.present == b->target_port.present &&
	       a->target_port.is_string == b->target_port.is_string &&
	       (a->target_port.is_string ? str_eq(a->target_port.str, b->target_port.str)
					 : a->target_port.num == b->target_port.num);
}

bool model_service_equal(const struct model_service *a, const struct model_service *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (!str_eq(a->ns, b->ns) || !str_eq(a->name, b->name) || !str_eq(a->uid, b->uid) ||
	    a->type != b->type || a->headless != b->headless ||
	    a->ip_families[0] != b->ip_families[0] || a->ip_families[1] != b->ip_families[1] ||
	    a->affinity != b->affinity || a->affinity_timeout != b->affinity_timeout ||
	    a->external_policy != b->external_policy || a->internal_policy != b->internal_policy ||
	    a->health_check_node_port != b->health_check_node_port ||
	    !str_eq(a->external_name, b->external_name) ||
	    !str_eq(a->traffic_distribution, b->traffic_distribution) ||
	    a->topology_disabled != b->topology_disabled)
		return false;
	if (!ips_eq(a->cluster_ips, a->n_cluster_ips, b->cluster_ips, b->n_cluster_ips) ||
	    !ips_eq(a->external_ips, a->n_external_ips, b->external_ips, b->n_external_ips) ||
	    !ips_eq(a->lb_ingress_ips, a->n_lb_ingress_ips, b->lb_ingress_ips, b->n_lb_ingress_ips))
		return false;
	if (a->n_ports != b->n_ports)
		return false;
	for (size_t i = 0; i < a->n_ports; i++)
		if (!svc_port_eq(&a->ports[i], &b->ports[i]))
			return false;
	if (!prefixes_eq(a->lb_source_ranges, a->n_lb_source_ranges, b->lb_source_ranges,
			 b->n_lb_source_ranges))
		return false;
	return kvs_eq(a->labels, a->n_labels, b->labels, b->n_labels);
}

bool model_node_equal(const struct model_node *a, const struct model_node *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	return str_eq(a->name, b->name) && kvs_eq(a->labels, a->n_labels, b->labels, b->n_labels) &&
	       ips_eq(a->addrs, a->n_addrs, b->addrs, b->n_addrs) &&
	       prefixes_eq(a->pod_cidrs, a->n_pod_cidrs, b->pod_cidrs, b->n_pod_cidrs) &&
	       a->deleting == b->deleting;
}

static bool hints_eq(const struct slice_hints *a, const struct slice_hints *b)
{
	static const struct slice_hints none;

	a = a ? a : &none;
	b = b ? b : &none;
	return strv_eq(a->zones, a->n_zones, b->zones, b->n_zones) &&
	       strv_eq(a->nodes, a->n_nodes, b->nodes, b->n_nodes);
}

static bool slice_endpoint_eq(const struct slice_endpoint *a, const struct slice_endpoint *b)
{
	return a->n_addrs == b->n_addrs && (!a->n_addrs || ip_addr_eq(&a->addr, &b->addr)) &&
	       a->ready == b->ready &&
	       a->serving == b->serving && a->terminating == b->terminating &&
	       str_eq(a->node_name, b->node_name) && str_eq(a->zone, b->zone) &&
	       hints_eq(a->hints, b->hints);
}

static bool slice_port_eq(const struct slice_port *a, const struct slice_port *b)
{
	return str_eq(a->name, b->name) && a->has_port == b->has_port && a->port == b->port &&
	       a->protocol == b->protocol;
}

bool model_slice_equal(const struct model_slice *a, const struct model_slice *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (!str_eq(a->ns, b->ns) || !str_eq(a->name, b->name) ||
	    !str_eq(a->service_name, b->service_name) || a->addr_type != b->addr_type ||
	    a->n_ports != b->n_ports || a->n_endpoints != b->n_endpoints)
		return false;
	for (size_t i = 0; i < a->n_ports; i++)
		if (!slice_port_eq(&a->ports[i], &b->ports[i]))
			return false;
	for (size_t i = 0; i < a->n_endpoints; i++)
		if (!slice_endpoint_eq(&a->endpoints[i], &b->endpoints[i]))
			return false;
	return kvs_eq(a->labels, a->n_labels, b->labels, b->n_labels);
}

bool slice_endpoint_ready(const struct slice_endpoint *ep)
{
	/* The API: "nil should be interpreted as true". */
	return ep->ready != TRI_FALSE;
}

bool slice_endpoint_serving(const struct slice_endpoint *ep)
{
	/* Absent serving means the same as ready, so old producers that only
	 * set ready keep working. */
	if (ep->serving == TRI_ABSENT)
		return slice_endpoint_ready(ep);
	return ep->serving == TRI_TRUE;
}

bool slice_endpoint_terminating(const struct slice_endpoint *ep)
{
	return ep->terminating == TRI_TRUE;
}

const char *kv_get(const struct kv *kvs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (kvs[i].key && strcmp(kvs[i].key, key) == 0)
			return kvs[i].value;
	return NULL;
}

const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_SCTP:
		return "sctp";
	}
	return "unknown";
}
