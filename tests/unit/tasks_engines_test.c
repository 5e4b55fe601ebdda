/* Placement over several engines (src/tasks/engines.c), without an engine: the placement
 * hooks on a runtime whose engines are only names, slots and platforms. A step's nodes stay on
 * the engine its first node got; a step prefers the engine holding the image it needs, then
 * one whose platforms fit, then the least loaded; an engine without a free slot is skipped
 * and a node with nowhere to go waits; a step with `files:` goes to an engine of this host
 * only; a node whose image is elsewhere gets the move task in front of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "brr/tasks.h"
#include "unit/graph_fixture.h"

typedef struct fx_rt {
  brr_config *cfg;
  brr_graph *g;
  brr_runtime rt;
  brr_runtime_engine eng[2];
  brr_strlist arm;
  brr_str arm_v[1];
} fx_rt;

static size_t node(const fx_rt *f, const char *id) {
  size_t i = graph_find(f->g, id);
  assert_int_not_equal(i, BRR_NO_STEP);
  return i;
}

static int freed;
static void dummy_free(brr_task *t) {
  (void)t;
  freed++;
}

static int place(fx_rt *f, const char *id) {
  const char *where = NULL;
  if (!brr_runtime_place(&f->rt, node(f, id), &where)) return -1;
  assert_non_null(where);
  int k = f->rt.node_engine[node(f, id)];
  assert_string_equal(where, f->eng[k].name);
  return k;
}

static void unplace(fx_rt *f, const char *id) { brr_runtime_unplace(&f->rt, node(f, id)); }

/* base builds and commits team/base:1; d1..d5 run in it; arm runs on linux/arm64; files
 * bind-mounts a host path; keys uses ssh-keys (an agent socket of this host, bound); scanned
 * pushes with a security-scan (the scanner mounts directories of this host). */
static fx_rt *setup_rt(void) {
  fx_rt *f = calloc(1, sizeof *f);
  brr_config *cfg = f->cfg = fx_new(10);
  brr_step *base = fx_step(cfg, "base");
  fx_build(cfg, base, "FROM busybox\n");
  fx_commit(cfg, base, "team/base", "1", NULL);
  static const char *const deps[] = {"d1", "d2", "d3", "d4", "d5"};
  for (size_t i = 0; i < 5; i++) {
    brr_step *d = fx_step(cfg, deps[i]);
    fx_run(cfg, d, "team/base:1");
    fx_cmd(cfg, d, "true");
  }
  brr_step *arm = fx_step(cfg, "arm");
  brr_run *r = fx_run(cfg, arm, "busybox");
  r->platform = fx_str(cfg, "linux/arm64", 90);
  brr_step *files = fx_step(cfg, "files");
  r = fx_run(cfg, files, "busybox");
  brr_kv *kv = brr_arena_alloc(cfg->arena, sizeof *kv);
  kv->key = fx_str(cfg, "data", 95);
  r->c.files = (brr_kvlist){kv, 1};
  brr_step *keys = fx_step(cfg, "keys");
  r = fx_run(cfg, keys, "busybox");
  brr_str *alias = brr_arena_alloc(cfg->arena, sizeof *alias);
  *alias = fx_str(cfg, "deploy", 99);
  r->ssh_keys = (brr_strlist){alias, 1};
  brr_step *scanned = fx_step(cfg, "scanned");
  fx_build(cfg, scanned, "FROM busybox\n");
  brr_pushspec *ps = fx_push(cfg, scanned, "team/scanned", "1", NULL);
  brr_value *scan = brr_val_map(cfg->arena, BRR_MARK_NONE);
  brr_val_map_sets(cfg->arena, scan, "enabled", brr_val_bool(cfg->arena, BRR_MARK_NONE, true));
  ps->security_scan = scan;
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph_opts o = {.native_platform = "linux/amd64"};
  assert_int_equal(brr_graph_compile(cfg, &o, &f->g, &d), 0);
  brr_diags_free(&d);
  f->rt.cfg = cfg;
  f->rt.arena = brr_arena_new();
  f->rt.graph = f->g;
  f->rt.steps = calloc(cfg->n_steps, sizeof(brr_step_state));
  f->arm_v[0] = (brr_str){"linux/arm64", BRR_MARK_NONE};
  f->arm = (brr_strlist){f->arm_v, 1};
  f->eng[0] = (brr_runtime_engine){.name = "here", .jobs = 2, .local = true};
  f->eng[1] = (brr_runtime_engine){.name = "far", .jobs = 2, .local = false, .platforms = &f->arm};
  f->rt.engines = f->eng;
  f->rt.n_engines = 2;
  f->rt.node_engine = malloc(f->g->n_nodes * sizeof(int));
  f->rt.node_slot = calloc(f->g->n_nodes, sizeof(bool));
  for (size_t i = 0; i < f->g->n_nodes; i++) f->rt.node_engine[i] = -1;
  return f;
}

static void teardown_rt(fx_rt *f) {
  brr_arena_free(f->rt.arena);
  free(f->rt.steps);
  free(f->rt.node_engine);
  free(f->rt.node_slot);
  brr_graph_free(f->g);
  fx_free(f->cfg);
  free(f);
}

static void test_step_stays_and_images_attract(void **state) {
  (void)state;
  fx_rt *f = setup_rt();
  /* nothing holds anything yet: the least loaded, then the first */
  assert_int_equal(place(f, "base/build"), 0);
  unplace(f, "base/build");
  assert_int_equal(f->eng[0].busy, 0);
  /* the commit follows its step, even with the other engine emptier */
  f->eng[0].busy = 1;
  assert_int_equal(place(f, "base/commit"), 0);
  unplace(f, "base/commit");
  f->eng[0].busy = 0;
  /* say base ran on "far": its image is there, so the dependents go there while it has room */
  f->rt.steps[f->g->nodes[node(f, "base/build")].step].engine = 1;
  assert_int_equal(place(f, "d1/run"), 1);
  assert_int_equal(place(f, "d2/run"), 1);
  assert_int_equal(place(f, "d3/run"), 0);   /* far is full: here, the image moves */
  assert_int_equal(place(f, "d4/run"), 0);
  assert_int_equal(place(f, "d5/run"), -1);  /* both full: it waits */
  unplace(f, "d1/run");
  assert_int_equal(place(f, "d5/run"), 1);
  /* the nodes that need no move keep their own task; the others get the move in front */
  static const brr_task_ops ops = {"dummy", NULL, NULL, dummy_free, NULL};
  brr_task inner = {.ops = &ops};
  assert_ptr_equal(brr_runtime_move_wrap(&f->rt, node(f, "d2/run"), &inner), &inner);
  brr_task *w = brr_runtime_move_wrap(&f->rt, node(f, "d3/run"), &inner);
  assert_ptr_not_equal(w, &inner);
  assert_string_equal(w->ops->name, "move");
  w->ops->free(w);                 /* the wrapper frees the task it wraps */
  assert_int_equal(freed, 1);
  for (const char *const *id = (const char *const[]){"d2/run", "d3/run", "d4/run", "d5/run", NULL}; *id; id++)
    unplace(f, *id);
  assert_int_equal(f->eng[0].busy + f->eng[1].busy, 0);
  teardown_rt(f);
}

static void test_platform_and_host_paths(void **state) {
  (void)state;
  fx_rt *f = setup_rt();
  /* a one-platform step prefers the engine whose platforms list it, over a lighter one */
  f->eng[0].busy = 0;
  f->eng[1].busy = 1;
  assert_int_equal(place(f, "arm/run"), 1);
  unplace(f, "arm/run");
  /* ... and a local engine without the list counts as the host's platform */
  f->rt.steps[f->g->nodes[node(f, "arm/run")].step].placed = false;
  f->rt.native_platform = "linux/arm64";
  f->eng[1].platforms = NULL;
  f->eng[0].busy = 1;
  f->eng[1].busy = 0;
  assert_int_equal(place(f, "arm/run"), 0);
  unplace(f, "arm/run");
  f->rt.native_platform = NULL;
  /* files: only an engine of this host, even when it is the busier one */
  f->eng[0].busy = 1;
  f->eng[1].busy = 0;
  assert_int_equal(place(f, "files/run"), 0);
  unplace(f, "files/run");
  f->eng[0].busy = 2;
  f->rt.steps[f->g->nodes[node(f, "files/run")].step].placed = false;
  assert_int_equal(place(f, "files/run"), -1);   /* here is full: it waits, never goes far */
  /* ssh-keys: the same */
  assert_int_equal(place(f, "keys/run"), -1);
  f->eng[0].busy = 1;
  assert_int_equal(place(f, "keys/run"), 0);
  unplace(f, "keys/run");
  /* a push with a security scan: the same, the step's build included */
  f->eng[0].busy = 2;
  assert_int_equal(place(f, "scanned/build"), -1);
  f->eng[0].busy = 1;
  assert_int_equal(place(f, "scanned/build"), 0);
  unplace(f, "scanned/build");
  /* ...and without the scan it may go far */
  size_t sc = f->g->nodes[node(f, "scanned/build")].step;
  f->rt.steps[sc].placed = false;
  f->cfg->steps[sc].push[0].security_scan = NULL;
  f->eng[0].busy = 2;
  assert_int_equal(place(f, "scanned/build"), 1);
  unplace(f, "scanned/build");
  teardown_rt(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_step_stays_and_images_attract),
      cmocka_unit_test(test_platform_and_host_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
