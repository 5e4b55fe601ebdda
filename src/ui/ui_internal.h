/* Private to src/ui: the state every renderer shares (one record per step, built from the
 * events), the output writer, the line formats and the summary. */
#ifndef BRR_UI_INTERNAL_H
#define BRR_UI_INTERNAL_H

#include <stdio.h>

#include "brr/ui.h"

#define UI_TAIL 10                 /* lines kept per step for the failure report */
#define UI_OUT_HIGH (64 * 1024)    /* buffered bytes that force a write before a FLUSH */
#define UI_WIDTH_MAX 32            /* the prefix column never pads wider (longer names overflow) */

/* What the renderers know about one step (or one build-level node, named by its id). */
typedef struct ui_step {
  char *name;
  size_t index;                    /* position in the ui's step list: file order */
  size_t n_nodes;                  /* nodes announced at RUN_START */
  size_t n_started, n_ended, n_running;
  size_t n_succeeded, n_failed, n_canceled, n_skipped;
  size_t n_reused;          /* of n_succeeded: restored from an earlier run */
  int64_t first_start_ms, last_end_ms;
  double sum_s;                    /* durations of its nodes added up */
  char *error;                     /* the first failure: "<node>: <message>" */
  char *skip_reason;               /* why its first skipped node was skipped */
  char *file;                      /* where the step is defined (CI annotations), or NULL */
  unsigned line;
  double wait_s;                   /* time its nodes were ready but waited for a slot or pool */
  double expected_s;               /* its nodes' durations in earlier runs (history), added up */
  brr_buf tail[UI_TAIL];           /* ring of its last lines */
  brr_buf prefix;                  /* "name<padding> |", made once per width */
  size_t prefix_width;
  size_t tail_n, tail_next;
} ui_step;

/* Whole lines are appended to `buf`; brr__ui_out_write hands them to write(2) in one call where
 * the kernel takes them, so lines never split however the fd is shared or non-blocking. */
typedef struct ui_out {
  int fd;
  brr_buf buf;
  bool broken;                     /* a write failed for good (EPIPE...): drop output */
} ui_out;

typedef struct ui_renderer {
  void (*init)(brr_ui *ui);
  /* st: the event's step record, or NULL for build-level events */
  void (*event)(brr_ui *ui, const brr_event *ev, ui_step *st);
  void (*free)(brr_ui *ui);
} ui_renderer;

typedef struct ui_logs ui_logs;
typedef struct ui_trace ui_trace;

/* An engine of `engines:` as NODE_START named it: the nodes it ran and its busy time. */
typedef struct ui_engine {
  char *name;
  size_t nodes;
  int active;                      /* nodes on it now */
  int64_t since_ms;                /* when `active` went from 0 to 1 */
  double busy_s;                   /* time with at least one node on it */
} ui_engine;

typedef struct ui_placed {
  char *node;
  size_t engine;
} ui_placed;

struct brr_ui {
  brr_bus *bus;
  brr_ui_opts opts;
  char *results_dir;
  brr_progress mode;               /* resolved, never AUTO */
  bool color;
  /* the steps, in the order RUN_START announced them */
  ui_step **steps;
  size_t n_steps, cap_steps;
  brr_strmap index;                /* name -> position in steps */
  size_t width;                    /* longest step name (capped), for padding */
  size_t *running;                 /* steps with a node running, in start order */
  size_t n_running, cap_running;
  size_t n_total, n_done;
  /* nodes by outcome so far, and running now */
  size_t n_node_ok, n_node_failed, n_node_canceled, n_node_skipped, n_node_running;
  size_t n_node_reused;     /* of n_node_ok */
  bool has_history;                /* RUN_START carried durations of earlier runs */
  int jobs;
  int64_t start_ms;
  /* RUN_END figures */
  bool ended;
  int exit_code, signal;
  double wall_s, sum_s, critical_s;
  ui_out out;
  const ui_renderer *r;
  void *rs;                        /* the renderer's state */
  ui_logs *logs;
  char **results_err;              /* results files that could not be written (summary) */
  bool summarised;                 /* the summary is out: later errors go to stderr */
  size_t n_results_err, cap_results_err;
  ui_trace *trace;                 /* the Chrome trace written at RUN_END, or NULL */
  /* timestamp cache: local time formatted once per second, the milliseconds once per ms */
  int64_t ts_sec, ts_ms;
  char ts_text[32];                /* "YYYY-MM-DD HH:MM:SS,mmm " */
  /* the current output event's line, formatted once for every renderer and log:
   * "<ts><prefix> <body>\n" with the prefix and body offsets */
  const brr_event *line_ev;
  brr_buf line;
  size_t line_prefix, line_body;
  /* the last label looked up (output events of one node come in runs) */
  const char *last_label;
  ui_step *last_step;
  /* several engines: per engine, and the nodes running on one */
  ui_engine *engines;
  size_t n_engines, cap_engines;
  ui_placed *placed;
  size_t n_placed, cap_placed;
};

/* Engine bookkeeping from NODE_START (with `engine`) and NODE_END. */
void brr__ui_engines_track(brr_ui *ui, const brr_event *ev);
void brr__ui_engines_free(brr_ui *ui);

#define UI_TS_LEN 24                 /* strlen("YYYY-MM-DD HH:MM:SS,mmm ") */

extern const ui_renderer brr__ui_plain_renderer;
extern const ui_renderer brr__ui_tty_renderer;
extern const ui_renderer brr__ui_ci_renderer;
extern const ui_renderer brr__ui_json_renderer;

/* ---- writer ---- */
void brr__ui_out_write(ui_out *o);
/* Write when enough is buffered; the rest waits for a FLUSH. */
void brr__ui_out_maybe(ui_out *o);

/* ---- step records ---- */
brr_status brr__ui_step_status(const ui_step *st);
double brr__ui_step_span_s(const ui_step *st);

/* ---- formats ---- */
/* "YYYY-MM-DD HH:MM:SS,mmm " in local time, as buildrunner's console and build.log. */
void brr__ui_fmt_ts(brr_ui *ui, brr_buf *b, int64_t ms);
/* "0.4s", "12.3s", "2m05s", "1h02m03s". */
void brr__ui_fmt_duration(brr_buf *b, double s);
/* [ts ]body\n of a step's event (CI groups, step logs without ts). */
void brr__ui_fmt_step_line(brr_ui *ui, brr_buf *b, const brr_event *ev, bool ts, bool color);
/* Format an output event's line once (called before the renderers see it). */
void brr__ui_line_prepare(brr_ui *ui, const brr_event *ev, ui_step *st);
/* The text of an event without step prefix or timestamp ("[source] line", "==> node",
 * "warning: ..."). Returns false when the event has no line. */
bool brr__ui_fmt_body(brr_ui *ui, brr_buf *b, const brr_event *ev, bool color);
/* A whole line with newline: [ts ]<step padded> | <body>, or for build-level messages
 * [ts ]LEVEL    message, as buildrunner. Returns false when the event has no line. */
bool brr__ui_fmt_line(brr_ui *ui, brr_buf *b, const brr_event *ev, const ui_step *st, bool ts,
                 bool color);
/* The end-of-run report: per step status and time, the totals, and for a failed run the
 * failing steps' last lines and errors, then "Build SUCCESS." or "Build ERROR.". */
void brr__ui_fmt_summary(brr_ui *ui, brr_buf *b, bool color);
/* The status header of a CI group: "<step> (failed, 3.1s)". */
void brr__ui_fmt_group_title(brr_buf *b, const ui_step *st);
const char *brr__ui_color_of(const ui_step *st);   /* SGR parameters, e.g. "36" */

#define UI_SGR(b, color, code) \
  do {                         \
    if (color) brr_buf_printf((b), "\033[%sm", (code)); \
  } while (0)
#define UI_SGR_RESET(b, color)            \
  do {                                    \
    if (color) brr_buf_puts((b), "\033[0m"); \
  } while (0)

/* ---- tty ---- */
/* The tty's live region for a terminal of `cols` x `rows` at time `now`: a line per running
 * step (timer, last output line) as many as fit, then the counts line with the elapsed time
 * and the estimate of the time left. Lines are separated by '\n', none at the end; no line is
 * wider than cols - 1 columns. Returns the number of lines. */
size_t brr__ui_tty_region(brr_ui *ui, brr_buf *out, int cols, int rows, int64_t now);
/* Append at most `cols` columns of text (UTF-8 counted per character, control characters
 * shown as spaces), ending with "…" when cut. Returns the columns used. */
size_t brr__ui_fit(brr_buf *out, const char *text, size_t len, size_t cols);

/* ---- CI ---- */
/* A GitHub `::error file=..,line=..,col=..,title=..::msg` line (file may be NULL, line/col 0). */
void brr__ui_ci_github_error(brr_buf *b, const char *file, unsigned line, unsigned col, const char *title,
                        const char *msg);
/* The run as Markdown for $GITHUB_STEP_SUMMARY: status, per-step table, totals, critical path,
 * failures with their last lines. */
void brr__ui_fmt_markdown(brr_ui *ui, brr_buf *b, const char *const *critical, size_t n_critical);

/* ---- results-dir logs ---- */
ui_logs *brr__ui_logs_open(const char *dir);      /* NULL with errno set on failure */
/* Every failed write or close is reported once per file with brr_ui_results_error; the file
 * then gets no more lines (a log with a hole in the middle would look complete). */
void brr__ui_logs_event(brr_ui *ui, ui_logs *lg, const brr_event *ev, ui_step *st);
/* Flush and close every step log (RUN_END): their errors come before the summary. */
void brr__ui_logs_end_steps(brr_ui *ui, ui_logs *lg);
/* Close every log (build.log last); their errors are reported. */
void brr__ui_logs_close(brr_ui *ui, ui_logs *lg);
void brr__ui_logs_free(brr_ui *ui, ui_logs *lg);   /* closes first */

/* ---- the trace (trace.c) ---- */
ui_trace *brr__ui_trace_new(const char *path);
void brr__ui_trace_event(ui_trace *t, const brr_event *ev);
int brr__ui_trace_write(ui_trace *t);   /* once; 0 or -errno (a warning on stderr says which) */
void brr__ui_trace_free(ui_trace *t);

#endif
