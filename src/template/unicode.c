/* UTF-8 and the Unicode character classes Python's str methods use. Strings are UTF-8 bytes;
 * Python counts, indexes and case-maps code points, so every such operation decodes.
 * Character classes and simple case mappings come from glibc's C.UTF-8 locale tables; the
 * few full mappings Python applies on top (ß -> SS, İ -> i̇) are handled here. */
#include <locale.h>
#include <string.h>
#include <wctype.h>

#include "internal.h"

size_t brr__template_u8_decode(const char *s, size_t n, size_t i, uint32_t *cp) {
  const unsigned char *p = (const unsigned char *)s + i;
  size_t left = n - i;
  unsigned char b = p[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  size_t len = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? (b <= 0xEF ? 3 : 0) : b >= 0xC2 ? 2 : 0;
  if (len == 0 || len > left) goto bad;
  uint32_t v = b & (0x7F >> len);
  for (size_t k = 1; k < len; k++) {
    if ((p[k] & 0xC0) != 0x80) goto bad;
    v = (v << 6) | (p[k] & 0x3F);
  }
  if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF))) goto bad;
  *cp = v;
  return len;
bad:
  /* an invalid byte stands for itself, like Python's surrogateescape */
  *cp = 0xDC00 + b;
  return 1;
}

size_t brr__template_u8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp >= 0xDC80 && cp <= 0xDCFF) { /* an escaped invalid byte goes back out as it came in */
    out[0] = (char)(cp - 0xDC00);
    return 1;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t brr__template_u8_len(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    if ((unsigned char)s[i] < 0x80) {
      i++;
    } else {
      uint32_t cp;
      i += brr__template_u8_decode(s, n, i, &cp);
    }
    k++;
  }
  return k;
}

size_t brr__template_u8_offset(const char *s, size_t n, size_t k) {
  size_t i = 0;
  while (k > 0 && i < n) {
    uint32_t cp;
    i += (unsigned char)s[i] < 0x80 ? 1 : brr__template_u8_decode(s, n, i, &cp);
    k--;
  }
  return i;
}

static locale_t utf8_locale(void) {
  static locale_t loc = (locale_t)0;
  if (!loc) loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
  return loc;
}

bool brr__template_u_isspace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r') || (cp >= 0x1c && cp <= 0x1f);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool brr__template_u_isprintable(uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return false;
  if (cp < 0x7F) return true;
  if ((cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F || cp == 0x1680 || cp == 0x180E ||
      (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) ||
      cp == 0x3000 || (cp >= 0xD800 && cp <= 0xF8FF) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
      cp == 0xE0001 || (cp >= 0xE0020 && cp <= 0xE007F) || cp >= 0xF0000)
    return false;
  locale_t loc = utf8_locale();
  return loc ? iswprint_l((wint_t)cp, loc) != 0 : true;
}

bool brr__template_u_isalpha(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  locale_t loc = utf8_locale();
  return loc && iswalpha_l((wint_t)cp, loc);
}

bool brr__template_u_isdigit(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  locale_t loc = utf8_locale();
  /* glibc's iswdigit is ASCII-only; other decimal digits are alnum but not alpha */
  return loc && iswalnum_l((wint_t)cp, loc) && !iswalpha_l((wint_t)cp, loc);
}

bool brr__template_u_isalnum(uint32_t cp) { return brr__template_u_isalpha(cp) || brr__template_u_isdigit(cp); }

bool brr__template_u_isupper(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  locale_t loc = utf8_locale();
  return loc && iswupper_l((wint_t)cp, loc);
}

bool brr__template_u_islower(uint32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z';
  locale_t loc = utf8_locale();
  return loc && iswlower_l((wint_t)cp, loc);
}

static bool u_istitle(uint32_t cp) {
  return cp == 0x1C5 || cp == 0x1C8 || cp == 0x1CB || cp == 0x1F2 || (cp >= 0x1F88 && cp <= 0x1F8F) ||
         (cp >= 0x1F98 && cp <= 0x1F9F) || (cp >= 0x1FA8 && cp <= 0x1FAF) || cp == 0x1FBC || cp == 0x1FCC ||
         cp == 0x1FFC;
}

bool brr__template_u_iscased(uint32_t cp) { return brr__template_u_isupper(cp) || brr__template_u_islower(cp) || u_istitle(cp); }

uint32_t brr__template_u_toupper(uint32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
  locale_t loc = utf8_locale();
  return loc ? (uint32_t)towupper_l((wint_t)cp, loc) : cp;
}

uint32_t brr__template_u_tolower(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  locale_t loc = utf8_locale();
  return loc ? (uint32_t)towlower_l((wint_t)cp, loc) : cp;
}

uint32_t brr__template_u_totitle(uint32_t cp) {
  if (cp >= 0x1C4 && cp <= 0x1C6) return 0x1C5;
  if (cp >= 0x1C7 && cp <= 0x1C9) return 0x1C8;
  if (cp >= 0x1CA && cp <= 0x1CC) return 0x1CB;
  if (cp >= 0x1F1 && cp <= 0x1F3) return 0x1F2;
  return brr__template_u_toupper(cp);
}

void brr__template_u_strip(const char *s, size_t n, bool left, bool right, size_t *start, size_t *end) {
  size_t a = 0, b = n;
  if (left)
    while (a < b) {
      uint32_t cp;
      size_t l = brr__template_u8_decode(s, n, a, &cp);
      if (!brr__template_u_isspace(cp)) break;
      a += l;
    }
  if (right)
    while (b > a) {
      size_t p = b - 1;
      while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
      uint32_t cp;
      brr__template_u8_decode(s, n, p, &cp);
      if (!brr__template_u_isspace(cp)) break;
      b = p;
    }
  *start = a;
  *end = b;
}

static bool is_ascii(tv s) {
  for (size_t i = 0; i < s.slen; i++)
    if ((unsigned char)s.u.str[i] >= 0x80) return false;
  return true;
}

/* map every code point of `s`: mode 0 upper, 1 lower, 2 capitalize, 3 title, 4 swapcase */
static tv u_map(tctx *c, tv s, int mode) {
  if (mode <= 1 && is_ascii(s)) { /* the usual case: byte by byte */
    char *p = brr__template_talloc(c, (size_t)s.slen + 1);
    for (size_t i = 0; i < s.slen; i++) {
      char ch = s.u.str[i];
      p[i] = mode == 0 ? (ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch) : (ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch);
    }
    return tv_str_nocopy(p, s.slen);
  }
  tbuf b = {0};
  const char *p = s.u.str;
  size_t n = s.slen;
  bool prev_cased = false;
  for (size_t i = 0, k = 0; i < n; k++) {
    uint32_t cp, out;
    size_t l = brr__template_u8_decode(p, n, i, &cp);
    i += l;
    bool upper;
    switch (mode) {
    case 0: upper = true; break;
    case 1: upper = false; break;
    case 2: upper = k == 0; break;
    case 3: upper = !prev_cased; break;
    default: upper = brr__template_u_islower(cp); break;
    }
    if (mode == 3) prev_cased = brr__template_u_iscased(cp);
    if (mode == 4 && !brr__template_u_isupper(cp) && !brr__template_u_islower(cp)) {
      out = cp;
    } else if (upper) {
      if (cp == 0xDF) { /* ß has no single upper-case letter: Python writes SS / Ss */
        brr__template_tbuf_adds(c, &b, mode == 2 || mode == 3 ? "Ss" : "SS");
        continue;
      }
      out = (mode == 2 || mode == 3) ? brr__template_u_totitle(cp) : brr__template_u_toupper(cp);
    } else {
      if (cp == 0x130) { /* İ lower-cases to i + combining dot */
        brr__template_tbuf_adds(c, &b, "i\xcc\x87");
        continue;
      }
      out = brr__template_u_tolower(cp);
    }
    char enc[4];
    brr__template_tbuf_add(c, &b, enc, brr__template_u8_encode(out, enc));
  }
  return brr__template_tbuf_str(c, &b);
}

/* ASCII text already in the wanted case needs no new string */
static bool ascii_without(tv s, char lo, char hi) {
  for (size_t i = 0; i < s.slen; i++) {
    char ch = s.u.str[i];
    if ((unsigned char)ch >= 0x80 || (ch >= lo && ch <= hi)) return false;
  }
  return true;
}

tv brr__template_u_upper(tctx *c, tv s) { return ascii_without(s, 'a', 'z') ? s : u_map(c, s, 0); }
tv brr__template_u_lower(tctx *c, tv s) { return ascii_without(s, 'A', 'Z') ? s : u_map(c, s, 1); }
tv brr__template_u_capitalize(tctx *c, tv s) { return u_map(c, s, 2); }
tv brr__template_u_pytitle(tctx *c, tv s) { return u_map(c, s, 3); }
tv brr__template_u_swapcase(tctx *c, tv s) { return u_map(c, s, 4); }
