/* brr_strerror: one message for brr's own codes, negative errno values and libuv's codes. */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "brr/util.h"

static const char *const brr_messages[] = {
    [-(BRR_EINVAL - BRR_ERRNO_BASE)] = "invalid input",
    [-(BRR_ENOENT - BRR_ERRNO_BASE)] = "no such file or object",
    [-(BRR_EIO - BRR_ERRNO_BASE)] = "input/output error",
    [-(BRR_ECANCELED - BRR_ERRNO_BASE)] = "cancelled",
    [-(BRR_EFAILED - BRR_ERRNO_BASE)] = "the operation failed",
    [-(BRR_ECONFIG - BRR_ERRNO_BASE)] = "configuration error",
    [-(BRR_ETIMEOUT - BRR_ERRNO_BASE)] = "timed out",
};

static _Thread_local char unknown[48];

static const char *unknown_code(int code) {
  snprintf(unknown, sizeof unknown, "unknown error %d", code);
  return unknown;
}

/* Whether libuv has a name of its own for `code` (asked without its allocating fallback). */
static bool uv_knows(int code) {
  char name[64];
  uv_err_name_r(code, name, sizeof name);
  return strncmp(name, "Unknown system error", 20) != 0;
}

/* Whether the C library has a message for errno value `e`. */
static const char *errno_message(int e) {
  const char *m = strerror(e);
  return m && strncmp(m, "Unknown error", 13) != 0 ? m : NULL;
}

const char *brr_strerror(int code) {
  if (code == 0) return "success";
  if (code <= BRR_ERRNO_BASE - 1 && code >= BRR_ELAST) return brr_messages[-(code - BRR_ERRNO_BASE)];
  if (code > 0) {
    const char *m = errno_message(code);
    return m ? m : unknown_code(code);
  }
  if (code >= UV_EOF) {
    const char *m = errno_message(-code);
    if (m) return m;
    if (uv_knows(code)) return uv_strerror(code);
  }
  return unknown_code(code);
}
