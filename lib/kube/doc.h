/* A small document tree: what a JSON or YAML document holds, before it is
 * decoded into typed Kubernetes objects. The JSON and YAML builders produce
 * it; the object decoders read it through the getters below, which keep
 * "absent" (or null) apart from "present with the wrong type".
 *
 * Ownership: a node owns its children, its keys and its string bytes;
 * doc_free() releases a whole subtree. Getters return borrowed pointers that
 * live as long as the tree.
 *
 * The builders' keys and strings are UTF-8 (lib/util/utf8.h): libyaml
 * refuses anything else, and the JSON builder turns what yajl lets through
 * into U+FFFD. */
#ifndef NFTPROXY_KUBE_DOC_H
#define NFTPROXY_KUBE_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum doc_type {
	DOC_NULL = 0,
	DOC_BOOL,
	DOC_INT,           /* an integer that fits int64_t */
	DOC_FLOAT,         /* any other number */
	DOC_STRING,
	DOC_MAP,
	DOC_SEQ,
};

/* Builders refuse documents nested deeper than this, so that freeing and
 * walking a tree can recurse safely whatever the input. */
#define DOC_MAX_DEPTH 128

struct doc;

struct doc_pair {
	char *key;                 /* NUL-terminated; keys never contain NUL */
	struct doc *value;
};

struct doc {
	enum doc_type type;
	union {
		bool b;
		int64_t i;
		double f;
		struct {
			char *ptr;         /* NUL-terminated, may also contain NUL */
			size_t len;
		} str;
		struct {
			struct doc_pair *items; /* in document order */
			size_t n, cap;
		} map;
		struct {
			struct doc **items;
			size_t n, cap;
		} seq;
	};
};

/* Called by the builders once per completed top-level document; takes
 * ownership of root. A negative return stops the parse and is returned by it. */
typedef int (*doc_cb)(struct doc *root, void *data);

/* Constructors return NULL when out of memory. */
struct doc *doc_new(enum doc_type type);
struct doc *doc_new_string(const char *s, size_t len);
void doc_free(struct doc *d);

/* Append to a map or a sequence. Take ownership of key and value in every
 * case (they are freed on failure). Return 0 or -ENOMEM. */
int doc_map_add(struct doc *map, char *key, struct doc *value);
int doc_seq_add(struct doc *seq, struct doc *value);

/* The value of key in map: the last one when a key repeats (as Go's
 * encoding/json does). NULL when map is not a map or has no such key. A
 * present null is returned as a DOC_NULL node. */
const struct doc *doc_get(const struct doc *map, const char *key);

/* Typed lookups of map[key]. Return 0 and *out when present with the right
 * type, -ENOENT when absent or null, -EINVAL when of another type (or, for
 * strings, when the value contains a NUL byte). *out is borrowed. */
int doc_get_string(const struct doc *map, const char *key, const char **out);
int doc_get_int(const struct doc *map, const char *key, int64_t *out);
int doc_get_bool(const struct doc *map, const char *key, bool *out);
int doc_get_map(const struct doc *map, const char *key, const struct doc **out);
int doc_get_seq(const struct doc *map, const char *key, const struct doc **out);

/* Number of items of a map or sequence (0 for scalars), and item i of a
 * sequence (NULL when out of range or not a sequence). */
size_t doc_len(const struct doc *d);
const struct doc *doc_at(const struct doc *seq, size_t i);

/* True when d is a string without NUL bytes, so d->str.ptr is a C string. */
bool doc_is_cstring(const struct doc *d);

/* "a string", "an integer", "a map", ... for messages. */
const char *doc_type_name(enum doc_type type);

/* Renders a scalar for a message ("80", "\"10.0.0.999\"", "true", "null";
 * "a map" / "a list" for containers), escaped and shortened to fit size.
 * Returns buf. */
const char *doc_describe(const struct doc *d, char *buf, size_t size);

#endif
