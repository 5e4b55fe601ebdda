/* What the run nodes of one build share: the /source tar, made once on a libuv work thread
 * the first time a step needs it (buildrunner also tars the build dir once per build), and
 * the set of images already pulled. Lives in rt->run_state. */
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

typedef enum { SRC_NONE, SRC_BUILDING, SRC_READY, SRC_FAILED } src_state;

typedef struct run_shared {
  brr_runtime *rt;
  src_state src;
  char *src_path;
  char *src_error;
  uv_work_t work;
  brr_diags work_d;            /* written by the work thread only while SRC_BUILDING */
  int work_rc;
  brr_run_waiter *head, *tail;
  void (*finish_done)(brr_runtime *rt);   /* brr_runtime_finish waits for the thread */
  brr_strmap pulled;
  brr_arena *arena;            /* keys of `pulled` */
} run_shared;

static void shared_free(brr_runtime *rt) {
  run_shared *sh = rt->run_state;
  if (!sh) return;
  rt->run_state = NULL;
  /* a tar still being written (only when the run was abandoned) keeps its memory */
  if (sh->src == SRC_BUILDING) return;
  free(sh->src_path);
  free(sh->src_error);
  brr_diags_free(&sh->work_d);
  brr_strmap_free(&sh->pulled);
  brr_arena_free(sh->arena);
  free(sh);
}

static void shared_finish(brr_runtime *rt, void (*done)(brr_runtime *rt)) {
  run_shared *sh = rt->run_state;
  if (sh && sh->src == SRC_BUILDING) {
    sh->finish_done = done;
    return;
  }
  done(rt);
}

static run_shared *shared(brr_runtime *rt) {
  if (rt->run_state) return rt->run_state;
  run_shared *sh = brr_xcalloc(1, sizeof *sh);
  sh->rt = rt;
  sh->arena = brr_arena_new();
  rt->run_state = sh;
  rt->run_state_free = shared_free;
  rt->run_state_finish = shared_finish;
  return sh;
}

/* ---- the /source tar ---- */

static void tar_work(uv_work_t *w) {
  run_shared *sh = w->data;
  const brr_config *cfg = sh->rt->cfg;
  sh->work_rc = brr_source_tar_create(cfg->build_dir, cfg->results_dir, sh->src_path, &sh->work_d);
}

static void tar_after(uv_work_t *w, int status) {
  run_shared *sh = w->data;
  if (status != 0 || sh->work_rc != 0) {
    sh->src = SRC_FAILED;
    const char *why = sh->work_d.n ? sh->work_d.v[0].msg : status ? uv_strerror(status) : brr_strerror(sh->work_rc);
    sh->src_error = brr_xasprintf("cannot make the /source tar: %s", why);
  } else {
    sh->src = SRC_READY;
  }
  while (sh->head) {
    brr_run_waiter *w2 = sh->head;
    sh->head = w2->next;
    if (!sh->head) sh->tail = NULL;
    w2->waiting = false;
    w2->next = NULL;
    w2->cb(w2->ud, sh->src == SRC_READY ? sh->src_path : NULL, sh->src_error);
  }
  if (sh->finish_done) {
    void (*done)(brr_runtime *) = sh->finish_done;
    sh->finish_done = NULL;
    done(sh->rt);
  }
}

void brr_run_source_want(brr_runtime *rt, brr_run_waiter *w, brr_run_source_cb cb, void *ud) {
  run_shared *sh = shared(rt);
  w->cb = cb;
  w->ud = ud;
  w->next = NULL;
  if (sh->src == SRC_READY || sh->src == SRC_FAILED) {
    w->waiting = false;
    cb(ud, sh->src == SRC_READY ? sh->src_path : NULL, sh->src_error);
    return;
  }
  w->waiting = true;
  if (sh->tail) sh->tail->next = w;
  else sh->head = w;
  sh->tail = w;
  if (sh->src == SRC_BUILDING) return;
  sh->src = SRC_BUILDING;
  sh->src_path = brr_path_join(rt->temp_dir, "source.tar");
  sh->work.data = sh;
  int rc = uv_queue_work(rt->loop, &sh->work, tar_work, tar_after);
  if (rc != 0) {
    /* no thread pool: write it on the loop (rare; the run still works, only slower) */
    tar_work(&sh->work);
    tar_after(&sh->work, 0);
  }
}

void brr_run_source_drop(brr_runtime *rt, brr_run_waiter *w) {
  run_shared *sh = rt->run_state;
  if (!sh || !w->waiting) return;
  brr_run_waiter *prev = NULL;
  for (brr_run_waiter *it = sh->head; it; prev = it, it = it->next) {
    if (it != w) continue;
    if (prev) prev->next = it->next;
    else sh->head = it->next;
    if (sh->tail == it) sh->tail = prev;
    break;
  }
  w->waiting = false;
  w->next = NULL;
}

/* ---- pulls ---- */

static char *pull_key(const char *ref, const char *platform) {
  return brr_xasprintf("%s\t%s", ref, platform ? platform : "");
}

bool brr_run_pulled(brr_runtime *rt, const char *ref, const char *platform) {
  run_shared *sh = shared(rt);
  char *k = pull_key(ref, platform);
  bool hit = brr_strmap_get(&sh->pulled, k, NULL);
  free(k);
  return hit;
}

void brr_run_mark_pulled(brr_runtime *rt, const char *ref, const char *platform) {
  run_shared *sh = shared(rt);
  char *k = pull_key(ref, platform);
  if (!brr_strmap_get(&sh->pulled, k, NULL))
    brr_strmap_put(&sh->pulled, brr_arena_strdup(sh->arena, k), 1);
  free(k);
}
