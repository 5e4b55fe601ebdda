/* engine wire helpers: DOCKER_HOST, URL and query building, image references, API versions,
 * registry credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "brr/engine.h"

/* A DOCKER_HOST value into the URL prefix ("http://localhost" or "http://h:p") and the unix
 * socket path (heap, or NULL for tcp), through brr_engine_target_parse without TLS. */
static int parse_host(const char *host, char **base_url, char **unix_path, char **error) {
  brr_engine_target t;
  *base_url = *unix_path = NULL;
  int rc = brr_engine_target_parse(host, false, &t, error);
  if (rc) return rc;
  if (t.ssh_dest) {
    brr_engine_target_free(&t);
    *error = brr_xasprintf("engine address %s: an ssh:// engine has no address of its own", host);
    return BRR_EINVAL;
  }
  *base_url = t.base_url;
  *unix_path = t.unix_path;
  t.base_url = t.unix_path = NULL;
  brr_engine_target_free(&t);
  return 0;
}

static void test_parse_host(void **state) {
  (void)state;
  char *base, *sock, *err = NULL;
  assert_int_equal(parse_host(NULL, &base, &sock, &err), 0);
  assert_string_equal(base, "http://localhost");
  assert_string_equal(sock, "/var/run/docker.sock");
  free(base), free(sock);
  assert_int_equal(parse_host("unix:///tmp/d.sock", &base, &sock, &err), 0);
  assert_string_equal(sock, "/tmp/d.sock");
  free(base), free(sock);
  assert_int_equal(parse_host("tcp://10.0.0.2:2376/", &base, &sock, &err), 0);
  assert_string_equal(base, "http://10.0.0.2:2376");
  assert_null(sock);
  free(base);
  assert_int_equal(parse_host("tcp://dockerhost", &base, &sock, &err), 0);
  assert_string_equal(base, "http://dockerhost:2375");
  free(base);
  assert_int_equal(parse_host("tcp://[::1]", &base, &sock, &err), 0);
  assert_string_equal(base, "http://[::1]:2375");
  free(base);
  assert_int_equal(parse_host("tcp://[::1]:7777", &base, &sock, &err), 0);
  assert_string_equal(base, "http://[::1]:7777");
  free(base);
  assert_int_equal(parse_host("ssh://me@host", &base, &sock, &err), BRR_EINVAL);
  assert_non_null(strstr(err, "ssh://"));
  free(err);
  assert_int_equal(parse_host("unix://rel.sock", &base, &sock, &err), BRR_EINVAL);
  assert_non_null(strstr(err, "absolute"));
  free(err);
  assert_int_equal(parse_host("/var/run/docker.sock", &base, &sock, &err), BRR_EINVAL);
  free(err);
}

static void test_url(void **state) {
  (void)state;
  const char *q[] = {"t", "reg:5000/app:1.0", "skip", NULL, "buildargs", "{\"A\":\"b c&d=e+f/\xc3\xa9\"}",
                     NULL};
  char *u = brr_engine_url("http://localhost", "1.41", "/build", q);
  assert_string_equal(u, "http://localhost/v1.41/build?t=reg%3a5000%2fapp%3a1.0&buildargs="
                         "%7b%22A%22%3a%22b+c%26d%3de%2bf%2f%c3%a9%22%7d");
  free(u);
  /* image names keep their slashes and colons in the path, as the engine routes them */
  u = brr_engine_url("http://h:2375", "1.40", "/images/127.0.0.1:5000/busybox:amd64/json", NULL);
  assert_string_equal(u, "http://h:2375/v1.40/images/127.0.0.1:5000/busybox:amd64/json");
  free(u);
  u = brr_engine_url("http://localhost", NULL, "/version", NULL);
  assert_string_equal(u, "http://localhost/version");
  free(u);
  /* names that would need escaping or be folded away are refused */
  assert_null(brr_engine_url("http://localhost", "1.41", "/containers/a b/json", NULL));
  assert_null(brr_engine_url("http://localhost", "1.41", "/containers/a?x/json", NULL));
  assert_null(brr_engine_url("http://localhost", "1.41", "/containers/../json", NULL));
  assert_null(brr_engine_url("http://localhost", "1.41", "/images/./x", NULL));
  assert_null(brr_engine_url("http://localhost", "1.41", "/images/%2e", NULL));
  assert_null(brr_engine_url("http://localhost", "1.41", "relative", NULL));
  /* but dots inside names are fine */
  u = brr_engine_url("http://localhost", "1.41", "/images/a..b/.x/json", NULL);
  assert_string_equal(u, "http://localhost/v1.41/images/a..b/.x/json");
  free(u);
}

static void ref(const char *in, const char *repo, const char *tag) {
  char *r, *t;
  assert_int_equal(brr_engine_ref_split(in, &r, &t), 0);
  assert_string_equal(r, repo);
  assert_string_equal(t, tag);
  free(r), free(t);
}

static void test_ref_split(void **state) {
  (void)state;
  ref("busybox", "busybox", "latest");
  ref("busybox:1.36", "busybox", "1.36");
  ref("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox", "latest");
  ref("127.0.0.1:5000/busybox:amd64", "127.0.0.1:5000/busybox", "amd64");
  ref("reg/a/b/c:t", "reg/a/b/c", "t");
  ref("a@sha256:0123", "a", "sha256:0123");
  ref("reg:5000/a:t@sha256:0123", "reg:5000/a", "sha256:0123");
  ref("reg:5000/a@sha256:0123", "reg:5000/a", "sha256:0123");
  char *r, *t;
  const char *bad[] = {"", "a:", ":t", "a@", "@sha256:x", "a b", "reg/", "reg/:t"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(bad); i++) {
    assert_int_equal(brr_engine_ref_split(bad[i], &r, &t), BRR_EINVAL);
    assert_null(r);
    assert_null(t);
  }
  assert_int_equal(brr_engine_ref_split(NULL, &r, &t), BRR_EINVAL);
}

static void test_version_cmp(void **state) {
  (void)state;
  assert_true(brr_engine_version_cmp("1.41", "1.41") == 0);
  assert_true(brr_engine_version_cmp("1.9", "1.41") < 0);
  assert_true(brr_engine_version_cmp("1.43", "1.41") > 0);
  assert_true(brr_engine_version_cmp("2.0", "1.99") > 0);
  assert_true(brr_engine_version_cmp("1.41", "1.41.1") < 0);
  assert_true(brr_engine_version_cmp("1.41-beta", "1.41") == 0);
}

static char *decode_b64url(const char *s) {
  char *std = brr_xstrdup(s);
  for (char *p = std; *p; p++) {
    if (*p == '-') *p = '+';
    else if (*p == '_') *p = '/';
  }
  size_t n = strlen(std);
  unsigned char *out = brr_xcalloc(1, n + 1);
  int len = EVP_DecodeBlock(out, (unsigned char *)std, (int)n);
  assert_true(len >= 0);
  while (n && std[--n] == '=') len--;
  out[len] = 0;
  free(std);
  return (char *)out;
}

static void test_auth(void **state) {
  (void)state;
  char *a = brr_engine_auth_encode(NULL);
  assert_string_equal(a, "e30=");
  free(a);
  /* characters that base64 turns into '+' and '/' come out in the URL alphabet */
  brr_engine_auth au = {.username = "me", .password = "p>?>?~~", .serveraddress = "r:5000"};
  a = brr_engine_auth_encode(&au);
  assert_null(strpbrk(a, "+/"));
  char *json = decode_b64url(a);
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItem(j, "username")->valuestring, "me");
  assert_string_equal(cJSON_GetObjectItem(j, "password")->valuestring, "p>?>?~~");
  assert_string_equal(cJSON_GetObjectItem(j, "serveraddress")->valuestring, "r:5000");
  assert_null(cJSON_GetObjectItem(j, "identitytoken"));
  cJSON_Delete(j);
  free(json);
  free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_host), cmocka_unit_test(test_url),
      cmocka_unit_test(test_ref_split), cmocka_unit_test(test_version_cmp),
      cmocka_unit_test(test_auth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
