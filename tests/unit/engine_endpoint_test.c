/* Choosing the engine as the docker CLI does: --context, DOCKER_HOST (+ TLS variables),
 * DOCKER_CONTEXT, currentContext in config.json, the default socket; contexts in a
 * DOCKER_CONFIG made here, laid out as `docker context create` lays them out; addresses taken
 * apart, garbage refused with a message about the address; the docker CLI's environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brr/engine.h"

static char *g_dir;  /* DOCKER_CONFIG and HOME of this test */

static void put_file(const char *path, const char *text) {
  char *dir = brr_xstrdup(path);
  *strrchr(dir, '/') = '\0';
  assert_int_equal(brr_mkdir_p(dir, 0755), 0);
  free(dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

/* the directory `docker context create` uses for a name: its sha256 in hex (here from the
 * shell's sha256sum for "brr-tls", as a cross-check of the hashing below) */
static const char *ctx_hash(const char *name) {
  if (strcmp(name, "brr-tls") == 0)
    return "c29a5a3cd2ff66f8f0189aae7dd9be375e4fb591cf902e7948ea11bd2b1c2ceb";
  if (strcmp(name, "skip") == 0) return "42e93b9bb77d8a73e8412111b8f3d6befab66bf48fdcdefa80bb111819aa0cb1";
  return NULL;
}

static void make_context(const char *name, const char *host, bool skip, bool tls_files) {
  const char *hash = ctx_hash(name);
  assert_non_null(hash);
  char *meta = brr_xasprintf("%s/contexts/meta/%s/meta.json", g_dir, hash);
  char *json = brr_xasprintf(
      "{\"Name\":\"%s\",\"Metadata\":{\"Description\":\"t\"},\"Endpoints\":{\"docker\":"
      "{\"Host\":\"%s\",\"SkipTLSVerify\":%s}}}",
      name, host, skip ? "true" : "false");
  put_file(meta, json);
  free(meta);
  free(json);
  if (tls_files) {
    const char *files[] = {"ca.pem", "cert.pem", "key.pem"};
    for (size_t i = 0; i < 3; i++) {
      char *p = brr_xasprintf("%s/contexts/tls/%s/docker/%s", g_dir, hash, files[i]);
      put_file(p, "PEM\n");
      free(p);
    }
  }
}

static void clear_env(void) {
  const char *vars[] = {"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS",
                        "DOCKER_CERT_PATH"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(vars); i++) unsetenv(vars[i]);
  char *cfg = brr_xasprintf("%s/config.json", g_dir);
  unlink(cfg);
  free(cfg);
}

static int setup(void **state) {
  (void)state;
  char tmpl[] = "/tmp/brr-endpoint-test.XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  g_dir = brr_xstrdup(tmpl);
  setenv("DOCKER_CONFIG", g_dir, 1);
  setenv("HOME", g_dir, 1);
  clear_env();
  make_context("brr-tls", "tcp://127.0.0.1:2376", false, true);
  make_context("skip", "tcp://10.0.0.9:2376", true, false);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  brr_rm_rf(g_dir);
  free(g_dir);
  return 0;
}

static brr_engine_endpoint resolve_ok(const char *flag) {
  brr_engine_endpoint ep;
  char *err = NULL;
  int rc = brr_engine_endpoint_resolve(flag, &ep, &err);
  if (rc) fprintf(stderr, "unexpected: %s\n", err);
  assert_int_equal(rc, 0);
  assert_null(err);
  return ep;
}

static char *resolve_err(const char *flag) {
  brr_engine_endpoint ep;
  char *err = NULL;
  assert_int_equal(brr_engine_endpoint_resolve(flag, &ep, &err), BRR_EINVAL);
  assert_non_null(err);
  return err;
}

static void test_default(void **state) {
  (void)state;
  clear_env();
  brr_engine_endpoint ep = resolve_ok(NULL);
  assert_string_equal(ep.host, "unix:///var/run/docker.sock");
  assert_string_equal(ep.source, "the default");
  assert_false(ep.tls);
  assert_null(ep.context);
  brr_engine_endpoint_free(&ep);
}

static void test_precedence(void **state) {
  (void)state;
  clear_env();
  /* currentContext */
  char *cfg = brr_xasprintf("%s/config.json", g_dir);
  put_file(cfg, "{\"auths\":{},\"currentContext\":\"brr-tls\"}");
  brr_engine_endpoint ep = resolve_ok(NULL);
  assert_string_equal(ep.host, "tcp://127.0.0.1:2376");
  assert_string_equal(ep.context, "brr-tls");
  assert_non_null(strstr(ep.source, "currentContext brr-tls in "));
  assert_non_null(strstr(ep.source, cfg));
  brr_engine_endpoint_free(&ep);
  /* DOCKER_CONTEXT beats currentContext */
  setenv("DOCKER_CONTEXT", "skip", 1);
  ep = resolve_ok(NULL);
  assert_string_equal(ep.host, "tcp://10.0.0.9:2376");
  assert_string_equal(ep.source, "DOCKER_CONTEXT=skip");
  brr_engine_endpoint_free(&ep);
  /* DOCKER_HOST beats both */
  setenv("DOCKER_HOST", "tcp://192.0.2.1:2375", 1);
  ep = resolve_ok(NULL);
  assert_string_equal(ep.host, "tcp://192.0.2.1:2375");
  assert_string_equal(ep.source, "DOCKER_HOST");
  assert_null(ep.context);
  brr_engine_endpoint_free(&ep);
  /* --context beats everything */
  ep = resolve_ok("brr-tls");
  assert_string_equal(ep.host, "tcp://127.0.0.1:2376");
  assert_string_equal(ep.source, "--context brr-tls");
  assert_true(ep.flag_context);
  brr_engine_endpoint_free(&ep);
  /* --context default: the environment, DOCKER_HOST included */
  ep = resolve_ok("default");
  assert_string_equal(ep.host, "tcp://192.0.2.1:2375");
  assert_null(ep.context);
  brr_engine_endpoint_free(&ep);
  /* ... and without DOCKER_HOST the default socket, whatever DOCKER_CONTEXT says */
  unsetenv("DOCKER_HOST");
  ep = resolve_ok("default");
  assert_string_equal(ep.host, "unix:///var/run/docker.sock");
  assert_string_equal(ep.source, "--context default");
  brr_engine_endpoint_free(&ep);
  /* an empty DOCKER_HOST counts as unset, as in the CLI */
  setenv("DOCKER_HOST", "", 1);
  ep = resolve_ok(NULL);
  assert_string_equal(ep.host, "tcp://10.0.0.9:2376");
  brr_engine_endpoint_free(&ep);
  /* DOCKER_CONTEXT=default in front of a currentContext */
  setenv("DOCKER_CONTEXT", "default", 1);
  ep = resolve_ok(NULL);
  assert_string_equal(ep.host, "unix:///var/run/docker.sock");
  brr_engine_endpoint_free(&ep);
  free(cfg);
  clear_env();
}

static void test_context_tls(void **state) {
  (void)state;
  clear_env();
  brr_engine_endpoint ep = resolve_ok("brr-tls");
  assert_true(ep.tls);
  assert_true(ep.tls_verify);
  char *want = brr_xasprintf("%s/contexts/tls/%s/docker/ca.pem", g_dir, ctx_hash("brr-tls"));
  assert_string_equal(ep.ca, want);
  free(want);
  assert_non_null(strstr(ep.cert, "/docker/cert.pem"));
  assert_non_null(strstr(ep.key, "/docker/key.pem"));
  brr_engine_endpoint_free(&ep);
  /* SkipTLSVerify without material: TLS without checks */
  ep = resolve_ok("skip");
  assert_true(ep.tls);
  assert_false(ep.tls_verify);
  assert_null(ep.ca);
  assert_null(ep.cert);
  brr_engine_endpoint_free(&ep);
}

static void test_context_errors(void **state) {
  (void)state;
  clear_env();
  char *err = resolve_err("nope");
  assert_non_null(strstr(err, "context \"nope\""));
  assert_non_null(strstr(err, "--context nope"));
  free(err);
  setenv("DOCKER_CONTEXT", "nope", 1);
  err = resolve_err(NULL);
  assert_non_null(strstr(err, "DOCKER_CONTEXT=nope"));
  free(err);
  clear_env();
  /* a meta.json without a host, and one with a garbage host */
  char *meta = brr_xasprintf("%s/contexts/meta/%s/meta.json", g_dir, ctx_hash("brr-tls"));
  put_file(meta, "{\"Name\":\"brr-tls\",\"Endpoints\":{}}");
  err = resolve_err("brr-tls");
  assert_non_null(strstr(err, "no Endpoints.docker.Host"));
  free(err);
  put_file(meta, "{\"Name\":\"brr-tls\",\"Endpoints\":{\"docker\":{\"Host\":\"tcp://h:99999\"}}}");
  err = resolve_err("brr-tls");
  assert_non_null(strstr(err, "tcp://h:99999"));
  assert_non_null(strstr(err, "port"));
  assert_non_null(strstr(err, "(from --context brr-tls)"));
  free(err);
  free(meta);
  make_context("brr-tls", "tcp://127.0.0.1:2376", false, true);
}

static void test_env_tls(void **state) {
  (void)state;
  clear_env();
  char *certs = brr_xasprintf("%s/certs", g_dir);
  char *p = brr_xasprintf("%s/ca.pem", certs);
  put_file(p, "PEM\n");
  free(p);
  setenv("DOCKER_HOST", "tcp://127.0.0.1:2376", 1);
  setenv("DOCKER_CERT_PATH", certs, 1);
  /* DOCKER_TLS_VERIFY: any non-empty value, "0" too, as in the CLI */
  setenv("DOCKER_TLS_VERIFY", "0", 1);
  brr_engine_endpoint ep = resolve_ok(NULL);
  assert_true(ep.tls);
  assert_true(ep.tls_verify);
  assert_non_null(strstr(ep.ca, "/certs/ca.pem"));
  assert_null(ep.cert);  /* no client certificate there */
  brr_engine_endpoint_free(&ep);
  p = brr_xasprintf("%s/cert.pem", certs);
  put_file(p, "PEM\n");
  free(p);
  p = brr_xasprintf("%s/key.pem", certs);
  put_file(p, "PEM\n");
  free(p);
  ep = resolve_ok(NULL);
  assert_non_null(strstr(ep.cert, "/certs/cert.pem"));
  assert_non_null(strstr(ep.key, "/certs/key.pem"));
  brr_engine_endpoint_free(&ep);
  /* the default DOCKER_CERT_PATH is ~/.docker, where there is no CA */
  unsetenv("DOCKER_CERT_PATH");
  char *err = resolve_err(NULL);
  assert_non_null(strstr(err, "/.docker/ca.pem"));
  free(err);
  /* DOCKER_TLS alone: TLS without verification */
  unsetenv("DOCKER_TLS_VERIFY");
  setenv("DOCKER_TLS", "1", 1);
  ep = resolve_ok(NULL);
  assert_true(ep.tls);
  assert_false(ep.tls_verify);
  assert_null(ep.ca);
  brr_engine_endpoint_free(&ep);
  /* nor to a socket */
  setenv("DOCKER_HOST", "unix:///x.sock", 1);
  setenv("DOCKER_TLS_VERIFY", "1", 1);
  ep = resolve_ok(NULL);
  assert_false(ep.tls);
  assert_null(ep.ca);
  brr_engine_endpoint_free(&ep);
  setenv("DOCKER_HOST", "tcp://127.0.0.1:2376", 1);
  unsetenv("DOCKER_TLS_VERIFY");
  /* the TLS variables do not apply to a context */
  setenv("DOCKER_TLS_VERIFY", "1", 1);
  ep = resolve_ok("skip");
  assert_false(ep.tls_verify);
  brr_engine_endpoint_free(&ep);
  free(certs);
  clear_env();
}

/* A CA that must be there and is not: the same words from the environment and from an
 * `engines:` entry, which also says where the engine was named. */
static void test_ca_missing(void **state) {
  (void)state;
  clear_env();
  char *none = brr_xasprintf("%s/no-certs", g_dir);
  setenv("DOCKER_HOST", "tcp://127.0.0.1:2376", 1);
  setenv("DOCKER_TLS_VERIFY", "1", 1);
  setenv("DOCKER_CERT_PATH", none, 1);
  char *err = resolve_err(NULL);
  char *want = brr_xasprintf("DOCKER_TLS_VERIFY is set but the CA certificate %s/ca.pem cannot be "
                             "read: No such file or directory", none);
  assert_string_equal(err, want);
  free(err);
  free(want);
  clear_env();
  brr_engine_endpoint ep;
  err = NULL;
  assert_int_equal(brr_engine_endpoint_named(NULL, "tcp://127.0.0.1:2376", 1, none, "engines: v", &ep, &err),
                   BRR_EINVAL);
  want = brr_xasprintf("TLS is verified but the CA certificate %s/ca.pem cannot be read: No such "
                       "file or directory (from engines: v)", none);
  assert_string_equal(err, want);
  free(err);
  free(want);
  free(none);
}

static void test_target(void **state) {
  (void)state;
  brr_engine_target t;
  char *err = NULL;
  assert_int_equal(brr_engine_target_parse("tcp://h", true, &t, &err), 0);
  assert_string_equal(t.base_url, "https://h:2376");
  assert_true(t.tls);
  brr_engine_target_free(&t);
  assert_int_equal(brr_engine_target_parse("tcp://h", false, &t, &err), 0);
  assert_string_equal(t.base_url, "http://h:2375");
  brr_engine_target_free(&t);
  /* "host:port" alone is tcp, as in the CLI */
  assert_int_equal(brr_engine_target_parse("127.0.0.1:5000", false, &t, &err), 0);
  assert_string_equal(t.base_url, "http://127.0.0.1:5000");
  brr_engine_target_free(&t);
  assert_int_equal(brr_engine_target_parse("tcp://[::1]:7", true, &t, &err), 0);
  assert_string_equal(t.base_url, "https://[::1]:7");
  brr_engine_target_free(&t);
  assert_int_equal(brr_engine_target_parse("ssh://me@build-host:2222", false, &t, &err), 0);
  assert_string_equal(t.ssh_dest, "me@build-host");
  assert_string_equal(t.ssh_port, "2222");
  assert_null(t.unix_path);
  brr_engine_target_free(&t);
  assert_int_equal(brr_engine_target_parse("ssh://host", false, &t, &err), 0);
  assert_string_equal(t.ssh_dest, "host");
  assert_null(t.ssh_port);
  brr_engine_target_free(&t);

  static const struct { const char *host, *says; } bad[] = {
      {"tcp://[::1", "closing ']'"},
      {"tcp://[::1]x", "after ']'"},
      {"tcp://::1:2375", "brackets"},
      {"tcp://h:0", "port"},
      {"tcp://h:65536", "port"},
      {"tcp://h:abc", "port"},
      {"tcp://h:", "port"},
      {"tcp://", "no host"},
      {"tcp://:2375", "no host"},
      {"tcp://[]:2375", "no host"},
      {"tcp://h:2375/v1.41", "path"},
      {"tcp://user@h", "user"},
      {"tcp://h h", "character"},
      {"ssh://", "no host"},
      {"ssh://me@", "no host"},
      {"ssh://h:22x", "port"},
      {"npipe:////./pipe/docker_engine", "npipe:// scheme"},
      {"unix://rel.sock", "absolute"},
      {"/var/run/docker.sock", "expected"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(bad); i++) {
    err = NULL;
    assert_int_equal(brr_engine_target_parse(bad[i].host, false, &t, &err), BRR_EINVAL);
    if (!strstr(err, bad[i].says) || !strstr(err, bad[i].host))
      fail_msg("%s: got '%s', expected it to say '%s'", bad[i].host, err, bad[i].says);
    free(err);
  }
  /* and through the resolution, with the source */
  clear_env();
  setenv("DOCKER_HOST", "tcp://[::1", 1);
  err = resolve_err(NULL);
  assert_string_equal(err, "engine address tcp://[::1: the IPv6 address has no closing ']' (from DOCKER_HOST)");
  free(err);
  clear_env();
}

/* which engines are on another machine (their build registry is reached through them) */
static void test_remote_host(void **state) {
  (void)state;
  static const struct { const char *host, *remote; } cases[] = {
      {"unix:///var/run/docker.sock", NULL},
      {"tcp://127.0.0.1:2376", NULL},
      {"tcp://localhost", NULL},
      {"tcp://[::1]:2375", NULL},
      {"ssh://root@127.0.0.1:2222", NULL},
      {"tcp://docker:2376", "docker"},
      {"10.0.0.5:2375", "10.0.0.5"},
      {"tcp://[fd00::1]:2376", "[fd00::1]"},
      {"ssh://me@build-host:2222", "build-host"},
      {"ssh://build-host", "build-host"},
  };
  uv_loop_t loop;
  uv_loop_init(&loop);
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    brr_engine_opts o = {.host = cases[i].host};
    brr_engine *e = NULL;
    char *err = NULL;
    assert_int_equal(brr_engine_new(&loop, &o, &e, &err), 0);
    char *r = brr_engine_remote_host(e);
    if (cases[i].remote) {
      if (!r || strcmp(r, cases[i].remote)) fail_msg("%s: got %s", cases[i].host, r ? r : "NULL");
    } else if (r) {
      fail_msg("%s: got %s, expected a local engine", cases[i].host, r);
    }
    free(r);
    brr_engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  assert_int_equal(uv_loop_close(&loop), 0);
}

static bool has(char **v, const char *s) {
  for (; *v; v++)
    if (strcmp(*v, s) == 0) return true;
  return false;
}

static bool has_prefix(char **v, const char *s) {
  for (; *v; v++)
    if (brr_startswith(*v, s)) return true;
  return false;
}

static void test_cli_env(void **state) {
  (void)state;
  clear_env();
  setenv("DOCKER_HOST", "unix:///x.sock", 1);
  setenv("DOCKER_CONTEXT", "skip", 1);
  /* chosen from the environment: the CLI gets the same environment */
  brr_engine_endpoint ep = resolve_ok(NULL);
  char **env = brr_engine_endpoint_env(&ep);
  assert_true(has(env, "DOCKER_HOST=unix:///x.sock"));
  assert_true(has(env, "DOCKER_CONTEXT=skip"));
  brr_strv_free(env);
  brr_engine_endpoint_free(&ep);
  /* --context NAME: pinned, and DOCKER_HOST would beat it in the CLI, so it goes */
  ep = resolve_ok("brr-tls");
  env = brr_engine_endpoint_env(&ep);
  assert_true(has(env, "DOCKER_CONTEXT=brr-tls"));
  assert_false(has_prefix(env, "DOCKER_HOST="));
  assert_false(has(env, "DOCKER_CONTEXT=skip"));
  brr_strv_free(env);
  brr_engine_endpoint_free(&ep);
  /* --context default: the environment's host stays, the context is pinned to default */
  ep = resolve_ok("default");
  env = brr_engine_endpoint_env(&ep);
  assert_true(has(env, "DOCKER_CONTEXT=default"));
  assert_true(has(env, "DOCKER_HOST=unix:///x.sock"));
  brr_strv_free(env);
  brr_engine_endpoint_free(&ep);
  clear_env();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default),     cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_context_tls), cmocka_unit_test(test_context_errors),
      cmocka_unit_test(test_env_tls),     cmocka_unit_test(test_target),
      cmocka_unit_test(test_cli_env),     cmocka_unit_test(test_remote_host),
      cmocka_unit_test(test_ca_missing),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
