/* N container lifecycles (create, start, wait, remove) of `true` through brr's engine client,
 * first one after the other, then all at once on one loop. Prints wall times in ms;
 * bench/engine.sh sets them against `docker run --rm` measured in the same run.
 * usage: bench_engine_lifecycle [N] [image] */
#include <stdio.h>
#include <stdlib.h>

#include "brr/engine.h"

typedef struct life {
  brr_engine *e;
  const char *image;
  char *id;
  bool done;
  int failed;
  struct life *following;         /* sequential mode: started when this one is done */
} life;

static void life_start(life *l);

static void finish(life *l, const brr_engine_result *r) {
  if (r->status) {
    fprintf(stderr, "lifecycle failed: %s\n", r->error);
    l->failed = 1;
  }
  l->done = true;
  if (l->following) life_start(l->following);
}

static void on_removed(void *ud, const brr_engine_result *r) { finish(ud, r); }

static void on_waited(void *ud, const brr_engine_result *r) {
  life *l = ud;
  if (r->exit_code != 0) l->failed = 1;
  if (r->status) {
    finish(l, r);
    return;
  }
  brr_engine_container_remove(l->e, l->id, true, true, on_removed, l);
}

static void on_started(void *ud, const brr_engine_result *r) {
  life *l = ud;
  if (r->status) {
    finish(l, r);
    return;
  }
  brr_engine_container_wait(l->e, l->id, NULL, on_waited, l);
}

static void on_created(void *ud, const brr_engine_result *r) {
  life *l = ud;
  if (r->status) {
    finish(l, r);
    return;
  }
  l->id = brr_xstrdup(r->id);
  brr_engine_container_start(l->e, l->id, on_started, l);
}

static void life_start(life *l) {
  static const char *const cmd[] = {"true", NULL};
  brr_engine_container_spec spec = {.image = l->image, .cmd = cmd};
  brr_engine_container_create(l->e, &spec, on_created, l);
}

static void connected(void *ud, const brr_engine_result *r) {
  if (r->status) {
    fprintf(stderr, "%s\n", r->error);
    exit(1);
  }
  *(bool *)ud = true;
}

/* Runs n lifecycles, chained or all at once; returns the wall time in ms (-1: failure). */
static long run(uv_loop_t *loop, brr_engine *e, const char *image, int n, bool chained) {
  life *ls = brr_xcalloc((size_t)n, sizeof *ls);
  for (int i = 0; i < n; i++) {
    ls[i] = (life){.e = e, .image = image};
    if (chained && i + 1 < n) ls[i].following = &ls[i + 1];
  }
  uint64_t t0 = brr_mono_ms();
  if (chained) life_start(&ls[0]);
  else
    for (int i = 0; i < n; i++) life_start(&ls[i]);
  int failed = 0;
  for (;;) {
    int done = 0;
    for (int i = 0; i < n; i++) done += ls[i].done;
    if (done == n) break;
    uv_run(loop, UV_RUN_ONCE);
  }
  long ms = (long)(brr_mono_ms() - t0);
  for (int i = 0; i < n; i++) {
    failed |= ls[i].failed;
    free(ls[i].id);
  }
  free(ls);
  return failed ? -1 : ms;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20;
  const char *image = argc > 2 ? argv[2] : "127.0.0.1:5000/busybox:amd64";
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_engine *e = NULL;
  char *err = NULL;
  brr_engine_opts o = {.timeout_s = 600};
  if (brr_engine_new(&loop, &o, &e, &err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  bool ok = false;
  brr_engine_connect(e, connected, &ok);
  while (!ok) uv_run(&loop, UV_RUN_ONCE);
  long seq = run(&loop, e, image, n, true);
  long conc = run(&loop, e, image, n, false);
  brr_engine_stats st;
  brr_engine_get_stats(e, &st);
  printf("lifecycles %d\nbrr_sequential_ms %ld\nbrr_concurrent_ms %ld\nhttp_requests %llu\n", n,
         seq, conc, (unsigned long long)st.http_requests);
  int left = brr_engine_cleanup_sync(e);
  brr_engine_free(e);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return seq < 0 || conc < 0 || left ? 1 : 0;
}
