/* The pprint filter: Python's pprint.pformat(value) with its defaults (width 80, indent 1,
 * sorted dict keys): a container whose repr does not fit is written one item per line. Long
 * strings are not split into chunks as pprint would; that is the one known difference. */
#include <string.h>

#include "internal.h"

#define WIDTH 80

/* pprint's _safe_key: values that cannot be compared order by type name */
static int safe_cmp(tctx *c, tv a, tv b) {
  bool an = tv_is_num(a), bn = tv_is_num(b);
  if ((an && bn) || (a.t == TV_STR && b.t == TV_STR) || (a.t == b.t && (a.t == TV_TUPLE || a.t == TV_LIST))) {
    int r = brr__template_tv_cmp(c, NULL, a, b);
    return r == 2 ? 0 : r;
  }
  int r = strcmp(brr__template_tv_typename(a), brr__template_tv_typename(b));
  return r < 0 ? -1 : r > 0;
}

static tv *sorted_items(tctx *c, const tdict *d, size_t *n) {
  tv *items = brr__template_tv_iterate(c, NULL, (tv){.t = TV_VIEW, .sub = TV_VIEW_ITEMS, .u.d = (tdict *)d}, n);
  for (size_t i = 1; i < *n; i++) /* insertion sort: stable, and dicts here are small */
    for (size_t j = i; j > 0 && safe_cmp(c, items[j].u.l->v[0], items[j - 1].u.l->v[0]) < 0; j--) {
      tv t = items[j];
      items[j] = items[j - 1];
      items[j - 1] = t;
    }
  return items;
}

/* pprint's _safe_repr: like repr(), with dict keys sorted */
static void safe_repr(tctx *c, tbuf *b, tv v) {
  if (v.t == TV_DICT && !v.u.d->ordered) {
    size_t n;
    tv *items = sorted_items(c, v.u.d, &n);
    brr__template_tbuf_addc(c, b, '{');
    for (size_t i = 0; i < n; i++) {
      if (i) brr__template_tbuf_adds(c, b, ", ");
      safe_repr(c, b, items[i].u.l->v[0]);
      brr__template_tbuf_adds(c, b, ": ");
      safe_repr(c, b, items[i].u.l->v[1]);
    }
    brr__template_tbuf_addc(c, b, '}');
  } else if (v.t == TV_LIST || v.t == TV_TUPLE) {
    brr__template_tbuf_addc(c, b, v.t == TV_LIST ? '[' : '(');
    for (size_t i = 0; i < v.u.l->n; i++) {
      if (i) brr__template_tbuf_adds(c, b, ", ");
      safe_repr(c, b, v.u.l->v[i]);
    }
    if (v.t == TV_TUPLE && v.u.l->n == 1) brr__template_tbuf_addc(c, b, ',');
    brr__template_tbuf_addc(c, b, v.t == TV_LIST ? ']' : ')');
  } else {
    brr__template_tv_repr_to(c, b, v);
  }
}

static void pformat(tctx *c, tbuf *out, tv v, size_t indent, size_t allowance, int level);

static void pad(tctx *c, tbuf *out, size_t n) {
  for (size_t i = 0; i < n; i++) brr__template_tbuf_addc(c, out, ' ');
}

static void format_items(tctx *c, tbuf *out, const tv *items, size_t n, size_t indent, size_t allowance, int level) {
  indent += 1;
  for (size_t i = 0; i < n; i++) {
    if (i) {
      brr__template_tbuf_adds(c, out, ",\n");
      pad(c, out, indent);
    }
    pformat(c, out, items[i], indent, i + 1 == n ? allowance : 1, level);
  }
}

static void pformat(tctx *c, tbuf *out, tv v, size_t indent, size_t allowance, int level) {
  tbuf rep = {0};
  safe_repr(c, &rep, v);
  if (brr__template_u8_len(rep.p, rep.n) + indent + allowance <= WIDTH || level > 100) {
    brr__template_tbuf_add(c, out, rep.p, rep.n);
    return;
  }
  if (v.t == TV_LIST || v.t == TV_TUPLE) {
    bool one = v.t == TV_TUPLE && v.u.l->n == 1;
    brr__template_tbuf_addc(c, out, v.t == TV_LIST ? '[' : '(');
    format_items(c, out, v.u.l->v, v.u.l->n, indent, allowance + (v.t == TV_LIST ? 1 : one ? 2 : 1), level + 1);
    brr__template_tbuf_adds(c, out, v.t == TV_LIST ? "]" : one ? ",)" : ")");
  } else if (v.t == TV_DICT && v.u.d->ordered) {
    brr__template_tbuf_adds(c, out, "OrderedDict(");
    size_t n;
    tv *items = brr__template_tv_iterate(c, NULL, (tv){.t = TV_VIEW, .sub = TV_VIEW_ITEMS, .u.d = v.u.d}, &n);
    tv l = brr__template_tv_list(c, n);
    for (size_t i = 0; i < n; i++) brr__template_tl_push(c, l.u.l, items[i]);
    pformat(c, out, l, indent + 12, allowance + 1, level + 1);
    brr__template_tbuf_addc(c, out, ')');
  } else if (v.t == TV_DICT) {
    size_t n;
    tv *items = sorted_items(c, v.u.d, &n);
    brr__template_tbuf_addc(c, out, '{');
    for (size_t i = 0; i < n; i++) {
      tbuf key = {0};
      safe_repr(c, &key, items[i].u.l->v[0]);
      brr__template_tbuf_add(c, out, key.p, key.n);
      brr__template_tbuf_adds(c, out, ": ");
      pformat(c, out, items[i].u.l->v[1], indent + 1 + brr__template_u8_len(key.p, key.n) + 2, i + 1 == n ? allowance + 1 : 1, level + 1);
      if (i + 1 < n) {
        brr__template_tbuf_adds(c, out, ",\n");
        pad(c, out, indent + 1);
      }
    }
    brr__template_tbuf_addc(c, out, '}');
  } else {
    brr__template_tbuf_add(c, out, rep.p, rep.n);
  }
}

tv brr__template_tpprint(tctx *c, tv v) {
  tbuf out = {0};
  pformat(c, &out, v, 0, 0, 0);
  return brr__template_tbuf_str(c, &out);
}
