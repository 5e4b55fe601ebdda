/* A task kind that runs one child process through brr's launcher (brr/spawn.h): its stdout
 * and stderr become output lines, its exit status the result. The child leads its own
 * process group, so a cancel reaches whatever it started (a shell's children too), not only
 * the child. The launcher reports only after the process exited and both pipes reached EOF,
 * so no line is lost; the task ends (brr_task_end) from that report. */
#include <stdlib.h>
#include <string.h>

#include "brr/diag.h"
#include "brr/sched.h"
#include "brr/spawn.h"

typedef struct proc_task {
  brr_task base;            /* first: the task base */
  char **argv, **env;
  char *cwd, *source;
  double kill_after_s;
  brr_spawn *child;         /* until its on_exit */
  int pid;
} proc_task;

static char **strv_dup(const char *const *v) {
  if (!v) return NULL;
  size_t n = 0;
  while (v[n]) n++;
  char **c = brr_xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) c[i] = brr_xstrdup(v[i]);
  return c;
}

static void on_data(void *ud, int stream, const char *data, size_t len) {
  proc_task *p = ud;
  brr_task_output(&p->base, p->source, stream, data, len);
}

static void on_exit_cb(void *ud, const brr_spawn_result *r) {
  proc_task *p = ud;
  p->child = NULL;
  char msg[160];
  if (r->spawn_error) {
    snprintf(msg, sizeof msg, "cannot run %s: %s", p->argv[0], uv_strerror(r->spawn_error));
    brr_task_end(&p->base, BRR_EFAILED, msg);
  } else if (p->base.cancelled || p->base.aborted) {
    brr_task_end(&p->base, BRR_ECANCELED, NULL);
  } else if (r->term_signal) {
    const char *abbrev = sigabbrev_np(r->term_signal);
    snprintf(msg, sizeof msg, "killed by signal %d (SIG%s)", r->term_signal, abbrev ? abbrev : "?");
    brr_task_end(&p->base, BRR_EFAILED, msg);
  } else if (r->exit_status != 0) {
    snprintf(msg, sizeof msg, "exit status %lld", (long long)r->exit_status);
    brr_task_end(&p->base, BRR_EFAILED, msg);
  } else {
    brr_task_end(&p->base, 0, NULL);
  }
}

static int proc_start(brr_task *t, uv_loop_t *loop) {
  proc_task *p = (proc_task *)t;
  brr_spawn_opts o = {0};
  o.argv = (const char *const *)p->argv;
  o.env = p->env;
  o.cwd = p->cwd;
  o.kill_after_s = p->kill_after_s;
  o.on_data = on_data;
  o.on_exit = on_exit_cb;
  o.ud = p;
  p->child = brr_spawn_start(loop, &o);
  p->pid = brr_spawn_pid(p->child);
  return 0;
}

/* SIGTERM to the group, SIGKILL after kill_after_s (the launcher's timer). */
static void proc_cancel(brr_task *t) { brr_spawn_kill(((proc_task *)t)->child); }

static void proc_abort(brr_task *t) { brr_spawn_kill_now(((proc_task *)t)->child); }

static void proc_free(brr_task *t) {
  proc_task *p = (proc_task *)t;
  brr_strv_free(p->argv);
  brr_strv_free(p->env);
  free(p->cwd);
  free(p->source);
}

static const brr_task_ops proc_ops = {
    .name = "process", .start = proc_start, .cancel = proc_cancel, .free = proc_free, .abort = proc_abort};

brr_task *brr_proc_task_new(const char *const *argv, const brr_proc_opts *opts) {
  proc_task *p = brr_task_new(sizeof *p, &proc_ops);
  p->argv = strv_dup(argv);
  p->kill_after_s = 5;
  if (opts) {
    p->env = strv_dup((const char *const *)opts->env);
    p->cwd = opts->cwd ? brr_xstrdup(opts->cwd) : NULL;
    p->source = opts->source ? brr_xstrdup(opts->source) : NULL;
    if (opts->kill_after_s > 0) p->kill_after_s = opts->kill_after_s;
  }
  return &p->base;
}

int brr_proc_task_pid(const brr_task *t) {
  return t && t->ops == &proc_ops ? ((const proc_task *)t)->pid : 0;
}
