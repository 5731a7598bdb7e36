/* Internal: assembles a doc tree from a parser's events (shared by the JSON
 * and the YAML front ends). Containers are attached to their parent when
 * they open, so the root owns everything built so far and one doc_free
 * releases a half-built document. */
#ifndef NFTPROXY_KUBE_DOC_BUILD_H
#define NFTPROXY_KUBE_DOC_BUILD_H

#include <stdbool.h>

#include "lib/kube/doc.h"

struct doc_builder {
	struct doc *root;                  /* owned until emitted */
	struct doc *stack[DOC_MAX_DEPTH];  /* open containers, borrowed from root */
	size_t depth;
	char *key;                         /* pending key of the innermost map */
	doc_cb cb;
	void *data;
};

void doc_builder_init(struct doc_builder *b, doc_cb cb, void *data);
/* Frees a half-built document; b can be reused. */
void doc_builder_reset(struct doc_builder *b);

/* True when the innermost open container is a map waiting for a key. */
bool doc_builder_wants_key(const struct doc_builder *b);
/* Sets the pending key (copied). -EINVAL if it holds a NUL, -ENOMEM. */
int doc_builder_key(struct doc_builder *b, const char *key, size_t len);
/* Adds v (ownership taken in every case) to the open container, or emits it
 * when it is a complete top-level scalar. A map or a sequence is opened: the
 * values that follow go into it until doc_builder_close. Returns 0, -ENOMEM,
 * -E2BIG when nested deeper than DOC_MAX_DEPTH, or the callback's error. */
int doc_builder_add(struct doc_builder *b, struct doc *v);
/* Closes the innermost container and emits the root when it was the last.
 * Returns 0 or the callback's error. */
int doc_builder_close(struct doc_builder *b);

#endif
