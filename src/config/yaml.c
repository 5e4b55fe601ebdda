/* YAML text -> brr_value tree, through libyaml's event API.
 *
 * The tree is what PyYAML's full Loader gives buildrunner after its dump-and-reload: ordered
 * maps (a repeated key keeps its first position and takes the last value), anchors expanded
 * into independent copies, `<<` merge keys flattened the way PyYAML's flatten_mapping does it,
 * and plain scalars typed by the YAML 1.1 resolver (yaml_scalar.c). Aliases are copied rather
 * than shared so later stages may treat the tree as a tree; the copy budget and the height
 * limit keep alias bombs and deep nesting from exhausting memory or the stack. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"
#include "yaml_scalar.h"

enum {
  MAX_HEIGHT = 512,           /* nesting levels, aliases included (PyYAML recurses too) */
  MAX_NODES = 1000000,        /* nodes in one document, alias copies included */
};

typedef struct anchor {
  char *name;
  brr_value *node;        /* NULL while the anchored collection is still open */
  brr_mark mark;
  size_t size;            /* nodes in the anchored value */
  unsigned height;
} anchor;

typedef struct pair {
  brr_value *key, *val;
  bool merged;            /* came from a `<<` merge (explicit keys override it silently) */
} pair;

typedef struct frame {
  brr_value *node;        /* the list or map being built */
  size_t anchor_idx;      /* index into anchors + 1, or 0 */
  bool is_set;            /* !!set: a map whose values are all null */
  size_t size;            /* nodes below, for the alias budget */
  unsigned height;        /* tallest child */
  pair *pairs;            /* maps: explicit key/value pairs in order */
  size_t n_pairs, cap_pairs;
  pair *merge;            /* maps: pairs brought in by `<<` */
  size_t n_merge, cap_merge;
  brr_value *key;         /* maps: a key waiting for its value */
  bool key_is_merge;
} frame;

typedef struct loader {
  brr_arena *a;
  brr_diags *d;
  const char *file;
  const unsigned *line_map;
  size_t n_lines;
  const char *text;       /* what is parsed: snippets show the line the parser saw */
  size_t len;
  brr_yscalar_ctx *sc;
  anchor *anchors;
  size_t n_anchors, cap_anchors;
  frame *stack;
  size_t depth, cap_stack;
  size_t slots;           /* stack slots ever opened: their pair buffers are kept for reuse */
  size_t nodes;
  brr_value *root;
  bool have_root;
  int documents;
  bool failed;
  /* size and height of the value just completed, for the parent frame */
  size_t last_size;
  unsigned last_height;
} loader;

/* Marks stay in the parsed text's lines while loading (snippets are cut from that text) and
 * are translated to source lines when a diagnostic is made and, for the tree, at the end. */
static brr_mark mark_at(const loader *L, unsigned line0, unsigned col0) {
  return (brr_mark){L->file, line0 + 1, col0 + 1};
}

static brr_mark map_mark(const loader *L, brr_mark m) {
  if (L->line_map && m.line >= 1 && m.line <= L->n_lines) m.line = L->line_map[m.line - 1];
  return m;
}

static void remap_tree(const loader *L, brr_value *v) {
  v->mark = map_mark(L, v->mark);
  if (v->type == BRR_VAL_LIST) {
    for (size_t i = 0; i < v->u.list.n; i++) remap_tree(L, v->u.list.v[i]);
  } else if (v->type == BRR_VAL_MAP) {
    for (size_t i = 0; i < v->u.map.n; i++) {
      remap_tree(L, v->u.map.v[i].key);
      remap_tree(L, v->u.map.v[i].val);
    }
  }
}

/* A diagnostic at parsed-text mark `m`: snippet from the parsed text, mark in source lines. */
static BRR_PRINTF(4, 0) brr_diag *vdiag(loader *L, brr_diag_level level, brr_mark m, const char *fmt,
                                          va_list ap) {
  brr_diag *g = brr_diag_vadd(L->d, level, m, NULL, fmt, ap);
  brr_diag_set_snippet(g, L->text, L->len);
  g->mark = map_mark(L, m);
  return g;
}

static brr_mark ymark(const loader *L, yaml_mark_t m) {
  return mark_at(L, (unsigned)m.line, (unsigned)m.column);
}

static BRR_PRINTF(3, 4) void fail(loader *L, brr_mark m, const char *fmt, ...) {
  if (L->failed) return;
  L->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vdiag(L, BRR_DIAG_ERROR, m, fmt, ap);
  va_end(ap);
}

static BRR_PRINTF(3, 4) void warn(loader *L, brr_mark m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdiag(L, BRR_DIAG_WARNING, m, fmt, ap);
  va_end(ap);
}

/* ---- anchors and aliases ----------------------------------------------------------------- */

static bool add_anchor(loader *L, const char *name, brr_mark m, size_t *idx) {
  for (size_t i = 0; i < L->n_anchors; i++) {
    if (strcmp(L->anchors[i].name, name) == 0) {
      brr_mark f = L->anchors[i].mark;
      fail(L, m, "duplicate anchor '%s' (first defined at line %u, column %u)", name, f.line, f.col);
      return false;
    }
  }
  anchor an = {brr_xstrdup(name), NULL, m, 0, 0};
  BRR_VEC_PUSH(L->anchors, L->n_anchors, L->cap_anchors, an);
  *idx = L->n_anchors;
  return true;
}

static brr_value *copy_tree(loader *L, const brr_value *v) {
  switch (v->type) {
  case BRR_VAL_LIST: {
    brr_value *l = brr_val_list(L->a, v->mark);
    for (size_t i = 0; i < v->u.list.n; i++) brr_val_list_push(L->a, l, copy_tree(L, v->u.list.v[i]));
    return l;
  }
  case BRR_VAL_MAP: {
    brr_value *m = brr_val_map(L->a, v->mark);
    /* keys are unique already: append without the lookup brr_val_map_set would do */
    m->u.map.cap = v->u.map.n;
    m->u.map.n = v->u.map.n;
    m->u.map.v = brr_arena_alloc(L->a, v->u.map.n * sizeof(brr_map_entry) + 1);
    for (size_t i = 0; i < v->u.map.n; i++) {
      m->u.map.v[i].key = copy_tree(L, v->u.map.v[i].key);
      m->u.map.v[i].val = copy_tree(L, v->u.map.v[i].val);
    }
    return m;
  }
  default: return brr_val_copy(L->a, v);
  }
}

/* A fresh copy of the anchored value, charged to the node budget. */
static brr_value *resolve_alias(loader *L, const char *name, brr_mark m) {
  for (size_t i = 0; i < L->n_anchors; i++) {
    anchor *an = &L->anchors[i];
    if (strcmp(an->name, name) != 0) continue;
    if (!an->node) {
      fail(L, m, "alias *%s refers to a node that contains it (recursive aliases are not supported)", name);
      return NULL;
    }
    if (an->size > MAX_NODES - L->nodes) {
      fail(L, m, "alias *%s expands the document beyond %d nodes", name, MAX_NODES);
      return NULL;
    }
    L->nodes += an->size;
    L->last_size = an->size;
    L->last_height = an->height;
    return copy_tree(L, an->node);
  }
  fail(L, m, "undefined alias *%s", name);
  return NULL;
}

/* ---- scalars ----------------------------------------------------------------------------- */

static brr_value *typed_scalar(loader *L, brr_ytag tag, const char *s, size_t n, brr_mark m) {
  const char *err = NULL;
  switch (tag) {
  case BRR_YTAG_NULL: return brr_val_null(L->a, m);
  case BRR_YTAG_BOOL: {
    bool b = false;
    if (!(err = brr_yscalar_bool(s, n, &b))) return brr_val_bool(L->a, m, b);
    break;
  }
  case BRR_YTAG_INT: {
    int64_t i = 0;
    if (!(err = brr_yscalar_int(s, n, &i))) return brr_val_int(L->a, m, i);
    break;
  }
  case BRR_YTAG_FLOAT: {
    double f = 0;
    if (!(err = brr_yscalar_float(s, n, &f))) return brr_val_float(L->a, m, f);
    break;
  }
  case BRR_YTAG_BINARY: {
    size_t len;
    char *bytes = brr_yscalar_binary(s, n, &len);
    if (!bytes) {
      err = "invalid base64 data";
      break;
    }
    brr_value *v = brr_val_strn(L->a, m, bytes, len);
    free(bytes);
    return v;
  }
  default:
    /* str; timestamps stay strings (their text is what str() of a date gives); `=` and `<<`
     * outside a key are plain strings here where PyYAML has no constructor for them */
    return brr_val_strn(L->a, m, s, n);
  }
  fail(L, m, "%s: '%.*s'", err, (int)(n > 60 ? 60 : n), s);
  return NULL;
}

static brr_value *scalar_event(loader *L, const yaml_event_t *ev, bool *is_merge) {
  brr_mark m = ymark(L, ev->start_mark);
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  brr_ytag t;
  *is_merge = false;
  if (!tag || strcmp(tag, "!") == 0) {
    /* PyYAML resolves plain scalars, and any scalar under the non-specific tag `!` */
    bool resolve = tag || ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    t = resolve ? brr_yscalar_resolve(L->sc, s, n) : BRR_YTAG_STR;
  } else {
    t = brr_yscalar_tag_from_name(tag);
    if (t == BRR_YTAG_UNKNOWN) {
      fail(L, m, "unsupported tag '%s'", tag);
      return NULL;
    }
  }
  *is_merge = t == BRR_YTAG_MERGE;
  return typed_scalar(L, t, s, n, m);
}

/* ---- building maps ------------------------------------------------------------------------ */

static void push_pair(pair **v, size_t *n, size_t *cap, brr_value *k, brr_value *val, bool merged) {
  pair p = {k, val, merged};
  BRR_VEC_PUSH(*v, *n, *cap, p);
}

/* `<<: value`: a map, or a list of maps whose earlier entries win (PyYAML reverses them). */
static void add_merge(loader *L, frame *f, brr_value *v, brr_mark at) {
  if (v->type == BRR_VAL_MAP) {
    for (size_t i = 0; i < v->u.map.n; i++)
      push_pair(&f->merge, &f->n_merge, &f->cap_merge, v->u.map.v[i].key, v->u.map.v[i].val, true);
    return;
  }
  if (v->type != BRR_VAL_LIST) {
    fail(L, v->mark.line ? v->mark : at, "a merge key '<<' needs a map or a list of maps, found %s",
         brr_val_type_desc(v));
    return;
  }
  for (size_t i = 0; i < v->u.list.n; i++) {
    if (v->u.list.v[i]->type != BRR_VAL_MAP) {
      fail(L, v->u.list.v[i]->mark, "a merge key '<<' needs a list of maps, found %s in it",
           brr_val_type_desc(v->u.list.v[i]));
      return;
    }
  }
  for (size_t i = v->u.list.n; i-- > 0;) {
    const brr_value *m = v->u.list.v[i];
    for (size_t j = 0; j < m->u.map.n; j++)
      push_pair(&f->merge, &f->n_merge, &f->cap_merge, m->u.map.v[j].key, m->u.map.v[j].val, true);
  }
}

static void describe_key(const brr_value *k, brr_buf *out) {
  if (k->type == BRR_VAL_STR) brr_buf_append(out, k->u.s.ptr, k->u.s.len > 80 ? 80 : k->u.s.len);
  else brr_val_pystr(k, out);
}

static void warn_duplicate(loader *L, const brr_value *first, const brr_value *again) {
  brr_buf b = BRR_BUF_INIT;
  describe_key(again, &b);
  brr_mark f = map_mark(L, first->mark);
  warn(L, again->mark, "duplicate key '%s': this value replaces the one at %s:%u:%u", b.data,
       f.file ? f.file : "<input>", f.line, f.col);
  brr_buf_free(&b);
}

/* Merged pairs first, then the explicit ones: a key keeps its first position and takes the
 * last value, as OrderedDict(pairs) does. */
static void finish_map(loader *L, frame *f) {
  brr_value *map = f->node;
  size_t total = f->n_merge + f->n_pairs;
  bool small_explicit[16];
  bool *explicit_at = total < 16 ? memset(small_explicit, 0, sizeof small_explicit)
                                 : brr_xcalloc(total + 1, sizeof(bool));
  /* string keys -> entry, so big maps stay linear; most maps have a few keys, and a look
   * along them costs less than hashing (a hash per map was 3% of loading 10,000 steps) */
  bool indexed = total > 8;
  brr_strmap index = BRR_STRMAP_INIT;
  if (map->u.map.cap < total) {
    /* the map holds at most `total` entries: one array of that size, not a doubling series
     * whose smaller copies stay in the arena */
    map->u.map.v = brr_arena_grow(L->a, map->u.map.v, map->u.map.cap * sizeof(brr_map_entry),
                                  total * sizeof(brr_map_entry));
    map->u.map.cap = total;
  }
  for (size_t i = 0; i < total; i++) {
    const pair *p = i < f->n_merge ? &f->merge[i] : &f->pairs[i - f->n_merge];
    brr_value *k = p->key;
    brr_value *v = f->is_set ? brr_val_null(L->a, k->mark) : p->val;
    brr_map_entry *e = NULL;
    size_t at;
    if (!indexed) {
      e = brr_val_find(map, k);
    } else if (k->type == BRR_VAL_STR) {
      if (!memchr(k->u.s.ptr, '\0', k->u.s.len) && brr_strmap_get(&index, k->u.s.ptr, &at))
        e = &map->u.map.v[at];
      else if (memchr(k->u.s.ptr, '\0', k->u.s.len))
        e = brr_val_find(map, k);
    } else {
      e = brr_val_find(map, k);
    }
    if (e) {
      size_t j = (size_t)(e - map->u.map.v);
      if (!p->merged && explicit_at[j]) warn_duplicate(L, e->key, k);
      if (!p->merged) explicit_at[j] = true;
      e->val = v;
      continue;
    }
    explicit_at[map->u.map.n] = !p->merged;
    if (indexed && k->type == BRR_VAL_STR && !memchr(k->u.s.ptr, '\0', k->u.s.len))
      brr_strmap_put(&index, k->u.s.ptr, map->u.map.n);
    /* append directly: the lookup above already established the key is new */
    if (map->u.map.n == map->u.map.cap) {
      size_t cap = map->u.map.cap ? map->u.map.cap * 2 : 4;
      map->u.map.v = brr_arena_grow(L->a, map->u.map.v, map->u.map.cap * sizeof(brr_map_entry),
                                    cap * sizeof(brr_map_entry));
      map->u.map.cap = cap;
    }
    map->u.map.v[map->u.map.n++] = (brr_map_entry){k, v};
  }
  brr_strmap_free(&index);
  if (explicit_at != small_explicit) free(explicit_at);
}

/* ---- the event loop ------------------------------------------------------------------------ */

static void attach(loader *L, brr_value *v, bool is_merge_key) {
  size_t size = L->last_size;
  unsigned height = L->last_height;
  if (L->depth == 0) {
    L->root = v;
    L->have_root = true;
    return;
  }
  frame *f = &L->stack[L->depth - 1];
  f->size += size;
  if (height > f->height) f->height = height;
  if (f->node->type == BRR_VAL_LIST) {
    brr_val_list_push(L->a, f->node, v);
    return;
  }
  if (!f->key) {
    if (v->type == BRR_VAL_LIST || v->type == BRR_VAL_MAP) {
      fail(L, v->mark, "a map key must be a scalar, found %s", brr_val_type_desc(v));
      return;
    }
    f->key = v;
    f->key_is_merge = is_merge_key;
    return;
  }
  if (f->key_is_merge) add_merge(L, f, v, f->key->mark);
  else push_pair(&f->pairs, &f->n_pairs, &f->cap_pairs, f->key, v, false);
  f->key = NULL;
  f->key_is_merge = false;
}

static void open_collection(loader *L, brr_value *node, const char *anchor_name, bool is_set,
                            brr_mark m) {
  if (L->depth >= MAX_HEIGHT) {
    fail(L, m, "nesting deeper than %d levels", MAX_HEIGHT);
    return;
  }
  frame f = {0};
  f.node = node;
  f.is_set = is_set;
  if (anchor_name && !add_anchor(L, anchor_name, m, &f.anchor_idx)) return;
  if (L->depth < L->slots) {
    /* a slot opened before: its pair buffers are reused (a malloc and a free per map less) */
    const frame *old = &L->stack[L->depth];
    f.pairs = old->pairs;
    f.cap_pairs = old->cap_pairs;
    f.merge = old->merge;
    f.cap_merge = old->cap_merge;
    L->stack[L->depth++] = f;
    return;
  }
  BRR_VEC_PUSH(L->stack, L->depth, L->cap_stack, f);
  L->slots = L->depth;
}

static void close_collection(loader *L) {
  frame *f = &L->stack[L->depth - 1];
  if (f->node->type == BRR_VAL_MAP) finish_map(L, f);
  brr_value *node = f->node;
  size_t size = f->size + 1;
  unsigned height = f->height + 1;
  if (f->anchor_idx) {
    anchor *an = &L->anchors[f->anchor_idx - 1];
    an->node = node;
    an->size = size;
    an->height = height;
  }
  L->depth--;
  if (height > MAX_HEIGHT) {
    fail(L, node->mark, "nesting deeper than %d levels (aliases included)", MAX_HEIGHT);
    return;
  }
  L->last_size = size;
  L->last_height = height;
  attach(L, node, false);
}

static bool count_node(loader *L, brr_mark m) {
  if (++L->nodes > MAX_NODES) {
    fail(L, m, "document has more than %d nodes", MAX_NODES);
    return false;
  }
  return true;
}

static const char *collection_tag(loader *L, const yaml_char_t *tag, bool is_map, brr_mark m,
                                  bool *is_set) {
  *is_set = false;
  if (!tag || strcmp((const char *)tag, "!") == 0) return NULL;
  const char *t = (const char *)tag;
  if (is_map && strcmp(t, "tag:yaml.org,2002:map") == 0) return NULL;
  if (is_map && strcmp(t, "tag:yaml.org,2002:set") == 0) {
    *is_set = true;
    return NULL;
  }
  if (!is_map && strcmp(t, "tag:yaml.org,2002:seq") == 0) return NULL;
  fail(L, m, "unsupported tag '%s'", t);
  return t;
}

static void handle_event(loader *L, const yaml_event_t *ev) {
  brr_mark m = ymark(L, ev->start_mark);
  bool is_set;
  switch (ev->type) {
  case YAML_DOCUMENT_START_EVENT:
    if (++L->documents > 1)
      fail(L, m, "expected a single document, but found another document");
    break;
  case YAML_SCALAR_EVENT: {
    if (!count_node(L, m)) return;
    bool merge;
    brr_value *v = scalar_event(L, ev, &merge);
    if (!v) return;
    if (ev->data.scalar.anchor) {
      size_t idx;
      if (!add_anchor(L, (const char *)ev->data.scalar.anchor, m, &idx)) return;
      L->anchors[idx - 1].node = v;
      L->anchors[idx - 1].size = 1;
      L->anchors[idx - 1].height = 1;
    }
    L->last_size = 1;
    L->last_height = 1;
    attach(L, v, merge);
    break;
  }
  case YAML_ALIAS_EVENT: {
    brr_value *v = resolve_alias(L, (const char *)ev->data.alias.anchor, m);
    if (!v) return;
    /* the copy's root names where it is used; its inside still names where it was written */
    v->mark = m;
    attach(L, v, false);
    break;
  }
  case YAML_SEQUENCE_START_EVENT:
    if (!count_node(L, m)) return;
    if (collection_tag(L, ev->data.sequence_start.tag, false, m, &is_set)) return;
    open_collection(L, brr_val_list(L->a, m), (const char *)ev->data.sequence_start.anchor, false, m);
    break;
  case YAML_MAPPING_START_EVENT:
    if (!count_node(L, m)) return;
    if (collection_tag(L, ev->data.mapping_start.tag, true, m, &is_set)) return;
    open_collection(L, brr_val_map(L->a, m), (const char *)ev->data.mapping_start.anchor, is_set, m);
    break;
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    close_collection(L);
    break;
  default:
    break;
  }
}

static void syntax_error(loader *L, const yaml_parser_t *p, const char *text, size_t len) {
  brr_mark m;
  if (p->error == YAML_READER_ERROR) {
    /* the reader reports a byte offset, not a mark */
    unsigned line = 0, col = 0;
    for (size_t i = 0; i < p->problem_offset && i < len; i++) {
      if (text[i] == '\n') {
        line++;
        col = 0;
      } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
        col++;
      }
    }
    m = mark_at(L, line, col);
    fail(L, m, "invalid YAML: %s", p->problem ? p->problem : "cannot read the input");
    return;
  }
  if (p->error == YAML_MEMORY_ERROR) abort();
  m = ymark(L, p->problem_mark);
  if (p->context) {
    brr_mark c = ymark(L, p->context_mark);
    fail(L, m, "invalid YAML: %s (%s at line %u, column %u)", p->problem ? p->problem : "syntax error",
         p->context, c.line, c.col);
  } else {
    fail(L, m, "invalid YAML: %s", p->problem ? p->problem : "syntax error");
  }
}

static void loader_free(loader *L) {
  for (size_t i = 0; i < L->slots; i++) {
    free(L->stack[i].pairs);
    free(L->stack[i].merge);
  }
  free(L->stack);
  for (size_t i = 0; i < L->n_anchors; i++) free(L->anchors[i].name);
  free(L->anchors);
  brr_yscalar_ctx_free(L->sc);
}

brr_value *brr_yaml_load_mapped(brr_arena *a, const char *text, size_t len, const char *file,
                                const unsigned *line_map, size_t n_lines, brr_diags *d) {
  /* an identity line map (a config with no template tags) moves no mark: no walk over the tree */
  bool identity = line_map != NULL;
  for (size_t i = 0; identity && i < n_lines; i++) identity = line_map[i] == i + 1;
  if (identity) line_map = NULL;
  loader L = {0};
  L.a = a;
  L.d = d;
  L.file = file;
  L.line_map = line_map;
  L.n_lines = n_lines;
  L.text = text;
  L.len = len;
  L.sc = brr_yscalar_ctx_new();
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) abort();
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      syntax_error(&L, &p, text, len);
      break;
    }
    handle_event(&L, &ev);
    bool end = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
    if (end || L.failed) break;
  }
  yaml_parser_delete(&p);
  loader_free(&L);
  if (L.failed) return NULL;
  if (!L.have_root || L.root->type == BRR_VAL_NULL) return brr_val_map(a, map_mark(&L, (brr_mark){file, 1, 1}));
  if (line_map) remap_tree(&L, L.root);
  return L.root;
}

brr_value *brr_yaml_load(brr_arena *a, const char *text, size_t len, const char *file,
                         brr_diags *d) {
  return brr_yaml_load_mapped(a, text, len, file, NULL, 0, d);
}
