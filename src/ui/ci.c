/* The CI renderer: each step's output is kept until the step ends and then printed as one
 * collapsible group in the CI's own syntax (GitHub Actions ::group::, GitLab section_start /
 * section_end, Buildkite ---/+++), because such groups cannot interleave. A failed step's
 * group is printed expanded. Build-level messages are printed at once, outside groups. */
#include <stdlib.h>
#include <string.h>

#include "ui_internal.h"

typedef struct ci_state {
  brr_ci_kind kind;
  brr_buf *groups;        /* per step (same index as ui->steps), lines not yet printed */
  bool *printed;
  size_t cap;
} ci_state;

static void ci_init(brr_ui *ui) {
  ci_state *cs = brr_xcalloc(1, sizeof *cs);
  cs->kind = brr_ui_ci_detect();
  ui->rs = cs;
}

static void ci_free(brr_ui *ui) {
  ci_state *cs = ui->rs;
  for (size_t i = 0; i < cs->cap; i++) brr_buf_free(&cs->groups[i]);
  free(cs->groups);
  free(cs->printed);
  free(cs);
}

static void ensure(ci_state *cs, size_t n) {
  if (n <= cs->cap) return;
  size_t cap = cs->cap ? cs->cap : 8;
  while (cap < n) cap *= 2;
  cs->groups = brr_xrealloc(cs->groups, cap * sizeof(brr_buf));
  cs->printed = brr_xrealloc(cs->printed, cap * sizeof(bool));
  for (size_t i = cs->cap; i < cap; i++) {
    cs->groups[i] = (brr_buf)BRR_BUF_INIT;
    cs->printed[i] = false;
  }
  cs->cap = cap;
}

/* GitLab section names allow [A-Za-z0-9_.-] only. */
static void section_name(brr_buf *b, const ui_step *st) {
  brr_buf_printf(b, "brr_%zu_", st->index);
  for (const char *p = st->name; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-';
    brr_buf_putc(b, ok ? c : '_');
  }
}

static void print_group(brr_ui *ui, ci_state *cs, const ui_step *st) {
  brr_buf *out = &ui->out.buf;
  const brr_buf *body = &cs->groups[st->index];
  bool failed = ui_step_status(st) == BRR_STATUS_FAILED;
  switch (cs->kind) {
  case BRR_CI_GITHUB:
    /* GitHub groups are always collapsed: a failed step goes outside any group */
    brr_buf_puts(out, failed ? "" : "::group::");
    ui_fmt_group_title(out, st);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    if (failed) brr_buf_printf(out, "::error title=%s failed::%s\n", st->name, st->error ? st->error : "failed");
    else brr_buf_puts(out, "::endgroup::\n");
    break;
  case BRR_CI_GITLAB: {
    brr_buf name = BRR_BUF_INIT;
    section_name(&name, st);
    /* a step that never started (skipped) opens and closes its section when it ended */
    int64_t t1 = (st->last_end_ms ? st->last_end_ms : brr_wall_ms()) / 1000;
    int64_t t0 = st->first_start_ms ? st->first_start_ms / 1000 : t1;
    brr_buf_printf(out, "\033[0Ksection_start:%lld:%s[collapsed=%s]\r\033[0K", (long long)t0, name.data,
                   failed ? "false" : "true");
    ui_fmt_group_title(out, st);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    brr_buf_printf(out, "\033[0Ksection_end:%lld:%s\r\033[0K\n", (long long)t1, name.data);
    brr_buf_free(&name);
    break;
  }
  case BRR_CI_BUILDKITE:
    brr_buf_puts(out, failed ? "+++ " : "--- ");
    ui_fmt_group_title(out, st);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    break;
  default:
    brr_buf_puts(out, ">>> ");
    ui_fmt_group_title(out, st);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    brr_buf_printf(out, "<<< %s\n", st->name);
    break;
  }
  brr_buf_free(&cs->groups[st->index]);
  cs->printed[st->index] = true;
  ui_out_write(&ui->out);
}

static void ci_event(brr_ui *ui, const brr_event *ev, ui_step *st) {
  ci_state *cs = ui->rs;
  if (st) ensure(cs, st->index + 1);
  switch (ev->type) {
  case BRR_EV_NODE_OUTPUT:
  case BRR_EV_NODE_START:
  case BRR_EV_NODE_END:
  case BRR_EV_LOG:
    if (!st) {
      ui_fmt_line(ui, &ui->out.buf, ev, NULL, ui->opts.timestamps, ui->color);
      ui_out_write(&ui->out);
      break;
    }
    if (cs->printed[st->index]) {
      /* late lines of a step already printed (a message after its end): print them plain */
      ui_fmt_line(ui, &ui->out.buf, ev, st, ui->opts.timestamps, ui->color);
      ui_out_write(&ui->out);
      break;
    }
    {
      brr_buf *g = &cs->groups[st->index];
      if (ui->opts.timestamps) ui_fmt_ts(ui, g, ev->ts_ms);
      ui_fmt_body(ui, g, ev, ui->color);
      brr_buf_putc(g, '\n');
    }
    if (ev->type == BRR_EV_NODE_END && st->n_ended >= st->n_nodes) print_group(ui, cs, st);
    break;
  case BRR_EV_RUN_END:
    /* steps that never completed (stopped runs) still show what they printed */
    for (size_t i = 0; i < ui->n_steps; i++) {
      ensure(cs, i + 1);
      if (!cs->printed[i] && (cs->groups[i].len || ui->steps[i]->n_ended)) print_group(ui, cs, ui->steps[i]);
    }
    ui_fmt_summary(ui, &ui->out.buf, ui->color);
    ui_out_write(&ui->out);
    break;
  default:
    break;
  }
}

const ui_renderer ui_ci_renderer = {ci_init, ci_event, ci_free};
