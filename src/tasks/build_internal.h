/* Private to the build tasks: build.c (BUILD), platform_build.c (PLATFORM_BUILD),
 * manifest.c (MANIFEST), push.c (PUSH), build_registry.c (the build registry), build_state.c
 * (what they share in one run) and build_plan.c (decisions that need no Docker). */
#ifndef BRR_TASKS_BUILD_INTERNAL_H
#define BRR_TASKS_BUILD_INTERNAL_H

#include <uv.h>

#include "brr/registry.h"
#include "brr/tasks.h"

/* ---- shared state of one run (build_state.c) ----------------------------------------------- */

/* One platform of a multi-platform step, once its node has pushed it. */
typedef struct brr_mp_platform {
  char *platform;       /* as configured ("linux/arm64/v8") */
  char *ref;            /* "<build registry>/buildrunner-mp-<host>:<uuid>-<platform, / as ->" */
  char *digest;         /* the pushed manifest's digest */
} brr_mp_platform;

typedef struct brr_mp_step {
  char *uuid;           /* names this step's images in the build registry */
  brr_mp_platform *v;   /* the platforms pushed so far, in completion order */
  size_t n, cap;
  char *list_ref;       /* the index the manifest node put, "<repo>:<uuid>", or NULL */
  char *list_digest;
} brr_mp_step;

typedef struct brr_breg_wait brr_breg_wait;

typedef struct brr_build_state {
  brr_runtime *rt;
  brr_registry *reg;            /* registry client (credentials, manifests, copies) */
  brr_mp_step *mp;              /* per config step */
  /* the build registry (build_registry.c) */
  int breg;                     /* 0 not asked, 1 starting, 2 ready, 3 failed */
  char *breg_host;              /* "127.0.0.1:<port>" or the configured registry */
  char *breg_container;         /* the temporary registry container, or NULL */
  char *breg_error;
  brr_breg_wait *breg_waiters;
  brr_engine_req *breg_req;
  brr_registry_req *breg_ping;
  void (*breg_done)(brr_runtime *rt);   /* finish: called once the container is gone */
  bool breg_finishing;                  /* the run is ending: late answers are ignored */
  size_t breg_users;                    /* nodes still to use it; at 0 it is removed early */
  bool breg_removing;
  bool breg_early;                      /* the port was chosen by brr: breg_host is known
                                         * before the container is up (builds start with it) */
  /* the Docker Hub rate-limit check */
  bool ratelimit_checked;
  brr_registry_req *ratelimit;
  size_t ratelimit_pulls;
  char *ratelimit_ref;
} brr_build_state;

/* The run's build state, made on first use (it installs the runtime's build_state hooks). */
brr_build_state *brr_build_state_get(brr_runtime *rt);
/* The step's multi-platform record (its uuid made on first use). */
brr_mp_step *brr_build_mp_step(brr_runtime *rt, size_t step);
/* Record a pushed platform of `step`. */
void brr_build_mp_add(brr_runtime *rt, size_t step, const char *platform, const char *ref,
                      const char *digest);

/* ---- the build registry (build_registry.c) ------------------------------------------------- */

typedef void (*brr_breg_cb)(void *ud, int status, const char *host, const char *error);
/* Get the build registry's host: global `build-registry`, or a temporary registry container
 * started on first use. `cb` runs once, from the loop, never inside this call. */
brr_breg_wait *brr_build_registry_acquire(brr_runtime *rt, brr_breg_cb cb, void *ud);
/* Start the temporary registry now, with nobody waiting yet, when a node of the graph will
 * use it: the run's first node starts it, so it is up by the time a platform is built. */
void brr_build_registry_prestart(brr_runtime *rt);
/* The host the temporary registry will answer at, known before it is up when brr chose its
 * port (a local engine): a build may start with it, since buildx only reaches the registry
 * when it pushes. NULL when the host is known only once the registry is up. */
const char *brr_build_registry_early_host(brr_runtime *rt);
/* Stop waiting: `cb` will not run. */
void brr_build_registry_cancel(brr_breg_wait *w);
/* End of run: remove the temporary registry, then call done(rt). */
void brr_build_registry_finish(brr_runtime *rt, void (*done)(brr_runtime *rt));
/* A node that needed the build registry is done with it; after the last one (platform
 * builds, manifests, pushes of multi-platform steps) the temporary registry is removed
 * without waiting for the end of the run. */
void brr_build_registry_release(brr_runtime *rt);
/* Whether node `i` of the graph uses the build registry. */
bool brr_build_registry_user(const brr_graph *g, size_t i);
/* Free the waiters not told yet (runtime teardown). */
void brr_build_registry_forget_waiters(brr_runtime *rt);
/* The repository of this run's per-platform images in the registry at `host`. Heap. */
char *brr_build_registry_repo(const char *host);

/* ---- decisions without Docker (build_plan.c) ------------------------------------------------- */

/* "K=V" build args: the step's `buildargs` (values as Python's str()), then DOCKER_REGISTRY
 * (the global docker-registry; it replaces a step value of the same name). NULL-terminated. */
char **brr_build_args(const brr_build *b, const char *docker_registry);
/* The Dockerfile text of the step's build as written (inline text, or the file's contents), or
 * NULL when it comes from elsewhere (an inject, `<path>/Dockerfile`). Heap. */
char *brr_build_dockerfile_text(const brr_build *b);
/* Spec §5 pull default: `pull` when set; else false when the Dockerfile text starts with
 * "FROM <rest of line>" and <rest> is in the committed set; true otherwise.
 * --local-images makes it false. */
bool brr_build_should_pull(const brr_runtime *rt, const brr_build *b);
/* A push or commit spec as commit.c tags it: the repository lower-cased with a ":tag" in it
 * split off and appended, the tags sanitised (spec §8). */
typedef struct brr_spec_refs {
  char *repo;
  char **tags;     /* NULL-terminated */
  char **refs;     /* "repo:tag" per tag, NULL-terminated */
  size_t n;
} brr_spec_refs;
void brr_build_spec_refs(const brr_pushspec *ps, brr_spec_refs *out);
void brr_build_spec_refs_free(brr_spec_refs *r);
/* buildx --cache-from/--cache-to values of a `cache_from`/`cache_to` value (a string, a map
 * as k=v,k=v, or a list of either). NULL-terminated heap strings (empty list for NULL). */
char **brr_build_cache_specs(const brr_value *v);
/* The cache settings for `builder` ("default" when NULL): the step's when it has them, else
 * the global docker-build-cache when its `builders` list is empty or names the builder. */
void brr_build_cache_for(const brr_config *cfg, const brr_build *b, const char *builder,
                         char ***from, char ***to);
/* "linux/arm64/v8" -> "linux-arm64-v8". Heap. */
char *brr_build_platform_tag(const char *platform);
/* Index of the platform that stands for the native one (spec §7: the last whose tag suffix
 * starts with linux-amd on x86_64 / linux-arm on aarch64; else the first). */
size_t brr_build_native_index(const char *const *platforms, size_t n, const char *native);
/* Rewrite the FROM lines of `text` whose image is a key of `from` (normalised references) to
 * that key's value. Returns the new text (heap), or NULL when no line changed. */
typedef struct brr_from_map {
  const char *image;    /* brr_image_ref_normalize()d reference */
  const char *replace;  /* what the FROM gets instead */
} brr_from_map;
char *brr_build_rewrite_from(const char *text, const brr_build *b, const char *docker_registry,
                             const brr_from_map *map, size_t n);
/* The Docker Hub images the selected steps would pull (FROM lines, cache_from, run and service
 * images), minus those the run itself makes; only when docker-registry is Docker Hub. */
char **brr_build_hub_pulls(const brr_config *cfg, const brr_graph *g, size_t *n);
/* One line for a diagnostic: "file:line:col: message". Heap. */
char *brr_build_diag_line(const brr_diag *d);

/* ---- context preparation in a worker thread (build_plan.c) ------------------------------------- */

typedef struct brr_build_prep {
  uv_work_t work;
  /* in */
  const brr_build *build;
  const char *build_dir, *step, *temp_dir;
  char *tar_path;            /* legacy: write the context tar here; NULL: a buildx directory */
  /* out */
  int rc;
  brr_diags d;
  brr_build_inputs in;
  char *dockerfile_name;     /* legacy: the API's dockerfile parameter */
  brr_build_context ctx;     /* buildx */
  bool running, cancelled;
  void (*done)(struct brr_build_prep *p);
  void *ud;
} brr_build_prep;
/* Resolve the inputs and write the context off the loop; p->done runs on the loop. */
void brr_build_prep_start(uv_loop_t *loop, brr_build_prep *p);
/* Ask a queued preparation not to run (done still follows). */
void brr_build_prep_cancel(brr_build_prep *p);
/* Free what the preparation made (the tar, the context directory, the inputs). */
void brr_build_prep_free(brr_build_prep *p);

/* ---- the task base the build node kinds share (build_task.c) ------------------------------------ */

/* What a build-family task may be waiting for; cancel and abort stop whichever is set. The
 * task base (sched.h) comes first: its timer serves backoff waits, its end the report. */
typedef struct brr_btask {
  brr_task base;             /* first: brr_task_new makes the block, the scheduler frees it */
  brr_task *task;            /* &base */
  brr_runtime *rt;
  size_t node, step;
  const brr_node *n;
  bool stopping;             /* brr_btask_cancel, _stop or _abort ran: the work in flight stops */
  int stop_status;           /* brr_btask_stop: the failure to report once all stopped */
  char *stop_error;
  brr_engine_req *req;
  brr_buildx *bx;
  brr_build_prep prep;       /* .running while in the worker */
  brr_breg_wait *bw;
  brr_registry_req *rreq;
  void (*on_timer)(struct brr_btask *b);
} brr_btask;

/* Fill the base for `node` of the runtime's graph (b came from brr_task_new, zeroed). */
void brr_btask_init(brr_btask *b, brr_runtime *rt, size_t node);
/* Enter the trace phase `phase` (a static string: "context", "pull", "build", "push", ...),
 * ending the one open before; NULL only ends it. brr_btask_finish ends the last one. */
void brr_btask_phase(brr_btask *b, const char *phase);
/* Begin: the step's results dir, the timer. False (and finished) when that failed. */
bool brr_btask_begin(brr_btask *b, uv_loop_t *loop);
/* End with `status` and a one-line reason (printf); brr_task_done follows on the loop. */
void brr_btask_finish(brr_btask *b, int status, const char *fmt, ...) BRR_PRINTF(3, 4);
/* End on a configuration error: the run exits 78; the diagnostic is logged in full. */
void brr_btask_config_error(brr_btask *b, const brr_diags *d);
/* Cancel whatever is in flight; its callback finishes the task (or finish now when nothing
 * will call back). The ops' cancel. */
void brr_btask_cancel(brr_btask *b);
/* Stop like a cancel, but end with `status` and `error` (a failure elsewhere, e.g. the build
 * registry, makes the work in flight pointless). */
void brr_btask_stop(brr_btask *b, int status, const char *error);
/* SIGKILL a buildx child without waiting, then finish. The ops' abort. */
void brr_btask_abort(brr_btask *b);
/* Wait `ms` on the timer, then b->on_timer(b). */
void brr_btask_after(brr_btask *b, uint64_t ms, void (*fn)(brr_btask *b));
/* Free what the btask owns besides the base (the kind's free calls it). */
void brr_btask_free(brr_btask *b);
/* Forward a line of output (a platform build's carry its platform as the source). */
void brr_btask_line(brr_btask *b, const char *source, int stream, const char *line, size_t len);

/* Options for `docker buildx build` of the step's build, less context, tag and platform. */
typedef struct brr_bx_args {
  char **buildargs, **cache_from, **cache_to, **secrets;
  char *metadata;
} brr_bx_args;
void brr_bx_args_make(brr_runtime *rt, const brr_build *b, const char *builder, const char *tag,
                      brr_bx_args *out, brr_buildx_opts *o);
void brr_bx_args_free(brr_bx_args *a);

#endif
