/* The run as a Chrome trace (the "JSON object format" of the Trace Event Format, which
 * Perfetto and chrome://tracing open), written at the end of the run:
 *
 * - one complete event ("ph":"X", cat "node") per node that ran, named by its id, on the
 *   track of the job slot it ran in ("slot 1", "slot 2", ...), args step, kind, status,
 *   image, error, waited;
 * - the phases tasks report inside a node (pull, create, source upload, command, artifacts,
 *   commit, ...) as complete events nested in it (cat "phase");
 * - the time a node was ready but waited for a slot or its pool, on a "waiting" process with
 *   a track per node (cat "wait").
 *
 * Times are microseconds from the run's start. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui_internal.h"

#define TRACE_PID 1
#define WAIT_PID 2

typedef struct trace_phase {
  char *name;
  int64_t start_ms;
} trace_phase;

typedef struct trace_node {
  char *id, *step, *kind, *image, *pool, *error;
  int slot;
  bool started, ended;
  int64_t start_ms, end_ms;
  double wait_s;
  brr_status status;
  trace_phase *open;          /* phases begun and not ended (a stack) */
  size_t n_open, cap_open;
} trace_node;

struct ui_trace {
  char *path;
  int64_t t0_ms;
  trace_node *nodes;
  size_t n_nodes;
  brr_strmap index;           /* node id -> position */
  cJSON *events;              /* phases as they end */
  int max_slot;
  bool written;
};

ui_trace *brr__ui_trace_new(const char *path) {
  ui_trace *t = brr_xcalloc(1, sizeof *t);
  t->path = brr_xstrdup(path);
  t->events = cJSON_CreateArray();
  t->max_slot = -1;
  return t;
}

static char *dup_or_null(const char *s) { return s ? brr_xstrdup(s) : NULL; }

static double us(const ui_trace *t, int64_t ms) { return (double)(ms - t->t0_ms) * 1000.0; }

static trace_node *find(ui_trace *t, const char *id) {
  size_t i;
  return id && brr_strmap_get(&t->index, id, &i) ? &t->nodes[i] : NULL;
}

static cJSON *complete(ui_trace *t, const char *cat, const char *name, int pid, int tid, int64_t start_ms,
                       int64_t end_ms) {
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", name);
  cJSON_AddStringToObject(e, "cat", cat);
  cJSON_AddStringToObject(e, "ph", "X");
  cJSON_AddNumberToObject(e, "pid", pid);
  cJSON_AddNumberToObject(e, "tid", tid);
  cJSON_AddNumberToObject(e, "ts", us(t, start_ms));
  cJSON_AddNumberToObject(e, "dur", end_ms > start_ms ? (double)(end_ms - start_ms) * 1000.0 : 0);
  return e;
}

/* Tracks: slot k is tid k+1; a node that needed no slot (no work) goes on tid 0. */
static int slot_tid(const trace_node *n) { return n->slot >= 0 ? n->slot + 1 : 0; }

static void phase_end(ui_trace *t, trace_node *n, const char *name, int64_t at) {
  /* close up to the matching phase; phases left open inside it end with it */
  while (n->n_open) {
    trace_phase *p = &n->open[--n->n_open];
    bool match = strcmp(p->name, name) == 0;
    if (at > p->start_ms) {
      cJSON *e = complete(t, "phase", p->name, TRACE_PID, slot_tid(n), p->start_ms, at);
      cJSON *args = cJSON_AddObjectToObject(e, "args");
      cJSON_AddStringToObject(args, "node", n->id);
      cJSON_AddItemToArray(t->events, e);
    }
    free(p->name);
    if (match) break;
  }
}

void brr__ui_trace_event(ui_trace *t, const brr_event *ev) {
  trace_node *n;
  switch (ev->type) {
  case BRR_EV_RUN_START:
    t->t0_ms = ev->ts_ms;
    t->nodes = brr_xcalloc(ev->n_total ? ev->n_total : 1, sizeof(trace_node));
    t->n_nodes = ev->n_total;
    for (size_t i = 0; i < ev->n_total && ev->node_ids; i++) {
      n = &t->nodes[i];
      n->id = brr_xstrdup(ev->node_ids[i]);
      bool is_step = ev->node_labels && strcmp(ev->node_labels[i], ev->node_ids[i]) != 0;
      n->step = is_step ? brr_xstrdup(ev->node_labels[i]) : NULL;
      n->kind = dup_or_null(ev->node_kinds ? ev->node_kinds[i] : NULL);
      n->image = dup_or_null(ev->node_images ? ev->node_images[i] : NULL);
      n->slot = -1;
      brr_strmap_put(&t->index, n->id, i);
    }
    break;
  case BRR_EV_NODE_START:
    if (!(n = find(t, ev->node))) break;
    n->started = true;
    n->start_ms = ev->ts_ms;
    n->slot = ev->slot;
    n->wait_s = ev->wait_s;
    free(n->pool);
    n->pool = dup_or_null(ev->pool);
    if (n->slot > t->max_slot) t->max_slot = n->slot;
    break;
  case BRR_EV_PHASE:
    if (!(n = find(t, ev->node)) || !n->started || n->ended || !ev->text) break;
    if (ev->phase_end) {
      phase_end(t, n, ev->text, ev->ts_ms);
    } else {
      trace_phase p = {brr_xstrdup(ev->text), ev->ts_ms};
      BRR_VEC_PUSH(n->open, n->n_open, n->cap_open, p);
    }
    break;
  case BRR_EV_NODE_END:
    if (!(n = find(t, ev->node))) break;
    if (n->n_open) phase_end(t, n, "", ev->ts_ms);   /* phases never ended end with their node */
    n->ended = true;
    n->end_ms = ev->ts_ms;
    n->status = ev->status;
    free(n->error);
    n->error = dup_or_null(ev->text);
    break;
  default:
    break;
  }
}

static void add_meta(cJSON *arr, const char *what, int pid, int tid, const char *name) {
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", what);
  cJSON_AddStringToObject(e, "ph", "M");
  cJSON_AddNumberToObject(e, "pid", pid);
  cJSON_AddNumberToObject(e, "tid", tid);
  cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "args"), "name", name);
  cJSON_AddItemToArray(arr, e);
}

static void add_opt(cJSON *o, const char *key, const char *s) {
  if (s) cJSON_AddStringToObject(o, key, s);
}

static cJSON *build_json(ui_trace *t) {
  cJSON *root = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(root, "traceEvents");
  add_meta(arr, "process_name", TRACE_PID, 0, "brr: nodes by job slot");
  add_meta(arr, "thread_name", TRACE_PID, 0, "no slot (no work)");
  for (int k = 0; k <= t->max_slot; k++) {
    char name[32];
    snprintf(name, sizeof name, "slot %d", k + 1);
    add_meta(arr, "thread_name", TRACE_PID, k + 1, name);
  }
  bool any_wait = false;
  for (size_t i = 0; i < t->n_nodes; i++) {
    trace_node *n = &t->nodes[i];
    if (!n->started) continue;
    int64_t end = n->ended ? n->end_ms : n->start_ms;
    cJSON *e = complete(t, "node", n->id, TRACE_PID, slot_tid(n), n->start_ms, end);
    cJSON *args = cJSON_AddObjectToObject(e, "args");
    add_opt(args, "step", n->step);
    add_opt(args, "kind", n->kind);
    cJSON_AddStringToObject(args, "status", n->ended ? brr_status_name(n->status) : "running");
    add_opt(args, "image", n->image);
    add_opt(args, "pool", n->pool);
    add_opt(args, "error", n->error);
    cJSON_AddNumberToObject(args, "waited_s", n->wait_s);
    cJSON_AddItemToArray(arr, e);
    int64_t wait_ms = (int64_t)(n->wait_s * 1000.0 + 0.5);
    if (wait_ms > 0) {
      if (!any_wait) add_meta(arr, "process_name", WAIT_PID, 0, "brr: waiting for a slot or pool");
      any_wait = true;
      add_meta(arr, "thread_name", WAIT_PID, (int)i + 1, n->id);
      cJSON *w = complete(t, "wait", n->pool ? "wait for a slot or pool" : "wait for a slot", WAIT_PID,
                          (int)i + 1, n->start_ms - wait_ms, n->start_ms);
      cJSON *wa = cJSON_AddObjectToObject(w, "args");
      cJSON_AddStringToObject(wa, "node", n->id);
      add_opt(wa, "pool", n->pool);
      cJSON_AddItemToArray(arr, w);
    }
  }
  /* the phases, moved over (they were collected as they ended) */
  while (cJSON_GetArraySize(t->events) > 0) cJSON_AddItemToArray(arr, cJSON_DetachItemFromArray(t->events, 0));
  cJSON_AddStringToObject(root, "displayTimeUnit", "ms");
  return root;
}

int brr__ui_trace_write(ui_trace *t) {
  if (t->written || !t->nodes) return 0;
  t->written = true;
  cJSON *root = build_json(t);
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!text) return -ENOMEM;
  int rc = 0;
  FILE *f = fopen(t->path, "we");
  if (!f) rc = -errno;
  if (f && (fputs(text, f) == EOF || fputc('\n', f) == EOF)) rc = -errno;
  if (f && fclose(f) != 0 && rc == 0) rc = -errno;
  cJSON_free(text);
  if (rc < 0) fprintf(stderr, "brr: warning: cannot write the trace %s: %s\n", t->path, brr_strerror(rc));
  return rc;
}

void brr__ui_trace_free(ui_trace *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n_nodes; i++) {
    trace_node *n = &t->nodes[i];
    for (size_t k = 0; k < n->n_open; k++) free(n->open[k].name);
    free(n->open);
    free(n->id);
    free(n->step);
    free(n->kind);
    free(n->image);
    free(n->pool);
    free(n->error);
  }
  free(t->nodes);
  brr_strmap_free(&t->index);
  cJSON_Delete(t->events);
  free(t->path);
  free(t);
}
