/* Incremental JSON to doc trees: feed the bytes in chunks of any size as they
 * arrive (a file, or a watch stream); the callback gets each top-level value
 * as soon as it is complete. Values may follow each other separated by
 * whitespace, as in a Kubernetes watch stream. */
#ifndef NFTPROXY_KUBE_DOC_JSON_H
#define NFTPROXY_KUBE_DOC_JSON_H

#include <stddef.h>

#include "lib/kube/doc.h"

struct doc_json;

/* Returns 0 or -ENOMEM. */
int doc_json_new(doc_cb cb, void *data, struct doc_json **out);
void doc_json_free(struct doc_json *p);

/* Parses the next chunk. Returns 0; -EBADMSG on a syntax error (see
 * doc_json_error); -E2BIG when nested deeper than DOC_MAX_DEPTH; -ENOMEM; or
 * the callback's negative return. After an error the parser is spent. */
int doc_json_feed(struct doc_json *p, const void *buf, size_t len);
/* Ends the input: -EBADMSG when it stops inside a value, else 0 (also when
 * no value was seen at all). */
int doc_json_finish(struct doc_json *p);

/* After -EBADMSG or -E2BIG: "line 3 column 14: <what is wrong>". The
 * position is the same however the input was cut into chunks, except one
 * byte later when the byte that ends a number came in the next chunk
 * (yajl's own lookahead; tests/fuzz/crashes/doc_json/number-lookahead.bin). */
const char *doc_json_error(const struct doc_json *p);

/* One buffer, whole: new, feed, finish, free, as doc_yaml_parse does for
 * YAML. A syntax error or too deep a nesting is described in err (may be
 * NULL when err_size is 0). Returns doc_json_finish's result. */
int doc_json_parse(const char *buf, size_t len, doc_cb cb, void *data, char *err,
		   size_t err_size);

/* Number of top-level values completed so far. */
size_t doc_json_count(const struct doc_json *p);

#endif
