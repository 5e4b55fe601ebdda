/* Template values with Python's semantics: equality across int/float/bool, ordered dicts with
 * Python hashing rules, str()/repr() output byte for byte, iteration and len(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

const tv BRR__TEMPLATE_TV_NONE_V = {.t = TV_NONE};
const tv BRR__TEMPLATE_TV_MISSING_V = {.t = TV_MISSING};
const tv BRR__TEMPLATE_TV_TRUE_V = {.t = TV_BOOL, .u.b = true};
const tv BRR__TEMPLATE_TV_FALSE_V = {.t = TV_BOOL, .u.b = false};


tv brr__template_tv_str(tctx *c, const char *p, size_t n) {
  char *s = brr__template_talloc(c, n + 1);
  if (n) memcpy(s, p, n);
  return tv_str_nocopy(s, n);
}

tv brr__template_tv_strz(tctx *c, const char *s) { return brr__template_tv_str(c, s, strlen(s)); }

tv brr__template_tv_undef(tctx *c, const char *hint, tv obj, tv name) {
  tundef *u = brr__template_talloc(c, sizeof *u);
  u->hint = hint;
  u->obj = obj;
  u->name = name;
  return (tv){.t = TV_UNDEF, .u.u = u};
}

tv brr__template_tv_undef_name(tctx *c, const char *name) {
  return brr__template_tv_undef(c, NULL, BRR__TEMPLATE_TV_MISSING_V, tv_str_nocopy(name, strlen(name)));
}

tv brr__template_tv_list(tctx *c, size_t cap) {
  tlist *l = brr__template_talloc(c, sizeof *l);
  if (cap) {
    l->v = brr__template_talloc(c, cap * sizeof *l->v);
    l->cap = cap;
  }
  return (tv){.t = TV_LIST, .u.l = l};
}

tv brr__template_tv_tuple(tctx *c, size_t n) {
  /* header and items in one allocation: tuples never grow */
  tlist *l = brr__template_talloc(c, sizeof *l + n * sizeof(tv));
  l->v = (tv *)(l + 1);
  l->n = l->cap = n;
  for (size_t i = 0; i < n; i++) l->v[i] = BRR__TEMPLATE_TV_NONE_V;
  return (tv){.t = TV_TUPLE, .u.l = l};
}

void brr__template_tl_push(tctx *c, tlist *l, tv v) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 4;
    l->v = brr__template_tgrow(c, l->v, l->cap * sizeof *l->v, nc * sizeof *l->v);
    l->cap = nc;
  }
  l->v[l->n++] = v;
}

tv brr__template_tv_dict(tctx *c) {
  tdict *d = brr__template_talloc(c, sizeof *d);
  return (tv){.t = TV_DICT, .u.d = d};
}

/* ---- hashing (Python: hash(1) == hash(1.0) == hash(True)) ---- */
static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t brr__template_tstr_hash(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t brr__template_tv_hash(tctx *c, const tnode *at, tv v) {
  switch (v.t) {
  case TV_NONE: return 0x9e3779b97f4a7c15ULL;
  case TV_UNDEF: return 0x5bd1e995ULL;
  case TV_BOOL: return mix((uint64_t)v.u.b);
  case TV_INT: return mix((uint64_t)v.u.i);
  case TV_FLOAT:
    if (v.u.f == floor(v.u.f) && fabs(v.u.f) < 9.2e18) return mix((uint64_t)(int64_t)v.u.f);
    {
      uint64_t bits;
      memcpy(&bits, &v.u.f, sizeof bits);
      return mix(bits);
    }
  case TV_STR: return brr__template_tstr_hash(v.u.str, v.slen);
  case TV_TUPLE: {
    uint64_t h = 0x345678ULL;
    for (size_t i = 0; i < v.u.l->n; i++) h = mix(h ^ brr__template_tv_hash(c, at, v.u.l->v[i])) + i;
    return h;
  }
  case TV_LIST:
  case TV_DICT:
  case TV_NS:
  case TV_VIEW:
    brr__template_terr(c, at, "unhashable type: '%s'", brr__template_tv_typename(v));
  default: return mix((uint64_t)(uintptr_t)v.u.fn);
  }
}

/* ---- dict ---- */
static void td_reindex(tctx *c, tdict *d, size_t icap) {
  d->idx = brr__template_talloc(c, icap * sizeof *d->idx);
  d->icap = icap;
  for (size_t i = 0; i < d->n; i++) {
    if (d->e[i].dead) continue;
    size_t m = icap - 1, p = (size_t)d->e[i].hash & m;
    while (d->idx[p]) p = (p + 1) & m;
    d->idx[p] = (uint32_t)(i + 1);
  }
}

static tdent *td_find(tctx *c, const tnode *at, tdict *d, tv k, uint64_t h) {
  if (!d->icap) return NULL;
  size_t m = d->icap - 1, p = (size_t)h & m;
  while (d->idx[p]) {
    tdent *e = &d->e[d->idx[p] - 1];
    if (!e->dead && e->hash == h && brr__template_tv_eq(c, e->key, k)) return e;
    p = (p + 1) & m;
  }
  return NULL;
}

tv *brr__template_td_get(tctx *c, const tnode *at, tdict *d, tv k) {
  tdent *e = td_find(c, at, d, k, brr__template_tv_hash(c, at, k));
  return e ? &e->val : NULL;
}

tv *brr__template_td_gets(tdict *d, const char *k, size_t n) { return d->icap ? brr__template_td_gets_h(d, k, n, brr__template_tstr_hash(k, n)) : NULL; }

tv *brr__template_td_gets_h(tdict *d, const char *k, size_t n, uint64_t h) {
  if (!d->icap) return NULL;
  size_t m = d->icap - 1, p = (size_t)h & m;
  while (d->idx[p]) {
    tdent *e = &d->e[d->idx[p] - 1];
    if (!e->dead && e->hash == h && e->key.t == TV_STR && e->key.slen == n && !memcmp(e->key.u.str, k, n))
      return &e->val;
    p = (p + 1) & m;
  }
  return NULL;
}

void brr__template_td_set(tctx *c, const tnode *at, tdict *d, tv k, tv v) {
  uint64_t h = brr__template_tv_hash(c, at, k);
  tdent *e = td_find(c, at, d, k, h);
  if (e) {
    e->val = v;
    return;
  }
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 8;
    d->e = brr__template_tgrow(c, d->e, d->cap * sizeof *d->e, nc * sizeof *d->e);
    d->cap = nc;
  }
  d->e[d->n++] = (tdent){.key = k, .val = v, .hash = h};
  d->live++;
  if (d->n * 2 > d->icap) td_reindex(c, d, d->icap ? d->icap * 2 : 16);
  else {
    size_t m = d->icap - 1, p = (size_t)h & m;
    while (d->idx[p]) p = (p + 1) & m;
    d->idx[p] = (uint32_t)d->n;
  }
}

void brr__template_td_sets(tctx *c, tdict *d, const char *k, tv v) { brr__template_td_set(c, NULL, d, tv_str_nocopy(k, strlen(k)), v); }

bool brr__template_td_del(tctx *c, const tnode *at, tdict *d, tv k, tv *old) {
  tdent *e = td_find(c, at, d, k, brr__template_tv_hash(c, at, k));
  if (!e) return false;
  if (old) *old = e->val;
  e->dead = true;
  d->live--;
  return true;
}

bool brr__template_td_next(const tdict *d, size_t *i, tdent **e) {
  while (*i < d->n) {
    tdent *x = &d->e[(*i)++];
    if (!x->dead) {
      *e = x;
      return true;
    }
  }
  return false;
}

tdict *brr__template_td_copy(tctx *c, const tdict *d) {
  tdict *r = brr__template_tv_dict(c).u.d;
  r->ordered = d->ordered;
  tdent *e;
  for (size_t i = 0; brr__template_td_next(d, &i, &e);) brr__template_td_set(c, NULL, r, e->key, e->val);
  return r;
}

/* ---- truthiness, equality, ordering ---- */

bool brr__template_tv_truthy(tctx *c, const tnode *at, tv v) {
  switch (v.t) {
  case TV_UNDEF:
    tv_strict(c, at, v);  /* __bool__: `{% if X %}`, `X or Y` */
    return false;
  case TV_MISSING:
  case TV_NONE: return false;
  case TV_BOOL: return v.u.b;
  case TV_INT: return v.u.i != 0;
  case TV_FLOAT: return v.u.f != 0.0;
  case TV_STR: return v.slen != 0;
  case TV_LIST:
  case TV_TUPLE: return v.u.l->n != 0;
  case TV_DICT:
  case TV_VIEW: return v.u.d->live != 0;
  case TV_RANGE: return brr__template_tv_len(c, at, v) != 0;
  case TV_LOOP: return v.u.loop->n != 0;
  default: return true; /* functions, namespaces and iterators are always true */
  }
}

static bool num_eq(tv a, tv b) {
  if (a.t == TV_FLOAT || b.t == TV_FLOAT) {
    if (a.t == TV_FLOAT && b.t == TV_FLOAT) return a.u.f == b.u.f;
    double f = a.t == TV_FLOAT ? a.u.f : b.u.f;
    tv o = a.t == TV_FLOAT ? b : a;
    int64_t i = o.t == TV_BOOL ? o.u.b : o.u.i;
    if (f != floor(f) || fabs(f) >= 9.3e18) return false;
    return (int64_t)f == i;
  }
  int64_t x = a.t == TV_BOOL ? a.u.b : a.u.i, y = b.t == TV_BOOL ? b.u.b : b.u.i;
  return x == y;
}

bool brr__template_tv_eq(tctx *c, tv a, tv b) {
  if (tv_is_num(a) && tv_is_num(b)) return num_eq(a, b);
  if (a.t == TV_MISSING) a.t = TV_UNDEF;
  if (b.t == TV_MISSING) b.t = TV_UNDEF;
  if (a.t != b.t) return false;
  switch (a.t) {
  case TV_NONE:
  case TV_UNDEF: return true;
  case TV_STR: return a.slen == b.slen && memcmp(a.u.str, b.u.str, a.slen) == 0;
  case TV_LIST:
  case TV_TUPLE:
    if (a.u.l == b.u.l) return true;
    if (a.u.l->n != b.u.l->n) return false;
    for (size_t i = 0; i < a.u.l->n; i++)
      if (!brr__template_tv_eq(c, a.u.l->v[i], b.u.l->v[i])) return false;
    return true;
  case TV_DICT:
  case TV_NS: {
    if (a.u.d == b.u.d) return true;
    if (a.t == TV_NS || a.u.d->live != b.u.d->live) return false;
    if (a.u.d->ordered && b.u.d->ordered) { /* two OrderedDicts compare in order */
      size_t i = 0, j = 0;
      tdent *x, *y;
      while (brr__template_td_next(a.u.d, &i, &x) && brr__template_td_next(b.u.d, &j, &y))
        if (!brr__template_tv_eq(c, x->key, y->key) || !brr__template_tv_eq(c, x->val, y->val)) return false;
      return true;
    }
    tdent *e;
    for (size_t i = 0; brr__template_td_next(a.u.d, &i, &e);) {
      tv *o = brr__template_td_get(c, NULL, b.u.d, e->key);
      if (!o || !brr__template_tv_eq(c, e->val, *o)) return false;
    }
    return true;
  }
  case TV_RANGE: {
    size_t na = brr__template_tv_len(c, NULL, a), nb = brr__template_tv_len(c, NULL, b);
    if (na != nb) return false;
    if (na == 0) return true;
    if (a.u.r->start != b.u.r->start) return false;
    return na == 1 || a.u.r->step == b.u.r->step;
  }
  default: return a.u.fn == b.u.fn && a.sub == b.sub;
  }
}

static const char *cmp_opname(int op) {
  switch (op) {
  case OP_LT: return "<";
  case OP_LTEQ: return "<=";
  case OP_GT: return ">";
  case OP_GTEQ: return ">=";
  default: return "<";
  }
}

/* ordering with Python's rules; `op` only names the operator in errors */
static int cmp_op(tctx *c, const tnode *at, tv a, tv b, int op) {
  if (tv_is_undef(a)) brr__template_terr_undef(c, at, a);
  if (tv_is_undef(b)) brr__template_terr_undef(c, at, b);
  if (tv_is_num(a) && tv_is_num(b)) {
    if (a.t != TV_FLOAT && b.t != TV_FLOAT) {
      int64_t x = a.t == TV_BOOL ? a.u.b : a.u.i, y = b.t == TV_BOOL ? b.u.b : b.u.i;
      return x < y ? -1 : x > y;
    }
    double x = a.t == TV_FLOAT ? a.u.f : a.t == TV_BOOL ? a.u.b : (double)a.u.i;
    double y = b.t == TV_FLOAT ? b.u.f : b.t == TV_BOOL ? b.u.b : (double)b.u.i;
    if (isnan(x) || isnan(y)) return 2; /* unordered: every comparison is false */
    return x < y ? -1 : x > y;
  }
  if (a.t == TV_STR && b.t == TV_STR) {
    size_t n = a.slen < b.slen ? a.slen : b.slen;
    int r = memcmp(a.u.str, b.u.str, n);
    if (r) return r < 0 ? -1 : 1;
    return a.slen < b.slen ? -1 : a.slen > b.slen;
  }
  if (a.t == b.t && (a.t == TV_LIST || a.t == TV_TUPLE)) {
    size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
    for (size_t i = 0; i < n; i++) {
      if (brr__template_tv_eq(c, a.u.l->v[i], b.u.l->v[i])) continue;
      return cmp_op(c, at, a.u.l->v[i], b.u.l->v[i], op);
    }
    return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
  }
  brr__template_terr(c, at, "'%s' not supported between instances of '%s' and '%s'", cmp_opname(op), brr__template_tv_typename(a),
       brr__template_tv_typename(b));
}

int brr__template_tv_cmp(tctx *c, const tnode *at, tv a, tv b) { return cmp_op(c, at, a, b, OP_LT); }

bool brr__template_top_compare(tctx *c, const tnode *at, int op, tv a, tv b) {
  switch (op) {
  case OP_EQ: return brr__template_tv_eq(c, a, b);
  case OP_NE: return !brr__template_tv_eq(c, a, b);
  case OP_IN: return brr__template_top_contains(c, at, b, a);
  case OP_NOTIN: return !brr__template_top_contains(c, at, b, a);
  default: break;
  }
  int r = cmp_op(c, at, a, b, op);
  if (r == 2) return false;
  switch (op) {
  case OP_LT: return r < 0;
  case OP_LTEQ: return r <= 0;
  case OP_GT: return r > 0;
  default: return r >= 0;
  }
}

const char *brr__template_tv_typename(tv v) {
  switch (v.t) {
  case TV_MISSING:
  case TV_UNDEF: return "Undefined";
  case TV_NONE: return "NoneType";
  case TV_BOOL: return "bool";
  case TV_INT: return "int";
  case TV_FLOAT: return "float";
  case TV_STR: return "str";
  case TV_LIST: return "list";
  case TV_TUPLE: return "tuple";
  case TV_DICT: return v.u.d->ordered ? "OrderedDict" : "dict";
  case TV_FUNC: return v.u.fn->kind == FN_MACRO ? "Macro" : "builtin_function_or_method";
  case TV_LOOP: return "LoopContext";
  case TV_NS: return "Namespace";
  case TV_RANGE: return "range";
  case TV_ITER: return v.u.it->what;
  case TV_VIEW: return v.sub == TV_VIEW_KEYS ? "dict_keys" : v.sub == TV_VIEW_VALUES ? "dict_values" : "dict_items";
  case TV_OBJ:
    switch (v.u.obj->kind) {
    case TOBJ_CYCLER: return "Cycler";
    case TOBJ_JOINER: return "Joiner";
    case TOBJ_MODULE: return "TemplateModule";
    case TOBJ_SELF: return "TemplateReference";
    default: return "MissingType";
    }
  default: return "object";
  }
}

/* ---- iteration and len() ---- */
static size_t range_len(const trange *r) {
  /* unsigned differences cannot overflow when the bounds are ordered */
  if (r->step > 0 && r->start < r->stop) return (size_t)(((uint64_t)r->stop - (uint64_t)r->start - 1) / (uint64_t)r->step + 1);
  if (r->step < 0 && r->start > r->stop)
    return (size_t)(((uint64_t)r->start - (uint64_t)r->stop - 1) / (0 - (uint64_t)r->step) + 1);
  return 0;
}

bool brr__template_tv_has_len(tv v) {
  switch (v.t) {
  case TV_MISSING:
  case TV_UNDEF:
  case TV_STR:
  case TV_LIST:
  case TV_TUPLE:
  case TV_DICT:
  case TV_VIEW:
  case TV_RANGE:
  case TV_LOOP: return true;
  default: return false;
  }
}

size_t brr__template_tv_len(tctx *c, const tnode *at, tv v) {
  switch (v.t) {
  case TV_UNDEF:
    tv_strict(c, at, v);  /* __len__ */
    return 0;
  case TV_MISSING: return 0;
  case TV_STR: return brr__template_u8_len(v.u.str, v.slen);
  case TV_LIST:
  case TV_TUPLE: return v.u.l->n;
  case TV_DICT:
  case TV_VIEW: return v.u.d->live;
  case TV_RANGE: return range_len(v.u.r);
  case TV_LOOP: return v.u.loop->n;
  default: brr__template_terr(c, at, "object of type '%s' has no len()", brr__template_tv_typename(v));
  }
}

#define MAX_RANGE 10000000

size_t brr__template_tv_range_len(tctx *c, const tnode *at, tv v) {
  size_t cnt = range_len(v.u.r);
  if (cnt > MAX_RANGE) brr__template_terr(c, at, "range too large to iterate (brr allows %d items)", MAX_RANGE);
  return cnt;
}

tv *brr__template_tv_iterate(tctx *c, const tnode *at, tv v, size_t *n) {
  switch (v.t) {
  case TV_UNDEF:
    tv_strict(c, at, v);  /* __iter__ */
    *n = 0;
    return NULL;
  case TV_MISSING: *n = 0; return NULL;
  case TV_LIST:
  case TV_TUPLE:
    /* the list's own items, as they are now: a loop body appending to the list grows
     * another array (arena memory is never reused), so the loop does not run forever */
    *n = v.u.l->n;
    return v.u.l->v;
  case TV_STR: {
    size_t cnt = brr__template_u8_len(v.u.str, v.slen), k = 0;
    tv *r = brr__template_talloc(c, (cnt ? cnt : 1) * sizeof *r);
    for (size_t i = 0; i < v.slen;) {
      uint32_t cp;
      size_t l = brr__template_u8_decode(v.u.str, v.slen, i, &cp);
      r[k++] = brr__template_tv_str(c, v.u.str + i, l);
      i += l;
    }
    *n = k;
    return r;
  }
  case TV_DICT:
  case TV_VIEW: {
    const tdict *d = v.u.d;
    tv *r = brr__template_talloc(c, (d->live ? d->live : 1) * sizeof *r);
    size_t k = 0;
    tdent *e;
    for (size_t i = 0; brr__template_td_next(d, &i, &e);) {
      if (v.t == TV_DICT || v.sub == TV_VIEW_KEYS) r[k++] = e->key;
      else if (v.sub == TV_VIEW_VALUES) r[k++] = e->val;
      else {
        tv t = brr__template_tv_tuple(c, 2);
        t.u.l->v[0] = e->key;
        t.u.l->v[1] = e->val;
        r[k++] = t;
      }
    }
    *n = k;
    return r;
  }
  case TV_RANGE: {
    size_t cnt = range_len(v.u.r);
    if (cnt > MAX_RANGE) brr__template_terr(c, at, "range too large to iterate (brr allows %d items)", MAX_RANGE);
    tv *r = brr__template_talloc(c, (cnt ? cnt : 1) * sizeof *r);
    for (size_t i = 0; i < cnt; i++) r[i] = tv_int(v.u.r->start + (int64_t)i * v.u.r->step);
    *n = cnt;
    return r;
  }
  case TV_ITER: {
    titer *it = v.u.it;
    *n = it->n - it->pos;
    tv *r = it->v + it->pos;
    it->pos = it->n;
    return r;
  }
  case TV_LOOP: {
    tloop *l = v.u.loop;
    *n = l->n - l->i - 1;
    tv *r = l->items + l->i + 1;
    if (!l->items) { /* a loop over a range */
      r = brr__template_talloc(c, (*n ? *n : 1) * sizeof *r);
      for (size_t k = 0; k < *n; k++) r[k] = tloop_item(l, l->i + 1 + k);
    }
    l->i = l->n - 1;
    return r;
  }
  default: brr__template_terr(c, at, "'%s' object is not iterable", brr__template_tv_typename(v));
  }
}

/* ---- numbers from strings: Python's int() and float() ---- */
static bool valid_digits(const char *s, size_t n, int base) {
  if (n == 0 || s[0] == '_' || s[n - 1] == '_') return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '_') {
      if (s[i + 1] == '_') return false;
      continue;
    }
    int d = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z' ? (ch | 0x20) - 'a' + 10 : 99;
    if (d >= base) return false;
  }
  return true;
}

bool brr__template_tv_parse_int(const char *s, size_t n, int base, int64_t *out, bool *overflow) {
  size_t st, en;
  brr__template_u_strip(s, n, true, true, &st, &en);
  s += st;
  n = en - st;
  bool neg = false;
  if (n && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s++;
    n--;
  }
  if (n >= 2 && s[0] == '0') {
    char p = (char)(s[1] | 0x20);
    int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (pb && (base == 0 || base == pb)) {
      base = pb;
      s += 2;
      n -= 2;
      if (n && s[0] == '_') {
        s++;
        n--;
      }
    } else if (base == 0) {
      /* base 0: a leading zero is only allowed for zero itself */
      for (size_t i = 0; i < n; i++)
        if (s[i] != '0' && s[i] != '_') return false;
      base = 10;
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36 || !valid_digits(s, n, base)) return false;
  uint64_t acc = 0, limit = (uint64_t)INT64_MAX + 1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '_') continue;
    int d = s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10;
    if (acc > (limit - (uint64_t)d) / (uint64_t)base) {
      *overflow = true;
      return false;
    }
    acc = acc * (uint64_t)base + (uint64_t)d;
  }
  if (!neg && acc > INT64_MAX) {
    *overflow = true;
    return false;
  }
  *out = neg ? (int64_t)(0 - (uint64_t)acc) : (int64_t)acc;
  return true;
}

bool brr__template_tv_parse_float(const char *s, size_t n, double *out) {
  size_t st, en;
  brr__template_u_strip(s, n, true, true, &st, &en);
  s += st;
  n = en - st;
  char buf[512];
  size_t k = 0, i = 0;
  if (n == 0 || n >= sizeof buf) return false;
  if (s[0] == '+' || s[0] == '-') buf[k++] = s[i++];
  const char *rest = s + i;
  size_t rn = n - i;
  static const char *const specials[] = {"inf", "infinity", "nan"};
  for (size_t j = 0; j < 3; j++)
    if (rn == strlen(specials[j]) && !strncasecmp(rest, specials[j], rn)) {
      memcpy(buf + k, rest, rn);
      buf[k + rn] = '\0';
      *out = strtod(buf, NULL);
      return true;
    }
  /* digits [. digits] [e [sign] digits], with single underscores between digits */
  bool digits = false, prev_digit = false;
  int state = 0; /* 0 int part, 1 fraction, 2 exponent sign, 3 exponent digits */
  bool exp_digits = false;
  for (; i < n; i++) {
    char ch = s[i];
    if (ch >= '0' && ch <= '9') {
      buf[k++] = ch;
      prev_digit = true;
      if (state < 2) digits = true;
      else {
        state = 3;
        exp_digits = true;
      }
    } else if (ch == '_') {
      if (!prev_digit || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9') return false;
      prev_digit = false;
    } else if (ch == '.' && state == 0) {
      buf[k++] = ch;
      state = 1;
      prev_digit = false;
    } else if ((ch == 'e' || ch == 'E') && state < 2 && digits) {
      buf[k++] = 'e';
      state = 2;
      prev_digit = false;
      if (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-')) buf[k++] = s[++i];
    } else {
      return false;
    }
  }
  if (!digits || (state >= 2 && !exp_digits)) return false;
  buf[k] = '\0';
  *out = strtod(buf, NULL);
  return true;
}

/* ---- brr_value <-> tv ---- */
tv brr__template_tv_from_brr(tctx *c, const brr_value *v) {
  if (!v) return BRR__TEMPLATE_TV_NONE_V;
  switch (v->type) {
  case BRR_VAL_NULL: return BRR__TEMPLATE_TV_NONE_V;
  case BRR_VAL_BOOL: return tv_bool(v->u.b);
  case BRR_VAL_INT: return tv_int(v->u.i);
  case BRR_VAL_FLOAT: return tv_float(v->u.f);
  case BRR_VAL_STR: return tv_str_nocopy(v->u.s.ptr, v->u.s.len);
  case BRR_VAL_LIST: {
    tv l = brr__template_tv_list(c, v->u.list.n);
    for (size_t i = 0; i < v->u.list.n; i++) l.u.l->v[i] = brr__template_tv_from_brr(c, v->u.list.v[i]);
    l.u.l->n = v->u.list.n;
    return l;
  }
  case BRR_VAL_MAP: {
    tv d = brr__template_tv_dict(c);
    for (size_t i = 0; i < v->u.map.n; i++)
      brr__template_td_set(c, NULL, d.u.d, brr__template_tv_from_brr(c, v->u.map.v[i].key), brr__template_tv_from_brr(c, v->u.map.v[i].val));
    return d;
  }
  }
  return BRR__TEMPLATE_TV_NONE_V;
}

brr_value *brr__template_tv_to_brr(tctx *c, tv v) {
  brr_mark m = BRR_MARK_NONE;
  switch (v.t) {
  case TV_NONE: return brr_val_null(c->a, m);
  case TV_BOOL: return brr_val_bool(c->a, m, v.u.b);
  case TV_INT: return brr_val_int(c->a, m, v.u.i);
  case TV_FLOAT: return brr_val_float(c->a, m, v.u.f);
  case TV_STR: return brr_val_strn(c->a, m, v.u.str, v.slen);
  case TV_LIST:
  case TV_TUPLE: {
    brr_value *l = brr_val_list(c->a, m);
    for (size_t i = 0; i < v.u.l->n; i++) brr_val_list_push(c->a, l, brr__template_tv_to_brr(c, v.u.l->v[i]));
    return l;
  }
  case TV_DICT: {
    brr_value *d = brr_val_map(c->a, m);
    tdent *e;
    for (size_t i = 0; brr__template_td_next(v.u.d, &i, &e);) brr_val_map_set(c->a, d, brr__template_tv_to_brr(c, e->key), brr__template_tv_to_brr(c, e->val), NULL);
    return d;
  }
  default: return brr_val_str(c->a, m, brr__template_tv_to_str(c, v).u.str);
  }
}
