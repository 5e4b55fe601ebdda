/* brr — small shared helpers: memory, growable buffers, arenas, strings, paths.
 * Everything here aborts on out-of-memory: brr cannot do anything useful without memory,
 * and checking every allocation would hide the real error paths. */
#ifndef BRR_UTIL_H
#define BRR_UTIL_H

#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define BRR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define BRR_NORETURN __attribute__((noreturn))
#else
#define BRR_PRINTF(a, b)
#define BRR_NORETURN
#endif

#define BRR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- memory ---------------------------------------------------------------- */
void *brr_xmalloc(size_t n);
void *brr_xcalloc(size_t n, size_t size);
void *brr_xrealloc(void *p, size_t n);
char *brr_xstrdup(const char *s);
char *brr_xstrndup(const char *s, size_t n);
char *brr_xasprintf(const char *fmt, ...) BRR_PRINTF(1, 2);
char *brr_xvasprintf(const char *fmt, va_list ap) BRR_PRINTF(1, 0);

/* Append `item` to a heap array `arr` of `n` items with capacity `cap` (all lvalues). */
#define BRR_VEC_PUSH(arr, n, cap, item)                                              \
  do {                                                                               \
    if ((n) == (cap)) {                                                              \
      (cap) = (cap) ? (cap) * 2 : 8;                                                 \
      (arr) = brr_xrealloc((arr), (cap) * sizeof(*(arr)));                           \
    }                                                                                \
    (arr)[(n)++] = (item);                                                           \
  } while (0)

/* ---- errors ------------------------------------------------------------------ */
/* One error space, the libuv way: functions return 0, a negative errno value (-ENOENT...)
 * passed through unchanged, a libuv code (UV_EOF...; on Unix the others equal -errno), or one
 * of brr's own codes below. brr's codes sit at BRR_ERRNO_BASE - n, far below any errno
 * (1..133 on Linux) and libuv's (down to UV_EOF = -4095), so none can be mistaken for another;
 * brr_strerror() names any of them. */
#define BRR_ERRNO_BASE (-30000)
enum {
  BRR_EINVAL = BRR_ERRNO_BASE - 1,    /* bad input; details are in the brr_diags */
  BRR_ENOENT = BRR_ERRNO_BASE - 2,    /* a file or object does not exist */
  BRR_EIO = BRR_ERRNO_BASE - 3,       /* an I/O or system error */
  BRR_ECANCELED = BRR_ERRNO_BASE - 4,
  BRR_EFAILED = BRR_ERRNO_BASE - 5,   /* an external operation (build, command, push) failed */
  BRR_ECONFIG = BRR_ERRNO_BASE - 6,   /* configuration error (exit 78) */
  BRR_ETIMEOUT = BRR_ERRNO_BASE - 7,
  BRR_ELAST = BRR_ETIMEOUT,           /* the lowest of brr's codes */
};

/* A message for any error code: brr's own (table), a negative errno (strerror), a libuv code
 * (uv_strerror); a positive value is taken as an errno. 0 is "success"; an unknown code gives
 * "unknown error <n>" (in a buffer of the calling thread's, valid until its next call). */
const char *brr_strerror(int code);

/* ---- growable byte buffer; data is always NUL-terminated ------------------- */
typedef struct brr_buf {
  char *data;  /* NULL until the first append */
  size_t len;  /* bytes used, excluding the terminating NUL */
  size_t cap;  /* bytes allocated */
} brr_buf;

#define BRR_BUF_INIT {NULL, 0, 0}
void brr_buf_reserve(brr_buf *b, size_t extra);
void brr_buf_append(brr_buf *b, const void *p, size_t n);
void brr_buf_puts(brr_buf *b, const char *s);
void brr_buf_putc(brr_buf *b, char c);
void brr_buf_printf(brr_buf *b, const char *fmt, ...) BRR_PRINTF(2, 3);
void brr_buf_vprintf(brr_buf *b, const char *fmt, va_list ap) BRR_PRINTF(2, 0);
void brr_buf_reset(brr_buf *b);            /* len = 0, keeps memory */
void brr_buf_free(brr_buf *b);             /* frees and re-initialises */
char *brr_buf_detach(brr_buf *b);          /* returns data (never NULL), re-initialises */
const char *brr_buf_cstr(const brr_buf *b); /* data or "" */

/* ---- the line splitter (src/util/lines.c) ------------------------------------------------ */
/* Bytes of any chunking in, whole lines out: \n, \r\n and a lone \r (a progress line) each
 * end one, also when a \r\n is split between two feeds. With `max` > 0 a line that reaches
 * `max` bytes is cut there, never inside a UTF-8 sequence, so memory stays bounded. Each
 * line goes to the callback without its end, NUL-terminated, valid during the call only. */
typedef void (*brr_linesplit_cb)(void *ud, const char *line, size_t len);
typedef struct brr_linesplit {
  brr_buf pending;  /* the unterminated line so far */
  bool cr;          /* the last byte fed was a \r: a \n right after it is the same end */
  size_t max;       /* 0: no limit */
} brr_linesplit;
void brr_linesplit_init(brr_linesplit *s, size_t max);
/* Returns how many lines (cut pieces included) went to `cb`. */
size_t brr_linesplit_feed(brr_linesplit *s, const char *data, size_t len, brr_linesplit_cb cb,
                          void *ud);
/* The partial last line, if any, to `cb`; true when there was one. */
bool brr_linesplit_flush(brr_linesplit *s, brr_linesplit_cb cb, void *ud);
void brr_linesplit_free(brr_linesplit *s);

/* ---- arena: many small allocations freed at once ---------------------------- */
typedef struct brr_arena brr_arena;
brr_arena *brr_arena_new(void);
void brr_arena_free(brr_arena *a);
void *brr_arena_alloc(brr_arena *a, size_t n);   /* zeroed, 16-byte aligned */
void *brr_arena_alloc_raw(brr_arena *a, size_t n); /* not zeroed: the caller fills every byte */
char *brr_arena_strdup(brr_arena *a, const char *s);
char *brr_arena_strndup(brr_arena *a, const char *s, size_t n);
char *brr_arena_printf(brr_arena *a, const char *fmt, ...) BRR_PRINTF(2, 3);
/* Grow an arena array (old storage stays in the arena until it is freed). */
void *brr_arena_grow(brr_arena *a, void *old, size_t old_bytes, size_t new_bytes);

/* ---- strings ------------------------------------------------------------------ */
bool brr_streq(const char *a, const char *b);          /* NULL-safe */
bool brr_startswith(const char *s, const char *prefix);
bool brr_endswith(const char *s, const char *suffix);
/* Levenshtein distance, capped: returns `cap`+1 once the distance exceeds `cap`. */
size_t brr_edit_distance(const char *a, const char *b, size_t cap);
/* The candidate closest to `word` when it is close enough to be a likely typo, else NULL. */
const char *brr_suggest(const char *word, const char *const *candidates, size_t n);
/* Python's repr() of a float ("2.0", "1e+16", "0.1", "inf", "nan"); buf >= 32 bytes. */
char *brr_fmt_pyfloat(double v, char *buf, size_t size);
/* Split `s` on `sep` into a NULL-terminated heap array of heap strings; brr_strv_free frees. */
char **brr_split(const char *s, char sep, size_t *count);
void brr_strv_free(char **v);

/* ---- string -> index map (open addressing; keys are not copied and must outlive it) ---- */
typedef struct brr_strmap {
  const char **keys;
  size_t *vals;
  size_t n, cap;
  size_t *hashes;  /* each slot's key hash: a probe compares it first, growing re-hashes nothing */
} brr_strmap;
#define BRR_STRMAP_INIT {NULL, NULL, 0, 0, NULL}
void brr_strmap_put(brr_strmap *m, const char *key, size_t val);   /* replaces */
bool brr_strmap_get(const brr_strmap *m, const char *key, size_t *val);
void brr_strmap_free(brr_strmap *m);

/* ---- paths and files ----------------------------------------------------------- */
char *brr_path_join(const char *a, const char *b);   /* b absolute -> copy of b */
char *brr_path_dirname(const char *p);
const char *brr_path_basename(const char *p);         /* points into p */
char *brr_path_expanduser(const char *p);              /* "~" and "~/x" via $HOME */
char *brr_path_realpath(const char *p);                 /* NULL when it does not exist */
/* Lexical normalisation: collapses "//", "/./" and "x/.." without touching the disk. */
char *brr_path_normalize(const char *p);
bool brr_path_is_under(const char *path, const char *dir);  /* both absolute, normalised */
/* A path relative to the cwd for messages when it lies under it, else the path itself. */
char *brr_path_display(const char *abs);
/* Read a whole file into `out` (appended). Returns 0 or -errno. */
int brr_read_file(const char *path, brr_buf *out);
int brr_write_file(const char *path, const void *data, size_t len);
/* mkdir -p; returns 0 or -errno. */
int brr_mkdir_p(const char *path, unsigned mode);
/* rm -rf; returns 0 or -errno (a missing path is 0). */
int brr_rm_rf(const char *path);

/* File access handed to modules that must not touch the file system themselves (the graph
 * compiler reads Dockerfiles only through one). `ud` is passed back to every call. */
typedef struct brr_fs_ops {
  /* Append the whole file to `out`. Returns 0 or a negative error (-ENOENT...). */
  int (*read_file)(void *ud, const char *path, brr_buf *out);
  /* Whether `path` is a directory. */
  bool (*is_dir)(void *ud, const char *path);
  /* The first path glob(3) matches for `pattern` (heap), or NULL when none. */
  char *(*glob_first)(void *ud, const char *pattern);
  void *ud;
} brr_fs_ops;
/* The real file system (src/util/host_fs.c). */
extern const brr_fs_ops brr_host_fs;

/* This machine's platform as Docker names it: "linux/amd64", "linux/arm64", "linux/arm/v7",
 * else "linux/<uname machine>". The graph and the build tasks must agree on it. */
const char *brr_native_platform(void);
/* A random (version 4) UUID in its 36-character text form, from OpenSSL's generator. Heap. */
char *brr_uuid4(void);

/* posix_spawn attributes for a child of brr's, as uv_spawn makes them: no blocked signals,
 * default dispositions (brr ignores SIGPIPE; its children must not), its own session and
 * group. posix_spawnattr_destroy after the spawn. */
void brr_spawnattr_child(posix_spawnattr_t *at);

/* ---- the results directory (src/util/results.c, docs/output.md) ------------------------ */
/* brr owns only what it made in the results dir: the top-level entries it created are listed
 * in <results>/.brr-created, and only those are removed when a later run starts. The run holds
 * an flock on the directory itself from open to close. */
typedef struct brr_results brr_results;
#define BRR_RESULTS_MANIFEST ".brr-created"
/* Check, make, lock and clear `dir` (absolute). Refused: a path that exists and is not a
 * directory, or a directory that is or holds one of `protect` (the build dir, the config
 * files). `keep` (--keep-step-artifacts) removes nothing. Returns 0, or -errno with a
 * heap message in *err (-EBUSY: another brr holds the lock). */
typedef struct brr_results_guard {
  const char *path;   /* absolute */
  const char *what;   /* for the message: "the build directory", "the config file" */
} brr_results_guard;
int brr_results_open(const char *dir, const brr_results_guard *protect, size_t n_protect, bool keep,
                     brr_results **out, char **err);
/* mkdir <dir>/<name> (one component); recorded when this call made it. 0 or -errno. */
int brr_results_mkdir(brr_results *r, const char *name);
/* Record a file brr writes at <dir>/<name> (build.log, artifacts.json). 0 or -errno. */
int brr_results_note(brr_results *r, const char *name);
/* Release the lock. */
void brr_results_close(brr_results *r);
/* The name of a step's results directory and log file: the step name with `%`, `/` and
 * control bytes written %XX, a leading `.` written %2E, and a first character written %XX
 * when the name would be one of brr's own (logs, build.log, artifacts.json). One to one:
 * percent-decoding gives the name back. Heap. */
char *brr_results_name(const char *step);

/* ---- the open-file limit (src/util/fdlimit.c) ------------------------------------------ */
/* Descriptors brr keeps for itself (stdio, the loop, logs, the results lock...), and what one
 * running node may hold at most (engine connections and streams, spool and log files). A
 * run of 16 nodes with a service each peaks at about 65 descriptors. */
#define BRR_FD_RESERVE 32
#define BRR_FD_PER_JOB 8
/* Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force (-1 when
 * unknown). */
long brr_fd_limit_raise(void);
/* How many nodes may run at once under `limit` descriptors (at least 1). */
int brr_fd_limit_jobs(long limit);

/* ---- owners (src/util/owner.c) ---------------------------------------------------- */
/* What brr labels its objects and names its temp dirs with: "<hostname>:<pid>:<start>",
 * start = the process's start time in clock ticks since boot, so a reused pid is not taken
 * for the owner. Heap. */
char *brr_owner_self(void);
/* The start time of process `pid` (/proc/<pid>/stat field 22), or 0 when unknown. */
unsigned long long brr_proc_start_time(long pid);
/* Split an owner string; 0, or -1 when it is not one (*host is heap). */
int brr_owner_parse(const char *owner, char **host, long *pid, unsigned long long *start);
typedef enum brr_owner_state {
  BRR_OWNER_ALIVE,    /* that process runs on this host */
  BRR_OWNER_GONE,     /* this host, and the process (that pid with that start) is gone */
  BRR_OWNER_UNKNOWN   /* another host, or not an owner string: leave the object alone */
} brr_owner_state;
brr_owner_state brr_owner_check(const char *owner);

/* ---- message digests over OpenSSL EVP (src/util/digest.c) ------------------------------ */
#define BRR_DIGEST_HEX_MAX (2 * 64 + 1)   /* the longest digest (SHA-512) in hex, and a NUL */
typedef struct brr_digest brr_digest;
/* A running digest by OpenSSL's name for it ("sha1", "sha256"); NULL for a name it does not
 * know. Aborts when out of memory, like brr_xmalloc. */
brr_digest *brr_digest_new(const char *alg);
void brr_digest_update(brr_digest *d, const void *data, size_t len);
/* The digest of everything fed so far, lower-case hex, into `hex`; returns its length. The
 * digest is finished: only brr_digest_free may follow. */
size_t brr_digest_final_hex(brr_digest *d, char hex[BRR_DIGEST_HEX_MAX]);
void brr_digest_free(brr_digest *d);
/* One call: the hex digest of `len` bytes; 0 when `alg` is unknown. */
size_t brr_digest_hex(const char *alg, const void *data, size_t len, char hex[BRR_DIGEST_HEX_MAX]);

/* ---- time ------------------------------------------------------------------------ */
uint64_t brr_mono_ms(void);   /* monotonic clock, milliseconds */
int64_t brr_wall_ms(void);    /* wall clock, milliseconds since the epoch */

#endif
