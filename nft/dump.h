/* The service map as the kernel holds it, for `nftproxyctl dump`. Read
 * back over netlink from the table itself, not from the daemon. */
#ifndef NFTPROXY_NFT_DUMP_H
#define NFTPROXY_NFT_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/ipaddr.h"

struct nft_dump_endpoint {
	struct ip_addr ip;
	uint16_t port;
	bool local;                    /* in the service port's local- chain (a Local policy) */
};

/* One service port in one family, as the kernel's maps and chains say.
 * What the table does not record is derived: the type is LoadBalancer
 * when a load balancer address is served, NodePort when a node port is,
 * else ClusterIP. */
struct nft_dump_service {
	char *ns, *name, *port_name;   /* port_name is "" for an unnamed port */
	int family;                    /* AF_INET / AF_INET6 */
	uint8_t proto;                 /* IPPROTO_* */
	struct ip_addr ip;             /* the cluster IP */
	uint16_t port;
	struct nft_dump_endpoint *eps; /* of cluster IP traffic, sorted by address, port */
	size_t n_eps;                  /* 0: see drops */
	bool drops;                    /* no endpoint for cluster IP traffic: dropped (a
					* Local policy), not rejected */
	const char *type;              /* static: "ClusterIP", "NodePort", "LoadBalancer" */
	uint16_t node_port;            /* 0: none */
	struct ip_addr *external_ips;
	size_t n_external_ips;
	struct ip_addr *lb_ips;
	size_t n_lb_ips;
	bool source_ranges;            /* the load balancer addresses have a firewall */
	bool external_local;           /* externalTrafficPolicy: Local */
	bool internal_local;           /* internalTrafficPolicy: Local */
	uint32_t affinity_timeout;     /* sessionAffinity ClientIP's timeout; 0: none */
};

struct nft_dump {
	char *table;
	struct nft_dump_service *svcs; /* sorted by ns, name, port name, family */
	size_t n_svcs;
};

/* Returns 0, -ENOENT when the table does not exist, or -errno. */
int nft_dump_read(const char *table, struct nft_dump **out);
/* The same from a state nfr_read filled (borrowed). Returns 0, -ENOENT when
 * st->table_exists is false, or -ENOMEM. */
struct nft_state;
int nft_dump_from_state(const char *table, const struct nft_state *st, struct nft_dump **out);
void nft_dump_free(struct nft_dump *d);

/* Splits a chain name "svc-HASH-ns/name/proto/port[__...]" into its parts
 * (heap strings the caller frees). Returns 0 or -EINVAL. */
int nft_chain_name_parse(const char *chain, char **ns, char **name, char **port_name);

#endif
