/* connbench: the dataplane benchmark's load generator.
 *
 *   connbench --duration-ms D --max-conns N [--concurrency C] [--interval-us U]
 *             [--timeout-ms T] [--gap] IP PORT
 *
 * Opens TCP connections to IP:PORT (IPv4), C in flight at once (non-blocking
 * connect, one epoll loop). Each connection: connect, read the server's
 * reply to EOF (at most CB_REPLY_MAX bytes), close. It stops starting new
 * ones after D milliseconds or N attempts, whichever comes first, and waits
 * at most T more for those in flight, so a run is always bounded.
 *
 * Latency is measured from the connect() call to the first reply byte: the
 * handshake through the DNAT rules plus the pod's accept and write, which
 * is what a client of the service waits for. The handshake alone is
 * reported too (connect_*_us).
 *
 * Sockets are closed normally, not with SO_LINGER 0: the pod closes first
 * (podserver sends its name, then FIN), so the client is the passive closer
 * and keeps no TIME_WAIT state; its ports are free again at once. An RST
 * would also hide how real clients end their connections from conntrack.
 *
 * --gap runs one connection at a time in a loop (U microseconds apart,
 * default 1000) and reports the longest interval between two successful
 * connections (gap_max_ms, measured between their completions), and the
 * longest few as gaps=START_MS+LEN_MS,... (START_MS after the run began), to
 * watch forwarding while a big batch commits.
 *
 * Prints one key=value line on stdout. Exit status: 0 when at least one
 * connection succeeded, 1 when none did, 2 on bad usage or a system error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CB_REPLY_MAX	   256
#define CB_MAX_CONCURRENCY 4096
/* The latency arrays hold one entry per attempt: 2 x 4 bytes x this. */
#define CB_MAX_CONNS 20000000L
/* --gap keeps the longest gaps with their times, so a harness can tell a gap
 * during a commit from one caused by something else on a busy machine. */
#define CB_GAP_TOP 8

enum cb_state {
	CB_IDLE,
	CB_CONNECTING,
	CB_READING,
};

enum cb_fail {
	CB_FAIL_REFUSED,
	CB_FAIL_TIMEOUT,
	CB_FAIL_UNREACH,
	CB_FAIL_ADDRNOTAVAIL,
	CB_FAIL_RESET,
	CB_FAIL_SHORT,
	CB_FAIL_OTHER,
	CB_FAIL_COUNT,
};

static const char *const cb_fail_names[CB_FAIL_COUNT] = {
	"refused", "timeout", "unreach", "addrnotavail", "reset", "short", "other",
};

struct cb_slot {
	int fd;
	enum cb_state state;
	uint64_t t_start; /* ns, monotonic: the connect() call */
	uint64_t t_connected;
	uint64_t t_first; /* first reply byte */
	size_t got;
};

struct cb_gap {
	uint64_t start; /* ns after t0: the success before the gap */
	uint64_t len;
};

struct cb_config {
	struct sockaddr_in dst;
	long duration_ms;
	long max_conns;
	long concurrency;
	long interval_us;
	long timeout_ms;
	bool gap;
};

struct cb_run {
	const struct cb_config *cfg;
	int epfd;
	struct cb_slot *slots;
	uint64_t t0;
	uint64_t deadline;   /* no new connection after this */
	uint64_t next_start; /* pacing (--interval-us) */
	long attempts;
	long ok;
	long fails[CB_FAIL_COUNT];
	uint32_t *lat_us;     /* connect() to first byte, one per success */
	uint32_t *connect_us; /* connect() to established */
	/* --gap */
	uint64_t last_ok; /* completion of the previous success, 0 = none yet */
	uint64_t gap_max;
	uint64_t gap_at; /* when the longest gap ended, from t0 */
	uint64_t first_ok;
	struct cb_gap top[CB_GAP_TOP]; /* longest first; len 0 = unused */
};

static volatile sig_atomic_t cb_stop;

static void cb_on_signal(int sig)
{
	(void)sig;
	cb_stop = 1;
}

static uint64_t cb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum cb_fail cb_classify(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return CB_FAIL_REFUSED;
	case ETIMEDOUT:
		return CB_FAIL_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return CB_FAIL_UNREACH;
	case EADDRNOTAVAIL:
		return CB_FAIL_ADDRNOTAVAIL;
	case ECONNRESET:
	case EPIPE:
		return CB_FAIL_RESET;
	default:
		return CB_FAIL_OTHER;
	}
}

static void cb_slot_close(struct cb_run *run, struct cb_slot *s)
{
	if (s->fd >= 0) {
		epoll_ctl(run->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->state = CB_IDLE;
	s->got = 0;
}

static void cb_slot_fail(struct cb_run *run, struct cb_slot *s, enum cb_fail why)
{
	run->fails[why]++;
	cb_slot_close(run, s);
}

static void cb_gap_note(struct cb_run *run, uint64_t start, uint64_t len)
{
	int i = CB_GAP_TOP - 1;

	if (len <= run->top[i].len)
		return;
	for (; i > 0 && run->top[i - 1].len < len; i--)
		run->top[i] = run->top[i - 1];
	run->top[i] = (struct cb_gap){ .start = start, .len = len };
}

static void cb_slot_done(struct cb_run *run, struct cb_slot *s, uint64_t now)
{
	uint64_t lat = (s->t_first - s->t_start) / 1000;
	uint64_t con = (s->t_connected - s->t_start) / 1000;

	run->lat_us[run->ok] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
	run->connect_us[run->ok] = con > UINT32_MAX ? UINT32_MAX : (uint32_t)con;
	run->ok++;
	if (!run->first_ok)
		run->first_ok = now;
	if (run->last_ok) {
		cb_gap_note(run, run->last_ok - run->t0, now - run->last_ok);
		if (now - run->last_ok > run->gap_max) {
			run->gap_max = now - run->last_ok;
			run->gap_at = now - run->t0;
		}
	}
	run->last_ok = now;
	cb_slot_close(run, s);
}

/* Starts one connection in S. Returns 0 when it is under way (or already
 * failed and counted), -errno on a local error that ends the run. */
static int cb_slot_start(struct cb_run *run, struct cb_slot *s, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
	int fd, r;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	run->attempts++;
	s->fd = fd;
	s->t_start = now;
	s->got = 0;
	r = connect(fd, (const struct sockaddr *)&run->cfg->dst, sizeof(run->cfg->dst));
	if (r < 0 && errno != EINPROGRESS) {
		cb_slot_fail(run, s, cb_classify(errno));
		return 0;
	}
	s->state = CB_CONNECTING;
	if (epoll_ctl(run->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		r = -errno;
		cb_slot_close(run, s);
		return r;
	}
	return 0;
}

static void cb_slot_event(struct cb_run *run, struct cb_slot *s)
{
	char buf[CB_REPLY_MAX];
	uint64_t now = cb_now();

	if (s->state == CB_CONNECTING) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = s };
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			cb_slot_fail(run, s, cb_classify(err));
			return;
		}
		s->t_connected = now;
		s->state = CB_READING;
		if (epoll_ctl(run->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
			cb_slot_fail(run, s, cb_classify(errno));
		/* The reply is read on the next EPOLLIN, usually in the same turn. */
		return;
	}
	for (;;) {
		ssize_t n = read(s->fd, buf, sizeof(buf));

		if (n > 0) {
			if (s->got == 0)
				s->t_first = now;
			s->got += (size_t)n;
			/* A server that never closes must not hold the slot. */
			if (s->got >= CB_REPLY_MAX) {
				cb_slot_done(run, s, now);
				return;
			}
			continue;
		}
		if (n == 0) {
			if (s->got == 0)
				cb_slot_fail(run, s, CB_FAIL_SHORT);
			else
				cb_slot_done(run, s, now);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			cb_slot_fail(run, s, cb_classify(errno));
		return;
	}
}

/* Fails connections older than --timeout-ms; returns how many are in flight. */
static long cb_expire(struct cb_run *run, uint64_t now)
{
	uint64_t limit = (uint64_t)run->cfg->timeout_ms * 1000000u;
	long inflight = 0;

	for (long i = 0; i < run->cfg->concurrency; i++) {
		struct cb_slot *s = &run->slots[i];

		if (s->state == CB_IDLE)
			continue;
		if (now - s->t_start >= limit) {
			cb_slot_fail(run, s, CB_FAIL_TIMEOUT);
			continue;
		}
		inflight++;
	}
	return inflight;
}

/* Fills idle slots while the run may still start connections. Returns the
 * number started, or -errno on a local error. */
static int cb_fill(struct cb_run *run, uint64_t now)
{
	const struct cb_config *cfg = run->cfg;
	uint64_t interval = (uint64_t)cfg->interval_us * 1000u;
	int started = 0, r;

	for (long i = 0; i < cfg->concurrency; i++) {
		struct cb_slot *s = &run->slots[i];

		if (s->state != CB_IDLE)
			continue;
		if (run->attempts >= cfg->max_conns || now >= run->deadline ||
		    now < run->next_start)
			break;
		r = cb_slot_start(run, s, now);
		if (r < 0)
			return r;
		started++;
		/* In --gap mode the pause counts from the end of the previous
		 * connection (set below, once the slot is idle again). */
		if (interval && !cfg->gap)
			run->next_start =
				(run->next_start > now ? run->next_start : now) + interval;
		if (cfg->gap)
			break;
	}
	return started;
}

static int cb_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array; 0 for an empty one. */
static uint32_t cb_pct(const uint32_t *v, long n, double q)
{
	long k;

	if (n <= 0)
		return 0;
	k = (long)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void cb_report(struct cb_run *run, uint64_t t_end)
{
	const struct cb_config *cfg = run->cfg;
	double elapsed_s = (double)(t_end - run->t0) / 1e9;
	char ip[INET_ADDRSTRLEN] = "?";
	long failed = 0;

	for (int i = 0; i < CB_FAIL_COUNT; i++)
		failed += run->fails[i];
	qsort(run->lat_us, (size_t)run->ok, sizeof(*run->lat_us), cb_cmp_u32);
	qsort(run->connect_us, (size_t)run->ok, sizeof(*run->connect_us), cb_cmp_u32);
	inet_ntop(AF_INET, &cfg->dst.sin_addr, ip, sizeof(ip));

	printf("mode=%s target=%s:%u concurrency=%ld attempts=%ld ok=%ld failed=%ld",
	       cfg->gap ? "gap" : "rate", ip, ntohs(cfg->dst.sin_port), cfg->concurrency,
	       run->attempts, run->ok, failed);
	for (int i = 0; i < CB_FAIL_COUNT; i++)
		printf(" %s=%ld", cb_fail_names[i], run->fails[i]);
	printf(" elapsed_ms=%.1f conns_per_s=%.1f", elapsed_s * 1e3,
	       elapsed_s > 0 ? (double)run->ok / elapsed_s : 0.0);
	printf(" lat_p50_us=%u lat_p90_us=%u lat_p99_us=%u lat_max_us=%u",
	       cb_pct(run->lat_us, run->ok, 0.50), cb_pct(run->lat_us, run->ok, 0.90),
	       cb_pct(run->lat_us, run->ok, 0.99), cb_pct(run->lat_us, run->ok, 1.0));
	printf(" connect_p50_us=%u connect_p99_us=%u", cb_pct(run->connect_us, run->ok, 0.50),
	       cb_pct(run->connect_us, run->ok, 0.99));
	if (cfg->gap) {
		/* A loop that stopped getting through and never recovered has its
		 * longest gap at the end: count it, and say so. */
		uint64_t since = run->last_ok ? run->last_ok : run->t0;
		uint64_t tail = t_end - since;
		bool open = tail > run->gap_max;

		printf(" gap_max_ms=%.1f gap_at_ms=%.1f gap_open=%d first_ok_ms=%.1f",
		       (double)(open ? tail : run->gap_max) / 1e6,
		       (double)(open ? t_end - run->t0 : run->gap_at) / 1e6, open ? 1 : 0,
		       run->first_ok ? (double)(run->first_ok - run->t0) / 1e6 : -1.0);
		if (open)
			cb_gap_note(run, since - run->t0, tail);
		/* START_MS+LEN_MS, longest first: the gap began START_MS after the
		 * run started, with the last success before it. */
		printf(" gaps=");
		for (int i = 0; i < CB_GAP_TOP && run->top[i].len; i++)
			printf("%s%.1f+%.1f", i ? "," : "", (double)run->top[i].start / 1e6,
			       (double)run->top[i].len / 1e6);
	}
	printf("\n");
	fflush(stdout);
}

/* Runs the benchmark to completion. Returns 0, or -errno on a local error
 * (the results so far are still reported). */
static int cb_run_all(struct cb_run *run)
{
	const struct cb_config *cfg = run->cfg;
	struct epoll_event evs[64];
	uint64_t now;
	int r = 0;

	run->t0 = cb_now();
	run->deadline = run->t0 + (uint64_t)cfg->duration_ms * 1000000u;
	run->next_start = run->t0;
	for (;;) {
		struct timespec wait = { 0, 10 * 1000000 };
		long inflight;
		bool starting;
		int n;

		now = cb_now();
		inflight = cb_expire(run, now);
		starting = !cb_stop && now < run->deadline && run->attempts < cfg->max_conns;
		if (starting) {
			r = cb_fill(run, now);
			if (r < 0)
				break;
			inflight += r;
		}
		if (!starting && inflight == 0)
			break;
		if (cfg->gap && inflight == 0 && run->next_start > now) {
			uint64_t d = run->next_start - now;

			wait.tv_sec = (time_t)(d / 1000000000u);
			wait.tv_nsec = (long)(d % 1000000000u);
		} else if (!cfg->gap && cfg->interval_us && run->next_start > now) {
			uint64_t d = run->next_start - now;

			if (d < 10 * 1000000u)
				wait.tv_nsec = (long)d;
		}
		/* epoll_pwait2: microsecond pacing, which epoll_wait's
		 * milliseconds cannot give. */
		n = epoll_pwait2(run->epfd, evs, 64, &wait, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct cb_slot *s = evs[i].data.ptr;

			if (s->state == CB_IDLE)
				continue;
			cb_slot_event(run, s);
			if (cfg->gap && s->state == CB_IDLE)
				run->next_start = cb_now() + (uint64_t)cfg->interval_us * 1000u;
		}
		if (cfg->gap && run->slots[0].state == CB_IDLE && run->next_start < now)
			/* A connection that failed in cb_expire or at connect(): pause too. */
			run->next_start = now + (uint64_t)cfg->interval_us * 1000u;
	}
	for (long i = 0; i < cfg->concurrency; i++)
		cb_slot_close(run, &run->slots[i]);
	cb_report(run, cb_now());
	return r < 0 ? r : 0;
}

static int cb_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void cb_usage(FILE *f)
{
	fprintf(f,
		"usage: connbench --duration-ms D --max-conns N [--concurrency C]\n"
		"                 [--interval-us U] [--timeout-ms T] [--gap] IP PORT\n"
		"  --duration-ms D  start no connection after D ms (1..600000)\n"
		"  --max-conns N    start at most N connections (1..%ld)\n"
		"  --concurrency C  connections in flight at once (default 1, at most %d)\n"
		"  --interval-us U  at least U us between starts (--gap: between the end of\n"
		"                   one connection and the next start; default 1000)\n"
		"  --timeout-ms T   a connection not done after T ms fails (default 1000)\n"
		"  --gap            one connection at a time; report the longest interval\n"
		"                   between two successes (gap_max_ms)\n",
		CB_MAX_CONNS, CB_MAX_CONCURRENCY);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "max-conns", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "interval-us", required_argument, NULL, 'i' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "gap", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cb_config cfg = { .duration_ms = -1,
				 .max_conns = -1,
				 .concurrency = 1,
				 .interval_us = -1,
				 .timeout_ms = 1000 };
	struct sigaction sa = { .sa_handler = cb_on_signal };
	struct cb_run run = { .cfg = &cfg, .epfd = -1 };
	long port;
	int c, r, rc = 2;

	while ((c = getopt_long(argc, argv, "d:n:c:i:t:gh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			r = cb_parse_long(optarg, 1, 600000, &cfg.duration_ms);
			break;
		case 'n':
			r = cb_parse_long(optarg, 1, CB_MAX_CONNS, &cfg.max_conns);
			break;
		case 'c':
			r = cb_parse_long(optarg, 1, CB_MAX_CONCURRENCY, &cfg.concurrency);
			break;
		case 'i':
			r = cb_parse_long(optarg, 0, 10000000, &cfg.interval_us);
			break;
		case 't':
			r = cb_parse_long(optarg, 1, 60000, &cfg.timeout_ms);
			break;
		case 'g':
			cfg.gap = true;
			r = 0;
			break;
		case 'h':
			cb_usage(stdout);
			return 0;
		default:
			cb_usage(stderr);
			return 2;
		}
		if (r < 0) {
			const char *name = "?";

			for (const struct option *o = opts; o->name; o++)
				if (o->val == c)
					name = o->name;
			fprintf(stderr, "connbench: invalid value \"%s\" for --%s\n", optarg, name);
			return 2;
		}
	}
	/* Both bounds are mandatory: a load generator must never run open-ended. */
	if (optind + 2 != argc || cfg.duration_ms < 0 || cfg.max_conns < 0) {
		cb_usage(stderr);
		return 2;
	}
	cfg.dst.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[optind], &cfg.dst.sin_addr) != 1 ||
	    cb_parse_long(argv[optind + 1], 1, 65535, &port) < 0) {
		fprintf(stderr, "connbench: invalid target \"%s %s\" (IPv4 address and port)\n",
			argv[optind], argv[optind + 1]);
		return 2;
	}
	cfg.dst.sin_port = htons((uint16_t)port);
	if (cfg.gap)
		cfg.concurrency = 1;
	if (cfg.interval_us < 0)
		cfg.interval_us = cfg.gap ? 1000 : 0;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	run.slots = calloc((size_t)cfg.concurrency, sizeof(*run.slots));
	run.lat_us = calloc((size_t)cfg.max_conns, sizeof(*run.lat_us));
	run.connect_us = calloc((size_t)cfg.max_conns, sizeof(*run.connect_us));
	if (!run.slots || !run.lat_us || !run.connect_us) {
		fprintf(stderr, "connbench: out of memory for %ld connections\n", cfg.max_conns);
		goto out;
	}
	for (long i = 0; i < cfg.concurrency; i++)
		run.slots[i].fd = -1;
	run.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (run.epfd < 0) {
		fprintf(stderr, "connbench: epoll_create1: %s\n", strerror(errno));
		goto out;
	}
	r = cb_run_all(&run);
	if (r < 0) {
		fprintf(stderr, "connbench: stopped early: %s\n", strerror(-r));
		goto out;
	}
	rc = run.ok > 0 ? 0 : 1;
out:
	if (run.epfd >= 0)
		close(run.epfd);
	free(run.connect_us);
	free(run.lat_us);
	free(run.slots);
	return rc;
}
