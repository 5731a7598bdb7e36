#include "nft/compile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/store.h"
#include "lib/util/hash.h"
#include "lib/util/log.h"
#include "nft/state.h"

static void unit_id(char *buf, size_t size, const char *ns, const char *name, uint8_t proto,
		    const char *port_name)
{
	snprintf(buf, size, "%s/%s/%s/%s", ns, name, proto_name(proto), port_name ? port_name : "");
}

void nftc_svc_chain_name(char *buf, int family, const char *ns, const char *name,
			 uint8_t proto, const char *port_name)
{
	char id[NFT_NAME_MAX], seed[NFT_NAME_MAX + 8], h[9];

	unit_id(id, sizeof(id), ns, name, proto, port_name);
	/* One inet table holds both families: the hash tells them apart. */
	(void)!snprintf(seed, sizeof(seed), "%d|%s", family == AF_INET6 ? 6 : 4, id);
	hash_short(seed, h);
	/* Kubernetes names are DNS labels: a name never nears the limit. */
	if (snprintf(buf, NFT_NAME_MAX, "svc-%s-%s", h, id) >= NFT_NAME_MAX)
		buf[NFT_NAME_MAX - 1] = '\0';
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

int nftc_skeleton(const struct nftc_config *cfg, struct nft_frag **out)
{
	const struct nft_rule_ir jump_services = { .kind = NFT_RULE_JUMP,
						   .target = NFT_CHAIN_SERVICES };
	const struct nft_rule_ir jump_masq = { .kind = NFT_RULE_JUMP,
					       .target = NFT_CHAIN_MASQUERADING };
	const struct nft_rule_ir check_no_ep = { .kind = NFT_RULE_CT_NEW_JUMP,
						 .target = NFT_CHAIN_NO_ENDPOINTS };
	const struct nft_rule_ir services[] = {
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET, .target = NFT_MAP_SERVICE_IPS },
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET6, .target = NFT_MAP_SERVICE_IPS6 },
	};
	const struct nft_rule_ir no_eps[] = {
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET, .target = NFT_MAP_NO_ENDPOINTS },
		{ .kind = NFT_RULE_DISPATCH, .family = AF_INET6, .target = NFT_MAP_NO_ENDPOINTS6 },
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
	struct nft_frag *f;
	int r;

	r = nft_frag_new("", NULL, &f);
	if (r < 0)
		return r;
	/* Regular chains first: base chains jump to them. The priorities are
	 * kube-proxy's: DNAT at dstnat (-100), the no-endpoint checks just
	 * before it (-110) so a refused connection never reaches NAT. */
	if ((r = add_base(f, NFT_CHAIN_SERVICES, NFT_HOOK_NONE, NULL, 0, services, 2)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_NO_ENDPOINTS, NFT_HOOK_NONE, NULL, 0, no_eps, 2)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_MASQUERADING, NFT_HOOK_NONE, NULL, 0, masq, 5)) < 0 ||
	    (r = add_base(f, NFT_CHAIN_REJECT, NFT_HOOK_NONE, NULL, 0, reject, 2)) < 0 ||
	    (r = add_base(f, "nat-prerouting", NFT_HOOK_PREROUTING, "nat", -100, &jump_services, 1)) < 0 ||
	    (r = add_base(f, "nat-output", NFT_HOOK_OUTPUT, "nat", -100, &jump_services, 1)) < 0 ||
	    (r = add_base(f, "nat-postrouting", NFT_HOOK_POSTROUTING, "nat", 100, &jump_masq, 1)) < 0 ||
	    (r = add_base(f, "filter-input", NFT_HOOK_INPUT, "filter", -110, &check_no_ep, 1)) < 0 ||
	    (r = add_base(f, "filter-forward", NFT_HOOK_FORWARD, "filter", -110, &check_no_ep, 1)) < 0 ||
	    (r = add_base(f, "filter-output", NFT_HOOK_OUTPUT, "filter", -110, &check_no_ep, 1)) < 0) {
		nft_frag_free(f);
		return r;
	}
	*out = f;
	return 0;
}

/* kube-proxy's choice of endpoints for cluster traffic: the ready ones; if
 * there are none, the serving ones that are terminating, so that a rollout
 * that has only terminating pods left still drains gracefully. */
static size_t pick_endpoints(const struct model_endpoint *eps, size_t n, const struct model_endpoint **out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (eps[i].ready)
			out[k++] = &eps[i];
	if (k)
		return k;
	for (size_t i = 0; i < n; i++)
		if (eps[i].serving && eps[i].terminating)
			out[k++] = &eps[i];
	return k;
}

/* Which endpoint goes into each of the n ranges. With the same number of
 * endpoints as the kernel has (the same ranges), a range keeps the endpoint
 * it has if that endpoint stays, and new endpoints fill the free ranges in
 * address order: an endpoint replaced by another changes one range. */
static int stable_order(const struct nft_state *s, const char *chain,
			const struct model_endpoint **use, size_t n, size_t *order)
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

static int compile_port(const struct nftc_config *cfg, const struct model *m,
			const struct model_service *svc, const struct svc_port *port,
			const struct ip_addr *cip, struct nft_state *st, struct nft_frag *f)
{
	char svc_name[NFT_NAME_MAX];
	const struct model_endpoint **use = NULL;
	struct model_endpoint *eps = NULL;
	struct nft_elem_ir e = { 0 };
	struct nft_chain_ir *sc;
	size_t n_use, *order = NULL;
	uint32_t map, slot;
	int n, r;

	(void)cfg;
	n = model_endpoints(m, svc, port, cip->family, &eps);
	if (n < 0)
		return n;
	use = calloc(n ? n : 1, sizeof(*use));
	if (!use) {
		r = -ENOMEM;
		goto out;
	}
	n_use = pick_endpoints(eps, n, use);

	e.set = cip->family == AF_INET ? NFT_MAP_NO_ENDPOINTS : NFT_MAP_NO_ENDPOINTS6;
	nft_key_service(e.key, &e.key_len, cip, port->protocol, port->port);
	/* The comment names the service port in `nft list` and in dumps. */
	unit_id(svc_name, sizeof(svc_name), svc->ns, svc->name, port->protocol, port->name);
	e.comment = nft_frag_strdup(f, svc_name);
	if (!e.comment) {
		r = -ENOMEM;
		goto out;
	}
	if (!n_use) {
		/* No endpoint: refuse new connections at once (filter hooks). */
		e.chain = NFT_CHAIN_REJECT;
		r = nft_frag_add_elem(f, &e);
		goto out;
	}
	if (n_use > NFT_LB_STRIDE) {
		log_error("service %s/%s port %s: %zu endpoints exceed the limit of %u; not proxied",
			  svc->ns, svc->name, port->name ? port->name : "", n_use, NFT_LB_STRIDE);
		r = 0;
		goto out;
	}

	nftc_svc_chain_name(svc_name, cip->family, svc->ns, svc->name, port->protocol, port->name);
	r = nft_lb_get(&st->lb, svc_name, cip->family, &map, &slot);
	if (r < 0) {
		log_error("service %s/%s: no load-balancing slot left for %s; not proxied",
			  svc->ns, svc->name, svc_name);
		goto out;
	}
	r = nft_frag_add_chain(f, svc_name, &sc);
	if (r < 0)
		goto out;
	sc->has_lb = true;
	sc->lb_map = map;
	sc->lb_slot = slot;
	/* The rule does not depend on the endpoints: a change of endpoints
	 * is a change of map elements only, which the kernel commits without
	 * re-validating the table's chains. */
	r = nft_chain_add_rule(sc, &(struct nft_rule_ir){ .kind = NFT_RULE_LB,
			       .family = (uint8_t)cip->family, .proto = port->protocol,
			       .mod = NFT_LB_STRIDE, .offset = slot * NFT_LB_STRIDE, .map = map });
	if (r < 0)
		goto out;

	order = calloc(n_use, sizeof(*order));
	if (!order) {
		r = -ENOMEM;
		goto out;
	}
	r = stable_order(st, svc_name, use, n_use, order);
	if (r < 0)
		goto out;
	r = nft_chain_set_lb_n(sc, (uint32_t)n_use, cip->family == AF_INET ? 8 : 20);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_use; i++) {
		const struct model_endpoint *ep = use[order[i]];
		uint8_t dlen;

		nft_data_target(sc->lb_eps + i * sc->lb_dlen, &dlen, &ep->addr, ep->port);
	}
	e.set = cip->family == AF_INET ? NFT_MAP_SERVICE_IPS : NFT_MAP_SERVICE_IPS6;
	e.chain = sc->name;
	r = nft_frag_add_elem(f, &e);
out:
	free(order);
	free(use);
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
			r = compile_port(cfg, m, svc, &svc->ports[p], &svc->cluster_ips[i], st, f);
			if (r < 0) {
				nft_frag_free(f);
				return r;
			}
		}
	}
done:
	*out = f;
	return 0;
}
