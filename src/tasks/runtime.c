/* The runtime of one run: what the tasks share, the task factory, and the end of the run
 * (artifacts.json, teardown, removal of every Docker object but the build's products). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "brr/tasks.h"

/* ---- small helpers ---- */

void brr_runtime_set(char **field, const char *val) {
  char *copy = val ? brr_xstrdup(val) : NULL;
  free(*field);
  *field = copy;
}

/* ---- construction ---- */

int brr_runtime_new(uv_loop_t *loop, const brr_config *cfg, const brr_graph *g,
                    const brr_runtime_opts *opts, brr_bus *bus, brr_runtime **out,
                    brr_diags *d) {
  *out = NULL;
  brr_runtime *rt = brr_xcalloc(1, sizeof *rt);
  rt->loop = loop;
  rt->cfg = cfg;
  rt->graph = g;
  rt->opts = *opts;
  rt->bus = bus;
  rt->arena = brr_arena_new();
  rt->artifacts = brr_val_map(rt->arena, BRR_MARK_NONE);
  /* buildrunner's artifacts.json always starts with the build log (spec §9.8) */
  brr_value *log = brr_val_map(rt->arena, BRR_MARK_NONE);
  brr_val_map_sets(rt->arena, log, "type", brr_val_str(rt->arena, BRR_MARK_NONE, "log"));
  brr_val_map_sets(rt->arena, rt->artifacts, "build.log", log);
  rt->steps = brr_xcalloc(cfg->n_steps ? cfg->n_steps : 1, sizeof(brr_step_state));
  rt->native_platform = brr_native_platform();
  rt->started_ms = brr_wall_ms();

  const char *tmp_root = cfg->global.temp_dir && *cfg->global.temp_dir ? cfg->global.temp_dir : "/tmp";
  /* named by its owner, so a later run can tell one a killed brr left (brr_runtime_sweep_temp) */
  char *tmpl = brr_xasprintf("%s/%s%ld.%llu.XXXXXX", tmp_root, BRR_RUNTIME_TEMP_PREFIX, (long)getpid(),
                             brr_proc_start_time((long)getpid()));
  if (brr_mkdir_p(tmp_root, 0755) != 0 || !mkdtemp(tmpl)) {
    brr_diag_error(d, BRR_MARK_NONE, NULL, "cannot make a temporary directory under %s: %s",
                   tmp_root, strerror(errno));
    free(tmpl);
    brr_runtime_free(rt);
    return BRR_EIO;
  }
  rt->temp_dir = tmpl;

  /* every object the run creates carries the user's --container-labels too */
  brr_engine_opts eo = {0};
  eo.host = opts->docker_host;
  eo.endpoint = opts->endpoint;
  if (opts->endpoint && opts->endpoint->context) rt->engine_context = brr_xstrdup(opts->endpoint->context);
  eo.timeout_s = opts->docker_timeout;
  eo.labels = (const char *const *)opts->container_labels;
  /* the engine the docker CLI would use, or each of `engines:` (engines.c) */
  int erc = brr_runtime_engines_new(rt, &eo, d);
  if (erc != 0) {
    brr_runtime_free(rt);
    return erc;
  }
  if (opts->incremental) brr_incr_runtime_start(rt);
  *out = rt;
  return 0;
}

int brr_runtime_step_begin(brr_runtime *rt, size_t step, brr_diags *d) {
  brr_step_state *st = &rt->steps[step];
  if (st->begun) return 0;
  st->begun = true;
  st->id = brr_uuid4();
  char *name = brr_results_name(rt->cfg->steps[step].name.s);
  st->results_dir = brr_path_join(rt->cfg->results_dir, name);
  int rc = rt->opts.results ? brr_results_mkdir(rt->opts.results, name) : brr_mkdir_p(st->results_dir, 0755);
  free(name);
  if (rc != 0) {
    brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL, "cannot create %s: %s", st->results_dir,
                                 brr_strerror(rc));
    g->exit_code = BRR_EXIT_RESULTS;
    return BRR_EIO;
  }
  return 0;
}

/* ---- the committed set and kept images ---- */

void brr_runtime_commit_add(brr_runtime *rt, const char *ref) {
  if (brr_strmap_get(&rt->committed, ref, NULL)) return;
  brr_strmap_put(&rt->committed, brr_arena_strdup(rt->arena, ref), 1);
}

bool brr_runtime_committed(const brr_runtime *rt, const char *ref) {
  return ref && brr_strmap_get(&rt->committed, ref, NULL);
}

void brr_runtime_keep_image(brr_runtime *rt, const char *image) {
  for (size_t i = 0; i < rt->n_keep; i++)
    if (!strcmp(rt->keep[i], image)) return;
  BRR_VEC_PUSH(rt->keep, rt->n_keep, rt->cap_keep, brr_xstrdup(image));
}

void brr_runtime_generated(brr_runtime *rt, const char *id) {
  if (!id || !*id) return;
  for (size_t i = 0; i < rt->n_generated; i++)
    if (!strcmp(rt->generated[i], id)) return;
  BRR_VEC_PUSH(rt->generated, rt->n_generated, rt->cap_generated, brr_xstrdup(id));
}

int brr_runtime_sweep_temp(const char *tmp_root, void (*cb)(void *ud, const char *path), void *ud) {
  DIR *d = opendir(tmp_root && *tmp_root ? tmp_root : "/tmp");
  if (!d) return 0;
  int n = 0;
  char host[256];
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    long pid = 0;
    unsigned long long start = 0;
    int used = 0;
    if (!brr_startswith(de->d_name, BRR_RUNTIME_TEMP_PREFIX) ||
        sscanf(de->d_name + strlen(BRR_RUNTIME_TEMP_PREFIX), "%ld.%llu.%n", &pid, &start, &used) != 2 ||
        used == 0)
      continue;
    /* the same rule as for engine objects: that process (pid and start time) is gone */
    char *owner = brr_xasprintf("%s:%ld:%llu", host, pid, start);
    bool gone = brr_owner_check(owner) == BRR_OWNER_GONE;
    free(owner);
    if (!gone) continue;
    char *path = brr_path_join(tmp_root && *tmp_root ? tmp_root : "/tmp", de->d_name);
    if (brr_rm_rf(path) == 0) {
      n++;
      if (cb) cb(ud, path);
    }
    free(path);
  }
  closedir(d);
  return n;
}

bool brr_runtime_should_pull(const brr_runtime *rt, brr_tri pull, const char *image) {
  if (rt->opts.local_images) return false;
  if (pull != BRR_UNSET) return pull == BRR_TRUE;
  return !brr_runtime_committed(rt, image);
}

/* ---- the factory ---- */

static int make_task(brr_runtime *rt, const brr_graph *g, size_t node, brr_task **out) {
  const brr_node *n = &g->nodes[node];
  *out = NULL;
  /* once per run, when the first node starts: it runs beside the build */
  brr_build_begin(rt);
  if (rt->incr_state && brr_incr_task_new(rt, node, out) == 0) return 0;
  switch (n->kind) {
  case BRR_NODE_COMMIT:
    return brr_task_commit_new(rt, node, out);
  case BRR_NODE_RUN:
    return brr_task_run_new(rt, node, out);
  case BRR_NODE_POST_BUILD:
    return brr_task_post_build_new(rt, node, out);
  case BRR_NODE_BUILD:
    return brr_task_build_new(rt, node, out);
  case BRR_NODE_PLATFORM_BUILD:
    return brr_task_platform_build_new(rt, node, out);
  case BRR_NODE_MANIFEST:
    return brr_task_manifest_new(rt, node, out);
  case BRR_NODE_PUSH:
    return brr_task_push_new(rt, node, out);
  case BRR_NODE_PYPI_PUSH:
    return brr_task_pypi_push_new(rt, node, out);
  case BRR_NODE_REMOTE:
    return brr_task_remote_new(rt, node, out);
  default:
    return BRR_EINVAL;  /* every kind the graph makes is handled above */
  }
}

/* The task of a node placed on an engine, preceded by the moves of the images it needs
 * there (engines.c). */
static int make_task(brr_runtime *rt, const brr_graph *g, size_t node, brr_task **out);

int brr_runtime_factory(void *ud, const brr_graph *g, size_t node, brr_task **out) {
  brr_runtime *rt = ud;
  int rc = make_task(rt, g, node, out);
  if (rc == 0 && *out) *out = brr_runtime_move_wrap(rt, node, *out);
  return rc;
}

/* ---- the end of the run ---- */

/* The generated images and the tags given for the user stay (buildrunner keeps them). */
static void keep_images(brr_runtime *rt) {
  for (size_t k = 0; k < rt->n_engines; k++) {
    brr_engine *e = rt->engines[k].engine;
    for (size_t i = 0; i < rt->n_keep; i++) brr_engine_untrack(e, BRR_ENGINE_IMAGE, rt->keep[i]);
    for (size_t i = 0; i < rt->n_generated; i++) brr_engine_untrack(e, BRR_ENGINE_IMAGE, rt->generated[i]);
  }
  /* the copies brr moved to other engines are its own: they go */
  brr_runtime_track_moved(rt);
}

void brr_runtime_abort(void *ud) {
  brr_runtime *rt = ud;
  rt->aborted = true;
  /* the hosts' temp dirs first: they need no engine */
  brr_remote_abort(rt);
  if (!rt->engine) return;
  /* no time to tell a generated image from a cache hit: every one stays */
  keep_images(rt);
  int left = 0;
  for (size_t k = 0; k < rt->n_engines; k++)
    left += brr_engine_cleanup_sync_within(rt->engines[k].engine, BRR_RUNTIME_ABORT_BUDGET_MS);
  /* what docker-driver builders on other engines kept there */
  for (size_t i = 0; i < rt->n_builders; i++)
    if (rt->builders[i].engine) left += brr_engine_cleanup_sync_within(rt->builders[i].engine, BRR_RUNTIME_ABORT_BUDGET_MS);
  if (left > 0)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "ending at once: %d object%s of this run had not "
                "answered their removal yet (the engine finishes the removals it received)",
                left, left == 1 ? "" : "s");
  /* the process leaves next: no ssh of an ssh:// engine may outlive it */
  for (size_t k = 0; k < rt->n_engines; k++) brr_engine_close_transport(rt->engines[k].engine);
  for (size_t i = 0; i < rt->n_builders; i++)
    if (rt->builders[i].engine) brr_engine_close_transport(rt->builders[i].engine);
}

int brr_runtime_write_artifacts(brr_runtime *rt, brr_diags *d) {
  if (rt->artifacts_written) return 0;
  rt->artifacts_written = true;
  if (rt->artifacts->u.map.n == 0) return 0;
  brr_incr_order_artifacts(rt);
  char *path = brr_path_join(rt->cfg->results_dir, "artifacts.json");
  int rc = brr_artifacts_json_write(path, rt->artifacts, d);
  free(path);
  return rc;
}

static void write_artifacts(brr_runtime *rt) {
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_write_artifacts(rt, &d) != 0)
    for (size_t i = 0; i < d.n; i++) brr_bus_log(rt->bus, BRR_LOG_ERROR, NULL, "%s", d.v[i].msg);
  brr_diags_free(&d);
}

typedef struct finish_state {
  bool done;
  int status;
  size_t cleanups;   /* engine cleanups not answered yet */
} finish_state;

static void on_cleanup(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  finish_state *fs = rt->finish_state;
  if (res->status != 0 && res->status != BRR_ECANCELED)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "cleanup: %s", res->error ? res->error : "failed");
  if (res->status != 0 && fs->status == 0) fs->status = res->status;
  if (--fs->cleanups > 0) return;   /* every engine's cleanup answers once */
  fs->done = true;
  /* the CLI's signal handles keep the loop alive: without this, uv_run(ONCE) could go on to
   * block in its poll phase after this callback ran */
  uv_stop(rt->loop);
}

/* RFC 3339 time as the engine writes it ("2026-12-06T05:07:07.18987615Z") in ms since the
 * epoch, or -1. */
static int64_t rfc3339_ms(const char *s) {
  struct tm tm = {0};
  int ms = 0, n = 0;
  if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
    return -1;
  const char *p = s + n;
  if (*p == '.') {
    int digits = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
      if (digits++ < 3) ms = ms * 10 + (*p - '0');
    for (; digits < 3; digits++) ms *= 10;
  }
  if (*p != 'Z') return -1;   /* the engine writes UTC */
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  return t == (time_t)-1 ? -1 : (int64_t)t * 1000 + ms;
}

typedef struct generated_check {
  brr_runtime *rt;
  char *id;
} generated_check;

static void start_removal(brr_runtime *rt);

/* The engines of docker-driver builders first (what they kept of this run's platform builds),
 * one after the other, then brr's own engines, all at once. */
static void builder_cleaned(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  const brr_builder_info *b = &rt->builders[rt->builders_cleaned - 1];
  if (res->status != 0 && res->status != BRR_ECANCELED)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "cleanup on the engine of builder %s: %s", b->name,
                res->error ? res->error : "failed");
  start_removal(rt);
}

static void start_removal(brr_runtime *rt) {
  while (rt->builders_cleaned < rt->n_builders) {
    brr_builder_info *b = &rt->builders[rt->builders_cleaned++];
    if (!b->engine) continue;
    brr_engine_cleanup(b->engine, builder_cleaned, rt);
    return;
  }
  finish_state *fs = rt->finish_state;
  fs->cleanups = rt->n_engines;
  for (size_t k = 0; k < rt->n_engines; k++) brr_engine_cleanup(rt->engines[k].engine, on_cleanup, rt);
}

/* --cleanup-images: an image made before the run began (a cache hit, a base image) stays,
 * and so do the names brr gave it (removing its last name would remove it). */
static void generated_inspected(void *ud, const brr_engine_result *res) {
  generated_check *g = ud;
  brr_runtime *rt = g->rt;
  const cJSON *created = res->status ? NULL : cJSON_GetObjectItemCaseSensitive(res->json, "Created");
  int64_t ms = cJSON_IsString(created) ? rfc3339_ms(created->valuestring) : -1;
  if (ms >= 0 && ms >= rt->started_ms) brr_engine_track(rt->engine, BRR_ENGINE_IMAGE, g->id);
  else brr_engine_untrack(rt->engine, BRR_ENGINE_IMAGE, g->id);
  free(g->id);
  free(g);
  if (--rt->finish_pending == 0) start_removal(rt);
}

static void check_generated(brr_runtime *rt, const char *ref) {
  generated_check *g = brr_xcalloc(1, sizeof *g);
  g->rt = rt;
  g->id = brr_xstrdup(ref);
  rt->finish_pending++;
  brr_engine_image_inspect(rt->engine, g->id, generated_inspected, g);
}

static void start_engine_cleanup(brr_runtime *rt) {
  if (!rt->opts.cleanup_images) {
    keep_images(rt);
    start_removal(rt);
    return;
  }
  /* the generated ids, and the names given for commit and push entries */
  rt->finish_pending = 1;
  for (size_t i = 0; i < rt->n_generated; i++) check_generated(rt, rt->generated[i]);
  for (size_t i = 0; i < rt->n_keep; i++)
    if (!brr_startswith(rt->keep[i], "sha256:")) check_generated(rt, rt->keep[i]);
  if (--rt->finish_pending == 0) start_removal(rt);
}

static void on_state_finished(brr_runtime *rt) {
  if (--rt->finish_pending > 0) return;
  if (rt->aborted) {
    /* the run ended at once: the last-resort cleanup already sent every removal, and a
     * second pass would only wait for the engine to finish them */
    finish_state *fs = rt->finish_state;
    fs->done = true;
    uv_stop(rt->loop);
    return;
  }
  start_engine_cleanup(rt);
}

int brr_runtime_finish(brr_runtime *rt) {
  write_artifacts(rt);
  finish_state fs = {false, 0, 0};
  rt->finish_state = &fs;
  rt->finish_pending = 1;
  if (rt->run_state_finish) {
    rt->finish_pending++;
    rt->run_state_finish(rt, on_state_finished);
  }
  if (rt->build_state_finish) {
    rt->finish_pending++;
    rt->build_state_finish(rt, on_state_finished);
  }
  on_state_finished(rt);
  while (!fs.done && uv_run(rt->loop, UV_RUN_ONCE)) {
  }
  rt->finish_state = NULL;
  if (!fs.done) return BRR_EFAILED;
  return fs.status == 0 ? 0 : BRR_EFAILED;
}

void brr_runtime_free(brr_runtime *rt) {
  if (!rt) return;
  brr_incr_runtime_free(rt);
  if (rt->run_state_free) rt->run_state_free(rt);
  if (rt->build_state_free) rt->build_state_free(rt);
  brr_remote_forget(rt);
  if (rt->engines) {
    brr_runtime_engines_free(rt);
    /* the engines release their last memory on the next loop turn */
    uv_run(rt->loop, UV_RUN_NOWAIT);
  }
  for (size_t i = 0; i < (rt->cfg ? rt->cfg->n_steps : 0); i++) {
    brr_step_state *st = &rt->steps[i];
    free(st->id);
    free(st->results_dir);
    free(st->build_image);
    free(st->run_image);
    free(st->post_build_image);
  }
  free(rt->steps);
  free(rt->engine_context);
  for (size_t i = 0; i < rt->n_builders; i++) {
    brr_builder_info *b = &rt->builders[i];
    if (b->engine) {
      brr_engine_free(b->engine);
      uv_run(rt->loop, UV_RUN_NOWAIT);
    }
    free(b->name);
    free(b->driver);
    free(b->context);
  }
  free(rt->builders);
  for (size_t i = 0; i < rt->n_keep; i++) free(rt->keep[i]);
  free(rt->keep);
  for (size_t i = 0; i < rt->n_generated; i++) free(rt->generated[i]);
  free(rt->generated);
  brr_strmap_free(&rt->committed);
  if (rt->temp_dir) {
    brr_rm_rf(rt->temp_dir);
    free(rt->temp_dir);
  }
  brr_arena_free(rt->arena);
  free(rt);
}
