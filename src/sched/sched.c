/* The scheduler: runs a brr_graph on one libuv loop. Ready nodes wait in a heap ordered by
 * priority (heaviest path to the end) and start while job slots and their pool allow. Tasks
 * report through brr_task_done; reports are queued and handled from an idle callback, so a
 * task may report from inside its own start and no callback ever runs inside another. */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/diag.h"
#include "sched_internal.h"

/* One line splitter per (source, stream) a task writes to. */
typedef struct node_out {
  char *source;
  brr_lines lines;
} node_out;

typedef struct sched_node {
  brr_status status;
  size_t waiting;           /* predecessors not finished yet */
  bool blocked;             /* a predecessor did not succeed */
  size_t blame;             /* that predecessor (for the skip message) */
  bool reported;            /* its task called brr_task_done; handled at the next pump */
  bool reused;              /* its task called brr_task_reused */
  bool cancel_sent, abort_sent, abandoned;
  bool finishing;           /* its command ended: a sibling's failure does not cancel it */
  brr_task *task;
  uint64_t start_ns, end_ns;
  uint64_t ready_ns;        /* when its last predecessor ended (or the run started) */
  int slot;                 /* job slot while it runs, -1 when it holds none */
  int result;
  char *error;
  node_out *outs;
  size_t n_outs, cap_outs;
  size_t pool;
  bool placed;              /* the placement hook gave it a place (given back at its end) */
} sched_node;

struct brr_sched {
  uv_loop_t *loop;
  brr_graph *g;
  brr_sched_opts opts;
  int jobs;
  sched_node *nodes;
  const char **labels;      /* per node: its step's name, or NULL for build-level nodes */
  char **label_store;       /* labels derived from node ids (no config) */
  size_t n_label_store;
  sched_heap ready;
  sched_heap held;          /* ready nodes the placement hook held back */
  sched_pools pools;
  size_t running, finished;
  size_t *reports;          /* FIFO of nodes whose task reported */
  size_t rep_head, rep_n, rep_cap;
  size_t *work;             /* nodes whose end must reach their dependents */
  size_t work_n, work_cap;
  bool draining;
  uv_idle_t idle;
  uv_signal_t sig_int, sig_term;
  uv_timer_t grace, tick;
  int open_handles;
  bool stopping, aborting, abort_expired;
  int signal;
  bool failed;
  uint64_t t0_ns;
  bool returned;            /* brr_sched_run returned: late reports of abandoned tasks are ignored */
  const sched_history *hist;  /* durations of earlier runs during RUN_START, or NULL */
  bool *slot_used;          /* per job slot (at most n_nodes of them): taken by a running node */
  size_t n_slots;
  size_t n_abandoned;
};

/* ninja's cores + 2 suits compilers, which keep a core busy; a pipeline step mostly waits in
 * a container (on the engine, the network, a service), so a small machine would run a wide
 * pipeline a few steps at a time. Never fewer than BRR_SCHED_MIN_JOBS: the engine handles that
 * many containers at once comfortably, and pools cap what must be capped. */
int brr_sched_default_jobs(void) {
  int n = (int)uv_available_parallelism() + 2;
  return n < BRR_SCHED_MIN_JOBS ? BRR_SCHED_MIN_JOBS : n;
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static double node_duration(const sched_node *n) {
  return n->start_ns && n->end_ns > n->start_ns ? secs(n->end_ns - n->start_ns) : 0;
}

static void emit_node(brr_sched *s, brr_event_type type, size_t i, const char *text) {
  const sched_node *n = &s->nodes[i];
  brr_event ev = {.type = type, .step = s->labels[i], .node = s->g->nodes[i].id, .text = text,
                  .len = text ? strlen(text) : 0, .status = n->status, .duration = node_duration(n)};
  brr_bus_emit(s->opts.bus, &ev);
}

static void outs_flush_free(sched_node *n) {
  for (size_t k = 0; k < n->n_outs; k++) {
    brr_lines_flush(&n->outs[k].lines);
    brr_lines_free(&n->outs[k].lines);
    free(n->outs[k].source);
  }
  free(n->outs);
  n->outs = NULL;
  n->n_outs = n->cap_outs = 0;
}

/* ---- the scheduler's side of the task base: cancel and abort at most once, never after
 * brr_task_end ---- */

static void task_cancel(brr_task *t) {
  if (t->cancelled || t->ending) return;
  t->cancelled = true;
  if (t->ops->cancel) t->ops->cancel(t);
}

static void task_abort(brr_task *t) {
  if (t->aborted || t->ending) return;
  t->aborted = true;
  if (t->ops->abort) t->ops->abort(t);
}

/* A report means cancelled when the task was cancelled or says so in brr's code or libuv's. */
static bool canceled_status(int rc) { return rc == BRR_ECANCELED || rc == UV_ECANCELED; }

/* ---- ending nodes and reaching their dependents ---- */

/* Record the end of node i and queue it for propagation. */
static void settle(brr_sched *s, size_t i, brr_status status, const char *text) {
  sched_node *n = &s->nodes[i];
  n->status = status;
  s->finished++;
  if (status == BRR_STATUS_FAILED) s->failed = true;
  emit_node(s, BRR_EV_NODE_END, i, text);
  BRR_VEC_PUSH(s->work, s->work_n, s->work_cap, i);
}

static void skip(brr_sched *s, size_t i) {
  sched_node *n = &s->nodes[i];
  char *why;
  if (n->blocked)
    why = brr_xasprintf("depends on %s, which %s", s->g->nodes[n->blame].id,
                        s->nodes[n->blame].status == BRR_STATUS_FAILED     ? "failed"
                        : s->nodes[n->blame].status == BRR_STATUS_CANCELED ? "was canceled"
                                                                           : "was skipped");
  else
    why = brr_xstrdup(s->signal ? "the build was interrupted" : "the build stopped after a failure");
  settle(s, i, BRR_STATUS_SKIPPED, why);
  free(why);
}

/* After a failure (not a signal), a step whose work is done still completes: its post-build
 * image and its local tags (commit node) make what its finished run produced usable. Pushes
 * and anything of another step do not start. */
static bool completes_step(const brr_sched *s, size_t i) {
  if (s->signal) return false;
  brr_node_kind k = s->g->nodes[i].kind;
  return k == BRR_NODE_COMMIT || k == BRR_NODE_POST_BUILD;
}

/* Walk the queued ends to their dependents: ready ones go to the heap, blocked ones (or all,
 * once stopping) are skipped, and their ends walk on in turn. Iterative: chains of thousands
 * of skipped nodes must not recurse. */
static void drain(brr_sched *s) {
  if (s->draining) return;
  s->draining = true;
  while (s->work_n) {
    size_t x = s->work[--s->work_n];
    const brr_node *node = &s->g->nodes[x];
    bool ok = s->nodes[x].status == BRR_STATUS_SUCCEEDED || s->nodes[x].status == BRR_STATUS_REUSED;
    for (size_t j = 0; j < node->n_out; j++) {
      size_t t = s->g->edges[node->out[j]].to;
      sched_node *tn = &s->nodes[t];
      if (!ok && !tn->blocked) {
        tn->blocked = true;
        tn->blame = x;
      }
      if (--tn->waiting > 0) continue;
      if (tn->blocked || (s->stopping && !completes_step(s, t))) {
        skip(s, t);
      } else {
        tn->ready_ns = uv_hrtime();
        brr__sched_heap_push(&s->ready, t);
      }
    }
  }
  s->draining = false;
}

/* Cancel what still runs its command; a node past it (finishing) is cancelled by a signal
 * only. Every cancel is sent before any task gets to wait: the tasks stop in parallel. */
static void cancel_running(brr_sched *s) {
  for (size_t i = 0; i < s->g->n_nodes; i++) {
    sched_node *n = &s->nodes[i];
    if (n->status != BRR_STATUS_RUNNING || n->reported || n->cancel_sent || !n->task) continue;
    if ((n->finishing || completes_step(s, i)) && !s->signal) continue;
    n->cancel_sent = true;
    task_cancel(n->task);
  }
}

/* Whether a cancelled task has not reported yet: only those are held to the grace period. */
static bool cancelled_out(const brr_sched *s) {
  for (size_t i = 0; i < s->g->n_nodes; i++) {
    const sched_node *n = &s->nodes[i];
    if (n->status == BRR_STATUS_RUNNING && n->cancel_sent && !n->reported && n->task) return true;
  }
  return false;
}

/* Skip what waits in `h`, except the nodes that complete a step (when they may). */
static void skip_waiting(brr_sched *s, sched_heap *h) {
  size_t *keep = NULL, n_keep = 0, cap_keep = 0;
  while (h->n) {
    size_t i = brr__sched_heap_pop(h);
    if (completes_step(s, i)) BRR_VEC_PUSH(keep, n_keep, cap_keep, i);
    else skip(s, i);
  }
  for (size_t k = 0; k < n_keep; k++) brr__sched_heap_push(h, keep[k]);
  free(keep);
}

static void grace_cb(uv_timer_t *t);
static void pump_cb(uv_idle_t *h);

/* Nothing new starts (but the completion of finished steps after a failure); what is ready
 * is skipped; what runs its command is cancelled, with grace_s to clean up before the run is
 * aborted. Called again by a signal after a failure, it cancels the rest. */
static void stop(brr_sched *s) {
  s->stopping = true;
  skip_waiting(s, &s->ready);
  for (size_t p = 0; p < s->pools.n; p++) skip_waiting(s, &s->pools.v[p].waiting);
  skip_waiting(s, &s->held);
  cancel_running(s);
  drain(s);
  if (!s->aborting && !uv_is_active((uv_handle_t *)&s->grace) && cancelled_out(s)) {
    double g = s->opts.grace_s > 0 ? s->opts.grace_s : 10;
    uv_timer_start(&s->grace, grace_cb, (uint64_t)(g * 1000), 0);
  }
}

static void end_node(brr_sched *s, size_t i, brr_status status, const char *text) {
  settle(s, i, status, text);
  if (status == BRR_STATUS_FAILED && !s->opts.keep_going && !s->stopping) stop(s);
  drain(s);
}

static void slot_release(brr_sched *s, sched_node *n) {
  if (n->slot >= 0 && (size_t)n->slot < s->n_slots) s->slot_used[n->slot] = false;
  n->slot = -1;
}

static int slot_take(brr_sched *s) {
  for (size_t k = 0; k < s->n_slots; k++) {
    if (s->slot_used[k]) continue;
    s->slot_used[k] = true;
    return (int)k;
  }
  return -1;
}

static void pool_release(brr_sched *s, sched_node *n) {
  if (n->pool == SCHED_NO_POOL) return;
  sched_pool *p = &s->pools.v[n->pool];
  p->in_use--;
  /* one freed slot lets one waiting node back into the race */
  /* (once stopping, only nodes that may still start wait there) */
  if (p->waiting.n) brr__sched_heap_push(&s->ready, brr__sched_heap_pop(&p->waiting));
}

/* A placed node ended: its place is free, and every held node may try again. */
static void unplace(brr_sched *s, size_t i) {
  sched_node *n = &s->nodes[i];
  if (!n->placed) return;
  n->placed = false;
  if (s->opts.unplace) s->opts.unplace(s->opts.place_ud, i);
  while (s->held.n) brr__sched_heap_push(&s->ready, brr__sched_heap_pop(&s->held));
}

/* A task reported: flush its last partial lines, free it, end the node. */
static void finish(brr_sched *s, size_t i) {
  sched_node *n = &s->nodes[i];
  outs_flush_free(n);
  brr_status st = BRR_STATUS_FAILED;
  if (n->result == 0) st = n->reused ? BRR_STATUS_REUSED : BRR_STATUS_SUCCEEDED;
  else if (n->cancel_sent || canceled_status(n->result)) st = BRR_STATUS_CANCELED;
  if (n->task) {
    brr_task_free(n->task);
    n->task = NULL;
  }
  s->running--;
  slot_release(s, n);
  pool_release(s, n);
  unplace(s, i);
  const char *why = n->error;
  if (!why && st == BRR_STATUS_FAILED) why = "failed";
  end_node(s, i, st, why);
  free(n->error);
  n->error = NULL;
  /* the grace period holds only while a cancelled task is out (cancelled_out scans: only
   * once stopping) */
  if (s->running == 0 || (s->stopping && !s->aborting && !cancelled_out(s)))
    uv_timer_stop(&s->grace);
}

/* ---- starting nodes ---- */

static void queue_report(brr_sched *s, size_t i) {
  if (s->rep_head + s->rep_n == s->rep_cap) {
    if (s->rep_head > 0) {
      memmove(s->reports, s->reports + s->rep_head, s->rep_n * sizeof(size_t));
      s->rep_head = 0;
    } else {
      s->rep_cap = s->rep_cap ? s->rep_cap * 2 : 64;
      s->reports = brr_xrealloc(s->reports, s->rep_cap * sizeof(size_t));
    }
  }
  s->reports[s->rep_head + s->rep_n++] = i;
  if (!uv_is_active((uv_handle_t *)&s->idle)) uv_idle_start(&s->idle, pump_cb);
}

static void start_node(brr_sched *s, size_t i, const char *where) {
  sched_node *n = &s->nodes[i];
  brr_task *t = NULL;
  int rc = s->opts.factory ? s->opts.factory(s->opts.factory_ud, s->g, i, &t) : 0;
  n->start_ns = n->end_ns = uv_hrtime();
  n->status = BRR_STATUS_RUNNING;
  n->slot = rc < 0 || !t ? -1 : slot_take(s);
  {
    brr_event ev = {.type = BRR_EV_NODE_START, .step = s->labels[i], .node = s->g->nodes[i].id,
                    .slot = n->slot, .pool = s->g->nodes[i].pool, .engine = where,
                    .wait_s = n->ready_ns && n->start_ns > n->ready_ns ? secs(n->start_ns - n->ready_ns) : 0};
    brr_bus_emit(s->opts.bus, &ev);
  }
  if (rc < 0 || !t) {
    /* no work, or no task could be made: the node ends at once without a slot */
    char *why = rc < 0 ? brr_xasprintf("could not create its task: %s", brr_strerror(rc)) : NULL;
    unplace(s, i);
    end_node(s, i, rc < 0 ? BRR_STATUS_FAILED : BRR_STATUS_SUCCEEDED, why);
    free(why);
    return;
  }
  t->sched = s;
  t->graph = s->g;
  t->node = i;
  t->step_name = s->labels[i];
  t->bus = s->opts.bus;
  n->task = t;
  s->running++;
  if (n->pool != SCHED_NO_POOL) s->pools.v[n->pool].in_use++;
  rc = t->ops->start(t, s->loop);
  if (rc < 0 && !n->reported) {
    n->reported = true;
    n->result = rc;
    n->error = brr_xasprintf("could not start: %s", brr_strerror(rc));
    n->end_ns = uv_hrtime();
    queue_report(s, i);
  }
}

static void schedule(brr_sched *s) {
  while (s->running < (size_t)s->jobs && s->ready.n) {
    size_t i = brr__sched_heap_pop(&s->ready);
    if (s->stopping && !completes_step(s, i)) {
      skip(s, i);
      drain(s);
      continue;
    }
    size_t p = s->nodes[i].pool;
    if (p != SCHED_NO_POOL && brr__sched_pool_full(&s->pools.v[p])) {
      brr__sched_heap_push(&s->pools.v[p].waiting, i);
      continue;
    }
    const char *where = NULL;
    if (s->opts.place) {
      if (!s->opts.place(s->opts.place_ud, i, &where)) {
        brr__sched_heap_push(&s->held, i);
        continue;
      }
      s->nodes[i].placed = true;
    }
    start_node(s, i, where);
  }
}

/* Handle every queued report, start what may start, until nothing changes. */
static void pump(brr_sched *s) {
  for (;;) {
    while (s->rep_n) {
      size_t i = s->reports[s->rep_head++];
      s->rep_n--;
      finish(s, i);
    }
    s->rep_head = 0;
    schedule(s);
    if (!s->rep_n) break;
  }
  uv_idle_stop(&s->idle);
}

static void pump_cb(uv_idle_t *h) { pump(h->data); }

/* ---- the task interface ---- */

void brr_task_done(brr_task *t, int status, const char *error) {
  brr_sched *s = t->sched;
  if (!s || s->returned) return;
  sched_node *n = &s->nodes[t->node];
  if (n->reported || n->abandoned) return;
  n->reported = true;
  n->result = status;
  n->error = error ? brr_xstrdup(error) : NULL;
  n->end_ns = uv_hrtime();
  queue_report(s, t->node);
}

void brr_task_reused(brr_task *t) {
  brr_sched *s = t->sched;
  if (!s || s->returned) return;
  s->nodes[t->node].reused = true;
}

void brr_task_finishing(brr_task *t) {
  brr_sched *s = t->sched;
  if (!s || s->returned) return;
  s->nodes[t->node].finishing = true;
}

void brr_task_output(brr_task *t, const char *source, int stream, const char *data, size_t len) {
  brr_sched *s = t->sched;
  if (!s || s->returned || len == 0) return;
  sched_node *n = &s->nodes[t->node];
  if (n->abandoned) return;
  node_out *o = NULL;
  for (size_t k = 0; k < n->n_outs && !o; k++)
    if (n->outs[k].lines.stream == stream && brr_streq(n->outs[k].source, source)) o = &n->outs[k];
  if (!o) {
    node_out fresh = {source ? brr_xstrdup(source) : NULL, {0}};
    BRR_VEC_PUSH(n->outs, n->n_outs, n->cap_outs, fresh);
    o = &n->outs[n->n_outs - 1];
    brr_lines_init(&o->lines, s->opts.bus, s->labels[t->node], s->g->nodes[t->node].id, o->source, stream);
  }
  brr_lines_feed(&o->lines, data, len);
}

void brr_task_phase_to(brr_task *t, const char **open, const char *next) {
  if (*open == next) return;
  if (*open) brr_task_phase(t, *open, true);
  *open = next;
  if (next) brr_task_phase(t, next, false);
}

void brr_task_phase(brr_task *t, const char *phase, bool end) {
  brr_sched *s = t->sched;
  if (!s || s->returned || s->nodes[t->node].abandoned) return;
  brr_event ev = {.type = BRR_EV_PHASE, .step = s->labels[t->node], .node = s->g->nodes[t->node].id,
                  .text = phase, .len = strlen(phase), .phase_end = end};
  brr_bus_emit(s->opts.bus, &ev);
}

void brr_task_log(brr_task *t, brr_log_level level, const char *fmt, ...) {
  brr_sched *s = t->sched;
  if (!s || s->returned || s->nodes[t->node].abandoned) return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  brr_event ev = {.type = BRR_EV_LOG, .step = s->labels[t->node], .node = s->g->nodes[t->node].id,
                  .level = level, .text = msg, .len = strlen(msg)};
  brr_bus_emit(s->opts.bus, &ev);
  free(msg);
}

/* ---- signals, grace, abort ---- */

static void abort_wait_cb(uv_timer_t *t) { ((brr_sched *)t->data)->abort_expired = true; }

/* End at once: SIGKILL through each task's abort, the caller's synchronous cleanup, then a
 * short wait for reports before brr_sched_run returns regardless. */
static void abort_run(brr_sched *s, const char *why) {
  if (s->aborting) return;
  s->aborting = true;
  brr_bus_log(s->opts.bus, BRR_LOG_ERROR, NULL, "%s: ending at once", why);
  for (size_t i = 0; i < s->g->n_nodes; i++) {
    sched_node *n = &s->nodes[i];
    if (n->status != BRR_STATUS_RUNNING || n->reported || n->abort_sent || !n->task) continue;
    n->abort_sent = n->cancel_sent = true;
    task_abort(n->task);
  }
  if (s->opts.on_abort) s->opts.on_abort(s->opts.abort_ud);
  uv_timer_start(&s->grace, abort_wait_cb, (uint64_t)(BRR_SCHED_ABORT_WAIT_S * 1000), 0);
}

static void grace_cb(uv_timer_t *t) {
  brr_sched *s = t->data;
  if (s->running == 0 || !cancelled_out(s)) return;
  abort_run(s, "cancelled tasks did not finish within the grace period");
}

static void interrupt(brr_sched *s, int signum) {
  if (s->signal) {
    abort_run(s, signum == SIGINT ? "second SIGINT" : "second signal");
    return;
  }
  s->signal = signum;
  if (signum == SIGPIPE)
    brr_bus_log(s->opts.bus, BRR_LOG_WARNING, NULL, "the output was closed (SIGPIPE): cancelling %zu "
                "running task%s", s->running, s->running == 1 ? "" : "s");
  else
    brr_bus_log(s->opts.bus, BRR_LOG_WARNING, NULL, "%s received: cancelling %zu running task%s (press Ctrl-C again to end at once)",
                signum == SIGINT ? "SIGINT" : "SIGTERM", s->running, s->running == 1 ? "" : "s");
  stop(s);   /* also after a failure: what was left to finish is cancelled now */
  if (s->rep_n) uv_idle_start(&s->idle, pump_cb);
}

static void signal_cb(uv_signal_t *h, int signum) { interrupt(h->data, signum); }

/* Whether stdout or stderr is a pipe (or socket) whose reader has gone: `brr | head -1`.
 * SIGPIPE is ignored while brr runs (a write then fails with EPIPE and the ui drops its
 * output), so brr looks for that state itself, once a second. */
static bool output_closed(void) {
  struct pollfd pfd[2] = {{.fd = STDOUT_FILENO, .events = POLLOUT},
                          {.fd = STDERR_FILENO, .events = POLLOUT}};
  if (poll(pfd, 2, 0) <= 0) return false;
  return (pfd[0].revents & POLLERR) || (pfd[1].revents & POLLERR);
}

static void tick_cb(uv_timer_t *t) {
  brr_sched *s = t->data;
  /* a closed output ends the run as SIGTERM does, with 128 + SIGPIPE */
  if (s->opts.handle_signals && !s->signal && output_closed()) interrupt(s, SIGPIPE);
  brr_event ev = {.type = BRR_EV_TICK};
  brr_bus_emit(s->opts.bus, &ev);
}

/* Tasks still out after the abort wait, or that hold nothing on the loop and never
 * reported: end them as cancelled/failed without freeing them (they may yet call in). */
static void abandon(brr_sched *s, bool stalled) {
  for (size_t i = 0; i < s->g->n_nodes; i++) {
    sched_node *n = &s->nodes[i];
    if (n->status != BRR_STATUS_RUNNING || n->reported || !n->task) continue;
    n->abandoned = true;
    n->task = NULL;
    n->end_ns = uv_hrtime();
    s->n_abandoned++;
    s->running--;
    slot_release(s, n);
    outs_flush_free(n);
    end_node(s, i, stalled ? BRR_STATUS_FAILED : BRR_STATUS_CANCELED,
             stalled ? "the task stopped without reporting its end" : "abandoned: did not stop in time");
  }
  pump(s);
}

/* ---- the run ---- */

static double weight_from_history(void *ud, const brr_node *node) {
  return brr__sched_history_get(ud, node->id);
}

/* The step name each node's lines are prefixed with: from the config, or (graphs built
 * without one) the node id up to its first '/'. */
static void make_labels(brr_sched *s) {
  const brr_graph *g = s->g;
  s->labels = brr_xcalloc(g->n_nodes ? g->n_nodes : 1, sizeof(char *));
  s->label_store = brr_xcalloc(g->n_nodes ? g->n_nodes : 1, sizeof(char *));
  for (size_t i = 0; i < g->n_nodes; i++) {
    const brr_node *node = &g->nodes[i];
    if (node->step == BRR_NO_STEP) continue;
    if (g->cfg && node->step < g->cfg->n_steps && g->cfg->steps[node->step].name.s) {
      s->labels[i] = g->cfg->steps[node->step].name.s;
      continue;
    }
    const char *slash = strchr(node->id, '/');
    char *l = slash ? brr_xstrndup(node->id, (size_t)(slash - node->id)) : brr_xstrdup(node->id);
    s->label_store[s->n_label_store++] = l;
    s->labels[i] = l;
  }
}

static void emit_run_start(brr_sched *s) {
  size_t n = s->g->n_nodes;
  const char **ids = brr_xcalloc(n ? n : 1, sizeof(char *));
  const char **labels = brr_xcalloc(n ? n : 1, sizeof(char *));
  const char **files = brr_xcalloc(n ? n : 1, sizeof(char *));
  const char **kinds = brr_xcalloc(n ? n : 1, sizeof(char *));
  const char **images = brr_xcalloc(n ? n : 1, sizeof(char *));
  unsigned *lines = brr_xcalloc(n ? n : 1, sizeof(unsigned));
  double *expected = s->hist && s->hist->n ? brr_xcalloc(n ? n : 1, sizeof(double)) : NULL;
  const brr_config *cfg = s->g->cfg;
  for (size_t i = 0; i < n; i++) {
    const brr_node *node = &s->g->nodes[i];
    ids[i] = node->id;
    labels[i] = s->labels[i] ? s->labels[i] : ids[i];
    kinds[i] = brr_node_kind_name(node->kind);
    images[i] = node->image;
    if (expected) expected[i] = brr__sched_history_get(s->hist, node->id);
    if (cfg && node->step != BRR_NO_STEP && node->step < cfg->n_steps) {
      /* the step's definition: where its name is written */
      files[i] = cfg->steps[node->step].name.mark.file;
      lines[i] = cfg->steps[node->step].name.mark.line;
    }
  }
  brr_event ev = {.type = BRR_EV_RUN_START, .n_total = n, .node_ids = ids, .node_labels = labels,
                  .node_files = files, .node_lines = lines, .node_kinds = kinds, .node_images = images,
                  .node_expected = expected,
                  .jobs = s->jobs};
  brr_bus_emit(s->opts.bus, &ev);
  free(ids);
  free(labels);
  free(files);
  free(kinds);
  free(images);
  free(lines);
  free(expected);
}

static void handle_init(brr_sched *s, uv_handle_t *h) {
  h->data = s;
  s->open_handles++;
}

static void handle_closed(uv_handle_t *h) { ((brr_sched *)h->data)->open_handles--; }

static void handles_open(brr_sched *s) {
  uv_idle_init(s->loop, &s->idle);
  handle_init(s, (uv_handle_t *)&s->idle);
  uv_timer_init(s->loop, &s->grace);
  handle_init(s, (uv_handle_t *)&s->grace);
  uv_unref((uv_handle_t *)&s->grace);
  uv_timer_init(s->loop, &s->tick);
  handle_init(s, (uv_handle_t *)&s->tick);
  uv_unref((uv_handle_t *)&s->tick);
  uv_timer_start(&s->tick, tick_cb, 1000, 1000);
  if (!s->opts.handle_signals) return;
  /* unref'd: a loop that holds nothing but these has nothing left to wait for */
  uv_signal_init(s->loop, &s->sig_int);
  handle_init(s, (uv_handle_t *)&s->sig_int);
  uv_signal_start(&s->sig_int, signal_cb, SIGINT);
  uv_unref((uv_handle_t *)&s->sig_int);
  uv_signal_init(s->loop, &s->sig_term);
  handle_init(s, (uv_handle_t *)&s->sig_term);
  uv_signal_start(&s->sig_term, signal_cb, SIGTERM);
  uv_unref((uv_handle_t *)&s->sig_term);
}

static void handles_close(brr_sched *s) {
  uv_close((uv_handle_t *)&s->idle, handle_closed);
  uv_close((uv_handle_t *)&s->grace, handle_closed);
  uv_close((uv_handle_t *)&s->tick, handle_closed);
  if (s->opts.handle_signals) {
    uv_close((uv_handle_t *)&s->sig_int, handle_closed);
    uv_close((uv_handle_t *)&s->sig_term, handle_closed);
  }
  /* closing handles make the loop poll without blocking, so this returns promptly even when
   * the caller keeps other handles on it */
  while (s->open_handles > 0) uv_run(s->loop, UV_RUN_ONCE);
}

/* The longest chain of measured durations (skipped nodes weigh nothing). With `path`, also
 * its node ids, first to last (*path heap, *n_path entries). */
static double actual_critical(const brr_sched *s, const char ***path, size_t *n_path) {
  const brr_graph *g = s->g;
  size_t n = g->n_nodes ? g->n_nodes : 1;
  double *fin = brr_xcalloc(n, sizeof(double));
  size_t *prev = brr_xmalloc(n * sizeof(size_t));
  double best = 0;
  size_t last = BRR_NO_STEP;
  for (size_t k = 0; k < g->n_nodes; k++) {
    size_t i = g->order[k];
    double start = 0;
    prev[i] = BRR_NO_STEP;
    for (size_t j = 0; j < g->nodes[i].n_in; j++) {
      size_t from = g->edges[g->nodes[i].in[j]].from;
      if (fin[from] > start) {
        start = fin[from];
        prev[i] = from;
      }
    }
    fin[i] = start + node_duration(&s->nodes[i]);
    if (fin[i] > best) {
      best = fin[i];
      last = i;
    }
  }
  if (path) {
    size_t len = 0;
    for (size_t i = last; i != BRR_NO_STEP; i = prev[i]) len++;
    *path = brr_xcalloc(len ? len : 1, sizeof(char *));
    *n_path = len;
    for (size_t i = last, k = len; i != BRR_NO_STEP; i = prev[i]) (*path)[--k] = g->nodes[i].id;
  }
  free(prev);
  free(fin);
  return best;
}

static void save_history(brr_sched *s, sched_history *h) {
  for (size_t i = 0; i < s->g->n_nodes; i++)
    if (s->nodes[i].status == BRR_STATUS_SUCCEEDED)
      brr__sched_history_set(h, s->g->nodes[i].id, node_duration(&s->nodes[i]));
  int rc = brr__sched_history_save(h, s->opts.history_path);
  if (rc < 0)
    brr_bus_log(s->opts.bus, BRR_LOG_WARNING, NULL, "cannot write the duration history %s: %s",
                s->opts.history_path, brr_strerror(rc));
}

static void fill_result(brr_sched *s, brr_sched_result *res) {
  memset(res, 0, sizeof *res);
  size_t n = s->g->n_nodes;
  res->status = brr_xmalloc((n ? n : 1) * sizeof(brr_status));
  for (size_t i = 0; i < n; i++) {
    const sched_node *node = &s->nodes[i];
    res->status[i] = node->status;
    switch (node->status) {
    case BRR_STATUS_SUCCEEDED: res->n_succeeded++; break;
    case BRR_STATUS_REUSED: res->n_succeeded++; res->n_reused++; break;
    case BRR_STATUS_FAILED: res->n_failed++; break;
    case BRR_STATUS_CANCELED: res->n_canceled++; break;
    default: res->n_skipped++; break;
    }
    if (node->start_ns) res->sum_s += node_duration(node);
  }
  res->signal = s->signal;
  res->exit_code = s->signal ? BRR_EXIT_SIGNAL + s->signal : (s->failed || res->n_failed) ? BRR_EXIT_FAILED : 0;
  res->wall_s = secs(uv_hrtime() - s->t0_ns);
  res->critical_s = actual_critical(s, NULL, NULL);
  res->jobs = s->jobs;
  res->aborted = s->aborting;
  res->n_abandoned = s->n_abandoned;
}

static void emit_run_end(brr_sched *s, const brr_sched_result *r) {
  brr_event ev = {.type = BRR_EV_RUN_END, .n_total = s->g->n_nodes, .n_succeeded = r->n_succeeded,
                  .n_failed = r->n_failed, .n_canceled = r->n_canceled, .n_skipped = r->n_skipped,
                  .n_reused = r->n_reused,
                  .wall_s = r->wall_s, .sum_s = r->sum_s, .critical_s = r->critical_s, .jobs = r->jobs,
                  .exit_code = r->exit_code, .signal = r->signal};
  const char **path = NULL;
  actual_critical(s, &path, &ev.n_critical);
  ev.critical_ids = path;
  brr_bus_emit(s->opts.bus, &ev);
  free(path);
}

static brr_sched *sched_new(uv_loop_t *loop, brr_graph *g, const brr_sched_opts *opts) {
  brr_sched *s = brr_xcalloc(1, sizeof *s);
  s->loop = loop;
  s->g = g;
  s->opts = *opts;
  s->jobs = opts->jobs > 0 ? opts->jobs : brr_sched_default_jobs();
  s->t0_ns = uv_hrtime();
  s->ready.g = g;
  s->held.g = g;
  brr__sched_pools_init(&s->pools, g, opts->pools, opts->n_pools);
  s->nodes = brr_xcalloc(g->n_nodes ? g->n_nodes : 1, sizeof(sched_node));
  s->n_slots = (size_t)s->jobs < g->n_nodes ? (size_t)s->jobs : g->n_nodes;
  s->slot_used = brr_xcalloc(s->n_slots ? s->n_slots : 1, sizeof(bool));
  for (size_t i = 0; i < g->n_nodes; i++) {
    s->nodes[i].slot = -1;
    s->nodes[i].waiting = g->nodes[i].n_in;
    s->nodes[i].pool = brr__sched_pools_find(&s->pools, g->nodes[i].pool);
  }
  make_labels(s);
  return s;
}

static void sched_free(brr_sched *s) {
  for (size_t i = 0; i < s->g->n_nodes; i++) {
    outs_flush_free(&s->nodes[i]);
    free(s->nodes[i].error);
  }
  for (size_t i = 0; i < s->n_label_store; i++) free(s->label_store[i]);
  free(s->label_store);
  free(s->labels);
  free(s->slot_used);
  free(s->nodes);
  free(s->reports);
  free(s->work);
  brr__sched_heap_free(&s->ready);
  brr__sched_pools_free(&s->pools);
  brr__sched_heap_free(&s->held);
  free(s);
}

size_t brr_sched_apply_history(brr_graph *g, const char *history_path) {
  sched_history hist = {0};
  brr__sched_history_load(&hist, history_path);
  size_t n = 0;
  if (hist.n) {
    brr_graph_set_weights(g, weight_from_history, &hist);
    for (size_t i = 0; i < g->n_nodes; i++) n += g->nodes[i].measured;
  }
  brr__sched_history_free(&hist);
  return n;
}

int brr_sched_run(uv_loop_t *loop, brr_graph *g, const brr_sched_opts *opts, brr_sched_result *res) {
  sched_history hist = {0};
  if (opts->history_path) {
    brr__sched_history_load(&hist, opts->history_path);
    if (hist.n) brr_graph_set_weights(g, weight_from_history, &hist);
  }
  brr_sched *s = sched_new(loop, g, opts);
  handles_open(s);
  s->hist = &hist;
  emit_run_start(s);
  s->hist = NULL;
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (s->nodes[i].waiting != 0) continue;
    s->nodes[i].ready_ns = uv_hrtime();
    brr__sched_heap_push(&s->ready, i);
  }
  pump(s);
  while (s->finished < g->n_nodes) {
    int alive = uv_run(loop, UV_RUN_ONCE);
    if (s->abort_expired) abandon(s, false);
    else if (!alive && s->finished < g->n_nodes && !s->rep_n) abandon(s, true);
  }
  handles_close(s);
  brr_sched_result r;
  fill_result(s, &r);
  if (opts->history_path) save_history(s, &hist);
  brr__sched_history_free(&hist);
  if (opts->before_end && opts->before_end(opts->before_end_ud) != 0 && r.exit_code == 0)
    r.exit_code = BRR_EXIT_FAILED;
  emit_run_end(s, &r);
  int rc = r.exit_code;
  if (res) *res = r;
  else free(r.status);
  if (s->n_abandoned) s->returned = true;   /* kept: abandoned tasks may still call in */
  else sched_free(s);
  return rc;
}
