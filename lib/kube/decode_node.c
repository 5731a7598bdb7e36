/* v1 Node → struct model_node: this node's labels, addresses and pod CIDRs.
 * Everything else of a Node (conditions, heartbeats, images) is left out,
 * so that the kubelet's status updates decode to an equal node. */
#include "lib/kube/decode.h"
#include "lib/kube/field.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* spec.podCIDRs, or the older single spec.podCIDR when the list is absent. */
static int node_pod_cidrs(struct kdec_ctx *c, const struct doc *spec, struct model_node *node)
{
	char path[KDEC_PATH_MAX], val[96];
	const struct doc *seq = NULL;
	const char *one = NULL;
	size_t n;
	int r;

	r = kdec_get_seq(c, spec, "spec", "podCIDRs", &seq);
	if (r < 0)
		return r;
	if (r == 0) {
		r = kdec_get_str(c, spec, "spec", "podCIDR", &one);
		if (r <= 0 || !*one)
			return r;
	}
	n = seq ? seq->seq.n : 1;
	if (!n)
		return 0;
	node->pod_cidrs = calloc(n, sizeof(*node->pod_cidrs));
	if (!node->pod_cidrs)
		return kdec_oom(c);
	for (size_t i = 0; i < n; i++) {
		const struct doc *d = seq ? seq->seq.items[i] : doc_get(spec, "podCIDR");
		const char *s;

		if (seq)
			kdec_join_index(path, sizeof(path), "spec", "podCIDRs", i);
		else
			kdec_join(path, sizeof(path), "spec", "podCIDR");
		r = kdec_node_str(c, d, path, &s);
		if (r < 0)
			return r;
		if (kdec_parse_prefix(s, &node->pod_cidrs[i]) < 0)
			return kdec_fail(c, path, "%s is not a CIDR (address/length)",
					 doc_describe(d, val, sizeof(val)));
		node->n_pod_cidrs = i + 1;
	}
	return 0;
}

/* status.addresses[] of type InternalIP first, then ExternalIP (the order
 * kube-proxy prefers them in); Hostname and InternalDNS carry no IP. */
static int node_addresses(struct kdec_ctx *c, const struct doc *obj, struct model_node *node)
{
	static const char *const wanted[] = { "InternalIP", "ExternalIP" };
	char at[KDEC_PATH_MAX], path[KDEC_PATH_MAX];
	const struct doc *status = NULL, *seq = NULL;
	int r;

	r = kdec_get_map(c, obj, "", "status", &status);
	if (r <= 0)
		return r;
	r = kdec_get_seq(c, status, "status", "addresses", &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	node->addrs = calloc(seq->seq.n, sizeof(*node->addrs));
	if (!node->addrs)
		return kdec_oom(c);
	for (size_t w = 0; w < sizeof(wanted) / sizeof(wanted[0]); w++) {
		for (size_t i = 0; i < seq->seq.n; i++) {
			const struct doc *a = seq->seq.items[i], *addr;
			const char *type = NULL;

			kdec_join_index(at, sizeof(at), "status", "addresses", i);
			r = kdec_node_map(c, a, at);
			if (r < 0)
				return r;
			r = kdec_get_str(c, a, at, "type", &type);
			if (r < 0)
				return r;
			if (r == 0 || strcmp(type, wanted[w]) != 0)
				continue;
			kdec_join(path, sizeof(path), at, "address");
			addr = doc_get(a, "address");
			if (!addr || addr->type == DOC_NULL)
				return kdec_fail(c, path, "required field is missing");
			r = kdec_node_ip(c, addr, path, 0, &node->addrs[node->n_addrs]);
			if (r < 0)
				return r;
			node->n_addrs++;
		}
	}
	return 0;
}

int kdec_node_from_doc(const struct doc *obj, struct model_node **out, char *err,
		       size_t err_size)
{
	struct model_node *node = NULL;
	const struct doc *spec = NULL;
	struct kdec_meta meta;
	struct kdec_ctx c;
	int r;

	r = kdec_begin(&c, "Node", obj, KDEC_DNS_SUBDOMAIN, err, err_size, &meta);
	if (r < 0)
		return r;
	/* Nodes have no namespace: name them as kubectl does. */
	snprintf(c.who, sizeof(c.who), "Node %s", meta.name);
	node = calloc(1, sizeof(*node));
	if (!node)
		return kdec_oom(&c);
	r = kdec_strdup(&c, meta.name, &node->name);
	if (r >= 0)
		r = kdec_strdup(&c, meta.resource_version, &node->resource_version);
	if (r >= 0)
		r = kdec_get_labels(&c, meta.metadata, "metadata", "labels", &node->labels,
				    &node->n_labels);
	if (r >= 0) {
		/* Being deleted: kube-proxy's /healthz turns unhealthy, so that
		 * load balancers drain the node before it goes. */
		const char *dt = NULL;

		r = kdec_get_str(&c, meta.metadata, "metadata", "deletionTimestamp", &dt);
		node->deleting = r >= 0 && dt && *dt;
	}
	if (r >= 0)
		r = kdec_get_map(&c, obj, "", "spec", &spec);
	if (r >= 0 && spec)
		r = node_pod_cidrs(&c, spec, node);
	if (r >= 0)
		r = node_addresses(&c, obj, node);
	if (r < 0) {
		model_node_free(node);
		return r;
	}
	*out = node;
	return 0;
}
