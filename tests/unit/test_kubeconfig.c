/* lib/kube/kubeconfig: kubeconfig files, --master, the in-cluster config,
 * token file rotation, base64, and that no error or log line ever carries a
 * credential. Fixtures are in data/kubeconfig; variants and service-account
 * directories are written to a temporary directory. */
#include "lib/kube/kubeconfig.h"
#include "lib/util/log.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_HAS(hay, needle)                                                                     \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_)) {                                                      \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,       \
				__LINE__, h_ ? h_ : "(null)", n_);                                 \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_HASNT(hay, needle)                                                                   \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (h_ && strstr(h_, n_)) {                                                        \
			fprintf(stderr, "%s:%d: \"%s\" must not contain \"%s\"\n", __FILE__,       \
				__LINE__, h_, n_);                                                 \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_BLOB(blob, bytes)                                                                    \
	do {                                                                                       \
		const struct kcfg_blob *bl_ = &(blob);                                             \
		CHECK(bl_->data != NULL);                                                          \
		CHECK_INT(bl_->len, sizeof(bytes) - 1);                                            \
		CHECK(memcmp(bl_->data, bytes, sizeof(bytes) - 1) == 0);                           \
	} while (0)

/* The decoded *-data of the fixtures (see the YAML in data/kubeconfig). */
#define CA_PEM	 "-----BEGIN CERTIFICATE-----\nTESTCA-DATA\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nTESTCLIENT-CERT\n-----END CERTIFICATE-----\n"
#define KEY_PEM	 "-----BEGIN PRIVATE KEY-----\nTESTCLIENT-KEY\0\xff\x01\n-----END PRIVATE KEY-----\n"

static char tmpdir[] = "/tmp/nftp-kcfg-XXXXXX";
static char cwd[1024];

/* ---- helpers ---- */

static const char *tmp_path(const char *name)
{
	static char bufs[4][4200];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
	return b;
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK_INT(fwrite(content, 1, strlen(content), f), strlen(content));
	CHECK_INT(fclose(f), 0);
}

/* Replaces path the way the kubelet's atomic writer does: a new inode. */
static void replace_file(const char *path, const char *content)
{
	char tmp[4300];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	write_file(tmp, content);
	CHECK_INT(rename(tmp, path), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_tmpdir(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Loads yaml written to the temp dir as k.yaml; expects failure with rc and
 * every non-NULL want in the message, and that *out was left alone. */
static void expect_err(const char *yaml, int rc, const char *want1, const char *want2)
{
	struct kcfg *c = (struct kcfg *)&c;
	char err[KCFG_ERR_MAX] = "";

	write_file(tmp_path("k.yaml"), yaml);
	CHECK_INT(kcfg_load_file(tmp_path("k.yaml"), &c, err, sizeof(err)), rc);
	CHECK(c == (struct kcfg *)&c);
	CHECK_HAS(err, "kubeconfig ");
	CHECK_HAS(err, tmp_path("k.yaml"));
	if (want1)
		CHECK_HAS(err, want1);
	if (want2)
		CHECK_HAS(err, want2);
	CHECK(strchr(err, '\n') == NULL);
}

static struct kcfg *load_ok(const char *path)
{
	struct kcfg *c = NULL;
	char err[KCFG_ERR_MAX] = "";
	int r = kcfg_load_file(path, &c, err, sizeof(err));

	if (r != 0)
		fprintf(stderr, "kcfg_load_file(%s): %d %s\n", path, r, err);
	CHECK_INT(r, 0);
	CHECK(c != NULL);
	return c;
}

static const char *abs_fixture(const char *rel)
{
	static char buf[1200];

	snprintf(buf, sizeof(buf), "%s/data/kubeconfig/%s", cwd, rel);
	return buf;
}

/* The context, cluster and user sections of a small kubeconfig, for the
 * error cases to vary one piece at a time. */
#define KC_HEAD                                                                                    \
	"apiVersion: v1\nkind: Config\ncurrent-context: c\n"                                       \
	"contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
#define KC_CLUSTER    "clusters:\n- name: k\n  cluster:\n    server: https://k.test\n"
#define KC_USER_TOKEN "users:\n- name: u\n  user:\n    token: t\n"

/* ---- tests ---- */

static void test_base64(void)
{
	static const struct {
		const char *in, *out;
		size_t len;
	} ok[] = {
		{ "", "", 0 },
		{ "Zg==", "f", 1 },
		{ "Zm8=", "fo", 2 },
		{ "Zm9v", "foo", 3 },
		{ " Zm9v\nYmFy\r\n\t", "foobar", 6 },
		{ "Zm9vYg==\n", "foob", 4 },
		{ "AP8B", "\0\xff\x01", 3 },
		{ "+/+/", "\xfb\xff\xbf", 3 },
	};
	static const char *const bad[] = {
		"Zg",	"Zg=",	"Z===",	 "====", "Zm9v=", "Zg==Zg==", "Zg=a",
		"Zm9-", "Zm9_", "Zm9v!", "Z",	 "Zm9vY", "Zg= =x",
	};
	struct kcfg_blob b;
	unsigned char all[256];
	char enc[400];
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		b.data = NULL;
		CHECK_INT(kcfg_base64_decode(ok[i].in, strlen(ok[i].in), &b), 0);
		CHECK(b.data != NULL);
		CHECK_INT(b.len, ok[i].len);
		CHECK(memcmp(b.data, ok[i].out, ok[i].len) == 0);
		free(b.data);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b.data = NULL;
		if (kcfg_base64_decode(bad[i], strlen(bad[i]), &b) != -EINVAL) {
			fprintf(stderr, "\"%s\" decoded\n", bad[i]);
			exit(1);
		}
		CHECK(b.data == NULL);
	}
	/* A NUL is not whitespace. */
	CHECK_INT(kcfg_base64_decode("Zm9v\0YmFy", 9, &b), -EINVAL);

	/* Every byte value at every offset, against a reference encoder. */
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	for (size_t n = 0; n <= 256; n += (n < 12 ? 1 : 61)) {
		size_t o = 0;

		for (size_t i = 0; i < n; i += 3) {
			unsigned v = (unsigned)all[i] << 16 | (i + 1 < n ? all[i + 1] << 8 : 0) |
				     (i + 2 < n ? all[i + 2] : 0);

			enc[o++] = alpha[v >> 18 & 63];
			enc[o++] = alpha[v >> 12 & 63];
			enc[o++] = i + 1 < n ? alpha[v >> 6 & 63] : '=';
			enc[o++] = i + 2 < n ? alpha[v & 63] : '=';
		}
		CHECK_INT(kcfg_base64_decode(enc, o, &b), 0);
		CHECK_INT(b.len, n);
		CHECK(memcmp(b.data, all, n) == 0);
		free(b.data);
	}
}

static void test_token_and_ca_data(void)
{
	struct kcfg *c = load_ok("data/kubeconfig/token.yaml");

	CHECK_STR(c->server, "https://10.96.0.1:6443");
	CHECK_STR(c->origin,
		  "kubeconfig data/kubeconfig/token.yaml (context proxy@prod, cluster prod, user "
		  "kube-proxy)");
	CHECK_BLOB(c->ca_data, CA_PEM);
	CHECK(c->ca_file == NULL);
	CHECK(!c->insecure);
	CHECK_STR(c->tls_server_name, "kubernetes.default.svc");
	CHECK(c->cert_file == NULL && c->key_file == NULL);
	CHECK(c->cert_data.data == NULL && c->key_data.data == NULL);
	CHECK_STR(c->token, "tok-abc.123_XYZ");
	CHECK(c->token_file == NULL);
	CHECK_STR(kcfg_token(c, false), "tok-abc.123_XYZ");
	CHECK_STR(kcfg_token(c, true), "tok-abc.123_XYZ");
	kcfg_free(c);
	kcfg_free(NULL);
	CHECK(kcfg_token(NULL, false) == NULL);
}

static void test_files_relative(void)
{
	char want[8300];
	struct kcfg *c = load_ok("data/kubeconfig/files.yaml");

	CHECK_STR(c->server, "https://api.example.test:6443");
	snprintf(want, sizeof(want), "%s/data/kubeconfig/certs/ca.crt", cwd);
	CHECK_STR(c->ca_file, want);
	snprintf(want, sizeof(want), "%s/data/kubeconfig/certs/client.crt", cwd);
	CHECK_STR(c->cert_file, want);
	snprintf(want, sizeof(want), "%s/data/kubeconfig/certs/client.key", cwd);
	CHECK_STR(c->key_file, want);
	CHECK(c->ca_data.data == NULL && c->cert_data.data == NULL && c->key_data.data == NULL);
	CHECK(c->token == NULL && c->token_file == NULL);
	CHECK(kcfg_token(c, false) == NULL);
	kcfg_free(c);

	/* The kubeconfig's directory, not the working directory, even when the
	 * kubeconfig is named by an absolute path from elsewhere. */
	CHECK_INT(chdir("/"), 0);
	c = load_ok(abs_fixture("files.yaml"));
	CHECK_INT(chdir(cwd), 0);
	snprintf(want, sizeof(want), "%s/data/kubeconfig/certs/client.key", cwd);
	CHECK_STR(c->key_file, want);
	kcfg_free(c);
}

static void test_data_forms(void)
{
	struct kcfg *c = load_ok("data/kubeconfig/data.yaml");

	CHECK_STR(c->server, "https://[fd00::10]:443");
	CHECK_BLOB(c->ca_data, CA_PEM);
	CHECK_BLOB(c->cert_data, CERT_PEM);
	/* Split over lines in the file, with a NUL and 0xff inside. */
	CHECK_BLOB(c->key_data, KEY_PEM);
	CHECK(c->ca_file == NULL && c->cert_file == NULL && c->key_file == NULL);
	kcfg_free(c);
}

static void test_current_context(void)
{
	struct kcfg *c = load_ok("data/kubeconfig/contexts.yaml");

	CHECK_STR(c->server, "https://staging.example.test:8443/k8s/clusters/c-42");
	CHECK_STR(c->token, "staging-token");
	CHECK_STR(kcfg_token(c, false), "staging-token");
	CHECK(c->insecure);
	CHECK(c->ca_file == NULL && c->ca_data.data == NULL);
	CHECK_HAS(c->origin, "(context staging, cluster staging, user stage-user)");
	kcfg_free(c);

	/* Same file, another current-context: a cluster and user listed first. */
	write_file(tmp_path("ctx.yaml"),
		   "current-context: prod\n"
		   "clusters:\n- name: prod\n  cluster: {server: "
		   "'https://prod.example.test'}\n- name: dev\n  cluster: "
		   "{server: 'https://dev.example.test'}\n"
		   "contexts:\n- name: dev\n  context: {cluster: dev, user: dev}\n"
		   "- name: prod\n  context: {cluster: prod, user: dev}\n"
		   "users:\n- name: dev\n  user: {token: dev-token}\n");
	c = load_ok(tmp_path("ctx.yaml"));
	CHECK_STR(c->server, "https://prod.example.test");
	CHECK_STR(c->token, "dev-token");
	CHECK(!c->insecure);
	kcfg_free(c);
}

static void test_master_override(void)
{
	struct kcfg *c = NULL;
	char err[KCFG_ERR_MAX] = "";

	CHECK_INT(kcfg_resolve("data/kubeconfig/token.yaml", "https://192.0.2.1:443/",
			       "/nonexistent", &c, err, sizeof(err)),
		  0);
	CHECK_STR(c->server, "https://192.0.2.1:443");
	CHECK_STR(c->token, "tok-abc.123_XYZ");
	CHECK_BLOB(c->ca_data, CA_PEM);
	/* It named the kubeconfig's server, not this one (as client-go). */
	CHECK(c->tls_server_name == NULL);
	CHECK_HAS(c->origin, "kubeconfig data/kubeconfig/token.yaml (context proxy@prod");
	CHECK_HAS(c->origin, "server from --master");
	kcfg_free(c);

	/* A plain-http server gets no credentials and no TLS settings. */
	c = NULL;
	CHECK_INT(kcfg_resolve("data/kubeconfig/token.yaml", "http://127.0.0.1:8080", NULL, &c, err,
			       sizeof(err)),
		  0);
	CHECK_STR(c->server, "http://127.0.0.1:8080");
	CHECK(c->token == NULL && c->ca_data.data == NULL && c->tls_server_name == NULL);
	CHECK(kcfg_token(c, true) == NULL);
	kcfg_free(c);

	/* A server missing from the kubeconfig is fine when --master gives one. */
	write_file(tmp_path("noserver.yaml"),
		   KC_HEAD "clusters:\n- name: k\n  cluster:\n"
			   "    insecure-skip-tls-verify: true\n" KC_USER_TOKEN);
	c = NULL;
	CHECK_INT(kcfg_resolve(tmp_path("noserver.yaml"), "https://[2001:db8::1]:6443", NULL, &c,
			       err, sizeof(err)),
		  0);
	CHECK_STR(c->server, "https://[2001:db8::1]:6443");
	CHECK(c->insecure);
	CHECK_STR(c->token, "t");
	kcfg_free(c);
	expect_err(KC_HEAD "clusters:\n- name: k\n  cluster:\n    insecure-skip-tls-verify: "
			   "true\n" KC_USER_TOKEN,
		   -EINVAL, "clusters[0].cluster.server: not set", "\"k\"");
}

static void test_master_only(void)
{
	static const char *const bad[] = {
		"10.0.0.1:6443",    "ftp://x",
		"https://",	    "https://:443",
		"https://h:0",	    "https://h:65536",
		"https://h:x",	    "https://fd00::1:443",
		"https://[fd00::1", "https://h/?watch=1",
		"https://h#x",	    "https://h k",
	};
	struct kcfg *c = NULL;
	char err[KCFG_ERR_MAX] = "";

	CHECK_INT(kcfg_resolve("", "http://127.0.0.1:8080/", NULL, &c, err, sizeof(err)), 0);
	CHECK_STR(c->server, "http://127.0.0.1:8080");
	CHECK_STR(c->origin, "--master http://127.0.0.1:8080");
	CHECK(c->token == NULL && c->token_file == NULL && c->ca_file == NULL);
	CHECK(c->ca_data.data == NULL && c->cert_file == NULL && !c->insecure);
	CHECK(kcfg_token(c, false) == NULL);
	kcfg_free(c);

	c = NULL;
	CHECK_INT(kcfg_resolve(NULL, "https://api.example.test", NULL, &c, err, sizeof(err)), 0);
	CHECK_STR(c->server, "https://api.example.test");
	kcfg_free(c);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = (struct kcfg *)&c;
		err[0] = '\0';
		if (kcfg_resolve(NULL, bad[i], NULL, &c, err, sizeof(err)) != -EINVAL) {
			fprintf(stderr, "--master %s accepted\n", bad[i]);
			exit(1);
		}
		CHECK(c == (struct kcfg *)&c);
		CHECK_HAS(err, "--master: ");
	}
	/* Credentials in the URL are refused without being repeated. */
	CHECK_INT(kcfg_resolve(NULL, "https://admin:hunter2@h", NULL, &c, err, sizeof(err)),
		  -EINVAL);
	CHECK_HAS(err, "--master: credentials in the URL");
	CHECK_HASNT(err, "hunter2");
}

static void test_neither(void)
{
	struct kcfg *c = (struct kcfg *)&c;
	char err[KCFG_ERR_MAX] = "";

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	CHECK_INT(kcfg_resolve(NULL, NULL, NULL, &c, err, sizeof(err)), -ENOENT);
	CHECK(c == (struct kcfg *)&c);
	CHECK_HAS(err, "pass --kubeconfig or --master");
	CHECK_HAS(err, "KUBERNETES_SERVICE_HOST");
	/* Only one of the two variables is not enough, nor are empty ones. */
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	CHECK_INT(kcfg_resolve("", "", NULL, &c, err, sizeof(err)), -ENOENT);
	setenv("KUBERNETES_SERVICE_PORT", "", 1);
	CHECK_INT(kcfg_resolve("", "", NULL, &c, err, sizeof(err)), -ENOENT);
	CHECK_INT(kcfg_in_cluster(NULL, &c, err, sizeof(err)), -ENOENT);
	CHECK_HAS(err, "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT");
	CHECK(c == (struct kcfg *)&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_in_cluster(void)
{
	char sa[4300], tok[4400], ca[4400];
	struct kcfg *c = (struct kcfg *)&c;
	char err[KCFG_ERR_MAX] = "";

	snprintf(sa, sizeof(sa), "%s", tmp_path("sa"));
	CHECK_INT(mkdir(sa, 0700), 0);
	snprintf(tok, sizeof(tok), "%s/token", sa);
	snprintf(ca, sizeof(ca), "%s/ca.crt", sa);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);

	/* The token file must be there at start... */
	CHECK_INT(kcfg_resolve(NULL, NULL, sa, &c, err, sizeof(err)), -ENOENT);
	CHECK_HAS(err, "in-cluster config: ");
	CHECK_HAS(err, tok);
	CHECK(c == (struct kcfg *)&c);
	write_file(tok, "\n");
	CHECK_INT(kcfg_resolve(NULL, NULL, sa, &c, err, sizeof(err)), -ENODATA);
	CHECK_HAS(err, "is empty");
	/* ... and so must the CA. */
	write_file(tok, "sa-token-1\n");
	CHECK_INT(kcfg_resolve(NULL, NULL, sa, &c, err, sizeof(err)), -ENOENT);
	CHECK_HAS(err, ca);
	CHECK_HASNT(err, "sa-token-1");
	write_file(ca, CA_PEM);

	CHECK_INT(kcfg_resolve(NULL, NULL, sa, &c, err, sizeof(err)), 0);
	CHECK_STR(c->server, "https://10.96.0.1:443");
	CHECK_STR(c->origin, "in-cluster config (service account)");
	CHECK_STR(c->token_file, tok);
	CHECK_STR(c->ca_file, ca);
	CHECK(c->ca_data.data == NULL && !c->insecure && c->cert_file == NULL);
	CHECK_STR(kcfg_token(c, false), "sa-token-1");
	kcfg_free(c);

	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	c = NULL;
	CHECK_INT(kcfg_in_cluster(sa, &c, err, sizeof(err)), 0);
	CHECK_STR(c->server, "https://[fd00:10:96::1]:6443");
	kcfg_free(c);

	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	c = (struct kcfg *)&c;
	CHECK_INT(kcfg_in_cluster(sa, &c, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "KUBERNETES_SERVICE_PORT");
	CHECK_HAS(err, "port");
	CHECK(c == (struct kcfg *)&c);

	/* A kubeconfig wins over the environment. */
	c = NULL;
	CHECK_INT(kcfg_resolve("data/kubeconfig/token.yaml", NULL, sa, &c, err, sizeof(err)), 0);
	CHECK_STR(c->server, "https://10.96.0.1:6443");
	kcfg_free(c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_token_rotation(void)
{
	char sa[4300], tok[4400], ca[4400];
	struct kcfg *c = NULL;
	char err[KCFG_ERR_MAX] = "";

	snprintf(sa, sizeof(sa), "%s", tmp_path("rot"));
	CHECK_INT(mkdir(sa, 0700), 0);
	snprintf(tok, sizeof(tok), "%s/token", sa);
	snprintf(ca, sizeof(ca), "%s/ca.crt", sa);
	write_file(tok, "  first-token\r\n");
	write_file(ca, CA_PEM);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	CHECK_INT(kcfg_in_cluster(sa, &c, err, sizeof(err)), 0);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");

	CHECK_STR(kcfg_token(c, false), "first-token");
	CHECK_STR(kcfg_token(c, false), "first-token");
	/* The kubelet's way: a new file renamed over the old one. */
	replace_file(tok, "second-token\n");
	CHECK_STR(kcfg_token(c, false), "second-token");
	/* Rewritten in place with another length. */
	write_file(tok, "third-token-longer");
	CHECK_STR(kcfg_token(c, false), "third-token-longer");
	/* Rewritten in place, same length, same clock tick maybe: force sees it. */
	write_file(tok, "THIRD-TOKEN-LONGER");
	CHECK_STR(kcfg_token(c, true), "THIRD-TOKEN-LONGER");
	/* Gone, empty, or holding a line break: the last good token stays. */
	CHECK_INT(unlink(tok), 0);
	CHECK_STR(kcfg_token(c, false), "THIRD-TOKEN-LONGER");
	CHECK_STR(kcfg_token(c, true), "THIRD-TOKEN-LONGER");
	CHECK_INT(c->tok_last_err, -ENOENT);
	write_file(tok, " \n");
	CHECK_STR(kcfg_token(c, false), "THIRD-TOKEN-LONGER");
	CHECK_INT(c->tok_last_err, -ENODATA);
	write_file(tok, "evil\r\nX-Injected: 1\n");
	CHECK_STR(kcfg_token(c, false), "THIRD-TOKEN-LONGER");
	CHECK_INT(c->tok_last_err, -EILSEQ);
	/* Back: read again, and the error is forgotten. */
	replace_file(tok, "fourth-token");
	CHECK_STR(kcfg_token(c, false), "fourth-token");
	CHECK_INT(c->tok_last_err, 0);
	kcfg_free(c);
}

static void test_token_file_kubeconfig(void)
{
	struct kcfg *c;
	char want[4300];

	/* tokenFile alone: relative to the kubeconfig, read at load. */
	CHECK_INT(mkdir(tmp_path("tf"), 0700), 0);
	write_file(tmp_path("tf/k.yaml"),
		   KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    tokenFile: secrets/tok\n");
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    tokenFile: tf/secrets/tok\n",
		   -ENOENT, "users[0].user.tokenFile: ", "tf/secrets/tok: No such file");
	CHECK_INT(mkdir(tmp_path("tf/secrets"), 0700), 0);
	write_file(tmp_path("tf/secrets/tok"), "file-token-1\n");
	c = load_ok(tmp_path("tf/k.yaml"));
	snprintf(want, sizeof(want), "%s/tf/secrets/tok", tmpdir);
	CHECK_STR(c->token_file, want);
	CHECK_STR(c->token, "file-token-1");
	CHECK_STR(kcfg_token(c, false), "file-token-1");
	replace_file(tmp_path("tf/secrets/tok"), "file-token-2\n");
	CHECK_STR(kcfg_token(c, false), "file-token-2");
	kcfg_free(c);

	/* token and tokenFile: the file need not exist at load; token is used
	 * until it can be read, then the file wins (client-go's round tripper). */
	write_file(tmp_path("tf/both.yaml"),
		   KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    token: static-token\n"
				      "    tokenFile: secrets/later\n");
	c = load_ok(tmp_path("tf/both.yaml"));
	CHECK_STR(c->token, "static-token");
	CHECK_STR(kcfg_token(c, false), "static-token");
	write_file(tmp_path("tf/secrets/later"), "from-file\n");
	CHECK_STR(kcfg_token(c, false), "from-file");
	kcfg_free(c);
}

static void test_errors(void)
{
	char want[4400];

	/* Choosing the context, cluster and user. */
	expect_err("apiVersion: v1\nkind: Config\n"
		   "contexts:\n- name: only\n  context: {cluster: k, user: u}\n" KC_CLUSTER
			   KC_USER_TOKEN,
		   -EINVAL, "current-context: not set", "\"only\"");
	expect_err("apiVersion: v1\ncurrent-context: nope\n"
		   "contexts:\n- name: a\n  context: {cluster: k}\n- name: b\n  context: {cluster: "
		   "k}\n" KC_CLUSTER,
		   -EINVAL, "current-context: no context named \"nope\"",
		   "(contexts: \"a\", \"b\")");
	expect_err("current-context: c\ncontexts:\n- name: c\n  context: {user: u}\n" KC_CLUSTER,
		   -EINVAL, "contexts[0].context.cluster: not set", NULL);
	expect_err(KC_HEAD
		   "clusters:\n- name: other\n  cluster: {server: 'https://o'}\n" KC_USER_TOKEN,
		   -EINVAL, "contexts[0].context.cluster: no cluster named \"k\"",
		   "(clusters: \"other\")");
	expect_err(KC_HEAD KC_CLUSTER, -EINVAL, "contexts[0].context.user: no user named \"u\"",
		   "(users: none)");
	expect_err(KC_HEAD KC_CLUSTER
		   "- name: k\n  cluster: {server: 'https://k2'}\n" KC_USER_TOKEN,
		   -EINVAL, "clusters[1].name: \"k\" is also the name of clusters[0]", NULL);
	expect_err(KC_HEAD "clusters: {k: 1}\n", -EINVAL, "clusters: is a map, expected a list",
		   NULL);
	expect_err(KC_HEAD "clusters:\n- just-a-string\n", -EINVAL,
		   "clusters[0]: is a string, expected a map", NULL);
	expect_err("apiVersion: v1\nkind: Pod\n", -EINVAL, "kind: \"Pod\", expected Config", NULL);
	expect_err("apiVersion: v2\n", -EINVAL, "apiVersion: \"v2\", expected v1", NULL);
	expect_err("", -EINVAL, "the file is empty: no configuration has been provided", NULL);
	expect_err("- a\n", -EINVAL, "is a list, expected a map", NULL);
	expect_err(KC_HEAD KC_CLUSTER KC_USER_TOKEN "---\nkind: Config\n", -EINVAL,
		   "holds 2 YAML documents", NULL);

	/* The cluster. */
	expect_err(KC_HEAD
		   "clusters:\n- name: k\n  cluster:\n    server: ftp://k.test\n" KC_USER_TOKEN,
		   -EINVAL,
		   "clusters[0].cluster.server: \"ftp://k.test\": must start "
		   "with https://",
		   NULL);
	expect_err(KC_HEAD KC_CLUSTER
		   "    certificate-authority-data: 'not base64!'\n" KC_USER_TOKEN,
		   -EINVAL, "clusters[0].cluster.certificate-authority-data: invalid base64", NULL);
	snprintf(want, sizeof(want),
		 "clusters[0].cluster.certificate-authority: %s/nope/ca.crt: "
		 "No such file or directory",
		 tmpdir);
	expect_err(KC_HEAD KC_CLUSTER "    certificate-authority: nope/ca.crt\n" KC_USER_TOKEN,
		   -ENOENT, want, NULL);
	expect_err(KC_HEAD KC_CLUSTER "    certificate-authority: /\n" KC_USER_TOKEN, -EISDIR,
		   "clusters[0].cluster.certificate-authority: /: Is a directory", NULL);
	snprintf(want, sizeof(want), "    certificate-authority: %s\n",
		 abs_fixture("certs/ca.crt"));
	{
		char yaml[8000];

		snprintf(yaml, sizeof(yaml), "%s%s%s    insecure-skip-tls-verify: true\n%s",
			 KC_HEAD, KC_CLUSTER, want, KC_USER_TOKEN);
		expect_err(yaml, -EINVAL,
			   "clusters[0].cluster.insecure-skip-tls-verify: specifying a "
			   "root certificates file with the insecure flag is not allowed",
			   NULL);
		snprintf(yaml, sizeof(yaml), "%s%s%s    certificate-authority-data: Zm9v\n%s",
			 KC_HEAD, KC_CLUSTER, want, KC_USER_TOKEN);
		expect_err(yaml, -EINVAL,
			   "certificate-authority and certificate-authority-data are "
			   "both set",
			   NULL);
	}
	expect_err(KC_HEAD KC_CLUSTER "    certificate-authority-data: Zm9v\n"
				      "    insecure-skip-tls-verify: true\n" KC_USER_TOKEN,
		   -EINVAL, "specifying a root certificates file with the insecure flag", NULL);
	expect_err(KC_HEAD KC_CLUSTER "    insecure-skip-tls-verify: 'yes'\n" KC_USER_TOKEN,
		   -EINVAL,
		   "clusters[0].cluster.insecure-skip-tls-verify: is a string, expected "
		   "true or false",
		   NULL);
	expect_err(KC_HEAD KC_CLUSTER "    proxy-url: http://proxy:3128\n" KC_USER_TOKEN,
		   -EOPNOTSUPP, "clusters[0].cluster.proxy-url: ", "not supported");

	/* The user. */
	expect_err("kind: Config\n" KC_HEAD KC_CLUSTER
		   "users:\n- name: u\n  user:\n    client-key-data: 'QUJD$$$'\n"
		   "    client-certificate-data: Zm9v\n",
		   -EINVAL, "users[0].user.client-key-data: invalid base64", NULL);
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    client-certificate: c.crt\n"
				      "    client-key-data: Zm9v\n",
		   -ENOENT, "users[0].user.client-certificate: ", "/c.crt: No such file");
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    client-key: k.key\n"
				      "    client-certificate-data: Zm9v\n",
		   -ENOENT, "users[0].user.client-key: ", "/k.key: No such file");
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n"
				      "    client-certificate-data: Zm9v\n",
		   -EINVAL, "users[0].user: a client certificate without client-key", NULL);
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    client-key-data: Zm9v\n",
		   -EINVAL, "users[0].user: a client key without client-certificate", NULL);
	{
		char yaml[8000];

		snprintf(yaml, sizeof(yaml),
			 "%s%susers:\n- name: u\n  user:\n    client-certificate-data: Zm9v\n"
			 "    client-certificate: %s\n    client-key-data: Zm9v\n",
			 KC_HEAD, KC_CLUSTER, abs_fixture("certs/client.crt"));
		expect_err(yaml, -EINVAL,
			   "client-certificate and client-certificate-data are both set", NULL);
		snprintf(yaml, sizeof(yaml),
			 "%s%susers:\n- name: u\n  user:\n    client-certificate-data: Zm9v\n"
			 "    client-key: %s\n    client-key-data: Zm9v\n",
			 KC_HEAD, KC_CLUSTER, abs_fixture("certs/client.key"));
		expect_err(yaml, -EINVAL, "client-key and client-key-data are both set", NULL);
	}
	{
		struct kcfg *c = (struct kcfg *)&c;
		char err[KCFG_ERR_MAX];

		CHECK_INT(kcfg_load_file("data/kubeconfig/exec.yaml", &c, err, sizeof(err)),
			  -EOPNOTSUPP);
		CHECK_STR(err, "kubeconfig data/kubeconfig/exec.yaml: users[0].user.exec: exec "
			       "credential plugins are not supported; use token, tokenFile or a "
			       "client certificate");
		CHECK(c == (struct kcfg *)&c);

		/* The line of a syntax error. */
		CHECK_INT(kcfg_load_file("data/kubeconfig/syntax.yaml", &c, err, sizeof(err)),
			  -EBADMSG);
		CHECK_HAS(err, "kubeconfig data/kubeconfig/syntax.yaml: line 7 column ");
		CHECK_INT(kcfg_load_file("data/kubeconfig/absent.yaml", &c, err, sizeof(err)),
			  -ENOENT);
		CHECK_STR(err,
			  "kubeconfig data/kubeconfig/absent.yaml: cannot open: No such file or "
			  "directory");
		CHECK_INT(kcfg_resolve("data/kubeconfig/absent.yaml", NULL, NULL, &c, err,
				       sizeof(err)),
			  -ENOENT);
		CHECK_HAS(err, "kubeconfig data/kubeconfig/absent.yaml: cannot open");
		CHECK(c == (struct kcfg *)&c);
	}
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    auth-provider:\n"
				      "      name: oidc\n",
		   -EOPNOTSUPP, "users[0].user.auth-provider: ", NULL);
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    username: admin\n"
				      "    password: pw\n",
		   -EOPNOTSUPP,
		   "users[0].user.username: basic authentication "
		   "is not supported",
		   NULL);
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    token: t\n    as: root\n",
		   -EOPNOTSUPP, "users[0].user.as: impersonation is not supported", NULL);
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    token: \"a\\r\\nb\"\n",
		   -EINVAL, "users[0].user.token: holds a character that cannot be sent", NULL);
	expect_err(KC_HEAD KC_CLUSTER "users:\n- name: u\n  user: [token]\n", -EINVAL,
		   "users[0].user: is a list, expected a map", NULL);
}

/* No message and no log line carries a credential: the token, key bytes or
 * the base64 text of a key, whichever field is wrong and however. */
static void test_no_secrets(void)
{
	static const char *const secrets[] = { "S3CRET-TOKEN-q7", "314159265358979",
					       "U0VDUkVULUtFWS",  "SECRET-KEY",
					       "SeCrEtB64",	  "hunter2" };
	static const char *const cases[] = {
		/* a token, then a missing CA */
		KC_HEAD KC_CLUSTER "    certificate-authority: nope.crt\n"
				   "users:\n- name: u\n  user:\n    token: S3CRET-TOKEN-q7\n",
		/* a token of the wrong type */
		KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    token: 314159265358979\n",
		/* key data that is not base64 */
		KC_HEAD KC_CLUSTER
		"users:\n- name: u\n  user:\n    token: S3CRET-TOKEN-q7\n"
		"    client-certificate-data: Zm9v\n    client-key-data: SeCrEtB64!!\n",
		/* a good key (base64 of SECRET-KEY...) but no certificate */
		KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    token: S3CRET-TOKEN-q7\n"
				   "    client-key-data: U0VDUkVULUtFWS1QRU0K\n",
		/* exec next to a token */
		KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    token: S3CRET-TOKEN-q7\n"
				   "    exec: {command: x}\n",
		/* basic auth */
		KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    password: hunter2\n",
		/* a token with a line break: HTTP header injection */
		KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    token: \"S3CRET-TOKEN-q7\\n\"\n"
				   "    tokenFile: /nonexistent\n",
		/* good, over http: the token is dropped with a warning */
		KC_HEAD
		"clusters:\n- name: k\n  cluster:\n    server: http://k.test\n"
		"users:\n- name: u\n  user:\n    token: S3CRET-TOKEN-q7\n"
		"    client-certificate-data: Zm9v\n    client-key-data: U0VDUkVULUtFWS1QRU0K\n",
		/* good: loads and logs at --v=2 */
		KC_HEAD KC_CLUSTER
		"users:\n- name: u\n  user:\n    token: S3CRET-TOKEN-q7\n"
		"    client-certificate-data: Zm9v\n    client-key-data: U0VDUkVULUtFWS1QRU0K\n",
	};
	char err[KCFG_ERR_MAX], logbuf[16384], log_path[4300];
	int saved, fd, failures = 0;
	struct kcfg *c;
	ssize_t n;

	/* A copy: tmp_path() reuses its buffers. */
	snprintf(log_path, sizeof(log_path), "%s", tmp_path("stderr.log"));
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0 && fd >= 0);
	CHECK(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	log_verbosity = 10;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		write_file(tmp_path("s.yaml"), cases[i]);
		c = NULL;
		memset(err, 0, sizeof(err));
		r = kcfg_resolve(tmp_path("s.yaml"), NULL, NULL, &c, err, sizeof(err));
		if (i + 2 < sizeof(cases) / sizeof(cases[0])) {
			failures += r < 0;
			CHECK(strstr(err, "s.yaml: ") != NULL);
		} else {
			CHECK_INT(r, 0);
		}
		for (size_t s = 0; s < sizeof(secrets) / sizeof(secrets[0]); s++)
			CHECK_HASNT(err, secrets[s]);
		if (r == 0) {
			kcfg_token(c, true);
			kcfg_free(c);
		}
	}
	/* A token file that goes bad after a good read. */
	write_file(tmp_path("s.tok"), "S3CRET-TOKEN-q7\n");
	write_file(tmp_path("s.yaml"),
		   KC_HEAD KC_CLUSTER "users:\n- name: u\n  user:\n    tokenFile: s.tok\n");
	c = NULL;
	CHECK_INT(kcfg_resolve(tmp_path("s.yaml"), NULL, NULL, &c, err, sizeof(err)), 0);
	write_file(tmp_path("s.tok"), "S3CRET-TOKEN-q7 SECRET-KEY\n");
	CHECK_STR(kcfg_token(c, false), "S3CRET-TOKEN-q7");
	kcfg_free(c);

	fflush(stderr);
	CHECK(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	log_verbosity = 0;
	CHECK_INT(failures, sizeof(cases) / sizeof(cases[0]) - 2);

	fd = open(log_path, O_RDONLY);
	CHECK(fd >= 0);
	n = read(fd, logbuf, sizeof(logbuf) - 1);
	close(fd);
	CHECK(n > 0);
	logbuf[n] = '\0';
	/* The capture works: the lines that should be there are. */
	CHECK_HAS(logbuf, "using kubeconfig ");
	CHECK_HAS(logbuf, "is plain http: not using its TLS settings or credentials");
	CHECK_HAS(logbuf, "holds a character that cannot be sent in an HTTP header; keeping");
	for (size_t s = 0; s < sizeof(secrets) / sizeof(secrets[0]); s++)
		CHECK_HASNT(logbuf, secrets[s]);
}

int main(void)
{
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(mkdtemp(tmpdir) != NULL);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");

	RUN(test_base64);
	RUN(test_token_and_ca_data);
	RUN(test_files_relative);
	RUN(test_data_forms);
	RUN(test_current_context);
	RUN(test_master_override);
	RUN(test_master_only);
	RUN(test_neither);
	RUN(test_in_cluster);
	RUN(test_token_rotation);
	RUN(test_token_file_kubeconfig);
	RUN(test_errors);
	RUN(test_no_secrets);

	rm_tmpdir();
	return 0;
}
