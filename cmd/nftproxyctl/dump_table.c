/* The human form of nftproxyctl dump: one aligned row per service port and
 * family. EXTERNAL lists the node port and the external and load balancer
 * addresses; POLICY what is not the default; a local endpoint (in the
 * service's local chain, under a Local policy) is marked with "*".
 *
 *   NAMESPACE  NAME  PORT  PROTO  TYPE      SERVICE IP     EXTERNAL            POLICY          ENDPOINTS
 *   default    web   http  tcp    NodePort  10.96.0.10:80  node:30080          external=Local  10.244.1.11:8080*, 10.244.2.12:8080 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cmd/nftproxyctl/ctl.h"
#include "lib/util/ipaddr.h"
#include "nft/dump.h"

enum { COL_NS, COL_NAME, COL_PORT, COL_PROTO, COL_TYPE, COL_IP, COL_EXT, COL_POLICY, N_COLS };

static const char *const headers[N_COLS] = {
	"NAMESPACE", "NAME", "PORT", "PROTO", "TYPE", "SERVICE IP", "EXTERNAL", "POLICY",
};

/* The cells' text, per row. */
struct row {
	char proto[8], ip[IP_ADDR_STRLEN + 8], ext[512], policy[96];
};

/* "10.96.0.10:80", "[fd00::1]:80"; buf: IP_ADDR_STRLEN + 8. */
static const char *host_port(const struct ip_addr *ip, uint16_t port, char *buf, size_t size)
{
	char addr[IP_ADDR_STRLEN];

	ip_addr_fmt(ip, addr);
	if (ip->family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", addr, port);
	else
		snprintf(buf, size, "%s:%u", addr, port);
	return buf;
}

static const char *port_name(const struct nft_dump_service *svc)
{
	return svc->port_name && *svc->port_name ? svc->port_name : "-";
}

static void append(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size > n ? size - n : 0, "%s%s", n ? " " : "", s);
}

static void external_text(const struct nft_dump_service *svc, char *buf, size_t size)
{
	char a[IP_ADDR_STRLEN], item[IP_ADDR_STRLEN + 16];

	buf[0] = '\0';
	if (svc->node_port) {
		snprintf(item, sizeof(item), "node:%u", svc->node_port);
		append(buf, size, item);
	}
	for (size_t i = 0; i < svc->n_external_ips; i++) {
		snprintf(item, sizeof(item), "ext:%s", ip_addr_fmt(&svc->external_ips[i], a));
		append(buf, size, item);
	}
	for (size_t i = 0; i < svc->n_lb_ips; i++) {
		snprintf(item, sizeof(item), "lb:%s%s", ip_addr_fmt(&svc->lb_ips[i], a),
			 svc->source_ranges ? "(ranges)" : "");
		append(buf, size, item);
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

static void policy_text(const struct nft_dump_service *svc, char *buf, size_t size)
{
	char item[32];

	buf[0] = '\0';
	if (svc->external_local)
		append(buf, size, "external=Local");
	if (svc->internal_local)
		append(buf, size, "internal=Local");
	if (svc->affinity_timeout) {
		snprintf(item, sizeof(item), "affinity=%us", svc->affinity_timeout);
		append(buf, size, item);
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

/* The cells of a service's row, or of the header when svc is NULL. */
static void row_cells(const struct nft_dump_service *svc, const char *cells[N_COLS],
		      struct row *t)
{
	if (!svc) {
		memcpy(cells, headers, sizeof(headers));
		return;
	}
	external_text(svc, t->ext, sizeof(t->ext));
	policy_text(svc, t->policy, sizeof(t->policy));
	cells[COL_NS] = svc->ns ? svc->ns : "";
	cells[COL_NAME] = svc->name ? svc->name : "";
	cells[COL_PORT] = port_name(svc);
	cells[COL_PROTO] = ctl_proto_name(svc->proto, t->proto, sizeof(t->proto));
	cells[COL_TYPE] = svc->type ? svc->type : "";
	cells[COL_IP] = host_port(&svc->ip, svc->port, t->ip, sizeof(t->ip));
	cells[COL_EXT] = t->ext;
	cells[COL_POLICY] = t->policy;
}

int ctl_dump_table(const struct nft_dump *d, FILE *out)
{
	size_t width[N_COLS] = { 0 };
	const char *cells[N_COLS];
	char ep[IP_ADDR_STRLEN + 8];
	bool any_local = false;
	struct row t;

	if (d->n_svcs == 0) {
		fprintf(out, "table inet %s has no services\n", d->table ? d->table : "?");
		return ferror(out) ? -EIO : 0;
	}
	/* Row "-1" is the header. */
	for (size_t i = 0; i <= d->n_svcs; i++) {
		row_cells(i ? &d->svcs[i - 1] : NULL, cells, &t);
		for (int c = 0; c < N_COLS; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	for (size_t i = 0; i <= d->n_svcs; i++) {
		const struct nft_dump_service *svc = i ? &d->svcs[i - 1] : NULL;

		row_cells(svc, cells, &t);
		for (int c = 0; c < N_COLS; c++)
			fprintf(out, "%-*s  ", (int)width[c], cells[c]);
		if (!svc)
			fputs("ENDPOINTS", out);
		else if (svc->n_eps == 0)
			fputs(svc->drops ? "(none here: drops)" : "(none: rejects)", out);
		for (size_t e = 0; svc && e < svc->n_eps; e++) {
			fprintf(out, "%s%s%s", e ? ", " : "",
				host_port(&svc->eps[e].ip, svc->eps[e].port, ep, sizeof(ep)),
				svc->eps[e].local ? "*" : "");
			any_local = any_local || svc->eps[e].local;
		}
		fputc('\n', out);
	}
	if (any_local)
		fputs("(* this node's endpoint)\n", out);
	return ferror(out) ? -EIO : 0;
}
