/* The PLATFORM_BUILD node: one platform of a multi-platform build (spec §7). All platforms of a
 * step run at the same time, each `docker buildx build --platform P --push` straight into the
 * build registry as "<registry>/buildrunner-mp-<host>:<uuid>-<platform>" (the registry was
 * started with the run: brr_build_begin), with its output prefixed by the platform. There is
 * no load-then-push: buildx's image output writes the registry itself (with the docker driver
 * it keeps the image in the engine under that name too; the run removes it at its end). A
 * failed platform is tried again on its own (5 tries, 1 -> 3 -> 9 -> 27 s).
 *
 * A build FROM another multi-platform step's image of this run (the graph marks it
 * base_from_build_registry) gets its FROM lines rewritten to that step's image for this
 * platform in the build registry: every platform builds on its own base, not on the one
 * native image tagged locally (the case buildrunner's troubleshooting guide says fails). */
#include <stdlib.h>
#include <string.h>

#include "build_internal.h"

#define MAX_TRIES 5
#define MAX_DELAY_MS 30000u

typedef struct pbuild_task {
  brr_btask b;               /* first: the base */
  const brr_build *build;
  const char *platform;
  char *host;                /* the build registry, once it answers */
  char *ref;                 /* where this platform goes in it */
  char *dockerfile;          /* a rewritten Dockerfile, or NULL */
  unsigned tries;
  bool prepared;             /* the context is ready: build once the registry is too */
  bool ready;                /* the build registry answered */
  bool early_attempt;        /* this buildx started before the registry answered */
  bool again_when_ready;
  bool host_changed;         /* the registry came up elsewhere than the early address */
  bool ref_stale;            /* ref names the early address */     /* an early attempt failed: build again once it answers */
  brr_bx_args bx;
} pbuild_task;

static void attempt(pbuild_task *t);

static void retry_build(brr_btask *b) { attempt((pbuild_task *)b); }

static unsigned backoff_ms(unsigned tries) {
  unsigned delay = 1000;
  for (unsigned i = 1; i < tries && delay < MAX_DELAY_MS; i++) delay *= 3;
  return delay > MAX_DELAY_MS ? MAX_DELAY_MS : delay;
}

static void bx_line(void *ud, int stream, const char *line, size_t len) {
  pbuild_task *t = ud;
  brr_btask_line(&t->b, t->platform, stream, line, len);
}

static void bx_done(void *ud, const brr_buildx_result *res) {
  pbuild_task *t = ud;
  t->b.bx = NULL;
  /* the docker driver keeps what it pushed in the engine under the same name: gone at the
   * end of the run (the native image is kept by its id where a later step needs it) */
  brr_engine_track(brr_runtime_builder_engine(t->b.rt, t->b.n->builder), BRR_ENGINE_IMAGE, t->ref);
  if (t->b.base.cancelled || res->status == BRR_ECANCELED) {
    brr_btask_finish(&t->b, BRR_ECANCELED, NULL);
    return;
  }
  if (t->early_attempt && (t->host_changed || (!t->ready && (res->status || !res->digest)))) {
    /* started with the address brr chose before the registry was up, and it failed while the
     * registry was still not up, or the registry came up on another port: build again,
     * without counting a try, once it answers (a failure once it is up is an ordinary one) */
    t->early_attempt = false;
    t->host_changed = false;
    t->tries--;
    brr_task_log(t->b.task, BRR_LOG_INFO, "%s: the build registry was not up for the push; building again once it is",
                 t->platform);
    if (t->ready) attempt(t);
    else t->again_when_ready = true;  /* registry_ready builds, or stops the task */
    return;
  }
  if (res->status == 0 && res->digest) {
    brr_build_mp_add(t->b.rt, t->b.step, t->platform, t->ref, res->digest);
    brr_task_log(t->b.task, BRR_LOG_INFO, "Pushed %s (%s)", t->ref, res->digest);
    brr_btask_finish(&t->b, 0, NULL);
    return;
  }
  const char *why = res->error ? res->error : res->status ? "docker buildx build failed"
                                                          : "docker buildx reported no pushed digest";
  if (t->tries >= MAX_TRIES || res->status == BRR_EIO) {
    brr_btask_finish(&t->b, res->status, "%s (%u tr%s)", why, t->tries, t->tries == 1 ? "y" : "ies");
    return;
  }
  unsigned delay = backoff_ms(t->tries);
  brr_task_log(t->b.task, BRR_LOG_WARNING, "%s: try %u of %u failed: %s; trying this platform again in %u s",
               t->platform, t->tries, MAX_TRIES, why, delay / 1000);
  brr_btask_after(&t->b, delay, retry_build);
}

static void attempt(pbuild_task *t) {
  brr_runtime *rt = t->b.rt;
  t->tries++;
  t->early_attempt = !t->ready;
  t->host_changed = false;
  if (t->ref_stale) {
    free(t->ref);
    t->ref = NULL;
    t->ref_stale = false;
  }
  if (!t->ref) {
    char *repo = brr_build_registry_repo(t->host);
    char *ptag = brr_build_platform_tag(t->platform);
    t->ref = brr_xasprintf("%s:%s-%s", repo, brr_build_mp_step(rt, t->b.step)->uuid, ptag);
    free(repo);
    free(ptag);
  }
  brr_btask_phase(&t->b, "build");  /* buildx pushes into the build registry as it builds */
  brr_bx_args_free(&t->bx);
  brr_buildx_opts o;
  brr_bx_args_make(rt, t->build, t->b.n->builder, t->ref, &t->bx, &o);
  o.context = t->b.prep.ctx.dir;
  o.dockerfile = t->dockerfile ? t->dockerfile : t->b.prep.ctx.dockerfile;
  o.platform = t->platform;
  /* a docker-driver builder on another engine is its context */
  const brr_builder_info *bi = brr_runtime_builder(rt, t->b.n->builder);
  o.docker_context = bi ? bi->context : NULL;
  /* straight into the build registry: no load, no second push */
  o.push = true;
  o.on_line = bx_line;
  o.on_done = bx_done;
  o.ud = t;
  if (t->tries == 1 && o.docker_context)
    brr_task_log(t->b.task, BRR_LOG_INFO, "Building %s on builder %s (the engine at %s)", t->platform,
                 t->b.n->builder, brr_engine_host(bi->engine));
  else if (t->tries == 1)
    brr_task_log(t->b.task, BRR_LOG_INFO, "Building %s%s%s", t->platform, t->b.n->builder ? " on builder " : "",
                 t->b.n->builder ? t->b.n->builder : "");
  t->b.bx = brr_buildx_build(rt->loop, &o);
}

/* The base images of this run that the Dockerfile names: every ref another multi-platform
 * step commits or pushes, mapped to its image for this platform (or its index). */
static brr_from_map *base_map(pbuild_task *t, size_t *n_out, char ***owned) {
  brr_runtime *rt = t->b.rt;
  brr_build_state *bs = brr_build_state_get(rt);
  brr_from_map *map = NULL;
  size_t n = 0, cap = 0;
  char **keep = NULL;
  size_t nk = 0, capk = 0;
  for (size_t s = 0; s < rt->cfg->n_steps; s++) {
    const brr_mp_step *m = &bs->mp[s];
    if (s == t->b.step || !m->list_ref) continue;
    const char *replace = m->list_ref;
    for (size_t k = 0; k < m->n; k++)
      if (!strcmp(m->v[k].platform, t->platform)) replace = m->v[k].ref;
    const brr_step *st = &rt->cfg->steps[s];
    for (size_t k = 0; k < st->n_push + st->n_commit; k++) {
      brr_spec_refs r;
      brr_build_spec_refs(k < st->n_push ? &st->push[k] : &st->commit[k - st->n_push], &r);
      for (size_t i = 0; i < r.n; i++) {
        char *norm = brr_image_ref_normalize(r.refs[i]);
        BRR_VEC_PUSH(keep, nk, capk, norm);
        brr_from_map e = {norm, replace};
        BRR_VEC_PUSH(map, n, cap, e);
      }
      brr_build_spec_refs_free(&r);
    }
  }
  BRR_VEC_PUSH(keep, nk, capk, NULL);
  *owned = keep;
  *n_out = n;
  return map;
}

static void rewrite_from(pbuild_task *t) {
  brr_runtime *rt = t->b.rt;
  const brr_build_context *ctx = &t->b.prep.ctx;
  char *path = ctx->dockerfile ? brr_xstrdup(ctx->dockerfile) : brr_path_join(ctx->dir, "Dockerfile");
  brr_buf text = BRR_BUF_INIT;
  if (brr_read_file(path, &text) == 0) {
    size_t n;
    char **owned;
    brr_from_map *map = base_map(t, &n, &owned);
    char *out = brr_build_rewrite_from(text.data, t->build, rt->cfg->global.docker_registry, map, n);
    if (out) {
      char *ptag = brr_build_platform_tag(t->platform);
      t->dockerfile = brr_xasprintf("%s/Dockerfile-%zu-%s", rt->temp_dir, t->b.node, ptag);
      free(ptag);
      if (brr_write_file(t->dockerfile, out, strlen(out)) != 0) {
        free(t->dockerfile);
        t->dockerfile = NULL;
      } else {
        brr_task_log(t->b.task, BRR_LOG_INFO, "%s: the base image comes from the build registry", t->platform);
      }
      free(out);
    }
    free(map);
    brr_strv_free(owned);
  }
  brr_buf_free(&text);
  free(path);
}

static void prepared(brr_build_prep *p) {
  pbuild_task *t = p->ud;
  if (t->b.base.cancelled || p->cancelled) {
    brr_btask_finish(&t->b, BRR_ECANCELED, NULL);
    return;
  }
  if (p->rc != 0) {
    if (brr_diags_exit_code(&p->d) == BRR_EXIT_CONFIG) brr_btask_config_error(&t->b, &p->d);
    else brr_btask_finish(&t->b, BRR_EIO, "%s", p->d.n ? p->d.v[0].msg : "cannot prepare the build context");
    return;
  }
  if (t->b.n->base_from_build_registry) rewrite_from(t);
  t->prepared = true;
  /* the address brr chose for the registry: buildx starts while the registry comes up */
  const char *early = t->host ? NULL : brr_build_registry_early_host(t->b.rt);
  if (early) t->host = brr_xstrdup(early);
  if (t->host) attempt(t);
  else brr_btask_phase(&t->b, "registry");  /* the context is ready, the build registry not yet */
}

static void registry_ready(void *ud, int status, const char *host, const char *error) {
  pbuild_task *t = ud;
  t->b.bw = NULL;
  if (status) {
    /* what runs is pointless now: stop it, and report the registry's failure */
    brr_btask_stop(&t->b, status, error ? error : "no build registry");
    return;
  }
  t->ready = true;
  if (t->host && strcmp(t->host, host) != 0) {
    /* made again on another port: a build under way with the first address builds again */
    free(t->host);
    t->host = NULL;
    t->ref_stale = true;  /* the next attempt names the new one; bx_done still tracks the old */
    t->host_changed = true;
  }
  if (!t->host) t->host = brr_xstrdup(host);
  if (t->b.base.cancelled) return;
  if (t->again_when_ready) {
    t->again_when_ready = false;
    attempt(t);
  } else if (t->prepared && t->tries == 0) {
    attempt(t);
  }
}

static int pbuild_start(brr_task *task, uv_loop_t *loop) {
  pbuild_task *t = task->impl;
  if (!brr_btask_begin(&t->b, loop)) return 0;
  brr_runtime *rt = t->b.rt;
  /* the registry was started with the run (brr_build_begin); the context is made while it
   * comes up, and buildx starts once both are ready */
  brr_btask_phase(&t->b, "context");
  t->b.bw = brr_build_registry_acquire(rt, registry_ready, t);
  brr_build_prep *p = &t->b.prep;
  p->build = t->build;
  p->build_dir = rt->cfg->build_dir;
  p->step = rt->cfg->steps[t->b.step].name.s;
  p->temp_dir = rt->temp_dir;
  p->done = prepared;
  p->ud = t;
  brr_build_prep_start(loop, p);
  return 0;
}

static void pbuild_cancel(brr_task *task) { brr_btask_cancel(&((pbuild_task *)task->impl)->b); }
static void pbuild_abort(brr_task *task) { brr_btask_abort(&((pbuild_task *)task->impl)->b); }

static void pbuild_free(brr_task *task) {
  pbuild_task *t = task->impl;
  brr_build_registry_release(t->b.rt);
  brr_btask_free(&t->b);
  brr_bx_args_free(&t->bx);
  if (t->dockerfile) remove(t->dockerfile);
  free(t->dockerfile);
  free(t->host);
  free(t->ref);
}

static const brr_task_ops PBUILD_OPS = {"platform-build", pbuild_start, pbuild_cancel, pbuild_free, pbuild_abort};

int brr_task_platform_build_new(brr_runtime *rt, size_t node, brr_task **out) {
  pbuild_task *t = brr_task_new(sizeof *t, &PBUILD_OPS);
  brr_btask_init(&t->b, rt, node);
  t->build = rt->cfg->steps[t->b.step].build;
  t->platform = t->b.n->platform;
  *out = t->b.task;
  return 0;
}
