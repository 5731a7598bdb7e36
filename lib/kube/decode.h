/* Kubernetes objects from JSON or YAML: Services (v1) and EndpointSlices
 * (discovery.k8s.io/v1), and Nodes (v1) when asked for, decoded into the
 * model's types, each validated as a whole. One bad value rejects its object with one message naming the
 * object and the field; its neighbours in the same buffer still decode.
 *
 * Ownership: a kdec_result owns its objects until the caller takes them
 * (set the pointer in the kdec_object to NULL after taking it);
 * kdec_result_fini() frees whatever is left. */
#ifndef NFTPROXY_KUBE_DECODE_H
#define NFTPROXY_KUBE_DECODE_H

#include <stddef.h>

#include "lib/kube/doc.h"
#include "lib/model/types.h"

/* Enough for any message the decoders write. */
#define KDEC_ERR_MAX 512

enum kdec_kind {
	KDEC_SERVICE = 1,
	KDEC_SLICE,
	KDEC_NODE,
};

/* Kinds kdec_parse_buffer_flags decodes besides Services and EndpointSlices
 * (which it always decodes); without the flag they count as ignored. */
#define KDEC_PARSE_NODES 0x1u

struct kdec_object {
	enum kdec_kind kind;
	struct model_service *svc;     /* KDEC_SERVICE: owned, else NULL */
	struct model_slice *slice;     /* KDEC_SLICE: owned, else NULL */
	struct model_node *node;       /* KDEC_NODE: owned, else NULL */
	char *desc;                    /* "Service ns/name", "Node name"; owned */
};

/* An object that was found but refused. */
struct kdec_rejected {
	enum kdec_kind kind;
	char *ns;                      /* NULL when its name could not be read, and for
					* a Node (cluster-scoped) */
	char *name;                    /* NULL when it could not be read */
	char *error;                   /* the message that was logged */
};

struct kdec_result {
	struct kdec_object *objects;   /* in the order of the buffer */
	size_t n_objects;
	struct kdec_rejected *rejected;
	size_t n_rejected;
	size_t n_ignored;              /* objects of kinds nftproxy does not use */
};

/* Frees what the object or result still owns and zeroes it. NULL is fine. */
void kdec_object_fini(struct kdec_object *o);
void kdec_result_fini(struct kdec_result *r);

/* Decodes every object of buf: JSON when its first non-blank character is
 * '{' or '[', else YAML (any number of documents). Lists (kind: List, and
 * ServiceList, EndpointSliceList, ... whose items may omit kind) are
 * flattened. Objects of other kinds are skipped (logged at --v=4). Each
 * invalid object is logged as a warning naming origin (a file path, say)
 * and the object, recorded in out->rejected, and skipped.
 *
 * Returns 0 with *out filled (the caller frees it with kdec_result_fini);
 * -EBADMSG when buf is not well-formed JSON/YAML, with "line L column C:
 * <problem>" in err (err_size >= KDEC_ERR_MAX is plenty) and nothing in
 * *out, for the caller to log with the file's name; or -ENOMEM. */
int kdec_parse_buffer(const char *buf, size_t len, const char *origin, struct kdec_result *out,
		      char *err, size_t err_size);
/* The same, also decoding the kinds flags asks for (KDEC_PARSE_NODES). */
int kdec_parse_buffer_flags(const char *buf, size_t len, const char *origin, unsigned flags,
			    struct kdec_result *out, char *err, size_t err_size);

/* Decodes one Service / EndpointSlice from obj without looking at kind or
 * apiVersion (the items of a ServiceList have neither). Returns 0 and *out
 * (owned by the caller); -EINVAL with a message such as
 * `Service shop/web: spec.ports[1].port: 70000 is out of range 1-65535` in
 * err; or -ENOMEM. */
int kdec_service_from_doc(const struct doc *obj, struct model_service **out, char *err,
			  size_t err_size);
int kdec_slice_from_doc(const struct doc *obj, struct model_slice **out, char *err,
			size_t err_size);
/* The same for a v1 Node (cluster-scoped: the message says "Node name"). */
int kdec_node_from_doc(const struct doc *obj, struct model_node **out, char *err,
		       size_t err_size);

/* Decodes obj by its kind and apiVersion. Returns 1 with *out filled (free
 * with kdec_object_fini); 0 when obj is not a kind nftproxy uses (including
 * lists: see kdec_parse_buffer); -EINVAL with the message in err when it is
 * one but is invalid or lacks kind/apiVersion; or -ENOMEM. */
int kdec_object_from_doc(const struct doc *obj, struct kdec_object *out, char *err,
			 size_t err_size);

#endif
