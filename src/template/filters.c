/* Jinja2's built-in filters on strings and numbers (jinja2/filters.py), the filter table,
 * and tojson (Python's json.dumps with Jinja2's policies: sorted keys, HTML-safe escapes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ARG0(a) ((a)->pos[0])

static tv soft_str(tctx *c, tv v) { return brr__template_tv_to_str(c, v); }

static tv f_string(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "soft_str", args, "value");
  return soft_str(c, args[0]);
}

static tv f_upper(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_upper", args, "s");
  return brr__template_u_upper(c, soft_str(c, args[0]));
}

static tv f_lower(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_lower", args, "s");
  return brr__template_u_lower(c, soft_str(c, args[0]));
}

static tv f_capitalize(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_capitalize", args, "s");
  return brr__template_u_capitalize(c, soft_str(c, args[0]));
}

/* words start after runs of -, whitespace, (, {, [ or < */
static bool title_sep(uint32_t cp) {
  return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || brr__template_u_isspace(cp);
}

static tv f_title(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_title", args, "s");
  tv s = soft_str(c, args[0]);
  tbuf b = {0};
  bool start = true, prev_sep = false;
  for (size_t i = 0; i < s.slen;) {
    uint32_t cp;
    size_t l = brr__template_u8_decode(s.u.str, s.slen, i, &cp);
    bool sep = title_sep(cp);
    if (i > 0 && sep != prev_sep) start = true;
    uint32_t out = start ? (cp == 0xDF ? 0xDF : brr__template_u_toupper(cp)) : brr__template_u_tolower(cp);
    if (start && cp == 0xDF) brr__template_tbuf_adds(c, &b, "SS");
    else if (!start && cp == 0x130) brr__template_tbuf_adds(c, &b, "i\xcc\x87");
    else {
      char enc[4];
      brr__template_tbuf_add(c, &b, enc, brr__template_u8_encode(out, enc));
    }
    start = false;
    prev_sep = sep;
    i += l;
  }
  return brr__template_tbuf_str(c, &b);
}


static tv f_replace(tctx *c, tcall *a) {
  tv args[4];
  TARGS(c, a, "do_replace", args, "s", "old", "new", "?count");
  int64_t count = args[3].t == TV_MISSING || args[3].t == TV_NONE ? -1 : brr__template_targ_int(c, a->at, args[3], "count");
  return brr__template_tstr_replace(c, a->at, soft_str(c, args[0]), soft_str(c, args[1]), soft_str(c, args[2]), count);
}

static tv f_trim(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "do_trim", args, "value", "?chars");
  return brr__template_tstr_strip(c, a->at, soft_str(c, args[0]), args[1], true, true);
}

static tv f_center(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "do_center", args, "value", "?width");
  int64_t w = args[1].t == TV_MISSING ? 80 : brr__template_targ_int(c, a->at, args[1], "width");
  return brr__template_tstr_pad(c, a->at, soft_str(c, args[0]), w, BRR__TEMPLATE_TV_MISSING_V, 0);
}

static tv f_default(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "do_default", args, "value", "?default_value", "?boolean");
  tv dflt = args[1].t == TV_MISSING ? tv_str_nocopy("", 0) : args[1];
  bool boolean = args[2].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[2]);
  if (tv_is_undef(args[0]) || (boolean && !brr__template_tv_truthy(c, a->at, args[0]))) return dflt;
  return args[0];
}

static tv f_int(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "do_int", args, "value", "?default", "?base");
  tv v = args[0], dflt = args[1].t == TV_MISSING ? tv_int(0) : args[1];
  int64_t base = args[2].t == TV_MISSING ? 10 : brr__template_targ_int(c, a->at, args[2], "base");
  int64_t i;
  double f;
  bool ovf = false;
  switch (v.t) {
  case TV_INT: return v;
  case TV_BOOL: return tv_int(v.u.b);
  case TV_FLOAT:
    /* int() of NaN is a ValueError, which gives the default; infinity overflows */
    if (isnan(v.u.f)) return dflt;
    if (isinf(v.u.f)) brr__template_terr(c, a->at, "cannot convert float infinity to integer");
    if (fabs(v.u.f) >= 9.2e18) brr__template_terr(c, a->at, "integer overflow (brr integers are 64-bit)");
    return tv_int((int64_t)v.u.f);
  case TV_STR:
    if ((base < 2 && base != 0) || base > 36) brr__template_terr(c, a->at, "int() base must be >= 2 and <= 36, or 0");
    if (brr__template_tv_parse_int(v.u.str, v.slen, (int)base, &i, &ovf)) return tv_int(i);
    if (ovf) brr__template_terr(c, a->at, "integer overflow (brr integers are 64-bit)");
    if (brr__template_tv_parse_float(v.u.str, v.slen, &f)) {
      if (isnan(f)) return dflt;
      if (isinf(f)) brr__template_terr(c, a->at, "cannot convert float infinity to integer");
      if (fabs(f) >= 9.2e18) brr__template_terr(c, a->at, "integer overflow (brr integers are 64-bit)");
      return tv_int((int64_t)f);
    }
    return dflt;
  case TV_MISSING:
  case TV_UNDEF: brr__template_terr_undef(c, a->at, v);
  default: return dflt;
  }
}

static tv f_float(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "do_float", args, "value", "?default");
  tv v = args[0], dflt = args[1].t == TV_MISSING ? tv_float(0.0) : args[1];
  double f;
  switch (v.t) {
  case TV_FLOAT: return v;
  case TV_INT: return tv_float((double)v.u.i);
  case TV_BOOL: return tv_float(v.u.b);
  case TV_STR: return brr__template_tv_parse_float(v.u.str, v.slen, &f) ? tv_float(f) : dflt;
  case TV_MISSING:
  case TV_UNDEF: brr__template_terr_undef(c, a->at, v);
  default: return dflt;
  }
}

static tv f_abs(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "abs", args, "x");
  tv v = args[0];
  if (v.t == TV_FLOAT) return tv_float(fabs(v.u.f));
  if (v.t == TV_BOOL) return tv_int(v.u.b);
  if (v.t == TV_INT) {
    if (v.u.i == INT64_MIN) brr__template_terr(c, a->at, "integer overflow (brr integers are 64-bit)");
    return tv_int(v.u.i < 0 ? -v.u.i : v.u.i);
  }
  if (tv_is_undef(v)) brr__template_terr_undef(c, a->at, v);
  brr__template_terr(c, a->at, "bad operand type for abs(): '%s'", brr__template_tv_typename(v));
}

/* Python's round(x, n): correctly rounded from the exact binary value, ties to even */
static double py_round(double x, int64_t n) {
  if (!isfinite(x) || n > 300) return x;
  if (n < -308) return copysign(0.0, x);
  if (n >= 0) {
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", (int)n, x);
    return strtod(buf, NULL);
  }
  double p = pow(10.0, (double)-n), y = x / p, r = nearbyint(y);
  return copysign(r * p, x);
}

/* Python's round(int, -n): to the nearest multiple of 10**n, ties to even, exactly */
static tv round_int(tctx *c, const tnode *at, int64_t i, int64_t prec) {
  if (prec < -19) return tv_int(0); /* |i| < 10**19 / 2 */
  uint64_t m = 1;
  for (int64_t k = 0; k < -prec; k++) m *= 10;
  uint64_t mag = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
  uint64_t q = mag / m, r = mag % m;
  if (r > m - r || (r == m - r && (q & 1))) q++;
  if (q > UINT64_MAX / m || q * m > (i < 0 ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
    brr__template_terr(c, at, "integer overflow (brr integers are 64-bit)");
  uint64_t res = q * m;
  return tv_int(i < 0 ? (int64_t)(0 - res) : (int64_t)res);
}

static tv f_round(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "do_round", args, "value", "?precision", "?method");
  tv v = args[0];
  int64_t prec = args[1].t == TV_MISSING ? 0 : brr__template_targ_int(c, a->at, args[1], "precision");
  const char *method = "common";
  if (args[2].t != TV_MISSING) {
    if (args[2].t != TV_STR || (strcmp(args[2].u.str, "common") && strcmp(args[2].u.str, "ceil") && strcmp(args[2].u.str, "floor")))
      brr__template_terr(c, a->at, "method must be common, ceil or floor");
    method = args[2].u.str;
  }
  if (tv_is_undef(v)) brr__template_terr_undef(c, a->at, v);
  if (!tv_is_num(v)) brr__template_terr(c, a->at, "type %s doesn't define __round__ method", brr__template_tv_typename(v));
  if (!strcmp(method, "common")) {
    if (v.t == TV_FLOAT) return tv_float(py_round(v.u.f, prec));
    int64_t i = v.t == TV_BOOL ? v.u.b : v.u.i;
    if (prec >= 0) return tv_int(i);
    return round_int(c, a->at, i, prec);
  }
  double x = v.t == TV_FLOAT ? v.u.f : v.t == TV_BOOL ? v.u.b : (double)v.u.i;
  double p = pow(10.0, (double)prec);
  double r = method[0] == 'c' ? ceil(x * p) : floor(x * p);
  if (!isfinite(r)) brr__template_terr(c, a->at, "cannot convert float infinity to integer");
  return tv_float(r / p);
}

static tv f_format(tctx *c, tcall *a) {
  if (a->npos < 1) brr__template_terr(c, a->at, "do_format() missing 1 required positional argument: 'value'");
  if (a->npos > 1 && a->nkw) brr__template_terr(c, a->at, "can't handle positional and keyword arguments at the same time");
  tv fmt = soft_str(c, ARG0(a));
  if (a->nkw) {
    tv d = brr__template_tv_dict(c);
    for (size_t i = 0; i < a->nkw; i++) brr__template_td_sets(c, d.u.d, a->kw[i].name, a->kw[i].v);
    return brr__template_tpy_percent(c, a->at, fmt, d);
  }
  tv t = brr__template_tv_tuple(c, a->npos - 1);
  for (size_t i = 1; i < a->npos; i++) t.u.l->v[i - 1] = a->pos[i];
  return brr__template_tpy_percent(c, a->at, fmt, t);
}

static tv f_indent(tctx *c, tcall *a) {
  tv args[4];
  TARGS(c, a, "do_indent", args, "s", "?width", "?first", "?blank");
  tv s = args[0];
  if (tv_is_undef(s)) brr__template_terr_undef(c, a->at, s);
  if (s.t != TV_STR) brr__template_terr(c, a->at, "unsupported operand type(s) for +=: '%s' and 'str'", brr__template_tv_typename(s));
  tbuf ind = {0};
  if (args[1].t == TV_STR) brr__template_tbuf_add(c, &ind, args[1].u.str, args[1].slen);
  else {
    int64_t w = args[1].t == TV_MISSING ? 4 : brr__template_targ_int(c, a->at, args[1], "width");
    if (w > 0) {
      brr__template_tstr_check_size(c, a->at, (uint64_t)w);
      char *sp = brr__template_talloc(c, (size_t)w);
      memset(sp, ' ', (size_t)w);
      brr__template_tbuf_add(c, &ind, sp, (size_t)w);
    }
  }
  bool first = args[2].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[2]);
  bool blank = args[3].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[3]);
  /* s + "\n", split into lines (str.splitlines) */
  tbuf full = {0};
  brr__template_tbuf_add(c, &full, s.u.str, s.slen);
  brr__template_tbuf_addc(c, &full, '\n');
  tv fs = brr__template_tbuf_str(c, &full);
  tv fn;
  brr__template_tmethod_get(c, a->at, fs, "splitlines", 10, &fn);
  tcall none = {.at = a->at};
  tv lines = brr__template_tcall_value(c, a->at, fn, &none);
  tbuf b = {0};
  if (first) brr__template_tbuf_add(c, &b, ind.p ? ind.p : "", ind.n);
  for (size_t i = 0; i < lines.u.l->n; i++) {
    tv ln = lines.u.l->v[i];
    if (i) {
      brr__template_tbuf_addc(c, &b, '\n');
      if (blank || ln.slen) brr__template_tbuf_add(c, &b, ind.p ? ind.p : "", ind.n);
    }
    brr__template_tbuf_add(c, &b, ln.u.str, ln.slen);
  }
  return brr__template_tbuf_str(c, &b);
}

static tv f_wordcount(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_wordcount", args, "s");
  tv s = soft_str(c, args[0]);
  int64_t words = 0;
  bool in = false;
  for (size_t i = 0; i < s.slen;) {
    uint32_t cp;
    i += brr__template_u8_decode(s.u.str, s.slen, i, &cp);
    bool w = cp == '_' || brr__template_u_isalnum(cp);
    if (w && !in) words++;
    in = w;
  }
  return tv_int(words);
}

static tv f_truncate(tctx *c, tcall *a) {
  tv args[5];
  TARGS(c, a, "do_truncate", args, "s", "?length", "?killwords", "?end", "?leeway");
  tv s = args[0];
  int64_t length = args[1].t == TV_MISSING ? 255 : brr__template_targ_int(c, a->at, args[1], "length");
  bool killwords = args[2].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[2]);
  tv end = args[3].t == TV_MISSING ? tv_str_nocopy("...", 3) : soft_str(c, args[3]);
  int64_t leeway = args[4].t == TV_MISSING || args[4].t == TV_NONE ? 5 : brr__template_targ_int(c, a->at, args[4], "leeway");
  int64_t endlen = (int64_t)brr__template_u8_len(end.u.str, end.slen);
  if (length < endlen) brr__template_terr(c, a->at, "expected length >= %lld, got %lld", (long long)endlen, (long long)length);
  if (leeway < 0) brr__template_terr(c, a->at, "expected leeway >= 0, got %lld", (long long)leeway);
  /* Jinja2 does not make the value a string: a short list comes back as it is */
  int64_t slen = (int64_t)brr__template_tv_len(c, a->at, s);
  if (slen <= length + leeway) return s;
  if (s.t != TV_STR) brr__template_terr(c, a->at, "'%s' object has no attribute 'rsplit'", brr__template_tv_typename(s));
  size_t cut = brr__template_u8_offset(s.u.str, s.slen, (size_t)(length - endlen));
  tbuf b = {0};
  if (killwords) {
    brr__template_tbuf_add(c, &b, s.u.str, cut);
  } else {
    size_t k = cut;
    while (k > 0 && s.u.str[k - 1] != ' ') k--;
    brr__template_tbuf_add(c, &b, s.u.str, k ? k - 1 : cut);
  }
  brr__template_tbuf_add(c, &b, end.u.str, end.slen);
  return brr__template_tbuf_str(c, &b);
}

static void html_escape(tctx *c, tbuf *b, tv s) {
  for (size_t i = 0; i < s.slen; i++) {
    char ch = s.u.str[i];
    switch (ch) {
    case '&': brr__template_tbuf_adds(c, b, "&amp;"); break;
    case '<': brr__template_tbuf_adds(c, b, "&lt;"); break;
    case '>': brr__template_tbuf_adds(c, b, "&gt;"); break;
    case '\'': brr__template_tbuf_adds(c, b, "&#39;"); break;
    case '"': brr__template_tbuf_adds(c, b, "&#34;"); break;
    default: brr__template_tbuf_addc(c, b, ch);
    }
  }
}

static tv f_escape(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "escape", args, "s");
  if (args[0].t == TV_NONE) return tv_str_nocopy("None", 4);
  tbuf b = {0};
  html_escape(c, &b, soft_str(c, args[0]));
  return brr__template_tbuf_str(c, &b);
}

static tv f_safe(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_mark_safe", args, "value");
  return soft_str(c, args[0]);
}

static tv f_xmlattr(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "do_xmlattr", args, "d", "?autospace");
  if (args[0].t != TV_DICT) brr__template_terr(c, a->at, "'%s' object has no attribute 'items'", brr__template_tv_typename(args[0]));
  tbuf b = {0};
  tdent *e;
  bool any = false;
  for (size_t i = 0; brr__template_td_next(args[0].u.d, &i, &e);) {
    if (e->val.t == TV_NONE || tv_is_undef(e->val)) continue;
    tv k = soft_str(c, e->key);
    if (strpbrk(k.u.str, " \t\n\r\f\v/>=")) brr__template_terr(c, a->at, "Invalid character in attribute name: '%s'", k.u.str);
    if (any) brr__template_tbuf_addc(c, &b, ' ');
    html_escape(c, &b, k);
    brr__template_tbuf_adds(c, &b, "=\"");
    html_escape(c, &b, soft_str(c, e->val));
    brr__template_tbuf_addc(c, &b, '"');
    any = true;
  }
  bool autospace = args[1].t == TV_MISSING || brr__template_tv_truthy(c, a->at, args[1]);
  if (autospace && any) {
    tbuf r = {0};
    brr__template_tbuf_addc(c, &r, ' ');
    brr__template_tbuf_add(c, &r, b.p, b.n);
    return brr__template_tbuf_str(c, &r);
  }
  return brr__template_tbuf_str(c, &b);
}

static tv f_filesizeformat(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "do_filesizeformat", args, "value", "?binary");
  double bytes;
  tv v = args[0];
  if (v.t == TV_STR) {
    if (!brr__template_tv_parse_float(v.u.str, v.slen, &bytes)) brr__template_terr(c, a->at, "could not convert string to float: '%s'", v.u.str);
  } else if (tv_is_num(v)) bytes = v.t == TV_FLOAT ? v.u.f : (double)(v.t == TV_BOOL ? v.u.b : v.u.i);
  else brr__template_terr(c, a->at, "float() argument must be a string or a real number, not '%s'", brr__template_tv_typename(v));
  bool binary = args[1].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[1]);
  double base = binary ? 1024 : 1000;
  static const char *const dec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  static const char *const bin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  char buf[64];
  if (bytes == 1) return tv_str_nocopy("1 Byte", 6);
  if (bytes < base) {
    snprintf(buf, sizeof buf, "%lld Bytes", (long long)bytes);
    return brr__template_tv_strz(c, buf);
  }
  double unit = base;
  int i;
  for (i = 0; i < 8; i++) {
    unit = pow(base, i + 2);
    if (bytes < unit) break;
  }
  if (i == 8) i = 7;
  snprintf(buf, sizeof buf, "%.1f %s", base * bytes / unit, binary ? bin[i] : dec[i]);
  return brr__template_tv_strz(c, buf);
}

static tv f_striptags(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_striptags", args, "value");
  tv s = soft_str(c, args[0]);
  tbuf t = {0};
  const char *p = s.u.str, *e = p + s.slen;
  while (p < e) {
    if (p + 4 <= e && !memcmp(p, "<!--", 4)) {
      const char *end = memmem(p + 4, (size_t)(e - p - 4), "-->", 3);
      if (end) {
        p = end + 3;
        continue;
      }
    }
    if (*p == '<') {
      const char *end = memchr(p, '>', (size_t)(e - p));
      if (end) {
        p = end + 1;
        continue;
      }
    }
    brr__template_tbuf_addc(c, &t, *p++);
  }
  /* " ".join(value.split()), then the common entities unescaped */
  tv ts = brr__template_tbuf_str(c, &t), fn;
  brr__template_tmethod_get(c, a->at, ts, "split", 5, &fn);
  tcall none = {.at = a->at};
  tv words = brr__template_tcall_value(c, a->at, fn, &none);
  tbuf j = {0};
  for (size_t i = 0; i < words.u.l->n; i++) {
    if (i) brr__template_tbuf_addc(c, &j, ' ');
    brr__template_tbuf_add(c, &j, words.u.l->v[i].u.str, words.u.l->v[i].slen);
  }
  static const char *const ent[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""},
                                       {"&#39;", "'"}, {"&#34;", "\""}, {"&nbsp;", "\xc2\xa0"}};
  tbuf r = {0};
  for (size_t i = 0; i < j.n;) {
    bool hit = false;
    for (size_t k = 0; k < BRR_ARRAY_LEN(ent) && !hit; k++) {
      size_t l = strlen(ent[k][0]);
      if (i + l <= j.n && !memcmp(j.p + i, ent[k][0], l)) {
        brr__template_tbuf_adds(c, &r, ent[k][1]);
        i += l;
        hit = true;
      }
    }
    if (!hit) brr__template_tbuf_addc(c, &r, j.p[i++]);
  }
  return brr__template_tbuf_str(c, &r);
}

static void url_quote(tctx *c, tbuf *b, tv s, bool for_qs) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < s.slen; i++) {
    unsigned char ch = (unsigned char)s.u.str[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("_.-~", ch) ||
        (!for_qs && ch == '/'))
      brr__template_tbuf_addc(c, b, (char)ch);
    else if (for_qs && ch == ' ') brr__template_tbuf_addc(c, b, '+');
    else {
      char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      brr__template_tbuf_add(c, b, e, 3);
    }
  }
}

static tv f_urlencode(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_urlencode", args, "value");
  tv v = args[0];
  tbuf b = {0};
  if (v.t == TV_STR || !(v.t == TV_LIST || v.t == TV_TUPLE || v.t == TV_DICT || v.t == TV_ITER || v.t == TV_VIEW)) {
    url_quote(c, &b, soft_str(c, v), false);
    return brr__template_tbuf_str(c, &b);
  }
  size_t n;
  tv *items = v.t == TV_DICT ? brr__template_tv_iterate(c, a->at, (tv){.t = TV_VIEW, .sub = TV_VIEW_ITEMS, .u.d = v.u.d}, &n)
                             : brr__template_tv_iterate(c, a->at, v, &n);
  for (size_t i = 0; i < n; i++) {
    size_t m;
    tv *kv = brr__template_tv_iterate(c, a->at, items[i], &m);
    if (m != 2) brr__template_terr(c, a->at, "too many values to unpack (expected 2)");
    if (i) brr__template_tbuf_addc(c, &b, '&');
    url_quote(c, &b, soft_str(c, kv[0]), true);
    brr__template_tbuf_addc(c, &b, '=');
    url_quote(c, &b, soft_str(c, kv[1]), true);
  }
  return brr__template_tbuf_str(c, &b);
}

/* ---- tojson ---- */

static bool json_plain(unsigned char ch) {
  return ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\' && ch != '<' && ch != '>' && ch != '&' && ch != '\'';
}

static void json_str(tctx *c, tbuf *b, tv s) {
  brr__template_tbuf_addc(c, b, '"');
  for (size_t i = 0; i < s.slen;) {
    size_t run = i;
    while (run < s.slen && json_plain((unsigned char)s.u.str[run])) run++;
    if (run > i) {
      brr__template_tbuf_add(c, b, s.u.str + i, run - i);
      i = run;
      continue;
    }
    uint32_t cp;
    size_t l = brr__template_u8_decode(s.u.str, s.slen, i, &cp);
    i += l;
    switch (cp) {
    case '"': brr__template_tbuf_adds(c, b, "\\\""); continue;
    case '\\': brr__template_tbuf_adds(c, b, "\\\\"); continue;
    case '\n': brr__template_tbuf_adds(c, b, "\\n"); continue;
    case '\r': brr__template_tbuf_adds(c, b, "\\r"); continue;
    case '\t': brr__template_tbuf_adds(c, b, "\\t"); continue;
    case '\b': brr__template_tbuf_adds(c, b, "\\b"); continue;
    case '\f': brr__template_tbuf_adds(c, b, "\\f"); continue;
    /* Jinja2's htmlsafe_json_dumps */
    case '<': brr__template_tbuf_adds(c, b, "\\u003c"); continue;
    case '>': brr__template_tbuf_adds(c, b, "\\u003e"); continue;
    case '&': brr__template_tbuf_adds(c, b, "\\u0026"); continue;
    case '\'': brr__template_tbuf_adds(c, b, "\\u0027"); continue;
    default: break;
    }
    if (cp < 0x20 || cp > 0x7E) {
      if (cp == 0x7F) brr__template_tbuf_addc(c, b, 0x7F);
      else if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        brr__template_tbuf_printf(c, b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else brr__template_tbuf_printf(c, b, "\\u%04x", cp);
    } else brr__template_tbuf_addc(c, b, (char)cp);
  }
  brr__template_tbuf_addc(c, b, '"');
}

static void json_float(tctx *c, tbuf *b, double f) {
  if (isnan(f)) brr__template_tbuf_adds(c, b, "NaN");
  else if (isinf(f)) brr__template_tbuf_adds(c, b, f < 0 ? "-Infinity" : "Infinity");
  else {
    char num[48];
    brr__template_tv_pyfloat(f, num, sizeof num);
    brr__template_tbuf_adds(c, b, num);
  }
}


static void json_newline(tctx *c, tbuf *b, const tv *indent, int depth) {
  brr__template_tbuf_addc(c, b, '\n');
  for (int i = 0; i < depth; i++) brr__template_tbuf_add(c, b, indent->u.str, indent->slen);
}

static void json_emit(tctx *c, const tnode *at, tbuf *b, tv v, const tv *indent, int depth) {
  if (depth > 200) brr__template_terr(c, at, "maximum recursion depth exceeded while encoding a JSON object");
  switch (v.t) {
  case TV_NONE: brr__template_tbuf_adds(c, b, "null"); return;
  case TV_BOOL: brr__template_tbuf_adds(c, b, v.u.b ? "true" : "false"); return;
  case TV_INT: brr__template_tbuf_printf(c, b, "%lld", (long long)v.u.i); return;
  case TV_FLOAT: json_float(c, b, v.u.f); return;
  case TV_STR: json_str(c, b, v); return;
  case TV_LIST:
  case TV_TUPLE: {
    if (v.u.l->n == 0) {
      brr__template_tbuf_adds(c, b, "[]");
      return;
    }
    brr__template_tbuf_addc(c, b, '[');
    for (size_t i = 0; i < v.u.l->n; i++) {
      if (i) brr__template_tbuf_adds(c, b, indent ? "," : ", ");
      if (indent) json_newline(c, b, indent, depth + 1);
      json_emit(c, at, b, v.u.l->v[i], indent, depth + 1);
    }
    if (indent) json_newline(c, b, indent, depth);
    brr__template_tbuf_addc(c, b, ']');
    return;
  }
  case TV_DICT: {
    size_t n = v.u.d->live, k = 0;
    if (n == 0) {
      brr__template_tbuf_adds(c, b, "{}");
      return;
    }
    tv *keys = brr__template_talloc(c, n * sizeof *keys), *vals = brr__template_talloc(c, n * sizeof *vals);
    tdent *e;
    for (size_t i = 0; brr__template_td_next(v.u.d, &i, &e); k++) {
      keys[k] = e->key;
      vals[k] = e->val;
    }
    /* sort_keys=True: keys are unique, so the pairs sort by key alone */
    tv *idx = brr__template_talloc(c, n * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = tv_int((int64_t)i);
    brr__template_tsort_values(c, at, idx, n, keys, false);
    size_t *order = brr__template_talloc(c, n * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = (size_t)idx[i].u.i;
    brr__template_tbuf_addc(c, b, '{');
    for (size_t i = 0; i < n; i++) {
      tv key = keys[order[i]];
      if (i) brr__template_tbuf_adds(c, b, indent ? "," : ", ");
      if (indent) json_newline(c, b, indent, depth + 1);
      if (key.t == TV_STR) json_str(c, b, key);
      else if (key.t == TV_INT) brr__template_tbuf_printf(c, b, "\"%lld\"", (long long)key.u.i);
      else if (key.t == TV_BOOL) brr__template_tbuf_adds(c, b, key.u.b ? "\"true\"" : "\"false\"");
      else if (key.t == TV_NONE) brr__template_tbuf_adds(c, b, "\"null\"");
      else if (key.t == TV_FLOAT) {
        brr__template_tbuf_addc(c, b, '"');
        json_float(c, b, key.u.f);
        brr__template_tbuf_addc(c, b, '"');
      } else brr__template_terr(c, at, "keys must be str, int, float, bool or None, not %s", brr__template_tv_typename(key));
      brr__template_tbuf_adds(c, b, ": ");
      json_emit(c, at, b, vals[order[i]], indent, depth + 1);
    }
    if (indent) json_newline(c, b, indent, depth);
    brr__template_tbuf_addc(c, b, '}');
    return;
  }
  default:
    brr__template_terr(c, at, "Object of type %s is not JSON serializable",
         v.t == TV_UNDEF && c->env->strict_undefined ? "StrictUndefined" : brr__template_tv_typename(v));
  }
}

static tv f_tojson(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "do_tojson", args, "value", "?indent");
  tv ind = BRR__TEMPLATE_TV_MISSING_V;
  if (args[1].t == TV_STR) ind = args[1];
  else if (args[1].t != TV_MISSING && args[1].t != TV_NONE) {
    int64_t w = brr__template_targ_int(c, a->at, args[1], "indent");
    char *sp = "";
    if (w > 0) {
      brr__template_tstr_check_size(c, a->at, (uint64_t)w);
      sp = brr__template_talloc(c, (size_t)w + 1);
      memset(sp, ' ', (size_t)w);
    }
    ind = tv_str_nocopy(sp, w > 0 ? (size_t)w : 0);
  }
  tbuf b = {0};
  json_emit(c, a->at, &b, args[0], ind.t == TV_STR ? &ind : NULL, 0);
  return brr__template_tbuf_str(c, &b);
}

/* ---- the table ---- */

#define SEQ(name, k)                                                                                                   \
  static tv name(tctx *c, tcall *a) { return brr__template_tf_seq(c, a, k); }
SEQ(f_join, 0)
SEQ(f_length, 1)
SEQ(f_first, 2)
SEQ(f_last, 3)
SEQ(f_list, 4)
SEQ(f_sort, 5)
SEQ(f_reverse, 6)
SEQ(f_unique, 7)
SEQ(f_min, 8)
SEQ(f_max, 9)
SEQ(f_sum, 10)
SEQ(f_map, 11)
SEQ(f_select, 12)
SEQ(f_reject, 13)
SEQ(f_selectattr, 14)
SEQ(f_rejectattr, 15)
SEQ(f_batch, 16)
SEQ(f_slice, 17)
SEQ(f_dictsort, 18)
SEQ(f_items, 19)
SEQ(f_groupby, 20)
SEQ(f_attr, 21)
SEQ(f_pprint, 22)

typedef struct fentry {
  const char *name;
  tbuiltin fn;
  bool buildrunner;
} fentry;

static const fentry filters[] = {
    {"abs", f_abs, false},          {"attr", f_attr, false},       {"batch", f_batch, false},
    {"capitalize", f_capitalize, false}, {"center", f_center, false}, {"count", f_length, false},
    {"d", f_default, false},        {"default", f_default, false}, {"dictsort", f_dictsort, false},
    {"e", f_escape, false},         {"escape", f_escape, false},   {"filesizeformat", f_filesizeformat, false},
    {"first", f_first, false},      {"float", f_float, false},     {"forceescape", f_escape, false},
    {"format", f_format, false},    {"groupby", f_groupby, false}, {"indent", f_indent, false},
    {"int", f_int, false},          {"join", f_join, false},       {"last", f_last, false},
    {"length", f_length, false},    {"list", f_list, false},       {"lower", f_lower, false},
    {"items", f_items, false},      {"map", f_map, false},         {"min", f_min, false},
    {"max", f_max, false},          {"pprint", f_pprint, false},   {"reject", f_reject, false},
    {"rejectattr", f_rejectattr, false}, {"replace", f_replace, false}, {"reverse", f_reverse, false},
    {"round", f_round, false},      {"safe", f_safe, false},       {"select", f_select, false},
    {"selectattr", f_selectattr, false}, {"slice", f_slice, false}, {"sort", f_sort, false},
    {"string", f_string, false},    {"striptags", f_striptags, false}, {"sum", f_sum, false},
    {"title", f_title, false},      {"trim", f_trim, false},       {"truncate", f_truncate, false},
    {"unique", f_unique, false},    {"upper", f_upper, false},     {"urlencode", f_urlencode, false},
    {"wordcount", f_wordcount, false}, {"wordwrap", brr__template_tf_wordwrap, false},
    {"random", brr__template_tf_random, false}, {"urlize", brr__template_tf_urlize, false}, {"xmlattr", f_xmlattr, false}, {"tojson", f_tojson, false},
    /* buildrunner's */
    {"hash_sha1", brr__template_tbr_hash_sha1, true}, {"base64encode", brr__template_tbr_b64encode, true},
    {"base64decode", brr__template_tbr_b64decode, true}, {"re_sub", brr__template_tre_sub, true}, {"re_split", brr__template_tre_split, true},
};

tbuiltin brr__template_tfilter_find(const char *name, bool buildrunner) {
  for (size_t i = 0; i < BRR_ARRAY_LEN(filters); i++)
    if (!strcmp(filters[i].name, name) && (buildrunner || !filters[i].buildrunner)) return filters[i].fn;
  return NULL;
}
