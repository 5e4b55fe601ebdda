/* Image operations: pull (single-flight), push, tag, remove, inspect, build and import. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- pull: one HTTP pull per (reference, platform, credentials) in flight --------------------- */

struct brr_flight {
  brr_flight *next;
  char *key;
  brr_engine_req *op;        /* the HTTP pull; completion goes to flight_done */
  brr_engine_req **w;        /* callers waiting for it */
  size_t n, cap;
  bool orphan;               /* every caller left: no longer joinable */
};

static void flight_unlink(brr_engine *e, brr_flight *f) {
  if (f->orphan) return;
  for (brr_flight **p = &e->flights; *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      break;
    }
  f->orphan = true;
}

static void flight_free(brr_flight *f) {
  free(f->key);
  free(f->w);
  free(f);
}

void brr_engine_flights_free(brr_engine *e) {
  while (e->flights) {
    brr_flight *f = e->flights;
    e->flights = f->next;
    flight_free(f);
  }
}

static void flight_progress(void *ud, const brr_engine_progress *p) {
  brr_flight *f = ud;
  brr_engine *e = f->op->e;
  for (size_t i = 0; i < f->n && !e->freeing; i++) {
    brr_engine_req *w = f->w[i];
    if (w->state == BRR_ST_WAITER && !w->cancelled && w->on_progress)
      w->on_progress(w->sink_ud, p);
  }
}

static void flight_done(void *ud, const brr_engine_result *res) {
  brr_flight *f = ud;
  flight_unlink(f->op->e, f);
  brr_engine_req **w = f->w;
  size_t n = f->n;
  f->w = NULL;
  f->n = f->cap = 0;
  for (size_t i = 0; i < n; i++) {
    if (w[i]->state != BRR_ST_WAITER) continue;
    brr_engine_req_take_result(w[i], res);
    brr_engine_req_finish(w[i]);
  }
  free(w);
  flight_free(f);
}

static void waiter_cancel(brr_engine_req *r) {
  brr_flight *f = r->op;
  for (size_t i = 0; i < f->n; i++)
    if (f->w[i] == r) {
      memmove(f->w + i, f->w + i + 1, (f->n - i - 1) * sizeof *f->w);
      f->n--;
      break;
    }
  r->op = NULL;
  brr_engine_req_error(r, BRR_ECANCELED, "cancelled");
  brr_engine_req_finish_later(r);
  if (f->n == 0) {
    /* nobody wants it any more: stop it, and let a later pull start afresh */
    flight_unlink(r->e, f);
    brr_engine_cancel(f->op);
  }
}

static brr_flight *flight_start(brr_engine *e, const char *key, const char *repo,
                                const char *tag, const char *platform,
                                const brr_engine_auth *auth) {
  brr_flight *f = brr_xcalloc(1, sizeof *f);
  f->key = brr_xstrdup(key);
  brr_engine_req *op = brr_engine_req_new(e, "pull image", flight_done, f);
  brr_engine_req_http(op, "POST", BRR_TO_TRANSFER, BRR_BODY_JSONL, "/images/create");
  brr_engine_req_query(op, "fromImage", repo);
  brr_engine_req_query(op, "tag", tag);
  brr_engine_req_query(op, "platform", platform);
  char *a = brr_engine_auth_encode(auth);
  brr_engine_req_header(op, "X-Registry-Auth: %s", a);
  free(a);
  op->on_progress = flight_progress;
  f->op = op;
  f->next = e->flights;
  e->flights = f;
  e->stats.pulls_started++;
  brr_engine_req_submit(op);
  return f;
}

brr_engine_req *brr_engine_image_pull(brr_engine *e, const char *ref, const char *platform,
                                      const brr_engine_auth *auth,
                                      brr_engine_progress_cb on_progress, brr_engine_cb cb,
                                      void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "pull image", cb, ud);
  char *repo = NULL, *tag = NULL;
  if (brr_engine_ref_split(ref, &repo, &tag) || !brr_engine_name_ok(repo))
    brr_engine_req_error(r, BRR_EINVAL, "bad image reference '%s'", ref ? ref : "(null)");
  if (r->status || e->freeing) {
    free(repo);
    free(tag);
    return brr_engine_req_submit(r);
  }
  cJSON *aj = brr_engine_auth_json(auth);
  char *as = cJSON_PrintUnformatted(aj);
  cJSON_Delete(aj);
  char *key = brr_xasprintf("%s:%s|%s|%s", repo, tag, platform ? platform : "", as);
  cJSON_free(as);
  brr_flight *f = e->flights;
  while (f && strcmp(f->key, key) != 0) f = f->next;
  if (f) e->stats.pulls_joined++;
  else f = flight_start(e, key, repo, tag, platform, auth);
  free(key);
  free(repo);
  free(tag);
  BRR_VEC_PUSH(f->w, f->n, f->cap, r);
  r->op = f;   /* not owned: no op_free */
  r->on_progress = on_progress;
  r->cancel_hook = waiter_cancel;
  r->state = BRR_ST_WAITER;
  return r;
}

/* ---- push, tag, remove, inspect ----------------------------------------------------------------- */

brr_engine_req *brr_engine_image_push(brr_engine *e, const char *ref,
                                      const brr_engine_auth *auth,
                                      brr_engine_progress_cb on_progress, brr_engine_cb cb,
                                      void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "push image", cb, ud);
  char *repo = NULL, *tag = NULL;
  if (brr_engine_ref_split(ref, &repo, &tag) || !brr_engine_name_ok(repo))
    brr_engine_req_error(r, BRR_EINVAL, "bad image reference '%s'", ref ? ref : "(null)");
  brr_engine_req_http(r, "POST", BRR_TO_TRANSFER, BRR_BODY_JSONL, "/images/%s/push",
                      repo ? repo : "");
  brr_engine_req_query(r, "tag", tag);
  char *a = brr_engine_auth_encode(auth);
  brr_engine_req_header(r, "X-Registry-Auth: %s", a);
  free(a);
  free(repo);
  free(tag);
  r->on_progress = on_progress;
  return brr_engine_req_submit(r);
}

static void tagged(brr_engine_req *r) {
  if (!r->status) brr_engine_track(r->e, BRR_ENGINE_IMAGE, r->op);
}

brr_engine_req *brr_engine_image_tag(brr_engine *e, const char *src, const char *target,
                                     brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "tag image", cb, ud);
  char *repo = NULL, *tag = NULL;
  if (!brr_engine_name_ok(src))
    brr_engine_req_error(r, BRR_EINVAL, "bad image '%s'", src ? src : "(null)");
  if (brr_engine_ref_split(target, &repo, &tag) || strchr(tag, ':'))
    brr_engine_req_error(r, BRR_EINVAL, "bad target name '%s' (a tag, not a digest)",
                         target ? target : "(null)");
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/images/%s/tag", src ? src : "");
  brr_engine_req_query(r, "repo", repo);
  brr_engine_req_query(r, "tag", tag);
  if (repo) r->op = brr_xasprintf("%s:%s", repo, tag);
  r->op_free = free;
  r->post = tagged;
  free(repo);
  free(tag);
  return brr_engine_req_submit(r);
}

static void image_removed(brr_engine_req *r) {
  if (r->status == 0 || r->status == BRR_ENOENT) brr_engine_untrack(r->e, BRR_ENGINE_IMAGE, r->op);
}

brr_engine_req *brr_engine_image_remove(brr_engine *e, const char *ref, bool force,
                                        brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "remove image", cb, ud);
  if (!brr_engine_name_ok(ref))
    brr_engine_req_error(r, BRR_EINVAL, "bad image '%s'", ref ? ref : "(null)");
  brr_engine_req_http(r, "DELETE", BRR_TO_CALL, BRR_BODY_JSON, "/images/%s", ref ? ref : "");
  brr_engine_req_query(r, "force", force ? "1" : "0");
  /* an untagged parent may be someone else's image (a cache layer): never pruned */
  brr_engine_req_query(r, "noprune", "1");
  r->op = brr_xstrdup(ref ? ref : "");
  r->op_free = free;
  r->post = image_removed;
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_image_inspect(brr_engine *e, const char *ref, brr_engine_cb cb,
                                         void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "inspect image", cb, ud);
  if (!brr_engine_name_ok(ref))
    brr_engine_req_error(r, BRR_EINVAL, "bad image '%s'", ref ? ref : "(null)");
  brr_engine_req_http(r, "GET", BRR_TO_CALL, BRR_BODY_JSON, "/images/%s/json", ref ? ref : "");
  return brr_engine_req_submit(r);
}

/* ---- build and import ---------------------------------------------------------------------------- */

static void built(brr_engine_req *r) {
  if (r->status) return;
  if (!r->id) brr_engine_req_error(r, BRR_EIO, "the engine reported no image id");
  else brr_engine_track(r->e, BRR_ENGINE_IMAGE, r->id);
}

static void add_json_query(brr_engine_req *r, const char *key, cJSON *j) {
  char *s = cJSON_PrintUnformatted(j);
  brr_engine_req_query(r, key, s);
  cJSON_free(s);
  cJSON_Delete(j);
}

static void build_query(brr_engine_req *r, const brr_engine_build_opts *o) {
  brr_engine_req_query(r, "t", o->tag);
  brr_engine_req_query(r, "dockerfile", o->dockerfile);
  brr_engine_req_query(r, "target", o->target);
  brr_engine_req_query(r, "platform", o->platform);
  brr_engine_req_query(r, "nocache", o->nocache ? "1" : "0");
  brr_engine_req_query(r, "pull", o->pull ? "1" : "0");
  /* intermediate containers go even when a step fails: nothing is left behind */
  brr_engine_req_query(r, "rm", "1");
  brr_engine_req_query(r, "forcerm", "1");
  cJSON *args = cJSON_CreateObject();
  if (!brr_engine_kv_into(args, o->buildargs, true))
    brr_engine_req_error(r, BRR_EINVAL, "a build arg has no name");
  add_json_query(r, "buildargs", args);
  /* only labels the caller names: the legacy builder turns them into a LABEL step, which
   * would give every build a new image id */
  if (o->labels) {
    cJSON *labels = cJSON_CreateObject();
    if (!brr_engine_kv_into(labels, o->labels, false))
      brr_engine_req_error(r, BRR_EINVAL, "a label has no name");
    add_json_query(r, "labels", labels);
  }
  if (o->cache_from) add_json_query(r, "cachefrom", brr_engine_strv_json(o->cache_from));
  if (o->n_auths) {
    cJSON *cfg = cJSON_CreateObject();
    for (size_t i = 0; i < o->n_auths; i++) {
      const char *host = o->auths[i].serveraddress;
      if (!host) {
        brr_engine_req_error(r, BRR_EINVAL, "build credentials need a serveraddress");
        continue;
      }
      cJSON_AddItemToObject(cfg, host, brr_engine_auth_json(&o->auths[i]));
    }
    char *b = brr_engine_json_b64(cfg);
    brr_engine_req_header(r, "X-Registry-Config: %s", b);
    free(b);
    cJSON_Delete(cfg);
  }
}

brr_engine_req *brr_engine_image_build(brr_engine *e, const brr_engine_build_opts *o,
                                       const brr_engine_body *context,
                                       brr_engine_progress_cb on_progress, brr_engine_cb cb,
                                       void *ud) {
  static const brr_engine_build_opts none = {0};
  if (!o) o = &none;
  brr_engine_req *r = brr_engine_req_new(e, "build image", cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_STREAM, BRR_BODY_JSONL, "/build");
  build_query(r, o);
  if (!brr_engine_body_ok(context)) {
    brr_engine_req_error(r, BRR_EINVAL, "the context needs exactly one of data, path or read");
  } else {
    r->body = *context;
    r->has_body = true;
  }
  brr_engine_req_header(r, "Content-Type: application/x-tar");
  r->on_progress = on_progress;
  r->post = built;
  return brr_engine_req_submit(r);
}

static void imported(brr_engine_req *r) {
  if (r->status) return;
  if (!r->id) brr_engine_req_error(r, BRR_EIO, "the engine reported no image id");
  else brr_engine_track(r->e, BRR_ENGINE_IMAGE, r->id);
}

/* `LABEL "k"="v" ...` of the client's labels and brr.scratch=1, for an import's `changes`. */
static char *label_change(const brr_engine *e) {
  brr_buf b = {0};
  brr_buf_puts(&b, "LABEL");
  for (size_t i = 0; i < e->nlabels; i++) {
    const char *kv = e->labels[i], *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    brr_buf_puts(&b, " \"");
    for (size_t k = 0; kv[k]; k++) {
      if (k == klen) {
        brr_buf_puts(&b, "\"=\"");
        continue;
      }
      if (kv[k] == '"' || kv[k] == '\\') brr_buf_putc(&b, '\\');
      brr_buf_putc(&b, kv[k]);
    }
    if (!eq) brr_buf_puts(&b, "\"=\"");
    brr_buf_putc(&b, '"');
  }
  brr_buf_puts(&b, " \"" BRR_ENGINE_LABEL_SCRATCH "\"=\"1\"");
  return brr_buf_detach(&b);
}

static brr_engine_req *import(brr_engine *e, const brr_engine_body *tar, const char *ref,
                              bool own, brr_engine_progress_cb on_progress, brr_engine_cb cb,
                              void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "import image", cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_TRANSFER, BRR_BODY_JSONL, "/images/create");
  brr_engine_req_query(r, "fromSrc", "-");
  if (own) {
    char *change = label_change(e);
    brr_engine_req_query(r, "changes", change);
    free(change);
  }
  if (ref) {
    char *repo = NULL, *tag = NULL;
    if (brr_engine_ref_split(ref, &repo, &tag) || strchr(tag, ':'))
      brr_engine_req_error(r, BRR_EINVAL, "bad image name '%s'", ref);
    brr_engine_req_query(r, "repo", repo);
    brr_engine_req_query(r, "tag", tag);
    free(repo);
    free(tag);
  }
  if (!brr_engine_body_ok(tar)) {
    brr_engine_req_error(r, BRR_EINVAL, "the tar needs exactly one of data, path or read");
  } else {
    r->body = *tar;
    r->has_body = true;
  }
  brr_engine_req_header(r, "Content-Type: application/x-tar");
  r->on_progress = on_progress;
  r->id_from_status = true;
  r->post = imported;
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_image_import(brr_engine *e, const brr_engine_body *tar,
                                        const char *ref, brr_engine_progress_cb on_progress,
                                        brr_engine_cb cb, void *ud) {
  return import(e, tar, ref, false, on_progress, cb, ud);
}

brr_engine_req *brr_engine_image_import_own(brr_engine *e, const brr_engine_body *tar,
                                            const char *ref, brr_engine_cb cb, void *ud) {
  return import(e, tar, ref, true, NULL, cb, ud);
}

/* ---- moving an image between engines ------------------------------------------------------ */

brr_engine_req *brr_engine_image_save(brr_engine *e, const char *name, brr_engine_data_cb on_data,
                                      brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "save image", cb, ud);
  if (!name || !*name) brr_engine_req_error(r, BRR_EINVAL, "no image name given");
  brr_engine_req_http(r, "GET", BRR_TO_TRANSFER, BRR_BODY_DATA, "/images/%s/get", name && *name ? name : "x");
  if (!on_data) brr_engine_req_error(r, BRR_EINVAL, "no data callback given");
  r->on_data = on_data;
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_image_load(brr_engine *e, const brr_engine_body *body, brr_engine_cb cb,
                                      void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "load image", cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_TRANSFER, BRR_BODY_JSONL, "/images/load");
  brr_engine_req_query(r, "quiet", "1");
  if (!brr_engine_body_ok(body)) {
    brr_engine_req_error(r, BRR_EINVAL, "the tar needs exactly one of data, path or read");
  } else {
    r->body = *body;
    r->has_body = true;
  }
  brr_engine_req_header(r, "Content-Type: application/x-tar");
  return brr_engine_req_submit(r);
}
