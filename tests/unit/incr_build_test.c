/* The input key of a build (docs/incremental.md): what changes it (the Dockerfile, the context
 * as the build sends it, an inject, a build arg's value, target, platform, builder, secrets,
 * a base image's id or order) and what does not (the order build args are written in, a file
 * its .dockerignore leaves out, a touch that keeps the content), and which input
 * "why does this rerun?" names first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "brr/incr.h"
#include "brr/tasks.h"
#include "unit/tasks_util.h"

static const char *const ARGS[] = {"A=1", "B=2", "DOCKER_REGISTRY=docker.io"};
static const char *const BASES[] = {"busybox:latest sha256:aaaa", "alpine:3 sha256:bbbb"};

static brr_incr_build_key base_key(void) {
  brr_incr_build_key k = {
      .dockerfile = "FROM busybox:latest\nRUN true\n",
      .context_hex = "0000000000000000000000000000000000000000000000000000000000000000",
      .args = ARGS,
      .n_args = 3,
      .target = NULL,
      .platform = "linux/amd64",
      .builder = "legacy",
      .have_bases = true,
      .bases = BASES,
      .n_bases = 2,
  };
  return k;
}

static void key_of(const brr_incr_build_key *k, char hex[BRR_INCR_HEX]) {
  brr_incr_inputs in = {0};
  brr_incr_build_inputs(k, &in);
  brr_incr_inputs_key(&in, hex);
  brr_incr_inputs_free(&in);
}

/* The name of the first input that differs between `a` (recorded) and `b` (now), or NULL. */
static const char *why(const brr_incr_build_key *a, const brr_incr_build_key *b, char *buf, size_t n) {
  brr_incr_record rec = {0};
  brr_incr_build_inputs(a, &rec.inputs);
  brr_incr_inputs_key(&rec.inputs, rec.key);
  brr_incr_inputs now = {0};
  brr_incr_build_inputs(b, &now);
  const char *w = brr_incr_why(&rec, &now);
  if (w) snprintf(buf, n, "%s", w);
  brr_incr_inputs_free(&now);
  brr_incr_inputs_free(&rec.inputs);
  return w ? buf : NULL;
}

static void test_key_changes(void **state) {
  (void)state;
  char buf[64];
  brr_incr_build_key a = base_key(), b = base_key();
  assert_null(why(&a, &b, buf, sizeof buf));
  char k1[BRR_INCR_HEX], k2[BRR_INCR_HEX];
  key_of(&a, k1);
  key_of(&b, k2);
  assert_string_equal(k1, k2);

  b.dockerfile = "FROM busybox:latest\nRUN false\n";
  assert_string_equal(why(&a, &b, buf, sizeof buf), "Dockerfile");
  b = base_key();
  b.context_hex = "1111111111111111111111111111111111111111111111111111111111111111";
  assert_string_equal(why(&a, &b, buf, sizeof buf), "context");
  b.context_hex = NULL;  /* no context at all is another context */
  assert_string_equal(why(&a, &b, buf, sizeof buf), "context");
  b = base_key();
  static const char *const ARGS2[] = {"A=1", "B=3", "DOCKER_REGISTRY=docker.io"};
  b.args = ARGS2;
  assert_string_equal(why(&a, &b, buf, sizeof buf), "build args");
  b.n_args = 2;
  b.args = ARGS;  /* one arg fewer */
  assert_string_equal(why(&a, &b, buf, sizeof buf), "build args");
  b = base_key();
  b.target = "test";
  assert_string_equal(why(&a, &b, buf, sizeof buf), "target");
  b = base_key();
  b.platform = "linux/arm64";
  assert_string_equal(why(&a, &b, buf, sizeof buf), "platform");
  b = base_key();
  b.builder = "remote";
  assert_string_equal(why(&a, &b, buf, sizeof buf), "builder");
  b = base_key();
  static const char *const SECRETS[] = {"id=token,src=/tmp/token"};
  b.secrets = SECRETS;
  b.n_secrets = 1;
  assert_string_equal(why(&a, &b, buf, sizeof buf), "secrets");
  b = base_key();
  static const char *const BASES2[] = {"busybox:latest sha256:cccc", "alpine:3 sha256:bbbb"};
  b.bases = BASES2;
  assert_string_equal(why(&a, &b, buf, sizeof buf), "base images");
  /* the same images in the other stages make another image */
  static const char *const BASES3[] = {"alpine:3 sha256:bbbb", "busybox:latest sha256:aaaa"};
  b.bases = BASES3;
  assert_string_equal(why(&a, &b, buf, sizeof buf), "base images");
  /* the first that differs is named: the Dockerfile before the base images */
  b.dockerfile = "FROM alpine:3\n";
  assert_string_equal(why(&a, &b, buf, sizeof buf), "Dockerfile");
}

static void test_key_unchanged(void **state) {
  (void)state;
  char buf[64];
  brr_incr_build_key a = base_key(), b = base_key();
  /* build args are a map: the order they are written in does not count */
  static const char *const ARGS_R[] = {"DOCKER_REGISTRY=docker.io", "B=2", "A=1"};
  b.args = ARGS_R;
  assert_null(why(&a, &b, buf, sizeof buf));
  /* --graph does not know the base images: the rest still compares */
  b = base_key();
  b.have_bases = false;
  brr_incr_inputs now = {0};
  brr_incr_build_inputs(&b, &now);
  for (size_t i = 0; i < now.n; i++) assert_string_not_equal(now.names[i], "base images");
  brr_incr_inputs_free(&now);
}

static void ctx_hex(const brr_build_inputs *in, brr_hashcache *c, char hex[BRR_INCR_HEX]) {
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_incr_build_context_hash(in, c, hex, &d), 0);
  assert_int_equal(d.n, 0);
  brr_diags_free(&d);
}

static void test_context_hash(void **state) {
  (void)state;
  char *root = tu_mkdtemp();
  tu_write(root, "ctx/Dockerfile", "FROM busybox\nCOPY . /app\n", 0644);
  tu_write(root, "ctx/app.txt", "app\n", 0644);
  tu_write(root, "ctx/skip.txt", "skip\n", 0644);
  tu_write(root, "ctx/logs/a.log", "log\n", 0644);
  tu_write(root, "ctx/logs/keep.log", "keep\n", 0644);
  /* the Dockerfile and .dockerignore are sent whatever the patterns say */
  tu_write(root, "ctx/.dockerignore", "skip.txt\nlogs\n!logs/keep.log\nDockerfile\n.dockerignore\n", 0644);
  tu_write(root, "extra.txt", "extra\n", 0644);
  char *ctx = brr_path_join(root, "ctx");
  char *df = brr_path_join(ctx, "Dockerfile");
  brr_build_inputs in = {.context = ctx, .dockerfile_path = df};
  brr_hashcache *c = brr_hashcache_open(NULL);
  char h0[BRR_INCR_HEX], h[BRR_INCR_HEX];
  ctx_hex(&in, c, h0);
  ctx_hex(&in, NULL, h);
  assert_string_equal(h0, h);  /* the cache gives what reading gives */

  /* what .dockerignore leaves out does not count */
  tu_write(root, "ctx/skip.txt", "skip changed\n", 0644);
  tu_write(root, "ctx/logs/a.log", "log changed\n", 0644);
  tu_write(root, "ctx/logs/new.log", "new\n", 0644);
  ctx_hex(&in, c, h);
  assert_string_equal(h0, h);
  /* a touch that keeps the content does not either */
  tu_set_mtime(root, "ctx/app.txt", 1000000);
  ctx_hex(&in, c, h);
  assert_string_equal(h0, h);

  /* what it sends does: a file, the exception under an ignored dir, the Dockerfile, the
   * .dockerignore itself, a new file, a mode */
  tu_write(root, "ctx/app.txt", "app changed\n", 0644);
  ctx_hex(&in, c, h);
  assert_string_not_equal(h0, h);
  tu_write(root, "ctx/app.txt", "app\n", 0644);
  ctx_hex(&in, c, h);
  assert_string_equal(h0, h);
  tu_write(root, "ctx/logs/keep.log", "keep changed\n", 0644);
  ctx_hex(&in, c, h);
  assert_string_not_equal(h0, h);
  tu_write(root, "ctx/logs/keep.log", "keep\n", 0644);
  tu_write(root, "ctx/Dockerfile", "FROM busybox\nCOPY . /srv\n", 0644);
  ctx_hex(&in, c, h);
  assert_string_not_equal(h0, h);
  tu_write(root, "ctx/Dockerfile", "FROM busybox\nCOPY . /app\n", 0644);
  ctx_hex(&in, c, h);
  assert_string_equal(h0, h);
  tu_write(root, "ctx/app.txt", "app\n", 0755);
  ctx_hex(&in, c, h);
  assert_string_not_equal(h0, h);
  tu_write(root, "ctx/app.txt", "app\n", 0644);
  tu_write(root, "ctx/new.txt", "new\n", 0644);
  ctx_hex(&in, c, h);
  assert_string_not_equal(h0, h);
  char *nw = brr_path_join(ctx, "new.txt");
  unlink(nw);
  free(nw);
  ctx_hex(&in, c, h);
  assert_string_equal(h0, h);

  /* an inject counts by its destination and its content */
  char *src = brr_path_join(root, "extra.txt");
  brr_inject_item item = {.src = src, .dest = "extra.txt"};
  brr_build_inputs wi = in;
  wi.inject = &item;
  wi.n_inject = 1;
  char hi[BRR_INCR_HEX];
  ctx_hex(&wi, c, hi);
  assert_string_not_equal(h0, hi);
  item.dest = "other.txt";
  ctx_hex(&wi, c, h);
  assert_string_not_equal(hi, h);
  item.dest = "extra.txt";
  tu_write(root, "extra.txt", "extra changed\n", 0644);
  ctx_hex(&wi, c, h);
  assert_string_not_equal(hi, h);

  /* a bad .dockerignore is an error, as the build reports it */
  tu_write(root, "ctx/.dockerignore", "[\n", 0644);
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_not_equal(brr_incr_build_context_hash(&in, c, h, &d), 0);
  assert_true(d.n > 0);
  brr_diags_free(&d);

  brr_hashcache_free(c);
  free(src);
  free(df);
  free(ctx);
  brr_rm_rf(root);
  free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_changes),
      cmocka_unit_test(test_key_unchanged),
      cmocka_unit_test(test_context_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
