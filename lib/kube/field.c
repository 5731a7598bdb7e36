#include "lib/kube/field.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kdec_ctx_init(struct kdec_ctx *c, const char *kind, char *err, size_t err_size)
{
	c->err = err;
	c->err_size = err_size;
	c->kind = kind;
	snprintf(c->who, sizeof(c->who), "%s (no name)", kind);
	if (err && err_size)
		err[0] = '\0';
}

int kdec_fail(struct kdec_ctx *c, const char *path, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!c->err || !c->err_size)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->err_size, "%s: %s: %s", c->who, path, msg);
	return -EINVAL;
}

int kdec_fail_type(struct kdec_ctx *c, const char *path, const struct doc *d,
		   const char *expected)
{
	char val[96];

	if (d->type == DOC_STRING && !doc_is_cstring(d))
		return kdec_fail(c, path, "string contains a NUL character, expected %s",
				 expected);
	if (d->type == DOC_MAP || d->type == DOC_SEQ)
		return kdec_fail(c, path, "got %s, expected %s", doc_type_name(d->type), expected);
	return kdec_fail(c, path, "%s is %s, expected %s", doc_describe(d, val, sizeof(val)),
			 doc_type_name(d->type), expected);
}

int kdec_oom(struct kdec_ctx *c)
{
	if (c->err && c->err_size)
		snprintf(c->err, c->err_size, "%s: out of memory", c->who);
	return -ENOMEM;
}

/* A path too long for buf ends in "..."; it only goes into a message. */
static const char *kdec_path_done(char *buf, size_t size, int n)
{
	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

const char *kdec_join(char *buf, size_t size, const char *at, const char *key)
{
	return kdec_path_done(buf, size, snprintf(buf, size, "%s%s%s", at, *at ? "." : "", key));
}

const char *kdec_join_index(char *buf, size_t size, const char *at, const char *key, size_t i)
{
	return kdec_path_done(buf, size,
			      snprintf(buf, size, "%s%s%s[%zu]", at, *at ? "." : "", key, i));
}

int kdec_node_str(struct kdec_ctx *c, const struct doc *d, const char *path, const char **out)
{
	if (!doc_is_cstring(d))
		return kdec_fail_type(c, path, d, "a string");
	*out = d->str.ptr;
	return 0;
}

int kdec_node_map(struct kdec_ctx *c, const struct doc *d, const char *path)
{
	return d->type == DOC_MAP ? 0 : kdec_fail_type(c, path, d, "a map");
}

int kdec_node_ip(struct kdec_ctx *c, const struct doc *d, const char *path, int family,
		 struct ip_addr *out)
{
	const char *s = NULL;
	struct ip_addr a;
	char val[96];
	int r;

	r = kdec_node_str(c, d, path, &s);
	if (r < 0)
		return r;
	if (ip_addr_parse(s, &a) < 0)
		return kdec_fail(c, path, "%s is not an IP address",
				 doc_describe(d, val, sizeof(val)));
	if (family && a.family != family)
		return kdec_fail(c, path, "%s is not an %s address",
				 doc_describe(d, val, sizeof(val)),
				 family == AF_INET ? "IPv4" : "IPv6");
	*out = a;
	return 0;
}

/* The field's node when present and not null. */
static const struct doc *kdec_lookup(const struct doc *map, const char *key)
{
	const struct doc *d = doc_get(map, key);

	return d && d->type != DOC_NULL ? d : NULL;
}

int kdec_get_str(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 const char **out)
{
	const struct doc *d = kdec_lookup(map, key);
	char path[KDEC_PATH_MAX];

	if (!d)
		return 0;
	if (!doc_is_cstring(d))
		return kdec_fail_type(c, kdec_join(path, sizeof(path), at, key), d, "a string");
	*out = d->str.ptr;
	return 1;
}

int kdec_strdup(struct kdec_ctx *c, const char *s, char **out)
{
	char *copy = NULL;

	if (s) {
		copy = strdup(s);
		if (!copy)
			return kdec_oom(c);
	}
	*out = copy;
	return 0;
}

int kdec_get_strdup(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		    char **out)
{
	const char *s;
	int r;

	r = kdec_get_str(c, map, at, key, &s);
	if (r <= 0)
		return r;
	r = kdec_strdup(c, s, out);
	return r < 0 ? r : 1;
}

int kdec_get_int(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 int64_t min, int64_t max, int64_t *out)
{
	const struct doc *d = kdec_lookup(map, key);
	char path[KDEC_PATH_MAX];
	char val[96];

	if (!d)
		return 0;
	kdec_join(path, sizeof(path), at, key);
	if (d->type == DOC_FLOAT)
		return kdec_fail(c, path, "%s is not an integer", doc_describe(d, val, sizeof(val)));
	if (d->type != DOC_INT)
		return kdec_fail_type(c, path, d, "an integer");
	if (d->i < min || d->i > max)
		return kdec_fail(c, path, "%" PRId64 " is out of range %" PRId64 "-%" PRId64, d->i,
				 min, max);
	*out = d->i;
	return 1;
}

int kdec_get_tri(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 enum tri *out)
{
	const struct doc *d = kdec_lookup(map, key);
	char path[KDEC_PATH_MAX];

	if (!d) {
		*out = TRI_ABSENT;
		return 0;
	}
	if (d->type != DOC_BOOL)
		return kdec_fail_type(c, kdec_join(path, sizeof(path), at, key), d, "true or false");
	*out = d->b ? TRI_TRUE : TRI_FALSE;
	return 1;
}

static int kdec_get_typed(struct kdec_ctx *c, const struct doc *map, const char *at,
			  const char *key, enum doc_type type, const struct doc **out)
{
	const struct doc *d = kdec_lookup(map, key);
	char path[KDEC_PATH_MAX];

	if (!d)
		return 0;
	if (d->type != type)
		return kdec_fail_type(c, kdec_join(path, sizeof(path), at, key), d,
				      doc_type_name(type));
	*out = d;
	return 1;
}

int kdec_get_map(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 const struct doc **out)
{
	return kdec_get_typed(c, map, at, key, DOC_MAP, out);
}

int kdec_get_seq(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 const struct doc **out)
{
	return kdec_get_typed(c, map, at, key, DOC_SEQ, out);
}

int kdec_get_enum(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		  const char *const *names, int *out)
{
	char path[KDEC_PATH_MAX], val[96], list[160] = "";
	const char *s;
	size_t o = 0;
	int r;

	r = kdec_get_str(c, map, at, key, &s);
	if (r <= 0)
		return r;
	for (int i = 0; names[i]; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 1;
		}
		if (o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
					      names[i]);
	}
	return kdec_fail(c, kdec_join(path, sizeof(path), at, key), "%s is not one of %s",
			 doc_describe(kdec_lookup(map, key), val, sizeof(val)), list);
}

int kdec_get_proto(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		   uint8_t *out)
{
	static const char *const names[] = { "TCP", "UDP", "SCTP", NULL };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	int i = 0;
	int r;

	r = kdec_get_enum(c, map, at, key, names, &i);
	if (r < 0)
		return r;
	*out = protos[i];
	return r;
}

/* Orders pairs by key, then by position, so the last of a repeated key is
 * the last of its run. */
static int kdec_pair_cmp(const void *a, const void *b)
{
	const struct doc_pair *x = *(const struct doc_pair *const *)a;
	const struct doc_pair *y = *(const struct doc_pair *const *)b;
	int r = strcmp(x->key, y->key);

	if (r)
		return r;
	return x < y ? -1 : x > y;
}

static void kdec_kvs_free(struct kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

int kdec_get_labels(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		    struct kv **out, size_t *n)
{
	char at2[KDEC_PATH_MAX], path[KDEC_PATH_MAX];
	const struct doc_pair **sorted = NULL;
	struct kv *kvs = NULL;
	const struct doc *m;
	size_t k = 0, len;
	int r;

	r = kdec_get_map(c, map, at, key, &m);
	if (r <= 0 || !m->map.n)
		return r;
	len = m->map.n;
	kdec_join(at2, sizeof(at2), at, key);
	sorted = calloc(len, sizeof(*sorted));
	kvs = calloc(len, sizeof(*kvs));
	if (!sorted || !kvs) {
		r = kdec_oom(c);
		goto fail;
	}
	for (size_t i = 0; i < len; i++)
		sorted[i] = &m->map.items[i];
	qsort(sorted, len, sizeof(*sorted), kdec_pair_cmp);
	for (size_t i = 0; i < len; i++) {
		const struct doc_pair *p = sorted[i];
		const char *v = "";

		/* A repeated key: the last one wins, as it does in doc_get. */
		if (i + 1 < len && strcmp(p->key, sorted[i + 1]->key) == 0)
			continue;
		/* `app:` with no value is an empty label value, as in kubectl. */
		if (p->value->type != DOC_NULL) {
			r = kdec_node_str(c, p->value, kdec_join(path, sizeof(path), at2, p->key), &v);
			if (r < 0)
				goto fail;
		}
		kvs[k].key = strdup(p->key);
		kvs[k].value = strdup(v);
		k++;
		if (!kvs[k - 1].key || !kvs[k - 1].value) {
			r = kdec_oom(c);
			goto fail;
		}
	}
	free(sorted);
	*out = kvs;
	*n = k;
	return 1;
fail:
	free(sorted);
	kdec_kvs_free(kvs, k);
	return r;
}

int kdec_get_ips(struct kdec_ctx *c, const struct doc *map, const char *at, const char *key,
		 int family, struct ip_addr **out, size_t *n)
{
	char path[KDEC_PATH_MAX];
	const struct doc *seq;
	struct ip_addr *ips;
	int r;

	r = kdec_get_seq(c, map, at, key, &seq);
	if (r <= 0 || !seq->seq.n)
		return r;
	ips = calloc(seq->seq.n, sizeof(*ips));
	if (!ips)
		return kdec_oom(c);
	for (size_t i = 0; i < seq->seq.n; i++) {
		r = kdec_node_ip(c, seq->seq.items[i], kdec_join_index(path, sizeof(path), at, key, i),
				 family, &ips[i]);
		if (r < 0) {
			free(ips);
			return r;
		}
	}
	*out = ips;
	*n = seq->seq.n;
	return 1;
}

/* Zeroes the host bits, as Go's net.ParseCIDR does, so equal ranges compare
 * equal and sets never hold an address with host bits. */
static void kdec_prefix_mask(struct svc_prefix *p)
{
	size_t bytes = ip_addr_len(&p->addr);

	for (size_t i = 0; i < bytes; i++) {
		size_t bit = i * 8;

		if (bit >= p->len)
			p->addr.bytes[i] = 0;
		else if (bit + 8 > p->len)
			p->addr.bytes[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
	}
}

/* "addr/len" with blanks around it, as kube-proxy accepts (it trims them). */
int kdec_parse_prefix(const char *s, struct svc_prefix *p)
{
	char buf[IP_ADDR_STRLEN + 8];
	size_t len;

	s += strspn(s, " \t");
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= sizeof(buf) || !memchr(s, '/', len))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (ip_prefix_parse(buf, &p->addr, &p->len) < 0)
		return -EINVAL;
	kdec_prefix_mask(p);
	return 0;
}
