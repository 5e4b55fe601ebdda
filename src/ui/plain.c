/* The plain renderer: every event as one prefixed line, `step | line`, names padded to the
 * longest, a stable colour per step when colour is on. Lines are buffered until the end of a
 * batch (FLUSH) and then written with one write(2). */
#include "ui_internal.h"

static void plain_event(brr_ui *ui, const brr_event *ev, ui_step *st) {
  switch (ev->type) {
  case BRR_EV_NODE_OUTPUT:
    brr__ui_fmt_line(ui, &ui->out.buf, ev, st, ui->opts.timestamps, ui->color);
    brr__ui_out_maybe(&ui->out);
    break;
  case BRR_EV_LOG:
  case BRR_EV_NODE_START:
  case BRR_EV_NODE_END:
    brr__ui_fmt_line(ui, &ui->out.buf, ev, st, ui->opts.timestamps, ui->color);
    brr__ui_out_write(&ui->out);
    break;
  case BRR_EV_FLUSH:
    brr__ui_out_write(&ui->out);
    break;
  case BRR_EV_RUN_END:
    brr__ui_fmt_summary(ui, &ui->out.buf, ui->color);
    brr__ui_out_write(&ui->out);
    break;
  default:
    break;
  }
}

const ui_renderer brr__ui_plain_renderer = {NULL, plain_event, NULL};
