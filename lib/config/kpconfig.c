/* KubeProxyConfiguration: the field table, decoding from the file (through
 * lib/kube's document tree) and from flags, the defaults and the checks.
 * kube-proxy's sources of truth: k8s.io/kube-proxy/config/v1alpha1 (the
 * fields), pkg/proxy/apis/config/v1alpha1 (defaults, nftables conversion),
 * pkg/proxy/apis/config/validation, cmd/kube-proxy/app/options.go (flags and
 * how they meet the file). */
#include "lib/config/kpconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config/internal.h"
#include "lib/kube/doc.h"
#include "lib/kube/doc_json.h"
#include "lib/kube/doc_yaml.h"
#include "lib/kube/field.h"
#include "lib/util/ipaddr.h"

_Static_assert(KF_COUNT <= sizeof(((struct kpc_config *)0)->src), "kpc_config.src too small");

#define OFF(m) offsetof(struct kpc_config, m)

#define WHY_CLIENT "nftproxy's API client always speaks JSON and does not rate-limit"
#define WHY_CT	   "nftproxy leaves the node's conntrack settings as they are"
#define WHY_OLD	   "unused since kube-proxy's userspace mode"

const struct kpc_field kpc_fields[KF_COUNT] = {
	[KF_CLIENT] = { "clientConnection", KT_SECTION, 0, 0, 0, 0, NULL },
	[KF_KUBECONFIG] = { "clientConnection.kubeconfig", KT_STR, OFF(kubeconfig), 0, 0, 0, NULL },
	[KF_ACCEPT_TYPES] = { "clientConnection.acceptContentTypes", KT_STR,
			      OFF(accept_content_types), 0, 0, KF_IGNORED, WHY_CLIENT },
	[KF_CONTENT_TYPE] = { "clientConnection.contentType", KT_STR, OFF(content_type), 0, 0,
			      KF_IGNORED, WHY_CLIENT },
	[KF_QPS] = { "clientConnection.qps", KT_FLOAT, OFF(qps), 0, 0, KF_IGNORED, WHY_CLIENT },
	[KF_BURST] = { "clientConnection.burst", KT_INT, OFF(burst), 0, INT32_MAX, KF_IGNORED,
		       WHY_CLIENT },
	[KF_HOSTNAME] = { "hostnameOverride", KT_STR, OFF(hostname_override), 0, 0, 0, NULL },
	[KF_BIND] = { "bindAddress", KT_STR, OFF(bind_address), 0, 0, 0, NULL },
	[KF_BIND_HARD_FAIL] = { "bindAddressHardFail", KT_BOOL, OFF(bind_address_hard_fail), 0, 0,
				0, NULL },
	[KF_HEALTHZ] = { "healthzBindAddress", KT_STR, OFF(healthz_bind_address), 0, 0, 0, NULL },
	[KF_METRICS] = { "metricsBindAddress", KT_STR, OFF(metrics_bind_address), 0, 0, 0, NULL },
	[KF_PROFILING] = { "enableProfiling", KT_BOOL, OFF(enable_profiling), 0, 0, KF_IGNORED,
			   "nftproxy serves no /debug/pprof" },
	[KF_HIDDEN_METRICS] = { "showHiddenMetricsForVersion", KT_STR,
				OFF(show_hidden_metrics_for_version), 0, 0, KF_IGNORED,
				"nftproxy hides no metrics" },
	[KF_MODE] = { "mode", KT_STR, OFF(mode), 0, 0, 0, NULL },
	[KF_DETECT_MODE] = { "detectLocalMode", KT_STR, OFF(detect_local_mode), 0, 0, 0, NULL },
	[KF_DETECT] = { "detectLocal", KT_SECTION, 0, 0, 0, 0, NULL },
	[KF_BRIDGE] = { "detectLocal.bridgeInterface", KT_STR, OFF(bridge_interface), 0, 0,
			KF_IGNORED, "only detectLocalMode BridgeInterface reads it" },
	[KF_IF_PREFIX] = { "detectLocal.interfaceNamePrefix", KT_STR, OFF(interface_name_prefix), 0,
			   0, KF_IGNORED, "only detectLocalMode InterfaceNamePrefix reads it" },
	[KF_CLUSTER_CIDR] = { "clusterCIDR", KT_STR, OFF(cluster_cidr), 0, 0, 0, NULL },
	[KF_NODEPORTS] = { "nodePortAddresses", KT_STRLIST, OFF(nodeport_addresses), 0, 0, 0,
			   NULL },
	[KF_OOM] = { "oomScoreAdj", KT_INT, OFF(oom_score_adj), -1000, 1000, KF_KEEP_ZERO, NULL },
	[KF_CONFIG_SYNC] = { "configSyncPeriod", KT_DUR, OFF(config_sync_period_ns), 0, 0,
			     KF_IGNORED,
			     "nftproxy's watches do not resync on a timer; its periodic full "
			     "sync is nftables.syncPeriod" },
	[KF_PORT_RANGE] = { "portRange", KT_STR, OFF(port_range), 0, 0, KF_IGNORED, WHY_OLD },
	[KF_WINDOWS_SERVICE] = { "windowsRunAsService", KT_BOOL, OFF(windows_run_as_service), 0, 0,
				 KF_IGNORED, "it is for Windows" },
	[KF_GATES] = { "featureGates", KT_GATES, OFF(feature_gates), 0, 0, KF_IGNORED,
		       "nftproxy has no feature gates" },
	[KF_UDP_IDLE] = { "udpIdleTimeout", KT_ANY, 0, 0, 0, KF_IGNORED, WHY_OLD },
	[KF_RESOURCE_CONTAINER] = { "resourceContainer", KT_ANY, 0, 0, 0, KF_IGNORED, WHY_OLD },
	[KF_NFT] = { "nftables", KT_SECTION, 0, 0, 0, 0, NULL },
	[KF_MASQ_BIT] = { "nftables.masqueradeBit", KT_INT, OFF(masquerade_bit), 0, 31,
			  KF_KEEP_ZERO, NULL },
	[KF_MASQ_ALL] = { "nftables.masqueradeAll", KT_BOOL, OFF(masquerade_all), 0, 0, 0, NULL },
	[KF_SYNC] = { "nftables.syncPeriod", KT_DUR, OFF(sync_period_ns), 0, 0, 0, NULL },
	[KF_MIN_SYNC] = { "nftables.minSyncPeriod", KT_DUR, OFF(min_sync_period_ns), 0, 0, 0,
			  NULL },
	[KF_CT] = { "conntrack", KT_SECTION, 0, 0, 0, 0, NULL },
	[KF_CT_MAX] = { "conntrack.max", KT_INT, OFF(ct_max), 0, INT32_MAX,
			KF_IGNORED | KF_KEEP_ZERO, WHY_CT },
	[KF_CT_MAX_PER_CORE] = { "conntrack.maxPerCore", KT_INT, OFF(ct_max_per_core), 0,
				 INT32_MAX, KF_IGNORED | KF_KEEP_ZERO, WHY_CT },
	[KF_CT_MIN] = { "conntrack.min", KT_INT, OFF(ct_min), 0, INT32_MAX,
			KF_IGNORED | KF_KEEP_ZERO, WHY_CT },
	[KF_CT_TCP_EST] = { "conntrack.tcpEstablishedTimeout", KT_DUR, OFF(ct_tcp_established_ns),
			    0, 0, KF_IGNORED | KF_KEEP_ZERO, WHY_CT },
	[KF_CT_TCP_CLOSE_WAIT] = { "conntrack.tcpCloseWaitTimeout", KT_DUR,
				   OFF(ct_tcp_close_wait_ns), 0, 0, KF_IGNORED | KF_KEEP_ZERO,
				   WHY_CT },
	[KF_CT_LIBERAL] = { "conntrack.tcpBeLiberal", KT_BOOL, OFF(ct_tcp_be_liberal), 0, 0,
			    KF_IGNORED, WHY_CT },
	[KF_CT_UDP] = { "conntrack.udpTimeout", KT_DUR, OFF(ct_udp_ns), 0, 0, KF_IGNORED, WHY_CT },
	[KF_CT_UDP_STREAM] = { "conntrack.udpStreamTimeout", KT_DUR, OFF(ct_udp_stream_ns), 0, 0,
			       KF_IGNORED, WHY_CT },
	[KF_LOGGING] = { "logging", KT_SECTION, 0, 0, 0, 0, NULL },
	[KF_VERBOSITY] = { "logging.verbosity", KT_INT, OFF(verbosity), 0, INT32_MAX, 0, NULL },
	[KF_LOG_FORMAT] = { "logging.format", KT_STR, OFF(log_format), 0, 0, 0, NULL },
	[KF_LOG_FLUSH] = { "logging.flushFrequency", KT_DUR_OR_INT, OFF(log_flush_ns), 0, 0,
			   KF_IGNORED, "nftproxy writes each log line at once" },
	[KF_VMODULE] = { "logging.vmodule", KT_ANY, 0, 0, 0, KF_IGNORED,
			 "nftproxy has one verbosity for every file" },
	[KF_LOG_OPTIONS] = { "logging.options", KT_ANY, 0, 0, 0, KF_IGNORED,
			     "nftproxy writes text lines to stderr" },
	[KF_IPTABLES] = { "iptables", KT_OPAQUE, 0, 0, 0, KF_IGNORED,
			  "nftables mode reads the nftables section" },
	[KF_IPVS] = { "ipvs", KT_OPAQUE, 0, 0, 0, KF_IGNORED, "it is for the ipvs mode" },
	[KF_WINKERNEL] = { "winkernel", KT_OPAQUE, 0, 0, 0, KF_IGNORED, "it is for Windows" },
	[KF_HEALTHZ_PORT] = { NULL, KT_INT, OFF(healthz_port), 0, 65535, 0, NULL },
	[KF_METRICS_PORT] = { NULL, KT_INT, OFF(metrics_port), 0, 65535, 0, NULL },
};

/* ---- the flags ---- */

struct kpc_flagdef {
	struct kpc_flag_info info;
	int field;                 /* KF_*, or -1: checked as `type`, then noted */
	enum kpc_type type;        /* field -1 only */
	bool over_file;            /* takes effect with --config too */
	const char *why;           /* field -1: why it has no effect */
};

#define APPLIED(name, sh, b, field, meta, help, def, over) \
	{ { name, sh, b, true, meta, help, def }, field, KT_ANY, over, NULL }
#define IGNORED(name, b, field, meta, help) \
	{ { name, 0, b, false, meta, help, NULL }, field, KT_ANY, false, NULL }
#define NOFIELD(name, b, type, meta, help, why) \
	{ { name, 0, b, false, meta, help, NULL }, -1, type, false, why }

#define WHY_IPVS "it is for the ipvs mode"

static const struct kpc_flagdef flagdefs[] = {
	APPLIED("kubeconfig", 0, false, KF_KUBECONFIG, "FILE",
		"kubeconfig file with the API server and credentials", NULL, false),
	APPLIED("hostname-override", 0, false, KF_HOSTNAME, "NAME",
		"this node's name, instead of the host name (overrides the --config file)", NULL,
		true),
	APPLIED("bind-address", 0, false, KF_BIND, "IP",
		"kube-proxy's idea of the node's primary IP: stored (nftproxy reads the node's "
		"addresses from its Node); an IPv6 address makes the servers' defaults IPv6",
		"0.0.0.0", false),
	APPLIED("healthz-bind-address", 0, false, KF_HEALTHZ, "IP[:PORT]",
		"serve /healthz and /livez here (empty: not at all)", "0.0.0.0:10256", false),
	APPLIED("healthz-port", 0, false, KF_HEALTHZ_PORT, "PORT",
		"deprecated: the health server's port when --healthz-bind-address has none "
		"(0: not served)", NULL, false),
	APPLIED("metrics-bind-address", 0, false, KF_METRICS, "IP[:PORT]",
		"serve /metrics here (empty: not at all)", "127.0.0.1:10249", false),
	APPLIED("metrics-port", 0, false, KF_METRICS_PORT, "PORT",
		"deprecated: the metrics server's port when --metrics-bind-address has none "
		"(0: not served)", NULL, false),
	APPLIED("proxy-mode", 0, false, KF_MODE, "MODE",
		"the proxy mode: only nftables (empty means nftables too)", "nftables", false),
	APPLIED("iptables-masquerade-bit", 0, false, KF_MASQ_BIT, "N",
		"bit of the packet mark that flags traffic for masquerade (kube-proxy's flag "
		"name; the file's nftables.masqueradeBit)", "14", false),
	APPLIED("masquerade-bit", 0, false, KF_MASQ_BIT, "N", "same as --iptables-masquerade-bit",
		NULL, false),
	APPLIED("masquerade-all", 0, true, KF_MASQ_ALL, NULL,
		"masquerade all traffic to cluster IPs", NULL, false),
	APPLIED("iptables-sync-period", 0, false, KF_SYNC, "DURATION",
		"period of full resyncs (kube-proxy's flag for nftables mode too; 0 disables "
		"them)", "30s", false),
	APPLIED("sync-period", 0, false, KF_SYNC, "DURATION", "same as --iptables-sync-period",
		NULL, false),
	APPLIED("iptables-min-sync-period", 0, false, KF_MIN_SYNC, "DURATION",
		"a sync starts at most once per period, after a burst of 2; changes in between "
		"are batched", "1s", false),
	APPLIED("min-sync-period", 0, false, KF_MIN_SYNC, "DURATION",
		"same as --iptables-min-sync-period", NULL, false),
	APPLIED("cluster-cidr", 0, false, KF_CLUSTER_CIDR, "CIDRS",
		"the pods' CIDRs (comma separated, at most one per family): traffic to a "
		"cluster IP from outside them is masqueraded", NULL, false),
	APPLIED("detect-local-mode", 0, false, KF_DETECT_MODE, "MODE",
		"how pod traffic is told from other traffic: ClusterCIDR (--cluster-cidr) or "
		"NodeCIDR (the Node's spec.podCIDRs)", "ClusterCIDR", false),
	APPLIED("nodeport-addresses", 0, false, KF_NODEPORTS, "CIDRS",
		"\"primary\" (the Node's first address of each family) or comma-separated "
		"CIDRs: node ports are served on this node's addresses inside them", "primary",
		false),
	APPLIED("oom-score-adj", 0, false, KF_OOM, "N",
		"the process's oom_score_adj, within [-1000, 1000]", "-999", false),
	APPLIED("v", 'v', false, KF_VERBOSITY, "N",
		"log verbosity (overrides the --config file)", "0", true),
	APPLIED("logging-format", 0, false, KF_LOG_FORMAT, "FORMAT",
		"text (json is accepted, and logged as text)", "text", true),
	IGNORED("kube-api-content-type", false, KF_CONTENT_TYPE, "TYPE",
		"content type of requests to the API server"),
	IGNORED("kube-api-qps", false, KF_QPS, "QPS", "requests per second to the API server"),
	IGNORED("kube-api-burst", false, KF_BURST, "N", "burst of requests to the API server"),
	APPLIED("bind-address-hard-fail", 0, true, KF_BIND_HARD_FAIL, NULL,
		"exit when the health or metrics server cannot bind its port (else it is "
		"logged and nftproxy goes on without it)", NULL, false),
	IGNORED("profiling", true, KF_PROFILING, NULL, "serve /debug/pprof"),
	IGNORED("show-hidden-metrics-for-version", false, KF_HIDDEN_METRICS, "VERSION",
		"the previous version whose hidden metrics to show"),
	IGNORED("pod-bridge-interface", false, KF_BRIDGE, "NAME",
		"the pods' bridge for --detect-local-mode BridgeInterface"),
	IGNORED("pod-interface-name-prefix", false, KF_IF_PREFIX, "PREFIX",
		"the pods' interface prefix for --detect-local-mode InterfaceNamePrefix"),
	IGNORED("config-sync-period", false, KF_CONFIG_SYNC, "DURATION",
		"how often the API watches resync"),
	IGNORED("feature-gates", false, KF_GATES, "NAME=BOOL,...", "kube-proxy's feature gates"),
	IGNORED("conntrack-max-per-core", false, KF_CT_MAX_PER_CORE, "N",
		"conntrack entries per CPU"),
	IGNORED("conntrack-min", false, KF_CT_MIN, "N", "the least conntrack entries"),
	IGNORED("conntrack-tcp-timeout-established", false, KF_CT_TCP_EST, "DURATION",
		"conntrack timeout of established TCP"),
	IGNORED("conntrack-tcp-timeout-close-wait", false, KF_CT_TCP_CLOSE_WAIT, "DURATION",
		"conntrack timeout of TCP in CLOSE_WAIT"),
	IGNORED("conntrack-tcp-be-liberal", true, KF_CT_LIBERAL, NULL,
		"conntrack's liberal TCP window tracking"),
	IGNORED("conntrack-udp-timeout", false, KF_CT_UDP, "DURATION",
		"conntrack timeout of unreplied UDP"),
	IGNORED("conntrack-udp-timeout-stream", false, KF_CT_UDP_STREAM, "DURATION",
		"conntrack timeout of assured UDP"),
	/* Logging flags take effect over the file in kube-proxy; here they have
	 * no effect either way. */
	{ { "vmodule", 0, false, false, "PATTERN=N,...", "per-file verbosity", NULL }, KF_VMODULE,
	  KT_ANY, true, NULL },
	{ { "log-flush-frequency", 0, false, false, "DURATION", "how often logs are flushed",
	    NULL },
	  KF_LOG_FLUSH, KT_ANY, true, NULL },
	NOFIELD("iptables-localhost-nodeports", true, KT_BOOL, NULL,
		"node ports on 127.0.0.1 in iptables mode",
		"nftproxy never serves node ports on loopback"),
	NOFIELD("ipvs-sync-period", false, KT_DUR, "DURATION", "ipvs mode's sync period",
		WHY_IPVS),
	NOFIELD("ipvs-min-sync-period", false, KT_DUR, "DURATION", "ipvs mode's min sync period",
		WHY_IPVS),
	NOFIELD("ipvs-scheduler", false, KT_STR, "NAME", "ipvs mode's scheduler", WHY_IPVS),
	NOFIELD("ipvs-exclude-cidrs", false, KT_STRLIST, "CIDRS", "ipvs mode's untouched CIDRs",
		WHY_IPVS),
	NOFIELD("ipvs-strict-arp", true, KT_BOOL, NULL, "ipvs mode's strict ARP", WHY_IPVS),
	NOFIELD("ipvs-tcp-timeout", false, KT_DUR, "DURATION", "ipvs mode's TCP timeout",
		WHY_IPVS),
	NOFIELD("ipvs-tcpfin-timeout", false, KT_DUR, "DURATION", "ipvs mode's TCP FIN timeout",
		WHY_IPVS),
	NOFIELD("ipvs-udp-timeout", false, KT_DUR, "DURATION", "ipvs mode's UDP timeout",
		WHY_IPVS),
};

#define N_FLAGDEFS (sizeof(flagdefs) / sizeof(flagdefs[0]))

size_t kpc_flag_count(void)
{
	return N_FLAGDEFS;
}

const struct kpc_flag_info *kpc_flag(size_t i)
{
	return i < N_FLAGDEFS ? &flagdefs[i].info : NULL;
}

/* ---- values ---- */

/* A decoded value before it is stored into its field. */
struct kpc_val {
	char *s;
	bool b;
	int64_t i;
	double d;
	struct kpc_strv l;
	struct kpc_gates g;
	bool set;                  /* KT_ANY / KT_OPAQUE: holds something */
};

static void *field_at(struct kpc_config *c, int f)
{
	return (char *)c + kpc_fields[f].off;
}

static const void *field_at_c(const struct kpc_config *c, int f)
{
	return (const char *)c + kpc_fields[f].off;
}

static void strv_free(struct kpc_strv *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int strv_add(struct kpc_strv *l, const char *s, size_t len)
{
	char **v, *copy;

	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	v[l->n++] = copy;
	l->v = v;
	return 0;
}

static void gates_free(struct kpc_gates *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].name);
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

/* Sets name to enabled, keeping the list sorted; a repeated name takes the
 * last value, as a Go map would. */
static int gates_set(struct kpc_gates *g, const char *name, size_t len, bool enabled)
{
	struct kpc_gate *v;
	size_t i = 0;
	char *copy;
	int cmp = 1;

	while (i < g->n) {
		cmp = strncmp(g->v[i].name, name, len);
		if (cmp == 0 && g->v[i].name[len])
			cmp = 1;
		if (cmp >= 0)
			break;
		i++;
	}
	if (i < g->n && cmp == 0) {
		g->v[i].enabled = enabled;
		return 0;
	}
	copy = strndup(name, len);
	if (!copy)
		return -ENOMEM;
	v = realloc(g->v, (g->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	memmove(v + i + 1, v + i, (g->n - i) * sizeof(*v));
	v[i].name = copy;
	v[i].enabled = enabled;
	g->v = v;
	g->n++;
	return 0;
}

static void val_free(struct kpc_val *v)
{
	free(v->s);
	v->s = NULL;
	strv_free(&v->l);
	gates_free(&v->g);
}

/* Frees the value field f holds. */
static void field_free(struct kpc_config *c, int f)
{
	switch (kpc_fields[f].type) {
	case KT_STR:
		free(*(char **)field_at(c, f));
		*(char **)field_at(c, f) = NULL;
		break;
	case KT_STRLIST:
		strv_free(field_at(c, f));
		break;
	case KT_GATES:
		gates_free(field_at(c, f));
		break;
	default:
		break;
	}
}

/* Moves v into field f (v is left empty). */
static void field_store(struct kpc_config *c, int f, struct kpc_val *v, int src, const char *flag)
{
	field_free(c, f);
	switch (kpc_fields[f].type) {
	case KT_STR:
		*(char **)field_at(c, f) = v->s;
		v->s = NULL;
		break;
	case KT_BOOL:
		*(bool *)field_at(c, f) = v->b;
		break;
	case KT_INT:
	case KT_DUR:
	case KT_DUR_OR_INT:
		*(int64_t *)field_at(c, f) = v->i;
		break;
	case KT_FLOAT:
		*(double *)field_at(c, f) = v->d;
		break;
	case KT_STRLIST:
		*(struct kpc_strv *)field_at(c, f) = v->l;
		v->l.v = NULL;
		v->l.n = 0;
		break;
	case KT_GATES:
		*(struct kpc_gates *)field_at(c, f) = v->g;
		v->g.v = NULL;
		v->g.n = 0;
		break;
	default:
		break;
	}
	if (f == KF_NODEPORTS)
		c->nodeport_addresses_set = c->nodeport_addresses.n > 0;
	c->src[f] = (uint8_t)src;
	c->flag_of[f] = flag;
}

/* Whether v is its type's zero value, which the file's defaulting reads as
 * "not set" (Go's omitted, "" or 0 for a field that is not a pointer). */
static bool val_is_zero(enum kpc_type type, const struct kpc_val *v)
{
	switch (type) {
	case KT_STR:
		return !v->s || !*v->s;
	case KT_BOOL:
		return !v->b;
	case KT_INT:
	case KT_DUR:
	case KT_DUR_OR_INT:
		return v->i == 0;
	case KT_FLOAT:
		return v->d == 0;
	case KT_STRLIST:
		return v->l.n == 0;
	case KT_GATES:
		return v->g.n == 0;
	default:
		return !v->set;
	}
}

/* A document value that says nothing: null, false, 0, "", "0", "0s", or a
 * map or list of such (kubeadm writes every field, most of them zero). */
static bool doc_is_zero(const struct doc *d)
{
	switch (d->type) {
	case DOC_NULL:
		return true;
	case DOC_BOOL:
		return !d->b;
	case DOC_INT:
		return d->i == 0;
	case DOC_FLOAT:
		return d->f == 0;
	case DOC_STRING:
		return d->str.len == 0 || strcmp(d->str.ptr, "0") == 0 ||
		       strcmp(d->str.ptr, "0s") == 0;
	case DOC_MAP:
		for (size_t i = 0; i < d->map.n; i++)
			if (!doc_is_zero(d->map.items[i].value))
				return false;
		return true;
	case DOC_SEQ:
		return d->seq.n == 0;
	}
	return false;
}

/* ---- messages ---- */

static int failf(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int failf(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (err && size) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int oom(char *err, size_t size)
{
	if (err && size)
		snprintf(err, size, "out of memory");
	return -ENOMEM;
}

static int note(struct kpc_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int note(struct kpc_config *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return strv_add(&c->notes, line, strlen(line));
}

/* A field path for a message; a path too long is cut. */
static void path_fmt(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void path_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* How a field is named in messages: "--flag" when a flag set it, else
 * "FILE: path" (or the path alone for a default). */
static const char *field_name(const struct kpc_config *c, int f, char *buf, size_t size)
{
	if (c->src[f] == KPC_SRC_FLAG)
		snprintf(buf, size, "--%s", c->flag_of[f]);
	else if (c->src[f] == KPC_SRC_FILE && c->file)
		snprintf(buf, size, "%s: %s", c->file, kpc_fields[f].path);
	else
		snprintf(buf, size, "%s", kpc_fields[f].path ? kpc_fields[f].path : "?");
	return buf;
}

/* ---- init, free ---- */

static int set_str_default(struct kpc_config *c, int f, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	*(char **)field_at(c, f) = copy;
	return 0;
}

int kpc_init(struct kpc_config *c)
{
	static const struct {
		int f;
		const char *s;
	} strs[] = {
		{ KF_KUBECONFIG, "" },
		{ KF_ACCEPT_TYPES, "" },
		{ KF_CONTENT_TYPE, "application/vnd.kubernetes.protobuf" },
		{ KF_HOSTNAME, "" },
		{ KF_BIND, "0.0.0.0" },
		{ KF_HEALTHZ, "" }, /* from bindAddress's family in kpc_finish */
		{ KF_METRICS, "" },
		{ KF_HIDDEN_METRICS, "" },
		{ KF_MODE, "" },
		{ KF_DETECT_MODE, "" },
		{ KF_BRIDGE, "" },
		{ KF_IF_PREFIX, "" },
		{ KF_CLUSTER_CIDR, "" },
		{ KF_PORT_RANGE, "" },
		{ KF_LOG_FORMAT, "text" },
	};

	memset(c, 0, sizeof(*c));
	c->qps = 5;
	c->burst = 10;
	c->oom_score_adj = -999;
	c->config_sync_period_ns = 15 * 60 * 1000000000ll;
	c->masquerade_bit = 14;
	c->sync_period_ns = 30 * 1000000000ll;
	c->min_sync_period_ns = 1000000000ll;
	c->ct_max = c->ct_max_per_core = c->ct_min = -1;
	c->ct_tcp_established_ns = c->ct_tcp_close_wait_ns = -1;
	c->ct_udp_ns = c->ct_udp_stream_ns = -1;
	c->log_flush_ns = 5 * 1000000000ll;
	c->healthz_port = c->metrics_port = -1;
	c->nodeport_primary = true;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (set_str_default(c, strs[i].f, strs[i].s) < 0) {
			kpc_free(c);
			return -ENOMEM;
		}
	}
	return 0;
}

void kpc_free(struct kpc_config *c)
{
	if (!c)
		return;
	for (int f = 0; f < KF_COUNT; f++)
		field_free(c, f);
	strv_free(&c->notes);
	free(c->file);
	c->file = NULL;
}

/* ---- decoding the file ---- */

struct kpc_load {
	struct kpc_config *c;
	const char *origin;
	char *err;
	size_t err_size;
};

static int type_error(struct kpc_load *l, const char *path, const struct doc *d,
		      const char *expected)
{
	char val[96];

	if (d->type == DOC_MAP || d->type == DOC_SEQ || d->type == DOC_NULL)
		return failf(l->err, l->err_size, "%s: %s: got %s, expected %s", l->origin, path,
			     doc_type_name(d->type), expected);
	if (d->type == DOC_STRING && !doc_is_cstring(d))
		return failf(l->err, l->err_size, "%s: %s: a string with a NUL byte, expected %s",
			     l->origin, path, expected);
	return failf(l->err, l->err_size, "%s: %s: %s is %s, expected %s", l->origin, path,
		     doc_describe(d, val, sizeof(val)), doc_type_name(d->type), expected);
}

static int decode_doc(struct kpc_load *l, int f, const struct doc *d, const char *path,
		      struct kpc_val *v)
{
	const struct kpc_field *fd = &kpc_fields[f];
	char val[96], sub[128];

	switch (fd->type) {
	case KT_STR:
		if (!doc_is_cstring(d))
			return type_error(l, path, d, "a string");
		v->s = strdup(d->str.ptr);
		return v->s ? 0 : oom(l->err, l->err_size);
	case KT_BOOL:
		if (d->type != DOC_BOOL)
			return type_error(l, path, d, "true or false");
		v->b = d->b;
		return 0;
	case KT_INT:
		if (d->type != DOC_INT)
			return type_error(l, path, d, "an integer");
		if (d->i < fd->min || d->i > fd->max)
			return failf(l->err, l->err_size,
				     "%s: %s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
				     l->origin, path, d->i, fd->min, fd->max);
		v->i = d->i;
		return 0;
	case KT_FLOAT:
		if (d->type == DOC_INT)
			v->d = (double)d->i;
		else if (d->type == DOC_FLOAT)
			v->d = d->f;
		else
			return type_error(l, path, d, "a number");
		/* JSON has no infinity: a number too large for a double (1e999)
		 * would come back from --write-config-to and /configz as "inf",
		 * which nothing reads. kube-proxy refuses it too (float32). */
		if (!isfinite(v->d))
			return failf(l->err, l->err_size,
				     "%s: %s: the number is out of range (larger than a double holds)",
				     l->origin, path);
		return 0;
	case KT_DUR_OR_INT:
		if (d->type == DOC_INT) {
			v->i = d->i;
			return 0;
		}
		/* fall through */
	case KT_DUR:
		if (!doc_is_cstring(d))
			return type_error(l, path, d, "a duration string (like \"30s\")");
		if (kpc_parse_duration(d->str.ptr, &v->i) < 0)
			return failf(l->err, l->err_size,
				     "%s: %s: %s is not a duration (like 30s, 1m30s or 100ms)",
				     l->origin, path, doc_describe(d, val, sizeof(val)));
		return 0;
	case KT_STRLIST:
		if (d->type != DOC_SEQ)
			return type_error(l, path, d, "a list of strings");
		for (size_t i = 0; i < d->seq.n; i++) {
			const struct doc *it = d->seq.items[i];

			path_fmt(sub, sizeof(sub), "%s[%zu]", path, i);
			if (!doc_is_cstring(it))
				return type_error(l, sub, it, "a string");
			if (strv_add(&v->l, it->str.ptr, it->str.len) < 0)
				return oom(l->err, l->err_size);
		}
		return 0;
	case KT_GATES:
		if (d->type != DOC_MAP)
			return type_error(l, path, d, "a map of feature names to true or false");
		for (size_t i = 0; i < d->map.n; i++) {
			const struct doc_pair *p = &d->map.items[i];

			path_fmt(sub, sizeof(sub), "%s.%s", path, p->key);
			if (p->value->type != DOC_BOOL)
				return type_error(l, sub, p->value, "true or false");
			if (gates_set(&v->g, p->key, strlen(p->key), p->value->b) < 0)
				return oom(l->err, l->err_size);
		}
		return 0;
	case KT_ANY:
		v->set = !doc_is_zero(d);
		return 0;
	case KT_SECTION:
	case KT_OPAQUE:
		break;
	}
	return failf(l->err, l->err_size, "%s: %s: cannot be decoded", l->origin, path);
}

static int find_field(const char *path)
{
	for (int f = 0; f < KF_COUNT; f++)
		if (kpc_fields[f].path && strcmp(kpc_fields[f].path, path) == 0)
			return f;
	return -1;
}

/* A section nftproxy does not read: one note names its keys that hold
 * something ("ignored: iptables (masqueradeBit, syncPeriod): ..."). */
static int note_opaque(struct kpc_load *l, int f, const struct doc *d)
{
	char keys[256] = "";
	size_t o = 0, n = 0;

	for (size_t i = 0; i < d->map.n; i++) {
		if (doc_is_zero(d->map.items[i].value))
			continue;
		if (o < sizeof(keys))
			o += (size_t)snprintf(keys + o, sizeof(keys) - o, "%s%s", n ? ", " : "",
					      d->map.items[i].key);
		n++;
	}
	if (!n)
		return 0;
	if (note(l->c, "ignored: %s: %s (%s): does not apply to nftproxy (%s)", l->origin,
		 kpc_fields[f].path, keys, kpc_fields[f].why) < 0)
		return oom(l->err, l->err_size);
	return 0;
}

static int walk_map(struct kpc_load *l, const struct doc *map, const char *prefix)
{
	char path[128];
	int r;

	for (size_t i = 0; i < map->map.n; i++) {
		const char *key = map->map.items[i].key;
		const struct doc *d = map->map.items[i].value;
		struct kpc_val v = { 0 };
		int f;

		if (!prefix && (strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0))
			continue;
		if (prefix)
			path_fmt(path, sizeof(path), "%s.%s", prefix, key);
		else
			path_fmt(path, sizeof(path), "%s", key);
		/* kube-proxy decodes strictly first; an unknown field there only
		 * earns a warning on the lenient retry. nftproxy refuses it, so
		 * that a misspelt field is never silently without effect. */
		f = strchr(key, '.') ? -1 : find_field(path);
		if (f < 0)
			return failf(l->err, l->err_size, "%s: unknown field \"%s\"", l->origin,
				     path);
		if (d->type == DOC_NULL)
			continue;
		if (kpc_fields[f].type == KT_SECTION || kpc_fields[f].type == KT_OPAQUE) {
			if (d->type != DOC_MAP)
				return type_error(l, path, d, "a map");
			r = kpc_fields[f].type == KT_SECTION ? walk_map(l, d, path)
							      : note_opaque(l, f, d);
			if (r < 0)
				return r;
			continue;
		}
		r = decode_doc(l, f, d, path, &v);
		if (r < 0) {
			val_free(&v);
			return r;
		}
		if (kpc_fields[f].type == KT_ANY) {
			if (v.set && note(l->c, "ignored: %s: %s: does not apply to nftproxy (%s)",
					  l->origin, path, kpc_fields[f].why) < 0)
				return oom(l->err, l->err_size);
			continue;
		}
		/* kube-proxy's defaulting: a zero that is not a pointer's is
		 * "unset", and gets the default (every boolean's is false). */
		if (!(kpc_fields[f].flags & KF_KEEP_ZERO) && val_is_zero(kpc_fields[f].type, &v)) {
			val_free(&v);
			continue;
		}
		field_store(l->c, f, &v, KPC_SRC_FILE, NULL);
		val_free(&v);
	}
	return 0;
}

struct kpc_docs {
	struct doc *root;
	size_t n;
};

static int on_doc(struct doc *root, void *data)
{
	struct kpc_docs *docs = data;

	if (docs->n++ == 0) {
		docs->root = root;
		return 0;
	}
	doc_free(root);
	return 0;
}


/* apiVersion and kind must say what this is, as kube-proxy's decoder wants. */
static int check_type_meta(struct kpc_load *l, const struct doc *root)
{
	static const struct {
		const char *key, *want;
	} meta[] = { { "apiVersion", KPC_API_VERSION }, { "kind", KPC_KIND } };
	char val[96];

	for (size_t i = 0; i < 2; i++) {
		const struct doc *d = doc_get(root, meta[i].key);

		if (!d || d->type == DOC_NULL)
			return failf(l->err, l->err_size, "%s: %s: missing (expected %s)",
				     l->origin, meta[i].key, meta[i].want);
		if (!doc_is_cstring(d))
			return type_error(l, meta[i].key, d, "a string");
		if (strcmp(d->str.ptr, meta[i].want) != 0)
			return failf(l->err, l->err_size,
				     "%s: %s: %s is not supported (nftproxy reads %s %s)", l->origin,
				     meta[i].key, doc_describe(d, val, sizeof(val)), KPC_KIND,
				     KPC_API_VERSION);
	}
	return 0;
}

int kpc_load_buffer(struct kpc_config *c, const char *buf, size_t len, const char *origin,
		    char *err, size_t err_size)
{
	struct kpc_load l = { .c = c, .origin = origin, .err = err, .err_size = err_size };
	struct kpc_docs docs = { 0 };
	char msg[256] = "";
	size_t bom = 0, i;
	int r;

	if (err_size)
		err[0] = '\0';
	/* A byte order mark: libyaml skips it, yajl would not. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		bom = 3;
	for (i = bom; i < len && buf[i] && strchr(" \t\r\n", buf[i]); i++)
		;
	/* JSON when it looks like JSON, so that its errors read as JSON's. */
	if (i < len && buf[i] == '{')
		r = doc_json_parse(buf + bom, len - bom, on_doc, &docs, msg, sizeof(msg));
	else
		r = doc_yaml_parse(buf, len, on_doc, &docs, msg, sizeof(msg));
	if (r == -ENOMEM) {
		r = oom(err, err_size);
		goto out;
	}
	if (r < 0) {
		r = -EBADMSG;
		snprintf(err, err_size, "%s: %s", origin, msg);
		goto out;
	}
	if (docs.n > 1) {
		r = failf(err, err_size, "%s: holds %zu documents, expected one %s", origin, docs.n,
			  KPC_KIND);
		goto out;
	}
	if (!docs.root || docs.root->type == DOC_NULL) {
		r = failf(err, err_size, "%s: is empty, expected a %s", origin, KPC_KIND);
		goto out;
	}
	if (docs.root->type != DOC_MAP) {
		r = failf(err, err_size, "%s: is %s, expected a %s map", origin,
			  doc_type_name(docs.root->type), KPC_KIND);
		goto out;
	}
	free(c->file);
	c->file = strdup(origin);
	if (!c->file) {
		r = oom(err, err_size);
		goto out;
	}
	r = check_type_meta(&l, docs.root);
	if (r == 0)
		r = walk_map(&l, docs.root, NULL);
out:
	doc_free(docs.root);
	return r;
}

int kpc_load_file(struct kpc_config *c, const char *path, char *err, size_t err_size)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nbuf;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, err_size, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if (cap > KPC_FILE_MAX + 1)
				cap = KPC_FILE_MAX + 1;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				r = oom(err, err_size);
				goto out;
			}
			buf = nbuf;
		}
		if (len > KPC_FILE_MAX) {
			r = -EFBIG;
			snprintf(err, err_size, "%s: larger than %u bytes", path, KPC_FILE_MAX);
			goto out;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, err_size, "%s: cannot read: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = kpc_load_buffer(c, buf, len, path, err, err_size);
out:
	close(fd);
	free(buf);
	return r;
}

/* ---- decoding flags ---- */

/* The spellings Go's strconv.ParseBool accepts. */
static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int decode_flag(const char *name, enum kpc_type type, int64_t min, int64_t max,
		       const char *s, struct kpc_val *v, char *err, size_t err_size)
{
	const char *p, *comma;
	char *end;

	switch (type) {
	case KT_ANY:
		v->set = *s != '\0';
		return 0;
	case KT_STR:
		v->s = strdup(s);
		return v->s ? 0 : oom(err, err_size);
	case KT_BOOL:
		if (parse_bool(s, &v->b) < 0)
			return failf(err, err_size, "--%s: \"%s\" is not true or false", name, s);
		return 0;
	case KT_INT:
		errno = 0;
		v->i = strtoll(s, &end, 0);
		if (errno == ERANGE || end == s || *end || isspace((unsigned char)*s))
			return failf(err, err_size, "--%s: \"%s\" is not an integer", name, s);
		if (v->i < min || v->i > max)
			return failf(err, err_size,
				     "--%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
				     name, v->i, min, max);
		return 0;
	case KT_FLOAT:
		errno = 0;
		v->d = strtod(s, &end);
		if (errno || end == s || *end || !isfinite(v->d))
			return failf(err, err_size, "--%s: \"%s\" is not a number", name, s);
		return 0;
	case KT_DUR:
	case KT_DUR_OR_INT:
		if (kpc_parse_duration(s, &v->i) < 0)
			return failf(err, err_size,
				     "--%s: \"%s\" is not a duration (like 30s, 1m30s or 100ms)",
				     name, s);
		return 0;
	case KT_STRLIST:
		/* pflag's StringSlice: comma separated; "" is the empty list. */
		for (p = s; *s; p = comma + 1) {
			comma = strchr(p, ',');
			if (!comma)
				comma = p + strlen(p);
			if (strv_add(&v->l, p, (size_t)(comma - p)) < 0)
				return oom(err, err_size);
			if (!*comma)
				break;
		}
		return 0;
	case KT_GATES:
		/* "Name=true,Other=false", blanks around each allowed. */
		for (p = s; *p;) {
			const char *eq, *k_end, *b;
			char bval[8];
			size_t bl;
			bool on;

			comma = strchr(p, ',');
			if (!comma)
				comma = p + strlen(p);
			while (p < comma && isspace((unsigned char)*p))
				p++;
			eq = memchr(p, '=', (size_t)(comma - p));
			if (!eq)
				return failf(err, err_size,
					     "--%s: \"%.*s\" is not NAME=true or NAME=false", name,
					     (int)(comma - p), p);
			for (k_end = eq; k_end > p && isspace((unsigned char)k_end[-1]); k_end--)
				;
			for (b = eq + 1; b < comma && isspace((unsigned char)*b); b++)
				;
			bl = (size_t)(comma - b);
			while (bl && isspace((unsigned char)b[bl - 1]))
				bl--;
			if (k_end == p || bl >= sizeof(bval))
				return failf(err, err_size,
					     "--%s: \"%.*s\" is not NAME=true or NAME=false", name,
					     (int)(comma - p), p);
			memcpy(bval, b, bl);
			bval[bl] = '\0';
			if (parse_bool(bval, &on) < 0)
				return failf(err, err_size, "--%s: %.*s: \"%s\" is not true or false",
					     name, (int)(k_end - p), p, bval);
			if (gates_set(&v->g, p, (size_t)(k_end - p), on) < 0)
				return oom(err, err_size);
			p = *comma ? comma + 1 : comma;
		}
		return 0;
	case KT_SECTION:
	case KT_OPAQUE:
		break;
	}
	return failf(err, err_size, "--%s: cannot be decoded", name);
}

static const struct kpc_flagdef *find_flag(const char *name)
{
	for (size_t i = 0; i < N_FLAGDEFS; i++)
		if (strcmp(flagdefs[i].info.name, name) == 0)
			return &flagdefs[i];
	return NULL;
}

int kpc_set_flag(struct kpc_config *c, const char *name, const char *value, char *err,
		 size_t err_size)
{
	const struct kpc_flagdef *fl = find_flag(name);
	const struct kpc_field *fd;
	struct kpc_val v = { 0 };
	enum kpc_type type;
	int r;

	if (err_size)
		err[0] = '\0';
	if (!fl) {
		failf(err, err_size, "unknown flag --%s", name);
		return -ENOENT;
	}
	fd = fl->field >= 0 ? &kpc_fields[fl->field] : NULL;
	type = fd ? fd->type : fl->type;
	/* pflag checks every value, also of flags that --config then overrides. */
	r = decode_flag(name, type, fd ? fd->min : 0, fd ? fd->max : 0, value, &v, err, err_size);
	if (r < 0)
		goto out;
	if (!fd) {
		r = note(c, "ignored: --%s: does not apply to nftproxy (%s)", name, fl->why);
		goto out;
	}
	if (c->file && !fl->over_file) {
		/* kube-proxy replaces the flags' configuration with the file's. */
		r = note(c, "ignored: --%s: --config %s sets the configuration, as in kube-proxy",
			 name, c->file);
		goto out;
	}
	if (type == KT_ANY) {
		if (v.set)
			r = note(c, "ignored: --%s: does not apply to nftproxy (%s)", name, fd->why);
		goto out;
	}
	if (fl->field == KF_HOSTNAME) {
		/* kube-proxy: an empty --hostname-override is not given at all; a
		 * blank one is an error. */
		const char *p = value;

		while (isspace((unsigned char)*p))
			p++;
		if (!*value)
			goto out;
		if (!*p) {
			r = failf(err, err_size, "--%s: a blank name is not a node name", name);
			goto out;
		}
		/* Trimmed and lower-cased, as kube-proxy stores it. */
		memmove(v.s, v.s + (p - value), strlen(p) + 1);
		for (size_t n = strlen(v.s); n && isspace((unsigned char)v.s[n - 1]); n--)
			v.s[n - 1] = '\0';
		for (char *q = v.s; *q; q++)
			*q = (char)tolower((unsigned char)*q);
	}
	field_store(c, fl->field, &v, KPC_SRC_FLAG, fl->info.name);
out:
	val_free(&v);
	return r < 0 ? (r == -ENOMEM ? oom(err, err_size) : r) : 0;
}

/* ---- finish: defaults, checks, derived values ---- */

static bool is_ip(const char *s, struct ip_addr *a)
{
	struct ip_addr tmp;

	return ip_addr_parse(s, a ? a : &tmp) == 0;
}

/* The host of "HOST:PORT" / "[V6]:PORT" into host[size]; *colon points at
 * the ':' before the port. Returns 0 or -EINVAL (no port, a bare IPv6
 * address, too long). */
static int split_host(const char *s, char *host, size_t size, const char **colon)
{
	const char *h = s;
	size_t hl;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		*colon = rb + 1;
	} else {
		*colon = strrchr(s, ':');
		if (!*colon || memchr(s, ':', (size_t)(*colon - s)))
			return -EINVAL;
		hl = (size_t)(*colon - s);
	}
	if (hl >= size)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 0;
}

int kpc_hostport_split(const char *s, char *host, size_t size, uint16_t *port)
{
	const char *colon;
	char *end;
	long p;

	if (!s || !*s || split_host(s, host, size, &colon) < 0)
		return -EINVAL;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

/* "IP", "IP:PORT", "[IPv6]:PORT" (Go's net.SplitHostPort with an IP host) into
 * "IP:PORT" / "[IPv6]:PORT"; a bare IP gets def_port. Returns 0 or -EINVAL
 * with *why. */
static int hostport_normalize(const char *s, unsigned def_port, char *out, size_t size,
			      const char **why)
{
	char host[IP_ADDR_STRLEN], buf[IP_ADDR_STRLEN];
	const char *colon, *port;
	struct ip_addr a;
	long p;
	char *end;

	if (is_ip(s, &a)) {
		port = NULL;
		p = def_port;
		goto done;
	}
	if (split_host(s, host, sizeof(host), &colon) < 0) {
		*why = "must be IP:PORT, with an IPv6 address in brackets";
		return -EINVAL;
	}
	if (!is_ip(host, &a)) {
		*why = "must be IP:PORT with an IP address (not a host name, not empty)";
		return -EINVAL;
	}
	port = colon + 1;
	errno = 0;
	p = strtol(port, &end, 10);
	if (!isdigit((unsigned char)*port) || errno || *end || p < 1 || p > 65535) {
		*why = "the port must be a number from 1 to 65535";
		return -EINVAL;
	}
done:
	ip_addr_fmt(&a, buf);
	if (a.family == AF_INET6)
		snprintf(out, size, "[%s]:%ld", buf, p);
	else
		snprintf(out, size, "%s:%ld", buf, p);
	return 0;
}

static int replace_str(struct kpc_config *c, int f, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	free(*(char **)field_at(c, f));
	*(char **)field_at(c, f) = copy;
	return 0;
}

/* healthzBindAddress / metricsBindAddress: the default from bindAddress's
 * family, the deprecated --*-port, then IP:PORT. */
static int finish_server(struct kpc_config *c, int f, int port_f, unsigned def_port,
			 const char *def4, const char *def6, bool v6, char *err, size_t err_size)
{
	char *val = *(char **)field_at(c, f), norm[IP_ADDR_STRLEN + 16], name[300];
	int64_t port = *(int64_t *)field_at(c, port_f);
	const char *why = NULL;

	if (c->src[f] == KPC_SRC_DEFAULT) {
		snprintf(norm, sizeof(norm), "%s:%u", v6 ? def6 : def4, def_port);
		if (replace_str(c, f, norm) < 0)
			return oom(err, err_size);
		val = *(char **)field_at(c, f);
	}
	/* kube-proxy's addressFromDeprecatedFlags: port 0 turns the server off;
	 * another port only fills in an address that has none. */
	if (c->src[port_f] == KPC_SRC_FLAG) {
		if (port == 0)
			return replace_str(c, f, "") < 0 ? oom(err, err_size) : 0;
		def_port = (unsigned)port;
	}
	if (!*val)
		return 0;
	if (hostport_normalize(val, def_port, norm, sizeof(norm), &why) < 0)
		return failf(err, err_size, "%s: \"%s\": %s", field_name(c, f, name, sizeof(name)),
			     val, why);
	return replace_str(c, f, norm) < 0 ? oom(err, err_size) : 0;
}

/* "a,b" of CIDRs, blanks around each allowed. */
static int parse_cidr_list(const char *s, struct svc_prefix *out, size_t max, size_t *n,
			   char *bad, size_t bad_size)
{
	const char *p = s, *comma;

	*n = 0;
	while (*p) {
		struct svc_prefix pf;
		char item[IP_ADDR_STRLEN + 8];
		size_t len;

		comma = strchr(p, ',');
		if (!comma)
			comma = p + strlen(p);
		len = (size_t)(comma - p);
		/* The item for the caller's message, cut to fit. */
		memcpy(bad, p, len < bad_size ? len : bad_size - 1);
		bad[len < bad_size ? len : bad_size - 1] = '\0';
		if (len >= sizeof(item))
			return -EINVAL;
		memcpy(item, p, len);
		item[len] = '\0';
		if (kdec_parse_prefix(item, &pf) < 0)
			return -EINVAL;
		if (*n == max)
			return -E2BIG;
		out[(*n)++] = pf;
		p = *comma ? comma + 1 : comma;
	}
	return 0;
}

static int finish_cluster_cidr(struct kpc_config *c, char *err, size_t err_size)
{
	char name[300], bad[128];
	int r;

	if (!*c->cluster_cidr)
		return 0;
	r = parse_cidr_list(c->cluster_cidr, c->cluster_cidrs, 2, &c->n_cluster_cidrs, bad,
			    sizeof(bad));
	field_name(c, KF_CLUSTER_CIDR, name, sizeof(name));
	if (r == -E2BIG)
		return failf(err, err_size,
			     "%s: \"%s\": at most two CIDRs, one of each IP family (like "
			     "10.244.0.0/16,fd00:10:244::/56)", name, c->cluster_cidr);
	if (r < 0)
		return failf(err, err_size,
			     "%s: \"%s\" is not a CIDR (like 10.244.0.0/16 or fd00:10:244::/56)",
			     name, bad);
	if (c->n_cluster_cidrs == 2 &&
	    c->cluster_cidrs[0].addr.family == c->cluster_cidrs[1].addr.family)
		return failf(err, err_size,
			     "%s: \"%s\": two CIDRs must be a dual-stack pair, one IPv4 and one "
			     "IPv6", name, c->cluster_cidr);
	return 0;
}

static int finish_nodeports(struct kpc_config *c, char *err, size_t err_size)
{
	const struct kpc_strv *l = &c->nodeport_addresses;
	char name[300], bad[128];
	size_t n = 0;

	c->nodeport_primary = l->n == 0;
	c->n_nodeport_cidrs = 0;
	field_name(c, KF_NODEPORTS, name, sizeof(name));
	for (size_t i = 0; i < l->n; i++) {
		struct svc_prefix p;

		if (strcmp(l->v[i], "primary") == 0) {
			if (l->n != 1)
				return failf(err, err_size,
					     "%s: \"primary\" cannot be given with CIDRs", name);
			c->nodeport_primary = true;
			return 0;
		}
		snprintf(bad, sizeof(bad), "%s", l->v[i]);
		if (kdec_parse_prefix(l->v[i], &p) < 0)
			return failf(err, err_size,
				     "%s: \"%s\" is not a CIDR (like 192.168.0.0/16), nor "
				     "\"primary\"", name, bad);
		if (n == KPC_MAX_CIDRS)
			return failf(err, err_size, "%s: at most %d CIDRs", name, KPC_MAX_CIDRS);
		c->nodeport_cidrs[n++] = p;
	}
	c->n_nodeport_cidrs = n;
	return 0;
}

/* utilnet.ParsePortRange: "", "N", "N-M" or "N+K" within 0-65535. */
static bool port_range_valid(const char *s)
{
	unsigned long a, b;
	char *end, *end2;
	char op;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return true;
	if (!isdigit((unsigned char)*s))
		return false;
	a = strtoul(s, &end, 10);
	if (a > 65535)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (!*end)
		return true;
	op = *end;
	if ((op != '-' && op != '+') || !isdigit((unsigned char)end[1]))
		return false;
	b = strtoul(end + 1, &end2, 10);
	while (isspace((unsigned char)*end2))
		end2++;
	if (*end2 || b > 65535)
		return false;
	return op == '-' ? a <= b : a + b <= 65535;
}

/* "MAJOR.MINOR", as kube-proxy's --show-hidden-metrics-for-version. */
static bool minor_version_valid(const char *s)
{
	size_t d1 = strspn(s, "0123456789"), d2;

	if (!*s)
		return true;
	if (!d1 || s[d1] != '.')
		return false;
	d2 = strspn(s + d1 + 1, "0123456789");
	return d2 && !s[d1 + 1 + d2];
}

static bool field_equal(const struct kpc_config *a, const struct kpc_config *b, int f)
{
	const void *x = field_at_c(a, f), *y = field_at_c(b, f);

	switch (kpc_fields[f].type) {
	case KT_STR:
		return strcmp(*(char *const *)x, *(char *const *)y) == 0;
	case KT_BOOL:
		return *(const bool *)x == *(const bool *)y;
	case KT_INT:
	case KT_DUR:
	case KT_DUR_OR_INT:
		return *(const int64_t *)x == *(const int64_t *)y;
	case KT_FLOAT:
		return *(const double *)x == *(const double *)y;
	case KT_STRLIST:
		return ((const struct kpc_strv *)x)->n == 0 && ((const struct kpc_strv *)y)->n == 0;
	case KT_GATES:
		return ((const struct kpc_gates *)x)->n == 0 && ((const struct kpc_gates *)y)->n == 0;
	default:
		return true;
	}
}

/* One note for each field that does not apply and was set to something
 * other than its default. */
static int note_ignored(struct kpc_config *c)
{
	struct kpc_config def;
	char name[300];
	int r = 0;

	if (kpc_init(&def) < 0)
		return -ENOMEM;
	for (int f = 0; f < KF_COUNT && r == 0; f++) {
		if (!(kpc_fields[f].flags & KF_IGNORED) || c->src[f] == KPC_SRC_DEFAULT)
			continue;
		if (kpc_fields[f].type == KT_ANY || kpc_fields[f].type == KT_OPAQUE ||
		    kpc_fields[f].type == KT_SECTION)
			continue; /* noted as they were read */
		if (field_equal(c, &def, f))
			continue;
		r = note(c, "ignored: %s: does not apply to nftproxy (%s)",
			 field_name(c, f, name, sizeof(name)), kpc_fields[f].why);
	}
	kpc_free(&def);
	return r;
}

static int finish_durations(struct kpc_config *c, char *err, size_t err_size)
{
	char name[300], name2[300], d1[32], d2[32];

	for (int f = 0; f < KF_COUNT; f++) {
		int64_t v;

		if (kpc_fields[f].type != KT_DUR && kpc_fields[f].type != KT_DUR_OR_INT)
			continue;
		v = *(int64_t *)field_at(c, f);
		/* -1 is "unset" for the conntrack durations that have no default. */
		if (v < 0 && !(c->src[f] == KPC_SRC_DEFAULT && v == -1))
			return failf(err, err_size, "%s: %s must not be negative",
				     field_name(c, f, name, sizeof(name)),
				     kpc_format_duration(v, d1, sizeof(d1)));
	}
	if (c->config_sync_period_ns <= 0)
		return failf(err, err_size, "%s: must be greater than 0",
			     field_name(c, KF_CONFIG_SYNC, name, sizeof(name)));
	/* kube-proxy: the min sync period is at most the sync period. A sync
	 * period of 0 (nftproxy's flag only) turns the periodic resync off. */
	if (c->sync_period_ns > 0 && c->min_sync_period_ns > c->sync_period_ns)
		return failf(err, err_size, "%s: %s is longer than the sync period %s (%s)",
			     field_name(c, KF_MIN_SYNC, name, sizeof(name)),
			     kpc_format_duration(c->min_sync_period_ns, d1, sizeof(d1)),
			     kpc_format_duration(c->sync_period_ns, d2, sizeof(d2)),
			     field_name(c, KF_SYNC, name2, sizeof(name2)));
	return 0;
}

int kpc_finish(struct kpc_config *c, char *err, size_t err_size)
{
	static const char *const not_here[] = { "iptables", "ipvs", "kernelspace", "userspace" };
	char name[300];
	struct ip_addr bind;
	int r;

	if (err_size)
		err[0] = '\0';
	/* mode: nftproxy is kube-proxy's nftables mode; "" is its default. */
	for (size_t i = 0; i < sizeof(not_here) / sizeof(not_here[0]); i++)
		if (strcmp(c->mode, not_here[i]) == 0)
			return failf(err, err_size,
				     "%s: \"%s\" is not supported: nftproxy implements kube-proxy's "
				     "nftables mode only (use \"nftables\" or leave it empty)",
				     field_name(c, KF_MODE, name, sizeof(name)), c->mode);
	if (*c->mode && strcmp(c->mode, "nftables") != 0)
		return failf(err, err_size, "%s: unknown proxy mode \"%s\" (nftproxy implements "
			     "\"nftables\")", field_name(c, KF_MODE, name, sizeof(name)), c->mode);
	if (replace_str(c, KF_MODE, "nftables") < 0)
		return oom(err, err_size);

	if (!*c->detect_local_mode && replace_str(c, KF_DETECT_MODE, "ClusterCIDR") < 0)
		return oom(err, err_size);
	if (strcmp(c->detect_local_mode, "BridgeInterface") == 0 ||
	    strcmp(c->detect_local_mode, "InterfaceNamePrefix") == 0)
		return failf(err, err_size,
			     "%s: %s is not supported by nftproxy (yet); use ClusterCIDR or "
			     "NodeCIDR", field_name(c, KF_DETECT_MODE, name, sizeof(name)),
			     c->detect_local_mode);
	if (strcmp(c->detect_local_mode, "ClusterCIDR") != 0 &&
	    strcmp(c->detect_local_mode, "NodeCIDR") != 0)
		return failf(err, err_size, "%s: unknown mode \"%s\" (ClusterCIDR, NodeCIDR)",
			     field_name(c, KF_DETECT_MODE, name, sizeof(name)),
			     c->detect_local_mode);

	if (!is_ip(c->bind_address, &bind))
		return failf(err, err_size, "%s: \"%s\" is not an IP address",
			     field_name(c, KF_BIND, name, sizeof(name)), c->bind_address);
	r = finish_server(c, KF_HEALTHZ, KF_HEALTHZ_PORT, 10256, "0.0.0.0", "[::]",
			  bind.family == AF_INET6, err, err_size);
	if (r == 0)
		r = finish_server(c, KF_METRICS, KF_METRICS_PORT, 10249, "127.0.0.1", "[::1]",
				  bind.family == AF_INET6, err, err_size);
	if (r == 0)
		r = finish_cluster_cidr(c, err, err_size);
	if (r == 0)
		r = finish_nodeports(c, err, err_size);
	if (r == 0)
		r = finish_durations(c, err, err_size);
	if (r < 0)
		return r;
	if (!port_range_valid(c->port_range))
		return failf(err, err_size, "%s: \"%s\" is not a port range (like 30000-32767)",
			     field_name(c, KF_PORT_RANGE, name, sizeof(name)), c->port_range);
	if (!minor_version_valid(c->show_hidden_metrics_for_version))
		return failf(err, err_size, "%s: \"%s\" is not a version like 1.31",
			     field_name(c, KF_HIDDEN_METRICS, name, sizeof(name)),
			     c->show_hidden_metrics_for_version);
	if (!*c->log_format && replace_str(c, KF_LOG_FORMAT, "text") < 0)
		return oom(err, err_size);
	if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0)
		return failf(err, err_size, "%s: unsupported logging format \"%s\" (text, json)",
			     field_name(c, KF_LOG_FORMAT, name, sizeof(name)), c->log_format);
	if (strcmp(c->log_format, "json") == 0 &&
	    note(c, "ignored: %s: json: nftproxy logs klog text lines",
		 field_name(c, KF_LOG_FORMAT, name, sizeof(name))) < 0)
		return oom(err, err_size);
	if (note_ignored(c) < 0)
		return oom(err, err_size);
	return 0;
}
