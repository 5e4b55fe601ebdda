/* The build tasks' decisions that need no Docker, on configs loaded from real YAML files:
 * build args as Python's str(), the pull default of spec §5, push/commit references, buildx
 * cache settings (step and global docker-build-cache), the native platform pick of spec §7,
 * FROM lines rewritten to the build registry, and the Docker Hub pulls a run would make. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/tasks/build_internal.h"

static char *dir;

typedef struct loaded {
  brr_config *cfg;
  brr_graph *g;
} loaded;

static void write_in(const char *name, const char *text) {
  char *p = brr_path_join(dir, name);
  assert_int_equal(brr_write_file(p, text, strlen(text)), 0);
  free(p);
}

static loaded load(const char *yaml, const char *global) {
  write_in("buildrunner.yaml", yaml);
  write_in(".buildrunner.yaml", global ? global : "{}\n");
  loaded l = {0};
  brr_diags d = BRR_DIAGS_INIT;
  brr_load_opts lo = {.build_dir = dir, .master_config_path = "", .user_config_path = ""};
  int rc = brr_config_load(&lo, &l.cfg, &d);
  if (rc != 0) brr_diags_print(&d, stderr, false);
  assert_int_equal(rc, 0);
  rc = brr_graph_compile(l.cfg, NULL, &l.g, &d);
  if (rc != 0) brr_diags_print(&d, stderr, false);
  assert_int_equal(rc, 0);
  brr_diags_free(&d);
  return l;
}

static void unload(loaded *l) {
  brr_graph_free(l->g);
  brr_config_free(l->cfg);
}

static int setup(void **state) {
  (void)state;
  char t[] = "/tmp/brr-buildtest-XXXXXX";
  dir = brr_xstrdup(mkdtemp(t));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  brr_rm_rf(dir);
  free(dir);
  return 0;
}

static char *joined(char **v) {
  brr_buf b = BRR_BUF_INIT;
  for (size_t i = 0; v && v[i]; i++) brr_buf_printf(&b, "%s%s", i ? "|" : "", v[i]);
  return brr_buf_detach(&b);
}

static void test_build_args(void **state) {
  (void)state;
  loaded l = load("steps:\n  a:\n    build:\n      dockerfile: 'FROM x'\n      buildargs:\n"
                  "        S: text\n        I: 7\n        B: true\n        F: 2.0\n        N: null\n"
                  "        DOCKER_REGISTRY: mine\n",
                  "docker-registry: 127.0.0.1:5000\n");
  char **v = brr_build_args(l.cfg->steps[0].build, l.cfg->global.docker_registry);
  char *s = joined(v);
  /* Python's str() of each value; DOCKER_REGISTRY is always the global one */
  assert_string_equal(s, "S=text|I=7|B=True|F=2.0|N=None|DOCKER_REGISTRY=127.0.0.1:5000");
  free(s);
  brr_strv_free(v);
  unload(&l);
}

static brr_runtime *fake_runtime(bool local_images) {
  brr_runtime *rt = brr_xcalloc(1, sizeof *rt);
  rt->arena = brr_arena_new();
  rt->opts.local_images = local_images;
  return rt;
}

static void fake_free(brr_runtime *rt) {
  brr_strmap_free(&rt->committed);
  brr_arena_free(rt->arena);
  free(rt);
}

static void test_pull_default(void **state) {
  (void)state;
  write_in("Dockerfile.file", "FROM base:1\n");
  loaded l = load("steps:\n"
                  "  inline:\n    build:\n      dockerfile: \"from made:1\\nRUN x\\n\"\n"
                  "  as_stage:\n    build:\n      dockerfile: \"FROM made:1 AS b\\n\"\n"
                  "  arg:\n    build:\n      dockerfile: \"ARG X\\nFROM made:1\\n\"\n"
                  "  file:\n    build:\n      dockerfile: Dockerfile.file\n"
                  "  forced:\n    build:\n      dockerfile: \"FROM made:1\\n\"\n      pull: true\n",
                  NULL);
  brr_runtime *rt = fake_runtime(false);
  const brr_step *s = l.cfg->steps;
  /* nothing committed yet: every build pulls */
  for (size_t i = 0; i < 5; i++) assert_true(brr_build_should_pull(rt, s[i].build));
  brr_runtime_commit_add(rt, "made:1");
  assert_false(brr_build_should_pull(rt, s[0].build));   /* FROM matched case-insensitively */
  assert_true(brr_build_should_pull(rt, s[1].build));    /* "made:1 AS b" is compared verbatim */
  assert_true(brr_build_should_pull(rt, s[2].build));    /* text starting with ARG */
  assert_true(brr_build_should_pull(rt, s[3].build));    /* a file's path never matches */
  assert_true(brr_build_should_pull(rt, s[4].build));    /* pull: true wins */
  fake_free(rt);
  rt = fake_runtime(true);
  assert_false(brr_build_should_pull(rt, s[4].build));   /* --local-images wins over all */
  fake_free(rt);
  unload(&l);
}

static void test_spec_refs(void **state) {
  (void)state;
  loaded l = load("steps:\n  a:\n    build:\n      dockerfile: 'FROM x'\n    push:\n"
                  "      repository: MyReg:5000/MyOrg/App:Extra\n      tags: [V1, 'feature/x']\n",
                  NULL);
  brr_spec_refs r;
  brr_build_spec_refs(&l.cfg->steps[0].push[0], &r);
  assert_string_equal(r.repo, "myreg:5000/myorg/app");
  /* the build tag the loader added comes after the listed ones, then the split-off tag */
  assert_true(r.n >= 4);
  assert_string_equal(r.tags[0], "v1");
  assert_string_equal(r.tags[1], "feature-x");
  assert_string_equal(r.tags[r.n - 1], "extra");
  assert_string_equal(r.refs[0], "myreg:5000/myorg/app:v1");
  assert_null(r.refs[r.n]);
  brr_build_spec_refs_free(&r);
  unload(&l);
}

static void test_cache_settings(void **state) {
  (void)state;
  loaded l = load("use-legacy-builder: false\nsteps:\n"
                  "  own:\n    build:\n      dockerfile: 'FROM x'\n"
                  "      cache_from:\n        - {type: registry, ref: 'r/c:1'}\n        - {type: local, src: /tmp/c}\n"
                  "      cache_to: {type: inline}\n"
                  "  global:\n    build:\n      dockerfile: 'FROM x'\n"
                  "  str:\n    build:\n      dockerfile: 'FROM x'\n      cache_from: 'type=gha'\n",
                  "docker-build-cache:\n  builders: [b1]\n  from: {type: registry, ref: 'g/c'}\n"
                  "  to: 'type=registry,ref=g/c,mode=max'\n");
  char **from, **to;
  brr_build_cache_for(l.cfg, l.cfg->steps[0].build, NULL, &from, &to);
  char *f = joined(from), *t = joined(to);
  assert_string_equal(f, "type=registry,ref=r/c:1|type=local,src=/tmp/c");
  assert_string_equal(t, "type=inline");
  free(f), free(t), brr_strv_free(from), brr_strv_free(to);
  /* the global settings apply to the builders they name, "default" being the unnamed one */
  brr_build_cache_for(l.cfg, l.cfg->steps[1].build, "b1", &from, &to);
  f = joined(from), t = joined(to);
  assert_string_equal(f, "type=registry,ref=g/c");
  assert_string_equal(t, "type=registry,ref=g/c,mode=max");
  free(f), free(t), brr_strv_free(from), brr_strv_free(to);
  brr_build_cache_for(l.cfg, l.cfg->steps[1].build, NULL, &from, &to);
  assert_null(from[0]);
  assert_null(to[0]);
  brr_strv_free(from), brr_strv_free(to);
  brr_build_cache_for(l.cfg, l.cfg->steps[2].build, "b1", &from, &to);
  f = joined(from);
  assert_string_equal(f, "type=gha");
  free(f), brr_strv_free(from), brr_strv_free(to);
  unload(&l);
}

static void test_native_pick(void **state) {
  (void)state;
  const char *a[] = {"linux/amd64", "linux/arm64"};
  assert_int_equal(brr_build_native_index(a, 2, "linux/amd64"), 0);
  assert_int_equal(brr_build_native_index(a, 2, "linux/arm64"), 1);
  const char *b[] = {"linux/arm64/v8", "linux/arm/v7", "linux/s390x"};
  /* the last match wins, as buildrunner's loop leaves it */
  assert_int_equal(brr_build_native_index(b, 3, "linux/arm64"), 1);
  assert_int_equal(brr_build_native_index(b, 3, "linux/amd64"), 0);  /* none: the first */
  char *t = brr_build_platform_tag("linux/arm64/v8");
  assert_string_equal(t, "linux-arm64-v8");
  free(t);
}

static void test_rewrite_from(void **state) {
  (void)state;
  loaded l = load("steps:\n  a:\n    build:\n      dockerfile: 'FROM x'\n      buildargs: {TAG: v1}\n",
                  "docker-registry: 127.0.0.1:5000\n");
  const brr_build *b = l.cfg->steps[0].build;
  const char *text = "# syntax comment\n"
                     "ARG DOCKER_REGISTRY\n"
                     "ARG TAG=dev\n"
                     "FROM $DOCKER_REGISTRY/busybox:latest AS tools\n"
                     "from --platform=$BUILDPLATFORM  test-image1:${TAG}   AS base\n"
                     "RUN echo FROM test-image1:v1\n"
                     "FROM base\n"
                     "COPY --from=test-image1:v1 /x /x\n"
                     "FROM other:1\n";
  brr_from_map map[] = {{"docker.io/library/test-image1:v1", "127.0.0.1:9/mp:u-linux-arm64"}};
  char *out = brr_build_rewrite_from(text, b, l.cfg->global.docker_registry, map, 1);
  assert_non_null(out);
  assert_string_equal(out, "# syntax comment\n"
                           "ARG DOCKER_REGISTRY\n"
                           "ARG TAG=dev\n"
                           "FROM $DOCKER_REGISTRY/busybox:latest AS tools\n"
                           "from --platform=$BUILDPLATFORM  127.0.0.1:9/mp:u-linux-arm64   AS base\n"
                           "RUN echo FROM test-image1:v1\n"
                           "FROM base\n"
                           "COPY --from=test-image1:v1 /x /x\n"
                           "FROM other:1\n");
  free(out);
  /* the build registry's own mirror of Docker Hub: matched after ARG substitution */
  brr_from_map hub[] = {{"127.0.0.1:5000/busybox:latest", "r/x:y"}};
  out = brr_build_rewrite_from(text, b, l.cfg->global.docker_registry, hub, 1);
  assert_non_null(strstr(out, "FROM r/x:y AS tools\n"));
  free(out);
  /* nothing to change: NULL */
  brr_from_map none[] = {{"docker.io/library/nothing:1", "z"}};
  assert_null(brr_build_rewrite_from(text, b, l.cfg->global.docker_registry, none, 1));
  unload(&l);
}

static void test_hub_pulls(void **state) {
  (void)state;
  write_in("Dockerfile", "FROM python:3.12\nFROM scratch\n");
  const char *yaml = "steps:\n"
                     "  made:\n    build:\n      dockerfile: \"FROM busybox\\n\"\n      cache_from: [cache/img:1]\n"
                     "    commit: {repository: myorg/made, tags: [v1]}\n"
                     "  user:\n    build:\n      dockerfile: \"FROM myorg/made:v1\\n\"\n"
                     "  nopull:\n    build:\n      dockerfile: \"FROM alpine:3\\n\"\n      pull: false\n"
                     "  path:\n    build: .\n"
                     "  run:\n    run:\n      image: ubuntu:22.04\n      services:\n"
                     "        db: {image: 'postgres:16'}\n        mine: {image: 'quay.io/x/y:1'}\n";
  loaded l = load(yaml, NULL);
  size_t n;
  char **v = brr_build_hub_pulls(l.cfg, l.g, &n);
  char *s = joined(v);
  /* the run's own image, the pull: false build and other registries are left out */
  assert_string_equal(s, "cache/img:1|busybox|python:3.12|ubuntu:22.04|postgres:16");
  assert_int_equal(n, 5);
  free(s);
  brr_strv_free(v);
  unload(&l);
  /* a mirror is configured: nothing comes from Docker Hub */
  l = load(yaml, "docker-registry: mirror.example.com\n");
  v = brr_build_hub_pulls(l.cfg, l.g, &n);
  assert_int_equal(n, 0);
  assert_null(v[0]);
  brr_strv_free(v);
  unload(&l);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_build_args), T(test_pull_default), T(test_spec_refs), T(test_cache_settings),
      T(test_native_pick), T(test_rewrite_from), T(test_hub_pulls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
