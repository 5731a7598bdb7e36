#include "nft/dump.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/hash.h"
#include "lib/util/hmap.h"
#include "nft/compile.h"
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

/* An element comment: "ns/name/proto/port[ ROLE][ key=value]...". */
struct note {
	char unit[NFT_NAME_MAX];
	char role[32];             /* "" for the cluster IP */
	bool external_local, internal_local;
	uint32_t affinity;
};

static void note_parse(const char *comment, struct note *n)
{
	char buf[NFT_NAME_MAX + 128], *save = NULL, *tok;
	bool first = true;

	memset(n, 0, sizeof(*n));
	snprintf(buf, sizeof(buf), "%s", comment ? comment : "");
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save), first = false) {
		if (first)
			snprintf(n->unit, sizeof(n->unit), "%s", tok);
		else if (strcmp(tok, "external=Local") == 0)
			n->external_local = true;
		else if (strcmp(tok, "internal=Local") == 0)
			n->internal_local = true;
		else if (strncmp(tok, "affinity=", 9) == 0)
			n->affinity = (uint32_t)strtoul(tok + 9, NULL, 10);
		else if (!strchr(tok, '='))
			snprintf(n->role, sizeof(n->role), "%s", tok);
	}
}

static bool is_v6_map(const char *set)
{
	size_t n = strlen(set);

	return n && set[n - 1] == '6';
}

static int add_service(struct nft_dump *d, const struct nft_state *st, const struct nft_ap_elem *e,
		       const struct note *nt)
{
	struct nft_dump_service *svc, *n;
	const struct nft_ap_chain *sc = e->target, *lc;
	char lname[NFT_NAME_MAX + 16], seed[NFT_NAME_MAX + 8], h[9], buf[NFT_NAME_MAX + 8];
	uint16_t port;
	size_t alen;
	int r;

	/* The capacity doubles (16, 32, 64...: grown when the count reaches
	 * a power of two): one element more each time copied the whole array
	 * per service, quadratic wherever realloc cannot grow in place (an
	 * ASan build took 20 s for 10,000 services). */
	if (d->n_svcs < 16 ? d->n_svcs == 0 : (d->n_svcs & (d->n_svcs - 1)) == 0) {
		n = realloc(d->svcs, (d->n_svcs < 16 ? 16 : 2 * d->n_svcs) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		d->svcs = n;
	}
	svc = &d->svcs[d->n_svcs];
	memset(svc, 0, sizeof(*svc));
	svc->family = e->key_len == 12 ? AF_INET : AF_INET6;
	svc->ip.family = svc->family;
	alen = ip_addr_len(&svc->ip);
	memcpy(svc->ip.bytes, e->key, alen);
	svc->proto = e->key[alen];
	memcpy(&port, e->key + alen + 4, 2);
	svc->port = ntohs(port);
	svc->type = "ClusterIP";
	svc->drops = e->drop;
	svc->internal_local = nt->internal_local;
	svc->affinity_timeout = nt->affinity;

	if (nt->unit[0]) {
		/* "ns/name/proto/port": the chain-name parser takes the same tail. */
		snprintf(buf, sizeof(buf), "x-x-%s", nt->unit);
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
	/* The endpoints are those the chain DNATs to (readback gives a chain
	 * its LB slot's values, or its affinity rules' targets). */
	if (!sc || !sc->lb_n)
		return 0;
	svc->eps = calloc(sc->lb_n, sizeof(*svc->eps));
	if (!svc->eps)
		return -ENOMEM;
	/* The local chain has the name of the svc chain with another kind. */
	snprintf(seed, sizeof(seed), "%d|%s", svc->family == AF_INET6 ? 6 : 4, nt->unit);
	hash_short(seed, h);
	snprintf(lname, sizeof(lname), "local-%s-%s", h, nt->unit);
	lc = hmap_get(&st->chains, lname);
	for (uint32_t i = 0; i < sc->lb_n; i++) {
		const uint8_t *v = sc->lb_eps + i * sc->lb_dlen;

		nft_data_target_get(v, sc->lb_dlen, &svc->eps[i].ip, &svc->eps[i].port);
		for (uint32_t k = 0; lc && k < lc->lb_n && !svc->eps[i].local; k++)
			svc->eps[i].local = lc->lb_dlen == sc->lb_dlen &&
					    memcmp(lc->lb_eps + k * lc->lb_dlen, v, sc->lb_dlen) == 0;
	}
	svc->n_eps = sc->lb_n;
	/* Slots keep their endpoints across changes, so slot order is history:
	 * show addresses in order. */
	qsort(svc->eps, svc->n_eps, sizeof(*svc->eps), ep_cmp);
	return 0;
}

static int push_ip(struct ip_addr **v, size_t *n, const struct ip_addr *ip)
{
	struct ip_addr *p;

	for (size_t i = 0; i < *n; i++)
		if (ip_addr_eq(&(*v)[i], ip))
			return 0;
	p = realloc(*v, (*n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	p[(*n)++] = *ip;
	*v = p;
	return 0;
}

/* An external destination (node port, external or LB address, firewall)
 * of a service port: attached to the cluster IP's entry of the family. */
static int add_role(struct nft_dump *d, const struct nft_ap_elem *e, const struct note *nt)
{
	int family = e->key_len == 8 ? (is_v6_map(e->set) ? AF_INET6 : AF_INET)
				     : e->key_len == 12 ? AF_INET : AF_INET6;
	struct ip_addr ip = { .family = family };
	char unit[NFT_NAME_MAX + 8];
	uint16_t port;

	/* A node port's key has no address to show for another role. */
	if (e->key_len == 8 && strcmp(nt->role, "node-port") != 0)
		return 0;
	for (size_t i = 0; i < d->n_svcs; i++) {
		struct nft_dump_service *svc = &d->svcs[i];
		char proto[8];

		snprintf(proto, sizeof(proto), "%s", svc->proto == IPPROTO_UDP ? "udp" :
			 svc->proto == IPPROTO_SCTP ? "sctp" : "tcp");
		snprintf(unit, sizeof(unit), "%s/%s/%s/%s", svc->ns, svc->name, proto,
			 svc->port_name);
		if (svc->family != family || strcmp(unit, nt->unit) != 0)
			continue;
		svc->external_local = svc->external_local || nt->external_local;
		if (strcmp(nt->role, "node-port") == 0) {
			memcpy(&port, e->key + 4, 2);
			svc->node_port = ntohs(port);
			if (strcmp(svc->type, "ClusterIP") == 0)
				svc->type = "NodePort";
			return 0;
		}
		memcpy(ip.bytes, e->key, ip_addr_len(&ip));
		if (strcmp(nt->role, "external-ip") == 0)
			return push_ip(&svc->external_ips, &svc->n_external_ips, &ip);
		if (strcmp(nt->role, "source-ranges") == 0) {
			svc->source_ranges = true;
			return 0;
		}
		if (strcmp(nt->role, "load-balancer") == 0) {
			svc->type = "LoadBalancer";
			return push_ip(&svc->lb_ips, &svc->n_lb_ips, &ip);
		}
		return 0;
	}
	return 0; /* a role without its cluster IP: not ours to show */
}

static bool dump_map(const char *set, bool *nodeport)
{
	static const char *const maps[] = {
		NFT_MAP_SERVICE_IPS, NFT_MAP_SERVICE_IPS6, NFT_MAP_NO_ENDPOINTS,
		NFT_MAP_NO_ENDPOINTS6, NFT_MAP_FIREWALL_IPS, NFT_MAP_FIREWALL_IPS6,
	};
	static const char *const np[] = {
		NFT_MAP_NODEPORTS, NFT_MAP_NODEPORTS6, NFT_MAP_NO_EP_NODEPORTS,
		NFT_MAP_NO_EP_NODEPORTS6,
	};

	*nodeport = false;
	for (size_t i = 0; i < sizeof(np) / sizeof(np[0]); i++)
		if (strcmp(set, np[i]) == 0)
			return (*nodeport = true);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (strcmp(set, maps[i]) == 0)
			return true;
	return false;
}

int nft_dump_read(const char *table, struct nft_dump **out)
{
	struct nft_state *st = NULL;
	struct nfk *n = NULL;
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
	r = nft_dump_from_state(table, st, out);
out:
	nft_state_free(st);
	nfk_close(n);
	return r;
}

int nft_dump_from_state(const char *table, const struct nft_state *st, struct nft_dump **out)
{
	struct nft_dump *d = NULL;
	size_t it = 0;
	void *v;
	int r;

	if (!st->table_exists)
		return -ENOENT;
	d = calloc(1, sizeof(*d));
	if (!d || !(d->table = strdup(table))) {
		r = -ENOMEM;
		goto out;
	}
	/* Cluster IPs first (the elements without a role), then what hangs
	 * off them. */
	for (int pass = 0; pass < 2; pass++) {
		for (it = 0; hmap_next(&st->elems, &it, NULL, &v);) {
			const struct nft_ap_elem *e = v;
			struct note nt;
			bool np;

			if (!dump_map(e->set, &np))
				continue;
			/* Keys as nftproxy writes them: ADDR . PROTO . PORT (12 or
			 * 24 bytes, proto and port padded to 4), PROTO . PORT (8)
			 * for node ports. Others are not ours, and shorter ones
			 * would be read past their end. */
			if (np ? e->key_len != 8 : e->key_len != 12 && e->key_len != 24)
				continue;
			note_parse(e->comment, &nt);
			if (pass == 0 && !np && !nt.role[0])
				r = add_service(d, st, e, &nt);
			else if (pass == 1 && (np || nt.role[0]))
				r = add_role(d, e, &nt);
			else
				continue;
			if (r < 0)
				goto out;
		}
	}
	if (d->n_svcs)  /* qsort's base must not be NULL, even for nothing */
		qsort(d->svcs, d->n_svcs, sizeof(*d->svcs), svc_cmp);
	*out = d;
	d = NULL;
	r = 0;
out:
	nft_dump_free(d);
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
		free(d->svcs[i].external_ips);
		free(d->svcs[i].lb_ips);
	}
	free(d->svcs);
	free(d->table);
	free(d);
}
