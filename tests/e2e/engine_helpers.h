/* Helpers for the engine e2e tests: run the loop until a callback arrived, keep results and
 * output, count what the engine holds with a label, all against the real engine. */
#ifndef BRR_TEST_ENGINE_HELPERS_H
#define BRR_TEST_ENGINE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "brr/engine.h"

#define TEST_IMAGE "127.0.0.1:5000/busybox:amd64"

/* Each test gets its own loop: a test that fails leaves callbacks pointing into its dead
 * stack frame, and they must never run again. Its loop is abandoned, not closed. */
static uv_loop_t *test_loop_;
#define loop (*test_loop_)

static inline int loop_setup(void **state) {
  (void)state;
  test_loop_ = brr_xcalloc(1, sizeof *test_loop_);
  uv_loop_init(test_loop_);
  return 0;
}

static inline int loop_teardown(void **state) {
  (void)state;
  if (uv_loop_close(test_loop_) == 0) free(test_loop_);
  test_loop_ = NULL;
  return 0;
}

#define ENGINE_TEST(f) cmocka_unit_test_setup_teardown(f, loop_setup, loop_teardown)

/* A copy of one callback's result. */
typedef struct box {
  int calls;
  int status;
  long http_status;
  char *error, *id, *digest;
  int64_t exit_code;
  cJSON *json;
  brr_buf out, err;   /* output, when the operation streams it */
  uint64_t done_ms;
} box;

static inline void box_cb(void *ud, const brr_engine_result *r) {
  box *b = ud;
  b->calls++;
  b->status = r->status;
  b->http_status = r->http_status;
  free(b->error), free(b->id), free(b->digest);
  cJSON_Delete(b->json);
  b->error = r->error ? brr_xstrdup(r->error) : NULL;
  b->id = r->id ? brr_xstrdup(r->id) : NULL;
  b->digest = r->digest ? brr_xstrdup(r->digest) : NULL;
  b->exit_code = r->exit_code;
  b->json = r->json ? cJSON_Duplicate(r->json, true) : NULL;
  b->done_ms = brr_mono_ms();
}

static inline void box_out(void *ud, int stream, const char *data, size_t len) {
  box *b = ud;
  brr_buf_append(stream == BRR_ENGINE_STDERR ? &b->err : &b->out, data, len);
}

static inline void box_clear(box *b) {
  free(b->error), free(b->id), free(b->digest);
  cJSON_Delete(b->json);
  brr_buf_free(&b->out);
  brr_buf_free(&b->err);
  memset(b, 0, sizeof *b);
}

static inline void wake_cb(uv_timer_t *t) { (void)t; }

static inline void flag_cb(uv_timer_t *t) { *(bool *)t->data = true; }

/* Run the loop until every box in `v` has been called (or `ms` passed: then fail). */
static inline void wait_all(uv_loop_t *lp, box **v, size_t n, unsigned ms) {
  uv_timer_t t;
  uv_timer_init(lp, &t);
  uv_timer_start(&t, wake_cb, 50, 50);   /* the loop must wake to check the deadline */
  uint64_t end = brr_mono_ms() + ms;
  for (;;) {
    size_t got = 0;
    for (size_t i = 0; i < n; i++) got += v[i]->calls > 0;
    if (got == n) break;
    if (brr_mono_ms() > end) {
      for (size_t i = 0; i < n; i++)
        if (!v[i]->calls) print_error("callback %zu of %zu never came\n", i + 1, n);
      fail_msg("timed out waiting for %zu callbacks", n - got);
    }
    uv_run(lp, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(lp, UV_RUN_NOWAIT);
}

static inline void wait_one(uv_loop_t *lp, box *b, unsigned ms) { wait_all(lp, &b, 1, ms); }

/* Let the loop run for `ms` milliseconds. */
static inline void spin(uv_loop_t *lp, unsigned ms) {
  uv_timer_t t;
  bool fired = false;
  uv_timer_init(lp, &t);
  t.data = &fired;
  uv_timer_start(&t, flag_cb, ms, 0);
  while (!fired) uv_run(lp, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(lp, UV_RUN_NOWAIT);
}

static inline brr_engine *engine_new(uv_loop_t *lp, const char *host, const char *api) {
  brr_engine_opts o = {.host = host, .timeout_s = 60, .api_version = api};
  brr_engine *e = NULL;
  char *err = NULL;
  if (brr_engine_new(lp, &o, &e, &err)) fail_msg("engine: %s", err);
  return e;
}

/* Run one operation to its end (the callback must be box_cb with `b`). */
#define RUN(lp, b, call)                                                                   \
  do {                                                                                       \
    box_clear(b);                                                                            \
    call;                                                                                    \
    wait_one((lp), (b), 120000);                                                           \
  } while (0)

#define ASSERT_OK(b)                                                                         \
  do {                                                                                       \
    if ((b)->status) fail_msg("expected success, got %d: %s", (b)->status, (b)->error);      \
  } while (0)

/* Free the client and let its handles close. Leaves the loop empty. */
static inline void engine_done(uv_loop_t *lp, brr_engine *e) {
  brr_engine_free(e);
  uv_run(lp, UV_RUN_DEFAULT);
}

/* Count objects with `label` in the engine, independently of the client (blocking curl).
 * kind: "containers/json?all=1&", "networks?", "volumes?", "images/json?". */
static inline size_t sweep_count(const char *what, const char *label) {
  CURL *c = curl_easy_init();
  char *filter = brr_xasprintf("{\"label\":[\"%s\"]}", label);
  char *enc = curl_easy_escape(c, filter, 0);
  char *url = brr_xasprintf("http://localhost/v1.41/%sfilters=%s", what, enc);
  brr_buf body = BRR_BUF_INIT;
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, "/var/run/docker.sock");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, (curl_write_callback)NULL);
  FILE *f = open_memstream(&body.data, &body.len);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
  if (curl_easy_perform(c) != CURLE_OK) fail_msg("cannot list %s", what);
  fclose(f);
  cJSON *j = cJSON_Parse(body.data);
  if (j && cJSON_IsObject(j)) {
    cJSON *v = cJSON_DetachItemFromObject(j, "Volumes");
    cJSON_Delete(j);
    j = v;
  }
  size_t n = (size_t)cJSON_GetArraySize(j);
  cJSON_Delete(j);
  free(body.data);
  free(url);
  curl_free(enc);
  free(filter);
  curl_easy_cleanup(c);
  return n;
}

/* Everything labelled with this run: containers, networks, volumes, images. */
static inline size_t leftovers(const brr_engine *e) {
  char *label = brr_xasprintf("%s=%s", BRR_ENGINE_LABEL_RUN, brr_engine_run_id(e));
  size_t n = sweep_count("containers/json?all=1&", label) + sweep_count("networks?", label) +
             sweep_count("volumes?", label) + sweep_count("images/json?", label);
  free(label);
  return n;
}

/* Clean up through the client and check the engine holds nothing of this run. */
static inline void cleanup_and_check(uv_loop_t *lp, brr_engine *e) {
  box b = {0};
  RUN(lp, &b, brr_engine_cleanup(e, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(leftovers(e), 0);
  for (int k = 0; k < BRR_ENGINE_KIND_COUNT; k++)
    assert_int_equal(brr_engine_tracked(e, (brr_engine_kind)k), 0);
  box_clear(&b);
}

#endif
