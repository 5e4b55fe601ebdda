/* The engines of `engines:` before and around a run (src/tasks/engines.c, sweep.c): each one's
 * client from its `host:` (the fake engines' unix sockets), the docker CLI's environment for an
 * engine given by address (DOCKER_HOST, the TLS variables, none of brr's own engine-choosing
 * variables), the preflight naming the engine that does not answer, an address that cannot be
 * used, the configuration error for a step whose `files:` bind-mount host paths when every
 * engine is on another host, and the stale-object sweep on every engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/fake_build_support.h"

static fb_world W;
static fake_engine *E2;
static uv_loop_t loop;
static brr_bus *bus;
static brr_diags D;

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  E2 = fake_engine_start();
  uv_loop_init(&loop);
  bus = brr_bus_new();
  brr_bus_subscribe(bus, fb_on_event, &W);
  D = (brr_diags)BRR_DIAGS_INIT;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  brr_bus_free(bus);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  brr_diags_free(&D);
  fb_teardown(&W);
  fake_engine_stop(E2);
  return 0;
}

static const char *YAML = "steps:\n  a:\n    run: {image: 'busybox', cmd: 'true'}\n";

/* Load `yaml` with `engines` as the global config's engines: map, and make the runtime. */
static int runtime(const char *yaml, const char *engines, brr_runtime **rt) {
  char *g = brr_xasprintf("engines:\n%s", engines);
  fb_load(&W, yaml, g);
  free(g);
  brr_runtime_opts ro = {0};
  ro.docker_host = fake_engine_host(W.eng);   /* not used: engines: names them */
  ro.docker_timeout = 5;
  *rt = NULL;
  return brr_runtime_new(&loop, W.cfg, W.g, &ro, bus, rt, &D);
}

static char *two_fakes(const char *second) {
  return brr_xasprintf("  one: {host: '%s', jobs: 2}\n  two: {host: '%s', jobs: 3, platforms: [linux/arm64]}\n",
                       fake_engine_host(W.eng), second ? second : fake_engine_host(E2));
}

static const char *env_get(char **env, const char *name) {
  size_t n = strlen(name);
  for (char **e = env; e && *e; e++)
    if (!strncmp(*e, name, n) && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

static void test_two_engines_and_preflight(void **state) {
  (void)state;
  char *e = two_fakes(NULL);
  brr_runtime *rt = NULL;
  assert_int_equal(runtime(YAML, e, &rt), 0);
  free(e);
  assert_int_equal(rt->n_engines, 2);
  assert_string_equal(rt->engines[0].name, "one");
  assert_string_equal(rt->engines[1].name, "two");
  assert_int_equal(rt->engines[1].jobs, 3);
  assert_true(rt->engines[0].local && rt->engines[1].local);
  assert_ptr_equal(rt->engine, rt->engines[0].engine);
  /* a step's engine is its placement's */
  assert_ptr_equal(brr_rt_engine(rt, 0), rt->engines[0].engine);
  rt->steps[0].engine = 1;
  assert_ptr_equal(brr_rt_engine(rt, 0), rt->engines[1].engine);
  assert_string_equal(env_get(brr_rt_docker_env(rt, 0), "DOCKER_HOST"), fake_engine_host(E2));
  assert_ptr_equal(brr_rt_engine(rt, BRR_NO_STEP), rt->engine);
  char *err = NULL;
  assert_int_equal(brr_runtime_preflight(rt, 5, &err), 0);
  assert_null(err);
  assert_int_equal(fake_engine_count(W.eng, "*", "/_ping"), 1);
  assert_int_equal(fake_engine_count(E2, "*", "/_ping"), 1);
  brr_runtime_free(rt);
}

static void test_preflight_names_the_engine(void **state) {
  (void)state;
  char *e = two_fakes("unix:///nonexistent/brr-test/docker.sock");
  brr_runtime *rt = NULL;
  assert_int_equal(runtime(YAML, e, &rt), 0);
  free(e);
  char *err = NULL;
  assert_int_equal(brr_runtime_preflight(rt, 5, &err), BRR_EIO);
  assert_non_null(err);
  if (!strstr(err, "cannot connect to the Docker engine 'two' at unix:///nonexistent/brr-test/docker.sock (from "
                   "engines.two in "))
    fail_msg("%s", err);
  free(err);
  brr_runtime_free(rt);
}

/* Without engines:, the one engine is not named in the message. */
static void test_preflight_one_engine(void **state) {
  (void)state;
  fb_load(&W, YAML, NULL);
  brr_runtime_opts ro = {0};
  ro.docker_host = "unix:///nonexistent/brr-test/docker.sock";
  ro.docker_timeout = 5;
  brr_runtime *rt = NULL;
  assert_int_equal(brr_runtime_new(&loop, W.cfg, W.g, &ro, bus, &rt, &D), 0);
  assert_int_equal(rt->n_engines, 1);
  assert_null(rt->engines[0].name);
  char *err = NULL;
  assert_int_equal(brr_runtime_preflight(rt, 5, &err), BRR_EIO);
  if (!strstr(err, "cannot connect to the Docker engine at unix:///nonexistent/brr-test/docker.sock (from "))
    fail_msg("%s", err);
  free(err);
  brr_runtime_free(rt);
}

static void test_address_refused(void **state) {
  (void)state;
  char *e = two_fakes("bogus://nowhere");
  brr_runtime *rt = NULL;
  assert_int_equal(runtime(YAML, e, &rt), BRR_EINVAL);
  free(e);
  assert_null(rt);
  assert_int_equal(D.n, 1);
  assert_non_null(strstr(D.v[0].msg, "cannot use the Docker engine 'two'"));
  assert_int_equal(D.v[0].mark.line, 5);   /* the engine's key in .buildrunner.yaml (after
                                            * docker-registry, temp-dir, engines:, one:) */
}

static void test_tls_environment(void **state) {
  (void)state;
  /* brr's own choice of engine does not leak into the CLI of an engine given by address */
  setenv("DOCKER_CONTEXT", "brr-test-elsewhere", 1);
  setenv("DOCKER_CERT_PATH", "/brr-test/not-this", 1);
  char *certs = brr_path_join(W.dir, "certs");
  brr_mkdir_p(certs, 0700);
  /* read when the client is made; used only when it connects, which it never does here */
  tu_write(certs, "ca.pem", "not a certificate\n", 0600);
  char *e = brr_xasprintf("  one: {host: '%s'}\n"
                          "  v: {host: 'tcp://127.0.0.1:1', tls-verify: true, cert-path: '%s'}\n"
                          "  t: {host: 'tcp://127.0.0.1:2', tls-verify: false}\n",
                          fake_engine_host(W.eng), certs);
  brr_runtime *rt = NULL;
  int rc = runtime(YAML, e, &rt);
  if (rc != 0) brr_diags_print(&D, stderr, false);
  assert_int_equal(rc, 0);
  free(e);
  char **v = rt->engines[1].docker_env, **t = rt->engines[2].docker_env;
  assert_string_equal(env_get(v, "DOCKER_HOST"), "tcp://127.0.0.1:1");
  assert_string_equal(env_get(v, "DOCKER_TLS_VERIFY"), "1");
  assert_string_equal(env_get(v, "DOCKER_CERT_PATH"), certs);
  assert_null(env_get(v, "DOCKER_CONTEXT"));
  assert_non_null(env_get(v, "PATH"));   /* the rest of brr's environment stays */
  assert_string_equal(env_get(t, "DOCKER_HOST"), "tcp://127.0.0.1:2");
  assert_string_equal(env_get(t, "DOCKER_TLS"), "1");
  assert_null(env_get(t, "DOCKER_TLS_VERIFY"));
  assert_null(env_get(t, "DOCKER_CONTEXT"));
  /* without cert-path, the CLI's default directory */
  assert_non_null(strstr(env_get(t, "DOCKER_CERT_PATH"), "/.docker"));
  brr_runtime_free(rt);
  unsetenv("DOCKER_CONTEXT");
  unsetenv("DOCKER_CERT_PATH");
  free(certs);
}

static void test_host_paths_on_remote_engines(void **state) {
  (void)state;
  /* both engines on other hosts (never contacted: the run is refused before it starts) */
  const char *yaml = "steps:\n  a:\n    run: {image: 'busybox', cmd: 'true'}\n"
                     "  b:\n    run:\n      image: busybox\n      cmd: 'true'\n"
                     "      files:\n        data: /data\n";
  brr_runtime *rt = NULL;
  assert_int_equal(runtime(yaml, "  far: {host: 'tcp://192.0.2.1:2375'}\n  farther: {host: 'tcp://192.0.2.2:2375'}\n", &rt),
                   BRR_ECONFIG);
  assert_null(rt);
  assert_int_equal(D.n, 1);
  const char *msg = D.v[0].msg;
  if (!strstr(msg, "step 'b': `files` bind-mounts paths of this host into its containers, and every engine of "
                   "`engines:` is on another host: far (tcp://192.0.2.1:2375), farther (tcp://192.0.2.2:2375)"))
    fail_msg("%s", msg);
  assert_int_equal(D.v[0].exit_code, BRR_EXIT_CONFIG);
  assert_int_equal(D.v[0].mark.line, 9);   /* `data:` under files */
  /* a service's files too */
  brr_diags_free(&D);
  D = (brr_diags)BRR_DIAGS_INIT;
  yaml = "steps:\n  s:\n    run:\n      image: busybox\n      cmd: 'true'\n      services:\n        db:\n"
         "          image: busybox\n          files:\n            data: /data\n";
  assert_int_equal(runtime(yaml, "  far: {host: 'tcp://192.0.2.1:2375'}\n", &rt), BRR_ECONFIG);
  assert_int_equal(D.n, 1);
  assert_non_null(strstr(D.v[0].msg, "step 's': `files` bind-mounts paths of this host"));
  assert_int_equal(D.v[0].mark.line, 10);
}

static char *dead_owner(void) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  return brr_xasprintf("%s:%d:1", host, (int)getpid());
}

static void test_sweep_every_engine(void **state) {
  (void)state;
  char *owner = dead_owner();
  char *labels = brr_xasprintf("{\"brr.managed\":\"1\",\"brr.owner\":\"%s\"}", owner);
  fake_engine *fes[] = {W.eng, E2};
  for (size_t i = 0; i < 2; i++) {
    fake_engine_add_object(fes[i], FAKE_CONTAINER, "old-c", labels);
    fake_engine_add_object(fes[i], FAKE_NETWORK, "old-n", labels);
    fake_engine_add_object(fes[i], FAKE_VOLUME, "old-v", labels);
    fake_engine_add_object(fes[i], FAKE_CONTAINER, "someone-elses", "{\"app\":\"x\"}");
  }
  char *e = two_fakes(NULL);
  brr_runtime *rt = NULL;
  assert_int_equal(runtime(YAML, e, &rt), 0);
  free(e);
  brr_runtime_sweep(rt);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(fake_engine_live(fes[i], FAKE_CONTAINER), 1);   /* someone-elses */
    assert_int_equal(fake_engine_live(fes[i], FAKE_NETWORK), 0);
    assert_int_equal(fake_engine_live(fes[i], FAKE_VOLUME), 0);
    assert_int_equal(fake_engine_count(fes[i], "DELETE", "/containers/someone-elses"), 0);
  }
  brr_runtime_free(rt);
  free(labels);
  free(owner);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_two_engines_and_preflight), T(test_preflight_names_the_engine), T(test_preflight_one_engine),
      T(test_address_refused),
      T(test_tls_environment),           T(test_host_paths_on_remote_engines), T(test_sweep_every_engine),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
