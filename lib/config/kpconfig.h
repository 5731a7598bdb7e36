/* kube-proxy's configuration as nftproxy takes it: the KubeProxyConfiguration
 * file (kubeproxy.config.k8s.io/v1alpha1, YAML or JSON) and the kube-proxy
 * flags that set the same fields, merged the way kube-proxy merges them:
 *
 *   - without --config, the flags set the fields over the defaults;
 *   - with --config, the file sets every field and the flags that map to
 *     fields are ignored (each one noted), except --hostname-override and the
 *     logging flags (--v, --vmodule, --logging-format, --log-flush-frequency),
 *     which override the file (kube-proxy's Options.Complete).
 *
 * As in kube-proxy's defaulting, a zero value in the file ("", 0s) means "the
 * default"; a flag given as 0 or "" keeps it. Fields that do not apply to
 * nftables mode (iptables, ipvs, winkernel, conntrack, profiling, client rate
 * limits, ...) are accepted, type-checked where nftproxy knows their type,
 * and noted (kpc_config.notes) so that the caller logs one line for each.
 *
 * Use: kpc_init, then kpc_load_file (for --config), then kpc_set_flag for
 * each flag in command-line order, then kpc_finish (defaults, checks,
 * derived values). Every error message names the flag ("--cluster-cidr: ...")
 * or the file and field ("/etc/kp.yaml: nftables.syncPeriod: ..."). */
#ifndef NFTPROXY_CONFIG_KPCONFIG_H
#define NFTPROXY_CONFIG_KPCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/model/types.h"

#define KPC_API_VERSION "kubeproxy.config.k8s.io/v1alpha1"
#define KPC_KIND "KubeProxyConfiguration"
/* The most --nodeport-addresses CIDRs (nft/compile's NFTC_MAX_CIDRS). */
#define KPC_MAX_CIDRS 8
/* Room for any error message. */
#define KPC_ERR_MAX 512
/* Largest configuration file read. */
#define KPC_FILE_MAX (1u << 20)

struct kpc_strv {
	char **v;
	size_t n;
};

struct kpc_gate {
	char *name;
	bool enabled;
};

struct kpc_gates {
	struct kpc_gate *v;        /* sorted by name, names unique */
	size_t n;
};

/* Durations are in nanoseconds, as Go's time.Duration. Strings are owned by
 * the config and never NULL after kpc_init. */
struct kpc_config {
	/* clientConnection */
	char *kubeconfig;
	char *accept_content_types;
	char *content_type;
	double qps;
	int64_t burst;

	char *hostname_override;
	/* bindAddress: kube-proxy's idea of the node's primary IP. Stored (and
	 * shown by /configz); nftproxy reads the node's addresses from its
	 * Node object. */
	char *bind_address;
	bool bind_address_hard_fail;
	/* After kpc_finish: "" (not served) or "IP:PORT" / "[IPv6]:PORT". */
	char *healthz_bind_address;
	char *metrics_bind_address;
	bool enable_profiling;
	char *show_hidden_metrics_for_version;
	char *mode;                /* after kpc_finish: "nftables" */
	char *detect_local_mode;   /* after kpc_finish: "ClusterCIDR" or "NodeCIDR" */
	char *bridge_interface;    /* detectLocal.bridgeInterface */
	char *interface_name_prefix;
	char *cluster_cidr;        /* "10.244.0.0/16,fd00:10:244::/56" */
	struct kpc_strv nodeport_addresses;
	bool nodeport_addresses_set; /* false: null (the default, "primary") */
	int64_t oom_score_adj;
	int64_t config_sync_period_ns;
	char *port_range;
	bool windows_run_as_service;
	struct kpc_gates feature_gates;

	/* nftables */
	int64_t masquerade_bit;
	bool masquerade_all;
	int64_t sync_period_ns;    /* 0 (from a flag): no periodic resync */
	int64_t min_sync_period_ns;

	/* conntrack: accepted, not applied (nftproxy leaves the node's conntrack
	 * sysctls alone); -1 = unset for the integers and durations */
	int64_t ct_max, ct_max_per_core, ct_min;
	int64_t ct_tcp_established_ns, ct_tcp_close_wait_ns;
	int64_t ct_udp_ns, ct_udp_stream_ns;
	bool ct_tcp_be_liberal;

	/* logging */
	int64_t verbosity;
	char *log_format;
	int64_t log_flush_ns;

	/* Deprecated --healthz-port / --metrics-port (-1: not given). */
	int64_t healthz_port, metrics_port;

	/* Set by kpc_finish from cluster_cidr and nodeport_addresses. */
	struct svc_prefix cluster_cidrs[2];
	size_t n_cluster_cidrs;
	bool nodeport_primary;
	struct svc_prefix nodeport_cidrs[KPC_MAX_CIDRS];
	size_t n_nodeport_cidrs;

	/* One line each for the caller to log: what was accepted but has no
	 * effect ("ignored: --ipvs-scheduler does not apply to nftproxy"). */
	struct kpc_strv notes;

	/* Private: the --config file's name (NULL: none), and per field where
	 * its value came from and the flag that set it. */
	char *file;
	uint8_t src[64];
	const char *flag_of[64];
};

/* Sets the defaults. Returns 0 or -ENOMEM (c is then freed). */
int kpc_init(struct kpc_config *c);
/* Frees what c owns; c may be NULL. */
void kpc_free(struct kpc_config *c);

/* --config PATH: reads and decodes the file into c. Returns 0; -EINVAL
 * (invalid content), -EBADMSG (syntax), or -errno (cannot read), with the
 * message in err. Call it at most once, before kpc_set_flag. */
int kpc_load_file(struct kpc_config *c, const char *path, char *err, size_t err_size);
/* The same from a buffer; origin names it in messages. */
int kpc_load_buffer(struct kpc_config *c, const char *buf, size_t len, const char *origin,
		    char *err, size_t err_size);

/* A kube-proxy flag given on the command line: name without dashes, value
 * as typed ("true"/"false" for a boolean flag). Returns 0; -EINVAL with the
 * message (bad value); -ENOENT for a name that is not kube-proxy's. */
int kpc_set_flag(struct kpc_config *c, const char *name, const char *value, char *err,
		 size_t err_size);

/* Applies the defaults that depend on other fields, checks every value and
 * the fields against each other, and sets the derived values. Returns 0 or
 * -EINVAL (-ENOMEM) with the message. */
int kpc_finish(struct kpc_config *c, char *err, size_t err_size);

/* The effective configuration as a KubeProxyConfiguration YAML document
 * (what --write-config-to writes; kpc_load_file reads it back to the same
 * configuration). After kpc_finish. Returns 0 or -errno of the write. */
int kpc_write_yaml(const struct kpc_config *c, FILE *out);
/* /configz: {"kubeproxy.config.k8s.io": {...the same fields...}} and, when
 * extra is not NULL, "nftproxy": {key: value, ...} from extra, a
 * NULL-terminated list of key, value pairs (a NULL value is skipped).
 * *out is malloc'd, the caller frees it. Returns 0 or -ENOMEM. */
int kpc_configz_json(const struct kpc_config *c, const char *const *extra, char **out);

/* The kube-proxy flags kpc_set_flag takes, for the caller's flag table and
 * --help. */
struct kpc_flag_info {
	const char *name;
	char shorthand;
	bool is_bool;              /* takes no separate value */
	bool applies;              /* false: accepted, noted, no effect */
	const char *metavar;
	const char *help;
	const char *def;           /* shown default, or NULL */
};
size_t kpc_flag_count(void);
const struct kpc_flag_info *kpc_flag(size_t i);

/* Go's time.ParseDuration ("1m30s", "-1.5h", "100ms"; "0"), plus a plain
 * number of seconds ("2", "0.5") as nftproxy's flags always took. Returns 0
 * or -EINVAL (syntax, overflow). */
int kpc_parse_duration(const char *s, int64_t *ns);
/* Go's Duration.String(): "30s", "1m0s", "1.5s", "100ms", "0s". */
const char *kpc_format_duration(int64_t ns, char *buf, size_t size);

/* Splits "HOST:PORT" / "[V6]:PORT" / ":PORT" (host "" = every address),
 * as the bind addresses are written, into host[size] and *port. Returns 0
 * or -EINVAL. */
int kpc_hostport_split(const char *s, char *host, size_t size, uint16_t *port);

/* A duration in whole milliseconds, rounded up (never negative). */
uint64_t kpc_ns_to_ms(int64_t ns);

#endif
