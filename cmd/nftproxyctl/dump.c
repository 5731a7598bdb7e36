/* nftproxyctl dump: read nftproxy's table back from the kernel and show
 * which service addresses lead to which endpoints. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/common/flags.h"
#include "cmd/nftproxyctl/ctl.h"
#include "lib/model/types.h"
#include "nft/dump.h"
#include "nft/sync.h"

const char *ctl_proto_name(uint8_t proto, char *buf, size_t size)
{
	/* The model's names; a protocol we never write shows as its number. */
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP)
		return proto_name(proto);
	snprintf(buf, size, "%u", proto);
	return buf;
}

int ctl_dump(int argc, char **argv)
{
	const char *cluster = NULL;
	bool json = false, help = false;
	const struct flag flags[] = {
		{ "json", 0, FLAG_BOOL, &json, NULL, "print JSON instead of a table", NULL, 0, 0 },
		{ "cluster-name", 0, FLAG_STRING, &cluster, "NAME",
		  "dump table inet nftproxy-NAME instead of nftproxy", NULL, 0, 0 },
		{ "help", 'h', FLAG_BOOL, &help, NULL, "show this help and exit", NULL, 0, 0 },
		{ NULL, 0, 0, NULL, NULL, NULL, NULL, 0, 0 },
	};
	struct nft_dump *d = NULL;
	char table[64], err[256];
	int r;

	r = flags_parse(flags, argc, argv, err, sizeof(err));
	if (r < 0)
		return ctl_usage_error("dump", err);
	if (help) {
		printf("Usage: nftproxyctl dump [flags]\n\nShows the services and endpoints "
		       "programmed in nftproxy's table, as the kernel holds them.\n\nFlags:\n");
		flags_help(flags, stdout);
		return CTL_OK;
	}
	if (r < argc) {
		snprintf(err, sizeof(err), "unexpected argument \"%s\"", argv[r]);
		return ctl_usage_error("dump", err);
	}
	r = ctl_table_name("dump", cluster, table, sizeof(table));
	if (r)
		return r;

	r = nft_dump_read(table, &d);
	if (r == -ENOENT) {
		fprintf(stderr, "nftproxyctl dump: table inet %s does not exist (is nftproxy "
			"running%s?)\n", table, cluster ? " with this --cluster-name" : "");
		return CTL_ERROR;
	}
	if (r < 0) {
		fprintf(stderr, "nftproxyctl dump: cannot read table inet %s: %s%s\n", table,
			strerror(-r), r == -EPERM ? " (needs CAP_NET_ADMIN: run as root)" : "");
		return CTL_ERROR;
	}
	r = json ? ctl_dump_json(d, stdout) : ctl_dump_table(d, stdout);
	if (r == 0 && fflush(stdout) != 0)
		r = -errno;
	nft_dump_free(d);
	if (r < 0) {
		fprintf(stderr, "nftproxyctl dump: cannot write the dump of table inet %s: %s\n",
			table, strerror(-r));
		return CTL_ERROR;
	}
	return CTL_OK;
}
