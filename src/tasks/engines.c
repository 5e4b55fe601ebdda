/* Several engines in one run (the global `engines:` key; docs/engine.md#several-engines-engines):
 * their clients, where each node runs (the scheduler's placement hooks), and the images
 * moved from the engine that made them to the engine that needs them, streamed from
 * GET /images/{name}/get into POST /images/load without a temporary file. */
#include <stdlib.h>
#include <string.h>

#include "brr/tasks.h"
#include "brr/tasks_files.h"

extern char **environ;

/* ---- which engine ---- */

brr_engine *brr_rt_engine(const brr_runtime *rt, size_t step) {
  if (rt->n_engines <= 1 || !rt->cfg || step >= rt->cfg->n_steps) return rt->engine;
  return rt->engines[rt->steps[step].engine].engine;
}

char **brr_rt_docker_env(const brr_runtime *rt, size_t step) {
  if (rt->n_engines <= 1 || !rt->cfg || step >= rt->cfg->n_steps) return rt->docker_env;
  return rt->engines[rt->steps[step].engine].docker_env;
}

brr_engine *brr_rt_task_engine(const brr_runtime *rt, const brr_task *t) {
  return brr_rt_engine(rt, t && t->graph ? t->graph->nodes[t->node].step : BRR_NO_STEP);
}

/* ---- the clients ---- */

static bool env_is_docker(const char *kv) {
  static const char *const vars[] = {"DOCKER_HOST=", "DOCKER_CONTEXT=", "DOCKER_TLS_VERIFY=",
                                     "DOCKER_TLS=", "DOCKER_CERT_PATH="};
  for (size_t i = 0; i < BRR_ARRAY_LEN(vars); i++)
    if (brr_startswith(kv, vars[i])) return true;
  return false;
}

/* The docker CLI's environment for an engine given by address: brr's own without the
 * variables that choose an engine, then that engine's. */
static char **host_env(const brr_engine_conf *c, const brr_engine_endpoint *ep) {
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  char **v = brr_xcalloc(n + 4, sizeof *v);
  size_t k = 0;
  for (char **e = environ; *e; e++)
    if (!env_is_docker(*e)) v[k++] = brr_xstrdup(*e);
  v[k++] = brr_xasprintf("DOCKER_HOST=%s", ep->host);
  if (ep->tls) {
    v[k++] = brr_xstrdup(ep->tls_verify ? "DOCKER_TLS_VERIFY=1" : "DOCKER_TLS=1");
    char *dir = c->cert_path ? brr_path_expanduser(c->cert_path) : brr_path_expanduser("~/.docker");
    v[k++] = brr_xasprintf("DOCKER_CERT_PATH=%s", dir);
    free(dir);
  }
  v[k] = NULL;
  return v;
}

static void fill_engine(brr_runtime_engine *re, const char *name, brr_engine *e, char **env, int jobs,
                        const brr_strlist *platforms) {
  re->name = name;
  re->engine = e;
  re->docker_env = env;
  re->jobs = jobs;
  re->platforms = platforms;
  char *remote = brr_engine_remote_host(e);
  re->local = remote == NULL;
  free(remote);
}

/* Whether the step's containers bind-mount paths of this host (`files:` of the run or of a
 * service; `ssh-keys`, whose agent socket is bind-mounted; a `security-scan` of a push, whose
 * scanner container mounts trivy's directories): `*at` the key that asks for it, `*why`
 * what it is. */
static bool needs_host_paths(const brr_runtime *rt, const brr_step *st, brr_mark *at, const char **why) {
  const brr_run *run = st->run;
  *why = "`files` bind-mounts paths of this host into its containers";
  if (run && run->c.files.n) {
    *at = run->c.files.v[0].key.mark;
    return true;
  }
  for (size_t i = 0; run && i < run->n_services; i++)
    if (run->services[i].c.files.n) {
      *at = run->services[i].c.files.v[0].key.mark;
      return true;
    }
  if (run && run->ssh_keys.n) {
    *why = "`ssh-keys` bind-mounts the socket of an ssh agent of this host into its run container";
    *at = run->ssh_keys.v[0].mark;
    return true;
  }
  for (size_t i = 0; i < st->n_push && rt->arena; i++) {
    brr_scan_settings ss;
    brr_scan_settings_resolve(rt->arena, rt->cfg->global.security_scan, st->push[i].security_scan, &ss);
    if (!ss.enabled) continue;
    *why = "`security-scan` bind-mounts directories of this host (trivy's configuration, report and "
           "cache) into its scanner container";
    *at = st->push[i].mark;
    return true;
  }
  return false;
}

static int check_host_paths(brr_runtime *rt, brr_diags *d) {
  for (size_t k = 0; k < rt->n_engines; k++)
    if (rt->engines[k].local) return 0;
  int rc = 0;
  for (size_t i = 0; i < rt->graph->n_steps; i++) {
    const brr_step *st = &rt->cfg->steps[rt->graph->steps[i]];
    brr_mark at;
    const char *why = NULL;
    if (!needs_host_paths(rt, st, &at, &why)) continue;
    brr_buf names = BRR_BUF_INIT;
    for (size_t k = 0; k < rt->n_engines; k++)
      brr_buf_printf(&names, "%s%s (%s)", k ? ", " : "", rt->engines[k].name,
                     brr_engine_host(rt->engines[k].engine));
    brr_diag *g = brr_diag_error(d, at, NULL,
                                 "step '%s': %s, and every engine of `engines:` is on another host: %s",
                                 st->name.s, why, brr_buf_cstr(&names));
    g->exit_code = BRR_EXIT_CONFIG;
    brr_buf_free(&names);
    rc = BRR_ECONFIG;
  }
  return rc;
}

int brr_runtime_engines_new(brr_runtime *rt, const brr_engine_opts *base, brr_diags *d) {
  const brr_global *g = &rt->cfg->global;
  size_t n = g->n_engines ? g->n_engines : 1;
  rt->engines = brr_xcalloc(n, sizeof *rt->engines);
  rt->node_engine = brr_xcalloc(rt->graph->n_nodes ? rt->graph->n_nodes : 1, sizeof(int));
  rt->node_slot = brr_xcalloc(rt->graph->n_nodes ? rt->graph->n_nodes : 1, sizeof(bool));
  for (size_t i = 0; i < rt->graph->n_nodes; i++) rt->node_engine[i] = -1;
  char *err = NULL;
  if (!g->n_engines) {
    brr_engine *e = NULL;
    if (brr_engine_new(rt->loop, base, &e, &err) != 0) {
      brr_diag_error(d, BRR_MARK_NONE, NULL, "Docker engine: %s", err ? err : "cannot make a client");
      free(err);
      return BRR_EINVAL;
    }
    fill_engine(&rt->engines[0], NULL, e, brr_engine_endpoint_env(base->endpoint), 1 << 30, NULL);
    rt->n_engines = 1;
    rt->engine = e;
    rt->docker_env = rt->engines[0].docker_env;
    return 0;
  }
  for (size_t i = 0; i < g->n_engines; i++) {
    const brr_engine_conf *c = &g->engines[i];
    char *source = c->mark.file ? brr_xasprintf("engines.%s in %s", c->name, c->mark.file)
                                : brr_xasprintf("engines.%s", c->name);
    brr_engine_endpoint ep;
    int tls = c->tls_verify == BRR_UNSET ? -1 : c->tls_verify == BRR_TRUE;
    int rc = brr_engine_endpoint_named(c->context, c->host, tls, c->cert_path, source, &ep, &err);
    free(source);
    if (rc != 0) {
      brr_diag_error(d, c->mark, NULL, "cannot use the Docker engine '%s': %s", c->name, err);
      free(err);
      return BRR_EINVAL;
    }
    brr_engine_opts eo = *base;
    eo.host = NULL;
    eo.endpoint = &ep;
    if (i > 0) eo.run_id = brr_engine_run_id(rt->engines[0].engine);   /* one brr.run label */
    brr_engine *e = NULL;
    if (brr_engine_new(rt->loop, &eo, &e, &err) != 0) {
      brr_diag_error(d, c->mark, NULL, "Docker engine '%s': %s", c->name, err ? err : "cannot make a client");
      free(err);
      brr_engine_endpoint_free(&ep);
      return BRR_EINVAL;
    }
    char **env = c->context ? brr_engine_endpoint_env(&ep) : host_env(c, &ep);
    fill_engine(&rt->engines[i], c->name, e, env, c->jobs, &c->platforms);
    rt->n_engines++;
    brr_engine_endpoint_free(&ep);
  }
  rt->engine = rt->engines[0].engine;
  rt->docker_env = rt->engines[0].docker_env;
  return check_host_paths(rt, d);
}

int brr_runtime_preflight(brr_runtime *rt, int timeout_s, char **error) {
  for (size_t k = 0; k < rt->n_engines; k++) {
    brr_runtime_engine *re = &rt->engines[k];
    char *cause = NULL;
    if (brr_engine_preflight(re->engine, timeout_s, &cause) == 0) continue;
    if (re->name)
      *error = brr_xasprintf("cannot connect to the Docker engine '%s' at %s (from %s): %s", re->name,
                             brr_engine_host(re->engine), brr_engine_source(re->engine), cause);
    else
      *error = brr_xasprintf("cannot connect to the Docker engine at %s (from %s): %s",
                             brr_engine_host(re->engine), brr_engine_source(re->engine), cause);
    free(cause);
    return BRR_EIO;
  }
  return 0;
}

/* ---- the images moved ---- */

typedef struct moved {
  char *ref;
  int dst;
} moved;

typedef struct move_state {
  moved *v;
  size_t n, cap;
} move_state;

static move_state *moves(brr_runtime *rt) {
  if (!rt->move_state) rt->move_state = brr_xcalloc(1, sizeof(move_state));
  return rt->move_state;
}

static bool was_moved(const brr_runtime *rt, const char *ref, int dst) {
  const move_state *ms = rt->move_state;
  for (size_t i = 0; ms && i < ms->n; i++)
    if (ms->v[i].dst == dst && !strcmp(ms->v[i].ref, ref)) return true;
  return false;
}

static void add_moved(brr_runtime *rt, const char *ref, int dst) {
  if (was_moved(rt, ref, dst)) return;
  move_state *ms = moves(rt);
  moved m = {brr_xstrdup(ref), dst};
  BRR_VEC_PUSH(ms->v, ms->n, ms->cap, m);
}

void brr_runtime_track_moved(brr_runtime *rt) {
  move_state *ms = rt->move_state;
  for (size_t i = 0; ms && i < ms->n; i++)
    brr_engine_track(rt->engines[ms->v[i].dst].engine, BRR_ENGINE_IMAGE, ms->v[i].ref);
}

/* The images node `to` reads that a commit of another step made: the IMAGE edges from a
 * commit node into it (the order-only edges go the other way). */
static bool image_edge(const brr_graph *g, const brr_edge *e) {
  return e->reason == BRR_EDGE_IMAGE && e->detail && g->nodes[e->from].kind == BRR_NODE_COMMIT &&
         g->nodes[e->to].kind != BRR_NODE_COMMIT && g->nodes[e->from].step != g->nodes[e->to].step &&
         g->nodes[e->from].step != BRR_NO_STEP;
}

/* ---- placement ---- */

static bool uses_engine(const brr_node *n) {
  return n->kind != BRR_NODE_REMOTE && n->kind != BRR_NODE_PYPI_PUSH;
}

static bool takes_slot(const brr_node *n) { return n->pool && !strcmp(n->pool, "engine"); }

/* Multi-platform steps stay on the first engine (its build registry and builders). */
static bool pinned_first(const brr_graph *g, size_t step) {
  for (size_t i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].step == step &&
        (g->nodes[i].kind == BRR_NODE_PLATFORM_BUILD || g->nodes[i].kind == BRR_NODE_MANIFEST))
      return true;
  return false;
}

static const char *step_platform(const brr_runtime *rt, size_t step) {
  const brr_step *st = &rt->cfg->steps[step];
  if (st->build && st->build->platform.s) return st->build->platform.s;
  if (st->run && st->run->platform.s) return st->run->platform.s;
  return NULL;
}

static int score(brr_runtime *rt, size_t step, int k) {
  const brr_graph *g = rt->graph;
  int sc = 0;
  for (size_t i = 0; i < g->n_edges; i++) {
    const brr_edge *e = &g->edges[i];
    if (!image_edge(g, e) || g->nodes[e->to].step != step) continue;
    size_t from = g->nodes[e->from].step;
    if ((rt->steps[from].placed && rt->steps[from].engine == k) || was_moved(rt, e->detail, k)) sc += 4;
  }
  const char *plat = step_platform(rt, step);
  const brr_strlist *pl = rt->engines[k].platforms;
  for (size_t i = 0; plat && pl && i < pl->n; i++)
    if (!strcmp(pl->v[i].s, plat)) sc += 2;
  /* an engine of this host without a `platforms` list has the host's */
  if (plat && (!pl || !pl->n) && rt->engines[k].local && rt->native_platform && !strcmp(plat, rt->native_platform))
    sc += 2;
  return sc;
}

static int choose(brr_runtime *rt, size_t step, bool slot) {
  if (pinned_first(rt->graph, step)) return !slot || rt->engines[0].busy < rt->engines[0].jobs ? 0 : -1;
  brr_mark at;
  const char *why;
  bool local_only = needs_host_paths(rt, &rt->cfg->steps[step], &at, &why);
  int best = -1, best_score = 0;
  double best_load = 0;
  for (size_t k = 0; k < rt->n_engines; k++) {
    const brr_runtime_engine *re = &rt->engines[k];
    if ((slot && re->busy >= re->jobs) || (local_only && !re->local)) continue;
    int sc = score(rt, step, (int)k);
    double load = (double)re->busy / re->jobs;
    if (best < 0 || sc > best_score || (sc == best_score && load < best_load)) {
      best = (int)k;
      best_score = sc;
      best_load = load;
    }
  }
  return best;
}

bool brr_runtime_place(void *ud, size_t node, const char **where) {
  brr_runtime *rt = ud;
  const brr_node *n = &rt->graph->nodes[node];
  *where = NULL;
  if (rt->n_engines <= 1 && !rt->engines[0].name) return true;
  if (!uses_engine(n)) return true;
  bool slot = takes_slot(n);
  int k;
  if (n->step == BRR_NO_STEP) {
    k = 0;
    slot = false;
  } else if (rt->steps[n->step].placed) {
    k = rt->steps[n->step].engine;
  } else {
    k = choose(rt, n->step, slot);
    if (k < 0) return false;
  }
  brr_runtime_engine *re = &rt->engines[k];
  if (slot && re->busy >= re->jobs) return false;
  if (n->step != BRR_NO_STEP) {
    rt->steps[n->step].placed = true;
    rt->steps[n->step].engine = k;
  }
  if (slot) re->busy++;
  rt->node_engine[node] = k;
  rt->node_slot[node] = slot;
  *where = re->name;
  return true;
}

void brr_runtime_unplace(void *ud, size_t node) {
  brr_runtime *rt = ud;
  int k = rt->node_engine ? rt->node_engine[node] : -1;
  if (k < 0) return;
  brr_runtime_engine *re = &rt->engines[k];
  if (rt->node_slot[node]) re->busy--;
  rt->node_engine[node] = -1;
  rt->node_slot[node] = false;
}

void brr_runtime_engines_free(brr_runtime *rt) {
  for (size_t k = 0; k < rt->n_engines; k++) {
    if (rt->engines[k].engine) brr_engine_free(rt->engines[k].engine);
    brr_strv_free(rt->engines[k].docker_env);
  }
  free(rt->engines);
  rt->engines = NULL;
  rt->n_engines = 0;
  rt->engine = NULL;
  rt->docker_env = NULL;
  free(rt->node_engine);
  free(rt->node_slot);
  rt->node_engine = NULL;
  rt->node_slot = NULL;
  move_state *ms = rt->move_state;
  if (ms) {
    for (size_t i = 0; i < ms->n; i++) free(ms->v[i].ref);
    free(ms->v);
    free(ms);
    rt->move_state = NULL;
  }
}

/* ---- the relay: GET /images/{name}/get on one engine into POST /images/load on another ---- */

/* What may wait in memory between the two: the GET pauses above it and goes on below half. */
#define RELAY_CAP (8u << 20)

typedef struct relay relay;
typedef void (*relay_done_cb)(void *ud, int status, const char *error, uint64_t bytes);

struct relay {
  brr_engine *src, *dst;
  brr_engine_req *get, *load;
  brr_buf buf;
  size_t pos;                   /* bytes of buf already given to the load */
  bool get_paused, load_paused, get_done, load_done, eof_sent;
  int get_status, load_status;
  int status;                   /* the first failure of the two, else 0 */
  char *error;
  uint64_t bytes;
  uv_timer_t *kick;             /* resumes happen from the loop, never inside a callback */
  relay_done_cb done;
  void *ud;
};

static size_t buffered(const relay *r) { return r->buf.len - r->pos; }

static void kick_closed(uv_handle_t *h) { free(h); }

static void kick_cb(uv_timer_t *t) {
  relay *r = t->data;
  if (r->load_paused && !r->load_done && (buffered(r) > 0 || r->get_done)) {
    r->load_paused = false;
    brr_engine_resume(r->load);
  }
  if (r->get_paused && !r->get_done && buffered(r) < RELAY_CAP / 2) {
    r->get_paused = false;
    brr_engine_resume(r->get);
  }
}

static void kick(relay *r) { uv_timer_start(r->kick, kick_cb, 0, 0); }

static int relay_data(void *ud, const char *data, size_t len) {
  relay *r = ud;
  if (buffered(r) >= RELAY_CAP) {
    r->get_paused = true;
    return BRR_ENGINE_DATA_PAUSE;
  }
  if (r->pos > 0 && r->pos >= r->buf.len / 2) {
    memmove(r->buf.data, r->buf.data + r->pos, buffered(r));
    r->buf.len -= r->pos;
    r->pos = 0;
  }
  brr_buf_append(&r->buf, data, len);
  r->bytes += len;
  if (r->load_paused) kick(r);
  return 0;
}

static ssize_t relay_read(void *ud, char *out, size_t cap) {
  relay *r = ud;
  size_t have = buffered(r);
  if (have == 0) {
    if (r->get_done) {
      if (r->get_status != 0) return -1;   /* the load fails: the image did not arrive whole */
      r->eof_sent = true;
      return 0;
    }
    r->load_paused = true;
    return BRR_ENGINE_READ_PAUSE;
  }
  size_t k = have < cap ? have : cap;
  memcpy(out, r->buf.data + r->pos, k);
  r->pos += k;
  if (r->get_paused && buffered(r) < RELAY_CAP / 2) kick(r);
  return (ssize_t)k;
}

static void relay_end(relay *r) {
  if (!r->get_done || !r->load_done) return;
  r->done(r->ud, r->status, r->error, r->bytes);
}

/* The first failure is the cause; the other side was cancelled because of it. */
static void set_error(relay *r, int status, const char *e) {
  if (r->status) return;
  r->status = status;
  if (e) r->error = brr_xstrdup(e);
}

static void relay_got(void *ud, const brr_engine_result *res) {
  relay *r = ud;
  r->get = NULL;
  r->get_done = true;
  r->get_status = res->status;
  if (res->status != 0) {
    set_error(r, res->status, res->error);
    if (r->load) brr_engine_cancel(r->load);
  } else if (r->load_paused) {
    kick(r);
  }
  relay_end(r);
}

static void relay_loaded(void *ud, const brr_engine_result *res) {
  relay *r = ud;
  r->load = NULL;
  r->load_done = true;
  r->load_status = res->status;
  if (res->status != 0) {
    set_error(r, res->status, res->error);
    if (r->get) brr_engine_cancel(r->get);
  }
  relay_end(r);
}

static relay *relay_start(uv_loop_t *loop, brr_engine *src, brr_engine *dst, const char *ref,
                          relay_done_cb done, void *ud) {
  relay *r = brr_xcalloc(1, sizeof *r);
  r->src = src;
  r->dst = dst;
  r->done = done;
  r->ud = ud;
  r->kick = brr_xcalloc(1, sizeof *r->kick);
  uv_timer_init(loop, r->kick);
  r->kick->data = r;
  brr_engine_body body = {.read = relay_read, .read_ud = r, .size = -1};
  r->load = brr_engine_image_load(dst, &body, relay_loaded, r);
  r->get = brr_engine_image_save(src, ref, relay_data, relay_got, r);
  return r;
}

static void relay_cancel(relay *r) {
  if (r->get) brr_engine_cancel(r->get);
  if (r->load) brr_engine_cancel(r->load);
}

/* After `done` ran (both requests ended). */
static void relay_free(relay *r) {
  if (!r) return;
  uv_close((uv_handle_t *)r->kick, kick_closed);
  brr_buf_free(&r->buf);
  free(r->error);
  free(r);
}

/* ---- the task that moves the images a node needs, then runs the node's own task ---- */

typedef struct move_item {
  const char *ref;   /* the edge's reference (in the graph's arena) */
  int src;
} move_item;

typedef struct move_task {
  brr_task t;
  brr_runtime *rt;
  brr_task *inner;
  int dst;
  move_item *v;
  size_t n, i;
  relay *rl;
  uv_loop_t *loop;
  bool inner_started, canceled;
  uint64_t t0;
  /* through the build registry: tag, push on the source; pull, tag on the destination */
  const char *registry;         /* the configured build-registry, or NULL: the stream */
  char *via;                    /* "<registry>/brr-move-<run>:<n>" */
  int stage;
  brr_engine_req *req;
} move_task;

static void next_move(move_task *m);
static void moved_one(void *ud, int status, const char *error, uint64_t bytes);

static void reg_step(void *ud, const brr_engine_result *res) {
  move_task *m = ud;
  brr_runtime *rt = m->rt;
  const move_item *it = &m->v[m->i];
  brr_engine *src = rt->engines[it->src].engine, *dst = rt->engines[m->dst].engine;
  m->req = NULL;
  if (res && res->status != 0) {
    moved_one(m, m->canceled ? BRR_ECANCELED : res->status, res->error, 0);
    return;
  }
  if (m->canceled) {
    moved_one(m, BRR_ECANCELED, NULL, 0);
    return;
  }
  switch (m->stage++) {
  case 0:
    m->req = brr_engine_image_tag(src, it->ref, m->via, reg_step, m);
    break;
  case 1:
    m->req = brr_engine_image_push(src, m->via, NULL, NULL, reg_step, m);
    break;
  case 2:
    m->req = brr_engine_image_pull(dst, m->via, NULL, NULL, NULL, reg_step, m);
    break;
  case 3:
    brr_engine_track(dst, BRR_ENGINE_IMAGE, m->via);   /* brr's name: it goes at the end */
    m->req = brr_engine_image_tag(dst, m->via, it->ref, reg_step, m);
    break;
  default:
    moved_one(m, 0, NULL, 0);
    break;
  }
}

static void moved_one(void *ud, int status, const char *error, uint64_t bytes) {
  move_task *m = ud;
  const move_item *it = &m->v[m->i];
  brr_runtime *rt = m->rt;
  const char *src = rt->engines[it->src].name, *dst = rt->engines[m->dst].name;
  /* `error` is the relay's own: the message is made before the relay is freed */
  char *why = status != 0 ? brr_xasprintf("moving image %s from engine %s to engine %s: %s", it->ref, src, dst,
                                          error ? error : brr_strerror(status))
                          : NULL;
  relay_free(m->rl);
  m->rl = NULL;
  if (status != 0) {
    brr_task_phase(&m->t, "move", true);
    if (status == BRR_ECANCELED || m->canceled)
      brr_task_done(&m->t, BRR_ECANCELED, NULL);
    else
      brr_task_done(&m->t, status, why);
    free(why);
    return;
  }
  /* brr put it there: it goes at the end, whatever the kept images are */
  brr_engine_track(rt->engines[m->dst].engine, BRR_ENGINE_IMAGE, it->ref);
  add_moved(rt, it->ref, m->dst);
  double s = (double)(uv_hrtime() - m->t0) / 1e9;
  if (m->registry)
    brr_task_log(&m->t, BRR_LOG_INFO, "Moved image %s from engine %s to engine %s through %s in %.1fs", it->ref,
                 src, dst, m->via, s);
  else
    brr_task_log(&m->t, BRR_LOG_INFO, "Moved image %s from engine %s to engine %s: %.1f MB in %.1fs", it->ref,
                 src, dst, (double)bytes / 1e6, s);
  m->i++;
  next_move(m);
}

static void next_move(move_task *m) {
  brr_runtime *rt = m->rt;
  /* a node of the same engine may have moved it meanwhile */
  while (m->i < m->n && was_moved(rt, m->v[m->i].ref, m->dst)) m->i++;
  if (m->canceled) {
    brr_task_phase(&m->t, "move", true);
    brr_task_done(&m->t, BRR_ECANCELED, NULL);
    return;
  }
  if (m->i == m->n) {
    brr_task_phase(&m->t, "move", true);
    m->inner_started = true;
    int rc = brr_task_hand_over(&m->t, m->inner, m->loop);
    if (rc < 0) {
      char *why = brr_xasprintf("could not start: %s", brr_strerror(rc));
      brr_task_done(&m->t, rc, why);
      free(why);
    }
    return;
  }
  const move_item *it = &m->v[m->i];
  brr_task_log(&m->t, BRR_LOG_INFO, "Moving image %s from engine %s to engine %s%s%s", it->ref,
               rt->engines[it->src].name, rt->engines[m->dst].name, m->registry ? " through " : "",
               m->registry ? m->registry : "");
  m->t0 = uv_hrtime();
  if (m->registry) {
    static unsigned seq;
    free(m->via);
    m->via = brr_xasprintf("%s/brr-move-%s:%u", m->registry, brr_engine_run_id(rt->engine), ++seq);
    m->stage = 0;
    reg_step(m, NULL);
    return;
  }
  m->rl = relay_start(m->loop, rt->engines[it->src].engine, rt->engines[m->dst].engine, it->ref, moved_one, m);
}

static int move_start(brr_task *t, uv_loop_t *loop) {
  move_task *m = (move_task *)t;
  m->loop = loop;
  brr_task_phase(t, "move", false);
  next_move(m);
  return 0;
}

static void move_cancel(brr_task *t) {
  move_task *m = (move_task *)t;
  if (m->inner_started) {
    m->inner->ops->cancel(m->inner);
    return;
  }
  m->canceled = true;
  if (m->rl) relay_cancel(m->rl);
  if (m->req) brr_engine_cancel(m->req);
}

static void move_abort(brr_task *t) {
  move_task *m = (move_task *)t;
  if (m->inner_started) {
    if (m->inner->ops->abort) m->inner->ops->abort(m->inner);
    return;
  }
  move_cancel(t);
}

static void move_free(brr_task *t) {
  move_task *m = (move_task *)t;
  /* the task base's free: an owned block (brr_task_new) goes with its end error */
  brr_task_free(m->inner);
  free(m->via);
  free(m->v);
  free(m);
}

static const brr_task_ops MOVE_OPS = {"move", move_start, move_cancel, move_free, move_abort};

brr_task *brr_runtime_move_wrap(brr_runtime *rt, size_t node, brr_task *inner) {
  if (!inner || rt->n_engines <= 1 || !rt->node_engine || rt->node_engine[node] < 0) return inner;
  const brr_graph *g = rt->graph;
  int dst = rt->node_engine[node];
  move_item *v = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; i < g->n_edges; i++) {
    const brr_edge *e = &g->edges[i];
    if (e->to != node || !image_edge(g, e)) continue;
    size_t from = g->nodes[e->from].step;
    int src = rt->steps[from].engine;
    if (src == dst || was_moved(rt, e->detail, dst)) continue;
    bool dup = false;
    for (size_t k = 0; k < n; k++) dup |= !strcmp(v[k].ref, e->detail);
    if (dup) continue;
    move_item it = {e->detail, src};
    BRR_VEC_PUSH(v, n, cap, it);
  }
  if (!n) return inner;
  move_task *m = brr_xcalloc(1, sizeof *m);
  m->t.ops = &MOVE_OPS;
  m->t.impl = m;
  m->rt = rt;
  m->inner = inner;
  m->dst = dst;
  m->v = v;
  m->n = n;
  /* a build registry both engines reach is the way between them (the temporary one brr
   * starts for multi-platform steps lives on the first engine only) */
  const char *breg = rt->cfg->global.build_registry;
  if (breg && *breg && strcmp(breg, "local") != 0) m->registry = breg;
  return &m->t;
}
