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
  if (n->builder) brr_buf_printf(out, ", builder %s", n->builder);
  if (n->pool) brr_buf_printf(out, ", pool %s", n->pool);
  if (n->base_from_build_registry) brr_buf_puts(out, ", base from the build registry");
  brr_buf_printf(out, ", %g s%s)\n", n->weight, n->measured ? " measured" : "");
  if (n->incr_note) brr_buf_printf(out, "      incremental: %s\n", n->incr_note);
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

#define DOT_CRITICAL "#d62728"

/* "12.3 s" with a unit that reads well: weights run from tenths of seconds to hours */
static void dot_weight(brr_buf *b, const brr_node *n) {
  long t = (long)(n->weight + 0.5);
  if (t >= 60) brr_buf_printf(b, "%ldm%02lds", t / 60, t % 60);
  else brr_buf_printf(b, "%g s", n->weight);
  if (n->measured) brr_buf_puts(b, " (measured)");
}

static void dot_node(const brr_graph *g, size_t i, const char *indent, brr_buf *out) {
  const brr_node *n = &g->nodes[i];
  brr_buf_puts(out, indent);
  dot_str(out, n->id);
  brr_buf label = BRR_BUF_INIT;
  brr_buf_printf(&label, "%s\n%s, ", n->id, brr_node_kind_name(n->kind));
  dot_weight(&label, n);
  brr_buf_puts(out, " [label=");
  dot_str(out, label.data);
  brr_buf_free(&label);
  brr_buf_puts(out, n->critical ? ", color=\"" DOT_CRITICAL "\", penwidth=2];\n" : "];\n");
}

/* The label of an edge: its reason, and its detail (the image, the artifacts path) */
static void dot_edge_label(brr_buf *out, const brr_edge *e) {
  brr_buf l = BRR_BUF_INIT;
  brr_buf_puts(&l, brr_edge_reason_name(e->reason));
  if (e->detail) brr_buf_printf(&l, "\n%s", e->detail);
  brr_buf_puts(out, " [label=");
  dot_str(out, l.data);
  brr_buf_free(&l);
}

static void dot_edge_style(brr_buf *out, brr_edge_reason r, bool critical) {
  const char *line = inferred(r) ? "dashed" : policy(r) ? "dotted" : NULL;
  if (line) brr_buf_printf(out, ", style=%s", line);
  if (critical) brr_buf_puts(out, ", color=\"" DOT_CRITICAL "\", penwidth=2");
  brr_buf_puts(out, "];\n");
}

/* Moving-tag pushes wait for every immutable push: N x M edges. When that is more than
 * N + M, one barrier node stands for them. */
static bool dot_moving_barrier(const brr_graph *g, bool *from, bool *to) {
  size_t n_edges = 0, n_from = 0, n_to = 0;
  for (size_t k = 0; k < g->n_edges; k++) {
    const brr_edge *e = &g->edges[k];
    if (e->reason != BRR_EDGE_MOVING_TAG) continue;
    n_edges++;
    if (!from[e->from]) n_from++;
    if (!to[e->to]) n_to++;
    from[e->from] = to[e->to] = true;
  }
  return n_edges > n_from + n_to;
}

static void dot_legend(brr_buf *out) {
  brr_buf_puts(out,
               "  subgraph cluster_legend {\n    label=\"legend\"; fontsize=10; color=gray;\n"
               "    node [shape=plaintext, fontsize=9];\n"
               "    legend_a [label=\"\"]; legend_b [label=\"\"]; legend_c [label=\"\"]; legend_d [label=\"\"];\n"
               "    legend_e [label=\"\"]; legend_f [label=\"\"]; legend_g [label=\"\"]; legend_h [label=\"\"];\n"
               "    legend_a -> legend_b [label=\"critical path\", color=\"" DOT_CRITICAL "\", penwidth=2];\n"
               "    legend_c -> legend_d [label=\"stated (task, depends, platform)\"];\n"
               "    legend_e -> legend_f [label=\"inferred (image, artifacts)\", style=dashed];\n"
               "    legend_g -> legend_h [label=\"policy (push-barrier, moving-tag, serial)\", style=dotted];\n"
               "  }\n");
}

static void render_dot(const brr_graph *g, brr_buf *out) {
  size_t *next = critical_next(g);
  brr_buf_puts(out, "digraph brr {\n  rankdir=LR;\n  node [shape=box, fontsize=10, height=0.25];\n"
                    "  edge [fontsize=9];\n");
  /* each step's nodes in a cluster, build-level nodes (pushes) outside */
  size_t n_steps = g->cfg ? g->cfg->n_steps : 0;
  bool *done = brr_xcalloc(g->n_nodes + 1, sizeof(bool));
  for (size_t i = 0; i < g->n_nodes; i++) {
    size_t st = g->nodes[i].step;
    if (done[i] || st == BRR_NO_STEP || st >= n_steps) continue;
    brr_buf_printf(out, "  subgraph cluster_%zu {\n    label=", st);
    dot_str(out, g->cfg->steps[st].name.s ? g->cfg->steps[st].name.s : "");
    brr_buf_puts(out, "; fontsize=11; color=gray70;\n");
    for (size_t j = i; j < g->n_nodes; j++) {
      if (g->nodes[j].step != st) continue;
      dot_node(g, j, "    ", out);
      done[j] = true;
    }
    brr_buf_puts(out, "  }\n");
  }
  for (size_t i = 0; i < g->n_nodes; i++)
    if (!done[i]) dot_node(g, i, "  ", out);
  free(done);
  bool *from = brr_xcalloc(g->n_nodes + 1, sizeof(bool)), *to = brr_xcalloc(g->n_nodes + 1, sizeof(bool));
  bool barrier = dot_moving_barrier(g, from, to);
  if (barrier)
    brr_buf_puts(out, "  \"moving-tag barrier\" [shape=circle, width=0.15, label=\"\", "
                      "xlabel=\"moving tags wait for every immutable push\", fontsize=9];\n");
  for (size_t k = 0; k < g->n_edges; k++) {
    const brr_edge *e = &g->edges[k];
    if (barrier && e->reason == BRR_EDGE_MOVING_TAG) continue;
    brr_buf_puts(out, "  ");
    dot_str(out, g->nodes[e->from].id);
    brr_buf_puts(out, " -> ");
    dot_str(out, g->nodes[e->to].id);
    dot_edge_label(out, e);
    dot_edge_style(out, e->reason, edge_critical(next, e));
  }
  for (size_t i = 0; barrier && i < g->n_nodes; i++) {
    if (!from[i]) continue;
    brr_buf_puts(out, "  ");
    dot_str(out, g->nodes[i].id);
    brr_buf_puts(out, " -> \"moving-tag barrier\" [label=\"moving-tag\"");
    dot_edge_style(out, BRR_EDGE_MOVING_TAG, false);
  }
  for (size_t i = 0; barrier && i < g->n_nodes; i++) {
    if (!to[i]) continue;
    brr_buf_puts(out, "  \"moving-tag barrier\" -> ");
    dot_str(out, g->nodes[i].id);
    brr_buf_puts(out, " [label=\"moving-tag\"");
    dot_edge_style(out, BRR_EDGE_MOVING_TAG, false);
  }
  free(from);
  free(to);
  dot_legend(out);
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
  /* only on the builds a platform-builders entry sends to a builder */
  if (n->builder) {
    JLIT(out, ",\"builder\":");
    jstr(out, n->builder);
  }
  if (n->incr_note) {
    if (n->incr_reused) JLIT(out, ",\"incremental\":{\"reused\":true,\"note\":");
    else JLIT(out, ",\"incremental\":{\"reused\":false,\"note\":");
    jstr(out, n->incr_note);
    brr_buf_putc(out, '}');
  }
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
