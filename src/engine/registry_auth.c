/* Credentials and authentication of the registry client. Credentials come from docker's
 * config.json, looked up once per host: an `auths` entry, or a `docker-credential-<name>`
 * helper run on the loop. A 401 is answered by the scheme the registry names: Bearer fetches
 * a token from the realm (with the credentials when there are any; an identity token is
 * exchanged by the OAuth refresh flow), Basic sends them. Tokens and Basic headers are cached
 * so later calls send them at once. Nothing here ever logs a secret. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "registry_internal.h"

/* ---- credential lookups ----------------------------------------------------------------------- */

static void notify(creds_entry *e) {
  while (e->waiters) {
    creds_waiter *w = e->waiters;
    e->waiters = w->next;
    w->fn(w->ctx, e);
    free(w);
  }
}

static void entry_ready(creds_entry *e) {
  e->state = 1;
  e->has = e->creds.username || e->creds.identitytoken;
  if (e->has) {
    e->auth.username = e->creds.username;
    e->auth.password = e->creds.password;
    e->auth.identitytoken = e->creds.identitytoken;
    e->auth.serveraddress = e->creds.serveraddress;
  }
}

static void helper_exit(void *ud, const brr_spawn_result *res) {
  creds_entry *e = ud;
  e->helper = NULL;
  if (res->spawn_error) {
    e->state = 2;
    e->error = brr_xasprintf("cannot run the credential helper: %s", uv_strerror(res->spawn_error));
  } else if (res->exit_status == 0 && res->term_signal == 0 &&
             brr_registry_helper_parse(res->out, res->out_len, e->host, &e->creds) == 0) {
    entry_ready(e);
  } else if (strstr(res->out, "credentials not found")) {
    entry_ready(e);  /* the helper knows nothing of this host: anonymous */
  } else {
    /* the helper's own words, cut to one line; it is told only the server address */
    const char *why = res->err_len ? res->err_tail : res->out;
    size_t n = strcspn(why, "\n");
    e->state = 2;
    e->error = brr_xasprintf("the credential helper failed (exit status %lld): %.*s",
                             (long long)res->exit_status, (int)(n > 200 ? 200 : n), why);
  }
  notify(e);
}

static void start_lookup(brr_registry *r, creds_entry *e) {
  char *path = brr_path_join(r->config_dir, "config.json");
  brr_buf text = BRR_BUF_INIT;
  int rc = brr_read_file(path, &text);
  free(path);
  if (rc != 0) {  /* no config file: anonymous, as docker */
    brr_buf_free(&text);
    entry_ready(e);
    return;
  }
  char *helper = NULL;
  if (brr_registry_config_lookup(text.data, text.len, e->host, &e->creds, &helper) != 0) {
    e->state = 2;
    e->error = brr_xasprintf("%s/config.json: cannot read the credentials for %s", r->config_dir, e->host);
    brr_buf_free(&text);
    return;
  }
  brr_buf_free(&text);
  if (!helper) {
    entry_ready(e);
    return;
  }
  char *prog = brr_xasprintf("docker-credential-%s", helper);
  char *key = brr_registry_config_key(e->host);
  const char *argv[] = {prog, "get", NULL};
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.input = key;
  o.input_len = strlen(key);
  o.collect = true;
  o.on_exit = helper_exit;
  o.ud = e;
  e->helper = brr_spawn_start(r->loop, &o);
  free(prog);
  free(key);
  free(helper);
}

creds_entry *brr_reg_creds_want(brr_registry *r, const char *host,
                                void (*fn)(void *ctx, creds_entry *e), void *ctx, creds_waiter **w) {
  *w = NULL;
  creds_entry *e = r->creds;
  while (e && strcmp(e->host, host) != 0) e = e->next;
  if (!e) {
    e = brr_xcalloc(1, sizeof *e);
    e->host = brr_xstrdup(host);
    e->next = r->creds;
    r->creds = e;
    start_lookup(r, e);
  }
  if (e->state != 0) return e;
  creds_waiter *x = brr_xcalloc(1, sizeof *x);
  x->e = e;
  x->fn = fn;
  x->ctx = ctx;
  x->next = e->waiters;
  e->waiters = x;
  *w = x;
  return NULL;
}

void brr_reg_creds_unwant(creds_waiter *w) {
  if (!w) return;
  for (creds_waiter **p = &w->e->waiters; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  free(w);
}

static void creds_got(void *ctx, creds_entry *e) {
  brr_registry_req *q = ctx;
  q->waiter = NULL;
  q->calls--;
  if (e->state == 2) brr_reg_req_fail(q, BRR_EFAILED, 0, "%s: %s", e->host, e->error);
  else q->auth = e->has ? &e->auth : NULL;
  /* the lookup may have been answered from the cache inside brr_registry_creds_get */
  brr_reg_req_finish_later(q);
}

brr_registry_req *brr_registry_creds_get(brr_registry *r, const char *host,
                                         brr_registry_creds_cb cb, void *ud) {
  brr_registry_req *q = brr_reg_req_new(r, "registry credentials", NULL, ud);
  q->ccb = cb;
  if (q->status) return q;
  if (!host || !*host) {
    brr_reg_req_fail(q, BRR_EINVAL, 0, "no registry host");
    brr_reg_req_finish_later(q);
    return q;
  }
  q->calls++;
  creds_entry *e = brr_reg_creds_want(r, host, creds_got, q, &q->waiter);
  if (e) creds_got(q, e);
  return q;
}

/* ---- tokens and Basic headers ------------------------------------------------------------------- */

static char *token_key(const rcall *c) {
  return brr_xasprintf("%s %s %s", c->host, c->scope ? c->scope : "", c->scope2 ? c->scope2 : "");
}

static const char *basic_for(brr_registry *r, const char *host) {
  size_t hl = strlen(host);
  for (size_t i = 0; i < r->nbasic; i++)
    if (!strncmp(r->basic[i], host, hl) && r->basic[i][hl] == '\n') return r->basic[i] + hl + 1;
  return NULL;
}

const char *brr_reg_auth_cached(brr_registry *r, const rcall *c) {
  const char *b = basic_for(r, c->host);
  if (b) return b;
  char *key = token_key(c);
  const char *line = NULL;
  uint64_t now = brr_mono_ms();
  for (token_entry *t = r->tokens; t && !line; t = t->next)
    if (!strcmp(t->key, key) && t->expires_ms > now) line = t->line;
  free(key);
  return line;
}

static char *basic_line(const char *user, const char *pass) {
  char *plain = brr_xasprintf("%s:%s", user, pass ? pass : "");
  size_t n = strlen(plain);
  unsigned char *b64 = brr_xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock(b64, (const unsigned char *)plain, (int)n);
  char *line = brr_xasprintf("Authorization: Basic %s", b64);
  OPENSSL_cleanse(plain, n);
  free(plain);
  free(b64);
  return line;
}

/* End the call on an authentication failure; `msg` (heap) becomes the operation's error. */
static void fail_call(rcall *c, int status, char *msg) {
  brr_reg_req_fail(c->req, status, 401, "%s", msg);
  free(msg);
  brr_reg_call_end(c, status, NULL);
}

static void token_done(void *ud, const brr_http_response *res) {
  rcall *c = ud;
  c->http = NULL;
  if (c->req->cancelled || res->result == BRR_ECANCELED) {
    brr_reg_call_end(c, BRR_ECANCELED, NULL);
    return;
  }
  if (res->result != 0) {
    brr_reg_req_fail(c->req, res->result, 0, "token from %s: %s", c->chal.realm, res->error);
    brr_reg_call_end(c, res->result, NULL);
    return;
  }
  cJSON *j = res->status == 200 ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "token");
  if (!cJSON_IsString(tok)) tok = cJSON_GetObjectItemCaseSensitive(j, "access_token");
  if (!cJSON_IsString(tok) || !tok->valuestring[0]) {
    fail_call(c, BRR_EFAILED,
              brr_xasprintf("authentication failed: the token server %s answered HTTP %ld", c->chal.realm,
                            res->status));
    cJSON_Delete(j);
    return;
  }
  const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
  double secs = cJSON_IsNumber(exp) && exp->valuedouble > 0 ? exp->valuedouble : 60;
  token_entry *t = brr_xcalloc(1, sizeof *t);
  t->key = token_key(c);
  t->line = brr_xasprintf("Authorization: Bearer %s", tok->valuestring);
  /* a little early, so a token never expires between the check and the answer */
  t->expires_ms = brr_mono_ms() + (uint64_t)(secs * 1000) - (secs > 20 ? 10000 : 0);
  t->next = c->reg->tokens;
  c->reg->tokens = t;
  cJSON_Delete(j);
  free(c->auth_line);
  c->auth_line = brr_xstrdup(t->line);
  brr_reg_call_resend(c);
}

/* Append k=v (escaped): to a URL after '?' or '&', to a form after '&'. */
static void add_param(brr_buf *b, bool is_url, const char *k, const char *v) {
  char sep = is_url ? (strchr(brr_buf_cstr(b), '?') ? '&' : '?') : (b->len ? '&' : '\0');
  char *e = curl_easy_escape(NULL, v, 0);
  if (sep) brr_buf_putc(b, sep);
  brr_buf_printf(b, "%s=%s", k, e);
  curl_free(e);
}

static void fetch_token(rcall *c, creds_entry *e) {
  bool refresh = e->has && e->creds.identitytoken;
  brr_buf url = BRR_BUF_INIT;
  brr_buf form = BRR_BUF_INIT;
  brr_buf_puts(&url, c->chal.realm);
  brr_buf *q = refresh ? &form : &url;
  if (c->chal.service) add_param(q, !refresh, "service", c->chal.service);
  /* the scopes this call needs, and the one the registry asked for when it differs */
  if (c->scope) add_param(q, !refresh, "scope", c->scope);
  if (c->scope2) add_param(q, !refresh, "scope", c->scope2);
  if (c->chal.scope && !brr_streq(c->chal.scope, c->scope) && !brr_streq(c->chal.scope, c->scope2))
    add_param(q, !refresh, "scope", c->chal.scope);
  char *auth = NULL;
  const char *hdrs[2] = {NULL, NULL};
  brr_http_request rq = {0};
  brr_engine_body body = {0};
  if (refresh) {
    add_param(&form, false, "grant_type", "refresh_token");
    add_param(&form, false, "client_id", "brr");
    add_param(&form, false, "refresh_token", e->creds.identitytoken);
    rq.method = "POST";
    hdrs[0] = "Content-Type: application/x-www-form-urlencoded";
    /* libcurl reads the body while the request lives: the call keeps it */
    c->token_form = brr_buf_detach(&form);
    body.data = c->token_form;
    body.len = strlen(c->token_form);
    rq.body = &body;
  } else if (e->has && e->creds.username) {
    auth = basic_line(e->creds.username, e->creds.password);
    hdrs[0] = auth;
  }
  rq.url = url.data;
  rq.headers = hdrs;
  long left = brr_reg_call_time_left(c);
  rq.timeout_ms = left > 0 ? left : 60000;
  rq.connect_timeout_ms = left > 0 ? left : 30000;
  rq.ud = c;
  rq.on_done = token_done;
  c->http = c->reg->http ? brr_http_start(c->reg->http, &rq) : NULL;
  if (auth) {
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
  }
  brr_buf_free(&url);
  if (!c->http) brr_reg_call_end(c, BRR_ECANCELED, NULL);
}

static void on_creds(void *ctx, creds_entry *e) {
  rcall *c = ctx;
  c->waiter = NULL;
  if (c->req->cancelled) {
    brr_reg_call_end(c, BRR_ECANCELED, NULL);
    return;
  }
  if (e->state == 2) {
    fail_call(c, BRR_EFAILED, brr_xasprintf("%s: %s", e->host, e->error));
    return;
  }
  if (!strcmp(c->chal.scheme, "basic")) {
    if (!e->has || !e->creds.username) {
      fail_call(c, BRR_EFAILED,
                brr_xasprintf("%s %s: HTTP 401: authentication required and no credentials are configured",
                              c->method, c->url));
      return;
    }
    char *line = basic_line(e->creds.username, e->creds.password);
    char *entry = brr_xasprintf("%s\n%s", c->host, line);
    BRR_VEC_PUSH(c->reg->basic, c->reg->nbasic, c->reg->capbasic, entry);
    free(c->auth_line);
    c->auth_line = line;
    brr_reg_call_resend(c);
    return;
  }
  fetch_token(c, e);
}

void brr_reg_auth_challenge(rcall *c, const char *www) {
  brr_registry_challenge_free(&c->chal);
  bool ok = www && brr_registry_challenge_parse(www, &c->chal) == 0 &&
            (!strcmp(c->chal.scheme, "basic") || (!strcmp(c->chal.scheme, "bearer") && c->chal.realm));
  if (!ok) {
    fail_call(c, BRR_EFAILED, brr_xasprintf("%s %s: HTTP 401 without a usable challenge", c->method, c->url));
    return;
  }
  /* a cached header was refused: forget it, the challenge decides again */
  free(c->auth_line);
  c->auth_line = NULL;
  creds_entry *e = brr_reg_creds_want(c->reg, c->host, on_creds, c, &c->waiter);
  if (e) on_creds(c, e);
}

void brr_reg_auth_free_all(brr_registry *r) {
  while (r->creds) {
    creds_entry *e = r->creds;
    r->creds = e->next;
    if (e->helper) brr_spawn_abandon(e->helper);
    while (e->waiters) {
      creds_waiter *w = e->waiters;
      e->waiters = w->next;
      free(w);
    }
    brr_registry_creds_free(&e->creds);
    free(e->host);
    free(e->error);
    free(e);
  }
  while (r->tokens) {
    token_entry *t = r->tokens;
    r->tokens = t->next;
    OPENSSL_cleanse(t->line, strlen(t->line));
    free(t->line);
    free(t->key);
    free(t);
  }
  for (size_t i = 0; i < r->nbasic; i++) {
    OPENSSL_cleanse(r->basic[i], strlen(r->basic[i]));
    free(r->basic[i]);
  }
  free(r->basic);
  r->basic = NULL;
  r->nbasic = r->capbasic = 0;
}
