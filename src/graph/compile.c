/* brr_graph_compile: the validated config -> the DAG of units of work. This file sets the
 * steps up (platforms, selection, buildrunner's order); infer.c finds the edges between
 * steps; emit.c makes the nodes and edges. */
#include <stdlib.h>
#include <string.h>

#include "compile.h"

/* The results dir as a path relative to the build dir, when it lies inside it. */
static const char *results_rel(const brr_config *cfg) {
  if (!cfg->results_dir) return "buildrunner.results";
  if (cfg->build_dir && brr_path_is_under(cfg->results_dir, cfg->build_dir) &&
      strlen(cfg->results_dir) > strlen(cfg->build_dir))
    return cfg->results_dir + strlen(cfg->build_dir) + (strcmp(cfg->build_dir, "/") == 0 ? 0 : 1);
  return NULL;
}

/* spec §7 item 6: --platform collapses `platforms` to itself; disable-multi-platform keeps the
 * first entry naming the native platform, else the first entry. */
static void setup_platforms(compiler *c, size_t i) {
  const brr_build *b = c->cfg->steps[i].build;
  stepinfo *si = &c->si[i];
  if (!b) return;
  if (b->platforms.n == 0) {
    si->platform = c->opts->platform ? c->opts->platform : b->platform.s;
    return;
  }
  si->mp = true;
  bool disable = c->opts->disable_multi_platform || c->cfg->global.disable_multi_platform == BRR_TRUE;
  if (!c->opts->platform && !disable) {
    si->n_platforms = b->platforms.n;
    si->platforms = brr_arena_alloc(c->tmp, si->n_platforms * sizeof *si->platforms);
    for (size_t k = 0; k < si->n_platforms; k++) si->platforms[k] = b->platforms.v[k].s;
    return;
  }
  const char *keep = c->opts->platform;
  for (size_t k = 0; !keep && k < b->platforms.n; k++)
    if (strstr(b->platforms.v[k].s, c->native)) keep = b->platforms.v[k].s;
  if (!keep) keep = b->platforms.v[0].s;
  si->n_platforms = 1;
  si->platforms = brr_arena_alloc(c->tmp, sizeof *si->platforms);
  si->platforms[0] = keep;
}

static void setup_step(compiler *c, size_t i) {
  const brr_step *st = &c->cfg->steps[i];
  stepinfo *si = &c->si[i];
  si->build = si->manifest = si->run = si->post = si->commit = si->remote = BRR_NO_STEP;
  si->empty = !st->build && !st->run && !st->n_commit && !st->n_push && !st->remote;
  setup_platforms(c, i);
}

/* ---- --steps and --with-deps ------------------------------------------------------------- */

static void select_listed(compiler *c) {
  brr_buf missing = BRR_BUF_INIT;
  const char *first_missing = NULL;
  size_t n_missing = 0;
  for (char **s = c->opts->steps; *s; s++) {
    size_t k;
    if (brr_strmap_get(&c->names, *s, &k)) {
      c->si[k].selected = true;
      continue;
    }
    brr_buf_printf(&missing, "%s%s", missing.len ? ", " : "", *s);
    if (!n_missing++) first_missing = *s;
  }
  if (n_missing) {
    const char **cands = brr_arena_alloc(c->tmp, (c->cfg->n_steps + 1) * sizeof *cands);
    for (size_t i = 0; i < c->cfg->n_steps; i++) cands[i] = c->cfg->steps[i].name.s;
    /* a suggestion for each name that is close to a step's */
    brr_buf hints = BRR_BUF_INIT;
    size_t n_hints = 0;
    for (char **s = c->opts->steps; *s; s++) {
      size_t k;
      if (brr_strmap_get(&c->names, *s, &k)) continue;
      const char *best = brr_suggest(*s, cands, c->cfg->n_steps);
      if (!best) continue;
      if (n_missing == 1) brr_buf_printf(&hints, "'%s'", best);
      else brr_buf_printf(&hints, "%s'%s' for '%s'", n_hints ? ", " : "", best, *s);
      n_hints++;
    }
    (void)first_missing;
    if (n_hints) brr_diag_error(c->d, BRR_MARK_NONE, NULL, "The following steps do not exist: %s (did you mean %s?)", missing.data, hints.data);
    else brr_diag_error(c->d, BRR_MARK_NONE, NULL, "The following steps do not exist: %s", missing.data);
    brr_buf_free(&hints);
    c->err = BRR_ECONFIG;
  }
  brr_buf_free(&missing);
}

/* --with-deps: everything the listed steps need, following every edge but the ones that only
 * keep an image from being overwritten. */
static void select_deps(compiler *c) {
  size_t n = c->cfg->n_steps;
  size_t *start = brr_xcalloc(n + 1, sizeof *start), *by_to = brr_xmalloc((c->n_se + 1) * sizeof *by_to);
  for (size_t k = 0; k < c->n_se; k++) start[c->se[k].to + 1]++;
  for (size_t i = 0; i < n; i++) start[i + 1] += start[i];
  size_t *fill = brr_xmalloc((n + 1) * sizeof *fill);
  memcpy(fill, start, (n + 1) * sizeof *fill);
  for (size_t k = 0; k < c->n_se; k++) by_to[fill[c->se[k].to]++] = k;
  size_t *queue = brr_xmalloc((n + 1) * sizeof *queue), head = 0, tail = 0;
  for (size_t i = 0; i < n; i++)
    if (c->si[i].selected) queue[tail++] = i;
  while (head < tail) {
    size_t t = queue[head++];
    for (size_t j = start[t]; j < start[t + 1]; j++) {
      const sedge *e = &c->se[by_to[j]];
      if (e->ordering || c->si[e->from].selected) continue;
      c->si[e->from].selected = true;
      queue[tail++] = e->from;
    }
  }
  free(start);
  free(by_to);
  free(fill);
  free(queue);
}

static void select_steps(compiler *c) {
  if (!c->opts->steps) {
    for (size_t i = 0; i < c->cfg->n_steps; i++) c->si[i].selected = true;
    return;
  }
  select_listed(c);
  if (!c->err && c->opts->with_deps) select_deps(c);
}

/* ---- buildrunner's order (--serial) ---------------------------------------------------- */

/* graphlib.TopologicalSorter(...).static_order() as buildrunner drives it (spec §4): add()
 * per dependency in file order, a name's first mention fixing its rank, then waves. */
static void rank_graphlib(compiler *c) {
  const brr_config *cfg = c->cfg;
  size_t n = cfg->n_steps, n_ins = 0, n_e = 0;
  size_t *rank = brr_xmalloc((n + 1) * sizeof *rank), *ins = brr_xmalloc((n + 1) * sizeof *ins);
  size_t *npred = brr_xcalloc(n + 1, sizeof *npred);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += cfg->steps[i].depends.n;
  size_t *efrom = brr_xmalloc((total + 1) * sizeof *efrom), *eto = brr_xmalloc((total + 1) * sizeof *eto);
  for (size_t i = 0; i < n; i++) rank[i] = BRR_NO_STEP;
#define MENTION(x) do { if (rank[x] == BRR_NO_STEP) { rank[x] = n_ins; ins[n_ins++] = (x); } } while (0)
  for (size_t i = 0; i < n; i++) {
    const brr_step *st = &cfg->steps[i];
    if (!st->depends.n) MENTION(i);
    for (size_t j = 0; j < st->depends.n; j++) {
      size_t k;
      MENTION(i);
      if (!brr_strmap_get(&c->names, st->depends.v[j].s, &k)) continue;
      MENTION(k);
      efrom[n_e] = k;
      eto[n_e++] = i;
      npred[i]++;
    }
  }
#undef MENTION
  /* successors of each node in edge-insertion order */
  size_t *start = brr_xcalloc(n + 1, sizeof *start), *succ = brr_xmalloc((n_e + 1) * sizeof *succ);
  for (size_t k = 0; k < n_e; k++) start[efrom[k] + 1]++;
  for (size_t i = 0; i < n; i++) start[i + 1] += start[i];
  size_t *fill = brr_xmalloc((n + 1) * sizeof *fill);
  memcpy(fill, start, (n + 1) * sizeof *fill);
  for (size_t k = 0; k < n_e; k++) succ[fill[efrom[k]]++] = eto[k];
  size_t *order = brr_xmalloc((n + 1) * sizeof *order), n_order = 0, wave_start = 0;
  for (size_t r = 0; r < n_ins; r++)
    if (npred[ins[r]] == 0) order[n_order++] = ins[r];
  while (wave_start < n_order) {
    size_t wave_end = n_order;
    for (size_t w = wave_start; w < wave_end; w++)
      for (size_t j = start[order[w]]; j < start[order[w] + 1]; j++)
        if (--npred[succ[j]] == 0) order[n_order++] = succ[j];
    wave_start = wave_end;
  }
  for (size_t r = 0; r < n_order; r++) c->si[order[r]].rank = r;
  free(rank), free(ins), free(npred), free(efrom), free(eto), free(start), free(succ), free(fill), free(order);
}

static void rank_steps(compiler *c) {
  if (c->cfg->has_version && c->cfg->version >= 2.0) rank_graphlib(c);
  else
    for (size_t i = 0; i < c->cfg->n_steps; i++) c->si[i].rank = i;
}

/* ---- entry point ------------------------------------------------------------------------- */

int brr_graph_compile(const brr_config *cfg, const brr_graph_opts *opts, brr_graph **out, brr_diags *d) {
  static const brr_graph_opts defaults;
  compiler c = {.cfg = cfg, .opts = opts ? opts : &defaults, .d = d, .tmp = brr_arena_new()};
  c.g = brr_graph_new(cfg);
  c.native = c.opts->native_platform ? c.opts->native_platform : "linux/amd64";
  c.results_rel = results_rel(cfg);
  size_t n = cfg->n_steps;
  c.si = brr_arena_alloc(c.tmp, (n ? n : 1) * sizeof *c.si);
  c.builder_turn = brr_arena_alloc(c.tmp, (cfg->global.platform_builders.n + 1) * sizeof *c.builder_turn);
  for (size_t i = 0; i < n; i++) brr_strmap_put(&c.names, cfg->steps[i].name.s, i);
  for (size_t i = 0; i < n; i++) setup_step(&c, i);
  brr_graph__infer(&c);
  if (!c.err) select_steps(&c);
  if (!c.err && c.opts->serial) rank_steps(&c);
  if (!c.err) brr_graph__emit(&c);
  int rc = c.err ? c.err : brr_graph_finish(c.g, d);
  free(c.se);
  brr_strmap_free(&c.names);
  brr_arena_free(c.tmp);
  if (rc != 0) {
    brr_graph_free(c.g);
    *out = NULL;
    return rc;
  }
  *out = c.g;
  return 0;
}
