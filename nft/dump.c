#include "nft/dump.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/hmap.h"
#include "nft/netlink.h"
#include "nft/readback.h"
#include "nft/state.h"

int nft_chain_name_parse(const char *chain, char **ns, char **name, char **port_name)
{
	const char *p = strchr(chain, '-'), *s1, *s2, *s3, *end;

	/* svc-HASH-ns/name/proto/port */
	if (!p || !(p = strchr(p + 1, '-')))
		return -EINVAL;
	p++;
	s1 = strchr(p, '/');
	s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	s3 = s2 ? strchr(s2 + 1, '/') : NULL;
	if (!s3)
		return -EINVAL;
	end = strstr(s3 + 1, "__");
	if (!end)
		end = s3 + 1 + strlen(s3 + 1);
	*ns = strndup(p, s1 - p);
	*name = strndup(s1 + 1, s2 - s1 - 1);
	*port_name = strndup(s3 + 1, end - s3 - 1);
	if (!*ns || !*name || !*port_name) {
		free(*ns);
		free(*name);
		free(*port_name);
		return -ENOMEM;
	}
	return 0;
}

static int svc_cmp(const void *a, const void *b)
{
	const struct nft_dump_service *x = a, *y = b;
	int c;

	if ((c = strcmp(x->ns, y->ns)) || (c = strcmp(x->name, y->name)) ||
	    (c = strcmp(x->port_name, y->port_name)))
		return c;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->family - y->family;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct nft_dump_endpoint *x = a, *y = b;
	int c = ip_addr_cmp(&x->ip, &y->ip);

	return c ? c : (int)x->port - (int)y->port;
}

static int add_service(struct nft_dump *d, const struct nft_ap_elem *e)
{
	struct nft_dump_service *svc, *n;
	const struct nft_ap_chain *sc = e->target;
	uint16_t port;
	size_t alen;
	int r;

	n = realloc(d->svcs, (d->n_svcs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->svcs = n;
	svc = &d->svcs[d->n_svcs];
	memset(svc, 0, sizeof(*svc));
	svc->family = e->key_len == 12 ? AF_INET : AF_INET6;
	svc->ip.family = svc->family;
	alen = ip_addr_len(&svc->ip);
	memcpy(svc->ip.bytes, e->key, alen);
	svc->proto = e->key[alen];
	memcpy(&port, e->key + alen + 4, 2);
	svc->port = ntohs(port);

	if (e->comment) {
		/* "ns/name/proto/port": the chain-name parser takes the same tail. */
		char buf[600];

		snprintf(buf, sizeof(buf), "x-x-%s", e->comment);
		r = nft_chain_name_parse(buf, &svc->ns, &svc->name, &svc->port_name);
	} else {
		r = nft_chain_name_parse(nft_ap_elem_target(e), &svc->ns, &svc->name,
					 &svc->port_name);
	}
	if (r == -EINVAL) {
		/* Not an element we wrote: show it, but say we cannot name it. */
		svc->ns = strdup("?");
		svc->name = strdup("?");
		svc->port_name = strdup("");
		r = svc->ns && svc->name && svc->port_name ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;
	d->n_svcs++;
	/* The endpoints are the values of the ranges of the service's slot
	 * (readback gives them to the chain whose rule uses the slot). */
	if (!sc || !sc->has_lb || !sc->lb_n)
		return 0;
	svc->eps = calloc(sc->lb_n, sizeof(*svc->eps));
	if (!svc->eps)
		return -ENOMEM;
	for (uint32_t i = 0; i < sc->lb_n; i++)
		nft_data_target_get(sc->lb_eps + i * sc->lb_dlen, sc->lb_dlen, &svc->eps[i].ip,
				    &svc->eps[i].port);
	svc->n_eps = sc->lb_n;
	/* Slots keep their endpoints across changes, so slot order is history:
	 * show addresses in order. */
	qsort(svc->eps, svc->n_eps, sizeof(*svc->eps), ep_cmp);
	return 0;
}

int nft_dump_read(const char *table, struct nft_dump **out)
{
	struct nft_state *st = NULL;
	struct nft_dump *d = NULL;
	struct nfk *n = NULL;
	size_t it = 0;
	void *v;
	int r;

	r = nfk_open(&n);
	if (r < 0)
		return r;
	r = nft_state_new(&st);
	if (r < 0)
		goto out;
	r = nfr_read(n, table, st);
	if (r < 0)
		goto out;
	if (!st->table_exists) {
		r = -ENOENT;
		goto out;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->table = strdup(table))) {
		r = -ENOMEM;
		goto out;
	}
	while (hmap_next(&st->elems, &it, NULL, &v)) {
		const struct nft_ap_elem *e = v;
		bool svc_map = strcmp(e->set, NFT_MAP_SERVICE_IPS) == 0 ||
			       strcmp(e->set, NFT_MAP_SERVICE_IPS6) == 0 ||
			       strcmp(e->set, NFT_MAP_NO_ENDPOINTS) == 0 ||
			       strcmp(e->set, NFT_MAP_NO_ENDPOINTS6) == 0;

		if (!svc_map)
			continue;
		r = add_service(d, e);
		if (r < 0)
			goto out;
	}
	qsort(d->svcs, d->n_svcs, sizeof(*d->svcs), svc_cmp);
	*out = d;
	d = NULL;
	r = 0;
out:
	nft_dump_free(d);
	nft_state_free(st);
	nfk_close(n);
	return r;
}

void nft_dump_free(struct nft_dump *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_svcs; i++) {
		free(d->svcs[i].ns);
		free(d->svcs[i].name);
		free(d->svcs[i].port_name);
		free(d->svcs[i].eps);
	}
	free(d->svcs);
	free(d->table);
	free(d);
}
