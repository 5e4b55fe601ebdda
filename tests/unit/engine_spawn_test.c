/* brr/spawn.h, brr's one process launcher: a child's stdin from a file descriptor and its
 * stdout to one (the remote steps' source and artifacts), raw output (the scheduler's process
 * tasks) with stderr to a file, SIGKILL to the group after the leader exited, and the
 * blocking wrappers brr_spawn_sync (ssh-add, the abort path's last ssh) and brr_spawn_capture
 * (git). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/spawn.h"
#include "brr/util.h"

typedef struct seen {
  brr_buf lines;
  bool exited;
  int64_t status;
  brr_buf err;
  size_t out_len;
} seen;

static void on_line(void *ud, int stream, const char *line, size_t len) {
  seen *s = ud;
  brr_buf_printf(&s->lines, "%d:%.*s\n", stream, (int)len, line);
}

static void on_exit_cb(void *ud, const brr_spawn_result *res) {
  seen *s = ud;
  s->exited = true;
  s->status = res->exit_status;
  s->out_len = res->out_len;
  if (res->err_len) brr_buf_append(&s->err, res->err_tail, res->err_len);
}

static char *temp_file(const char *text) {
  char tmpl[] = "/tmp/brr-spawn-test-XXXXXX";
  int fd = mkstemp(tmpl);
  assert_true(fd >= 0);
  if (text) assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return brr_xstrdup(tmpl);
}

static void run_loop(uv_loop_t *loop, seen *s) {
  while (!s->exited) uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_NOWAIT);
}

static void test_stdin_fd(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *path = temp_file("first line\nsecond line\n");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  const char *argv[] = {"cat", NULL};
  seen s = {BRR_BUF_INIT, false, -1, BRR_BUF_INIT, 0};
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.stdin_fd = fd;
  o.on_line = on_line;
  o.on_exit = on_exit_cb;
  o.ud = &s;
  brr_spawn_start(&loop, &o);
  close(fd);  /* the child has its own copy */
  run_loop(&loop, &s);
  assert_int_equal(s.status, 0);
  assert_string_equal(brr_buf_cstr(&s.lines), "1:first line\n1:second line\n");
  unlink(path);
  free(path);
  brr_buf_free(&s.lines);
  brr_buf_free(&s.err);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_stdout_fd(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *path = temp_file(NULL);
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  assert_true(fd >= 0);
  const char *argv[] = {"sh", "-c", "printf 'abc\\0def'; echo to-stderr >&2; exit 3", NULL};
  seen s = {BRR_BUF_INIT, false, -1, BRR_BUF_INIT, 0};
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.stdout_fd = fd;
  o.collect = true;
  o.on_exit = on_exit_cb;
  o.ud = &s;
  brr_spawn_start(&loop, &o);
  close(fd);
  run_loop(&loop, &s);
  assert_int_equal(s.status, 3);
  assert_int_equal(s.out_len, 0);  /* stdout went to the file, not to us */
  assert_string_equal(brr_buf_cstr(&s.err), "to-stderr\n");
  brr_buf got = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(path, &got), 0);
  assert_int_equal(got.len, 7);
  assert_memory_equal(got.data, "abc\0def", 7);
  brr_buf_free(&got);
  unlink(path);
  free(path);
  brr_buf_free(&s.lines);
  brr_buf_free(&s.err);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sync(void **state) {
  (void)state;
  const char *exit7[] = {"sh", "-c", "echo oops >&2; exit 7", NULL};
  char *errf = temp_file(NULL);
  assert_int_equal(brr_spawn_sync(exit7, NULL, errf, 10), 7);
  brr_buf err = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(errf, &err), 0);
  assert_string_equal(brr_buf_cstr(&err), "oops\n");
  brr_buf_free(&err);
  unlink(errf);
  free(errf);
  /* the environment given is the child's whole environment */
  const char *env_check[] = {"sh", "-c", "[ \"$ONLY\" = yes ] && [ -z \"$HOME\" ]", NULL};
  char *env[] = {"ONLY=yes", "PATH=/usr/bin:/bin", NULL};
  assert_int_equal(brr_spawn_sync(env_check, env, NULL, 10), 0);
  /* past the timeout the group is killed */
  const char *slow[] = {"sleep", "30", NULL};
  assert_int_equal(brr_spawn_sync(slow, NULL, NULL, 0.2), 128 + 9);
  const char *missing[] = {"brr-no-such-program-here", NULL};
  assert_int_equal(brr_spawn_sync(missing, NULL, NULL, 1), -ENOENT);
}

typedef struct raw_seen {
  brr_buf data[3];
  bool exited, killed;
  int64_t status;
  int grandchild;
  bool gave_up;
  brr_spawn *s;
} raw_seen;

static void on_data(void *ud, int stream, const char *data, size_t len) {
  raw_seen *r = ud;
  brr_buf_append(&r->data[stream], data, len);
}

static void raw_exit(void *ud, const brr_spawn_result *res) {
  raw_seen *r = ud;
  r->exited = true;
  r->killed = res->killed;
  r->status = res->exit_status;
}

/* on_data gets the bytes as they are (no line splitting, a \r kept); stderr_fd takes stderr. */
static void test_on_data_stderr_fd(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *path = temp_file(NULL);
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  assert_true(fd >= 0);
  const char *argv[] = {"sh", "-c", "printf 'a\\rb\\nno-newline'; printf err >&2", NULL};
  raw_seen r = {{BRR_BUF_INIT, BRR_BUF_INIT, BRR_BUF_INIT}, false, false, -1, 0, false, NULL};
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.stderr_fd = fd;
  o.on_data = on_data;
  o.on_exit = raw_exit;
  o.ud = &r;
  brr_spawn_start(&loop, &o);
  close(fd);
  while (!r.exited) uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(r.status, 0);
  assert_string_equal(brr_buf_cstr(&r.data[1]), "a\rb\nno-newline");
  assert_int_equal(r.data[2].len, 0);
  brr_buf got = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(path, &got), 0);
  assert_string_equal(brr_buf_cstr(&got), "err");
  brr_buf_free(&got);
  unlink(path);
  free(path);
  for (int i = 0; i < 3; i++) brr_buf_free(&r.data[i]);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void kill_later(uv_timer_t *t) {
  raw_seen *r = t->data;
  brr_spawn_kill_now(r->s);
}

static void give_up(uv_timer_t *t) {
  raw_seen *r = t->data;
  r->gave_up = true;
  r->grandchild = atoi(brr_buf_cstr(&r->data[1]));
  if (r->grandchild > 0) kill(r->grandchild, SIGKILL);
}

/* The leader exited but a grandchild of its group holds stdout open: brr_spawn_kill_now
 * still reaches the group, so the output ends and on_exit comes. */
static void test_kill_now_after_leader_exit(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  const char *argv[] = {"sh", "-c", "sleep 1000 & echo $!; exit 0", NULL};
  raw_seen r = {{BRR_BUF_INIT, BRR_BUF_INIT, BRR_BUF_INIT}, false, false, -1, 0, false, NULL};
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.on_data = on_data;
  o.on_exit = raw_exit;
  o.ud = &r;
  r.s = brr_spawn_start(&loop, &o);
  uv_timer_t later, guard;
  uv_timer_init(&loop, &later);
  uv_timer_init(&loop, &guard);
  later.data = guard.data = &r;
  uv_timer_start(&later, kill_later, 300, 0);
  uv_timer_start(&guard, give_up, 60000, 0);
  while (!r.exited) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&later, NULL);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_false(r.gave_up);
  assert_true(r.killed);
  assert_int_equal(r.status, 0);   /* the leader's own exit */
  for (int i = 0; i < 3; i++) brr_buf_free(&r.data[i]);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_capture(void **state) {
  (void)state;
  const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 2", NULL};
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(brr_spawn_capture(argv, NULL, &out, 10), 2);
  assert_string_equal(brr_buf_cstr(&out), "out\n");   /* stderr is not mixed in */
  brr_buf_free(&out);
  const char *missing[] = {"brr-no-such-program-here", NULL};
  assert_int_equal(brr_spawn_capture(missing, NULL, &out, 0), -ENOENT);
  brr_buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stdin_fd),
      cmocka_unit_test(test_stdout_fd),
      cmocka_unit_test(test_sync),
      cmocka_unit_test(test_on_data_stderr_fd),
      cmocka_unit_test(test_kill_now_after_leader_exit),
      cmocka_unit_test(test_capture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
