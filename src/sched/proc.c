/* A task kind that runs one child process through uv_spawn: its stdout and stderr become
 * output lines, its exit status the result. The child leads its own process group, so a
 * cancel reaches whatever it started (a shell's children too), not only the child. The task
 * reports only after the process exited and both pipes reached EOF, so no line is lost. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "brr/diag.h"
#include "brr/sched.h"

typedef struct proc_task {
  brr_task base;            /* first: the scheduler's view */
  char **argv, **env;
  char *cwd, *source;
  double kill_after_s;
  uv_process_t proc;
  uv_pipe_t out, err;
  uv_timer_t kill_timer;
  int pid;
  int open;                 /* handles not closed yet (process, two pipes) */
  bool exited, canceled, timer_closing;
  int spawn_error;
  int64_t exit_status;
  int term_signal;
} proc_task;

/* Pipes are read one at a time on the loop thread, and each chunk is split into lines before
 * the next read, so one buffer serves every task. */
static char read_buf[64 * 1024];

static char **strv_dup(const char *const *v) {
  if (!v) return NULL;
  size_t n = 0;
  while (v[n]) n++;
  char **c = brr_xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) c[i] = brr_xstrdup(v[i]);
  return c;
}

static void report(proc_task *p) {
  char msg[160];
  if (p->spawn_error) {
    snprintf(msg, sizeof msg, "cannot run %s: %s", p->argv[0], uv_strerror(p->spawn_error));
    brr_task_done(&p->base, BRR_EFAILED, msg);
  } else if (p->canceled) {
    brr_task_done(&p->base, BRR_ECANCELED, NULL);
  } else if (p->term_signal) {
    const char *abbrev = sigabbrev_np(p->term_signal);
    snprintf(msg, sizeof msg, "killed by signal %d (SIG%s)", p->term_signal, abbrev ? abbrev : "?");
    brr_task_done(&p->base, BRR_EFAILED, msg);
  } else if (p->exit_status != 0) {
    snprintf(msg, sizeof msg, "exit status %lld", (long long)p->exit_status);
    brr_task_done(&p->base, BRR_EFAILED, msg);
  } else {
    brr_task_done(&p->base, 0, NULL);
  }
}

static void timer_closed(uv_handle_t *h) { report(h->data); }

static void handle_closed(uv_handle_t *h) {
  proc_task *p = h->data;
  /* the kill timer goes last: a cancel may still need it while a pipe drains */
  if (--p->open == 0 && !p->timer_closing) {
    p->timer_closing = true;
    uv_close((uv_handle_t *)&p->kill_timer, timer_closed);
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = read_buf;
  buf->len = sizeof read_buf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  proc_task *p = s->data;
  if (nread > 0) {
    brr_task_output(&p->base, p->source, s == (uv_stream_t *)&p->out ? 1 : 2, buf->base, (size_t)nread);
  } else if (nread < 0) {
    uv_close((uv_handle_t *)s, handle_closed);
  }
}

static void exit_cb(uv_process_t *proc, int64_t status, int term_signal) {
  proc_task *p = proc->data;
  p->exited = true;
  p->exit_status = status;
  p->term_signal = term_signal;
  uv_close((uv_handle_t *)proc, handle_closed);
}

static void kill_group(proc_task *p, int sig) {
  /* the group outlives its leader while grandchildren hold it, so signal it even after exit */
  if (p->pid > 0) uv_kill(-p->pid, sig);
}

static int proc_start(brr_task *t, uv_loop_t *loop) {
  proc_task *p = (proc_task *)t;
  uv_pipe_init(loop, &p->out, 0);
  uv_pipe_init(loop, &p->err, 0);
  uv_timer_init(loop, &p->kill_timer);
  p->out.data = p->err.data = p->kill_timer.data = p->proc.data = p;
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err},
  };
  uv_process_options_t o = {.exit_cb = exit_cb, .file = p->argv[0], .args = p->argv, .env = p->env,
                            .cwd = p->cwd, .flags = UV_PROCESS_DETACHED, .stdio_count = 3, .stdio = stdio};
  p->open = 3;
  int rc = uv_spawn(loop, &p->proc, &o);
  if (rc < 0) {
    /* the handles exist either way; closing them reports the failure */
    p->spawn_error = rc;
    uv_close((uv_handle_t *)&p->proc, handle_closed);
    uv_close((uv_handle_t *)&p->out, handle_closed);
    uv_close((uv_handle_t *)&p->err, handle_closed);
    return 0;
  }
  p->pid = p->proc.pid;
  uv_read_start((uv_stream_t *)&p->out, alloc_cb, read_cb);
  uv_read_start((uv_stream_t *)&p->err, alloc_cb, read_cb);
  return 0;
}

static void kill_cb(uv_timer_t *t) { kill_group(t->data, SIGKILL); }

static void proc_cancel(brr_task *t) {
  proc_task *p = (proc_task *)t;
  if (p->spawn_error || p->timer_closing) return;
  p->canceled = true;
  kill_group(p, SIGTERM);
  uv_timer_start(&p->kill_timer, kill_cb, (uint64_t)(p->kill_after_s * 1000), 0);
}

static void proc_abort(brr_task *t) {
  proc_task *p = (proc_task *)t;
  if (p->spawn_error || p->timer_closing) return;
  p->canceled = true;
  kill_group(p, SIGKILL);
}

static void proc_free(brr_task *t) {
  proc_task *p = (proc_task *)t;
  brr_strv_free(p->argv);
  brr_strv_free(p->env);
  free(p->cwd);
  free(p->source);
  free(p);
}

static const brr_task_ops proc_ops = {
    .name = "process", .start = proc_start, .cancel = proc_cancel, .free = proc_free, .abort = proc_abort};

brr_task *brr_proc_task_new(const char *const *argv, const brr_proc_opts *opts) {
  proc_task *p = brr_xcalloc(1, sizeof *p);
  p->base.ops = &proc_ops;
  p->base.impl = p;
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
