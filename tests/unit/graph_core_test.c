/* graph core: adjacency, cycle report, one-slot order, priorities, critical path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "brr/graph.h"
#include "test_lookup.h"

static void test_order_and_priority(void **state) {
  (void)state;
  brr_graph *g = brr_graph_new(NULL);
  size_t a = brr_graph_add_node(g, "a/build", BRR_NODE_BUILD, 0);
  size_t b = brr_graph_add_node(g, "b/run", BRR_NODE_RUN, 1);
  size_t c = brr_graph_add_node(g, "c/run", BRR_NODE_RUN, 2);
  size_t d = brr_graph_add_node(g, "d/run", BRR_NODE_RUN, 3);
  g->nodes[a].weight = 1;
  g->nodes[b].weight = 1;
  g->nodes[c].weight = 10;
  g->nodes[d].weight = 1;
  brr_graph_add_edge(g, a, b, BRR_EDGE_IMAGE, BRR_MARK_NONE, "x:latest");
  brr_graph_add_edge(g, a, b, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL); /* duplicate pair */
  brr_graph_add_edge(g, b, d, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
  brr_diags dg = BRR_DIAGS_INIT;
  assert_int_equal(brr_graph_finish(g, &dg), 0);
  assert_int_equal(g->n_edges, 2);
  assert_int_equal(g->edges[0].reason, BRR_EDGE_IMAGE);
  /* c alone weighs 10, a->b->d weighs 3: c starts first */
  assert_int_equal(g->order[0], c);
  assert_int_equal(g->order[1], a);
  assert_int_equal(g->order[3], d);
  assert_true(g->nodes[c].critical);
  assert_false(g->nodes[a].critical);
  assert_int_equal(g->n_levels, 3);
  assert_true(g->critical_weight == 10);
  assert_int_equal(graph_find(g, "d/run"), d);
  assert_int_equal(graph_find(g, "nope"), BRR_NO_STEP);
  brr_graph_free(g);
  brr_diags_free(&dg);
}

static void test_cycle(void **state) {
  (void)state;
  brr_graph *g = brr_graph_new(NULL);
  size_t n[5];
  char id[16];
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "s%d/run", i);
    n[i] = brr_graph_add_node(g, id, BRR_NODE_RUN, (size_t)i);
  }
  brr_mark m = {"buildrunner.yaml", 7, 5};
  for (int i = 0; i < 5; i++) brr_graph_add_edge(g, n[i], n[(i + 1) % 5], BRR_EDGE_DEPENDS, m, NULL);
  brr_diags dg = BRR_DIAGS_INIT;
  assert_int_equal(brr_graph_finish(g, &dg), BRR_ECONFIG);
  assert_int_equal(dg.n_errors, 1);
  const char *msg = dg.v[0].msg;
  assert_non_null(strstr(msg, "dependency cycle"));
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "s%d/run", i);
    assert_non_null(strstr(msg, id));
  }
  assert_non_null(strstr(msg, "buildrunner.yaml:7"));
  brr_graph_free(g);
  brr_diags_free(&dg);
}

static void test_self_cycle(void **state) {
  (void)state;
  brr_graph *g = brr_graph_new(NULL);
  size_t a = brr_graph_add_node(g, "a/run", BRR_NODE_RUN, 0);
  brr_graph_add_edge(g, a, a, BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
  brr_diags dg = BRR_DIAGS_INIT;
  assert_int_equal(brr_graph_finish(g, &dg), BRR_ECONFIG);
  assert_non_null(strstr(dg.v[0].msg, "a/run\n    -> a/run"));
  brr_graph_free(g);
  brr_diags_free(&dg);
}

static double double_weight(void *ud, const brr_node *node) {
  (void)ud;
  return node->kind == BRR_NODE_BUILD ? 100 : -1;
}

static void test_set_weights(void **state) {
  (void)state;
  brr_graph *g = brr_graph_new(NULL);
  size_t a = brr_graph_add_node(g, "a/build", BRR_NODE_BUILD, 0);
  size_t b = brr_graph_add_node(g, "b/run", BRR_NODE_RUN, 1);
  brr_diags dg = BRR_DIAGS_INIT;
  assert_int_equal(brr_graph_finish(g, &dg), 0);
  brr_graph_set_weights(g, double_weight, NULL);
  assert_true(g->nodes[a].weight == 100);
  assert_true(g->nodes[b].weight == brr_node_default_weight(BRR_NODE_RUN));
  assert_int_equal(g->order[0], a);
  brr_graph_free(g);
  brr_diags_free(&dg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_priority),
      cmocka_unit_test(test_cycle),
      cmocka_unit_test(test_self_cycle),
      cmocka_unit_test(test_set_weights),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
