/* brr — the Docker Engine client. Every call is asynchronous on one libuv loop (libcurl's
 * multi interface driven by uv_poll/uv_timer, see src/engine/http.c) and talks to the
 * Engine HTTP API directly; no `docker` CLI is involved.
 *
 * Rules every operation follows:
 *  - It returns a request handle and calls its `cb` exactly once, always from the loop and
 *    never from inside the call that started it (even for bad arguments). The handle is
 *    valid until `cb` returns; clear your copy there.
 *  - brr_engine_cancel() makes `cb` report BRR_ECANCELED (on the next loop turn), unless
 *    the result was already on its way, in which case it changes nothing.
 *  - All callbacks of one operation (result, output, progress, data, open) get the same `ud`.
 *  - Strings and JSON in a brr_engine_result belong to the engine: copy what you keep.
 *  - Every container, network and volume created is labelled brr.managed=1, brr.run=<run id>
 *    and brr.owner=<host>:<pid>:<start> (see brr_engine_owner). Images get no label of brr's:
 *    an image is exactly what its Dockerfile (or commit) says, so an unchanged build keeps its
 *    id. Everything created, images included, is recorded in the client's cleanup registry
 *    the moment the engine reports it (see "Cleanup registry").
 *
 * Timeouts (the client's `timeout_s`, i.e. --docker-timeout) fall in three classes:
 *  - plain calls (create, start, inspect, remove, tag, networks, exec create/inspect, ...)
 *    must answer within timeout_s (stop: timeout_s plus its grace period);
 *  - transfers (pull, push, archive get/put, commit, import) may take any time but fail
 *    after timeout_s seconds without a byte moving (libcurl's low-speed limit of 1 B/s);
 *  - streams whose silence is normal (attach, logs, wait, exec start, build) have no limit
 *    but the connect timeout; cancel them to stop early.
 */
#ifndef BRR_ENGINE_H
#define BRR_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>
#include <cjson/cJSON.h>

#include "brr/diag.h"

/* The newest Engine API version brr is written against; never more than the engine has. */
#define BRR_ENGINE_API_MAX "1.41"
/* DOCKER_HOST when the variable is unset. */
#define BRR_ENGINE_DEFAULT_HOST "unix:///var/run/docker.sock"
/* Labels carried by everything brr creates. */
#define BRR_ENGINE_LABEL_MANAGED "brr.managed"
#define BRR_ENGINE_LABEL_RUN "brr.run"
/* "<hostname>:<pid>:<process start time in clock ticks since boot>" of the brr process that
 * made the object: the start time tells a reused pid from the owner. */
#define BRR_ENGINE_LABEL_OWNER "brr.owner"
/* On images brr makes for its own use only (the per-run source image), never on an image a
 * user gets: a commit inherits its container's brr.managed/brr.owner labels, so the sweep of
 * killed runs removes only images that carry this one too. */
#define BRR_ENGINE_LABEL_SCRATCH "brr.scratch"

typedef struct brr_engine brr_engine;
typedef struct brr_engine_req brr_engine_req;

/* ---- client ------------------------------------------------------------------------ */

/* ---- the endpoint (src/engine/endpoint.c) ------------------------------------------- */

/* The engine to talk to and how, chosen as the docker CLI does (docs/engine.md). */
typedef struct brr_engine_endpoint {
  char *host;          /* "unix:///path", "tcp://host[:port]", "ssh://[user@]host[:port]" */
  char *source;        /* where it came from, for messages: "DOCKER_HOST", "--context x",
                          "DOCKER_CONTEXT=x", "currentContext x in <config.json>", "the default" */
  char *context;       /* the context that chose it (not "default"), else NULL */
  bool flag_context;   /* chosen by --context (the docker CLI subprocesses get it too) */
  bool tls;            /* https to a tcp:// host */
  bool tls_verify;     /* verify the engine's certificate and name (else TLS without checks) */
  char *ca, *cert, *key; /* PEM files: the CA to verify with, the client certificate and key */
} brr_engine_endpoint;

/* Choose the engine: `context` (--context NAME; "default" = the environment), else
 * DOCKER_HOST (+ DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH), else DOCKER_CONTEXT, else
 * currentContext in $DOCKER_CONFIG/config.json (default ~/.docker), else
 * BRR_ENGINE_DEFAULT_HOST. The address is checked too. 0, or BRR_EINVAL with a heap message
 * naming the address and its source in *error (nothing to free in *out then). */
int brr_engine_endpoint_resolve(const char *context, brr_engine_endpoint *out, char **error);
void brr_engine_endpoint_free(brr_engine_endpoint *ep);
/* An engine of the global `engines:` key: the docker context `context`, or the address
 * `host` with TLS when `tls_verify` is set (1, or 0 for TLS without checks; -1: unset) or
 * `cert_path` is given (ca.pem, cert.pem, key.pem there; NULL: ~/.docker). `source` names
 * it in messages ("engines.arm in /etc/brr.yaml"). 0, or BRR_EINVAL with *error (heap). */
int brr_engine_endpoint_named(const char *context, const char *host, int tls_verify,
                              const char *cert_path, const char *source, brr_engine_endpoint *out,
                              char **error);
/* The environment for a docker CLI subprocess that must reach the same engine: brr's own,
 * with DOCKER_CONTEXT pinned when --context chose the engine. brr_strv_free frees it. */
char **brr_engine_endpoint_env(const brr_engine_endpoint *ep);
/* $DOCKER_CONFIG, else ~/.docker (heap). */
char *brr_engine_docker_config_dir(void);

/* An engine address taken apart. */
typedef struct brr_engine_target {
  char *base_url;      /* "http://localhost", "http://h:2375", "https://h:2376" */
  char *unix_path;     /* unix:// socket, else NULL */
  char *ssh_dest;      /* ssh://: "[user@]host", else NULL */
  char *ssh_port;      /* ssh://: the port, or NULL */
  bool tls;
} brr_engine_target;

/* Parse an engine address (DOCKER_HOST syntax; "host:port" alone is tcp, as in the CLI);
 * `tls` picks https and port 2376 for tcp. 0, or BRR_EINVAL with a message about the
 * address in *error. */
int brr_engine_target_parse(const char *host, bool tls, brr_engine_target *t, char **error);
void brr_engine_target_free(brr_engine_target *t);

typedef struct brr_engine_opts {
  const char *host;           /* DOCKER_HOST syntax (unix:///path, tcp://host:port), plain;
                                 NULL: `endpoint`, else resolved as the docker CLI does */
  const brr_engine_endpoint *endpoint; /* with its TLS settings; copied */
  int timeout_s;              /* --docker-timeout (see the classes above); <= 0: no limit */
  const char *api_version;    /* highest API version to use; NULL: BRR_ENGINE_API_MAX */
  const char *run_id;         /* value of the brr.run label; NULL: a random 16-hex id */
  const char *const *labels;  /* extra "k=v" labels for every container, network and volume
                                 created (never images); NULL-terminated */
} brr_engine_opts;

/* What every callback receives. Fields that do not apply to an operation are 0/NULL. */
typedef struct brr_engine_result {
  int status;         /* 0, or BRR_ENOENT (engine said 404), BRR_EFAILED (the engine refused
                         or reported an error, e.g. errorDetail in a stream), BRR_EIO (no
                         connection, protocol error), BRR_ETIMEOUT, BRR_ECANCELED, BRR_EINVAL
                         (bad arguments, nothing was sent) */
  long http_status;   /* HTTP status of the last answer, 0 when none arrived */
  const char *error;  /* one line when status != 0: "<what>: <engine message> (HTTP <n>)" */
  const char *id;     /* id of what was created (container, exec, network, volume name,
                         image of a build/commit/import), else NULL */
  const char *digest; /* push: the manifest digest; pull: the digest the engine reported */
  int64_t exit_code;  /* wait, exec inspect, exec run: the exit code; -1 when unknown */
  const cJSON *json;  /* inspect, list, version: the parsed answer; else NULL */
} brr_engine_result;

typedef void (*brr_engine_cb)(void *ud, const brr_engine_result *res);

/* Make a client on `loop`. Nothing is sent yet: the API version is negotiated (GET /version)
 * by the first operation, and operations issued meanwhile wait for it. Returns 0, or
 * BRR_EINVAL with a heap message in *error (unsupported DOCKER_HOST scheme, bad option). */
int brr_engine_new(uv_loop_t *loop, const brr_engine_opts *opts, brr_engine **out,
                   char **error);
/* Free the client. Callbacks of every operation still in flight run now, with
 * BRR_ECANCELED; operations started from those callbacks report BRR_ECANCELED at once and
 * return NULL. Objects are not removed (call brr_engine_cleanup first). Like uv_close, the
 * last memory is released when the loop runs once more. Safe to call from any callback. */
void brr_engine_free(brr_engine *e);
/* The engine's address and where it came from ("DOCKER_HOST", "--context x", ...). */
const char *brr_engine_host(const brr_engine *e);
const char *brr_engine_source(const brr_engine *e);
bool brr_engine_uses_tls(const brr_engine *e);
/* The host name or address of an engine on another machine (a tcp:// or ssh:// address that
 * is not a loopback one: "docker", "10.0.0.5", "[fd00::1]"), heap; NULL for a local engine. */
char *brr_engine_remote_host(const brr_engine *e);
/* Blocking, before anything else runs: GET /_ping, which also negotiates the API version
 * from its API-Version header. 0, or BRR_EIO with the cause in *cause (heap): the system's
 * error for a socket ("No such file or directory"), libcurl's for TLS and timeouts, or
 * "not a Docker engine". Connecting is limited to min(timeout_s, 10) s. */
int brr_engine_preflight(brr_engine *e, int timeout_s, char **cause);
/* Stop the transport now (an ssh:// engine's relay and its ssh processes); for exit paths
 * that skip brr_engine_free. Later calls fail. */
void brr_engine_close_transport(brr_engine *e);
/* The brr.run label value of this client. */
const char *brr_engine_run_id(const brr_engine *e);
/* The negotiated API version ("1.41"), or NULL before the first successful negotiation. */
const char *brr_engine_api_version(const brr_engine *e);
/* Negotiate now (or reuse the negotiated version): json = the engine's GET /version. */
brr_engine_req *brr_engine_connect(brr_engine *e, brr_engine_cb cb, void *ud);
/* Cancel an operation in flight (see the rules at the top). Composite operations
 * (exec run, cleanup) cancel their current step; a pull waiter leaves its shared pull,
 * which goes on while other callers wait for it. */
void brr_engine_cancel(brr_engine_req *req);

typedef struct brr_engine_stats {
  uint64_t http_requests;   /* HTTP requests sent */
  uint64_t pulls_started;   /* pulls that went to the engine */
  uint64_t pulls_joined;    /* pull calls that waited for a pull already in flight */
  size_t in_flight;         /* operations not finished, the client's own (version
                               negotiation, a shared pull, cleanup steps) included */
} brr_engine_stats;
void brr_engine_get_stats(const brr_engine *e, brr_engine_stats *out);

/* ---- bodies and streams -------------------------------------------------------------- */

enum { BRR_ENGINE_STDOUT = 1, BRR_ENGINE_STDERR = 2 };

/* Container output: `stream` is BRR_ENGINE_STDOUT or BRR_ENGINE_STDERR (a TTY's output is
 * all stdout). Chunks follow the wire, not lines: a line may arrive in several calls. */
typedef void (*brr_engine_output_cb)(void *ud, int stream, const char *data, size_t len);

/* One message of a JSON-lines progress stream (pull, push, build, import). */
typedef struct brr_engine_progress {
  const char *stream;    /* build output text ("Step 1/3 : FROM ...\n"), or NULL */
  const char *status;    /* pull/push status ("Downloading", "Pushed", ...), or NULL */
  const char *id;        /* layer or image id the status is about, or NULL */
  const char *progress;  /* the engine's progress bar text, or NULL */
  const char *error;     /* errorDetail.message (or error): the operation failed */
  const cJSON *json;     /* the whole message (aux, progressDetail, ...) */
} brr_engine_progress;
typedef void (*brr_engine_progress_cb)(void *ud, const brr_engine_progress *p);

/* Raw bytes of an answer (archive get, image save). Return 0 to go on, non-zero to abort
 * (the result is then BRR_ECANCELED), or BRR_ENGINE_DATA_PAUSE when the bytes cannot be
 * taken yet: they are not consumed, and come again after brr_engine_resume (back-pressure
 * for a stream relayed into another request). */
#define BRR_ENGINE_DATA_PAUSE 0x50415553
typedef int (*brr_engine_data_cb)(void *ud, const char *data, size_t len);

/* A request body producer: fill `buf` (up to `cap` bytes) and return the count, 0 at the
 * end, -1 to abort, or BRR_ENGINE_READ_PAUSE when nothing is ready yet (then call
 * brr_engine_resume once it is). */
#define BRR_ENGINE_READ_PAUSE (-2)
typedef ssize_t (*brr_engine_read_cb)(void *ud, char *buf, size_t cap);

/* A request body (tar of a build context or archive put, tar to import): exactly one of
 * memory, file or producer. Memory and `read_ud` must stay valid until the callback. */
typedef struct brr_engine_body {
  const void *data;          /* in memory */
  size_t len;
  const char *path;          /* a file, streamed */
  brr_engine_read_cb read;   /* a producer, streamed (chunked when size < 0) */
  void *read_ud;
  int64_t size;              /* the producer's total size, or -1 when unknown */
} brr_engine_body;
/* Wake an operation whose body producer returned BRR_ENGINE_READ_PAUSE, or whose data
 * callback returned BRR_ENGINE_DATA_PAUSE. Call it from the loop, not from inside a callback
 * of the same client. */
void brr_engine_resume(brr_engine_req *req);

/* Registry credentials, sent as X-Registry-Auth (pull, push) or X-Registry-Config (build). */
typedef struct brr_engine_auth {
  const char *username, *password;
  const char *serveraddress;  /* registry host; also the key in X-Registry-Config */
  const char *identitytoken;  /* instead of username/password */
} brr_engine_auth;

/* ---- containers ------------------------------------------------------------------------ */

typedef struct brr_engine_container_spec {
  const char *name;                 /* NULL: the engine picks one */
  const char *image;                /* required */
  const char *platform;             /* "linux/arm64": which variant of `image` to use */
  const char *const *cmd;           /* argv, NULL-terminated; NULL: the image's CMD */
  const char *const *entrypoint;    /* NULL: the image's; an empty list clears it */
  const char *const *env;           /* "K=V" */
  const char *working_dir, *user, *hostname;
  bool tty, open_stdin;             /* a TTY's output is raw, else multiplexed */
  bool privileged;
  const char *const *labels;        /* "k=v", added to the client's labels */
  const char *const *binds;         /* "host:container[:ro|rw]" */
  const char *const *volumes_from;  /* "container[:ro|rw]" */
  const char *const *links;         /* "container:alias" */
  const char *const *dns, *const *dns_search, *const *extra_hosts; /* extra: "host:ip" */
  const char *const *cap_add, *const *security_opt;
  const char *const *tmpfs;         /* "/path[:options]" */
  const char *const *ports;         /* published: "cport[/proto]" (random host port) or
                                       "[hostip:]hport:cport[/proto]" */
  const char *network;              /* network to join at creation (NetworkMode), or NULL */
  const char *const *aliases;       /* aliases on `network` */
  const char *cgroupns;             /* "host" or "private", or NULL */
  int64_t memory;                   /* bytes, 0: no limit */
  int64_t cpu_shares, cpu_period, cpu_quota;  /* 0: unset */
  const cJSON *extra_config;        /* more Config keys (yours win), or NULL */
  const cJSON *extra_host_config;   /* more HostConfig keys (yours win), or NULL */
} brr_engine_container_spec;

/* POST /containers/create: id = the new container (registered for cleanup). */
brr_engine_req *brr_engine_container_create(brr_engine *e,
                                            const brr_engine_container_spec *spec,
                                            brr_engine_cb cb, void *ud);
/* POST /containers/{id}/start (starting a running container is not an error). */
brr_engine_req *brr_engine_container_start(brr_engine *e, const char *id, brr_engine_cb cb,
                                           void *ud);
/* POST /containers/{id}/wait: exit_code once the condition holds. `condition` is
 * "not-running" (NULL), "next-exit" (to wait before start) or "removed" (the container is
 * then unregistered). A stream: no timeout. */
brr_engine_req *brr_engine_container_wait(brr_engine *e, const char *id,
                                          const char *condition, brr_engine_cb cb, void *ud);

typedef struct brr_engine_stream_opts {
  int tty;                  /* 1 raw, 0 multiplexed, -1: inspect the container to know */
  bool no_stdout, no_stderr;
  bool logs;                /* attach: also replay what was already printed */
  bool follow;              /* logs: keep streaming until the container stops */
  brr_engine_output_cb on_output;
  void (*on_open)(void *ud); /* the engine answered: the stream is live (attach before
                                start, then start here, and nothing is missed) */
} brr_engine_stream_opts;
/* POST /containers/{id}/attach?stream=1: output until the container stops. */
brr_engine_req *brr_engine_container_attach(brr_engine *e, const char *id,
                                            const brr_engine_stream_opts *o,
                                            brr_engine_cb cb, void *ud);
/* GET /containers/{id}/logs: what was printed, and with `follow` what will be. */
brr_engine_req *brr_engine_container_logs(brr_engine *e, const char *id,
                                          const brr_engine_stream_opts *o, brr_engine_cb cb,
                                          void *ud);
/* POST /containers/{id}/stop?t=grace_s (stopping a stopped container is not an error). */
brr_engine_req *brr_engine_container_stop(brr_engine *e, const char *id, int grace_s,
                                          brr_engine_cb cb, void *ud);
/* POST /containers/{id}/kill?signal=sig (NULL: SIGKILL). */
brr_engine_req *brr_engine_container_kill(brr_engine *e, const char *id, const char *sig,
                                          brr_engine_cb cb, void *ud);
/* DELETE /containers/{id}?force&v: unregistered once gone (a missing one is BRR_ENOENT
 * and also unregistered). */
brr_engine_req *brr_engine_container_remove(brr_engine *e, const char *id, bool force,
                                            bool volumes, brr_engine_cb cb, void *ud);
/* GET /containers/{id}/json: json = the inspect document. */
brr_engine_req *brr_engine_container_inspect(brr_engine *e, const char *id,
                                             brr_engine_cb cb, void *ud);
/* GET /containers/{id}/archive?path: the tar stream, to `on_data` as it arrives. */
brr_engine_req *brr_engine_container_archive_get(brr_engine *e, const char *id,
                                                 const char *path, brr_engine_data_cb on_data,
                                                 brr_engine_cb cb, void *ud);
/* HEAD /containers/{id}/archive?path: status 0 when `path` exists in the container (created,
 * running or stopped), BRR_ENOENT when it does not. */
brr_engine_req *brr_engine_container_archive_stat(brr_engine *e, const char *id,
                                                  const char *path, brr_engine_cb cb, void *ud);
/* PUT /containers/{id}/archive?path: extract the tar `body` into directory `path`. */
brr_engine_req *brr_engine_container_archive_put(brr_engine *e, const char *id,
                                                 const char *path, const brr_engine_body *body,
                                                 brr_engine_cb cb, void *ud);

typedef struct brr_engine_commit_opts {
  const char *repo, *tag;           /* both NULL: an untagged image */
  const char *comment, *author;
  const char *const *changes;       /* Dockerfile instructions ("CMD [\"sh\"]") */
  const char *const *labels;        /* "k=v" for the image (the container's own labels are
                                       merged in by the engine) */
  bool pause;                       /* pause the container while committing */
} brr_engine_commit_opts;
/* POST /commit: id = the new image id (registered for cleanup). */
brr_engine_req *brr_engine_container_commit(brr_engine *e, const char *id,
                                            const brr_engine_commit_opts *o,
                                            brr_engine_cb cb, void *ud);

/* ---- exec -------------------------------------------------------------------------- */

typedef struct brr_engine_exec_spec {
  const char *const *cmd;           /* argv, required */
  const char *const *env;           /* "K=V" */
  const char *working_dir, *user;
  bool tty, privileged;
  brr_engine_output_cb on_output;   /* exec run / start: the output */
} brr_engine_exec_spec;
/* GET /exec/{id}/json: exit_code (-1 while running) and json. */
brr_engine_req *brr_engine_exec_inspect(brr_engine *e, const char *exec_id,
                                        brr_engine_cb cb, void *ud);
/* Create, start and inspect: the output to spec->on_output, then exit_code. */
brr_engine_req *brr_engine_exec_run(brr_engine *e, const char *container,
                                    const brr_engine_exec_spec *spec, brr_engine_cb cb,
                                    void *ud);

/* ---- images ---------------------------------------------------------------------------- */

/* POST /images/create?fromImage: pull `ref` ("repo[:tag|@digest]", no tag: latest) for
 * `platform` (NULL: the engine's). Single-flight: concurrent pulls of the same ref,
 * platform and credentials share one HTTP pull, and every caller gets its result. */
brr_engine_req *brr_engine_image_pull(brr_engine *e, const char *ref, const char *platform,
                                      const brr_engine_auth *auth,
                                      brr_engine_progress_cb on_progress, brr_engine_cb cb,
                                      void *ud);
/* POST /images/{name}/push?tag: digest = the pushed manifest's. */
brr_engine_req *brr_engine_image_push(brr_engine *e, const char *ref,
                                      const brr_engine_auth *auth,
                                      brr_engine_progress_cb on_progress, brr_engine_cb cb,
                                      void *ud);
/* POST /images/{src}/tag: give `src` the name `target` ("repo[:tag]", registered). */
brr_engine_req *brr_engine_image_tag(brr_engine *e, const char *src, const char *target,
                                     brr_engine_cb cb, void *ud);
/* DELETE /images/{ref}?force&noprune=1: untag, or remove when it is the last name
 * (unregisters). Untagged parents stay: they may be someone else's cache. */
brr_engine_req *brr_engine_image_remove(brr_engine *e, const char *ref, bool force,
                                        brr_engine_cb cb, void *ud);
/* GET /images/{ref}/json: json = the inspect document (BRR_ENOENT when absent). */
brr_engine_req *brr_engine_image_inspect(brr_engine *e, const char *ref, brr_engine_cb cb,
                                         void *ud);

typedef struct brr_engine_build_opts {
  const char *tag;                  /* t=, "repo[:tag]", or NULL */
  const char *dockerfile;           /* path inside the context; NULL: "Dockerfile" */
  const char *const *buildargs;     /* "K=V" (a bare "K" passes null) */
  const char *const *labels;        /* "k=v" for the image; NULL: none (the legacy builder
                                       adds a LABEL step for them, changing the image id) */
  const char *const *cache_from;    /* images to use as cache */
  const char *target;               /* stage */
  const char *platform;             /* "linux/arm64" */
  bool nocache, pull;
  const brr_engine_auth *auths;     /* for FROM lines of private registries */
  size_t n_auths;
} brr_engine_build_opts;
/* POST /build with the tar `context` streamed (legacy builder, intermediate containers
 * always removed). id = the image id (registered); progress as it comes. An errorDetail in
 * the stream is BRR_EFAILED with its message. A stream: no timeout. */
brr_engine_req *brr_engine_image_build(brr_engine *e, const brr_engine_build_opts *o,
                                       const brr_engine_body *context,
                                       brr_engine_progress_cb on_progress, brr_engine_cb cb,
                                       void *ud);
/* POST /images/create?fromSrc=-: import a root filesystem tar as `ref` (NULL: untagged);
 * id = the image id (registered). */
brr_engine_req *brr_engine_image_import(brr_engine *e, const brr_engine_body *tar,
                                        const char *ref, brr_engine_progress_cb on_progress,
                                        brr_engine_cb cb, void *ud);
/* The same for an image of brr's own making (the per-run source image): labelled with the
 * client's labels (brr.managed, brr.run, brr.owner, ...) through `changes`, so that the
 * sweep of killed runs (brr_engine_sweep_stale) finds it. */
brr_engine_req *brr_engine_image_import_own(brr_engine *e, const brr_engine_body *tar,
                                            const char *ref, brr_engine_cb cb, void *ud);

/* GET /images/{name}/get: the image (name or id) as a `docker save` tar, to `on_data` as it
 * arrives. A transfer. */
brr_engine_req *brr_engine_image_save(brr_engine *e, const char *name, brr_engine_data_cb on_data,
                                      brr_engine_cb cb, void *ud);
/* POST /images/load?quiet=1 with a `docker save` tar as `body` (streamed). The names it
 * carries are set on this engine; the caller tracks what it wants removed. A transfer. */
brr_engine_req *brr_engine_image_load(brr_engine *e, const brr_engine_body *body, brr_engine_cb cb,
                                      void *ud);

/* ---- networks and volumes ------------------------------------------------------------------ */

/* POST /networks/create (bridge, labelled): id = the network id (registered). */
brr_engine_req *brr_engine_network_create(brr_engine *e, const char *name,
                                          const char *const *labels, brr_engine_cb cb,
                                          void *ud);
/* POST /networks/{net}/connect with `aliases` (NULL-terminated, may be NULL). */
brr_engine_req *brr_engine_network_connect(brr_engine *e, const char *net,
                                           const char *container, const char *const *aliases,
                                           brr_engine_cb cb, void *ud);
/* POST /networks/{net}/disconnect. */
brr_engine_req *brr_engine_network_disconnect(brr_engine *e, const char *net,
                                              const char *container, bool force,
                                              brr_engine_cb cb, void *ud);
/* DELETE /networks/{net} (unregisters). */
brr_engine_req *brr_engine_network_remove(brr_engine *e, const char *net, brr_engine_cb cb,
                                          void *ud);
/* POST /volumes/create (labelled): id = the volume name (registered). NULL name: random. */
brr_engine_req *brr_engine_volume_create(brr_engine *e, const char *name,
                                         const char *const *labels, brr_engine_cb cb,
                                         void *ud);
/* DELETE /volumes/{name}?force (unregisters). */
brr_engine_req *brr_engine_volume_remove(brr_engine *e, const char *name, bool force,
                                         brr_engine_cb cb, void *ud);

/* ---- listing and the cleanup registry ---------------------------------------------------------- */

typedef enum brr_engine_kind {
  BRR_ENGINE_CONTAINER,
  BRR_ENGINE_NETWORK,
  BRR_ENGINE_VOLUME,
  BRR_ENGINE_IMAGE,      /* an image id, or a name brr gave (tag) */
  BRR_ENGINE_KIND_COUNT
} brr_engine_kind;

/* List objects of `kind` carrying `label` ("k" or "k=v"; NULL: brr.run=<this run>):
 * json = the engine's array (containers include stopped ones). */
brr_engine_req *brr_engine_list(brr_engine *e, brr_engine_kind kind, const char *label,
                                brr_engine_cb cb, void *ud);

/* Record an object for cleanup (done by the operations above; use it for objects made
 * another way, e.g. by buildx). Duplicates are ignored. */
void brr_engine_track(brr_engine *e, brr_engine_kind kind, const char *id);
/* Forget an object: it outlives the run (e.g. a committed image the user asked for). */
void brr_engine_untrack(brr_engine *e, brr_engine_kind kind, const char *id);
/* How many objects of `kind` are registered. */
size_t brr_engine_tracked(const brr_engine *e, brr_engine_kind kind);
/* Remove everything registered, plus containers, networks and volumes labelled with this
 * run (they catch creations cut short by a cancel): containers (force, with volumes), then
 * networks, volumes, image names, image ids. A missing object counts as removed. status
 * is 0, or BRR_EFAILED with the first failures in `error`. */
brr_engine_req *brr_engine_cleanup(brr_engine *e, brr_engine_cb cb, void *ud);
/* The same, blocking, with its own connections: for a signal path or when the loop cannot
 * run. Does not touch requests in flight. Each phase sends all its removals at once.
 * Returns 0 or the number of objects left. */
int brr_engine_cleanup_sync(brr_engine *e);
/* The same within `budget_ms` (0: no limit): containers get most of it, then networks,
 * volumes and images; what has not answered by then is counted as left. A removal the
 * engine has received completes even after the caller is gone. */
int brr_engine_cleanup_sync_within(brr_engine *e, unsigned budget_ms);

/* Remove what earlier brr processes on this host left behind (e.g. after kill -9):
 * containers (forced, with their anonymous volumes), networks and volumes labelled
 * brr.managed=1 and brr.owner=<this host>:<pid>:<start> where that process is gone. Objects
 * of a live brr, of another host, or without brr's labels are never touched. Blocking, with
 * its own connection. `cb` (may be NULL) hears of each removal (`error` NULL) or failure.
 * Returns how many were removed, or -1 with *error (heap) when the engine could not be
 * listed. */
typedef void (*brr_engine_sweep_cb)(void *ud, brr_engine_kind kind, const char *id,
                                    const char *owner, const char *error);
int brr_engine_sweep_stale(brr_engine *e, brr_engine_sweep_cb cb, void *ud, char **error);

/* ---- wire helpers (pure; exposed for tests and other engine users) ------------------------------- */
/* Build base + "/v<api>" + path + "?k=v&..." with the values URL-encoded. `query` is a
 * NULL-terminated list of key, value pairs (a NULL value skips the pair); api NULL: no
 * version prefix. Returns a heap string, or NULL when path holds characters that would
 * need escaping (space, '?', '#', '%', controls). */
char *brr_engine_url(const char *base, const char *api, const char *path,
                     const char *const *query);
/* Split an image reference into repository and tag: "r:5000/a/b:t" -> "r:5000/a/b", "t";
 * "a@sha256:..." -> "a", "sha256:..."; no tag -> "latest". Heap strings; 0 or BRR_EINVAL. */
int brr_engine_ref_split(const char *ref, char **repo, char **tag);
/* Compare API versions numerically ("1.9" < "1.41"): <0, 0, >0. */
int brr_engine_version_cmp(const char *a, const char *b);
/* The X-Registry-Auth value: base64url of the credentials' JSON ("e30=" for NULL). */
char *brr_engine_auth_encode(const brr_engine_auth *auth);

/* ---- stream decoders (pure, incremental: feed any chunking) ---------------------------------- */

/* JSON lines (pull, push, build): each complete line is parsed and passed to `cb`; only a
 * line cut by a chunk boundary is copied. */
typedef struct brr_engine_jsonl {
  brr_buf partial;   /* the unterminated tail of the last chunk */
} brr_engine_jsonl;
#define BRR_ENGINE_JSONL_INIT {BRR_BUF_INIT}
/* Return non-zero from the callback to stop; feed returns that value. */
typedef int (*brr_engine_jsonl_cb)(void *ud, const cJSON *msg);
/* 0, the callback's non-zero value, or BRR_EIO for a line that is not JSON. */
int brr_engine_jsonl_feed(brr_engine_jsonl *d, const char *data, size_t len,
                          brr_engine_jsonl_cb cb, void *ud);
/* End of stream: parse a last line that had no newline. */
int brr_engine_jsonl_finish(brr_engine_jsonl *d, brr_engine_jsonl_cb cb, void *ud);
void brr_engine_jsonl_free(brr_engine_jsonl *d);

/* Fill `p` from one JSON-lines message (pointers into `msg`). */
void brr_engine_progress_parse(const cJSON *msg, brr_engine_progress *p);

/* The stdout/stderr stream of attach, logs and exec: 8-byte frame headers (stream, 0, 0,
 * 0, big-endian length) unless the container has a TTY (raw). Payload bytes go straight to
 * the callback, never copied; a frame split across chunks arrives in pieces. */
typedef struct brr_engine_mux {
  bool raw;               /* TTY: everything is stdout */
  unsigned char hdr[8];   /* header bytes collected so far */
  unsigned hdr_len;
  uint32_t left;          /* payload bytes of the current frame still to come */
  int stream;             /* stream of the current frame */
  brr_buf syserr;         /* stream 3: the engine's own error message */
} brr_engine_mux;
#define BRR_ENGINE_MUX_INIT {false, {0}, 0, 0, 0, BRR_BUF_INIT}
/* 0, or BRR_EIO for a header that is not one (unknown stream, non-zero padding). */
int brr_engine_mux_feed(brr_engine_mux *d, const char *data, size_t len,
                        brr_engine_output_cb cb, void *ud);
/* End of stream: BRR_EIO when a frame was cut short, else 0. */
int brr_engine_mux_finish(const brr_engine_mux *d);
void brr_engine_mux_free(brr_engine_mux *d);

/* ---- buildx (src/engine/buildx.c) ---------------------------------------------------------- */
/* `docker buildx build` for one platform, spawned on the loop (the CLI owns BuildKit's
 * session protocol; the Engine API has no stable form of it). Its output arrives line by
 * line; the CLI reads the user's docker config itself (credentials, contexts, builders). */

typedef struct brr_buildx brr_buildx;

typedef struct brr_buildx_result {
  int status;               /* 0, BRR_EFAILED (the build failed), BRR_ECANCELED, BRR_EIO (the
                               CLI could not be started) */
  const char *error;        /* the CLI's last "ERROR: ..." line, or what went wrong */
  const char *digest;       /* --push: the pushed manifest's digest (metadata file), or NULL */
  const char *image_id;     /* the image's config digest, which is the local image id of a
                               --load into the engine's store, or NULL */
} brr_buildx_result;

typedef struct brr_buildx_opts {
  const char *docker;               /* the docker CLI; NULL: $BRR_DOCKER, else "docker" */
  const char *context;              /* the context directory (required) */
  const char *dockerfile;           /* --file, or NULL */
  const char *platform;             /* --platform (required) */
  const char *tag;                  /* --tag; NULL: none (with --load, an untagged image
                                       whose id is the result's image_id) */
  bool push;                        /* --push (a registry ref); else --load */
  const char *builder;              /* --builder, or NULL for the current one */
  const char *docker_context;       /* `docker --context NAME buildx build`: a builder of the
                                       docker driver on another engine (buildx refuses to
                                       switch contexts through --builder); NULL: none */
  const char *target;               /* --target */
  bool no_cache, pull;              /* --no-cache, --pull */
  const char *const *buildargs;     /* "K=V" for --build-arg */
  const char *const *secrets;       /* --secret specs */
  const char *const *cache_from;    /* --cache-from values */
  const char *const *cache_to;      /* --cache-to values */
  const char *const *labels;        /* "k=v" for --label (brr passes none) */
  const char *metadata_file;        /* --metadata-file: read for the digests (required) */
  char *const *env;                 /* the CLI's environment; NULL: brr's */
  /* One line of the CLI's output (progress is plain text on stderr), without its newline. */
  void (*on_line)(void *ud, int stream, const char *line, size_t len);
  void (*on_done)(void *ud, const brr_buildx_result *res);
  void *ud;
} brr_buildx_opts;

/* The command line for `o` (NULL-terminated heap strings; free with brr_strv_free), or NULL
 * when a required option is missing. */
char **brr_buildx_argv(const brr_buildx_opts *o);
/* Start the build; on_done follows exactly once, from the loop. NULL when `o` lacks a
 * required option (nothing started, no callback). */
brr_buildx *brr_buildx_build(uv_loop_t *loop, const brr_buildx_opts *o);
/* SIGTERM to the CLI's process group (SIGKILL 5 s later); on_done reports BRR_ECANCELED. */
void brr_buildx_cancel(brr_buildx *b);
/* SIGKILL now and no callback: the owner is going away. */
void brr_buildx_abandon(brr_buildx *b);
/* The CLI's pid while it runs, else 0. */
int brr_buildx_pid(const brr_buildx *b);

/* ---- twine: Python packages to a PyPI repository (the `pypi-push` step key) ---- */

typedef struct brr_twine brr_twine;

typedef struct brr_twine_opts {
  const char *twine;                /* the program; NULL: $BRR_TWINE, else "twine" */
  const char *repository;           /* a ~/.pypirc section name, or the upload URL (url true) */
  bool url;                         /* --repository-url (credentials given) vs --repository */
  const char *username, *password;  /* passed in TWINE_USERNAME/TWINE_PASSWORD, never argv */
  bool skip_existing;               /* --skip-existing */
  const char *const *files;         /* the distributions, NULL-terminated (at least one) */
  /* One line of twine's output without its newline; the password never appears in it. */
  void (*on_line)(void *ud, int stream, const char *line, size_t len);
  /* Once: status 0, BRR_ECANCELED, or BRR_EFAILED/BRR_EIO with a one-line reason. */
  void (*on_done)(void *ud, int status, const char *error);
  void *ud;
} brr_twine_opts;

/* The command line for `o` (heap strings, NULL-terminated; brr_strv_free), or NULL when the
 * repository or the files are missing. Credentials are not in it. */
char **brr_twine_argv(const brr_twine_opts *o);
/* Start `twine upload` in its own process group, stdin from /dev/null. NULL when `o` lacks
 * the repository or files (nothing started, no callback). */
brr_twine *brr_twine_upload(uv_loop_t *loop, const brr_twine_opts *o);
/* SIGTERM to twine's process group (SIGKILL 5 s later); on_done reports BRR_ECANCELED. */
void brr_twine_cancel(brr_twine *t);
/* SIGKILL now and no callback: the owner is going away. */
void brr_twine_abandon(brr_twine *t);

#endif
