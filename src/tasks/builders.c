/* The buildx builders of `platform-builders`, checked before any node starts: each one that a
 * build of the graph names must exist (`docker buildx inspect NAME`, as cheap as it gets). A
 * builder of the docker driver is a docker context, so a build on one that is not brr's own
 * engine runs as `docker --context NAME buildx build ... --builder NAME` (buildx refuses to
 * switch contexts through --builder alone), with a client of that engine to remove what the
 * docker driver keeps there, and a check that the engine reaches the build registry. */
#include <stdlib.h>
#include <string.h>

#include "brr/spawn.h"
#include "brr/tasks.h"

#define INSPECT_TIMEOUT_MS 60000

typedef struct inspect_run {
  bool done, timed_out;
  int64_t status;
  int spawn_error;
  char *out, *err;
  brr_spawn *child;
} inspect_run;

static void inspect_exit(void *ud, const brr_spawn_result *r) {
  inspect_run *ir = ud;
  ir->done = true;
  ir->child = NULL;
  ir->spawn_error = r->spawn_error;
  ir->status = r->term_signal ? 128 + r->term_signal : r->exit_status;
  ir->out = brr_xstrndup(r->out ? r->out : "", r->out_len);
  ir->err = brr_xstrndup(r->err_tail ? r->err_tail : "", r->err_len);
}

static void inspect_timeout(uv_timer_t *t) {
  inspect_run *ir = t->data;
  ir->timed_out = true;
  if (ir->child) brr_spawn_kill(ir->child);
}

/* `docker buildx inspect NAME` with the docker CLI's environment for brr's engine; runs the
 * loop until it ended (nothing else runs yet). */
static void inspect(brr_runtime *rt, const char *name, inspect_run *ir) {
  const char *docker = getenv("BRR_DOCKER");
  const char *argv[] = {docker && *docker ? docker : "docker", "buildx", "inspect", name, NULL};
  brr_spawn_opts so = {0};
  so.argv = argv;
  so.env = rt->docker_env;
  so.collect = true;
  so.on_exit = inspect_exit;
  so.ud = ir;
  uv_timer_t timer;
  uv_timer_init(rt->loop, &timer);
  timer.data = ir;
  uv_timer_start(&timer, inspect_timeout, INSPECT_TIMEOUT_MS, 0);
  ir->child = brr_spawn_start(rt->loop, &so);
  while (!ir->done) uv_run(rt->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&timer, NULL);
  uv_run(rt->loop, UV_RUN_NOWAIT);
}

/* The value of the first "Key:   value" line of buildx's report (heap), or NULL. */
static char *field(const char *text, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
    if (strncmp(p, key, kl) != 0 || p[kl] != ':') continue;
    const char *v = p + kl + 1;
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strcspn(v, "\r\n");
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    return n ? brr_xstrndup(v, n) : NULL;
  }
  return NULL;
}

/* The last non-empty line of `text` (heap), for an error. */
static char *last_line(const char *text) {
  const char *best = NULL;
  size_t best_n = 0;
  for (const char *p = text; p && *p;) {
    size_t n = strcspn(p, "\r\n");
    if (n) {
      best = p;
      best_n = n;
    }
    p += n;
    while (*p == '\r' || *p == '\n') p++;
  }
  return best ? brr_xstrndup(best, best_n) : brr_xstrdup("no output");
}

/* The platform and the step of the first build that uses `name`, for messages. */
static const brr_node *first_use(const brr_graph *g, const char *name, bool platform_build_only) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    const brr_node *n = &g->nodes[i];
    if (n->builder && !strcmp(n->builder, name) &&
        (!platform_build_only || n->kind == BRR_NODE_PLATFORM_BUILD))
      return n;
  }
  return NULL;
}

static const brr_node *single_platform_use(const brr_graph *g, const char *name) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    const brr_node *n = &g->nodes[i];
    if (n->builder && !strcmp(n->builder, name) && n->kind == BRR_NODE_BUILD) return n;
  }
  return NULL;
}

static bool same_host(const char *a, const char *b) {
  if (!a || !b) return !a && !b;
  return !strcmp(a, b);
}

static bool local_build_registry(const brr_runtime *rt) {
  const char *r = rt->cfg->global.build_registry;
  return !r || !*r || !strcmp(r, "local");
}

/* A docker-driver builder on another engine: its client, pinged, and the checks that need it. */
static int other_engine(brr_runtime *rt, brr_builder_info *b, const brr_node *use, int timeout_s,
                        char **error) {
  const char *step = rt->cfg->steps[use->step].name.s;
  const brr_node *single = single_platform_use(rt->graph, b->name);
  if (single) {
    *error = brr_xasprintf("platform-builders: the builder %s (for %s) is the docker context %s, another "
                           "engine than the one brr runs on: the single-platform buildx build of step "
                           "%s would load its image there; give the step `platforms:` or use a builder "
                           "of brr's engine",
                           b->name, single->platform ? single->platform : rt->native_platform, b->name,
                           rt->cfg->steps[single->step].name.s);
    return BRR_EFAILED;
  }
  brr_engine_endpoint ep;
  char *err = NULL;
  if (brr_engine_endpoint_resolve(b->name, &ep, &err) != 0) {
    *error = brr_xasprintf("platform-builders: the builder %s (for %s): %s", b->name, use->platform, err);
    free(err);
    return BRR_EFAILED;
  }
  brr_engine_opts eo = {0};
  eo.endpoint = &ep;
  eo.timeout_s = rt->opts.docker_timeout;
  eo.labels = (const char *const *)rt->opts.container_labels;
  int rc = brr_engine_new(rt->loop, &eo, &b->engine, &err);
  brr_engine_endpoint_free(&ep);
  if (rc != 0) {
    *error = brr_xasprintf("platform-builders: the builder %s (for %s): %s", b->name, use->platform,
                           err ? err : "cannot make a client");
    free(err);
    return BRR_EFAILED;
  }
  char *cause = NULL;
  if (brr_engine_preflight(b->engine, timeout_s, &cause) != 0) {
    *error = brr_xasprintf("platform-builders: the builder %s (for %s): cannot connect to its Docker engine "
                           "at %s (context %s): %s",
                           b->name, use->platform, brr_engine_host(b->engine), b->name, cause);
    free(cause);
    return BRR_EFAILED;
  }
  b->context = brr_xstrdup(b->name);
  if (!local_build_registry(rt)) return 0;
  /* the local build registry is pushed to at 127.0.0.1:<port> of the machine of brr's
   * engine: the builder's engine must be on that machine too */
  char *mine = brr_engine_remote_host(rt->engine);
  char *theirs = brr_engine_remote_host(b->engine);
  bool ok = same_host(mine, theirs);
  if (!ok)
    *error = brr_xasprintf("platform-builders: the builder %s (for %s, step %s) builds on the engine at %s, "
                           "which cannot reach the build registry brr starts on the engine at %s (it is "
                           "pushed to at 127.0.0.1): set `build-registry` in the global configuration to a "
                           "registry both engines reach",
                           b->name, use->platform, step, brr_engine_host(b->engine), brr_engine_host(rt->engine));
  free(mine);
  free(theirs);
  return ok ? 0 : BRR_EFAILED;
}

/* A docker-driver builder is brr's own engine when it is the context that chose it (or
 * "default" when no context did). */
static bool is_own_context(const brr_runtime *rt, const char *name) {
  if (rt->engine_context) return !strcmp(rt->engine_context, name);
  return !strcmp(name, "default");
}

static int check_one(brr_runtime *rt, brr_builder_info *b, int timeout_s, char **error) {
  const brr_node *use = first_use(rt->graph, b->name, false);
  const char *platform = use->platform ? use->platform : rt->native_platform;
  inspect_run ir = {0};
  inspect(rt, b->name, &ir);
  int rc = 0;
  char *why = NULL;
  if (ir.spawn_error) {
    *error = brr_xasprintf("platform-builders: cannot run docker buildx inspect %s (for %s): %s", b->name,
                           platform, uv_strerror(ir.spawn_error));
    rc = BRR_EFAILED;
  } else if (ir.status != 0 || ir.timed_out) {
    why = ir.timed_out ? brr_xstrdup("no answer within 60 s") : last_line(ir.err);
    *error = brr_xasprintf("platform-builders: no usable buildx builder %s for %s (step %s): %s", b->name,
                           platform, rt->cfg->steps[use->step].name.s, why);
    rc = BRR_EFAILED;
  } else if ((why = field(ir.out, "Error"))) {
    /* a builder buildx knows but cannot load (a context whose engine does not answer) */
    *error = brr_xasprintf("platform-builders: the buildx builder %s for %s (step %s) cannot be used: %s",
                           b->name, platform, rt->cfg->steps[use->step].name.s, why);
    rc = BRR_EFAILED;
  } else {
    b->driver = field(ir.out, "Driver");
    if (!b->driver) b->driver = brr_xstrdup("unknown");
    if (!strcmp(b->driver, "docker") && !is_own_context(rt, b->name)) {
      const brr_node *pb = first_use(rt->graph, b->name, true);
      rc = other_engine(rt, b, pb ? pb : use, timeout_s, error);
    }
    if (rc == 0)
      brr_bus_log(rt->bus, BRR_LOG_INFO, NULL, "Builder %s (%s driver%s%s) for %s", b->name, b->driver,
                  b->engine ? ", engine " : "", b->engine ? brr_engine_host(b->engine) : "", platform);
  }
  free(why);
  free(ir.out);
  free(ir.err);
  return rc;
}

int brr_runtime_builders_check(brr_runtime *rt, int timeout_s, char **error) {
  *error = NULL;
  const brr_graph *g = rt->graph;
  for (size_t i = 0; g && i < g->n_nodes; i++) {
    const char *name = g->nodes[i].builder;
    if (!name || brr_runtime_builder(rt, name)) continue;
    rt->builders = brr_xrealloc(rt->builders, (rt->n_builders + 1) * sizeof *rt->builders);
    brr_builder_info *b = &rt->builders[rt->n_builders++];
    memset(b, 0, sizeof *b);
    b->name = brr_xstrdup(name);
    if (check_one(rt, b, timeout_s, error) != 0) return BRR_EFAILED;
  }
  return 0;
}

const brr_builder_info *brr_runtime_builder(const brr_runtime *rt, const char *name) {
  for (size_t i = 0; name && i < rt->n_builders; i++)
    if (!strcmp(rt->builders[i].name, name)) return &rt->builders[i];
  return NULL;
}

brr_engine *brr_runtime_builder_engine(const brr_runtime *rt, const char *name) {
  const brr_builder_info *b = brr_runtime_builder(rt, name);
  return b && b->engine ? b->engine : rt->engine;
}
