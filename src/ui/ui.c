/* The ui object: subscribes to the bus, keeps one record per step from the events (what the
 * status line, the CI groups and the summary need), and hands every event to the chosen
 * renderer and to the results-dir logs. Also the writer all renderers share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ui_internal.h"

/* ---- writer ---- */

void brr__ui_out_write(ui_out *o) {
  const char *p = o->buf.data;
  size_t left = o->buf.len;
  while (left > 0 && !o->broken) {
    ssize_t w = write(o->fd, p, left);
    if (w > 0) {
      p += w;
      left -= (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* a non-blocking stdout that is full: wait until the reader makes room. Blocking the
       * loop here is the back-pressure we want (ninja does the same); dropping or
       * reordering output would be worse. */
      struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) o->broken = true;
    } else {
      o->broken = true;
    }
  }
  brr_buf_reset(&o->buf);
}

void brr__ui_out_maybe(ui_out *o) {
  if (o->buf.len >= UI_OUT_HIGH) brr__ui_out_write(o);
}

/* ---- step records ---- */

/* `pad`: the name sets the prefix column. Only step names do: build-level nodes are named by
 * long ids ("push:registry/app:1.2.3") that would push every line to the right. */
static ui_step *step_get(brr_ui *ui, const char *name, bool pad) {
  size_t i;
  if (brr_strmap_get(&ui->index, name, &i)) return ui->steps[i];
  ui_step *st = brr_xcalloc(1, sizeof *st);
  st->name = brr_xstrdup(name);
  st->index = ui->n_steps;
  BRR_VEC_PUSH(ui->steps, ui->n_steps, ui->cap_steps, st);
  brr_strmap_put(&ui->index, st->name, st->index);
  size_t w = strlen(name);
  if (pad && w > ui->width) ui->width = w < UI_WIDTH_MAX ? w : UI_WIDTH_MAX;
  return st;
}

static void step_free(ui_step *st) {
  free(st->name);
  free(st->error);
  free(st->skip_reason);
  free(st->file);
  for (size_t i = 0; i < UI_TAIL; i++) brr_buf_free(&st->tail[i]);
  brr_buf_free(&st->prefix);
  free(st);
}

brr_status brr__ui_step_status(const ui_step *st) {
  if (st->n_failed) return BRR_STATUS_FAILED;
  if (st->n_canceled) return BRR_STATUS_CANCELED;
  if (st->n_running) return BRR_STATUS_RUNNING;
  if (st->n_skipped) return BRR_STATUS_SKIPPED;
  if (st->n_ended < st->n_nodes) return st->n_started ? BRR_STATUS_RUNNING : BRR_STATUS_PENDING;
  /* a step is reused when all its nodes were; one that ran makes it a success like any other */
  if (st->n_reused && st->n_reused == st->n_nodes) return BRR_STATUS_REUSED;
  return BRR_STATUS_SUCCEEDED;
}

double brr__ui_step_span_s(const ui_step *st) {
  if (!st->first_start_ms || st->last_end_ms < st->first_start_ms) return st->sum_s;
  return (double)(st->last_end_ms - st->first_start_ms) / 1000.0;
}

static void tail_push(ui_step *st, const char *text, size_t len) {
  brr_buf *b = &st->tail[st->tail_next];
  brr_buf_reset(b);
  brr_buf_append(b, text, len);
  st->tail_next = (st->tail_next + 1) % UI_TAIL;
  if (st->tail_n < UI_TAIL) st->tail_n++;
}

static void running_remove(brr_ui *ui, size_t idx) {
  for (size_t i = 0; i < ui->n_running; i++) {
    if (ui->running[i] != idx) continue;
    memmove(&ui->running[i], &ui->running[i + 1], (ui->n_running - i - 1) * sizeof(size_t));
    ui->n_running--;
    return;
  }
}

static void track_end(brr_ui *ui, const brr_event *ev, ui_step *st) {
  ui->n_done++;
  if (ev->status != BRR_STATUS_SKIPPED && ui->n_node_running > 0) ui->n_node_running--;
  switch (ev->status) {
  case BRR_STATUS_SUCCEEDED: ui->n_node_ok++; break;
  case BRR_STATUS_REUSED: ui->n_node_ok++; ui->n_node_reused++; break;
  case BRR_STATUS_FAILED: ui->n_node_failed++; break;
  case BRR_STATUS_CANCELED: ui->n_node_canceled++; break;
  default: ui->n_node_skipped++; break;
  }
  st->n_ended++;
  if (ev->status != BRR_STATUS_SKIPPED && st->n_running > 0) {
    if (--st->n_running == 0) running_remove(ui, st->index);
  }
  switch (ev->status) {
  case BRR_STATUS_SUCCEEDED: st->n_succeeded++; break;
  case BRR_STATUS_REUSED: st->n_succeeded++; st->n_reused++; break;
  case BRR_STATUS_FAILED: st->n_failed++; break;
  case BRR_STATUS_CANCELED: st->n_canceled++; break;
  default: st->n_skipped++; break;
  }
  if (ev->status != BRR_STATUS_SKIPPED) st->sum_s += ev->duration;
  if (ev->ts_ms > st->last_end_ms) st->last_end_ms = ev->ts_ms;
  if (ev->status == BRR_STATUS_SKIPPED && !st->skip_reason && ev->text)
    st->skip_reason = brr_xstrdup(ev->text);
  if (ev->status == BRR_STATUS_FAILED && !st->error) {
    const char *why = ev->text ? ev->text : "failed";
    st->error = ev->node ? brr_xasprintf("%s: %s", ev->node, why) : brr_xstrdup(why);
  }
}

void brr__ui_engines_track(brr_ui *ui, const brr_event *ev) {
  if (!ev->node) return;
  if (ev->type == BRR_EV_NODE_START && ev->engine) {
    size_t k = 0;
    while (k < ui->n_engines && strcmp(ui->engines[k].name, ev->engine) != 0) k++;
    if (k == ui->n_engines) {
      ui_engine e = {brr_xstrdup(ev->engine), 0, 0, 0, 0};
      BRR_VEC_PUSH(ui->engines, ui->n_engines, ui->cap_engines, e);
    }
    ui_engine *e = &ui->engines[k];
    e->nodes++;
    if (e->active++ == 0) e->since_ms = ev->ts_ms;
    ui_placed p = {brr_xstrdup(ev->node), k};
    BRR_VEC_PUSH(ui->placed, ui->n_placed, ui->cap_placed, p);
  } else if (ev->type == BRR_EV_NODE_END) {
    for (size_t i = 0; i < ui->n_placed; i++) {
      if (strcmp(ui->placed[i].node, ev->node) != 0) continue;
      ui_engine *e = &ui->engines[ui->placed[i].engine];
      if (--e->active == 0 && ev->ts_ms > e->since_ms) e->busy_s += (double)(ev->ts_ms - e->since_ms) / 1000;
      free(ui->placed[i].node);
      ui->placed[i] = ui->placed[--ui->n_placed];
      break;
    }
  }
}

void brr__ui_engines_free(brr_ui *ui) {
  for (size_t i = 0; i < ui->n_engines; i++) free(ui->engines[i].name);
  free(ui->engines);
  for (size_t i = 0; i < ui->n_placed; i++) free(ui->placed[i].node);
  free(ui->placed);
}

/* Update the records before the renderers see the event, so they render the new state. */
static void track(brr_ui *ui, const brr_event *ev, ui_step *st) {
  if (ev->type == BRR_EV_NODE_START || ev->type == BRR_EV_NODE_END) brr__ui_engines_track(ui, ev);
  switch (ev->type) {
  case BRR_EV_RUN_START:
    ui->n_total = ev->n_total;
    ui->jobs = ev->jobs;
    ui->start_ms = ev->ts_ms;
    ui->has_history = ev->node_expected != NULL;
    for (size_t i = 0; ev->node_labels && i < ev->n_total; i++) {
      bool is_step = !ev->node_ids || strcmp(ev->node_labels[i], ev->node_ids[i]) != 0;
      ui_step *s = step_get(ui, ev->node_labels[i], is_step);
      s->n_nodes++;
      if (ev->node_expected && ev->node_expected[i] > 0) s->expected_s += ev->node_expected[i];
      if (!s->file && ev->node_files && ev->node_files[i]) {
        s->file = brr_xstrdup(ev->node_files[i]);
        s->line = ev->node_lines ? ev->node_lines[i] : 0;
      }
    }
    break;
  case BRR_EV_NODE_START:
    if (!st) break;
    st->n_started++;
    ui->n_node_running++;
    if (!st->first_start_ms) st->first_start_ms = ev->ts_ms;
    st->wait_s += ev->wait_s;
    if (st->n_running++ == 0) BRR_VEC_PUSH(ui->running, ui->n_running, ui->cap_running, st->index);
    break;
  case BRR_EV_NODE_OUTPUT:
    if (st) tail_push(st, ev->text, ev->len);
    break;
  case BRR_EV_LOG:
    if (st && ev->level >= BRR_LOG_INFO) tail_push(st, ev->text, ev->len);
    break;
  case BRR_EV_NODE_END:
    if (st) track_end(ui, ev, st);
    break;
  case BRR_EV_RUN_END:
    ui->ended = true;
    ui->exit_code = ev->exit_code;
    ui->signal = ev->signal;
    ui->wall_s = ev->wall_s;
    ui->sum_s = ev->sum_s;
    ui->critical_s = ev->critical_s;
    if (ev->jobs) ui->jobs = ev->jobs;
    break;
  default:
    break;
  }
}

/* GitHub Actions shows $GITHUB_STEP_SUMMARY (Markdown, appended to) on the run's page. */
static void github_summary(brr_ui *ui, const brr_event *ev) {
  const char *path = getenv("GITHUB_STEP_SUMMARY");
  if (!path || !*path) return;
  brr_buf md = BRR_BUF_INIT;
  brr__ui_fmt_markdown(ui, &md, ev->critical_ids, ev->n_critical);
  int rc = 0;
  FILE *f = fopen(path, "ae");
  if (!f) rc = -errno;
  if (f && fwrite(md.data, 1, md.len, f) != md.len) rc = -errno;
  if (f && fclose(f) != 0 && rc == 0) rc = -errno;
  brr_buf_free(&md);
  if (rc == 0) return;
  /* stderr: in JSON mode stdout carries events only */
  fprintf(stderr, "brr: warning: cannot append the summary to $GITHUB_STEP_SUMMARY (%s): %s\n", path,
          brr_strerror(rc));
}

static void ui_on_event(void *ud, const brr_event *ev) {
  brr_ui *ui = ud;
  if (ev->type == BRR_EV_LOG && ev->level == BRR_LOG_DEBUG && !ui->opts.debug) return;
  const char *label = ev->step ? ev->step : ev->node;
  ui_step *st = NULL;
  if (label && ev->type != BRR_EV_RUN_START && ev->type != BRR_EV_RUN_END) {
    if (label == ui->last_label && strcmp(label, ui->last_step->name) == 0) {
      st = ui->last_step;
    } else {
      st = step_get(ui, label, ev->step != NULL);
      ui->last_label = label;
      ui->last_step = st;
    }
  }
  track(ui, ev, st);
  brr__ui_line_prepare(ui, ev, st);
  if (ev->type == BRR_EV_RUN_END) {
    /* the logs first: their failures belong in the summary and fail the run */
    if (ui->logs) brr__ui_logs_event(ui, ui->logs, ev, st);
    brr_event end = *ev;
    if (ui->n_results_err && end.exit_code == 0) end.exit_code = ui->exit_code = 1;  /* exit 1 */
    ui->r->event(ui, &end, st);
    ui->summarised = true;
    if (ui->trace) {
      brr__ui_trace_event(ui->trace, &end);
      brr__ui_trace_write(ui->trace);
    }
    github_summary(ui, &end);
    ui->line_ev = NULL;
    return;
  }
  ui->r->event(ui, ev, st);
  if (ui->logs) brr__ui_logs_event(ui, ui->logs, ev, st);
  if (ui->trace && ev->type != BRR_EV_NODE_OUTPUT) brr__ui_trace_event(ui->trace, ev);
  ui->line_ev = NULL;
}

void brr_ui_results_error(brr_ui *ui, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  if (ui->summarised) fprintf(stderr, "brr: error: %s\n", msg);  /* too late for the summary */
  BRR_VEC_PUSH(ui->results_err, ui->n_results_err, ui->cap_results_err, msg);
}

bool brr_ui_results_failed(const brr_ui *ui) { return ui->n_results_err > 0; }

bool brr_ui_end(brr_ui *ui) {
  if (ui->logs) brr__ui_logs_close(ui, ui->logs);
  return ui->n_results_err > 0;
}

brr_ui *brr_ui_new(brr_bus *bus, const brr_ui_opts *opts) {
  brr_ui *ui = brr_xcalloc(1, sizeof *ui);
  ui->bus = bus;
  ui->opts = *opts;
  ui->out.fd = opts->fd;
  if (opts->results_dir) {
    ui->results_dir = brr_xstrdup(opts->results_dir);
    ui->opts.results_dir = ui->results_dir;
    ui->logs = brr__ui_logs_open(ui->results_dir);
    if (!ui->logs) {
      int e = errno;
      free(ui->results_dir);
      free(ui);
      errno = e;
      return NULL;
    }
  }
  if (opts->trace_path && *opts->trace_path) {
    ui->trace = brr__ui_trace_new(opts->trace_path);
  } else if (!opts->trace_path && ui->results_dir) {
    char *p = brr_path_join(ui->results_dir, "trace.json");
    ui->trace = brr__ui_trace_new(p);
    free(p);
  }
  ui->mode = brr_ui_resolve_progress(opts->progress, opts->fd);
  ui->color = ui->mode != BRR_PROGRESS_JSON && brr_ui_color_enabled(opts->fd, opts->no_color);
  ui->ts_sec = ui->ts_ms = INT64_MIN;
  switch (ui->mode) {
  case BRR_PROGRESS_TTY: ui->r = &brr__ui_tty_renderer; break;
  case BRR_PROGRESS_CI: ui->r = &brr__ui_ci_renderer; break;
  case BRR_PROGRESS_JSON: ui->r = &brr__ui_json_renderer; break;
  default: ui->r = &brr__ui_plain_renderer; break;
  }
  if (ui->r->init) ui->r->init(ui);
  brr_bus_subscribe(bus, ui_on_event, ui);
  return ui;
}

void brr_ui_free(brr_ui *ui) {
  if (!ui) return;
  brr_bus_unsubscribe(ui->bus, ui_on_event, ui);
  if (ui->r->free) ui->r->free(ui);
  brr__ui_out_write(&ui->out);
  brr_buf_free(&ui->out.buf);
  brr_buf_free(&ui->line);
  if (ui->logs) brr__ui_logs_free(ui, ui->logs);
  for (size_t i = 0; i < ui->n_results_err; i++) free(ui->results_err[i]);
  free(ui->results_err);
  brr__ui_trace_free(ui->trace);
  for (size_t i = 0; i < ui->n_steps; i++) step_free(ui->steps[i]);
  free(ui->steps);
  free(ui->running);
  brr_strmap_free(&ui->index);
  brr__ui_engines_free(ui);
  free(ui->results_dir);
  free(ui);
}
