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
  /* a step whose commands are its container's own process prints through its attach */
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/containers/*/attach"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
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

/* How many nodes of h's build dir have a record. */
static TIS_UNUSED size_t tis_records(th *h) {
  char *sd = brr_incr_state_dir(h->dir);
  char *p = brr_path_join(sd, "nodes/*.json");
  glob_t g;
  size_t n = glob(p, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
  globfree(&g);
  free(p);
  free(sd);
  return n;
}

/* How many times `needle` occurs in the output of the last run. */
static TIS_UNUSED size_t tis_said_n(th *h, const char *needle) {
  size_t n = 0;
  for (const char *p = brr_buf_cstr(&h->out); (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* --graph --incremental for `yaml` in h's build dir, as the CLI does it (a runtime made for
 * the hashing, no engine asked): each node's "<id>: <note>\n" into *notes, in graph order. */
static TIS_UNUSED int tis_predict(th *h, const char *yaml, brr_buf *notes) {
  th_file(h, "buildrunner.yaml", yaml);
  brr_load_opts lo = {.build_dir = h->dir, .master_config_path = "", .user_config_path = "", .build_number = "42"};
  brr_arena *ga = brr_arena_new();
  brr_value *over = brr_val_map(ga, BRR_MARK_NONE);
  brr_val_map_sets(ga, over, "temp-dir", brr_val_str(ga, BRR_MARK_NONE, h->tmp));
  lo.global_overrides = over;
  brr_config *cfg = NULL;
  brr_graph *g = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_config_load(&lo, &cfg, &d);
  brr_graph_opts go = {.native_platform = "linux/amd64", .fs = &brr_host_fs};
  if (rc == 0) rc = brr_graph_compile(cfg, &go, &g, &d);
  if (rc == 0) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    brr_bus *bus = brr_bus_new();
    brr_runtime_opts ro = {.incremental = true, .docker_host = fake_engine_host(h->fe)};
    brr_runtime *rt = NULL;
    rc = brr_runtime_new(&loop, cfg, g, &ro, bus, &rt, &d);
    if (rc == 0) {
      brr_incr_predict(rt, g);
      brr_runtime_free(rt);
    }
    brr_bus_free(bus);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_walk(&loop, th_close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    for (size_t k = 0; rc == 0 && k < g->n_nodes; k++) {
      const brr_node *n = &g->nodes[g->order[k]];
      brr_buf_printf(notes, "%s: %s\n", n->id, n->incr_note ? n->incr_note : "(none)");
    }
  }
  for (size_t i = 0; i < d.n; i++) brr_buf_printf(notes, "diag: %s\n", d.v[i].msg);
  brr_diags_free(&d);
  brr_graph_free(g);
  brr_config_free(cfg);
  brr_arena_free(ga);
  return rc;
}

#endif
