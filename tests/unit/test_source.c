/* The manifest source on a real directory and a real libuv loop, without a
 * kernel: files are written, changed, renamed and removed, the loop runs
 * until the source reports a change, and the model is checked. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "lib/model/store.h"
#include "lib/source/source.h"
#include "lib/util/log.h"
#include "tests/unit/check.h"

struct fx {
	uv_loop_t loop;
	struct model *model;
	struct msrc *src;
	char dir[256];
	int changes;
	bool closed;
};

static void on_changed(void *data)
{
	((struct fx *)data)->changes++;
}

static void on_closed(void *data)
{
	((struct fx *)data)->closed = true;
}

static void path_of(const struct fx *fx, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", fx->dir, name);
}

static void write_file(const struct fx *fx, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void write_file(const struct fx *fx, const char *name, const char *fmt, ...)
{
	char path[512];
	va_list ap;
	FILE *f;

	path_of(fx, name, path, sizeof(path));
	f = fopen(path, "w");
	CHECK(f != NULL);
	va_start(ap, fmt);
	CHECK(vfprintf(f, fmt, ap) >= 0);
	va_end(ap);
	CHECK(fclose(f) == 0);
}

static void rename_file(const struct fx *fx, const char *from, const char *to)
{
	char a[512], b[512];

	path_of(fx, from, a, sizeof(a));
	path_of(fx, to, b, sizeof(b));
	CHECK_INT(rename(a, b), 0);
}

static void remove_file(const struct fx *fx, const char *name)
{
	char path[512];

	path_of(fx, name, path, sizeof(path));
	CHECK_INT(unlink(path), 0);
}

/* A Service with one port "http" 80 -> 8080. */
#define SVC_YAML \
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: default\n" \
	"spec:\n  clusterIP: %s\n  ports:\n  - name: http\n    port: %d\n    targetPort: 8080\n"

/* An EndpointSlice of service %s with one endpoint at port %d. */
#define SLICE_YAML \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s\n" \
	"  namespace: default\n  labels:\n    kubernetes.io/service-name: %s\n" \
	"addressType: IPv4\nports:\n- name: http\n  port: %d\nendpoints:\n" \
	"- addresses: [\"%s\"]\n"

static void write_web(const struct fx *fx, const char *file, const char *ip, int port,
		      const char *ep, int ep_port)
{
	write_file(fx, file, SVC_YAML "---\n" SLICE_YAML, "web", ip, port, "web-1", "web", ep_port,
		   ep);
}

static void fx_init(struct fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	strcpy(fx->dir, "/tmp/test_source.XXXXXX");
	CHECK(mkdtemp(fx->dir) != NULL);
	CHECK_INT(uv_loop_init(&fx->loop), 0);
	CHECK_INT(model_new(&fx->model), 0);
}

static void fx_new_source(struct fx *fx, const char *dir)
{
	CHECK_INT(msrc_new(&fx->loop, dir, fx->model, on_changed, fx, &fx->src), 0);
	/* Short periods keep the test quick; the burst test uses the defaults. */
	msrc_set_timing(fx->src, 20, 200, 1000);
}

static void fx_start(struct fx *fx)
{
	fx_new_source(fx, fx->dir);
	CHECK_INT(msrc_start(fx->src), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void fx_fini(struct fx *fx)
{
	if (fx->src) {
		msrc_close(fx->src, on_closed);
		uv_run(&fx->loop, UV_RUN_DEFAULT);
		CHECK(fx->closed);
	}
	CHECK_INT(uv_loop_close(&fx->loop), 0);
	model_free(fx->model);
	CHECK_INT(nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void on_timeout(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Runs the loop until the source reported `target` changes in all, or
 * until ms passed. Returns whether the target was reached. */
static bool run_until(struct fx *fx, int target, uint64_t ms)
{
	uv_timer_t t;
	bool expired = false;

	uv_timer_init(&fx->loop, &t);
	t.data = &expired;
	uv_timer_start(&t, on_timeout, ms, 0);
	while (fx->changes < target && !expired)
		uv_run(&fx->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	return fx->changes >= target;
}

static void run_for(struct fx *fx, uint64_t ms)
{
	run_until(fx, 1 << 30, ms);
}

static void wait_change(struct fx *fx)
{
	int want = fx->changes + 1;

	if (!run_until(fx, want, 3000)) {
		fprintf(stderr, "no change reported within 3 s (%d so far)\n", fx->changes);
		exit(1);
	}
}

/* Checks service default/name: cluster IP, port, and its single endpoint
 * (ep NULL: none). */
static void check_web(const struct fx *fx, const char *name, const char *ip, int port,
		      const char *ep, int ep_port)
{
	const struct model_service *svc = model_service_get(fx->model, "default", name);
	struct model_endpoint *eps = NULL;
	char buf[IP_ADDR_STRLEN];
	int n;

	if (!svc) {
		fprintf(stderr, "service default/%s is not in the model\n", name);
		exit(1);
	}
	CHECK_INT(svc->n_cluster_ips, 1);
	CHECK_STR(ip_addr_fmt(&svc->cluster_ips[0], buf), ip);
	CHECK_INT(svc->n_ports, 1);
	CHECK_INT(svc->ports[0].port, port);
	n = model_endpoints(fx->model, svc, &svc->ports[0], AF_INET, &eps);
	CHECK_INT(n, ep ? 1 : 0);
	if (ep) {
		CHECK_STR(ip_addr_fmt(&eps[0].addr, buf), ep);
		CHECK_INT(eps[0].port, ep_port);
	}
	free(eps);
}

static void check_absent(const struct fx *fx, const char *name)
{
	if (model_service_get(fx->model, "default", name)) {
		fprintf(stderr, "service default/%s should not be in the model\n", name);
		exit(1);
	}
}

/* Empties the dirty set, so that a test can tell whether a step changed
 * anything in the model. */
static void take_dirty(struct fx *fx)
{
	char **keys = NULL;
	int n = model_take_dirty(fx->model, &keys);

	CHECK(n >= 0);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

static void test_names(void)
{
	CHECK(msrc_name_is_manifest("web.yaml"));
	CHECK(msrc_name_is_manifest("web.yml"));
	CHECK(msrc_name_is_manifest("web.json"));
	CHECK(!msrc_name_is_manifest("web.yaml~"));
	CHECK(!msrc_name_is_manifest(".web.yaml"));
	CHECK(!msrc_name_is_manifest(".#web.yaml"));
	CHECK(!msrc_name_is_manifest("#web.yaml#"));
	CHECK(!msrc_name_is_manifest(".web.yaml.swp"));
	CHECK(!msrc_name_is_manifest("web.yaml.swp"));
	CHECK(!msrc_name_is_manifest("..data"));
	CHECK(!msrc_name_is_manifest("notes.txt"));
	CHECK(!msrc_name_is_manifest(".yaml"));
}

static void test_initial_load(void)
{
	struct fx fx;
	char sub[512];

	fx_init(&fx);
	write_web(&fx, "a.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	write_file(&fx, "b.json",
		   "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
		   "\"api\", \"namespace\": \"default\"}, \"spec\": {\"clusterIP\": \"10.96.0.20\", "
		   "\"ports\": [{\"name\": \"http\", \"port\": 443}]}}\n");
	/* None of these is read. */
	write_file(&fx, ".hidden.yaml", SVC_YAML, "hidden", "10.96.0.30", 80);
	write_file(&fx, "c.yaml~", SVC_YAML, "backup", "10.96.0.31", 80);
	write_file(&fx, ".#c.yaml", SVC_YAML, "lock", "10.96.0.32", 80);
	write_file(&fx, ".c.yaml.swp", SVC_YAML, "swap", "10.96.0.33", 80);
	write_file(&fx, "notes.txt", SVC_YAML, "notes", "10.96.0.34", 80);
	/* Nor are subdirectories (not recursive). */
	path_of(&fx, "sub.yaml", sub, sizeof(sub));
	CHECK_INT(mkdir(sub, 0755), 0);
	write_file(&fx, "sub.yaml/d.yaml", SVC_YAML, "nested", "10.96.0.35", 80);
	fx_start(&fx);

	CHECK_INT(fx.changes, 0);   /* not called for the initial load */
	CHECK_INT(msrc_file_count(fx.src), 2);
	CHECK_INT(msrc_object_count(fx.src), 3);
	CHECK_INT(model_service_count(fx.model), 2);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 8080);
	check_web(&fx, "api", "10.96.0.20", 443, NULL, 0);
	check_absent(&fx, "hidden");
	check_absent(&fx, "backup");
	check_absent(&fx, "lock");
	check_absent(&fx, "swap");
	check_absent(&fx, "notes");
	check_absent(&fx, "nested");
	fx_fini(&fx);
}

static void test_missing_dir(void)
{
	struct fx fx;
	char path[512];

	fx_init(&fx);
	path_of(&fx, "nope", path, sizeof(path));
	fx_new_source(&fx, path);
	CHECK_INT(msrc_start(fx.src), -ENOENT);
	write_file(&fx, "file.yaml", "x: 1\n");
	path_of(&fx, "file.yaml", path, sizeof(path));
	msrc_close(fx.src, on_closed);
	uv_run(&fx.loop, UV_RUN_DEFAULT);
	fx.src = NULL;
	fx_new_source(&fx, path);
	CHECK_INT(msrc_start(fx.src), -ENOTDIR);
	fx_fini(&fx);
}

static void test_change_and_remove(void)
{
	struct fx fx;

	fx_init(&fx);
	write_web(&fx, "a.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	write_file(&fx, "b.yml", SVC_YAML, "api", "10.96.0.20", 443);
	fx_start(&fx);
	check_web(&fx, "api", "10.96.0.20", 443, NULL, 0);

	/* Changed in place. */
	write_web(&fx, "a.yaml", "10.96.0.10", 81, "10.244.1.12", 9090);
	wait_change(&fx);
	check_web(&fx, "web", "10.96.0.10", 81, "10.244.1.12", 9090);

	/* The slice leaves the file: its endpoints go. */
	write_file(&fx, "a.yaml", SVC_YAML, "web", "10.96.0.10", 81);
	wait_change(&fx);
	check_web(&fx, "web", "10.96.0.10", 81, NULL, 0);
	CHECK_INT(msrc_object_count(fx.src), 2);

	/* A new file. */
	write_file(&fx, "c.yaml", SVC_YAML, "new", "10.96.0.40", 80);
	wait_change(&fx);
	check_web(&fx, "new", "10.96.0.40", 80, NULL, 0);

	/* Removed: its objects are deleted, the others stay. */
	remove_file(&fx, "b.yml");
	wait_change(&fx);
	check_absent(&fx, "api");
	check_web(&fx, "web", "10.96.0.10", 81, NULL, 0);
	CHECK_INT(msrc_file_count(fx.src), 2);
	fx_fini(&fx);
}

static void test_malformed(void)
{
	struct fx fx;

	fx_init(&fx);
	write_web(&fx, "a.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	write_file(&fx, "c.yaml", SVC_YAML, "extra", "10.96.0.50", 80);
	/* Broken from the start: nothing from it, the others load. */
	write_file(&fx, "z.yaml", "kind: Service\nmetadata: {name: [\n");
	fx_start(&fx);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 8080);
	check_web(&fx, "extra", "10.96.0.50", 80, NULL, 0);

	/* c.yaml breaks while d.yaml appears: d is served, c keeps what it had. */
	write_file(&fx, "c.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: extra\n"
				  "  namespace: default\nspec: {ports: [\n");
	write_file(&fx, "d.yaml", SVC_YAML, "fresh", "10.96.0.60", 80);
	wait_change(&fx);
	check_web(&fx, "fresh", "10.96.0.60", 80, NULL, 0);
	check_web(&fx, "extra", "10.96.0.50", 80, NULL, 0);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 8080);

	/* Fixed without the service: now it goes. */
	write_file(&fx, "c.yaml", SVC_YAML, "other", "10.96.0.51", 80);
	wait_change(&fx);
	check_absent(&fx, "extra");
	check_web(&fx, "other", "10.96.0.51", 80, NULL, 0);

	/* A bad object in a good file: the decoder skips it; the version
	 * the file provided before stays, its good neighbour is applied. */
	write_file(&fx, "a.yaml", SVC_YAML "---\n" SVC_YAML "---\n" SLICE_YAML, "web",
		   "10.96.0.10", 70000, "web2", "10.96.0.11", 80, "web-1", "web", 8080,
		   "10.244.1.11");
	wait_change(&fx);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 8080);
	check_web(&fx, "web2", "10.96.0.11", 80, NULL, 0);
	fx_fini(&fx);
}

/* A broken file is warned about once, not on every rescan or rewrite of
 * the same broken content. */
static void test_one_warning(void)
{
	char log_path[] = "/tmp/test_source.log.XXXXXX", line[4096];
	int log_fd, saved, warnings = 0;
	struct fx fx;
	FILE *f;

	fx_init(&fx);
	write_file(&fx, "a.yaml", SVC_YAML, "web", "10.96.0.10", 80);
	fx_start(&fx);

	log_fd = mkstemp(log_path);
	CHECK(log_fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	CHECK(saved >= 0);
	CHECK(dup2(log_fd, STDERR_FILENO) >= 0);

	write_file(&fx, "a.yaml", "kind: Service\nmetadata: {name: [\n");
	run_for(&fx, 300);
	/* The same broken content again (an event, a forced read), then
	 * periodic rescans. */
	write_file(&fx, "a.yaml", "kind: Service\nmetadata: {name: [\n");
	run_for(&fx, 1500);

	fflush(stderr);
	CHECK(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	f = fdopen(log_fd, "r");
	CHECK(f != NULL);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		fputs(line, stderr);
		if (strstr(line, "a.yaml: line "))
			warnings++;
	}
	fclose(f);
	unlink(log_path);
	CHECK_INT(warnings, 1);
	check_web(&fx, "web", "10.96.0.10", 80, NULL, 0);
	fx_fini(&fx);
}

static void test_rename(void)
{
	struct fx fx;

	fx_init(&fx);
	write_web(&fx, "a.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	fx_start(&fx);

	/* An editor's save: write a hidden temp file, rename it over. */
	write_web(&fx, ".a.yaml.tmp", "10.96.0.10", 80, "10.244.1.99", 8080);
	rename_file(&fx, ".a.yaml.tmp", "a.yaml");
	wait_change(&fx);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.99", 8080);

	/* Renamed into the directory's set of manifests. */
	write_file(&fx, "new.tmp", SVC_YAML, "moved", "10.96.0.70", 80);
	rename_file(&fx, "new.tmp", "new.yaml");
	wait_change(&fx);
	check_web(&fx, "moved", "10.96.0.70", 80, NULL, 0);

	/* Renamed to another manifest name: the objects never leave the
	 * model, so nothing is dirty afterwards. */
	take_dirty(&fx);
	rename_file(&fx, "a.yaml", "0-first.yaml");
	rename_file(&fx, "new.yaml", "zz-last.yaml");
	run_for(&fx, 300);
	CHECK_INT(model_dirty_count(fx.model), 0);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.99", 8080);
	check_web(&fx, "moved", "10.96.0.70", 80, NULL, 0);
	CHECK_INT(msrc_file_count(fx.src), 2);

	/* Renamed out of it (to a name that is not a manifest): deleted. */
	rename_file(&fx, "zz-last.yaml", "zz-last.yaml.bak");
	wait_change(&fx);
	check_absent(&fx, "moved");
	fx_fini(&fx);
}

static void test_duplicates(void)
{
	struct fx fx;

	fx_init(&fx);
	write_file(&fx, "a.yaml", SVC_YAML, "dup", "10.96.0.81", 80);
	write_file(&fx, "b.yaml", SVC_YAML, "dup", "10.96.0.82", 80);
	fx_start(&fx);
	/* The first file by name wins. */
	check_web(&fx, "dup", "10.96.0.81", 80, NULL, 0);
	CHECK_INT(msrc_object_count(fx.src), 1);

	/* b's version takes over when a stops defining it... */
	remove_file(&fx, "a.yaml");
	wait_change(&fx);
	check_web(&fx, "dup", "10.96.0.82", 80, NULL, 0);

	/* ...and the object goes only when no file defines it. */
	remove_file(&fx, "b.yaml");
	wait_change(&fx);
	check_absent(&fx, "dup");
	CHECK_INT(msrc_object_count(fx.src), 0);
	fx_fini(&fx);
}

static void test_burst(void)
{
	struct fx fx;
	int before;

	fx_init(&fx);
	write_web(&fx, "a.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	CHECK_INT(msrc_new(&fx.loop, fx.dir, fx.model, on_changed, &fx, &fx.src), 0);
	CHECK_INT(msrc_start(fx.src), 0);   /* default timing: 100 ms debounce */

	before = fx.changes;
	/* 50 writes 5 ms apart, each one a real change. */
	for (int i = 0; i < 50; i++) {
		write_web(&fx, "a.yaml", "10.96.0.10", 80, "10.244.1.11", 10000 + i);
		run_for(&fx, 5);
	}
	run_for(&fx, 1000);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 10049);
	fprintf(stderr, "50 writes gave %d change callbacks\n", fx.changes - before);
	CHECK(fx.changes - before >= 1);
	CHECK(fx.changes - before <= 5);
	fx_fini(&fx);
}

/* A ConfigMap volume: the files are symlinks through ..data, which the
 * kubelet swaps to a new timestamped directory by rename. */
static void test_configmap_swap(void)
{
	struct fx fx;
	char path[512];

	fx_init(&fx);
	path_of(&fx, "..2024_01_01", path, sizeof(path));
	CHECK_INT(mkdir(path, 0755), 0);
	write_web(&fx, "..2024_01_01/web.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	path_of(&fx, "..data", path, sizeof(path));
	CHECK_INT(symlink("..2024_01_01", path), 0);
	path_of(&fx, "web.yaml", path, sizeof(path));
	CHECK_INT(symlink("..data/web.yaml", path), 0);
	fx_start(&fx);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 8080);

	path_of(&fx, "..2024_01_02", path, sizeof(path));
	CHECK_INT(mkdir(path, 0755), 0);
	write_web(&fx, "..2024_01_02/web.yaml", "10.96.0.10", 80, "10.244.1.12", 8080);
	path_of(&fx, "..data_tmp", path, sizeof(path));
	CHECK_INT(symlink("..2024_01_02", path), 0);
	rename_file(&fx, "..data_tmp", "..data");
	remove_file(&fx, "..2024_01_01/web.yaml");
	path_of(&fx, "..2024_01_01", path, sizeof(path));
	CHECK_INT(rmdir(path), 0);
	wait_change(&fx);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.12", 8080);
	fx_fini(&fx);
}

/* The directory itself replaced (mv new dir): the periodic rescan finds
 * the new one and watches it. */
static void test_dir_replaced(void)
{
	struct fx fx;
	char watched[512], next[512], old[512];

	fx_init(&fx);
	path_of(&fx, "m", watched, sizeof(watched));
	path_of(&fx, "m.new", next, sizeof(next));
	path_of(&fx, "m.old", old, sizeof(old));
	CHECK_INT(mkdir(watched, 0755), 0);
	CHECK_INT(mkdir(next, 0755), 0);
	write_web(&fx, "m/a.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	write_web(&fx, "m.new/a.yaml", "10.96.0.10", 80, "10.244.1.13", 8080);
	fx_new_source(&fx, watched);
	CHECK_INT(msrc_start(fx.src), 0);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 8080);

	CHECK_INT(rename(watched, old), 0);
	CHECK_INT(rename(next, watched), 0);
	wait_change(&fx);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.13", 8080);

	/* And the new directory is watched: a change applies well before the
	 * next periodic rescan. */
	write_web(&fx, "m/a.yaml", "10.96.0.10", 80, "10.244.1.14", 8080);
	CHECK(run_until(&fx, fx.changes + 1, 700));
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.14", 8080);

	/* Gone altogether: everything served so far stays. */
	write_web(&fx, "m.old/a.yaml", "10.96.0.10", 80, "10.244.1.11", 8080);
	CHECK_INT(rename(watched, next), 0);
	run_for(&fx, 1300);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.14", 8080);
	/* Back: read again. */
	CHECK_INT(rename(old, watched), 0);
	wait_change(&fx);
	check_web(&fx, "web", "10.96.0.10", 80, "10.244.1.11", 8080);
	fx_fini(&fx);
}

/* ---- this node's Node ---- */

/* A Node with zone label %s, pod CIDR %s, InternalIP %s, and a heartbeat
 * time %s (which nftproxy does not read). */
#define NODE_YAML \
	"apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n  labels:\n" \
	"    topology.kubernetes.io/zone: %s\nspec:\n  podCIDRs: [\"%s\"]\nstatus:\n" \
	"  addresses:\n  - type: InternalIP\n    address: %s\n" \
	"  conditions:\n  - type: Ready\n    lastHeartbeatTime: \"%s\"\n"

static void write_node(const struct fx *fx, const char *file, const char *name, const char *ip)
{
	write_file(fx, file, NODE_YAML, name, "zone-a", "10.244.1.0/24", ip, "2026-01-01T00:00:00Z");
}

static void fx_start_as(struct fx *fx, const char *node_name)
{
	fx_new_source(fx, fx->dir);
	CHECK_INT(msrc_set_node_name(fx->src, node_name), 0);
	CHECK_INT(msrc_start(fx->src), 0);
}

/* The model's node is node-1 with InternalIP ip, or absent (ip NULL). */
static void check_node(const struct fx *fx, const char *ip)
{
	const struct model_node *n = model_node_get(fx->model);
	char buf[IP_ADDR_STRLEN];

	if (!ip) {
		if (n) {
			fprintf(stderr, "node %s should not be in the model\n", n->name);
			exit(1);
		}
		return;
	}
	if (!n) {
		fprintf(stderr, "node node-1 is not in the model\n");
		exit(1);
	}
	CHECK_STR(n->name, "node-1");
	CHECK_STR(kv_get(n->labels, n->n_labels, NODE_ZONE_LABEL), "zone-a");
	CHECK_INT(n->n_addrs, 1);
	CHECK_STR(ip_addr_fmt(&n->addrs[0], buf), ip);
	CHECK_INT(n->n_pod_cidrs, 1);
}

/* What the code under test writes to stderr between the two calls. */
struct capture {
	char path[64];
	int fd, saved;
};

static void capture_start(struct capture *c)
{
	strcpy(c->path, "/tmp/test_source.log.XXXXXX");
	c->fd = mkstemp(c->path);
	CHECK(c->fd >= 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	CHECK(c->saved >= 0);
	CHECK(dup2(c->fd, STDERR_FILENO) >= 0);
}

/* Stops capturing, echoes what was captured and counts the lines that
 * contain every one of the NULL-terminated strings. */
static int capture_stop(struct capture *c, const char *const *want)
{
	char line[4096];
	int n = 0;
	FILE *f;

	fflush(stderr);
	CHECK(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	f = fdopen(c->fd, "r");
	CHECK(f != NULL);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		bool all = true;

		fputs(line, stderr);
		for (size_t i = 0; want[i]; i++)
			all = all && strstr(line, want[i]);
		n += all;
	}
	fclose(f);
	unlink(c->path);
	return n;
}

static void test_node_applied(void)
{
	struct fx fx;
	int before;

	fx_init(&fx);
	write_file(&fx, "a.yaml", SVC_YAML "---\n" NODE_YAML, "web", "10.96.0.10", 80, "node-1",
		   "zone-a", "10.244.1.0/24", "192.0.2.1", "2026-01-01T00:00:00Z");
	fx_start_as(&fx, "node-1");
	CHECK_INT(fx.changes, 0);   /* not called for the initial load */
	check_node(&fx, "192.0.2.1");
	check_web(&fx, "web", "10.96.0.10", 80, NULL, 0);
	CHECK_INT(msrc_object_count(fx.src), 2);

	/* A new address: a change is reported though no service is dirty. */
	take_dirty(&fx);
	write_file(&fx, "a.yaml", SVC_YAML "---\n" NODE_YAML, "web", "10.96.0.10", 80, "node-1",
		   "zone-a", "10.244.1.0/24", "192.0.2.2", "2026-01-01T00:00:00Z");
	wait_change(&fx);
	check_node(&fx, "192.0.2.2");

	/* Only what the proxy does not read changed: nothing reported. */
	take_dirty(&fx);
	before = fx.changes;
	write_file(&fx, "a.yaml", SVC_YAML "---\n" NODE_YAML, "web", "10.96.0.10", 80, "node-1",
		   "zone-a", "10.244.1.0/24", "192.0.2.2", "2026-01-01T00:00:10Z");
	run_for(&fx, 300);
	CHECK_INT(fx.changes, before);
	check_node(&fx, "192.0.2.2");

	/* The file no longer has it: the model forgets it, the service stays. */
	write_file(&fx, "a.yaml", SVC_YAML, "web", "10.96.0.10", 80);
	wait_change(&fx);
	check_node(&fx, NULL);
	check_web(&fx, "web", "10.96.0.10", 80, NULL, 0);
	CHECK_INT(msrc_object_count(fx.src), 1);

	/* In a file of its own, which then goes away. */
	write_node(&fx, "node.yaml", "node-1", "192.0.2.3");
	wait_change(&fx);
	check_node(&fx, "192.0.2.3");
	remove_file(&fx, "node.yaml");
	wait_change(&fx);
	check_node(&fx, NULL);
	check_web(&fx, "web", "10.96.0.10", 80, NULL, 0);
	fx_fini(&fx);
}

static void test_node_other_ignored(void)
{
	static const char *const want[] = { "a.yaml", "node other", "ignoring", NULL };
	struct capture cap;
	struct fx fx;
	int before;

	fx_init(&fx);
	write_node(&fx, "a.yaml", "other", "192.0.2.9");
	log_verbosity = 2;
	capture_start(&cap);
	fx_start_as(&fx, "node-1");
	log_verbosity = getenv("TEST_VERBOSE") ? 4 : 0;
	CHECK_INT(capture_stop(&cap, want), 1);
	check_node(&fx, NULL);
	CHECK_INT(msrc_object_count(fx.src), 0);

	/* Its changes are not ours either. */
	take_dirty(&fx);
	before = fx.changes;
	write_node(&fx, "a.yaml", "other", "192.0.2.10");
	run_for(&fx, 300);
	CHECK_INT(fx.changes, before);
	check_node(&fx, NULL);

	/* Next to this node's, in the same file: only this one is taken. */
	write_file(&fx, "a.yaml", NODE_YAML "---\n" NODE_YAML, "other", "zone-b", "10.244.9.0/24",
		   "192.0.2.10", "2026-01-01T00:00:00Z", "node-1", "zone-a", "10.244.1.0/24",
		   "192.0.2.1", "2026-01-01T00:00:00Z");
	wait_change(&fx);
	check_node(&fx, "192.0.2.1");
	CHECK_INT(msrc_object_count(fx.src), 1);
	fx_fini(&fx);

	/* A source told no node name takes no Node. */
	fx_init(&fx);
	write_node(&fx, "a.yaml", "node-1", "192.0.2.1");
	fx_start(&fx);
	check_node(&fx, NULL);
	CHECK_INT(msrc_object_count(fx.src), 0);
	fx_fini(&fx);
}

static void test_node_bad_keeps(void)
{
	struct fx fx;
	int before;

	fx_init(&fx);
	write_node(&fx, "a.yaml", "node-1", "192.0.2.1");
	write_file(&fx, "b.yaml", SVC_YAML, "web", "10.96.0.10", 80);
	fx_start_as(&fx, "node-1");
	check_node(&fx, "192.0.2.1");

	/* A bad address: the Node is refused, the one served stays. */
	take_dirty(&fx);
	before = fx.changes;
	write_file(&fx, "a.yaml", NODE_YAML, "node-1", "zone-a", "10.244.1.0/24", "192.0.2.300",
		   "2026-01-01T00:00:00Z");
	run_for(&fx, 300);
	CHECK_INT(fx.changes, before);
	check_node(&fx, "192.0.2.1");
	CHECK_INT(msrc_object_count(fx.src), 2);

	/* So does a file that does not parse. */
	write_file(&fx, "a.yaml", "kind: Node\nmetadata: {name: [\n");
	run_for(&fx, 300);
	CHECK_INT(fx.changes, before);
	check_node(&fx, "192.0.2.1");

	/* Fixed: the new version is taken. */
	write_node(&fx, "a.yaml", "node-1", "192.0.2.2");
	wait_change(&fx);
	check_node(&fx, "192.0.2.2");

	/* A bad Node that was never good is simply not there. */
	remove_file(&fx, "a.yaml");
	wait_change(&fx);
	check_node(&fx, NULL);
	write_file(&fx, "c.yaml", NODE_YAML, "node-1", "zone-a", "10.244.1", "192.0.2.1",
		   "2026-01-01T00:00:00Z");
	run_for(&fx, 300);
	check_node(&fx, NULL);
	check_web(&fx, "web", "10.96.0.10", 80, NULL, 0);
	fx_fini(&fx);
}

/* Defined by two files: the first keeps it, the other takes over. */
static void test_node_duplicates(void)
{
	struct fx fx;

	fx_init(&fx);
	write_node(&fx, "a.yaml", "node-1", "192.0.2.1");
	write_node(&fx, "b.yaml", "node-1", "192.0.2.2");
	fx_start_as(&fx, "node-1");
	check_node(&fx, "192.0.2.1");
	CHECK_INT(msrc_object_count(fx.src), 1);

	/* Twice in one file: the first definition. */
	write_file(&fx, "b.yaml", NODE_YAML "---\n" NODE_YAML, "node-1", "zone-a", "10.244.1.0/24",
		   "192.0.2.3", "2026-01-01T00:00:00Z", "node-1", "zone-a", "10.244.1.0/24",
		   "192.0.2.4", "2026-01-01T00:00:00Z");
	run_for(&fx, 300);
	check_node(&fx, "192.0.2.1");

	remove_file(&fx, "a.yaml");
	wait_change(&fx);
	check_node(&fx, "192.0.2.3");
	remove_file(&fx, "b.yaml");
	wait_change(&fx);
	check_node(&fx, NULL);
	CHECK_INT(msrc_object_count(fx.src), 0);
	fx_fini(&fx);
}

int main(void)
{
	/* The messages the source logs are part of what a test shows. */
	log_verbosity = getenv("TEST_VERBOSE") ? 4 : 0;
	RUN(test_names);
	RUN(test_initial_load);
	RUN(test_missing_dir);
	RUN(test_change_and_remove);
	RUN(test_malformed);
	RUN(test_one_warning);
	RUN(test_rename);
	RUN(test_duplicates);
	RUN(test_burst);
	RUN(test_configmap_swap);
	RUN(test_dir_replaced);
	RUN(test_node_applied);
	RUN(test_node_other_ignored);
	RUN(test_node_bad_keeps);
	RUN(test_node_duplicates);
	return 0;
}
