/* Incremental decoders of the engine's two stream formats: JSON lines (pull, push, build,
 * import) and the multiplexed stdout/stderr stream of attach, logs and exec. Both are pure:
 * bytes in, callbacks out, any chunking. */
#include <string.h>

#include "brr/engine.h"

/* ---- JSON lines ---------------------------------------------------------------------------- */

static int parse_line(const char *s, size_t n, brr_engine_jsonl_cb cb, void *ud) {
  while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  while (n && (*s == ' ' || *s == '\t' || *s == '\r')) s++, n--;
  if (n == 0) return 0;
  const char *end = NULL;
  cJSON *msg = cJSON_ParseWithLengthOpts(s, n, &end, false);
  if (!msg) return BRR_EIO;
  /* one value per line: anything after it but blanks is not the format */
  while (end < s + n && (*end == ' ' || *end == '\t')) end++;
  if (end != s + n) {
    cJSON_Delete(msg);
    return BRR_EIO;
  }
  int rc = cb(ud, msg);
  cJSON_Delete(msg);
  return rc;
}

int brr_engine_jsonl_feed(brr_engine_jsonl *d, const char *data, size_t len,
                          brr_engine_jsonl_cb cb, void *ud) {
  const char *p = data, *end = data + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
      brr_buf_append(&d->partial, p, (size_t)(end - p));
      return 0;
    }
    int rc;
    if (d->partial.len) {
      brr_buf_append(&d->partial, p, (size_t)(nl - p));
      rc = parse_line(d->partial.data, d->partial.len, cb, ud);
      brr_buf_reset(&d->partial);
    } else {
      rc = parse_line(p, (size_t)(nl - p), cb, ud);
    }
    if (rc) return rc;
    p = nl + 1;
  }
  return 0;
}

int brr_engine_jsonl_finish(brr_engine_jsonl *d, brr_engine_jsonl_cb cb, void *ud) {
  if (!d->partial.len) return 0;
  int rc = parse_line(d->partial.data, d->partial.len, cb, ud);
  brr_buf_reset(&d->partial);
  return rc;
}

void brr_engine_jsonl_free(brr_engine_jsonl *d) { brr_buf_free(&d->partial); }

static const char *str_item(const cJSON *o, const char *key) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(it) ? it->valuestring : NULL;
}

void brr_engine_progress_parse(const cJSON *msg, brr_engine_progress *p) {
  memset(p, 0, sizeof *p);
  p->json = msg;
  p->stream = str_item(msg, "stream");
  p->status = str_item(msg, "status");
  p->id = str_item(msg, "id");
  p->progress = str_item(msg, "progress");
  const cJSON *detail = cJSON_GetObjectItemCaseSensitive(msg, "errorDetail");
  p->error = detail ? str_item(detail, "message") : NULL;
  if (!p->error) p->error = str_item(msg, "error");
  /* errorDetail without a message still means failure */
  if (!p->error && detail) p->error = "unknown error";
}

/* ---- multiplexed stdout/stderr ------------------------------------------------------------------ */

int brr_engine_mux_feed(brr_engine_mux *d, const char *data, size_t len,
                        brr_engine_output_cb cb, void *ud) {
  const char *p = data, *end = data + len;
  if (d->raw) {
    if (len) cb(ud, BRR_ENGINE_STDOUT, data, len);
    return 0;
  }
  while (p < end) {
    if (d->left == 0) {
      size_t take = 8 - d->hdr_len;
      if (take > (size_t)(end - p)) take = (size_t)(end - p);
      memcpy(d->hdr + d->hdr_len, p, take);
      d->hdr_len += (unsigned)take;
      p += take;
      if (d->hdr_len < 8) return 0;
      if (d->hdr[0] > 3 || d->hdr[1] || d->hdr[2] || d->hdr[3]) return BRR_EIO;
      d->stream = d->hdr[0];
      d->left = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                (uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
      d->hdr_len = 0;
      continue;
    }
    size_t take = d->left;
    if (take > (size_t)(end - p)) take = (size_t)(end - p);
    if (d->stream == 3) {
      brr_buf_append(&d->syserr, p, take);
    } else {
      /* stream 0 (stdin) is echoed as stdout, as the engine's own stdcopy does */
      cb(ud, d->stream == BRR_ENGINE_STDERR ? BRR_ENGINE_STDERR : BRR_ENGINE_STDOUT, p, take);
    }
    d->left -= (uint32_t)take;
    p += take;
  }
  return 0;
}

int brr_engine_mux_finish(const brr_engine_mux *d) {
  return d->hdr_len || d->left ? BRR_EIO : 0;
}

void brr_engine_mux_free(brr_engine_mux *d) { brr_buf_free(&d->syserr); }
