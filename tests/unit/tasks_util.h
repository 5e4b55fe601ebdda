/* Helpers shared by the tasks_* unit tests: temporary trees on disk and reading tars back
 * with libarchive. Header-only; every function is static. */
#ifndef BRR_TESTS_TASKS_UTIL_H
#define BRR_TESTS_TASKS_UTIL_H

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brr/util.h"

/* A fresh directory under $TMPDIR (or /tmp), real path. */
static inline char *tu_mkdtemp(void) {
  const char *base = getenv("TMPDIR");
  char *tmpl = brr_xasprintf("%s/brr-test-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmpl)) abort();
  char *real = brr_path_realpath(tmpl);
  free(tmpl);
  return real;
}

/* Write `content` at root/rel (parents created) with `mode`. */
static inline void tu_write(const char *root, const char *rel, const char *content, mode_t mode) {
  char *p = brr_path_join(root, rel);
  char *dir = brr_path_dirname(p);
  if (brr_mkdir_p(dir, 0755) != 0) abort();
  if (brr_write_file(p, content, strlen(content)) != 0) abort();
  if (chmod(p, mode) != 0) abort();
  free(dir);
  free(p);
}

static inline void tu_mkdir(const char *root, const char *rel) {
  char *p = brr_path_join(root, rel);
  if (brr_mkdir_p(p, 0755) != 0) abort();
  free(p);
}

static inline void tu_symlink(const char *root, const char *rel, const char *target) {
  char *p = brr_path_join(root, rel);
  if (symlink(target, p) != 0) abort();
  free(p);
}

static inline void tu_set_mtime(const char *root, const char *rel, time_t t) {
  char *p = brr_path_join(root, rel);
  struct timeval tv[2] = {{t, 0}, {t, 0}};
  if (lutimes(p, tv) != 0) abort();
  free(p);
}

static inline char *tu_read(const char *path) {
  brr_buf b = BRR_BUF_INIT;
  if (brr_read_file(path, &b) != 0) {
    brr_buf_free(&b);
    return NULL;
  }
  return brr_buf_detach(&b);
}

static inline char *tu_read_rel(const char *root, const char *rel) {
  char *p = brr_path_join(root, rel);
  char *s = tu_read(p);
  free(p);
  return s;
}

static inline bool tu_exists(const char *root, const char *rel) {
  char *p = brr_path_join(root, rel);
  struct stat st;
  bool r = lstat(p, &st) == 0;
  free(p);
  return r;
}

/* One member of a tar read back. */
typedef struct tu_entry {
  char *name;
  unsigned type;      /* AE_IFREG, AE_IFDIR, AE_IFLNK */
  unsigned perm;
  long long uid;
  int64_t size;
  time_t mtime;
  char *symlink;      /* target or NULL */
  char *hardlink;     /* target or NULL */
  char *data;         /* contents (regular files) */
} tu_entry;

typedef struct tu_tar {
  tu_entry *v;
  size_t n, cap;
  int filter;         /* archive_filter_code of the outermost filter */
  int format;
} tu_tar;

static inline void tu_tar_free(tu_tar *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->v[i].name);
    free(t->v[i].symlink);
    free(t->v[i].hardlink);
    free(t->v[i].data);
  }
  free(t->v);
  memset(t, 0, sizeof *t);
}

/* Read every member of the archive at `path` (tar in any compression, or zip). */
static inline bool tu_tar_read(const char *path, tu_tar *t) {
  memset(t, 0, sizeof *t);
  struct archive *a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  if (archive_read_open_filename(a, path, 10240) != ARCHIVE_OK) {
    archive_read_free(a);
    return false;
  }
  struct archive_entry *e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    tu_entry x = {0};
    x.name = brr_xstrdup(archive_entry_pathname(e));
    x.type = archive_entry_filetype(e);
    x.perm = archive_entry_perm(e);
    x.uid = archive_entry_uid(e);
    x.size = archive_entry_size(e);
    x.mtime = archive_entry_mtime(e);
    if (archive_entry_symlink(e)) x.symlink = brr_xstrdup(archive_entry_symlink(e));
    if (archive_entry_hardlink(e)) x.hardlink = brr_xstrdup(archive_entry_hardlink(e));
    brr_buf b = BRR_BUF_INIT;
    char chunk[8192];
    la_ssize_t n;
    while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0) brr_buf_append(&b, chunk, (size_t)n);
    x.data = brr_buf_detach(&b);
    BRR_VEC_PUSH(t->v, t->n, t->cap, x);
  }
  t->filter = archive_filter_code(a, 0);
  t->format = archive_format(a);
  archive_read_free(a);
  return r == ARCHIVE_EOF;
}

static inline const tu_entry *tu_tar_find(const tu_tar *t, const char *name) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->v[i].name, name)) return &t->v[i];
  return NULL;
}

/* The member names joined by "|", for whole-listing comparisons. */
static inline char *tu_tar_names(const tu_tar *t) {
  brr_buf b = BRR_BUF_INIT;
  for (size_t i = 0; i < t->n; i++) {
    if (i) brr_buf_putc(&b, '|');
    brr_buf_puts(&b, t->v[i].name);
  }
  return brr_buf_detach(&b);
}

/* Fail with the first diagnostic's text when `expr` is not 0. */
#define tu_ok(expr, diags)                                                                  \
  do {                                                                                      \
    int tu_rc_ = (expr);                                                                    \
    if (tu_rc_ != 0)                                                                        \
      fail_msg("%s returned %d: %s", #expr, tu_rc_, (diags)->n ? (diags)->v[0].msg : "");   \
  } while (0)

/* Run `argv` and capture its stdout; returns the exit status (-1 when it could not run). */
static inline int tu_run(char *const argv[], const char *cwd, brr_buf *out) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    if (cwd && chdir(cwd) != 0) _exit(126);
    execvp(argv[0], argv);
    _exit(127);
  }
  close(pipefd[1]);
  char chunk[4096];
  ssize_t n;
  while ((n = read(pipefd[0], chunk, sizeof chunk)) > 0) {
    if (out) brr_buf_append(out, chunk, (size_t)n);
  }
  close(pipefd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline bool tu_have(const char *prog) {
  char *argv[] = {(char *)"sh", (char *)"-c", NULL, NULL};
  char *cmd = brr_xasprintf("command -v %s >/dev/null 2>&1", prog);
  argv[2] = cmd;
  int r = tu_run(argv, NULL, NULL);
  free(cmd);
  return r == 0;
}

#endif
