/* The CI renderer. CI log groups (GitHub Actions ::group::, GitLab section_start /
 * section_end, Buildkite ---/+++) cannot interleave, yet a CI job must never stay silent:
 *
 * - while one step runs alone its group is open and its lines stream live;
 * - when another step starts, the open group is closed; from then on every step's lines are
 *   held and each step is printed as one whole group when it ends (titled "..., continued"
 *   when part of it streamed earlier), and a heartbeat line outside any group names what runs
 *   every `heartbeat` seconds;
 * - as soon as one step is the only one running, its held lines are printed in a group
 *   opened for it, and it streams live again.
 *
 * Build-level messages are printed at once, outside groups. On GitHub a failed step also gets
 * an ::error annotation at the line that defines it. */
#include <stdlib.h>
#include <string.h>

#include "ui_internal.h"

#define NO_LIVE ((size_t)-1)

typedef struct ci_group {
  brr_buf held;           /* lines not printed yet */
  bool printed;           /* its whole group is out: later lines print plain */
  bool streamed;          /* part of it was printed in a live group */
} ci_group;

typedef struct ci_state {
  brr_ci_kind kind;
  ci_group *groups;       /* per step (same index as ui->steps) */
  size_t cap;
  size_t live;            /* the step whose group is open, or NO_LIVE */
  int64_t heartbeat_ms;   /* <= 0: none */
  int64_t last_beat_ms;   /* last heartbeat, or when heartbeats became due */
  int64_t last_write_ms;  /* last time the live group printed something */
} ci_state;

static int64_t heartbeat_ms(const brr_ui *ui) {
  int s = ui->opts.heartbeat_s;
  if (s == 0 && brr_ui_heartbeat_choose(NULL, &s) != 0) s = 0;
  if (s == 0) s = BRR_UI_HEARTBEAT_S;
  return s < 0 ? 0 : (int64_t)s * 1000;
}

static void ci_init(brr_ui *ui) {
  ci_state *cs = brr_xcalloc(1, sizeof *cs);
  cs->kind = brr_ui_ci_detect();
  cs->live = NO_LIVE;
  cs->heartbeat_ms = heartbeat_ms(ui);
  ui->rs = cs;
}

static void ci_free(brr_ui *ui) {
  ci_state *cs = ui->rs;
  for (size_t i = 0; i < cs->cap; i++) brr_buf_free(&cs->groups[i].held);
  free(cs->groups);
  free(cs);
}

static void ensure(ci_state *cs, size_t n) {
  if (n <= cs->cap) return;
  size_t cap = cs->cap ? cs->cap : 8;
  while (cap < n) cap *= 2;
  cs->groups = brr_xrealloc(cs->groups, cap * sizeof(ci_group));
  memset(cs->groups + cs->cap, 0, (cap - cs->cap) * sizeof(ci_group));
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

/* GitHub workflow commands: data escapes % CR LF, property values also : and , */
static void gh_escape(brr_buf *b, const char *s, bool property) {
  for (; s && *s; s++) {
    switch (*s) {
    case '%': brr_buf_puts(b, "%25"); break;
    case '\r': brr_buf_puts(b, "%0D"); break;
    case '\n': brr_buf_puts(b, "%0A"); break;
    case ':': property ? brr_buf_puts(b, "%3A") : brr_buf_putc(b, ':'); break;
    case ',': property ? brr_buf_puts(b, "%2C") : brr_buf_putc(b, ','); break;
    default: brr_buf_putc(b, *s); break;
    }
  }
}

/* GitHub resolves `file` against the repository: make it relative to $GITHUB_WORKSPACE. */
static const char *gh_file(const char *file) {
  const char *ws = getenv("GITHUB_WORKSPACE");
  size_t n = ws ? strlen(ws) : 0;
  while (n > 1 && ws[n - 1] == '/') n--;
  if (n && strncmp(file, ws, n) == 0 && file[n] == '/') return file + n + 1;
  return file;
}

void brr__ui_ci_github_error(brr_buf *b, const char *file, unsigned line, unsigned col, const char *title,
                        const char *msg) {
  brr_buf_puts(b, "::error ");
  bool first = true;
  if (file) {
    brr_buf_puts(b, "file=");
    gh_escape(b, gh_file(file), true);
    if (line) brr_buf_printf(b, ",line=%u", line);
    if (line && col) brr_buf_printf(b, ",col=%u", col);
    first = false;
  }
  brr_buf_puts(b, first ? "title=" : ",title=");
  gh_escape(b, title, true);
  brr_buf_puts(b, "::");
  gh_escape(b, msg, false);
  brr_buf_putc(b, '\n');
}

void brr_ui_github_error(FILE *out, const char *file, unsigned line, unsigned col, const char *title,
                         const char *msg) {
  brr_buf b = BRR_BUF_INIT;
  brr__ui_ci_github_error(&b, file, line, col, title, msg);
  fwrite(b.data, 1, b.len, out);
  fflush(out);
  brr_buf_free(&b);
}

static void gh_step_error(brr_buf *out, const ui_step *st) {
  char *title = brr_xasprintf("%s failed", st->name);
  brr__ui_ci_github_error(out, st->file, st->line, 0, title, st->error ? st->error : "failed");
  free(title);
}

/* Title of a group: "<step> (failed, 3.1s)", or "<step>, continued (...)" when its first
 * lines were printed in an earlier live group. */
static void group_title(brr_buf *out, const ui_step *st, const ci_group *g) {
  if (g->streamed) {
    brr_buf_printf(out, "%s, continued (%s, ", st->name, brr_status_name(brr__ui_step_status(st)));
    brr__ui_fmt_duration(out, brr__ui_step_span_s(st));
    brr_buf_putc(out, ')');
  } else {
    brr__ui_fmt_group_title(out, st);
  }
}

static int64_t gitlab_time(const ui_step *st, bool end) {
  int64_t t1 = (st->last_end_ms ? st->last_end_ms : brr_wall_ms()) / 1000;
  if (end) return t1;
  /* a step that never started (skipped) opens and closes its section when it ended */
  return st->first_start_ms ? st->first_start_ms / 1000 : t1;
}

/* A whole group, for a step that ended (or never finished, at the end of the run). */
static void print_group(brr_ui *ui, ci_state *cs, const ui_step *st) {
  brr_buf *out = &ui->out.buf;
  ci_group *g = &cs->groups[st->index];
  const brr_buf *body = &g->held;
  bool failed = brr__ui_step_status(st) == BRR_STATUS_FAILED;
  switch (cs->kind) {
  case BRR_CI_GITHUB:
    /* GitHub groups are always collapsed: a failed step goes outside any group */
    brr_buf_puts(out, failed ? "" : "::group::");
    group_title(out, st, g);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    if (failed) gh_step_error(out, st);
    else brr_buf_puts(out, "::endgroup::\n");
    break;
  case BRR_CI_GITLAB: {
    brr_buf name = BRR_BUF_INIT;
    section_name(&name, st);
    brr_buf_printf(out, "\033[0Ksection_start:%lld:%s[collapsed=%s]\r\033[0K", (long long)gitlab_time(st, false),
                   name.data, failed ? "false" : "true");
    group_title(out, st, g);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    brr_buf_printf(out, "\033[0Ksection_end:%lld:%s\r\033[0K\n", (long long)gitlab_time(st, true), name.data);
    brr_buf_free(&name);
    break;
  }
  case BRR_CI_BUILDKITE:
    brr_buf_puts(out, failed ? "+++ " : "--- ");
    group_title(out, st, g);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    break;
  default:
    brr_buf_puts(out, ">>> ");
    group_title(out, st, g);
    brr_buf_putc(out, '\n');
    brr_buf_append(out, body->data ? body->data : "", body->len);
    brr_buf_printf(out, "<<< %s\n", st->name);
    break;
  }
  brr_buf_free(&g->held);
  g->printed = true;
  brr__ui_out_write(&ui->out);
}

/* Open a live group for the step running alone: its header, then what it held so far. */
static void open_live(brr_ui *ui, ci_state *cs, ui_step *st, int64_t now) {
  brr_buf *out = &ui->out.buf;
  ci_group *g = &cs->groups[st->index];
  const char *more = g->streamed ? ", continued" : "";
  switch (cs->kind) {
  case BRR_CI_GITHUB: brr_buf_printf(out, "::group::%s%s\n", st->name, more); break;
  case BRR_CI_GITLAB: {
    brr_buf name = BRR_BUF_INIT;
    section_name(&name, st);
    brr_buf_printf(out, "\033[0Ksection_start:%lld:%s[collapsed=true]\r\033[0K%s%s\n",
                   (long long)(now / 1000), name.data, st->name, more);
    brr_buf_free(&name);
    break;
  }
  case BRR_CI_BUILDKITE: brr_buf_printf(out, "--- %s%s\n", st->name, more); break;
  default: brr_buf_printf(out, ">>> %s%s\n", st->name, more); break;
  }
  brr_buf_append(out, g->held.data ? g->held.data : "", g->held.len);
  brr_buf_free(&g->held);
  g->streamed = true;
  cs->live = st->index;
  cs->last_write_ms = now;
  brr__ui_out_write(&ui->out);
}

/* Close the live group: the step ended (`ended`) or another step started beside it. */
static void close_live(brr_ui *ui, ci_state *cs, bool ended, int64_t now) {
  ui_step *st = ui->steps[cs->live];
  brr_buf *out = &ui->out.buf;
  bool failed = ended && brr__ui_step_status(st) == BRR_STATUS_FAILED;
  switch (cs->kind) {
  case BRR_CI_GITHUB:
    brr_buf_puts(out, "::endgroup::\n");
    if (failed) gh_step_error(out, st);
    break;
  case BRR_CI_GITLAB: {
    brr_buf name = BRR_BUF_INIT;
    section_name(&name, st);
    brr_buf_printf(out, "\033[0Ksection_end:%lld:%s\r\033[0K\n", (long long)(now / 1000), name.data);
    brr_buf_free(&name);
    break;
  }
  case BRR_CI_BUILDKITE:
    if (failed) brr_buf_puts(out, "^^^ +++\n");   /* expand the section just printed */
    break;
  default:
    if (ended) {
      brr_buf_printf(out, "<<< ");
      brr__ui_fmt_group_title(out, st);
      brr_buf_putc(out, '\n');
    } else {
      brr_buf_printf(out, "<<< %s (continues below)\n", st->name);
    }
    break;
  }
  if (ended) cs->groups[st->index].printed = true;
  cs->live = NO_LIVE;
  cs->last_beat_ms = now;
  brr__ui_out_write(&ui->out);
}

/* After a step started or ended: a live group stays open only while its step runs alone. */
static void settle(brr_ui *ui, ci_state *cs, int64_t now) {
  if (cs->live == NO_LIVE) return;
  if (ui->n_running > 1 || (ui->n_running == 1 && ui->running[0] != cs->live)) close_live(ui, cs, false, now);
}

/* A step running alone streams live. Opened lazily, at its next line or the next tick, so
 * the nodes a scheduler starts together never open a group each. */
static void maybe_open(brr_ui *ui, ci_state *cs, int64_t now) {
  if (cs->live != NO_LIVE || ui->n_running != 1 || ui->ended) return;
  ui_step *st = ui->steps[ui->running[0]];
  ensure(cs, st->index + 1);
  if (!cs->groups[st->index].printed) open_live(ui, cs, st, now);
}

/* "still running: build-app 1m05s, test 32s (3 of 10 done, 2m10s)" */
static void heartbeat(brr_ui *ui, ci_state *cs, int64_t now) {
  brr_buf *out = &ui->out.buf;
  if (ui->opts.timestamps) brr__ui_fmt_ts(ui, out, now);
  brr_buf_puts(out, "brr: still running:");
  for (size_t i = 0; i < ui->n_running; i++) {
    const ui_step *st = ui->steps[ui->running[i]];
    brr_buf_printf(out, "%s %s ", i ? "," : "", st->name);
    brr__ui_fmt_duration(out, (double)(now - st->first_start_ms) / 1000.0);
  }
  brr_buf_printf(out, " (%zu of %zu done, ", ui->n_done, ui->n_total);
  brr__ui_fmt_duration(out, (double)(now - ui->start_ms) / 1000.0);
  brr_buf_puts(out, ")\n");
  cs->last_beat_ms = now;
  cs->last_write_ms = now;
  brr__ui_out_write(&ui->out);
}

static void on_tick(brr_ui *ui, ci_state *cs, int64_t now) {
  maybe_open(ui, cs, now);
  if (cs->heartbeat_ms <= 0 || ui->n_running == 0 || ui->ended) return;
  if (cs->live == NO_LIVE) {
    if (now - cs->last_beat_ms >= cs->heartbeat_ms) heartbeat(ui, cs, now);
  } else if (now - cs->last_write_ms >= cs->heartbeat_ms) {
    /* the step streaming live is silent: say it still runs */
    heartbeat(ui, cs, now);
  }
}

static void step_line(brr_ui *ui, ci_state *cs, const brr_event *ev, ui_step *st) {
  ci_group *g = &cs->groups[st->index];
  if (g->printed) {
    /* late lines of a step already printed (a message after its end): print them plain */
    brr__ui_fmt_line(ui, &ui->out.buf, ev, st, ui->opts.timestamps, ui->color);
    brr__ui_out_write(&ui->out);
    return;
  }
  brr_buf *b = cs->live == st->index ? &ui->out.buf : &g->held;
  brr__ui_fmt_step_line(ui, b, ev, ui->opts.timestamps, ui->color);
  if (cs->live == st->index) {
    cs->last_write_ms = ev->ts_ms;
    if (ev->type == BRR_EV_NODE_OUTPUT) brr__ui_out_maybe(&ui->out);
    else brr__ui_out_write(&ui->out);
  }
}

static void ci_event(brr_ui *ui, const brr_event *ev, ui_step *st) {
  ci_state *cs = ui->rs;
  if (st) ensure(cs, st->index + 1);
  switch (ev->type) {
  case BRR_EV_RUN_START:
    cs->last_beat_ms = ev->ts_ms;
    break;
  case BRR_EV_NODE_OUTPUT:
  case BRR_EV_NODE_START:
  case BRR_EV_NODE_END:
  case BRR_EV_LOG:
    if (!st) {
      brr__ui_fmt_line(ui, &ui->out.buf, ev, NULL, ui->opts.timestamps, ui->color);
      brr__ui_out_write(&ui->out);
      break;
    }
    if (ev->type == BRR_EV_NODE_OUTPUT || ev->type == BRR_EV_LOG) maybe_open(ui, cs, ev->ts_ms);
    step_line(ui, cs, ev, st);
    if (ev->type == BRR_EV_NODE_END && st->n_ended >= st->n_nodes && !cs->groups[st->index].printed) {
      if (cs->live == st->index) close_live(ui, cs, true, ev->ts_ms);
      else print_group(ui, cs, st);
    }
    if (ev->type == BRR_EV_NODE_START || ev->type == BRR_EV_NODE_END) settle(ui, cs, ev->ts_ms);
    break;
  case BRR_EV_FLUSH:
    if (cs->live != NO_LIVE) brr__ui_out_write(&ui->out);
    break;
  case BRR_EV_TICK:
    on_tick(ui, cs, ev->ts_ms);
    break;
  case BRR_EV_RUN_END:
    if (cs->live != NO_LIVE) close_live(ui, cs, ui->steps[cs->live]->n_ended >= ui->steps[cs->live]->n_nodes, ev->ts_ms);
    /* steps that never completed (stopped runs) still show what they printed */
    for (size_t i = 0; i < ui->n_steps; i++) {
      ensure(cs, i + 1);
      ci_group *g = &cs->groups[i];
      if (!g->printed && (g->held.len || (ui->steps[i]->n_ended && !g->streamed)))
        print_group(ui, cs, ui->steps[i]);
    }
    brr__ui_fmt_summary(ui, &ui->out.buf, ui->color);
    brr__ui_out_write(&ui->out);
    break;
  default:
    break;
  }
}

const ui_renderer brr__ui_ci_renderer = {ci_init, ci_event, ci_free};
