/* The buildx runner: its command line, and a real child process in the docker CLI's place
 * (a shell script) to show lines, the metadata file, the last ERROR line, exit statuses and
 * cancellation of the whole process group. The real `docker buildx` runs in the e2e tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brr/engine.h"

static uv_loop_t loop;
static char *dir;

typedef struct seen {
  int done;
  int status;
  char *error, *digest, *image;
  brr_buf lines;
} seen;

static void line_cb(void *ud, int stream, const char *line, size_t len) {
  seen *s = ud;
  brr_buf_printf(&s->lines, "%d:%.*s\n", stream, (int)len, line);
}

static void done_cb(void *ud, const brr_buildx_result *r) {
  seen *s = ud;
  s->done++;
  s->status = r->status;
  s->error = r->error ? brr_xstrdup(r->error) : NULL;
  s->digest = r->digest ? brr_xstrdup(r->digest) : NULL;
  s->image = r->image_id ? brr_xstrdup(r->image_id) : NULL;
}

static void seen_free(seen *s) {
  free(s->error), free(s->digest), free(s->image);
  brr_buf_free(&s->lines);
}

static int setup(void **state) {
  (void)state;
  uv_loop_init(&loop);
  char t[] = "/tmp/brr-buildx-XXXXXX";
  dir = brr_xstrdup(mkdtemp(t));
  /* stands in for the docker CLI: output on both streams, the metadata file, an exit status */
  const char *script =
      "#!/bin/sh\n"
      "meta=; prev=\n"
      "for a in \"$@\"; do [ \"$prev\" = --metadata-file ] && meta=$a; prev=$a; done\n"
      "echo \"$@\" > \"$(dirname \"$meta\")/args\"\n"
      "printf '#1 [internal] load build definition\\r\\n#1 DONE 0.0s\\n' >&2\n"
      "echo 'stdout line'\n"
      "case \"$FAKE_MODE\" in\n"
      "fail) echo 'ERROR: failed to solve: process \"/bin/sh -c false\" did not complete' >&2; exit 1;;\n"
      "hang) sh -c 'sleep 60' & echo $! > \"$(dirname \"$meta\")/grandchild\"; sleep 60;;\n"
      /* the docker driver's --load: the image id only, as containerimage.digest */
      "load) printf '{\"containerimage.digest\":\"sha256:i1\"}' > \"$meta\"; exit 0;;\n"
      "esac\n"
      "printf '{\"containerimage.digest\":\"sha256:d1\",\"containerimage.config.digest\":\"sha256:c1\"}' > \"$meta\"\n"
      "printf 'last line without newline' >&2\n";
  char *p = brr_path_join(dir, "docker");
  assert_int_equal(brr_write_file(p, script, strlen(script)), 0);
  chmod(p, 0755);
  free(p);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  brr_rm_rf(dir);
  free(dir);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&loop), 0);
  unsetenv("FAKE_MODE");
  return 0;
}

static brr_buildx_opts base_opts(seen *s, char **docker, char **meta) {
  *docker = brr_path_join(dir, "docker");
  *meta = brr_path_join(dir, "meta.json");
  brr_buildx_opts o = {0};
  o.docker = *docker;
  o.context = dir;
  o.platform = "linux/arm64";
  o.tag = "localhost:5000/mp:u-linux-arm64";
  o.push = true;
  o.metadata_file = *meta;
  o.on_line = line_cb;
  o.on_done = done_cb;
  o.ud = s;
  return o;
}

static void test_argv(void **state) {
  (void)state;
  const char *args[] = {"A=1", "DOCKER_REGISTRY=r", NULL};
  const char *secrets[] = {"id=s,src=/f", NULL};
  const char *from[] = {"type=registry,ref=r/c", NULL};
  const char *to[] = {"type=inline", NULL};
  const char *labels[] = {"org.example=1", NULL};
  brr_buildx_opts o = {0};
  o.docker = "docker";
  o.context = "/ctx";
  o.dockerfile = "/tmp/Df";
  o.platform = "linux/amd64";
  o.tag = "t:1";
  o.builder = "b1";
  o.target = "stage2";
  o.no_cache = true;
  o.pull = true;
  o.buildargs = args;
  o.secrets = secrets;
  o.cache_from = from;
  o.cache_to = to;
  o.labels = labels;
  o.metadata_file = "/m.json";
  char **v = brr_buildx_argv(&o);
  brr_buf b = BRR_BUF_INIT;
  for (char **p = v; *p; p++) brr_buf_printf(&b, "%s%s", p == v ? "" : " ", *p);
  assert_string_equal(b.data,
                      "docker buildx build /ctx --tag t:1 --platform linux/amd64 --load --progress plain "
                      "--metadata-file /m.json --file /tmp/Df --builder b1 --target stage2 --no-cache --pull "
                      "--build-arg A=1 --build-arg DOCKER_REGISTRY=r --secret id=s,src=/f "
                      "--cache-from type=registry,ref=r/c --cache-to type=inline --label org.example=1");
  brr_strv_free(v);
  /* --load needs no tag: the image id comes from the metadata file */
  o.tag = NULL;
  o.labels = NULL;
  v = brr_buildx_argv(&o);
  assert_non_null(v);
  for (char **p = v; *p; p++) assert_string_not_equal(*p, "--tag");
  brr_strv_free(v);
  /* a docker-driver builder on another engine: the CLI is pointed at its context, and
   * --builder still names it */
  o.docker_context = "arm-host";
  o.tag = "r/x:1";
  o.push = true;
  o.target = NULL;
  o.no_cache = o.pull = false;
  o.buildargs = o.secrets = o.cache_from = o.cache_to = NULL;
  o.dockerfile = NULL;
  v = brr_buildx_argv(&o);
  brr_buf_reset(&b);
  for (char **p = v; *p; p++) brr_buf_printf(&b, "%s%s", p == v ? "" : " ", *p);
  assert_string_equal(b.data, "docker --context arm-host buildx build /ctx --tag r/x:1 --platform linux/amd64 "
                              "--push --progress plain --metadata-file /m.json --builder b1");
  brr_buf_free(&b);
  brr_strv_free(v);
  o.docker_context = NULL;
  /* a push needs its name */
  o.tag = NULL;
  assert_null(brr_buildx_argv(&o));
  assert_null(brr_buildx_build(&loop, &o));
  o.push = false;
  o.metadata_file = NULL;
  assert_null(brr_buildx_argv(&o));
}

static void test_success_lines_and_metadata(void **state) {
  (void)state;
  seen s = {0};
  char *docker, *meta;
  brr_buildx_opts o = base_opts(&s, &docker, &meta);
  brr_buildx *b = brr_buildx_build(&loop, &o);
  assert_non_null(b);
  assert_true(brr_buildx_pid(b) > 0);
  while (!s.done) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(s.status, 0);
  assert_string_equal(s.digest, "sha256:d1");
  assert_string_equal(s.image, "sha256:c1");
  /* whole lines from both streams, \r\n as one end, the last line at EOF */
  assert_non_null(strstr(s.lines.data, "2:#1 [internal] load build definition\n2:#1 DONE 0.0s\n"));
  assert_non_null(strstr(s.lines.data, "1:stdout line\n"));
  assert_non_null(strstr(s.lines.data, "2:last line without newline\n"));
  assert_null(strstr(s.lines.data, "2:\n"));
  char *args_path = brr_path_join(dir, "args");
  brr_buf args = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(args_path, &args), 0);
  assert_non_null(strstr(args.data, "buildx build"));
  assert_non_null(strstr(args.data, "--push"));
  /* the metadata file is removed once read */
  assert_int_not_equal(access(meta, F_OK), 0);
  brr_buf_free(&args);
  free(args_path);
  seen_free(&s);
  free(docker), free(meta);
}

/* An untagged --load (single-platform builds): no --tag, and the docker driver's metadata
 * names the image id containerimage.digest. */
static void test_untagged_load_takes_the_image_id(void **state) {
  (void)state;
  setenv("FAKE_MODE", "load", 1);
  seen s = {0};
  char *docker, *meta;
  brr_buildx_opts o = base_opts(&s, &docker, &meta);
  o.tag = NULL;
  o.push = false;
  assert_non_null(brr_buildx_build(&loop, &o));
  while (!s.done) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(s.status, 0);
  assert_string_equal(s.image, "sha256:i1");
  char *args_path = brr_path_join(dir, "args");
  brr_buf args = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(args_path, &args), 0);
  assert_non_null(strstr(args.data, "--load"));
  assert_null(strstr(args.data, "--tag"));
  assert_null(strstr(args.data, "--label"));
  brr_buf_free(&args);
  free(args_path);
  seen_free(&s);
  free(docker), free(meta);
}

static void test_failure_reports_the_error_line(void **state) {
  (void)state;
  setenv("FAKE_MODE", "fail", 1);
  seen s = {0};
  char *docker, *meta;
  brr_buildx_opts o = base_opts(&s, &docker, &meta);
  brr_buildx_build(&loop, &o);
  while (!s.done) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(s.status, BRR_EFAILED);
  assert_string_equal(s.error, "ERROR: failed to solve: process \"/bin/sh -c false\" did not complete");
  assert_null(s.digest);
  seen_free(&s);
  free(docker), free(meta);
}

static void test_missing_cli(void **state) {
  (void)state;
  seen s = {0};
  char *docker, *meta;
  brr_buildx_opts o = base_opts(&s, &docker, &meta);
  o.docker = "/nonexistent/docker";
  brr_buildx_build(&loop, &o);
  assert_int_equal(s.done, 0);
  while (!s.done) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(s.status, BRR_EIO);
  assert_non_null(strstr(s.error, "cannot run docker buildx"));
  seen_free(&s);
  free(docker), free(meta);
}

/* Running, not a zombie waiting for a reaper that may never come in a container. */
static bool running(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  brr_buf st = BRR_BUF_INIT;
  bool r = false;
  if (brr_read_file(path, &st) == 0) {
    const char *close_paren = strrchr(st.data, ')');
    r = close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z';
  }
  brr_buf_free(&st);
  return r;
}

static void test_cancel_kills_the_group(void **state) {
  (void)state;
  setenv("FAKE_MODE", "hang", 1);
  seen s = {0};
  char *docker, *meta;
  brr_buildx_opts o = base_opts(&s, &docker, &meta);
  brr_buildx *b = brr_buildx_build(&loop, &o);
  char *gc_path = brr_path_join(dir, "grandchild");
  brr_buf gc = BRR_BUF_INIT;
  while (brr_read_file(gc_path, &gc) != 0 || gc.len == 0) {
    brr_buf_reset(&gc);
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(10000);
  }
  int grandchild = atoi(gc.data);
  assert_true(grandchild > 0);
  brr_buildx_cancel(b);
  while (!s.done) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(s.status, BRR_ECANCELED);
  /* the sleep the script started went with it: the whole group was signalled */
  int alive = 1;
  for (int i = 0; i < 200 && alive; i++) {
    alive = running(grandchild);
    if (alive) usleep(10000);
  }
  assert_false(alive);
  brr_buf_free(&gc);
  free(gc_path);
  seen_free(&s);
  free(docker), free(meta);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_argv),
      T(test_success_lines_and_metadata),
      T(test_untagged_load_takes_the_image_id),
      T(test_failure_reports_the_error_line),
      T(test_missing_cli),
      T(test_cancel_kills_the_group),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
