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
  brr_linesplit_init(&l->split, BRR_LINES_MAX);
}

/* Lines of one chunk arrived together: they share one timestamp (a clock read per line
 * was a seventh of a short line's cost). */
static void lines_emit(void *ud, const char *text, size_t len) {
  brr_lines *l = ud;
  brr_event ev = {.type = BRR_EV_NODE_OUTPUT, .ts_ms = l->ts_ms, .step = l->step, .node = l->node,
                  .source = l->source, .stream = l->stream, .text = text, .len = len};
  brr_bus_emit(l->bus, &ev);
}

static void lines_flushed(brr_lines *l) {
  brr_event ev = {.type = BRR_EV_FLUSH, .step = l->step, .node = l->node};
  brr_bus_emit(l->bus, &ev);
}

void brr_lines_feed(brr_lines *l, const char *data, size_t len) {
  l->ts_ms = brr_wall_ms();
  if (brr_linesplit_feed(&l->split, data, len, lines_emit, l) > 0) lines_flushed(l);
}

void brr_lines_flush(brr_lines *l) {
  if (l->split.pending.len) l->ts_ms = brr_wall_ms();
  if (brr_linesplit_flush(&l->split, lines_emit, l)) lines_flushed(l);
}

void brr_lines_free(brr_lines *l) { brr_linesplit_free(&l->split); }

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
