/* The tty renderer, after BuildKit's: the plain prefixed lines scroll above a live region
 * that is redrawn in place,
 *
 *   => build-app   0:12  Step 3/7 : RUN make
 *   => test-unit   0:05  testing 1
 *   [3/10] 3 done, 2 running, 5 waiting, 0 failed, 0 skipped  0:12  ~0:40 left
 *
 * one line per running step (its own timer and its last output line, as many as the
 * terminal's height allows), then the counts and the elapsed time, with an estimate of the
 * time left when earlier runs measured the nodes. Nothing is ever wider than the terminal:
 * long step names are shortened with "…", the scrolling lines' prefix shrinks, and at
 * 40 columns the clock still shows. Each write erases the region, prints the new lines and
 * draws the region again, so the terminal never shows a half-drawn state. */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ui_internal.h"

#define ELLIPSIS "\xe2\x80\xa6"

typedef struct tty_state {
  size_t shown;        /* lines of the region on screen (cursor at the end of the last) */
  int cols, rows;
} tty_state;

static void tty_init(brr_ui *ui) {
  tty_state *ts = brr_xcalloc(1, sizeof *ts);
  ts->cols = 80;
  ts->rows = 24;
  ui->rs = ts;
}

/* Erase the region: the cursor is at the end of its last line. */
static void clear_region(brr_ui *ui, tty_state *ts) {
  if (!ts->shown) return;
  brr_buf_puts(&ui->out.buf, "\r\033[K");
  for (size_t i = 1; i < ts->shown; i++) brr_buf_puts(&ui->out.buf, "\033[A\033[K");
  ts->shown = 0;
}

static void tty_free(brr_ui *ui) {
  tty_state *ts = ui->rs;
  clear_region(ui, ts);
  free(ts);
}

static void refresh_size(brr_ui *ui, tty_state *ts) {
  struct winsize ws;
  if (ioctl(ui->out.fd, TIOCGWINSZ, &ws) != 0) return;
  if (ws.ws_col > 0) ts->cols = ws.ws_col;
  if (ws.ws_row > 0) ts->rows = ws.ws_row;
}

size_t brr__ui_fit(brr_buf *out, const char *text, size_t len, size_t cols) {
  /* count the columns first: the ellipsis takes the last one when the text is cut */
  size_t total = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)text[i] & 0xC0) != 0x80) total++;
  bool cut = total > cols;
  size_t room = cut ? (cols ? cols - 1 : 0) : total, used = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)text[i];
    size_t n = 1;
    if (c >= 0xC0) {
      while (i + n < len && ((unsigned char)text[i + n] & 0xC0) == 0x80 && n < 4) n++;
    }
    if (used == room) break;
    if (c < 0x20 || c == 0x7F) brr_buf_putc(out, ' ');
    else if (c >= 0x80 && c < 0xC0) brr_buf_puts(out, "?");   /* a stray continuation byte */
    else brr_buf_append(out, text + i, n);
    used++;
    i += n;
  }
  if (cut && cols) {
    brr_buf_puts(out, ELLIPSIS);
    used++;
  }
  return used;
}

static void clock_text(char *out, size_t cap, double s) {
  long t = s < 0 ? 0 : s > 359999999 ? 359999999 : (long)s;
  if (t >= 3600) snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

/* The time left, from the durations earlier runs measured: what the unfinished steps still
 * need, spread over the job slots, but never less than the longest running step still
 * needs. Negative when there is nothing to go on. */
static double eta_s(const brr_ui *ui, int64_t now) {
  if (!ui->has_history) return -1;
  double work = 0, longest = 0;
  size_t open = 0;
  for (size_t i = 0; i < ui->n_steps; i++) {
    const ui_step *st = ui->steps[i];
    if (st->n_ended >= st->n_nodes) continue;
    double done = st->first_start_ms ? (double)(now - st->first_start_ms) / 1000.0 : 0;
    double left = st->expected_s - done;
    if (left < 0) left = 0;
    work += left;
    open++;
    if (st->n_running && left > longest) longest = left;
  }
  int jobs = ui->jobs > 0 ? ui->jobs : 1;
  size_t lanes = open < (size_t)jobs ? open : (size_t)jobs;
  double spread = lanes ? work / (double)lanes : 0;
  return spread > longest ? spread : longest;
}

/* "[3/10] 3 done, 2 running, 5 waiting, 1 failed, 0 skipped  0:12  ~0:40 left", shortened
 * to fit: first the estimate goes, then the words, then the counts are cut; the clock stays. */
static void counts_line(brr_ui *ui, brr_buf *out, size_t width, int64_t now) {
  size_t waiting = ui->n_total - ui->n_done - ui->n_node_running;
  if (ui->n_done + ui->n_node_running > ui->n_total) waiting = 0;
  char clock[48], eta[64] = "";
  clock_text(clock, sizeof clock, (double)(now - ui->start_ms) / 1000.0);
  double e = eta_s(ui, now);
  if (e >= 0) {
    char t[48];
    clock_text(t, sizeof t, e + 0.999);
    snprintf(eta, sizeof eta, "  ~%s left", t);
  }
  size_t failed = ui->n_node_failed + ui->n_node_canceled;
  brr_buf longer = BRR_BUF_INIT, medium = BRR_BUF_INIT, shorter = BRR_BUF_INIT;
  brr_buf_printf(&longer, "[%zu/%zu] %zu done, %zu running, %zu waiting, %zu failed, %zu skipped", ui->n_done,
                 ui->n_total, ui->n_node_ok, ui->n_node_running, waiting, failed, ui->n_node_skipped);
  brr_buf_printf(&medium, "[%zu/%zu] %zu run %zu wait %zu fail %zu skip", ui->n_done, ui->n_total,
                 ui->n_node_running, waiting, failed, ui->n_node_skipped);
  brr_buf_printf(&shorter, "[%zu/%zu] %zur %zuw %zuf %zus", ui->n_done, ui->n_total, ui->n_node_running, waiting,
                 failed, ui->n_node_skipped);
  size_t cl = strlen(clock), el = strlen(eta);
  bool red = ui->color && failed;
  const brr_buf *c = longer.len + 2 + cl <= width ? &longer : medium.len + 2 + cl <= width ? &medium : NULL;
  if (c) {
    UI_SGR(out, red, "31");
    brr_buf_append(out, c->data, c->len);
    UI_SGR_RESET(out, red);
    brr_buf_printf(out, "  %s%s", clock, c->len + 2 + cl + el <= width ? eta : "");
  } else {
    size_t room = width > cl + 1 ? width - cl - 1 : 0;
    brr__ui_fit(out, shorter.data, shorter.len, room);
    brr_buf_printf(out, " %s", clock);
  }
  brr_buf_free(&longer);
  brr_buf_free(&medium);
  brr_buf_free(&shorter);
}

/* The last line a step printed (or brr said about it). */
static const brr_buf *last_line(const ui_step *st) {
  if (!st->tail_n) return NULL;
  return &st->tail[(st->tail_next + UI_TAIL - 1) % UI_TAIL];
}

static void step_row(brr_ui *ui, brr_buf *out, const ui_step *st, size_t name_w, size_t width, int64_t now) {
  char clock[48];
  clock_text(clock, sizeof clock, (double)(now - st->first_start_ms) / 1000.0);
  size_t cl = strlen(clock);
  /* "=> " name "  " clock "  " last line */
  size_t fixed = 3 + 2 + cl;
  if (width <= fixed + 1) {
    brr_buf_append(out, clock, cl);   /* nothing else fits: the clock stays */
    return;
  }
  size_t nw = name_w < width - fixed ? name_w : width - fixed;
  brr_buf_puts(out, "=> ");
  UI_SGR(out, ui->color, brr__ui_color_of(st));
  size_t used = brr__ui_fit(out, st->name, strlen(st->name), nw);
  UI_SGR_RESET(out, ui->color);
  for (; used < nw; used++) brr_buf_putc(out, ' ');
  brr_buf_printf(out, "  %s", clock);
  const brr_buf *l = last_line(st);
  size_t left = width - fixed - nw;
  if (l && l->len && left > 2) {
    brr_buf_puts(out, "  ");
    UI_SGR(out, ui->color, "2");
    brr__ui_fit(out, l->data, l->len, left - 2);
    UI_SGR_RESET(out, ui->color);
  }
}

size_t brr__ui_tty_region(brr_ui *ui, brr_buf *out, int cols, int rows, int64_t now) {
  size_t width = cols > 1 ? (size_t)cols - 1 : 1;   /* the last column would wrap on some terminals */
  /* leave at least two rows for the lines scrolling above */
  size_t avail = rows > 3 ? (size_t)rows - 3 : 0;
  size_t n = ui->n_running, show = n <= avail ? n : (avail ? avail - 1 : 0);
  size_t name_w = 0;
  for (size_t i = 0; i < show; i++) {
    size_t w = 0;
    for (const char *p = ui->steps[ui->running[i]]->name; *p; p++)
      if (((unsigned char)*p & 0xC0) != 0x80) w++;
    if (w > name_w) name_w = w;
  }
  size_t cap = width / 3 > 12 ? width / 3 : 12;
  if (name_w > cap) name_w = cap;
  size_t lines = 0;
  for (size_t i = 0; i < show; i++, lines++) {
    step_row(ui, out, ui->steps[ui->running[i]], name_w, width, now);
    brr_buf_putc(out, '\n');
  }
  if (show < n && avail > 0) {
    char more[64];
    snprintf(more, sizeof more, "=> %zu more running", n - show);
    brr__ui_fit(out, more, strlen(more), width);
    brr_buf_putc(out, '\n');
    lines++;
  }
  counts_line(ui, out, width, now);
  return lines + 1;
}

static void draw_region(brr_ui *ui, tty_state *ts) {
  if (ui->ended || ui->n_total == 0) return;
  ts->shown = brr__ui_tty_region(ui, &ui->out.buf, ts->cols, ts->rows, brr_wall_ms());
}

static void tty_flush(brr_ui *ui, tty_state *ts) {
  clear_region(ui, ts);
  draw_region(ui, ts);
  brr__ui_out_write(&ui->out);
}

/* The prefix column shrinks on a narrow terminal: at most a quarter of it. */
static void scroll_line(brr_ui *ui, tty_state *ts, const brr_event *ev, ui_step *st) {
  size_t cap = ts->cols / 4 > 8 ? (size_t)ts->cols / 4 : 8;
  if (!st || ui->width <= cap) {
    brr__ui_fmt_line(ui, &ui->out.buf, ev, st, ui->opts.timestamps, ui->color);
    return;
  }
  brr_buf *b = &ui->out.buf;
  if (ui->opts.timestamps) brr__ui_fmt_ts(ui, b, ev->ts_ms);
  UI_SGR(b, ui->color, brr__ui_color_of(st));
  size_t used = brr__ui_fit(b, st->name, strlen(st->name), cap);
  for (; used < cap; used++) brr_buf_putc(b, ' ');
  brr_buf_puts(b, " |");
  UI_SGR_RESET(b, ui->color);
  brr_buf_putc(b, ' ');
  brr__ui_fmt_step_line(ui, b, ev, false, ui->color);
}

static void tty_event(brr_ui *ui, const brr_event *ev, ui_step *st) {
  tty_state *ts = ui->rs;
  switch (ev->type) {
  case BRR_EV_RUN_START:
    refresh_size(ui, ts);
    tty_flush(ui, ts);
    break;
  case BRR_EV_NODE_OUTPUT:
    clear_region(ui, ts);
    scroll_line(ui, ts, ev, st);
    brr__ui_out_maybe(&ui->out);
    break;
  case BRR_EV_LOG:
  case BRR_EV_NODE_START:
  case BRR_EV_NODE_END:
    clear_region(ui, ts);
    if (st || ev->type == BRR_EV_LOG) scroll_line(ui, ts, ev, st);
    tty_flush(ui, ts);
    break;
  case BRR_EV_FLUSH:
    tty_flush(ui, ts);
    break;
  case BRR_EV_TICK:
    refresh_size(ui, ts);
    tty_flush(ui, ts);
    break;
  case BRR_EV_RUN_END:
    clear_region(ui, ts);
    brr__ui_fmt_summary(ui, &ui->out.buf, ui->color);
    brr__ui_out_write(&ui->out);
    break;
  default:
    break;
  }
}

const ui_renderer brr__ui_tty_renderer = {tty_init, tty_event, tty_free};
