/* nftproxyctl: look at and clean up what nftproxy programmed.
 *
 *   nftproxyctl dump [--json] [--cluster-name NAME]
 *   nftproxyctl cleanup [--cluster-name NAME] [--kube-proxy] [--iptables]
 *
 * Each subcommand is one file; this table dispatches to them. */
#include <stdio.h>
#include <string.h>

#include "cmd/nftproxyctl/ctl.h"
#include "nft/sync.h"

#ifndef NFTPROXY_VERSION
#define NFTPROXY_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "dump", ctl_dump, "show the services and endpoints programmed in the kernel" },
	{ "cleanup", ctl_cleanup,
	  "delete nftproxy's table (stop nftproxy first), and kube-proxy's with flags" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "Usage: nftproxyctl COMMAND [flags]\n\nCommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'nftproxyctl COMMAND --help' for a command's flags.\n");
}

int ctl_usage_error(const char *sub, const char *msg)
{
	fprintf(stderr, "nftproxyctl %s: %s\nRun 'nftproxyctl %s --help' for usage.\n", sub, msg,
		sub);
	return CTL_USAGE;
}

int ctl_table_name(const char *sub, const char *cluster, char *buf, size_t size)
{
	char msg[256];

	if (nft_table_name(cluster, buf, size) == 0)
		return 0;
	snprintf(msg, sizeof(msg), "invalid --cluster-name \"%s\"", cluster ? cluster : "");
	return ctl_usage_error(sub, msg);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("nftproxyctl %s\n", NFTPROXY_VERSION);
		return CTL_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "nftproxyctl: unknown command \"%s\"\n\n", cmd);
	usage(stderr);
	return CTL_USAGE;
}
