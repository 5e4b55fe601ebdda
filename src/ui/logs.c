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
  FILE *build;
  FILE **steps;       /* per step index; NULL until its first line or after it ended */
  bool *seen;         /* the step's file was created in this run (reopen appends) */
  size_t cap;
  brr_buf line;
};

ui_logs *ui_logs_open(const char *dir) {
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
  free(path);
  if (!f) {
    free(logs_dir);
    errno = e;
    return NULL;
  }
  ui_logs *lg = brr_xcalloc(1, sizeof *lg);
  lg->dir = logs_dir;
  lg->build = f;
  return lg;
}

static void ensure(ui_logs *lg, size_t n) {
  if (n <= lg->cap) return;
  size_t cap = lg->cap ? lg->cap : 16;
  while (cap < n) cap *= 2;
  lg->steps = brr_xrealloc(lg->steps, cap * sizeof(FILE *));
  lg->seen = brr_xrealloc(lg->seen, cap * sizeof(bool));
  for (size_t i = lg->cap; i < cap; i++) {
    lg->steps[i] = NULL;
    lg->seen[i] = false;
  }
  lg->cap = cap;
}

/* A file name from a step name: [A-Za-z0-9._-] kept, anything else '_', no leading dot. */
static char *file_name(const char *step) {
  brr_buf b = BRR_BUF_INIT;
  for (const char *p = step; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || (c == '.' && p != step);
    brr_buf_putc(&b, ok ? c : '_');
  }
  brr_buf_puts(&b, ".log");
  return brr_buf_detach(&b);
}

static FILE *step_file(ui_logs *lg, const ui_step *st) {
  ensure(lg, st->index + 1);
  if (lg->steps[st->index]) return lg->steps[st->index];
  char *name = file_name(st->name);
  char *path = brr_path_join(lg->dir, name);
  /* a step that ended and gets a late line appends to what it wrote */
  lg->steps[st->index] = fopen(path, lg->seen[st->index] ? "ae" : "we");
  lg->seen[st->index] = true;
  free(name);
  free(path);
  return lg->steps[st->index];
}

void ui_logs_event(brr_ui *ui, ui_logs *lg, const brr_event *ev, ui_step *st) {
  brr_buf *b = &lg->line;
  brr_buf_reset(b);
  if (ev->type == BRR_EV_RUN_END) {
    ui_fmt_summary(ui, b, false);
    fwrite(b->data, 1, b->len, lg->build);
    fflush(lg->build);
    return;
  }
  if (ev->type == BRR_EV_FLUSH) {
    fflush(lg->build);
    if (st && st->index < lg->cap && lg->steps[st->index]) fflush(lg->steps[st->index]);
    return;
  }
  if (ev == ui->line_ev) {
    /* an output line, formatted once: build.log takes it whole, the step's log the text
     * as the step printed it */
    fwrite_unlocked(ui->line.data, 1, ui->line.len, lg->build);
    FILE *f = step_file(lg, st);
    if (f) fwrite_unlocked(ui->line.data + ui->line_body, 1, ui->line.len - ui->line_body, f);
    return;
  }
  if (!ui_fmt_line(ui, b, ev, st, true, false)) return;
  fwrite(b->data, 1, b->len, lg->build);
  if (!st) return;
  FILE *f = step_file(lg, st);
  if (f) {
    brr_buf_reset(b);
    ui_fmt_body(ui, b, ev, false);
    brr_buf_putc(b, '\n');
    fwrite(b->data, 1, b->len, f);
  }
  if (ev->type == BRR_EV_NODE_END) {
    fflush(lg->build);
    /* close a finished step's file: a run of thousands of steps must not run out of fds */
    if (f && st->n_ended >= st->n_nodes) {
      fclose(f);
      lg->steps[st->index] = NULL;
    } else if (f) {
      fflush(f);
    }
  }
}

void ui_logs_close(ui_logs *lg) {
  for (size_t i = 0; i < lg->cap; i++)
    if (lg->steps[i]) fclose(lg->steps[i]);
  fclose(lg->build);
  free(lg->steps);
  free(lg->seen);
  free(lg->dir);
  brr_buf_free(&lg->line);
  free(lg);
}
