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
