/* The event bus, the line splitter that turns raw output bytes into line events, and the
 * environment questions every renderer asks (colour, progress mode, CI provider). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "brr/diag.h"
#include "brr/ui.h"

typedef struct bus_sub {
  brr_event_fn fn;
  void *ud;
} bus_sub;

struct brr_bus {
  bus_sub *subs;
  size_t n, cap;
};

brr_bus *brr_bus_new(void) { return brr_xcalloc(1, sizeof(brr_bus)); }

void brr_bus_free(brr_bus *bus) {
  if (!bus) return;
  free(bus->subs);
  free(bus);
}

void brr_bus_subscribe(brr_bus *bus, brr_event_fn fn, void *ud) {
  BRR_VEC_PUSH(bus->subs, bus->n, bus->cap, ((bus_sub){fn, ud}));
}

void brr_bus_unsubscribe(brr_bus *bus, brr_event_fn fn, void *ud) {
  for (size_t i = 0; i < bus->n; i++) {
    if (bus->subs[i].fn != fn || bus->subs[i].ud != ud) continue;
    memmove(&bus->subs[i], &bus->subs[i + 1], (bus->n - i - 1) * sizeof(bus_sub));
    bus->n--;
    return;
  }
}

void brr_bus_emit(brr_bus *bus, brr_event *ev) {
  if (!bus) return;
  if (ev->ts_ms == 0) ev->ts_ms = brr_wall_ms();
  for (size_t i = 0; i < bus->n; i++) bus->subs[i].fn(bus->subs[i].ud, ev);
}

void brr_bus_log(brr_bus *bus, brr_log_level level, const char *step, const char *fmt, ...) {
  if (!bus) return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  brr_event ev = {.type = BRR_EV_LOG, .step = step, .level = level, .text = msg, .len = strlen(msg)};
  brr_bus_emit(bus, &ev);
  free(msg);
}

/* ---- line splitter ---- */

void brr_lines_init(brr_lines *l, brr_bus *bus, const char *step, const char *node,
                    const char *source, int stream) {
  memset(l, 0, sizeof *l);
  l->bus = bus;
  l->step = step;
  l->node = node;
  l->source = source;
  l->stream = stream;
}

/* Lines of one chunk arrived together: they share one timestamp (a clock read per line
 * was a seventh of a short line's cost). */
static void lines_emit(brr_lines *l, const char *text, size_t len) {
  brr_event ev = {.type = BRR_EV_NODE_OUTPUT, .ts_ms = l->ts_ms, .step = l->step, .node = l->node,
                  .source = l->source, .stream = l->stream, .text = text, .len = len};
  brr_bus_emit(l->bus, &ev);
}

/* Emit the pending partial line joined with `len` more bytes of `data`. The text goes
 * through the pending buffer (reused, so no allocation once warm) because events carry
 * NUL-terminated text and `data` is the producer's read buffer. */
static void lines_emit_joined(brr_lines *l, const char *data, size_t len) {
  brr_buf_append(&l->pending, data, len);
  lines_emit(l, brr_buf_cstr(&l->pending), l->pending.len);
  brr_buf_reset(&l->pending);
}

/* Emit the first BRR_LINES_MAX bytes of pending, or fewer so the cut never falls inside a
 * UTF-8 sequence (at most 3 bytes back, to the lead byte); the rest stays pending. */
static void lines_emit_cut(brr_lines *l) {
  unsigned char *d = (unsigned char *)l->pending.data;
  size_t cut = l->pending.len;
  for (size_t back = 0; back < 3 && cut > 1 && (d[cut - 1 - back] & 0xC0) == 0x80; back++) {
    /* find the lead byte of the sequence the last byte belongs to */
    size_t lead = cut - 2 - back;
    unsigned char c = d[lead];
    if ((c & 0xC0) == 0x80) continue;
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (lead + need > cut) cut = lead;   /* incomplete: it starts the next line */
    break;
  }
  if (cut == l->pending.len && d[cut - 1] >= 0xC0) cut--;   /* a lead byte alone at the end */
  if (cut == 0) cut = l->pending.len;
  unsigned char keep = d[cut];
  d[cut] = '\0';
  lines_emit(l, l->pending.data, cut);
  d[cut] = keep;
  size_t rest = l->pending.len - cut;
  memmove(d, d + cut, rest);
  l->pending.len = rest;
  d[rest] = '\0';
}

void brr_lines_feed(brr_lines *l, const char *data, size_t len) {
  size_t i = 0, start = 0;
  l->ts_ms = brr_wall_ms();
  bool emitted = false;
  if (len > 0 && l->cr) {
    /* "\r" ended the previous chunk and its line is out; a "\n" now belongs to it */
    l->cr = false;
    if (data[0] == '\n') i = start = 1;
  }
  for (; i < len; i++) {
    char c = data[i];
    if (c != '\n' && c != '\r') continue;
    lines_emit_joined(l, data + start, i - start);
    emitted = true;
    if (c == '\r') {
      if (i + 1 < len) {
        if (data[i + 1] == '\n') i++;
      } else {
        l->cr = true;
      }
    }
    start = i + 1;
  }
  if (start < len) {
    size_t rest = len - start;
    const char *p = data + start;
    /* a runaway line without newline: cut it so memory stays bounded */
    while (l->pending.len + rest >= BRR_LINES_MAX) {
      size_t take = BRR_LINES_MAX - l->pending.len;
      brr_buf_append(&l->pending, p, take);
      p += take;
      rest -= take;
      lines_emit_cut(l);
      emitted = true;
    }
    brr_buf_append(&l->pending, p, rest);
  }
  if (emitted) {
    brr_event ev = {.type = BRR_EV_FLUSH, .step = l->step, .node = l->node};
    brr_bus_emit(l->bus, &ev);
  }
}

void brr_lines_flush(brr_lines *l) {
  l->cr = false;
  if (l->pending.len == 0) return;
  l->ts_ms = brr_wall_ms();
  lines_emit(l, l->pending.data, l->pending.len);
  brr_buf_reset(&l->pending);
  brr_event ev = {.type = BRR_EV_FLUSH, .step = l->step, .node = l->node};
  brr_bus_emit(l->bus, &ev);
}

void brr_lines_free(brr_lines *l) { brr_buf_free(&l->pending); }

/* ---- environment ---- */

int brr_progress_parse(const char *s, brr_progress *out) {
  static const struct {
    const char *name;
    brr_progress p;
  } names[] = {{"auto", BRR_PROGRESS_AUTO}, {"tty", BRR_PROGRESS_TTY}, {"plain", BRR_PROGRESS_PLAIN},
               {"ci", BRR_PROGRESS_CI},     {"json", BRR_PROGRESS_JSON}};
  for (size_t i = 0; s && i < BRR_ARRAY_LEN(names); i++) {
    if (strcmp(s, names[i].name) == 0) {
      *out = names[i].p;
      return 0;
    }
  }
  return BRR_EINVAL;
}

int brr_progress_choose(const char *flag, brr_progress *out) {
  if (flag) return brr_progress_parse(flag, out);
  const char *env = getenv("BRR_PROGRESS");
  if (env && *env) return brr_progress_parse(env, out);
  *out = BRR_PROGRESS_AUTO;
  return 0;
}

int brr_ui_heartbeat_choose(const char *flag, int *out) {
  const char *s = flag;
  if (!s) {
    s = getenv("BRR_HEARTBEAT");
    if (!s || !*s) {
      *out = 0;
      return 0;
    }
  }
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0 || v > 86400) return BRR_EINVAL;
  *out = v == 0 ? -1 : (int)v;
  return 0;
}

static bool env_set(const char *name) {
  const char *v = getenv(name);
  return v && *v;
}

/* FORCE_COLOR=0/false is the documented way to turn forcing off (chalk, node). */
static bool env_truthy(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

static bool smart_terminal(int fd) {
  const char *term = getenv("TERM");
  return isatty(fd) && !(term && strcmp(term, "dumb") == 0);
}

bool brr_ui_color_enabled(int fd, bool no_color) {
  /* precedence as ninja and no-color.org: the flag, then FORCE_COLOR (beats NO_COLOR),
   * NO_COLOR, CLICOLOR_FORCE, and finally whether fd is a smart terminal */
  if (no_color) return false;
  if (env_set("FORCE_COLOR")) return env_truthy("FORCE_COLOR");
  if (env_set("NO_COLOR")) return false;
  if (env_truthy("CLICOLOR_FORCE")) return true;
  return smart_terminal(fd);
}

brr_ci_kind brr_ui_ci_detect(void) {
  if (env_truthy("GITHUB_ACTIONS")) return BRR_CI_GITHUB;
  if (env_set("GITLAB_CI")) return BRR_CI_GITLAB;
  if (env_truthy("BUILDKITE")) return BRR_CI_BUILDKITE;
  return BRR_CI_NONE;
}

brr_progress brr_ui_resolve_progress(brr_progress p, int fd) {
  if (p != BRR_PROGRESS_AUTO) return p;
  if (brr_ui_ci_detect() != BRR_CI_NONE) return BRR_PROGRESS_CI;
  if (smart_terminal(fd)) return BRR_PROGRESS_TTY;
  return BRR_PROGRESS_PLAIN;
}

const char *brr_status_name(brr_status s) {
  switch (s) {
  case BRR_STATUS_PENDING: return "pending";
  case BRR_STATUS_RUNNING: return "running";
  case BRR_STATUS_SUCCEEDED: return "succeeded";
  case BRR_STATUS_FAILED: return "failed";
  case BRR_STATUS_CANCELED: return "canceled";
  case BRR_STATUS_SKIPPED: return "skipped";
  case BRR_STATUS_REUSED: return "reused";
  }
  return "?";
}
