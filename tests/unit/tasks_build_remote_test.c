/* The `remote` node kind (src/tasks/remote.c) without a remote host: whole runs through the
 * runtime and the scheduler with the ssh stand-in of tests/unit/fake_bin first in PATH (it
 * runs each command here, in a session of its own, in a "remote" temp dir under the test's
 * directory). The happy path (source sent, cmd output, artifacts fetched into the results
 * and artifacts.json, the directory removed), a failing cmd (artifacts still gathered), ssh
 * failing, a cancel in each stage (setup, cmd, list, fetch, clean), the abort path, and a
 * sibling's failure that leaves a node alone once its cmd has ended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/fake_build_support.h"

static fb_world W;

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  fb_write(W.build_dir, "marker.txt", "from the build dir\n");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  return 0;
}

static const char *GLOBAL = "build-servers:\n  me@fakehost: [builder]\n";

static char *remote_yaml(const char *cmd) {
  return brr_xasprintf("steps:\n  pkg:\n    remote:\n      host: builder\n      cmd: '%s'\n"
                       "      artifacts:\n        dist/*.whl: {type: python-wheel}\n"
                       "        dist/out: {format: uncompressed}\n",
                       cmd);
}

static const char *MAKE_DIST = "mkdir -p dist/out && echo wheel > dist/app-1.0-py3-none-any.whl && "
                               "echo inner > dist/out/inner.txt && cat marker.txt && echo oops >&2";

/* Whether the "remote" temp dir holds nothing (every directory brr made there is gone). */
static bool remote_clean(void) {
  char *p = brr_path_join(W.fake_dir, "remote");
  DIR *d = opendir(p);
  free(p);
  if (!d) return true;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n == 0;
}

static void test_happy(void **state) {
  (void)state;
  char *y = remote_yaml(MAKE_DIST);
  fb_load(&W, y, GLOBAL);
  free(y);
  assert_int_equal(fb_run(&W), 0);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_SUCCEEDED);
  /* the alias resolved; setup, cmd, list, two fetches, clean */
  char *log = fb_fake_file(&W, "ssh.log");
  assert_int_equal(fb_count(log, "me@fakehost\t"), 6);
  assert_int_equal(fb_count(log, "mktemp -d"), 1);
  assert_int_equal(fb_count(log, "rm -rf"), 1);
  free(log);
  /* the source arrived; output by line, stderr too */
  assert_non_null(strstr(W.out.data, "pkg/remote||from the build dir\n"));
  assert_non_null(strstr(W.out.data, "pkg/remote||oops\n"));
  char *whl = tu_read_rel(W.results, "pkg/app-1.0-py3-none-any.whl");
  assert_non_null(whl);
  assert_string_equal(whl, "wheel\n");
  free(whl);
  char *inner = tu_read_rel(W.results, "pkg/dist/out/inner.txt");
  assert_non_null(inner);
  assert_string_equal(inner, "inner\n");
  free(inner);
  char *json = tu_read_rel(W.results, "artifacts.json");
  assert_non_null(json);
  assert_non_null(strstr(json, "\"pkg/app-1.0-py3-none-any.whl\": {\n    \"type\": \"python-wheel\""));
  free(json);
  assert_true(remote_clean());
  assert_true(fb_tmp_empty(&W));
}

static void test_cmd_fails(void **state) {
  (void)state;
  char *cmd = brr_xasprintf("%s && exit 3", MAKE_DIST);
  char *y = remote_yaml(cmd);
  fb_load(&W, y, GLOBAL);
  free(y);
  free(cmd);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_FAILED);
  assert_string_equal(fb_error(&W, "pkg/remote"), "remote command on me@fakehost failed: exit status 3");
  /* buildrunner gathers the artifacts of a failed command too */
  assert_true(tu_exists(W.results, "pkg/app-1.0-py3-none-any.whl"));
  assert_true(remote_clean());
}

static void test_ssh_fails(void **state) {
  (void)state;
  fb_load(&W, "steps:\n  pkg:\n    remote:\n      host: unreachable.example\n      cmd: make\n"
              "      artifacts:\n        '*.rpm': {}\n", NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_FAILED);
  assert_string_equal(fb_error(&W, "pkg/remote"),
                      "setting up a directory on unreachable.example: ssh failed (exit status 255): "
                      "ssh: connect to host unreachable.example port 22: Connection refused");
  /* nothing was made there, so there is nothing to remove: one ssh only */
  char *log = fb_fake_file(&W, "ssh.log");
  assert_int_equal(fb_count(log, "unreachable.example\t"), 1);
  free(log);
}

static void test_no_artifacts(void **state) {
  (void)state;
  fb_load(&W, "steps:\n  pkg:\n    remote:\n      host: me@h\n      cmd: 'true'\n", NULL);
  assert_int_equal(fb_run(&W), 0);
  /* a cmd that is all there is: no listing, no fetch */
  char *log = fb_fake_file(&W, "ssh.log");
  assert_int_equal(fb_count(log, "me@h\t"), 3);
  free(log);
  assert_true(remote_clean());
}

static void fails_in(const char *stage_text) {
  fb_script(&W, "ssh.fail", stage_text);
  char *y = remote_yaml(MAKE_DIST);
  fb_load(&W, y, GLOBAL);
  free(y);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_FAILED);
}

static void test_list_fails(void **state) {
  (void)state;
  fails_in("exec sh -c");
  assert_true(brr_startswith(fb_error(&W, "pkg/remote"), "listing the artifacts on me@fakehost: exit status 7: fake failure of: cd '"));
  assert_true(remote_clean());
}

static void test_fetch_fails(void **state) {
  (void)state;
  fails_in("tar -cf - -C");
  assert_non_null(strstr(fb_error(&W, "pkg/remote"), "Error gathering artifact dist/"));
  assert_non_null(strstr(fb_error(&W, "pkg/remote"), ": exit status 7: fake failure of: tar -cf - -C"));
  assert_true(remote_clean());
}

static void test_clean_fails(void **state) {
  (void)state;
  /* the step's result stands; the directory left behind is named in a warning */
  fb_script(&W, "ssh.fail", "rm -rf");
  char *y = remote_yaml(MAKE_DIST);
  fb_load(&W, y, GLOBAL);
  free(y);
  assert_int_equal(fb_run(&W), 0);
  assert_non_null(strstr(W.logs.data, "could not remove me@fakehost:"));
  assert_false(remote_clean());
}

static void test_bad_rename(void **state) {
  (void)state;
  /* a rename for a pattern with `*`: a configuration error, found when the match is stored */
  fb_load(&W, "steps:\n  pkg:\n    remote:\n      host: me@h\n      cmd: 'touch a.whl b.whl'\n"
              "      artifacts:\n        '*.whl': {rename: one.whl}\n", NULL);
  assert_int_equal(fb_run(&W), 78);
  assert_non_null(strstr(fb_error(&W, "pkg/remote"), "buildrunner.yaml:"));
  assert_true(remote_clean());
}

/* ---- cancel and abort ---- */

static bool when_hanging(fb_world *w) {
  if (!fb_fake_exists(w, "ssh.hanging")) return false;
  fb_sigint();
  return true;
}

static bool when_slowed(fb_world *w) {
  if (!fb_fake_exists(w, "ssh.slowed")) return false;
  fb_sigint();
  return true;
}

static bool when_cmd_runs(fb_world *w) {
  if (!fb_fake_exists(w, "cmd.pid")) return false;
  fb_sigint();
  return true;
}


/* Cancel while one stage's ssh hangs: the node is cancelled (130) and the directory goes. */
static void cancel_in(const char *stage_text, bool dir_made) {
  fb_script(&W, "ssh.hang", stage_text);
  char *y = remote_yaml(MAKE_DIST);
  fb_load(&W, y, GLOBAL);
  free(y);
  fb_then(&W, when_hanging);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_CANCELED);
  assert_true(remote_clean());
  char *log = fb_fake_file(&W, "ssh.log");
  assert_int_equal(fb_count(log, "rm -rf"), dir_made ? 1 : 0);
  free(log);
  /* no spool or half-written artifact is left behind */
  assert_false(tu_exists(W.results, "pkg/app-1.0-py3-none-any.whl"));
}

static void test_cancel_setup(void **state) {
  (void)state;
  cancel_in("mktemp -d", false);
}

static void test_cancel_list(void **state) {
  (void)state;
  cancel_in("exec sh -c", true);
}

static void test_cancel_fetch(void **state) {
  (void)state;
  cancel_in("tar -cf - -C", true);
}

static void test_cancel_cmd(void **state) {
  (void)state;
  /* the cmd's shell leads a session of its own (as under sshd): the clean stage ends it */
  char *y = remote_yaml("echo $$ > \"$FAKE_DIR/cmd.pid\"; sleep 30");
  fb_load(&W, y, GLOBAL);
  free(y);
  fb_then(&W, when_cmd_runs);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_CANCELED);
  assert_true(remote_clean());
  char *pid = fb_fake_file(&W, "cmd.pid");
  assert_true(fb_pid_gone(pid));
  free(pid);
}

static void test_cancel_clean(void **state) {
  (void)state;
  /* the clean stage is not stopped by a cancel: it runs to its end */
  fb_script(&W, "ssh.slow", "rm -rf");
  char *y = remote_yaml(MAKE_DIST);
  fb_load(&W, y, GLOBAL);
  free(y);
  fb_then(&W, when_slowed);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_CANCELED);
  assert_true(remote_clean());
}

static bool when_cmd_runs_twice(fb_world *w) {
  if (!fb_fake_exists(w, "cmd.pid")) return false;
  fb_sigint();
  fb_sigint();
  return true;
}

static void test_abort_cmd(void **state) {
  (void)state;
  /* a second SIGINT: the ssh is killed at once and the runtime's abort removes the
   * directory with a synchronous ssh */
  char *y = remote_yaml("echo $$ > \"$FAKE_DIR/cmd.pid\"; sleep 30");
  fb_load(&W, y, GLOBAL);
  free(y);
  fb_then(&W, when_cmd_runs_twice);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_CANCELED);
  assert_true(remote_clean());
  char *pid = fb_fake_file(&W, "cmd.pid");
  assert_true(fb_pid_gone(pid));
  free(pid);
  char *log = fb_fake_file(&W, "ssh.log");
  assert_int_equal(fb_count(log, "rm -rf"), 1);
  free(log);
}

static void test_abort_setup(void **state) {
  (void)state;
  fb_script(&W, "ssh.hang", "mktemp -d");
  char *y = remote_yaml(MAKE_DIST);
  fb_load(&W, y, GLOBAL);
  free(y);
  fb_then(&W, when_hanging);
  fb_then(&W, when_hanging);
  assert_int_equal(fb_run(&W), 130);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_CANCELED);
  assert_true(remote_clean());
}

/* A sibling fails while this node fetches its artifacts: its cmd has ended, so it is not
 * cancelled and ends with its own result. */
static void test_sibling_fails_after_cmd(void **state) {
  (void)state;
  fb_script(&W, "ssh.slow", "tar -cf - -C");
  char *y = brr_xasprintf("steps:\n  pkg:\n    remote:\n      host: builder\n      cmd: '%s'\n"
                          "      artifacts:\n        dist/*.whl: {type: python-wheel}\n"
                          "  bad:\n    remote:\n      host: me@other\n"
                          "      cmd: 'while [ ! -f \"$FAKE_DIR/ssh.slowed\" ]; do sleep 0.02; done; exit 4'\n",
                          MAKE_DIST);
  fb_load(&W, y, GLOBAL);
  free(y);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "bad/remote"), BRR_STATUS_FAILED);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_SUCCEEDED);
  assert_true(tu_exists(W.results, "pkg/app-1.0-py3-none-any.whl"));
  assert_true(remote_clean());
}

/* A sibling fails while this node's cmd runs: it is cancelled, and its directory goes. */
static void test_sibling_fails_during_cmd(void **state) {
  (void)state;
  const char *y = "steps:\n  pkg:\n    remote:\n      host: builder\n"
                  "      cmd: 'echo $$ > \"$FAKE_DIR/cmd.pid\"; sleep 30'\n"
                  "  bad:\n    remote:\n      host: me@other\n"
                  "      cmd: 'while [ ! -f \"$FAKE_DIR/cmd.pid\" ]; do sleep 0.02; done; exit 4'\n";
  fb_load(&W, y, GLOBAL);
  assert_int_equal(fb_run(&W), 1);
  assert_int_equal(fb_status(&W, "bad/remote"), BRR_STATUS_FAILED);
  assert_int_equal(fb_status(&W, "pkg/remote"), BRR_STATUS_CANCELED);
  assert_true(remote_clean());
  char *pid = fb_fake_file(&W, "cmd.pid");
  assert_true(fb_pid_gone(pid));
  free(pid);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_happy),          T(test_cmd_fails),        T(test_ssh_fails),
      T(test_no_artifacts),   T(test_cancel_setup),     T(test_cancel_list),
      T(test_cancel_fetch),   T(test_cancel_cmd),       T(test_cancel_clean),
      T(test_abort_cmd),      T(test_abort_setup),      T(test_sibling_fails_after_cmd),
      T(test_sibling_fails_during_cmd), T(test_list_fails),     T(test_fetch_fails),
      T(test_clean_fails),    T(test_bad_rename),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
