/* brr — the registry client: the Docker distribution v2 HTTP API (manifests, manifest lists
 * and OCI indexes, blobs) on the engine's libcurl/libuv glue, with the credentials docker's
 * CLI would use (~/.docker/config.json `auths`, `credHelpers`, `credsStore` through
 * `docker-credential-*` programs). Credentials are never printed or logged.
 *
 * Rules every operation follows (the same as the engine client's, see engine.h):
 *  - It returns a handle and calls `cb` exactly once, from the loop, never from inside the
 *    call that started it. The handle is valid until `cb` returns.
 *  - brr_registry_cancel() makes `cb` report BRR_ECANCELED on a later loop turn, unless the
 *    result was already on its way.
 *  - Strings in a brr_registry_result belong to the client: copy what you keep.
 *  - A 401 is answered once per call: a Bearer challenge fetches a token from its realm
 *    (with the host's credentials when there are any), a Basic challenge sends them.
 *  - Answers 5xx and 429, and connections that fail, are retried with exponential backoff
 *    (429's Retry-After is honoured up to the cap); other answers are final.
 */
#ifndef BRR_REGISTRY_H
#define BRR_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "brr/engine.h"

/* Media types brr reads and writes. */
#define BRR_REGISTRY_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define BRR_REGISTRY_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define BRR_REGISTRY_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define BRR_REGISTRY_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
/* Docker Hub as image references name it, and where its v2 API answers. */
#define BRR_REGISTRY_HUB "docker.io"
#define BRR_REGISTRY_HUB_URL "https://registry-1.docker.io"

typedef struct brr_registry brr_registry;
typedef struct brr_registry_req brr_registry_req;

typedef struct brr_registry_opts {
  const char *docker_config;  /* directory of config.json; NULL: $DOCKER_CONFIG, else
                                 ~/.docker */
  const char *hub_url;        /* Docker Hub's API; NULL: $BRR_DOCKER_HUB_URL, else
                                 BRR_REGISTRY_HUB_URL */
  const char *temp_dir;       /* where blobs being copied are spooled; NULL: $TMPDIR or /tmp */
  int timeout_s;              /* a call's answer, or a transfer without a byte moving;
                                 <= 0: 600 */
  unsigned max_attempts;      /* tries of a retried call; 0: 5 */
  unsigned backoff_ms;        /* first retry delay, doubled each time up to 30 s; 0: 1000 */
} brr_registry_opts;

typedef struct brr_registry_result {
  int status;               /* 0, or BRR_ENOENT (404), BRR_EFAILED (refused: 4xx, or a
                               helper that failed), BRR_EIO (no connection, bad answer),
                               BRR_ETIMEOUT, BRR_ECANCELED, BRR_EINVAL (bad arguments) */
  long http_status;         /* of the last answer, 0 when none arrived */
  const char *error;        /* one line when status != 0 */
  const char *digest;       /* manifest get/head/put, copy, index: the manifest's digest */
  const char *media_type;   /* manifest get/head: its media type */
  const char *body;         /* manifest get: the manifest bytes */
  size_t body_len;
  int64_t size;             /* manifest get/head: its size in bytes */
  long ratelimit_limit;     /* RateLimit-Limit / RateLimit-Remaining counts, -1 when absent */
  long ratelimit_remaining;
  unsigned attempts;        /* HTTP tries the last call took (1 without retries) */
} brr_registry_result;

typedef void (*brr_registry_cb)(void *ud, const brr_registry_result *res);

/* Make a client on `loop`; nothing is sent yet. */
brr_registry *brr_registry_new(uv_loop_t *loop, const brr_registry_opts *opts);
/* Free the client: callbacks of operations in flight run now with BRR_ECANCELED; helper
 * programs still running are killed. Memory goes once the loop runs again. */
void brr_registry_free(brr_registry *r);
void brr_registry_cancel(brr_registry_req *req);

/* GET a manifest (any of the four media types above): body, digest, media type, size. */
brr_registry_req *brr_registry_manifest_get(brr_registry *r, const char *ref,
                                            brr_registry_cb cb, void *ud);
/* PUT `len` bytes as the manifest `ref` (a tag or a digest). digest = the registry's. */
brr_registry_req *brr_registry_manifest_put(brr_registry *r, const char *ref,
                                            const char *media_type, const char *data,
                                            size_t len, brr_registry_cb cb, void *ud);

/* Copy the image `src` to `dst` ("host/repo:tag"): every blob the destination lacks (cross-
 * repository mount on the same host, else downloaded, checked against its digest and
 * uploaded), every child manifest of a list or index, then the manifest under dst's tag.
 * digest = the manifest's, unchanged by the copy. */
brr_registry_req *brr_registry_copy(brr_registry *r, const char *src, const char *dst,
                                    brr_registry_cb cb, void *ud);

/* One image of a multi-platform index. */
typedef struct brr_registry_child {
  const char *ref;       /* "host/repo:tag" or "host/repo@digest", in dst's repository */
  const char *platform;  /* "linux/arm64/v8" */
} brr_registry_child;
/* Read each child's manifest descriptor and PUT an OCI index of them as `dst`. */
brr_registry_req *brr_registry_index_create(brr_registry *r, const char *dst,
                                            const brr_registry_child *children, size_t n,
                                            brr_registry_cb cb, void *ud);

/* Reach the registry the engine calls `host` (e.g. "127.0.0.1:32768") at `reach` instead,
 * over plain HTTP: a registry published by an engine on another machine, which the engine
 * reaches on its own loopback and brr through the engine's host. One alias; NULL `reach`
 * removes it. */
void brr_registry_alias(brr_registry *r, const char *host, const char *reach);

/* Wait until `host` answers GET /v2/ (any answer but a 5xx): for a registry that is
 * starting. Connection failures are retried every 100 ms for up to `timeout_ms`. */
brr_registry_req *brr_registry_ping(brr_registry *r, const char *host, unsigned timeout_ms,
                                    brr_registry_cb cb, void *ud);

/* The pulls left: HEAD `ref`'s manifest (HEAD requests are not counted against Docker Hub's
 * pull limit) and report the rate-limit counts. Never retried; fails after `timeout_ms`
 * (connection, token and answer together). */
brr_registry_req *brr_registry_ratelimit(brr_registry *r, const char *ref, unsigned timeout_ms,
                                         brr_registry_cb cb, void *ud);

/* ---- credentials ------------------------------------------------------------------------ */

/* Credentials for one registry; all NULL: anonymous. */
typedef struct brr_registry_creds {
  char *username, *password;
  char *identitytoken;        /* a helper's "<token>" user, or config.json identitytoken */
  char *serveraddress;        /* the host they are for */
} brr_registry_creds;
void brr_registry_creds_free(brr_registry_creds *c);

typedef void (*brr_registry_creds_cb)(void *ud, int status, const char *error,
                                      const brr_engine_auth *auth);
/* The credentials for `host` (status 0; auth NULL when there are none), looked up once per
 * client and host: config.json `auths`, or the host's helper (`credHelpers`, else
 * `credsStore`) run as `docker-credential-<name> get`. A helper's failure is BRR_EFAILED
 * with its message; "credentials not found" is no credentials. */
brr_registry_req *brr_registry_creds_get(brr_registry *r, const char *host,
                                         brr_registry_creds_cb cb, void *ud);

/* ---- pure helpers (exposed for tests) ------------------------------------------------------ */

/* A parsed image reference, as docker reads it: the first component is a host when it has a
 * '.' or ':' or is "localhost"; Docker Hub names get "library/" when they have one part. */
typedef struct brr_registry_ref {
  char *host;         /* "docker.io", "127.0.0.1:5000" */
  char *repository;   /* "library/busybox" */
  char *tag;          /* "latest" when neither tag nor digest was given; NULL with a digest */
  char *digest;       /* "sha256:...", or NULL */
} brr_registry_ref;
/* 0, or BRR_EINVAL (empty parts, upper case in the repository, bad characters). */
int brr_registry_ref_parse(const char *ref, brr_registry_ref *out);
void brr_registry_ref_free(brr_registry_ref *r);
/* The tag or digest part for URLs: digest when set, else tag. */
const char *brr_registry_ref_reference(const brr_registry_ref *r);

/* A WWW-Authenticate challenge: `Bearer realm="...",service="...",scope="..."` or `Basic
 * realm="..."`. Unknown parameters are skipped. */
typedef struct brr_registry_challenge {
  char *scheme;                 /* "bearer" or "basic", lower-cased */
  char *realm, *service, *scope;
} brr_registry_challenge;
int brr_registry_challenge_parse(const char *header, brr_registry_challenge *out);
void brr_registry_challenge_free(brr_registry_challenge *c);

/* The count of a RateLimit-Limit/-Remaining value ("100;w=21600" -> 100), or -1. */
long brr_registry_ratelimit_parse(const char *value);

/* Split "os/arch[/variant]" (heap strings; *variant NULL when absent). 0 or BRR_EINVAL. */
int brr_registry_platform_parse(const char *platform, char **os, char **arch, char **variant);

/* One manifest in an index. */
typedef struct brr_registry_descriptor {
  const char *media_type, *digest;
  int64_t size;
  const char *platform;   /* "os/arch[/variant]" */
} brr_registry_descriptor;
/* The OCI image index JSON over `v` (heap string), or NULL for a bad platform. */
char *brr_registry_index_json(const brr_registry_descriptor *v, size_t n);

/* Find the credentials for `host` in config.json text, as docker's CLI does: `credHelpers`
 * [host] names a helper (set in *helper, heap); else an `auths` entry keyed by the host, with
 * or without a scheme or path (Docker Hub: "https://index.docker.io/v1/"), decoded into
 * *out; else `credsStore` names a helper. Returns 0 (with nothing set when the file has
 * nothing for the host) or BRR_EINVAL for text that is not JSON or an `auth` that is not
 * base64 of "user:password". */
int brr_registry_config_lookup(const char *json, size_t len, const char *host,
                               brr_registry_creds *out, char **helper);
/* Parse a helper's answer to `get` ({"ServerURL","Username","Secret"}). */
int brr_registry_helper_parse(const char *json, size_t len, const char *host,
                              brr_registry_creds *out);
/* The key docker's CLI uses for a host in config.json and with helpers (Docker Hub's is
 * "https://index.docker.io/v1/"). Heap string. */
char *brr_registry_config_key(const char *host);

#endif
