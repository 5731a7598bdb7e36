/* Internal to lib/kube: typed reads of an object's fields with one error
 * message naming the object and the field, e.g.
 *
 *   Service shop/web: spec.ports[1].port: 70000 is out of range 1-65535
 *
 * Paths: `at` names the map being read ("spec.ports[1]", "" at the top) and
 * `key` the field in it. Map getters return 1 when the field is present, 0
 * when it is absent or null (outputs untouched), or a negative errno with the
 * message written: -EINVAL for a bad value, -ENOMEM. */
#ifndef NFTPROXY_KUBE_FIELD_H
#define NFTPROXY_KUBE_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/kube/doc.h"
#include "lib/model/types.h"

/* Room for the longest path we build ("spec.ports[123].targetPort"...). */
#define KDEC_PATH_MAX 128

struct kdec_ctx {
	char *err;                 /* where the one message goes; may be NULL */
	size_t err_size;
	const char *kind;          /* "Service" (static) */
	char who[192];             /* "Service shop/web", set by kdec_meta */
};

/* kind: "Service", "EndpointSlice"; who starts as "<kind> (no name)". */
void kdec_ctx_init(struct kdec_ctx *c, const char *kind, char *err, size_t err_size);

/* Writes "<who>: <path>: <message>" and returns -EINVAL. */
int kdec_fail(struct kdec_ctx *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "<who>: <path>: <value> is a string, expected <expected>"; -EINVAL. */
int kdec_fail_type(struct kdec_ctx *c, const char *path, const struct doc *d,
		   const char *expected);
/* "<who>: out of memory"; returns -ENOMEM. */
int kdec_oom(struct kdec_ctx *c);

/* "at.key" (or "key" when at is empty) into buf; returns buf. */
const char *kdec_join(char *buf, size_t size, const char *at, const char *key);
/* "at.key[i]" into buf; returns buf. */
const char *kdec_join_index(char *buf, size_t size, const char *at, const char *key, size_t i);

/* Checks of a node that `path` names. Return 0 or -EINVAL (message written). */
int kdec_node_str(struct kdec_ctx *c, const struct doc *d, const char *path, const char **out);
int kdec_node_map(struct kdec_ctx *c, const struct doc *d, const char *path);
/* family: AF_INET or AF_INET6 to require one, 0 for either. */
int kdec_node_ip(struct kdec_ctx *c, const struct doc *d, const char *path, int family,
		 struct ip_addr *out);

int kdec_get_str(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 const char **out);
/* Heap copy; *out stays NULL when absent. */
int kdec_get_strdup(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		    char **out);
int kdec_get_int(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 int64_t min, int64_t max, int64_t *out);
int kdec_get_tri(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 enum tri *out);
int kdec_get_map(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 const struct doc **out);
int kdec_get_seq(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 const struct doc **out);
/* names: NULL-terminated list of accepted strings; *out gets the index. */
int kdec_get_enum(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		  const char *const *names, int *out);
/* TCP, UDP or SCTP; absent means TCP (*out is set either way). */
int kdec_get_proto(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		   uint8_t *out);
/* A map of string to string (a null value counts as ""), sorted by key;
 * *out stays NULL when absent or empty. */
int kdec_get_labels(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		    struct kv **out, size_t *n);
/* A list of strings, each an IP address (family 0: either). */
int kdec_get_ips(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 int family, struct ip_addr **out, size_t *n);

/* "addr/len" (blanks around it allowed, as kube-proxy trims them) with the
 * host bits zeroed, as Go's net.ParseCIDR does. Returns 0 or -EINVAL. */
int kdec_parse_prefix(const char *s, struct svc_prefix *p);

enum kdec_name_rule {
	KDEC_DNS_LABEL,            /* RFC 1123 label: namespaces, port names */
	KDEC_DNS_1035_LABEL,       /* also starts with a letter: service names */
	KDEC_DNS_SUBDOMAIN,        /* dot-separated, up to 253: slice names */
};
bool kdec_name_valid(const char *s, enum kdec_name_rule rule);

/* The identity shared by every object. */
struct kdec_meta {
	const char *ns;            /* "default" when absent */
	const char *name;
	const char *uid;           /* NULL when absent */
	const char *resource_version;
	const struct doc *metadata;
};

/* Reads and validates metadata (namespace, name, uid, resourceVersion) of
 * obj, a map, and sets c->who to "<kind> ns/name". Borrowed strings. */
int kdec_meta(struct kdec_ctx *c, const struct doc *obj, enum kdec_name_rule name_rule,
	      struct kdec_meta *out);

/* What every decoder starts with: kdec_ctx_init, obj must be a map, then
 * kdec_meta. Returns 0 or -EINVAL with the message. */
int kdec_begin(struct kdec_ctx *c, const char *kind, const struct doc *obj,
	       enum kdec_name_rule name_rule, char *err, size_t err_size, struct kdec_meta *out);

/* Heap copy of s (which may be NULL); -ENOMEM with the message. */
int kdec_strdup(struct kdec_ctx *c, const char *s, char **out);

#endif
