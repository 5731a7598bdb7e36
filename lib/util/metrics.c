#include "lib/util/metrics.h"
#include "lib/util/utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Where a family's value comes from: the series (set by the caller), or
 * /proc read at render time. */
enum metrics_source {
	SRC_SERIES,
	SRC_CPU,
	SRC_OPEN_FDS,
	SRC_MAX_FDS,
	SRC_RSS,
	SRC_VSIZE,
	SRC_VSIZE_MAX,
};

struct metrics_series {
	struct metrics_family *family;
	char *values[METRICS_MAX_LABELS]; /* in the family's sorted label order */
	double value;			  /* counter, gauge; histogram: the sum */
	uint64_t count;			  /* histogram: observations */
	uint64_t *buckets;		  /* histogram: n_buckets + 1 (+Inf), not cumulative */
};

struct metrics_family {
	enum metrics_type type;
	enum metrics_source source;
	char *name;
	char *help;
	size_t n_labels;
	char *labels[METRICS_MAX_LABELS]; /* sorted by name, as client_golang writes them */
	/* perm[i]: where the caller's i-th label (opts.labels[i]) sits in labels */
	size_t perm[METRICS_MAX_LABELS];
	double *buckets;
	size_t n_buckets;
	struct metrics_series **series; /* sorted by values */
	size_t n_series;
};

struct metrics {
	struct metrics_family **families; /* sorted by name */
	size_t n_families;
	bool process;
};

static void series_free(struct metrics_series *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

static void family_free(struct metrics_family *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_series; i++)
		series_free(f->series[i]);
	free(f->series);
	for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
		free(f->labels[i]);
	free(f->buckets);
	free(f->help);
	free(f->name);
	free(f);
}

int metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_families; i++)
		family_free(m->families[i]);
	free(m->families);
	free(m);
}

/* The legacy (non-UTF-8) name rules, which every Prometheus version and
 * every scraper accepts. */
static bool valid_metric_name(const char *s)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  c == ':' || (p != s && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static bool valid_label_name(const char *s)
{
	if (!s || !*s || strncmp(s, "__", 2) == 0)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (p != s && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static int series_new(struct metrics_family *f, struct metrics_series **out)
{
	struct metrics_series *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->family = f;
	if (f->type == METRICS_HISTOGRAM) {
		s->buckets = calloc(f->n_buckets + 1, sizeof(*s->buckets));
		if (!s->buckets) {
			free(s);
			return -ENOMEM;
		}
	}
	*out = s;
	return 0;
}

static int check_buckets(const struct metrics_opts *o, size_t *n)
{
	*n = o->n_buckets;
	if (!o->buckets || *n == 0)
		return -EINVAL;
	/* A last +Inf is the bucket every histogram has anyway. */
	if (isinf(o->buckets[*n - 1]) && o->buckets[*n - 1] > 0)
		(*n)--;
	if (*n == 0 || *n > METRICS_MAX_BUCKETS)
		return -EINVAL;
	for (size_t i = 0; i < *n; i++) {
		if (isnan(o->buckets[i]) || (i > 0 && !(o->buckets[i] > o->buckets[i - 1])))
			return -EINVAL;
	}
	return 0;
}

static int family_new(const struct metrics_opts *o, struct metrics_family **out)
{
	struct metrics_family *f;
	size_t n_labels = 0, n_buckets = 0;
	int r;

	if (!valid_metric_name(o->name))
		return -EINVAL;
	if (o->type != METRICS_COUNTER && o->type != METRICS_GAUGE && o->type != METRICS_HISTOGRAM)
		return -EINVAL;
	while (n_labels < METRICS_MAX_LABELS && o->labels[n_labels])
		n_labels++;
	for (size_t i = n_labels; i < METRICS_MAX_LABELS; i++) {
		if (o->labels[i])
			return -EINVAL; /* a gap: { NULL, "x" } */
	}
	for (size_t i = 0; i < n_labels; i++) {
		if (!valid_label_name(o->labels[i]))
			return -EINVAL;
		if (o->type == METRICS_HISTOGRAM && strcmp(o->labels[i], "le") == 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(o->labels[i], o->labels[j]) == 0)
				return -EINVAL;
		}
	}
	if (o->type == METRICS_HISTOGRAM) {
		r = check_buckets(o, &n_buckets);
		if (r < 0)
			return r;
	}

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->type = o->type;
	f->n_labels = n_labels;
	f->name = strdup(o->name);
	f->help = strdup(o->help ? o->help : "");
	if (!f->name || !f->help)
		goto nomem;
	for (size_t i = 0; i < n_labels; i++) {
		/* Sorted position of the caller's i-th label: how many sort
		 * before it. With two labels this is all the sorting needed. */
		size_t pos = 0;

		for (size_t j = 0; j < n_labels; j++)
			pos += strcmp(o->labels[j], o->labels[i]) < 0;
		f->perm[i] = pos;
		f->labels[pos] = strdup(o->labels[i]);
		if (!f->labels[pos])
			goto nomem;
	}
	if (n_buckets) {
		f->n_buckets = n_buckets;
		f->buckets = malloc(n_buckets * sizeof(*f->buckets));
		if (!f->buckets)
			goto nomem;
		memcpy(f->buckets, o->buckets, n_buckets * sizeof(*f->buckets));
	}
	/* The one series of an unlabelled family exists from the start, so
	 * that it renders (as 0) before anything happened, as in client_golang. */
	if (n_labels == 0) {
		f->series = calloc(1, sizeof(*f->series));
		if (!f->series)
			goto nomem;
		r = series_new(f, &f->series[0]);
		if (r < 0)
			goto nomem;
		f->n_series = 1;
	}
	*out = f;
	return 0;
nomem:
	family_free(f);
	return -ENOMEM;
}

int metrics_register(struct metrics *m, const struct metrics_opts *opts,
		     struct metrics_family **out)
{
	struct metrics_family *f, **grown;
	size_t pos = 0;
	int r;

	if (!opts)
		return -EINVAL;
	/* Families stay sorted by name: the render walks them in order. */
	while (pos < m->n_families) {
		int c = opts->name ? strcmp(m->families[pos]->name, opts->name) : -1;

		if (c == 0)
			return -EEXIST;
		if (c > 0)
			break;
		pos++;
	}
	r = family_new(opts, &f);
	if (r < 0)
		return r;
	grown = realloc(m->families, (m->n_families + 1) * sizeof(*grown));
	if (!grown) {
		family_free(f);
		return -ENOMEM;
	}
	m->families = grown;
	memmove(&grown[pos + 1], &grown[pos], (m->n_families - pos) * sizeof(*grown));
	grown[pos] = f;
	m->n_families++;
	*out = f;
	return 0;
}

static int values_cmp(char *const *a, char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int c = strcmp(a[i], b[i]);

		if (c)
			return c;
	}
	return 0;
}

int metrics_series(struct metrics_family *f, const char *v1, const char *v2,
		   struct metrics_series **out)
{
	const char *given[METRICS_MAX_LABELS] = { v1, v2 };
	char *sorted[METRICS_MAX_LABELS] = { NULL, NULL };
	struct metrics_series *s, **grown;
	size_t pos = 0;
	int r;

	for (size_t i = 0; i < METRICS_MAX_LABELS; i++) {
		if ((i < f->n_labels) != (given[i] != NULL))
			return -EINVAL;
		if (given[i] && !utf8_valid(given[i], strlen(given[i])))
			return -EILSEQ;
	}
	if (f->n_labels == 0) {
		*out = f->series[0];
		return 0;
	}
	for (size_t i = 0; i < f->n_labels; i++)
		sorted[f->perm[i]] = (char *)given[i];
	/* Linear: a family has a handful of series, and the scan finds both
	 * an existing series and the place of a new one. */
	while (pos < f->n_series) {
		int c = values_cmp(f->series[pos]->values, sorted, f->n_labels);

		if (c == 0) {
			*out = f->series[pos];
			return 0;
		}
		if (c > 0)
			break;
		pos++;
	}
	if (f->n_series >= METRICS_MAX_SERIES)
		return -E2BIG;
	r = series_new(f, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->n_labels; i++) {
		s->values[i] = strdup(sorted[i]);
		if (!s->values[i])
			goto nomem;
	}
	grown = realloc(f->series, (f->n_series + 1) * sizeof(*grown));
	if (!grown)
		goto nomem;
	f->series = grown;
	memmove(&grown[pos + 1], &grown[pos], (f->n_series - pos) * sizeof(*grown));
	grown[pos] = s;
	f->n_series++;
	*out = s;
	return 0;
nomem:
	series_free(s);
	return -ENOMEM;
}

void metrics_add(struct metrics_series *s, double v)
{
	switch (s->family->type) {
	case METRICS_COUNTER:
		/* !(v >= 0) also refuses NaN, which would stick forever. */
		if (!(v >= 0))
			return;
		s->value += v;
		break;
	case METRICS_GAUGE:
		s->value += v;
		break;
	case METRICS_HISTOGRAM:
		break;
	}
}

void metrics_inc(struct metrics_series *s)
{
	metrics_add(s, 1);
}

void metrics_set(struct metrics_series *s, double v)
{
	if (s->family->type != METRICS_HISTOGRAM)
		s->value = v;
}

void metrics_observe(struct metrics_series *s, double v)
{
	const struct metrics_family *f = s->family;
	size_t lo = 0, hi = f->n_buckets;

	if (f->type != METRICS_HISTOGRAM)
		return;
	/* The first bound >= v, as Go's sort.SearchFloat64s: written with
	 * !(>=) so that NaN, which compares false, lands in +Inf. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (!(f->buckets[mid] >= v))
			lo = mid + 1;
		else
			hi = mid;
	}
	s->buckets[lo]++;
	s->count++;
	s->value += v;
}

double metrics_value(const struct metrics_series *s)
{
	return s->value;
}

uint64_t metrics_count(const struct metrics_series *s)
{
	return s->family->type == METRICS_HISTOGRAM ? s->count : 0;
}

int metrics_buckets_exponential(double start, double factor, size_t n, double *out)
{
	if (n == 0 || !(start > 0) || !(factor > 1))
		return -EINVAL;
	/* Repeated multiplication, as client_golang: start * pow(factor, i)
	 * can differ in the last bit, and then in the rendered le. */
	for (size_t i = 0; i < n; i++) {
		out[i] = start;
		start *= factor;
	}
	return 0;
}

int metrics_buckets_linear(double start, double width, size_t n, double *out)
{
	if (n == 0 || !(width > 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		out[i] = start;
		start += width;
	}
	return 0;
}

/* --- numbers ----------------------------------------------------------- */

size_t metrics_format_double(double v, char *buf)
{
	char tmp[40], digits[24];
	size_t nd = 0, len = 0;
	bool neg;
	int exp, p;
	const char *e;

	/* client_golang's writeFloat spells these itself; -0 == 0 is "0". */
	if (isnan(v))
		return (size_t)sprintf(buf, "NaN");
	if (isinf(v))
		return (size_t)sprintf(buf, v > 0 ? "+Inf" : "-Inf");
	if (v == 0)
		return (size_t)sprintf(buf, "0");

	/* Shortest digits that read back as v. printf rounds correctly, so
	 * the first precision that round-trips gives the digits Go's shortest
	 * formatting picks. (Go can pick one digit fewer for some powers of
	 * two with long expansions, whose lower neighbour is closer; both
	 * strings read back as the same double.) printf and strtod use the C
	 * locale's '.', which nftproxy never changes (no setlocale). */
	for (p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* tmp is [-]d[.ddd]e(+|-)dd[d] */
	neg = tmp[0] == '-';
	e = strchr(tmp, 'e');
	for (const char *q = tmp + neg; q < e; q++) {
		if (*q >= '0' && *q <= '9')
			digits[nd++] = *q;
	}
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	exp = atoi(e + 1);

	if (neg)
		buf[len++] = '-';
	/* Go's %g for the shortest digits: exponent form when the exponent is
	 * below -4 or at least 6 (not the digit count, as C's %g would do). */
	if (exp < -4 || exp >= 6) {
		buf[len++] = digits[0];
		if (nd > 1) {
			buf[len++] = '.';
			memcpy(buf + len, digits + 1, nd - 1);
			len += nd - 1;
		}
		len += (size_t)sprintf(buf + len, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
		return len;
	}
	if (exp < 0) {
		buf[len++] = '0';
		buf[len++] = '.';
		for (int i = 0; i < -exp - 1; i++)
			buf[len++] = '0';
		memcpy(buf + len, digits, nd);
		len += nd;
	} else {
		for (size_t i = 0; i <= (size_t)exp; i++)
			buf[len++] = i < nd ? digits[i] : '0';
		if (nd > (size_t)exp + 1) {
			buf[len++] = '.';
			memcpy(buf + len, digits + exp + 1, nd - (size_t)exp - 1);
			len += nd - (size_t)exp - 1;
		}
	}
	buf[len] = '\0';
	return len;
}

/* --- /proc/self -------------------------------------------------------- */

struct proc_sample {
	bool stat_ok;
	double cpu, vsize, rss;
	bool fds_ok;
	double fds;
	bool limits_ok;
	double max_fds, vsize_max;
};

static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Fields 4 (ppid) to 24 (rss) of /proc/self/stat, as proc(5) numbers them,
 * into f[4..24]. The command name (field 2) may hold spaces and
 * parentheses, so the fields are counted from its last ')'. */
enum { STAT_UTIME = 14, STAT_STIME = 15, STAT_STARTTIME = 22, STAT_VSIZE = 23, STAT_RSS = 24 };

static int read_proc_stat(long long f[STAT_RSS + 1])
{
	char buf[4096], *p, *end;
	ssize_t n = read_small_file("/proc/self/stat", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
		return -EINVAL;
	p += 4; /* past ") S " */
	for (int i = 4; i <= STAT_RSS; i++) {
		errno = 0;
		f[i] = strtoll(p, &end, 10);
		if (end == p || errno)
			return -EINVAL;
		p = end;
	}
	return 0;
}

static void proc_sample_read(struct proc_sample *ps)
{
	long long f[STAT_RSS + 1];
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit nofile, as;
	DIR *d;

	memset(ps, 0, sizeof(*ps));
	if (ticks > 0 && page > 0 && read_proc_stat(f) == 0) {
		ps->stat_ok = true;
		ps->cpu = (double)(f[STAT_UTIME] + f[STAT_STIME]) / (double)ticks;
		ps->vsize = (double)(unsigned long long)f[STAT_VSIZE];
		ps->rss = (double)(f[STAT_RSS] * page);
	}
	/* Counts the descriptor that reads the directory, as client_golang
	 * (procfs) does. */
	d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *de;
		size_t n = 0;

		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
		ps->fds_ok = true;
		ps->fds = (double)n;
	}
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && getrlimit(RLIMIT_AS, &as) == 0) {
		ps->limits_ok = true;
		/* RLIM_INFINITY is ~0: 1.8446744073709552e+19, as procfs reads
		 * "unlimited". */
		ps->max_fds = (double)nofile.rlim_cur;
		ps->vsize_max = (double)as.rlim_cur;
	}
}

static bool proc_value(const struct proc_sample *ps, enum metrics_source src, double *v)
{
	switch (src) {
	case SRC_CPU:
		*v = ps->cpu;
		return ps->stat_ok;
	case SRC_RSS:
		*v = ps->rss;
		return ps->stat_ok;
	case SRC_VSIZE:
		*v = ps->vsize;
		return ps->stat_ok;
	case SRC_OPEN_FDS:
		*v = ps->fds;
		return ps->fds_ok;
	case SRC_MAX_FDS:
		*v = ps->max_fds;
		return ps->limits_ok;
	case SRC_VSIZE_MAX:
		*v = ps->vsize_max;
		return ps->limits_ok;
	case SRC_SERIES:
		break;
	}
	return false;
}

/* Unix time the process started: boot time (/proc/stat btime) plus the
 * start time in ticks since boot. */
static int process_start_time(double *out)
{
	long long f[STAT_RSS + 1], btime = -1;
	long ticks = sysconf(_SC_CLK_TCK);
	char *line = NULL;
	size_t cap = 0;
	FILE *fp;
	int r;

	r = read_proc_stat(f);
	if (r < 0)
		return r;
	if (ticks <= 0)
		return -EINVAL;
	fp = fopen("/proc/stat", "re");
	if (!fp)
		return -errno;
	while (getline(&line, &cap, fp) > 0) {
		if (strncmp(line, "btime ", 6) == 0) {
			btime = strtoll(line + 6, NULL, 10);
			break;
		}
	}
	free(line);
	fclose(fp);
	if (btime < 0)
		return -EINVAL;
	*out = (double)btime + (double)f[STAT_STARTTIME] / (double)ticks;
	return 0;
}

int metrics_register_process(struct metrics *m)
{
	static const struct {
		const char *name, *help;
		enum metrics_type type;
		enum metrics_source src;
	} fams[] = {
		{ "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
		  METRICS_COUNTER, SRC_CPU },
		{ "process_max_fds", "Maximum number of open file descriptors.", METRICS_GAUGE,
		  SRC_MAX_FDS },
		{ "process_open_fds", "Number of open file descriptors.", METRICS_GAUGE,
		  SRC_OPEN_FDS },
		{ "process_resident_memory_bytes", "Resident memory size in bytes.", METRICS_GAUGE,
		  SRC_RSS },
		{ "process_start_time_seconds",
		  "Start time of the process since unix epoch in seconds.", METRICS_GAUGE,
		  SRC_SERIES },
		{ "process_virtual_memory_bytes", "Virtual memory size in bytes.", METRICS_GAUGE,
		  SRC_VSIZE },
		{ "process_virtual_memory_max_bytes",
		  "Maximum amount of virtual memory available in bytes.", METRICS_GAUGE,
		  SRC_VSIZE_MAX },
	};
	struct metrics_family *f;
	double start = 0;
	int r;

	if (m->process)
		return -EEXIST;
	r = process_start_time(&start);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		struct metrics_opts o = { .type = fams[i].type,
					  .name = fams[i].name,
					  .help = fams[i].help };

		/* A failure part way leaves the families added so far: they
		 * render, and a retry reports -EEXIST for them, which is the
		 * state the caller asked for. */
		r = metrics_register(m, &o, &f);
		if (r < 0)
			return r;
		f->source = fams[i].src;
		if (fams[i].src == SRC_SERIES)
			f->series[0]->value = start;
	}
	m->process = true;
	return 0;
}

/* --- rendering --------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static bool sb_reserve(struct sbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void sb_mem(struct sbuf *b, const char *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_mem(b, s, strlen(s));
}

static void sb_double(struct sbuf *b, double v)
{
	char num[METRICS_DOUBLE_LEN];

	sb_mem(b, num, metrics_format_double(v, num));
}

/* Backslash and newline always, the double quote inside label values. */
static void sb_escaped(struct sbuf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			sb_mem(b, "\\\\", 2);
		else if (*s == '\n')
			sb_mem(b, "\\n", 2);
		else if (quote && *s == '"')
			sb_mem(b, "\\\"", 2);
		else
			sb_mem(b, s, 1);
	}
}

/* name+suffix{labels[,le="bound"]} value\n; le is NULL outside buckets. */
static void sb_sample(struct sbuf *b, const struct metrics_family *f, const char *suffix,
		      const struct metrics_series *s, const double *le, double v)
{
	char sep = '{';

	sb_str(b, f->name);
	sb_str(b, suffix);
	for (size_t i = 0; i < f->n_labels; i++) {
		sb_mem(b, &sep, 1);
		sb_str(b, f->labels[i]);
		sb_mem(b, "=\"", 2);
		sb_escaped(b, s->values[i], true);
		sb_mem(b, "\"", 1);
		sep = ',';
	}
	if (le) {
		sb_mem(b, &sep, 1);
		sb_mem(b, "le=\"", 4);
		sb_double(b, *le);
		sb_mem(b, "\"", 1);
	}
	if (f->n_labels || le)
		sb_mem(b, "}", 1);
	sb_mem(b, " ", 1);
	sb_double(b, v);
	sb_mem(b, "\n", 1);
}

static void render_family(struct sbuf *b, const struct metrics_family *f,
			  const struct proc_sample *ps)
{
	static const char *const type_names[] = {
		[METRICS_COUNTER] = "counter",
		[METRICS_GAUGE] = "gauge",
		[METRICS_HISTOGRAM] = "histogram",
	};
	double pv = 0;

	if (f->n_series == 0)
		return;
	if (f->source != SRC_SERIES && !proc_value(ps, f->source, &pv))
		return;
	sb_str(b, "# HELP ");
	sb_str(b, f->name);
	sb_mem(b, " ", 1);
	sb_escaped(b, f->help, false);
	sb_str(b, "\n# TYPE ");
	sb_str(b, f->name);
	sb_mem(b, " ", 1);
	sb_str(b, type_names[f->type]);
	sb_mem(b, "\n", 1);

	for (size_t i = 0; i < f->n_series; i++) {
		const struct metrics_series *s = f->series[i];
		uint64_t cum = 0;
		double inf = INFINITY;

		if (f->type != METRICS_HISTOGRAM) {
			sb_sample(b, f, "", s, NULL, f->source == SRC_SERIES ? s->value : pv);
			continue;
		}
		for (size_t j = 0; j < f->n_buckets; j++) {
			cum += s->buckets[j];
			sb_sample(b, f, "_bucket", s, &f->buckets[j], (double)cum);
		}
		sb_sample(b, f, "_bucket", s, &inf, (double)s->count);
		sb_sample(b, f, "_sum", s, NULL, s->value);
		sb_sample(b, f, "_count", s, NULL, (double)s->count);
	}
}

int metrics_render(const struct metrics *m, char **out, size_t *len)
{
	struct sbuf b = { NULL, 0, 0, false };
	struct proc_sample ps;

	if (m->process)
		proc_sample_read(&ps);
	else
		memset(&ps, 0, sizeof(ps));
	/* An empty registry still renders "", a valid (empty) exposition. */
	if (sb_reserve(&b, 0))
		b.p[0] = '\0';
	for (size_t i = 0; i < m->n_families; i++)
		render_family(&b, m->families[i], &ps);
	if (b.failed) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
