/* The Docker Hub rate-limit check a run makes beside its first node (src/tasks/build_state.c):
 * when images come from Docker Hub (no docker-registry), one HEAD of the first one's manifest
 * reads RateLimit-Remaining and warns when the pulls would not fit. "Docker Hub" is the fake
 * registry here ($BRR_DOCKER_HUB_URL). It never fails or delays the build: a refusal or no
 * answer is a debug line, and a check still out when the run ends is cancelled. */
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
  W.hub = true;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  return 0;
}

/* The build is held until the check has said something, so the answer is not raced by
 * the end of the run. */
static bool when_checked(fb_world *w) {
  if (!w->logs.data || !strstr(w->logs.data, "Docker Hub")) return false;
  /* released once held: a release before the request arrives would leave it held */
  if (fake_engine_count(w->eng, "POST", "/build") == 0) return false;
  fake_engine_release(w->eng);
  return true;
}

static void run_busybox_held(void) {
  fb_hold_default(W.eng, "POST", "/build");
  fb_then(&W, when_checked);
  fb_load(&W, "steps:\n  img:\n    build:\n      dockerfile: \"FROM busybox\\n\"\n", NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
}

/* The build is held until the check's HEAD reached "Docker Hub": with no header there is no
 * line to wait for, and a run that ends first cancels the check. */
static bool when_asked(fb_world *w) {
  if (fr_count(&w->reg, "HEAD /v2/library/busybox/manifests/latest") == 0) return false;
  if (fake_engine_count(w->eng, "POST", "/build") == 0) return false;
  fake_engine_release(w->eng);
  return true;
}

static void run_busybox(void) {
  fb_hold_default(W.eng, "POST", "/build");
  fb_then(&W, when_asked);
  fb_load(&W, "steps:\n  img:\n    build:\n      dockerfile: \"FROM busybox\\n\"\n", NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/build"), BRR_STATUS_SUCCEEDED);
}

static void test_too_few_pulls(void **state) {
  (void)state;
  fr_seed(&W.reg, "library/busybox:latest", "0;w=21600");
  run_busybox_held();
  assert_non_null(strstr(W.logs.data, "2|Docker Hub allows 0 more pull(s) now (RateLimit-Remaining) but this build "
                                      "pulls 1 image(s) from it (busybox); set `docker-registry`"));
  assert_int_equal(fr_count(&W.reg, "HEAD /v2/library/busybox/manifests/latest"), 1);
}

static void test_enough_pulls(void **state) {
  (void)state;
  fr_seed(&W.reg, "library/busybox:latest", "100;w=21600");
  run_busybox_held();
  assert_non_null(strstr(W.logs.data, "0|Docker Hub: 100 pull(s) left, this build makes 1"));
  assert_null(strstr(W.logs.data, "Docker Hub allows"));
}

static void test_no_limit(void **state) {
  (void)state;
  /* a paid account or a mirror: no header, nothing said */
  fr_seed(&W.reg, "library/busybox:latest", NULL);
  run_busybox();
  assert_int_equal(fr_count(&W.reg, "HEAD /v2/library/busybox/manifests/latest"), 1);
  assert_null(strstr(W.logs.data, "Docker Hub allows"));
  assert_null(strstr(W.logs.data, "pull(s) left"));
}

static void test_refused(void **state) {
  (void)state;
  fr_fault(&W.reg, "HEAD", "/v2/library/busybox/", 500, -1);
  run_busybox_held();
  assert_non_null(strstr(W.logs.data, "0|Docker Hub rate limit unknown: "));
  /* never tried twice */
  assert_int_equal(fr_count(&W.reg, "HEAD /v2/library/busybox/manifests/latest"), 1);
}

static void test_no_answer(void **state) {
  (void)state;
  /* the run ends first: the check is dropped, the run is not held */
  fr_fault(&W.reg, "HEAD", "/v2/library/busybox/", 0, -1);
  run_busybox();
  assert_non_null(strstr(W.logs.data, "Docker Hub rate limit: no answer yet; the run ended first"));
}

static void test_mirror(void **state) {
  (void)state;
  /* a docker-registry of one's own: nothing comes from Docker Hub, nothing is asked */
  W.hub = false;
  fb_load(&W, "steps:\n  img:\n    build:\n      dockerfile: \"FROM busybox\\n\"\n", NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fr_count(&W.reg, "HEAD "), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_too_few_pulls), T(test_enough_pulls), T(test_no_limit),
      T(test_refused),       T(test_no_answer),    T(test_mirror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
