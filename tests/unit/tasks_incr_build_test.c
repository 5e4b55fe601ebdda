/* Incremental builds without Docker (src/tasks/incr_build.c): whole `--incremental` runs of a
 * legacy build (and the run step on its image) through fake_build_support.h against the fake
 * engine and registry, the state and the store under the test's own $XDG_CACHE_HOME:
 *   - the first run records, the second reuses the build (no POST /build, its log replayed)
 *     and the run step on its image;
 *   - each input that changes rebuilds with its note: the Dockerfile, the context (not what
 *     .dockerignore leaves out), an injected file, the build args, the base image's id; the
 *     image it made gone from the engine;
 *   - an engine error at each call of the check (the base image's pull and inspect, the
 *     made image's inspect), a cancel while each is held, an abort while the build runs;
 *   - the builds never reused, and what --graph --incremental predicts for builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "brr/incr.h"
#include "unit/fake_build_support.h"

static fb_world W;
static char *CACHE;

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  W.incremental = true;
  CACHE = fb_path(&W, "cache");
  setenv("XDG_CACHE_HOME", CACHE, 1);
  fb_write(W.build_dir, "ctx/app.txt", "hello\n");
  fb_write(W.build_dir, "ctx/ignored.txt", "ignored\n");
  fb_write(W.build_dir, "ctx/.dockerignore", "ignored.txt\n");
  fb_write(W.build_dir, "inject/extra.txt", "extra\n");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  unsetenv("XDG_CACHE_HOME");
  free(CACHE);
  return 0;
}

/* A legacy build FROM the registry's base:1 (`version` the build arg), `extra` more keys of
 * the build, and a run step on its image. */
static void load_build(const char *version, const char *extra) {
  char *y = brr_xasprintf("steps:\n  img:\n    build:\n      path: ctx\n"
                          "      dockerfile: \"FROM %s/base:1\\nCOPY app.txt /\\n\"\n"
                          "      buildargs: {VERSION: %s}\n"
                          "      inject: {inject/extra.txt: extra.txt}\n%s"
                          "    run:\n      cmds: [echo hi, echo ho]\n",
                          W.reg.host, version, extra ? extra : "");
  fb_load(&W, y, NULL);
  free(y);
}

static bool logged(const char *needle) { return strstr(brr_buf_cstr(&W.logs), needle) != NULL; }

static size_t builds(void) { return fake_engine_count(W.eng, "POST", "/build"); }

static void test_first_records_second_reuses(void **state) {
  (void)state;
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fb_status(&W, "img/run"), BRR_STATUS_SUCCEEDED);
  assert_true(logged("runs: no earlier successful run"));
  assert_int_equal(builds(), 1);
  /* the base image pulled first by the check, then looked up */
  assert_true(fake_engine_count_pulls(W.eng) >= 1);
  /* nothing changed: the build and its run step are reused */
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_REUSED);
  assert_int_equal(fb_status(&W, "img/run"), BRR_STATUS_REUSED);
  assert_int_equal(builds(), 1);
  assert_true(logged("reused: inputs unchanged since "));
  assert_true(logged("its image sha256:"));
  assert_true(logged("is still on the engine"));
  /* the build's log replayed */
  assert_non_null(strstr(W.out.data, "img/build||Step 1/1 : FROM scratch\n"));
  /* the same again, from a config loaded anew */
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_REUSED);
  /* without --incremental it builds */
  W.incremental = false;
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(builds(), 2);
}

/* Run once to record, then change what `change` changes: the build runs with `note`, and
 * the run after that reuses it. */
static void rebuilds(void (*change)(void), const char *note) {
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  size_t before = builds();
  change();
  assert_int_equal(fb_run(&W), 0);
  if (!logged(note)) fprintf(stderr, "no \"%s\" in:\n%s", note, W.logs.data);
  assert_true(logged(note));
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(builds(), before + 1);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_REUSED);
  assert_int_equal(builds(), before + 1);
}

static void change_dockerfile(void) {
  char *y = brr_xasprintf("steps:\n  img:\n    build:\n      path: ctx\n"
                          "      dockerfile: \"FROM %s/base:1\\nCOPY app.txt /app/\\n\"\n"
                          "      buildargs: {VERSION: 2}\n"
                          "      inject: {inject/extra.txt: extra.txt}\n"
                          "    run:\n      cmds: [echo hi, echo ho]\n",
                          W.reg.host);
  fb_load(&W, y, NULL);
  free(y);
}
static void change_context(void) { fb_write(W.build_dir, "ctx/app.txt", "hello again\n"); }
static void change_inject(void) { fb_write(W.build_dir, "inject/extra.txt", "more\n"); }
static void change_args(void) { load_build("3", NULL); }
static void change_base(void) {
  /* the registry's base:1 is now another image */
  char *p = brr_xasprintf("/images/%s/base:1/json", W.reg.host);
  fake_rule_json(fake_engine_on(W.eng, "GET", p), 200,
                 "{\"Id\":\"sha256:3333333333333333333333333333333333333333333333333333333333333333\"}");
  free(p);
}
static void change_image_gone(void) {
  fake_rule_error(fake_rule_times(fake_engine_on(W.eng, "GET", "/images/sha256:*/json"), 1), 404, "No such image");
}

static void test_dockerfile(void **state) { (void)state; rebuilds(change_dockerfile, "runs: Dockerfile changed"); }
static void test_context(void **state) { (void)state; rebuilds(change_context, "runs: context changed"); }
static void test_inject(void **state) { (void)state; rebuilds(change_inject, "runs: context changed"); }
static void test_args(void **state) { (void)state; rebuilds(change_args, "runs: build args changed"); }
static void test_base(void **state) { (void)state; rebuilds(change_base, "runs: base images changed"); }
static void test_image_gone(void **state) {
  (void)state;
  rebuilds(change_image_gone, "runs: the image it made, sha256:");
}

static void test_dockerignored(void **state) {
  (void)state;
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  /* what .dockerignore leaves out of the context does not count */
  fb_write(W.build_dir, "ctx/ignored.txt", "changed\n");
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_REUSED);
  assert_int_equal(builds(), 1);
}

/* ---- engine errors at the check's calls ---- */

static void test_pull_fails(void **state) {
  (void)state;
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  /* the check's pull of the base image fails: it builds (the build pulls for itself) */
  fake_rule_query_has(fake_engine_fail(W.eng, "POST", "/images/create", 1, 500), "fromImage");
  assert_int_equal(fb_run(&W), 0);
  assert_true(logged("could not be pulled"));
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(builds(), 2);
}

static void test_base_inspect_fails(void **state) {
  (void)state;
  /* pull: false: the base is only looked up; not there: it builds, and is not recorded */
  load_build("2", "      pull: false\n");
  assert_int_equal(fb_run(&W), 0);
  assert_true(logged("runs: its base image "));
  assert_true(logged("is not on the engine"));
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  /* once there, the next run records and the one after reuses */
  char *ref = brr_xasprintf("%s/base:1", W.reg.host);
  fake_engine_add_image(W.eng, ref);
  free(ref);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_REUSED);
  /* its inspect loses the connection: it builds */
  char *p = brr_xasprintf("/images/%s/base:1/json", W.reg.host);
  fake_rule_drop(fake_engine_on(W.eng, "GET", p));
  free(p);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_true(logged("is not on the engine"));
}

static void test_image_inspect_fails(void **state) {
  (void)state;
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  /* the made image's inspect: a 500 and a dropped connection both mean "build" */
  fake_rule_error(fake_rule_times(fake_engine_on(W.eng, "GET", "/images/sha256:*/json"), 1), 500, "fake failure");
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_true(logged("is no longer on the engine"));
  /* every inspect of it loses the connection: the check builds; the run step on the image,
   * which inspects it too, fails */
  fake_rule_drop(fake_engine_on(W.eng, "GET", "/images/sha256:*/json"));
  assert_int_equal(fb_run(&W), 1);
  assert_true(logged("is no longer on the engine"));
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fb_status(&W, "img/run"), BRR_STATUS_FAILED);
  assert_int_equal(builds(), 3);
}

/* ---- cancel and abort ---- */

static void cancel_at(const char *method, const char *pattern) {
  fb_hold_default(W.eng, method, pattern);
  fb_at(&W, method, pattern, 1);
}

static void test_cancel_at_pull(void **state) {
  (void)state;
  load_build("2", NULL);
  cancel_at("POST", "/images/create");
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
  assert_int_equal(builds(), 0);
}

static void test_cancel_at_base_inspect(void **state) {
  (void)state;
  load_build("2", "      pull: false\n");
  char *p = brr_xasprintf("/images/%s/base:1/json", W.reg.host);
  cancel_at("GET", p);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
  assert_int_equal(builds(), 0);
  free(p);
}

static void test_cancel_at_image_inspect(void **state) {
  (void)state;
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  cancel_at("GET", "/images/sha256:*/json");
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
  assert_int_equal(builds(), 1);
}

static void test_abort_while_building(void **state) {
  (void)state;
  load_build("2", NULL);
  /* two SIGINTs while the build (the inner task) is held: the second aborts */
  fake_rule_hold(fake_rule_times(fake_engine_on(W.eng, "POST", "/build"), 1), FAKE_HOLD_HEADERS);
  fb_at(&W, "POST", "/build", 2);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
  /* nothing recorded: the next run builds */
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_true(logged("runs: no earlier successful run"));
}

/* ---- never reused; --graph --incremental ---- */

static void predict(brr_buf *notes) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_runtime_opts ro = {.incremental = true, .docker_host = fake_engine_host(W.eng)};
  brr_runtime *rt = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_runtime_new(&loop, W.cfg, W.g, &ro, bus, &rt, &d), 0);
  brr_incr_predict(rt, W.g);
  brr_runtime_free(rt);
  brr_bus_free(bus);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  brr_diags_free(&d);
  brr_buf_reset(notes);
  for (size_t k = 0; k < W.g->n_nodes; k++) {
    const brr_node *n = &W.g->nodes[W.g->order[k]];
    brr_buf_printf(notes, "%s: %s\n", n->id, n->incr_note ? n->incr_note : "(none)");
  }
  if (getenv("TIS_DEBUG")) fprintf(stderr, "%s", brr_buf_cstr(notes));
}

static bool noted(const brr_buf *notes, const char *needle) { return strstr(brr_buf_cstr(notes), needle) != NULL; }

static void test_predict(void **state) {
  (void)state;
  brr_buf notes = BRR_BUF_INIT;
  load_build("2", NULL);
  predict(&notes);
  assert_true(noted(&notes, "img/build: runs: no earlier successful run\n"));
  assert_true(noted(&notes, "img/run: runs: no earlier successful run\n"));
  assert_int_equal(fb_run(&W), 0);
  load_build("2", NULL);
  predict(&notes);
  assert_true(noted(&notes, "img/build: reused, if its base images and the image it made are on the engine"));
  assert_true(noted(&notes, "img/run: reused, if its image is the same"));
  /* a build that would run: the run on its image would run if the image changed */
  load_build("3", NULL);
  predict(&notes);
  assert_true(noted(&notes, "img/build: runs: build args changed\n"));
  assert_true(noted(&notes, "img/run: runs: step config changed\n") ||
              noted(&notes, "img/run: runs if the image of img/build, which runs, changes\n"));
  /* a context that is no longer there */
  fb_write(W.build_dir, "ctx2/Dockerfile", "FROM scratch\n");
  fb_load(&W, "steps:\n  img:\n    build:\n      path: ctx2\n", NULL);
  assert_int_equal(fb_run(&W), 0);
  char *ctx2 = fb_path(&W, "build/ctx2");
  brr_rm_rf(ctx2);
  free(ctx2);
  predict(&notes);
  assert_true(noted(&notes, "img/build: runs: its inputs cannot be read\n"));
  /* builds never reused */
  char *y = brr_xasprintf("steps:\n"
                          "  multi:\n    build:\n      dockerfile: 'FROM scratch'\n      platforms: [linux/amd64, linux/arm64]\n"
                          "  nocache:\n    build:\n      dockerfile: 'FROM scratch'\n      no-cache: true\n"
                          "  optout:\n    incremental: false\n    build:\n      dockerfile: 'FROM scratch'\n"
                          "  imported:\n    build:\n      import: image.tar\n");
  fb_write(W.build_dir, "image.tar", "");
  fb_load(&W, y, NULL);
  free(y);
  predict(&notes);
  assert_true(noted(&notes, "never reused: a multi-platform build"));
  assert_true(noted(&notes, "nocache/build: never reused: no-cache: true\n"));
  assert_true(noted(&notes, "optout/build: never reused: incremental: false\n"));
  assert_true(noted(&notes, "imported/build: never reused: an import (the archive is read by the engine)\n"));
  brr_buf_free(&notes);
}

static void test_dockerfile_missing(void **state) {
  (void)state;
  /* the check cannot read the Dockerfile: the build task meets it and reports it */
  fb_write(W.build_dir, "ctx2/Dockerfile", "FROM scratch\n");
  fb_load(&W, "steps:\n  img:\n    build:\n      path: ctx2\n", NULL);
  char *ctx2 = fb_path(&W, "build/ctx2/Dockerfile");
  unlink(ctx2);
  free(ctx2);
  int rc = fb_run(&W);
  assert_true(rc != 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_FAILED);
  assert_int_equal(builds(), 0);
}

static void test_store_unusable(void **state) {
  (void)state;
  /* the cache dir is a file: no check, the build runs each time */
  char *file = fb_path(&W, "cachefile");
  fb_write(W.dir, "cachefile", "x");
  setenv("XDG_CACHE_HOME", file, 1);
  load_build("2", NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(builds(), 2);
  assert_true(logged("incremental: nothing is reused this run"));
  setenv("XDG_CACHE_HOME", CACHE, 1);
  free(file);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_first_records_second_reuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dockerfile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_context, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inject, setup, teardown),
      cmocka_unit_test_setup_teardown(test_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_base, setup, teardown),
      cmocka_unit_test_setup_teardown(test_image_gone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dockerignored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pull_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_base_inspect_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_image_inspect_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_at_pull, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_at_base_inspect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_at_image_inspect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_while_building, setup, teardown),
      cmocka_unit_test_setup_teardown(test_predict, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dockerfile_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_unusable, setup, teardown),
  };
  if (getenv("TIS_FILTER")) cmocka_set_test_filter(getenv("TIS_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
