/* Decoding Services and EndpointSlices from JSON and YAML: the document
 * tree, every field, lists and multi-document files, validation (one bad
 * object never takes its neighbours down) and syntax errors. */
#include "lib/kube/decode.h"
#include "lib/kube/doc.h"
#include "lib/kube/doc_json.h"
#include "lib/kube/doc_yaml.h"
#include "lib/model/store.h"
#include "tests/unit/check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f) {
		fprintf(stderr, "cannot open %s (run from tests/unit)\n", path);
		exit(1);
	}
	CHECK(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	CHECK(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	CHECK(buf);
	CHECK_INT(fread(buf, 1, (size_t)n, f), n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int parse_file(const char *path, struct kdec_result *res, char *err)
{
	size_t len;
	char *buf = read_file(path, &len);
	int r = kdec_parse_buffer(buf, len, path, res, err, KDEC_ERR_MAX);

	free(buf);
	return r;
}

static int parse_str(const char *s, struct kdec_result *res, char *err)
{
	return kdec_parse_buffer(s, strlen(s), "test", res, err, KDEC_ERR_MAX);
}

static void check_ip(const struct ip_addr *a, const char *want)
{
	char buf[IP_ADDR_STRLEN];

	CHECK_STR(ip_addr_fmt(a, buf), want);
}

static const char *prefix_str(const struct svc_prefix *p, char *buf)
{
	char ip[IP_ADDR_STRLEN];

	snprintf(buf, IP_ADDR_STRLEN + 8, "%s/%u", ip_addr_fmt(&p->addr, ip), p->len);
	return buf;
}

/* The one object of a buffer that must hold exactly one good object. */
static struct kdec_object take_one(const char *s)
{
	struct kdec_result res = { 0 };
	struct kdec_object o;
	char err[KDEC_ERR_MAX];

	CHECK_INT(parse_str(s, &res, err), 0);
	CHECK_INT(res.n_rejected, 0);
	CHECK_INT(res.n_objects, 1);
	o = res.objects[0];
	res.objects[0].svc = NULL;
	res.objects[0].slice = NULL;
	res.objects[0].node = NULL;
	res.objects[0].desc = NULL;
	kdec_result_fini(&res);
	return o;
}

/* ---- the document tree ---- */

struct collect {
	struct doc *docs[8];
	size_t n;
};

static int collect_cb(struct doc *root, void *data)
{
	struct collect *c = data;

	CHECK(c->n < 8);
	c->docs[c->n++] = root;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		doc_free(c->docs[i]);
	c->n = 0;
}

static void test_yaml_scalars(void)
{
	static const char y[] =
		"a: 80\n"
		"b: \"80\"\n"
		"c: '80'\n"
		"d: ~\n"
		"e: null\n"
		"f:\n"
		"g: true\n"
		"h: FALSE\n"
		"i: yes\n"
		"j: 0x1F\n"
		"k: 0o17\n"
		"l: 1.5\n"
		"m: !!str 80\n"
		"n: !!int \"42\"\n"
		"o: -7\n"
		"p: 10.0.0.1\n"
		"q: |\n  80\n"
		"r: .inf\n"
		"s: 99999999999999999999\n"
		"t: \"a\\0b\"\n";
	struct collect c = { 0 };
	const struct doc *root, *d;
	char err[256];
	const char *s;
	int64_t i;
	bool b;

	CHECK_INT(doc_yaml_parse(y, strlen(y), collect_cb, &c, err, sizeof(err)), 0);
	CHECK_INT(c.n, 1);
	root = c.docs[0];
	CHECK_INT(root->type, DOC_MAP);
	CHECK_INT(doc_get_int(root, "a", &i), 0);
	CHECK_INT(i, 80);
	/* Quoted means string, whatever it looks like. */
	CHECK_INT(doc_get_int(root, "b", &i), -EINVAL);
	CHECK_INT(doc_get_string(root, "b", &s), 0);
	CHECK_STR(s, "80");
	CHECK_INT(doc_get_string(root, "c", &s), 0);
	CHECK_STR(s, "80");
	CHECK_INT(doc_get(root, "d")->type, DOC_NULL);
	CHECK_INT(doc_get(root, "e")->type, DOC_NULL);
	CHECK_INT(doc_get(root, "f")->type, DOC_NULL);
	/* Null reads as absent, not as a wrong type. */
	CHECK_INT(doc_get_string(root, "d", &s), -ENOENT);
	CHECK_INT(doc_get_bool(root, "g", &b), 0);
	CHECK(b);
	CHECK_INT(doc_get_bool(root, "h", &b), 0);
	CHECK(!b);
	/* YAML 1.2 core schema: yes is a string. */
	CHECK_INT(doc_get_string(root, "i", &s), 0);
	CHECK_STR(s, "yes");
	CHECK_INT(doc_get_int(root, "j", &i), 0);
	CHECK_INT(i, 31);
	CHECK_INT(doc_get_int(root, "k", &i), 0);
	CHECK_INT(i, 15);
	d = doc_get(root, "l");
	CHECK_INT(d->type, DOC_FLOAT);
	CHECK(d->f == 1.5);
	CHECK_INT(doc_get_string(root, "m", &s), 0);
	CHECK_STR(s, "80");
	CHECK_INT(doc_get_int(root, "n", &i), 0);
	CHECK_INT(i, 42);
	CHECK_INT(doc_get_int(root, "o", &i), 0);
	CHECK_INT(i, -7);
	CHECK_INT(doc_get_string(root, "p", &s), 0);
	CHECK_STR(s, "10.0.0.1");
	CHECK_INT(doc_get_string(root, "q", &s), 0);
	CHECK_STR(s, "80\n");
	d = doc_get(root, "r");
	CHECK_INT(d->type, DOC_FLOAT);
	CHECK(isinf(d->f));
	/* Too big for int64: a number, but no integer. */
	CHECK_INT(doc_get(root, "s")->type, DOC_FLOAT);
	/* A string with a NUL is no C string. */
	CHECK_INT(doc_get(root, "t")->str.len, 3);
	CHECK_INT(doc_get_string(root, "t", &s), -EINVAL);
	CHECK_INT(doc_get_string(root, "zz", &s), -ENOENT);
	collect_free(&c);
}

static void test_yaml_errors(void)
{
	struct collect c = { 0 };
	char err[256];
	char deep[2 * DOC_MAX_DEPTH + 8];
	size_t n = 0;

	static const char alias[] = "a: &x {b: 1}\nc: *x\n";
	CHECK_INT(doc_yaml_parse(alias, strlen(alias), collect_cb, &c, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "line 2 column 4: aliases (*x) are not supported");
	CHECK_INT(c.n, 0);

	static const char tag[] = "a: !foo 1\n";
	CHECK_INT(doc_yaml_parse(tag, strlen(tag), collect_cb, &c, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "line 1 column 4: unsupported tag !foo");

	static const char badint[] = "a: !!int abc\n";
	CHECK_INT(doc_yaml_parse(badint, strlen(badint), collect_cb, &c, err, sizeof(err)),
		  -EBADMSG);
	CHECK_STR(err, "line 1 column 4: value does not match its tag tag:yaml.org,2002:int");

	static const char complexkey[] = "? [a]\n: 1\n";
	CHECK_INT(doc_yaml_parse(complexkey, strlen(complexkey), collect_cb, &c, err, sizeof(err)),
		  -EBADMSG);
	CHECK_STR(err, "line 1 column 3: a map or a list as a key is not supported");

	for (int i = 0; i < DOC_MAX_DEPTH + 1; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	CHECK_INT(doc_yaml_parse(deep, n, collect_cb, &c, err, sizeof(err)), -E2BIG);
	CHECK(strstr(err, "nested deeper than 128 levels"));

	/* Documents before an error have been delivered. */
	static const char two[] = "a: 1\n---\nb: [\n";
	CHECK_INT(doc_yaml_parse(two, strlen(two), collect_cb, &c, err, sizeof(err)), -EBADMSG);
	CHECK_INT(c.n, 1);
	CHECK(strncmp(err, "line 4 column 1: ", 17) == 0);
	collect_free(&c);
}

static void test_json_incremental(void)
{
	static const char stream[] =
		"{\"type\":\"ADDED\",\"object\":{\"n\":1,\"f\":2.5,\"big\":12345678901234567890}}\n"
		"{\"type\":\"DELETED\",\"object\":{\"n\":-2,\"t\":true,\"z\":null,\"s\":\"\\u00e9\"}}\n";
	struct collect c = { 0 };
	struct doc_json *j;
	const struct doc *o;
	const char *s;
	int64_t i;
	bool b;

	/* Byte by byte: a watch stream arrives in arbitrary chunks. */
	CHECK_INT(doc_json_new(collect_cb, &c, &j), 0);
	for (size_t k = 0; k < strlen(stream); k++) {
		CHECK_INT(doc_json_feed(j, stream + k, 1), 0);
		if (k == strlen(stream) / 2)
			CHECK_INT(c.n, 1);
	}
	CHECK_INT(doc_json_finish(j), 0);
	CHECK_INT(doc_json_count(j), 2);
	doc_json_free(j);
	CHECK_INT(c.n, 2);
	CHECK_INT(doc_get_string(c.docs[0], "type", &s), 0);
	CHECK_STR(s, "ADDED");
	CHECK_INT(doc_get_map(c.docs[0], "object", &o), 0);
	CHECK_INT(doc_get_int(o, "n", &i), 0);
	CHECK_INT(i, 1);
	CHECK_INT(doc_get(o, "f")->type, DOC_FLOAT);
	CHECK_INT(doc_get(o, "big")->type, DOC_FLOAT);
	CHECK_INT(doc_get_string(c.docs[1], "type", &s), 0);
	CHECK_STR(s, "DELETED");
	CHECK_INT(doc_get_map(c.docs[1], "object", &o), 0);
	CHECK_INT(doc_get_int(o, "n", &i), 0);
	CHECK_INT(i, -2);
	CHECK_INT(doc_get_bool(o, "t", &b), 0);
	CHECK(b);
	CHECK_INT(doc_get(o, "z")->type, DOC_NULL);
	CHECK_INT(doc_get_string(o, "s", &s), 0);
	CHECK_STR(s, "\xc3\xa9");
	collect_free(&c);

	/* What yajl lets through that is not UTF-8 becomes U+FFFD, in values
	 * and keys: a lone low surrogate escape (which yajl decodes into the
	 * surrogate's bytes), raw surrogate bytes, an overlong form. */
	{
		static const char odd[] = "{\"s\":\"a\\udddd\",\"r\":\"\xed\xa0\x80\","
					  "\"k\xc0\xaf\":1}";

		CHECK_INT(doc_json_new(collect_cb, &c, &j), 0);
		CHECK_INT(doc_json_feed(j, odd, strlen(odd)), 0);
		CHECK_INT(doc_json_finish(j), 0);
		doc_json_free(j);
		CHECK_INT(c.n, 1);
		CHECK_INT(doc_get_string(c.docs[0], "s", &s), 0);
		CHECK_STR(s, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
		CHECK_INT(doc_get_string(c.docs[0], "r", &s), 0);
		CHECK_STR(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
		CHECK_INT(doc_get_int(c.docs[0], "k\xef\xbf\xbd\xef\xbf\xbd", &i), 0);
		CHECK_INT(i, 1);
		collect_free(&c);
	}

	/* An empty stream, and one cut inside a value. */
	CHECK_INT(doc_json_new(collect_cb, &c, &j), 0);
	CHECK_INT(doc_json_feed(j, " \n", 2), 0);
	CHECK_INT(doc_json_finish(j), 0);
	doc_json_free(j);
	CHECK_INT(doc_json_new(collect_cb, &c, &j), 0);
	CHECK_INT(doc_json_feed(j, "{\"a\":\n[1,", 9), 0);
	CHECK_INT(doc_json_finish(j), -EBADMSG);
	CHECK_STR(doc_json_error(j), "line 2 column 4: parse error: premature EOF");
	doc_json_free(j);
	CHECK_INT(c.n, 0);

	/* Positions count across chunks. */
	CHECK_INT(doc_json_new(collect_cb, &c, &j), 0);
	CHECK_INT(doc_json_feed(j, "{\"a\": 1}\n{\"b\":\n", 15), 0);
	CHECK_INT(doc_json_feed(j, "  2,,}", 6), -EBADMSG);
	CHECK_STR(doc_json_error(j), "line 3 column 5: parse error: invalid object key (must be a string)");
	doc_json_free(j);
	CHECK_INT(c.n, 1);
	collect_free(&c);
}

static void test_doc_helpers(void)
{
	static const char y[] = "k: 1\nk: 2\nm: {a: b}\nl: [x]\n";
	struct collect c = { 0 };
	const struct doc *d;
	char err[64], buf[32];
	int64_t i;

	CHECK_INT(doc_yaml_parse(y, strlen(y), collect_cb, &c, err, sizeof(err)), 0);
	/* A repeated key: the last wins. */
	CHECK_INT(doc_get_int(c.docs[0], "k", &i), 0);
	CHECK_INT(i, 2);
	CHECK_INT(doc_get_map(c.docs[0], "m", &d), 0);
	CHECK_INT(doc_len(d), 1);
	CHECK_INT(doc_get_seq(c.docs[0], "m", &d), -EINVAL);
	CHECK_INT(doc_get_seq(c.docs[0], "l", &d), 0);
	CHECK_INT(doc_len(d), 1);
	CHECK(doc_at(d, 1) == NULL);
	CHECK_STR(doc_describe(doc_at(d, 0), buf, sizeof(buf)), "\"x\"");
	collect_free(&c);

	d = doc_new_string("a\"b\n0123456789012345678901234567890", 34);
	CHECK(d);
	CHECK_STR(doc_describe(d, buf, sizeof(buf)), "\"a\\\"b\\x0a012345678901234567...\"");
	doc_free((struct doc *)d);
}

/* ---- Services ---- */

static void check_full_service(const struct model_service *svc)
{
	char buf[IP_ADDR_STRLEN + 8];

	CHECK_STR(svc->ns, "shop");
	CHECK_STR(svc->name, "web");
	CHECK_STR(svc->uid, "7c1f0e2a-0000-4000-8000-000000000001");
	CHECK_INT(svc->type, SVC_TYPE_LOAD_BALANCER);
	CHECK(!svc->headless);
	CHECK_INT(svc->n_cluster_ips, 2);
	check_ip(&svc->cluster_ips[0], "10.96.0.10");
	check_ip(&svc->cluster_ips[1], "fd00:10:96::a");
	CHECK_INT(svc->ip_families[0], AF_INET);
	CHECK_INT(svc->ip_families[1], AF_INET6);
	CHECK_INT(svc->n_ports, 3);
	CHECK_STR(svc->ports[0].name, "http");
	CHECK_INT(svc->ports[0].protocol, IPPROTO_TCP);
	CHECK_INT(svc->ports[0].port, 80);
	CHECK(svc->ports[0].target_port.present);
	CHECK(!svc->ports[0].target_port.is_string);
	CHECK_INT(svc->ports[0].target_port.num, 8080);
	CHECK_INT(svc->ports[0].node_port, 30080);
	CHECK_STR(svc->ports[1].name, "dns");
	CHECK_INT(svc->ports[1].protocol, IPPROTO_UDP);
	CHECK_INT(svc->ports[1].port, 53);
	CHECK(svc->ports[1].target_port.is_string);
	CHECK_STR(svc->ports[1].target_port.str, "dns-port");
	CHECK_INT(svc->ports[1].node_port, 0);
	CHECK_INT(svc->ports[2].protocol, IPPROTO_SCTP);
	CHECK(!svc->ports[2].target_port.present);
	CHECK_INT(svc->affinity, SVC_AFFINITY_CLIENT_IP);
	CHECK_INT(svc->affinity_timeout, 600);
	CHECK_INT(svc->external_policy, SVC_POLICY_LOCAL);
	CHECK_INT(svc->internal_policy, SVC_POLICY_CLUSTER);
	CHECK_INT(svc->health_check_node_port, 32000);
	CHECK_INT(svc->n_external_ips, 2);
	check_ip(&svc->external_ips[0], "192.0.2.10");
	check_ip(&svc->external_ips[1], "2001:db8::10");
	CHECK_INT(svc->n_lb_source_ranges, 3);
	CHECK_STR(prefix_str(&svc->lb_source_ranges[0], buf), "198.51.100.0/24");
	/* Blanks trimmed, host bits cleared. */
	CHECK_STR(prefix_str(&svc->lb_source_ranges[1], buf), "203.0.0.0/16");
	CHECK_STR(prefix_str(&svc->lb_source_ranges[2], buf), "2001:db8:1::/48");
	/* The hostname-only ingress entry carries no IP; the ipMode: Proxy one
	 * is the load balancer's business, not ours. */
	CHECK_INT(svc->n_lb_ingress_ips, 2);
	check_ip(&svc->lb_ingress_ips[0], "192.0.2.100");
	check_ip(&svc->lb_ingress_ips[1], "2001:db8::100");
	CHECK(svc->external_name == NULL);
	CHECK_STR(svc->traffic_distribution, "PreferClose");
	/* topology-mode wins over the older topology-aware-hints. */
	CHECK(svc->topology_disabled);
	/* Sorted by key; `empty:` with no value is "". */
	CHECK_INT(svc->n_labels, 3);
	CHECK_STR(svc->labels[0].key, "app");
	CHECK_STR(svc->labels[0].value, "web");
	CHECK_STR(svc->labels[1].key, "empty");
	CHECK_STR(svc->labels[1].value, "");
	CHECK_STR(kv_get(svc->labels, svc->n_labels, "tier"), "frontend");
	CHECK(model_service_ignored(svc) == NULL);
}

static void test_service_full(void)
{
	struct kdec_result y = { 0 }, j = { 0 };
	char err[KDEC_ERR_MAX];

	CHECK_INT(parse_file("data/service-full.yaml", &y, err), 0);
	CHECK_INT(y.n_objects, 1);
	CHECK_INT(y.n_rejected, 0);
	CHECK_INT(y.objects[0].kind, KDEC_SERVICE);
	CHECK(y.objects[0].slice == NULL);
	CHECK_STR(y.objects[0].desc, "Service shop/web");
	check_full_service(y.objects[0].svc);
	CHECK_STR(y.objects[0].svc->resource_version, "1234");

	CHECK_INT(parse_file("data/service-full.json", &j, err), 0);
	CHECK_INT(j.n_objects, 1);
	check_full_service(j.objects[0].svc);
	CHECK_STR(j.objects[0].svc->resource_version, "5678");
	/* Same object in both formats; resourceVersion does not count. */
	CHECK(model_service_equal(y.objects[0].svc, j.objects[0].svc));
	j.objects[0].svc->ports[0].node_port = 30081;
	CHECK(!model_service_equal(y.objects[0].svc, j.objects[0].svc));
	kdec_result_fini(&y);
	kdec_result_fini(&j);
	kdec_result_fini(NULL);
}

static void test_service_defaults(void)
{
	struct kdec_object o = take_one("apiVersion: v1\nkind: Service\nmetadata:\n  name: bare\n"
					"spec:\n  clusterIP: 10.0.0.1\n  ports:\n  - port: 80\n");
	const struct model_service *svc = o.svc;

	/* No namespace in a manifest means "default". */
	CHECK_STR(svc->ns, "default");
	CHECK_STR(o.desc, "Service default/bare");
	CHECK(svc->uid == NULL);
	CHECK(svc->resource_version == NULL);
	CHECK_INT(svc->type, SVC_TYPE_CLUSTER_IP);
	CHECK_INT(svc->n_cluster_ips, 1);
	check_ip(&svc->cluster_ips[0], "10.0.0.1");
	CHECK_INT(svc->ports[0].protocol, IPPROTO_TCP);
	CHECK(svc->ports[0].name == NULL);
	CHECK_INT(svc->affinity, SVC_AFFINITY_NONE);
	CHECK_INT(svc->affinity_timeout, SVC_AFFINITY_DEFAULT_TIMEOUT);
	CHECK_INT(svc->external_policy, SVC_POLICY_ABSENT);
	CHECK_INT(svc->internal_policy, SVC_POLICY_ABSENT);
	CHECK_INT(svc->ip_families[0], 0);
	CHECK_INT(svc->n_labels, 0);
	CHECK(svc->traffic_distribution == NULL);
	CHECK(!svc->topology_disabled);
	CHECK_INT(svc->n_lb_ingress_ips, 0);
	kdec_object_fini(&o);

	/* Headless, ExternalName, and a clusterIP left empty. */
	o = take_one("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"h\","
		     "\"namespace\":\"\"},\"spec\":{\"clusterIP\":\"None\",\"clusterIPs\":[\"None\"]}}");
	CHECK_STR(o.svc->ns, "default");
	CHECK(o.svc->headless);
	CHECK_INT(o.svc->n_cluster_ips, 0);
	CHECK_STR(model_service_ignored(o.svc), "headless (clusterIP: None)");
	kdec_object_fini(&o);
	o = take_one("apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: a}\n"
		     "spec: {type: ExternalName, externalName: db.example.com}\n");
	CHECK_INT(o.svc->type, SVC_TYPE_EXTERNAL_NAME);
	CHECK_STR(o.svc->external_name, "db.example.com");
	CHECK_STR(model_service_ignored(o.svc), "type ExternalName");
	kdec_object_fini(&o);
	o = take_one("apiVersion: v1\nkind: Service\nmetadata: {name: pending}\n"
		     "spec: {clusterIP: \"\", ports: [{port: 1}]}\n");
	CHECK_INT(o.svc->n_cluster_ips, 0);
	CHECK(!o.svc->headless);
	CHECK_STR(model_service_ignored(o.svc), "no cluster IP");
	kdec_object_fini(&o);
	kdec_object_fini(NULL);
}

static void test_quoted_ports(void)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];
	struct kdec_object o;

	/* Unquoted numbers are ports; a quoted targetPort is a port name. */
	o = take_one("apiVersion: v1\nkind: Service\nmetadata: {name: q}\nspec:\n"
		     "  clusterIP: 10.0.0.1\n  ports:\n"
		     "  - {name: a, port: 80, targetPort: \"8080\"}\n"
		     "  - {name: b, port: 81, targetPort: 8081}\n");
	CHECK(o.svc->ports[0].target_port.is_string);
	CHECK_STR(o.svc->ports[0].target_port.str, "8080");
	CHECK(!o.svc->ports[1].target_port.is_string);
	CHECK_INT(o.svc->ports[1].target_port.num, 8081);
	kdec_object_fini(&o);

	/* A quoted port is a string, which a port is not. */
	CHECK_INT(parse_str("apiVersion: v1\nkind: Service\nmetadata: {name: q, namespace: n}\n"
			    "spec:\n  clusterIP: 10.0.0.1\n  ports:\n  - port: \"80\"\n",
			    &res, err), 0);
	CHECK_INT(res.n_objects, 0);
	CHECK_INT(res.n_rejected, 1);
	CHECK_STR(res.rejected[0].error,
		  "Service n/q: spec.ports[0].port: \"80\" is a string, expected an integer");
	CHECK_INT(res.rejected[0].kind, KDEC_SERVICE);
	CHECK_STR(res.rejected[0].ns, "n");
	CHECK_STR(res.rejected[0].name, "q");
	kdec_result_fini(&res);
	CHECK_INT(res.n_rejected, 0);
	CHECK(res.rejected == NULL);
}

/* A Service "t/s" with metadata extra `meta` (YAML flow map entries),
 * spec extra `spec` and top-level extra `rest`; the one object it holds. */
static struct kdec_object take_svc(const char *meta, const char *spec, const char *rest)
{
	struct kdec_object o;
	char *buf;

	CHECK(asprintf(&buf, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: t%s%s}\n"
			     "spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]%s%s}\n%s",
		       *meta ? ", " : "", meta, *spec ? ", " : "", spec, rest) > 0);
	o = take_one(buf);
	free(buf);
	return o;
}

/* spec.trafficDistribution is kept as written (kube-proxy ignores values
 * it does not know); the topology annotations turn hints off. */
static void test_service_topology(void)
{
	static const struct {
		const char *meta;
		bool disabled;
	} ann[] = {
		{ "", false },
		{ "annotations: {}", false },
		{ "annotations: {service.kubernetes.io/topology-mode: Disabled}", true },
		{ "annotations: {service.kubernetes.io/topology-mode: disabled}", true },
		{ "annotations: {service.kubernetes.io/topology-mode: DISABLED}", false },
		{ "annotations: {service.kubernetes.io/topology-mode: Auto}", false },
		{ "annotations: {service.kubernetes.io/topology-aware-hints: disabled}", true },
		{ "annotations: {service.kubernetes.io/topology-aware-hints: Disabled}", true },
		{ "annotations: {service.kubernetes.io/topology-aware-hints: auto}", false },
		/* topology-mode decides when present; empty counts as absent. */
		{ "annotations: {service.kubernetes.io/topology-mode: Auto, "
		  "service.kubernetes.io/topology-aware-hints: Disabled}", false },
		{ "annotations: {service.kubernetes.io/topology-mode: Disabled, "
		  "service.kubernetes.io/topology-aware-hints: Auto}", true },
		{ "annotations: {service.kubernetes.io/topology-mode: \"\", "
		  "service.kubernetes.io/topology-aware-hints: Disabled}", true },
		{ "annotations: {service.kubernetes.io/topology-mode: ~, "
		  "service.kubernetes.io/topology-aware-hints: disabled}", true },
		/* Annotations nftproxy does not read are not checked. */
		{ "annotations: {example.com/n: 3, service.kubernetes.io/topology-mode: Disabled}", true },
		{ "annotations: ~", false },
	};
	struct kdec_object a, b;

	for (size_t i = 0; i < sizeof(ann) / sizeof(ann[0]); i++) {
		a = take_svc(ann[i].meta, "", "");
		if (a.svc->topology_disabled != ann[i].disabled)
			fprintf(stderr, "metadata: %s\n", ann[i].meta);
		CHECK_INT(a.svc->topology_disabled, ann[i].disabled);
		kdec_object_fini(&a);
	}

	a = take_svc("", "trafficDistribution: PreferClose", "");
	CHECK_STR(a.svc->traffic_distribution, "PreferClose");
	b = take_svc("", "trafficDistribution: PreferSameNode", "");
	CHECK_STR(b.svc->traffic_distribution, "PreferSameNode");
	CHECK(!model_service_equal(a.svc, b.svc));
	kdec_object_fini(&b);
	/* A value from a newer API: kept, the Service is served. */
	b = take_svc("", "trafficDistribution: PreferSomewhereNew", "");
	CHECK_STR(b.svc->traffic_distribution, "PreferSomewhereNew");
	kdec_object_fini(&b);
	b = take_svc("", "trafficDistribution: \"\"", "");
	CHECK(b.svc->traffic_distribution == NULL);
	kdec_object_fini(&b);
	b = take_svc("", "trafficDistribution: ~", "");
	CHECK(b.svc->traffic_distribution == NULL);
	CHECK(!model_service_equal(a.svc, b.svc));
	kdec_object_fini(&b);
	b = take_svc("", "trafficDistribution: PreferClose", "");
	CHECK(model_service_equal(a.svc, b.svc));
	b.svc->topology_disabled = true;
	CHECK(!model_service_equal(a.svc, b.svc));
	kdec_object_fini(&b);
	kdec_object_fini(&a);
}

/* status.loadBalancer.ingress: what kube-proxy programs of it. */
static void test_service_lb_ingress(void)
{
	struct kdec_object o;

	o = take_svc("", "type: LoadBalancer",
		     "status:\n  loadBalancer:\n    ingress:\n"
		     "    - {ip: 192.0.2.1}\n"
		     "    - {ip: 192.0.2.2, ipMode: VIP}\n"
		     "    - {ip: 192.0.2.3, ipMode: Proxy}\n"
		     "    - {hostname: lb.example.com}\n"
		     "    - {hostname: lb.example.com, ipMode: Proxy}\n"
		     "    - {ip: \"\"}\n"
		     "    - {ip: ~, hostname: x.example.com}\n"
		     "    - {ip: 192.0.2.4, ipMode: Elsewhere}\n"
		     "    - {ip: 300.1.1.1}\n"
		     "    - {ip: \"2001:db8::5\", ipMode: VIP, ports: [{port: 80, protocol: TCP}]}\n"
		     "    - {ip: 192.0.2.6, ipMode: ~}\n");
	CHECK_INT(o.svc->n_lb_ingress_ips, 4);
	check_ip(&o.svc->lb_ingress_ips[0], "192.0.2.1");
	check_ip(&o.svc->lb_ingress_ips[1], "192.0.2.2");
	check_ip(&o.svc->lb_ingress_ips[2], "2001:db8::5");
	check_ip(&o.svc->lb_ingress_ips[3], "192.0.2.6");
	kdec_object_fini(&o);

	/* Only Proxy entries (or none usable): no address, the Service stays. */
	o = take_svc("", "type: LoadBalancer",
		     "status: {loadBalancer: {ingress: [{ip: 192.0.2.3, ipMode: Proxy}]}}\n");
	CHECK_INT(o.svc->n_lb_ingress_ips, 0);
	CHECK(o.svc->lb_ingress_ips == NULL);
	kdec_object_fini(&o);
	o = take_svc("", "type: LoadBalancer", "status: {loadBalancer: {ingress: []}}\n");
	CHECK_INT(o.svc->n_lb_ingress_ips, 0);
	CHECK(o.svc->lb_ingress_ips == NULL);
	kdec_object_fini(&o);
	o = take_svc("", "", "status: {loadBalancer: {}}\n");
	CHECK_INT(o.svc->n_lb_ingress_ips, 0);
	kdec_object_fini(&o);
}

/* ---- EndpointSlices ---- */

static void check_full_slice(const struct model_slice *s)
{
	const struct slice_endpoint *ep;

	CHECK_STR(s->ns, "shop");
	CHECK_STR(s->name, "web-abc12");
	CHECK_STR(s->service_name, "web");
	CHECK_INT(s->addr_type, SLICE_ADDR_IPV4);
	CHECK_INT(s->n_ports, 4);
	CHECK_STR(s->ports[0].name, "http");
	CHECK(s->ports[0].has_port);
	CHECK_INT(s->ports[0].port, 8080);
	CHECK_INT(s->ports[0].protocol, IPPROTO_TCP);
	CHECK_INT(s->ports[1].protocol, IPPROTO_UDP);
	CHECK_INT(s->ports[1].port, 5353);
	CHECK_STR(s->ports[2].name, "");
	CHECK_INT(s->ports[2].port, 9000);
	CHECK_INT(s->ports[2].protocol, IPPROTO_TCP);
	CHECK_STR(s->ports[3].name, "all");
	CHECK(!s->ports[3].has_port);
	CHECK_INT(s->n_endpoints, 3);

	ep = &s->endpoints[0];
	CHECK_INT(ep->n_addrs, 2);
	check_ip(&ep->addr, "10.244.1.11"); /* the first is kept */
	CHECK_INT(ep->ready, TRI_TRUE);
	CHECK_INT(ep->serving, TRI_TRUE);
	CHECK_INT(ep->terminating, TRI_FALSE);
	CHECK_STR(ep->node_name, "node-a");
	CHECK_STR(ep->zone, "zone-1");
	CHECK(ep->hints != NULL);
	CHECK_INT(ep->hints->n_zones, 2);
	CHECK_STR(ep->hints->zones[0], "zone-1");
	CHECK_STR(ep->hints->zones[1], "zone-2");
	CHECK_INT(ep->hints->n_nodes, 1);
	CHECK_STR(ep->hints->nodes[0], "node-a");

	/* Absent conditions: ready and serving, not terminating. */
	ep = &s->endpoints[1];
	CHECK_INT(ep->n_addrs, 1);
	check_ip(&ep->addr, "10.244.2.11");
	CHECK_INT(ep->ready, TRI_ABSENT);
	CHECK_INT(ep->serving, TRI_ABSENT);
	CHECK_INT(ep->terminating, TRI_ABSENT);
	CHECK(slice_endpoint_ready(ep));
	CHECK(slice_endpoint_serving(ep));
	CHECK(!slice_endpoint_terminating(ep));
	CHECK(ep->node_name == NULL);
	CHECK(ep->zone == NULL);
	CHECK(ep->hints == NULL);

	/* ready: false, serving absent (so not serving either), terminating. */
	ep = &s->endpoints[2];
	CHECK_INT(ep->ready, TRI_FALSE);
	CHECK_INT(ep->serving, TRI_ABSENT);
	CHECK_INT(ep->terminating, TRI_TRUE);
	CHECK(!slice_endpoint_ready(ep));
	CHECK(!slice_endpoint_serving(ep));
	CHECK(slice_endpoint_terminating(ep));
}

static void test_slice_full(void)
{
	struct kdec_result y = { 0 }, j = { 0 };
	char err[KDEC_ERR_MAX];

	CHECK_INT(parse_file("data/slice-full.yaml", &y, err), 0);
	CHECK_INT(y.n_objects, 1);
	CHECK_INT(y.objects[0].kind, KDEC_SLICE);
	CHECK(y.objects[0].svc == NULL);
	CHECK_STR(y.objects[0].desc, "EndpointSlice shop/web-abc12");
	check_full_slice(y.objects[0].slice);
	CHECK_STR(y.objects[0].slice->resource_version, "99");
	CHECK_INT(parse_file("data/slice-full.json", &j, err), 0);
	CHECK_INT(j.n_objects, 1);
	check_full_slice(j.objects[0].slice);
	CHECK(model_slice_equal(y.objects[0].slice, j.objects[0].slice));
	j.objects[0].slice->endpoints[1].ready = TRI_TRUE;
	CHECK(!model_slice_equal(y.objects[0].slice, j.objects[0].slice));
	kdec_result_fini(&y);
	kdec_result_fini(&j);
}

static void test_slice_fqdn_and_ipv6(void)
{
	struct kdec_object o;

	o = take_one("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		     "metadata: {name: f, labels: {kubernetes.io/service-name: ext}}\n"
		     "addressType: FQDN\nendpoints:\n- addresses: [db.example.com]\n");
	CHECK_INT(o.slice->addr_type, SLICE_ADDR_FQDN);
	CHECK_INT(o.slice->n_endpoints, 1);
	CHECK_INT(o.slice->endpoints[0].n_addrs, 0);
	CHECK_STR(o.slice->service_name, "ext");
	kdec_object_fini(&o);

	o = take_one("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		     "metadata: {name: six, namespace: x}\n"
		     "addressType: IPv6\nendpoints:\n- addresses: [\"fd00::1\"]\n");
	CHECK_INT(o.slice->addr_type, SLICE_ADDR_IPV6);
	check_ip(&o.slice->endpoints[0].addr, "fd00::1");
	/* No service-name label: belongs to no service. */
	CHECK(o.slice->service_name == NULL);
	CHECK_INT(o.slice->n_ports, 0);
	kdec_object_fini(&o);
}

/* ---- files: multi-document, lists ---- */

static void test_multi_document(void)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];

	CHECK_INT(parse_file("data/multi.yaml", &res, err), 0);
	CHECK_INT(res.n_objects, 3);
	CHECK_INT(res.n_ignored, 1);
	CHECK_INT(res.n_rejected, 0);
	CHECK_STR(res.objects[0].desc, "Service default/api");
	CHECK_INT(res.objects[0].svc->ports[0].port, 443);
	CHECK_STR(res.objects[1].desc, "Service data/db");
	CHECK_STR(res.objects[1].svc->ports[0].name, "pg");
	CHECK_STR(res.objects[2].desc, "EndpointSlice default/api-1");
	CHECK_INT(res.objects[2].slice->addr_type, SLICE_ADDR_IPV6);
	CHECK_INT(res.objects[2].slice->ports[0].port, 8443);
	kdec_result_fini(&res);
}

static void test_lists(void)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];

	CHECK_INT(parse_file("data/list.yaml", &res, err), 0);
	CHECK_INT(res.n_objects, 2);
	CHECK_INT(res.n_ignored, 1);
	CHECK_STR(res.objects[0].desc, "Service ns1/one");
	CHECK_STR(res.objects[1].desc, "EndpointSlice ns1/one-x");
	CHECK_INT(res.objects[1].slice->n_endpoints, 0);
	kdec_result_fini(&res);

	/* The API's typed list: items have no kind nor apiVersion. */
	CHECK_INT(parse_file("data/list.json", &res, err), 0);
	CHECK_INT(res.n_objects, 2);
	CHECK_INT(res.n_rejected, 1);
	CHECK_STR(res.objects[0].desc, "Service x/a");
	CHECK_STR(res.objects[0].svc->resource_version, "1");
	CHECK_STR(res.objects[1].desc, "Service x/b");
	CHECK(res.objects[1].svc->headless);
	CHECK_STR(res.rejected[0].error, "Service x/c: spec.ports[0].port: 0 is out of range 1-65535");
	kdec_result_fini(&res);

	/* A top-level JSON array of objects. */
	CHECK_INT(parse_str("  \n[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"a\"}},"
			    " 42]", &res, err), 0);
	CHECK_INT(res.n_objects, 1);
	CHECK_INT(res.n_ignored, 1);
	kdec_result_fini(&res);

	/* Nothing at all is no error. */
	CHECK_INT(parse_str("", &res, err), 0);
	CHECK_INT(res.n_objects, 0);
	CHECK_INT(parse_str("# only a comment\n---\n", &res, err), 0);
	CHECK_INT(res.n_objects, 0);
	kdec_result_fini(&res);
}

/* ---- validation ---- */

static void test_bad_file(void)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];

	CHECK_INT(parse_file("data/bad.yaml", &res, err), 0);
	CHECK_INT(res.n_objects, 2);
	CHECK_STR(res.objects[0].desc, "Service shop/good-1");
	CHECK_STR(res.objects[1].desc, "EndpointSlice shop/good-2");
	CHECK_INT(res.n_rejected, 4);
	CHECK_STR(res.rejected[0].error,
		  "Service shop/web: spec.clusterIP: \"10.0.0.999\" is not an IP address");
	CHECK_STR(res.rejected[0].name, "web");
	CHECK_STR(res.rejected[1].error,
		  "Service shop/web2: spec.ports[1].port: 70000 is out of range 1-65535");
	CHECK_STR(res.rejected[2].error,
		  "EndpointSlice shop/web-x: addressType: \"IPX\" is not one of IPv4, IPv6, FQDN");
	CHECK_INT(res.rejected[2].kind, KDEC_SLICE);
	CHECK_STR(res.rejected[3].error, "Service (no name): metadata.name: required field is missing");
	CHECK(res.rejected[3].ns == NULL);
	CHECK(res.rejected[3].name == NULL);
	kdec_result_fini(&res);
}

static const char good_svc[] = "apiVersion: v1\nkind: Service\nmetadata: {name: before, namespace: t}\n"
			       "spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n---\n";
static const char good_slice[] = "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
				 "metadata: {name: after, namespace: t}\naddressType: IPv4\n";

/* A Service spec (or a whole slice) that must be refused with `want`,
 * while the objects around it decode. */
static void expect_bad(const char *obj, const char *want)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];
	char *buf;

	CHECK(asprintf(&buf, "%s%s%s", good_svc, obj, good_slice) > 0);
	CHECK_INT(parse_str(buf, &res, err), 0);
	free(buf);
	if (res.n_rejected != 1)
		fprintf(stderr, "object:\n%s\n", obj);
	CHECK_INT(res.n_rejected, 1);
	CHECK_STR(res.rejected[0].error, want);
	CHECK_INT(res.n_objects, 2);
	CHECK_STR(res.objects[0].desc, "Service t/before");
	CHECK_STR(res.objects[1].desc, "EndpointSlice t/after");
	kdec_result_fini(&res);
}

#define SVC(spec) "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n" spec
#define SLICE(body) "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n" \
	"metadata: {name: web-1, namespace: shop}\n" body

static void test_service_validation(void)
{
	expect_bad(SVC("  clusterIP: 10.0.0.999\n"),
		   "Service shop/web: spec.clusterIP: \"10.0.0.999\" is not an IP address");
	expect_bad(SVC("  clusterIPs: [10.0.0.1, 10.0.0.2]\n"),
		   "Service shop/web: spec.clusterIPs[1]: \"10.0.0.2\" is of the same family as "
		   "spec.clusterIPs[0]");
	expect_bad(SVC("  clusterIP: 10.0.0.1\n  clusterIPs: [10.0.0.2]\n"),
		   "Service shop/web: spec.clusterIPs[0]: \"10.0.0.2\" differs from spec.clusterIP \"10.0.0.1\"");
	expect_bad(SVC("  clusterIPs: [10.0.0.1, \"::1\", \"::2\"]\n"),
		   "Service shop/web: spec.clusterIPs: has 3 entries, at most 2 allowed");
	expect_bad(SVC("  ipFamilies: [IPv5]\n"),
		   "Service shop/web: spec.ipFamilies[0]: \"IPv5\" is not one of IPv4, IPv6");
	expect_bad(SVC("  type: Magic\n"),
		   "Service shop/web: spec.type: \"Magic\" is not one of ClusterIP, NodePort, "
		   "LoadBalancer, ExternalName");
	expect_bad(SVC("  ports: [{port: 0}]\n"),
		   "Service shop/web: spec.ports[0].port: 0 is out of range 1-65535");
	expect_bad(SVC("  ports: [{name: a, port: 1}, {name: b, port: 70000}]\n"),
		   "Service shop/web: spec.ports[1].port: 70000 is out of range 1-65535");
	expect_bad(SVC("  ports: [{port: 80.5}]\n"),
		   "Service shop/web: spec.ports[0].port: 80.5 is not an integer");
	expect_bad(SVC("  ports: [{name: x}]\n"),
		   "Service shop/web: spec.ports[0].port: required field is missing");
	expect_bad(SVC("  ports: [{port: 80, protocol: ICMP}]\n"),
		   "Service shop/web: spec.ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP");
	expect_bad(SVC("  ports: [{port: 80, protocol: tcp}]\n"),
		   "Service shop/web: spec.ports[0].protocol: \"tcp\" is not one of TCP, UDP, SCTP");
	expect_bad(SVC("  ports: [{port: 80, nodePort: 70000}]\n"),
		   "Service shop/web: spec.ports[0].nodePort: 70000 is out of range 0-65535");
	expect_bad(SVC("  ports: [{port: 80, targetPort: 0}]\n"),
		   "Service shop/web: spec.ports[0].targetPort: 0 is out of range 1-65535");
	expect_bad(SVC("  ports: [{port: 80, targetPort: [1]}]\n"),
		   "Service shop/web: spec.ports[0].targetPort: got a list, expected an integer or a port name");
	expect_bad(SVC("  ports: [{port: 80}, {port: 81}]\n"),
		   "Service shop/web: spec.ports[0].name: required when a service has more than one port");
	expect_bad(SVC("  ports: [{name: a, port: 80}, {name: a, port: 81}]\n"),
		   "Service shop/web: spec.ports[1].name: \"a\" is also the name of spec.ports[0]");
	expect_bad(SVC("  ports: [{name: a, port: 80}, {name: b, port: 80}]\n"),
		   "Service shop/web: spec.ports[1]: port 80/tcp is also spec.ports[0]");
	expect_bad(SVC("  ports: [{name: HTTP, port: 80}]\n"),
		   "Service shop/web: spec.ports[0].name: \"HTTP\" is not a DNS label (lower case "
		   "letters, digits and '-', at most 63)");
	expect_bad(SVC("  ports: {port: 80}\n"),
		   "Service shop/web: spec.ports: got a map, expected a list");
	expect_bad(SVC("  sessionAffinity: Sticky\n"),
		   "Service shop/web: spec.sessionAffinity: \"Sticky\" is not one of None, ClientIP");
	expect_bad(SVC("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n"),
		   "Service shop/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0 is out of range 1-86400");
	expect_bad(SVC("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n"),
		   "Service shop/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401 is out of range 1-86400");
	expect_bad(SVC("  externalTrafficPolicy: Global\n"),
		   "Service shop/web: spec.externalTrafficPolicy: \"Global\" is not one of Cluster, Local");
	expect_bad(SVC("  internalTrafficPolicy: local\n"),
		   "Service shop/web: spec.internalTrafficPolicy: \"local\" is not one of Cluster, Local");
	expect_bad(SVC("  externalIPs: [192.0.2.1, nope]\n"),
		   "Service shop/web: spec.externalIPs[1]: \"nope\" is not an IP address");
	expect_bad(SVC("  loadBalancerSourceRanges: [10.0.0.0/33]\n"),
		   "Service shop/web: spec.loadBalancerSourceRanges[0]: \"10.0.0.0/33\" is not a CIDR "
		   "(address/length)");
	expect_bad(SVC("  loadBalancerSourceRanges: [10.0.0.1]\n"),
		   "Service shop/web: spec.loadBalancerSourceRanges[0]: \"10.0.0.1\" is not a CIDR "
		   "(address/length)");
	expect_bad(SVC("  healthCheckNodePort: -1\n"),
		   "Service shop/web: spec.healthCheckNodePort: -1 is out of range 0-65535");
	/* Wrong types are refused (the API's typed decoding would refuse them);
	 * wrong values of these fields are not: see test_service_lb_ingress. */
	expect_bad(SVC("  clusterIP: 10.0.0.1\nstatus: {loadBalancer: {ingress: [{ip: 300}]}}\n"),
		   "Service shop/web: status.loadBalancer.ingress[0].ip: 300 is an integer, expected a string");
	expect_bad(SVC("  clusterIP: 10.0.0.1\nstatus: {loadBalancer: {ingress: [{ip: 10.0.0.2, ipMode: [VIP]}]}}\n"),
		   "Service shop/web: status.loadBalancer.ingress[0].ipMode: got a list, expected a string");
	expect_bad(SVC("  clusterIP: 10.0.0.1\nstatus: {loadBalancer: {ingress: [hostname]}}\n"),
		   "Service shop/web: status.loadBalancer.ingress[0]: \"hostname\" is a string, expected a map");
	expect_bad(SVC("  trafficDistribution: {prefer: close}\n"),
		   "Service shop/web: spec.trafficDistribution: got a map, expected a string");
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, annotations: [a]}\n",
		   "Service shop/web: metadata.annotations: got a list, expected a map");
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, annotations: "
		   "{service.kubernetes.io/topology-mode: false}}\n",
		   "Service shop/web: metadata.annotations.service.kubernetes.io/topology-mode: false is "
		   "a boolean, expected a string");
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop, labels: {v: 1}}\n",
		   "Service shop/web: metadata.labels.v: 1 is an integer, expected a string");
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: Web_1, namespace: shop}\n",
		   "Service (no name): metadata.name: \"Web_1\" is not a DNS label starting with a letter "
		   "(lower case letters, digits and '-', at most 63)");
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: Shop}\n",
		   "Service web: metadata.namespace: \"Shop\" is not a DNS label (lower case letters, "
		   "digits and '-', at most 63)");
	expect_bad("apiVersion: v1\nkind: Service\nspec: {}\n",
		   "Service (no name): metadata: required field is missing");
	expect_bad("kind: Service\nmetadata: {name: web, namespace: shop}\n",
		   "Service shop/web: apiVersion: required field is missing");
}

static void test_slice_validation(void)
{
	expect_bad(SLICE("addressType: IPX\n"),
		   "EndpointSlice shop/web-1: addressType: \"IPX\" is not one of IPv4, IPv6, FQDN");
	expect_bad(SLICE("endpoints: []\n"),
		   "EndpointSlice shop/web-1: addressType: required field is missing");
	expect_bad(SLICE("addressType: IPv4\nendpoints: [{addresses: [\"fd00::1\"]}]\n"),
		   "EndpointSlice shop/web-1: endpoints[0].addresses[0]: \"fd00::1\" is not an IPv4 address");
	expect_bad(SLICE("addressType: IPv6\nendpoints: [{addresses: [\"fd00::1\"]}, {addresses: [10.0.0.1]}]\n"),
		   "EndpointSlice shop/web-1: endpoints[1].addresses[0]: \"10.0.0.1\" is not an IPv6 address");
	expect_bad(SLICE("addressType: IPv4\nendpoints: [{addresses: [10.0.0.256]}]\n"),
		   "EndpointSlice shop/web-1: endpoints[0].addresses[0]: \"10.0.0.256\" is not an IP address");
	expect_bad(SLICE("addressType: IPv4\nendpoints: [{addresses: []}]\n"),
		   "EndpointSlice shop/web-1: endpoints[0].addresses: must hold at least one address");
	expect_bad(SLICE("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: \"yes\"}}]\n"),
		   "EndpointSlice shop/web-1: endpoints[0].conditions.ready: \"yes\" is a string, expected true or false");
	expect_bad(SLICE("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], hints: {forZones: [{}]}}]\n"),
		   "EndpointSlice shop/web-1: endpoints[0].hints.forZones[0].name: required field is missing");
	expect_bad(SLICE("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], nodeName: 7}]\n"),
		   "EndpointSlice shop/web-1: endpoints[0].nodeName: 7 is an integer, expected a string");
	expect_bad(SLICE("addressType: IPv4\nports: [{port: 0}]\n"),
		   "EndpointSlice shop/web-1: ports[0].port: 0 is out of range 1-65535");
	expect_bad(SLICE("addressType: IPv4\nports: [{port: 80, protocol: ICMP}]\n"),
		   "EndpointSlice shop/web-1: ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP");
	expect_bad(SLICE("addressType: IPv4\nports: [{name: 5, port: 80}]\n"),
		   "EndpointSlice shop/web-1: ports[0].name: 5 is an integer, expected a string");
}

static void test_ignored_kinds(void)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];

	/* Another group's Service, an old slice version, an unknown kind. */
	CHECK_INT(parse_str("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\n"
			    "---\napiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\n"
			    "metadata: {name: old}\n---\napiVersion: apps/v1\nkind: Deployment\n"
			    "metadata: {name: d}\n---\njust a string\n---\n{name: nokind}\n",
			    &res, err), 0);
	CHECK_INT(res.n_objects, 0);
	CHECK_INT(res.n_rejected, 0);
	CHECK_INT(res.n_ignored, 5);
	kdec_result_fini(&res);
}

/* ---- syntax errors ---- */

static void test_syntax_errors(void)
{
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];

	CHECK_INT(parse_file("data/syntax-bad.json", &res, err), -EBADMSG);
	CHECK_STR(err, "line 3 column 33: parse error: invalid object key (must be a string)");
	CHECK(res.objects == NULL);
	CHECK_INT(res.n_objects, 0);

	/* The good first document does not survive a broken second one. */
	CHECK_INT(parse_file("data/syntax-bad.yaml", &res, err), -EBADMSG);
	CHECK_STR(err, "line 12 column 14: mapping values are not allowed in this context");
	CHECK(res.objects == NULL);
	CHECK_INT(res.n_objects, 0);

	CHECK_INT(parse_str("{\"kind\": \"Service\"", &res, err), -EBADMSG);
	CHECK_STR(err, "line 1 column 19: parse error: premature EOF");
	CHECK_INT(parse_str("a: [1, 2\nb: 3\n", &res, err), -EBADMSG);
	CHECK(strncmp(err, "line 2 column ", 14) == 0);
	CHECK(strstr(err, "while parsing a flow sequence"));
	CHECK_INT(parse_str("a: *nope\n", &res, err), -EBADMSG);
	CHECK_STR(err, "line 1 column 4: aliases (*nope) are not supported");
	CHECK_INT(parse_str("\xef\xbb\xbf{\"kind\": 1}", &res, err), 0);
	CHECK_INT(res.n_ignored, 1);
	kdec_result_fini(&res);
}

/* ---- single objects, as a watch stream decodes them ---- */

static int first_doc(struct doc *root, void *data)
{
	*(struct doc **)data = root;
	return 1;
}

static void test_from_doc(void)
{
	static const char svc_json[] =
		"{\"metadata\":{\"name\":\"w\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"10.0.0.9\","
		"\"ports\":[{\"port\":70000}]}}";
	static const char slice_json[] =
		"{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
		"\"metadata\":{\"name\":\"w-1\",\"namespace\":\"n\"},\"addressType\":\"IPv4\"}";
	struct model_service *svc = NULL;
	struct model_slice *slice = NULL;
	struct kdec_object o = { 0 };
	struct doc *root = NULL;
	struct doc_json *j;
	char err[KDEC_ERR_MAX];

	CHECK_INT(doc_json_new(first_doc, &root, &j), 0);
	CHECK_INT(doc_json_feed(j, svc_json, strlen(svc_json)), 0);
	doc_json_free(j);
	CHECK(root);
	CHECK_INT(kdec_service_from_doc(root, &svc, err, sizeof(err)), -EINVAL);
	CHECK(svc == NULL);
	CHECK_STR(err, "Service n/w: spec.ports[0].port: 70000 is out of range 1-65535");
	/* No kind: kdec_object_from_doc cannot tell what it is. */
	CHECK_INT(kdec_object_from_doc(root, &o, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "object: kind: required field is missing");
	doc_free(root);

	root = NULL;
	CHECK_INT(doc_json_new(first_doc, &root, &j), 0);
	CHECK_INT(doc_json_feed(j, slice_json, strlen(slice_json)), 0);
	doc_json_free(j);
	CHECK_INT(kdec_slice_from_doc(root, &slice, err, sizeof(err)), 0);
	CHECK_STR(slice->name, "w-1");
	model_slice_free(slice);
	CHECK_INT(kdec_object_from_doc(root, &o, err, sizeof(err)), 1);
	CHECK_INT(o.kind, KDEC_SLICE);
	CHECK_STR(o.desc, "EndpointSlice n/w-1");
	kdec_object_fini(&o);
	CHECK(o.slice == NULL);
	doc_free(root);
}

static struct doc *json_doc(const char *text)
{
	struct doc *root = NULL;
	struct doc_json *j;

	CHECK_INT(doc_json_new(first_doc, &root, &j), 0);
	CHECK_INT(doc_json_feed(j, text, strlen(text)), 0);
	CHECK_INT(doc_json_finish(j), 0);
	doc_json_free(j);
	CHECK(root);
	return root;
}

/* A Node: labels, pod CIDRs, InternalIP before ExternalIP (whatever the
 * order in the object), no Hostname; heartbeats do not make it unequal. */
static void test_node(void)
{
	static const char node_json[] =
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"node-1\",\"resourceVersion\":\"7\","
		"\"labels\":{\"topology.kubernetes.io/zone\":\"zone-a\",\"a\":\"b\"}},"
		"\"spec\":{\"podCIDRs\":[\"10.244.1.7/24\",\"fd00:10:244:1::/64\"]},"
		"\"status\":{\"addresses\":[{\"type\":\"ExternalIP\",\"address\":\"2001:db8::1\"},"
		"{\"type\":\"Hostname\",\"address\":\"node-1\"},"
		"{\"type\":\"InternalIP\",\"address\":\"192.0.2.1\"}],"
		"\"conditions\":[{\"type\":\"Ready\",\"lastHeartbeatTime\":\"%s\"}]}}";
	char text[1024], err[KDEC_ERR_MAX], buf[IP_ADDR_STRLEN];
	struct model_node *a = NULL, *b = NULL;
	struct model *m;
	struct doc *root;

	snprintf(text, sizeof(text), node_json, "2026-12-01T00:00:00Z");
	root = json_doc(text);
	CHECK_INT(kdec_node_from_doc(root, &a, err, sizeof(err)), 0);
	doc_free(root);
	CHECK_STR(a->name, "node-1");
	CHECK_STR(kv_get(a->labels, a->n_labels, NODE_ZONE_LABEL), "zone-a");
	CHECK_INT(a->n_addrs, 2);
	CHECK_STR(ip_addr_fmt(&a->addrs[0], buf), "192.0.2.1");
	CHECK_STR(ip_addr_fmt(&a->addrs[1], buf), "2001:db8::1");
	CHECK_INT(a->n_pod_cidrs, 2);
	/* Host bits zeroed, as Go's ParseCIDR. */
	CHECK_STR(ip_addr_fmt(&a->pod_cidrs[0].addr, buf), "10.244.1.0");
	CHECK_INT(a->pod_cidrs[0].len, 24);

	snprintf(text, sizeof(text), node_json, "2026-12-01T00:00:10Z");
	root = json_doc(text);
	CHECK_INT(kdec_node_from_doc(root, &b, err, sizeof(err)), 0);
	doc_free(root);
	CHECK(model_node_equal(a, b));
	CHECK_INT(model_new(&m), 0);
	CHECK_INT(model_node_set(m, a), 1);
	CHECK_INT(model_node_set(m, b), 0);  /* a heartbeat: nothing changed, b freed */
	CHECK(model_node_get(m) == a);
	root = json_doc("{\"metadata\":{\"name\":\"node-1\"},\"spec\":{\"podCIDR\":\"10.1.0.0/16\"}}");
	CHECK_INT(kdec_node_from_doc(root, &b, err, sizeof(err)), 0);
	doc_free(root);
	CHECK_INT(b->n_pod_cidrs, 1);
	CHECK_INT(model_node_set(m, b), 1);
	CHECK(model_node_get(m) == b);
	CHECK_INT(model_node_set(m, NULL), 1);
	CHECK(model_node_get(m) == NULL);
	model_free(m);

	/* Errors name the node and the field. */
	root = json_doc("{\"metadata\":{\"name\":\"node-1\"},\"status\":{\"addresses\":"
			"[{\"type\":\"InternalIP\"}]}}");
	CHECK_INT(kdec_node_from_doc(root, &b, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "Node node-1: status.addresses[0].address: required field is missing");
	doc_free(root);
	root = json_doc("{\"metadata\":{\"name\":\"node-1\"},\"spec\":{\"podCIDRs\":[\"10.1.0.0\"]}}");
	CHECK_INT(kdec_node_from_doc(root, &b, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "Node node-1: spec.podCIDRs[0]: \"10.1.0.0\" is not a CIDR (address/length)");
	doc_free(root);
}


/* Nodes in manifests: decoded only when asked for (the manifest source
 * does), cluster-scoped in descriptions and rejections. */
static void test_node_manifests(void)
{
	static const char y[] =
		"apiVersion: v1\nkind: Node\nmetadata: {name: node-1, labels: {"
		"topology.kubernetes.io/zone: zone-a}}\n"
		"spec: {podCIDRs: [10.244.1.0/24]}\n"
		"status: {addresses: [{type: InternalIP, address: 192.0.2.1}]}\n"
		"---\napiVersion: v1\nkind: Node\nmetadata: {name: node-2}\n"
		"spec: {podCIDRs: [nope]}\n"
		"---\napiVersion: v1\nkind: NodeList\nitems:\n- metadata: {name: node-3}\n"
		"---\nkind: Node\nmetadata: {name: node-4}\n"
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.0.0.1}\n";
	struct kdec_result res = { 0 };
	char err[KDEC_ERR_MAX];

	/* Without the flag: ignored, as any kind nftproxy does not use. */
	CHECK_INT(parse_str(y, &res, err), 0);
	CHECK_INT(res.n_objects, 1);
	CHECK_INT(res.n_rejected, 0);
	CHECK_INT(res.n_ignored, 4);
	kdec_result_fini(&res);

	CHECK_INT(kdec_parse_buffer_flags(y, strlen(y), "test", KDEC_PARSE_NODES, &res, err,
					  sizeof(err)), 0);
	CHECK_INT(res.n_objects, 3);
	CHECK_INT(res.objects[0].kind, KDEC_NODE);
	CHECK_STR(res.objects[0].desc, "Node node-1");
	CHECK(res.objects[0].svc == NULL && res.objects[0].slice == NULL);
	CHECK_STR(res.objects[0].node->name, "node-1");
	CHECK_INT(res.objects[0].node->n_addrs, 1);
	check_ip(&res.objects[0].node->addrs[0], "192.0.2.1");
	CHECK_INT(res.objects[0].node->n_pod_cidrs, 1);
	CHECK_STR(kv_get(res.objects[0].node->labels, res.objects[0].node->n_labels,
			 NODE_ZONE_LABEL), "zone-a");
	/* A NodeList's items inherit kind and apiVersion. */
	CHECK_INT(res.objects[1].kind, KDEC_NODE);
	CHECK_STR(res.objects[1].desc, "Node node-3");
	CHECK_INT(res.objects[2].kind, KDEC_SERVICE);
	CHECK_INT(res.n_rejected, 2);
	CHECK_INT(res.rejected[0].kind, KDEC_NODE);
	CHECK(res.rejected[0].ns == NULL);
	CHECK_STR(res.rejected[0].name, "node-2");
	CHECK_STR(res.rejected[0].error,
		  "Node node-2: spec.podCIDRs[0]: \"nope\" is not a CIDR (address/length)");
	CHECK_INT(res.rejected[1].kind, KDEC_NODE);
	CHECK(res.rejected[1].ns == NULL);
	CHECK_STR(res.rejected[1].name, "node-4");
	CHECK_STR(res.rejected[1].error, "Node node-4: apiVersion: required field is missing");
	kdec_result_fini(&res);
}

int main(void)
{
	RUN(test_yaml_scalars);
	RUN(test_yaml_errors);
	RUN(test_json_incremental);
	RUN(test_doc_helpers);
	RUN(test_service_full);
	RUN(test_service_defaults);
	RUN(test_quoted_ports);
	RUN(test_service_topology);
	RUN(test_service_lb_ingress);
	RUN(test_slice_full);
	RUN(test_slice_fqdn_and_ipv6);
	RUN(test_multi_document);
	RUN(test_lists);
	RUN(test_bad_file);
	RUN(test_service_validation);
	RUN(test_slice_validation);
	RUN(test_ignored_kinds);
	RUN(test_syntax_errors);
	RUN(test_from_doc);
	RUN(test_node);
	RUN(test_node_manifests);
	fprintf(stderr, "test_decode: all passed\n");
	return 0;
}
