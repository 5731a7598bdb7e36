#include "nft/compile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/categorize.h"
#include "lib/model/store.h"
#include "lib/util/hash.h"
#include "lib/util/log.h"
#include "nft/state.h"

/* kube-proxy's nftables layout, on data maps: docs/layout.md. */

static void unit_id(char *buf, size_t size, const char *ns, const char *name, uint8_t proto,
		    const char *port_name)
{
	snprintf(buf, size, "%s/%s/%s/%s", ns, name, proto_name(proto), port_name ? port_name : "");
}

void nftc_chain_name(char *buf, const char *kind, int family, const char *ns, const char *name,
		     uint8_t proto, const char *port_name)
{
	char id[NFT_NAME_MAX], seed[NFT_NAME_MAX + 8], h[9];

	unit_id(id, sizeof(id), ns, name, proto, port_name);
	/* One inet table holds both families: the hash tells them apart. */
	(void)!snprintf(seed, sizeof(seed), "%d|%s", family == AF_INET6 ? 6 : 4, id);
	hash_short(seed, h);
	/* Kubernetes names are DNS labels: a name never nears the limit. */
	if (snprintf(buf, NFT_NAME_MAX, "%s-%s-%s", kind, h, id) >= NFT_NAME_MAX)
		buf[NFT_NAME_MAX - 1] = '\0';
}

const char *nftc_zone(const struct nftc_config *cfg, const struct model *m)
{
	const struct model_node *node = model_node_get(m);

	if (cfg->zone && *cfg->zone)
		return cfg->zone;
	return node ? kv_get(node->labels, node->n_labels, NODE_ZONE_LABEL) : NULL;
}

/* The source prefix of this node's (or the cluster's) pods in family, for
 * --detect-local-mode. False when it is not known. */
static bool local_prefix(const struct nftc_config *cfg, const struct model *m, int family,
			 struct svc_prefix *out)
{
	const struct model_node *node;

	if (cfg->local_mode == NFTC_LOCAL_CLUSTER_CIDR) {
		for (size_t i = 0; i < cfg->n_cluster_cidrs; i++)
			if (cfg->cluster_cidrs[i].addr.family == family) {
				*out = cfg->cluster_cidrs[i];
				return true;
			}
	} else if (cfg->local_mode == NFTC_LOCAL_NODE_CIDR && (node = model_node_get(m))) {
		for (size_t i = 0; i < node->n_pod_cidrs; i++)
			if (node->pod_cidrs[i].addr.family == family) {
				*out = node->pod_cidrs[i];
				return true;
			}
	}
	return false;
}

static int add_base(struct nft_frag *f, const char *name, enum nft_hook hook, const char *type,
		    int32_t prio, const struct nft_rule_ir *rules, size_t n)
{
	struct nft_chain_ir *c;
	int r = nft_frag_add_chain(f, name, &c);

	if (r < 0)
		return r;
	c->hook = hook;
	c->type = type;
	c->prio = prio;
	for (size_t i = 0; i < n; i++) {
		r = nft_chain_add_rule(c, &rules[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int nftc_skeleton(const struct nftc_config *cfg, const struct model *m,
		  const struct ip_addr *np_addrs, size_t n_np, struct nft_frag **out)
{
	const struct nft_rule_ir jump_services = { .kind = NFT_RULE_JUMP,
						   .target = NFT_CHAIN_SERVICES };
	const struct nft_rule_ir jump_masq = { .kind = NFT_RULE_JUMP,
					       .target = NFT_CHAIN_MASQUERADING };
	const struct nft_rule_ir check_fw = { .kind = NFT_RULE_CT_NEW_JUMP,
					      .target = NFT_CHAIN_FIREWALL };
	const struct nft_rule_ir check_cips = { .kind = NFT_RULE_CT_NEW_JUMP,
						.target = NFT_CHAIN_CLUSTER_IPS };
	const struct nft_rule_ir check_no_ep = { .kind = NFT_RULE_CT_NEW_JUMP,
						 .target = NFT_CHAIN_NO_ENDPOINTS };
	const struct nft_rule_ir check_forward[] = { check_no_ep, check_cips };
	const struct nft_rule_ir no_eps[] = {
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET, .target = NFT_MAP_NO_ENDPOINTS },
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET6, .target = NFT_MAP_NO_ENDPOINTS6 },
		{ .kind = NFT_RULE_NODEPORT_DISPATCH, .family = AF_INET, .set = NFT_SET_NODEPORT_IPS,
		  .target = NFT_MAP_NO_EP_NODEPORTS },
		{ .kind = NFT_RULE_NODEPORT_DISPATCH, .family = AF_INET6,
		  .set = NFT_SET_NODEPORT_IPS6, .target = NFT_MAP_NO_EP_NODEPORTS6 },
	};
	const struct nft_rule_ir firewall[] = {
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET, .target = NFT_MAP_FIREWALL_IPS },
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET6, .target = NFT_MAP_FIREWALL_IPS6 },
	};
	const struct nft_rule_ir masq[] = {
		{ .kind = NFT_RULE_HAIRPIN, .family = AF_INET, .target = NFT_NAME_HAIRPIN },
		{ .kind = NFT_RULE_HAIRPIN, .family = AF_INET6, .target = NFT_NAME_HAIRPIN6 },
		{ .kind = NFT_RULE_RETURN_UNLESS_MARK, .mark = cfg->masq_mark },
		{ .kind = NFT_RULE_CLEAR_MARK, .mark = cfg->masq_mark },
		{ .kind = NFT_RULE_MASQUERADE },
	};
	const struct nft_rule_ir reject[] = {
		{ .kind = NFT_RULE_REJECT_TCP },
		{ .kind = NFT_RULE_REJECT },
	};
	static const int fams[2] = { AF_INET, AF_INET6 };
	struct nft_rule_ir services[6], cips[2 + NFTC_MAX_CIDRS];
	size_t n_services = 0, n_cips = 0;
	struct nft_frag *f;
	int r;

	/* services: masquerade marks for cluster IP traffic from outside the
	 * local pods (or all of it), then the two dispatch maps, then node
	 * ports (a miss in a vmap goes on to the next rule). */
	for (int i = 0; i < 2; i++) {
		struct svc_prefix lp;
		bool have = local_prefix(cfg, m, fams[i], &lp);

		if (!cfg->masquerade_all && !have)
			continue;
		services[n_services++] = (struct nft_rule_ir){
			.kind = NFT_RULE_MASQ_CLUSTER, .family = (uint8_t)fams[i],
			.set = fams[i] == AF_INET ? NFT_SET_CLUSTER_IPS : NFT_SET_CLUSTER_IPS6,
			.mark = cfg->masq_mark,
			.addr = cfg->masquerade_all ? (struct ip_addr){ 0 } : lp.addr,
			.plen = cfg->masquerade_all ? 0 : lp.len };
	}
	services[n_services++] = (struct nft_rule_ir){ .kind = NFT_RULE_DISPATCH,
		.family = AF_INET, .target = NFT_MAP_SERVICE_IPS };
	services[n_services++] = (struct nft_rule_ir){ .kind = NFT_RULE_DISPATCH,
		.family = AF_INET6, .target = NFT_MAP_SERVICE_IPS6 };
	services[n_services++] = (struct nft_rule_ir){ .kind = NFT_RULE_NODEPORT_DISPATCH,
		.family = AF_INET, .set = NFT_SET_NODEPORT_IPS, .target = NFT_MAP_NODEPORTS };
	services[n_services++] = (struct nft_rule_ir){ .kind = NFT_RULE_NODEPORT_DISPATCH,
		.family = AF_INET6, .set = NFT_SET_NODEPORT_IPS6, .target = NFT_MAP_NODEPORTS6 };

	/* cluster-ips-check (after DNAT): a cluster IP still the destination
	 * is a port the service does not have: reject; an address of the
	 * service CIDRs that no service has: drop. */
	cips[n_cips++] = (struct nft_rule_ir){ .kind = NFT_RULE_DADDR_SET_GOTO, .family = AF_INET,
		.set = NFT_SET_CLUSTER_IPS, .target = NFT_CHAIN_REJECT };
	cips[n_cips++] = (struct nft_rule_ir){ .kind = NFT_RULE_DADDR_SET_GOTO, .family = AF_INET6,
		.set = NFT_SET_CLUSTER_IPS6, .target = NFT_CHAIN_REJECT };
	for (size_t i = 0; i < cfg->n_service_cidrs && i < NFTC_MAX_CIDRS; i++)
		cips[n_cips++] = (struct nft_rule_ir){ .kind = NFT_RULE_DADDR_DROP,
			.family = (uint8_t)cfg->service_cidrs[i].addr.family,
			.addr = cfg->service_cidrs[i].addr, .plen = cfg->service_cidrs[i].len };

	r = nft_frag_new("", NULL, &f);
	if (r < 0)
		return r;
	/* Regular chains first: base chains jump to them. The priorities are
	 * kube-proxy's: DNAT at dstnat (-100), the firewall check before it
	 * (-110: it sees the service address), the no-endpoint and unused-port
	 * checks after it (0: what DNAT took, such as the node's own traffic to
	 * a Local service's external address that the ext chain short-
	 * circuits, is no longer for the service address). */
	if ((r = add_base(f, NFT_CHAIN_SERVICES, NFT_HOOK_NONE, NULL, 0, services, n_services)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_NO_ENDPOINTS, NFT_HOOK_NONE, NULL, 0, no_eps, 4)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_FIREWALL, NFT_HOOK_NONE, NULL, 0, firewall, 2)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_CLUSTER_IPS, NFT_HOOK_NONE, NULL, 0, cips, n_cips)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_MASQUERADING, NFT_HOOK_NONE, NULL, 0, masq, 5)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_REJECT, NFT_HOOK_NONE, NULL, 0, reject, 2)) < 0 ||
	    (r = add_base(f, "nat-prerouting", NFT_HOOK_PREROUTING, "nat", -100, &jump_services, 1)) < 0 ||
	    (r = add_base(f, "nat-output", NFT_HOOK_OUTPUT, "nat", -100, &jump_services, 1)) < 0 ||
	    (r = add_base(f, "nat-postrouting", NFT_HOOK_POSTROUTING, "nat", 100, &jump_masq, 1)) < 0 ||
	    (r = add_base(f, "filter-prerouting-pre-dnat", NFT_HOOK_PREROUTING, "filter", -110, &check_fw, 1)) < 0 ||
	    (r = add_base(f, "filter-output-pre-dnat", NFT_HOOK_OUTPUT, "filter", -110, &check_fw, 1)) < 0 ||
	    (r = add_base(f, "filter-input", NFT_HOOK_INPUT, "filter", 0, &check_no_ep, 1)) < 0 ||
	    (r = add_base(f, "filter-forward", NFT_HOOK_FORWARD, "filter", 0, check_forward, 2)) < 0 ||
	    (r = add_base(f, "filter-output", NFT_HOOK_OUTPUT, "filter", 0, check_forward, 2)) < 0)
		goto fail;
	for (size_t i = 0; i < n_np; i++) {
		struct nft_elem_ir e = { .set = np_addrs[i].family == AF_INET6 ?
						NFT_SET_NODEPORT_IPS6 : NFT_SET_NODEPORT_IPS };

		nft_key_addr(e.key, &e.key_len, &np_addrs[i]);
		if ((r = nft_frag_add_elem(f, &e)) < 0)
			goto fail;
	}
	*out = f;
	return 0;
fail:
	nft_frag_free(f);
	return r;
}

/* Which endpoint goes into each of the n ranges. With the same number of
 * endpoints as the kernel has (the same ranges), a range keeps the endpoint
 * it has if that endpoint stays, and new endpoints fill the free ranges in
 * address order: an endpoint replaced by another changes one range. */
static int stable_order(const struct nft_state *s, const char *chain,
			const struct model_endpoint *const *use, size_t n, size_t *order)
{
	const struct nft_ap_chain *old = s ? hmap_get(&s->chains, chain) : NULL;
	bool *placed = calloc(n, sizeof(*placed));
	size_t k = 0;

	if (!placed)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = SIZE_MAX;
	for (size_t i = 0; old && old->lb_n == n && i < n; i++) {
		const uint8_t *was = old->lb_eps + i * old->lb_dlen;

		for (size_t j = 0; j < n; j++) {
			uint8_t data[NFT_DATA_MAX], dlen;

			nft_data_target(data, &dlen, &use[j]->addr, use[j]->port);
			if (!placed[j] && dlen == old->lb_dlen && memcmp(data, was, dlen) == 0) {
				placed[j] = true;
				order[i] = j;
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (order[i] != SIZE_MAX)
			continue;
		while (placed[k])
			k++;
		placed[k] = true;
		order[i] = k;
	}
	free(placed);
	return 0;
}

/* What compiling one service port in one family needs. */
struct port_ctx {
	const struct nftc_config *cfg;
	const struct model *m;
	const struct model_service *svc;
	const struct svc_port *port;
	int family;
	struct nft_state *st;
	struct nft_frag *f;
	const char *unit;          /* "ns/name/proto/port", in the fragment */
};

/* An element of a service map (key: ADDR . PROTO . PORT, or PROTO . PORT
 * for node ports) going to chain (or NFT_VERDICT_DROP), with a comment
 * "UNIT[ ROLE][ NOTE]" naming the service port in `nft list` and dumps. */
static int add_svc_elem(struct port_ctx *c, const char *set, const struct ip_addr *ip,
			const char *chain, const char *role, const char *note)
{
	struct nft_elem_ir e = { .set = set, .chain = chain };
	char comment[NFT_NAME_MAX + 64];

	if (ip)
		nft_key_service(e.key, &e.key_len, ip, c->port->protocol, c->port->port);
	else
		nft_key_nodeport(e.key, &e.key_len, c->port->protocol, c->port->node_port);
	snprintf(comment, sizeof(comment), "%s%s%s%s%s", c->unit, role ? " " : "",
		 role ? role : "", note && *note ? " " : "", note ? note : "");
	e.comment = nft_frag_strdup(c->f, comment);
	if (!e.comment)
		return -ENOMEM;
	return nft_frag_add_elem(c->f, &e);
}

/* The name of the affinity set of endpoint ep of this service port: short
 * (set names are limited), stable, and new when the timeout changes (a
 * set's timeout is fixed at creation). */
static void affinity_set_name(const struct port_ctx *c, const struct model_endpoint *ep,
			      char buf[32])
{
	char seed[NFT_NAME_MAX + 96], a[IP_ADDR_STRLEN];
	uint64_t h;

	snprintf(seed, sizeof(seed), "%s|%s|%u|%u", c->unit, ip_addr_fmt(&ep->addr, a), ep->port,
		 c->svc->affinity_timeout);
	h = hash_fnv1a(seed, strlen(seed), 0);
	snprintf(buf, 32, NFT_AFFINITY_PREFIX "%016llx", (unsigned long long)h);
}

/* A chain that DNATs to one of use[0..n): an LB slot with n ranges, or for
 * session affinity the per-endpoint affinity rules and a draw. */
static int add_policy_chain(struct port_ctx *c, const char *kind,
			    const struct model_endpoint *const *use, size_t n,
			    const char **name_out)
{
	const uint8_t fam = (uint8_t)c->family;
	const uint8_t dlen = c->family == AF_INET ? 8 : 20;
	char name[NFT_NAME_MAX];
	struct nft_chain_ir *sc;
	size_t *order = NULL;
	uint32_t map, slot;
	int r;

	nftc_chain_name(name, kind, c->family, c->svc->ns, c->svc->name, c->port->protocol,
			c->port->name);
	if (c->svc->affinity == SVC_AFFINITY_CLIENT_IP) {
		/* kube-proxy's layout: a client seen within the timeout goes
		 * back to its endpoint; the others draw one (1/n, 1/(n-1) of
		 * the rest, ...) and are remembered. An endpoint change
		 * rewrites the chain: affinity services pay the kernel's
		 * validation that the LB maps avoid. */
		char set_name[32];

		r = nft_frag_add_chain(c->f, name, &sc);
		if (r < 0)
			return r;
		r = nft_chain_set_lb_n(sc, (uint32_t)n, dlen);
		if (r < 0)
			return r;
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i < n; i++) {
				struct nft_set_ir set = { .kind = c->family == AF_INET ?
					NFT_SET_AFFINITY4 : NFT_SET_AFFINITY6,
					.timeout_s = c->svc->affinity_timeout };
				struct nft_rule_ir rule = { .kind = pass ? NFT_RULE_PICK : NFT_RULE_AFFINITY,
					.family = fam, .proto = c->port->protocol,
					.addr = use[i]->addr, .port = use[i]->port,
					.mod = pass ? (uint32_t)(n - i) : 0 };

				affinity_set_name(c, use[i], set_name);
				memcpy(set.name, set_name, sizeof(set.name));
				if (!pass && (r = nft_frag_add_set(c->f, &set)) < 0)
					return r;
				rule.set = nft_frag_strdup(c->f, set_name);
				if (!rule.set)
					return -ENOMEM;
				/* nft_frag_add_chain may move chains: sc is the last. */
				sc = &c->f->chains[c->f->n_chains - 1];
				if ((r = nft_chain_add_rule(sc, &rule)) < 0)
					return r;
				if (!pass) {
					uint8_t l;

					nft_data_target(sc->lb_eps + i * dlen, &l, &use[i]->addr,
							use[i]->port);
				}
			}
		}
		*name_out = sc->name;
		return 0;
	}
	r = nft_lb_get(&c->st->lb, name, c->family, &map, &slot);
	if (r < 0) {
		log_error("service %s/%s: no load-balancing slot left for %s; not proxied",
			  c->svc->ns, c->svc->name, name);
		return r;
	}
	r = nft_frag_add_chain(c->f, name, &sc);
	if (r < 0) {
		/* The slot is new unless the kernel has the chain. */
		if (!hmap_get(&c->st->chains, name))
			nft_lb_release(&c->st->lb, name);
		return r;
	}
	sc->has_lb = true;
	sc->lb_map = map;
	sc->lb_slot = slot;
	/* The rule does not depend on the endpoints: a change of endpoints
	 * is a change of map elements only, which the kernel commits without
	 * re-validating the table's chains. */
	r = nft_chain_add_rule(sc, &(struct nft_rule_ir){ .kind = NFT_RULE_LB, .family = fam,
			       .proto = c->port->protocol, .mod = NFT_LB_STRIDE,
			       .offset = slot * NFT_LB_STRIDE, .map = map });
	if (r < 0)
		return r;
	order = calloc(n, sizeof(*order));
	if (!order)
		return -ENOMEM;
	r = stable_order(c->st, name, use, n, order);
	if (r == 0)
		r = nft_chain_set_lb_n(sc, (uint32_t)n, dlen);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct model_endpoint *ep = use[order[i]];
		uint8_t l;

		nft_data_target(sc->lb_eps + i * sc->lb_dlen, &l, &ep->addr, ep->port);
	}
	free(order);
	*name_out = sc->name;
	return r;
}

/* The rules of external traffic (node ports, external IPs, load balancer
 * IPs), kube-proxy's: with the Cluster policy it is masqueraded (it may
 * leave the node); with Local it keeps its source and goes to this node's
 * endpoints, except traffic from pods and from the node itself, which
 * goes to every endpoint as if it came back from an outside balancer. */
static int add_ext_chain(struct port_ctx *c, const char *cluster, const char *external,
			 const char **name_out)
{
	const uint8_t fam = (uint8_t)c->family;
	char name[NFT_NAME_MAX];
	struct nft_chain_ir *xc;
	struct svc_prefix lp;
	int r;

	nftc_chain_name(name, NFTC_EXT, c->family, c->svc->ns, c->svc->name, c->port->protocol,
			c->port->name);
	r = nft_frag_add_chain(c->f, name, &xc);
	if (r < 0)
		return r;
	if (c->svc->external_policy != SVC_POLICY_LOCAL) {
		if ((r = nft_chain_add_rule(xc, &(struct nft_rule_ir){ .kind = NFT_RULE_MARK,
					    .mark = c->cfg->masq_mark })) < 0)
			return r;
	} else if (cluster) {
		if (local_prefix(c->cfg, c->m, c->family, &lp) &&
		    (r = nft_chain_add_rule(xc, &(struct nft_rule_ir){ .kind = NFT_RULE_SADDR_GOTO,
					    .family = fam, .addr = lp.addr, .plen = lp.len,
					    .target = cluster })) < 0)
			return r;
		if ((r = nft_chain_add_rule(xc, &(struct nft_rule_ir){ .kind = NFT_RULE_FIB_LOCAL_MARK,
					    .mark = c->cfg->masq_mark })) < 0 ||
		    (r = nft_chain_add_rule(xc, &(struct nft_rule_ir){ .kind = NFT_RULE_FIB_LOCAL_GOTO,
					    .target = cluster })) < 0)
			return r;
	}
	if (external &&
	    (r = nft_chain_add_rule(xc, &(struct nft_rule_ir){ .kind = NFT_RULE_GOTO,
				    .target = external })) < 0)
		return r;
	*name_out = xc->name;
	return 0;
}

/* loadBalancerSourceRanges: `ip saddr RANGE return` for each range of the
 * family (and the LB IPs themselves when a range holds a node address: a
 * node reaching a VIP it holds comes back from the VIP), then drop. */
static int add_fw_chain(struct port_ctx *c, const char **name_out)
{
	const struct model_node *node = model_node_get(c->m);
	const struct model_service *svc = c->svc;
	const uint8_t fam = (uint8_t)c->family;
	char name[NFT_NAME_MAX];
	struct nft_chain_ir *fc;
	bool from_node = false;
	int r;

	nftc_chain_name(name, NFTC_FW, c->family, svc->ns, svc->name, c->port->protocol,
			c->port->name);
	r = nft_frag_add_chain(c->f, name, &fc);
	if (r < 0)
		return r;
	for (size_t i = 0; i < svc->n_lb_source_ranges; i++) {
		const struct svc_prefix *sr = &svc->lb_source_ranges[i];

		if (sr->addr.family != c->family)
			continue;
		for (size_t k = 0; node && k < node->n_addrs; k++)
			from_node = from_node || ip_prefix_contains(&sr->addr, sr->len,
								    &node->addrs[k]);
		if ((r = nft_chain_add_rule(fc, &(struct nft_rule_ir){ .kind = NFT_RULE_SADDR_RETURN,
					    .family = fam, .addr = sr->addr, .plen = sr->len })) < 0)
			return r;
	}
	for (size_t i = 0; from_node && i < svc->n_lb_ingress_ips; i++) {
		const struct ip_addr *ip = &svc->lb_ingress_ips[i];

		if (ip->family == c->family &&
		    (r = nft_chain_add_rule(fc, &(struct nft_rule_ir){ .kind = NFT_RULE_SADDR_RETURN,
					    .family = fam, .addr = *ip,
					    .plen = (uint8_t)(8 * ip_addr_len(ip)) })) < 0)
			return r;
	}
	if ((r = nft_chain_add_rule(fc, &(struct nft_rule_ir){ .kind = NFT_RULE_DROP })) < 0)
		return r;
	*name_out = fc->name;
	return 0;
}

/* An external or LB IP that is another service's cluster IP is not
 * served: cluster IPs are allocated by the API server, one service each,
 * while anyone who may create a Service may write any externalIP
 * (CVE-2020-8554). Said once per sync, at the service's first port. */
static bool claims_cluster_ip(const struct port_ctx *c, const struct model_service *svc,
			      const struct ip_addr *ip, const char *what)
{
	const char *owner = model_cluster_ip_owner(c->m, ip);
	char buf[IP_ADDR_STRLEN];
	size_t n = strlen(svc->ns);

	if (!owner || (strncmp(owner, svc->ns, n) == 0 && owner[n] == '/' &&
		       strcmp(owner + n + 1, svc->name) == 0))
		return false;
	if (c->port == &svc->ports[0])
		log_warn("service %s/%s: %s %s is already used by service %s as its cluster IP; "
			 "not serving it here", svc->ns, svc->name, what, ip_addr_fmt(ip, buf), owner);
	return true;
}

static bool svc_has_ranges(const struct model_service *svc, int family)
{
	for (size_t i = 0; i < svc->n_lb_source_ranges; i++)
		if (svc->lb_source_ranges[i].addr.family == family)
			return true;
	return false;
}

static int compile_port(struct port_ctx *c, const struct ip_addr *cip)
{
	const struct model_service *svc = c->svc;
	const bool v6 = c->family == AF_INET6;
	const char *svc_map = v6 ? NFT_MAP_SERVICE_IPS6 : NFT_MAP_SERVICE_IPS;
	const char *noep_map = v6 ? NFT_MAP_NO_ENDPOINTS6 : NFT_MAP_NO_ENDPOINTS;
	const char *cluster = NULL, *local = NULL, *ext = NULL, *fw = NULL;
	const char *internal, *external, *int_verdict, *ext_verdict;
	const char *node = c->cfg->node_name, *zone = nftc_zone(c->cfg, c->m);
	bool is_ext = model_service_external(svc, c->family);
	bool itp_local = svc->internal_policy == SVC_POLICY_LOCAL;
	bool etp_local = svc->external_policy == SVC_POLICY_LOCAL;
	bool has_int, has_ext;
	struct model_endpoint *eps = NULL;
	struct model_split sp = { 0 };
	char unit[NFT_NAME_MAX], note[64] = "";
	int n, r;

	n = model_endpoints(c->m, svc, c->port, c->family, &eps);
	if (n < 0)
		return n;
	r = model_categorize(svc, eps, (size_t)n, node, zone, &sp);
	if (r < 0)
		goto out;
	unit_id(unit, sizeof(unit), svc->ns, svc->name, c->port->protocol, c->port->name);
	c->unit = nft_frag_strdup(c->f, unit);
	if (!c->unit) {
		r = -ENOMEM;
		goto out;
	}
	if (sp.n_cluster > NFT_LB_STRIDE || sp.n_local > NFT_LB_STRIDE) {
		log_error("service %s port %s: %zu endpoints exceed the limit of %u; not proxied",
			  c->unit, c->port->name ? c->port->name : "", sp.n_cluster, NFT_LB_STRIDE);
		goto out;
	}
	if (sp.topology)
		log_v(5, "service %s: %zu endpoints for this %s by topology hints", c->unit,
		      sp.n_cluster, sp.topology);

	/* The chains that DNAT: the cluster one when some traffic uses every
	 * endpoint, the local one when some uses this node's only. */
	if (sp.n_cluster && (!itp_local || is_ext) &&
	    (r = add_policy_chain(c, NFTC_SVC, sp.cluster, sp.n_cluster, &cluster)) < 0)
		goto out;
	if (sp.n_local && (itp_local || (is_ext && etp_local)) &&
	    (r = add_policy_chain(c, NFTC_LOCAL, sp.local, sp.n_local, &local)) < 0)
		goto out;
	internal = itp_local ? local : cluster;
	external = etp_local ? local : cluster;
	has_int = itp_local ? sp.n_local > 0 : sp.has_any;
	has_ext = etp_local ? sp.n_local > 0 : sp.has_any;
	/* No endpoint at all: refuse at once. Endpoints, but none for this
	 * kind of traffic (a Local policy): drop, as kube-proxy. */
	int_verdict = sp.has_any ? NFT_VERDICT_DROP : NFT_CHAIN_REJECT;
	ext_verdict = int_verdict;
	if (sp.has_any && is_ext && (r = add_ext_chain(c, cluster, has_ext ? external : NULL, &ext)) < 0)
		goto out;
	if (is_ext && svc_has_ranges(svc, c->family) && svc->n_lb_ingress_ips &&
	    (r = add_fw_chain(c, &fw)) < 0)
		goto out;

	/* The cluster IP. Its element's comment says the policies that are
	 * not the default, so that a dump read from the kernel can tell. */
	snprintf(note, sizeof(note), "%s", itp_local ? "internal=Local" : "");
	if (svc->affinity == SVC_AFFINITY_CLIENT_IP)
		snprintf(note + strlen(note), sizeof(note) - strlen(note), "%saffinity=%us",
			 *note ? " " : "", svc->affinity_timeout);
	if ((r = add_svc_elem(c, has_int && internal ? svc_map : noep_map, cip,
			      has_int && internal ? internal : int_verdict, NULL, note)) < 0)
		goto out;
	{
		struct nft_elem_ir e = { .set = v6 ? NFT_SET_CLUSTER_IPS6 : NFT_SET_CLUSTER_IPS };

		nft_key_addr(e.key, &e.key_len, cip);
		/* One element per address: the service's first port adds it. */
		if (c->port == &svc->ports[0] && (r = nft_frag_add_elem(c->f, &e)) < 0)
			goto out;
	}
	/* External destinations. */
	snprintf(note, sizeof(note), "%s", etp_local ? "external=Local" : "");
	for (size_t i = 0; i < svc->n_external_ips; i++) {
		const struct ip_addr *ip = &svc->external_ips[i];

		if (ip->family != c->family || claims_cluster_ip(c, svc, ip, "externalIP"))
			continue;
		if (ext && (r = add_svc_elem(c, svc_map, ip, ext, "external-ip", note)) < 0)
			goto out;
		if (!has_ext && (r = add_svc_elem(c, noep_map, ip, ext_verdict, "external-ip", note)) < 0)
			goto out;
	}
	for (size_t i = 0; i < svc->n_lb_ingress_ips; i++) {
		const struct ip_addr *ip = &svc->lb_ingress_ips[i];

		if (ip->family != c->family || claims_cluster_ip(c, svc, ip, "LoadBalancer ingress IP"))
			continue;
		if (ext && (r = add_svc_elem(c, svc_map, ip, ext, "load-balancer", note)) < 0)
			goto out;
		if (!has_ext && (r = add_svc_elem(c, noep_map, ip, ext_verdict, "load-balancer", note)) < 0)
			goto out;
		if (fw && (r = add_svc_elem(c, v6 ? NFT_MAP_FIREWALL_IPS6 : NFT_MAP_FIREWALL_IPS, ip,
					    fw, "source-ranges", NULL)) < 0)
			goto out;
	}
	if (c->port->node_port) {
		/* Node ports are not subject to loadBalancerSourceRanges (as in
		 * kube-proxy). */
		if (ext && (r = add_svc_elem(c, v6 ? NFT_MAP_NODEPORTS6 : NFT_MAP_NODEPORTS, NULL, ext,
					     "node-port", note)) < 0)
			goto out;
		if (!has_ext && (r = add_svc_elem(c, v6 ? NFT_MAP_NO_EP_NODEPORTS6 : NFT_MAP_NO_EP_NODEPORTS,
						  NULL, ext_verdict, "node-port", note)) < 0)
			goto out;
	}
out:
	model_split_fini(&sp);
	free(eps);
	return r;
}

int nftc_compile_service(const struct nftc_config *cfg, const struct model *m, const char *key,
			 struct nft_state *st, struct arena *arena, struct nft_frag **out)
{
	const struct model_service *svc;
	const char *slash = strchr(key, '/');
	char ns[256];
	struct nft_frag *f;
	const char *why;
	int r;

	r = nft_frag_new(key, arena, &f);
	if (r < 0)
		return r;
	if (!slash || (size_t)(slash - key) >= sizeof(ns))
		goto done;
	memcpy(ns, key, slash - key);
	ns[slash - key] = '\0';
	svc = model_service_get(m, ns, slash + 1);
	if (!svc)
		goto done;
	why = model_service_ignored(svc);
	if (why) {
		log_v(4, "service %s: not proxied: %s", key, why);
		goto done;
	}
	for (size_t i = 0; i < svc->n_cluster_ips; i++) {
		for (size_t p = 0; p < svc->n_ports; p++) {
			struct port_ctx c = { .cfg = cfg, .m = m, .svc = svc, .port = &svc->ports[p],
					      .family = svc->cluster_ips[i].family, .st = st, .f = f };

			r = compile_port(&c, &svc->cluster_ips[i]);
			if (r == -ENOSPC)
				continue; /* logged: this port is not proxied, the others are */
			if (r < 0) {
				/* The fragment never reaches a plan: its new slots
				 * would be lost. */
				nft_state_release_new_slots(st, f);
				nft_frag_free(f);
				return r;
			}
		}
	}
done:
	*out = f;
	return 0;
}
