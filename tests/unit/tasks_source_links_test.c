/* A relative symbolic link in the build dir that leads outside it: the engine refuses it
 * when it unpacks the /source tar (HTTP 500, "invalid symlink"); brr names it first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "brr/tasks_files.h"
#include "unit/tasks_util.h"

static void test_escapes(void **state) {
  (void)state;
  static const struct { const char *rel, *target; bool escapes; } cases[] = {
      {"link", "a.txt", false},          {"link", "../x", true},
      {"sub/l", "../a.txt", false},      {"sub/l", "../../x", true},
      {"sub/l", "../../source/a", false}, /* /source/sub/../../source/a is /source/a */
      {"l", "/etc/passwd", false},       /* absolute: joined below /source by the engine */
      {"l", ".", false},                 {"l", "..", true},
      {"a/b/c/l", "../../../d", false},  {"a/b/c/l", "../../../../d", true},
      {"l", "./x/../../y", true},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    if (brr_source_link_escapes(cases[i].rel, cases[i].target) != cases[i].escapes)
      fail_msg("%s -> %s: expected escapes=%d", cases[i].rel, cases[i].target, cases[i].escapes);
  }
}

static void test_tar_names_link(void **state) {
  (void)state;
  char *root = tu_mkdtemp();
  char *b = brr_path_join(root, "build");
  tu_write(b, "a.txt", "alpha\n", 0644);
  tu_symlink(b, "ok", "a.txt");
  tu_symlink(b, "abs", "/etc/passwd");
  tu_write(b, "sub/keep.txt", "k\n", 0644);
  tu_symlink(b, "sub/out", "../../elsewhere");
  char *out = brr_path_join(root, "source.tar");
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_not_equal(brr_source_tar_create(b, NULL, out, &d), 0);
  assert_int_equal(d.n, 1);
  char *want = brr_xasprintf("symbolic link that points outside it: %s/sub/out -> ../../elsewhere", b);
  assert_non_null(strstr(d.v[0].msg, want));
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
  struct stat st;
  assert_int_not_equal(stat(out, &st), 0);   /* no half tar left */
  free(want);
  brr_diags_free(&d);

  /* listed in .buildignore: left out, and the tar is made */
  tu_write(b, ".buildignore", "sub/out\n", 0644);
  assert_int_equal(brr_source_tar_create(b, NULL, out, &d), 0);
  assert_int_equal(d.n, 0);
  brr_diags_free(&d);
  brr_rm_rf(root);
  free(out);
  free(b);
  free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_escapes), cmocka_unit_test(test_tar_names_link)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
