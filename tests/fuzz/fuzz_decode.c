/* kdec_parse_buffer on any bytes (JSON or YAML, one or many objects): no
 * crash or leak, the result honours decode.h and types.h, and decoding the
 * same bytes twice gives objects model_*_equal() calls equal — the model
 * relies on that to leave unchanged objects clean. */
#include "lib/kube/decode.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static void check_proto(uint8_t p, const char *what)
{
	FUZZ_CHECK(p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP, "%s protocol %u",
		   what, p);
}

static void check_family(int family, const char *what)
{
	FUZZ_CHECK(family == AF_INET || family == AF_INET6, "%s family %d", what, family);
}

static void check_service(const struct model_service *svc)
{
	FUZZ_CHECK(svc->ns && svc->name, "service without namespace or name");
	/* "at most one per family, primary first. Empty when headless." */
	FUZZ_CHECK(svc->n_cluster_ips <= 2, "%zu cluster IPs", svc->n_cluster_ips);
	FUZZ_CHECK(!svc->headless || !svc->n_cluster_ips, "headless with cluster IPs");
	for (size_t i = 0; i < svc->n_cluster_ips; i++)
		check_family(svc->cluster_ips[i].family, "cluster IP");
	FUZZ_CHECK(svc->n_cluster_ips < 2 ||
			   svc->cluster_ips[0].family != svc->cluster_ips[1].family,
		   "two cluster IPs of one family");
	for (size_t i = 0; i < 2; i++)
		FUZZ_CHECK(!svc->ip_families[i] || svc->ip_families[i] == AF_INET ||
				   svc->ip_families[i] == AF_INET6,
			   "ipFamilies[%zu] = %d", i, svc->ip_families[i]);
	FUZZ_CHECK(!svc->n_ports || svc->ports, "ports");
	for (size_t i = 0; i < svc->n_ports; i++) {
		const struct svc_port *p = &svc->ports[i];

		check_proto(p->protocol, "service port");
		FUZZ_CHECK(p->port != 0, "service port %zu is 0", i);
		FUZZ_CHECK(!p->target_port.is_string ||
				   (p->target_port.present && p->target_port.str),
			   "targetPort string");
		FUZZ_CHECK(!p->name || *p->name, "empty port name is not NULL");
	}
	for (size_t i = 0; i < svc->n_external_ips; i++)
		check_family(svc->external_ips[i].family, "external IP");
	for (size_t i = 0; i < svc->n_lb_ingress_ips; i++)
		check_family(svc->lb_ingress_ips[i].family, "LB ingress IP");
	for (size_t i = 0; i < svc->n_lb_source_ranges; i++) {
		const struct svc_prefix *p = &svc->lb_source_ranges[i];

		check_family(p->addr.family, "source range");
		FUZZ_CHECK(p->len <= (p->addr.family == AF_INET ? 32 : 128), "prefix /%u", p->len);
	}
	for (size_t i = 0; i < svc->n_labels; i++)
		FUZZ_CHECK(svc->labels[i].key && svc->labels[i].value, "label %zu", i);
}

static void check_slice(const struct model_slice *s)
{
	FUZZ_CHECK(s->ns && s->name, "slice without namespace or name");
	FUZZ_CHECK(s->addr_type >= SLICE_ADDR_IPV4 && s->addr_type <= SLICE_ADDR_FQDN,
		   "addressType %d", (int)s->addr_type);
	for (size_t i = 0; i < s->n_ports; i++)
		check_proto(s->ports[i].protocol, "slice port");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const struct slice_endpoint *ep = &s->endpoints[i];

		for (size_t j = 0; j < ep->n_addrs; j++)
			check_family(ep->addrs[j].family, "endpoint address");
		for (size_t j = 0; j < ep->n_hint_zones; j++)
			FUZZ_CHECK(ep->hint_zones[j], "hint zone %zu", j);
		for (size_t j = 0; j < ep->n_hint_nodes; j++)
			FUZZ_CHECK(ep->hint_nodes[j], "hint node %zu", j);
	}
	for (size_t i = 0; i < s->n_labels; i++)
		FUZZ_CHECK(s->labels[i].key && s->labels[i].value, "label %zu", i);
}

static void check_result(const struct kdec_result *res)
{
	for (size_t i = 0; i < res->n_objects; i++) {
		const struct kdec_object *o = &res->objects[i];

		FUZZ_CHECK(o->desc != NULL, "object %zu without desc", i);
		if (o->kind == KDEC_SERVICE) {
			FUZZ_CHECK(o->svc && !o->slice, "service object %zu", i);
			check_service(o->svc);
		} else {
			FUZZ_CHECK(o->kind == KDEC_SLICE && o->slice && !o->svc, "object %zu", i);
			check_slice(o->slice);
		}
	}
	for (size_t i = 0; i < res->n_rejected; i++) {
		const struct kdec_rejected *rej = &res->rejected[i];

		FUZZ_CHECK(rej->error && rej->error[0], "rejected %zu without a message", i);
		FUZZ_CHECK(!rej->ns == !rej->name, "rejected %zu: half a name", i);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kdec_result zero;
	struct kdec_result a = { 0 }, b = { 0 };
	char err[KDEC_ERR_MAX];
	int r;

	r = kdec_parse_buffer((const char *)data, size, "fuzz", &a, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EBADMSG, "returned %d", r);
	FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err), "message not terminated");
	if (r < 0) {
		FUZZ_CHECK(strncmp(err, "line ", 5) == 0, "message \"%s\"", err);
		FUZZ_CHECK(memcmp(&a, &zero, sizeof(a)) == 0, "result written on error");
		return 0;
	}
	check_result(&a);

	r = kdec_parse_buffer((const char *)data, size, "fuzz", &b, err, sizeof(err));
	FUZZ_CHECK(r == 0, "second parse returned %d", r);
	FUZZ_CHECK(a.n_objects == b.n_objects && a.n_rejected == b.n_rejected &&
			   a.n_ignored == b.n_ignored,
		   "second parse counts differ");
	for (size_t i = 0; i < a.n_objects; i++) {
		const struct kdec_object *x = &a.objects[i], *y = &b.objects[i];

		FUZZ_CHECK(strcmp(x->desc, y->desc) == 0, "desc \"%s\" vs \"%s\"", x->desc,
			   y->desc);
		if (x->kind == KDEC_SERVICE)
			FUZZ_CHECK(model_service_equal(x->svc, y->svc), "%s unequal to itself",
				   x->desc);
		else
			FUZZ_CHECK(model_slice_equal(x->slice, y->slice), "%s unequal to itself",
				   x->desc);
	}
	kdec_result_fini(&a);
	kdec_result_fini(&b);
	return 0;
}
