/* kubeconfig, --master and in-cluster configuration, by client-go's rules.
 *
 * Nothing here may write a credential into a message: the getters below
 * name a field's type, never its value, and every message about a file
 * names its path and errno only. */
#include "lib/kube/kubeconfig.h"
#include "lib/kube/doc.h"
#include "lib/kube/doc_yaml.h"
#include "lib/util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Far above any real kubeconfig (certificates inline are a few KiB each) or
 * token (a projected JWT is ~1 KiB), low enough that a wrong path such as a
 * disk image is refused instead of read into memory. */
#define KCFG_FILE_MAX  (16u << 20)
#define KCFG_TOKEN_MAX (64u << 10)

#define KCFG_WS " \t\r\n\v\f"

/* What loading one kubeconfig needs to say where a problem is. */
struct kcfg_ld {
	const char *path; /* as given, for messages */
	char *dir;	  /* absolute directory of path, for relative paths */
	char *err;
	size_t err_size;
};

static int kcfg_errf(char *err, size_t err_size, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int kcfg_fail(struct kcfg_ld *l, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes the message (when there is room for one) and returns r. */
static int kcfg_errf(char *err, size_t err_size, int r, const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_size)
		return r;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return r;
}

/* "kubeconfig <path>: <message>"; returns r. */
static int kcfg_fail(struct kcfg_ld *l, int r, const char *fmt, ...)
{
	char what[KCFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return kcfg_errf(l->err, l->err_size, r, "kubeconfig %s: %s", l->path, what);
}

static int kcfg_oom(struct kcfg_ld *l)
{
	return kcfg_fail(l, -ENOMEM, "out of memory");
}

/* "at.key", or whichever of the two is set, into buf. */
static const char *kcfg_join(char *buf, size_t size, const char *at, const char *key)
{
	if (!key)
		snprintf(buf, size, "%s", at);
	else if (!at || !*at)
		snprintf(buf, size, "%s", key);
	else
		snprintf(buf, size, "%s.%s", at, key);
	return buf;
}

/* A field of the wrong type. Only the type is named: the value may be a
 * token or a key typed at the wrong indentation. */
static int kcfg_fail_type(struct kcfg_ld *l, const char *at, const char *key, const struct doc *d,
			  const char *expected)
{
	char path[128];

	kcfg_join(path, sizeof(path), at, key);
	if (d->type == DOC_STRING && strcmp(expected, "a string") == 0)
		return kcfg_fail(l, -EINVAL, "%s: contains a NUL byte", path);
	return kcfg_fail(l, -EINVAL, "%s: is %s, expected %s", path, doc_type_name(d->type),
			 expected);
}

/* map[key] as a string. Returns 1 and *out when present and not empty; 0
 * when absent, null or "" (client-go tests len() == 0 everywhere); -EINVAL
 * with the message written. */
static int kcfg_str(struct kcfg_ld *l, const struct doc *map, const char *at, const char *key,
		    const char **out)
{
	int r = doc_get_string(map, key, out);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return kcfg_fail_type(l, at, key, doc_get(map, key), "a string");
	return **out ? 1 : 0;
}

/* Same returns as kcfg_str; *out is false when absent. */
static int kcfg_bool(struct kcfg_ld *l, const struct doc *map, const char *at, const char *key,
		     bool *out)
{
	int r = doc_get_bool(map, key, out);

	*out = r == 0 && *out;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return kcfg_fail_type(l, at, key, doc_get(map, key), "true or false");
	return 1;
}

/* Same returns as kcfg_str; *out is NULL when absent. */
static int kcfg_map(struct kcfg_ld *l, const struct doc *map, const char *at, const char *key,
		    const struct doc **out)
{
	int r = doc_get_map(map, key, out);

	if (r == -ENOENT) {
		*out = NULL;
		return 0;
	}
	if (r < 0)
		return kcfg_fail_type(l, at, key, doc_get(map, key), "a map");
	return 1;
}

/* True when map has key with a value other than null: for the fields that
 * are refused whatever they hold. */
static bool kcfg_has(const struct doc *map, const char *key)
{
	const struct doc *d = doc_get(map, key);

	return d && d->type != DOC_NULL;
}

/* Appends "name" to the list in buf ("a", "b"), ending it with "..." when
 * the next one does not fit. */
static void kcfg_names_add(char *buf, size_t size, const char *name)
{
	size_t used = strlen(buf);
	int n;

	if (used >= 3 && strcmp(buf + used - 3, "...") == 0)
		return;
	n = snprintf(buf + used, size - used, "%s\"%s\"", used ? ", " : "", name);
	if (n < 0 || (size_t)n >= size - used)
		snprintf(buf + (used + 4 <= size ? used : size - 4), 4, "...");
}

/* The entry of the list root[list] ("clusters") whose name is name: returns
 * 1 with *entry and *index, or 0 when there is none. Also checks the whole
 * list's shape and refuses a name used twice (client-go's conversion from
 * list to map does), and lists the names into names for the caller's "not
 * found" message. name may be NULL to only do that. -EINVAL on errors. */
static int kcfg_find(struct kcfg_ld *l, const struct doc *root, const char *list, const char *name,
		     const struct doc **entry, size_t *index, char *names, size_t names_size)
{
	const struct doc *seq, *item;
	const char *n, *prev;
	char at[64];
	int found = 0, r;

	names[0] = '\0';
	r = doc_get_seq(root, list, &seq);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return kcfg_fail_type(l, NULL, list, doc_get(root, list), "a list");
	for (size_t i = 0; i < doc_len(seq); i++) {
		item = doc_at(seq, i);
		snprintf(at, sizeof(at), "%s[%zu]", list, i);
		if (item->type != DOC_MAP)
			return kcfg_fail_type(l, at, NULL, item, "a map");
		r = kcfg_str(l, item, at, "name", &n);
		if (r < 0)
			return r;
		if (r == 0)
			n = "";
		for (size_t j = 0; j < i; j++) {
			if (doc_get_string(doc_at(seq, j), "name", &prev) < 0)
				prev = "";
			if (strcmp(prev, n) == 0)
				return kcfg_fail(l, -EINVAL,
						 "%s.name: \"%s\" is also the name of %s[%zu]", at,
						 n, list, j);
		}
		kcfg_names_add(names, names_size, n);
		if (name && strcmp(n, name) == 0) {
			*entry = item;
			*index = i;
			found = 1;
		}
	}
	return found;
}

/* Reads all of fd, at most max bytes, NUL-terminated. Returns 0 and *out,
 * -EFBIG when longer, or -errno. */
static int kcfg_read_fd(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nbuf;
	ssize_t got;
	int r;

	for (;;) {
		if (!buf || n == cap - 1) {
			if (buf)
				cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				r = -ENOMEM;
				goto out;
			}
			buf = nbuf;
		}
		got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			r = -EFBIG;
			goto out;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	r = 0;
out:
	if (buf) {
		/* It may have been a token. */
		explicit_bzero(buf, cap);
		free(buf);
	}
	return r;
}

/* Opens path to check it is there and readable, as client-go's validation
 * does; the HTTP client reads it later. Returns 0 or -errno. */
static int kcfg_check_file(const char *path)
{
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISDIR(st.st_mode))
		r = -EISDIR;
	close(fd);
	return r;
}

/* What is wrong with a token file, for a message. */
static const char *kcfg_token_problem(int r)
{
	switch (r) {
	case -ENODATA:
		return "is empty";
	case -EFBIG:
		return "is larger than 64 KiB, not a token";
	case -EILSEQ:
		return "holds a character that cannot be sent in an HTTP header";
	default:
		return strerror(-r);
	}
}

/* A token goes into an "Authorization: Bearer" header as is: a CR, LF or
 * other control byte inside it would split or garble the request. */
static bool kcfg_token_ok(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return false;
	return true;
}

static void kcfg_wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Reads token_file into token and records the file's identity. Returns 0,
 * or -errno / -ENODATA / -EFBIG / -EILSEQ leaving c as it was. */
static int kcfg_read_token(struct kcfg *c)
{
	struct stat st;
	char *buf = NULL;
	size_t len, start;
	int fd, r;

	fd = open(c->token_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	r = kcfg_read_fd(fd, KCFG_TOKEN_MAX, &buf, &len);
	if (r < 0)
		goto out;
	if (memchr(buf, '\0', len)) {
		r = -EILSEQ;
		goto out;
	}
	/* strings.TrimSpace, as client-go's file token source. */
	while (len && strchr(KCFG_WS, buf[len - 1]))
		buf[--len] = '\0';
	start = strspn(buf, KCFG_WS);
	if (start == len) {
		r = -ENODATA;
		goto out;
	}
	memmove(buf, buf + start, len - start + 1);
	if (!kcfg_token_ok(buf)) {
		r = -EILSEQ;
		goto out;
	}
	kcfg_wipe_free(c->token);
	c->token = buf;
	buf = NULL;
	c->tok_known = true;
	c->tok_dev = st.st_dev;
	c->tok_ino = st.st_ino;
	c->tok_size = st.st_size;
	c->tok_mtime = st.st_mtim;
	c->tok_last_err = 0;
out:
	kcfg_wipe_free(buf);
	close(fd);
	return r;
}

/* Logs a failed re-read once per distinct error, so that a token file gone
 * for an hour is one warning, not one per request. */
static void kcfg_token_warn(struct kcfg *c, int r)
{
	if (c->tok_last_err == r)
		return;
	c->tok_last_err = r;
	if (c->token)
		log_warn("token file %s: %s; keeping the current token", c->token_file,
			 kcfg_token_problem(r));
	else
		log_warn("token file %s: %s; requests go without a token until it can be read",
			 c->token_file, kcfg_token_problem(r));
}

const char *kcfg_token(struct kcfg *c, bool force)
{
	struct stat st;
	int r;

	if (!c)
		return NULL;
	if (!c->token_file)
		return c->token;
	if (stat(c->token_file, &st) < 0) {
		kcfg_token_warn(c, -errno);
		return c->token;
	}
	/* Size and ctime-grained mtime miss an in-place rewrite of the same
	 * length within one clock tick; the kubelet's symlink swap changes the
	 * inode, and a 401 brings force. */
	if (!force && c->tok_known && st.st_dev == c->tok_dev && st.st_ino == c->tok_ino &&
	    st.st_size == c->tok_size && st.st_mtim.tv_sec == c->tok_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->tok_mtime.tv_nsec)
		return c->token;
	r = kcfg_read_token(c);
	if (r < 0)
		kcfg_token_warn(c, r);
	return c->token;
}

static int kcfg_b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int kcfg_base64_decode(const char *in, size_t len, struct kcfg_blob *out)
{
	unsigned char *buf;
	uint32_t acc = 0;
	size_t n = 0, quad = 0, pad = 0;
	bool done = false;
	int v, r = -EINVAL;

	buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch && strchr(" \t\r\n", ch))
			continue;
		/* Nothing may follow the quantum that had the padding. */
		if (done)
			goto out;
		if (ch == '=') {
			/* "x===" and "====" are not padding. */
			if (quad < 2)
				goto out;
			pad++;
			if (++quad == 4) {
				buf[n++] = pad == 2 ? (unsigned char)(acc >> 4)
						    : (unsigned char)(acc >> 10);
				if (pad == 1)
					buf[n++] = (unsigned char)(acc >> 2);
				done = true;
			}
			continue;
		}
		if (pad)
			goto out;
		v = kcfg_b64_value(ch);
		if (v < 0)
			goto out;
		acc = acc << 6 | (uint32_t)v;
		if (++quad == 4) {
			buf[n++] = (unsigned char)(acc >> 16);
			buf[n++] = (unsigned char)(acc >> 8);
			buf[n++] = (unsigned char)acc;
			quad = 0;
			acc = 0;
		}
	}
	if (quad % 4 != 0 && !done)
		goto out;
	out->data = buf;
	out->len = n;
	buf = NULL;
	r = 0;
out:
	if (buf) {
		explicit_bzero(buf, len / 4 * 3 + 3);
		free(buf);
	}
	return r;
}

static void kcfg_blob_wipe(struct kcfg_blob *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

void kcfg_free(struct kcfg *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->origin);
	free(c->ca_file);
	kcfg_blob_wipe(&c->ca_data);
	free(c->tls_server_name);
	free(c->cert_file);
	free(c->key_file);
	kcfg_blob_wipe(&c->cert_data);
	kcfg_blob_wipe(&c->key_data);
	kcfg_wipe_free(c->token);
	free(c->token_file);
	free(c);
}

/* Checks a server URL and normalises it: scheme https or http, a host, an
 * optional port 1-65535 and path; no credentials, query or fragment. Returns
 * 0 and *out (trailing slashes cut, owned by the caller), -EINVAL with what
 * is wrong in why, or -ENOMEM. The URL is quoted in why except when it holds
 * credentials. */
static int kcfg_url(const char *url, char **out, bool *https, char *why, size_t why_size)
{
	const char *auth, *end, *host_end, *port = NULL;
	size_t len, host_len;
	char *s;

	if (strchr(url, '@'))
		return kcfg_errf(why, why_size, -EINVAL,
				 "credentials in the URL (user@) are not supported");
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return kcfg_errf(why, why_size, -EINVAL,
					 "\"%s\": spaces and control or non-ASCII characters are "
					 "not allowed",
					 url);
	if (strncasecmp(url, "https://", 8) == 0) {
		*https = true;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		*https = false;
		auth = url + 7;
	} else {
		return kcfg_errf(why, why_size, -EINVAL,
				 "\"%s\": must start with https:// (or http://)", url);
	}
	end = auth + strcspn(auth, "/?#");
	if (strpbrk(end, "?#"))
		return kcfg_errf(why, why_size, -EINVAL,
				 "\"%s\": a query or fragment is not allowed", url);
	if (*auth == '[') {
		host_end = memchr(auth, ']', (size_t)(end - auth));
		if (!host_end || host_end == auth + 1)
			return kcfg_errf(why, why_size, -EINVAL, "\"%s\": bad IPv6 host", url);
		host_end++;
		if (host_end != end && *host_end != ':')
			return kcfg_errf(why, why_size, -EINVAL, "\"%s\": bad IPv6 host", url);
	} else {
		host_end = memchr(auth, ':', (size_t)(end - auth));
		if (!host_end)
			host_end = end;
		if (host_end != end && memchr(host_end + 1, ':', (size_t)(end - host_end - 1)))
			return kcfg_errf(why, why_size, -EINVAL,
					 "\"%s\": an IPv6 host must be in brackets", url);
	}
	host_len = (size_t)(host_end - auth);
	if (!host_len)
		return kcfg_errf(why, why_size, -EINVAL, "\"%s\": no host", url);
	if (host_end != end) {
		char *pend;
		unsigned long v;

		port = host_end + 1;
		errno = 0;
		v = strtoul(port, &pend, 10);
		if (pend != end || port == end || *port < '0' || *port > '9' || errno || !v ||
		    v > 65535)
			return kcfg_errf(why, why_size, -EINVAL,
					 "\"%s\": the port is not a number 1-65535", url);
	}
	len = strlen(url);
	while (len > (size_t)(end - url) && url[len - 1] == '/')
		len--;
	s = strndup(url, len);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

/* The absolute form of a path found in the kubeconfig. NULL when out of
 * memory. */
static char *kcfg_path(const struct kcfg_ld *l, const char *p)
{
	char *s;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&s, "%s%s%s", l->dir, strcmp(l->dir, "/") ? "/" : "", p) < 0)
		return NULL;
	return s;
}

/* The absolute directory of the kubeconfig, as client-go resolves relative
 * paths against (filepath.Abs of the file's directory). */
static int kcfg_dir_of(const char *path, char **out)
{
	const char *slash = strrchr(path, '/');
	char *cwd = NULL, *s = NULL;
	int r = 0;

	if (path[0] == '/') {
		s = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
		if (!s)
			r = -ENOMEM;
		goto out;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd) {
		r = -errno;
		goto out;
	}
	if (!slash)
		s = strdup(cwd);
	else if (asprintf(&s, "%s/%.*s", cwd, (int)(slash - path), path) < 0)
		s = NULL;
	if (!s)
		r = -ENOMEM;
out:
	free(cwd);
	if (r == 0)
		*out = s;
	return r;
}

/* Reads the *-data form of a field. Returns 1 and *out, 0 when absent
 * (or decoding to nothing), -EINVAL / -ENOMEM with the message written. */
static int kcfg_data(struct kcfg_ld *l, const struct doc *map, const char *at, const char *key,
		     struct kcfg_blob *out)
{
	const char *s;
	int r;

	r = kcfg_str(l, map, at, key, &s);
	if (r <= 0)
		return r;
	r = kcfg_base64_decode(s, strlen(s), out);
	if (r == -ENOMEM)
		return kcfg_oom(l);
	if (r < 0)
		return kcfg_fail(l, r, "%s.%s: invalid base64", at, key);
	if (!out->len) {
		kcfg_blob_wipe(out);
		return 0;
	}
	return 1;
}

/* Reads the file form of a field into *out (absolute) and checks the file
 * is there. Same returns as kcfg_data. */
static int kcfg_file(struct kcfg_ld *l, const struct doc *map, const char *at, const char *key,
		     char **out)
{
	const char *s;
	int r;

	r = kcfg_str(l, map, at, key, &s);
	if (r <= 0)
		return r;
	*out = kcfg_path(l, s);
	if (!*out)
		return kcfg_oom(l);
	r = kcfg_check_file(*out);
	if (r < 0)
		return kcfg_fail(l, r, "%s.%s: %s: %s", at, key, *out, strerror(-r));
	return 1;
}

/* clusters[i].cluster into c (server aside, which the caller checks). */
static int kcfg_cluster(struct kcfg_ld *l, const struct doc *entry, size_t i, struct kcfg *c,
			const char **server)
{
	const struct doc *cl;
	char at[64], top[64];
	const char *s;
	int r;

	snprintf(top, sizeof(top), "clusters[%zu]", i);
	snprintf(at, sizeof(at), "clusters[%zu].cluster", i);
	r = kcfg_map(l, entry, top, "cluster", &cl);
	if (r < 0)
		return r;
	r = kcfg_str(l, cl, at, "server", server);
	if (r < 0)
		return r;
	if (r == 0)
		*server = NULL;
	/* Ignoring it would send the cluster's traffic another way than the
	 * kubeconfig's author meant; refusing says so at start. */
	if (kcfg_has(cl, "proxy-url"))
		return kcfg_fail(l, -EOPNOTSUPP,
				 "%s.proxy-url: connecting through a proxy is not supported", at);
	r = kcfg_bool(l, cl, at, "insecure-skip-tls-verify", &c->insecure);
	if (r < 0)
		return r;
	r = kcfg_str(l, cl, at, "tls-server-name", &s);
	if (r < 0)
		return r;
	if (r > 0 && !(c->tls_server_name = strdup(s)))
		return kcfg_oom(l);
	r = kcfg_data(l, cl, at, "certificate-authority-data", &c->ca_data);
	if (r < 0)
		return r;
	r = kcfg_file(l, cl, at, "certificate-authority", &c->ca_file);
	if (r < 0)
		return r;
	/* client-go's ConfirmUsable refuses both, though its message says the
	 * data "will override". */
	if (c->ca_file && c->ca_data.data)
		return kcfg_fail(
			l, -EINVAL,
			"%s: certificate-authority and certificate-authority-data are both "
			"set; keep one",
			at);
	if (c->insecure && (c->ca_file || c->ca_data.data))
		return kcfg_fail(l, -EINVAL,
				 "%s.insecure-skip-tls-verify: specifying a root certificates file "
				 "with the insecure flag is not allowed",
				 at);
	return 0;
}

/* users[i].user into c. */
static int kcfg_user(struct kcfg_ld *l, const struct doc *entry, size_t i, struct kcfg *c)
{
	static const char *const imp[] = { "as", "as-uid", "as-groups", "as-user-extra", NULL };
	const struct doc *u;
	char at[64], top[64];
	const char *s;
	int r;

	snprintf(top, sizeof(top), "users[%zu]", i);
	snprintf(at, sizeof(at), "users[%zu].user", i);
	r = kcfg_map(l, entry, top, "user", &u);
	if (r < 0)
		return r;
	if (kcfg_has(u, "exec"))
		return kcfg_fail(l, -EOPNOTSUPP,
				 "%s.exec: exec credential plugins are not supported; use token, "
				 "tokenFile or a client certificate",
				 at);
	if (kcfg_has(u, "auth-provider"))
		return kcfg_fail(l, -EOPNOTSUPP,
				 "%s.auth-provider: auth provider plugins are not supported; use "
				 "token, tokenFile or a client certificate",
				 at);
	/* The API server dropped basic authentication in Kubernetes 1.19. */
	if (kcfg_has(u, "username") || kcfg_has(u, "password"))
		return kcfg_fail(
			l, -EOPNOTSUPP,
			"%s.%s: basic authentication is not supported (the API server "
			"removed it in 1.19); use token, tokenFile or a client certificate",
			at, kcfg_has(u, "username") ? "username" : "password");
	for (size_t k = 0; imp[k]; k++)
		if (kcfg_has(u, imp[k]))
			return kcfg_fail(l, -EOPNOTSUPP, "%s.%s: impersonation is not supported",
					 at, imp[k]);
	r = kcfg_str(l, u, at, "token", &s);
	if (r < 0)
		return r;
	if (r > 0) {
		if (!kcfg_token_ok(s))
			return kcfg_fail(l, -EINVAL,
					 "%s.token: holds a character that cannot be sent in an "
					 "HTTP header",
					 at);
		c->token = strdup(s);
		if (!c->token)
			return kcfg_oom(l);
	}
	r = kcfg_str(l, u, at, "tokenFile", &s);
	if (r < 0)
		return r;
	if (r > 0 && !(c->token_file = kcfg_path(l, s)))
		return kcfg_oom(l);
	r = kcfg_data(l, u, at, "client-certificate-data", &c->cert_data);
	if (r < 0)
		return r;
	r = kcfg_data(l, u, at, "client-key-data", &c->key_data);
	if (r < 0)
		return r;
	r = kcfg_file(l, u, at, "client-certificate", &c->cert_file);
	if (r < 0)
		return r;
	r = kcfg_file(l, u, at, "client-key", &c->key_file);
	if (r < 0)
		return r;
	if (c->cert_file && c->cert_data.data)
		return kcfg_fail(l, -EINVAL,
				 "%s: client-certificate and client-certificate-data are both set; "
				 "keep one",
				 at);
	if (c->key_file && c->key_data.data)
		return kcfg_fail(l, -EINVAL,
				 "%s: client-key and client-key-data are both set; keep one", at);
	if ((c->cert_file || c->cert_data.data) && !(c->key_file || c->key_data.data))
		return kcfg_fail(l, -EINVAL,
				 "%s: a client certificate without client-key or client-key-data",
				 at);
	if ((c->key_file || c->key_data.data) && !(c->cert_file || c->cert_data.data))
		return kcfg_fail(l, -EINVAL,
				 "%s: a client key without client-certificate or "
				 "client-certificate-data",
				 at);
	/* client-go reads tokenFile at load only when there is no token: with
	 * both, the file need not exist yet. */
	if (c->token_file && !c->token) {
		r = kcfg_read_token(c);
		if (r == -ENOMEM)
			return kcfg_oom(l);
		if (r < 0)
			return kcfg_fail(l, r, "%s.tokenFile: %s: %s", at, c->token_file,
					 kcfg_token_problem(r));
	}
	return 0;
}

/* Called once per YAML document: keeps the first that is not empty. */
struct kcfg_docs {
	struct doc *root;
	size_t n;
};

static int kcfg_doc_cb(struct doc *root, void *data)
{
	struct kcfg_docs *docs = data;

	if (root->type == DOC_NULL) {
		doc_free(root);
		return 0;
	}
	docs->n++;
	if (docs->root)
		doc_free(root);
	else
		docs->root = root;
	return 0;
}

/* When the server is plain http, client-go uses neither the TLS settings
 * nor the user's credentials (ClientConfig reads them only if the transport
 * is TLS), so a token never crosses the network in clear. */
static void kcfg_drop_for_http(struct kcfg *c)
{
	if (!c->ca_file && !c->ca_data.data && !c->insecure && !c->tls_server_name &&
	    !c->cert_file && !c->cert_data.data && !c->key_file && !c->key_data.data && !c->token &&
	    !c->token_file)
		return;
	log_warn("%s: server %s is plain http: not using its TLS settings or credentials",
		 c->origin, c->server);
	free(c->ca_file);
	c->ca_file = NULL;
	kcfg_blob_wipe(&c->ca_data);
	c->insecure = false;
	free(c->tls_server_name);
	c->tls_server_name = NULL;
	free(c->cert_file);
	c->cert_file = NULL;
	free(c->key_file);
	c->key_file = NULL;
	kcfg_blob_wipe(&c->cert_data);
	kcfg_blob_wipe(&c->key_data);
	kcfg_wipe_free(c->token);
	c->token = NULL;
	free(c->token_file);
	c->token_file = NULL;
	c->tok_known = false;
}

/* kcfg_load_buffer, with master (already checked by kcfg_url) replacing
 * the cluster's server when not NULL. */
static int kcfg_parse(const char *path, const char *buf, size_t len, const char *master,
		      struct kcfg **out, char *err, size_t err_size)
{
	struct kcfg_ld l = { .path = path, .err = err, .err_size = err_size };
	struct kcfg_docs docs = { 0 };
	const struct doc *root, *ctx_entry, *ctx, *cl_entry = NULL, *user_entry = NULL;
	const char *s, *ctx_name, *cl_name, *user_name = NULL, *server;
	char names[200], yerr[KCFG_ERR_MAX], why[KCFG_ERR_MAX];
	size_t ctx_i, cl_i, user_i;
	struct kcfg *c = NULL;
	bool https = true;
	int r;

	r = kcfg_dir_of(path, &l.dir);
	if (r < 0) {
		kcfg_fail(&l, r, "cannot resolve its directory: %s", strerror(-r));
		goto out;
	}
	r = doc_yaml_parse(buf, len, kcfg_doc_cb, &docs, yerr, sizeof(yerr));
	if (r == -ENOMEM) {
		kcfg_oom(&l);
		goto out;
	}
	if (r < 0) {
		kcfg_fail(&l, r, "%s", yerr);
		goto out;
	}
	root = docs.root;
	if (!root) {
		r = kcfg_fail(&l, -EINVAL, "the file is empty: no configuration has been provided");
		goto out;
	}
	if (docs.n > 1) {
		r = kcfg_fail(&l, -EINVAL, "holds %zu YAML documents, expected one", docs.n);
		goto out;
	}
	if (root->type != DOC_MAP) {
		r = kcfg_fail(&l, -EINVAL, "is %s, expected a map (kind: Config)",
			      doc_type_name(root->type));
		goto out;
	}
	r = kcfg_str(&l, root, NULL, "kind", &s);
	if (r < 0)
		goto out;
	if (r > 0 && strcmp(s, "Config") != 0) {
		r = kcfg_fail(&l, -EINVAL, "kind: \"%s\", expected Config", s);
		goto out;
	}
	r = kcfg_str(&l, root, NULL, "apiVersion", &s);
	if (r < 0)
		goto out;
	if (r > 0 && strcmp(s, "v1") != 0) {
		r = kcfg_fail(&l, -EINVAL, "apiVersion: \"%s\", expected v1", s);
		goto out;
	}

	r = kcfg_str(&l, root, NULL, "current-context", &ctx_name);
	if (r < 0)
		goto out;
	if (r == 0) {
		/* client-go then uses an empty context and fails with "invalid
		 * configuration: no configuration has been provided", even when
		 * there is only one context to pick. */
		r = kcfg_find(&l, root, "contexts", NULL, &ctx_entry, &ctx_i, names, sizeof(names));
		if (r >= 0)
			r = kcfg_fail(&l, -EINVAL,
				      "current-context: not set, so no configuration has been "
				      "provided (contexts: %s); set it to the context to use",
				      *names ? names : "none");
		goto out;
	}
	r = kcfg_find(&l, root, "contexts", ctx_name, &ctx_entry, &ctx_i, names, sizeof(names));
	if (r < 0)
		goto out;
	if (r == 0) {
		r = kcfg_fail(&l, -EINVAL,
			      "current-context: no context named \"%s\" (contexts: %s)", ctx_name,
			      *names ? names : "none");
		goto out;
	}
	snprintf(why, sizeof(why), "contexts[%zu]", ctx_i);
	r = kcfg_map(&l, ctx_entry, why, "context", &ctx);
	if (r < 0)
		goto out;
	snprintf(why, sizeof(why), "contexts[%zu].context", ctx_i);
	r = kcfg_str(&l, ctx, why, "cluster", &cl_name);
	if (r < 0)
		goto out;
	if (r == 0) {
		r = kcfg_fail(&l, -EINVAL, "%s.cluster: not set (context \"%s\")", why, ctx_name);
		goto out;
	}
	r = kcfg_find(&l, root, "clusters", cl_name, &cl_entry, &cl_i, names, sizeof(names));
	if (r < 0)
		goto out;
	if (r == 0) {
		r = kcfg_fail(&l, -EINVAL, "%s.cluster: no cluster named \"%s\" (clusters: %s)",
			      why, cl_name, *names ? names : "none");
		goto out;
	}
	/* No user is a context without credentials; a user that is not there
	 * is a typo (client-go would silently send nothing). */
	r = kcfg_str(&l, ctx, why, "user", &user_name);
	if (r < 0)
		goto out;
	if (r > 0) {
		r = kcfg_find(&l, root, "users", user_name, &user_entry, &user_i, names,
			      sizeof(names));
		if (r < 0)
			goto out;
		if (r == 0) {
			r = kcfg_fail(&l, -EINVAL, "%s.user: no user named \"%s\" (users: %s)", why,
				      user_name, *names ? names : "none");
			goto out;
		}
	}

	c = calloc(1, sizeof(*c));
	if (!c) {
		r = kcfg_oom(&l);
		goto out;
	}
	r = kcfg_cluster(&l, cl_entry, cl_i, c, &server);
	if (r < 0)
		goto out;
	if (user_entry) {
		r = kcfg_user(&l, user_entry, user_i, c);
		if (r < 0)
			goto out;
	}
	if (master) {
		c->server = strdup(master);
		/* As client-go: a --server override drops the kubeconfig's
		 * tls-server-name, which named the other server. */
		free(c->tls_server_name);
		c->tls_server_name = NULL;
		https = strncasecmp(master, "https:", 6) == 0;
	} else if (!server) {
		r = kcfg_fail(&l, -EINVAL, "clusters[%zu].cluster.server: not set (cluster \"%s\")",
			      cl_i, cl_name);
		goto out;
	} else {
		r = kcfg_url(server, &c->server, &https, why, sizeof(why));
		if (r == -ENOMEM) {
			kcfg_oom(&l);
			goto out;
		}
		if (r < 0) {
			kcfg_fail(&l, r, "clusters[%zu].cluster.server: %s", cl_i, why);
			goto out;
		}
	}
	if (!c->server || asprintf(&c->origin, "kubeconfig %s (context %s, cluster %s, user %s)%s",
				   path, ctx_name, cl_name, user_name ? user_name : "(none)",
				   master ? ", server from --master" : "") < 0) {
		c->origin = NULL;
		r = kcfg_oom(&l);
		goto out;
	}
	if (!https)
		kcfg_drop_for_http(c);
	*out = c;
	c = NULL;
	r = 0;
out:
	kcfg_free(c);
	doc_free(docs.root);
	free(l.dir);
	return r;
}

int kcfg_load_buffer(const char *path, const char *buf, size_t len, struct kcfg **out, char *err,
		     size_t err_size)
{
	return kcfg_parse(path, buf, len, NULL, out, err, err_size);
}

/* kcfg_load_file, with master as in kcfg_parse. */
static int kcfg_load(const char *path, const char *master, struct kcfg **out, char *err,
		     size_t err_size)
{
	struct kcfg_ld l = { .path = path, .err = err, .err_size = err_size };
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kcfg_fail(&l, -errno, "cannot open: %s", strerror(errno));
	r = kcfg_read_fd(fd, KCFG_FILE_MAX, &buf, &len);
	close(fd);
	if (r < 0)
		return kcfg_fail(&l, r, "cannot read: %s",
				 r == -EFBIG ? "larger than 16 MiB" : strerror(-r));
	r = kcfg_parse(path, buf, len, master, out, err, err_size);
	/* It held the tokens and keys of every user. */
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

/* Says which server is used; a client that does not verify the server is
 * told loudly, since whoever answers for it then writes this node's rules. */
static void kcfg_log_using(const struct kcfg *c)
{
	log_v(2, "using %s: server %s", c->origin, c->server);
	if (c->insecure)
		log_warn("%s: insecure-skip-tls-verify is set: the identity of %s is not "
			 "checked, and anyone who can answer for it controls this node's "
			 "service rules", c->origin, c->server);
}

int kcfg_load_file(const char *path, struct kcfg **out, char *err, size_t err_size)
{
	int r = kcfg_load(path, NULL, out, err, err_size);

	if (r == 0)
		kcfg_log_using(*out);
	return r;
}

static bool kcfg_in_cluster_env(const char **host, const char **port)
{
	*host = getenv("KUBERNETES_SERVICE_HOST");
	*port = getenv("KUBERNETES_SERVICE_PORT");
	return *host && **host && *port && **port;
}

int kcfg_in_cluster(const char *sa_dir, struct kcfg **out, char *err, size_t err_size)
{
	const char *host, *port;
	struct kcfg *c = NULL;
	char why[KCFG_ERR_MAX];
	char *url = NULL;
	bool v6, https;
	int r;

	if (!sa_dir || !*sa_dir)
		sa_dir = KCFG_SA_DIR;
	if (!kcfg_in_cluster_env(&host, &port))
		return kcfg_errf(err, err_size, -ENOENT,
				 "in-cluster config: KUBERNETES_SERVICE_HOST and "
				 "KUBERNETES_SERVICE_PORT must be set (they are in a pod)");
	v6 = strchr(host, ':') && host[0] != '[';
	c = calloc(1, sizeof(*c));
	if (!c ||
	    asprintf(&url, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0) {
		url = NULL;
		r = kcfg_errf(err, err_size, -ENOMEM, "in-cluster config: out of memory");
		goto out;
	}
	r = kcfg_url(url, &c->server, &https, why, sizeof(why));
	if (r < 0) {
		kcfg_errf(err, err_size, r,
			  "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
			  "make %s",
			  r == -ENOMEM ? "no URL: out of memory" : why);
		goto out;
	}
	c->origin = strdup("in-cluster config (service account)");
	if (asprintf(&c->token_file, "%s/token", sa_dir) < 0)
		c->token_file = NULL;
	if (asprintf(&c->ca_file, "%s/ca.crt", sa_dir) < 0)
		c->ca_file = NULL;
	if (!c->origin || !c->token_file || !c->ca_file) {
		r = kcfg_errf(err, err_size, -ENOMEM, "in-cluster config: out of memory");
		goto out;
	}
	r = kcfg_read_token(c);
	if (r < 0) {
		kcfg_errf(err, err_size, r, "in-cluster config: %s: %s", c->token_file,
			  kcfg_token_problem(r));
		goto out;
	}
	/* rest.InClusterConfig only logs this, but the client then fails to
	 * build its transport: say so at start, with the path. */
	r = kcfg_check_file(c->ca_file);
	if (r < 0) {
		kcfg_errf(err, err_size, r, "in-cluster config: %s: %s", c->ca_file, strerror(-r));
		goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
out:
	free(url);
	kcfg_free(c);
	return r;
}

int kcfg_resolve(const char *kubeconfig, const char *master, const char *sa_dir, struct kcfg **out,
		 char *err, size_t err_size)
{
	const char *host, *port;
	struct kcfg *c = NULL;
	char why[KCFG_ERR_MAX];
	char *url = NULL;
	bool https;
	int r;

	if (kubeconfig && !*kubeconfig)
		kubeconfig = NULL;
	if (master && !*master)
		master = NULL;
	if (master) {
		r = kcfg_url(master, &url, &https, why, sizeof(why));
		if (r < 0) {
			kcfg_errf(err, err_size, r, "--master: %s",
				  r == -ENOMEM ? "out of memory" : why);
			goto out;
		}
	}
	if (kubeconfig) {
		r = kcfg_load(kubeconfig, url, &c, err, err_size);
		if (r < 0)
			goto out;
	} else if (url) {
		c = calloc(1, sizeof(*c));
		if (!c || asprintf(&c->origin, "--master %s", url) < 0) {
			if (c)
				c->origin = NULL;
			r = kcfg_errf(err, err_size, -ENOMEM, "--master: out of memory");
			goto out;
		}
		c->server = url;
		url = NULL;
		log_warn("--master %s without --kubeconfig: no credentials and no CA of its own; "
			 "the API server must allow anonymous access",
			 c->server);
	} else if (!kcfg_in_cluster_env(&host, &port)) {
		r = kcfg_errf(
			err, err_size, -ENOENT,
			"no API server configured: pass --kubeconfig or --master "
			"(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set, so "
			"this is not a pod and the in-cluster config does not apply)");
		goto out;
	} else {
		r = kcfg_in_cluster(sa_dir, &c, err, err_size);
		if (r < 0)
			goto out;
	}
	kcfg_log_using(c);
	*out = c;
	c = NULL;
	r = 0;
out:
	free(url);
	kcfg_free(c);
	return r;
}
