/* Printing a graph for --graph: text for people, DOT and Mermaid for pictures, JSON for
 * tools. Every format is a pure function of the graph: the same graph gives the same bytes. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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
  brr_buf_printf(out, ", %g s%s)\n", n->weight, n->measured ? " measured" : "");
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

/* The document is printed one element at a time: cJSON writes each node, edge and id (all
 * escaping and number formatting are its), and the few fixed bytes between them are the
 * same that cJSON_PrintUnformatted would put there. A graph of 10,000 steps would otherwise
 * be a tree of half a million cJSON items in memory at once. Strings are references: the
 * graph outlives every item. */
typedef struct jout {
  brr_buf *out;
  char *scratch;
  int cap;
} jout;

static void jput(jout *j, cJSON *item) {
  while (!cJSON_PrintPreallocated(item, j->scratch, j->cap, false)) {
    j->cap *= 2;
    j->scratch = brr_xrealloc(j->scratch, (size_t)j->cap);
  }
  brr_buf_puts(j->out, j->scratch);
  cJSON_Delete(item);
}

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateStringReference(s) : cJSON_CreateNull(); }

static cJSON *json_node(const brr_graph *g, const brr_node *n) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObjectCS(o, "id", cJSON_CreateStringReference(n->id));
  const char *step = g->cfg && n->step < g->cfg->n_steps ? g->cfg->steps[n->step].name.s : NULL;
  cJSON_AddItemToObjectCS(o, "step", str_or_null(step));
  cJSON_AddItemToObjectCS(o, "kind", cJSON_CreateStringReference(brr_node_kind_name(n->kind)));
  cJSON_AddItemToObjectCS(o, "platform", str_or_null(n->platform));
  cJSON_AddItemToObjectCS(o, "image", str_or_null(n->kind == BRR_NODE_PUSH ? n->image : NULL));
  cJSON_AddItemToObjectCS(o, "level", cJSON_CreateNumber(n->level));
  cJSON_AddItemToObjectCS(o, "weight", cJSON_CreateNumber(n->weight));
  cJSON_AddItemToObjectCS(o, "critical", cJSON_CreateBool(n->critical));
  cJSON_AddItemToObjectCS(o, "pool", str_or_null(n->pool));
  return o;
}

static cJSON *json_edge(const brr_graph *g, const brr_edge *e) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObjectCS(o, "from", cJSON_CreateStringReference(g->nodes[e->from].id));
  cJSON_AddItemToObjectCS(o, "to", cJSON_CreateStringReference(g->nodes[e->to].id));
  cJSON_AddItemToObjectCS(o, "reason", cJSON_CreateStringReference(brr_edge_reason_name(e->reason)));
  cJSON_AddItemToObjectCS(o, "detail", str_or_null(e->detail));
  return o;
}

static void json_ids(jout *j, const brr_graph *g, const size_t *v, size_t n) {
  for (size_t k = 0; k < n; k++) {
    if (k) brr_buf_putc(j->out, ',');
    jput(j, cJSON_CreateStringReference(g->nodes[v[k]].id));
  }
}

static void render_json(const brr_graph *g, brr_buf *out) {
  jout j = {out, brr_xmalloc(4096), 4096};
  brr_buf_puts(out, "{\"format_version\":\"1\",\"nodes\":[");
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (i) brr_buf_putc(out, ',');
    jput(&j, json_node(g, &g->nodes[i]));
  }
  brr_buf_puts(out, "],\"edges\":[");
  for (size_t k = 0; k < g->n_edges; k++) {
    if (k) brr_buf_putc(out, ',');
    jput(&j, json_edge(g, &g->edges[k]));
  }
  brr_buf_puts(out, "],\"order\":[");
  json_ids(&j, g, g->order, g->n_nodes);
  brr_buf_puts(out, "],\"critical_path\":[");
  json_ids(&j, g, g->critical_path, g->n_critical);
  brr_buf_puts(out, "]}\n");
  free(j.scratch);
}

void brr_graph_render(const brr_graph *g, brr_graph_format fmt, brr_buf *out) {
  switch (fmt) {
  case BRR_GRAPH_DOT: render_dot(g, out); break;
  case BRR_GRAPH_MERMAID: render_mermaid(g, out); break;
  case BRR_GRAPH_JSON: render_json(g, out); break;
  case BRR_GRAPH_TEXT:
  default: render_text(g, out); break;
  }
}
