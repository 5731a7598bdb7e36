#include "lib/model/categorize.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/log.h"

bool model_service_external(const struct model_service *svc, int family)
{
	for (size_t i = 0; i < svc->n_ports; i++)
		if (svc->ports[i].node_port)
			return true;
	for (size_t i = 0; i < svc->n_external_ips; i++)
		if (!family || svc->external_ips[i].family == family)
			return true;
	for (size_t i = 0; i < svc->n_lb_ingress_ips; i++)
		if (!family || svc->lb_ingress_ips[i].family == family)
			return true;
	return false;
}

static bool has_str(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool is_local(const struct model_endpoint *ep, const char *node)
{
	return node && ep->node_name && strcmp(ep->node_name, node) == 0;
}

/* kube-proxy's choice among hints: same-node hints when every ready
 * endpoint has some and one is for this node, else same-zone hints on the
 * same terms, else none. Only ready endpoints count. */
static const char *topology_mode(const struct model_service *svc,
				 const struct model_endpoint *eps, size_t n, const char *node,
				 const char *zone)
{
	bool all_node = true, all_zone = true, for_node = false, for_zone = false, any = false;

	if (svc->topology_disabled)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct slice_hints *h = eps[i].src ? eps[i].src->hints : NULL;

		if (!eps[i].ready)
			continue;
		any = true;
		if (!h || !h->n_nodes)
			all_node = false;
		else if (has_str(h->nodes, h->n_nodes, node))
			for_node = true;
		if (!h || !h->n_zones)
			all_zone = false;
		else if (has_str(h->zones, h->n_zones, zone))
			for_zone = true;
	}
	if (!any)
		return NULL;
	if (all_node && for_node)
		return "node";
	if (all_zone) {
		if (for_zone)
			return "zone";
		log_v(4, "service %s/%s: ignoring its zone hints: %s", svc->ns, svc->name,
		      zone ? "none is for this node's zone" : "this node has no zone");
	} else if (!all_node) {
		log_v(6, "service %s/%s: not every ready endpoint has hints; using all",
		      svc->ns, svc->name);
	}
	return NULL;
}

static bool for_topology(const struct model_endpoint *ep, const char *mode, const char *node,
			 const char *zone)
{
	const struct slice_hints *h = ep->src ? ep->src->hints : NULL;

	if (!mode)
		return true;
	if (!h)
		return false;
	if (mode[0] == 'n')
		return has_str(h->nodes, h->n_nodes, node);
	return has_str(h->zones, h->n_zones, zone);
}

int model_categorize(const struct model_service *svc, const struct model_endpoint *eps,
		     size_t n, const char *node, const char *zone, struct model_split *out)
{
	bool ext = model_service_external(svc, 0);
	bool uses_cluster = svc->internal_policy != SVC_POLICY_LOCAL || ext;
	bool uses_local = svc->internal_policy == SVC_POLICY_LOCAL ||
			  (ext && svc->external_policy == SVC_POLICY_LOCAL);
	bool local_ready = false, local_term = false;

	memset(out, 0, sizeof(*out));
	out->cluster = calloc(n ? n : 1, sizeof(*out->cluster));
	out->local = calloc(n ? n : 1, sizeof(*out->local));
	if (!out->cluster || !out->local) {
		model_split_fini(out);
		return -ENOMEM;
	}
	if (uses_cluster) {
		out->topology = topology_mode(svc, eps, n, node, zone);
		for (size_t i = 0; i < n; i++)
			if (eps[i].ready && for_topology(&eps[i], out->topology, node, zone))
				out->cluster[out->n_cluster++] = &eps[i];
		/* Nothing ready anywhere: the terminating endpoints that still
		 * serve drain the traffic (topology does not apply to them). */
		if (!out->n_cluster) {
			for (size_t i = 0; i < n; i++)
				if (eps[i].serving && eps[i].terminating)
					out->cluster[out->n_cluster++] = &eps[i];
		}
		out->has_any = out->n_cluster > 0;
	}
	if (!uses_local)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (eps[i].ready) {
			out->has_any = true;
			local_ready = local_ready || is_local(&eps[i], node);
		} else if (eps[i].serving && eps[i].terminating) {
			out->has_any = true;
			local_term = local_term || is_local(&eps[i], node);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_local(&eps[i], node))
			continue;
		if (local_ready ? eps[i].ready
				: local_term && eps[i].serving && eps[i].terminating)
			out->local[out->n_local++] = &eps[i];
	}
	return 0;
}

void model_split_fini(struct model_split *s)
{
	free(s->cluster);
	free(s->local);
	memset(s, 0, sizeof(*s));
}
