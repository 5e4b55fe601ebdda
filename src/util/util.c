/* Memory, buffers, arenas, strings and time. */
#include "brr/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/rand.h>

static BRR_NORETURN void oom(size_t n) {
  fprintf(stderr, "brr: out of memory (%zu bytes)\n", n);
  abort();
}

void *brr_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *brr_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom(n * size);
  return p;
}

void *brr_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *brr_xstrdup(const char *s) { return brr_xstrndup(s, strlen(s)); }

char *brr_xstrndup(const char *s, size_t n) {
  char *p = brr_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *brr_xvasprintf(const char *fmt, va_list ap) {
  va_list aq;
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  if (n < 0) oom(0);
  char *p = brr_xmalloc((size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  return p;
}

char *brr_xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *p = brr_xvasprintf(fmt, ap);
  va_end(ap);
  return p;
}

/* ---- brr_buf ---- */

void brr_buf_reserve(brr_buf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  b->data = brr_xrealloc(b->data, cap);
  b->cap = cap;
  b->data[b->len] = '\0';  /* a first allocation must already read as "" */
}

void brr_buf_append(brr_buf *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) brr_buf_reserve(b, n); /* the common case calls nothing */
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void brr_buf_puts(brr_buf *b, const char *s) { brr_buf_append(b, s, strlen(s)); }

void brr_buf_putc(brr_buf *b, char c) {
  if (b->len + 2 > b->cap) brr_buf_reserve(b, 1);
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

void brr_buf_vprintf(brr_buf *b, const char *fmt, va_list ap) {
  va_list aq;
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  if (n <= 0) {
    brr_buf_reserve(b, 0);
    return;
  }
  brr_buf_reserve(b, (size_t)n);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void brr_buf_printf(brr_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  brr_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void brr_buf_reset(brr_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void brr_buf_free(brr_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *brr_buf_detach(brr_buf *b) {
  brr_buf_reserve(b, 0);
  char *p = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

const char *brr_buf_cstr(const brr_buf *b) { return b->data ? b->data : ""; }

/* ---- arena ---- */

typedef struct arena_block {
  struct arena_block *next;
  size_t used, size;
  _Alignas(16) unsigned char mem[];
} arena_block;

struct brr_arena {
  arena_block *head;
};

brr_arena *brr_arena_new(void) { return brr_xcalloc(1, sizeof(brr_arena)); }

void brr_arena_free(brr_arena *a) {
  if (!a) return;
  for (arena_block *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(a);
}

/* `zero`: what the caller does not fill itself reads as zero (strings fill every byte). */
static void *arena_alloc(brr_arena *a, size_t n, bool zero) {
  n = (n + 15) & ~(size_t)15;
  arena_block *b = a->head;
  if (!b || b->size - b->used < n) {
    size_t size = n > 32768 ? n : 32768;
    if (n > 8192) {
      /* big allocations get a block of their own behind the current one, so the
       * current block's free space is not wasted */
      arena_block *big = brr_xmalloc(sizeof(arena_block) + n);
      big->size = big->used = n;
      if (b) {
        big->next = b->next;
        b->next = big;
      } else {
        big->next = NULL;
        a->head = big;
      }
      if (zero) memset(big->mem, 0, n);
      return big->mem;
    }
    b = brr_xmalloc(sizeof(arena_block) + size);
    b->size = size;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = b->mem + b->used;
  b->used += n;
  if (zero) memset(p, 0, n);
  return p;
}

void *brr_arena_alloc(brr_arena *a, size_t n) { return arena_alloc(a, n, true); }

void *brr_arena_alloc_raw(brr_arena *a, size_t n) { return arena_alloc(a, n, false); }

char *brr_arena_strndup(brr_arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1, false);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *brr_arena_strdup(brr_arena *a, const char *s) {
  return s ? brr_arena_strndup(a, s, strlen(s)) : NULL;
}

char *brr_arena_printf(brr_arena *a, const char *fmt, ...) {
  va_list ap, aq;
  va_start(ap, fmt);
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  char *p = brr_arena_alloc(a, (size_t)(n < 0 ? 0 : n) + 1);
  if (n > 0) vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void *brr_arena_grow(brr_arena *a, void *old, size_t old_bytes, size_t new_bytes) {
  if (new_bytes <= old_bytes) return old;
  void *p = brr_arena_alloc(a, new_bytes);
  if (old && old_bytes) memcpy(p, old, old_bytes);
  return p;
}

/* ---- strings ---- */

bool brr_streq(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

bool brr_startswith(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool brr_endswith(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

size_t brr_edit_distance(const char *a, const char *b, size_t cap) {
  size_t n = strlen(a), m = strlen(b);
  if ((n > m ? n - m : m - n) > cap) return cap + 1;
  size_t *row = brr_xmalloc((m + 1) * sizeof(size_t));
  for (size_t j = 0; j <= m; j++) row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diag = row[0], best = row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t up = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t v = diag + cost;
      if (up + 1 < v) v = up + 1;
      if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
      row[j] = v;
      diag = up;
      if (v < best) best = v;
    }
    if (best > cap) {
      free(row);
      return cap + 1;
    }
  }
  size_t d = row[m];
  free(row);
  return d > cap ? cap + 1 : d;
}

const char *brr_suggest(const char *word, const char *const *candidates, size_t n) {
  size_t len = strlen(word);
  size_t cap = len <= 3 ? 1 : len <= 6 ? 2 : 3;
  const char *best = NULL;
  size_t best_d = cap + 1;
  for (size_t i = 0; i < n; i++) {
    size_t d = brr_edit_distance(word, candidates[i], cap);
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  return best;
}

char *brr_fmt_pyfloat(double v, char *buf, size_t size) {
  if (isnan(v)) {
    snprintf(buf, size, "nan");
    return buf;
  }
  if (isinf(v)) {
    snprintf(buf, size, v < 0 ? "-inf" : "inf");
    return buf;
  }
  /* shortest digits that round-trip, as Python's repr() */
  char digits[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(digits, sizeof digits, "%.*e", prec - 1, v);
    if (strtod(digits, NULL) == v) break;
  }
  /* digits is d.ddde±XX: take mantissa and exponent, then lay out as repr does */
  char mant[24];
  size_t mi = 0;
  const char *p = digits;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  for (; *p && *p != 'e'; p++)
    if (*p != '.') mant[mi++] = *p;
  mant[mi] = '\0';
  int exp = atoi(p + 1);
  while (mi > 1 && mant[mi - 1] == '0') mant[--mi] = '\0';
  char out[64];
  size_t o = 0;
  if (neg) out[o++] = '-';
  if (exp < -4 || exp >= 16) {
    out[o++] = mant[0];
    if (mi > 1) {
      out[o++] = '.';
      for (size_t i = 1; i < mi; i++) out[o++] = mant[i];
    }
    o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  } else if (exp < 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = -1; i > exp; i--) out[o++] = '0';
    for (size_t i = 0; i < mi; i++) out[o++] = mant[i];
  } else {
    for (int i = 0; i <= exp; i++) out[o++] = (size_t)i < mi ? mant[i] : '0';
    out[o++] = '.';
    if ((size_t)exp + 1 < mi)
      for (size_t i = (size_t)exp + 1; i < mi; i++) out[o++] = mant[i];
    else
      out[o++] = '0';
  }
  out[o] = '\0';
  snprintf(buf, size, "%s", out);
  return buf;
}

char **brr_split(const char *s, char sep, size_t *count) {
  size_t n = 1;
  for (const char *p = s; *p; p++)
    if (*p == sep) n++;
  char **v = brr_xcalloc(n + 1, sizeof(char *));
  size_t i = 0;
  const char *start = s;
  for (const char *p = s;; p++) {
    if (*p == sep || *p == '\0') {
      v[i++] = brr_xstrndup(start, (size_t)(p - start));
      if (!*p) break;
      start = p + 1;
    }
  }
  if (count) *count = i;
  return v;
}

void brr_strv_free(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

/* ---- time ---- */

uint64_t brr_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t brr_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- brr_strmap ---- */

static size_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (size_t)(h ^ (h >> 32)); /* the slot is the low bits: fold the high ones in */
}

static void strmap_grow(brr_strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  const char **keys = brr_xcalloc(cap, sizeof(char *));
  size_t *vals = brr_xmalloc(cap * sizeof(size_t));
  size_t *hashes = brr_xmalloc(cap * sizeof(size_t));
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = m->hashes[i] & (cap - 1);
    while (keys[j]) j = (j + 1) & (cap - 1);
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
    hashes[j] = m->hashes[i];
  }
  free(m->keys);
  free(m->vals);
  free(m->hashes);
  m->keys = keys;
  m->vals = vals;
  m->hashes = hashes;
  m->cap = cap;
}

void brr_strmap_put(brr_strmap *m, const char *key, size_t val) {
  if ((m->n + 1) * 4 > m->cap * 3) strmap_grow(m);
  size_t h = str_hash(key), j = h & (m->cap - 1);
  while (m->keys[j]) {
    if (m->hashes[j] == h && strcmp(m->keys[j], key) == 0) {
      m->vals[j] = val;
      return;
    }
    j = (j + 1) & (m->cap - 1);
  }
  m->keys[j] = key;
  m->vals[j] = val;
  m->hashes[j] = h;
  m->n++;
}

bool brr_strmap_get(const brr_strmap *m, const char *key, size_t *val) {
  if (!m->cap) return false;
  size_t h = str_hash(key), j = h & (m->cap - 1);
  while (m->keys[j]) {
    if (m->hashes[j] == h && strcmp(m->keys[j], key) == 0) {
      if (val) *val = m->vals[j];
      return true;
    }
    j = (j + 1) & (m->cap - 1);
  }
  return false;
}

void brr_strmap_free(brr_strmap *m) {
  free(m->keys);
  free(m->vals);
  free(m->hashes);
  m->keys = NULL;
  m->vals = NULL;
  m->hashes = NULL;
  m->n = m->cap = 0;
}

/* ---- ids ---- */

char *brr_uuid4(void) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    /* only without entropy; ids must still differ between the steps of one run */
    uint64_t t = (uint64_t)brr_wall_ms() ^ ((uint64_t)getpid() << 32) ^ brr_mono_ms();
    memcpy(b, &t, 8);
    memcpy(b + 8, &t, 8);
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  return brr_xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                       b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                       b[12], b[13], b[14], b[15]);
}

const char *brr_native_platform(void) {
  static char buf[80];
  if (buf[0]) return buf;
  struct utsname u;
  const char *m = uname(&u) == 0 ? u.machine : "x86_64";
  if (!strcmp(m, "x86_64") || !strcmp(m, "amd64")) snprintf(buf, sizeof buf, "linux/amd64");
  else if (!strcmp(m, "aarch64") || !strcmp(m, "arm64")) snprintf(buf, sizeof buf, "linux/arm64");
  else if (!strncmp(m, "armv6", 5)) snprintf(buf, sizeof buf, "linux/arm/v6");
  else if (!strncmp(m, "arm", 3)) snprintf(buf, sizeof buf, "linux/arm/v7");
  else snprintf(buf, sizeof buf, "linux/%.60s", m);
  return buf;
}

void brr_spawnattr_child(posix_spawnattr_t *at) {
  posix_spawnattr_init(at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(at, &none);
  posix_spawnattr_setsigdefault(at, &all);
  posix_spawnattr_setflags(at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}
