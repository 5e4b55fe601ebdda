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
    l->v = tgrow(c, l->v, l->cap * sizeof *l->v, nc * sizeof *l->v);
    l->cap = nc;
  }
  l->v[l->n++] = (chunk){p, n, u8_len(p, n)};
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
    chunk *line = talloc(c, (ck->n - i + 1) * sizeof *line);
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
            size_t l = u8_decode(k->p, k->n, off, &u);
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
        size_t cut = u8_offset(k->p, k->n, end);
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
      if (!*first_line) tbuf_add(c, out, wrapstring.u.str, wrapstring.slen);
      *first_line = false;
      for (size_t k = 0; k < nline; k++) tbuf_add(c, out, line[k].p, line[k].n);
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

tv tf_wordwrap(tctx *c, tcall *a) {
  tv args[5];
  TARGS(c, a, "do_wordwrap", args, "s", "?width", "?break_long_words", "?wrapstring", "?break_on_hyphens");
  tv s = args[0];
  if (s.t != TV_STR) {
    if (tv_is_undef(s)) terr_undef(c, a->at, s);
    terr(c, a->at, "'%s' object has no attribute 'splitlines'", tv_typename(s));
  }
  int64_t width = args[1].t == TV_MISSING ? 79 : targ_int(c, a->at, args[1], "width");
  bool break_long = args[2].t == TV_MISSING || tv_truthy(c, a->at, args[2]);
  tv wrapstring = args[3].t == TV_MISSING || args[3].t == TV_NONE ? tv_str_nocopy("\n", 1) : args[3];
  if (wrapstring.t != TV_STR) terr(c, a->at, "sequence item 0: expected str instance, %s found", tv_typename(wrapstring));
  bool hyphens = args[4].t == TV_MISSING || tv_truthy(c, a->at, args[4]);
  pcre2_code *re = NULL;
  pcre2_match_data *md = NULL;
  size_t t1 = 0, t2 = 0;
  if (hyphens) {
    int err;
    PCRE2_SIZE off;
    re = pcre2_compile((PCRE2_SPTR)WORDSEP, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
    if (!re) terr(c, a->at, "wordwrap: internal pattern error %d at %zu", err, (size_t)off);
    t1 = tctx_track(c, free_code, re);
    md = pcre2_match_data_create_from_pattern(re, NULL);
    t2 = tctx_track(c, free_md, md);
  }
  tbuf out = {0};
  const char *p = s.u.str;
  size_t n = s.slen;
  bool first_para = true;
  for (size_t i = 0; i < n;) {
    size_t j = i, br = 0;
    while (j < n && !(br = line_break(p, n, j))) j++;
    if (!first_para) tbuf_add(c, &out, wrapstring.u.str, wrapstring.slen);
    first_para = false;
    chunks ck = {0};
    split_chunks(c, p + i, j - i, re, md, &ck);
    if (ck.n && width <= 0) terr(c, a->at, "invalid width %lld (must be > 0)", (long long)width);
    bool first_line = true;
    wrap_chunks(c, &ck, width > 0 ? (size_t)width : 1, break_long, hyphens, &out, wrapstring, &first_line);
    i = j + br;
  }
  if (hyphens) {
    tctx_untrack(c, t2);
    tctx_untrack(c, t1);
  }
  return tbuf_str(c, &out);
}

/* The random filter: random.choice(seq), or an Undefined for an empty sequence. The item is
 * picked with the kernel's random numbers (Jinja2 uses Python's random module: no template
 * can rely on which item comes out). */
tv tf_random(tctx *c, tcall *a) {
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
  case TV_RANGE: n = tv_len(c, a->at, s); break;
  case TV_DICT:
    if (!s.u.d->live) {
      n = 0;
      break;
    }
    terr(c, a->at, "random.choice() of a dict looks up an integer key (KeyError)");
  default: terr(c, a->at, "object of type '%s' has no len()", tv_typename(s));
  }
  if (!n) return tv_undef(c, "No random item, sequence was empty.", TV_MISSING_V, TV_MISSING_V);
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&r;
  tv idx = tv_int((int64_t)(r % n));
  return top_getitem(c, a->at, s, idx);
}
