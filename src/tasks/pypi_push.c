/* The PYPI_PUSH node: a step's Python distributions (its artifacts typed `python-sdist` or
 * `python-wheel`, spec §8) uploaded with twine to each repository of its `pypi-push`, one
 * after the other. Only with --push, behind the push barrier like the image pushes: every
 * step has succeeded. A string (or a map without both credentials) names a ~/.pypirc
 * section; a map with username and password is an upload URL with those credentials, as
 * buildrunner hands them to twine. */
#include <stdlib.h>
#include <string.h>

#include "brr/tasks.h"

typedef struct pypi_task {
  brr_task base;             /* first: the task base (sched.h) */
  brr_task *task;            /* &base */
  brr_runtime *rt;
  size_t step;
  char **files;              /* NULL-terminated */
  size_t n_files;
  size_t next;               /* the pypi-push entry to upload to next */
  brr_twine *tw;
} pypi_task;

static void finish(pypi_task *t, int status, const char *error) {
  brr_task_end(t->task, t->base.cancelled && status ? BRR_ECANCELED : status, error);
}

static bool is_python_dist(const brr_value *props) {
  const char *type = brr_val_cstr(brr_val_get(props, "type"));
  return type && (strcmp(type, "python-sdist") == 0 || strcmp(type, "python-wheel") == 0);
}

/* The step's distributions, in artifacts.json order: keys "<step>/<name>". */
static void collect(pypi_task *t) {
  const char *name = t->rt->cfg->steps[t->step].name.s;
  const char *dir = t->rt->steps[t->step].results_dir;
  const brr_value *a = t->rt->artifacts;
  size_t nlen = strlen(name), cap = 0;
  for (size_t i = 0; dir && a && a->type == BRR_VAL_MAP && i < a->u.map.n; i++) {
    const char *key = brr_val_cstr(a->u.map.v[i].key);
    if (!key || strncmp(key, name, nlen) != 0 || key[nlen] != '/') continue;
    if (!is_python_dist(a->u.map.v[i].val)) continue;
    BRR_VEC_PUSH(t->files, t->n_files, cap, brr_path_join(dir, key + nlen + 1));
  }
  BRR_VEC_PUSH(t->files, t->n_files, cap, NULL);
  t->n_files--;
}

static void upload_next(pypi_task *t);

/* The repository as it may be logged: an URL's user:password@ becomes ***@. Heap string. */
static char *shown(const char *repo) {
  const char *scheme = strstr(repo, "://");
  if (!scheme) return brr_xstrdup(repo);
  const char *host = scheme + 3, *end = host + strcspn(host, "/?#"), *at = NULL;
  for (const char *p = host; p < end; p++)
    if (*p == '@') at = p;
  if (!at) return brr_xstrdup(repo);
  return brr_xasprintf("%.*s***%s", (int)(host - repo), repo, at);
}

static void on_line(void *ud, int stream, const char *line, size_t len) {
  pypi_task *t = ud;
  brr_buf b = BRR_BUF_INIT;
  brr_buf_append(&b, line, len);
  brr_buf_putc(&b, '\n');
  brr_task_output(t->task, "twine", stream, b.data, b.len);
  brr_buf_free(&b);
}

static void on_done(void *ud, int status, const char *error) {
  pypi_task *t = ud;
  t->tw = NULL;
  if (status != 0) {
    finish(t, status, error);
    return;
  }
  const brr_pypi_push *pp = &t->rt->cfg->steps[t->step].pypi_push[t->next - 1];
  char *repo = shown(pp->repository.s);
  brr_task_log(t->task, BRR_LOG_INFO, "Uploaded %zu package(s) to %s", t->n_files, repo);
  free(repo);
  upload_next(t);
}

static void upload_next(pypi_task *t) {
  const brr_step *st = &t->rt->cfg->steps[t->step];
  if (t->base.cancelled) {
    finish(t, BRR_ECANCELED, NULL);
    return;
  }
  if (t->next >= st->n_pypi_push) {
    finish(t, 0, NULL);
    return;
  }
  const brr_pypi_push *pp = &st->pypi_push[t->next++];
  brr_twine_opts o = {0};
  o.repository = pp->repository.s;
  /* buildrunner: both credentials make the repository an URL, else a .pypirc section */
  o.url = pp->username.s && pp->password.s;
  if (o.url) {
    o.username = pp->username.s;
    o.password = pp->password.s;
  }
  o.skip_existing = pp->skip_existing;
  o.files = (const char *const *)t->files;
  o.on_line = on_line;
  o.on_done = on_done;
  o.ud = t;
  char *repo = shown(pp->repository.s);
  brr_task_log(t->task, BRR_LOG_INFO, "Uploading %zu package(s) to %s%s", t->n_files, repo,
               o.url ? "" : " (from ~/.pypirc)");
  free(repo);
  t->tw = brr_twine_upload(t->rt->loop, &o);
  if (!t->tw) finish(t, BRR_EINVAL, "pypi-push: no repository to upload to");
}

static int pypi_start(brr_task *task, uv_loop_t *loop) {
  (void)loop;
  pypi_task *t = task->impl;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_runtime_step_begin(t->rt, t->step, &d);
  if (rc != 0) {
    finish(t, BRR_EIO, d.n ? d.v[0].msg : "cannot create the step's results directory");
    brr_diags_free(&d);
    return 0;
  }
  brr_diags_free(&d);
  collect(t);
  if (t->n_files == 0) {
    brr_task_log(task, BRR_LOG_WARNING,
                 "no artifacts of type python-sdist or python-wheel in step '%s': nothing to upload",
                 t->rt->cfg->steps[t->step].name.s);
    finish(t, 0, NULL);
    return 0;
  }
  for (size_t i = 0; i < t->n_files; i++) brr_task_log(task, BRR_LOG_INFO, "Package %s", t->files[i]);
  upload_next(t);
  return 0;
}

static void pypi_cancel(brr_task *task) {
  pypi_task *t = task->impl;
  if (t->tw) brr_twine_cancel(t->tw);
  else finish(t, BRR_ECANCELED, NULL);
}

static void pypi_abort(brr_task *task) {
  pypi_task *t = task->impl;
  t->base.cancelled = true;
  if (t->tw) {
    brr_twine_abandon(t->tw);
    t->tw = NULL;
  }
  finish(t, BRR_ECANCELED, NULL);
}

static void pypi_free(brr_task *task) {
  pypi_task *t = task->impl;
  brr_strv_free(t->files);
}

static const brr_task_ops PYPI_OPS = {"pypi-push", pypi_start, pypi_cancel, pypi_free, pypi_abort};

int brr_task_pypi_push_new(brr_runtime *rt, size_t node, brr_task **out) {
  pypi_task *t = brr_task_new(sizeof *t, &PYPI_OPS);
  t->task = &t->base;
  t->rt = rt;
  t->step = rt->graph->nodes[node].step;
  *out = t->task;
  return 0;
}
