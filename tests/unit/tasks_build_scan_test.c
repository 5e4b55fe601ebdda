/* Security scans of pushed images (src/tasks/scan.c, started by the commit node) against the
 * fake engine: the scanner image looked up and pulled, its container created with the run
 * directory and the cache mounted, `trivy --version`, the scan and the chown by exec, the
 * container removed; the report (written into the mounted run directory by a rule of the
 * fake engine, as trivy would write it) parsed into artifacts.json and checked against the
 * threshold. An error at each call, a cancel or an abort in each state, and a sibling's
 * failure that leaves the scan alone (a commit completes its step). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "unit/fake_build_support.h"

static fb_world W;

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  return 0;
}

static const char *REPORT =
    "{\"SchemaVersion\":2,\"Results\":[{\"Target\":\"x\",\"Vulnerabilities\":["
    "{\"VulnerabilityID\":\"CVE-1\",\"PkgName\":\"p\",\"InstalledVersion\":\"1\",\"Severity\":\"HIGH\","
    "\"PrimaryURL\":\"u\",\"CVSS\":{\"nvd\":{\"V3Score\":7.5}}}]}]}";

/* When the scanner container is created: the report goes into its run directory (the first
 * bind), as trivy would write it there; a marker tells the test the scan has begun. */
static void write_report(void *ud, const fake_request *req, fake_reply *out) {
  (void)out;
  fb_world *w = ud;
  cJSON *b = cJSON_Parse(req->body ? req->body : "");
  const cJSON *binds = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "HostConfig"), "Binds");
  const cJSON *first = cJSON_GetArrayItem(binds, 0);
  if (cJSON_IsString(first)) {
    char *host = brr_xstrndup(first->valuestring, strcspn(first->valuestring, ":"));
    if (getenv("FB_NO_REPORT") == NULL) fb_write(host, "results.json", REPORT);
    free(host);
  }
  cJSON_Delete(b);
  fb_write(w->fake_dir, "scan.begun", "");
}

static void load_scan(const char *scan_global) {
  fake_rule_handler(fake_engine_on(W.eng, "POST", "/containers/create"), write_report, &W);
  char *y = brr_xasprintf("steps:\n  img:\n    build:\n      dockerfile: \"FROM scratch\\n\"\n"
                          "    push:\n      repository: %s/myorg/app\n      tags: [v1]\n",
                          W.reg.host);
  char *g = brr_xasprintf("security-scan:\n  enabled: true\n%s", scan_global ? scan_global : "");
  fb_load(&W, y, g);
  free(y);
  free(g);
}

static void test_scan(void **state) {
  (void)state;
  load_scan(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "img/commit"), BRR_STATUS_SUCCEEDED);
  /* the scanner image from the docker-registry, pulled as it was not there */
  const fake_request *pull = fake_engine_find(W.eng, "POST", "/images/create", 0);
  assert_non_null(pull);
  assert_non_null(strstr(pull->query, "aquasec/trivy"));
  const fake_request *create = fake_engine_find(W.eng, "POST", "/containers/create", 0);
  assert_non_null(strstr(create->body, ":/trivy"));
  assert_non_null(strstr(create->body, "/var/run/docker.sock:/var/run/docker.sock"));
  /* trivy --version, the scan, the chown */
  assert_int_equal(fake_engine_count(W.eng, "POST", "/containers/*/exec"), 3);
  const fake_request *scan = fake_engine_find(W.eng, "POST", "/containers/*/exec", 1);
  char *want = brr_xasprintf("image -f json -o /trivy/results.json %s/myorg/app:", W.reg.host);
  assert_non_null(strstr(scan->body, want));
  free(want);
  assert_int_equal(fake_engine_created(W.eng, FAKE_CONTAINER), 1);
  /* the report in artifacts.json, under the image's entry */
  char *json = tu_read_rel(W.results, "artifacts.json");
  assert_non_null(json);
  assert_non_null(strstr(json, "\"docker:security-scan\": {"));
  assert_non_null(strstr(json, "\"max_score\": 7.5"));
  assert_non_null(strstr(json, "\"vulnerability_id\": \"CVE-1\""));
  free(json);
  assert_non_null(strstr(W.logs.data, "Max vulnerability score is 7.5, no threshold is configured"));
  assert_non_null(strstr(W.out.data, "img/commit|trivy|+ trivy --version\n"));
}

static void test_threshold(void **state) {
  (void)state;
  load_scan("  max-score-threshold: 7\n");
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "img/commit"), BRR_STATUS_FAILED);
  assert_string_equal(fb_error(&W, "img/commit"), "Max vulnerability score (7.5) is above the configured threshold (7.0)");
  /* the image's entry is not recorded */
  char *json = tu_read_rel(W.results, "artifacts.json");
  assert_null(strstr(json ? json : "", "docker:security-scan"));
  free(json);
}

static void test_below_threshold(void **state) {
  (void)state;
  load_scan("  max-score-threshold: 9\n");
  assert_int_equal(fb_run(&W), 0);
  assert_non_null(strstr(W.logs.data, "Max vulnerability score (7.5) is less than the configured threshold (9)"));
}

static void test_unsupported_scanner(void **state) {
  (void)state;
  load_scan("  scanner: other\n");
  assert_int_equal(fb_run(&W), 1);
  assert_string_equal(fb_error(&W, "img/commit"), "Unsupported scanner other");
  assert_int_equal(fake_engine_created(W.eng, FAKE_CONTAINER), 0);
}

static void test_no_report(void **state) {
  (void)state;
  setenv("FB_NO_REPORT", "1", 1);
  load_scan(NULL);
  assert_int_equal(fb_run(&W), 1);
  unsetenv("FB_NO_REPORT");
  assert_non_null(strstr(fb_error(&W, "img/commit"), "results.json from trivy for"));
  assert_non_null(strstr(fb_error(&W, "img/commit"), "does not exist"));
}

static void test_scan_fails(void **state) {
  (void)state;
  /* the scan's exec exits 1 */
  fake_rule_json(fake_rule_nth(fake_engine_on(W.eng, "GET", "/exec/*/json"), 2), 200,
                 "{\"ExitCode\":1,\"Running\":false}");
  load_scan(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_non_null(strstr(fb_error(&W, "img/commit"), "with trivy, see errors above"));
  /* the chown still ran, then the container went */
  assert_int_equal(fake_engine_count(W.eng, "POST", "/containers/*/exec"), 3);
}

static void test_chown_fails(void **state) {
  (void)state;
  /* only logged: the report was read */
  fake_rule_json(fake_rule_nth(fake_engine_on(W.eng, "GET", "/exec/*/json"), 3), 200,
                 "{\"ExitCode\":1,\"Running\":false}");
  load_scan(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_non_null(strstr(W.logs.data, "unable to change ownership"));
}

static void fails_at(const char *method, const char *pattern, unsigned nth, const char *want) {
  fake_engine_fail(W.eng, method, pattern, nth, 500);
  load_scan(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "img/commit"), BRR_STATUS_FAILED);
  if (!strstr(fb_error(&W, "img/commit"), want)) fail_msg("error: %s", fb_error(&W, "img/commit"));
}

static void test_pull_fails(void **state) {
  (void)state;
  fails_at("POST", "/images/create", 0, "cannot pull the scanner image");
}

static void test_create_fails(void **state) {
  (void)state;
  /* newer than load_scan's rule */
  load_scan(NULL);
  fake_engine_fail(W.eng, "POST", "/containers/create", 0, 500);
  assert_int_equal(fb_run(&W), 1);
  assert_non_null(strstr(fb_error(&W, "img/commit"), "cannot create the scanner container"));
}

static void test_start_fails(void **state) {
  (void)state;
  fails_at("POST", "/containers/*/start", 0, "cannot start the scanner container");
  assert_int_equal(fake_engine_count(W.eng, "DELETE", "/containers/*"), 1);
}

static void test_version_fails(void **state) {
  (void)state;
  fails_at("POST", "/containers/*/exec", 1, "trivy --version");
}

static void test_target_pulled(void **state) {
  (void)state;
  /* the image to scan is not in the engine (a builder that does not keep it): pulled first */
  fake_engine_fail(W.eng, "GET", "/images/*/myorg/app:*/json", 1, 404);
  load_scan(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_non_null(strstr(W.logs.data, "to scan it"));
}

static void test_target_pull_fails(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "GET", "/images/*/myorg/app:*/json", 0, 404);
  fake_engine_fail(W.eng, "POST", "/images/create", 0, 500);
  load_scan(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_non_null(strstr(fb_error(&W, "img/commit"), "to scan it"));
}

/* ---- cancel, abort, and a sibling's failure ---- */

static bool when_nth_arrived(fb_world *w) {
  if (fake_engine_count(w->eng, w->at_method, w->at_pattern) < 2) return false;
  fb_sigint();
  return true;
}

static void stop_at(const char *method, const char *pattern, unsigned nth, int signals) {
  fake_rule *r = fake_rule_hold(fake_engine_on(W.eng, method, pattern), FAKE_HOLD_HEADERS);
  if (nth) fake_rule_nth(r, nth);
  /* the held call is the nth: wait for that many */
  W.at_method = method;
  W.at_pattern = pattern;
  for (int i = 0; i < signals; i++) fb_then(&W, nth > 1 ? when_nth_arrived : fb_when_request);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "img/commit"), BRR_STATUS_CANCELED);
}

static void test_cancel_pull(void **state) {
  (void)state;
  load_scan(NULL);
  stop_at("POST", "/images/create", 0, 1);
  assert_int_equal(fake_engine_created(W.eng, FAKE_CONTAINER), 0);
}

static void test_cancel_scan(void **state) {
  (void)state;
  load_scan(NULL);
  stop_at("POST", "/exec/*/start", 2, 1);
  /* the container was removed on the way out */
  assert_int_equal(fake_engine_count(W.eng, "DELETE", "/containers/*"), 1);
}

static void test_abort_scan(void **state) {
  (void)state;
  load_scan(NULL);
  stop_at("POST", "/exec/*/start", 2, 2);
}

static void test_cancel_create(void **state) {
  (void)state;
  load_scan(NULL);
  stop_at("POST", "/containers/create", 0, 1);
}

static bool when_sibling_failed(fb_world *w) {
  if (!w->ended[fb_node(w, "bad/remote")]) return false;
  /* released once held: a release before the request arrives would leave it held */
  if (fake_engine_count(w->eng, "POST", "/exec/*/start") < 2) return false;
  fake_engine_release(w->eng);
  return true;
}

static void test_sibling_fails(void **state) {
  (void)state;
  /* a commit completes its step: a sibling's failure does not cancel its scan */
  fake_rule_handler(fake_engine_on(W.eng, "POST", "/containers/create"), write_report, &W);
  char *y = brr_xasprintf("steps:\n  img:\n    build:\n      dockerfile: \"FROM scratch\\n\"\n"
                          "    push:\n      repository: %s/myorg/app\n      tags: [v1]\n"
                          "  bad:\n    remote:\n      host: me@h\n"
                          "      cmd: 'while [ ! -f \"$FAKE_DIR/scan.begun\" ]; do sleep 0.02; done; exit 5'\n",
                          W.reg.host);
  fb_load(&W, y, "security-scan:\n  enabled: true\n");
  free(y);
  /* the scan's exec waits until the sibling has failed */
  fake_rule_hold(fake_rule_nth(fake_engine_on(W.eng, "POST", "/exec/*/start"), 2), FAKE_HOLD_HEADERS);
  fb_then(&W, when_sibling_failed);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "bad/remote"), BRR_STATUS_FAILED);
  assert_int_equal(fb_status(&W, "img/commit"), BRR_STATUS_SUCCEEDED);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_scan),          T(test_threshold),    T(test_below_threshold), T(test_unsupported_scanner),
      T(test_no_report),     T(test_scan_fails),   T(test_chown_fails),     T(test_pull_fails),
      T(test_create_fails),  T(test_start_fails),  T(test_version_fails),   T(test_target_pulled),
      T(test_target_pull_fails), T(test_cancel_pull), T(test_cancel_scan),  T(test_abort_scan),
      T(test_cancel_create), T(test_sibling_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
