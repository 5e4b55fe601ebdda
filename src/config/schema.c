/* Schema checking primitives: typed readers with Pydantic-v2-lax coercion (what buildrunner's
 * models accept), unknown-key detection with suggestions, and error reporting with dotted
 * paths. The per-key knowledge lives in schema_step.c, schema_rules.c and global.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "schema_keys.h"

/* Key paths are made for every key checked, so they are joined with memcpy: formatting them
 * with printf was almost half of all the work of loading a 10,000-step file. */
static const char *join_path(brr_schk *c, const char *base, size_t nb, const char *key, size_t nk) {
  char *p = brr_arena_alloc_raw(c->paths ? c->paths : c->a, nb + 1 + nk + 1); /* every byte set below */
  memcpy(p, base, nb);
  p[nb] = '.';
  memcpy(p + nb + 1, key, nk);
  p[nb + 1 + nk] = '\0';
  return p;
}

const char *brr_schk_path(brr_schk *c, const char *base, const char *key) {
  if (!base || !*base) return brr_arena_strdup(c->paths ? c->paths : c->a, key);
  return join_path(c, base, strlen(base), key, strlen(key));
}

const char *brr_schk_index(brr_schk *c, const char *base, size_t i) {
  char digits[24];
  size_t n = 0;
  do {
    digits[sizeof digits - 1 - n++] = (char)('0' + i % 10);
    i /= 10;
  } while (i);
  return join_path(c, base, strlen(base), digits + sizeof digits - n, n);
}

void brr_schk_error_mark(brr_schk *c, brr_mark m, const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  brr_diag_vadd(c->d, BRR_DIAG_ERROR, m, path, fmt, ap);
  va_end(ap);
  c->n_errors++;
}

void brr_schk_error(brr_schk *c, const brr_value *at, const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  brr_diag_vadd(c->d, BRR_DIAG_ERROR, at ? at->mark : BRR_MARK_NONE, path, fmt, ap);
  va_end(ap);
  c->n_errors++;
}

brr_mark brr_schk_key_mark(const brr_value *map, const char *key, brr_mark fallback) {
  if (!map || map->type != BRR_VAL_MAP) return fallback;
  for (size_t i = 0; i < map->u.map.n; i++) {
    const brr_value *k = map->u.map.v[i].key;
    if (k && k->type == BRR_VAL_STR && strcmp(k->u.s.ptr, key) == 0) return k->mark;
  }
  return fallback;
}

void brr_schk_expected(brr_schk *c, const brr_value *v, const char *path, const char *what) {
  /* a number where a string belongs is nearly always a YAML typing surprise (2.0, 1:20) */
  bool hint = v && (v->type == BRR_VAL_INT || v->type == BRR_VAL_FLOAT || v->type == BRR_VAL_BOOL) &&
              strstr(what, "string") != NULL;
  brr_schk_error(c, v, path, "expected %s, got %s%s", what, brr_val_type_desc(v),
                 hint ? " (quote it to make it a string)" : "");
}

/* ---- keys --------------------------------------------------------------------------------- */

/* brr_suggest, plus one swap of neighbouring letters ("evn" for "env"), which edit
 * distance counts as two changes and so misses on short keys. */
static const char *suggest(const char *word, const char *const *cands, size_t n) {
  const char *s = brr_suggest(word, cands, n);
  if (s) return s;
  size_t len = strlen(word);
  for (size_t i = 0; i < n; i++) {
    if (strlen(cands[i]) != len) continue;
    size_t diff = 0, first = 0;
    for (size_t j = 0; j < len; j++)
      if (word[j] != cands[i][j] && diff++ == 0) first = j;
    if (diff == 2 && first + 1 < len && word[first] == cands[i][first + 1] &&
        word[first + 1] == cands[i][first])
      return cands[i];
  }
  return NULL;
}

static void unknown_key(brr_schk *c, const brr_value *k, const char *path,
                        const char *const *allowed, size_t n, const char *what) {
  brr_buf name = BRR_BUF_INIT;
  brr_val_pystr(k, &name);
  const char *sugg = k->type == BRR_VAL_STR ? suggest(k->u.s.ptr, allowed, n) : NULL;
  if (sugg) {
    brr_schk_error(c, k, path, "unknown key '%s' in %s; did you mean '%s'?", name.data, what, sugg);
  } else {
    brr_buf list = BRR_BUF_INIT;
    for (size_t i = 0; i < n; i++) brr_buf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
    brr_schk_error(c, k, path, "unknown key '%s' in %s (valid keys: %s)", name.data, what, list.data);
    brr_buf_free(&list);
  }
  brr_buf_free(&name);
}

bool brr_schk_keys(brr_schk *c, const brr_value *map, const char *path,
                   const char *const *allowed, size_t n_allowed, const char *what) {
  if (!map || map->type != BRR_VAL_MAP) {
    brr_schk_expected(c, map, path, "a map");
    return false;
  }
  for (size_t i = 0; i < map->u.map.n; i++) {
    const brr_value *k = map->u.map.v[i].key;
    bool ok = false;
    if (k->type == BRR_VAL_STR)
      for (size_t j = 0; j < n_allowed && !ok; j++) ok = strcmp(k->u.s.ptr, allowed[j]) == 0;
    if (!ok) unknown_key(c, k, path, allowed, n_allowed, what);
  }
  return true;
}

bool brr_schk_required(brr_schk *c, const brr_value *map, const char *path, const char *key) {
  const brr_value *v = brr_val_get(map, key);
  if (v && v->type != BRR_VAL_NULL) return true;
  if (v) brr_schk_error(c, v, brr_schk_path(c, path, key), "is required and cannot be null");
  else brr_schk_error(c, map, path, "missing required key '%s'", key);
  return false;
}

/* ---- lax conversions ---------------------------------------------------------------------- */

static bool str_ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
  return *a == *b;
}

const char *const BRR_LAX_TRUE[] = {"1", "on", "t", "true", "y", "yes", NULL};
const char *const BRR_LAX_FALSE[] = {"0", "off", "f", "false", "n", "no", NULL};

bool brr_lax_bool(const brr_value *v, bool *out) {
  const char *const *yes = BRR_LAX_TRUE, *const *no = BRR_LAX_FALSE;
  switch (v->type) {
  case BRR_VAL_BOOL: *out = v->u.b; return true;
  case BRR_VAL_INT:
    if (v->u.i != 0 && v->u.i != 1) return false;
    *out = v->u.i == 1;
    return true;
  case BRR_VAL_FLOAT:
    if (v->u.f != 0.0 && v->u.f != 1.0) return false;
    *out = v->u.f == 1.0;
    return true;
  case BRR_VAL_STR:
    for (size_t i = 0; yes[i]; i++) {
      if (str_ieq(v->u.s.ptr, yes[i])) { *out = true; return true; }
      if (str_ieq(v->u.s.ptr, no[i])) { *out = false; return true; }
    }
    return false;
  default: return false;
  }
}

bool brr_lax_int(const brr_value *v, int64_t *out) {
  switch (v->type) {
  case BRR_VAL_INT: *out = v->u.i; return true;
  case BRR_VAL_BOOL: *out = v->u.b; return true;
  case BRR_VAL_FLOAT:
    if (!isfinite(v->u.f) || v->u.f != floor(v->u.f) || fabs(v->u.f) > 9.2e18) return false;
    *out = (int64_t)v->u.f;
    return true;
  case BRR_VAL_STR: {
    const char *s = v->u.s.ptr;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return false;
    char *end;
    errno = 0;
    long long r = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (*end || errno == ERANGE || end == s) return false;
    *out = r;
    return true;
  }
  default: return false;
  }
}

static bool lax_float(const brr_value *v, double *out) {
  switch (v->type) {
  case BRR_VAL_INT: *out = (double)v->u.i; return true;
  case BRR_VAL_BOOL: *out = v->u.b; return true;
  case BRR_VAL_FLOAT: *out = v->u.f; return true;
  case BRR_VAL_STR: {
    const char *s = v->u.s.ptr;
    while (isspace((unsigned char)*s)) s++;
    if (!*s || strpbrk(s, "xX")) return false;
    char *end;
    double r = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    if (*end || end == s) return false;
    *out = r;
    return true;
  }
  default: return false;
  }
}

/* ---- typed readers ------------------------------------------------------------------------ */

static bool unset(const brr_value *v) { return !v || v->type == BRR_VAL_NULL; }

bool brr_schk_str(brr_schk *c, const brr_value *v, const char *path, brr_str *out) {
  if (out) *out = (brr_str){NULL, v ? v->mark : BRR_MARK_NONE};
  if (unset(v)) return true;
  if (v->type != BRR_VAL_STR) {
    brr_schk_expected(c, v, path, "a string");
    return false;
  }
  if (out) out->s = v->u.s.ptr;
  return true;
}

bool brr_schk_bool(brr_schk *c, const brr_value *v, const char *path, brr_tri *out) {
  if (out) *out = BRR_UNSET;
  if (unset(v)) return true;
  bool b;
  if (!brr_lax_bool(v, &b)) {
    if (v->type == BRR_VAL_STR)
      brr_schk_error(c, v, path, "expected a boolean, got the string '%s' (use true or false)", v->u.s.ptr);
    else
      brr_schk_expected(c, v, path, "a boolean");
    return false;
  }
  if (out) *out = b ? BRR_TRUE : BRR_FALSE;
  return true;
}

bool brr_schk_int(brr_schk *c, const brr_value *v, const char *path, bool *set, int64_t *out) {
  if (set) *set = false;
  if (unset(v)) return true;
  int64_t i;
  if (!brr_lax_int(v, &i)) {
    if (v->type == BRR_VAL_FLOAT)
      brr_schk_error(c, v, path, "expected an integer, got a number with a fractional part");
    else if (v->type == BRR_VAL_STR)
      brr_schk_error(c, v, path, "expected an integer, got the string '%s'", v->u.s.ptr);
    else
      brr_schk_expected(c, v, path, "an integer");
    return false;
  }
  if (set) *set = true;
  if (out) *out = i;
  return true;
}

bool brr_schk_float(brr_schk *c, const brr_value *v, const char *path, bool *set, double *out) {
  if (set) *set = false;
  if (unset(v)) return true;
  double f;
  if (!lax_float(v, &f)) {
    if (v->type == BRR_VAL_STR)
      brr_schk_error(c, v, path, "expected a number, got the string '%s'", v->u.s.ptr);
    else
      brr_schk_expected(c, v, path, "a number");
    return false;
  }
  if (set) *set = true;
  if (out) *out = f;
  return true;
}

bool brr_schk_strlist(brr_schk *c, const brr_value *v, const char *path, brr_strlist *out) {
  if (out) *out = (brr_strlist){NULL, 0};
  if (unset(v)) return true;
  if (v->type != BRR_VAL_LIST) {
    brr_schk_expected(c, v, path, "a list of strings");
    return false;
  }
  bool ok = true;
  brr_str *items = brr_arena_alloc(c->a, (v->u.list.n + 1) * sizeof(brr_str));
  for (size_t i = 0; i < v->u.list.n; i++) {
    const brr_value *it = v->u.list.v[i];
    if (it->type != BRR_VAL_STR) {
      brr_schk_expected(c, it, brr_schk_index(c, path, i), "a string");
      ok = false;
      continue;
    }
    items[i] = (brr_str){it->u.s.ptr, it->mark};
  }
  if (ok && out) *out = (brr_strlist){items, v->u.list.n};
  return ok;
}

bool brr_schk_map(brr_schk *c, const brr_value *v, const char *path, brr_schk_val_fn val,
                  brr_kvlist *out) {
  if (out) *out = (brr_kvlist){NULL, 0};
  if (unset(v)) return true;
  if (v->type != BRR_VAL_MAP) {
    brr_schk_expected(c, v, path, "a map");
    return false;
  }
  bool ok = true;
  brr_kv *items = brr_arena_alloc(c->a, (v->u.map.n + 1) * sizeof(brr_kv));
  for (size_t i = 0; i < v->u.map.n; i++) {
    const brr_map_entry *e = &v->u.map.v[i];
    if (e->key->type != BRR_VAL_STR) {
      brr_buf k = BRR_BUF_INIT;
      brr_val_pystr(e->key, &k);
      brr_schk_error(c, e->key, path, "key %s must be a string, got %s (quote it)", k.data,
                     brr_val_type_desc(e->key));
      brr_buf_free(&k);
      ok = false;
      continue;
    }
    const char *sub = brr_schk_path(c, path, e->key->u.s.ptr);
    if (val && !val(c, e->val, sub)) {
      ok = false;
      continue;
    }
    items[i] = (brr_kv){{e->key->u.s.ptr, e->key->mark}, e->val && e->val->type == BRR_VAL_NULL ? NULL : e->val};
  }
  if (ok && out) *out = (brr_kvlist){items, v->u.map.n};
  return ok;
}

bool brr_schk_val_str(brr_schk *c, const brr_value *v, const char *path) {
  if (!v || v->type != BRR_VAL_STR) {
    brr_schk_expected(c, v, path, "a string");
    return false;
  }
  return true;
}

bool brr_schk_val_opt_str(brr_schk *c, const brr_value *v, const char *path) {
  if (unset(v)) return true;
  return brr_schk_val_str(c, v, path);
}

bool brr_schk_val_strlist(brr_schk *c, const brr_value *v, const char *path) {
  if (!v || v->type != BRR_VAL_LIST) {
    brr_schk_expected(c, v, path, "a list of strings");
    return false;
  }
  return brr_schk_strlist(c, v, path, NULL);
}

bool brr_schk_val_str_or_strlist(brr_schk *c, const brr_value *v, const char *path) {
  if (v && v->type == BRR_VAL_STR) return true;
  if (v && v->type == BRR_VAL_LIST) return brr_schk_strlist(c, v, path, NULL);
  brr_schk_expected(c, v, path, "a string or a list of strings");
  return false;
}

bool brr_schk_env(brr_schk *c, const brr_value *v, const char *path, brr_kvlist *out) {
  if (!brr_schk_map(c, v, path, NULL, out)) return false;
  bool ok = true;
  for (size_t i = 0; v && v->type == BRR_VAL_MAP && i < v->u.map.n; i++) {
    const brr_value *k = v->u.map.v[i].key;
    const char *why = !k->u.s.len                         ? "is empty"
                      : strlen(k->u.s.ptr) != k->u.s.len  ? "holds a NUL byte"
                      : strchr(k->u.s.ptr, '=')           ? "holds '='"
                                                          : NULL;
    if (!why) continue;
    brr_buf b = BRR_BUF_INIT;
    brr_val_pyrepr(k, &b);
    brr_schk_error(c, k, path, "environment variable name %s %s: a process environment cannot "
                   "hold it", b.data, why);
    brr_buf_free(&b);
    ok = false;
  }
  if (!ok && out) *out = (brr_kvlist){NULL, 0};
  return ok;
}
