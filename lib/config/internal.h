/* Internal to lib/config: the table of KubeProxyConfiguration fields that
 * kpconfig.c decodes and emit.c writes. */
#ifndef NFTPROXY_CONFIG_INTERNAL_H
#define NFTPROXY_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/config/kpconfig.h"

enum kpc_type {
	KT_SECTION,                /* a map of the fields "path.*" */
	KT_OPAQUE,                 /* a map nftproxy does not read: its set keys are noted */
	KT_ANY,                    /* any value, not read (noted when set) */
	KT_STR,                    /* char * */
	KT_BOOL,                   /* bool */
	KT_INT,                    /* int64_t within [min, max] */
	KT_FLOAT,                  /* double */
	KT_DUR,                    /* int64_t ns; a Go duration string */
	KT_DUR_OR_INT,             /* the same, or an integer of ns (logging.flushFrequency) */
	KT_STRLIST,                /* struct kpc_strv */
	KT_GATES,                  /* struct kpc_gates */
};

/* Field flags. */
#define KF_IGNORED   0x1u      /* accepted, but nftproxy does not act on it */
#define KF_KEEP_ZERO 0x2u      /* a *int32 in Go: 0 in the file is a value, not "unset" */

enum kpc_field_id {
	KF_CLIENT, KF_KUBECONFIG, KF_ACCEPT_TYPES, KF_CONTENT_TYPE, KF_QPS, KF_BURST,
	KF_HOSTNAME, KF_BIND, KF_BIND_HARD_FAIL, KF_HEALTHZ, KF_METRICS, KF_PROFILING,
	KF_HIDDEN_METRICS, KF_MODE, KF_DETECT_MODE, KF_DETECT, KF_BRIDGE, KF_IF_PREFIX,
	KF_CLUSTER_CIDR, KF_NODEPORTS, KF_OOM, KF_CONFIG_SYNC, KF_PORT_RANGE, KF_WINDOWS_SERVICE,
	KF_GATES, KF_UDP_IDLE, KF_RESOURCE_CONTAINER,
	KF_NFT, KF_MASQ_BIT, KF_MASQ_ALL, KF_SYNC, KF_MIN_SYNC,
	KF_CT, KF_CT_MAX, KF_CT_MAX_PER_CORE, KF_CT_MIN, KF_CT_TCP_EST, KF_CT_TCP_CLOSE_WAIT,
	KF_CT_LIBERAL, KF_CT_UDP, KF_CT_UDP_STREAM,
	KF_LOGGING, KF_VERBOSITY, KF_LOG_FORMAT, KF_LOG_FLUSH, KF_VMODULE, KF_LOG_OPTIONS,
	KF_IPTABLES, KF_IPVS, KF_WINKERNEL,
	KF_HEALTHZ_PORT, KF_METRICS_PORT,
	KF_COUNT
};

struct kpc_field {
	const char *path;          /* in the file ("nftables.syncPeriod"); NULL: flag only */
	enum kpc_type type;
	size_t off;                /* of the value in struct kpc_config */
	int64_t min, max;          /* KT_INT */
	unsigned flags;
	const char *why;           /* KF_IGNORED: why it has no effect */
};

extern const struct kpc_field kpc_fields[KF_COUNT];

/* Where a field's value came from (kpc_config.src). */
enum { KPC_SRC_DEFAULT = 0, KPC_SRC_FILE, KPC_SRC_FLAG };

#endif
