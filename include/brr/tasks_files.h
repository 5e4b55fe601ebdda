/* brr — the tasks layer, the part that never talks to Docker: the /source tar, build
 * contexts (.dockerignore, inject destinations), artifacts (listing script, the consumer of
 * archive streams, artifacts.json), security-scan settings and reports, and caches (names,
 * selection, locks, atomic writes). They work on files, tar streams and values, so they are
 * tested without an engine; nothing here includes the engine, the scheduler or libuv.
 * The node kinds that use them are in brr/tasks.h. Behaviour and every deliberate difference
 * from buildrunner: docs/tasks.md.
 *
 * Errors: functions return 0 or a negative BRR_E* code and add a diagnostic. Configuration
 * mistakes carry exit code 78 and the mark of the offending key; I/O failures carry 1. */
#ifndef BRR_TASKS_FILES_H
#define BRR_TASKS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/config.h"
#include "brr/diag.h"
#include "brr/util.h"
#include "brr/value.h"

/* ==== /source (spec §9.1) ================================================================ */

/* Write the tar that run tasks PUT at /source: entries relative to `build_dir` (a root entry
 * "." first), modes, owners, mtimes, symlinks and hard links kept, names in byte order. Leaves
 * out the top-level entry named basename(results_dir) and paths matching a `.buildignore`
 * line; `.git` is kept. File contents are streamed. On failure `out_path` is removed. */
int brr_source_tar_create(const char *build_dir, const char *results_dir, const char *out_path,
                          brr_diags *d);
/* The same, with every name under `root` (NULL or ".": as above; "source": the entries
 * "source", "source/a", ... of the per-run source image). `whiteouts` (may be NULL) says
 * whether a name starts with ".wh.", which an image layer reads as a deletion: such a tree
 * cannot go through an image and is PUT instead. */
int brr_source_tar_write(const char *build_dir, const char *results_dir, const char *out_path,
                         const char *root, bool *whiteouts, brr_diags *d);
/* Whether the engine would refuse the symbolic link `rel` (relative to the build dir) with
 * target `target` when the tar is unpacked at /source: a relative target that leads above it.
 * brr_source_tar_create fails on the first such link, naming it (exit 1). */
bool brr_source_link_escapes(const char *rel, const char *target);
/* One `.buildignore` test as buildrunner does it: Python fnmatch of `pattern` against the
 * relative path, where `*` also matches `/` and backslash is an ordinary character. */
bool brr_buildignore_match(const char *pattern, const char *relpath);

/* ==== .dockerignore (docker build's rules) =============================================== */

typedef struct brr_dockerignore brr_dockerignore;

/* Parse .dockerignore text the way docker reads it: `#` comment lines, trimmed lines, `!`
 * exceptions, patterns cleaned (`./`, `..`, a leading `/` removed). `file` names the source
 * in diagnostics. NULL, with a diagnostic at the line, for an invalid pattern. */
brr_dockerignore *brr_dockerignore_parse(const char *text, size_t len, const char *file,
                                         brr_diags *d);
/* Append the exception `!path` when `path` is excluded: docker always sends the Dockerfile and
 * .dockerignore, whatever the patterns say. */
void brr_dockerignore_keep(brr_dockerignore *di, const char *path);
/* Whether `relpath` (slash-separated, relative to the context root) is left out: the last
 * pattern matching it or one of its parent directories decides. */
bool brr_dockerignore_excluded(const brr_dockerignore *di, const char *relpath);
/* For an excluded directory: whether docker still walks into it, i.e. an exception pattern
 * starts with `reldir/`. */
bool brr_dockerignore_descend(const brr_dockerignore *di, const char *reldir);
void brr_dockerignore_free(brr_dockerignore *di);

/* ==== build inputs and contexts (spec §2.2, §3.1, §7) ===================================== */

/* One resolved inject: a source on disk and where it goes in the context. */
typedef struct brr_inject_item {
  char *src;        /* absolute path of a glob match */
  char *dest;       /* in-context path, normalised, relative ("." = the context root) */
  bool src_is_dir;
  brr_mark mark;    /* the inject key */
} brr_inject_item;

/* What a build step's context is made of, with every path resolved. */
typedef struct brr_build_inputs {
  char *context;            /* absolute real `path`, or NULL when the step has none */
  brr_mark context_mark;    /* the `path` key, else the `build` node: for context errors */
  char *dockerfile_path;    /* the Dockerfile as a file (absolute), or NULL */
  char *dockerfile_text;    /* inline Dockerfile text, or NULL */
  bool dockerfile_injected; /* it came from an inject whose destination is the Dockerfile */
  brr_inject_item *inject;  /* in config order; a source matched twice keeps its last dest */
  size_t n_inject;
} brr_build_inputs;

/* Resolve `b` against `build_dir` (spec §2.2 and §3.1): expand inject globs (relative to the
 * build dir, glob(3) rules, sorted) and apply the destination rules; check `path`; pick the
 * Dockerfile (`dockerfile` key as file or inline text, else `<path>/Dockerfile`, overridden by
 * an inject to `Dockerfile` or `/Dockerfile`). `step` names the step in messages. Errors are
 * configuration errors (78) at the key's mark: "Unable to expand inject glob: <abs>", an
 * inject destination outside the context, a missing `path`, no path/dockerfile/inject, no
 * Dockerfile (not required for `import` builds). */
int brr_build_inputs_resolve(const brr_build *b, const char *build_dir, const char *step,
                             brr_build_inputs *out, brr_diags *d);
void brr_build_inputs_free(brr_build_inputs *in);

/* Write the context tar for the legacy builder (Engine API POST /build) to `out_path`, and
 * set *dockerfile_name (heap) to the name to pass as the API's `dockerfile` parameter.
 * With injects or without `path` (buildrunner's own tar): the `path` tree, then the injects,
 * then the Dockerfile as `Dockerfile`. Otherwise the `path` tree with the Dockerfile by its
 * relative name, or added as `.dockerfile.<sha1>` when it lies outside the context.
 * `.dockerignore` of `path` filters the `path` tree (the Dockerfile and .dockerignore are
 * always sent); injects are never filtered. Owners are recorded as root, like docker's CLI. */
int brr_build_context_tar(const brr_build_inputs *in, const char *out_path,
                          char **dockerfile_name, brr_diags *d);

/* A context directory for `docker buildx build <dir> [--file <dockerfile>]`. */
typedef struct brr_build_context {
  char *dir;         /* the context directory */
  char *dockerfile;  /* value for --file, or NULL for <dir>/Dockerfile */
  char *temp;        /* directory brr created (removed by the cleanup), or NULL */
} brr_build_context;

/* Materialise the context for buildx (spec §7 item 7). With injects: a temporary directory
 * under `temp_dir` holding a copy of `path` without `.git` directories (symlinks kept), the
 * injects (links followed), and the Dockerfile as `Dockerfile` unless one was injected. An
 * inline Dockerfile is written to a temporary file. Otherwise the original `path` (or the
 * Dockerfile's directory) is returned as is. */
int brr_build_context_dir(const brr_build_inputs *in, const char *temp_dir,
                          brr_build_context *out, brr_diags *d);
/* Remove what brr_build_context_dir created and free the strings. Safe on a zeroed struct. */
void brr_build_context_cleanup(brr_build_context *c);

/* ==== artifacts (spec §9.6, §9.7, §9.8) ================================================== */

typedef enum { BRR_ARTIFACT_FILE, BRR_ARTIFACT_DIR } brr_artifact_kind;

/* One match found in the run container by the listing script. */
typedef struct brr_artifact_match {
  size_t pattern;          /* index into the patterns given to the script */
  brr_artifact_kind kind;  /* what the match is, following symbolic links */
  char *path;              /* as the shell expanded it (relative to /source, or absolute) */
  char *fetch;             /* absolute path to GET from the container (links resolved) */
} brr_artifact_match;

/* Append to `out` a POSIX sh script (dash, bash, busybox ash) that expands each pattern as
 * a pathname glob in the current directory (run it with working directory /source) and
 * prints, per existing match, `<index>\0<f|d>\0<path>\0<fetch>\0`. Patterns are data: no
 * word splitting, no variable or command expansion, so names with spaces are safe. */
void brr_artifact_list_script(const char *const *patterns, size_t n, brr_buf *out);
/* Parse the script's output. BRR_EINVAL (diagnostic, exit 1) on malformed output. */
int brr_artifact_list_parse(const char *text, size_t len, size_t n_patterns,
                            brr_artifact_match **out, size_t *n_out, brr_diags *d);
void brr_artifact_matches_free(brr_artifact_match *v, size_t n);

/* One match to store: what the config says and what the container holds. */
typedef struct brr_artifact_req {
  const char *step;          /* step name: outputs go to <results_dir>/<brr_results_name(step)>/,
                                and the artifacts.json keys start with that name */
  const char *results_dir;
  brr_str pattern;           /* the artifacts key, with its mark */
  const brr_value *props;    /* the raw properties (map or falsy), or NULL */
  const char *match;         /* brr_artifact_match.path */
  brr_artifact_kind kind;
} brr_artifact_req;

typedef struct brr_artifact_sink brr_artifact_sink;

/* Start consuming the tar stream of GET /containers/{id}/archive?path=<fetch> for one match.
 * Checks the properties (a `rename` with a `*` pattern is a configuration error). The bytes
 * are spooled to a hidden file in the step directory, then unpacked by the finish. */
int brr_artifact_sink_new(const brr_artifact_req *req, brr_artifact_sink **out, brr_diags *d);
/* Feed the next bytes of the stream. Returns 0 or BRR_EIO (reported by the finish). */
int brr_artifact_sink_write(brr_artifact_sink *s, const void *data, size_t len);
/* Write the outputs as buildrunner lays them out (a file under its name or `rename`; a
 * directory with `format: uncompressed` as its files; other directories as one archive
 * per the `archive:` map) and register them in `artifacts` (a map value in arena `a`) with
 * buildrunner's keys and values. Frees the sink, whatever the result. */
int brr_artifact_sink_finish(brr_artifact_sink *s, brr_arena *a, brr_value *artifacts,
                             brr_diags *d);
/* Whether a write to the sink's file failed (its write returned BRR_EIO): the finish then
 * reports the file and the error. */
bool brr_artifact_sink_failed(const brr_artifact_sink *s);
/* Drop a sink without writing anything (the stream failed); removes the spool. */
void brr_artifact_sink_free(brr_artifact_sink *s);

/* Write `artifacts` (a map) to `path` as Python's json.dump(indent=2) would: ASCII only, no
 * trailing newline, insertion order. An existing file's entries come first and keep their
 * places; new values replace old ones. Nothing is written for an empty map. Atomic. */
int brr_artifacts_json_write(const char *path, const brr_value *artifacts, brr_diags *d);

/* ==== security scans (spec §3 security-scan, §8; docs/builds.md) ========================= */

#define BRR_SCAN_TRIVY_VERSION "0.69.3"

/* The scan settings in effect for one push entry. Strings point into the config or `a`. */
typedef struct brr_scan_settings {
  bool enabled;
  const char *scanner;      /* "trivy" */
  const char *version;      /* the aquasec/trivy image tag */
  const char *cache_dir;    /* host cache directory (global only), or NULL */
  brr_value *config;        /* trivy's config.yaml keys (a map) */
  bool has_threshold;       /* a truthy max-score-threshold */
  double threshold;
} brr_scan_settings;

/* buildrunner's defaults, then the global `security-scan` (files and --security-scan-*
 * flags, already merged: `config` replaces the default map), then a push entry's
 * `security-scan`: each non-null field wins, its `config` merged key by key. */
void brr_scan_settings_resolve(brr_arena *a, const brr_value *global, const brr_value *push,
                               brr_scan_settings *out);
/* Parse trivy's JSON report: *result = {"max_score", "vulnerabilities": [{cvss_v3_score,
 * severity, vulnerability_id, pkg_name, installed_version, primary_url}]} (values in `a`,
 * nvd V3Score for the score). Returns 0; BRR_EFAILED with *error (heap) when a threshold is
 * set and the max score reaches it (the result is still made); BRR_EINVAL when the text is
 * not a JSON object. */
int brr_scan_parse_trivy(brr_arena *a, const char *text, size_t len, const brr_scan_settings *s,
                         brr_value **result, double *max_score, char **error);

typedef struct brr_scan brr_scan;
/* status 0 (result set), BRR_EFAILED (threshold: result set; or a scanner failure: NULL),
 * BRR_ECANCELED, or another failure; error is a one-line reason or NULL. */
typedef void (*brr_scan_done_cb)(void *ud, int status, const char *error, brr_value *result,
                                 double max_score);

/* ==== caches (spec §9.3) ================================================================== */

/* How long a cache lock may be waited for before the cache is skipped (buildrunner: 30 min). */
#define BRR_CACHE_LOCK_TIMEOUT_MS (30u * 60u * 1000u)

typedef struct brr_cache_entry {
  char *archive;            /* local archive file */
  const char *docker_path;  /* directory in the container (points into the config) */
  brr_mark mark;
  bool save;                /* the first archive of its docker path: the one a save writes */
} brr_cache_entry;

typedef struct brr_cache_plan {
  brr_cache_entry *v;
  size_t n;
} brr_cache_plan;

/* Map a step's `caches:` (config order) to archives: `key: /path` gives
 * `<root>/<project>-<key>.tar`, `/path: [k1, k2]` gives `<root>/<k>.tar` each. A repeated
 * archive keeps its first place and its last path. The archive's directory is created; when
 * that fails under `root`, the default root (~/.buildrunner/caches) is used, with a warning.
 * Values of other types are skipped with a warning. */
int brr_cache_plan_make(const brr_kvlist *caches, const char *root, const char *project,
                        brr_cache_plan *out, brr_diags *d);
void brr_cache_plan_free(brr_cache_plan *p);

/* The file to restore `archive` from: itself when it exists, else the newest (mtime) regular
 * file in its directory whose name starts with the archive's name minus `.tar`. Empty files
 * (left by a failed save) never count. NULL when nothing fits. Heap string. */
char *brr_cache_restore_pick(const char *archive);

typedef struct brr_cache_restore {
  char *file;               /* the tar to PUT */
  const char *docker_path;  /* where to PUT it (mkdir -p first) */
} brr_cache_restore;

/* The restores to do, in plan order: the first entry of each docker path that has a file
 * (later entries of a path already served are skipped). */
int brr_cache_restore_list(const brr_cache_plan *p, brr_cache_restore **out, size_t *n);
void brr_cache_restore_free(brr_cache_restore *v, size_t n);

/* A held flock on a cache file; `fd` reads the file when it was locked for restore. */
typedef struct brr_cache_lock {
  int fd;
} brr_cache_lock;

/* Try once, without blocking, to lock `path`: shared (restore; the file must exist) or
 * exclusive (save; the file is created if missing). Returns 0 when held, 1 when another
 * process holds a conflicting lock, or a negative BRR_E*. An event loop retries on a timer
 * with brr_cache_lock_backoff_ms until BRR_CACHE_LOCK_TIMEOUT_MS has passed. */
int brr_cache_lock_try(const char *path, bool exclusive, brr_cache_lock *out);
/* Delay before retry number `attempt` (0-based): 50 ms doubling up to 2 s. */
unsigned brr_cache_lock_backoff_ms(unsigned attempt);
void brr_cache_lock_release(brr_cache_lock *l);

typedef struct brr_cache_writer brr_cache_writer;

/* Begin replacing `archive` (the caller holds its exclusive lock): bytes go to a temporary
 * file in the same directory. */
int brr_cache_writer_open(const char *archive, brr_cache_writer **out, brr_diags *d);
/* Append bytes of the tar stream from GET archive?path=<dir>/. */
int brr_cache_writer_write(brr_cache_writer *w, const void *data, size_t len);
/* Check the bytes form a readable tar, then rename them over the archive. On any failure
 * the old archive stays as it was. Frees the writer. */
int brr_cache_writer_commit(brr_cache_writer *w, brr_diags *d);
/* Drop the temporary file (and an empty archive left by the lock). Frees the writer. */
void brr_cache_writer_abort(brr_cache_writer *w);

/* Who wrote a cache, for cache_history.log; NULL fields print as None, like buildrunner. */
typedef struct brr_cache_history {
  const char *step, *vcs_name, *vcs_branch, *vcs_short_id, *arch;
  int64_t time;             /* epoch seconds, printed in local time */
} brr_cache_history;

/* Append buildrunner's line for `archive` to `<dirname(archive)>/cache_history.log` under an
 * exclusive lock. */
int brr_cache_history_append(const char *archive, const brr_cache_history *h, brr_diags *d);
/* --clean-cache: remove the caches root (after ~ expansion). 0 or -errno. */
int brr_cache_clean(const char *root);

#endif
