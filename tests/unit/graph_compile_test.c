/* The graph compiler's rules, one test per rule: nodes, task / depends / image / artifacts /
 * platform edges, and the errors (unknown names, self-dependency, cycles). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <unistd.h>

#include "unit/graph_fixture.h"

/* These tests read Dockerfiles from disk unless they say otherwise: hand the graph the host's
 * file system when the options name none. */
static brr_graph_opts with_host_fs(const brr_graph_opts *o) {
  brr_graph_opts r = o ? *o : (brr_graph_opts){0};
  if (!r.fs) r.fs = &brr_host_fs;
  return r;
}

static brr_graph *compile_ok(const brr_config *cfg, const brr_graph_opts *opts, brr_diags *d) {
  brr_graph *g = NULL;
  brr_graph_opts ho = with_host_fs(opts), *o = &ho;
  int rc = brr_graph_compile(cfg, o, &g, d);
  if (rc != 0) brr_diags_print(d, stderr, false);
  assert_int_equal(rc, 0);
  assert_non_null(g);
  return g;
}

static const brr_diag *compile_err(const brr_config *cfg, const brr_graph_opts *opts, brr_diags *d) {
  brr_graph *g = (brr_graph *)1;
  brr_graph_opts ho = with_host_fs(opts), *o = &ho;
  assert_int_equal(brr_graph_compile(cfg, o, &g, d), BRR_ECONFIG);
  assert_null(g);
  assert_int_equal(brr_diags_exit_code(d), BRR_EXIT_CONFIG);
  for (size_t i = 0; i < d->n; i++)
    if (d->v[i].level == BRR_DIAG_ERROR) return &d->v[i];
  fail();
  return NULL;
}

static void assert_edge(const brr_graph *g, const char *from, const char *to, brr_edge_reason r) {
  const brr_edge *e = fx_edge(g, from, to);
  if (!e || e->reason != r) fprintf(stderr, "missing %s edge %s -> %s\n", brr_edge_reason_name(r), from, to);
  assert_non_null(e);
  assert_int_equal(e->reason, r);
}

/* ---- nodes and task edges ---- */

static void test_task_chain(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_step *s = fx_step(cfg, "app");
  fx_build(cfg, s, "FROM busybox\n");
  fx_run(cfg, s, NULL);
  fx_cmd(cfg, s, "make test");
  s->run->post_build = brr_arena_alloc(cfg->arena, sizeof(brr_build));
  s->run->post_build->dockerfile = fx_str(cfg, "RUN rm -rf /tmp/x\n", 30);
  s->run->post_build->dockerfile_inline = true;
  fx_commit(cfg, s, "app", "1.0", NULL);
  brr_step *r = fx_step(cfg, "retag");
  fx_push(cfg, r, "other/app", "2.0", NULL);
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_int_equal(g->n_nodes, 5);
  assert_edge(g, "app/build", "app/run", BRR_EDGE_TASK);
  assert_edge(g, "app/run", "app/post-build", BRR_EDGE_TASK);
  assert_edge(g, "app/post-build", "app/commit", BRR_EDGE_TASK);
  assert_int_equal(fx_node(g, "app/build")->kind, BRR_NODE_BUILD);
  assert_int_equal(fx_node(g, "app/post-build")->kind, BRR_NODE_POST_BUILD);
  assert_string_equal(fx_node(g, "app/run")->pool, "engine");
  /* a retag (commit/push only) has its commit node and nothing else; no --push: no pushes */
  assert_non_null(fx_node(g, "retag/commit"));
  assert_int_equal(fx_node(g, "retag/commit")->n_in, 0);
  assert_int_equal(g->n_steps, 2);
  /* the two steps are independent */
  assert_false(fx_reaches(g, "app/commit", "retag/commit"));
  assert_int_equal(d.n, 0);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* ---- depends ---- */

static void test_depends(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  cfg->has_version = true;
  cfg->version = 2.0;
  brr_step *a = fx_step(cfg, "a");
  fx_build(cfg, a, "FROM busybox\n");
  brr_step *b = fx_step(cfg, "b");
  fx_build(cfg, b, "FROM busybox\n");
  fx_run(cfg, b, NULL);
  fx_depends(cfg, b, "a", NULL);
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  const brr_edge *e = fx_edge(g, "a/build", "b/build");
  assert_non_null(e);
  assert_int_equal(e->reason, BRR_EDGE_DEPENDS);
  assert_int_equal(e->mark.line, fx_line(cfg, b, 1));
  assert_int_equal(d.n, 0); /* version 2.0: no warning */
  brr_graph_free(g);
  brr_diags_free(&d);

  /* below 2.0 (or no version) brr still honours depends, and says buildrunner would not */
  cfg->version = 1.0;
  g = compile_ok(cfg, NULL, &d);
  assert_non_null(fx_edge(g, "a/build", "b/build"));
  assert_int_equal(d.n, 1);
  assert_int_equal(d.v[0].level, BRR_DIAG_WARNING);
  assert_non_null(strstr(d.v[0].msg, "buildrunner ignores it with version 1.0"));
  assert_int_equal(d.v[0].mark.line, fx_line(cfg, b, 1));
  brr_graph_free(g);
  brr_diags_free(&d);
  cfg->has_version = false;
  g = compile_ok(cfg, NULL, &d);
  assert_non_null(strstr(d.v[0].msg, "when the file has no version"));
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

static void test_unknown_and_self(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_step *a = fx_step(cfg, "build-base");
  fx_run(cfg, a, "busybox");
  brr_step *b = fx_step(cfg, "test");
  fx_run(cfg, b, "busybox");
  fx_depends(cfg, b, "build-bsae", NULL);
  brr_diags d = BRR_DIAGS_INIT;
  const brr_diag *e = compile_err(cfg, NULL, &d);
  assert_string_equal(e->msg, "step 'test' depends on 'build-bsae', which is not a step; did you mean 'build-base'?");
  assert_string_equal(e->mark.file, FX_FILE);
  assert_int_equal(e->mark.line, fx_line(cfg, b, 1));
  assert_string_equal(e->path, "steps.test.depends");
  brr_diags_free(&d);

  fx_depends(cfg, b, "zzzzzzzz", NULL);
  e = compile_err(cfg, NULL, &d);
  assert_string_equal(e->msg, "step 'test' depends on 'zzzzzzzz', which is not a step");
  brr_diags_free(&d);

  fx_depends(cfg, b, "test", NULL);
  e = compile_err(cfg, NULL, &d);
  assert_string_equal(e->msg, "step 'test' depends on itself (dependency cycle: test -> test)");
  assert_int_equal(e->mark.line, fx_line(cfg, b, 1));
  brr_diags_free(&d);
  fx_free(cfg);
}

/* A ring of n steps, each depending on the previous one. */
static void check_cycle(size_t n) {
  brr_config *cfg = fx_new(8);
  cfg->has_version = true;
  cfg->version = 2.0;
  char names[8][24];
  brr_step *st[8];
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "s%zu", i);
    st[i] = fx_step(cfg, names[i]);
    fx_build(cfg, st[i], "FROM busybox\n");
    fx_run(cfg, st[i], NULL);
  }
  for (size_t i = 0; i < n; i++) fx_depends(cfg, st[i], names[(i + n - 1) % n], NULL);
  brr_diags d = BRR_DIAGS_INIT;
  const brr_diag *e = compile_err(cfg, NULL, &d);
  assert_int_equal(d.n_errors, 1);
  assert_non_null(strstr(e->msg, "dependency cycle: "));
  /* the path names every step and each depends edge with its file:line */
  for (size_t i = 0; i < n; i++) {
    char want[64];
    snprintf(want, sizeof want, "-> s%zu/build  (depends, buildrunner.yaml:%u)", i, fx_line(cfg, st[i], 1));
    if (!strstr(e->msg, want)) fprintf(stderr, "no '%s' in:\n%s\n", want, e->msg);
    assert_non_null(strstr(e->msg, want));
  }
  /* and it is a path: it ends where it started */
  const char *first = e->msg + strlen("dependency cycle: ");
  const char *last = strrchr(e->msg, '>') + 2;
  assert_memory_equal(first, last, strcspn(last, " "));
  brr_diags_free(&d);
  fx_free(cfg);
}

static void test_cycles(void **state) {
  (void)state;
  check_cycle(2);
  check_cycle(5);
}

/* A cycle through steps that have no nodes of their own is found too. */
static void test_empty_steps(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  cfg->has_version = true;
  cfg->version = 2.0;
  brr_step *a = fx_step(cfg, "a");
  fx_run(cfg, a, "busybox");
  brr_step *gate = fx_step(cfg, "gate"); /* only depends: stands for a */
  fx_depends(cfg, gate, "a", NULL);
  brr_step *c = fx_step(cfg, "c");
  fx_run(cfg, c, "busybox");
  fx_depends(cfg, c, "gate", NULL);
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_int_equal(g->n_nodes, 2);
  assert_edge(g, "a/run", "c/run", BRR_EDGE_DEPENDS);
  brr_graph_free(g);

  fx_depends(cfg, gate, "a", "c", NULL);
  const brr_diag *e = compile_err(cfg, NULL, &d);
  assert_string_equal(e->msg, "dependency cycle: c/run\n    -> c/run  (depends via gate, buildrunner.yaml:23)");
  brr_diags_free(&d);
  /* two steps without nodes waiting for each other */
  brr_step *gate2 = fx_step(cfg, "gate2");
  fx_depends(cfg, gate2, "gate", NULL);
  fx_depends(cfg, gate, "gate2", NULL);
  e = compile_err(cfg, NULL, &d);
  assert_string_equal(e->msg, "dependency cycle: gate -> gate2 -> gate");
  brr_diags_free(&d);
  fx_free(cfg);
}

/* ---- image edges ---- */

static void test_image_consumers(void **state) {
  (void)state;
  brr_config *cfg = fx_new(16);
  brr_step *base = fx_step(cfg, "base");
  fx_build(cfg, base, "FROM busybox\n");
  fx_commit(cfg, base, "MyOrg/Base", "latest", "1.0", NULL);
  brr_step *from = fx_step(cfg, "from");
  fx_build(cfg, from, "ARG DOCKER_REGISTRY\nFROM $DOCKER_REGISTRY/myorg/base:1.0 AS x\nRUN true\n");
  cfg->global.docker_registry = "docker.io";
  brr_step *run = fx_step(cfg, "run");
  fx_run(cfg, run, "docker.io/myorg/base");  /* normalised: :latest, docker.io */
  brr_step *cache = fx_step(cfg, "cache");
  brr_build *cb = fx_build(cfg, cache, "FROM busybox\n");
  cb->cache_from_refs.v = brr_arena_alloc(cfg->arena, sizeof(brr_str));
  cb->cache_from_refs.v[0] = fx_str(cfg, "myorg/base:1.0", 40);
  cb->cache_from_refs.n = 1;
  brr_step *svc = fx_step(cfg, "svc");
  fx_run(cfg, svc, "busybox");
  svc->run->services = brr_arena_alloc(cfg->arena, 2 * sizeof(brr_service));
  svc->run->n_services = 2;
  svc->run->services[0].name = fx_str(cfg, "db", 50);
  svc->run->services[0].c.image = fx_str(cfg, "myorg/base", 51);
  svc->run->services[1].name = fx_str(cfg, "built", 52);
  svc->run->services[1].build = brr_arena_alloc(cfg->arena, sizeof(brr_build));
  svc->run->services[1].build->dockerfile = fx_str(cfg, "FROM myorg/base:1.0\n", 53);
  svc->run->services[1].build->dockerfile_inline = true;
  brr_step *other = fx_step(cfg, "other");
  fx_run(cfg, other, "myorg/base:2.0");    /* not produced: no edge */
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_edge(g, "base/commit", "from/build", BRR_EDGE_IMAGE);
  const brr_edge *e = fx_edge(g, "base/commit", "from/build");
  assert_string_equal(e->detail, "docker.io/myorg/base:1.0");
  /* an inline block's line k is k lines below the `dockerfile:` mark */
  assert_int_equal(e->mark.line, fx_line(cfg, from, 2) + 2);
  assert_edge(g, "base/commit", "run/run", BRR_EDGE_IMAGE);
  assert_edge(g, "base/commit", "cache/build", BRR_EDGE_IMAGE);
  assert_edge(g, "base/commit", "svc/run", BRR_EDGE_IMAGE);
  assert_null(fx_edge(g, "base/commit", "other/run"));
  assert_int_equal(fx_node(g, "other/run")->n_in, 0);
  /* the build of `base` does not wait for anything */
  assert_int_equal(fx_node(g, "base/build")->n_in, 0);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* Several producers of one reference keep file order (see graph.h / docs/graph.md). */
static void test_image_producers_in_file_order(void **state) {
  (void)state;
  brr_config *cfg = fx_new(16);
  brr_step *early = fx_step(cfg, "early");   /* reads before any producer: binds to p1 */
  fx_run(cfg, early, "img");
  brr_step *p1 = fx_step(cfg, "p1");
  fx_build(cfg, p1, "FROM busybox\n");
  fx_commit(cfg, p1, "img", "latest", NULL);
  brr_step *c1 = fx_step(cfg, "c1");
  fx_run(cfg, c1, "img:latest");
  brr_step *p2 = fx_step(cfg, "p2");
  fx_build(cfg, p2, "FROM img\n");           /* builds on p1's image, then replaces it */
  fx_commit(cfg, p2, "img", "latest", NULL);
  brr_step *c2 = fx_step(cfg, "c2");
  fx_run(cfg, c2, "img");
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_edge(g, "p1/commit", "early/run", BRR_EDGE_IMAGE);
  assert_edge(g, "p1/commit", "c1/run", BRR_EDGE_IMAGE);
  assert_edge(g, "p1/commit", "p2/build", BRR_EDGE_IMAGE);
  assert_edge(g, "p2/commit", "c2/run", BRR_EDGE_IMAGE);
  assert_null(fx_edge(g, "p1/commit", "c2/run"));
  /* p2 overwrites img:latest only after p1 and every reader of p1's image */
  assert_edge(g, "early/run", "p2/commit", BRR_EDGE_IMAGE);
  assert_edge(g, "c1/run", "p2/commit", BRR_EDGE_IMAGE);
  assert_true(fx_reaches(g, "p1/commit", "p2/commit"));
  /* ...but it may build at the same time as the readers run */
  assert_false(fx_reaches(g, "c1/run", "p2/build"));
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

static char *write_tmp(const char *dir, const char *name, const char *text) {
  char *p = brr_path_join(dir, name);
  assert_int_equal(brr_write_file(p, text, strlen(text)), 0);
  return p;
}

/* The seed's case: a Dockerfile on disk whose FROM names another step's image. */
static void test_dockerfile_on_disk(void **state) {
  (void)state;
  char dir[] = "/tmp/brr-graph-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *sub = brr_path_join(dir, "app");
  assert_int_equal(brr_mkdir_p(sub, 0755), 0);
  char *df = write_tmp(sub, "Dockerfile",
                       "ARG DOCKER_REGISTRY\nARG BASE_TAG=stable\n"
                       "FROM ${DOCKER_REGISTRY}/team/base:${BASE_TAG} AS deps\n"
                       "FROM deps\nCOPY --from=team/tools:1 /t /t\n");
  brr_config *cfg = fx_new(8);
  cfg->build_dir = dir;
  cfg->global.docker_registry = "registry.local:5000";
  brr_step *base = fx_step(cfg, "base");
  fx_build(cfg, base, "FROM busybox\n");
  fx_commit(cfg, base, "registry.local:5000/team/base", "stable", NULL);
  brr_step *tools = fx_step(cfg, "tools");
  fx_build(cfg, tools, "FROM busybox\n");
  fx_commit(cfg, tools, "team/tools:1", NULL);  /* the ":1" inside the repository is a tag */
  brr_step *app = fx_step(cfg, "app");
  brr_build *b = fx_build(cfg, app, NULL);
  b->path = fx_str(cfg, "app", fx_line(cfg, app, 2));
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_edge(g, "base/commit", "app/build", BRR_EDGE_IMAGE);
  const brr_edge *e = fx_edge(g, "base/commit", "app/build");
  assert_string_equal(e->mark.file, df);
  assert_int_equal(e->mark.line, 3);
  assert_edge(g, "tools/commit", "app/build", BRR_EDGE_IMAGE);
  assert_int_equal(fx_edge(g, "tools/commit", "app/build")->mark.line, 5);
  brr_graph_free(g);

  /* an explicit dockerfile path, and an injected Dockerfile that overrides it */
  char *other = write_tmp(dir, "Other.dockerfile", "FROM team/tools:1\n");
  b->path.s = NULL;
  b->dockerfile = fx_str(cfg, "Other.dockerfile", fx_line(cfg, app, 2));
  b->dockerfile_inline = false;
  g = compile_ok(cfg, NULL, &d);
  assert_null(fx_edge(g, "base/commit", "app/build"));
  assert_edge(g, "tools/commit", "app/build", BRR_EDGE_IMAGE);
  brr_graph_free(g);
  b->inject = brr_arena_alloc(cfg->arena, sizeof(brr_inject));
  b->n_inject = 1;
  b->inject[0].glob = fx_str(cfg, "app/Docker*", 0);
  b->inject[0].dest = fx_str(cfg, "/Dockerfile", 0);
  g = compile_ok(cfg, NULL, &d);
  assert_edge(g, "base/commit", "app/build", BRR_EDGE_IMAGE);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
  assert_int_equal(brr_rm_rf(dir), 0);
  free(sub);
  free(df);
  free(other);
}

/* ---- the graph reads nothing itself: a Dockerfile served only by the caller's brr_fs_ops ---- */

typedef struct fake_fs {
  const char *path, *text;  /* the one file it serves */
  const char *dir;          /* the one directory that exists */
  const char *pattern;      /* a glob pattern that matches `path` */
  int reads, globs, dir_asks;
  char last[256];
} fake_fs;

static int fake_read(void *ud, const char *path, brr_buf *out) {
  fake_fs *f = ud;
  f->reads++;
  snprintf(f->last, sizeof f->last, "%s", path);
  if (!brr_streq(path, f->path)) return -ENOENT;
  brr_buf_puts(out, f->text);
  return 0;
}

static bool fake_is_dir(void *ud, const char *path) {
  fake_fs *f = ud;
  f->dir_asks++;
  return brr_streq(path, f->dir);
}

static char *fake_glob(void *ud, const char *pattern) {
  fake_fs *f = ud;
  f->globs++;
  return f->pattern && brr_streq(pattern, f->pattern) ? brr_xstrdup(f->path) : NULL;
}

static void test_dockerfile_from_fs_callback(void **state) {
  (void)state;
  /* nothing of this exists on disk: the text comes only from the callback */
  fake_fs f = {.path = "/nonexistent/brr-graph-fs/app/Dockerfile",
               .text = "FROM team/base:1 AS b\nFROM b\nCOPY --from=team/tools:2 /t /t\n",
               .dir = "/nonexistent/brr-graph-fs/app"};
  brr_fs_ops ops = {fake_read, fake_is_dir, fake_glob, &f};
  brr_config *cfg = fx_new(8);
  cfg->build_dir = "/nonexistent/brr-graph-fs";
  brr_step *base = fx_step(cfg, "base");
  fx_build(cfg, base, "FROM busybox\n");
  fx_commit(cfg, base, "team/base", "1", NULL);
  brr_step *tools = fx_step(cfg, "tools");
  fx_build(cfg, tools, "FROM busybox\n");
  fx_commit(cfg, tools, "team/tools", "2", NULL);
  brr_step *app = fx_step(cfg, "app");
  brr_build *b = fx_build(cfg, app, NULL);
  b->path = fx_str(cfg, "app", fx_line(cfg, app, 2));
  brr_graph_opts o = {.native_platform = "linux/amd64", .fs = &ops};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = NULL;
  assert_int_equal(brr_graph_compile(cfg, &o, &g, &d), 0);
  assert_int_equal(f.reads, 1);
  assert_string_equal(f.last, f.path);
  assert_edge(g, "base/commit", "app/build", BRR_EDGE_IMAGE);
  assert_string_equal(fx_edge(g, "base/commit", "app/build")->mark.file, f.path);
  assert_int_equal(fx_edge(g, "base/commit", "app/build")->mark.line, 1);
  assert_edge(g, "tools/commit", "app/build", BRR_EDGE_IMAGE);
  assert_int_equal(fx_edge(g, "tools/commit", "app/build")->mark.line, 3);
  brr_graph_free(g);

  /* an injected Dockerfile is found by the callback's glob */
  b->path.s = NULL;
  b->inject = brr_arena_alloc(cfg->arena, sizeof(brr_inject));
  b->n_inject = 1;
  b->inject[0].glob = fx_str(cfg, "app/Docker*", 0);
  b->inject[0].dest = fx_str(cfg, "Dockerfile", 0);
  f.pattern = "/nonexistent/brr-graph-fs/app/Docker*";
  assert_int_equal(brr_graph_compile(cfg, &o, &g, &d), 0);
  assert_int_equal(f.globs, 1);
  assert_edge(g, "tools/commit", "app/build", BRR_EDGE_IMAGE);
  brr_graph_free(g);

  /* a Dockerfile the callback does not have, in a directory it says exists: the warning */
  b->n_inject = 0;
  b->dockerfile = fx_str(cfg, "app/Missing.dockerfile", fx_line(cfg, app, 2));
  size_t warned = d.n;
  assert_int_equal(brr_graph_compile(cfg, &o, &g, &d), 0);
  assert_true(f.dir_asks >= 1);
  assert_null(fx_edge(g, "tools/commit", "app/build"));
  assert_true(d.n > warned);
  assert_non_null(strstr(d.v[d.n - 1].msg, "/nonexistent/brr-graph-fs/app/Missing.dockerfile"));
  brr_graph_free(g);

  /* no file system at all: nothing is read, no edge is inferred, and it still compiles */
  b->dockerfile.s = NULL;
  b->path = fx_str(cfg, "app", fx_line(cfg, app, 2));
  o.fs = NULL;
  int reads = f.reads;
  assert_int_equal(brr_graph_compile(cfg, &o, &g, &d), 0);
  assert_int_equal(f.reads, reads);
  assert_null(fx_edge(g, "base/commit", "app/build"));
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* ---- artifacts ---- */

static void test_artifacts(void **state) {
  (void)state;
  char dir[] = "/tmp/brr-graph-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *script = write_tmp(dir, "prov.sh", "#!/bin/sh\ncp /artifacts/gen-b/x.txt /tmp\n");
  brr_config *cfg = fx_new(16);
  cfg->build_dir = dir;
  char *results = brr_path_join(dir, "buildrunner.results");
  cfg->results_dir = results;
  brr_step *a = fx_step(cfg, "gen-a");
  fx_run(cfg, a, "busybox");
  brr_step *b = fx_step(cfg, "gen-b");
  fx_run(cfg, b, "busybox");
  brr_step *only_build = fx_step(cfg, "gen-c");
  fx_build(cfg, only_build, "FROM busybox\n");
  brr_step *use = fx_step(cfg, "use");
  fx_run(cfg, use, "busybox");
  fx_cmd(cfg, use, "ls /artifacts/gen-a/ && cat \"/artifacts/gen-c/out.tgz\"; ls /artifacts/nope/ /artifacts/*/");
  use->run->c.provisioners.v = brr_arena_alloc(cfg->arena, sizeof(brr_kv));
  use->run->c.provisioners.n = 1;
  use->run->c.provisioners.v[0].key = fx_str(cfg, "shell", 60);
  use->run->c.provisioners.v[0].val = brr_val_str(cfg->arena, fx_mark(60), script);
  brr_step *files = fx_step(cfg, "files");
  fx_run(cfg, files, "busybox");
  files->run->c.files.v = brr_arena_alloc(cfg->arena, sizeof(brr_kv));
  files->run->c.files.n = 1;
  files->run->c.files.v[0].key = fx_str(cfg, "buildrunner.results/use/report.txt", 70);
  files->run->c.files.v[0].val = brr_val_str(cfg->arena, fx_mark(70), "/report.txt");
  brr_step *df = fx_step(cfg, "df");
  fx_build(cfg, df, "FROM busybox\nRUN ls /artifacts/gen-a/\n");
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_edge(g, "gen-a/run", "use/run", BRR_EDGE_ARTIFACTS);
  assert_edge(g, "gen-b/run", "use/run", BRR_EDGE_ARTIFACTS);   /* from the script */
  assert_edge(g, "gen-c/build", "use/run", BRR_EDGE_ARTIFACTS);  /* no run: the whole step */
  assert_edge(g, "use/run", "files/run", BRR_EDGE_ARTIFACTS);
  assert_edge(g, "gen-a/run", "df/build", BRR_EDGE_ARTIFACTS);
  assert_string_equal(fx_edge(g, "gen-a/run", "use/run")->detail, "/artifacts/gen-a/");
  assert_int_equal(fx_node(g, "gen-a/run")->n_in, 0);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
  assert_int_equal(brr_rm_rf(dir), 0);
  free(script);
  free(results);
}

/* ---- platforms ---- */

static void test_multi_platform(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_step *base = fx_step(cfg, "build-base");
  brr_build *bb = fx_build(cfg, base, "FROM busybox:latest\nCMD /do-something-cool\n");
  fx_platforms(cfg, bb, "linux/amd64", "linux/arm64/v8", NULL);
  fx_push(cfg, base, "test-image1", "bt-1", NULL);
  brr_step *dep = fx_step(cfg, "build-from-base");
  brr_build *db = fx_build(cfg, dep, "FROM test-image1:bt-1\nCMD /do-something-else\n");
  fx_platforms(cfg, db, "linux/amd64", "linux/arm64/v8", NULL);
  fx_push(cfg, dep, "test-image2", "bt-1", NULL);
  brr_step *single = fx_step(cfg, "single");
  fx_build(cfg, single, "FROM test-image1:bt-1\n");
  brr_step *after = fx_step(cfg, "after");
  fx_run(cfg, after, "busybox");
  fx_depends(cfg, after, "build-from-base", NULL);
  brr_graph_opts o = {.native_platform = "linux/amd64"};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  const brr_node *amd = fx_node(g, "build-base/build@linux/amd64");
  const brr_node *arm = fx_node(g, "build-base/build@linux/arm64/v8");
  assert_non_null(amd);
  assert_non_null(arm);
  assert_int_equal(amd->kind, BRR_NODE_PLATFORM_BUILD);
  assert_string_equal(arm->platform, "linux/arm64/v8");
  assert_true(arm->weight > amd->weight); /* emulated: heavier, so it starts first */
  assert_edge(g, "build-base/build@linux/amd64", "build-base/manifest", BRR_EDGE_PLATFORM);
  assert_edge(g, "build-base/build@linux/arm64/v8", "build-base/manifest", BRR_EDGE_PLATFORM);
  assert_edge(g, "build-base/manifest", "build-base/commit", BRR_EDGE_TASK);
  /* MP on MP: each platform build waits for the base's manifest and takes its platform's
   * base from the build registry */
  const char *pb[] = {"build-from-base/build@linux/amd64", "build-from-base/build@linux/arm64/v8"};
  for (int i = 0; i < 2; i++) {
    assert_edge(g, "build-base/manifest", pb[i], BRR_EDGE_PLATFORM);
    assert_true(fx_node(g, pb[i])->base_from_build_registry);
    assert_int_equal(fx_node(g, pb[i])->base_step, 0);
  }
  /* a single-platform consumer uses the local native tag: it waits for the commit */
  assert_edge(g, "build-base/commit", "single/build", BRR_EDGE_IMAGE);
  assert_false(fx_node(g, "single/build")->base_from_build_registry);
  /* dependents of an MP step wait for its end (manifest, then commit) */
  assert_edge(g, "build-from-base/commit", "after/run", BRR_EDGE_DEPENDS);
  brr_graph_free(g);

  /* --platform collapses `platforms` to itself */
  o.platform = "linux/arm64/v8";
  g = compile_ok(cfg, &o, &d);
  assert_non_null(fx_node(g, "build-base/build@linux/arm64/v8"));
  assert_null(fx_node(g, "build-base/build@linux/amd64"));
  assert_string_equal(fx_node(g, "single/build")->platform, "linux/arm64/v8");
  brr_graph_free(g);
  /* disable-multi-platform keeps the entry naming the native platform, else the first */
  o.platform = NULL;
  o.disable_multi_platform = true;
  o.native_platform = "linux/arm64";
  g = compile_ok(cfg, &o, &d);
  assert_non_null(fx_node(g, "build-base/build@linux/arm64/v8"));
  assert_null(fx_node(g, "build-base/build@linux/amd64"));
  brr_graph_free(g);
  o.disable_multi_platform = false;
  cfg->global.disable_multi_platform = BRR_TRUE;
  o.native_platform = "linux/s390x";
  g = compile_ok(cfg, &o, &d);
  assert_non_null(fx_node(g, "build-base/build@linux/amd64"));
  assert_null(fx_node(g, "build-base/build@linux/arm64/v8"));
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

static void test_builders_and_pools(void **state) {
  (void)state;
  brr_config *cfg = fx_new(8);
  brr_arena *a = cfg->arena;
  brr_kv *pb = brr_arena_alloc(a, 2 * sizeof *pb);
  pb[0].key = fx_str(cfg, "linux/arm64", 1);
  brr_value *list = brr_val_list(a, fx_mark(1));
  brr_val_list_push(a, list, brr_val_str(a, fx_mark(1), "b1"));
  brr_val_list_push(a, list, brr_val_str(a, fx_mark(1), "b2"));
  pb[0].val = list;
  pb[1].key = fx_str(cfg, "linux/amd64", 2);
  pb[1].val = brr_val_str(a, fx_mark(2), "native");
  cfg->global.platform_builders = (brr_kvlist){pb, 2};
  for (int i = 0; i < 2; i++) {
    brr_step *s = fx_step(cfg, i ? "two" : "one");
    brr_build *b = fx_build(cfg, s, "FROM busybox\n");
    fx_platforms(cfg, b, "linux/amd64", "linux/arm64", "linux/arm/v7", NULL);
  }
  brr_step *legacy = fx_step(cfg, "legacy");
  brr_build *lb = fx_build(cfg, legacy, "FROM busybox\n");
  lb->platform = fx_str(cfg, "linux/arm64", 0);
  brr_graph_opts o = {.native_platform = "linux/amd64"};
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, &o, &d);
  assert_string_equal(fx_node(g, "one/build@linux/amd64")->pool, "builder:native");
  assert_string_equal(fx_node(g, "one/build@linux/arm64")->pool, "builder:b1");
  assert_string_equal(fx_node(g, "one/build@linux/arm64")->builder, "b1");
  assert_string_equal(fx_node(g, "two/build@linux/arm64")->pool, "builder:b2"); /* taken in turn */
  assert_string_equal(fx_node(g, "one/build@linux/arm/v7")->pool, "engine");
  assert_null(fx_node(g, "one/build@linux/arm/v7")->builder);
  assert_null(fx_node(g, "one/manifest")->pool);
  /* the legacy builder ignores platform-builders; buildx builds use them */
  assert_string_equal(fx_node(g, "legacy/build")->pool, "engine");
  /* --graph shows each build's builder: text and json (only on the nodes that have one) */
  brr_buf out = BRR_BUF_INIT;
  brr_graph_render(g, BRR_GRAPH_TEXT, &out);
  assert_non_null(strstr(out.data, "one/build@linux/arm64  (platform-build, builder b1, pool builder:b1,"));
  assert_non_null(strstr(out.data, "two/build@linux/arm64  (platform-build, builder b2, pool builder:b2,"));
  assert_non_null(strstr(out.data, "one/build@linux/arm/v7  (platform-build, pool engine,"));
  brr_buf_reset(&out);
  brr_graph_render(g, BRR_GRAPH_JSON, &out);
  cJSON *j = cJSON_Parse(out.data);
  assert_non_null(j);
  const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(j, "nodes");
  size_t with_builder = 0;
  for (const cJSON *n = nodes ? nodes->child : NULL; n; n = n->next) {
    const char *id = cJSON_GetObjectItemCaseSensitive(n, "id")->valuestring;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(n, "builder");
    if (!strcmp(id, "one/build@linux/arm64")) assert_string_equal(cJSON_GetStringValue(b), "b1");
    if (!strcmp(id, "one/build@linux/amd64")) assert_string_equal(cJSON_GetStringValue(b), "native");
    if (!strcmp(id, "one/build@linux/arm/v7")) assert_null(b);
    with_builder += b != NULL;
  }
  assert_int_equal(with_builder, 4);
  cJSON_Delete(j);
  brr_buf_free(&out);
  brr_graph_free(g);
  cfg->use_legacy_builder = false;
  g = compile_ok(cfg, &o, &d);
  assert_string_equal(fx_node(g, "legacy/build")->pool, "builder:b1");
  assert_string_equal(fx_node(g, "legacy/build")->platform, "linux/arm64");
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

/* a remote step is one node, first in its step; pypi-push has a node only with --push; neither
 * is left out any more, so nothing is warned about */
static void test_remote_and_pypi(void **state) {
  (void)state;
  brr_config *cfg = fx_new(4);
  brr_step *s = fx_step(cfg, "rem");
  s->remote = brr_arena_alloc(cfg->arena, sizeof(brr_remote));
  s->remote->host = fx_str(cfg, "builder", 4);
  brr_step *p = fx_step(cfg, "py");
  p->pypi_push = brr_arena_alloc(cfg->arena, sizeof(brr_pypi_push));
  p->pypi_push[0].mark.line = 7;
  p->n_pypi_push = 1;
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = compile_ok(cfg, NULL, &d);
  assert_int_equal(g->n_nodes, 1);
  assert_int_equal(g->n_steps, 2);
  const brr_node *n = fx_node(g, "rem/remote");
  assert_non_null(n);
  assert_int_equal(n->kind, BRR_NODE_REMOTE);
  assert_string_equal(n->pool, "ssh:builder");
  assert_int_equal(d.n, 0);
  brr_graph_free(g);
  brr_diags_free(&d);
  fx_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_task_chain),
      cmocka_unit_test(test_depends),
      cmocka_unit_test(test_unknown_and_self),
      cmocka_unit_test(test_cycles),
      cmocka_unit_test(test_empty_steps),
      cmocka_unit_test(test_image_consumers),
      cmocka_unit_test(test_image_producers_in_file_order),
      cmocka_unit_test(test_dockerfile_on_disk),
      cmocka_unit_test(test_dockerfile_from_fs_callback),
      cmocka_unit_test(test_artifacts),
      cmocka_unit_test(test_multi_platform),
      cmocka_unit_test(test_builders_and_pools),
      cmocka_unit_test(test_remote_and_pypi),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
