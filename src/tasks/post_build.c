/* The post-build node (spec §5 "post-build"): the run container's committed final state gets
 * a temporary tag, and a legacy build whose Dockerfile is `FROM <that tag>` followed by the
 * post-build Dockerfile makes the step's image. The temporary tag goes away afterwards. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_internal.h"
#include "run_internal.h"

typedef struct post_task {
  brr_task base;           /* first: the task base (sched.h) */
  brr_task *task;          /* &base */
  brr_runtime *rt;
  size_t step;
  char *tag;
  bool tagged;
  char *ctx;               /* the context tar */
  brr_build_inputs in;
  bool have_inputs;
  brr_engine_req *req;
  int status;
  char *error;
  bool config_error;
} post_task;

static void untag(post_task *p);

static void fail(post_task *p, int status, bool config, const char *fmt, ...) BRR_PRINTF(4, 5);
static void fail(post_task *p, int status, bool config, const char *fmt, ...) {
  if (!p->status) {
    va_list ap;
    va_start(ap, fmt);
    p->error = brr_xvasprintf(fmt, ap);
    va_end(ap);
    p->status = status;
    p->config_error = config;
  }
  untag(p);
}

static void report(post_task *p) {
  const brr_run *run = p->rt->cfg->steps[p->step].run;
  if (p->base.cancelled) {
    brr_task_end(p->task, BRR_ECANCELED, NULL);
    return;
  }
  if (p->status && run->xfail) {
    brr_task_log(p->task, BRR_LOG_INFO, "Step \"%s\" failed with exception: %s\n    Ignoring due to "
                 "XFAIL", p->rt->cfg->steps[p->step].name.s, p->error);
    brr_task_end(p->task, 0, NULL);
    return;
  }
  if (p->status && p->config_error) p->rt->config_failed = true;
  brr_task_end(p->task, p->status, p->error);
}

static void on_untagged(void *ud, const brr_engine_result *res) {
  post_task *p = ud;
  p->req = NULL;
  if (res->status != 0 && res->status != BRR_ENOENT && res->status != BRR_ECANCELED)
    brr_task_log(p->task, BRR_LOG_WARNING, "%s", res->error ? res->error : "cannot remove the tag");
  report(p);
}

static void untag(post_task *p) {
  if (p->ctx) {
    unlink(p->ctx);
    free(p->ctx);
    p->ctx = NULL;
  }
  if (!p->tagged) {
    report(p);
    return;
  }
  p->tagged = false;
  p->req = brr_engine_image_remove(brr_rt_engine(p->rt, p->step), p->tag, false, on_untagged, p);
}

static void on_progress(void *ud, const brr_engine_progress *pr) {
  post_task *p = ud;
  if (pr->stream) brr_task_output(p->task, NULL, BRR_ENGINE_STDOUT, pr->stream, strlen(pr->stream));
}

static void on_built(void *ud, const brr_engine_result *res) {
  post_task *p = ud;
  p->req = NULL;
  if (p->base.cancelled || res->status == BRR_ECANCELED) {
    untag(p);
    return;
  }
  if (res->status != 0) {
    fail(p, res->status, false, "%s", res->error ? res->error : "post-build failed");
    return;
  }
  brr_runtime_set(&p->rt->steps[p->step].post_build_image, res->id);
  brr_runtime_generated(p->rt, res->id);
  /* the run's image is now a layer of the post-build image: it goes when that one does (the
   * engine refuses to remove an image with children) */
  brr_engine_untrack(brr_rt_engine(p->rt, p->step), BRR_ENGINE_IMAGE, p->rt->steps[p->step].run_image);
  brr_task_log(p->task, BRR_LOG_INFO, "Post-build image: %.19s", res->id);
  untag(p);
}

/* The post-build Dockerfile with `FROM <tag>` in front, as inline text. */
static int prepend_from(post_task *p, brr_diags *d) {
  brr_buf df = BRR_BUF_INIT;
  brr_buf_printf(&df, "FROM %s\n", p->tag);
  if (p->in.dockerfile_text) {
    brr_buf_puts(&df, p->in.dockerfile_text);
  } else if (p->in.dockerfile_path) {
    int r = brr_read_file(p->in.dockerfile_path, &df);
    if (r != 0) {
      brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL, "reading %s: %s", p->in.dockerfile_path,
                                   brr_strerror(r));
      g->exit_code = BRR_EXIT_FAILED;
      brr_buf_free(&df);
      return BRR_EIO;
    }
  }
  free(p->in.dockerfile_path);
  free(p->in.dockerfile_text);
  p->in.dockerfile_path = NULL;
  p->in.dockerfile_text = brr_buf_detach(&df);
  /* an injected Dockerfile is now part of the text: the final one overrides it */
  p->in.dockerfile_injected = false;
  return 0;
}

static void build(post_task *p) {
  const brr_build *b = p->rt->cfg->steps[p->step].run->post_build;
  brr_diags d = BRR_DIAGS_INIT;
  char *dockerfile = NULL;
  p->ctx = brr_xasprintf("%s/post-build-%s.tar", p->rt->temp_dir, p->rt->steps[p->step].id);
  int rc = prepend_from(p, &d);
  if (rc == 0) rc = brr_build_context_tar(&p->in, p->ctx, &dockerfile, &d);
  if (rc != 0) {
    bool config = brr_diags_exit_code(&d) == BRR_EXIT_CONFIG;
    fail(p, config ? BRR_ECONFIG : BRR_EIO, config, "%s", d.n ? d.v[0].msg : "cannot make the context");
    brr_diags_free(&d);
    free(dockerfile);
    return;
  }
  brr_diags_free(&d);
  char **args = brr_build_args(b, p->rt->cfg->global.docker_registry);
  brr_engine_build_opts o = {0};
  o.dockerfile = dockerfile;
  o.buildargs = (const char *const *)args;
  o.target = b->target.s;
  o.nocache = b->no_cache;
  o.pull = false;   /* FROM is the local tag */
  brr_engine_body body = {.path = p->ctx};
  p->req = brr_engine_image_build(brr_rt_engine(p->rt, p->step), &o, &body, on_progress, on_built, p);
  brr_strv_free(args);
  free(dockerfile);
}

static void on_tagged(void *ud, const brr_engine_result *res) {
  post_task *p = ud;
  p->req = NULL;
  if (res->status == 0) p->tagged = true;
  if (p->base.cancelled || res->status == BRR_ECANCELED) {
    untag(p);
    return;
  }
  if (res->status != 0) {
    fail(p, res->status, false, "%s", res->error ? res->error : "tagging failed");
    return;
  }
  build(p);
}

static int post_start(brr_task *t, uv_loop_t *loop) {
  (void)loop;
  post_task *p = t->impl;
  brr_runtime *rt = p->rt;
  const brr_step *s = &rt->cfg->steps[p->step];
  const brr_step_state *st = &rt->steps[p->step];
  if (!st->run_image) {
    if (s->run->xfail) {
      brr_task_log(t, BRR_LOG_INFO, "No post-build: the run failed and was ignored (xfail)");
      brr_task_end(t, 0, NULL);
    } else {
      brr_task_end(t, BRR_EFAILED, "post-build: the run left no image");
    }
    return 0;
  }
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_build_inputs_resolve(s->run->post_build, rt->cfg->build_dir, s->name.s, &p->in, &d) != 0) {
    const brr_diag *g = d.v;
    char *msg = g && g->mark.file ? brr_xasprintf("%s:%u:%u: %s", g->mark.file, g->mark.line,
                                                  g->mark.col, g->msg)
                                  : brr_xstrdup(g ? g->msg : "bad post-build");
    p->have_inputs = false;
    fail(p, BRR_ECONFIG, true, "%s", msg);
    free(msg);
    brr_diags_free(&d);
    return 0;
  }
  p->have_inputs = true;
  brr_diags_free(&d);
  char *uuid = brr_uuid4();
  p->tag = brr_xasprintf("buildrunner-post-build-tag-%s", uuid);
  free(uuid);
  brr_task_log(t, BRR_LOG_INFO, "Running post-build processing");
  p->req = brr_engine_image_tag(brr_rt_engine(rt, p->step), st->run_image, p->tag, on_tagged, p);
  return 0;
}

static void post_cancel(brr_task *t) {
  post_task *p = t->impl;
  if (p->req) brr_engine_cancel(p->req);
}

static void post_free(brr_task *t) {
  post_task *p = t->impl;
  if (p->have_inputs) brr_build_inputs_free(&p->in);
  free(p->tag);
  free(p->ctx);
  free(p->error);
}

static const brr_task_ops POST_OPS = {"post-build", post_start, post_cancel, post_free, NULL};

int brr_task_post_build_new(brr_runtime *rt, size_t node, brr_task **out) {
  post_task *p = brr_task_new(sizeof *p, &POST_OPS);
  p->task = &p->base;
  p->rt = rt;
  p->step = rt->graph->nodes[node].step;
  *out = p->task;
  return 0;
}
