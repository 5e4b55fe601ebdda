/* The BUILD node kind (src/tasks/build.c, on the base of build_task.c) without Docker: whole
 * runs against the fake engine. The legacy builder (the context tar made off the loop and
 * POSTed to /build, cache_from images pulled first, credentials for the FROM registries),
 * `import`, and buildx for one platform (the docker CLI stand-in, the image id from its
 * metadata file, checked with the engine). For each: the happy path, an error at each call,
 * configuration errors (exit 78), and a cancel or an abort in each state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/fake_build_support.h"

static fb_world W;

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  fb_write(W.build_dir, "ctx/app.txt", "hello\n");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  return 0;
}

/* A legacy build FROM the fake registry, with a cache_from image and a build arg. */
static void load_legacy(const char *extra) {
  char *y = brr_xasprintf("steps:\n  img:\n    build:\n      path: ctx\n"
                          "      dockerfile: \"FROM %s/base:1\\nCOPY app.txt /\\n\"\n"
                          "      buildargs: {VERSION: 2}\n      cache_from: ['%s/cache:1']\n%s",
                          W.reg.host, W.reg.host, extra ? extra : "");
  fb_load(&W, y, NULL);
  free(y);
}

static void test_legacy(void **state) {
  (void)state;
  load_legacy(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  /* the cache image first, then the build */
  const fake_request *pull = fake_engine_find(W.eng, "POST", "/images/create", 0);
  assert_non_null(pull);
  assert_non_null(strstr(pull->query, "/cache"));
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 1);
  const fake_request *b = fake_engine_find(W.eng, "POST", "/build", 0);
  assert_non_null(strstr(b->query, "VERSION"));
  assert_non_null(strstr(b->query, "DOCKER_REGISTRY"));
  assert_non_null(strstr(b->query, "cachefrom"));
  /* the body is the context: the tree and the Dockerfile */
  char *tar = fb_path(&W, "body.tar");
  assert_int_equal(brr_write_file(tar, b->body, b->body_len), 0);
  tu_tar t;
  assert_true(tu_tar_read(tar, &t));
  const tu_entry *app = tu_tar_find(&t, "app.txt");
  assert_non_null(app);
  assert_string_equal(app->data, "hello\n");
  bool has_dockerfile = false;
  for (size_t i = 0; i < t.n; i++) has_dockerfile |= t.v[i].data && strstr(t.v[i].data, "COPY app.txt /") != NULL;
  assert_true(has_dockerfile);
  tu_tar_free(&t);
  free(tar);
  /* the builder's stream is the node's output; the image is reported */
  assert_non_null(strstr(W.out.data, "img/build||Step 1/1 : FROM scratch\n"));
  assert_non_null(strstr(W.logs.data, "Built image sha256:"));
  assert_non_null(strstr(W.phases.data, "img/build context\nimg/build pull\nimg/build build\n"));
}

static void test_legacy_build_error(void **state) {
  (void)state;
  /* the builder fails inside the stream: its message is the node's error */
  fake_rule_reply(fake_engine_on(W.eng, "POST", "/build"), 200, "application/json",
                  "{\"stream\":\"Step 1/2 : FROM x\\n\"}\n"
                  "{\"errorDetail\":{\"code\":2,\"message\":\"The command '/bin/sh -c make' returned a non-zero "
                  "code: 2\"},\"error\":\"The command '/bin/sh -c make' returned a non-zero code: 2\"}\n",
                  (size_t)-1);
  load_legacy(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_FAILED);
  assert_string_equal(fb_error(&W, "img/build"), "build image: The command '/bin/sh -c make' returned a non-zero code: 2");
}

static void test_legacy_build_refused(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "POST", "/build", 0, 500);
  load_legacy(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, "img/build"), "fake failure"));
}

static void test_cache_pull_fails(void **state) {
  (void)state;
  /* a cache image that cannot be pulled is a warning: the build goes on */
  fake_engine_fail(W.eng, "POST", "/images/create", 0, 500);
  load_legacy(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_non_null(strstr(W.logs.data, "Unable to pull the cache_from image"));
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 1);
}

static void test_local_images(void **state) {
  (void)state;
  /* pull: false never pulls the cache image nor asks the builder to pull */
  load_legacy("      pull: false\n");
  assert_int_equal(fb_run(&W), 0);
  const fake_request *b = fake_engine_find(W.eng, "POST", "/build", 0);
  assert_null(strstr(b->query, "pull=1"));
}

static void test_credentials(void **state) {
  (void)state;
  /* the FROM registry's credentials come from the docker config: a helper that fails
   * fails the build before it starts */
  char *conf = brr_xasprintf("{\"credHelpers\": {\"%s\": \"brr-test-none\"}}\n", W.reg.host);
  fb_write(W.dir, "docker-config/config.json", conf);
  free(conf);
  load_legacy(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_FAILED);
  char *want = brr_xasprintf("registry credentials: %s: cannot run the credential helper", W.reg.host);
  assert_non_null(strstr(fb_error(&W, "img/build"), want));
  free(want);
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 0);
}

static void test_credentials_sent(void **state) {
  (void)state;
  /* credentials in `auths` reach the builder: the build goes on with them */
  char *conf = brr_xasprintf("{\"auths\": {\"%s\": {\"auth\": \"dTpw\"}}}\n", W.reg.host);
  fb_write(W.dir, "docker-config/config.json", conf);
  free(conf);
  load_legacy(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 1);
}

static void test_context_missing(void **state) {
  (void)state;
  fb_load(&W, "steps:\n  img:\n    build:\n      path: nowhere\n", NULL);
  assert_int_equal(fb_run(&W), 78);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, "img/build"), "buildrunner.yaml:"));
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 0);
}

/* ---- cancel and abort: the request in flight is held, the signal sent when it arrives ---- */

static void stop_at(const char *method, const char *pattern, int signals, const char *extra) {
  fake_rule_hold(fake_engine_on(W.eng, method, pattern), FAKE_HOLD_HEADERS);
  load_legacy(extra);
  fb_at(&W, method, pattern, signals);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
}

static void test_cancel_cache_pull(void **state) {
  (void)state;
  stop_at("POST", "/images/create", 1, NULL);
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 0);
}

static void test_cancel_build(void **state) {
  (void)state;
  stop_at("POST", "/build", 1, NULL);
}

static void test_abort_build(void **state) {
  (void)state;
  stop_at("POST", "/build", 2, NULL);
}

static void test_abort_cache_pull(void **state) {
  (void)state;
  stop_at("POST", "/images/create", 2, NULL);
}

static bool when_helper_runs(fb_world *w) {
  if (!fb_fake_exists(w, "helper.running")) return false;
  fb_sigint();
  return true;
}

static void test_cancel_credentials(void **state) {
  (void)state;
  /* a credential helper that takes its time: the cancel does not wait for it */
  char *helper = brr_xasprintf("#!/bin/sh\ntouch \"%s/helper.running\"\nexec sleep 60\n", W.fake_dir);
  tu_write(W.fake_dir, "bin/docker-credential-brr-test-slow", helper, 0755);
  free(helper);
  char *bin = brr_path_join(W.fake_dir, "bin");
  char *path = brr_xasprintf("%s:%s", bin, getenv("PATH"));
  setenv("PATH", path, 1);
  char *conf = brr_xasprintf("{\"credHelpers\": {\"%s\": \"brr-test-slow\"}}\n", W.reg.host);
  fb_write(W.dir, "docker-config/config.json", conf);
  load_legacy(NULL);
  fb_then(&W, when_helper_runs);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 0);
  /* the PATH back as the setup made it */
  setenv("PATH", path + strlen(bin) + 1, 1);
  free(conf), free(bin), free(path);
}

/* ---- import ---- */

static void test_import(void **state) {
  (void)state;
  fb_write(W.build_dir, "rootfs.tar", "not really a tar, the engine reads it\n");
  fb_load(&W, "steps:\n  img:\n    build:\n      import: rootfs.tar\n", NULL);
  assert_int_equal(fb_run(&W), 0);
  const fake_request *q = fake_engine_find(W.eng, "POST", "/images/create", 0);
  assert_non_null(q);
  assert_non_null(strstr(q->query, "fromSrc=-"));
  assert_string_equal(q->body, "not really a tar, the engine reads it\n");
  assert_non_null(strstr(W.logs.data, "Built image sha256:"));
  /* the user's archive is never removed */
  assert_true(tu_exists(W.build_dir, "rootfs.tar"));
}

static void test_import_missing(void **state) {
  (void)state;
  fb_load(&W, "steps:\n  img:\n    build:\n      import: rootfs.tar\n", NULL);
  assert_int_equal(fb_run(&W), 78);
  assert_non_null(strstr(fb_error(&W, "img/build"), "cannot read the import archive"));
  assert_int_equal(fake_engine_count(W.eng, "POST", "/images/create"), 0);
}

static void test_import_fails(void **state) {
  (void)state;
  fb_write(W.build_dir, "rootfs.tar", "x");
  fake_engine_fail(W.eng, "POST", "/images/create", 0, 500);
  fb_load(&W, "steps:\n  img:\n    build:\n      import: rootfs.tar\n", NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_non_null(strstr(fb_error(&W, "img/build"), "fake failure"));
}

static void test_cancel_import(void **state) {
  (void)state;
  fb_write(W.build_dir, "rootfs.tar", "x");
  fake_rule_raise(fake_rule_hold(fake_engine_on(W.eng, "POST", "/images/create"), FAKE_HOLD_HEADERS), SIGINT, 1);
  fb_load(&W, "steps:\n  img:\n    build:\n      import: rootfs.tar\n", NULL);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
}

/* ---- buildx, one platform ---- */

/* The engine knows the images the stand-in "loaded" (their ids in $FAKE_DIR/loaded). */
static void loaded_images(void *ud, const fake_request *req, fake_reply *out) {
  fb_world *w = ud;
  char *loaded = fb_fake_file(w, "loaded");
  const char *id = req->path + strlen("/images/");
  size_t n = strlen(id) - strlen("/json");
  char *want = brr_xasprintf("%.*s\n", (int)n, id);
  if (strstr(loaded, want)) {
    out->status = 200;
    free(out->body);
    out->body = brr_xasprintf("{\"Id\":\"%.*s\",\"Created\":\"2026-01-01T00:00:00Z\"}", (int)n, id);
    out->body_len = strlen(out->body);
  }
  free(want);
  free(loaded);
}

static void load_buildx(void) {
  fake_rule_handler(fake_rule_error(fake_engine_on(W.eng, "GET", "/images/sha256:*/json"), 404, "No such image"),
                    loaded_images, &W);
  char *y = brr_xasprintf("use-legacy-builder: false\nsteps:\n  img:\n    build:\n      path: ctx\n"
                          "      dockerfile: \"FROM %s/base:1\\n\"\n      target: final\n      no-cache: true\n",
                          W.reg.host);
  fb_load(&W, y, NULL);
  free(y);
}

static void test_buildx(void **state) {
  (void)state;
  load_buildx();
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
  char *log = fb_fake_file(&W, "buildx.log");
  assert_int_equal(fb_count(log, "\"argv\""), 1);
  assert_non_null(strstr(log, "\"--load\""));
  assert_non_null(strstr(log, "\"--target\", \"final\""));
  assert_non_null(strstr(log, "\"--no-cache\""));
  assert_non_null(strstr(log, "\"context_exists\": true"));
  assert_null(strstr(log, "\"--tag\""));
  free(log);
  char *loaded = fb_fake_file(&W, "loaded");
  char *id = brr_xstrndup(loaded, strcspn(loaded, "\n"));
  char *line = brr_xasprintf("Built image %s", id);
  assert_non_null(strstr(W.logs.data, line));
  /* the id was checked with the engine */
  char *path = brr_xasprintf("/images/%s/json", id);
  assert_true(fake_engine_count(W.eng, "GET", path) >= 1);
  free(path), free(line), free(id), free(loaded);
  /* the CLI's lines are the node's output */
  assert_non_null(strstr(W.out.data, "img/build||#1 [internal] load build definition from Dockerfile\n"));
}

static void test_buildx_fails(void **state) {
  (void)state;
  fb_script(&W, "buildx.linux-amd64", "fail:failed to solve: process \"/bin/sh -c make\" did not complete\n");
  fb_script(&W, "buildx.linux-arm64", "fail:failed to solve: process \"/bin/sh -c make\" did not complete\n");
  load_buildx();
  assert_int_equal(fb_run(&W), 1);
  assert_string_equal(fb_error(&W, "img/build"), "ERROR: failed to solve: process \"/bin/sh -c make\" did not complete");
}

static void test_buildx_no_image(void **state) {
  (void)state;
  fb_script(&W, "buildx.linux-amd64", "nodigest\n");
  fb_script(&W, "buildx.linux-arm64", "nodigest\n");
  load_buildx();
  assert_int_equal(fb_run(&W), 1);
  assert_string_equal(fb_error(&W, "img/build"), "docker buildx build reported no image id");
}

static void test_buildx_unknown_image(void **state) {
  (void)state;
  /* the metadata names an image the engine does not have */
  fb_script(&W, "buildx.linux-amd64", "ok\n");
  fb_load(&W, "use-legacy-builder: false\nsteps:\n  img:\n    build:\n      path: ctx\n"
              "      dockerfile: \"FROM scratch\\n\"\n", NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, "img/build"), "No such image"));
}

static void test_buildx_missing_cli(void **state) {
  (void)state;
  char *nowhere = brr_path_join(W.dir, "no-such-docker");
  setenv("BRR_DOCKER", nowhere, 1);
  free(nowhere);
  load_buildx();
  assert_int_equal(fb_run(&W), 1);
  assert_non_null(strstr(fb_error(&W, "img/build"), "cannot run docker buildx"));
}

static bool when_buildx_hangs(fb_world *w) {
  if (!fb_fake_exists(w, "buildx.linux-amd64.hanging") && !fb_fake_exists(w, "buildx.linux-arm64.hanging")) return false;
  fb_sigint();
  return true;
}

static void stop_buildx(int signals) {
  /* the abort: the CLI ignores the cancel's SIGTERM, the second SIGINT kills it */
  fb_script(&W, "buildx.linux-amd64", signals == 1 ? "hang\n" : "stubborn\n");
  fb_script(&W, "buildx.linux-arm64", signals == 1 ? "hang\n" : "stubborn\n");
  load_buildx();
  for (int i = 0; i < signals; i++) fb_then(&W, when_buildx_hangs);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
}

static void test_cancel_buildx(void **state) {
  (void)state;
  stop_buildx(1);
}

static void test_abort_buildx(void **state) {
  (void)state;
  stop_buildx(2);
}

static void test_cancel_buildx_inspect(void **state) {
  (void)state;
  load_buildx();
  /* newer than the rule load_buildx adds: it answers first */
  fake_rule_raise(fake_rule_hold(fake_engine_on(W.eng, "GET", "/images/sha256:*/json"), FAKE_HOLD_HEADERS), SIGINT, 1);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_CANCELED);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_legacy),           T(test_legacy_build_error), T(test_legacy_build_refused),
      T(test_cache_pull_fails), T(test_local_images),       T(test_credentials),
      T(test_credentials_sent), T(test_context_missing),    T(test_cancel_cache_pull),
      T(test_cancel_build),     T(test_abort_build),        T(test_abort_cache_pull),
      T(test_cancel_credentials), T(test_import),           T(test_import_missing),
      T(test_import_fails),     T(test_cancel_import),      T(test_buildx),
      T(test_buildx_fails),     T(test_buildx_no_image),    T(test_buildx_unknown_image),
      T(test_buildx_missing_cli), T(test_cancel_buildx),    T(test_abort_buildx),
      T(test_cancel_buildx_inspect),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
