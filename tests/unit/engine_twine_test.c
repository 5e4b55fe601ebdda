/* The twine runner: its command line (credentials never in it), and a real child process in
 * twine's place (a shell script) to show that the credentials arrive in the environment, that
 * a line holding the password is masked, and how failures and a missing program are reported.
 * The real twine uploads in tests/e2e/build_pypi_test.sh. */
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

typedef struct seen {
  int done, status;
  char *error;
  brr_buf lines;
} seen;

static void line_cb(void *ud, int stream, const char *line, size_t len) {
  seen *s = ud;
  brr_buf_printf(&s->lines, "%d:%.*s\n", stream, (int)len, line);
}

static void done_cb(void *ud, int status, const char *error) {
  seen *s = ud;
  s->done++;
  s->status = status;
  s->error = error ? brr_xstrdup(error) : NULL;
}

static char *join(char **v) {
  brr_buf b = BRR_BUF_INIT;
  for (size_t i = 0; v[i]; i++) brr_buf_printf(&b, "%s%s", i ? " " : "", v[i]);
  return b.data;
}

static void test_argv(void **state) {
  (void)state;
  const char *files[] = {"/r/s/a-1.tar.gz", "/r/s/a-1-py3-none-any.whl", NULL};
  brr_twine_opts o = {0};
  o.twine = "twine";
  o.files = files;
  assert_null(brr_twine_argv(&o));  /* no repository */
  o.repository = "internal";
  char **v = brr_twine_argv(&o);
  char *s = join(v);
  assert_string_equal(s, "twine upload --non-interactive --disable-progress-bar --repository internal -- "
                         "/r/s/a-1.tar.gz /r/s/a-1-py3-none-any.whl");
  free(s);
  brr_strv_free(v);
  o.repository = "https://pypi.example.com/legacy/";
  o.url = true;
  o.username = "user";
  o.password = "s3cret";
  o.skip_existing = true;
  v = brr_twine_argv(&o);
  s = join(v);
  assert_string_equal(s, "twine upload --non-interactive --disable-progress-bar --repository-url "
                         "https://pypi.example.com/legacy/ --skip-existing -- /r/s/a-1.tar.gz /r/s/a-1-py3-none-any.whl");
  assert_null(strstr(s, "s3cret"));
  assert_null(strstr(s, "user"));
  free(s);
  brr_strv_free(v);
  const char *none[] = {NULL};
  o.files = none;
  assert_null(brr_twine_argv(&o));
}

static char *script(const char *dir, const char *body) {
  char *p = brr_xasprintf("%s/twine", dir);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\n%s", body);
  fclose(f);
  chmod(p, 0755);
  return p;
}

static void run(const char *prog, const char *password, seen *s) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  const char *files[] = {"/x/a-1.tar.gz", NULL};
  brr_twine_opts o = {0};
  o.twine = prog;
  o.repository = "http://user:s3cret@127.0.0.1:9/legacy/";
  o.url = true;
  o.username = "user";
  o.password = password;
  o.files = files;
  o.on_line = line_cb;
  o.on_done = done_cb;
  o.ud = s;
  assert_non_null(brr_twine_upload(&loop, &o));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_child(void **state) {
  (void)state;
  char tmpl[] = "/tmp/brr-twine-test.XXXXXX";
  char *dir = mkdtemp(tmpl);
  assert_non_null(dir);
  setenv("TWINE_PASSWORD", "inherited", 1);
  char *ok = script(dir,
                    "echo \"user=$TWINE_USERNAME pw=$TWINE_PASSWORD\"\n"
                    "echo \"args: $*\"\n"
                    "echo 'Uploading a-1.tar.gz' >&2\n");
  seen s = {0};
  run(ok, "s3cret", &s);
  assert_int_equal(s.done, 1);
  assert_int_equal(s.status, 0);
  const char *out = brr_buf_cstr(&s.lines);
  /* the environment carried them (not the inherited value); the output shows *** */
  assert_non_null(strstr(out, "1:user=user pw=***\n"));
  assert_non_null(strstr(out, "--repository-url http://user:***@127.0.0.1:9/legacy/ -- /x/a-1.tar.gz\n"));
  assert_non_null(strstr(out, "2:Uploading a-1.tar.gz\n"));
  assert_null(strstr(out, "s3cret"));
  assert_null(strstr(out, "inherited"));
  brr_buf_free(&s.lines);
  unlink(ok);
  free(ok);

  char *bad = script(dir, "echo 'ERROR    HTTPError: 403 Forbidden from http://127.0.0.1:9/legacy/' >&2\nexit 1\n");
  memset(&s, 0, sizeof s);
  run(bad, "s3cret", &s);
  assert_int_equal(s.status, BRR_EFAILED);
  assert_string_equal(s.error, "twine upload failed: ERROR    HTTPError: 403 Forbidden from http://127.0.0.1:9/legacy/");
  free(s.error);
  brr_buf_free(&s.lines);
  unlink(bad);
  free(bad);

  memset(&s, 0, sizeof s);
  char *missing = brr_xasprintf("%s/no-such-twine", dir);
  run(missing, NULL, &s);
  assert_int_equal(s.status, BRR_EIO);
  assert_non_null(strstr(s.error, "cannot run twine"));
  free(s.error);
  brr_buf_free(&s.lines);
  free(missing);
  unsetenv("TWINE_PASSWORD");
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_argv),
      cmocka_unit_test(test_child),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
