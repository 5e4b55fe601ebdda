/* The open-file limit: raised to the hard limit at start, as many servers and build tools
 * do, and used to keep brr's own descriptor use (concurrent nodes) within it. */
#include <sys/resource.h>

#include "brr/util.h"

long brr_fd_limit_raise(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur != RLIM_INFINITY && (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur < rl.rlim_max)) {
    struct rlimit want = rl;
    /* an unlimited hard limit cannot be the soft one on Linux: take a large finite value */
    want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)1 << 30) return 1L << 30;
  return (long)rl.rlim_cur;
}

int brr_fd_limit_jobs(long limit) {
  if (limit < 0) return 1 << 30;   /* unknown: no cap */
  long jobs = (limit - BRR_FD_RESERVE) / BRR_FD_PER_JOB;
  if (jobs < 1) return 1;
  return jobs > (1 << 30) ? 1 << 30 : (int)jobs;
}
