/* v1 Service → struct model_service. */
#include "lib/kube/decode.h"
#include "lib/kube/field.h"
#include "lib/util/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int svc_target_port(struct kdec_ctx *c, const struct doc *port, const char *at,
			   struct int_or_string *out)
{
	const struct doc *d = doc_get(port, "targetPort");
	char path[KDEC_PATH_MAX];
	char val[96];

	if (!d || d->type == DOC_NULL)
		return 0;
	kdec_join(path, sizeof(path), at, "targetPort");
	if (d->type == DOC_INT) {
		if (d->i < 1 || d->i > 65535)
			return kdec_fail(c, path, "%s is out of range 1-65535",
					 doc_describe(d, val, sizeof(val)));
		out->present = true;
		out->num = (int32_t)d->i;
		return 0;
	}
	if (d->type == DOC_FLOAT)
		return kdec_fail(c, path, "%s is not an integer", doc_describe(d, val, sizeof(val)));
	if (!doc_is_cstring(d))
		return kdec_fail_type(c, path, d, "an integer or a port name");
	/* A named port of the pod (IANA_SVC_NAME: at most 15 characters). */
	if (!d->str.len || d->str.len > 15)
		return kdec_fail(c, path, "%s is not a port number or a port name",
				 doc_describe(d, val, sizeof(val)));
	out->str = strdup(d->str.ptr);
	if (!out->str)
		return kdec_oom(c);
	out->present = true;
	out->is_string = true;
	return 0;
}

/* Rejects what would make endpoint matching ambiguous: the API server
 * refuses it too, but manifests do not go through it. */
static int svc_port_unique(struct kdec_ctx *c, const struct model_service *svc, size_t i,
			   const char *at)
{
	const struct svc_port *p = &svc->ports[i];
	char path[KDEC_PATH_MAX];

	if (!p->name && svc->n_ports > 1)
		return kdec_fail(c, kdec_join(path, sizeof(path), at, "name"),
				 "required when a service has more than one port");
	for (size_t j = 0; j < i; j++) {
		const struct svc_port *q = &svc->ports[j];

		if (p->name && q->name && strcmp(p->name, q->name) == 0)
			return kdec_fail(c, kdec_join(path, sizeof(path), at, "name"),
					 "\"%s\" is also the name of spec.ports[%zu]", p->name, j);
		if (p->port == q->port && p->protocol == q->protocol)
			return kdec_fail(c, at, "port %u/%s is also spec.ports[%zu]", p->port,
					 proto_name(p->protocol), j);
	}
	return 0;
}

static int svc_port(struct kdec_ctx *c, const struct doc *d, const char *at,
		    struct model_service *svc, size_t i)
{
	struct svc_port *p = &svc->ports[i];
	char path[KDEC_PATH_MAX], val[96];
	int64_t v;
	int r;

	r = kdec_node_map(c, d, at);
	if (r < 0)
		return r;
	r = kdec_get_strdup(c, d, at, "name", &p->name);
	if (r < 0)
		return r;
	if (p->name && !*p->name) {
		free(p->name);
		p->name = NULL;
	}
	if (p->name && !kdec_name_valid(p->name, KDEC_DNS_LABEL))
		return kdec_fail(c, kdec_join(path, sizeof(path), at, "name"),
				 "%s is not a DNS label (lower case letters, digits and '-', at most 63)",
				 doc_describe(doc_get(d, "name"), val, sizeof(val)));
	r = kdec_get_proto(c, d, at, "protocol", &p->protocol);
	if (r < 0)
		return r;
	r = kdec_get_int(c, d, at, "port", 1, 65535, &v);
	if (r < 0)
		return r;
	if (r == 0)
		return kdec_fail(c, kdec_join(path, sizeof(path), at, "port"),
				 "required field is missing");
	p->port = (uint16_t)v;
	r = svc_target_port(c, d, at, &p->target_port);
	if (r < 0)
		return r;
	r = kdec_get_int(c, d, at, "nodePort", 0, 65535, &v);
	if (r < 0)
		return r;
	if (r)
		p->node_port = (uint16_t)v;
	return 0;
}

static int svc_ports(struct kdec_ctx *c, const struct doc *spec, struct model_service *svc)
{
	char at[KDEC_PATH_MAX];
	const struct doc *seq;
	int r;

	r = kdec_get_seq(c, spec, "spec", "ports", &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	svc->ports = calloc(seq->seq.n, sizeof(*svc->ports));
	if (!svc->ports)
		return kdec_oom(c);
	/* n_ports counts what is filled so that _free() sees it on error, and
	 * the name check below needs the final count. */
	for (size_t i = 0; i < seq->seq.n; i++) {
		svc->n_ports = i + 1;
		r = svc_port(c, seq->seq.items[i], kdec_join_index(at, sizeof(at), "spec", "ports", i),
			     svc, i);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < svc->n_ports; i++) {
		r = svc_port_unique(c, svc, i, kdec_join_index(at, sizeof(at), "spec", "ports", i));
		if (r < 0)
			return r;
	}
	return 0;
}

/* spec.clusterIPs, or spec.clusterIP when clusterIPs is absent (older
 * objects, hand-written manifests). "None" makes the service headless. */
static int svc_cluster_ips(struct kdec_ctx *c, const struct doc *spec, struct model_service *svc)
{
	const char *ip = NULL, *first = NULL;
	char path[KDEC_PATH_MAX];
	const struct doc *seq = NULL;
	struct ip_addr single;
	size_t n;
	int r;

	r = kdec_get_str(c, spec, "spec", "clusterIP", &ip);
	if (r < 0)
		return r;
	r = kdec_get_seq(c, spec, "spec", "clusterIPs", &seq);
	if (r < 0)
		return r;
	n = seq ? seq->seq.n : 0;
	if (n) {
		r = kdec_node_str(c, seq->seq.items[0], "spec.clusterIPs[0]", &first);
		if (r < 0)
			return r;
		if (ip && *ip && strcmp(ip, first) != 0) {
			struct ip_addr a, b;

			/* Equal addresses may be spelled differently (IPv6). */
			if (ip_addr_parse(ip, &a) < 0 || ip_addr_parse(first, &b) < 0 ||
			    !ip_addr_eq(&a, &b))
				return kdec_fail(c, "spec.clusterIPs[0]",
						 "\"%s\" differs from spec.clusterIP \"%s\"", first, ip);
		}
		if (strcmp(first, "None") == 0) {
			if (n > 1)
				return kdec_fail(c, "spec.clusterIPs", "\"None\" must be the only entry");
			svc->headless = true;
			return 0;
		}
		if (n > 2)
			return kdec_fail(c, "spec.clusterIPs", "has %zu entries, at most 2 allowed", n);
		svc->cluster_ips = calloc(n, sizeof(*svc->cluster_ips));
		if (!svc->cluster_ips)
			return kdec_oom(c);
		for (size_t i = 0; i < n; i++) {
			r = kdec_node_ip(c, seq->seq.items[i],
					 kdec_join_index(path, sizeof(path), "spec", "clusterIPs", i), 0,
					 &svc->cluster_ips[i]);
			if (r < 0)
				return r;
			svc->n_cluster_ips = i + 1;
		}
		if (n == 2 && svc->cluster_ips[0].family == svc->cluster_ips[1].family) {
			char val[96];

			return kdec_fail(c, "spec.clusterIPs[1]",
					 "%s is of the same family as spec.clusterIPs[0]",
					 doc_describe(seq->seq.items[1], val, sizeof(val)));
		}
		return 0;
	}
	if (!ip || !*ip)
		return 0;
	if (strcmp(ip, "None") == 0) {
		svc->headless = true;
		return 0;
	}
	r = kdec_node_ip(c, doc_get(spec, "clusterIP"), "spec.clusterIP", 0, &single);
	if (r < 0)
		return r;
	svc->cluster_ips = malloc(sizeof(*svc->cluster_ips));
	if (!svc->cluster_ips)
		return kdec_oom(c);
	svc->cluster_ips[0] = single;
	svc->n_cluster_ips = 1;
	return 0;
}

static int svc_ip_families(struct kdec_ctx *c, const struct doc *spec, struct model_service *svc)
{
	static const char *const names[] = { "IPv4", "IPv6", NULL };
	char path[KDEC_PATH_MAX], val[96];
	const struct doc *seq;
	int r;

	r = kdec_get_seq(c, spec, "spec", "ipFamilies", &seq);
	if (r <= 0)
		return r;
	if (seq->seq.n > 2)
		return kdec_fail(c, "spec.ipFamilies", "has %zu entries, at most 2 allowed",
				 seq->seq.n);
	for (size_t i = 0; i < seq->seq.n; i++) {
		const struct doc *d = seq->seq.items[i];
		const char *s;

		kdec_join_index(path, sizeof(path), "spec", "ipFamilies", i);
		r = kdec_node_str(c, d, path, &s);
		if (r < 0)
			return r;
		if (strcmp(s, names[0]) && strcmp(s, names[1]))
			return kdec_fail(c, path, "%s is not one of IPv4, IPv6",
					 doc_describe(d, val, sizeof(val)));
		svc->ip_families[i] = strcmp(s, names[0]) == 0 ? AF_INET : AF_INET6;
	}
	if (seq->seq.n == 2 && svc->ip_families[0] == svc->ip_families[1])
		return kdec_fail(c, "spec.ipFamilies[1]", "repeats spec.ipFamilies[0]");
	return 0;
}

static int svc_affinity(struct kdec_ctx *c, const struct doc *spec, struct model_service *svc)
{
	static const char *const names[] = { "None", "ClientIP", NULL };
	const struct doc *cfg = NULL, *cip = NULL;
	int which = 0;
	int64_t t;
	int r;

	r = kdec_get_enum(c, spec, "spec", "sessionAffinity", names, &which);
	if (r < 0)
		return r;
	svc->affinity = which == 1 ? SVC_AFFINITY_CLIENT_IP : SVC_AFFINITY_NONE;
	svc->affinity_timeout = SVC_AFFINITY_DEFAULT_TIMEOUT;
	r = kdec_get_map(c, spec, "spec", "sessionAffinityConfig", &cfg);
	if (r <= 0)
		return r;
	r = kdec_get_map(c, cfg, "spec.sessionAffinityConfig", "clientIP", &cip);
	if (r <= 0)
		return r;
	r = kdec_get_int(c, cip, "spec.sessionAffinityConfig.clientIP", "timeoutSeconds", 1, 86400,
			 &t);
	if (r <= 0)
		return r;
	svc->affinity_timeout = (uint32_t)t;
	return 0;
}

static int svc_policy(struct kdec_ctx *c, const struct doc *spec, const char *key,
		      enum svc_traffic_policy *out)
{
	static const char *const names[] = { "Cluster", "Local", NULL };
	int which = 0;
	int r;

	r = kdec_get_enum(c, spec, "spec", key, names, &which);
	if (r <= 0)
		return r;
	*out = which == 1 ? SVC_POLICY_LOCAL : SVC_POLICY_CLUSTER;
	return 0;
}

static int svc_source_ranges(struct kdec_ctx *c, const struct doc *spec,
			     struct model_service *svc)
{
	char path[KDEC_PATH_MAX], val[96];
	const struct doc *seq;
	int r;

	r = kdec_get_seq(c, spec, "spec", "loadBalancerSourceRanges", &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	svc->lb_source_ranges = calloc(seq->seq.n, sizeof(*svc->lb_source_ranges));
	if (!svc->lb_source_ranges)
		return kdec_oom(c);
	for (size_t i = 0; i < seq->seq.n; i++) {
		const char *s;

		kdec_join_index(path, sizeof(path), "spec", "loadBalancerSourceRanges", i);
		r = kdec_node_str(c, seq->seq.items[i], path, &s);
		if (r < 0)
			return r;
		if (kdec_parse_prefix(s, &svc->lb_source_ranges[i]) < 0)
			return kdec_fail(c, path, "%s is not a CIDR (address/length)",
					 doc_describe(seq->seq.items[i], val, sizeof(val)));
		svc->n_lb_source_ranges = i + 1;
	}
	return 0;
}

/* status.loadBalancer.ingress[]: the IPs kube-proxy programs. It skips an
 * entry without an IP (a hostname-only one: ELB and the like) and one whose
 * ipMode is not VIP (Proxy: the load balancer delivers the traffic itself,
 * with the node or pod as destination), and drops an address it cannot parse
 * rather than the whole Service. Wrong types still reject the object: the
 * API's typed decoding would refuse it too. */
static int svc_lb_ingress(struct kdec_ctx *c, const struct doc *obj, struct model_service *svc)
{
	const struct doc *status = NULL, *lb = NULL, *seq = NULL;
	char at[KDEC_PATH_MAX], path[KDEC_PATH_MAX], val[96];
	int r;

	r = kdec_get_map(c, obj, "", "status", &status);
	if (r <= 0)
		return r;
	r = kdec_get_map(c, status, "status", "loadBalancer", &lb);
	if (r <= 0)
		return r;
	r = kdec_get_seq(c, lb, "status.loadBalancer", "ingress", &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	svc->lb_ingress_ips = calloc(seq->seq.n, sizeof(*svc->lb_ingress_ips));
	if (!svc->lb_ingress_ips)
		return kdec_oom(c);
	for (size_t i = 0; i < seq->seq.n; i++) {
		const struct doc *ing = seq->seq.items[i];
		const char *ip = NULL, *mode = NULL;
		struct ip_addr a;

		kdec_join_index(at, sizeof(at), "status.loadBalancer", "ingress", i);
		r = kdec_node_map(c, ing, at);
		if (r < 0)
			return r;
		r = kdec_get_str(c, ing, at, "ip", &ip);
		if (r < 0)
			return r;
		r = kdec_get_str(c, ing, at, "ipMode", &mode);
		if (r < 0)
			return r;
		if (!ip || !*ip)
			continue;
		if (mode && strcmp(mode, "VIP") != 0) {
			/* The API allows only VIP and Proxy; kube-proxy skips
			 * anything but VIP. */
			if (strcmp(mode, "Proxy") == 0)
				log_v(4, "%s: %s: ipMode Proxy, not programmed", c->who, at);
			else
				log_warn("%s: %s.ipMode: %s is not one of VIP, Proxy; ignoring this "
					 "load balancer address", c->who, at,
					 doc_describe(doc_get(ing, "ipMode"), val, sizeof(val)));
			continue;
		}
		if (ip_addr_parse(ip, &a) < 0) {
			log_warn("%s: %s: %s is not an IP address; ignoring this load balancer "
				 "address", c->who, kdec_join(path, sizeof(path), at, "ip"),
				 doc_describe(doc_get(ing, "ip"), val, sizeof(val)));
			continue;
		}
		svc->lb_ingress_ips[svc->n_lb_ingress_ips++] = a;
	}
	if (!svc->n_lb_ingress_ips) {
		free(svc->lb_ingress_ips);
		svc->lb_ingress_ips = NULL;
	}
	return 0;
}

/* spec.trafficDistribution: kept as written. kube-proxy acts on the values
 * it knows (PreferClose, PreferSameZone, PreferSameNode) and ignores others,
 * so an unknown one must not cost the Service. */
static int svc_traffic_distribution(struct kdec_ctx *c, const struct doc *spec,
				    struct model_service *svc)
{
	int r = kdec_get_strdup(c, spec, "spec", "trafficDistribution",
				&svc->traffic_distribution);

	if (r < 0)
		return r;
	if (svc->traffic_distribution && !*svc->traffic_distribution) {
		free(svc->traffic_distribution);
		svc->traffic_distribution = NULL;
	}
	return 0;
}

#define TOPOLOGY_MODE_ANNOTATION "service.kubernetes.io/topology-mode"
#define TOPOLOGY_HINTS_ANNOTATION "service.kubernetes.io/topology-aware-hints"

/* The topology annotations: topology-mode, or the older topology-aware-hints
 * when topology-mode is absent or empty (as kube-proxy reads them). Only
 * "disabled"/"Disabled" matters to us; other values (Auto, ...) are fine. */
static int svc_topology(struct kdec_ctx *c, const struct doc *metadata,
			struct model_service *svc)
{
	const struct doc *ann = NULL;
	const char *v = NULL;
	int r;

	r = kdec_get_map(c, metadata, "metadata", "annotations", &ann);
	if (r <= 0)
		return r;
	r = kdec_get_str(c, ann, "metadata.annotations", TOPOLOGY_MODE_ANNOTATION, &v);
	if (r < 0)
		return r;
	if (!v || !*v) {
		v = NULL;
		r = kdec_get_str(c, ann, "metadata.annotations", TOPOLOGY_HINTS_ANNOTATION, &v);
		if (r < 0)
			return r;
	}
	svc->topology_disabled = v && (strcmp(v, "disabled") == 0 || strcmp(v, "Disabled") == 0);
	return 0;
}

static int svc_spec(struct kdec_ctx *c, const struct doc *spec, struct model_service *svc)
{
	static const char *const types[] = { "ClusterIP", "NodePort", "LoadBalancer",
					     "ExternalName", NULL };
	static const enum svc_type type_values[] = { SVC_TYPE_CLUSTER_IP, SVC_TYPE_NODE_PORT,
						     SVC_TYPE_LOAD_BALANCER,
						     SVC_TYPE_EXTERNAL_NAME };
	int which = 0;
	int64_t v;
	int r;

	r = kdec_get_enum(c, spec, "spec", "type", types, &which);
	if (r < 0)
		return r;
	svc->type = type_values[which];
	r = svc_cluster_ips(c, spec, svc);
	if (r < 0)
		return r;
	r = svc_ip_families(c, spec, svc);
	if (r < 0)
		return r;
	r = svc_ports(c, spec, svc);
	if (r < 0)
		return r;
	r = svc_affinity(c, spec, svc);
	if (r < 0)
		return r;
	r = svc_policy(c, spec, "externalTrafficPolicy", &svc->external_policy);
	if (r < 0)
		return r;
	r = svc_policy(c, spec, "internalTrafficPolicy", &svc->internal_policy);
	if (r < 0)
		return r;
	r = kdec_get_ips(c, spec, "spec", "externalIPs", 0, &svc->external_ips,
			 &svc->n_external_ips);
	if (r < 0)
		return r;
	r = svc_source_ranges(c, spec, svc);
	if (r < 0)
		return r;
	r = kdec_get_int(c, spec, "spec", "healthCheckNodePort", 0, 65535, &v);
	if (r < 0)
		return r;
	if (r)
		svc->health_check_node_port = (uint16_t)v;
	r = kdec_get_strdup(c, spec, "spec", "externalName", &svc->external_name);
	if (r < 0)
		return r;
	return svc_traffic_distribution(c, spec, svc);
}

int kdec_service_from_doc(const struct doc *obj, struct model_service **out, char *err,
			  size_t err_size)
{
	struct model_service *svc = NULL;
	const struct doc *spec = NULL;
	struct kdec_meta meta;
	struct kdec_ctx c;
	int r;

	r = kdec_begin(&c, "Service", obj, KDEC_DNS_1035_LABEL, err, err_size, &meta);
	if (r < 0)
		return r;
	svc = calloc(1, sizeof(*svc));
	if (!svc)
		return kdec_oom(&c);
	svc->affinity_timeout = SVC_AFFINITY_DEFAULT_TIMEOUT;
	r = kdec_strdup(&c, meta.ns, &svc->ns);
	if (r >= 0)
		r = kdec_strdup(&c, meta.name, &svc->name);
	if (r >= 0)
		r = kdec_strdup(&c, meta.uid, &svc->uid);
	if (r >= 0)
		r = kdec_strdup(&c, meta.resource_version, &svc->resource_version);
	if (r >= 0)
		r = kdec_get_labels(&c, meta.metadata, "metadata", "labels", &svc->labels,
				    &svc->n_labels);
	if (r >= 0)
		r = svc_topology(&c, meta.metadata, svc);
	if (r >= 0)
		r = kdec_get_map(&c, obj, "", "spec", &spec);
	/* A Service without a spec has no ports and no IP: decodable, and then
	 * ignored by the model for want of a cluster IP. */
	if (r >= 0 && spec)
		r = svc_spec(&c, spec, svc);
	if (r >= 0)
		r = svc_lb_ingress(&c, obj, svc);
	if (r < 0) {
		model_service_free(svc);
		return r;
	}
	*out = svc;
	return 0;
}
