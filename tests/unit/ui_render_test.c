/* Renderers fed a scripted run through the bus: plain lines and padding, timestamps, colour,
 * the summary, the tty status line (on a real pseudo-terminal), CI groups for GitHub,
 * GitLab and Buildkite, JSON lines (parsed back with cJSON), the results-dir logs, and how
 * the mode and colour are chosen from flags and environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "brr/diag.h"
#include "brr/ui.h"
#include "unit/ui_support.h"

#define T0 1700000000000LL   /* 2023-11-14 22:13:20 UTC */



static void clean_env(void) {
  const char *vars[] = {"GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(vars); i++) unsetenv(vars[i]);
  setenv("TZ", "UTC", 1);
  tzset();
}

static int setup(void **state) {
  (void)state;
  clean_env();
  return 0;
}

/* ---- a scripted run ---- */

static void emit(brr_bus *bus, brr_event ev, int64_t at_ms) {
  ev.ts_ms = at_ms < 0 ? 0 : T0 + at_ms;
  brr_bus_emit(bus, &ev);
}

static void out(brr_bus *bus, const char *step, const char *node, const char *line, int64_t at) {
  emit(bus, (brr_event){.type = BRR_EV_NODE_OUTPUT, .step = step, .node = node, .stream = 1, .text = line, .len = strlen(line)}, at);
  emit(bus, (brr_event){.type = BRR_EV_FLUSH, .step = step, .node = node}, at);
}

static void start(brr_bus *bus, const char *step, const char *node, int64_t at) {
  emit(bus, (brr_event){.type = BRR_EV_NODE_START, .step = step, .node = node}, at);
}

static void end(brr_bus *bus, const char *step, const char *node, brr_status st, double d, const char *why, int64_t at) {
  emit(bus, (brr_event){.type = BRR_EV_NODE_END, .step = step, .node = node, .status = st, .duration = d,
                        .text = why, .len = why ? strlen(why) : 0}, at);
}

static const char *IDS[] = {"build-app/build", "build-app/run", "test/run", "push:repo:tag"};
static const char *LABELS[] = {"build-app", "build-app", "test", "push:repo:tag"};

/* build-app (2 nodes) succeeds, test fails, the push is skipped; timestamps from T0 unless
 * live (then the bus stamps them). */
static void script(brr_bus *bus, bool live) {
  int64_t k = live ? -1000000 : 0;
  emit(bus, (brr_event){.type = BRR_EV_RUN_START, .n_total = 4, .node_ids = IDS, .node_labels = LABELS, .jobs = 2}, k + 0);
  start(bus, "build-app", "build-app/build", k + 0);
  start(bus, "test", "test/run", k + 0);
  out(bus, "build-app", "build-app/build", "compiling", k + 100);
  out(bus, "test", "test/run", "testing 1", k + 200);
  out(bus, "build-app", "build-app/build", "linked", k + 1400);
  end(bus, "build-app", "build-app/build", BRR_STATUS_SUCCEEDED, 1.5, NULL, k + 1500);
  start(bus, "build-app", "build-app/run", k + 1500);
  out(bus, "build-app", "build-app/run", "running", k + 1600);
  end(bus, "test", "test/run", BRR_STATUS_FAILED, 2.0, "exit status 1", k + 2000);
  end(bus, "build-app", "build-app/run", BRR_STATUS_SUCCEEDED, 0.5, NULL, k + 2000);
  end(bus, NULL, "push:repo:tag", BRR_STATUS_SKIPPED, 0, "depends on test/run, which failed", k + 2000);
  brr_bus_log(bus, BRR_LOG_WARNING, NULL, "a build-level warning");
  emit(bus, (brr_event){.type = BRR_EV_RUN_END, .n_total = 4, .n_succeeded = 2, .n_failed = 1, .n_skipped = 1,
                        .wall_s = 3, .sum_s = 4, .critical_s = 2, .jobs = 2, .exit_code = 1}, k + 3000);
}

static char *render(brr_ui_opts o, bool live) {
  brr_bus *bus = brr_bus_new();
  int fd = o.fd ? o.fd : tmpfd();
  o.fd = fd;
  brr_ui *ui = brr_ui_new(bus, &o);
  assert_non_null(ui);
  script(bus, live);
  brr_ui_free(ui);
  brr_bus_free(bus);
  char *text = slurp(fd);
  close(fd);
  return text;
}

/* padded to the longest step name; the build-level push node's id overflows the column */
static const char PLAIN_LINES[] =
    "build-app | ==> build-app/build\n"
    "test      | ==> test/run\n"
    "build-app | compiling\n"
    "test      | testing 1\n"
    "build-app | linked\n"
    "build-app | <== build-app/build succeeded in 1.5s\n"
    "build-app | ==> build-app/run\n"
    "build-app | running\n"
    "test      | <== test/run FAILED after 2.0s: exit status 1\n"
    "build-app | <== build-app/run succeeded in 0.5s\n"
    "push:repo:tag | --- push:repo:tag skipped: depends on test/run, which failed\n";

static const char SUMMARY[] =
    "\nSummary:\n"
    "  build-app  succeeded      2.0s\n"
    "  test       failed         2.0s  test/run: exit status 1\n"
    "  push:repo:tag  skipped           -\n"
    "Wall time 3.0s, sum of step times 4.0s, critical path 2.0s, parallelism 1.33x, efficiency 67% (2 jobs)\n"
    "\ntest failed: test/run: exit status 1\n"
    "  last 1 line of test:\n"
    "  | testing 1\n"
    "Build ERROR.\n";

/* With engines: one summary line per engine: the nodes it ran and the time during which at
 * least one ran there (overlapping nodes count once). */
static void test_engine_summary(void **state) {
  (void)state;
  brr_bus *bus = brr_bus_new();
  int fd = tmpfd();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .fd = fd});
  static const char *ids[] = {"a/run", "b/run", "c/run"}, *labels[] = {"a", "b", "c"};
  emit(bus, (brr_event){.type = BRR_EV_RUN_START, .n_total = 3, .node_ids = ids, .node_labels = labels, .jobs = 4}, 0);
  emit(bus, (brr_event){.type = BRR_EV_NODE_START, .step = "a", .node = "a/run", .engine = "here"}, 0);
  emit(bus, (brr_event){.type = BRR_EV_NODE_START, .step = "b", .node = "b/run", .engine = "here"}, 1000);
  emit(bus, (brr_event){.type = BRR_EV_NODE_START, .step = "c", .node = "c/run", .engine = "arm"}, 1000);
  end(bus, "a", "a/run", BRR_STATUS_SUCCEEDED, 2, NULL, 2000);
  end(bus, "c", "c/run", BRR_STATUS_SUCCEEDED, 0.5, NULL, 1500);
  end(bus, "b", "b/run", BRR_STATUS_SUCCEEDED, 2, NULL, 3000);
  emit(bus, (brr_event){.type = BRR_EV_RUN_END, .n_total = 3, .n_succeeded = 3, .wall_s = 3, .sum_s = 4.5,
                        .critical_s = 2, .jobs = 4}, 3000);
  brr_ui_free(ui);
  brr_bus_free(bus);
  char *text = slurp(fd);
  close(fd);
  assert_non_null(strstr(text, "(4 jobs)\nEngine here: 2 nodes, busy 3.0s\nEngine arm: 1 node, busy 0.5s\n"));
  free(text);
}

static void test_plain_exact(void **state) {
  (void)state;
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_PLAIN}, false);
  brr_buf want = BRR_BUF_INIT;
  brr_buf_puts(&want, PLAIN_LINES);
  brr_buf_puts(&want, "WARNING  a build-level warning\n");
  brr_buf_puts(&want, SUMMARY);
  assert_string_equal(text, want.data);
  brr_buf_free(&want);
  free(text);
}

static bool is_ts(const char *p) {
  /* YYYY-MM-DD HH:MM:SS,mmm followed by a space */
  const char *pat = "dddd-dd-dd dd:dd:dd,ddd ";
  for (size_t i = 0; pat[i]; i++) {
    if (pat[i] == 'd' ? !isdigit((unsigned char)p[i]) : p[i] != pat[i]) return false;
  }
  return true;
}

static void test_plain_timestamps(void **state) {
  (void)state;
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .timestamps = true}, false);
  assert_true(brr_startswith(text, "2023-11-14 22:13:20,000 build-app | ==> build-app/build\n"));
  assert_non_null(strstr(text, "2023-11-14 22:13:20,100 build-app | compiling\n"));
  assert_non_null(strstr(text, "2023-11-14 22:13:21,400 build-app | linked\n"));
  size_t lines = 0;
  for (char *p = text; *p && !brr_startswith(p, "\nSummary"); p = strchr(p, '\n') + 1) {
    assert_true(is_ts(p));
    lines++;
  }
  assert_int_equal(lines, 12);
  free(text);
}

static void test_plain_color(void **state) {
  (void)state;
  setenv("FORCE_COLOR", "1", 1);
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_PLAIN}, false);
  /* steps in file order take cyan, yellow, green: stable for the same file */
  assert_non_null(strstr(text, "\033[36mbuild-app |\033[0m compiling\n"));
  assert_non_null(strstr(text, "\033[33mtest      |\033[0m testing 1\n"));
  assert_non_null(strstr(text, "\033[1;31mFAILED\033[0m"));
  free(text);
  /* --no-color wins over FORCE_COLOR */
  text = render((brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .no_color = true}, false);
  assert_null(strchr(text, '\033'));
  free(text);
  unsetenv("FORCE_COLOR");
}

static void test_success_summary(void **state) {
  (void)state;
  brr_bus *bus = brr_bus_new();
  int fd = tmpfd();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .fd = fd});
  const char *ids[] = {"a/run"}, *labels[] = {"a"};
  emit(bus, (brr_event){.type = BRR_EV_RUN_START, .n_total = 1, .node_ids = ids, .node_labels = labels, .jobs = 4}, 0);
  start(bus, "a", "a/run", 0);
  /* a partial line at the end of a step is flushed as a line of its own */
  brr_lines l;
  brr_lines_init(&l, bus, "a", "a/run", "svc", 1);
  brr_lines_feed(&l, "whole\nparti", 11);
  brr_lines_feed(&l, "al", 2);
  brr_lines_flush(&l);
  brr_lines_free(&l);
  end(bus, "a", "a/run", BRR_STATUS_SUCCEEDED, 75, NULL, 75000);
  emit(bus, (brr_event){.type = BRR_EV_RUN_END, .n_total = 1, .n_succeeded = 1, .wall_s = 75, .sum_s = 75,
                        .critical_s = 75, .jobs = 4}, 75000);
  brr_ui_free(ui);
  brr_bus_free(bus);
  char *text = slurp(fd);
  close(fd);
  assert_non_null(strstr(text, "a | [svc] whole\na | [svc] partial\n"));
  assert_non_null(strstr(text, "  a  succeeded     1m15s\n"));
  assert_non_null(strstr(text, "efficiency 100% (4 jobs)\n"));
  assert_true(brr_endswith(text, "Build SUCCESS.\n"));
  assert_null(strstr(text, "failed:"));
  free(text);
}

/* A reused node: its own end line, the step's status in the summary, and the JSON counts. */
static void test_reused_status(void **state) {
  (void)state;
  brr_bus *bus = brr_bus_new();
  int fd = tmpfd(), jfd = tmpfd();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .fd = fd});
  brr_ui *js = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_JSON, .fd = jfd});
  const char *ids[] = {"a/run", "b/build", "b/run"}, *labels[] = {"a", "b", "b"};
  emit(bus, (brr_event){.type = BRR_EV_RUN_START, .n_total = 3, .node_ids = ids, .node_labels = labels, .jobs = 4}, 0);
  start(bus, "a", "a/run", 0);
  end(bus, "a", "a/run", BRR_STATUS_REUSED, 0.25, NULL, 250);
  start(bus, "b", "b/build", 0);
  end(bus, "b", "b/build", BRR_STATUS_SUCCEEDED, 1, NULL, 1000);
  start(bus, "b", "b/run", 1000);
  end(bus, "b", "b/run", BRR_STATUS_REUSED, 0.5, NULL, 1500);
  emit(bus, (brr_event){.type = BRR_EV_RUN_END, .n_total = 3, .n_succeeded = 3, .n_reused = 2, .wall_s = 1.5,
                        .sum_s = 1.75, .critical_s = 1.5, .jobs = 4}, 1500);
  brr_ui_free(ui);
  brr_ui_free(js);
  brr_bus_free(bus);
  char *text = slurp(fd), *json = slurp(jfd);
  close(fd);
  close(jfd);
  assert_non_null(strstr(text, "<== a/run reused in "));
  assert_non_null(strstr(text, "  a  reused   "));     /* every node reused */
  assert_non_null(strstr(text, "  b  succeeded"));     /* one ran */
  assert_true(brr_endswith(text, "Build SUCCESS.\n"));
  assert_non_null(strstr(json, "\"status\":\"reused\""));
  assert_non_null(strstr(json, "\"reused\":2"));
  free(text);
  free(json);
}

/* ---- tty ---- */

static char *drain_pty(int master) {
  brr_buf b = BRR_BUF_INIT;
  char tmp[4096];
  int fl = fcntl(master, F_GETFL);
  fcntl(master, F_SETFL, fl | O_NONBLOCK);
  ssize_t n;
  while ((n = read(master, tmp, sizeof tmp)) > 0) brr_buf_append(&b, tmp, (size_t)n);
  return brr_buf_detach(&b);
}

static void test_tty_status_line(void **state) {
  (void)state;
  int master, slave;
  struct winsize ws = {.ws_row = 24, .ws_col = 50};
  assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
  setenv("TERM", "xterm", 1);
  assert_int_equal(brr_ui_resolve_progress(BRR_PROGRESS_AUTO, slave), BRR_PROGRESS_TTY);
  assert_true(brr_ui_color_enabled(slave, false));
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_AUTO, .fd = slave, .no_color = true});
  const char *ids[] = {"build-app/run", "test-unit/run", "lint-with-a-very-long-name/run"};
  const char *labels[] = {"build-app", "test-unit", "lint-with-a-very-long-name"};
  emit(bus, (brr_event){.type = BRR_EV_RUN_START, .n_total = 3, .node_ids = ids, .node_labels = labels, .jobs = 4}, -1);
  start(bus, "build-app", "build-app/run", -1);
  start(bus, "test-unit", "test-unit/run", -1);
  char *a = drain_pty(master);
  assert_non_null(strstr(a, "=> build-app  0:00\r\n=> test-unit  0:00\r\n[0/3] 2 run 1 wait 0 fail 0 skip  0:00"));
  out(bus, "build-app", "build-app/run", "hello", -1);
  char *b = drain_pty(master);
  /* erase the region, print the line (its prefix shrunk to a quarter of 50 columns), draw
   * the region again: one write */
  assert_non_null(strstr(b, "\r\033[K\033[A\033[K\033[A\033[Kbuild-app    | hello\r\n=> build-app  0:00  hello\r\n"));
  end(bus, "build-app", "build-app/run", BRR_STATUS_SUCCEEDED, 0.1, NULL, -1);
  start(bus, "lint-with-a-very-long-name", "lint-with-a-very-long-name/run", -1);
  brr_event tick = {.type = BRR_EV_TICK};
  brr_bus_emit(bus, &tick);
  char *c = drain_pty(master);
  /* never wider than the terminal (49 columns): the long name is shortened with an ellipsis */
  assert_non_null(strstr(c, "=> lint-with-a-ver\xe2\x80\xa6  0:00\r\n[1/3] 2 run 0 wait 0 fail 0 skip  0:00"));
  emit(bus, (brr_event){.type = BRR_EV_RUN_END, .n_total = 3, .jobs = 4, .exit_code = 130, .signal = 2}, -1);
  char *d = drain_pty(master);
  assert_true(brr_startswith(d, "\r\033[K\033[A\033[K\033[A\033[K\r\nSummary:"));
  assert_non_null(strstr(d, "Interrupted by SIGINT."));
  assert_non_null(strstr(d, "Build ERROR."));
  brr_ui_free(ui);
  brr_bus_free(bus);
  free(a);
  free(b);
  free(c);
  free(d);
  close(master);
  close(slave);
  setenv("TERM", "dumb", 1);
  assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
  assert_int_equal(brr_ui_resolve_progress(BRR_PROGRESS_AUTO, slave), BRR_PROGRESS_PLAIN);
  assert_false(brr_ui_color_enabled(slave, false));
  close(master);
  close(slave);
}

/* ---- CI ---- */

/* The lines of a group must be contiguous whatever the interleaving of the run. */
static void test_ci_github(void **state) {
  (void)state;
  setenv("GITHUB_ACTIONS", "true", 1);
  assert_int_equal(brr_ui_ci_detect(), BRR_CI_GITHUB);
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_AUTO}, false);
  const char *want =
      "::error title=test failed::test/run: exit status 1\n";
  const char *g_test = strstr(text, "test (failed, 2.0s)\n==> test/run\ntesting 1\n<== test/run FAILED after 2.0s: exit status 1\n");
  assert_non_null(g_test);
  assert_non_null(strstr(g_test, want));
  assert_null(strstr(text, "::group::test"));   /* a failed step is not collapsed */
  assert_non_null(strstr(text,
                         "::group::build-app (succeeded, 2.0s)\n==> build-app/build\ncompiling\nlinked\n"
                         "<== build-app/build succeeded in 1.5s\n==> build-app/run\nrunning\n"
                         "<== build-app/run succeeded in 0.5s\n::endgroup::\n"));
  assert_non_null(strstr(text, "WARNING  a build-level warning\n"));
  assert_non_null(strstr(text, "\nSummary:\n"));
  free(text);
  unsetenv("GITHUB_ACTIONS");
}

static void test_ci_gitlab(void **state) {
  (void)state;
  setenv("GITLAB_CI", "true", 1);
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_CI}, false);
  assert_non_null(strstr(text, "\033[0Ksection_start:1700000000:brr_0_build-app[collapsed=true]\r\033[0Kbuild-app (succeeded, 2.0s)\n==> build-app/build\n"));
  assert_non_null(strstr(text, "running\n<== build-app/run succeeded in 0.5s\n\033[0Ksection_end:1700000002:brr_0_build-app\r\033[0K\n"));
  assert_non_null(strstr(text, "section_start:1700000000:brr_1_test[collapsed=false]"));
  assert_non_null(strstr(text, "section_start:1700000002:brr_2_push_repo_tag[collapsed=true]"));
  free(text);
  unsetenv("GITLAB_CI");
}

static void test_ci_buildkite_and_generic(void **state) {
  (void)state;
  setenv("BUILDKITE", "true", 1);
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_AUTO}, false);
  assert_non_null(strstr(text, "--- build-app (succeeded, 2.0s)\n==> build-app/build\ncompiling\n"));
  assert_non_null(strstr(text, "+++ test (failed, 2.0s)\n==> test/run\ntesting 1\n"));
  free(text);
  unsetenv("BUILDKITE");
  text = render((brr_ui_opts){.progress = BRR_PROGRESS_CI, .timestamps = true}, false);
  assert_non_null(strstr(text, ">>> build-app (succeeded, 2.0s)\n2023-11-14 22:13:20,000 ==> build-app/build\n"));
  assert_non_null(strstr(text, "<<< build-app\n"));
  free(text);
}

/* ---- JSON ---- */

static void test_json_lines(void **state) {
  (void)state;
  setenv("FORCE_COLOR", "1", 1);   /* JSON is never coloured */
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_JSON, .timestamps = true}, false);
  unsetenv("FORCE_COLOR");
  assert_null(strchr(text, '\033'));
  const char *types[] = {"run_start", "node_start", "node_start", "output", "output", "output", "node_end",
                         "node_start", "output", "node_end", "node_end", "node_end", "log", "run_end"};
  size_t n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
    cJSON *o = cJSON_Parse(line);
    assert_non_null(o);
    assert_true(n < BRR_ARRAY_LEN(types));
    assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring, types[n]);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "ts")));
    if (n == 0) {
      assert_int_equal(cJSON_GetObjectItem(o, "version")->valueint, 2);
      assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "nodes")), 4);
      assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "nodes"), 3), "id")->valuestring,
                          "push:repo:tag");
    }
    if (n == 3) {
      assert_string_equal(cJSON_GetObjectItem(o, "step")->valuestring, "build-app");
      assert_string_equal(cJSON_GetObjectItem(o, "node")->valuestring, "build-app/build");
      assert_string_equal(cJSON_GetObjectItem(o, "stream")->valuestring, "stdout");
      assert_string_equal(cJSON_GetObjectItem(o, "line")->valuestring, "compiling");
      assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "source")));
      assert_int_equal((int64_t)cJSON_GetObjectItem(o, "ts")->valuedouble, T0 + 100);
    }
    if (n == 9) {
      assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "failed");
      assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, "exit status 1");
      assert_true(cJSON_GetObjectItem(o, "duration")->valuedouble == 2.0);
    }
    if (n == 11) assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "step")));
    if (n == 12) assert_string_equal(cJSON_GetObjectItem(o, "level")->valuestring, "warning");
    if (n == 13) {
      assert_int_equal(cJSON_GetObjectItem(o, "exit_code")->valueint, 1);
      assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "counts"), "failed")->valueint, 1);
      cJSON *steps = cJSON_GetObjectItem(o, "steps");
      assert_int_equal(cJSON_GetArraySize(steps), 3);
      cJSON *t = cJSON_GetArrayItem(steps, 1);
      assert_string_equal(cJSON_GetObjectItem(t, "name")->valuestring, "test");
      assert_string_equal(cJSON_GetObjectItem(t, "status")->valuestring, "failed");
      assert_string_equal(cJSON_GetObjectItem(t, "error")->valuestring, "test/run: exit status 1");
      assert_true(cJSON_GetObjectItem(o, "efficiency")->valuedouble > 0.66);
    }
    cJSON_Delete(o);
  }
  assert_int_equal(n, BRR_ARRAY_LEN(types));
  free(text);
}

/* ---- results dir ---- */

static void test_results_logs(void **state) {
  (void)state;
  char dir[] = "/tmp/brr-results-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *results = brr_path_join(dir, "results");
  setenv("FORCE_COLOR", "1", 1);
  char *text = render((brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .results_dir = results}, false);
  unsetenv("FORCE_COLOR");
  assert_non_null(strchr(text, '\033'));   /* the console is coloured ... */
  free(text);
  brr_buf log = BRR_BUF_INIT;
  char *p = brr_path_join(results, "build.log");
  assert_int_equal(brr_read_file(p, &log), 0);
  free(p);
  assert_null(strchr(log.data, '\033'));  /* ... build.log never is, and always has timestamps */
  assert_true(brr_startswith(log.data, "2023-11-14 22:13:20,000 build-app | ==> build-app/build\n"));
  assert_non_null(strstr(log.data, "2023-11-14 22:13:20,200 test      | testing 1\n"));
  assert_non_null(strstr(log.data, "\nSummary:\n"));
  assert_true(brr_endswith(log.data, "Build ERROR.\n"));
  brr_buf_free(&log);

  p = brr_path_join(results, "logs/build-app.log");
  assert_int_equal(brr_read_file(p, &log), 0);
  free(p);
  /* the step's lines as it printed them, with brr's markers: no timestamps, no prefix */
  assert_string_equal(log.data, "==> build-app/build\ncompiling\nlinked\n<== build-app/build succeeded in 1.5s\n"
                                "==> build-app/run\nrunning\n<== build-app/run succeeded in 0.5s\n");
  assert_null(strstr(log.data, "testing"));
  brr_buf_free(&log);

  p = brr_path_join(results, "logs/push:repo:tag.log");
  assert_int_equal(brr_read_file(p, &log), 0);
  free(p);
  assert_non_null(strstr(log.data, "skipped: depends on test/run, which failed"));
  brr_buf_free(&log);
  free(results);
  assert_int_equal(brr_rm_rf(dir), 0);

  /* a results dir that cannot be made: no ui, errno says why (the CLI exits 69) */
  brr_bus *bus = brr_bus_new();
  errno = 0;
  assert_null(brr_ui_new(bus, &(brr_ui_opts){.fd = 1, .results_dir = "/proc/brr-cannot-exist/results"}));
  assert_true(errno != 0);
  brr_bus_free(bus);
}

/* ---- mode and colour from flags and environment ---- */

static void test_color_precedence(void **state) {
  (void)state;
  int fd = tmpfd();
  assert_false(brr_ui_color_enabled(fd, false));   /* a file is not a terminal */
  setenv("CLICOLOR_FORCE", "1", 1);
  assert_true(brr_ui_color_enabled(fd, false));
  setenv("NO_COLOR", "1", 1);
  assert_false(brr_ui_color_enabled(fd, false));   /* NO_COLOR beats CLICOLOR_FORCE */
  setenv("FORCE_COLOR", "1", 1);
  assert_true(brr_ui_color_enabled(fd, false));    /* FORCE_COLOR beats NO_COLOR */
  assert_false(brr_ui_color_enabled(fd, true));    /* --no-color beats everything */
  setenv("FORCE_COLOR", "0", 1);
  assert_false(brr_ui_color_enabled(fd, false));
  unsetenv("FORCE_COLOR");
  setenv("NO_COLOR", "", 1);                       /* empty NO_COLOR is not set */
  assert_true(brr_ui_color_enabled(fd, false));
  clean_env();
  close(fd);
}

static void test_progress_modes(void **state) {
  (void)state;
  brr_progress p;
  const char *names[] = {"auto", "tty", "plain", "ci", "json"};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(brr_progress_parse(names[i], &p), 0);
    assert_int_equal(p, (brr_progress)i);
  }
  assert_int_equal(brr_progress_parse("fancy", &p), BRR_EINVAL);
  assert_int_equal(brr_progress_parse(NULL, &p), BRR_EINVAL);
  /* --progress beats BRR_PROGRESS, which beats auto */
  unsetenv("BRR_PROGRESS");
  assert_int_equal(brr_progress_choose(NULL, &p), 0);
  assert_int_equal(p, BRR_PROGRESS_AUTO);
  setenv("BRR_PROGRESS", "json", 1);
  assert_int_equal(brr_progress_choose(NULL, &p), 0);
  assert_int_equal(p, BRR_PROGRESS_JSON);
  assert_int_equal(brr_progress_choose("plain", &p), 0);
  assert_int_equal(p, BRR_PROGRESS_PLAIN);
  setenv("BRR_PROGRESS", "loud", 1);
  assert_int_equal(brr_progress_choose(NULL, &p), BRR_EINVAL);
  unsetenv("BRR_PROGRESS");
  int fd = tmpfd();
  assert_int_equal(brr_ui_resolve_progress(BRR_PROGRESS_AUTO, fd), BRR_PROGRESS_PLAIN);
  setenv("CI", "true", 1);   /* CI alone has no group syntax: plain */
  assert_int_equal(brr_ui_resolve_progress(BRR_PROGRESS_AUTO, fd), BRR_PROGRESS_PLAIN);
  setenv("GITLAB_CI", "true", 1);
  assert_int_equal(brr_ui_resolve_progress(BRR_PROGRESS_AUTO, fd), BRR_PROGRESS_CI);
  assert_int_equal(brr_ui_resolve_progress(BRR_PROGRESS_JSON, fd), BRR_PROGRESS_JSON);
  clean_env();
  close(fd);
  assert_string_equal(brr_status_name(BRR_STATUS_CANCELED), "canceled");
}

/* A stdout that is a non-blocking pipe nobody reads yet: the writer waits for room rather
 * than dropping or splitting lines. */
static void test_nonblocking_full_pipe(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  fcntl(p[1], F_SETFL, O_NONBLOCK);
  fcntl(p[1], F_SETPIPE_SZ, 4096);
  pid_t child = fork();
  if (child == 0) {
    /* a slow reader: starts late, reads in small bites, then checks every line */
    close(p[1]);
    usleep(200000);
    brr_buf got = BRR_BUF_INIT;
    char buf[700];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
      brr_buf_append(&got, buf, (size_t)n);
      usleep(100);
    }
    int i = 0;
    for (char *line = got.data; line && *line; i++) {
      char want[64];
      snprintf(want, sizeof want, "s | line %016d\n", i);
      if (strncmp(line, want, strlen(want)) != 0) _exit(1);
      line += strlen(want);
    }
    _exit(i == 2000 ? 0 : 2);
  }
  close(p[0]);
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .fd = p[1]});
  for (int i = 0; i < 2000; i++) {
    char line[32];
    snprintf(line, sizeof line, "line %016d", i);
    emit(bus, (brr_event){.type = BRR_EV_NODE_OUTPUT, .step = "s", .node = "s/run", .text = line, .len = strlen(line)}, 0);
  }
  brr_ui_free(ui);
  brr_bus_free(bus);
  close(p[1]);
  int status;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_plain_exact, setup),
      cmocka_unit_test_setup(test_engine_summary, setup),
      cmocka_unit_test_setup(test_plain_timestamps, setup),
      cmocka_unit_test_setup(test_plain_color, setup),
      cmocka_unit_test_setup(test_success_summary, setup),
      cmocka_unit_test_setup(test_reused_status, setup),
      cmocka_unit_test_setup(test_tty_status_line, setup),
      cmocka_unit_test_setup(test_ci_github, setup),
      cmocka_unit_test_setup(test_ci_gitlab, setup),
      cmocka_unit_test_setup(test_ci_buildkite_and_generic, setup),
      cmocka_unit_test_setup(test_json_lines, setup),
      cmocka_unit_test_setup(test_results_logs, setup),
      cmocka_unit_test_setup(test_color_precedence, setup),
      cmocka_unit_test_setup(test_progress_modes, setup),
      cmocka_unit_test_setup(test_nonblocking_full_pipe, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
