/* Security scan settings (buildrunner's defaults, global layer, push-entry overrides) and
 * the parsing of trivy's JSON report into buildrunner's artifacts.json form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brr/config.h"
#include "brr/tasks_files.h"

static brr_value *yaml(brr_arena *a, const char *text) {
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *v = brr_yaml_load(a, text, strlen(text), "t.yaml", &d);
  assert_non_null(v);
  brr_diags_free(&d);
  return v;
}

/* Compact JSON without Python's ", " and ": " separators (no value here holds them). */
static char *json(const brr_value *v) {
  brr_buf b = BRR_BUF_INIT;
  brr_val_to_json(v, -1, &b);
  char *s = b.data, *o = s;
  for (const char *p = s; *p; p++) {
    *o++ = *p;
    if ((*p == ',' || *p == ':') && p[1] == ' ') p++;
  }
  *o = '\0';
  return s;
}

static void test_defaults(void **state) {
  (void)state;
  brr_arena *a = brr_arena_new();
  brr_scan_settings s;
  brr_scan_settings_resolve(a, NULL, NULL, &s);
  assert_false(s.enabled);
  assert_string_equal(s.scanner, "trivy");
  assert_string_equal(s.version, "0.69.3");
  assert_null(s.cache_dir);
  assert_false(s.has_threshold);
  char *j = json(s.config);
  assert_string_equal(j, "{\"timeout\":\"20m\",\"exit-code\":0}");
  free(j);
  brr_arena_free(a);
}

static void test_layers(void **state) {
  (void)state;
  brr_arena *a = brr_arena_new();
  brr_value *g = yaml(a, "enabled: true\nversion: '0.50.0'\ncache-dir: /c\nconfig: {timeout: 5m, severity: HIGH}\n"
                         "max-score-threshold: 7\n");
  brr_value *p = yaml(a, "version: '0.60.0'\nconfig: {severity: CRITICAL, quiet: true}\nmax-score-threshold: 9.5\n"
                         "enabled: null\n");
  brr_scan_settings s;
  brr_scan_settings_resolve(a, g, NULL, &s);
  assert_true(s.enabled);
  assert_string_equal(s.version, "0.50.0");
  assert_string_equal(s.cache_dir, "/c");
  assert_true(s.has_threshold);
  assert_true(s.threshold == 7.0);
  /* the global config map replaces the defaults (a dict field in buildrunner's model) */
  char *j = json(s.config);
  assert_string_equal(j, "{\"timeout\":\"5m\",\"severity\":\"HIGH\"}");
  free(j);

  brr_scan_settings_resolve(a, g, p, &s);
  assert_true(s.enabled);  /* null in the entry keeps the global value */
  assert_string_equal(s.version, "0.60.0");
  assert_true(s.threshold == 9.5);
  /* the entry's config is merged over the global one */
  j = json(s.config);
  assert_string_equal(j, "{\"timeout\":\"5m\",\"severity\":\"CRITICAL\",\"quiet\":true}");
  free(j);
  /* ... and the global one is left as it was for the next entry */
  brr_scan_settings_resolve(a, g, NULL, &s);
  j = json(s.config);
  assert_string_equal(j, "{\"timeout\":\"5m\",\"severity\":\"HIGH\"}");
  free(j);

  /* cache-dir only counts globally; a threshold of 0 checks nothing (falsy) */
  brr_value *p2 = yaml(a, "cache-dir: /elsewhere\nmax-score-threshold: 0\nenabled: false\n");
  brr_scan_settings_resolve(a, g, p2, &s);
  assert_string_equal(s.cache_dir, "/c");
  assert_false(s.has_threshold);
  assert_false(s.enabled);
  brr_arena_free(a);
}

static const char *REPORT =
    "{\"SchemaVersion\":2,\"Results\":["
    "{\"Target\":\"x\",\"Vulnerabilities\":["
    "{\"VulnerabilityID\":\"CVE-1\",\"PkgName\":\"p\",\"InstalledVersion\":\"1\",\"Severity\":\"HIGH\","
    "\"PrimaryURL\":\"u\",\"CVSS\":{\"nvd\":{\"V3Score\":7.5},\"redhat\":{\"V3Score\":9.9}}},"
    "{\"VulnerabilityID\":\"CVE-2\",\"PkgName\":\"q\",\"Severity\":\"LOW\"}]},"
    "{\"Target\":\"y\"},"
    "{\"Target\":\"z\",\"Vulnerabilities\":[{\"VulnerabilityID\":\"CVE-3\",\"CVSS\":{\"nvd\":{\"V3Score\":8}}}]}]}";

static void test_parse(void **state) {
  (void)state;
  brr_arena *a = brr_arena_new();
  brr_scan_settings s;
  brr_scan_settings_resolve(a, NULL, NULL, &s);
  brr_value *r;
  double max;
  char *err;
  assert_int_equal(brr_scan_parse_trivy(a, REPORT, strlen(REPORT), &s, &r, &max, &err), 0);
  assert_null(err);
  assert_true(max == 8.0);
  char *j = json(r);
  assert_string_equal(j,
                      "{\"max_score\":8,\"vulnerabilities\":["
                      "{\"cvss_v3_score\":7.5,\"severity\":\"HIGH\",\"vulnerability_id\":\"CVE-1\",\"pkg_name\":\"p\","
                      "\"installed_version\":\"1\",\"primary_url\":\"u\"},"
                      "{\"cvss_v3_score\":null,\"severity\":\"LOW\",\"vulnerability_id\":\"CVE-2\",\"pkg_name\":\"q\","
                      "\"installed_version\":null,\"primary_url\":null},"
                      "{\"cvss_v3_score\":8,\"severity\":null,\"vulnerability_id\":\"CVE-3\",\"pkg_name\":null,"
                      "\"installed_version\":null,\"primary_url\":null}]}");
  free(j);

  /* at the threshold fails (>=), with buildrunner's message; the result is still made */
  s.has_threshold = true;
  s.threshold = 8;
  assert_int_equal(brr_scan_parse_trivy(a, REPORT, strlen(REPORT), &s, &r, &max, &err), BRR_EFAILED);
  assert_non_null(r);
  assert_string_equal(err, "Max vulnerability score (8) is above the configured threshold (8.0)");
  free(err);
  s.threshold = 8.5;
  assert_int_equal(brr_scan_parse_trivy(a, REPORT, strlen(REPORT), &s, &r, &max, &err), 0);
  /* buildrunner: a negative threshold always fails, even with no vulnerabilities */
  s.threshold = -0.1;
  const char *empty = "{\"SchemaVersion\":2}";
  assert_int_equal(brr_scan_parse_trivy(a, empty, strlen(empty), &s, &r, &max, &err), BRR_EFAILED);
  assert_string_equal(err, "Max vulnerability score (0) is above the configured threshold (-0.1)");
  free(err);
  j = json(r);
  assert_string_equal(j, "{\"max_score\":0,\"vulnerabilities\":[]}");
  free(j);
  assert_int_equal(brr_scan_parse_trivy(a, "[1]", 3, &s, &r, &max, &err), BRR_EINVAL);
  free(err);
  assert_int_equal(brr_scan_parse_trivy(a, "{", 1, &s, &r, &max, &err), BRR_EINVAL);
  free(err);
  brr_arena_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_layers),
      cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
