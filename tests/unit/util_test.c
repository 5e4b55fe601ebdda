/* util: buffers, arenas, strings, paths, Python float repr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brr/util.h"

static void test_buf(void **state) {
  (void)state;
  brr_buf b = BRR_BUF_INIT;
  assert_string_equal(brr_buf_cstr(&b), "");
  brr_buf_puts(&b, "abc");
  brr_buf_printf(&b, "-%d-", 42);
  brr_buf_putc(&b, 'z');
  assert_string_equal(b.data, "abc-42-z");
  assert_int_equal(b.len, 8);
  for (int i = 0; i < 10000; i++) brr_buf_putc(&b, 'x');
  assert_int_equal(b.len, 10008);
  char *s = brr_buf_detach(&b);
  assert_null(b.data);
  free(s);
}

static void test_arena(void **state) {
  (void)state;
  brr_arena *a = brr_arena_new();
  char *p = NULL;
  for (int i = 0; i < 5000; i++) p = brr_arena_printf(a, "item-%d", i);
  assert_string_equal(p, "item-4999");
  char *big = brr_arena_alloc(a, 100000);
  assert_int_equal(big[99999], 0);
  assert_true(((uintptr_t)big & 15) == 0);
  int *arr = brr_arena_alloc(a, 4 * sizeof(int));
  arr[3] = 7;
  arr = brr_arena_grow(a, arr, 4 * sizeof(int), 8 * sizeof(int));
  assert_int_equal(arr[3], 7);
  brr_arena_free(a);
}

static void test_pyfloat(void **state) {
  (void)state;
  char buf[40];
  struct { double v; const char *want; } cases[] = {
      {2.0, "2.0"}, {0.1, "0.1"}, {1e16, "1e+16"}, {1.5e-5, "1.5e-05"}, {123456.789, "123456.789"},
      {-3.25, "-3.25"}, {1e15, "1000000000000000.0"}, {0.0001, "0.0001"}, {3.3, "3.3"},
      {1.0 / 3.0, "0.3333333333333333"}, {0.0, "0.0"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++)
    assert_string_equal(brr_fmt_pyfloat(cases[i].v, buf, sizeof buf), cases[i].want);
}

static void test_strings(void **state) {
  (void)state;
  assert_true(brr_startswith("platforms", "plat"));
  assert_true(brr_endswith("file.yaml", ".yaml"));
  assert_int_equal(brr_edit_distance("platfroms", "platforms", 5), 2);
  const char *keys[] = {"platform", "platforms", "path", "pull"};
  assert_string_equal(brr_suggest("platfroms", keys, 4), "platforms");
  assert_null(brr_suggest("zzzzzzzz", keys, 4));
  size_t n;
  char **parts = brr_split("a,b,,c", ',', &n);
  assert_int_equal(n, 4);
  assert_string_equal(parts[3], "c");
  assert_string_equal(parts[2], "");
  brr_strv_free(parts);
}

static void test_paths(void **state) {
  (void)state;
  char *p = brr_path_normalize("/a/./b//c/../d/");
  assert_string_equal(p, "/a/b/d");
  free(p);
  p = brr_path_normalize("../x/../../y");
  assert_string_equal(p, "../../y");
  free(p);
  assert_true(brr_path_is_under("/a/b", "/a"));
  assert_false(brr_path_is_under("/ab", "/a"));
  p = brr_path_join("/a/", "b");
  assert_string_equal(p, "/a/b");
  free(p);
  p = brr_path_dirname("/a/b/c");
  assert_string_equal(p, "/a/b");
  free(p);
  assert_string_equal(brr_path_basename("/a/b/c.txt"), "c.txt");
}

static void test_uuid4(void **state) {
  (void)state;
  char *a = brr_uuid4(), *b = brr_uuid4();
  assert_int_equal(strlen(a), 36);
  assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
  assert_int_equal(a[14], '4');
  assert_non_null(strchr("89ab", a[19]));
  assert_string_not_equal(a, b);
  free(a);
  free(b);
}

/* Owners: this process is alive, a child that exited is gone, the same pid with another start
 * time is gone (a reused pid), another host or a malformed string is left alone. */
static void test_owner(void **state) {
  (void)state;
  char *me = brr_owner_self();
  char *host = NULL;
  long pid = 0;
  unsigned long long start = 0;
  assert_int_equal(brr_owner_parse(me, &host, &pid, &start), 0);
  assert_int_equal(pid, (long)getpid());
  assert_true(start > 0);
  assert_int_equal(brr_owner_check(me), BRR_OWNER_ALIVE);

  char *reused = brr_xasprintf("%s:%ld:%llu", host, pid, start + 1);
  assert_int_equal(brr_owner_check(reused), BRR_OWNER_GONE);
  pid_t child = fork();
  if (child == 0) _exit(0);
  assert_true(child > 0);
  assert_int_equal(waitpid(child, NULL, 0), child);
  char *dead = brr_xasprintf("%s:%ld:%llu", host, (long)child, start);
  assert_int_equal(brr_owner_check(dead), BRR_OWNER_GONE);
  char *elsewhere = brr_xasprintf("not-%s.example:%ld:%llu", host, (long)child, start);
  assert_int_equal(brr_owner_check(elsewhere), BRR_OWNER_UNKNOWN);
  assert_int_equal(brr_owner_check("garbage"), BRR_OWNER_UNKNOWN);
  assert_int_equal(brr_owner_check("h:12x:3"), BRR_OWNER_UNKNOWN);
  assert_int_equal(brr_owner_check(NULL), BRR_OWNER_UNKNOWN);
  char *h2 = NULL;
  assert_int_equal(brr_owner_parse("a:b:1:2", &h2, &pid, &start), 0);
  assert_string_equal(h2, "a:b");
  assert_int_equal(pid, 1);
  assert_int_equal(start, 2);
  free(h2);
  free(me), free(host), free(reused), free(dead), free(elsewhere);
}

static void collect_line(void *ud, const char *line, size_t len) {
  brr_buf *b = ud;
  assert_int_equal(strlen(line), len);   /* NUL-terminated, no end of line inside */
  brr_buf_append(b, line, len);
  brr_buf_putc(b, '|');
}

/* the one line splitter: every end of line, across feeds, and the cut of a runaway line */
static void test_linesplit(void **state) {
  (void)state;
  brr_buf got = BRR_BUF_INIT;
  brr_linesplit s;
  brr_linesplit_init(&s, 0);
  assert_int_equal(brr_linesplit_feed(&s, "a\nb\r", 4, collect_line, &got), 2);
  assert_int_equal(brr_linesplit_feed(&s, "\nc\r\rd\n\ne", 8, collect_line, &got), 4);
  assert_true(brr_linesplit_flush(&s, collect_line, &got));
  assert_false(brr_linesplit_flush(&s, collect_line, &got));
  assert_string_equal(got.data, "a|b|c||d||e|");
  brr_linesplit_free(&s);
  /* max 4: a runaway "abcdef" is cut after "abcd"; "xyz\xc3\xa9" is cut before the two-byte
   * sequence, not inside it */
  brr_buf_reset(&got);
  brr_linesplit_init(&s, 4);
  assert_int_equal(brr_linesplit_feed(&s, "abcdef", 6, collect_line, &got), 1);
  assert_int_equal(brr_linesplit_feed(&s, "\n", 1, collect_line, &got), 1);
  assert_int_equal(brr_linesplit_feed(&s, "xyz\xc3\xa9", 5, collect_line, &got), 1);
  assert_int_equal(brr_linesplit_feed(&s, "\n", 1, collect_line, &got), 1);
  assert_string_equal(got.data, "abcd|ef|xyz|\xc3\xa9|");
  brr_linesplit_free(&s);
  brr_buf_free(&got);
}

/* the one digest helper: known answers (FIPS 180 "abc"), streaming equals one call */
static void test_digest(void **state) {
  (void)state;
  char hex[BRR_DIGEST_HEX_MAX];
  assert_int_equal(brr_digest_hex("sha1", "abc", 3, hex), 40);
  assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert_int_equal(brr_digest_hex("sha256", "abc", 3, hex), 64);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  brr_digest *d = brr_digest_new("sha256");
  assert_non_null(d);
  brr_digest_update(d, "a", 1);
  brr_digest_update(d, "", 0);
  brr_digest_update(d, "bc", 2);
  char streamed[BRR_DIGEST_HEX_MAX];
  assert_int_equal(brr_digest_final_hex(d, streamed), 64);
  brr_digest_free(d);
  assert_string_equal(streamed, hex);
  assert_null(brr_digest_new("no-such-digest"));
  assert_int_equal(brr_digest_hex("no-such-digest", "abc", 3, hex), 0);
  assert_string_equal(hex, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf),     cmocka_unit_test(test_digest), cmocka_unit_test(test_linesplit),     cmocka_unit_test(test_arena), cmocka_unit_test(test_pyfloat),
      cmocka_unit_test(test_strings), cmocka_unit_test(test_paths),
      cmocka_unit_test(test_uuid4),   cmocka_unit_test(test_owner),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
