/* The registry client's core: operations and their calls. A call is one HTTP exchange
 * carried through a 401 (credentials, then a token or a Basic header) and through retries
 * of 5xx, 429 and failed connections with exponential backoff. Simple operations (manifest
 * get/head/put, ping, rate limit) are one call each; composite ones are in registry_copy.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "registry_internal.h"

const char *const BRR_REG_ACCEPT =
    "Accept: " BRR_REGISTRY_OCI_INDEX ", " BRR_REGISTRY_DOCKER_LIST ", " BRR_REGISTRY_OCI_MANIFEST
    ", " BRR_REGISTRY_DOCKER_MANIFEST;

#define BACKOFF_CAP_MS 30000u

/* ---- client ------------------------------------------------------------------------------- */

static void on_defer(uv_timer_t *t);
static void cancel_parts(brr_registry_req *q);

brr_registry *brr_registry_new(uv_loop_t *loop, const brr_registry_opts *opts) {
  static const brr_registry_opts none = {0};
  if (!opts) opts = &none;
  brr_registry *r = brr_xcalloc(1, sizeof *r);
  r->loop = loop;
  r->http = brr_http_new(loop);
  if (opts->docker_config) {
    r->config_dir = brr_xstrdup(opts->docker_config);
  } else if (getenv("DOCKER_CONFIG") && *getenv("DOCKER_CONFIG")) {
    r->config_dir = brr_xstrdup(getenv("DOCKER_CONFIG"));
  } else {
    r->config_dir = brr_path_expanduser("~/.docker");
  }
  const char *hub = opts->hub_url ? opts->hub_url : getenv("BRR_DOCKER_HUB_URL");
  r->hub_url = brr_xstrdup(hub && *hub ? hub : BRR_REGISTRY_HUB_URL);
  size_t n = strlen(r->hub_url);
  while (n > 0 && r->hub_url[n - 1] == '/') r->hub_url[--n] = '\0';
  const char *tmp = opts->temp_dir ? opts->temp_dir : getenv("TMPDIR");
  r->temp_dir = brr_xstrdup(tmp && *tmp ? tmp : "/tmp");
  r->timeout_s = opts->timeout_s > 0 ? opts->timeout_s : 600;
  r->max_attempts = opts->max_attempts ? opts->max_attempts : 5;
  r->backoff_ms = opts->backoff_ms ? opts->backoff_ms : 1000;
  uv_timer_init(loop, &r->defer);
  r->defer.data = r;
  r->open_handles = 1;
  return r;
}

static void client_closed(uv_handle_t *h) {
  brr_registry *r = h->data;
  if (--r->open_handles > 0) return;
  free(r->config_dir);
  free(r->hub_url);
  free(r->temp_dir);
  free(r->alias_host);
  free(r->alias_reach);
  free(r);
}

void brr_registry_free(brr_registry *r) {
  if (!r || r->freeing) return;
  r->freeing = true;
  /* every operation unwinds with BRR_ECANCELED; none finishes while we walk the list */
  for (brr_registry_req *q = r->live; q; q = q->next) {
    q->cancelled = true;
    q->no_sync = true;
  }
  for (brr_registry_req *q = r->live; q; q = q->next) cancel_parts(q);
  brr_reg_auth_free_all(r);
  brr_http_free(r->http);
  r->http = NULL;
  while (r->live) {
    brr_registry_req *q = r->live;
    q->no_sync = false;
    brr_reg_req_finish(q);
  }
  r->deferred = NULL;
  uv_timer_stop(&r->defer);
  uv_close((uv_handle_t *)&r->defer, client_closed);
}

/* ---- operations ----------------------------------------------------------------------------- */

brr_registry_req *brr_reg_req_new(brr_registry *r, const char *what, brr_registry_cb cb, void *ud) {
  brr_registry_req *q = brr_xcalloc(1, sizeof *q);
  q->reg = r;
  q->what = what;
  q->cb = cb;
  q->ud = ud;
  q->rl_limit = q->rl_remaining = -1;
  q->next = r->live;
  if (r->live) r->live->prev = q;
  r->live = q;
  if (r->freeing) {
    brr_reg_req_fail(q, BRR_ECANCELED, 0, "cancelled: client closed");
    brr_reg_req_finish_later(q);
  }
  return q;
}

void brr_reg_req_fail(brr_registry_req *q, int status, long http, const char *fmt, ...) {
  if (q->status) return;
  q->status = status;
  q->http_status = http;
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  q->error = brr_xasprintf("%s: %s", q->what, msg);
  free(msg);
}

static void unlink_req(brr_registry_req *q) {
  brr_registry *r = q->reg;
  if (q->prev) q->prev->next = q->next;
  else if (r->live == q) r->live = q->next;
  if (q->next) q->next->prev = q->prev;
  q->prev = q->next = NULL;
}

void brr_reg_req_finish(brr_registry_req *q) {
  if (q->finished) return;
  if (q->no_sync) {
    brr_reg_req_finish_later(q);
    return;
  }
  q->finished = true;
  if (q->queued) {
    for (brr_registry_req **p = &q->reg->deferred; *p; p = &(*p)->dnext)
      if (*p == q) {
        *p = q->dnext;
        break;
      }
  }
  if (q->cancelled && (q->status == 0 || q->reg->freeing)) {
    free(q->error);
    q->error = NULL;
    q->status = 0;
    brr_reg_req_fail(q, BRR_ECANCELED, 0, "cancelled");
  }
  unlink_req(q);
  if (q->ccb) {
    q->ccb(q->ud, q->status, q->error, q->status ? NULL : q->auth);
  } else if (q->cb) {
    brr_registry_result res = {0};
    res.status = q->status;
    res.http_status = q->http_status;
    res.error = q->error;
    res.digest = q->digest;
    res.media_type = q->media_type;
    res.body = q->body.data;
    res.body_len = q->body.len;
    res.size = q->size;
    res.ratelimit_limit = q->rl_limit;
    res.ratelimit_remaining = q->rl_remaining;
    res.attempts = q->attempts;
    q->cb(q->ud, &res);
  }
  if (q->op_free) q->op_free(q->op);
  free(q->inflight);
  free(q->error);
  free(q->digest);
  free(q->media_type);
  brr_buf_free(&q->body);
  free(q);
}

static void on_defer(uv_timer_t *t) {
  brr_registry *r = t->data;
  while (r->deferred) {
    brr_registry_req *q = r->deferred;
    r->deferred = q->dnext;
    q->queued = false;
    brr_reg_req_finish(q);
  }
}

void brr_reg_req_finish_later(brr_registry_req *q) {
  if (q->queued || q->finished) return;
  q->queued = true;
  q->dnext = q->reg->deferred;
  q->reg->deferred = q;
  if (!q->reg->freeing) uv_timer_start(&q->reg->defer, on_defer, 0, 0);
}

bool brr_reg_req_stopping(brr_registry_req *q) {
  if (!q->cancelled && !q->status) return false;
  if (q->calls == 0) brr_reg_req_finish(q);
  return true;
}

static void cancel_parts(brr_registry_req *q) {
  if (q->waiter) {
    brr_reg_creds_unwant(q->waiter);
    q->waiter = NULL;
    q->calls--;
  }
  if (q->op_cancel) q->op_cancel(q);
  /* a call may end synchronously and take itself off the list */
  size_t n = q->ninflight;
  rcall **v = brr_xmalloc((n + 1) * sizeof *v);
  if (n) memcpy(v, q->inflight, n * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    bool still = false;
    for (size_t k = 0; k < q->ninflight; k++) still |= q->inflight[k] == v[i];
    if (still) brr_reg_call_cancel(v[i]);
  }
  free(v);
}

void brr_registry_cancel(brr_registry_req *q) {
  if (!q || q->finished || q->cancelled) return;
  q->cancelled = true;
  q->no_sync = true;
  cancel_parts(q);
  if (q->calls == 0) brr_reg_req_finish_later(q);
  if (!q->finished) q->no_sync = false;
}

/* ---- URLs and answers ------------------------------------------------------------------------ */

static bool loopback(const char *host) {
  return brr_startswith(host, "localhost") || brr_startswith(host, "127.") ||
         brr_startswith(host, "[::1]");
}

void brr_registry_alias(brr_registry *r, const char *host, const char *reach) {
  free(r->alias_host);
  free(r->alias_reach);
  r->alias_host = reach ? brr_xstrdup(host) : NULL;
  r->alias_reach = reach ? brr_xstrdup(reach) : NULL;
}

char *brr_reg_base_url(const brr_registry *r, const char *host) {
  if (!strcmp(host, BRR_REGISTRY_HUB)) return brr_xstrdup(r->hub_url);
  if (r->alias_host && !strcmp(host, r->alias_host)) return brr_xasprintf("http://%s", r->alias_reach);
  return brr_xasprintf("%s://%s", loopback(host) ? "http" : "https", host);
}

char *brr_reg_url(const brr_registry *r, const brr_registry_ref *ref, const char *kind,
                  const char *reference) {
  char *base = brr_reg_base_url(r, ref->host);
  char *u = reference ? brr_xasprintf("%s/v2/%s/%s/%s", base, ref->repository, kind, reference)
                      : brr_xasprintf("%s/v2/%s/%s/", base, ref->repository, kind);
  free(base);
  return u;
}

int brr_reg_status_of(long http) {
  if (http >= 200 && http < 300) return 0;
  if (http == 404) return BRR_ENOENT;
  return BRR_EFAILED;
}

/* The registry's error text of a failed answer ("HTTP 404: manifest unknown"). Heap. */
static char *answer_error(long status, const char *body, size_t len) {
  cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *errs = cJSON_GetObjectItemCaseSensitive(j, "errors");
  const cJSON *first = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(first, "message");
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(first, "code");
  char *out;
  if (cJSON_IsString(msg))
    out = brr_xasprintf("HTTP %ld: %s%s%s%s", status, msg->valuestring, cJSON_IsString(code) ? " (" : "",
                        cJSON_IsString(code) ? code->valuestring : "", cJSON_IsString(code) ? ")" : "");
  else
    out = brr_xasprintf("HTTP %ld", status);
  cJSON_Delete(j);
  return out;
}

void brr_reg_call_failed(brr_registry_req *q, const rcall *c, int status, const brr_http_response *res) {
  if (status == BRR_ECANCELED) {
    brr_reg_req_fail(q, status, 0, "cancelled");
  } else if (res && res->result == 0) {
    char *e = answer_error(res->status, res->body, res->body_len);
    brr_reg_req_fail(q, status, res->status, "%s %s: %s", c->method, c->url, e);
    free(e);
  } else {
    brr_reg_req_fail(q, status, 0, "%s %s: %s", c->method, c->url, res && res->error ? res->error : "failed");
  }
}

/* ---- calls --------------------------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h) { free(h); }

static void call_free(rcall *c) {
  if (c->timer) {
    uv_timer_stop(c->timer);
    uv_close((uv_handle_t *)c->timer, timer_closed);
  }
  free(c->method);
  free(c->url);
  free(c->host);
  free(c->scope);
  free(c->scope2);
  for (size_t i = 0; i < c->nheaders; i++) free(c->headers[i]);
  free(c->headers);
  free(c->owned_body);
  free(c->auth_line);
  if (c->token_form) OPENSSL_cleanse(c->token_form, strlen(c->token_form));
  free(c->token_form);
  brr_buf_free(&c->err_body);
  brr_registry_challenge_free(&c->chal);
  free(c);
}

rcall *brr_reg_call_new(brr_registry_req *q, const char *method, const char *host,
                        const char *url, rcall_done_fn done, void *ud) {
  rcall *c = brr_xcalloc(1, sizeof *c);
  c->reg = q->reg;
  c->req = q;
  c->method = brr_xstrdup(method);
  c->host = brr_xstrdup(host);
  c->url = brr_xstrdup(url);
  c->done = done;
  c->ud = ud;
  c->retry = true;
  c->started_ms = brr_mono_ms();
  q->calls++;
  BRR_VEC_PUSH(q->inflight, q->ninflight, q->capinflight, c);
  return c;
}

void brr_reg_call_header(rcall *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *h = brr_xvasprintf(fmt, ap);
  va_end(ap);
  if (c->nheaders + 1 >= c->capheaders) {
    c->capheaders = c->capheaders ? c->capheaders * 2 : 8;
    c->headers = brr_xrealloc(c->headers, c->capheaders * sizeof *c->headers);
  }
  c->headers[c->nheaders++] = h;
  c->headers[c->nheaders] = NULL;
}

void brr_reg_call_scope(rcall *c, const char *repo, bool push) {
  free(c->scope);
  c->scope = brr_xasprintf("repository:%s:%s", repo, push ? "pull,push" : "pull");
}

/* End the call: its owner hears once, then the call is freed. */
void brr_reg_call_end(rcall *c, int status, const brr_http_response *res) {
  if (c->finished) return;
  c->finished = true;
  brr_registry_req *q = c->req;
  q->calls--;
  for (size_t i = 0; i < q->ninflight; i++)
    if (q->inflight[i] == c) {
      q->inflight[i] = q->inflight[--q->ninflight];
      break;
    }
  q->attempts = c->attempt;
  c->done(c, status, res);
  call_free(c);
}

static void send_now(rcall *c);

static void retry_fire(uv_timer_t *t) {
  rcall *c = t->data;
  if (c->req->cancelled) {
    brr_reg_call_end(c, BRR_ECANCELED, NULL);
    return;
  }
  if (c->on_reset) c->on_reset(c->data_ud);
  send_now(c);
}

long brr_reg_call_time_left(const rcall *c) {
  if (c->deadline_ms <= 0) return 0;
  long left = c->deadline_ms - (long)(brr_mono_ms() - c->started_ms);
  return left > 0 ? left : -1;
}

/* Wait before trying again; false when no try is left. */
static bool schedule_retry(rcall *c, const char *headers) {
  if (!c->retry || c->attempt >= c->reg->max_attempts || c->reg->freeing) return false;
  uint64_t delay = c->reg->backoff_ms;
  for (unsigned i = 1; i < c->attempt && delay < BACKOFF_CAP_MS; i++) delay *= 2;
  char *ra = headers ? brr_http_header(headers, "Retry-After") : NULL;
  if (ra && isdigit((unsigned char)ra[0])) delay = (uint64_t)strtoul(ra, NULL, 10) * 1000u;
  free(ra);
  if (delay > BACKOFF_CAP_MS) delay = BACKOFF_CAP_MS;
  long left = brr_reg_call_time_left(c);
  if (left < 0 || (c->deadline_ms > 0 && (long)delay >= left)) return false;
  if (!c->timer) {
    c->timer = brr_xcalloc(1, sizeof *c->timer);
    uv_timer_init(c->reg->loop, c->timer);
    c->timer->data = c;
  }
  uv_timer_start(c->timer, retry_fire, delay, 0);
  return true;
}

static void on_headers(void *ud, long status, const char *headers) {
  (void)headers;
  rcall *c = ud;
  c->status_seen = status;
}

static int on_data(void *ud, const char *data, size_t len) {
  rcall *c = ud;
  if (c->status_seen >= 200 && c->status_seen < 300) return c->on_data(c->data_ud, data, len);
  if (c->err_body.len < 64 * 1024) brr_buf_append(&c->err_body, data, len);
  return 0;
}

static bool retryable(long status) { return status == 429 || (status >= 500 && status <= 599); }

static void http_done(void *ud, const brr_http_response *res) {
  rcall *c = ud;
  c->http = NULL;
  brr_http_response view = *res;
  if (c->on_data && !(res->status >= 200 && res->status < 300)) {
    view.body = brr_buf_cstr(&c->err_body);
    view.body_len = c->err_body.len;
  }
  if (c->req->cancelled || res->result == BRR_ECANCELED) {
    brr_reg_call_end(c, BRR_ECANCELED, &view);
    return;
  }
  if (res->result != 0) {
    if (schedule_retry(c, NULL)) return;
    brr_reg_call_end(c, res->result, &view);
    return;
  }
  if (c->any_status_ok && !retryable(res->status)) {
    brr_reg_call_end(c, 0, &view);
    return;
  }
  if (res->status == 401 && !c->auth_tried) {
    c->auth_tried = true;
    char *www = brr_http_header(res->headers, "WWW-Authenticate");
    brr_reg_auth_challenge(c, www);
    free(www);
    return;
  }
  if (retryable(res->status) && schedule_retry(c, res->headers)) return;
  brr_reg_call_end(c, brr_reg_status_of(res->status), &view);
}

static void send_now(rcall *c) {
  brr_registry *r = c->reg;
  c->attempt++;
  c->status_seen = 0;
  brr_buf_reset(&c->err_body);
  size_t n = c->nheaders;
  const char **hdrs = brr_xcalloc(n + 2, sizeof *hdrs);
  for (size_t i = 0; i < n; i++) hdrs[i] = c->headers[i];
  const char *auth = c->auth_line ? c->auth_line : brr_reg_auth_cached(r, c);
  if (auth) hdrs[n++] = auth;
  brr_http_request rq = {0};
  rq.method = c->method;
  rq.url = c->url;
  rq.headers = hdrs;
  rq.body = c->has_body ? &c->body : NULL;
  long left = brr_reg_call_time_left(c);
  rq.connect_timeout_ms = c->deadline_ms > 0 ? (left > 0 ? left : 1) : 30000;
  if (c->deadline_ms > 0) rq.timeout_ms = left > 0 ? left : 1;
  else if (!c->on_data && !c->has_body) rq.timeout_ms = (long)r->timeout_s * 1000;
  else rq.idle_timeout_s = r->timeout_s;
  rq.ud = c;
  rq.on_headers = on_headers;
  rq.on_data = c->on_data ? on_data : NULL;
  rq.on_done = http_done;
  rq.follow = c->follow;
  c->http = r->http ? brr_http_start(r->http, &rq) : NULL;
  free(hdrs);
  if (!c->http) brr_reg_call_end(c, BRR_ECANCELED, NULL);
}

void brr_reg_call_resend(rcall *c) {
  if (c->req->cancelled || c->reg->freeing) {
    brr_reg_call_end(c, BRR_ECANCELED, NULL);
    return;
  }
  /* the try that met the 401 does not count against the retries */
  c->attempt--;
  send_now(c);
}

void brr_reg_call_send(rcall *c) {
  if (c->req->cancelled || c->reg->freeing) {
    brr_reg_call_end(c, BRR_ECANCELED, NULL);
    return;
  }
  send_now(c);
}

void brr_reg_call_cancel(rcall *c) {
  if (!c || c->finished) return;
  if (c->http) {
    brr_http_cancel(c->http);
  } else if (c->waiter) {
    brr_reg_creds_unwant(c->waiter);
    c->waiter = NULL;
    brr_reg_call_end(c, BRR_ECANCELED, NULL);
  } else if (c->timer && uv_is_active((uv_handle_t *)c->timer)) {
    uv_timer_stop(c->timer);
    brr_reg_call_end(c, BRR_ECANCELED, NULL);
  }
}

/* ---- simple operations ------------------------------------------------------------------------ */

static void take_manifest_headers(brr_registry_req *q, const brr_http_response *res) {
  char *d = brr_http_header(res->headers, "Docker-Content-Digest");
  char *t = brr_http_header(res->headers, "Content-Type");
  char *l = brr_http_header(res->headers, "Content-Length");
  char *rl = brr_http_header(res->headers, "RateLimit-Limit");
  char *rr = brr_http_header(res->headers, "RateLimit-Remaining");
  free(q->digest);
  free(q->media_type);
  q->digest = d;
  q->media_type = t;
  if (l) q->size = strtoll(l, NULL, 10);
  q->rl_limit = brr_registry_ratelimit_parse(rl);
  q->rl_remaining = brr_registry_ratelimit_parse(rr);
  free(l);
  free(rl);
  free(rr);
}

static void simple_done(rcall *c, int status, const brr_http_response *res) {
  brr_registry_req *q = c->req;
  if (res) q->http_status = res->status;
  if (status != 0) {
    brr_reg_call_failed(q, c, status, res);
    brr_reg_req_finish(q);
    return;
  }
  take_manifest_headers(q, res);
  if (!strcmp(c->method, "GET") && res->body) {
    brr_buf_append(&q->body, res->body, res->body_len);
    q->size = (int64_t)res->body_len;
  }
  brr_reg_req_finish(q);
}

/* Parse `ref` for an operation; on failure the operation is set to finish later. */
static bool parse_for(brr_registry_req *q, const char *ref, brr_registry_ref *out) {
  if (q->status) return false;
  if (brr_registry_ref_parse(ref, out) != 0) {
    brr_reg_req_fail(q, BRR_EINVAL, 0, "bad image reference '%s'", ref ? ref : "(null)");
    brr_reg_req_finish_later(q);
    return false;
  }
  return true;
}

static brr_registry_req *manifest_call(brr_registry *r, const char *what, const char *method,
                                       const char *ref, brr_registry_cb cb, void *ud, rcall **out) {
  brr_registry_req *q = brr_reg_req_new(r, what, cb, ud);
  brr_registry_ref rf;
  *out = NULL;
  if (!parse_for(q, ref, &rf)) return q;
  char *url = brr_reg_url(r, &rf, "manifests", brr_registry_ref_reference(&rf));
  rcall *c = brr_reg_call_new(q, method, rf.host, url, simple_done, NULL);
  brr_reg_call_scope(c, rf.repository, !strcmp(method, "PUT"));
  free(url);
  brr_registry_ref_free(&rf);
  *out = c;
  return q;
}

brr_registry_req *brr_registry_manifest_get(brr_registry *r, const char *ref,
                                            brr_registry_cb cb, void *ud) {
  rcall *c;
  brr_registry_req *q = manifest_call(r, "get manifest", "GET", ref, cb, ud, &c);
  if (c) {
    brr_reg_call_header(c, "%s", BRR_REG_ACCEPT);
    brr_reg_call_send(c);
  }
  return q;
}

brr_registry_req *brr_registry_manifest_put(brr_registry *r, const char *ref,
                                            const char *media_type, const char *data,
                                            size_t len, brr_registry_cb cb, void *ud) {
  rcall *c;
  brr_registry_req *q = manifest_call(r, "put manifest", "PUT", ref, cb, ud, &c);
  if (c) {
    brr_reg_call_header(c, "Content-Type: %s", media_type);
    c->owned_body = brr_xmalloc(len + 1);
    memcpy(c->owned_body, data, len);
    c->body.data = c->owned_body;
    c->body.len = len;
    c->has_body = true;
    brr_reg_call_send(c);
  }
  return q;
}

brr_registry_req *brr_registry_ratelimit(brr_registry *r, const char *ref, unsigned timeout_ms,
                                         brr_registry_cb cb, void *ud) {
  rcall *c;
  brr_registry_req *q = manifest_call(r, "rate limit", "HEAD", ref, cb, ud, &c);
  if (c) {
    brr_reg_call_header(c, "%s", BRR_REG_ACCEPT);
    c->retry = false;
    c->deadline_ms = timeout_ms ? (long)timeout_ms : 5000;
    brr_reg_call_send(c);
  }
  return q;
}

/* ---- ping ---------------------------------------------------------------------------------------- */

typedef struct ping_op {
  char *host, *url;
  uint64_t until;
  uv_timer_t *timer;
} ping_op;

static void ping_send(brr_registry_req *q);

static void ping_free(void *p) {
  ping_op *o = p;
  if (o->timer) {
    uv_timer_stop(o->timer);
    uv_close((uv_handle_t *)o->timer, timer_closed);
  }
  free(o->host);
  free(o->url);
  free(o);
}

static void ping_cancel(brr_registry_req *q) {
  ping_op *o = q->op;
  if (o->timer && uv_is_active((uv_handle_t *)o->timer)) {
    uv_timer_stop(o->timer);
    q->calls--;
  }
}

static void ping_fire(uv_timer_t *t) {
  brr_registry_req *q = t->data;
  q->calls--;
  if (brr_reg_req_stopping(q)) return;
  ping_send(q);
}

static void ping_done(rcall *c, int status, const brr_http_response *res) {
  brr_registry_req *q = c->req;
  ping_op *o = q->op;
  if (brr_reg_req_stopping(q)) return;
  if (status == 0) {
    q->http_status = res->status;
    brr_reg_req_finish(q);
    return;
  }
  if (brr_mono_ms() >= o->until) {
    brr_reg_req_fail(q, status, res ? res->status : 0, "%s: no answer: %s", o->url,
                     res && res->error ? res->error : "failed");
    brr_reg_req_finish(q);
    return;
  }
  if (!o->timer) {
    o->timer = brr_xcalloc(1, sizeof *o->timer);
    uv_timer_init(q->reg->loop, o->timer);
    o->timer->data = q;
  }
  q->calls++;
  uv_timer_start(o->timer, ping_fire, 20, 0);  /* a registry comes up in a few hundred ms */
}

static void ping_send(brr_registry_req *q) {
  ping_op *o = q->op;
  rcall *c = brr_reg_call_new(q, "GET", o->host, o->url, ping_done, NULL);
  c->retry = false;
  c->any_status_ok = true;
  c->auth_tried = true;  /* a 401 is an answer: the registry is up */
  c->deadline_ms = 2000;
  brr_reg_call_send(c);
}

brr_registry_req *brr_registry_ping(brr_registry *r, const char *host, unsigned timeout_ms,
                                    brr_registry_cb cb, void *ud) {
  brr_registry_req *q = brr_reg_req_new(r, "ping registry", cb, ud);
  if (q->status) return q;
  ping_op *o = brr_xcalloc(1, sizeof *o);
  o->host = brr_xstrdup(host ? host : "");
  char *base = brr_reg_base_url(r, o->host);
  o->url = brr_xasprintf("%s/v2/", base);
  free(base);
  o->until = brr_mono_ms() + timeout_ms;
  q->op = o;
  q->op_free = ping_free;
  q->op_cancel = ping_cancel;
  ping_send(q);
  return q;
}
