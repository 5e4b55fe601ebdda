/* Shared by the renderer tests: an anonymous file to render into, and what was written to it. */
#ifndef BRR_TESTS_UI_SUPPORT_H
#define BRR_TESTS_UI_SUPPORT_H

#include <stdlib.h>
#include <unistd.h>

#include "brr/util.h"

/* An unlinked temporary file (the renderer's output). */
static inline int tmpfd(void) {
  char p[] = "/tmp/brr-ui-XXXXXX";
  int fd = mkstemp(p);
  assert_true(fd >= 0);
  unlink(p);
  return fd;
}

/* Everything written to fd so far; the offset is left at the end, for more output. */
static inline char *slurp(int fd) {
  brr_buf b = BRR_BUF_INIT;
  char tmp[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, tmp, sizeof tmp)) > 0) brr_buf_append(&b, tmp, (size_t)n);
  return brr_buf_detach(&b);
}

#endif
