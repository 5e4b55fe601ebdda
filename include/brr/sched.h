/* brr — the scheduler: runs a brr_graph on one libuv loop. It sees work only through the
 * task interface below (start, cancel, a completion call, output bytes) and includes no
 * Docker header; the tasks layer supplies a factory that makes a task for each node. */
#ifndef BRR_SCHED_H
#define BRR_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "brr/graph.h"
#include "brr/events.h"

typedef struct brr_sched brr_sched;
typedef struct brr_task brr_task;

typedef struct brr_task_ops {
  const char *name;
  /* Begin the work on `loop`; return 0 when started (brr_task_done will follow, possibly
   * already from inside start) or a negative BRR_E* when nothing was started. */
  int (*start)(brr_task *t, uv_loop_t *loop);
  /* Stop as soon as possible: kill what runs, remove what was created, then call
   * brr_task_done(t, BRR_ECANCELED, ...). Called at most once, only after start. */
  void (*cancel)(brr_task *t);
  /* Called after brr_task_done, or for a task never started. A task made by brr_task_new:
   * release what the kind owns (may be NULL); the base and the block are freed after it.
   * A task put together by hand: free the task's memory. */
  void (*free)(brr_task *t);
  /* Optional last resort, after cancel, when the run must end at once (a second SIGINT, or
   * the grace period ran out): kill what still runs without waiting (SIGKILL), then call
   * brr_task_done as soon as the loop lets it. NULL: the task only gets `cancel`. */
  void (*abort)(brr_task *t);
} brr_task_ops;

struct brr_task {
  const brr_task_ops *ops;
  void *impl;               /* the task kind's state */
  /* set by the scheduler before start: */
  brr_sched *sched;
  const brr_graph *graph;
  size_t node;              /* index into graph->nodes */
  const char *step_name;    /* for output prefixes, NULL for build-level nodes */
  brr_bus *bus;
  /* ---- the base every task kind shares (task.c); kinds read these, brr_task_* write them.
   * A kind embeds its brr_task as its first member and gets it from brr_task_new. */
  bool owned;               /* made by brr_task_new: the scheduler frees the block */
  bool cancelled;           /* ops->cancel was called (set just before the call) */
  bool aborted;             /* ops->abort was called (set just before the call) */
  bool ending;              /* brr_task_end was called: the report follows once handles == 0 */
  bool reported;            /* brr_task_end's report went out */
  uv_timer_t timer;         /* the kind's one timer (brr_task_timer); brr_task_end closes it */
  bool timer_open, timer_made;
  int handles;              /* the task's libuv handles not closed yet (the timer included) */
  const char *phase;        /* the trace phase open now (brr_task_set_phase), or NULL */
  int end_status;           /* what brr_task_end reports, once the handles closed */
  char *end_error;
};

/* ---- the task base (task.c): written once for every kind --------------------------------
 *
 * Ownership: the scheduler owns a task from the factory's return to ops->free; a kind owns
 * what it allocated and every libuv handle it opened. brr_task_end reports only after the
 * base's timer and every handle counted with brr_task_handle_open have closed, so no handle
 * outlives its task. Cancel and abort reach ops->cancel / ops->abort at most once each and
 * never once brr_task_end was called. */

/* A zeroed block of `size` bytes (>= sizeof(brr_task)) whose first member is the brr_task:
 * ops set, impl pointing at the block, freed by the scheduler after ops->free. */
void *brr_task_new(size_t size, const brr_task_ops *ops);
/* The task's timer, initialised on first use (t->timer.data == t). brr_task_end closes it;
 * it is not made again afterwards. */
uv_timer_t *brr_task_timer(brr_task *t, uv_loop_t *loop);
/* Count a libuv handle the kind opened: brr_task_end's report waits until the kind calls
 * brr_task_handle_closed for it (from the handle's close callback). */
void brr_task_handle_open(brr_task *t);
void brr_task_handle_closed(brr_task *t);
/* End the task once (later calls do nothing): end the open trace phase, close the timer, and
 * report `status` and `error` (copied; may be NULL) through brr_task_done once every counted
 * handle has closed. Never reports from inside this call when a handle is still open. */
void brr_task_end(brr_task *t, int status, const char *error);
/* Free a task the way the scheduler does (for code that drives a task without it): the kind's
 * free, then, for a block made by brr_task_new, the base's memory and the block. */
void brr_task_free(brr_task *t);
/* A task in front of a node's own task (an incremental check, an image move) hands the node
 * over: `inner` takes its scheduler, graph, node, step name and bus and starts on `loop`; it
 * then reports for the node. Returns the start's result. */
int brr_task_hand_over(brr_task *outer, brr_task *inner, uv_loop_t *loop);
/* Enter the trace phase `phase` (a static string), ending the one open; NULL only ends it. */
void brr_task_set_phase(brr_task *t, const char *phase);

/* Report completion, exactly once: status 0 success, BRR_ECANCELED after a cancel, any
 * other negative value failure; `error` (may be NULL) is a one-line reason for the summary. */
void brr_task_done(brr_task *t, int status, const char *error);
/* Say, before a successful brr_task_done, that the node's outputs were restored from an earlier
 * run instead of made (incremental runs): the node ends `reused`, which counts as success. */
void brr_task_reused(brr_task *t);
/* The task's command has ended (whatever its exit code): what remains is completing its
 * own result (artifacts, commit, logs). After a sibling fails, such a node is not cancelled
 * and ends with its own status; only a signal still cancels it. Call at most once. */
void brr_task_finishing(brr_task *t);
/* Raw output bytes of the task (any chunking): split into whole lines, prefixed by step. */
void brr_task_output(brr_task *t, const char *source, int stream, const char *data, size_t len);
void brr_task_log(brr_task *t, brr_log_level level, const char *fmt, ...) BRR_PRINTF(3, 4);
/* A phase of the task begins (`end` false) or ends: "pull", "create", "source", "command",
 * "artifacts", "commit", "push". For the trace; phases of one task may nest, not overlap. */
void brr_task_phase(brr_task *t, const char *phase, bool end);
/* For a task that goes through its phases one after another: end the phase *open (if any),
 * begin `next` (NULL: none) and remember it in *open. Nothing happens when *open == next. */
void brr_task_phase_to(brr_task *t, const char **open, const char *next);

/* Make the task for node `node` of `g`. Returning 0 with *out == NULL means the node has no
 * work (it succeeds at once). */
typedef int (*brr_task_factory)(void *ud, const brr_graph *g, size_t node, brr_task **out);

typedef struct brr_pool_limit {
  const char *name;         /* "engine", "push:<host>", "builder:<name>", ... */
  int limit;
} brr_pool_limit;

typedef struct brr_sched_opts {
  int jobs;                 /* -j; <= 0: brr_sched_default_jobs() */
  bool keep_going;          /* --keep-going */
  const brr_pool_limit *pools;
  size_t n_pools;
  double grace_s;           /* how long cancelled tasks may take to clean up (default 10) */
  const char *history_path; /* durations file: read for weights before, written after; NULL: none */
  bool handle_signals;      /* install SIGINT/SIGTERM handlers (the CLI sets it); a stdout or
                               stderr whose reader has gone then counts as SIGPIPE (exit 141),
                               checked once a second: the caller ignores SIGPIPE */
  brr_bus *bus;
  brr_task_factory factory;
  void *factory_ud;
  /* Last-resort synchronous cleanup, called once when the run must end at once (a second
   * SIGINT/SIGTERM, or cancelled tasks outlived grace_s), after every running task's
   * `abort`: remove what tasks created without waiting on the loop. May be NULL. */
  void (*on_abort)(void *ud);
  void *abort_ud;
  /* Called once when every node has ended, before RUN_END (so its messages are in the
   * summary): e.g. artifacts.json is written here. A non-zero return fails a run that would
   * have succeeded (exit 1). May be NULL. */
  int (*before_end)(void *ud);
  void *before_end_ud;
  /* Optional placement (several engines): asked when a ready node has a job slot and room
   * in its pool. Return true to start it now (*where: the name NODE_START carries as
   * `engine`, or NULL), false to hold it until a placement is given back. `unplace` hears
   * when a placed node has ended (its task freed). */
  bool (*place)(void *ud, size_t node, const char **where);
  void (*unplace)(void *ud, size_t node);
  void *place_ud;
} brr_sched_opts;

typedef struct brr_sched_result {
  int exit_code;            /* 0, 1 (a node failed), or 128+signal */
  int signal;               /* the signal that stopped the run, or 0 */
  size_t n_succeeded, n_failed, n_canceled, n_skipped;
  size_t n_reused;          /* of n_succeeded: ended `reused` */
  brr_status *status;       /* per node (heap, free()); NULL when the caller passed none */
  double wall_s, sum_s, critical_s;
  int jobs;                 /* the job slots used */
  bool aborted;             /* the run ended at once (second signal or grace expiry) */
  size_t n_abandoned;       /* tasks that had not reported even after `abort` (see below) */
} brr_sched_result;

/* Run every node of `g` on `loop` until all finished, failed, were skipped or cancelled.
 * Applies weights from the history file first (brr_graph_set_weights), so `g` is updated.
 * Returns res->exit_code (also when `res` is NULL). Events go to opts->bus: RUN_START, a
 * NODE_START before each node's NODE_END (skipped nodes get only NODE_END), RUN_END last.
 * Tasks must keep a referenced handle on the loop while they work: a run where nothing is
 * left to wait for ends the silent tasks as failed. */
int brr_sched_run(uv_loop_t *loop, brr_graph *g, const brr_sched_opts *opts,
                  brr_sched_result *res);

/* Default job count: cores + 2, as ninja, but at least BRR_SCHED_MIN_JOBS (steps mostly wait
 * in containers rather than keep a core busy). */
#define BRR_SCHED_MIN_JOBS 16
int brr_sched_default_jobs(void);

/* Seconds brr_sched_run waits, after an abort, for tasks to report before it returns
 * anyway. Tasks still out then are abandoned: the scheduler's memory stays allocated so their
 * late calls are harmless, and the caller should exit without closing the loop. */
#define BRR_SCHED_ABORT_WAIT_S 1.0

/* Weight `g` with the durations an earlier run measured (what brr_sched_run does first), so
 * --graph shows them. Returns how many nodes got a measured weight (0: no history). */
size_t brr_sched_apply_history(brr_graph *g, const char *history_path);

/* The history file for a project: <cache_dir>/history/<sha1 of project_file>.tsv, where
 * cache_dir NULL means $XDG_CACHE_HOME/brr or ~/.cache/brr. Heap string. */
char *brr_sched_history_path(const char *cache_dir, const char *project_file);

/* ---- a task kind that runs a child process (used by tests, benchmarks and the tasks layer
 * for host commands). The child gets its own process group, stdin from /dev/null, and its
 * stdout/stderr become output lines. Cancel sends SIGTERM to the group, then SIGKILL after
 * kill_after_s; abort sends SIGKILL at once. Exit 0 succeeds; anything else fails with
 * "exit status N" or "killed by signal N". */
typedef struct brr_proc_opts {
  const char *cwd;          /* NULL: inherit */
  char **env;               /* NULL-terminated "K=V" list; NULL: inherit */
  double kill_after_s;      /* <= 0: 5 seconds */
  const char *source;       /* output source name, or NULL */
} brr_proc_opts;
/* argv is copied; opts may be NULL. */
brr_task *brr_proc_task_new(const char *const *argv, const brr_proc_opts *opts);
/* The pid of a started process task, or 0 (tests check that it is gone). */
int brr_proc_task_pid(const brr_task *t);

#endif
