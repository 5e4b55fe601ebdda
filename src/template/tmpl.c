/* Templates that use other templates: include, extends (blocks, super(), self), import and
 * from-import, as Jinja2's compiler and runtime (jinja2/compiler.py, runtime.py) do them.
 *
 * Every template is loaded and parsed once per render, relative to the working directory as
 * buildrunner's FileSystemLoader(".") finds it. Code of another template runs through
 * brr__template_tswitch(), which makes that template current and, when an error comes out of it, reports
 * it at the statement of the main file that led there, as Jinja2's traceback does. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- loading ---- */

ttmpl *brr__template_ttmpl_new(tctx *c, const char *name) {
  ttmpl *t = brr__template_talloc(c, sizeof *t);
  t->name = name;
  t->module = BRR__TEMPLATE_TV_MISSING_V;
  return t;
}

/* every block of the template (Jinja2: node.find_all(Block), names unique) and whether it
 * extends another */
static void collect(tctx *c, ttmpl *t, tnode *n) {
  if (!n || n->kind == N_OUTPUT) return;
  if (n->kind == N_EXTENDS) t->has_extends = true;
  if (n->kind == N_BLOCK) {
    for (size_t i = 0; i < t->nblocks; i++)
      if (!strcmp(t->blocks[i]->s, n->s)) brr__template_terr(c, n, "block '%s' defined twice", n->s);
    t->blocks = brr__template_tgrow(c, t->blocks, t->nblocks * sizeof *t->blocks, (t->nblocks + 1) * sizeof *t->blocks);
    t->blocks[t->nblocks++] = n;
  }
  const tnodes *ls[3] = {&n->l1, &n->l2, &n->l3};
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < ls[k]->n; i++) collect(c, t, ls[k]->v[i]);
}

void brr__template_ttmpl_parse(tctx *c, ttmpl *t, const char *src, size_t len) {
  t->src = brr__template_tlex_prepare(c, src, len, &t->srclen);
  c->src = t->src;
  c->srclen = t->srclen;
  size_t ntok;
  ttok *toks = brr__template_tlex(c, t->src, t->srclen, &ntok);
  tnode *root = brr__template_tparse(c, toks, ntok, c->br);
  for (size_t i = 0; i < root->l1.n; i++) collect(c, t, root->l1.v[i]);
  brr__template_tsymbols_resolve(c, root);
  t->root = root;
}

typedef struct load_arg {
  ttmpl *t;
  const char *body;
  size_t len;
} load_arg;

static void load_cb(tctx *c, void *p) {
  load_arg *a = p;
  brr__template_ttmpl_parse(c, a->t, a->body, a->len);
}

/* The template `name`, loaded and parsed once per render; NULL when it does not exist and
 * `ignore_missing`. */
static ttmpl *tload(tctx *c, const tnode *at, tv name, bool ignore_missing, const char *tag) {
  if (name.t != TV_STR) brr__template_terr(c, at, "brr's %s takes a template name (a string%s)", tag, !strcmp(tag, "include") ? " or a list of them" : "");
  for (ttmpl *t = c->tmpls; t; t = t->next)
    if (!strcmp(t->name, name.u.str)) return t;
  /* FileSystemLoader's split_template_path: '/'-separated pieces under the search path,
   * empty and '.' pieces dropped, a '..' piece not found (so '/x' is './x') */
  tbuf rel = {0};
  bool bad = strlen(name.u.str) != name.slen;
  for (const char *p = name.u.str, *e; !bad && *p; p = *e ? e + 1 : e) {
    e = strchr(p, '/');
    if (!e) e = p + strlen(p);
    size_t l = (size_t)(e - p);
    if (l == 2 && !memcmp(p, "..", 2)) bad = true;
    else if (l && !(l == 1 && *p == '.')) {
      brr__template_tbuf_adds(c, &rel, "/");
      brr__template_tbuf_add(c, &rel, p, l);
    }
  }
  brr_buf text = BRR_BUF_INIT;
  int rc = -1;
  if (!bad && rel.n) {
    char *path = brr_path_join(c->env->cwd ? c->env->cwd : ".", rel.p + 1);
    rc = brr_read_file(path, &text);
    free(path);
  }
  if (rc < 0) {
    brr_buf_free(&text);
    if (ignore_missing) return NULL;
    brr__template_terr(c, at, "%s", name.u.str); /* Jinja2's TemplateNotFound says only the name */
  }
  tescape(c); /* the template outlives the loop iteration that loaded it */
  char *body = brr__template_tstrndup(c, text.data ? text.data : "", text.len);
  load_arg a = {brr__template_ttmpl_new(c, brr__template_tstrndup(c, name.u.str, name.slen)), body, text.len};
  brr_buf_free(&text);
  brr__template_tswitch(c, at, a.t, load_cb, &a);
  a.t->next = c->tmpls;
  c->tmpls = a.t;
  return a.t;
}

/* ---- running code of another template ---- */

typedef struct tsaved {
  jmp_buf *jb;
  ttmpl *cur;
  const char *src;
  size_t srclen;
  tdict *ctxvars, *vars, *noexport;
  tblocks *blocks;
  ttmpl *parent_tmpl;
  const tnode *parent_at;
  bool out_check;
  tbuf *out;
  unsigned eline, ecol, ext_line;
  int depth;
  size_t nchain;
} tsaved;

static void restore(tctx *c, const tsaved *s) {
  c->jb = s->jb;
  c->cur = s->cur;
  c->src = s->src;
  c->srclen = s->srclen;
  c->ctxvars = s->ctxvars;
  c->vars = s->vars;
  c->noexport = s->noexport;
  c->blocks = s->blocks;
  c->parent_tmpl = s->parent_tmpl;
  c->parent_at = s->parent_at;
  c->out_check = s->out_check;
  c->out = s->out;
  c->eline = s->eline;
  c->ecol = s->ecol;
  c->ext_line = s->ext_line;
  c->depth = s->depth;
  c->nchain = s->nchain;
}

void brr__template_tswitch(tctx *c, const tnode *at, ttmpl *t, void (*fn)(tctx *, void *), void *arg) {
  jmp_buf jb;
  const tsaved saved = {c->jb, c->cur, c->src, c->srclen, c->ctxvars, c->vars, c->noexport, c->blocks,
                        c->parent_tmpl, c->parent_at, c->out_check, c->out, c->eline, c->ecol, c->ext_line,
                        c->depth, c->nchain};
  if (c->cur == c->main_tmpl) c->ext_line = at->line;
  c->jb = &jb;
  c->cur = t;
  c->src = t->src;
  c->srclen = t->srclen;
  if (setjmp(jb) == 0) {
    fn(c, arg);
    restore(c, &saved);
    return;
  }
  restore(c, &saved);
  /* an error in the main file's own code is already where Jinja2 reports it */
  if (c->err_tmpl == c->main_tmpl) longjmp(*c->jb, 1);
  char *msg = c->err_final ? brr__template_tstrdup(c, c->err_msg)
                           : brr__template_tprintf(c, "in %s, line %u: %s", c->err_tmpl->name, c->err_line, c->err_msg);
  if (c->err_exit == BRR_EXIT_FAILED) brr__template_terr_raise(c, at, msg);
  brr__template_terr(c, at, "%s", msg);
}

/* The templates being rendered inside one another. Jinja2 stops a runaway nesting with
 * Python's RecursionError after a screenful of repeated traceback lines; brr stops at its
 * depth limit with the loop named once. */
static void chain_push(tctx *c, const tnode *at, const char *name) {
  if (c->depth + 1 > MAX_CALL_DEPTH) {
    size_t k = c->nchain;
    while (k > 0 && strcmp(c->chain[k - 1], name) != 0) k--;
    if (!k) brr__template_terr(c, at, "maximum recursion depth exceeded");
    tbuf b = {0};
    for (size_t i = k - 1; i < c->nchain; i++) brr__template_tbuf_printf(c, &b, "%s -> ", c->chain[i]);
    brr__template_tbuf_adds(c, &b, name);
    c->err_final = true;
    brr__template_terr(c, at, "template loop: %s (templates nested more than %d deep)", b.p, MAX_CALL_DEPTH);
  }
  brr__template_tstack_check(c, at);
  c->depth++;
  if (c->nchain == c->capchain) {
    c->capchain = c->capchain ? c->capchain * 2 : 16;
    c->chain = brr_xrealloc(c->chain, c->capchain * sizeof *c->chain);
  }
  c->chain[c->nchain++] = name;
}

static void chain_pop(tctx *c) {
  c->nchain--;
  c->depth--;
}

/* ---- blocks ---- */

static tblist *blist_find(const tblocks *bs, const char *name) {
  for (tblist *l = bs ? bs->head : NULL; l; l = l->next)
    if (!strcmp(l->name, name)) return l;
  return NULL;
}

static void blist_add(tctx *c, tblocks *bs, const tnode *node, ttmpl *t) {
  tblist *l = blist_find(bs, node->s);
  if (!l) {
    l = brr__template_talloc(c, sizeof *l);
    l->name = node->s;
    l->next = bs->head;
    bs->head = l;
  }
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 2;
    l->v = brr__template_tgrow(c, l->v, l->cap * sizeof *l->v, nc * sizeof *l->v);
    l->cap = nc;
  }
  l->v[l->n++] = (tblk){node, t};
}

tblocks *brr__template_tblocks_new(tctx *c, ttmpl *t) {
  tblocks *bs = brr__template_talloc(c, sizeof *bs);
  for (size_t i = 0; i < t->nblocks; i++) blist_add(c, bs, t->blocks[i], t);
  return bs;
}

static tv self_ref(tctx *c) {
  tobj *o = brr__template_talloc(c, sizeof *o);
  o->kind = TOBJ_SELF;
  o->blocks = c->blocks;
  return (tv){.t = TV_OBJ, .u.obj = o};
}

static void run_block(tctx *c, const tnode *at, tblist *bl, size_t idx, tdict *scoped);

/* super() and self.name(): a BlockReference, rendering the block when called */
static tv blockref_call(tctx *c, tcall *a) {
  tfunc *fn = a->self;
  if (a->npos || a->nkw) brr__template_terr(c, a->at, "BlockReference.__call__() takes 1 positional argument but %zu were given", a->npos + a->nkw + 1);
  tbuf *saved = c->out;
  tbuf *b = brr__template_talloc(c, sizeof *b);
  c->out = b;
  run_block(c, a->at, fn->blist, fn->bidx, NULL);
  c->out = saved;
  return brr__template_tbuf_str(c, b);
}

static tv blockref(tctx *c, tblist *bl, size_t idx) {
  tv v = brr__template_tfn_new(c, "BlockReference", blockref_call, BRR__TEMPLATE_TV_MISSING_V);
  v.u.fn->blist = bl;
  v.u.fn->bidx = idx;
  return v;
}

typedef struct block_arg {
  const tnode *at;
  tblist *bl;
  size_t idx;
  tdict *scoped;
} block_arg;

static void block_body(tctx *c, void *p) {
  block_arg *a = p;
  const tnode *n = a->bl->v[a->idx].node;
  if (++c->depth > MAX_CALL_DEPTH) brr__template_terr(c, a->at, "maximum recursion depth exceeded");
  brr__template_tstack_check(c, a->at);
  unsigned eline = c->eline, ecol = c->ecol;
  bool out_check = c->out_check;
  tdict *ctxvars = c->ctxvars;
  c->out_check = false;
  if (a->scoped) c->ctxvars = a->scoped;
  tframe *bf = brr__template_tframe_enter(c, NULL, n->fi);
  if (n->caller_slot >= 0)
    bf->slots[n->caller_slot] = a->idx + 1 < a->bl->n
                                    ? blockref(c, a->bl, a->idx + 1)
                                    : brr__template_tv_undef(c, brr__template_tprintf(c, "there is no parent block called '%s'.", n->s), BRR__TEMPLATE_TV_MISSING_V,
                                               tv_str_nocopy("super", 5));
  if (n->kwargs_slot >= 0) bf->slots[n->kwargs_slot] = self_ref(c);
  brr__template_texec_body(c, bf, &n->l1);
  c->ctxvars = ctxvars;
  c->out_check = out_check;
  c->eline = eline;
  c->ecol = ecol;
  c->depth--;
}

static void run_block(tctx *c, const tnode *at, tblist *bl, size_t idx, tdict *scoped) {
  block_arg a = {at, bl, idx, scoped};
  if (bl->v[idx].t == c->cur) block_body(c, &a);
  else brr__template_tswitch(c, at, bl->v[idx].t, block_body, &a);
}

/* {% block %} where it stands: the first template's version of it runs */
void brr__template_texec_block(tctx *c, tframe *f, const tnode *n) {
  /* a child template's top-level blocks run from its parent (those in loops run here too) */
  if (n->flag2 && c->out_check && c->parent_tmpl) return;
  tblist *bl = blist_find(c->blocks, n->s);
  if (n->op == 1 && (!bl || bl->n <= 1)) brr__template_terr(c, n, "Required block '%s' not found", n->s);
  if (!bl) brr__template_terr(c, n, "'%s'", n->s); /* Jinja2's KeyError */
  run_block(c, n, bl, 0, n->flag ? brr__template_tinclude_context(c, f, true) : NULL);
}

bool brr__template_tobj_attr(tctx *c, tv obj, const char *name, size_t n, tv *out) {
  tobj *o = obj.u.obj;
  if (o->kind == TOBJ_MODULE) {
    tv *v = brr__template_td_gets(o->exports, name, n);
    if (v) *out = *v;
    return v != NULL;
  }
  tblist *bl = strlen(name) == n ? blist_find(o->blocks, name) : NULL;
  if (!bl) return false;
  *out = blockref(c, bl, 0);
  return true;
}

/* ---- rendering a template ---- */

static void root_cb(tctx *c, void *p) { brr__template_texec_root(c, p); }

void brr__template_texec_root(tctx *c, ttmpl *t) {
  ttmpl *parent = c->parent_tmpl;
  const tnode *parent_at = c->parent_at;
  bool out_check = c->out_check;
  c->parent_tmpl = NULL;
  c->out_check = t->has_extends;
  tframe *f = brr__template_tframe_enter(c, NULL, t->root->fi);
  if (t->root->kwargs_slot >= 0) f->slots[t->root->kwargs_slot] = self_ref(c);
  brr__template_texec_body(c, f, &t->root->l1);
  ttmpl *p = c->parent_tmpl;
  const tnode *at = c->parent_at;
  c->parent_tmpl = parent;
  c->parent_at = parent_at;
  c->out_check = out_check;
  if (!p) return;
  /* the template extended renders the page, with this one's blocks */
  chain_push(c, at, p->name);
  brr__template_tswitch(c, at, p, root_cb, p);
  chain_pop(c);
}

void brr__template_texec_extends(tctx *c, tframe *f, const tnode *n) {
  if (c->parent_tmpl) brr__template_terr(c, n, "extended multiple times");
  ttmpl *t = tload(c, n, brr__template_teval(c, f, n->a), false, "extends");
  tescape(c);
  c->parent_tmpl = t;
  c->parent_at = n;
  for (size_t i = 0; i < t->nblocks; i++) blist_add(c, c->blocks, t->blocks[i], t);
}

/* What an included template sees as its context: everything the includer sees, locals
 * included (Jinja2 3.x passes them), or nothing but the globals `without context`. */
tdict *brr__template_tinclude_context(tctx *c, tframe *f, bool with_context) {
  tdict *d = brr__template_tv_dict(c).u.d;
  if (!with_context) return d;
  tdent *e;
  for (size_t i = 0; brr__template_td_next(c->ctxvars, &i, &e);) brr__template_td_set(c, NULL, d, e->key, e->val);
  tframe *chain[256];
  size_t n = 0;
  for (tframe *x = f; x && n < BRR_ARRAY_LEN(chain); x = x->parent) chain[n++] = x;
  while (n--) /* outermost first, so inner frames win */
    for (size_t s = 0; s < chain[n]->fi->n; s++)
      if (chain[n]->slots[s].t != TV_MISSING) brr__template_td_sets(c, d, chain[n]->fi->slots[s].name, chain[n]->slots[s]);
  return d;
}

typedef struct include_arg {
  ttmpl *t;
  tdict *ctxvars;
} include_arg;

static void include_cb(tctx *c, void *p) {
  include_arg *a = p;
  c->ctxvars = a->ctxvars;
  c->noexport = NULL;
  c->blocks = brr__template_tblocks_new(c, a->t);
  brr__template_texec_root(c, a->t);
}

static tv default_module(tctx *c, const tnode *n, ttmpl *t);

/* {% include %}: the file rendered with the current context; without context, the output of
 * its module (made once, shared with imports, as Jinja2's _get_default_module). A list of
 * names includes the first that exists (Jinja2's select_template). */
void brr__template_texec_include(tctx *c, tframe *f, const tnode *n) {
  tv name = brr__template_teval(c, f, n->a);
  ttmpl *t = NULL;
  if (name.t == TV_LIST || name.t == TV_TUPLE) {
    for (size_t i = 0; !t && i < name.u.l->n; i++) t = tload(c, n, name.u.l->v[i], true, "include");
    if (!t && !n->flag) {
      tbuf b = {0};
      for (size_t i = 0; i < name.u.l->n; i++) {
        if (i) brr__template_tbuf_adds(c, &b, ", ");
        brr__template_tv_str_to(c, &b, name.u.l->v[i]);
      }
      brr__template_terr(c, n, "none of the templates given were found: %s", b.p ? b.p : "");
    }
  } else {
    t = tload(c, n, name, n->flag, "include");
  }
  if (!t) return;
  if (!n->flag2) {
    tv body = default_module(c, n, t).u.obj->body;
    brr__template_temit(c, body.u.str, body.slen, n->line, false);
    return;
  }
  include_arg a = {t, brr__template_tinclude_context(c, f, true)};
  chain_push(c, n, t->name);
  brr__template_tswitch(c, n, t, include_cb, &a);
  chain_pop(c);
}

/* ---- import ---- */

typedef struct module_arg {
  ttmpl *t;
  tdict *vars;
  tv result;
} module_arg;

/* Jinja2's make_module: the template rendered in a context of its own; what its top level
 * sets and defines (but not what it imports, nor names starting with `_`) are the module's */
static void module_cb(tctx *c, void *p) {
  module_arg *m = p;
  c->ctxvars = brr__template_tv_dict(c).u.d;
  c->vars = m->vars;
  c->noexport = NULL;
  c->blocks = brr__template_tblocks_new(c, m->t);
  tbuf *b = brr__template_talloc(c, sizeof *b);
  c->out = b;
  brr__template_texec_root(c, m->t);
  tobj *o = brr__template_talloc(c, sizeof *o);
  o->kind = TOBJ_MODULE;
  o->name = m->t->name;
  o->body = brr__template_tbuf_str(c, b);
  o->exports = brr__template_tv_dict(c).u.d;
  tdent *e;
  for (size_t i = 0; brr__template_td_next(c->ctxvars, &i, &e);) {
    if (e->key.t != TV_STR || e->key.u.str[0] == '_') continue;
    if (c->noexport && brr__template_td_gets(c->noexport, e->key.u.str, e->key.slen)) continue;
    brr__template_td_set(c, NULL, o->exports, e->key, e->val);
  }
  m->result = (tv){.t = TV_OBJ, .u.obj = o};
}

static void noexport_add(tctx *c, const char *name) {
  if (!c->noexport) c->noexport = brr__template_tv_dict(c).u.d;
  brr__template_td_sets(c, c->noexport, name, BRR__TEMPLATE_TV_TRUE_V);
}

/* the module of `t` without context: made once, as Jinja2 caches it */
static tv default_module(tctx *c, const tnode *n, ttmpl *t) {
  if (t->module.t != TV_MISSING) return t->module;
  module_arg m = {t, NULL, BRR__TEMPLATE_TV_MISSING_V};
  chain_push(c, n, t->name);
  brr__template_tswitch(c, n, t, module_cb, &m);
  chain_pop(c);
  tescape(c);
  t->module = m.result;
  return m.result;
}

void brr__template_texec_import(tctx *c, tframe *f, const tnode *n) {
  ttmpl *t = tload(c, n, brr__template_teval(c, f, n->a), false, n->kind == N_IMPORT ? "import" : "from-import");
  module_arg m = {t, NULL, BRR__TEMPLATE_TV_MISSING_V};
  if (n->flag2) { /* with context: the importer's variables and locals */
    m.vars = brr__template_tv_dict(c).u.d;
    tdent *e;
    for (size_t i = 0; c->vars && brr__template_td_next(c->vars, &i, &e);) brr__template_td_set(c, NULL, m.vars, e->key, e->val);
    tdict *l = brr__template_tinclude_context(c, f, true);
    for (size_t i = 0; brr__template_td_next(l, &i, &e);) brr__template_td_set(c, NULL, m.vars, e->key, e->val);
    chain_push(c, n, t->name);
    brr__template_tswitch(c, n, t, module_cb, &m);
    chain_pop(c);
  } else {
    m.result = default_module(c, n, t);
  }
  bool top = f->fi->toplevel;
  if (n->kind == N_IMPORT) {
    brr__template_tassign(c, f, n->b, m.result, top);
    if (top && n->b->s[0] != '_') noexport_add(c, n->b->s);
    return;
  }
  tdict *exports = m.result.u.obj->exports;
  for (size_t i = 0; i < n->l1.n; i++) {
    const tnode *target = n->l1.v[i];
    tv *v = brr__template_td_gets(exports, target->s2, strlen(target->s2));
    tv val;
    if (v) {
      val = *v;
    } else {
      tbuf b = {0};
      brr__template_tbuf_adds(c, &b, "the template ");
      brr__template_tv_repr_to(c, &b, tv_str_nocopy(t->name, strlen(t->name)));
      brr__template_tbuf_printf(c, &b, " (imported on line %u", n->line);
      if (c->cur != c->main_tmpl) {
        brr__template_tbuf_adds(c, &b, " in ");
        brr__template_tv_repr_to(c, &b, tv_str_nocopy(c->cur->name, strlen(c->cur->name)));
      }
      brr__template_tbuf_printf(c, &b, ") does not export the requested name '%s'", target->s2);
      val = brr__template_tv_undef(c, b.p, BRR__TEMPLATE_TV_MISSING_V, tv_str_nocopy(target->s2, strlen(target->s2)));
    }
    brr__template_tassign(c, f, target, val, top);
    if (top && target->s[0] != '_') noexport_add(c, target->s);
  }
}

typedef struct macro_arg {
  const tnode *at;
  tfunc *fn;
  tcall *a;
  tv (*call)(tctx *, const tnode *, tfunc *, tcall *);
  tv r;
} macro_arg;

static void macro_cb(tctx *c, void *p) {
  macro_arg *m = p;
  c->ctxvars = m->fn->ctxvars;
  c->vars = m->fn->vars;
  c->blocks = m->fn->blocks;
  m->r = m->call(c, m->at, m->fn, m->a);
}

/* a macro defined in another template or render context: it runs in its own */
tv brr__template_tcall_macro_in(tctx *c, const tnode *at, tfunc *fn, tcall *a, tv (*call)(tctx *, const tnode *, tfunc *, tcall *)) {
  macro_arg m = {at, fn, a, call, BRR__TEMPLATE_TV_NONE_V};
  brr__template_tswitch(c, at, fn->tmpl, macro_cb, &m);
  return m.r;
}
