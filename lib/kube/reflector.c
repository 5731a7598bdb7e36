/* The reflector's states: LIST (page after page) then WATCH; WAIT while a
 * backoff timer runs before the next request. The HTTP callbacks only
 * decode and apply; what to do next is decided when a request is done. */
#include "lib/kube/reflector.h"
#include "lib/kube/doc_json.h"
#include "lib/kube/http.h"
#include "lib/util/backoff.h"
#include "lib/util/hmap.h"
#include "lib/util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum krefl_state { KREFL_IDLE, KREFL_LIST, KREFL_WATCH, KREFL_WAIT };

/* What the bytes of a watch asked for, acted on when it is done. */
enum krefl_next {
	KREFL_NEXT_NONE,           /* the stream simply ended: watch again */
	KREFL_NEXT_RELIST,         /* ERROR 410: the resourceVersion is gone */
	KREFL_NEXT_BACKOFF,        /* a bad stream or an ERROR event: watch again later */
};

struct krefl_entry {
	uint64_t gen;              /* the list that last saw it */
	uint64_t rv;               /* resourceVersion of the version handed over, when
	                              decimal (see stale_event); else 0 */
	char key[];                /* "ns/name", or "name" when cluster-scoped */
};

struct krefl {
	uv_loop_t *loop;
	struct khttp *http;
	struct krefl_config cfg;
	const struct krefl_ops *ops;
	void *ud;

	uv_timer_t timer;          /* backoff before the next request */
	bool closing;
	void (*closed)(void *data);
	void *closed_data;

	enum krefl_state state;
	struct khttp_req *req;
	struct doc_json *parser;
	bool page_seen;            /* the list page decoded */
	char *page_continue;       /* its metadata.continue */
	char *page_rv;             /* its metadata.resourceVersion */
	char *cont;                /* continue token of the list in progress */
	enum krefl_next next;
	bool any_change;           /* something went to the model in this chunk */
	uint64_t watch_start;      /* uv_now at the start of the watch */
	size_t watch_events;       /* events (bookmarks too) in this watch */
	size_t watch_bytes;        /* bytes of this watch so far */
	unsigned expired_streak;   /* watches in a row that were too old before any event */
	uint64_t list_start;

	char *rv;                  /* last resourceVersion seen */
	uint64_t gen;              /* generation of the list in progress */
	struct hmap store;         /* key -> struct krefl_entry */
	bool synced;
	struct backoff bo;
	struct krefl_stats st;
};

static void start_list(struct krefl *r);
static void start_watch(struct krefl *r);

static const struct khttp_handler list_handler;
static const struct khttp_handler watch_handler;

/* ---- the store of keys ---- */

/* ns/name of obj as the model knows it: ns is "" for cluster-scoped
 * objects, and "default" for namespaced ones without a namespace, as the
 * decoders read them. */
static int object_identity(const struct krefl *r, const struct doc *obj, const char **ns,
			   const char **name)
{
	const struct doc *meta = doc_get(obj, "metadata");

	if (doc_get_string(meta, "name", name) < 0 || !**name)
		return -ENOENT;
	if (r->cfg.cluster_scoped)
		*ns = "";
	else if (doc_get_string(meta, "namespace", ns) < 0 || !**ns)
		*ns = "default";
	return 0;
}

static const char *server_name(const struct krefl *r)
{
	return r->http ? khttp_server(r->http) : "(no server)";
}

static void make_key(char *buf, size_t size, const char *ns, const char *name)
{
	if (*ns)
		snprintf(buf, size, "%s/%s", ns, name);
	else
		snprintf(buf, size, "%s", name);
}

static int store_mark(struct krefl *r, const char *key)
{
	struct krefl_entry *e = hmap_get(&r->store, key);
	size_t len;

	if (e) {
		e->gen = r->gen;
		return 0;
	}
	len = strlen(key) + 1;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	e->gen = r->gen;
	memcpy(e->key, key, len);
	if (hmap_put(&r->store, e->key, e, NULL) < 0) {
		free(e);
		return -ENOMEM;
	}
	return 0;
}

static void store_remove(struct krefl *r, const char *key)
{
	free(hmap_del(&r->store, key));
}

/* Returns 0, or -ENOMEM keeping the old value (for a resourceVersion that
 * is harmless: a stale one means at worst a 410 and a relist). */
static int set_str(char **dst, const char *s)
{
	char *c = s ? strdup(s) : NULL;

	if (s && !c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

/* metadata.resourceVersion as a number, or 0 when it is not a decimal
 * integer (the API calls it opaque; kube-apiserver's are etcd revisions). */
static uint64_t rv_number(const struct doc *obj)
{
	const char *rv;
	uint64_t v = 0;

	if (doc_get_string(doc_get(obj, "metadata"), "resourceVersion", &rv) < 0 || !*rv)
		return 0;
	for (; *rv; rv++) {
		if (*rv < '0' || *rv > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*rv - '0');
	}
	return v;
}

static void note_rv(struct krefl *r, const struct doc *obj)
{
	const char *rv;

	if (doc_get_string(doc_get(obj, "metadata"), "resourceVersion", &rv) == 0 && *rv)
		set_str(&r->rv, rv);
}

/* Hands obj to the owner and marks its key. `how` says where it came from
 * ("list", "ADDED event") for the message of a refused object. Returns 0
 * (also when the object was refused), or -ENOMEM: then the list page or the
 * watch stream fails and is tried again, rather than the object being lost
 * until it changes. */
static int apply_object(struct krefl *r, const struct doc *obj, const char *how)
{
	char err[512], key[512];
	const char *ns, *name;
	bool known;
	int q;

	err[0] = '\0';
	q = r->ops->upsert(r->ud, obj, err, sizeof(err));
	if (object_identity(r, obj, &ns, &name) < 0) {
		ns = "";
		name = NULL;
	}
	if (name)
		make_key(key, sizeof(key), ns, name);
	if (q == 0) {
		struct krefl_entry *e;

		r->any_change = true;
		if (name && store_mark(r, key) < 0) {
			log_error("%s: out of memory remembering %s", r->cfg.resource, key);
			return -ENOMEM;
		}
		if (name && (e = hmap_get(&r->store, key)))
			e->rv = rv_number(obj);
		return 0;
	}
	r->st.rejected++;
	known = name && hmap_get(&r->store, key);
	/* Keep serving the version that was good: a relist must not delete it. */
	if (known)
		store_mark(r, key);
	if (q == -ENOMEM) {
		log_error("%s: %s: out of memory decoding %s", r->cfg.resource, how,
			  name ? key : "an object");
		return q;
	}
	log_warn("%s %s from %s: %s; skipped, %s", r->cfg.resource, how, server_name(r),
		 err[0] ? err : "invalid object",
		 known ? "keeping the version served before" : "not served until it is fixed");
	return 0;
}

/* ---- list ---- */

static int on_list_doc(struct doc *root, void *data)
{
	struct krefl *r = data;
	const struct doc *meta = doc_get(root, "metadata"), *items = doc_get(root, "items");
	const char *s;
	int q = 0;

	if (r->page_seen || root->type != DOC_MAP) {
		doc_free(root);
		return -EBADMSG;
	}
	r->page_seen = true;
	free(r->page_continue);
	free(r->page_rv);
	r->page_continue = r->page_rv = NULL;
	/* Without its continue token a page would pass for the list's last,
	 * and the end of the list delete what the next pages hold. */
	if (doc_get_string(meta, "continue", &s) == 0 && *s)
		q = set_str(&r->page_continue, s);
	if (q == 0 && doc_get_string(meta, "resourceVersion", &s) == 0 && *s)
		q = set_str(&r->page_rv, s);
	if (q == 0 && items && items->type == DOC_SEQ)
		for (size_t i = 0; q == 0 && i < items->seq.n; i++)
			q = apply_object(r, items->seq.items[i], "list");
	if (q == 0)
		r->st.pages++;
	doc_free(root);
	return q;
}

static int on_list_data(void *ud, const void *buf, size_t len)
{
	struct krefl *r = ud;
	int q;

	r->any_change = false;
	q = doc_json_feed(r->parser, buf, len);
	if (r->any_change && r->ops->changed)
		r->ops->changed(r->ud);
	if (q < 0)
		log_warn("list %s from %s: %s; listing again", r->cfg.resource, server_name(r),
			 q == -EBADMSG || q == -E2BIG ? doc_json_error(r->parser) : strerror(-q));
	return q;
}

/* The list is complete: what the store has and this list did not see was
 * deleted while nobody watched. Returns 0, or -ENOMEM: the list failed (and
 * is listed again), the keys not deleted yet stay in the store. */
static int finish_list(struct krefl *r)
{
	const char *key;
	void *value;
	char **gone = NULL, *rv;
	size_t n = 0, cap = 0;
	int q = 0;

	/* What can fail comes first: a list that fails is listed again. */
	for (size_t it = 0; hmap_next(&r->store, &it, &key, &value);) {
		struct krefl_entry *e = value;

		if (e->gen != r->gen)
			cap++;
	}
	rv = strdup(r->page_rv ? r->page_rv : "");
	if (!rv || (cap && !(gone = calloc(cap, sizeof(*gone))))) {
		free(rv);
		return -ENOMEM;
	}
	for (size_t it = 0; hmap_next(&r->store, &it, &key, &value);) {
		struct krefl_entry *e = value;

		if (e->gen != r->gen)
			gone[n++] = e->key;
	}
	for (size_t i = 0; i < n; i++) {
		char *slash = strchr(gone[i], '/');
		char ns[256] = "";
		const char *name = gone[i];

		if (slash && (size_t)(slash - gone[i]) < sizeof(ns)) {
			memcpy(ns, gone[i], (size_t)(slash - gone[i]));
			ns[slash - gone[i]] = '\0';
			name = slash + 1;
		}
		log_v(2, "%s: %s is gone from the list; deleting it", r->cfg.resource, gone[i]);
		q = r->ops->remove(r->ud, ns, name);
		if (q < 0) {
			n = i; /* the store keeps it and the rest: the relist deletes them */
			break;
		}
		store_remove(r, gone[i]);
	}
	if (n && r->ops->changed)
		r->ops->changed(r->ud);
	free(gone);
	if (q < 0) {
		free(rv);
		return q;
	}
	free(r->rv);
	r->rv = rv;
	r->st.lists++;
	backoff_reset(&r->bo);
	log_v(r->synced ? 2 : 1, "listed %zu %s from %s at resourceVersion %s (%zu deleted) in "
	      "%llu ms", r->store.len, r->cfg.resource, server_name(r), r->rv ? r->rv : "",
	      n, (unsigned long long)(uv_now(r->loop) - r->list_start));
	if (!r->synced) {
		r->synced = true;
		if (r->ops->synced)
			r->ops->synced(r->ud);
	}
	return 0;
}

/* What follows a list page. Returns 1: ask for the next page; 0: the list
 * is complete (finished here); -ESTALE: the continue token expired, list
 * again from the first page; -EIO, -EBADMSG or -ENOMEM: the page failed. */
static int list_page_end(struct krefl *r, long status, const char *reason)
{
	int q = 0;

	if (status == 410 && r->cont) {
		/* The continue token outlived the server's history. */
		log_info("list %s: the continue token expired (%s); listing again from the start",
			 r->cfg.resource, reason ? reason : "410 Gone");
		free(r->cont);
		r->cont = NULL;
		return -ESTALE;
	}
	if (status < 200 || status >= 300)
		return -EIO;
	if (r->parser)
		q = doc_json_finish(r->parser);
	if (q < 0 || !r->page_seen) {
		log_warn("list %s from %s: %s; listing again", r->cfg.resource, server_name(r),
			 q < 0 ? doc_json_error(r->parser) : "the answer held no list");
		return -EBADMSG;
	}
	if (r->page_continue) {
		free(r->cont);
		r->cont = r->page_continue;
		r->page_continue = NULL;
		return 1;
	}
	free(r->cont);
	r->cont = NULL;
	return finish_list(r);
}

static void on_timer(uv_timer_t *t)
{
	struct krefl *r = t->data;

	if (r->state != KREFL_WAIT)
		return;
	if (r->rv && *r->rv && r->synced)
		start_watch(r);
	else
		start_list(r);
}

/* Waits before the next request. relist: list again rather than watch. */
static void retry_later(struct krefl *r, uint64_t at_least_ms, bool relist, const char *what)
{
	uint64_t delay = backoff_next(&r->bo);

	if (delay < at_least_ms)
		delay = at_least_ms;
	r->st.failures++;
	if (relist) {
		free(r->rv);
		r->rv = NULL;
	}
	log_warn("%s; the rules stay as they are, %s %s again in %.1fs", what,
		 relist || !r->synced ? "listing" : "watching", r->cfg.resource,
		 (double)delay / 1000.0);
	r->state = KREFL_WAIT;
	if (!r->closing)
		uv_timer_start(&r->timer, on_timer, delay, 0);
}

static void on_list_done(void *ud, const struct khttp_result *res)
{
	struct krefl *r = ud;
	char what[768];
	int q;

	r->req = NULL;
	if (res->aborted) {
		doc_json_free(r->parser);
		r->parser = NULL;
		retry_later(r, 0, true, "list aborted");
		return;
	}
	if (res->curl_code != 0) {
		snprintf(what, sizeof(what), "list %s from %s failed: %s", r->cfg.resource,
			 server_name(r), res->error ? res->error : "transfer failed");
		doc_json_free(r->parser);
		r->parser = NULL;
		retry_later(r, 0, true, what);
		return;
	}
	q = list_page_end(r, res->status, res->reason);
	doc_json_free(r->parser);
	r->parser = NULL;
	if (q == 1 || q == -ESTALE) {
		start_list(r);
		return;
	}
	if (q == 0) {
		start_watch(r);
		return;
	}
	snprintf(what, sizeof(what), "list %s from %s failed: %s", r->cfg.resource,
		 server_name(r), res->error ? res->error : q == -ENOMEM ? "out of memory" :
		 "the answer did not decode");
	if (res->status == 401 || res->status == 403)
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
			 " (check the credentials of the kubeconfig and the RBAC rules of the user)");
	retry_later(r, res->status == 429 ? res->retry_after_ms : 0, true, what);
}

static const struct khttp_handler list_handler = {
	.data = on_list_data,
	.done = on_list_done,
};

static int new_parser(struct krefl *r, doc_cb cb)
{
	doc_json_free(r->parser);
	r->parser = NULL;
	return doc_json_new(cb, r, &r->parser);
}

static void start_list(struct krefl *r)
{
	char path[4096], esc[2048];
	int q, n;

	if (r->closing)
		return;
	if (!r->cont) {
		/* A new list: every key it does not see is deleted at its end. */
		r->gen++;
		r->list_start = uv_now(r->loop);
	}
	r->state = KREFL_LIST;
	r->page_seen = false;
	q = new_parser(r, on_list_doc);
	if (q < 0)
		goto fail;
	n = snprintf(path, sizeof(path), "%s?limit=%zu%s%s%s%s", r->cfg.path, r->cfg.page_size,
		     r->cfg.selector ? "&" : "", r->cfg.selector ? r->cfg.selector : "",
		     r->cont ? "&continue=" : "",
		     r->cont ? (khttp_escape(r->cont, esc, sizeof(esc)) ?: "") : "");
	if (n < 0 || (size_t)n >= sizeof(path)) {
		q = -ENAMETOOLONG;
		goto fail;
	}
	log_v(r->cont ? 4 : 2, "list %s: GET %s", r->cfg.resource, path);
	if (!r->http)
		return;
	q = khttp_get(r->http, path, 120000, &list_handler, r, &r->req);
	if (q < 0)
		goto fail;
	return;
fail:
	retry_later(r, 0, true, "cannot start a list request: out of memory");
}

/* ---- watch ---- */

/* A watch event for an object held at a newer resourceVersion: a server
 * that replays or reorders. kube-proxy's informers apply events in stream
 * order; serving the older version would contradict what the server holds,
 * so the event is logged and skipped, and the watch's resourceVersion stays
 * at the newer one. Only when both versions are decimal; an equal one (a
 * duplicate) is applied, which changes nothing. */
static bool stale_event(struct krefl *r, const struct doc *obj, const char *type)
{
	const struct krefl_entry *e;
	const char *ns, *name;
	char key[512];
	uint64_t rv = rv_number(obj);

	if (!rv || object_identity(r, obj, &ns, &name) < 0)
		return false;
	make_key(key, sizeof(key), ns, name);
	e = hmap_get(&r->store, key);
	if (!e || !e->rv || rv >= e->rv)
		return false;
	log_warn("watch %s from %s: %s %s %s at resourceVersion %llu is older than the version "
		 "held (%llu); skipped", r->cfg.resource, server_name(r), type,
		 r->cfg.kind ? r->cfg.kind : "object", key, (unsigned long long)rv,
		 (unsigned long long)e->rv);
	return true;
}

/* An object of another kind than the watch's (client-go: "unexpected watch
 * event object type"): logged and skipped, the resourceVersion unchanged. */
static bool wrong_kind(struct krefl *r, const struct doc *obj)
{
	const char *kind, *ns, *name;
	char key[512] = "(no name)";

	if (!r->cfg.kind || doc_get_string(obj, "kind", &kind) < 0 || !*kind ||
	    strcmp(kind, r->cfg.kind) == 0)
		return false;
	if (object_identity(r, obj, &ns, &name) == 0)
		make_key(key, sizeof(key), ns, name);
	log_warn("watch %s from %s: %.64s %s: unexpected kind (this watch is for %s); skipped",
		 r->cfg.resource, server_name(r), kind, key, r->cfg.kind);
	return true;
}

static int watch_event(struct krefl *r, struct doc *ev)
{
	const struct doc *obj = doc_get(ev, "object");
	const char *type = NULL, *ns, *name;
	char key[512];
	int64_t code = 0;

	r->watch_events++;
	if (doc_get_string(ev, "type", &type) < 0 || !obj || obj->type != DOC_MAP) {
		log_warn("watch %s: an event without a type or an object; skipped", r->cfg.resource);
		return 0;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		r->expired_streak = 0;
		note_rv(r, obj);
		log_v(5, "watch %s: bookmark at resourceVersion %s", r->cfg.resource, r->rv);
		return 0;
	}
	if (strcmp(type, "ERROR") == 0) {
		const char *msg = "";

		doc_get_int(obj, "code", &code);
		doc_get_string(obj, "message", &msg);
		if (code == 410) {
			log_info("watch %s: resourceVersion %s is too old (%s); listing again",
				 r->cfg.resource, r->rv ? r->rv : "", msg);
			r->next = KREFL_NEXT_RELIST;
		} else {
			log_warn("watch %s from %s: ERROR event, code %lld: %s", r->cfg.resource,
				 server_name(r), (long long)code, msg);
			r->next = KREFL_NEXT_BACKOFF;
		}
		return -ECANCELED;
	}
	r->st.events++;
	r->expired_streak = 0;
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0 ||
	    strcmp(type, "DELETED") == 0) {
		if (wrong_kind(r, obj) || stale_event(r, obj, type))
			return 0;
	}
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		log_v(4, "watch %s: %s %s", r->cfg.resource, type,
		      object_identity(r, obj, &ns, &name) == 0 ? name : "(no name)");
		/* Failed, the event is not noted: the watch again from the
		 * last resourceVersion replays it. */
		int q = apply_object(r, obj, strcmp(type, "ADDED") == 0 ? "ADDED event" :
					     "MODIFIED event");

		if (q < 0)
			return q;
	} else if (strcmp(type, "DELETED") == 0) {
		if (object_identity(r, obj, &ns, &name) < 0) {
			log_warn("watch %s: a DELETED event for an object without a name; skipped",
				 r->cfg.resource);
		} else {
			make_key(key, sizeof(key), ns, name);
			log_v(4, "watch %s: DELETED %s", r->cfg.resource, key);
			if (hmap_get(&r->store, key)) {
				int q = r->ops->remove(r->ud, ns, name);

				if (q < 0)
					return q;
				store_remove(r, key);
				r->any_change = true;
			}
		}
	} else {
		log_warn("watch %s: unknown event type \"%s\"; skipped", r->cfg.resource, type);
	}
	note_rv(r, obj);
	return 0;
}

static int on_watch_doc(struct doc *root, void *data)
{
	struct krefl *r = data;
	int q = root->type == DOC_MAP ? watch_event(r, root) : 0;

	doc_free(root);
	return q;
}

static int on_watch_data(void *ud, const void *buf, size_t len)
{
	struct krefl *r = ud;
	int q;

	if (!r->watch_bytes && r->req)
		log_v(2, "watch %s: streaming from %s over %s from resourceVersion %s",
		      r->cfg.resource, server_name(r), khttp_protocol(r->req), r->rv ? r->rv : "");
	r->watch_bytes += len;
	r->any_change = false;
	q = doc_json_feed(r->parser, buf, len);
	if (r->any_change && r->ops->changed)
		r->ops->changed(r->ud);
	if (q < 0 && q != -ECANCELED) {
		log_warn("watch %s from %s: malformed event: %s; watching again from "
			 "resourceVersion %s", r->cfg.resource, server_name(r),
			 q == -ENOMEM ? "out of memory" : doc_json_error(r->parser),
			 r->rv ? r->rv : "");
		r->next = KREFL_NEXT_BACKOFF;
	}
	if (q == 0 && r->watch_events)
		backoff_reset(&r->bo);
	return q;
}

static void on_watch_done(void *ud, const struct khttp_result *res)
{
	struct krefl *r = ud;
	enum krefl_next next = r->next;
	uint64_t lasted = uv_now(r->loop) - r->watch_start;
	char what[768];

	r->req = NULL;
	/* A stream that ends cleanly inside an event: that event never came
	 * (it is replayed from the resourceVersion if it was real). */
	if (next == KREFL_NEXT_NONE && !res->curl_code && !res->aborted && r->parser &&
	    res->status >= 200 && res->status < 300 && doc_json_finish(r->parser) < 0) {
		log_warn("watch %s from %s ended inside an event (%s); watching again from "
			 "resourceVersion %s", r->cfg.resource, server_name(r),
			 doc_json_error(r->parser), r->rv ? r->rv : "");
		next = KREFL_NEXT_BACKOFF;
	}
	doc_json_free(r->parser);
	r->parser = NULL;
	r->next = KREFL_NEXT_NONE;
	if (next == KREFL_NEXT_RELIST || res->status == 410) {
		r->st.relists_410++;
		/* The first relist is at once, to be stale for no longer than
		 * needed; a server that expires the version its own list just
		 * gave gets the backoff instead of a busy loop. */
		if (r->expired_streak++ > 0) {
			snprintf(what, sizeof(what), "watch %s from %s: the resourceVersion of a "
				 "fresh list is already too old", r->cfg.resource, server_name(r));
			retry_later(r, 0, true, what);
			return;
		}
		free(r->rv);
		r->rv = NULL;
		start_list(r);
		return;
	}
	if (next == KREFL_NEXT_BACKOFF) {
		snprintf(what, sizeof(what), "watch %s from %s stopped", r->cfg.resource,
			 server_name(r));
		retry_later(r, 0, false, what);
		return;
	}
	if (res->status && (res->status < 200 || res->status >= 300)) {
		snprintf(what, sizeof(what), "watch %s from %s failed: %s", r->cfg.resource,
			 server_name(r), res->error ? res->error : "HTTP error");
		retry_later(r, res->status == 429 ? res->retry_after_ms : 0, false, what);
		return;
	}
	if (res->curl_code != 0) {
		snprintf(what, sizeof(what), "watch %s from %s broke after %llu ms and %zu events: %s",
			 r->cfg.resource, server_name(r), (unsigned long long)lasted,
			 r->watch_events, res->error ? res->error : "transfer failed");
		retry_later(r, 0, false, what);
		return;
	}
	/* The server ended the watch (its timeout): go on from where it was.
	 * One that ends at once with nothing in it is not a healthy server. */
	if (!r->watch_events && lasted < 1000) {
		snprintf(what, sizeof(what), "watch %s from %s ended at once with no event",
			 r->cfg.resource, server_name(r));
		retry_later(r, 0, false, what);
		return;
	}
	log_v(3, "watch %s: the server ended it after %llu ms and %zu events; watching again "
	      "from resourceVersion %s", r->cfg.resource, (unsigned long long)lasted,
	      r->watch_events, r->rv ? r->rv : "");
	start_watch(r);
}

static const struct khttp_handler watch_handler = {
	.data = on_watch_data,
	.done = on_watch_done,
};

static unsigned watch_timeout(const struct krefl *r)
{
	uint32_t x = 0;

	if (r->cfg.watch_timeout_s)
		return r->cfg.watch_timeout_s;
	/* client-go: between 5 and 10 minutes, so that watches of many clients
	 * do not all end together. */
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
		x = 0;
	return 300 + x % 300;
}

static void start_watch(struct krefl *r)
{
	char path[4096], esc[256];
	unsigned timeout = watch_timeout(r);
	int q, n;

	if (r->closing)
		return;
	r->state = KREFL_WATCH;
	r->next = KREFL_NEXT_NONE;
	r->watch_events = 0;
	r->watch_bytes = 0;
	r->watch_start = uv_now(r->loop);
	q = new_parser(r, on_watch_doc);
	if (q < 0)
		goto fail;
	n = snprintf(path, sizeof(path),
		     "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s%s",
		     r->cfg.path, khttp_escape(r->rv ? r->rv : "", esc, sizeof(esc)) ?: "",
		     timeout, r->cfg.selector ? "&" : "", r->cfg.selector ? r->cfg.selector : "");
	if (n < 0 || (size_t)n >= sizeof(path))
		goto fail;
	r->st.watches++;
	log_v(3, "watch %s: GET %s", r->cfg.resource, path);
	if (!r->http)
		return;
	/* The transfer ends on the server's timeout; ours is a safety net. */
	q = khttp_get(r->http, path, (uint64_t)(timeout + 60) * 1000, &watch_handler, r, &r->req);
	if (q < 0)
		goto fail;
	return;
fail:
	retry_later(r, 0, false, "cannot start a watch request");
}

/* ---- life cycle ---- */

int krefl_new(uv_loop_t *loop, struct khttp *http, const struct krefl_config *cfg,
	      const struct krefl_ops *ops, void *ud, struct krefl **out)
{
	struct krefl *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->http = http;
	r->cfg = *cfg;
	if (!r->cfg.page_size)
		r->cfg.page_size = KREFL_PAGE_SIZE;
	r->ops = ops;
	r->ud = ud;
	r->bo.min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : KREFL_BACKOFF_MIN_MS;
	r->bo.max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : KREFL_BACKOFF_MAX_MS;
	hmap_init(&r->store);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	*out = r;
	return 0;
}

void krefl_start(struct krefl *r)
{
	if (r->state == KREFL_IDLE)
		start_list(r);
}

static void krefl_free(struct krefl *r)
{
	const char *key;
	void *value;

	for (size_t it = 0; hmap_next(&r->store, &it, &key, &value);)
		free(value);
	hmap_fini(&r->store);
	doc_json_free(r->parser);
	free(r->page_continue);
	free(r->page_rv);
	free(r->cont);
	free(r->rv);
	free(r);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct krefl *r = h->data;
	void (*closed)(void *) = r->closed;
	void *data = r->closed_data;

	krefl_free(r);
	if (closed)
		closed(data);
}

void krefl_close(struct krefl *r, void (*closed)(void *data), void *data)
{
	if (!r || r->closing)
		return;
	r->closing = true;
	r->closed = closed;
	r->closed_data = data;
	khttp_cancel(r->req);
	r->req = NULL;
	uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

bool krefl_synced(const struct krefl *r)
{
	return r->synced;
}

const char *krefl_resource_version(const struct krefl *r)
{
	return r->rv ? r->rv : "";
}

size_t krefl_count(const struct krefl *r)
{
	return r->store.len;
}

const struct krefl_stats *krefl_stats(const struct krefl *r)
{
	return &r->st;
}

/* ---- unit-test entry points ---- */

int krefl_test_list_page(struct krefl *r, const void *buf, size_t len, long status)
{
	int q;

	if (r->state != KREFL_LIST)
		start_list(r);
	if (!r->parser)
		return -ENOMEM; /* start_list failed: it waits to retry */
	q = len ? on_list_data(r, buf, len) : 0;
	if (q < 0)
		return q;
	q = list_page_end(r, status, NULL);
	doc_json_free(r->parser);
	r->parser = NULL;
	if (q == 1 || q == -ESTALE)
		start_list(r);
	else if (q == 0)
		r->state = KREFL_WATCH;
	return q;
}

int krefl_test_list_feed(struct krefl *r, const void *buf, size_t len)
{
	if (r->state != KREFL_LIST)
		start_list(r);
	if (!r->parser)
		return -ENOMEM;
	return on_list_data(r, buf, len);
}

void krefl_test_list_fail(struct krefl *r)
{
	doc_json_free(r->parser);
	r->parser = NULL;
	retry_later(r, 0, true, "list failed (test)");
}

void krefl_test_watch_begin(struct krefl *r)
{
	start_watch(r);
}

int krefl_test_watch_feed(struct krefl *r, const void *buf, size_t len)
{
	if (!r->parser)
		return -ENOMEM; /* start_watch failed: it waits to retry */
	return on_watch_data(r, buf, len);
}

bool krefl_test_wants_relist(const struct krefl *r)
{
	return r->next == KREFL_NEXT_RELIST;
}
