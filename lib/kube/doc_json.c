#include "lib/kube/doc_json.h"
#include "lib/kube/doc_build.h"
#include "lib/util/utf8.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

struct doc_json {
	yajl_handle h;
	struct doc_builder b;
	doc_cb cb;
	void *data;
	int err;                   /* why a callback stopped yajl */
	bool any;                  /* a non-blank byte was fed */
	bool spent;
	size_t count;
	/* Position of the next byte to be fed, 1-based, for error messages. */
	size_t line, col;
	size_t last_line, last_col; /* position of the last byte fed */
	const char *reason;        /* a -EBADMSG of our own, before its position */
	char msg[256];
	/* A string still open at the end of the input so far, held back from
	 * yajl (see doc_json_feed), and where the scanner is. */
	unsigned char *hold;
	size_t hold_len, hold_cap;
	bool in_str, esc;
};

/* yajl callbacks return 1 to go on, 0 to stop; the reason is kept in p->err. */
static int json_ret(struct doc_json *p, int r)
{
	if (r < 0) {
		p->err = r;
		return 0;
	}
	return 1;
}

static int json_add(struct doc_json *p, struct doc *v)
{
	if (!v)
		return json_ret(p, -ENOMEM);
	return json_ret(p, doc_builder_add(&p->b, v));
}

static int json_null(void *ctx)
{
	return json_add(ctx, doc_new(DOC_NULL));
}

static int json_boolean(void *ctx, int val)
{
	struct doc *d = doc_new(DOC_BOOL);

	if (d)
		d->b = val != 0;
	return json_add(ctx, d);
}

static int json_number(void *ctx, const char *s, size_t len)
{
	struct doc *d = doc_new(DOC_INT);
	char *text;

	/* yajl hands over the number's text, validated but not terminated. */
	text = d ? strndup(s, len) : NULL;
	if (!text) {
		doc_free(d);
		return json_add(ctx, NULL);
	}
	errno = 0;
	if (!strpbrk(text, ".eE")) {
		d->i = strtoll(text, NULL, 10);
		if (errno == 0)
			goto out;
	}
	/* Fractions, exponents and integers beyond int64 stay numbers that
	 * every integer field rejects, naming the value. */
	d->type = DOC_FLOAT;
	d->f = strtod(text, NULL);
out:
	free(text);
	return json_add(ctx, d);
}

/* yajl checks only the shape of UTF-8: it passes overlong forms, encoded
 * surrogates and code points past U+10FFFF, and decodes a \uDC00-\uDFFF
 * escape with no high surrogate before it into such a surrogate. Every
 * string the tree holds is UTF-8 (it goes on to YAML, JSON, nft comments,
 * the logs), so the bytes that are not become U+FFFD, as in Go's
 * encoding/json. Returns 0 with *text the string to use (s, or a copy in
 * *fixed to free), or -ENOMEM. */
static int json_text(const unsigned char *s, size_t len, const char **text, size_t *text_len,
		     char **fixed)
{
	int r = utf8_repair((const char *)s, len, fixed, text_len);

	*text = *fixed ? *fixed : (const char *)s;
	return r;
}

static int json_string(void *ctx, const unsigned char *s, size_t len)
{
	const char *text;
	char *fixed;
	struct doc *d;

	if (json_text(s, len, &text, &len, &fixed) < 0)
		return json_add(ctx, NULL);
	d = doc_new_string(text, len);
	free(fixed);
	return json_add(ctx, d);
}

static int json_start_map(void *ctx)
{
	return json_add(ctx, doc_new(DOC_MAP));
}

static int json_start_array(void *ctx)
{
	return json_add(ctx, doc_new(DOC_SEQ));
}

static int json_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct doc_json *p = ctx;
	const char *text;
	char *fixed;
	int r = json_text(key, len, &text, &len, &fixed);

	if (r < 0)
		return json_ret(p, r);
	r = doc_builder_key(&p->b, text, len);
	free(fixed);
	if (r == -EINVAL) {
		p->reason = "an object key contains a NUL character";
		r = -EBADMSG;
	}
	return json_ret(p, r);
}

static int json_end(void *ctx)
{
	struct doc_json *p = ctx;

	return json_ret(p, doc_builder_close(&p->b));
}

static const yajl_callbacks json_callbacks = {
	.yajl_null = json_null,
	.yajl_boolean = json_boolean,
	.yajl_number = json_number,
	.yajl_string = json_string,
	.yajl_start_map = json_start_map,
	.yajl_map_key = json_map_key,
	.yajl_end_map = json_end,
	.yajl_start_array = json_start_array,
	.yajl_end_array = json_end,
};

static int json_emit(struct doc *root, void *data)
{
	struct doc_json *p = data;

	p->count++;
	return p->cb(root, p->data);
}

int doc_json_new(doc_cb cb, void *data, struct doc_json **out)
{
	struct doc_json *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->h = yajl_alloc(&json_callbacks, NULL, p);
	if (!p->h) {
		free(p);
		return -ENOMEM;
	}
	/* A watch stream is a sequence of objects separated by newlines. */
	yajl_config(p->h, yajl_allow_multiple_values, 1);
	doc_builder_init(&p->b, json_emit, p);
	p->cb = cb;
	p->data = data;
	p->line = 1;
	p->col = 1;
	*out = p;
	return 0;
}

void doc_json_free(struct doc_json *p)
{
	if (!p)
		return;
	doc_builder_reset(&p->b);
	yajl_free(p->h);
	free(p->hold);
	free(p);
}

/* Moves the position past n bytes of buf. */
static void json_advance(struct doc_json *p, const unsigned char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p->last_line = p->line;
		p->last_col = p->col;
		if (buf[i] == '\n') {
			p->line++;
			p->col = 1;
		} else {
			p->col++;
		}
	}
}

/* Turns a yajl status into our return, writing the message on errors.
 * bad is where in buf the error was found (the byte yajl stopped at). */
static int json_status(struct doc_json *p, yajl_status st, const unsigned char *buf,
		       size_t bad)
{
	unsigned char *e;
	size_t n;

	if (st == yajl_status_ok)
		return 0;
	p->spent = true;
	json_advance(p, buf, bad);
	if (st == yajl_status_client_canceled) {
		if (p->err == -E2BIG)
			snprintf(p->msg, sizeof(p->msg),
				 "line %zu column %zu: nested deeper than %d levels", p->line,
				 p->col, DOC_MAX_DEPTH);
		else if (p->err == -EBADMSG)
			/* No reason of ours: the callback refused the value. */
			snprintf(p->msg, sizeof(p->msg), "line %zu column %zu: %s", p->line,
				 p->col, p->reason ? p->reason : "a value the reader refused");
		return p->err;
	}
	e = yajl_get_error(p->h, 0, NULL, 0);
	if (!e) {
		snprintf(p->msg, sizeof(p->msg), "line %zu column %zu: syntax error", p->line,
			 p->col);
		return -EBADMSG;
	}
	n = strlen((char *)e);
	while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
		e[--n] = '\0';
	snprintf(p->msg, sizeof(p->msg), "line %zu column %zu: %s", p->line, p->col, (char *)e);
	yajl_free_error(p->h, e);
	return -EBADMSG;
}

static int json_parse(struct doc_json *p, const unsigned char *b, size_t len)
{
	yajl_status st;
	size_t used;

	if (!len)
		return 0;
	st = yajl_parse(p->h, b, len);
	if (st != yajl_status_ok) {
		used = yajl_get_bytes_consumed(p->h);
		/* yajl counts the offending byte as consumed. None consumed: it
		 * was the last byte of the previous chunk, so report where that
		 * one was, as a whole buffer would have. */
		if (!used && p->last_line) {
			p->line = p->last_line;
			p->col = p->last_col;
		}
		return json_status(p, st, b, used ? used - 1 : 0);
	}
	json_advance(p, b, len);
	return 0;
}

/* Moves the string scanner over b. Returns where in b the string that is
 * open at its end begins, or len when b ends outside a string or inside
 * one that began before b. A control character ends the tracking: yajl
 * refuses it in a string, and should say so now. */
static size_t json_scan(struct doc_json *p, const unsigned char *b, size_t len)
{
	size_t open = len;

	for (size_t i = 0; i < len; i++) {
		if (!p->in_str) {
			if (b[i] == '"') {
				p->in_str = true;
				open = i;
			}
		} else if (b[i] < 0x20) {
			p->in_str = p->esc = false;
			open = len;
		} else if (p->esc) {
			p->esc = false;
		} else if (b[i] == '\\') {
			p->esc = true;
		} else if (b[i] == '"') {
			p->in_str = false;
			open = len;
		}
	}
	return p->in_str ? open : len;
}

static int json_hold(struct doc_json *p, const unsigned char *b, size_t len)
{
	unsigned char *nb;
	size_t cap;

	if (!len)
		return 0;
	if (p->hold_len + len > p->hold_cap) {
		cap = p->hold_cap ? p->hold_cap : 4096;
		while (cap < p->hold_len + len)
			cap *= 2;
		nb = realloc(p->hold, cap);
		if (!nb)
			return -ENOMEM;
		p->hold = nb;
		p->hold_cap = cap;
	}
	memcpy(p->hold + p->hold_len, b, len);
	p->hold_len += len;
	return 0;
}

/* Feeds what was held back, and b up to end, in one piece. */
static int json_release(struct doc_json *p, const unsigned char *b, size_t end)
{
	int r;

	if (!p->hold_len)
		return json_parse(p, b, end);
	r = json_hold(p, b, end);
	if (r == 0)
		r = json_parse(p, p->hold, p->hold_len);
	p->hold_len = 0;
	/* A watch lives for minutes: a huge string's buffer goes now. */
	if (p->hold_cap > 65536) {
		free(p->hold);
		p->hold = NULL;
		p->hold_cap = 0;
	}
	return r;
}

/* yajl lexes a token that a chunk cuts again from its first byte at every
 * later chunk, so a 10 MB string in 16 KB chunks was lexed 640 times over
 * (seconds of CPU). A string still open at the end of a chunk is held back
 * here instead, and yajl gets it whole with the chunk that closes it. No
 * value can be complete before its strings are, so nothing comes later. */
int doc_json_feed(struct doc_json *p, const void *buf, size_t len)
{
	const unsigned char *b = buf;
	bool was_in = p->in_str;
	size_t open;
	int r;

	if (p->spent)
		return -EINVAL;
	if (!len)
		return 0;
	if (!p->any)
		for (size_t i = 0; i < len && !p->any; i++)
			p->any = !strchr(" \t\r\n", b[i]);
	open = json_scan(p, b, len);
	if (was_in && p->in_str && open == len)
		r = json_hold(p, b, len);  /* the held string goes on */
	else if ((r = json_release(p, b, open)) == 0 && open < len)
		r = json_hold(p, b + open, len - open);
	if (r == -ENOMEM)
		p->spent = true;
	return r;
}

int doc_json_finish(struct doc_json *p)
{
	int r = 0;

	if (p->spent)
		return -EINVAL;
	r = json_release(p, NULL, 0);
	if (r < 0)
		return r;
	/* yajl calls an empty input a premature end; a watch stream that
	 * closes between objects, or an empty file, is fine. */
	if (p->any)
		r = json_status(p, yajl_complete_parse(p->h), NULL, 0);
	p->spent = true;
	return r;
}

const char *doc_json_error(const struct doc_json *p)
{
	return p->msg;
}

size_t doc_json_count(const struct doc_json *p)
{
	return p->count;
}

int doc_json_parse(const char *buf, size_t len, doc_cb cb, void *data, char *err,
		   size_t err_size)
{
	struct doc_json *j;
	int r;

	r = doc_json_new(cb, data, &j);
	if (r < 0)
		return r;
	r = doc_json_feed(j, buf, len);
	if (r >= 0)
		r = doc_json_finish(j);
	if ((r == -EBADMSG || r == -E2BIG) && err_size)
		snprintf(err, err_size, "%s", doc_json_error(j));
	doc_json_free(j);
	return r;
}
