/* The ready heap and the resource pools (ninja's pools: a named depth that limits how many
 * nodes of that kind run at once, beside the global job slots). */
#include <stdlib.h>
#include <string.h>

#include "sched_internal.h"

static bool before(const sched_heap *h, size_t a, size_t b) {
  double pa = h->g->nodes[a].priority, pb = h->g->nodes[b].priority;
  if (pa != pb) return pa > pb;
  return a < b;
}

void brr__sched_heap_push(sched_heap *h, size_t x) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 64;
    h->v = brr_xrealloc(h->v, h->cap * sizeof(size_t));
  }
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(h, x, h->v[p])) break;
    h->v[i] = h->v[p];
    i = p;
  }
  h->v[i] = x;
}

size_t brr__sched_heap_pop(sched_heap *h) {
  size_t top = h->v[0];
  size_t x = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = l;
    if (l >= h->n) break;
    if (r < h->n && before(h, h->v[r], h->v[l])) m = r;
    if (!before(h, h->v[m], x)) break;
    h->v[i] = h->v[m];
    i = m;
  }
  if (h->n) h->v[i] = x;
  return top;
}

void brr__sched_heap_free(sched_heap *h) {
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

size_t brr__sched_pools_find(const sched_pools *p, const char *name) {
  if (!name) return SCHED_NO_POOL;
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->v[i].name, name) == 0) return i;
  return SCHED_NO_POOL;
}

static void add_pool(sched_pools *p, const brr_graph *g, const char *name, int limit) {
  size_t i = brr__sched_pools_find(p, name);
  if (i != SCHED_NO_POOL) {
    p->v[i].limit = limit;   /* a later entry for the same name wins, as in a merged config */
    return;
  }
  sched_pool pool = {name, limit, 0, {NULL, 0, 0, g}};
  BRR_VEC_PUSH(p->v, p->n, p->cap, pool);
}

void brr__sched_pools_init(sched_pools *p, const brr_graph *g, const brr_pool_limit *limits, size_t n) {
  memset(p, 0, sizeof *p);
  for (size_t i = 0; i < n; i++)
    if (limits[i].name) add_pool(p, g, limits[i].name, limits[i].limit);
}

bool brr__sched_pool_full(const sched_pool *p) { return p->limit > 0 && p->in_use >= p->limit; }

void brr__sched_pools_free(sched_pools *p) {
  for (size_t i = 0; i < p->n; i++) brr__sched_heap_free(&p->v[i].waiting);
  free(p->v);
  memset(p, 0, sizeof *p);
}
