/* Template lexer: Jinja2's default delimiters and rules (jinja2/lexer.py), so templates split
 * into exactly the tokens Jinja2 sees — including where `-` strips whitespace, how raw blocks
 * and comments end, and which errors the lexer itself raises. */
#include <string.h>

#include "internal.h"

typedef struct lexer {
  tctx *c;
  const char *s;
  size_t n, pos;
  unsigned line;
  size_t line_start; /* offset of the current line's first byte */
  ttok *v;
  size_t nt, cap;
  char bal[256]; /* expected closing brackets, as Jinja2's balancing stack */
  size_t nbal;
} lexer;

char *brr__template_tlex_prepare(tctx *c, const char *src, size_t len, size_t *outlen) {
  /* Jinja2 splits on \r\n, \r and \n, drops one trailing empty line and rejoins with \n */
  char *out = brr__template_talloc(c, len + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (src[i] == '\r') {
      out[o++] = '\n';
      if (i + 1 < len && src[i + 1] == '\n') i++;
    } else {
      out[o++] = src[i];
    }
  }
  if (o > 0 && out[o - 1] == '\n') o--;
  out[o] = '\0';
  *outlen = o;
  return out;
}

/* advance to `to`, keeping line/column bookkeeping */
static void lx_advance(lexer *L, size_t to) {
  for (size_t i = L->pos; i < to; i++)
    if (L->s[i] == '\n') {
      L->line++;
      L->line_start = i + 1;
    }
  L->pos = to;
}

static unsigned lx_col(const lexer *L, size_t pos) {
  /* columns count code points, as an editor shows them */
  return (unsigned)brr__template_u8_len(L->s + L->line_start, pos - L->line_start) + 1;
}

static ttok *lx_push(lexer *L, int type, size_t at) {
  if (L->nt == L->cap) {
    size_t ncap = L->cap ? L->cap * 2 : 64;
    L->v = brr__template_tgrow(L->c, L->v, L->cap * sizeof *L->v, ncap * sizeof *L->v);
    L->cap = ncap;
  }
  ttok *t = &L->v[L->nt++];
  memset(t, 0, sizeof *t);
  t->type = (uint8_t)type;
  t->line = L->line;
  t->col = lx_col(L, at);
  return t;
}

BRR_NORETURN static void lx_fail(lexer *L, const char *msg) { brr__template_terr_at(L->c, L->line, lx_col(L, L->pos), "%s", msg); }

/* Unicode whitespace (Python's \s and str.isspace) at byte i; returns its length or 0. */
static size_t ws_at(const char *s, size_t n, size_t i) {
  unsigned char ch = (unsigned char)s[i];
  if (ch < 0x80) return (ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f)) ? 1 : 0;
  uint32_t cp;
  size_t l = brr__template_u8_decode(s, n, i, &cp);
  return brr__template_u_isspace(cp) ? l : 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
  size_t l;
  while (i < n && (l = ws_at(s, n, i)) > 0) i += l;
  return i;
}

/* length of text[from, to) after Python's str.rstrip() */
static size_t rstrip_end(const char *s, size_t from, size_t to) {
  size_t start, end;
  brr__template_u_strip(s + from, to - from, false, true, &start, &end);
  return from + end;
}

static void lx_data(lexer *L, size_t from, size_t to) {
  if (to <= from) return;
  ttok *t = lx_push(L, TK_DATA, from);
  t->s = brr__template_tstrndup(L->c, L->s + from, to - from);
  t->n = to - from;
}

/* ---- tag contents ---- */

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* digits with single underscores between them: (\d+_)*\d+ ; returns the end or `i` */
static size_t digits_us(const char *s, size_t n, size_t i) {
  size_t p = i;
  if (p >= n || !is_digit(s[p])) return i;
  while (p < n) {
    while (p < n && is_digit(s[p])) p++;
    if (p + 1 < n && s[p] == '_' && is_digit(s[p + 1])) p++;
    else break;
  }
  return p;
}

/* Jinja2's float_re; returns the end offset or 0 when no float starts at i */
static size_t match_float(const char *s, size_t n, size_t i) {
  if (i > 0 && s[i - 1] == '.') return 0;
  size_t p = digits_us(s, n, i);
  if (p == i) return 0;
  size_t q = p;
  bool frac = false;
  if (q < n && s[q] == '.') {
    size_t r = digits_us(s, n, q + 1);
    if (r > q + 1) {
      q = r;
      frac = true;
    }
  }
  if (q < n && (s[q] == 'e' || s[q] == 'E')) {
    size_t r = q + 1;
    if (r < n && (s[r] == '+' || s[r] == '-')) r++;
    size_t e = digits_us(s, n, r);
    if (e > r) return e;
  }
  return frac ? q : 0;
}

static bool is_hex(char ch, int base) {
  if (base == 2) return ch == '0' || ch == '1';
  if (base == 8) return ch >= '0' && ch <= '7';
  if (base == 16) return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
  return is_digit(ch);
}

/* Jinja2's integer_re; returns the end offset (0: none) and the base */
static size_t match_int(const char *s, size_t n, size_t i, int *base) {
  if (i >= n || !is_digit(s[i])) return 0;
  if (s[i] == '0' && i + 1 < n && strchr("bBoOxX", s[i + 1])) {
    int b = (s[i + 1] | 0x20) == 'b' ? 2 : (s[i + 1] | 0x20) == 'o' ? 8 : 16;
    size_t p = i + 2;
    size_t last = 0;
    while (p < n) {
      if (is_hex(s[p], b)) last = ++p;
      else if (s[p] == '_' && p + 1 < n && is_hex(s[p + 1], b)) p++;
      else break;
    }
    if (last) {
      *base = b;
      return last;
    }
  }
  *base = 10;
  if (s[i] == '0') { /* 0(_?0)* */
    size_t p = i + 1;
    while (p < n && (s[p] == '0' || (s[p] == '_' && p + 1 < n && s[p + 1] == '0'))) p += s[p] == '_' ? 2 : 1;
    return p;
  }
  return digits_us(s, n, i);
}

static size_t match_name(const char *s, size_t n, size_t i) {
  size_t p = i;
  while (p < n) {
    unsigned char ch = (unsigned char)s[p];
    if (ch < 0x80) {
      if (ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit((char)ch)) p++;
      else break;
    } else {
      uint32_t cp;
      size_t l = brr__template_u8_decode(s, n, p, &cp);
      if (brr__template_u_isalnum(cp) || cp == 0xB7) p += l;
      else break;
    }
  }
  return p;
}

/* Decode a string literal's body the way Jinja2 does (Python's unicode-escape codec). */
static void decode_string(lexer *L, ttok *t, const char *b, size_t n) {
  tctx *c = L->c;
  char *out = brr__template_talloc(c, n * 4 + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (b[i] != '\\' || i + 1 >= n) {
      out[o++] = b[i];
      continue;
    }
    char e = b[++i];
    uint32_t cp = 0;
    int want = 0;
    switch (e) {
    case '\n': continue; /* line continuation */
    case '\\': out[o++] = '\\'; continue;
    case '\'': out[o++] = '\''; continue;
    case '"': out[o++] = '"'; continue;
    case 'a': out[o++] = '\a'; continue;
    case 'b': out[o++] = '\b'; continue;
    case 'f': out[o++] = '\f'; continue;
    case 'n': out[o++] = '\n'; continue;
    case 'r': out[o++] = '\r'; continue;
    case 't': out[o++] = '\t'; continue;
    case 'v': out[o++] = '\v'; continue;
    case 'x': want = 2; break;
    case 'u': want = 4; break;
    case 'U': want = 8; break;
    case 'N': brr__template_terr_at(c, t->line, t->col, "brr does not support \\N{...} escapes in strings");
    default:
      if (e >= '0' && e <= '7') {
        cp = (uint32_t)(e - '0');
        for (int k = 0; k < 2 && i + 1 < n && b[i + 1] >= '0' && b[i + 1] <= '7'; k++) cp = cp * 8 + (uint32_t)(b[++i] - '0');
        o += brr__template_u8_encode(cp, out + o);
        continue;
      }
      /* unknown escapes stay as they are */
      out[o++] = '\\';
      out[o++] = e;
      continue;
    }
    for (int k = 0; k < want; k++) {
      if (i + 1 >= n || !is_hex(b[i + 1], 16)) {
        static const char *const msgs[] = {"truncated \\xXX escape", "truncated \\uXXXX escape",
                                           "truncated \\UXXXXXXXX escape"};
        brr__template_terr_at(c, t->line, t->col, "%s", msgs[want == 2 ? 0 : want == 4 ? 1 : 2]);
      }
      char h = b[++i];
      cp = cp * 16 + (uint32_t)(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    if (cp > 0x10FFFF) brr__template_terr_at(c, t->line, t->col, "illegal Unicode character");
    if (cp >= 0xD800 && cp <= 0xDFFF) brr__template_terr_at(c, t->line, t->col, "brr does not support surrogate escapes in strings");
    o += brr__template_u8_encode(cp, out + o);
  }
  out[o] = '\0';
  t->s = out;
  t->n = o;
}

/* a string literal at i: returns its end or 0 when unterminated */
static size_t match_string(const char *s, size_t n, size_t i) {
  char q = s[i];
  for (size_t p = i + 1; p < n; p++) {
    if (s[p] == '\\') p++;
    else if (s[p] == q) return p + 1;
  }
  return 0;
}

typedef struct optab {
  const char *op;
  int tok;
} optab;

static const optab ops[] = {
    {"//", TK_FLOORDIV}, {"**", TK_POW}, {"==", TK_EQ}, {"!=", TK_NE}, {">=", TK_GTEQ},
    {"<=", TK_LTEQ},     {"+", TK_ADD},  {"-", TK_SUB}, {"/", TK_DIV}, {"*", TK_MUL},
    {"%", TK_MOD},       {"~", TK_TILDE}, {"[", TK_LBRACKET}, {"]", TK_RBRACKET},
    {"(", TK_LPAREN},    {")", TK_RPAREN}, {"{", TK_LBRACE}, {"}", TK_RBRACE}, {">", TK_GT},
    {"<", TK_LT},        {"=", TK_ASSIGN}, {".", TK_DOT}, {":", TK_COLON}, {"|", TK_PIPE},
    {",", TK_COMMA},     {";", TK_SEMICOLON},
};

static void lx_operator(lexer *L) {
  const char *s = L->s;
  for (size_t k = 0; k < BRR_ARRAY_LEN(ops); k++) {
    size_t ol = strlen(ops[k].op);
    if (L->pos + ol > L->n || memcmp(s + L->pos, ops[k].op, ol) != 0) continue;
    char ch = ops[k].op[0];
    if (ol == 1 && (ch == '{' || ch == '(' || ch == '[')) {
      if (L->nbal == sizeof L->bal) brr__template_terr_at(L->c, L->line, lx_col(L, L->pos), "brackets nested too deeply");
      L->bal[L->nbal++] = ch == '{' ? '}' : ch == '(' ? ')' : ']';
    } else if (ol == 1 && (ch == '}' || ch == ')' || ch == ']')) {
      if (L->nbal == 0) brr__template_terr_at(L->c, L->line, lx_col(L, L->pos), "unexpected '%c'", ch);
      char want = L->bal[--L->nbal];
      if (want != ch) brr__template_terr_at(L->c, L->line, lx_col(L, L->pos), "unexpected '%c', expected '%c'", ch, want);
    }
    lx_push(L, ops[k].tok, L->pos);
    lx_advance(L, L->pos + ol);
    return;
  }
  char ch[8] = {0};
  uint32_t cp;
  size_t l = brr__template_u8_decode(s, L->n, L->pos, &cp);
  memcpy(ch, s + L->pos, l);
  brr__template_terr_at(L->c, L->line, lx_col(L, L->pos), "unexpected char '%s' at %zu", ch, L->pos);
}

/* One token inside {{ }} or {% %}. Returns true when the tag ended. */
static bool lx_tag_token(lexer *L, bool block) {
  const char *s = L->s;
  size_t i = L->pos, n = L->n;
  if (L->nbal == 0) {
    /* the end rule comes first: "-%}" strips following whitespace, "+%}" is accepted */
    if (block) {
      if (i + 3 <= n && (s[i] == '-' || s[i] == '+') && s[i + 1] == '%' && s[i + 2] == '}') {
        lx_push(L, TK_BLOCK_END, i);
        lx_advance(L, s[i] == '-' ? skip_ws(s, n, i + 3) : i + 3);
        return true;
      }
      if (i + 2 <= n && s[i] == '%' && s[i + 1] == '}') {
        lx_push(L, TK_BLOCK_END, i);
        lx_advance(L, i + 2);
        return true;
      }
    } else {
      if (i + 3 <= n && s[i] == '-' && s[i + 1] == '}' && s[i + 2] == '}') {
        lx_push(L, TK_VAR_END, i);
        lx_advance(L, skip_ws(s, n, i + 3));
        return true;
      }
      if (i + 2 <= n && s[i] == '}' && s[i + 1] == '}') {
        lx_push(L, TK_VAR_END, i);
        lx_advance(L, i + 2);
        return true;
      }
    }
  }
  size_t e;
  int base = 10;
  if (ws_at(s, n, i)) {
    lx_advance(L, skip_ws(s, n, i));
  } else if ((e = match_float(s, n, i)) > 0) {
    ttok *t = lx_push(L, TK_FLOAT, i);
    char *tmp = brr__template_talloc(L->c, e - i + 1);
    size_t k = 0;
    for (size_t p = i; p < e; p++)
      if (s[p] != '_') tmp[k++] = s[p];
    brr__template_tv_parse_float(tmp, k, &t->f);
    lx_advance(L, e);
  } else if ((e = match_int(s, n, i, &base)) > 0) {
    ttok *t = lx_push(L, TK_INT, i);
    size_t skip = base == 10 ? 0 : 2;
    char *tmp = brr__template_talloc(L->c, e - i + 1);
    size_t k = 0;
    for (size_t p = i + skip; p < e; p++)
      if (s[p] != '_') tmp[k++] = s[p];
    bool ovf = false;
    if (!brr__template_tv_parse_int(tmp, k, base, &t->i, &ovf))
      brr__template_terr_at(L->c, t->line, t->col, "integer literal too large (brr integers are 64-bit)");
    lx_advance(L, e);
  } else if ((e = match_name(s, n, i)) > i) {
    ttok *t = lx_push(L, TK_NAME, i);
    t->s = brr__template_tstrndup(L->c, s + i, e - i);
    t->n = e - i;
    lx_advance(L, e);
  } else if ((s[i] == '\'' || s[i] == '"') && (e = match_string(s, n, i)) > 0) {
    ttok *t = lx_push(L, TK_STRING, i);
    decode_string(L, t, s + i + 1, e - i - 2);
    lx_advance(L, e);
  } else {
    lx_operator(L);
  }
  return false;
}

/* `{%(-|+|)\s*raw\s*(-%}\s*|%})` at i: returns the end or 0 */
static size_t match_raw_begin(const char *s, size_t n, size_t i) {
  size_t p = i + 2;
  if (p < n && (s[p] == '-' || s[p] == '+')) p++;
  p = skip_ws(s, n, p);
  if (p + 3 > n || memcmp(s + p, "raw", 3) != 0) return 0;
  p = skip_ws(s, n, p + 3);
  if (p + 3 <= n && s[p] == '-' && s[p + 1] == '%' && s[p + 2] == '}') return skip_ws(s, n, p + 3);
  if (p + 2 <= n && s[p] == '%' && s[p + 1] == '}') return p + 2;
  return 0;
}

/* the raw body up to `{%(-|+|)\s*endraw\s*(+%}|-%}\s*|%})` */
static void lx_raw(lexer *L) {
  const char *s = L->s;
  size_t n = L->n;
  for (size_t i = L->pos; i + 1 < n; i++) {
    if (s[i] != '{' || s[i + 1] != '%') continue;
    size_t p = i + 2;
    char sign = 0;
    if (p < n && (s[p] == '-' || s[p] == '+')) sign = s[p++];
    p = skip_ws(s, n, p);
    if (p + 6 > n || memcmp(s + p, "endraw", 6) != 0) continue;
    p = skip_ws(s, n, p + 6);
    size_t end;
    if (p + 3 <= n && s[p] == '+' && s[p + 1] == '%' && s[p + 2] == '}') end = p + 3;
    else if (p + 3 <= n && s[p] == '-' && s[p + 1] == '%' && s[p + 2] == '}') end = skip_ws(s, n, p + 3);
    else if (p + 2 <= n && s[p] == '%' && s[p + 1] == '}') end = p + 2;
    else continue;
    size_t text_end = sign == '-' ? rstrip_end(s, L->pos, i) : i;
    lx_data(L, L->pos, text_end);
    lx_advance(L, end);
    return;
  }
  lx_fail(L, "Missing end of raw directive");
}

static void lx_comment(lexer *L) {
  const char *s = L->s;
  size_t n = L->n;
  for (size_t i = L->pos; i + 1 < n; i++) {
    if ((s[i] == '+' || s[i] == '-') && i + 2 < n && s[i + 1] == '#' && s[i + 2] == '}') {
      lx_advance(L, s[i] == '-' ? skip_ws(s, n, i + 3) : i + 3);
      return;
    }
    if (s[i] == '#' && s[i + 1] == '}') {
      lx_advance(L, i + 2);
      return;
    }
  }
  lx_fail(L, "Missing end of comment tag");
}

ttok *brr__template_tlex(tctx *c, const char *src, size_t len, size_t *ntok) {
  lexer L = {.c = c, .s = src, .n = len, .line = 1};
  while (L.pos < L.n) {
    /* the next {{, {% or {# */
    size_t i = L.pos;
    const char *hit = NULL;
    while (i + 1 < L.n) {
      const char *b = memchr(src + i, '{', L.n - i - 1);
      if (!b) break;
      size_t k = (size_t)(b - src);
      if (src[k + 1] == '{' || src[k + 1] == '%' || src[k + 1] == '#') {
        hit = b;
        break;
      }
      i = k + 1;
    }
    if (!hit) {
      lx_data(&L, L.pos, L.n);
      lx_advance(&L, L.n);
      break;
    }
    size_t at = (size_t)(hit - src);
    char kind = src[at + 1];
    size_t raw_end = kind == '%' ? match_raw_begin(src, L.n, at) : 0;
    char sign = at + 2 < L.n && (src[at + 2] == '-' || src[at + 2] == '+') ? src[at + 2] : 0;
    size_t text_end = sign == '-' ? rstrip_end(src, L.pos, at) : at;
    lx_data(&L, L.pos, text_end);
    lx_advance(&L, at);
    if (raw_end) {
      lx_advance(&L, raw_end);
      lx_raw(&L);
      continue;
    }
    if (kind == '#') {
      lx_advance(&L, at + 2 + (sign ? 1 : 0));
      lx_comment(&L);
      continue;
    }
    bool block = kind == '%';
    lx_push(&L, block ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, at);
    lx_advance(&L, at + 2 + (sign ? 1 : 0));
    while (L.pos < L.n)
      if (lx_tag_token(&L, block)) break;
  }
  /* Jinja2 reports the end of the template on the line of its last token */
  unsigned last_line = L.nt ? L.v[L.nt - 1].line : 1, last_col = L.nt ? L.v[L.nt - 1].col : 1;
  ttok *t = lx_push(&L, TK_EOF, L.pos);
  t->line = last_line;
  t->col = last_col;
  *ntok = L.nt;
  return L.v;
}

const char *brr__template_ttok_describe(const ttok *t) {
  static const char *const names[] = {
      [TK_EOF] = "end of template", [TK_DATA] = "template data / text",
      [TK_VAR_BEGIN] = "begin of print statement", [TK_VAR_END] = "end of print statement",
      [TK_BLOCK_BEGIN] = "begin of statement block", [TK_BLOCK_END] = "end of statement block",
      [TK_NAME] = "name", [TK_STRING] = "string", [TK_INT] = "integer", [TK_FLOAT] = "float",
      [TK_ADD] = "+", [TK_SUB] = "-", [TK_DIV] = "/", [TK_FLOORDIV] = "//", [TK_MUL] = "*",
      [TK_MOD] = "%", [TK_POW] = "**", [TK_TILDE] = "~", [TK_LBRACKET] = "[",
      [TK_RBRACKET] = "]", [TK_LPAREN] = "(", [TK_RPAREN] = ")", [TK_LBRACE] = "{",
      [TK_RBRACE] = "}", [TK_EQ] = "==", [TK_NE] = "!=", [TK_GT] = ">", [TK_GTEQ] = ">=",
      [TK_LT] = "<", [TK_LTEQ] = "<=", [TK_ASSIGN] = "=", [TK_DOT] = ".", [TK_COLON] = ":",
      [TK_PIPE] = "|", [TK_COMMA] = ",", [TK_SEMICOLON] = ";",
  };
  if (t->type == TK_NAME) return t->s;
  return names[t->type];
}
