/* lib/kube/reflector: lists and watch streams fed by hand (no HTTP), into
 * a real model through the real decoders. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "lib/kube/decode.h"
#include "lib/kube/reflector.h"
#include "lib/model/store.h"
#include "tests/unit/check.h"

static struct model *M;
static int changed_calls, synced_calls;

static int t_upsert(void *ud, const struct doc *obj, char *err, size_t err_size)
{
	struct model_service *svc;
	int r = kdec_service_from_doc(obj, &svc, err, err_size);

	return r < 0 ? r : model_service_upsert(M, svc);
}

static int t_remove(void *ud, const char *ns, const char *name)
{
	CHECK_INT(model_service_delete(M, ns, name), 0);
	return 0;
}

static void t_changed(void *ud)
{
	changed_calls++;
}

static void t_synced(void *ud)
{
	synced_calls++;
}

static const struct krefl_ops ops = { t_upsert, t_remove, t_changed, t_synced };
static const struct krefl_config cfg = { .resource = "services", .path = "/api/v1/services" };

/* A Service as the API sends it in a list (no kind) or an event. */
static char *svc_json(const char *ns, const char *name, const char *ip, int port, int rv)
{
	char *s;

	CHECK(asprintf(&s, "{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\","
		       "\"resourceVersion\":\"%d\"},\"spec\":{\"clusterIP\":\"%s\","
		       "\"ports\":[{\"name\":\"http\",\"port\":%d,\"protocol\":\"TCP\"}]}}",
		       ns, name, rv, ip, port) > 0);
	return s;
}

static char *event(const char *type, char *obj)
{
	char *s;

	CHECK(asprintf(&s, "{\"type\":\"%s\",\"object\":%s}\n", type, obj) > 0);
	free(obj);
	return s;
}

static void drop_dirty(void)
{
	char **keys;
	int n = model_take_dirty(M, &keys);

	CHECK(n >= 0);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

static int dirty_has(const char *key)
{
	char **keys;
	int n = model_take_dirty(M, &keys), found = 0;

	for (int i = 0; i < n; i++) {
		if (strcmp(keys[i], key) == 0)
			found = 1;
		/* Put them back: the caller may ask again. */
		model_mark_dirty(M, keys[i]);
		free(keys[i]);
	}
	free(keys);
	return found;
}

static uint16_t port_of(const char *ns, const char *name)
{
	const struct model_service *svc = model_service_get(M, ns, name);

	CHECK(svc && svc->n_ports == 1);
	return svc->ports[0].port;
}

/* Feeds s one byte at a time: events cut anywhere must decode the same. */
static int feed_bytewise(struct krefl *r, const char *s)
{
	for (size_t i = 0; s[i]; i++) {
		int q = krefl_test_watch_feed(r, s + i, 1);

		if (q < 0)
			return q;
	}
	return 0;
}

static void test_list_watch_relist(void)
{
	uv_loop_t loop;
	struct krefl *r;
	char *a = svc_json("shop", "a", "10.96.0.1", 80, 10);
	char *b = svc_json("shop", "b", "10.96.0.2", 80, 11);
	char *c = svc_json("shop", "c", "10.96.0.3", 80, 12);
	char *page1, *page2, *ev, *s;

	CHECK_INT(uv_loop_init(&loop), 0);
	CHECK_INT(model_new(&M), 0);
	CHECK_INT(krefl_new(&loop, NULL, &cfg, &ops, NULL, &r), 0);

	/* Two pages: the second is asked for with the first's continue token. */
	CHECK(asprintf(&page1, "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"20\","
		       "\"continue\":\"tok\"},\"items\":[%s,%s]}", a, b) > 0);
	CHECK(asprintf(&page2, "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"20\"},"
		       "\"items\":[%s]}", c) > 0);
	CHECK_INT(krefl_test_list_page(r, page1, strlen(page1), 200), 1);
	CHECK(!krefl_synced(r));
	CHECK_INT(synced_calls, 0);
	CHECK_INT(krefl_test_list_page(r, page2, strlen(page2), 200), 0);
	CHECK(krefl_synced(r));
	CHECK_INT(synced_calls, 1);
	CHECK_INT(krefl_count(r), 3);
	CHECK_INT(model_service_count(M), 3);
	CHECK_STR(krefl_resource_version(r), "20");
	drop_dirty();

	/* Watch: several events, one byte at a time. */
	krefl_test_watch_begin(r);
	s = NULL;
	{
		char *e1 = event("ADDED", svc_json("shop", "d", "10.96.0.4", 80, 21));
		char *e2 = event("MODIFIED", svc_json("shop", "a", "10.96.0.1", 8080, 22));
		char *e3 = event("DELETED", svc_json("shop", "b", "10.96.0.2", 80, 23));

		CHECK(asprintf(&s, "%s%s  \n%s{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\","
			       "\"metadata\":{\"resourceVersion\":\"30\"}}}\n", e1, e2, e3) > 0);
		free(e1);
		free(e2);
		free(e3);
	}
	changed_calls = 0;
	CHECK_INT(feed_bytewise(r, s), 0);
	free(s);
	CHECK(changed_calls >= 3);
	CHECK(model_service_get(M, "shop", "d"));
	CHECK(!model_service_get(M, "shop", "b"));
	CHECK_INT(port_of("shop", "a"), 8080);
	CHECK_INT(krefl_count(r), 3);
	CHECK_STR(krefl_resource_version(r), "30");
	CHECK_INT(krefl_stats(r)->events, 3);

	/* An invalid version of a known object: skipped, the good one stays. */
	ev = event("MODIFIED", strdup("{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"shop\","
				      "\"name\":\"a\",\"resourceVersion\":\"31\"},\"spec\":"
				      "{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":\"x\"}]}}"));
	CHECK_INT(krefl_test_watch_feed(r, ev, strlen(ev)), 0);
	free(ev);
	CHECK_INT(port_of("shop", "a"), 8080);
	CHECK_INT(krefl_stats(r)->rejected, 1);
	CHECK_STR(krefl_resource_version(r), "31");

	/* ERROR 410: the watch stops and asks for a relist. */
	ev = strdup("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
		    "\"reason\":\"Expired\",\"message\":\"too old resource version\"}}\n");
	CHECK(krefl_test_watch_feed(r, ev, strlen(ev)) < 0);
	CHECK(krefl_test_wants_relist(r));
	free(ev);

	/* The relist sees a (unchanged), c and e: d was deleted while nobody
	 * watched and goes; a marks nothing dirty; the still-invalid a in the
	 * list would not delete the good one either (tested below). */
	drop_dirty();
	{
		char *a2 = svc_json("shop", "a", "10.96.0.1", 8080, 22);
		char *c2 = svc_json("shop", "c", "10.96.0.3", 80, 12);
		char *e = svc_json("shop", "e", "10.96.0.5", 80, 40);

		CHECK(asprintf(&s, "{\"metadata\":{\"resourceVersion\":\"41\"},\"items\":[%s,%s,%s]}",
			       a2, c2, e) > 0);
		free(a2);
		free(c2);
		free(e);
	}
	CHECK_INT(krefl_test_list_page(r, s, strlen(s), 200), 0);
	free(s);
	CHECK(!model_service_get(M, "shop", "d"));
	CHECK(model_service_get(M, "shop", "e"));
	CHECK_INT(model_service_count(M), 3);
	CHECK(dirty_has("shop/d"));
	CHECK(dirty_has("shop/e"));
	CHECK(!dirty_has("shop/a"));
	CHECK(!dirty_has("shop/c"));
	CHECK_INT(synced_calls, 1);
	CHECK_STR(krefl_resource_version(r), "41");

	/* A relist in which a known object does not decode keeps it. */
	CHECK(asprintf(&s, "{\"metadata\":{\"resourceVersion\":\"42\"},\"items\":["
		       "{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a\"},\"spec\":"
		       "{\"clusterIP\":\"nope\"}}]}") > 0);
	CHECK_INT(krefl_test_list_page(r, s, strlen(s), 200), 0);
	free(s);
	CHECK(model_service_get(M, "shop", "a"));
	CHECK(!model_service_get(M, "shop", "c"));
	CHECK(!model_service_get(M, "shop", "e"));

	/* Not JSON: the stream is given up (and watched again by the caller). */
	krefl_test_watch_begin(r);
	ev = strdup("{\"type\":\"MODIFIED\",\"object\":{\"kind\":]]]\n");
	CHECK_INT(krefl_test_watch_feed(r, ev, strlen(ev)), -EBADMSG);
	free(ev);

	/* A list answered with an error status is not a list. */
	CHECK(krefl_test_list_page(r, "", 0, 500) < 0);
	CHECK(model_service_get(M, "shop", "a"));

	free(a);
	free(b);
	free(c);
	free(page1);
	free(page2);
	krefl_close(r, NULL, NULL);
	CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
	CHECK_INT(uv_loop_close(&loop), 0);
	model_free(M);
}

/* A continue token that expired: the list starts again from the top. */
static void test_continue_expired(void)
{
	uv_loop_t loop;
	struct krefl *r;
	char *page1, *a = svc_json("x", "a", "10.96.1.1", 80, 1);

	CHECK_INT(uv_loop_init(&loop), 0);
	CHECK_INT(model_new(&M), 0);
	synced_calls = 0;
	CHECK_INT(krefl_new(&loop, NULL, &cfg, &ops, NULL, &r), 0);
	CHECK(asprintf(&page1, "{\"metadata\":{\"resourceVersion\":\"5\",\"continue\":\"t\"},"
		       "\"items\":[%s]}", a) > 0);
	CHECK_INT(krefl_test_list_page(r, page1, strlen(page1), 200), 1);
	CHECK_INT(krefl_test_list_page(r, "", 0, 410), -ESTALE);
	CHECK(!krefl_synced(r));
	/* The restarted list no longer has a: it must not survive it. */
	CHECK_INT(krefl_test_list_page(r, "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[]}",
				       strlen("{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[]}"),
				       200), 0);
	CHECK(krefl_synced(r));
	CHECK_INT(model_service_count(M), 0);
	free(a);
	free(page1);
	krefl_close(r, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
	model_free(M);
}

int main(void)
{
	RUN(test_list_watch_relist);
	RUN(test_continue_expired);
	return 0;
}
