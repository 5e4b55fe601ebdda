/* Child processes on the loop: uv_spawn with a new session (so the whole group can be
 * signalled: buildx starts helpers of its own), stdout/stderr read through pipes and split
 * into lines, stdin fed from memory. The owner hears about the end only after the exit and
 * both EOFs, so no line is lost; memory goes when the last handle is closed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

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
  uv_process_t proc;
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
  /* reads are handled one at a time on the loop thread */
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
    } else {
      brr_linesplit_feed(&p->lines, buf->base, (size_t)nread, emit_line, p);
    }
    return;
  }
  if (nread == 0) return;
  if (!s->o.collect) brr_linesplit_flush(&p->lines, emit_line, p);
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
  return !uv_is_closing((uv_handle_t *)&p->pipe);
}

static void maybe_report(brr_spawn *s) {
  if (s->reported || !s->exited || pipe_open(s, &s->out) || pipe_open(s, &s->err)) return;
  report(s);
}

static void exit_cb(uv_process_t *proc, int64_t status, int term_signal) {
  brr_spawn *s = proc->data;
  s->exited = true;
  s->exit_status = status;
  s->term_signal = term_signal;
  close_handle(s, (uv_handle_t *)proc);
  /* a grandchild may hold the pipes open: it belongs to the group and goes with it */
  if (s->killed && s->pid > 0) uv_kill(-s->pid, SIGKILL);
  maybe_report(s);
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
 * fails with EPIPE instead. uv_spawn resets every signal to its default in the child. */
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

brr_spawn *brr_spawn_start(uv_loop_t *loop, const brr_spawn_opts *o) {
  if (o->input) ignore_sigpipe();
  brr_spawn *s = brr_xcalloc(1, sizeof *s);
  s->o = *o;
  s->loop = loop;
  s->out.s = s->err.s = s;
  s->out.stream = 1;
  s->err.stream = 2;
  brr_linesplit_init(&s->out.lines, 0);   /* no cut: the owner takes whole lines */
  brr_linesplit_init(&s->err.lines, 0);
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  s->open = 1;
  uv_pipe_init(loop, &s->out.pipe, 0);
  uv_pipe_init(loop, &s->err.pipe, 0);
  s->out.pipe.data = &s->out;
  s->err.pipe.data = &s->err;
  s->open += 2;
  uv_stdio_container_t stdio[3];
  if (o->input) {
    uv_pipe_init(loop, &s->in, 0);
    s->in.data = s;
    s->open++;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&s->in;
  } else if (o->stdin_fd > 0) {
    stdio[0].flags = UV_INHERIT_FD;
    stdio[0].data.fd = o->stdin_fd;
  } else {
    stdio[0].flags = UV_IGNORE;
  }
  if (o->stdout_fd > 0) {
    /* the child writes straight to the caller's file: our end of stdout is done already */
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = o->stdout_fd;
    close_handle(s, (uv_handle_t *)&s->out.pipe);
  } else {
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&s->out.pipe;
  }
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&s->err.pipe;
  uv_process_options_t po;
  memset(&po, 0, sizeof po);
  po.file = o->argv[0];
  po.args = (char **)o->argv;
  po.env = (char **)o->env;
  po.cwd = o->cwd;
  po.exit_cb = exit_cb;
  po.stdio = stdio;
  po.stdio_count = 3;
  /* a session of its own: the whole group can be signalled, and a terminal's ^C reaches
   * brr, which decides */
  po.flags = UV_PROCESS_DETACHED;
  s->proc.data = s;
  int rc = uv_spawn(loop, &s->proc, &po);
  if (rc != 0) {
    s->spawn_error = rc;
    s->exited = true;
    close_handle(s, (uv_handle_t *)&s->proc);
    s->open++;
    if (o->stdout_fd <= 0) close_handle(s, (uv_handle_t *)&s->out.pipe);
    close_handle(s, (uv_handle_t *)&s->err.pipe);
    if (o->input) close_handle(s, (uv_handle_t *)&s->in);
    uv_timer_start(&s->timer, start_failed, 0, 0);
    return s;
  }
  s->open++;
  s->started = true;
  s->pid = s->proc.pid;
  if (o->stdout_fd <= 0) uv_read_start((uv_stream_t *)&s->out.pipe, alloc_cb, read_cb);
  uv_read_start((uv_stream_t *)&s->err.pipe, alloc_cb, read_cb);
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
  uv_kill(-s->pid, SIGTERM);
  double after = s->o.kill_after_s > 0 ? s->o.kill_after_s : 5.0;
  uv_timer_start(&s->timer, escalate, (uint64_t)(after * 1000), 0);
}

void brr_spawn_kill_now(brr_spawn *s) {
  if (!s || s->reported) return;
  s->killed = true;
  if (s->started && !s->exited) uv_kill(-s->pid, SIGKILL);
}

void brr_spawn_abandon(brr_spawn *s) {
  if (!s || s->reported) return;
  s->abandoned = true;
  s->killed = true;
  if (s->started && !s->exited) uv_kill(-s->pid, SIGKILL);
}

int brr_spawn_pid(const brr_spawn *s) { return s && s->started ? s->pid : 0; }

extern char **environ;

int brr_spawn_sync(const char *const *argv, char *const *env, const char *err_path, double timeout_s) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err_path ? err_path : "/dev/null",
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t at;
  brr_spawnattr_child(&at);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, env ? env : environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) return -rc;
  int status = 0;
  long steps = (long)(timeout_s * 100);
  for (long i = 0;; i++) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return -errno;
    if (i >= steps) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
