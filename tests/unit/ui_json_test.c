/* --progress=json stays valid UTF-8 JSON whatever bytes a step prints: invalid sequences
 * (stray continuation bytes, overlong forms, surrogates, truncated sequences, bytes above
 * U+10FFFF) become U+FFFD, NUL becomes a space, valid text passes unchanged; a runaway line
 * is split at a character boundary; version 2 keys (slot, waited, reason, phase events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/ui.h"
#include "unit/ui_support.h"

#define REPL "\xef\xbf\xbd"



/* An independent strict check of the whole output (RFC 3629 table 3-7). */
static bool valid_utf8(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return false;
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; k++)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    i += len;
  }
  return true;
}

typedef struct {
  const char *in;
  size_t len;
  const char *want;
} bytes_case;

static void test_json_bytes(void **state) {
  (void)state;
  static const bytes_case cases[] = {
      {"plain ascii", 11, "plain ascii"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"a\xff" "b", 3, "a" REPL "b"},
      {"\x80\xbf", 2, REPL REPL},                          /* stray continuation bytes */
      {"\xc0\xaf", 2, REPL REPL},                          /* overlong '/' */
      {"\xe0\x80\xaf", 3, REPL REPL REPL},                 /* overlong, 3 bytes */
      {"\xed\xa0\x80", 3, REPL REPL REPL},                 /* a UTF-16 surrogate */
      {"\xf4\x90\x80\x80", 4, REPL REPL REPL REPL},        /* above U+10FFFF */
      {"end\xe2\x82", 5, "end" REPL REPL},                 /* truncated at the end */
      {"nul\0in", 6, "nul in"},
      {"\x1b[31mred\x1b[0m\ttab", 16, "\x1b[31mred\x1b[0m\ttab"},  /* control chars escaped by cJSON */
  };
  int fd = tmpfd();
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_JSON, .fd = fd});
  const char *ids[] = {"s\xff/run"}, *labels[] = {"s\xff"};
  brr_event rs = {.type = BRR_EV_RUN_START, .n_total = 1, .node_ids = ids, .node_labels = labels, .jobs = 1};
  brr_bus_emit(bus, &rs);
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    brr_event ev = {.type = BRR_EV_NODE_OUTPUT, .step = "s\xff", .node = "s\xff/run", .stream = 2,
                    .text = cases[i].in, .len = cases[i].len};
    brr_bus_emit(bus, &ev);
  }
  brr_bus_log(bus, BRR_LOG_ERROR, NULL, "bad \xfe message");
  brr_ui_free(ui);
  brr_bus_free(bus);
  char *text = slurp(fd);
  close(fd);
  assert_true(valid_utf8((const unsigned char *)text, strlen(text)));
  size_t n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
    cJSON *o = cJSON_Parse(line);
    assert_non_null(o);
    if (n == 0) {
      assert_int_equal(cJSON_GetObjectItem(o, "version")->valueint, 2);
      assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "nodes"), 0), "id")->valuestring,
                          "s" REPL "/run");
    } else if (n <= BRR_ARRAY_LEN(cases)) {
      assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring, "output");
      assert_string_equal(cJSON_GetObjectItem(o, "step")->valuestring, "s" REPL);
      assert_string_equal(cJSON_GetObjectItem(o, "stream")->valuestring, "stderr");
      assert_string_equal(cJSON_GetObjectItem(o, "line")->valuestring, cases[n - 1].want);
    } else {
      assert_string_equal(cJSON_GetObjectItem(o, "message")->valuestring, "bad " REPL " message");
    }
    cJSON_Delete(o);
  }
  assert_int_equal(n, BRR_ARRAY_LEN(cases) + 2);
  free(text);
}

typedef struct {
  size_t n;
  char *line[4];
  size_t len[4];
} got;

static void on_line(void *ud, const brr_event *ev) {
  got *g = ud;
  if (ev->type != BRR_EV_NODE_OUTPUT || g->n >= 4) return;
  g->line[g->n] = brr_xstrndup(ev->text, ev->len);
  g->len[g->n++] = ev->len;
}

/* A line longer than BRR_LINES_MAX is split, never inside a character. */
static void test_split_at_char_boundary(void **state) {
  (void)state;
  brr_bus *bus = brr_bus_new();
  got g = {0};
  brr_bus_subscribe(bus, on_line, &g);
  brr_lines l;
  brr_lines_init(&l, bus, NULL, NULL, NULL, 1);
  size_t n = BRR_LINES_MAX + 8;
  char *big = malloc(n);
  memset(big, 'x', n);
  memcpy(big + BRR_LINES_MAX - 2, "\xe2\x82\xac", 3);   /* a euro sign across the cut */
  brr_lines_feed(&l, big, n);
  brr_lines_feed(&l, "\n", 1);
  assert_int_equal(g.n, 2);
  assert_int_equal(g.len[0], BRR_LINES_MAX - 2);
  assert_true(brr_startswith(g.line[1], "\xe2\x82\xac"));
  assert_int_equal(g.len[0] + g.len[1], n);
  /* a 4-byte character ending exactly at the cut stays whole in the first part */
  memset(big, 'y', n);
  memcpy(big + BRR_LINES_MAX - 4, "\xf0\x9f\x98\x80", 4);
  brr_lines_feed(&l, big, n);
  brr_lines_feed(&l, "\n", 1);
  assert_int_equal(g.n, 4);
  assert_int_equal(g.len[2], BRR_LINES_MAX);
  assert_int_equal(g.len[3], 8);
  for (size_t i = 0; i < g.n; i++) free(g.line[i]);
  free(big);
  brr_lines_free(&l);
  brr_bus_free(bus);
}

/* Version 2 keys: node_start carries slot and waited, phase events, run_end's steps carry
 * the reason a skipped step never ran. */
static void test_json_v2_keys(void **state) {
  (void)state;
  int fd = tmpfd();
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_JSON, .fd = fd});
  const char *ids[] = {"a/run", "b/run"}, *labels[] = {"a", "b"};
  brr_event ev = {.type = BRR_EV_RUN_START, .n_total = 2, .node_ids = ids, .node_labels = labels, .jobs = 2};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_NODE_START, .step = "a", .node = "a/run", .slot = 1, .wait_s = 2.5, .engine = "arm"};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_PHASE, .step = "a", .node = "a/run", .text = "pull", .len = 4};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_PHASE, .step = "a", .node = "a/run", .text = "pull", .len = 4, .phase_end = true};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_NODE_END, .step = "a", .node = "a/run", .status = BRR_STATUS_FAILED, .text = "exit status 1"};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_NODE_END, .step = "b", .node = "b/run", .status = BRR_STATUS_SKIPPED,
                   .text = "depends on a/run, which failed"};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_RUN_END, .n_total = 2, .n_failed = 1, .n_skipped = 1, .exit_code = 1, .jobs = 2};
  brr_bus_emit(bus, &ev);
  brr_ui_free(ui);
  brr_bus_free(bus);
  char *text = slurp(fd);
  close(fd);
  const char *types[] = {"run_start", "node_start", "phase", "phase", "node_end", "node_end", "run_end"};
  size_t n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
    cJSON *o = cJSON_Parse(line);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring, types[n]);
    if (n == 1) {
      assert_int_equal(cJSON_GetObjectItem(o, "slot")->valueint, 1);
      assert_true(cJSON_GetObjectItem(o, "waited")->valuedouble == 2.5);
      assert_string_equal(cJSON_GetObjectItem(o, "engine")->valuestring, "arm");   /* engines: */
    }
    if (n == 2 || n == 3) {
      assert_null(cJSON_GetObjectItem(o, "engine"));
      assert_string_equal(cJSON_GetObjectItem(o, "phase")->valuestring, "pull");
      assert_true(n == 3 ? cJSON_IsTrue(cJSON_GetObjectItem(o, "end")) : cJSON_IsFalse(cJSON_GetObjectItem(o, "end")));
    }
    if (n == 6) {
      cJSON *steps = cJSON_GetObjectItem(o, "steps");
      cJSON *a = cJSON_GetArrayItem(steps, 0), *b = cJSON_GetArrayItem(steps, 1);
      assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "reason")));
      assert_string_equal(cJSON_GetObjectItem(b, "status")->valuestring, "skipped");
      assert_string_equal(cJSON_GetObjectItem(b, "reason")->valuestring, "depends on a/run, which failed");
      assert_true(cJSON_GetObjectItem(a, "waited")->valuedouble == 2.5);
    }
    cJSON_Delete(o);
  }
  assert_int_equal(n, BRR_ARRAY_LEN(types));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_bytes),
      cmocka_unit_test(test_split_at_char_boundary),
      cmocka_unit_test(test_json_v2_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
