/* The content-addressed artifact store of incremental runs (docs/incremental.md): objects
 * named by their SHA-256, recorded in an index with their size and last use, evicted least
 * recently used first when the recorded total passes the limit. Every change of the index
 * happens under an flock on <dir>/lock, so runs at once share the store. */
#include "brr/incr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "incr_internal.h"

#define INDEX_HEADER "brr store v1\n"

typedef struct store_obj {
  char hex[BRR_INCR_HEX];
  uint64_t size;
  int64_t used_ms;   /* last put or get */
  bool pinned;       /* put or got by this session: not evicted by it */
} store_obj;

struct brr_store {
  char *dir;
  uint64_t limit;
  int lock_fd;
  store_obj *v;      /* the index as last read (under the lock) */
  size_t n, cap;
  char **pins;       /* what this session used, kept across index reloads */
  size_t n_pins, cap_pins;
  int64_t clock_ms;  /* strictly increasing "now", so uses within one millisecond still order */
};

static int store_err(brr_diags *d, int err, const char *what, const char *path) {
  if (d) {
    brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL, "artifact store: %s %s: %s", what,
                                 path, brr_strerror(err));
    g->exit_code = BRR_EXIT_FAILED;
  }
  return err;
}

char *brr_store_default_dir(void) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return brr_xasprintf("%s/brr/store", xdg);
  return brr_path_expanduser("~/.cache/brr/store");
}

static char *obj_path(const brr_store *s, const char *hex) {
  return brr_xasprintf("%s/objects/%.2s/%s", s->dir, hex, hex + 2);
}

static int64_t tick(brr_store *s) {
  int64_t now = brr_wall_ms();
  if (now <= s->clock_ms) now = s->clock_ms + 1;
  s->clock_ms = now;
  return now;
}

static bool pinned(const brr_store *s, const char *hex) {
  for (size_t i = 0; i < s->n_pins; i++)
    if (!strcmp(s->pins[i], hex)) return true;
  return false;
}

static void pin(brr_store *s, const char *hex) {
  if (pinned(s, hex)) return;
  char *p = brr_xstrdup(hex);
  BRR_VEC_PUSH(s->pins, s->n_pins, s->cap_pins, p);
}

static int lock(brr_store *s) {
  while (flock(s->lock_fd, LOCK_EX) < 0)
    if (errno != EINTR) return -errno;
  return 0;
}

static void unlock(brr_store *s) { flock(s->lock_fd, LOCK_UN); }

static store_obj *find(brr_store *s, const char *hex) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->v[i].hex, hex)) return &s->v[i];
  return NULL;
}

/* Read the index (under the lock). A missing or foreign file is an empty index. */
static void index_load(brr_store *s) {
  s->n = 0;
  char *path = brr_xasprintf("%s/index", s->dir);
  brr_buf text = BRR_BUF_INIT;
  int r = brr_read_file(path, &text);
  free(path);
  const char *p = brr_buf_cstr(&text);
  if (r == 0 && brr_startswith(p, INDEX_HEADER)) {
    p += strlen(INDEX_HEADER);
    while (*p) {
      store_obj o = {0};
      unsigned long long size;
      long long used;
      if (sscanf(p, "%64[0-9a-f] %llu %lld", o.hex, &size, &used) == 3 && strlen(o.hex) == 64) {
        o.size = size;
        o.used_ms = used;
        if (used > s->clock_ms) s->clock_ms = used;
        BRR_VEC_PUSH(s->v, s->n, s->cap, o);
      }
      p += strcspn(p, "\n");
      if (*p) p++;
    }
  }
  brr_buf_free(&text);
  for (size_t i = 0; i < s->n; i++) s->v[i].pinned = pinned(s, s->v[i].hex);
}

static int index_save(brr_store *s) {
  brr_buf out = BRR_BUF_INIT;
  brr_buf_puts(&out, INDEX_HEADER);
  for (size_t i = 0; i < s->n; i++)
    brr_buf_printf(&out, "%s %llu %lld\n", s->v[i].hex, (unsigned long long)s->v[i].size,
                   (long long)s->v[i].used_ms);
  char *path = brr_xasprintf("%s/index", s->dir);
  int r = brr__incr_write_atomic(path, out.data, out.len);
  free(path);
  brr_buf_free(&out);
  return r;
}

/* Least recently used first, until the recorded total fits; what this session used stays
 * (a run whose own outputs pass the limit keeps them: the limit is exceeded until later). The
 * entry leaves the index before its file goes, so nothing recorded is ever missing but by a
 * hand outside brr. */
static void evict(brr_store *s) {
  if (!s->limit) return;
  uint64_t total = 0;
  for (size_t i = 0; i < s->n; i++) total += s->v[i].size;
  while (total > s->limit) {
    size_t victim = s->n;
    for (size_t i = 0; i < s->n; i++) {
      if (s->v[i].pinned) continue;
      if (victim == s->n || s->v[i].used_ms < s->v[victim].used_ms) victim = i;
    }
    if (victim == s->n) break;
    char *path = obj_path(s, s->v[victim].hex);
    total -= s->v[victim].size;
    s->v[victim] = s->v[--s->n];
    if (index_save(s) == 0) unlink(path);
    free(path);
  }
}

/* What crashed writers left: temp files, and objects that nothing records. Under the lock. */
static void sweep(brr_store *s) {
  char *tmpdir = brr_xasprintf("%s/tmp", s->dir);
  DIR *dir = opendir(tmpdir);
  struct dirent *de;
  while (dir && (de = readdir(dir))) {
    long pid = 0;
    unsigned long long start = 0;
    if (sscanf(de->d_name, "%ld.%llu.", &pid, &start) != 2) continue;
    if (pid == (long)getpid() || (brr_proc_start_time(pid) == start && start)) continue;
    char *p = brr_path_join(tmpdir, de->d_name);
    unlink(p);
    free(p);
  }
  if (dir) closedir(dir);
  free(tmpdir);
  char *objs = brr_xasprintf("%s/objects", s->dir);
  DIR *top = opendir(objs);
  while (top && (de = readdir(top))) {
    if (strlen(de->d_name) != 2) continue;
    char *sub = brr_path_join(objs, de->d_name);
    DIR *sd = opendir(sub);
    struct dirent *oe;
    while (sd && (oe = readdir(sd))) {
      if (strlen(oe->d_name) != 62) continue;
      char hex[BRR_INCR_HEX];
      memcpy(hex, de->d_name, 2);
      memcpy(hex + 2, oe->d_name, 62);
      hex[64] = '\0';
      if (find(s, hex)) continue;
      char *p = brr_path_join(sub, oe->d_name);
      unlink(p);
      free(p);
    }
    if (sd) closedir(sd);
    free(sub);
  }
  if (top) closedir(top);
  free(objs);
}

int brr_store_open(const char *dir, uint64_t limit, brr_store **out, brr_diags *d) {
  *out = NULL;
  char *objs = brr_xasprintf("%s/objects", dir);
  char *tmp = brr_xasprintf("%s/tmp", dir);
  int r = brr_mkdir_p(objs, 0755);
  if (r == 0) r = brr_mkdir_p(tmp, 0755);
  free(objs);
  free(tmp);
  if (r < 0) return store_err(d, r, "creating", dir);
  char *lp = brr_xasprintf("%s/lock", dir);
  int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    r = store_err(d, -errno, "opening", lp);
    free(lp);
    return r;
  }
  free(lp);
  brr_store *s = brr_xcalloc(1, sizeof *s);
  s->dir = brr_xstrdup(dir);
  s->limit = limit;
  s->lock_fd = fd;
  r = lock(s);
  if (r < 0) {
    brr_store_free(s);
    return store_err(d, r, "locking", dir);
  }
  index_load(s);
  sweep(s);
  unlock(s);
  *out = s;
  return 0;
}

/* Copy what is left of `in` to `fd` (paths for the messages), hashing it into `h` and
 * counting it into `*size` when they are given. */
static int pump(int in, const char *in_path, int fd, const char *out_path, brr_hasher *h,
                uint64_t *size, brr_diags *d) {
  char buf[65536];
  if (size) *size = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return store_err(d, -errno, "reading", in_path);
    if (n == 0) return 0;
    if (h) brr_hasher_update(h, buf, (size_t)n);
    int w = brr__incr_write_all(fd, buf, (size_t)n);
    if (w < 0) return store_err(d, w, "writing", out_path);
    if (size) *size += (uint64_t)n;
  }
}

/* Copy `path` into a temp file of the store, hashing as it goes. */
static int copy_in(brr_store *s, const char *path, char **tmp_out, char hex[BRR_INCR_HEX],
                   uint64_t *size, brr_diags *d) {
  int in = open(path, O_RDONLY | O_CLOEXEC);
  if (in < 0) return store_err(d, -errno, "reading", path);
  char *tmp = brr_xasprintf("%s/tmp/%ld.%llu.XXXXXX", s->dir, (long)getpid(),
                            brr_proc_start_time((long)getpid()));
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int r = store_err(d, -errno, "creating", tmp);
    close(in);
    free(tmp);
    return r;
  }
  brr_hasher *h = brr_hasher_new();
  int rc = pump(in, path, fd, tmp, h, size, d);
  brr_hasher_final(h, hex);
  if (rc == 0 && fsync(fd) < 0) rc = store_err(d, -errno, "writing", tmp);
  if (close(fd) < 0 && rc == 0) rc = store_err(d, -errno, "writing", tmp);
  close(in);
  if (rc < 0) {
    unlink(tmp);
    free(tmp);
    return rc;
  }
  *tmp_out = tmp;
  return 0;
}

static int put(brr_store *s, const char *path, char hex[BRR_INCR_HEX], bool record,
               brr_diags *d) {
  char *tmp = NULL;
  uint64_t size = 0;
  int rc = copy_in(s, path, &tmp, hex, &size, d);
  if (rc < 0) return rc;
  rc = lock(s);
  if (rc < 0) {
    unlink(tmp);
    free(tmp);
    return store_err(d, rc, "locking", s->dir);
  }
  index_load(s);
  char *dest = obj_path(s, hex);
  char *sub = brr_path_dirname(dest);
  struct stat st;
  bool have = find(s, hex) && stat(dest, &st) == 0 && (uint64_t)st.st_size == size;
  if (have) {
    unlink(tmp);  /* the same content is there already */
  } else {
    rc = brr_mkdir_p(sub, 0755);
    if (rc == 0 && rename(tmp, dest) < 0) rc = -errno;
    if (rc < 0) {
      store_err(d, rc, "storing", dest);
      unlink(tmp);
    }
  }
  pin(s, hex);
  if (rc == 0 && record) {
    store_obj *o = find(s, hex);
    if (!o) {
      store_obj no = {0};
      memcpy(no.hex, hex, BRR_INCR_HEX);
      BRR_VEC_PUSH(s->v, s->n, s->cap, no);
      o = &s->v[s->n - 1];
    }
    o->size = size;
    o->used_ms = tick(s);
    o->pinned = true;
    /* the record comes last: only now does the object exist for anyone */
    rc = index_save(s);
    if (rc < 0) store_err(d, rc, "recording", dest);
    else evict(s);
  }
  unlock(s);
  free(sub);
  free(dest);
  free(tmp);
  return rc;
}

int brr_store_put(brr_store *s, const char *path, char hex[BRR_INCR_HEX], brr_diags *d) {
  return put(s, path, hex, true, d);
}

int brr_store_put_unrecorded(brr_store *s, const char *path, char hex[BRR_INCR_HEX],
                             brr_diags *d) {
  return put(s, path, hex, false, d);
}

bool brr_store_has(brr_store *s, const char *hex) {
  if (lock(s) < 0) return false;
  index_load(s);
  char *p = obj_path(s, hex);
  bool ok = find(s, hex) && access(p, R_OK) == 0;
  free(p);
  unlock(s);
  return ok;
}

static int copy_out(const char *src, const char *dest, unsigned mode, brr_diags *d) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno == ENOENT ? BRR_ENOENT : store_err(d, -errno, "reading", src);
  char *tmp = brr_xasprintf("%s.brr-restore.XXXXXX", dest);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int rc = store_err(d, -errno, "creating", tmp);
    close(in);
    free(tmp);
    return rc;
  }
  int rc = pump(in, src, fd, tmp, NULL, NULL, d);
  if (rc == 0 && fchmod(fd, mode & 07777u) < 0) rc = store_err(d, -errno, "writing", tmp);
  if (close(fd) < 0 && rc == 0) rc = store_err(d, -errno, "writing", tmp);
  close(in);
  if (rc == 0 && rename(tmp, dest) < 0) rc = store_err(d, -errno, "writing", dest);
  if (rc < 0) unlink(tmp);
  free(tmp);
  return rc;
}

int brr_store_get(brr_store *s, const char *hex, const char *dest, unsigned mode, brr_diags *d) {
  int rc = lock(s);
  if (rc < 0) return store_err(d, rc, "locking", s->dir);
  index_load(s);
  store_obj *o = find(s, hex);
  char *src = obj_path(s, hex);
  if (!o) {
    rc = BRR_ENOENT;
  } else {
    rc = copy_out(src, dest, mode, d);
    if (rc == BRR_ENOENT) {
      /* removed by a hand outside brr: forget it */
      *o = s->v[--s->n];
      index_save(s);
    } else if (rc == 0) {
      o->used_ms = tick(s);
      o->pinned = true;
      pin(s, hex);
      index_save(s);
    }
  }
  free(src);
  unlock(s);
  return rc;
}

uint64_t brr_store_size(brr_store *s, size_t *n_objects) {
  if (lock(s) == 0) {
    index_load(s);
    unlock(s);
  }
  uint64_t total = 0;
  for (size_t i = 0; i < s->n; i++) total += s->v[i].size;
  if (n_objects) *n_objects = s->n;
  return total;
}

void brr_store_free(brr_store *s) {
  if (!s) return;
  if (s->lock_fd >= 0) close(s->lock_fd);
  for (size_t i = 0; i < s->n_pins; i++) free(s->pins[i]);
  free(s->pins);
  free(s->v);
  free(s->dir);
  free(s);
}
