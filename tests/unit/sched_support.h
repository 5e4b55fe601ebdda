/* Shared by the scheduler tests: a task kind built on libuv timers that records when it
 * starts, how many run at once (per pool too) and whether it was cancelled; a factory that
 * makes timer or process tasks from a per-node spec; and an event collector. */
#ifndef BRR_TEST_SCHED_SUPPORT_H
#define BRR_TEST_SCHED_SUPPORT_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "brr/diag.h"
#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/ui.h"

#define TT_MAX 4096
#define TT_UNUSED __attribute__((unused))

typedef struct tt_spec {
  int ms;                  /* timer task: how long it runs */
  int status;              /* what it reports */
  const char *line;        /* one output line it writes when it ends, or NULL */
  const char *const *argv; /* set: a process task instead of a timer task */
  bool no_task;            /* the factory returns no task (nothing to do) */
  int factory_error;       /* the factory fails with this */
  int start_error;         /* start returns this */
  char **env;              /* process task: its environment, or NULL to inherit */
  const char *cwd;         /* process task: its working directory, or NULL */
  const char *source;      /* process task: its output's source name, or NULL */
  int finishing_ms;        /* timer task: > 0, it reports its command ended after this long */
  bool reused;             /* timer task: it says its outputs were reused before it ends */
} tt_spec;

typedef struct tt_world {
  tt_spec spec[TT_MAX];
  size_t order[TT_MAX];    /* nodes in the order they started */
  size_t n_started;
  bool started[TT_MAX], canceled[TT_MAX];
  int pid[TT_MAX];         /* process tasks: the child's pid (its process group id too) */
  int running, max_running;
  const char *pool_name[4];
  int pool_running[4], pool_max[4];
  const brr_graph *g;
  double kill_after_s;     /* process tasks: SIGTERM to SIGKILL delay (0: 2 seconds) */
} tt_world;

typedef struct tt_task {
  brr_task base;
  tt_world *w;
  uv_timer_t timer;
  uv_timer_t command;      /* finishing_ms: the end of its "command" */
  bool command_open;
  int status;
} tt_task;

static TT_UNUSED int tt_pool_of(tt_world *w, size_t node) {
  const char *p = w->g->nodes[node].pool;
  for (int i = 0; p && i < 4; i++)
    if (w->pool_name[i] && strcmp(w->pool_name[i], p) == 0) return i;
  return -1;
}

static TT_UNUSED void tt_enter(tt_world *w, size_t node) {
  w->order[w->n_started++] = node;
  w->started[node] = true;
  if (++w->running > w->max_running) w->max_running = w->running;
  int p = tt_pool_of(w, node);
  if (p >= 0 && ++w->pool_running[p] > w->pool_max[p]) w->pool_max[p] = w->pool_running[p];
}

static TT_UNUSED void tt_leave(tt_world *w, size_t node) {
  w->running--;
  int p = tt_pool_of(w, node);
  if (p >= 0) w->pool_running[p]--;
}

static TT_UNUSED void tt_command_closed(uv_handle_t *h) {
  tt_task *t = h->data;
  t->command_open = false;
}

static TT_UNUSED void tt_command_close(tt_task *t) {
  if (t->command_open && !uv_is_closing((uv_handle_t *)&t->command))
    uv_close((uv_handle_t *)&t->command, tt_command_closed);
}

static TT_UNUSED void tt_command_end(uv_timer_t *h) {
  tt_task *t = h->data;
  brr_task_finishing(&t->base);
  tt_command_close(t);
}

static TT_UNUSED void tt_closed(uv_handle_t *h) {
  tt_task *t = h->data;
  tt_leave(t->w, t->base.node);
  if (t->w->spec[t->base.node].reused) brr_task_reused(&t->base);
  brr_task_done(&t->base, t->status, t->status == 0 || t->status == BRR_ECANCELED ? NULL : "timer task failed");
}

static TT_UNUSED void tt_fire(uv_timer_t *h) {
  tt_task *t = h->data;
  const tt_spec *sp = &t->w->spec[t->base.node];
  if (sp->line) brr_task_output(&t->base, NULL, 1, sp->line, strlen(sp->line));
  t->status = sp->status;
  tt_command_close(t);
  uv_close((uv_handle_t *)&t->timer, tt_closed);
}

static TT_UNUSED int tt_start(brr_task *bt, uv_loop_t *loop) {
  tt_task *t = (tt_task *)bt;
  const tt_spec *sp = &t->w->spec[bt->node];
  if (sp->start_error) return sp->start_error;
  tt_enter(t->w, bt->node);
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  uv_timer_start(&t->timer, tt_fire, (uint64_t)sp->ms, 0);
  if (sp->finishing_ms > 0) {
    uv_timer_init(loop, &t->command);
    t->command.data = t;
    t->command_open = true;
    uv_timer_start(&t->command, tt_command_end, (uint64_t)sp->finishing_ms, 0);
  }
  return 0;
}

static TT_UNUSED void tt_cancel(brr_task *bt) {
  tt_task *t = (tt_task *)bt;
  t->w->canceled[bt->node] = true;
  uv_timer_stop(&t->timer);
  t->status = BRR_ECANCELED;
  tt_command_close(t);
  uv_close((uv_handle_t *)&t->timer, tt_closed);
}

static TT_UNUSED void tt_free(brr_task *bt) { free(bt); }

static const brr_task_ops tt_ops TT_UNUSED = {.name = "timer", .start = tt_start, .cancel = tt_cancel, .free = tt_free};

/* Process tasks get their start recorded through this wrapper of the real start. */
static TT_UNUSED int tt_proc_start(brr_task *bt, uv_loop_t *loop);
static TT_UNUSED void tt_proc_cancel(brr_task *bt);
static brr_task_ops tt_proc_ops TT_UNUSED;
static const brr_task_ops *tt_proc_real TT_UNUSED;
static tt_world *tt_proc_world TT_UNUSED;

static TT_UNUSED int tt_proc_start(brr_task *bt, uv_loop_t *loop) {
  int rc = tt_proc_real->start(bt, loop);
  tt_enter(tt_proc_world, bt->node);
  bt->ops = tt_proc_real;   /* brr_proc_task_pid knows its own ops only */
  tt_proc_world->pid[bt->node] = brr_proc_task_pid(bt);
  bt->ops = &tt_proc_ops;
  return rc;
}

static TT_UNUSED void tt_proc_cancel(brr_task *bt) {
  tt_proc_world->canceled[bt->node] = true;
  tt_proc_real->cancel(bt);
}

static TT_UNUSED int tt_factory(void *ud, const brr_graph *g, size_t node, brr_task **out) {
  tt_world *w = ud;
  const tt_spec *sp = &w->spec[node];
  (void)g;
  *out = NULL;
  if (sp->factory_error) return sp->factory_error;
  if (sp->no_task) return 0;
  if (sp->argv) {
    brr_task *t = brr_proc_task_new(sp->argv, &(brr_proc_opts){.kill_after_s = w->kill_after_s > 0 ? w->kill_after_s : 2,
                                                                .env = sp->env, .cwd = sp->cwd, .source = sp->source});
    if (!tt_proc_real) {
      tt_proc_real = t->ops;
      tt_proc_ops = *t->ops;
      tt_proc_ops.start = tt_proc_start;
      tt_proc_ops.cancel = tt_proc_cancel;
    }
    tt_proc_world = w;
    t->ops = &tt_proc_ops;
    *out = t;
    return 0;
  }
  tt_task *t = calloc(1, sizeof *t);
  t->base.ops = &tt_ops;
  t->base.impl = t;
  t->w = w;
  *out = &t->base;
  return 0;
}

/* ---- events ---- */
typedef struct tt_events {
  brr_event_type type[TT_MAX * 4];
  char *node[TT_MAX * 4];
  char *text[TT_MAX * 4];
  brr_status status[TT_MAX * 4];
  size_t n;
} tt_events;

static TT_UNUSED void tt_collect(void *ud, const brr_event *ev) {
  tt_events *e = ud;
  if (ev->type == BRR_EV_TICK || ev->type == BRR_EV_FLUSH || e->n >= TT_MAX * 4) return;
  e->type[e->n] = ev->type;
  e->node[e->n] = ev->node ? strdup(ev->node) : NULL;
  e->text[e->n] = ev->text ? strndup(ev->text, ev->len) : ev->engine ? strdup(ev->engine) : NULL;
  e->status[e->n] = ev->status;
  e->n++;
}

static TT_UNUSED void tt_events_free(tt_events *e) {
  for (size_t i = 0; i < e->n; i++) {
    free(e->node[i]);
    free(e->text[i]);
  }
  e->n = 0;
}

/* The NODE_END text of a node, or NULL. */
static TT_UNUSED const char *tt_end_text(const tt_events *e, const char *node) {
  for (size_t i = 0; i < e->n; i++)
    if (e->type[i] == BRR_EV_NODE_END && e->node[i] && strcmp(e->node[i], node) == 0) return e->text[i];
  return NULL;
}

/* Whether no live process is left in a process group. Orphaned grandchildren that died are
 * zombies until init reaps them, on its own time: they count as gone, as do processes in
 * the middle of exiting. */
static TT_UNUSED bool tt_group_gone(int pgid) {
  if (pgid <= 0) return false;
  DIR *d = opendir("/proc");
  if (!d) return false;
  bool gone = true;
  struct dirent *de;
  while (gone && (de = readdir(d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses */
    char *rp = strrchr(buf, ')');
    char state;
    int ppid, pgrp;
    unsigned flags;
    if (!rp || sscanf(rp + 1, " %c %d %d %*d %*d %*d %u", &state, &ppid, &pgrp, &flags) != 4) continue;
    /* PF_EXITING (0x4): killed and past closing its files (that is how our pipes saw EOF),
     * but not a zombie yet; it runs no more user code */
    if (pgrp == pgid && state != 'Z' && state != 'X' && !(flags & 0x4)) gone = false;
  }
  closedir(d);
  return gone;
}

/* A graph of n independent nodes "s<i>/run" (step i), finished. */
static TT_UNUSED brr_graph *tt_graph_flat(size_t n) {
  brr_graph *g = brr_graph_new(NULL);
  char id[32];
  for (size_t i = 0; i < n; i++) {
    snprintf(id, sizeof id, "s%zu/run", i);
    brr_graph_add_node(g, id, BRR_NODE_RUN, i);
  }
  return g;
}

static TT_UNUSED int tt_finish(brr_graph *g) {
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_graph_finish(g, &d);
  brr_diags_free(&d);
  return rc;
}

/* Run g with a fresh loop; opts gets the factory and a bus with the collector. */
static TT_UNUSED int tt_run(brr_graph *g, tt_world *w, brr_sched_opts *o, tt_events *ev, brr_sched_result *res) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  if (ev) brr_bus_subscribe(bus, tt_collect, ev);
  w->g = g;
  o->bus = bus;
  o->factory = tt_factory;
  o->factory_ud = w;
  int rc = brr_sched_run(&loop, g, o, res);
  int closed = uv_loop_close(&loop);
  brr_bus_free(bus);
  return closed == 0 ? rc : -1000;
}

/* The world and event log of one scheduler test, made fresh for each (cmocka setup and
 * teardown). */
static tt_world *W TT_UNUSED;
static tt_events *E TT_UNUSED;

static TT_UNUSED int tt_setup(void **state) {
  (void)state;
  W = calloc(1, sizeof *W);
  E = calloc(1, sizeof *E);
  return 0;
}

static TT_UNUSED int tt_teardown(void **state) {
  (void)state;
  tt_events_free(E);
  free(W);
  free(E);
  return 0;
}

#endif
