/* engine e2e, the cleanup registry: after the asynchronous cleanup, the blocking one, and the
 * blocking one run from a signal handler with a call in flight, the engine holds nothing
 * labelled with the run (counted with the API by label filter, not by the client). */
#include <signal.h>

#include "e2e/engine_helpers.h"

typedef struct objects {
  char *running, *created, *with_volume;
  char *image_commit, *tag;
  char *kept;
} objects;

static void objects_free(objects *o) {
  free(o->running), free(o->created), free(o->with_volume);
  free(o->image_commit), free(o->tag), free(o->kept);
}

static char *create(brr_engine *e, const brr_engine_container_spec *spec) {
  box b = {0};
  RUN(&loop, &b, brr_engine_container_create(e, spec, box_cb, &b));
  ASSERT_OK(&b);
  char *id = brr_xstrdup(b.id);
  box_clear(&b);
  return id;
}

/* One of everything brr can create, in the states that make removal hard: a running
 * container on a network, a volume in use, images with names. */
static void make_objects(brr_engine *e, objects *o) {
  box b = {0};
  const char *rid = brr_engine_run_id(e);
  const char *sleep_cmd[] = {"sleep", "300", NULL};
  brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = sleep_cmd};
  o->running = create(e, &spec);
  RUN(&loop, &b, brr_engine_container_start(e, o->running, box_cb, &b));
  ASSERT_OK(&b);
  o->created = create(e, &spec);
  char *net = brr_xasprintf("brr-e2e-clean-%s", rid);
  RUN(&loop, &b, brr_engine_network_create(e, net, NULL, box_cb, &b));
  ASSERT_OK(&b);
  RUN(&loop, &b, brr_engine_network_connect(e, net, o->running, NULL, box_cb, &b));
  ASSERT_OK(&b);
  char *net2 = brr_xasprintf("brr-e2e-clean2-%s", rid);
  RUN(&loop, &b, brr_engine_network_create(e, net2, NULL, box_cb, &b));
  ASSERT_OK(&b);
  RUN(&loop, &b, brr_engine_volume_create(e, NULL, NULL, box_cb, &b));
  ASSERT_OK(&b);
  char *bind = brr_xasprintf("%s:/data", b.id);
  const char *binds[] = {bind, NULL};
  spec.binds = binds;
  o->with_volume = create(e, &spec);
  RUN(&loop, &b, brr_engine_container_commit(e, o->running, NULL, box_cb, &b));
  ASSERT_OK(&b);
  o->image_commit = brr_xstrdup(b.id);
  /* an image built on that one: the parent can only go after its child */
  spec = (brr_engine_container_spec){.image = o->image_commit, .cmd = sleep_cmd};
  char *on_commit = create(e, &spec);
  RUN(&loop, &b, brr_engine_container_commit(e, on_commit, NULL, box_cb, &b));
  ASSERT_OK(&b);
  free(on_commit);
  o->tag = brr_xasprintf("brr-e2e-tag-%s:t", rid);
  RUN(&loop, &b, brr_engine_image_tag(e, TEST_IMAGE, o->tag, box_cb, &b));
  ASSERT_OK(&b);
  /* a committed image the user keeps: forgotten by the registry */
  char *repo = brr_xasprintf("brr-e2e-kept-%s", rid);
  brr_engine_commit_opts co = {.repo = repo, .tag = "v1"};
  RUN(&loop, &b, brr_engine_container_commit(e, o->created, &co, box_cb, &b));
  ASSERT_OK(&b);
  o->kept = brr_xstrdup(b.id);
  brr_engine_untrack(e, BRR_ENGINE_IMAGE, o->kept);
  /* a create cut short: the answer never comes back, the container may well exist */
  spec = (brr_engine_container_spec){.image = TEST_IMAGE, .cmd = sleep_cmd};
  box_clear(&b);
  brr_engine_req *r = brr_engine_container_create(e, &spec, box_cb, &b);
  brr_engine_cancel(r);
  wait_one(&loop, &b, 10000);
  assert_int_equal(b.status, BRR_ECANCELED);
  spin(&loop, 500);   /* the engine goes on with it */

  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_CONTAINER), 4);
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_NETWORK), 2);
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_VOLUME), 1);
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_IMAGE), 3);   /* 2 commits and a tag */
  assert_true(leftovers(e) >= 4 + 2 + 1 + 2);
  free(repo), free(bind), free(net2), free(net);
  box_clear(&b);
}

/* After a cleanup: nothing of the run but the kept image, and shared images untouched. */
static void check_clean(brr_engine *e, objects *o) {
  for (int k = 0; k < BRR_ENGINE_KIND_COUNT; k++)
    assert_int_equal(brr_engine_tracked(e, (brr_engine_kind)k), 0);
  assert_int_equal(leftovers(e), 1);
  box b = {0};
  RUN(&loop, &b, brr_engine_image_inspect(e, TEST_IMAGE, box_cb, &b));
  ASSERT_OK(&b);
  RUN(&loop, &b, brr_engine_image_inspect(e, o->tag, box_cb, &b));
  assert_int_equal(b.status, BRR_ENOENT);
  RUN(&loop, &b, brr_engine_image_remove(e, o->kept, true, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(leftovers(e), 0);
  box_clear(&b);
}

static void test_cleanup_async(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  objects o = {0};
  make_objects(e, &o);
  box b = {0};
  RUN(&loop, &b, brr_engine_cleanup(e, box_cb, &b));
  ASSERT_OK(&b);
  assert_int_equal(b.calls, 1);
  check_clean(e, &o);
  /* nothing left to do is fine too */
  RUN(&loop, &b, brr_engine_cleanup(e, box_cb, &b));
  ASSERT_OK(&b);
  engine_done(&loop, e);
  objects_free(&o);
  box_clear(&b);
}

static void test_cleanup_sync(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  objects o = {0};
  make_objects(e, &o);
  assert_int_equal(brr_engine_cleanup_sync(e), 0);
  check_clean(e, &o);
  engine_done(&loop, e);
  objects_free(&o);
}

typedef struct sig_ctx {
  brr_engine *e;
  int runs, left;
} sig_ctx;

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  sig_ctx *c = s->data;
  c->runs++;
  c->left = brr_engine_cleanup_sync(c->e);
  uv_signal_stop(s);
}

static void test_cleanup_sync_from_signal(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  objects o = {0};
  make_objects(e, &o);
  /* a wait in flight when the signal comes */
  box w = {0};
  brr_engine_container_wait(e, o.running, NULL, box_cb, &w);
  spin(&loop, 200);
  uv_signal_t sig;
  sig_ctx c = {.e = e};
  uv_signal_init(&loop, &sig);
  sig.data = &c;
  uv_signal_start(&sig, on_signal, SIGUSR2);
  raise(SIGUSR2);
  wait_one(&loop, &w, 60000);
  assert_int_equal(c.runs, 1);
  assert_int_equal(c.left, 0);
  /* the container went away under the wait: the wait ends, once */
  spin(&loop, 200);
  assert_int_equal(w.calls, 1);
  check_clean(e, &o);
  uv_close((uv_handle_t *)&sig, NULL);
  engine_done(&loop, e);
  objects_free(&o);
  box_clear(&w);
}

static void test_cleanup_cancel(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  objects o = {0};
  make_objects(e, &o);
  box b = {0};
  brr_engine_req *r = brr_engine_cleanup(e, box_cb, &b);
  spin(&loop, 20);
  brr_engine_cancel(r);
  wait_one(&loop, &b, 60000);
  assert_int_equal(b.status, BRR_ECANCELED);
  spin(&loop, 200);
  assert_int_equal(b.calls, 1);
  RUN(&loop, &b, brr_engine_cleanup(e, box_cb, &b));
  ASSERT_OK(&b);
  check_clean(e, &o);
  engine_done(&loop, e);
  objects_free(&o);
  box_clear(&b);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      ENGINE_TEST(test_cleanup_async),
      ENGINE_TEST(test_cleanup_sync),
      ENGINE_TEST(test_cleanup_sync_from_signal),
      ENGINE_TEST(test_cleanup_cancel),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
