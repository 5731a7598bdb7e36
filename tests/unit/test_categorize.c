/* Which endpoints get which traffic (kube-proxy's CategorizeEndpoints),
 * without a kernel: policies, terminating endpoints, topology hints. */
#include <stdio.h>
#include <string.h>

#include "lib/model/categorize.h"
#include "tests/unit/check.h"

/* An endpoint: its last address byte, node, state ('r' ready, 't'
 * serving+terminating, 'n' not ready), hints. */
static struct model_endpoint ep(int last, const char *node, char state,
				const struct slice_endpoint *src)
{
	struct model_endpoint e = { .port = 8080, .node_name = node, .src = src };

	e.addr.family = AF_INET;
	e.addr.bytes[0] = 10;
	e.addr.bytes[3] = (uint8_t)last;
	e.ready = state == 'r';
	e.serving = state == 'r' || state == 't';
	e.terminating = state == 't';
	return e;
}

static int lasts(const struct model_endpoint *const *v, size_t n)
{
	int x = 0;

	for (size_t i = 0; i < n; i++)
		x = x * 10 + v[i]->addr.bytes[3];
	return x;
}

static void test_cluster_and_local(void)
{
	struct model_service svc = { .ns = "demo", .name = "web" };
	struct model_endpoint eps[] = { ep(1, "node-1", 'r', NULL), ep(2, "node-2", 'r', NULL),
					ep(3, "node-1", 't', NULL), ep(4, "node-2", 'n', NULL) };
	struct model_split s;

	/* ClusterIP, Cluster policy: ready ones, no local chain needed. */
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", NULL, &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 12);
	CHECK_INT(s.n_local, 0);
	CHECK(s.has_any);
	model_split_fini(&s);

	/* internalTrafficPolicy Local, not external: only local ones. */
	svc.internal_policy = SVC_POLICY_LOCAL;
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", NULL, &s), 0);
	CHECK_INT(s.n_cluster, 0);
	CHECK_INT(lasts(s.local, s.n_local), 1);
	model_split_fini(&s);
	/* On node-3 there is none: has_any stays true (drop, not reject). */
	CHECK_INT(model_categorize(&svc, eps, 4, "node-3", NULL, &s), 0);
	CHECK_INT(s.n_local, 0);
	CHECK(s.has_any);
	model_split_fini(&s);

	/* External with Local policy: both sets (the cluster one for the
	 * short-circuit of pod and node traffic). */
	svc.internal_policy = SVC_POLICY_CLUSTER;
	svc.external_policy = SVC_POLICY_LOCAL;
	svc.n_external_ips = 1;
	svc.external_ips = &eps[0].addr;
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", NULL, &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 12);
	CHECK_INT(lasts(s.local, s.n_local), 1);
	model_split_fini(&s);
}

static void test_terminating(void)
{
	struct model_service svc = { .ns = "demo", .name = "web",
				     .internal_policy = SVC_POLICY_LOCAL };
	struct model_endpoint eps[] = { ep(1, "node-1", 't', NULL), ep(2, "node-2", 'r', NULL),
					ep(3, "node-1", 'n', NULL) };
	struct model_endpoint none_ready[] = { ep(5, "node-2", 't', NULL),
					       ep(6, "node-2", 'n', NULL) };
	struct model_split s;

	/* Local: no local ready one, so the local serving terminating one. */
	CHECK_INT(model_categorize(&svc, eps, 3, "node-1", NULL, &s), 0);
	CHECK_INT(lasts(s.local, s.n_local), 1);
	model_split_fini(&s);
	/* Cluster: nothing ready anywhere, so the serving terminating ones. */
	svc.internal_policy = SVC_POLICY_CLUSTER;
	CHECK_INT(model_categorize(&svc, none_ready, 2, "node-1", NULL, &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 5);
	model_split_fini(&s);
	/* Nothing usable: has_any false (reject). */
	CHECK_INT(model_categorize(&svc, &none_ready[1], 1, "node-1", NULL, &s), 0);
	CHECK(!s.has_any);
	model_split_fini(&s);
}

static void test_topology(void)
{
	char *za[] = { "zone-a" }, *zb[] = { "zone-b" }, *n1[] = { "node-1" };
	struct slice_hints ha = { .zones = za, .n_zones = 1 }, hb = { .zones = zb, .n_zones = 1 };
	struct slice_hints hn = { .zones = za, .n_zones = 1, .nodes = n1, .n_nodes = 1 };
	struct slice_endpoint sa = { .hints = &ha }, sb = { .hints = &hb }, sn = { .hints = &hn },
			      bare = { 0 };
	struct model_service svc = { .ns = "demo", .name = "web" };
	struct model_endpoint eps[] = { ep(1, "node-1", 'r', &sa), ep(2, "node-2", 'r', &sb),
					ep(3, "node-3", 'r', &sa), ep(4, "node-4", 'n', &bare) };
	struct model_split s;

	/* Every ready endpoint hinted, some for zone-a: those only. */
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", "zone-a", &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 13);
	CHECK_STR(s.topology, "zone");
	model_split_fini(&s);
	/* No hint for this zone, or no zone: all of them. */
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", "zone-c", &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 123);
	model_split_fini(&s);
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", NULL, &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 123);
	model_split_fini(&s);
	/* Disabled by annotation: all. */
	svc.topology_disabled = true;
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", "zone-a", &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 123);
	model_split_fini(&s);
	svc.topology_disabled = false;
	/* One ready endpoint without hints: all. */
	eps[3] = ep(4, "node-4", 'r', &bare);
	CHECK_INT(model_categorize(&svc, eps, 4, "node-1", "zone-a", &s), 0);
	CHECK_INT(lasts(s.cluster, s.n_cluster), 1234);
	model_split_fini(&s);
	/* Node hints on every ready endpoint, one for this node: that one. */
	eps[1] = ep(2, "node-2", 'r', &sn);
	eps[0] = ep(1, "node-1", 'r', &sn);
	eps[2] = ep(3, "node-3", 'r', &sn);
	CHECK_INT(model_categorize(&svc, eps, 3, "node-1", "zone-a", &s), 0);
	CHECK_STR(s.topology, "node");
	CHECK_INT(lasts(s.cluster, s.n_cluster), 123); /* all hinted for node-1 */
	model_split_fini(&s);
	CHECK_INT(model_categorize(&svc, eps, 3, "node-9", "zone-a", &s), 0);
	CHECK_STR(s.topology, "zone"); /* not for node-9: zone hints instead */
	model_split_fini(&s);
}

int main(void)
{
	RUN(test_cluster_and_local);
	RUN(test_terminating);
	RUN(test_topology);
	return 0;
}
