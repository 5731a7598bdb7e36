/* nftproxyctl cleanup: delete nftproxy's table, and with it every rule it
 * programmed. nftproxy leaves its rules in place when it stops (so that a
 * restart interrupts no traffic); this is how they are removed for good. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/common/flags.h"
#include "cmd/nftproxyctl/ctl.h"
#include "nft/sync.h"

int ctl_cleanup(int argc, char **argv)
{
	const char *cluster = NULL;
	bool help = false;
	const struct flag flags[] = {
		{ "cluster-name", 0, FLAG_STRING, &cluster, "NAME",
		  "clean up table inet nftproxy-NAME instead of nftproxy", NULL, 0, 0 },
		{ "help", 'h', FLAG_BOOL, &help, NULL, "show this help and exit", NULL, 0, 0 },
		{ NULL, 0, 0, NULL, NULL, NULL, NULL, 0, 0 },
	};
	char table[64], err[256];
	int r;

	r = flags_parse(flags, argc, argv, err, sizeof(err));
	if (r < 0)
		return ctl_usage_error("cleanup", err);
	if (help) {
		printf("Usage: nftproxyctl cleanup [flags]\n\nDeletes nftproxy's table. Stop "
		       "nftproxy first, or it programs the table again.\n\nFlags:\n");
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

	r = nft_table_delete(table);
	if (r == -ENOENT) {
		printf("table inet %s does not exist; nothing to clean up\n", table);
		return CTL_OK;
	}
	if (r < 0) {
		fprintf(stderr, "nftproxyctl cleanup: cannot delete table inet %s: %s%s\n", table,
			strerror(-r), r == -EPERM ? " (needs CAP_NET_ADMIN: run as root)" : "");
		return CTL_ERROR;
	}
	printf("deleted table inet %s\n", table);
	return CTL_OK;
}
