#include "lib/model/addrs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* "6:" and 32 hex digits. */
#define MADDR_KEY_MAX 40

struct maddr_owner {
	char *owner;               /* "ns/name", owned */
	char key[];
};

struct maddr_claim {
	size_t n;                  /* services (times) claiming the address */
	char key[];
};

static void addr_key(char buf[MADDR_KEY_MAX], const struct ip_addr *ip)
{
	size_t n = ip_addr_len(ip);
	int k = snprintf(buf, MADDR_KEY_MAX, "%c:", ip->family == AF_INET6 ? '6' : '4');

	for (size_t i = 0; i < n; i++)
		k += snprintf(buf + k, MADDR_KEY_MAX - (size_t)k, "%02x", ip->bytes[i]);
}

static void *entry_new(size_t size, const char *key)
{
	size_t len = strlen(key) + 1;
	char *p = calloc(1, size + len);

	if (p)
		memcpy(p + size, key, len);
	return p;
}

void maddr_init(struct model_addrs *a)
{
	hmap_init(&a->cluster);
	hmap_init(&a->claimed);
	a->claims_incomplete = false;
}

void maddr_fini(struct model_addrs *a)
{
	const char *k;
	void *v;

	for (size_t i = 0; hmap_next(&a->cluster, &i, &k, &v);) {
		struct maddr_owner *o = v;

		free(o->owner);
		free(o);
	}
	for (size_t i = 0; hmap_next(&a->claimed, &i, &k, &v);)
		free(v);
	hmap_fini(&a->cluster);
	hmap_fini(&a->claimed);
}

static bool has_ip(const struct ip_addr *ips, size_t n, const struct ip_addr *ip)
{
	for (size_t i = 0; i < n; i++)
		if (ip_addr_eq(&ips[i], ip))
			return true;
	return false;
}

static bool is_claimed(const struct model_addrs *a, const char *k)
{
	return a->claims_incomplete || hmap_get(&a->claimed, k) != NULL;
}

/* Removes what cluster IP ip of key had in the index. */
static void cluster_del(struct model_addrs *a, const char *key, const struct ip_addr *ip,
			bool *changed)
{
	char k[MADDR_KEY_MAX];
	struct maddr_owner *o;

	addr_key(k, ip);
	o = hmap_get(&a->cluster, k);
	/* A duplicate cluster IP (manifests can have one) stays its first
	 * service's. */
	if (!o || strcmp(o->owner, key) != 0)
		return;
	hmap_del(&a->cluster, k);
	free(o->owner);
	free(o);
	*changed = *changed || is_claimed(a, k);
}

static void claim_add(struct model_addrs *a, const struct ip_addr *ip)
{
	char k[MADDR_KEY_MAX];
	struct maddr_claim *c;

	addr_key(k, ip);
	c = hmap_get(&a->claimed, k);
	if (!c) {
		c = entry_new(sizeof(*c), k);
		if (!c || hmap_put(&a->claimed, c->key, c, NULL) < 0) {
			free(c);
			a->claims_incomplete = true;
			return;
		}
	}
	c->n++;
}

static void claim_del(struct model_addrs *a, const struct ip_addr *ip)
{
	char k[MADDR_KEY_MAX];
	struct maddr_claim *c;

	addr_key(k, ip);
	c = hmap_get(&a->claimed, k);
	if (c && --c->n == 0) {
		hmap_del(&a->claimed, k);
		free(c);
	}
}

static void claims(struct model_addrs *a, const struct model_service *s,
		   void (*fn)(struct model_addrs *, const struct ip_addr *))
{
	for (size_t i = 0; s && i < s->n_external_ips; i++)
		fn(a, &s->external_ips[i]);
	for (size_t i = 0; s && i < s->n_lb_ingress_ips; i++)
		fn(a, &s->lb_ingress_ips[i]);
}

int maddr_update(struct model_addrs *a, const char *key, const struct model_service *old,
		 const struct model_service *new, bool *changed)
{
	struct maddr_owner *added[2] = { NULL, NULL };
	size_t n_new = new ? new->n_cluster_ips : 0;

	*changed = false;
	/* Cluster IPs: at most one per family (types.h). */
	if (n_new > 2)
		n_new = 2;
	for (size_t i = 0; i < n_new; i++) {
		char k[MADDR_KEY_MAX];

		addr_key(k, &new->cluster_ips[i]);
		if (hmap_get(&a->cluster, k))
			continue;
		added[i] = entry_new(sizeof(*added[i]), k);
		if (!added[i] || !(added[i]->owner = strdup(key)) ||
		    hmap_put(&a->cluster, added[i]->key, added[i], NULL) < 0)
			goto fail;
		*changed = *changed || is_claimed(a, k);
	}
	for (size_t i = 0; old && i < old->n_cluster_ips; i++)
		if (!new || !has_ip(new->cluster_ips, new->n_cluster_ips, &old->cluster_ips[i]))
			cluster_del(a, key, &old->cluster_ips[i], changed);
	/* New claims first, so that an address both had is never dropped. */
	claims(a, new, claim_add);
	claims(a, old, claim_del);
	return 0;
fail:
	for (size_t i = 0; i < 2; i++) {
		if (!added[i])
			continue;
		if (hmap_get(&a->cluster, added[i]->key) == added[i])
			hmap_del(&a->cluster, added[i]->key);
		free(added[i]->owner);
		free(added[i]);
	}
	*changed = false;
	return -ENOMEM;
}

static bool claims_any(const struct model_service *svc, const struct model_service *s)
{
	for (size_t i = 0; s && i < s->n_cluster_ips; i++)
		if (has_ip(svc->external_ips, svc->n_external_ips, &s->cluster_ips[i]) ||
		    has_ip(svc->lb_ingress_ips, svc->n_lb_ingress_ips, &s->cluster_ips[i]))
			return true;
	return false;
}

bool maddr_claims(const struct model_service *svc, const struct model_service *old,
		  const struct model_service *new)
{
	return claims_any(svc, old) || claims_any(svc, new);
}

const char *maddr_cluster_owner(const struct model_addrs *a, const struct ip_addr *ip)
{
	char k[MADDR_KEY_MAX];
	const struct maddr_owner *o;

	addr_key(k, ip);
	o = hmap_get(&a->cluster, k);
	return o ? o->owner : NULL;
}
