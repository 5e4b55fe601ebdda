/* Printing a graph for --graph: text for people, DOT and Mermaid for pictures, JSON for
 * tools. Every format is a pure function of the graph: the same graph gives the same bytes. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brr/graph.h"

int brr_graph_format_parse(const char *s, brr_graph_format *out) {
  static const struct { const char *name; brr_graph_format fmt; } formats[] = {
      {"text", BRR_GRAPH_TEXT}, {"dot", BRR_GRAPH_DOT}, {"mermaid", BRR_GRAPH_MERMAID}, {"json", BRR_GRAPH_JSON}};
  for (size_t i = 0; s && i < BRR_ARRAY_LEN(formats); i++)
    if (strcmp(s, formats[i].name) == 0) {
      *out = formats[i].fmt;
      return 0;
    }
  return BRR_EINVAL;
}

/* Edges brr worked out itself, as opposed to ones the file states or a step's own order. */
static bool inferred(brr_edge_reason r) { return r == BRR_EDGE_IMAGE || r == BRR_EDGE_ARTIFACTS; }
static bool policy(brr_edge_reason r) {
  return r == BRR_EDGE_PUSH_BARRIER || r == BRR_EDGE_MOVING_TAG || r == BRR_EDGE_SERIAL;
}

/* next[i]: the node after i on the critical path, or BRR_NO_STEP (heap). */
static size_t *critical_next(const brr_graph *g) {
  size_t *next = brr_xmalloc((g->n_nodes + 1) * sizeof *next);
  for (size_t i = 0; i < g->n_nodes; i++) next[i] = BRR_NO_STEP;
  for (size_t k = 0; k + 1 < g->n_critical; k++) next[g->critical_path[k]] = g->critical_path[k + 1];
  return next;
}

static bool edge_critical(const size_t *next, const brr_edge *e) { return next[e->from] == e->to; }

/* ---- text ------------------------------------------------------------------------------ */

static void text_node(const brr_graph *g, size_t i, brr_buf *out) {
  const brr_node *n = &g->nodes[i];
  brr_buf_printf(out, "  %s %s  (%s", n->critical ? "*" : " ", n->id, brr_node_kind_name(n->kind));
  if (n->platform && n->kind != BRR_NODE_PLATFORM_BUILD) brr_buf_printf(out, ", %s", n->platform);
  if (n->pool) brr_buf_printf(out, ", pool %s", n->pool);
  if (n->base_from_build_registry) brr_buf_puts(out, ", base from the build registry");
  brr_buf_printf(out, ", %g s)\n", n->weight);
  for (size_t j = 0; j < n->n_in; j++) {
    const brr_edge *e = &g->edges[n->in[j]];
    brr_buf_printf(out, "      <- %s  %s", g->nodes[e->from].id, brr_edge_reason_name(e->reason));
    if (e->detail) brr_buf_printf(out, " %s", e->detail);
    if (e->mark.file && e->mark.line) {
      char *disp = brr_path_display(e->mark.file);
      brr_buf_printf(out, "  (%s:%u)", disp, e->mark.line);
      free(disp);
    }
    brr_buf_putc(out, '\n');
  }
}

static void render_text(const brr_graph *g, brr_buf *out) {
  /* nodes grouped by level, in creation (file) order inside a level: a counting sort */
  size_t *start = brr_xcalloc(g->n_levels + 2, sizeof *start);
  size_t *by_level = brr_xmalloc((g->n_nodes + 1) * sizeof *by_level);
  for (size_t i = 0; i < g->n_nodes; i++) start[g->nodes[i].level + 1]++;
  for (unsigned l = 0; l < g->n_levels; l++) start[l + 1] += start[l];
  size_t *fill = brr_xmalloc((g->n_levels + 1) * sizeof *fill);
  memcpy(fill, start, (g->n_levels + 1) * sizeof *fill);
  for (size_t i = 0; i < g->n_nodes; i++) by_level[fill[g->nodes[i].level]++] = i;
  brr_buf_puts(out, "brr graph (* marks the critical path; <- lists what a node waits for)\n");
  for (unsigned l = 0; l < g->n_levels; l++) {
    brr_buf_printf(out, "level %u\n", l);
    for (size_t k = start[l]; k < start[l + 1]; k++) text_node(g, by_level[k], out);
  }
  if (g->n_critical) {
    brr_buf_puts(out, "critical path:");
    for (size_t k = 0; k < g->n_critical; k++)
      brr_buf_printf(out, "%s %s", k ? " ->" : "", g->nodes[g->critical_path[k]].id);
    brr_buf_putc(out, '\n');
  }
  brr_buf_printf(out, "%zu nodes, %zu edges, %u levels, critical path %g s\n", g->n_nodes, g->n_edges,
                 g->n_levels, g->critical_weight);
  free(start);
  free(by_level);
  free(fill);
}

/* ---- dot --------------------------------------------------------------------------------- */

static void dot_str(brr_buf *out, const char *s) {
  brr_buf_putc(out, '"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') brr_buf_putc(out, '\\');
    if (*s == '\n') brr_buf_puts(out, "\\n");
    else brr_buf_putc(out, *s);
  }
  brr_buf_putc(out, '"');
}

static void render_dot(const brr_graph *g, brr_buf *out) {
  size_t *next = critical_next(g);
  brr_buf_puts(out, "digraph brr {\n  rankdir=LR;\n  node [shape=box, fontsize=10, height=0.25];\n"
                    "  edge [fontsize=9];\n");
  for (size_t i = 0; i < g->n_nodes; i++) {
    const brr_node *n = &g->nodes[i];
    brr_buf_puts(out, "  ");
    dot_str(out, n->id);
    char *label = brr_xasprintf("%s\n%s", n->id, brr_node_kind_name(n->kind));
    brr_buf_puts(out, " [label=");
    dot_str(out, label);
    free(label);
    brr_buf_puts(out, n->critical ? ", style=bold];\n" : "];\n");
  }
  for (size_t k = 0; k < g->n_edges; k++) {
    const brr_edge *e = &g->edges[k];
    brr_buf_puts(out, "  ");
    dot_str(out, g->nodes[e->from].id);
    brr_buf_puts(out, " -> ");
    dot_str(out, g->nodes[e->to].id);
    brr_buf_printf(out, " [label=\"%s\"", brr_edge_reason_name(e->reason));
    const char *line = inferred(e->reason) ? "dashed" : policy(e->reason) ? "dotted" : NULL;
    bool bold = edge_critical(next, e);
    if (line || bold)
      brr_buf_printf(out, ", style=\"%s%s%s\"", line ? line : "", line && bold ? "," : "", bold ? "bold" : "");
    brr_buf_puts(out, "];\n");
  }
  brr_buf_puts(out, "}\n");
  free(next);
}

/* ---- mermaid ------------------------------------------------------------------------------ */

static void mermaid_label(brr_buf *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '"': brr_buf_puts(out, "#quot;"); break;
    case '<': brr_buf_puts(out, "#lt;"); break;
    case '>': brr_buf_puts(out, "#gt;"); break;
    case '#': brr_buf_puts(out, "#35;"); break;
    default: brr_buf_putc(out, *s);
    }
  }
}

static void render_mermaid(const brr_graph *g, brr_buf *out) {
  size_t *next = critical_next(g);
  /* synthetic ids: a node named `end`, or starting with o/x, would break mermaid's parser */
  brr_buf_puts(out, "flowchart LR\n");
  for (size_t i = 0; i < g->n_nodes; i++) {
    brr_buf_printf(out, "  n%zu[\"", i);
    mermaid_label(out, g->nodes[i].id);
    brr_buf_printf(out, "<br/>%s\"]\n", brr_node_kind_name(g->nodes[i].kind));
  }
  for (size_t k = 0; k < g->n_edges; k++) {
    const brr_edge *e = &g->edges[k];
    const char *arrow = edge_critical(next, e) ? "==>" : inferred(e->reason) || policy(e->reason) ? "-.->" : "-->";
    brr_buf_printf(out, "  n%zu %s|%s| n%zu\n", e->from, arrow, brr_edge_reason_name(e->reason), e->to);
  }
  if (g->n_critical) {
    brr_buf_puts(out, "  classDef critical stroke-width:3px\n  class ");
    for (size_t k = 0; k < g->n_critical; k++) brr_buf_printf(out, "%sn%zu", k ? "," : "", g->critical_path[k]);
    brr_buf_puts(out, " critical\n");
  }
  free(next);
}

/* ---- json --------------------------------------------------------------------------------- */

/* The document is written straight into the output, byte for byte what cJSON_PrintUnformatted
 * gave for the same tree (tests/unit/graph_json_test.c holds it to that): at 10,000 steps a
 * cJSON item per field was a quarter of --graph=json's time. */

/* A string as cJSON prints one: ", \ and the controls escaped (\b \f \n \r \t, the others
 * \u00xx), every other byte as it is. */
#define CTL8(x) [x] = 1, [x + 1] = 1, [x + 2] = 1, [x + 3] = 1, [x + 4] = 1, [x + 5] = 1, [x + 6] = 1, [x + 7] = 1
/* the bytes a string's run of plain bytes stops at: NUL (its end), the controls, " and \ */
static const unsigned char JSTOP[256] = {CTL8(0), CTL8(8), CTL8(16), CTL8(24), ['"'] = 1, ['\\'] = 1};

static void jstr(brr_buf *out, const char *s) {
  static const char hex[] = "0123456789abcdef";
  brr_buf_putc(out, '"');
  const char *run = s;
  for (const unsigned char *p = (const unsigned char *)s;; p++) {
    unsigned char ch = *p;
    if (!JSTOP[ch]) continue;
    brr_buf_append(out, run, (size_t)((const char *)p - run));
    if (!ch) break;
    run = (const char *)p + 1;
    char esc[6] = {'\\', 0};
    size_t n = 2;
    switch (ch) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[ch >> 4];
      esc[5] = hex[ch & 15];
      n = 6;
    }
    brr_buf_append(out, esc, n);
  }
  brr_buf_putc(out, '"');
}

static void jstr_or_null(brr_buf *out, const char *s) {
  if (s) jstr(out, s);
  else brr_buf_append(out, "null", 4);
}

static void jint(brr_buf *out, long long v) {
  char tmp[24];
  size_t n = sizeof tmp;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  do tmp[--n] = (char)('0' + u % 10); while (u /= 10);
  if (v < 0) tmp[--n] = '-';
  brr_buf_append(out, tmp + n, sizeof tmp - n);
}

/* A number as cJSON 1.7 prints one: its int value (clamped to int) when that is the number,
 * else the shortest of %1.15g and %1.17g that reads back as it; NaN and infinities as null. */
static void jnum(brr_buf *out, double d) {
  if (isnan(d) || isinf(d)) {
    brr_buf_append(out, "null", 4);
    return;
  }
  int as_int = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
  if (d == (double)as_int) {
    jint(out, as_int);
    return;
  }
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%1.15g", d);
  double back = strtod(tmp, NULL);
  double most = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
  if (!(fabs(back - d) <= most * DBL_EPSILON)) n = snprintf(tmp, sizeof tmp, "%1.17g", d);
  brr_buf_append(out, tmp, (size_t)n);
}

#define JLIT(out, lit) brr_buf_append((out), (lit), sizeof(lit) - 1)

static void json_node(brr_buf *out, const brr_graph *g, const brr_node *n) {
  JLIT(out, "{\"id\":");
  jstr(out, n->id);
  JLIT(out, ",\"step\":");
  jstr_or_null(out, g->cfg && n->step < g->cfg->n_steps ? g->cfg->steps[n->step].name.s : NULL);
  JLIT(out, ",\"kind\":");
  jstr(out, brr_node_kind_name(n->kind));
  JLIT(out, ",\"platform\":");
  jstr_or_null(out, n->platform);
  JLIT(out, ",\"image\":");
  jstr_or_null(out, n->kind == BRR_NODE_PUSH ? n->image : NULL);
  JLIT(out, ",\"level\":");
  jnum(out, n->level);
  JLIT(out, ",\"weight\":");
  jnum(out, n->weight);
  if (n->critical) JLIT(out, ",\"critical\":true,\"pool\":");
  else JLIT(out, ",\"critical\":false,\"pool\":");
  jstr_or_null(out, n->pool);
  brr_buf_putc(out, '}');
}

static void json_edge(brr_buf *out, const brr_graph *g, const brr_edge *e) {
  JLIT(out, "{\"from\":");
  jstr(out, g->nodes[e->from].id);
  JLIT(out, ",\"to\":");
  jstr(out, g->nodes[e->to].id);
  JLIT(out, ",\"reason\":");
  jstr(out, brr_edge_reason_name(e->reason));
  JLIT(out, ",\"detail\":");
  jstr_or_null(out, e->detail);
  brr_buf_putc(out, '}');
}

/* Where the document goes: `out` alone, or `out` passed on to `f` in pieces of about 64 KB,
 * so a big graph is never held whole (4 MB at 10,000 steps). */
typedef struct jsink {
  brr_buf *out;
  FILE *f;
  bool failed;
} jsink;

static void jflush(jsink *j, bool last) {
  if (!j->f || (!last && j->out->len < 65536)) return;
  if (j->out->len && fwrite(j->out->data, 1, j->out->len, j->f) != j->out->len) j->failed = true;
  brr_buf_reset(j->out);
}

static void json_ids(jsink *j, const brr_graph *g, const size_t *v, size_t n) {
  for (size_t k = 0; k < n; k++) {
    if (k) brr_buf_putc(j->out, ',');
    jstr(j->out, g->nodes[v[k]].id);
    jflush(j, false);
  }
}

static void render_json(const brr_graph *g, jsink *j) {
  brr_buf *out = j->out;
  JLIT(out, "{\"format_version\":\"1\",\"nodes\":[");
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (i) brr_buf_putc(out, ',');
    json_node(out, g, &g->nodes[i]);
    jflush(j, false);
  }
  JLIT(out, "],\"edges\":[");
  for (size_t k = 0; k < g->n_edges; k++) {
    if (k) brr_buf_putc(out, ',');
    json_edge(out, g, &g->edges[k]);
    jflush(j, false);
  }
  JLIT(out, "],\"order\":[");
  json_ids(j, g, g->order, g->n_nodes);
  JLIT(out, "],\"critical_path\":[");
  json_ids(j, g, g->critical_path, g->n_critical);
  JLIT(out, "]}\n");
  jflush(j, true);
}

void brr_graph_render(const brr_graph *g, brr_graph_format fmt, brr_buf *out) {
  switch (fmt) {
  case BRR_GRAPH_DOT: render_dot(g, out); break;
  case BRR_GRAPH_MERMAID: render_mermaid(g, out); break;
  case BRR_GRAPH_JSON: {
    jsink j = {out, NULL, false};
    render_json(g, &j);
    break;
  }
  case BRR_GRAPH_TEXT:
  default: render_text(g, out); break;
  }
}

int brr_graph_render_file(const brr_graph *g, brr_graph_format fmt, FILE *f) {
  brr_buf out = BRR_BUF_INIT;
  jsink j = {&out, f, false};
  if (fmt == BRR_GRAPH_JSON) {
    render_json(g, &j);
  } else {
    brr_graph_render(g, fmt, &out);
    jflush(&j, true);
  }
  brr_buf_free(&out);
  return j.failed || fflush(f) != 0 ? -1 : 0;
}
