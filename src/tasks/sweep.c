/* What killed brr runs left behind (issue 11, SIGKILL): containers, images, networks and volumes
 * labelled with an owner process that is gone from this host (the engine's sweep), and temp
 * dirs named by one (brr_runtime_sweep_temp). A run sweeps before it starts; `brr --clean`
 * sweeps on demand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brr/tasks.h"

static const char *kind_name(brr_engine_kind k) {
  switch (k) {
  case BRR_ENGINE_CONTAINER: return "container";
  case BRR_ENGINE_NETWORK: return "network";
  case BRR_ENGINE_VOLUME: return "volume";
  default: return "image";
  }
}

typedef struct sweep_ctx {
  brr_sweep_cb cb;
  void *ud;
  int removed, failed;
} sweep_ctx;

static void on_object(void *ud, brr_engine_kind kind, const char *id, const char *owner, const char *error) {
  sweep_ctx *c = ud;
  /* container and network ids short, as docker shows them; volume names whole */
  if (kind == BRR_ENGINE_IMAGE && brr_startswith(id, "sha256:")) id += strlen("sha256:");
  char *what = brr_xasprintf("%s %.*s", kind_name(kind), kind == BRR_ENGINE_VOLUME ? 200 : 12, id);
  if (error) c->failed++;
  else c->removed++;
  c->cb(c->ud, what, owner, error);
  free(what);
}

static void on_dir(void *ud, const char *path) {
  sweep_ctx *c = ud;
  c->removed++;
  char *what = brr_xasprintf("directory %s", path);
  c->cb(c->ud, what, NULL, NULL);
  free(what);
}

static int sweep(brr_engine *e, const char *tmp_root, brr_sweep_cb cb, void *ud, int *failed, char **error) {
  sweep_ctx c = {cb, ud, 0, 0};
  int rc = brr_engine_sweep_stale(e, on_object, &c, error);
  brr_runtime_sweep_temp(tmp_root, on_dir, &c);
  *failed = c.failed;
  return rc < 0 ? -1 : c.removed;
}

static void log_swept(void *ud, const char *what, const char *owner, const char *error) {
  brr_runtime *rt = ud;
  if (error)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "cannot remove the %s left by brr %s: %s", what, owner, error);
  else if (owner)
    brr_bus_log(rt->bus, BRR_LOG_INFO, NULL, "Removed the %s left by brr %s, which is gone", what, owner);
  else
    brr_bus_log(rt->bus, BRR_LOG_INFO, NULL, "Removed the temporary %s left by a brr that is gone", what);
}

void brr_runtime_sweep(brr_runtime *rt) {
  const char *tmp = rt->cfg->global.temp_dir && *rt->cfg->global.temp_dir ? rt->cfg->global.temp_dir : "/tmp";
  char *error = NULL;
  int failed = 0;
  /* an engine that does not answer fails the run's first real call, with its own message */
  sweep(rt->engine, tmp, log_swept, rt, &failed, &error);
  free(error);
  /* the other engines of `engines:` (the temp dir is swept once) */
  for (size_t k = 1; k < rt->n_engines; k++) {
    sweep_ctx c = {log_swept, rt, 0, 0};
    error = NULL;
    brr_engine_sweep_stale(rt->engines[k].engine, on_object, &c, &error);
    free(error);
  }
}

int brr_sweep_stale(const brr_engine_endpoint *ep, int timeout_s, const char *tmp_root, brr_sweep_cb cb,
                    void *ud, int *failed, char **error) {
  *error = NULL;
  *failed = 0;
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_engine_opts eo = {0};
  eo.endpoint = ep;
  eo.timeout_s = timeout_s;
  brr_engine *e = NULL;
  int rc = -1;
  char *err = NULL;
  if (brr_engine_new(&loop, &eo, &e, &err) != 0) {
    *error = brr_xasprintf("Docker engine: %s", err ? err : "cannot make a client");
    free(err);
  } else {
    rc = sweep(e, tmp_root, cb, ud, failed, error);
    brr_engine_free(e);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
