/* The run node kind without Docker: whole runs of buildrunner.yaml files through the public
 * runtime and scheduler against the fake engine (tests/unit/fake_engine.h), so brr's real
 * engine client is what talks. Each test asserts the exit code, how the nodes ended, the
 * requests sent, and that every container, network and volume created was removed:
 *   - the happy path of a step with a service, a provisioner, caches, commands, artifacts
 *     and a commit; a single command as the container's own process; the image's command;
 *   (an engine error at each call: tasks_run_errors_test.c, tasks_run_drops_test.c)
 *   - a cancel (SIGINT) and an abort (two SIGINTs) while each call is in flight;
 *   - a failing command, a missing image, a container removed from outside, a config error;
 *   - a node whose command finished is not cancelled when a sibling fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit/tasks_run_full.h"

static void test_full_happy(void **state) {
  (void)state;
  th *h = full_new();
  int rc = th_run(h, FULL, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "full/run succeeded"));
  th_assert(h, th_ended(h, "full/commit succeeded"));
  th_assert(h, th_said(h, "[full/] hello from one"));
  th_assert(h, th_said(h, "cmd> echo two"));
  th_assert(h, th_clean(h));
  /* service container, run container; network and step volume */
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 2);
  th_assert(h, fake_engine_created(h->fe, FAKE_NETWORK) == 1);
  th_assert(h, fake_engine_created(h->fe, FAKE_VOLUME) == 1);
  /* the provisioner script went to /tmp, the source to the step volume */
  const fake_request *put = fake_engine_find(h->fe, "PUT", "/containers/*/archive", 1);
  th_assert(h, put && strstr(put->query, "path=/tmp"));
  /* the run container's create carries the env and the service link */
  const fake_request *cr = fake_engine_find(h->fe, "POST", "/containers/create", 1);
  th_assert(h, cr && strstr(cr->body, "\"A=b\""));
  th_assert(h, cr && strstr(cr->body, "BUILDRUNNER_STEP_NAME=full"));
  /* the artifact in the results, and in artifacts.json */
  char *art = tu_read_rel(h->results, "full/a.txt");
  th_assert(h, art && strcmp(art, "artifact A\n") == 0);
  free(art);
  char *json = tu_read_rel(h->results, "artifacts.json");
  th_assert(h, json && strstr(json, "full/a.txt"));
  free(json);
  /* the cache saved from the container's /cache/deps */
  char *pat = brr_xasprintf("%s/caches/*deps*.tar", h->dir);
  th_assert(h, count_files(pat) == 1);
  free(pat);
  /* the commit tagged */
  th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 1);
  const fake_request *tag = fake_engine_find(h->fe, "POST", "/images/*/tag", 0);
  th_assert(h, tag && strstr(tag->query, "repo=made/full&tag=v1"));
  th_free(h);

  /* a second run restores the cache saved by the first */
  h = full_new();
  char *caches = brr_path_join(h->dir, "caches");
  brr_mkdir_p(caches, 0755);
  size_t tlen = 0;
  char *tar = fake_tar(&tlen, "stamp", "cached\n", (char *)NULL);
  char *file = brr_xasprintf("%s/%s-deps.tar", caches, brr_path_basename(h->dir));
  brr_write_file(file, tar, tlen);
  free(tar);
  rc = th_run(h, FULL, NULL);
  th_assert(h, rc == 0);
  const fake_request *restore = fake_engine_find(h->fe, "PUT", "/containers/*/archive", 2);
  th_assert(h, restore && strstr(restore->query, "path=/cache/deps"));
  free(file);
  free(caches);
  th_free(h);
}

/* ---- cancel and abort while each call is in flight ---- */

static void test_cancel_each_call(void **state) {
  (void)state;
  for (size_t i = 0; i < BRR_ARRAY_LEN(CALLS); i++) {
    for (int abort_too = 0; abort_too < 2; abort_too++) {
      const call *c = &CALLS[i];
      if (!strcmp(c->method, "DELETE") || !strcmp(c->pattern, "/images/*/tag")) continue;
      th *h = full_new();
      /* SIGINT once the call is in flight (held: it cannot end before the signal is seen) */
      fake_rule_raise(fake_rule_hold(on_call(h, c, false), FAKE_HOLD_HEADERS), SIGINT, 1);
      th_opts o = {.handle_signals = true, .grace_s = 5};
      if (abort_too) {
        /* the first container removal of the teardown hangs: the grace period runs out and
         * the run is aborted (tasks' abort, then the runtime's synchronous cleanup) */
        fake_rule_hold(fake_rule_nth(fake_engine_on(h->fe, "DELETE", "/containers/*"), 1), FAKE_HOLD_HEADERS);
        o.grace_s = 0.3;
      }
      int rc = th_run(h, FULL, &o);
      if (rc != 130) fprintf(stderr, "call %zu %s %s #%u abort=%d\n", i, c->method, c->pattern, c->nth, abort_too);
      th_assert(h, rc == 130);
      th_assert(h, th_ended(h, "full/run canceled") || th_ended(h, "full/commit canceled"));
      th_assert(h, h->res.n_abandoned == 0);
      /* an abort happens only when something was left to remove */
      if (abort_too && fake_engine_count(h->fe, "DELETE", "/containers/*") > 0) th_assert(h, h->res.aborted);
      th_assert(h, th_clean(h));
      th_free(h);
    }
  }
}

/* ---- failures of the step itself ---- */

static void test_command_fails(void **state) {
  (void)state;
  th *h = full_new();
  /* the first command exits with 3: the second never runs, nothing is saved */
  fake_rule_json(fake_engine_on(h->fe, "GET", "/exec/cmd1/json"), 200,
                 "{\"ExitCode\":3,\"Running\":false}");
  int rc = th_run(h, FULL, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "full/run failed"));
  th_assert(h, th_ended(h, "full/commit skipped"));
  th_assert(h, th_said(h, "exited with code 3") || th_said(h, "exit code 3"));
  th_assert(h, !th_said(h, "cmd> echo two"));
  th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 0);
  th_assert(h, th_clean(h));
  th_free(h);
}

static const char *OWN =
    "steps:\n"
    "  own:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmd: echo hi\n";

static void test_own_process(void **state) {
  (void)state;
  th *h = th_new();
  fake_engine_add_image(h->fe, "reg.test/busybox:1");
  char *mux = NULL;
  size_t len = 0;
  fake_mux_frame(&mux, &len, 1, "hi\n", (size_t)-1);
  fake_mux_frame(&mux, &len, 2, "+ echo hi\n", (size_t)-1);
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/containers/*/attach"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
  free(mux);
  int rc = th_run(h, OWN, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "[own/] hi"));
  /* the command is the container's process: no exec; the image was there: no pull */
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/*/exec") == 0);
  th_assert(h, fake_engine_count_pulls(h->fe) == 0);
  const fake_request *cr = fake_engine_find_create(h->fe, false, 0);
  th_assert(h, cr && strstr(cr->body, "-xc"));
  th_assert(h, th_clean(h));
  th_free(h);

  /* its exit code fails the step */
  h = th_new();
  fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":5}");
  rc = th_run(h, OWN, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "own/run failed") && th_ended(h, "5"));
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_image_command(void **state) {
  (void)state;
  th *h = th_new();
  /* the image's own command gets a TTY, as buildrunner's: raw output */
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/containers/*/attach"), 200,
                  "application/vnd.docker.raw-stream", "from the image\r\n", (size_t)-1);
  int rc = th_run(h, "steps:\n  img:\n    run:\n      image: reg.test/app:2\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "[img/] from the image"));
  const fake_request *cr = fake_engine_find_create(h->fe, false, 0);
  th_assert(h, cr && strstr(cr->body, "\"Tty\":true"));
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_image_missing(void **state) {
  (void)state;
  th *h = th_new();
  /* the pull (not the import of the /source image) */
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "POST", "/images/create"), "fromImage"), 404,
                  "manifest unknown");
  int rc = th_run(h, OWN, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "own/run failed") && th_ended(h, "not found"));
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
  th_free(h);
}

static void test_container_removed_from_outside(void **state) {
  (void)state;
  th *h = full_new();
  /* the first command's exec fails, and the container is gone when asked */
  fake_rule_error(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "echo one"), 409,
                  "is not running");
  fake_rule_error(fake_rule_nth(fake_engine_on(h->fe, "GET", "/containers/*/json"), 2), 404, "No such container");
  int rc = th_run(h, FULL, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "was removed while the step ran"));
  th_free(h);
}

static void test_config_errors(void **state) {
  (void)state;
  th *h = th_new();
  int rc = th_run(h, "steps:\n  noimg:\n    run:\n      cmd: echo\n", NULL);
  th_assert(h, rc == 78);
  th_assert(h, th_ended(h, "must specify a \"image\""));
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
  th_free(h);

  h = th_new();
  rc = th_run(h, "steps:\n  prov:\n    run:\n      image: reg.test/a:1\n      provisioners:\n        shell: missing.sh\n"
                 "      cmd: echo\n", NULL);
  th_assert(h, rc == 78);
  th_assert(h, th_ended(h, "missing.sh"));
  th_free(h);
}

/* ---- a node whose command finished is not cancelled ---- */

typedef struct finishing_ctx {
  fake_engine *fe;
  fake_rule *fetch;
} finishing_ctx;

/* `other` ends (exit 9) only once `full` has begun fetching its artifact */
static void other_waits_for_fetch(void *ud, const fake_request *req) {
  (void)req;
  finishing_ctx *c = ud;
  fake_engine_wait_for(c->fe, "GET", "/containers/*/archive", 2, 15000);
}

static void on_end(th *h, const brr_event *ev) {
  finishing_ctx *c = h->ud;
  if (ev->type == BRR_EV_NODE_END && ev->node && strstr(ev->node, "other") && ev->status == BRR_STATUS_FAILED)
    fake_rule_release(c->fetch);
}

static void test_finishing_not_cancelled(void **state) {
  (void)state;
  th *h = full_new();
  finishing_ctx c = {h->fe, NULL};
  /* `full` fetches its artifact only after `other` failed; `other` fails when `full` has
   * begun fetching (its command ended): the archive GETs are the cache's, then the artifact's */
  c.fetch = fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "path=/source/out/a.txt");
  size_t tlen = 0;
  char *tar = fake_tar(&tlen, "a.txt", "late\n", (char *)NULL);
  fake_rule_reply(c.fetch, 200, "application/x-tar", tar, tlen);
  free(tar);
  fake_rule_hold(c.fetch, FAKE_HOLD_HEADERS);
  fake_rule_on_request(fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":9}"),
                       other_waits_for_fetch, &c);
  h->ud = &c;
  h->on_event = on_end;
  char *yaml = brr_xasprintf("%s  other:\n    run:\n      image: reg.test/busybox:1\n      cmd: exit 9\n", FULL);
  int rc = th_run(h, yaml, NULL);
  free(yaml);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "other/run failed"));
  th_assert(h, th_ended(h, "full/run succeeded"));
  char *art = tu_read_rel(h->results, "full/a.txt");
  th_assert(h, art && strcmp(art, "late\n") == 0);
  free(art);
  th_assert(h, th_clean(h));
  th_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_happy),
      cmocka_unit_test(test_own_process),
      cmocka_unit_test(test_image_command),
      cmocka_unit_test(test_image_missing),
      cmocka_unit_test(test_command_fails),
      cmocka_unit_test(test_container_removed_from_outside),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_finishing_not_cancelled),
      cmocka_unit_test(test_cancel_each_call),
  };
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
