/* Names the config turns into paths or environment entries: a step name that would leave the
 * results dir, and an `env:` key no process environment can hold, are configuration errors
 * at their line and column (exit 78), before anything runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_helpers.h"

/* Loads `yaml` and checks the first error holds `frag`, at line:col. */
static void expect_error_at(const char *yaml, const char *frag, unsigned line, unsigned col) {
  char *dir = th_tmpdir();
  brr_config *cfg = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = th_load(dir, yaml, &cfg, &d);
  if (rc == 0 || !th_find(&d, frag, false)) {
    th_dump(&d);
    fail_msg("no error \"%s\" for:\n%s", frag, yaml);
  }
  const brr_diag *g = th_find(&d, frag, false);
  assert_int_equal(g->mark.line, line);
  assert_int_equal(g->mark.col, col);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_CONFIG);
  brr_config_free(cfg);
  brr_diags_free(&d);
  th_rmdir(dir);
}

static void expect_ok(const char *yaml) {
  char *dir = th_tmpdir();
  brr_config *cfg = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  if (th_load(dir, yaml, &cfg, &d) != 0) {
    th_dump(&d);
    fail_msg("refused:\n%s", yaml);
  }
  brr_config_free(cfg);
  brr_diags_free(&d);
  th_rmdir(dir);
}

#define RUN "{run: {image: busybox, cmd: 'true'}}"

static void test_step_names(void **state) {
  (void)state;
  expect_error_at("steps:\n  ok: " RUN "\n  /abs: " RUN "\n", "step name '/abs' is an absolute path", 3, 3);
  expect_error_at("steps:\n  ../x: " RUN "\n", "step name '../x' has a \"..\" path component", 2, 3);
  expect_error_at("steps:\n  a/../../x: " RUN "\n", "has a \"..\" path component", 2, 3);
  expect_error_at("steps:\n  ..: " RUN "\n", "has a \"..\" path component", 2, 3);
  expect_error_at("steps:\n  a//b: " RUN "\n", "has an empty path component", 2, 3);
  expect_error_at("steps:\n  'a/': " RUN "\n", "has an empty path component", 2, 3);
  expect_error_at("steps:\n  \"a\\0b\": " RUN "\n", "holds a NUL byte", 2, 3);
  /* names that stay inside: brr_results_name encodes them one to one */
  expect_ok("steps:\n  a/b: " RUN "\n  a_b: " RUN "\n  .: " RUN "\n  ..x: " RUN "\n  'with space': " RUN "\n");
}

static void test_env_keys(void **state) {
  (void)state;
  expect_error_at("steps:\n  s:\n    run:\n      image: busybox\n      env:\n        OK: 1\n        'A=B': x\n",
                  "environment variable name 'A=B' holds '='", 7, 9);
  expect_error_at("steps:\n  s:\n    run:\n      image: busybox\n      env:\n        '': x\n",
                  "environment variable name '' is empty", 6, 9);
  expect_error_at("steps:\n  s:\n    run:\n      image: busybox\n      env:\n        \"A\\0B\": x\n",
                  "holds a NUL byte", 6, 9);
  /* services share the run's keys */
  expect_error_at("steps:\n  s:\n    run:\n      image: busybox\n      services:\n        db:\n"
                  "          image: busybox\n          env: {'=x': 1}\n",
                  "environment variable name '=x' holds '='", 8, 17);
  expect_ok("steps:\n  s:\n    run:\n      image: busybox\n      env: {A_B: 1, lower: x, 'dot.ted': ~}\n");

  /* the global config's env: too */
  char *dir = th_tmpdir();
  th_write(dir, ".buildrunner.yaml", "env:\n  GOOD: 1\n  'BAD=1': 2\n");
  brr_config *cfg = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_not_equal(th_load(dir, "steps:\n  s: " RUN "\n", &cfg, &d), 0);
  const brr_diag *g = th_find(&d, "environment variable name 'BAD=1' holds '='", false);
  assert_non_null(g);
  assert_non_null(strstr(g->mark.file, ".buildrunner.yaml"));
  assert_int_equal(g->mark.line, 3);
  brr_config_free(cfg);
  brr_diags_free(&d);
  th_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_step_names),
      cmocka_unit_test(test_env_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
