/* What the run nodes of one build share: the /source tar, made once on a libuv work thread
 * the first time a step needs it (buildrunner also tars the build dir once per build); the
 * source image on each engine, that tar under "source/" imported once (each step's /source
 * volume is then filled by the engine from it, as buildrunner's source container does); and
 * the set of images already pulled. Lives in rt->run_state. */
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

typedef enum { SRC_NONE, SRC_BUILDING, SRC_READY, SRC_FAILED } src_state;

typedef struct waiters {
  brr_run_waiter *head, *tail;
} waiters;

struct run_shared;

/* One tar of the build dir, written once on a work thread: the plain one (entries ".",
 * "a", ...) PUT at /source, or the one under "source/" a source image is made of. */
typedef struct src_tar {
  struct run_shared *sh;
  const char *root, *file;
  src_state st;
  char *path;
  char *error;
  bool whiteouts;              /* a ".wh.*" name: no image can carry this tree */
  uv_work_t work;
  brr_diags work_d;            /* written by the work thread only while SRC_BUILDING */
  int work_rc;
  waiters w;
} src_tar;

/* The source image on one engine: the image tar imported there once per build. */
typedef struct src_image {
  struct run_shared *sh;
  brr_engine *e;
  src_state st;
  char *ref;                   /* brr-source:<run id>, removed by the engine's cleanup */
  char *id, *error;
  bool use_tar;                /* whiteouts: PUT the plain tar instead */
  brr_run_waiter tar_wait;
  brr_engine_req *req;
  waiters w;
} src_image;

enum { TAR_PLAIN, TAR_IMAGE, TAR_COUNT };

typedef struct run_shared {
  brr_runtime *rt;
  src_tar tars[TAR_COUNT];
  src_image **images;
  size_t n_images;
  void (*finish_done)(brr_runtime *rt);   /* brr_runtime_finish waits for the threads */
  brr_strmap pulled;
  brr_arena *arena;            /* keys of `pulled` */
} run_shared;

static bool tars_building(const run_shared *sh) {
  for (int k = 0; k < TAR_COUNT; k++)
    if (sh->tars[k].st == SRC_BUILDING) return true;
  return false;
}

static void shared_free(brr_runtime *rt) {
  run_shared *sh = rt->run_state;
  if (!sh) return;
  rt->run_state = NULL;
  /* a tar still being written (only when the run was abandoned) keeps its memory */
  if (tars_building(sh)) return;
  for (int k = 0; k < TAR_COUNT; k++) {
    free(sh->tars[k].path);
    free(sh->tars[k].error);
    brr_diags_free(&sh->tars[k].work_d);
  }
  for (size_t i = 0; i < sh->n_images; i++) {
    src_image *im = sh->images[i];
    if (im->req) brr_engine_cancel(im->req);   /* its callback finds im->sh NULL */
    free(im->ref);
    free(im->id);
    free(im->error);
    if (im->req) im->sh = NULL;
    else free(im);
  }
  free(sh->images);
  brr_strmap_free(&sh->pulled);
  brr_arena_free(sh->arena);
  free(sh);
}

static void shared_finish(brr_runtime *rt, void (*done)(brr_runtime *rt)) {
  run_shared *sh = rt->run_state;
  if (sh && tars_building(sh)) {
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
  sh->tars[TAR_PLAIN] = (src_tar){.sh = sh, .root = ".", .file = "source.tar"};
  sh->tars[TAR_IMAGE] = (src_tar){.sh = sh, .root = "source", .file = "source-image.tar"};
  rt->run_state = sh;
  rt->run_state_free = shared_free;
  rt->run_state_finish = shared_finish;
  return sh;
}

/* ---- waiting lists ---- */

static void waiters_add(waiters *l, brr_run_waiter *w, brr_run_source_cb cb, void *ud) {
  w->cb = cb;
  w->ud = ud;
  w->next = NULL;
  w->waiting = true;
  if (l->tail) l->tail->next = w;
  else l->head = w;
  l->tail = w;
}

static bool waiters_remove(waiters *l, brr_run_waiter *w) {
  brr_run_waiter *prev = NULL;
  for (brr_run_waiter *it = l->head; it; prev = it, it = it->next) {
    if (it != w) continue;
    if (prev) prev->next = it->next;
    else l->head = it->next;
    if (l->tail == it) l->tail = prev;
    return true;
  }
  return false;
}

/* Answer a waiter at once: what it waits for is settled. */
static void waiter_answer(brr_run_waiter *w, brr_run_source_cb cb, void *ud, const char *what,
                          const char *error) {
  w->cb = cb;
  w->ud = ud;
  w->next = NULL;
  w->waiting = false;
  cb(ud, what, error);
}

/* Call every waiter (each may drop others or add itself again meanwhile). */
static void waiters_fire(waiters *l, const char *what, const char *error) {
  while (l->head) {
    brr_run_waiter *w = l->head;
    l->head = w->next;
    if (!l->head) l->tail = NULL;
    w->waiting = false;
    w->next = NULL;
    w->cb(w->ud, what, error);
  }
}

/* ---- the tars ---- */

static void tar_work(uv_work_t *w) {
  src_tar *t = w->data;
  const brr_config *cfg = t->sh->rt->cfg;
  t->work_rc = brr_source_tar_write(cfg->build_dir, cfg->results_dir, t->path, t->root,
                                    &t->whiteouts, &t->work_d);
}

static void tar_after(uv_work_t *w, int status) {
  src_tar *t = w->data;
  run_shared *sh = t->sh;
  if (status != 0 || t->work_rc != 0) {
    t->st = SRC_FAILED;
    const char *why = t->work_d.n ? t->work_d.v[0].msg : status ? uv_strerror(status) : brr_strerror(t->work_rc);
    t->error = brr_xasprintf("cannot make the /source tar: %s", why);
  } else {
    t->st = SRC_READY;
  }
  waiters_fire(&t->w, t->st == SRC_READY ? t->path : NULL, t->error);
  if (sh->finish_done && !tars_building(sh)) {
    void (*done)(brr_runtime *) = sh->finish_done;
    sh->finish_done = NULL;
    done(sh->rt);
  }
}

static void tar_want(run_shared *sh, src_tar *t, brr_run_waiter *w, brr_run_source_cb cb, void *ud) {
  if (t->st == SRC_READY || t->st == SRC_FAILED) {
    waiter_answer(w, cb, ud, t->st == SRC_READY ? t->path : NULL, t->error);
    return;
  }
  waiters_add(&t->w, w, cb, ud);
  if (t->st == SRC_BUILDING) return;
  t->st = SRC_BUILDING;
  t->path = brr_path_join(sh->rt->temp_dir, t->file);
  t->work.data = t;
  int rc = uv_queue_work(sh->rt->loop, &t->work, tar_work, tar_after);
  if (rc != 0) {
    /* no thread pool: write it on the loop (rare; the run still works, only slower) */
    tar_work(&t->work);
    tar_after(&t->work, 0);
  }
}

void brr_run_source_want(brr_runtime *rt, brr_run_waiter *w, brr_run_source_cb cb, void *ud) {
  run_shared *sh = shared(rt);
  tar_want(sh, &sh->tars[TAR_PLAIN], w, cb, ud);
}

/* ---- the source image of each engine ---- */

static void image_settle(src_image *im, src_state st, char *id, char *error) {
  im->st = st;
  im->id = id;
  im->error = error;
  waiters_fire(&im->w, id, error);
}

static void on_imported(void *ud, const brr_engine_result *res) {
  src_image *im = ud;
  im->req = NULL;
  if (!im->sh) {   /* the build state went first */
    free(im);
    return;
  }
  if (res->status == 0) {
    /* its tag, tracked already, takes it at the end: no second removal by id */
    brr_engine_untrack(im->e, BRR_ENGINE_IMAGE, res->id);
    image_settle(im, SRC_READY, brr_xstrdup(res->id), NULL);
  }
  else
    image_settle(im, SRC_FAILED, NULL,
                 brr_xasprintf("cannot make the /source image: %s",
                               res->error ? res->error : brr_strerror(res->status)));
}

static void on_image_tar(void *ud, const char *path, const char *error) {
  src_image *im = ud;
  src_tar *t = &im->sh->tars[TAR_IMAGE];
  if (!path) {
    image_settle(im, SRC_FAILED, NULL, brr_xstrdup(error ? error : "no /source tar"));
    return;
  }
  if (t->whiteouts) {
    /* an image layer would turn those names into deletions: the callers PUT the plain tar */
    im->use_tar = true;
    image_settle(im, SRC_READY, NULL, NULL);
    return;
  }
  brr_engine_body body = {.path = path};
  /* tagged, and the tag tracked before the answer: a run stopped while the engine imports
   * still removes what it made */
  brr_engine_track(im->e, BRR_ENGINE_IMAGE, im->ref);
  im->req = brr_engine_image_import_own(im->e, &body, im->ref, on_imported, im);
}

void brr_run_source_image_want(brr_runtime *rt, brr_engine *e, brr_run_waiter *w,
                               brr_run_source_cb cb, void *ud) {
  run_shared *sh = shared(rt);
  src_image *im = NULL;
  for (size_t i = 0; i < sh->n_images && !im; i++)
    if (sh->images[i]->e == e) im = sh->images[i];
  if (!im) {
    im = brr_xcalloc(1, sizeof *im);
    im->sh = sh;
    im->e = e;
    im->ref = brr_xasprintf("brr-source:%s", brr_engine_run_id(e));
    sh->images = brr_xrealloc(sh->images, (sh->n_images + 1) * sizeof *sh->images);
    sh->images[sh->n_images++] = im;
  }
  if (im->st == SRC_READY || im->st == SRC_FAILED) {
    waiter_answer(w, cb, ud, im->id, im->error);
    return;
  }
  waiters_add(&im->w, w, cb, ud);
  if (im->st == SRC_BUILDING) return;
  im->st = SRC_BUILDING;
  tar_want(sh, &sh->tars[TAR_IMAGE], &im->tar_wait, on_image_tar, im);
}

void brr_run_source_drop(brr_runtime *rt, brr_run_waiter *w) {
  run_shared *sh = rt->run_state;
  if (!sh || !w->waiting) return;
  bool found = false;
  for (int k = 0; k < TAR_COUNT && !found; k++) found = waiters_remove(&sh->tars[k].w, w);
  for (size_t i = 0; i < sh->n_images && !found; i++) found = waiters_remove(&sh->images[i]->w, w);
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
