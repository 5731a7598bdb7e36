/* Scanning the manifest directory: list it, find the files whose content may
 * have changed, read and decode those, and hand the objects to the index.
 *
 * Reads are synchronous on the loop: manifests are local files of a few
 * kilobytes to megabytes, read only when they changed, and a rescan must see
 * one consistent listing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/kube/decode.h"
#include "lib/model/types.h"
#include "lib/source/internal.h"
#include "lib/util/hash.h"
#include "lib/util/log.h"

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && memcmp(s + n - m, suffix, m) == 0;
}

bool msrc_name_is_manifest(const char *name)
{
	size_t n = strlen(name);

	/* Hidden files include ConfigMap internals (..data, ..2024_01_01...),
	 * Emacs lock files (.#x.yaml) and vim swap files (.x.yaml.swp). */
	if (n == 0 || name[0] == '.')
		return false;
	/* Emacs autosave (#x.yaml#) and backups (x.yaml~) would pass nothing
	 * below anyway; say so explicitly rather than by accident. */
	if (name[0] == '#' || name[n - 1] == '~')
		return false;
	/* The extensions kubectl apply -f DIR reads. */
	return has_suffix(name, ".yaml") || has_suffix(name, ".yml") || has_suffix(name, ".json");
}

void msrc_file_free(struct msrc_file *f)
{
	if (!f)
		return;
	free(f->entries);
	free(f->name);
	free(f);
}

static void stat_copy(struct msrc_stat *out, const struct stat *st)
{
	out->dev = st->st_dev;
	out->ino = st->st_ino;
	out->size = st->st_size;
	out->mtime = st->st_mtim;
	out->ctime = st->st_ctim;
}

static bool stat_same(const struct msrc_stat *a, const struct stat *st)
{
	return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
	       a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       a->ctime.tv_sec == st->st_ctim.tv_sec && a->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Reads the whole file at dirfd/name. *st gets the opened file's stat, so it
 * describes exactly what was read. Returns 0 or -errno (-EFBIG when larger
 * than MSRC_MAX_FILE_SIZE). */
static int read_file(int dirfd, const char *name, char **buf_out, size_t *len_out,
		     struct stat *st)
{
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, r;

	/* O_NONBLOCK: a FIFO swapped in after the stat must not hang the loop. */
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if ((uint64_t)st->st_size > MSRC_MAX_FILE_SIZE) {
		r = -EFBIG;
		goto out;
	}
	/* The size is a hint: the file may grow or shrink while we read. */
	cap = (size_t)st->st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t k;

		if (len == cap) {
			char *nb;

			if (cap > MSRC_MAX_FILE_SIZE) {
				r = -EFBIG;
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	*buf_out = buf;
	*len_out = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

/* Decodes buf (the content of f) and applies it. Returns 0 when applied,
 * 1 when the file did not parse (logged once, nothing changed), or -ENOMEM. */
static int decode_apply(struct msrc *s, struct msrc_file *f, const char *buf, size_t len,
			struct msrc_scan_stats *st)
{
	struct kdec_result res;
	char origin[4096], err[KDEC_ERR_MAX];
	int r;

	snprintf(origin, sizeof(origin), "%s/%s", s->dir, f->name);
	memset(&res, 0, sizeof(res));
	err[0] = '\0';
	r = kdec_parse_buffer_flags(buf, len, origin, KDEC_PARSE_NODES, &res, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		st->files_bad++;
		if (f->n_entries)
			log_warn("manifest %s: %s; keeping the %zu objects it provided before until "
				 "it is fixed", origin, err[0] ? err : strerror(-r), f->n_entries);
		else
			log_warn("manifest %s: %s; ignoring the file until it is fixed", origin,
				 err[0] ? err : strerror(-r));
		return 1;
	}
	r = msrc_index_apply(s, f, &res, st);
	kdec_result_fini(&res);
	if (r < 0)
		return r;
	st->files_applied++;
	log_v(2, "manifest %s: applied, it provides %zu objects", origin, f->n_entries);
	return 0;
}

/* Brings file f (listed by the scan) up to date. */
static int scan_file(struct msrc *s, int dirfd, struct msrc_file *f, bool force,
		     struct msrc_scan_stats *st)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	uint64_t h;
	int r;

	if (fstatat(dirfd, f->name, &sb, 0) < 0) {
		/* Gone between the listing and now, or a dangling symlink: the
		 * caller sees it as removed. */
		if (errno == ENOENT)
			return -ENOENT;
		r = -errno;
		if (r != f->last_err)
			log_warn("manifest %s/%s: cannot stat it: %s; keeping its %zu objects and "
				 "trying again on every rescan", s->dir, f->name, strerror(-r),
				 f->n_entries);
		f->last_err = r;
		return 0;
	}
	if (!S_ISREG(sb.st_mode))
		return -ENOENT;
	if (f->have_st && !f->force && !force && stat_same(&f->st, &sb))
		return 0;

	r = read_file(dirfd, f->name, &buf, &len, &sb);
	if (r == -ENOENT || r == -EISDIR)
		return -ENOENT;
	if (r < 0) {
		if (r == -ENOMEM)
			return r;
		/* Remember the stat so the warning is not repeated every rescan;
		 * an event or a change of the file brings it back. */
		stat_copy(&f->st, &sb);
		f->have_st = true;
		f->force = false;
		if (r != f->last_err)
			log_warn("manifest %s/%s: cannot read it: %s; keeping its %zu objects "
				 "until it changes", s->dir, f->name,
				 r == -EFBIG ? "larger than 64 MiB" : strerror(-r), f->n_entries);
		f->last_err = r;
		return 0;
	}
	f->last_err = 0;
	st->files_read++;
	stat_copy(&f->st, &sb);
	f->have_st = true;
	f->force = false;
	h = hash_fnv1a(buf, len, 0);
	if ((f->have_hash && h == f->hash) || (f->have_bad && h == f->bad_hash)) {
		free(buf);
		return 0;
	}
	r = decode_apply(s, f, buf, len, st);
	free(buf);
	if (r < 0) {
		/* Re-read and re-apply on the next scan. */
		f->have_hash = false;
		f->have_st = false;
		return r;
	}
	if (r == 1) {
		f->bad_hash = h;
		f->have_bad = true;
		return 0;
	}
	f->hash = h;
	f->have_hash = true;
	f->have_bad = false;
	return 0;
}

static int file_cmp(const void *a, const void *b)
{
	const struct msrc_file *x = *(const struct msrc_file *const *)a;
	const struct msrc_file *y = *(const struct msrc_file *const *)b;

	return strcmp(x->name, y->name);
}

static void file_remove(struct msrc *s, struct msrc_file *f, struct msrc_scan_stats *st)
{
	size_t n = f->n_entries, deletes = st->deletes;

	msrc_index_drop_file(s, f, st);
	deletes = st->deletes - deletes;
	/* A rename moves objects to another file: nothing to shout about. */
	if (deletes)
		log_info("manifest %s/%s removed; deleted the %zu objects only it defined", s->dir,
			 f->name, deletes);
	else if (n)
		log_v(2, "manifest %s/%s removed; its %zu objects are defined by other files", s->dir,
		      f->name, n);
	hmap_del(&s->files, f->name);
	msrc_file_free(f);
	st->files_removed++;
}

/* Marks every manifest now in the directory as seen, adding new ones. */
static int list_dir(struct msrc *s, int dirfd)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	/* fdopendir takes the descriptor; keep ours for the openat calls. */
	fd = dup(dirfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		struct msrc_file *f;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (!msrc_name_is_manifest(de->d_name))
			continue;
		f = hmap_get(&s->files, de->d_name);
		if (!f) {
			f = calloc(1, sizeof(*f));
			if (!f || !(f->name = strdup(de->d_name))) {
				msrc_file_free(f);
				r = -ENOMEM;
				break;
			}
			if (hmap_put(&s->files, f->name, f, NULL) < 0) {
				msrc_file_free(f);
				r = -ENOMEM;
				break;
			}
		}
		f->seen = true;
	}
	closedir(d);
	return r;
}

int msrc_scan(struct msrc *s, bool force, struct msrc_scan_stats *st)
{
	struct msrc_file **files = NULL;
	struct stat dst;
	const char *key;
	void *value;
	size_t n = 0;
	int dirfd, r;

	/* Open the path anew every time: if the directory was replaced (a
	 * ConfigMap update, mv new old), this is the new one. */
	dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fstat(dirfd, &dst) < 0) {
		r = -errno;
		if (dirfd >= 0)
			close(dirfd);
		if (!s->dir_missing)
			log_warn("manifests %s: cannot open the directory: %s; keeping the %zu "
				 "objects served so far and checking again every %llu ms",
				 s->dir, strerror(-r), s->entries.len,
				 (unsigned long long)s->rescan_ms);
		s->dir_missing = true;
		if (s->started)
			msrc_watch_stop(s);
		return r;
	}
	if (s->dir_missing) {
		log_info("manifests %s: the directory is back; rescanning it", s->dir);
		s->dir_missing = false;
		force = true;
	}
	if (s->started)
		msrc_watch_refresh(s, &dst);

	r = list_dir(s, dirfd);
	if (r < 0) {
		log_warn("manifests %s: cannot list the directory: %s; nothing removed, "
			 "retrying on the next rescan", s->dir, strerror(-r));
		goto out;
	}

	/* In name order, so that on start-up the first file by name wins a
	 * duplicate, and changes before removals, so that an object moving from
	 * one file to another (a rename) is never deleted in between. */
	files = calloc(s->files.len + 1, sizeof(*files));
	if (!files) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t it = 0; hmap_next(&s->files, &it, &key, &value);)
		files[n++] = value;
	qsort(files, n, sizeof(*files), file_cmp);

	for (size_t i = 0; i < n; i++) {
		struct msrc_file *f = files[i];
		int q;

		if (!f->seen)
			continue;
		q = scan_file(s, dirfd, f, force, st);
		if (q == -ENOENT)
			f->seen = false;
		else if (q < 0 && r == 0)
			r = q;
	}
	for (size_t i = 0; i < n; i++) {
		if (!files[i]->seen)
			file_remove(s, files[i], st);
		else
			files[i]->seen = false;
	}
out:
	/* A failed listing leaves marks behind; clear them for the next scan. */
	if (!files)
		for (size_t it = 0; hmap_next(&s->files, &it, &key, &value);)
			((struct msrc_file *)value)->seen = false;
	free(files);
	close(dirfd);
	return r;
}
