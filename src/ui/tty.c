/* The tty renderer: the plain prefixed lines scroll above one status line,
 * `[3/10] 2 running: build-app, test-unit  0:12`, rewritten in place. Each write carries the
 * "erase status" sequence, the new lines and the new status together, so the terminal never
 * shows a half-drawn state. */
#include <stdlib.h>
#include <sys/ioctl.h>

#include "ui_internal.h"

typedef struct tty_state {
  bool status_shown;   /* the status line is on screen (cursor at its end) */
  int cols;
} tty_state;

static void tty_init(brr_ui *ui) {
  tty_state *ts = brr_xcalloc(1, sizeof *ts);
  ts->cols = 80;
  ui->rs = ts;
}

static void tty_free(brr_ui *ui) {
  tty_state *ts = ui->rs;
  if (ts->status_shown) brr_buf_puts(&ui->out.buf, "\r\033[K");
  free(ts);
}

static void refresh_cols(brr_ui *ui, tty_state *ts) {
  struct winsize ws;
  if (ioctl(ui->out.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) ts->cols = ws.ws_col;
}

/* Erase the status line before the first line of a batch. */
static void clear_status(brr_ui *ui, tty_state *ts) {
  if (!ts->status_shown) return;
  brr_buf_puts(&ui->out.buf, "\r\033[K");
  ts->status_shown = false;
}

static void append_status(brr_ui *ui, tty_state *ts) {
  if (ui->ended || ui->n_total == 0) return;
  brr_buf line = BRR_BUF_INIT;
  brr_buf_printf(&line, "[%zu/%zu] %zu running", ui->n_done, ui->n_total, ui->n_running);
  for (size_t i = 0; i < ui->n_running; i++)
    brr_buf_printf(&line, "%s%s", i ? ", " : ": ", ui->steps[ui->running[i]]->name);
  int64_t el = (brr_wall_ms() - ui->start_ms) / 1000;
  if (el < 0) el = 0;
  brr_buf_printf(&line, "  %lld:%02lld", (long long)(el / 60), (long long)(el % 60));
  /* never wrap: a wrapped status line cannot be erased with one \r */
  size_t max = ts->cols > 1 ? (size_t)ts->cols - 1 : 1;
  if (line.len > max) {
    line.len = max;
    line.data[max] = '\0';
    if (max > 3) line.data[max - 1] = line.data[max - 2] = line.data[max - 3] = '.';
  }
  brr_buf_append(&ui->out.buf, line.data, line.len);
  brr_buf_free(&line);
  ts->status_shown = true;
}

static void tty_flush(brr_ui *ui, tty_state *ts) {
  clear_status(ui, ts);
  append_status(ui, ts);
  ui_out_write(&ui->out);
}

static void tty_event(brr_ui *ui, const brr_event *ev, ui_step *st) {
  tty_state *ts = ui->rs;
  switch (ev->type) {
  case BRR_EV_RUN_START:
    refresh_cols(ui, ts);
    tty_flush(ui, ts);
    break;
  case BRR_EV_NODE_OUTPUT:
    clear_status(ui, ts);
    ui_fmt_line(ui, &ui->out.buf, ev, st, ui->opts.timestamps, ui->color);
    ui_out_maybe(&ui->out);
    break;
  case BRR_EV_LOG:
  case BRR_EV_NODE_START:
  case BRR_EV_NODE_END:
    clear_status(ui, ts);
    ui_fmt_line(ui, &ui->out.buf, ev, st, ui->opts.timestamps, ui->color);
    tty_flush(ui, ts);
    break;
  case BRR_EV_FLUSH:
    tty_flush(ui, ts);
    break;
  case BRR_EV_TICK:
    refresh_cols(ui, ts);
    tty_flush(ui, ts);
    break;
  case BRR_EV_RUN_END:
    clear_status(ui, ts);
    ui_fmt_summary(ui, &ui->out.buf, ui->color);
    ui_out_write(&ui->out);
    break;
  default:
    break;
  }
}

const ui_renderer ui_tty_renderer = {tty_init, tty_event, tty_free};
