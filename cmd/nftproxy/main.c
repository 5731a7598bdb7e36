/* nftproxy: a Kubernetes service proxy that programs nftables.
 *
 *   nftproxy [--kubeconfig FILE] [--master URL] [--hostname-override NAME] ...
 *   nftproxy --manifests DIR [--cluster-name NAME] [--v N] ...
 *
 * main parses the flags into a daemon_config; daemon.c does the rest. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/common/flags.h"
#include "cmd/nftproxy/daemon.h"
#include "lib/util/log.h"
#include "nft/sync.h"

#ifndef NFTPROXY_VERSION
#define NFTPROXY_VERSION "unknown"
#endif

struct options {
	const char *manifests;
	const char *kubeconfig;
	const char *master;
	const char *hostname_override;
	const char *cluster_name;
	int verbosity;
	uint64_t min_sync_ms;
	uint64_t sync_ms;
	int masq_bit;
	bool help;
	bool version;
};

static void usage(const struct flag *flags, FILE *out)
{
	fprintf(out, "Usage: nftproxy [--kubeconfig FILE | --master URL] [flags]\n"
		     "       nftproxy --manifests DIR [flags]\n\n"
		     "A Kubernetes service proxy that programs nftables. It serves the Services and\n"
		     "EndpointSlices of the Kubernetes API (the in-cluster service account when "
		     "neither\n--kubeconfig nor --master is given), or of a manifests directory. "
		     "Rules stay in\nplace when it stops; remove them with `nftproxyctl cleanup`."
		     "\n\nFlags:\n");
	flags_help(flags, out);
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "nftproxy: %s\nRun 'nftproxy --help' for usage.\n", msg);
	return 2;
}

/* kube-proxy's rule (nodeutil.GetHostname): the override, else the host
 * name, trimmed and lower-cased. */
static int node_name(const char *override, char *buf, size_t size)
{
	char host[256];
	const char *s = override;
	size_t n;

	if (!s || !*s) {
		if (gethostname(host, sizeof(host)) < 0)
			return -errno;
		host[sizeof(host) - 1] = '\0';
		s = host;
	}
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (!n || n >= size)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	buf[n] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	struct options opts = {
		.min_sync_ms = 1000,
		.sync_ms = 30000,
		.masq_bit = 14,
	};
	/* kube-proxy's names and meanings wherever kube-proxy has the flag. */
	const struct flag flags[] = {
		{ "kubeconfig", 0, FLAG_STRING, &opts.kubeconfig, "FILE",
		  "kubeconfig file with the API server and credentials", NULL, 0, 0 },
		{ "master", 0, FLAG_STRING, &opts.master, "URL",
		  "address of the API server (overrides the kubeconfig's server)", NULL, 0, 0 },
		{ "hostname-override", 0, FLAG_STRING, &opts.hostname_override, "NAME",
		  "this node's name, instead of the host name", NULL, 0, 0 },
		{ "manifests", 0, FLAG_STRING, &opts.manifests, "DIR",
		  "serve the Services and EndpointSlices in the .yaml/.yml/.json files of DIR "
		  "instead of the API", NULL, 0, 0 },
		{ "cluster-name", 0, FLAG_STRING, &opts.cluster_name, "NAME",
		  "program table inet nftproxy-NAME instead of nftproxy", NULL, 0, 0 },
		{ "min-sync-period", 0, FLAG_DURATION, &opts.min_sync_ms, "DURATION",
		  "a sync starts at most once per period, after a burst of 2; changes in between "
		  "are batched",
		  "1s", 0, 0 },
		{ "sync-period", 0, FLAG_DURATION, &opts.sync_ms, "DURATION",
		  "period of full resyncs (0 disables them)", "30s", 0, 0 },
		{ "masquerade-bit", 0, FLAG_INT, &opts.masq_bit, "N",
		  "bit of the packet mark that flags traffic for masquerade", "14", 0, 31 },
		{ "v", 'v', FLAG_INT, &opts.verbosity, "N", "log verbosity", "0", 0, 10 },
		{ "help", 'h', FLAG_BOOL, &opts.help, NULL, "show this help and exit", NULL, 0, 0 },
		{ "version", 0, FLAG_BOOL, &opts.version, NULL, "print the version and exit", NULL,
		  0, 0 },
		{ NULL, 0, 0, NULL, NULL, NULL, NULL, 0, 0 },
	};
	struct daemon_config cfg;
	char table[64], err[256], node[256];
	int r;

	r = flags_parse(flags, argc, argv, err, sizeof(err));
	if (r < 0)
		return usage_error(err);
	if (r < argc) {
		snprintf(err, sizeof(err), "unexpected argument \"%s\"", argv[r]);
		return usage_error(err);
	}
	if (opts.help) {
		usage(flags, stdout);
		return 0;
	}
	if (opts.version) {
		printf("nftproxy %s\n", NFTPROXY_VERSION);
		return 0;
	}
	if (opts.manifests && !*opts.manifests)
		return usage_error("--manifests needs a directory");
	if (opts.manifests && (opts.kubeconfig || opts.master))
		return usage_error("--manifests serves files instead of the API: it does not go "
				   "with --kubeconfig or --master");
	if (node_name(opts.hostname_override, node, sizeof(node)) < 0)
		return usage_error("cannot tell this node's name: set --hostname-override");
	if (nft_table_name(opts.cluster_name, table, sizeof(table)) < 0) {
		snprintf(err, sizeof(err), "invalid --cluster-name \"%s\": use at most 50 lower-case "
			 "letters, digits and '-', starting and ending with a letter or digit",
			 opts.cluster_name ? opts.cluster_name : "");
		return usage_error(err);
	}
	log_verbosity = opts.verbosity;

	memset(&cfg, 0, sizeof(cfg));
	cfg.manifests = opts.manifests;
	cfg.kubeconfig = opts.kubeconfig && *opts.kubeconfig ? opts.kubeconfig : NULL;
	cfg.master = opts.master && *opts.master ? opts.master : NULL;
	cfg.node_name = node;
	cfg.table = table;
	cfg.min_sync_ms = opts.min_sync_ms;
	cfg.sync_ms = opts.sync_ms;
	cfg.masq_mark = 1u << opts.masq_bit;
	return daemon_run(&cfg);
}
