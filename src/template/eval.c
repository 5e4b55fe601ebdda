/* Evaluation: statements (output, if, for, set, macro, call, filter, with, do) and
 * expressions, over the frames symbols.c laid out. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"


void brr__template_tframe_load(tctx *c, tframe *f) {
  const tframe_info *fi = f->fi;
  for (size_t i = 0; i < fi->n; i++) {
    const tslot *s = &fi->slots[i];
    switch (s->load) {
    case LOAD_RESOLVE: f->slots[i] = brr__template_tresolve_h(c, s->name, s->namelen, s->hash); break;
    case LOAD_ALIAS: {
      tframe *o = f;
      for (int h = 0; h < s->alias_hops && o; h++) o = o->parent;
      f->slots[i] = o ? o->slots[s->alias_slot] : BRR__TEMPLATE_TV_MISSING_V;
      break;
    }
    default: f->slots[i] = BRR__TEMPLATE_TV_MISSING_V; break;
    }
  }
}

tframe *brr__template_tframe_enter(tctx *c, tframe *parent, const tframe_info *fi) {
  tframe *f = brr__template_talloc(c, sizeof *f + (fi->n ? fi->n : 1) * sizeof(tv));
  f->parent = parent;
  f->fi = fi;
  f->slots = (tv *)(f + 1);
  brr__template_tframe_load(c, f);
  return f;
}

/* the statement or {{ }} expression now running, for error lines (see tctx) */
static void mark(tctx *c, const tnode *n) {
  c->eline = n->jline;
  c->ecol = n->line == n->jline ? n->col : 0;
}

static tframe *frame_up(tframe *f, int hops) {
  while (hops-- > 0 && f->parent) f = f->parent;
  return f;
}

static tv missing_sentinel(tctx *c) {
  tobj *o = brr__template_talloc(c, sizeof *o);
  o->kind = 2;
  return (tv){.t = TV_OBJ, .u.obj = o};
}

static inline tv load_name(tctx *c, tframe *f, const tnode *n) {
  tv v = n->hops < 0 ? brr__template_tresolve(c, n->s, n->slen) : frame_up(f, n->hops)->slots[n->slot];
  if (v.t != TV_MISSING) return v;
  /* a parameter read after its frame was left (a closure over a loop variable) */
  return n->flag2 && n->op == CTX_LOAD ? missing_sentinel(c) : brr__template_tv_undef_name(c, n->s);
}

/* ---- assignment ---- */

static void assign(tctx *c, tframe *f, const tnode *target, tv v, bool toplevel);

static void unpack(tctx *c, tframe *f, const tnode *target, tv v, bool toplevel) {
  size_t n;
  tv *items = brr__template_tv_iterate(c, target, v, &n);
  size_t want = target->l1.n;
  if (n < want) brr__template_terr(c, target, "not enough values to unpack (expected %zu, got %zu)", want, n);
  if (n > want) brr__template_terr(c, target, "too many values to unpack (expected %zu)", want);
  for (size_t i = 0; i < want; i++) assign(c, f, target->l1.v[i], items[i], toplevel);
}

/* Assign loop targets in a frame laid out differently from the one the target nodes were bound
 * to (the loop filter's frame): by name. */
static void assign_by_name(tctx *c, tframe *f, const tnode *target, tv v) {
  if (target->kind == N_TUPLE) {
    size_t n;
    tv *items = brr__template_tv_iterate(c, target, v, &n);
    if (n != target->l1.n)
      brr__template_terr(c, target, n < target->l1.n ? "not enough values to unpack (expected %zu, got %zu)" : "too many values to unpack (expected %zu)",
           target->l1.n, n);
    for (size_t i = 0; i < n; i++) assign_by_name(c, f, target->l1.v[i], items[i]);
    return;
  }
  for (size_t i = 0; i < f->fi->n; i++)
    if (!strcmp(f->fi->slots[i].name, target->s)) f->slots[i] = v;
}

static void assign(tctx *c, tframe *f, const tnode *target, tv v, bool toplevel) {
  switch (target->kind) {
  case N_NAME:
    if (target->hops < 0) return;
    frame_up(f, target->hops)->slots[target->slot] = v;
    /* top-level assignments are also visible through the context (blocks, includes) */
    if (toplevel) {
      brr__template_td_sets(c, c->ctxvars, target->s, v);
      if (c->noexport) brr__template_td_del(c, NULL, c->noexport, tv_str_nocopy(target->s, strlen(target->s)), NULL);
    }
    return;
  case N_TUPLE: unpack(c, f, target, v, toplevel); return;
  case N_NSREF: {
    tv ns = load_name(c, f, target);
    if (ns.t != TV_NS) brr__template_terr(c, target, "cannot assign attribute on non-namespace object");
    tescape(c);
    brr__template_td_sets(c, ns.u.d, target->s2, v);
    return;
  }
  default: brr__template_terr(c, target, "cannot assign to this expression");
  }
}

void brr__template_tassign(tctx *c, tframe *f, const tnode *target, tv v, bool toplevel) { assign(c, f, target, v, toplevel); }

/* ---- calls ---- */

static void eval_args(tctx *c, tframe *f, const tnode *n, tcall *a, size_t lead, const tkwarg *extra) {
  size_t npos = lead + n->l1.n, nkw = n->l2.n + (extra ? 1 : 0);
  tv *dyn = NULL;
  size_t ndyn = 0;
  tv dkw = BRR__TEMPLATE_TV_MISSING_V;
  /* Python evaluates positional, keyword, then *args and **kwargs */
  a->pos = npos <= BRR_ARRAY_LEN(a->posbuf) ? a->posbuf : brr__template_talloc(c, npos * sizeof *a->pos);
  for (size_t i = 0; i < n->l1.n; i++) a->pos[lead + i] = brr__template_teval(c, f, n->l1.v[i]);
  tkwarg *kw = nkw <= BRR_ARRAY_LEN(a->kwbuf) ? a->kwbuf : brr__template_talloc(c, nkw * sizeof *kw);
  for (size_t i = 0; i < n->l2.n; i++) kw[i] = (tkwarg){n->l2.v[i]->s, brr__template_teval(c, f, n->l2.v[i]->a)};
  if (extra) kw[n->l2.n] = *extra;
  if (n->c) dyn = brr__template_tv_iterate(c, n->c, brr__template_teval(c, f, n->c), &ndyn);
  if (n->d) {
    dkw = brr__template_teval(c, f, n->d);
    if (dkw.t != TV_DICT) brr__template_terr(c, n->d, "argument after ** must be a mapping, not %s", brr__template_tv_typename(dkw));
  }
  if (ndyn) {
    tv *p = brr__template_talloc(c, (npos + ndyn) * sizeof *p);
    memcpy(p, a->pos, npos * sizeof *p);
    memcpy(p + npos, dyn, ndyn * sizeof *p);
    a->pos = p;
    npos += ndyn;
  }
  if (dkw.t == TV_DICT) {
    tkwarg *k2 = brr__template_talloc(c, (nkw + dkw.u.d->live + 1) * sizeof *k2);
    memcpy(k2, kw, nkw * sizeof *k2);
    tdent *e;
    for (size_t i = 0; brr__template_td_next(dkw.u.d, &i, &e);) {
      if (e->key.t != TV_STR) brr__template_terr(c, n->d, "keywords must be strings");
      for (size_t j = 0; j < nkw; j++)
        if (!strcmp(k2[j].name, e->key.u.str)) brr__template_terr(c, n, "got multiple values for keyword argument '%s'", e->key.u.str);
      k2[nkw++] = (tkwarg){e->key.u.str, e->val};
    }
    kw = k2;
  }
  a->npos = npos;
  a->kw = kw;
  a->nkw = nkw;
  a->at = n;
}

/* Calls are kept out of line: their argument buffers would bloat brr__template_teval's frame, which every
 * level of a nested expression pays for. */
BRR_NOINLINE static tv call_macro(tctx *c, const tnode *at, tfunc *fn, tcall *a) {
  const tnode *m = fn->macro;
  const char *mname = fn->name ? fn->name : "caller";
  size_t nparams = m->l1.n;
  if (++c->depth > MAX_CALL_DEPTH) brr__template_terr(c, at, "maximum recursion depth exceeded");
  brr__template_tstack_check(c, at);
  unsigned eline = c->eline, ecol = c->ecol;
  bool out_check = c->out_check;
  c->out_check = false; /* a macro's output is its own, even after an extends */
  tframe *mf = brr__template_tframe_enter(c, fn->closure, m->fi);
  bool *used = brr__template_talloc(c, a->nkw + 1);
  for (size_t i = 0; i < nparams; i++) {
    const tnode *p = m->l1.v[i];
    tv v = BRR__TEMPLATE_TV_MISSING_V;
    if (i < a->npos) v = a->pos[i];
    else
      for (size_t k = 0; k < a->nkw; k++)
        if (!used[k] && !strcmp(a->kw[k].name, p->s)) {
          v = a->kw[k].v;
          used[k] = true;
          break;
        }
    mf->slots[p->slot] = v;
  }
  if (m->uses & USES_CALLER) {
    tv caller = BRR__TEMPLATE_TV_MISSING_V;
    for (size_t k = 0; k < a->nkw; k++)
      if (!used[k] && !strcmp(a->kw[k].name, "caller")) {
        caller = a->kw[k].v;
        used[k] = true;
      }
    if (caller.t == TV_MISSING || caller.t == TV_NONE)
      caller = brr__template_tv_undef(c, "No caller defined", BRR__TEMPLATE_TV_MISSING_V, tv_str_nocopy("caller", 6));
    mf->slots[m->caller_slot] = caller;
  }
  if (m->uses & USES_KWARGS) {
    tv d = brr__template_tv_dict(c);
    for (size_t k = 0; k < a->nkw; k++)
      if (!used[k]) brr__template_td_sets(c, d.u.d, a->kw[k].name, a->kw[k].v);
    mf->slots[m->kwargs_slot] = d;
  } else {
    for (size_t k = 0; k < a->nkw; k++)
      if (!used[k]) {
        if (!strcmp(a->kw[k].name, "caller"))
          brr__template_terr(c, at, "macro '%s' was invoked with two values for the special caller argument. This is most likely a bug.", mname);
        brr__template_terr(c, at, "macro '%s' takes no keyword argument '%s'", mname, a->kw[k].name);
      }
  }
  if (m->uses & USES_VARARGS) {
    size_t extra = a->npos > nparams ? a->npos - nparams : 0;
    tv t = brr__template_tv_tuple(c, extra);
    for (size_t i = 0; i < extra; i++) t.u.l->v[i] = a->pos[nparams + i];
    mf->slots[m->varargs_slot] = t;
  } else if (a->npos > nparams) {
    brr__template_terr(c, at, "macro '%s' takes not more than %zu argument(s)", mname, nparams);
  }
  size_t first_default = nparams - m->l2.n;
  mark(c, m);
  for (size_t i = 0; i < nparams; i++) {
    const tnode *p = m->l1.v[i];
    if (mf->slots[p->slot].t != TV_MISSING) continue;
    if (i >= first_default) {
      mf->slots[p->slot] = brr__template_teval(c, mf, m->l2.v[i - first_default]);
    } else {
      char *hint = brr__template_tprintf(c, "parameter '%s' was not provided", p->s);
      mf->slots[p->slot] = brr__template_tv_undef(c, hint, BRR__TEMPLATE_TV_MISSING_V, tv_str_nocopy(p->s, strlen(p->s)));
    }
  }
  tv r = brr__template_tcapture(c, mf, &m->l3);
  c->depth--;
  c->out_check = out_check;
  c->eline = eline;
  c->ecol = ecol;
  return r;
}

static tv loop_call(tctx *c, const tnode *at, tloop *l, tcall *a);

tv brr__template_tcall_value(tctx *c, const tnode *at, tv fn, tcall *a) {
  a->at = at;
  switch (fn.t) {
  case TV_FUNC:
    if (fn.u.fn->kind == FN_MACRO) {
      /* a macro of another template (or render context) runs in its own */
      if (fn.u.fn->tmpl != c->cur || fn.u.fn->ctxvars != c->ctxvars) return brr__template_tcall_macro_in(c, at, fn.u.fn, a, call_macro);
      return call_macro(c, at, fn.u.fn, a);
    }
    a->self = fn.u.fn;
    return fn.u.fn->fn(c, a);
  case TV_MISSING:
  case TV_UNDEF: brr__template_terr_undef(c, at, fn);
  case TV_LOOP: return loop_call(c, at, fn.u.loop, a);
  case TV_OBJ:
    if (fn.u.obj->kind == 1) { /* joiner */
      if (a->npos || a->nkw) brr__template_terr(c, at, "__call__() takes 1 positional argument but %zu were given", a->npos + 1);
      tobj *j = fn.u.obj;
      if (!j->used) {
        j->used = true;
        return tv_str_nocopy("", 0);
      }
      return tv_str_nocopy(j->sep, j->seplen);
    }
    break;
  default: break;
  }
  brr__template_terr(c, at, "'%s' object is not callable", brr__template_tv_typename(fn));
}

BRR_NOINLINE static tv eval_call(tctx *c, tframe *f, const tnode *n, const tkwarg *extra) {
  tv fn = brr__template_teval(c, f, n->a);
  tcall a; /* eval_args fills it; not zeroed: the argument buffers are large */
  a.self = NULL;
  eval_args(c, f, n, &a, 0, extra);
  return brr__template_tcall_value(c, n, fn, &a);
}

BRR_NOINLINE static tv apply_filter(tctx *c, tframe *f, const tnode *n, tv value) {
  if (!n->fn.filter) brr__template_terr(c, n, "No filter named '%s' found.", n->s);
  tcall a; /* eval_args fills it; not zeroed: the argument buffers are large */
  a.self = NULL;
  eval_args(c, f, n, &a, 1, NULL);
  a.pos[0] = value;
  return n->fn.filter(c, &a);
}

/* A filter chain whose innermost filter takes `value` (set and filter blocks). */
static tv apply_filter_chain(tctx *c, tframe *f, const tnode *n, tv value) {
  if (n->a) value = apply_filter_chain(c, f, n->a, value);
  return apply_filter(c, f, n, value);
}

BRR_NOINLINE static bool apply_test(tctx *c, tframe *f, const tnode *n) {
  tv value = brr__template_teval(c, f, n->a);
  if (!n->fn.test) brr__template_terr(c, n, "No test named '%s' found.", n->s);
  tcall a; /* eval_args fills it; not zeroed: the argument buffers are large */
  a.self = NULL;
  eval_args(c, f, n, &a, 1, NULL);
  a.pos[0] = value;
  return n->fn.test(c, &a);
}

/* ---- expressions ---- */

BRR_NOINLINE static tv eval_slice(tctx *c, tframe *f, const tnode *n, tv obj) {
  const tnode *s = n->b;
  tv start = s->a ? brr__template_teval(c, f, s->a) : BRR__TEMPLATE_TV_NONE_V;
  tv stop = s->b ? brr__template_teval(c, f, s->b) : BRR__TEMPLATE_TV_NONE_V;
  tv step = s->c ? brr__template_teval(c, f, s->c) : BRR__TEMPLATE_TV_NONE_V;
  return brr__template_top_slice(c, n, obj, start, stop, step);
}

BRR_NOINLINE static tv eval_compare(tctx *c, tframe *f, const tnode *n) {
  tv left = brr__template_teval(c, f, n->a);
  for (size_t i = 0; i < n->l1.n; i++) {
    const tnode *o = n->l1.v[i];
    tv right = brr__template_teval(c, f, o->a);
    /* StrictUndefined's comparisons (and __contains__) raise */
    tv_strict(c, o, left);
    tv_strict(c, o, right);
    if (!brr__template_top_compare(c, o, o->op, left, right)) return BRR__TEMPLATE_TV_FALSE_V;
    left = right;
  }
  return BRR__TEMPLATE_TV_TRUE_V;
}

tv brr__template_teval(tctx *c, tframe *f, const tnode *n) {
  switch (n->kind) {
  case N_CONST: return n->k;
  case N_NAME: return load_name(c, f, n);
  case N_TUPLE:
  case N_LIST: {
    tv l = n->kind == N_TUPLE ? brr__template_tv_tuple(c, n->l1.n) : brr__template_tv_list(c, n->l1.n);
    for (size_t i = 0; i < n->l1.n; i++) l.u.l->v[i] = brr__template_teval(c, f, n->l1.v[i]);
    l.u.l->n = n->l1.n;
    return l;
  }
  case N_DICT: {
    tv d = brr__template_tv_dict(c);
    for (size_t i = 0; i < n->l1.n; i++) {
      const tnode *p = n->l1.v[i];
      tv k = brr__template_teval(c, f, p->a);
      brr__template_td_set(c, p->a, d.u.d, k, brr__template_teval(c, f, p->b));
    }
    return d;
  }
  case N_GETATTR: return brr__template_top_getattr(c, n, brr__template_teval(c, f, n->a), n->s, n->slen);
  case N_GETITEM: {
    tv obj = brr__template_teval(c, f, n->a);
    if (n->b->kind == N_SLICE) return eval_slice(c, f, n, obj);
    return brr__template_top_getitem(c, n, obj, brr__template_teval(c, f, n->b));
  }
  case N_CALL: return eval_call(c, f, n, NULL);
  case N_FILTER: return apply_filter(c, f, n, brr__template_teval(c, f, n->a));
  case N_TEST: return tv_bool(apply_test(c, f, n));
  case N_NOT: return tv_bool(!brr__template_tv_truthy(c, n, brr__template_teval(c, f, n->a)));
  case N_NEG:
  case N_POS: return brr__template_top_neg(c, n, brr__template_teval(c, f, n->a), n->kind == N_NEG);
  case N_BINOP: {
    tv a = brr__template_teval(c, f, n->a);
    tv b = brr__template_teval(c, f, n->b);
    return brr__template_top_binary(c, n, n->op, a, b);
  }
  case N_AND: {
    tv a = brr__template_teval(c, f, n->a);
    return brr__template_tv_truthy(c, n, a) ? brr__template_teval(c, f, n->b) : a;
  }
  case N_OR: {
    tv a = brr__template_teval(c, f, n->a);
    return brr__template_tv_truthy(c, n, a) ? a : brr__template_teval(c, f, n->b);
  }
  case N_CONCAT: {
    tbuf b = {0};
    for (size_t i = 0; i < n->l1.n; i++) {
      tv v = brr__template_teval(c, f, n->l1.v[i]);
      tv_strict(c, n->l1.v[i], v);  /* at the operand, not the statement */
      brr__template_tv_str_to(c, &b, v);
    }
    return brr__template_tbuf_str(c, &b);
  }
  case N_COMPARE: return eval_compare(c, f, n);
  case N_CONDEXPR:
    if (brr__template_tv_truthy(c, n, brr__template_teval(c, f, n->b))) return brr__template_teval(c, f, n->a);
    if (n->c) return brr__template_teval(c, f, n->c);
    return brr__template_tv_undef(c, brr__template_tprintf(c, "the inline if-expression on line %u evaluated to false and no else section was defined.", n->line),
                    BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_MISSING_V);
  case N_SLICE: brr__template_terr(c, n, "a slice is only valid inside []");
  default: brr__template_terr(c, n, "cannot evaluate this expression");
  }
}

/* ---- for loops ---- */

static void run_loop(tctx *c, tframe *f, const tnode *n, tv *items, const trange *range, size_t count, int depth);

static void exec_for(tctx *c, tframe *f, const tnode *n) {
  tv iterable = brr__template_teval(c, f, n->b);
  size_t count;
  if (iterable.t == TV_RANGE && !n->c) { /* no array of items: a loop's memory is its output's */
    count = brr__template_tv_range_len(c, n->b, iterable);
    run_loop(c, f, n, NULL, iterable.u.r, count, 1);
    return;
  }
  tv *items = brr__template_tv_iterate(c, n->b, iterable, &count);
  run_loop(c, f, n, items, NULL, count, 1);
}

static void run_loop(tctx *c, tframe *f, const tnode *n, tv *items, const trange *range, size_t count, int depth) {
  if (n->c) { /* the loop filter runs first, over the whole iterable, in a frame of its own */
    size_t k = 0;
    tv *kept = brr__template_talloc(c, (count ? count : 1) * sizeof *kept);
    tframe *tf = brr__template_tframe_enter(c, f, n->fi3);
    for (size_t i = 0; i < count; i++) {
      mark(c, n->c);
      assign_by_name(c, tf, n->a, items[i]);
      if (brr__template_tv_truthy(c, n->c, brr__template_teval(c, tf, n->c))) kept[k++] = items[i];
    }
    items = kept;
    count = k;
  }
  tloop *l = brr__template_talloc(c, sizeof *l);
  l->items = items;
  l->range = range;
  l->n = count;
  l->last_changed = BRR__TEMPLATE_TV_MISSING_V;
  l->depth = depth;
  l->node = n;
  l->frame = f;
  /* One frame for all iterations, reloaded at the start of each: Jinja2's loop body locals
   * are the enclosing function's, so a macro made in the body sees their current values.
   * What the loads read cannot change while the loop runs (enclosing frames are suspended;
   * the context changes only at top level), so a reload is a copy of the first load. */
  tframe *bf = brr__template_tframe_enter(c, f, n->fi);
  size_t nslots = n->fi->n;
  tv *initial = count > 1 ? brr__template_talloc(c, nslots * sizeof *initial) : NULL;
  if (initial) memcpy(initial, bf->slots, nslots * sizeof *initial);
  /* An iteration that stored nothing into older values (tescape) leaves only garbage and
   * its output: its memory is released for the next one, unless the output went to a
   * capture (macro, set block, ...) whose buffer had to grow into that memory (which
   * happens a logarithmic number of times). */
  tbuf *out = c->out;
  for (size_t i = 0; i < count; i++) {
    l->i = i;
    mark(c, n);
    if (i) memcpy(bf->slots, initial, nslots * sizeof *initial);
    bf->slots[n->ref_slot] = (tv){.t = TV_LOOP, .u.loop = l};
    bool outer_escaped = c->escaped;
    tmark m = brr__template_tmark_get(c);
    const char *out_p = out->p;
    c->escaped = false;
    assign(c, bf, n->a, tloop_item(l, i), false);
    brr__template_texec_body(c, bf, &n->l1);
    if (!c->escaped && (out == c->main || out->p == out_p)) brr__template_tmark_release(c, m);
    c->escaped = c->escaped || outer_escaped;
  }
  for (size_t i = 0; i < bf->fi->n; i++) bf->slots[i] = BRR__TEMPLATE_TV_MISSING_V; /* left: unset */
  if (count == 0 && n->l2.n) brr__template_texec_body(c, brr__template_tframe_enter(c, f, n->fi2), &n->l2);
}

static tv loop_call(tctx *c, const tnode *at, tloop *l, tcall *a) {
  if (!l->node->flag) brr__template_terr(c, at, "The loop must be marked as 'recursive' to call it recursively.");
  if (a->npos != 1 || a->nkw) brr__template_terr(c, at, "loop() takes exactly one argument");
  if (++c->depth > MAX_CALL_DEPTH) brr__template_terr(c, at, "maximum recursion depth exceeded");
  brr__template_tstack_check(c, at);
  unsigned eline = c->eline, ecol = c->ecol;
  size_t count;
  tv *items = brr__template_tv_iterate(c, at, a->pos[0], &count);
  tbuf *saved = c->out;
  tbuf *b = brr__template_talloc(c, sizeof *b);
  c->out = b;
  run_loop(c, l->frame, l->node, items, NULL, count, l->depth + 1);
  c->out = saved;
  c->depth--;
  c->eline = eline;
  c->ecol = ecol;
  return brr__template_tbuf_str(c, b);
}

/* ---- statements ---- */

static tv new_macro(tctx *c, tframe *f, const tnode *n, const char *name) {
  tfunc *fn = brr__template_talloc(c, sizeof *fn);
  fn->kind = FN_MACRO;
  fn->name = name;
  fn->macro = n;
  fn->closure = f;
  fn->self = BRR__TEMPLATE_TV_MISSING_V;
  fn->tmpl = c->cur;
  fn->ctxvars = c->ctxvars;
  fn->vars = c->vars;
  fn->blocks = c->blocks;
  return (tv){.t = TV_FUNC, .u.fn = fn};
}

static void exec_output(tctx *c, tframe *f, const tnode *n) {
  if (c->out_check && c->parent_tmpl) return; /* after an extends, only blocks give output */
  for (size_t i = 0; i < n->l1.n; i++) {
    const tnode *ch = n->l1.v[i];
    if (ch->kind == N_DATA) {
      brr__template_temit(c, ch->s, ch->slen, ch->line, true);
    } else {
      mark(c, ch);
      tv v = brr__template_teval(c, f, ch);
      brr__template_temit_value(c, v, ch->line);
    }
  }
}

static void exec_if(tctx *c, tframe *f, const tnode *n) {
  mark(c, n);
  if (brr__template_tv_truthy(c, n->a, brr__template_teval(c, f, n->a))) {
    brr__template_texec_body(c, f, &n->l1);
    return;
  }
  for (size_t i = 0; i < n->l2.n; i++) {
    const tnode *e = n->l2.v[i];
    mark(c, e);
    if (brr__template_tv_truthy(c, e->a, brr__template_teval(c, f, e->a))) {
      brr__template_texec_body(c, f, &e->l1);
      return;
    }
  }
  brr__template_texec_body(c, f, &n->l3);
}

static void texec(tctx *c, tframe *f, const tnode *n) {
  switch (n->kind) {
  case N_OUTPUT: exec_output(c, f, n); return;
  case N_IF: exec_if(c, f, n); return;
  case N_FOR:
    mark(c, n);
    exec_for(c, f, n);
    return;
  case N_ASSIGN:
    mark(c, n);
    assign(c, f, n->a, brr__template_teval(c, f, n->b), f->fi->toplevel);
    return;
  case N_ASSIGNBLOCK: {
    tframe *bf = brr__template_tframe_enter(c, f, n->fi);
    bool out_check = c->out_check;
    c->out_check = false; /* a set block captures, even after an extends (as Jinja2) */
    tv v = brr__template_tcapture(c, bf, &n->l1);
    c->out_check = out_check;
    mark(c, n);
    if (n->b) v = apply_filter_chain(c, bf, n->b, v);
    assign(c, f, n->a, v, f->fi->toplevel);
    return;
  }
  case N_EXPRSTMT:
    mark(c, n);
    brr__template_teval(c, f, n->a);
    return;
  case N_MACRO: {
    tv m = new_macro(c, f, n, n->s);
    frame_up(f, n->ref_hops)->slots[n->ref_slot] = m;
    if (f->fi->toplevel) {
      brr__template_td_sets(c, c->ctxvars, n->s, m);
      if (c->noexport) brr__template_td_del(c, NULL, c->noexport, tv_str_nocopy(n->s, n->slen), NULL);
    }
    return;
  }
  case N_CALLBLOCK: {
    tkwarg caller = {"caller", new_macro(c, f, n, NULL)};
    mark(c, n);
    brr__template_temit_value(c, eval_call(c, f, n->a, &caller), n->line);
    return;
  }
  case N_FILTERBLOCK: {
    tframe *ff = brr__template_tframe_enter(c, f, n->fi);
    tv v = brr__template_tcapture(c, ff, &n->l1);
    mark(c, n);
    brr__template_temit_value(c, apply_filter_chain(c, ff, n->a, v), n->line);
    return;
  }
  case N_WITH: {
    tframe *wf = brr__template_tframe_enter(c, f, n->fi);
    c->eline = n->mline; /* Jinja2 emits no line mark for these */
    c->ecol = 0;
    for (size_t i = 0; i < n->l1.n; i++) assign(c, wf, n->l1.v[i], brr__template_teval(c, f, n->l2.v[i]), false);
    brr__template_texec_body(c, wf, &n->l3);
    return;
  }
  case N_BLOCK:
    mark(c, n);
    brr__template_texec_block(c, f, n);
    return;
  case N_INCLUDE:
    mark(c, n);
    brr__template_texec_include(c, f, n);
    return;
  case N_EXTENDS:
    mark(c, n);
    brr__template_texec_extends(c, f, n);
    return;
  case N_IMPORT:
  case N_FROMIMPORT:
    mark(c, n);
    brr__template_texec_import(c, f, n);
    return;
  case N_UNSUPPORTED: brr__template_terr(c, n, "brr does not support the '%s' tag (it has no HTML escaping)", n->s);
  default: brr__template_terr(c, n, "cannot execute this statement");
  }
}

void brr__template_texec_body(tctx *c, tframe *f, const tnodes *body) {
  for (size_t i = 0; i < body->n; i++) texec(c, f, body->v[i]);
}
