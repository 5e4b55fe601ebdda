/* One run over two engines of `engines:` (src/tasks/engines.c), both fake engines on their
 * own sockets, named by `host: unix://...` in the global config: the nodes spread over both,
 * the image a step committed on one moved to the other by the save->load stream (GET
 * /images/{name}/get into POST /images/load) or through the build registry (tag, push on the
 * source; pull, tag on the destination), an error at each call of a move, a cancel and an
 * abort while a move is in flight, and after every run nothing left on either engine (the
 * moved copy removed from the engine it was moved to). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/fake_build_support.h"

static fb_world W;
static fake_engine *E2;   /* engine "two"; engine "one" is W.eng */

/* base builds and commits team/base:1 (on "one", the first engine); d1 and d2 run in it.
 * With one job per engine, one of them runs on "two", and the image moves there. */
static const char *YAML = "steps:\n"
                          "  base:\n"
                          "    build:\n      dockerfile: \"FROM busybox\\n\"\n"
                          "    commit: {repository: team/base, tags: ['1']}\n"
                          "  d1:\n    run: {image: 'team/base:1', cmd: 'true'}\n"
                          "  d2:\n    run: {image: 'team/base:1', cmd: 'true'}\n";

static int setup(void **state) {
  (void)state;
  fb_setup(&W);
  E2 = fake_engine_start();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fb_teardown(&W);
  fake_engine_stop(E2);
  return 0;
}

static void load_two(const char *extra) {
  char *g = brr_xasprintf("engines:\n  one: {host: '%s', jobs: 1}\n  two: {host: '%s', jobs: 1}\n%s",
                          fake_engine_host(W.eng), fake_engine_host(E2), extra ? extra : "");
  fb_load(&W, YAML, g);
  free(g);
}

/* Nothing the run made is left on the second engine either (fb_run checks the first). */
static void assert_e2_clean(void) {
  assert_int_equal(fake_engine_live(E2, FAKE_CONTAINER), 0);
  assert_int_equal(fake_engine_live(E2, FAKE_NETWORK), 0);
  assert_int_equal(fake_engine_live(E2, FAKE_VOLUME), 0);
}

static bool logged(const char *needle) { return strstr(brr_buf_cstr(&W.logs), needle) != NULL; }

/* The dependent that moved the image first: the one node with a move phase. */
static const char *moved_node(void) {
  const char *p = brr_buf_cstr(&W.phases);
  assert_int_equal(fb_count(p, " move\n"), 1);
  return strstr(p, "d1/run move\n") ? "d1/run" : "d2/run";
}

static void test_spread_and_stream(void **state) {
  (void)state;
  load_two(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_e2_clean();
  assert_int_equal(fb_status(&W, "d1/run"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fb_status(&W, "d2/run"), BRR_STATUS_SUCCEEDED);
  /* the build and the commit on the first engine, one dependent on each */
  assert_int_equal(fake_engine_count(W.eng, "POST", "/build"), 1);
  assert_int_equal(fake_engine_count(E2, "POST", "/build"), 0);
  assert_true(fake_engine_created(W.eng, FAKE_CONTAINER) >= 1);
  assert_true(fake_engine_created(E2, FAKE_CONTAINER) >= 1);
  /* /source: the build dir imported once on each engine a run step used */
  assert_int_equal(fake_engine_count_imports(W.eng), 1);
  assert_int_equal(fake_engine_count_imports(E2), 1);
  /* the image went by the stream, once, and arrived whole (the fake refuses a cut tar) */
  assert_int_equal(fake_engine_count(W.eng, "GET", "/images/team/base:1/get"), 1);
  assert_int_equal(fake_engine_count(E2, "POST", "/images/load"), 1);
  assert_int_equal(fake_engine_find(E2, "POST", "/images/load", 0)->status, 200);
  assert_true(logged("Moving image team/base:1 from engine one to engine two"));
  assert_true(logged("Moved image team/base:1 from engine one to engine two: "));
  /* the move is a phase of the node that needed it, which then ran on "two" */
  const char *mover = moved_node();
  assert_int_equal(fake_engine_count_creates(E2, false), 1);
  char *label = brr_xasprintf("\"brr.step\":\"%.2s\"", mover);
  assert_non_null(strstr(fake_engine_find_create(E2, false, 0)->body, label));
  free(label);
  /* the copy brr put on "two" is its own: removed at the end; the original stays */
  assert_int_equal(fake_engine_count(E2, "DELETE", "/images/team/base:1"), 1);
  assert_int_equal(fake_engine_count(W.eng, "DELETE", "/images/team/base:1"), 0);
}

/* A third dependent: wherever it runs, the image is not moved to "two" a second time. */
static void test_moved_once(void **state) {
  (void)state;
  char *y = brr_xasprintf("%s  d3:\n    run: {image: 'team/base:1', cmd: 'true'}\n", YAML);
  char *g = brr_xasprintf("engines:\n  one: {host: '%s', jobs: 1}\n  two: {host: '%s', jobs: 1}\n",
                          fake_engine_host(W.eng), fake_engine_host(E2));
  fb_load(&W, y, g);
  free(y);
  free(g);
  assert_int_equal(fb_run(&W), 0);
  assert_e2_clean();
  assert_int_equal(fb_status(&W, "d3/run"), BRR_STATUS_SUCCEEDED);
  assert_int_equal(fake_engine_count(W.eng, "GET", "/images/*/get"), 1);
  assert_int_equal(fake_engine_count(E2, "POST", "/images/load"), 1);
  assert_int_equal(fb_count(brr_buf_cstr(&W.phases), " move\n"), 1);
  /* three runs over the two engines (each with its source container) */
  assert_int_equal(fake_engine_created_containers(W.eng, false) + fake_engine_created_containers(E2, false), 3);
  assert_int_equal(fake_engine_created_containers(W.eng, true) + fake_engine_created_containers(E2, true), 3);
}

static void test_through_build_registry(void **state) {
  (void)state;
  char *g = brr_xasprintf("build-registry: %s\n", W.reg.host);
  load_two(g);
  free(g);
  assert_int_equal(fb_run(&W), 0);
  assert_e2_clean();
  /* no stream: tag and push on "one", pull and tag on "two" */
  assert_int_equal(fake_engine_count(W.eng, "GET", "/images/*/get"), 0);
  assert_int_equal(fake_engine_count(E2, "POST", "/images/load"), 0);
  char *via = brr_xasprintf("%s/brr-move-*", W.reg.host);
  char *push = brr_xasprintf("/images/%s/push", via);
  assert_int_equal(fake_engine_count(W.eng, "POST", "/images/team/base:1/tag"), 1);
  assert_int_equal(fake_engine_count(W.eng, "POST", push), 1);
  const fake_request *pull = fake_engine_find_pull(E2, 0);
  assert_non_null(pull);
  assert_non_null(strstr(pull->query, "brr-move-"));
  assert_int_equal(fake_engine_count(E2, "POST", "/images/*brr-move-*/tag"), 1);
  char *msg = brr_xasprintf("Moved image team/base:1 from engine one to engine two through %s/brr-move-", W.reg.host);
  assert_true(logged(msg));
  /* brr's own name for the move and the moved copy both go from "two" */
  assert_int_equal(fake_engine_count(E2, "DELETE", "/images/team/base:1"), 1);
  char *del = brr_xasprintf("/images/%s", via);
  assert_int_equal(fake_engine_count(E2, "DELETE", del), 1);
  free(msg), free(via), free(push), free(del);
}

/* The dependent on "two" failed with the move's message naming the image and both engines. */
static void assert_move_failed(const char *cause) {
  const char *failed = fb_status(&W, "d1/run") == BRR_STATUS_FAILED ? "d1/run" : "d2/run";
  assert_int_equal(fb_status(&W, failed), BRR_STATUS_FAILED);
  assert_non_null(strstr(fb_error(&W, failed), "moving image team/base:1 from engine one to engine two: "));
  if (cause && !strstr(fb_error(&W, failed), cause)) fail_msg("error: %s (want %s)", fb_error(&W, failed), cause);
  /* its own task never started there */
  assert_int_equal(fake_engine_count(E2, "POST", "/containers/create"), 0);
}

static void test_save_cut(void **state) {
  (void)state;
  /* the save sends part of its tar, then the connection drops */
  fake_rule *r = fake_engine_on(W.eng, "GET", "/images/*/get");
  fake_rule_cut(fake_rule_reply(r, 200, "application/x-tar", "partial tar bytes", (size_t)-1));
  load_two(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_e2_clean();
  assert_move_failed(NULL);
  /* the load got nothing whole: it was cancelled or refused, never loaded */
  for (size_t i = 0; i < fake_engine_count(E2, "POST", "/images/load"); i++)
    assert_int_not_equal(fake_engine_find(E2, "POST", "/images/load", i)->status, 200);
  assert_int_equal(fake_engine_count(E2, "DELETE", "/images/team/base:1"), 0);
}

static void test_save_refused(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "GET", "/images/*/get", 0, 500);
  load_two(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_e2_clean();
  assert_move_failed("fake failure");
}

static void test_load_refused(void **state) {
  (void)state;
  fake_rule_error(fake_engine_on(E2, "POST", "/images/load"), 500, "no space left for the layers");
  load_two(NULL);
  assert_int_equal(fb_run(&W), 1);
  assert_e2_clean();
  assert_move_failed("no space left for the layers");
}

static void test_registry_push_refused(void **state) {
  (void)state;
  fake_engine_fail(W.eng, "POST", "/images/*brr-move-*/push", 0, 500);
  char *g = brr_xasprintf("build-registry: %s\n", W.reg.host);
  load_two(g);
  free(g);
  assert_int_equal(fb_run(&W), 1);
  assert_e2_clean();
  assert_move_failed(NULL);
  assert_int_equal(fake_engine_count_pulls(E2), 0);
}

static void test_registry_pull_refused(void **state) {
  (void)state;
  fake_rule_query_has(fake_engine_fail(E2, "POST", "/images/create", 0, 500), "fromImage");
  char *g = brr_xasprintf("build-registry: %s\n", W.reg.host);
  load_two(g);
  free(g);
  assert_int_equal(fb_run(&W), 1);
  assert_e2_clean();
  assert_move_failed(NULL);
}

/* ---- cancel and abort while a move is in flight ---- */

static bool when_load_arrived(fb_world *w) {
  (void)w;
  if (fake_engine_count(E2, "POST", "/images/load") == 0) return false;
  fb_sigint();
  return true;
}

static bool when_pull_arrived(fb_world *w) {
  (void)w;
  if (fake_engine_count_pulls(E2) == 0) return false;
  fb_sigint();
  return true;
}

static void stop_in_save(int signals) {
  fb_hold_default(W.eng, "GET", "/images/*/get");
  load_two(NULL);
  fb_at(&W, "GET", "/images/*/get", signals);
  assert_int_equal(fb_run(&W), 130);
  assert_e2_clean();
  const char *moving = fb_status(&W, "d1/run") == BRR_STATUS_SUCCEEDED ? "d2/run" : "d1/run";
  assert_int_equal(fb_status(&W, moving), BRR_STATUS_CANCELED);
  assert_int_equal(fake_engine_count(E2, "POST", "/containers/create"), 0);
}

static void test_cancel_in_save(void **state) {
  (void)state;
  stop_in_save(1);
}

static void test_abort_in_save(void **state) {
  (void)state;
  stop_in_save(2);
}

static void test_cancel_in_load(void **state) {
  (void)state;
  /* the save's tar is all sent; the load holds its answer */
  fb_hold_default(E2, "POST", "/images/load");
  load_two(NULL);
  fb_then(&W, when_load_arrived);
  assert_int_equal(fb_run(&W), 130);
  assert_e2_clean();
  const char *moving = fb_status(&W, "d1/run") == BRR_STATUS_SUCCEEDED ? "d2/run" : "d1/run";
  assert_int_equal(fb_status(&W, moving), BRR_STATUS_CANCELED);
  assert_int_equal(fake_engine_count(E2, "POST", "/containers/create"), 0);
}

static void test_cancel_in_registry_pull(void **state) {
  (void)state;
  fb_hold_default(E2, "POST", "/images/create");
  char *g = brr_xasprintf("build-registry: %s\n", W.reg.host);
  load_two(g);
  free(g);
  fb_then(&W, when_pull_arrived);
  assert_int_equal(fb_run(&W), 130);
  assert_e2_clean();
  assert_int_equal(fake_engine_count(E2, "POST", "/containers/create"), 0);
}

/* An image larger than what the relay keeps in memory (8 MB): the save pauses while the
 * load catches up, and the whole tar still arrives, byte for byte. */
static void test_stream_large(void **state) {
  (void)state;
  size_t big = 12u << 20;
  char *layer = malloc(big + 1);
  assert_non_null(layer);
  for (size_t i = 0; i < big; i++) layer[i] = (char)('a' + i % 23);
  layer[big] = '\0';
  size_t len = 0;
  char *tar = fake_tar(&len, "manifest.json", "[{\"Config\":\"c.json\",\"RepoTags\":[\"team/base:1\"],\"Layers\":[\"l/layer.tar\"]}]",
                       "c.json", "{}", "l/layer.tar", layer, (char *)NULL);
  free(layer);
  fake_rule_reply(fake_engine_on(W.eng, "GET", "/images/team/base:1/get"), 200, "application/x-tar", tar, len);
  load_two(NULL);
  assert_int_equal(fb_run(&W), 0);
  assert_e2_clean();
  const fake_request *q = fake_engine_find(E2, "POST", "/images/load", 0);
  assert_non_null(q);
  assert_int_equal(q->status, 200);
  assert_int_equal(q->body_len, len);
  assert_memory_equal(q->body, tar, len);
  char *mb = brr_xasprintf("Moved image team/base:1 from engine one to engine two: %.1f MB in ", (double)len / 1e6);
  assert_true(logged(mb));
  free(mb);
  free(tar);
}

/* Once the image is there, the node's own task runs: a cancel or an abort reaches it. */
static bool when_started_on_two(fb_world *w) {
  (void)w;
  if (fake_engine_count(E2, "POST", "/containers/*/start") == 0) return false;
  fb_sigint();
  return true;
}

static void stop_after_move(int signals) {
  fb_hold_default(E2, "POST", "/containers/*/wait");
  load_two(NULL);
  for (int i = 0; i < signals; i++) fb_then(&W, when_started_on_two);
  assert_int_equal(fb_run(&W), 130);
  assert_e2_clean();
  assert_int_equal(fake_engine_count(E2, "POST", "/images/load"), 1);
  const char *mover = moved_node();
  assert_int_equal(fb_status(&W, mover), BRR_STATUS_CANCELED);
  /* its container on "two" was made, then removed */
  assert_int_equal(fake_engine_created_containers(E2, false), 1);
}

static void test_cancel_after_move(void **state) {
  (void)state;
  stop_after_move(1);
}

static void test_abort_after_move(void **state) {
  (void)state;
  stop_after_move(2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_spread_and_stream), T(test_through_build_registry), T(test_save_cut),
      T(test_save_refused),      T(test_load_refused),           T(test_registry_push_refused),
      T(test_registry_pull_refused), T(test_cancel_in_save),     T(test_abort_in_save),
      T(test_cancel_in_load),    T(test_cancel_in_registry_pull), T(test_stream_large),
      T(test_cancel_after_move), T(test_abort_after_move), T(test_moved_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
