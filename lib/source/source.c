/* The manifest source's life cycle: creation, the initial load, the timers
 * that turn bursts of fs events into one rescan, and the close. Scanning is
 * in scan.c, the object index in index.c, the fs watch in watch.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/store.h"
#include "lib/source/internal.h"
#include "lib/util/log.h"

int msrc_new(uv_loop_t *loop, const char *dir, struct model *m, void (*changed)(void *data),
	     void *data, struct msrc **out)
{
	struct msrc *s;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir = strdup(dir);
	if (!s->dir) {
		free(s);
		return -ENOMEM;
	}
	/* "/etc/x/" names x: ignore trailing slashes. */
	for (size_t n = strlen(s->dir); n > 1 && s->dir[n - 1] == '/'; n--)
		s->dir[n - 1] = '\0';
	s->dir_base = strrchr(s->dir, '/');
	s->dir_base = s->dir_base ? s->dir_base + 1 : s->dir;
	s->loop = loop;
	s->model = m;
	s->changed = changed;
	s->data = data;
	s->debounce_ms = MSRC_DEFAULT_DEBOUNCE_MS;
	s->max_delay_ms = MSRC_DEFAULT_MAX_DELAY_MS;
	s->rescan_ms = MSRC_DEFAULT_RESCAN_MS;
	hmap_init(&s->files);
	hmap_init(&s->entries);

	/* On Linux these only fill in the structs; they cannot fail. */
	uv_fs_event_init(loop, &s->watch);
	uv_timer_init(loop, &s->debounce);
	uv_timer_init(loop, &s->rescan);
	s->watch.data = s->debounce.data = s->rescan.data = s;
	s->open_handles = 3;
	*out = s;
	return 0;
}

void msrc_set_timing(struct msrc *s, uint64_t debounce_ms, uint64_t max_delay_ms,
		     uint64_t rescan_ms)
{
	if (debounce_ms)
		s->debounce_ms = debounce_ms;
	if (max_delay_ms)
		s->max_delay_ms = max_delay_ms;
	if (rescan_ms)
		s->rescan_ms = rescan_ms;
}

int msrc_set_node_name(struct msrc *s, const char *name)
{
	char *copy = NULL;

	if (name && !(copy = strdup(name)))
		return -ENOMEM;
	free(s->node_name);
	s->node_name = copy;
	return 0;
}

size_t msrc_file_count(const struct msrc *s)
{
	return s->files.len;
}

size_t msrc_object_count(const struct msrc *s)
{
	return s->entries.len;
}

/* Rescans and tells the owner when the model changed. */
static void rescan(struct msrc *s, bool force)
{
	struct msrc_scan_stats st;
	int r;

	memset(&st, 0, sizeof(st));
	r = msrc_scan(s, force, &st);
	if (r == -ENOMEM)
		log_error("manifests %s: out of memory while rescanning; files not applied are "
			  "retried on the next rescan in %llu ms",
			  s->dir, (unsigned long long)s->rescan_ms);
	/* Equal objects mark nothing dirty, so a rename or a touched file that
	 * changed nothing costs the owner no sync. Deletes always mark dirty.
	 * The node marks no service dirty, but what is compiled from it (node
	 * addresses, pod CIDRs, zone) changed: the owner must hear of it. */
	if (((st.upserts || st.deletes) && model_dirty_count(s->model) > 0) || st.node_changes) {
		log_v(2, "manifests %s: %zu files applied, %zu removed, %zu bad; "
		      "%zu upserts, %zu deletes, node %s; scheduling a sync",
		      s->dir, st.files_applied, st.files_removed, st.files_bad, st.upserts,
		      st.deletes, st.node_changes ? "changed" : "unchanged");
		if (s->changed)
			s->changed(s->data);
	}
}

static void on_debounce(uv_timer_t *t)
{
	struct msrc *s = t->data;
	bool force = s->force_all;

	s->burst = false;
	s->force_all = false;
	rescan(s, force);
}

static void on_rescan(uv_timer_t *t)
{
	struct msrc *s = t->data;

	/* A burst in progress rescans soon anyway. */
	if (s->burst)
		return;
	rescan(s, false);
}

void msrc_schedule_rescan(struct msrc *s)
{
	uint64_t now, delay, deadline;

	if (s->closing)
		return;
	now = uv_now(s->loop);
	if (!s->burst) {
		s->burst = true;
		s->burst_start = now;
	}
	/* Debounce: wait for the burst to go quiet, but no longer than
	 * max_delay after it began. */
	deadline = s->burst_start + s->max_delay_ms;
	delay = s->debounce_ms;
	if (now + delay > deadline)
		delay = deadline > now ? deadline - now : 0;
	uv_timer_start(&s->debounce, on_debounce, delay, 0);
}

int msrc_start(struct msrc *s)
{
	struct msrc_scan_stats st;
	struct stat dst;
	int r;

	/* Say plainly why a bad --manifests fails, rather than the rescan's
	 * "keeping what was served" message meant for a directory that
	 * disappears later. */
	if (stat(s->dir, &dst) < 0)
		return log_error_errno(-errno, "manifests %s: cannot read the directory", s->dir);
	if (!S_ISDIR(dst.st_mode)) {
		log_error("manifests %s: not a directory", s->dir);
		return -ENOTDIR;
	}

	memset(&st, 0, sizeof(st));
	r = msrc_scan(s, true, &st);
	if (r < 0)
		return log_error_errno(r, "manifests %s: initial load failed", s->dir);
	log_info("manifests %s: loaded %zu files (%zu did not parse), serving %zu objects",
		 s->dir, s->files.len, st.files_bad, s->entries.len);

	s->started = true;
	if (stat(s->dir, &dst) == 0)
		msrc_watch_refresh(s, &dst);
	uv_timer_start(&s->rescan, on_rescan, s->rescan_ms, s->rescan_ms);
	return 0;
}

static void source_free(struct msrc *s)
{
	const char *key;
	void *value;

	/* Entries point at files and files at entries: drop the index first
	 * (it frees the objects it held back), then the files. */
	msrc_index_fini(s);
	for (size_t it = 0; hmap_next(&s->files, &it, &key, &value);)
		msrc_file_free(value);
	hmap_fini(&s->files);
	free(s->node_name);
	free(s->dir);
	free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct msrc *s = h->data;
	void (*closed)(void *data) = s->closed;
	void *data = s->data;

	if (--s->open_handles > 0)
		return;
	/* Free first: closed() may well free the model or stop the loop. */
	source_free(s);
	if (closed)
		closed(data);
}

void msrc_close(struct msrc *s, void (*closed)(void *data))
{
	if (!s || s->closing)
		return;
	s->closing = true;
	s->closed = closed;
	uv_close((uv_handle_t *)&s->watch, on_handle_closed);
	uv_close((uv_handle_t *)&s->debounce, on_handle_closed);
	uv_close((uv_handle_t *)&s->rescan, on_handle_closed);
}
