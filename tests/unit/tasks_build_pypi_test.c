/* The pypi-push node kind (src/tasks/pypi_push.c) with the twine stand-in of
 * tests/unit/fake_bin ($BRR_TWINE): whole runs with --push, the packages made by a remote
 * step (the ssh stand-in) so no engine work is needed. Each entry's upload (a ~/.pypirc
 * section, an URL with credentials in the environment only), twine failing, a step with no
 * packages, a failed step holding the upload back (the push barrier), and a cancel or an
 * abort while twine runs. */
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
  W.push = true;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  return 0;
}

static const char *PKG =
    "steps:\n"
    "  pkg:\n"
    "    remote:\n"
    "      host: me@builder\n"
    "      cmd: 'mkdir -p dist && echo w > dist/app-1.0-py3-none-any.whl && echo s > dist/app-1.0.tar.gz"
    " && echo n > dist/notes.txt'\n"
    "      artifacts:\n"
    "        dist/*.whl: {type: python-wheel}\n"
    "        dist/*.tar.gz: {type: python-sdist}\n"
    "        dist/notes.txt: {type: text}\n"
    "    pypi-push:\n"
    "      - internal\n"
    "      - repository: https://ci:pw@up.example/simple\n"
    "        username: ci\n"
    "        password: s3cret\n"
    "        skip_existing: true\n";

static void test_uploads(void **state) {
  (void)state;
  fb_load(&W, PKG, NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "pypi-push:pkg"), BRR_STATUS_SUCCEEDED);
  char *log = fb_fake_file(&W, "twine.log");
  char *whl = brr_path_join(W.results, "pkg/app-1.0-py3-none-any.whl");
  char *sdist = brr_path_join(W.results, "pkg/app-1.0.tar.gz");
  /* the packages in artifacts.json order, the text file left out; the section first */
  char *want = brr_xasprintf("argv: upload --non-interactive --disable-progress-bar --repository internal -- %s %s\n"
                             "user= password=\n"
                             "argv: upload --non-interactive --disable-progress-bar --repository-url "
                             "https://ci:pw@up.example/simple --skip-existing -- %s %s\n"
                             "user=ci password=s3cret\n",
                             whl, sdist, whl, sdist);
  assert_string_equal(log, want);
  free(want), free(log), free(whl), free(sdist);
  /* twine's lines are the node's output; brr's own never show the URL's credentials */
  assert_int_equal(fb_count(W.out.data, "pypi-push:pkg|twine|Uploading app-1.0.tar.gz\n"), 2);
  assert_non_null(strstr(W.logs.data, "Uploaded 2 package(s) to https://***@up.example/simple"));
  assert_non_null(strstr(W.logs.data, "Uploading 2 package(s) to internal (from ~/.pypirc)"));
  assert_null(strstr(W.logs.data, "ci:pw@"));
}

static void test_twine_fails(void **state) {
  (void)state;
  fb_script(&W, "twine.script", "ok\nfail:403 Forbidden from https://up.example/simple\n");
  fb_load(&W, PKG, NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "pypi-push:pkg"), BRR_STATUS_FAILED);
  assert_string_equal(fb_error(&W, "pypi-push:pkg"),
                      "twine upload failed: ERROR    HTTPError: 403 Forbidden from https://up.example/simple");
  char *log = fb_fake_file(&W, "twine.log");
  assert_int_equal(fb_count(log, "argv:"), 2);
  free(log);
}

static void test_twine_missing(void **state) {
  (void)state;
  char *nowhere = brr_path_join(W.dir, "no-such-twine");
  setenv("BRR_TWINE", nowhere, 1);
  fb_load(&W, PKG, NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "pypi-push:pkg"), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, "pypi-push:pkg"), "twine"));
  free(nowhere);
}

static void test_no_packages(void **state) {
  (void)state;
  fb_load(&W, "steps:\n  pkg:\n    remote:\n      host: me@builder\n      cmd: 'echo n > notes.txt'\n"
              "      artifacts:\n        notes.txt: {}\n    pypi-push: [internal]\n", NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "pypi-push:pkg"), BRR_STATUS_SUCCEEDED);
  assert_non_null(strstr(W.logs.data, "no artifacts of type python-sdist or python-wheel in step 'pkg': nothing to upload"));
  assert_false(fb_fake_exists(&W, "twine.log"));
}

static void test_barrier(void **state) {
  (void)state;
  /* another step fails: nothing is uploaded */
  char *y = brr_xasprintf("%s  bad:\n    remote:\n      host: me@builder\n      cmd: 'exit 2'\n", PKG);
  fb_load(&W, y, NULL);
  free(y);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "pypi-push:pkg"), BRR_STATUS_SKIPPED);
  assert_false(fb_fake_exists(&W, "twine.log"));
}

static bool when_twine_hangs(fb_world *w) {
  if (!fb_fake_exists(w, "twine.hanging")) return false;
  fb_sigint();
  return true;
}

static void stop_while_uploading(int signals) {
  /* the abort: twine ignores the SIGTERM of the cancel, the second SIGINT kills it */
  fb_script(&W, "twine.script", signals == 1 ? "ok\nhang\n" : "ok\nstubborn\n");
  fb_load(&W, PKG, NULL);
  for (int i = 0; i < signals; i++) fb_then(&W, when_twine_hangs);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "pypi-push:pkg"), BRR_STATUS_CANCELED);
  char *pid = fb_fake_file(&W, "twine.pid");
  assert_true(fb_pid_gone(pid));
  free(pid);
  char *log = fb_fake_file(&W, "twine.log");
  assert_int_equal(fb_count(log, "argv:"), 2);
  free(log);
}

static void test_cancel(void **state) {
  (void)state;
  stop_while_uploading(1);
}

static void test_abort(void **state) {
  (void)state;
  stop_while_uploading(2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_uploads), T(test_twine_fails), T(test_twine_missing), T(test_no_packages),
      T(test_barrier), T(test_cancel),      T(test_abort),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
