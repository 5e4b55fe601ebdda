/* Security scans of pushed images (spec §3 `security-scan`, §8, §9.8), as buildrunner runs
 * them: the global settings (defaults, files, --security-scan-* flags) with a push entry's
 * `security-scan` laid over them; trivy run in `<docker-registry>/aquasec/trivy:<version>`
 * with a shell as entrypoint, a run directory (config.yaml in, results.json out), the cache
 * directory and the engine's socket mounted; `trivy --config ... image -f json -o ...` by
 * exec; the JSON parsed into {max_score, vulnerabilities} for artifacts.json, and the
 * threshold checked. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "brr/tasks.h"

/* ---- settings ------------------------------------------------------------------------------ */

static const char *str_field(const brr_value *m, const char *k) { return brr_val_cstr(brr_val_get(m, k)); }

static bool num_field(const brr_value *v, double *out) {
  if (!v) return false;
  if (v->type == BRR_VAL_INT) { *out = (double)v->u.i; return true; }
  if (v->type == BRR_VAL_FLOAT) { *out = v->u.f; return true; }
  if (v->type == BRR_VAL_STR) {
    char *end;
    double x = strtod(v->u.s.ptr, &end);
    if (end != v->u.s.ptr && *end == '\0') { *out = x; return true; }
  }
  return false;
}

/* Lay a layer's non-null fields over `s`. A push's `config` is merged key by key over the
 * global one (buildrunner's merge_scan_config); `cache-dir` is global only. */
static void apply_layer(brr_arena *a, brr_scan_settings *s, const brr_value *l, bool global) {
  if (!l || l->type != BRR_VAL_MAP) return;
  const brr_value *v;
  if ((v = brr_val_get(l, "enabled")) && v->type == BRR_VAL_BOOL) s->enabled = v->u.b;
  if (str_field(l, "scanner")) s->scanner = str_field(l, "scanner");
  if (str_field(l, "version")) s->version = str_field(l, "version");
  if (global && str_field(l, "cache-dir")) s->cache_dir = str_field(l, "cache-dir");
  if ((v = brr_val_get(l, "config")) && v->type == BRR_VAL_MAP) {
    if (global) {
      /* the global model's dict field: the (merged) files' map replaces the default one */
      s->config = (brr_value *)v;
    } else {
      for (size_t i = 0; i < v->u.map.n; i++)
        brr_val_map_set(a, s->config, v->u.map.v[i].key, v->u.map.v[i].val, NULL);
    }
  }
  double x;
  if ((v = brr_val_get(l, "max-score-threshold")) && v->type != BRR_VAL_NULL && num_field(v, &x)) {
    s->has_threshold = true;
    s->threshold = x;
  }
}

void brr_scan_settings_resolve(brr_arena *a, const brr_value *global, const brr_value *push,
                               brr_scan_settings *out) {
  memset(out, 0, sizeof *out);
  out->scanner = "trivy";
  out->version = BRR_SCAN_TRIVY_VERSION;
  out->config = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, out->config, "timeout", brr_val_str(a, BRR_MARK_NONE, "20m"));
  brr_val_map_sets(a, out->config, "exit-code", brr_val_int(a, BRR_MARK_NONE, 0));
  apply_layer(a, out, global, true);
  if (push && push->type == BRR_VAL_MAP) {
    /* a copy: the push's config is merged into this push's map only */
    brr_value *c = brr_val_map(a, BRR_MARK_NONE);
    for (size_t i = 0; i < out->config->u.map.n; i++)
      brr_val_map_set(a, c, out->config->u.map.v[i].key, out->config->u.map.v[i].val, NULL);
    out->config = c;
    apply_layer(a, out, push, false);
  }
  /* buildrunner: `if max_score_threshold:` — 0 and 0.0 check nothing */
  if (out->has_threshold && out->threshold == 0) out->has_threshold = false;
}

/* ---- results ------------------------------------------------------------------------------- */

static brr_value *json_str_or_null(brr_arena *a, const cJSON *j) {
  return cJSON_IsString(j) ? brr_val_str(a, BRR_MARK_NONE, j->valuestring) : brr_val_null(a, BRR_MARK_NONE);
}

/* A Python number as buildrunner stores it: 9 stays an int, 9.8 a float. */
static brr_value *py_number(brr_arena *a, double x) {
  if (x == floor(x) && fabs(x) < 1e15) return brr_val_int(a, BRR_MARK_NONE, (int64_t)x);
  return brr_val_float(a, BRR_MARK_NONE, x);
}

int brr_scan_parse_trivy(brr_arena *a, const char *text, size_t len, const brr_scan_settings *s,
                         brr_value **result, double *max_score, char **error) {
  *result = NULL;
  *error = NULL;
  cJSON *root = cJSON_ParseWithLength(text, len);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    *error = brr_xstrdup("the results are not a JSON object");
    return BRR_EINVAL;
  }
  double max = 0;
  bool max_is_int = true;
  brr_value *vulns = brr_val_list(a, BRR_MARK_NONE);
  const cJSON *results = cJSON_GetObjectItemCaseSensitive(root, "Results"), *r;
  if (!cJSON_IsArray(results)) results = NULL;
  cJSON_ArrayForEach(r, results) {
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(r, "Vulnerabilities"), *v;
    if (!cJSON_IsArray(vs)) vs = NULL;
    cJSON_ArrayForEach(v, vs) {
      const cJSON *cvss = cJSON_GetObjectItemCaseSensitive(v, "CVSS");
      const cJSON *nvd = cJSON_GetObjectItemCaseSensitive(cvss, "nvd");
      const cJSON *score = cJSON_GetObjectItemCaseSensitive(nvd, "V3Score");
      brr_value *e = brr_val_map(a, BRR_MARK_NONE);
      brr_val_map_sets(a, e, "cvss_v3_score", cJSON_IsNumber(score) ? py_number(a, score->valuedouble)
                                                                   : brr_val_null(a, BRR_MARK_NONE));
      brr_val_map_sets(a, e, "severity", json_str_or_null(a, cJSON_GetObjectItemCaseSensitive(v, "Severity")));
      brr_val_map_sets(a, e, "vulnerability_id", json_str_or_null(a, cJSON_GetObjectItemCaseSensitive(v, "VulnerabilityID")));
      brr_val_map_sets(a, e, "pkg_name", json_str_or_null(a, cJSON_GetObjectItemCaseSensitive(v, "PkgName")));
      brr_val_map_sets(a, e, "installed_version", json_str_or_null(a, cJSON_GetObjectItemCaseSensitive(v, "InstalledVersion")));
      brr_val_map_sets(a, e, "primary_url", json_str_or_null(a, cJSON_GetObjectItemCaseSensitive(v, "PrimaryURL")));
      brr_val_list_push(a, vulns, e);
      if (cJSON_IsNumber(score) && score->valuedouble != 0 && score->valuedouble > max) {
        max = score->valuedouble;
        max_is_int = brr_val_is(py_number(a, max), BRR_VAL_INT);
      }
    }
  }
  cJSON_Delete(root);
  brr_value *res = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, res, "max_score", max_is_int ? brr_val_int(a, BRR_MARK_NONE, (int64_t)max) : brr_val_float(a, BRR_MARK_NONE, max));
  brr_val_map_sets(a, res, "vulnerabilities", vulns);
  *result = res;
  *max_score = max;
  if (s->has_threshold && max >= s->threshold) {
    brr_buf b = BRR_BUF_INIT, t = BRR_BUF_INIT;
    brr_val_pystr(brr_val_get(res, "max_score"), &b);
    brr_val_pystr(py_number(a, s->threshold), &t);
    /* buildrunner's float field prints a whole threshold as 7.0 */
    if (s->threshold == floor(s->threshold)) brr_buf_puts(&t, ".0");
    *error = brr_xasprintf("Max vulnerability score (%s) is above the configured threshold (%s)", brr_buf_cstr(&b),
                           brr_buf_cstr(&t));
    brr_buf_free(&b);
    brr_buf_free(&t);
    return BRR_EFAILED;
  }
  return 0;
}

/* ---- the scanner container ----------------------------------------------------------------- */

#define RUN_DIR "/trivy"
#define DEFAULT_CACHE "/root/.cache/trivy"

struct brr_scan {
  brr_runtime *rt;
  brr_task *task;            /* output and log lines */
  brr_scan_settings s;
  char *ref;                 /* "repo:tag" to scan */
  char *image;               /* the scanner image */
  char *run_dir;             /* host directory mounted at /trivy */
  char *container;
  brr_engine_req *req;
  int stage;
  int status;                /* the result to report once the container is gone */
  char *error;
  brr_value *result;
  double max_score;
  bool cancelled, reported;
  brr_scan_done_cb done;
  void *ud;
};

static void step(brr_scan *sc);

static void fail(brr_scan *sc, int status, char *error /* heap, taken */) {
  if (!sc->status) {
    sc->status = status;
    sc->error = error;
  } else {
    free(error);
  }
}

static void finish(brr_scan *sc) {
  if (sc->run_dir) {
    brr_rm_rf(sc->run_dir);
    free(sc->run_dir);
    sc->run_dir = NULL;
  }
  int status = sc->cancelled && sc->status ? BRR_ECANCELED : sc->status;
  sc->done(sc->ud, status, sc->error, sc->status == 0 || status == BRR_EFAILED ? sc->result : NULL, sc->max_score);
  free(sc->error);
  free(sc->ref);
  free(sc->image);
  free(sc->container);
  free(sc);
}

static void on_output(void *ud, int stream, const char *data, size_t len) {
  brr_scan *sc = ud;
  brr_task_output(sc->task, "trivy", stream == BRR_ENGINE_STDERR ? 2 : 1, data, len);
}

enum { S_TARGET, S_TARGET_PULL, S_INSPECT, S_PULL, S_CREATE, S_START, S_VERSION, S_SCAN, S_CHOWN, S_REMOVE, S_DONE };

static void answered(void *ud, const brr_engine_result *r) {
  brr_scan *sc = ud;
  sc->req = NULL;
  int stage = sc->stage;
  switch (stage) {
  case S_TARGET:
    /* a platform image buildx pushed without keeping it in the engine: pull it, as
     * buildrunner pulls every per-platform ref before scanning */
    sc->stage = r->status == BRR_ENOENT ? S_TARGET_PULL : S_INSPECT;
    break;
  case S_TARGET_PULL:
    if (r->status) {
      fail(sc, r->status, brr_xasprintf("cannot pull %s to scan it: %s", sc->ref, r->error ? r->error : "failed"));
      sc->stage = S_DONE;
    } else {
      /* brr put it there: the run's cleanup removes it */
      brr_engine_track(brr_rt_task_engine(sc->rt, sc->task), BRR_ENGINE_IMAGE, sc->ref);
      sc->stage = S_INSPECT;
    }
    break;
  case S_INSPECT:
    sc->stage = r->status == 0 ? S_CREATE : S_PULL;
    break;
  case S_PULL:
    if (r->status) {
      fail(sc, r->status, brr_xasprintf("cannot pull the scanner image %s: %s", sc->image, r->error ? r->error : "failed"));
      sc->stage = S_DONE;
    } else {
      sc->stage = S_CREATE;
    }
    break;
  case S_CREATE:
    if (r->status) {
      fail(sc, r->status, brr_xasprintf("cannot create the scanner container: %s", r->error ? r->error : "failed"));
      sc->stage = S_DONE;
    } else {
      sc->container = brr_xstrdup(r->id);
      sc->stage = S_START;
    }
    break;
  case S_START:
    if (r->status) {
      fail(sc, r->status, brr_xasprintf("cannot start the scanner container: %s", r->error ? r->error : "failed"));
      sc->stage = S_REMOVE;
    } else {
      sc->stage = S_VERSION;
    }
    break;
  case S_VERSION:
    sc->stage = r->status ? S_REMOVE : S_SCAN;
    if (r->status) fail(sc, r->status, brr_xasprintf("trivy --version: %s", r->error ? r->error : "failed"));
    break;
  case S_SCAN:
    if (r->status || r->exit_code != 0)
      fail(sc, r->status ? r->status : BRR_EFAILED,
           brr_xasprintf("Could not scan %s with trivy, see errors above", sc->ref));
    sc->stage = S_CHOWN;
    break;
  case S_CHOWN:
    if (r->status || r->exit_code != 0)
      brr_task_log(sc->task, BRR_LOG_ERROR, "Error running trivy--unable to change ownership");
    sc->stage = S_REMOVE;
    break;
  case S_REMOVE:
    free(sc->container);
    sc->container = NULL;
    sc->stage = S_DONE;
    break;
  }
  if (sc->cancelled && sc->stage != S_DONE && sc->stage != S_REMOVE) {
    fail(sc, BRR_ECANCELED, NULL);
    sc->stage = sc->container ? S_REMOVE : S_DONE;
  }
  step(sc);
}

static void read_results(brr_scan *sc) {
  char *path = brr_path_join(sc->run_dir, "results.json");
  brr_buf text = BRR_BUF_INIT;
  int rc = brr_read_file(path, &text);
  if (rc != 0) {
    fail(sc, BRR_EFAILED, brr_xasprintf("Results file %s from trivy for %s does not exist, check for errors above", path, sc->ref));
  } else {
    char *error = NULL;
    rc = brr_scan_parse_trivy(sc->rt->arena, text.data ? text.data : "", text.len, &sc->s, &sc->result, &sc->max_score, &error);
    if (rc == BRR_EINVAL)
      fail(sc, BRR_EFAILED, brr_xasprintf("Could not read results file %s from trivy for %s: %s", path, sc->ref, error));
    else if (rc != 0)
      fail(sc, rc, brr_xstrdup(error));
    else if (sc->s.has_threshold)
      brr_task_log(sc->task, BRR_LOG_INFO, "Max vulnerability score (%g) is less than the configured threshold (%g)",
                   sc->max_score, sc->s.threshold);
    else
      brr_task_log(sc->task, BRR_LOG_INFO, "Max vulnerability score is %g, no threshold is configured", sc->max_score);
    free(error);
  }
  brr_buf_free(&text);
  free(path);
}

static void exec_sh(brr_scan *sc, const char *cmd) {
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  brr_engine_exec_spec spec = {0};
  spec.cmd = argv;
  spec.on_output = on_output;
  brr_task_output(sc->task, "trivy", 1, "+ ", 2);
  brr_task_output(sc->task, "trivy", 1, cmd, strlen(cmd));
  brr_task_output(sc->task, "trivy", 1, "\n", 1);
  sc->req = brr_engine_exec_run(brr_rt_task_engine(sc->rt, sc->task), sc->container, &spec, answered, sc);
}

static void step(brr_scan *sc) {
  brr_engine *e = brr_rt_task_engine(sc->rt, sc->task);
  switch (sc->stage) {
  case S_TARGET:
    sc->req = brr_engine_image_inspect(e, sc->ref, answered, sc);
    return;
  case S_TARGET_PULL:
    brr_task_log(sc->task, BRR_LOG_INFO, "Pulling %s to scan it", sc->ref);
    sc->req = brr_engine_image_pull(e, sc->ref, NULL, NULL, NULL, answered, sc);
    return;
  case S_INSPECT:
    sc->req = brr_engine_image_inspect(e, sc->image, answered, sc);
    return;
  case S_PULL:
    brr_task_log(sc->task, BRR_LOG_INFO, "Pulling the scanner image %s", sc->image);
    sc->req = brr_engine_image_pull(e, sc->image, NULL, NULL, NULL, answered, sc);
    return;
  case S_CREATE: {
    char *b_run = brr_xasprintf("%s:%s", sc->run_dir, RUN_DIR);
    const char *cache_in = str_field(sc->s.config, "cache-dir");
    if (!cache_in) cache_in = DEFAULT_CACHE;
    char *b_cache = brr_xasprintf("%s:%s", sc->s.cache_dir, cache_in);
    const char *binds[] = {b_run, b_cache, "/var/run/docker.sock:/var/run/docker.sock", NULL};
    const char *entry[] = {"/bin/sh", NULL};
    brr_engine_container_spec spec = {0};
    spec.image = sc->image;
    spec.entrypoint = entry;
    spec.tty = true;
    spec.open_stdin = true;
    spec.binds = binds;
    sc->req = brr_engine_container_create(e, &spec, answered, sc);
    free(b_run);
    free(b_cache);
    return;
  }
  case S_START:
    sc->req = brr_engine_container_start(e, sc->container, answered, sc);
    return;
  case S_VERSION:
    exec_sh(sc, "trivy --version");
    return;
  case S_SCAN: {
    char *cmd = brr_xasprintf("trivy --config " RUN_DIR "/config.yaml image -f json -o " RUN_DIR "/results.json %s", sc->ref);
    exec_sh(sc, cmd);
    free(cmd);
    return;
  }
  case S_CHOWN: {
    /* before the results are read: the files are the scanner's user's otherwise */
    if (!sc->status) read_results(sc);
    char *cmd = brr_xasprintf("chown -R %d:%d " RUN_DIR, (int)getuid(), (int)getgid());
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    brr_engine_exec_spec spec = {0};
    spec.cmd = argv;
    spec.on_output = on_output;
    sc->req = brr_engine_exec_run(e, sc->container, &spec, answered, sc);
    free(cmd);
    return;
  }
  case S_REMOVE:
    sc->req = brr_engine_container_remove(e, sc->container, true, true, answered, sc);
    return;
  default:
    finish(sc);
  }
}

static int prepare(brr_scan *sc) {
  brr_runtime *rt = sc->rt;
  char *tmpl = brr_path_join(rt->temp_dir, "trivy-run.XXXXXX");
  if (!mkdtemp(tmpl)) {
    fail(sc, BRR_EIO, brr_xasprintf("cannot create a directory in %s: %s", rt->temp_dir, strerror(errno)));
    free(tmpl);
    return -1;
  }
  sc->run_dir = tmpl;
  /* the cache outlives the run, as buildrunner's: `cache-dir`, else <temp-dir>/trivy-cache */
  char *cache = sc->s.cache_dir ? brr_path_expanduser(sc->s.cache_dir)
                                : brr_path_join(rt->cfg->global.temp_dir ? rt->cfg->global.temp_dir : "/tmp", "trivy-cache");
  int rc = brr_mkdir_p(cache, 0755);
  sc->s.cache_dir = brr_arena_strdup(rt->arena, cache);
  free(cache);
  if (rc != 0) {
    fail(sc, BRR_EIO, brr_xasprintf("cannot create the scanner cache %s: %s", sc->s.cache_dir, brr_strerror(rc)));
    return -1;
  }
  /* config.yaml: JSON is YAML; the cache path inside the container first, as buildrunner */
  brr_value *conf = brr_val_map(rt->arena, BRR_MARK_NONE);
  const char *cache_in = str_field(sc->s.config, "cache-dir");
  brr_val_map_sets(rt->arena, conf, "cache-dir", brr_val_str(rt->arena, BRR_MARK_NONE, cache_in ? cache_in : DEFAULT_CACHE));
  for (size_t i = 0; i < sc->s.config->u.map.n; i++)
    brr_val_map_set(rt->arena, conf, sc->s.config->u.map.v[i].key, sc->s.config->u.map.v[i].val, NULL);
  brr_buf text = BRR_BUF_INIT;
  brr_val_to_json(conf, 2, &text);
  brr_buf_putc(&text, '\n');
  char *path = brr_path_join(sc->run_dir, "config.yaml");
  rc = brr_write_file(path, text.data, text.len);
  brr_buf_free(&text);
  if (rc != 0) fail(sc, BRR_EIO, brr_xasprintf("cannot write %s: %s", path, brr_strerror(rc)));
  free(path);
  return rc ? -1 : 0;
}

static void start_failed(brr_scan *sc) { finish(sc); }

/* Whether the engine the task runs on is on this host (placement keeps scanning steps there
 * when `engines:` lists one; a single engine of another host cannot scan). */
static bool engine_local(const brr_runtime *rt, const brr_task *task) {
  if (!rt->engines || !rt->n_engines) return true;
  int k = rt->node_engine ? rt->node_engine[task->node] : -1;
  return rt->engines[k >= 0 ? k : 0].local;
}

brr_scan *brr_scan_start(brr_runtime *rt, brr_task *task, const brr_scan_settings *s, const char *ref,
                         brr_scan_done_cb done, void *ud) {
  brr_scan *sc = brr_xcalloc(1, sizeof *sc);
  sc->rt = rt;
  sc->task = task;
  sc->s = *s;
  sc->ref = brr_xstrdup(ref);
  sc->image = brr_xasprintf("%s/aquasec/trivy:%s", rt->cfg->global.docker_registry, s->version);
  sc->done = done;
  sc->ud = ud;
  brr_task_log(task, BRR_LOG_INFO, "Scanning %s for security issues using %s", ref, s->scanner);
  if (strcmp(s->scanner, "trivy") != 0) {
    fail(sc, BRR_EFAILED, brr_xasprintf("Unsupported scanner %s", s->scanner));
    start_failed(sc);
    return NULL;
  }
  if (!engine_local(rt, task)) {
    /* the scanner container mounts directories of this host (its config, report, cache) */
    fail(sc, BRR_EFAILED, brr_xasprintf("security-scan needs a Docker engine on this machine (the "
                                        "scanner bind-mounts directories of this host); the engine is %s",
                                        brr_engine_host(brr_rt_task_engine(rt, task))));
    start_failed(sc);
    return NULL;
  }
  if (prepare(sc) != 0) {
    start_failed(sc);
    return NULL;
  }
  sc->stage = S_TARGET;
  step(sc);
  return sc;
}

void brr_scan_cancel(brr_scan *sc) {
  if (!sc || sc->cancelled) return;
  sc->cancelled = true;
  /* the container is removed on the way out: cancel only what waits on the engine now */
  if (sc->req && sc->stage != S_REMOVE) brr_engine_cancel(sc->req);
}
