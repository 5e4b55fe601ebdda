/* The CI renderer fed scripted events with fixed timestamps: a step running alone streams
 * live inside its group, parallel steps are held and printed whole with heartbeats between
 * them, held lines are flushed as soon as a step is alone, GitHub annotations point at the
 * step's definition, and $GITHUB_STEP_SUMMARY gets a Markdown report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/diag.h"
#include "brr/ui.h"
#include "unit/ui_support.h"

#define T0 1700000000000LL



static int setup(void **state) {
  (void)state;
  const char *vars[] = {"GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE",
                        "BRR_HEARTBEAT", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(vars); i++) unsetenv(vars[i]);
  setenv("TZ", "UTC", 1);
  return 0;
}

typedef struct run {
  brr_bus *bus;
  brr_ui *ui;
  int fd;
} run;

static const char *IDS[] = {"a/run", "b/run", "c/run"};
static const char *LABELS[] = {"a", "b", "c"};
static const char *FILES[] = {"/work/proj/buildrunner.yaml", "/work/proj/buildrunner.yaml",
                              "/work/proj/buildrunner.yaml"};
static const unsigned LINES[] = {3, 9, 14};

static void emit(run *r, brr_event ev, int64_t at) {
  ev.ts_ms = T0 + at;
  brr_bus_emit(r->bus, &ev);
}

static run open_run(brr_ui_opts o, size_t n) {
  run r = {brr_bus_new(), NULL, tmpfd()};
  o.fd = r.fd;
  if (!o.progress) o.progress = BRR_PROGRESS_CI;
  r.ui = brr_ui_new(r.bus, &o);
  assert_non_null(r.ui);
  emit(&r, (brr_event){.type = BRR_EV_RUN_START, .n_total = n, .node_ids = IDS, .node_labels = LABELS,
                       .node_files = FILES, .node_lines = LINES, .jobs = 4}, 0);
  return r;
}

static void out(run *r, const char *step, const char *line, int64_t at) {
  char node[16];
  snprintf(node, sizeof node, "%s/run", step);
  emit(r, (brr_event){.type = BRR_EV_NODE_OUTPUT, .step = step, .node = node, .stream = 1, .text = line, .len = strlen(line)}, at);
  emit(r, (brr_event){.type = BRR_EV_FLUSH, .step = step, .node = node}, at);
}

static void start(run *r, const char *step, int64_t at) {
  char node[16];
  snprintf(node, sizeof node, "%s/run", step);
  emit(r, (brr_event){.type = BRR_EV_NODE_START, .step = step, .node = node}, at);
}

static void end(run *r, const char *step, brr_status st, const char *why, int64_t at, double d) {
  char node[16];
  snprintf(node, sizeof node, "%s/run", step);
  emit(r, (brr_event){.type = BRR_EV_NODE_END, .step = step, .node = node, .status = st, .duration = d,
                      .text = why, .len = why ? strlen(why) : 0}, at);
}

static void tick(run *r, int64_t at) { emit(r, (brr_event){.type = BRR_EV_TICK}, at); }

static char *close_run(run *r, int exit_code, size_t n_ok, size_t n_failed) {
  const char *crit[] = {"a/run", "b/run"};
  emit(r, (brr_event){.type = BRR_EV_RUN_END, .n_total = n_ok + n_failed, .n_succeeded = n_ok, .n_failed = n_failed,
                      .wall_s = 60, .sum_s = 80, .critical_s = 50, .jobs = 4, .exit_code = exit_code,
                      .critical_ids = crit, .n_critical = 2}, 60000);
  brr_ui_free(r->ui);
  brr_bus_free(r->bus);
  char *text = slurp(r->fd);
  close(r->fd);
  return text;
}

/* One step at a time: each streams live inside its group, line by line. */
static void test_alone_streams_live(void **state) {
  (void)state;
  setenv("GITHUB_ACTIONS", "true", 1);
  setenv("GITHUB_WORKSPACE", "/work/proj/", 1);
  run r = open_run((brr_ui_opts){0}, 2);
  start(&r, "a", 0);
  out(&r, "a", "first", 100);
  char *t = slurp(r.fd);
  assert_string_equal(t, "::group::a\n==> a/run\nfirst\n");   /* out before the step ends */
  free(t);
  out(&r, "a", "second", 9000);
  t = slurp(r.fd);
  assert_true(brr_endswith(t, "first\nsecond\n"));
  free(t);
  end(&r, "a", BRR_STATUS_SUCCEEDED, NULL, 9500, 9.5);
  start(&r, "b", 9500);
  out(&r, "b", "boom", 9600);
  end(&r, "b", BRR_STATUS_FAILED, "exit status 2", 9700, 0.2);
  char *text = close_run(&r, 1, 1, 1);
  assert_true(brr_startswith(text, "::group::a\n==> a/run\nfirst\nsecond\n<== a/run succeeded in 9.5s\n::endgroup::\n"
                                   "::group::b\n==> b/run\nboom\n<== b/run FAILED after 0.2s: exit status 2\n::endgroup::\n"
                                   "::error file=buildrunner.yaml,line=9,title=b failed::b/run: exit status 2\n"));
  /* nothing printed twice */
  assert_null(strstr(strstr(text, "Summary:"), "boom\n<=="));
  free(text);
}

/* Two steps at once: held, a heartbeat every 30 s outside the groups, whole groups at the
 * end, and the survivor's held lines flushed as soon as it runs alone. */
static void test_parallel_heartbeat_then_alone(void **state) {
  (void)state;
  setenv("GITHUB_ACTIONS", "true", 1);
  run r = open_run((brr_ui_opts){0}, 2);
  start(&r, "a", 0);
  start(&r, "b", 0);
  out(&r, "a", "a1", 1000);
  out(&r, "b", "b1", 2000);
  tick(&r, 29000);
  char *t = slurp(r.fd);
  assert_string_equal(t, "");                 /* held, and no heartbeat before 30 s */
  free(t);
  tick(&r, 30000);
  t = slurp(r.fd);
  assert_string_equal(t, "brr: still running: a 30.0s, b 30.0s (0 of 2 done, 30.0s)\n");
  free(t);
  tick(&r, 45000);
  t = slurp(r.fd);
  assert_null(strstr(t + 1, "brr: still"));   /* the next one comes 30 s later */
  free(t);
  tick(&r, 60000);
  t = slurp(r.fd);
  assert_non_null(strstr(t, "brr: still running: a 1m00s, b 1m00s (0 of 2 done, 1m00s)\n"));
  free(t);
  end(&r, "b", BRR_STATUS_SUCCEEDED, NULL, 61000, 61);
  t = slurp(r.fd);
  assert_true(brr_endswith(t, "::group::b (succeeded, 1m01s)\n==> b/run\nb1\n<== b/run succeeded in 1m01s\n::endgroup::\n"));
  free(t);
  tick(&r, 62000);   /* a is alone now: what it held comes out in a group that stays open */
  t = slurp(r.fd);
  assert_true(brr_endswith(t, "::endgroup::\n::group::a\n==> a/run\na1\n"));
  free(t);
  out(&r, "a", "a2", 63000);
  end(&r, "a", BRR_STATUS_SUCCEEDED, NULL, 64000, 64);
  char *text = close_run(&r, 0, 2, 0);
  assert_non_null(strstr(text, "::group::a\n==> a/run\na1\na2\n<== a/run succeeded in 1m04s\n::endgroup::\n\nSummary:"));
  free(text);
}

/* A step streaming live when another starts: its group closes, the rest of it is held and
 * printed whole ("continued") when it ends. */
static void test_live_then_parallel(void **state) {
  (void)state;
  run r = open_run((brr_ui_opts){.heartbeat_s = 5}, 2);   /* generic CI syntax */
  start(&r, "a", 0);
  out(&r, "a", "a1", 100);
  start(&r, "b", 200);
  out(&r, "a", "a2", 300);
  out(&r, "b", "b1", 400);
  tick(&r, 5200);
  char *t = slurp(r.fd);
  assert_string_equal(t, ">>> a\n==> a/run\na1\n<<< a (continues below)\n"
                         "brr: still running: a 5.2s, b 5.0s (0 of 2 done, 5.2s)\n");
  free(t);
  end(&r, "a", BRR_STATUS_FAILED, "exit status 1", 6000, 6);
  t = slurp(r.fd);
  assert_true(brr_endswith(t, ">>> a, continued (failed, 6.0s)\na2\n<== a/run FAILED after 6.0s: exit status 1\n<<< a\n"));
  free(t);
  end(&r, "b", BRR_STATUS_SUCCEEDED, NULL, 7000, 6.8);
  char *text = close_run(&r, 1, 1, 1);
  assert_non_null(strstr(text, ">>> b (succeeded, 6.8s)\n==> b/run\nb1\n<== b/run succeeded in 6.8s\n<<< b\n"));
  free(text);
}

/* A silent step streaming live still gets a heartbeat; heartbeats can be turned off. */
static void test_heartbeat_settings(void **state) {
  (void)state;
  int hb = 99;
  assert_int_equal(brr_ui_heartbeat_choose("10", &hb), 0);
  assert_int_equal(hb, 10);
  assert_int_equal(brr_ui_heartbeat_choose("0", &hb), 0);
  assert_int_equal(hb, -1);
  assert_int_equal(brr_ui_heartbeat_choose("soon", &hb), BRR_EINVAL);
  assert_int_equal(brr_ui_heartbeat_choose(NULL, &hb), 0);
  assert_int_equal(hb, 0);
  setenv("BRR_HEARTBEAT", "7", 1);
  assert_int_equal(brr_ui_heartbeat_choose(NULL, &hb), 0);
  assert_int_equal(hb, 7);
  assert_int_equal(brr_ui_heartbeat_choose("3", &hb), 0);   /* the flag wins */
  assert_int_equal(hb, 3);

  /* BRR_HEARTBEAT=7 read by the renderer when the options leave it at 0 */
  run r = open_run((brr_ui_opts){0}, 1);
  start(&r, "a", 0);
  out(&r, "a", "a1", 100);
  tick(&r, 7000);
  char *t = slurp(r.fd);
  assert_null(strstr(t, "still running"));    /* 6.9 s of silence */
  free(t);
  tick(&r, 7200);
  t = slurp(r.fd);
  assert_true(brr_endswith(t, "a1\nbrr: still running: a 7.2s (0 of 1 done, 7.2s)\n"));
  free(t);
  free(close_run(&r, 0, 1, 0));
  unsetenv("BRR_HEARTBEAT");

  r = open_run((brr_ui_opts){.heartbeat_s = -1}, 2);
  start(&r, "a", 0);
  start(&r, "b", 0);
  for (int s = 1; s <= 600; s++) tick(&r, s * 1000);
  end(&r, "a", BRR_STATUS_SUCCEEDED, NULL, 600000, 600);
  end(&r, "b", BRR_STATUS_SUCCEEDED, NULL, 600000, 600);
  char *text = close_run(&r, 0, 2, 0);
  assert_null(strstr(text, "still running"));
  free(text);
}

/* GitLab and Buildkite syntax for live groups; a failed live Buildkite group is expanded. */
static void test_gitlab_buildkite_live(void **state) {
  (void)state;
  setenv("GITLAB_CI", "true", 1);
  run r = open_run((brr_ui_opts){0}, 1);
  start(&r, "a", 0);
  out(&r, "a", "a1", 2000);
  end(&r, "a", BRR_STATUS_SUCCEEDED, NULL, 3000, 3);
  char *text = close_run(&r, 0, 1, 0);
  assert_true(brr_startswith(text, "\033[0Ksection_start:1700000002:brr_0_a[collapsed=true]\r\033[0Ka\n==> a/run\na1\n"
                                   "<== a/run succeeded in 3.0s\n\033[0Ksection_end:1700000003:brr_0_a\r\033[0K\n"));
  free(text);
  unsetenv("GITLAB_CI");
  setenv("BUILDKITE", "true", 1);
  r = open_run((brr_ui_opts){0}, 1);
  start(&r, "a", 0);
  out(&r, "a", "a1", 2000);
  end(&r, "a", BRR_STATUS_FAILED, "exit status 1", 3000, 3);
  text = close_run(&r, 1, 0, 1);
  assert_true(brr_startswith(text, "--- a\n==> a/run\na1\n<== a/run FAILED after 3.0s: exit status 1\n^^^ +++\n"));
  free(text);
}

/* $GITHUB_STEP_SUMMARY is appended to, never truncated. */
static void test_github_step_summary(void **state) {
  (void)state;
  char path[] = "/tmp/brr-summary-XXXXXX";
  int sfd = mkstemp(path);
  assert_true(sfd >= 0);
  assert_int_equal(write(sfd, "earlier\n", 8), 8);
  close(sfd);
  setenv("GITHUB_STEP_SUMMARY", path, 1);
  run r = open_run((brr_ui_opts){.progress = BRR_PROGRESS_PLAIN}, 3);
  emit(&r, (brr_event){.type = BRR_EV_NODE_START, .step = "a", .node = "a/run", .wait_s = 1.5}, 1500);
  out(&r, "a", "pipe | in a line", 1600);
  end(&r, "a", BRR_STATUS_SUCCEEDED, NULL, 11500, 10);
  start(&r, "b", 11500);
  out(&r, "b", "it broke", 11600);
  end(&r, "b", BRR_STATUS_FAILED, "exit status 1", 12000, 0.5);
  end(&r, "c", BRR_STATUS_SKIPPED, "depends on b/run, which failed", 12000, 0);
  free(close_run(&r, 1, 1, 1));
  brr_buf md = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(path, &md), 0);
  unlink(path);
  assert_true(brr_startswith(md.data, "earlier\n### brr: Build ERROR\n\n| Step | Status | Ran | Waited | Details |\n"));
  assert_non_null(strstr(md.data, "| a | \xe2\x9c\x85 succeeded | 10.0s | 1.5s |  |\n"));
  assert_non_null(strstr(md.data, "| b | \xe2\x9d\x8c failed | 0.5s | 0.0s | b/run: exit status 1 |\n"));
  assert_non_null(strstr(md.data, "| c | \xe2\x8f\xad\xef\xb8\x8f skipped | - | - | depends on b/run, which failed |\n"));
  assert_non_null(strstr(md.data, "Critical path: `a/run` \xe2\x86\x92 `b/run`\n"));
  assert_non_null(strstr(md.data, "<details open><summary>b failed: b/run: exit status 1</summary>\n\n```text\nit broke\n```\n"));
  brr_buf_free(&md);
}

/* Annotations escape what GitHub's workflow commands need escaped. */
static void test_github_error_escapes(void **state) {
  (void)state;
  char path[] = "/tmp/brr-ann-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w+");
  setenv("GITHUB_WORKSPACE", "/src", 1);
  brr_ui_github_error(f, "/src/dir/buildrunner.yaml", 4, 7, "brr: configuration error", "50% bad\nvalue");
  brr_ui_github_error(f, NULL, 0, 0, "a,b", "m");
  fclose(f);
  brr_buf b = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(path, &b), 0);
  unlink(path);
  assert_string_equal(b.data, "::error file=dir/buildrunner.yaml,line=4,col=7,title=brr%3A configuration error::50%25 bad%0Avalue\n"
                              "::error title=a%2Cb::m\n");
  brr_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_alone_streams_live, setup),
      cmocka_unit_test_setup(test_parallel_heartbeat_then_alone, setup),
      cmocka_unit_test_setup(test_live_then_parallel, setup),
      cmocka_unit_test_setup(test_heartbeat_settings, setup),
      cmocka_unit_test_setup(test_gitlab_buildkite_live, setup),
      cmocka_unit_test_setup(test_github_step_summary, setup),
      cmocka_unit_test_setup(test_github_error_escapes, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
