/* Nodes and node edges: each selected step's units of work chained by `task` edges, the
 * step-level edges mapped onto the nodes they concern, buildrunner's order for --serial, and
 * the pushes behind their barrier with moving tags last. */
#include <stdlib.h>
#include <string.h>

#include "compile.h"

/* Node ids are "<step><suffix>" (printf would be most of the compiler's time at 10,000 steps). */
static void set_id(brr_buf *id, const char *step, const char *suffix, const char *more) {
  brr_buf_puts(id, step);
  brr_buf_puts(id, suffix);
  if (more) brr_buf_puts(id, more);
}

static size_t add_node(compiler *c, brr_buf *id, brr_node_kind kind, size_t step) {
  size_t k = brr_graph_add_node(c->g, brr_buf_cstr(id), kind, step);
  brr_buf_reset(id);
  return k;
}

/* The builder `platform-builders` names for `platform`: a string, or a list taken in turn
 * (buildrunner picks at random; turns spread the load as well and keep --graph stable). */
static const char *pick_builder(compiler *c, const char *platform) {
  const brr_kvlist *pb = &c->cfg->global.platform_builders;
  for (size_t i = 0; platform && i < pb->n; i++) {
    if (!brr_streq(pb->v[i].key.s, platform)) continue;
    const brr_value *v = pb->v[i].val;
    if (brr_val_is(v, BRR_VAL_STR)) return brr_val_cstr(v);
    if (brr_val_is(v, BRR_VAL_LIST) && v->u.list.n)
      return brr_val_cstr(v->u.list.v[c->builder_turn[i]++ % v->u.list.n]);
  }
  return NULL;
}

static void set_builder(compiler *c, brr_node *n, const char *builder) {
  n->builder = builder ? brr_arena_strdup(c->g->arena, builder) : NULL;
  n->pool = builder ? brr_arena_printf(c->g->arena, "builder:%s", builder) : "engine";
}

static void make_builds(compiler *c, size_t i, brr_buf *id) {
  const brr_step *st = &c->cfg->steps[i];
  stepinfo *si = &c->si[i];
  const char *name = st->name.s;
  if (!si->mp) {
    set_id(id, name, "/build", NULL);
    si->build = add_node(c, id, BRR_NODE_BUILD, i);
    si->n_build = 1;
    brr_node *n = &c->g->nodes[si->build];
    n->platform = si->platform ? brr_arena_strdup(c->g->arena, si->platform) : NULL;
    /* buildx builds (use-legacy-builder: false) go through platform-builders too */
    set_builder(c, n, c->cfg->use_legacy_builder ? NULL : pick_builder(c, si->platform ? si->platform : c->native));
    return;
  }
  for (size_t k = 0; k < si->n_platforms; k++) {
    set_id(id, name, "/build@", si->platforms[k]);
    size_t x = add_node(c, id, BRR_NODE_PLATFORM_BUILD, i);
    if (k == 0) si->build = x;
    brr_node *n = &c->g->nodes[x];
    n->platform = brr_arena_strdup(c->g->arena, si->platforms[k]);
    set_builder(c, n, pick_builder(c, si->platforms[k]));
    /* emulated platforms take several times as long: start them first */
    if (!strstr(si->platforms[k], c->native)) n->weight *= 3;
  }
  si->n_build = si->n_platforms;
  set_id(id, name, "/manifest", NULL);
  si->manifest = add_node(c, id, BRR_NODE_MANIFEST, i);
  for (size_t k = 0; k < si->n_build; k++)
    brr_graph_add_edge(c->g, si->build + k, si->manifest, BRR_EDGE_PLATFORM, st->name.mark, NULL);
}

static void make_step(compiler *c, size_t i, brr_buf *id) {
  const brr_step *st = &c->cfg->steps[i];
  stepinfo *si = &c->si[i];
  const char *name = st->name.s;
  size_t last = BRR_NO_STEP;
  /* buildrunner runs a step's tasks remote -> build -> run -> push -> commit */
  if (st->remote) {
    set_id(id, name, "/remote", NULL);
    si->remote = last = add_node(c, id, BRR_NODE_REMOTE, i);
    const char *host = brr_remote_host(c->cfg, st->remote->host.s);
    c->g->nodes[si->remote].pool = brr_arena_printf(c->g->arena, "ssh:%s", host ? host : "");
  }
  if (st->build) {
    make_builds(c, i, id);
    if (last != BRR_NO_STEP)
      for (size_t k = 0; k < si->n_build; k++)
        brr_graph_add_edge(c->g, last, si->build + k, BRR_EDGE_TASK, st->name.mark, NULL);
    last = si->mp ? si->manifest : si->build;
  }
  if (st->run) {
    set_id(id, name, "/run", NULL);
    si->run = add_node(c, id, BRR_NODE_RUN, i);
    brr_node *n = &c->g->nodes[si->run];
    const char *plat = c->opts->platform ? c->opts->platform : st->run->platform.s;
    n->platform = plat ? brr_arena_strdup(c->g->arena, plat) : NULL;
    n->pool = "engine";
    if (last != BRR_NO_STEP) brr_graph_add_edge(c->g, last, si->run, BRR_EDGE_TASK, st->name.mark, NULL);
    last = si->run;
    if (st->run->post_build) {
      set_id(id, name, "/post-build", NULL);
      si->post = add_node(c, id, BRR_NODE_POST_BUILD, i);
      c->g->nodes[si->post].pool = "engine";
      brr_graph_add_edge(c->g, last, si->post, BRR_EDGE_TASK, st->name.mark, NULL);
      last = si->post;
    }
  }
  if (st->n_commit || st->n_push) {
    set_id(id, name, "/commit", NULL);
    si->commit = add_node(c, id, BRR_NODE_COMMIT, i);
    c->g->nodes[si->commit].pool = "engine";
    if (last != BRR_NO_STEP) brr_graph_add_edge(c->g, last, si->commit, BRR_EDGE_TASK, st->name.mark, NULL);
  }
}

/* ---- step-level edges onto nodes --------------------------------------------------------- */

/* The contiguous node range a role stands for (an MP build role spans every platform). */
static void role_range(const stepinfo *s, role r, size_t *first, size_t *n) {
  *n = 1;
  switch (r) {
  case ROLE_BUILD:
    if (s->n_build) {
      *first = s->build;
      *n = s->n_build;
      return;
    }
    break;
  case ROLE_RUN: if (s->run != BRR_NO_STEP) { *first = s->run; return; } break;
  case ROLE_POST: if (s->post != BRR_NO_STEP) { *first = s->post; return; } break;
  case ROLE_COMMIT: if (s->commit != BRR_NO_STEP) { *first = s->commit; return; } break;
  case ROLE_MANIFEST: if (s->manifest != BRR_NO_STEP) { *first = s->manifest; return; } break;
  case ROLE_ENTRY:
    if (s->remote != BRR_NO_STEP) {
      *first = s->remote;
    } else if (s->n_build) {
      *first = s->build;
      *n = s->n_build;
    } else {
      *first = s->run != BRR_NO_STEP ? s->run : s->commit;
    }
    return;
  case ROLE_EXIT: break;
  }
  /* a missing role (artifacts of a step without run, ...) means the whole step */
  *first = s->commit != BRR_NO_STEP ? s->commit : s->post != BRR_NO_STEP ? s->post
         : s->run != BRR_NO_STEP ? s->run : s->manifest != BRR_NO_STEP ? s->manifest
         : s->n_build ? s->build : s->remote;
}

static bool keep_sedge(const compiler *c, const sedge *e) {
  if (!c->si[e->from].selected || !c->si[e->to].selected) return false;
  /* --serial is buildrunner's order; an edge against it would be a cycle buildrunner never has */
  return !c->opts->serial || c->si[e->from].rank < c->si[e->to].rank;
}

typedef struct incoming {
  size_t *start, *by_to;    /* step-level edges grouped by target step */
  size_t *stack;            /* empty steps being resolved (for the cycle message) */
  size_t depth;
} incoming;

static void empty_cycle(compiler *c, incoming *in, size_t at) {
  brr_buf b = BRR_BUF_INIT;
  size_t k = in->depth;
  while (k > 0 && in->stack[k - 1] != at) k--;
  brr_buf_printf(&b, "dependency cycle: %s", c->cfg->steps[at].name.s);
  for (size_t j = in->depth; j > k; j--) brr_buf_printf(&b, " -> %s", c->cfg->steps[in->stack[j - 1]].name.s);
  brr_buf_printf(&b, " -> %s", c->cfg->steps[at].name.s);
  brr_diag_error(c->d, c->cfg->steps[at].name.mark, NULL, "%s", b.data);
  brr_buf_free(&b);
  c->err = BRR_ECONFIG;
}

/* A step with no nodes is done when everything it waits for is: stand in those nodes. */
static void resolve_exits(compiler *c, incoming *in, size_t e) {
  stepinfo *s = &c->si[e];
  if (s->state == 2) return;
  if (s->state == 1) {
    empty_cycle(c, in, e);
    return;
  }
  s->state = 1;
  in->stack[in->depth++] = e;
  size_t n = 0, cap = 0;
  size_t *v = NULL;
  for (size_t j = in->start[e]; j < in->start[e + 1] && !c->err; j++) {
    const sedge *x = &c->se[in->by_to[j]];
    if (!keep_sedge(c, x)) continue;
    stepinfo *f = &c->si[x->from];
    if (f->empty) {
      resolve_exits(c, in, x->from);
      for (size_t k = 0; k < f->n_exits; k++) BRR_VEC_PUSH(v, n, cap, f->exits[k]);
    } else {
      size_t first, cnt;
      role_range(f, ROLE_EXIT, &first, &cnt);
      BRR_VEC_PUSH(v, n, cap, first);
    }
  }
  in->depth--;
  s->exits = brr_arena_alloc(c->tmp, (n ? n : 1) * sizeof *s->exits);
  if (n) memcpy(s->exits, v, n * sizeof *v);
  s->n_exits = n;
  free(v);
  s->state = 2;
}

static void emit_sedge(compiler *c, incoming *in, const sedge *e) {
  stepinfo *t = &c->si[e->to], *f = &c->si[e->from];
  if (t->empty || !keep_sedge(c, e)) return;
  size_t tf, tn, ff, fn;
  role_range(t, (role)e->to_role, &tf, &tn);
  const size_t *list = NULL;
  if (f->empty) {
    resolve_exits(c, in, e->from);
    list = f->exits;
    fn = f->n_exits;
    ff = 0;
  } else {
    role_range(f, (role)e->from_role, &ff, &fn);
  }
  /* through a step with no nodes: say which, or a cycle message would not name it */
  const char *detail = e->detail;
  if (f->empty && !detail) detail = brr_arena_printf(c->tmp, "via %s", c->cfg->steps[e->from].name.s);
  for (size_t a = 0; a < fn; a++)
    for (size_t b = 0; b < tn; b++)
      brr_graph_add_edge(c->g, list ? list[a] : ff + a, tf + b, (brr_edge_reason)e->reason, e->mark, detail);
  if (e->base)
    for (size_t b = 0; b < tn; b++) {
      brr_node *n = &c->g->nodes[tf + b];
      n->base_from_build_registry = true;
      if (n->base_step == BRR_NO_STEP) n->base_step = e->from;
    }
}

static void emit_sedges(compiler *c) {
  size_t n = c->cfg->n_steps;
  incoming in = {brr_xcalloc(n + 1, sizeof(size_t)), brr_xmalloc((c->n_se + 1) * sizeof(size_t)),
                 brr_xmalloc((n + 1) * sizeof(size_t)), 0};
  for (size_t k = 0; k < c->n_se; k++) in.start[c->se[k].to + 1]++;
  for (size_t i = 0; i < n; i++) in.start[i + 1] += in.start[i];
  size_t *fill = brr_xmalloc((n + 1) * sizeof(size_t));
  memcpy(fill, in.start, (n + 1) * sizeof(size_t));
  for (size_t k = 0; k < c->n_se; k++) in.by_to[fill[c->se[k].to]++] = k;
  free(fill);
  /* depends first: when two steps are linked for several reasons, the explicit one shows */
  for (int pass = 0; pass < 2 && !c->err; pass++)
    for (size_t k = 0; k < c->n_se && !c->err; k++)
      if ((c->se[k].reason == BRR_EDGE_DEPENDS) == (pass == 0)) emit_sedge(c, &in, &c->se[k]);
  free(in.start);
  free(in.by_to);
  free(in.stack);
}

/* Steps in buildrunner's order (file order unless --serial ranked them). */
static size_t *step_order(compiler *c) {
  size_t n = c->cfg->n_steps;
  size_t *order = brr_xmalloc((n + 1) * sizeof *order);
  for (size_t i = 0; i < n; i++) order[c->opts->serial ? c->si[i].rank : i] = i;
  return order;
}

static void emit_serial(compiler *c, const size_t *order) {
  size_t prev = BRR_NO_STEP;
  for (size_t r = 0; r < c->cfg->n_steps; r++) {
    size_t i = order[r];
    if (!c->si[i].selected || c->si[i].empty) continue;
    if (prev != BRR_NO_STEP) {
      size_t pf, pn, ef, en;
      role_range(&c->si[prev], ROLE_EXIT, &pf, &pn);
      role_range(&c->si[i], ROLE_ENTRY, &ef, &en);
      for (size_t b = 0; b < en; b++)
        brr_graph_add_edge(c->g, pf, ef + b, BRR_EDGE_SERIAL, c->cfg->steps[i].name.mark, NULL);
    }
    prev = i;
  }
}

/* ---- pushes ------------------------------------------------------------------------------- */

static bool is_moving(const compiler *c, const char *ref) {
  const char *tag = strrchr(ref, ':');
  tag = tag ? tag + 1 : "latest";
  if (strcmp(tag, "latest") == 0) return true;
  const brr_strlist *mt = &c->cfg->global.moving_tags;
  for (size_t i = 0; i < mt->n; i++)
    if (brr_streq(mt->v[i].s, tag)) return true;
  return false;
}

static const char *registry_host(compiler *c, const char *ref) {
  const char *slash = strchr(ref, '/');
  if (slash) {
    size_t n = (size_t)(slash - ref);
    if (memchr(ref, '.', n) || memchr(ref, ':', n) || (n == 9 && strncmp(ref, "localhost", 9) == 0))
      return brr_arena_strndup(c->g->arena, ref, n);
  }
  return "docker.io";
}

static void add_pushes_of(compiler *c, size_t i, brr_strmap *seen, brr_buf *id) {
  const brr_step *st = &c->cfg->steps[i];
  for (size_t j = 0; j < st->n_push; j++) {
    const char **refs;
    size_t n = brr_graph__spec_refs(c, &st->push[j], &refs);
    for (size_t r = 0; r < n; r++) {
      char *norm = brr_image_ref_normalize(refs[r]);
      size_t k;
      if (brr_strmap_get(seen, norm, &k)) { /* pushed twice: the later step's image is the one left */
        c->g->nodes[k].step = i;
        c->g->nodes[k].pushspec = &st->push[j];
        free(norm);
        continue;
      }
      set_id(id, "push:", refs[r], NULL);
      k = add_node(c, id, BRR_NODE_PUSH, i);
      brr_strmap_put(seen, brr_arena_strdup(c->tmp, norm), k);
      free(norm);
      brr_node *node = &c->g->nodes[k];
      node->image = brr_arena_strdup(c->g->arena, refs[r]);
      node->pushspec = &st->push[j];
      node->moving = is_moving(c, refs[r]);
      node->pool = brr_arena_printf(c->g->arena, "push:%s", registry_host(c, refs[r]));
    }
  }
}

static void push_edges(compiler *c, size_t first_push, bool *has_out) {
  brr_graph *g = c->g;
  size_t n_immutable = 0;
  for (size_t p = first_push; p < g->n_nodes; p++) n_immutable += !g->nodes[p].moving;
  for (size_t p = first_push; p < g->n_nodes; p++) {
    brr_node *pn = &g->nodes[p];
    brr_mark m = pn->pushspec->mark;
    /* a push waits for every sink of the step graph, which is every step having succeeded;
     * moving tags get that through the immutable pushes they wait for */
    if (!pn->moving || n_immutable == 0)
      for (size_t s = 0; s < first_push; s++)
        if (!has_out[s]) brr_graph_add_edge(g, s, p, BRR_EDGE_PUSH_BARRIER, m, NULL);
    if (pn->moving)
      for (size_t q = first_push; q < g->n_nodes; q++)
        if (!g->nodes[q].moving) brr_graph_add_edge(g, q, p, BRR_EDGE_MOVING_TAG, m, NULL);
  }
  if (!c->opts->serial) return;
  /* buildrunner pushes one at a time, in order; moving tags still go last */
  size_t prev = BRR_NO_STEP;
  for (int moving = 0; moving < 2; moving++)
    for (size_t p = first_push; p < g->n_nodes; p++) {
      if (g->nodes[p].moving != (moving == 1)) continue;
      if (prev != BRR_NO_STEP) brr_graph_add_edge(g, prev, p, BRR_EDGE_SERIAL, g->nodes[p].pushspec->mark, NULL);
      prev = p;
    }
}

/* One node per step with `pypi-push`: its Python packages uploaded with twine. Like an image
 * push it waits for every step to succeed (the barrier); buildrunner runs the uploads after
 * the image pushes, which --serial keeps. */
static void add_pypi_pushes(compiler *c, const size_t *order, size_t first_push, const bool *has_out, brr_buf *id) {
  brr_graph *g = c->g;
  size_t first_pypi = g->n_nodes, prev = BRR_NO_STEP;
  /* the last image push in the serial chain: a moving tag when there is one */
  if (c->opts->serial && first_pypi > first_push) {
    prev = BRR_NO_STEP;
    for (size_t p = first_push; p < first_pypi; p++)
      if (g->nodes[p].moving) prev = p;
    if (prev == BRR_NO_STEP) prev = first_pypi - 1;
  }
  for (size_t r = 0; r < c->cfg->n_steps; r++) {
    size_t i = order[r];
    const brr_step *st = &c->cfg->steps[i];
    if (!c->si[i].selected || !st->n_pypi_push) continue;
    set_id(id, "pypi-push:", st->name.s, NULL);
    size_t k = add_node(c, id, BRR_NODE_PYPI_PUSH, i);
    brr_mark m = st->pypi_push[0].mark;
    for (size_t s = 0; s < first_push; s++)
      if (!has_out[s]) brr_graph_add_edge(g, s, k, BRR_EDGE_PUSH_BARRIER, m, NULL);
    if (!c->opts->serial) continue;
    if (prev != BRR_NO_STEP) brr_graph_add_edge(g, prev, k, BRR_EDGE_SERIAL, m, NULL);
    prev = k;
  }
}

static void emit_pushes(compiler *c, const size_t *order, brr_buf *id) {
  if (!c->opts->push) return;
  brr_graph *g = c->g;
  size_t first_push = g->n_nodes;
  bool *has_out = brr_xcalloc(first_push + 1, sizeof *has_out);
  for (size_t k = 0; k < g->n_edges; k++) has_out[g->edges[k].from] = true;
  brr_strmap seen = BRR_STRMAP_INIT;
  /* buildrunner pushes multi-platform images first, then the others, each in step order */
  for (int mp = 1; mp >= 0; mp--)
    for (size_t r = 0; r < c->cfg->n_steps; r++) {
      size_t i = order[r];
      if (c->si[i].selected && !c->si[i].empty && c->si[i].mp == (mp == 1)) add_pushes_of(c, i, &seen, id);
    }
  push_edges(c, first_push, has_out);
  add_pypi_pushes(c, order, first_push, has_out, id);
  brr_strmap_free(&seen);
  free(has_out);
}

void brr_graph__emit(compiler *c) {
  brr_buf id = BRR_BUF_INIT;
  size_t n = c->cfg->n_steps;
  brr_graph *g = c->g;
  g->steps = brr_arena_alloc(g->arena, (n ? n : 1) * sizeof *g->steps);
  for (size_t i = 0; i < n; i++) {
    if (!c->si[i].selected) continue;
    g->steps[g->n_steps++] = i;
    if (!c->si[i].empty) make_step(c, i, &id);
  }
  emit_sedges(c);
  size_t *order = step_order(c);
  if (!c->err && c->opts->serial) emit_serial(c, order);
  if (!c->err) emit_pushes(c, order, &id);
  free(order);
  brr_buf_free(&id);
}
