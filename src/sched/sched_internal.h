/* Private to src/sched: the ready heap, resource pools and the duration history. */
#ifndef BRR_SCHED_INTERNAL_H
#define BRR_SCHED_INTERNAL_H

#include "brr/sched.h"

#define SCHED_NO_POOL ((size_t)-1)

/* Node indices ordered by priority (heaviest path to the end) first, then by index: the
 * compiler adds nodes in file order, so ties go to the step written first. */
typedef struct sched_heap {
  size_t *v;
  size_t n, cap;
  const brr_graph *g;
} sched_heap;

void brr__sched_heap_push(sched_heap *h, size_t node);
size_t brr__sched_heap_pop(sched_heap *h);
void brr__sched_heap_free(sched_heap *h);

/* A named limit. Ready nodes that find their pool full wait in the pool's own heap and
 * return to the ready heap one per released slot, so a full pool never blocks other work. */
typedef struct sched_pool {
  const char *name;
  int limit;                /* <= 0: no limit of its own */
  int in_use;
  sched_heap waiting;
} sched_pool;

typedef struct sched_pools {
  sched_pool *v;
  size_t n, cap;
} sched_pools;

/* The pools named in the options. A node whose pool is not among them has no limit but -j. */
void brr__sched_pools_init(sched_pools *p, const brr_graph *g, const brr_pool_limit *limits, size_t n);
size_t brr__sched_pools_find(const sched_pools *p, const char *name);   /* SCHED_NO_POOL if none */
bool brr__sched_pool_full(const sched_pool *p);
void brr__sched_pools_free(sched_pools *p);

/* Duration history: node id -> seconds of its last successful run. */
typedef struct sched_history {
  char **ids;
  double *secs;
  size_t n, cap;
  brr_strmap index;
} sched_history;

/* Read the file (a missing or unreadable file is an empty history; bad lines are skipped). */
void brr__sched_history_load(sched_history *h, const char *path);
void brr__sched_history_set(sched_history *h, const char *id, double secs);
double brr__sched_history_get(const sched_history *h, const char *id);   /* < 0 when unknown */
/* Write atomically (temporary file and rename); 0 or -errno. */
int brr__sched_history_save(const sched_history *h, const char *path);
void brr__sched_history_free(sched_history *h);

#endif
