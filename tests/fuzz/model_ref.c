#include "tests/fuzz/model_ref.h"
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void model_ref_fini(struct model_ref *r)
{
	for (size_t i = 0; i < r->n_svcs; i++)
		model_service_free(r->svcs[i]);
	free(r->svcs);
	for (size_t i = 0; i < r->n_slices; i++)
		model_slice_free(r->slices[i]);
	free(r->slices);
	memset(r, 0, sizeof(*r));
}

static bool same_name(const char *ns, const char *name, const char *ns2, const char *name2)
{
	return strcmp(ns, ns2) == 0 && strcmp(name, name2) == 0;
}

/* Replaces items[i] when it has the name of v, else appends v. */
static void put(void ***items, size_t *n, size_t *cap, void *v, size_t found)
{
	if (found < *n) {
		(*items)[found] = v;
		return;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*items = reallocarray(*items, *cap, sizeof(**items));
		FUZZ_CHECK(*items != NULL, "out of memory");
	}
	(*items)[(*n)++] = v;
}

void model_ref_put_service(struct model_ref *r, struct model_service *svc)
{
	size_t i = 0;

	while (i < r->n_svcs && !same_name(r->svcs[i]->ns, r->svcs[i]->name, svc->ns, svc->name))
		i++;
	if (i < r->n_svcs)
		model_service_free(r->svcs[i]);
	put((void ***)&r->svcs, &r->n_svcs, &r->cap_svcs, svc, i);
}

void model_ref_put_slice(struct model_ref *r, struct model_slice *slice)
{
	size_t i = 0;

	while (i < r->n_slices &&
	       !same_name(r->slices[i]->ns, r->slices[i]->name, slice->ns, slice->name))
		i++;
	if (i < r->n_slices)
		model_slice_free(r->slices[i]);
	put((void ***)&r->slices, &r->n_slices, &r->cap_slices, slice, i);
}

void model_ref_delete_service(struct model_ref *r, const char *ns, const char *name)
{
	for (size_t i = 0; i < r->n_svcs; i++)
		if (same_name(r->svcs[i]->ns, r->svcs[i]->name, ns, name)) {
			model_service_free(r->svcs[i]);
			r->svcs[i] = r->svcs[--r->n_svcs];
			return;
		}
}

void model_ref_delete_slice(struct model_ref *r, const char *ns, const char *name)
{
	for (size_t i = 0; i < r->n_slices; i++)
		if (same_name(r->slices[i]->ns, r->slices[i]->name, ns, name)) {
			model_slice_free(r->slices[i]);
			r->slices[i] = r->slices[--r->n_slices];
			return;
		}
}

static bool str_eq(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

/* store.h: matched by port name (absent and "" alike) and protocol, and the
 * slice port must carry a number. */
static const struct slice_port *port_for(const struct model_slice *s, const struct svc_port *sp)
{
	for (size_t i = 0; i < s->n_ports; i++) {
		const struct slice_port *p = &s->ports[i];

		if (p->has_port && p->protocol == sp->protocol &&
		    str_eq(p->name ? p->name : "", sp->name ? sp->name : ""))
			return p;
	}
	return NULL;
}

static int slice_name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct model_slice *const *)a)->name,
		      (*(struct model_slice *const *)b)->name);
}

static int ep_cmp(const void *a, const void *b)
{
	return ip_addr_cmp(&((const struct model_endpoint *)a)->addr,
			   &((const struct model_endpoint *)b)->addr);
}

/* The service's slices of the family in name order, their endpoints in
 * order, the first one of each address kept, then sorted by address. */
static size_t ref_endpoints(const struct model_ref *r, const struct model_service *svc,
			    const struct svc_port *sp, int family, struct model_endpoint **out)
{
	enum slice_addr_type want = family == AF_INET6 ? SLICE_ADDR_IPV6 : SLICE_ADDR_IPV4;
	struct model_slice **mine = calloc(r->n_slices + 1, sizeof(*mine));
	struct model_endpoint *eps = NULL;
	size_t n_mine = 0, n = 0, total = 0;

	FUZZ_CHECK(mine != NULL, "out of memory");
	for (size_t i = 0; i < r->n_slices; i++) {
		struct model_slice *s = r->slices[i];

		if (s->service_name && strcmp(s->ns, svc->ns) == 0 &&
		    strcmp(s->service_name, svc->name) == 0 && s->addr_type == want) {
			mine[n_mine++] = s;
			total += s->n_endpoints;
		}
	}
	qsort(mine, n_mine, sizeof(*mine), slice_name_cmp);
	eps = calloc(total + 1, sizeof(*eps));
	FUZZ_CHECK(eps != NULL, "out of memory");
	for (size_t i = 0; i < n_mine; i++) {
		const struct slice_port *p = port_for(mine[i], sp);

		for (size_t j = 0; p && j < mine[i]->n_endpoints; j++) {
			const struct slice_endpoint *se = &mine[i]->endpoints[j];
			bool seen = false;

			if (!se->n_addrs || se->addr.family != family)
				continue;
			for (size_t k = 0; k < n && !seen; k++)
				seen = ip_addr_eq(&eps[k].addr, &se->addr);
			if (seen)
				continue;
			eps[n++] = (struct model_endpoint){
				.addr = se->addr,
				.port = p->port,
				.ready = slice_endpoint_ready(se),
				.serving = slice_endpoint_serving(se),
				.terminating = slice_endpoint_terminating(se),
				.node_name = se->node_name,
				.zone = se->zone,
				.src = se,
			};
		}
	}
	free(mine);
	qsort(eps, n, sizeof(*eps), ep_cmp);
	*out = eps;
	return n;
}

static void check_port(const struct model_ref *r, const struct model *m,
		       const struct model_service *svc, const struct svc_port *sp, int family)
{
	struct model_endpoint *want, *got = NULL;
	size_t n = ref_endpoints(r, svc, sp, family, &want);
	int k = model_endpoints(m, svc, sp, family, &got);

	FUZZ_CHECK(k >= 0 && (size_t)k == n, "%s/%s port %u family %d: %d endpoints, want %zu",
		   svc->ns, svc->name, sp->port, family, k, n);
	for (size_t i = 0; i < n; i++) {
		const struct model_endpoint *a = &got[i], *b = &want[i];

		FUZZ_CHECK(ip_addr_eq(&a->addr, &b->addr) && a->port == b->port &&
				   a->ready == b->ready && a->serving == b->serving &&
				   a->terminating == b->terminating &&
				   str_eq(a->node_name, b->node_name) && str_eq(a->zone, b->zone),
			   "%s/%s port %u family %d: endpoint %zu differs", svc->ns, svc->name,
			   sp->port, family, i);
	}
	free(got);
	free(want);
}

void model_ref_check(const struct model_ref *r, const struct model *m)
{
	FUZZ_CHECK(model_service_count(m) == r->n_svcs, "%zu services, want %zu",
		   model_service_count(m), r->n_svcs);
	FUZZ_CHECK(model_slice_count(m) == r->n_slices, "%zu slices, want %zu",
		   model_slice_count(m), r->n_slices);
	for (size_t i = 0; i < r->n_slices; i++) {
		const struct model_slice *s = r->slices[i];

		FUZZ_CHECK(model_slice_equal(model_slice_get(m, s->ns, s->name), s),
			   "slice %s/%s differs", s->ns, s->name);
	}
	for (size_t i = 0; i < r->n_svcs; i++) {
		const struct model_service *want = r->svcs[i];
		const struct model_service *svc = model_service_get(m, want->ns, want->name);

		FUZZ_CHECK(model_service_equal(svc, want), "service %s/%s differs", want->ns,
			   want->name);
		for (size_t j = 0; j < svc->n_ports; j++) {
			check_port(r, m, svc, &svc->ports[j], AF_INET);
			check_port(r, m, svc, &svc->ports[j], AF_INET6);
		}
	}
}
