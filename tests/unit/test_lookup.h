/* Look-ups only the tests need (the code reaches nodes and values by index and by key). */
#ifndef BRR_TEST_LOOKUP_H
#define BRR_TEST_LOOKUP_H

#include <string.h>

#include "brr/graph.h"
#include "brr/value.h"

/* Index of the node with this id, or BRR_NO_STEP. */
static inline size_t graph_find(const brr_graph *g, const char *id) {
  size_t i;
  return brr_strmap_get(&g->ids, id, &i) ? i : BRR_NO_STEP;
}

/* Follow a dotted path of string keys ("a.b.c"); NULL when any step is missing. */
static inline brr_value *val_path(const brr_value *root, const char *dotted) {
  const brr_value *cur = root;
  const char *p = dotted;
  char part[256];
  while (cur && *p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof part) return NULL;
    memcpy(part, p, n);
    part[n] = '\0';
    cur = brr_val_get(cur, part);
    p += n + (dot ? 1 : 0);
  }
  return (brr_value *)cur;
}

#endif
