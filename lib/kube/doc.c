#include "lib/kube/doc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct doc *doc_new(enum doc_type type)
{
	struct doc *d = calloc(1, sizeof(*d));

	if (d)
		d->type = type;
	return d;
}

struct doc *doc_new_string(const char *s, size_t len)
{
	struct doc *d = doc_new(DOC_STRING);

	if (!d)
		return NULL;
	d->str.ptr = malloc(len + 1);
	if (!d->str.ptr) {
		free(d);
		return NULL;
	}
	if (len)
		memcpy(d->str.ptr, s, len);
	d->str.ptr[len] = '\0';
	d->str.len = len;
	return d;
}

void doc_free(struct doc *d)
{
	if (!d)
		return;
	switch (d->type) {
	case DOC_STRING:
		free(d->str.ptr);
		break;
	case DOC_MAP:
		for (size_t i = 0; i < d->map.n; i++) {
			free(d->map.items[i].key);
			doc_free(d->map.items[i].value);
		}
		free(d->map.items);
		break;
	case DOC_SEQ:
		for (size_t i = 0; i < d->seq.n; i++)
			doc_free(d->seq.items[i]);
		free(d->seq.items);
		break;
	default:
		break;
	}
	free(d);
}

/* Grows *items (of elem bytes each) so that one more fits. */
static int doc_reserve(void **items, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 4;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	p = realloc(*items, ncap * elem);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}

int doc_map_add(struct doc *map, char *key, struct doc *value)
{
	int r;

	r = doc_reserve((void **)&map->map.items, &map->map.cap, map->map.n,
			sizeof(*map->map.items));
	if (r < 0) {
		free(key);
		doc_free(value);
		return r;
	}
	map->map.items[map->map.n].key = key;
	map->map.items[map->map.n].value = value;
	map->map.n++;
	return 0;
}

int doc_seq_add(struct doc *seq, struct doc *value)
{
	int r;

	r = doc_reserve((void **)&seq->seq.items, &seq->seq.cap, seq->seq.n,
			sizeof(*seq->seq.items));
	if (r < 0) {
		doc_free(value);
		return r;
	}
	seq->seq.items[seq->seq.n++] = value;
	return 0;
}

const struct doc *doc_get(const struct doc *map, const char *key)
{
	if (!map || map->type != DOC_MAP)
		return NULL;
	/* From the end: the last occurrence of a repeated key wins. */
	for (size_t i = map->map.n; i-- > 0;)
		if (strcmp(map->map.items[i].key, key) == 0)
			return map->map.items[i].value;
	return NULL;
}

/* The node at key if present and not null, else NULL. */
static const struct doc *doc_get_present(const struct doc *map, const char *key)
{
	const struct doc *d = doc_get(map, key);

	return d && d->type != DOC_NULL ? d : NULL;
}

bool doc_is_cstring(const struct doc *d)
{
	return d && d->type == DOC_STRING && strlen(d->str.ptr) == d->str.len;
}

int doc_get_string(const struct doc *map, const char *key, const char **out)
{
	const struct doc *d = doc_get_present(map, key);

	if (!d)
		return -ENOENT;
	if (!doc_is_cstring(d))
		return -EINVAL;
	*out = d->str.ptr;
	return 0;
}

int doc_get_int(const struct doc *map, const char *key, int64_t *out)
{
	const struct doc *d = doc_get_present(map, key);

	if (!d)
		return -ENOENT;
	if (d->type != DOC_INT)
		return -EINVAL;
	*out = d->i;
	return 0;
}

int doc_get_bool(const struct doc *map, const char *key, bool *out)
{
	const struct doc *d = doc_get_present(map, key);

	if (!d)
		return -ENOENT;
	if (d->type != DOC_BOOL)
		return -EINVAL;
	*out = d->b;
	return 0;
}

static int doc_get_typed(const struct doc *map, const char *key, enum doc_type type,
			 const struct doc **out)
{
	const struct doc *d = doc_get_present(map, key);

	if (!d)
		return -ENOENT;
	if (d->type != type)
		return -EINVAL;
	*out = d;
	return 0;
}

int doc_get_map(const struct doc *map, const char *key, const struct doc **out)
{
	return doc_get_typed(map, key, DOC_MAP, out);
}

int doc_get_seq(const struct doc *map, const char *key, const struct doc **out)
{
	return doc_get_typed(map, key, DOC_SEQ, out);
}

size_t doc_len(const struct doc *d)
{
	if (!d)
		return 0;
	if (d->type == DOC_MAP)
		return d->map.n;
	if (d->type == DOC_SEQ)
		return d->seq.n;
	return 0;
}

const struct doc *doc_at(const struct doc *seq, size_t i)
{
	if (!seq || seq->type != DOC_SEQ || i >= seq->seq.n)
		return NULL;
	return seq->seq.items[i];
}

const char *doc_type_name(enum doc_type type)
{
	switch (type) {
	case DOC_NULL:
		return "null";
	case DOC_BOOL:
		return "a boolean";
	case DOC_INT:
		return "an integer";
	case DOC_FLOAT:
		return "a number";
	case DOC_STRING:
		return "a string";
	case DOC_MAP:
		return "a map";
	case DOC_SEQ:
		return "a list";
	}
	return "unknown";
}

/* Quotes s into buf, escaping what would garble a log line, and cuts it
 * with "..." when it does not fit. */
static void doc_quote(const char *s, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	if (size < 8) {
		if (size)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t n;

		if (c == '"' || c == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else {
			esc[0] = (char)c;
			n = 1;
		}
		/* Keep room for `..."` and the NUL. */
		if (o + n + 5 > size) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

const char *doc_describe(const struct doc *d, char *buf, size_t size)
{
	if (!size)
		return buf;
	if (!d) {
		snprintf(buf, size, "nothing");
		return buf;
	}
	switch (d->type) {
	case DOC_NULL:
		snprintf(buf, size, "null");
		break;
	case DOC_BOOL:
		snprintf(buf, size, "%s", d->b ? "true" : "false");
		break;
	case DOC_INT:
		snprintf(buf, size, "%" PRId64, d->i);
		break;
	case DOC_FLOAT:
		snprintf(buf, size, "%.15g", d->f);
		break;
	case DOC_STRING:
		doc_quote(d->str.ptr, d->str.len, buf, size);
		break;
	case DOC_MAP:
	case DOC_SEQ:
		snprintf(buf, size, "%s", doc_type_name(d->type));
		break;
	}
	return buf;
}
