#include "lib/model/store.h"
#include "lib/model/addrs.h"
#include "lib/util/hmap.h"
#include "lib/util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PROXY_NAME_LABEL "service.kubernetes.io/service-proxy-name"

struct svc_entry {
	struct model_service *svc;
	char key[];                /* "ns/name": the services map's key */
};

struct slice_group;

struct slice_entry {
	struct model_slice *slice;
	struct slice_group *group; /* the slices of its service; NULL when it names none */
	char key[];                /* "ns/name": the slices map's key */
};

/* The slices of one service (which need not exist yet), kept sorted by
 * name so that merging them is deterministic. */
struct slice_group {
	struct slice_entry **items;
	size_t n, cap;
	char key[];                /* "ns/service": the groups map's key */
};

struct model {
	struct hmap services;      /* "ns/name" → struct svc_entry */
	struct hmap slices;        /* "ns/name" → struct slice_entry */
	/* "ns/service" → struct slice_group: merging a service reads only its
	 * own slices, whatever the size of the cluster. */
	struct hmap groups;
	struct hmap dirty;         /* "ns/name" → the same heap string */
	struct model_addrs addrs;  /* who holds which cluster IP */
	struct model_node *node;   /* this node, or NULL */
	unsigned node_gen;
	struct model_counters counters;
	double *triggers;          /* trigger times of slice changes not taken yet */
	size_t n_triggers, cap_triggers;
};

/* At most this many trigger times wait for a sync: a sync that cannot run
 * (the kernel refuses) must not grow them without bound. */
#define MODEL_MAX_TRIGGERS 4096

static void trigger_note(struct model *m, double t)
{
	if (t <= 0 || m->n_triggers >= MODEL_MAX_TRIGGERS)
		return;
	if (m->n_triggers == m->cap_triggers) {
		size_t ncap = m->cap_triggers ? m->cap_triggers * 2 : 16;
		double *p = realloc(m->triggers, ncap * sizeof(*p));

		if (!p)
			return; /* a lost observation, not a lost change */
		m->triggers = p;
		m->cap_triggers = ncap;
	}
	m->triggers[m->n_triggers++] = t;
}

const struct model_counters *model_counters(const struct model *m)
{
	return &m->counters;
}

int model_take_triggers(struct model *m, double **out)
{
	size_t n = m->n_triggers;

	*out = NULL;
	if (!n)
		return 0;
	*out = malloc(n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, m->triggers, n * sizeof(**out));
	m->n_triggers = 0;
	return (int)n;
}

/* A "ns/name" key: in buf when it fits, else in *heap (the caller frees
 * it). NULL when out of memory. */
static const char *model_key(char *buf, size_t size, const char *ns, const char *name,
			     char **heap)
{
	int n = snprintf(buf, size, "%s/%s", ns, name);

	*heap = NULL;
	if (n >= 0 && (size_t)n < size)
		return buf;
	if (asprintf(heap, "%s/%s", ns, name) < 0) {
		*heap = NULL;
		return NULL;
	}
	return *heap;
}

/* malloc'ed struct of `size` bytes ending in a "ns/name" flexible key. */
static void *model_entry_alloc(size_t size, const char *ns, const char *name)
{
	size_t len = strlen(ns) + 1 + strlen(name) + 1;
	char *p = calloc(1, size + len);

	if (p)
		snprintf(p + size, len, "%s/%s", ns, name);
	return p;
}

int model_new(struct model **out)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	hmap_init(&m->services);
	hmap_init(&m->slices);
	hmap_init(&m->groups);
	hmap_init(&m->dirty);
	maddr_init(&m->addrs);
	*out = m;
	return 0;
}

void model_free(struct model *m)
{
	const char *key;
	void *v;

	if (!m)
		return;
	for (size_t i = 0; hmap_next(&m->services, &i, &key, &v);) {
		struct svc_entry *e = v;

		model_service_free(e->svc);
		free(e);
	}
	for (size_t i = 0; hmap_next(&m->slices, &i, &key, &v);) {
		struct slice_entry *e = v;

		model_slice_free(e->slice);
		free(e);
	}
	for (size_t i = 0; hmap_next(&m->groups, &i, &key, &v);) {
		struct slice_group *g = v;

		free(g->items);
		free(g);
	}
	for (size_t i = 0; hmap_next(&m->dirty, &i, &key, &v);)
		free(v);
	hmap_fini(&m->services);
	hmap_fini(&m->slices);
	hmap_fini(&m->groups);
	hmap_fini(&m->dirty);
	maddr_fini(&m->addrs);
	model_node_free(m->node);
	free(m->triggers);
	free(m);
}

const char *model_service_ignored(const struct model_service *svc)
{
	if (svc->headless)
		return "headless (clusterIP: None)";
	if (svc->type == SVC_TYPE_EXTERNAL_NAME)
		return "type ExternalName";
	if (kv_get(svc->labels, svc->n_labels, PROXY_NAME_LABEL))
		return "labelled " PROXY_NAME_LABEL " (served by another proxy)";
	if (!svc->n_cluster_ips)
		return "no cluster IP";
	return NULL;
}

static int dirty_mark(struct model *m, const char *key)
{
	return hmap_strset_add(&m->dirty, key);
}

/* ---- the node ---- */

int model_node_set(struct model *m, struct model_node *node)
{
	if (model_node_equal(m->node, node)) {
		if (node != m->node)
			model_node_free(node);
		return 0;
	}
	model_node_free(m->node);
	m->node = node;
	m->node_gen++;
	if (model_mark_all_dirty(m) < 0)
		log_warn("node changed; out of memory marking the services for a sync, "
			 "the next full resync applies it");
	return 1;
}

unsigned model_node_gen(const struct model *m)
{
	return m->node_gen;
}

const struct model_node *model_node_get(const struct model *m)
{
	return m->node;
}

/* ---- services ---- */

/* A cluster IP of service key came or went (old -> new): the services
 * that claim it as an external or LB IP compile differently now. */
static void mark_claimants(struct model *m, const char *key, const struct model_service *old,
			   const struct model_service *new)
{
	const char *k;
	void *v;

	for (size_t i = 0; hmap_next(&m->services, &i, &k, &v);) {
		const struct svc_entry *e = v;

		if (strcmp(k, key) != 0 && maddr_claims(e->svc, old, new) && dirty_mark(m, k) < 0)
			log_warn("service %s claims an address of service %s; out of memory "
				 "marking it for a sync, the next full resync looks again", k, key);
	}
}

const char *model_cluster_ip_owner(const struct model *m, const struct ip_addr *ip)
{
	return maddr_cluster_owner(&m->addrs, ip);
}

int model_service_upsert(struct model *m, struct model_service *svc)
{
	struct svc_entry *e, *fresh;
	char buf[256], *heap;
	const char *key;
	bool claims;
	char *rv;
	int r;

	if (!svc || !svc->ns || !svc->name) {
		model_service_free(svc);
		return -EINVAL;
	}
	key = model_key(buf, sizeof(buf), svc->ns, svc->name, &heap);
	if (!key) {
		model_service_free(svc);
		return -ENOMEM;
	}
	e = hmap_get(&m->services, key);
	if (e && model_service_equal(e->svc, svc)) {
		/* Keep the newest resourceVersion; nothing else changed. */
		rv = e->svc->resource_version;
		e->svc->resource_version = svc->resource_version;
		svc->resource_version = rv;
		model_service_free(svc);
		free(heap);
		return 0;
	}
	/* Dirty first: if what follows fails, a service is synced for
	 * nothing, which is harmless; the reverse would lose a change. */
	r = dirty_mark(m, key);
	if (r < 0)
		goto fail;
	if (!e) {
		fresh = model_entry_alloc(sizeof(*fresh), svc->ns, svc->name);
		if (!fresh) {
			r = -ENOMEM;
			goto fail;
		}
		fresh->svc = svc;
		r = hmap_put(&m->services, fresh->key, fresh, NULL);
		if (r < 0) {
			free(fresh);
			goto fail;
		}
	}
	r = maddr_update(&m->addrs, key, e ? e->svc : NULL, svc, &claims);
	if (r < 0) {
		if (!e)
			free(hmap_del(&m->services, key));
		goto fail;
	}
	if (claims)
		mark_claimants(m, key, e ? e->svc : NULL, svc);
	m->counters.service_changes++;
	m->counters.service_pending++;
	if (e) {
		model_service_free(e->svc);
		e->svc = svc;
	}
	free(heap);
	return 0;
fail:
	free(heap);
	model_service_free(svc);
	return r;
}

int model_service_delete(struct model *m, const char *ns, const char *name)
{
	struct svc_entry *e;
	char buf[256], *heap;
	const char *key;
	int r;

	key = model_key(buf, sizeof(buf), ns, name, &heap);
	if (!key)
		return -ENOMEM;
	e = hmap_get(&m->services, key);
	r = e ? dirty_mark(m, key) : -ENOENT;
	if (r >= 0) {
		bool claims;

		m->counters.service_changes++;
		m->counters.service_pending++;
		/* Removing only: cannot fail. */
		(void)maddr_update(&m->addrs, key, e->svc, NULL, &claims);
		if (claims)
			mark_claimants(m, key, e->svc, NULL);
		hmap_del(&m->services, key);
		model_service_free(e->svc);
		free(e);
	}
	free(heap);
	return r;
}

const struct model_service *model_service_get(const struct model *m, const char *ns,
					       const char *name)
{
	struct svc_entry *e;
	char buf[256], *heap;
	const char *key;

	key = model_key(buf, sizeof(buf), ns, name, &heap);
	if (!key)
		return NULL;
	e = hmap_get(&m->services, key);
	free(heap);
	return e ? e->svc : NULL;
}

size_t model_service_count(const struct model *m)
{
	return m->services.len;
}

int model_service_foreach(const struct model *m,
			  int (*fn)(const struct model_service *svc, void *data), void *data)
{
	const char *key;
	void *v;
	int r;

	for (size_t i = 0; hmap_next(&m->services, &i, &key, &v);) {
		r = fn(((struct svc_entry *)v)->svc, data);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- slice groups ---- */

static int group_get_or_create(struct model *m, const char *ns, const char *service,
			       struct slice_group **out)
{
	struct slice_group *g;
	char buf[256], *heap;
	const char *key;
	int r;

	key = model_key(buf, sizeof(buf), ns, service, &heap);
	if (!key)
		return -ENOMEM;
	g = hmap_get(&m->groups, key);
	free(heap);
	if (g) {
		*out = g;
		return 0;
	}
	g = model_entry_alloc(sizeof(*g), ns, service);
	if (!g)
		return -ENOMEM;
	r = hmap_put(&m->groups, g->key, g, NULL);
	if (r < 0) {
		free(g);
		return r;
	}
	*out = g;
	return 0;
}

static void group_drop_if_empty(struct model *m, struct slice_group *g)
{
	if (!g || g->n)
		return;
	hmap_del(&m->groups, g->key);
	free(g->items);
	free(g);
}

static int group_reserve(struct slice_group *g)
{
	size_t ncap;
	void *p;

	if (g->n < g->cap)
		return 0;
	ncap = g->cap ? g->cap * 2 : 2;
	p = reallocarray(g->items, ncap, sizeof(*g->items));
	if (!p)
		return -ENOMEM;
	g->items = p;
	g->cap = ncap;
	return 0;
}

/* Needs room (group_reserve). */
static void group_insert(struct slice_group *g, struct slice_entry *e)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(g->items[mid]->slice->name, e->slice->name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&g->items[lo + 1], &g->items[lo], (g->n - lo) * sizeof(*g->items));
	g->items[lo] = e;
	g->n++;
	e->group = g;
}

static void group_remove(struct model *m, struct slice_entry *e)
{
	struct slice_group *g = e->group;

	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++) {
		if (g->items[i] == e) {
			memmove(&g->items[i], &g->items[i + 1], (g->n - i - 1) * sizeof(*g->items));
			g->n--;
			break;
		}
	}
	e->group = NULL;
	group_drop_if_empty(m, g);
}

/* ---- slices ---- */

int model_slice_upsert(struct model *m, struct model_slice *slice)
{
	struct slice_group *g = NULL;
	struct slice_entry *e;
	char buf[256], *heap;
	const char *key;
	char *rv;
	int r;

	if (!slice || !slice->ns || !slice->name) {
		model_slice_free(slice);
		return -EINVAL;
	}
	key = model_key(buf, sizeof(buf), slice->ns, slice->name, &heap);
	if (!key) {
		model_slice_free(slice);
		return -ENOMEM;
	}
	e = hmap_get(&m->slices, key);
	free(heap);
	if (e && model_slice_equal(e->slice, slice)) {
		rv = e->slice->resource_version;
		e->slice->resource_version = slice->resource_version;
		slice->resource_version = rv;
		model_slice_free(slice);
		return 0;
	}
	/* Everything that can fail comes first, dirt before the rest (see
	 * model_service_upsert); the old and the new owner are both dirty
	 * when the service-name label moved the slice. */
	r = e && e->group ? dirty_mark(m, e->group->key) : 0;
	if (r < 0)
		goto fail;
	if (slice->service_name) {
		r = group_get_or_create(m, slice->ns, slice->service_name, &g);
		if (r < 0)
			goto fail;
		r = dirty_mark(m, g->key);
		if (r >= 0 && (!e || e->group != g))
			r = group_reserve(g);
		if (r < 0)
			goto fail_group;
	}
	if (!e) {
		e = model_entry_alloc(sizeof(*e), slice->ns, slice->name);
		if (!e) {
			r = -ENOMEM;
			goto fail_group;
		}
		r = hmap_put(&m->slices, e->key, e, NULL);
		if (r < 0) {
			free(e);
			goto fail_group;
		}
	}
	/* From here nothing fails. */
	m->counters.endpoint_changes++;
	m->counters.endpoint_pending++;
	trigger_note(m, slice->trigger_time);
	if (e->group != g)
		group_remove(m, e);
	model_slice_free(e->slice);
	e->slice = slice;
	if (g && e->group != g)
		group_insert(g, e);
	return 0;
fail_group:
	group_drop_if_empty(m, g);
fail:
	model_slice_free(slice);
	return r;
}

int model_slice_delete(struct model *m, const char *ns, const char *name)
{
	struct slice_entry *e;
	char buf[256], *heap;
	const char *key;
	int r;

	key = model_key(buf, sizeof(buf), ns, name, &heap);
	if (!key)
		return -ENOMEM;
	e = hmap_get(&m->slices, key);
	r = !e ? -ENOENT : e->group ? dirty_mark(m, e->group->key) : 0;
	if (r >= 0) {
		m->counters.endpoint_changes++;
		m->counters.endpoint_pending++;
		hmap_del(&m->slices, key);
		group_remove(m, e);
		model_slice_free(e->slice);
		free(e);
	}
	free(heap);
	return r;
}

size_t model_slice_count(const struct model *m)
{
	return m->slices.len;
}

const struct model_slice *model_slice_get(const struct model *m, const char *ns,
					   const char *name)
{
	struct slice_entry *e;
	char buf[256], *heap;
	const char *key;

	key = model_key(buf, sizeof(buf), ns, name, &heap);
	if (!key)
		return NULL;
	e = hmap_get(&m->slices, key);
	free(heap);
	return e ? e->slice : NULL;
}

/* ---- dirty set ---- */

size_t model_dirty_count(const struct model *m)
{
	return m->dirty.len;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int model_take_dirty(struct model *m, char ***keys)
{
	size_t n = m->dirty.len, k = 0;
	const char *key;
	char **v;
	void *val;

	m->counters.service_pending = 0;
	m->counters.endpoint_pending = 0;
	if (!n) {
		*keys = NULL;
		return 0;
	}
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; hmap_next(&m->dirty, &i, &key, &val);)
		v[k++] = val;
	/* Sorted, so that syncs and their logs do not depend on hashing. */
	qsort(v, k, sizeof(*v), key_cmp);
	hmap_fini(&m->dirty);
	*keys = v;
	return (int)k;
}

int model_mark_dirty(struct model *m, const char *key)
{
	return dirty_mark(m, key);
}

int model_mark_all_dirty(struct model *m)
{
	const char *key;
	void *v;
	int r;

	for (size_t i = 0; hmap_next(&m->services, &i, &key, &v);) {
		r = dirty_mark(m, key);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- endpoints ---- */

struct ep_sort {
	struct model_endpoint ep;
	size_t seq;                /* order of discovery: the first seen wins */
};

static int ep_sort_cmp(const void *a, const void *b)
{
	const struct ep_sort *x = a, *y = b;
	int r = ip_addr_cmp(&x->ep.addr, &y->ep.addr);

	if (r)
		return r;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The slice port serving service port sp: same name (NULL and "" alike)
 * and protocol, with a port number. */
static const struct slice_port *slice_port_for(const struct model_slice *s,
					       const struct svc_port *sp)
{
	const char *want = sp->name ? sp->name : "";

	for (size_t i = 0; i < s->n_ports; i++) {
		const struct slice_port *p = &s->ports[i];

		if (p->has_port && p->protocol == sp->protocol &&
		    strcmp(p->name ? p->name : "", want) == 0)
			return p;
	}
	return NULL;
}

size_t model_local_ready(const struct model *m, const struct model_service *svc,
			 const char *node, int family)
{
	const struct slice_group *g;
	struct ip_addr *seen = NULL;
	size_t n = 0, cap = 0;
	char buf[256], *heap;
	const char *key;

	if (!node)
		return 0;
	key = model_key(buf, sizeof(buf), svc->ns, svc->name, &heap);
	if (!key)
		return 0;
	g = hmap_get(&m->groups, key);
	free(heap);
	for (size_t i = 0; g && i < g->n; i++) {
		const struct model_slice *s = g->items[i]->slice;

		for (size_t j = 0; j < s->n_endpoints; j++) {
			const struct slice_endpoint *se = &s->endpoints[j];
			bool dup = false;

			if (!se->n_addrs || se->addr.family != family || !slice_endpoint_ready(se) ||
			    !se->node_name || strcmp(se->node_name, node) != 0)
				continue;
			for (size_t k = 0; k < n && !dup; k++)
				dup = ip_addr_eq(&seen[k], &se->addr);
			if (dup)
				continue;
			if (n == cap) {
				struct ip_addr *p = realloc(seen, (cap ? cap * 2 : 8) * sizeof(*p));

				if (!p)
					break; /* a lower count, logged nowhere: ENOMEM */
				seen = p;
				cap = cap ? cap * 2 : 8;
			}
			seen[n++] = se->addr;
		}
	}
	free(seen);
	return n;
}

int model_endpoints(const struct model *m, const struct model_service *svc,
		    const struct svc_port *port, int family, struct model_endpoint **out)
{
	enum slice_addr_type want = family == AF_INET6 ? SLICE_ADDR_IPV6 : SLICE_ADDR_IPV4;
	struct ep_sort *all = NULL;
	struct model_endpoint *res;
	const struct slice_group *g;
	char buf[256], *heap;
	size_t n = 0, k = 0;
	const char *key;

	key = model_key(buf, sizeof(buf), svc->ns, svc->name, &heap);
	if (!key)
		return -ENOMEM;
	g = hmap_get(&m->groups, key);
	free(heap);
	if (!g)
		goto none;
	for (size_t i = 0; i < g->n; i++) {
		const struct model_slice *s = g->items[i]->slice;

		if (s->addr_type == want && slice_port_for(s, port))
			n += s->n_endpoints;
	}
	if (!n)
		goto none;
	all = calloc(n, sizeof(*all));
	if (!all)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < g->n; i++) {
		const struct model_slice *s = g->items[i]->slice;
		const struct slice_port *sp;

		if (s->addr_type != want || !(sp = slice_port_for(s, port)))
			continue;
		for (size_t j = 0; j < s->n_endpoints; j++) {
			const struct slice_endpoint *se = &s->endpoints[j];
			struct ep_sort *x = &all[n];

			/* kube-proxy uses an endpoint's first address only. */
			if (!se->n_addrs || se->addr.family != family)
				continue;
			x->ep.addr = se->addr;
			x->ep.port = sp->port;
			x->ep.ready = slice_endpoint_ready(se);
			x->ep.serving = slice_endpoint_serving(se);
			x->ep.terminating = slice_endpoint_terminating(se);
			x->ep.node_name = se->node_name;
			x->ep.zone = se->zone;
			x->ep.src = se;
			x->seq = n++;
		}
	}
	qsort(all, n, sizeof(*all), ep_sort_cmp);
	/* After the sort each address's first sighting leads its run. */
	res = calloc(n ? n : 1, sizeof(*res));
	if (!res) {
		free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (!k || !ip_addr_eq(&res[k - 1].addr, &all[i].ep.addr))
			res[k++] = all[i].ep;
	free(all);
	if (!k) {
		free(res);
		goto none;
	}
	*out = res;
	return (int)k;
none:
	*out = NULL;
	return 0;
}
