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
#include "lib/util/ipaddr.h"
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
	const char *nodeport_addresses;
	const char *cluster_cidr;
	const char *detect_local_mode;
	const char *service_cidrs;
	const char *zone;
	bool masquerade_all;
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

/* "10.244.0.0/16,fd00::/48" into out[0..max); the error names the flag. */
static int parse_cidrs(const char *flag, const char *s, struct svc_prefix *out, size_t max,
		       size_t *n, char *err, size_t err_size)
{
	char buf[1024], *save = NULL, *tok;

	*n = 0;
	if (!s || !*s)
		return 0;
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, err_size, "--%s is too long", flag);
		return -EINVAL;
	}
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct svc_prefix p;

		while (isspace((unsigned char)*tok))
			tok++;
		if (ip_prefix_parse(tok, &p.addr, &p.len) < 0) {
			snprintf(err, err_size, "--%s: \"%s\" is not a CIDR (like 10.0.0.0/8 or "
				 "fd00::/64)", flag, tok);
			return -EINVAL;
		}
		if (*n == max) {
			snprintf(err, err_size, "--%s: at most %zu CIDRs", flag, max);
			return -EINVAL;
		}
		out[(*n)++] = p;
	}
	return 0;
}

static int sync_options(const struct options *o, struct nft_sync_config *sc, char *err,
			size_t err_size)
{
	struct nftc_config *c = &sc->compile;
	int r;

	c->masq_mark = 1u << o->masq_bit;
	c->masquerade_all = o->masquerade_all;
	c->zone = o->zone && *o->zone ? o->zone : NULL;
	r = parse_cidrs("cluster-cidr", o->cluster_cidr, c->cluster_cidrs, 2,
			&c->n_cluster_cidrs, err, err_size);
	if (r < 0)
		return r;
	if (c->n_cluster_cidrs == 2 &&
	    c->cluster_cidrs[0].addr.family == c->cluster_cidrs[1].addr.family) {
		snprintf(err, err_size, "--cluster-cidr: at most one CIDR per IP family");
		return -EINVAL;
	}
	if (!o->detect_local_mode || !*o->detect_local_mode ||
	    strcmp(o->detect_local_mode, "ClusterCIDR") == 0) {
		c->local_mode = c->n_cluster_cidrs ? NFTC_LOCAL_CLUSTER_CIDR : NFTC_LOCAL_NONE;
		if (!c->n_cluster_cidrs)
			log_info("no --cluster-cidr: traffic to cluster IPs is not told apart by "
				 "source, and is masqueraded only with --masquerade-all");
	} else if (strcmp(o->detect_local_mode, "NodeCIDR") == 0) {
		c->local_mode = NFTC_LOCAL_NODE_CIDR;
	} else if (strcmp(o->detect_local_mode, "BridgeInterface") == 0 ||
		   strcmp(o->detect_local_mode, "InterfaceNamePrefix") == 0) {
		snprintf(err, err_size, "--detect-local-mode %s is not supported by nftproxy (yet); "
			 "use ClusterCIDR or NodeCIDR", o->detect_local_mode);
		return -EINVAL;
	} else {
		snprintf(err, err_size, "--detect-local-mode: unknown mode \"%s\" (ClusterCIDR, "
			 "NodeCIDR)", o->detect_local_mode);
		return -EINVAL;
	}
	r = parse_cidrs("service-cluster-ip-range", o->service_cidrs, c->service_cidrs,
			NFTC_MAX_CIDRS, &c->n_service_cidrs, err, err_size);
	if (r < 0)
		return r;
	sc->nodeport_primary = !o->nodeport_addresses || !*o->nodeport_addresses ||
			       strcmp(o->nodeport_addresses, "primary") == 0;
	if (!sc->nodeport_primary)
		return parse_cidrs("nodeport-addresses", o->nodeport_addresses, sc->nodeport_cidrs,
				   NFTC_MAX_CIDRS, &sc->n_nodeport_cidrs, err, err_size);
	return 0;
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
		{ "iptables-masquerade-bit", 0, FLAG_INT, &opts.masq_bit, "N",
		  "bit of the packet mark that flags traffic for masquerade (kube-proxy's name; "
		  "nftables mode uses it too)", "14", 0, 31 },
		{ "masquerade-bit", 0, FLAG_INT, &opts.masq_bit, "N",
		  "same as --iptables-masquerade-bit", NULL, 0, 31 },
		{ "masquerade-all", 0, FLAG_BOOL, &opts.masquerade_all, NULL,
		  "masquerade all traffic to cluster IPs", NULL, 0, 0 },
		{ "cluster-cidr", 0, FLAG_STRING, &opts.cluster_cidr, "CIDRS",
		  "the pods' CIDRs (comma separated, at most one per family): traffic to a "
		  "cluster IP from outside them is masqueraded", NULL, 0, 0 },
		{ "detect-local-mode", 0, FLAG_STRING, &opts.detect_local_mode, "MODE",
		  "how pod traffic is told from other traffic: ClusterCIDR (--cluster-cidr) or "
		  "NodeCIDR (the Node's spec.podCIDRs)", "ClusterCIDR", 0, 0 },
		{ "nodeport-addresses", 0, FLAG_STRING, &opts.nodeport_addresses, "CIDRS",
		  "\"primary\" (the Node's first address of each family) or comma-separated "
		  "CIDRs: node ports are served on this node's addresses inside them",
		  "primary", 0, 0 },
		{ "service-cluster-ip-range", 0, FLAG_STRING, &opts.service_cidrs, "CIDRS",
		  "the service CIDRs (comma separated): traffic to an address in them that no "
		  "service has is dropped", NULL, 0, 0 },
		{ "zone", 0, FLAG_STRING, &opts.zone, "ZONE",
		  "this node's zone for topology hints (default: the Node's "
		  "topology.kubernetes.io/zone label)", NULL, 0, 0 },
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
	if (sync_options(&opts, &cfg.sync, err, sizeof(err)) < 0)
		return usage_error(err);
	cfg.sync.compile.node_name = node;
	return daemon_run(&cfg);
}
