/* lib/config: the KubeProxyConfiguration file (YAML and JSON), kube-proxy's
 * flags, how they meet (kube-proxy's precedence), the defaults, every class
 * of error (each naming the flag or the file and field), Go durations, and
 * that --write-config-to's YAML loads back to the same configuration.
 * Fixtures are in data/config. */
#include "lib/config/kpconfig.h"
#include "lib/kube/doc.h"
#include "lib/kube/doc_json.h"
#include "lib/util/ipaddr.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA "data/config/"

#define CHECK_HAS(hay, needle)                                                                     \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_)) {                                                      \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,       \
				__LINE__, h_ ? h_ : "(null)", n_);                                 \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_DBL(a, b)                                                                            \
	do {                                                                                       \
		double a_ = (a), b_ = (b);                                                         \
		if (a_ != b_) {                                                                    \
			fprintf(stderr, "%s:%d: %s == %s failed: %g != %g\n", __FILE__, __LINE__,  \
				#a, #b, a_, b_);                                                   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define SEC 1000000000ll
#define MS  1000000ll

static char err[KPC_ERR_MAX];

/* ---- helpers ---- */

/* flags: NULL-terminated name, value pairs, applied in order. */
static int build(struct kpc_config *c, const char *file, const char *text,
		 const char *const *flags)
{
	int r;

	CHECK_INT(kpc_init(c), 0);
	err[0] = '\0';
	if (file) {
		r = kpc_load_file(c, file, err, sizeof(err));
		if (r < 0)
			return r;
	}
	if (text) {
		r = kpc_load_buffer(c, text, strlen(text), "t.yaml", err, sizeof(err));
		if (r < 0)
			return r;
	}
	for (size_t i = 0; flags && flags[i]; i += 2) {
		r = kpc_set_flag(c, flags[i], flags[i + 1], err, sizeof(err));
		if (r < 0)
			return r;
	}
	return kpc_finish(c, err, sizeof(err));
}

static void build_ok(struct kpc_config *c, const char *file, const char *text,
		     const char *const *flags)
{
	int r = build(c, file, text, flags);

	if (r < 0) {
		fprintf(stderr, "unexpected error %d: %s\n", r, err);
		exit(1);
	}
}

/* The message names every needle (the flag, or the file and the field). */
static void expect_error(const char *file, const char *text, const char *const *flags,
			 const char *needle1, const char *needle2)
{
	struct kpc_config c;
	int r = build(&c, file, text, flags);

	if (r >= 0) {
		fprintf(stderr, "expected an error naming \"%s\", got none\n", needle1);
		exit(1);
	}
	CHECK(strchr(err, '\n') == NULL); /* one line */
	CHECK_HAS(err, needle1);
	if (needle2)
		CHECK_HAS(err, needle2);
	kpc_free(&c);
}

#define HEAD "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"

static void expect_text_error(const char *body, const char *needle)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", HEAD, body);
	expect_error(NULL, text, NULL, "t.yaml: ", needle);
}

static void expect_flag_error(const char *name, const char *value, const char *needle)
{
	const char *flags[] = { name, value, NULL };
	char want[96];

	snprintf(want, sizeof(want), "--%s", name);
	expect_error(NULL, NULL, flags, want, needle);
}

static char *yaml_of(const struct kpc_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	CHECK_INT(kpc_write_yaml(c, f), 0);
	CHECK_INT(fclose(f), 0);
	return buf;
}

static bool has_note(const struct kpc_config *c, const char *a, const char *b)
{
	for (size_t i = 0; i < c->notes.n; i++)
		if (strstr(c->notes.v[i], a) && (!b || strstr(c->notes.v[i], b)))
			return true;
	return false;
}

static void print_notes(const struct kpc_config *c)
{
	for (size_t i = 0; i < c->notes.n; i++)
		fprintf(stderr, "  note: %s\n", c->notes.v[i]);
}

#define CHECK_NOTE(c, a, b)                                                                        \
	do {                                                                                       \
		if (!has_note((c), (a), (b))) {                                                    \
			fprintf(stderr, "%s:%d: no note with \"%s\"/\"%s\"\n", __FILE__, __LINE__, \
				(a), (b) ? (b) : "");                                              \
			print_notes(c);                                                            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static const char *prefix_str(const struct svc_prefix *p, char *buf)
{
	char a[IP_ADDR_STRLEN];

	sprintf(buf, "%s/%u", ip_addr_fmt(&p->addr, a), p->len);
	return buf;
}

/* ---- defaults ---- */

static void test_defaults(void)
{
	struct kpc_config c;

	build_ok(&c, NULL, NULL, NULL);
	CHECK_STR(c.mode, "nftables");
	CHECK_STR(c.detect_local_mode, "ClusterCIDR");
	CHECK_STR(c.bind_address, "0.0.0.0");
	CHECK_STR(c.healthz_bind_address, "0.0.0.0:10256");
	CHECK_STR(c.metrics_bind_address, "127.0.0.1:10249");
	CHECK_STR(c.kubeconfig, "");
	CHECK_STR(c.hostname_override, "");
	CHECK_INT(c.masquerade_bit, 14);
	CHECK(!c.masquerade_all);
	CHECK_INT(c.sync_period_ns, 30 * SEC);
	CHECK_INT(c.min_sync_period_ns, 1 * SEC);
	CHECK_INT(c.oom_score_adj, -999);
	CHECK_INT(c.verbosity, 0);
	CHECK(c.nodeport_primary);
	CHECK_INT(c.n_cluster_cidrs, 0);
	CHECK_INT(c.notes.n, 0);
	kpc_free(&c);

	/* An IPv6 bindAddress makes the servers' defaults IPv6 (kube-proxy's
	 * getDefaultAddresses). */
	{
		const char *flags[] = { "bind-address", "fd00::1", NULL };

		build_ok(&c, NULL, NULL, flags);
		CHECK_STR(c.healthz_bind_address, "[::]:10256");
		CHECK_STR(c.metrics_bind_address, "[::1]:10249");
		kpc_free(&c);
	}
}

/* kubeadm's ConfigMap: zero everywhere means the defaults, and the zero
 * sections of other modes are not worth a log line. */
static void test_kubeadm_file(void)
{
	struct kpc_config c;

	build_ok(&c, DATA "kubeadm.yaml", NULL, NULL);
	CHECK_STR(c.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
	CHECK_STR(c.mode, "nftables");
	CHECK_STR(c.healthz_bind_address, "0.0.0.0:10256");
	CHECK_STR(c.metrics_bind_address, "127.0.0.1:10249");
	CHECK_INT(c.masquerade_bit, 14);
	CHECK_INT(c.sync_period_ns, 30 * SEC);
	CHECK_INT(c.min_sync_period_ns, 1 * SEC);
	CHECK_INT(c.oom_score_adj, -999);
	CHECK_DBL(c.qps, 5);
	CHECK_INT(c.burst, 10);
	CHECK_INT(c.config_sync_period_ns, 15 * 60 * SEC);
	CHECK_INT(c.n_cluster_cidrs, 1);
	CHECK(c.nodeport_primary);
	if (c.notes.n)
		print_notes(&c);
	CHECK_INT(c.notes.n, 0);
	kpc_free(&c);
}

static void check_good(const struct kpc_config *c, const char *file)
{
	char buf[64];

	CHECK_STR(c->kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
	CHECK_STR(c->hostname_override, "node-1");
	CHECK_STR(c->bind_address, "192.0.2.1");
	CHECK_STR(c->healthz_bind_address, "0.0.0.0:12256");
	CHECK_STR(c->metrics_bind_address, "127.0.0.1:10249"); /* the port appended */
	CHECK_INT(c->n_cluster_cidrs, 2);
	CHECK_STR(prefix_str(&c->cluster_cidrs[0], buf), "10.244.0.0/16");
	CHECK_STR(prefix_str(&c->cluster_cidrs[1], buf), "fd00:10:244::/56");
	CHECK(!c->nodeport_primary);
	CHECK_INT(c->n_nodeport_cidrs, 2);
	CHECK_STR(prefix_str(&c->nodeport_cidrs[1], buf), "2001:db8::/64");
	CHECK_INT(c->masquerade_bit, 5);
	CHECK(c->masquerade_all);
	CHECK_INT(c->sync_period_ns, 60 * SEC);
	CHECK_INT(c->min_sync_period_ns, 250 * MS);
	CHECK_INT(c->verbosity, 2);
	CHECK_INT(c->oom_score_adj, -500);
	CHECK_DBL(c->qps, 50);
	/* One line for each thing that has no effect, naming file and field. */
	CHECK_NOTE(c, file, "clientConnection.qps");
	CHECK_NOTE(c, "iptables (masqueradeBit, syncPeriod)", "nftables section");
	CHECK_NOTE(c, "conntrack.maxPerCore", "conntrack");
	CHECK_NOTE(c, "featureGates", NULL);
	if (c->notes.n != 4)
		print_notes(c);
	CHECK_INT(c->notes.n, 4);
}

static void test_good_yaml_and_json(void)
{
	struct kpc_config y, j;
	char *ya, *ja;

	build_ok(&y, DATA "good.yaml", NULL, NULL);
	check_good(&y, DATA "good.yaml");
	build_ok(&j, DATA "good.json", NULL, NULL);
	check_good(&j, DATA "good.json");
	ya = yaml_of(&y);
	ja = yaml_of(&j);
	CHECK_STR(ya, ja);
	free(ya);
	free(ja);
	kpc_free(&y);
	kpc_free(&j);
}

/* ---- errors in the file: each names the file and the field ---- */

static void test_file_errors(void)
{
	/* unknown fields, at the top and inside a section nftproxy reads */
	expect_error(DATA "unknown-field.yaml", NULL, NULL, DATA "unknown-field.yaml",
		     "unknown field \"nftables.masqueradBit\"");
	expect_text_error("masqueradeAll: true\n", "unknown field \"masqueradeAll\"");
	expect_text_error("clientConnection:\n  kubeConfig: /x\n",
			  "unknown field \"clientConnection.kubeConfig\"");
	expect_text_error("nftables.syncPeriod: 1s\n", "unknown field \"nftables.syncPeriod\"");
	/* wrong types */
	expect_text_error("nftables:\n  masqueradeBit: \"5\"\n",
			  "nftables.masqueradeBit: \"5\" is a string, expected an integer");
	expect_text_error("nftables:\n  masqueradeAll: yes\n", "nftables.masqueradeAll");
	expect_text_error("nodePortAddresses: 10.0.0.0/8\n", "nodePortAddresses");
	expect_text_error("nodePortAddresses: [10.0.0.0/8, 5]\n", "nodePortAddresses[1]");
	expect_text_error("nftables: 5\n", "nftables: 5 is an integer, expected a map");
	expect_text_error("featureGates:\n  A: 1\n", "featureGates.A");
	expect_text_error("iptables: []\n", "iptables: got a list, expected a map");
	expect_text_error("nftables:\n  syncPeriod: 30\n",
			  "nftables.syncPeriod: 30 is an integer, expected a duration");
	/* bad durations */
	expect_error(DATA "bad-duration.json", NULL, NULL, DATA "bad-duration.json",
		     "nftables.syncPeriod: \"30 seconds\" is not a duration");
	expect_text_error("nftables:\n  minSyncPeriod: -1s\n",
			  "nftables.minSyncPeriod: -1s must not be negative");
	expect_text_error("nftables:\n  syncPeriod: 1s\n  minSyncPeriod: 2s\n",
			  "nftables.minSyncPeriod: 2s is longer than the sync period 1s");
	/* bad CIDRs */
	expect_text_error("clusterCIDR: 10.244.0.0\n", "clusterCIDR: \"10.244.0.0\" is not a CIDR");
	expect_text_error("clusterCIDR: 10.0.0.0/8,10.1.0.0/16\n", "clusterCIDR");
	expect_text_error("clusterCIDR: 10.0.0.0/8,fd00::/8,fd01::/16\n", "at most two");
	expect_text_error("nodePortAddresses: [10.0.0.0/33]\n",
			  "nodePortAddresses: \"10.0.0.0/33\" is not a CIDR");
	expect_text_error("nodePortAddresses: [primary, 10.0.0.0/8]\n",
			  "\"primary\" cannot be given with CIDRs");
	/* bad addresses */
	expect_text_error("healthzBindAddress: localhost:10256\n", "healthzBindAddress");
	expect_text_error("metricsBindAddress: 127.0.0.1:0\n",
			  "metricsBindAddress: \"127.0.0.1:0\": the port must be");
	expect_text_error("metricsBindAddress: 127.0.0.1:70000\n", "metricsBindAddress");
	expect_text_error("healthzBindAddress: ::1:10256\n", "healthzBindAddress");
	expect_text_error("bindAddress: node-1\n", "bindAddress: \"node-1\" is not an IP address");
	/* modes */
	expect_error(DATA "mode-iptables.yaml", NULL, NULL, DATA "mode-iptables.yaml",
		     "mode: \"iptables\" is not supported");
	expect_text_error("mode: ipvs\n", "mode: \"ipvs\" is not supported");
	expect_text_error("mode: kernelspace\n", "not supported");
	expect_text_error("mode: nft\n", "unknown proxy mode \"nft\"");
	expect_text_error("detectLocalMode: BridgeInterface\n", "detectLocalMode: BridgeInterface");
	expect_text_error("detectLocalMode: Pods\n", "unknown mode \"Pods\"");
	/* ranges */
	expect_text_error("nftables:\n  masqueradeBit: 32\n",
			  "nftables.masqueradeBit: 32 is out of range [0, 31]");
	expect_text_error("oomScoreAdj: 1001\n", "oomScoreAdj: 1001 is out of range");
	/* infinity, which JSON cannot write back (found by fuzz_kpc) */
	expect_text_error("clientConnection:\n  qps: 1e999\n",
			  "clientConnection.qps: the number is out of range");
	expect_text_error("clientConnection:\n  qps: .inf\n", "clientConnection.qps");
	expect_text_error("logging:\n  format: xml\n", "logging.format");
	expect_text_error("portRange: 20-10\n", "portRange");
	expect_text_error("showHiddenMetricsForVersion: latest\n", "showHiddenMetricsForVersion");
	expect_text_error("configSyncPeriod: -1m\n", "configSyncPeriod");
	/* what the document is */
	expect_error(NULL, "apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: "
			   "KubeProxyConfiguration\n", NULL, "apiVersion", "v1alpha2");
	expect_error(NULL, "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: Config\n", NULL,
		     "kind: \"Config\" is not supported", NULL);
	expect_error(NULL, "kind: KubeProxyConfiguration\n", NULL, "apiVersion: missing", NULL);
	expect_error(NULL, HEAD "---\n" HEAD, NULL, "holds 2 documents", NULL);
	expect_error(NULL, "", NULL, "t.yaml: is empty", NULL);
	expect_error(NULL, "- a\n", NULL, "t.yaml: is a list", NULL);
	expect_error(DATA "syntax.yaml", NULL, NULL, DATA "syntax.yaml: line", NULL);
	expect_error(NULL, "{\"apiVersion\": ", NULL, "t.yaml: line 1", NULL);
	{
		struct kpc_config c;

		CHECK_INT(build(&c, DATA "no-such-file.yaml", NULL, NULL), -ENOENT);
		CHECK_HAS(err, DATA "no-such-file.yaml: cannot open");
		kpc_free(&c);
	}
}

/* ---- flags ---- */

static void test_flags(void)
{
	struct kpc_config c;
	char buf[64];

	{
		const char *flags[] = {
			"kubeconfig", "/etc/kc",
			"hostname-override", "  Node-A ",
			"cluster-cidr", "10.244.0.0/16, fd00:10:244::/56",
			"nodeport-addresses", "192.0.2.0/24",
			"masquerade-all", "true",
			"iptables-masquerade-bit", "3",
			"masquerade-bit", "7",  /* the last of the two spellings wins */
			"sync-period", "2m",
			"iptables-min-sync-period", "0", /* a flag's 0 is 0 */
			"healthz-bind-address", "::",
			"metrics-bind-address", "",  /* off */
			"detect-local-mode", "NodeCIDR",
			"oom-score-adj", "0",
			"v", "4",
			"proxy-mode", "",
			NULL,
		};

		build_ok(&c, NULL, NULL, flags);
		CHECK_STR(c.kubeconfig, "/etc/kc");
		CHECK_STR(c.hostname_override, "node-a");
		CHECK_INT(c.n_cluster_cidrs, 2);
		CHECK_STR(prefix_str(&c.cluster_cidrs[1], buf), "fd00:10:244::/56");
		CHECK_INT(c.n_nodeport_cidrs, 1);
		CHECK(c.masquerade_all);
		CHECK_INT(c.masquerade_bit, 7);
		CHECK_INT(c.sync_period_ns, 120 * SEC);
		CHECK_INT(c.min_sync_period_ns, 0);
		CHECK_STR(c.healthz_bind_address, "[::]:10256");
		CHECK_STR(c.metrics_bind_address, "");
		CHECK_STR(c.detect_local_mode, "NodeCIDR");
		CHECK_INT(c.oom_score_adj, 0);
		CHECK_INT(c.verbosity, 4);
		CHECK_STR(c.mode, "nftables");
		CHECK_INT(c.notes.n, 0);
		kpc_free(&c);
	}
	{
		/* The deprecated ports: 0 turns a server off; another port fills in
		 * an address without one (kube-proxy's addressFromDeprecatedFlags). */
		const char *flags[] = { "healthz-port", "0", "metrics-bind-address", "127.0.0.2",
					"metrics-port", "9999", NULL };

		build_ok(&c, NULL, NULL, flags);
		CHECK_STR(c.healthz_bind_address, "");
		CHECK_STR(c.metrics_bind_address, "127.0.0.2:9999");
		kpc_free(&c);
	}
	{
		/* Accepted, checked, noted, without effect. */
		const char *flags[] = { "ipvs-scheduler", "rr", "conntrack-max-per-core", "0",
					"profiling", "true", "feature-gates", "A=true, B = false",
					"kube-api-qps", "20", "iptables-localhost-nodeports", "false",
					"vmodule", "sync*=5", NULL };

		build_ok(&c, NULL, NULL, flags);
		CHECK_NOTE(&c, "--ipvs-scheduler", "does not apply to nftproxy");
		CHECK_NOTE(&c, "--conntrack-max-per-core", "conntrack");
		CHECK_NOTE(&c, "--profiling", NULL);
		CHECK_NOTE(&c, "--feature-gates", NULL);
		CHECK_NOTE(&c, "--kube-api-qps", NULL);
		CHECK_NOTE(&c, "--iptables-localhost-nodeports", "loopback");
		CHECK_NOTE(&c, "--vmodule", NULL);
		CHECK_INT(c.notes.n, 7);
		CHECK_INT(c.feature_gates.n, 2);
		CHECK_STR(c.feature_gates.v[1].name, "B");
		CHECK(!c.feature_gates.v[1].enabled);
		kpc_free(&c);
	}

	expect_flag_error("iptables-masquerade-bit", "abc", "\"abc\" is not an integer");
	expect_flag_error("iptables-masquerade-bit", "40", "40 is out of range [0, 31]");
	expect_flag_error("sync-period", "10x", "\"10x\" is not a duration");
	expect_flag_error("min-sync-period", "-1s", "must not be negative");
	expect_flag_error("cluster-cidr", "10.0.0.0/8,bad", "\"bad\" is not a CIDR");
	expect_flag_error("nodeport-addresses", "primary,10.0.0.0/8", "cannot be given with CIDRs");
	expect_flag_error("healthz-bind-address", "0.0.0.0:x", "the port must be");
	expect_flag_error("metrics-bind-address", "[::1]", "must be IP:PORT");
	expect_flag_error("bind-address", "", "is not an IP address");
	expect_flag_error("proxy-mode", "iptables", "\"iptables\" is not supported");
	expect_flag_error("proxy-mode", "ipvs", "nftables mode only");
	expect_flag_error("detect-local-mode", "InterfaceNamePrefix", "not supported");
	expect_flag_error("masquerade-all", "maybe", "is not true or false");
	expect_flag_error("feature-gates", "A", "is not NAME=true or NAME=false");
	expect_flag_error("feature-gates", "A=maybe", "\"maybe\" is not true or false");
	expect_flag_error("hostname-override", "   ", "blank");
	expect_flag_error("oom-score-adj", "-1001", "out of range");
	expect_flag_error("config-sync-period", "0", "must be greater than 0");
	expect_flag_error("ipvs-sync-period", "soon", "\"soon\" is not a duration");
	{
		const char *flags[] = { "min-sync-period", "1m", NULL };

		expect_error(NULL, NULL, flags, "--min-sync-period: 1m0s is longer than the sync "
			     "period 30s (nftables.syncPeriod)", NULL);
	}
	CHECK_INT(kpc_init(&c), 0);
	CHECK_INT(kpc_set_flag(&c, "no-such-flag", "1", err, sizeof(err)), -ENOENT);
	kpc_free(&c);
	/* Every flag of the table is one kpc_set_flag takes. */
	CHECK(kpc_flag_count() > 40);
	for (size_t i = 0; i < kpc_flag_count(); i++) {
		const struct kpc_flag_info *f = kpc_flag(i);

		CHECK_INT(kpc_init(&c), 0);
		CHECK(kpc_set_flag(&c, f->name, "x", err, sizeof(err)) != -ENOENT);
		kpc_free(&c);
	}
}

/* kube-proxy's precedence: with --config the file decides, except
 * --hostname-override and the logging flags; other flags are still checked,
 * then noted as ignored. */
static void test_flags_and_file(void)
{
	struct kpc_config c;

	{
		const char *flags[] = { "cluster-cidr", "10.1.0.0/16", "iptables-masquerade-bit",
					"9", "v", "6", "hostname-override", "Other-Node",
					"healthz-port", "0", NULL };

		build_ok(&c, DATA "good.yaml", NULL, flags);
		CHECK_INT(c.masquerade_bit, 5);     /* the file's */
		CHECK_INT(c.n_cluster_cidrs, 2);    /* the file's */
		CHECK_STR(c.healthz_bind_address, "0.0.0.0:12256");
		CHECK_INT(c.verbosity, 6);          /* the flag's */
		CHECK_STR(c.hostname_override, "other-node");
		CHECK_NOTE(&c, "--cluster-cidr", "--config " DATA "good.yaml sets the configuration");
		CHECK_NOTE(&c, "--iptables-masquerade-bit", "--config");
		CHECK_NOTE(&c, "--healthz-port", "--config");
		kpc_free(&c);
	}
	{
		/* Checked even when the file wins. */
		const char *flags[] = { "iptables-masquerade-bit", "x", NULL };

		expect_error(DATA "good.yaml", NULL, flags, "--iptables-masquerade-bit", "integer");
	}
	{
		/* An empty --hostname-override is not given (kube-proxy). */
		const char *flags[] = { "hostname-override", "", NULL };

		build_ok(&c, DATA "good.yaml", NULL, flags);
		CHECK_STR(c.hostname_override, "node-1");
		kpc_free(&c);
	}
	{
		/* A zero in the file is the default; the same zero as a flag is 0. */
		build_ok(&c, NULL, HEAD "nftables:\n  minSyncPeriod: 0s\n  masqueradeBit: 0\n",
			 NULL);
		CHECK_INT(c.min_sync_period_ns, 1 * SEC);
		CHECK_INT(c.masquerade_bit, 0);   /* a *int32 in kube-proxy: 0 is a value */
		kpc_free(&c);
	}
}

/* --write-config-to's file loads back to the same configuration, and
 * writing that again gives the same bytes. */
static void test_round_trip(void)
{
	/* NULL: from flags only. */
	static const char *const files[] = { DATA "good.yaml", DATA "good.json",
					     DATA "kubeadm.yaml", NULL };
	struct kpc_config a, b;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *flags[] = { "v", "3", "hostname-override", "n1", NULL };
		char *ya, *yb;

		if (files[i])
			build_ok(&a, files[i], NULL, NULL);
		else
			build_ok(&a, NULL, NULL, flags);
		ya = yaml_of(&a);
		build_ok(&b, NULL, ya, NULL);
		yb = yaml_of(&b);
		CHECK_STR(yb, ya);
		CHECK_STR(b.healthz_bind_address, a.healthz_bind_address);
		CHECK_INT(b.masquerade_bit, a.masquerade_bit);
		CHECK_INT(b.sync_period_ns, a.sync_period_ns);
		CHECK_INT(b.min_sync_period_ns, a.min_sync_period_ns);
		CHECK_INT(b.n_nodeport_cidrs, a.n_nodeport_cidrs);
		CHECK_INT(b.n_cluster_cidrs, a.n_cluster_cidrs);
		CHECK_INT(b.verbosity, a.verbosity);
		CHECK_STR(b.hostname_override, a.hostname_override);
		free(ya);
		free(yb);
		kpc_free(&a);
		kpc_free(&b);
	}
	/* Strings that need quoting survive. */
	build_ok(&a, NULL, HEAD "hostnameOverride: \"a: \\\"b\\\" #c\\\\\"\n", NULL);
	{
		char *ya = yaml_of(&a);

		build_ok(&b, NULL, ya, NULL);
		CHECK_STR(b.hostname_override, "a: \"b\" #c\\");
		free(ya);
	}
	kpc_free(&a);
	kpc_free(&b);
}

struct one_doc {
	struct doc *root;
};

static int keep_doc(struct doc *root, void *data)
{
	((struct one_doc *)data)->root = root;
	return 0;
}

static void test_configz(void)
{
	const char *extra[] = { "table", "nftproxy", "zone", NULL, "manifests", "/m", NULL };
	struct one_doc d = { 0 };
	const struct doc *kp, *nft, *np;
	struct doc_json *j;
	struct kpc_config c;
	const char *s;
	int64_t i;
	char *json;

	build_ok(&c, DATA "good.yaml", NULL, NULL);
	CHECK_INT(kpc_configz_json(&c, extra, &json), 0);
	CHECK_INT(doc_json_new(keep_doc, &d, &j), 0);
	if (doc_json_feed(j, json, strlen(json)) < 0 || doc_json_finish(j) < 0) {
		fprintf(stderr, "configz is not JSON: %s\n%s\n", doc_json_error(j), json);
		exit(1);
	}
	doc_json_free(j);
	CHECK(d.root != NULL);
	CHECK_INT(doc_get_map(d.root, "kubeproxy.config.k8s.io", &kp), 0);
	CHECK_INT(doc_get_string(kp, "mode", &s), 0);
	CHECK_STR(s, "nftables");
	CHECK_INT(doc_get_map(kp, "nftables", &nft), 0);
	CHECK_INT(doc_get_int(nft, "masqueradeBit", &i), 0);
	CHECK_INT(i, 5);
	CHECK_INT(doc_get_string(nft, "minSyncPeriod", &s), 0);
	CHECK_STR(s, "250ms");
	CHECK_INT(doc_get_map(d.root, "nftproxy", &np), 0);
	CHECK_INT(doc_get_string(np, "table", &s), 0);
	CHECK_STR(s, "nftproxy");
	CHECK_INT(doc_get_string(np, "zone", &s), -ENOENT);
	CHECK_INT(doc_get_string(np, "manifests", &s), 0);
	doc_free(d.root);
	free(json);
	kpc_free(&c);
}

/* ---- Go durations ---- */

static void test_durations(void)
{
	static const struct {
		const char *s;
		int64_t ns;
	} good[] = {
		{ "0", 0 },
		{ "0s", 0 },
		{ "30s", 30 * SEC },
		{ "1m30s", 90 * SEC },
		{ "1.5h", 5400 * SEC },
		{ "100ms", 100 * MS },
		{ "250us", 250000 },
		{ "1\xc2\xb5s", 1000 },
		{ "7ns", 7 },
		{ "-1s", -SEC },
		{ "+5m", 300 * SEC },
		{ ".5s", 500 * MS },
		{ "2", 2 * SEC },        /* nftproxy's plain seconds */
		{ "0.25", 250 * MS },
		{ "1h2m3s4ms", 3723 * SEC + 4 * MS },
	};
	static const char *const bad[] = { "", "s", "1x", "1.2.3s", "--1s", "1 s", "9999999999h",
					   "ms1" };
	static const struct {
		int64_t ns;
		const char *s;
	} fmt[] = {
		{ 0, "0s" },
		{ 30 * SEC, "30s" },
		{ 90 * SEC, "1m30s" },
		{ 3600 * SEC, "1h0m0s" },
		{ 15 * 60 * SEC, "15m0s" },
		{ 1500 * MS, "1.5s" },
		{ 100 * MS, "100ms" },
		{ 1500, "1.5\xc2\xb5s" },
		{ 7, "7ns" },
		{ -SEC, "-1s" },
		{ 24 * 3600 * SEC, "24h0m0s" },
		{ 61 * SEC + 5 * MS, "1m1.005s" },
	};
	char buf[64];
	int64_t ns;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ns = -12345;
		if (kpc_parse_duration(good[i].s, &ns) < 0) {
			fprintf(stderr, "\"%s\" did not parse\n", good[i].s);
			exit(1);
		}
		CHECK_INT(ns, good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kpc_parse_duration(bad[i], &ns) == 0) {
			fprintf(stderr, "\"%s\" parsed as %lld\n", bad[i], (long long)ns);
			exit(1);
		}
	}
	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		CHECK_STR(kpc_format_duration(fmt[i].ns, buf, sizeof(buf)), fmt[i].s);
		CHECK_INT(kpc_parse_duration(buf, &ns), 0);
		CHECK_INT(ns, fmt[i].ns);
	}
	CHECK_INT(kpc_ns_to_ms(1), 1);
	CHECK_INT(kpc_ns_to_ms(1500 * MS), 1500);
	CHECK_INT(kpc_ns_to_ms(0), 0);
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_kubeadm_file);
	RUN(test_good_yaml_and_json);
	RUN(test_file_errors);
	RUN(test_flags);
	RUN(test_flags_and_file);
	RUN(test_round_trip);
	RUN(test_configz);
	RUN(test_durations);
	fprintf(stderr, "ok\n");
	return 0;
}
