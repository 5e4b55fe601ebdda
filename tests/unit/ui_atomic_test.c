/* Line atomicity end to end: 8 child processes write 100,000 numbered lines each at the same
 * time (through sed, whose 4 KiB blocks cut lines anywhere), plus a last line without a
 * newline. They run through the scheduler and the plain renderer into a non-blocking pipe
 * read by a slow thread, and into build.log. Every line read back must be whole, carry its
 * own task's prefix, and each task's lines must arrive in order with none missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "unit/sched_support.h"

#define TASKS 8
#define LINES 100000

typedef struct reader {
  int fd;
  brr_buf got;
} reader;

static void *read_all(void *ud) {
  reader *r = ud;
  char buf[3000];   /* small, odd-sized reads: the writer meets a full pipe often */
  ssize_t n;
  size_t reads = 0;
  while ((n = read(r->fd, buf, sizeof buf)) > 0) {
    brr_buf_append(&r->got, buf, (size_t)n);
    if (++reads % 64 == 0) usleep(1000);
  }
  return NULL;
}

/* Check one rendered stream; `skip_ts` drops buildrunner's timestamp (build.log has one). */
static void verify(const char *text, bool skip_ts) {
  long next[TASKS] = {0};
  bool tail[TASKS] = {false}, ended[TASKS] = {false};
  bool in_summary = false;
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);   /* the stream ends with a whole line */
    char line[256];
    size_t len = (size_t)(nl - p);
    assert_true(len < sizeof line);
    memcpy(line, p, len);
    line[len] = '\0';
    p = nl + 1;
    if (len == 0) continue;
    if (in_summary || brr_startswith(line, "Summary:")) {
      in_summary = true;   /* the summary closes the stream; checked elsewhere */
      continue;
    }
    const char *l = line;
    if (skip_ts) {
      /* every build.log line carries "YYYY-MM-DD HH:MM:SS,mmm " */
      assert_true(len > 24 && line[4] == '-' && line[10] == ' ' && line[19] == ',' && line[23] == ' ');
      l += 24;
    }
    int t = -1, t2 = -1, consumed = 0, used = 0;
    long num = -1;
    assert_int_equal(sscanf(l, "s%d |%n", &t, &consumed), 1);
    assert_true(t >= 0 && t < TASKS);
    const char *body = l + consumed;
    if (brr_startswith(body, " ==> ")) continue;
    if (brr_startswith(body, " <== ")) {
      assert_non_null(strstr(body, "succeeded"));
      assert_int_equal(next[t], LINES);
      assert_true(tail[t]);
      ended[t] = true;
      continue;
    }
    if (sscanf(body, " %d tail%n", &t2, &used) == 1 && used > 0) {
      assert_int_equal(body[used], '\0');
      assert_int_equal(t2, t);
      assert_int_equal(next[t], LINES);   /* the partial last line came after all others */
      tail[t] = true;
      continue;
    }
    used = 0;
    assert_int_equal(sscanf(body, " %d %ld%n", &t2, &num, &used), 2);
    assert_int_equal(body[used], '\0');   /* nothing glued after the number */
    assert_int_equal(t2, t);              /* the prefix belongs to this line's task */
    assert_int_equal(num, next[t] + 1);   /* in order, none missing */
    next[t] = num;
  }
  for (int t = 0; t < TASKS; t++) {
    assert_int_equal(next[t], LINES);
    assert_true(tail[t]);
    assert_true(ended[t]);
  }
}

static void test_eight_writers(void **state) {
  (void)state;
  tt_world *w = calloc(1, sizeof *w);
  char *scripts[TASKS];
  const char *argv[TASKS][4];
  brr_graph *g = tt_graph_flat(TASKS);
  assert_int_equal(tt_finish(g), 0);
  for (int t = 0; t < TASKS; t++) {
    scripts[t] = brr_xasprintf("seq 1 %d | sed 's/^/%d /'; printf '%d tail'", LINES, t, t);
    argv[t][0] = "/bin/sh";
    argv[t][1] = "-c";
    argv[t][2] = scripts[t];
    argv[t][3] = NULL;
    w->spec[t].argv = argv[t];
  }
  char dir[] = "/tmp/brr-atomic-XXXXXX";
  assert_non_null(mkdtemp(dir));

  int p[2];
  assert_int_equal(pipe(p), 0);
  fcntl(p[1], F_SETFL, O_NONBLOCK);
  reader r = {p[0], BRR_BUF_INIT};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, read_all, &r), 0);

  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .fd = p[1], .no_color = true,
                                              .results_dir = dir});
  assert_non_null(ui);
  w->g = g;
  brr_sched_opts o = {.jobs = TASKS, .bus = bus, .factory = tt_factory, .factory_ud = w};
  brr_sched_result res;
  assert_int_equal(brr_sched_run(&loop, g, &o, &res), 0);
  assert_int_equal(res.n_succeeded, TASKS);
  assert_int_equal(w->max_running, TASKS);   /* all eight wrote at the same time */
  brr_ui_free(ui);
  brr_bus_free(bus);
  assert_int_equal(uv_loop_close(&loop), 0);
  close(p[1]);
  pthread_join(th, NULL);
  close(p[0]);

  verify(r.got.data, false);
  brr_buf_free(&r.got);

  char *path = brr_path_join(dir, "build.log");
  brr_buf log = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(path, &log), 0);
  verify(log.data, true);
  brr_buf_free(&log);
  free(path);

  free(res.status);
  brr_graph_free(g);
  for (int t = 0; t < TASKS; t++) free(scripts[t]);
  free(w);
  assert_int_equal(brr_rm_rf(dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_eight_writers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
