/* Control-plane benchmark: builds a model of S ClusterIP services with E
 * endpoints each, in memory, and measures in the current network namespace
 * (run it through bench_sync.sh, which makes a throw-away one):
 *   1. the cold full sync (empty kernel table -> everything, one batch);
 *   2. a one-endpoint change, one endpoint added, one removed, one service
 *      added, one deleted (batch messages, bytes, userspace and kernel
 *      time; medians of BENCH_REPEAT runs, default 5);
 *   3. a full resync with nothing changed, and a restart: a new sync reads
 *      the table back and converges (both should send nothing);
 *   4. peak RSS of the process.
 * Prints one `key=value` line per measurement. Userspace time is the sync's
 * total less the kernel's part (sendmsg and its acks). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include "lib/model/store.h"
#include "lib/util/log.h"
#include "nft/sync.h"
#include "tests/common/gen.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_peak_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static long rss_now_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static struct nft_sync_stats run(struct nft_sync *s, struct model *m, bool full,
				 const char *what)
{
	struct nft_sync_stats st;
	double t0 = now_s();
	int r = nft_sync_run(s, m, full, &st);

	if (r < 0) {
		fprintf(stderr, "%s: sync failed: %s\n", what, strerror(-r));
		exit(1);
	}
	printf("%s_seconds=%.4f %s_compile_ms=%.1f %s_send_ms=%.1f %s_kernel_ms=%.1f "
	       "%s_messages=%zu %s_bytes=%zu\n",
	       what, now_s() - t0, what, st.compile_ms, what, st.send_ms, what, st.kernel_ms, what,
	       st.messages, what, st.bytes);
	fflush(stdout);
	return st;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { MAX_REPEAT = 64 };

/* Medians of the runs of one operation. */
struct op_times {
	double user[MAX_REPEAT], kernel[MAX_REPEAT];
	int n;
	size_t messages, bytes;
};

static void op_add(struct op_times *t, const struct nft_sync_stats *st)
{
	if (t->n == MAX_REPEAT)
		return;
	t->user[t->n] = st->total_ms - st->kernel_ms;
	t->kernel[t->n] = st->kernel_ms;
	t->n++;
	t->messages = st->messages;
	t->bytes = st->bytes;
}

static void op_print(const char *what, struct op_times *t)
{
	printf("%s_median_user_ms=%.3f %s_median_kernel_ms=%.2f %s_messages=%zu %s_bytes=%zu "
	       "%s_runs=%d\n", what, median(t->user, t->n), what, median(t->kernel, t->n), what,
	       t->messages, what, t->bytes, what, t->n);
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

/* The mixed model (BENCH_MIX, on by default): every tenth service also has
 * a UDP port (dns 53 -> 5353), every fifth is dual-stack (an IPv6 cluster
 * IP and a second, IPv6 slice with the same endpoints' counterparts). */
static bool mixed(unsigned i, unsigned what)
{
	return (!getenv("BENCH_MIX") || atoi(getenv("BENCH_MIX"))) && i % what == what - 1;
}

static void mix_udp(struct model_service *svc, struct model_slice *sl)
{
	svc->ports = xrealloc(svc->ports, 2 * sizeof(*svc->ports));
	memset(&svc->ports[1], 0, sizeof(svc->ports[1]));
	svc->ports[1].name = strdup("dns");
	svc->ports[1].protocol = IPPROTO_UDP;
	svc->ports[1].port = 53;
	svc->ports[1].target_port.present = true;
	svc->ports[1].target_port.num = 5353;
	svc->n_ports = 2;
	sl->ports = xrealloc(sl->ports, 2 * sizeof(*sl->ports));
	memset(&sl->ports[1], 0, sizeof(sl->ports[1]));
	sl->ports[1].name = strdup("dns");
	sl->ports[1].has_port = true;
	sl->ports[1].port = 5353;
	sl->ports[1].protocol = IPPROTO_UDP;
	sl->n_ports = 2;
}

/* fd00:10:96::/64 for cluster IPs, fd00:10:128::/64 for endpoints. */
static void v6_of(struct ip_addr *a, uint16_t prefix, uint32_t low)
{
	uint32_t be = htonl(low);

	memset(a, 0, sizeof(*a));
	a->family = AF_INET6;
	a->bytes[0] = 0xfd;
	a->bytes[3] = 0x10;
	a->bytes[4] = (uint8_t)(prefix >> 8);
	a->bytes[5] = (uint8_t)prefix;
	memcpy(a->bytes + 12, &be, 4);
}

static struct model_slice *mix_dual_stack(unsigned i, struct model_service *svc,
					  unsigned n_eps, bool udp)
{
	struct model_slice *sl = gen_slice(i, n_eps, 0);

	svc->cluster_ips = xrealloc(svc->cluster_ips, 2 * sizeof(*svc->cluster_ips));
	v6_of(&svc->cluster_ips[1], 0x96, i + 1);
	svc->n_cluster_ips = 2;
	svc->ip_families[1] = AF_INET6;
	free(sl->name);
	if (asprintf(&sl->name, "svc%u-v6", i) < 0)
		exit(1);
	sl->addr_type = SLICE_ADDR_IPV6;
	for (size_t e = 0; e < sl->n_endpoints; e++)
		v6_of(&sl->endpoints[e].addr, 0x128, ntohl(sl->endpoints[e].addr.v4.s_addr));
	if (udp)
		mix_udp(gen_service(0), sl);
	return sl;
}

static void upsert_or_die(struct model *m, struct model_service *svc, struct model_slice *sl)
{
	if ((svc && model_service_upsert(m, svc) < 0) || (sl && model_slice_upsert(m, sl) < 0)) {
		fprintf(stderr, "model: out of memory\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	unsigned n_svc = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	unsigned n_eps = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
	const char *table = argc > 3 ? argv[3] : "nftproxy";
	struct nft_sync_config cfg = { .table = table, .compile = { .masq_mark = 0x4000 } };
	struct nft_sync *s = NULL;
	struct model *m = NULL;
	double t0;

	log_verbosity = getenv("BENCH_V") ? atoi(getenv("BENCH_V")) : 0;
	if (model_new(&m) < 0 || nft_sync_new(&cfg, &s) < 0) {
		fprintf(stderr, "setup failed (root? nf_tables?)\n");
		return 1;
	}
	t0 = now_s();
	for (unsigned i = 0; i < n_svc; i++) {
		struct model_service *svc = gen_service(i);
		struct model_slice *sl = gen_slice(i, n_eps, 0), *sl6 = NULL;
		bool udp = mixed(i, 10);

		if (udp)
			mix_udp(svc, sl);
		if (mixed(i, 5))
			sl6 = mix_dual_stack(i, svc, n_eps, udp);
		upsert_or_die(m, svc, sl);
		upsert_or_die(m, NULL, sl6);
	}
	printf("services=%u endpoints=%u model_seconds=%.3f rss_model_kb=%ld heap_model_kb=%zu\n",
	       n_svc, n_eps, now_s() - t0, rss_now_kb(), mallinfo2().uordblks / 1024);
	(void)run(s, m, false, "cold");
	printf("rss_peak_cold_kb=%ld rss_after_cold_kb=%ld heap_in_use_kb=%zu\n", rss_peak_kb(),
	       rss_now_kb(), mallinfo2().uordblks / 1024);
	if (getenv("BENCH_COLD_ONLY")) {
		if (getenv("BENCH_MALLOC_STATS"))
			malloc_stats();
		nft_sync_free(s);
		model_free(m);
		return 0;
	}

	/* The small changes, each BENCH_REPEAT times: one endpoint changes
	 * address (it sorts last, so the others keep their LB slots), one is
	 * added and removed again, one service is added and deleted again. */
	{
		int repeat = getenv("BENCH_REPEAT") ? atoi(getenv("BENCH_REPEAT")) : 5;
		struct op_times change = { 0 }, ep_add = { 0 }, ep_del = { 0 };
		struct op_times svc_add = { 0 }, svc_del = { 0 };
		unsigned mid = n_svc / 2;

		if (repeat < 1 || repeat > MAX_REPEAT)
			repeat = 5;
		for (int i = 0; i < repeat; i++) {
			struct model_slice *sl = gen_slice(mid, n_eps, 0);
			struct model_service *svc;

			sl->endpoints[n_eps - 1].addr.v4.s_addr =
				htonl((10u << 24) | (255u << 16) | (unsigned)(i % 2 + 1));
			upsert_or_die(m, NULL, sl);
			{
				struct nft_sync_stats st = run(s, m, false, "one_endpoint");

				op_add(&change, &st);
			}
			upsert_or_die(m, NULL, gen_slice(mid, n_eps + 1, 0));
			{
				struct nft_sync_stats st = run(s, m, false, "endpoint_add");

				op_add(&ep_add, &st);
			}
			upsert_or_die(m, NULL, gen_slice(mid, n_eps, 0));
			{
				struct nft_sync_stats st = run(s, m, false, "endpoint_remove");

				op_add(&ep_del, &st);
			}
			svc = gen_service(n_svc);
			upsert_or_die(m, svc, gen_slice(n_svc, n_eps, 0));
			{
				struct nft_sync_stats st = run(s, m, false, "service_add");

				op_add(&svc_add, &st);
			}
			/* gen names service i "svc<i>" in "ns<i % 100>", its slice
			 * "svc<i>-abcde". */
			svc = gen_service(n_svc);
			{
				char slice_name[64];

				snprintf(slice_name, sizeof(slice_name), "%s-abcde", svc->name);
				if (model_service_delete(m, svc->ns, svc->name) < 0 ||
				    model_slice_delete(m, svc->ns, slice_name) < 0) {
					fprintf(stderr, "model: cannot delete the added service\n");
					return 1;
				}
			}
			model_service_free(svc);
			{
				struct nft_sync_stats st = run(s, m, false, "service_delete");

				op_add(&svc_del, &st);
			}
		}
		op_print("one_endpoint", &change);
		op_print("endpoint_add", &ep_add);
		op_print("endpoint_remove", &ep_del);
		op_print("service_add", &svc_add);
		op_print("service_delete", &svc_del);
	}
	/* Nothing changed: a periodic full resync must send nothing. */
	(void)run(s, m, true, "full_resync_unchanged");

	/* Restart: a fresh sync reads the kernel back and converges. */
	nft_sync_free(s);
	if (nft_sync_new(&cfg, &s) < 0)
		return 1;
	model_mark_all_dirty(m);
	(void)run(s, m, false, "restart");
	printf("rss_peak_kb=%ld rss_now_kb=%ld\n", rss_peak_kb(), rss_now_kb());
	nft_sync_free(s);
	model_free(m);
	return 0;
}
