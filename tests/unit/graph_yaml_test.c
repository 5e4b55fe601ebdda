/* The graph of real files, loaded through brr_config_load: buildrunner's own examples
 * (read from $BRR_CONFORMANCE_DIR/buildrunner-examples, never copied) and the seed's scenarios written as buildrunner.yaml files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "unit/graph_fixture.h"

/* buildrunner's examples live outside the repository, in $BRR_CONFORMANCE_DIR (ctest sets it to
 * ../shared/conformance beside the clone); NULL when they are not there. */
static const char *conformance_dir(void) {
  static char *found;
  static bool looked;
  if (looked) return found;
  looked = true;
  const char *dir = getenv("BRR_CONFORMANCE_DIR");
  char *probe = dir && *dir ? brr_path_join(dir, "buildrunner-examples/depends/buildrunner.yaml") : NULL;
  if (probe && access(probe, R_OK) == 0) found = brr_xstrdup(dir);
  free(probe);
  return found;
}

typedef struct loaded {
  brr_config *cfg;
  brr_graph *g;
  brr_diags d;
} loaded;

static loaded load_dir(const char *dir, const char *file, const char *global, const brr_graph_opts *o) {
  loaded l = {NULL, NULL, BRR_DIAGS_INIT};
  brr_load_opts lo = {.build_dir = dir, .file = file, .global_config = global,
                      .master_config_path = "/nonexistent/brr-master.yaml",
                      .user_config_path = "/nonexistent/brr-user.yaml",
                      .push = o && o->push, .platform = o ? o->platform : NULL};
  int rc = brr_config_load(&lo, &l.cfg, &l.d);
  if (rc != 0) brr_diags_print(&l.d, stderr, false);
  assert_int_equal(rc, 0);
  brr_graph_opts go = o ? *o : (brr_graph_opts){0};
  if (!go.fs) go.fs = &brr_host_fs;   /* the examples' Dockerfiles are on disk */
  rc = brr_graph_compile(l.cfg, &go, &l.g, &l.d);
  if (rc != 0) brr_diags_print(&l.d, stderr, false);
  assert_int_equal(rc, 0);
  return l;
}

static loaded load_example(const char *name, const brr_graph_opts *o) {
  char *dir = brr_xasprintf("%s/buildrunner-examples/%s", conformance_dir(), name);
  loaded l = load_dir(dir, NULL, NULL, o);
  free(dir);
  return l;
}

static void unload(loaded *l) {
  brr_graph_free(l->g);
  brr_config_free(l->cfg);
  brr_diags_free(&l->d);
}

static void assert_edge(const brr_graph *g, const char *from, const char *to, brr_edge_reason r) {
  const brr_edge *e = fx_edge(g, from, to);
  if (!e) fprintf(stderr, "no edge %s -> %s\n", from, to);
  assert_non_null(e);
  assert_int_equal(e->reason, r);
}

/* ---- buildrunner's examples ---- */

static void test_example_depends(void **state) {
  (void)state;
  loaded l = load_example("depends", NULL);
  assert_edge(l.g, "step1/run", "step2/run", BRR_EDGE_DEPENDS);
  assert_edge(l.g, "step3/run", "step2/run", BRR_EDGE_DEPENDS);
  assert_edge(l.g, "step2/run", "step4/run", BRR_EDGE_DEPENDS);
  assert_int_equal(l.g->n_edges, 3);
  assert_int_equal(l.g->n_levels, 3);
  /* the edge points at the depends entry in the file */
  const brr_edge *e = fx_edge(l.g, "step3/run", "step2/run");
  assert_true(brr_endswith(e->mark.file, "depends/buildrunner.yaml"));
  assert_int_equal(e->mark.line, 11);
  unload(&l);
  /* --serial: graphlib's order for this version 2.0 file */
  brr_graph_opts o = {.serial = true};
  l = load_example("depends", &o);
  const char *want[] = {"step1/run", "step3/run", "step2/run", "step4/run"};
  for (size_t k = 0; k < 4; k++) assert_string_equal(l.g->nodes[l.g->order[k]].id, want[k]);
  unload(&l);
}

static void test_example_commit(void **state) {
  (void)state;
  loaded l = load_example("commit", NULL);
  /* `multi-push` runs the image `single-push` commits: no depends needed */
  assert_edge(l.g, "single-push/build", "single-push/commit", BRR_EDGE_TASK);
  assert_edge(l.g, "single-push/commit", "multi-push/run", BRR_EDGE_IMAGE);
  assert_string_equal(fx_edge(l.g, "single-push/commit", "multi-push/run")->detail, "myimages/committedimage:latest");
  unload(&l);
}

static void test_example_push(void **state) {
  (void)state;
  brr_graph_opts o = {.push = true};
  loaded l = load_example("push", &o);
  const char *tag = l.cfg->build_docker_tag;
  char *bt = brr_xasprintf("push:myimages/myalpine:%s", tag);
  const char *moving[] = {"push:myimages/myalpine:latest", "push:myimages/myalpine2:latest",
                          "push:myotherimages/upgradedalpine:latest"};
  const char *fixed[] = {bt, "push:myimages/myalpine:2.0", "push:myotherimages/upgradedalpine:3.0"};
  for (int m = 0; m < 3; m++) {
    assert_non_null(fx_node(l.g, moving[m]));
    assert_true(fx_node(l.g, moving[m])->moving);
    for (int f = 0; f < 3; f++) {
      assert_false(fx_node(l.g, fixed[f])->moving);
      assert_edge(l.g, fixed[f], moving[m], BRR_EDGE_MOVING_TAG);
    }
  }
  /* both steps push myimages/myalpine:<build tag>: one push, and the second commit waits */
  assert_edge(l.g, "single-push/commit", "multi-push/commit", BRR_EDGE_IMAGE);
  assert_int_equal(fx_node(l.g, bt)->step, 1);
  free(bt);
  unload(&l);
}

static void test_example_platforms(void **state) {
  (void)state;
  brr_graph_opts o = {.native_platform = "linux/amd64"};
  loaded l = load_example("build/platforms", &o);
  assert_edge(l.g, "multi-platform-build-step/build@linux/amd64", "multi-platform-build-step/manifest", BRR_EDGE_PLATFORM);
  assert_edge(l.g, "multi-platform-build-step/build@linux/arm64/v8", "multi-platform-build-step/manifest", BRR_EDGE_PLATFORM);
  assert_int_equal(l.g->n_nodes, 3);
  unload(&l);
}

static void test_example_builders(void **state) {
  (void)state;
  char *dir = brr_xasprintf("%s/buildrunner-examples/build/builders", conformance_dir());
  char *global = brr_path_join(dir, "global-config.yaml");
  brr_graph_opts o = {.native_platform = "linux/amd64"};
  loaded l = load_dir(dir, NULL, global, &o);
  const char *want[][2] = {{"linux/arm/v6", "builder1"}, {"linux/arm/v7", "builder2"}, {"linux/arm/v8", "builder3"},
                           {"linux/arm64", "builder1"}, {"linux/arm64/v8", "builder2"}};
  for (int i = 0; i < 5; i++) {
    char *id = brr_xasprintf("multi-platform-build-step/build@%s", want[i][0]);
    char *pool = brr_xasprintf("builder:%s", want[i][1]);
    assert_string_equal(fx_node(l.g, id)->pool, pool);
    free(id);
    free(pool);
  }
  unload(&l);
  /* the list form: builders taken in turn */
  free(global);
  global = brr_path_join(dir, "global-config-list.yaml");
  l = load_dir(dir, NULL, global, &o);
  assert_string_equal(fx_node(l.g, "multi-platform-build-step/build@linux/arm/v6")->builder, "builder1");
  assert_string_equal(fx_node(l.g, "multi-platform-build-step/build@linux/arm64/v8")->builder, "builder1");
  unload(&l);
  free(global);
  free(dir);
}

static void test_example_services(void **state) {
  (void)state;
  loaded l = load_example("run/services", NULL);
  assert_edge(l.g, "my-build-step/commit", "my-services-step/run", BRR_EDGE_IMAGE);
  unload(&l);
}

/* Every example that loads compiles, and its JSON is valid with a topological order. */
static void test_all_examples(void **state) {
  (void)state;
  char *pat = brr_xasprintf("%s/buildrunner-examples/*/buildrunner.yaml", conformance_dir());
  char *pat2 = brr_xasprintf("%s/buildrunner-examples/*/*/buildrunner.yaml", conformance_dir());
  glob_t gl;
  assert_int_equal(glob(pat, 0, NULL, &gl), 0);
  assert_int_equal(glob(pat2, GLOB_APPEND, NULL, &gl), 0);
  assert_true(gl.gl_pathc >= 25);
  size_t compiled = 0;
  for (size_t i = 0; i < gl.gl_pathc; i++) {
    char *dir = brr_path_dirname(gl.gl_pathv[i]);
    brr_load_opts lo = {.build_dir = dir, .global_config = NULL,
                        .master_config_path = "/nonexistent/m.yaml", .user_config_path = "/nonexistent/u.yaml"};
    brr_diags d = BRR_DIAGS_INIT;
    brr_config *cfg = NULL;
    brr_graph *g = NULL;
    brr_graph_opts o = {.push = true, .native_platform = "linux/amd64", .fs = &brr_host_fs};
    if (brr_config_load(&lo, &cfg, &d) == 0) {
      if (brr_graph_compile(cfg, &o, &g, &d) != 0) {
        brr_diags_print(&d, stderr, false);
        fail_msg("%s does not compile", gl.gl_pathv[i]);
      }
      brr_buf b = BRR_BUF_INIT;
      brr_graph_render(g, BRR_GRAPH_JSON, &b);
      cJSON *root = cJSON_Parse(b.data);
      assert_non_null(root);
      assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "order")), (int)g->n_nodes);
      cJSON_Delete(root);
      brr_buf_free(&b);
      compiled++;
    }
    brr_graph_free(g);
    brr_config_free(cfg);
    brr_diags_free(&d);
    free(dir);
  }
  fprintf(stderr, "compiled %zu of %zu examples\n", compiled, gl.gl_pathc);
  assert_true(compiled >= 20);
  globfree(&gl);
  free(pat);
  free(pat2);
}

/* ---- the seed's scenarios ---- */

static char *scenario(const char *yaml, const char *dockerfile) {
  char tmpl[] = "/tmp/brr-graph-yaml-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  char *p = brr_path_join(tmpl, "buildrunner.yaml");
  assert_int_equal(brr_write_file(p, yaml, strlen(yaml)), 0);
  free(p);
  if (dockerfile) {
    char *sub = brr_path_join(tmpl, "app");
    assert_int_equal(brr_mkdir_p(sub, 0755), 0);
    p = brr_path_join(sub, "Dockerfile");
    assert_int_equal(brr_write_file(p, dockerfile, strlen(dockerfile)), 0);
    free(p);
    free(sub);
  }
  return brr_xstrdup(tmpl);
}

static void test_seed_latest_last(void **state) {
  (void)state;
  char *dir = scenario("steps:\n"
                       "  build:\n"
                       "    build:\n"
                       "      dockerfile: |\n"
                       "        FROM busybox:latest\n"
                       "    push:\n"
                       "      repository: 127.0.0.1:5000/team/app\n"
                       "      tags: [ latest, '1.0' ]\n"
                       "  test:\n"
                       "    run:\n"
                       "      image: 127.0.0.1:5000/team/app:1.0\n"
                       "      cmd: \"true\"\n",
                       NULL);
  brr_graph_opts o = {.push = true};
  loaded l = load_dir(dir, NULL, NULL, &o);
  assert_edge(l.g, "build/commit", "test/run", BRR_EDGE_IMAGE);
  const brr_node *latest = fx_node(l.g, "push:127.0.0.1:5000/team/app:latest");
  assert_non_null(latest);
  assert_string_equal(latest->pool, "push:127.0.0.1:5000");
  /* latest is the last node to start; the versioned tags come before it */
  assert_ptr_equal(&l.g->nodes[l.g->order[l.g->n_nodes - 1]], latest);
  assert_edge(l.g, "push:127.0.0.1:5000/team/app:1.0", "push:127.0.0.1:5000/team/app:latest", BRR_EDGE_MOVING_TAG);
  char *bt = brr_xasprintf("push:127.0.0.1:5000/team/app:%s", l.cfg->build_docker_tag);
  assert_edge(l.g, bt, "push:127.0.0.1:5000/team/app:latest", BRR_EDGE_MOVING_TAG);
  assert_edge(l.g, "test/run", bt, BRR_EDGE_PUSH_BARRIER);
  free(bt);
  unload(&l);
  brr_rm_rf(dir);
  free(dir);
}

static void test_seed_mp_base(void **state) {
  (void)state;
  char *dir = scenario("steps:\n"
                       "  build-base:\n"
                       "    build:\n"
                       "      dockerfile: |\n"
                       "        FROM busybox:latest\n"
                       "        CMD /do-something-cool\n"
                       "      platforms:\n"
                       "        - linux/amd64\n"
                       "        - linux/arm64/v8\n"
                       "    push:\n"
                       "      repository: test-image1\n"
                       "      tags: [ v1 ]\n"
                       "  build-from-base:\n"
                       "    build:\n"
                       "      dockerfile: |\n"
                       "        FROM test-image1:v1\n"
                       "        CMD /do-something-else\n"
                       "      platforms:\n"
                       "        - linux/amd64\n"
                       "        - linux/arm64/v8\n"
                       "    push: test-image2\n",
                       NULL);
  brr_graph_opts o = {.native_platform = "linux/amd64"};
  loaded l = load_dir(dir, NULL, NULL, &o);
  const char *pb[] = {"build-from-base/build@linux/amd64", "build-from-base/build@linux/arm64/v8"};
  for (int i = 0; i < 2; i++) {
    assert_edge(l.g, "build-base/manifest", pb[i], BRR_EDGE_PLATFORM);
    const brr_edge *e = fx_edge(l.g, "build-base/manifest", pb[i]);
    assert_int_equal(e->mark.line, 16); /* the FROM line inside the block */
    assert_true(fx_node(l.g, pb[i])->base_from_build_registry);
    assert_int_equal(fx_node(l.g, pb[i])->base_step, 0);
  }
  assert_false(fx_node(l.g, "build-base/build@linux/amd64")->base_from_build_registry);
  /* the two base platforms run side by side */
  assert_false(fx_reaches(l.g, "build-base/build@linux/amd64", "build-base/build@linux/arm64/v8"));
  unload(&l);
  brr_rm_rf(dir);
  free(dir);
}

static void test_seed_dockerfile_on_disk(void **state) {
  (void)state;
  char *dir = scenario("steps:\n"
                       "  base:\n"
                       "    build:\n"
                       "      dockerfile: |\n"
                       "        FROM busybox:latest\n"
                       "    commit:\n"
                       "      repository: 127.0.0.1:5000/team/base\n"
                       "      tags: [ stable ]\n"
                       "  app:\n"
                       "    build:\n"
                       "      path: app\n"
                       "    commit: team/app:dev\n",
                       "ARG DOCKER_REGISTRY\n"
                       "ARG BASE_TAG=stable\n"
                       "FROM ${DOCKER_REGISTRY}/team/base:${BASE_TAG}\n"
                       "RUN true\n");
  char *global = brr_path_join(dir, "global.yaml");
  assert_int_equal(brr_write_file(global, "docker-registry: 127.0.0.1:5000\n", 32), 0);
  loaded l = load_dir(dir, NULL, global, NULL);
  assert_edge(l.g, "base/commit", "app/build", BRR_EDGE_IMAGE);
  const brr_edge *e = fx_edge(l.g, "base/commit", "app/build");
  assert_true(brr_endswith(e->mark.file, "/app/Dockerfile"));
  assert_int_equal(e->mark.line, 3);
  assert_string_equal(e->detail, "127.0.0.1:5000/team/base:stable");
  unload(&l);
  brr_rm_rf(dir);
  free(dir);
  free(global);
}

/* remote steps: `host` through the global build-servers aliases (the first server whose list
 * holds it), else as given; the node runs first in its step, in the pool ssh:<host> */
static void test_seed_remote_build_servers(void **state) {
  (void)state;
  char *dir = scenario("steps:\n"
                       "  aliased:\n"
                       "    remote: {host: alias2, cmd: make}\n"
                       "  later:\n"
                       "    remote: {host: shared, cmd: make}\n"
                       "  plain:\n"
                       "    remote: {host: ops@elsewhere, cmd: make, artifacts: {'*.rpm': ~}}\n"
                       "  both:\n"
                       "    remote: {host: alias1, cmd: make}\n"
                       "    run: {image: busybox, cmd: 'true'}\n",
                       NULL);
  char *global = brr_path_join(dir, "global.yaml");
  const char *g = "build-servers:\n"
                  "  user@server1: [alias1, alias2, shared]\n"
                  "  user@server2: [shared, alias3]\n";
  assert_int_equal(brr_write_file(global, g, strlen(g)), 0);
  loaded l = load_dir(dir, NULL, global, NULL);
  assert_string_equal(brr_remote_host(l.cfg, "alias2"), "user@server1");
  assert_string_equal(brr_remote_host(l.cfg, "alias3"), "user@server2");
  assert_string_equal(brr_remote_host(l.cfg, "shared"), "user@server1");
  assert_string_equal(brr_remote_host(l.cfg, "user@server1"), "user@server1");
  assert_string_equal(brr_remote_host(l.cfg, "nobody"), "nobody");
  const brr_node *n = fx_node(l.g, "aliased/remote");
  assert_non_null(n);
  assert_int_equal(n->kind, BRR_NODE_REMOTE);
  assert_string_equal(brr_node_kind_name(n->kind), "remote");
  assert_string_equal(n->pool, "ssh:user@server1");
  assert_string_equal(fx_node(l.g, "later/remote")->pool, "ssh:user@server1");
  assert_string_equal(fx_node(l.g, "plain/remote")->pool, "ssh:ops@elsewhere");
  /* buildrunner's task order: remote before run */
  assert_edge(l.g, "both/remote", "both/run", BRR_EDGE_TASK);
  /* --graph json names the kind and the pool */
  brr_buf out = BRR_BUF_INIT;
  brr_graph_render(l.g, BRR_GRAPH_JSON, &out);
  cJSON *j = cJSON_Parse(brr_buf_cstr(&out));
  assert_non_null(j);
  bool seen = false;
  const cJSON *node;
  cJSON_ArrayForEach(node, cJSON_GetObjectItem(j, "nodes")) {
    const cJSON *id = cJSON_GetObjectItem(node, "id");
    if (!cJSON_IsString(id) || strcmp(id->valuestring, "plain/remote") != 0) continue;
    seen = true;
    assert_string_equal(cJSON_GetObjectItem(node, "kind")->valuestring, "remote");
    assert_string_equal(cJSON_GetObjectItem(node, "pool")->valuestring, "ssh:ops@elsewhere");
  }
  assert_true(seen);
  cJSON_Delete(j);
  brr_buf_free(&out);
  unload(&l);
  /* no build-servers: the host as given */
  l = load_dir(dir, NULL, NULL, NULL);
  assert_string_equal(fx_node(l.g, "aliased/remote")->pool, "ssh:alias2");
  unload(&l);
  brr_rm_rf(dir);
  free(dir);
  free(global);
}

int main(void) {
  const struct CMUnitTest examples[] = {
      cmocka_unit_test(test_example_depends),   cmocka_unit_test(test_example_commit),
      cmocka_unit_test(test_example_push),      cmocka_unit_test(test_example_platforms),
      cmocka_unit_test(test_example_builders),  cmocka_unit_test(test_example_services),
      cmocka_unit_test(test_all_examples),
  };
  const struct CMUnitTest seeds[] = {
      cmocka_unit_test(test_seed_latest_last),  cmocka_unit_test(test_seed_remote_build_servers),
      cmocka_unit_test(test_seed_mp_base),      cmocka_unit_test(test_seed_dockerfile_on_disk),
  };
  int failed = cmocka_run_group_tests_name("seed scenarios", seeds, NULL, NULL);
  if (!conformance_dir()) {
    const char *dir = getenv("BRR_CONFORMANCE_DIR");
    printf("SKIPPED: buildrunner's examples are not at %s/buildrunner-examples (configure with "
           "-DBRR_CONFORMANCE_DIR=<dir>); only the seed scenarios ran\n", dir ? dir : "$BRR_CONFORMANCE_DIR");
    return failed ? failed : 77;
  }
  return failed + cmocka_run_group_tests_name("buildrunner examples", examples, NULL, NULL);
}
