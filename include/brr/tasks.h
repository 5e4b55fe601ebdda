/* brr — the tasks layer: each graph node kind (build, run with services, caches and
 * artifacts, commit, push, manifest) in terms of engine calls.
 *
 * This first part holds the pieces that never talk to Docker: the /source tar, build
 * contexts (.dockerignore, inject destinations), artifacts (listing script, the consumer of
 * archive streams, artifacts.json) and caches (names, selection, locks, atomic writes).
 * They work on files, tar streams and values, so they are tested without an engine.
 * Behaviour and every deliberate difference from buildrunner: docs/tasks.md.
 *
 * Errors: functions return 0 or a negative BRR_E* code and add a diagnostic. Configuration
 * mistakes carry exit code 78 and the mark of the offending key; I/O failures carry 1. */
#ifndef BRR_TASKS_H
#define BRR_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/config.h"
#include "brr/diag.h"
#include "brr/util.h"
#include "brr/value.h"

/* ==== /source (spec §9.1) ================================================================ */

/* Write the tar that run tasks PUT at /source: entries relative to `build_dir` (a root entry
 * "." first), modes, owners, mtimes, symlinks and hard links kept, names in byte order. Leaves
 * out the top-level entry named basename(results_dir) and paths matching a `.buildignore`
 * line; `.git` is kept. File contents are streamed. On failure `out_path` is removed. */
int brr_source_tar_create(const char *build_dir, const char *results_dir, const char *out_path,
                          brr_diags *d);
/* Whether the engine would refuse the symbolic link `rel` (relative to the build dir) with
 * target `target` when the tar is unpacked at /source: a relative target that leads above it.
 * brr_source_tar_create fails on the first such link, naming it (exit 1). */
bool brr_source_link_escapes(const char *rel, const char *target);
/* One `.buildignore` test as buildrunner does it: Python fnmatch of `pattern` against the
 * relative path, where `*` also matches `/` and backslash is an ordinary character. */
bool brr_buildignore_match(const char *pattern, const char *relpath);

/* ==== .dockerignore (docker build's rules) =============================================== */

typedef struct brr_dockerignore brr_dockerignore;

/* Parse .dockerignore text the way docker reads it: `#` comment lines, trimmed lines, `!`
 * exceptions, patterns cleaned (`./`, `..`, a leading `/` removed). `file` names the source
 * in diagnostics. NULL, with a diagnostic at the line, for an invalid pattern. */
brr_dockerignore *brr_dockerignore_parse(const char *text, size_t len, const char *file,
                                         brr_diags *d);
/* Append the exception `!path` when `path` is excluded: docker always sends the Dockerfile and
 * .dockerignore, whatever the patterns say. */
void brr_dockerignore_keep(brr_dockerignore *di, const char *path);
/* Whether `relpath` (slash-separated, relative to the context root) is left out: the last
 * pattern matching it or one of its parent directories decides. */
bool brr_dockerignore_excluded(const brr_dockerignore *di, const char *relpath);
/* For an excluded directory: whether docker still walks into it, i.e. an exception pattern
 * starts with `reldir/`. */
bool brr_dockerignore_descend(const brr_dockerignore *di, const char *reldir);
void brr_dockerignore_free(brr_dockerignore *di);

/* ==== build inputs and contexts (spec §2.2, §3.1, §7) ===================================== */

/* One resolved inject: a source on disk and where it goes in the context. */
typedef struct brr_inject_item {
  char *src;        /* absolute path of a glob match */
  char *dest;       /* in-context path, normalised, relative ("." = the context root) */
  bool src_is_dir;
  brr_mark mark;    /* the inject key */
} brr_inject_item;

/* What a build step's context is made of, with every path resolved. */
typedef struct brr_build_inputs {
  char *context;            /* absolute real `path`, or NULL when the step has none */
  brr_mark context_mark;    /* the `path` key, else the `build` node: for context errors */
  char *dockerfile_path;    /* the Dockerfile as a file (absolute), or NULL */
  char *dockerfile_text;    /* inline Dockerfile text, or NULL */
  bool dockerfile_injected; /* it came from an inject whose destination is the Dockerfile */
  brr_inject_item *inject;  /* in config order; a source matched twice keeps its last dest */
  size_t n_inject;
} brr_build_inputs;

/* Resolve `b` against `build_dir` (spec §2.2 and §3.1): expand inject globs (relative to the
 * build dir, glob(3) rules, sorted) and apply the destination rules; check `path`; pick the
 * Dockerfile (`dockerfile` key as file or inline text, else `<path>/Dockerfile`, overridden by
 * an inject to `Dockerfile` or `/Dockerfile`). `step` names the step in messages. Errors are
 * configuration errors (78) at the key's mark: "Unable to expand inject glob: <abs>", an
 * inject destination outside the context, a missing `path`, no path/dockerfile/inject, no
 * Dockerfile (not required for `import` builds). */
int brr_build_inputs_resolve(const brr_build *b, const char *build_dir, const char *step,
                             brr_build_inputs *out, brr_diags *d);
void brr_build_inputs_free(brr_build_inputs *in);

/* Write the context tar for the legacy builder (Engine API POST /build) to `out_path`, and
 * set *dockerfile_name (heap) to the name to pass as the API's `dockerfile` parameter.
 * With injects or without `path` (buildrunner's own tar): the `path` tree, then the injects,
 * then the Dockerfile as `Dockerfile`. Otherwise the `path` tree with the Dockerfile by its
 * relative name, or added as `.dockerfile.<sha1>` when it lies outside the context.
 * `.dockerignore` of `path` filters the `path` tree (the Dockerfile and .dockerignore are
 * always sent); injects are never filtered. Owners are recorded as root, like docker's CLI. */
int brr_build_context_tar(const brr_build_inputs *in, const char *out_path,
                          char **dockerfile_name, brr_diags *d);

/* A context directory for `docker buildx build <dir> [--file <dockerfile>]`. */
typedef struct brr_build_context {
  char *dir;         /* the context directory */
  char *dockerfile;  /* value for --file, or NULL for <dir>/Dockerfile */
  char *temp;        /* directory brr created (removed by the cleanup), or NULL */
} brr_build_context;

/* Materialise the context for buildx (spec §7 item 7). With injects: a temporary directory
 * under `temp_dir` holding a copy of `path` without `.git` directories (symlinks kept), the
 * injects (links followed), and the Dockerfile as `Dockerfile` unless one was injected. An
 * inline Dockerfile is written to a temporary file. Otherwise the original `path` (or the
 * Dockerfile's directory) is returned as is. */
int brr_build_context_dir(const brr_build_inputs *in, const char *temp_dir,
                          brr_build_context *out, brr_diags *d);
/* Remove what brr_build_context_dir created and free the strings. Safe on a zeroed struct. */
void brr_build_context_cleanup(brr_build_context *c);

/* ==== artifacts (spec §9.6, §9.7, §9.8) ================================================== */

typedef enum { BRR_ARTIFACT_FILE, BRR_ARTIFACT_DIR } brr_artifact_kind;

/* One match found in the run container by the listing script. */
typedef struct brr_artifact_match {
  size_t pattern;          /* index into the patterns given to the script */
  brr_artifact_kind kind;  /* what the match is, following symbolic links */
  char *path;              /* as the shell expanded it (relative to /source, or absolute) */
  char *fetch;             /* absolute path to GET from the container (links resolved) */
} brr_artifact_match;

/* Append to `out` a POSIX sh script (dash, bash, busybox ash) that expands each pattern as
 * a pathname glob in the current directory (run it with working directory /source) and
 * prints, per existing match, `<index>\0<f|d>\0<path>\0<fetch>\0`. Patterns are data: no
 * word splitting, no variable or command expansion, so names with spaces are safe. */
void brr_artifact_list_script(const char *const *patterns, size_t n, brr_buf *out);
/* Parse the script's output. BRR_EINVAL (diagnostic, exit 1) on malformed output. */
int brr_artifact_list_parse(const char *text, size_t len, size_t n_patterns,
                            brr_artifact_match **out, size_t *n_out, brr_diags *d);
void brr_artifact_matches_free(brr_artifact_match *v, size_t n);

/* One match to store: what the config says and what the container holds. */
typedef struct brr_artifact_req {
  const char *step;          /* step name: outputs go to <results_dir>/<brr_results_name(step)>/,
                                and the artifacts.json keys start with that name */
  const char *results_dir;
  brr_str pattern;           /* the artifacts key, with its mark */
  const brr_value *props;    /* the raw properties (map or falsy), or NULL */
  const char *match;         /* brr_artifact_match.path */
  brr_artifact_kind kind;
} brr_artifact_req;

typedef struct brr_artifact_sink brr_artifact_sink;

/* Start consuming the tar stream of GET /containers/{id}/archive?path=<fetch> for one match.
 * Checks the properties (a `rename` with a `*` pattern is a configuration error). The bytes
 * are spooled to a hidden file in the step directory, then unpacked by the finish. */
int brr_artifact_sink_new(const brr_artifact_req *req, brr_artifact_sink **out, brr_diags *d);
/* Feed the next bytes of the stream. Returns 0 or BRR_EIO (reported by the finish). */
int brr_artifact_sink_write(brr_artifact_sink *s, const void *data, size_t len);
/* Write the outputs as buildrunner lays them out (a file under its name or `rename`; a
 * directory with `format: uncompressed` as its files; other directories as one archive
 * per the `archive:` map) and register them in `artifacts` (a map value in arena `a`) with
 * buildrunner's keys and values. Frees the sink, whatever the result. */
int brr_artifact_sink_finish(brr_artifact_sink *s, brr_arena *a, brr_value *artifacts,
                             brr_diags *d);
/* Whether a write to the sink's file failed (its write returned BRR_EIO): the finish then
 * reports the file and the error. */
bool brr_artifact_sink_failed(const brr_artifact_sink *s);
/* Drop a sink without writing anything (the stream failed); removes the spool. */
void brr_artifact_sink_free(brr_artifact_sink *s);

/* Write `artifacts` (a map) to `path` as Python's json.dump(indent=2) would: ASCII only, no
 * trailing newline, insertion order. An existing file's entries come first and keep their
 * places; new values replace old ones. Nothing is written for an empty map. Atomic. */
int brr_artifacts_json_write(const char *path, const brr_value *artifacts, brr_diags *d);

/* ==== security scans (spec §3 security-scan, §8; docs/builds.md) ========================= */

#define BRR_SCAN_TRIVY_VERSION "0.69.3"

/* The scan settings in effect for one push entry. Strings point into the config or `a`. */
typedef struct brr_scan_settings {
  bool enabled;
  const char *scanner;      /* "trivy" */
  const char *version;      /* the aquasec/trivy image tag */
  const char *cache_dir;    /* host cache directory (global only), or NULL */
  brr_value *config;        /* trivy's config.yaml keys (a map) */
  bool has_threshold;       /* a truthy max-score-threshold */
  double threshold;
} brr_scan_settings;

/* buildrunner's defaults, then the global `security-scan` (files and --security-scan-*
 * flags, already merged: `config` replaces the default map), then a push entry's
 * `security-scan`: each non-null field wins, its `config` merged key by key. */
void brr_scan_settings_resolve(brr_arena *a, const brr_value *global, const brr_value *push,
                               brr_scan_settings *out);
/* Parse trivy's JSON report: *result = {"max_score", "vulnerabilities": [{cvss_v3_score,
 * severity, vulnerability_id, pkg_name, installed_version, primary_url}]} (values in `a`,
 * nvd V3Score for the score). Returns 0; BRR_EFAILED with *error (heap) when a threshold is
 * set and the max score reaches it (the result is still made); BRR_EINVAL when the text is
 * not a JSON object. */
int brr_scan_parse_trivy(brr_arena *a, const char *text, size_t len, const brr_scan_settings *s,
                         brr_value **result, double *max_score, char **error);

typedef struct brr_scan brr_scan;
/* status 0 (result set), BRR_EFAILED (threshold: result set; or a scanner failure: NULL),
 * BRR_ECANCELED, or another failure; error is a one-line reason or NULL. */
typedef void (*brr_scan_done_cb)(void *ud, int status, const char *error, brr_value *result,
                                 double max_score);

/* ==== caches (spec §9.3) ================================================================== */

/* How long a cache lock may be waited for before the cache is skipped (buildrunner: 30 min). */
#define BRR_CACHE_LOCK_TIMEOUT_MS (30u * 60u * 1000u)

typedef struct brr_cache_entry {
  char *archive;            /* local archive file */
  const char *docker_path;  /* directory in the container (points into the config) */
  brr_mark mark;
  bool save;                /* the first archive of its docker path: the one a save writes */
} brr_cache_entry;

typedef struct brr_cache_plan {
  brr_cache_entry *v;
  size_t n;
} brr_cache_plan;

/* Map a step's `caches:` (config order) to archives: `key: /path` gives
 * `<root>/<project>-<key>.tar`, `/path: [k1, k2]` gives `<root>/<k>.tar` each. A repeated
 * archive keeps its first place and its last path. The archive's directory is created; when
 * that fails under `root`, the default root (~/.buildrunner/caches) is used, with a warning.
 * Values of other types are skipped with a warning. */
int brr_cache_plan_make(const brr_kvlist *caches, const char *root, const char *project,
                        brr_cache_plan *out, brr_diags *d);
void brr_cache_plan_free(brr_cache_plan *p);

/* The file to restore `archive` from: itself when it exists, else the newest (mtime) regular
 * file in its directory whose name starts with the archive's name minus `.tar`. Empty files
 * (left by a failed save) never count. NULL when nothing fits. Heap string. */
char *brr_cache_restore_pick(const char *archive);

typedef struct brr_cache_restore {
  char *file;               /* the tar to PUT */
  const char *docker_path;  /* where to PUT it (mkdir -p first) */
} brr_cache_restore;

/* The restores to do, in plan order: the first entry of each docker path that has a file
 * (later entries of a path already served are skipped). */
int brr_cache_restore_list(const brr_cache_plan *p, brr_cache_restore **out, size_t *n);
void brr_cache_restore_free(brr_cache_restore *v, size_t n);

/* A held flock on a cache file; `fd` reads the file when it was locked for restore. */
typedef struct brr_cache_lock {
  int fd;
} brr_cache_lock;

/* Try once, without blocking, to lock `path`: shared (restore; the file must exist) or
 * exclusive (save; the file is created if missing). Returns 0 when held, 1 when another
 * process holds a conflicting lock, or a negative BRR_E*. An event loop retries on a timer
 * with brr_cache_lock_backoff_ms until BRR_CACHE_LOCK_TIMEOUT_MS has passed. */
int brr_cache_lock_try(const char *path, bool exclusive, brr_cache_lock *out);
/* Delay before retry number `attempt` (0-based): 50 ms doubling up to 2 s. */
unsigned brr_cache_lock_backoff_ms(unsigned attempt);
/* Blocking form for a worker thread (uv_queue_work): retries until held or `timeout_ms`
 * passed (BRR_ETIMEOUT). */
int brr_cache_lock_wait(const char *path, bool exclusive, unsigned timeout_ms,
                        brr_cache_lock *out);
void brr_cache_lock_release(brr_cache_lock *l);

typedef struct brr_cache_writer brr_cache_writer;

/* Begin replacing `archive` (the caller holds its exclusive lock): bytes go to a temporary
 * file in the same directory. */
int brr_cache_writer_open(const char *archive, brr_cache_writer **out, brr_diags *d);
/* Append bytes of the tar stream from GET archive?path=<dir>/. */
int brr_cache_writer_write(brr_cache_writer *w, const void *data, size_t len);
/* Check the bytes form a readable tar, then rename them over the archive. On any failure
 * the old archive stays as it was. Frees the writer. */
int brr_cache_writer_commit(brr_cache_writer *w, brr_diags *d);
/* Drop the temporary file (and an empty archive left by the lock). Frees the writer. */
void brr_cache_writer_abort(brr_cache_writer *w);

/* Who wrote a cache, for cache_history.log; NULL fields print as None, like buildrunner. */
typedef struct brr_cache_history {
  const char *step, *vcs_name, *vcs_branch, *vcs_short_id, *arch;
  int64_t time;             /* epoch seconds, printed in local time */
} brr_cache_history;

/* Append buildrunner's line for `archive` to `<dirname(archive)>/cache_history.log` under an
 * exclusive lock. */
int brr_cache_history_append(const char *archive, const brr_cache_history *h, brr_diags *d);
/* --clean-cache: remove the caches root (after ~ expansion). 0 or -errno. */
int brr_cache_clean(const char *root);

/* ==== the runtime: shared state of one run, and the task factory ========================= */
/* The scheduler sees nodes through brr_task; the runtime makes those tasks (one kind per
 * graph node kind) and holds what the tasks of one run share: the engine client, per-step
 * state, the committed set (spec §5), the artifacts map, a private temp dir. Everything runs
 * on the loop thread. Node kinds: run/post-build (run.c, post_build.c), build/platform-build/
 * manifest/push (build.c, platform_build.c, manifest.c, push.c), commit (commit.c). */

#include <uv.h>

#include "brr/engine.h"
#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/events.h"

typedef struct brr_runtime_opts {
  bool push;                   /* --push */
  bool local_images;           /* --local-images: pull false for builds and runs */
  bool publish_ports;          /* --publish-ports */
  bool cleanup_images;         /* --cleanup-images: the images the run generated go at the end */
  const char *platform;        /* --platform, or NULL */
  bool disable_multi_platform; /* flag or global config */
  char **container_labels;     /* --container-labels "k=v", NULL-terminated, or NULL */
  int docker_timeout;          /* -t seconds (0: none) */
  const char *docker_host;     /* plain DOCKER_HOST syntax; NULL: `endpoint` */
  const brr_engine_endpoint *endpoint; /* the engine chosen as the docker CLI does (--context,
                                          DOCKER_HOST, ...); NULL: resolved from the environment */
  brr_results *results;        /* the locked results dir (records the step dirs), or NULL */
  bool incremental;            /* --incremental or `incremental: true`: reuse unchanged nodes */
} brr_runtime_opts;

/* What the nodes of one step share, and what later steps read. Strings are heap strings
 * owned by the runtime; set them with brr_runtime_set(). */
typedef struct brr_step_state {
  char *id;                 /* BUILDRUNNER_STEP_ID: a uuid4 for this step */
  char *results_dir;        /* <results>/<brr_results_name(step)> (brr_runtime_step_begin) */
  char *build_image;        /* the build node's image: id (legacy) or local ref; for a
                               multi-platform step the manifest node sets the native image */
  char *run_image;          /* the run container committed after its commands */
  char *post_build_image;   /* the post-build image */
  bool multi_platform;      /* set by the manifest node: commit leaves push artifacts to it */
  bool begun;
} brr_step_state;

/* A buildx builder a `platform-builders` entry names, as `docker buildx inspect` found it
 * before the run (src/tasks/builders.c). */
typedef struct brr_builder_info {
  char *name;
  char *driver;          /* "docker", "docker-container", ... */
  char *context;         /* a docker-driver builder is a docker context: when it is not the
                            engine brr runs on, buildx runs as `docker --context NAME buildx`,
                            else NULL */
  brr_engine *engine;    /* that context's engine (with `context`): what the docker driver
                            keeps there is removed from it at the end of the run */
} brr_builder_info;

typedef struct brr_runtime {
  uv_loop_t *loop;
  const brr_config *cfg;
  const brr_graph *graph;
  brr_runtime_opts opts;
  brr_bus *bus;
  brr_engine *engine;
  char **docker_env;           /* the docker CLI subprocesses' environment (same engine) */
  brr_step_state *steps;       /* cfg->n_steps entries */
  brr_arena *arena;            /* artifacts values and other run-long strings */
  brr_value *artifacts;        /* artifacts.json content, in insertion order */
  brr_strmap committed;        /* the committed set: exact "repository:tag" strings */
  char *temp_dir;              /* private to this run, removed at the end */
  const char *native_platform; /* "linux/amd64", "linux/arm64", ... */
  char **keep;                 /* images (names and ids) that outlive the run */
  size_t n_keep, cap_keep;
  char **generated;            /* image ids the run's builds, commits and imports reported,
                                  oldest first: kept unless --cleanup-images */
  size_t n_generated, cap_generated;
  int64_t started_ms;          /* wall clock at the start: an image older than this was not
                                  made by this run (a cache hit names an existing image) */
  void *run_state;             /* owned by the run tasks (source tar, ...), or NULL */
  void (*run_state_free)(struct brr_runtime *rt);
  void *build_state;           /* owned by the build tasks (build registry, ...), or NULL */
  void (*build_state_free)(struct brr_runtime *rt);
  /* finish: teardown of run_state/build_state resources that need the loop (e.g. the
   * temporary build registry container): called by brr_runtime_finish before the engine
   * cleanup; each calls `done(rt)` when finished. May be NULL. */
  void (*run_state_finish)(struct brr_runtime *rt, void (*done)(struct brr_runtime *rt));
  void (*build_state_finish)(struct brr_runtime *rt, void (*done)(struct brr_runtime *rt));
  void *remote_state;          /* remote.c: the hosts' temp dirs that exist right now */
  bool config_failed;          /* a task failed on a configuration error: exit 78, not 1 */
  bool aborted;                /* the last-resort cleanup ran: the end does not wait on the engine */
  int finish_pending;          /* internal to brr_runtime_finish */
  bool artifacts_written;      /* brr_runtime_write_artifacts ran */
  void *incr_state;            /* incr_task.c: incremental runs (opts.incremental), or NULL */
  void *finish_state;
  char *engine_context;        /* the docker context that chose the engine, or NULL */
  brr_builder_info *builders;  /* the builders the graph's builds use (brr_runtime_builders_check) */
  size_t n_builders;
  size_t builders_cleaned;     /* internal to brr_runtime_finish */
} brr_runtime;

/* Make the runtime (and its engine client) for running `g`. 0, or BRR_EIO/BRR_EINVAL with a
 * diagnostic (no Docker host, temp dir unusable). Nothing talks to Docker yet. */
int brr_runtime_new(uv_loop_t *loop, const brr_config *cfg, const brr_graph *g,
                    const brr_runtime_opts *opts, brr_bus *bus, brr_runtime **out,
                    brr_diags *d);
/* The scheduler's task factory (ud = the runtime). */
int brr_runtime_factory(void *ud, const brr_graph *g, size_t node, brr_task **out);
/* The scheduler's last-resort hook (ud = the runtime): remove every Docker object of the run
 * synchronously, all at once, within BRR_RUNTIME_ABORT_BUDGET_MS; the engine completes the
 * removals it received after brr is gone. brr_runtime_finish then leaves the engine alone. */
#define BRR_RUNTIME_ABORT_BUDGET_MS 1000
void brr_runtime_abort(void *ud);
/* End of run, on the loop: artifacts.json (always, when not empty), resource teardown, then
 * removal of every container, network and volume of the run and of brr's own temporary
 * image names; the images the run generated and the tags it gave stay, unless
 * --cleanup-images: then the generated images created since the run began go too (never an
 * image that existed before, e.g. a cache hit). Runs the loop until done. 0, or BRR_EFAILED
 * with a warning on the bus for what could not be removed. */
int brr_runtime_finish(brr_runtime *rt);
/* Write <results>/artifacts.json now (once: brr_runtime_finish then skips it). 0, or
 * BRR_EIO with a diagnostic naming the file and the error. */
int brr_runtime_write_artifacts(brr_runtime *rt, brr_diags *d);
void brr_runtime_free(brr_runtime *rt);

/* The step of node `node`'s state, made on first use (results dir included, spec §9.7). */
int brr_runtime_step_begin(brr_runtime *rt, size_t step, brr_diags *d);
/* Replace a heap string field of the runtime (frees the old value; `val` is copied). */
void brr_runtime_set(char **field, const char *val);
/* The committed set (spec §5): add a "repository:tag", and test one verbatim. */
void brr_runtime_commit_add(brr_runtime *rt, const char *ref);
bool brr_runtime_committed(const brr_runtime *rt, const char *ref);
/* An image (name or id) the build produced for the user: not removed at the end unless
 * --cleanup-images. */
void brr_runtime_keep_image(brr_runtime *rt, const char *image);
/* The run's temp dir is "<temp-dir>/brr-run.<pid>.<start>.XXXXXX" (start: the process's
 * start time, see brr_owner_self). */
#define BRR_RUNTIME_TEMP_PREFIX "brr-run."
/* Remove the temp dirs under `tmp_root` (NULL: /tmp) of brr processes that are gone (after a
 * kill -9); `cb` (may be NULL) hears of each. Returns how many were removed. */
int brr_runtime_sweep_temp(const char *tmp_root, void (*cb)(void *ud, const char *path), void *ud);
/* What killed brr runs left (src/tasks/sweep.c). One object removed (`error` NULL) or not:
 * `what` is "container 2f0f9ca065d3", "network ...", "volume <name>" or "directory <path>";
 * `owner` the brr.owner label (NULL for a directory). */
typedef void (*brr_sweep_cb)(void *ud, const char *what, const char *owner, const char *error);
/* Before a run: remove, on the run's engine and in its temp root, what brr processes of this
 * host that are gone left behind; each removal is a log line on the bus. */
void brr_runtime_sweep(brr_runtime *rt);

/* Before any node starts (blocking, on the runtime's loop): every builder that a build of the
 * graph names through `platform-builders` must exist (`docker buildx inspect NAME`). A builder
 * of the docker driver is a docker context: when it is another engine than brr's, that engine
 * is pinged (the TLS or ssh settings of the context apply), and it must be able to reach the
 * build registry (with `build-registry: local`, the registry is pushed to at 127.0.0.1, so both
 * engines must be on this machine or on the same other host); a single-platform buildx build
 * cannot use it (its image would load into the other engine). 0, or BRR_EFAILED with one line
 * naming the builder, its platform and the cause in *error (heap). */
int brr_runtime_builders_check(brr_runtime *rt, int timeout_s, char **error);
/* The checked builder `name`, or NULL (not checked, or no builder). */
const brr_builder_info *brr_runtime_builder(const brr_runtime *rt, const char *name);
/* The engine where what builder `name` keeps ends up: its context's engine, else brr's. */
brr_engine *brr_runtime_builder_engine(const brr_runtime *rt, const char *name);
/* The same with a client of its own on the engine `ep` (NULL: chosen from the environment
 * as the docker CLI does), for `brr --clean`. Returns how many were removed (*failed: how many could not be), or -1 with
 * *error (heap) when the engine cannot be reached. */
int brr_sweep_stale(const brr_engine_endpoint *ep, int timeout_s, const char *tmp_root, brr_sweep_cb cb,
                    void *ud, int *failed, char **error);
/* An image id a build, commit or import of this run reported (buildrunner's "generated
 * images"): kept at the end unless --cleanup-images. */
void brr_runtime_generated(brr_runtime *rt, const char *id);
/* Pull decision of spec §5 for a run image or FROM reference: `pull` as configured (tri),
 * `--local-images`, and the committed set (verbatim match). */
bool brr_runtime_should_pull(const brr_runtime *rt, brr_tri pull, const char *image);


/* Scan the local image `ref` with trivy in `<docker-registry>/aquasec/trivy:<version>`
 * (scan.c): output to `task`; `done` follows once the scanner container is gone. NULL when
 * it could not start (done has then already been called). */
struct brr_task;
brr_scan *brr_scan_start(brr_runtime *rt, brr_task *task, const brr_scan_settings *s,
                         const char *ref, brr_scan_done_cb done, void *ud);
/* Stop the scan; done follows with BRR_ECANCELED after the container is removed. */
void brr_scan_cancel(brr_scan *sc);

/* ---- incremental runs (incr_task.c; docs/incremental.md) ---- */
/* Open the state, store and file-hash cache of incremental runs, and follow the bus to
 * record the outputs of the nodes that run (brr_runtime_new does it when opts.incremental). */
void brr_incr_runtime_start(brr_runtime *rt);
/* Save the file-hash cache and free the state (brr_runtime_free does it). */
void brr_incr_runtime_free(brr_runtime *rt);
/* Put the artifacts.json entries in the order of the last run's file (new keys after, in their
 * own order), so a run that reuses every node writes the same bytes; then remember this order.
 * Parallel nodes finish in any order, so the order of one run is as good as another's. */
void brr_incr_order_artifacts(brr_runtime *rt);
/* --graph --incremental: set each node's incr_note (and incr_reused) to what a run would do:
 * reused, never reused and why, or the first input that changed. Images are not asked for. */
void brr_incr_predict(brr_runtime *rt, brr_graph *g);
/* Why node `node` is never reused (a static string), or NULL when it may be. */
const char *brr_incr_not_reusable(const brr_config *cfg, const brr_graph *g, size_t node);
/* The content hash of a build's context as the build sends it (docs/incremental.md): the
 * `path` tree without what its .dockerignore leaves out (the Dockerfile and .dockerignore
 * always count), then each inject's destination and content. `c` (may be NULL) is the
 * file-hash cache. 0, or an error with a diagnostic (a bad .dockerignore, an unreadable file). */
struct brr_hashcache;
int brr_incr_build_context_hash(const brr_build_inputs *in, struct brr_hashcache *c,
                                char hex[65], brr_diags *d);
/* The task that decides, at start, whether node `node` is reused or runs (then the node kind's
 * own task runs in its place). Returns 1, with *out NULL, when incremental runs are off or the
 * node is never reused. */
int brr_incr_task_new(brr_runtime *rt, size_t node, brr_task **out);

/* ---- node kinds (each in its own file) ---- */
int brr_task_commit_new(brr_runtime *rt, size_t node, brr_task **out);
/* A step's run container, with its services, caches and artifacts (run.c; docs/run.md). */
int brr_task_run_new(brr_runtime *rt, size_t node, brr_task **out);
/* The post-build image: a legacy build FROM the run container's committed state. */
int brr_task_post_build_new(brr_runtime *rt, size_t node, brr_task **out);
/* Image builds and pushes (build.c, platform_build.c, manifest.c, push.c; docs/builds.md). */
int brr_task_build_new(brr_runtime *rt, size_t node, brr_task **out);
int brr_task_platform_build_new(brr_runtime *rt, size_t node, brr_task **out);
int brr_task_manifest_new(brr_runtime *rt, size_t node, brr_task **out);
int brr_task_push_new(brr_runtime *rt, size_t node, brr_task **out);
/* A step's Python packages uploaded with twine (pypi_push.c; docs/builds.md). */
int brr_task_pypi_push_new(brr_runtime *rt, size_t node, brr_task **out);
/* The `remote` task over ssh (remote.c). */
int brr_task_remote_new(brr_runtime *rt, size_t node, brr_task **out);
/* The abort path: remove every remote temp dir still there with a synchronous ssh (at most
 * 15 s each). */
void brr_remote_abort(brr_runtime *rt);
/* Forget the list (the runtime is freed). */
void brr_remote_forget(brr_runtime *rt);

/* One platform image of a multi-platform step (strings owned by the runtime). */
typedef struct brr_mp_image {
  const char *platform;   /* as configured */
  const char *digest;     /* its manifest digest in the build registry */
  const char *ref;        /* its name in the build registry, also tagged in the engine */
} brr_mp_image;
/* The platform images of `step` in the order of its `platforms` (up to `max` into `out`);
 * returns how many there are (0 when it is not a multi-platform step of this run). */
size_t brr_build_mp_images(brr_runtime *rt, size_t step, brr_mp_image *out, size_t max);
/* Once per run, when the first node starts: the Docker Hub rate-limit check (when images come
 * from Docker Hub, read RateLimit-Remaining and warn, naming `docker-registry`, when the pulls
 * would not fit; it runs beside the build and never delays it), and the count of the nodes
 * that use the build registry (removed as soon as the last of them is done). */
void brr_build_begin(brr_runtime *rt);

#endif
