/* brr — the run node's private pieces: container plans made from the config (run_spec.c),
 * what all run nodes of one build share (run_shared.c: the /source tar built once, pulls
 * done once), making an image available (run_image.c), and the run task itself, whose stages
 * are spread over run.c, services.c and run_collect.c. Not a public header. */
#ifndef BRR_TASKS_RUN_INTERNAL_H
#define BRR_TASKS_RUN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/tasks.h"

/* Where /source and /artifacts are mounted, and where the engine socket appears inside. */
#define BRR_RUN_SOURCE_DIR "/source"
#define BRR_RUN_ARTIFACTS_DIR "/artifacts"
#define BRR_RUN_DOCKER_SOCK "/dockerdaemon/docker.sock"
#define BRR_RUN_DEFAULT_SHELL "/bin/sh"
/* Where an own process's artifact listing goes (/tmp/.<token>.list), read after it stopped. */
#define BRR_RUN_LIST_DIR "/tmp"

/* ---- NULL-terminated string vectors, as the engine's specs take them ------------------- */

typedef struct brr_run_strv {
  char **v;
  size_t n, cap;
  /* brr_run_strv_setenv only: the key of each entry (owned; NULL for brr_run_strv_add's),
   * and key -> index, so that layering n variables costs O(n), not O(n^2) */
  char **keys;
  brr_strmap index;
} brr_run_strv;

void brr_run_strv_add(brr_run_strv *s, const char *fmt, ...) BRR_PRINTF(2, 3);
/* Set "KEY=val" (a bare "KEY" when val is NULL), replacing an earlier KEY: Python dict
 * update order, which is how buildrunner layers container environments. */
void brr_run_strv_setenv(brr_run_strv *s, const char *key, const char *val);
/* The NULL-terminated list, or NULL when empty (the engine then leaves the key out). */
const char *const *brr_run_strv_get(const brr_run_strv *s);
void brr_run_strv_free(brr_run_strv *s);

/* ---- container plans (run_spec.c): everything decided from the config alone ------------- */

/* A shell provisioner: the script's bytes, PUT at /tmp/<name> and run. */
typedef struct brr_run_script {
  char *name;
  char *data;
  size_t len;
} brr_run_script;

typedef struct brr_run_plan {
  const brr_runlike *c;
  const char *service;      /* service name, or NULL for the run container */
  const char *shell;        /* the exec shell; NULL: no commands, the image's command runs */
  brr_run_strv env;         /* without the per-container names, which come at create time */
  brr_run_strv binds;       /* /artifacts, files, the engine socket */
  brr_run_strv ports;       /* published ports */
  brr_run_strv dns_search;
  brr_run_script *scripts;  /* shell provisioners, in config order */
  size_t n_scripts;
  int64_t memory;           /* bytes, 0: no limit */
} brr_run_plan;

/* Make the plan of the run container (`service` NULL; `container` its name) or of service
 * `service` of `step` (`container` NULL).
 * Configuration mistakes (a `files` entry outside the build dir or missing, a bad mem-limit,
 * a missing provisioner script, salt provisioners) are diagnostics at the key's mark with
 * BRR_ECONFIG; the plan is freed then. */
int brr_run_plan_make(const brr_runtime *rt, size_t step, const brr_runlike *c,
                      const char *service, const char *container, brr_run_plan *p,
                      brr_diags *d);
void brr_run_plan_free(brr_run_plan *p);

/* docker-py's parse_bytes for mem-limit: an int is bytes; a string is digits with an optional
 * unit b/k/m/g (a trailing "b" after a unit is allowed, "1.5g" too). 0 or BRR_EINVAL. */
int brr_run_mem_limit(const brr_value *v, int64_t *out);
/* Whether `label` of an image (its inspect document) is truthy the way buildrunner reads
 * labels: present, not "", "0" or "False". */
bool brr_run_label_truthy(const cJSON *image_inspect, const char *label);
/* The local file a `files` key names: a global local-files alias (a path, or literal text
 * from the master config, written under `temp_dir`), else a path inside the build dir that
 * exists. Heap string, or NULL with a configuration error at the key. */
char *brr_run_file_source(const brr_config *cfg, const char *temp_dir, const brr_str *key,
                          brr_diags *d);
/* The bind for a `files` entry: "<local>:<mountpoint>[:ro]" (":ro" unless it says :ro/:rw). */
char *brr_run_file_bind(const char *local, const char *mount);
/* Map a volumes_from entry "svc[:opt]" to "<container>[:opt]" given the services known so
 * far (names and container names, `n` of them). NULL when `svc` is not one of them. */
char *brr_run_volumes_from(const char *entry, const char *const *svc_names,
                           const char *const *containers, size_t n);

/* ---- shared by all run nodes of the build (run_shared.c) ---------------------------------- */

typedef void (*brr_run_source_cb)(void *ud, const char *path, const char *error);

/* A wait for the /source tar; embed it in the waiting task. */
typedef struct brr_run_waiter {
  brr_run_source_cb cb;
  void *ud;
  struct brr_run_waiter *next;
  bool waiting;
} brr_run_waiter;

/* Ask for the /source tar of this build: made once, on a libuv work thread, the first time
 * anyone asks; every later caller gets the same file (or the same error). `cb` runs from
 * the loop; when the tar is already there it runs inside this call. */
void brr_run_source_want(brr_runtime *rt, brr_run_waiter *w, brr_run_source_cb cb, void *ud);
/* Ask for the source image on engine `e`: the build dir under /source (the tar above, with
 * every name under "source/"), imported there once per build and removed by the engine's
 * cleanup. `cb` gets the image id; or NULL and an error; or NULL and NULL when the tree holds
 * a name an image layer reads as a deletion (".wh.*"): then PUT the plain tar. */
void brr_run_source_image_want(brr_runtime *rt, brr_engine *e, brr_run_waiter *w,
                               brr_run_source_cb cb, void *ud);
/* Stop waiting (a cancelled task): `cb` will not run. */
void brr_run_source_drop(brr_runtime *rt, brr_run_waiter *w);
/* Pulls done in this build, by reference and platform: a second pull of the same reference
 * would fetch nothing new, so it is skipped. */
bool brr_run_pulled(brr_runtime *rt, const char *ref, const char *platform);
void brr_run_mark_pulled(brr_runtime *rt, const char *ref, const char *platform);

/* ---- making an image available (run_image.c) ---------------------------------------------- */

/* status 0 with the image's inspect document, BRR_ENOENT (no such image: a configuration
 * error, as buildrunner's ImageNotFound), BRR_ECANCELED or another failure with `error`. */
typedef void (*brr_run_image_cb)(void *ud, int status, const char *error, const cJSON *inspect);

typedef struct brr_run_image {
  brr_runtime *rt;
  brr_task *task;           /* for log lines */
  char *ref, *platform;
  bool pull, pulled;
  brr_engine_req *req;
  bool cancelled;
  brr_run_image_cb cb;
  void *ud;
} brr_run_image;

/* Pull `ref` when `pull` (once per build), else only when it is not there; then inspect it.
 * `op` must stay valid until `cb`, which always runs later from the loop. */
void brr_run_image_start(brr_run_image *op, brr_runtime *rt, brr_task *t, const char *ref,
                         const char *platform, bool pull, brr_run_image_cb cb, void *ud);
void brr_run_image_cancel(brr_run_image *op);
bool brr_run_image_busy(const brr_run_image *op);

/* ---- the run task (run.c, services.c, run_collect.c) -------------------------------------- */

typedef struct brr_run_svc {
  struct brr_run_task *r;
  const brr_service *cfg;
  brr_run_plan plan;
  char *name;               /* container name: <step id>-<service> */
  char *source;             /* output source: service-<service> */
  char *id;
  char *image;              /* what the container runs (a built image id, or the reference) */
  char *ip;                 /* address on the step network */
  bool systemd, cgroup2;
  brr_build_inputs inputs;  /* a built service's context, resolved by the plan */
  bool built;
  brr_engine_req *stream;   /* its output: attach (image command) or exec (cmd) */
} brr_run_svc;

/* One container removal of the teardown. `by_label`: a `containers:` entry, which names a
 * container or, when none has that name, a label (buildrunner's fallback). */
typedef struct brr_run_rm {
  struct brr_run_task *r;
  char *ref;
  bool by_label;
  brr_engine_req *req;
  struct brr_run_rm *next;
} brr_run_rm;

/* A run step's ssh agent (run_agent.c). */
typedef struct brr_run_agent {
  char *dir;                /* in the run's temp dir; bind-mounted at /ssh-agent */
  char *sock;               /* <dir>/agent */
  struct brr_spawn *proc;   /* ssh-agent -D, or NULL */
} brr_run_agent;

/* Start the agent for `run`'s ssh-keys and load the keys (blocking: a few ms per key).
 * Unknown aliases and a remote engine (the one `step` runs on) are configuration errors
 * (BRR_ECONFIG); a key that does not load fails (BRR_EFAILED). Nothing is left on failure. */
int brr_run_agent_start(brr_runtime *rt, size_t step, const brr_run *run, brr_run_agent *a,
                        brr_diags *d);
/* Kill the agent and remove its directory; safe to call twice. */
void brr_run_agent_stop(brr_run_agent *a);

typedef struct brr_run_task {
  brr_task base;            /* first: the task base (sched.h): its timer, flags, phase, end */
  brr_task *task;           /* &base */
  brr_runtime *rt;
  size_t step;
  const brr_step *s;
  const brr_run *run;
  const char *platform;     /* pull platform (run.platform or --platform), or NULL */
  int stage;

  /* the run container */
  brr_run_plan plan;
  brr_run_agent agent;      /* ssh-keys */
  char *image;
  bool pull, local_image;
  char *name, *id;
  bool systemd, cgroup2;
  bool own;                 /* the command(s) are the container's own process (run.c) */
  char *token;              /* own commands through the driver: its marker token (run.c) */
  char *driver;             /* ...and its script */
  char *image_user;         /* the image's Config.User, or NULL */
  brr_buf line[2];          /* ...the stdout and stderr line being read for markers */
  brr_buf held[2];          /* ...lines of a stream past a marker the other has not shown */
  size_t past[2];           /* ...markers seen on each stream */
  int64_t marker_code;      /* ...the exit code of the first of a pair of markers */
  size_t n_cmds;            /* cmd and cmds */
  bool marker_failed;       /* a marker reported the failing command */
  int64_t wait_code;        /* the own process's exit code, from wait */
  const char *source_tar;   /* path of the /source tar (owned by the shared state) */
  const char *source_image; /* ...or the source image (id, owned by the shared state) */
  char *src_id;             /* the source container made from it: its /source volume is
                               the run container's (volumes_from), removed with it */
  bool source_put;          /* /source is filled: the tar is in, or the source container's
                               volume holds it */
  bool deps_put;            /* remote engine: the other steps' artifacts are in /artifacts */
  bool deps_busy;           /* ...their tar is being written on a work thread */

  /* services (services.c) */
  brr_run_svc *svcs;
  size_t n_svcs, svc_i, svc_sub;
  char *network;            /* step network name, with services */
  char *volume;             /* step /source volume, with services */
  bool network_made, volume_made;
  char *build_ctx;          /* context tar of a service build in progress */

  /* commands */
  size_t cmd_i, script_i;
  bool ran;                 /* the commands (or the image's command) ran to the end */
  int64_t exit_code;        /* of the failing command or container, 0 when all passed */
  char *failed_what;        /* what failed: 'command "x"' or "container" */

  /* caches and artifacts (run_collect.c) */
  brr_cache_plan caches;
  bool caches_planned;
  brr_cache_restore *restores;
  size_t n_restores, cache_i;
  brr_cache_lock lock;
  bool lock_held;
  unsigned lock_attempt;
  uint64_t lock_deadline;
  struct brr_run_probe *probe;  /* a wait_for connection attempt in flight */
  size_t wait_i;
  uint64_t wait_deadline, wait_started;
  brr_cache_writer *writer;
  char *probe_at;           /* own process: the part of a restore path asked about */
  brr_buf dirs_tar;         /* ...and the directories missing under it */
  void (*restore_then)(struct brr_run_task *r);  /* restores before the start: what follows them */
  bool restored;            /* ...done */
  brr_buf listing;          /* output of the artifact listing script */
  brr_buf listing_tar;      /* the own process's listing file, as GET archive gives it */
  brr_artifact_match *matches;
  size_t n_matches, match_i;
  brr_artifact_sink *sink;
  char *lister;             /* lister container (image command steps only), or NULL */

  /* what is in flight: at most one step of the sequence (two while /source goes in as the
   * container starts), plus output streams */
  brr_engine_req *req, *req2;
  int join_n, join_status;
  char *join_error;
  bool started;
  brr_engine_req *attach;   /* output of the image's own command (steps without commands) */
  bool attach_open;         /* the engine answered the attach: start was sent */
  bool exited;              /* that command ended; its output may still be arriving */
  brr_run_image img;
  brr_run_waiter src_wait;
  int n_streams;
  struct brr_run_rm *removals;  /* container removals of the teardown, all at once */
  int n_removing;

  /* outcome */
  int status;               /* first failure, or 0 */
  char *error;
  bool config_error;
  char *anon_volume;        /* the run container's anonymous /source volume (from inspect) */
  bool gone;                /* someone else removed the run container mid-run */
  struct brr_run_gone *gone_check;  /* finding out whether it was removed (run.c) */
} brr_run_task;

/* The sequence. Each stage starts one operation whose callback calls brr_run_next (or
 * brr_run_fail); stages with nothing to do call brr_run_next at once. */
enum {
  BRR_RUN_ST_PLAN,
  BRR_RUN_ST_SOURCE,
  BRR_RUN_ST_NETWORK,
  BRR_RUN_ST_SERVICES,
  BRR_RUN_ST_IMAGE,
  BRR_RUN_ST_CREATE,
  BRR_RUN_ST_PUT_SOURCE,
  BRR_RUN_ST_START,
  BRR_RUN_ST_PROVISION,
  BRR_RUN_ST_CACHE_RESTORE,
  BRR_RUN_ST_COMMANDS,
  BRR_RUN_ST_CACHE_SAVE,
  BRR_RUN_ST_LIST,
  BRR_RUN_ST_STOP,
  BRR_RUN_ST_FETCH,
  BRR_RUN_ST_COMMIT,
  BRR_RUN_ST_TEARDOWN,      /* from here on everything runs whatever happened */
  BRR_RUN_ST_NETWORK_DOWN,
  BRR_RUN_ST_END,
  BRR_RUN_ST_COUNT
};

/* Go to the next stage (to the teardown when cancelled). */
void brr_run_next(brr_run_task *r);
/* Record the first failure and go to the teardown. `config`: exit code 78. */
void brr_run_fail(brr_run_task *r, int status, bool config, const char *fmt, ...) BRR_PRINTF(4, 5);
/* A failure of something run in the run container (an exec that ended badly): when the
 * container turns out to be removed or stopped from outside, the step reports that instead. */
void brr_run_fail_container(brr_run_task *r, const char *fmt, ...) BRR_PRINTF(2, 3);
/* The common callback prologue: an engine failure fails the task (a cancel goes to the
 * teardown); returns true when the caller should go on. */
bool brr_run_ok(brr_run_task *r, const brr_engine_result *res);
/* An output stream of the step started (attach, exec): counted until it reports. */
void brr_run_stream_begin(brr_run_task *r);
void brr_run_stream_end(brr_run_task *r);
/* Output of the run container (source NULL) or a service, to the scheduler's line splitter. */
void brr_run_output(void *ud, int stream, const char *data, size_t len);

/* The task base's timer (lock retries, wait_for polls): made on first use, closed by the
 * task's end before its report. */
uv_timer_t *brr_run_timer(brr_run_task *r);
/* Drop a wait_for connection attempt in flight (cancel); true when there was one. */
bool brr_run_probe_drop(brr_run_task *r);

/* Queue the removal of a container in the teardown (services.c uses it for its own). */
void brr_run_remove_container(brr_run_task *r, const char *ref, bool by_label);

/* services.c */
int brr_run_services_plan(brr_run_task *r, brr_diags *d);
void brr_run_stage_network(brr_run_task *r);
void brr_run_stage_services(brr_run_task *r);
void brr_run_stage_network_down(brr_run_task *r);
/* The IP of started service `name`, or NULL. */
const char *brr_run_service_ip(const brr_run_task *r, const char *name);
/* Container env, dns, extra hosts and volumes_from shared by the run and service containers. */
void brr_run_resolve_hosts(const brr_run_task *r, const brr_runlike *c, brr_run_strv *dns,
                           brr_run_strv *extra_hosts);
int brr_run_map_volumes_from(const brr_run_task *r, const brr_runlike *c, size_t n_known,
                             brr_run_strv *out, brr_diags *d);
/* Provisioner scripts of `p` in `container` (output to `source`), then `done`. */
void brr_run_provision(brr_run_task *r, const char *container, const char *source,
                       const brr_run_plan *p, size_t *index, void (*done)(brr_run_task *r));

/* run_collect.c */
int brr_run_caches_plan(brr_run_task *r, brr_diags *d);
void brr_run_stage_cache_restore(brr_run_task *r);
/* An own process's caches go into the created container before it starts, then `then`. */
void brr_run_restore_before_start(brr_run_task *r, void (*then)(brr_run_task *r));
/* Whether every cache path is absolute (what the archive API can make before the start). */
bool brr_run_own_caches_ok(const brr_run_task *r);
void brr_run_stage_cache_save(brr_run_task *r);

/* Whether the step's engine is on this host (its containers may bind-mount brr's paths). */
bool brr_run_engine_local(const brr_runtime *rt, size_t step);
/* On an engine of another host, where the results dir cannot be bind-mounted: put the
 * artifacts of the finished steps this node waits for into the created (not yet started)
 * run container at /artifacts, as the bind would show them (run_deps.c), then call `then`. */
void brr_run_deps_put(brr_run_task *r, void (*then)(brr_run_task *r));
void brr_run_stage_list(brr_run_task *r);
void brr_run_stage_fetch(brr_run_task *r);
void brr_run_collect_free(brr_run_task *r);

#endif
