/* lib/util/metrics: exact text of each type, escaping, bucket placement,
 * Go's number spelling, and every rendering checked by a validator of the
 * text exposition format 0.0.4 (promtool is not installed here). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util/metrics.h"
#include "tests/unit/check.h"

/* --- a validator for the text format ------------------------------------
 *
 * What Prometheus' text parser accepts, plus what it takes on trust from a
 * well-behaved exporter: one TYPE and one HELP per name, before its
 * samples; a family's lines together; no series twice; histogram buckets
 * by increasing le with cumulative counts, an le="+Inf" bucket equal to
 * _count, and _sum and _count for each label set. */

enum vtype { V_UNTYPED, V_COUNTER, V_GAUGE, V_HISTOGRAM, V_SUMMARY };

struct vhist {
	char key[512];            /* the labels other than le */
	double last_le, last_count, inf_count, count;
	bool any_bucket, has_inf, has_sum, has_count;
};

struct vstate {
	char fam[256];            /* the family being read, "" before any */
	enum vtype type;
	bool fam_help, fam_type, fam_samples;
	char *done[512];          /* families already finished */
	size_t n_done;
	char *series[1024];       /* every series seen: name{sorted labels} */
	size_t n_series;
	struct vhist hist[64];
	size_t n_hist;
	char err[256];
};

static bool v_fail(struct vstate *st, int line, const char *msg)
{
	snprintf(st->err, sizeof(st->err), "line %d: %s", line, msg);
	return false;
}

static bool v_name_char(char c, bool first, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

/* A metric name (colon) or label name at *p; copies it into out. */
static bool v_name(const char **p, char *out, size_t size, bool colon)
{
	size_t n = 0;

	if (!v_name_char(**p, true, colon))
		return false;
	while (v_name_char((*p)[0], n == 0, colon)) {
		if (n + 1 >= size)
			return false;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return true;
}

/* Go's strconv.ParseFloat for what exporters write, and the specials. */
static bool v_float(const char *s, double *out)
{
	char *end;

	if (!strcmp(s, "+Inf") || !strcmp(s, "Inf")) {
		*out = INFINITY;
		return true;
	}
	if (!strcmp(s, "-Inf")) {
		*out = -INFINITY;
		return true;
	}
	if (!strcmp(s, "NaN")) {
		*out = NAN;
		return true;
	}
	if (!*s || strpbrk(s, "xXnN(iI"))
		return false;
	*out = strtod(s, &end);
	return *end == '\0';
}

static bool v_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		size_t n = *u < 0x80 ? 0 : (*u >> 5) == 6 ? 1 : (*u >> 4) == 14 ? 2
			: (*u >> 3) == 30 ? 3 : 9;

		if (n == 9 || (n == 1 && *u < 0xc2))
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((u[i] & 0xc0) != 0x80)
				return false;
		}
		u += n + 1;
	}
	return true;
}

static int v_pair_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool v_family_end(struct vstate *st, int line)
{
	for (size_t i = 0; i < st->n_hist; i++) {
		struct vhist *h = &st->hist[i];

		if (!h->has_inf)
			return v_fail(st, line, "histogram without an le=\"+Inf\" bucket");
		if (!h->has_sum || !h->has_count)
			return v_fail(st, line, "histogram without _sum or _count");
		if (h->count != h->inf_count)
			return v_fail(st, line, "histogram _count differs from its +Inf bucket");
	}
	st->n_hist = 0;
	if (st->fam[0]) {
		CHECK(st->n_done < sizeof(st->done) / sizeof(st->done[0]));
		st->done[st->n_done++] = strdup(st->fam);
	}
	st->fam[0] = '\0';
	st->type = V_UNTYPED;
	st->fam_help = st->fam_type = st->fam_samples = false;
	return true;
}

/* Makes name the current family, ending the previous one. */
static bool v_enter(struct vstate *st, int line, const char *name)
{
	if (!strcmp(st->fam, name))
		return true;
	if (!v_family_end(st, line))
		return false;
	for (size_t i = 0; i < st->n_done; i++) {
		if (!strcmp(st->done[i], name))
			return v_fail(st, line, "a family's lines are not together");
	}
	snprintf(st->fam, sizeof(st->fam), "%s", name);
	return true;
}

static bool v_comment(struct vstate *st, int line, const char *p)
{
	char name[256], kw[8];
	size_t n = 0;

	p++; /* '#' */
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p && *p != ' ' && *p != '\t' && n + 1 < sizeof(kw))
		kw[n++] = *p++;
	kw[n] = '\0';
	if (strcmp(kw, "HELP") && strcmp(kw, "TYPE"))
		return true; /* any other comment */
	if (*p != ' ' && *p != '\t')
		return v_fail(st, line, "HELP/TYPE without a name");
	while (*p == ' ' || *p == '\t')
		p++;
	if (!v_name(&p, name, sizeof(name), true))
		return v_fail(st, line, "HELP/TYPE with a bad metric name");
	if (!v_enter(st, line, name))
		return false;
	if (!strcmp(kw, "HELP")) {
		if (st->fam_help)
			return v_fail(st, line, "second HELP");
		st->fam_help = true;
		if (*p && *p != ' ' && *p != '\t')
			return v_fail(st, line, "HELP name runs into the text");
		for (; *p; p++) {
			if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
				return v_fail(st, line, "bad escape in HELP");
			if (*p == '\\')
				p++;
		}
		return true;
	}
	if (st->fam_type)
		return v_fail(st, line, "second TYPE");
	if (st->fam_samples)
		return v_fail(st, line, "TYPE after samples");
	st->fam_type = true;
	if (*p != ' ' && *p != '\t')
		return v_fail(st, line, "TYPE without a type");
	while (*p == ' ' || *p == '\t')
		p++;
	if (!strncmp(p, "counter", 7) && (p += 7))
		st->type = V_COUNTER;
	else if (!strncmp(p, "gauge", 5) && (p += 5))
		st->type = V_GAUGE;
	else if (!strncmp(p, "histogram", 9) && (p += 9))
		st->type = V_HISTOGRAM;
	else if (!strncmp(p, "summary", 7) && (p += 7))
		st->type = V_SUMMARY;
	else if (!strncmp(p, "untyped", 7) && (p += 7))
		st->type = V_UNTYPED;
	else
		return v_fail(st, line, "unknown TYPE");
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return v_fail(st, line, "text after the TYPE");
	return true;
}

static bool has_suffix(const char *s, const char *base, const char *suffix)
{
	size_t n = strlen(base);

	return !strncmp(s, base, n) && !strcmp(s + n, suffix);
}

#define FAIL(msg) do { v_fail(st, line, (msg)); goto out; } while (0)

static bool v_sample(struct vstate *st, int line, const char *p)
{
	char name[256], lname[256], value[512], num[64], *pairs[16], key[1024];
	char *le = NULL;
	size_t n_pairs = 0, n, klen = 0;
	const char *suffix = "";
	double v, lev = 0;
	bool ok = false;

	if (!v_name(&p, name, sizeof(name), true))
		FAIL("bad metric name");
	if (*p == '{') {
		p++;
		while (*p != '}') {
			if (!v_name(&p, lname, sizeof(lname), false))
				FAIL("bad label name");
			if (!strncmp(lname, "__", 2))
				FAIL("reserved label name");
			if (*p++ != '=' || *p++ != '"')
				FAIL("label without =\"");
			for (n = 0; *p != '"'; p++) {
				if (!*p)
					FAIL("unterminated label value");
				if (*p == '\\') {
					p++;
					if (*p != '\\' && *p != '"' && *p != 'n')
						FAIL("bad escape in label value");
					value[n++] = *p == 'n' ? '\n' : *p;
				} else {
					value[n++] = *p;
				}
				if (n + 1 >= sizeof(value))
					FAIL("label value too long for the validator");
			}
			value[n] = '\0';
			p++;
			if (!v_utf8(value))
				FAIL("label value is not UTF-8");
			for (size_t i = 0; i < n_pairs; i++) {
				if (!strncmp(pairs[i], lname, strlen(lname)) &&
				    pairs[i][strlen(lname)] == '=')
					FAIL("label twice");
			}
			CHECK(n_pairs < 16);
			pairs[n_pairs] = malloc(strlen(lname) + strlen(value) + 2);
			CHECK(pairs[n_pairs]);
			sprintf(pairs[n_pairs], "%s=%s", lname, value);
			if (!strcmp(lname, "le"))
				le = pairs[n_pairs] + 3;
			n_pairs++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				FAIL("labels not separated by ,");
		}
		p++;
	}
	if (*p != ' ' && *p != '\t')
		goto bad_value;
	while (*p == ' ' || *p == '\t')
		p++;
	for (n = 0; *p && *p != ' ' && *p != '\t'; p++) {
		if (n + 1 >= sizeof(num))
			goto bad_value;
		num[n++] = *p;
	}
	num[n] = '\0';
	if (!v_float(num, &v))
		goto bad_value;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p) { /* a timestamp: an integer of milliseconds */
		char *end;

		strtoll(p, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (end == p || *end) FAIL("bad timestamp");
	}

	/* Which family: a histogram's _bucket, _sum and _count belong to it. */
	if (st->type == V_HISTOGRAM &&
	    (has_suffix(name, st->fam, "_bucket") || has_suffix(name, st->fam, "_sum") ||
	     has_suffix(name, st->fam, "_count"))) {
		suffix = name + strlen(st->fam);
	} else if (strcmp(name, st->fam)) {
		if (!v_enter(st, line, name))
			goto out;
	}
	if (st->type == V_HISTOGRAM && !*suffix) FAIL("histogram sample without _bucket, _sum or _count");
	st->fam_samples = true;

	/* The series' identity, labels sorted; le kept for duplicates. */
	qsort(pairs, n_pairs, sizeof(pairs[0]), v_pair_cmp);
	klen = (size_t)snprintf(key, sizeof(key), "%s{", name);
	for (size_t i = 0; i < n_pairs && klen < sizeof(key); i++)
		klen += (size_t)snprintf(key + klen, sizeof(key) - klen, "%s,", pairs[i]);
	for (size_t i = 0; i < st->n_series; i++) {
		if (!strcmp(st->series[i], key)) FAIL("series twice");
	}
	CHECK(st->n_series < sizeof(st->series) / sizeof(st->series[0]));
	st->series[st->n_series++] = strdup(key);

	if (st->type == V_COUNTER && !(v >= 0) && !isnan(v)) FAIL("negative counter");
	if (st->type == V_HISTOGRAM) {
		char hkey[512];
		size_t hl = 0;
		struct vhist *h = NULL;

		hkey[0] = '\0';
		for (size_t i = 0; i < n_pairs; i++) {
			if (strncmp(pairs[i], "le=", 3))
				hl += (size_t)snprintf(hkey + hl, sizeof(hkey) - hl, "%s,", pairs[i]);
		}
		for (size_t i = 0; i < st->n_hist; i++) {
			if (!strcmp(st->hist[i].key, hkey))
				h = &st->hist[i];
		}
		if (!h) {
			CHECK(st->n_hist < sizeof(st->hist) / sizeof(st->hist[0]));
			h = &st->hist[st->n_hist++];
			memset(h, 0, sizeof(*h));
			snprintf(h->key, sizeof(h->key), "%s", hkey);
		}
		if (!strcmp(suffix, "_bucket")) {
			if (!le || !v_float(le, &lev) || isnan(lev)) FAIL("bucket without a numeric le");
			if (h->has_sum || h->has_count || h->has_inf) FAIL("bucket after +Inf, _sum or _count");
			if (h->any_bucket && !(lev > h->last_le)) FAIL("buckets not by increasing le");
			if (h->any_bucket && v < h->last_count) FAIL("bucket counts not cumulative");
			h->any_bucket = true;
			h->last_le = lev;
			h->last_count = v;
			if (isinf(lev)) {
				h->has_inf = true;
				h->inf_count = v;
			}
		} else if (le) FAIL("le outside a bucket"); else if (!strcmp(suffix, "_sum")) {
			h->has_sum = true;
		} else {
			h->has_count = true;
			h->count = v;
		}
	} else if (le && st->type != V_UNTYPED) FAIL("le label outside a histogram");
	ok = true;
	goto out;
bad_value:
	v_fail(st, line, "bad value");
out:
	for (size_t i = 0; i < n_pairs; i++)
		free(pairs[i]);
	return ok;
}

#undef FAIL

/* 0 if text is a valid exposition, else -1 with the reason in err. */
static int validate(const char *text, char *err, size_t errlen)
{
	struct vstate *st = calloc(1, sizeof(*st));
	const char *p = text;
	bool ok = true;
	int line = 0;

	CHECK(st);
	if (*text && text[strlen(text) - 1] != '\n')
		ok = v_fail(st, 0, "does not end with a newline");
	while (ok && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p);
		char *l = malloc(n + 1);

		CHECK(l);
		memcpy(l, p, n);
		l[n] = '\0';
		line++;
		if (n == 0 || strspn(l, " \t") == n)
			ok = true;
		else if (l[0] == '#')
			ok = v_comment(st, line, l);
		else
			ok = v_sample(st, line, l);
		free(l);
		p = nl + 1;
	}
	if (ok)
		ok = v_family_end(st, line);
	snprintf(err, errlen, "%s", st->err);
	for (size_t i = 0; i < st->n_done; i++)
		free(st->done[i]);
	for (size_t i = 0; i < st->n_series; i++)
		free(st->series[i]);
	free(st);
	return ok ? 0 : -1;
}

#define CHECK_VALID(text) \
	do { char err_[256]; \
		if (validate((text), err_, sizeof(err_)) != 0) { \
			fprintf(stderr, "%s:%d: not a valid exposition: %s\n%s", \
				__FILE__, __LINE__, err_, (text)); \
			exit(1); } } while (0)

#define CHECK_INVALID(text, reason) \
	do { char err_[256]; \
		CHECK_INT(validate((text), err_, sizeof(err_)), -1); \
		if (!strstr(err_, (reason))) { \
			fprintf(stderr, "%s:%d: rejected for \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, err_, (reason)); \
			exit(1); } } while (0)

/* Renders m, checks the text is valid, returns it (free it). */
static char *render(const struct metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	CHECK_INT(metrics_render(m, &text, &len), 0);
	CHECK(text != NULL);
	CHECK_INT(len, strlen(text));
	CHECK_VALID(text);
	return text;
}

static struct metrics_series *one(struct metrics *m, const struct metrics_opts *o)
{
	struct metrics_family *f;
	struct metrics_series *s;

	CHECK_INT(metrics_register(m, o, &f), 0);
	CHECK_INT(metrics_series(f, NULL, NULL, &s), 0);
	return s;
}

/* --- tests --------------------------------------------------------------- */

static void test_validator(void)
{
	/* It must refuse what it is there to catch, or passing proves nothing. */
	CHECK_VALID("");
	CHECK_VALID("# a comment\n\nx 1\ny{a=\"b\",} 2 1700000000000\n");
	CHECK_INVALID("x 1", "newline");
	CHECK_INVALID("x{a=\"\\t\"} 1\n", "bad escape in label value");
	CHECK_INVALID("# HELP x a \\t b\n", "bad escape in HELP");
	CHECK_INVALID("x{a=\"b\"} one\n", "bad value");
	CHECK_INVALID("x{a=\"b\" 1\n", "labels not separated");
	CHECK_INVALID("x{a=\"b\",a=\"c\"} 1\n", "label twice");
	CHECK_INVALID("x{__a=\"b\"} 1\n", "reserved");
	CHECK_INVALID("9x 1\n", "bad metric name");
	CHECK_INVALID("x 1\nx 2\n", "series twice");
	CHECK_INVALID("x 1\ny 1\nx{a=\"b\"} 1\n", "not together");
	CHECK_INVALID("# TYPE x counter\n# TYPE x counter\n", "second TYPE");
	CHECK_INVALID("# HELP x a\n# HELP x b\n", "second HELP");
	CHECK_INVALID("x 1\n# TYPE x gauge\n", "TYPE after samples");
	CHECK_INVALID("# TYPE x counter\nx -1\n", "negative counter");
	CHECK_INVALID("# TYPE x widget\n", "unknown TYPE");
	CHECK_INVALID("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
		      "h_sum 1\nh_count 1\n", "cumulative");
	CHECK_INVALID("# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
		      "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "increasing le");
	CHECK_INVALID("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
		      "+Inf");
	CHECK_INVALID("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
		      "differs");
	CHECK_INVALID("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "_sum");
	CHECK_INVALID("# TYPE h histogram\nh 1\n", "without _bucket");
	CHECK_INVALID("# TYPE h histogram\nh_bucket 1\n", "numeric le");
	CHECK_INVALID("x{a=\"\xff\"} 1\n", "UTF-8");
}

static void test_format_double(void)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {
		{ 0, "0" },
		{ -0.0, "0" },
		{ 1, "1" },
		{ -1, "-1" },
		{ 2, "2" },
		{ 100, "100" },
		{ 300, "300" },
		{ 0.5, "0.5" },
		{ 0.25, "0.25" },
		{ -2.5, "-2.5" },
		{ 0.03, "0.03" },
		{ 0.001, "0.001" },
		{ 0.0001, "0.0001" },
		{ 0.00012345, "0.00012345" },
		{ 0.00001, "1e-05" },
		{ 1e-06, "1e-06" },
		{ 1.5e-07, "1.5e-07" },
		{ 123456, "123456" },
		{ 999999, "999999" },
		{ 1e6, "1e+06" },
		{ 1234567, "1.234567e+06" },
		{ 1048576, "1.048576e+06" },    /* process_max_fds as Go writes it */
		{ 9097216, "9.097216e+06" },
		{ 1.14688e+08, "1.14688e+08" },
		{ 1600992751.12, "1.60099275112e+09" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 2.5900000000000003, "2.5900000000000003" },
		{ 1e21, "1e+21" },
		{ 1e100, "1e+100" },
		{ -1e-100, "-1e-100" },
		{ 5e-324, "5e-324" },
		{ DBL_MAX, "1.7976931348623157e+308" },
		{ 18446744073709551615.0, "1.8446744073709552e+19" },
		{ 16.384, "16.384" },
		{ INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" },
		{ NAN, "NaN" },
	};
	char buf[METRICS_DOUBLE_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = metrics_format_double(cases[i].v, buf);

		CHECK_STR(buf, cases[i].s);
		CHECK_INT(n, strlen(cases[i].s));
	}
	/* Any double reads back as itself, with no digit to spare. */
	srand(6);
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = 0;
		double v;
		char shorter[40];
		size_t n;

		for (int j = 0; j < 4; j++)
			bits = bits << 16 | (uint64_t)(rand() & 0xffff);
		memcpy(&v, &bits, sizeof(v));
		if (isnan(v) || isinf(v))
			continue;
		n = metrics_format_double(v, buf);
		CHECK(n < METRICS_DOUBLE_LEN);
		if (strtod(buf, NULL) != v) {
			fprintf(stderr, "%a formatted as %s does not read back\n", v, buf);
			exit(1);
		}
		/* One significant digit fewer must not read back. */
		{
			char sig[40];
			int digits = 0, lead = 0;

			for (const char *q = buf; *q && *q != 'e'; q++) {
				if (*q >= '0' && *q <= '9')
					sig[digits++] = *q;
			}
			while (lead < digits && sig[lead] == '0')
				lead++;
			while (digits > lead && sig[digits - 1] == '0')
				digits--;
			digits -= lead;
			if (digits > 1) {
				snprintf(shorter, sizeof(shorter), "%.*e", digits - 2, v);
				CHECK(strtod(shorter, NULL) != v);
			}
		}
	}
}

static void test_counter_gauge(void)
{
	struct metrics *m;
	struct metrics_series *c, *g;
	char *text;

	CHECK_INT(metrics_new(&m), 0);
	text = render(m);
	CHECK_STR(text, "");
	free(text);

	/* Registered out of order: rendered by name. */
	g = one(m, &(struct metrics_opts){ .type = METRICS_GAUGE,
		.name = "kubeproxy_sync_proxy_rules_service_changes_pending",
		.help = "[ALPHA] Pending proxy rules Service changes" });
	c = one(m, &(struct metrics_opts){ .type = METRICS_COUNTER,
		.name = "kubeproxy_sync_proxy_rules_endpoint_changes_total",
		.help = "[ALPHA] Cumulative proxy rules Endpoint changes" });
	text = render(m);
	CHECK_STR(text,
		  "# HELP kubeproxy_sync_proxy_rules_endpoint_changes_total [ALPHA] Cumulative proxy rules Endpoint changes\n"
		  "# TYPE kubeproxy_sync_proxy_rules_endpoint_changes_total counter\n"
		  "kubeproxy_sync_proxy_rules_endpoint_changes_total 0\n"
		  "# HELP kubeproxy_sync_proxy_rules_service_changes_pending [ALPHA] Pending proxy rules Service changes\n"
		  "# TYPE kubeproxy_sync_proxy_rules_service_changes_pending gauge\n"
		  "kubeproxy_sync_proxy_rules_service_changes_pending 0\n");
	free(text);

	metrics_inc(c);
	metrics_inc(c);
	metrics_add(c, 1e6);
	metrics_add(c, -5);  /* a counter never goes down */
	metrics_add(c, NAN); /* nor becomes NaN */
	metrics_observe(c, 3); /* not a histogram: ignored */
	CHECK(metrics_value(c) == 1000002);
	CHECK_INT(metrics_count(c), 0);
	metrics_set(g, 7);
	metrics_add(g, -2.5);
	metrics_inc(g);
	CHECK(metrics_value(g) == 5.5);
	text = render(m);
	CHECK(strstr(text, "\nkubeproxy_sync_proxy_rules_endpoint_changes_total 1.000002e+06\n"));
	CHECK(strstr(text, "\nkubeproxy_sync_proxy_rules_service_changes_pending 5.5\n"));
	free(text);

	metrics_set(g, 1712345678.123456);
	metrics_set(c, 42); /* mirroring a count kept elsewhere */
	text = render(m);
	CHECK(strstr(text, "\nkubeproxy_sync_proxy_rules_service_changes_pending 1.712345678123456e+09\n"));
	CHECK(strstr(text, "\nkubeproxy_sync_proxy_rules_endpoint_changes_total 42\n"));
	free(text);
	metrics_free(m);
	metrics_free(NULL);
}

static void test_labels_and_escaping(void)
{
	struct metrics *m;
	struct metrics_family *f, *e;
	struct metrics_series *a, *b, *c, *again;
	char *text;

	CHECK_INT(metrics_new(&m), 0);
	/* Labels given as (traffic_policy, ip_family): written in name order,
	 * as client_golang sorts label pairs. */
	CHECK_INT(metrics_register(m, &(struct metrics_opts){ .type = METRICS_GAUGE,
		.name = "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
		.help = "[ALPHA] Number of services with a Local traffic policy and no endpoints",
		.labels = { "traffic_policy", "ip_family" } }, &f), 0);
	/* A labelled family with no series is not written at all. */
	text = render(m);
	CHECK_STR(text, "");
	free(text);

	CHECK_INT(metrics_series(f, "internal", "IPv6", &a), 0);
	CHECK_INT(metrics_series(f, "external", "IPv4", &b), 0);
	CHECK_INT(metrics_series(f, "internal", "IPv4", &c), 0);
	CHECK_INT(metrics_series(f, "internal", "IPv6", &again), 0);
	CHECK(again == a);
	metrics_set(a, 2);
	metrics_set(b, 1);
	text = render(m);
	CHECK_STR(text,
		  "# HELP kubeproxy_sync_proxy_rules_no_local_endpoints_total [ALPHA] Number of services with a Local traffic policy and no endpoints\n"
		  "# TYPE kubeproxy_sync_proxy_rules_no_local_endpoints_total gauge\n"
		  "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"external\"} 1\n"
		  "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"internal\"} 0\n"
		  "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv6\",traffic_policy=\"internal\"} 2\n");
	free(text);

	/* Escaping: label values get \\ \" \n; help gets \\ \n and keeps ". */
	CHECK_INT(metrics_register(m, &(struct metrics_opts){ .type = METRICS_COUNTER,
		.name = "nftproxy_escape_total",
		.help = "a \"quoted\" C:\\path\nsecond line",
		.labels = { "path" } }, &e), 0);
	CHECK_INT(metrics_series(e, "C:\\DIR\\FILE.TXT", NULL, &a), 0);
	CHECK_INT(metrics_series(e, "Cannot find file:\n\"FILE.TXT\"", NULL, &b), 0);
	CHECK_INT(metrics_series(e, "", NULL, &c), 0);
	CHECK_INT(metrics_series(e, "caf\xc3\xa9 \xe2\x82\xac", NULL, &again), 0);
	metrics_inc(a);
	metrics_add(b, 0.5);
	text = render(m);
	CHECK_STR(strstr(text, "# HELP nftproxy_escape_total"),
		  "# HELP nftproxy_escape_total a \"quoted\" C:\\\\path\\nsecond line\n"
		  "# TYPE nftproxy_escape_total counter\n"
		  "nftproxy_escape_total{path=\"\"} 0\n"
		  "nftproxy_escape_total{path=\"C:\\\\DIR\\\\FILE.TXT\"} 1\n"
		  "nftproxy_escape_total{path=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 0.5\n"
		  "nftproxy_escape_total{path=\"caf\xc3\xa9 \xe2\x82\xac\"} 0\n");
	free(text);

	/* Wrong number of values, bad UTF-8, too many series. */
	CHECK_INT(metrics_series(f, "internal", NULL, &a), -EINVAL);
	CHECK_INT(metrics_series(f, NULL, NULL, &a), -EINVAL);
	CHECK_INT(metrics_series(e, "x", "y", &a), -EINVAL);
	CHECK_INT(metrics_series(e, NULL, NULL, &a), -EINVAL);
	CHECK_INT(metrics_series(e, "\xff", NULL, &a), -EILSEQ);
	CHECK_INT(metrics_series(e, "\xc0\x80", NULL, &a), -EILSEQ);       /* overlong NUL */
	CHECK_INT(metrics_series(e, "\xed\xa0\x80", NULL, &a), -EILSEQ);   /* surrogate */
	CHECK_INT(metrics_series(e, "\xf4\x90\x80\x80", NULL, &a), -EILSEQ); /* > U+10FFFF */
	CHECK_INT(metrics_series(e, "\xe2\x82", NULL, &a), -EILSEQ);       /* cut short */
	for (int i = 0; i < METRICS_MAX_SERIES - 4; i++) {
		char v[16];

		snprintf(v, sizeof(v), "v%03d", i);
		CHECK_INT(metrics_series(e, v, NULL, &a), 0);
	}
	CHECK_INT(metrics_series(e, "one too many", NULL, &a), -E2BIG);
	CHECK_INT(metrics_series(e, "v000", NULL, &a), 0); /* existing ones still found */
	text = render(m);
	free(text);
	metrics_free(m);
}

static void test_histogram_exact(void)
{
	static const double bounds[] = { 0.5, 1, 2.5 };
	struct metrics *m;
	struct metrics_series *h;
	char *text, num[METRICS_DOUBLE_LEN], expect[1024];
	double sum;

	CHECK_INT(metrics_new(&m), 0);
	h = one(m, &(struct metrics_opts){ .type = METRICS_HISTOGRAM,
		.name = "nftproxy_test_seconds", .help = "A test histogram",
		.buckets = bounds, .n_buckets = 3 });
	text = render(m);
	CHECK_STR(text,
		  "# HELP nftproxy_test_seconds A test histogram\n"
		  "# TYPE nftproxy_test_seconds histogram\n"
		  "nftproxy_test_seconds_bucket{le=\"0.5\"} 0\n"
		  "nftproxy_test_seconds_bucket{le=\"1\"} 0\n"
		  "nftproxy_test_seconds_bucket{le=\"2.5\"} 0\n"
		  "nftproxy_test_seconds_bucket{le=\"+Inf\"} 0\n"
		  "nftproxy_test_seconds_sum 0\n"
		  "nftproxy_test_seconds_count 0\n");
	free(text);

	/* A value equal to a bound is in that bucket (le: less or equal). */
	metrics_observe(h, 0.5);
	metrics_observe(h, nextafter(0.5, 1)); /* just above: next bucket */
	metrics_observe(h, 1);
	metrics_observe(h, 2.5);
	metrics_observe(h, 2.75);
	metrics_observe(h, -1);                /* below every bound: the first */
	metrics_set(h, 100);                   /* not a gauge: ignored */
	metrics_add(h, 100);
	CHECK_INT(metrics_count(h), 6);
	/* The sum is the plain double sum, as client_golang keeps it. */
	sum = 0.5 + nextafter(0.5, 1) + 1 + 2.5 + 2.75 - 1;
	CHECK(metrics_value(h) == sum);
	metrics_format_double(sum, num);
	snprintf(expect, sizeof(expect),
		  "# HELP nftproxy_test_seconds A test histogram\n"
		  "# TYPE nftproxy_test_seconds histogram\n"
		  "nftproxy_test_seconds_bucket{le=\"0.5\"} 2\n"
		  "nftproxy_test_seconds_bucket{le=\"1\"} 4\n"
		  "nftproxy_test_seconds_bucket{le=\"2.5\"} 5\n"
		  "nftproxy_test_seconds_bucket{le=\"+Inf\"} 6\n"
		  "nftproxy_test_seconds_sum %s\n"
		  "nftproxy_test_seconds_count 6\n", num);
	text = render(m);
	CHECK_STR(text, expect);
	free(text);

	/* NaN goes to +Inf (where sort.SearchFloat64s puts it) and makes the
	 * sum NaN; +Inf goes to +Inf. */
	metrics_observe(h, INFINITY);
	metrics_observe(h, NAN);
	text = render(m);
	CHECK(strstr(text, "{le=\"2.5\"} 5\nnftproxy_test_seconds_bucket{le=\"+Inf\"} 8\n"
			   "nftproxy_test_seconds_sum NaN\nnftproxy_test_seconds_count 8\n"));
	free(text);
	metrics_free(m);
}

static void test_histogram_labelled(void)
{
	static const double bounds[] = { 1, 2, INFINITY }; /* the +Inf is dropped */
	struct metrics *m;
	struct metrics_family *f;
	struct metrics_series *a, *b;
	char *text;

	CHECK_INT(metrics_new(&m), 0);
	CHECK_INT(metrics_register(m, &(struct metrics_opts){ .type = METRICS_HISTOGRAM,
		.name = "nftproxy_batch_bytes", .help = "h", .labels = { "kind" },
		.buckets = bounds, .n_buckets = 3 }, &f), 0);
	CHECK_INT(metrics_series(f, "partial", NULL, &a), 0);
	CHECK_INT(metrics_series(f, "full", NULL, &b), 0);
	metrics_observe(a, 2);
	metrics_observe(b, 0.5);
	metrics_observe(b, 3);
	text = render(m);
	CHECK_STR(text,
		  "# HELP nftproxy_batch_bytes h\n"
		  "# TYPE nftproxy_batch_bytes histogram\n"
		  "nftproxy_batch_bytes_bucket{kind=\"full\",le=\"1\"} 1\n"
		  "nftproxy_batch_bytes_bucket{kind=\"full\",le=\"2\"} 1\n"
		  "nftproxy_batch_bytes_bucket{kind=\"full\",le=\"+Inf\"} 2\n"
		  "nftproxy_batch_bytes_sum{kind=\"full\"} 3.5\n"
		  "nftproxy_batch_bytes_count{kind=\"full\"} 2\n"
		  "nftproxy_batch_bytes_bucket{kind=\"partial\",le=\"1\"} 0\n"
		  "nftproxy_batch_bytes_bucket{kind=\"partial\",le=\"2\"} 1\n"
		  "nftproxy_batch_bytes_bucket{kind=\"partial\",le=\"+Inf\"} 1\n"
		  "nftproxy_batch_bytes_sum{kind=\"partial\"} 2\n"
		  "nftproxy_batch_bytes_count{kind=\"partial\"} 1\n");
	free(text);
	metrics_free(m);
}

/* The le strings kube-proxy's layouts render to. */
static void test_kubeproxy_buckets(void)
{
	double sync[15], netprog[81];
	size_t n = 1;
	struct metrics *m;
	struct metrics_series *s, *np;
	char *text, *p;
	char expect[8192], num[METRICS_DOUBLE_LEN];
	size_t el = 0;

	CHECK_INT(metrics_buckets_exponential(0.001, 2, 15, sync), 0);
	netprog[0] = 0; /* kube-proxy's merge starts from a 0 bound */
	CHECK_INT(metrics_buckets_linear(0.25, 0.25, 2, netprog + n), 0);
	n += 2;
	CHECK_INT(metrics_buckets_linear(1, 1, 59, netprog + n), 0);
	n += 59;
	CHECK_INT(metrics_buckets_linear(60, 5, 12, netprog + n), 0);
	n += 12;
	CHECK_INT(metrics_buckets_linear(120, 30, 7, netprog + n), 0);
	n += 7;
	CHECK_INT(n, 81);
	CHECK(netprog[80] == 300);

	CHECK_INT(metrics_new(&m), 0);
	s = one(m, &(struct metrics_opts){ .type = METRICS_HISTOGRAM,
		.name = "kubeproxy_sync_proxy_rules_duration_seconds",
		.help = "[ALPHA] SyncProxyRules latency in seconds",
		.buckets = sync, .n_buckets = 15 });
	np = one(m, &(struct metrics_opts){ .type = METRICS_HISTOGRAM,
		.name = "kubeproxy_network_programming_duration_seconds",
		.help = "[ALPHA] In Cluster Network Programming Latency in seconds",
		.buckets = netprog, .n_buckets = 81 });
	/* Boundary placement on the real layout. */
	metrics_observe(s, 0.001);
	metrics_observe(s, 0.0015);
	metrics_observe(s, 0.002);
	metrics_observe(s, 16.384);
	metrics_observe(s, 20);
	metrics_observe(np, 0);   /* the 0 bound holds exact zeros */
	metrics_observe(np, 0.25);
	metrics_observe(np, 59.5);
	metrics_observe(np, 301);

	metrics_format_double(0.001 + 0.0015 + 0.002 + 16.384 + 20, num);
	text = render(m);
	el += (size_t)snprintf(expect + el, sizeof(expect) - el,
		"# HELP kubeproxy_sync_proxy_rules_duration_seconds [ALPHA] SyncProxyRules latency in seconds\n"
		"# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\n");
	{
		static const char *const le[] = { "0.001", "0.002", "0.004", "0.008", "0.016",
			"0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096",
			"8.192", "16.384" };
		static const int cum[] = { 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4 };

		for (size_t i = 0; i < 15; i++)
			el += (size_t)snprintf(expect + el, sizeof(expect) - el,
				"kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"%s\"} %d\n",
				le[i], cum[i]);
	}
	el += (size_t)snprintf(expect + el, sizeof(expect) - el,
		"kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"+Inf\"} 5\n"
		"kubeproxy_sync_proxy_rules_duration_seconds_sum %s\n"
		"kubeproxy_sync_proxy_rules_duration_seconds_count 5\n", num);
	p = strstr(text, "# HELP kubeproxy_sync_proxy_rules_duration_seconds");
	CHECK(p != NULL);
	CHECK_STR(p, expect);

	/* The network programming layout: 0, 0.25, 0.5, 1 ... 59, 60 ... 115,
	 * 120 ... 300, each written as the plain number. */
	el = 0;
	el += (size_t)snprintf(expect + el, sizeof(expect) - el,
		"# HELP kubeproxy_network_programming_duration_seconds [ALPHA] In Cluster Network Programming Latency in seconds\n"
		"# TYPE kubeproxy_network_programming_duration_seconds histogram\n"
		"kubeproxy_network_programming_duration_seconds_bucket{le=\"0\"} 1\n"
		"kubeproxy_network_programming_duration_seconds_bucket{le=\"0.25\"} 2\n"
		"kubeproxy_network_programming_duration_seconds_bucket{le=\"0.5\"} 2\n");
	for (int v = 1; v <= 300; v += v < 60 ? 1 : v < 120 ? 5 : 30)
		el += (size_t)snprintf(expect + el, sizeof(expect) - el,
			"kubeproxy_network_programming_duration_seconds_bucket{le=\"%d\"} %d\n",
			v, v < 60 ? 2 : 3);
	el += (size_t)snprintf(expect + el, sizeof(expect) - el,
		"kubeproxy_network_programming_duration_seconds_bucket{le=\"+Inf\"} 4\n"
		"kubeproxy_network_programming_duration_seconds_sum 360.75\n"
		"kubeproxy_network_programming_duration_seconds_count 4\n");
	CHECK(el < sizeof(expect));
	p = strstr(text, "# HELP kubeproxy_network_programming_duration_seconds");
	CHECK(p != NULL);
	CHECK(strncmp(p, expect, el) == 0 ||
	      (fprintf(stderr, "got:\n%.*s\nexpected:\n%s", (int)el, p, expect), 0));
	/* network_programming sorts before sync_proxy_rules. */
	CHECK(p < strstr(text, "# HELP kubeproxy_sync_proxy_rules_duration_seconds"));
	free(text);
	metrics_free(m);

	CHECK_INT(metrics_buckets_exponential(0, 2, 3, sync), -EINVAL);
	CHECK_INT(metrics_buckets_exponential(1, 1, 3, sync), -EINVAL);
	CHECK_INT(metrics_buckets_exponential(1, 2, 0, sync), -EINVAL);
	CHECK_INT(metrics_buckets_linear(1, 0, 3, sync), -EINVAL);
	CHECK_INT(metrics_buckets_linear(1, 1, 0, sync), -EINVAL);
}

static void test_register_errors(void)
{
	static const double ok[] = { 1, 2 }, flat[] = { 1, 1 }, down[] = { 2, 1 },
			    nan[] = { 1, NAN }, inf_only[] = { INFINITY };
	struct metrics *m;
	struct metrics_family *f;
	char *text;

	CHECK_INT(metrics_new(&m), 0);
#define REG(...) metrics_register(m, &(struct metrics_opts){ __VA_ARGS__ }, &f)
	CHECK_INT(REG(.type = METRICS_COUNTER, .name = "a_total"), 0);
	CHECK_INT(REG(.type = METRICS_GAUGE, .name = "a_total"), -EEXIST);
	CHECK_INT(REG(.type = METRICS_COUNTER, .name = NULL), -EINVAL);
	CHECK_INT(REG(.type = METRICS_COUNTER, .name = ""), -EINVAL);
	CHECK_INT(REG(.type = METRICS_COUNTER, .name = "9lives"), -EINVAL);
	CHECK_INT(REG(.type = METRICS_COUNTER, .name = "a-b"), -EINVAL);
	CHECK_INT(REG(.type = METRICS_COUNTER, .name = "ns:sub_name9"), 0);
	CHECK_INT(REG(.type = (enum metrics_type)7, .name = "b"), -EINVAL);
	CHECK_INT(REG(.type = METRICS_GAUGE, .name = "b", .labels = { "a:b" }), -EINVAL);
	CHECK_INT(REG(.type = METRICS_GAUGE, .name = "b", .labels = { "__x" }), -EINVAL);
	CHECK_INT(REG(.type = METRICS_GAUGE, .name = "b", .labels = { "1x" }), -EINVAL);
	CHECK_INT(REG(.type = METRICS_GAUGE, .name = "b", .labels = { "x", "x" }), -EINVAL);
	CHECK_INT(REG(.type = METRICS_GAUGE, .name = "b", .labels = { NULL, "x" }), -EINVAL);
	CHECK_INT(REG(.type = METRICS_GAUGE, .name = "b", .labels = { "le" }), 0);
	CHECK_INT(REG(.type = METRICS_HISTOGRAM, .name = "h", .labels = { "le" },
		      .buckets = ok, .n_buckets = 2), -EINVAL);
	CHECK_INT(REG(.type = METRICS_HISTOGRAM, .name = "h"), -EINVAL);
	CHECK_INT(REG(.type = METRICS_HISTOGRAM, .name = "h", .buckets = flat, .n_buckets = 2),
		  -EINVAL);
	CHECK_INT(REG(.type = METRICS_HISTOGRAM, .name = "h", .buckets = down, .n_buckets = 2),
		  -EINVAL);
	CHECK_INT(REG(.type = METRICS_HISTOGRAM, .name = "h", .buckets = nan, .n_buckets = 2),
		  -EINVAL);
	CHECK_INT(REG(.type = METRICS_HISTOGRAM, .name = "h", .buckets = inf_only,
		      .n_buckets = 1), -EINVAL);
	CHECK_INT(REG(.type = METRICS_HISTOGRAM, .name = "h", .buckets = ok, .n_buckets = 2), 0);
#undef REG
	text = render(m);
	/* No help is an empty one, as client_golang writes it. */
	CHECK(strstr(text, "# HELP a_total \n# TYPE a_total counter\na_total 0\n"));
	free(text);
	metrics_free(m);
}

static void test_process(void)
{
	struct metrics *m;
	struct metrics_series *g;
	char *text, *p;
	double v, now = (double)time(NULL);
	const char *head = "# HELP nftproxy_objects x\n# TYPE nftproxy_objects gauge\n"
			   "nftproxy_objects 3\n"
			   "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
			   "# TYPE process_cpu_seconds_total counter\n"
			   "process_cpu_seconds_total ";

	CHECK_INT(metrics_new(&m), 0);
	CHECK_INT(metrics_register_process(m), 0);
	CHECK_INT(metrics_register_process(m), -EEXIST);
	/* Our own families sort among them. */
	g = one(m, &(struct metrics_opts){ .type = METRICS_GAUGE, .name = "nftproxy_objects",
		.help = "x" });
	metrics_set(g, 3);
	text = render(m);
	CHECK(strncmp(text, head, strlen(head)) == 0 || (fprintf(stderr, "%s", text), 0));

	CHECK((p = strstr(text, "\nprocess_cpu_seconds_total ")));
	v = strtod(p + 27, NULL);
	CHECK(v >= 0 && v < 3600);
	CHECK(strstr(text, "# HELP process_open_fds Number of open file descriptors.\n"
			   "# TYPE process_open_fds gauge\n"));
	CHECK((p = strstr(text, "\nprocess_open_fds ")));
	v = strtod(p + 18, NULL);
	CHECK(v >= 3 && v < 1e6); /* stdin, stdout, stderr at least */
	CHECK(strstr(text, "# HELP process_max_fds Maximum number of open file descriptors.\n"));
	CHECK((p = strstr(text, "\nprocess_max_fds ")));
	CHECK(strtod(p + 17, NULL) >= 3);
	CHECK(strstr(text, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"));
	CHECK((p = strstr(text, "\nprocess_resident_memory_bytes ")));
	v = strtod(p + 31, NULL);
	CHECK(v > 4096 && v < 1e11);
	CHECK(strstr(text, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"));
	CHECK((p = strstr(text, "\nprocess_start_time_seconds ")));
	v = strtod(p + 28, NULL);
	/* Ticks are 10 ms, and btime is rounded to the second. */
	if (!(v > now - 600 && v < now + 2)) {
		fprintf(stderr, "start time %f, now %f\n", v, now);
		exit(1);
	}
	CHECK(strstr(text, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"));
	CHECK(strstr(text, "# HELP process_virtual_memory_max_bytes Maximum amount of virtual memory available in bytes.\n"));
	CHECK(strstr(text, "# TYPE process_virtual_memory_max_bytes gauge\n"));
	free(text);
	metrics_free(m);
}

int main(void)
{
	RUN(test_validator);
	RUN(test_format_double);
	RUN(test_counter_gauge);
	RUN(test_labels_and_escaping);
	RUN(test_histogram_exact);
	RUN(test_histogram_labelled);
	RUN(test_kubeproxy_buckets);
	RUN(test_register_errors);
	RUN(test_process);
	return 0;
}
