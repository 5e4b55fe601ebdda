/* Multi-platform builds without Docker: the PLATFORM_BUILD, MANIFEST and (multi-platform)
 * PUSH node kinds (src/tasks/platform_build.c, manifest.c, push.c) and the build registry
 * (build_registry.c), in whole runs against the fake engine, the docker CLI stand-in (which
 * pushes each platform's image into the fake registry as `buildx --push` would) and the fake
 * registry. The configured build registry and the temporary registry container; retries of
 * a platform; FROM lines rewritten to another multi-platform step's images; the native image
 * for a step that runs or commits; an error at each call (engine, registry, CLI); a cancel
 * or an abort in each state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/fake_build_support.h"

static fb_world W;
static char *GLOBAL;      /* build-registry: the fake registry */

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  /* the platforms (and pushes) end on their own: one's failure does not cancel another, so
   * each test sees every node's own result */
  W.keep_going = true;
  fb_write(W.build_dir, "ctx/app.txt", "hello\n");
  GLOBAL = brr_xasprintf("build-registry: %s\n", W.reg.host);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  free(GLOBAL);
  return 0;
}

static void load_mp(const char *extra_steps, const char *global) {
  char *y = brr_xasprintf("steps:\n  mp:\n    build:\n      path: ctx\n"
                          "      dockerfile: \"FROM scratch\\nCOPY app.txt /\\n\"\n"
                          "      platforms: [linux/amd64, linux/arm64]\n"
                          "    push:\n      repository: %s/myorg/app\n      tags: [v1]\n%s",
                          W.reg.host, extra_steps ? extra_steps : "");
  fb_load(&W, y, global);
  free(y);
}

/* The manifest list the run made, from its log line "Created the manifest list <ref> (...)". */
static char *list_ref(void) {
  const char *p = strstr(W.logs.data ? W.logs.data : "", "Created the manifest list ");
  if (!p) return NULL;
  p += strlen("Created the manifest list ");
  return brr_xstrndup(p, strcspn(p, " "));
}

static void test_happy(void **state) {
  (void)state;
  W.push = true;
  load_mp(NULL, GLOBAL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "mp/build@linux/amd64"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fb_status(&W, "mp/build@linux/arm64"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_SUCCEEDED);
  char *push_id = brr_xasprintf("push:%s/myorg/app:v1", W.reg.host);
  assert_int_equal(fb_status(&W, push_id), BRR_STATUS_SUCCEEDED);
  free(push_id);
  /* each platform pushed straight into the build registry */
  char *log = fb_fake_file(&W, "buildx.log");
  assert_int_equal(fb_count(log, "\"--push\""), 2);
  assert_int_equal(fb_count(log, "\"--platform\", \"linux/arm64\""), 1);
  char *tag = brr_xasprintf("\"--tag\", \"%s/buildrunner-mp-", W.reg.host);
  assert_int_equal(fb_count(log, tag), 2);
  free(tag);
  free(log);
  /* the index joins both; the push copied it, unchanged, under the user's name */
  char *ref = list_ref();
  assert_non_null(ref);
  char *repo_ref = brr_xstrdup(strchr(ref, '/') + 1);
  char *type = NULL, *digest = NULL, *ptype = NULL, *pdigest = NULL;
  char *index = fr_manifest(&W.reg, repo_ref, &type, &digest);
  assert_non_null(index);
  assert_string_equal(type, "application/vnd.oci.image.index.v1+json");
  assert_non_null(strstr(index, "\"architecture\":\"arm64\""));
  assert_non_null(strstr(index, "\"architecture\":\"amd64\""));
  char *pushed = fr_manifest(&W.reg, "myorg/app:v1", &ptype, &pdigest);
  assert_non_null(pushed);
  assert_string_equal(pdigest, digest);
  assert_string_equal(ptype, type);
  free(index), free(pushed), free(type), free(digest), free(ptype), free(pdigest), free(repo_ref), free(ref);
  /* a configured registry: no container; the push entries tag the native image locally,
   * so it was pulled from the build registry, once */
  assert_int_equal(fake_engine_created(W.eng, FAKE_CONTAINER), 0);
  assert_int_equal(fake_engine_count(W.eng, "POST", "/images/create"), 1);
}

/* The temporary registry container answers on the fake registry's port. */
static void registry_ports(void *ud, const fake_request *req, fake_reply *out) {
  (void)req;
  fb_world *w = ud;
  free(out->body);
  out->status = 200;
  out->body = brr_xasprintf("{\"Id\":\"x\",\"State\":{\"Running\":true},\"NetworkSettings\":{\"Ports\":"
                            "{\"5000/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"%d\"}]}}}",
                            w->reg.port);
  out->body_len = strlen(out->body);
}

static void test_temporary_registry(void **state) {
  (void)state;
  fake_rule_handler(fake_engine_on(W.eng, "GET", "/containers/*/json"), registry_ports, &W);
  /* the port brr chose (nothing answers there in this test) is taken: the start fails */
  fake_engine_fail(W.eng, "POST", "/containers/*/start", 1, 500);
  load_mp(NULL, NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_SUCCEEDED);
  /* registry:2 from the docker-registry, pulled as it was not there; a container published
   * on loopback at the port brr chose, labelled; it could not start, so it was removed and
   * made again on a port the engine chose (read back by inspect); both removed */
  const fake_request *pull = fake_engine_find(W.eng, "POST", "/images/create", 0);
  assert_non_null(pull);
  assert_non_null(strstr(pull->query, "/registry"));
  assert_int_equal(fake_engine_created(W.eng, FAKE_CONTAINER), 2);
  const fake_request *create = fake_engine_find(W.eng, "POST", "/containers/create", 0);
  assert_non_null(strstr(create->body, "brr.role"));
  assert_non_null(strstr(create->body, "\"HostIp\":\"127.0.0.1\""));
  assert_null(strstr(create->body, "\"HostPort\":\"\""));  /* brr's port */
  const fake_request *again = fake_engine_find(W.eng, "POST", "/containers/create", 1);
  assert_non_null(again);
  assert_non_null(strstr(again->body, "\"HostIp\":\"127.0.0.1\""));
  assert_non_null(strstr(again->body, "\"HostPort\":\"\""));  /* the engine's */
  assert_int_equal(fake_engine_count(W.eng, "DELETE", "/containers/*"), 2);
  char *at = brr_xasprintf("Build registry at %s", W.reg.host);
  assert_non_null(strstr(W.logs.data, at));
  free(at);
  assert_true(fr_count(&W.reg, "GET /v2/") >= 1);
  /* every platform in the index is in the registry that came up (a build that started with
   * the first address built again) */
  char *ref = list_ref();
  assert_non_null(ref);
  assert_true(strncmp(ref, W.reg.host, strlen(W.reg.host)) == 0);
  char *repo_ref = brr_xstrdup(strchr(ref, '/') + 1);
  char *type = NULL, *digest = NULL;
  char *index = fr_manifest(&W.reg, repo_ref, &type, &digest);
  assert_non_null(index);
  assert_non_null(strstr(index, "\"architecture\":\"arm64\""));
  assert_non_null(strstr(index, "\"architecture\":\"amd64\""));
  free(index), free(type), free(digest), free(repo_ref), free(ref);
}

static void registry_fails(const char *method, const char *pattern) {
  fake_rule_handler(fake_engine_on(W.eng, "GET", "/containers/*/json"), registry_ports, &W);
  fake_engine_fail(W.eng, method, pattern, 0, 500);
  load_mp(NULL, NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "mp/build@linux/amd64"), BRR_STATUS_FAILED);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_SKIPPED);
  assert_non_null(strstr(fb_error(&W, "mp/build@linux/amd64"), "build registry: "));
  assert_non_null(strstr(fb_error(&W, "mp/build@linux/amd64"), "fake failure"));
}

static void test_registry_create_fails(void **state) {
  (void)state;
  registry_fails("POST", "/containers/create");
}

static void test_registry_start_fails(void **state) {
  (void)state;
  registry_fails("POST", "/containers/*/start");
}

static void test_registry_pull_fails(void **state) {
  (void)state;
  registry_fails("POST", "/images/create");
}

static void test_registry_inspect_fails(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "GET", "/containers/*/json", 0, 500);
  /* the port brr chose is taken: the container made again is inspected for its port */
  fake_engine_fail(W.eng, "POST", "/containers/*/start", 1, 500);
  load_mp(NULL, NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_non_null(strstr(fb_error(&W, "mp/build@linux/arm64"), "build registry: "));
  assert_non_null(strstr(fb_error(&W, "mp/build@linux/arm64"), "fake failure"));
}

static void test_registry_no_port(void **state) {
  (void)state;
  /* the port brr chose is taken; the default inspect answer of the container made again
   * publishes nothing */
  fake_engine_fail(W.eng, "POST", "/containers/*/start", 1, 500);
  load_mp(NULL, NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_string_equal(fb_error(&W, "mp/build@linux/arm64"), "build registry: the registry container has no published port");
}

static void test_inside_container(void **state) {
  (void)state;
  setenv("BUILDRUNNER_CONTAINER", "1", 1);
  load_mp(NULL, NULL);
  assert_int_equal(fb_run(&W), 1);
  unsetenv("BUILDRUNNER_CONTAINER");
  assert_non_null(strstr(fb_error(&W, "mp/build@linux/amd64"), "cannot start a registry container from inside a build container"));
  assert_int_equal(fake_engine_created(W.eng, FAKE_CONTAINER), 0);
}

static void test_retry(void **state) {
  (void)state;
  /* a failed platform is tried again on its own, after a second */
  fb_script(&W, "buildx.linux-arm64", "fail:flaky network\nok\n");
  fb_script(&W, "buildx.linux-amd64", "nodigest\nok\n");
  load_mp(NULL, GLOBAL);
  assert_int_equal(fb_run(&W), 0);
  assert_non_null(strstr(W.logs.data, "linux/arm64: try 1 of 5 failed: ERROR: flaky network; trying this platform again in 1 s"));
  assert_non_null(strstr(W.logs.data, "linux/amd64: try 1 of 5 failed: docker buildx reported no pushed digest"));
  char *log = fb_fake_file(&W, "buildx.log");
  assert_int_equal(fb_count(log, "\"argv\""), 4);
  free(log);
  /* the platform's output carries the platform as its source */
  assert_non_null(strstr(W.out.data, "mp/build@linux/arm64|linux/arm64|#1 [internal] load build definition"));
}

static void test_cli_missing(void **state) {
  (void)state;
  /* the CLI cannot be run: no retry */
  char *nowhere = brr_path_join(W.dir, "no-such-docker");
  setenv("BRR_DOCKER", nowhere, 1);
  free(nowhere);
  load_mp(NULL, GLOBAL);
  assert_int_equal(fb_run(&W), 1);
  assert_non_null(strstr(fb_error(&W, "mp/build@linux/amd64"), "cannot run docker buildx"));
  assert_non_null(strstr(fb_error(&W, "mp/build@linux/amd64"), "(1 try)"));
}

/* "/v2/buildrunner-mp-<host>/manifests/": the build registry's repository, as brr names it
 * (the host name reduced to [a-z0-9]). Heap. */
static char *mp_manifests(void) {
  char name[256];
  if (gethostname(name, sizeof name) != 0) name[0] = '\0';
  name[sizeof name - 1] = '\0';
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, "/v2/buildrunner-mp-");
  size_t start = b.len;
  for (const char *p = name; *p; p++) {
    char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) brr_buf_putc(&b, c);
  }
  if (b.len == start) brr_buf_puts(&b, "host");
  brr_buf_puts(&b, "/manifests/");
  return brr_buf_detach(&b);
}

static void test_index_fails(void **state) {
  (void)state;
  W.push = true;
  /* the two platform manifests go in, the index is refused */
  char *prefix = mp_manifests();
  fr_fault_after(&W.reg, "PUT", prefix, 400, 2, -1);
  free(prefix);
  load_mp(NULL, GLOBAL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "mp/build@linux/amd64"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, "mp/manifest"), "400"));
  assert_null(fr_manifest(&W.reg, "myorg/app:v1", NULL, NULL));
}

static void test_copy_fails(void **state) {
  (void)state;
  W.push = true;
  fr_fault(&W.reg, "PUT", "/v2/myorg/app/manifests/", 403, -1);
  load_mp(NULL, GLOBAL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_SUCCEEDED);
  char *push_id = brr_xasprintf("push:%s/myorg/app:v1", W.reg.host);
  assert_int_equal(fb_status(&W, push_id), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, push_id), "403"));
  free(push_id);
}

static void test_native_image(void **state) {
  (void)state;
  /* the step commits its image: the native platform's image is pulled into the engine
   * (buildx's docker driver would have kept it; this builder did not) */
  load_mp("    commit: {repository: myorg/mp, tags: [v1]}\n", GLOBAL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "mp/commit"), BRR_STATUS_SUCCEEDED);
  const fake_request *pull = fake_engine_find(W.eng, "POST", "/images/create", 0);
  assert_non_null(pull);
  assert_non_null(strstr(pull->query, "buildrunner-mp-"));
  assert_non_null(strstr(pull->query, "-linux-amd64"));
  assert_non_null(strstr(W.logs.data, "Native image (linux/amd64): sha256:"));
}

static void test_native_pull_fails(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "POST", "/images/create", 0, 500);
  load_mp("    commit: {repository: myorg/mp, tags: [v1]}\n", GLOBAL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, "mp/manifest"), "fake failure"));
}

static void test_native_inspect_fails(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "GET", "/images/*buildrunner-mp-*/json", 0, 500);
  load_mp("    commit: {repository: myorg/mp, tags: [v1]}\n", GLOBAL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_FAILED);
}

static void test_base_from_build_registry(void **state) {
  (void)state;
  /* a step FROM another multi-platform step's image builds each platform on that
   * platform's image in the build registry */
  const char *more = "  app:\n    depends: [mp]\n    build:\n      path: ctx\n"
                     "      dockerfile: \"FROM myorg/mp:v1\\nRUN true\\n\"\n"
                     "      platforms: [linux/amd64, linux/arm64]\n";
  char *y = brr_xasprintf("steps:\n  mp:\n    build:\n      path: ctx\n"
                          "      dockerfile: \"FROM scratch\\nCOPY app.txt /\\n\"\n"
                          "      platforms: [linux/amd64, linux/arm64]\n"
                          "    commit: {repository: myorg/mp, tags: [v1]}\n%s",
                          more);
  fb_load(&W, y, GLOBAL);
  free(y);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "app/manifest"), BRR_STATUS_SUCCEEDED);
  char *log = fb_fake_file(&W, "buildx.log");
  char *want = brr_xasprintf("\"dockerfile\": \"FROM %s/buildrunner-mp-", W.reg.host);
  assert_int_equal(fb_count(log, want), 2);
  free(want);
  assert_int_equal(fb_count(log, "-linux-arm64\\nRUN true\\n\""), 1);
  assert_int_equal(fb_count(log, "-linux-amd64\\nRUN true\\n\""), 1);
  free(log);
  assert_non_null(strstr(W.logs.data, "the base image comes from the build registry"));
}

/* ---- cancel and abort ---- */

static bool when_buildx_hangs(fb_world *w) {
  if (!fb_fake_exists(w, "buildx.linux-arm64.hanging")) return false;
  fb_sigint();
  return true;
}

static void stop_platform(int signals) {
  /* the abort: the CLI ignores the cancel's SIGTERM, the second SIGINT kills it */
  fb_script(&W, "buildx.linux-arm64", signals == 1 ? "hang\n" : "stubborn\n");
  load_mp(NULL, GLOBAL);
  for (int i = 0; i < signals; i++) fb_then(&W, when_buildx_hangs);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "mp/build@linux/arm64"), BRR_STATUS_CANCELED);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_SKIPPED);
}

static void test_cancel_platform(void **state) {
  (void)state;
  stop_platform(1);
}

static void test_abort_platform(void **state) {
  (void)state;
  stop_platform(2);
}

static bool when_retry_waits(fb_world *w) {
  if (!w->logs.data || !strstr(w->logs.data, "trying this platform again")) return false;
  fb_sigint();
  return true;
}

static void test_cancel_backoff(void **state) {
  (void)state;
  fb_script(&W, "buildx.linux-arm64", "fail:flaky\n");
  load_mp(NULL, GLOBAL);
  fb_then(&W, when_retry_waits);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "mp/build@linux/arm64"), BRR_STATUS_CANCELED);
  char *log = fb_fake_file(&W, "buildx.log");
  assert_int_equal(fb_count(log, "\"--platform\", \"linux/arm64\""), 1);
  free(log);
}

static void test_cancel_registry_start(void **state) {
  (void)state;
  /* the temporary registry's container is made, its start held: the platforms (which may
   * have started buildx with the port brr chose) are cancelled; the container is removed
   * all the same */
  fake_rule_raise(fake_rule_hold(fake_engine_on(W.eng, "POST", "/containers/*/start"), FAKE_HOLD_HEADERS), SIGINT, 1);
  load_mp(NULL, NULL);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "mp/build@linux/amd64"), BRR_STATUS_CANCELED);
  assert_int_equal(fb_status(&W, "mp/build@linux/arm64"), BRR_STATUS_CANCELED);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_SKIPPED);
  assert_int_equal(fake_engine_created(W.eng, FAKE_CONTAINER), 1);
  assert_int_equal(fake_engine_count(W.eng, "DELETE", "/containers/*"), 1);
  /* nothing reached the registry */
  assert_null(list_ref());
}

static bool when_registry_holds(fb_world *w) {
  if (fr_hanging(&w->reg) == 0) return false;
  fb_sigint();
  return true;
}

static void test_cancel_index(void **state) {
  (void)state;
  char *prefix = mp_manifests();
  fr_fault(&W.reg, "HEAD", prefix, 0, -1);
  free(prefix);
  load_mp(NULL, GLOBAL);
  fb_then(&W, when_registry_holds);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_CANCELED);
}

static void test_cancel_copy(void **state) {
  (void)state;
  W.push = true;
  fr_fault(&W.reg, "PUT", "/v2/myorg/app/manifests/", 0, -1);
  load_mp(NULL, GLOBAL);
  fb_then(&W, when_registry_holds);
  assert_int_equal(fb_run(&W), 130);
  char *push_id = brr_xasprintf("push:%s/myorg/app:v1", W.reg.host);
  assert_int_equal(fb_status(&W, push_id), BRR_STATUS_CANCELED);
  free(push_id);
}

static void test_cancel_native_pull(void **state) {
  (void)state;
  fake_rule_raise(fake_rule_hold(fake_engine_on(W.eng, "POST", "/images/create"), FAKE_HOLD_HEADERS), SIGINT, 1);
  load_mp("    commit: {repository: myorg/mp, tags: [v1]}\n", GLOBAL);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "mp/manifest"), BRR_STATUS_CANCELED);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_happy),
      T(test_temporary_registry),
      T(test_registry_create_fails),
      T(test_registry_start_fails),
      T(test_registry_pull_fails),
      T(test_registry_inspect_fails),
      T(test_registry_no_port),
      T(test_inside_container),
      T(test_retry),
      T(test_cli_missing),
      T(test_index_fails),
      T(test_copy_fails),
      T(test_native_image),
      T(test_native_pull_fails),
      T(test_native_inspect_fails),
      T(test_base_from_build_registry),
      T(test_cancel_platform),
      T(test_abort_platform),
      T(test_cancel_backoff),
      T(test_cancel_registry_start),
      T(test_cancel_index),
      T(test_cancel_copy),
      T(test_cancel_native_pull),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
