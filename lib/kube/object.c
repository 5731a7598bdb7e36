/* Which objects nftproxy decodes, chosen by kind and apiVersion. */
#include "lib/kube/decode.h"
#include "lib/kube/field.h"
#include "lib/kube/object.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct kdec_kind_info {
	const char *kind;
	const char *api_version;
	enum kdec_kind k;
	bool cluster_scoped;
	unsigned flag;             /* decoded only when asked for; 0: always */
} kdec_kinds[] = {
	{ "Service", "v1", KDEC_SERVICE, false, 0 },
	{ "EndpointSlice", "discovery.k8s.io/v1", KDEC_SLICE, false, 0 },
	{ "Node", "v1", KDEC_NODE, true, KDEC_PARSE_NODES },
};

static const struct kdec_kind_info *kdec_kind_find(const char *kind)
{
	for (size_t i = 0; i < sizeof(kdec_kinds) / sizeof(kdec_kinds[0]); i++)
		if (strcmp(kind, kdec_kinds[i].kind) == 0)
			return &kdec_kinds[i];
	return NULL;
}

const char *kdec_kind_name(enum kdec_kind k)
{
	for (size_t i = 0; i < sizeof(kdec_kinds) / sizeof(kdec_kinds[0]); i++)
		if (kdec_kinds[i].k == k)
			return kdec_kinds[i].kind;
	return "object";
}

void kdec_object_fini(struct kdec_object *o)
{
	if (!o)
		return;
	model_service_free(o->svc);
	model_slice_free(o->slice);
	model_node_free(o->node);
	free(o->desc);
	memset(o, 0, sizeof(*o));
}

int kdec_identity(const char *kind, const struct doc *obj, const char **ns, const char **name)
{
	const struct kdec_kind_info *info = kdec_kind_find(kind);
	const struct doc *meta = doc_get(obj, "metadata");
	const char *n = NULL, *s = "default";

	/* Only names the decoder would accept: anything else cannot be the
	 * name of an object we hold, and might garble a log line. */
	if (doc_get_string(meta, "name", &n) < 0 || !kdec_name_valid(n, KDEC_DNS_SUBDOMAIN))
		return -ENOENT;
	if (info && info->cluster_scoped) {
		*ns = NULL;
		*name = n;
		return 0;
	}
	if (doc_get_string(meta, "namespace", &s) == -EINVAL)
		return -ENOENT;
	if (!*s)
		s = "default";
	if (!kdec_name_valid(s, KDEC_DNS_LABEL))
		return -ENOENT;
	*ns = s;
	*name = n;
	return 0;
}

const char *kdec_describe(const char *kind, const struct doc *obj, char *buf, size_t size)
{
	const char *ns, *name;

	if (kdec_identity(kind, obj, &ns, &name) < 0)
		snprintf(buf, size, "%s (no name)", kind);
	else if (!ns)
		snprintf(buf, size, "%s %s", kind, name);
	else
		snprintf(buf, size, "%s %s/%s", kind, ns, name);
	return buf;
}

int kdec_object_typed(const struct doc *obj, const char *kind, const char *api_version,
		      unsigned flags, struct kdec_object *out, char *err, size_t err_size)
{
	const struct kdec_kind_info *info = kdec_kind_find(kind);
	struct kdec_object o = { 0 };
	char desc[256];
	int r;

	if (!info || (info->flag && !(flags & info->flag)))
		return 0;
	if (!api_version) {
		if (err_size)
			snprintf(err, err_size, "%s: apiVersion: required field is missing",
				 kdec_describe(kind, obj, desc, sizeof(desc)));
		return -EINVAL;
	}
	/* Same kind in another group (a Knative Service, say): not ours. */
	if (strcmp(api_version, info->api_version) != 0)
		return 0;
	o.kind = info->k;
	if (info->k == KDEC_SERVICE) {
		r = kdec_service_from_doc(obj, &o.svc, err, err_size);
		if (r < 0)
			return r;
		snprintf(desc, sizeof(desc), "Service %s/%s", o.svc->ns, o.svc->name);
	} else if (info->k == KDEC_NODE) {
		r = kdec_node_from_doc(obj, &o.node, err, err_size);
		if (r < 0)
			return r;
		snprintf(desc, sizeof(desc), "Node %s", o.node->name);
	} else {
		r = kdec_slice_from_doc(obj, &o.slice, err, err_size);
		if (r < 0)
			return r;
		snprintf(desc, sizeof(desc), "EndpointSlice %s/%s", o.slice->ns, o.slice->name);
	}
	o.desc = strdup(desc);
	if (!o.desc) {
		kdec_object_fini(&o);
		return -ENOMEM;
	}
	*out = o;
	return 1;
}

int kdec_object_from_doc(const struct doc *obj, struct kdec_object *out, char *err,
			 size_t err_size)
{
	const char *kind = NULL, *api_version = NULL;
	int r;

	if (!obj || obj->type != DOC_MAP) {
		if (err_size)
			snprintf(err, err_size, "object: got %s, expected a map",
				 obj ? doc_type_name(obj->type) : "nothing");
		return -EINVAL;
	}
	r = doc_get_string(obj, "kind", &kind);
	if (r < 0) {
		if (err_size)
			snprintf(err, err_size, "object: kind: %s",
				 r == -ENOENT ? "required field is missing" : "is not a string");
		return -EINVAL;
	}
	if (doc_get_string(obj, "apiVersion", &api_version) == -EINVAL) {
		if (err_size)
			snprintf(err, err_size, "%s: apiVersion: is not a string", kind);
		return -EINVAL;
	}
	return kdec_object_typed(obj, kind, api_version, 0, out, err, err_size);
}
