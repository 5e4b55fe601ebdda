/* tasks: .dockerignore rules, case by case. The expectations come from docker's reference
 * (the .dockerignore section of the Dockerfile reference: its examples and rules) and from
 * moby/patternmatcher's documented behaviour (parent directories, `**`, exceptions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "brr/tasks_files.h"

static brr_dockerignore *parse(const char *text) {
  brr_diags d = BRR_DIAGS_INIT;
  brr_dockerignore *di = brr_dockerignore_parse(text, strlen(text), ".dockerignore", &d);
  if (!di) fail_msg("parse failed: %s", d.n ? d.v[0].msg : "?");
  brr_diags_free(&d);
  return di;
}

typedef struct { const char *path; bool excluded; } expect;

static void check(const char *file, const expect *cases, size_t n) {
  brr_dockerignore *di = parse(file);
  for (size_t i = 0; i < n; i++) {
    if (brr_dockerignore_excluded(di, cases[i].path) != cases[i].excluded)
      fail_msg("patterns %s: %s should be %s", file, cases[i].path,
               cases[i].excluded ? "excluded" : "kept");
  }
  brr_dockerignore_free(di);
}

#define CHECK(file, ...)                                                          \
  do {                                                                            \
    const expect cases_[] = {__VA_ARGS__};                                        \
    check(file, cases_, sizeof cases_ / sizeof cases_[0]);                        \
  } while (0)

/* The reference's example file. */
static void test_reference_example(void **state) {
  (void)state;
  CHECK("# comment\n*/temp*\n*/*/temp*\ntemp?\n",
        {"somedir/temporary.txt", true}, {"somedir/temp", true},
        {"somedir/subdir/temporary.txt", true}, {"tempa", true}, {"tempb", true},
        {"temp", false}, {"tempab", false}, {"temporary.txt", false},
        {"a/b/c/temp", false}, {"# comment", false});
}

/* `/foo/bar` and `foo/bar` name the same thing, relative to the context root; a match on a
 * directory excludes everything below it. */
static void test_root_relative(void **state) {
  (void)state;
  CHECK("/foo/bar\n", {"foo/bar", true}, {"foo/bar/deep/x", true}, {"foo", false},
        {"bar", false}, {"x/foo/bar", false}, {"foo/barx", false});
  CHECK("foo/bar\n", {"foo/bar", true}, {"foo/bar/deep/x", true}, {"x/foo/bar", false});
  /* cleaned like Go's filepath.Clean: ./, trailing /, .. */
  CHECK("./a\nb/\nc/../d\n", {"a", true}, {"b", true}, {"b/x", true}, {"d", true},
        {"c", false}, {"c/d", false});
}

static void test_double_star(void **state) {
  (void)state;
  CHECK("**/*.go\n", {"x.go", true}, {"a/b/c.go", true}, {"a/b/c.goo", false});
  CHECK("a/**/b\n", {"a/b", true}, {"a/x/y/b", true}, {"a/xb", false}, {"b", false});
  /* a trailing ** takes everything below, but not the directory itself */
  CHECK("foo/**\n", {"foo/x", true}, {"foo/x/y", true}, {"foo", false});
  /* the shortcuts of patternmatcher: `foo**` is a prefix test, `**foo` a suffix test */
  CHECK("foo**\n", {"foobar", true}, {"foo/x", true}, {"fo", false});
  CHECK("**foo\n", {"xfoo", true}, {"a/bfoo", true}, {"foo", true}, {"foox", false});
  CHECK("**\n", {"anything", true}, {"a/b", true});
}

static void test_wildcards(void **state) {
  (void)state;
  /* `*` and `?` stop at `/` */
  CHECK("*.md\n", {"README.md", true}, {"docs/a.md", false});
  CHECK("a?b\n", {"axb", true}, {"a/b", false});
  CHECK("a*b\n", {"axyb", true}, {"ax/yb", false});
  /* classes: `^` negates, `!` is a member */
  CHECK("[^a]x\n", {"bx", true}, {"ax", false});
  CHECK("[!a]x\n", {"!x", true}, {"ax", true}, {"bx", false});
  CHECK("[a-c]?\n", {"b1", true}, {"d1", false});
  /* regular-expression characters are literal */
  CHECK("a.b\n", {"a.b", true}, {"axb", false});
  CHECK("a.b*\n", {"a.bc", true}, {"axbc", false});
  CHECK("f(1)+$*\n", {"f(1)+$x", true}, {"f1", false});
  /* a backslash escapes the next character */
  CHECK("foo\\*\n", {"foo*", true}, {"foox", false});
}

/* `!` exceptions: the last matching line decides. */
static void test_exceptions(void **state) {
  (void)state;
  CHECK("*.md\n!README.md\n", {"README.md", false}, {"CHANGES.md", true});
  CHECK("*.md\n!README*.md\nREADME-secret.md\n", {"README-secret.md", true},
        {"README-a.md", false}, {"x.md", true});
  CHECK("*.md\nREADME-secret.md\n!README*.md\n", {"README-secret.md", false});
  /* re-including inside an excluded directory */
  CHECK("docs\n!docs/keep.txt\n", {"docs", true}, {"docs/keep.txt", false}, {"docs/other", true});
  CHECK("*\n!src\n", {"src", false}, {"src/a/b", false}, {"other", true});
}

/* Which excluded directories docker still walks into. */
static void test_descend(void **state) {
  (void)state;
  brr_dockerignore *di = parse("*\n!keep/file\n!**/deep\n");
  assert_true(brr_dockerignore_excluded(di, "keep"));
  assert_true(brr_dockerignore_descend(di, "keep"));
  assert_false(brr_dockerignore_excluded(di, "keep/file"));
  /* the exception "**" + "/deep" does not start with "other/", so docker never looks there */
  assert_false(brr_dockerignore_descend(di, "other"));
  brr_dockerignore_free(di);
  di = parse("build\n");
  assert_false(brr_dockerignore_descend(di, "build"));  /* no exceptions at all */
  brr_dockerignore_free(di);
}

static void test_reading(void **state) {
  (void)state;
  /* BOM, CRLF, surrounding spaces, a space before `#`, spaces after `!` */
  CHECK("\xEF\xBB\xBF" "a\r\n  b.tmp  \r\n #x\n!  a\n", {"a", false}, {"b.tmp", true},
        {"#x", true});
  CHECK("#*\n", {"x", false});
}

/* Docker always sends the Dockerfile and .dockerignore. */
static void test_keep(void **state) {
  (void)state;
  brr_dockerignore *di = parse("*\n");
  brr_dockerignore_keep(di, ".dockerignore");
  brr_dockerignore_keep(di, "sub/Dockerfile.prod");
  assert_false(brr_dockerignore_excluded(di, ".dockerignore"));
  assert_false(brr_dockerignore_excluded(di, "sub/Dockerfile.prod"));
  assert_true(brr_dockerignore_descend(di, "sub"));
  assert_true(brr_dockerignore_excluded(di, "sub/other"));
  brr_dockerignore_free(di);
}

static void test_invalid(void **state) {
  (void)state;
  const char *bad[] = {"ok\n[abc\n", "ok\n!\n", "ok\na\\\n", "ok\n[z-a]\n", "ok\n[]\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    brr_diags d = BRR_DIAGS_INIT;
    brr_dockerignore *di = brr_dockerignore_parse(bad[i], strlen(bad[i]), "ctx/.dockerignore", &d);
    if (di) fail_msg("accepted %s", bad[i]);
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(d.v[0].mark.file, "ctx/.dockerignore");
    assert_int_equal(d.v[0].mark.line, 2);
    assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_CONFIG);
    brr_diags_free(&d);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_example), cmocka_unit_test(test_root_relative),
      cmocka_unit_test(test_double_star),       cmocka_unit_test(test_wildcards),
      cmocka_unit_test(test_exceptions),        cmocka_unit_test(test_descend),
      cmocka_unit_test(test_reading),           cmocka_unit_test(test_keep),
      cmocka_unit_test(test_invalid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
