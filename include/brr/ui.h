/* brr — events and their renderers. Every layer reports what happens as events on a bus;
 * renderers (tty status line, plain prefixed lines, CI log groups, JSON lines, the log files
 * in the results dir) subscribe. Output lines are whole lines by construction: producers
 * feed raw bytes through a brr_lines splitter that emits one event per complete line. */
#ifndef BRR_UI_H
#define BRR_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Line splitter: feed bytes, get one OUTPUT event per complete line; flush emits a partial
 * last line. \r\n and lone \r-terminated progress lines are handled as lines. A feed that
 * completes lines ends with one FLUSH event, so a batch of lines becomes one write. A line
 * longer than BRR_LINES_MAX bytes is cut there (memory stays bounded). */
#define BRR_LINES_MAX (1024 * 1024)
typedef struct brr_lines {
  brr_bus *bus;
  const char *step, *node, *source;
  int stream;
  brr_buf pending;
  bool cr;                  /* the last byte fed was a \r: a \n right after it is the same end */
  int64_t ts_ms;            /* when the chunk being split arrived */
} brr_lines;
void brr_lines_init(brr_lines *l, brr_bus *bus, const char *step, const char *node,
                    const char *source, int stream);
void brr_lines_feed(brr_lines *l, const char *data, size_t len);
void brr_lines_flush(brr_lines *l);
void brr_lines_free(brr_lines *l);

/* ---- renderers ---- */
typedef enum {
  BRR_PROGRESS_AUTO,
  BRR_PROGRESS_TTY,
  BRR_PROGRESS_PLAIN,
  BRR_PROGRESS_CI,
  BRR_PROGRESS_JSON,
} brr_progress;

typedef struct brr_ui_opts {
  brr_progress progress;     /* AUTO: tty, ci or plain from the environment */
  int fd;                    /* where to render (normally 1) */
  bool no_color;             /* --no-color */
  bool timestamps;           /* false with --disable-timestamps */
  bool debug;                /* -x: show DEBUG logs */
  const char *results_dir;   /* build.log and <step>.log here; NULL: none */
  /* CI mode: seconds between heartbeats while steps' output is held; 0: $BRR_HEARTBEAT or
   * BRR_UI_HEARTBEAT_S; negative: none */
  int heartbeat_s;
  /* Chrome trace event file written at the end of the run: NULL: <results_dir>/trace.json
   * (none without a results dir); "" : none */
  const char *trace_path;
} brr_ui_opts;

#define BRR_UI_HEARTBEAT_S 30
/* The heartbeat interval asked for: `flag` (--heartbeat, NULL when not given), else
 * $BRR_HEARTBEAT when set and not empty, else 0 (the default). A value of 0 seconds turns
 * heartbeats off (returned as -1). BRR_EINVAL when the text that decides is not a number. */
int brr_ui_heartbeat_choose(const char *flag, int *out);

typedef struct brr_ui brr_ui;
/* Subscribe the chosen renderer and the results-dir logs to `bus`. With a results_dir,
 * creates it, build.log and logs/ (one <step>.log per step); returns NULL with errno set
 * when that fails (the CLI exits 69). */
brr_ui *brr_ui_new(brr_bus *bus, const brr_ui_opts *opts);
void brr_ui_free(brr_ui *ui);     /* flushes */
/* A file of the results dir could not be written (full disk...): the message, which names
 * the file and the error, goes into the summary, and the run fails (exit 1). The results-dir
 * logs report their own failures here. Call before RUN_END to be in the summary. */
void brr_ui_results_error(brr_ui *ui, const char *fmt, ...) BRR_PRINTF(2, 3);
/* Whether any results file failed to be written (brr_ui_results_error). */
bool brr_ui_results_failed(const brr_ui *ui);
/* Close the results-dir logs after the run (errors after the summary go to stderr). Returns
 * whether any results file failed to be written: the run must then not exit 0. */
bool brr_ui_end(brr_ui *ui);
int brr_progress_parse(const char *s, brr_progress *out);   /* 0 or BRR_EINVAL */
/* The mode asked for: --progress (`flag`, NULL when not given), else $BRR_PROGRESS when set
 * and not empty, else AUTO. 0, or BRR_EINVAL when the text that decides is not a mode. */
int brr_progress_choose(const char *flag, brr_progress *out);
/* Whether colour is on for `fd` given --no-color, NO_COLOR, FORCE_COLOR, CLICOLOR_FORCE. */
bool brr_ui_color_enabled(int fd, bool no_color);
/* The mode `p` means here: AUTO becomes TTY (fd is a terminal, TERM is not dumb), CI (a CI
 * provider with log groups is detected) or PLAIN. */
brr_progress brr_ui_resolve_progress(brr_progress p, int fd);

/* CI log-group syntax, from the environment (GITHUB_ACTIONS, GITLAB_CI, BUILDKITE). */
typedef enum {
  BRR_CI_NONE,
  BRR_CI_GITHUB,
  BRR_CI_GITLAB,
  BRR_CI_BUILDKITE,
} brr_ci_kind;
brr_ci_kind brr_ui_ci_detect(void);
/* Print a GitHub Actions error annotation, `::error file=F,line=L,col=C,title=T::msg`, with
 * the workflow-command escapes; `file` (may be NULL) is made relative to $GITHUB_WORKSPACE. */
void brr_ui_github_error(FILE *out, const char *file, unsigned line, unsigned col, const char *title,
                         const char *msg);
const char *brr_status_name(brr_status s);   /* "succeeded", "failed", ... */

#endif
