/* engine e2e, containers: version negotiation, DOCKER_HOST tcp://, create/start/attach/wait,
 * logs, exec, archive put/get, commit and error reporting, against the real engine. */
#include <archive.h>
#include <archive_entry.h>

#include "e2e/engine_helpers.h"

/* ---- tar helpers (libarchive) ------------------------------------------------------------------ */

static la_ssize_t tar_write(struct archive *a, void *ud, const void *p, size_t n) {
  (void)a;
  brr_buf_append(ud, p, n);
  return (la_ssize_t)n;
}

/* A tar of `n` files: names[i] holding datas[i] (lens[i] bytes). */
static brr_buf make_tar(const char **names, const char **datas, const size_t *lens, size_t n) {
  brr_buf b = BRR_BUF_INIT;
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &b, NULL, tar_write, NULL);
  for (size_t i = 0; i < n; i++) {
    struct archive_entry *en = archive_entry_new();
    archive_entry_set_pathname(en, names[i]);
    archive_entry_set_size(en, (la_int64_t)lens[i]);
    archive_entry_set_filetype(en, AE_IFREG);
    archive_entry_set_perm(en, 0644);
    assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, datas[i], lens[i]), (la_ssize_t)lens[i]);
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return b;
}

/* The content of `name` inside tar `t`, or NULL. */
static char *tar_get(const brr_buf *t, const char *name, size_t *len) {
  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  assert_int_equal(archive_read_open_memory(a, t->data, t->len), ARCHIVE_OK);
  struct archive_entry *en;
  char *out = NULL;
  while (!out && archive_read_next_header(a, &en) == ARCHIVE_OK) {
    if (strcmp(archive_entry_pathname(en), name) != 0) continue;
    size_t n = (size_t)archive_entry_size(en);
    out = brr_xmalloc(n + 1);
    assert_int_equal(archive_read_data(a, out, n), (la_ssize_t)n);
    out[n] = 0;
    *len = n;
  }
  archive_read_free(a);
  return out;
}

static int collect(void *ud, const char *data, size_t len) {
  brr_buf_append(&((box *)ud)->out, data, len);
  return 0;
}

/* ---- version negotiation and transports ----------------------------------------------------------- */

static void test_version_negotiation(void **state) {
  (void)state;
  box b = {0};
  brr_engine *e = engine_new(&loop, NULL, NULL);
  assert_null(brr_engine_api_version(e));
  RUN(&loop, &b, brr_engine_connect(e, box_cb, &b));
  ASSERT_OK(&b);
  assert_string_equal(brr_engine_api_version(e), "1.41");
  assert_string_equal(cJSON_GetObjectItem(b.json, "ApiVersion")->valuestring, "1.41");
  engine_done(&loop, e);

  /* a cap below the engine's is used as is: the call goes to /v1.40/ and works */
  e = engine_new(&loop, NULL, "1.40");
  RUN(&loop, &b, brr_engine_container_inspect(e, "brr-no-such-container", box_cb, &b));
  assert_string_equal(brr_engine_api_version(e), "1.40");
  assert_int_equal(b.status, BRR_ENOENT);
  assert_int_equal(b.http_status, 404);
  engine_done(&loop, e);

  /* never more than the engine has */
  e = engine_new(&loop, NULL, "1.99");
  RUN(&loop, &b, brr_engine_connect(e, box_cb, &b));
  ASSERT_OK(&b);
  assert_string_equal(brr_engine_api_version(e), "1.41");
  engine_done(&loop, e);

  /* no engine there: every queued operation hears why, naming the host */
  e = engine_new(&loop, "unix:///tmp/brr-no-engine.sock", NULL);
  box c = {0};
  brr_engine_container_spec spec = {.image = TEST_IMAGE};
  brr_engine_container_create(e, &spec, box_cb, &c);
  RUN(&loop, &b, brr_engine_connect(e, box_cb, &b));
  wait_one(&loop, &c, 10000);
  assert_int_equal(b.status, BRR_EIO);
  assert_int_equal(c.status, BRR_EIO);
  assert_non_null(strstr(c.error, "create container: "));
  assert_non_null(strstr(c.error, "unix:///tmp/brr-no-engine.sock"));
  assert_null(brr_engine_api_version(e));
  engine_done(&loop, e);
  box_clear(&b);
  box_clear(&c);

  /* unsupported schemes are refused up front */
  brr_engine_opts o = {.host = "npipe:////./pipe/docker_engine"};
  char *err = NULL;
  assert_int_equal(brr_engine_new(&loop, &o, &e, &err), BRR_EINVAL);
  assert_non_null(strstr(err, "npipe://"));
  free(err);
}

/* A TCP front for the engine's unix socket, on the test's loop, so DOCKER_HOST=tcp:// meets
 * the real engine. */
typedef struct fwd {
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  struct fwd *peer_of_pipe;
  int closing;
} fwd;

static void fwd_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  (void)h;
  b->base = brr_xmalloc(n);
  b->len = n;
}

static void fwd_closed(uv_handle_t *h) {
  fwd *f = h->data;
  if (++f->closing == 2) free(f);
}

static void fwd_close(fwd *f) {
  if (!uv_is_closing((uv_handle_t *)&f->tcp)) uv_close((uv_handle_t *)&f->tcp, fwd_closed);
  if (!uv_is_closing((uv_handle_t *)&f->pipe)) uv_close((uv_handle_t *)&f->pipe, fwd_closed);
}

static void fwd_written(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static void fwd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  fwd *f = s->data;
  if (n < 0) {
    free(b->base);
    fwd_close(f);
    return;
  }
  uv_stream_t *to = s == (uv_stream_t *)&f->tcp ? (uv_stream_t *)&f->pipe : (uv_stream_t *)&f->tcp;
  uv_write_t *w = brr_xcalloc(1, sizeof *w);
  w->data = b->base;
  uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
  if (n == 0 || uv_write(w, to, &out, 1, fwd_written) != 0) fwd_written(w, 0);
}

static void fwd_connected(uv_connect_t *c, int status) {
  fwd *f = c->data;
  free(c);
  if (status < 0) {
    fwd_close(f);
    return;
  }
  uv_read_start((uv_stream_t *)&f->tcp, fwd_alloc, fwd_read);
  uv_read_start((uv_stream_t *)&f->pipe, fwd_alloc, fwd_read);
}

static void fwd_accept(uv_stream_t *server, int status) {
  assert_int_equal(status, 0);
  fwd *f = brr_xcalloc(1, sizeof *f);
  uv_tcp_init(&loop, &f->tcp);
  uv_pipe_init(&loop, &f->pipe, 0);
  f->tcp.data = f->pipe.data = f;
  assert_int_equal(uv_accept(server, (uv_stream_t *)&f->tcp), 0);
  uv_connect_t *c = brr_xcalloc(1, sizeof *c);
  c->data = f;
  uv_pipe_connect(c, &f->pipe, "/var/run/docker.sock", fwd_connected);
}

static void test_tcp_host(void **state) {
  (void)state;
  uv_tcp_t server;
  uv_tcp_init(&loop, &server);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  assert_int_equal(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&server, 16, fwd_accept), 0);
  struct sockaddr_in bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
  char *host = brr_xasprintf("tcp://127.0.0.1:%d", ntohs(bound.sin_port));
  brr_engine *e = engine_new(&loop, host, NULL);
  box b = {0};
  const char *cmd[] = {"sh", "-c", "echo over tcp", NULL};
  brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = cmd};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *id = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, id, box_cb, &b));
  ASSERT_OK(&b);
  RUN(&loop, &b, brr_engine_container_wait(e, id, NULL, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.exit_code, 0);
  brr_engine_stream_opts so = {.tty = -1, .on_output = box_out};
  RUN(&loop, &b, brr_engine_container_logs(e, id, &so, box_cb, &b));
  ASSERT_OK(&b);
  assert_string_equal(b.out.data, "over tcp\n");
  cleanup_and_check(&loop, e);
  uv_close((uv_handle_t *)&server, NULL);
  engine_done(&loop, e);
  free(id);
  free(host);
  box_clear(&b);
}

/* ---- a container's life --------------------------------------------------------------------------- */

typedef struct run_ctx {
  brr_engine *e;
  const char *id;
  box att, start;
  int opened;
} run_ctx;

static void run_out(void *ud, int stream, const char *data, size_t len) {
  box_out(&((run_ctx *)ud)->att, stream, data, len);
}

static void run_done(void *ud, const brr_engine_result *res) {
  box_cb(&((run_ctx *)ud)->att, res);
}

static void run_open(void *ud) {
  run_ctx *r = ud;
  r->opened++;
  /* the stream is live: start now and nothing printed can be missed */
  brr_engine_container_start(r->e, r->id, box_cb, &r->start);
}

static void test_attach_wait_exit_code(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  box b = {0}, w = {0}, l = {0};
  const char *cmd[] = {"sh", "-c", "echo out1; echo err1 >&2; sleep 0.1; echo out2; exit 3", NULL};
  brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = cmd, .network = "none"};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_CONTAINER), 1);
  char *id = brr_xstrdup(b.id);
  run_ctx r = {.e = e, .id = id};
  /* tty unknown (-1): the client inspects the container to pick the decoder */
  brr_engine_stream_opts so = {.tty = -1, .on_output = run_out, .on_open = run_open};
  assert_non_null(brr_engine_container_attach(e, id, &so, run_done, &r));
  assert_non_null(brr_engine_container_wait(e, id, "next-exit", box_cb, &w));
  box *v[] = {&r.att, &r.start, &w};
  wait_all(&loop, v, 3, 60000);
  assert_int_equal(r.opened, 1);
  ASSERT_OK(&r.start);
  ASSERT_OK(&r.att);
  ASSERT_OK(&w);
  assert_int_equal(w.exit_code, 3);
  assert_string_equal(r.att.out.data, "out1\nout2\n");
  assert_string_equal(r.att.err.data, "err1\n");
  /* the logs say the same, split the same way */
  so = (brr_engine_stream_opts){.tty = 0, .on_output = box_out};
  RUN(&loop, &l, brr_engine_container_logs(e, id, &so, box_cb, &l));
  ASSERT_OK(&l);
  assert_string_equal(l.out.data, "out1\nout2\n");
  assert_string_equal(l.err.data, "err1\n");
  RUN(&loop, &b, brr_engine_container_remove(e, id, true, true, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_CONTAINER), 0);
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  free(id);
  box_clear(&b), box_clear(&w), box_clear(&l), box_clear(&r.att), box_clear(&r.start);
}

/* A running container to exec in and copy to and from. */
static char *start_sleeper(brr_engine *e, const char *const *labels) {
  box b = {0};
  const char *cmd[] = {"sleep", "300", NULL};
  brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = cmd, .network = "none",
                                    .labels = labels};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *id = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, id, box_cb, &b));
  ASSERT_OK(&b);
  box_clear(&b);
  return id;
}

static void test_exec(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  char *id = start_sleeper(e, NULL);
  box b = {0};
  const char *cmd[] = {"sh", "-c", "echo hi; echo ho >&2; pwd; echo $GREETING; exit 5", NULL};
  const char *env[] = {"GREETING=hello", NULL};
  brr_engine_exec_spec x = {.cmd = cmd, .env = env, .working_dir = "/tmp", .on_output = box_out};
  RUN(&loop, &b, brr_engine_exec_run(e, id, &x, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.exit_code, 5);
  assert_string_equal(b.out.data, "hi\n/tmp\nhello\n");
  assert_string_equal(b.err.data, "ho\n");
  assert_non_null(b.id);
  char *exec_id = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_exec_inspect(e, exec_id, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.exit_code, 5);
  /* with a TTY the output is raw: both streams arrive as stdout, with CRLF */
  x = (brr_engine_exec_spec){.cmd = cmd, .tty = true, .on_output = box_out};
  RUN(&loop, &b, brr_engine_exec_run(e, id, &x, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.exit_code, 5);
  assert_non_null(strstr(b.out.data, "hi\r\n"));
  assert_non_null(strstr(b.out.data, "ho\r\n"));
  assert_int_equal(b.err.len, 0);
  /* a command that does not exist: the shell's 127 */
  const char *nope[] = {"sh", "-c", "no-such-command", NULL};
  x = (brr_engine_exec_spec){.cmd = nope, .on_output = box_out};
  RUN(&loop, &b, brr_engine_exec_run(e, id, &x, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.exit_code, 127);
  /* no command at all is refused before anything is sent */
  x = (brr_engine_exec_spec){.cmd = NULL};
  RUN(&loop, &b, brr_engine_exec_run(e, id, &x, box_cb, &b));
  assert_int_equal(b.status, BRR_EINVAL);
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  free(exec_id);
  free(id);
  box_clear(&b);
}

/* A body producer that hands out the tar in small pieces and pauses now and then. */
typedef struct producer {
  const brr_buf *src;
  size_t at;
  int calls;
  brr_engine_req *req;
  uv_timer_t timer;
  bool paused;
} producer;

static void producer_wake(uv_timer_t *t) {
  producer *p = t->data;
  p->paused = false;
  brr_engine_resume(p->req);
}

static ssize_t producer_read(void *ud, char *buf, size_t cap) {
  producer *p = ud;
  if (++p->calls % 7 == 0 && !p->paused) {
    p->paused = true;
    uv_timer_start(&p->timer, producer_wake, 5, 0);
    return BRR_ENGINE_READ_PAUSE;
  }
  size_t n = p->src->len - p->at;
  if (n > cap) n = cap;
  if (n > 1000) n = 1000;
  memcpy(buf, p->src->data + p->at, n);
  p->at += n;
  return (ssize_t)n;
}

static void test_archive_roundtrip_and_commit(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  char *id = start_sleeper(e, NULL);
  size_t big_len = 300000;
  char *big = brr_xmalloc(big_len);
  for (size_t i = 0; i < big_len; i++) big[i] = (char)(i * 7919 % 251);
  const char *names[] = {"hello.txt", "data/big.bin"};
  const char *datas[] = {"hello brr\n", big};
  size_t lens[] = {10, big_len};
  brr_buf tar = make_tar(names, datas, lens, 2);
  box b = {0};
  /* from memory */
  brr_engine_body mem = {.data = tar.data, .len = tar.len};
  RUN(&loop, &b, brr_engine_container_archive_put(e, id, "/tmp", &mem, box_cb, &b));
  ASSERT_OK(&b);
  /* streamed from a producer that pauses: chunked upload */
  producer p = {.src = &tar};
  uv_timer_init(&loop, &p.timer);
  p.timer.data = &p;
  brr_engine_body prod = {.read = producer_read, .read_ud = &p, .size = -1};
  box_clear(&b);
  p.req = brr_engine_container_archive_put(e, id, "/root", &prod, box_cb, &b);
  wait_one(&loop, &b, 60000);
  ASSERT_OK(&b);
  assert_true(p.calls > 300);
  uv_close((uv_handle_t *)&p.timer, NULL);
  /* and back: the tar streams to the data callback */
  const char *from[] = {"/tmp/hello.txt", "/root/data"};
  const char *inside[] = {"hello.txt", "data/big.bin"};
  const char *want[] = {"hello brr\n", big};
  for (int i = 0; i < 2; i++) {
    RUN(&loop, &b, brr_engine_container_archive_get(e, id, from[i], collect, box_cb, &b));
    ASSERT_OK(&b);
    size_t n = 0;
    char *got = tar_get(&b.out, inside[i], &n);
    assert_non_null(got);
    assert_int_equal(n, lens[i]);
    assert_memory_equal(got, want[i], n);
    free(got);
  }
  RUN(&loop, &b, brr_engine_container_archive_get(e, id, "/no/such/path", collect, box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  assert_non_null(strstr(b.error, "(HTTP 404)"));

  /* commit: the file is in the image, which carries the run's labels */
  const char *changes[] = {"CMD [\"cat\", \"/tmp/hello.txt\"]", NULL};
  char *repo = brr_xasprintf("brr-e2e-commit-%s", brr_engine_run_id(e));
  brr_engine_commit_opts co = {.repo = repo, .tag = "v1", .changes = changes};
  RUN(&loop, &b, brr_engine_container_commit(e, id, &co, box_cb, &b));
  ASSERT_OK(&b);
  assert_true(brr_startswith(b.id, "sha256:"));
  char *image = brr_xstrdup(b.id);
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_IMAGE), 1);
  RUN(&loop, &b, brr_engine_image_inspect(e, image, box_cb, &b));
  ASSERT_OK(&b);
  const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(b.json, "Config"), "Labels");
  assert_string_equal(cJSON_GetObjectItem(labels, "brr.run")->valuestring, brr_engine_run_id(e));
  assert_string_equal(cJSON_GetObjectItem(labels, "brr.managed")->valuestring, "1");
  brr_engine_container_spec spec = {.image = image, .network = "none"};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *c2 = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, c2, box_cb, &b));
  RUN(&loop, &b, brr_engine_container_wait(e, c2, NULL, box_cb, &b));
  assert_int_equal(b.exit_code, 0);
  brr_engine_stream_opts so = {.tty = -1, .on_output = box_out};
  RUN(&loop, &b, brr_engine_container_logs(e, c2, &so, box_cb, &b));
  assert_string_equal(b.out.data, "hello brr\n");
  cleanup_and_check(&loop, e);
  /* the committed image is gone with its name */
  RUN(&loop, &b, brr_engine_image_inspect(e, image, box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  engine_done(&loop, e);
  free(c2), free(image), free(repo), free(id), free(big);
  brr_buf_free(&tar);
  box_clear(&b);
}

static void test_stop_and_kill(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  box b = {0}, w = {0};
  /* sh as PID 1 ignores SIGTERM: stop waits its grace period, then kills */
  char *id = start_sleeper(e, NULL);
  brr_engine_container_wait(e, id, NULL, box_cb, &w);
  uint64_t t0 = brr_mono_ms();
  RUN(&loop, &b, brr_engine_container_stop(e, id, 1, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.http_status, 204);
  assert_true(brr_mono_ms() - t0 >= 900);
  wait_one(&loop, &w, 30000);
  ASSERT_OK(&w);
  assert_int_equal(w.exit_code, 137);
  /* stopping a stopped container is not an error (the engine says 304) */
  RUN(&loop, &b, brr_engine_container_stop(e, id, 1, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.http_status, 304);
  /* starting it again works; kill with a signal the trap turns into an exit code */
  const char *trap[] = {"sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.05; done", NULL};
  brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = trap, .network = "none"};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *id2 = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, id2, box_cb, &b));
  ASSERT_OK(&b);
  spin(&loop, 200);
  box_clear(&w);
  brr_engine_container_wait(e, id2, NULL, box_cb, &w);
  RUN(&loop, &b, brr_engine_container_kill(e, id2, "SIGTERM", box_cb, &b));
  ASSERT_OK(&b);
  wait_one(&loop, &w, 30000);
  assert_int_equal(w.exit_code, 42);
  /* killing what does not run is the engine's 409, with its words */
  RUN(&loop, &b, brr_engine_container_kill(e, id2, NULL, box_cb, &b));
  assert_int_equal(b.status, BRR_EFAILED);
  assert_int_equal(b.http_status, 409);
  assert_non_null(strstr(b.error, "is not running"));
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  free(id), free(id2);
  box_clear(&b), box_clear(&w);
}

static void test_errors(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  box b = {0};
  RUN(&loop, &b, brr_engine_container_start(e, "brr-no-such-container", box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  assert_int_equal(b.http_status, 404);
  assert_string_equal(b.error, "start container: No such container: brr-no-such-container "
                               "(HTTP 404)");
  brr_engine_container_spec spec = {.image = "127.0.0.1:5000/brr-no-such-image:x"};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  assert_non_null(strstr(b.error, "No such image: 127.0.0.1:5000/brr-no-such-image:x"));
  /* a conflict is a failure with the engine's words */
  const char *bad[] = {"nope", NULL};
  spec = (brr_engine_container_spec){.image = TEST_IMAGE, .ports = bad};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  assert_int_equal(b.status, BRR_EFAILED);
  assert_non_null(strstr(b.error, "(HTTP 400)"));
  /* bad input never reaches the engine, and the callback still comes from the loop */
  box_clear(&b);
  brr_engine_stats before, after;
  brr_engine_get_stats(e, &before);
  assert_non_null(brr_engine_container_start(e, "has space", box_cb, &b));
  assert_int_equal(b.calls, 0);
  wait_one(&loop, &b, 5000);
  assert_int_equal(b.status, BRR_EINVAL);
  brr_engine_get_stats(e, &after);
  assert_int_equal(after.http_requests, before.http_requests);
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  box_clear(&b);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      ENGINE_TEST(test_version_negotiation),
      ENGINE_TEST(test_tcp_host),
      ENGINE_TEST(test_attach_wait_exit_code),
      ENGINE_TEST(test_exec),
      ENGINE_TEST(test_archive_roundtrip_and_commit),
      ENGINE_TEST(test_stop_and_kill),
      ENGINE_TEST(test_errors),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
