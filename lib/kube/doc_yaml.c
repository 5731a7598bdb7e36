#include "lib/kube/doc_yaml.h"
#include "lib/kube/doc_build.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define YAML_TAG(t) "tag:yaml.org,2002:" t
#define DIGITS "0123456789"

static bool yaml_is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool yaml_is_float(const char *s)
{
	size_t int_digits, frac_digits = 0, n;

	if (*s == '-' || *s == '+')
		s++;
	int_digits = strspn(s, DIGITS);
	s += int_digits;
	if (*s == '.') {
		s++;
		frac_digits = strspn(s, DIGITS);
		s += frac_digits;
	}
	if (!int_digits && !frac_digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		n = strspn(s, DIGITS);
		if (!n)
			return false;
		s += n;
	}
	return *s == '\0';
}

/* Integer forms of the core schema: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+.
 * Returns true and *out when s is one and fits int64_t. */
static bool yaml_parse_int(const char *s, int64_t *out)
{
	const char *digits = s;
	int base = 10;
	char *end;
	long long v;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		digits = s + 2;
		if (!*digits || strspn(digits, base == 16 ? DIGITS "abcdefABCDEF" : "01234567") !=
					strlen(digits))
			return false;
	} else {
		if (*digits == '-' || *digits == '+')
			digits++;
		if (!*digits || strspn(digits, DIGITS) != strlen(digits))
			return false;
		digits = s;
	}
	errno = 0;
	v = strtoll(digits, &end, base);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* Types a plain scalar by the core schema. NULL when out of memory. */
static struct doc *yaml_resolve(const char *s, size_t len)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
					    NULL };
	static const char *const ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	struct doc *d;
	int64_t i;

	/* A NUL can only come from an escape, which plain scalars do not have. */
	if (strlen(s) != len)
		return doc_new_string(s, len);
	if (yaml_is_one_of(s, nulls))
		return doc_new(DOC_NULL);
	if (yaml_is_one_of(s, trues) || yaml_is_one_of(s, falses)) {
		d = doc_new(DOC_BOOL);
		if (d)
			d->b = yaml_is_one_of(s, trues);
		return d;
	}
	if (yaml_parse_int(s, &i)) {
		d = doc_new(DOC_INT);
		if (d)
			d->i = i;
		return d;
	}
	if (yaml_is_float(s) || yaml_is_one_of(s, infs) || yaml_is_one_of(s, ninfs) ||
	    yaml_is_one_of(s, nans)) {
		d = doc_new(DOC_FLOAT);
		if (!d)
			return NULL;
		if (yaml_is_one_of(s, infs))
			d->f = INFINITY;
		else if (yaml_is_one_of(s, ninfs))
			d->f = -INFINITY;
		else if (yaml_is_one_of(s, nans))
			d->f = NAN;
		else
			d->f = strtod(s, NULL);
		return d;
	}
	return doc_new_string(s, len);
}

struct yaml_state {
	struct doc_builder b;
	char *err;
	size_t err_size;
};

static int yaml_fail(struct yaml_state *st, const yaml_mark_t *mark, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Writes "line L column C: <message>" and returns r. */
static int yaml_fail(struct yaml_state *st, const yaml_mark_t *mark, int r, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(st->err, st->err_size, "line %zu column %zu: %s", mark->line + 1,
		 mark->column + 1, what);
	return r;
}

/* Builds the node of a scalar event, honouring quoting and tags.
 * Returns 0 and *out, -EBADMSG (message written) or -ENOMEM. */
static int yaml_scalar(struct yaml_state *st, const yaml_event_t *ev, struct doc **out)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	enum doc_type want;
	struct doc *d;

	if (!tag) {
		/* Without a tag only plain scalars are typed by their text. */
		d = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? yaml_resolve(s, len)
								      : doc_new_string(s, len);
		goto out;
	}
	if (strcmp(tag, "!") == 0 || strcmp(tag, YAML_TAG("str")) == 0) {
		d = doc_new_string(s, len);
		goto out;
	}
	if (strcmp(tag, YAML_TAG("int")) == 0)
		want = DOC_INT;
	else if (strcmp(tag, YAML_TAG("float")) == 0)
		want = DOC_FLOAT;
	else if (strcmp(tag, YAML_TAG("bool")) == 0)
		want = DOC_BOOL;
	else if (strcmp(tag, YAML_TAG("null")) == 0)
		want = DOC_NULL;
	else
		return yaml_fail(st, &ev->start_mark, -EBADMSG, "unsupported tag %s", tag);
	d = yaml_resolve(s, len);
	if (d && d->type == DOC_INT && want == DOC_FLOAT) {
		d->type = DOC_FLOAT;
		d->f = (double)d->i;
	}
	if (d && d->type != want) {
		doc_free(d);
		return yaml_fail(st, &ev->start_mark, -EBADMSG, "value does not match its tag %s",
				 tag);
	}
out:
	if (!d)
		return -ENOMEM;
	*out = d;
	return 0;
}

static int yaml_container_tag(struct yaml_state *st, const yaml_event_t *ev, const char *tag,
			      const char *expected)
{
	if (!tag || strcmp(tag, "!") == 0 || strcmp(tag, expected) == 0)
		return 0;
	return yaml_fail(st, &ev->start_mark, -EBADMSG, "unsupported tag %s", tag);
}

static int yaml_event(struct yaml_state *st, const yaml_event_t *ev)
{
	struct doc *d = NULL;
	int r;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return yaml_fail(st, &ev->start_mark, -EBADMSG,
				 "aliases (*%s) are not supported", (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		if (doc_builder_wants_key(&st->b)) {
			r = doc_builder_key(&st->b, (const char *)ev->data.scalar.value,
					    ev->data.scalar.length);
			if (r == -EINVAL)
				return yaml_fail(st, &ev->start_mark, -EBADMSG,
						 "a key contains a NUL character");
			return r;
		}
		r = yaml_scalar(st, ev, &d);
		if (r < 0)
			return r;
		break;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (doc_builder_wants_key(&st->b))
			return yaml_fail(st, &ev->start_mark, -EBADMSG,
					 "a map or a list as a key is not supported");
		if (ev->type == YAML_MAPPING_START_EVENT)
			r = yaml_container_tag(st, ev, (const char *)ev->data.mapping_start.tag,
					       YAML_TAG("map"));
		else
			r = yaml_container_tag(st, ev, (const char *)ev->data.sequence_start.tag,
					       YAML_TAG("seq"));
		if (r < 0)
			return r;
		d = doc_new(ev->type == YAML_MAPPING_START_EVENT ? DOC_MAP : DOC_SEQ);
		if (!d)
			return -ENOMEM;
		break;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		return doc_builder_close(&st->b);
	default:
		/* Stream and document boundaries: each document is one root
		 * node, emitted by the builder as it completes. */
		return 0;
	}
	r = doc_builder_add(&st->b, d);
	if (r == -E2BIG)
		return yaml_fail(st, &ev->start_mark, r, "nested deeper than %d levels",
				 DOC_MAX_DEPTH);
	return r;
}

static int yaml_syntax_error(struct yaml_state *st, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "syntax error";

	if (parser->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (parser->context)
		return yaml_fail(st, &parser->problem_mark, -EBADMSG, "%s (%s)", problem,
				 parser->context);
	return yaml_fail(st, &parser->problem_mark, -EBADMSG, "%s", problem);
}

int doc_yaml_parse(const void *buf, size_t len, doc_cb cb, void *data, char *err,
		   size_t err_size)
{
	struct yaml_state st = { .err = err, .err_size = err_size };
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int r = 0;

	if (err_size)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	doc_builder_init(&st.b, cb, data);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = yaml_syntax_error(&st, &parser);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = yaml_event(&st, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			break;
	}
	doc_builder_reset(&st.b);
	yaml_parser_delete(&parser);
	return r;
}
