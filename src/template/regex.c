/* buildrunner's re_sub and re_split filters: Python's re.sub/re.split on PCRE2.
 * Patterns get the few rewrites Python syntax needs ({,n}, \Z, \u/\U escapes); matching
 * follows CPython's loop, including how empty matches next to other matches behave; the
 * replacement template (\1, \g<name>, escapes) is expanded as Python's re does. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include "internal.h"

/* Python's re flag values */
enum { RE_I = 2, RE_L = 4, RE_M = 8, RE_S = 16, RE_U = 32, RE_X = 64, RE_A = 256 };

static bool is_hexd(char ch) { return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f'); }

/* rewrite the parts of Python's pattern syntax PCRE2 reads differently */
static tv translate(tctx *c, const tnode *at, tv pat) {
  tbuf b = {0};
  const char *p = pat.u.str;
  size_t n = pat.slen;
  bool in_class = false;
  for (size_t i = 0; i < n; i++) {
    char ch = p[i];
    if (ch == '\\' && i + 1 < n) {
      char e = p[i + 1];
      if (e == 'Z' && !in_class) {
        brr__template_tbuf_adds(c, &b, "\\z");
        i++;
        continue;
      }
      if (e == 'u' || e == 'U') {
        size_t want = e == 'u' ? 4 : 8;
        if (i + 2 + want > n) brr__template_terr(c, at, "bad escape \\%c at position %zu", e, i);
        for (size_t k = 0; k < want; k++)
          if (!is_hexd(p[i + 2 + k])) brr__template_terr(c, at, "bad escape \\%c at position %zu", e, i);
        brr__template_tbuf_adds(c, &b, "\\x{");
        brr__template_tbuf_add(c, &b, p + i + 2, want);
        brr__template_tbuf_addc(c, &b, '}');
        i += 1 + want;
        continue;
      }
      brr__template_tbuf_add(c, &b, p + i, 2);
      i++;
      continue;
    }
    if (in_class) {
      if (ch == ']') in_class = false;
      brr__template_tbuf_addc(c, &b, ch);
      continue;
    }
    if (ch == '[') {
      in_class = true;
      brr__template_tbuf_addc(c, &b, ch);
      /* a ] right after [ or [^ is a literal */
      if (i + 1 < n && p[i + 1] == '^') brr__template_tbuf_addc(c, &b, p[++i]);
      if (i + 1 < n && p[i + 1] == ']') brr__template_tbuf_addc(c, &b, p[++i]);
      continue;
    }
    if (ch == '{' && i + 1 < n && p[i + 1] == ',') { /* Python's {,n} is {0,n} */
      size_t j = i + 2;
      while (j < n && p[j] >= '0' && p[j] <= '9') j++;
      if (j < n && p[j] == '}') {
        brr__template_tbuf_adds(c, &b, "{0");
        continue;
      }
    }
    brr__template_tbuf_addc(c, &b, ch);
  }
  return brr__template_tbuf_str(c, &b);
}

#define RE_CACHE 8

typedef struct re_cache {
  struct {
    char *pat;
    int64_t flags;
    pcre2_code *code;
    pcre2_match_data *md;
  } e[RE_CACHE];
  size_t next;
} re_cache;

static void cache_free(void *p) {
  re_cache *rc = p;
  for (size_t i = 0; i < RE_CACHE; i++) {
    free(rc->e[i].pat);
    pcre2_match_data_free(rc->e[i].md);
    pcre2_code_free(rc->e[i].code);
  }
  free(rc);
}

/* the compiled pattern and match data for `pat` (cached for the render) */
static pcre2_code *compile(tctx *c, const tnode *at, tv pat, int64_t flags, pcre2_match_data **md) {
  /* a small cache per render: loops call re_sub with the same pattern many times */
  re_cache *cache = c->re_cache;
  if (!cache) {
    cache = c->re_cache = brr_xcalloc(1, sizeof *cache);
    brr__template_tctx_track(c, cache_free, cache);
  }
  for (size_t i = 0; i < RE_CACHE; i++)
    if (cache->e[i].code && cache->e[i].flags == flags && !strcmp(cache->e[i].pat, pat.u.str)) {
      *md = cache->e[i].md;
      return cache->e[i].code;
    }
  if (flags & RE_L) brr__template_terr(c, at, "cannot use LOCALE flag with a str pattern");
  if ((flags & RE_A) && (flags & RE_U)) brr__template_terr(c, at, "ASCII and UNICODE flags are incompatible");
  uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  if (!(flags & RE_A)) opts |= PCRE2_UCP;
  if (flags & RE_I) opts |= PCRE2_CASELESS;
  if (flags & RE_M) opts |= PCRE2_MULTILINE;
  if (flags & RE_S) opts |= PCRE2_DOTALL;
  if (flags & RE_X) opts |= PCRE2_EXTENDED;
  tv t = translate(c, at, pat);
  int err;
  PCRE2_SIZE off;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)t.u.str, t.slen, opts, &err, &off, NULL);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    brr__template_terr(c, at, "invalid regular expression '%s': %s at position %zu", pat.u.str, (const char *)msg, (size_t)off);
  }
  size_t k = cache->next++ % RE_CACHE;
  free(cache->e[k].pat);
  pcre2_match_data_free(cache->e[k].md);
  pcre2_code_free(cache->e[k].code);
  cache->e[k].pat = brr_xstrdup(pat.u.str);
  cache->e[k].flags = flags;
  cache->e[k].code = code;
  cache->e[k].md = *md = pcre2_match_data_create_from_pattern(code, NULL);
  return code;
}

typedef struct matcher {
  pcre2_code *code;
  pcre2_match_data *md;
  const char *s;
  size_t n, pos;
  bool must_advance;
  PCRE2_SIZE *ov;
  uint32_t ngroups;
} matcher;

static void matcher_init(tctx *c, matcher *m, tv pat, int64_t flags, const tnode *at, tv subject) {
  m->code = compile(c, at, pat, flags, &m->md);
  m->s = subject.u.str;
  m->n = subject.slen;
  m->pos = 0;
  m->must_advance = false;
  pcre2_pattern_info(m->code, PCRE2_INFO_CAPTURECOUNT, &m->ngroups);
}

/* CPython's search loop: after an empty match the next one may not be empty at the same place */
static bool matcher_next(tctx *c, const tnode *at, matcher *m) {
  if (m->pos > m->n) return false;
  int rc = pcre2_match(m->code, (PCRE2_SPTR)m->s, m->n, m->pos, m->must_advance ? PCRE2_NOTEMPTY_ATSTART : 0, m->md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    brr__template_terr(c, at, "regular expression match failed: %s", (const char *)msg);
  }
  m->ov = pcre2_get_ovector_pointer(m->md);
  m->must_advance = m->ov[1] == m->ov[0];
  m->pos = m->ov[1];
  return true;
}

static bool group_span(const matcher *m, uint32_t g, size_t *a, size_t *b) {
  if (g > m->ngroups || m->ov[2 * g] == PCRE2_UNSET) return false;
  *a = m->ov[2 * g];
  *b = m->ov[2 * g + 1];
  return true;
}

/* expand a Python replacement template for the current match */
static void expand(tctx *c, const tnode *at, matcher *m, tv repl, tbuf *out) {
  const char *r = repl.u.str;
  size_t n = repl.slen;
  for (size_t i = 0; i < n; i++) {
    if (r[i] != '\\' || i + 1 >= n) {
      if (r[i] == '\\') brr__template_terr(c, at, "bad escape (end of pattern) at position %zu", i);
      brr__template_tbuf_addc(c, out, r[i]);
      continue;
    }
    char e = r[++i];
    long group = -1;
    if (e == 'g') {
      if (i + 1 >= n || r[i + 1] != '<') brr__template_terr(c, at, "missing < at position %zu", i);
      const char *close = memchr(r + i + 2, '>', n - i - 2);
      if (!close) brr__template_terr(c, at, "missing >, unterminated name at position %zu", i + 1);
      size_t nl = (size_t)(close - (r + i + 2));
      char *name = brr__template_tstrndup(c, r + i + 2, nl);
      if (nl == 0) brr__template_terr(c, at, "missing group name at position %zu", i + 2);
      bool digits = true;
      for (size_t k = 0; k < nl; k++) digits = digits && name[k] >= '0' && name[k] <= '9';
      if (digits) group = strtol(name, NULL, 10);
      else {
        int num = pcre2_substring_number_from_name(m->code, (PCRE2_SPTR)name);
        if (num < 0) brr__template_terr(c, at, "unknown group name '%s'", name);
        group = num;
      }
      i = (size_t)(close - r);
    } else if (e >= '1' && e <= '9') {
      group = e - '0';
      if (i + 1 < n && r[i + 1] >= '0' && r[i + 1] <= '9') {
        if (e <= '7' && r[i + 1] <= '7' && i + 2 < n && r[i + 2] >= '0' && r[i + 2] <= '7') {
          int v = (e - '0') * 64 + (r[i + 1] - '0') * 8 + (r[i + 2] - '0');
          if (v > 0377) brr__template_terr(c, at, "octal escape value \\%c%c%c outside of range 0-0o377", e, r[i + 1], r[i + 2]);
          char enc[4];
          brr__template_tbuf_add(c, out, enc, brr__template_u8_encode((uint32_t)v, enc));
          i += 2;
          continue;
        }
        group = group * 10 + (r[++i] - '0');
      }
    } else if (e == '0') {
      int v = 0;
      for (int k = 0; k < 2 && i + 1 < n && r[i + 1] >= '0' && r[i + 1] <= '7'; k++) v = v * 8 + (r[++i] - '0');
      char enc[4];
      brr__template_tbuf_add(c, out, enc, brr__template_u8_encode((uint32_t)v, enc));
      continue;
    } else {
      static const char from[] = "ntrfvab\\", to[] = "\n\t\r\f\v\a\b\\";
      const char *k = strchr(from, e);
      if (k && e) brr__template_tbuf_addc(c, out, to[k - from]);
      else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) brr__template_terr(c, at, "bad escape \\%c at position %zu", e, i - 1);
      else {
        brr__template_tbuf_addc(c, out, '\\');
        brr__template_tbuf_addc(c, out, e);
      }
      continue;
    }
    if (group < 0 || (uint32_t)group > m->ngroups) brr__template_terr(c, at, "invalid group reference %ld at position %zu", group, i);
    size_t a, b;
    if (group_span(m, (uint32_t)group, &a, &b)) brr__template_tbuf_add(c, out, m->s + a, b - a);
  }
}

static tv text_arg(tctx *c, const tnode *at, tv v) {
  if (tv_is_undef(v)) brr__template_terr_undef(c, at, v);
  if (v.t != TV_STR) brr__template_terr(c, at, "expected string or bytes-like object, got '%s'", brr__template_tv_typename(v));
  return v;
}

tv brr__template_tre_sub(tctx *c, tcall *a) {
  tv args[5];
  TARGS(c, a, "re_sub_filter", args, "text", "pattern", "replace", "?count", "?flags");
  tv text = text_arg(c, a->at, args[0]);
  if (args[1].t != TV_STR) brr__template_terr(c, a->at, "first argument must be string or compiled pattern");
  if (args[2].t != TV_STR) brr__template_terr(c, a->at, "brr's re_sub takes a string replacement");
  int64_t count = args[3].t == TV_MISSING ? 0 : brr__template_targ_int(c, a->at, args[3], "count");
  int64_t flags = args[4].t == TV_MISSING ? 0 : brr__template_targ_int(c, a->at, args[4], "flags");
  matcher m;
  matcher_init(c, &m, args[1], flags, a->at, text);
  tbuf out = {0};
  size_t last = 0;
  int64_t done = 0;
  while ((count <= 0 || done < count) && matcher_next(c, a->at, &m)) {
    brr__template_tbuf_add(c, &out, text.u.str + last, m.ov[0] - last);
    expand(c, a->at, &m, args[2], &out);
    last = m.ov[1];
    done++;
  }
  brr__template_tbuf_add(c, &out, text.u.str + last, text.slen - last);
  return brr__template_tbuf_str(c, &out);
}

tv brr__template_tre_split(tctx *c, tcall *a) {
  tv args[4];
  TARGS(c, a, "re_split_filter", args, "text", "pattern", "?maxsplit", "?flags");
  tv text = text_arg(c, a->at, args[0]);
  if (args[1].t != TV_STR) brr__template_terr(c, a->at, "first argument must be string or compiled pattern");
  int64_t maxsplit = args[2].t == TV_MISSING ? 0 : brr__template_targ_int(c, a->at, args[2], "maxsplit");
  int64_t flags = args[3].t == TV_MISSING ? 0 : brr__template_targ_int(c, a->at, args[3], "flags");
  matcher m;
  matcher_init(c, &m, args[1], flags, a->at, text);
  tv out = brr__template_tv_list(c, 0);
  size_t last = 0;
  int64_t done = 0;
  while ((maxsplit <= 0 || done < maxsplit) && matcher_next(c, a->at, &m)) {
    brr__template_tl_push(c, out.u.l, brr__template_tv_str(c, text.u.str + last, m.ov[0] - last));
    for (uint32_t g = 1; g <= m.ngroups; g++) {
      size_t ga, gb;
      brr__template_tl_push(c, out.u.l, group_span(&m, g, &ga, &gb) ? brr__template_tv_str(c, text.u.str + ga, gb - ga) : BRR__TEMPLATE_TV_NONE_V);
    }
    last = m.ov[1];
    done++;
  }
  brr__template_tl_push(c, out.u.l, brr__template_tv_str(c, text.u.str + last, text.slen - last));
  return out;
}
