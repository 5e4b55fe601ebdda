/* brr_host_fs: the real file system behind brr_fs_ops, for the CLI to hand to pure modules. */
#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "brr/util.h"

static int host_read_file(void *ud, const char *path, brr_buf *out) {
  (void)ud;
  return brr_read_file(path, out);
}

static bool host_is_dir(void *ud, const char *path) {
  (void)ud;
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *host_glob_first(void *ud, const char *pattern) {
  (void)ud;
  glob_t gl;
  char *r = NULL;
  if (glob(pattern, 0, NULL, &gl) == 0 && gl.gl_pathc > 0) r = brr_xstrdup(gl.gl_pathv[0]);
  globfree(&gl);
  return r;
}

const brr_fs_ops brr_host_fs = {host_read_file, host_is_dir, host_glob_first, NULL};
