/* The cleanup registry: what this client created, and its removal, asynchronously on the loop
 * (normal end, first signal) or blocking with its own connections (last resort). Both also
 * sweep containers, networks and volumes by the run's label, which catches objects whose
 * create answer never arrived because the request was cancelled. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "internal.h"

/* ---- the registry ---------------------------------------------------------------------------- */

static ssize_t find(const brr_engine *e, brr_engine_kind kind, const char *id) {
  for (size_t i = 0; i < e->tracked[kind].n; i++)
    if (strcmp(e->tracked[kind].ids[i], id) == 0) return (ssize_t)i;
  return -1;
}

void brr_engine_track(brr_engine *e, brr_engine_kind kind, const char *id) {
  if ((unsigned)kind >= BRR_ENGINE_KIND_COUNT || !id || !*id || find(e, kind, id) >= 0) return;
  char *copy = brr_xstrdup(id);
  BRR_VEC_PUSH(e->tracked[kind].ids, e->tracked[kind].n, e->tracked[kind].cap, copy);
}

void brr_engine_untrack(brr_engine *e, brr_engine_kind kind, const char *id) {
  if ((unsigned)kind >= BRR_ENGINE_KIND_COUNT || !id) return;
  ssize_t i = find(e, kind, id);
  if (i < 0) return;
  free(e->tracked[kind].ids[i]);
  e->tracked[kind].n--;
  memmove(e->tracked[kind].ids + i, e->tracked[kind].ids + i + 1,
          (e->tracked[kind].n - (size_t)i) * sizeof(char *));
}

size_t brr_engine_tracked(const brr_engine *e, brr_engine_kind kind) {
  return (unsigned)kind < BRR_ENGINE_KIND_COUNT ? e->tracked[kind].n : 0;
}

/* What to remove in one phase: the registry's entries plus what a label listing found. */
typedef struct idset {
  char **v;
  size_t n, cap;
} idset;

static void idset_add(idset *s, const char *id) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], id) == 0) return;
  char *copy = brr_xstrdup(id);
  BRR_VEC_PUSH(s->v, s->n, s->cap, copy);
}

static void idset_clear(idset *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  *s = (idset){0};
}

static void idset_add_listed(idset *s, brr_engine_kind kind, const cJSON *list) {
  const char *key = kind == BRR_ENGINE_VOLUME ? "Name" : "Id";
  const cJSON *it;
  cJSON_ArrayForEach(it, list) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, key);
    if (cJSON_IsString(id)) idset_add(s, id->valuestring);
  }
}

/* Image names go before image ids, so untagging never races the removal of the image. */
static bool is_image_id(const char *s) { return brr_startswith(s, "sha256:"); }

/* Images newest first: what was built on an image goes before it (and may take it along). */
static void idset_add_tracked(idset *s, const brr_engine *e, brr_engine_kind kind, int ids) {
  size_t n = e->tracked[kind].n;
  for (size_t i = 0; i < n; i++) {
    const char *id = e->tracked[kind].ids[kind == BRR_ENGINE_IMAGE ? n - 1 - i : i];
    if (ids < 0 || (ids > 0) == is_image_id(id)) idset_add(s, id);
  }
}

/* ---- asynchronous ------------------------------------------------------------------------------------ */

/* Phases: list, then remove, for containers, networks and volumes; then image names, then
 * image ids. */
static const struct {
  brr_engine_kind kind;
  bool list;
  int ids;   /* images: 0 names, 1 ids; -1 everything */
} PHASES[] = {
    {BRR_ENGINE_CONTAINER, true, -1}, {BRR_ENGINE_CONTAINER, false, -1},
    {BRR_ENGINE_NETWORK, true, -1},   {BRR_ENGINE_NETWORK, false, -1},
    {BRR_ENGINE_VOLUME, true, -1},    {BRR_ENGINE_VOLUME, false, -1},
    {BRR_ENGINE_IMAGE, false, 0},     {BRR_ENGINE_IMAGE, false, 1},
};

typedef struct cleanup_op {
  int phase;              /* index into PHASES, -1 before the first */
  idset found;            /* listed by label, for the next removal phase */
  idset queue;            /* images, removed one at a time: parents and children race */
  size_t queued;          /* how many of `queue` were started */
  idset later;            /* images other images of ours still build on: after them */
  bool progress;          /* an image went in this round, so `later` may go now */
  brr_engine_req **kids;  /* steps in flight */
  size_t nkids, capkids;
  int failed;
  brr_buf errors;
} cleanup_op;

static void cleanup_op_free(void *p) {
  cleanup_op *c = p;
  idset_clear(&c->found);
  idset_clear(&c->later);
  idset_clear(&c->queue);
  free(c->kids);
  brr_buf_free(&c->errors);
  free(c);
}

static void note_failure(cleanup_op *c, const char *fmt, ...) BRR_PRINTF(2, 3);
static void note_failure(cleanup_op *c, const char *fmt, ...) {
  if (c->failed++ >= 3) return;   /* the first few say enough */
  if (c->errors.len) brr_buf_puts(&c->errors, "; ");
  va_list ap;
  va_start(ap, fmt);
  brr_buf_vprintf(&c->errors, fmt, ap);
  va_end(ap);
}

static void kid(brr_engine_req *r, brr_engine_req *k) {
  cleanup_op *c = r->op;
  if (!k) return;
  brr_engine_req_attach(r, k);
  BRR_VEC_PUSH(c->kids, c->nkids, c->capkids, k);
}

static brr_engine_req *remove_one(brr_engine *e, brr_engine_kind kind, const char *id) {
  switch (kind) {
  case BRR_ENGINE_CONTAINER: return brr_engine_container_remove(e, id, true, true, NULL, NULL);
  case BRR_ENGINE_NETWORK: return brr_engine_network_remove(e, id, NULL, NULL);
  case BRR_ENGINE_VOLUME: return brr_engine_volume_remove(e, id, true, NULL, NULL);
  default: return brr_engine_image_remove(e, id, true, NULL, NULL);
  }
}

static void cleanup_end(brr_engine_req *r) {
  cleanup_op *c = r->op;
  r->status = 0;
  if (r->cancelled || r->e->freeing) brr_engine_req_error(r, BRR_ECANCELED, "cancelled");
  else if (c->failed)
    brr_engine_req_error(r, BRR_EFAILED, "%d object(s) left: %s", c->failed, c->errors.data);
  brr_engine_req_finish(r);
}

/* Start phases until one has steps in flight, or finish. */
static void cleanup_next(brr_engine_req *r) {
  cleanup_op *c = r->op;
  brr_engine *e = r->e;
  while (c->nkids == 0) {
    bool stop = r->cancelled || e->freeing;
    if (!stop && c->queued < c->queue.n) {
      kid(r, remove_one(e, BRR_ENGINE_IMAGE, c->queue.v[c->queued++]));
      continue;
    }
    if (!stop && c->later.n && c->progress) {
      /* children went first; their parents may go now */
      idset_clear(&c->queue);
      c->queue = c->later;
      c->queued = 0;
      c->later = (idset){0};
      c->progress = false;
      continue;
    }
    for (size_t i = 0; i < c->later.n; i++)
      note_failure(c, "remove image: %s still has dependent child images", c->later.v[i]);
    idset_clear(&c->later);
    if (r->cancelled || e->freeing || ++c->phase >= (int)BRR_ARRAY_LEN(PHASES)) {
      cleanup_end(r);
      return;
    }
    brr_engine_kind kind = PHASES[c->phase].kind;
    if (PHASES[c->phase].list) {
      kid(r, brr_engine_list(e, kind, NULL, NULL, NULL));
      continue;
    }
    idset todo = c->found;
    c->found = (idset){0};
    idset_add_tracked(&todo, e, kind, PHASES[c->phase].ids);
    if (kind == BRR_ENGINE_IMAGE) {
      idset_clear(&c->queue);
      c->queue = todo;
      c->queued = 0;
      continue;
    }
    for (size_t i = 0; i < todo.n; i++) kid(r, remove_one(e, kind, todo.v[i]));
    idset_clear(&todo);
  }
}

static void cleanup_step(brr_engine_req *r, brr_engine_req *child, const brr_engine_result *res) {
  cleanup_op *c = r->op;
  for (size_t i = 0; i < c->nkids; i++)
    if (c->kids[i] == child) {
      c->kids[i] = c->kids[--c->nkids];
      break;
    }
  if (PHASES[c->phase].list && res->status == 0) {
    idset_add_listed(&c->found, PHASES[c->phase].kind, res->json);
  } else if (PHASES[c->phase].kind == BRR_ENGINE_CONTAINER && res->http_status == 409 &&
             child->op && res->error && strstr(res->error, "already in progress")) {
    /* someone else's removal (e.g. of a cancelled cleanup) is under way: wait for it */
    kid(r, brr_engine_container_wait(r->e, child->op, "removed", NULL, NULL));
  } else if (PHASES[c->phase].kind == BRR_ENGINE_IMAGE && res->http_status == 409 &&
             child->op && res->error && strstr(res->error, "dependent child images")) {
    idset_add(&c->later, child->op);
  } else if (PHASES[c->phase].kind == BRR_ENGINE_IMAGE && child->op && res->error &&
             strstr(res->error, "unrecognized image ID")) {
    /* the engine lost it while we asked (removed along with a child): gone */
    brr_engine_untrack(r->e, BRR_ENGINE_IMAGE, child->op);
    c->progress = true;
  } else if (res->status && res->status != BRR_ENOENT && res->status != BRR_ECANCELED) {
    note_failure(c, "%s", res->error);
  } else if (PHASES[c->phase].kind == BRR_ENGINE_IMAGE) {
    c->progress = true;
  }
  if (c->nkids == 0) cleanup_next(r);
}

static void cleanup_cancel(brr_engine_req *r) {
  cleanup_op *c = r->op;
  /* each step ends with ECANCELED; the last one ends the cleanup */
  for (size_t i = 0; i < c->nkids; i++) brr_engine_cancel(c->kids[i]);
}

brr_engine_req *brr_engine_cleanup(brr_engine *e, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "clean up", cb, ud);
  if (e->freeing) return brr_engine_req_submit(r);
  cleanup_op *c = brr_xcalloc(1, sizeof *c);
  c->phase = -1;
  r->op = c;
  r->op_free = cleanup_op_free;
  r->child_done = cleanup_step;
  r->cancel_hook = cleanup_cancel;
  r->state = BRR_ST_CHILD;
  cleanup_next(r);
  return r;
}

/* ---- blocking --------------------------------------------------------------------------------------- */

/* The last resort runs every call of a phase at once, each on a connection of its own, from
 * one curl multi handle: the engine removes hundreds of containers in parallel far faster
 * than one after the other, and a removal it has received goes on even when brr leaves
 * before the answer. Under a time budget the phases end at their deadline. */

#define SYNC_MAX_PARALLEL 512   /* connections at once (the engine's accept backlog is larger) */

typedef struct sync_call {
  CURL *c;
  brr_buf out;
  long status;            /* HTTP status; 0 while (or when) no answer came */
  brr_engine_kind kind;
  char *id;               /* removals: what goes */
  char *owner;            /* the sweep of killed runs: the owner label, for the report */
} sync_call;

typedef struct sync_batch {
  sync_call *v;
  size_t n, cap;
} sync_batch;

static uint64_t sync_now_ms(void) { return uv_hrtime() / 1000000; }

/* Queue one call; nothing is sent before sync_batch_run. */
static void sync_add(sync_batch *b, const brr_engine *e, const char *api, const char *method,
                     const char *path, const char *const *query, brr_engine_kind kind,
                     const char *id) {
  char *url = brr_engine_url(e->base_url, api, path, query);
  if (!url) return;
  CURL *c = curl_easy_init();
  if (!c) abort();
  sync_call call = {.c = c, .out = BRR_BUF_INIT, .kind = kind, .id = id ? brr_xstrdup(id) : NULL};
  BRR_VEC_PUSH(b->v, b->n, b->cap, call);
  brr_engine_curl_setup(e, c);  /* the socket, TLS or the ssh relay, as every call */
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, brr_engine_curl_to_buf);
  free(url);
}

/* Run every queued call at once until all answered or `deadline_ms` (0: none) passes. The
 * write targets are set here: the vector no longer moves. */
static void sync_batch_run(sync_batch *b, uint64_t deadline_ms) {
  if (b->n == 0) return;
  CURLM *m = curl_multi_init();
  if (!m) abort();
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)SYNC_MAX_PARALLEL);
  for (size_t i = 0; i < b->n; i++) {
    curl_easy_setopt(b->v[i].c, CURLOPT_WRITEDATA, &b->v[i].out);
    curl_easy_setopt(b->v[i].c, CURLOPT_PRIVATE, &b->v[i]);
    curl_multi_add_handle(m, b->v[i].c);
  }
  int running = 1;
  while (running > 0) {
    if (curl_multi_perform(m, &running) != CURLM_OK) break;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE) continue;
      sync_call *call = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
      if (call && msg->data.result == CURLE_OK)
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &call->status);
    }
    if (running == 0) break;
    int wait_ms = 100;
    if (deadline_ms) {
      uint64_t now = sync_now_ms();
      if (now >= deadline_ms) break;
      if (deadline_ms - now < (uint64_t)wait_ms) wait_ms = (int)(deadline_ms - now);
    }
    curl_multi_poll(m, NULL, 0, wait_ms, NULL);
  }
  for (size_t i = 0; i < b->n; i++) curl_multi_remove_handle(m, b->v[i].c);
  curl_multi_cleanup(m);
}

static void sync_batch_free(sync_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    curl_easy_cleanup(b->v[i].c);
    brr_buf_free(&b->v[i].out);
    free(b->v[i].id);
    free(b->v[i].owner);
  }
  free(b->v);
  *b = (sync_batch){0};
}

static const char *const SYNC_PREFIX[] = {"/containers/", "/networks/", "/volumes/", "/images/"};

static void sync_add_removal(sync_batch *b, const brr_engine *e, const char *api,
                             brr_engine_kind kind, const char *id) {
  static const char *const force_v[] = {"force", "1", "v", "1", NULL};
  static const char *const force[] = {"force", "1", NULL};
  /* never the parents: an unnamed layer brr did not make may be someone's cache */
  static const char *const image_q[] = {"force", "1", "noprune", "1", NULL};
  if (!brr_engine_name_ok(id)) return;
  char *path = brr_xasprintf("%s%s", SYNC_PREFIX[kind], id);
  sync_add(b, e, api, "DELETE", path,
           kind == BRR_ENGINE_CONTAINER ? force_v
           : kind == BRR_ENGINE_NETWORK ? NULL
           : kind == BRR_ENGINE_IMAGE   ? image_q : force,
           kind, id);
  free(path);
}

/* Removals answered 2xx or 404 are gone (and untracked); the others go to `rest`. */
static void sync_removals_settle(sync_batch *b, brr_engine *e, idset *rest) {
  for (size_t i = 0; i < b->n; i++) {
    const sync_call *call = &b->v[i];
    bool gone = (call->status >= 200 && call->status < 300) || call->status == 404;
    if (gone) brr_engine_untrack(e, call->kind, call->id);
    else idset_add(rest, call->id);
  }
}

static void sync_list_parse(const sync_call *call, idset *s) {
  if (call->status != 200) return;
  cJSON *j = cJSON_ParseWithLength(call->out.data ? call->out.data : "", call->out.data ? call->out.len : 0);
  const cJSON *list = call->kind == BRR_ENGINE_VOLUME ? cJSON_GetObjectItemCaseSensitive(j, "Volumes")
                                                      : j;
  idset_add_listed(s, call->kind, list);
  cJSON_Delete(j);
}

/* The API version to use: the negotiated one, else asked now. Heap string or NULL. */
static char *sync_api(brr_engine *e, uint64_t deadline_ms) {
  if (e->api) return brr_xstrdup(e->api);
  sync_batch b = {0};
  sync_add(&b, e, NULL, "GET", "/version", NULL, BRR_ENGINE_KIND_COUNT, NULL);
  sync_batch_run(&b, deadline_ms);
  char *api = NULL;
  if (b.n && b.v[0].status == 200) {
    cJSON *j = cJSON_ParseWithLength(brr_buf_cstr(&b.v[0].out), b.v[0].out.len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "ApiVersion");
    if (cJSON_IsString(v))
      api = brr_xstrdup(brr_engine_version_cmp(v->valuestring, e->api_max) < 0 ? v->valuestring
                                                                               : e->api_max);
    cJSON_Delete(j);
  }
  sync_batch_free(&b);
  return api;
}

int brr_engine_cleanup_sync(brr_engine *e) { return brr_engine_cleanup_sync_within(e, 0); }

int brr_engine_cleanup_sync_within(brr_engine *e, unsigned budget_ms) {
  uint64_t start = sync_now_ms();
  uint64_t deadline = budget_ms ? start + budget_ms : 0;
  /* containers first, with most of the budget: networks and volumes go only once their
   * containers are gone */
  uint64_t containers_deadline = budget_ms ? start + budget_ms * 7 / 10 : 0;
  char *api = sync_api(e, containers_deadline);
  idset todo[BRR_ENGINE_KIND_COUNT] = {{0}};
  if (api) {
    sync_batch lists = {0};
    char *filter = brr_engine_label_filter(e, NULL);
    for (int k = BRR_ENGINE_CONTAINER; k <= BRR_ENGINE_VOLUME; k++) {
      const char *q[] = {"filters", filter, k == BRR_ENGINE_CONTAINER ? "all" : NULL, "1", NULL};
      sync_add(&lists, e, api, "GET", brr_engine_list_path((brr_engine_kind)k), q,
               (brr_engine_kind)k, NULL);
    }
    free(filter);
    sync_batch_run(&lists, containers_deadline);
    for (size_t i = 0; i < lists.n; i++) sync_list_parse(&lists.v[i], &todo[lists.v[i].kind]);
    sync_batch_free(&lists);
  }
  int left = 0;
  for (int k = 0; k < BRR_ENGINE_KIND_COUNT; k++)
    idset_add_tracked(&todo[k], e, (brr_engine_kind)k, k == BRR_ENGINE_IMAGE ? 0 : -1);
  idset image_ids = {0};
  idset_add_tracked(&image_ids, e, BRR_ENGINE_IMAGE, 1);
  /* phase 1: every container at once; phase 2: networks, volumes and image names at once;
   * then image ids, again while a round removes something (children before parents) */
  static const int phase_kinds[2][3] = {
      {BRR_ENGINE_CONTAINER, -1, -1},
      {BRR_ENGINE_NETWORK, BRR_ENGINE_VOLUME, BRR_ENGINE_IMAGE},
  };
  for (int p = 0; p < 2; p++) {
    sync_batch b = {0};
    for (int j = 0; j < 3 && phase_kinds[p][j] >= 0; j++) {
      idset *s = &todo[phase_kinds[p][j]];
      for (size_t i = 0; api && i < s->n; i++)
        sync_add_removal(&b, e, api, (brr_engine_kind)phase_kinds[p][j], s->v[i]);
      if (!api) left += (int)s->n;
      idset_clear(s);
    }
    sync_batch_run(&b, p == 0 ? containers_deadline : deadline);
    idset rest = {0};
    sync_removals_settle(&b, e, &rest);
    left += (int)rest.n;
    idset_clear(&rest);
    sync_batch_free(&b);
  }
  size_t before;
  do {
    before = image_ids.n;
    if (!api || (deadline && sync_now_ms() >= deadline)) break;
    sync_batch b = {0};
    for (size_t i = 0; i < image_ids.n; i++)
      sync_add_removal(&b, e, api, BRR_ENGINE_IMAGE, image_ids.v[i]);
    sync_batch_run(&b, deadline);
    idset rest = {0};
    sync_removals_settle(&b, e, &rest);
    sync_batch_free(&b);
    idset_clear(&image_ids);
    image_ids = rest;
  } while (image_ids.n && image_ids.n < before);
  left += (int)image_ids.n;
  idset_clear(&image_ids);
  free(api);
  return left;
}

/* ---- what killed runs left ------------------------------------------------------------------------ */

/* The label value `key` of a listed object, or NULL. */
static const char *listed_label(const cJSON *it, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, "Labels"), key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int brr_engine_sweep_stale(brr_engine *e, brr_engine_sweep_cb cb, void *ud, char **error) {
  *error = NULL;
  char *api = sync_api(e, 0);
  int removed = 0;
  /* containers first (with their anonymous volumes): they hold the images, networks and
   * volumes; images: the per-run source image (brr_engine_image_import_own) */
  static const brr_engine_kind kinds[] = {BRR_ENGINE_CONTAINER, BRR_ENGINE_IMAGE, BRR_ENGINE_NETWORK,
                                          BRR_ENGINE_VOLUME};
  const char *filter = "{\"label\":[\"" BRR_ENGINE_LABEL_OWNER "\",\"" BRR_ENGINE_LABEL_MANAGED "=1\"]}";
  /* images: only brr's scratch images (a committed image carries its container's labels) */
  const char *image_filter = "{\"label\":[\"" BRR_ENGINE_LABEL_OWNER "\",\"" BRR_ENGINE_LABEL_MANAGED
                             "=1\",\"" BRR_ENGINE_LABEL_SCRATCH "=1\"]}";
  for (size_t k = 0; api && k < BRR_ARRAY_LEN(kinds) && !*error; k++) {
    brr_engine_kind kind = kinds[k];
    const char *q[] = {"filters", kind == BRR_ENGINE_IMAGE ? image_filter : filter,
                       kind == BRR_ENGINE_CONTAINER ? "all" : NULL, "1", NULL};
    sync_batch list = {0};
    sync_add(&list, e, api, "GET", brr_engine_list_path(kind), q, kind, NULL);
    sync_batch_run(&list, 0);
    long st = list.n ? list.v[0].status : 0;
    cJSON *j = st == 200 ? cJSON_ParseWithLength(brr_buf_cstr(&list.v[0].out), list.v[0].out.len) : NULL;
    sync_batch_free(&list);
    if (!j) {
      *error = brr_xasprintf("listing %s: HTTP %ld", brr_engine_list_path(kind), st);
      break;
    }
    const cJSON *objs = kind == BRR_ENGINE_VOLUME ? cJSON_GetObjectItemCaseSensitive(j, "Volumes") : j;
    const cJSON *it;
    sync_batch b = {0};
    cJSON_ArrayForEach(it, objs) {
      const char *owner = listed_label(it, BRR_ENGINE_LABEL_OWNER);
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, kind == BRR_ENGINE_VOLUME ? "Name" : "Id");
      /* only brr's own objects, and only when their process is gone from this host */
      if (!cJSON_IsString(id) || !brr_streq(listed_label(it, BRR_ENGINE_LABEL_MANAGED), "1") ||
          brr_owner_check(owner) != BRR_OWNER_GONE ||
          (kind == BRR_ENGINE_IMAGE && !brr_streq(listed_label(it, BRR_ENGINE_LABEL_SCRATCH), "1")))
        continue;
      size_t before = b.n;
      sync_add_removal(&b, e, api, kind, id->valuestring);
      if (b.n > before) b.v[b.n - 1].owner = brr_xstrdup(owner);  /* for the report */
    }
    cJSON_Delete(j);
    sync_batch_run(&b, 0);
    for (size_t i = 0; i < b.n; i++) {
      const sync_call *call = &b.v[i];
      bool gone = (call->status >= 200 && call->status < 300) || call->status == 404;
      if (gone) removed++;
      if (cb)
        cb(ud, call->kind, call->id, call->owner,
           gone ? NULL : call->status ? brr_buf_cstr((brr_buf *)&call->out) : "no answer");
    }
    sync_batch_free(&b);
  }
  if (!api && !*error) *error = brr_xasprintf("the Docker engine at %s did not answer", e->host);
  free(api);
  return *error ? -1 : removed;
}
