/* brr's one process launcher (brr/spawn.h): every child brr starts (host commands of the
 * scheduler, buildx, credential helpers, ssh, twine, git) goes through brr_spawn_start, and
 * the blocking brr_spawn_sync / brr_spawn_capture run it on a private loop.
 *
 * The child leads a session of its own (brr_spawnattr_child), so the whole group can be
 * signalled (buildx and shells start helpers of their own) and a terminal's ^C reaches brr,
 * which decides. stdout/stderr are read through pipes (split into lines, collected, or passed
 * on raw), stdin is fed from memory, a file or /dev/null. The owner hears about the end only
 * after the exit and both EOFs, so no line is lost; memory goes when the last handle closed.
 *
 * Starting: uv_spawn forks, and fork costs grow with the parent's memory (peers.md §5: 1 ms
 * at 0 MiB, 16 ms at 800 MiB). Where the kernel has pidfds (Linux 5.3+) the child is started
 * with posix_spawn (vfork-like, flat cost, what ninja and make use) and its exit is watched
 * with uv_poll on the pidfd; elsewhere uv_spawn does the job. BRR_SPAWN=uv forces uv_spawn. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brr/util.h"
#include "brr/spawn.h"

#define ERR_TAIL 4096

typedef struct pipe_end {
  uv_pipe_t pipe;
  brr_spawn *s;
  int stream;              /* 1 stdout, 2 stderr */
  brr_linesplit lines;     /* the unterminated line so far */
} pipe_end;

struct brr_spawn {
  brr_spawn_opts o;
  uv_loop_t *loop;
  uv_process_t proc;       /* the child, when started by uv_spawn */
  uv_poll_t exit_watch;    /* its pidfd, when started by posix_spawn */
  int pidfd;
  bool posix;              /* started by posix_spawn */
  uv_pipe_t in;
  pipe_end out, err;
  uv_timer_t timer;        /* kill escalation, and the report of a failed start */
  uv_write_t wr;
  char *input;             /* owned copy of o.input */
  brr_buf collected, err_tail;
  int open;                /* handles not closed yet */
  int pid;
  bool exited, reported, killed, abandoned, started;
  int spawn_error;
  int64_t exit_status;
  int term_signal;
};

static void maybe_report(brr_spawn *s);

static void handle_closed(uv_handle_t *h) {
  brr_spawn *s = h->data;
  if (h == (uv_handle_t *)&s->exit_watch) close(s->pidfd);
  if (--s->open > 0) return;
  brr_linesplit_free(&s->out.lines);
  brr_linesplit_free(&s->err.lines);
  brr_buf_free(&s->collected);
  brr_buf_free(&s->err_tail);
  free(s->input);
  free(s);
}

static void close_handle(brr_spawn *s, uv_handle_t *h) {
  if (!uv_is_closing(h)) {
    h->data = s;
    uv_close(h, handle_closed);
  }
}

static void emit_line(void *ud, const char *line, size_t len) {
  pipe_end *p = ud;
  brr_spawn *s = p->s;
  if (!s->abandoned && s->o.on_line) s->o.on_line(s->o.ud, p->stream, line, len);
}

static void keep_tail(brr_buf *b, const char *data, size_t len) {
  brr_buf_append(b, data, len);
  if (b->len > 2 * ERR_TAIL) {
    memmove(b->data, b->data + b->len - ERR_TAIL, ERR_TAIL);
    b->len = ERR_TAIL;
    b->data[b->len] = '\0';
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char chunk[64 * 1024];
  /* reads are handled one at a time on the loop thread, each chunk before the next read */
  buf->base = chunk;
  buf->len = sizeof chunk;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  pipe_end *p = st->data;
  brr_spawn *s = p->s;
  if (nread > 0) {
    if (s->o.collect) {
      if (p->stream == 1) brr_buf_append(&s->collected, buf->base, (size_t)nread);
      else keep_tail(&s->err_tail, buf->base, (size_t)nread);
    } else if (s->o.on_data) {
      if (!s->abandoned) s->o.on_data(s->o.ud, p->stream, buf->base, (size_t)nread);
    } else {
      brr_linesplit_feed(&p->lines, buf->base, (size_t)nread, emit_line, p);
    }
    return;
  }
  if (nread == 0) return;
  if (!s->o.collect && !s->o.on_data) brr_linesplit_flush(&p->lines, emit_line, p);
  uv_read_stop(st);
  close_handle(s, (uv_handle_t *)st);
  maybe_report(s);
}

static void report(brr_spawn *s) {
  s->reported = true;
  if (!s->abandoned && s->o.on_exit) {
    brr_spawn_result r = {0};
    r.spawn_error = s->spawn_error;
    r.exit_status = s->exit_status;
    r.term_signal = s->term_signal;
    r.killed = s->killed;
    r.out = brr_buf_cstr(&s->collected);
    r.out_len = s->collected.len;
    r.err_tail = brr_buf_cstr(&s->err_tail);
    r.err_len = s->err_tail.len;
    s->o.on_exit(s->o.ud, &r);
  }
  uv_timer_stop(&s->timer);
  close_handle(s, (uv_handle_t *)&s->timer);
}

static bool pipe_open(brr_spawn *s, pipe_end *p) {
  (void)s;
  return !uv_is_closing((uv_handle_t *)&p->pipe);
}

static void maybe_report(brr_spawn *s) {
  if (s->reported || !s->exited || pipe_open(s, &s->out) || pipe_open(s, &s->err)) return;
  report(s);
}

static void exited(brr_spawn *s, int64_t status, int term_signal) {
  s->exited = true;
  s->exit_status = status;
  s->term_signal = term_signal;
  /* a grandchild may hold the pipes open: it belongs to the group and goes with it */
  if (s->killed && s->pid > 0) uv_kill(-s->pid, SIGKILL);
  maybe_report(s);
}

static void exit_cb(uv_process_t *proc, int64_t status, int term_signal) {
  brr_spawn *s = proc->data;
  close_handle(s, (uv_handle_t *)proc);
  exited(s, status, term_signal);
}

static void pidfd_cb(uv_poll_t *w, int status, int events) {
  brr_spawn *s = w->data;
  (void)status;
  (void)events;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0) return;
  uv_poll_stop(w);
  close_handle(s, (uv_handle_t *)w);
  if (si.si_code == CLD_EXITED) exited(s, si.si_status, 0);
  else exited(s, 0, si.si_status);
}

static void written(uv_write_t *w, int status) {
  (void)status;
  brr_spawn *s = w->data;
  close_handle(s, (uv_handle_t *)&s->in);
}

static void start_failed(uv_timer_t *t) {
  brr_spawn *s = t->data;
  report(s);
}

/* A child that exits before reading its stdin must not kill brr with SIGPIPE: the write
 * fails with EPIPE instead. The child gets every signal back at its default. */
static void ignore_sigpipe(void) {
  static bool done;
  if (done) return;
  done = true;
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
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

extern char **environ;

static void close_fds(int *fds, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

/* posix_spawn with the child's stdio set up as the options say; the parent keeps its ends of
 * the pipes in the uv pipes and watches the exit through a pidfd. 0 or a negative errno. */
static int start_posix(brr_spawn *s) {
  const brr_spawn_opts *o = &s->o;
  /* in: read, write; out: read, write; err: read, write */
  int fds[6] = {-1, -1, -1, -1, -1, -1};
  bool out_pipe = o->stdout_fd <= 0, err_pipe = o->stderr_fd <= 0;
  if ((o->input && pipe2(fds, O_CLOEXEC) < 0) || (out_pipe && pipe2(fds + 2, O_CLOEXEC) < 0) ||
      (err_pipe && pipe2(fds + 4, O_CLOEXEC) < 0)) {
    int e = errno;
    close_fds(fds, 6);
    return -e;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (o->input) posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  else if (o->stdin_fd > 0) posix_spawn_file_actions_adddup2(&fa, o->stdin_fd, 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe ? fds[3] : o->stdout_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe ? fds[5] : o->stderr_fd, 2);
  if (o->cwd) posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
  posix_spawnattr_t at;
  brr_spawnattr_child(&at);
  pid_t pid;
  int rc = posix_spawnp(&pid, o->argv[0], &fa, &at, (char *const *)o->argv, o->env ? o->env : environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  /* the child's ends */
  close_fds((int[]){fds[0], fds[3], fds[5]}, 3);
  if (rc != 0) {
    close_fds((int[]){fds[1], fds[2], fds[4]}, 3);
    return -rc;
  }
  s->pid = pid;
  s->pidfd = pidfd_open(pid, 0);
  if (s->pidfd < 0) {
    /* out of descriptors: the child cannot be watched, so it must not run unwatched */
    int e = errno;
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
    close_fds((int[]){fds[1], fds[2], fds[4]}, 3);
    return -e;
  }
  if (o->input) uv_pipe_open(&s->in, fds[1]);
  if (out_pipe) uv_pipe_open(&s->out.pipe, fds[2]);
  if (err_pipe) uv_pipe_open(&s->err.pipe, fds[4]);
  uv_poll_init(s->loop, &s->exit_watch, s->pidfd);
  s->exit_watch.data = s;
  uv_poll_start(&s->exit_watch, UV_READABLE, pidfd_cb);
  return 0;
}

static int start_uv(brr_spawn *s) {
  const brr_spawn_opts *o = &s->o;
  uv_stdio_container_t stdio[3];
  if (o->input) {
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&s->in;
  } else if (o->stdin_fd > 0) {
    stdio[0].flags = UV_INHERIT_FD;
    stdio[0].data.fd = o->stdin_fd;
  } else {
    stdio[0].flags = UV_IGNORE;   /* /dev/null */
  }
  if (o->stdout_fd > 0) {
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = o->stdout_fd;
  } else {
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&s->out.pipe;
  }
  if (o->stderr_fd > 0) {
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = o->stderr_fd;
  } else {
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&s->err.pipe;
  }
  uv_process_options_t po;
  memset(&po, 0, sizeof po);
  po.file = o->argv[0];
  po.args = (char **)o->argv;
  po.env = (char **)o->env;
  po.cwd = o->cwd;
  po.exit_cb = exit_cb;
  po.stdio = stdio;
  po.stdio_count = 3;
  po.flags = UV_PROCESS_DETACHED;   /* setsid(), as brr_spawnattr_child */
  s->proc.data = s;
  int rc = uv_spawn(s->loop, &s->proc, &po);
  s->open++;   /* the process handle: closed by exit_cb, or below after a failure */
  if (rc != 0) {
    close_handle(s, (uv_handle_t *)&s->proc);
    return rc;
  }
  s->pid = s->proc.pid;
  return 0;
}

brr_spawn *brr_spawn_start(uv_loop_t *loop, const brr_spawn_opts *o) {
  if (o->input) ignore_sigpipe();
  brr_spawn *s = brr_xcalloc(1, sizeof *s);
  s->o = *o;
  s->loop = loop;
  s->pidfd = -1;
  s->out.s = s->err.s = s;
  s->out.stream = 1;
  s->err.stream = 2;
  brr_linesplit_init(&s->out.lines, 0); /* no cut: the owner takes whole lines */
  brr_linesplit_init(&s->err.lines, 0);
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  s->open = 1;
  uv_pipe_init(loop, &s->out.pipe, 0);
  uv_pipe_init(loop, &s->err.pipe, 0);
  s->out.pipe.data = &s->out;
  s->err.pipe.data = &s->err;
  s->open += 2;
  if (o->input) {
    uv_pipe_init(loop, &s->in, 0);
    s->in.data = s;
    s->open++;
  }
  /* a stream the child writes straight to the caller's file: our end is done already */
  if (o->stdout_fd > 0) close_handle(s, (uv_handle_t *)&s->out.pipe);
  if (o->stderr_fd > 0) close_handle(s, (uv_handle_t *)&s->err.pipe);
  s->posix = use_posix_spawn();
  int rc = s->posix ? start_posix(s) : start_uv(s);
  if (rc != 0) {
    s->spawn_error = rc;
    s->exited = true;
    close_handle(s, (uv_handle_t *)&s->out.pipe);
    close_handle(s, (uv_handle_t *)&s->err.pipe);
    if (o->input) close_handle(s, (uv_handle_t *)&s->in);
    uv_timer_start(&s->timer, start_failed, 0, 0);
    return s;
  }
  if (s->posix) s->open++;   /* the exit watch */
  s->started = true;
  if (o->stdout_fd <= 0) uv_read_start((uv_stream_t *)&s->out.pipe, alloc_cb, read_cb);
  if (o->stderr_fd <= 0) uv_read_start((uv_stream_t *)&s->err.pipe, alloc_cb, read_cb);
  if (o->input) {
    s->input = brr_xmalloc(o->input_len + 1);
    memcpy(s->input, o->input, o->input_len);
    uv_buf_t b = uv_buf_init(s->input, (unsigned)o->input_len);
    s->wr.data = s;
    if (uv_write(&s->wr, (uv_stream_t *)&s->in, &b, 1, written) != 0) close_handle(s, (uv_handle_t *)&s->in);
  }
  return s;
}

static void escalate(uv_timer_t *t) {
  brr_spawn *s = t->data;
  if (s->pid > 0) uv_kill(-s->pid, SIGKILL);
}

void brr_spawn_kill(brr_spawn *s) {
  if (!s || s->reported || s->killed) return;
  s->killed = true;
  if (!s->started) return;
  /* the group outlives its leader while grandchildren hold it: signal it even after exit */
  uv_kill(-s->pid, SIGTERM);
  double after = s->o.kill_after_s > 0 ? s->o.kill_after_s : 5.0;
  uv_timer_start(&s->timer, escalate, (uint64_t)(after * 1000), 0);
}

void brr_spawn_kill_now(brr_spawn *s) {
  if (!s || s->reported) return;
  s->killed = true;
  if (s->started) uv_kill(-s->pid, SIGKILL);
}

void brr_spawn_abandon(brr_spawn *s) {
  if (!s || s->reported) return;
  s->abandoned = true;
  s->killed = true;
  if (s->started) uv_kill(-s->pid, SIGKILL);
}

int brr_spawn_pid(const brr_spawn *s) { return s && s->started ? s->pid : 0; }

/* ---- the blocking wrapper: the same launcher on a private loop ---- */

typedef struct sync_run {
  bool done;
  brr_spawn_result res;
  brr_buf *out;
  brr_spawn *s;
} sync_run;

static void sync_exit(void *ud, const brr_spawn_result *res) {
  sync_run *r = ud;
  r->done = true;
  r->res = *res;
  r->res.out = NULL;
  r->res.err_tail = NULL;
  if (r->out) brr_buf_append(r->out, res->out, res->out_len);
}

static void sync_timeout(uv_timer_t *t) {
  sync_run *r = t->data;
  brr_spawn_kill_now(r->s);
}

static int sync_run_child(const char *const *argv, char *const *env, int stdout_fd, int stderr_fd,
                          brr_buf *out, double timeout_s) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) return rc;
  sync_run r = {.out = out};
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.env = env;
  o.stdout_fd = stdout_fd;
  o.stderr_fd = stderr_fd;
  o.collect = true;
  o.on_exit = sync_exit;
  o.ud = &r;
  r.s = brr_spawn_start(&loop, &o);
  uv_timer_t timer;
  uv_timer_init(&loop, &timer);
  timer.data = &r;
  if (timeout_s > 0) uv_timer_start(&timer, sync_timeout, (uint64_t)(timeout_s * 1000), 0);
  while (!r.done) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&timer, NULL);
  /* the launcher's last handles close on the next turns */
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
  }
  uv_loop_close(&loop);
  if (r.res.spawn_error) return r.res.spawn_error;
  if (r.res.term_signal) return 128 + r.res.term_signal;
  return (int)r.res.exit_status;
}

int brr_spawn_sync(const char *const *argv, char *const *env, const char *err_path, double timeout_s) {
  int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0) return -errno;
  int err_fd = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (err_fd < 0) {
    int e = errno;
    close(null_fd);
    return -e;
  }
  int rc = sync_run_child(argv, env, null_fd, err_fd, NULL, timeout_s);
  close(null_fd);
  close(err_fd);
  return rc;
}

int brr_spawn_capture(const char *const *argv, char *const *env, brr_buf *out, double timeout_s) {
  int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0) return -errno;
  int rc = sync_run_child(argv, env, 0, null_fd, out, timeout_s);
  close(null_fd);
  return rc;
}
