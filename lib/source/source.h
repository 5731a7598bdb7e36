/* The manifest source: serves the Services and EndpointSlices found in the
 * .yaml/.yml/.json files of one directory (not recursive), and this node's
 * Node object if one of them holds it, and follows the directory's changes.
 *
 * It watches the directory with a libuv fs event, coalesces bursts of events
 * with a debounce timer, and rescans: a file is re-read only when the event
 * named it or its inode/size/mtime changed, and re-decoded only when its
 * content hash changed. A periodic rescan catches what events miss (the
 * directory itself replaced, a ConfigMap's ..data symlink swap, network file
 * systems). A file that fails to parse keeps serving what it provided before.
 *
 * All work runs on the loop given to msrc_new; nothing here is thread-safe. */
#ifndef NFTPROXY_SOURCE_SOURCE_H
#define NFTPROXY_SOURCE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct model;
struct msrc;

#define MSRC_DEFAULT_DEBOUNCE_MS 100
#define MSRC_DEFAULT_MAX_DELAY_MS 500
#define MSRC_DEFAULT_RESCAN_MS 5000

/* Files larger than this are refused (logged, previous objects kept). */
#define MSRC_MAX_FILE_SIZE (64u << 20)

/* Creates a source for directory dir feeding model m. changed(data) is
 * called after a rescan changed the model, so the owner can schedule a sync;
 * it is not called for the initial load done by msrc_start. The source
 * borrows loop and m, which must outlive it, and copies dir. It initialises
 * its libuv handles here, so once this succeeds the source must be released
 * with msrc_close. Returns 0 or -errno (-ENOMEM). */
int msrc_new(uv_loop_t *loop, const char *dir, struct model *m, void (*changed)(void *data),
	     void *data, struct msrc **out);

/* Overrides the timing before msrc_start (tests use short periods); 0 keeps
 * the current value. debounce_ms: rescan this long after the last event of a
 * burst, but no later than max_delay_ms after its first event, so that a
 * steady trickle of writes cannot postpone the rescan forever. rescan_ms:
 * the periodic fallback rescan. */
void msrc_set_timing(struct msrc *s, uint64_t debounce_ms, uint64_t max_delay_ms,
		     uint64_t rescan_ms);

/* Names this node, before msrc_start: a `kind: Node` object of that name
 * is given to the model (model_node_set), and taken away (NULL) when no file
 * defines it any more; Nodes of other names are ignored. Without a name
 * every Node is ignored. A change of the node after the initial load calls
 * changed() like a change of a service does. Copies name (NULL clears it).
 * Returns 0 or -ENOMEM (the previous name is kept). */
int msrc_set_node_name(struct msrc *s, const char *name);

/* Loads every manifest of the directory synchronously, then starts watching
 * it. Files that fail to parse are logged and skipped; the load fails only
 * when the directory cannot be read: -ENOENT, -ENOTDIR, -EACCES, ...,
 * or -ENOMEM. */
int msrc_start(struct msrc *s);

/* Stops watching and releases the source once libuv has closed its handles:
 * then s is freed and closed(data) is called (closed may be NULL). The loop
 * must run for that to happen; s must not be used after this call. The objects the source upserted stay in the
 * model: the model is the owner's. */
void msrc_close(struct msrc *s, void (*closed)(void *data));

/* Number of manifest files tracked (those that do not parse included), and
 * of distinct objects they provide (this node's Node included). */
size_t msrc_file_count(const struct msrc *s);
size_t msrc_object_count(const struct msrc *s);

/* True if a directory entry with this name is a manifest nftproxy reads:
 * .yaml, .yml or .json, not hidden (so not ..data, .#lock, .x.swp), not a
 * backup (name~) nor an Emacs autosave (#name#). */
bool msrc_name_is_manifest(const char *name);

#endif
