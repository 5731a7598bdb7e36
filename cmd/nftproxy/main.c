/* nftproxy: a Kubernetes service proxy that programs nftables.
 *
 *   nftproxy [--config FILE] [--kubeconfig FILE] [--master URL] [flags]
 *   nftproxy --manifests DIR [--cluster-name NAME] [--v N] ...
 *   nftproxy --cleanup | --write-config-to FILE
 *
 * main takes kube-proxy's command line and KubeProxyConfiguration file
 * (lib/config merges them as kube-proxy does), adds nftproxy's own flags, and
 * checks everything before anything touches the kernel; daemon.c does the
 * rest. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/common/flags.h"
#include "cmd/nftproxy/daemon.h"
#include "lib/config/kpconfig.h"
#include "lib/util/ipaddr.h"
#include "lib/util/log.h"
#include "nft/sync.h"

#ifndef NFTPROXY_VERSION
#define NFTPROXY_VERSION "unknown"
#endif

_Static_assert(KPC_MAX_CIDRS == NFTC_MAX_CIDRS, "node port CIDR limits differ");

/* Exit statuses: 2 for an invalid command line or configuration (nothing
 * was touched), 1 when something failed at run time. */
#define EXIT_USAGE 2

/* nftproxy's own flags: not part of a KubeProxyConfiguration, so they apply
 * with --config too. */
struct options {
	const char *config;
	const char *write_config_to;
	const char *master;
	const char *manifests;
	const char *cluster_name;
	const char *service_cidrs;
	const char *zone;
	bool cleanup;
	bool cleanup_kube_proxy;
	bool init_only;
	bool help;
	bool version;
};

/* The command line: nftproxy's flags, then kube-proxy's (lib/config's). */
struct cmdline {
	struct flag *flags;        /* n_own + n_kpc rows and the terminator */
	size_t n_own, n_kpc;
	const char **values;       /* kube-proxy flag i's value (string flags) */
	bool *bools;               /* kube-proxy flag i's value (boolean flags) */
	int *seen_at;
};

static void cmdline_free(struct cmdline *cl)
{
	free(cl->flags);
	free(cl->values);
	free(cl->bools);
	free(cl->seen_at);
}

static int cmdline_build(struct options *o, struct cmdline *cl)
{
	const struct flag own[] = {
		{ "config", 0, FLAG_STRING, &o->config, "FILE",
		  "a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1, YAML or JSON); "
		  "with it, the kube-proxy flags below are ignored except --hostname-override "
		  "and --v, as in kube-proxy", NULL, 0, 0 },
		{ "write-config-to", 0, FLAG_STRING, &o->write_config_to, "FILE",
		  "write the effective configuration to FILE as YAML and exit", NULL, 0, 0 },
		{ "cleanup", 0, FLAG_BOOL, &o->cleanup, NULL,
		  "delete nftproxy's table (the rules) and exit", NULL, 0, 0 },
		{ "cleanup-kube-proxy", 0, FLAG_BOOL, &o->cleanup_kube_proxy, NULL,
		  "delete what kube-proxy's modes left (its nftables tables, its iptables-nft "
		  "KUBE-* chains and the jumps to them): with --cleanup, then exit; else once "
		  "nftproxy's first sync is in (a migration without a gap)", NULL, 0, 0 },
		{ "init-only", 0, FLAG_BOOL, &o->init_only, NULL,
		  "check the configuration and exit (nftproxy needs no privileged "
		  "initialization)", NULL, 0, 0 },
		{ "master", 0, FLAG_STRING, &o->master, "URL",
		  "address of the API server (overrides the kubeconfig's server)", NULL, 0, 0 },
		{ "manifests", 0, FLAG_STRING, &o->manifests, "DIR",
		  "serve the Services and EndpointSlices in the .yaml/.yml/.json files of DIR "
		  "instead of the API", NULL, 0, 0 },
		{ "cluster-name", 0, FLAG_STRING, &o->cluster_name, "NAME",
		  "program table inet nftproxy-NAME instead of nftproxy", NULL, 0, 0 },
		{ "service-cluster-ip-range", 0, FLAG_STRING, &o->service_cidrs, "CIDRS",
		  "the service CIDRs (comma separated): traffic to an address in them that no "
		  "service has is dropped", NULL, 0, 0 },
		{ "zone", 0, FLAG_STRING, &o->zone, "ZONE",
		  "this node's zone for topology hints (default: the Node's "
		  "topology.kubernetes.io/zone label)", NULL, 0, 0 },
		{ "help", 'h', FLAG_BOOL, &o->help, NULL, "show this help and exit", NULL, 0, 0 },
		{ "version", 0, FLAG_BOOL, &o->version, NULL, "print the version and exit", NULL,
		  0, 0 },
	};
	size_t n_own = sizeof(own) / sizeof(own[0]), n_kpc = kpc_flag_count();

	memset(cl, 0, sizeof(*cl));
	cl->n_own = n_own;
	cl->n_kpc = n_kpc;
	cl->flags = calloc(n_own + n_kpc + 1, sizeof(*cl->flags));
	cl->values = calloc(n_kpc ? n_kpc : 1, sizeof(*cl->values));
	cl->bools = calloc(n_kpc ? n_kpc : 1, sizeof(*cl->bools));
	cl->seen_at = calloc(n_own + n_kpc + 1, sizeof(*cl->seen_at));
	if (!cl->flags || !cl->values || !cl->bools || !cl->seen_at) {
		cmdline_free(cl);
		return -ENOMEM;
	}
	memcpy(cl->flags, own, sizeof(own));
	for (size_t i = 0; i < n_kpc; i++) {
		const struct kpc_flag_info *k = kpc_flag(i);
		struct flag *f = &cl->flags[n_own + i];

		f->name = k->name;
		f->shorthand = k->shorthand;
		f->type = k->is_bool ? FLAG_BOOL : FLAG_STRING;
		f->target = k->is_bool ? (void *)&cl->bools[i] : (void *)&cl->values[i];
		f->metavar = k->metavar;
		f->help = k->help;
		f->def = k->def;
	}
	return 0;
}

/* The help in two tables: what works, and what is only accepted. */
static int usage(const struct cmdline *cl, FILE *out)
{
	struct flag *on = calloc(cl->n_own + cl->n_kpc + 1, sizeof(*on));
	struct flag *off = calloc(cl->n_kpc + 1, sizeof(*off));
	size_t n_on = 0, n_off = 0;

	if (!on || !off) {
		free(on);
		free(off);
		return 1;
	}
	for (size_t i = 0; i < cl->n_own; i++)
		on[n_on++] = cl->flags[i];
	for (size_t i = 0; i < cl->n_kpc; i++) {
		if (kpc_flag(i)->applies)
			on[n_on++] = cl->flags[cl->n_own + i];
		else
			off[n_off++] = cl->flags[cl->n_own + i];
	}
	fprintf(out, "Usage: nftproxy [--config FILE] [--kubeconfig FILE | --master URL] [flags]\n"
		     "       nftproxy --manifests DIR [flags]\n\n"
		     "A Kubernetes service proxy that programs nftables: kube-proxy's nftables mode,\n"
		     "with kube-proxy's flags and configuration file. It serves the Services and\n"
		     "EndpointSlices of the Kubernetes API (the in-cluster service account when "
		     "neither\n--kubeconfig nor --master is given), or of a manifests directory. "
		     "Rules stay in\nplace when it stops; remove them with --cleanup or "
		     "`nftproxyctl cleanup`.\n\nFlags:\n");
	flags_help(on, out);
	fprintf(out, "\nAccepted for kube-proxy compatibility, without effect in nftproxy (each one "
		     "given\nis logged once):\n");
	flags_help(off, out);
	free(on);
	free(off);
	return 0;
}

/* One line on stderr naming what is wrong; nothing was touched. */
static int usage_error(const char *msg)
{
	fprintf(stderr, "nftproxy: %s\n", msg);
	return EXIT_USAGE;
}

/* "10.96.0.0/12,fd00::/108" into out[0..max); the error names the flag. */
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

/* The rules' settings from the merged configuration and nftproxy's flags. */
static int sync_options(const struct kpc_config *kc, const struct options *o,
			struct nft_sync_config *sc, char *err, size_t err_size)
{
	struct nftc_config *c = &sc->compile;

	c->masq_mark = 1u << kc->masquerade_bit;
	c->masquerade_all = kc->masquerade_all;
	c->zone = o->zone && *o->zone ? o->zone : NULL;
	memcpy(c->cluster_cidrs, kc->cluster_cidrs, sizeof(c->cluster_cidrs));
	c->n_cluster_cidrs = kc->n_cluster_cidrs;
	if (strcmp(kc->detect_local_mode, "NodeCIDR") == 0)
		c->local_mode = NFTC_LOCAL_NODE_CIDR;
	else
		c->local_mode = c->n_cluster_cidrs ? NFTC_LOCAL_CLUSTER_CIDR : NFTC_LOCAL_NONE;
	sc->nodeport_primary = kc->nodeport_primary;
	memcpy(sc->nodeport_cidrs, kc->nodeport_cidrs, sizeof(sc->nodeport_cidrs));
	sc->n_nodeport_cidrs = kc->n_nodeport_cidrs;
	return parse_cidrs("service-cluster-ip-range", o->service_cidrs, c->service_cidrs,
			   NFTC_MAX_CIDRS, &c->n_service_cidrs, err, err_size);
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

/* The kube-proxy flags given, to lib/config in command-line order (so that
 * of two spellings of one flag the last one wins, as in pflag). */
static int apply_kube_proxy_flags(const struct cmdline *cl, struct kpc_config *kc, char *err,
				  size_t err_size)
{
	for (;;) {
		size_t best = cl->n_kpc;
		int best_at = 0;
		int r;

		for (size_t i = 0; i < cl->n_kpc; i++) {
			int at = cl->seen_at[cl->n_own + i];

			if (at > 0 && (best == cl->n_kpc || at < best_at)) {
				best = i;
				best_at = at;
			}
		}
		if (best == cl->n_kpc)
			return 0;
		cl->seen_at[cl->n_own + best] = 0;
		r = kpc_set_flag(kc, kpc_flag(best)->name,
				 kpc_flag(best)->is_bool ? (cl->bools[best] ? "true" : "false")
							 : cl->values[best],
				 err, err_size);
		if (r < 0)
			return r;
	}
}

static int write_config(const struct kpc_config *kc, const char *path)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f) {
		fprintf(stderr, "nftproxy: --write-config-to %s: %s\n", path, strerror(errno));
		return 1;
	}
	r = kpc_write_yaml(kc, f);
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "nftproxy: --write-config-to %s: %s\n", path, strerror(-r));
		return 1;
	}
	log_info("wrote the configuration to %s", path);
	return 0;
}

static int cleanup(const char *table, bool kube_proxy)
{
	int r;

	r = nft_table_delete(table);
	if (r == -ENOENT) {
		log_info("--cleanup: table inet %s does not exist; nothing to clean up", table);
	} else if (r < 0) {
		log_error("--cleanup: cannot delete table inet %s: %s%s", table, strerror(-r),
			  r == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		return 1;
	} else {
		log_info("--cleanup: deleted table inet %s", table);
	}
	return kube_proxy ? daemon_cleanup_kube_proxy() : 0;
}

/* kube-proxy's oomScoreAdj; like kube-proxy, a failure is only logged (an
 * unprivileged container may not lower its score). */
static void apply_oom_score_adj(int64_t adj)
{
	char buf[16];
	int fd, n;

	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	n = snprintf(buf, sizeof(buf), "%lld", (long long)adj);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		log_v(2, "cannot set oom_score_adj to %lld: %s", (long long)adj, strerror(errno));
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	struct options opts = { 0 };
	struct kpc_config kc;
	struct cmdline cl;
	struct daemon_config cfg;
	char table[64], err[KPC_ERR_MAX], node[256];
	bool kubeconfig_flag = false;
	char *configz = NULL;
	int r, status;

	if (cmdline_build(&opts, &cl) < 0) {
		fprintf(stderr, "nftproxy: out of memory\n");
		return 1;
	}
	if (kpc_init(&kc) < 0) {
		fprintf(stderr, "nftproxy: out of memory\n");
		cmdline_free(&cl);
		return 1;
	}
	r = flags_parse_seen(cl.flags, argc, argv, cl.seen_at, err, sizeof(err));
	if (r < 0) {
		status = usage_error(err);
		goto out;
	}
	if (r < argc) {
		snprintf(err, sizeof(err), "unexpected argument \"%s\"", argv[r]);
		status = usage_error(err);
		goto out;
	}
	if (opts.help) {
		status = usage(&cl, stdout);
		goto out;
	}
	if (opts.version) {
		printf("nftproxy %s\n", NFTPROXY_VERSION);
		status = 0;
		goto out;
	}
	for (size_t i = 0; i < cl.n_kpc; i++)
		if (strcmp(kpc_flag(i)->name, "kubeconfig") == 0)
			kubeconfig_flag = cl.seen_at[cl.n_own + i] > 0;

	/* kube-proxy's order: the file, then the flags (of which only some
	 * override the file), then defaults and checks. */
	if (opts.config) {
		if (!*opts.config) {
			status = usage_error("--config needs a file");
			goto out;
		}
		r = kpc_load_file(&kc, opts.config, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "nftproxy: %s\n", err);
			status = r == -EINVAL || r == -EBADMSG ? EXIT_USAGE : 1;
			goto out;
		}
	}
	r = apply_kube_proxy_flags(&cl, &kc, err, sizeof(err));
	if (r == 0)
		r = kpc_finish(&kc, err, sizeof(err));
	if (r < 0) {
		status = usage_error(err);
		goto out;
	}

	if (opts.manifests && !*opts.manifests) {
		status = usage_error("--manifests needs a directory");
		goto out;
	}
	if (opts.manifests && ((kubeconfig_flag && !opts.config) || opts.master)) {
		status = usage_error("--manifests serves files instead of the API: it does not go "
				     "with --kubeconfig or --master");
		goto out;
	}
	if (opts.write_config_to && !*opts.write_config_to) {
		status = usage_error("--write-config-to needs a file");
		goto out;
	}
	if (node_name(kc.hostname_override, node, sizeof(node)) < 0) {
		status = usage_error("cannot tell this node's name: set --hostname-override");
		goto out;
	}
	if (nft_table_name(opts.cluster_name, table, sizeof(table)) < 0) {
		snprintf(err, sizeof(err), "--cluster-name: \"%s\" is not a valid name: use at most "
			 "50 lower-case letters, digits and '-', starting and ending with a letter "
			 "or digit", opts.cluster_name ? opts.cluster_name : "");
		status = usage_error(err);
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	if (sync_options(&kc, &opts, &cfg.sync, err, sizeof(err)) < 0) {
		status = usage_error(err);
		goto out;
	}

	/* Everything is checked: from here on, things happen. */
	log_verbosity = (int)kc.verbosity;
	for (size_t i = 0; i < kc.notes.n; i++)
		log_info("%s", kc.notes.v[i]);
	if (opts.write_config_to) {
		status = write_config(&kc, opts.write_config_to);
		goto out;
	}
	if (opts.cleanup) {
		status = cleanup(table, opts.cleanup_kube_proxy);
		goto out;
	}
	if (opts.init_only) {
		log_info("--init-only: the configuration is valid and nftproxy needs no "
			 "privileged initialization; exiting");
		status = 0;
		goto out;
	}
	if (opts.manifests && *kc.kubeconfig)
		log_info("ignored: %s: --manifests serves files, not the API", kc.kubeconfig);
	if (cfg.sync.compile.local_mode == NFTC_LOCAL_NONE)
		log_info("no --cluster-cidr: traffic to cluster IPs is not told apart by source, "
			 "and is masqueraded only with --masquerade-all");
	apply_oom_score_adj(kc.oom_score_adj);

	cfg.manifests = opts.manifests;
	cfg.kubeconfig = *kc.kubeconfig && !opts.manifests ? kc.kubeconfig : NULL;
	cfg.master = opts.master && *opts.master ? opts.master : NULL;
	cfg.node_name = node;
	cfg.table = table;
	cfg.min_sync_ms = kpc_ns_to_ms(kc.min_sync_period_ns);
	cfg.sync_ms = kpc_ns_to_ms(kc.sync_period_ns);
	cfg.sync.compile.node_name = node;
	cfg.healthz_addr = kc.healthz_bind_address;
	cfg.metrics_addr = kc.metrics_bind_address;
	cfg.cleanup_kube_proxy = opts.cleanup_kube_proxy;
	cfg.bind_hard_fail = kc.bind_address_hard_fail;
	{
		const char *extra[] = {
			"nodeName", node,
			"table", table,
			"manifests", opts.manifests,
			"master", cfg.master,
			"clusterName", opts.cluster_name,
			"serviceClusterIPRange", opts.service_cidrs,
			"zone", opts.zone,
			"configFile", opts.config,
			NULL,
		};

		if (kpc_configz_json(&kc, extra, &configz) < 0) {
			log_error("out of memory");
			status = 1;
			goto out;
		}
		cfg.configz_json = configz;
	}
	status = daemon_run(&cfg);
out:
	free(configz);
	kpc_free(&kc);
	cmdline_free(&cl);
	return status;
}
