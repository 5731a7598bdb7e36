/* Watching the manifest directory with a libuv fs event (inotify on Linux).
 *
 * Events only say "look again": the rescan decides what changed by
 * comparing stat and content. That keeps one code path for everything a
 * directory can go through (writes, renames over a file, deletes, a
 * ConfigMap's ..data swap) and makes a lost or coalesced event harmless. */
#include <errno.h>
#include <string.h>

#include "lib/source/internal.h"
#include "lib/util/log.h"

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct msrc *s = h->data;
	struct msrc_file *f;

	if (status < 0) {
		/* e.g. the inotify queue overflowed: events were lost. */
		log_warn("manifests %s: watch error: %s; rereading every file", s->dir,
			 uv_strerror(status));
		s->force_all = true;
	} else if (!filename) {
		s->force_all = true;
	} else if (strcmp(filename, s->dir_base) == 0) {
		/* inotify names the directory itself for its own events
		 * (deleted, moved): its watch may be dead now. */
		s->rewatch = true;
		s->force_all = true;
	} else {
		/* Two writes within one timestamp tick leave size and mtime
		 * alike; the event is what tells the rescan to read anyway. */
		f = hmap_get(&s->files, filename);
		if (f)
			f->force = true;
	}
	log_v(4, "manifests %s: event %s%s%s", s->dir, filename ? filename : "(none)",
	      events & UV_RENAME ? " rename" : "", events & UV_CHANGE ? " change" : "");
	msrc_schedule_rescan(s);
}

int msrc_watch_refresh(struct msrc *s, const struct stat *dir_st)
{
	int r;

	if (s->closing)
		return 0;
	if (s->watching && !s->rewatch && s->dir_dev == dir_st->st_dev &&
	    s->dir_ino == dir_st->st_ino)
		return 0;
	if (s->watching) {
		/* The path names another directory now (replaced, or a symlink
		 * to it switched): the old watch sees nothing of it. */
		if (s->dir_dev != dir_st->st_dev || s->dir_ino != dir_st->st_ino)
			log_info("manifests %s: the directory was replaced; watching the new one",
				 s->dir);
		msrc_watch_stop(s);
	}
	s->rewatch = false;
	/* Remember the identity even when the watch fails, so that a failure is
	 * logged once per directory rather than on every rescan. */
	s->dir_dev = dir_st->st_dev;
	s->dir_ino = dir_st->st_ino;
	r = uv_fs_event_start(&s->watch, on_event, s->dir, 0);
	if (r < 0) {
		if (!s->watch_failed)
			log_warn("manifests %s: cannot watch the directory: %s; relying on "
				 "rescans every %llu ms", s->dir, uv_strerror(r),
				 (unsigned long long)s->rescan_ms);
		s->watch_failed = true;
		return r;
	}
	s->watch_failed = false;
	s->watching = true;
	return 0;
}

void msrc_watch_stop(struct msrc *s)
{
	if (!s->watching)
		return;
	uv_fs_event_stop(&s->watch);
	s->watching = false;
}
