/* Scheduler failure policies: fail-fast (nothing new starts, running nodes are cancelled,
 * dependents skipped) and --keep-going (everything independent of the failure runs), with
 * timer tasks and with real child processes (no dependent starts, no child is left). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit/sched_support.h"

/* 0 fails -> 1 depends on it; 2 runs long; 3 and 4 wait for a slot; 5 depends on 2. */
static brr_graph *policy_graph(void) {
  brr_graph *g = tt_graph_flat(6);
  double w[6] = {5, 1, 4, 1, 1, 1};
  for (size_t i = 0; i < 6; i++) g->nodes[i].weight = w[i];
  brr_graph_add_edge(g, 0, 1, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
  brr_graph_add_edge(g, 2, 5, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0] = (tt_spec){.ms = 10, .status = BRR_EFAILED};
  W->spec[1] = (tt_spec){.ms = 1};
  W->spec[2] = (tt_spec){.ms = 400};
  W->spec[3] = (tt_spec){.ms = 1};
  W->spec[4] = (tt_spec){.ms = 1};
  W->spec[5] = (tt_spec){.ms = 1};
  return g;
}

static void test_fail_fast(void **state) {
  (void)state;
  brr_graph *g = policy_graph();
  brr_sched_opts o = {.jobs = 2};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.exit_code, 1);
  assert_int_equal(res.signal, 0);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_int_equal(res.status[1], BRR_STATUS_SKIPPED);
  assert_int_equal(res.status[2], BRR_STATUS_CANCELED);
  assert_int_equal(res.status[3], BRR_STATUS_SKIPPED);
  assert_int_equal(res.status[4], BRR_STATUS_SKIPPED);
  assert_int_equal(res.status[5], BRR_STATUS_SKIPPED);
  assert_true(W->canceled[2]);
  assert_int_equal(W->n_started, 2);   /* nothing new started after the failure */
  assert_int_equal(res.n_failed, 1);
  assert_int_equal(res.n_canceled, 1);
  assert_int_equal(res.n_skipped, 4);
  assert_string_equal(tt_end_text(E, "s0/run"), "timer task failed");
  assert_string_equal(tt_end_text(E, "s1/run"), "depends on s0/run, which failed");
  assert_string_equal(tt_end_text(E, "s3/run"), "the build stopped after a failure");
  assert_string_equal(tt_end_text(E, "s5/run"), "depends on s2/run, which was canceled");
  free(res.status);
  brr_graph_free(g);
}

static void test_keep_going(void **state) {
  (void)state;
  brr_graph *g = policy_graph();
  W->spec[2].ms = 30;
  brr_sched_opts o = {.jobs = 2, .keep_going = true};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_int_equal(res.status[1], BRR_STATUS_SKIPPED);
  for (size_t i = 2; i < 6; i++) assert_int_equal(res.status[i], BRR_STATUS_SUCCEEDED);
  assert_false(W->started[1]);
  assert_false(W->canceled[2]);
  assert_int_equal(res.n_succeeded, 4);
  free(res.status);
  brr_graph_free(g);
}

/* A reused node counts as a success: what depends on it runs; it is counted apart too. */
static void test_reused(void **state) {
  (void)state;
  brr_graph *g = policy_graph();
  W->spec[0] = (tt_spec){.ms = 1, .reused = true};
  W->spec[2] = (tt_spec){.ms = 1, .reused = true, .status = BRR_EFAILED};  /* a failure stays one */
  brr_sched_opts o = {.jobs = 2, .keep_going = true};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_REUSED);
  assert_int_equal(res.status[1], BRR_STATUS_SUCCEEDED);
  assert_true(W->started[1]);
  assert_int_equal(res.status[2], BRR_STATUS_FAILED);
  assert_int_equal(res.n_reused, 1);
  assert_int_equal(res.n_succeeded, 4);  /* 0, 1, 3, 4 */
  assert_string_equal(brr_status_name(BRR_STATUS_REUSED), "reused");
  free(res.status);
  brr_graph_free(g);
}

/* Skips travel down a long chain without recursion and every node ends exactly once. */
static void test_skip_long_chain(void **state) {
  (void)state;
  size_t n = 3000;
  brr_graph *g = tt_graph_flat(n);
  for (size_t i = 0; i + 1 < n; i++) brr_graph_add_edge(g, i, i + 1, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0] = (tt_spec){.ms = 1, .status = BRR_EFAILED};
  brr_sched_opts o = {.jobs = 4, .keep_going = true};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, NULL, &res), 1);
  assert_int_equal(res.n_failed, 1);
  assert_int_equal(res.n_skipped, n - 1);
  assert_int_equal(W->n_started, 1);
  free(res.status);
  brr_graph_free(g);
}

static const char *const SH_FAIL[] = {"/bin/sh", "-c", "echo about to fail; exit 3", NULL};
static const char *const SH_SLEEP_TREE[] = {"/bin/sh", "-c", "sleep 30 & sleep 30; wait", NULL};
static const char *const SH_SLEEP[] = {"/bin/sleep", "30", NULL};

/* A failing node with real processes: the dependent never starts (its marker file is never
 * written), the siblings are cancelled, and no process of theirs is left, grandchildren
 * included. */
static void test_fail_fast_processes(void **state) {
  (void)state;
  char dir[] = "/tmp/brr-fail-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *marker = brr_xasprintf("%s/dependent-ran", dir);
  char *script = brr_xasprintf("touch %s", marker);
  const char *dep_argv[] = {"/bin/sh", "-c", script, NULL};

  brr_graph *g = tt_graph_flat(4);
  g->nodes[0].weight = 1;  /* the sleepers start first, so they are running at the failure */
  brr_graph_add_edge(g, 0, 1, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0].argv = SH_FAIL;
  W->spec[1].argv = dep_argv;
  W->spec[2].argv = SH_SLEEP_TREE;
  W->spec[3].argv = SH_SLEEP;
  brr_sched_opts o = {.jobs = 4};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_int_equal(res.status[1], BRR_STATUS_SKIPPED);
  assert_int_equal(res.status[2], BRR_STATUS_CANCELED);
  assert_int_equal(res.status[3], BRR_STATUS_CANCELED);
  assert_false(W->started[1]);
  struct stat st;
  assert_int_equal(stat(marker, &st), -1);
  for (size_t i = 0; i < 4; i++)
    if (i != 1) assert_true(tt_group_gone(W->pid[i]));
  assert_string_equal(tt_end_text(E, "s0/run"), "exit status 3");
  /* its output line came through before its end */
  bool saw = false;
  for (size_t k = 0; k < E->n; k++)
    if (E->type[k] == BRR_EV_NODE_OUTPUT && strcmp(E->text[k], "about to fail") == 0) saw = true;
  assert_true(saw);
  free(res.status);
  brr_graph_free(g);
  free(script);
  free(marker);
  assert_int_equal(brr_rm_rf(dir), 0);
}

static void test_process_results(void **state) {
  (void)state;
  static const char *const ok[] = {"/bin/sh", "-c", "printf 'a\\nb\\r\\npartial'; printf 'err\\n' >&2", NULL};
  static const char *const killed[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
  static const char *const missing[] = {"/nonexistent/brr-test-binary", NULL};
  brr_graph *g = tt_graph_flat(3);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0].argv = ok;
  W->spec[1].argv = killed;
  W->spec[2].argv = missing;
  brr_sched_opts o = {.jobs = 3, .keep_going = true};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_SUCCEEDED);
  assert_string_equal(tt_end_text(E, "s1/run"), "killed by signal 9 (SIGKILL)");
  assert_non_null(strstr(tt_end_text(E, "s2/run"), "cannot run /nonexistent/brr-test-binary"));
  const char *want[] = {"a", "b", "partial", "err"};
  size_t found = 0;
  for (size_t k = 0; k < E->n; k++) {
    if (E->type[k] != BRR_EV_NODE_OUTPUT || strcmp(E->node[k], "s0/run") != 0) continue;
    bool known = false;
    for (size_t j = 0; j < 4; j++) known |= strcmp(E->text[k], want[j]) == 0;
    assert_true(known);
    found++;
  }
  assert_int_equal(found, 4);
  free(res.status);
  brr_graph_free(g);
}

/* The child gets the task's cwd and environment (and only that environment), stdin from
 * /dev/null, and default signal dispositions. */
static void test_process_env_cwd(void **state) {
  (void)state;
  static const char *const argv[] = {"/bin/sh", "-c", "pwd; echo \"$FOO:${HOME-unset}\"; cat; trap", NULL};
  static char *env[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
  brr_graph *g = tt_graph_flat(1);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0] = (tt_spec){.argv = argv, .env = env, .cwd = "/usr"};
  brr_sched_opts o = {.jobs = 1};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 0);
  size_t k = 0;
  const char *want[] = {"/usr", "bar:unset"};
  for (size_t i = 0; i < E->n; i++) {
    if (E->type[i] != BRR_EV_NODE_OUTPUT) continue;
    assert_true(k < 2);   /* cat read nothing, trap lists no traps */
    assert_string_equal(E->text[i], want[k]);
    k++;
  }
  assert_int_equal(k, 2);
  free(res.status);
  brr_graph_free(g);
}

static void test_process_env_cwd_uv_spawn(void **state) {
  setenv("BRR_SPAWN", "uv", 1);
  test_process_env_cwd(state);
  unsetenv("BRR_SPAWN");
}

/* ---- tasks that break the contract ---- */

/* A task that holds a timer it never lets go of and ignores cancel and abort, or (no timer)
 * holds nothing at all and never reports. Kept in globals: the scheduler deliberately keeps
 * abandoned tasks (and itself) allocated, since they could still call in, and a leak checker
 * must see them as reachable. */
typedef struct deaf_task {
  brr_task base;
  uv_timer_t timer;
  bool with_timer;
} deaf_task;
static deaf_task *deaf[2];
static int deaf_aborts, hook_calls;

static void deaf_never(uv_timer_t *t) { (void)t; }
static int deaf_start(brr_task *t, uv_loop_t *loop) {
  deaf_task *d = (deaf_task *)t;
  if (d->with_timer) {
    uv_timer_init(loop, &d->timer);
    uv_timer_start(&d->timer, deaf_never, 600000, 0);
  }
  return 0;
}
static void deaf_cancel(brr_task *t) { (void)t; }
static void deaf_abort(brr_task *t) {
  (void)t;
  deaf_aborts++;
}
static void deaf_free(brr_task *t) { free(t); }
static const brr_task_ops deaf_ops = {.name = "deaf", .start = deaf_start, .cancel = deaf_cancel,
                                      .free = deaf_free, .abort = deaf_abort};

/* Graph of "s0/run" (a failing timer task) then deaf tasks: with_timer for s1, none for s2. */
static int deaf_factory(void *ud, const brr_graph *g, size_t node, brr_task **out) {
  if (strcmp(g->nodes[node].id, "s0/run") == 0) return tt_factory(ud, g, node, out);
  deaf_task *d = calloc(1, sizeof *d);
  d->base.ops = &deaf_ops;
  d->with_timer = strcmp(g->nodes[node].id, "s1/run") == 0;
  deaf[d->with_timer ? 0 : 1] = d;
  *out = &d->base;
  return 0;
}

static void count_hook(void *ud) {
  (void)ud;
  hook_calls++;
}

static int run_deaf(brr_graph *g, uv_loop_t *loop, brr_sched_result *res) {
  brr_bus *bus = brr_bus_new();
  brr_bus_subscribe(bus, tt_collect, E);
  W->g = g;
  brr_sched_opts o = {.jobs = 3, .bus = bus, .factory = deaf_factory, .factory_ud = W, .grace_s = 0.2,
                      .on_abort = count_hook};
  int rc = brr_sched_run(loop, g, &o, res);
  brr_bus_free(bus);
  return rc;
}

/* A task that holds nothing on the loop and never reports: once nothing is left to wait
 * for, it is failed as silent instead of hanging the run. */
static void test_silent_task_fails(void **state) {
  (void)state;
  brr_graph *g = brr_graph_new(NULL);
  brr_graph_add_node(g, "s2/run", BRR_NODE_RUN, 0);
  assert_int_equal(tt_finish(g), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_sched_result res;
  assert_int_equal(run_deaf(g, &loop, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_string_equal(tt_end_text(E, "s2/run"), "the task stopped without reporting its end");
  assert_int_equal(res.n_abandoned, 1);
  assert_false(res.aborted);
  assert_int_equal(uv_loop_close(&loop), 0);
  free(res.status);
  brr_graph_free(g);
}

/* s1 ignores its cancel after s0 fails: when the grace period runs out it gets its abort and
 * the hook runs; after the abort wait it is abandoned and the run returns. */
static void test_deaf_task_is_abandoned(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(2);
  g->nodes[0].weight = 1;
  assert_int_equal(tt_finish(g), 0);
  W->spec[0] = (tt_spec){.ms = 50, .status = BRR_EFAILED};
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_sched_result res;
  deaf_aborts = hook_calls = 0;
  assert_int_equal(run_deaf(g, &loop, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_int_equal(res.status[1], BRR_STATUS_CANCELED);
  assert_string_equal(tt_end_text(E, "s1/run"), "abandoned: did not stop in time");
  assert_int_equal(res.n_abandoned, 1);
  assert_true(res.aborted);
  assert_int_equal(deaf_aborts, 1);
  assert_int_equal(hook_calls, 1);
  /* a late report of an abandoned task is ignored, not a crash */
  brr_task_output(&deaf[0]->base, NULL, 1, "late\n", 5);
  brr_task_done(&deaf[0]->base, 0, NULL);
  /* its timer is still on the loop: only its owner can close it */
  uv_close((uv_handle_t *)&deaf[0]->timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  free(res.status);
  brr_graph_free(g);
}

/* A node whose command had ended when a sibling failed completes with its own status (make,
 * ninja: running jobs finish); one still in its command is cancelled. The commit node of the
 * finished step still runs; a push after it and the steps not started do not. */
static void test_finishing_node_completes(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(6);
  /* 0 fails at 60 ms; 1 ended its command at 10 ms and completes at 200 ms; 2 runs its
   * command for 5 s; 3 is 1's commit; 4 a push after 3; 5 finished its command and then fails */
  g->nodes[3].kind = BRR_NODE_COMMIT;
  g->nodes[3].step = 1;
  g->nodes[4].kind = BRR_NODE_PUSH;
  g->nodes[4].step = BRR_NO_STEP;
  brr_graph_add_edge(g, 1, 3, BRR_EDGE_TASK, BRR_MARK_NONE, NULL);
  brr_graph_add_edge(g, 3, 4, BRR_EDGE_PUSH_BARRIER, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0] = (tt_spec){.ms = 60, .status = BRR_EFAILED};
  W->spec[1] = (tt_spec){.ms = 200, .finishing_ms = 10};
  W->spec[2] = (tt_spec){.ms = 5000};
  W->spec[3] = (tt_spec){.ms = 1};
  W->spec[4] = (tt_spec){.ms = 1};
  W->spec[5] = (tt_spec){.ms = 250, .finishing_ms = 10, .status = BRR_EFAILED};
  brr_sched_opts o = {.jobs = 8};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_int_equal(res.status[1], BRR_STATUS_SUCCEEDED);
  assert_false(W->canceled[1]);
  assert_int_equal(res.status[2], BRR_STATUS_CANCELED);
  assert_true(W->canceled[2]);
  assert_int_equal(res.status[3], BRR_STATUS_SUCCEEDED);
  assert_true(W->started[3]);
  assert_int_equal(res.status[4], BRR_STATUS_SKIPPED);
  assert_false(W->started[4]);
  assert_int_equal(res.status[5], BRR_STATUS_FAILED);   /* its own failure, not "canceled" */
  assert_false(W->canceled[5]);
  assert_int_equal(res.n_failed, 2);
  assert_int_equal(res.exit_code, 1);
  free(res.status);
  brr_graph_free(g);
}

/* With a pool: a commit node running at the failure is not cancelled (it completes its
 * step), and its sibling waiting for the pool slot still runs after the failure. */
static void test_finishing_commit_waits_for_pool(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(4);
  g->nodes[2].kind = g->nodes[3].kind = BRR_NODE_COMMIT;
  g->nodes[2].step = g->nodes[3].step = 1;
  g->nodes[2].pool = g->nodes[3].pool = "tag";
  brr_graph_add_edge(g, 1, 2, BRR_EDGE_TASK, BRR_MARK_NONE, NULL);
  brr_graph_add_edge(g, 1, 3, BRR_EDGE_TASK, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0] = (tt_spec){.ms = 40, .status = BRR_EFAILED};
  W->spec[1] = (tt_spec){.ms = 20, .finishing_ms = 5};
  W->spec[2] = (tt_spec){.ms = 50};
  W->spec[3] = (tt_spec){.ms = 50};
  brr_pool_limit pools[] = {{"tag", 1}};
  brr_sched_opts o = {.jobs = 8, .pools = pools, .n_pools = 1};
  brr_sched_result res;
  assert_int_equal(tt_run(g, W, &o, E, &res), 1);
  assert_int_equal(res.status[1], BRR_STATUS_SUCCEEDED);
  assert_int_equal(res.status[2], BRR_STATUS_SUCCEEDED);
  assert_int_equal(res.status[3], BRR_STATUS_SUCCEEDED);
  free(res.status);
  brr_graph_free(g);
}

/* The same process tests through the uv_spawn path (used where pidfds are missing). */
static void test_fail_fast_processes_uv_spawn(void **state) {
  setenv("BRR_SPAWN", "uv", 1);
  test_fail_fast_processes(state);
  unsetenv("BRR_SPAWN");
}

static void test_process_results_uv_spawn(void **state) {
  setenv("BRR_SPAWN", "uv", 1);
  test_process_results(state);
  unsetenv("BRR_SPAWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reused, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_fail_fast, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_keep_going, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_skip_long_chain, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_finishing_node_completes, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_finishing_commit_waits_for_pool, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_fail_fast_processes, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_process_results, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_fail_fast_processes_uv_spawn, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_process_results_uv_spawn, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_process_env_cwd, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_process_env_cwd_uv_spawn, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_silent_task_fails, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_deaf_task_is_abandoned, tt_setup, tt_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
