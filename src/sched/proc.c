/* A task kind that runs one child process: its stdout and stderr become output lines, its
 * exit status the result. The child leads its own process group, so a cancel reaches
 * whatever it started (a shell's children too), not only the child. The task reports only
 * after the process exited and both pipes reached EOF, so no line is lost.
 *
 * Spawning: libuv's uv_spawn forks, and fork costs grow with the parent's memory (peers.md
 * §5: 1 ms at 0 MiB, 16 ms at 800 MiB). Where the kernel has pidfds (Linux 5.3+) the child
 * is started with posix_spawn (vfork-like, flat cost, what ninja and make use) and its exit
 * is watched with uv_poll on the pidfd; elsewhere uv_spawn does the job. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brr/diag.h"
#include "brr/sched.h"

typedef struct proc_task {
  brr_task base;            /* first: the scheduler's view */
  char **argv, **env;
  char *cwd, *source;
  double kill_after_s;
  uv_process_t proc;         /* the child, when started by uv_spawn */
  uv_poll_t exit_watch;      /* its pidfd, when started by posix_spawn */
  int pidfd;
  uv_pipe_t out, err;
  uv_timer_t kill_timer;
  int pid;
  int open;                 /* handles not closed yet (process or pidfd watch, two pipes) */
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

extern char **environ;

static void exit_watch_closed(uv_handle_t *h) {
  proc_task *p = h->data;
  close(p->pidfd);
  handle_closed(h);
}

static void pidfd_cb(uv_poll_t *w, int status, int events) {
  proc_task *p = w->data;
  (void)status;
  (void)events;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0) return;
  p->exited = true;
  if (si.si_code == CLD_EXITED) p->exit_status = si.si_status;
  else p->term_signal = si.si_status;
  uv_poll_stop(w);
  uv_close((uv_handle_t *)w, exit_watch_closed);
}

/* posix_spawn needs pidfds to watch the exit; BRR_SPAWN=uv forces uv_spawn (to compare, or
 * to rule the fast path out when debugging). */
static bool use_posix_spawn(void) {
  static int have_pidfd = -1;
  const char *force = getenv("BRR_SPAWN");
  if (force && strcmp(force, "uv") == 0) return false;
  if (have_pidfd < 0) {
    int fd = pidfd_open(getpid(), 0);
    have_pidfd = fd >= 0;
    if (fd >= 0) close(fd);
  }
  return have_pidfd;
}

static void close_fds(int *fds, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

/* posix_spawn with the child's stdio on fresh pipes; the parent keeps the read ends. */
static int spawn_posix(proc_task *p, int *out_rd, int *err_rd) {
  int fds[4] = {-1, -1, -1, -1};
  if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0) {
    int e = errno;
    close_fds(fds, 4);
    return -e;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[3], 2);
  if (p->cwd) posix_spawn_file_actions_addchdir_np(&fa, p->cwd);
  posix_spawnattr_t at;
  brr_spawnattr_child(&at);
  pid_t pid;
  int rc = posix_spawnp(&pid, p->argv[0], &fa, &at, p->argv, p->env ? p->env : environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(fds[1]);
  close(fds[3]);
  if (rc != 0) {
    close(fds[0]);
    close(fds[2]);
    return -rc;
  }
  p->pid = pid;
  p->pidfd = pidfd_open(pid, 0);
  if (p->pidfd < 0) {
    /* out of descriptors: the child cannot be watched, so it must not run unwatched */
    int e = errno;
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    p->pid = 0;
    close(fds[0]);
    close(fds[2]);
    return -e;
  }
  *out_rd = fds[0];
  *err_rd = fds[2];
  return 0;
}

static int spawn_uv(proc_task *p, uv_loop_t *loop) {
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err},
  };
  uv_process_options_t o = {.exit_cb = exit_cb, .file = p->argv[0], .args = p->argv, .env = p->env,
                            .cwd = p->cwd, .flags = UV_PROCESS_DETACHED, .stdio_count = 3, .stdio = stdio};
  p->proc.data = p;
  int rc = uv_spawn(loop, &p->proc, &o);
  if (rc < 0) {
    uv_close((uv_handle_t *)&p->proc, handle_closed);
    return rc;
  }
  p->pid = p->proc.pid;
  return 0;
}

static int proc_start(brr_task *t, uv_loop_t *loop) {
  proc_task *p = (proc_task *)t;
  uv_pipe_init(loop, &p->out, 0);
  uv_pipe_init(loop, &p->err, 0);
  uv_timer_init(loop, &p->kill_timer);
  p->out.data = p->err.data = p->kill_timer.data = p->exit_watch.data = p;
  p->open = 3;
  int rc, out_rd = -1, err_rd = -1;
  if (use_posix_spawn()) {
    rc = spawn_posix(p, &out_rd, &err_rd);
    if (rc == 0) {
      uv_pipe_open(&p->out, out_rd);
      uv_pipe_open(&p->err, err_rd);
      uv_poll_init(loop, &p->exit_watch, p->pidfd);
      uv_poll_start(&p->exit_watch, UV_READABLE, pidfd_cb);
    } else {
      p->open--;   /* no exit watch was made */
    }
  } else {
    rc = spawn_uv(p, loop);
  }
  if (rc < 0) {
    /* the pipe handles exist either way; closing them reports the failure */
    p->spawn_error = rc;
    uv_close((uv_handle_t *)&p->out, handle_closed);
    uv_close((uv_handle_t *)&p->err, handle_closed);
    return 0;
  }
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
