/* Internal to lib/kube: dispatch of one object by kind, and its identity
 * for messages. */
#ifndef NFTPROXY_KUBE_OBJECT_H
#define NFTPROXY_KUBE_OBJECT_H

#include <stddef.h>

#include "lib/kube/decode.h"
#include "lib/kube/doc.h"

/* "Service", "EndpointSlice", "Node". */
const char *kdec_kind_name(enum kdec_kind k);

/* Namespace ("default" when absent) and name of obj, an object of kind
 * `kind`, when both are valid names; borrowed. Cluster-scoped kinds (Node)
 * have no namespace: *ns is NULL. Returns 0 or -ENOENT. */
int kdec_identity(const char *kind, const struct doc *obj, const char **ns, const char **name);

/* "<kind> ns/name" ("<kind> name" when cluster-scoped), or "<kind> (no
 * name)"; returns buf. */
const char *kdec_describe(const char *kind, const struct doc *obj, char *buf, size_t size);

/* kdec_object_from_doc with kind and apiVersion given by the caller (for
 * list items, which inherit them); api_version may be NULL (an error for
 * the kinds we decode). flags (KDEC_PARSE_NODES) adds kinds that are
 * otherwise ignored. Same returns. */
int kdec_object_typed(const struct doc *obj, const char *kind, const char *api_version,
		      unsigned flags, struct kdec_object *out, char *err, size_t err_size);

#endif
