/* The task base every node kind embeds (sched.h): the block's allocation, the one timer, the
 * count of open handles, and the end that reports only once they all closed. The scheduler
 * side (brr_task_done, cancel/abort at most once, free) is in sched.c. */
#include <stdlib.h>

#include "brr/diag.h"
#include "brr/sched.h"

void *brr_task_new(size_t size, const brr_task_ops *ops) {
  brr_task *t = brr_xcalloc(1, size < sizeof *t ? sizeof *t : size);
  t->ops = ops;
  t->impl = t;
  t->owned = true;
  return t;
}

uv_timer_t *brr_task_timer(brr_task *t, uv_loop_t *loop) {
  /* once closed it stays closed: uv_timer_start on a closing timer fails harmlessly */
  if (!t->timer_open && !t->timer_made) {
    t->timer_made = true;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->timer_open = true;
    t->handles++;
  }
  return &t->timer;
}

static void maybe_report(brr_task *t) {
  if (!t->ending || t->reported || t->handles > 0) return;
  t->reported = true;
  brr_task_done(t, t->end_status, t->end_error);
}

void brr_task_handle_open(brr_task *t) { t->handles++; }

void brr_task_handle_closed(brr_task *t) {
  t->handles--;
  maybe_report(t);
}

static void timer_closed(uv_handle_t *h) { brr_task_handle_closed(h->data); }

void brr_task_end(brr_task *t, int status, const char *error) {
  if (t->ending) return;
  t->ending = true;
  brr_task_set_phase(t, NULL);
  t->end_status = status;
  t->end_error = error ? brr_xstrdup(error) : NULL;
  if (t->timer_open) {
    t->timer_open = false;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, timer_closed);
  }
  maybe_report(t);
}

void brr_task_free(brr_task *t) {
  if (!t) return;
  if (!t->owned) {
    t->ops->free(t);
    return;
  }
  if (t->ops->free) t->ops->free(t);
  free(t->end_error);
  free(t);
}

int brr_task_hand_over(brr_task *outer, brr_task *inner, uv_loop_t *loop) {
  inner->sched = outer->sched;
  inner->graph = outer->graph;
  inner->node = outer->node;
  inner->step_name = outer->step_name;
  inner->bus = outer->bus;
  return inner->ops->start(inner, loop);
}

void brr_task_set_phase(brr_task *t, const char *phase) { brr_task_phase_to(t, &t->phase, phase); }
