/* The rest of the run node without Docker: a step's `containers:` removed with it (by name,
 * or by label when none has that name), systemd steps, a run on the step's built image,
 * xfail, a container killed from outside (137), an attach that fails, and a run step's
 * results directory that cannot be made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/task_harness.h"

static void test_containers_removed(void **state) {
  (void)state;
  th *h = th_new();
  /* what the step's command made: one by name, two by label */
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "named-one", NULL);
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "x1", "{\"LABELLED\":\"yes\"}");
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "x2", "{\"LABELLED\":\"\"}");
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "other", "{\"unrelated\":\"1\"}");
  int rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      containers:\n"
                     "        - named-one\n        - LABELLED\n      cmd: echo\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_live(h->fe, FAKE_CONTAINER) == 1);   /* "other" */
  th_assert(h, fake_engine_count(h->fe, "DELETE", "/containers/named-one") == 1);
  th_assert(h, fake_engine_count(h->fe, "GET", "/containers/json") >= 1);
  th_free(h);
}

static void test_systemd(void **state) {
  (void)state;
  th *h = th_new();
  int rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/systemd:1\n      systemd: true\n"
                     "      cmds: [echo one]\n", NULL);
  th_assert(h, rc == 0);
  const fake_request *cr = fake_engine_find_create(h->fe, false, 0);
  th_assert(h, cr && strstr(cr->body, "/usr/sbin/init") && strstr(cr->body, "seccomp=unconfined"));
  th_assert(h, cr && strstr(cr->body, "/sys/fs/cgroup"));
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_run_on_built_image(void **state) {
  (void)state;
  th *h = th_new();
  int rc = th_run(h, "steps:\n  s:\n    build:\n      dockerfile: FROM scratch\n    run:\n      cmd: echo\n", NULL);
  th_assert(h, rc == 0);
  /* the run container runs the image id the build reported; nothing is pulled */
  const fake_request *cr = fake_engine_find_create(h->fe, false, 0);
  th_assert(h, cr && strstr(cr->body, "\"Image\":\"sha256:"));
  th_assert(h, fake_engine_count_pulls(h->fe) == 0);
  th_free(h);
}

static void test_xfail(void **state) {
  (void)state;
  th *h = th_new();
  fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":3}");
  int rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      xfail: true\n      cmd: exit 3\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "Ignoring due to XFAIL"));
  th_free(h);
}

static void test_killed_from_outside(void **state) {
  (void)state;
  /* the command's container ends with 137 and is then gone: the step says it was removed */
  th *h = th_new();
  fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":137}");
  /* (the first inspect is brr's own, while /source goes in) */
  fake_rule_error(fake_rule_from(fake_engine_on(h->fe, "GET", "/containers/*/json"), 2), 404, "No such container");
  int rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      cmd: sleep 100\n", NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "was removed while the step ran"));
  th_free(h);

  /* 137 and still there: the command's own exit code */
  h = th_new();
  fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":137}");
  rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      cmd: sleep 100\n", NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "137"));
  th_assert(h, th_clean(h));
  th_free(h);

  /* an exec whose container was stopped from outside while the commands ran (a provisioner
   * keeps the idle shell and an exec per command) */
  h = th_new();
  th_file(h, "setup.sh", "true\n");
  fake_rule_error(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "echo two"), 409,
                  "container is not running");
  fake_rule_json(fake_rule_from(fake_engine_on(h->fe, "GET", "/containers/*/json"), 2), 200,
                 "{\"State\":{\"Status\":\"exited\",\"Running\":false,\"ExitCode\":137}}");
  rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      provisioners:\n        shell: setup.sh\n"
                 "      cmds: [echo one, echo two]\n", NULL);
  th_assert(h, rc == 1);
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/*/exec") >= 3);
  th_assert(h, th_ended(h, "stopped or removed by someone else"));
  th_free(h);
}

static void test_attach_fails(void **state) {
  (void)state;
  th *h = th_new();
  fake_engine_fail(h->fe, "POST", "/containers/*/attach", 0, 500);
  int rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n", NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "fake failure"));
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_results_dir_unusable(void **state) {
  (void)state;
  th *h = th_new();
  /* a file where the results directory should be */
  th_file(h, "buildrunner.results", "not a directory");
  int rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n", NULL);
  th_assert(h, rc != 0);
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
  th_free(h);
}

static void test_source_tar_fails(void **state) {
  (void)state;
  th *h = th_new();
  /* a link the engine would refuse at /source: the tar is not made, both steps fail */
  tu_symlink(h->dir, "escape", "../../../../etc/passwd");
  int rc = th_run(h, "steps:\n  a:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n"
                     "  b:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n", &(th_opts){.keep_going = true});
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "a/run failed: cannot make the /source tar"));
  th_assert(h, th_ended(h, "b/run failed: cannot make the /source tar"));
  th_assert(h, th_ended(h, "escape"));
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
  th_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_containers_removed),
      cmocka_unit_test(test_systemd),
      cmocka_unit_test(test_run_on_built_image),
      cmocka_unit_test(test_xfail),
      cmocka_unit_test(test_killed_from_outside),
      cmocka_unit_test(test_attach_fails),
      cmocka_unit_test(test_results_dir_unusable),
      cmocka_unit_test(test_source_tar_fails),
  };
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
