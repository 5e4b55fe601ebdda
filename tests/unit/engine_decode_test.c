/* engine stream decoders: JSON lines and the multiplexed stdout/stderr stream, replayed from
 * streams captured from the real engine (tests/unit/data/engine/capture.sh) and split at
 * every byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brr/engine.h"

static brr_buf load(const char *name) {
  const char *src = getenv("BRR_SOURCE_DIR");
  char *path = brr_xasprintf("%s/tests/unit/data/engine/%s", src ? src : ".", name);
  brr_buf b = BRR_BUF_INIT;
  if (brr_read_file(path, &b) != 0) fail_msg("cannot read %s", path);
  free(path);
  return b;
}

/* ---- JSON lines ---------------------------------------------------------------------------- */

typedef struct jl_seen {
  brr_buf all;         /* every message, printed, one per line */
  size_t n;
  char *error;         /* first error */
  char *aux_id, *digest;
} jl_seen;

static int jl_cb(void *ud, const cJSON *msg) {
  jl_seen *s = ud;
  char *txt = cJSON_PrintUnformatted(msg);
  brr_buf_printf(&s->all, "%s\n", txt);
  cJSON_free(txt);
  s->n++;
  brr_engine_progress p;
  brr_engine_progress_parse(msg, &p);
  if (p.error && !s->error) s->error = brr_xstrdup(p.error);
  const cJSON *aux = cJSON_GetObjectItem(msg, "aux");
  const cJSON *id = aux ? cJSON_GetObjectItem(aux, "ID") : NULL;
  if (cJSON_IsString(id)) s->aux_id = brr_xstrdup(id->valuestring);
  const cJSON *dg = aux ? cJSON_GetObjectItem(aux, "Digest") : NULL;
  if (cJSON_IsString(dg)) s->digest = brr_xstrdup(dg->valuestring);
  return 0;
}

static void jl_clear(jl_seen *s) {
  brr_buf_free(&s->all);
  free(s->error);
  free(s->aux_id);
  free(s->digest);
  memset(s, 0, sizeof *s);
}

static void jl_run(const brr_buf *in, const size_t *cuts, size_t ncuts, jl_seen *s) {
  brr_engine_jsonl d = BRR_ENGINE_JSONL_INIT;
  size_t at = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : in->len;
    assert_int_equal(brr_engine_jsonl_feed(&d, in->data + at, end - at, jl_cb, s), 0);
    at = end;
  }
  assert_int_equal(brr_engine_jsonl_finish(&d, jl_cb, s), 0);
  brr_engine_jsonl_free(&d);
}

static size_t count_lines(const brr_buf *b) {
  size_t n = 0;
  for (size_t i = 0; i < b->len; i++) n += b->data[i] == '\n';
  return n;
}

/* Whole, then cut at every byte, then fed one byte at a time: always the same messages. */
static void jl_every_split(const char *file, jl_seen *whole) {
  brr_buf in = load(file);
  jl_run(&in, NULL, 0, whole);
  assert_int_equal(whole->n, count_lines(&in));
  for (size_t cut = 0; cut <= in.len; cut++) {
    jl_seen s = {0};
    jl_run(&in, &cut, 1, &s);
    assert_int_equal(s.n, whole->n);
    assert_string_equal(s.all.data, whole->all.data);
    jl_clear(&s);
  }
  size_t *cuts = brr_xmalloc(in.len * sizeof *cuts);
  for (size_t i = 0; i < in.len; i++) cuts[i] = i;
  jl_seen s = {0};
  jl_run(&in, cuts, in.len, &s);
  assert_string_equal(s.all.data, whole->all.data);
  jl_clear(&s);
  free(cuts);
  brr_buf_free(&in);
}

static void test_jsonl_build_ok(void **state) {
  (void)state;
  jl_seen s = {0};
  jl_every_split("build_ok.jsonl", &s);
  assert_null(s.error);
  assert_non_null(s.aux_id);
  assert_true(brr_startswith(s.aux_id, "sha256:"));
  jl_clear(&s);
}

static void test_jsonl_build_error_detail(void **state) {
  (void)state;
  jl_seen s = {0};
  jl_every_split("build_fail.jsonl", &s);
  assert_non_null(s.error);
  assert_string_equal(s.error, "The command '/bin/sh -c echo about to fail; exit 7' returned a "
                               "non-zero code: 7");
  assert_null(s.aux_id);
  jl_clear(&s);
}

static void test_jsonl_push_pull(void **state) {
  (void)state;
  jl_seen push = {0}, pull = {0};
  jl_every_split("push.jsonl", &push);
  jl_every_split("pull.jsonl", &pull);
  assert_null(push.error);
  assert_null(pull.error);
  assert_non_null(push.digest);
  /* the pull reports the digest in a status line: the same manifest came back */
  char *want = brr_xasprintf("\"Digest: %s\"", push.digest);
  assert_non_null(strstr(pull.all.data, want));
  free(want);
  jl_clear(&push);
  jl_clear(&pull);
}

static int stop_cb(void *ud, const cJSON *msg) {
  (void)msg;
  return ++*(int *)ud == 2 ? 42 : 0;
}

static void test_jsonl_edges(void **state) {
  (void)state;
  brr_engine_jsonl d = BRR_ENGINE_JSONL_INIT;
  jl_seen s = {0};
  /* blank lines and CRLF are fine; a last line without newline comes out at finish */
  const char *ok = "\r\n{\"a\":1}\r\n\n  {\"b\":2}  \n{\"c\":3}";
  assert_int_equal(brr_engine_jsonl_feed(&d, ok, strlen(ok), jl_cb, &s), 0);
  assert_int_equal(s.n, 2);
  assert_int_equal(brr_engine_jsonl_finish(&d, jl_cb, &s), 0);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.all.data, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
  jl_clear(&s);
  /* garbage, and two values on one line, are protocol errors */
  assert_int_equal(brr_engine_jsonl_feed(&d, "{\"a\":\n", 6, jl_cb, &s), BRR_EIO);
  assert_int_equal(brr_engine_jsonl_feed(&d, "{} {}\n", 6, jl_cb, &s), BRR_EIO);
  jl_clear(&s);
  /* the callback can stop the stream */
  int calls = 0;
  assert_int_equal(brr_engine_jsonl_feed(&d, "{}\n{}\n{}\n", 9, stop_cb, &calls), 42);
  assert_int_equal(calls, 2);
  /* errorDetail without message, and error alone, still fail */
  cJSON *m = cJSON_Parse("{\"errorDetail\":{}}");
  brr_engine_progress p;
  brr_engine_progress_parse(m, &p);
  assert_non_null(p.error);
  cJSON_Delete(m);
  m = cJSON_Parse("{\"error\":\"boom\"}");
  brr_engine_progress_parse(m, &p);
  assert_string_equal(p.error, "boom");
  cJSON_Delete(m);
  m = cJSON_Parse("{\"status\":\"Downloading\",\"id\":\"abc\",\"progress\":\"[=>]\"}");
  brr_engine_progress_parse(m, &p);
  assert_null(p.error);
  assert_string_equal(p.status, "Downloading");
  assert_string_equal(p.id, "abc");
  assert_string_equal(p.progress, "[=>]");
  cJSON_Delete(m);
  brr_engine_jsonl_free(&d);
}

/* ---- multiplexed stream ---------------------------------------------------------------------- */

/* What the capture's container printed, per stream. */
static void expected_output(brr_buf *out, brr_buf *err) {
  for (int i = 1; i <= 40; i++) {
    brr_buf_printf(out, "out%d\n", i);
    brr_buf_printf(err, "err%d\n", i);
  }
  for (int i = 0; i < 70000; i++) brr_buf_putc(out, 'x');
  brr_buf_puts(out, "\n");
  brr_buf_puts(err, "done\n");
}

/* Compares pieces against the expected bytes as they come, without copying them. */
typedef struct mux_check {
  const brr_buf *want[3];
  size_t at[3];
  size_t calls;
} mux_check;

static void mux_cb(void *ud, int stream, const char *data, size_t len) {
  mux_check *c = ud;
  assert_true(stream == BRR_ENGINE_STDOUT || stream == BRR_ENGINE_STDERR);
  const brr_buf *w = c->want[stream];
  assert_true(c->at[stream] + len <= w->len);
  if (memcmp(w->data + c->at[stream], data, len) != 0)
    fail_msg("stream %d differs at byte %zu", stream, c->at[stream]);
  c->at[stream] += len;
  c->calls++;
}

static void mux_run(const brr_buf *in, const size_t *cuts, size_t ncuts, const brr_buf *out,
                    const brr_buf *err) {
  brr_engine_mux d = BRR_ENGINE_MUX_INIT;
  mux_check c = {{NULL, out, err}, {0, 0, 0}, 0};
  size_t at = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : in->len;
    assert_int_equal(brr_engine_mux_feed(&d, in->data + at, end - at, mux_cb, &c), 0);
    at = end;
  }
  assert_int_equal(brr_engine_mux_finish(&d), 0);
  assert_int_equal(c.at[1], out->len);
  assert_int_equal(c.at[2], err->len);
  assert_int_equal(d.syserr.len, 0);
  brr_engine_mux_free(&d);
}

static void mux_every_split(const char *file) {
  brr_buf in = load(file), out = BRR_BUF_INIT, err = BRR_BUF_INIT;
  expected_output(&out, &err);
  mux_run(&in, NULL, 0, &out, &err);
  for (size_t cut = 0; cut <= in.len; cut++) mux_run(&in, &cut, 1, &out, &err);
  size_t *cuts = brr_xmalloc(in.len * sizeof *cuts);
  for (size_t i = 0; i < in.len; i++) cuts[i] = i;
  mux_run(&in, cuts, in.len, &out, &err);
  /* three pieces, cut around every frame header of the stream */
  for (size_t h = 0; h + 8 <= in.len;) {
    size_t len = (size_t)(unsigned char)in.data[h + 4] << 24 |
                 (size_t)(unsigned char)in.data[h + 5] << 16 |
                 (size_t)(unsigned char)in.data[h + 6] << 8 | (unsigned char)in.data[h + 7];
    for (size_t a = h; a <= h + 8; a++)
      for (size_t b = a; b <= h + 9 && b <= in.len; b++) {
        size_t two[2] = {a, b};
        mux_run(&in, two, 2, &out, &err);
      }
    h += 8 + len;
  }
  free(cuts);
  brr_buf_free(&in);
  brr_buf_free(&out);
  brr_buf_free(&err);
}

static void test_mux_attach(void **state) {
  (void)state;
  mux_every_split("mux_attach.bin");
}

static void test_mux_logs(void **state) {
  (void)state;
  mux_every_split("mux_logs.bin");
}

static void test_mux_tty_raw(void **state) {
  (void)state;
  brr_buf in = load("tty_logs.bin"), out = BRR_BUF_INIT, none = BRR_BUF_INIT;
  brr_buf_puts(&out, "tty-out\r\ntty-err\r\n");
  for (size_t cut = 0; cut <= in.len; cut++) {
    brr_engine_mux d = BRR_ENGINE_MUX_INIT;
    d.raw = true;
    mux_check c = {{NULL, &out, &none}, {0, 0, 0}, 0};
    assert_int_equal(brr_engine_mux_feed(&d, in.data, cut, mux_cb, &c), 0);
    assert_int_equal(brr_engine_mux_feed(&d, in.data + cut, in.len - cut, mux_cb, &c), 0);
    assert_int_equal(c.at[1], out.len);
    assert_int_equal(brr_engine_mux_finish(&d), 0);
    brr_engine_mux_free(&d);
  }
  brr_buf_free(&in);
  brr_buf_free(&out);
}

static void frame(brr_buf *b, int stream, const char *data, size_t len) {
  unsigned char h[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(len >> 24),
                        (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                        (unsigned char)len};
  brr_buf_append(b, h, 8);
  brr_buf_append(b, data, len);
}

static void test_mux_large_and_odd_frames(void **state) {
  (void)state;
  /* a 3 MiB frame, an empty frame, stdin echoed as stdout, then stderr */
  size_t big = 3u << 20;
  char *payload = brr_xmalloc(big);
  for (size_t i = 0; i < big; i++) payload[i] = (char)('a' + i % 26);
  brr_buf in = BRR_BUF_INIT, out = BRR_BUF_INIT, err = BRR_BUF_INIT;
  frame(&in, 1, payload, big);
  frame(&in, 2, "", 0);
  frame(&in, 0, "echo", 4);
  frame(&in, 2, "oops\n", 5);
  brr_buf_append(&out, payload, big);
  brr_buf_puts(&out, "echo");
  brr_buf_puts(&err, "oops\n");
  mux_run(&in, NULL, 0, &out, &err);
  size_t cuts[] = {1, 7, 8, 9, 65536, big + 7, big + 8, big + 9, big + 16, big + 20};
  mux_run(&in, cuts, BRR_ARRAY_LEN(cuts), &out, &err);
  for (size_t step = 1; step <= 32768; step *= 8) {
    size_t n = in.len / step;
    size_t *c = brr_xmalloc(n * sizeof *c);
    for (size_t i = 0; i < n; i++) c[i] = i * step;
    mux_run(&in, c, n, &out, &err);
    free(c);
  }
  free(payload);
  brr_buf_free(&in);
  brr_buf_free(&out);
  brr_buf_free(&err);
}

static void ignore_cb(void *ud, int stream, const char *data, size_t len) {
  (void)ud, (void)stream, (void)data, (void)len;
}

static void test_mux_errors(void **state) {
  (void)state;
  brr_engine_mux d = BRR_ENGINE_MUX_INIT;
  /* unknown stream id; non-zero padding */
  assert_int_equal(brr_engine_mux_feed(&d, "\x05\0\0\0\0\0\0\x01x", 9, ignore_cb, NULL), BRR_EIO);
  brr_engine_mux_free(&d);
  d = (brr_engine_mux)BRR_ENGINE_MUX_INIT;
  assert_int_equal(brr_engine_mux_feed(&d, "\x01\0\x01\0\0\0\0\x01x", 9, ignore_cb, NULL), BRR_EIO);
  brr_engine_mux_free(&d);
  /* cut inside a header, and inside a payload */
  d = (brr_engine_mux)BRR_ENGINE_MUX_INIT;
  assert_int_equal(brr_engine_mux_feed(&d, "\x01\0\0", 3, ignore_cb, NULL), 0);
  assert_int_equal(brr_engine_mux_finish(&d), BRR_EIO);
  brr_engine_mux_free(&d);
  d = (brr_engine_mux)BRR_ENGINE_MUX_INIT;
  assert_int_equal(brr_engine_mux_feed(&d, "\x01\0\0\0\0\0\0\x05xy", 10, ignore_cb, NULL), 0);
  assert_int_equal(brr_engine_mux_finish(&d), BRR_EIO);
  brr_engine_mux_free(&d);
  /* stream 3 carries the engine's own error, kept apart from the output */
  d = (brr_engine_mux)BRR_ENGINE_MUX_INIT;
  brr_buf in = BRR_BUF_INIT;
  frame(&in, 3, "exec failed", 11);
  assert_int_equal(brr_engine_mux_feed(&d, in.data, 5, ignore_cb, NULL), 0);
  assert_int_equal(brr_engine_mux_feed(&d, in.data + 5, in.len - 5, ignore_cb, NULL), 0);
  assert_string_equal(d.syserr.data, "exec failed");
  assert_int_equal(brr_engine_mux_finish(&d), 0);
  brr_engine_mux_free(&d);
  brr_buf_free(&in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jsonl_build_ok),
      cmocka_unit_test(test_jsonl_build_error_detail),
      cmocka_unit_test(test_jsonl_push_pull),
      cmocka_unit_test(test_jsonl_edges),
      cmocka_unit_test(test_mux_attach),
      cmocka_unit_test(test_mux_logs),
      cmocka_unit_test(test_mux_tty_raw),
      cmocka_unit_test(test_mux_large_and_odd_frames),
      cmocka_unit_test(test_mux_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
