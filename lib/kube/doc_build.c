#include "lib/kube/doc_build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void doc_builder_init(struct doc_builder *b, doc_cb cb, void *data)
{
	memset(b, 0, sizeof(*b));
	b->cb = cb;
	b->data = data;
}

void doc_builder_reset(struct doc_builder *b)
{
	doc_free(b->root);
	b->root = NULL;
	free(b->key);
	b->key = NULL;
	b->depth = 0;
}

bool doc_builder_wants_key(const struct doc_builder *b)
{
	return b->depth && b->stack[b->depth - 1]->type == DOC_MAP && !b->key;
}

int doc_builder_key(struct doc_builder *b, const char *key, size_t len)
{
	if (memchr(key, '\0', len))
		return -EINVAL;
	free(b->key);
	b->key = strndup(key, len);
	return b->key ? 0 : -ENOMEM;
}

static int doc_builder_emit(struct doc_builder *b, struct doc *root)
{
	b->root = NULL;
	return b->cb(root, b->data);
}

int doc_builder_add(struct doc_builder *b, struct doc *v)
{
	bool container = v->type == DOC_MAP || v->type == DOC_SEQ;
	struct doc *parent;
	int r;

	if (container && b->depth == DOC_MAX_DEPTH) {
		doc_free(v);
		return -E2BIG;
	}
	if (!b->depth) {
		if (!container)
			return doc_builder_emit(b, v);
		doc_free(b->root);
		b->root = v;
	} else {
		parent = b->stack[b->depth - 1];
		if (parent->type == DOC_MAP) {
			/* The front ends always give a key first; a missing one is a
			 * bug there, not bad input. */
			if (!b->key) {
				doc_free(v);
				return -EINVAL;
			}
			r = doc_map_add(parent, b->key, v);
			b->key = NULL;
		} else {
			r = doc_seq_add(parent, v);
		}
		if (r < 0)
			return r;
	}
	if (container)
		b->stack[b->depth++] = v;
	return 0;
}

int doc_builder_close(struct doc_builder *b)
{
	if (!b->depth)
		return -EINVAL;
	b->depth--;
	if (!b->depth)
		return doc_builder_emit(b, b->root);
	return 0;
}
