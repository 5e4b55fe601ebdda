/* Line formats and the end-of-run summary, shared by the plain, tty and CI renderers and the
 * results-dir logs, so the same event reads the same everywhere. */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "ui_internal.h"

/* docker compose's rotation: cyan, yellow, green, magenta, blue, then the bold variants */
static const char *const PALETTE[] = {"36", "33", "32", "35", "34", "1;36", "1;33", "1;32", "1;35", "1;34"};

const char *brr__ui_color_of(const ui_step *st) { return PALETTE[st->index % BRR_ARRAY_LEN(PALETTE)]; }

/* Called for every line: strftime once per second, the milliseconds once per ms, and a
 * memcpy otherwise (formatting the timestamp was most of a line's cost). */
void brr__ui_fmt_ts(brr_ui *ui, brr_buf *b, int64_t ms) {
  if (ms != ui->ts_ms) {
    int64_t sec = ms / 1000;
    if (sec != ui->ts_sec) {
      time_t t = (time_t)sec;
      struct tm tm;
      localtime_r(&t, &tm);
      strftime(ui->ts_text, sizeof ui->ts_text, "%Y-%m-%d %H:%M:%S,000 ", &tm);
      ui->ts_sec = sec;
    }
    int m = (int)(ms % 1000);
    if (m < 0) m += 1000;
    ui->ts_text[20] = (char)('0' + m / 100);
    ui->ts_text[21] = (char)('0' + m / 10 % 10);
    ui->ts_text[22] = (char)('0' + m % 10);
    ui->ts_ms = ms;
  }
  brr_buf_append(b, ui->ts_text, UI_TS_LEN);
}

/* "name<padding> |", remade only when the padding width changes */
static const brr_buf *step_prefix(brr_ui *ui, ui_step *st) {
  if (st->prefix.len == 0 || st->prefix_width != ui->width) {
    brr_buf_reset(&st->prefix);
    brr_buf_printf(&st->prefix, "%-*s |", (int)ui->width, st->name);
    st->prefix_width = ui->width;
  }
  return &st->prefix;
}

static void fmt_output_body(brr_buf *b, const brr_event *ev) {
  if (ev->source) {
    brr_buf_putc(b, '[');
    brr_buf_puts(b, ev->source);
    brr_buf_puts(b, "] ");
  }
  brr_buf_append(b, ev->text, ev->len);
}

void brr__ui_line_prepare(brr_ui *ui, const brr_event *ev, ui_step *st) {
  ui->line_ev = NULL;
  if (ev->type != BRR_EV_NODE_OUTPUT || !st) return;
  brr_buf *b = &ui->line;
  brr_buf_reset(b);
  brr__ui_fmt_ts(ui, b, ev->ts_ms);
  ui->line_prefix = b->len;
  const brr_buf *p = step_prefix(ui, st);
  brr_buf_append(b, p->data, p->len);
  brr_buf_putc(b, ' ');
  ui->line_body = b->len;
  fmt_output_body(b, ev);
  brr_buf_putc(b, '\n');
  ui->line_ev = ev;
}

void brr__ui_fmt_step_line(brr_ui *ui, brr_buf *b, const brr_event *ev, bool ts, bool color) {
  if (ev == ui->line_ev) {
    if (ts) brr_buf_append(b, ui->line.data, UI_TS_LEN);
    brr_buf_append(b, ui->line.data + ui->line_body, ui->line.len - ui->line_body);
    return;
  }
  if (ts) brr__ui_fmt_ts(ui, b, ev->ts_ms);
  brr__ui_fmt_body(ui, b, ev, color);
  brr_buf_putc(b, '\n');
}

void brr__ui_fmt_duration(brr_buf *b, double s) {
  if (s < 0) s = 0;
  if (s < 60) {
    brr_buf_printf(b, "%.1fs", s);
    return;
  }
  long t = (long)(s + 0.5);
  if (t < 3600) brr_buf_printf(b, "%ldm%02lds", t / 60, t % 60);
  else brr_buf_printf(b, "%ldh%02ldm%02lds", t / 3600, (t / 60) % 60, t % 60);
}

static const char *level_word(brr_log_level l) {
  switch (l) {
  case BRR_LOG_DEBUG: return "DEBUG";
  case BRR_LOG_INFO: return "INFO";
  case BRR_LOG_WARNING: return "WARNING";
  default: return "ERROR";
  }
}

static const char *level_color(brr_log_level l) {
  return l == BRR_LOG_ERROR ? "31" : l == BRR_LOG_WARNING ? "33" : "2";
}

static void fmt_end(brr_buf *b, const brr_event *ev, bool color) {
  const char *node = ev->node ? ev->node : "";
  switch (ev->status) {
  case BRR_STATUS_SUCCEEDED:
    brr_buf_printf(b, "<== %s ", node);
    UI_SGR(b, color, "32");
    brr_buf_puts(b, "succeeded");
    UI_SGR_RESET(b, color);
    brr_buf_puts(b, " in ");
    brr__ui_fmt_duration(b, ev->duration);
    break;
  case BRR_STATUS_REUSED:
    /* the outputs of the last run whose inputs were the same (docs/incremental.md) */
    brr_buf_printf(b, "<== %s ", node);
    UI_SGR(b, color, "36");
    brr_buf_puts(b, "reused");
    UI_SGR_RESET(b, color);
    brr_buf_puts(b, " in ");
    brr__ui_fmt_duration(b, ev->duration);
    break;
  case BRR_STATUS_FAILED:
    brr_buf_printf(b, "<== %s ", node);
    UI_SGR(b, color, "1;31");
    brr_buf_puts(b, "FAILED");
    UI_SGR_RESET(b, color);
    brr_buf_puts(b, " after ");
    brr__ui_fmt_duration(b, ev->duration);
    if (ev->text) brr_buf_printf(b, ": %s", ev->text);
    break;
  case BRR_STATUS_CANCELED:
    brr_buf_printf(b, "<== %s ", node);
    UI_SGR(b, color, "33");
    brr_buf_puts(b, "canceled");
    UI_SGR_RESET(b, color);
    brr_buf_puts(b, " after ");
    brr__ui_fmt_duration(b, ev->duration);
    if (ev->text) brr_buf_printf(b, ": %s", ev->text);
    break;
  default:
    brr_buf_printf(b, "--- %s skipped", node);
    if (ev->text) brr_buf_printf(b, ": %s", ev->text);
    break;
  }
}

bool brr__ui_fmt_body(brr_ui *ui, brr_buf *b, const brr_event *ev, bool color) {
  (void)ui;
  switch (ev->type) {
  case BRR_EV_NODE_OUTPUT:
    fmt_output_body(b, ev);
    return true;
  case BRR_EV_LOG:
    if (ev->level != BRR_LOG_INFO) {
      UI_SGR(b, color, level_color(ev->level));
      brr_buf_puts(b, ev->level == BRR_LOG_DEBUG ? "debug: " : ev->level == BRR_LOG_WARNING ? "warning: " : "error: ");
      UI_SGR_RESET(b, color);
    }
    brr_buf_append(b, ev->text, ev->len);
    return true;
  case BRR_EV_NODE_START:
    brr_buf_printf(b, "==> %s", ev->node ? ev->node : "");
    return true;
  case BRR_EV_NODE_END:
    fmt_end(b, ev, color);
    return true;
  default:
    return false;
  }
}

bool brr__ui_fmt_line(brr_ui *ui, brr_buf *b, const brr_event *ev, const ui_step *st, bool ts,
                 bool color) {
  if (ev == ui->line_ev && st) {
    /* the output line formatted once: copy it, with the prefix coloured when asked */
    const brr_buf *l = &ui->line;
    size_t from = ts ? 0 : ui->line_prefix;
    if (!color) {
      brr_buf_append(b, l->data + from, l->len - from);
      return true;
    }
    brr_buf_append(b, l->data + from, ui->line_prefix - from);
    UI_SGR(b, color, brr__ui_color_of(st));
    brr_buf_append(b, l->data + ui->line_prefix, ui->line_body - 1 - ui->line_prefix);
    UI_SGR_RESET(b, color);
    brr_buf_append(b, l->data + ui->line_body - 1, l->len - (ui->line_body - 1));
    return true;
  }
  if (!st) {
    if (ev->type != BRR_EV_LOG) return false;
    if (ts) brr__ui_fmt_ts(ui, b, ev->ts_ms);
    UI_SGR(b, color && ev->level != BRR_LOG_INFO, level_color(ev->level));
    brr_buf_printf(b, "%-8s", level_word(ev->level));
    UI_SGR_RESET(b, color && ev->level != BRR_LOG_INFO);
    brr_buf_putc(b, ' ');
    brr_buf_append(b, ev->text, ev->len);
    brr_buf_putc(b, '\n');
    return true;
  }
  size_t mark = b->len;
  if (ts) brr__ui_fmt_ts(ui, b, ev->ts_ms);
  UI_SGR(b, color, brr__ui_color_of(st));
  brr_buf_printf(b, "%-*s |", (int)ui->width, st->name);
  UI_SGR_RESET(b, color);
  brr_buf_putc(b, ' ');
  if (!brr__ui_fmt_body(ui, b, ev, color)) {
    b->len = mark;
    if (b->data) b->data[mark] = '\0';
    return false;
  }
  brr_buf_putc(b, '\n');
  return true;
}

void brr__ui_fmt_group_title(brr_buf *b, const ui_step *st) {
  brr_buf_printf(b, "%s (%s, ", st->name, brr_status_name(brr__ui_step_status(st)));
  brr__ui_fmt_duration(b, brr__ui_step_span_s(st));
  brr_buf_putc(b, ')');
}

static const char *status_color(brr_status s) {
  switch (s) {
  case BRR_STATUS_SUCCEEDED: return "32";
  case BRR_STATUS_REUSED: return "36";
  case BRR_STATUS_FAILED: return "1;31";
  case BRR_STATUS_CANCELED: return "33";
  default: return "2";
  }
}

static void fmt_step_row(brr_ui *ui, brr_buf *b, const ui_step *st, bool color) {
  brr_status s = brr__ui_step_status(st);
  brr_buf_printf(b, "  %-*s  ", (int)ui->width, st->name);
  UI_SGR(b, color, status_color(s));
  brr_buf_printf(b, "%-9s", brr_status_name(s));
  UI_SGR_RESET(b, color);
  brr_buf_puts(b, "  ");
  if (st->n_started) {
    brr_buf tmp = BRR_BUF_INIT;
    brr__ui_fmt_duration(&tmp, brr__ui_step_span_s(st));
    brr_buf_printf(b, "%8s", brr_buf_cstr(&tmp));
    brr_buf_free(&tmp);
  } else {
    brr_buf_printf(b, "%8s", "-");
  }
  /* time its nodes were ready but waited for a job slot or a pool, beside the time they ran */
  if (st->wait_s >= 0.05) {
    brr_buf_puts(b, "  waited ");
    brr__ui_fmt_duration(b, st->wait_s);
  }
  if (st->error) brr_buf_printf(b, "  %s", st->error);
  brr_buf_putc(b, '\n');
}

static void fmt_failure(brr_buf *b, const ui_step *st, bool color) {
  brr_buf_putc(b, '\n');
  UI_SGR(b, color, "1;31");
  brr_buf_printf(b, "%s failed", st->name);
  UI_SGR_RESET(b, color);
  brr_buf_printf(b, ": %s\n", st->error ? st->error : "failed");
  if (st->tail_n == 0) return;
  brr_buf_printf(b, "  last %zu line%s of %s:\n", st->tail_n, st->tail_n == 1 ? "" : "s", st->name);
  size_t first = (st->tail_next + UI_TAIL - st->tail_n) % UI_TAIL;
  for (size_t k = 0; k < st->tail_n; k++) {
    const brr_buf *line = &st->tail[(first + k) % UI_TAIL];
    brr_buf_puts(b, "  | ");
    brr_buf_append(b, line->data ? line->data : "", line->len);
    brr_buf_putc(b, '\n');
  }
}

/* "Wall time X, sum of step times Y, critical path Z" (the summary's and the Markdown's). */
static void fmt_times(const brr_ui *ui, brr_buf *b) {
  brr_buf_puts(b, "Wall time ");
  brr__ui_fmt_duration(b, ui->wall_s);
  brr_buf_puts(b, ", sum of step times ");
  brr__ui_fmt_duration(b, ui->sum_s);
  brr_buf_puts(b, ", critical path ");
  brr__ui_fmt_duration(b, ui->critical_s);
}

void brr__ui_fmt_summary(brr_ui *ui, brr_buf *b, bool color) {
  brr_buf_puts(b, "\nSummary:\n");
  for (size_t i = 0; i < ui->n_steps; i++) fmt_step_row(ui, b, ui->steps[i], color);
  int jobs = ui->jobs > 0 ? ui->jobs : 1;
  double bound = ui->critical_s > ui->sum_s / jobs ? ui->critical_s : ui->sum_s / jobs;
  double eff = ui->wall_s > 0 ? bound / ui->wall_s : 1.0;
  if (eff > 1) eff = 1;
  fmt_times(ui, b);
  brr_buf_printf(b, ", parallelism %.2fx, efficiency %.0f%% (%d job%s)\n",
                 ui->wall_s > 0 ? ui->sum_s / ui->wall_s : 0.0, eff * 100, jobs, jobs == 1 ? "" : "s");
  /* several engines (`engines:`): what each one did */
  for (size_t i = 0; i < ui->n_engines; i++)
    brr_buf_printf(b, "Engine %s: %zu node%s, busy %.1fs\n", ui->engines[i].name, ui->engines[i].nodes,
                   ui->engines[i].nodes == 1 ? "" : "s", ui->engines[i].busy_s);
  for (size_t i = 0; i < ui->n_steps; i++)
    if (ui->steps[i]->n_failed) fmt_failure(b, ui->steps[i], color);
  if (ui->n_results_err) {
    /* a results file that could not be written fails the run, even if every step passed */
    brr_buf_puts(b, "\n");
    UI_SGR(b, color, "31");
    brr_buf_puts(b, "Results not saved:");
    UI_SGR_RESET(b, color);
    brr_buf_putc(b, '\n');
    size_t shown = ui->n_results_err > UI_TAIL ? UI_TAIL : ui->n_results_err;
    for (size_t i = 0; i < shown; i++) brr_buf_printf(b, "  %s\n", ui->results_err[i]);
    if (shown < ui->n_results_err) brr_buf_printf(b, "  and %zu more\n", ui->n_results_err - shown);
  }
  if (ui->signal) {
    const char *abbrev = sigabbrev_np(ui->signal);
    brr_buf_printf(b, "\nInterrupted by SIG%s.\n", abbrev ? abbrev : "?");
  }
  if (ui->exit_code == 0) {
    UI_SGR(b, color, "32");
    brr_buf_puts(b, "Build SUCCESS.");
  } else {
    UI_SGR(b, color, "1;31");
    brr_buf_puts(b, "Build ERROR.");
  }
  UI_SGR_RESET(b, color);
  brr_buf_putc(b, '\n');
}

/* Markdown table cells: a '|' would end the cell, a newline the row. */
static void md_cell(brr_buf *b, const char *s) {
  for (; s && *s; s++) {
    if (*s == '|') brr_buf_puts(b, "\\|");
    else if (*s == '\n' || *s == '\r') brr_buf_putc(b, ' ');
    else brr_buf_putc(b, *s);
  }
}

static const char *status_mark(brr_status s) {
  switch (s) {
  case BRR_STATUS_SUCCEEDED: return "\xe2\x9c\x85";   /* check mark */
  case BRR_STATUS_REUSED: return "\xe2\x99\xbb\xef\xb8\x8f";  /* recycling symbol */
  case BRR_STATUS_FAILED: return "\xe2\x9d\x8c";      /* cross mark */
  case BRR_STATUS_CANCELED: return "\xe2\x9a\xa0\xef\xb8\x8f";  /* warning sign */
  default: return "\xe2\x8f\xad\xef\xb8\x8f";         /* next track: skipped */
  }
}

void brr__ui_fmt_markdown(brr_ui *ui, brr_buf *b, const char *const *critical, size_t n_critical) {
  brr_buf_printf(b, "### brr: %s\n\n", ui->exit_code == 0 ? "Build SUCCESS" : "Build ERROR");
  brr_buf_puts(b, "| Step | Status | Ran | Waited | Details |\n|---|---|---:|---:|---|\n");
  for (size_t i = 0; i < ui->n_steps; i++) {
    const ui_step *st = ui->steps[i];
    brr_status s = brr__ui_step_status(st);
    brr_buf_puts(b, "| ");
    md_cell(b, st->name);
    brr_buf_printf(b, " | %s %s | ", status_mark(s), brr_status_name(s));
    if (st->n_started) brr__ui_fmt_duration(b, brr__ui_step_span_s(st));
    else brr_buf_putc(b, '-');
    brr_buf_puts(b, " | ");
    if (st->n_started) brr__ui_fmt_duration(b, st->wait_s);
    else brr_buf_putc(b, '-');
    brr_buf_puts(b, " | ");
    md_cell(b, st->error ? st->error : s == BRR_STATUS_SKIPPED ? st->skip_reason : NULL);
    brr_buf_puts(b, " |\n");
  }
  brr_buf_putc(b, '\n');
  fmt_times(ui, b);
  int jobs = ui->jobs > 0 ? ui->jobs : 1;
  brr_buf_printf(b, ", parallelism %.2fx (%d job%s).\n", ui->wall_s > 0 ? ui->sum_s / ui->wall_s : 0.0, jobs,
                 jobs == 1 ? "" : "s");
  if (n_critical) {
    brr_buf_puts(b, "\nCritical path: ");
    for (size_t i = 0; i < n_critical; i++) brr_buf_printf(b, "%s`%s`", i ? " \xe2\x86\x92 " : "", critical[i]);
    brr_buf_puts(b, "\n");
  }
  for (size_t i = 0; i < ui->n_steps; i++) {
    const ui_step *st = ui->steps[i];
    if (!st->n_failed) continue;
    brr_buf_puts(b, "\n<details open><summary>");
    md_cell(b, st->name);
    brr_buf_puts(b, " failed: ");
    md_cell(b, st->error ? st->error : "failed");
    brr_buf_puts(b, "</summary>\n\n```text\n");
    size_t first = (st->tail_next + UI_TAIL - st->tail_n) % UI_TAIL;
    for (size_t k = 0; k < st->tail_n; k++) {
      const brr_buf *line = &st->tail[(first + k) % UI_TAIL];
      /* a line of backticks would end the block early */
      const char *t = line->data ? line->data : "";
      if (brr_startswith(t, "```")) brr_buf_putc(b, ' ');
      brr_buf_append(b, t, line->len);
      brr_buf_putc(b, '\n');
    }
    brr_buf_puts(b, "```\n</details>\n");
  }
  brr_buf_putc(b, '\n');
}
