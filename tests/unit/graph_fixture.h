/* Configs built in C for the graph tests: the typed model (brr_config) filled in directly,
 * with marks that look like a buildrunner.yaml (step i starts at line 10*i + 2). */
#ifndef BRR_TEST_GRAPH_FIXTURE_H
#define BRR_TEST_GRAPH_FIXTURE_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "brr/config.h"
#include "brr/graph.h"
#include "test_lookup.h"

#define FX_FILE "buildrunner.yaml"

static inline brr_mark fx_mark(unsigned line) { return (brr_mark){FX_FILE, line, 5}; }

static inline brr_config *fx_new(size_t max_steps) {
  brr_arena *a = brr_arena_new();
  brr_config *cfg = brr_arena_alloc(a, sizeof *cfg);
  cfg->arena = a;
  cfg->steps = brr_arena_alloc(a, max_steps * sizeof *cfg->steps);
  cfg->use_legacy_builder = true;
  cfg->global.docker_registry = "docker.io";
  cfg->global.build_registry = "local";
  cfg->global.disable_multi_platform = BRR_UNSET;
  return cfg;
}

static inline void fx_free(brr_config *cfg) { brr_arena_free(cfg->arena); }

static inline brr_str fx_str(brr_config *cfg, const char *s, unsigned line) {
  return (brr_str){s ? brr_arena_strdup(cfg->arena, s) : NULL, fx_mark(line)};
}

static inline brr_step *fx_step(brr_config *cfg, const char *name) {
  size_t i = cfg->n_steps++;
  brr_step *st = &cfg->steps[i];
  st->name = fx_str(cfg, name, (unsigned)(10 * i + 2));
  st->index = i;
  return st;
}

static inline unsigned fx_line(const brr_config *cfg, const brr_step *st, unsigned off) {
  (void)cfg;
  return st->name.mark.line + off;
}

/* NULL-terminated list of strings -> brr_strlist, each entry one line lower. */
static inline brr_strlist fx_vlist(brr_config *cfg, unsigned line, va_list ap) {
  const char *v[64];
  size_t n = 0;
  const char *s;
  while ((s = va_arg(ap, const char *)) && n < 64) v[n++] = s;
  brr_strlist l = {brr_arena_alloc(cfg->arena, (n ? n : 1) * sizeof(brr_str)), n};
  for (size_t i = 0; i < n; i++) l.v[i] = fx_str(cfg, v[i], line + (unsigned)i);
  return l;
}

static inline void fx_depends(brr_config *cfg, brr_step *st, ...) {
  va_list ap;
  va_start(ap, st);
  st->depends = fx_vlist(cfg, fx_line(cfg, st, 1), ap);
  va_end(ap);
}

/* An inline Dockerfile build. */
static inline brr_build *fx_build(brr_config *cfg, brr_step *st, const char *dockerfile) {
  brr_build *b = brr_arena_alloc(cfg->arena, sizeof *b);
  if (dockerfile) {
    b->dockerfile = fx_str(cfg, dockerfile, fx_line(cfg, st, 2));
    b->dockerfile_inline = true;
  }
  b->pull = BRR_UNSET;
  st->build = b;
  return b;
}

static inline void fx_platforms(brr_config *cfg, brr_build *b, ...) {
  va_list ap;
  va_start(ap, b);
  b->platforms = fx_vlist(cfg, b->dockerfile.mark.line + 1, ap);
  va_end(ap);
}

static inline brr_run *fx_run(brr_config *cfg, brr_step *st, const char *image) {
  brr_run *r = brr_arena_alloc(cfg->arena, sizeof *r);
  r->c.image = fx_str(cfg, image, fx_line(cfg, st, 4));
  r->c.pull = r->c.systemd = r->c.systemd_cgroup2 = BRR_UNSET;
  st->run = r;
  return r;
}

static inline void fx_cmd(brr_config *cfg, brr_step *st, const char *cmd) {
  st->run->c.cmd = fx_str(cfg, cmd, fx_line(cfg, st, 5));
}

static inline brr_pushspec *fx_spec(brr_config *cfg, brr_step *st, bool push, const char *repo, va_list ap) {
  brr_pushspec **v = push ? &st->push : &st->commit;
  size_t *n = push ? &st->n_push : &st->n_commit;
  brr_pushspec *nv = brr_arena_alloc(cfg->arena, (*n + 1) * sizeof *nv);
  if (*n) memcpy(nv, *v, *n * sizeof *nv);
  brr_pushspec *ps = &nv[*n];
  unsigned line = fx_line(cfg, st, push ? 7 : 6);
  ps->mark = fx_mark(line);
  ps->repository = fx_str(cfg, repo, line);
  ps->tags = fx_vlist(cfg, line, ap);
  ps->push = push;
  *v = nv;
  (*n)++;
  return ps;
}

/* commit / push: repository and a NULL-terminated list of tags. */
static inline brr_pushspec *fx_commit(brr_config *cfg, brr_step *st, const char *repo, ...) {
  va_list ap;
  va_start(ap, repo);
  brr_pushspec *ps = fx_spec(cfg, st, false, repo, ap);
  va_end(ap);
  return ps;
}

static inline brr_pushspec *fx_push(brr_config *cfg, brr_step *st, const char *repo, ...) {
  va_list ap;
  va_start(ap, repo);
  brr_pushspec *ps = fx_spec(cfg, st, true, repo, ap);
  va_end(ap);
  return ps;
}

/* ---- looking at a compiled graph ---- */

static inline const brr_node *fx_node(const brr_graph *g, const char *id) {
  size_t i = graph_find(g, id);
  return i == BRR_NO_STEP ? NULL : &g->nodes[i];
}

/* The edge from -> to, or NULL. */
static inline const brr_edge *fx_edge(const brr_graph *g, const char *from, const char *to) {
  size_t f = graph_find(g, from), t = graph_find(g, to);
  if (f == BRR_NO_STEP || t == BRR_NO_STEP) return NULL;
  for (size_t j = 0; j < g->nodes[t].n_in; j++) {
    const brr_edge *e = &g->edges[g->nodes[t].in[j]];
    if (e->from == f) return e;
  }
  return NULL;
}

/* Position of a node in the one-slot order. */
static inline size_t fx_pos(const brr_graph *g, const char *id) {
  size_t i = graph_find(g, id);
  for (size_t k = 0; k < g->n_nodes; k++)
    if (g->order[k] == i) return k;
  return BRR_NO_STEP;
}

/* True when `to` is reachable from `from` (it waits for it, directly or not). */
static inline bool fx_reaches(const brr_graph *g, const char *from, const char *to) {
  size_t f = graph_find(g, from), t = graph_find(g, to);
  if (f == BRR_NO_STEP || t == BRR_NO_STEP) return false;
  /* nodes are visited in topological order, so one pass over the order suffices */
  bool *seen = brr_xcalloc(g->n_nodes, sizeof *seen);
  seen[f] = true;
  for (size_t k = 0; k < g->n_nodes; k++) {
    size_t x = g->order[k];
    if (!seen[x]) continue;
    for (size_t j = 0; j < g->nodes[x].n_out; j++) seen[g->edges[g->nodes[x].out[j]].to] = true;
  }
  bool r = seen[t];
  free(seen);
  return r;
}

#endif
