/* The logs in the results dir, written whatever the console shows: build.log (every line as
 * the plain renderer prints it, always timestamped, never coloured, plus the summary) and
 * logs/<step>.log (that step's lines only, as the step printed them: no timestamp, no prefix). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui_internal.h"

struct ui_logs {
  char *dir;          /* <results>/logs */
  char *build_path;   /* <results>/build.log */
  FILE *build;        /* NULL once it failed or was closed */
  FILE **steps;       /* per step index; NULL until its first line or after it ended */
  bool *seen;         /* the step's file was created in this run (reopen appends) */
  bool *dead;         /* the step's file failed: it gets no more lines */
  size_t cap;
  brr_buf line;
};

ui_logs *brr__ui_logs_open(const char *dir) {
  int rc = brr_mkdir_p(dir, 0755);
  if (rc < 0) {
    errno = -rc;
    return NULL;
  }
  char *logs_dir = brr_path_join(dir, "logs");
  rc = brr_mkdir_p(logs_dir, 0755);
  if (rc < 0) {
    free(logs_dir);
    errno = -rc;
    return NULL;
  }
  char *path = brr_path_join(dir, "build.log");
  FILE *f = fopen(path, "we");
  int e = errno;
  if (!f) {
    free(path);
    free(logs_dir);
    errno = e;
    return NULL;
  }
  ui_logs *lg = brr_xcalloc(1, sizeof *lg);
  lg->dir = logs_dir;
  lg->build_path = path;
  lg->build = f;
  return lg;
}

static void ensure(ui_logs *lg, size_t n) {
  if (n <= lg->cap) return;
  size_t cap = lg->cap ? lg->cap : 16;
  while (cap < n) cap *= 2;
  lg->steps = brr_xrealloc(lg->steps, cap * sizeof(FILE *));
  lg->seen = brr_xrealloc(lg->seen, cap * sizeof(bool));
  lg->dead = brr_xrealloc(lg->dead, cap * sizeof(bool));
  for (size_t i = lg->cap; i < cap; i++) {
    lg->steps[i] = NULL;
    lg->seen[i] = false;
    lg->dead[i] = false;
  }
  lg->cap = cap;
}

/* logs/<results name>.log: one file per name, never outside logs/ (brr_results_name). */
static char *step_path(const ui_logs *lg, const ui_step *st) {
  char *name = brr_results_name(st->name);
  char *file = brr_xasprintf("%s.log", name);
  char *path = brr_path_join(lg->dir, file);
  free(file);
  free(name);
  return path;
}

static void step_failed(brr_ui *ui, ui_logs *lg, const ui_step *st, const char *what, int e) {
  char *path = step_path(lg, st);
  brr_ui_results_error(ui, "%s %s: %s", what, path, strerror(e));
  free(path);
  if (lg->steps[st->index]) fclose(lg->steps[st->index]);
  lg->steps[st->index] = NULL;
  lg->dead[st->index] = true;
}

static void build_failed(brr_ui *ui, ui_logs *lg, const char *what, int e) {
  brr_ui_results_error(ui, "%s %s: %s", what, lg->build_path, strerror(e));
  fclose(lg->build);
  lg->build = NULL;
}

/* fwrite, or fflush when data is NULL; false (errno set) when the file took less. */
static bool put(FILE *f, const void *data, size_t len) {
  errno = 0;
  if (data && fwrite_unlocked(data, 1, len, f) != len) {  /* one thread writes the logs */
    if (!errno) errno = EIO;
    return false;
  }
  if (!data && fflush(f) != 0) {
    if (!errno) errno = EIO;
    return false;
  }
  return true;
}

static void build_put(brr_ui *ui, ui_logs *lg, const void *data, size_t len) {
  if (lg->build && !put(lg->build, data, len)) build_failed(ui, lg, "writing", errno);
}

static FILE *step_file(brr_ui *ui, ui_logs *lg, const ui_step *st) {
  ensure(lg, st->index + 1);
  if (lg->steps[st->index] || lg->dead[st->index]) return lg->steps[st->index];
  char *path = step_path(lg, st);
  /* a step that ended and gets a late line appends to what it wrote */
  lg->steps[st->index] = fopen(path, lg->seen[st->index] ? "ae" : "we");
  lg->seen[st->index] = true;
  free(path);
  if (!lg->steps[st->index]) step_failed(ui, lg, st, "creating", errno);
  return lg->steps[st->index];
}

static void step_close(brr_ui *ui, ui_logs *lg, const ui_step *st) {
  FILE *f = lg->steps[st->index];
  if (!f) return;
  lg->steps[st->index] = NULL;
  errno = 0;
  if (fclose(f) != 0) step_failed(ui, lg, st, "writing", errno ? errno : EIO);
}

void brr__ui_logs_event(brr_ui *ui, ui_logs *lg, const brr_event *ev, ui_step *st) {
  brr_buf *b = &lg->line;
  brr_buf_reset(b);
  if (ev->type == BRR_EV_RUN_END) {
    /* the step logs' errors first, so the summary can list them */
    brr__ui_logs_end_steps(ui, lg);
    if (ui->n_results_err && ui->exit_code == 0) ui->exit_code = 1;  /* exit 1: a processing error */
    brr__ui_fmt_summary(ui, b, false);
    build_put(ui, lg, b->data, b->len);
    build_put(ui, lg, NULL, 0);
    return;
  }
  if (ev->type == BRR_EV_FLUSH) {
    build_put(ui, lg, NULL, 0);
    if (st && st->index < lg->cap && lg->steps[st->index] && !put(lg->steps[st->index], NULL, 0))
      step_failed(ui, lg, st, "writing", errno);
    return;
  }
  if (ev == ui->line_ev) {
    /* an output line, formatted once: build.log takes it whole, the step's log the text
     * as the step printed it */
    build_put(ui, lg, ui->line.data, ui->line.len);
    FILE *f = st ? step_file(ui, lg, st) : NULL;
    if (f && !put(f, ui->line.data + ui->line_body, ui->line.len - ui->line_body))
      step_failed(ui, lg, st, "writing", errno);
    return;
  }
  if (!brr__ui_fmt_line(ui, b, ev, st, true, false)) return;
  build_put(ui, lg, b->data, b->len);
  if (!st) return;
  FILE *f = step_file(ui, lg, st);
  if (f) {
    brr_buf_reset(b);
    brr__ui_fmt_body(ui, b, ev, false);
    brr_buf_putc(b, '\n');
    if (!put(f, b->data, b->len)) {
      step_failed(ui, lg, st, "writing", errno);
      f = NULL;
    }
  }
  if (ev->type == BRR_EV_NODE_END) {
    build_put(ui, lg, NULL, 0);
    /* close a finished step's file: a run of thousands of steps must not run out of fds */
    if (f && st->n_ended >= st->n_nodes) step_close(ui, lg, st);
    else if (f && !put(f, NULL, 0)) step_failed(ui, lg, st, "writing", errno);
  }
}

void brr__ui_logs_end_steps(brr_ui *ui, ui_logs *lg) {
  build_put(ui, lg, NULL, 0);
  for (size_t i = 0; i < lg->cap; i++)
    if (lg->steps[i]) step_close(ui, lg, ui->steps[i]);
}

void brr__ui_logs_close(brr_ui *ui, ui_logs *lg) {
  for (size_t i = 0; i < lg->cap; i++)
    if (lg->steps[i]) step_close(ui, lg, ui->steps[i]);
  if (lg->build) {
    errno = 0;
    int rc = fclose(lg->build);
    int e = errno ? errno : EIO;
    lg->build = NULL;
    if (rc != 0) brr_ui_results_error(ui, "writing %s: %s", lg->build_path, strerror(e));
  }
}

void brr__ui_logs_free(brr_ui *ui, ui_logs *lg) {
  brr__ui_logs_close(ui, lg);
  free(lg->steps);
  free(lg->seen);
  free(lg->dead);
  free(lg->dir);
  free(lg->build_path);
  brr_buf_free(&lg->line);
  free(lg);
}
