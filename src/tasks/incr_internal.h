/* What the files of incremental runs in the task layer share (docs/incremental.md):
 * incr_task.c decides and restores run nodes, incr_build.c build nodes, incr_record.c records
 * what a node made once it succeeded and keeps artifacts.json's order. */
#ifndef BRR_TASKS_INCR_INTERNAL_H
#define BRR_TASKS_INCR_INTERNAL_H

#include "brr/incr.h"
#include "brr/tasks.h"
#include "run_internal.h"

/* What the objects of a node's outputs may take in the store (least recently used go first). */
#define INCR_STORE_LIMIT (4ull << 30)

typedef struct incr_node {
  bool tracked;              /* it runs with inputs computed: record its outputs on success */
  brr_incr_inputs inputs;
  char key[BRR_INCR_HEX];
  brr_buf log;               /* its output lines, each "<stream><source>\t<text>\n" */
} incr_node;

typedef struct incr_rt {
  brr_runtime *rt;
  char *state_dir;
  brr_store *store;          /* NULL when it could not be opened: nothing is reused */
  brr_hashcache *cache;
  char **ignore;             /* .buildignore lines */
  size_t n_ignore;
  const char *results_base;  /* the results dir's name when it is a top-level entry */
  char *own_rel;             /* brr's cache dir (state, store) relative to the build dir when
                                $XDG_CACHE_HOME puts it inside, else NULL */
  bool have_full;            /* full_hash (the tree without `inputs:`) is computed */
  char full_hash[BRR_INCR_HEX];
  incr_node *nodes;
} incr_rt;

/* Whether the source walk leaves `rel` out (the results dir, .buildignore); ud is the incr_rt. */
bool brr__tasks_incr_skip_entry(void *ud, const char *rel, const struct stat *st);
/* Whether every object the record names is in the store. */
bool brr__tasks_incr_outputs_in_store(incr_rt *ir, const brr_incr_record *rec);
/* Send the recorded log lines again as the task's output. */
void brr__tasks_incr_replay_log(brr_task *t, const char *log);
/* The record file of `node`, read: 0, or BRR_ENOENT/BRR_EINVAL (run it). */
int brr__tasks_incr_record_load(incr_rt *ir, size_t node, brr_incr_record *out);
/* The bus subscriber: captures the output of tracked nodes, records them when they succeed. */
void brr__tasks_incr_on_event(void *ud, const brr_event *ev);
/* A build node (incr_build.c): NULL when it may be reused, else why not. */
const char *brr__tasks_incr_build_not_reusable(const brr_config *cfg, const brr_graph *g, size_t node);
/* Its task in front of the build task. */
/* What the incremental tasks in front of a run or a build node share: they look at the
 * node's inputs on their own (engine calls through `req`), then either end reused or hand the
 * node to the real task (`inner`, made by the node kind's constructor), which reports for the
 * node; cancel and abort go to whichever is under way. Embedded first. */
typedef struct incr_wrap {
  brr_task base;
  brr_runtime *rt;
  incr_rt *ir;
  size_t step;
  uv_loop_t *loop;
  brr_task *inner;           /* the real task, once it is decided to run it */
  brr_engine_req *req;       /* the engine call in flight */
  bool canceled;
} incr_wrap;
typedef int (*brr__tasks_incr_make_fn)(brr_runtime *rt, size_t node, brr_task **out);
void brr__tasks_incr_wrap_init(incr_wrap *w, const brr_task_ops *ops, brr_runtime *rt, size_t node);
/* Make the real task with `make` and start it in the wrapper's place; `what` names it in
 * the errors ("run", "build"). A constructor that makes no task ends the node with
 * `no_task_status`. */
void brr__tasks_incr_wrap_run(incr_wrap *w, brr__tasks_incr_make_fn make, const char *what,
                              int no_task_status);
/* An engine call of the wrapper (`req`) answered: it is no longer in flight. False when the
 * wrapper was cancelled meanwhile: the node has then ended cancelled, and the caller returns. */
bool brr__tasks_incr_wrap_answered(incr_wrap *w);
void brr__tasks_incr_wrap_cancel(brr_task *bt);
void brr__tasks_incr_wrap_abort(brr_task *bt);

int brr__tasks_incr_build_task_new(brr_runtime *rt, size_t node, brr_task **out);
/* --graph --incremental for a build node. */
const char *brr__tasks_incr_build_predict(brr_runtime *rt, brr_graph *g, size_t node);

#endif
