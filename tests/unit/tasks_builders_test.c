/* The buildx builders of `platform-builders`, checked before a run (src/tasks/builders.c):
 * `docker buildx inspect NAME` through the docker CLI stand-in (tests/unit/fake_bin/docker,
 * scripted per builder), once per builder; a builder that is missing, one buildx cannot load
 * (an Error: line), a CLI that cannot be run; a docker-driver builder that is brr's own
 * engine, and one that is another docker context (its own client, pinged: here the second
 * fake engine), whose context is missing or whose engine does not answer, or which a
 * single-platform build would load its image on. Each refusal is the one line the CLI prints
 * before exiting 69. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "brr/incr.h"
#include "unit/fake_build_support.h"

static fb_world W;
static fake_engine *E2;
static uv_loop_t loop;
static brr_bus *bus;
static brr_runtime *rt;
static char *err;
static const char *top;   /* top-level keys before steps: */
static const char *own;   /* brr's engine, when not the first fake */

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  E2 = fake_engine_start();
  uv_loop_init(&loop);
  bus = brr_bus_new();
  brr_bus_subscribe(bus, fb_on_event, &W);
  rt = NULL;
  err = NULL;
  top = "";
  own = NULL;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  brr_runtime_free(rt);
  brr_bus_free(bus);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  free(err);
  fb_teardown(&W);
  fake_engine_stop(E2);
  return 0;
}

#define MP "  mp:\n    build:\n      dockerfile: \"FROM scratch\\n\"\n      platforms: [linux/amd64, linux/arm64]\n"
#define MP2 "  mp2:\n    build:\n      dockerfile: \"FROM busybox\\n\"\n      platforms: [linux/arm64]\n"

/* Load the steps with `platform-builders`, make the runtime (on the first fake engine) and
 * check the builders. */
static int check(const char *steps, const char *builders) {
  char *y = brr_xasprintf("%ssteps:\n%s", top, steps);
  char *g = brr_xasprintf("platform-builders:\n%s", builders);
  fb_load(&W, y, g);
  free(y);
  free(g);
  brr_runtime_opts ro = {0};
  ro.docker_host = own ? own : fake_engine_host(W.eng);
  ro.docker_timeout = 5;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_runtime_new(&loop, W.cfg, W.g, &ro, bus, &rt, &d), 0);
  brr_diags_free(&d);
  return brr_runtime_builders_check(rt, 5, &err);
}

static void script(const char *builder, const char *outcome) {
  char *name = brr_xasprintf("inspect.%s", builder);
  fb_script(&W, name, outcome);
  free(name);
}

/* A docker context `name` (in the test's DOCKER_CONFIG) for the engine at `host`. */
static void context(const char *name, const char *host) {
  char hex[BRR_INCR_HEX];
  brr_incr_sha256(name, strlen(name), hex);
  char *rel = brr_xasprintf("docker-config/contexts/meta/%s/meta.json", hex);
  char *meta = brr_xasprintf("{\"Name\":\"%s\",\"Metadata\":{},\"Endpoints\":{\"docker\":{\"Host\":\"%s\","
                             "\"SkipTLSVerify\":false}}}\n",
                             name, host);
  fb_write(W.dir, rel, meta);
  free(rel);
  free(meta);
}

static void assert_err(const char *want) {
  assert_non_null(err);
  if (!strstr(err, want)) fail_msg("error: %s\nwant: %s", err, want);
}

static void test_found_once(void **state) {
  (void)state;
  /* two steps' arm64 builds, one builder: inspected once */
  assert_int_equal(check(MP MP2, "  linux/arm64: armer\n"), 0);
  assert_null(err);
  char *log = fb_fake_file(&W, "inspect.log");
  assert_string_equal(log, "armer\n");
  free(log);
  const brr_builder_info *b = brr_runtime_builder(rt, "armer");
  assert_non_null(b);
  assert_string_equal(b->driver, "docker-container");
  assert_null(b->engine);
  assert_ptr_equal(brr_runtime_builder_engine(rt, "armer"), rt->engine);
  assert_null(brr_runtime_builder(rt, "other"));
  assert_non_null(strstr(brr_buf_cstr(&W.logs), "Builder armer (docker-container driver) for linux/arm64"));
}

static void test_missing(void **state) {
  (void)state;
  script("armer", "missing");
  assert_int_equal(check(MP, "  linux/arm64: armer\n"), BRR_EFAILED);
  assert_err("platform-builders: no usable buildx builder armer for linux/arm64 (step mp): ERROR: no builder "
             "\"armer\" found");
}

static void test_cannot_load(void **state) {
  (void)state;
  script("armer", "error:context \"armer\" does not answer");
  assert_int_equal(check(MP, "  linux/arm64: armer\n"), BRR_EFAILED);
  assert_err("platform-builders: the buildx builder armer for linux/arm64 (step mp) cannot be used: context "
             "\"armer\" does not answer");
}

static void test_no_cli(void **state) {
  (void)state;
  setenv("BRR_DOCKER", "/nonexistent/brr-test/docker", 1);
  assert_int_equal(check(MP, "  linux/arm64: armer\n"), BRR_EFAILED);
  assert_err("platform-builders: cannot run docker buildx inspect armer (for linux/arm64): ");
}

static void test_own_engine(void **state) {
  (void)state;
  /* the docker driver's builder "default" is the engine brr runs on (no context chose it) */
  script("default", "driver:docker");
  assert_int_equal(check(MP, "  linux/amd64: default\n"), 0);
  const brr_builder_info *b = brr_runtime_builder(rt, "default");
  assert_string_equal(b->driver, "docker");
  assert_null(b->engine);
  assert_null(b->context);
  assert_int_equal(fake_engine_count(E2, "*", "/_ping"), 0);
}

static void test_other_engine(void **state) {
  (void)state;
  script("far", "driver:docker");
  context("far", fake_engine_host(E2));
  assert_int_equal(check(MP, "  linux/arm64: far\n"), 0);
  const brr_builder_info *b = brr_runtime_builder(rt, "far");
  assert_non_null(b->engine);
  assert_string_equal(b->context, "far");
  assert_ptr_equal(brr_runtime_builder_engine(rt, "far"), b->engine);
  assert_int_equal(fake_engine_count(E2, "*", "/_ping"), 1);
  char *line = brr_xasprintf("Builder far (docker driver, engine %s) for linux/arm64", fake_engine_host(E2));
  assert_non_null(strstr(brr_buf_cstr(&W.logs), line));
  free(line);
}

static void test_other_engine_down(void **state) {
  (void)state;
  script("far", "driver:docker");
  context("far", "unix:///nonexistent/brr-test/docker.sock");
  assert_int_equal(check(MP, "  linux/arm64: far\n"), BRR_EFAILED);
  assert_err("platform-builders: the builder far (for linux/arm64): cannot connect to its Docker engine at "
             "unix:///nonexistent/brr-test/docker.sock (context far): ");
}

static void test_other_context_missing(void **state) {
  (void)state;
  script("far", "driver:docker");
  assert_int_equal(check(MP, "  linux/arm64: far\n"), BRR_EFAILED);
  assert_err("platform-builders: the builder far (for linux/arm64): context \"far\"");
  assert_err("does not exist");
}

static void test_single_platform_elsewhere(void **state) {
  (void)state;
  script("far", "driver:docker");
  context("far", fake_engine_host(E2));
  top = "use-legacy-builder: false\n";   /* a single-platform build by buildx */
  assert_int_equal(check("  one:\n    build:\n      dockerfile: \"FROM scratch\\n\"\n      platform: linux/arm64\n",
                         "  linux/arm64: far\n"),
                   BRR_EFAILED);
  assert_err("platform-builders: the builder far (for linux/arm64) is the docker context far, another engine than "
             "the one brr runs on: the single-platform buildx build of step one would load its image there");
  /* refused before its engine is asked anything */
  assert_int_equal(fake_engine_count(E2, "*", "/_ping"), 0);
}

/* The build registry brr starts is pushed to at 127.0.0.1 of its engine's machine: a
 * builder on an engine of another machine cannot reach it. */
static void test_other_machine_local_registry(void **state) {
  (void)state;
  script("far", "driver:docker");
  context("far", fake_engine_host(E2));
  own = "tcp://192.0.2.1:2375";   /* brr's engine on another machine (never contacted here) */
  assert_int_equal(check(MP, "  linux/arm64: far\n"), BRR_EFAILED);
  char *want = brr_xasprintf("platform-builders: the builder far (for linux/arm64, step mp) builds on the engine at %s, "
                             "which cannot reach the build registry brr starts on the engine at tcp://192.0.2.1:2375",
                             fake_engine_host(E2));
  assert_err(want);
  free(want);
  assert_err("set `build-registry` in the global configuration to a registry both engines reach");
}

/* With a build registry of its own, the builder's engine may be anywhere. */
static void test_other_machine_build_registry(void **state) {
  (void)state;
  script("far", "driver:docker");
  context("far", fake_engine_host(E2));
  own = "tcp://192.0.2.1:2375";
  char *b = brr_xasprintf("  linux/arm64: far\nbuild-registry: %s\n", W.reg.host);
  assert_int_equal(check(MP, b), 0);
  free(b);
  assert_string_equal(brr_runtime_builder(rt, "far")->context, "far");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_found_once),      T(test_missing),           T(test_cannot_load),
      T(test_no_cli),          T(test_own_engine),        T(test_other_engine),
      T(test_other_engine_down), T(test_other_context_missing), T(test_single_platform_elsewhere),
      T(test_other_machine_local_registry), T(test_other_machine_build_registry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
