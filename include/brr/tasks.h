/* brr — the tasks layer: each graph node kind (build, run with services, caches and
 * artifacts, commit, push, manifest) in terms of engine calls, made by the runtime that
 * implements the scheduler's task interface. The pieces that never talk to Docker (source
 * tar, build contexts, artifacts, caches, scan reports) are in brr/tasks_files.h.
 * Behaviour and every deliberate difference from buildrunner: docs/tasks.md.
 *
 * Errors: functions return 0 or a negative BRR_E* code and add a diagnostic. Configuration
 * mistakes carry exit code 78 and the mark of the offending key; I/O failures carry 1. */
#ifndef BRR_TASKS_H
#define BRR_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "brr/config.h"
#include "brr/engine.h"
#include "brr/events.h"
#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/tasks_files.h"

/* ==== the runtime: shared state of one run, and the task factory ========================= */
/* The scheduler sees nodes through brr_task; the runtime makes those tasks (one kind per
 * graph node kind) and holds what the tasks of one run share: the engine client, per-step
 * state, the committed set (spec §5), the artifacts map, a private temp dir. Everything runs
 * on the loop thread. Node kinds: run/post-build (run.c, post_build.c), build/platform-build/
 * manifest/push (build.c, platform_build.c, manifest.c, push.c), commit (commit.c). */

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
  int engine;               /* index into brr_runtime.engines where its nodes run (0 until placed) */
  bool placed;              /* its first node chose the engine: the others follow it */
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

/* One engine of the run: the one the docker CLI would use, or each of `engines:`. */
typedef struct brr_runtime_engine {
  const char *name;         /* its `engines:` key, or NULL for the single engine */
  brr_engine *engine;
  char **docker_env;        /* the docker CLI subprocesses' environment for it */
  int jobs;                 /* nodes at once (`jobs`) */
  int busy;                 /* nodes placed on it that hold one of its slots */
  const brr_strlist *platforms; /* its native platforms (may be empty), or NULL */
  bool local;               /* on this host: its containers can bind-mount brr's paths */
} brr_runtime_engine;

typedef struct brr_runtime {
  uv_loop_t *loop;
  const brr_config *cfg;
  const brr_graph *graph;
  brr_runtime_opts opts;
  brr_bus *bus;
  brr_engine *engine;          /* the first engine (the only one without `engines:`): the
                                  build registry, multi-platform steps, the sweep */
  char **docker_env;           /* the docker CLI subprocesses' environment (same engine) */
  brr_runtime_engine *engines; /* every engine of the run (engines[0].engine == engine) */
  size_t n_engines;
  int *node_engine;            /* per graph node: the engine it was placed on, or -1 */
  bool *node_slot;             /* per graph node: it holds a slot of that engine */
  void *move_state;            /* engines.c: the images moved so far */
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

/* ---- several engines (src/tasks/engines.c; docs/engine.md#several-engines-engines) ---- */
/* The engine the nodes of `step` run on (the first engine for BRR_NO_STEP or before the
 * step is placed), and its docker CLI environment. */
brr_engine *brr_rt_engine(const brr_runtime *rt, size_t step);
char **brr_rt_docker_env(const brr_runtime *rt, size_t step);
/* The same for the node of a started task. */
brr_engine *brr_rt_task_engine(const brr_runtime *rt, const brr_task *t);
/* Make the clients of `engines:` (engines[0] is also rt->engine). 0, or BRR_EINVAL with a
 * diagnostic (a bad address or context, naming the engine), or BRR_ECONFIG when a step
 * needs what no engine offers (host paths bind-mounted, with only remote engines). */
int brr_runtime_engines_new(brr_runtime *rt, const brr_engine_opts *base, brr_diags *d);
/* GET /_ping on every engine; 0, or BRR_EIO with a heap message naming the engine. */
int brr_runtime_preflight(brr_runtime *rt, int timeout_s, char **error);
/* The scheduler's placement hooks (brr_sched_opts.place/unplace; ud = the runtime). */
bool brr_runtime_place(void *ud, size_t node, const char **where);
void brr_runtime_unplace(void *ud, size_t node);
/* Wrap `inner` (the task of `node`) so that the images it needs from other engines are
 * moved to its engine first; returns `inner` itself when nothing must move. */
brr_task *brr_runtime_move_wrap(brr_runtime *rt, size_t node, brr_task *inner);
/* The images moved onto other engines are removed at the end: track them again after the
 * kept images were untracked. */
void brr_runtime_track_moved(brr_runtime *rt);
void brr_runtime_engines_free(brr_runtime *rt);

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
/* Before a run: remove, on the run's engines (each one of `engines:`) and in its temp root,
 * what brr processes of this host that are gone left behind; each removal is a log line on
 * the bus. */
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
