/* The /source tar: the build directory as every run step sees it (spec §9.1). */
#include "brr/tasks_files.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tasks_internal.h"

bool brr_buildignore_match(const char *pattern, const char *relpath) {
  /* Python's fnmatch: no FNM_PATHNAME (so `*` crosses `/`), no FNM_PERIOD, and a backslash is
   * an ordinary character. glibc differs only in `[^...]` (negation there, a literal `^` in
   * Python) and `[[:class:]]`, which Python does not know; docs/tasks.md says so. */
  return fnmatch(pattern, relpath, FNM_NOESCAPE) == 0;
}

typedef struct source_filter {
  const char *build_dir;
  const char *results_base;
  char **patterns;
  size_t n;
  struct stat out;  /* the tar being written, which may lie inside the build dir */
  char *bad_link;   /* the first link the engine would refuse: "rel -> target" */
  bool whiteout;    /* a name an image layer would read as a deletion (".wh.*") */
} source_filter;

/* The tar is unpacked at /source, and the engine refuses (HTTP 500, "invalid symlink") a
 * relative link whose target, joined to the link's directory, is not under /source. The same
 * test (Go's filepath.Join, then a prefix check), so brr can say which link before that. */
bool brr_source_link_escapes(const char *rel, const char *target) {
  if (target[0] == '/') return false;  /* joined below /source: the engine takes it */
  char *dir = brr_path_dirname(rel);
  char *joined = brr_xasprintf("/source/%s/%s", strcmp(dir, ".") ? dir : "", target);
  char *norm = brr_path_normalize(joined);
  bool escapes = !brr_startswith(norm, "/source");
  free(norm);
  free(joined);
  free(dir);
  return escapes;
}

static void check_link(source_filter *f, const char *rel) {
  if (f->bad_link) return;
  char *disk = brr_path_join(f->build_dir, rel);
  char target[4096];
  ssize_t n = readlink(disk, target, sizeof target - 1);
  free(disk);
  if (n < 0) return;  /* gone meanwhile: the walk skips it */
  target[n] = '\0';
  if (brr_source_link_escapes(rel, target)) f->bad_link = brr_xasprintf("%s -> %s", rel, target);
}

static brr_tar_verdict source_verdict(void *ctx, const char *rel, const struct stat *st) {
  source_filter *f = ctx;
  if (S_ISREG(st->st_mode) && st->st_dev == f->out.st_dev && st->st_ino == f->out.st_ino)
    return BRR_TAR_SKIP;
  /* buildrunner compares every member name with the bare basename, so only a top-level entry
   * can be the results directory, wherever -b points */
  if (f->results_base && !strcmp(rel, f->results_base)) return BRR_TAR_SKIP;
  for (size_t i = 0; i < f->n; i++)
    if (brr_buildignore_match(f->patterns[i], rel)) return BRR_TAR_SKIP;
  if (S_ISLNK(st->st_mode)) check_link(f, rel);
  if (brr_startswith(brr_path_basename(rel), ".wh.")) f->whiteout = true;
  return BRR_TAR_TAKE;
}

/* Lines of .buildignore that buildrunner uses: a line counts when it is not blank, and is
 * then matched as written (surrounding spaces included). */
static int read_buildignore(const char *build_dir, source_filter *f, brr_diags *d) {
  char *path = brr_path_join(build_dir, ".buildignore");
  brr_buf text = BRR_BUF_INIT;
  int r = brr_read_file(path, &text);
  int rc = 0;
  if (r < 0 && r != -ENOENT) {
    rc = brr_tar_errno(d, -r, "reading %s", path);
  }
  size_t cap = 0;
  const char *p = brr_buf_cstr(&text), *end = p + text.len;
  while (rc == 0 && p < end) {
    size_t len = strcspn(p, "\r\n");
    const char *nl = p + len;
    bool blank = true;
    for (const char *c = p; c < nl; c++)
      if (*c != ' ' && *c != '\t' && *c != '\f' && *c != '\v') blank = false;
    if (!blank) BRR_VEC_PUSH(f->patterns, f->n, cap, brr_xstrndup(p, len));
    p = nl;
    if (p < end && *p == '\r') p++;
    if (p < end && *p == '\n') p++;
  }
  brr_buf_free(&text);
  free(path);
  return rc;
}

int brr_source_tar_create(const char *build_dir, const char *results_dir, const char *out_path,
                          brr_diags *d) {
  return brr_source_tar_write(build_dir, results_dir, out_path, NULL, NULL, d);
}

int brr_source_tar_write(const char *build_dir, const char *results_dir, const char *out_path,
                         const char *root, bool *whiteouts, brr_diags *d) {
  source_filter f = {build_dir, NULL, NULL, 0, {0}, NULL, false};
  char *results = results_dir ? brr_path_normalize(results_dir) : NULL;
  if (results && strcmp(results, "/") != 0) f.results_base = brr_path_basename(results);
  int rc = read_buildignore(build_dir, &f, d);
  brr_tar_out o;
  if (rc == 0) rc = brr_tar_out_open_file(&o, out_path, d);
  if (rc == 0) {
    stat(out_path, &f.out);
    rc = brr_tar_add_tree(&o, build_dir, root ? root : ".", true, source_verdict, &f);
    if (rc == 0 && f.bad_link) {
      brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL,
                                   "the build directory holds a symbolic link that points outside "
                                   "it: %s/%s; Docker refuses to copy it into /source (point it "
                                   "inside the build directory, or list it in .buildignore)",
                                   build_dir, f.bad_link);
      g->exit_code = BRR_EXIT_FAILED;
      rc = BRR_EINVAL;
    }
    if (rc == 0) rc = brr_tar_out_close(&o);
    else brr_tar_out_abort(&o);
    if (rc != 0) unlink(out_path);
  }
  if (whiteouts) *whiteouts = rc == 0 && f.whiteout;
  for (size_t i = 0; i < f.n; i++) free(f.patterns[i]);
  free(f.patterns);
  free(f.bad_link);
  free(results);
  return rc;
}
