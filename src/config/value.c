/* The value tree. */
#include "brr/value.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static brr_value *node(brr_arena *a, brr_mark m, brr_val_type t) {
  brr_value *v = brr_arena_alloc(a, sizeof *v);
  v->type = t;
  v->mark = m;
  return v;
}

brr_value *brr_val_null(brr_arena *a, brr_mark m) { return node(a, m, BRR_VAL_NULL); }

brr_value *brr_val_bool(brr_arena *a, brr_mark m, bool b) {
  brr_value *v = node(a, m, BRR_VAL_BOOL);
  v->u.b = b;
  return v;
}

brr_value *brr_val_int(brr_arena *a, brr_mark m, int64_t i) {
  brr_value *v = node(a, m, BRR_VAL_INT);
  v->u.i = i;
  return v;
}

brr_value *brr_val_float(brr_arena *a, brr_mark m, double f) {
  brr_value *v = node(a, m, BRR_VAL_FLOAT);
  v->u.f = f;
  return v;
}

brr_value *brr_val_strn(brr_arena *a, brr_mark m, const char *s, size_t len) {
  brr_value *v = node(a, m, BRR_VAL_STR);
  v->u.s.ptr = brr_arena_strndup(a, s, len);
  v->u.s.len = len;
  return v;
}

brr_value *brr_val_str(brr_arena *a, brr_mark m, const char *s) {
  return brr_val_strn(a, m, s, strlen(s));
}

brr_value *brr_val_list(brr_arena *a, brr_mark m) { return node(a, m, BRR_VAL_LIST); }

brr_value *brr_val_map(brr_arena *a, brr_mark m) { return node(a, m, BRR_VAL_MAP); }

void brr_val_list_push(brr_arena *a, brr_value *list, brr_value *item) {
  if (list->u.list.n == list->u.list.cap) {
    size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
    list->u.list.v = brr_arena_grow(a, list->u.list.v, list->u.list.cap * sizeof(brr_value *),
                                    cap * sizeof(brr_value *));
    list->u.list.cap = cap;
  }
  list->u.list.v[list->u.list.n++] = item;
}

/* Keys compare as Python dict keys: 1 == 1.0 == True. */
static bool key_equal(const brr_value *x, const brr_value *y) {
  if (x->type == BRR_VAL_STR || y->type == BRR_VAL_STR) {
    return x->type == y->type && x->u.s.len == y->u.s.len &&
           memcmp(x->u.s.ptr, y->u.s.ptr, x->u.s.len) == 0;
  }
  return brr_val_equal(x, y);
}

brr_map_entry *brr_val_find(const brr_value *map, const brr_value *key) {
  if (!map || map->type != BRR_VAL_MAP) return NULL;
  for (size_t i = 0; i < map->u.map.n; i++)
    if (key_equal(map->u.map.v[i].key, key)) return &map->u.map.v[i];
  return NULL;
}

static void map_append(brr_arena *a, brr_value *map, brr_value *key, brr_value *val) {
  if (map->u.map.n == map->u.map.cap) {
    size_t cap = map->u.map.cap ? map->u.map.cap * 2 : 4;
    map->u.map.v = brr_arena_grow(a, map->u.map.v, map->u.map.cap * sizeof(brr_map_entry),
                                  cap * sizeof(brr_map_entry));
    map->u.map.cap = cap;
  }
  map->u.map.v[map->u.map.n].key = key;
  map->u.map.v[map->u.map.n].val = val;
  map->u.map.n++;
}

/* A string key without a NUL: what a brr_strmap can index. */
static bool plain_key(const brr_value *k) {
  return k->type == BRR_VAL_STR && !memchr(k->u.s.ptr, '\0', k->u.s.len);
}

void brr_val_map_set(brr_arena *a, brr_value *map, brr_value *key, brr_value *val,
                     brr_map_entry *replaced) {
  brr_map_entry *e = brr_val_find(map, key);
  if (e) {
    if (replaced) *replaced = *e;
    e->val = val;
    return;
  }
  if (replaced) replaced->key = replaced->val = NULL;
  map_append(a, map, key, val);
}

void brr_val_map_update(brr_arena *a, brr_value *map, const brr_value *over) {
  if (!map || map->type != BRR_VAL_MAP || !over || over->type != BRR_VAL_MAP) return;
  /* plain string keys through an index (entries are only appended, so indices hold); any
   * other key equals no plain string key and takes the ordinary scan */
  brr_strmap ix = BRR_STRMAP_INIT;
  for (size_t i = 0; i < map->u.map.n; i++)
    if (plain_key(map->u.map.v[i].key)) brr_strmap_put(&ix, map->u.map.v[i].key->u.s.ptr, i);
  for (size_t i = 0; i < over->u.map.n; i++) {
    brr_value *k = over->u.map.v[i].key, *v = over->u.map.v[i].val;
    size_t at;
    if (!plain_key(k)) {
      brr_val_map_set(a, map, k, v, NULL);
      continue;
    }
    if (brr_strmap_get(&ix, k->u.s.ptr, &at)) {
      map->u.map.v[at].val = v;
      continue;
    }
    map_append(a, map, k, v);   /* new: no plain key equals it, and no other key can */
    brr_strmap_put(&ix, k->u.s.ptr, map->u.map.n - 1);
  }
  brr_strmap_free(&ix);
}

void brr_val_map_sets(brr_arena *a, brr_value *map, const char *key, brr_value *val) {
  brr_val_map_set(a, map, brr_val_str(a, val ? val->mark : BRR_MARK_NONE, key), val, NULL);
}

bool brr_val_map_del(brr_value *map, const char *key) {
  if (!map || map->type != BRR_VAL_MAP) return false;
  for (size_t i = 0; i < map->u.map.n; i++) {
    const brr_value *k = map->u.map.v[i].key;
    if (k->type == BRR_VAL_STR && strcmp(k->u.s.ptr, key) == 0) {
      memmove(&map->u.map.v[i], &map->u.map.v[i + 1], (map->u.map.n - i - 1) * sizeof(brr_map_entry));
      map->u.map.n--;
      return true;
    }
  }
  return false;
}

brr_value *brr_val_get(const brr_value *map, const char *key) {
  if (!map || map->type != BRR_VAL_MAP) return NULL;
  size_t len = strlen(key);
  for (size_t i = 0; i < map->u.map.n; i++) {
    const brr_value *k = map->u.map.v[i].key;
    if (k->type == BRR_VAL_STR && k->u.s.len == len && memcmp(k->u.s.ptr, key, len) == 0)
      return map->u.map.v[i].val;
  }
  return NULL;
}

const char *brr_val_cstr(const brr_value *v) {
  return v && v->type == BRR_VAL_STR ? v->u.s.ptr : NULL;
}

bool brr_val_is(const brr_value *v, brr_val_type t) { return v && v->type == t; }

bool brr_val_truthy(const brr_value *v) {
  if (!v) return false;
  switch (v->type) {
  case BRR_VAL_NULL: return false;
  case BRR_VAL_BOOL: return v->u.b;
  case BRR_VAL_INT: return v->u.i != 0;
  case BRR_VAL_FLOAT: return v->u.f != 0.0;
  case BRR_VAL_STR: return v->u.s.len != 0;
  case BRR_VAL_LIST: return v->u.list.n != 0;
  case BRR_VAL_MAP: return v->u.map.n != 0;
  }
  return false;
}

const char *brr_val_type_desc(const brr_value *v) {
  static const char *descs[] = {"null", "a boolean", "an integer", "a float", "a string", "a list", "a map"};
  if (!v) return "nothing";
  return (unsigned)v->type < BRR_ARRAY_LEN(descs) ? descs[v->type] : "?";
}

brr_value *brr_val_copy(brr_arena *a, const brr_value *v) {
  if (!v) return NULL;
  switch (v->type) {
  case BRR_VAL_STR: return brr_val_strn(a, v->mark, v->u.s.ptr, v->u.s.len);
  case BRR_VAL_LIST: {
    brr_value *l = brr_val_list(a, v->mark);
    for (size_t i = 0; i < v->u.list.n; i++) brr_val_list_push(a, l, brr_val_copy(a, v->u.list.v[i]));
    return l;
  }
  case BRR_VAL_MAP: {
    brr_value *m = brr_val_map(a, v->mark);
    /* the keys of a map are distinct already: no lookup (a scan per key was quadratic) */
    for (size_t i = 0; i < v->u.map.n; i++)
      map_append(a, m, brr_val_copy(a, v->u.map.v[i].key), brr_val_copy(a, v->u.map.v[i].val));
    return m;
  }
  default: {
    brr_value *c = node(a, v->mark, v->type);
    c->u = v->u;
    return c;
  }
  }
}

static bool numeric(const brr_value *v, double *out) {
  switch (v->type) {
  case BRR_VAL_BOOL: *out = v->u.b; return true;
  case BRR_VAL_INT: *out = (double)v->u.i; return true;
  case BRR_VAL_FLOAT: *out = v->u.f; return true;
  default: return false;
  }
}

bool brr_val_equal(const brr_value *x, const brr_value *y) {
  if (!x || !y) return x == y;
  double dx, dy;
  if (x->type == BRR_VAL_INT && y->type == BRR_VAL_INT) return x->u.i == y->u.i;
  if (numeric(x, &dx) && numeric(y, &dy)) return dx == dy;
  if (x->type != y->type) return false;
  switch (x->type) {
  case BRR_VAL_NULL: return true;
  case BRR_VAL_STR: return x->u.s.len == y->u.s.len && memcmp(x->u.s.ptr, y->u.s.ptr, x->u.s.len) == 0;
  case BRR_VAL_LIST:
    if (x->u.list.n != y->u.list.n) return false;
    for (size_t i = 0; i < x->u.list.n; i++)
      if (!brr_val_equal(x->u.list.v[i], y->u.list.v[i])) return false;
    return true;
  case BRR_VAL_MAP:
    if (x->u.map.n != y->u.map.n) return false;
    for (size_t i = 0; i < x->u.map.n; i++) {
      brr_map_entry *e = brr_val_find(y, x->u.map.v[i].key);
      if (!e || !brr_val_equal(x->u.map.v[i].val, e->val)) return false;
    }
    return true;
  default: return false;
  }
}

brr_value *brr_val_merge(brr_arena *a, const brr_value *base, const brr_value *over) {
  if (!base) return brr_val_copy(a, over);
  if (!over) return brr_val_copy(a, base);
  if (base->type != BRR_VAL_MAP || over->type != BRR_VAL_MAP) return brr_val_copy(a, over);
  brr_value *m = brr_val_copy(a, base);
  brr_strmap ix = BRR_STRMAP_INIT;   /* plain string keys -> entry, as brr_val_map_update */
  for (size_t i = 0; i < m->u.map.n; i++)
    if (plain_key(m->u.map.v[i].key)) brr_strmap_put(&ix, m->u.map.v[i].key->u.s.ptr, i);
  for (size_t i = 0; i < over->u.map.n; i++) {
    const brr_map_entry *oe = &over->u.map.v[i];
    brr_map_entry *be = NULL;
    size_t at;
    if (!plain_key(oe->key)) be = brr_val_find(m, oe->key);
    else if (brr_strmap_get(&ix, oe->key->u.s.ptr, &at)) be = &m->u.map.v[at];
    if (be) {
      be->val = brr_val_merge(a, be->val, oe->val);
      continue;
    }
    brr_value *k = brr_val_copy(a, oe->key);
    map_append(a, m, k, brr_val_copy(a, oe->val));
    if (plain_key(k)) brr_strmap_put(&ix, k->u.s.ptr, m->u.map.n - 1);
  }
  brr_strmap_free(&ix);
  return m;
}

/* ---- Python str()/repr() ---- */

static void pyrepr_str(const char *s, size_t n, brr_buf *out) {
  /* Python picks single quotes unless the string has ' and no " */
  bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
  char q = has_sq && !has_dq ? '"' : '\'';
  brr_buf_putc(out, q);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == (unsigned char)q || c == '\\') {
      brr_buf_putc(out, '\\');
      brr_buf_putc(out, (char)c);
    } else if (c == '\n') brr_buf_puts(out, "\\n");
    else if (c == '\r') brr_buf_puts(out, "\\r");
    else if (c == '\t') brr_buf_puts(out, "\\t");
    else if (c < 0x20 || c == 0x7f) brr_buf_printf(out, "\\x%02x", c);
    else brr_buf_putc(out, (char)c);
  }
  brr_buf_putc(out, q);
}

static void py_format(const brr_value *v, brr_buf *out, bool repr) {
  char num[40];
  switch (v->type) {
  case BRR_VAL_NULL: brr_buf_puts(out, "None"); break;
  case BRR_VAL_BOOL: brr_buf_puts(out, v->u.b ? "True" : "False"); break;
  case BRR_VAL_INT: brr_buf_printf(out, "%lld", (long long)v->u.i); break;
  case BRR_VAL_FLOAT: brr_buf_puts(out, brr_fmt_pyfloat(v->u.f, num, sizeof num)); break;
  case BRR_VAL_STR:
    if (repr) pyrepr_str(v->u.s.ptr, v->u.s.len, out);
    else brr_buf_append(out, v->u.s.ptr, v->u.s.len);
    break;
  case BRR_VAL_LIST:
    brr_buf_putc(out, '[');
    for (size_t i = 0; i < v->u.list.n; i++) {
      if (i) brr_buf_puts(out, ", ");
      py_format(v->u.list.v[i], out, true);
    }
    brr_buf_putc(out, ']');
    break;
  case BRR_VAL_MAP:
    brr_buf_putc(out, '{');
    for (size_t i = 0; i < v->u.map.n; i++) {
      if (i) brr_buf_puts(out, ", ");
      py_format(v->u.map.v[i].key, out, true);
      brr_buf_puts(out, ": ");
      py_format(v->u.map.v[i].val, out, true);
    }
    brr_buf_putc(out, '}');
    break;
  }
}

void brr_val_pystr(const brr_value *v, brr_buf *out) { py_format(v, out, false); }

void brr_val_pyrepr(const brr_value *v, brr_buf *out) { py_format(v, out, true); }

/* ---- JSON ---- */

/* Python's json.dumps layout (ensure_ascii, ", "/": " separators or indent). cJSON's printer
 * cannot produce that layout, and buildrunner's artifacts.json and Jinja's tojson need it
 * byte for byte, so the layout is written here; parsing goes through cJSON. */
static void json_string(const char *s, size_t n, brr_buf *out) {
  brr_buf_putc(out, '"');
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') brr_buf_puts(out, "\\\"");
    else if (c == '\\') brr_buf_puts(out, "\\\\");
    else if (c == '\n') brr_buf_puts(out, "\\n");
    else if (c == '\r') brr_buf_puts(out, "\\r");
    else if (c == '\t') brr_buf_puts(out, "\\t");
    else if (c == '\b') brr_buf_puts(out, "\\b");
    else if (c == '\f') brr_buf_puts(out, "\\f");
    else if (c < 0x20 || c == 0x7f) brr_buf_printf(out, "\\u%04x", c);
    else if (c < 0x80) brr_buf_putc(out, (char)c);
    else {
      /* decode one UTF-8 sequence; invalid bytes are emitted as U+FFFD */
      unsigned cp = 0xFFFD;
      size_t len = 1;
      if ((c & 0xE0) == 0xC0 && i + 1 < n) { cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu); len = 2; }
      else if ((c & 0xF0) == 0xE0 && i + 2 < n) { cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu); len = 3; }
      else if ((c & 0xF8) == 0xF0 && i + 3 < n) {
        cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
        len = 4;
      }
      if (cp >= 0x10000) {
        cp -= 0x10000;
        brr_buf_printf(out, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
      } else {
        brr_buf_printf(out, "\\u%04x", cp);
      }
      i += len;
      continue;
    }
    i++;
  }
  brr_buf_putc(out, '"');
}

static void json_newline(brr_buf *out, int indent, int depth) {
  brr_buf_putc(out, '\n');
  for (int i = 0; i < indent * depth; i++) brr_buf_putc(out, ' ');
}

static void json_emit(const brr_value *v, int indent, int depth, brr_buf *out) {
  char num[40];
  switch (v->type) {
  case BRR_VAL_NULL: brr_buf_puts(out, "null"); break;
  case BRR_VAL_BOOL: brr_buf_puts(out, v->u.b ? "true" : "false"); break;
  case BRR_VAL_INT: brr_buf_printf(out, "%lld", (long long)v->u.i); break;
  case BRR_VAL_FLOAT:
    if (isnan(v->u.f)) brr_buf_puts(out, "NaN");
    else if (isinf(v->u.f)) brr_buf_puts(out, v->u.f < 0 ? "-Infinity" : "Infinity");
    else brr_buf_puts(out, brr_fmt_pyfloat(v->u.f, num, sizeof num));
    break;
  case BRR_VAL_STR: json_string(v->u.s.ptr, v->u.s.len, out); break;
  case BRR_VAL_LIST:
    if (v->u.list.n == 0) { brr_buf_puts(out, "[]"); break; }
    brr_buf_putc(out, '[');
    for (size_t i = 0; i < v->u.list.n; i++) {
      if (i) brr_buf_puts(out, indent >= 0 ? "," : ", ");
      if (indent >= 0) json_newline(out, indent, depth + 1);
      json_emit(v->u.list.v[i], indent, depth + 1, out);
    }
    if (indent >= 0) json_newline(out, indent, depth);
    brr_buf_putc(out, ']');
    break;
  case BRR_VAL_MAP:
    if (v->u.map.n == 0) { brr_buf_puts(out, "{}"); break; }
    brr_buf_putc(out, '{');
    for (size_t i = 0; i < v->u.map.n; i++) {
      if (i) brr_buf_puts(out, indent >= 0 ? "," : ", ");
      if (indent >= 0) json_newline(out, indent, depth + 1);
      const brr_value *k = v->u.map.v[i].key;
      if (k->type == BRR_VAL_STR) {
        json_string(k->u.s.ptr, k->u.s.len, out);
      } else {
        brr_buf b = BRR_BUF_INIT;
        json_emit(k, -1, 0, &b);
        json_string(b.data, b.len, out);
        brr_buf_free(&b);
      }
      brr_buf_puts(out, ": ");
      json_emit(v->u.map.v[i].val, indent, depth + 1, out);
    }
    if (indent >= 0) json_newline(out, indent, depth);
    brr_buf_putc(out, '}');
    break;
  }
}

void brr_val_to_json(const brr_value *v, int indent, brr_buf *out) {
  json_emit(v, indent, 0, out);
  brr_buf_reserve(out, 0);
}

/* cJSON keeps every number as a double, so 1.0 would come back as 1 and a large int would
 * lose digits. Python keeps both, so the numbers' spellings are taken from the text: a scan
 * that skips strings and records each number token in document order, which is also the
 * order in which the tree below is walked. */
typedef struct num_token {
  const char *s;
  size_t n;
} num_token;

typedef struct num_tokens {
  num_token *v;
  size_t n, cap, next;
} num_tokens;

static void scan_numbers(const char *text, size_t len, num_tokens *t) {
  for (size_t i = 0; i < len;) {
    char c = text[i];
    if (c == '"') {
      for (i++; i < len && text[i] != '"'; i++)
        if (text[i] == '\\') i++;
      i++;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t j = i;
      while (j < len && text[j] && strchr("0123456789+-.eE", text[j])) j++;
      num_token tok = {text + i, j - i};
      BRR_VEC_PUSH(t->v, t->n, t->cap, tok);
      i = j;
    } else {
      i++;
    }
  }
}

static brr_value *number(brr_arena *a, const cJSON *j, num_tokens *t, brr_mark m) {
  if (t->next < t->n) {
    num_token tok = t->v[t->next++];
    if (!memchr(tok.s, '.', tok.n) && !memchr(tok.s, 'e', tok.n) && !memchr(tok.s, 'E', tok.n)) {
      char buf[32];
      if (tok.n < sizeof buf) {
        memcpy(buf, tok.s, tok.n);
        buf[tok.n] = '\0';
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == 0) return brr_val_int(a, m, v);
      }
    }
  }
  return brr_val_float(a, m, j->valuedouble);
}

static brr_value *from_cjson(brr_arena *a, const cJSON *j, num_tokens *t, brr_mark m) {
  if (cJSON_IsNull(j)) return brr_val_null(a, m);
  if (cJSON_IsBool(j)) return brr_val_bool(a, m, cJSON_IsTrue(j));
  if (cJSON_IsNumber(j)) return number(a, j, t, m);
  if (cJSON_IsString(j)) return brr_val_str(a, m, j->valuestring);
  if (cJSON_IsArray(j)) {
    brr_value *l = brr_val_list(a, m);
    for (const cJSON *c = j->child; c; c = c->next) brr_val_list_push(a, l, from_cjson(a, c, t, m));
    return l;
  }
  brr_value *map = brr_val_map(a, m);
  /* a repeated key keeps its first place and its last value, as OrderedDict(pairs) does */
  for (const cJSON *c = j->child; c; c = c->next)
    brr_val_map_set(a, map, brr_val_str(a, m, c->string), from_cjson(a, c, t, m), NULL);
  return map;
}

brr_value *brr_val_from_json(brr_arena *a, const char *text, size_t len, const char *file,
                             brr_diags *d) {
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
  brr_mark m = {file, 1, 1};
  const char *err = j ? NULL : cJSON_GetErrorPtr();
  /* one document: after the value only blanks (cJSON stops reading at its end) */
  while (j && end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
  if (j && end < text + len) {
    cJSON_Delete(j);
    j = NULL;
    err = end;
  }
  if (!j) {
    /* turn the error position into line:col */
    if (err && err >= text && err <= text + len) {
      for (const char *p = text; p < err; p++) {
        if (*p == '\n') {
          m.line++;
          m.col = 1;
        } else {
          m.col++;
        }
      }
    }
    if (d) brr_diag_error(d, m, NULL, "invalid JSON");
    return NULL;
  }
  num_tokens t = {0};
  scan_numbers(text, len, &t);
  brr_value *v = from_cjson(a, j, &t, m);
  free(t.v);
  cJSON_Delete(j);
  return v;
}
