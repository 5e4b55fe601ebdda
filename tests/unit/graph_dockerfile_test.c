/* Dockerfile scanning (the images a build uses) and image reference normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "brr/graph.h"

typedef struct scanned {
  brr_arena *a;
  brr_dockerfile_image *im;
  size_t n;
} scanned;

static scanned scan(const char *text, const brr_build_arg *args, size_t n_args) {
  scanned s = {brr_arena_new(), NULL, 0};
  s.n = brr_dockerfile_images(text, strlen(text), args, n_args, s.a, &s.im);
  return s;
}

static void test_plain_from(void **state) {
  (void)state;
  scanned s = scan("FROM busybox:latest\nRUN echo hi\n", NULL, 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.im[0].ref, "busybox:latest");
  assert_int_equal(s.im[0].line, 1);
  assert_false(s.im[0].copy_from);
  brr_arena_free(s.a);
}

static void test_multi_stage(void **state) {
  (void)state;
  const char *df =
      "# a comment\n"
      "FROM --platform=$BUILDPLATFORM golang:1.21 AS Build\n"
      "RUN go build\n"
      "FROM build AS test\n"          /* stage names are case-insensitive */
      "FROM scratch\n"
      "COPY --from=build /out /out\n"
      "COPY --from=0 /x /x\n"
      "COPY --from=tools/helper:2 --chown=1 /bin/h /h\n"
      "from alpine\n";
  scanned s = scan(df, NULL, 0);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.im[0].ref, "golang:1.21");
  assert_int_equal(s.im[0].line, 2);
  assert_string_equal(s.im[1].ref, "tools/helper:2");
  assert_true(s.im[1].copy_from);
  assert_int_equal(s.im[1].line, 8);
  assert_string_equal(s.im[2].ref, "alpine");
  brr_arena_free(s.a);
}

static void test_args(void **state) {
  (void)state;
  const char *df =
      "ARG DOCKER_REGISTRY\n"
      "ARG BASE=base\n"
      "ARG TAG=\"1.0\"\n"
      "ARG UNSET\n"
      "ARG DERIVED=${BASE}-x\n"
      "FROM $DOCKER_REGISTRY/busybox:latest\n"
      "FROM ${BASE}:${TAG}\n"
      "FROM img:${UNSET:-fallback}\n"
      "FROM img${UNSET:+-never}:${TAG:+set}\n"
      "FROM $DERIVED\n"
      "ARG LATE=late\n"
      "FROM img:$LATE\n"      /* an ARG after the first FROM is not global */
      "FROM 'img:$TAG'\n";    /* single quotes are literal */
  brr_build_arg args[] = {{"DOCKER_REGISTRY", "127.0.0.1:5000"}, {"TAG", "2.0"}, {"NOT_DECLARED", "x"}};
  scanned s = scan(df, args, 3);
  assert_int_equal(s.n, 7);
  assert_string_equal(s.im[0].ref, "127.0.0.1:5000/busybox:latest");
  assert_string_equal(s.im[1].ref, "base:2.0");  /* a build arg overrides the default */
  assert_string_equal(s.im[2].ref, "img:fallback");
  assert_string_equal(s.im[3].ref, "img:set");
  assert_string_equal(s.im[4].ref, "base-x");
  assert_string_equal(s.im[5].ref, "img:");
  assert_string_equal(s.im[6].ref, "img:$TAG");
  brr_arena_free(s.a);
}

static void test_continuation_heredoc_escape(void **state) {
  (void)state;
  const char *df =
      "FROM \\\n"
      "  # comments inside a continuation vanish\n"
      "  first:1\n"
      "RUN <<EOF\n"
      "FROM not-an-instruction\n"
      "EOF\n"
      "COPY <<-\"END\" /x\n"
      "\tFROM nor-this\n"
      "\tEND\n"
      "FROM second:2\n";
  scanned s = scan(df, NULL, 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.im[0].ref, "first:1");
  assert_int_equal(s.im[0].line, 1);
  assert_string_equal(s.im[1].ref, "second:2");
  assert_int_equal(s.im[1].line, 10);
  brr_arena_free(s.a);

  /* the escape directive makes the backtick the continuation character */
  s = scan("# escape=`\nFROM `\n  third:3\nRUN a \\\nFROM fourth\n", NULL, 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.im[0].ref, "third:3");
  assert_string_equal(s.im[1].ref, "fourth");
  brr_arena_free(s.a);

  /* CRLF line ends and a missing final newline */
  s = scan("FROM a:1\r\nFROM b:2", NULL, 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.im[0].ref, "a:1");
  assert_string_equal(s.im[1].ref, "b:2");
  brr_arena_free(s.a);
}

static void check_norm(const char *in, const char *want) {
  char *got = brr_image_ref_normalize(in);
  assert_string_equal(got, want);
  free(got);
}

static void test_normalize(void **state) {
  (void)state;
  check_norm("busybox", "docker.io/library/busybox:latest");
  check_norm("busybox:1.36", "docker.io/library/busybox:1.36");
  check_norm("docker.io/busybox", "docker.io/library/busybox:latest");
  check_norm("docker.io/library/busybox:latest", "docker.io/library/busybox:latest");
  check_norm("index.docker.io/myorg/app:2", "docker.io/myorg/app:2");
  check_norm("myorg/app", "docker.io/myorg/app:latest");
  check_norm("MyOrg/App:Tag", "docker.io/myorg/app:Tag");
  check_norm("localhost/app", "localhost/app:latest");
  check_norm("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest");
  check_norm("127.0.0.1:5000/busybox:arm64", "127.0.0.1:5000/busybox:arm64");
  check_norm("registry.example.com:443/a/b/c:1", "registry.example.com:443/a/b/c:1");
  check_norm("busybox@sha256:abc", "docker.io/library/busybox@sha256:abc");
  check_norm("busybox:1@sha256:abc", "docker.io/library/busybox:1@sha256:abc");
  check_norm("  alpine  ", "docker.io/library/alpine:latest");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_from),
      cmocka_unit_test(test_multi_stage),
      cmocka_unit_test(test_args),
      cmocka_unit_test(test_continuation_heredoc_escape),
      cmocka_unit_test(test_normalize),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
