/* The one line splitter: step output on the event bus (brr_lines, src/ui/events.c) and the
 * lines of a spawned process (src/engine/spawn.c) both end lines the same way. */
#include <string.h>

#include "brr/util.h"

void brr_linesplit_init(brr_linesplit *s, size_t max) {
  memset(s, 0, sizeof *s);
  s->max = max;
}

/* Hand over the pending partial line joined with `len` more bytes of `data`. The text goes
 * through the pending buffer (reused, so no allocation once warm) because the line is given
 * NUL-terminated and `data` is the producer's read buffer. */
static void emit_joined(brr_linesplit *s, const char *data, size_t len, brr_linesplit_cb cb, void *ud) {
  brr_buf_append(&s->pending, data, len);
  cb(ud, brr_buf_cstr(&s->pending), s->pending.len);
  brr_buf_reset(&s->pending);
}

/* Hand over the first `max` bytes of pending, or fewer so the cut never falls inside a UTF-8
 * sequence (at most 3 bytes back, to the lead byte); the rest stays pending. */
static void emit_cut(brr_linesplit *s, brr_linesplit_cb cb, void *ud) {
  unsigned char *d = (unsigned char *)s->pending.data;
  size_t cut = s->pending.len;
  for (size_t back = 0; back < 3 && cut > 1 && (d[cut - 1 - back] & 0xC0) == 0x80; back++) {
    /* find the lead byte of the sequence the last byte belongs to */
    size_t lead = cut - 2 - back;
    unsigned char c = d[lead];
    if ((c & 0xC0) == 0x80) continue;
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (lead + need > cut) cut = lead;   /* incomplete: it starts the next line */
    break;
  }
  if (cut == s->pending.len && d[cut - 1] >= 0xC0) cut--;   /* a lead byte alone at the end */
  if (cut == 0) cut = s->pending.len;
  unsigned char keep = d[cut];
  d[cut] = '\0';
  cb(ud, s->pending.data, cut);
  d[cut] = keep;
  size_t rest = s->pending.len - cut;
  memmove(d, d + cut, rest);
  s->pending.len = rest;
  d[rest] = '\0';
}

size_t brr_linesplit_feed(brr_linesplit *s, const char *data, size_t len, brr_linesplit_cb cb,
                          void *ud) {
  size_t i = 0, start = 0, lines = 0;
  if (len > 0 && s->cr) {
    /* "\r" ended the previous chunk and its line is out; a "\n" now belongs to it */
    s->cr = false;
    if (data[0] == '\n') i = start = 1;
  }
  for (; i < len; i++) {
    char c = data[i];
    if (c != '\n' && c != '\r') continue;
    emit_joined(s, data + start, i - start, cb, ud);
    lines++;
    if (c == '\r') {
      if (i + 1 < len) {
        if (data[i + 1] == '\n') i++;
      } else {
        s->cr = true;
      }
    }
    start = i + 1;
  }
  if (start < len) {
    size_t rest = len - start;
    const char *p = data + start;
    /* a runaway line without newline: cut it so memory stays bounded */
    while (s->max && s->pending.len + rest >= s->max) {
      size_t take = s->max - s->pending.len;
      brr_buf_append(&s->pending, p, take);
      p += take;
      rest -= take;
      emit_cut(s, cb, ud);
      lines++;
    }
    brr_buf_append(&s->pending, p, rest);
  }
  return lines;
}

bool brr_linesplit_flush(brr_linesplit *s, brr_linesplit_cb cb, void *ud) {
  s->cr = false;
  if (s->pending.len == 0) return false;
  cb(ud, brr_buf_cstr(&s->pending), s->pending.len);
  brr_buf_reset(&s->pending);
  return true;
}

void brr_linesplit_free(brr_linesplit *s) { brr_buf_free(&s->pending); }
