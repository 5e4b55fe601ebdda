/* Python string formatting: printf-style `str % args` (and the `format` filter) and
 * str.format() with the format-spec mini-language, for str, int, float and bool. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct fspec {
  char fill[5]; /* one UTF-8 character */
  char align;   /* '<', '>', '^', '=' or 0 */
  char sign;    /* '+', '-', ' ' or 0 */
  bool alt, zero;
  int64_t width, prec; /* -1: not given */
  char group;          /* ',' or '_' or 0 */
  char type;
} fspec;

static size_t cps(const char *s, size_t n) { return brr__template_u8_len(s, n); }

/* Python builds strings of any width; brr refuses absurd ones rather than exhaust memory */
#define MAX_WIDTH 100000

static int64_t digits_num(tctx *c, const tnode *at, const char *s, size_t n, size_t *i) {
  int64_t v = 0;
  while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
    v = v * 10 + (s[(*i)++] - '0');
    if (v > MAX_WIDTH) brr__template_terr(c, at, "width or precision too big (brr allows %d)", MAX_WIDTH);
  }
  return v;
}

static int64_t checked_width(tctx *c, const tnode *at, int64_t v) {
  if (v > MAX_WIDTH || v < -MAX_WIDTH) brr__template_terr(c, at, "width or precision too big (brr allows %d)", MAX_WIDTH);
  return v;
}
static void fmt_float(tctx *c, const tnode *at, tbuf *out, double v, const fspec *sp);

/* pad `body` (a sign/prefix of `prefix_len` bytes first) to the spec's width */
static void pad(tctx *c, tbuf *out, const fspec *sp, const char *body, size_t n, size_t prefix_len, char dflt_align) {
  size_t len = cps(body, n);
  char align = sp->align ? sp->align : dflt_align;
  int64_t padn = sp->width > (int64_t)len ? sp->width - (int64_t)len : 0;
  const char *fill = sp->fill[0] ? sp->fill : " ";
  int64_t left = align == '>' ? padn : align == '^' ? padn / 2 : 0;
  int64_t right = padn - left;
  if (align == '=') {
    brr__template_tbuf_add(c, out, body, prefix_len);
    for (int64_t i = 0; i < padn; i++) brr__template_tbuf_adds(c, out, fill);
    brr__template_tbuf_add(c, out, body + prefix_len, n - prefix_len);
    return;
  }
  for (int64_t i = 0; i < left; i++) brr__template_tbuf_adds(c, out, fill);
  brr__template_tbuf_add(c, out, body, n);
  if (align != '>')
    for (int64_t i = 0; i < right; i++) brr__template_tbuf_adds(c, out, fill);
}

/* insert a grouping separator every `every` digits of the integer part of digits[0..n) */
static void group_digits(tctx *c, tbuf *out, const char *d, size_t n, char sep, int every) {
  size_t intlen = 0;
  while (intlen < n && d[intlen] >= '0' && d[intlen] <= '9') intlen++;
  if (intlen == 0) { /* hex digits */
    while (intlen < n && strchr("0123456789abcdefABCDEF", d[intlen])) intlen++;
  }
  for (size_t i = 0; i < intlen; i++) {
    if (i && (intlen - i) % (size_t)every == 0) brr__template_tbuf_addc(c, out, sep);
    brr__template_tbuf_addc(c, out, d[i]);
  }
  brr__template_tbuf_add(c, out, d + intlen, n - intlen);
}

static void emit_number(tctx *c, tbuf *out, const fspec *sp, bool neg, const char *prefix, const char *digits,
                        size_t nd) {
  tbuf body = {0};
  char sign = neg ? '-' : sp->sign == '+' ? '+' : sp->sign == ' ' ? ' ' : 0;
  if (sign) brr__template_tbuf_addc(c, &body, sign);
  brr__template_tbuf_adds(c, &body, prefix);
  size_t prefix_len = body.n;
  if (sp->group) group_digits(c, &body, digits, nd, sp->group, strchr("bBoxX", sp->type) && sp->type ? 4 : 3);
  else brr__template_tbuf_add(c, &body, digits, nd);
  fspec s2 = *sp;
  if (sp->zero && !sp->align) {
    s2.align = '=';
    strcpy(s2.fill, "0");
  }
  pad(c, out, &s2, body.p, body.n, prefix_len, '>');
}

static void fmt_int(tctx *c, const tnode *at, tbuf *out, int64_t v, const fspec *sp) {
  char type = sp->type ? sp->type : 'd';
  if (strchr("eEfFgG%", type)) {
    fspec f = *sp;
    f.type = type;
    fmt_float(c, at, out, (double)v, &f);
    return;
  }
  if (sp->prec >= 0) brr__template_terr(c, at, "Precision not allowed in integer format specifier");
  if (type == 'c') {
    char enc[4];
    if (v < 0 || v > 0x10FFFF) brr__template_terr(c, at, "%%c arg not in range(0x110000)");
    size_t l = brr__template_u8_encode((uint32_t)v, enc);
    pad(c, out, sp, enc, l, 0, '<');
    return;
  }
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  char digits[80];
  size_t nd = 0;
  int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
  if (base == 10 && type != 'd' && type != 'n') brr__template_terr(c, at, "Unknown format code '%c' for object of type 'int'", type);
  const char *hex = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits[nd++] = hex[u % (unsigned)base];
    u /= (unsigned)base;
  } while (u);
  for (size_t i = 0; i < nd / 2; i++) {
    char t = digits[i];
    digits[i] = digits[nd - 1 - i];
    digits[nd - 1 - i] = t;
  }
  const char *prefix = "";
  if (sp->alt) prefix = base == 2 ? "0b" : base == 8 ? "0o" : base == 16 ? (type == 'X' ? "0X" : "0x") : "";
  emit_number(c, out, sp, v < 0, prefix, digits, nd);
}

/* strip the trailing zeros of the fraction in buf (and the point when nothing is left) */
static void strip_zeros(char *buf, bool keep_one) {
  char *e = strpbrk(buf, "eE");
  char exp[32] = "";
  if (e) {
    snprintf(exp, sizeof exp, "%s", e);
    *e = '\0';
  }
  char *dot = strchr(buf, '.');
  if (dot) {
    size_t n = strlen(buf);
    while (n > (size_t)(dot - buf) + 1 && buf[n - 1] == '0') buf[--n] = '\0';
    if (buf[n - 1] == '.') {
      if (keep_one && !e) strcat(buf, "0");
      else buf[n - 1] = '\0';
    }
  }
  strcat(buf, exp);
}

static void fmt_float(tctx *c, const tnode *at, tbuf *out, double v, const fspec *sp) {
  char type = sp->type;
  int64_t prec = sp->prec;
  if (type == 'n') type = 'g';
  if (type && !strchr("eEfFgG%", type)) brr__template_terr(c, at, "Unknown format code '%c' for object of type 'float'", type);
  if (prec > 500) brr__template_terr(c, at, "precision too big");
  bool neg = signbit(v) && !isnan(v);
  double a = fabs(v);
  char buf[700];
  if (!type && prec < 0) {
    brr__template_tv_pyfloat(a, buf, sizeof buf); /* no type, no precision: repr */
  } else if (isinf(a) || isnan(a)) {
    bool upper = type == 'E' || type == 'F' || type == 'G';
    snprintf(buf, sizeof buf, "%s", isnan(a) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf"));
    if (type == '%') strcat(buf, "%");
  } else if (!type) {
    /* like 'g', but scientific from exp >= p - 1 and always a digit after the point */
    int p = prec == 0 ? 1 : (int)prec;
    snprintf(buf, sizeof buf, "%.*e", p - 1, a);
    int exp = atoi(strchr(buf, 'e') + 1);
    if (exp < -4 || exp >= p - 1) {
      if (!sp->alt) strip_zeros(buf, false);
    } else {
      snprintf(buf, sizeof buf, "%.*f", p - 1 - exp, a);
      if (!sp->alt) strip_zeros(buf, true);
    }
  } else {
    if (prec < 0) prec = 6;
    if ((type == 'g' || type == 'G') && prec == 0) prec = 1;
    int p = (int)prec;
    switch (type) {
    case '%': snprintf(buf, sizeof buf, sp->alt ? "%#.*f%%" : "%.*f%%", p, a * 100); break;
    case 'e': snprintf(buf, sizeof buf, sp->alt ? "%#.*e" : "%.*e", p, a); break;
    case 'E': snprintf(buf, sizeof buf, sp->alt ? "%#.*E" : "%.*E", p, a); break;
    case 'f': snprintf(buf, sizeof buf, sp->alt ? "%#.*f" : "%.*f", p, a); break;
    case 'F': snprintf(buf, sizeof buf, sp->alt ? "%#.*F" : "%.*F", p, a); break;
    case 'g': snprintf(buf, sizeof buf, sp->alt ? "%#.*g" : "%.*g", p, a); break;
    default: snprintf(buf, sizeof buf, sp->alt ? "%#.*G" : "%.*G", p, a); break;
    }
  }
  emit_number(c, out, sp, neg, "", buf, strlen(buf));
}

static void fmt_str(tctx *c, const tnode *at, tbuf *out, tv s, const fspec *sp) {
  if (sp->type && sp->type != 's') brr__template_terr(c, at, "Unknown format code '%c' for object of type 'str'", sp->type);
  if (sp->sign) brr__template_terr(c, at, "Sign not allowed in string format specifier");
  if (sp->align == '=') brr__template_terr(c, at, "'=' alignment not allowed in string format specifier");
  size_t n = s.slen;
  if (sp->prec >= 0) n = brr__template_u8_offset(s.u.str, s.slen, (size_t)sp->prec);
  pad(c, out, sp, s.u.str, n, 0, '<');
}

/* the mini-language: [[fill]align][sign][z][#][0][width][,|_][.precision][type] */
static void parse_spec(tctx *c, const tnode *at, const char *s, size_t n, fspec *sp) {
  memset(sp, 0, sizeof *sp);
  sp->width = sp->prec = -1;
  size_t i = 0;
  uint32_t cp;
  size_t l = n ? brr__template_u8_decode(s, n, 0, &cp) : 0;
  if (n > l && strchr("<>=^", s[l])) {
    memcpy(sp->fill, s, l);
    sp->align = s[l];
    i = l + 1;
  } else if (n && strchr("<>=^", s[0])) {
    sp->align = s[0];
    i = 1;
  }
  if (i < n && strchr("+- ", s[i])) sp->sign = s[i++];
  if (i < n && s[i] == 'z') i++;
  if (i < n && s[i] == '#') {
    sp->alt = true;
    i++;
  }
  if (i < n && s[i] == '0') {
    sp->zero = true;
    i++;
  }
  if (i < n && s[i] >= '0' && s[i] <= '9') {
    sp->width = 0;
    sp->width = digits_num(c, at, s, n, &i);
  }
  if (i < n && (s[i] == ',' || s[i] == '_')) sp->group = s[i++];
  if (i < n && s[i] == '.') {
    i++;
    if (i >= n || s[i] < '0' || s[i] > '9') brr__template_terr(c, at, "Format specifier missing precision");
    sp->prec = 0;
    sp->prec = digits_num(c, at, s, n, &i);
  }
  if (i < n) sp->type = s[i++];
  if (i < n) brr__template_terr(c, at, "Invalid format specifier");
}

/* format(value, spec) */
static void format_value(tctx *c, const tnode *at, tbuf *out, tv v, const char *spec, size_t n) {
  fspec sp;
  if (n == 0 && v.t != TV_FLOAT) {
    brr__template_tv_str_to(c, out, v);
    return;
  }
  parse_spec(c, at, spec, n, &sp);
  switch (v.t) {
  case TV_STR: fmt_str(c, at, out, v, &sp); return;
  case TV_BOOL:
  case TV_INT: fmt_int(c, at, out, v.t == TV_BOOL ? v.u.b : v.u.i, &sp); return;
  case TV_FLOAT: fmt_float(c, at, out, v.u.f, &sp); return;
  case TV_MISSING:
  case TV_UNDEF: fmt_str(c, at, out, tv_str_nocopy("", 0), &sp); return;
  default: brr__template_terr(c, at, "unsupported format string passed to %s.__format__", brr__template_tv_typename(v));
  }
}

/* ---- str.format ---- */

static tv field_value(tctx *c, const tnode *at, tcall *a, const char *f, size_t n, size_t *auto_idx, int *mode) {
  size_t i = 0;
  while (i < n && f[i] != '.' && f[i] != '[') i++;
  tv v;
  if (i == 0) {
    if (*mode == 2) brr__template_terr(c, at, "cannot switch from manual field specification to automatic field numbering");
    *mode = 1;
    size_t k = (*auto_idx)++;
    if (k >= a->npos) brr__template_terr(c, at, "Replacement index %zu out of range for positional args tuple", k);
    v = a->pos[k];
  } else {
    bool digits = true;
    for (size_t k = 0; k < i; k++) digits = digits && f[k] >= '0' && f[k] <= '9';
    if (digits) {
      if (*mode == 1) brr__template_terr(c, at, "cannot switch from automatic field numbering to manual field specification");
      *mode = 2;
      size_t k = (size_t)strtoull(f, NULL, 10);
      if (k >= a->npos) brr__template_terr(c, at, "Replacement index %zu out of range for positional args tuple", k);
      v = a->pos[k];
    } else {
      size_t k;
      for (k = 0; k < a->nkw; k++)
        if (strlen(a->kw[k].name) == i && !memcmp(a->kw[k].name, f, i)) break;
      if (k == a->nkw) brr__template_terr(c, at, "KeyError: '%.*s'", (int)i, f);
      v = a->kw[k].v;
    }
  }
  while (i < n) {
    if (f[i] == '.') {
      size_t j = ++i;
      while (j < n && f[j] != '.' && f[j] != '[') j++;
      tv out;
      if (v.t == TV_NS) {
        tv *x = brr__template_td_gets(v.u.d, f + i, j - i);
        if (!x) brr__template_terr(c, at, "'Namespace' object has no attribute '%.*s'", (int)(j - i), f + i);
        v = *x;
      } else if (brr__template_tmethod_get(c, at, v, brr__template_tstrndup(c, f + i, j - i), j - i, &out)) v = out;
      else brr__template_terr(c, at, "'%s' object has no attribute '%.*s'", brr__template_tv_typename(v), (int)(j - i), f + i);
      i = j;
    } else {
      const char *close = memchr(f + i, ']', n - i);
      if (!close) brr__template_terr(c, at, "Missing ']' in format string");
      size_t kl = (size_t)(close - f) - i - 1;
      const char *ks = f + i + 1;
      bool digits = kl > 0;
      for (size_t k = 0; k < kl; k++) digits = digits && ks[k] >= '0' && ks[k] <= '9';
      tv key = digits ? tv_int((int64_t)strtoll(ks, NULL, 10)) : brr__template_tv_str(c, ks, kl);
      tv r = brr__template_top_getitem(c, at, v, key);
      if (r.t == TV_UNDEF) brr__template_terr(c, at, "KeyError: '%.*s'", (int)kl, ks);
      v = r;
      i = (size_t)(close - f) + 1;
    }
  }
  return v;
}

tv brr__template_tpy_format(tctx *c, const tnode *at, tv fmt, tcall *a) {
  const char *s = fmt.u.str;
  size_t n = fmt.slen, auto_idx = 0;
  int mode = 0;
  tbuf out = {0};
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '}') {
      if (i + 1 < n && s[i + 1] == '}') {
        brr__template_tbuf_addc(c, &out, '}');
        i++;
        continue;
      }
      brr__template_terr(c, at, "Single '}' encountered in format string");
    }
    if (ch != '{') {
      brr__template_tbuf_addc(c, &out, ch);
      continue;
    }
    if (i + 1 < n && s[i + 1] == '{') {
      brr__template_tbuf_addc(c, &out, '{');
      i++;
      continue;
    }
    /* find the matching }, allowing one level of nested {} in the spec */
    size_t j = i + 1;
    int depth = 1;
    while (j < n && depth) {
      if (s[j] == '{') depth++;
      else if (s[j] == '}') depth--;
      if (depth) j++;
    }
    if (j >= n) brr__template_terr(c, at, depth ? "expected '}' before end of string" : "Single '{' encountered in format string");
    const char *field = s + i + 1;
    size_t flen = j - i - 1;
    size_t fe = 0;
    while (fe < flen && field[fe] != '!' && field[fe] != ':') fe++;
    tv v = field_value(c, at, a, field, fe, &auto_idx, &mode);
    char conv = 0;
    size_t k = fe;
    if (k < flen && field[k] == '!') {
      if (k + 1 >= flen) brr__template_terr(c, at, "end of string while looking for conversion specifier");
      conv = field[k + 1];
      k += 2;
      if (k < flen && field[k] != ':') brr__template_terr(c, at, "expected ':' after conversion specifier");
    }
    tbuf spec = {0};
    if (k < flen && field[k] == ':') { /* nested fields in the spec are formatted first */
      tcall sub = *a;
      tv nested = brr__template_tv_str(c, field + k + 1, flen - k - 1);
      (void)sub;
      if (memchr(nested.u.str, '{', nested.slen)) {
        for (size_t q = 0; q < nested.slen; q++) {
          if (nested.u.str[q] == '{') {
            const char *cl = memchr(nested.u.str + q, '}', nested.slen - q);
            if (!cl) brr__template_terr(c, at, "unmatched '{' in format spec");
            size_t inner = (size_t)(cl - nested.u.str) - q - 1;
            brr__template_tv_str_to(c, &spec, field_value(c, at, a, nested.u.str + q + 1, inner, &auto_idx, &mode));
            q = (size_t)(cl - nested.u.str);
          } else brr__template_tbuf_addc(c, &spec, nested.u.str[q]);
        }
      } else brr__template_tbuf_add(c, &spec, nested.u.str, nested.slen);
    }
    if (conv == 'r' || conv == 'a') {
      tbuf r = {0};
      brr__template_tv_repr_to(c, &r, v);
      v = brr__template_tbuf_str(c, &r);
    } else if (conv == 's') v = brr__template_tv_to_str(c, v);
    else if (conv) brr__template_terr(c, at, "Unknown conversion specifier %c", conv);
    format_value(c, at, &out, v, spec.p ? spec.p : "", spec.n);
    i = j;
  }
  return brr__template_tbuf_str(c, &out);
}

/* ---- printf-style ---- */

static tv next_arg(tctx *c, const tnode *at, const tv *args, size_t nargs, size_t *k) {
  if (*k >= nargs) brr__template_terr(c, at, "not enough arguments for format string");
  return args[(*k)++];
}

typedef struct pargs { /* the right-hand side of `%` */
  tv argv;
  const tv *v;
  size_t n, k;
  bool mapping;
} pargs;

/* [(key)] [flags] [width] [.precision] [length]: the part between % and the conversion */
static tv percent_spec(tctx *c, const tnode *at, const char *s, size_t n, size_t *ip, pargs *pa, fspec *sp) {
  size_t i = *ip;
  tv v = BRR__TEMPLATE_TV_MISSING_V;
  if (s[i] == '(') {
    if (!pa->mapping) brr__template_terr(c, at, "format requires a mapping");
    size_t depth = 1, j = i + 1;
    while (j < n && depth) {
      if (s[j] == '(') depth++;
      else if (s[j] == ')') depth--;
      j++;
    }
    if (depth) brr__template_terr(c, at, "incomplete format key");
    tv *x = brr__template_td_get(c, at, pa->argv.u.d, brr__template_tv_str(c, s + i + 1, j - i - 2));
    if (!x) brr__template_terr(c, at, "KeyError: '%.*s'", (int)(j - i - 2), s + i + 1);
    v = *x;
    i = j;
  }
  memset(sp, 0, sizeof *sp);
  sp->width = sp->prec = -1;
  bool left = false;
  for (; i < n && (s[i] == '-' || s[i] == '+' || s[i] == ' ' || s[i] == '#' || s[i] == '0'); i++) {
    if (s[i] == '-') left = true;
    else if (s[i] == '+') sp->sign = '+';
    else if (s[i] == ' ' && sp->sign != '+') sp->sign = ' ';
    else if (s[i] == '#') sp->alt = true;
    else sp->zero = true;
  }
  if (i < n && s[i] == '*') {
    sp->width = checked_width(c, at, brr__template_targ_int(c, at, next_arg(c, at, pa->v, pa->n, &pa->k), "* wants int"));
    if (sp->width < 0) {
      left = true;
      sp->width = -sp->width;
    }
    i++;
  } else if (i < n && s[i] >= '0' && s[i] <= '9') {
    sp->width = digits_num(c, at, s, n, &i);
  }
  if (i < n && s[i] == '.') {
    i++;
    if (i < n && s[i] == '*') {
      sp->prec = checked_width(c, at, brr__template_targ_int(c, at, next_arg(c, at, pa->v, pa->n, &pa->k), "* wants int"));
      i++;
    } else {
      sp->prec = digits_num(c, at, s, n, &i);
    }
  }
  while (i < n && (s[i] == 'h' || s[i] == 'l' || s[i] == 'L')) i++;
  if (i >= n) brr__template_terr(c, at, "incomplete format");
  if (left) {
    sp->align = '<';
    sp->zero = false;
  }
  *ip = i;
  return v;
}

/* %d %i %u %o %x %X */
static void percent_int(tctx *c, const tnode *at, tbuf *out, char conv, tv v, fspec sp, bool left) {
  /* the common %d / %05d of an int, without the general machinery */
  if ((v.t == TV_INT || v.t == TV_BOOL) && (conv == 'd' || conv == 'i' || conv == 'u') && !sp.sign && !sp.alt &&
      !left && sp.prec < 0 && sp.width < 40) {
    int64_t iv = v.t == TV_BOOL ? v.u.b : v.u.i;
    char num[64], *e = num + sizeof num, *q = e;
    uint64_t u = iv < 0 ? 0 - (uint64_t)iv : (uint64_t)iv;
    do *--q = (char)('0' + u % 10);
    while (u /= 10);
    int64_t digits = e - q, width = sp.width < 0 ? 0 : sp.width, padn = width - digits - (iv < 0);
    if (sp.zero) {
      while (padn-- > 0) *--q = '0';
      if (iv < 0) *--q = '-';
    } else {
      if (iv < 0) *--q = '-';
      while (padn-- > 0) *--q = ' ';
    }
    brr__template_tbuf_add(c, out, q, (size_t)(e - q));
    return;
  }
  int64_t iv;
  if (v.t == TV_INT || v.t == TV_BOOL) iv = v.t == TV_BOOL ? v.u.b : v.u.i;
  else if (v.t == TV_FLOAT && strchr("diu", conv)) {
    if (!isfinite(v.u.f)) brr__template_terr(c, at, "cannot convert float %s to integer", isnan(v.u.f) ? "NaN" : "infinity");
    if (fabs(v.u.f) >= 9.2e18) brr__template_terr(c, at, "integer overflow (brr integers are 64-bit)");
    iv = (int64_t)v.u.f;
  } else if (tv_is_undef(v)) brr__template_terr_undef(c, at, v);
  else if (strchr("diu", conv)) brr__template_terr(c, at, "%%%c format: a real number is required, not %s", conv, brr__template_tv_typename(v));
  else brr__template_terr(c, at, "%%%c format: an integer is required, not %s", conv, brr__template_tv_typename(v));
  sp.type = conv == 'i' || conv == 'u' ? 'd' : conv;
  int64_t prec = sp.prec;
  sp.prec = -1;
  if (prec > 0) { /* precision pads the digits with zeros */
    tbuf digits = {0};
    fspec plain = {.width = -1, .prec = -1, .type = sp.type, .alt = sp.alt};
    fmt_int(c, at, &digits, iv < 0 ? -iv : iv, &plain);
    size_t skip = sp.alt && sp.type != 'd' ? 2 : 0;
    tbuf z = {0};
    for (int64_t q = (int64_t)(digits.n - skip); q < prec; q++) brr__template_tbuf_addc(c, &z, '0');
    brr__template_tbuf_add(c, &z, digits.p + skip, digits.n - skip);
    const char *pre = skip ? (sp.type == 'o' ? "0o" : sp.type == 'X' ? "0X" : "0x") : "";
    fspec s2 = sp;
    emit_number(c, out, &s2, iv < 0, pre, z.p, z.n);
  } else {
    fmt_int(c, at, out, iv, &sp);
  }
}

/* one conversion of value v */
static void percent_convert(tctx *c, const tnode *at, tbuf *out, char conv, tv v, fspec sp, bool left, size_t i) {
  switch (conv) {
  case 's':
  case 'r':
  case 'a': {
    if (conv == 's' && v.t == TV_STR && sp.width < 0 && sp.prec < 0) {
      brr__template_tbuf_add(c, out, v.u.str, v.slen);
      return;
    }
    tbuf t = {0};
    if (conv == 's') brr__template_tv_str_to(c, &t, v);
    else brr__template_tv_repr_to(c, &t, v);
    tv str = brr__template_tbuf_str(c, &t);
    sp.type = 0;
    sp.zero = false;
    if (!sp.align) sp.align = '>';
    sp.sign = 0;
    fmt_str(c, at, out, str, &sp);
    return;
  }
  case 'd':
  case 'i':
  case 'u':
  case 'o':
  case 'x':
  case 'X': percent_int(c, at, out, conv, v, sp, left); return;
  case 'e':
  case 'E':
  case 'f':
  case 'F':
  case 'g':
  case 'G': {
    double f;
    if (v.t == TV_FLOAT) f = v.u.f;
    else if (v.t == TV_INT || v.t == TV_BOOL) f = (double)(v.t == TV_BOOL ? v.u.b : v.u.i);
    else if (tv_is_undef(v)) brr__template_terr_undef(c, at, v);
    else brr__template_terr(c, at, "must be real number, not %s", brr__template_tv_typename(v));
    sp.type = conv;
    fmt_float(c, at, out, f, &sp);
    return;
  }
  case 'c': {
    if (v.t == TV_STR) {
      if (brr__template_u8_len(v.u.str, v.slen) != 1) brr__template_terr(c, at, "%%c requires int or char");
      sp.type = 0;
      fmt_str(c, at, out, v, &sp);
    } else {
      sp.type = 'c';
      fmt_int(c, at, out, brr__template_targ_int(c, at, v, "%c requires int or char"), &sp);
    }
    return;
  }
  default: brr__template_terr(c, at, "unsupported format character '%c' (0x%x) at index %zu", conv, (unsigned char)conv, i);
  }
}

tv brr__template_tpy_percent(tctx *c, const tnode *at, tv fmt, tv argv) {
  pargs pa = {.argv = argv, .v = &argv, .n = 1, .mapping = argv.t == TV_DICT};
  if (argv.t == TV_TUPLE) {
    pa.v = argv.u.l->v;
    pa.n = argv.u.l->n;
  }
  const char *s = fmt.u.str;
  size_t n = fmt.slen;
  tbuf out = {0};
  for (size_t i = 0; i < n; i++) {
    const char *pct = memchr(s + i, '%', n - i);
    size_t lit = pct ? (size_t)(pct - s) : n;
    brr__template_tbuf_add(c, &out, s + i, lit - i);
    if (!pct) break;
    i = lit + 1;
    if (i >= n) brr__template_terr(c, at, "incomplete format");
    fspec sp;
    tv v = percent_spec(c, at, s, n, &i, &pa, &sp);
    char conv = s[i];
    if (conv == '%') {
      brr__template_tbuf_addc(c, &out, '%');
      continue;
    }
    if (v.t == TV_MISSING) v = pa.mapping ? argv : next_arg(c, at, pa.v, pa.n, &pa.k);
    percent_convert(c, at, &out, conv, v, sp, sp.align == '<', i);
  }
  /* Python skips this check when the argument supports item access (lists, dicts, ...) */
  bool subscriptable = argv.t == TV_LIST || argv.t == TV_DICT || argv.t == TV_RANGE;
  if (!subscriptable && pa.k < pa.n) brr__template_terr(c, at, "not all arguments converted during string formatting");
  return brr__template_tbuf_str(c, &out);
}
