/* Reading a Dockerfile for the images it uses, so that a step building FROM another step's
 * image waits for it. Only what decides which images are named is modelled: parser
 * directives (escape), continuations, comments, heredocs (whose bodies must not be read as
 * instructions), global ARGs with their defaults, FROM stages and COPY --from. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "brr/graph.h"

typedef struct var {
  const char *name;
  const char *value;
} var;

typedef struct scan {
  brr_arena *a;
  char esc;
  const brr_build_arg *args;
  size_t n_args;
  var *vars;                 /* global ARGs that have a value */
  size_t n_vars, cap_vars;
  char **stages;             /* stage names so far, lower-cased */
  size_t n_stages, cap_stages;
  brr_dockerfile_image *out;
  size_t n_out, cap_out;
  bool seen_from;
} scan;

static const char *lookup(const scan *s, const char *name, size_t n) {
  for (size_t i = s->n_vars; i > 0; i--)
    if (strlen(s->vars[i - 1].name) == n && memcmp(s->vars[i - 1].name, name, n) == 0)
      return s->vars[i - 1].value;
  return NULL;
}

static const char *build_arg(const scan *s, const char *name) {
  for (size_t i = 0; i < s->n_args; i++)
    if (s->args[i].name && strcmp(s->args[i].name, name) == 0) return s->args[i].value;
  return NULL;
}

static void expand_into(const scan *s, const char *p, size_t n, brr_buf *out);

/* One `$NAME` or `${NAME[:-+]word}` at p[0] == '$'; returns the bytes consumed. */
static size_t expand_var(const scan *s, const char *p, size_t n, brr_buf *out) {
  if (n >= 2 && p[1] == '{') {
    size_t depth = 1, j = 2;
    while (j < n && depth) {
      if (p[j] == '{') depth++;
      else if (p[j] == '}') depth--;
      if (depth) j++;
    }
    if (j >= n) { /* unterminated: keep it literally, as there is nothing to substitute */
      brr_buf_append(out, p, n);
      return n;
    }
    size_t k = 2;
    while (k < j && (isalnum((unsigned char)p[k]) || p[k] == '_')) k++;
    const char *val = lookup(s, p + 2, k - 2);
    bool colon = k < j && p[k] == ':';
    size_t m = colon ? k + 1 : k;
    char op = m < j ? p[m] : 0;
    if (op == '-' || op == '+') {
      bool have = val && (!colon || *val);
      const char *w = p + m + 1;
      size_t wn = j - m - 1;
      if (op == '-') {
        if (have) brr_buf_puts(out, val);
        else expand_into(s, w, wn, out);
      } else if (have) {
        expand_into(s, w, wn, out);
      }
    } else if (val) {
      brr_buf_puts(out, val);
    }
    return j + 1;
  }
  size_t k = 1;
  if (k < n && (isalpha((unsigned char)p[k]) || p[k] == '_'))
    while (k < n && (isalnum((unsigned char)p[k]) || p[k] == '_')) k++;
  if (k == 1) {
    brr_buf_putc(out, '$');
    return 1;
  }
  const char *val = lookup(s, p + 1, k - 1);
  if (val) brr_buf_puts(out, val);
  return k;
}

/* Word expansion as Docker's shell lexer does it for instruction arguments: quotes are
 * removed, single quotes are literal, the escape character protects the next byte. */
static void expand_into(const scan *s, const char *p, size_t n, brr_buf *out) {
  char quote = 0;
  for (size_t i = 0; i < n;) {
    char c = p[i];
    if (!quote && (c == '\'' || c == '"')) {
      quote = c;
      i++;
    } else if (quote && c == quote) {
      quote = 0;
      i++;
    } else if (quote == '\'') {
      brr_buf_putc(out, c);
      i++;
    } else if (c == s->esc && i + 1 < n) {
      brr_buf_putc(out, p[i + 1]);
      i += 2;
    } else if (c == '$') {
      i += expand_var(s, p + i, n - i, out);
    } else {
      brr_buf_putc(out, c);
      i++;
    }
  }
}

static char *expand(const scan *s, const char *p, size_t n) {
  brr_buf b = BRR_BUF_INIT;
  expand_into(s, p, n, &b);
  char *r = brr_arena_strndup(s->a, brr_buf_cstr(&b), b.len);
  brr_buf_free(&b);
  return r;
}

/* Next whitespace-separated word (quotes keep spaces inside a word); NULL at the end. */
static const char *next_word(const char **pp, const char *end, size_t *len) {
  const char *p = *pp;
  while (p < end && isspace((unsigned char)*p)) p++;
  if (p >= end) return NULL;
  const char *w = p;
  char quote = 0;
  while (p < end && (quote || !isspace((unsigned char)*p))) {
    if (quote && *p == quote) quote = 0;
    else if (!quote && (*p == '"' || *p == '\'')) quote = *p;
    p++;
  }
  *len = (size_t)(p - w);
  *pp = p;
  return w;
}

static bool is_stage(const scan *s, const char *name) {
  if (strcasecmp(name, "scratch") == 0) return true;
  for (size_t i = 0; i < s->n_stages; i++)
    if (strcasecmp(s->stages[i], name) == 0) return true;
  return false;
}

static void emit(scan *s, const char *ref, unsigned line, bool copy_from) {
  brr_dockerfile_image im = {ref, line, copy_from};
  BRR_VEC_PUSH(s->out, s->n_out, s->cap_out, im);
}

static void do_arg(scan *s, const char *p, const char *end) {
  const char *w;
  size_t n;
  while ((w = next_word(&p, end, &n))) {
    const char *eq = memchr(w, '=', n);
    char *name = brr_arena_strndup(s->a, w, eq ? (size_t)(eq - w) : n);
    const char *val = build_arg(s, name);
    if (!val && eq) val = expand(s, eq + 1, n - (size_t)(eq + 1 - w));
    if (!val) continue; /* declared without a value: stays unset */
    var v = {name, val};
    BRR_VEC_PUSH(s->vars, s->n_vars, s->cap_vars, v);
  }
}

static void do_from(scan *s, const char *p, const char *end, unsigned line) {
  const char *w, *image = NULL;
  size_t n, image_n = 0;
  while ((w = next_word(&p, end, &n))) {
    if (n >= 2 && w[0] == '-' && w[1] == '-') continue;
    image = w;
    image_n = n;
    break;
  }
  if (!image) return;
  char *ref = expand(s, image, image_n);
  if (*ref && !is_stage(s, ref)) emit(s, ref, line, false);
  if ((w = next_word(&p, end, &n)) && n == 2 && strncasecmp(w, "as", 2) == 0 &&
      (w = next_word(&p, end, &n))) {
    char *stage = expand(s, w, n);
    BRR_VEC_PUSH(s->stages, s->n_stages, s->cap_stages, stage);
  }
}

static void do_copy(scan *s, const char *p, const char *end, unsigned line) {
  const char *w;
  size_t n;
  while ((w = next_word(&p, end, &n))) {
    if (n < 2 || w[0] != '-' || w[1] != '-') break;
    if (n > 7 && strncmp(w, "--from=", 7) == 0) {
      char *from = expand(s, w + 7, n - 7);
      bool index = *from != 0;
      for (const char *c = from; *c; c++) index &= isdigit((unsigned char)*c) != 0;
      if (*from && !index && !is_stage(s, from)) emit(s, from, line, true);
    }
  }
}

/* Heredoc terminators a RUN/COPY/ADD line opens, in order (`<<EOF`, `<<-"EOF"`). */
typedef struct heredoc {
  char word[64];
  bool strip_tabs;
} heredoc;

static size_t find_heredocs(const char *p, const char *end, heredoc *hd, size_t max) {
  size_t n = 0;
  for (; p + 2 < end && n < max; p++) {
    if (p[0] != '<' || p[1] != '<' || p[2] == '<') continue;
    const char *q = p + 2;
    bool strip = false;
    if (q < end && *q == '-') {
      strip = true;
      q++;
    }
    char quote = 0;
    if (q < end && (*q == '"' || *q == '\'')) quote = *q++;
    const char *w = q;
    while (q < end && (isalnum((unsigned char)*q) || *q == '_')) q++;
    size_t wn = (size_t)(q - w);
    if (wn == 0 || wn >= sizeof hd[n].word || (quote && (q >= end || *q != quote))) continue;
    memcpy(hd[n].word, w, wn);
    hd[n].word[wn] = 0;
    hd[n].strip_tabs = strip;
    n++;
    p = q;
  }
  return n;
}

static bool keyword_is(const char *p, size_t n, const char *kw) {
  return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

/* One instruction (continuations joined). Returns how many heredocs it opens. */
static size_t instruction(scan *s, const char *p, size_t len, unsigned line, heredoc *hd,
                          size_t max_hd) {
  const char *end = p + len;
  while (p < end && isspace((unsigned char)*p)) p++;
  const char *kw = p;
  while (p < end && !isspace((unsigned char)*p)) p++;
  size_t kn = (size_t)(p - kw);
  if (keyword_is(kw, kn, "ARG")) {
    if (!s->seen_from) do_arg(s, p, end);
  } else if (keyword_is(kw, kn, "FROM")) {
    s->seen_from = true;
    do_from(s, p, end, line);
  } else if (keyword_is(kw, kn, "COPY")) {
    do_copy(s, p, end, line);
  }
  if (keyword_is(kw, kn, "RUN") || keyword_is(kw, kn, "COPY") || keyword_is(kw, kn, "ADD"))
    return find_heredocs(p, end, hd, max_hd);
  return 0;
}

/* `# escape=`` ` and friends: only before the first instruction, blank line or comment. */
static bool directive(scan *s, const char *p, size_t n) {
  const char *end = p + n;
  while (p < end && isspace((unsigned char)*p)) p++;
  if (p >= end || *p != '#') return false;
  p++;
  while (p < end && isspace((unsigned char)*p)) p++;
  const char *k = p;
  while (p < end && (isalnum((unsigned char)*p) || *p == '_')) p++;
  size_t kn = (size_t)(p - k);
  while (p < end && isspace((unsigned char)*p)) p++;
  if (kn == 0 || p >= end || *p != '=') return false;
  p++;
  while (p < end && isspace((unsigned char)*p)) p++;
  if (kn == 6 && strncasecmp(k, "escape", 6) == 0 && p < end && (*p == '`' || *p == '\\'))
    s->esc = *p;
  return true;
}

size_t brr_dockerfile_images(const char *text, size_t len, const brr_build_arg *args,
                             size_t n_args, brr_arena *a, brr_dockerfile_image **out) {
  scan s = {.a = a, .esc = '\\', .args = args, .n_args = n_args};
  brr_buf logical = BRR_BUF_INIT;
  bool in_directives = true, in_cont = false;
  unsigned lineno = 0, start = 0;
  heredoc hd[8];
  size_t n_hd = 0, hd_at = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *next = nl ? nl + 1 : end;
    lineno++;
    if (le > p && le[-1] == '\r') le--;
    size_t n = (size_t)(le - p);
    if (hd_at < n_hd) { /* inside a heredoc body: only its terminator matters */
      const char *q = p;
      if (hd[hd_at].strip_tabs)
        while (q < le && *q == '\t') q++;
      if ((size_t)(le - q) == strlen(hd[hd_at].word) && memcmp(q, hd[hd_at].word, (size_t)(le - q)) == 0)
        hd_at++;
      p = next;
      continue;
    }
    if (in_directives && directive(&s, p, n)) {
      p = next;
      continue;
    }
    in_directives = false;
    const char *q = p;
    while (q < le && isspace((unsigned char)*q)) q++;
    if (q == le || *q == '#') { /* blank and comment lines vanish, even inside continuations */
      p = next;
      continue;
    }
    if (!in_cont) {
      brr_buf_reset(&logical);
      start = lineno;
    }
    const char *t = le;
    while (t > p && isspace((unsigned char)t[-1])) t--;
    if (t > p && t[-1] == s.esc) {
      brr_buf_append(&logical, p, (size_t)(t - 1 - p));
      in_cont = true;
    } else {
      brr_buf_append(&logical, p, n);
      in_cont = false;
      n_hd = instruction(&s, brr_buf_cstr(&logical), logical.len, start, hd, BRR_ARRAY_LEN(hd));
      hd_at = 0;
    }
    p = next;
  }
  if (in_cont && logical.len)
    instruction(&s, brr_buf_cstr(&logical), logical.len, start, hd, BRR_ARRAY_LEN(hd));
  brr_buf_free(&logical);
  brr_dockerfile_image *res = brr_arena_alloc(a, (s.n_out ? s.n_out : 1) * sizeof *res);
  if (s.n_out) memcpy(res, s.out, s.n_out * sizeof *res);
  free(s.out);
  free(s.vars);
  free(s.stages);
  *out = res;
  return s.n_out;
}
