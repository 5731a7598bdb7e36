/* Control-plane benchmark: builds a model of S ClusterIP services with E
 * endpoints each, in memory, and measures in the current network namespace
 * (run it through bench_sync.sh, which makes a throw-away one):
 *   1. the cold full sync (empty kernel table -> everything, one batch);
 *   2. a one-endpoint change (batch messages, bytes, time);
 *   3. a restart: a new sync reads the table back and converges (should
 *      send nothing);
 *   4. peak RSS of the process.
 * Prints one `key=value` line per measurement. */
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

static void run(struct nft_sync *s, struct model *m, bool full, const char *what)
{
	struct nft_sync_stats st;
	double t0 = now_s();
	int r = nft_sync_run(s, m, full, &st);

	if (r < 0) {
		fprintf(stderr, "%s: sync failed: %s\n", what, strerror(-r));
		exit(1);
	}
	printf("%s_seconds=%.4f %s_compile_ms=%.1f %s_send_ms=%.1f %s_messages=%zu %s_bytes=%zu\n",
	       what, now_s() - t0, what, st.compile_ms, what, st.send_ms, what, st.messages, what,
	       st.bytes);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned n_svc = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	unsigned n_eps = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
	const char *table = argc > 3 ? argv[3] : "nftproxy";
	struct nft_sync_config cfg = { .table = table, .masq_mark = 0x4000 };
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
		if (model_service_upsert(m, gen_service(i)) < 0 ||
		    model_slice_upsert(m, gen_slice(i, n_eps, 0)) < 0) {
			fprintf(stderr, "model: out of memory\n");
			return 1;
		}
	}
	printf("services=%u endpoints=%u model_seconds=%.3f rss_model_kb=%ld\n", n_svc, n_eps,
	       now_s() - t0, rss_now_kb());
	run(s, m, false, "cold");
	printf("rss_peak_cold_kb=%ld rss_after_cold_kb=%ld heap_in_use_kb=%zu\n", rss_peak_kb(),
	       rss_now_kb(), mallinfo2().uordblks / 1024);
	if (getenv("BENCH_COLD_ONLY")) {
		if (getenv("BENCH_MALLOC_STATS"))
			malloc_stats();
		nft_sync_free(s);
		model_free(m);
		return 0;
	}

	/* One endpoint of one service changes address (BENCH_REPEAT times,
	 * to average, or to attach a profiler). The new address sorts last, so
	 * the other endpoints keep their LB slots. */
	{
		int repeat = getenv("BENCH_REPEAT") ? atoi(getenv("BENCH_REPEAT")) : 1;
		double t = now_s();

		for (int i = 0; i < repeat; i++) {
			struct model_slice *sl = gen_slice(n_svc / 2, n_eps, 0);

			sl->endpoints[n_eps - 1].addrs[0].v4.s_addr =
				htonl((10u << 24) | (255u << 16) | (unsigned)(i % 2 + 1));
			model_slice_upsert(m, sl);
			run(s, m, false, "one_endpoint");
		}
		printf("one_endpoint_avg_ms=%.2f\n", (now_s() - t) * 1e3 / repeat);
	}
	/* Nothing changed: a periodic full resync must send nothing. */
	run(s, m, true, "full_resync_unchanged");

	/* Restart: a fresh sync reads the kernel back and converges. */
	nft_sync_free(s);
	if (nft_sync_new(&cfg, &s) < 0)
		return 1;
	model_mark_all_dirty(m);
	run(s, m, false, "restart");
	printf("rss_peak_kb=%ld rss_now_kb=%ld\n", rss_peak_kb(), rss_now_kb());
	nft_sync_free(s);
	model_free(m);
	return 0;
}
