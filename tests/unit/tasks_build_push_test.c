/* The PUSH node kind for single-platform images (src/tasks/push.c): whole runs with --push
 * against the fake engine (POST /images/{name}/push with the credentials of the docker
 * config in X-Registry-Auth). The happy path, a push tried again after a failure, refusals a
 * retry cannot change, credentials that cannot be read, and a cancel or an abort while the
 * push is in flight or waits to try again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/fake_build_support.h"

static fb_world W;
static char *V1;   /* "push:<registry>/myorg/app:v1" */

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  W.push = true;
  /* two push nodes (v1 and the build's own tag): one's failure must not cancel the other */
  W.keep_going = true;
  V1 = brr_xasprintf("push:%s/myorg/app:v1", W.reg.host);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  free(V1);
  return 0;
}

static void load_push(void) {
  char *y = brr_xasprintf("steps:\n  img:\n    build:\n      dockerfile: \"FROM scratch\\n\"\n"
                          "    push:\n      repository: %s/myorg/app\n      tags: [v1]\n",
                          W.reg.host);
  fb_load(&W, y, NULL);
  free(y);
}

static size_t pushes_of_v1(void) {
  size_t n = 0;
  for (size_t i = 0; i < fake_engine_n_requests(W.eng); i++) {
    const fake_request *q = fake_engine_request(W.eng, i);
    n += !strcmp(q->method, "POST") && brr_endswith(q->path, "/myorg/app/push") && strstr(q->query, "tag=v1");
  }
  return n;
}

static void test_push(void **state) {
  (void)state;
  char *conf = brr_xasprintf("{\"auths\": {\"%s\": {\"auth\": \"dXNlcjpzZWNyZXQ=\"}}}\n", W.reg.host);
  fb_write(W.dir, "docker-config/config.json", conf);
  free(conf);
  load_push();
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, V1), BRR_STATUS_SUCCEEDED);
  assert_int_equal(pushes_of_v1(), 1);
  /* the config's credentials went along */
  char *path = brr_xasprintf("/images/%s/myorg/app/push", W.reg.host);
  const fake_request *q = fake_engine_find(W.eng, "POST", path, 0);
  free(path);
  assert_non_null(q);
  assert_non_null(q->registry_auth);
  char *line = brr_xasprintf("Pushed %s/myorg/app:v1 sha256:", W.reg.host);
  assert_non_null(strstr(W.logs.data, line));
  free(line);
  assert_non_null(strstr(W.out.data, "The push refers to repository"));
}

static void test_retry(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "POST", "/images/*/myorg/app/push", 1, 500);
  load_push();
  assert_int_equal(fb_run(&W), 0);
  assert_non_null(strstr(W.logs.data, "failed (try 1 of 3)"));
  assert_non_null(strstr(W.logs.data, "trying again in 1 s"));
}

static void test_refused(void **state) {
  (void)state;
  /* the registry refused the credentials: a second try cannot change that */
  fake_rule_reply(fake_engine_on(W.eng, "POST", "/images/*/myorg/app/push"), 200, "application/json",
                  "{\"status\":\"The push refers to repository [x]\"}\n"
                  "{\"errorDetail\":{\"message\":\"unauthorized: authentication required\"},"
                  "\"error\":\"unauthorized: authentication required\"}\n",
                  (size_t)-1);
  load_push();
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, V1), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, V1), "unauthorized: authentication required"));
  assert_int_equal(pushes_of_v1(), 1);
}

static void test_no_such_image(void **state) {
  (void)state;
  /* the image is not there: no second try */
  fake_rule_error(fake_engine_on(W.eng, "POST", "/images/*/myorg/app/push"), 404,
                  "An image does not exist locally with the tag: x");
  load_push();
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, V1), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, V1), "does not exist locally"));
  assert_int_equal(pushes_of_v1(), 1);
}

static void test_credentials_fail(void **state) {
  (void)state;
  char *conf = brr_xasprintf("{\"credHelpers\": {\"%s\": \"brr-test-none\"}}\n", W.reg.host);
  fb_write(W.dir, "docker-config/config.json", conf);
  free(conf);
  load_push();
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, V1), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, V1), "cannot run the credential helper"));
  assert_int_equal(pushes_of_v1(), 0);
}

static void stop_push(int signals) {
  fake_rule_hold(fake_engine_on(W.eng, "POST", "/images/*/push"), FAKE_HOLD_HEADERS);
  load_push();
  fb_at(&W, "POST", "/images/*/push", signals);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, V1), BRR_STATUS_CANCELED);
}

static void test_cancel_push(void **state) {
  (void)state;
  stop_push(1);
}

static void test_abort_push(void **state) {
  (void)state;
  stop_push(2);
}

static bool when_waiting(fb_world *w) {
  if (!w->logs.data || !strstr(w->logs.data, "trying again in")) return false;
  fb_sigint();
  return true;
}

static void test_cancel_backoff(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "POST", "/images/*/push", 0, 500);
  load_push();
  fb_then(&W, when_waiting);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, V1), BRR_STATUS_CANCELED);
  assert_int_equal(pushes_of_v1(), 1);
}

static bool when_helper_runs(fb_world *w) {
  if (!fb_fake_exists(w, "helper.running")) return false;
  fb_sigint();
  return true;
}

static void test_cancel_credentials(void **state) {
  (void)state;
  char *helper = brr_xasprintf("#!/bin/sh\ntouch \"%s/helper.running\"\nexec sleep 60\n", W.fake_dir);
  tu_write(W.fake_dir, "bin/docker-credential-brr-test-slow", helper, 0755);
  free(helper);
  char *bin = brr_path_join(W.fake_dir, "bin");
  char *path = brr_xasprintf("%s:%s", bin, getenv("PATH"));
  setenv("PATH", path, 1);
  char *conf = brr_xasprintf("{\"credHelpers\": {\"%s\": \"brr-test-slow\"}}\n", W.reg.host);
  fb_write(W.dir, "docker-config/config.json", conf);
  load_push();
  fb_then(&W, when_helper_runs);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, V1), BRR_STATUS_CANCELED);
  assert_int_equal(pushes_of_v1(), 0);
  setenv("PATH", path + strlen(bin) + 1, 1);
  free(conf), free(bin), free(path);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_push),         T(test_retry),       T(test_refused),        T(test_no_such_image),
      T(test_credentials_fail), T(test_cancel_push), T(test_abort_push), T(test_cancel_backoff),
      T(test_cancel_credentials),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
