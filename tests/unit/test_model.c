/* The model: upserts and deletes, the dirty set, and the merge of a
 * service's EndpointSlices into per-port endpoints as kube-proxy does it.
 * Objects are written as YAML and decoded, as they arrive in practice. */
#include "lib/kube/decode.h"
#include "lib/model/store.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- helpers ---- */

static struct kdec_object decode_one(const char *yaml)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];
	struct kdec_object o;

	CHECK_INT(kdec_parse_buffer(yaml, strlen(yaml), "test", &res, err, sizeof(err)), 0);
	CHECK_INT(res.n_rejected, 0);
	CHECK_INT(res.n_objects, 1);
	o = res.objects[0];
	memset(&res.objects[0], 0, sizeof(res.objects[0]));
	kdec_result_fini(&res);
	free(o.desc);
	return o;
}

static struct model_service *svc_yaml(const char *yaml)
{
	struct kdec_object o = decode_one(yaml);

	CHECK_INT(o.kind, KDEC_SERVICE);
	return o.svc;
}

static struct model_slice *slice_yaml(const char *yaml)
{
	struct kdec_object o = decode_one(yaml);

	CHECK_INT(o.kind, KDEC_SLICE);
	return o.slice;
}

#define SVC(name, spec) \
	"apiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: shop}\nspec:\n" spec
#define SLICE(name, svc, type, body) \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " name \
	", namespace: shop, labels: {kubernetes.io/service-name: " svc "}}\naddressType: " type \
	"\n" body

static void upsert_svc(struct model *m, const char *yaml)
{
	CHECK_INT(model_service_upsert(m, svc_yaml(yaml)), 0);
}

static void upsert_slice(struct model *m, const char *yaml)
{
	CHECK_INT(model_slice_upsert(m, slice_yaml(yaml)), 0);
}

/* The dirty set, taken, as "a/b c/d". */
static const char *take_dirty(struct model *m)
{
	static char buf[1024];
	char **keys;
	size_t o = 0;
	int n;

	n = model_take_dirty(m, &keys);
	CHECK(n >= 0);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i)
			CHECK(strcmp(keys[i - 1], keys[i]) < 0);
		/* Long sets are only checked for order. */
		if (o < sizeof(buf))
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? " " : "",
					      keys[i]);
	}
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	CHECK_INT(model_dirty_count(m), 0);
	return buf;
}

/* The endpoints of port `port_name` of shop/svc in family, as
 * "10.0.0.1:8080 10.0.0.2:8080"; flags add " [rst]" for ready, serving,
 * terminating ("-" when false). */
static const char *eps(struct model *m, const char *svc_name, const char *port_name,
		       int family, bool flags)
{
	static char buf[2048];
	const struct model_service *svc = model_service_get(m, "shop", svc_name);
	const struct svc_port *port = NULL;
	struct model_endpoint *e;
	size_t o = 0;
	int n;

	CHECK(svc);
	for (size_t i = 0; i < svc->n_ports; i++)
		if ((!port_name && !svc->ports[i].name) ||
		    (port_name && svc->ports[i].name && strcmp(port_name, svc->ports[i].name) == 0))
			port = &svc->ports[i];
	CHECK(port);
	n = model_endpoints(m, svc, port, family, &e);
	CHECK(n >= 0);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		char ip[IP_ADDR_STRLEN];

		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s%s%s:%u", i ? " " : "",
				      family == AF_INET6 ? "[" : "", ip_addr_fmt(&e[i].addr, ip),
				      family == AF_INET6 ? "]" : "", e[i].port);
		if (flags)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, " %c%c%c",
					      e[i].ready ? 'r' : '-', e[i].serving ? 's' : '-',
					      e[i].terminating ? 't' : '-');
	}
	if (n)
		CHECK(e != NULL);
	else
		CHECK(e == NULL);
	free(e);
	return buf;
}

/* ---- services ---- */

static void test_upsert_delete(void)
{
	struct model *m;
	const struct model_service *svc;

	CHECK_INT(model_new(&m), 0);
	CHECK_INT(model_service_count(m), 0);
	upsert_svc(m, SVC("web", "  clusterIP: 10.0.0.1\n  ports: [{port: 80}]\n"));
	upsert_svc(m, SVC("api", "  clusterIP: 10.0.0.2\n  ports: [{port: 443}]\n"));
	CHECK_INT(model_service_count(m), 2);
	svc = model_service_get(m, "shop", "web");
	CHECK(svc);
	CHECK_INT(svc->ports[0].port, 80);
	CHECK(model_service_get(m, "other", "web") == NULL);

	/* A change replaces the stored object. */
	upsert_svc(m, SVC("web", "  clusterIP: 10.0.0.1\n  ports: [{port: 8000}]\n"));
	CHECK_INT(model_service_count(m), 2);
	CHECK_INT(model_service_get(m, "shop", "web")->ports[0].port, 8000);

	CHECK_INT(model_service_delete(m, "shop", "web"), 0);
	CHECK(model_service_get(m, "shop", "web") == NULL);
	CHECK_INT(model_service_delete(m, "shop", "web"), -ENOENT);
	CHECK_INT(model_service_count(m), 1);
	/* NULL and nameless objects are refused (and freed). */
	CHECK_INT(model_service_upsert(m, NULL), -EINVAL);
	CHECK_INT(model_service_upsert(m, calloc(1, sizeof(struct model_service))), -EINVAL);
	model_free(m);
	model_free(NULL);
}

static int count_cb(const struct model_service *svc, void *data)
{
	(*(int *)data)++;
	return strcmp(svc->name, "stop") == 0 ? -EINTR : 0;
}

static void test_foreach(void)
{
	struct model *m;
	int n = 0;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, SVC("a", "  clusterIP: 10.0.0.1\n"));
	upsert_svc(m, SVC("b", "  clusterIP: 10.0.0.2\n"));
	CHECK_INT(model_service_foreach(m, count_cb, &n), 0);
	CHECK_INT(n, 2);
	upsert_svc(m, SVC("stop", "  clusterIP: 10.0.0.3\n"));
	n = 0;
	CHECK_INT(model_service_foreach(m, count_cb, &n), -EINTR);
	CHECK(n >= 1 && n <= 3);
	model_free(m);
}

static void test_dirty(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	CHECK_STR(take_dirty(m), "");
	upsert_svc(m, SVC("web", "  clusterIP: 10.0.0.1\n  ports: [{port: 80}]\n"));
	upsert_svc(m, SVC("api", "  clusterIP: 10.0.0.2\n"));
	upsert_svc(m, SVC("api", "  clusterIP: 10.0.0.3\n"));
	CHECK_INT(model_dirty_count(m), 2);
	/* Sorted, each key once. */
	CHECK_STR(take_dirty(m), "shop/api shop/web");
	CHECK_STR(take_dirty(m), "");

	/* The same object again marks nothing... */
	upsert_svc(m, SVC("web", "  clusterIP: 10.0.0.1\n  ports: [{port: 80}]\n"));
	CHECK_STR(take_dirty(m), "");
	/* ...nor does a new resourceVersion alone, which is still kept. */
	upsert_svc(m, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, "
		      "resourceVersion: \"42\"}\nspec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n");
	CHECK_STR(take_dirty(m), "");
	CHECK_STR(model_service_get(m, "shop", "web")->resource_version, "42");
	/* A label is a change. */
	upsert_svc(m, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, "
		      "labels: {a: b}}\nspec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n");
	CHECK_STR(take_dirty(m), "shop/web");

	/* A delete is dirty: the sync removes the service's rules. */
	CHECK_INT(model_service_delete(m, "shop", "api"), 0);
	CHECK_STR(take_dirty(m), "shop/api");
	CHECK_INT(model_service_delete(m, "shop", "api"), -ENOENT);
	CHECK_STR(take_dirty(m), "");

	CHECK_INT(model_mark_all_dirty(m), 0);
	CHECK_STR(take_dirty(m), "shop/web");
	model_free(m);
}

/* ---- merging slices ---- */

#define WEB_SVC SVC("web", "  clusterIP: 10.0.0.1\n  clusterIPs: [10.0.0.1, \"fd00::1\"]\n" \
		       "  ports:\n  - {name: http, port: 80}\n  - {name: metrics, port: 9090}\n" \
		       "  - {name: dns, port: 53, protocol: UDP}\n")

static void test_merge_by_port_name(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, WEB_SVC);
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "");
	/* Port names, not positions, match: the slices list them in other
	 * orders and with other numbers. */
	upsert_slice(m, SLICE("web-a", "web", "IPv4",
			      "ports:\n- {name: metrics, port: 9100}\n- {name: http, port: 8080}\n"
			      "endpoints:\n- addresses: [10.1.0.2]\n- addresses: [10.1.0.1]\n"));
	upsert_slice(m, SLICE("web-b", "web", "IPv4",
			      "ports:\n- {name: http, port: 8080}\n"
			      "endpoints:\n- addresses: [10.1.0.3]\n"));
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "10.1.0.1:8080 10.1.0.2:8080 10.1.0.3:8080");
	CHECK_STR(eps(m, "web", "metrics", AF_INET, false), "10.1.0.1:9100 10.1.0.2:9100");
	CHECK_STR(eps(m, "web", "dns", AF_INET, false), "");
	model_free(m);
}

static void test_unnamed_ports(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, SVC("web", "  clusterIP: 10.0.0.1\n  ports: [{port: 80}]\n"));
	/* name "" and no name both match an unnamed service port; a named
	 * slice port does not. */
	upsert_slice(m, SLICE("web-a", "web", "IPv4",
			      "ports: [{name: \"\", port: 8080}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	upsert_slice(m, SLICE("web-b", "web", "IPv4",
			      "ports: [{port: 8081}]\nendpoints: [{addresses: [10.1.0.2]}]\n"));
	upsert_slice(m, SLICE("web-c", "web", "IPv4",
			      "ports: [{name: http, port: 8082}]\nendpoints: [{addresses: [10.1.0.3]}]\n"));
	CHECK_STR(eps(m, "web", NULL, AF_INET, false), "10.1.0.1:8080 10.1.0.2:8081");
	model_free(m);
}

static void test_protocol_mismatch(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, WEB_SVC);
	/* A TCP "dns" does not serve the UDP service port "dns". */
	upsert_slice(m, SLICE("web-a", "web", "IPv4",
			      "ports: [{name: dns, port: 5353, protocol: TCP}]\n"
			      "endpoints: [{addresses: [10.1.0.1]}]\n"));
	CHECK_STR(eps(m, "web", "dns", AF_INET, false), "");
	upsert_slice(m, SLICE("web-b", "web", "IPv4",
			      "ports: [{name: dns, port: 5353, protocol: UDP}]\n"
			      "endpoints: [{addresses: [10.1.0.2]}]\n"));
	CHECK_STR(eps(m, "web", "dns", AF_INET, false), "10.1.0.2:5353");
	model_free(m);
}

static void test_families(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, WEB_SVC);
	upsert_slice(m, SLICE("web-4", "web", "IPv4",
			      "ports: [{name: http, port: 8080}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	upsert_slice(m, SLICE("web-6", "web", "IPv6",
			      "ports: [{name: http, port: 8080}]\n"
			      "endpoints: [{addresses: [\"fd00::2\"]}, {addresses: [\"fd00::1\"]}]\n"));
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "10.1.0.1:8080");
	CHECK_STR(eps(m, "web", "http", AF_INET6, false), "[fd00::1]:8080 [fd00::2]:8080");
	model_free(m);
}

static void test_dedupe_and_sort(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, WEB_SVC);
	/* Numeric order, not text order; an endpoint's second address is
	 * ignored; the same IP in a later slice (by name) loses, whatever its
	 * port; a repeat inside a slice counts once. */
	upsert_slice(m, SLICE("web-b", "web", "IPv4",
			      "ports: [{name: http, port: 9999}]\n"
			      "endpoints:\n- addresses: [10.1.0.9]\n- addresses: [10.1.0.200]\n"));
	upsert_slice(m, SLICE("web-a", "web", "IPv4",
			      "ports: [{name: http, port: 8080}]\n"
			      "endpoints:\n- addresses: [10.1.0.10, 10.1.0.7]\n- addresses: [10.1.0.100]\n"
			      "- addresses: [10.1.0.9]\n- addresses: [10.1.0.10]\n"));
	CHECK_STR(eps(m, "web", "http", AF_INET, false),
		  "10.1.0.9:8080 10.1.0.10:8080 10.1.0.100:8080 10.1.0.200:9999");
	model_free(m);
}

static void test_fqdn_and_portless(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, WEB_SVC);
	upsert_slice(m, SLICE("web-f", "web", "FQDN",
			      "ports: [{name: http, port: 8080}]\n"
			      "endpoints: [{addresses: [pod.example.com]}]\n"));
	/* A port without a number means "all ports": kube-proxy skips it. */
	upsert_slice(m, SLICE("web-p", "web", "IPv4",
			      "ports: [{name: http}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	CHECK_INT(model_slice_count(m), 2);
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "");
	CHECK_STR(eps(m, "web", "http", AF_INET6, false), "");
	upsert_slice(m, SLICE("web-p", "web", "IPv4",
			      "ports: [{name: http, port: 1}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "10.1.0.1:1");
	/* The addressType decides, even if a producer left addresses in an
	 * FQDN slice (the decoder keeps none). */
	{
		struct model_slice *s = slice_yaml(SLICE("web-p", "web", "IPv4",
							  "ports: [{name: http, port: 1}]\n"
							  "endpoints: [{addresses: [10.1.0.1]}]\n"));

		s->addr_type = SLICE_ADDR_FQDN;
		CHECK_INT(model_slice_upsert(m, s), 0);
		CHECK_STR(eps(m, "web", "http", AF_INET, false), "");
	}
	model_free(m);
}

static void test_conditions(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, WEB_SVC);
	upsert_slice(m, SLICE("web-a", "web", "IPv4",
			      "ports: [{name: http, port: 8080}]\nendpoints:\n"
			      "- addresses: [10.1.0.1]\n"
			      "- {addresses: [10.1.0.2], conditions: {ready: false}}\n"
			      "- {addresses: [10.1.0.3], conditions: {ready: false, serving: true, "
			      "terminating: true}}\n"
			      "- {addresses: [10.1.0.4], conditions: {ready: true, serving: false, "
			      "terminating: false}}\n"
			      "- {addresses: [10.1.0.5], conditions: {ready: null}, nodeName: n1, "
			      "zone: z1}\n"));
	/* All of them, with flags: the compiler picks which get traffic. */
	CHECK_STR(eps(m, "web", "http", AF_INET, true),
		  "10.1.0.1:8080 rs- 10.1.0.2:8080 --- 10.1.0.3:8080 -st 10.1.0.4:8080 r-- "
		  "10.1.0.5:8080 rs-");
	{
		const struct model_service *svc = model_service_get(m, "shop", "web");
		struct model_endpoint *e;

		CHECK_INT(model_endpoints(m, svc, &svc->ports[0], AF_INET, &e), 5);
		CHECK_STR(e[4].node_name, "n1");
		CHECK_STR(e[4].zone, "z1");
		CHECK(e[0].node_name == NULL);
		CHECK(e[4].src == &model_slice_get(m, "shop", "web-a")->endpoints[4]);
		free(e);
	}
	model_free(m);
}

/* ---- slices and the dirty set ---- */

static void test_slice_before_service(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_slice(m, SLICE("web-a", "web", "IPv4",
			      "ports: [{name: http, port: 8080}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	CHECK_STR(take_dirty(m), "shop/web");
	CHECK_INT(model_service_count(m), 0);
	upsert_svc(m, WEB_SVC);
	CHECK_STR(take_dirty(m), "shop/web");
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "10.1.0.1:8080");
	/* The same slice again: nothing to do. */
	upsert_slice(m, SLICE("web-a", "web", "IPv4",
			      "ports: [{name: http, port: 8080}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	CHECK_STR(take_dirty(m), "");
	/* Slices outlive their service, and serve it again when it returns. */
	CHECK_INT(model_service_delete(m, "shop", "web"), 0);
	upsert_svc(m, WEB_SVC);
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "10.1.0.1:8080");
	model_free(m);
}

static void test_slice_relabel(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, SVC("a", "  clusterIP: 10.0.0.1\n  ports: [{port: 80}]\n"));
	upsert_svc(m, SVC("b", "  clusterIP: 10.0.0.2\n  ports: [{port: 80}]\n"));
	upsert_slice(m, SLICE("s1", "a", "IPv4", "ports: [{port: 8080}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	upsert_slice(m, SLICE("s2", "a", "IPv4", "ports: [{port: 8080}]\nendpoints: [{addresses: [10.1.0.2]}]\n"));
	CHECK_STR(take_dirty(m), "shop/a shop/b");
	CHECK_STR(eps(m, "a", NULL, AF_INET, false), "10.1.0.1:8080 10.1.0.2:8080");

	/* s1 moves from a to b: both services change. */
	upsert_slice(m, SLICE("s1", "b", "IPv4", "ports: [{port: 8080}]\nendpoints: [{addresses: [10.1.0.1]}]\n"));
	CHECK_STR(take_dirty(m), "shop/a shop/b");
	CHECK_STR(eps(m, "a", NULL, AF_INET, false), "10.1.0.2:8080");
	CHECK_STR(eps(m, "b", NULL, AF_INET, false), "10.1.0.1:8080");

	/* An endpoint change dirties only its own service. */
	upsert_slice(m, SLICE("s1", "b", "IPv4", "ports: [{port: 8080}]\nendpoints: [{addresses: [10.1.0.9]}]\n"));
	CHECK_STR(take_dirty(m), "shop/b");

	/* Losing the label: the old owner changes, no new one. */
	upsert_slice(m, "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: s1, namespace: shop}\naddressType: IPv4\n"
			"ports: [{port: 8080}]\nendpoints: [{addresses: [10.1.0.9]}]\n");
	CHECK_STR(take_dirty(m), "shop/b");
	CHECK_STR(eps(m, "b", NULL, AF_INET, false), "");

	/* Deleting a slice dirties its service; the label-less one nothing. */
	CHECK_INT(model_slice_delete(m, "shop", "s2"), 0);
	CHECK_STR(take_dirty(m), "shop/a");
	CHECK_STR(eps(m, "a", NULL, AF_INET, false), "");
	CHECK_INT(model_slice_delete(m, "shop", "s1"), 0);
	CHECK_STR(take_dirty(m), "");
	CHECK_INT(model_slice_delete(m, "shop", "s1"), -ENOENT);
	CHECK_INT(model_slice_count(m), 0);
	CHECK(model_slice_get(m, "shop", "s1") == NULL);
	model_free(m);
}

static void test_namespaces_apart(void)
{
	struct model *m;

	CHECK_INT(model_new(&m), 0);
	upsert_svc(m, WEB_SVC);
	/* A slice for a service of the same name in another namespace. */
	upsert_slice(m, "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: web-x, namespace: other, labels: "
			"{kubernetes.io/service-name: web}}\naddressType: IPv4\n"
			"ports: [{name: http, port: 8080}]\nendpoints: [{addresses: [10.1.0.1]}]\n");
	CHECK_STR(take_dirty(m), "other/web shop/web");
	CHECK_STR(eps(m, "web", "http", AF_INET, false), "");
	model_free(m);
}

static void test_ignored_services(void)
{
	struct model_service *svc;

	svc = svc_yaml(SVC("h", "  clusterIP: None\n"));
	CHECK_STR(model_service_ignored(svc), "headless (clusterIP: None)");
	model_service_free(svc);
	svc = svc_yaml(SVC("e", "  type: ExternalName\n  externalName: x.example.com\n"));
	CHECK_STR(model_service_ignored(svc), "type ExternalName");
	model_service_free(svc);
	svc = svc_yaml("apiVersion: v1\nkind: Service\nmetadata: {name: p, labels: "
		       "{service.kubernetes.io/service-proxy-name: other}}\n"
		       "spec: {clusterIP: 10.0.0.1}\n");
	CHECK_STR(model_service_ignored(svc),
		  "labelled service.kubernetes.io/service-proxy-name (served by another proxy)");
	model_service_free(svc);
	svc = svc_yaml(SVC("n", "  ports: [{port: 80}]\n"));
	CHECK_STR(model_service_ignored(svc), "no cluster IP");
	model_service_free(svc);
	svc = svc_yaml(SVC("ok", "  type: NodePort\n  clusterIP: 10.0.0.1\n"));
	CHECK(model_service_ignored(svc) == NULL);
	model_service_free(svc);
}

/* Many services, each with its slice: exercises map growth and checks that
 * every service still finds exactly its own endpoints. */
static void test_many(void)
{
	enum { N = 20000 };
	struct model *m;
	char yaml[512];

	CHECK_INT(model_new(&m), 0);
	for (int i = 0; i < N; i++) {
		snprintf(yaml, sizeof(yaml),
			 "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			 "metadata: {name: s%d-x, namespace: ns%d, labels: "
			 "{kubernetes.io/service-name: s%d}}\naddressType: IPv4\n"
			 "ports: [{port: 8080}]\nendpoints: [{addresses: [10.%d.%d.1]}]\n",
			 i, i % 7, i, i / 256, i % 256);
		CHECK_INT(model_slice_upsert(m, slice_yaml(yaml)), 0);
		snprintf(yaml, sizeof(yaml),
			 "apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: ns%d}\n"
			 "spec: {clusterIP: 10.96.%d.%d, ports: [{port: 80}]}\n",
			 i, i % 7, i / 256, i % 256);
		CHECK_INT(model_service_upsert(m, svc_yaml(yaml)), 0);
	}
	CHECK_INT(model_service_count(m), N);
	CHECK_INT(model_slice_count(m), N);
	CHECK_INT(model_dirty_count(m), N);
	CHECK_INT(strlen(take_dirty(m)) > 0, 1);
	for (int i = 0; i < N; i += 997) {
		char name[32], ns[32], want[64], ip[IP_ADDR_STRLEN];
		const struct model_service *svc;
		struct model_endpoint *e;

		snprintf(name, sizeof(name), "s%d", i);
		snprintf(ns, sizeof(ns), "ns%d", i % 7);
		svc = model_service_get(m, ns, name);
		CHECK(svc);
		CHECK_INT(model_endpoints(m, svc, &svc->ports[0], AF_INET, &e), 1);
		snprintf(want, sizeof(want), "10.%d.%d.1", i / 256, i % 256);
		CHECK_STR(ip_addr_fmt(&e[0].addr, ip), want);
		free(e);
	}
	for (int i = 0; i < N; i += 2) {
		char name[32], ns[32];

		snprintf(name, sizeof(name), "s%d", i);
		snprintf(ns, sizeof(ns), "ns%d", i % 7);
		CHECK_INT(model_service_delete(m, ns, name), 0);
		snprintf(name, sizeof(name), "s%d-x", i);
		CHECK_INT(model_slice_delete(m, ns, name), 0);
	}
	CHECK_INT(model_service_count(m), N / 2);
	CHECK_INT(model_slice_count(m), N / 2);
	CHECK_INT(model_dirty_count(m), N / 2);
	model_free(m);
}

int main(void)
{
	RUN(test_upsert_delete);
	RUN(test_foreach);
	RUN(test_dirty);
	RUN(test_merge_by_port_name);
	RUN(test_unnamed_ports);
	RUN(test_protocol_mismatch);
	RUN(test_families);
	RUN(test_dedupe_and_sort);
	RUN(test_fqdn_and_portless);
	RUN(test_conditions);
	RUN(test_slice_before_service);
	RUN(test_slice_relabel);
	RUN(test_namespaces_apart);
	RUN(test_ignored_services);
	RUN(test_many);
	fprintf(stderr, "test_model: all passed\n");
	return 0;
}
