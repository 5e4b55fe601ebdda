/* The fake engine itself, driven by brr's real engine client over its unix socket: default
 * answers, rules (nth call, body filter), held, dropped and cut answers, multiplexed streams,
 * tars, label-filtered lists, the request log and its selectors (source-container creates,
 * pulls, imports). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>

#include "brr/engine.h"
#include "brr/util.h"
#include "unit/fake_engine.h"

typedef struct fx {
  fake_engine *fe;
  uv_loop_t loop;
  brr_engine *e;
} fx;

typedef struct res {
  bool done;
  int status;
  long http;
  char *id, *error, *digest;
  int64_t exit_code;
  brr_buf out, err, data;
} res;

static void res_free(res *r) {
  free(r->id);
  free(r->error);
  free(r->digest);
  brr_buf_free(&r->out);
  brr_buf_free(&r->err);
  brr_buf_free(&r->data);
  memset(r, 0, sizeof *r);
}

static void on_res(void *ud, const brr_engine_result *x) {
  res *r = ud;
  r->done = true;
  r->status = x->status;
  r->http = x->http_status;
  r->id = x->id ? brr_xstrdup(x->id) : NULL;
  r->error = x->error ? brr_xstrdup(x->error) : NULL;
  r->digest = x->digest ? brr_xstrdup(x->digest) : NULL;
  r->exit_code = x->exit_code;
}

static void on_out(void *ud, int stream, const char *data, size_t len) {
  res *r = ud;
  brr_buf_append(stream == BRR_ENGINE_STDERR ? &r->err : &r->out, data, len);
}

static int on_data(void *ud, const char *data, size_t len) {
  res *r = ud;
  brr_buf_append(&r->data, data, len);
  return 0;
}

static void run_until(fx *f, const res *r) {
  while (!r->done) uv_run(&f->loop, UV_RUN_ONCE);
}

static int setup(void **state) {
  fx *f = brr_xcalloc(1, sizeof *f);
  f->fe = fake_engine_start();
  uv_loop_init(&f->loop);
  brr_engine_opts o = {.host = fake_engine_host(f->fe), .timeout_s = 10, .run_id = "fakerun"};
  char *err = NULL;
  if (brr_engine_new(&f->loop, &o, &f->e, &err) != 0) fail_msg("%s", err);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  brr_engine_free(f->e);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  fake_engine_stop(f->fe);
  free(f);
  return 0;
}

static void test_container_defaults(void **state) {
  fx *f = *state;
  res r = {0};
  const char *cmd[] = {"sh", "-c", "true", NULL};
  const char *labels[] = {"x=1", NULL};
  brr_engine_container_spec spec = {.image = "busybox", .cmd = cmd, .labels = labels, .name = "c1"};
  brr_engine_container_create(f->e, &spec, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  assert_non_null(r.id);
  char *id = brr_xstrdup(r.id);
  res_free(&r);
  assert_int_equal(fake_engine_live(f->fe, FAKE_CONTAINER), 1);
  const fake_request *q = fake_engine_find(f->fe, "POST", "/containers/create", 0);
  assert_non_null(q);
  assert_string_equal(q->query, "name=c1");
  assert_non_null(strstr(q->body, "\"brr.run\":\"fakerun\""));

  brr_engine_container_start(f->e, id, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  res_free(&r);
  brr_engine_container_wait(f->e, id, NULL, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.exit_code, 0);
  res_free(&r);

  /* the run's label finds it in a list */
  brr_engine_list(f->e, BRR_ENGINE_CONTAINER, NULL, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  res_free(&r);
  brr_engine_list(f->e, BRR_ENGINE_CONTAINER, "x=2", on_res, &r);
  run_until(f, &r);
  res_free(&r);

  brr_engine_container_remove(f->e, id, true, true, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  res_free(&r);
  assert_int_equal(fake_engine_live(f->fe, FAKE_CONTAINER), 0);
  assert_int_equal(fake_engine_created(f->fe, FAKE_CONTAINER), 1);
  /* a second removal: the engine's 404 */
  brr_engine_container_remove(f->e, id, true, true, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, BRR_ENOENT);
  res_free(&r);
  free(id);
  assert_int_equal(fake_engine_count(f->fe, "GET", "/version"), 1);
}

static void test_rules_nth_and_filters(void **state) {
  fx *f = *state;
  fake_engine_fail(f->fe, "POST", "/volumes/create", 2, 500);
  fake_rule_json(fake_rule_body_has(fake_engine_on(f->fe, "POST", "/networks/create"), "\"special\""),
                 201, "{\"Id\":\"n-special\"}");
  res r = {0};
  for (int i = 1; i <= 3; i++) {
    brr_engine_volume_create(f->e, NULL, NULL, on_res, &r);
    run_until(f, &r);
    if (i == 2) {
      assert_int_equal(r.status, BRR_EFAILED);
      assert_int_equal(r.http, 500);
      assert_non_null(strstr(r.error, "fake failure"));
    } else {
      assert_int_equal(r.status, 0);
    }
    res_free(&r);
  }
  assert_int_equal(fake_engine_live(f->fe, FAKE_VOLUME), 2);
  brr_engine_network_create(f->e, "special", NULL, on_res, &r);
  run_until(f, &r);
  assert_string_equal(r.id, "n-special");
  res_free(&r);
  brr_engine_network_create(f->e, "plain", NULL, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  assert_string_not_equal(r.id, "n-special");
  res_free(&r);
  brr_engine_cleanup(f->e, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  res_free(&r);
  assert_int_equal(fake_engine_live(f->fe, FAKE_VOLUME), 0);
  assert_int_equal(fake_engine_live(f->fe, FAKE_NETWORK), 0);
}

static void test_streams(void **state) {
  fx *f = *state;
  char *mux = NULL;
  size_t len = 0;
  fake_mux_frame(&mux, &len, 1, "hello\n", (size_t)-1);
  fake_mux_frame(&mux, &len, 2, "oops\n", (size_t)-1);
  fake_rule_reply(fake_engine_on(f->fe, "POST", "/containers/*/attach"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
  free(mux);
  res r = {0};
  brr_engine_container_create(f->e, &(brr_engine_container_spec){.image = "busybox"}, on_res, &r);
  run_until(f, &r);
  char *id = brr_xstrdup(r.id);
  res_free(&r);
  brr_engine_stream_opts so = {.tty = 0, .on_output = on_out};
  brr_engine_container_attach(f->e, id, &so, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  assert_string_equal(brr_buf_cstr(&r.out), "hello\n");
  assert_string_equal(brr_buf_cstr(&r.err), "oops\n");
  res_free(&r);

  /* the default archive: a real tar */
  brr_engine_container_archive_get(f->e, id, "/source/out.txt", on_data, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  assert_int_equal(archive_read_open_memory(a, r.data.data, r.data.len), ARCHIVE_OK);
  struct archive_entry *e;
  assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
  assert_string_equal(archive_entry_pathname(e), "out.txt");
  char buf[16] = {0};
  assert_int_equal(archive_read_data(a, buf, sizeof buf - 1), 5);
  assert_string_equal(buf, "fake\n");
  archive_read_free(a);
  res_free(&r);

  /* a pull's JSON lines give a digest, then the image exists */
  brr_engine_image_inspect(f->e, "alpine:3", on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, BRR_ENOENT);
  res_free(&r);
  brr_engine_image_pull(f->e, "alpine:3", NULL, NULL, NULL, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  assert_true(brr_startswith(r.digest, "sha256:"));
  res_free(&r);
  brr_engine_image_inspect(f->e, "alpine:3", on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  res_free(&r);
  free(id);
}

static void test_hold_drop_cut(void **state) {
  fx *f = *state;
  res r = {0};
  /* held: the client cancels; the fake sees it go */
  fake_rule_hold(fake_engine_on(f->fe, "POST", "/containers/*/wait"), FAKE_HOLD_HEADERS);
  brr_engine_req *q = brr_engine_container_wait(f->e, "abc", NULL, on_res, &r);
  while (fake_engine_count(f->fe, "POST", "/containers/*/wait") == 0) uv_run(&f->loop, UV_RUN_NOWAIT);
  brr_engine_cancel(q);
  run_until(f, &r);
  assert_int_equal(r.status, BRR_ECANCELED);
  res_free(&r);

  /* a scripted answer */
  fake_rule_json(fake_engine_on(f->fe, "GET", "/exec/*/json"), 200, "{\"ExitCode\":3,\"Running\":false}");
  brr_engine_exec_inspect(f->e, "e1", on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.exit_code, 3);
  res_free(&r);

  /* dropped: no answer at all */
  fake_rule_drop(fake_engine_on(f->fe, "POST", "/containers/*/start"));
  brr_engine_container_start(f->e, "abc", on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, BRR_EIO);
  res_free(&r);

  /* cut mid-stream */
  char *mux = NULL;
  size_t len = 0;
  fake_mux_frame(&mux, &len, 1, "partial", (size_t)-1);
  fake_rule_cut(fake_rule_reply(fake_engine_on(f->fe, "GET", "/containers/*/logs"), 200,
                                "application/vnd.docker.multiplexed-stream", mux, len));
  free(mux);
  brr_engine_stream_opts so = {.tty = 0, .on_output = on_out};
  brr_engine_container_logs(f->e, "abc", &so, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, BRR_EIO);
  assert_string_equal(brr_buf_cstr(&r.out), "partial");
  res_free(&r);
  char *dump = fake_engine_dump(f->fe);
  assert_non_null(strstr(dump, "POST /containers/abc/start -> 0\n"));
  free(dump);
}

static void *releaser(void *ud) {
  fake_engine *fe = ud;
  if (fake_engine_wait_for(fe, "POST", "/containers/*/wait", 1, 10000)) fake_engine_release(fe);
  return NULL;
}

static void test_hold_release_thread(void **state) {
  fx *f = *state;
  fake_rule_hold(fake_rule_json(fake_engine_on(f->fe, "POST", "/containers/*/wait"), 200,
                                "{\"StatusCode\":7}"),
                 FAKE_HOLD_BODY);
  pthread_t t;
  pthread_create(&t, NULL, releaser, f->fe);
  res r = {0};
  brr_engine_container_wait(f->e, "abc", NULL, on_res, &r);
  run_until(f, &r);
  pthread_join(t, NULL);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.exit_code, 7);
  res_free(&r);
}

/* The selectors of source-container creates, pulls and imports among their routes' calls. */
static void test_source_pull_import_selectors(void **state) {
  fx *f = *state;
  res r = {0};
  const char *names[] = {"step-source", "step", "other", NULL};
  for (size_t i = 0; names[i]; i++) {
    brr_engine_container_spec spec = {.image = "busybox", .name = names[i]};
    brr_engine_container_create(f->e, &spec, on_res, &r);
    run_until(f, &r);
    assert_int_equal(r.status, 0);
    res_free(&r);
  }
  assert_int_equal(fake_engine_count_creates(f->fe, true), 1);
  assert_int_equal(fake_engine_count_creates(f->fe, false), 2);
  assert_string_equal(fake_engine_find_create(f->fe, true, 0)->query, "name=step-source");
  assert_string_equal(fake_engine_find_create(f->fe, false, 0)->query, "name=step");
  assert_string_equal(fake_engine_find_create(f->fe, false, 1)->query, "name=other");
  assert_null(fake_engine_find_create(f->fe, false, 2));
  assert_true(fake_request_is_source_create(fake_engine_find(f->fe, "POST", "/containers/create", 0)));
  assert_false(fake_request_is_source_create(fake_engine_find(f->fe, "POST", "/containers/create", 1)));
  assert_int_equal(fake_engine_created_containers(f->fe, true), 1);
  assert_int_equal(fake_engine_created_containers(f->fe, false), 2);
  fake_engine_add_object(f->fe, FAKE_CONTAINER, "old-source", NULL);   /* not created: not counted */
  assert_int_equal(fake_engine_created_containers(f->fe, true), 1);

  brr_engine_body body = {.data = "not read", .len = 8};
  brr_engine_image_import(f->e, &body, "brr-source:t1", NULL, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  res_free(&r);
  brr_engine_image_pull(f->e, "reg.test/busybox:1", NULL, NULL, NULL, on_res, &r);
  run_until(f, &r);
  assert_int_equal(r.status, 0);
  res_free(&r);
  assert_int_equal(fake_engine_count(f->fe, "POST", "/images/create"), 2);
  assert_int_equal(fake_engine_count_imports(f->fe), 1);
  assert_int_equal(fake_engine_count_pulls(f->fe), 1);
  assert_non_null(strstr(fake_engine_find_import(f->fe, 0)->query, "fromSrc=-"));
  assert_non_null(strstr(fake_engine_find_pull(f->fe, 0)->query, "fromImage=reg.test/busybox"));
  assert_null(fake_engine_find_pull(f->fe, 1));
  assert_null(fake_engine_find_import(f->fe, 1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_container_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rules_nth_and_filters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hold_drop_cut, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hold_release_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_pull_import_selectors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
