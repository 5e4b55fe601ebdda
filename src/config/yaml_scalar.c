/* Plain-scalar typing as PyYAML's YAML 1.1 resolver does it, and the constructors PyYAML runs
 * for the core tags. The patterns are PyYAML's own (resolver.py), compiled with PCRE2 once;
 * candidates are picked by the first character, in PyYAML's registration order, so the first
 * pattern that matches wins exactly as it does there. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_scalar.h"

static const char *const PATTERNS[BRR_YTAG_COUNT] = {
    [BRR_YTAG_BOOL] = "^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    [BRR_YTAG_FLOAT] = "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?"
                       "|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
                       "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*"
                       "|[-+]?\\.(?:inf|Inf|INF)"
                       "|\\.(?:nan|NaN|NAN))$",
    [BRR_YTAG_INT] = "^(?:[-+]?0b[0-1_]+"
                     "|[-+]?0[0-7_]+"
                     "|[-+]?(?:0|[1-9][0-9_]*)"
                     "|[-+]?0x[0-9a-fA-F_]+"
                     "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    [BRR_YTAG_MERGE] = "^(?:<<)$",
    [BRR_YTAG_NULL] = "^(?:~|null|Null|NULL|)$",
    [BRR_YTAG_TIMESTAMP] = "^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
                           "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
                           "(?:[Tt]|[ \\t]+)[0-9][0-9]?"
                           ":[0-9][0-9]:[0-9][0-9](?:\\.[0-9]*)?"
                           "(?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
    [BRR_YTAG_VALUE] = "^(?:=)$",
};

static pcre2_code *compiled[BRR_YTAG_COUNT];
static pthread_once_t compile_once = PTHREAD_ONCE_INIT;

static void compile_patterns(void) {
  for (int t = 0; t < BRR_YTAG_COUNT; t++) {
    if (!PATTERNS[t]) continue;
    int err;
    PCRE2_SIZE off;
    compiled[t] = pcre2_compile((PCRE2_SPTR)PATTERNS[t], PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!compiled[t]) abort(); /* the patterns are constants: failing here is a build defect */
    pcre2_jit_compile(compiled[t], PCRE2_JIT_COMPLETE);
  }
}

brr_yscalar_ctx *brr_yscalar_ctx_new(void) {
  pthread_once(&compile_once, compile_patterns);
  pcre2_match_data *md = pcre2_match_data_create(4, NULL);
  if (!md) abort();
  return (brr_yscalar_ctx *)md;
}

void brr_yscalar_ctx_free(brr_yscalar_ctx *ctx) { pcre2_match_data_free((pcre2_match_data *)ctx); }

static bool matches(brr_yscalar_ctx *ctx, brr_ytag t, const char *s, size_t n) {
  return pcre2_match(compiled[t], (PCRE2_SPTR)s, n, 0, 0, (pcre2_match_data *)ctx, NULL) >= 0;
}

brr_ytag brr_yscalar_resolve(brr_yscalar_ctx *ctx, const char *s, size_t n) {
  /* PyYAML's resolver table, keyed by first character, in registration order */
  static const brr_ytag digits[] = {BRR_YTAG_FLOAT, BRR_YTAG_INT, BRR_YTAG_TIMESTAMP};
  static const brr_ytag sign[] = {BRR_YTAG_FLOAT, BRR_YTAG_INT};
  static const brr_ytag dot[] = {BRR_YTAG_FLOAT};
  static const brr_ytag boolean[] = {BRR_YTAG_BOOL};
  static const brr_ytag nul[] = {BRR_YTAG_NULL};
  static const brr_ytag nbool[] = {BRR_YTAG_BOOL, BRR_YTAG_NULL};
  static const brr_ytag merge[] = {BRR_YTAG_MERGE};
  static const brr_ytag value[] = {BRR_YTAG_VALUE};
  if (n == 0) return BRR_YTAG_NULL;
  const brr_ytag *cand = NULL;
  size_t k = 0;
  switch (s[0]) {
  case '0': case '1': case '2': case '3': case '4':
  case '5': case '6': case '7': case '8': case '9': cand = digits; k = 3; break;
  case '-': case '+': cand = sign; k = 2; break;
  case '.': cand = dot; k = 1; break;
  case 'y': case 'Y': case 't': case 'T': case 'f': case 'F': case 'o': case 'O':
    cand = boolean; k = 1; break;
  case 'n': case 'N': cand = nbool; k = 2; break;
  case '~': cand = nul; k = 1; break;
  case '<': cand = merge; k = 1; break;
  case '=': cand = value; k = 1; break;
  default: return BRR_YTAG_STR;
  }
  /* no resolver pattern matches a string with a NUL in it */
  if (memchr(s, '\0', n)) return BRR_YTAG_STR;
  for (size_t i = 0; i < k; i++)
    if (matches(ctx, cand[i], s, n)) return cand[i];
  return BRR_YTAG_STR;
}

brr_ytag brr_yscalar_tag_from_name(const char *tag) {
  static const struct { const char *name; brr_ytag t; } names[] = {
      {"str", BRR_YTAG_STR}, {"int", BRR_YTAG_INT}, {"float", BRR_YTAG_FLOAT},
      {"bool", BRR_YTAG_BOOL}, {"null", BRR_YTAG_NULL}, {"timestamp", BRR_YTAG_TIMESTAMP},
      {"binary", BRR_YTAG_BINARY}, {"merge", BRR_YTAG_MERGE}, {"value", BRR_YTAG_VALUE},
  };
  static const char prefix[] = "tag:yaml.org,2002:";
  if (strncmp(tag, prefix, sizeof prefix - 1) != 0) return BRR_YTAG_UNKNOWN;
  tag += sizeof prefix - 1;
  for (size_t i = 0; i < BRR_ARRAY_LEN(names); i++)
    if (strcmp(tag, names[i].name) == 0) return names[i].t;
  return BRR_YTAG_UNKNOWN;
}

/* The text without underscores (PyYAML strips them before converting numbers). */
static char *strip_underscores(const char *s, size_t n) {
  char *out = brr_xmalloc(n + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != '_') out[k++] = s[i];
  out[k] = '\0';
  return out;
}

enum { UINT_OK, UINT_INVALID, UINT_OVERFLOW };

/* Python int(s, base) for s without sign. */
static int parse_uint(const char *s, int base, uint64_t *out) {
  if (!*s) return UINT_INVALID;
  uint64_t v = 0;
  bool overflow = false;
  for (; *s; s++) {
    int d;
    if (*s >= '0' && *s <= '9') d = *s - '0';
    else if (*s >= 'a' && *s <= 'z') d = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'Z') d = *s - 'A' + 10;
    else return UINT_INVALID;
    if (d >= base) return UINT_INVALID;
    if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) overflow = true;
    v = v * (uint64_t)base + (uint64_t)d;
  }
  *out = v;
  return overflow ? UINT_OVERFLOW : UINT_OK;
}

const char *brr_yscalar_int(const char *s, size_t n, int64_t *out) {
  char *v = strip_underscores(s, n);
  const char *p = v;
  int sign = 1;
  if (*p == '-') sign = -1;
  if (*p == '-' || *p == '+') p++;
  uint64_t mag = 0;
  int st;
  if (strcmp(p, "0") == 0) {
    st = UINT_OK;
  } else if (strncmp(p, "0b", 2) == 0) {
    st = parse_uint(p + 2, 2, &mag);
  } else if (strncmp(p, "0x", 2) == 0) {
    st = parse_uint(p + 2, 16, &mag);
  } else if (p[0] == '0') {
    /* Python's int(x, 8) also takes an 0o prefix, so `!!int 0o17` is 15 */
    st = parse_uint(p + ((p[1] == 'o' || p[1] == 'O') ? 2 : 0), 8, &mag);
  } else if (strchr(p, ':')) {
    st = UINT_OK;
    char **parts = brr_split(p, ':', NULL);
    for (size_t i = 0; parts[i] && st == UINT_OK; i++) {
      uint64_t d;
      st = parse_uint(parts[i], 10, &d);
      if (st == UINT_OK && mag > (UINT64_MAX - d) / 60) st = UINT_OVERFLOW;
      if (st == UINT_OK) mag = mag * 60 + d;
    }
    brr_strv_free(parts);
  } else {
    st = parse_uint(p, 10, &mag);
  }
  free(v);
  if (st == UINT_INVALID) return "invalid integer";
  if (st == UINT_OVERFLOW || (sign > 0 ? mag > (uint64_t)INT64_MAX : mag > (uint64_t)INT64_MAX + 1))
    return "integer out of range (brr keeps 64-bit integers)";
  *out = sign > 0 ? (int64_t)mag : (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag);
  return NULL;
}

static bool parse_double(const char *s, double *out) {
  /* Python's float() takes neither hex nor an empty string */
  if (!*s || strpbrk(s, "xX")) return false;
  while (isspace((unsigned char)*s)) s++;
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  while (isspace((unsigned char)*end)) end++;
  if (end == s || *end) return false;
  *out = d;
  return true;
}

const char *brr_yscalar_float(const char *s, size_t n, double *out) {
  char *v = strip_underscores(s, n);
  for (char *q = v; *q; q++) *q = (char)tolower((unsigned char)*q);
  const char *p = v;
  double sign = 1.0;
  if (*p == '-') sign = -1.0;
  if (*p == '-' || *p == '+') p++;
  bool ok = true;
  double r = 0;
  if (strcmp(p, ".inf") == 0) {
    r = INFINITY;
  } else if (strcmp(p, ".nan") == 0) {
    r = NAN;
  } else if (strchr(p, ':')) {
    char **parts = brr_split(p, ':', NULL);
    for (size_t i = 0; parts[i] && ok; i++) {
      double d;
      ok = parse_double(parts[i], &d);
      r = r * 60.0 + d;
    }
    brr_strv_free(parts);
  } else {
    ok = parse_double(p, &r);
  }
  free(v);
  if (!ok) return "invalid float";
  *out = isnan(r) ? r : sign * r;
  return NULL;
}

const char *brr_yscalar_bool(const char *s, size_t n, bool *out) {
  static const struct { const char *w; bool v; } words[] = {
      {"yes", true}, {"no", false}, {"true", true}, {"false", false}, {"on", true}, {"off", false},
  };
  if (n > 5) return "invalid boolean";
  char low[6];
  for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)s[i]);
  low[n] = '\0';
  for (size_t i = 0; i < BRR_ARRAY_LEN(words); i++)
    if (strcmp(low, words[i].w) == 0) {
      *out = words[i].v;
      return NULL;
    }
  return "invalid boolean";
}

char *brr_yscalar_binary(const char *s, size_t n, size_t *out_len) {
  /* base64.decodebytes ignores line breaks and blanks; EVP_DecodeBlock does not */
  char *clean = brr_xmalloc(n + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)s[i])) clean[k++] = s[i];
  clean[k] = '\0';
  if (k % 4 != 0) {
    free(clean);
    return NULL;
  }
  unsigned char *out = brr_xmalloc(k / 4 * 3 + 1);
  int got = k ? EVP_DecodeBlock(out, (const unsigned char *)clean, (int)k) : 0;
  size_t pad = 0;
  if (k >= 1 && clean[k - 1] == '=') pad++;
  if (k >= 2 && clean[k - 2] == '=') pad++;
  free(clean);
  if (got < 0) {
    free(out);
    return NULL;
  }
  *out_len = (size_t)got - pad;
  out[*out_len] = '\0';
  return (char *)out;
}
