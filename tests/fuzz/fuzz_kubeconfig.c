/* A kubeconfig of any bytes through kcfg_load_buffer, and the same bytes
 * through kcfg_base64_decode against a plain reference decoder.
 *
 * What kubeconfig.h promises and is checked here: on success a server URL
 * (https:// or http://, no trailing slash), an origin, at most one CA form
 * and never with insecure, a client certificate and key both or neither
 * (one form each), absolute paths, blobs NULL exactly when empty, a token
 * that fits an HTTP header, and nothing of TLS or credentials left for a
 * plain http server; on failure a negative errno, *out untouched, and a
 * message "kubeconfig PATH: ..." that holds no token, key or certificate
 * of the input (nor the token file's content).
 *
 * The files a kubeconfig may name exist in a directory made at start
 * (relative names resolve there): ca.crt, client.crt, client.key, token
 * (FUZZ_TOKEN), empty and dir/. */
#include "lib/kube/doc_yaml.h"
#include "lib/kube/kubeconfig.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_TOKEN "fuzz-file-token-9f8e7d6c5b4a"

static char dir[64], path[96];

static void put_file(const char *name, const char *content)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	FUZZ_CHECK(f && fputs(content, f) >= 0 && fclose(f) == 0, "cannot write %s", p);
}

static void remove_dir(void)
{
	static const char *const names[] = { "ca.crt", "client.crt", "client.key", "token",
					      "empty" };
	char p[128];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/dir", dir);
	rmdir(p);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[128];
	int fd;

	fuzz_init();
	/* A tokenFile of /dev/stdin must not wait for a terminal. */
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	snprintf(dir, sizeof(dir), "%s/nftp-fuzz-kcfg.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	FUZZ_CHECK(strlen(dir) < sizeof(dir) - 1 && mkdtemp(dir), "mkdtemp %s", dir);
	atexit(remove_dir);
	put_file("ca.crt", "-----BEGIN CERTIFICATE-----\n");
	put_file("client.crt", "-----BEGIN CERTIFICATE-----\n");
	put_file("client.key", "-----BEGIN PRIVATE KEY-----\n");
	put_file("token", " " FUZZ_TOKEN "\n");
	put_file("empty", "");
	snprintf(p, sizeof(p), "%s/dir", dir);
	FUZZ_CHECK(mkdir(p, 0700) == 0, "mkdir %s", p);
	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	return 0;
}

/* ---- base64 ---- */

static int b64(unsigned char ch)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = ch ? strchr(a, ch) : NULL;

	return p ? (int)(p - a) : -1;
}

/* RFC 4648 with '=' padding required, whitespace anywhere ignored: 1 and
 * the bytes in out, or 0 when not base64. */
static int ref_base64(const uint8_t *in, size_t len, uint8_t *out, size_t *n)
{
	uint8_t *s = malloc(len + 1);
	size_t m = 0, pad = 0;
	int ok = 0;

	FUZZ_CHECK(s, "out of memory");
	for (size_t i = 0; i < len; i++)
		if (!strchr(" \t\r\n", in[i]) || !in[i])
			s[m++] = in[i];
	*n = 0;
	if (m % 4)
		goto out;
	while (pad < m && s[m - 1 - pad] == '=')
		pad++;
	if (pad > 2)
		goto out;
	for (size_t i = 0; i < m; i += 4) {
		uint32_t acc = 0;
		size_t k = i + 4 == m ? 4 - pad : 4;

		for (size_t j = 0; j < k; j++) {
			int v = b64(s[i + j]);

			if (v < 0)
				goto out;
			acc |= (uint32_t)v << (18 - 6 * j);
		}
		for (size_t j = 0; j + 1 < k; j++)
			out[(*n)++] = (uint8_t)(acc >> (16 - 8 * j));
	}
	ok = 1;
out:
	free(s);
	return ok;
}

static void check_base64(const uint8_t *data, size_t size)
{
	struct kcfg_blob b = { 0 };
	uint8_t *want = malloc(size / 4 * 3 + 3);
	size_t n;
	int ok, r;

	FUZZ_CHECK(want, "out of memory");
	ok = ref_base64(data, size, want, &n);
	r = kcfg_base64_decode((const char *)data, size, &b);
	FUZZ_CHECK(r == 0 || r == -EINVAL, "base64: %d", r);
	FUZZ_CHECK((r == 0) == ok, "base64: kcfg says %d, the reference %s", r,
		   ok ? "decodes it" : "refuses it");
	if (r == 0) {
		FUZZ_CHECK(b.data != NULL, "base64: data NULL on success");
		FUZZ_CHECK(b.len == n && !memcmp(b.data, want, n), "base64: %zu bytes, want %zu",
			   b.len, n);
		free(b.data);
	}
	free(want);
}

/* ---- secrets in messages ---- */

struct strs {
	const char **v;
	size_t n;
};

static void strs_add(struct strs *s, const char *p)
{
	const char **v = realloc(s->v, (s->n + 1) * sizeof(*v));

	FUZZ_CHECK(v, "out of memory");
	v[s->n++] = p;
	s->v = v;
}

static bool secret_key(const char *k)
{
	static const char *const keys[] = { "token", "client-key-data", "client-certificate-data",
					    "certificate-authority-data", "password" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(k, keys[i]) == 0)
			return true;
	return false;
}

/* Secrets: string values of the keys above; public: every other string
 * and key (names, which messages do show). */
static void collect(const struct doc *d, bool secret, struct strs *sec, struct strs *pub)
{
	if (d->type == DOC_STRING && doc_is_cstring(d))
		strs_add(secret ? sec : pub, d->str.ptr);
	if (d->type == DOC_MAP)
		for (size_t i = 0; i < d->map.n; i++) {
			strs_add(pub, d->map.items[i].key);
			collect(d->map.items[i].value, secret_key(d->map.items[i].key), sec, pub);
		}
	if (d->type == DOC_SEQ)
		for (size_t i = 0; i < d->seq.n; i++)
			collect(d->seq.items[i], false, sec, pub);
}

struct docs {
	struct doc *v[4];
	size_t n;
};

static int docs_cb(struct doc *root, void *data)
{
	struct docs *d = data;

	if (d->n < 4)
		d->v[d->n++] = root;
	else
		doc_free(root);
	return 0;
}

static void check_no_secret(const uint8_t *data, size_t size, const char *msg)
{
	struct docs docs = { 0 };
	struct strs sec = { 0 }, pub = { 0 };
	char yerr[256];

	/* (Unless the input has it too: the fuzzer learns it from strstr.) */
	FUZZ_CHECK(!strstr(msg, FUZZ_TOKEN) || memmem(data, size, FUZZ_TOKEN, strlen(FUZZ_TOKEN)),
		   "the token file's content is in \"%s\"", msg);
	if (doc_yaml_parse(data, size, docs_cb, &docs, yerr, sizeof(yerr)) < 0)
		goto out;
	for (size_t i = 0; i < docs.n; i++)
		collect(docs.v[i], false, &sec, &pub);
	strs_add(&pub, path);
	for (size_t i = 0; i < sec.n; i++) {
		bool shown = false;

		/* Short values could be any word of a message. */
		if (strlen(sec.v[i]) < 16 || !strstr(msg, sec.v[i]))
			continue;
		for (size_t j = 0; j < pub.n && !shown; j++)
			shown = strstr(pub.v[j], sec.v[i]) != NULL;
		FUZZ_CHECK(shown, "a secret value (%zu bytes) is in the message \"%s\"",
			   strlen(sec.v[i]), msg);
	}
out:
	for (size_t i = 0; i < docs.n; i++)
		doc_free(docs.v[i]);
	free(sec.v);
	free(pub.v);
}

/* ---- the loaded configuration ---- */

static void check_blob(const struct kcfg_blob *b, const char *what)
{
	FUZZ_CHECK(!b->data == !b->len, "%s: data %p, len %zu", what, (void *)b->data, b->len);
}

static void check_path(const char *p, const char *what)
{
	FUZZ_CHECK(!p || p[0] == '/', "%s: \"%s\" is not absolute", what, p);
}

static void check_config(struct kcfg *c)
{
	bool http;
	size_t n;

	FUZZ_CHECK(c->server, "no server");
	n = strlen(c->server);
	http = strncasecmp(c->server, "http://", 7) == 0;
	FUZZ_CHECK(http || strncasecmp(c->server, "https://", 8) == 0, "server \"%s\"",
		   c->server);
	FUZZ_CHECK(c->server[n - 1] != '/', "server \"%s\" ends with /", c->server);
	FUZZ_CHECK(c->origin && strncmp(c->origin, "kubeconfig ", 11) == 0, "origin \"%s\"",
		   c->origin ? c->origin : "(null)");
	FUZZ_CHECK(!(c->ca_file && c->ca_data.data), "both CA forms");
	FUZZ_CHECK(!(c->insecure && (c->ca_file || c->ca_data.data)), "insecure with a CA");
	check_blob(&c->ca_data, "ca_data");
	check_blob(&c->cert_data, "cert_data");
	check_blob(&c->key_data, "key_data");
	FUZZ_CHECK(!(c->cert_file && c->cert_data.data), "both certificate forms");
	FUZZ_CHECK(!(c->key_file && c->key_data.data), "both key forms");
	FUZZ_CHECK(!(c->cert_file || c->cert_data.data) == !(c->key_file || c->key_data.data),
		   "a certificate without a key or the reverse");
	check_path(c->ca_file, "ca_file");
	check_path(c->cert_file, "cert_file");
	check_path(c->key_file, "key_file");
	check_path(c->token_file, "token_file");
	FUZZ_CHECK(!c->tls_server_name || *c->tls_server_name, "empty tls-server-name");
	if (c->token) {
		FUZZ_CHECK(*c->token, "empty token");
		for (const char *t = c->token; *t; t++)
			FUZZ_CHECK((unsigned char)*t > 0x20 && (unsigned char)*t < 0x7f,
				   "token byte 0x%02x", (unsigned char)*t);
	}
	if (http)
		FUZZ_CHECK(!c->ca_file && !c->ca_data.data && !c->insecure && !c->tls_server_name &&
				   !c->cert_file && !c->cert_data.data && !c->key_file &&
				   !c->key_data.data && !c->token && !c->token_file,
			   "TLS settings or credentials kept for %s", c->server);
	/* A token file read at load is the token now. */
	FUZZ_CHECK(kcfg_token(c, false) == c->token, "kcfg_token");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kcfg *c = (struct kcfg *)&c;
	char err[KCFG_ERR_MAX + 8];
	int r;

	check_base64(data, size);

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	r = kcfg_load_buffer(path, (const char *)data, size, &c, err, KCFG_ERR_MAX);
	if (r == 0) {
		FUZZ_CHECK(c && c != (struct kcfg *)&c, "success without a config");
		check_config(c);
		kcfg_free(c);
		return 0;
	}
	FUZZ_CHECK(r < 0, "returns %d", r);
	FUZZ_CHECK(c == (struct kcfg *)&c, "*out written on failure");
	FUZZ_CHECK(strnlen(err, KCFG_ERR_MAX) < KCFG_ERR_MAX, "message not terminated");
	FUZZ_CHECK(strncmp(err, "kubeconfig ", 11) == 0 && strstr(err, ": "), "message \"%s\"",
		   err);
	FUZZ_CHECK(r != -EBADMSG || strstr(err, "line "), "a syntax error without a line: \"%s\"",
		   err);
	check_no_secret(data, size, err);
	return 0;
}
