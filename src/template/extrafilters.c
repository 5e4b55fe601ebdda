/* The wordwrap and random filters. wordwrap: Jinja2's do_wordwrap, which wraps each line of the text with Python's
 * textwrap.wrap(width, break_long_words, break_on_hyphens, expand_tabs=False,
 * replace_whitespace=False) and joins the result with `wrapstring`. textwrap's chunking
 * regular expression (TextWrapper.wordsep_re, Python 3.11) runs on PCRE2 with Unicode
 * classes, as Python's runs with re.UNICODE. Lengths are in code points, as Python's. */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "internal.h"

/* textwrap's whitespace is ASCII only: "\t\n\x0b\x0c\r " */
#define WS "[\\t\\n\\x0b\\x0c\\r ]"
#define NWS "[^\\t\\n\\x0b\\x0c\\r ]"
#define LT "[^\\d\\W]"
#define WP "[\\w!\"'&.,?]"
static const char WORDSEP[] = "(" WS "+"
                              "|(?<=" WP ")-{2,}(?=\\w)"
                              "|" NWS "+?(?:-(?:(?<=" LT "{2}-)|(?<=" LT "-" LT "-))(?=" LT "-?" LT ")"
                              "|(?=" WS "|\\z)"
                              "|(?<=" WP ")(?=-{2,}\\w)))";

typedef struct chunk {
  const char *p;
  size_t n;   /* bytes */
  size_t len; /* code points */
} chunk;

typedef struct chunks {
  chunk *v;
  size_t n, cap;
} chunks;

static void chunk_add(tctx *c, chunks *l, const char *p, size_t n) {
  if (!n) return; /* textwrap drops empty chunks */
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    l->v = brr__template_tgrow(c, l->v, l->cap * sizeof *l->v, nc * sizeof *l->v);
    l->cap = nc;
  }
  l->v[l->n++] = (chunk){p, n, brr__template_u8_len(p, n)};
}

static bool is_ws(char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }

/* TextWrapper._split: re.split of the line by the chunk pattern (or by whitespace runs) */
static void split_chunks(tctx *c, const char *s, size_t n, pcre2_code *re, pcre2_match_data *md, chunks *out) {
  if (!re) {
    for (size_t i = 0; i < n;) {
      size_t j = i;
      bool ws = is_ws(s[i]);
      while (j < n && is_ws(s[j]) == ws) j++;
      chunk_add(c, out, s + i, j - i);
      i = j;
    }
    return;
  }
  size_t pos = 0, last = 0;
  while (pos <= n) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, 0, md, NULL);
    if (rc < 0) break;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    chunk_add(c, out, s + last, ov[0] - last);
    chunk_add(c, out, s + ov[2], ov[3] - ov[2]);
    last = ov[1];
    pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1; /* the pattern never matches empty; be safe */
  }
  chunk_add(c, out, s + last, n - last);
}

static bool blank(const chunk *k) {
  for (size_t i = 0; i < k->n; i++)
    if (!is_ws(k->p[i])) return false;
  return true; /* chunks are whitespace runs or words: str.strip() == '' */
}

/* TextWrapper._wrap_chunks (no indents, no max_lines, drop_whitespace) */
static void wrap_chunks(tctx *c, chunks *ck, size_t width, bool break_long, bool break_hyphens, tbuf *out,
                        tv wrapstring, bool *first_line) {
  /* chunks are taken from the front here (textwrap reverses the list and pops) */
  size_t i = 0;
  bool any = false;
  chunk *v = ck->v;
  while (i < ck->n) {
    size_t cur_len = 0, line_start, nline = 0;
    if (any && blank(&v[i])) i++;
    line_start = i;
    chunk *line = brr__template_talloc(c, (ck->n - i + 1) * sizeof *line);
    while (i < ck->n && cur_len + v[i].len <= width) {
      line[nline++] = v[i];
      cur_len += v[i].len;
      i++;
    }
    (void)line_start;
    if (i < ck->n && v[i].len > width) { /* _handle_long_word */
      size_t space_left = width < 1 ? 1 : width - cur_len;
      if (break_long) {
        chunk *k = &v[i];
        size_t end = space_left;
        if (break_hyphens && k->len > space_left) {
          /* break after the last hyphen before space_left, when non-hyphens come before it */
          size_t hy = 0, off = 0;
          bool found = false, nonhyphen = false, nonhyphen_before = false;
          for (size_t cp = 0; cp < space_left; cp++) {
            uint32_t u;
            size_t l = brr__template_u8_decode(k->p, k->n, off, &u);
            if (u == '-') {
              found = true;
              hy = cp;
              nonhyphen_before = nonhyphen;
            } else {
              nonhyphen = true;
            }
            off += l;
          }
          if (found && hy > 0 && nonhyphen_before) end = hy + 1;
        }
        size_t cut = brr__template_u8_offset(k->p, k->n, end);
        line[nline++] = (chunk){k->p, cut, end};
        k->p += cut;
        k->n -= cut;
        k->len -= end;
        if (!k->n) i++; /* an emptied chunk stays in textwrap's list but adds nothing */
      } else if (!nline) {
        line[nline++] = v[i++];
      }
    }
    if (nline && blank(&line[nline - 1])) nline--;
    if (nline) {
      if (!*first_line) brr__template_tbuf_add(c, out, wrapstring.u.str, wrapstring.slen);
      *first_line = false;
      for (size_t k = 0; k < nline; k++) brr__template_tbuf_add(c, out, line[k].p, line[k].n);
      any = true;
    }
  }
}

static void free_code(void *p) { pcre2_code_free(p); }
static void free_md(void *p) { pcre2_match_data_free(p); }

/* the length of the line break at s[i] (Python's str.splitlines), or 0 */
static size_t line_break(const char *s, size_t n, size_t i) {
  unsigned char ch = (unsigned char)s[i];
  if (ch == '\r') return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
  if (ch == '\n' || ch == '\v' || ch == '\f' || (ch >= 0x1c && ch <= 0x1e)) return 1;
  if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85) return 2;
  if (ch == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 && ((unsigned char)s[i + 2] & 0xfe) == 0xa8) return 3;
  return 0;
}

tv brr__template_tf_wordwrap(tctx *c, tcall *a) {
  tv args[5];
  TARGS(c, a, "do_wordwrap", args, "s", "?width", "?break_long_words", "?wrapstring", "?break_on_hyphens");
  tv s = args[0];
  if (s.t != TV_STR) {
    if (tv_is_undef(s)) brr__template_terr_undef(c, a->at, s);
    brr__template_terr(c, a->at, "'%s' object has no attribute 'splitlines'", brr__template_tv_typename(s));
  }
  int64_t width = args[1].t == TV_MISSING ? 79 : brr__template_targ_int(c, a->at, args[1], "width");
  bool break_long = args[2].t == TV_MISSING || brr__template_tv_truthy(c, a->at, args[2]);
  tv wrapstring = args[3].t == TV_MISSING || args[3].t == TV_NONE ? tv_str_nocopy("\n", 1) : args[3];
  if (wrapstring.t != TV_STR) brr__template_terr(c, a->at, "sequence item 0: expected str instance, %s found", brr__template_tv_typename(wrapstring));
  bool hyphens = args[4].t == TV_MISSING || brr__template_tv_truthy(c, a->at, args[4]);
  pcre2_code *re = NULL;
  pcre2_match_data *md = NULL;
  size_t t1 = 0, t2 = 0;
  if (hyphens) {
    int err;
    PCRE2_SIZE off;
    re = pcre2_compile((PCRE2_SPTR)WORDSEP, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
    if (!re) brr__template_terr(c, a->at, "wordwrap: internal pattern error %d at %zu", err, (size_t)off);
    t1 = brr__template_tctx_track(c, free_code, re);
    md = pcre2_match_data_create_from_pattern(re, NULL);
    t2 = brr__template_tctx_track(c, free_md, md);
  }
  tbuf out = {0};
  const char *p = s.u.str;
  size_t n = s.slen;
  bool first_para = true;
  for (size_t i = 0; i < n;) {
    size_t j = i, br = 0;
    while (j < n && !(br = line_break(p, n, j))) j++;
    if (!first_para) brr__template_tbuf_add(c, &out, wrapstring.u.str, wrapstring.slen);
    first_para = false;
    chunks ck = {0};
    split_chunks(c, p + i, j - i, re, md, &ck);
    if (ck.n && width <= 0) brr__template_terr(c, a->at, "invalid width %lld (must be > 0)", (long long)width);
    bool first_line = true;
    wrap_chunks(c, &ck, width > 0 ? (size_t)width : 1, break_long, hyphens, &out, wrapstring, &first_line);
    i = j + br;
  }
  if (hyphens) {
    brr__template_tctx_untrack(c, t2);
    brr__template_tctx_untrack(c, t1);
  }
  return brr__template_tbuf_str(c, &out);
}

/* The random filter: random.choice(seq), or an Undefined for an empty sequence. The item is
 * picked with the kernel's random numbers (Jinja2 uses Python's random module: no template
 * can rely on which item comes out). */
tv brr__template_tf_random(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "do_random", args, "seq");
  tv s = args[0];
  size_t n;
  switch (s.t) {
  case TV_MISSING:
  case TV_UNDEF: n = 0; break;
  case TV_LIST:
  case TV_TUPLE:
  case TV_STR:
  case TV_RANGE: n = brr__template_tv_len(c, a->at, s); break;
  case TV_DICT:
    if (!s.u.d->live) {
      n = 0;
      break;
    }
    brr__template_terr(c, a->at, "random.choice() of a dict looks up an integer key (KeyError)");
  default: brr__template_terr(c, a->at, "object of type '%s' has no len()", brr__template_tv_typename(s));
  }
  if (!n) return brr__template_tv_undef(c, "No random item, sequence was empty.", BRR__TEMPLATE_TV_MISSING_V, BRR__TEMPLATE_TV_MISSING_V);
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&r;
  tv idx = tv_int((int64_t)(r % n));
  return brr__template_top_getitem(c, a->at, s, idx);
}

/* ---- urlize: Jinja2's utils.urlize and filters.do_urlize (3.1) ---- */

static const char HTTP_RE[] =
    "^((https?://|www\\.)(([\\w%-]+\\.)+)?([a-z]{2,63}|xn--[\\w%]{2,59})"
    "|([\\w%-]{2,63}\\.)+(com|net|int|edu|gov|org|info|mil)"
    "|(https?://)((([\\d]{1,3})(\\.[\\d]{1,3}){3})|(\\[([\\da-f]{0,4}:){2}([\\da-f]{0,4}:?){1,6}])))"
    "(?::[\\d]{1,5})?(?:[/?#]\\S*)?$";
static const char EMAIL_RE[] = "^\\S+@\\w[\\w.-]*\\.\\w+$";
static const char SCHEME_RE[] = "^([\\w.+-]{2,}:(/){0,2})$";

typedef struct re_t {
  pcre2_code *code;
  pcre2_match_data *md;
} re_t;

static re_t re_new(tctx *c, const tnode *at, const char *pat, uint32_t opts) {
  int err;
  PCRE2_SIZE off;
  re_t r;
  r.code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | opts, &err,
                         &off, NULL);
  if (!r.code) brr__template_terr(c, at, "urlize: internal pattern error %d at %zu", err, (size_t)off);
  brr__template_tctx_track(c, free_code, r.code);
  r.md = pcre2_match_data_create_from_pattern(r.code, NULL);
  brr__template_tctx_track(c, free_md, r.md);
  return r;
}

static bool re_ok(re_t r, const char *s, size_t n) { return pcre2_match(r.code, (PCRE2_SPTR)s, n, 0, 0, r.md, NULL) >= 0; }

/* markupsafe.escape */
static void esc(tctx *c, tbuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) switch (s[i]) {
    case '&': brr__template_tbuf_adds(c, b, "&amp;"); break;
    case '<': brr__template_tbuf_adds(c, b, "&lt;"); break;
    case '>': brr__template_tbuf_adds(c, b, "&gt;"); break;
    case '\'': brr__template_tbuf_adds(c, b, "&#39;"); break;
    case '"': brr__template_tbuf_adds(c, b, "&#34;"); break;
    default: brr__template_tbuf_addc(c, b, s[i]);
    }
}

static bool starts(const char *s, size_t n, const char *p) {
  size_t k = strlen(p);
  return n >= k && !memcmp(s, p, k);
}

static bool ends(const char *s, size_t n, const char *p) {
  size_t k = strlen(p);
  return n >= k && !memcmp(s + n - k, p, k);
}

static size_t count(const char *s, size_t n, const char *p) {
  size_t k = strlen(p), r = 0;
  for (size_t i = 0; i + k <= n;)
    if (!memcmp(s + i, p, k)) {
      r++;
      i += k;
    } else {
      i++;
    }
  return r;
}

/* the length of the tail tokens ([)>.,\n] or &gt;) from `i` to the end; false when others */
static bool all_tail(const char *s, size_t n, size_t i) {
  while (i < n) {
    if (strchr(")>.,\n", s[i]) && s[i]) i++;
    else if (starts(s + i, n - i, "&gt;")) i += 4;
    else return false;
  }
  return true;
}

#define NO_LIMIT INT64_MIN

/* trim_url: x[:limit] + "..." when longer than limit (a negative limit counts from the end) */
static void trimmed(tctx *c, tbuf *b, const char *s, size_t n, int64_t limit) {
  int64_t len = (int64_t)brr__template_u8_len(s, n);
  if (limit != NO_LIMIT && len > limit) {
    int64_t keep = limit >= 0 ? limit : len + limit > 0 ? len + limit : 0;
    brr__template_tbuf_add(c, b, s, brr__template_u8_offset(s, n, (size_t)keep));
    brr__template_tbuf_adds(c, b, "...");
  } else {
    brr__template_tbuf_add(c, b, s, n);
  }
}

static void urlize_word(tctx *c, tbuf *out, const char *w, size_t n, re_t http, re_t email, int64_t limit,
                        const char *attrs, const tv *schemes, size_t nschemes) {
  size_t h = 0; /* head: ([(<]|&lt;)+ */
  for (;;) {
    if (h < n && (w[h] == '(' || w[h] == '<')) h++;
    else if (starts(w + h, n - h, "&lt;")) h += 4;
    else break;
  }
  brr__template_tbuf_add(c, out, w, h);
  const char *m = w + h;
  size_t mn = n - h;
  size_t t = mn; /* the tail starts at m + t */
  if (mn && (strchr(")>.,\n", m[mn - 1]) || ends(m, mn, "&gt;")))
    for (size_t i = 0; i < mn; i++)
      if (all_tail(m, mn, i)) {
        t = i;
        break;
      }
  tbuf mid = {0};
  brr__template_tbuf_add(c, &mid, m, t);
  const char *tail = m + t;
  size_t tn = mn - t;
  static const char *const pairs[][2] = {{"(", ")"}, {"<", ">"}, {"&lt;", "&gt;"}};
  for (size_t p = 0; p < 3; p++) {
    size_t sc = count(mid.p ? mid.p : "", mid.n, pairs[p][0]);
    if (sc <= count(mid.p ? mid.p : "", mid.n, pairs[p][1])) continue;
    size_t moves = count(tail, tn, pairs[p][1]);
    if (moves > sc) moves = sc;
    size_t el = strlen(pairs[p][1]);
    for (size_t k = 0; k < moves; k++) {
      size_t idx = 0;
      while (memcmp(tail + idx, pairs[p][1], el) != 0) idx++;
      brr__template_tbuf_add(c, &mid, tail, idx + el);
      tail += idx + el;
      tn -= idx + el;
    }
  }
  const char *s = mid.p ? mid.p : "";
  size_t sn = mid.n;
  if (re_ok(http, s, sn)) {
    bool scheme = starts(s, sn, "https://") || starts(s, sn, "http://");
    brr__template_tbuf_adds(c, out, scheme ? "<a href=\"" : "<a href=\"https://");
    brr__template_tbuf_add(c, out, s, sn);
    brr__template_tbuf_printf(c, out, "\"%s>", attrs);
    trimmed(c, out, s, sn, limit);
    brr__template_tbuf_adds(c, out, "</a>");
  } else if (starts(s, sn, "mailto:") && re_ok(email, s + 7, sn - 7)) {
    brr__template_tbuf_adds(c, out, "<a href=\"");
    brr__template_tbuf_add(c, out, s, sn);
    brr__template_tbuf_adds(c, out, "\">");
    brr__template_tbuf_add(c, out, s + 7, sn - 7);
    brr__template_tbuf_adds(c, out, "</a>");
  } else if (memchr(s, '@', sn) && !starts(s, sn, "www.") && !memchr(s, ':', sn) && re_ok(email, s, sn)) {
    brr__template_tbuf_adds(c, out, "<a href=\"mailto:");
    brr__template_tbuf_add(c, out, s, sn);
    brr__template_tbuf_adds(c, out, "\">");
    brr__template_tbuf_add(c, out, s, sn);
    brr__template_tbuf_adds(c, out, "</a>");
  } else {
    tbuf cur = {0};
    brr__template_tbuf_add(c, &cur, s, sn);
    for (size_t k = 0; k < nschemes; k++) {
      const tv *sch = &schemes[k];
      if ((cur.n != sch->slen || memcmp(cur.p, sch->u.str, cur.n) != 0) && starts(cur.p, cur.n, sch->u.str)) {
        tbuf nw = {0};
        brr__template_tbuf_adds(c, &nw, "<a href=\"");
        brr__template_tbuf_add(c, &nw, cur.p, cur.n);
        brr__template_tbuf_printf(c, &nw, "\"%s>", attrs);
        brr__template_tbuf_add(c, &nw, cur.p, cur.n);
        brr__template_tbuf_adds(c, &nw, "</a>");
        cur = nw;
      }
    }
    if (cur.n) brr__template_tbuf_add(c, out, cur.p, cur.n);
  }
  brr__template_tbuf_add(c, out, tail, tn);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

tv brr__template_tf_urlize(tctx *c, tcall *a) {
  tv args[6];
  TARGS(c, a, "do_urlize", args, "value", "?trim_url_limit", "?nofollow", "?target", "?rel", "?extra_schemes");
  const tnode *at = a->at;
  int64_t limit = args[1].t == TV_MISSING || args[1].t == TV_NONE ? NO_LIMIT : brr__template_targ_int(c, at, args[1], "trim_url_limit");
  /* rel: the words of `rel`, nofollow and Jinja2's policy "noopener", sorted, deduplicated */
  const char *words[64];
  size_t nw = 0;
  words[nw++] = "noopener";
  if (args[2].t != TV_MISSING && brr__template_tv_truthy(c, at, args[2])) words[nw++] = "nofollow";
  if (args[4].t != TV_MISSING && args[4].t != TV_NONE) {
    size_t rn;
    const char *r = brr__template_targ_str(c, at, args[4], "rel", &rn);
    for (size_t i = 0; i < rn && nw < BRR_ARRAY_LEN(words);) {
      size_t st, en;
      while (i < rn && strchr(" \t\n\r\v\f", r[i]) && r[i]) i++;
      st = i;
      while (i < rn && !(strchr(" \t\n\r\v\f", r[i]) && r[i])) i++;
      en = i;
      if (en > st) words[nw++] = brr__template_tstrndup(c, r + st, en - st);
    }
  }
  qsort(words, nw, sizeof *words, cmp_str);
  tbuf attrs = {0};
  brr__template_tbuf_adds(c, &attrs, " rel=\"");
  for (size_t i = 0; i < nw; i++) {
    if (i && !strcmp(words[i], words[i - 1])) continue;
    if (i) brr__template_tbuf_addc(c, &attrs, ' ');
    esc(c, &attrs, words[i], strlen(words[i]));
  }
  brr__template_tbuf_addc(c, &attrs, '"');
  if (args[3].t != TV_MISSING && args[3].t != TV_NONE && brr__template_tv_truthy(c, at, args[3])) {
    tv tgt = brr__template_tv_to_str(c, args[3]);
    brr__template_tbuf_adds(c, &attrs, " target=\"");
    esc(c, &attrs, tgt.u.str, tgt.slen);
    brr__template_tbuf_addc(c, &attrs, '"');
  }
  re_t http = re_new(c, at, HTTP_RE, PCRE2_CASELESS);
  re_t email = re_new(c, at, EMAIL_RE, 0);
  tv *schemes = NULL;
  size_t ns = 0;
  if (args[5].t != TV_MISSING && args[5].t != TV_NONE) {
    schemes = brr__template_tv_iterate(c, at, args[5], &ns);
    re_t sre = re_new(c, at, SCHEME_RE, 0);
    for (size_t i = 0; i < ns; i++) {
      if (schemes[i].t != TV_STR) brr__template_terr(c, at, "expected string or bytes-like object, got '%s'", brr__template_tv_typename(schemes[i]));
      if (!re_ok(sre, schemes[i].u.str, schemes[i].slen)) {
        tbuf m = {0};
        brr__template_tv_repr_to(c, &m, schemes[i]);
        brr__template_terr(c, at, "%s is not a valid URI scheme prefix.", m.p);
      }
    }
  }
  tv text = brr__template_tv_to_str(c, args[0]);
  tbuf e = {0};
  esc(c, &e, text.u.str, text.slen);
  const char *s = e.p ? e.p : "";
  tbuf out = {0};
  /* re.split(r"(\s+)"): words and the whitespace between them, each urlized */
  for (size_t i = 0; i < e.n;) {
    uint32_t cp;
    size_t l = brr__template_u8_decode(s, e.n, i, &cp);
    bool ws = brr__template_u_isspace(cp);
    size_t j = i + l;
    while (j < e.n) {
      size_t l2 = brr__template_u8_decode(s, e.n, j, &cp);
      if (brr__template_u_isspace(cp) != ws) break;
      j += l2;
    }
    urlize_word(c, &out, s + i, j - i, http, email, limit, attrs.p, schemes, ns);
    i = j;
  }
  return out.p ? brr__template_tbuf_str(c, &out) : tv_str_nocopy("", 0);
}

/* ---- lipsum(): Jinja2's generate_lorem_ipsum, with the kernel's random numbers ---- */

/* the words Jinja2 picks from (jinja2.constants.LOREM_IPSUM_WORDS) */
static const char LOREM[] =
    "a ac accumsan ad adipiscing aenean aliquam aliquet amet ante aptent arcu at auctor augue "
    "bibendum blandit class commodo condimentum congue consectetuer consequat conubia "
    "convallis cras cubilia cum curabitur curae cursus dapibus diam dictum dictumst dignissim "
    "dis dolor donec dui duis egestas eget eleifend elementum elit enim erat eros est et etiam "
    "eu euismod facilisi facilisis fames faucibus felis fermentum feugiat fringilla fusce "
    "gravida habitant habitasse hac hendrerit hymenaeos iaculis id imperdiet in inceptos "
    "integer interdum ipsum justo lacinia lacus laoreet lectus leo libero ligula litora "
    "lobortis lorem luctus maecenas magna magnis malesuada massa mattis mauris metus mi "
    "molestie mollis montes morbi mus nam nascetur natoque nec neque netus nibh nisi nisl non "
    "nonummy nostra nulla nullam nunc odio orci ornare parturient pede pellentesque penatibus "
    "per pharetra phasellus placerat platea porta porttitor posuere potenti praesent pretium "
    "primis proin pulvinar purus quam quis quisque rhoncus ridiculus risus rutrum sagittis "
    "sapien scelerisque sed sem semper senectus sit sociis sociosqu sodales sollicitudin "
    "suscipit suspendisse taciti tellus tempor tempus tincidunt torquent tortor tristique "
    "turpis ullamcorper ultrices ultricies urna ut varius vehicula vel velit venenatis "
    "vestibulum vitae vivamus viverra volutpat vulputate";

static uint64_t rnd(void) {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint64_t)time(NULL) * 6364136223846793005u + (uint64_t)(uintptr_t)&r;
  return r;
}

/* random.randrange(lo, hi) */
static int64_t randrange(tctx *c, const tnode *at, int64_t lo, int64_t hi) {
  if (hi <= lo) brr__template_terr(c, at, "empty range for randrange() (%lld, %lld, %lld)", (long long)lo, (long long)hi, (long long)(hi - lo));
  return lo + (int64_t)(rnd() % (uint64_t)(hi - lo));
}

tv brr__template_tf_lipsum(tctx *c, tcall *a) {
  tv args[4];
  TARGS(c, a, "generate_lorem_ipsum", args, "?n", "?html", "?min", "?max");
  const tnode *at = a->at;
  int64_t n = args[0].t == TV_MISSING ? 5 : brr__template_targ_int(c, at, args[0], "n");
  bool html = args[1].t == TV_MISSING || brr__template_tv_truthy(c, at, args[1]);
  int64_t lo = args[2].t == TV_MISSING ? 20 : brr__template_targ_int(c, at, args[2], "min");
  int64_t hi = args[3].t == TV_MISSING ? 100 : brr__template_targ_int(c, at, args[3], "max");
  if (n > 100000 || (n > 0 && hi - lo > 100000)) brr__template_terr(c, at, "lipsum() too large (brr allows 100000 paragraphs and words)");
  const char *words[200];
  size_t wl[200], nw = 0;
  for (const char *p = LOREM; *p && nw < 200;) {
    const char *e = strchr(p, ' ');
    if (!e) e = p + strlen(p);
    words[nw] = p;
    wl[nw++] = (size_t)(e - p);
    p = *e ? e + 1 : e;
  }
  tbuf out = {0};
  for (int64_t k = 0; k < n; k++) {
    bool next_cap = true;
    int64_t last_comma = 0, last_fullstop = 0, count = randrange(c, at, lo, hi);
    size_t last = SIZE_MAX;
    tbuf p = {0};
    for (int64_t idx = 0; idx < count; idx++) {
      size_t w;
      do w = (size_t)(rnd() % nw);
      while (last != SIZE_MAX && wl[w] == wl[last] && !memcmp(words[w], words[last], wl[w]));
      last = w;
      if (idx) brr__template_tbuf_addc(c, &p, ' ');
      if (next_cap) { /* the words are lower-case ASCII */
        brr__template_tbuf_addc(c, &p, (char)(words[w][0] - 'a' + 'A'));
        brr__template_tbuf_add(c, &p, words[w] + 1, wl[w] - 1);
        next_cap = false;
      } else {
        brr__template_tbuf_add(c, &p, words[w], wl[w]);
      }
      if (idx - randrange(c, at, 3, 8) > last_comma) {
        last_comma = idx;
        last_fullstop += 2;
        brr__template_tbuf_addc(c, &p, ',');
      }
      if (idx - randrange(c, at, 10, 20) > last_fullstop) {
        last_comma = last_fullstop = idx;
        brr__template_tbuf_addc(c, &p, '.');
        next_cap = true;
      }
    }
    if (p.n && p.p[p.n - 1] == ',') p.p[p.n - 1] = '.';
    else if (!p.n || p.p[p.n - 1] != '.') brr__template_tbuf_addc(c, &p, '.');
    if (k) brr__template_tbuf_adds(c, &out, html ? "\n" : "\n\n");
    if (html) brr__template_tbuf_adds(c, &out, "<p>");
    brr__template_tbuf_add(c, &out, p.p, p.n);
    if (html) brr__template_tbuf_adds(c, &out, "</p>");
  }
  return out.p ? brr__template_tbuf_str(c, &out) : tv_str_nocopy("", 0);
}
