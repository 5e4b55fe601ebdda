/* /artifacts on an engine of another host. On an engine of this host the results dir is
 * bind-mounted read-only at /artifacts (run_spec.c); a remote engine would silently mount an
 * empty directory of its own host there. Instead the run container, once created and before
 * it starts, gets a tar (archive PUT at "/") holding "artifacts/" and, below it, the results
 * directory of every other step whose artifact-writing nodes (run, remote) all finished
 * before this node: the steps it waits for, the ones whose /artifacts/<step>/ it mentions or
 * depends on. Nothing still being written goes in. The tar is written with libarchive on a
 * libuv work thread into the run's temp dir and removed once sent. */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_internal.h"
#include "tasks_internal.h"

bool brr_run_engine_local(const brr_runtime *rt, size_t step) {
  if (!rt->engines || !rt->n_engines) return true;
  if (rt->n_engines <= 1 || !rt->cfg || step >= rt->cfg->n_steps) return rt->engines[0].local;
  return rt->engines[rt->steps[step].engine].local;
}

typedef struct deps_work {
  uv_work_t work;
  brr_run_task *r;
  void (*then)(brr_run_task *r);
  char **dirs;       /* results dirs on this host */
  char **names;      /* their names under /artifacts */
  size_t n;
  char *path;        /* the tar */
  brr_diags d;       /* written by the work thread only */
  int rc;
} deps_work;

static void deps_free(deps_work *w) {
  for (size_t i = 0; i < w->n; i++) {
    free(w->dirs[i]);
    free(w->names[i]);
  }
  free(w->dirs);
  free(w->names);
  if (w->path) unlink(w->path);
  free(w->path);
  brr_diags_free(&w->d);
  free(w);
}

/* The nodes `node` waits for, directly or not (they have all finished when it runs). */
static bool *predecessors(const brr_graph *g, size_t node) {
  bool *seen = brr_xcalloc(g->n_nodes ? g->n_nodes : 1, sizeof *seen);
  size_t *stack = brr_xcalloc(g->n_nodes ? g->n_nodes : 1, sizeof *stack);
  size_t sp = 0;
  stack[sp++] = node;
  while (sp) {
    const brr_node *n = &g->nodes[stack[--sp]];
    for (size_t i = 0; i < n->n_in; i++) {
      size_t from = g->edges[n->in[i]].from;
      if (seen[from]) continue;
      seen[from] = true;
      stack[sp++] = from;
    }
  }
  free(stack);
  return seen;
}

static bool writes_results(const brr_node *n) { return n->kind == BRR_NODE_RUN || n->kind == BRR_NODE_REMOTE; }

/* The steps whose results are complete for this node: every node of theirs that writes into
 * their results dir is a predecessor. */
static void pick_dirs(brr_run_task *r, deps_work *w) {
  const brr_graph *g = r->rt->graph;
  bool *pred = predecessors(g, r->base.node);
  size_t n_steps = r->rt->cfg->n_steps;
  w->dirs = brr_xcalloc(n_steps + 1, sizeof *w->dirs);
  w->names = brr_xcalloc(n_steps + 1, sizeof *w->names);
  for (size_t s = 0; s < n_steps; s++) {
    if (s == r->step || !r->rt->steps[s].results_dir) continue;
    bool any = false, all = true;
    for (size_t i = 0; i < g->n_nodes; i++) {
      if (g->nodes[i].step != s || !writes_results(&g->nodes[i])) continue;
      any = true;
      if (!pred[i]) all = false;
    }
    if (!any || !all) continue;
    w->dirs[w->n] = brr_xstrdup(r->rt->steps[s].results_dir);
    w->names[w->n] = brr_xasprintf("%s/%s", BRR_RUN_ARTIFACTS_DIR + 1, brr_path_basename(w->dirs[w->n]));
    w->n++;
  }
  free(pred);
}

static void deps_tar(uv_work_t *uw) {
  deps_work *w = uw->data;
  brr_tar_out o;
  w->rc = brr_tar_out_open_file(&o, w->path, &w->d);
  if (w->rc != 0) return;
  /* the mount point itself, as the bind shows it: a directory anyone may read */
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, BRR_RUN_ARTIFACTS_DIR + 1);
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_entry_set_perm(e, 0755);
  archive_entry_set_mtime(e, time(NULL), 0);
  if (archive_write_header(o.a, e) != ARCHIVE_OK) w->rc = brr_tar_aerr(&w->d, o.a, "the /artifacts tar");
  archive_entry_free(e);
  for (size_t i = 0; w->rc == 0 && i < w->n; i++) {
    int rc = brr_tar_add_tree(&o, w->dirs[i], w->names[i], true, NULL, NULL);
    if (rc != 0 && rc != BRR_ENOENT) w->rc = rc;
  }
  if (w->rc != 0) {
    brr_tar_out_abort(&o);
    return;
  }
  w->rc = brr_tar_out_close(&o);
}

static void deps_sent(void *ud, const brr_engine_result *res) {
  deps_work *w = ud;
  brr_run_task *r = w->r;
  void (*then)(brr_run_task *) = w->then;
  deps_free(w);
  if (!brr_run_ok(r, res)) return;
  r->deps_put = true;
  then(r);
}

static void deps_written(uv_work_t *uw, int status) {
  deps_work *w = uw->data;
  brr_run_task *r = w->r;
  r->deps_busy = false;
  if (r->base.cancelled || r->status) {
    deps_free(w);
    brr_run_next(r);   /* on to the teardown */
    return;
  }
  if (status != 0 || w->rc != 0) {
    char *why = brr_xstrdup(w->d.n ? w->d.v[0].msg : status ? uv_strerror(status) : brr_strerror(w->rc));
    deps_free(w);
    brr_run_fail(r, BRR_EIO, false, "cannot make the /artifacts tar: %s", why);
    free(why);
    return;
  }
  brr_task_log(r->task, BRR_LOG_DEBUG, "the artifacts of %zu other step(s) go into %s (engine of another host)",
               w->n, BRR_RUN_ARTIFACTS_DIR);
  brr_engine_body body = {.path = w->path};
  r->req = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), r->id, "/", &body, deps_sent, w);
}

void brr_run_deps_put(brr_run_task *r, void (*then)(brr_run_task *r)) {
  deps_work *w = brr_xcalloc(1, sizeof *w);
  w->r = r;
  w->then = then;
  w->d = (brr_diags)BRR_DIAGS_INIT;
  w->path = brr_xasprintf("%s/artifacts-%s.tar", r->rt->temp_dir, r->rt->steps[r->step].id);
  pick_dirs(r, w);
  w->work.data = w;
  r->deps_busy = true;
  if (uv_queue_work(r->rt->loop, &w->work, deps_tar, deps_written) != 0) {
    deps_tar(&w->work);
    deps_written(&w->work, 0);
  }
}
