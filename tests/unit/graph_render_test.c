/* --graph output: text, dot, mermaid and json, each deterministic. The JSON is read back
 * with cJSON and checked against the graph: fields, kinds, a valid topological order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "unit/graph_fixture.h"
#include "test_lookup.h"

/* The seed's pipeline: an MP base, an MP image built from it, a test run, latest pushed. */
static brr_config *seed_config(void) {
  brr_config *cfg = fx_new(8);
  brr_step *base = fx_step(cfg, "build-base");
  brr_build *bb = fx_build(cfg, base, "FROM busybox:latest\nCMD /do-something-cool\n");
  fx_platforms(cfg, bb, "linux/amd64", "linux/arm64/v8", NULL);
  fx_push(cfg, base, "test-image1", "bt-1", NULL);
  brr_step *dep = fx_step(cfg, "build-from-base");
  brr_build *db = fx_build(cfg, dep, "FROM test-image1:bt-1\nCMD /do-something-else\n");
  fx_platforms(cfg, db, "linux/amd64", "linux/arm64/v8", NULL);
  fx_push(cfg, dep, "test-image2", "bt-1", "latest", NULL);
  brr_step *end = fx_step(cfg, "end"); /* a name that would break mermaid as an id */
  fx_run(cfg, end, "test-image1:bt-1");
  fx_cmd(cfg, end, "echo \"quoted\" <ok>");
  return cfg;
}

static brr_graph *compile_seed(brr_config *cfg) {
  brr_graph_opts o = {.push = true, .native_platform = "linux/amd64"};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = NULL;
  assert_int_equal(brr_graph_compile(cfg, &o, &g, &d), 0);
  brr_diags_free(&d);
  return g;
}

static char *render(const brr_graph *g, brr_graph_format f) {
  brr_buf b = BRR_BUF_INIT;
  brr_graph_render(g, f, &b);
  return brr_buf_detach(&b);
}

static void test_format_parse(void **state) {
  (void)state;
  brr_graph_format f;
  assert_int_equal(brr_graph_format_parse("text", &f), 0);
  assert_int_equal(f, BRR_GRAPH_TEXT);
  assert_int_equal(brr_graph_format_parse("dot", &f), 0);
  assert_int_equal(f, BRR_GRAPH_DOT);
  assert_int_equal(brr_graph_format_parse("mermaid", &f), 0);
  assert_int_equal(f, BRR_GRAPH_MERMAID);
  assert_int_equal(brr_graph_format_parse("json", &f), 0);
  assert_int_equal(f, BRR_GRAPH_JSON);
  assert_int_equal(brr_graph_format_parse("svg", &f), BRR_EINVAL);
  assert_int_equal(brr_graph_format_parse(NULL, &f), BRR_EINVAL);
}

/* Same input, same bytes: render twice from two separate compilations. */
static void test_deterministic(void **state) {
  (void)state;
  for (int f = BRR_GRAPH_TEXT; f <= BRR_GRAPH_JSON; f++) {
    brr_config *c1 = seed_config(), *c2 = seed_config();
    brr_graph *g1 = compile_seed(c1), *g2 = compile_seed(c2);
    char *a = render(g1, (brr_graph_format)f), *b = render(g2, (brr_graph_format)f);
    assert_true(strlen(a) > 100);
    assert_string_equal(a, b);
    free(a);
    free(b);
    brr_graph_free(g1);
    brr_graph_free(g2);
    fx_free(c1);
    fx_free(c2);
  }
}

static double weigh_half(void *ud, const brr_node *n) {
  (void)ud;
  return n->kind == BRR_NODE_RUN ? 2.5 : -1;
}

static void test_text(void **state) {
  (void)state;
  brr_config *cfg = seed_config();
  brr_graph *g = compile_seed(cfg);
  char *t = render(g, BRR_GRAPH_TEXT);
  if (getenv("DUMP")) fputs(t, stderr);
  assert_non_null(strstr(t, "level 0\n"));
  /* the emulated platform build is the heaviest: it is marked critical */
  assert_non_null(strstr(t, "\n  * build-base/build@linux/arm64/v8  (platform-build, pool engine, 60 s)\n"));
  assert_non_null(strstr(t, "\n    build-base/build@linux/amd64  (platform-build, pool engine, 20 s)\n"));
  assert_non_null(strstr(t, "      <- build-base/manifest  platform test-image1:bt-1  (buildrunner.yaml:15)\n"));
  assert_non_null(strstr(t, "      <- build-base/commit  image test-image1:bt-1  (buildrunner.yaml:26)\n"));
  assert_non_null(strstr(t, "base from the build registry"));
  assert_non_null(strstr(t, "      <- push:test-image2:bt-1  moving-tag  (buildrunner.yaml:19)\n"));
  assert_non_null(strstr(t, "\ncritical path: build-base/build@linux/arm64/v8 -> build-base/manifest -> "));
  char summary[128];
  snprintf(summary, sizeof summary, "\n%zu nodes, %zu edges, %u levels, critical path %g s\n", g->n_nodes,
           g->n_edges, g->n_levels, g->critical_weight);
  assert_non_null(strstr(t, summary));
  assert_true(brr_endswith(t, summary));
  /* every node is listed once, under its level */
  for (size_t i = 0; i < g->n_nodes; i++) {
    char line[160];
    snprintf(line, sizeof line, " %s  (", g->nodes[i].id);
    const char *at = strstr(t, line);
    assert_non_null(at);
    assert_null(strstr(at + 1, line));
  }
  free(t);
  brr_graph_free(g);
  fx_free(cfg);
}

static size_t count(const char *t, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(t, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static void test_dot(void **state) {
  (void)state;
  brr_config *cfg = seed_config();
  brr_graph *g = compile_seed(cfg);
  char *t = render(g, BRR_GRAPH_DOT);
  if (getenv("DUMP")) fputs(t, stderr);
  assert_true(brr_startswith(t, "digraph brr {\n  rankdir=LR;\n"));
  assert_true(brr_endswith(t, "}\n"));
  /* each step's nodes in a cluster labelled with the step; weights in the labels; the
   * critical path in colour */
  assert_non_null(strstr(t, "  subgraph cluster_0 {\n    label=\"build-base\"; fontsize=11; color=gray70;\n"
                            "    \"build-base/build@linux/amd64\" [label=\"build-base/build@linux/amd64\\nplatform-build, 20 s\"];\n"
                            "    \"build-base/build@linux/arm64/v8\" [label=\"build-base/build@linux/arm64/v8\\nplatform-build, 1m00s\", color=\"#d62728\", penwidth=2];\n"));
  assert_int_equal(count(t, "subgraph cluster_"), 4);   /* 3 steps and the legend */
  /* edges labelled with their detail; critical edge coloured, inferred dashed, policy dotted */
  assert_non_null(strstr(t, "  \"build-base/build@linux/arm64/v8\" -> \"build-base/manifest\" [label=\"platform\", color=\"#d62728\", penwidth=2];\n"));
  assert_non_null(strstr(t, "  \"build-base/commit\" -> \"end/run\" [label=\"image\\ntest-image1:bt-1\", style=dashed"));
  assert_non_null(strstr(t, "-> \"push:test-image2:latest\" [label=\"moving-tag\", style=dotted];\n"));
  assert_non_null(strstr(t, "label=\"legend\""));
  assert_null(strstr(t, "moving-tag barrier"));   /* 2 x 1 moving-tag edges: no barrier needed */
  /* every node once, every edge once */
  for (size_t i = 0; i < g->n_nodes; i++) {
    char line[400];
    snprintf(line, sizeof line, "\"%s\" [label=\"%s\\n", g->nodes[i].id, g->nodes[i].id);
    assert_int_equal(count(t, line), 1);
  }
  assert_int_equal(count(t, " -> \""), g->n_edges);   /* the legend's edges are unquoted */
  free(t);
  /* weights measured by earlier runs show as such, in text and dot */
  brr_graph_set_weights(g, weigh_half, NULL);
  t = render(g, BRR_GRAPH_DOT);
  assert_non_null(strstr(t, "[label=\"end/run\\nrun, 2.5 s (measured)\""));
  free(t);
  t = render(g, BRR_GRAPH_TEXT);
  assert_non_null(strstr(t, "  end/run  (run, pool engine, 2.5 s measured)\n"));
  free(t);
  brr_graph_free(g);
  fx_free(cfg);
}

/* N steps pushing an immutable tag and `latest`: the N x N moving-tag edges become one
 * barrier node with N edges in and N out. */
static void test_dot_barrier(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  const char *names[] = {"a", "b", "c", "d"};
  for (size_t i = 0; i < 4; i++) {
    brr_step *s = fx_step(cfg, names[i]);
    fx_build(cfg, s, "FROM busybox\n");
    char repo[16];
    snprintf(repo, sizeof repo, "img-%s", names[i]);
    fx_push(cfg, s, brr_arena_strdup(cfg->arena, repo), "v1", "latest", NULL);
  }
  brr_graph *g = compile_seed(cfg);
  size_t mt = 0;
  for (size_t k = 0; k < g->n_edges; k++) mt += g->edges[k].reason == BRR_EDGE_MOVING_TAG;
  assert_int_equal(mt, 16);
  char *t = render(g, BRR_GRAPH_DOT);
  assert_non_null(strstr(t, "  \"moving-tag barrier\" [shape=circle"));
  assert_int_equal(count(t, "-> \"moving-tag barrier\""), 4);
  assert_int_equal(count(t, "\"moving-tag barrier\" -> "), 4);
  assert_int_equal(count(t, "[label=\"moving-tag\""), 8);
  free(t);
  /* the JSON keeps every edge */
  t = render(g, BRR_GRAPH_JSON);
  assert_int_equal(count(t, "\"reason\":\"moving-tag\""), 16);
  free(t);
  brr_graph_free(g);
  fx_free(cfg);
}

static void test_mermaid(void **state) {
  (void)state;
  brr_config *cfg = seed_config();
  brr_graph *g = compile_seed(cfg);
  char *t = render(g, BRR_GRAPH_MERMAID);
  assert_true(brr_startswith(t, "flowchart LR\n"));
  size_t end = graph_find(g, "end/run");
  char want[96];
  snprintf(want, sizeof want, "  n%zu[\"end/run<br/>run\"]\n", end);
  assert_non_null(strstr(t, want));
  size_t from = graph_find(g, "build-base/commit");
  snprintf(want, sizeof want, "  n%zu -.->|image| n%zu\n", from, end);
  assert_non_null(strstr(t, want));
  snprintf(want, sizeof want, "  n%zu ==>|platform| n%zu\n", graph_find(g, "build-base/build@linux/arm64/v8"),
           graph_find(g, "build-base/manifest"));
  assert_non_null(strstr(t, want));
  assert_non_null(strstr(t, "  classDef critical stroke-width:3px\n  class n"));
  free(t);
  brr_graph_free(g);
  fx_free(cfg);
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_non_null(v);
  return cJSON_IsNull(v) ? NULL : v->valuestring;
}

static void check_json_nodes(const brr_graph *g, const cJSON *nodes) {
  static const char *kinds[] = {"build", "platform-build", "manifest", "run", "post-build", "commit", "push"};
  assert_int_equal(cJSON_GetArraySize(nodes), (int)g->n_nodes);
  int i = 0;
  const cJSON *n;
  cJSON_ArrayForEach(n, nodes) {
    const brr_node *gn = &g->nodes[i++];
    assert_string_equal(jstr(n, "id"), gn->id);
    assert_string_equal(jstr(n, "step"), g->cfg->steps[gn->step].name.s);
    const char *kind = jstr(n, "kind");
    bool known = false;
    for (size_t k = 0; k < BRR_ARRAY_LEN(kinds); k++) known |= strcmp(kind, kinds[k]) == 0;
    assert_true(known);
    const char *plat = jstr(n, "platform"), *image = jstr(n, "image");
    if (gn->kind == BRR_NODE_PLATFORM_BUILD) assert_string_equal(plat, gn->platform);
    else assert_null(plat);
    if (gn->kind == BRR_NODE_PUSH) assert_string_equal(image, gn->image);
    else assert_null(image);
    assert_int_equal(cJSON_GetObjectItem(n, "level")->valuedouble, gn->level);
    assert_true(cJSON_GetObjectItem(n, "weight")->valuedouble == gn->weight);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(n, "critical")), gn->critical);
  }
}

static void test_json(void **state) {
  (void)state;
  brr_config *cfg = seed_config();
  brr_graph *g = compile_seed(cfg);
  char *t = render(g, BRR_GRAPH_JSON);
  cJSON *root = cJSON_Parse(t);
  assert_non_null(root);
  assert_string_equal(jstr(root, "format_version"), "1");
  check_json_nodes(g, cJSON_GetObjectItem(root, "nodes"));
  const cJSON *edges = cJSON_GetObjectItem(root, "edges");
  assert_int_equal(cJSON_GetArraySize(edges), (int)g->n_edges);
  /* order: every id exactly once, each edge's source before its target */
  const cJSON *order = cJSON_GetObjectItem(root, "order");
  assert_int_equal(cJSON_GetArraySize(order), (int)g->n_nodes);
  size_t *pos = brr_xcalloc(g->n_nodes, sizeof *pos);
  bool *seen = brr_xcalloc(g->n_nodes, sizeof *seen);
  size_t k = 0;
  const cJSON *o;
  cJSON_ArrayForEach(o, order) {
    size_t i = graph_find(g, o->valuestring);
    assert_int_not_equal(i, BRR_NO_STEP);
    assert_false(seen[i]);
    seen[i] = true;
    pos[i] = k++;
  }
  const cJSON *e;
  size_t n_moving = 0;
  cJSON_ArrayForEach(e, edges) {
    size_t f = graph_find(g, jstr(e, "from")), t2 = graph_find(g, jstr(e, "to"));
    assert_true(pos[f] < pos[t2]);
    n_moving += strcmp(jstr(e, "reason"), "moving-tag") == 0;
  }
  assert_int_equal(n_moving, 2); /* two immutable pushes before latest */
  const cJSON *crit = cJSON_GetObjectItem(root, "critical_path");
  assert_int_equal(cJSON_GetArraySize(crit), (int)g->n_critical);
  assert_string_equal(cJSON_GetArrayItem(crit, 0)->valuestring, "build-base/build@linux/arm64/v8");
  free(pos);
  free(seen);
  cJSON_Delete(root);
  free(t);
  brr_graph_free(g);
  fx_free(cfg);
}

/* --graph --incremental: a node's note under it in text, an "incremental" object in JSON, and
 * nothing of it when no note was set. */
static void test_incremental_notes(void **state) {
  (void)state;
  brr_config *cfg = seed_config();
  brr_graph *g = compile_seed(cfg);
  char *plain = render(g, BRR_GRAPH_JSON);
  assert_null(strstr(plain, "\"incremental\""));
  g->nodes[0].incr_note = "runs: source (inputs:) changed";
  g->nodes[1].incr_note = "reused, if its image is the same";
  g->nodes[1].incr_reused = true;
  char *t = render(g, BRR_GRAPH_TEXT);
  char *want = brr_xasprintf("%s  (", g->nodes[0].id);
  const char *at = strstr(t, want);
  assert_non_null(at);
  assert_non_null(strstr(at, ")\n      incremental: runs: source (inputs:) changed\n"));
  assert_non_null(strstr(t, "      incremental: reused, if its image is the same\n"));
  char *j = render(g, BRR_GRAPH_JSON);
  assert_non_null(strstr(j, "\"incremental\":{\"reused\":false,\"note\":\"runs: source (inputs:) changed\"}"));
  assert_non_null(strstr(j, "\"incremental\":{\"reused\":true,\"note\":\"reused, if its image is the same\"}"));
  free(want);
  free(plain);
  free(t);
  free(j);
  brr_graph_free(g);
  fx_free(cfg);
}

static void test_empty_graph(void **state) {
  (void)state;
  brr_config *cfg = fx_new(1);
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = NULL;
  assert_int_equal(brr_graph_compile(cfg, NULL, &g, &d), 0);
  char *t = render(g, BRR_GRAPH_JSON);
  assert_string_equal(t, "{\"format_version\":\"1\",\"nodes\":[],\"edges\":[],\"order\":[],\"critical_path\":[]}\n");
  free(t);
  t = render(g, BRR_GRAPH_TEXT);
  assert_true(brr_endswith(t, "0 nodes, 0 edges, 0 levels, critical path 0 s\n"));
  free(t);
  brr_graph_free(g);
  fx_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_parse), cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_incremental_notes),
      cmocka_unit_test(test_text),         cmocka_unit_test(test_dot),
      cmocka_unit_test(test_dot_barrier),
      cmocka_unit_test(test_mermaid),      cmocka_unit_test(test_json),
      cmocka_unit_test(test_empty_graph),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
