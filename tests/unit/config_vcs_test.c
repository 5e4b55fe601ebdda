/* Build identity (spec §6) against real git repositories made in temp dirs: VCSINFO_* formats,
 * the placeholders off a work-tree root, detached HEADs, and the docker tag rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <utime.h>

#include "brr/vcs.h"
#include "config_helpers.h"

static void git(const char *dir, const char *args) {
  char *cmd = brr_xasprintf("git -C '%s' -c user.name=brr -c user.email=brr@example.com "
                            "-c init.defaultBranch=main %s >/dev/null 2>&1", dir, args);
  int rc = system(cmd);
  if (rc != 0) fail_msg("%s failed", cmd);
  free(cmd);
}

static char *git_out(const char *dir, const char *args) {
  char *cmd = brr_xasprintf("git -C '%s' %s", dir, args);
  FILE *p = popen(cmd, "r");
  char buf[256] = "";
  if (!p || !fgets(buf, sizeof buf, p)) fail_msg("%s gave nothing", cmd);
  pclose(p);
  free(cmd);
  buf[strcspn(buf, "\n")] = '\0';
  return brr_xstrdup(buf);
}

static void test_not_a_repo(void **state) {
  (void)state;
  char *dir = th_tmpdir();
  brr_vcs v;
  brr_vcs_detect(dir, &v);
  assert_false(v.found);
  assert_non_null(strstr(v.problem, "not in a git work tree"));
  assert_string_equal(v.name, brr_path_basename(dir));
  assert_string_equal(v.branch, "unknown");
  assert_int_equal(v.number, 0);
  assert_string_equal(v.id, "0000000000000000000000000000000000000000");
  assert_string_equal(v.short_id, "0000000");
  assert_int_equal(v.modified, 0);
  assert_string_equal(v.release, "0.I000000.M0");
  char *id = brr_vcs_build_id(&v, "17");
  assert_string_equal(id, "unknown-0.I000000.M0-17");
  free(id);
  brr_vcs_free(&v);
  /* a repo without a commit, and a subdirectory of a repo, get placeholders too */
  git(dir, "init -q");
  brr_vcs_detect(dir, &v);
  assert_false(v.found);
  assert_non_null(strstr(v.problem, "no commit"));
  brr_vcs_free(&v);
  th_write(dir, "sub/f", "x");
  git(dir, "add -A");
  git(dir, "commit -qm one");
  char *sub = brr_path_join(dir, "sub");
  brr_vcs_detect(sub, &v);
  assert_false(v.found);
  assert_non_null(strstr(v.problem, "not its root"));
  assert_string_equal(v.name, "sub");
  brr_vcs_free(&v);
  free(sub);
  th_rmdir(dir);
}

static void test_repo(void **state) {
  (void)state;
  char *dir = th_tmpdir();
  git(dir, "init -q");
  th_write(dir, "a.txt", "1");
  git(dir, "add a.txt");
  git(dir, "commit -qm one");
  th_write(dir, "b.txt", "2");
  git(dir, "add b.txt");
  git(dir, "commit -qm two");
  git(dir, "checkout -qb Feature/ABC-1");
  brr_vcs v;
  brr_vcs_detect(dir, &v);
  assert_true(v.found);
  assert_null(v.problem);
  char *head = git_out(dir, "rev-parse HEAD");
  assert_string_equal(v.id, head);
  assert_int_equal(strlen(v.id), 40);
  assert_memory_equal(v.short_id, head, 7);
  assert_int_equal(strlen(v.short_id), 7);
  assert_int_equal(v.number, 2);
  assert_string_equal(v.branch, "Feature/ABC-1");
  assert_string_equal(v.name, brr_path_basename(dir));  /* no remote: the root's name */
  assert_int_equal(v.modified, 0);
  char *rel = brr_xasprintf("2.I%.6s.M0", head);
  assert_string_equal(v.release, rel);
  char *id = brr_vcs_build_id(&v, "1661374484");
  char *want = brr_xasprintf("Feature/ABC-1-%s-1661374484", rel);
  assert_string_equal(id, want);
  char *tag = brr_vcs_sanitize_tag(id);
  char *want_tag = brr_xasprintf("feature-abc-1-2.i%.6s.m0-1661374484", head);
  for (char *p = want_tag; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
  assert_string_equal(tag, want_tag);
  free(tag);
  free(want_tag);
  free(want);
  free(id);
  free(rel);
  brr_vcs_free(&v);

  /* a modified tracked file: its mtime; an untracked one does not count */
  th_write(dir, "a.txt", "changed");
  char *a = brr_path_join(dir, "a.txt");
  struct utimbuf t = {1600000000, 1600000000};
  utime(a, &t);
  th_write(dir, "untracked.txt", "u");
  brr_vcs_detect(dir, &v);
  assert_int_equal(v.modified, 1600000000);
  assert_non_null(strstr(v.release, ".M1600000000"));
  brr_vcs_free(&v);
  free(a);

  /* origin's URL names the project */
  git(dir, "remote add origin git@github.com:adobe/buildrunner.git");
  brr_vcs_detect(dir, &v);
  assert_string_equal(v.name, "buildrunner");
  brr_vcs_free(&v);

  /* detached HEAD: a branch containing it, master preferred; else DETACHED */
  git(dir, "checkout -q -- a.txt");
  git(dir, "branch master");
  git(dir, "checkout -q --detach HEAD~1");
  brr_vcs_detect(dir, &v);
  assert_string_equal(v.branch, "master");
  assert_int_equal(v.number, 1);
  brr_vcs_free(&v);
  git(dir, "commit -q --allow-empty -m loose");
  brr_vcs_detect(dir, &v);
  assert_string_equal(v.branch, "DETACHED");
  brr_vcs_free(&v);
  free(head);
  th_rmdir(dir);
}

static void test_sanitize_tag(void **state) {
  (void)state;
  struct { const char *in, *want; } cases[] = {
      {"main-12.Iabcdef.M0-1700000000", "main-12.iabcdef.m0-1700000000"},
      {"feature/x y", "feature-x-y"},
      {"a//@@b", "a-b"},
      {"under_score.dot-dash", "under_score.dot-dash"},
      {"Ünïcode-ÄÖ", "ünïcode-äö"},       /* \w and lower() are Unicode-aware in Python */
      {"tab\there", "tab-here"},
      {"", ""},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    char *s = brr_vcs_sanitize_tag(cases[i].in);
    assert_string_equal(s, cases[i].want);
    free(s);
  }
  /* not UTF-8: bytes outside ASCII word characters become '-' */
  char *s = brr_vcs_sanitize_tag("A\xff\xfe" "b");
  assert_string_equal(s, "a-b");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_not_a_repo),
      cmocka_unit_test(test_repo),
      cmocka_unit_test(test_sanitize_tag),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
