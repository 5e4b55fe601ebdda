/* The JSON renderer: one object per event per line (JSON Lines), schema in docs/output.md.
 * Version 1; readers must ignore keys they do not know, new keys may appear. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ui_internal.h"

#define UI_JSON_VERSION 1

static const char *level_name(brr_log_level l) {
  switch (l) {
  case BRR_LOG_DEBUG: return "debug";
  case BRR_LOG_INFO: return "info";
  case BRR_LOG_WARNING: return "warning";
  default: return "error";
  }
}

static void add_str_or_null(cJSON *o, const char *key, const char *s) {
  if (s) cJSON_AddStringToObject(o, key, s);
  else cJSON_AddNullToObject(o, key);
}

/* cJSON takes C strings: the line is copied with its length (producers need not
 * NUL-terminate it), and NUL bytes inside it become spaces instead of cutting it short. */
static void add_text(cJSON *o, const char *key, const char *text, size_t len) {
  if (!text) {
    cJSON_AddNullToObject(o, key);
    return;
  }
  char *copy = brr_xstrndup(text, len);
  for (size_t i = 0; i < len; i++)
    if (copy[i] == '\0') copy[i] = ' ';
  cJSON_AddStringToObject(o, key, copy);
  free(copy);
}

static void add_run_start(cJSON *o, const brr_event *ev) {
  cJSON_AddNumberToObject(o, "version", UI_JSON_VERSION);
  cJSON_AddNumberToObject(o, "total", (double)ev->n_total);
  cJSON_AddNumberToObject(o, "jobs", ev->jobs);
  cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
  for (size_t i = 0; ev->node_ids && i < ev->n_total; i++) {
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "id", ev->node_ids[i]);
    add_str_or_null(n, "label", ev->node_labels ? ev->node_labels[i] : NULL);
    cJSON_AddItemToArray(nodes, n);
  }
}

static void add_run_end(brr_ui *ui, cJSON *o, const brr_event *ev) {
  cJSON_AddNumberToObject(o, "exit_code", ev->exit_code);
  cJSON_AddNumberToObject(o, "signal", ev->signal);
  cJSON_AddNumberToObject(o, "wall", ev->wall_s);
  cJSON_AddNumberToObject(o, "sum", ev->sum_s);
  cJSON_AddNumberToObject(o, "critical_path", ev->critical_s);
  cJSON_AddNumberToObject(o, "jobs", ev->jobs);
  int jobs = ev->jobs > 0 ? ev->jobs : 1;
  double bound = ev->critical_s > ev->sum_s / jobs ? ev->critical_s : ev->sum_s / jobs;
  double eff = ev->wall_s > 0 ? bound / ev->wall_s : 1.0;
  cJSON_AddNumberToObject(o, "efficiency", eff > 1 ? 1 : eff);
  cJSON *c = cJSON_AddObjectToObject(o, "counts");
  cJSON_AddNumberToObject(c, "total", (double)ev->n_total);
  cJSON_AddNumberToObject(c, "succeeded", (double)ev->n_succeeded);
  cJSON_AddNumberToObject(c, "failed", (double)ev->n_failed);
  cJSON_AddNumberToObject(c, "canceled", (double)ev->n_canceled);
  cJSON_AddNumberToObject(c, "skipped", (double)ev->n_skipped);
  cJSON *steps = cJSON_AddArrayToObject(o, "steps");
  for (size_t i = 0; i < ui->n_steps; i++) {
    const ui_step *st = ui->steps[i];
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", st->name);
    cJSON_AddStringToObject(s, "status", brr_status_name(ui_step_status(st)));
    cJSON_AddNumberToObject(s, "duration", st->n_started ? ui_step_span_s(st) : 0);
    add_str_or_null(s, "error", st->error);
    cJSON_AddItemToArray(steps, s);
  }
  /* files of the results dir that could not be written (they fail the run) */
  cJSON *re = cJSON_AddArrayToObject(o, "results_errors");
  for (size_t i = 0; i < ui->n_results_err; i++)
    cJSON_AddItemToArray(re, cJSON_CreateString(ui->results_err[i]));
}

static cJSON *event_json(brr_ui *ui, const brr_event *ev) {
  static const char *const types[] = {"run_start", "node_start", "output", "node_end", "log", "run_end"};
  if ((size_t)ev->type >= BRR_ARRAY_LEN(types)) return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", types[ev->type]);
  cJSON_AddNumberToObject(o, "ts", (double)ev->ts_ms);
  switch (ev->type) {
  case BRR_EV_RUN_START: add_run_start(o, ev); break;
  case BRR_EV_RUN_END: add_run_end(ui, o, ev); break;
  case BRR_EV_NODE_START:
    add_str_or_null(o, "step", ev->step);
    add_str_or_null(o, "node", ev->node);
    break;
  case BRR_EV_NODE_OUTPUT:
    add_str_or_null(o, "step", ev->step);
    add_str_or_null(o, "node", ev->node);
    add_str_or_null(o, "source", ev->source);
    cJSON_AddStringToObject(o, "stream", ev->stream == 2 ? "stderr" : "stdout");
    add_text(o, "line", ev->text, ev->len);
    break;
  case BRR_EV_NODE_END:
    add_str_or_null(o, "step", ev->step);
    add_str_or_null(o, "node", ev->node);
    cJSON_AddStringToObject(o, "status", brr_status_name(ev->status));
    cJSON_AddNumberToObject(o, "duration", ev->duration);
    add_str_or_null(o, "error", ev->text);
    break;
  case BRR_EV_LOG:
    add_str_or_null(o, "step", ev->step);
    add_str_or_null(o, "node", ev->node);
    cJSON_AddStringToObject(o, "level", level_name(ev->level));
    add_text(o, "message", ev->text, ev->len);
    break;
  default: break;
  }
  return o;
}

static void json_event(brr_ui *ui, const brr_event *ev, ui_step *st) {
  (void)st;
  if (ev->type == BRR_EV_FLUSH) {
    ui_out_write(&ui->out);
    return;
  }
  cJSON *o = event_json(ui, ev);
  if (!o) return;
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text) return;
  brr_buf_puts(&ui->out.buf, text);
  brr_buf_putc(&ui->out.buf, '\n');
  cJSON_free(text);
  if (ev->type == BRR_EV_NODE_OUTPUT) ui_out_maybe(&ui->out);
  else ui_out_write(&ui->out);
}

const ui_renderer ui_json_renderer = {NULL, json_event, NULL};
