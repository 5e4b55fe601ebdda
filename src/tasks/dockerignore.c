/* .dockerignore as docker's build client applies it: the reading rules of
 * moby/buildkit's dockerignore.ReadAll and the matching of moby/patternmatcher (each pattern
 * compiled to a regular expression, with its exact/prefix/suffix shortcuts, which are part of
 * the observable behaviour: `**foo` is a plain suffix test). The regular expressions run on
 * PCRE2 with Go's anchoring (`$` only at the very end). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "brr/tasks_files.h"

#include <stdlib.h>
#include <string.h>

typedef enum { MATCH_EXACT, MATCH_PREFIX, MATCH_SUFFIX, MATCH_REGEXP } match_type;

typedef struct di_pattern {
  char *cleaned;          /* the cleaned pattern without its `!` */
  bool exclusion;         /* a `!` exception */
  match_type type;
  pcre2_code *re;         /* MATCH_REGEXP only */
  pcre2_match_data *md;
} di_pattern;

struct brr_dockerignore {
  di_pattern *v;
  size_t n, cap;
  bool exclusions;        /* at least one `!` pattern */
};

static bool is_go_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static char *trim_space(const char *s, size_t len) {
  while (len && is_go_space(*s)) s++, len--;
  while (len && is_go_space(s[len - 1])) len--;
  return brr_xstrndup(s, len);
}

/* One class character as Go's getEsc reads it: not `-` or `]`, maybe escaped, and something
 * must follow it. Returns the rest, or NULL when the pattern is malformed. */
static const char *go_class_char(const char *p) {
  if (!*p || *p == '-' || *p == ']') return NULL;
  if (*p == '\\' && !*++p) return NULL;
  p++;
  while ((*p & 0xC0) == 0x80) p++;  /* the rest of a UTF-8 sequence */
  return *p ? p : NULL;
}

/* Go's filepath.Match reports a malformed pattern; docker refuses the whole file then.
 * Mirrors its checks: a trailing `\`, an unterminated or empty class, a range without end. */
static bool go_pattern_valid(const char *p) {
  while (*p) {
    if (*p == '\\') {
      if (!p[1]) return false;
      p += 2;
      continue;
    }
    if (*p++ != '[') continue;
    if (*p == '^') p++;
    for (int nrange = 0;; nrange++) {
      if (*p == ']' && nrange > 0) {
        p++;
        break;
      }
      if (!(p = go_class_char(p))) return false;
      if (*p == '-' && !(p = go_class_char(p + 1))) return false;
    }
  }
  return true;
}

/* patternmatcher's compile: the regular expression and the shortcut type. */
static int compile_pattern(di_pattern *pat) {
  const char *s = pat->cleaned;
  brr_buf re = BRR_BUF_INIT;
  brr_buf_putc(&re, '^');
  match_type type = MATCH_EXACT;
  for (size_t i = 0; *s; i++) {
    char ch = *s++;
    if (ch == '*' && *s == '*') {
      s++;
      if (*s == '/') s++;  /* a slash right after the double star is eaten */
      if (!*s) {
        /* `**` at the end accepts everything below, as .gitignore does */
        if (type == MATCH_EXACT) {
          type = MATCH_PREFIX;
        } else {
          brr_buf_puts(&re, ".*");
          type = MATCH_REGEXP;
        }
      } else {
        brr_buf_puts(&re, "(.*/)?");
        type = MATCH_REGEXP;
      }
      if (i == 0) type = MATCH_SUFFIX;
    } else if (ch == '*') {
      brr_buf_puts(&re, "[^/]*");
      type = MATCH_REGEXP;
    } else if (ch == '?') {
      brr_buf_puts(&re, "[^/]");
      type = MATCH_REGEXP;
    } else if (strchr(".+()|{}$", ch)) {
      brr_buf_putc(&re, '\\');
      brr_buf_putc(&re, ch);
    } else if (ch == '\\') {
      brr_buf_putc(&re, '\\');
      if (*s) {
        brr_buf_putc(&re, *s++);
        type = MATCH_REGEXP;
      }
    } else if (ch == '[' || ch == ']') {
      brr_buf_putc(&re, ch);
      type = MATCH_REGEXP;
    } else {
      brr_buf_putc(&re, ch);
    }
  }
  pat->type = type;
  int rc = 0;
  if (type == MATCH_REGEXP) {
    brr_buf_putc(&re, '$');
    int err;
    PCRE2_SIZE off;
    pat->re = pcre2_compile((PCRE2_SPTR)re.data, re.len,
                            PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err, &off,
                            NULL);
    if (pat->re) pat->md = pcre2_match_data_create_from_pattern(pat->re, NULL);
    else rc = -1;
  }
  brr_buf_free(&re);
  return rc;
}

static bool pattern_match(const di_pattern *pat, const char *path, size_t len) {
  const char *c = pat->cleaned;
  size_t clen = strlen(c);
  switch (pat->type) {
  case MATCH_EXACT: return len == clen && !memcmp(path, c, len);
  case MATCH_PREFIX: return len >= clen - 2 && !memcmp(path, c, clen - 2);
  case MATCH_SUFFIX: {
    const char *suffix = c + 2;
    size_t slen = clen - 2;
    if (len >= slen && !memcmp(path + len - slen, suffix, slen)) return true;
    /* "**" + "/foo" also matches "foo" itself */
    return slen > 0 && suffix[0] == '/' && len == slen - 1 && !memcmp(path, suffix + 1, len);
  }
  case MATCH_REGEXP:
    return pcre2_match(pat->re, (PCRE2_SPTR)path, len, 0, 0, pat->md, NULL) >= 0;
  }
  return false;
}

/* patternmatcher.New for one pattern; false when the pattern is invalid. */
static bool add_pattern(brr_dockerignore *di, const char *raw) {
  char *trimmed = trim_space(raw, strlen(raw));
  if (!*trimmed) {
    free(trimmed);
    return true;
  }
  char *p = brr_path_normalize(trimmed);
  free(trimmed);
  di_pattern pat = {0};
  const char *body = p;
  if (p[0] == '!') {
    if (!p[1]) {
      free(p);
      return false;
    }
    pat.exclusion = true;
    body = p + 1;
  }
  if (!go_pattern_valid(body)) {
    free(p);
    return false;
  }
  pat.cleaned = brr_xstrdup(body);
  free(p);
  if (compile_pattern(&pat) != 0) {
    free(pat.cleaned);
    return false;
  }
  if (pat.exclusion) di->exclusions = true;
  BRR_VEC_PUSH(di->v, di->n, di->cap, pat);
  return true;
}

/* dockerignore.ReadAll for one line; returns the pattern to hand to New, or NULL to skip. */
static char *read_line(const char *line, size_t len) {
  if (len && line[0] == '#') return NULL;
  char *p = trim_space(line, len);
  if (!*p) {
    free(p);
    return NULL;
  }
  bool invert = p[0] == '!';
  char *body = invert ? trim_space(p + 1, strlen(p + 1)) : brr_xstrdup(p);
  free(p);
  if (*body) {
    char *clean = brr_path_normalize(body);
    free(body);
    body = clean;
    if (strlen(body) > 1 && body[0] == '/') memmove(body, body + 1, strlen(body));
  }
  char *out = brr_xasprintf("%s%s", invert ? "!" : "", body);
  free(body);
  return out;
}

brr_dockerignore *brr_dockerignore_parse(const char *text, size_t len, const char *file,
                                         brr_diags *d) {
  brr_dockerignore *di = brr_xcalloc(1, sizeof *di);
  const char *p = text, *end = text + len;
  if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
  for (unsigned line = 1; p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (n && p[n - 1] == '\r') n--;  /* bufio.ScanLines drops a CR before the LF */
    char *pattern = read_line(p, n);
    if (pattern && !add_pattern(di, pattern)) {
      brr_mark at = {file, line, 1};
      brr_diag_error(d, at, NULL,
                     "invalid .dockerignore pattern \"%.*s\" (syntax error in pattern)", (int)n, p);
      free(pattern);
      brr_dockerignore_free(di);
      return NULL;
    }
    free(pattern);
    p = nl ? nl + 1 : end;
  }
  return di;
}

bool brr_dockerignore_excluded(const brr_dockerignore *di, const char *relpath) {
  if (!di) return false;
  size_t len = strlen(relpath);
  /* the parent directories "a", "a/b" of "a/b/c", shortest first */
  const char *last = strrchr(relpath, '/');
  bool matched = false;
  for (size_t i = 0; i < di->n; i++) {
    const di_pattern *pat = &di->v[i];
    if (pat->exclusion != matched) continue;
    bool m = pattern_match(pat, relpath, len);
    for (const char *s = relpath; !m && last && s <= last; s++) {
      if (*s == '/' && s > relpath) m = pattern_match(pat, relpath, (size_t)(s - relpath));
    }
    if (m) matched = !pat->exclusion;
  }
  return matched;
}

bool brr_dockerignore_descend(const brr_dockerignore *di, const char *reldir) {
  if (!di || !di->exclusions) return false;
  size_t n = strlen(reldir);
  for (size_t i = 0; i < di->n; i++) {
    const di_pattern *pat = &di->v[i];
    if (!pat->exclusion) continue;
    /* HasPrefix(pattern + "/", dir + "/") */
    size_t plen = strlen(pat->cleaned);
    if (plen >= n && !memcmp(pat->cleaned, reldir, n) && (plen == n || pat->cleaned[n] == '/'))
      return true;
  }
  return false;
}

void brr_dockerignore_keep(brr_dockerignore *di, const char *path) {
  if (!di || !brr_dockerignore_excluded(di, path)) return;
  char *p = brr_xasprintf("!%s", path);
  add_pattern(di, p);
  free(p);
}

void brr_dockerignore_free(brr_dockerignore *di) {
  if (!di) return;
  for (size_t i = 0; i < di->n; i++) {
    free(di->v[i].cleaned);
    if (di->v[i].md) pcre2_match_data_free(di->v[i].md);
    if (di->v[i].re) pcre2_code_free(di->v[i].re);
  }
  free(di->v);
  free(di);
}
