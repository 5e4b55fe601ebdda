/* brr — the value tree: what YAML and JSON documents load into, and what templates see.
 * Every node keeps the source mark it came from. Nodes live in a brr_arena and are freed
 * with it; maps keep insertion order (buildrunner's files are ordered maps). */
#ifndef BRR_VALUE_H
#define BRR_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/diag.h"
#include "brr/util.h"

typedef enum {
  BRR_VAL_NULL,
  BRR_VAL_BOOL,
  BRR_VAL_INT,
  BRR_VAL_FLOAT,
  BRR_VAL_STR,
  BRR_VAL_LIST,
  BRR_VAL_MAP,
} brr_val_type;

typedef struct brr_value brr_value;

typedef struct brr_map_entry {
  brr_value *key;  /* any scalar; buildrunner files use strings and ints (ports) */
  brr_value *val;
} brr_map_entry;

struct brr_value {
  brr_val_type type;
  brr_mark mark;        /* where the node starts in its source */
  union {
    bool b;
    int64_t i;
    double f;
    struct { char *ptr; size_t len; } s;              /* NUL-terminated, may hold NULs */
    struct { brr_value **v; size_t n, cap; } list;
    struct { brr_map_entry *v; size_t n, cap; } map;
  } u;
};

/* ---- construction (all in the arena) ---- */
brr_value *brr_val_null(brr_arena *a, brr_mark m);
brr_value *brr_val_bool(brr_arena *a, brr_mark m, bool b);
brr_value *brr_val_int(brr_arena *a, brr_mark m, int64_t i);
brr_value *brr_val_float(brr_arena *a, brr_mark m, double f);
brr_value *brr_val_str(brr_arena *a, brr_mark m, const char *s);
brr_value *brr_val_strn(brr_arena *a, brr_mark m, const char *s, size_t len);
brr_value *brr_val_list(brr_arena *a, brr_mark m);
brr_value *brr_val_map(brr_arena *a, brr_mark m);
void brr_val_list_push(brr_arena *a, brr_value *list, brr_value *item);
/* Set key -> val. An equal key that exists keeps its position and gets the new value (the
 * old entry is returned through *replaced when not NULL). */
void brr_val_map_set(brr_arena *a, brr_value *map, brr_value *key, brr_value *val,
                     brr_map_entry *replaced);
void brr_val_map_sets(brr_arena *a, brr_value *map, const char *key, brr_value *val);
/* Python's dict.update: brr_val_map_set for each entry of `over` in order (not a map: no-op),
 * in time linear in both sizes (brr_val_map_set alone scans the map per key). */
void brr_val_map_update(brr_arena *a, brr_value *map, const brr_value *over);
/* Remove an entry by string key; returns true when one was removed. */
bool brr_val_map_del(brr_value *map, const char *key);

/* ---- access ---- */
/* Value at string key `key`, or NULL (also NULL when `map` is NULL or not a map). */
brr_value *brr_val_get(const brr_value *map, const char *key);
/* Entry with a key equal to `key` (any scalar type), or NULL. */
brr_map_entry *brr_val_find(const brr_value *map, const brr_value *key);
const char *brr_val_cstr(const brr_value *v);   /* the string, or NULL when not a string */
bool brr_val_is(const brr_value *v, brr_val_type t);
/* Python truthiness: null, false, 0, 0.0, "", [] and {} are false. */
bool brr_val_truthy(const brr_value *v);
/* The type with an article, for messages: "a string", "a map", "null" ... */
const char *brr_val_type_desc(const brr_value *v);

/* ---- whole-tree operations ---- */
brr_value *brr_val_copy(brr_arena *a, const brr_value *v);
/* Deep equality; int 1 equals float 1.0 and true equals 1 as in Python. */
bool brr_val_equal(const brr_value *x, const brr_value *y);
/* Recursive dict merge, later wins per key; lists and scalars replaced whole (global config). */
brr_value *brr_val_merge(brr_arena *a, const brr_value *base, const brr_value *over);
/* Python str(): True, None, 2.0, "abc" (no quotes), lists/maps as Python reprs. */
void brr_val_pystr(const brr_value *v, brr_buf *out);
/* Python repr(): strings quoted as Python does ('a', "it's"). */
void brr_val_pyrepr(const brr_value *v, brr_buf *out);
/* JSON text (compact when indent < 0). Map keys are stringified. */
void brr_val_to_json(const brr_value *v, int indent, brr_buf *out);
/* Parse JSON text into a value tree; marks point into `file` (may be NULL). NULL on error,
 * with a diagnostic added. */
brr_value *brr_val_from_json(brr_arena *a, const char *text, size_t len, const char *file,
                             brr_diags *d);

#endif
