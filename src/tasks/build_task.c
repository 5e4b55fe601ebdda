/* What the build-family tasks share on top of the task base (sched.h): beginning a step,
 * finishing exactly once through brr_task_end (the timer's close callback carries the
 * report, so no handle outlives the task), cancelling or aborting whatever is in flight, and
 * the buildx options of a step's build. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_internal.h"

void brr_btask_init(brr_btask *b, brr_runtime *rt, size_t node) {
  b->task = &b->base;
  b->rt = rt;
  b->node = node;
  b->n = &rt->graph->nodes[node];
  b->step = b->n->step;
}

bool brr_btask_begin(brr_btask *b, uv_loop_t *loop) {
  brr_task_timer(&b->base, loop);
  if (b->step == BRR_NO_STEP) return true;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_runtime_step_begin(b->rt, b->step, &d);
  if (rc != 0) brr_btask_finish(b, BRR_EIO, "%s", d.n ? d.v[0].msg : "cannot create the step's results directory");
  brr_diags_free(&d);
  return rc == 0;
}

void brr_btask_phase(brr_btask *b, const char *phase) { brr_task_set_phase(&b->base, phase); }

void brr_btask_finish(brr_btask *b, int status, const char *fmt, ...) {
  if (b->base.ending) return;
  bool cancelled = b->base.cancelled && status != 0;
  int st = cancelled ? BRR_ECANCELED : status;
  char *error = NULL;
  if (cancelled && b->stop_status) {
    /* stopped because of a failure (not a cancel): report that */
    st = b->stop_status;
    error = b->stop_error;
    b->stop_error = NULL;
  } else if (fmt && status != 0 && st != BRR_ECANCELED) {
    va_list ap;
    va_start(ap, fmt);
    error = brr_xvasprintf(fmt, ap);
    va_end(ap);
  }
  /* the base closes the timer; the report follows from its close callback */
  brr_task_end(&b->base, st, error);
  free(error);
}

void brr_btask_config_error(brr_btask *b, const brr_diags *d) {
  b->rt->config_failed = true;
  const brr_diag *first = NULL;
  for (size_t i = 0; i < d->n; i++) {
    char *line = brr_build_diag_line(&d->v[i]);
    brr_task_log(b->task, d->v[i].level == BRR_DIAG_ERROR ? BRR_LOG_ERROR : BRR_LOG_WARNING, "%s", line);
    free(line);
    if (!first && d->v[i].level == BRR_DIAG_ERROR) first = &d->v[i];
  }
  char *line = first ? brr_build_diag_line(first) : brr_xstrdup("configuration error");
  brr_btask_finish(b, BRR_ECONFIG, "%s", line);
  free(line);
}

static void timer_fired(uv_timer_t *t) {
  brr_btask *b = t->data;   /* the base is the btask's first member */
  void (*fn)(brr_btask *) = b->on_timer;
  b->on_timer = NULL;
  if (b->base.cancelled) {
    brr_btask_finish(b, BRR_ECANCELED, NULL);
    return;
  }
  fn(b);
}

void brr_btask_after(brr_btask *b, uint64_t ms, void (*fn)(brr_btask *b)) {
  b->on_timer = fn;
  uv_timer_start(&b->base.timer, timer_fired, ms, 0);
}

void brr_btask_stop(brr_btask *b, int status, const char *error) {
  if (b->stopping || b->base.ending) return;
  b->stop_status = status ? status : BRR_EFAILED;
  b->stop_error = brr_xstrdup(error ? error : "failed");
  brr_btask_cancel(b);
}

void brr_btask_cancel(brr_btask *b) {
  if (b->stopping || b->base.ending) return;
  b->stopping = true;
  b->base.cancelled = true;
  bool pending = false;
  if (b->req) {
    brr_engine_cancel(b->req);
    pending = true;
  }
  if (b->bx) {
    brr_buildx_cancel(b->bx);
    pending = true;
  }
  if (b->prep.running) {
    brr_build_prep_cancel(&b->prep);
    pending = true;
  }
  if (b->rreq) {
    brr_registry_cancel(b->rreq);
    pending = true;
  }
  if (b->bw) {
    /* the build registry's waiters are never told after a cancel */
    brr_build_registry_cancel(b->bw);
    b->bw = NULL;
  }
  if (!pending) brr_btask_finish(b, BRR_ECANCELED, NULL);
}

void brr_btask_abort(brr_btask *b) {
  if (b->base.ending) return;
  if (b->bx) {
    brr_buildx_abandon(b->bx);
    b->bx = NULL;
  }
  if (b->prep.running) return;  /* the worker cannot be stopped; its end finishes the task */
  b->stopping = true;
  b->base.cancelled = true;
  if (b->req) brr_engine_cancel(b->req);
  if (b->rreq) brr_registry_cancel(b->rreq);
  if (!b->req && !b->rreq) brr_btask_finish(b, BRR_ECANCELED, NULL);
}

void brr_btask_free(brr_btask *b) {
  brr_build_prep_free(&b->prep);
  free(b->stop_error);
}

void brr_btask_line(brr_btask *b, const char *source, int stream, const char *line, size_t len) {
  brr_buf l = BRR_BUF_INIT;
  brr_buf_append(&l, line, len);
  brr_buf_putc(&l, '\n');
  brr_task_output(b->task, source, stream, l.data, l.len);
  brr_buf_free(&l);
}

/* ---- buildx options ------------------------------------------------------------------------- */

void brr_bx_args_make(brr_runtime *rt, const brr_build *b, const char *builder, const char *tag,
                      brr_bx_args *out, brr_buildx_opts *o) {
  memset(out, 0, sizeof *out);
  out->buildargs = brr_build_args(b, rt->cfg->global.docker_registry);
  brr_build_cache_for(rt->cfg, b, builder, &out->cache_from, &out->cache_to);
  /* no labels: the image is what the Dockerfile says (--container-labels go on containers) */
  char *t = brr_build_platform_tag(tag);
  for (char *p = t; *p; p++)
    if (*p == ':') *p = '-';
  out->metadata = brr_xasprintf("%s/buildx-%s.json", rt->temp_dir, brr_path_basename(t));
  free(t);
  memset(o, 0, sizeof *o);
  o->tag = tag;
  o->builder = builder;
  o->target = b->target.s;
  o->no_cache = b->no_cache;
  o->pull = brr_build_should_pull(rt, b);
  o->buildargs = (const char *const *)out->buildargs;
  out->secrets = brr_xcalloc(b->secrets.n + 1, sizeof *out->secrets);
  for (size_t i = 0; i < b->secrets.n; i++) out->secrets[i] = brr_xstrdup(b->secrets.v[i].s ? b->secrets.v[i].s : "");
  o->secrets = (const char *const *)out->secrets;
  o->cache_from = (const char *const *)out->cache_from;
  o->cache_to = (const char *const *)out->cache_to;
  o->metadata_file = out->metadata;
  /* the same engine as brr's own calls: --context is passed on as DOCKER_CONTEXT */
  o->env = rt->docker_env;
}

void brr_bx_args_free(brr_bx_args *a) {
  brr_strv_free(a->buildargs);
  brr_strv_free(a->cache_from);
  brr_strv_free(a->cache_to);
  brr_strv_free(a->secrets);
  free(a->metadata);
  memset(a, 0, sizeof *a);
}
