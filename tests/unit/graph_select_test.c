/* Which nodes exist and in what order they may start: --steps / --with-deps, --serial
 * (buildrunner's exact order), and --push with its barrier and moving tags last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "unit/graph_fixture.h"
#include "test_lookup.h"

static brr_graph *compile_ok(const brr_config *cfg, const brr_graph_opts *o, brr_diags *d) {
  brr_graph *g = NULL;
  int rc = brr_graph_compile(cfg, o, &g, d);
  if (rc != 0) brr_diags_print(d, stderr, false);
  assert_int_equal(rc, 0);
  return g;
}

/* The steps in the order one slot starts their first node. */
static void assert_step_order(const brr_graph *g, const char *want) {
  char got[256] = "";
  bool seen[64] = {false};
  for (size_t k = 0; k < g->n_nodes; k++) {
    const brr_node *n = &g->nodes[g->order[k]];
    if (n->step >= 64 || seen[n->step] || n->kind == BRR_NODE_PUSH) continue;
    seen[n->step] = true;
    if (*got) strcat(got, " ");
    strcat(got, g->cfg->steps[n->step].name.s);
  }
  assert_string_equal(got, want);
}

/* ---- --serial ---- */

static brr_config *spec_example(void) {
  /* spec §4: s1; s2 depends [s3, s4]; s3; s4 -> graphlib gives s1, s3, s4, s2 */
  brr_config *cfg = fx_new(8);
  cfg->has_version = true;
  cfg->version = 2.0;
  const char *names[] = {"s1", "s2", "s3", "s4"};
  for (int i = 0; i < 4; i++) {
    brr_step *s = fx_step(cfg, names[i]);
    fx_run(cfg, s, "busybox");
  }
  fx_depends(cfg, &cfg->steps[1], "s3", "s4", NULL);
  return cfg;
}

static void test_serial_graphlib(void **state) {
  (void)state;
  brr_config *cfg = spec_example();
  brr_graph_opts o = {.serial = true};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  assert_step_order(g, "s1 s3 s4 s2");
  assert_non_null(fx_edge(g, "s1/run", "s3/run"));
  assert_int_equal(fx_edge(g, "s1/run", "s3/run")->reason, BRR_EDGE_SERIAL);
  assert_int_equal(g->n_levels, 4); /* a chain: nothing runs beside anything */
  brr_graph_free(g);
  /* without --serial the independent steps are all at level 0 */
  o.serial = false;
  g = compile_ok(cfg, &o, &d);
  assert_int_equal(g->n_levels, 2);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* graphlib ranks a name at its first mention: a dependency named before its own step
 * comes first; successors are released in the order their edges were added. */
static void test_serial_graphlib_ranks(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  cfg->has_version = true;
  cfg->version = 2.1;
  const char *names[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; i++) fx_run(cfg, fx_step(cfg, names[i]), "busybox");
  fx_depends(cfg, &cfg->steps[0], "e", NULL);      /* a after e: e is ranked second */
  fx_depends(cfg, &cfg->steps[1], "d", "c", NULL);
  fx_depends(cfg, &cfg->steps[2], "e", NULL);
  /* add order: (a,e) (b,d) (b,c) (c,e); d ranks before c.
   * wave 1: e, d  (no predecessors, in rank order)
   * done(e): a, c released in that order; done(d): b has c left
   * wave 2: a, c; done(c): b */
  brr_graph_opts o = {.serial = true};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  assert_step_order(g, "e d a c b");
  brr_graph_free(g);
  /* below 2.0 the order is the file's, and depends against it are dropped */
  cfg->version = 1.0;
  g = compile_ok(cfg, &o, &d);
  assert_step_order(g, "a b c d e");
  assert_null(fx_edge(g, "e/run", "a/run"));
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* An image edge that points backwards in the file is dropped under --serial: buildrunner
 * runs the reader first and it uses whatever image exists. */
static void test_serial_drops_backward_inference(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  fx_run(cfg, fx_step(cfg, "reader"), "img");
  brr_step *w = fx_step(cfg, "writer");
  fx_build(cfg, w, "FROM busybox\n");
  fx_commit(cfg, w, "img", "latest", NULL);
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_non_null(fx_edge(g, "writer/commit", "reader/run"));
  brr_graph_free(g);
  brr_graph_opts o = {.serial = true};
  g = compile_ok(cfg, &o, &d);
  assert_null(fx_edge(g, "writer/commit", "reader/run"));
  assert_step_order(g, "reader writer");
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* ---- --steps ---- */

static brr_config *chain_config(void) {
  /* base <-image- app <-depends- test ; other independent; late overwrites app's image */
  brr_config *cfg = fx_new(8);
  cfg->has_version = true;
  cfg->version = 2.0;
  brr_step *base = fx_step(cfg, "base");
  fx_build(cfg, base, "FROM busybox\n");
  fx_commit(cfg, base, "base", "1", NULL);
  brr_step *app = fx_step(cfg, "app");
  fx_build(cfg, app, "FROM base:1\n");
  fx_commit(cfg, app, "app", "1", NULL);
  brr_step *test = fx_step(cfg, "test");
  fx_run(cfg, test, "busybox");
  fx_depends(cfg, test, "app", NULL);
  fx_run(cfg, fx_step(cfg, "other"), "busybox");
  brr_step *late = fx_step(cfg, "late");
  fx_build(cfg, late, "FROM busybox\n");
  fx_commit(cfg, late, "base", "1", NULL);
  return cfg;
}

static void test_steps_selection(void **state) {
  (void)state;
  brr_config *cfg = chain_config();
  char *steps[] = {"test", "base", NULL};
  brr_graph_opts o = {.steps = steps};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  /* buildrunner's meaning: only those steps, dependencies not added */
  assert_int_equal(g->n_steps, 2);
  assert_int_equal(g->steps[0], 0); /* file order */
  assert_int_equal(g->steps[1], 2);
  assert_null(fx_node(g, "app/build"));
  assert_int_equal(fx_node(g, "test/run")->n_in, 0);
  brr_graph_free(g);
  /* --with-deps: what they depend on, through depends and image edges; not `late`, which
   * only must not overwrite base:1 under app */
  o.with_deps = true;
  g = compile_ok(cfg, &o, &d);
  assert_int_equal(g->n_steps, 3);
  assert_non_null(fx_edge(g, "app/commit", "test/run"));
  assert_non_null(fx_edge(g, "base/commit", "app/build"));
  assert_null(fx_node(g, "late/build"));
  assert_null(fx_node(g, "other/run"));
  brr_graph_free(g);
  brr_diags_free(&d);

  char *bad[] = {"tset", "nope", NULL};
  o.steps = bad;
  g = (brr_graph *)1;
  assert_int_equal(brr_graph_compile(cfg, &o, &g, &d), BRR_ECONFIG);
  assert_null(g);
  assert_string_equal(d.v[d.n - 1].msg, "The following steps do not exist: tset, nope (did you mean 'test' for 'tset'?)");
  brr_diags_free(&d);
  char *one[] = {"tset", NULL};
  o.steps = one;
  assert_int_equal(brr_graph_compile(cfg, &o, &g, &d), BRR_ECONFIG);
  assert_string_equal(d.v[d.n - 1].msg, "The following steps do not exist: tset (did you mean 'test'?)");
  brr_diags_free(&d);
  fx_free(cfg);
}

/* ---- --push ---- */

/* The seed's case: `latest` is pushed last, after every immutable tag. */
static void test_push_barrier_and_moving_tags(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_strlist mt = {brr_arena_alloc(cfg->arena, sizeof(brr_str)), 1};
  mt.v[0] = fx_str(cfg, "stable", 1);
  cfg->global.moving_tags = mt;
  brr_step *a = fx_step(cfg, "a");
  fx_build(cfg, a, "FROM busybox\n");
  fx_push(cfg, a, "registry.example.com:5000/team/a", "1.2.3", "latest", NULL);
  brr_step *b = fx_step(cfg, "b");
  fx_build(cfg, b, "FROM busybox\n");
  fx_run(cfg, b, NULL);
  fx_push(cfg, b, "team/b:9", "stable", NULL);
  brr_step *t = fx_step(cfg, "t");
  fx_run(cfg, t, "busybox");
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  for (size_t i = 0; i < g->n_nodes; i++) assert_int_not_equal(g->nodes[i].kind, BRR_NODE_PUSH);
  brr_graph_free(g);

  brr_graph_opts o = {.push = true};
  g = compile_ok(cfg, &o, &d);
  const char *imm[] = {"push:registry.example.com:5000/team/a:1.2.3", "push:team/b:9"};
  const char *mov[] = {"push:registry.example.com:5000/team/a:latest", "push:team/b:stable"};
  const char *sinks[] = {"a/commit", "b/commit", "t/run"};
  for (int i = 0; i < 2; i++) {
    const brr_node *p = fx_node(g, imm[i]);
    assert_non_null(p);
    assert_false(p->moving);
    for (int s = 0; s < 3; s++) {
      const brr_edge *e = fx_edge(g, sinks[s], imm[i]);
      assert_non_null(e);
      assert_int_equal(e->reason, BRR_EDGE_PUSH_BARRIER);
    }
    const brr_node *m = fx_node(g, mov[i]);
    assert_non_null(m);
    assert_true(m->moving);
    for (int j = 0; j < 2; j++) {
      const brr_edge *e = fx_edge(g, imm[j], mov[i]);
      assert_non_null(e);
      assert_int_equal(e->reason, BRR_EDGE_MOVING_TAG);
    }
    /* every push comes after every step; moving ones after every immutable one */
    for (int s = 0; s < 3; s++) assert_true(fx_reaches(g, sinks[s], mov[i]));
    assert_true(fx_pos(g, mov[i]) > fx_pos(g, imm[0]) && fx_pos(g, mov[i]) > fx_pos(g, imm[1]));
  }
  /* immutable pushes run side by side */
  assert_false(fx_reaches(g, imm[0], imm[1]));
  assert_false(fx_reaches(g, imm[1], imm[0]));
  assert_string_equal(fx_node(g, imm[0])->pool, "push:registry.example.com:5000");
  assert_string_equal(fx_node(g, imm[1])->pool, "push:docker.io");
  assert_string_equal(fx_node(g, imm[0])->image, "registry.example.com:5000/team/a:1.2.3");
  assert_ptr_equal(fx_node(g, imm[0])->pushspec, &a->push[0]);
  assert_int_equal(fx_node(g, imm[1])->step, 1);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* Only moving tags: they wait for the barrier themselves. A tag pushed by two steps is one
 * push, of the later step's image. */
static void test_push_only_moving(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_step *a = fx_step(cfg, "a");
  fx_build(cfg, a, "FROM busybox\n");
  fx_push(cfg, a, "Team/App", "LATEST", NULL);  /* lower-cased, as buildrunner tags it */
  brr_step *b = fx_step(cfg, "b");
  fx_build(cfg, b, "FROM busybox\n");
  fx_push(cfg, b, "team/app", "latest", NULL);
  brr_graph_opts o = {.push = true};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  const brr_node *p = fx_node(g, "push:team/app:latest");
  assert_non_null(p);
  assert_int_equal(p->step, 1);
  assert_int_equal(g->n_nodes, 5);
  assert_int_equal(fx_edge(g, "b/commit", "push:team/app:latest")->reason, BRR_EDGE_PUSH_BARRIER);
  /* b replaces the tag a made: after a; so the barrier needs only b, the one sink */
  assert_int_equal(fx_edge(g, "a/commit", "b/commit")->reason, BRR_EDGE_IMAGE);
  assert_null(fx_edge(g, "a/commit", "push:team/app:latest"));
  assert_true(fx_reaches(g, "a/commit", "push:team/app:latest"));
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

static void test_push_serial(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_step *a = fx_step(cfg, "a");
  fx_build(cfg, a, "FROM busybox\n");
  fx_push(cfg, a, "x/a", "latest", "1", NULL);
  brr_step *m = fx_step(cfg, "m");
  brr_build *mb = fx_build(cfg, m, "FROM busybox\n");
  fx_platforms(cfg, mb, "linux/amd64", "linux/arm64", NULL);
  fx_push(cfg, m, "x/m", "2", NULL);
  brr_graph_opts o = {.push = true, .serial = true, .native_platform = "linux/amd64"};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  /* multi-platform pushes first, then the others in order; moving tags last */
  assert_true(fx_pos(g, "push:x/m:2") < fx_pos(g, "push:x/a:1"));
  assert_true(fx_pos(g, "push:x/a:1") < fx_pos(g, "push:x/a:latest"));
  assert_int_equal(fx_edge(g, "push:x/m:2", "push:x/a:1")->reason, BRR_EDGE_SERIAL);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* pypi-push: one node per step, only with --push, behind the barrier like the image pushes;
 * with --serial after the last image push (buildrunner uploads after pushing images). */
static void test_pypi_push(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_step *a = fx_step(cfg, "a");
  fx_build(cfg, a, "FROM busybox\n");
  fx_push(cfg, a, "x/a", "latest", "1", NULL);
  brr_step *p = fx_step(cfg, "pkg");
  fx_run(cfg, p, "busybox");
  p->pypi_push = brr_arena_alloc(cfg->arena, 2 * sizeof *p->pypi_push);
  p->pypi_push[0].repository = fx_str(cfg, "internal", fx_line(cfg, p, 8));
  p->pypi_push[0].mark = p->pypi_push[0].repository.mark;
  p->pypi_push[1].repository = fx_str(cfg, "https://pypi.example.com/legacy/", fx_line(cfg, p, 9));
  p->n_pypi_push = 2;
  brr_step *t = fx_step(cfg, "t");
  fx_run(cfg, t, "busybox");
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_int_equal(d.n, 0);  /* no "left out" warning any more */
  assert_int_equal(graph_find(g, "pypi-push:pkg"), BRR_NO_STEP);
  brr_graph_free(g);

  brr_graph_opts o = {.push = true};
  g = compile_ok(cfg, &o, &d);
  const brr_node *n = fx_node(g, "pypi-push:pkg");
  assert_non_null(n);
  assert_int_equal(n->kind, BRR_NODE_PYPI_PUSH);
  assert_int_equal(n->step, 1);
  assert_string_equal(brr_node_kind_name(n->kind), "pypi-push");
  const char *sinks[] = {"a/commit", "pkg/run", "t/run"};
  for (int s = 0; s < 3; s++) {
    const brr_edge *e = fx_edge(g, sinks[s], "pypi-push:pkg");
    assert_non_null(e);
    assert_int_equal(e->reason, BRR_EDGE_PUSH_BARRIER);
    assert_int_equal(e->mark.line, fx_line(cfg, p, 8));
  }
  /* side by side with the image pushes otherwise */
  assert_false(fx_reaches(g, "push:x/a:1", "pypi-push:pkg"));
  assert_int_equal(graph_find(g, "pypi-push:a"), BRR_NO_STEP);
  brr_graph_free(g);

  o.serial = true;
  g = compile_ok(cfg, &o, &d);
  assert_int_equal(fx_edge(g, "push:x/a:latest", "pypi-push:pkg")->reason, BRR_EDGE_SERIAL);
  assert_true(fx_pos(g, "push:x/a:1") < fx_pos(g, "pypi-push:pkg"));
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* Priorities: the heaviest path starts first with one slot. */
static void test_priority_order(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  fx_run(cfg, fx_step(cfg, "quick"), "busybox");
  brr_step *mp = fx_step(cfg, "slow");
  brr_build *b = fx_build(cfg, mp, "FROM busybox\n");
  fx_platforms(cfg, b, "linux/amd64", "linux/arm64", NULL);
  brr_graph_opts o = {.native_platform = "linux/amd64"};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  assert_int_equal(fx_pos(g, "slow/build@linux/arm64"), 0);
  assert_true(fx_node(g, "slow/build@linux/arm64")->critical);
  assert_true(fx_node(g, "slow/manifest")->critical);
  assert_false(fx_node(g, "quick/run")->critical);
  assert_int_equal(g->n_critical, 2);
  assert_true(g->critical_weight == fx_node(g, "slow/build@linux/arm64")->weight + fx_node(g, "slow/manifest")->weight);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_serial_graphlib),
      cmocka_unit_test(test_serial_graphlib_ranks),
      cmocka_unit_test(test_serial_drops_backward_inference),
      cmocka_unit_test(test_steps_selection),
      cmocka_unit_test(test_push_barrier_and_moving_tags),
      cmocka_unit_test(test_push_only_moving),
      cmocka_unit_test(test_push_serial),
      cmocka_unit_test(test_pypi_push),
      cmocka_unit_test(test_priority_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
