/* Kubernetes Service and EndpointSlice objects as nftproxy needs them,
 * decoded from the API's JSON or from manifest YAML into the same types.
 *
 * Ownership: every pointer inside an object is owned by that object and
 * released by its _free(). Strings are NUL-terminated heap copies. Fields
 * the API lets be absent keep "absent" distinct from zero (see enum tri,
 * the has_ flags and NULL strings). */
#ifndef NFTPROXY_MODEL_TYPES_H
#define NFTPROXY_MODEL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util/ipaddr.h"

/* A boolean the API may leave out; what absence means depends on the field. */
/* One byte (packed): an endpoint has three of them, and a large cluster
 * 100,000 endpoints. */
enum __attribute__((packed)) tri { TRI_ABSENT = -1, TRI_FALSE = 0, TRI_TRUE = 1 };

enum svc_type {
	SVC_TYPE_CLUSTER_IP = 0,   /* also the default when spec.type is absent */
	SVC_TYPE_NODE_PORT,
	SVC_TYPE_LOAD_BALANCER,
	SVC_TYPE_EXTERNAL_NAME,
};

enum svc_affinity { SVC_AFFINITY_NONE = 0, SVC_AFFINITY_CLIENT_IP };
enum svc_traffic_policy {
	SVC_POLICY_ABSENT = 0,     /* the API default applies: Cluster */
	SVC_POLICY_CLUSTER,
	SVC_POLICY_LOCAL,
};

/* Default of sessionAffinityConfig.clientIP.timeoutSeconds. */
#define SVC_AFFINITY_DEFAULT_TIMEOUT 10800

struct kv {
	char *key;
	char *value;
};

struct int_or_string {
	bool present;
	bool is_string;
	int32_t num;
	char *str;
};

struct svc_port {
	char *name;                /* NULL when unnamed (allowed for a single port) */
	uint8_t protocol;          /* IPPROTO_TCP / _UDP / _SCTP; absent means TCP */
	uint16_t port;
	struct int_or_string target_port;
	uint16_t node_port;        /* 0 = none allocated */
};

struct svc_prefix {
	struct ip_addr addr;
	uint8_t len;
};

struct model_service {
	char *ns;
	char *name;
	char *uid;                 /* may be NULL */
	char *resource_version;    /* may be NULL */
	enum svc_type type;
	bool headless;             /* clusterIP: None */
	/* spec.clusterIPs (or spec.clusterIP when clusterIPs is absent); at most
	 * one per family, primary first. Empty when headless or not allocated. */
	struct ip_addr *cluster_ips;
	size_t n_cluster_ips;
	int ip_families[2];        /* AF_INET / AF_INET6 from spec.ipFamilies; 0 = absent */
	struct svc_port *ports;
	size_t n_ports;
	enum svc_affinity affinity;
	uint32_t affinity_timeout; /* seconds; SVC_AFFINITY_DEFAULT_TIMEOUT when absent */
	enum svc_traffic_policy external_policy;
	enum svc_traffic_policy internal_policy;
	struct ip_addr *external_ips;
	size_t n_external_ips;
	struct ip_addr *lb_ingress_ips;      /* status.loadBalancer.ingress[].ip */
	size_t n_lb_ingress_ips;
	struct svc_prefix *lb_source_ranges; /* spec.loadBalancerSourceRanges */
	size_t n_lb_source_ranges;
	uint16_t health_check_node_port;     /* 0 = none */
	char *external_name;                 /* spec.externalName */
	/* spec.trafficDistribution ("PreferClose", ...); NULL when absent. */
	char *traffic_distribution;
	/* Annotation service.kubernetes.io/topology-mode (or the older
	 * service.kubernetes.io/topology-aware-hints) is "disabled"/"Disabled":
	 * kube-proxy then ignores the slices' hints. */
	bool topology_disabled;
	struct kv *labels;
	size_t n_labels;
};

struct slice_port {
	char *name;                /* NULL when absent; "" and NULL both match an unnamed service port */
	bool has_port;             /* port absent means "all ports" in the API; kube-proxy skips it */
	uint16_t port;
	uint8_t protocol;          /* absent means TCP */
};

/* An endpoint's topology hints: hints.forZones[].name, hints.forNodes[].name. */
struct slice_hints {
	char **zones;
	size_t n_zones;
	char **nodes;
	size_t n_nodes;
};

struct slice_endpoint {
	/* kube-proxy uses only the first address of an endpoint: that one is
	 * kept (inline: 100,000 endpoints at 10k x 10), n_addrs counts them all. */
	struct ip_addr addr;
	enum tri ready;            /* absent: ready (unknown state is treated as ready) */
	enum tri serving;          /* absent: same as ready */
	enum tri terminating;      /* absent: not terminating */
	uint8_t n_addrs;           /* the API allows 1..100 */
	char *node_name;           /* may be NULL */
	char *zone;                /* may be NULL */
	struct slice_hints *hints; /* NULL when the endpoint has no hints (the usual case) */
};

enum slice_addr_type { SLICE_ADDR_IPV4 = 0, SLICE_ADDR_IPV6, SLICE_ADDR_FQDN };

struct model_slice {
	char *ns;
	char *name;
	char *service_name;        /* label kubernetes.io/service-name; NULL if missing */
	char *resource_version;
	enum slice_addr_type addr_type;
	struct slice_port *ports;
	size_t n_ports;
	struct slice_endpoint *endpoints;
	size_t n_endpoints;
	struct kv *labels;
	size_t n_labels;
	/* Annotation endpoints.kubernetes.io/last-change-trigger-time as unix
	 * seconds; 0 when absent. Not part of model_slice_equal: it says when
	 * a change began, it is not one. */
	double trigger_time;
};

/* This node (v1 Node, the one named by --hostname-override): what the proxy
 * needs of it for topology hints, NodePorts and local-traffic detection. */
struct model_node {
	char *name;
	char *resource_version;
	struct kv *labels;         /* sorted by key (topology.kubernetes.io/zone, ...) */
	size_t n_labels;
	struct ip_addr *addrs;     /* status.addresses of type InternalIP, then ExternalIP */
	size_t n_addrs;
	struct svc_prefix *pod_cidrs; /* spec.podCIDRs (or spec.podCIDR) */
	size_t n_pod_cidrs;
	bool deleting;             /* metadata.deletionTimestamp is set: /healthz fails */
};

#define NODE_ZONE_LABEL "topology.kubernetes.io/zone"

void model_service_free(struct model_service *svc);
void model_node_free(struct model_node *node);
void model_slice_free(struct model_slice *slice);

/* Deep equality of everything the proxy acts on (resourceVersion ignored), so
 * that a re-sent but unchanged object marks nothing dirty. */
bool model_service_equal(const struct model_service *a, const struct model_service *b);
bool model_slice_equal(const struct model_slice *a, const struct model_slice *b);
/* Name, labels, addresses and pod CIDRs: not the status heartbeats, which
 * change all the time and mean nothing to the proxy. */
bool model_node_equal(const struct model_node *a, const struct model_node *b);

/* Effective conditions, applying the API's absent-means rules. */
bool slice_endpoint_ready(const struct slice_endpoint *ep);
bool slice_endpoint_serving(const struct slice_endpoint *ep);
bool slice_endpoint_terminating(const struct slice_endpoint *ep);

/* Returns the value of label key, or NULL. */
const char *kv_get(const struct kv *kvs, size_t n, const char *key);

/* "tcp", "udp", "sctp" */
const char *proto_name(uint8_t proto);

#endif
