/* Input hashing for incremental runs: SHA-256 through OpenSSL's EVP, and the file-hash cache
 * that lets a no-op re-run stat a large tree instead of reading it (ninja's log, git's index). */
#include "brr/incr.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "incr_internal.h"

struct brr_hasher {
  EVP_MD_CTX *md;
};

brr_hasher *brr_hasher_new(void) {
  brr_hasher *h = brr_xcalloc(1, sizeof *h);
  h->md = EVP_MD_CTX_new();
  if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) abort();
  return h;
}

void brr_hasher_update(brr_hasher *h, const void *data, size_t len) {
  if (len && EVP_DigestUpdate(h->md, data, len) != 1) abort();
}

static void put_len(brr_hasher *h, uint64_t n) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
  brr_hasher_update(h, b, sizeof b);
}

void brr_hasher_field(brr_hasher *h, const char *name, const char *value) {
  put_len(h, strlen(name));
  brr_hasher_update(h, name, strlen(name));
  if (!value) {
    put_len(h, UINT64_MAX);
    return;
  }
  put_len(h, strlen(value));
  brr_hasher_update(h, value, strlen(value));
}

void brr__incr_hex(const unsigned char *md, unsigned n, char hex[BRR_INCR_HEX]) {
  static const char digits[] = "0123456789abcdef";
  for (unsigned i = 0; i < n && i < 32; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = '\0';
}

void brr_hasher_final(brr_hasher *h, char hex[BRR_INCR_HEX]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (EVP_DigestFinal_ex(h->md, md, &n) != 1) abort();
  brr__incr_hex(md, n, hex);
  EVP_MD_CTX_free(h->md);
  free(h);
}

void brr_incr_sha256(const void *data, size_t len, char hex[BRR_INCR_HEX]) {
  brr_hasher *h = brr_hasher_new();
  brr_hasher_update(h, data, len);
  brr_hasher_final(h, hex);
}

int brr_incr_file_sha256(const char *path, char hex[BRR_INCR_HEX]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -errno;
  brr_hasher *h = brr_hasher_new();
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      brr_hasher_final(h, hex);
      return -e;
    }
    if (n == 0) break;
    brr_hasher_update(h, buf, (size_t)n);
  }
  close(fd);
  brr_hasher_final(h, hex);
  return 0;
}

/* ---- the file-hash cache ---------------------------------------------------------------- */

#define CACHE_HEADER "brr hashcache v1\n"

typedef struct cache_entry {
  char *path;
  char hex[BRR_INCR_HEX];
  int64_t size, mtime_ns, ctime_ns;
  uint64_t ino;
  bool used;   /* looked up (or made) this session: kept by the save */
  bool racy;   /* changed in the second it was read: not trusted next time */
} cache_entry;

struct brr_hashcache {
  char *path;
  cache_entry *v;
  size_t n, cap;
  brr_strmap index;   /* path -> entry */
  size_t reads;
};

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

/* One record: "<hex> <size> <mtime_ns> <ctime_ns> <ino> <racy>\t<path>\0". Paths may hold any
 * byte but NUL, so they come last and end with one. */
static void cache_load(brr_hashcache *c, const char *text, size_t len) {
  if (len < sizeof CACHE_HEADER - 1 || memcmp(text, CACHE_HEADER, sizeof CACHE_HEADER - 1))
    return;
  const char *p = text + sizeof CACHE_HEADER - 1, *end = text + len;
  while (p < end) {
    const char *z = memchr(p, '\0', (size_t)(end - p));
    if (!z) break;
    cache_entry e = {0};
    long long size, mt, ct;
    unsigned long long ino;
    int racy, off = 0;
    if (sscanf(p, "%64[0-9a-f] %lld %lld %lld %llu %d\t%n", e.hex, &size, &mt, &ct, &ino, &racy,
               &off) == 6 && off > 0 && p + off <= z && strlen(e.hex) == 64) {
      e.path = brr_xstrndup(p + off, (size_t)(z - (p + off)));
      e.size = size;
      e.mtime_ns = mt;
      e.ctime_ns = ct;
      e.ino = ino;
      e.racy = racy != 0;
      size_t at;
      if (brr_strmap_get(&c->index, e.path, &at)) {
        free(e.path);  /* a repeated path: the first one counts */
      } else {
        BRR_VEC_PUSH(c->v, c->n, c->cap, e);
        /* the map keys are the entries' own heap strings, which stay put when c->v grows */
        brr_strmap_put(&c->index, c->v[c->n - 1].path, c->n - 1);
      }
    }
    p = z + 1;
  }
}

brr_hashcache *brr_hashcache_open(const char *path) {
  brr_hashcache *c = brr_xcalloc(1, sizeof *c);
  c->index = (brr_strmap)BRR_STRMAP_INIT;
  if (!path) return c;
  c->path = brr_xstrdup(path);
  brr_buf text = BRR_BUF_INIT;
  if (brr_read_file(path, &text) == 0) cache_load(c, text.data ? text.data : "", text.len);
  brr_buf_free(&text);
  return c;
}

int brr_hashcache_file(brr_hashcache *c, const char *abs, const struct stat *st,
                       char hex[BRR_INCR_HEX]) {
  size_t at;
  cache_entry *e = NULL;
  if (c && brr_strmap_get(&c->index, abs, &at)) e = &c->v[at];
  if (e && !e->racy && e->size == (int64_t)st->st_size && e->mtime_ns == ts_ns(st->st_mtim) &&
      e->ctime_ns == ts_ns(st->st_ctim) && e->ino == (uint64_t)st->st_ino) {
    e->used = true;
    memcpy(hex, e->hex, BRR_INCR_HEX);
    return 0;
  }
  struct timespec before;
  clock_gettime(CLOCK_REALTIME, &before);
  int r = brr_incr_file_sha256(abs, hex);
  if (r < 0) return r;
  if (!c) return 0;
  c->reads++;
  if (!e) {
    cache_entry ne = {0};
    ne.path = brr_xstrdup(abs);
    BRR_VEC_PUSH(c->v, c->n, c->cap, ne);
    brr_strmap_put(&c->index, c->v[c->n - 1].path, c->n - 1);
    e = &c->v[c->n - 1];
  }
  memcpy(e->hex, hex, BRR_INCR_HEX);
  e->size = (int64_t)st->st_size;
  e->mtime_ns = ts_ns(st->st_mtim);
  e->ctime_ns = ts_ns(st->st_ctim);
  e->ino = (uint64_t)st->st_ino;
  e->used = true;
  /* a write in the same clock tick as our read could leave size and times as they were (git's
   * racily clean entries; the write sets the mtime to that tick, so the mtime tells):
   * such an entry is read again next time (the file's times use a coarse clock, so a second
   * of margin covers every file system brr runs on) */
  e->racy = e->mtime_ns >= ts_ns(before) - 1000000000;
  return 0;
}

size_t brr_hashcache_reads(const brr_hashcache *c) { return c ? c->reads : 0; }

int brr_hashcache_save(brr_hashcache *c) {
  if (!c || !c->path) return 0;
  brr_buf out = BRR_BUF_INIT;
  brr_buf_puts(&out, CACHE_HEADER);
  for (size_t i = 0; i < c->n; i++) {
    const cache_entry *e = &c->v[i];
    if (!e->used) continue;
    brr_buf_printf(&out, "%s %lld %lld %lld %llu %d\t", e->hex, (long long)e->size,
                   (long long)e->mtime_ns, (long long)e->ctime_ns, (unsigned long long)e->ino,
                   e->racy ? 1 : 0);
    brr_buf_append(&out, e->path, strlen(e->path) + 1);
  }
  int r = brr__incr_write_atomic(c->path, out.data, out.len);
  brr_buf_free(&out);
  return r;
}

void brr_hashcache_free(brr_hashcache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) free(c->v[i].path);
  free(c->v);
  brr_strmap_free(&c->index);
  free(c->path);
  free(c);
}

/* ---- files written whole ------------------------------------------------------------------ */

int brr__incr_write_atomic(const char *path, const void *data, size_t len) {
  char *dir = brr_path_dirname(path);
  int r = brr_mkdir_p(dir, 0755);
  free(dir);
  if (r < 0) return r;
  char *tmp = brr_xasprintf("%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    r = -errno;
    free(tmp);
    return r;
  }
  r = brr__incr_write_all(fd, data, len);
  if (r == 0 && fsync(fd) < 0) r = -errno;
  if (close(fd) < 0 && r == 0) r = -errno;
  if (r == 0 && rename(tmp, path) < 0) r = -errno;
  if (r < 0) unlink(tmp);
  free(tmp);
  return r;
}

int brr__incr_write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}
