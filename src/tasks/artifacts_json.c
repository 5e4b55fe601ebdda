/* artifacts.json: written at the end of every build, merged with the file a previous run
 * left when --keep-step-artifacts kept it (spec §9.8). */
#include "brr/tasks_files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks_internal.h"

/* The entries of an existing artifacts.json, or NULL (diagnostic) when it cannot be used. */
static brr_value *load_existing(brr_arena *a, const char *path, const char *text, size_t len,
                                brr_diags *d) {
  brr_value *v = brr_val_from_json(a, text, len, path, NULL);
  if (!v || v->type != BRR_VAL_MAP) {
    brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL,
                                 "cannot merge artifacts into %s: it is not a JSON object", path);
    g->exit_code = BRR_EXIT_FAILED;
    return NULL;
  }
  return v;
}

int brr_artifacts_json_write(const char *path, const brr_value *artifacts, brr_diags *d) {
  if (!artifacts || artifacts->type != BRR_VAL_MAP || artifacts->u.map.n == 0) return 0;
  brr_arena *a = brr_arena_new();
  brr_buf old = BRR_BUF_INIT, out = BRR_BUF_INIT;
  const brr_value *merged = artifacts;
  int rc = 0;
  int r = brr_read_file(path, &old);
  if (r == 0) {
    brr_value *m = load_existing(a, path, brr_buf_cstr(&old), old.len, d);
    if (!m) {
      rc = BRR_EINVAL;
    } else {
      for (size_t i = 0; i < artifacts->u.map.n; i++)
        brr_val_map_set(a, m, artifacts->u.map.v[i].key, artifacts->u.map.v[i].val, NULL);
      merged = m;
    }
  } else if (r != -ENOENT) {
    rc = brr_tar_errno(d, -r, "reading %s", path);
  }
  char *tmp = NULL;
  if (rc == 0) {
    brr_val_to_json(merged, 2, &out);
    char *dir = brr_path_dirname(path);
    int fd = brr_tar_open_temp(dir, "artifacts.json", &tmp);
    free(dir);
    if (fd < 0) {
      rc = brr_tar_errno(d, -fd, "writing %s", path);
    } else {
      close(fd);
      r = brr_write_file(tmp, out.data, out.len);
      if (r == 0 && rename(tmp, path) != 0) r = -errno;
      if (r) {
        rc = brr_tar_errno(d, -r, "writing %s", path);
        unlink(tmp);
      }
    }
  }
  free(tmp);
  brr_buf_free(&old);
  brr_buf_free(&out);
  brr_arena_free(a);
  return rc;
}
