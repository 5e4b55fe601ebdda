/* Scheduler: start order (priority, then file order), job slots, pools, no-work and broken
 * tasks, and the duration history that weights the next run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>

#include "unit/sched_support.h"

/* With one slot the start order is exactly the graph's one-slot order: ready nodes by
 * priority, ties by index. */
static void test_one_slot_follows_priority(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(8);
  double weights[8] = {1, 5, 1, 3, 1, 1, 9, 1};
  for (size_t i = 0; i < 8; i++) g->nodes[i].weight = weights[i];
  brr_graph_add_edge(g, 0, 1, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);  /* 0 -> 1: 0 has priority 6 */
  brr_graph_add_edge(g, 2, 3, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);  /* 2 -> 3: 2 has priority 4 */
  assert_int_equal(tt_finish(g), 0);
  for (size_t i = 0; i < 8; i++) W->spec[i].ms = 1;
  brr_sched_opts o = {.jobs = 1};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 0);
  assert_int_equal(res.exit_code, 0);
  assert_int_equal(res.n_succeeded, 8);
  assert_int_equal(W->n_started, 8);
  /* 6 (9), then 0 (6), then 1 (5, ready after 0), 2 (4), 3 (3), then 4, 5, 7 by index */
  size_t want[8] = {6, 0, 1, 2, 3, 4, 5, 7};
  for (size_t i = 0; i < 8; i++) assert_int_equal(W->order[i], want[i]);
  for (size_t i = 0; i < 8; i++) assert_int_equal(W->order[i], g->order[i]);
  assert_int_equal(W->max_running, 1);
  free(res.status);
  brr_graph_free(g);
}

/* The heaviest chain starts first even when lighter nodes come earlier in the file. */
static void test_critical_chain_first(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(7);
  for (size_t i = 0; i < 4; i++) g->nodes[i].weight = 1;
  for (size_t i = 4; i < 7; i++) g->nodes[i].weight = 10;
  brr_graph_add_edge(g, 4, 5, BRR_EDGE_IMAGE, BRR_MARK_NONE, NULL);
  brr_graph_add_edge(g, 5, 6, BRR_EDGE_IMAGE, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  for (size_t i = 0; i < 7; i++) W->spec[i].ms = 5;
  brr_sched_opts o = {.jobs = 2};
  assert_int_equal(tt_run(g, W, &o, NULL, NULL), 0);
  assert_int_equal(W->order[0], 4);   /* the chain's head, although node 0 comes first */
  assert_int_equal(W->order[1], 0);
  assert_true(W->g->nodes[4].critical);
  brr_graph_free(g);
}

static void test_jobs_limit(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(12);
  assert_int_equal(tt_finish(g), 0);
  for (size_t i = 0; i < 12; i++) W->spec[i].ms = 20;
  brr_sched_opts o = {.jobs = 3};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, NULL, &res), 0);
  assert_int_equal(W->max_running, 3);
  assert_int_equal(res.n_succeeded, 12);
  assert_int_equal(res.jobs, 3);
  /* 12 nodes of 20 ms: about 240 ms of work (timers run on the loop's cached millisecond
   * clock, so each may measure a little under 20 ms) */
  assert_true(res.sum_s >= 0.2);
  assert_true(res.wall_s >= 0.06);
  free(res.status);
  brr_graph_free(g);
}

/* A full pool holds back its own nodes only: other ready work keeps the slots busy. */
static void test_pools(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(18);
  for (size_t i = 0; i < 10; i++) g->nodes[i].pool = "engine";
  for (size_t i = 10; i < 14; i++) g->nodes[i].pool = "push:registry.example.com";
  for (size_t i = 0; i < 14; i++) g->nodes[i].weight = 100;   /* pooled nodes come first */
  assert_int_equal(tt_finish(g), 0);
  for (size_t i = 0; i < 18; i++) W->spec[i].ms = 15;
  W->pool_name[0] = "engine";
  W->pool_name[1] = "push:registry.example.com";
  brr_pool_limit limits[] = {{"engine", 2}, {"push:registry.example.com", 1}, {"builder:unused", 1}};
  brr_sched_opts o = {.jobs = 8, .pools = limits, .n_pools = 3};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, NULL, &res), 0);
  assert_int_equal(res.n_succeeded, 18);
  assert_int_equal(W->pool_max[0], 2);
  assert_int_equal(W->pool_max[1], 1);
  /* the 4 unpooled nodes ran beside the 3 pooled ones */
  assert_int_equal(W->max_running, 7);
  free(res.status);
  brr_graph_free(g);
}

/* The placement hook: two places of 1 and 2 nodes at once; a node with no place waits
 * (held) and starts when one is given back, and NODE_START names where it runs. */
typedef struct placer {
  int busy[2], max[2], limit[2];
  int where[TT_MAX];
  int asked_full;
} placer;

static bool place2(void *ud, size_t node, const char **where) {
  placer *p = ud;
  for (int k = 0; k < 2; k++) {
    if (p->busy[k] >= p->limit[k]) continue;
    if (++p->busy[k] > p->max[k]) p->max[k] = p->busy[k];
    p->where[node] = k;
    *where = k ? "b" : "a";
    return true;
  }
  p->asked_full++;
  return false;
}

static void unplace2(void *ud, size_t node) {
  placer *p = ud;
  p->busy[p->where[node]]--;
}

static void test_placement(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(9);
  assert_int_equal(tt_finish(g), 0);
  for (size_t i = 0; i < 9; i++) W->spec[i].ms = 15;
  W->spec[4].no_task = true;   /* placed, nothing to do: its place comes back at once */
  placer p = {.limit = {1, 2}};
  brr_sched_opts o = {.jobs = 8, .place = place2, .unplace = unplace2, .place_ud = &p};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 0);
  assert_int_equal(res.n_succeeded, 9);
  assert_int_equal(p.max[0], 1);
  assert_int_equal(p.max[1], 2);
  assert_int_equal(p.busy[0] + p.busy[1], 0);   /* every place given back */
  assert_true(p.asked_full > 0);                /* some nodes were held */
  assert_int_equal(W->max_running, 3);
  int named[2] = {0, 0};
  for (size_t k = 0; k < E->n; k++) {
    if (E->type[k] != BRR_EV_NODE_START) continue;
    assert_non_null(E->text[k]);
    named[strcmp(E->text[k], "b") == 0]++;
  }
  assert_int_equal(named[0] + named[1], 9);
  assert_true(named[0] > 0 && named[1] > 0);
  free(res.status);
  brr_graph_free(g);
}

static void test_no_work_and_broken_tasks(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(5);
  brr_graph_add_edge(g, 0, 3, BRR_EDGE_TASK, BRR_MARK_NONE, NULL);
  brr_graph_add_edge(g, 1, 4, BRR_EDGE_TASK, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0].no_task = true;          /* nothing to do: succeeds, 3 runs after it */
  W->spec[1].factory_error = BRR_EIO; /* fails: 4 is skipped */
  W->spec[2].start_error = BRR_EIO;   /* fails to start */
  W->spec[3].ms = 1;
  W->spec[4].ms = 1;
  brr_sched_opts o = {.jobs = 4, .keep_going = true};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_SUCCEEDED);
  assert_int_equal(res.status[1], BRR_STATUS_FAILED);
  assert_int_equal(res.status[2], BRR_STATUS_FAILED);
  assert_int_equal(res.status[3], BRR_STATUS_SUCCEEDED);
  assert_int_equal(res.status[4], BRR_STATUS_SKIPPED);
  assert_false(W->started[4]);
  assert_non_null(strstr(tt_end_text(E, "s1/run"), "could not create"));
  assert_non_null(strstr(tt_end_text(E, "s2/run"), "could not start"));
  assert_string_equal(tt_end_text(E, "s4/run"), "depends on s1/run, which failed");
  /* every node got exactly one NODE_END, and a NODE_START before it unless skipped */
  for (size_t i = 0; i < 5; i++) {
    int starts = 0, ends = 0;
    for (size_t k = 0; k < E->n; k++) {
      if (!E->node[k] || strcmp(E->node[k], g->nodes[i].id) != 0) continue;
      if (E->type[k] == BRR_EV_NODE_START) {
        assert_int_equal(ends, 0);
        starts++;
      }
      if (E->type[k] == BRR_EV_NODE_END) ends++;
    }
    assert_int_equal(ends, 1);
    assert_int_equal(starts, i == 4 ? 0 : 1);
  }
  assert_int_equal(E->type[0], BRR_EV_RUN_START);
  assert_int_equal(E->type[E->n - 1], BRR_EV_RUN_END);
  free(res.status);
  brr_graph_free(g);
}

/* The first run records durations; the second uses them as weights, so the node that took
 * longest starts first although it is last in the file. */
static void test_history_weights_next_run(void **state) {
  (void)state;
  char dir[] = "/tmp/brr-hist-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = brr_xasprintf("%s/sub/history.tsv", dir);
  brr_sched_opts o = {.jobs = 1, .history_path = path};
  brr_graph *g = tt_graph_flat(4);
  assert_int_equal(tt_finish(g), 0);
  for (size_t i = 0; i < 4; i++) W->spec[i].ms = 2;
  W->spec[3].ms = 120;
  assert_int_equal(tt_run(g, W, &o, NULL, NULL), 0);
  assert_int_equal(W->order[0], 0);
  brr_graph_free(g);

  brr_buf text = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(path, &text), 0);
  assert_true(brr_startswith(text.data, "# brr history v1\n"));
  const char *line = strstr(text.data, "\ts3/run\n");
  assert_non_null(line);
  while (line > text.data && line[-1] != '\n') line--;
  assert_true(atoi(line) >= 120);
  brr_buf_free(&text);

  memset(W, 0, sizeof *W);
  g = tt_graph_flat(4);
  assert_int_equal(tt_finish(g), 0);
  for (size_t i = 0; i < 4; i++) W->spec[i].ms = 2;
  assert_int_equal(tt_run(g, W, &o, NULL, NULL), 0);
  assert_int_equal(W->order[0], 3);
  assert_true(g->nodes[3].weight >= 0.12);
  assert_true(g->nodes[3].critical);
  brr_graph_free(g);
  free(path);
  assert_int_equal(brr_rm_rf(dir), 0);
}

static void test_history_path(void **state) {
  (void)state;
  /* printf %s /p/buildrunner.yaml | sha1sum */
  char *p = brr_sched_history_path("/c", "/p/buildrunner.yaml");
  assert_string_equal(p, "/c/history/98535ea2919aa07bbab7daf5ee351c5ee75efd41.tsv");
  free(p);
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  p = brr_sched_history_path(NULL, "/p/buildrunner.yaml");
  assert_true(brr_startswith(p, "/xdg/brr/history/"));
  free(p);
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/u", 1);
  p = brr_sched_history_path(NULL, "/p/buildrunner.yaml");
  assert_true(brr_startswith(p, "/home/u/.cache/brr/history/"));
  free(p);
}

static void test_default_jobs(void **state) {
  (void)state;
  /* ninja's cores + 2, but never fewer than BRR_SCHED_MIN_JOBS */
  int ninja = (int)uv_available_parallelism() + 2;
  assert_int_equal(brr_sched_default_jobs(), ninja > BRR_SCHED_MIN_JOBS ? ninja : BRR_SCHED_MIN_JOBS);
  assert_true(brr_sched_default_jobs() >= 16);
  brr_graph *g = tt_graph_flat(1);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0].ms = 1;
  brr_sched_opts o = {0};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, NULL, &res), 0);
  assert_int_equal(res.jobs, brr_sched_default_jobs());
  free(res.status);
  brr_graph_free(g);
}

static void test_empty_graph(void **state) {
  (void)state;
  brr_graph *g = brr_graph_new(NULL);
  assert_int_equal(tt_finish(g), 0);
  brr_sched_opts o = {.jobs = 2};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 0);
  assert_int_equal(res.n_succeeded, 0);
  assert_int_equal(E->n, 2);
  free(res.status);
  brr_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_one_slot_follows_priority, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_critical_chain_first, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_jobs_limit, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_placement, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_pools, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_no_work_and_broken_tasks, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_history_weights_next_run, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_history_path, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_default_jobs, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_empty_graph, tt_setup, tt_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
