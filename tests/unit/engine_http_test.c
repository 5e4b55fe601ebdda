/* engine client against a scripted HTTP server on the same loop: the behaviour the real
 * engine cannot be made to show on demand (a call that never answers, a transfer that
 * stalls, a stream cut inside a frame, an error without JSON). The real-engine proofs are
 * in tests/e2e/engine_*_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "brr/engine.h"

/* ---- the scripted server --------------------------------------------------------------------- */

typedef struct route {
  const char *request;           /* start of the request line, e.g. "GET /v1.41/x" */
  const char *const *pieces;     /* written one after the other, NULL-terminated */
  unsigned gap_ms;               /* between pieces */
  bool hang;                     /* after the last piece, keep the connection open */
} route;

static const route *routes;
/* A loop per test: one that fails leaves the client's handles behind, and that loop is
 * abandoned rather than closed. */
static uv_loop_t *test_loop;
#define loop (*test_loop)
static uv_tcp_t *server;
static int port;

typedef struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  brr_buf in;
  const route *rt;
  size_t next;
  int closing;
  struct conn *prev, *next_conn;   /* open connections, closed at teardown */
} conn;

static conn *conns;

static void conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (++c->closing == 2) {
    brr_buf_free(&c->in);
    free(c);
  }
}

static void conn_close(conn *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  if (c->prev) c->prev->next_conn = c->next_conn; else conns = c->next_conn;
  if (c->next_conn) c->next_conn->prev = c->prev;
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
  uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void written(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void send_next(uv_timer_t *t) {
  conn *c = t->data;
  const char *p = c->rt->pieces[c->next];
  if (!p) {
    if (!c->rt->hang) conn_close(c);
    return;
  }
  c->next++;
  uv_write_t *w = brr_xcalloc(1, sizeof *w);
  /* pieces may hold NULs (frame headers): the length is in the first byte pair */
  size_t len = (size_t)(unsigned char)p[0] << 8 | (unsigned char)p[1];
  uv_buf_t b = uv_buf_init((char *)p + 2, (unsigned)len);
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, written);
  uv_timer_start(&c->timer, send_next, c->rt->pieces[c->next] ? c->rt->gap_ms : 0, 0);
}

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  (void)h;
  b->base = brr_xmalloc(n);
  b->len = n;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn *c = s->data;
  if (n < 0) {
    free(b->base);
    conn_close(c);
    return;
  }
  brr_buf_append(&c->in, b->base, (size_t)n);
  free(b->base);
  if (c->rt || !strstr(brr_buf_cstr(&c->in), "\r\n\r\n")) return;
  for (const route *r = routes; r->request; r++)
    if (brr_startswith(c->in.data, r->request)) {
      c->rt = r;
      break;
    }
  if (!c->rt) fail_msg("no route for %.60s", c->in.data);
  send_next(&c->timer);
}

static void on_conn(uv_stream_t *srv, int status) {
  assert_int_equal(status, 0);
  conn *c = brr_xcalloc(1, sizeof *c);
  uv_tcp_init(&loop, &c->tcp);
  uv_timer_init(&loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->next_conn = conns;
  if (conns) conns->prev = c;
  conns = c;
  assert_int_equal(uv_accept(srv, (uv_stream_t *)&c->tcp), 0);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Pieces carry a two-byte length so they can hold NULs. */
static char *piece(const char *s, size_t len) {
  char *p = brr_xmalloc(len + 2);
  p[0] = (char)(len >> 8);
  p[1] = (char)len;
  memcpy(p + 2, s, len);
  return p;
}
#define P(lit) piece(lit, sizeof(lit) - 1)

static int setup(void **state) {
  (void)state;
  test_loop = brr_xcalloc(1, sizeof *test_loop);
  uv_loop_init(test_loop);
  server = brr_xcalloc(1, sizeof *server);
  uv_tcp_init(&loop, server);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(server, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)server, 64, on_conn), 0);
  struct sockaddr_in b;
  int len = sizeof b;
  uv_tcp_getsockname(server, (struct sockaddr *)&b, &len);
  port = ntohs(b.sin_port);
  return 0;
}

static void server_closed(uv_handle_t *h) { free(h); }

static int teardown(void **state) {
  (void)state;
  while (conns) conn_close(conns);
  uv_close((uv_handle_t *)server, server_closed);
  for (int i = 0; i < 10; i++) uv_run(&loop, UV_RUN_NOWAIT);
  if (uv_loop_close(test_loop) == 0) free(test_loop);
  test_loop = NULL;
  return 0;
}

/* ---- client side ------------------------------------------------------------------------------- */

typedef struct box {
  int calls, status;
  long http;
  char *error;
  int64_t exit_code;
  brr_buf out;
  uint64_t at;
} box;

static void box_cb(void *ud, const brr_engine_result *r) {
  box *b = ud;
  b->calls++;
  b->status = r->status;
  b->http = r->http_status;
  free(b->error);
  b->error = r->error ? brr_xstrdup(r->error) : NULL;
  b->exit_code = r->exit_code;
  b->at = brr_mono_ms();
}

static void box_out(void *ud, int stream, const char *data, size_t len) {
  (void)stream;
  brr_buf_append(&((box *)ud)->out, data, len);
}

static int box_data(void *ud, const char *data, size_t len) {
  brr_buf_append(&((box *)ud)->out, data, len);
  return 0;
}

static void box_free(box *b) {
  free(b->error);
  brr_buf_free(&b->out);
}

static brr_engine *client(int timeout_s) {
  char *host = brr_xasprintf("tcp://127.0.0.1:%d", port);
  brr_engine_opts o = {.host = host, .timeout_s = timeout_s};
  brr_engine *e = NULL;
  char *err = NULL;
  assert_int_equal(brr_engine_new(&loop, &o, &e, &err), 0);
  free(host);
  return e;
}

static void until(box *b) {
  uint64_t end = brr_mono_ms() + 20000;
  while (!b->calls) {
    assert_true(brr_mono_ms() < end);
    uv_run(&loop, UV_RUN_ONCE);
  }
}

static void done(brr_engine *e) {
  brr_engine_free(e);
  for (int i = 0; i < 10; i++) uv_run(&loop, UV_RUN_NOWAIT);
}

#define HDR200 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

/* ---- tests --------------------------------------------------------------------------------------- */

static char *version_piece;

static void test_plain_call_times_out(void **state) {
  (void)state;
  char *hello = P("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
  const char *never[] = {NULL};
  const char *ver[] = {version_piece, NULL};
  const char *ok[] = {hello, NULL};
  route r[] = {{"GET /version", ver, 0, false},
               {"GET /v1.41/containers/slow/json", never, 0, true},
               {"GET /v1.41/containers/fast/json", ok, 0, false},
               {NULL, NULL, 0, false}};
  routes = r;
  brr_engine *e = client(1);
  box slow = {0}, fast = {0};
  uint64_t t0 = brr_mono_ms();
  brr_engine_container_inspect(e, "slow", box_cb, &slow);
  brr_engine_container_inspect(e, "fast", box_cb, &fast);
  until(&slow);
  until(&fast);
  assert_int_equal(fast.status, 0);
  assert_int_equal(slow.status, BRR_ETIMEOUT);
  assert_true(slow.at - t0 >= 1000);
  assert_non_null(strstr(slow.error, "inspect container: "));
  assert_non_null(strstr(slow.error, "tcp://127.0.0.1:"));
  done(e);
  free(hello);
  box_free(&slow), box_free(&fast);
}

static void test_streams_are_not_cut(void **state) {
  (void)state;
  /* a wait answering after 2.5 s and a build silent for 2.5 s, with a 1 s limit */
  char *wait_hdr = P(HDR200 "\r\n");
  char *wait_body = P("{\"StatusCode\":4,\"Error\":null}\n");
  char *build_hdr = P(HDR200 "\r\n");
  char *b1 = P("{\"stream\":\"Step 1/1 : FROM x\\n\"}\r\n");
  char *b2 = P("{\"aux\":{\"ID\":\"sha256:abc\"}}\r\n");
  const char *ver[] = {version_piece, NULL};
  const char *wait[] = {wait_hdr, wait_body, NULL};
  const char *build[] = {build_hdr, b1, b2, NULL};
  route r[] = {{"GET /version", ver, 0, false},
               {"POST /v1.41/containers/c/wait", wait, 2500, false},
               {"POST /v1.41/build", build, 1250, false},
               {NULL, NULL, 0, false}};
  routes = r;
  brr_engine *e = client(1);
  box w = {0}, b = {0};
  brr_engine_container_wait(e, "c", NULL, box_cb, &w);
  brr_engine_body ctx = {.data = "tar", .len = 3};
  brr_engine_image_build(e, NULL, &ctx, NULL, box_cb, &b);
  until(&w);
  until(&b);
  assert_int_equal(w.status, 0);
  assert_int_equal(w.exit_code, 4);
  assert_int_equal(b.status, 0);
  done(e);
  free(wait_hdr), free(wait_body), free(build_hdr), free(b1), free(b2);
  box_free(&w), box_free(&b);
}

static void test_transfer_idle_limit(void **state) {
  (void)state;
  /* an archive that trickles a byte every 300 ms goes on; one that stalls is cut (the
   * limit is 2 s so a loaded machine does not stretch a gap past it) */
  char *hdr = P("HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n\r\n");
  char *x = P("x");
  const char *ver[] = {version_piece, NULL};
  const char *trickle[] = {hdr, x, x, x, x, x, x, NULL};
  const char *stall[] = {hdr, x, NULL};
  route r[] = {{"GET /version", ver, 0, false},
               {"GET /v1.41/containers/t/archive", trickle, 300, false},
               {"GET /v1.41/containers/s/archive", stall, 0, true},
               {NULL, NULL, 0, false}};
  routes = r;
  brr_engine *e = client(2);
  box t = {0}, s = {0};
  brr_engine_container_archive_get(e, "t", "/p", box_data, box_cb, &t);
  brr_engine_container_archive_get(e, "s", "/p", box_data, box_cb, &s);
  until(&t);
  until(&s);
  assert_int_equal(t.status, 0);
  assert_string_equal(t.out.data, "xxxxxx");
  assert_int_equal(s.status, BRR_ETIMEOUT);
  assert_string_equal(s.out.data, "x");
  done(e);
  free(hdr), free(x);
  box_free(&t), box_free(&s);
}

static void test_errors_and_cut_streams(void **state) {
  (void)state;
  char *text500 = P("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nboom\n");
  char *json409 = P("HTTP/1.1 409 Conflict\r\nContent-Length: 26\r\n\r\n{\"message\":\"name in use\"}\n");
  char *mux_hdr = P("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n");
  char *half = piece("\x01\0\0\0\0\0\0\x0ahello", 13);
  char *jl = P(HDR200 "\r\n{\"status\":\"working\"}\r\n{\"errorDetail\":{\"message\":\"it broke\"},"
               "\"error\":\"it broke\"}\r\n");
  const char *ver[] = {version_piece, NULL};
  const char *e500[] = {text500, NULL};
  const char *e409[] = {json409, NULL};
  const char *cut[] = {mux_hdr, half, NULL};
  const char *push[] = {jl, NULL};
  route r[] = {{"GET /version", ver, 0, false},
               {"GET /v1.41/containers/a/json", e500, 0, false},
               {"POST /v1.41/containers/create", e409, 0, false},
               {"GET /v1.41/containers/m/logs", cut, 0, false},
               {"POST /v1.41/images/r/push", push, 0, false},
               {NULL, NULL, 0, false}};
  routes = r;
  brr_engine *e = client(5);
  box a = {0}, c = {0}, m = {0}, p = {0};
  brr_engine_container_inspect(e, "a", box_cb, &a);
  brr_engine_container_spec spec = {.image = "img"};
  brr_engine_container_create(e, &spec, box_cb, &c);
  brr_engine_stream_opts so = {.tty = 0, .on_output = box_out};
  brr_engine_container_logs(e, "m", &so, box_cb, &m);
  brr_engine_image_push(e, "r:t", NULL, NULL, box_cb, &p);
  until(&a), until(&c), until(&m), until(&p);
  assert_int_equal(a.status, BRR_EFAILED);
  assert_string_equal(a.error, "inspect container: boom (HTTP 500)");
  assert_int_equal(c.status, BRR_EFAILED);
  assert_string_equal(c.error, "create container: name in use (HTTP 409)");
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_CONTAINER), 0);
  assert_int_equal(m.status, BRR_EIO);
  assert_string_equal(m.out.data, "hello");
  assert_non_null(strstr(m.error, "cut inside a frame"));
  assert_int_equal(p.status, BRR_EFAILED);
  assert_int_equal(p.http, 200);
  assert_string_equal(p.error, "push image: it broke");
  done(e);
  free(text500), free(json409), free(mux_hdr), free(half), free(jl);
  box_free(&a), box_free(&c), box_free(&m), box_free(&p);
}

/* Freeing the client from inside an output callback, i.e. from inside libcurl's write
 * callback: the operation ends once, with ECANCELED, and nothing is touched afterwards. */
typedef struct freer {
  brr_engine *e;
  box b;
  int outputs;
} freer;

static void free_on_output(void *ud, int stream, const char *data, size_t len) {
  (void)stream, (void)data, (void)len;
  freer *f = ud;
  f->outputs++;
  brr_engine_free(f->e);
}

static void freer_done(void *ud, const brr_engine_result *r) { box_cb(&((freer *)ud)->b, r); }

static void test_free_from_output(void **state) {
  (void)state;
  char *hdr = P("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n");
  char *f1 = piece("\x01\0\0\0\0\0\0\x03one\x02\0\0\0\0\0\0\x03two", 22);
  char *f2 = piece("\x01\0\0\0\0\0\0\x05three", 13);
  const char *ver[] = {version_piece, NULL};
  const char *logs[] = {hdr, f1, f2, NULL};
  route r[] = {{"GET /version", ver, 0, false},
               {"GET /v1.41/containers/f/logs", logs, 100, false},
               {NULL, NULL, 0, false}};
  routes = r;
  freer f = {.e = client(5)};
  brr_engine_stream_opts so = {.tty = 0, .follow = true, .on_output = free_on_output};
  brr_engine_container_logs(f.e, "f", &so, freer_done, &f);
  until(&f.b);
  for (int i = 0; i < 10; i++) uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(f.outputs, 1);
  assert_int_equal(f.b.calls, 1);
  assert_int_equal(f.b.status, BRR_ECANCELED);
  free(hdr), free(f1), free(f2);
  box_free(&f.b);
}

int main(void) {
  version_piece = P("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
                    "{\"ApiVersion\":\"1.41\",\"Version\":\"fake\"}\r\n");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_plain_call_times_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streams_are_not_cut, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transfer_idle_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_and_cut_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_from_output, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(version_piece);
  return rc;
}
