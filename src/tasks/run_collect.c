/* Caches and artifacts of a run step (spec §9.3, §9.6): caches restored under shared locks
 * (into the started container, or for an own process into the created one before it starts)
 * and saved after a success under exclusive ones; artifacts listed by one exec of the listing
 * script in the run container (or read from the own process's listing file once it stopped),
 * then fetched with archive GETs into the step's results directory. Lock waits poll on the task's timer, so the loop
 * never blocks on a cache another process holds. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>

#include "run_internal.h"

static bool has_commands(const brr_run_task *r) { return r->run->c.cmd.s || r->run->c.cmds.n; }

static const char *env_get(const brr_runtime *rt, const char *key) {
  return brr_val_cstr(brr_val_get(rt->cfg->env_dict, key));
}

int brr_run_caches_plan(brr_run_task *r, brr_diags *d) {
  const brr_kvlist *caches = &r->run->c.caches;
  if (caches->n == 0) return 0;
  const char *project = env_get(r->rt, "VCSINFO_NAME");
  int rc = brr_cache_plan_make(caches, r->rt->cfg->global.caches_root, project ? project : "",
                               &r->caches, d);
  r->caches_planned = rc == 0;
  return rc;
}

static void release_lock(brr_run_task *r) {
  if (!r->lock_held) return;
  brr_cache_lock_release(&r->lock);
  r->lock_held = false;
}

/* The lock of the cache being restored (shared) or saved (exclusive). Try it now; while
 * another process holds it, retry on the timer until the deadline. lock_done(r, ok) runs
 * once: ok false means "skip this cache" (a warning was logged). */
static void lock_attempt(brr_run_task *r);
static const char *lock_path(const brr_run_task *r);
static bool lock_exclusive(const brr_run_task *r) { return r->stage == BRR_RUN_ST_CACHE_SAVE; }
static void lock_done(brr_run_task *r, bool ok);

static void on_lock_timer(uv_timer_t *t) { lock_attempt(t->data); }

static void lock_attempt(brr_run_task *r) {
  if (r->base.cancelled) {
    brr_run_next(r);
    return;
  }
  int rc = brr_cache_lock_try(lock_path(r), lock_exclusive(r), &r->lock);
  if (rc == 0) {
    r->lock_held = true;
    lock_done(r, true);
    return;
  }
  if (rc == 1 && brr_mono_ms() < r->lock_deadline) {
    if (r->lock_attempt == 0)
      brr_task_log(r->task, BRR_LOG_INFO, "Waiting for the lock on cache %s", lock_path(r));
    uv_timer_start(brr_run_timer(r), on_lock_timer, brr_cache_lock_backoff_ms(r->lock_attempt++), 0);
    return;
  }
  brr_task_log(r->task, BRR_LOG_WARNING, "cannot lock cache %s: %s", lock_path(r),
               rc == 1 ? "timed out" : "error");
  lock_done(r, false);
}

static void lock_begin(brr_run_task *r) {
  r->lock_attempt = 0;
  r->lock_deadline = brr_mono_ms() + BRR_CACHE_LOCK_TIMEOUT_MS;
  lock_attempt(r);
}

/* ---- restore ---- */

static void restore_one(brr_run_task *r);

static void on_restored(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  release_lock(r);
  if (r->base.cancelled || res->status == BRR_ECANCELED) {
    brr_run_next(r);
    return;
  }
  const brr_cache_restore *c = &r->restores[r->cache_i];
  if (res->status != 0)
    brr_task_log(r->task, BRR_LOG_WARNING, "An error occurred when trying to use cache %s at the "
                 "path %s: %s", c->file, c->docker_path, res->error ? res->error : "failed");
  else
    brr_task_log(r->task, BRR_LOG_INFO, "Restored cache %s to %s", c->file, c->docker_path);
  r->cache_i++;
  restore_one(r);
}

static void put_cache(brr_run_task *r) {
  const brr_cache_restore *c = &r->restores[r->cache_i];
  brr_engine_body body = {.path = c->file};
  r->req = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), r->id, c->docker_path, &body,
                                            on_restored, r);
}

/* ---- restore into the created container (own process): mkdir -p by archive PUTs ---- */

static la_ssize_t dirs_tar_write(struct archive *a, void *ud, const void *buf, size_t n) {
  (void)a;
  brr_buf_append(ud, buf, n);
  return (la_ssize_t)n;
}

/* A tar of the directories `rel` ("a/b/c") names, each as `mkdir -p` run as root makes it:
 * root's, mode 0755 (umask 022). */
static int dirs_tar(const char *rel, brr_buf *out) {
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  int rc = archive_write_open(a, out, NULL, dirs_tar_write, NULL);
  struct archive_entry *e = archive_entry_new();
  time_t now = time(NULL);
  for (const char *p = rel; rc == ARCHIVE_OK && *p; p++) {
    if (p[1] != '/' && p[1] != '\0') continue;
    char *name = brr_xasprintf("%.*s/", (int)(p - rel + 1), rel);
    archive_entry_clear(e);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, now, 0);
    rc = archive_write_header(a, e);
    free(name);
  }
  archive_entry_free(e);
  if (rc == ARCHIVE_OK) rc = archive_write_close(a);
  archive_write_free(a);
  return rc == ARCHIVE_OK ? 0 : -1;
}

static void probe_path(brr_run_task *r);

static void on_dirs_put(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  if (res->status != 0 || r->base.cancelled) {
    on_restored(ud, res);
    return;
  }
  put_cache(r);
}

/* What exists of the restore path: the whole path, or the deepest existing parent, under
 * which the missing directories go in one PUT. */
static void on_probe(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  const brr_cache_restore *c = &r->restores[r->cache_i];
  if (res->status == BRR_ENOENT && strcmp(r->probe_at, "/") != 0 && !r->base.cancelled) {
    char *slash = strrchr(r->probe_at, '/');
    if (slash == r->probe_at) slash[1] = '\0';
    else *slash = '\0';
    probe_path(r);
    return;
  }
  if (res->status != 0 || r->base.cancelled) {
    on_restored(ud, res);
    return;
  }
  size_t pl = strlen(r->probe_at);
  const char *rest = c->docker_path + pl;
  while (*rest == '/') rest++;
  char *rel = brr_xstrdup(rest);
  for (size_t n = strlen(rel); n && rel[n - 1] == '/';) rel[--n] = '\0';
  if (!*rel) {
    free(rel);
    put_cache(r);
    return;
  }
  brr_buf_reset(&r->dirs_tar);
  int rc = dirs_tar(rel, &r->dirs_tar);
  free(rel);
  if (rc != 0) {
    brr_engine_result bad = {.status = BRR_EIO, .error = "cannot write the directories' tar"};
    on_restored(ud, &bad);
    return;
  }
  brr_engine_body body = {.data = r->dirs_tar.data, .len = r->dirs_tar.len};
  r->req = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), r->id, r->probe_at, &body, on_dirs_put, r);
}

static void probe_path(brr_run_task *r) {
  r->req = brr_engine_container_archive_stat(brr_rt_engine(r->rt, r->step), r->id, r->probe_at, on_probe, r);
}

static void restore_locked(brr_run_task *r, bool ok) {
  if (!ok) {
    r->cache_i++;
    restore_one(r);
    return;
  }
  if (r->own) {
    /* the container is only created: no exec for mkdir -p, the archive API makes what is
     * missing of the path */
    free(r->probe_at);
    r->probe_at = brr_xstrdup(r->restores[r->cache_i].docker_path);
    for (size_t n = strlen(r->probe_at); n > 1 && r->probe_at[n - 1] == '/';) r->probe_at[--n] = '\0';
    probe_path(r);
    return;
  }
  put_cache(r);
}

static void restore_one(brr_run_task *r) {
  if (r->cache_i >= r->n_restores) {
    void (*then)(brr_run_task *r) = r->restore_then;
    r->restore_then = NULL;
    if (then && !r->base.cancelled) then(r);
    else brr_run_next(r);
    return;
  }
  lock_begin(r);
}

bool brr_run_own_caches_ok(const brr_run_task *r) {
  for (size_t i = 0; r->caches_planned && i < r->caches.n; i++)
    if (r->caches.v[i].docker_path[0] != '/') return false;
  return true;
}

void brr_run_restore_before_start(brr_run_task *r, void (*then)(brr_run_task *r)) {
  if (!r->caches_planned || brr_cache_restore_list(&r->caches, &r->restores, &r->n_restores) != 0 ||
      r->n_restores == 0) {
    then(r);
    return;
  }
  r->restore_then = then;
  r->cache_i = 0;
  restore_one(r);
}

static void on_mkdirs(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  if (r->base.cancelled || res->status == BRR_ECANCELED) {
    brr_run_next(r);
    return;
  }
  /* a container running its own command may have ended already: the PUTs still work */
  if (res->status != 0 || res->exit_code != 0)
    brr_task_log(r->task, BRR_LOG_WARNING, "There was an issue creating the cache directories on "
                 "the docker container (exit code %lld)", (long long)res->exit_code);
  r->cache_i = 0;
  restore_one(r);
}

void brr_run_stage_cache_restore(brr_run_task *r) {
  if (r->own || !r->caches_planned || brr_cache_restore_list(&r->caches, &r->restores, &r->n_restores) != 0 ||
      r->n_restores == 0) {
    brr_run_next(r);
    return;
  }
  /* one exec makes every directory the restores go to (the PUT needs them) */
  const char **argv = brr_xcalloc(r->n_restores + 4, sizeof *argv);
  size_t n = 0;
  argv[n++] = "mkdir";
  argv[n++] = "-p";
  argv[n++] = "--";
  for (size_t i = 0; i < r->n_restores; i++) argv[n++] = r->restores[i].docker_path;
  brr_engine_exec_spec ex = {.cmd = argv, .on_output = brr_run_output};
  r->req = brr_engine_exec_run(brr_rt_engine(r->rt, r->step), r->id, &ex, on_mkdirs, r);
  free(argv);
}

/* ---- save ---- */

static void save_one(brr_run_task *r);

static const brr_cache_entry *save_entry(const brr_run_task *r) { return &r->caches.v[r->cache_i]; }

static const char *lock_path(const brr_run_task *r) {
  return r->stage == BRR_RUN_ST_CACHE_SAVE ? save_entry(r)->archive : r->restores[r->cache_i].file;
}

static int on_cache_data(void *ud, const char *data, size_t len) {
  brr_run_task *r = ud;
  return brr_cache_writer_write(r->writer, data, len) == 0 ? 0 : 1;
}

static void on_saved(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  const brr_cache_entry *e = save_entry(r);
  brr_diags d = BRR_DIAGS_INIT;
  if (res->status == 0 && brr_cache_writer_commit(r->writer, &d) == 0) {
    brr_cache_history h = {r->s->name.s, env_get(r->rt, "VCSINFO_NAME"),
                           env_get(r->rt, "VCSINFO_BRANCH"), env_get(r->rt, "VCSINFO_SHORT_ID"),
                           env_get(r->rt, "BUILDRUNNER_ARCH"), brr_wall_ms() / 1000};
    brr_cache_history_append(e->archive, &h, &d);
    brr_task_log(r->task, BRR_LOG_INFO, "Saved cache %s from %s", e->archive, e->docker_path);
  } else if (res->status != 0) {
    brr_cache_writer_abort(r->writer);
    if (res->status != BRR_ECANCELED)
      brr_task_log(r->task, BRR_LOG_WARNING, "Error saving cache %s, ignoring: %s", e->archive,
                   res->error ? res->error : "failed");
  }
  r->writer = NULL;
  for (size_t i = 0; i < d.n; i++)
    brr_task_log(r->task, BRR_LOG_WARNING, "Error saving cache %s, ignoring: %s", e->archive, d.v[i].msg);
  brr_diags_free(&d);
  release_lock(r);
  if (r->base.cancelled) {
    brr_run_next(r);
    return;
  }
  r->cache_i++;
  save_one(r);
}

static void save_locked(brr_run_task *r, bool ok) {
  const brr_cache_entry *e = save_entry(r);
  brr_diags d = BRR_DIAGS_INIT;
  if (ok && brr_cache_writer_open(e->archive, &r->writer, &d) != 0) {
    brr_task_log(r->task, BRR_LOG_WARNING, "Error saving cache %s, ignoring: %s", e->archive,
                 d.n ? d.v[0].msg : "cannot write");
    release_lock(r);
    ok = false;
  }
  brr_diags_free(&d);
  if (!ok) {
    r->cache_i++;
    save_one(r);
    return;
  }
  char *path = brr_xasprintf("%s/.", e->docker_path);
  r->req = brr_engine_container_archive_get(brr_rt_engine(r->rt, r->step), r->id, path, on_cache_data, on_saved, r);
  free(path);
}

static void lock_done(brr_run_task *r, bool ok) {
  if (r->stage == BRR_RUN_ST_CACHE_SAVE) save_locked(r, ok);
  else restore_locked(r, ok);
}

static void save_one(brr_run_task *r) {
  while (r->cache_i < r->caches.n && !save_entry(r)->save) r->cache_i++;
  if (r->cache_i >= r->caches.n) {
    brr_run_next(r);
    return;
  }
  lock_begin(r);
}

void brr_run_stage_cache_save(brr_run_task *r) {
  if (!r->caches_planned || r->caches.n == 0) {
    brr_run_next(r);
    return;
  }
  if (!r->ran || r->exit_code != 0) {
    brr_task_log(r->task, BRR_LOG_INFO, "Skipping cache save due to failed exit code");
    brr_run_next(r);
    return;
  }
  r->cache_i = 0;
  save_one(r);
}

/* ---- artifacts: list ---- */

static void collect_stdout(void *ud, int stream, const char *data, size_t len) {
  brr_run_task *r = ud;
  if (stream == BRR_ENGINE_STDOUT) brr_buf_append(&r->listing, data, len);
}

/* The listing's matches into r->matches; false (the step failed) when it cannot be read. */
static bool parse_listing(brr_run_task *r) {
  brr_diags d = BRR_DIAGS_INIT;
  size_t n = r->run->artifacts.n;
  bool ok = brr_artifact_list_parse(r->listing.data ? r->listing.data : "", r->listing.len, n,
                                    &r->matches, &r->n_matches, &d) == 0;
  if (!ok) brr_run_fail(r, BRR_EIO, false, "listing artifacts: %s", d.n ? d.v[0].msg : "bad output");
  brr_diags_free(&d);
  return ok;
}

static void listed(brr_run_task *r) {
  if (parse_listing(r)) brr_run_next(r);
}

static void on_listing(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  if (res->exit_code != 0) {
    brr_run_fail_container(r, "listing artifacts: the script exited with code %lld",
                           (long long)res->exit_code);
    return;
  }
  listed(r);
}

static char *list_script(const brr_run_task *r) {
  size_t n = r->run->artifacts.n;
  const char **pats = brr_xcalloc(n + 1, sizeof *pats);
  for (size_t i = 0; i < n; i++) pats[i] = r->run->artifacts.v[i].key.s;
  brr_buf b = BRR_BUF_INIT;
  brr_artifact_list_script(pats, n, &b);
  free(pats);
  return brr_buf_detach(&b);
}

/* Steps that run the image's own command have no running container to exec in when it ends:
 * a busybox container on the same /source lists for them (buildrunner's lister, only then). */
static void on_lister_logs(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  listed(r);
}

/* The lister is quick: wait for it to end, then read what it printed (an attach made after
 * it ended would never see the end of its output). */
static void on_lister_wait(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  if (res->exit_code != 0) {
    brr_run_fail(r, BRR_EFAILED, false, "listing artifacts: the lister exited with code %lld",
                 (long long)res->exit_code);
    return;
  }
  brr_engine_stream_opts so = {.tty = 0, .no_stderr = true, .on_output = collect_stdout};
  r->req = brr_engine_container_logs(brr_rt_engine(r->rt, r->step), r->lister, &so, on_lister_logs, r);
}

static void on_lister_started(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  r->req = brr_engine_container_wait(brr_rt_engine(r->rt, r->step), r->lister, NULL, on_lister_wait, r);
}

static void on_lister_created(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (res->status == 0 && res->id) r->lister = brr_xstrdup(res->id);
  if (!brr_run_ok(r, res)) return;
  r->req = brr_engine_container_start(brr_rt_engine(r->rt, r->step), r->lister, on_lister_started, r);
}

static void on_lister_image(void *ud, int status, const char *error, const cJSON *inspect) {
  brr_run_task *r = ud;
  (void)inspect;
  if (status == BRR_ECANCELED || r->base.cancelled) {
    brr_run_next(r);
    return;
  }
  if (status != 0) {
    brr_run_fail(r, status, false, "artifact lister image %s: %s", r->img.ref, error ? error : "");
    return;
  }
  char *script = list_script(r);
  const char *argv[] = {"/bin/sh", "-c", script, NULL};
  const char *vf[] = {r->id, NULL};
  char *label = brr_xasprintf("brr.step=%s", r->s->name.s);
  const char *labels[] = {label, NULL};
  brr_engine_container_spec sp = {.image = r->img.ref, .cmd = argv, .working_dir = BRR_RUN_SOURCE_DIR,
                                  .volumes_from = vf, .labels = labels, .user = "0"};
  r->req = brr_engine_container_create(brr_rt_engine(r->rt, r->step), &sp, on_lister_created, r);
  free(label);
  free(script);
}

/* ---- artifacts: the own process's listing, read from the stopped container ---- */

static void start_lister(brr_run_task *r);

/* The first file of an in-memory tar (what GET archive of one file returns) into `out`. */
static int tar_first_file(const brr_buf *tar, brr_buf *out) {
  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  struct archive_entry *e;
  int rc = -1;
  if (archive_read_open_memory(a, tar->data, tar->len) == ARCHIVE_OK &&
      archive_read_next_header(a, &e) == ARCHIVE_OK && archive_entry_filetype(e) == AE_IFREG) {
    char chunk[16384];
    la_ssize_t n;
    while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0) brr_buf_append(out, chunk, (size_t)n);
    rc = n == 0 ? 0 : -1;
  }
  archive_read_free(a);
  return rc;
}

static int collect_tar(void *ud, const char *data, size_t len) {
  brr_run_task *r = ud;
  brr_buf_append(&r->listing_tar, data, len);
  return 0;
}

static char *list_file(const brr_run_task *r) {
  return brr_xasprintf(BRR_RUN_LIST_DIR "/.%s.list", r->token);
}

static void on_list_file(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  bool no_container = res->error && strstr(res->error, "No such container");
  if (res->status == BRR_ENOENT && !no_container && !r->base.cancelled) {
    /* the driver could not write its listing (no writable /tmp, or it was killed): a lister
     * container on the same /source lists instead */
    r->req = NULL;
    brr_task_log(r->task, BRR_LOG_DEBUG, "no listing from the step's process; listing with a lister container");
    start_lister(r);
    return;
  }
  if (!brr_run_ok(r, res)) return;
  if (tar_first_file(&r->listing_tar, &r->listing) != 0) {
    brr_run_fail(r, BRR_EIO, false, "listing artifacts: the listing is not a readable file");
    return;
  }
  brr_buf_free(&r->listing_tar);
  if (!parse_listing(r)) return;
  /* the listing file itself is no artifact (a pattern such as /tmp/.* would find it) */
  char *self = list_file(r);
  size_t k = 0;
  for (size_t i = 0; i < r->n_matches; i++) {
    if (strcmp(r->matches[i].fetch, self) == 0) {
      free(r->matches[i].path);
      free(r->matches[i].fetch);
    } else {
      r->matches[k++] = r->matches[i];
    }
  }
  r->n_matches = k;
  free(self);
  brr_run_next(r);
}

void brr_run_stage_list(brr_run_task *r) {
  if (r->run->artifacts.n == 0) {
    brr_run_next(r);
    return;
  }
  brr_task_log(r->task, BRR_LOG_INFO, "Gathering artifacts");
  brr_buf_reset(&r->listing);
  if (r->own) {
    /* the own process listed them after its commands: read that from the stopped container */
    char *path = list_file(r);
    brr_buf_reset(&r->listing_tar);
    r->req = brr_engine_container_archive_get(brr_rt_engine(r->rt, r->step), r->id, path, collect_tar,
                                              on_list_file, r);
    free(path);
    return;
  }
  if (!has_commands(r)) {
    start_lister(r);
    return;
  }
  char *script = list_script(r);
  const char *argv[] = {"/bin/sh", "-c", script, NULL};
  brr_engine_exec_spec ex = {.cmd = argv, .working_dir = BRR_RUN_SOURCE_DIR, .user = "0",
                             .on_output = collect_stdout};
  r->req = brr_engine_exec_run(brr_rt_engine(r->rt, r->step), r->id, &ex, on_listing, r);
  free(script);
}

static void start_lister(brr_run_task *r) {
  char *image = brr_xasprintf("%s/busybox:latest", r->rt->cfg->global.docker_registry);
  brr_run_image_start(&r->img, r->rt, r->task, image, NULL, false, on_lister_image, r);
  free(image);
}

/* ---- artifacts: fetch ---- */

static void fetch_one(brr_run_task *r);

static int on_artifact_data(void *ud, const char *data, size_t len) {
  brr_run_task *r = ud;
  return brr_artifact_sink_write(r->sink, data, len) == 0 ? 0 : 1;
}

static void on_fetched(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  brr_artifact_sink *sink = r->sink;
  r->sink = NULL;
  if (sink && brr_artifact_sink_failed(sink) && !r->base.cancelled) {
    /* the sink stopped the stream because its file could not be written (a full disk):
     * that is the error to report, not the aborted transfer */
    r->req = NULL;
  } else {
    if (res->status != 0) brr_artifact_sink_free(sink);
    if (!brr_run_ok(r, res)) return;
  }
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_artifact_sink_finish(sink, r->rt->arena, r->rt->artifacts, &d) != 0) {
    bool config = brr_diags_exit_code(&d) == BRR_EXIT_CONFIG;
    brr_run_fail(r, config ? BRR_ECONFIG : BRR_EIO, config, "Error gathering artifact %s: %s",
                 r->matches[r->match_i].path, d.n ? d.v[0].msg : "failed");
    brr_diags_free(&d);
    return;
  }
  brr_diags_free(&d);
  r->match_i++;
  fetch_one(r);
}

static void fetch_one(brr_run_task *r) {
  if (r->match_i >= r->n_matches) {
    brr_run_next(r);
    return;
  }
  const brr_artifact_match *m = &r->matches[r->match_i];
  const brr_kv *kv = &r->run->artifacts.v[m->pattern];
  brr_artifact_req req = {r->s->name.s, r->rt->cfg->results_dir, kv->key, kv->val, m->path, m->kind};
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_artifact_sink_new(&req, &r->sink, &d) != 0) {
    bool config = brr_diags_exit_code(&d) == BRR_EXIT_CONFIG;
    const brr_diag *g = d.v;
    char *where = g && g->mark.file ? brr_xasprintf("%s:%u:%u: ", g->mark.file, g->mark.line,
                                                    g->mark.col) : brr_xstrdup("");
    brr_run_fail(r, config ? BRR_ECONFIG : BRR_EIO, config, "%s%s", where,
                 g ? g->msg : "bad artifact");
    free(where);
    brr_diags_free(&d);
    return;
  }
  brr_diags_free(&d);
  brr_task_log(r->task, BRR_LOG_DEBUG, "- found %s %s", m->kind == BRR_ARTIFACT_DIR ? "directory" : "file",
               m->path);
  r->req = brr_engine_container_archive_get(brr_rt_engine(r->rt, r->step), r->id, m->fetch, on_artifact_data,
                                            on_fetched, r);
}

void brr_run_stage_fetch(brr_run_task *r) {
  r->match_i = 0;
  fetch_one(r);
}

void brr_run_collect_free(brr_run_task *r) {
  release_lock(r);
  if (r->writer) brr_cache_writer_abort(r->writer);
  if (r->sink) brr_artifact_sink_free(r->sink);
  brr_artifact_matches_free(r->matches, r->n_matches);
  brr_cache_restore_free(r->restores, r->n_restores);
  if (r->caches_planned) brr_cache_plan_free(&r->caches);
  brr_buf_free(&r->listing);
  brr_buf_free(&r->listing_tar);
  brr_buf_free(&r->dirs_tar);
  free(r->probe_at);
  free(r->lister);
}
