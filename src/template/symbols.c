/* Compile-time scoping, as Jinja2's idtracking.py + compiler.py decide it.
 *
 * Jinja2 compiles every frame (the template, a for body, a macro, a set block...) to Python
 * locals, and decides per frame how each local starts: resolved from the context, aliased to
 * an outer frame's local, a parameter, or unset. Those decisions make behaviour that looks
 * odd but that real templates rely on (a `set` inside a loop does not leak out; a name read
 * in a loop before a later top-level `set` of it is undefined). This file makes the same
 * decisions, in the same visiting order, and binds every name node to a frame slot. */
#include <string.h>

#include "internal.h"

typedef struct sent {
  const char *name;
  bool ref;   /* the frame has a local for this name */
  bool store; /* the frame assigns it */
  int8_t load; /* tload_kind of the local, -1 for none */
  struct syms *alias; /* LOAD_ALIAS: the frame owning the outer local */
  int slot;
} sent;

typedef struct syms {
  struct syms *parent;
  int level;
  sent *e;
  size_t n, cap;
  int nslots;
} syms;

typedef struct walker {
  tctx *c;
  bool br;
  unsigned last; /* the line of the last line mark Jinja2's code generator emitted */
  bool top;      /* in the root frame or an if body (Jinja2's toplevel frame) */
} walker;

static syms *syms_new(tctx *c, syms *parent) {
  syms *s = brr__template_talloc(c, sizeof *s);
  s->parent = parent;
  s->level = parent ? parent->level + 1 : 0;
  return s;
}

static sent *find(syms *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->e[i].name, name)) return &s->e[i];
  return NULL;
}

static sent *get(tctx *c, syms *s, const char *name) {
  sent *e = find(s, name);
  if (e) return e;
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    s->e = brr__template_tgrow(c, s->e, s->cap * sizeof *s->e, nc * sizeof *s->e);
    s->cap = nc;
  }
  e = &s->e[s->n++];
  memset(e, 0, sizeof *e);
  e->name = name;
  e->load = -1;
  return e;
}

/* the frame owning the local for `name`, searching outwards */
static syms *find_ref(syms *s, const char *name) {
  for (; s; s = s->parent) {
    sent *e = find(s, name);
    if (e && e->ref) return s;
  }
  return NULL;
}

static void define_ref(tctx *c, syms *s, const char *name, int load, syms *alias) {
  sent *e = get(c, s, name);
  e->ref = true;
  e->load = (int8_t)load;
  e->alias = alias;
}

static void sym_store(tctx *c, syms *s, const char *name) {
  sent *e = get(c, s, name);
  e->store = true;
  if (e->ref) return;
  syms *outer = s->parent ? find_ref(s->parent, name) : NULL;
  define_ref(c, s, name, outer ? LOAD_ALIAS : LOAD_UNDEF, outer);
}

static void sym_param(tctx *c, syms *s, const char *name) {
  get(c, s, name)->store = true;
  define_ref(c, s, name, LOAD_PARAM, NULL);
}

static void sym_load(tctx *c, syms *s, const char *name) {
  if (!find_ref(s, name)) define_ref(c, s, name, LOAD_RESOLVE, NULL);
}

static syms *syms_copy(tctx *c, const syms *s) {
  syms *r = brr__template_talloc(c, sizeof *r);
  *r = *s;
  r->e = brr__template_talloc(c, (s->cap ? s->cap : 1) * sizeof *s->e);
  if (s->n) memcpy(r->e, s->e, s->n * sizeof *s->e);
  return r;
}

/* Merge the symbols of the branches of an if (Symbols.branch_update). */
static void branch_update(tctx *c, syms *s, syms **br, size_t nbr) {
  /* names stored by some branch that the frame did not store before */
  const char **names = NULL;
  size_t *counts = NULL, nn = 0;
  for (size_t b = 0; b < nbr; b++)
    for (size_t i = 0; i < br[b]->n; i++) {
      sent *e = &br[b]->e[i];
      if (!e->store) continue;
      sent *mine = find(s, e->name);
      if (mine && mine->store) continue;
      size_t k;
      for (k = 0; k < nn && strcmp(names[k], e->name) != 0; k++) {}
      if (k == nn) {
        names = brr__template_tgrow(c, names, nn * sizeof *names, (nn + 1) * sizeof *names);
        counts = brr__template_tgrow(c, counts, nn * sizeof *counts, (nn + 1) * sizeof *counts);
        names[nn] = e->name;
        counts[nn++] = 0;
      }
      counts[k]++;
    }
  for (size_t b = 0; b < nbr; b++)
    for (size_t i = 0; i < br[b]->n; i++) {
      sent *e = &br[b]->e[i];
      sent *mine = get(c, s, e->name);
      if (e->ref) {
        mine->ref = true;
        mine->load = e->load;
        mine->alias = e->alias;
      }
      if (e->store) mine->store = true;
    }
  for (size_t k = 0; k < nn; k++) {
    if (counts[k] == nbr) continue;
    sent *mine = get(c, s, names[k]);
    syms *outer = s->parent ? find_ref(s->parent, names[k]) : NULL;
    mine->load = (int8_t)(outer ? LOAD_ALIAS : LOAD_RESOLVE);
    mine->alias = outer;
  }
}

/* ---- FrameSymbolVisitor: what one frame loads and stores ---- */
static void fsv(walker *w, syms *s, const tnode *n, bool as_param);

static void fsv_list(walker *w, syms *s, const tnodes *l, bool as_param) {
  for (size_t i = 0; i < l->n; i++) fsv(w, s, l->v[i], as_param);
}

static void fsv_if(walker *w, syms **sp, const tnode *n) {
  tctx *c = w->c;
  syms *orig = *sp;
  fsv(w, orig, n->a, false);
  syms *br[3];
  const tnodes *lists[3] = {&n->l1, &n->l2, &n->l3};
  for (int b = 0; b < 3; b++) {
    br[b] = syms_copy(c, orig);
    /* elif nodes are If nodes: visiting them recurses into this logic */
    for (size_t i = 0; i < lists[b]->n; i++) {
      syms *cur = br[b];
      fsv(w, cur, lists[b]->v[i], false);
    }
  }
  branch_update(c, orig, br, 3);
}

static void fsv(walker *w, syms *s, const tnode *n, bool as_param) {
  if (!n) return;
  tctx *c = w->c;
  switch (n->kind) {
  case N_NAME:
    if (as_param || n->op == CTX_PARAM) sym_param(c, s, n->s);
    else if (n->op == CTX_STORE) sym_store(c, s, n->s);
    else sym_load(c, s, n->s);
    return;
  case N_NSREF: sym_load(c, s, n->s); return;
  case N_IF: fsv_if(w, &s, n); return;
  case N_MACRO: sym_store(c, s, n->s); return;
  case N_FOR: fsv(w, s, n->b, false); return;
  case N_CALLBLOCK: fsv(w, s, n->a, false); return;
  case N_FILTERBLOCK: fsv(w, s, n->a, false); return;
  case N_WITH: fsv_list(w, s, &n->l2, false); return;
  case N_ASSIGN:
    fsv(w, s, n->b, false);
    fsv(w, s, n->a, false);
    return;
  case N_ASSIGNBLOCK: fsv(w, s, n->a, false); return;
  case N_BLOCK: return;
  case N_CONDEXPR: /* Jinja2's field order: test, expr1, expr2 */
    fsv(w, s, n->b, as_param);
    fsv(w, s, n->a, as_param);
    fsv(w, s, n->c, as_param);
    return;
  default:
    fsv(w, s, n->a, as_param);
    fsv(w, s, n->b, as_param);
    fsv_list(w, s, &n->l1, as_param);
    fsv_list(w, s, &n->l2, as_param);
    fsv_list(w, s, &n->l3, as_param);
    fsv(w, s, n->c, as_param);
    fsv(w, s, n->d, as_param);
    return;
  }
}

/* names loaded (before any store of them) anywhere in `l`: UndeclaredNameVisitor */
static void undeclared(const tnode *n, unsigned *want, unsigned *found);
static void undeclared_list(const tnodes *l, unsigned *want, unsigned *found) {
  for (size_t i = 0; i < l->n; i++) undeclared(l->v[i], want, found);
}
static void undeclared(const tnode *n, unsigned *want, unsigned *found) {
  if (!n || n->kind == N_BLOCK) return;
  if (n->kind == N_NAME) {
    unsigned bit = !strcmp(n->s, "caller") ? USES_CALLER : !strcmp(n->s, "kwargs") ? USES_KWARGS
                 : !strcmp(n->s, "varargs") ? USES_VARARGS : !strcmp(n->s, "loop") ? 8
                 : !strcmp(n->s, "self") ? 16 : !strcmp(n->s, "super") ? 32 : 0;
    if (n->op == CTX_LOAD && (*want & bit)) *found |= bit;
    else *want &= ~bit;
    return;
  }
  if (n->kind == N_CONDEXPR) {
    undeclared(n->b, want, found);
    undeclared(n->a, want, found);
    undeclared(n->c, want, found);
    return;
  }
  undeclared(n->a, want, found);
  undeclared(n->b, want, found);
  undeclared_list(&n->l1, want, found);
  undeclared_list(&n->l2, want, found);
  undeclared_list(&n->l3, want, found);
  undeclared(n->c, want, found);
  undeclared(n->d, want, found);
}

/* ---- binding (Jinja2's code generation walk) ---- */

static tframe_info *make_info(tctx *c, syms *s, bool toplevel) {
  tframe_info *fi = brr__template_talloc(c, sizeof *fi);
  fi->toplevel = toplevel;
  int nslots = 0;
  for (size_t i = 0; i < s->n; i++)
    if (s->e[i].ref) s->e[i].slot = nslots++;
  s->nslots = nslots;
  fi->slots = brr__template_talloc(c, (size_t)(nslots ? nslots : 1) * sizeof *fi->slots);
  fi->n = (size_t)nslots;
  for (size_t i = 0; i < s->n; i++) {
    sent *e = &s->e[i];
    if (!e->ref) continue;
    tslot *sl = &fi->slots[e->slot];
    sl->name = e->name;
    sl->namelen = strlen(e->name);
    sl->hash = brr__template_tstr_hash(e->name, sl->namelen);
    sl->load = e->load < 0 ? LOAD_UNDEF : (tload_kind)e->load;
    if (sl->load == LOAD_ALIAS) {
      sent *o = find(e->alias, e->name);
      sl->alias_hops = s->level - e->alias->level;
      sl->alias_slot = o->slot;
    }
  }
  return fi;
}

static void bind_name(syms *s, tnode *n) {
  syms *owner = find_ref(s, n->s);
  if (!owner) { /* only reachable through Jinja2 compiler bugs; look the name up at runtime */
    n->hops = -1;
    return;
  }
  n->hops = s->level - owner->level;
  sent *e = find(owner, n->s);
  n->slot = e->slot;
  n->flag2 = e->load == LOAD_PARAM;
}

static void walk_expr(walker *w, syms *s, tnode *n, bool soft);
static void walk_body(walker *w, syms *s, tnodes *l, bool soft);

static void walk_list(walker *w, syms *s, tnodes *l, bool soft) {
  for (size_t i = 0; i < l->n; i++) walk_expr(w, s, l->v[i], soft);
}

static void walk_expr(walker *w, syms *s, tnode *n, bool soft) {
  if (!n) return;
  switch (n->kind) {
  case N_NAME: bind_name(s, n); return;
  case N_NSREF: bind_name(s, n); return;
  case N_CONDEXPR: soft = true; break;
  case N_FILTER:
  case N_TEST: {
    bool found = n->kind == N_FILTER ? (n->fn.filter = brr__template_tfilter_find(n->s, w->br)) != NULL
                                     : (n->fn.test = brr__template_ttest_find(n->s)) != NULL;
    if (!found && !soft) brr__template_terr(w->c, n, "No %s named '%s'.", n->kind == N_FILTER ? "filter" : "test", n->s);
    n->flag = !found;
    break;
  }
  default: break;
  }
  walk_expr(w, s, n->a, soft);
  walk_expr(w, s, n->b, soft);
  walk_list(w, s, &n->l1, soft);
  walk_list(w, s, &n->l2, soft);
  walk_list(w, s, &n->l3, soft);
  walk_expr(w, s, n->c, soft);
  walk_expr(w, s, n->d, soft);
}

static bool stores_loop(const tnode *n) {
  if (!n) return false;
  if (n->kind == N_NAME) return n->op == CTX_STORE && !strcmp(n->s, "loop");
  if (stores_loop(n->a) || stores_loop(n->b) || stores_loop(n->c) || stores_loop(n->d)) return true;
  const tnodes *ls[3] = {&n->l1, &n->l2, &n->l3};
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < ls[k]->n; i++)
      if (stores_loop(ls[k]->v[i])) return true;
  return false;
}

static void walk_for(walker *w, syms *s, tnode *n) {
  tctx *c = w->c;
  if (n->c) w->last = n->c->jline;
  w->last = n->jline;
  syms *body = syms_new(c, s);
  sym_param(c, body, "loop");
  fsv(w, body, n->a, true);
  fsv_list(w, body, &n->l1, false);
  syms *els = NULL, *test = NULL;
  if (n->l2.n) {
    els = syms_new(c, s);
    fsv_list(w, els, &n->l2, false);
  }
  if (n->c) {
    test = syms_new(c, s);
    fsv(w, test, n->a, true);
    fsv(w, test, n->c, false);
    n->fi3 = make_info(c, test, false);
    walk_expr(w, test, n->c, false);
  }
  if (stores_loop(n)) brr__template_terr(c, n, "Can't assign to special loop variable in for-loop target");
  walk_expr(w, s, n->b, false);
  n->fi = make_info(c, body, false);
  n->ref_slot = find(body, "loop")->slot;
  walk_expr(w, body, n->a, false);
  walk_body(w, body, &n->l1, false);
  if (els) {
    n->fi2 = make_info(c, els, false);
    walk_body(w, els, &n->l2, false);
  }
}

/* macro and call block frames: parameters, defaults, body, and the special names */
static void walk_macro_frame(walker *w, syms *s, tnode *n) {
  tctx *c = w->c;
  syms *m = syms_new(c, s);
  fsv_list(w, m, &n->l1, false);
  fsv_list(w, m, &n->l2, false);
  fsv_list(w, m, &n->l3, false);
  unsigned want = USES_CALLER | USES_KWARGS | USES_VARARGS, found = 0;
  undeclared_list(&n->l3, &want, &found);
  bool explicit_caller = false;
  for (size_t i = 0; i < n->l1.n; i++) {
    const char *an = n->l1.v[i]->s;
    if (!strcmp(an, "caller")) {
      explicit_caller = true;
      /* caller among the parameters must have a default */
      if ((found & USES_CALLER) && i < n->l1.n - n->l2.n)
        brr__template_terr(c, n, "When defining macros or call blocks the special \"caller\" argument must be omitted or be given a default.");
    }
    if (!strcmp(an, "kwargs")) found &= ~(unsigned)USES_KWARGS;
    if (!strcmp(an, "varargs")) found &= ~(unsigned)USES_VARARGS;
  }
  if (explicit_caller) found &= ~(unsigned)USES_CALLER;
  if (found & USES_CALLER) sym_param(c, m, "caller");
  if (found & USES_KWARGS) sym_param(c, m, "kwargs");
  if (found & USES_VARARGS) sym_param(c, m, "varargs");
  n->uses = (uint8_t)found;
  n->fi = make_info(c, m, false);
  n->caller_slot = (found & USES_CALLER) ? find(m, "caller")->slot : -1;
  n->kwargs_slot = (found & USES_KWARGS) ? find(m, "kwargs")->slot : -1;
  n->varargs_slot = (found & USES_VARARGS) ? find(m, "varargs")->slot : -1;
  for (size_t i = 0; i < n->l1.n; i++) bind_name(m, n->l1.v[i]);
  walk_list(w, m, &n->l2, false);
  walk_body(w, m, &n->l3, false);
}

/* statements with a frame of their own (and set, which sits among them in Jinja2's compiler) */
static void walk_scoped(walker *w, syms *s, tnode *n, bool soft) {
  tctx *c = w->c;
  switch (n->kind) {
  case N_FILTERBLOCK: {
    syms *f = syms_new(c, s);
    fsv_list(w, f, &n->l1, false);
    fsv(w, f, n->a, false);
    n->fi = make_info(c, f, false);
    walk_body(w, f, &n->l1, false);
    w->last = n->jline;
    walk_expr(w, f, n->a, false);
    return;
  }
  case N_WITH: {
    syms *f = syms_new(c, s);
    fsv_list(w, f, &n->l1, false);
    fsv_list(w, f, &n->l3, false);
    n->fi = make_info(c, f, false);
    n->mline = w->last;
    walk_list(w, s, &n->l2, soft);
    walk_list(w, f, &n->l1, false);
    walk_body(w, f, &n->l3, false);
    return;
  }
  case N_ASSIGN:
    w->last = n->jline;
    walk_expr(w, s, n->b, soft);
    walk_expr(w, s, n->a, soft);
    return;
  case N_ASSIGNBLOCK: {
    syms *f = syms_new(c, s);
    fsv_list(w, f, &n->l1, false);
    n->fi = make_info(c, f, false);
    walk_body(w, f, &n->l1, false);
    w->last = n->jline;
    walk_expr(w, f, n->b, false);
    walk_expr(w, s, n->a, soft);
    return;
  }
  case N_BLOCK: { /* the block's body is generated elsewhere; here only its call */
    syms *f = syms_new(c, NULL);
    unsigned want = 16 | 32, found = 0; /* self and super, when the body reads them */
    undeclared_list(&n->l1, &want, &found);
    if (found & 16) sym_param(c, f, "self");
    if (found & 32) sym_param(c, f, "super");
    fsv_list(w, f, &n->l1, false);
    n->fi = make_info(c, f, false);
    n->kwargs_slot = (found & 16) ? find(f, "self")->slot : -1;
    n->caller_slot = (found & 32) ? find(f, "super")->slot : -1;
    walk_body(w, f, &n->l1, false);
    w->last = n->jline;
    return;
  }
  default: return;
  }
}

static void walk_stmt_in(walker *w, syms *s, tnode *n, bool soft);

static void walk_stmt(walker *w, syms *s, tnode *n, bool soft) {
  if (n->kind == N_EXTENDS && !w->top) brr__template_terr(w->c, n, "cannot use extend from a non top-level scope");
  if (n->kind == N_BLOCK) n->flag2 = w->top; /* a top-level block is skipped after an extends */
  bool top = w->top;
  if (n->kind != N_IF) w->top = false;
  walk_stmt_in(w, s, n, soft);
  w->top = top;
}

static void walk_stmt_in(walker *w, syms *s, tnode *n, bool soft) {
  switch (n->kind) {
  case N_OUTPUT:
    for (size_t i = 0; i < n->l1.n; i++)
      if (n->l1.v[i]->kind != N_DATA) {
        if (n->l1.v[i]->kind != N_CONST) w->last = n->l1.v[i]->jline;
        walk_expr(w, s, n->l1.v[i], soft);
      }
    return;
  case N_FOR: walk_for(w, s, n); return;
  case N_IF:
    w->last = n->jline;
    walk_expr(w, s, n->a, true);
    walk_body(w, s, &n->l1, true);
    for (size_t i = 0; i < n->l2.n; i++) walk_stmt(w, s, n->l2.v[i], true);
    walk_body(w, s, &n->l3, true);
    return;
  case N_MACRO: {
    w->last = n->jline;
    walk_macro_frame(w, s, n);
    syms *owner = find_ref(s, n->s);
    n->ref_hops = s->level - owner->level;
    n->ref_slot = find(owner, n->s)->slot;
    return;
  }
  case N_CALLBLOCK:
    w->last = n->jline;
    walk_macro_frame(w, s, n);
    w->last = n->jline;
    walk_expr(w, s, n->a, soft);
    return;
  case N_FILTERBLOCK:
  case N_WITH:
  case N_ASSIGN:
  case N_ASSIGNBLOCK:
  case N_BLOCK: walk_scoped(w, s, n, soft); return;
  case N_EXTENDS:
  case N_IMPORT:
  case N_FROMIMPORT:
    w->last = n->jline;
    walk_expr(w, s, n->a, soft);
    walk_expr(w, s, n->b, soft);
    walk_list(w, s, &n->l1, soft);
    return;
  case N_EXPRSTMT:
  case N_INCLUDE:
  case N_UNSUPPORTED:
    w->last = n->jline;
    walk_expr(w, s, n->a, soft);
    if (n->kind == N_UNSUPPORTED) walk_body(w, s, &n->l1, soft);
    return;
  default: return;
  }
}

static void walk_body(walker *w, syms *s, tnodes *l, bool soft) {
  for (size_t i = 0; i < l->n; i++) walk_stmt(w, s, l->v[i], soft);
}

tframe_info *brr__template_tsymbols_resolve(tctx *c, tnode *root) {
  walker w = {.c = c, .br = c->br, .last = 1, .top = true};
  syms *s = syms_new(c, NULL);
  unsigned want = 16, found = 0; /* `self` */
  undeclared_list(&root->l1, &want, &found);
  if (found) sym_param(c, s, "self");
  fsv_list(&w, s, &root->l1, false);
  root->fi = make_info(c, s, true);
  root->kwargs_slot = found ? find(s, "self")->slot : -1;
  walk_body(&w, s, &root->l1, false);
  return root->fi;
}
