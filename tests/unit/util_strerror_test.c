/* brr_strerror and the one error space: brr's own codes never equal an errno or libuv code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include <uv.h>

#include "brr/util.h"

static const int brr_codes[] = {BRR_EINVAL, BRR_ENOENT, BRR_EIO, BRR_ECANCELED,
                                BRR_EFAILED, BRR_ECONFIG, BRR_ETIMEOUT};

#define UV_CODE(name, _) UV_##name,
static const int uv_codes[] = {UV_ERRNO_MAP(UV_CODE)};
#undef UV_CODE

static void test_brr_codes_apart(void **state) {
  (void)state;
  for (size_t i = 0; i < BRR_ARRAY_LEN(brr_codes); i++) {
    int c = brr_codes[i];
    assert_true(c < 0);
    assert_true(c <= BRR_ERRNO_BASE - 1 && c >= BRR_ELAST);
    for (int e = 1; e <= 133; e++) assert_int_not_equal(c, -e);
    for (size_t k = 0; k < BRR_ARRAY_LEN(uv_codes); k++) assert_int_not_equal(c, uv_codes[k]);
    for (size_t k = 0; k < i; k++) assert_int_not_equal(c, brr_codes[k]);
  }
  /* libuv's lowest is UV_EOF: brr's sit far below it */
  for (size_t k = 0; k < BRR_ARRAY_LEN(uv_codes); k++) assert_true(uv_codes[k] >= UV_EOF);
  assert_true(BRR_ERRNO_BASE < UV_EOF - 10000);
}

static void test_brr_messages(void **state) {
  (void)state;
  assert_string_equal(brr_strerror(0), "success");
  assert_string_equal(brr_strerror(BRR_EINVAL), "invalid input");
  assert_string_equal(brr_strerror(BRR_ENOENT), "no such file or object");
  assert_string_equal(brr_strerror(BRR_EIO), "input/output error");
  assert_string_equal(brr_strerror(BRR_ECANCELED), "cancelled");
  assert_string_equal(brr_strerror(BRR_EFAILED), "the operation failed");
  assert_string_equal(brr_strerror(BRR_ECONFIG), "configuration error");
  assert_string_equal(brr_strerror(BRR_ETIMEOUT), "timed out");
}

static void test_errno_passes_through(void **state) {
  (void)state;
  /* a negative errno is named as the C library names it; -1 is EPERM, not brr's EINVAL */
  int errs[] = {EPERM, ENOENT, EIO, EINTR, EACCES, EEXIST, ENOSPC, EPIPE, ECANCELED, EDQUOT, EHWPOISON};
  for (size_t i = 0; i < BRR_ARRAY_LEN(errs); i++) {
    char want[256];
    snprintf(want, sizeof want, "%s", strerror(errs[i]));
    assert_string_equal(brr_strerror(-errs[i]), want);
    assert_string_equal(brr_strerror(errs[i]), want);  /* a positive errno too */
  }
  assert_string_not_equal(brr_strerror(-1), brr_strerror(BRR_EINVAL));
  assert_string_not_equal(brr_strerror(-2), brr_strerror(BRR_ENOENT));
}

static void test_uv_codes(void **state) {
  (void)state;
  /* every libuv code has a real message (never "unknown"), libuv's own where it is not errno */
  for (size_t k = 0; k < BRR_ARRAY_LEN(uv_codes); k++) {
    int c = uv_codes[k];
    const char *m = brr_strerror(c);
    assert_non_null(m);
    assert_int_not_equal(strncmp(m, "unknown error -", 15), 0);  /* not brr's fallback */
    char sys[256];
    snprintf(sys, sizeof sys, "%s", strerror(-c));
    assert_true(strcmp(m, sys) == 0 || strcmp(m, uv_strerror(c)) == 0);
  }
  assert_string_equal(brr_strerror(UV_EOF), uv_strerror(UV_EOF));
  assert_string_equal(brr_strerror(UV_EOF), "end of file");
  assert_string_equal(brr_strerror(UV_EAI_NONAME), uv_strerror(UV_EAI_NONAME));
  assert_string_equal(brr_strerror(UV_ECHARSET), uv_strerror(UV_ECHARSET));
}

static void test_unknown(void **state) {
  (void)state;
  assert_string_equal(brr_strerror(-29000), "unknown error -29000");
  assert_string_equal(brr_strerror(BRR_ELAST - 1), "unknown error -30008");
  assert_string_equal(brr_strerror(-4000), "unknown error -4000");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_brr_codes_apart),
      cmocka_unit_test(test_brr_messages),
      cmocka_unit_test(test_errno_passes_through),
      cmocka_unit_test(test_uv_codes),
      cmocka_unit_test(test_unknown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
