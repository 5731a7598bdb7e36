#include "nft/state.h"

#include "lib/util/hash.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nft_lb_slot {
	uint32_t map, slot;
	char chain[];              /* the svc chain's name, the map's key */
};

int nft_state_new(struct nft_state **out)
{
	struct nft_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

static void owner_free(struct nft_owner *o)
{
	if (!o)
		return;
	free(o->chains);
	free(o->elems);
	for (size_t i = 0; i < o->n_sets; i++)
		free(o->sets[i]);
	free(o->sets);
	free(o);
}

static void chain_free(struct nft_ap_chain *c)
{
	if (!c)
		return;
	free(c->lb_eps);
	free(c->name);
	free(c);
}

int nft_ap_chain_set_lb(struct nft_ap_chain *c, const uint8_t *eps, uint32_t n, uint8_t dlen)
{
	uint8_t *p = NULL;

	if (n) {
		p = malloc((size_t)n * dlen);
		if (!p)
			return -ENOMEM;
		memcpy(p, eps, (size_t)n * dlen);
	}
	free(c->lb_eps);
	c->lb_eps = p;
	c->lb_n = n;
	c->lb_dlen = dlen;
	return 0;
}

static void elem_free(struct nft_ap_elem *e)
{
	if (!e)
		return;
	free(e->comment);
	free(e);
}

void nft_state_free(struct nft_state *s)
{
	size_t it = 0;
	void *v;

	if (!s)
		return;
	while (hmap_next(&s->chains, &it, NULL, &v))
		chain_free(v);
	it = 0;
	while (hmap_next(&s->elems, &it, NULL, &v))
		elem_free(v);
	it = 0;
	while (hmap_next(&s->owners, &it, NULL, &v))
		owner_free(v);
	it = 0;
	while (hmap_next(&s->lb.by_chain, &it, NULL, &v)) {
		struct nft_lb_slot *sl = v;

		free(sl);
	}
	hmap_strset_free(&s->sets);
	hmap_strset_free(&s->blocked);
	hmap_fini(&s->chains);
	hmap_fini(&s->elems);
	hmap_fini(&s->owners);
	hmap_fini(&s->lb.by_chain);
	free(s->lb.fam[0].used);
	free(s->lb.fam[1].used);
	ipcount_fini(&s->hairpin);
	free(s);
}

void nft_elem_id(char *buf, const char *set, const uint8_t *key, size_t key_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(set);

	if (n > 31)
		n = 31;
	memcpy(buf, set, n);
	buf[n++] = '|';
	for (size_t i = 0; i < key_len && i < NFT_KEY_MAX; i++) {
		buf[n++] = hex[key[i] >> 4];
		buf[n++] = hex[key[i] & 15];
	}
	buf[n] = '\0';
}

static void owner_forget_chain(struct nft_owner *o, struct nft_ap_chain *c)
{
	for (size_t i = 0; o && i < o->n_chains; i++) {
		if (o->chains[i] == c) {
			o->chains[i] = o->chains[--o->n_chains];
			return;
		}
	}
}

static void owner_forget_elem(struct nft_owner *o, struct nft_ap_elem *e)
{
	for (size_t i = 0; o && i < o->n_elems; i++) {
		if (o->elems[i] == e) {
			o->elems[i] = o->elems[--o->n_elems];
			return;
		}
	}
}

int nft_state_put_chain(struct nft_state *s, const char *name, uint64_t fp,
			struct nft_ap_chain **out)
{
	struct nft_ap_chain *c = hmap_get(&s->chains, name);
	int r;

	if (c) {
		c->fp = fp;
		goto done;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->name = strdup(name);
	if (!c->name) {
		free(c);
		return -ENOMEM;
	}
	c->fp = fp;
	r = hmap_put(&s->chains, c->name, c, NULL);
	if (r < 0) {
		chain_free(c);
		return r;
	}
done:
	if (out)
		*out = c;
	return 0;
}

void nft_state_del_chain(struct nft_state *s, const char *name)
{
	struct nft_ap_chain *c = hmap_del(&s->chains, name);

	if (!c)
		return;
	owner_forget_chain(c->owner, c);
	chain_free(c);
}

/* The element of (set, key), created with room for data_len bytes of value
 * when missing. An existing element keeps its room: an LB map holds ranges
 * of one family only, so a key never changes value size. */
static int elem_get(struct nft_state *s, const char *set, const uint8_t *key, size_t key_len,
		    size_t data_len, struct nft_ap_elem **out)
{
	char id[NFT_ELEM_ID_MAX];
	struct nft_ap_elem *e;
	size_t il, sl;
	int r;

	nft_elem_id(id, set, key, key_len);
	e = hmap_get(&s->elems, id);
	if (e) {
		if (e->data_len != data_len)
			return -EEXIST;
		goto done;
	}
	il = strlen(id) + 1;
	sl = strlen(set) + 1;
	e = calloc(1, sizeof(*e) + il + sl + key_len + data_len);
	if (!e)
		return -ENOMEM;
	memcpy(e->id, id, il);
	e->set = e->id + il;
	memcpy(e->set, set, sl);
	e->key = (uint8_t *)e->set + sl;
	memcpy(e->key, key, key_len);
	e->key_len = (uint8_t)key_len;
	e->data = e->key + key_len;
	e->data_len = (uint8_t)data_len;
	r = hmap_put(&s->elems, e->id, e, NULL);
	if (r < 0) {
		elem_free(e);
		return r;
	}
done:
	*out = e;
	return 0;
}

int nft_state_put_elem(struct nft_state *s, const char *set, const uint8_t *key,
		       size_t key_len, const char *target, struct nft_ap_elem **out)
{
	struct nft_ap_elem *e;
	int r = elem_get(s, set, key, key_len, 0, &e);

	if (r < 0)
		return r;
	e->drop = target && strcmp(target, NFT_VERDICT_DROP) == 0;
	e->target = target && !e->drop ? hmap_get(&s->chains, target) : NULL;
	if (out)
		*out = e;
	return 0;
}

int nft_state_put_range(struct nft_state *s, const char *set, const uint8_t *key,
			uint32_t range_end, const uint8_t *data, size_t data_len,
			struct nft_ap_elem **out)
{
	struct nft_ap_elem *e;
	int r = elem_get(s, set, key, 4, data_len <= NFT_DATA_MAX ? data_len : NFT_DATA_MAX, &e);

	if (r < 0)
		return r;
	e->target = NULL;
	e->interval = true;
	e->range_end = range_end;
	memcpy(e->data, data, e->data_len);
	if (out)
		*out = e;
	return 0;
}

uint32_t nft_comment_hash(const char *comment)
{
	uint64_t h;

	if (!comment || !*comment)
		return 0;
	h = hash_fnv1a(comment, strlen(comment), 0);
	return (uint32_t)(h ^ (h >> 32)) | 1;
}

const char *nft_ap_elem_target(const struct nft_ap_elem *e)
{
	if (e->drop)
		return NFT_VERDICT_DROP;
	return e->target ? e->target->name : "";
}

void nft_state_del_elem(struct nft_state *s, const char *id)
{
	struct nft_ap_elem *e = hmap_del(&s->elems, id);

	if (!e)
		return;
	owner_forget_elem(e->owner, e);
	elem_free(e);
}

int nft_state_block(struct nft_state *s, const char *owner)
{
	return hmap_strset_add(&s->blocked, owner);
}

bool nft_state_has_set(const struct nft_state *s, const char *name)
{
	return hmap_get(&s->sets, name) != NULL;
}

int nft_state_add_set(struct nft_state *s, const char *name)
{
	return hmap_strset_add(&s->sets, name);
}

void nft_state_del_set(struct nft_state *s, const char *name)
{
	free(hmap_del(&s->sets, name));
}

struct nft_owner *nft_state_owner(struct nft_state *s, const char *key)
{
	return hmap_get(&s->owners, key);
}

int nft_state_owner_get(struct nft_state *s, const char *key, struct nft_owner **out)
{
	struct nft_owner *o = hmap_get(&s->owners, key);
	int r;

	if (!o) {
		size_t len = strlen(key) + 1;

		o = calloc(1, sizeof(*o) + len);
		if (!o)
			return -ENOMEM;
		memcpy(o->key, key, len);
		r = hmap_put(&s->owners, o->key, o, NULL);
		if (r < 0) {
			owner_free(o);
			return r;
		}
	}
	*out = o;
	return 0;
}

/* --- LB slots ----------------------------------------------------------- */

#define SLOT_BITS (NFT_LB_PER_MAP >= 32 ? 0xffffffffu : ((1u << NFT_LB_PER_MAP) - 1))

_Static_assert(NFT_LB_PER_MAP >= 1 && NFT_LB_PER_MAP <= 32, "slots per map fit a uint32_t mask");

static struct nft_lb_family *lb_fam(struct nft_lb_alloc *lb, uint32_t map)
{
	return &lb->fam[map & NFT_LB_V6 ? 1 : 0];
}

static int lb_ensure_maps(struct nft_lb_family *f, uint32_t n)
{
	uint32_t ncap;
	uint32_t *p;

	if (n <= f->n_maps)
		return 0;
	if (n > NFT_LB_MAX_MAPS)
		return -ENOSPC;
	ncap = f->n_maps ? f->n_maps : 64;
	while (ncap < n)
		ncap *= 2;
	p = realloc(f->used, ncap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + f->n_maps, 0, (ncap - f->n_maps) * sizeof(*p));
	f->used = p;
	f->n_maps = ncap;
	return 0;
}

/* map is a map id: the family bit and the map's index. */
static int lb_record(struct nft_lb_alloc *lb, const char *chain, uint32_t map, uint32_t slot)
{
	size_t len = strlen(chain) + 1;
	struct nft_lb_slot *sl = malloc(sizeof(*sl) + len);
	int r;

	if (!sl)
		return -ENOMEM;
	memcpy(sl->chain, chain, len);
	sl->map = map;
	sl->slot = slot;
	r = hmap_put(&lb->by_chain, sl->chain, sl, NULL);
	if (r < 0) {
		free(sl);
		return r;
	}
	lb_fam(lb, map)->used[map & ~NFT_LB_V6] |= 1u << slot;
	return 0;
}

int nft_lb_get(struct nft_lb_alloc *lb, const char *chain, int family, uint32_t *map,
	       uint32_t *slot)
{
	struct nft_lb_slot *sl = hmap_get(&lb->by_chain, chain);
	uint32_t tag = family == AF_INET6 ? NFT_LB_V6 : 0;
	struct nft_lb_family *f = lb_fam(lb, tag);
	uint32_t m;
	int r;

	if (sl) {
		*map = sl->map;
		*slot = sl->slot;
		return 0;
	}
	for (m = f->hint;; m++) {
		r = lb_ensure_maps(f, m + 1);
		if (r < 0)
			return r;
		if ((f->used[m] & SLOT_BITS) != SLOT_BITS)
			break;
	}
	f->hint = m;
	for (uint32_t i = 0; i < NFT_LB_PER_MAP; i++) {
		if (!(f->used[m] & (1u << i))) {
			r = lb_record(lb, chain, tag | m, i);
			if (r < 0)
				return r;
			*map = tag | m;
			*slot = i;
			return 0;
		}
	}
	return -ENOSPC; /* unreachable: map m has a free bit */
}

int nft_lb_map_parse(const char *name, uint32_t *map)
{
	uint32_t tag = 0;
	char *end;
	unsigned long v;

	if (strncmp(name, "lb6-", 4) == 0) {
		tag = NFT_LB_V6;
		name += 4;
	} else if (strncmp(name, "lb-", 3) == 0) {
		name += 3;
	} else {
		return -EINVAL;
	}
	if (*name < '0' || *name > '9')
		return -EINVAL;
	v = strtoul(name, &end, 10);
	if (*end || v >= NFT_LB_MAX_MAPS)
		return -EINVAL;
	*map = tag | (uint32_t)v;
	return 0;
}

int nft_lb_claim(struct nft_lb_alloc *lb, const char *chain, uint32_t map, uint32_t slot)
{
	struct nft_lb_family *f = lb_fam(lb, map);
	uint32_t idx = map & ~NFT_LB_V6;
	int r;

	if (slot >= NFT_LB_PER_MAP || hmap_get(&lb->by_chain, chain))
		return -EEXIST;
	r = lb_ensure_maps(f, idx + 1);
	if (r < 0)
		return r;
	if (f->used[idx] & (1u << slot))
		return -EEXIST;
	return lb_record(lb, chain, map, slot);
}

void nft_lb_release(struct nft_lb_alloc *lb, const char *chain)
{
	struct nft_lb_slot *sl = hmap_del(&lb->by_chain, chain);
	struct nft_lb_family *f;
	uint32_t idx;

	if (!sl)
		return;
	f = lb_fam(lb, sl->map);
	idx = sl->map & ~NFT_LB_V6;
	f->used[idx] &= ~(1u << sl->slot);
	if (idx < f->hint)
		f->hint = idx;
	free(sl);
}

void nft_state_release_new_slots(struct nft_state *s, const struct nft_frag *f)
{
	for (size_t k = 0; k < f->n_chains; k++)
		if (f->chains[k].has_lb && !hmap_get(&s->chains, f->chains[k].name))
			nft_lb_release(&s->lb, f->chains[k].name);
}

bool nft_lb_has(const struct nft_lb_alloc *lb, const char *chain)
{
	return hmap_get(&lb->by_chain, chain) != NULL;
}
