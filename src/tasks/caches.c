/* Caches: local tar archives restored into run containers before the commands and saved
 * after them (spec §9.3). Only the file side lives here; the run task moves the bytes with
 * the archive API. */
#include "brr/tasks_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tasks_internal.h"

#define DEFAULT_CACHES_ROOT "~/.buildrunner/caches"
#define HISTORY_LOG "cache_history.log"

/* ---- the plan ---- */

/* expanduser(join(root, name)), with its directory created. NULL when that fails. */
static char *archive_in(const char *root, const char *name) {
  char *j = brr_path_join(root, name);
  char *p = brr_path_expanduser(j);
  free(j);
  char *dir = brr_path_dirname(p);
  int r = brr_mkdir_p(dir, 0777);
  free(dir);
  if (r) {
    free(p);
    return NULL;
  }
  return p;
}

static int add_archive(brr_cache_plan *p, size_t *cap, const char *root, const char *name,
                       const char *docker_path, brr_mark mark, brr_diags *d) {
  char *archive = archive_in(root, name);
  if (!archive) {
    brr_diag_warn(d, mark, NULL, "cannot use the caches root %s; using %s", root,
                  DEFAULT_CACHES_ROOT);
    archive = archive_in(DEFAULT_CACHES_ROOT, name);
  }
  if (!archive) {
    brr_diag *g = brr_diag_error(d, mark, NULL, "cannot create the cache directory for %s", name);
    g->exit_code = BRR_EXIT_FAILED;
    return BRR_EIO;
  }
  /* buildrunner keys an OrderedDict by archive: a repeat keeps its place, last path wins */
  for (size_t i = 0; i < p->n; i++) {
    if (!strcmp(p->v[i].archive, archive)) {
      p->v[i].docker_path = docker_path;
      p->v[i].mark = mark;
      free(archive);
      return 0;
    }
  }
  brr_cache_entry e = {archive, docker_path, mark, false};
  BRR_VEC_PUSH(p->v, p->n, *cap, e);
  return 0;
}

int brr_cache_plan_make(const brr_kvlist *caches, const char *root, const char *project,
                        brr_cache_plan *out, brr_diags *d) {
  memset(out, 0, sizeof *out);
  size_t cap = 0;
  int rc = 0;
  if (!root || !*root) root = DEFAULT_CACHES_ROOT;
  for (size_t i = 0; rc == 0 && caches && i < caches->n; i++) {
    const brr_kv *kv = &caches->v[i];
    const brr_value *v = kv->val;
    if (v && v->type == BRR_VAL_STR) {
      char *name = project && *project ? brr_xasprintf("%s-%s.tar", project, kv->key.s)
                                       : brr_xasprintf("%s.tar", kv->key.s);
      rc = add_archive(out, &cap, root, name, v->u.s.ptr, kv->key.mark, d);
      free(name);
    } else if (v && v->type == BRR_VAL_LIST) {
      for (size_t k = 0; rc == 0 && k < v->u.list.n; k++) {
        brr_buf b = BRR_BUF_INIT;
        brr_val_pystr(v->u.list.v[k], &b);
        brr_buf_puts(&b, ".tar");
        rc = add_archive(out, &cap, root, b.data, kv->key.s, v->u.list.v[k]->mark, d);
        brr_buf_free(&b);
      }
    } else {
      brr_diag_warn(d, v ? v->mark : kv->key.mark, NULL,
                    "cache %s: %s is not supported (a path or a list of names); not cached",
                    kv->key.s, v ? brr_val_type_desc(v) : "null");
    }
  }
  /* only the first archive of each docker path is saved */
  for (size_t i = 0; i < out->n; i++) {
    out->v[i].save = true;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(out->v[j].docker_path, out->v[i].docker_path)) out->v[i].save = false;
  }
  if (rc) brr_cache_plan_free(out);
  return rc;
}

void brr_cache_plan_free(brr_cache_plan *p) {
  for (size_t i = 0; i < p->n; i++) free(p->v[i].archive);
  free(p->v);
  memset(p, 0, sizeof *p);
}

/* ---- restore ---- */

/* A regular non-empty file: an empty one is what a failed save's lock leaves. */
static bool usable(const char *path, struct stat *st) {
  return stat(path, st) == 0 && S_ISREG(st->st_mode) && st->st_size > 0;
}

static bool newer(const struct stat *a, const struct stat *b) {
  if (a->st_mtim.tv_sec != b->st_mtim.tv_sec) return a->st_mtim.tv_sec > b->st_mtim.tv_sec;
  return a->st_mtim.tv_nsec > b->st_mtim.tv_nsec;
}

char *brr_cache_restore_pick(const char *archive) {
  struct stat st;
  if (usable(archive, &st)) return brr_xstrdup(archive);
  char *dir = brr_path_dirname(archive);
  /* Path(archive).stem: the name without its last suffix */
  const char *base = brr_path_basename(archive);
  const char *dot = strrchr(base, '.');
  size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  DIR *dh = opendir(dir);
  char *best = NULL;
  struct stat best_st = {0};
  struct dirent *e;
  while (dh && (e = readdir(dh))) {
    /* the history log and brr's temporary files are never caches */
    if (strncmp(e->d_name, base, stem) != 0 || !strcmp(e->d_name, HISTORY_LOG) ||
        brr_startswith(e->d_name, ".brr-cache"))
      continue;
    char *p = brr_path_join(dir, e->d_name);
    if (usable(p, &st) && (!best || newer(&st, &best_st))) {
      free(best);
      best = p;
      best_st = st;
    } else {
      free(p);
    }
  }
  if (dh) closedir(dh);
  free(dir);
  return best;
}

int brr_cache_restore_list(const brr_cache_plan *p, brr_cache_restore **out, size_t *n) {
  *out = NULL;
  *n = 0;
  size_t cap = 0;
  for (size_t i = 0; i < p->n; i++) {
    bool served = false;
    for (size_t j = 0; j < *n; j++)
      if (!strcmp((*out)[j].docker_path, p->v[i].docker_path)) served = true;
    if (served) continue;
    char *file = brr_cache_restore_pick(p->v[i].archive);
    if (!file) continue;
    brr_cache_restore r = {file, p->v[i].docker_path};
    BRR_VEC_PUSH(*out, *n, cap, r);
  }
  return 0;
}

void brr_cache_restore_free(brr_cache_restore *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].file);
  free(v);
}

/* ---- locks ---- */

int brr_cache_lock_try(const char *path, bool exclusive, brr_cache_lock *out) {
  out->fd = -1;
  /* A save renames a new file over the archive, so a lock taken on the old inode guards
   * nothing: after locking, check the path still names the locked file, else start over. */
  for (int attempt = 0; attempt < 100; attempt++) {
    int fd = exclusive ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)
                       : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? BRR_ENOENT : BRR_EIO;
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      int e = errno;
      close(fd);
      return e == EWOULDBLOCK ? 1 : BRR_EIO;
    }
    struct stat held, now;
    if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev &&
        held.st_ino == now.st_ino) {
      out->fd = fd;
      return 0;
    }
    close(fd);
  }
  return BRR_EIO;
}

unsigned brr_cache_lock_backoff_ms(unsigned attempt) {
  return attempt >= 6 ? 2000u : 50u << attempt;
}

void brr_cache_lock_release(brr_cache_lock *l) {
  if (l->fd >= 0) close(l->fd);  /* closing the only descriptor drops the flock */
  l->fd = -1;
}

/* ---- save ---- */

struct brr_cache_writer {
  char *archive;
  char *tmp;
  int fd;
  int err;
};

int brr_cache_writer_open(const char *archive, brr_cache_writer **out, brr_diags *d) {
  *out = NULL;
  char *dir = brr_path_dirname(archive);
  char *tmp = NULL;
  int fd = brr_tar_open_temp(dir, "brr-cache", &tmp);
  free(dir);
  if (fd < 0) return brr_tar_errno(d, -fd, "creating a temporary file beside %s", archive);
  brr_cache_writer *w = brr_xcalloc(1, sizeof *w);
  w->archive = brr_xstrdup(archive);
  w->tmp = tmp;
  w->fd = fd;
  *out = w;
  return 0;
}

int brr_cache_writer_write(brr_cache_writer *w, const void *data, size_t len) {
  const char *p = data;
  while (!w->err && len > 0) {
    ssize_t n = write(w->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) w->err = errno;
    else p += n, len -= (size_t)n;
  }
  return w->err ? BRR_EIO : 0;
}

static void writer_free(brr_cache_writer *w, bool remove_tmp) {
  if (w->fd >= 0) close(w->fd);
  if (remove_tmp) unlink(w->tmp);
  free(w->tmp);
  free(w->archive);
  free(w);
}

/* Read every member header and byte: a truncated or garbled stream fails here. */
static int check_tar(const char *path, brr_diags *d) {
  struct archive *a = brr_tar_read_open(path, d);
  if (!a) return BRR_EIO;
  struct archive_entry *e;
  int r, rc = 0;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    if (archive_read_data_skip(a) != ARCHIVE_OK) break;
  }
  if (r != ARCHIVE_EOF) rc = brr_tar_aerr(d, a, path);
  archive_read_free(a);
  return rc;
}

int brr_cache_writer_commit(brr_cache_writer *w, brr_diags *d) {
  int rc = 0;
  if (w->err) rc = brr_tar_errno(d, w->err, "writing cache %s", w->archive);
  if (rc == 0 && (fsync(w->fd) != 0 || close(w->fd) != 0))
    rc = brr_tar_errno(d, errno, "writing cache %s", w->archive);
  w->fd = -1;
  if (rc == 0) rc = check_tar(w->tmp, d);
  if (rc == 0 && rename(w->tmp, w->archive) != 0)
    rc = brr_tar_errno(d, errno, "replacing cache %s", w->archive);
  if (rc) {
    brr_cache_writer_abort(w);
    return rc;
  }
  writer_free(w, false);
  return 0;
}

void brr_cache_writer_abort(brr_cache_writer *w) {
  if (!w) return;
  /* The caller still holds the exclusive lock, so an empty archive is the one the lock
   * created just now: nobody else can be writing it. */
  struct stat st;
  if (stat(w->archive, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) unlink(w->archive);
  writer_free(w, true);
}

/* ---- history and cleaning ---- */

int brr_cache_history_append(const char *archive, const brr_cache_history *h, brr_diags *d) {
  char *dir = brr_path_dirname(archive);
  char *log = brr_path_join(dir, HISTORY_LOG);
  free(dir);
  char stamp[32] = "";
  time_t t = (time_t)h->time;
  struct tm tm;
  if (localtime_r(&t, &tm)) strftime(stamp, sizeof stamp, "%m/%d/%Y %H:%M:%S", &tm);
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
#define NONE(s) ((s) ? (s) : "None")
  char *line = brr_xasprintf("%s - The cache file \"%s\" was written by step \"%s\" in "
                             "\"%s:%s:%s\" on host \"%s\" [%s] \n",
                             stamp, archive, NONE(h->step), NONE(h->vcs_name), NONE(h->vcs_branch),
                             NONE(h->vcs_short_id), host, NONE(h->arch));
#undef NONE
  int rc = 0;
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  /* writers hold this lock for one write, so waiting for it is short */
  if (fd < 0 || flock(fd, LOCK_EX) != 0) {
    rc = brr_tar_errno(d, errno, "appending to %s", log);
  } else {
    size_t len = strlen(line);
    ssize_t n = write(fd, line, len);
    if (n != (ssize_t)len) rc = brr_tar_errno(d, n < 0 ? errno : EIO, "appending to %s", log);
  }
  if (fd >= 0) close(fd);
  free(line);
  free(log);
  return rc;
}

int brr_cache_clean(const char *root) {
  char *p = brr_path_expanduser(root && *root ? root : DEFAULT_CACHES_ROOT);
  int r = brr_rm_rf(p);
  free(p);
  return r;
}
