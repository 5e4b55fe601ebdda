/* The MANIFEST node: once every platform of a multi-platform step is in the build registry,
 * join them in an OCI index ("<registry>/buildrunner-mp-<host>:<uuid>") through the
 * registry's HTTP API, and hand the native platform's image to the step's run and commit
 * nodes, so later single-platform steps can run it (spec §7). Only a step that has such a
 * node needs that image in the engine: buildx's docker driver left it there when it pushed;
 * another builder did not, and it is pulled from the build registry. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "build_internal.h"

typedef struct manifest_task {
  brr_btask b;               /* first: the base */
  char *list_ref;
  const char *native_ref;
  const char *native_platform;
  bool pulled;
} manifest_task;

static void native_inspected(void *ud, const brr_engine_result *res);

static void native_pulled(void *ud, const brr_engine_result *res) {
  manifest_task *t = ud;
  t->b.req = NULL;
  if (res->status) {
    brr_btask_finish(&t->b, res->status, "%s", res->error ? res->error : "cannot pull the native image");
    return;
  }
  t->pulled = true;
  brr_engine_track(t->b.rt->engine, BRR_ENGINE_IMAGE, t->native_ref);
  t->b.req = brr_engine_image_inspect(t->b.rt->engine, t->native_ref, native_inspected, t);
}

/* Whether a node of this step runs or tags its image in the engine. */
static bool needed_locally(const manifest_task *t) {
  const brr_graph *g = t->b.rt->graph;
  for (size_t i = 0; i < g->n_nodes; i++) {
    const brr_node *x = &g->nodes[i];
    if (x->step == t->b.step && (x->kind == BRR_NODE_RUN || x->kind == BRR_NODE_COMMIT)) return true;
  }
  return false;
}

static void native_inspected(void *ud, const brr_engine_result *res) {
  manifest_task *t = ud;
  t->b.req = NULL;
  if (res->status == BRR_ENOENT && !t->pulled && !t->b.base.cancelled) {
    /* built by a builder that does not write the engine's image store */
    brr_btask_phase(&t->b, "pull");
    brr_task_log(t->b.task, BRR_LOG_INFO, "Pulling the native image %s", t->native_ref);
    t->b.req = brr_engine_image_pull(t->b.rt->engine, t->native_ref, t->native_platform, NULL, NULL,
                                     native_pulled, t);
    return;
  }
  const cJSON *id = res->status ? NULL : cJSON_GetObjectItemCaseSensitive(res->json, "Id");
  if (!cJSON_IsString(id)) {
    brr_btask_finish(&t->b, res->status ? res->status : BRR_EIO, "%s",
                     res->error ? res->error : "the native image has no id");
    return;
  }
  brr_runtime *rt = t->b.rt;
  brr_step_state *st = &rt->steps[t->b.step];
  brr_engine_track(rt->engine, BRR_ENGINE_IMAGE, id->valuestring);
  brr_runtime_set(&st->build_image, id->valuestring);
  st->multi_platform = true;
  brr_task_log(t->b.task, BRR_LOG_INFO, "Native image (%s): %s", t->native_platform, id->valuestring);
  brr_btask_finish(&t->b, 0, NULL);
}

static void indexed(void *ud, const brr_registry_result *res) {
  manifest_task *t = ud;
  t->b.rreq = NULL;
  if (res->status) {
    brr_btask_finish(&t->b, res->status, "%s", res->error ? res->error : "cannot create the manifest list");
    return;
  }
  brr_runtime *rt = t->b.rt;
  brr_mp_step *m = brr_build_mp_step(rt, t->b.step);
  brr_runtime_set(&m->list_ref, t->list_ref);
  brr_runtime_set(&m->list_digest, res->digest);
  brr_task_log(t->b.task, BRR_LOG_INFO, "Created the manifest list %s (%s)", t->list_ref,
               res->digest ? res->digest : "no digest");
  rt->steps[t->b.step].multi_platform = true;
  if (!needed_locally(t)) {
    brr_btask_finish(&t->b, 0, NULL);
    return;
  }
  /* buildrunner pulls the native ref; buildx's docker driver kept it in the engine when it
   * pushed it, so it is usually at hand */
  brr_btask_phase(&t->b, "native image");
  t->b.req = brr_engine_image_inspect(rt->engine, t->native_ref, native_inspected, t);
}

static int manifest_start(brr_task *task, uv_loop_t *loop) {
  manifest_task *t = task->impl;
  if (!brr_btask_begin(&t->b, loop)) return 0;
  brr_btask_phase(&t->b, "index");
  brr_runtime *rt = t->b.rt;
  brr_build_state *bs = brr_build_state_get(rt);
  brr_mp_step *m = brr_build_mp_step(rt, t->b.step);
  /* the platforms this run built: the step's platform-build nodes */
  const brr_graph *g = rt->graph;
  size_t n = 0;
  for (size_t i = 0; i < g->n_nodes; i++)
    n += g->nodes[i].kind == BRR_NODE_PLATFORM_BUILD && g->nodes[i].step == t->b.step;
  brr_registry_child *kids = brr_xcalloc(n + 1, sizeof *kids);
  const char **plats = brr_xcalloc(n + 1, sizeof *plats);
  size_t k = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    const brr_node *x = &g->nodes[i];
    if (x->kind != BRR_NODE_PLATFORM_BUILD || x->step != t->b.step) continue;
    const brr_mp_platform *p = NULL;
    for (size_t j = 0; j < m->n && !p; j++)
      if (!strcmp(m->v[j].platform, x->platform)) p = &m->v[j];
    if (!p) {
      brr_btask_finish(&t->b, BRR_EFAILED, "platform %s was not built", x->platform);
      free(kids);
      free(plats);
      return 0;
    }
    kids[k].ref = p->ref;
    kids[k].platform = p->platform;
    plats[k] = p->platform;
    k++;
  }
  size_t native = brr_build_native_index(plats, k, rt->native_platform);
  t->native_ref = kids[native].ref;
  t->native_platform = kids[native].platform;
  char *repo = brr_build_registry_repo(bs->breg_host);
  t->list_ref = brr_xasprintf("%s:%s", repo, m->uuid);
  free(repo);
  t->b.rreq = brr_registry_index_create(bs->reg, t->list_ref, kids, k, indexed, t);
  free(kids);
  free(plats);
  return 0;
}

static void manifest_cancel(brr_task *task) { brr_btask_cancel(&((manifest_task *)task->impl)->b); }
static void manifest_abort(brr_task *task) { brr_btask_abort(&((manifest_task *)task->impl)->b); }

static void manifest_free(brr_task *task) {
  manifest_task *t = task->impl;
  brr_build_registry_release(t->b.rt);
  brr_btask_free(&t->b);
  free(t->list_ref);
}

static const brr_task_ops MANIFEST_OPS = {"manifest", manifest_start, manifest_cancel, manifest_free, manifest_abort};

int brr_task_manifest_new(brr_runtime *rt, size_t node, brr_task **out) {
  manifest_task *t = brr_task_new(sizeof *t, &MANIFEST_OPS);
  brr_btask_init(&t->b, rt, node);
  *out = t->b.task;
  return 0;
}
