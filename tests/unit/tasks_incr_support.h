/* Shared by the unit tests of incremental run steps (tests/unit/tasks_incr_*_test.c): a
 * build dir driven through the task harness (task_harness.h) with --incremental against the
 * fake engine, its state and artifact store in a cache dir of the test's own
 * ($XDG_CACHE_HOME), so nothing touches the user's cache. Header-only. */
#ifndef BRR_TESTS_TASKS_INCR_SUPPORT_H
#define BRR_TESTS_TASKS_INCR_SUPPORT_H

#include <glob.h>

#include "brr/incr.h"
#include "unit/task_harness.h"

#define TIS_UNUSED __attribute__((unused))

/* The cache dir of the running test (XDG_CACHE_HOME), made by tis_setup. */
static char *TIS_CACHE;

static TIS_UNUSED int tis_setup(void **state) {
  (void)state;
  TIS_CACHE = tu_mkdtemp();
  setenv("XDG_CACHE_HOME", TIS_CACHE, 1);
  return 0;
}

static TIS_UNUSED int tis_teardown(void **state) {
  (void)state;
  brr_rm_rf(TIS_CACHE);
  free(TIS_CACHE);
  TIS_CACHE = NULL;
  unsetenv("XDG_CACHE_HOME");
  return 0;
}

/* Answer the listing exec of every step with `out/a.txt`, and its archive with `content`
 * (a newer call wins: a test changes what the next run collects). */
static TIS_UNUSED void tis_artifact(th *h, const char *content) {
  size_t tlen = 0;
  char *tar = fake_tar(&tlen, "a.txt", content, (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "path=/source/out/a.txt"),
                  200, "application/x-tar", tar, tlen);
  free(tar);
}

/* A build dir whose steps run reg.test/busybox:1 (on the engine), print "hello from one" for
 * every command and collect out/a.txt ("artifact A\n") when they ask for artifacts. Its
 * `tmp` (the runs' temp dirs) is left out of the source by .buildignore. */
static TIS_UNUSED th *tis_new(void) {
  th *h = th_new();
  fake_engine_add_image(h->fe, "reg.test/busybox:1");
  th_file(h, ".buildignore", "tmp\n\n  \n");
  th_file(h, "src/main.c", "int main(void) { return 0; }\n");
  char *mux = NULL;
  size_t len = 0;
  fake_mux_frame(&mux, &len, 1, "hello from one\n", (size_t)-1);
  fake_mux_frame(&mux, &len, 2, "warning from one\n", (size_t)-1);
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/exec/*/start"), 200, "application/vnd.docker.multiplexed-stream",
                  mux, len);
  free(mux);
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "brr_list"), 201,
                 "{\"Id\":\"lister\"}");
  mux = NULL;
  len = 0;
  static const char listing[] = "0\0f\0out/a.txt\0/source/out/a.txt\0";
  fake_mux_frame(&mux, &len, 1, listing, sizeof listing - 1);
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/exec/lister/start"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
  free(mux);
  tis_artifact(h, "artifact A\n");
  return h;
}

/* Run `yaml` with --incremental (and `o`), the output of earlier runs forgotten. */
static TIS_UNUSED int tis_run(th *h, const char *yaml, const th_opts *o) {
  th_opts io = o ? *o : (th_opts){0};
  io.incremental = true;
  brr_buf_reset(&h->out);
  brr_buf_reset(&h->ends);
  return th_run(h, yaml, &io);
}

/* How many files match `pattern` under the test's cache dir. */
static TIS_UNUSED size_t tis_count_cache(const char *pattern) {
  char *p = brr_path_join(TIS_CACHE, pattern);
  glob_t g;
  size_t n = glob(p, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
  globfree(&g);
  free(p);
  return n;
}

/* The state dir of the build dir (heap). */
static TIS_UNUSED char *tis_state_dir(th *h) { return brr_incr_state_dir(h->dir); }

/* How many times `needle` occurs in the output of the last run. */
static TIS_UNUSED size_t tis_said_n(th *h, const char *needle) {
  size_t n = 0;
  for (const char *p = brr_buf_cstr(&h->out); (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

#endif
