/* The open-file limit: the soft limit is raised to the hard one, and the job count follows
 * from what is left after brr's own descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/resource.h>

#include "brr/util.h"

static void test_jobs(void **state) {
  (void)state;
  assert_int_equal(brr_fd_limit_jobs(16), 1);   /* never below one */
  assert_int_equal(brr_fd_limit_jobs(BRR_FD_RESERVE + BRR_FD_PER_JOB - 1), 1);
  assert_int_equal(brr_fd_limit_jobs(64), (64 - BRR_FD_RESERVE) / BRR_FD_PER_JOB);
  assert_int_equal(brr_fd_limit_jobs(1024), (1024 - BRR_FD_RESERVE) / BRR_FD_PER_JOB);
  assert_true(brr_fd_limit_jobs(-1) > 1000000);   /* unknown: no cap */
}

static void test_raise(void **state) {
  (void)state;
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 64) fail_msg("hard limit too low to test");
  struct rlimit low = {64, rl.rlim_max};
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  long got = brr_fd_limit_raise();
  struct rlimit now;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
  if (rl.rlim_max == RLIM_INFINITY) {
    assert_int_equal(now.rlim_cur, (rlim_t)1 << 20);
  } else {
    assert_int_equal(now.rlim_cur, rl.rlim_max);
  }
  assert_int_equal(got, (long)now.rlim_cur);
  /* with soft == hard there is nothing to raise */
  assert_int_equal(brr_fd_limit_raise(), got);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_jobs), cmocka_unit_test(test_raise)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
