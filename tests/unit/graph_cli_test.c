/* `brr --graph` end to end: the real binary on real files. It must print and exit 0 without
 * contacting Docker (DOCKER_HOST points at nothing), give the same bytes every time, and
 * turn graph errors into exit 78 with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "brr/util.h"

static char *g_dir;

typedef struct result {
  int code;
  char *out, *err;
} result;

static result brr(const char *args) {
  const char *bin = getenv("BRR");
  assert_non_null(bin);
  char *out = brr_path_join(g_dir, "stdout"), *err = brr_path_join(g_dir, "stderr");
  char *cmd = brr_xasprintf("cd '%s' && DOCKER_HOST=unix:///nonexistent/docker.sock "
                            "BRR_MASTER_CONFIG=/nonexistent/m.yaml BRR_USER_CONFIG=/nonexistent/u.yaml "
                            "'%s' -d '%s' %s >'%s' 2>'%s'",
                            g_dir, bin, g_dir, args, out, err);
  int st = system(cmd);
  result r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, NULL, NULL};
  brr_buf b = BRR_BUF_INIT;
  brr_read_file(out, &b);
  r.out = brr_buf_detach(&b);
  brr_read_file(err, &b);
  r.err = brr_buf_detach(&b);
  free(cmd);
  free(out);
  free(err);
  return r;
}

static void result_free(result *r) {
  free(r->out);
  free(r->err);
}

static void write_config(const char *yaml) {
  char *p = brr_path_join(g_dir, "buildrunner.yaml");
  assert_int_equal(brr_write_file(p, yaml, strlen(yaml)), 0);
  free(p);
}

static const char *PIPELINE =
    "version: 2.0\n"
    "steps:\n"
    "  build-app:\n"
    "    build:\n"
    "      dockerfile: |\n"
    "        FROM busybox:latest\n"
    "    push:\n"
    "      repository: 127.0.0.1:5000/brr/app\n"
    "      tags: [ latest ]\n"
    "  lint:\n"
    "    run:\n"
    "      image: busybox:latest\n"
    "      cmd: echo lint\n"
    "  unit-tests:\n"
    "    run:\n"
    "      image: 127.0.0.1:5000/brr/app:latest\n"
    "      cmd: echo test > /tmp/x\n"
    "  package:\n"
    "    depends: [ lint ]\n"
    "    run:\n"
    "      image: busybox:latest\n"
    "      cmd: ls /artifacts/unit-tests/\n";

static int setup(void **state) {
  (void)state;
  char tmpl[] = "/tmp/brr-graph-cli-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  g_dir = brr_xstrdup(tmpl);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  brr_rm_rf(g_dir);
  free(g_dir);
  return 0;
}

static void test_json_without_docker(void **state) {
  (void)state;
  write_config(PIPELINE);
  result a = brr("--graph=json --push -n 7");
  if (a.code) fprintf(stderr, "%s", a.err);
  assert_int_equal(a.code, 0);
  cJSON *root = cJSON_Parse(a.out);
  assert_non_null(root);
  assert_string_equal(cJSON_GetObjectItem(root, "format_version")->valuestring, "1");
  bool image = false, artifacts = false, depends = false, moving = false;
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "edges")) {
    const char *r = cJSON_GetObjectItem(e, "reason")->valuestring;
    const char *from = cJSON_GetObjectItem(e, "from")->valuestring, *to = cJSON_GetObjectItem(e, "to")->valuestring;
    image |= !strcmp(r, "image") && !strcmp(from, "build-app/commit") && !strcmp(to, "unit-tests/run");
    artifacts |= !strcmp(r, "artifacts") && !strcmp(from, "unit-tests/run") && !strcmp(to, "package/run");
    depends |= !strcmp(r, "depends") && !strcmp(from, "lint/run") && !strcmp(to, "package/run");
    moving |= !strcmp(r, "moving-tag") && !strcmp(to, "push:127.0.0.1:5000/brr/app:latest");
  }
  assert_true(image && artifacts && depends && moving);
  cJSON_Delete(root);
  /* the same input gives the same bytes */
  result b = brr("--graph=json --push -n 7");
  assert_int_equal(b.code, 0);
  assert_string_equal(a.out, b.out);
  result_free(&a);
  result_free(&b);
}

static void test_formats(void **state) {
  (void)state;
  write_config(PIPELINE);
  static const char *const cases[][2] = {{"--graph", "brr graph "},
                                         {"--graph=text", "brr graph "},
                                         {"--graph=dot", "digraph brr {\n"},
                                         {"--graph=mermaid", "flowchart LR\n"}};
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    result r = brr(cases[i][0]);
    assert_int_equal(r.code, 0);
    assert_true(brr_startswith(r.out, cases[i][1]));
    result_free(&r);
  }
  result r = brr("--graph=svg");
  assert_int_equal(r.code, 2);
  result_free(&r);
  /* -j 1 is --serial: the steps are chained */
  r = brr("--graph=json -j 1");
  assert_int_equal(r.code, 0);
  assert_non_null(strstr(r.out, "\"reason\":\"serial\""));
  result_free(&r);
  r = brr("--graph=json --steps package --with-deps");
  assert_int_equal(r.code, 0);
  assert_non_null(strstr(r.out, "\"id\":\"build-app/build\""));
  result_free(&r);
  r = brr("--graph=json --steps package");
  assert_int_equal(r.code, 0);
  assert_null(strstr(r.out, "\"id\":\"build-app/build\""));
  result_free(&r);
}

static void test_errors(void **state) {
  (void)state;
  write_config("version: 2.0\n"
               "steps:\n"
               "  a:\n"
               "    depends: [ b ]\n"
               "    run: { image: busybox, cmd: echo a }\n"
               "  b:\n"
               "    depends: [ a ]\n"
               "    run: { image: busybox, cmd: echo b }\n");
  result r = brr("--graph");
  assert_int_equal(r.code, 78);
  assert_string_equal(r.out, "");
  assert_non_null(strstr(r.err, "dependency cycle: "));
  assert_non_null(strstr(r.err, "(depends, buildrunner.yaml:4)"));
  assert_non_null(strstr(r.err, "(depends, buildrunner.yaml:7)"));
  result_free(&r);
  write_config("steps:\n"
               "  build-base:\n"
               "    run: { image: busybox, cmd: echo a }\n"
               "  test:\n"
               "    depends: [ build-bsae ]\n"
               "    run: { image: busybox, cmd: echo b }\n");
  r = brr("--graph");
  assert_int_equal(r.code, 78);
  assert_non_null(strstr(r.err, "buildrunner.yaml:5:16: steps.test.depends: step 'test' depends on 'build-bsae', "
                                "which is not a step; did you mean 'build-base'?"));
  result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_json_without_docker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_formats, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
