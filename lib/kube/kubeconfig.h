/* Where the API server is and how to authenticate to it: a kubeconfig file
 * (--kubeconfig), a bare URL (--master) or the pod's service account, resolved
 * by the rules of kube-proxy (client-go's clientcmd and rest.InClusterConfig)
 * into one struct kcfg for the HTTP client.
 *
 * Secrets: tokens, keys and certificates are never written to an error
 * message or a log line, only the names of the fields and files that hold
 * them. kcfg_free() wipes the token and the key before freeing them.
 *
 * Ownership: a struct kcfg owns every string and blob in it; kcfg_free()
 * releases them all. Paths are absolute (relative ones in a kubeconfig are
 * taken from the kubeconfig's directory, as client-go does). */
#ifndef NFTPROXY_KUBE_KUBECONFIG_H
#define NFTPROXY_KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Enough for any message written into err. */
#define KCFG_ERR_MAX 512

/* Where a pod's service account token and CA are mounted. */
#define KCFG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kcfg_blob {
	unsigned char *data;         /* owned; NULL when absent (never empty when set) */
	size_t len;
};

struct kcfg {
	char *server;                /* "https://host:port[/path]", no trailing slash; http://
	                                only when the kubeconfig or --master says so */
	char *origin;                /* for log lines: "kubeconfig /p (context c, cluster k,
	                                user u)", "in-cluster config (service account)",
	                                "--master URL" */
	/* TLS: at most one of ca_file and ca_data; never together with insecure. */
	char *ca_file;               /* certificate-authority (or <sa_dir>/ca.crt) */
	struct kcfg_blob ca_data;    /* certificate-authority-data, decoded (PEM bytes) */
	bool insecure;               /* insecure-skip-tls-verify */
	char *tls_server_name;       /* tls-server-name; NULL when absent */
	/* Client certificate: a cert (file or data) and a key (file or data) are both
	 * set or both absent; of each, the file or the data form, never both. */
	char *cert_file, *key_file;  /* client-certificate / client-key */
	struct kcfg_blob cert_data, key_data; /* client-certificate-data / client-key-data */
	/* Bearer token: read it through kcfg_token(), not directly. */
	char *token;                 /* users[].user.token, or the last good read of token_file */
	char *token_file;            /* users[].user.tokenFile, or <sa_dir>/token */

	/* Private to kubeconfig.c: identity of the token file at the last good read, and
	 * the errno of the last failed one (so that each distinct failure warns once). */
	bool tok_known;
	dev_t tok_dev;
	ino_t tok_ino;
	off_t tok_size;
	struct timespec tok_mtime;
	int tok_last_err;
};

/* kube-proxy's rules (cmd/kube-proxy createClients, client-go clientcmd):
 *  - kubeconfig and master both NULL or "": the in-cluster config (kcfg_in_cluster) when
 *    KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are set, else -ENOENT with a message
 *    saying to pass --kubeconfig or --master;
 *  - kubeconfig given: kcfg_load_file(); master, if given, replaces the cluster's server (and,
 *    as in client-go, drops its tls-server-name);
 *  - only master given: server = master and no credentials (logged as a warning).
 * sa_dir NULL means KCFG_SA_DIR. Logs the choice at --v=2.
 * Returns 0 and *out (the caller frees it with kcfg_free), or a negative errno with a one-line
 * message in err that names the file and the field, e.g.
 *   kubeconfig /x: users[0].user.client-key-data: invalid base64
 * -EINVAL for an invalid configuration, -EBADMSG for a YAML syntax error ("... line 3 column
 * 7: ..."), -EOPNOTSUPP for what nftproxy does not do (exec and auth-provider plugins, basic
 * auth, proxy-url, impersonation), -ENOENT and the like from files, -ENOMEM. */
int kcfg_resolve(const char *kubeconfig, const char *master, const char *sa_dir,
		 struct kcfg **out, char *err, size_t err_size);

/* Loads the current-context of a kubeconfig, its cluster and its user. Files it names must
 * exist (they are opened to check, not read, except tokenFile which is read when there is no
 * token). Same returns as kcfg_resolve. */
int kcfg_load_file(const char *path, struct kcfg **out, char *err, size_t err_size);
/* The same from the file's content in buf (len bytes, borrowed; the caller
 * wipes it): path names it in messages and relative paths are taken from
 * its directory. */
int kcfg_load_buffer(const char *path, const char *buf, size_t len, struct kcfg **out, char *err,
		     size_t err_size);

/* rest.InClusterConfig: server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (an
 * IPv6 host in brackets), token_file <sa_dir>/token (read now: it must exist and not be empty),
 * ca_file <sa_dir>/ca.crt (must exist). -ENOENT when the variables are not set. */
int kcfg_in_cluster(const char *sa_dir, struct kcfg **out, char *err, size_t err_size);

void kcfg_free(struct kcfg *c);

/* The bearer token to send, or NULL when none is configured. When token_file is set it is
 * stat'ed on each call and re-read when it changed (the kubelet rotates service-account tokens
 * by swapping a symlink); force re-reads it regardless (after a 401). Surrounding whitespace is
 * stripped, and an empty file counts as a failed read. On a failed read the previous token is
 * kept and a warning is logged once per distinct error (never with the token). With both token
 * and tokenFile in the kubeconfig, the file's content wins whenever it can be read and token is
 * the fallback, as in client-go's bearer round tripper. Borrowed: valid until the next call or
 * kcfg_free(). */
const char *kcfg_token(struct kcfg *c, bool force);

/* Standard base64 (RFC 4648 alphabet, '=' padding required) with spaces, tabs, CR and LF
 * ignored anywhere. Returns 0 and *out (owned by the caller; data is non-NULL even for no
 * bytes), -EINVAL when in is not base64, or -ENOMEM. */
int kcfg_base64_decode(const char *in, size_t len, struct kcfg_blob *out);

#endif
