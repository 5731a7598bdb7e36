/* What the files of lib/source share: the source itself, the files it
 * tracks and the index of the objects they provide. Not exported. */
#ifndef NFTPROXY_SOURCE_INTERNAL_H
#define NFTPROXY_SOURCE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <uv.h>

#include "lib/source/source.h"
#include "lib/util/hmap.h"

struct kdec_result;

/* MSRC_NODE: this node's Node (the one msrc_set_node_name names); its
 * entries have ns "". */
enum msrc_kind { MSRC_SERVICE, MSRC_SLICE, MSRC_NODE };

struct msrc_file;

/* A file providing an object. Only the first provider's object is in the
 * model; the others keep theirs in `held` so that, when the first stops
 * providing it, the next one's object can take its place without re-reading
 * a file. */
struct msrc_provider {
	struct msrc_file *file;
	void *held;                /* model_service*, model_slice* or model_node*, or NULL */
};

/* One object (kind + namespace/name) provided by one or more files. */
struct msrc_entry {
	char *key;                 /* "service/ns/name", "node//name": the index key */
	enum msrc_kind kind;
	char *ns;
	char *name;
	struct msrc_provider *prov; /* prov[0] is the one in the model */
	size_t n_prov;
	size_t cap_prov;
	uint64_t mark;             /* generation of the last apply that saw it */
};

/* Identity of a file's content as stat(2) sees it. */
struct msrc_stat {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

struct msrc_file {
	char *name;                /* entry name inside the directory */
	struct msrc_stat st;       /* as of the last read */
	bool have_st;
	uint64_t hash;             /* content hash of the last applied content */
	bool have_hash;
	uint64_t bad_hash;         /* content hash of the last rejected content */
	bool have_bad;
	int last_err;              /* -errno of the last failed stat/read, warned once */
	bool seen;                 /* listed by the scan in progress */
	bool force;                /* an event named it: read even if stat looks unchanged */
	struct msrc_entry **entries; /* objects this file provides */
	size_t n_entries;
};

/* What one scan did; decides whether to call `changed`. */
struct msrc_scan_stats {
	size_t files_read;
	size_t files_applied;
	size_t files_bad;
	size_t files_removed;
	size_t upserts;
	size_t deletes;
	size_t errors;
	size_t node_changes;       /* model_node_set calls that changed the node */
};

struct msrc {
	uv_loop_t *loop;
	char *dir;
	struct model *model;
	char *node_name;           /* Nodes of other names are ignored; NULL: all are */
	void (*changed)(void *data);
	void (*closed)(void *data);
	void *data;

	uint64_t debounce_ms, max_delay_ms, rescan_ms;

	/* Handles are embedded and released only in their close callbacks. */
	uv_fs_event_t watch;
	uv_timer_t debounce;
	uv_timer_t rescan;
	int open_handles;
	bool closing;
	bool started;

	bool watching;
	bool watch_failed;         /* logged that the watch could not start */
	bool rewatch;              /* an event was about the directory itself */
	const char *dir_base;      /* last component of dir, inside dir */
	dev_t dir_dev;             /* identity of the directory being watched */
	ino_t dir_ino;
	bool dir_missing;          /* warned that the directory is gone */

	bool burst;                /* events seen, rescan pending */
	uint64_t burst_start;      /* uv_now() of the burst's first event */
	bool force_all;            /* an event without a name: re-read everything */

	struct hmap files;         /* name -> struct msrc_file */
	struct hmap entries;       /* key -> struct msrc_entry */
	uint64_t mark_gen;
};

/* index.c: the object index and what it does to the model. */

/* Makes the objects of res the set f provides, taking ownership of every
 * object in res (their pointers are set to NULL when taken). Objects f no
 * longer provides are deleted from the model unless another file provides
 * them; an object the decoder rejected keeps the version f provided before.
 * Nodes other than s->node_name are left in res (logged at --v=2). The
 * node goes to the model with model_node_set, counted in st->node_changes
 * when that changed it.
 * Returns 0 or -ENOMEM, in which case f keeps every object it provided
 * before plus those already applied. */
int msrc_index_apply(struct msrc *s, struct msrc_file *f, struct kdec_result *res,
		     struct msrc_scan_stats *st);
/* Releases every object f provides (the file was removed). */
void msrc_index_drop_file(struct msrc *s, struct msrc_file *f, struct msrc_scan_stats *st);
/* Frees the index without touching the model. */
void msrc_index_fini(struct msrc *s);

/* scan.c: listing, reading and decoding. */

/* Brings the index in line with the directory. force: re-read every file
 * even if its stat is unchanged. Returns 0 or -errno when the directory
 * could not be listed (nothing is removed then). */
int msrc_scan(struct msrc *s, bool force, struct msrc_scan_stats *st);
void msrc_file_free(struct msrc_file *f);

/* source.c */

/* Starts or extends the debounce of a burst of events; the rescan follows
 * once the burst goes quiet. */
void msrc_schedule_rescan(struct msrc *s);

/* watch.c */

/* (Re)starts the fs event watch on the directory if it is not watched, the
 * path now names another directory, or an event was about the directory
 * itself (deleted and made anew may reuse the inode). dir_st: a stat of the
 * path. Returns 0 or -errno (logged once). */
int msrc_watch_refresh(struct msrc *s, const struct stat *dir_st);
/* The directory cannot be opened: drop the watch, it watches nothing. */
void msrc_watch_stop(struct msrc *s);

#endif
