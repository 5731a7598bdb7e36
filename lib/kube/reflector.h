/* One resource kept in step with the API server, as client-go's reflector
 * does: LIST it in pages (limit/continue), then WATCH from the list's
 * resourceVersion with bookmarks, and keep a store of the keys it has
 * handed to its owner so that a relist can tell what was deleted
 * meanwhile.
 *
 *   list (pages) ──▶ watch ──▶ server ends it ──▶ watch from the last RV
 *        ▲              │ 410 Gone / ERROR 410
 *        └──────────────┘
 *
 * A failed request (refused, reset, TLS, 5xx, 429) is retried with capped
 * exponential backoff and jitter; what the owner was told stays as it is
 * meanwhile. An object that does not decode is logged and skipped, and the
 * version the owner has keeps being served. A watch event of another kind
 * than the watch's, or older (by a decimal resourceVersion) than the version
 * held, is logged and skipped too; a stream that ends inside an event is
 * watched again with backoff. Nothing is buffered whole: the JSON of a list
 * page or a watch stream is decoded as it arrives.
 *
 * All calls run on the loop; nothing is thread-safe. */
#ifndef NFTPROXY_KUBE_REFLECTOR_H
#define NFTPROXY_KUBE_REFLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "lib/kube/doc.h"

struct khttp;
struct krefl;

#define KREFL_PAGE_SIZE 500
#define KREFL_BACKOFF_MIN_MS 1000
#define KREFL_BACKOFF_MAX_MS 30000

struct krefl_ops {
	/* Decodes obj and hands it to the model. Returns 0 when stored,
	 * -EINVAL when the object is refused (the reason in err, naming the
	 * object and the field), or -ENOMEM. */
	int (*upsert)(void *ud, const struct doc *obj, char *err, size_t err_size);
	/* ns/name is gone (ns is "" for cluster-scoped resources). Returns 0,
	 * or -ENOMEM: the reflector keeps the key and tries again (the list or
	 * the watch fails). */
	int (*remove)(void *ud, const char *ns, const char *name);
	/* Some objects went to the model (a list page, a chunk of events). */
	void (*changed)(void *ud);
	/* The first complete list is in the model. May be NULL. */
	void (*synced)(void *ud);
};

struct krefl_config {
	const char *resource;      /* "services": for messages */
	const char *kind;          /* "Service": watch events of another kind are
	                              skipped; NULL: not checked */
	const char *path;          /* "/api/v1/services" */
	const char *selector;      /* "labelSelector=..." already escaped, or NULL */
	bool cluster_scoped;       /* Nodes; else an absent namespace is "default", as the
	                              decoders read it, so the keys match the model's */
	size_t page_size;          /* 0: KREFL_PAGE_SIZE */
	uint64_t backoff_min_ms;   /* 0: KREFL_BACKOFF_MIN_MS */
	uint64_t backoff_max_ms;   /* 0: KREFL_BACKOFF_MAX_MS */
	unsigned watch_timeout_s;  /* 0: at random in [300, 600), as client-go */
};

/* Borrows loop, http (may be NULL in unit tests, which feed bytes by
 * hand), cfg's strings and ops; all must outlive the reflector. Returns 0
 * or -ENOMEM. Release with krefl_close. */
int krefl_new(uv_loop_t *loop, struct khttp *http, const struct krefl_config *cfg,
	      const struct krefl_ops *ops, void *ud, struct krefl **out);
/* Starts the first list. */
void krefl_start(struct krefl *r);
/* Cancels what is in flight; r is freed once its timer is closed, then
 * closed(data) is called (may be NULL). */
void krefl_close(struct krefl *r, void (*closed)(void *data), void *data);

bool krefl_synced(const struct krefl *r);
/* The last resourceVersion seen ("" before the first list). */
const char *krefl_resource_version(const struct krefl *r);
size_t krefl_count(const struct krefl *r);

struct krefl_stats {
	size_t lists;              /* complete lists */
	size_t pages;
	size_t watches;            /* watch requests started */
	size_t events;             /* watch events applied (bookmarks not counted) */
	size_t rejected;           /* objects that did not decode */
	size_t relists_410;        /* lists because the resourceVersion had expired */
	size_t failures;           /* failed requests */
};
const struct krefl_stats *krefl_stats(const struct krefl *r);

/* For unit tests: what the HTTP callbacks do, without HTTP. Feed the body
 * of one list page then end it (status: the HTTP status); feed watch bytes
 * after krefl_test_watch_begin. Return what the callbacks would. */
int krefl_test_list_page(struct krefl *r, const void *buf, size_t len, long status);
/* Part of a list page's body, as the HTTP data callback gets it (end the
 * page with krefl_test_list_page(r, NULL, 0, status)); and what a failed
 * list request does (after a feed or a page end that failed): wait, then
 * list again. */
int krefl_test_list_feed(struct krefl *r, const void *buf, size_t len);
void krefl_test_list_fail(struct krefl *r);
void krefl_test_watch_begin(struct krefl *r);
int krefl_test_watch_feed(struct krefl *r, const void *buf, size_t len);
/* Whether the last watch bytes asked for a relist (ERROR 410). */
bool krefl_test_wants_relist(const struct krefl *r);

#endif
