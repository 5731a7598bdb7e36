/* The object index: which files provide which objects, and the model
 * operations that keep the model equal to "the first provider's version of
 * every object some file provides".
 *
 * When two files define the same object, the one that defined it first keeps
 * it (on start-up that is the first by name, as files are read in order);
 * the other's version waits in its provider slot and takes over if the first
 * file drops the object. A newcomer never silently replaces a live object.
 * This node's Node follows the same rules; "in the model" means it is the
 * model's node (model_node_set), and leaving means model_node_set(NULL). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kube/decode.h"
#include "lib/model/store.h"
#include "lib/model/types.h"
#include "lib/source/internal.h"
#include "lib/util/log.h"

static const char *kind_name(enum msrc_kind kind)
{
	switch (kind) {
	case MSRC_SERVICE:
		return "service";
	case MSRC_SLICE:
		return "endpointslice";
	case MSRC_NODE:
		return "node";
	}
	return "object";
}

/* "service ns/name", "node name": what log lines call an object. */
static const char *obj_desc(enum msrc_kind kind, const char *ns, const char *name, char *buf,
			    size_t size)
{
	if (kind == MSRC_NODE)
		snprintf(buf, size, "node %s", name);
	else
		snprintf(buf, size, "%s %s/%s", kind_name(kind), ns, name);
	return buf;
}

#define DESC_MAX 320

static void object_free(enum msrc_kind kind, void *obj)
{
	switch (kind) {
	case MSRC_SERVICE:
		model_service_free(obj);
		break;
	case MSRC_SLICE:
		model_slice_free(obj);
		break;
	case MSRC_NODE:
		model_node_free(obj);
		break;
	}
}

/* The node was given to the model: say what the proxy now knows of it. */
static void node_changed(struct msrc *s, struct msrc_scan_stats *st)
{
	const struct model_node *n = model_node_get(s->model);
	const char *zone;
	char buf[IP_ADDR_STRLEN];

	st->node_changes++;
	if (!n) {
		log_info("manifests %s: node %s is no longer defined; serving without its "
			 "addresses, pod CIDRs and labels", s->dir, s->node_name);
		return;
	}
	zone = kv_get(n->labels, n->n_labels, NODE_ZONE_LABEL);
	log_info("manifests %s: node %s: zone %s, %zu addresses (first %s), %zu pod CIDRs",
		 s->dir, n->name, zone ? zone : "(none)", n->n_addrs,
		 n->n_addrs ? ip_addr_fmt(&n->addrs[0], buf) : "-", n->n_pod_cidrs);
}

/* Hands obj to the model (which takes it in every case). */
static int model_put(struct msrc *s, struct msrc_entry *e, void *obj, struct msrc_scan_stats *st)
{
	char desc[DESC_MAX];
	int r;

	switch (e->kind) {
	case MSRC_SERVICE:
		r = model_service_upsert(s->model, obj);
		break;
	case MSRC_SLICE:
		r = model_slice_upsert(s->model, obj);
		break;
	case MSRC_NODE:
		/* Cannot fail; 0 when only heartbeats or the like changed. */
		if (model_node_set(s->model, obj) > 0)
			node_changed(s, st);
		return 0;
	default:
		object_free(e->kind, obj);
		return -EINVAL;
	}
	if (r < 0) {
		st->errors++;
		log_error("manifests %s: could not store %s in the model: %s; "
			  "will retry on the next change or rescan", s->dir,
			  obj_desc(e->kind, e->ns, e->name, desc, sizeof(desc)), strerror(-r));
		return r;
	}
	st->upserts++;
	return 0;
}

static void model_remove(struct msrc *s, struct msrc_entry *e, struct msrc_scan_stats *st)
{
	char desc[DESC_MAX];
	int r;

	switch (e->kind) {
	case MSRC_SERVICE:
		r = model_service_delete(s->model, e->ns, e->name);
		break;
	case MSRC_SLICE:
		r = model_slice_delete(s->model, e->ns, e->name);
		break;
	case MSRC_NODE:
		if (model_node_set(s->model, NULL) > 0)
			node_changed(s, st);
		return;
	default:
		return;
	}
	/* -ENOENT: an earlier upsert failed, so there is nothing to remove. */
	if (r < 0 && r != -ENOENT) {
		st->errors++;
		log_error("manifests %s: could not delete %s from the model: %s", s->dir,
			  obj_desc(e->kind, e->ns, e->name, desc, sizeof(desc)), strerror(-r));
		return;
	}
	st->deletes++;
}

static void entry_free(struct msrc_entry *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_prov; i++)
		if (e->prov[i].held)
			object_free(e->kind, e->prov[i].held);
	free(e->prov);
	free(e->key);
	free(e->ns);
	free(e->name);
	free(e);
}

static char *key_new(enum msrc_kind kind, const char *ns, const char *name)
{
	char *key;

	if (asprintf(&key, "%s/%s/%s", kind_name(kind), ns, name) < 0)
		return NULL;
	return key;
}

/* Finds or creates the entry for kind ns/name. Returns NULL on ENOMEM. */
static struct msrc_entry *entry_get(struct msrc *s, enum msrc_kind kind, const char *ns,
				    const char *name)
{
	struct msrc_entry *e;
	char *key = key_new(kind, ns, name);

	if (!key)
		return NULL;
	e = hmap_get(&s->entries, key);
	if (e) {
		free(key);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto fail;
	e->key = key;
	key = NULL;
	e->kind = kind;
	e->ns = strdup(ns);
	e->name = strdup(name);
	if (!e->ns || !e->name)
		goto fail;
	if (hmap_put(&s->entries, e->key, e, NULL) < 0)
		goto fail;
	return e;
fail:
	free(key);
	entry_free(e);
	return NULL;
}

static ssize_t provider_find(const struct msrc_entry *e, const struct msrc_file *f)
{
	for (size_t i = 0; i < e->n_prov; i++)
		if (e->prov[i].file == f)
			return (ssize_t)i;
	return -1;
}

static int provider_add(struct msrc_entry *e, struct msrc_file *f)
{
	if (e->n_prov == e->cap_prov) {
		size_t cap = e->cap_prov ? e->cap_prov * 2 : 1;
		struct msrc_provider *p = reallocarray(e->prov, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->prov = p;
		e->cap_prov = cap;
	}
	e->prov[e->n_prov].file = f;
	e->prov[e->n_prov].held = NULL;
	e->n_prov++;
	return 0;
}

static void provider_remove(struct msrc_entry *e, size_t i)
{
	memmove(&e->prov[i], &e->prov[i + 1], (e->n_prov - i - 1) * sizeof(e->prov[0]));
	e->n_prov--;
}

/* f stops providing e: the next provider takes over, or the object goes. */
static void entry_release(struct msrc *s, struct msrc_entry *e, struct msrc_file *f,
			  struct msrc_scan_stats *st)
{
	ssize_t i = provider_find(e, f);
	char desc[DESC_MAX];

	if (i < 0)
		return;
	if (i > 0) {
		if (e->prov[i].held)
			object_free(e->kind, e->prov[i].held);
		provider_remove(e, (size_t)i);
		return;
	}
	if (e->n_prov > 1) {
		void *next = e->prov[1].held;
		struct msrc_file *nf = e->prov[1].file;

		e->prov[1].held = NULL;
		provider_remove(e, 0);
		if (!next) {
			/* Only a provider that took over during a rename holds
			 * nothing, and the file it took over from is released in
			 * the same scan: this is a safety net. The model keeps
			 * the current version until nf is read again. */
			nf->have_st = false;
			nf->have_hash = false;
			return;
		}
		log_info("manifests %s: %s is no longer defined in %s; "
			 "serving the definition from %s instead", s->dir,
			 obj_desc(e->kind, e->ns, e->name, desc, sizeof(desc)), f->name,
			 e->prov[0].file->name);
		model_put(s, e, next, st);
		return;
	}
	log_v(2, "manifests %s: %s is no longer defined in %s; deleting it", s->dir,
	      obj_desc(e->kind, e->ns, e->name, desc, sizeof(desc)), f->name);
	model_remove(s, e, st);
	hmap_del(&s->entries, e->key);
	entry_free(e);
}

/* Takes obj (kind ns/name) from file f into the index, and into the model
 * when f is its first provider. Returns 0, 1 when obj was a duplicate inside
 * f (freed), or -ENOMEM (obj freed). */
static int apply_one(struct msrc *s, struct msrc_file *f, enum msrc_kind kind, const char *ns,
		     const char *name, void *obj, uint64_t gen, struct msrc_entry **out,
		     struct msrc_scan_stats *st)
{
	struct msrc_entry *e = entry_get(s, kind, ns, name);
	char desc[DESC_MAX];
	ssize_t i;

	if (!e) {
		object_free(kind, obj);
		return -ENOMEM;
	}
	if (e->mark == gen) {
		log_warn("manifests %s: %s defines %s more than once; using the first definition",
			 s->dir, f->name, obj_desc(kind, ns, name, desc, sizeof(desc)));
		object_free(kind, obj);
		return 1;
	}
	i = provider_find(e, f);
	if (i < 0) {
		if (provider_add(e, f) < 0) {
			object_free(kind, obj);
			if (e->n_prov == 0) {
				hmap_del(&s->entries, e->key);
				entry_free(e);
			}
			return -ENOMEM;
		}
		i = (ssize_t)e->n_prov - 1;
		if (i > 0 && !e->prov[0].file->seen) {
			/* The file that defines it now is not in the directory any
			 * more: a rename, or the object moved to another file. Take
			 * over at once so that the object never leaves the model;
			 * the old file's release later only drops its slot. */
			struct msrc_provider p = e->prov[i];

			memmove(&e->prov[1], &e->prov[0], (size_t)i * sizeof(e->prov[0]));
			e->prov[0] = p;
			i = 0;
		} else if (i > 0)
			log_warn("manifests %s: %s in %s is already defined in %s; "
				 "ignoring this definition while %s defines it", s->dir,
				 obj_desc(kind, ns, name, desc, sizeof(desc)), f->name,
				 e->prov[0].file->name, e->prov[0].file->name);
	}
	e->mark = gen;
	*out = e;
	if (i == 0) {
		/* A failed upsert leaves f as provider: the file is retried. */
		return model_put(s, e, obj, st) < 0 ? -ENOMEM : 0;
	}
	if (e->prov[i].held)
		object_free(kind, e->prov[i].held);
	e->prov[i].held = obj;
	return 0;
}

/* An object the decoder rejected: if f provided it before, it keeps that
 * version, as a file that does not parse keeps all of its objects. Returns
 * 0 or -ENOMEM (then f keeps every entry it had, and is read again). */
static int keep_rejected(struct msrc *s, struct msrc_file *f, const struct kdec_rejected *rej,
			 uint64_t gen, struct msrc_entry **next, size_t *n)
{
	enum msrc_kind kind = rej->kind == KDEC_SLICE  ? MSRC_SLICE
			      : rej->kind == KDEC_NODE ? MSRC_NODE
						       : MSRC_SERVICE;
	const char *ns = kind == MSRC_NODE ? "" : rej->ns;
	char desc[DESC_MAX];
	struct msrc_entry *e;
	char *key;

	/* Only a Node of this node's name has an entry to keep. */
	if (!ns || !rej->name)
		return 0;
	key = key_new(kind, ns, rej->name);
	if (!key)
		return -ENOMEM;
	e = hmap_get(&s->entries, key);
	free(key);
	if (!e || e->mark == gen || provider_find(e, f) < 0)
		return 0;
	e->mark = gen;
	next[(*n)++] = e;
	log_info("manifest %s/%s: keeping the %s it defined before until it is fixed", s->dir,
		 f->name, obj_desc(kind, ns, rej->name, desc, sizeof(desc)));
	return 0;
}

int msrc_index_apply(struct msrc *s, struct msrc_file *f, struct kdec_result *res,
		     struct msrc_scan_stats *st)
{
	uint64_t gen = ++s->mark_gen;
	struct msrc_entry **next;
	size_t n = 0;
	int r = 0;

	/* Room for the old entries too: on failure f keeps all of them. */
	next = calloc(res->n_objects + res->n_rejected + f->n_entries + 1, sizeof(*next));
	if (!next)
		return -ENOMEM;  /* res still owns the objects */
	for (size_t i = 0; i < res->n_objects; i++) {
		struct kdec_object *o = &res->objects[i];
		enum msrc_kind kind;
		const char *ns, *name;
		struct msrc_entry *e = NULL;
		void *obj;
		int q;

		if (o->kind == KDEC_SERVICE && o->svc) {
			kind = MSRC_SERVICE;
			obj = o->svc;
			ns = o->svc->ns;
			name = o->svc->name;
			o->svc = NULL;
		} else if (o->kind == KDEC_SLICE && o->slice) {
			kind = MSRC_SLICE;
			obj = o->slice;
			ns = o->slice->ns;
			name = o->slice->name;
			o->slice = NULL;
		} else if (o->kind == KDEC_NODE && o->node) {
			/* Other nodes' objects (a directory shared by several
			 * nodes) are none of ours: not even indexed. */
			if (!s->node_name) {
				log_v(2, "manifest %s/%s: node %s: this node's name is not known; "
				      "ignoring it", s->dir, f->name, o->node->name);
				continue;
			}
			if (strcmp(o->node->name, s->node_name) != 0) {
				log_v(2, "manifest %s/%s: node %s is not this node (%s); ignoring it",
				      s->dir, f->name, o->node->name, s->node_name);
				continue;
			}
			kind = MSRC_NODE;
			obj = o->node;
			ns = "";
			name = o->node->name;
			o->node = NULL;
		} else {
			continue;
		}
		/* The decoder rejects nameless objects; this only guards the index. */
		if (!ns || !name) {
			object_free(kind, obj);
			continue;
		}
		/* apply_one may free obj, and ns/name with it: they are not used after. */
		q = apply_one(s, f, kind, ns, name, obj, gen, &e, st);
		if (q == 0 || (q == -ENOMEM && e))
			next[n++] = e;
		if (q < 0 && r == 0)
			r = q;
	}
	for (size_t i = 0; i < res->n_rejected; i++) {
		int q = keep_rejected(s, f, &res->rejected[i], gen, next, &n);

		if (q < 0 && r == 0)
			r = q;
	}

	for (size_t i = 0; i < f->n_entries; i++) {
		struct msrc_entry *e = f->entries[i];

		if (e->mark == gen)
			continue;
		if (r < 0)
			next[n++] = e;  /* keep what it had: the retry sorts it out */
		else
			entry_release(s, e, f, st);
	}
	free(f->entries);
	f->entries = next;
	f->n_entries = n;
	return r;
}

void msrc_index_drop_file(struct msrc *s, struct msrc_file *f, struct msrc_scan_stats *st)
{
	for (size_t i = 0; i < f->n_entries; i++)
		entry_release(s, f->entries[i], f, st);
	free(f->entries);
	f->entries = NULL;
	f->n_entries = 0;
}

void msrc_index_fini(struct msrc *s)
{
	const char *key;
	void *value;

	for (size_t it = 0; hmap_next(&s->entries, &it, &key, &value);)
		entry_free(value);
	hmap_fini(&s->entries);
}
