/* tasks: the /source tar (spec §9.1) and .buildignore matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "brr/tasks_files.h"
#include "unit/tasks_util.h"

static char *make_tree(void) {
  char *root = tu_mkdtemp();
  char *b = brr_path_join(root, "build");
  tu_mkdir(b, ".");
  tu_write(b, "a.txt", "alpha\n", 0644);
  tu_set_mtime(b, "a.txt", 1500000000);
  tu_write(b, "bin/run.sh", "#!/bin/sh\necho hi\n", 0755);
  tu_symlink(b, "link", "a.txt");
  char *a = brr_path_join(b, "a.txt"), *h = brr_path_join(b, "hard");
  if (link(a, h) != 0) abort();
  free(a);
  free(h);
  tu_write(b, ".git/HEAD", "ref: refs/heads/main\n", 0644);
  tu_write(b, "buildrunner.results/build.log", "old\n", 0644);
  tu_write(b, "sub/buildrunner.results/y", "nested results are ordinary files\n", 0644);
  tu_write(b, ".buildignore", "*.log\n   \nsecret/*\n", 0644);
  tu_write(b, "app.log", "x", 0644);
  tu_write(b, "deep/er/x.log", "x", 0644);
  tu_write(b, "secret/key", "k", 0600);
  free(root);
  return b;
}

static void test_layout(void **state) {
  (void)state;
  char *b = make_tree();
  char *results = brr_path_join(b, "buildrunner.results");
  char *out = brr_path_join(b, "../source.tar");
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_source_tar_create(b, results, out, &d), 0);
  assert_int_equal(d.n, 0);
  tu_tar t;
  assert_true(tu_tar_read(out, &t));
  char *names = tu_tar_names(&t);
  /* byte order; the results dir only at the top; the star of "*.log" crosses directories;
   * "secret/" + "*" leaves the directory itself in; .git is kept */
  assert_string_equal(names, "./|.buildignore|.git/|.git/HEAD|a.txt|bin/|bin/run.sh|deep/|"
                             "deep/er/|hard|link|secret/|sub/|sub/buildrunner.results/|"
                             "sub/buildrunner.results/y");
  const tu_entry *e = tu_tar_find(&t, "a.txt");
  assert_int_equal(e->type, AE_IFREG);
  assert_int_equal(e->perm, 0644);
  assert_int_equal(e->mtime, 1500000000);
  assert_int_equal(e->uid, (long long)getuid());
  assert_string_equal(e->data, "alpha\n");
  e = tu_tar_find(&t, "bin/run.sh");
  assert_int_equal(e->perm, 0755);
  assert_string_equal(e->data, "#!/bin/sh\necho hi\n");
  e = tu_tar_find(&t, "link");
  assert_int_equal(e->type, AE_IFLNK);
  assert_string_equal(e->symlink, "a.txt");
  e = tu_tar_find(&t, "hard");
  assert_non_null(e->hardlink);
  assert_string_equal(e->hardlink, "a.txt");
  e = tu_tar_find(&t, "./");
  assert_int_equal(e->type, AE_IFDIR);
  tu_tar_free(&t);
  free(names);
  brr_diags_free(&d);
  brr_rm_rf(b);
  free(out);
  free(results);
  char *parent = brr_path_dirname(b);
  brr_rm_rf(parent);
  free(parent);
  free(b);
}

/* A big file goes through in chunks and comes back identical. */
static void test_big_file(void **state) {
  (void)state;
  char *b = tu_mkdtemp();
  size_t n = 3 * 1024 * 1024 + 17;
  char *data = brr_xmalloc(n);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    data[i] = (char)(x >> 16);
  }
  char *p = brr_path_join(b, "big.bin");
  assert_int_equal(brr_write_file(p, data, n), 0);
  char *out = brr_xasprintf("%s.tar", b);
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_source_tar_create(b, "/nonexistent/buildrunner.results", out, &d), 0);
  tu_tar t;
  assert_true(tu_tar_read(out, &t));
  const tu_entry *e = tu_tar_find(&t, "big.bin");
  assert_non_null(e);
  assert_int_equal(e->size, (int64_t)n);
  assert_memory_equal(e->data, data, n);
  tu_tar_free(&t);
  unlink(out);
  brr_rm_rf(b);
  brr_diags_free(&d);
  free(out);
  free(p);
  free(data);
  free(b);
}

/* The results directory is recognised by basename even when -b points elsewhere; the tar
 * never contains itself. */
static void test_results_elsewhere(void **state) {
  (void)state;
  char *b = tu_mkdtemp();
  tu_write(b, "out/x", "x", 0644);
  tu_write(b, "keep/out/y", "y", 0644);
  char *out = brr_path_join(b, "keep/source.tar");  /* a temp-dir inside the build dir */
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_source_tar_create(b, "/somewhere/else/out/", out, &d), 0);
  tu_tar t;
  assert_true(tu_tar_read(out, &t));
  char *names = tu_tar_names(&t);
  assert_string_equal(names, "./|keep/|keep/out/|keep/out/y");  /* and never itself */
  free(names);
  tu_tar_free(&t);
  unlink(out);
  brr_rm_rf(b);
  brr_diags_free(&d);
  free(out);
  free(b);
}

static void test_missing_build_dir(void **state) {
  (void)state;
  char *b = tu_mkdtemp();
  char *gone = brr_path_join(b, "gone");
  char *out = brr_path_join(b, "s.tar");
  brr_diags d = BRR_DIAGS_INIT;
  assert_true(brr_source_tar_create(gone, NULL, out, &d) < 0);
  assert_int_equal(d.n_errors, 1);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
  assert_false(tu_exists(b, "s.tar"));  /* nothing half-done */
  brr_diags_free(&d);
  brr_rm_rf(b);
  free(out);
  free(gone);
  free(b);
}

/* fnmatch(3) against Python's fnmatch.fnmatch, the function buildrunner calls. */
static void test_buildignore_vs_python(void **state) {
  (void)state;
  static const char *cases[][2] = {
      {"*.log", "a.log"},        {"*.log", "d/e/a.log"},   {"*", "x/y/z"},
      {"src/*", "src"},          {"src/*", "src/a/b"},     {"?", "a"},
      {"?", "/"},                {"a?c", "a/c"},           {"[ab]*", "b/x"},
      {"[!a]*", "a1"},           {"[!a]*", "b1"},          {"a\\b", "a\\b"},
      {".git", ".git"},          {".git*", ".gitignore"},  {"*.md", ".hidden.md"},
      {" lead", "lead"},         {"lead ", "lead"},        {"[a-c]x", "bx"},
      {"[]]", "]"},              {"[", "["},               {"x[", "x["},
      {"*/node_modules", "a/b/node_modules"},               {"build/", "build"},
      {"build", "build/x"},      {"**/x", "x"},            {"**/x", "a/x"},
  };
  size_t n = BRR_ARRAY_LEN(cases);
  char **argv = brr_xcalloc(2 * n + 4, sizeof(char *));
  argv[0] = (char *)"/usr/bin/python3";
  argv[1] = (char *)"-c";
  argv[2] = (char *)"import fnmatch, sys\n"
                    "a = sys.argv[1:]\n"
                    "print(''.join('1' if fnmatch.fnmatch(a[i+1], a[i]) else '0' "
                    "for i in range(0, len(a), 2)))\n";
  for (size_t i = 0; i < n; i++) {
    argv[3 + 2 * i] = (char *)cases[i][0];
    argv[4 + 2 * i] = (char *)cases[i][1];
  }
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(tu_run(argv, NULL, &out), 0);
  for (size_t i = 0; i < n; i++) {
    bool want = out.data[i] == '1';
    if (brr_buildignore_match(cases[i][0], cases[i][1]) != want)
      fail_msg("pattern '%s' on '%s': python says %d", cases[i][0], cases[i][1], want);
  }
  brr_buf_free(&out);
  free(argv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout),
      cmocka_unit_test(test_big_file),
      cmocka_unit_test(test_results_elsewhere),
      cmocka_unit_test(test_missing_build_dir),
      cmocka_unit_test(test_buildignore_vs_python),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
