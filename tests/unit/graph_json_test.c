/* --graph=json byte for byte. brr writes the document straight into a buffer; these tests
 * hold it to what the earlier writer (a cJSON item per node, edge and id, printed with
 * cJSON_PrintUnformatted) gave:
 * - configs in tests/unit/data/graph_json/ against expected outputs that the cJSON writer
 *   produced (BRR_GRAPH_JSON_WRITE=1 rewrites them; only ever do that from a writer known to
 *   be right);
 * - hand-made graphs with awkward strings (quotes, controls, UTF-8, U+2028) and weights
 *   (fractions, huge, tiny, past INT_MAX, from history) against that cJSON writer, kept here
 *   as the reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "brr/config.h"
#include "brr/graph.h"
#include "brr/util.h"

/* ---- the reference: the cJSON writer brr had before ----------------------------------------- */

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static char *reference_json(const brr_graph *g) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "format_version", cJSON_CreateString("1"));
  cJSON *nodes = cJSON_AddArrayToObject(root, "nodes");
  for (size_t i = 0; i < g->n_nodes; i++) {
    const brr_node *n = &g->nodes[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "id", cJSON_CreateString(n->id));
    const char *step = g->cfg && n->step < g->cfg->n_steps ? g->cfg->steps[n->step].name.s : NULL;
    cJSON_AddItemToObject(o, "step", str_or_null(step));
    cJSON_AddItemToObject(o, "kind", cJSON_CreateString(brr_node_kind_name(n->kind)));
    cJSON_AddItemToObject(o, "platform", str_or_null(n->platform));
    cJSON_AddItemToObject(o, "image", str_or_null(n->kind == BRR_NODE_PUSH ? n->image : NULL));
    cJSON_AddItemToObject(o, "level", cJSON_CreateNumber(n->level));
    cJSON_AddItemToObject(o, "weight", cJSON_CreateNumber(n->weight));
    cJSON_AddItemToObject(o, "critical", cJSON_CreateBool(n->critical));
    cJSON_AddItemToObject(o, "pool", str_or_null(n->pool));
    cJSON_AddItemToArray(nodes, o);
  }
  cJSON *edges = cJSON_AddArrayToObject(root, "edges");
  for (size_t k = 0; k < g->n_edges; k++) {
    const brr_edge *e = &g->edges[k];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "from", cJSON_CreateString(g->nodes[e->from].id));
    cJSON_AddItemToObject(o, "to", cJSON_CreateString(g->nodes[e->to].id));
    cJSON_AddItemToObject(o, "reason", cJSON_CreateString(brr_edge_reason_name(e->reason)));
    cJSON_AddItemToObject(o, "detail", str_or_null(e->detail));
    cJSON_AddItemToArray(edges, o);
  }
  cJSON *order = cJSON_AddArrayToObject(root, "order");
  for (size_t k = 0; k < g->n_nodes; k++) cJSON_AddItemToArray(order, cJSON_CreateString(g->nodes[g->order[k]].id));
  cJSON *crit = cJSON_AddArrayToObject(root, "critical_path");
  for (size_t k = 0; k < g->n_critical; k++)
    cJSON_AddItemToArray(crit, cJSON_CreateString(g->nodes[g->critical_path[k]].id));
  char *s = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  char *out = brr_xasprintf("%s\n", s);
  cJSON_free(s);
  return out;
}

static char *render_json(const brr_graph *g) {
  brr_buf b = BRR_BUF_INIT;
  brr_graph_render(g, BRR_GRAPH_JSON, &b);
  return brr_buf_detach(&b);
}

/* ---- configs against the outputs the cJSON writer gave ---------------------------------------- */

typedef struct variant {
  const char *suffix;
  bool push, serial;
} variant;

static const variant VARIANTS[] = {{"", false, false}, {".push", true, false}, {".serial-push", true, true}};
static const char *const CASES[] = {"hello", "mp", "names", "gen200"};

static char *data_dir(void) {
  const char *src = getenv("BRR_SOURCE_DIR");
  return brr_xasprintf("%s/tests/unit/data/graph_json", src ? src : ".");
}

static char *compile_case(const char *dir, const char *name, const variant *v) {
  char *file = brr_xasprintf("%s.yaml", name);
  brr_load_opts lo = {.build_dir = dir, .file = file, .build_number = "7", .build_time = 1700000000,
                      .push = v->push, .master_config_path = "", .user_config_path = ""};
  brr_diags d = BRR_DIAGS_INIT;
  brr_config *cfg = NULL;
  int rc = brr_config_load(&lo, &cfg, &d);
  if (rc) brr_diags_print(&d, stderr, false);
  assert_int_equal(rc, 0);
  brr_graph_opts go = {.push = v->push, .serial = v->serial, .native_platform = "linux/amd64"};
  brr_graph *g = NULL;
  rc = brr_graph_compile(cfg, &go, &g, &d);
  if (rc) brr_diags_print(&d, stderr, false);
  assert_int_equal(rc, 0);
  char *json = render_json(g);
  /* the same bytes when written to a file in pieces (gen200 is several pieces) */
  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(brr_graph_render_file(g, BRR_GRAPH_JSON, f), 0);
  long size = ftell(f);
  assert_int_equal((size_t)size, strlen(json));
  rewind(f);
  char *back = brr_xmalloc((size_t)size + 1);
  assert_int_equal(fread(back, 1, (size_t)size, f), (size_t)size);
  back[size] = '\0';
  assert_string_equal(back, json);
  free(back);
  fclose(f);
  /* a write that fails is reported */
  FILE *full = fopen("/dev/full", "w");
  if (full) {
    assert_int_equal(brr_graph_render_file(g, BRR_GRAPH_JSON, full), -1);
    fclose(full);
  }
  /* the cJSON writer, here, on the same graph */
  char *ref = reference_json(g);
  assert_string_equal(json, ref);
  free(ref);
  brr_graph_free(g);
  brr_config_free(cfg);
  brr_diags_free(&d);
  free(file);
  return json;
}

static void test_configs_as_before(void **state) {
  (void)state;
  char *dir = data_dir();
  bool write = getenv("BRR_GRAPH_JSON_WRITE") != NULL;
  for (size_t c = 0; c < BRR_ARRAY_LEN(CASES); c++)
    for (size_t v = 0; v < BRR_ARRAY_LEN(VARIANTS); v++) {
      char *json = compile_case(dir, CASES[c], &VARIANTS[v]);
      char *path = brr_xasprintf("%s/%s%s.json", dir, CASES[c], VARIANTS[v].suffix);
      if (write) {
        assert_int_equal(brr_write_file(path, json, strlen(json)), 0);
      } else {
        brr_buf want = BRR_BUF_INIT;
        assert_int_equal(brr_read_file(path, &want), 0);
        if (strcmp(json, brr_buf_cstr(&want)) != 0) fail_msg("%s differs from the cJSON writer's output", path);
        brr_buf_free(&want);
      }
      free(path);
      free(json);
    }
  free(dir);
}

/* ---- hand-made graphs against the cJSON writer ------------------------------------------------- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* Any byte but NUL, with more of the ones JSON escapes, plus whole UTF-8 sequences. */
static char *awkward_string(brr_arena *a, size_t k) {
  static const char *const pieces[] = {"\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x01", "\x1f", "\x7f",
                                       "\xc3\xa9", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xf0\x9f\x98\x80", "<>&'",
                                       "\xff", "a", "build@linux/arm64"};
  brr_buf b = BRR_BUF_INIT;
  brr_buf_printf(&b, "n%zu-", k);  /* ids stay unique */
  size_t len = rng() % 12;
  for (size_t i = 0; i < len; i++) {
    if (rng() % 3 == 0) brr_buf_putc(&b, (char)(1 + rng() % 255));
    else brr_buf_puts(&b, pieces[rng() % BRR_ARRAY_LEN(pieces)]);
  }
  char *s = brr_arena_strdup(a, brr_buf_cstr(&b));
  brr_buf_free(&b);
  return s;
}

static const double WEIGHTS[] = {0, 0.5, 1, 2, 3, 20, 60, 0.1, 0.2, 1.0 / 3, 2.0 / 3, 1e-7, 1e-300, 5e-324,
                                 123456789.123, 2147483646.0, 2147483647.0, 2147483648.0, 4294967296.5,
                                 1e15, 1e16, 1e17 + 8, 1e21, 1e300, 1.7976931348623157e308, 0.30000000000000004,
                                 12.345, 99.99, 1e-5, 3.14159265358979};

static double weight_of(void *ud, const brr_node *n) {
  (void)ud;
  (void)n;
  if (rng() % 2) return WEIGHTS[rng() % BRR_ARRAY_LEN(WEIGHTS)];
  /* history: a measured duration, any double */
  double ms = (double)(rng() % 100000000) / (double)(1 + rng() % 1000);
  return rng() % 4 ? ms : -1;  /* negative: the kind's default */
}

static void test_hand_made_graphs(void **state) {
  (void)state;
  for (int round = 0; round < 60; round++) {
    brr_graph *g = brr_graph_new(NULL);
    size_t n = 1 + rng() % 40;
    for (size_t k = 0; k < n; k++) {
      brr_node_kind kind = (brr_node_kind)(rng() % 7);
      size_t x = brr_graph_add_node(g, awkward_string(g->arena, k), kind, BRR_NO_STEP);
      brr_node *node = &g->nodes[x];
      node->platform = rng() % 2 ? awkward_string(g->arena, k) : NULL;
      node->image = rng() % 2 ? awkward_string(g->arena, k) : NULL;
      node->pool = rng() % 3 ? awkward_string(g->arena, k) : NULL;
    }
    for (size_t k = 0; k < n * 2; k++) {
      size_t a = rng() % n, b = rng() % n;
      if (a == b) continue;
      if (a > b) {
        size_t t = a;
        a = b;
        b = t;
      }
      brr_graph_add_edge(g, a, b, (brr_edge_reason)(rng() % 8), (brr_mark){"f", 1, 1},
                         rng() % 2 ? awkward_string(g->arena, k) : NULL);
    }
    brr_diags d = BRR_DIAGS_INIT;
    assert_int_equal(brr_graph_finish(g, &d), 0);
    brr_graph_set_weights(g, weight_of, NULL);
    char *json = render_json(g), *ref = reference_json(g);
    assert_string_equal(json, ref);
    free(json);
    free(ref);
    brr_diags_free(&d);
    brr_graph_free(g);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_configs_as_before),
      cmocka_unit_test(test_hand_made_graphs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
