/* A buffer of manifests (JSON or multi-document YAML) → decoded objects. */
#include "lib/kube/decode.h"
#include "lib/kube/doc_json.h"
#include "lib/kube/doc_yaml.h"
#include "lib/kube/object.h"
#include "lib/util/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kdec_parse {
	const char *origin;
	unsigned flags;            /* KDEC_PARSE_* */
	struct kdec_result res;
	size_t cap_objects, cap_rejected;
	size_t doc_index;          /* 1-based, of the document being decoded */
};

void kdec_result_fini(struct kdec_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_objects; i++)
		kdec_object_fini(&r->objects[i]);
	free(r->objects);
	for (size_t i = 0; i < r->n_rejected; i++) {
		free(r->rejected[i].ns);
		free(r->rejected[i].name);
		free(r->rejected[i].error);
	}
	free(r->rejected);
	memset(r, 0, sizeof(*r));
}

static int kdec_grow(void **items, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	p = reallocarray(*items, ncap, elem);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}

/* Records and logs an object that was refused. */
static int kdec_reject(struct kdec_parse *p, const char *kind, const struct doc *obj,
		       const char *where, const char *msg)
{
	struct kdec_rejected *rej;
	const char *ns, *name;
	bool known = kdec_identity(kind, obj, &ns, &name) == 0;
	int r;

	/* Without a name the message cannot say which object; say where. */
	if (known)
		log_warn("%s: %s; skipping this object", p->origin, msg);
	else
		log_warn("%s: %s: %s; skipping this object", p->origin, where, msg);
	r = kdec_grow((void **)&p->res.rejected, &p->cap_rejected, p->res.n_rejected,
		      sizeof(*p->res.rejected));
	if (r < 0)
		return r;
	rej = &p->res.rejected[p->res.n_rejected];
	memset(rej, 0, sizeof(*rej));
	if (strcmp(kind, kdec_kind_name(KDEC_SLICE)) == 0)
		rej->kind = KDEC_SLICE;
	else if (strcmp(kind, kdec_kind_name(KDEC_NODE)) == 0)
		rej->kind = KDEC_NODE;
	else
		rej->kind = KDEC_SERVICE;
	rej->error = strdup(msg);
	if (known) {
		rej->ns = ns ? strdup(ns) : NULL;
		rej->name = strdup(name);
	}
	p->res.n_rejected++;
	if (!rej->error || (known && ((ns && !rej->ns) || !rej->name)))
		return -ENOMEM;
	return 0;
}

static void kdec_ignore(struct kdec_parse *p, const char *where, const char *what)
{
	log_v(4, "%s: %s: ignoring %s", p->origin, where, what);
	p->res.n_ignored++;
}

/* One object; kind and api_version are inherited from a typed list when
 * the object does not carry its own. */
static int kdec_item(struct kdec_parse *p, const struct doc *obj, const char *kind,
		     const char *api_version, const char *where)
{
	char err[KDEC_ERR_MAX], what[256];
	struct kdec_object o;
	int r;

	if (obj->type != DOC_MAP) {
		log_warn("%s: %s: got %s where an object was expected; skipping it", p->origin,
			 where, doc_type_name(obj->type));
		p->res.n_ignored++;
		return 0;
	}
	if (doc_get_string(obj, "kind", &kind) == -EINVAL || !kind) {
		log_warn("%s: %s: object without a kind; skipping it", p->origin, where);
		p->res.n_ignored++;
		return 0;
	}
	if (doc_get_string(obj, "apiVersion", &api_version) == -EINVAL)
		api_version = NULL;
	r = kdec_object_typed(obj, kind, api_version, p->flags, &o, err, sizeof(err));
	if (r == -EINVAL)
		return kdec_reject(p, kind, obj, where, err);
	if (r < 0)
		return r;
	if (r == 0) {
		kdec_ignore(p, where, kdec_describe(kind, obj, what, sizeof(what)));
		return 0;
	}
	r = kdec_grow((void **)&p->res.objects, &p->cap_objects, p->res.n_objects,
		      sizeof(*p->res.objects));
	if (r < 0) {
		kdec_object_fini(&o);
		return r;
	}
	p->res.objects[p->res.n_objects++] = o;
	return 0;
}

/* kind: List and ServiceList, EndpointSliceList, ...: the items of a typed
 * list (as the API returns them) carry neither kind nor apiVersion. */
static int kdec_list(struct kdec_parse *p, const struct doc *list, const char *kind,
		     const char *where)
{
	size_t klen = strlen(kind) - strlen("List");
	const char *api_version = NULL;
	char item_kind[128], at[160];
	const struct doc *items;
	int r;

	snprintf(item_kind, sizeof(item_kind), "%.*s", (int)klen, kind);
	if (doc_get_string(list, "apiVersion", &api_version) < 0)
		api_version = NULL;
	r = doc_get_seq(list, "items", &items);
	if (r == -EINVAL) {
		log_warn("%s: %s: %s: items is not a list; skipping it", p->origin, where, kind);
		p->res.n_ignored++;
		return 0;
	}
	if (r < 0)
		return 0;
	for (size_t i = 0; i < items->seq.n; i++) {
		const struct doc *item = items->seq.items[i];
		const char *ik = NULL;

		snprintf(at, sizeof(at), "%s items[%zu]", where, i);
		if (doc_get_string(item, "kind", &ik) == 0 && strlen(ik) >= 4 &&
		    strcmp(ik + strlen(ik) - 4, "List") == 0) {
			kdec_ignore(p, at, "a list inside a list");
			continue;
		}
		r = kdec_item(p, item, klen ? item_kind : NULL, klen ? api_version : NULL, at);
		if (r < 0)
			return r;
	}
	return 0;
}

static int kdec_document(struct kdec_parse *p, const struct doc *root)
{
	const char *kind = NULL;
	char where[64];
	size_t len;

	snprintf(where, sizeof(where), "document %zu", p->doc_index);
	/* An empty YAML document, as between two "---" lines. */
	if (root->type == DOC_NULL)
		return 0;
	if (root->type == DOC_SEQ) {
		for (size_t i = 0; i < root->seq.n; i++) {
			char at[96];
			int r;

			snprintf(at, sizeof(at), "%s item %zu", where, i);
			r = kdec_item(p, root->seq.items[i], NULL, NULL, at);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (root->type == DOC_MAP && doc_get_string(root, "kind", &kind) == 0) {
		len = strlen(kind);
		if (len >= 4 && strcmp(kind + len - 4, "List") == 0)
			return kdec_list(p, root, kind, where);
	}
	return kdec_item(p, root, NULL, NULL, where);
}

static int kdec_on_document(struct doc *root, void *data)
{
	struct kdec_parse *p = data;
	int r;

	p->doc_index++;
	r = kdec_document(p, root);
	doc_free(root);
	return r;
}


int kdec_parse_buffer(const char *buf, size_t len, const char *origin, struct kdec_result *out,
		      char *err, size_t err_size)
{
	return kdec_parse_buffer_flags(buf, len, origin, 0, out, err, err_size);
}

int kdec_parse_buffer_flags(const char *buf, size_t len, const char *origin, unsigned flags,
			    struct kdec_result *out, char *err, size_t err_size)
{
	struct kdec_parse p = { .origin = origin ? origin : "(buffer)", .flags = flags };
	size_t bom = 0, i;
	int r;

	if (err_size)
		err[0] = '\0';
	/* A UTF-8 byte order mark: libyaml skips it, yajl would not. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		bom = 3;
	for (i = bom; i < len && buf[i] && strchr(" \t\r\n", buf[i]); i++)
		;
	/* The blanks are fed too, so that error positions count their lines. */
	if (i < len && (buf[i] == '{' || buf[i] == '['))
		r = doc_json_parse(buf + bom, len - bom, kdec_on_document, &p, err, err_size);
	else
		r = doc_yaml_parse(buf, len, kdec_on_document, &p, err, err_size);
	/* A syntax error anywhere rejects the whole buffer, also the objects
	 * decoded before it: a half-read file is not what its author meant. */
	if (r == -E2BIG)
		r = -EBADMSG;
	if (r < 0) {
		kdec_result_fini(&p.res);
		return r;
	}
	*out = p.res;
	return 0;
}
