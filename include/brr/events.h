/* brr — events and the bus they travel on. Every layer reports what happens as events on a
 * bus; renderers (ui.h) subscribe. Output lines are whole lines by construction: producers
 * feed raw bytes through a brr_lines splitter that emits one event per complete line.
 * Producers (the scheduler, the tasks) include this header, never the renderers'. */
#ifndef BRR_EVENTS_H
#define BRR_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/util.h"

typedef enum {
  BRR_EV_RUN_START,    /* the scheduler starts: n_total nodes, step names known */
  BRR_EV_NODE_START,
  BRR_EV_NODE_OUTPUT,  /* one line of output of a node (text without the newline) */
  BRR_EV_NODE_END,     /* status, duration, error */
  BRR_EV_LOG,          /* a message of brr itself (level), optionally about a step */
  BRR_EV_RUN_END,      /* the summary fields are set */
  BRR_EV_FLUSH,        /* end of a batch of lines: renderers write what they buffered now */
  BRR_EV_TICK,         /* about once a second while the run lasts (the tty clock) */
  BRR_EV_PHASE,        /* a phase inside a running node begins or ends (`text` names it:
                          "pull", "create", "source", "command", "artifacts", "commit",
                          "push"); `phase_end` says which; for the trace */
} brr_event_type;

typedef enum {
  BRR_STATUS_PENDING,
  BRR_STATUS_RUNNING,
  BRR_STATUS_SUCCEEDED,
  BRR_STATUS_FAILED,
  BRR_STATUS_CANCELED,
  BRR_STATUS_SKIPPED,
  BRR_STATUS_REUSED,   /* succeeded by restoring the outputs of an earlier run (incremental) */
} brr_status;

typedef enum { BRR_LOG_DEBUG, BRR_LOG_INFO, BRR_LOG_WARNING, BRR_LOG_ERROR } brr_log_level;

typedef struct brr_event {
  brr_event_type type;
  int64_t ts_ms;            /* wall clock */
  const char *step;         /* step name, or NULL for build-level events */
  const char *node;         /* node id, or NULL */
  const char *source;       /* sub-source inside a step ("service-db", "linux/arm64"), or NULL */
  int stream;               /* OUTPUT: 1 stdout, 2 stderr */
  const char *text;         /* OUTPUT/LOG: one line, no newline; END: error message or NULL */
  size_t len;
  brr_log_level level;      /* LOG */
  brr_status status;        /* END */
  double duration;          /* END: seconds */
  /* RUN_START / RUN_END */
  size_t n_total, n_succeeded, n_failed, n_canceled, n_skipped;
  size_t n_reused;          /* RUN_END: of n_succeeded, how many were reused */
  double wall_s, sum_s, critical_s;
  /* RUN_START: per node (n_total entries, valid during the event only) its id and the label
   * its lines are prefixed with (the step name, or the node id for build-level nodes) */
  const char *const *node_ids;
  const char *const *node_labels;
  int jobs;                 /* RUN_START / RUN_END: job slots */
  int exit_code;            /* RUN_END: what brr exits with */
  int signal;               /* RUN_END: the signal that stopped the run, or 0 */
  /* RUN_START: per node (n_total entries, may be NULL) the file and line where its step is
   * defined (NULL / 0 for build-level nodes), its kind ("build", "run", ...) and image */
  const char *const *node_files;
  const unsigned *node_lines;
  const char *const *node_kinds;
  const char *const *node_images;
  /* RUN_START: per node the duration measured by an earlier run (seconds, negative when
   * none), or NULL when there is no history at all: for the estimate of the time left */
  const double *node_expected;
  /* NODE_START: the job slot it runs in (0-based) and how long it was ready but waited for
   * a slot or its pool (`pool`, or NULL when it needs none) */
  int slot;
  double wait_s;
  const char *pool;
  const char *engine;       /* NODE_START: the engine of `engines:` it runs on, or NULL */
  bool phase_end;           /* PHASE: false at its beginning, true at its end */
  /* RUN_END: the measured critical path, node ids first to last (valid during the event) */
  const char *const *critical_ids;
  size_t n_critical;
} brr_event;

typedef void (*brr_event_fn)(void *ud, const brr_event *ev);

/* The event bus: synchronous fan-out to subscribers, on the loop thread. */
typedef struct brr_bus brr_bus;
brr_bus *brr_bus_new(void);
void brr_bus_free(brr_bus *bus);
void brr_bus_subscribe(brr_bus *bus, brr_event_fn fn, void *ud);
void brr_bus_unsubscribe(brr_bus *bus, brr_event_fn fn, void *ud);
void brr_bus_emit(brr_bus *bus, brr_event *ev);   /* fills ts_ms when 0 */
void brr_bus_log(brr_bus *bus, brr_log_level level, const char *step, const char *fmt, ...)
    BRR_PRINTF(4, 5);

/* Step output to events: feed bytes, get one OUTPUT event per complete line (brr_linesplit:
 * \r\n and lone \r-terminated progress lines are lines too); flush emits a partial last
 * line. A feed that completes lines ends with one FLUSH event, so a batch of lines becomes
 * one write. A line longer than BRR_LINES_MAX bytes is cut there (memory stays bounded). */
#define BRR_LINES_MAX (1024 * 1024)
typedef struct brr_lines {
  brr_bus *bus;
  const char *step, *node, *source;
  int stream;
  brr_linesplit split;
  int64_t ts_ms;            /* when the chunk being split arrived */
} brr_lines;
void brr_lines_init(brr_lines *l, brr_bus *bus, const char *step, const char *node,
                    const char *source, int stream);
void brr_lines_feed(brr_lines *l, const char *data, size_t len);
void brr_lines_flush(brr_lines *l);
void brr_lines_free(brr_lines *l);

const char *brr_status_name(brr_status s);   /* "succeeded", "failed", ... */

#endif
