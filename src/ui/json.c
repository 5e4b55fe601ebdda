/* The JSON renderer: one object per event per line (JSON Lines), schema in docs/output.md.
 * Version 2; readers must ignore keys they do not know, new keys may appear. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ui_internal.h"

#define UI_JSON_VERSION 2

static const char *level_name(brr_log_level l) {
  switch (l) {
  case BRR_LOG_DEBUG: return "debug";
  case BRR_LOG_INFO: return "info";
  case BRR_LOG_WARNING: return "warning";
  default: return "error";
  }
}

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0 when it is not one:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if (p[k] < 0x80 || p[k] > 0xBF) return 0;
  return len;
}

/* JSON text must be UTF-8 and cJSON copies bytes as they are: every byte that does not start
 * a valid sequence becomes U+FFFD, and NUL becomes a space (cJSON takes C strings). The line
 * is copied with its length, so producers need not NUL-terminate it. */
static char *utf8_clean(const char *text, size_t len) {
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0;
  while (i < len) {
    size_t k = p[i] ? utf8_seq(p + i, len - i) : 0;
    if (!k) break;
    i += k;
  }
  if (i == len) return brr_xstrndup(text, len);   /* the usual case: valid as it is */
  brr_buf b = BRR_BUF_INIT;
  brr_buf_append(&b, text, i);
  while (i < len) {
    if (p[i] == 0) {
      brr_buf_putc(&b, ' ');
      i++;
      continue;
    }
    size_t k = utf8_seq(p + i, len - i);
    if (k) {
      brr_buf_append(&b, text + i, k);
      i += k;
    } else {
      brr_buf_puts(&b, "\xef\xbf\xbd");
      i++;
    }
  }
  return brr_buf_detach(&b);
}

static void add_text(cJSON *o, const char *key, const char *text, size_t len) {
  if (!text) {
    cJSON_AddNullToObject(o, key);
    return;
  }
  char *copy = utf8_clean(text, len);
  cJSON_AddStringToObject(o, key, copy);
  free(copy);
}

static void add_str_or_null(cJSON *o, const char *key, const char *s) {
  add_text(o, key, s, s ? strlen(s) : 0);
}

static void add_run_start(cJSON *o, const brr_event *ev) {
  cJSON_AddNumberToObject(o, "version", UI_JSON_VERSION);
  cJSON_AddNumberToObject(o, "total", (double)ev->n_total);
  cJSON_AddNumberToObject(o, "jobs", ev->jobs);
  cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
  for (size_t i = 0; ev->node_ids && i < ev->n_total; i++) {
    cJSON *n = cJSON_CreateObject();
    add_str_or_null(n, "id", ev->node_ids[i]);
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
  cJSON_AddNumberToObject(c, "reused", (double)ev->n_reused);  /* of succeeded */
  cJSON *steps = cJSON_AddArrayToObject(o, "steps");
  for (size_t i = 0; i < ui->n_steps; i++) {
    const ui_step *st = ui->steps[i];
    cJSON *s = cJSON_CreateObject();
    add_str_or_null(s, "name", st->name);
    cJSON_AddStringToObject(s, "status", brr_status_name(brr__ui_step_status(st)));
    cJSON_AddNumberToObject(s, "duration", st->n_started ? brr__ui_step_span_s(st) : 0);
    add_str_or_null(s, "error", st->error);
    /* why it never ran, for a skipped step (version 2) */
    add_str_or_null(s, "reason", brr__ui_step_status(st) == BRR_STATUS_SKIPPED ? st->skip_reason : NULL);
    cJSON_AddNumberToObject(s, "waited", st->wait_s);
    cJSON_AddItemToArray(steps, s);
  }
  /* files of the results dir that could not be written (they fail the run) */
  cJSON *re = cJSON_AddArrayToObject(o, "results_errors");
  for (size_t i = 0; i < ui->n_results_err; i++)
    cJSON_AddItemToArray(re, cJSON_CreateString(ui->results_err[i]));
}

static cJSON *event_json(brr_ui *ui, const brr_event *ev) {
  static const char *const types[] = {"run_start", "node_start", "output", "node_end", "log", "run_end",
                                      NULL, NULL, "phase"};
  if ((size_t)ev->type >= BRR_ARRAY_LEN(types) || !types[ev->type]) return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", types[ev->type]);
  cJSON_AddNumberToObject(o, "ts", (double)ev->ts_ms);
  switch (ev->type) {
  case BRR_EV_RUN_START: add_run_start(o, ev); break;
  case BRR_EV_RUN_END: add_run_end(ui, o, ev); break;
  case BRR_EV_NODE_START:
    add_str_or_null(o, "step", ev->step);
    add_str_or_null(o, "node", ev->node);
    cJSON_AddNumberToObject(o, "slot", ev->slot);
    cJSON_AddNumberToObject(o, "waited", ev->wait_s);
    if (ev->engine) cJSON_AddStringToObject(o, "engine", ev->engine);
    break;
  case BRR_EV_PHASE:
    add_str_or_null(o, "step", ev->step);
    add_str_or_null(o, "node", ev->node);
    add_text(o, "phase", ev->text, ev->len);
    cJSON_AddBoolToObject(o, "end", ev->phase_end);
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
    brr__ui_out_write(&ui->out);
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
  if (ev->type == BRR_EV_NODE_OUTPUT) brr__ui_out_maybe(&ui->out);
  else brr__ui_out_write(&ui->out);
}

const ui_renderer brr__ui_json_renderer = {NULL, json_event, NULL};
