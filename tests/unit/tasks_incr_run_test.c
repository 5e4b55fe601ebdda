/* Incremental run steps without Docker (src/tasks/incr_task.c, incr_record.c): whole
 * `--incremental` runs through the task harness against the fake engine, the state and the
 * artifact store under the test's own $XDG_CACHE_HOME:
 *   - the first run records, a no-op second run reuses every node (status reused, no
 *     container made, artifacts restored byte for byte, artifacts.json the same, the log
 *     replayed after the "reused" line);
 *   - each input that changes reruns the node with the right "runs: ... changed" note: the
 *     image id, the step config, the environment, the source and `inputs:`, the artifacts of
 *     a dependency (and a dependency that reran with the same artifacts leaves it reused);
 *   - a committed image that is gone, outputs evicted from the store, an image pulled each
 *     run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/tasks_incr_support.h"

static const char *TWO =
    "version: 2.0\n"
    "steps:\n"
    "  a:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo one]\n"
    "      user: nobody\n" /* artifacts of a non-root step: the exec path the fake answers */
    "      artifacts:\n"
    "        out/*.txt:\n"
    "  b:\n"
    "    depends: [a]\n"
    "    inputs: ['src/**']\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo two, echo three]\n";

static void test_first_records_second_reuses(void **state) {
  (void)state;
  th *h = tis_new();
  int rc = tis_run(h, TWO, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "a/run succeeded"));
  th_assert(h, th_ended(h, "b/run succeeded"));
  th_assert(h, th_said(h, "runs: no earlier successful run"));
  /* one record per node, the artifact and the logs in the store, the key order kept */
  th_assert(h, tis_count_cache("brr/state/*/nodes/*.json") == 2);
  th_assert(h, tis_count_cache("brr/state/*/artifacts-order.json") == 1);
  th_assert(h, tis_count_cache("brr/state/*/hashcache") == 1);
  th_assert(h, tis_count_cache("brr/store/objects/*/*") >= 2);
  char *art1 = tu_read_rel(h->results, "a/a.txt");
  char *json1 = tu_read_rel(h->results, "artifacts.json");
  th_assert(h, art1 && !strcmp(art1, "artifact A\n"));
  th_assert(h, json1 && strstr(json1, "a/a.txt"));
  /* the two run containers (each beside its source container) */
  size_t creates = fake_engine_count_creates(h->fe, false);
  th_assert(h, creates == 2);
  size_t all_creates = fake_engine_count(h->fe, "POST", "/containers/create");
  size_t imports = fake_engine_count_imports(h->fe);
  th_assert(h, th_clean(h));

  /* nothing changed: both reused, nothing made on the engine, the results put back from the
   * store byte for byte (the results dir is gone before the run) */
  brr_rm_rf(h->results);
  rc = tis_run(h, TWO, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  th_assert(h, th_ended(h, "b/run reused"));
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/create") == all_creates);
  th_assert(h, fake_engine_count_imports(h->fe) == imports);
  th_assert(h, th_said(h, "reused: inputs unchanged since "));
  /* the log replayed after the reused line, stdout and stderr lines both */
  const char *out = brr_buf_cstr(&h->out);
  const char *reused = strstr(out, "reused: inputs unchanged since");
  th_assert(h, reused && strstr(reused, "[a/] hello from one"));
  th_assert(h, strstr(reused, "[a/] warning from one"));
  th_assert(h, strstr(reused, "[b/] hello from one"));
  char *art2 = tu_read_rel(h->results, "a/a.txt");
  char *json2 = tu_read_rel(h->results, "artifacts.json");
  th_assert(h, art2 && !strcmp(art1, art2));
  th_assert(h, json2 && !strcmp(json1, json2));
  free(art2);
  free(json2);
  th_assert(h, th_clean(h));

  /* and again, now from a run that itself reused: still the same bytes */
  rc = tis_run(h, TWO, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  json2 = tu_read_rel(h->results, "artifacts.json");
  th_assert(h, json2 && !strcmp(json1, json2));
  free(json2);

  /* without --incremental everything runs */
  brr_buf_reset(&h->ends);
  rc = th_run(h, TWO, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "a/run succeeded"));
  th_assert(h, th_ended(h, "b/run succeeded"));
  th_assert(h, fake_engine_count_creates(h->fe, false) == creates + 2);
  free(art1);
  free(json1);
  th_free(h);
}

/* Each input: the run after the change reruns with its note, the one after that reuses. */
static void test_image_changes(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  /* the tag now names another image */
  fake_rule_json(fake_engine_on(h->fe, "GET", "/images/reg.test/busybox:1/json"), 200,
                 "{\"Id\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\"}");
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  th_assert(h, th_ended(h, "a/run succeeded"));
  th_assert(h, th_ended(h, "b/run succeeded"));
  th_assert(h, tis_said_n(h, "runs: image changed") == 2);
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  th_assert(h, th_ended(h, "b/run reused"));
  th_free(h);
}

static void test_config_and_dependency(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  /* a's config changes but it makes the same artifact: b (whose `inputs:` leave the
   * changed buildrunner.yaml out), decided on a's new results, is still reused */
  char *y = brr_xstrdup(TWO);
  char *p = strstr(y, "echo one");
  memcpy(p, "echo une", 8);
  th_assert(h, tis_run(h, y, NULL) == 0);
  th_assert(h, th_ended(h, "a/run succeeded"));
  th_assert(h, th_said(h, "log1 a: runs: step config changed"));
  th_assert(h, th_ended(h, "b/run reused"));
  /* a's config changes again and its artifact too: b runs */
  memcpy(p, "echo uno", 8);
  tis_artifact(h, "artifact B\n");
  th_assert(h, tis_run(h, y, NULL) == 0);
  th_assert(h, th_said(h, "log1 a: runs: step config changed"));
  th_assert(h, th_said(h, "log1 b: runs: artifacts of other steps changed"));
  th_assert(h, th_ended(h, "b/run succeeded"));
  char *art = tu_read_rel(h->results, "a/a.txt");
  th_assert(h, art && !strcmp(art, "artifact B\n"));
  free(art);
  /* the new artifact is what a reuse restores now */
  brr_rm_rf(h->results);
  th_assert(h, tis_run(h, y, NULL) == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  art = tu_read_rel(h->results, "a/a.txt");
  th_assert(h, art && !strcmp(art, "artifact B\n"));
  free(art);
  free(y);
  th_free(h);
}

static void test_environment_changes(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  /* --publish-ports is part of what the container gets */
  th_opts o = {.publish_ports = true};
  th_assert(h, tis_run(h, TWO, &o) == 0);
  th_assert(h, tis_said_n(h, "runs: environment changed") == 2);
  th_assert(h, tis_run(h, TWO, &o) == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  /* the build number changes every run: it is not an input */
  th_assert(h, tis_run(h, TWO, &o) == 0);
  th_assert(h, th_ended(h, "b/run reused"));
  th_free(h);
}

static const char *NARROW =
    "steps:\n"
    "  all:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [make]\n"
    "  narrow:\n"
    "    inputs: ['src/**']\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [make src]\n";

static void test_source_and_inputs(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, NARROW, NULL) == 0);
  /* a file outside `inputs:` reruns the step that sees the whole tree only */
  th_file(h, "README", "read me\n");
  th_assert(h, tis_run(h, NARROW, NULL) == 0);
  th_assert(h, th_said(h, "log1 all: runs: source changed"));
  th_assert(h, th_ended(h, "all/run succeeded"));
  th_assert(h, th_ended(h, "narrow/run reused"));
  /* a file inside reruns both */
  th_file(h, "src/lib.c", "int lib;\n");
  th_assert(h, tis_run(h, NARROW, NULL) == 0);
  th_assert(h, th_said(h, "log1 all: runs: source changed"));
  th_assert(h, th_said(h, "log1 narrow: runs: source (inputs:) changed"));
  /* what .buildignore leaves out does not count */
  th_file(h, ".buildignore", "tmp\nscratch\n");
  th_assert(h, tis_run(h, NARROW, NULL) == 0);
  th_assert(h, th_ended(h, "all/run succeeded"));  /* .buildignore itself changed */
  th_file(h, "scratch/x", "x\n");
  th_assert(h, tis_run(h, NARROW, NULL) == 0);
  th_assert(h, th_ended(h, "all/run reused"));
  th_assert(h, th_ended(h, "narrow/run reused"));
  th_free(h);
}

static const char *COMMITTED =
    "steps:\n"
    "  c:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo one]\n"
    "    commit:\n"
    "      repository: made/c\n"
    "      tags: [v1]\n";

static void test_committed_image(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, COMMITTED, NULL) == 0);
  th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 1);
  /* its tags (v1 and the generated one) */
  size_t tags = fake_engine_count(h->fe, "POST", "/images/*/tag");
  /* reused while the image its container became is there: the commit node tags it again */
  th_assert(h, tis_run(h, COMMITTED, NULL) == 0);
  th_assert(h, th_ended(h, "c/run reused"));
  th_assert(h, th_ended(h, "c/commit succeeded"));
  th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 1);
  th_assert(h, fake_engine_count(h->fe, "POST", "/images/*/tag") == 2 * tags);
  const fake_request *ins = fake_engine_find(h->fe, "GET", "/images/sha256:*/json", 0);
  th_assert(h, ins != NULL);
  /* the committed image is gone: the step runs and commits again */
  fake_rule_error(fake_engine_on(h->fe, "GET", "/images/sha256:*/json"), 404, "No such image");
  th_assert(h, tis_run(h, COMMITTED, NULL) == 0);
  th_assert(h, th_said(h, "runs: its committed image sha256:"));
  th_assert(h, th_said(h, "is no longer on the engine"));
  th_assert(h, th_ended(h, "c/run succeeded"));
  th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 2);
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_outputs_evicted(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  /* the store loses its objects (evicted, or deleted by hand): the steps run and record
   * again */
  char *objects = brr_path_join(TIS_CACHE, "brr/store/objects");
  th_assert(h, brr_rm_rf(objects) == 0);
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  th_assert(h, th_said(h, "log1 a: runs: its outputs are no longer in the artifact store"));
  th_assert(h, th_ended(h, "a/run succeeded"));
  char *art = tu_read_rel(h->results, "a/a.txt");
  th_assert(h, art && !strcmp(art, "artifact A\n"));
  free(art);
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  free(objects);
  th_free(h);
}

static const char *PULLED =
    "steps:\n"
    "  p:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      cmds: [echo one]\n";

static void test_image_pulled_each_run(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, PULLED, NULL) == 0);
  th_assert(h, tis_run(h, PULLED, NULL) == 0);
  th_assert(h, th_said(h, "runs: its image reg.test/busybox:1 is pulled each run"));
  th_assert(h, th_ended(h, "p/run succeeded"));
  /* --local-images: nothing is pulled, so it may be reused */
  th_opts o = {.local_images = true};
  th_assert(h, tis_run(h, PULLED, &o) == 0);
  th_assert(h, th_ended(h, "p/run succeeded"));
  th_assert(h, tis_run(h, PULLED, &o) == 0);
  th_assert(h, th_ended(h, "p/run reused"));
  th_free(h);
}

static void test_cache_inside_build_dir(void **state) {
  (void)state;
  /* $XDG_CACHE_HOME inside the build dir: brr's own state and store there are not part of
   * the source (they change with every run) */
  th *h = tis_new();
  char *inside = brr_path_join(h->dir, ".cache");
  setenv("XDG_CACHE_HOME", inside, 1);
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  th_assert(h, tu_exists(h->dir, ".cache/brr/store"));
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  th_assert(h, th_ended(h, "b/run reused"));
  /* what else is there still counts */
  th_file(h, ".cache/other", "x\n");
  th_assert(h, tis_run(h, TWO, NULL) == 0);
  th_assert(h, th_said(h, "log1 a: runs: source changed"));
  setenv("XDG_CACHE_HOME", TIS_CACHE, 1);
  free(inside);
  th_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_first_records_second_reuses, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_image_changes, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_config_and_dependency, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_environment_changes, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_source_and_inputs, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_committed_image, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_outputs_evicted, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_image_pulled_each_run, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_cache_inside_build_dir, tis_setup, tis_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
