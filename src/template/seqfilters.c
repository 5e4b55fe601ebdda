/* Jinja2's filters over sequences: join, first/last, sort/unique/min/max, sum, map,
 * select/reject(attr), batch/slice, dictsort, groupby, ... Filters that are generators in
 * Jinja2 (map, select, unique, batch, items, ...) return one-shot iterators here too, because
 * templates can tell the difference (a generator is always true, has no length, is
 * consumed once). */
#include <string.h>

#include "internal.h"

static tv new_iter(tctx *c, tv *items, size_t n) {
  titer *it = brr__template_talloc(c, sizeof *it);
  it->v = items;
  it->n = n;
  it->what = "generator";
  return (tv){.t = TV_ITER, .u.it = it};
}

/* ---- sorting: Python's stable sort, comparing with < only ---- */

static bool lt(tctx *c, const tnode *at, tv a, tv b) { return brr__template_tv_cmp(c, at, a, b) < 0; }

static void merge_sort(tctx *c, const tnode *at, size_t *perm, size_t *tmp, size_t n, const tv *keys, bool reverse) {
  if (n < 2) return;
  size_t h = n / 2;
  merge_sort(c, at, perm, tmp, h, keys, reverse);
  merge_sort(c, at, perm + h, tmp, n - h, keys, reverse);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    tv l = keys[perm[i]], r = keys[perm[j]];
    bool take_right = reverse ? lt(c, at, l, r) : lt(c, at, r, l);
    tmp[k++] = take_right ? perm[j++] : perm[i++];
  }
  while (i < h) tmp[k++] = perm[i++];
  while (j < n) tmp[k++] = perm[j++];
  memcpy(perm, tmp, n * sizeof *perm);
}

void brr__template_tsort_values(tctx *c, const tnode *at, tv *v, size_t n, const tv *keys, bool reverse) {
  if (n < 2) return;
  size_t sperm[32], stmp[32];
  tv sorig[32];
  bool small = n <= 32; /* the usual case: no allocation */
  size_t *perm = small ? sperm : brr__template_talloc(c, n * sizeof *perm);
  size_t *tmp = small ? stmp : brr__template_talloc(c, n * sizeof *tmp);
  tv *orig = small ? sorig : brr__template_talloc(c, n * sizeof *orig);
  for (size_t i = 0; i < n; i++) perm[i] = i;
  memcpy(orig, v, n * sizeof *v);
  merge_sort(c, at, perm, tmp, n, keys ? keys : orig, reverse);
  for (size_t i = 0; i < n; i++) v[i] = orig[perm[i]];
}

/* ---- attribute getters (make_attrgetter) ---- */

typedef struct attrpath {
  tv *parts;
  size_t n;
} attrpath;

/* "a.0.b" -> ["a", 0, "b"]; an int attribute is a single part */
static attrpath attr_parts(tctx *c, tv attr) {
  attrpath p = {0};
  if (attr.t == TV_MISSING || attr.t == TV_NONE) return p;
  if (attr.t != TV_STR) {
    p.parts = brr__template_talloc(c, sizeof *p.parts);
    p.parts[0] = attr;
    p.n = 1;
    return p;
  }
  size_t cnt = 1;
  for (size_t i = 0; i < attr.slen; i++) cnt += attr.u.str[i] == '.';
  p.parts = brr__template_talloc(c, cnt * sizeof *p.parts);
  const char *s = attr.u.str, *e = s + attr.slen;
  while (true) {
    const char *dot = memchr(s, '.', (size_t)(e - s));
    size_t l = dot ? (size_t)(dot - s) : (size_t)(e - s);
    bool digits = l > 0;
    for (size_t i = 0; i < l; i++) digits = digits && s[i] >= '0' && s[i] <= '9';
    int64_t iv;
    bool ovf = false;
    if (digits && brr__template_tv_parse_int(s, l, 10, &iv, &ovf)) p.parts[p.n++] = tv_int(iv);
    else p.parts[p.n++] = brr__template_tv_str(c, s, l);
    if (!dot) break;
    s = dot + 1;
  }
  return p;
}

static tv lower_if_str(tctx *c, tv v) { return v.t == TV_STR ? brr__template_u_lower(c, v) : v; }

static tv get_attr(tctx *c, const tnode *at, tv item, const attrpath *p, tv dflt, bool ignore_case) {
  for (size_t i = 0; i < p->n; i++) {
    item = brr__template_top_getitem(c, at, item, p->parts[i]);
    if (dflt.t != TV_MISSING && dflt.t != TV_NONE && item.t == TV_UNDEF) item = dflt;
  }
  return ignore_case ? lower_if_str(c, item) : item;
}

/* ---- helpers to call filters and tests by name (map('upper'), select('odd')) ---- */

static tv call_filter(tctx *c, const tnode *at, tv name, tv item, const tv *args, size_t nargs, tkwarg *kw, size_t nkw) {
  if (name.t != TV_STR) brr__template_terr(c, at, "map requires a filter name");
  tbuiltin f = brr__template_tfilter_find(name.u.str, c->br);
  if (!f) brr__template_terr(c, at, "No filter named '%s'.", name.u.str);
  tcall a = {.npos = nargs + 1, .kw = kw, .nkw = nkw, .at = at};
  a.pos = brr__template_talloc(c, (nargs + 1) * sizeof *a.pos);
  a.pos[0] = item;
  memcpy(a.pos + 1, args, nargs * sizeof *args);
  return f(c, &a);
}

static bool call_test(tctx *c, const tnode *at, tv name, tv item, const tv *args, size_t nargs, tkwarg *kw, size_t nkw) {
  if (name.t != TV_STR) brr__template_terr(c, at, "a test name must be a string");
  ttestfn t = brr__template_ttest_find(name.u.str);
  if (!t) brr__template_terr(c, at, "No test named '%s'.", name.u.str);
  tcall a = {.npos = nargs + 1, .kw = kw, .nkw = nkw, .at = at};
  a.pos = brr__template_talloc(c, (nargs + 1) * sizeof *a.pos);
  a.pos[0] = item;
  memcpy(a.pos + 1, args, nargs * sizeof *args);
  return t(c, &a);
}

/* ---- the filters ---- */

static tv do_join(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "do_join", args, "value", "?d", "?attribute");
  size_t n;
  tv *items = brr__template_tv_iterate(c, a->at, args[0], &n);
  tv sep = args[1].t == TV_MISSING ? tv_str_nocopy("", 0) : brr__template_tv_to_str(c, args[1]);
  attrpath p = attr_parts(c, args[2]);
  tbuf b = {0};
  for (size_t i = 0; i < n; i++) {
    if (i) brr__template_tbuf_add(c, &b, sep.u.str, sep.slen);
    tv item = p.n ? get_attr(c, a->at, items[i], &p, BRR__TEMPLATE_TV_MISSING_V, false) : items[i];
    brr__template_tv_str_to(c, &b, item);
  }
  return brr__template_tbuf_str(c, &b);
}

static tv do_first(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_first", args, "seq");
  tv v = args[0];
  if (v.t == TV_ITER) {
    if (v.u.it->pos < v.u.it->n) return v.u.it->v[v.u.it->pos++];
  } else {
    size_t n;
    tv *items = brr__template_tv_iterate(c, a->at, v, &n);
    if (n) return items[0];
  }
  return brr__template_tv_undef(c, "No first item, sequence was empty.", BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_MISSING_V);
}

static tv do_last(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_last", args, "seq");
  tv v = args[0];
  if (!brr__template_tv_has_len(v) || v.t == TV_LOOP) brr__template_terr(c, a->at, "'%s' object is not reversible", brr__template_tv_typename(v));
  size_t n;
  tv *items = brr__template_tv_iterate(c, a->at, v, &n);
  if (n) return items[n - 1];
  return brr__template_tv_undef(c, "No last item, sequence was empty.", BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_MISSING_V);
}

static tv do_list(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_list", args, "value");
  size_t n;
  tv *items = brr__template_tv_iterate(c, a->at, args[0], &n);
  tv l = brr__template_tv_list(c, n);
  if (n) memcpy(l.u.l->v, items, n * sizeof *items);
  l.u.l->n = n;
  return l;
}

static tv do_reverse(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_reverse", args, "value");
  tv v = args[0];
  size_t n;
  if (v.t == TV_STR) {
    tv *chars = brr__template_tv_iterate(c, a->at, v, &n);
    tbuf b = {0};
    for (size_t i = n; i-- > 0;) brr__template_tbuf_add(c, &b, chars[i].u.str, chars[i].slen);
    return brr__template_tbuf_str(c, &b);
  }
  tv *items = brr__template_tv_iterate(c, a->at, v, &n);
  tv *r = brr__template_talloc(c, (n ? n : 1) * sizeof *r);
  for (size_t i = 0; i < n; i++) r[i] = items[n - 1 - i];
  if (v.t == TV_ITER) { /* not reversible: Jinja2 makes a list */
    tv l = brr__template_tv_list(c, n);
    if (n) memcpy(l.u.l->v, r, n * sizeof *r);
    l.u.l->n = n;
    return l;
  }
  tv it = new_iter(c, r, n);
  it.u.it->what = v.t == TV_LIST ? "list_reverseiterator" : v.t == TV_DICT ? "dict_reversekeyiterator"
                : v.t == TV_RANGE ? "range_iterator" : "reversed";
  return it;
}

static tv do_sort(tctx *c, tcall *a) {
  tv args[4];
  TARGS(c, a, "do_sort", args, "value", "?reverse", "?case_sensitive", "?attribute");
  size_t n;
  tv *src = brr__template_tv_iterate(c, a->at, args[0], &n);
  bool reverse = args[1].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[1]);
  bool ci = !(args[2].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[2]));
  tv l = brr__template_tv_list(c, n);
  if (n) memcpy(l.u.l->v, src, n * sizeof *src);
  l.u.l->n = n;
  /* make_multi_attrgetter: "a,b" sorts by several attributes; keys are lists */
  tv attr = args[3];
  size_t nattr = 1;
  tv *attrs = &attr;
  if (attr.t == TV_STR) {
    tv fn, sep = tv_str_nocopy(",", 1);
    brr__template_tmethod_get(c, a->at, attr, "split", 5, &fn);
    tcall s = {.pos = &sep, .npos = 1, .at = a->at};
    tv parts = brr__template_tcall_value(c, a->at, fn, &s);
    attrs = parts.u.l->v;
    nattr = parts.u.l->n;
  }
  tv *keys = brr__template_talloc(c, (n ? n : 1) * sizeof *keys);
  for (size_t i = 0; i < n; i++) {
    tv k = brr__template_tv_list(c, nattr);
    for (size_t j = 0; j < nattr; j++) {
      attrpath p = attr_parts(c, attrs[j]);
      brr__template_tl_push(c, k.u.l, get_attr(c, a->at, src[i], &p, BRR__TEMPLATE_TV_MISSING_V, ci));
    }
    keys[i] = k;
  }
  brr__template_tsort_values(c, a->at, l.u.l->v, n, keys, reverse);
  return l;
}

static tv do_unique(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "do_unique", args, "value", "?case_sensitive", "?attribute");
  size_t n;
  tv *src = brr__template_tv_iterate(c, a->at, args[0], &n);
  bool ci = !(args[1].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[1]));
  attrpath p = attr_parts(c, args[2]);
  tdict *seen = brr__template_tv_dict(c).u.d;
  tv *out = brr__template_talloc(c, (n ? n : 1) * sizeof *out);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    tv key = get_attr(c, a->at, src[i], &p, BRR__TEMPLATE_TV_MISSING_V, ci);
    if (brr__template_td_get(c, a->at, seen, key)) continue;
    brr__template_td_set(c, a->at, seen, key, BRR__TEMPLATE_TV_NONE_V);
    out[k++] = src[i];
  }
  return new_iter(c, out, k);
}

static tv min_max(tctx *c, tcall *a, bool max) {
  tv args[3];
  TARGS(c, a, max ? "do_max" : "do_min", args, "value", "?case_sensitive", "?attribute");
  size_t n;
  tv *src = brr__template_tv_iterate(c, a->at, args[0], &n);
  if (!n) return brr__template_tv_undef(c, "No aggregated item, sequence was empty.", BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_MISSING_V);
  bool ci = !(args[1].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[1]));
  attrpath p = attr_parts(c, args[2]);
  tv best = src[0], bk = get_attr(c, a->at, src[0], &p, BRR__TEMPLATE_TV_MISSING_V, ci);
  for (size_t i = 1; i < n; i++) {
    tv k = get_attr(c, a->at, src[i], &p, BRR__TEMPLATE_TV_MISSING_V, ci);
    if (max ? lt(c, a->at, bk, k) : lt(c, a->at, k, bk)) {
      best = src[i];
      bk = k;
    }
  }
  return best;
}

static tv do_sum(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "do_sum", args, "iterable", "?attribute", "?start");
  size_t n;
  tv *src = brr__template_tv_iterate(c, a->at, args[0], &n);
  attrpath p = attr_parts(c, args[1]);
  tv acc = args[2].t == TV_MISSING ? tv_int(0) : args[2];
  if (acc.t == TV_STR) brr__template_terr(c, a->at, "sum() can't sum strings [use ''.join(seq) instead]");
  for (size_t i = 0; i < n; i++) acc = brr__template_top_binary(c, a->at, OP_ADD, acc, get_attr(c, a->at, src[i], &p, BRR__TEMPLATE_TV_MISSING_V, false));
  return acc;
}

static tv do_map(tctx *c, tcall *a) {
  if (a->npos < 1) brr__template_terr(c, a->at, "do_map() missing required argument: 'value'");
  tv v = a->pos[0];
  size_t n = 0;
  tv *src = brr__template_tv_truthy(c, a->at, v) ? brr__template_tv_iterate(c, a->at, v, &n) : NULL;
  tv *out = brr__template_talloc(c, (n ? n : 1) * sizeof *out);
  if (a->npos == 1 && a->nkw && n) {
    tv attr = BRR__TEMPLATE_TV_MISSING_V, dflt = BRR__TEMPLATE_TV_MISSING_V;
    for (size_t k = 0; k < a->nkw; k++) {
      if (!strcmp(a->kw[k].name, "attribute")) attr = a->kw[k].v;
      else if (!strcmp(a->kw[k].name, "default")) dflt = a->kw[k].v;
      else brr__template_terr(c, a->at, "Unexpected keyword argument '%s'", a->kw[k].name);
    }
    if (attr.t == TV_MISSING) brr__template_terr(c, a->at, "map requires a filter argument");
    attrpath p = attr_parts(c, attr);
    for (size_t i = 0; i < n; i++) out[i] = get_attr(c, a->at, src[i], &p, dflt, false);
    return new_iter(c, out, n);
  }
  if (n && a->npos < 2) brr__template_terr(c, a->at, "map requires a filter argument");
  for (size_t i = 0; i < n; i++)
    out[i] = call_filter(c, a->at, a->pos[1], src[i], a->pos + 2, a->npos - 2, a->kw, a->nkw);
  return new_iter(c, out, n);
}

static tv select_reject(tctx *c, tcall *a, bool select, bool attr) {
  if (a->npos < 1) brr__template_terr(c, a->at, "missing required argument: 'value'");
  tv v = a->pos[0];
  size_t n = 0;
  tv *src = brr__template_tv_truthy(c, a->at, v) ? brr__template_tv_iterate(c, a->at, v, &n) : NULL;
  tv *out = brr__template_talloc(c, (n ? n : 1) * sizeof *out);
  size_t k = 0, off = 1;
  attrpath p = {0};
  if (attr && n) {
    if (a->npos < 2) brr__template_terr(c, a->at, "Missing parameter for attribute name");
    p = attr_parts(c, a->pos[1]);
    off = 2;
  }
  for (size_t i = 0; i < n; i++) {
    tv item = attr ? get_attr(c, a->at, src[i], &p, BRR__TEMPLATE_TV_MISSING_V, false) : src[i];
    bool ok = a->npos > off ? call_test(c, a->at, a->pos[off], item, a->pos + off + 1, a->npos - off - 1, a->kw, a->nkw)
                            : brr__template_tv_truthy(c, a->at, item);
    if (ok == select) out[k++] = src[i];
  }
  return new_iter(c, out, k);
}

static tv do_batch(tctx *c, tcall *a, bool slice) {
  tv args[3];
  if (slice) TARGS(c, a, "do_slice", args, "value", "slices", "?fill_with");
  else TARGS(c, a, "do_batch", args, "value", "linecount", "?fill_with");
  size_t n;
  tv *src = brr__template_tv_iterate(c, a->at, args[0], &n);
  int64_t k = brr__template_targ_int(c, a->at, args[1], slice ? "slices" : "linecount");
  bool fill = args[2].t != TV_MISSING && args[2].t != TV_NONE;
  tv outv = brr__template_tv_list(c, 0);
  /* Python builds these rows until memory runs out; brr stops earlier */
  if ((slice || (fill && n)) && k > 10000000)
    brr__template_terr(c, a->at, "%s too large (brr allows 10000000 items)", slice ? "slice count" : "batch size");
  if (!slice) {
    if (k <= 0 && n) brr__template_terr(c, a->at, "batch size must be positive");
    for (size_t i = 0; i < n; i += (size_t)k) {
      tv row = brr__template_tv_list(c, fill || (size_t)k < n - i ? (size_t)k : n - i);
      for (size_t j = i; j < n && j < i + (size_t)k; j++) brr__template_tl_push(c, row.u.l, src[j]);
      if (fill)
        while (row.u.l->n < (size_t)k) brr__template_tl_push(c, row.u.l, args[2]);
      brr__template_tl_push(c, outv.u.l, row);
    }
  } else {
    if (k <= 0) brr__template_terr(c, a->at, k == 0 ? "integer division or modulo by zero" : "slice count must be positive");
    size_t per = n / (size_t)k, extra = n % (size_t)k, offset = 0;
    for (size_t s = 0; s < (size_t)k; s++) {
      size_t start = offset + s * per;
      if (s < extra) offset++;
      size_t end = offset + (s + 1) * per;
      tv row = brr__template_tv_list(c, end - start + 1);
      for (size_t j = start; j < end; j++) brr__template_tl_push(c, row.u.l, src[j]);
      if (fill && s >= extra) brr__template_tl_push(c, row.u.l, args[2]);
      brr__template_tl_push(c, outv.u.l, row);
    }
  }
  return new_iter(c, outv.u.l->v, outv.u.l->n);
}

static tv do_dictsort(tctx *c, tcall *a) {
  tv args[4];
  TARGS(c, a, "do_dictsort", args, "value", "?case_sensitive", "?by", "?reverse");
  if (args[0].t != TV_DICT) brr__template_terr(c, a->at, "'%s' object has no attribute 'items'", brr__template_tv_typename(args[0]));
  bool ci = !(args[1].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[1]));
  int pos = 0;
  if (args[2].t != TV_MISSING) {
    if (args[2].t == TV_STR && !strcmp(args[2].u.str, "value")) pos = 1;
    else if (!(args[2].t == TV_STR && !strcmp(args[2].u.str, "key")))
      brr__template_terr(c, a->at, "You can only sort by either \"key\" or \"value\"");
  }
  bool reverse = args[3].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[3]);
  const tdict *d = args[0].u.d;
  size_t n = d->live, k = 0;
  tv l = brr__template_tv_list(c, n);
  tv skeys[32], *keys = n <= 32 ? skeys : brr__template_talloc(c, n * sizeof *keys);
  tdent *e;
  for (size_t i = 0; brr__template_td_next(d, &i, &e); k++) {
    tv t = brr__template_tv_tuple(c, 2);
    t.u.l->v[0] = e->key;
    t.u.l->v[1] = e->val;
    l.u.l->v[k] = t;
    keys[k] = ci ? lower_if_str(c, pos ? e->val : e->key) : (pos ? e->val : e->key);
  }
  l.u.l->n = n;
  brr__template_tsort_values(c, a->at, l.u.l->v, n, keys, reverse);
  return l;
}

static tv do_items(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_items", args, "value");
  if (tv_is_undef(args[0])) return new_iter(c, NULL, 0);
  if (args[0].t != TV_DICT) brr__template_terr(c, a->at, "Can only get item pairs from a mapping.");
  size_t n;
  tv *items = brr__template_tv_iterate(c, a->at, (tv){.t = TV_VIEW, .sub = TV_VIEW_ITEMS, .u.d = args[0].u.d}, &n);
  return new_iter(c, items, n);
}

/* groupby: sorted by the attribute, one (grouper, list) tuple per distinct value */
static tv do_groupby(tctx *c, tcall *a) {
  tv args[4];
  TARGS(c, a, "do_groupby", args, "value", "attribute", "?default", "?case_sensitive");
  size_t n;
  tv *src = brr__template_tv_iterate(c, a->at, args[0], &n);
  bool ci = !(args[3].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[3]));
  attrpath p = attr_parts(c, args[1]);
  tv *keys = brr__template_talloc(c, (n ? n : 1) * sizeof *keys);
  tv *sorted = brr__template_talloc(c, (n ? n : 1) * sizeof *sorted);
  if (n) memcpy(sorted, src, n * sizeof *src);
  for (size_t i = 0; i < n; i++) keys[i] = get_attr(c, a->at, src[i], &p, args[2], ci);
  tv *skeys = brr__template_talloc(c, (n ? n : 1) * sizeof *skeys);
  tv *idx = brr__template_talloc(c, (n ? n : 1) * sizeof *idx);
  for (size_t i = 0; i < n; i++) idx[i] = tv_int((int64_t)i);
  brr__template_tsort_values(c, a->at, idx, n, keys, false);
  for (size_t i = 0; i < n; i++) {
    sorted[i] = src[idx[i].u.i];
    skeys[i] = keys[idx[i].u.i];
  }
  tv out = brr__template_tv_list(c, 0);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    tv group = brr__template_tv_list(c, 0);
    while (j < n && brr__template_tv_eq(c, skeys[j], skeys[i])) brr__template_tl_push(c, group.u.l, sorted[j++]);
    tv t = brr__template_tv_tuple(c, 2);
    t.sub = 1; /* a _GroupTuple: .grouper and .list */
    t.u.l->v[0] = ci ? get_attr(c, a->at, sorted[i], &p, args[2], false) : skeys[i];
    t.u.l->v[1] = group;
    brr__template_tl_push(c, out.u.l, t);
    i = j;
  }
  return out;
}

static tv do_attr(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "do_attr", args, "obj", "name");
  size_t n;
  const char *name = brr__template_targ_str(c, a->at, args[1], "attr", &n);
  tv out;
  if (tv_is_undef(args[0])) brr__template_terr_undef(c, a->at, args[0]);
  if (brr__template_tmethod_get(c, a->at, args[0], name, n, &out)) return out;
  return brr__template_tv_undef(c, NULL, args[0], args[1]);
}

static tv do_pprint(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_pprint", args, "value");
  return brr__template_tpprint(c, args[0]);
}

static tv do_length(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "len", args, "obj");
  return tv_int((int64_t)brr__template_tv_len(c, a->at, args[0]));
}

tv brr__template_tf_seq(tctx *c, tcall *a, int which) {
  switch (which) {
  case 0: return do_join(c, a);
  case 1: return do_length(c, a);
  case 2: return do_first(c, a);
  case 3: return do_last(c, a);
  case 4: return do_list(c, a);
  case 5: return do_sort(c, a);
  case 6: return do_reverse(c, a);
  case 7: return do_unique(c, a);
  case 8: return min_max(c, a, false);
  case 9: return min_max(c, a, true);
  case 10: return do_sum(c, a);
  case 11: return do_map(c, a);
  case 12: return select_reject(c, a, true, false);
  case 13: return select_reject(c, a, false, false);
  case 14: return select_reject(c, a, true, true);
  case 15: return select_reject(c, a, false, true);
  case 16: return do_batch(c, a, false);
  case 17: return do_batch(c, a, true);
  case 18: return do_dictsort(c, a);
  case 19: return do_items(c, a);
  case 20: return do_groupby(c, a);
  case 21: return do_attr(c, a);
  default: return do_pprint(c, a);
  }
}
