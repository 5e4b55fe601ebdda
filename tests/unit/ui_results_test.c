/* The results-dir logs on a full disk: every failed write names the file and the error in
 * the summary, the run is reported failed (exit 1) although every step passed, and the file
 * gets no more lines. The log files are symbolic links to /dev/full, where every write
 * fails with ENOSPC, as on a full filesystem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/ui.h"

static const char *IDS[] = {"a/run", "b/run"};
static const char *LABELS[] = {"a", "b"};

static void emit(brr_bus *bus, brr_event ev) { brr_bus_emit(bus, &ev); }

/* Steps a and b succeed; the run itself would exit 0. */
static void script(brr_bus *bus) {
  emit(bus, (brr_event){.type = BRR_EV_RUN_START, .n_total = 2, .node_ids = IDS, .node_labels = LABELS, .jobs = 2});
  for (size_t i = 0; i < 2; i++) {
    emit(bus, (brr_event){.type = BRR_EV_NODE_START, .step = LABELS[i], .node = IDS[i]});
    for (int k = 0; k < 50; k++) {
      emit(bus, (brr_event){.type = BRR_EV_NODE_OUTPUT, .step = LABELS[i], .node = IDS[i], .stream = 1,
                            .text = "a line of output", .len = 16});
      emit(bus, (brr_event){.type = BRR_EV_FLUSH, .step = LABELS[i], .node = IDS[i]});
    }
    emit(bus, (brr_event){.type = BRR_EV_NODE_END, .step = LABELS[i], .node = IDS[i],
                          .status = BRR_STATUS_SUCCEEDED, .duration = 1});
  }
  emit(bus, (brr_event){.type = BRR_EV_RUN_END, .n_total = 2, .n_succeeded = 2, .wall_s = 2, .sum_s = 2,
                        .critical_s = 1, .jobs = 2, .exit_code = 0});
}

typedef struct run_out {
  char *console;
  bool failed;     /* brr_ui_end */
} run_out;

static run_out run(brr_progress mode, const char *results) {
  char p[] = "/tmp/brr-ui-results-XXXXXX";
  int fd = mkstemp(p);
  assert_true(fd >= 0);
  unlink(p);
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = mode, .fd = fd, .no_color = true,
                                              .timestamps = false, .results_dir = results});
  assert_non_null(ui);
  script(bus);
  run_out r = {NULL, brr_ui_end(ui)};
  brr_ui_free(ui);
  brr_bus_free(bus);
  brr_buf b = BRR_BUF_INIT;
  char tmp[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, tmp, sizeof tmp)) > 0) brr_buf_append(&b, tmp, (size_t)n);
  close(fd);
  r.console = brr_buf_detach(&b);
  return r;
}

static char *results_with_full(const char *root, const char *full_entry) {
  char *results = brr_path_join(root, "results");
  char *logs = brr_path_join(results, "logs");
  assert_int_equal(brr_mkdir_p(logs, 0755), 0);
  char *link = brr_path_join(results, full_entry);
  assert_int_equal(symlink("/dev/full", link), 0);
  free(link);
  free(logs);
  return results;
}

static void test_build_log_full(void **state) {
  (void)state;
  char root[] = "/tmp/brr-ui-results-XXXXXX";
  assert_non_null(mkdtemp(root));
  char *results = results_with_full(root, "build.log");
  run_out r = run(BRR_PROGRESS_PLAIN, results);
  assert_true(r.failed);
  char *want = brr_xasprintf("Results not saved:\n  writing %s/build.log: No space left on device\n", results);
  assert_non_null(strstr(r.console, want));
  assert_non_null(strstr(r.console, "Build ERROR.\n"));
  assert_null(strstr(r.console, "Build SUCCESS."));
  /* reported once, however many lines followed */
  assert_null(strstr(strstr(r.console, "build.log: No") + 1, "build.log: No"));
  /* the step logs that could be written are complete */
  brr_buf log = BRR_BUF_INIT;
  char *p = brr_path_join(results, "logs/a.log");
  assert_int_equal(brr_read_file(p, &log), 0);
  assert_non_null(strstr(log.data, "<== a/run succeeded"));
  free(p);
  brr_buf_free(&log);
  free(want);
  free(r.console);
  brr_rm_rf(root);
  free(results);
}

static void test_step_log_full(void **state) {
  (void)state;
  char root[] = "/tmp/brr-ui-results-XXXXXX";
  assert_non_null(mkdtemp(root));
  char *results = results_with_full(root, "logs/b.log");
  run_out r = run(BRR_PROGRESS_JSON, results);
  assert_true(r.failed);
  /* the JSON stream's run_end says the run failed */
  const char *last = strstr(r.console, "{\"type\":\"run_end\"");
  assert_non_null(last);
  cJSON *o = cJSON_Parse(last);
  assert_non_null(o);
  assert_int_equal(cJSON_GetObjectItem(o, "exit_code")->valueint, 1);
  const cJSON *re = cJSON_GetObjectItem(o, "results_errors");
  assert_int_equal(cJSON_GetArraySize(re), 1);
  assert_non_null(strstr(cJSON_GetArrayItem(re, 0)->valuestring, "/logs/b.log: No space left on device"));
  cJSON_Delete(o);
  /* build.log holds the summary, naming the step log and the error */
  brr_buf log = BRR_BUF_INIT;
  char *p = brr_path_join(results, "build.log");
  assert_int_equal(brr_read_file(p, &log), 0);
  char *want = brr_xasprintf("  writing %s/logs/b.log: No space left on device\n", results);
  assert_non_null(strstr(log.data, want));
  assert_true(brr_endswith(log.data, "Build ERROR.\n"));
  free(want);
  free(p);
  brr_buf_free(&log);
  free(r.console);
  brr_rm_rf(root);
  free(results);
}

static void test_all_written(void **state) {
  (void)state;
  char root[] = "/tmp/brr-ui-results-XXXXXX";
  assert_non_null(mkdtemp(root));
  char *results = brr_path_join(root, "results");
  run_out r = run(BRR_PROGRESS_PLAIN, results);
  assert_false(r.failed);
  assert_non_null(strstr(r.console, "Build SUCCESS.\n"));
  assert_null(strstr(r.console, "Results not saved"));
  free(r.console);
  brr_rm_rf(root);
  free(results);
}

int main(void) {
  setenv("TZ", "UTC", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_build_log_full),
      cmocka_unit_test(test_step_log_full),
      cmocka_unit_test(test_all_written),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
