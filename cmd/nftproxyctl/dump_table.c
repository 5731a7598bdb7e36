/* The human form of nftproxyctl dump: one aligned row per service port.
 *
 *   NAMESPACE  NAME  PORT  PROTO  SERVICE IP      ENDPOINTS
 *   default    web   http  tcp    10.96.0.10:80   10.244.1.11:8080, 10.244.1.12:8080 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cmd/nftproxyctl/ctl.h"
#include "lib/util/ipaddr.h"
#include "nft/dump.h"

enum { COL_NS, COL_NAME, COL_PORT, COL_PROTO, COL_IP, N_COLS };

static const char *const headers[N_COLS] = {
	"NAMESPACE", "NAME", "PORT", "PROTO", "SERVICE IP",
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

/* The cells of row i (a service), or of the header when svc is NULL. */
static void row_cells(const struct nft_dump_service *svc, const char *cells[N_COLS],
		      char *proto, size_t proto_size, char *ip, size_t ip_size)
{
	if (!svc) {
		memcpy(cells, headers, sizeof(headers));
		return;
	}
	cells[COL_NS] = svc->ns ? svc->ns : "";
	cells[COL_NAME] = svc->name ? svc->name : "";
	cells[COL_PORT] = port_name(svc);
	cells[COL_PROTO] = ctl_proto_name(svc->proto, proto, proto_size);
	cells[COL_IP] = host_port(&svc->ip, svc->port, ip, ip_size);
}

int ctl_dump_table(const struct nft_dump *d, FILE *out)
{
	size_t width[N_COLS] = { 0 };
	const char *cells[N_COLS];
	char proto[8], ip[IP_ADDR_STRLEN + 8], ep[IP_ADDR_STRLEN + 8];

	if (d->n_svcs == 0) {
		fprintf(out, "table inet %s has no services\n", d->table ? d->table : "?");
		return ferror(out) ? -EIO : 0;
	}
	/* Row "-1" is the header. */
	for (size_t i = 0; i <= d->n_svcs; i++) {
		row_cells(i ? &d->svcs[i - 1] : NULL, cells, proto, sizeof(proto), ip, sizeof(ip));
		for (int c = 0; c < N_COLS; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	for (size_t i = 0; i <= d->n_svcs; i++) {
		const struct nft_dump_service *svc = i ? &d->svcs[i - 1] : NULL;

		row_cells(svc, cells, proto, sizeof(proto), ip, sizeof(ip));
		for (int c = 0; c < N_COLS; c++)
			fprintf(out, "%-*s  ", (int)width[c], cells[c]);
		if (!svc)
			fputs("ENDPOINTS", out);
		else if (svc->n_eps == 0)
			fputs("(none: rejects)", out);
		for (size_t e = 0; svc && e < svc->n_eps; e++)
			fprintf(out, "%s%s", e ? ", " : "",
				host_port(&svc->eps[e].ip, svc->eps[e].port, ep, sizeof(ep)));
		fputc('\n', out);
	}
	return ferror(out) ? -EIO : 0;
}
