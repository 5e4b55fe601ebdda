/* The results directory (docs/output.md): refused when it is a file or holds the project,
 * locked for the run, and cleared of exactly what brr made there before; step names map to
 * file names one to one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brr/util.h"

static char *tmp_root(void) {
  char tmpl[] = "/tmp/brr-results-test-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  return brr_xstrdup(tmpl);
}

static void touch(const char *dir, const char *name, const char *text) {
  char *p = brr_path_join(dir, name);
  assert_int_equal(brr_write_file(p, text, strlen(text)), 0);
  free(p);
}

static bool exists(const char *dir, const char *name) {
  char *p = brr_path_join(dir, name);
  struct stat st;
  bool ok = lstat(p, &st) == 0;
  free(p);
  return ok;
}

static void test_refused(void **state) {
  (void)state;
  char *root = tmp_root();
  char *proj = brr_path_join(root, "proj");
  assert_int_equal(brr_mkdir_p(proj, 0755), 0);
  touch(proj, "buildrunner.yaml", "steps: {}\n");
  char *cfgfile = brr_path_join(proj, "buildrunner.yaml");
  brr_results_guard g[] = {{proj, "the build directory"}, {cfgfile, "the config file"}};
  brr_results *r = NULL;
  char *err = NULL;

  /* the build dir itself, and its parent */
  assert_int_equal(brr_results_open(proj, g, 2, false, &r, &err), -EINVAL);
  assert_null(r);
  assert_non_null(strstr(err, "is the build directory"));
  free(err);
  assert_int_equal(brr_results_open(root, g, 2, false, &r, &err), -EINVAL);
  assert_non_null(strstr(err, "holds the build directory"));
  free(err);
  /* through a symbolic link too */
  char *link = brr_path_join(root, "link");
  assert_int_equal(symlink(proj, link), 0);
  assert_int_equal(brr_results_open(link, g, 2, false, &r, &err), -EINVAL);
  free(err);
  /* a config file elsewhere */
  brr_results_guard only_cfg[] = {{cfgfile, "the config file"}};
  assert_int_equal(brr_results_open(proj, only_cfg, 1, false, &r, &err), -EINVAL);
  assert_non_null(strstr(err, "holds the config file"));
  free(err);
  /* a regular file stays as it is */
  touch(root, "file", "mine");
  char *file = brr_path_join(root, "file");
  assert_int_equal(brr_results_open(file, g, 2, false, &r, &err), -ENOTDIR);
  assert_non_null(strstr(err, "is not a directory"));
  free(err);
  brr_buf b = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(file, &b), 0);
  assert_string_equal(brr_buf_cstr(&b), "mine");
  brr_buf_free(&b);
  assert_true(exists(proj, "buildrunner.yaml"));

  brr_rm_rf(root);
  free(file);
  free(link);
  free(cfgfile);
  free(proj);
  free(root);
}

static void test_only_own_removed(void **state) {
  (void)state;
  char *root = tmp_root();
  char *dir = brr_path_join(root, "results");
  brr_results *r = NULL;
  char *err = NULL;
  assert_int_equal(brr_results_open(dir, NULL, 0, false, &r, &err), 0);
  assert_int_equal(brr_results_note(r, "build.log"), 0);
  touch(dir, "build.log", "log");
  assert_int_equal(brr_results_mkdir(r, "step"), 0);
  touch(dir, "step/out.txt", "artifact");
  brr_results_close(r);
  /* the user's own files beside brr's, and a dir that was there before brr */
  touch(dir, "notes.txt", "user");
  char *theirs = brr_path_join(dir, "theirs");
  assert_int_equal(mkdir(theirs, 0755), 0);
  free(theirs);
  touch(dir, "theirs/keep.txt", "user");
  touch(dir, "artifacts.json", "{}");

  /* --keep-step-artifacts removes nothing */
  assert_int_equal(brr_results_open(dir, NULL, 0, true, &r, &err), 0);
  assert_int_equal(brr_results_mkdir(r, "theirs"), 0);   /* existed: not recorded */
  brr_results_close(r);
  assert_true(exists(dir, "step/out.txt"));
  assert_true(exists(dir, "artifacts.json"));

  assert_int_equal(brr_results_open(dir, NULL, 0, false, &r, &err), 0);
  assert_false(exists(dir, "step"));
  assert_false(exists(dir, "build.log"));
  assert_false(exists(dir, "artifacts.json"));   /* rewritten whole, never merged into */
  assert_true(exists(dir, "notes.txt"));
  assert_true(exists(dir, "theirs/keep.txt"));
  brr_results_close(r);
  /* that run recorded nothing: the next one removes nothing more */
  assert_int_equal(brr_results_open(dir, NULL, 0, false, &r, &err), 0);
  assert_true(exists(dir, "theirs/keep.txt"));
  brr_results_close(r);

  /* a manifest line that is not one plain name is ignored */
  touch(dir, BRR_RESULTS_MANIFEST, "../outside\n..\n.\n/etc\nnotes.txt/x\n");
  touch(root, "outside", "x");
  assert_int_equal(brr_results_open(dir, NULL, 0, false, &r, &err), 0);
  brr_results_close(r);
  assert_true(exists(root, "outside"));
  assert_true(exists(dir, "notes.txt"));

  brr_rm_rf(root);
  free(dir);
  free(root);
}

static void test_lock(void **state) {
  (void)state;
  char *root = tmp_root();
  brr_results *a = NULL, *b = NULL;
  char *err = NULL;
  assert_int_equal(brr_results_open(root, NULL, 0, false, &a, &err), 0);
  assert_int_equal(brr_results_mkdir(a, "step"), 0);
  /* a second run (another open file description: flock conflicts as between processes) */
  assert_int_equal(brr_results_open(root, NULL, 0, false, &b, &err), -EBUSY);
  assert_null(b);
  assert_non_null(strstr(err, "another brr is running"));
  free(err);
  assert_true(exists(root, "step"));   /* the first run's results were not touched */
  brr_results_close(a);
  assert_int_equal(brr_results_open(root, NULL, 0, false, &b, &err), 0);
  brr_results_close(b);
  brr_rm_rf(root);
  free(root);
}

static char *decode(const char *s) {
  brr_buf b = BRR_BUF_INIT;
  for (; *s; s++) {
    unsigned v;
    if (*s == '%' && sscanf(s + 1, "%2X", &v) == 1) {
      brr_buf_putc(&b, (char)v);
      s += 2;
    } else {
      brr_buf_putc(&b, *s);
    }
  }
  return brr_buf_detach(&b);
}

static void test_names(void **state) {
  (void)state;
  static const struct { const char *step, *file; } cases[] = {
      {"build-app", "build-app"},       {"a b+c:d", "a b+c:d"},     {"a/b", "a%2Fb"},
      {"a_b", "a_b"},                   {"a%2Fb", "a%252Fb"},       {".hidden", "%2Ehidden"},
      {".", "%2E"},                     {"..", "%2E."},             {"logs", "%6Cogs"},
      {"build.log", "%62uild.log"},     {"artifacts.json", "%61rtifacts.json"},
      {"line\nbreak", "line%0Abreak"}, {"logsx", "logsx"},         {".brr-created", "%2Ebrr-created"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    char *n = brr_results_name(cases[i].step);
    assert_string_equal(n, cases[i].file);
    assert_null(strchr(n, '/'));
    char *back = decode(n);
    assert_string_equal(back, cases[i].step);   /* one to one */
    free(back);
    free(n);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused), cmocka_unit_test(test_only_own_removed),
      cmocka_unit_test(test_lock),    cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
