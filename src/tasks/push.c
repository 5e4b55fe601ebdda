/* The PUSH node: one "repository:tag" to its registry, with --push, after every step
 * succeeded (spec §8). The graph orders the pushes: immutable tags side by side (a pool per
 * registry), moving tags (`latest`, the global `moving-tags`) after every other push
 * succeeded. A single-platform image goes through the engine (POST /images/{name}/push with
 * X-Registry-Auth from the docker config); a multi-platform one is copied, as its manifest
 * list, from the build registry through the registry API. A failed push is tried again with
 * backoff, unless the registry refused the credentials; the registry client also retries
 * 5xx and 429 answers itself. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build_internal.h"

#define PUSH_TRIES 3

typedef struct push_task {
  brr_btask b;               /* first: the base */
  const char *ref;           /* "repo:tag" */
  char *host;
  unsigned tries;
  brr_engine_auth auth;      /* views into the registry client's cache */
  bool has_auth;
} push_task;

static void engine_push(push_task *t);

static void again(brr_btask *b) { engine_push((push_task *)b); }

/* Refusals that a second try cannot change. */
static bool final_error(const char *e) {
  static const char *const words[] = {"unauthorized", "denied", "authentication required", "forbidden",
                                      "no basic auth credentials",
                                      "does not exist", "No such image", "invalid reference"};
  for (size_t i = 0; e && i < sizeof words / sizeof *words; i++)
    if (strcasestr(e, words[i])) return true;
  return false;
}

static void on_progress(void *ud, const brr_engine_progress *p) {
  push_task *t = ud;
  if (!p->status || p->progress) return;
  char *line = p->id ? brr_xasprintf("%s: %s\n", p->id, p->status) : brr_xasprintf("%s\n", p->status);
  brr_task_output(t->b.task, NULL, 1, line, strlen(line));
  free(line);
}

static void pushed(void *ud, const brr_engine_result *res) {
  push_task *t = ud;
  t->b.req = NULL;
  if (res->status == 0) {
    brr_task_log(t->b.task, BRR_LOG_INFO, "Pushed %s%s%s", t->ref, res->digest ? " " : "", res->digest ? res->digest : "");
    brr_btask_finish(&t->b, 0, NULL);
    return;
  }
  if (t->b.base.cancelled || res->status == BRR_ECANCELED || t->tries >= PUSH_TRIES || final_error(res->error)) {
    brr_btask_finish(&t->b, res->status, "%s", res->error ? res->error : "the push failed");
    return;
  }
  unsigned delay = t->tries == 1 ? 1000 : 3000;
  brr_task_log(t->b.task, BRR_LOG_WARNING, "push of %s failed (try %u of %u): %s; trying again in %u s", t->ref,
               t->tries, PUSH_TRIES, res->error ? res->error : "failed", delay / 1000);
  brr_btask_after(&t->b, delay, again);
}

static void engine_push(push_task *t) {
  t->tries++;
  if (t->tries == 1) brr_task_log(t->b.task, BRR_LOG_INFO, "Pushing %s", t->ref);
  t->b.req = brr_engine_image_push(brr_rt_engine(t->b.rt, t->b.step), t->ref, t->has_auth ? &t->auth : NULL, on_progress, pushed, t);
}

static void got_creds(void *ud, int status, const char *error, const brr_engine_auth *auth) {
  push_task *t = ud;
  t->b.rreq = NULL;
  if (t->b.base.cancelled) {
    brr_btask_finish(&t->b, BRR_ECANCELED, NULL);
    return;
  }
  if (status) {
    brr_btask_finish(&t->b, status, "%s", error ? error : "cannot read the registry credentials");
    return;
  }
  if (auth) {
    t->auth = *auth;
    t->has_auth = true;
  }
  engine_push(t);
}

static void copied(void *ud, const brr_registry_result *res) {
  push_task *t = ud;
  t->b.rreq = NULL;
  if (res->status) {
    brr_btask_finish(&t->b, res->status, "%s", res->error ? res->error : "the push failed");
    return;
  }
  brr_task_log(t->b.task, BRR_LOG_INFO, "Pushed the manifest list %s %s", t->ref, res->digest ? res->digest : "");
  brr_btask_finish(&t->b, 0, NULL);
}

static int push_start(brr_task *task, uv_loop_t *loop) {
  push_task *t = task->impl;
  if (!brr_btask_begin(&t->b, loop)) return 0;
  brr_btask_phase(&t->b, "push");
  brr_runtime *rt = t->b.rt;
  brr_build_state *bs = brr_build_state_get(rt);
  const brr_step_state *st = &rt->steps[t->b.step];
  const brr_mp_step *m = &bs->mp[t->b.step];
  if (st->multi_platform && m->list_ref) {
    brr_task_log(t->b.task, BRR_LOG_INFO, "Pushing the manifest list %s as %s", m->list_ref, t->ref);
    t->b.rreq = brr_registry_copy(bs->reg, m->list_ref, t->ref, copied, t);
    return 0;
  }
  brr_registry_ref r;
  if (brr_registry_ref_parse(t->ref, &r) != 0) {
    brr_btask_finish(&t->b, BRR_EINVAL, "cannot push '%s': not an image reference", t->ref);
    return 0;
  }
  t->host = brr_xstrdup(r.host);
  brr_registry_ref_free(&r);
  t->b.rreq = brr_registry_creds_get(bs->reg, t->host, got_creds, t);
  return 0;
}

static void push_cancel(brr_task *task) { brr_btask_cancel(&((push_task *)task->impl)->b); }
static void push_abort(brr_task *task) { brr_btask_abort(&((push_task *)task->impl)->b); }

static void push_free(brr_task *task) {
  push_task *t = task->impl;
  if (brr_build_registry_user(t->b.rt->graph, t->b.node)) brr_build_registry_release(t->b.rt);
  brr_btask_free(&t->b);
  free(t->host);
}

static const brr_task_ops PUSH_OPS = {"push", push_start, push_cancel, push_free, push_abort};

int brr_task_push_new(brr_runtime *rt, size_t node, brr_task **out) {
  push_task *t = brr_task_new(sizeof *t, &PUSH_OPS);
  brr_btask_init(&t->b, rt, node);
  t->ref = t->b.n->image;
  *out = t->b.task;
  return 0;
}
