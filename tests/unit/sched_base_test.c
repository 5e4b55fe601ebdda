/* The task base (sched.h, src/sched/task.c) every node kind embeds: the report waits until
 * the task's counted handles have closed, cancel reaches a kind at most once and never after
 * its end, UV_ECANCELED counts as a cancellation, phases close at the end, and the scheduler
 * frees the block after the kind's free (ASan/LeakSanitizer check the rest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched_support.h"

typedef enum {
  BK_OK,            /* end 0 at `ms` */
  BK_FAIL,          /* end BRR_EFAILED at `ms` */
  BK_LONG,          /* runs until cancelled, then ends with UV_ECANCELED */
  BK_HELD,          /* at `ms`: end 0 while an extra handle stays open for `hold_ms` more */
  BK_SELF_CANCEL,   /* ends with UV_ECANCELED by itself, never cancelled */
} bk_mode;

typedef struct bk_spec {
  bk_mode mode;
  int ms, hold_ms;
} bk_spec;

typedef struct bk_world {
  bk_spec spec[8];
  int cancels[8], aborts[8], frees[8];
  bool extra_closed[8];
  bool freed_before_close[8];
} bk_world;

static bk_world *BW;

typedef struct bk_task {
  brr_task base;            /* first */
  uv_timer_t extra;         /* BK_HELD: a handle of the kind's own, counted */
} bk_task;

static void extra_closed(uv_handle_t *h) {
  bk_task *k = h->data;
  BW->extra_closed[k->base.node] = true;
  brr_task_handle_closed(&k->base);
}

static void extra_fired(uv_timer_t *t) { uv_close((uv_handle_t *)t, extra_closed); }

static void fired(uv_timer_t *timer) {
  bk_task *k = timer->data;   /* the base's timer: data is the base, the block's start */
  brr_task *t = &k->base;
  const bk_spec *sp = &BW->spec[t->node];
  brr_task_set_phase(t, "second");
  switch (sp->mode) {
  case BK_OK: brr_task_end(t, 0, NULL); break;
  case BK_FAIL: brr_task_end(t, BRR_EFAILED, "bk failed"); break;
  case BK_SELF_CANCEL: brr_task_end(t, UV_ECANCELED, NULL); break;
  case BK_HELD:
    uv_timer_init(t->timer.loop, &k->extra);
    k->extra.data = k;
    brr_task_handle_open(t);
    uv_timer_start(&k->extra, extra_fired, (uint64_t)sp->hold_ms, 0);
    brr_task_end(t, 0, NULL);
    break;
  case BK_LONG: break;
  }
}

static int bk_start(brr_task *t, uv_loop_t *loop) {
  const bk_spec *sp = &BW->spec[t->node];
  brr_task_set_phase(t, "first");
  if (sp->mode != BK_LONG) uv_timer_start(brr_task_timer(t, loop), fired, (uint64_t)sp->ms, 0);
  else brr_task_timer(t, loop);
  return 0;
}

static void bk_cancel(brr_task *t) {
  BW->cancels[t->node]++;
  assert_true(t->cancelled);
  assert_false(t->ending);
  brr_task_end(t, UV_ECANCELED, NULL);
}

static void bk_abort(brr_task *t) { BW->aborts[t->node]++; }

static void bk_free(brr_task *t) {
  BW->frees[t->node]++;
  if (BW->spec[t->node].mode == BK_HELD && !BW->extra_closed[t->node]) BW->freed_before_close[t->node] = true;
}

static const brr_task_ops bk_ops = {.name = "bk", .start = bk_start, .cancel = bk_cancel, .free = bk_free,
                                    .abort = bk_abort};

static int bk_factory(void *ud, const brr_graph *g, size_t node, brr_task **out) {
  (void)ud;
  (void)g;
  (void)node;
  bk_task *k = brr_task_new(sizeof *k, &bk_ops);
  assert_ptr_equal(k->base.impl, k);
  assert_true(k->base.owned);
  *out = &k->base;
  return 0;
}

static int bk_run(brr_graph *g, tt_events *ev, brr_sched_result *res) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_bus_subscribe(bus, tt_collect, ev);
  brr_sched_opts o = {.jobs = 4, .bus = bus, .factory = bk_factory};
  int rc = brr_sched_run(&loop, g, &o, res);
  int closed = uv_loop_close(&loop);   /* every handle of every task has closed */
  brr_bus_free(bus);
  return closed == 0 ? rc : -1000;
}

static int setup(void **state) {
  (void)state;
  BW = calloc(1, sizeof *BW);
  E = calloc(1, sizeof *E);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tt_events_free(E);
  free(E);
  free(BW);
  return 0;
}

/* The report waits for the kind's own handle: the task is freed only after it closed. */
static void test_end_waits_for_handles(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(2);
  assert_int_equal(tt_finish(g), 0);
  BW->spec[0] = (bk_spec){.mode = BK_HELD, .ms = 5, .hold_ms = 80};
  BW->spec[1] = (bk_spec){.mode = BK_OK, .ms = 5};
  brr_sched_result res;
  assert_int_equal(bk_run(g, E, &res), 0);
  assert_int_equal(res.status[0], BRR_STATUS_SUCCEEDED);
  assert_true(BW->extra_closed[0]);
  assert_false(BW->freed_before_close[0]);
  assert_int_equal(BW->frees[0], 1);
  assert_int_equal(BW->frees[1], 1);
  free(res.status);
  brr_graph_free(g);
}

/* A failure cancels a running sibling once; its UV_ECANCELED report reads as cancelled. A
 * sibling that has ended (its handle still closing) is not cancelled. */
static void test_cancel_once_not_after_end(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(3);
  assert_int_equal(tt_finish(g), 0);
  BW->spec[0] = (bk_spec){.mode = BK_FAIL, .ms = 40};
  BW->spec[1] = (bk_spec){.mode = BK_LONG};
  BW->spec[2] = (bk_spec){.mode = BK_HELD, .ms = 5, .hold_ms = 200};
  brr_sched_result res;
  assert_int_equal(bk_run(g, E, &res), 1);
  assert_int_equal(res.status[0], BRR_STATUS_FAILED);
  assert_int_equal(res.status[1], BRR_STATUS_CANCELED);
  assert_int_equal(res.status[2], BRR_STATUS_SUCCEEDED);
  assert_int_equal(BW->cancels[0], 0);
  assert_int_equal(BW->cancels[1], 1);
  assert_int_equal(BW->cancels[2], 0);   /* ended: its report only waited for the handle */
  assert_int_equal(BW->aborts[1], 0);
  assert_string_equal(tt_end_text(E, "s0/run"), "bk failed");
  free(res.status);
  brr_graph_free(g);
}

/* UV_ECANCELED from a task nobody cancelled is a cancellation too, not a failure. */
static void test_uv_ecanceled(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(1);
  assert_int_equal(tt_finish(g), 0);
  BW->spec[0] = (bk_spec){.mode = BK_SELF_CANCEL, .ms = 5};
  brr_sched_result res;
  bk_run(g, E, &res);
  assert_int_equal(res.status[0], BRR_STATUS_CANCELED);
  assert_int_equal(res.n_failed, 0);
  assert_int_equal(res.n_canceled, 1);
  free(res.status);
  brr_graph_free(g);
}

/* brr_task_set_phase ends the phase open before; brr_task_end ends the last one. */
static void test_phases(void **state) {
  (void)state;
  brr_graph *g = tt_graph_flat(1);
  assert_int_equal(tt_finish(g), 0);
  BW->spec[0] = (bk_spec){.mode = BK_OK, .ms = 5};
  brr_sched_result res;
  assert_int_equal(bk_run(g, E, &res), 0);
  const char *want[] = {"first", "first", "second", "second"};
  size_t k = 0;
  for (size_t i = 0; i < E->n; i++) {
    if (E->type[i] != BRR_EV_PHASE) continue;
    assert_true(k < 4);
    assert_string_equal(E->text[i], want[k]);
    k++;
  }
  assert_int_equal(k, 4);
  free(res.status);
  brr_graph_free(g);
}

/* A task never started, freed without the scheduler: the kind's free, then the block (the
 * leak checker sees the rest). */
static void test_free_unstarted(void **state) {
  (void)state;
  brr_task *t = NULL;
  assert_int_equal(bk_factory(NULL, NULL, 3, &t), 0);
  t->node = 3;
  brr_task_free(t);
  assert_int_equal(BW->frees[3], 1);
  brr_task_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_end_waits_for_handles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_once_not_after_end, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uv_ecanceled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_phases, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_unstarted, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
