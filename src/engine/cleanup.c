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

static size_t sync_write(char *p, size_t sz, size_t n, void *ud) {
  brr_buf_append(ud, p, sz * n);
  return sz * n;
}

/* One blocking call; returns the HTTP status, or 0 when no answer came. */
static long sync_call(CURL *c, const brr_engine *e, const char *api, const char *method,
                      const char *path, const char *const *query, brr_buf *out) {
  char *url = brr_engine_url(e->base_url, api, path, query);
  if (!url) return 0;
  brr_buf_reset(out);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sync_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  free(url);
  return status;
}

static int sync_remove(CURL *c, brr_engine *e, const char *api, brr_engine_kind kind,
                       const char *id, brr_buf *out) {
  static const char *const force_v[] = {"force", "1", "v", "1", NULL};
  static const char *const force[] = {"force", "1", NULL};
  static const char *const image_q[] = {"force", "1", "noprune", "1", NULL};
  static const char *const prefix[] = {"/containers/", "/networks/", "/volumes/", "/images/"};
  if (!brr_engine_name_ok(id)) return 1;
  char *path = brr_xasprintf("%s%s", prefix[kind], id);
  long st = sync_call(c, e, api, "DELETE", path,
                      kind == BRR_ENGINE_CONTAINER ? force_v
                      : kind == BRR_ENGINE_NETWORK ? NULL
                      : kind == BRR_ENGINE_IMAGE   ? image_q : force, out);
  free(path);
  bool gone = (st >= 200 && st < 300) || st == 404;
  if (gone) brr_engine_untrack(e, kind, id);
  return gone ? 0 : 1;
}

static void sync_list(CURL *c, const brr_engine *e, const char *api, brr_engine_kind kind,
                      idset *s, brr_buf *out) {
  char *filter = brr_engine_label_filter(e, NULL);
  const char *q[] = {"filters", filter, kind == BRR_ENGINE_CONTAINER ? "all" : NULL, "1", NULL};
  if (sync_call(c, e, api, "GET", brr_engine_list_path(kind), q, out) == 200) {
    cJSON *j = cJSON_ParseWithLength(brr_buf_cstr(out), out->len);
    const cJSON *list = kind == BRR_ENGINE_VOLUME ? cJSON_GetObjectItemCaseSensitive(j, "Volumes")
                                                  : j;
    idset_add_listed(s, kind, list);
    cJSON_Delete(j);
  }
  free(filter);
}

/* A blocking handle on the engine and the API version to use (NULL when the engine did not
 * answer). */
static CURL *sync_open(brr_engine *e, brr_buf *out, char **api) {
  CURL *c = curl_easy_init();
  if (!c) abort();
  brr_engine_curl_setup(e, c);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  *api = e->api ? brr_xstrdup(e->api) : NULL;
  if (!*api && sync_call(c, e, NULL, "GET", "/version", NULL, out) == 200) {
    cJSON *j = cJSON_ParseWithLength(brr_buf_cstr(out), out->len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "ApiVersion");
    if (cJSON_IsString(v))
      *api = brr_xstrdup(brr_engine_version_cmp(v->valuestring, e->api_max) < 0 ? v->valuestring
                                                                                : e->api_max);
    cJSON_Delete(j);
  }
  return c;
}

int brr_engine_cleanup_sync(brr_engine *e) {
  brr_buf out = BRR_BUF_INIT;
  char *api = NULL;
  CURL *c = sync_open(e, &out, &api);
  int left = 0;
  for (size_t p = 0; p < BRR_ARRAY_LEN(PHASES); p++) {
    if (PHASES[p].list) continue;
    brr_engine_kind kind = PHASES[p].kind;
    idset todo = {0};
    if (api && kind != BRR_ENGINE_IMAGE) sync_list(c, e, api, kind, &todo, &out);
    idset_add_tracked(&todo, e, kind, PHASES[p].ids);
    /* images another of ours builds on fail until that one is gone: go round again while
     * a round removes something */
    size_t before;
    do {
      before = todo.n;
      idset rest = {0};
      for (size_t i = 0; i < todo.n; i++)
        if (!api || sync_remove(c, e, api, kind, todo.v[i], &out)) idset_add(&rest, todo.v[i]);
      idset_clear(&todo);
      todo = rest;
    } while (kind == BRR_ENGINE_IMAGE && todo.n && todo.n < before);
    left += (int)todo.n;
    idset_clear(&todo);
  }
  free(api);
  brr_buf_free(&out);
  curl_easy_cleanup(c);
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
  brr_buf out = BRR_BUF_INIT;
  char *api = NULL;
  CURL *c = sync_open(e, &out, &api);
  int removed = 0;
  /* containers first (with their anonymous volumes): they hold the networks and volumes */
  static const brr_engine_kind kinds[] = {BRR_ENGINE_CONTAINER, BRR_ENGINE_NETWORK, BRR_ENGINE_VOLUME};
  const char *filter = "{\"label\":[\"" BRR_ENGINE_LABEL_OWNER "\",\"" BRR_ENGINE_LABEL_MANAGED "=1\"]}";
  for (size_t k = 0; api && k < BRR_ARRAY_LEN(kinds) && !*error; k++) {
    brr_engine_kind kind = kinds[k];
    const char *q[] = {"filters", filter, kind == BRR_ENGINE_CONTAINER ? "all" : NULL, "1", NULL};
    long st = sync_call(c, e, api, "GET", brr_engine_list_path(kind), q, &out);
    cJSON *j = st == 200 ? cJSON_ParseWithLength(brr_buf_cstr(&out), out.len) : NULL;
    if (!j) {
      *error = brr_xasprintf("listing %s: HTTP %ld", brr_engine_list_path(kind), st);
      break;
    }
    const cJSON *list = kind == BRR_ENGINE_VOLUME ? cJSON_GetObjectItemCaseSensitive(j, "Volumes") : j;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
      const char *owner = listed_label(it, BRR_ENGINE_LABEL_OWNER);
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, kind == BRR_ENGINE_VOLUME ? "Name" : "Id");
      /* only brr's own objects, and only when their process is gone from this host */
      if (!cJSON_IsString(id) || !brr_streq(listed_label(it, BRR_ENGINE_LABEL_MANAGED), "1") ||
          brr_owner_check(owner) != BRR_OWNER_GONE)
        continue;
      int failed = sync_remove(c, e, api, kind, id->valuestring, &out);
      if (!failed) removed++;
      if (cb) cb(ud, kind, id->valuestring, owner, failed ? brr_buf_cstr(&out) : NULL);
    }
    cJSON_Delete(j);
  }
  if (!api && !*error) *error = brr_xasprintf("the Docker engine at %s did not answer", e->host);
  free(api);
  brr_buf_free(&out);
  curl_easy_cleanup(c);
  return *error ? -1 : removed;
}
