/* Operators with Python's semantics (what Jinja2's compiled code does): arithmetic on ints,
 * floats, strings and sequences; `in`; attribute and item lookup with Jinja2's fallbacks
 * (environment.getattr/getitem); slicing. Integers are 64-bit: overflow is an error, where
 * Python would switch to big integers. */
#include <math.h>
#include <string.h>

#include "internal.h"

static int64_t as_int(tv v) { return v.t == TV_BOOL ? v.u.b : v.u.i; }
static double as_float(tv v) { return v.t == TV_FLOAT ? v.u.f : (double)as_int(v); }
static bool is_intlike(tv v) { return v.t == TV_INT || v.t == TV_BOOL; }

BRR_NORETURN static void overflow(tctx *c, const tnode *at) {
  brr__template_terr(c, at, "integer overflow (brr integers are 64-bit)");
}

static const char *op_symbol(int op) {
  static const char *const s[] = {"+", "-", "*", "/", "//", "%", "** or pow()"};
  return op <= OP_POW ? s[op] : "?";
}

BRR_NORETURN static void unsupported(tctx *c, const tnode *at, int op, tv a, tv b) {
  brr__template_terr(c, at, "unsupported operand type(s) for %s: '%s' and '%s'", op_symbol(op), brr__template_tv_typename(a), brr__template_tv_typename(b));
}

static tv repeat(tctx *c, const tnode *at, tv seq, int64_t times) {
  if (times < 0) times = 0;
  if (seq.t == TV_STR) {
    if (seq.slen) brr__template_tstr_check_size(c, at, (uint64_t)times > UINT64_MAX / seq.slen ? UINT64_MAX : (uint64_t)times * seq.slen);
    size_t total = seq.slen * (size_t)times;
    char *p = brr__template_talloc(c, total + 1);
    for (int64_t i = 0; i < times; i++) memcpy(p + (size_t)i * seq.slen, seq.u.str, seq.slen);
    return tv_str_nocopy(p, total);
  }
  size_t n = seq.u.l->n;
  if (n && (uint64_t)times > 10000000 / n) brr__template_terr(c, at, "repeated sequence too large (brr allows 10000000 items)");
  tv r = brr__template_tv_list(c, n * (size_t)times);
  for (int64_t i = 0; i < times; i++)
    for (size_t k = 0; k < n; k++) brr__template_tl_push(c, r.u.l, seq.u.l->v[k]);
  r.t = seq.t;
  return r;
}

static double py_fmod(double a, double b) {
  double m = fmod(a, b);
  if (m != 0 && ((b < 0) != (m < 0))) m += b;
  if (m == 0) m = copysign(0.0, b);
  return m;
}

static tv arith_num(tctx *c, const tnode *at, int op, tv a, tv b) {
  if (is_intlike(a) && is_intlike(b) && op != OP_DIV) {
    int64_t x = as_int(a), y = as_int(b), r;
    switch (op) {
    case OP_ADD:
      if (__builtin_add_overflow(x, y, &r)) overflow(c, at);
      return tv_int(r);
    case OP_SUB:
      if (__builtin_sub_overflow(x, y, &r)) overflow(c, at);
      return tv_int(r);
    case OP_MUL:
      if (__builtin_mul_overflow(x, y, &r)) overflow(c, at);
      return tv_int(r);
    case OP_FLOORDIV:
    case OP_MOD: {
      if (y == 0) brr__template_terr(c, at, op == OP_MOD ? "integer modulo by zero" : "integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) {
        if (op == OP_MOD) return tv_int(0);
        overflow(c, at);
      }
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        q--;
        m += y;
      }
      return tv_int(op == OP_MOD ? m : q);
    }
    case OP_POW:
      if (y < 0) {
        if (x == 0) brr__template_terr(c, at, "0.0 cannot be raised to a negative power");
        return tv_float(pow((double)x, (double)y));
      }
      r = 1;
      for (int64_t base = x; y; y >>= 1) {
        if ((y & 1) && __builtin_mul_overflow(r, base, &r)) overflow(c, at);
        if (y > 1 && __builtin_mul_overflow(base, base, &base)) overflow(c, at);
      }
      return tv_int(r);
    default: break;
    }
  }
  double x = as_float(a), y = as_float(b);
  switch (op) {
  case OP_ADD: return tv_float(x + y);
  case OP_SUB: return tv_float(x - y);
  case OP_MUL: return tv_float(x * y);
  case OP_DIV:
    if (y == 0) brr__template_terr(c, at, is_intlike(a) && is_intlike(b) ? "division by zero" : "float division by zero");
    return tv_float(x / y);
  case OP_FLOORDIV:
    if (y == 0) brr__template_terr(c, at, "float floor division by zero");
    {
      double m = py_fmod(x, y);
      double q = (x - m) / y;
      double fq = floor(q);
      if (q - fq > 0.5) fq += 1.0;
      return tv_float(q == 0 ? copysign(0.0, x / y) : fq);
    }
  case OP_MOD:
    if (y == 0) brr__template_terr(c, at, "float modulo");
    return tv_float(py_fmod(x, y));
  case OP_POW:
    if (x == 0 && y < 0) brr__template_terr(c, at, "0.0 cannot be raised to a negative power");
    if (x < 0 && y != floor(y)) brr__template_terr(c, at, "brr does not support complex numbers (negative number to a fractional power)");
    {
      double r = pow(x, y);
      if (isinf(r) && !isinf(x) && !isinf(y)) brr__template_terr(c, at, "(34, 'Numerical result out of range')");
      return tv_float(r);
    }
  default: return BRR__TEMPLATE_TV_NONE_V;
  }
}

tv brr__template_top_binary(tctx *c, const tnode *at, int op, tv a, tv b) {
  if (tv_is_undef(a)) brr__template_terr_undef(c, at, a);
  if (tv_is_undef(b)) brr__template_terr_undef(c, at, b);
  if (tv_is_num(a) && tv_is_num(b)) return arith_num(c, at, op, a, b);
  switch (op) {
  case OP_ADD:
    if (a.t == TV_STR && b.t == TV_STR) {
      tbuf r = {0};
      brr__template_tbuf_add(c, &r, a.u.str, a.slen);
      brr__template_tbuf_add(c, &r, b.u.str, b.slen);
      return brr__template_tbuf_str(c, &r);
    }
    if ((a.t == TV_LIST || a.t == TV_TUPLE) && a.t == b.t) {
      tv r = brr__template_tv_list(c, a.u.l->n + b.u.l->n);
      for (size_t i = 0; i < a.u.l->n; i++) brr__template_tl_push(c, r.u.l, a.u.l->v[i]);
      for (size_t i = 0; i < b.u.l->n; i++) brr__template_tl_push(c, r.u.l, b.u.l->v[i]);
      r.t = a.t;
      return r;
    }
    if (a.t == TV_STR || a.t == TV_LIST || a.t == TV_TUPLE)
      brr__template_terr(c, at, "can only concatenate %s (not \"%s\") to %s", brr__template_tv_typename(a), brr__template_tv_typename(b), brr__template_tv_typename(a));
    break;
  case OP_MUL:
    if ((a.t == TV_STR || a.t == TV_LIST || a.t == TV_TUPLE) && is_intlike(b)) return repeat(c, at, a, as_int(b));
    if ((b.t == TV_STR || b.t == TV_LIST || b.t == TV_TUPLE) && is_intlike(a)) return repeat(c, at, b, as_int(a));
    if (a.t == TV_STR || a.t == TV_LIST || a.t == TV_TUPLE || b.t == TV_STR || b.t == TV_LIST || b.t == TV_TUPLE)
      brr__template_terr(c, at, "can't multiply sequence by non-int of type '%s'",
           brr__template_tv_typename(a.t == TV_STR || a.t == TV_LIST || a.t == TV_TUPLE ? b : a));
    break;
  case OP_MOD:
    if (a.t == TV_STR) return brr__template_tpy_percent(c, at, a, b);
    break;
  default: break;
  }
  unsupported(c, at, op, a, b);
}

tv brr__template_top_neg(tctx *c, const tnode *at, tv v, bool neg) {
  if (tv_is_undef(v)) brr__template_terr_undef(c, at, v);
  if (v.t == TV_FLOAT) return tv_float(neg ? -v.u.f : v.u.f);
  if (is_intlike(v)) {
    int64_t i = as_int(v);
    if (neg && i == INT64_MIN) overflow(c, at);
    return tv_int(neg ? -i : i);
  }
  brr__template_terr(c, at, "bad operand type for unary %c: '%s'", neg ? '-' : '+', brr__template_tv_typename(v));
}

bool brr__template_top_contains(tctx *c, const tnode *at, tv container, tv item) {
  switch (container.t) {
  case TV_STR: {
    if (item.t != TV_STR) brr__template_terr(c, at, "'in <string>' requires string as left operand, not %s", brr__template_tv_typename(item));
    if (item.slen == 0) return true;
    return memmem(container.u.str, container.slen, item.u.str, item.slen) != NULL;
  }
  case TV_DICT: return brr__template_td_get(c, at, container.u.d, item) != NULL;
  case TV_VIEW:
    if (container.sub == TV_VIEW_KEYS) return brr__template_td_get(c, at, container.u.d, item) != NULL;
    break;
  case TV_RANGE:
    if (is_intlike(item)) {
      int64_t i = as_int(item);
      const trange *r = container.u.r;
      if (r->step > 0 ? (i < r->start || i >= r->stop) : (i > r->start || i <= r->stop)) return false;
      return (i - r->start) % r->step == 0;
    }
    break;
  case TV_NONE:
  case TV_BOOL:
  case TV_INT:
  case TV_FLOAT:
  case TV_NS:
  case TV_FUNC:
  case TV_OBJ: brr__template_terr(c, at, "argument of type '%s' is not iterable", brr__template_tv_typename(container));
  default: break;
  }
  if (container.t == TV_ITER) { /* an iterator is consumed up to the match */
    titer *it = container.u.it;
    while (it->pos < it->n)
      if (brr__template_tv_eq(c, it->v[it->pos++], item)) return true;
    return false;
  }
  size_t n;
  tv *items = brr__template_tv_iterate(c, at, container, &n);
  for (size_t i = 0; i < n; i++)
    if (brr__template_tv_eq(c, items[i], item)) return true;
  return false;
}

static tv undefined_attr(tctx *c, tv obj, tv name) { return brr__template_tv_undef(c, NULL, obj, name); }

tv brr__template_top_getattr(tctx *c, const tnode *at, tv obj, const char *name, size_t n) {
  if (tv_is_undef(obj)) brr__template_terr_undef(c, at, obj);
  tv out;
  if (brr__template_tmethod_get(c, at, obj, name, n, &out)) return out;
  if (obj.t == TV_DICT) {
    tv *v = brr__template_td_gets(obj.u.d, name, n);
    if (v) return *v;
  }
  return undefined_attr(c, obj, tv_str_nocopy(name, n));
}

/* obj[key] for a sequence and an int key; false when out of range */
static bool seq_index(tctx *c, tv obj, int64_t i, tv *out) {
  if (obj.t == TV_STR) {
    int64_t len = (int64_t)brr__template_u8_len(obj.u.str, obj.slen);
    if (i < 0) i += len;
    if (i < 0 || i >= len) return false;
    size_t off = brr__template_u8_offset(obj.u.str, obj.slen, (size_t)i);
    uint32_t cp;
    size_t l = brr__template_u8_decode(obj.u.str, obj.slen, off, &cp);
    *out = brr__template_tv_str(c, obj.u.str + off, l);
    return true;
  }
  if (obj.t == TV_RANGE) {
    int64_t len = (int64_t)brr__template_tv_len(c, NULL, obj);
    if (i < 0) i += len;
    if (i < 0 || i >= len) return false;
    *out = tv_int(obj.u.r->start + i * obj.u.r->step);
    return true;
  }
  int64_t len = (int64_t)obj.u.l->n;
  if (i < 0) i += len;
  if (i < 0 || i >= len) return false;
  *out = obj.u.l->v[i];
  return true;
}

tv brr__template_top_getitem(tctx *c, const tnode *at, tv obj, tv key) {
  if (tv_is_undef(obj)) brr__template_terr_undef(c, at, obj);
  tv out;
  switch (obj.t) {
  case TV_DICT:
    if (key.t != TV_LIST && key.t != TV_DICT && key.t != TV_NS && key.t != TV_VIEW) {
      tv *v = brr__template_td_get(c, at, obj.u.d, key);
      if (v) return *v;
    }
    break;
  case TV_LIST:
  case TV_TUPLE:
  case TV_STR:
  case TV_RANGE:
    if (is_intlike(key)) {
      if (seq_index(c, obj, as_int(key), &out)) return out;
      return undefined_attr(c, obj, key);
    }
    break;
  default: break;
  }
  /* Jinja2 falls back to an attribute of that name */
  if (key.t == TV_STR && brr__template_tmethod_get(c, at, obj, key.u.str, key.slen, &out)) return out;
  return undefined_attr(c, obj, key);
}

static int64_t slice_index(tctx *c, const tnode *at, tv v) {
  if (is_intlike(v)) return as_int(v);
  brr__template_terr(c, at, "slice indices must be integers or None or have an __index__ method");
}

/* Python's PySlice_AdjustIndices */
static void slice_adjust(int64_t len, int64_t *start, int64_t *stop, int64_t step, bool has_start, bool has_stop) {
  if (!has_start) *start = step < 0 ? len - 1 : 0;
  else if (*start < 0) {
    *start += len;
    if (*start < 0) *start = step < 0 ? -1 : 0;
  } else if (*start >= len) *start = step < 0 ? len - 1 : len;
  if (!has_stop) *stop = step < 0 ? -1 : len;
  else if (*stop < 0) {
    *stop += len;
    if (*stop < 0) *stop = step < 0 ? -1 : 0;
  } else if (*stop >= len) *stop = step < 0 ? len - 1 : len;
}

tv brr__template_top_slice(tctx *c, const tnode *at, tv obj, tv start, tv stop, tv step) {
  if (tv_is_undef(obj)) brr__template_terr_undef(c, at, obj);
  if (obj.t == TV_DICT) brr__template_terr(c, at, "unhashable type: 'slice'");
  if (obj.t != TV_STR && obj.t != TV_LIST && obj.t != TV_TUPLE)
    brr__template_terr(c, at, "'%s' object is not subscriptable", brr__template_tv_typename(obj));
  int64_t st = step.t == TV_NONE ? 1 : slice_index(c, at, step);
  if (st == 0) brr__template_terr(c, at, "slice step cannot be zero");
  int64_t a = start.t == TV_NONE ? 0 : slice_index(c, at, start);
  int64_t b = stop.t == TV_NONE ? 0 : slice_index(c, at, stop);
  bool ascii = true;
  size_t *offs = NULL;
  int64_t len;
  if (obj.t == TV_STR) {
    for (size_t i = 0; i < obj.slen && ascii; i++) ascii = (unsigned char)obj.u.str[i] < 0x80;
    len = ascii ? (int64_t)obj.slen : (int64_t)brr__template_u8_len(obj.u.str, obj.slen);
    if (!ascii) { /* code point start offsets, plus the end */
      offs = brr__template_talloc(c, (size_t)(len + 1) * sizeof *offs);
      size_t k = 0;
      for (size_t i = 0; i < obj.slen;) {
        uint32_t cp;
        offs[k++] = i;
        i += brr__template_u8_decode(obj.u.str, obj.slen, i, &cp);
      }
      offs[k] = obj.slen;
    }
  } else {
    len = (int64_t)obj.u.l->n;
  }
  slice_adjust(len, &a, &b, st, start.t != TV_NONE, stop.t != TV_NONE);
  if (obj.t == TV_STR) {
    tbuf r = {0};
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) {
      size_t o = ascii ? (size_t)i : offs[i];
      size_t e = ascii ? o + 1 : offs[i + 1];
      brr__template_tbuf_add(c, &r, obj.u.str + o, e - o);
    }
    return brr__template_tbuf_str(c, &r);
  }
  tv r = brr__template_tv_list(c, 0);
  for (int64_t i = a; st > 0 ? i < b : i > b; i += st) brr__template_tl_push(c, r.u.l, obj.u.l->v[i]);
  r.t = obj.t;
  return r;
}
