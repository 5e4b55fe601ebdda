/* Python's str methods ('x'.replace(...), CONFIG_FILE.startswith(CONFIG_DIR), ...), with
 * positions counted in code points as Python counts them. */
#include <string.h>

#include "internal.h"

#define SELF(a) ((a)->self->self)

/* code point index -> byte offset, clamped like Python's slice indices */
static size_t cp_clamp(const tv *s, tv idx, bool is_end, size_t len_cp, tctx *c, const tnode *at) {
  if (idx.t == TV_MISSING || idx.t == TV_NONE) return is_end ? len_cp : 0;
  int64_t i = brr__template_targ_int(c, at, idx, "slice index");
  if (i < 0) {
    i += (int64_t)len_cp;
    if (i < 0) i = 0;
  }
  if ((size_t)i > len_cp) i = (int64_t)len_cp;
  (void)s;
  return (size_t)i;
}

static size_t cp_count(const char *p, size_t n) { return brr__template_u8_len(p, n); }

/* [start, end) of the optional start/end arguments, as byte offsets */
static void range_args(tctx *c, const tnode *at, tv s, tv start, tv end, size_t *bs, size_t *be) {
  size_t len = cp_count(s.u.str, s.slen);
  size_t a = cp_clamp(&s, start, false, len, c, at), b = cp_clamp(&s, end, true, len, c, at);
  *bs = brr__template_u8_offset(s.u.str, s.slen, a);
  *be = b < a ? *bs : brr__template_u8_offset(s.u.str, s.slen, b);
}

static tv m_upper(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "upper", NULL, 0, NULL);
  return brr__template_u_upper(c, SELF(a));
}
static tv m_lower(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "lower", NULL, 0, NULL);
  return brr__template_u_lower(c, SELF(a));
}
static tv m_title(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "title", NULL, 0, NULL);
  return brr__template_u_pytitle(c, SELF(a));
}
static tv m_capitalize(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "capitalize", NULL, 0, NULL);
  return brr__template_u_capitalize(c, SELF(a));
}
static tv m_swapcase(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "swapcase", NULL, 0, NULL);
  return brr__template_u_swapcase(c, SELF(a));
}

/* strip family: chars None -> whitespace */
tv brr__template_tstr_strip(tctx *c, const tnode *at, tv s, tv chars, bool left, bool right) {
  size_t st = 0, en = s.slen;
  if (chars.t == TV_MISSING || chars.t == TV_NONE) {
    brr__template_u_strip(s.u.str, s.slen, left, right, &st, &en);
  } else {
    size_t cn;
    const char *set = brr__template_targ_str(c, at, chars, "strip arg", &cn);
    while (left && st < en) {
      uint32_t cp;
      size_t l = brr__template_u8_decode(s.u.str, s.slen, st, &cp);
      char enc[4];
      size_t el = brr__template_u8_encode(cp, enc);
      if (!memmem(set, cn, enc, el)) break;
      st += l;
    }
    while (right && en > st) {
      size_t p = en - 1;
      while (p > st && ((unsigned char)s.u.str[p] & 0xC0) == 0x80) p--;
      uint32_t cp;
      brr__template_u8_decode(s.u.str, s.slen, p, &cp);
      char enc[4];
      size_t el = brr__template_u8_encode(cp, enc);
      if (!memmem(set, cn, enc, el)) break;
      en = p;
    }
  }
  if (st == 0 && en == s.slen) return s;
  return brr__template_tv_str(c, s.u.str + st, en - st);
}

static tv do_strip(tctx *c, tcall *a, const char *name, bool left, bool right) {
  tv args[1];
  TARGS(c, a, name, args, "?chars");
  return brr__template_tstr_strip(c, a->at, SELF(a), args[0], left, right);
}
static tv m_strip(tctx *c, tcall *a) { return do_strip(c, a, "strip", true, true); }
static tv m_lstrip(tctx *c, tcall *a) { return do_strip(c, a, "lstrip", true, false); }
static tv m_rstrip(tctx *c, tcall *a) { return do_strip(c, a, "rstrip", false, true); }

tv brr__template_tstr_replace(tctx *c, const tnode *at, tv s, tv old, tv new_, int64_t count) {
  tbuf b = {0};
  const char *p = s.u.str;
  size_t n = s.slen, on = old.slen;
  if (on == 0) { /* an empty pattern matches between every character */
    size_t i = 0;
    int64_t done = 0;
    while (true) {
      if (count < 0 || done < count) {
        brr__template_tbuf_add(c, &b, new_.u.str, new_.slen);
        done++;
      }
      if (i >= n) break;
      uint32_t cp;
      size_t l = brr__template_u8_decode(p, n, i, &cp);
      brr__template_tbuf_add(c, &b, p + i, l);
      i += l;
    }
    return brr__template_tbuf_str(c, &b);
  }
  size_t i = 0;
  int64_t done = 0;
  while (i < n && (count < 0 || done < count)) {
    const char *hit = memmem(p + i, n - i, old.u.str, on);
    if (!hit) break;
    size_t k = (size_t)(hit - p);
    brr__template_tbuf_add(c, &b, p + i, k - i);
    brr__template_tbuf_add(c, &b, new_.u.str, new_.slen);
    i = k + on;
    done++;
  }
  brr__template_tbuf_add(c, &b, p + i, n - i);
  (void)at;
  return brr__template_tbuf_str(c, &b);
}

static tv m_replace(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "replace", args, "old", "new", "?count");
  size_t n;
  brr__template_targ_str(c, a->at, args[0], "replace() argument 1", &n);
  brr__template_targ_str(c, a->at, args[1], "replace() argument 2", &n);
  int64_t count = args[2].t == TV_MISSING ? -1 : brr__template_targ_int(c, a->at, args[2], "count");
  return brr__template_tstr_replace(c, a->at, SELF(a), args[0], args[1], count);
}

static bool affix_match(tctx *c, const tnode *at, tv s, tv affix, tv start, tv end, bool suffix, const char *name) {
  size_t bs, be;
  range_args(c, at, s, start, end, &bs, &be);
  if (affix.t == TV_TUPLE) {
    for (size_t i = 0; i < affix.u.l->n; i++)
      if (affix_match(c, at, s, affix.u.l->v[i], start, end, suffix, name)) return true;
    return false;
  }
  if (affix.t != TV_STR)
    brr__template_terr(c, at, "%s first arg must be str or a tuple of str, not %s", name, brr__template_tv_typename(affix));
  size_t n = affix.slen;
  if (be - bs < n) return false;
  return memcmp(s.u.str + (suffix ? be - n : bs), affix.u.str, n) == 0;
}

static tv m_startswith(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "startswith", args, "prefix", "?start", "?end");
  return tv_bool(affix_match(c, a->at, SELF(a), args[0], args[1], args[2], false, "startswith"));
}
static tv m_endswith(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "endswith", args, "suffix", "?start", "?end");
  return tv_bool(affix_match(c, a->at, SELF(a), args[0], args[1], args[2], true, "endswith"));
}

static tv m_removeprefix(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "removeprefix", args, "prefix");
  size_t n;
  const char *p = brr__template_targ_str(c, a->at, args[0], "removeprefix() argument", &n);
  tv s = SELF(a);
  if (s.slen >= n && !memcmp(s.u.str, p, n)) return brr__template_tv_str(c, s.u.str + n, s.slen - n);
  return s;
}
static tv m_removesuffix(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "removesuffix", args, "suffix");
  size_t n;
  const char *p = brr__template_targ_str(c, a->at, args[0], "removesuffix() argument", &n);
  tv s = SELF(a);
  if (n && s.slen >= n && !memcmp(s.u.str + s.slen - n, p, n)) return brr__template_tv_str(c, s.u.str, s.slen - n);
  return s;
}

/* find/rfind/index/rindex/count */
static int64_t find_sub(tctx *c, tcall *a, const char *name, bool reverse, tv *args) {
  tv s = SELF(a);
  size_t n, bs, be;
  const char *sub = brr__template_targ_str(c, a->at, args[0], name, &n);
  range_args(c, a->at, s, args[1], args[2], &bs, &be);
  size_t len_cp = cp_count(s.u.str, s.slen);
  size_t start_cp = cp_clamp(&s, args[1], false, len_cp, c, a->at);
  if (args[2].t != TV_MISSING && args[2].t != TV_NONE && cp_clamp(&s, args[2], true, len_cp, c, a->at) < start_cp)
    return -1;
  if (be - bs < n) return -1;
  if (!reverse) {
    const char *hit = n ? memmem(s.u.str + bs, be - bs, sub, n) : s.u.str + bs;
    return hit ? (int64_t)cp_count(s.u.str, (size_t)(hit - s.u.str)) : -1;
  }
  for (size_t i = be - n + 1; i-- > bs;)
    if (!memcmp(s.u.str + i, sub, n)) return (int64_t)cp_count(s.u.str, i);
  return -1;
}

static tv m_find(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "find", args, "sub", "?start", "?end");
  return tv_int(find_sub(c, a, "find", false, args));
}
static tv m_rfind(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "rfind", args, "sub", "?start", "?end");
  return tv_int(find_sub(c, a, "rfind", true, args));
}
static tv m_index(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "index", args, "sub", "?start", "?end");
  int64_t r = find_sub(c, a, "index", false, args);
  if (r < 0) brr__template_terr(c, a->at, "substring not found");
  return tv_int(r);
}
static tv m_rindex(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "rindex", args, "sub", "?start", "?end");
  int64_t r = find_sub(c, a, "rindex", true, args);
  if (r < 0) brr__template_terr(c, a->at, "substring not found");
  return tv_int(r);
}
static tv m_count(tctx *c, tcall *a) {
  tv args[3];
  TARGS(c, a, "count", args, "sub", "?start", "?end");
  tv s = SELF(a);
  size_t n, bs, be;
  const char *sub = brr__template_targ_str(c, a->at, args[0], "count", &n);
  range_args(c, a->at, s, args[1], args[2], &bs, &be);
  if (n == 0) return tv_int((int64_t)cp_count(s.u.str + bs, be - bs) + 1);
  int64_t k = 0;
  for (size_t i = bs; i + n <= be;) {
    const char *hit = memmem(s.u.str + i, be - i, sub, n);
    if (!hit) break;
    k++;
    i = (size_t)(hit - s.u.str) + n;
  }
  return tv_int(k);
}

/* the index just past the whitespace run ending at `end` (reading backwards), or past the
 * word ending there, in the UTF-8 text p */
static size_t back_over(const char *p, size_t n, size_t end, bool space) {
  while (end > 0) {
    size_t q = end - 1;
    while (q > 0 && ((unsigned char)p[q] & 0xC0) == 0x80) q--;
    uint32_t cp;
    brr__template_u8_decode(p, n, q, &cp);
    if (brr__template_u_isspace(cp) != space) break;
    end = q;
  }
  return end;
}

/* str.split()/rsplit() with no separator: runs of whitespace separate, ends are dropped */
static tv split_ws(tctx *c, tv s, int64_t maxsplit, bool right) {
  const char *p = s.u.str;
  size_t n = s.slen;
  tv parts = brr__template_tv_list(c, 0);
  int64_t splits = 0;
  if (!right) {
    for (size_t i = 0;;) {
      size_t st, en;
      brr__template_u_strip(p + i, n - i, true, false, &st, &en);
      i += st;
      if (i >= n) break;
      if (maxsplit >= 0 && splits >= maxsplit) {
        brr__template_tl_push(c, parts.u.l, brr__template_tv_str(c, p + i, n - i));
        break;
      }
      size_t j = i;
      while (j < n) {
        uint32_t cp;
        size_t l = brr__template_u8_decode(p, n, j, &cp);
        if (brr__template_u_isspace(cp)) break;
        j += l;
      }
      brr__template_tl_push(c, parts.u.l, brr__template_tv_str(c, p + i, j - i));
      splits++;
      i = j;
    }
    return parts;
  }
  for (size_t e = n;;) {
    e = back_over(p, n, e, true);
    if (e == 0) break;
    if (maxsplit >= 0 && splits >= maxsplit) {
      brr__template_tl_push(c, parts.u.l, brr__template_tv_str(c, p, e));
      break;
    }
    size_t j = back_over(p, n, e, false);
    brr__template_tl_push(c, parts.u.l, brr__template_tv_str(c, p + j, e - j));
    splits++;
    e = j;
  }
  tv out = brr__template_tv_list(c, parts.u.l->n);
  for (size_t i = parts.u.l->n; i-- > 0;) brr__template_tl_push(c, out.u.l, parts.u.l->v[i]);
  return out;
}

/* str.split(sep)/rsplit(sep) */
static tv split_sep(tctx *c, tv s, const char *sep, size_t sn, int64_t maxsplit, bool right) {
  const char *p = s.u.str;
  size_t n = s.slen;
  tv out = brr__template_tv_list(c, 0);
  int64_t splits = 0;
  if (!right) {
    size_t i = 0;
    while (maxsplit < 0 || splits < maxsplit) {
      const char *hit = memmem(p + i, n - i, sep, sn);
      if (!hit) break;
      size_t k = (size_t)(hit - p);
      brr__template_tl_push(c, out.u.l, brr__template_tv_str(c, p + i, k - i));
      i = k + sn;
      splits++;
    }
    brr__template_tl_push(c, out.u.l, brr__template_tv_str(c, p + i, n - i));
    return out;
  }
  tv parts = brr__template_tv_list(c, 0);
  size_t e = n;
  while (maxsplit < 0 || splits < maxsplit) {
    size_t k = (size_t)-1;
    for (size_t i = e >= sn ? e - sn + 1 : 0; i-- > 0;)
      if (!memcmp(p + i, sep, sn)) {
        k = i;
        break;
      }
    if (k == (size_t)-1) break;
    brr__template_tl_push(c, parts.u.l, brr__template_tv_str(c, p + k + sn, e - k - sn));
    e = k;
    splits++;
  }
  brr__template_tl_push(c, parts.u.l, brr__template_tv_str(c, p, e));
  for (size_t i = parts.u.l->n; i-- > 0;) brr__template_tl_push(c, out.u.l, parts.u.l->v[i]);
  return out;
}

static tv do_split(tctx *c, tcall *a, const char *name, bool right) {
  tv args[2];
  TARGS(c, a, name, args, "?sep", "?maxsplit");
  int64_t maxsplit = args[1].t == TV_MISSING ? -1 : brr__template_targ_int(c, a->at, args[1], "maxsplit");
  if (args[0].t == TV_MISSING || args[0].t == TV_NONE) return split_ws(c, SELF(a), maxsplit, right);
  size_t sn;
  const char *sep = brr__template_targ_str(c, a->at, args[0], name, &sn);
  if (sn == 0) brr__template_terr(c, a->at, "empty separator");
  return split_sep(c, SELF(a), sep, sn, maxsplit, right);
}

static tv m_split(tctx *c, tcall *a) { return do_split(c, a, "split", false); }
static tv m_rsplit(tctx *c, tcall *a) { return do_split(c, a, "rsplit", true); }

static bool is_linebreak(uint32_t cp) {
  return cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || (cp >= 0x1c && cp <= 0x1e) || cp == 0x85 ||
         cp == 0x2028 || cp == 0x2029;
}

static tv m_splitlines(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "splitlines", args, "?keepends");
  bool keep = args[0].t != TV_MISSING && brr__template_tv_truthy(c, a->at, args[0]);
  tv s = SELF(a), out = brr__template_tv_list(c, 0);
  size_t i = 0, st = 0, n = s.slen;
  while (i < n) {
    uint32_t cp;
    size_t l = brr__template_u8_decode(s.u.str, n, i, &cp);
    if (!is_linebreak(cp)) {
      i += l;
      continue;
    }
    size_t eol = i + l;
    if (cp == '\r' && eol < n && s.u.str[eol] == '\n') eol++;
    brr__template_tl_push(c, out.u.l, brr__template_tv_str(c, s.u.str + st, (keep ? eol : i) - st));
    i = st = eol;
  }
  if (st < n) brr__template_tl_push(c, out.u.l, brr__template_tv_str(c, s.u.str + st, n - st));
  return out;
}

static tv m_join(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "join", args, "iterable");
  size_t n;
  tv *items = brr__template_tv_iterate(c, a->at, args[0], &n);
  tv sep = SELF(a);
  tbuf b = {0};
  for (size_t i = 0; i < n; i++) {
    if (items[i].t != TV_STR) brr__template_terr(c, a->at, "sequence item %zu: expected str instance, %s found", i, brr__template_tv_typename(items[i]));
    if (i) brr__template_tbuf_add(c, &b, sep.u.str, sep.slen);
    brr__template_tbuf_add(c, &b, items[i].u.str, items[i].slen);
  }
  return brr__template_tbuf_str(c, &b);
}

/* center/ljust/rjust */
tv brr__template_tstr_pad(tctx *c, const tnode *at, tv s, int64_t width, tv fillv, int how) {
  const char *fill = " ";
  size_t fn = 1;
  if (fillv.t != TV_MISSING) {
    fill = brr__template_targ_str(c, at, fillv, "fillchar", &fn);
    if (brr__template_u8_len(fill, fn) != 1) brr__template_terr(c, at, "The fill character must be exactly one character long");
  }
  int64_t len = (int64_t)brr__template_u8_len(s.u.str, s.slen);
  if (width <= len) return s;
  brr__template_tstr_check_size(c, at, (uint64_t)(width - len) * fn + s.slen);
  int64_t pad = width - len, left = how == 0 ? pad / 2 + (pad & width & 1) : how == 1 ? 0 : pad;
  tbuf b = {0};
  for (int64_t i = 0; i < left; i++) brr__template_tbuf_add(c, &b, fill, fn);
  brr__template_tbuf_add(c, &b, s.u.str, s.slen);
  for (int64_t i = 0; i < pad - left; i++) brr__template_tbuf_add(c, &b, fill, fn);
  return brr__template_tbuf_str(c, &b);
}

static tv do_pad(tctx *c, tcall *a, const char *name, int how) {
  tv args[2];
  TARGS(c, a, name, args, "width", "?fillchar");
  return brr__template_tstr_pad(c, a->at, SELF(a), brr__template_targ_int(c, a->at, args[0], "width"), args[1], how);
}
static tv m_center(tctx *c, tcall *a) { return do_pad(c, a, "center", 0); }
static tv m_ljust(tctx *c, tcall *a) { return do_pad(c, a, "ljust", 1); }
static tv m_rjust(tctx *c, tcall *a) { return do_pad(c, a, "rjust", 2); }

static tv m_zfill(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "zfill", args, "width");
  int64_t width = brr__template_targ_int(c, a->at, args[0], "width");
  tv s = SELF(a);
  int64_t len = (int64_t)brr__template_u8_len(s.u.str, s.slen);
  if (width <= len) return s;
  brr__template_tstr_check_size(c, a->at, (uint64_t)width);
  tbuf b = {0};
  size_t start = 0;
  if (s.slen && (s.u.str[0] == '+' || s.u.str[0] == '-')) {
    brr__template_tbuf_addc(c, &b, s.u.str[0]);
    start = 1;
  }
  for (int64_t i = 0; i < width - len; i++) brr__template_tbuf_addc(c, &b, '0');
  brr__template_tbuf_add(c, &b, s.u.str + start, s.slen - start);
  return brr__template_tbuf_str(c, &b);
}

static tv do_partition(tctx *c, tcall *a, bool right) {
  tv args[1];
  TARGS(c, a, right ? "rpartition" : "partition", args, "sep");
  size_t sn;
  const char *sep = brr__template_targ_str(c, a->at, args[0], "partition", &sn);
  if (sn == 0) brr__template_terr(c, a->at, "empty separator");
  tv s = SELF(a), t = brr__template_tv_tuple(c, 3);
  const char *p = s.u.str;
  size_t n = s.slen, k = (size_t)-1;
  if (!right) {
    const char *hit = memmem(p, n, sep, sn);
    if (hit) k = (size_t)(hit - p);
  } else {
    for (size_t i = n >= sn ? n - sn + 1 : 0; i-- > 0;)
      if (!memcmp(p + i, sep, sn)) {
        k = i;
        break;
      }
  }
  tv empty = tv_str_nocopy("", 0);
  if (k == (size_t)-1) {
    t.u.l->v[0] = right ? empty : s;
    t.u.l->v[1] = empty;
    t.u.l->v[2] = right ? s : empty;
  } else {
    t.u.l->v[0] = brr__template_tv_str(c, p, k);
    t.u.l->v[1] = args[0];
    t.u.l->v[2] = brr__template_tv_str(c, p + k + sn, n - k - sn);
  }
  return t;
}
static tv m_partition(tctx *c, tcall *a) { return do_partition(c, a, false); }
static tv m_rpartition(tctx *c, tcall *a) { return do_partition(c, a, true); }

/* is* predicates: every code point satisfies `pred`, and the string is not empty */
static tv all_cp(tctx *c, tcall *a, const char *name, bool (*pred)(uint32_t)) {
  brr__template_targs_bind(c, a, name, NULL, 0, NULL);
  tv s = SELF(a);
  if (s.slen == 0) return BRR__TEMPLATE_TV_FALSE_V;
  for (size_t i = 0; i < s.slen;) {
    uint32_t cp;
    i += brr__template_u8_decode(s.u.str, s.slen, i, &cp);
    if (!pred(cp)) return BRR__TEMPLATE_TV_FALSE_V;
  }
  return BRR__TEMPLATE_TV_TRUE_V;
}
static bool is_ascii_cp(uint32_t cp) { return cp < 0x80; }
static tv m_isdigit(tctx *c, tcall *a) { return all_cp(c, a, "isdigit", brr__template_u_isdigit); }
static tv m_isdecimal(tctx *c, tcall *a) { return all_cp(c, a, "isdecimal", brr__template_u_isdigit); }
static tv m_isnumeric(tctx *c, tcall *a) { return all_cp(c, a, "isnumeric", brr__template_u_isdigit); }
static tv m_isalpha(tctx *c, tcall *a) { return all_cp(c, a, "isalpha", brr__template_u_isalpha); }
static tv m_isalnum(tctx *c, tcall *a) { return all_cp(c, a, "isalnum", brr__template_u_isalnum); }
static tv m_isspace(tctx *c, tcall *a) { return all_cp(c, a, "isspace", brr__template_u_isspace); }
static tv m_isascii(tctx *c, tcall *a) {
  if (SELF(a).slen == 0) return BRR__TEMPLATE_TV_TRUE_V;
  return all_cp(c, a, "isascii", is_ascii_cp);
}
static tv m_isprintable(tctx *c, tcall *a) {
  if (SELF(a).slen == 0) return BRR__TEMPLATE_TV_TRUE_V;
  return all_cp(c, a, "isprintable", brr__template_u_isprintable);
}

/* isupper/islower: at least one cased character, and none of the other case */
static tv case_check(tctx *c, tcall *a, bool upper) {
  brr__template_targs_bind(c, a, upper ? "isupper" : "islower", NULL, 0, NULL);
  tv s = SELF(a);
  bool cased = false;
  for (size_t i = 0; i < s.slen;) {
    uint32_t cp;
    i += brr__template_u8_decode(s.u.str, s.slen, i, &cp);
    if (upper ? brr__template_u_islower(cp) : brr__template_u_isupper(cp)) return BRR__TEMPLATE_TV_FALSE_V;
    if (brr__template_u_iscased(cp)) cased = true;
  }
  return tv_bool(cased);
}
static tv m_isupper(tctx *c, tcall *a) { return case_check(c, a, true); }
static tv m_islower(tctx *c, tcall *a) { return case_check(c, a, false); }

static tv m_istitle(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "istitle", NULL, 0, NULL);
  tv s = SELF(a);
  bool prev_cased = false, any = false;
  for (size_t i = 0; i < s.slen;) {
    uint32_t cp;
    i += brr__template_u8_decode(s.u.str, s.slen, i, &cp);
    if (brr__template_u_isupper(cp)) {
      if (prev_cased) return BRR__TEMPLATE_TV_FALSE_V;
      prev_cased = any = true;
    } else if (brr__template_u_islower(cp)) {
      if (!prev_cased) return BRR__TEMPLATE_TV_FALSE_V;
      prev_cased = any = true;
    } else {
      prev_cased = false;
    }
  }
  return tv_bool(any);
}

static tv m_isidentifier(tctx *c, tcall *a) {
  brr__template_targs_bind(c, a, "isidentifier", NULL, 0, NULL);
  tv s = SELF(a);
  if (!s.slen) return BRR__TEMPLATE_TV_FALSE_V;
  for (size_t i = 0, k = 0; i < s.slen; k++) {
    uint32_t cp;
    i += brr__template_u8_decode(s.u.str, s.slen, i, &cp);
    bool ok = cp == '_' || brr__template_u_isalpha(cp) || (k > 0 && brr__template_u_isdigit(cp));
    if (!ok) return BRR__TEMPLATE_TV_FALSE_V;
  }
  return BRR__TEMPLATE_TV_TRUE_V;
}

static tv m_format(tctx *c, tcall *a) { return brr__template_tpy_format(c, a->at, SELF(a), a); }

static tv m_format_map(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "format_map", args, "mapping");
  if (args[0].t != TV_DICT) brr__template_terr(c, a->at, "format_map() argument must be a mapping, not %s", brr__template_tv_typename(args[0]));
  tcall b = {.at = a->at, .self = a->self};
  tdent *e;
  b.kw = brr__template_talloc(c, (args[0].u.d->live + 1) * sizeof *b.kw);
  for (size_t i = 0; brr__template_td_next(args[0].u.d, &i, &e);)
    if (e->key.t == TV_STR) b.kw[b.nkw++] = (tkwarg){e->key.u.str, e->val};
  return brr__template_tpy_format(c, a->at, SELF(a), &b);
}

static tv m_unsupported(tctx *c, tcall *a) {
  brr__template_terr(c, a->at, "brr does not support str.%s()", a->self->name);
}

typedef struct mentry {
  const char *name;
  tbuiltin fn;
} mentry;

/* sorted by name, for a binary search */
static const mentry str_methods[] = {
    {"capitalize", m_capitalize}, {"casefold", m_lower},   {"center", m_center},
    {"count", m_count},           {"encode", m_unsupported}, {"endswith", m_endswith},
    {"expandtabs", m_unsupported}, {"find", m_find},       {"format", m_format},
    {"format_map", m_format_map}, {"index", m_index},      {"isalnum", m_isalnum},
    {"isalpha", m_isalpha},       {"isascii", m_isascii},  {"isdecimal", m_isdecimal},
    {"isdigit", m_isdigit},       {"isidentifier", m_isidentifier}, {"islower", m_islower},
    {"isnumeric", m_isnumeric},   {"isprintable", m_isprintable}, {"isspace", m_isspace},
    {"istitle", m_istitle},       {"isupper", m_isupper},  {"join", m_join},
    {"ljust", m_ljust},           {"lower", m_lower},      {"lstrip", m_lstrip},
    {"maketrans", m_unsupported}, {"partition", m_partition}, {"removeprefix", m_removeprefix},
    {"removesuffix", m_removesuffix}, {"replace", m_replace}, {"rfind", m_rfind},
    {"rindex", m_rindex},         {"rjust", m_rjust},      {"rpartition", m_rpartition},
    {"rsplit", m_rsplit},         {"rstrip", m_rstrip},    {"split", m_split},
    {"splitlines", m_splitlines}, {"startswith", m_startswith}, {"strip", m_strip},
    {"swapcase", m_swapcase},     {"title", m_title},      {"translate", m_unsupported},
    {"upper", m_upper},           {"zfill", m_zfill},
};

tbuiltin brr__template_tstr_method(const char *name, size_t n) {
  size_t lo = 0, hi = BRR_ARRAY_LEN(str_methods);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *m = str_methods[mid].name;
    int r = strncmp(m, name, n);
    if (r == 0 && m[n] != '\0') r = 1;
    if (r == 0) return str_methods[mid].fn;
    if (r < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}
