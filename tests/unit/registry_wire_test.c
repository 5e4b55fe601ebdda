/* The registry client's pure helpers: references as docker reads them, WWW-Authenticate
 * challenges, rate-limit headers, platforms, the OCI index document, config.json lookups and
 * credential-helper answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "brr/registry.h"

static void check_ref(const char *in, const char *host, const char *repo, const char *tag,
                      const char *digest) {
  brr_registry_ref r;
  assert_int_equal(brr_registry_ref_parse(in, &r), 0);
  assert_string_equal(r.host, host);
  assert_string_equal(r.repository, repo);
  if (tag) assert_string_equal(r.tag, tag);
  else assert_null(r.tag);
  if (digest) assert_string_equal(r.digest, digest);
  else assert_null(r.digest);
  brr_registry_ref_free(&r);
}

static void test_refs(void **state) {
  (void)state;
  check_ref("busybox", "docker.io", "library/busybox", "latest", NULL);
  check_ref("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL);
  check_ref("myorg/app:v1", "docker.io", "myorg/app", "v1", NULL);
  check_ref("docker.io/busybox", "docker.io", "library/busybox", "latest", NULL);
  check_ref("index.docker.io/myorg/app", "docker.io", "myorg/app", "latest", NULL);
  check_ref("127.0.0.1:5000/busybox:amd64", "127.0.0.1:5000", "busybox", "amd64", NULL);
  check_ref("localhost/a/b/c", "localhost", "a/b/c", "latest", NULL);
  check_ref("localhost:32769/buildrunner-mp-h:1234-linux-arm64", "localhost:32769", "buildrunner-mp-h",
            "1234-linux-arm64", NULL);
  check_ref("r.example.com/x@sha256:abcdef0123", "r.example.com", "x", NULL, "sha256:abcdef0123");
  check_ref("r.example.com/x:t@sha256:abcdef0123", "r.example.com", "x", "t", "sha256:abcdef0123");
  /* a port is not a tag */
  check_ref("r:5000/x", "r:5000", "x", "latest", NULL);

  brr_registry_ref r;
  const char *bad[] = {"", "Busybox", "r/x:", "r/x@sha256", "r/x@sha256:zz", "a//b", "r.io/", ":tag",
                       "x:bad tag", "x:-lead"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(brr_registry_ref_parse(bad[i], &r), BRR_EINVAL);
    assert_null(r.host);
  }
  assert_int_equal(brr_registry_ref_parse(NULL, &r), BRR_EINVAL);
  assert_int_equal(brr_registry_ref_parse("x@sha256:ab", &r), 0);
  assert_string_equal(brr_registry_ref_reference(&r), "sha256:ab");
  brr_registry_ref_free(&r);
}

static void test_challenges(void **state) {
  (void)state;
  brr_registry_challenge c;
  assert_int_equal(brr_registry_challenge_parse(
                       "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                       "scope=\"repository:library/busybox:pull\"",
                       &c),
                   0);
  assert_string_equal(c.scheme, "bearer");
  assert_string_equal(c.realm, "https://auth.docker.io/token");
  assert_string_equal(c.service, "registry.docker.io");
  assert_string_equal(c.scope, "repository:library/busybox:pull");
  brr_registry_challenge_free(&c);

  /* unquoted values, spaces after commas, unknown parameters, case of the names */
  assert_int_equal(brr_registry_challenge_parse("BASIC Realm=registry, charset=\"UTF-8\"", &c), 0);
  assert_string_equal(c.scheme, "basic");
  assert_string_equal(c.realm, "registry");
  assert_null(c.service);
  assert_null(c.scope);
  brr_registry_challenge_free(&c);

  /* a scope with commas and an escaped quote stays whole */
  assert_int_equal(brr_registry_challenge_parse("Bearer realm=\"http://h/t\",scope=\"repository:a:pull,push\","
                                                "service=\"s\\\"x\"",
                                                &c),
                   0);
  assert_string_equal(c.scope, "repository:a:pull,push");
  assert_string_equal(c.service, "s\"x");
  brr_registry_challenge_free(&c);

  assert_int_equal(brr_registry_challenge_parse("", &c), BRR_EINVAL);
  assert_int_equal(brr_registry_challenge_parse(NULL, &c), BRR_EINVAL);
}

static void test_ratelimit(void **state) {
  (void)state;
  assert_int_equal(brr_registry_ratelimit_parse("100;w=21600"), 100);
  assert_int_equal(brr_registry_ratelimit_parse(" 7"), 7);
  assert_int_equal(brr_registry_ratelimit_parse("0;w=21600"), 0);
  assert_int_equal(brr_registry_ratelimit_parse("2000, 100;w=21600"), 2000);
  assert_int_equal(brr_registry_ratelimit_parse(NULL), -1);
  assert_int_equal(brr_registry_ratelimit_parse("many"), -1);
  assert_int_equal(brr_registry_ratelimit_parse("12x"), -1);
}

static void test_platforms_and_index(void **state) {
  (void)state;
  char *os, *arch, *variant;
  assert_int_equal(brr_registry_platform_parse("linux/arm64/v8", &os, &arch, &variant), 0);
  assert_string_equal(os, "linux");
  assert_string_equal(arch, "arm64");
  assert_string_equal(variant, "v8");
  free(os), free(arch), free(variant);
  assert_int_equal(brr_registry_platform_parse("linux/amd64", &os, &arch, &variant), 0);
  assert_null(variant);
  free(os), free(arch);
  assert_int_equal(brr_registry_platform_parse("linux", &os, &arch, &variant), BRR_EINVAL);
  assert_int_equal(brr_registry_platform_parse("linux//v8", &os, &arch, &variant), BRR_EINVAL);
  assert_int_equal(brr_registry_platform_parse("a/b/c/d", &os, &arch, &variant), BRR_EINVAL);

  brr_registry_descriptor d[] = {
      {BRR_REGISTRY_DOCKER_MANIFEST, "sha256:aa", 1150, "linux/amd64"},
      {BRR_REGISTRY_OCI_MANIFEST, "sha256:bb", 999, "linux/arm64/v8"},
  };
  char *json = brr_registry_index_json(d, 2);
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  assert_int_equal(cJSON_GetObjectItem(j, "schemaVersion")->valueint, 2);
  assert_string_equal(cJSON_GetObjectItem(j, "mediaType")->valuestring, BRR_REGISTRY_OCI_INDEX);
  cJSON *ms = cJSON_GetObjectItem(j, "manifests");
  assert_int_equal(cJSON_GetArraySize(ms), 2);
  cJSON *m1 = cJSON_GetArrayItem(ms, 1);
  assert_string_equal(cJSON_GetObjectItem(m1, "digest")->valuestring, "sha256:bb");
  assert_string_equal(cJSON_GetObjectItem(m1, "mediaType")->valuestring, BRR_REGISTRY_OCI_MANIFEST);
  assert_int_equal(cJSON_GetObjectItem(m1, "size")->valueint, 999);
  cJSON *p = cJSON_GetObjectItem(m1, "platform");
  assert_string_equal(cJSON_GetObjectItem(p, "os")->valuestring, "linux");
  assert_string_equal(cJSON_GetObjectItem(p, "architecture")->valuestring, "arm64");
  assert_string_equal(cJSON_GetObjectItem(p, "variant")->valuestring, "v8");
  assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "platform"), "variant"));
  cJSON_Delete(j);
  free(json);
  brr_registry_descriptor bad = {BRR_REGISTRY_OCI_MANIFEST, "sha256:cc", 1, "nonsense"};
  assert_null(brr_registry_index_json(&bad, 1));
}

static void lookup(const char *json, const char *host, const char *user, const char *pass,
                   const char *token, const char *helper) {
  brr_registry_creds c;
  char *h = NULL;
  assert_int_equal(brr_registry_config_lookup(json, strlen(json), host, &c, &h), 0);
  if (user) assert_string_equal(c.username, user);
  else assert_null(c.username);
  if (pass) assert_string_equal(c.password, pass);
  if (token) assert_string_equal(c.identitytoken, token);
  else assert_null(c.identitytoken);
  if (user || token) assert_string_equal(c.serveraddress, host);
  if (helper) assert_string_equal(h, helper);
  else assert_null(h);
  free(h);
  brr_registry_creds_free(&c);
}

static void test_config_lookup(void **state) {
  (void)state;
  /* "user:pa:ss" -> dXNlcjpwYTpzcw== ; "hub:secret" -> aHViOnNlY3JldA== ; "x:y" -> eDp5 */
  const char *cfg = "{\"auths\":{"
                    "\"127.0.0.1:5000\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
                    "\"https://index.docker.io/v1/\":{\"auth\":\"aHViOnNlY3JldA==\"},"
                    "\"https://r.example.com/v2/\":{\"auth\":\"eDp5\"},"
                    "\"tok.example.com\":{\"identitytoken\":\"refresh-me\"},"
                    "\"plain.example.com\":{\"username\":\"u\",\"password\":\"p\"},"
                    "\"empty.example.com\":{}},"
                    "\"credHelpers\":{\"ecr.example.com\":\"ecr-login\"},"
                    "\"credsStore\":\"desktop\"}";
  lookup(cfg, "127.0.0.1:5000", "user", "pa:ss", NULL, NULL);
  lookup(cfg, "docker.io", "hub", "secret", NULL, NULL);
  lookup(cfg, "r.example.com", "x", "y", NULL, NULL);
  lookup(cfg, "tok.example.com", NULL, NULL, "refresh-me", NULL);
  lookup(cfg, "plain.example.com", "u", "p", NULL, NULL);
  lookup(cfg, "ecr.example.com", NULL, NULL, NULL, "ecr-login");
  /* nothing in auths for these: the default store is asked */
  lookup(cfg, "empty.example.com", NULL, NULL, NULL, "desktop");
  lookup(cfg, "other.example.com", NULL, NULL, NULL, "desktop");
  /* no store: anonymous */
  lookup("{\"auths\":{}}", "other.example.com", NULL, NULL, NULL, NULL);
  lookup("{}", "docker.io", NULL, NULL, NULL, NULL);

  brr_registry_creds c;
  char *h;
  assert_int_equal(brr_registry_config_lookup("not json", 8, "x", &c, &h), BRR_EINVAL);
  const char *nocolon = "{\"auths\":{\"x\":{\"auth\":\"bm9jb2xvbg==\"}}}"; /* "nocolon" */
  assert_int_equal(brr_registry_config_lookup(nocolon, strlen(nocolon), "x", &c, &h), BRR_EINVAL);
  assert_null(c.username);

  char *k = brr_registry_config_key("docker.io");
  assert_string_equal(k, "https://index.docker.io/v1/");
  free(k);
  k = brr_registry_config_key("127.0.0.1:5000");
  assert_string_equal(k, "127.0.0.1:5000");
  free(k);
}

static void test_helper_answers(void **state) {
  (void)state;
  brr_registry_creds c;
  const char *a = "{\"ServerURL\":\"r.io\",\"Username\":\"bob\",\"Secret\":\"s3\"}";
  assert_int_equal(brr_registry_helper_parse(a, strlen(a), "r.io", &c), 0);
  assert_string_equal(c.username, "bob");
  assert_string_equal(c.password, "s3");
  assert_null(c.identitytoken);
  assert_string_equal(c.serveraddress, "r.io");
  brr_registry_creds_free(&c);
  const char *t = "{\"ServerURL\":\"r.io\",\"Username\":\"<token>\",\"Secret\":\"idtok\"}";
  assert_int_equal(brr_registry_helper_parse(t, strlen(t), "r.io", &c), 0);
  assert_null(c.username);
  assert_string_equal(c.identitytoken, "idtok");
  brr_registry_creds_free(&c);
  const char *none = "credentials not found in native keychain";
  assert_int_equal(brr_registry_helper_parse(none, strlen(none), "r.io", &c), BRR_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refs),
      cmocka_unit_test(test_challenges),
      cmocka_unit_test(test_ratelimit),
      cmocka_unit_test(test_platforms_and_index),
      cmocka_unit_test(test_config_lookup),
      cmocka_unit_test(test_helper_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
