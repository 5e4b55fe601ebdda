/* Scheduler under SIGINT/SIGTERM sent to the test's own process while a graph of child
 * processes runs: exit 130/143, running tasks cancelled, dependents skipped, no child left.
 * A second SIGINT, or a grace period that runs out, ends the run at once through each
 * task's abort and the caller's on_abort hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>

#include "unit/sched_support.h"

/* Sends signals to this process from inside the loop, at given times after the run starts. */
typedef struct killer {
  int sig[2];
  uint64_t at_ms[2];
  int n, sent;
  uv_timer_t timer;
} killer;

static void killer_fire(uv_timer_t *t) {
  killer *k = t->data;
  kill(getpid(), k->sig[k->sent]);
  k->sent++;
  if (k->sent < k->n) uv_timer_start(t, killer_fire, k->at_ms[k->sent] - k->at_ms[k->sent - 1], 0);
  else uv_close((uv_handle_t *)t, NULL);
}

static int abort_calls;
static void on_abort(void *ud) {
  (void)ud;
  abort_calls++;
}

/* Run g on a loop with a killer armed; the loop must be closable afterwards. */
static int run_with_signals(brr_graph *g, brr_sched_opts *o, killer *k, brr_sched_result *res) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_bus_subscribe(bus, tt_collect, E);
  uv_timer_init(&loop, &k->timer);
  k->timer.data = k;
  uv_timer_start(&k->timer, killer_fire, k->at_ms[0], 0);
  uv_unref((uv_handle_t *)&k->timer);
  W->g = g;
  o->bus = bus;
  o->factory = tt_factory;
  o->factory_ud = W;
  o->handle_signals = true;
  o->on_abort = on_abort;
  int rc = brr_sched_run(&loop, g, o, res);
  if (!uv_is_closing((uv_handle_t *)&k->timer)) uv_close((uv_handle_t *)&k->timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  brr_bus_free(bus);
  return rc;
}

static const char *const SLEEPER[] = {"/bin/sh", "-c", "sleep 30 & sleep 30; wait", NULL};
static const char *const STUBBORN[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30 & sleep 30; wait", NULL};
static const char *const QUICK[] = {"/bin/true", NULL};

/* 3 long sleepers, each with a dependent that must never start. */
static brr_graph *sleepers(const char *const *argv) {
  brr_graph *g = tt_graph_flat(6);
  for (size_t i = 0; i < 3; i++) {
    brr_graph_add_edge(g, i, i + 3, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
    W->spec[i].argv = argv;
    W->spec[i + 3].argv = QUICK;
  }
  assert_int_equal(tt_finish(g), 0);
  return g;
}

static void check_stopped(brr_sched_result *res, int exit_code, int sig) {
  assert_int_equal(res->exit_code, exit_code);
  assert_int_equal(res->signal, sig);
  for (size_t i = 0; i < 3; i++) {
    assert_true(W->started[i]);
    assert_int_equal(res->status[i], BRR_STATUS_CANCELED);
    assert_true(tt_group_gone(W->pid[i]));
    assert_false(W->started[i + 3]);
    assert_int_equal(res->status[i + 3], BRR_STATUS_SKIPPED);
  }
  assert_string_equal(tt_end_text(E, "s3/run"), "depends on s0/run, which was canceled");
}

static void test_sigint(void **state) {
  (void)state;
  brr_graph *g = sleepers(SLEEPER);
  killer k = {.sig = {SIGINT}, .at_ms = {150}, .n = 1};
  brr_sched_opts o = {.jobs = 4};
  brr_sched_result res;
  abort_calls = 0;
  assert_int_equal(run_with_signals(g, &o, &k, &res), 130);
  check_stopped(&res, 130, SIGINT);
  assert_int_equal(abort_calls, 0);   /* the children stopped on SIGTERM: no abort needed */
  assert_false(res.aborted);
  free(res.status);
  brr_graph_free(g);
}

static void test_sigterm(void **state) {
  (void)state;
  brr_graph *g = sleepers(SLEEPER);
  killer k = {.sig = {SIGTERM}, .at_ms = {150}, .n = 1};
  brr_sched_opts o = {.jobs = 4};
  brr_sched_result res;
  assert_int_equal(run_with_signals(g, &o, &k, &res), 143);
  check_stopped(&res, 143, SIGTERM);
  free(res.status);
  brr_graph_free(g);
}

/* Children ignore SIGTERM; grace and the tasks' own SIGKILL delay are 30 s or more: only
 * the second SIGINT (SIGKILL through the tasks' abort, then the hook) can end the run within
 * seconds. */
static void test_second_sigint_ends_at_once(void **state) {
  (void)state;
  brr_graph *g = sleepers(STUBBORN);
  W->kill_after_s = 30;
  killer k = {.sig = {SIGINT, SIGINT}, .at_ms = {150, 350}, .n = 2};
  brr_sched_opts o = {.jobs = 4, .grace_s = 60};
  brr_sched_result res;
  abort_calls = 0;
  uint64_t t0 = uv_hrtime();
  assert_int_equal(run_with_signals(g, &o, &k, &res), 130);
  double took = (double)(uv_hrtime() - t0) / 1e9;
  check_stopped(&res, 130, SIGINT);
  assert_int_equal(abort_calls, 1);
  assert_true(res.aborted);
  assert_int_equal(res.n_abandoned, 0);
  assert_true(took < 10);
  free(res.status);
  brr_graph_free(g);
}

/* One SIGTERM, children that ignore it, a short grace period: abort when it runs out. */
static void test_grace_expiry_aborts(void **state) {
  (void)state;
  brr_graph *g = sleepers(STUBBORN);
  W->kill_after_s = 30;
  killer k = {.sig = {SIGTERM}, .at_ms = {150}, .n = 1};
  brr_sched_opts o = {.jobs = 4, .grace_s = 0.3};
  brr_sched_result res;
  abort_calls = 0;
  assert_int_equal(run_with_signals(g, &o, &k, &res), 143);
  check_stopped(&res, 143, SIGTERM);
  assert_int_equal(abort_calls, 1);
  assert_true(res.aborted);
  assert_true(res.wall_s < 10);   /* the tasks' own SIGKILL would come after 30 s */
  /* the log says why */
  bool saw = false;
  for (size_t i = 0; i < E->n; i++)
    if (E->type[i] == BRR_EV_LOG && E->text[i] && strstr(E->text[i], "grace period")) saw = true;
  assert_true(saw);
  free(res.status);
  brr_graph_free(g);
}

static void test_second_sigint_uv_spawn(void **state) {
  setenv("BRR_SPAWN", "uv", 1);
  test_second_sigint_ends_at_once(state);
  unsetenv("BRR_SPAWN");
}

/* A failure lets a node past its command finish; a SIGTERM after that cancels it too (the
 * user asked for the end), and the commit of its step that was left to run is skipped. */
static void test_signal_after_failure_cancels_finishing(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(3);
  g->nodes[2].kind = BRR_NODE_COMMIT;
  g->nodes[2].step = 1;
  brr_graph_add_edge(g, 1, 2, BRR_EDGE_TASK, BRR_MARK_NONE, NULL);
  assert_int_equal(tt_finish(g), 0);
  W->spec[0] = (tt_spec){.ms = 20, .status = BRR_EFAILED};
  W->spec[1] = (tt_spec){.ms = 30000, .finishing_ms = 5};
  W->spec[2] = (tt_spec){.ms = 1};
  killer k = {.sig = {SIGTERM}, .at_ms = {200}, .n = 1};
  brr_sched_opts o = {.jobs = 4};
  brr_sched_result res;
  abort_calls = 0;
  assert_int_equal(run_with_signals(g, &o, &k, &res), 143);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_int_equal(res.status[1], BRR_STATUS_CANCELED);
  assert_true(W->canceled[1]);
  assert_int_equal(res.status[2], BRR_STATUS_SKIPPED);
  assert_false(W->started[2]);
  assert_int_equal(abort_calls, 0);
  free(res.status);
  brr_graph_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_sigint, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_sigterm, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_second_sigint_ends_at_once, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_grace_expiry_aborts, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_second_sigint_uv_spawn, tt_setup, tt_teardown),
      cmocka_unit_test_setup_teardown(test_signal_after_failure_cancels_finishing, tt_setup, tt_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
