/* The registry client against a scripted server on the same loop: what a real registry will
 * not do on demand (5xx and 429 in a row, token challenges, Basic challenges answered from
 * config.json and from a real docker-credential-* program, silence, redirects) and the exact
 * requests the client sends. The e2e tests drive the same client against real registries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "brr/registry.h"
#include "http_stub.h"

static uv_loop_t loop;
static stub srv;
static char *tmpdir;

typedef struct got {
  int calls;
  int status;
  long http;
  char *error, *digest, *type, *body;
  int64_t size;
  long rl_limit, rl_left;
  unsigned attempts;
} got;

static void got_cb(void *ud, const brr_registry_result *r) {
  got *g = ud;
  g->calls++;
  g->status = r->status;
  g->http = r->http_status;
  g->error = r->error ? brr_xstrdup(r->error) : NULL;
  g->digest = r->digest ? brr_xstrdup(r->digest) : NULL;
  g->type = r->media_type ? brr_xstrdup(r->media_type) : NULL;
  g->body = r->body ? brr_xstrndup(r->body, r->body_len) : NULL;
  g->size = r->size;
  g->rl_limit = r->ratelimit_limit;
  g->rl_left = r->ratelimit_remaining;
  g->attempts = r->attempts;
}

static void got_free(got *g) {
  free(g->error), free(g->digest), free(g->type), free(g->body);
  memset(g, 0, sizeof *g);
}

static void tick(uv_timer_t *t) { (void)t; }

/* libuv 1.44 runs due timers before it polls in UV_RUN_ONCE: a result delivered by a 0 ms
 * timer would leave the loop asleep in poll, so a ticking timer keeps it turning. */
static void run_until(const int *calls) {
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, tick, 5, 5);
  while (*calls == 0) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static char *host(void) { return brr_xasprintf("127.0.0.1:%d", srv.port); }

static brr_registry *client(unsigned attempts) {
  brr_registry_opts o = {0};
  o.docker_config = tmpdir;
  o.temp_dir = tmpdir;
  o.backoff_ms = 5;
  o.max_attempts = attempts;
  o.timeout_s = 10;
  return brr_registry_new(&loop, &o);
}

static void client_free(brr_registry *r) {
  brr_registry_free(r);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static void write_config(const char *json) {
  char *p = brr_path_join(tmpdir, "config.json");
  assert_int_equal(brr_write_file(p, json, strlen(json)), 0);
  free(p);
}

static int setup(void **state) {
  (void)state;
  uv_loop_init(&loop);
  stub_start(&srv, &loop);
  char t[] = "/tmp/brr-regtest-XXXXXX";
  tmpdir = brr_xstrdup(mkdtemp(t));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  stub_stop(&srv);
  brr_rm_rf(tmpdir);
  free(tmpdir);
  while (uv_run(&loop, UV_RUN_NOWAIT)) {
  }
  assert_int_equal(uv_loop_close(&loop), 0);
  return 0;
}

#define ROUTE(m, p, ...)                                   \
  do {                                                     \
    const char *a_[] = {__VA_ARGS__, NULL};                \
    stub_route_add(&srv, m, p, a_);                        \
  } while (0)

static const char *MANIFEST = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\"}";

static char *manifest_answer(void) {
  return stub_answer(200, "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n"
                          "Docker-Content-Digest: sha256:abc\r\n", MANIFEST);
}

/* ---- plain calls and retries ----------------------------------------------------------------- */

static void test_manifest_get_sends_accept(void **state) {
  (void)state;
  char *ok = manifest_answer();
  ROUTE("GET", "/v2/app/manifests/v1", ok);
  brr_registry *r = client(0);
  char *h = host(), *ref = brr_xasprintf("%s/app:v1", h);
  got g = {0};
  brr_registry_manifest_get(r, ref, got_cb, &g);
  assert_int_equal(g.calls, 0);  /* never from inside the call */
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.digest, "sha256:abc");
  assert_string_equal(g.type, BRR_REGISTRY_DOCKER_MANIFEST);
  assert_string_equal(g.body, MANIFEST);
  assert_int_equal(g.size, (int64_t)strlen(MANIFEST));
  const stub_request *q = stub_last(&srv, "GET", "/v2/app/manifests/v1");
  assert_non_null(q);
  assert_non_null(strstr(q->headers, BRR_REGISTRY_OCI_INDEX));
  assert_non_null(strstr(q->headers, BRR_REGISTRY_DOCKER_MANIFEST));
  assert_null(strcasestr(q->headers, "Authorization"));
  got_free(&g);
  client_free(r);
  free(h), free(ref), free(ok);
}

static void test_5xx_and_429_are_retried(void **state) {
  (void)state;
  char *ok = manifest_answer();
  char *e503 = stub_answer(503, "", "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"busy\"}]}");
  char *e429 = stub_answer(429, "Retry-After: 0\r\n", "");
  ROUTE("GET", "/v2/app/manifests/", e503, e429, e503, ok);
  brr_registry *r = client(5);
  char *h = host(), *ref = brr_xasprintf("%s/app:v1", h);
  got g = {0};
  brr_registry_manifest_get(r, ref, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  assert_int_equal(g.attempts, 4);
  assert_int_equal(stub_count(&srv, "GET", "/v2/app/manifests/"), 4);
  got_free(&g);
  client_free(r);
  free(h), free(ref), free(ok), free(e503), free(e429);
}

static void test_retries_run_out(void **state) {
  (void)state;
  char *e500 = stub_answer(500, "", "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"disk full\"}]}");
  ROUTE("PUT", "/v2/app/manifests/", e500);
  brr_registry *r = client(3);
  char *h = host(), *ref = brr_xasprintf("%s/app:v1", h);
  got g = {0};
  brr_registry_manifest_put(r, ref, BRR_REGISTRY_OCI_INDEX, "{}", 2, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, BRR_EFAILED);
  assert_int_equal(g.http, 500);
  assert_non_null(strstr(g.error, "HTTP 500: disk full (UNKNOWN)"));
  assert_int_equal(stub_count(&srv, "PUT", "/v2/app/manifests/"), 3);
  /* the body went again with every try */
  const stub_request *q = stub_last(&srv, "PUT", "/v2/app/manifests/");
  assert_string_equal(brr_buf_cstr(&q->body), "{}");
  assert_non_null(strstr(q->headers, "Content-Type: " BRR_REGISTRY_OCI_INDEX));
  got_free(&g);
  client_free(r);
  free(h), free(ref), free(e500);
}

static void test_404_is_final(void **state) {
  (void)state;
  char *e404 = stub_answer(404, "", "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}");
  ROUTE("GET", "/v2/", e404);
  brr_registry *r = client(5);
  char *h = host(), *ref = brr_xasprintf("%s/nope:v1", h);
  got g = {0};
  brr_registry_manifest_get(r, ref, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, BRR_ENOENT);
  assert_int_equal(stub_count(&srv, "GET", "/v2/"), 1);
  assert_non_null(strstr(g.error, "manifest unknown"));
  got_free(&g);
  client_free(r);
  free(h), free(ref), free(e404);
}

/* ---- authentication ------------------------------------------------------------------------- */

static void test_bearer_token_flow(void **state) {
  (void)state;
  char *h = host();
  char *chal = brr_xasprintf("WWW-Authenticate: Bearer realm=\"http://%s/token\",service=\"svc\","
                             "scope=\"repository:app:pull\"\r\n", h);
  char *e401 = stub_answer(401, chal, "");
  char *ok = manifest_answer();
  char *tok = stub_answer(200, "", "{\"token\":\"T0KEN\",\"expires_in\":300}");
  ROUTE("GET", "/v2/app/manifests/", e401, ok);
  ROUTE("GET", "/token", tok);
  /* config.json with credentials for this host: the token request carries them */
  char *cfg = brr_xasprintf("{\"auths\":{\"%s\":{\"auth\":\"dXNlcjpwdw==\"}}}", h); /* user:pw */
  write_config(cfg);
  brr_registry *r = client(0);
  char *ref = brr_xasprintf("%s/app:v1", h);
  got g = {0};
  brr_registry_manifest_get(r, ref, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  const stub_request *t = stub_last(&srv, "GET", "/token");
  assert_non_null(t);
  assert_non_null(strstr(t->path, "service=svc"));
  assert_non_null(strstr(t->path, "scope=repository%3Aapp%3Apull"));
  assert_non_null(strstr(t->headers, "Authorization: Basic dXNlcjpwdw=="));
  const stub_request *q = stub_last(&srv, "GET", "/v2/app/manifests/");
  assert_non_null(strstr(q->headers, "Authorization: Bearer T0KEN"));
  got_free(&g);
  /* the token is kept: a second call of the same scope sends it at once */
  brr_registry_manifest_get(r, ref, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  assert_int_equal(stub_count(&srv, "GET", "/token"), 1);
  assert_int_equal(stub_count(&srv, "GET", "/v2/app/manifests/"), 3);
  got_free(&g);
  client_free(r);
  free(h), free(chal), free(e401), free(ok), free(tok), free(cfg), free(ref);
}

static void write_helper(const char *name, const char *script) {
  char *p = brr_xasprintf("%s/docker-credential-%s", tmpdir, name);
  assert_int_equal(brr_write_file(p, script, strlen(script)), 0);
  chmod(p, 0755);
  free(p);
}

static void with_path(void) {
  const char *old = getenv("PATH");
  char *np = brr_xasprintf("%s:%s", tmpdir, old ? old : "/usr/bin:/bin");
  setenv("PATH", np, 1);
  free(np);
}

static void test_basic_from_credential_helper(void **state) {
  (void)state;
  char *h = host();
  char *e401 = stub_answer(401, "WWW-Authenticate: Basic realm=\"registry\"\r\n", "");
  char *ok = manifest_answer();
  ROUTE("GET", "/v2/app/manifests/", e401, ok);
  char *cfg = brr_xasprintf("{\"credHelpers\":{\"%s\":\"brrtest\"}}", h);
  write_config(cfg);
  /* a real helper: records what it was asked, answers with a user */
  char *script = brr_xasprintf("#!/bin/sh\n[ \"$1\" = get ] || exit 3\ncat > %s/asked\n"
                               "printf '{\"ServerURL\":\"x\",\"Username\":\"helperuser\",\"Secret\":\"helperpass\"}'\n",
                               tmpdir);
  write_helper("brrtest", script);
  with_path();
  brr_registry *r = client(0);
  char *ref = brr_xasprintf("%s/app:v1", h);
  got g = {0};
  brr_registry_manifest_get(r, ref, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  /* base64("helperuser:helperpass") */
  const stub_request *q = stub_last(&srv, "GET", "/v2/app/manifests/");
  assert_non_null(strstr(q->headers, "Authorization: Basic aGVscGVydXNlcjpoZWxwZXJwYXNz"));
  char *asked_path = brr_path_join(tmpdir, "asked");
  brr_buf asked = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(asked_path, &asked), 0);
  assert_string_equal(brr_buf_cstr(&asked), h);
  got_free(&g);
  client_free(r);
  brr_buf_free(&asked);
  free(asked_path);
  free(h), free(e401), free(ok), free(cfg), free(script), free(ref);
}

typedef struct creds_got {
  int calls, status;
  char *user, *pass, *error;
} creds_got;

static void creds_cb(void *ud, int status, const char *error, const brr_engine_auth *auth) {
  creds_got *c = ud;
  c->calls++;
  c->status = status;
  c->error = error ? brr_xstrdup(error) : NULL;
  c->user = auth && auth->username ? brr_xstrdup(auth->username) : NULL;
  c->pass = auth && auth->password ? brr_xstrdup(auth->password) : NULL;
}

static void test_creds_lookup(void **state) {
  (void)state;
  write_config("{\"auths\":{\"a.example\":{\"auth\":\"dXNlcjpwdw==\"}},"
               "\"credHelpers\":{\"b.example\":\"brrfail\",\"c.example\":\"brrmissing\"},"
               "\"credsStore\":\"brrnone\"}");
  write_helper("brrfail", "#!/bin/sh\necho 'keychain locked' >&2\nexit 1\n");
  write_helper("brrnone", "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n");
  with_path();
  brr_registry *r = client(0);
  creds_got a = {0}, b = {0}, c = {0}, d = {0};
  brr_registry_creds_get(r, "a.example", creds_cb, &a);
  brr_registry_creds_get(r, "b.example", creds_cb, &b);
  brr_registry_creds_get(r, "c.example", creds_cb, &c);
  brr_registry_creds_get(r, "d.example", creds_cb, &d);
  assert_int_equal(a.calls + b.calls + c.calls + d.calls, 0);
  run_until(&a.calls);
  run_until(&b.calls);
  run_until(&c.calls);
  run_until(&d.calls);
  assert_int_equal(a.status, 0);
  assert_string_equal(a.user, "user");
  assert_string_equal(a.pass, "pw");
  assert_int_equal(b.status, BRR_EFAILED);
  assert_non_null(strstr(b.error, "keychain locked"));
  assert_int_equal(c.status, BRR_EFAILED);
  assert_non_null(strstr(c.error, "cannot run the credential helper"));
  assert_int_equal(d.status, 0);
  assert_null(d.user);  /* the store has nothing for this host: anonymous */
  creds_got *all[] = {&a, &b, &c, &d};
  for (size_t i = 0; i < 4; i++) free(all[i]->user), free(all[i]->pass), free(all[i]->error);
  client_free(r);
}

static void test_basic_without_credentials_fails(void **state) {
  (void)state;
  char *e401 = stub_answer(401, "WWW-Authenticate: Basic realm=\"registry\"\r\n", "");
  ROUTE("GET", "/v2/", e401);
  write_config("{}");
  brr_registry *r = client(0);
  char *h = host(), *ref = brr_xasprintf("%s/app:v1", h);
  got g = {0};
  brr_registry_manifest_get(r, ref, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, BRR_EFAILED);
  assert_non_null(strstr(g.error, "no credentials"));
  assert_int_equal(stub_count(&srv, "GET", "/v2/"), 1);
  got_free(&g);
  client_free(r);
  free(e401), free(h), free(ref);
}

/* ---- rate limits, silence, cancel --------------------------------------------------------------- */

static void test_ratelimit_headers(void **state) {
  (void)state;
  char *ok = stub_answer(200, "Content-Type: application/vnd.docker.distribution.manifest.list.v2+json\r\n"
                              "Docker-Content-Digest: sha256:def\r\n"
                              "RateLimit-Limit: 100;w=21600\r\nRateLimit-Remaining: 3;w=21600\r\n", "");
  ROUTE("HEAD", "/v2/library/busybox/manifests/latest", ok);
  char *h = host(), *hub = brr_xasprintf("http://%s", h);
  brr_registry_opts o = {0};
  o.docker_config = tmpdir;
  o.hub_url = hub;
  brr_registry *r = brr_registry_new(&loop, &o);
  got g = {0};
  brr_registry_ratelimit(r, "busybox", 3000, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  assert_int_equal(g.rl_limit, 100);
  assert_int_equal(g.rl_left, 3);
  got_free(&g);
  client_free(r);
  free(ok), free(h), free(hub);
}

static void test_ratelimit_gives_up_on_silence(void **state) {
  (void)state;
  ROUTE("HEAD", "/v2/", STUB_HANG);
  char *h = host(), *hub = brr_xasprintf("http://%s", h);
  brr_registry_opts o = {0};
  o.docker_config = tmpdir;
  o.hub_url = hub;
  brr_registry *r = brr_registry_new(&loop, &o);
  got g = {0};
  uint64_t t0 = brr_mono_ms();
  brr_registry_ratelimit(r, "busybox", 300, got_cb, &g);
  run_until(&g.calls);
  /* only the deadline can end it: the server never answers */
  assert_int_equal(g.status, BRR_ETIMEOUT);
  assert_true(brr_mono_ms() - t0 < 10000);
  assert_int_equal(stub_count(&srv, "HEAD", "/v2/"), 1);
  got_free(&g);
  client_free(r);
  free(h), free(hub);
}

static void test_cancel_and_free(void **state) {
  (void)state;
  ROUTE("GET", "/v2/", STUB_HANG);
  brr_registry *r = client(0);
  char *h = host(), *ref = brr_xasprintf("%s/app:v1", h);
  got g = {0}, g2 = {0};
  brr_registry_req *q = brr_registry_manifest_get(r, ref, got_cb, &g);
  while (stub_count(&srv, "GET", "/v2/") == 0) uv_run(&loop, UV_RUN_ONCE);  /* the request arrives by I/O */
  brr_registry_cancel(q);
  assert_int_equal(g.calls, 0);
  run_until(&g.calls);
  assert_int_equal(g.status, BRR_ECANCELED);
  brr_registry_manifest_get(r, ref, got_cb, &g2);
  while (stub_count(&srv, "GET", "/v2/") < 2) uv_run(&loop, UV_RUN_ONCE);
  /* freeing the client reports what is in flight at once */
  brr_registry_free(r);
  assert_int_equal(g2.calls, 1);
  assert_int_equal(g2.status, BRR_ECANCELED);
  uv_run(&loop, UV_RUN_NOWAIT);
  got_free(&g);
  got_free(&g2);
  free(h), free(ref);
}

static void test_ping_waits_for_the_registry(void **state) {
  (void)state;
  char *e503 = stub_answer(503, "", "");
  char *e401 = stub_answer(401, "WWW-Authenticate: Basic realm=\"r\"\r\n", "");
  ROUTE("GET", "/v2/", e503, e503, e401);
  brr_registry *r = client(0);
  char *h = host();
  got g = {0};
  brr_registry_ping(r, h, 5000, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  assert_int_equal(g.http, 401);
  assert_int_equal(stub_count(&srv, "GET", "/v2/"), 3);
  got_free(&g);
  /* nothing listens: it gives up at the deadline */
  brr_registry_ping(r, "127.0.0.1:1", 300, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, BRR_EIO);
  got_free(&g);
  client_free(r);
  free(e503), free(e401), free(h);
}

/* ---- composite operations -------------------------------------------------------------------- */

static char *sha256_hex(const char *data, size_t len) {
  unsigned char h[32];
  unsigned hl;
  EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL);
  char *out = brr_xmalloc(7 + 65);
  strcpy(out, "sha256:");
  for (unsigned i = 0; i < hl; i++) snprintf(out + 7 + 2 * i, 3, "%02x", h[i]);
  return out;
}

static void test_index_create(void **state) {
  (void)state;
  char *a = stub_answer(200, "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n"
                             "Docker-Content-Digest: sha256:aaa\r\n", "");
  char *b = stub_answer(200, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                             "Docker-Content-Digest: sha256:bbb\r\n", "");
  /* HEAD answers carry the length of the manifest without a body: script it by hand */
  char *a2 = brr_xasprintf("%.*sContent-Length: 1150\r\n\r\n", (int)(strstr(a, "Content-Length") - a), a);
  char *b2 = brr_xasprintf("%.*sContent-Length: 777\r\n\r\n", (int)(strstr(b, "Content-Length") - b), b);
  char *put = stub_answer(201, "Docker-Content-Digest: sha256:iii\r\n", "");
  ROUTE("HEAD", "/v2/mp/manifests/u-linux-amd64", a2);
  ROUTE("HEAD", "/v2/mp/manifests/u-linux-arm64", b2);
  ROUTE("PUT", "/v2/mp/manifests/u", put);
  brr_registry *r = client(0);
  char *h = host();
  char *c1 = brr_xasprintf("%s/mp:u-linux-amd64", h), *c2 = brr_xasprintf("%s/mp:u-linux-arm64", h);
  char *dst = brr_xasprintf("%s/mp:u", h);
  brr_registry_child kids[] = {{c1, "linux/amd64"}, {c2, "linux/arm64/v8"}};
  got g = {0};
  brr_registry_index_create(r, dst, kids, 2, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.digest, "sha256:iii");
  const stub_request *p = stub_last(&srv, "PUT", "/v2/mp/manifests/u");
  assert_non_null(strstr(p->headers, "Content-Type: " BRR_REGISTRY_OCI_INDEX));
  cJSON *j = cJSON_Parse(brr_buf_cstr(&p->body));
  cJSON *ms = cJSON_GetObjectItem(j, "manifests");
  assert_int_equal(cJSON_GetArraySize(ms), 2);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "digest")->valuestring, "sha256:aaa");
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "size")->valueint, 1150);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 1), "mediaType")->valuestring,
                      BRR_REGISTRY_OCI_MANIFEST);
  cJSON_Delete(j);
  got_free(&g);
  /* a child in another repository is refused before anything is sent */
  char *other = brr_xasprintf("%s/elsewhere:x", h);
  brr_registry_child bad[] = {{other, "linux/amd64"}};
  size_t before = srv.n_reqs;
  brr_registry_index_create(r, dst, bad, 1, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, BRR_EINVAL);
  assert_int_equal(srv.n_reqs, before);
  got_free(&g);
  client_free(r);
  free(a), free(b), free(a2), free(b2), free(put), free(h), free(c1), free(c2), free(dst), free(other);
}

/* Copy between two hosts (127.0.0.1 and localhost name the same stub): the blobs the
 * destination lacks are downloaded, checked and uploaded; the one it has is skipped. */
static void test_copy_across_hosts(void **state) {
  (void)state;
  const char *layer = "layer bytes";
  const char *config = "{\"architecture\":\"amd64\"}";
  char *dl = sha256_hex(layer, strlen(layer)), *dc = sha256_hex(config, strlen(config));
  char *manifest = brr_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"x\","
                                 "\"size\":%zu,\"digest\":\"%s\"},\"layers\":[{\"mediaType\":\"y\",\"size\":%zu,"
                                 "\"digest\":\"%s\"}]}",
                                 BRR_REGISTRY_DOCKER_MANIFEST, strlen(config), dc, strlen(layer), dl);
  char *mhdr = brr_xasprintf("Content-Type: %s\r\nDocker-Content-Digest: sha256:mmm\r\n", BRR_REGISTRY_DOCKER_MANIFEST);
  char *mans = stub_answer(200, mhdr, manifest);
  char *p_m = brr_xasprintf("/v2/src/blobs/%s", dl);
  char *p_has = brr_xasprintf("/v2/dst/blobs/%s", dc);
  char *p_lacks = brr_xasprintf("/v2/dst/blobs/%s", dl);
  char *blob = stub_answer(200, "", layer);
  char *e404 = stub_answer(404, "", "");
  char *ok200 = stub_answer(200, "", "");
  char *loc = stub_answer(202, "Location: /v2/dst/blobs/uploads/sess1?_state=x\r\n", "");
  char *created = stub_answer(201, "", "");
  ROUTE("GET", "/v2/src/manifests/v1", mans);
  ROUTE("HEAD", p_has, ok200);
  ROUTE("HEAD", p_lacks, e404);
  ROUTE("GET", p_m, blob);
  ROUTE("POST", "/v2/dst/blobs/uploads/", loc);
  ROUTE("PUT", "/v2/dst/blobs/uploads/sess1", created);
  ROUTE("PUT", "/v2/dst/manifests/v2", created);
  brr_registry *r = client(0);
  char *src = brr_xasprintf("127.0.0.1:%d/src:v1", srv.port), *dst = brr_xasprintf("localhost:%d/dst:v2", srv.port);
  got g = {0};
  brr_registry_copy(r, src, dst, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, 0);
  assert_string_equal(g.digest, "sha256:mmm");
  assert_int_equal(stub_count(&srv, "GET", "/v2/src/blobs/"), 1);   /* the config was there */
  const stub_request *up = stub_last(&srv, "PUT", "/v2/dst/blobs/uploads/sess1");
  assert_non_null(up);
  assert_string_equal(brr_buf_cstr(&up->body), layer);
  char *want = brr_xasprintf("_state=x&digest=%s", dl);
  assert_non_null(strstr(up->path, want));
  const stub_request *mp = stub_last(&srv, "PUT", "/v2/dst/manifests/v2");
  assert_string_equal(brr_buf_cstr(&mp->body), manifest);
  got_free(&g);
  free(want);

  /* bytes that do not match their digest stop the copy before anything is uploaded */
  stub_routes_clear(&srv);
  char *corrupt = stub_answer(200, "", "tampered");
  ROUTE("GET", "/v2/src/manifests/v1", mans);
  ROUTE("HEAD", "/v2/dst/blobs/", e404);
  ROUTE("GET", "/v2/src/blobs/", corrupt);
  size_t puts_before = stub_count(&srv, "PUT", "/v2/dst/blobs/uploads/");
  brr_registry_copy(r, src, dst, got_cb, &g);
  run_until(&g.calls);
  assert_int_equal(g.status, BRR_EIO);
  assert_non_null(strstr(g.error, "do not match"));
  assert_int_equal(stub_count(&srv, "PUT", "/v2/dst/blobs/uploads/"), puts_before);
  got_free(&g);
  client_free(r);
  /* no spool file is left behind */
  char *cmd = brr_xasprintf("ls %s | grep -c brr-blob", tmpdir);
  FILE *f = popen(cmd, "r");
  int n = -1;
  assert_int_equal(fscanf(f, "%d", &n), 1);
  pclose(f);
  assert_int_equal(n, 0);
  free(cmd), free(corrupt);
  free(dl), free(dc), free(manifest), free(mhdr), free(mans), free(p_m), free(p_has), free(p_lacks), free(blob),
      free(e404), free(ok200), free(loc), free(created), free(src), free(dst);
}

/* Two copies into one repository: the second starts only when the first has put its
 * manifest (the registry's storage is not safe against one blob uploaded twice at once), and
 * then finds the blob there. */
static void test_copies_into_one_repository_take_turns(void **state) {
  (void)state;
  const char *layer = "shared layer";
  char *dl = sha256_hex(layer, strlen(layer));
  char *manifest = brr_xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\",\"size\":%zu},\"layers\":[]}", dl,
                                 strlen(layer));
  char *mhdr = brr_xasprintf("Content-Type: %s\r\nDocker-Content-Digest: sha256:m\r\n", BRR_REGISTRY_DOCKER_MANIFEST);
  char *mans = stub_answer(200, mhdr, manifest);
  char *blob = stub_answer(200, "", layer);
  char *e404 = stub_answer(404, "", "");
  char *ok200 = stub_answer(200, "", "");
  char *loc = stub_answer(202, "Location: /v2/dst/blobs/uploads/s\r\n", "");
  char *created = stub_answer(201, "", "");
  ROUTE("GET", "/v2/src/manifests/", mans);
  ROUTE("HEAD", "/v2/dst/blobs/", e404, ok200);
  ROUTE("GET", "/v2/src/blobs/", blob);
  ROUTE("POST", "/v2/dst/blobs/uploads/", loc);
  ROUTE("PUT", "/v2/dst/blobs/uploads/s", created);
  ROUTE("PUT", "/v2/dst/manifests/", created);
  brr_registry *r = client(0);
  char *src = brr_xasprintf("127.0.0.1:%d/src:v1", srv.port);
  char *d1 = brr_xasprintf("localhost:%d/dst:a", srv.port), *d2 = brr_xasprintf("localhost:%d/dst:b", srv.port);
  got g1 = {0}, g2 = {0};
  brr_registry_copy(r, src, d1, got_cb, &g1);
  brr_registry_copy(r, src, d2, got_cb, &g2);
  run_until(&g1.calls);
  run_until(&g2.calls);
  assert_int_equal(g1.status, 0);
  assert_int_equal(g2.status, 0);
  size_t first_put = 0, second_get = 0, gets = 0;
  for (size_t i = 0; i < srv.n_reqs; i++) {
    const stub_request *q = &srv.reqs[i];
    if (!first_put && !strcmp(q->method, "PUT") && brr_startswith(q->path, "/v2/dst/manifests/")) first_put = i + 1;
    if (!strcmp(q->method, "GET") && brr_startswith(q->path, "/v2/src/manifests/") && ++gets == 2) second_get = i + 1;
  }
  assert_true(first_put > 0 && second_get > first_put);
  assert_int_equal(stub_count(&srv, "GET", "/v2/src/blobs/"), 1);
  assert_int_equal(stub_count(&srv, "PUT", "/v2/dst/manifests/"), 2);
  got_free(&g1);
  got_free(&g2);
  client_free(r);
  free(dl), free(manifest), free(mhdr), free(mans), free(blob), free(e404), free(ok200), free(loc), free(created),
      free(src), free(d1), free(d2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_manifest_get_sends_accept),
      T(test_5xx_and_429_are_retried),
      T(test_retries_run_out),
      T(test_404_is_final),
      T(test_bearer_token_flow),
      T(test_basic_from_credential_helper),
      T(test_creds_lookup),
      T(test_basic_without_credentials_fails),
      T(test_ratelimit_headers),
      T(test_ratelimit_gives_up_on_silence),
      T(test_cancel_and_free),
      T(test_ping_waits_for_the_registry),
      T(test_index_create),
      T(test_copy_across_hosts),
      T(test_copies_into_one_repository_take_turns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
