/* An ssh:// engine, reached as the docker CLI reaches it: the `ssh` in PATH runs
 * `docker system dial-stdio` on the far side, so the user's ssh config, agent and known hosts
 * apply. libcurl needs a socket, so brr owns a relay for the run: a unix socket in a private
 * temp dir (0700) whose every accepted connection gets its own ssh process, bytes piped both
 * ways. The relay runs on a libuv loop of its own in a thread, so blocking calls (the
 * pre-flight, the cleanup of a signal path) work while the main loop is not running. Stopping
 * it kills every ssh (SIGKILL, by pid, each in its own session so a terminal's Ctrl-C does
 * not cut the cleanup's connections), joins the thread and removes the directory. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "internal.h"

#define HIGH_WATER (4u << 20)
#define LOW_WATER (1u << 20)

typedef struct conn conn;

struct brr_engine_ssh {
  uv_loop_t loop;
  uv_thread_t thread;
  uv_pipe_t server;
  uv_async_t stop;
  char *dir, *sock;
  char **argv;           /* ssh ... docker system dial-stdio */
  conn *conns;
  bool stopping;
  uv_mutex_t mu;
  char last_error[512];  /* ssh's last stderr line */
};

struct conn {
  brr_engine_ssh *s;
  conn *prev, *next;
  uv_pipe_t client;      /* curl's side */
  uv_process_t proc;
  uv_pipe_t in, out, err;/* ssh's stdin, stdout, stderr */
  uv_shutdown_t shut;    /* the client's write side, once ssh's output ended */
  int open;              /* handles not yet closed */
  bool closing, proc_started, proc_exited, out_eof, client_paused, out_paused;
};

typedef struct {
  uv_write_t w;
  conn *c;
  uv_stream_t *src;      /* whose reading to resume once this drains */
  char *data;
} wreq;

static void conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->open > 0) return;
  brr_engine_ssh *s = c->s;
  if (c->prev) c->prev->next = c->next; else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
}

static void close_h(conn *c, uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, conn_closed);
}

static void conn_close(conn *c) {
  if (c->closing) return;
  c->closing = true;
  /* by its pid, and only while it has not been reaped (the pid could be another's then) */
  if (c->proc_started && !c->proc_exited) uv_process_kill(&c->proc, SIGKILL);
  close_h(c, (uv_handle_t *)&c->client);
  if (c->proc_started) {
    close_h(c, (uv_handle_t *)&c->in);
    close_h(c, (uv_handle_t *)&c->out);
    close_h(c, (uv_handle_t *)&c->err);
    /* the process handle closes when it has exited (on_exit) */
  }
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  (void)h;
  b->base = brr_xmalloc(n);
  b->len = n;
}

static void resume(conn *c, uv_stream_t *src);

static void on_written(uv_write_t *w, int status) {
  wreq *r = (wreq *)w;
  conn *c = r->c;
  free(r->data);
  uv_stream_t *dst = w->handle;
  uv_stream_t *src = r->src;
  free(r);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (dst->write_queue_size < LOW_WATER) resume(c, src);
}

static void relay_read(uv_stream_t *src, ssize_t n, const uv_buf_t *b);

static void resume(conn *c, uv_stream_t *src) {
  bool *paused = src == (uv_stream_t *)&c->client ? &c->client_paused : &c->out_paused;
  if (!*paused) return;
  *paused = false;
  uv_read_start(src, on_alloc, relay_read);
}

static void client_shut(uv_shutdown_t *req, int status) {
  (void)status;
  conn_close(req->data);
}

static void relay_read(uv_stream_t *src, ssize_t n, const uv_buf_t *b) {
  conn *c = src->data;
  if (n == UV_EOF && src == (uv_stream_t *)&c->out && !c->closing) {
    /* the engine's side ended: what is queued for curl still goes out, then the end */
    free(b->base);
    uv_read_stop(src);
    c->out_eof = true;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->client, client_shut) != 0) conn_close(c);
    return;
  }
  if (n < 0 || c->closing) {
    free(b->base);
    /* curl closed the connection (or an error): it is over, the ssh goes */
    conn_close(c);
    return;
  }
  if (n == 0) {
    free(b->base);
    return;
  }
  bool from_client = src == (uv_stream_t *)&c->client;
  uv_stream_t *dst = from_client ? (uv_stream_t *)&c->in : (uv_stream_t *)&c->client;
  wreq *r = brr_xcalloc(1, sizeof *r);
  r->c = c;
  r->src = src;
  r->data = b->base;
  uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
  if (uv_write(&r->w, dst, &out, 1, on_written) != 0) {
    free(r->data);
    free(r);
    conn_close(c);
    return;
  }
  if (dst->write_queue_size > HIGH_WATER) {
    uv_read_stop(src);
    if (from_client) c->client_paused = true; else c->out_paused = true;
  }
}

static void err_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  conn *c = st->data;
  if (n > 0) {
    /* keep the last complete-looking line for messages */
    brr_engine_ssh *s = c->s;
    size_t len = (size_t)n;
    while (len && (b->base[len - 1] == '\n' || b->base[len - 1] == '\r')) len--;
    size_t start = len;
    while (start && b->base[start - 1] != '\n') start--;
    if (len > start) {
      uv_mutex_lock(&s->mu);
      snprintf(s->last_error, sizeof s->last_error, "%.*s", (int)(len - start), b->base + start);
      uv_mutex_unlock(&s->mu);
    }
  }
  free(b->base);
  if (n < 0) uv_read_stop(st);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  (void)status;
  (void)sig;
  conn *c = p->data;
  c->proc_exited = true;
  uv_close((uv_handle_t *)p, conn_closed);
  /* its output's end (read to the last byte) closes the connection; if that already went
   * wrong, close now */
  if (!c->out_eof && uv_is_closing((uv_handle_t *)&c->out)) conn_close(c);
}

static void on_connection(uv_stream_t *server, int status) {
  brr_engine_ssh *s = server->data;
  if (status < 0 || s->stopping) return;
  conn *c = brr_xcalloc(1, sizeof *c);
  c->s = s;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  uv_pipe_init(&s->loop, &c->client, 0);
  c->client.data = c;
  c->open = 1;
  if (uv_accept(server, (uv_stream_t *)&c->client) != 0) {
    conn_close(c);
    return;
  }
  uv_pipe_init(&s->loop, &c->in, 0);
  uv_pipe_init(&s->loop, &c->out, 0);
  uv_pipe_init(&s->loop, &c->err, 0);
  c->in.data = c->out.data = c->err.data = c;
  c->open += 3;
  uv_stdio_container_t stdio[3] = {
      {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&c->in},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err},
  };
  uv_process_options_t o = {0};
  o.file = s->argv[0];
  o.args = s->argv;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.exit_cb = on_exit_cb;
  o.flags = UV_PROCESS_DETACHED;  /* its own session: the terminal's ^C is brr's to handle */
  c->proc.data = c;
  int rc = uv_spawn(&s->loop, &c->proc, &o);
  if (rc != 0) {
    uv_mutex_lock(&s->mu);
    snprintf(s->last_error, sizeof s->last_error, "cannot run ssh: %s", uv_strerror(rc));
    uv_mutex_unlock(&s->mu);
    c->open++;
    uv_close((uv_handle_t *)&c->proc, conn_closed);  /* a failed spawn's handle is closed too */
    c->closing = true;
    close_h(c, (uv_handle_t *)&c->client);
    close_h(c, (uv_handle_t *)&c->in);
    close_h(c, (uv_handle_t *)&c->out);
    close_h(c, (uv_handle_t *)&c->err);
    return;
  }
  c->proc_started = true;
  c->open++;
  uv_read_start((uv_stream_t *)&c->client, on_alloc, relay_read);
  uv_read_start((uv_stream_t *)&c->out, on_alloc, relay_read);
  uv_read_start((uv_stream_t *)&c->err, on_alloc, err_read);
}

static void on_stop(uv_async_t *a) {
  brr_engine_ssh *s = a->data;
  s->stopping = true;
  for (conn *c = s->conns; c; c = c->next) conn_close(c);
  uv_close((uv_handle_t *)&s->server, NULL);
  uv_close((uv_handle_t *)&s->stop, NULL);
}

static void relay_main(void *ud) {
  brr_engine_ssh *s = ud;
  sigset_t all;
  sigfillset(&all);
  /* signals are the main thread's; a write to an ssh that died gets EPIPE, not SIGPIPE */
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  uv_run(&s->loop, UV_RUN_DEFAULT);
}

static char **ssh_argv(const char *dest, const char *port) {
  char **v = brr_xcalloc(16, sizeof *v);
  size_t n = 0;
  v[n++] = brr_xstrdup("ssh");
  v[n++] = brr_xstrdup("-T");
  v[n++] = brr_xstrdup("-o");
  v[n++] = brr_xstrdup("ConnectTimeout=30");
  if (port) {
    v[n++] = brr_xstrdup("-p");
    v[n++] = brr_xstrdup(port);
  }
  v[n++] = brr_xstrdup("--");
  /* ssh wants an IPv6 address without the URL's brackets */
  const char *at = strrchr(dest, '@');
  const char *h = at ? at + 1 : dest;
  if (*h == '[' && h[strlen(h) - 1] == ']')
    v[n++] = brr_xasprintf("%.*s%.*s", (int)(h - dest), dest, (int)(strlen(h) - 2), h + 1);
  else
    v[n++] = brr_xstrdup(dest);
  v[n++] = brr_xstrdup("docker");
  v[n++] = brr_xstrdup("system");
  v[n++] = brr_xstrdup("dial-stdio");
  v[n] = NULL;
  return v;
}

static void free_relay(brr_engine_ssh *s) {
  if (s->sock) unlink(s->sock);
  if (s->dir) rmdir(s->dir);
  free(s->sock);
  free(s->dir);
  brr_strv_free(s->argv);
  uv_mutex_destroy(&s->mu);
  free(s);
}

int brr_engine_ssh_start(const char *dest, const char *port, brr_engine_ssh **out, char **sock,
                         char **error) {
  *out = NULL;
  brr_engine_ssh *s = brr_xcalloc(1, sizeof *s);
  uv_mutex_init(&s->mu);
  s->argv = ssh_argv(dest, port);
  const char *tmp = getenv("TMPDIR");
  char *tmpl = brr_path_join(tmp && *tmp ? tmp : "/tmp", "brr-ssh-XXXXXX");
  if (!mkdtemp(tmpl)) {
    *error = brr_xasprintf("ssh engine: cannot make a temporary directory %s: %s", tmpl,
                           strerror(errno));
    free(tmpl);
    free_relay(s);
    return BRR_EIO;
  }
  s->dir = tmpl;
  char *path = brr_path_join(s->dir, "engine.sock");
  uv_loop_init(&s->loop);
  uv_pipe_init(&s->loop, &s->server, 0);
  s->server.data = s;
  int rc = uv_pipe_bind(&s->server, path);
  if (rc == 0) {
    s->sock = path;
    rc = uv_listen((uv_stream_t *)&s->server, 64, on_connection);
  } else {
    free(path);
  }
  if (rc == 0) {
    uv_async_init(&s->loop, &s->stop, on_stop);
    s->stop.data = s;
    rc = uv_thread_create(&s->thread, relay_main, s);
    if (rc != 0) uv_close((uv_handle_t *)&s->stop, NULL);
  }
  if (rc != 0) {
    *error = brr_xasprintf("ssh engine: cannot start the relay socket: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)&s->server, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    free_relay(s);
    return BRR_EIO;
  }
  *sock = brr_xstrdup(s->sock);
  *out = s;
  return 0;
}

void brr_engine_ssh_last_error(brr_engine_ssh *s, char *buf, size_t len) {
  uv_mutex_lock(&s->mu);
  snprintf(buf, len, "%s", s->last_error);
  uv_mutex_unlock(&s->mu);
}

void brr_engine_ssh_stop(brr_engine_ssh *s) {
  if (!s) return;
  uv_async_send(&s->stop);
  uv_thread_join(&s->thread);
  /* every handle is closed and every ssh reaped once the loop has nothing left */
  uv_loop_close(&s->loop);
  free_relay(s);
}
