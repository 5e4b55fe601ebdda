/* Incremental runs (docs/incremental.md): before a run node starts, its inputs are hashed and
 * compared with the record of its last successful run in this build directory. The same
 * inputs restore that run's outputs (artifacts byte for byte from the content-addressed store,
 * its artifacts.json entries, its log) and the node ends `reused`; otherwise the real run task
 * runs in its place, and its outputs are recorded when it succeeds. The decision lives here, in
 * front of the node kind: run.c knows nothing of it. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "incr_internal.h"

typedef struct incr_task {
  incr_wrap w;               /* the real run task in w.inner, once it is decided to run */
  char *image;
  brr_incr_record rec;       /* the matching record, while its committed image is looked for */
  char *committed;           /* that image's id */
  char *image_id;            /* the id of the image it runs, while its services' are looked for */
  size_t next_svc;
  brr_buf svc_ids;           /* "<service> <image id>\n" each */
} incr_task;

/* ---- the state of a run ---- */

bool brr__tasks_incr_skip_entry(void *ud, const char *rel, const struct stat *st) {
  (void)st;
  incr_rt *ir = ud;
  if (ir->results_base && !strcmp(rel, ir->results_base)) return true;
  /* brr's own state and store may sit in the build dir when XDG_CACHE_HOME points there:
   * they change with every run */
  if (ir->own_rel && !strcmp(rel, ir->own_rel)) return true;
  for (size_t i = 0; i < ir->n_ignore; i++)
    if (brr_buildignore_match(ir->ignore[i], rel)) return true;
  return false;
}

static void read_ignore(incr_rt *ir, const char *build_dir) {
  char *path = brr_path_join(build_dir, ".buildignore");
  brr_buf text = BRR_BUF_INIT;
  if (brr_read_file(path, &text) == 0) {
    size_t cap = 0;
    const char *p = brr_buf_cstr(&text), *end = p + text.len;
    while (p < end) {
      size_t len = strcspn(p, "\r\n");
      bool blank = true;
      for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\f' && p[i] != '\v') blank = false;
      if (!blank) {
        char *line = brr_xstrndup(p, len);
        BRR_VEC_PUSH(ir->ignore, ir->n_ignore, cap, line);
      }
      p += len;
      if (p < end && *p == '\r') p++;
      if (p < end && *p == '\n') p++;
    }
  }
  brr_buf_free(&text);
  free(path);
}

void brr_incr_runtime_start(brr_runtime *rt) {
  incr_rt *ir = brr_xcalloc(1, sizeof *ir);
  ir->rt = rt;
  const brr_config *cfg = rt->cfg;
  ir->state_dir = brr_incr_state_dir(cfg->build_dir);
  char *cache = brr_path_join(ir->state_dir, "hashcache");
  ir->cache = brr_hashcache_open(cache);
  free(cache);
  char *sdir = brr_store_default_dir();
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_store_open(sdir, INCR_STORE_LIMIT, &ir->store, &d) != 0)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "incremental: nothing is reused this run: %s",
                d.n ? d.v[0].msg : "the artifact store cannot be opened");
  brr_diags_free(&d);
  free(sdir);
  read_ignore(ir, cfg->build_dir);
  /* <cache>/brr/state/<key>: <cache>/brr is brr's own */
  char *state = brr_path_dirname(ir->state_dir);
  char *own = brr_path_dirname(state);
  char *real = brr_path_realpath(cfg->build_dir);
  const char *bd = real ? real : cfg->build_dir;
  if (brr_path_is_under(own, bd)) ir->own_rel = brr_xstrdup(own + strlen(bd) + 1);
  free(real);
  free(own);
  free(state);
  char *results = brr_path_normalize(cfg->results_dir);
  char *parent = brr_path_dirname(results);
  if (!strcmp(parent, cfg->build_dir))
    ir->results_base = brr_arena_strdup(rt->arena, brr_path_basename(results));
  free(parent);
  free(results);
  ir->nodes = brr_xcalloc(rt->graph->n_nodes ? rt->graph->n_nodes : 1, sizeof *ir->nodes);
  rt->incr_state = ir;
  brr_bus_subscribe(rt->bus, brr__tasks_incr_on_event, ir);
}

void brr_incr_runtime_free(brr_runtime *rt) {
  incr_rt *ir = rt->incr_state;
  if (!ir) return;
  brr_bus_unsubscribe(rt->bus, brr__tasks_incr_on_event, ir);
  int r = brr_hashcache_save(ir->cache);
  if (r < 0)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "incremental: cannot save the file-hash cache: %s",
                brr_strerror(r));
  brr_hashcache_free(ir->cache);
  brr_store_free(ir->store);
  for (size_t i = 0; i < rt->graph->n_nodes; i++) {
    brr_incr_inputs_free(&ir->nodes[i].inputs);
    brr_buf_free(&ir->nodes[i].log);
  }
  free(ir->nodes);
  for (size_t i = 0; i < ir->n_ignore; i++) free(ir->ignore[i]);
  free(ir->ignore);
  free(ir->own_rel);
  free(ir->state_dir);
  free(ir);
  rt->incr_state = NULL;
}

/* ---- which nodes may be reused ---- */

/* Whether a `files` entry is mounted read-write: the run may change it, which a reuse
 * would not do again. */
static bool rw_files(const brr_runlike *c) {
  for (size_t i = 0; i < c->files.n; i++) {
    const char *m = brr_val_cstr(c->files.v[i].val);
    if (m && brr_endswith(m, ":rw")) return true;
  }
  return false;
}

/* NULL when node `node` may be reused, else why not (for --graph and the log). Only run nodes
 * whose result brr can see whole: no caches (their archives change), ssh keys, containers of
 * others, read-write host files, services built each run, and no `incremental: false`.
 * Builds: brr__tasks_incr_build_not_reusable. */
const char *brr_incr_not_reusable(const brr_config *cfg, const brr_graph *g, size_t node) {
  const brr_node *n = &g->nodes[node];
  if (n->kind == BRR_NODE_BUILD || n->kind == BRR_NODE_PLATFORM_BUILD)
    return brr__tasks_incr_build_not_reusable(cfg, g, node);
  if (n->kind != BRR_NODE_RUN) return "only run steps and builds are reused";
  const brr_step *s = &cfg->steps[n->step];
  const brr_run *r = s->run;
  if (s->incremental == BRR_FALSE) return "incremental: false";
  if (!r) return "only run steps and builds are reused";
  if (r->c.caches.n) return "it has caches";
  if (r->ssh_keys.n) return "it uses ssh keys (what it reaches with them is not seen)";
  if (r->c.containers.n) return "it uses containers brr does not make";
  if (rw_files(&r->c)) return "it mounts a host file read-write";
  for (size_t i = 0; i < r->n_services; i++) {
    const brr_service *sv = &r->services[i];
    if (sv->build) return "a service is built each run";
    if (sv->c.caches.n) return "a service has caches";
    if (sv->c.containers.n) return "a service uses containers brr does not make";
    if (rw_files(&sv->c)) return "a service mounts a host file read-write";
  }
  return NULL;
}

/* ---- inputs ---- */

/* Identifiers each run makes anew (the build number defaults to the epoch seconds). */
static const char *const PER_RUN_ENV[] = {"BUILDRUNNER_STEP_ID", "BUILDRUNNER_BUILD_TIME",
                                          "BUILDRUNNER_BUILD_NUMBER", "BUILDRUNNER_BUILD_ID",
                                          "BUILDRUNNER_BUILD_DOCKER_TAG"};

static bool per_run_var(const char *kv) {
  for (size_t i = 0; i < BRR_ARRAY_LEN(PER_RUN_ENV); i++) {
    size_t n = strlen(PER_RUN_ENV[i]);
    if (!strncmp(kv, PER_RUN_ENV[i], n) && (kv[n] == '=' || !kv[n])) return true;
  }
  return false;
}

/* The environment the container gets and the scripts it runs, minus the per-run identifiers
 * (a fresh uuid and time each run would make every run differ). */
static int env_input(incr_task *t, brr_incr_inputs *in, brr_diags *d) {
  brr_run_plan plan;
  const brr_runlike *c = &t->w.rt->cfg->steps[t->w.step].run->c;
  if (brr_run_plan_make(t->w.rt, t->w.step, c, NULL, NULL, &plan, d) != 0) return BRR_ECONFIG;
  brr_hasher *h = brr_hasher_new();
  for (size_t i = 0; i < plan.env.n; i++)
    if (!per_run_var(plan.env.v[i])) brr_hasher_field(h, "env", plan.env.v[i]);
  for (size_t i = 0; i < plan.n_scripts; i++) {
    brr_hasher_field(h, "script", plan.scripts[i].name);
    brr_hasher_update(h, plan.scripts[i].data, plan.scripts[i].len);
  }
  brr_hasher_field(h, "shell", plan.shell);
  const brr_runtime_opts *o = &t->w.rt->opts;
  brr_hasher_field(h, "platform", o->platform);
  brr_hasher_field(h, "publish-ports", o->publish_ports ? "1" : "0");
  for (char **l = o->container_labels; l && *l; l++) brr_hasher_field(h, "label", *l);
  char hex[BRR_INCR_HEX];
  brr_hasher_final(h, hex);
  brr_incr_inputs_add_hex(in, "environment", hex);
  brr_run_plan_free(&plan);
  return 0;
}

static int source_input(incr_task *t, brr_incr_inputs *in, brr_diags *d) {
  incr_rt *ir = t->w.ir;
  const brr_step *s = &t->w.rt->cfg->steps[t->w.step];
  const char **globs = NULL;
  if (s->inputs.n) {
    globs = brr_xcalloc(s->inputs.n, sizeof *globs);
    for (size_t i = 0; i < s->inputs.n; i++) globs[i] = s->inputs.v[i].s;
  } else if (ir->have_full) {
    brr_incr_inputs_add_hex(in, "source", ir->full_hash);
    return 0;
  }
  brr_tree_opts o = {.skip = brr__tasks_incr_skip_entry, .skip_ud = ir, .inputs = globs, .n_inputs = s->inputs.n};
  char hex[BRR_INCR_HEX];
  int rc = brr_incr_tree_hash(t->w.rt->cfg->build_dir, &o, ir->cache, hex, NULL, d);
  free(globs);
  if (rc < 0) return rc;
  if (!s->inputs.n) {
    memcpy(ir->full_hash, hex, sizeof hex);
    ir->have_full = true;
  }
  brr_incr_inputs_add_hex(in, s->inputs.n ? "source (inputs:)" : "source", hex);
  return 0;
}

/* The outputs of the steps this node waits for, as they are now in the results dir. */
static int upstream_input(incr_task *t, brr_incr_inputs *in, brr_diags *d) {
  const brr_graph *g = t->w.rt->graph;
  const brr_node *n = &g->nodes[t->w.base.node];
  brr_hasher *h = brr_hasher_new();
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n->n_in; i++) {
    const brr_node *from = &g->nodes[g->edges[n->in[i]].from];
    if (from->step == BRR_NO_STEP || from->step == t->w.step) continue;
    const char *dir = t->w.rt->steps[from->step].results_dir;
    struct stat st;
    if (!dir || stat(dir, &st) != 0) continue;
    char hex[BRR_INCR_HEX];
    rc = brr_incr_tree_hash(dir, NULL, t->w.ir->cache, hex, NULL, d);
    brr_hasher_field(h, from->id, hex);
  }
  char hex[BRR_INCR_HEX];
  brr_hasher_final(h, hex);
  if (rc == 0) brr_incr_inputs_add_hex(in, "artifacts of other steps", hex);
  return rc;
}

/* The content of one host file or directory a `files` entry mounts. */
static int host_file_hash(incr_task *t, const brr_kv *kv, brr_hasher *h, brr_diags *d) {
  brr_runtime *rt = t->w.rt;
  brr_hasher_field(h, "file", kv->key.s);
  brr_hasher_field(h, "mount", brr_val_cstr(kv->val));
  char *src = brr_run_file_source(rt->cfg, rt->temp_dir, &kv->key, d);
  if (!src) return BRR_ECONFIG;
  struct stat st;
  char hex[BRR_INCR_HEX];
  int rc = stat(src, &st) == 0 ? 0 : -errno;
  if (rc == 0 && S_ISDIR(st.st_mode)) rc = brr_incr_tree_hash(src, NULL, t->w.ir->cache, hex, NULL, d);
  else if (rc == 0) rc = brr_hashcache_file(t->w.ir->cache, src, &st, hex);
  if (rc < 0 && !d->n) brr_diag_error(d, kv->key.mark, NULL, "cannot read %s: %s", src, brr_strerror(rc));
  brr_hasher_field(h, "content", rc == 0 ? hex : "");
  free(src);
  return rc;
}

/* The host files it and its services mount (read-only: a read-write one is never reused),
 * by content. Only steps that have some get the input. */
static int files_input(incr_task *t, brr_incr_inputs *in, brr_diags *d) {
  const brr_run *r = t->w.rt->cfg->steps[t->w.step].run;
  size_t n = r->c.files.n;
  for (size_t i = 0; i < r->n_services; i++) n += r->services[i].c.files.n;
  if (!n) return 0;
  brr_hasher *h = brr_hasher_new();
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < r->c.files.n; i++) rc = host_file_hash(t, &r->c.files.v[i], h, d);
  for (size_t k = 0; rc == 0 && k < r->n_services; k++) {
    const brr_runlike *c = &r->services[k].c;
    brr_hasher_field(h, "service", r->services[k].name.s);
    for (size_t i = 0; rc == 0 && i < c->files.n; i++) rc = host_file_hash(t, &c->files.v[i], h, d);
  }
  char hex[BRR_INCR_HEX];
  brr_hasher_final(h, hex);
  if (rc == 0) brr_incr_inputs_add_hex(in, "host files", hex);
  return rc;
}

/* What is known before anything runs: the config, the environment, the source. */
static int inputs_static(incr_task *t, brr_incr_inputs *in, brr_diags *d) {
  const brr_step *s = &t->w.rt->cfg->steps[t->w.step];
  brr_buf json = BRR_BUF_INIT;
  brr_val_to_json(s->node, 0, &json);
  brr_incr_inputs_add(in, "step config", brr_buf_cstr(&json));
  brr_buf_free(&json);
  int rc = env_input(t, in, d);
  if (rc == 0) rc = source_input(t, in, d);
  if (rc == 0) rc = files_input(t, in, d);
  return rc;
}

static int inputs_sync(incr_task *t, brr_incr_inputs *in, brr_diags *d) {
  int rc = inputs_static(t, in, d);
  if (rc == 0) rc = upstream_input(t, in, d);
  return rc;
}

int brr__tasks_incr_record_load(incr_rt *ir, size_t node, brr_incr_record *out) {
  char *path = brr_incr_record_path(ir->state_dir, ir->rt->graph->nodes[node].id);
  int r = brr_incr_record_read(path, out);
  free(path);
  return r;
}

/* ---- restoring ---- */

void brr__tasks_incr_replay_log(brr_task *t, const char *log) {
  const char *p = log;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    const char *tab = memchr(p, '\t', len);
    if (tab && len >= 1) {
      int stream = p[0] == '2' ? 2 : 1;
      char *source = tab > p + 1 ? brr_xstrndup(p + 1, (size_t)(tab - p - 1)) : NULL;
      size_t tl = len - (size_t)(tab + 1 - p);
      char *line = brr_xasprintf("%.*s\n", (int)tl, tab + 1);
      brr_task_output(t, source, stream, line, tl + 1);
      free(line);
      free(source);
    }
    p += len;
    if (*p == '\n') p++;
  }
}

bool brr__tasks_incr_outputs_in_store(incr_rt *ir, const brr_incr_record *rec) {
  cJSON *out = rec->outputs ? cJSON_Parse(rec->outputs) : NULL;
  bool ok = cJSON_IsObject(out);
  const cJSON *it, *files = ok ? cJSON_GetObjectItemCaseSensitive(out, "files") : NULL;
  cJSON_ArrayForEach(it, files) {
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(it, "object");
    if (cJSON_IsString(obj) && !brr_store_has(ir->store, obj->valuestring)) ok = false;
  }
  cJSON_Delete(out);
  return ok;
}

/* Put back what the record says: files of the step's results dir, byte for byte; its
 * artifacts.json entries; its log. Any object missing (evicted) means "run it". */
static int restore(incr_task *t, const brr_incr_record *rec, brr_diags *d) {
  brr_runtime *rt = t->w.rt;
  incr_rt *ir = t->w.ir;
  int rc = brr_runtime_step_begin(rt, t->w.step, d);
  if (rc != 0) return rc;
  cJSON *out = rec->outputs ? cJSON_Parse(rec->outputs) : NULL;
  if (!cJSON_IsObject(out)) {
    cJSON_Delete(out);
    return BRR_ENOENT;
  }
  const char *dir = rt->steps[t->w.step].results_dir;
  const cJSON *it;
  const cJSON *files = cJSON_GetObjectItemCaseSensitive(out, "files");
  /* every object first: a half-restored step is never left behind as if it were whole */
  if (!brr__tasks_incr_outputs_in_store(ir, rec)) {
    cJSON_Delete(out);
    return BRR_ENOENT;
  }
  cJSON_ArrayForEach(it, files) {
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(it, "object");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(it, "mode");
    const cJSON *link = cJSON_GetObjectItemCaseSensitive(it, "link");
    if (!cJSON_IsString(path) || strstr(path->valuestring, "..")) continue;
    char *dest = brr_path_join(dir, path->valuestring);
    char *parent = brr_path_dirname(dest);
    rc = brr_mkdir_p(parent, 0755);
    free(parent);
    if (rc == 0 && cJSON_IsString(obj)) {
      rc = brr_store_get(ir->store, obj->valuestring, dest,
                         cJSON_IsNumber(mode) ? (unsigned)mode->valueint : 0644, d);
    } else if (rc == 0 && cJSON_IsString(link)) {
      unlink(dest);
      if (symlink(link->valuestring, dest) != 0) rc = -errno;
    } else if (rc == 0) {
      rc = brr_mkdir_p(dest, 0755);
    }
    free(dest);
    if (rc != 0) break;
  }
  const cJSON *aj = cJSON_GetObjectItemCaseSensitive(out, "artifacts_json");
  if (rc == 0 && cJSON_IsObject(aj)) {
    cJSON_ArrayForEach(it, aj) {
      char *text = cJSON_PrintUnformatted(it);
      brr_value *v = brr_val_from_json(rt->arena, text, strlen(text), "record", d);
      free(text);
      if (v) brr_val_map_sets(rt->arena, rt->artifacts, brr_arena_strdup(rt->arena, it->string), v);
    }
  }
  const cJSON *log = cJSON_GetObjectItemCaseSensitive(out, "log");
  if (rc == 0 && cJSON_IsString(log)) {
    char *tmp = brr_xasprintf("%s/incr-log.XXXXXX", rt->temp_dir);
    int fd = mkstemp(tmp);
    if (fd >= 0) {
      close(fd);
      brr_buf text = BRR_BUF_INIT;
      if (brr_store_get(ir->store, log->valuestring, tmp, 0600, NULL) == 0 &&
          brr_read_file(tmp, &text) == 0)
        brr__tasks_incr_replay_log(&t->w.base, brr_buf_cstr(&text));
      brr_buf_free(&text);
      unlink(tmp);
    }
    free(tmp);
  }
  cJSON_Delete(out);
  return rc;
}


/* ---- --graph --incremental ---- */

static const char *predict_node(brr_runtime *rt, brr_graph *g, size_t node) {
  brr_node *n = &g->nodes[node];
  const char *never = brr_incr_not_reusable(rt->cfg, g, node);
  if (never) return brr_arena_printf(g->arena, "never reused: %s", never);
  incr_rt *ir = rt->incr_state;
  if (!ir->store) return "runs: the artifact store cannot be opened";
  if (n->kind == BRR_NODE_BUILD) return brr__tasks_incr_build_predict(rt, g, node);
  incr_task t = {.w = {.rt = rt, .ir = ir, .step = n->step}};
  t.w.base.node = node;
  brr_incr_record rec;
  if (brr__tasks_incr_record_load(ir, node, &rec) != 0) return "runs: no earlier successful run";
  brr_incr_inputs now = {0};
  brr_diags d = BRR_DIAGS_INIT;
  const char *why = NULL;
  if (inputs_static(&t, &now, &d) != 0) why = "runs: its inputs cannot be read";
  const char *changed = why ? NULL : brr_incr_changed_input(&rec, &now);
  if (changed) why = brr_arena_printf(g->arena, "runs: %s changed", changed);
  /* the results of the steps it waits for are the recorded ones only if those are reused */
  for (size_t i = 0; !why && i < n->n_in; i++) {
    const brr_node *from = &g->nodes[g->edges[n->in[i]].from];
    /* the image its own build makes is the same only if that build is reused */
    if (from->kind == BRR_NODE_BUILD && !from->incr_reused)
      why = brr_arena_printf(g->arena, "runs if the image of %s, which runs, changes", from->id);
    if (from->step == BRR_NO_STEP || from->step == n->step || from->kind != BRR_NODE_RUN) continue;
    if (!from->incr_reused)
      why = brr_arena_printf(g->arena, "runs if the results of %s, which runs, change", from->id);
  }
  if (!why && !brr__tasks_incr_outputs_in_store(ir, &rec)) why = "runs: its outputs are no longer in the artifact store";
  brr_incr_inputs_free(&now);
  brr_incr_record_free(&rec);
  brr_diags_free(&d);
  if (why) return why;
  n->incr_reused = true;
  return "reused, if its image is the same (--graph does not ask the engine)";
}

void brr_incr_predict(brr_runtime *rt, brr_graph *g) {
  if (!rt->incr_state) return;
  for (size_t k = 0; k < g->n_nodes; k++) {
    size_t i = g->order[k];
    g->nodes[i].incr_note = predict_node(rt, g, i);
  }
}

/* ---- the task ---- */

void brr__tasks_incr_wrap_init(incr_wrap *w, const brr_task_ops *ops, brr_runtime *rt, size_t node) {
  w->base.ops = ops;
  w->base.impl = w;
  w->rt = rt;
  w->ir = rt->incr_state;
  w->step = rt->graph->nodes[node].step;
}

void brr__tasks_incr_wrap_run(incr_wrap *w, brr__tasks_incr_make_fn make, const char *what,
                              int no_task_status) {
  brr_task *inner = NULL;
  int rc = make(w->rt, w->base.node, &inner);
  if (rc != 0 || !inner) {
    char msg[64];
    snprintf(msg, sizeof msg, "the %s task could not be made", what);
    int st = rc ? rc : no_task_status;
    brr_task_done(&w->base, st, st ? msg : NULL);
    return;
  }
  w->inner = inner;
  rc = brr_task_hand_over(&w->base, inner, w->loop);
  if (rc != 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "the %s task did not start", what);
    brr_task_done(&w->base, rc, msg);
  }
}

bool brr__tasks_incr_wrap_answered(incr_wrap *w) {
  w->req = NULL;
  if (!w->canceled) return true;
  brr_task_done(&w->base, BRR_ECANCELED, NULL);
  return false;
}

void brr__tasks_incr_wrap_cancel(brr_task *bt) {
  incr_wrap *w = (incr_wrap *)bt;
  w->canceled = true;
  if (w->inner) w->inner->ops->cancel(w->inner);
  else if (w->req) brr_engine_cancel(w->req);
}

void brr__tasks_incr_wrap_abort(brr_task *bt) {
  incr_wrap *w = (incr_wrap *)bt;
  if (w->inner && w->inner->ops->abort) w->inner->ops->abort(w->inner);
  else if (!w->inner) brr__tasks_incr_wrap_cancel(bt);
}

static void run_inner(incr_task *t) {
  brr__tasks_incr_wrap_run(&t->w, brr_task_run_new, "run", 0);
}

/* The same inputs: restore the outputs and end reused, or run when that cannot be done. */
static void reuse(incr_task *t) {
  brr_diags d = BRR_DIAGS_INIT;
  int rc = BRR_ENOENT;
  if (brr__tasks_incr_outputs_in_store(t->w.ir, &t->rec)) {
    char when[64] = "an earlier run";
    time_t secs = (time_t)(t->rec.when_ms / 1000);
    struct tm tm;
    if (t->rec.when_ms && localtime_r(&secs, &tm))
      strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    brr_task_log(&t->w.base, BRR_LOG_INFO, "reused: inputs unchanged since %s; its outputs are restored",
                 when);
    rc = restore(t, &t->rec, &d);
  }
  brr_incr_record_free(&t->rec);
  brr_diags_free(&d);
  if (rc == 0) {
    brr_task_reused(&t->w.base);
    brr_task_done(&t->w.base, 0, NULL);
    return;
  }
  brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: its outputs are no longer in the artifact store");
  t->w.ir->nodes[t->w.base.node].tracked = true;
  run_inner(t);
}

static void on_committed_inspect(void *ud, const brr_engine_result *res) {
  incr_task *t = ud;
  if (!brr__tasks_incr_wrap_answered(&t->w)) return;
  if (res->status == 0) {
    /* the commit node tags it again, as after a run */
    brr_runtime_set(&t->w.rt->steps[t->w.step].run_image, t->committed);
    reuse(t);
    return;
  }
  brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: its committed image %.19s is no longer on the engine",
               t->committed);
  brr_incr_record_free(&t->rec);
  t->w.ir->nodes[t->w.base.node].tracked = true;
  run_inner(t);
}

/* A step with `commit` is reused only while the image its run container became exists. */
static void reuse_when_committed_exists(incr_task *t) {
  cJSON *out = t->rec.outputs ? cJSON_Parse(t->rec.outputs) : NULL;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(out, "committed");
  const brr_step *st = &t->w.rt->cfg->steps[t->w.step];
  bool wanted = st->n_commit || st->n_push || st->run->post_build;
  if (cJSON_IsString(c)) t->committed = brr_xstrdup(c->valuestring);
  cJSON_Delete(out);
  if (!wanted) {
    reuse(t);
    return;
  }
  if (t->committed) t->w.req = brr_engine_image_inspect(brr_rt_task_engine(t->w.rt, &t->w.base), t->committed, on_committed_inspect, t);
  if (!t->w.req) {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: no committed image was recorded");
    brr_incr_record_free(&t->rec);
    t->w.ir->nodes[t->w.base.node].tracked = true;
    run_inner(t);
  }
}

static void decide(incr_task *t, const char *image_id) {
  incr_rt *ir = t->w.ir;
  incr_node *in = &ir->nodes[t->w.base.node];
  brr_incr_inputs_free(&in->inputs);
  brr_diags d = BRR_DIAGS_INIT;
  brr_incr_inputs_add(&in->inputs, "image", image_id);
  if (t->w.rt->cfg->steps[t->w.step].run->n_services)
    brr_incr_inputs_add(&in->inputs, "service images", brr_buf_cstr(&t->svc_ids));
  int rc = inputs_sync(t, &in->inputs, &d);
  if (rc != 0) {
    /* the run task meets the same problem and reports it where it belongs */
    brr_diags_free(&d);
    run_inner(t);
    return;
  }
  brr_incr_inputs_key(&in->inputs, in->key);
  brr_incr_record rec;
  bool have = brr__tasks_incr_record_load(ir, t->w.base.node, &rec) == 0;
  const char *why = brr_incr_why(have ? &rec : NULL, &in->inputs);
  if (!why) {
    brr_diags_free(&d);
    brr_buf_reset(&in->log);
    t->rec = rec;
    reuse_when_committed_exists(t);
    return;
  } else {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: %s%s", why, have ? " changed" : "");
  }
  if (have) brr_incr_record_free(&rec);
  brr_diags_free(&d);
  in->tracked = true;
  brr_buf_reset(&in->log);
  run_inner(t);
}

static void next_service(incr_task *t);

static void on_service_inspect(void *ud, const brr_engine_result *res) {
  incr_task *t = ud;
  if (!brr__tasks_incr_wrap_answered(&t->w)) return;
  const brr_service *sv = &t->w.rt->cfg->steps[t->w.step].run->services[t->next_svc - 1];
  const cJSON *id = res->status == 0 ? cJSON_GetObjectItemCaseSensitive(res->json, "Id") : NULL;
  if (!cJSON_IsString(id)) {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: the image %s of its service %s is not on the engine yet",
                 sv->c.image.s, sv->name.s);
    run_inner(t);
    return;
  }
  brr_buf_printf(&t->svc_ids, "%s %s\n", sv->name.s, id->valuestring);
  next_service(t);
}

/* Its services' image ids, one at a time (their `pull` was checked at the start). */
static void next_service(incr_task *t) {
  const brr_run *r = t->w.rt->cfg->steps[t->w.step].run;
  if (t->next_svc == r->n_services) {
    decide(t, t->image_id);
    return;
  }
  const brr_service *sv = &r->services[t->next_svc++];
  t->w.req = brr_engine_image_inspect(brr_rt_task_engine(t->w.rt, &t->w.base), sv->c.image.s, on_service_inspect, t);
  if (!t->w.req) run_inner(t);
}

static void on_inspect(void *ud, const brr_engine_result *res) {
  incr_task *t = ud;
  if (!brr__tasks_incr_wrap_answered(&t->w)) return;
  const cJSON *id = res->status == 0 ? cJSON_GetObjectItemCaseSensitive(res->json, "Id") : NULL;
  if (!cJSON_IsString(id)) {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: its image %s is not on the engine yet", t->image);
    run_inner(t);
    return;
  }
  t->image_id = brr_xstrdup(id->valuestring);
  next_service(t);
}

static int incr_start(brr_task *bt, uv_loop_t *loop) {
  incr_task *t = (incr_task *)bt;
  t->w.loop = loop;
  brr_runtime *rt = t->w.rt;
  const brr_run *r = rt->cfg->steps[t->w.step].run;
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_step_begin(rt, t->w.step, &d) != 0 || !t->w.ir->store) {
    brr_diags_free(&d);
    run_inner(t);
    return 0;
  }
  for (size_t i = 0; i < r->n_services; i++) {
    const brr_service *sv = &r->services[i];
    if (sv->c.image.s && brr_runtime_should_pull(rt, sv->c.pull, sv->c.image.s)) {
      brr_task_log(bt, BRR_LOG_INFO, "runs: the image %s of its service %s is pulled each run",
                   sv->c.image.s, sv->name.s);
      run_inner(t);
      return 0;
    }
  }
  if (r->c.image.s) {
    if (brr_runtime_should_pull(rt, r->c.pull, r->c.image.s)) {
      brr_task_log(bt, BRR_LOG_INFO, "runs: its image %s is pulled each run", r->c.image.s);
      run_inner(t);
      return 0;
    }
    t->image = brr_xstrdup(r->c.image.s);
    for (char *p = t->image; *p && *p != '@' && *p != ':'; p++)
      if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  } else if (rt->steps[t->w.step].build_image) {
    t->image = brr_xstrdup(rt->steps[t->w.step].build_image);
  } else {
    run_inner(t);  /* it reports the missing image */
    return 0;
  }
  t->w.req = brr_engine_image_inspect(brr_rt_task_engine(rt, &t->w.base), t->image, on_inspect, t);
  if (!t->w.req) run_inner(t);
  return 0;
}

static void incr_free(brr_task *bt) {
  incr_task *t = (incr_task *)bt;
  brr_task_free(t->w.inner);  /* the block too: brr_task_new made it */
  brr_incr_record_free(&t->rec);
  free(t->committed);
  free(t->image);
  free(t->image_id);
  brr_buf_free(&t->svc_ids);
  free(t);
}

static const brr_task_ops INCR_OPS = {"incremental", incr_start, brr__tasks_incr_wrap_cancel, incr_free,
                                      brr__tasks_incr_wrap_abort};

int brr_incr_task_new(brr_runtime *rt, size_t node, brr_task **out) {
  *out = NULL;
  if (!rt->incr_state || brr_incr_not_reusable(rt->cfg, rt->graph, node)) return 1;
  if (rt->graph->nodes[node].kind == BRR_NODE_BUILD) return brr__tasks_incr_build_task_new(rt, node, out);
  incr_task *t = brr_xcalloc(1, sizeof *t);
  brr__tasks_incr_wrap_init(&t->w, &INCR_OPS, rt, node);
  *out = &t->w.base;
  return 0;
}
