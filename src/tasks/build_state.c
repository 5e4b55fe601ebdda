/* What the build tasks of one run share: the registry client, each multi-platform step's
 * per-platform images, the build registry, and the Docker Hub rate-limit check. Hung on the
 * runtime's build_state, with its teardown in the runtime's finish and free hooks. */
#include <stdlib.h>
#include <string.h>


#include "build_internal.h"

static void state_free(brr_runtime *rt) {
  brr_build_state *bs = rt->build_state;
  if (!bs) return;
  if (bs->reg) brr_registry_free(bs->reg);
  for (size_t i = 0; i < rt->cfg->n_steps; i++) {
    brr_mp_step *m = &bs->mp[i];
    free(m->uuid);
    for (size_t k = 0; k < m->n; k++) {
      free(m->v[k].platform);
      free(m->v[k].ref);
      free(m->v[k].digest);
    }
    free(m->v);
    free(m->list_ref);
    free(m->list_digest);
  }
  free(bs->mp);
  brr_build_registry_forget_waiters(rt);
  free(bs->breg_host);
  free(bs->breg_container);
  free(bs->breg_error);
  free(bs->ratelimit_ref);
  free(bs);
  rt->build_state = NULL;
}

static void state_finish(brr_runtime *rt, void (*done)(brr_runtime *rt)) {
  brr_build_state *bs = rt->build_state;
  /* the rate-limit check only ever informs: it never holds up the end of a run */
  if (bs->ratelimit) {
    brr_bus_log(rt->bus, BRR_LOG_DEBUG, NULL, "Docker Hub rate limit: no answer yet; the run ended first");
    brr_registry_cancel(bs->ratelimit);
  }
  brr_build_registry_finish(rt, done);
}

brr_build_state *brr_build_state_get(brr_runtime *rt) {
  if (rt->build_state) return rt->build_state;
  brr_build_state *bs = brr_xcalloc(1, sizeof *bs);
  bs->rt = rt;
  bs->mp = brr_xcalloc(rt->cfg->n_steps ? rt->cfg->n_steps : 1, sizeof *bs->mp);
  brr_registry_opts o = {0};
  o.temp_dir = rt->temp_dir;
  o.timeout_s = rt->opts.docker_timeout;
  bs->reg = brr_registry_new(rt->loop, &o);
  rt->build_state = bs;
  rt->build_state_free = state_free;
  rt->build_state_finish = state_finish;
  return bs;
}

brr_mp_step *brr_build_mp_step(brr_runtime *rt, size_t step) {
  brr_build_state *bs = brr_build_state_get(rt);
  brr_mp_step *m = &bs->mp[step];
  if (!m->uuid) m->uuid = brr_uuid4();
  return m;
}

void brr_build_mp_add(brr_runtime *rt, size_t step, const char *platform, const char *ref,
                      const char *digest) {
  brr_mp_step *m = brr_build_mp_step(rt, step);
  for (size_t k = 0; k < m->n; k++)
    if (!strcmp(m->v[k].platform, platform)) {
      free(m->v[k].ref);
      free(m->v[k].digest);
      m->v[k].ref = brr_xstrdup(ref);
      m->v[k].digest = brr_xstrdup(digest ? digest : "");
      return;
    }
  brr_mp_platform p = {brr_xstrdup(platform), brr_xstrdup(ref), brr_xstrdup(digest ? digest : "")};
  BRR_VEC_PUSH(m->v, m->n, m->cap, p);
}

/* ---- public face for commit.c ----------------------------------------------------------------- */

size_t brr_build_mp_images(brr_runtime *rt, size_t step, brr_mp_image *out, size_t max) {
  brr_build_state *bs = rt->build_state;
  if (!bs || step >= rt->cfg->n_steps) return 0;
  const brr_mp_step *m = &bs->mp[step];
  /* in the order the step lists its platforms, as buildrunner reports them */
  const brr_build *b = rt->cfg->steps[step].build;
  size_t k = 0;
  for (size_t i = 0; b && i < b->platforms.n; i++)
    for (size_t j = 0; j < m->n; j++)
      if (brr_streq(m->v[j].platform, b->platforms.v[i].s)) {
        if (k < max) {
          out[k].platform = m->v[j].platform;
          out[k].digest = m->v[j].digest;
          out[k].ref = m->v[j].ref;
        }
        k++;
      }
  return k;
}

/* ---- the Docker Hub rate limit ---------------------------------------------------------------- */

#define RATELIMIT_TIMEOUT_MS 5000

static void ratelimit_done(void *ud, const brr_registry_result *res) {
  brr_runtime *rt = ud;
  brr_build_state *bs = rt->build_state;
  bs->ratelimit = NULL;
  if (res->status == BRR_ECANCELED) return;
  if (res->status != 0) {
    brr_bus_log(rt->bus, BRR_LOG_DEBUG, NULL, "Docker Hub rate limit unknown: %s", res->error ? res->error : "no answer");
    return;
  }
  if (res->ratelimit_remaining < 0) return;  /* no limit reported (a paid account, a mirror) */
  if ((size_t)res->ratelimit_remaining < bs->ratelimit_pulls)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL,
                "Docker Hub allows %ld more pull(s) now (RateLimit-Remaining) but this build pulls %zu image(s) "
                "from it (%s%s); set `docker-registry` in the global configuration to a mirror",
                res->ratelimit_remaining, bs->ratelimit_pulls, bs->ratelimit_ref,
                bs->ratelimit_pulls > 1 ? ", ..." : "");
  else
    brr_bus_log(rt->bus, BRR_LOG_DEBUG, NULL, "Docker Hub: %ld pull(s) left, this build makes %zu",
                res->ratelimit_remaining, bs->ratelimit_pulls);
}

void brr_build_begin(brr_runtime *rt) {
  brr_build_state *bs = brr_build_state_get(rt);
  if (bs->ratelimit_checked) return;
  bs->ratelimit_checked = true;
  size_t users = 0;
  for (size_t i = 0; i < rt->graph->n_nodes; i++) users += brr_build_registry_user(rt->graph, i);
  bs->breg_users = users;
  /* the registry comes up beside whatever runs first, not on a platform build's path */
  brr_build_registry_prestart(rt);
  size_t n = 0;
  char **pulls = brr_build_hub_pulls(rt->cfg, rt->graph, &n);
  if (n > 0) {
    bs->ratelimit_pulls = n;
    bs->ratelimit_ref = brr_xstrdup(pulls[0]);
    /* runs beside the build: nothing waits for it, and finish cancels it */
    bs->ratelimit = brr_registry_ratelimit(bs->reg, bs->ratelimit_ref, RATELIMIT_TIMEOUT_MS, ratelimit_done, rt);
  }
  brr_strv_free(pulls);
}
