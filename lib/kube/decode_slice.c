/* discovery.k8s.io/v1 EndpointSlice → struct model_slice. */
#include "lib/kube/decode.h"
#include "lib/util/log.h"
#include "lib/kube/field.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVICE_NAME_LABEL "kubernetes.io/service-name"

static int slice_port(struct kdec_ctx *c, const struct doc *d, const char *at,
		      struct slice_port *p)
{
	int64_t v;
	int r;

	r = kdec_node_map(c, d, at);
	if (r < 0)
		return r;
	r = kdec_get_strdup(c, d, at, "name", &p->name);
	if (r < 0)
		return r;
	r = kdec_get_proto(c, d, at, "protocol", &p->protocol);
	if (r < 0)
		return r;
	/* An absent port means "all ports" to the API; kube-proxy skips such a
	 * port, and so will the merge. */
	r = kdec_get_int(c, d, at, "port", 1, 65535, &v);
	if (r < 0)
		return r;
	p->has_port = r == 1;
	p->port = r == 1 ? (uint16_t)v : 0;
	return 0;
}

static int slice_ports(struct kdec_ctx *c, const struct doc *obj, struct model_slice *slice)
{
	char at[KDEC_PATH_MAX];
	const struct doc *seq;
	int r;

	r = kdec_get_seq(c, obj, "", "ports", &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	slice->ports = calloc(seq->seq.n, sizeof(*slice->ports));
	if (!slice->ports)
		return kdec_oom(c);
	for (size_t i = 0; i < seq->seq.n; i++) {
		slice->n_ports = i + 1;
		r = slice_port(c, seq->seq.items[i], kdec_join_index(at, sizeof(at), "", "ports", i),
			       &slice->ports[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* hints.forZones[].name or hints.forNodes[].name. */
static int slice_hint_names(struct kdec_ctx *c, const struct doc *hints, const char *at,
			    const char *key, char ***out, size_t *n)
{
	char item[KDEC_PATH_MAX], path[KDEC_PATH_MAX];
	const struct doc *seq;
	const char *name;
	char **names;
	int r;

	r = kdec_get_seq(c, hints, at, key, &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	names = calloc(seq->seq.n, sizeof(*names));
	if (!names)
		return kdec_oom(c);
	/* Published before filling, so that the owner frees it on error. */
	*out = names;
	for (size_t i = 0; i < seq->seq.n; i++) {
		const struct doc *h = seq->seq.items[i];

		kdec_join_index(item, sizeof(item), at, key, i);
		r = kdec_node_map(c, h, item);
		if (r < 0)
			return r;
		r = kdec_get_str(c, h, item, "name", &name);
		if (r < 0)
			return r;
		if (r == 0)
			return kdec_fail(c, kdec_join(path, sizeof(path), item, "name"),
					 "required field is missing");
		r = kdec_strdup(c, name, &names[i]);
		if (r < 0)
			return r;
		*n = i + 1;
	}
	return 0;
}

static int slice_addresses(struct kdec_ctx *c, const struct doc *d, const char *at,
			   enum slice_addr_type type, struct slice_endpoint *ep)
{
	int family = type == SLICE_ADDR_IPV4 ? AF_INET : AF_INET6;
	char path[KDEC_PATH_MAX];
	const struct doc *seq;
	const char *s;
	int r;

	r = kdec_get_seq(c, d, at, "addresses", &seq);
	if (r < 0)
		return r;
	if (r == 0 || !seq->seq.n)
		return kdec_fail(c, kdec_join(path, sizeof(path), at, "addresses"),
				 "must hold at least one address");
	/* FQDN endpoints are never proxied: check the type, keep nothing. */
	if (type == SLICE_ADDR_FQDN) {
		for (size_t i = 0; i < seq->seq.n; i++) {
			r = kdec_node_str(c, seq->seq.items[i],
					  kdec_join_index(path, sizeof(path), at, "addresses", i), &s);
			if (r < 0)
				return r;
		}
		return 0;
	}
	/* Every address is checked; the first is kept. */
	for (size_t i = 0; i < seq->seq.n; i++) {
		struct ip_addr a;

		r = kdec_node_ip(c, seq->seq.items[i],
				 kdec_join_index(path, sizeof(path), at, "addresses", i), family, &a);
		if (r < 0)
			return r;
		if (i == 0)
			ep->addr = a;
		ep->n_addrs = (uint8_t)(i + 1 > 255 ? 255 : i + 1);
	}
	return 0;
}

static int slice_endpoint(struct kdec_ctx *c, const struct doc *d, const char *at,
			  enum slice_addr_type type, struct slice_endpoint *ep)
{
	const struct doc *cond = NULL, *hints = NULL;
	char sub[KDEC_PATH_MAX];
	int r;

	ep->ready = ep->serving = ep->terminating = TRI_ABSENT;
	r = kdec_node_map(c, d, at);
	if (r < 0)
		return r;
	r = slice_addresses(c, d, at, type, ep);
	if (r < 0)
		return r;
	r = kdec_get_map(c, d, at, "conditions", &cond);
	if (r < 0)
		return r;
	if (cond) {
		kdec_join(sub, sizeof(sub), at, "conditions");
		r = kdec_get_tri(c, cond, sub, "ready", &ep->ready);
		if (r >= 0)
			r = kdec_get_tri(c, cond, sub, "serving", &ep->serving);
		if (r >= 0)
			r = kdec_get_tri(c, cond, sub, "terminating", &ep->terminating);
		if (r < 0)
			return r;
	}
	r = kdec_get_strdup(c, d, at, "nodeName", &ep->node_name);
	if (r < 0)
		return r;
	r = kdec_get_strdup(c, d, at, "zone", &ep->zone);
	if (r < 0)
		return r;
	r = kdec_get_map(c, d, at, "hints", &hints);
	if (r <= 0)
		return r;
	kdec_join(sub, sizeof(sub), at, "hints");
	ep->hints = calloc(1, sizeof(*ep->hints));
	if (!ep->hints)
		return kdec_oom(c);
	r = slice_hint_names(c, hints, sub, "forZones", &ep->hints->zones, &ep->hints->n_zones);
	if (r < 0)
		return r;
	return slice_hint_names(c, hints, sub, "forNodes", &ep->hints->nodes, &ep->hints->n_nodes);
}

static int slice_endpoints(struct kdec_ctx *c, const struct doc *obj, struct model_slice *slice)
{
	char at[KDEC_PATH_MAX];
	const struct doc *seq;
	int r;

	r = kdec_get_seq(c, obj, "", "endpoints", &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	slice->endpoints = calloc(seq->seq.n, sizeof(*slice->endpoints));
	if (!slice->endpoints)
		return kdec_oom(c);
	for (size_t i = 0; i < seq->seq.n; i++) {
		slice->n_endpoints = i + 1;
		r = slice_endpoint(c, seq->seq.items[i],
				   kdec_join_index(at, sizeof(at), "", "endpoints", i),
				   slice->addr_type, &slice->endpoints[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

#define TRIGGER_TIME_ANNOTATION "endpoints.kubernetes.io/last-change-trigger-time"

/* The endpoints controller's annotation, RFC 3339 ("2024-05-01T10:00:00Z",
 * with fractions or an offset), for the network programming latency. A
 * value that does not parse is ignored (logged at --v=4): it only feeds a
 * metric. */
static int slice_trigger_time(struct kdec_ctx *c, const struct doc *metadata,
			      struct model_slice *slice)
{
	const struct doc *ann = NULL;
	const char *v = NULL, *p;
	struct tm tm;
	double frac = 0;
	long off = 0;
	int r;

	r = kdec_get_map(c, metadata, "metadata", "annotations", &ann);
	if (r < 0 || !ann)
		return r < 0 ? r : 0;
	r = kdec_get_str(c, ann, "metadata.annotations", TRIGGER_TIME_ANNOTATION, &v);
	if (r < 0 || !v)
		return r < 0 ? r : 0;
	memset(&tm, 0, sizeof(tm));
	p = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p && *p == '.') {
		char *end;

		frac = strtod(p, &end);
		p = end;
	}
	if (p && (*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		off = (strtol(p + 1, NULL, 10) * 3600 + strtol(p + 4, NULL, 10) * 60) *
		      (*p == '-' ? -1 : 1);
		p += 6;
	} else if (p && (*p == 'Z' || *p == 'z')) {
		p++;
	} else {
		p = NULL;
	}
	if (!p || *p) {
		log_v(4, "%s: ignoring annotation %s=\"%s\": not an RFC 3339 time", c->who,
		      TRIGGER_TIME_ANNOTATION, v);
		return 0;
	}
	slice->trigger_time = (double)(timegm(&tm) - off) + frac;
	return 0;
}

int kdec_slice_from_doc(const struct doc *obj, struct model_slice **out, char *err,
			size_t err_size)
{
	static const char *const types[] = { "IPv4", "IPv6", "FQDN", NULL };
	static const enum slice_addr_type type_values[] = { SLICE_ADDR_IPV4, SLICE_ADDR_IPV6,
							    SLICE_ADDR_FQDN };
	struct model_slice *slice = NULL;
	struct kdec_meta meta;
	struct kdec_ctx c;
	int which = 0;
	int r;

	r = kdec_begin(&c, "EndpointSlice", obj, KDEC_DNS_SUBDOMAIN, err, err_size, &meta);
	if (r < 0)
		return r;
	slice = calloc(1, sizeof(*slice));
	if (!slice)
		return kdec_oom(&c);
	r = kdec_strdup(&c, meta.ns, &slice->ns);
	if (r >= 0)
		r = kdec_strdup(&c, meta.name, &slice->name);
	if (r >= 0)
		r = kdec_strdup(&c, meta.resource_version, &slice->resource_version);
	if (r >= 0)
		r = kdec_get_labels(&c, meta.metadata, "metadata", "labels", &slice->labels,
				    &slice->n_labels);
	if (r >= 0) {
		const char *svc = kv_get(slice->labels, slice->n_labels, SERVICE_NAME_LABEL);

		/* An empty label names no service. */
		r = kdec_strdup(&c, svc && *svc ? svc : NULL, &slice->service_name);
	}
	if (r >= 0) {
		r = kdec_get_enum(&c, obj, "", "addressType", types, &which);
		if (r == 0)
			r = kdec_fail(&c, "addressType", "required field is missing");
	}
	if (r >= 0) {
		slice->addr_type = type_values[which];
		r = slice_ports(&c, obj, slice);
	}
	if (r >= 0)
		r = slice_endpoints(&c, obj, slice);
	if (r >= 0)
		r = slice_trigger_time(&c, meta.metadata, slice);
	if (r < 0) {
		model_slice_free(slice);
		return r;
	}
	*out = slice;
	return 0;
}
