/* engine e2e, images: builds from a tar context (and an errorDetail failure), single-flight
 * pulls (checked against the engine's own event log), tag + push to 127.0.0.1:5000 and read
 * back through the registry API, import. */
#include <archive.h>
#include <archive_entry.h>
#include <time.h>
#include <unistd.h>

#include "e2e/engine_helpers.h"

static la_ssize_t tar_write(struct archive *a, void *ud, const void *p, size_t n) {
  (void)a;
  brr_buf_append(ud, p, n);
  return (la_ssize_t)n;
}

/* A tar of NULL-terminated name, content pairs. */
static brr_buf make_tar(const char *const *files) {
  brr_buf b = BRR_BUF_INIT;
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &b, NULL, tar_write, NULL);
  for (; files[0]; files += 2) {
    struct archive_entry *en = archive_entry_new();
    size_t n = strlen(files[1]);
    archive_entry_set_pathname(en, files[0]);
    archive_entry_set_size(en, (la_int64_t)n);
    archive_entry_set_filetype(en, AE_IFREG);
    archive_entry_set_perm(en, 0755);
    assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, files[1], n), (la_ssize_t)n);
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return b;
}

typedef struct progress_seen {
  box b;
  brr_buf text;      /* stream and status texts */
  int messages;
} progress_seen;

static void seen_progress(void *ud, const brr_engine_progress *p) {
  progress_seen *s = ud;
  s->messages++;
  if (p->stream) brr_buf_puts(&s->text, p->stream);
  if (p->status) brr_buf_printf(&s->text, "%s\n", p->status);
}

static void seen_done(void *ud, const brr_engine_result *r) { box_cb(&((progress_seen *)ud)->b, r); }

static void seen_clear(progress_seen *s) {
  box_clear(&s->b);
  brr_buf_free(&s->text);
  s->messages = 0;
}

/* Run `image` with `cmd` and return its stdout. */
static char *run_output(brr_engine *e, const char *image, const char *const *cmd) {
  box b = {0};
  brr_engine_container_spec spec = {.image = image, .cmd = cmd, .network = "none"};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *id = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, id, box_cb, &b));
  ASSERT_OK(&b);
  RUN(&loop, &b, brr_engine_container_wait(e, id, NULL, box_cb, &b));
  ASSERT_OK(&b);
  brr_engine_stream_opts so = {.tty = 0, .on_output = box_out};
  RUN(&loop, &b, brr_engine_container_logs(e, id, &so, box_cb, &b));
  ASSERT_OK(&b);
  char *out = brr_buf_detach(&b.out);
  RUN(&loop, &b, brr_engine_container_remove(e, id, true, true, box_cb, &b));
  free(id);
  box_clear(&b);
  return out;
}

static const char *label_of(const cJSON *inspect, const char *key) {
  const cJSON *l = cJSON_GetObjectItem(cJSON_GetObjectItem(inspect, "Config"), "Labels");
  const cJSON *v = cJSON_GetObjectItem(l, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A body producer: 700 bytes per call, pausing every fifth call for a few milliseconds. */
typedef struct producer {
  const brr_buf *src;
  size_t at;
  int calls, pauses;
  brr_engine_req *req;
  uv_timer_t timer;
} producer;

static void producer_wake(uv_timer_t *t) {
  producer *p = t->data;
  brr_engine_resume(p->req);
}

static ssize_t producer_read(void *ud, char *buf, size_t cap) {
  producer *p = ud;
  if (++p->calls % 5 == 0) {
    p->pauses++;
    uv_timer_start(&p->timer, producer_wake, 3, 0);
    return BRR_ENGINE_READ_PAUSE;
  }
  size_t n = p->src->len - p->at;
  if (n > cap) n = cap;
  if (n > 700) n = 700;
  memcpy(buf, p->src->data + p->at, n);
  p->at += n;
  return (ssize_t)n;
}

/* ---- build ------------------------------------------------------------------------------- */

/* The legacy builder's intermediate images under `id`, child first, down to the base image.
 * brr removes images with noprune (their parents may be someone else's cache): the test
 * removes the intermediates its own no-cache build made. */
static size_t intermediates(brr_engine *e, const char *id, char **out, size_t cap) {
  box b = {0};
  RUN(&loop, &b, brr_engine_image_inspect(e, TEST_IMAGE, box_cb, &b));
  ASSERT_OK(&b);
  char *base = brr_xstrdup(cJSON_GetObjectItem(b.json, "Id")->valuestring);
  size_t n = 0;
  char *cur = brr_xstrdup(id);
  while (n < cap) {
    RUN(&loop, &b, brr_engine_image_inspect(e, cur, box_cb, &b));
    ASSERT_OK(&b);
    const cJSON *parent = cJSON_GetObjectItem(b.json, "Parent");
    free(cur);
    if (!cJSON_IsString(parent) || !*parent->valuestring || !strcmp(parent->valuestring, base)) break;
    cur = brr_xstrdup(parent->valuestring);
    out[n++] = brr_xstrdup(cur);
  }
  if (n == cap) free(cur);
  free(base);
  box_clear(&b);
  return n;
}

static void test_build(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  const char *files[] = {
      "Dockerfile",
      "FROM " TEST_IMAGE " AS first\nRUN echo first > /stage\n"
      "FROM " TEST_IMAGE "\nARG GREETING\nRUN echo $GREETING > /greeting\n"
      "COPY ctx.txt /ctx.txt\nRUN echo second > /stage\n",
      "ctx.txt", "from the context\n", NULL};
  brr_buf tar = make_tar(files);
  char *tag = brr_xasprintf("brr-e2e-build-%s:v1", brr_engine_run_id(e));
  const char *args[] = {"GREETING=hi there", NULL};
  const char *labels[] = {"brr.test=build", NULL};
  brr_engine_build_opts o = {.tag = tag, .buildargs = args, .labels = labels, .nocache = true};
  progress_seen s = {0};
  brr_engine_body ctx = {.data = tar.data, .len = tar.len};
  RUN(&loop, &s.b, brr_engine_image_build(e, &o, &ctx, seen_progress, seen_done, &s));
  ASSERT_OK(&s.b);
  assert_true(brr_startswith(s.b.id, "sha256:"));
  assert_non_null(strstr(s.text.data, "Step 1/"));
  char *image = brr_xstrdup(s.b.id);
  char *layers[16];
  size_t n_layers = intermediates(e, image, layers, 16);
  assert_true(n_layers >= 3);   /* ARG, RUN, COPY of the second stage */
  box b = {0};
  RUN(&loop, &b, brr_engine_image_inspect(e, tag, box_cb, &b));
  ASSERT_OK(&b);
  assert_string_equal(cJSON_GetObjectItem(b.json, "Id")->valuestring, image);
  /* the caller's labels only: brr's own never reach an image */
  assert_string_equal(label_of(b.json, "brr.test"), "build");
  assert_null(label_of(b.json, "brr.run"));
  assert_null(label_of(b.json, "brr.managed"));
  const char *cat[] = {"cat", "/greeting", "/ctx.txt", "/stage", NULL};
  char *out = run_output(e, image, cat);
  assert_string_equal(out, "hi there\nfrom the context\nsecond\n");
  free(out);

  /* the same context from a file, stopping at the first stage */
  char path[] = "/tmp/brr-e2e-ctx-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, tar.data, tar.len), (ssize_t)tar.len);
  close(fd);
  o = (brr_engine_build_opts){.target = "first", .platform = "linux/amd64"};
  brr_engine_body file = {.path = path};
  seen_clear(&s);
  RUN(&loop, &s.b, brr_engine_image_build(e, &o, &file, seen_progress, seen_done, &s));
  ASSERT_OK(&s.b);
  const char *stage[] = {"cat", "/stage", NULL};
  out = run_output(e, s.b.id, stage);
  assert_string_equal(out, "first\n");
  free(out);
  unlink(path);

  /* streamed from a producer that hands out 700 bytes at a time and pauses now and then */
  producer prod = {.src = &tar};
  uv_timer_init(&loop, &prod.timer);
  prod.timer.data = &prod;
  brr_engine_body streamed = {.read = producer_read, .read_ud = &prod, .size = -1};
  o = (brr_engine_build_opts){.buildargs = args};
  seen_clear(&s);
  prod.req = brr_engine_image_build(e, &o, &streamed, seen_progress, seen_done, &s);
  wait_one(&loop, &s.b, 120000);
  ASSERT_OK(&s.b);
  assert_true(prod.calls > 5);
  assert_true(prod.pauses > 0);
  uv_close((uv_handle_t *)&prod.timer, NULL);
  out = run_output(e, s.b.id, cat);
  assert_string_equal(out, "hi there\nfrom the context\nsecond\n");
  free(out);

  /* a failing step: HTTP 200, and the failure is in the stream */
  const char *bad[] = {"Dockerfile", "FROM " TEST_IMAGE "\nRUN echo about to fail; exit 7\n", NULL};
  brr_buf badtar = make_tar(bad);
  ctx = (brr_engine_body){.data = badtar.data, .len = badtar.len};
  o = (brr_engine_build_opts){0};
  seen_clear(&s);
  RUN(&loop, &s.b, brr_engine_image_build(e, &o, &ctx, seen_progress, seen_done, &s));
  assert_int_equal(s.b.status, BRR_EFAILED);
  assert_int_equal(s.b.http_status, 200);
  assert_string_equal(s.b.error, "build image: The command '/bin/sh -c echo about to fail; exit "
                                 "7' returned a non-zero code: 7");
  assert_non_null(strstr(s.text.data, "about to fail\n"));
  assert_null(s.b.id);
  /* a Dockerfile that is not there: the engine refuses before building */
  o = (brr_engine_build_opts){.dockerfile = "Nope.Dockerfile"};
  seen_clear(&s);
  RUN(&loop, &s.b, brr_engine_image_build(e, &o, &ctx, seen_progress, seen_done, &s));
  assert_int_equal(s.b.status, BRR_EFAILED);
  assert_non_null(strstr(s.b.error, "Nope.Dockerfile"));

  cleanup_and_check(&loop, e);
  RUN(&loop, &b, brr_engine_image_inspect(e, tag, box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  /* the cleanup left the parents (noprune; the first is the streamed build's own image, which
   * went): the test's own intermediates go now */
  size_t kept = 0;
  for (size_t i = 0; i < n_layers; i++) {
    RUN(&loop, &b, brr_engine_image_inspect(e, layers[i], box_cb, &b));
    if (b.status == 0) {
      kept++;
      RUN(&loop, &b, brr_engine_image_remove(e, layers[i], false, box_cb, &b));
      ASSERT_OK(&b);
    }
    free(layers[i]);
  }
  assert_true(kept >= 2);
  engine_done(&loop, e);
  free(image), free(tag);
  brr_buf_free(&tar), brr_buf_free(&badtar);
  seen_clear(&s);
  box_clear(&b);
}

/* ---- push, read back, pull ---------------------------------------------------------------------- */

static size_t header_cb(char *p, size_t sz, size_t n, void *ud) {
  brr_buf_append(ud, p, sz * n);
  return sz * n;
}

/* The registry's own answer for a manifest: its Docker-Content-Digest. */
static char *registry_digest(const char *repo, const char *tag) {
  CURL *c = curl_easy_init();
  char *url = brr_xasprintf("http://127.0.0.1:5000/v2/%s/manifests/%s", repo, tag);
  struct curl_slist *h = curl_slist_append(
      NULL, "Accept: application/vnd.docker.distribution.manifest.v2+json");
  brr_buf hdr = BRR_BUF_INIT;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  assert_int_equal(status, 200);
  char *d = strcasestr(hdr.data, "Docker-Content-Digest: ");
  assert_non_null(d);
  d += strlen("Docker-Content-Digest: ");
  char *out = brr_xstrndup(d, strcspn(d, "\r\n"));
  brr_buf_free(&hdr);
  curl_slist_free_all(h);
  free(url);
  curl_easy_cleanup(c);
  return out;
}

/* How many times the engine logged pulling `ref` since `since` (its event stream). */
static int pull_events(const char *ref, time_t since) {
  CURL *c = curl_easy_init();
  char *filters = brr_xasprintf("{\"type\":[\"image\"],\"event\":[\"pull\"],\"image\":[\"%s\"]}", ref);
  char *enc = curl_easy_escape(c, filters, 0);
  char *url = brr_xasprintf("http://localhost/v1.41/events?since=%lld&until=%lld&filters=%s",
                            (long long)since, (long long)time(NULL) + 1, enc);
  brr_buf body = BRR_BUF_INIT;
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, "/var/run/docker.sock");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  int n = 0;
  for (const char *p = brr_buf_cstr(&body); (p = strstr(p, "\"Action\":\"pull\"")); p++) n++;
  brr_buf_free(&body);
  free(url), free(filters);
  curl_free(enc);
  curl_easy_cleanup(c);
  return n;
}

static void remove_local(brr_engine *e, const char *ref) {
  box b = {0};
  RUN(&loop, &b, brr_engine_image_remove(e, ref, false, box_cb, &b));
  ASSERT_OK(&b);
  RUN(&loop, &b, brr_engine_image_inspect(e, ref, box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  box_clear(&b);
}

static void test_push_and_pull(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  char *name = brr_xasprintf("brr-e2e-%s", brr_engine_run_id(e));
  char *ref = brr_xasprintf("127.0.0.1:5000/%s:pushed", name);
  box b = {0};
  RUN(&loop, &b, brr_engine_image_tag(e, TEST_IMAGE, ref, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_IMAGE), 1);
  progress_seen s = {0};
  RUN(&loop, &s.b, brr_engine_image_push(e, ref, NULL, seen_progress, seen_done, &s));
  ASSERT_OK(&s.b);
  assert_true(brr_startswith(s.b.digest, "sha256:"));
  assert_non_null(strstr(s.text.data, "The push refers to repository"));
  char *pushed = brr_xstrdup(s.b.digest);
  char *held = registry_digest(name, "pushed");
  assert_string_equal(held, pushed);

  /* read it back: gone locally, then two concurrent pulls make one HTTP pull */
  remove_local(e, ref);
  brr_engine_stats st0, st1;
  brr_engine_get_stats(e, &st0);
  time_t t0 = time(NULL) - 1;
  progress_seen p1 = {0}, p2 = {0};
  brr_engine_image_pull(e, ref, NULL, NULL, seen_progress, seen_done, &p1);
  brr_engine_image_pull(e, ref, NULL, NULL, seen_progress, seen_done, &p2);
  box *v[] = {&p1.b, &p2.b};
  wait_all(&loop, v, 2, 60000);
  ASSERT_OK(&p1.b);
  ASSERT_OK(&p2.b);
  brr_engine_get_stats(e, &st1);
  assert_int_equal(st1.pulls_started - st0.pulls_started, 1);
  assert_int_equal(st1.pulls_joined - st0.pulls_joined, 1);
  assert_int_equal(pull_events(ref, t0), 1);
  assert_string_equal(p1.b.digest, pushed);
  assert_string_equal(p2.b.digest, pushed);
  assert_non_null(strstr(p1.text.data, "Downloaded newer image"));
  RUN(&loop, &b, brr_engine_image_inspect(e, ref, box_cb, &b));
  ASSERT_OK(&b);
  char *repo_digest = brr_xasprintf("127.0.0.1:5000/%s@%s", name, pushed);
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(b.json, "RepoDigests"), 0)->valuestring,
                      repo_digest);

  /* the shared test image: two callers, one pull, one digest */
  seen_clear(&p1), seen_clear(&p2);
  brr_engine_get_stats(e, &st0);
  brr_engine_image_pull(e, TEST_IMAGE, NULL, NULL, seen_progress, seen_done, &p1);
  brr_engine_image_pull(e, TEST_IMAGE, NULL, NULL, seen_progress, seen_done, &p2);
  wait_all(&loop, v, 2, 60000);
  ASSERT_OK(&p1.b);
  ASSERT_OK(&p2.b);
  brr_engine_get_stats(e, &st1);
  assert_int_equal(st1.pulls_started - st0.pulls_started, 1);
  assert_int_equal(st1.http_requests - st0.http_requests, 1);
  assert_true(brr_startswith(p1.b.digest, "sha256:"));
  assert_string_equal(p1.b.digest, p2.b.digest);
  assert_true(pull_events(TEST_IMAGE, t0) >= 1);

  /* a pull after the first ended is a new one; a platform is another flight */
  remove_local(e, ref);
  seen_clear(&p1), seen_clear(&p2);
  brr_engine_get_stats(e, &st0);
  brr_engine_image_pull(e, ref, NULL, NULL, NULL, seen_done, &p1);
  brr_engine_image_pull(e, ref, "linux/amd64", NULL, NULL, seen_done, &p2);
  wait_all(&loop, v, 2, 60000);
  ASSERT_OK(&p1.b);
  ASSERT_OK(&p2.b);
  brr_engine_get_stats(e, &st1);
  assert_int_equal(st1.pulls_started - st0.pulls_started, 2);
  assert_int_equal(st1.pulls_joined - st0.pulls_joined, 0);

  /* one caller leaves a shared pull: the other still gets it */
  remove_local(e, ref);
  seen_clear(&p1), seen_clear(&p2);
  brr_engine_req *r1 = brr_engine_image_pull(e, ref, NULL, NULL, NULL, seen_done, &p1);
  brr_engine_image_pull(e, ref, NULL, NULL, NULL, seen_done, &p2);
  brr_engine_cancel(r1);
  wait_all(&loop, v, 2, 60000);
  assert_int_equal(p1.b.status, BRR_ECANCELED);
  ASSERT_OK(&p2.b);
  assert_string_equal(p2.b.digest, pushed);
  spin(&loop, 100);
  assert_int_equal(p1.b.calls, 1);
  assert_int_equal(p2.b.calls, 1);

  /* what is not in the registry: the engine's message and its status */
  char *absent = brr_xasprintf("127.0.0.1:5000/%s:absent", name);
  RUN(&loop, &b, brr_engine_image_pull(e, absent, NULL, NULL, NULL, box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  assert_non_null(strstr(b.error, "not found"));
  assert_non_null(strstr(b.error, "(HTTP 404)"));
  /* pushing what is not here fails inside the 200 stream */
  RUN(&loop, &b, brr_engine_image_push(e, absent, NULL, NULL, box_cb, &b));
  assert_int_equal(b.status, BRR_EFAILED);
  assert_int_equal(b.http_status, 200);
  if (!strstr(b.error, "does not exist")) fail_msg("got: %s", b.error);

  /* the pulled name was not made by brr: the registry has no entry for it */
  remove_local(e, ref);
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  free(absent), free(repo_digest), free(held), free(pushed), free(ref), free(name);
  seen_clear(&s), seen_clear(&p1), seen_clear(&p2);
  box_clear(&b);
}

static void test_import(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  const char *files[] = {"etc/brr-imported", "imported\n", NULL};
  brr_buf tar = make_tar(files);
  char *ref = brr_xasprintf("brr-e2e-import-%s:v1", brr_engine_run_id(e));
  brr_engine_body body = {.data = tar.data, .len = tar.len};
  box b = {0};
  RUN(&loop, &b, brr_engine_image_import(e, &body, ref, NULL, box_cb, &b));
  ASSERT_OK(&b);
  assert_true(brr_startswith(b.id, "sha256:"));
  RUN(&loop, &b, brr_engine_image_inspect(e, ref, box_cb, &b));
  ASSERT_OK(&b);
  assert_null(label_of(b.json, "brr.run"));
  assert_null(label_of(b.json, "brr.managed"));
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  free(ref);
  brr_buf_free(&tar);
  box_clear(&b);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      ENGINE_TEST(test_build),
      ENGINE_TEST(test_push_and_pull),
      ENGINE_TEST(test_import),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
