/* The ruleset compiler: a pure function from the model and the applied
 * state to fragments of the desired table (nft/ir.h). It touches no socket.
 * From the applied state it reads which endpoint each LB slot holds (so
 * slots stay put), and it changes only the LB slot allocator, so that a
 * service keeps its range across syncs and restarts. */
#ifndef NFTPROXY_NFT_COMPILE_H
#define NFTPROXY_NFT_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/model/types.h"
#include "nft/ir.h"

struct model;
struct model_service;
struct nft_state;

/* How traffic from this node's pods is told from other traffic (kube-proxy's
 * --detect-local-mode): by source CIDR, the cluster's (--cluster-cidr) or
 * this node's (its Node's spec.podCIDRs). */
enum nftc_local_mode { NFTC_LOCAL_NONE = 0, NFTC_LOCAL_CLUSTER_CIDR, NFTC_LOCAL_NODE_CIDR };

#define NFTC_MAX_CIDRS 8

struct nftc_config {
	uint32_t masq_mark;        /* 0x4000 by default, as kube-proxy */
	bool masquerade_all;       /* --masquerade-all */
	enum nftc_local_mode local_mode;
	struct svc_prefix cluster_cidrs[2]; /* at most one per family */
	size_t n_cluster_cidrs;
	/* --service-cluster-ip-range: what no service has in it is dropped. */
	struct svc_prefix service_cidrs[NFTC_MAX_CIDRS];
	size_t n_service_cidrs;
	const char *node_name;     /* this node (endpoints' nodeName); may be NULL */
	const char *zone;          /* overrides the Node's zone label; may be NULL */
};

/* The fixed part of every table: base chains, dispatch, firewall, masquerade
 * and reject chains, and the node port addresses (np_addrs[0..n_np), the
 * node's addresses that accept node ports). Reads the node from m (local
 * CIDR for NodeCIDR). Caller owns *out. Returns 0 or -ENOMEM. */
int nftc_skeleton(const struct nftc_config *cfg, const struct model *m,
		  const struct ip_addr *np_addrs, size_t n_np, struct nft_frag **out);

/* This node's zone: cfg->zone, else the Node's topology.kubernetes.io/zone
 * label, else NULL. */
const char *nftc_zone(const struct nftc_config *cfg, const struct model *m);

/* Compiles service `key` ("ns/name"): its service ports in each of its
 * families. A key whose service is gone or ignored yields an empty fragment
 * (the diff then removes what it had). The fragment lives in arena (may
 * be NULL: malloc'd, the caller frees it). Returns 0,
 * -ENOMEM, or -ENOSPC when no LB slot is left. */
int nftc_compile_service(const struct nftc_config *cfg, const struct model *m, const char *key,
			 struct nft_state *st, struct arena *arena, struct nft_frag **out);

/* Stable chain names: "KIND-HASH-ns/name/proto/port", KIND one of
 * NFTC_SVC ("svc": load-balances over the cluster endpoints), NFTC_LOCAL
 * ("local": over this node's), NFTC_EXT ("ext": external traffic's policy),
 * NFTC_FW ("fw": loadBalancerSourceRanges). The hash is the same for every
 * kind of one service port and family. buf must hold NFT_NAME_MAX. */
#define NFT_NAME_MAX 256
#define NFTC_SVC "svc"
#define NFTC_LOCAL "local"
#define NFTC_EXT "ext"
#define NFTC_FW "fw"
void nftc_chain_name(char *buf, const char *kind, int family, const char *ns, const char *name,
		     uint8_t proto, const char *port_name);
#define nftc_svc_chain_name(buf, family, ns, name, proto, port_name) \
	nftc_chain_name(buf, NFTC_SVC, family, ns, name, proto, port_name)

#endif
