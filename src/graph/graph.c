/* The graph data structure and its algorithms: adjacency, cycle report, topological order,
 * levels, priorities (heaviest path to the end) and the critical path. O(V+E) apart from
 * the ready heap of the one-slot order (O(V log V)). */
#include <stdlib.h>
#include <string.h>

#include "brr/graph.h"

static const char *const KIND_NAMES[BRR_NODE_KIND_COUNT] = {
    "build", "platform-build", "manifest", "run", "post-build", "commit", "push", "pypi-push",
    "remote",
};

static const char *const REASON_NAMES[BRR_EDGE_REASON_COUNT] = {
    "task", "depends", "image", "artifacts", "platform", "push-barrier", "moving-tag", "serial",
};

const char *brr_node_kind_name(brr_node_kind k) {
  return (unsigned)k < BRR_NODE_KIND_COUNT ? KIND_NAMES[k] : "?";
}

const char *brr_edge_reason_name(brr_edge_reason r) {
  return (unsigned)r < BRR_EDGE_REASON_COUNT ? REASON_NAMES[r] : "?";
}

double brr_node_default_weight(brr_node_kind k) {
  /* rough seconds on a 2-core machine (see shared notes): a build with a RUN is a few
   * container lifecycles, a platform build under emulation several times that */
  switch (k) {
  case BRR_NODE_BUILD: return 10;
  case BRR_NODE_PLATFORM_BUILD: return 20;
  case BRR_NODE_MANIFEST: return 1;
  case BRR_NODE_RUN: return 5;
  case BRR_NODE_POST_BUILD: return 5;
  case BRR_NODE_COMMIT: return 0.5;
  case BRR_NODE_PUSH: return 2;
  case BRR_NODE_PYPI_PUSH: return 3;
  case BRR_NODE_REMOTE: return 5;
  default: return 1;
  }
}

const char *brr_remote_host(const brr_config *cfg, const char *host) {
  const brr_value *bs = cfg ? cfg->global.build_servers : NULL;
  if (!host || !brr_val_is(bs, BRR_VAL_MAP)) return host;
  /* the first server (in file order) whose alias list holds the name */
  for (size_t i = 0; i < bs->u.map.n; i++) {
    const brr_value *aliases = bs->u.map.v[i].val;
    if (!brr_val_is(aliases, BRR_VAL_LIST)) continue;
    for (size_t k = 0; k < aliases->u.list.n; k++) {
      const char *a = brr_val_cstr(aliases->u.list.v[k]);
      const char *server = brr_val_cstr(bs->u.map.v[i].key);
      if (a && server && strcmp(a, host) == 0) return server;
    }
  }
  return host;
}

brr_graph *brr_graph_new(const brr_config *cfg) {
  brr_arena *a = brr_arena_new();
  brr_graph *g = brr_arena_alloc(a, sizeof *g);
  g->arena = a;
  g->cfg = cfg;
  return g;
}

void brr_graph_free(brr_graph *g) {
  if (!g) return;
  brr_strmap_free(&g->ids);
  free(g->nodes);
  free(g->edges);
  brr_arena_free(g->arena);
}

size_t brr_graph_add_node(brr_graph *g, const char *id, brr_node_kind kind, size_t step) {
  if (g->n_nodes == g->cap_nodes) {
    size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
    /* on the heap, not in the arena: growing there would keep every smaller copy (3 MB of
     * the 10,000-step graph's nodes and edges) */
    g->nodes = brr_xrealloc(g->nodes, cap * sizeof(brr_node));
    g->cap_nodes = cap;
  }
  size_t i = g->n_nodes++;
  brr_node *n = &g->nodes[i];
  memset(n, 0, sizeof *n);
  n->id = brr_arena_strdup(g->arena, id);
  n->kind = kind;
  n->step = step;
  n->base_step = BRR_NO_STEP;
  n->weight = brr_node_default_weight(kind);
  brr_strmap_put(&g->ids, n->id, i);
  return i;
}

size_t brr_graph_add_edge(brr_graph *g, size_t from, size_t to, brr_edge_reason reason,
                          brr_mark mark, const char *detail) {
  /* duplicates are rare and cheap to find from the smaller side at finish time; here we
   * only check the most recent edges, which is where the compiler repeats itself */
  for (size_t k = g->n_edges; k > 0 && k + 8 > g->n_edges; k--) {
    const brr_edge *e = &g->edges[k - 1];
    if (e->from == from && e->to == to) return k - 1;
  }
  if (g->n_edges == g->cap_edges) {
    size_t cap = g->cap_edges ? g->cap_edges * 2 : 128;
    g->edges = brr_xrealloc(g->edges, cap * sizeof(brr_edge));
    g->cap_edges = cap;
  }
  size_t i = g->n_edges++;
  g->edges[i] = (brr_edge){from, to, reason, mark, detail ? brr_arena_strdup(g->arena, detail) : NULL};
  return i;
}

/* Drop repeated (from, to) pairs, keeping the first, so every later pass sees each pair once. */
static void dedupe_edges(brr_graph *g) {
  size_t *last = brr_xmalloc(g->n_nodes * sizeof(size_t));
  for (size_t i = 0; i < g->n_nodes; i++) last[i] = BRR_NO_STEP;
  /* bucket edges by `from`, then mark seen targets per bucket */
  size_t *count = brr_xcalloc(g->n_nodes + 1, sizeof(size_t));
  for (size_t k = 0; k < g->n_edges; k++) count[g->edges[k].from + 1]++;
  for (size_t i = 0; i < g->n_nodes; i++) count[i + 1] += count[i];
  size_t *byfrom = brr_xmalloc((g->n_edges ? g->n_edges : 1) * sizeof(size_t));
  size_t *fill = brr_xmalloc((g->n_nodes + 1) * sizeof(size_t));
  memcpy(fill, count, (g->n_nodes + 1) * sizeof(size_t));
  for (size_t k = 0; k < g->n_edges; k++) byfrom[fill[g->edges[k].from]++] = k;
  bool *drop = brr_xcalloc(g->n_edges ? g->n_edges : 1, sizeof(bool));
  for (size_t f = 0; f < g->n_nodes; f++) {
    for (size_t j = count[f]; j < count[f + 1]; j++) {
      size_t k = byfrom[j];
      size_t to = g->edges[k].to;
      if (last[to] == f) drop[k] = true;
      else last[to] = f;
    }
  }
  size_t w = 0;
  for (size_t k = 0; k < g->n_edges; k++)
    if (!drop[k]) g->edges[w++] = g->edges[k];
  g->n_edges = w;
  free(last);
  free(count);
  free(byfrom);
  free(fill);
  free(drop);
}

static void build_adjacency(brr_graph *g) {
  for (size_t i = 0; i < g->n_nodes; i++) g->nodes[i].n_in = g->nodes[i].n_out = 0;
  for (size_t k = 0; k < g->n_edges; k++) {
    g->nodes[g->edges[k].from].n_out++;
    g->nodes[g->edges[k].to].n_in++;
  }
  size_t *pool = brr_arena_alloc(g->arena, (2 * g->n_edges + 1) * sizeof(size_t));
  for (size_t i = 0; i < g->n_nodes; i++) {
    brr_node *n = &g->nodes[i];
    n->in = pool;
    pool += n->n_in;
    n->out = pool;
    pool += n->n_out;
    n->n_in = n->n_out = 0;
  }
  for (size_t k = 0; k < g->n_edges; k++) {
    brr_node *f = &g->nodes[g->edges[k].from], *t = &g->nodes[g->edges[k].to];
    f->out[f->n_out++] = k;
    t->in[t->n_in++] = k;
  }
}

/* Find one cycle among the nodes Kahn's algorithm could not order, and report it as a path. */
static void report_cycle(brr_graph *g, const size_t *indeg, brr_diags *d) {
  size_t n = g->n_nodes;
  /* walk backwards along incoming edges from an unordered node: every unordered node has an
   * unordered predecessor, so the walk must revisit a node; that closes a cycle */
  size_t start = 0;
  while (start < n && indeg[start] == 0) start++;
  size_t *seen_at = brr_xmalloc(n * sizeof(size_t));
  for (size_t i = 0; i < n; i++) seen_at[i] = BRR_NO_STEP;
  size_t *path_edges = brr_xmalloc((n + 1) * sizeof(size_t));
  size_t len = 0, cur = start;
  while (seen_at[cur] == BRR_NO_STEP) {
    seen_at[cur] = len;
    const brr_node *node = &g->nodes[cur];
    size_t pick = BRR_NO_STEP;
    for (size_t j = 0; j < node->n_in; j++) {
      size_t k = node->in[j];
      if (indeg[g->edges[k].from] > 0) {
        pick = k;
        break;
      }
    }
    path_edges[len++] = pick;
    cur = g->edges[pick].from;
  }
  /* the cycle is path_edges[seen_at[cur] .. len), walked backwards; print it forwards */
  size_t first = seen_at[cur];
  brr_buf b = BRR_BUF_INIT;
  const brr_edge *e0 = &g->edges[path_edges[len - 1]];
  brr_buf_printf(&b, "dependency cycle: %s", g->nodes[e0->from].id);
  for (size_t j = len; j > first; j--) {
    const brr_edge *e = &g->edges[path_edges[j - 1]];
    brr_buf_printf(&b, "\n    -> %s  (%s", g->nodes[e->to].id, brr_edge_reason_name(e->reason));
    if (e->detail) brr_buf_printf(&b, " %s", e->detail);
    if (e->mark.file) {
      char *disp = brr_path_display(e->mark.file);
      brr_buf_printf(&b, ", %s:%u", disp, e->mark.line);
      free(disp);
    }
    brr_buf_putc(&b, ')');
  }
  brr_mark m = BRR_MARK_NONE;
  for (size_t j = len; j > first; j--)
    if (g->edges[path_edges[j - 1]].mark.file) {
      m = g->edges[path_edges[j - 1]].mark;
      break;
    }
  brr_diag_error(d, m, NULL, "%s", b.data);
  brr_buf_free(&b);
  free(seen_at);
  free(path_edges);
}

/* Max-heap of node indices by (priority desc, index asc). */
typedef struct heap {
  size_t *v;
  size_t n;
  const brr_graph *g;
} heap;

static bool heap_before(const heap *h, size_t a, size_t b) {
  double pa = h->g->nodes[a].priority, pb = h->g->nodes[b].priority;
  if (pa != pb) return pa > pb;
  return a < b;
}

static void heap_push(heap *h, size_t x) {
  size_t i = h->n++;
  h->v[i] = x;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!heap_before(h, h->v[i], h->v[p])) break;
    size_t t = h->v[i];
    h->v[i] = h->v[p];
    h->v[p] = t;
    i = p;
  }
}

static size_t heap_pop(heap *h) {
  size_t top = h->v[0];
  h->v[0] = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && heap_before(h, h->v[l], h->v[m])) m = l;
    if (r < h->n && heap_before(h, h->v[r], h->v[m])) m = r;
    if (m == i) break;
    size_t t = h->v[i];
    h->v[i] = h->v[m];
    h->v[m] = t;
    i = m;
  }
  return top;
}

/* Plain Kahn order (by index) into `topo`; returns how many nodes were ordered. */
static size_t kahn(const brr_graph *g, size_t *topo, size_t *indeg) {
  size_t n = g->n_nodes, head = 0, tail = 0;
  for (size_t i = 0; i < n; i++) {
    indeg[i] = g->nodes[i].n_in;
    if (indeg[i] == 0) topo[tail++] = i;
  }
  while (head < tail) {
    const brr_node *node = &g->nodes[topo[head++]];
    for (size_t j = 0; j < node->n_out; j++) {
      size_t t = g->edges[node->out[j]].to;
      if (--indeg[t] == 0) topo[tail++] = t;
    }
  }
  return tail;
}

static void compute_priorities(brr_graph *g, const size_t *topo) {
  size_t n = g->n_nodes;
  for (size_t i = 0; i < n; i++) g->nodes[i].level = 0;
  for (size_t k = 0; k < n; k++) {
    brr_node *node = &g->nodes[topo[k]];
    for (size_t j = 0; j < node->n_out; j++) {
      brr_node *t = &g->nodes[g->edges[node->out[j]].to];
      if (t->level < node->level + 1) t->level = node->level + 1;
    }
  }
  g->n_levels = 0;
  for (size_t i = 0; i < n; i++)
    if (g->nodes[i].level + 1 > g->n_levels) g->n_levels = g->nodes[i].level + 1;
  for (size_t k = n; k > 0; k--) {
    brr_node *node = &g->nodes[topo[k - 1]];
    double best = 0;
    for (size_t j = 0; j < node->n_out; j++) {
      double p = g->nodes[g->edges[node->out[j]].to].priority;
      if (p > best) best = p;
    }
    node->priority = node->weight + best;
    node->critical = false;
  }
  /* critical path: the heaviest root, then always the heaviest successor */
  g->n_critical = 0;
  g->critical_weight = 0;
  if (n == 0) return;
  size_t cur = BRR_NO_STEP;
  for (size_t i = 0; i < n; i++)
    if (g->nodes[i].n_in == 0 && (cur == BRR_NO_STEP || g->nodes[i].priority > g->nodes[cur].priority)) cur = i;
  if (!g->critical_path) g->critical_path = brr_arena_alloc(g->arena, n * sizeof(size_t));
  g->critical_weight = g->nodes[cur].priority;
  while (cur != BRR_NO_STEP) {
    g->nodes[cur].critical = true;
    g->critical_path[g->n_critical++] = cur;
    const brr_node *node = &g->nodes[cur];
    size_t next = BRR_NO_STEP;
    for (size_t j = 0; j < node->n_out; j++) {
      size_t t = g->edges[node->out[j]].to;
      if (next == BRR_NO_STEP || g->nodes[t].priority > g->nodes[next].priority ||
          (g->nodes[t].priority == g->nodes[next].priority && t < next))
        next = t;
    }
    cur = next;
  }
}

/* The order one slot would start nodes in: ready nodes by priority, ties by index. */
static void compute_order(brr_graph *g) {
  size_t n = g->n_nodes;
  size_t *indeg = brr_xmalloc((n ? n : 1) * sizeof(size_t));
  heap h = {brr_xmalloc((n ? n : 1) * sizeof(size_t)), 0, g};
  for (size_t i = 0; i < n; i++) {
    indeg[i] = g->nodes[i].n_in;
    if (indeg[i] == 0) heap_push(&h, i);
  }
  if (!g->order) g->order = brr_arena_alloc(g->arena, (n ? n : 1) * sizeof(size_t));
  size_t k = 0;
  while (h.n) {
    size_t x = heap_pop(&h);
    g->order[k++] = x;
    const brr_node *node = &g->nodes[x];
    for (size_t j = 0; j < node->n_out; j++) {
      size_t t = g->edges[node->out[j]].to;
      if (--indeg[t] == 0) heap_push(&h, t);
    }
  }
  free(indeg);
  free(h.v);
}

static void recompute(brr_graph *g) {
  size_t n = g->n_nodes;
  size_t *topo = brr_xmalloc((n ? n : 1) * sizeof(size_t));
  size_t *indeg = brr_xmalloc((n ? n : 1) * sizeof(size_t));
  kahn(g, topo, indeg);
  compute_priorities(g, topo);
  compute_order(g);
  free(topo);
  free(indeg);
}

int brr_graph_finish(brr_graph *g, brr_diags *d) {
  dedupe_edges(g);
  build_adjacency(g);
  size_t n = g->n_nodes;
  size_t *topo = brr_xmalloc((n ? n : 1) * sizeof(size_t));
  size_t *indeg = brr_xmalloc((n ? n : 1) * sizeof(size_t));
  size_t ordered = kahn(g, topo, indeg);
  if (ordered < n) {
    report_cycle(g, indeg, d);
    free(topo);
    free(indeg);
    return BRR_ECONFIG;
  }
  /* the order just found serves the priorities too (recompute would sort again) */
  compute_priorities(g, topo);
  compute_order(g);
  free(topo);
  free(indeg);
  return 0;
}

void brr_graph_set_weights(brr_graph *g, brr_weight_fn fn, void *ud) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    double w = fn(ud, &g->nodes[i]);
    if (w >= 0) {
      g->nodes[i].weight = w;
      g->nodes[i].measured = true;
    }
  }
  recompute(g);
}
