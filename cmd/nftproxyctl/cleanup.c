/* nftproxyctl cleanup: delete nftproxy's table, and with it every rule it
 * programmed. nftproxy leaves its rules in place when it stops (so that a
 * restart interrupts no traffic); this is how they are removed for good.
 *
 * --kube-proxy and --iptables also remove what kube-proxy's own modes left
 * (nft/cleanup.h), so that a node migrated from kube-proxy does not keep
 * running its rules next to ours. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/common/flags.h"
#include "cmd/nftproxyctl/ctl.h"
#include "nft/cleanup.h"
#include "nft/sync.h"

static const char *perm_hint(int r)
{
	return r == -EPERM ? " (needs CAP_NET_ADMIN: run as root)" : "";
}

/* Our own table. Returns CTL_OK or CTL_ERROR. */
static int cleanup_ours(const char *table)
{
	int r = nft_table_delete(table);

	if (r == -ENOENT) {
		printf("table inet %s does not exist; nothing to clean up\n", table);
		return CTL_OK;
	}
	if (r < 0) {
		fprintf(stderr, "nftproxyctl cleanup: cannot delete table inet %s: %s%s\n", table,
			strerror(-r), perm_hint(r));
		return CTL_ERROR;
	}
	printf("deleted table inet %s\n", table);
	return CTL_OK;
}

/* kube-proxy's leftovers. Returns CTL_OK or CTL_ERROR. */
static int cleanup_kube_proxy(bool iptables)
{
	struct nft_cleanup_report rep;
	char line[256];
	int r = nft_cleanup_kube_proxy(iptables, &rep);

	if (r < 0) {
		fprintf(stderr, "nftproxyctl cleanup: cannot remove kube-proxy's %s: %s%s; nothing "
			"of them was changed\n", iptables ? "tables and iptables chains" : "tables",
			strerror(-r), perm_hint(r));
		return CTL_ERROR;
	}
	for (size_t i = 0; i < rep.n_tables; i++) {
		nft_cleanup_table_describe(&rep.tables[i], line, sizeof(line));
		printf("deleted %s\n", line);
	}
	if (rep.n_tables == 0)
		printf("no kube-proxy %s found; nothing to clean up\n",
		       iptables ? "tables or iptables-nft KUBE-* chains" : "tables");
	/* x_tables is not nftables: the legacy tools have to do it. */
	for (size_t i = 0; i < rep.n_legacy; i++)
		fprintf(stderr, "warning: iptables-legacy table %s %s still holds %u KUBE-* "
			"chain%s, which nftables cannot remove: see them with `%s` and remove "
			"them with iptables-legacy (or reboot the node once kube-proxy is gone)\n",
			rep.legacy[i].family, rep.legacy[i].name, rep.legacy[i].chains,
			rep.legacy[i].chains == 1 ? "" : "s", NFT_CLEANUP_LEGACY_HINT);
	if (rep.legacy_error)
		fprintf(stderr, "warning: could not read the iptables-legacy tables (%s); check "
			"for kube-proxy's chains with `%s`\n", strerror(-rep.legacy_error),
			NFT_CLEANUP_LEGACY_HINT);
	return CTL_OK;
}

int ctl_cleanup(int argc, char **argv)
{
	const char *cluster = NULL;
	bool help = false, kube_proxy = false, iptables = false;
	const struct flag flags[] = {
		{ "cluster-name", 0, FLAG_STRING, &cluster, "NAME",
		  "clean up table inet nftproxy-NAME instead of nftproxy", NULL, 0, 0 },
		{ "kube-proxy", 0, FLAG_BOOL, &kube_proxy, NULL,
		  "also delete kube-proxy's nftables mode tables (ip and ip6 kube-proxy)", NULL,
		  0, 0 },
		{ "iptables", 0, FLAG_BOOL, &iptables, NULL,
		  "also (implies --kube-proxy) delete kube-proxy's iptables-nft KUBE-* chains "
		  "and the rules jumping to them", NULL, 0, 0 },
		{ "help", 'h', FLAG_BOOL, &help, NULL, "show this help and exit", NULL, 0, 0 },
		{ NULL, 0, 0, NULL, NULL, NULL, NULL, 0, 0 },
	};
	char table[64], err[256];
	int r, status;

	r = flags_parse(flags, argc, argv, err, sizeof(err));
	if (r < 0)
		return ctl_usage_error("cleanup", err);
	if (help) {
		printf("Usage: nftproxyctl cleanup [flags]\n\n"
		       "Deletes nftproxy's table. Stop nftproxy first, or it programs the table "
		       "again.\n\n"
		       "With --kube-proxy, also deletes table ip kube-proxy and table ip6 kube-proxy\n"
		       "(kube-proxy's nftables mode). With --iptables, also every KUBE-* chain that\n"
		       "iptables-nft keeps in the ip and ip6 tables filter, nat and mangle, and the\n"
		       "rules of other chains that jump to them (kubelet's KUBE-FIREWALL and\n"
		       "KUBE-KUBELET-CANARY stay). Stop kube-proxy first. Nothing else is touched,\n"
		       "and it is one transaction: all of it goes or nothing does. iptables-legacy\n"
		       "chains cannot be removed through nftables: they are reported.\n\n"
		       "Flags:\n");
		flags_help(flags, stdout);
		return CTL_OK;
	}
	if (r < argc) {
		snprintf(err, sizeof(err), "unexpected argument \"%s\"", argv[r]);
		return ctl_usage_error("cleanup", err);
	}
	r = ctl_table_name("cleanup", cluster, table, sizeof(table));
	if (r)
		return r;

	status = cleanup_ours(table);
	if ((kube_proxy || iptables) && cleanup_kube_proxy(iptables) != CTL_OK)
		status = CTL_ERROR;
	return status;
}
