/* The Engine API client's core: the client, API version negotiation, and the request
 * machinery every operation is built on (queueing until the version is known, the HTTP
 * call, decoding the answer, errors, cancellation, deferred completion). The operations
 * themselves live in containers.c, images.c, objects.c and cleanup.c. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "internal.h"

static void launch(brr_engine_req *r);

/* ---- frames and memory -------------------------------------------------------------------- */

static void req_free(brr_engine_req *r) {
  free(r->path);
  for (size_t i = 0; i < r->nquery; i++) free(r->query[i]);
  free(r->query);
  for (size_t i = 0; i < r->nheaders; i++) free(r->headers[i]);
  free(r->headers);
  free(r->json_body);
  brr_buf_free(&r->resp);
  brr_engine_jsonl_free(&r->jl);
  brr_engine_mux_free(&r->mux);
  free(r->stream_error);
  free(r->error);
  free(r->id);
  free(r->digest);
  cJSON_Delete(r->json);
  if (r->op_free) r->op_free(r->op);
  free(r);
}

static void handle_closed(uv_handle_t *h) {
  brr_engine *e = h->data;
  if (h != (uv_handle_t *)&e->defer) free(h);
  if (--e->open_handles == 0 && e->destroyed) free(e);
}

static void destroy(brr_engine *e) {
  e->destroyed = true;
  brr_engine_flights_free(e);
  free(e->host);
  free(e->source);
  free(e->base_url);
  free(e->unix_path);
  free(e->tls_ca);
  free(e->tls_cert);
  free(e->tls_key);
  brr_engine_ssh_stop(e->ssh);
  free(e->api_max);
  free(e->api);
  cJSON_Delete(e->version_json);
  free(e->run_id);
  for (size_t i = 0; i < e->nlabels; i++) free(e->labels[i]);
  free(e->labels);
  for (int k = 0; k < BRR_ENGINE_KIND_COUNT; k++) {
    for (size_t i = 0; i < e->tracked[k].n; i++) free(e->tracked[k].ids[i]);
    free(e->tracked[k].ids);
  }
  uv_timer_stop(&e->defer);
  uv_close((uv_handle_t *)&e->defer, handle_closed);
}

void brr_engine_enter(brr_engine *e) { e->depth++; }

void brr_engine_leave(brr_engine *e) {
  if (--e->depth > 0) return;
  while (e->graveyard) {
    brr_engine_req *r = e->graveyard;
    e->graveyard = r->next;
    req_free(r);
  }
  if (e->freeing && !e->destroyed) destroy(e);
}

/* ---- building requests ----------------------------------------------------------------------- */

brr_engine_req *brr_engine_req_new(brr_engine *e, const char *what, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_xcalloc(1, sizeof *r);
  r->e = e;
  r->what = what;
  r->cb = cb;
  r->cb_ud = r->sink_ud = ud;
  r->exit_code = -1;
  r->method = "GET";
  r->next = e->live;
  if (e->live) e->live->prev = r;
  e->live = r;
  e->stats.in_flight++;
  return r;
}

void brr_engine_req_http(brr_engine_req *r, const char *method, brr_tclass tclass,
                         brr_body_mode mode, const char *fmt, ...) {
  r->method = method;
  r->tclass = tclass;
  r->mode = mode;
  va_list ap;
  va_start(ap, fmt);
  free(r->path);
  r->path = brr_xvasprintf(fmt, ap);
  va_end(ap);
}

void brr_engine_req_query(brr_engine_req *r, const char *key, const char *value) {
  if (!value) return;
  if (r->nquery + 3 > r->capquery) {
    r->capquery = r->capquery ? r->capquery * 2 : 16;
    r->query = brr_xrealloc(r->query, r->capquery * sizeof *r->query);
  }
  r->query[r->nquery++] = brr_xstrdup(key);
  r->query[r->nquery++] = brr_xstrdup(value);
  r->query[r->nquery] = NULL;
}

void brr_engine_req_header(brr_engine_req *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *h = brr_xvasprintf(fmt, ap);
  va_end(ap);
  if (r->nheaders + 2 > r->capheaders) {
    r->capheaders = r->capheaders ? r->capheaders * 2 : 4;
    r->headers = brr_xrealloc(r->headers, r->capheaders * sizeof *r->headers);
  }
  r->headers[r->nheaders++] = h;
  r->headers[r->nheaders] = NULL;
}

void brr_engine_req_json_body(brr_engine_req *r, cJSON *j) {
  free(r->json_body);
  r->json_body = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!r->json_body) abort();
  r->body = (brr_engine_body){.data = r->json_body, .len = strlen(r->json_body)};
  r->has_body = true;
  brr_engine_req_header(r, "Content-Type: application/json");
}

void brr_engine_req_error(brr_engine_req *r, int status, const char *fmt, ...) {
  if (r->status) return;  /* the first reason is the one that matters */
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  r->status = status;
  free(r->error);
  r->error = brr_xasprintf("%s: %s", r->what, msg);
  free(msg);
}

bool brr_engine_req_take_id(brr_engine_req *r, const char *key, int kind) {
  if (r->status) return false;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(r->json, key);
  if (!cJSON_IsString(id)) {
    brr_engine_req_error(r, BRR_EIO, "the engine answered without %s %s",
                         strchr("AEIOU", key[0]) ? "an" : "a", key);
    return false;
  }
  r->id = brr_xstrdup(id->valuestring);
  if (kind >= 0) brr_engine_track(r->e, (brr_engine_kind)kind, r->id);
  return true;
}

/* ---- completion --------------------------------------------------------------------------------- */

void brr_engine_req_finish(brr_engine_req *r) {
  brr_engine *e = r->e;
  if (r->state == BRR_ST_DONE) return;
  if (r->timer) {
    uv_timer_stop(r->timer);
    r->timer->data = e;
    uv_close((uv_handle_t *)r->timer, handle_closed);
    r->timer = NULL;
  }
  r->state = BRR_ST_DONE;
  if (r->prev) r->prev->next = r->next; else e->live = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  e->stats.in_flight--;
  if (r->parent) {
    r->parent->nchildren--;
    if (r->parent->child == r) r->parent->child = NULL;
  }
  if (r->status && !r->error) r->error = brr_xasprintf("%s: failed", r->what);
  brr_engine_result res = {
      .status = r->status,
      .http_status = r->http_status,
      .error = r->status ? r->error : NULL,
      .id = r->id,
      .digest = r->digest,
      .exit_code = r->exit_code,
      .json = r->json,
  };
  brr_engine_enter(e);
  if (r->cb) r->cb(r->cb_ud, &res);
  r->next = e->graveyard;
  e->graveyard = r;
  brr_engine_leave(e);
}

static void on_defer(uv_timer_t *t) {
  brr_engine *e = t->data;
  brr_engine_enter(e);
  while (e->deferred && !e->freeing) {
    brr_engine_req *r = e->deferred;
    e->deferred = r->qnext;
    r->qnext = NULL;
    brr_engine_req_finish(r);
  }
  brr_engine_leave(e);
}

void brr_engine_req_finish_later(brr_engine_req *r) {
  brr_engine *e = r->e;
  if (r->state == BRR_ST_DONE || r->state == BRR_ST_DEFERRED) return;
  r->state = BRR_ST_DEFERRED;
  /* FIFO, so callers hear in the order things happened */
  brr_engine_req **tail = &e->deferred;
  while (*tail) tail = &(*tail)->qnext;
  *tail = r;
  r->qnext = NULL;
  if (!e->freeing) uv_timer_start(&e->defer, on_defer, 0, 0);
}

void brr_engine_req_take_result(brr_engine_req *r, const brr_engine_result *res) {
  r->status = res->status;
  r->http_status = res->http_status;
  free(r->error);
  r->error = res->error ? brr_xstrdup(res->error) : NULL;
  if (res->id) {
    free(r->id);
    r->id = brr_xstrdup(res->id);
  }
  if (res->digest) {
    free(r->digest);
    r->digest = brr_xstrdup(res->digest);
  }
  if (res->exit_code >= 0) r->exit_code = res->exit_code;
}

static void req_timer_cb(uv_timer_t *t) {
  brr_engine_req *r = t->data;
  brr_engine *e = r->e;
  brr_engine_enter(e);
  r->state = BRR_ST_NEW;
  r->timer_fn(r);
  brr_engine_leave(e);
}

void brr_engine_req_after(brr_engine_req *r, uint64_t ms, void (*fn)(brr_engine_req *r)) {
  brr_engine *e = r->e;
  if (!r->timer) {
    r->timer = brr_xcalloc(1, sizeof *r->timer);
    uv_timer_init(e->loop, r->timer);
    e->open_handles++;
  }
  r->timer->data = r;
  r->timer_fn = fn;
  r->state = BRR_ST_TIMER;
  uv_timer_start(r->timer, req_timer_cb, ms, 0);
}

bool brr_engine_body_ok(const brr_engine_body *b) {
  if (!b) return false;
  int n = (b->data != NULL) + (b->path != NULL) + (b->read != NULL);
  return n == 1;
}

static void child_trampoline(void *ud, const brr_engine_result *res) {
  brr_engine_req *child = ud;
  brr_engine_req *parent = child->parent;
  parent->child_done(parent, child, res);
}

void brr_engine_req_attach(brr_engine_req *parent, brr_engine_req *child) {
  child->parent = parent;
  child->cb = child_trampoline;
  child->cb_ud = child;
  parent->nchildren++;
  parent->child = child;
  parent->state = BRR_ST_CHILD;
}

brr_engine_req *brr_engine_req_adopt(brr_engine_req *parent, brr_engine_req *child) {
  brr_engine_req_attach(parent, child);
  return brr_engine_req_submit(child);
}

brr_engine_req *brr_engine_req_submit(brr_engine_req *r) {
  brr_engine *e = r->e;
  if (e->freeing) {
    r->status = BRR_ECANCELED;
    free(r->error);
    r->error = brr_xasprintf("%s: cancelled: client closed", r->what);
    brr_engine_enter(e);
    brr_engine_req_finish(r);
    brr_engine_leave(e);
    return NULL;
  }
  if (r->status) brr_engine_req_finish_later(r);
  else launch(r);
  return r;
}

/* ---- the HTTP call ------------------------------------------------------------------------------- */

static char *error_message(const brr_buf *body) {
  cJSON *j = cJSON_ParseWithLength(brr_buf_cstr(body), body->len);
  const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
  char *out;
  if (cJSON_IsString(m)) {
    out = brr_xstrdup(m->valuestring);
  } else {
    const char *s = brr_buf_cstr(body);
    size_t n = strcspn(s, "\r\n");
    out = n ? brr_xstrndup(s, n) : brr_xstrdup("no message");
  }
  cJSON_Delete(j);
  return out;
}

static void on_headers(void *ud, long status, const char *headers) {
  (void)headers;
  brr_engine_req *r = ud;
  brr_engine *e = r->e;
  r->http_status = status;
  if (status >= 400) {
    r->error_body = true;
    return;
  }
  if (r->on_open && !r->cancelled) {
    brr_engine_enter(e);
    r->on_open(r->sink_ud);
    brr_engine_leave(e);
  }
}

static void out_cb(void *ud, int stream, const char *data, size_t len) {
  brr_engine_req *r = ud;
  if (r->state == BRR_ST_HTTP && !r->cancelled && r->on_output)
    r->on_output(r->sink_ud, stream, data, len);
}

static int jsonl_msg(void *ud, const cJSON *msg) {
  brr_engine_req *r = ud;
  if (r->state != BRR_ST_HTTP || r->cancelled) return 1;
  brr_engine_progress p;
  brr_engine_progress_parse(msg, &p);
  if (p.error && !r->stream_error) r->stream_error = brr_xstrdup(p.error);
  const cJSON *aux = cJSON_GetObjectItemCaseSensitive(msg, "aux");
  const cJSON *v = aux ? cJSON_GetObjectItemCaseSensitive(aux, "ID") : NULL;
  if (cJSON_IsString(v)) {
    free(r->id);
    r->id = brr_xstrdup(v->valuestring);
  }
  v = aux ? cJSON_GetObjectItemCaseSensitive(aux, "Digest") : NULL;
  if (cJSON_IsString(v)) {
    free(r->digest);
    r->digest = brr_xstrdup(v->valuestring);
  } else if (p.status && brr_startswith(p.status, "Digest: ")) {
    free(r->digest);
    r->digest = brr_xstrdup(p.status + strlen("Digest: "));
  }
  if (r->id_from_status && p.status && brr_startswith(p.status, "sha256:")) {
    free(r->id);
    r->id = brr_xstrdup(p.status);
  }
  if (r->on_progress) r->on_progress(r->sink_ud, &p);
  return r->state != BRR_ST_HTTP || r->cancelled;
}

static int on_data(void *ud, const char *data, size_t len) {
  brr_engine_req *r = ud;
  brr_engine *e = r->e;
  if (r->state != BRR_ST_HTTP || r->cancelled) return BRR_ECANCELED;
  if (r->error_body || r->mode == BRR_BODY_JSON) {
    brr_buf_append(&r->resp, data, len);
    return 0;
  }
  int rc = 0;
  brr_engine_enter(e);
  switch (r->mode) {
  case BRR_BODY_JSONL:
    rc = brr_engine_jsonl_feed(&r->jl, data, len, jsonl_msg, r);
    if (rc == BRR_EIO) brr_engine_req_error(r, BRR_EIO, "unreadable progress stream from the engine");
    break;
  case BRR_BODY_MUX:
    rc = brr_engine_mux_feed(&r->mux, data, len, out_cb, r);
    if (rc) brr_engine_req_error(r, BRR_EIO, "bad frame header in the output stream");
    break;
  case BRR_BODY_DATA:
    if (r->on_data) {
      rc = r->on_data(r->sink_ud, data, len);
      if (rc == BRR_ENGINE_DATA_PAUSE && r->state == BRR_ST_HTTP && !r->cancelled) {
        brr_engine_leave(e);
        return BRR_ENGINE_DATA_PAUSE;   /* the same bytes come again after brr_engine_resume */
      }
      if (rc) rc = BRR_ECANCELED;
    }
    break;
  default: break;
  }
  if (rc > 0 || r->state != BRR_ST_HTTP || r->cancelled) rc = BRR_ECANCELED;
  brr_engine_leave(e);
  return rc;
}

static void finish_body(brr_engine_req *r) {
  switch (r->mode) {
  case BRR_BODY_JSON:
    if (r->resp.len) {
      r->json = cJSON_ParseWithLength(r->resp.data, r->resp.len);
      if (!r->json) brr_engine_req_error(r, BRR_EIO, "unreadable answer from the engine");
    }
    break;
  case BRR_BODY_JSONL:
    if (brr_engine_jsonl_finish(&r->jl, jsonl_msg, r) == BRR_EIO)
      brr_engine_req_error(r, BRR_EIO, "unreadable progress stream from the engine");
    else if (r->stream_error)
      brr_engine_req_error(r, BRR_EFAILED, "%s", r->stream_error);
    break;
  case BRR_BODY_MUX:
    if (r->mux.syserr.len)
      brr_engine_req_error(r, BRR_EFAILED, "%s", r->mux.syserr.data);
    else if (brr_engine_mux_finish(&r->mux))
      brr_engine_req_error(r, BRR_EIO, "the output stream was cut inside a frame");
    break;
  default: break;
  }
}

static void http_done(void *ud, const brr_http_response *res) {
  brr_engine_req *r = ud;
  brr_engine *e = r->e;
  brr_engine_enter(e);
  r->http = NULL;
  if (res->status) r->http_status = res->status;
  if (res->result) {
    if (res->result == BRR_ECANCELED) {
      r->status = 0;  /* a decoder's complaint does not matter once cancelled */
      free(r->error);
      r->error = NULL;
      brr_engine_req_error(r, BRR_ECANCELED, "cancelled");
    } else {
      brr_engine_req_error(r, res->result, "%s (engine at %s)", res->error, e->host);
    }
  } else if (r->error_body || res->status >= 400) {
    char *msg = error_message(&r->resp);
    brr_engine_req_error(r, res->status == 404 ? BRR_ENOENT : BRR_EFAILED, "%s (HTTP %ld)", msg,
                         res->status);
    free(msg);
  } else {
    finish_body(r);
  }
  if (r->post) r->post(r);
  brr_engine_req_finish(r);
  brr_engine_leave(e);
}

static void queue_for_version(brr_engine_req *r);

static void launch(brr_engine_req *r) {
  brr_engine *e = r->e;
  if (!r->path) {
    /* brr_engine_connect: no call of its own, only the negotiation (a pre-flight may have
     * learnt the version without the engine's GET /version answer) */
    if (!e->version_json) {
      queue_for_version(r);
    } else {
      r->json = cJSON_Duplicate(e->version_json, true);
      brr_engine_req_finish_later(r);
    }
    return;
  }
  if (!r->unversioned && !e->api) {
    queue_for_version(r);
    return;
  }
  char *url = brr_engine_url(e->base_url, r->unversioned ? NULL : e->api, r->path,
                             (const char *const *)r->query);
  if (!url) {
    brr_engine_req_error(r, BRR_EINVAL, "a name in %s cannot go into a URL", r->path);
    brr_engine_req_finish_later(r);
    return;
  }
  long limit_ms = e->timeout_s > 0 ? (long)e->timeout_s * 1000 : 0;
  brr_http_request rq = {
      .method = r->method,
      .url = url,
      .unix_socket = e->unix_path,
      .tls = e->use_tls ? &e->tls : NULL,
      .headers = (const char *const *)r->headers,
      .body = r->has_body ? &r->body : NULL,
      .connect_timeout_ms = limit_ms,
      .ud = r,
      .on_headers = on_headers,
      .on_data = on_data,
      .on_done = http_done,
  };
  if (r->tclass == BRR_TO_CALL && limit_ms) rq.timeout_ms = limit_ms + r->extra_ms;
  if (r->tclass == BRR_TO_TRANSFER) rq.idle_timeout_s = e->timeout_s > 0 ? e->timeout_s : 0;
  r->state = BRR_ST_HTTP;
  e->stats.http_requests++;
  r->http = brr_http_start(e->http, &rq);
  free(url);
}

/* ---- API version negotiation ----------------------------------------------------------------------- */

static void negotiated(void *ud, const brr_engine_result *res) {
  brr_engine *e = ud;
  e->negotiation = NULL;
  char *fail = res->status ? brr_xstrdup(res->error) : NULL;
  int fail_status = res->status;
  if (!fail) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(res->json, "ApiVersion");
    if (!cJSON_IsString(v) || !*v->valuestring) {
      fail = brr_xasprintf("connect to the Docker engine at %s: no ApiVersion in GET /version",
                           e->host);
      fail_status = BRR_EIO;
    } else {
      /* never ask for more than the engine speaks, nor more than brr was written for */
      const char *use = brr_engine_version_cmp(v->valuestring, e->api_max) < 0 ? v->valuestring
                                                                                : e->api_max;
      free(e->api);
      e->api = brr_xstrdup(use);
      cJSON_Delete(e->version_json);
      e->version_json = cJSON_Duplicate(res->json, true);
    }
  }
  brr_engine_req *w = e->waiting;
  e->waiting = NULL;
  e->waiting_tail = &e->waiting;
  while (w) {
    brr_engine_req *next = w->qnext;
    w->qnext = NULL;
    if (w->state == BRR_ST_QUEUED) {
      w->state = BRR_ST_NEW;
      if (e->freeing) {
        brr_engine_req_error(w, BRR_ECANCELED, "cancelled: client closed");
        brr_engine_req_finish(w);
      } else if (fail) {
        brr_engine_req_error(w, fail_status, "%s", fail);
        brr_engine_req_finish(w);
      } else {
        launch(w);
      }
    }
    w = next;
  }
  free(fail);
}

static void queue_for_version(brr_engine_req *r) {
  brr_engine *e = r->e;
  r->state = BRR_ST_QUEUED;
  r->qnext = NULL;
  *e->waiting_tail = r;
  e->waiting_tail = &r->qnext;
  if (e->negotiation) return;
  brr_engine_req *n = brr_engine_req_new(e, "connect to the Docker engine", negotiated, e);
  brr_engine_req_http(n, "GET", BRR_TO_CALL, BRR_BODY_JSON, "/version");
  n->unversioned = true;
  e->negotiation = n;
  launch(n);
}

static void unqueue(brr_engine_req *r) {
  brr_engine *e = r->e;
  brr_engine_req **p = &e->waiting;
  while (*p && *p != r) p = &(*p)->qnext;
  if (!*p) return;
  *p = r->qnext;
  if (e->waiting_tail == &r->qnext) e->waiting_tail = p;
  r->qnext = NULL;
}

/* ---- public: client ----------------------------------------------------------------------------------- */

static char *random_id(void) {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) {
    uint64_t t = brr_mono_ms() ^ ((uint64_t)brr_wall_ms() << 20);
    memcpy(b, &t, sizeof b);
  }
  return brr_xasprintf("%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
                       b[6], b[7]);
}

static void add_label(brr_engine *e, const char *kv) {
  e->labels = brr_xrealloc(e->labels, (e->nlabels + 2) * sizeof *e->labels);
  e->labels[e->nlabels++] = brr_xstrdup(kv);
  e->labels[e->nlabels] = NULL;
}

int brr_engine_new(uv_loop_t *loop, const brr_engine_opts *opts, brr_engine **out,
                   char **error) {
  *out = NULL;
  *error = NULL;
  brr_engine_opts none = {0};
  if (!opts) opts = &none;
  brr_engine_endpoint own = {0};
  const brr_engine_endpoint *ep = opts->endpoint;
  if (opts->host) {
    own.host = brr_xstrdup(opts->host);
    own.source = brr_xstrdup("the client's options");
    ep = &own;
  } else if (!ep) {
    if (brr_engine_endpoint_resolve(NULL, &own, error)) return BRR_EINVAL;
    ep = &own;
  }
  if (opts->api_version && brr_engine_version_cmp(opts->api_version, "1.0") < 0) {
    *error = brr_xasprintf("bad Engine API version '%s'", opts->api_version);
    brr_engine_endpoint_free(&own);
    return BRR_EINVAL;
  }
  brr_engine_target t;
  if (brr_engine_target_parse(ep->host, ep->tls, &t, error)) {
    brr_engine_endpoint_free(&own);
    return BRR_EINVAL;
  }
  brr_engine_ssh *ssh = NULL;
  if (t.ssh_dest && brr_engine_ssh_start(t.ssh_dest, t.ssh_port, &ssh, &t.unix_path, error)) {
    brr_engine_target_free(&t);
    brr_engine_endpoint_free(&own);
    return BRR_EIO;
  }
  brr_engine *e = brr_xcalloc(1, sizeof *e);
  e->loop = loop;
  e->http = brr_http_new(loop);
  e->host = brr_xstrdup(ep->host);
  e->source = brr_xstrdup(ep->source ? ep->source : "the default");
  e->base_url = t.base_url;
  e->unix_path = t.unix_path;
  e->ssh = ssh;
  t.base_url = t.unix_path = NULL;
  brr_engine_target_free(&t);
  if (ep->tls) {
    e->use_tls = true;
    e->tls_ca = ep->ca ? brr_xstrdup(ep->ca) : NULL;
    e->tls_cert = ep->cert ? brr_xstrdup(ep->cert) : NULL;
    e->tls_key = ep->key ? brr_xstrdup(ep->key) : NULL;
    e->tls = (brr_http_tls){.ca = e->tls_ca, .cert = e->tls_cert, .key = e->tls_key,
                            .verify = ep->tls_verify};
  }
  brr_engine_endpoint_free(&own);
  e->timeout_s = opts->timeout_s;
  e->api_max = brr_xstrdup(opts->api_version ? opts->api_version : BRR_ENGINE_API_MAX);
  e->run_id = opts->run_id ? brr_xstrdup(opts->run_id) : random_id();
  e->waiting_tail = &e->waiting;
  char *kv = brr_xasprintf("%s=1", BRR_ENGINE_LABEL_MANAGED);
  add_label(e, kv);
  free(kv);
  kv = brr_xasprintf("%s=%s", BRR_ENGINE_LABEL_RUN, e->run_id);
  add_label(e, kv);
  free(kv);
  /* who made it: a later brr removes what a killed one left (brr_engine_sweep_stale) */
  char *owner = brr_owner_self();
  kv = brr_xasprintf("%s=%s", BRR_ENGINE_LABEL_OWNER, owner);
  add_label(e, kv);
  free(kv);
  free(owner);
  for (const char *const *l = opts->labels; l && *l; l++) add_label(e, *l);
  uv_timer_init(loop, &e->defer);
  e->defer.data = e;
  e->open_handles = 1;
  *out = e;
  return 0;
}

void brr_engine_free(brr_engine *e) {
  if (!e || e->freeing) return;
  e->freeing = true;
  brr_engine_enter(e);
  brr_http_free(e->http);
  e->http = NULL;
  /* what had no HTTP call in flight (queued, deferred, waiting for a timer or a shared
   * pull): leaves first, so composite operations see their steps end */
  for (;;) {
    brr_engine_req *r = e->live;
    while (r && r->nchildren > 0) r = r->next;
    if (!r) break;
    r->status = 0;
    brr_engine_req_error(r, BRR_ECANCELED, "cancelled: client closed");
    brr_engine_req_finish(r);
  }
  brr_engine_leave(e);
}

const char *brr_engine_run_id(const brr_engine *e) { return e->run_id; }
const char *brr_engine_api_version(const brr_engine *e) { return e->api; }

brr_engine_req *brr_engine_connect(brr_engine *e, brr_engine_cb cb, void *ud) {
  return brr_engine_req_submit(brr_engine_req_new(e, "connect to the Docker engine", cb, ud));
}

void brr_engine_cancel(brr_engine_req *r) {
  if (!r || r->cancelled || r->state == BRR_ST_DONE || r->state == BRR_ST_DEFERRED) return;
  r->cancelled = true;
  if (r->cancel_hook) {
    r->cancel_hook(r);
    return;
  }
  switch (r->state) {
  case BRR_ST_HTTP:
    brr_http_cancel(r->http);
    return;
  case BRR_ST_CHILD:
    if (r->child) {
      brr_engine_cancel(r->child);
      return;
    }
    break;
  case BRR_ST_QUEUED: unqueue(r); break;
  case BRR_ST_TIMER: uv_timer_stop(r->timer); break;
  default: break;
  }
  r->status = 0;
  brr_engine_req_error(r, BRR_ECANCELED, "cancelled");
  brr_engine_req_finish_later(r);
}

void brr_engine_resume(brr_engine_req *r) {
  if (!r) return;
  while (r->child) r = r->child;
  if (r->state == BRR_ST_HTTP && r->http) {
    brr_engine *e = r->e;
    brr_engine_enter(e);
    brr_http_resume(r->http);
    brr_engine_leave(e);
  }
}

void brr_engine_get_stats(const brr_engine *e, brr_engine_stats *out) { *out = e->stats; }

/* ---- JSON helpers shared by the operations ----------------------------------------------------------- */

bool brr_engine_name_ok(const char *name) {
  if (!name || !*name || *name == '/') return false;
  char *p = brr_xasprintf("/%s", name);
  bool ok = brr_engine_path_ok(p);
  free(p);
  return ok;
}

static void set_item(cJSON *obj, const char *key, cJSON *item) {
  cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
  cJSON_AddItemToObject(obj, key, item);
}

bool brr_engine_kv_into(cJSON *obj, const char *const *kv, bool bare_null) {
  for (; kv && *kv; kv++) {
    const char *eq = strchr(*kv, '=');
    if (eq == *kv) return false;
    char *k = eq ? brr_xstrndup(*kv, (size_t)(eq - *kv)) : brr_xstrdup(*kv);
    set_item(obj, k, eq ? cJSON_CreateString(eq + 1)
                        : bare_null ? cJSON_CreateNull() : cJSON_CreateString(""));
    free(k);
  }
  return true;
}

cJSON *brr_engine_labels_json(const brr_engine *e, const char *const *extra) {
  cJSON *o = cJSON_CreateObject();
  brr_engine_kv_into(o, extra, false);
  /* brr's own labels win: leftovers are counted by them */
  brr_engine_kv_into(o, (const char *const *)e->labels, false);
  return o;
}

cJSON *brr_engine_strv_json(const char *const *v) {
  cJSON *a = cJSON_CreateArray();
  for (; v && *v; v++) cJSON_AddItemToArray(a, cJSON_CreateString(*v));
  return a;
}

/* ---- the transport for blocking calls, and the pre-flight ------------------------------------------ */

void brr_engine_curl_setup(const brr_engine *e, void *curl_easy) {
  CURL *c = curl_easy;
  if (e->unix_path) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, e->unix_path);
  if (e->use_tls) brr_http_tls_apply(c, &e->tls);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

void brr_engine_close_transport(brr_engine *e) {
  if (!e) return;
  brr_engine_ssh_stop(e->ssh);
  e->ssh = NULL;
}

const char *brr_engine_host(const brr_engine *e) { return e->host; }
const char *brr_engine_source(const brr_engine *e) { return e->source; }
bool brr_engine_uses_tls(const brr_engine *e) { return e->use_tls; }
char *brr_engine_remote_host(const brr_engine *e) { return brr_engine_host_remote_part(e->host); }

size_t brr_engine_curl_to_buf(char *p, size_t sz, size_t n, void *buf) {
  brr_buf_append(buf, p, sz * n);
  return sz * n;
}

int brr_engine_preflight(brr_engine *e, int timeout_s, char **cause) {
  *cause = NULL;
  CURL *c = curl_easy_init();
  if (!c) abort();
  char *url = brr_engine_url(e->base_url, NULL, "/_ping", NULL);
  if (!url) {
    curl_easy_cleanup(c);
    *cause = brr_xasprintf("%s is not a usable address", e->base_url);
    return BRR_EIO;
  }
  brr_buf body = BRR_BUF_INIT, headers = BRR_BUF_INIT;
  char errbuf[CURL_ERROR_SIZE] = "";
  brr_engine_curl_setup(e, c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, brr_engine_curl_to_buf);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, brr_engine_curl_to_buf);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &headers);
  long connect_s = timeout_s > 0 && timeout_s < 10 ? timeout_s : 10;
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(timeout_s > 0 && timeout_s < 30 ? timeout_s : 30));
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  int ret = 0;
  if (rc != CURLE_OK) {
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    /* the system's word for a refused or missing socket; libcurl's text for the rest (TLS) */
    if (rc == CURLE_COULDNT_CONNECT && os_errno)
      *cause = brr_xstrdup(strerror((int)os_errno));
    else
      *cause = brr_xstrdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
    ret = BRR_EIO;
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  }
  if (ret == 0) {
    char *api = brr_http_header(brr_buf_cstr(&headers), "API-Version");
    if (status != 200 || !api) {
      size_t n = strcspn(brr_buf_cstr(&body), "\r\n");
      *cause = brr_xasprintf("not a Docker engine: GET /_ping answered HTTP %ld%s%s%.*s%s",
                             status, api ? "" : " without an API-Version header", n ? " (" : "",
                             (int)(n > 200 ? 200 : n), brr_buf_cstr(&body), n ? ")" : "");
      ret = BRR_EIO;
    } else if (!e->api) {
      /* the negotiation, from the ping's header: never more than brr was written for */
      e->api = brr_xstrdup(brr_engine_version_cmp(api, e->api_max) < 0 ? api : e->api_max);
    }
    free(api);
  }
  if (ret && e->ssh) {
    char line[512];
    brr_engine_ssh_last_error(e->ssh, line, sizeof line);
    if (line[0]) {
      char *m = brr_xasprintf("%s (ssh: %s)", *cause, line);
      free(*cause);
      *cause = m;
    }
  }
  free(url);
  brr_buf_free(&body);
  brr_buf_free(&headers);
  curl_easy_cleanup(c);
  return ret;
}
