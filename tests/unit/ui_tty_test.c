/* The tty's live region at fixed sizes (no terminal needed): a line per running step with
 * its timer and last output line, the counts line with failures under --keep-going, the
 * estimate from history, names shortened with "…" and the clock kept at 40 columns, as many
 * step lines as the height allows; then on a real pseudo-terminal, how it is redrawn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/ui/ui_internal.h"

#define T0 1700000000000LL

static const char *IDS[] = {"app/build", "a-step-with-a-really-long-name/run", "lint/run", "docs/run", "push:r/x:1"};
static const char *LABELS[] = {"app", "a-step-with-a-really-long-name", "lint", "docs", "push:r/x:1"};
static const double EXPECTED[] = {60, 30, 5, 10, -1};

static void emit(brr_bus *bus, brr_event ev, int64_t at) {
  ev.ts_ms = T0 + at;
  brr_bus_emit(bus, &ev);
}

static void start(brr_bus *bus, const char *step, const char *node, int64_t at) {
  emit(bus, (brr_event){.type = BRR_EV_NODE_START, .step = step, .node = node}, at);
}

static void out(brr_bus *bus, const char *step, const char *node, const char *line, int64_t at) {
  emit(bus, (brr_event){.type = BRR_EV_NODE_OUTPUT, .step = step, .node = node, .text = line, .len = strlen(line)}, at);
}

static void end(brr_bus *bus, const char *step, const char *node, brr_status s, int64_t at) {
  emit(bus, (brr_event){.type = BRR_EV_NODE_END, .step = step, .node = node, .status = s, .text = "why", .len = 3}, at);
}

/* 3 steps running at 12 s, lint failed (--keep-going), the push skipped. */
static brr_ui *scripted(brr_bus *bus, int fd, bool history) {
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .fd = fd});
  assert_non_null(ui);
  emit(bus, (brr_event){.type = BRR_EV_RUN_START, .n_total = 5, .node_ids = IDS, .node_labels = LABELS,
                        .node_expected = history ? EXPECTED : NULL, .jobs = 4}, 0);
  start(bus, "app", "app/build", 0);
  start(bus, LABELS[1], IDS[1], 2000);
  start(bus, "lint", "lint/run", 2000);
  out(bus, "app", "app/build", "Step 3/7 : RUN make", 5000);
  out(bus, LABELS[1], IDS[1], "\033[31mred\033[0m and a very long line that goes on and on and on and on and on", 6000);
  end(bus, "lint", "lint/run", BRR_STATUS_FAILED, 7000);
  end(bus, NULL, "push:r/x:1", BRR_STATUS_SKIPPED, 7000);
  start(bus, "docs", "docs/run", 9000);
  return ui;
}

static size_t columns(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\033') {   /* skip an SGR sequence */
      while (i < len && s[i] != 'm') i++;
      continue;
    }
    if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
  }
  return n;
}

static char **split(const char *text, size_t *n) { return brr_split(text, '\n', n); }

static void check_widths(char **lines, size_t n, size_t max) {
  for (size_t i = 0; i < n; i++) {
    if (columns(lines[i], strlen(lines[i])) > max) fail_msg("line %zu is %zu columns: '%s'", i, columns(lines[i], strlen(lines[i])), lines[i]);
  }
}

static void test_region_wide(void **state) {
  (void)state;
  int fd = open("/dev/null", O_WRONLY);
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = scripted(bus, fd, true);
  brr_buf b = BRR_BUF_INIT;
  size_t got = brr__ui_tty_region(ui, &b, 100, 40, T0 + 12000);
  size_t n;
  char **lines = split(b.data, &n);
  assert_int_equal(got, 4);
  assert_int_equal(n, 4);
  /* steps in start order, each with its own timer and last line; control bytes as spaces */
  assert_string_equal(lines[0], "=> app                             0:12  Step 3/7 : RUN make");
  assert_true(brr_startswith(lines[1], "=> a-step-with-a-really-long-name  0:10   [31mred [0m and a very long line"));
  assert_true(brr_endswith(lines[1], "\xe2\x80\xa6"));
  assert_string_equal(lines[2], "=> docs                            0:03");
  /* lint's failure shows in the counts; 60 s of app left at most; work spread: 48+20+7 over 3 */
  assert_string_equal(lines[3], "[2/5] 0 done, 3 running, 0 waiting, 1 failed, 1 skipped  0:12  ~0:48 left");
  check_widths(lines, n, 99);
  brr_strv_free(lines);
  brr_buf_free(&b);
  brr_ui_free(ui);
  brr_bus_free(bus);
  close(fd);
}

static void test_region_narrow_and_short(void **state) {
  (void)state;
  int fd = open("/dev/null", O_WRONLY);
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = scripted(bus, fd, false);
  brr_buf b = BRR_BUF_INIT;
  brr__ui_tty_region(ui, &b, 40, 40, T0 + 12000);
  size_t n;
  char **lines = split(b.data, &n);
  assert_int_equal(n, 4);
  check_widths(lines, n, 39);
  assert_true(brr_startswith(lines[1], "=> a-step-with-\xe2\x80\xa6  0:10"));
  /* the clock stays, no estimate without history */
  assert_true(brr_endswith(lines[3], " 0:12"));
  assert_null(strstr(lines[3], "left"));
  assert_string_equal(lines[3], "[2/5] 3 run 0 wait 1 fail 1 skip  0:12");
  brr_strv_free(lines);
  brr_buf_reset(&b);
  /* a terminal of 6 rows leaves 3 for the steps: all 3 show */
  assert_int_equal(brr__ui_tty_region(ui, &b, 80, 6, T0 + 12000), 4);
  brr_buf_reset(&b);
  /* 5 rows leave 2: one step and "2 more" */
  brr__ui_tty_region(ui, &b, 80, 5, T0 + 12000);
  lines = split(b.data, &n);
  assert_int_equal(n, 3);
  assert_true(brr_startswith(lines[0], "=> app"));
  assert_string_equal(lines[1], "=> 2 more running");
  brr_strv_free(lines);
  brr_buf_reset(&b);
  /* 20 columns: still the clock */
  brr__ui_tty_region(ui, &b, 20, 3, T0 + 72000);
  lines = split(b.data, &n);
  assert_int_equal(n, 1);
  check_widths(lines, n, 19);
  assert_true(brr_endswith(lines[0], " 1:12"));
  brr_strv_free(lines);
  brr_buf_free(&b);
  brr_ui_free(ui);
  brr_bus_free(bus);
  close(fd);
}

static void test_fit(void **state) {
  (void)state;
  brr_buf b = BRR_BUF_INIT;
  assert_int_equal(brr__ui_fit(&b, "h\xc3\xa9llo", 6, 5), 5);
  assert_string_equal(b.data, "h\xc3\xa9llo");
  brr_buf_reset(&b);
  assert_int_equal(brr__ui_fit(&b, "h\xc3\xa9llo", 6, 3), 3);
  assert_string_equal(b.data, "h\xc3\xa9\xe2\x80\xa6");
  brr_buf_reset(&b);
  brr__ui_fit(&b, "a\tb\rc", 5, 10);
  assert_string_equal(b.data, "a b c");
  brr_buf_free(&b);
}

static char *drain(int master) {
  brr_buf b = BRR_BUF_INIT;
  char tmp[4096];
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  ssize_t r;
  while ((r = read(master, tmp, sizeof tmp)) > 0) brr_buf_append(&b, tmp, (size_t)r);
  return brr_buf_detach(&b);
}

/* On a terminal: a line erases the whole region (one erase per line of it), prints, and
 * draws it again in the same write; the summary leaves no region behind. */
static void test_pty_redraw(void **state) {
  (void)state;
  int master, slave;
  struct winsize ws = {.ws_row = 24, .ws_col = 60};
  assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
  setenv("TERM", "xterm", 1);
  unsetenv("FORCE_COLOR");
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_TTY, .fd = slave, .no_color = true});
  const char *ids[] = {"a/run", "b/run"}, *labels[] = {"a", "b"};
  brr_event ev = {.type = BRR_EV_RUN_START, .n_total = 2, .node_ids = ids, .node_labels = labels, .jobs = 2};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_NODE_START, .step = "a", .node = "a/run"};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_NODE_START, .step = "b", .node = "b/run"};
  brr_bus_emit(bus, &ev);
  free(drain(master));
  ev = (brr_event){.type = BRR_EV_NODE_OUTPUT, .step = "a", .node = "a/run", .text = "hello", .len = 5};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_FLUSH};
  brr_bus_emit(bus, &ev);
  char *d = drain(master);
  /* 3 region lines erased, the line, then the region again with a's last line */
  assert_true(brr_startswith(d, "\r\033[K\033[A\033[K\033[A\033[Ka | hello\r\n=> a  0:00  hello\r\n=> b  0:00\r\n"
                                "[0/2] 2 run 0 wait 0 fail 0 skip  0:00"));
  free(d);
  ev = (brr_event){.type = BRR_EV_RUN_END, .n_total = 2, .jobs = 2, .exit_code = 130, .signal = 2};
  brr_bus_emit(bus, &ev);
  d = drain(master);
  assert_true(brr_startswith(d, "\r\033[K\033[A\033[K\033[A\033[K\r\nSummary:"));
  free(d);
  brr_ui_free(ui);
  brr_bus_free(bus);
  close(master);
  close(slave);
}

int main(void) {
  setenv("TZ", "UTC", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_region_wide),
      cmocka_unit_test(test_region_narrow_and_short),
      cmocka_unit_test(test_fit),
      cmocka_unit_test(test_pty_redraw),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
