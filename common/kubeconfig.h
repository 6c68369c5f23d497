/*
 * kubeconfig: where the Kubernetes API is and how to authenticate to it, from a kubeconfig
 * file (libyaml) or from the in-cluster service account.
 *
 * Run by every role that talks to the API (watcher, scale workers, adapter), once at start-up;
 * the token is re-read from its file when the file changes (service-account token rotation).
 *
 * Supported: current-context or an explicit context; cluster server, certificate-authority and
 * -data, insecure-skip-tls-verify, proxy-url; user client-certificate and -data, client-key and
 * -data, token, tokenFile. Anything that would authenticate differently (exec, auth-provider,
 * username/password, impersonation, tls-server-name) is refused with a message rather than
 * silently ignored. Several files (KUBECONFIG's colon-separated list) merge as kubectl merges
 * them: the first file that sets current-context, or that defines a named context, cluster or
 * user, wins. Relative file paths resolve against the directory of the file that names them.
 *
 * Invariants: inline *-data is decoded into memory and handed to libcurl as a blob, never
 * written to disk; every buffer holding a key or token is wiped before it is freed; no
 * credential ever appears in an error message. Errors name the file and the key.
 */
#ifndef CKEDA_COMMON_KUBECONFIG_H
#define CKEDA_COMMON_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/errtext.h"

/* The service account's files: token, ca.crt, namespace. */
#define KUBECONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* Largest kubeconfig or token file read. */
#define KUBECONFIG_FILE_MAX (16u << 20)
/* A token file is re-read at least this often even if stat() shows no change. */
#define KUBECONFIG_TOKEN_REREAD_NS (60LL * 1000000000LL)

/* A certificate or key: a file (passed to libcurl by name, so rotation on disk is picked up by
 * new connections) or inline bytes; at most one is set. */
typedef struct kubeconfig_blob {
    char *path;
    unsigned char *data;
    size_t len;
} kubeconfig_blob_t;

/* Fields are read-only outside kubeconfig.c; read the token through kubeconfig_token_get(). */
typedef struct kubeconfig {
    char *source;  /* the file(s) it came from, or "in-cluster", for messages */
    char *context; /* the context used; NULL in-cluster */
    char *server;  /* "https://host:port[/prefix]", no trailing '/' */
    char *ns;      /* the context's namespace (or the service account's); "default" if unset */
    char *proxy_url;
    bool insecure_skip_tls_verify;
    kubeconfig_blob_t ca, client_cert, client_key;
    char *token;      /* the bearer token: inline, or the last one read from token_file */
    char *token_file; /* takes precedence over an inline token, as in client-go */
    /* token_file's identity when last read, to notice rotation */
    dev_t tok_dev;
    ino_t tok_ino;
    off_t tok_size;
    struct timespec tok_mtime;
    int64_t tok_read_ns; /* CLOCK_MONOTONIC of the last read; 0 = never */
} kubeconfig_t;

/* Loads path, which may be a colon-separated list, using context or (if NULL) the
 * current-context. The result belongs to the caller (kubeconfig_free). -ENOENT for a missing
 * file, context, cluster or user; -EINVAL for a malformed or unsupported entry; -EACCES for an
 * unreadable referenced file; -EFBIG for an oversized file; -ENOMEM. */
int kubeconfig_load(const char *path, const char *context, kubeconfig_t **ret_config,
                    errtext_t *err);

/* The in-cluster service account: server from KUBERNETES_SERVICE_HOST/_PORT, token, CA and
 * namespace from sa_dir (NULL: KUBECONFIG_SA_DIR). -ENXIO when the environment variables are
 * not set (not running in a pod). */
int kubeconfig_load_incluster(const char *sa_dir, kubeconfig_t **ret_config, errtext_t *err);

/* controller-runtime's order: path (--kubeconfig) if not NULL; else $KUBECONFIG; else the
 * in-cluster account if KUBERNETES_SERVICE_HOST is set; else $HOME/.kube/config. */
int kubeconfig_load_default(const char *path, const char *context, kubeconfig_t **ret_config,
                            errtext_t *err);

/* The current bearer token, or NULL (success) when the config uses none. With a token file,
 * re-reads it when stat() shows a change or KUBECONFIG_TOKEN_REREAD_NS has passed; if a re-read
 * fails the previous token is kept. The string stays valid until the next call. */
int kubeconfig_token_get(kubeconfig_t *config, const char **ret_token, errtext_t *err);

/* Forces a re-read of the token file on the next kubeconfig_token_get (after a 401). */
void kubeconfig_token_invalidate(kubeconfig_t *config);

/* Wipes secrets and frees. Accepts NULL; returns NULL. */
kubeconfig_t *kubeconfig_free(kubeconfig_t *config);

#endif
