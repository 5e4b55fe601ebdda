/* brr — incremental runs (docs/incremental.md): the parts that decide and restore without
 * talking to Docker. Input hashing (SHA-256 through OpenSSL EVP), a file-hash cache keyed by
 * (path, size, mtime, ctime, inode) like ninja's log and git's index, the hash of a source tree
 * (minus ignored paths, narrowed by `inputs:` globs), a content-addressed artifact store with
 * a size limit and least-recently-used eviction, and the record of a node's last successful
 * run. Includes nothing of brr's above util.
 *
 * Errors: 0 or a negative code (a -errno passed through, or a BRR_E* code); functions that
 * take a brr_diags add a diagnostic naming the file and the error (exit 1). */
#ifndef BRR_INCR_H
#define BRR_INCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "brr/diag.h"
#include "brr/util.h"

/* A SHA-256 in lower-case hex, NUL-terminated. */
#define BRR_INCR_HEX 65

/* ==== hashing ============================================================================ */

typedef struct brr_hasher brr_hasher;
brr_hasher *brr_hasher_new(void);
void brr_hasher_update(brr_hasher *h, const void *data, size_t len);
/* Add `name` and `value` so that no two different sequences of fields hash alike (each is
 * length-prefixed); a NULL value differs from "". */
void brr_hasher_field(brr_hasher *h, const char *name, const char *value);
/* Write the hex digest and free the hasher. */
void brr_hasher_final(brr_hasher *h, char hex[BRR_INCR_HEX]);
/* The SHA-256 of a byte string. */
void brr_incr_sha256(const void *data, size_t len, char hex[BRR_INCR_HEX]);
/* The SHA-256 of a file's content. 0 or -errno. */
int brr_incr_file_sha256(const char *path, char hex[BRR_INCR_HEX]);

/* ==== the file-hash cache ================================================================= */

/* Content hashes of files, trusted while a file's size, mtime, ctime and inode are what they
 * were when it was read: a no-op re-run stats every file and reads none. A file changed in the
 * second it was read is not trusted (git's "racily clean" entries): it is read again next time.
 * Entries not looked up in a session are dropped when it is saved. */
typedef struct brr_hashcache brr_hashcache;
/* Open the cache kept in the file `path` (its absence is an empty cache; so is a file that is
 * not one, which the save then replaces). `path` NULL: a cache that is never saved. */
brr_hashcache *brr_hashcache_open(const char *path);
/* The content hash of the regular file `abs` whose lstat is `st`, from the cache when the stat
 * keys match, else by reading it. 0 or -errno. */
int brr_hashcache_file(brr_hashcache *c, const char *abs, const struct stat *st,
                       char hex[BRR_INCR_HEX]);
/* How many files this session read (the rest came from the cache). */
size_t brr_hashcache_reads(const brr_hashcache *c);
/* Write the entries used in this session, atomically (temp file + rename). 0 or -errno. */
int brr_hashcache_save(brr_hashcache *c);
void brr_hashcache_free(brr_hashcache *c);

/* ==== source trees ======================================================================== */

/* Whether the walk leaves out `rel` (relative to the root, slash-separated; directories are
 * tested before the walk enters them). */
typedef bool (*brr_incr_skip_fn)(void *ud, const char *rel, const struct stat *st);

typedef struct brr_tree_opts {
  brr_incr_skip_fn skip;      /* may be NULL */
  void *skip_ud;
  /* `inputs:` globs (relative to the root): when n_inputs > 0 only regular files and links
   * matching one of them count, and directories themselves do not. `*`, `?` and `[...]` stay
   * inside a path component; `**` as a whole component matches any number of them. */
  const char *const *inputs;
  size_t n_inputs;
} brr_tree_opts;

/* Check `inputs:` globs; NULL when all compile, else a heap message naming the first bad one
 * and why (*bad: its index). */
char *brr_incr_globs_check(const char *const *globs, size_t n, size_t *bad);

/* The content hash of the tree under `root` as a run step sees it at /source: every entry's
 * relative path (byte order), type and permission bits, each file's content (through `cache`,
 * which may be NULL), each link's target. *n_files (may be NULL) counts the regular files.
 * 0, or -errno / BRR_EINVAL with a diagnostic naming the path. */
int brr_incr_tree_hash(const char *root, const brr_tree_opts *o, brr_hashcache *c,
                       char hex[BRR_INCR_HEX], size_t *n_files, brr_diags *d);

/* ==== the content-addressed store ========================================================= */

/* Objects named by their SHA-256 under <dir>/objects/xx/..., recorded with their size and
 * last use in <dir>/index (one line each, rewritten by temp + rename under an flock on
 * <dir>/lock). An object is written to <dir>/tmp first, renamed into place, and recorded last:
 * a crash before the rename leaves a temp file (removed by the next open), a crash between
 * the rename and the record leaves an object that nothing names (removed by the next open).
 * Neither is ever served. When the recorded sizes pass the limit, the least recently used
 * objects go first, never one used by this session. */
typedef struct brr_store brr_store;
/* The default directory: $XDG_CACHE_HOME/brr/store, else ~/.cache/brr/store. Heap. */
char *brr_store_default_dir(void);
/* Open (creating) the store at `dir` with a limit of `limit` bytes (0: no limit). Removes what
 * crashed writers left. 0 or -errno with a diagnostic. */
int brr_store_open(const char *dir, uint64_t limit, brr_store **out, brr_diags *d);
/* Copy the file `path` into the store (deduplicated: the same content is kept once) and set
 * `hex` to its name; then evict down to the limit. 0 or -errno with a diagnostic. */
int brr_store_put(brr_store *s, const char *path, char hex[BRR_INCR_HEX], brr_diags *d);
/* Whether the object is recorded and present. */
bool brr_store_has(brr_store *s, const char *hex);
/* Write object `hex` to `dest` (a new file, mode `mode`; temp + rename), byte for byte, and
 * mark it used now. BRR_ENOENT when the store no longer has it. */
int brr_store_get(brr_store *s, const char *hex, const char *dest, unsigned mode, brr_diags *d);
/* The recorded bytes and objects. */
uint64_t brr_store_size(brr_store *s, size_t *n_objects);
void brr_store_free(brr_store *s);

/* For tests of the crash between writing and recording: do a put but stop right after the
 * rename, as a crash there would (nothing is recorded). */
int brr_store_put_unrecorded(brr_store *s, const char *path, char hex[BRR_INCR_HEX],
                             brr_diags *d);

/* ==== the record of a node's last successful run ========================================= */

/* What a node's result depended on: named inputs in a fixed order (the first that differs
 * from the last success answers "why does this rerun?"), each kept as the hash of its value. */
typedef struct brr_incr_inputs {
  char **names;
  char (*hex)[BRR_INCR_HEX];
  size_t n, cap;
} brr_incr_inputs;
/* Add an input by value (hashed here; NULL is a value of its own). */
void brr_incr_inputs_add(brr_incr_inputs *in, const char *name, const char *value);
/* Add an input whose hash is already known (a tree hash, an image digest's hash). */
void brr_incr_inputs_add_hex(brr_incr_inputs *in, const char *name, const char *hex);
/* The key of the whole: the hash of every (name, hash) pair in order. */
void brr_incr_inputs_key(const brr_incr_inputs *in, char hex[BRR_INCR_HEX]);
void brr_incr_inputs_free(brr_incr_inputs *in);

typedef struct brr_incr_record {
  char key[BRR_INCR_HEX];
  brr_incr_inputs inputs;
  char *outputs;      /* heap JSON text the caller chose (artifacts, artifacts.json entries, images,
                         log object), or NULL */
  int64_t when_ms;    /* when it was recorded */
} brr_incr_record;

/* <state_dir>/nodes/<sha256 of node id>.json. Heap. */
char *brr_incr_record_path(const char *state_dir, const char *node_id);
/* Read the record; BRR_ENOENT when there is none, BRR_EINVAL when the file is not one (both
 * mean "run it"). */
int brr_incr_record_read(const char *path, brr_incr_record *out);
/* Write it whole (temp + rename). 0 or -errno. */
int brr_incr_record_write(const char *path, const brr_incr_record *r);
/* Forget it (a node that failed or is no longer reusable). 0, or -errno but ENOENT. */
int brr_incr_record_remove(const char *path);
void brr_incr_record_free(brr_incr_record *r);
/* Why a node with inputs `now` is not reused: NULL when `last` (may be NULL) has the same key;
 * else "no earlier successful run", or the name of the first input that differs (valid while
 * `now` and `last` are; an input present on one side only counts as differing). */
const char *brr_incr_why(const brr_incr_record *last, const brr_incr_inputs *now);
/* The first input of `now` whose value differs from `last`'s, or that `last` lacks; NULL when
 * none. For a `now` that holds only some of the inputs (--graph cannot know them all). */
const char *brr_incr_changed_input(const brr_incr_record *last, const brr_incr_inputs *now);

/* ==== the inputs of an image build ====================================================== */

/* What a single-platform build's image depends on. Strings may be NULL (absent). */
typedef struct brr_incr_build_key {
  const char *dockerfile;           /* its text as the build gets it */
  const char *context_hex;          /* the context's content hash, NULL without a context */
  const char *const *args;          /* "K=V" build args (their order does not count) */
  size_t n_args;
  const char *target, *platform, *builder;
  const char *const *secrets;       /* the `secrets` specs as written (not their content) */
  size_t n_secrets;
  bool have_bases;                  /* false: the base images are not known (--graph) */
  const char *const *bases;         /* "<ref> <image id>" of each FROM/COPY --from image, in */
  size_t n_bases;                   /* Dockerfile order */
} brr_incr_build_key;
/* Add the build's inputs, in the order "why does this rerun?" names them: Dockerfile,
 * context, build args, target, platform, builder, secrets, base images (only when known). */
void brr_incr_build_inputs(const brr_incr_build_key *k, brr_incr_inputs *in);

/* The state directory of incremental runs for a build dir: <cache>/brr/state/<sha256 of the
 * build dir's real path> ($XDG_CACHE_HOME, else ~/.cache). Heap. */
char *brr_incr_state_dir(const char *build_dir);

#endif
