#include "tests/fuzz/fuzz.h"
#include "lib/kube/decode.h"
#include "lib/kube/reflector.h"
#include "lib/model/store.h"
#include "lib/util/utf8.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

static int fuzz_fd = 2;

void fuzz_init(void)
{
	/* LLVMFuzzerInitialize runs before libFuzzer closes stderr. */
	int fd = dup(2);

	if (fd >= 0)
		fuzz_fd = fd;
}

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	dprintf(fuzz_fd, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vdprintf(fuzz_fd, fmt, ap);
	va_end(ap);
	dprintf(fuzz_fd, "\n");
	abort();
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t fnv_size(uint64_t h, size_t n)
{
	uint64_t v = n;

	return fnv(h, &v, sizeof(v));
}

/* doc_describe into the tail of a heap block, so that writing one byte past
 * `size` is a heap overflow ASan reports. */
static void check_describe(const struct doc *d)
{
	static const size_t sizes[] = { 1, 7, 8, 9, 16, 96 };
	char *block = malloc(96);

	FUZZ_CHECK(block != NULL, "out of memory");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *buf = block + 96 - sizes[i];

		FUZZ_CHECK(doc_describe(d, buf, sizes[i]) == buf, "returns buf");
		FUZZ_CHECK(strnlen(buf, sizes[i]) < sizes[i], "size %zu: not terminated", sizes[i]);
	}
	free(block);
}

/* Expected result of a typed getter for value v: "absent or null" is
 * -ENOENT, another type -EINVAL. */
static int want_typed(const struct doc *v, enum doc_type t)
{
	if (v->type == DOC_NULL)
		return -ENOENT;
	return v->type == t ? 0 : -EINVAL;
}

/* Maps can hold thousands of keys; checking the first ones keeps an
 * execution linear-ish while still covering duplicates near the top. */
#define MAP_KEYS_CHECKED 32

static void check_map_key(const struct doc *map, size_t i)
{
	const char *key = map->map.items[i].key;
	const struct doc *last = NULL, *got;
	const char *s;
	int64_t n;
	bool b;
	int r;

	for (size_t j = map->map.n; j-- > 0;)
		if (strcmp(map->map.items[j].key, key) == 0) {
			last = map->map.items[j].value;
			break;
		}
	FUZZ_CHECK(last != NULL, "key \"%s\" not found by itself", key);
	FUZZ_CHECK(doc_get(map, key) == last, "doc_get(\"%s\") is not the last value", key);

	r = doc_get_string(map, key, &s);
	if (last->type == DOC_NULL)
		FUZZ_CHECK(r == -ENOENT, "string \"%s\": %d", key, r);
	else if (doc_is_cstring(last))
		FUZZ_CHECK(r == 0 && s == last->str.ptr, "string \"%s\": %d", key, r);
	else
		FUZZ_CHECK(r == -EINVAL, "string \"%s\": %d", key, r);
	r = doc_get_int(map, key, &n);
	FUZZ_CHECK(r == want_typed(last, DOC_INT), "int \"%s\": %d", key, r);
	FUZZ_CHECK(r != 0 || n == last->i, "int \"%s\": value", key);
	r = doc_get_bool(map, key, &b);
	FUZZ_CHECK(r == want_typed(last, DOC_BOOL), "bool \"%s\": %d", key, r);
	FUZZ_CHECK(r != 0 || b == last->b, "bool \"%s\": value", key);
	r = doc_get_map(map, key, &got);
	FUZZ_CHECK(r == want_typed(last, DOC_MAP), "map \"%s\": %d", key, r);
	FUZZ_CHECK(r != 0 || got == last, "map \"%s\": value", key);
	r = doc_get_seq(map, key, &got);
	FUZZ_CHECK(r == want_typed(last, DOC_SEQ), "seq \"%s\": %d", key, r);
	FUZZ_CHECK(r != 0 || got == last, "seq \"%s\": value", key);
}

uint64_t fuzz_doc_walk(const struct doc *d, uint64_t h)
{
	unsigned char t;

	FUZZ_CHECK(d != NULL, "NULL node");
	FUZZ_CHECK(d->type >= DOC_NULL && d->type <= DOC_SEQ, "type %d", (int)d->type);
	t = (unsigned char)d->type;
	h = fnv(h, &t, 1);
	check_describe(d);
	if (d->type != DOC_MAP)
		FUZZ_CHECK(doc_get(d, "kind") == NULL, "doc_get on %s", doc_type_name(d->type));
	if (d->type != DOC_SEQ)
		FUZZ_CHECK(doc_at(d, 0) == NULL, "doc_at on %s", doc_type_name(d->type));
	switch (d->type) {
	case DOC_NULL:
		break;
	case DOC_BOOL:
		t = d->b;
		h = fnv(h, &t, 1);
		break;
	case DOC_INT:
		h = fnv(h, &d->i, sizeof(d->i));
		break;
	case DOC_FLOAT:
		h = fnv(h, &d->f, sizeof(d->f));
		break;
	case DOC_STRING:
		FUZZ_CHECK(d->str.ptr != NULL && d->str.ptr[d->str.len] == '\0',
			   "string not terminated");
		FUZZ_CHECK(doc_is_cstring(d) == (strlen(d->str.ptr) == d->str.len),
			   "doc_is_cstring");
		FUZZ_CHECK(utf8_valid(d->str.ptr, d->str.len), "a string that is not UTF-8");
		h = fnv(fnv_size(h, d->str.len), d->str.ptr, d->str.len);
		break;
	case DOC_MAP:
		FUZZ_CHECK(doc_len(d) == d->map.n, "doc_len of a map");
		h = fnv_size(h, d->map.n);
		for (size_t i = 0; i < d->map.n; i++) {
			const char *key = d->map.items[i].key;

			FUZZ_CHECK(key != NULL, "map item %zu without a key", i);
			FUZZ_CHECK(utf8_valid(key, strlen(key)), "key %zu is not UTF-8", i);
			if (i < MAP_KEYS_CHECKED)
				check_map_key(d, i);
			h = fnv(fnv_size(h, strlen(key)), key, strlen(key));
			h = fuzz_doc_walk(d->map.items[i].value, h);
		}
		break;
	case DOC_SEQ:
		FUZZ_CHECK(doc_len(d) == d->seq.n, "doc_len of a list");
		FUZZ_CHECK(doc_at(d, d->seq.n) == NULL, "doc_at past the end");
		h = fnv_size(h, d->seq.n);
		for (size_t i = 0; i < d->seq.n; i++) {
			FUZZ_CHECK(doc_at(d, i) == d->seq.items[i], "doc_at(%zu)", i);
			h = fuzz_doc_walk(d->seq.items[i], h);
		}
		break;
	}
	return h;
}

static void check_proto(uint8_t p, const char *what)
{
	FUZZ_CHECK(p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP, "%s protocol %u",
		   what, p);
}

static void check_family(int family, const char *what)
{
	FUZZ_CHECK(family == AF_INET || family == AF_INET6, "%s family %d", what, family);
}

void fuzz_check_service(const struct model_service *svc)
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

void fuzz_check_slice(const struct model_slice *s)
{
	FUZZ_CHECK(s->ns && s->name, "slice without namespace or name");
	FUZZ_CHECK(s->addr_type >= SLICE_ADDR_IPV4 && s->addr_type <= SLICE_ADDR_FQDN,
		   "addressType %d", (int)s->addr_type);
	for (size_t i = 0; i < s->n_ports; i++)
		check_proto(s->ports[i].protocol, "slice port");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const struct slice_endpoint *ep = &s->endpoints[i];

		if (ep->n_addrs)
			check_family(ep->addr.family, "endpoint address");
		for (size_t j = 0; ep->hints && j < ep->hints->n_zones; j++)
			FUZZ_CHECK(ep->hints->zones[j], "hint zone %zu", j);
		for (size_t j = 0; ep->hints && j < ep->hints->n_nodes; j++)
			FUZZ_CHECK(ep->hints->nodes[j], "hint node %zu", j);
	}
	for (size_t i = 0; i < s->n_labels; i++)
		FUZZ_CHECK(s->labels[i].key && s->labels[i].value, "label %zu", i);
}

int fuzz_node_upsert(void *model, const struct doc *obj, char *err, size_t err_size)
{
	struct model_node *node;
	int r = kdec_node_from_doc(obj, &node, err, err_size);

	if (r == 0)
		FUZZ_CHECK(node->name && *node->name, "a node without a name");
	return r < 0 ? r : model_node_set(model, node) < 0 ? -ENOMEM : 0;
}

int fuzz_node_remove(void *model, const char *ns, const char *name)
{
	FUZZ_CHECK(!*ns, "node %s with namespace \"%s\"", name, ns);
	model_node_set(model, NULL);
	return 0;
}

void fuzz_reflector_close(struct krefl *r, struct uv_loop_s *loop)
{
	krefl_close(r, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	FUZZ_CHECK(uv_loop_close(loop) == 0, "uv_loop_close");
}
