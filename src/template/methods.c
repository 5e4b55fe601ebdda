/* Attributes of values: dict/list/tuple methods, the loop object, namespaces, cycler, range,
 * numbers — what Python's getattr() finds, which Jinja2 tries before item lookup. Also the
 * argument binding every built-in uses. */
#include <math.h>
#include <string.h>

#include "internal.h"

#define SELF(a) ((a)->self->self)

/* ---- argument binding ---- */

void brr__template_targs_bind(tctx *c, tcall *a, const char *fname, const char *const *params, size_t np, tv *out) {
  for (size_t i = 0; i < np; i++) out[i] = BRR__TEMPLATE_TV_MISSING_V;
  if (a->npos > np) {
    size_t req = 0;
    for (size_t i = 0; i < np; i++) req += params[i][0] != '?';
    brr__template_terr(c, a->at, "%s() takes %s %zu positional argument%s but %zu were given", fname, req == np ? "exactly" : "at most",
         np, np == 1 ? "" : "s", a->npos);
  }
  for (size_t i = 0; i < a->npos; i++) out[i] = a->pos[i];
  for (size_t k = 0; k < a->nkw; k++) {
    size_t i;
    for (i = 0; i < np; i++)
      if (!strcmp(params[i] + (params[i][0] == '?'), a->kw[k].name)) break;
    if (i == np) brr__template_terr(c, a->at, "%s() got an unexpected keyword argument '%s'", fname, a->kw[k].name);
    if (out[i].t != TV_MISSING) brr__template_terr(c, a->at, "%s() got multiple values for argument '%s'", fname, a->kw[k].name);
    out[i] = a->kw[k].v;
  }
  for (size_t i = 0; i < np; i++)
    if (out[i].t == TV_MISSING && params[i][0] != '?') brr__template_terr(c, a->at, "%s() missing required argument: '%s'", fname, params[i]);
}

int64_t brr__template_targ_int(tctx *c, const tnode *at, tv v, const char *what) {
  if (v.t == TV_INT) return v.u.i;
  if (v.t == TV_BOOL) return v.u.b;
  if (tv_is_undef(v)) brr__template_terr_undef(c, at, v);
  brr__template_terr(c, at, "'%s' object cannot be interpreted as an integer (%s)", brr__template_tv_typename(v), what);
}

const char *brr__template_targ_str(tctx *c, const tnode *at, tv v, const char *what, size_t *n) {
  if (v.t == TV_STR) {
    *n = v.slen;
    return v.u.str;
  }
  if (tv_is_undef(v)) brr__template_terr_undef(c, at, v);
  brr__template_terr(c, at, "%s: must be str, not %s", what, brr__template_tv_typename(v));
}

tv brr__template_tfn_new(tctx *c, const char *name, tbuiltin fn, tv self) {
  tfunc *f = brr__template_talloc(c, sizeof *f);
  f->kind = FN_BUILTIN;
  f->name = name;
  f->fn = fn;
  f->self = self;
  return (tv){.t = TV_FUNC, .u.fn = f};
}

/* ---- dict ---- */

static tv d_get(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "get", args, "key", "?default");
  tv *v = brr__template_td_get(c, a->at, SELF(a).u.d, args[0]);
  if (v) return *v;
  return args[1].t == TV_MISSING ? BRR__TEMPLATE_TV_NONE_V : args[1];
}

static tv view(tv d, int kind) {
  d.t = TV_VIEW;
  d.sub = (uint8_t)kind;
  return d;
}
static tv d_items(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "items", NULL, 0, NULL);
  return view(SELF(a), TV_VIEW_ITEMS);
}
static tv d_keys(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "keys", NULL, 0, NULL);
  return view(SELF(a), TV_VIEW_KEYS);
}
static tv d_values(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "values", NULL, 0, NULL);
  return view(SELF(a), TV_VIEW_VALUES);
}

static tv d_pop(tctx *c, tcall *a) {
  tescape(c);
  tv args[2], old;
  TARGS(c, a, "pop", args, "key", "?default");
  if (brr__template_td_del(c, a->at, SELF(a).u.d, args[0], &old)) return old;
  if (args[1].t != TV_MISSING) return args[1];
  tbuf b = {0};
  brr__template_tv_repr_to(c, &b, args[0]);
  brr__template_terr(c, a->at, "KeyError: %s", brr__template_tbuf_str(c, &b).u.str);
}

static tv d_popitem(tctx *c, tcall *a) {
  tescape(c);
  brr__template_targs_bind(c, a, "popitem", NULL, 0, NULL);
  tdict *d = SELF(a).u.d;
  for (size_t i = d->n; i-- > 0;)
    if (!d->e[i].dead) {
      tv t = brr__template_tv_tuple(c, 2);
      t.u.l->v[0] = d->e[i].key;
      t.u.l->v[1] = d->e[i].val;
      brr__template_td_del(c, a->at, d, d->e[i].key, NULL);
      return t;
    }
  brr__template_terr(c, a->at, "'popitem(): dictionary is empty'");
}

static tv d_setdefault(tctx *c, tcall *a) {
  tescape(c);
  tv args[2];
  TARGS(c, a, "setdefault", args, "key", "?default");
  tv *v = brr__template_td_get(c, a->at, SELF(a).u.d, args[0]);
  if (v) return *v;
  tv dv = args[1].t == TV_MISSING ? BRR__TEMPLATE_TV_NONE_V : args[1];
  brr__template_td_set(c, a->at, SELF(a).u.d, args[0], dv);
  return dv;
}

/* dict(x) / d.update(x): a mapping, or an iterable of pairs, plus keyword arguments */
void brr__template_tdict_update(tctx *c, const tnode *at, tdict *d, tv src) {
  if (src.t == TV_DICT || src.t == TV_NS) {
    tdent *e;
    for (size_t i = 0; brr__template_td_next(src.u.d, &i, &e);) brr__template_td_set(c, at, d, e->key, e->val);
    return;
  }
  size_t n;
  tv *items = brr__template_tv_iterate(c, at, src, &n);
  for (size_t i = 0; i < n; i++) {
    size_t m;
    tv *kv = brr__template_tv_iterate(c, at, items[i], &m);
    if (m != 2)
      brr__template_terr(c, at, "dictionary update sequence element #%zu has length %zu; 2 is required", i, m);
    brr__template_td_set(c, at, d, kv[0], kv[1]);
  }
}

static tv d_update(tctx *c, tcall *a) {
  tescape(c);
  if (a->npos > 1) brr__template_terr(c, a->at, "update expected at most 1 argument, got %zu", a->npos);
  if (a->npos) brr__template_tdict_update(c, a->at, SELF(a).u.d, a->pos[0]);
  for (size_t k = 0; k < a->nkw; k++) brr__template_td_sets(c, SELF(a).u.d, a->kw[k].name, a->kw[k].v);
  return BRR__TEMPLATE_TV_NONE_V;
}

static tv d_copy(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "copy", NULL, 0, NULL);
  return (tv){.t = TV_DICT, .u.d = brr__template_td_copy(c, SELF(a).u.d)};
}

static tv d_clear(tctx *c, tcall *a) {
  tescape(c);
  brr__template_targs_bind(c, a, "clear", NULL, 0, NULL);
  tdict *d = SELF(a).u.d;
  memset(d, 0, sizeof *d);
  return BRR__TEMPLATE_TV_NONE_V;
}

static tv d_fromkeys(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "fromkeys", args, "iterable", "?value");
  size_t n;
  tv *keys = brr__template_tv_iterate(c, a->at, args[0], &n);
  tv d = brr__template_tv_dict(c);
  for (size_t i = 0; i < n; i++) brr__template_td_set(c, a->at, d.u.d, keys[i], args[1].t == TV_MISSING ? BRR__TEMPLATE_TV_NONE_V : args[1]);
  return d;
}

/* ---- list and tuple ---- */

static tv l_append(tctx *c, tcall *a) {
  tescape(c);
  tv args[1];
  TARGS(c, a, "append", args, "object");
  brr__template_tl_push(c, SELF(a).u.l, args[0]);
  return BRR__TEMPLATE_TV_NONE_V;
}

static tv l_extend(tctx *c, tcall *a) {
  tescape(c);
  tv args[1];
  TARGS(c, a, "extend", args, "iterable");
  size_t n;
  tv *items = brr__template_tv_iterate(c, a->at, args[0], &n);
  for (size_t i = 0; i < n; i++) brr__template_tl_push(c, SELF(a).u.l, items[i]);
  return BRR__TEMPLATE_TV_NONE_V;
}

static tv l_insert(tctx *c, tcall *a) {
  tescape(c);
  tv args[2];
  TARGS(c, a, "insert", args, "index", "object");
  tlist *l = SELF(a).u.l;
  int64_t i = brr__template_targ_int(c, a->at, args[0], "index"), n = (int64_t)l->n;
  if (i < 0) i = i + n < 0 ? 0 : i + n;
  if (i > n) i = n;
  brr__template_tl_push(c, l, BRR__TEMPLATE_TV_NONE_V);
  memmove(l->v + i + 1, l->v + i, (size_t)(n - i) * sizeof *l->v);
  l->v[i] = args[1];
  return BRR__TEMPLATE_TV_NONE_V;
}

static tv l_pop(tctx *c, tcall *a) {
  tescape(c);
  tv args[1];
  TARGS(c, a, "pop", args, "?index");
  tlist *l = SELF(a).u.l;
  if (l->n == 0) brr__template_terr(c, a->at, "pop from empty list");
  int64_t i = args[0].t == TV_MISSING ? (int64_t)l->n - 1 : brr__template_targ_int(c, a->at, args[0], "index");
  if (i < 0) i += (int64_t)l->n;
  if (i < 0 || i >= (int64_t)l->n) brr__template_terr(c, a->at, "pop index out of range");
  tv v = l->v[i];
  memmove(l->v + i, l->v + i + 1, (l->n - (size_t)i - 1) * sizeof *l->v);
  l->n--;
  return v;
}

static int64_t seq_find(tctx *c, tcall *a, tv *args) {
  tlist *l = SELF(a).u.l;
  int64_t n = (int64_t)l->n;
  int64_t st = args[1].t == TV_MISSING ? 0 : brr__template_targ_int(c, a->at, args[1], "start");
  int64_t en = args[2].t == TV_MISSING ? n : brr__template_targ_int(c, a->at, args[2], "stop");
  if (st < 0) st = st + n < 0 ? 0 : st + n;
  if (en < 0) en = en + n < 0 ? 0 : en + n;
  if (en > n) en = n;
  for (int64_t i = st; i < en; i++)
    if (brr__template_tv_eq(c, l->v[i], args[0])) return i;
  return -1;
}

static tv l_index(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "index", args, "value", "?start", "?stop");
  int64_t i = seq_find(c, a, args);
  if (i < 0) {
    tbuf b = {0};
    brr__template_tv_repr_to(c, &b, args[0]);
    brr__template_terr(c, a->at, "%s is not in %s", brr__template_tbuf_str(c, &b).u.str, SELF(a).t == TV_TUPLE ? "tuple" : "list");
  }
  return tv_int(i);
}

static tv l_count(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "count", args, "value");
  tlist *l = SELF(a).u.l;
  int64_t k = 0;
  for (size_t i = 0; i < l->n; i++) k += brr__template_tv_eq(c, l->v[i], args[0]);
  return tv_int(k);
}

static tv l_remove(tctx *c, tcall *a) {
  tescape(c);
  tv args[3] = {BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_MISSING_V};
  TARGS(c, a, "remove", args, "value");
  int64_t i = seq_find(c, a, args);
  if (i < 0) brr__template_terr(c, a->at, "list.remove(x): x not in list");
  tlist *l = SELF(a).u.l;
  memmove(l->v + i, l->v + i + 1, (l->n - (size_t)i - 1) * sizeof *l->v);
  l->n--;
  return BRR__TEMPLATE_TV_NONE_V;
}

static tv l_reverse(tctx *c, tcall *a) {
  tescape(c);
  brr__template_targs_bind(c, a, "reverse", NULL, 0, NULL);
  tlist *l = SELF(a).u.l;
  for (size_t i = 0; i < l->n / 2; i++) {
    tv t = l->v[i];
    l->v[i] = l->v[l->n - 1 - i];
    l->v[l->n - 1 - i] = t;
  }
  return BRR__TEMPLATE_TV_NONE_V;
}


static tv l_sort(tctx *c, tcall *a) {
  tescape(c);
  if (a->npos) brr__template_terr(c, a->at, "sort() takes no positional arguments");
  tv args[2];
  TARGS(c, a, "sort", args, "?key", "?reverse");
  tlist *l = SELF(a).u.l;
  tv *keys = NULL;
  if (args[0].t != TV_MISSING && args[0].t != TV_NONE) {
    keys = brr__template_talloc(c, (l->n ? l->n : 1) * sizeof *keys);
    for (size_t i = 0; i < l->n; i++) {
      tcall k = {.pos = &l->v[i], .npos = 1, .at = a->at};
      keys[i] = brr__template_tcall_value(c, a->at, args[0], &k);
    }
  }
  brr__template_tsort_values(c, a->at, l->v, l->n, keys, args[1].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[1]));
  return BRR__TEMPLATE_TV_NONE_V;
}

static tv l_copy(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "copy", NULL, 0, NULL);
  tlist *l = SELF(a).u.l;
  tv r = brr__template_tv_list(c, l->n);
  for (size_t i = 0; i < l->n; i++) brr__template_tl_push(c, r.u.l, l->v[i]);
  return r;
}

static tv l_clear(tctx *c, tcall *a) {
  tescape(c);
  brr__template_targs_bind(c, a, "clear", NULL, 0, NULL);
  SELF(a).u.l->n = 0;
  return BRR__TEMPLATE_TV_NONE_V;
}

/* ---- loop ---- */

static tv loop_cycle(tctx *c, tcall *a) {
  if (a->npos == 0) brr__template_terr(c, a->at, "no items for cycling given");
  tloop *l = SELF(a).u.loop;
  return a->pos[l->i % a->npos];
}

static tv loop_changed(tctx *c, tcall *a) {
  tescape(c);
  tloop *l = SELF(a).u.loop;
  tv t = brr__template_tv_tuple(c, a->npos);
  for (size_t i = 0; i < a->npos; i++) t.u.l->v[i] = a->pos[i];
  if (l->last_changed.t != TV_MISSING && brr__template_tv_eq(c, l->last_changed, t)) return BRR__TEMPLATE_TV_FALSE_V;
  l->last_changed = t;
  return BRR__TEMPLATE_TV_TRUE_V;
}

static bool loop_attr(tctx *c, tv obj, const char *name, tv *out) {
  tloop *l = obj.u.loop;
  int64_t i = (int64_t)l->i, n = (int64_t)l->n;
  switch (name[0]) { /* the first letter picks the candidate: these are read in every iteration */
  case 'i':
    if (!strcmp(name, "index")) *out = tv_int(i + 1);
    else if (!strcmp(name, "index0")) *out = tv_int(i);
    else return false;
    return true;
  case 'r':
    if (!strcmp(name, "revindex")) *out = tv_int(n - i);
    else if (!strcmp(name, "revindex0")) *out = tv_int(n - i - 1);
    else return false;
    return true;
  case 'f':
    if (strcmp(name, "first")) return false;
    *out = tv_bool(i == 0);
    return true;
  case 'l':
    if (!strcmp(name, "last")) *out = tv_bool(i == n - 1);
    else if (!strcmp(name, "length")) *out = tv_int(n);
    else return false;
    return true;
  case 'd':
    if (!strcmp(name, "depth")) *out = tv_int(l->depth);
    else if (!strcmp(name, "depth0")) *out = tv_int(l->depth - 1);
    else return false;
    return true;
  case 'p':
    if (strcmp(name, "previtem")) return false;
    *out = i > 0 ? tloop_item(l, i - 1) : brr__template_tv_undef(c, "there is no previous item", BRR__TEMPLATE_TV_MISSING_V, brr__template_tv_strz(c, "previtem"));
    return true;
  case 'n':
    if (strcmp(name, "nextitem")) return false;
    *out = i + 1 < n ? tloop_item(l, i + 1) : brr__template_tv_undef(c, "there is no next item", BRR__TEMPLATE_TV_MISSING_V, brr__template_tv_strz(c, "nextitem"));
    return true;
  case 'c':
    if (!strcmp(name, "cycle")) *out = brr__template_tfn_new(c, "cycle", loop_cycle, obj);
    else if (!strcmp(name, "changed")) *out = brr__template_tfn_new(c, "changed", loop_changed, obj);
    else return false;
    return true;
  default: return false;
  }
}

/* ---- cycler ---- */

static tv cy_next(tctx *c, tcall *a) {
  tescape(c);
  brr__template_targs_bind(c, a, "next", NULL, 0, NULL);
  tobj *o = SELF(a).u.obj;
  tv v = o->items[o->pos];
  o->pos = (o->pos + 1) % o->n;
  return v;
}

static tv cy_reset(tctx *c, tcall *a) {
  tescape(c);
  brr__template_targs_bind(c, a, "reset", NULL, 0, NULL);
  SELF(a).u.obj->pos = 0;
  return BRR__TEMPLATE_TV_NONE_V;
}

/* ---- numbers ---- */

static tv n_is_integer(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "is_integer", NULL, 0, NULL);
  double f = SELF(a).u.f;
  return tv_bool(isfinite(f) && f == floor(f));
}

static tv n_bit_length(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "bit_length", NULL, 0, NULL);
  tv s = SELF(a);
  uint64_t v = (uint64_t)(s.t == TV_BOOL ? s.u.b : s.u.i);
  if ((int64_t)v < 0) v = 0 - v;
  int bits = 0;
  while (v) {
    bits++;
    v >>= 1;
  }
  return tv_int(bits);
}

static tv n_conjugate(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "conjugate", NULL, 0, NULL);
  tv s = SELF(a);
  return s.t == TV_BOOL ? tv_int(s.u.b) : s;
}

/* ---- lookup ---- */

typedef struct mentry {
  const char *name;
  tbuiltin fn;
} mentry;

static const mentry dict_methods[] = {
    {"clear", d_clear}, {"copy", d_copy}, {"fromkeys", d_fromkeys}, {"get", d_get},
    {"items", d_items}, {"keys", d_keys}, {"pop", d_pop},           {"popitem", d_popitem},
    {"setdefault", d_setdefault}, {"update", d_update}, {"values", d_values},
};

static const mentry list_methods[] = {
    {"append", l_append}, {"clear", l_clear},   {"copy", l_copy}, {"count", l_count},
    {"extend", l_extend}, {"index", l_index},   {"insert", l_insert}, {"pop", l_pop},
    {"remove", l_remove}, {"reverse", l_reverse}, {"sort", l_sort},
};

static tbuiltin find_method(const mentry *t, size_t nt, const char *name) {
  for (size_t i = 0; i < nt; i++)
    if (t[i].name[0] == name[0] && !strcmp(t[i].name, name)) return t[i].fn;
  return NULL;
}

bool brr__template_tmethod_get(tctx *c, const tnode *at, tv obj, const char *name, size_t n, tv *out) {
  tbuiltin fn = NULL;
  if (n >= 2 && name[0] == '_' && name[1] == '_') return false; /* no Python internals */
  switch (obj.t) {
  case TV_STR: fn = brr__template_tstr_method(name, n); break;
  case TV_DICT: fn = find_method(dict_methods, BRR_ARRAY_LEN(dict_methods), name); break;
  case TV_LIST: fn = find_method(list_methods, BRR_ARRAY_LEN(list_methods), name); break;
  case TV_TUPLE:
    if (obj.sub == 1 && (!strcmp(name, "grouper") || !strcmp(name, "list"))) { /* groupby's _GroupTuple */
      *out = obj.u.l->v[name[0] == 'l'];
      return true;
    }
    if (!strcmp(name, "index")) fn = l_index;
    else if (!strcmp(name, "count")) fn = l_count;
    break;
  case TV_LOOP: return loop_attr(c, obj, name, out);
  case TV_NS: {
    tv *v = brr__template_td_gets(obj.u.d, name, n);
    if (v) *out = *v;
    return v != NULL;
  }
  case TV_OBJ:
    if (obj.u.obj->kind == TOBJ_MODULE || obj.u.obj->kind == TOBJ_SELF) return brr__template_tobj_attr(c, obj, name, n, out);
    if (obj.u.obj->kind != TOBJ_CYCLER) return false;
    if (!strcmp(name, "current")) {
      *out = obj.u.obj->items[obj.u.obj->pos];
      return true;
    }
    if (!strcmp(name, "items")) {
      tv l = brr__template_tv_list(c, obj.u.obj->n);
      for (size_t i = 0; i < obj.u.obj->n; i++) brr__template_tl_push(c, l.u.l, obj.u.obj->items[i]);
      *out = l;
      return true;
    }
    fn = !strcmp(name, "next") ? cy_next : !strcmp(name, "reset") ? cy_reset : NULL;
    break;
  case TV_RANGE:
    if (!strcmp(name, "start")) *out = tv_int(obj.u.r->start);
    else if (!strcmp(name, "stop")) *out = tv_int(obj.u.r->stop);
    else if (!strcmp(name, "step")) *out = tv_int(obj.u.r->step);
    else return false;
    return true;
  case TV_BOOL:
  case TV_INT:
  case TV_FLOAT:
    if (!strcmp(name, "real")) {
      *out = obj.t == TV_BOOL ? tv_int(obj.u.b) : obj;
      return true;
    }
    if (!strcmp(name, "imag")) {
      *out = obj.t == TV_FLOAT ? tv_float(0) : tv_int(0);
      return true;
    }
    if (obj.t != TV_FLOAT && (!strcmp(name, "numerator") || !strcmp(name, "denominator"))) {
      *out = name[0] == 'd' ? tv_int(1) : obj.t == TV_BOOL ? tv_int(obj.u.b) : obj;
      return true;
    }
    if (!strcmp(name, "conjugate")) fn = n_conjugate;
    else if (obj.t == TV_FLOAT && !strcmp(name, "is_integer")) fn = n_is_integer;
    else if (obj.t != TV_FLOAT && !strcmp(name, "bit_length")) fn = n_bit_length;
    break;
  default: break;
  }
  (void)at;
  if (!fn) return false;
  const char *nm = brr__template_tstrndup(c, name, n);
  *out = brr__template_tfn_new(c, nm, fn, obj);
  return true;
}
