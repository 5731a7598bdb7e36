/* The effective KubeProxyConfiguration written out: YAML for
 * --write-config-to, JSON for /configz. One walk over the fields drives
 * either syntax, so the two never disagree. Keys come in kube-proxy's order
 * (sorted, as its encoder writes them); strings are always double-quoted
 * with JSON escapes, which YAML reads the same. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/internal.h"
#include "lib/config/kpconfig.h"

struct emit {
	char *p;
	size_t n, cap;
	bool oom;
	bool json;
	int depth;                 /* open maps below the root */
	bool comma[8];             /* JSON: a value was written at this depth */
	const char *pending[8];    /* maps opened but not written until a child comes */
	int n_pending;
};

static void put(struct emit *e, const char *s, size_t len)
{
	if (e->oom)
		return;
	if (e->n + len + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 1024;
		char *p;

		while (cap < e->n + len + 1)
			cap *= 2;
		p = realloc(e->p, cap);
		if (!p) {
			e->oom = true;
			return;
		}
		e->p = p;
		e->cap = cap;
	}
	memcpy(e->p + e->n, s, len);
	e->n += len;
	e->p[e->n] = '\0';
}

static void puts_(struct emit *e, const char *s)
{
	put(e, s, strlen(s));
}

static void putf(struct emit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct emit *e, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(e, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* "..." with JSON's escapes (YAML double-quoted scalars take the same). */
static void put_quoted(struct emit *e, const char *s)
{
	puts_(e, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			char esc[2] = { '\\', (char)ch };

			put(e, esc, 2);
		} else if (ch == '\n') {
			puts_(e, "\\n");
		} else if (ch == '\t') {
			puts_(e, "\\t");
		} else if (ch < 0x20 || ch == 0x7f) {
			putf(e, "\\u%04x", ch);
		} else if (ch == 0xc2 && (unsigned char)s[1] >= 0x80 &&
			   (unsigned char)s[1] <= 0x9f) {
			/* C1 controls (U+0080-U+009F): libyaml refuses them raw,
			 * so the file --write-config-to wrote would not load. */
			putf(e, "\\u%04x", (unsigned char)s[1]);
			s++;
		} else if (ch == 0xef && (unsigned char)s[1] == 0xbf &&
			   ((unsigned char)s[2] == 0xbe || (unsigned char)s[2] == 0xbf)) {
			/* U+FFFE and U+FFFF, the other characters it refuses. */
			putf(e, "\\u%04x", 0xffc0 | ((unsigned char)s[2] & 0x3f));
			s += 2;
		} else {
			put(e, s, 1);
		}
	}
	puts_(e, "\"");
}

/* A YAML key is written plain when it is a simple name. */
static void put_key_text(struct emit *e, const char *key)
{
	bool plain = *key != '\0';

	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			plain = false;
	if (plain && !e->json)
		puts_(e, key);
	else
		put_quoted(e, key);
}

static void flush_pending(struct emit *e);

/* Starts "key: " (YAML) or ,"key": (JSON) at the current depth. */
static void key(struct emit *e, const char *k)
{
	size_t start;

	flush_pending(e);
	if (e->json) {
		if (e->comma[e->depth])
			puts_(e, ",");
		e->comma[e->depth] = true;
		put_key_text(e, k);
		puts_(e, ":");
		return;
	}
	for (int i = 0; i < e->depth; i++)
		puts_(e, "  ");
	start = e->n;
	put_key_text(e, k);
	/* libyaml reads an implicit key of at most 1024 characters: a longer
	 * one (a feature gate's name) is written as an explicit "? KEY" with
	 * ":" on the next line, or the file would not load again. */
	if (!e->oom && e->n - start > 1000) {
		size_t len = e->n - start;

		put(e, "? ", 2);
		if (e->oom)
			return;
		memmove(e->p + start + 2, e->p + start, len);
		memcpy(e->p + start, "? ", 2);
		puts_(e, "\n");
		for (int i = 0; i < e->depth; i++)
			puts_(e, "  ");
	}
	puts_(e, ":");
}

static void flush_pending(struct emit *e)
{
	int n = e->n_pending;

	if (!n)
		return;
	e->n_pending = 0;
	for (int i = 0; i < n; i++) {
		key(e, e->pending[i]);
		puts_(e, e->json ? "{" : "\n");
		e->depth++;
		e->comma[e->depth] = false;
	}
}

/* A map that is written only if something goes into it. */
static void map_begin(struct emit *e, const char *k)
{
	e->pending[e->n_pending++] = k;
}

static void map_end(struct emit *e)
{
	if (e->n_pending) {
		e->n_pending--;
		return;
	}
	e->depth--;
	if (e->json)
		puts_(e, "}");
}

static void scalar_end(struct emit *e)
{
	if (!e->json)
		puts_(e, "\n");
}

static void emit_str(struct emit *e, const char *k, const char *v)
{
	key(e, k);
	if (!e->json)
		puts_(e, " ");
	put_quoted(e, v);
	scalar_end(e);
}

static void emit_raw(struct emit *e, const char *k, const char *v)
{
	key(e, k);
	if (!e->json)
		puts_(e, " ");
	puts_(e, v);
	scalar_end(e);
}

static void emit_list(struct emit *e, const char *k, const struct kpc_strv *l, bool null)
{
	key(e, k);
	if (null) {
		puts_(e, e->json ? "null" : " null\n");
		return;
	}
	if (e->json || l->n == 0) {
		puts_(e, e->json ? "[" : " [");
		for (size_t i = 0; i < l->n; i++) {
			if (i)
				puts_(e, ",");
			put_quoted(e, l->v[i]);
		}
		puts_(e, "]");
		scalar_end(e);
		return;
	}
	puts_(e, "\n");
	for (size_t i = 0; i < l->n; i++) {
		for (int d = 0; d < e->depth; d++)
			puts_(e, "  ");
		puts_(e, "- ");
		put_quoted(e, l->v[i]);
		puts_(e, "\n");
	}
}

/* Ignored fields are written only when they were set, so that what was
 * given round-trips without the defaults of settings nftproxy lacks. */
static bool wanted(const struct kpc_config *c, int f)
{
	return !(kpc_fields[f].flags & KF_IGNORED) || c->src[f] != KPC_SRC_DEFAULT;
}

static void emit_field(struct emit *e, const struct kpc_config *c, int f)
{
	const void *at = (const char *)c + kpc_fields[f].off;
	const char *leaf = strrchr(kpc_fields[f].path, '.');
	char buf[64];

	leaf = leaf ? leaf + 1 : kpc_fields[f].path;
	switch (kpc_fields[f].type) {
	case KT_STR:
		emit_str(e, leaf, *(char *const *)at);
		break;
	case KT_BOOL:
		emit_raw(e, leaf, *(const bool *)at ? "true" : "false");
		break;
	case KT_INT:
		/* -1: a conntrack integer nobody set (no default here). */
		if (*(const int64_t *)at < 0 && kpc_fields[f].min >= 0)
			break;
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)at);
		emit_raw(e, leaf, buf);
		break;
	case KT_FLOAT:
		snprintf(buf, sizeof(buf), "%.15g", *(const double *)at);
		emit_raw(e, leaf, buf);
		break;
	case KT_DUR:
	case KT_DUR_OR_INT:
		if (*(const int64_t *)at < 0)
			break;
		emit_str(e, leaf, kpc_format_duration(*(const int64_t *)at, buf, sizeof(buf)));
		break;
	case KT_STRLIST:
		emit_list(e, leaf, at, f == KF_NODEPORTS && !c->nodeport_addresses_set);
		break;
	case KT_GATES: {
		const struct kpc_gates *g = at;

		map_begin(e, leaf);
		for (size_t i = 0; i < g->n; i++)
			emit_raw(e, g->v[i].name, g->v[i].enabled ? "true" : "false");
		map_end(e);
		break;
	}
	default:
		break;
	}
}

static int by_path(const void *a, const void *b)
{
	return strcmp(kpc_fields[*(const int *)a].path, kpc_fields[*(const int *)b].path);
}

static void emit_config(struct emit *e, const struct kpc_config *c)
{
	int order[KF_COUNT], n = 0, section = -1;

	for (int f = 0; f < KF_COUNT; f++) {
		enum kpc_type t = kpc_fields[f].type;

		if (kpc_fields[f].path && t != KT_ANY && t != KT_OPAQUE)
			order[n++] = f;
	}
	/* Sorted paths put a section's fields right after it ('.' sorts before
	 * letters), so one pass opens and closes each section. */
	qsort(order, (size_t)n, sizeof(order[0]), by_path);
	emit_str(e, "apiVersion", KPC_API_VERSION);
	emit_str(e, "kind", KPC_KIND);
	for (int i = 0; i < n; i++) {
		int f = order[i];
		const char *path = kpc_fields[f].path;

		if (section >= 0 && (strncmp(path, kpc_fields[section].path,
					     strlen(kpc_fields[section].path)) != 0 ||
				     path[strlen(kpc_fields[section].path)] != '.')) {
			map_end(e);
			section = -1;
		}
		if (kpc_fields[f].type == KT_SECTION) {
			map_begin(e, path);
			section = f;
			continue;
		}
		if (wanted(c, f))
			emit_field(e, c, f);
	}
	if (section >= 0)
		map_end(e);
}

int kpc_write_yaml(const struct kpc_config *c, FILE *out)
{
	struct emit e = { 0 };
	int r = 0;

	emit_config(&e, c);
	if (e.oom) {
		free(e.p);
		return -ENOMEM;
	}
	if (fwrite(e.p, 1, e.n, out) != e.n || fflush(out) != 0)
		r = errno ? -errno : -EIO;
	free(e.p);
	return r;
}

int kpc_configz_json(const struct kpc_config *c, const char *const *extra, char **out)
{
	struct emit e = { .json = true };

	puts_(&e, "{\"kubeproxy.config.k8s.io\":{");
	e.depth = 1;
	emit_config(&e, c);
	puts_(&e, "}");
	if (extra) {
		e.depth = 0;
		e.comma[0] = true;
		map_begin(&e, "nftproxy");
		for (size_t i = 0; extra[i]; i += 2)
			if (extra[i + 1])
				emit_str(&e, extra[i], extra[i + 1]);
		map_end(&e);
	}
	puts_(&e, "}");
	if (e.oom) {
		free(e.p);
		return -ENOMEM;
	}
	*out = e.p;
	return 0;
}
