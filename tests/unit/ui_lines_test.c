/* The event bus and the line splitter: whole lines whatever the chunking, \r\n and lone \r
 * as line ends, a partial last line on flush, runaway lines cut at BRR_LINES_MAX, and one
 * FLUSH per feed that completed lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "brr/ui.h"

typedef struct seen {
  char *line[64];
  size_t len[64];
  size_t n, flushes, logs;
  const char *last_step, *last_source;
  int last_stream;
} seen;

static void on_event(void *ud, const brr_event *ev) {
  seen *s = ud;
  if (ev->type == BRR_EV_FLUSH) s->flushes++;
  if (ev->type == BRR_EV_LOG) s->logs++;
  if (ev->type != BRR_EV_NODE_OUTPUT) return;
  assert_true(ev->ts_ms > 0);
  s->line[s->n] = brr_xstrndup(ev->text, ev->len);
  s->len[s->n] = ev->len;
  s->n++;
  s->last_step = ev->step;
  s->last_source = ev->source;
  s->last_stream = ev->stream;
}

static void seen_free(seen *s) {
  for (size_t i = 0; i < s->n; i++) free(s->line[i]);
  memset(s, 0, sizeof *s);
}

static void feed_all(brr_lines *l, const char *const *chunks) {
  for (size_t i = 0; chunks[i]; i++) brr_lines_feed(l, chunks[i], strlen(chunks[i]));
}

static void expect(const seen *s, const char *const *want) {
  size_t n = 0;
  while (want[n]) n++;
  assert_int_equal(s->n, n);
  for (size_t i = 0; i < n; i++) assert_string_equal(s->line[i], want[i]);
}

static void run_case(const char *const *chunks, const char *const *want, bool flush) {
  brr_bus *bus = brr_bus_new();
  seen s = {0};
  brr_bus_subscribe(bus, on_event, &s);
  brr_lines l;
  brr_lines_init(&l, bus, "step", "step/run", "svc", 2);
  feed_all(&l, chunks);
  if (flush) brr_lines_flush(&l);
  expect(&s, want);
  if (s.n) {
    assert_string_equal(s.last_step, "step");
    assert_string_equal(s.last_source, "svc");
    assert_int_equal(s.last_stream, 2);
  }
  brr_lines_free(&l);
  seen_free(&s);
  brr_bus_free(bus);
}

static void test_chunking(void **state) {
  (void)state;
  run_case((const char *[]){"a\nb\n", NULL}, (const char *[]){"a", "b", NULL}, false);
  run_case((const char *[]){"ab", "c\nd", "e\n", NULL}, (const char *[]){"abc", "de", NULL}, false);
  run_case((const char *[]){"\n\n", NULL}, (const char *[]){"", "", NULL}, false);
  run_case((const char *[]){"x", "", "y", NULL}, (const char *[]){NULL}, false);
}

static void test_line_ends(void **state) {
  (void)state;
  run_case((const char *[]){"a\r\nb\r\n", NULL}, (const char *[]){"a", "b", NULL}, false);
  /* \r\n split across two chunks is one line end, not two */
  run_case((const char *[]){"x\r", "\ny\n", NULL}, (const char *[]){"x", "y", NULL}, false);
  /* progress bars: lone \r ends a line */
  run_case((const char *[]){"50%\r60%\r100%\n", NULL}, (const char *[]){"50%", "60%", "100%", NULL}, false);
  run_case((const char *[]){"a\r", "b\r", NULL}, (const char *[]){"a", "b", NULL}, true);
}

static void test_flush_partial(void **state) {
  (void)state;
  run_case((const char *[]){"one\ntail", NULL}, (const char *[]){"one", NULL}, false);
  run_case((const char *[]){"one\ntail", NULL}, (const char *[]){"one", "tail", NULL}, true);
  run_case((const char *[]){"done\n", NULL}, (const char *[]){"done", NULL}, true);
}

static void test_flush_events(void **state) {
  (void)state;
  brr_bus *bus = brr_bus_new();
  seen s = {0};
  brr_bus_subscribe(bus, on_event, &s);
  brr_lines l;
  brr_lines_init(&l, bus, NULL, NULL, NULL, 1);
  brr_lines_feed(&l, "a\nb\nc\n", 6);    /* three lines, one batch */
  assert_int_equal(s.flushes, 1);
  brr_lines_feed(&l, "part", 4);          /* no line: no flush */
  assert_int_equal(s.flushes, 1);
  brr_lines_flush(&l);
  assert_int_equal(s.flushes, 2);
  brr_lines_flush(&l);                    /* nothing pending */
  assert_int_equal(s.flushes, 2);
  assert_int_equal(s.n, 4);
  brr_lines_free(&l);
  seen_free(&s);
  brr_bus_free(bus);
}

static void test_runaway_line(void **state) {
  (void)state;
  brr_bus *bus = brr_bus_new();
  seen s = {0};
  brr_bus_subscribe(bus, on_event, &s);
  brr_lines l;
  brr_lines_init(&l, bus, NULL, NULL, NULL, 1);
  size_t n = BRR_LINES_MAX + 10;
  char *big = malloc(n);
  memset(big, 'x', n);
  brr_lines_feed(&l, big, 1000);
  brr_lines_feed(&l, big, n - 1000);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.len[0], BRR_LINES_MAX);
  brr_lines_feed(&l, "\n", 1);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.len[1], 10);
  free(big);
  brr_lines_free(&l);
  seen_free(&s);
  brr_bus_free(bus);
}

static void test_bus(void **state) {
  (void)state;
  brr_bus *bus = brr_bus_new();
  seen a = {0}, b = {0};
  brr_bus_subscribe(bus, on_event, &a);
  brr_bus_subscribe(bus, on_event, &b);
  brr_bus_log(bus, BRR_LOG_WARNING, "s", "hello %d", 42);
  assert_int_equal(a.logs, 1);
  assert_int_equal(b.logs, 1);
  brr_bus_unsubscribe(bus, on_event, &a);
  brr_bus_log(bus, BRR_LOG_INFO, NULL, "again");
  assert_int_equal(a.logs, 1);
  assert_int_equal(b.logs, 2);
  brr_bus_log(NULL, BRR_LOG_INFO, NULL, "no bus is fine");
  brr_bus_free(bus);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chunking),      cmocka_unit_test(test_line_ends),
      cmocka_unit_test(test_flush_partial), cmocka_unit_test(test_flush_events),
      cmocka_unit_test(test_runaway_line),  cmocka_unit_test(test_bus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
