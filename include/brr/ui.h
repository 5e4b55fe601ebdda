/* brr — the renderers of the events (events.h): tty status line, plain prefixed lines, CI
 * log groups, JSON lines, the log files in the results dir; each subscribes to the bus. Only
 * the CLI needs this header: producers (sched, tasks) include events.h alone. */
#ifndef BRR_UI_H
#define BRR_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "brr/events.h"
#include "brr/util.h"

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

#endif
