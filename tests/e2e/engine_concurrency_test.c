/* engine e2e, concurrency: 20 containers alive at once on one loop, cancellation (running
 * wait, queued call, exec, attach), freeing a client with calls in flight, networks with
 * aliases reached from another container. */
#include <signal.h>

#include "e2e/engine_helpers.h"

/* ---- 20 at once ------------------------------------------------------------------------------- */

enum { N = 20 };

typedef struct life {
  brr_engine *e;
  int i;
  char *id;
  int64_t exit_code;
  int step;            /* 1 created, 2 started, 3 waiting, 4 exited, 5 removed */
  int errors;
  char *error;
  int *waiting, *max_waiting;
} life;

static void fail_life(life *l, const brr_engine_result *r) {
  l->errors++;
  if (!l->error) l->error = brr_xstrdup(r->error);
}

static void life_removed(void *ud, const brr_engine_result *r) {
  life *l = ud;
  if (r->status) fail_life(l, r);
  l->step = 5;
}

static void life_waited(void *ud, const brr_engine_result *r) {
  life *l = ud;
  --*l->waiting;
  if (r->status) fail_life(l, r);
  l->exit_code = r->exit_code;
  l->step = 4;
  brr_engine_container_remove(l->e, l->id, true, true, life_removed, l);
}

static void life_started(void *ud, const brr_engine_result *r) {
  life *l = ud;
  if (r->status) {
    fail_life(l, r);
    return;
  }
  l->step = 2;
  brr_engine_container_wait(l->e, l->id, NULL, life_waited, l);
  l->step = 3;
  if (++*l->waiting > *l->max_waiting) *l->max_waiting = *l->waiting;
}

static void life_created(void *ud, const brr_engine_result *r) {
  life *l = ud;
  if (r->status) {
    fail_life(l, r);
    return;
  }
  l->id = brr_xstrdup(r->id);
  l->step = 1;
  brr_engine_container_start(l->e, l->id, life_started, l);
}

static void kill_done(void *ud, const brr_engine_result *r) {
  if (r->status) fail_life(ud, r);
}

static void test_twenty_at_once(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  life ls[N] = {{0}};
  int waiting = 0, max_waiting = 0;
  char *cmds[N];
  box b = {0};
  RUN(&loop, &b, brr_engine_connect(e, box_cb, &b));   /* so only the 20 are in flight */
  box_clear(&b);
  uint64_t t0 = brr_mono_ms();
  for (int i = 0; i < N; i++) {
    /* nobody exits before the test says so: all 20 waits must be in flight together */
    cmds[i] = brr_xasprintf("trap 'exit %d' USR1; while :; do sleep 0.05; done", i + 1);
    const char *cmd[] = {"sh", "-c", cmds[i], NULL};
    brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = cmd, .network = "none"};
    ls[i] = (life){.e = e, .i = i, .waiting = &waiting, .max_waiting = &max_waiting};
    assert_non_null(brr_engine_container_create(e, &spec, life_created, &ls[i]));
  }
  brr_engine_stats st;
  brr_engine_get_stats(e, &st);
  assert_int_equal(st.in_flight, N);
  uint64_t end = brr_mono_ms() + 120000;
  while (max_waiting < N && brr_mono_ms() < end) {
    uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < N; i++)
      if (ls[i].errors) fail_msg("container %d: %s", i, ls[i].error);
  }
  assert_int_equal(max_waiting, N);
  uint64_t all_running = brr_mono_ms();
  for (int i = 0; i < N; i++) brr_engine_container_kill(e, ls[i].id, "SIGUSR1", kill_done, &ls[i]);
  for (;;) {
    int done = 0;
    for (int i = 0; i < N; i++) done += ls[i].step == 5;
    if (done == N) break;
    assert_true(brr_mono_ms() < end);
    uv_run(&loop, UV_RUN_ONCE);
  }
  for (int i = 0; i < N; i++) {
    if (ls[i].errors) fail_msg("container %d: %s", i, ls[i].error);
    assert_int_equal(ls[i].exit_code, i + 1);
  }
  print_message("20 containers: all running after %llu ms, all gone after %llu ms\n",
                (unsigned long long)(all_running - t0), (unsigned long long)(brr_mono_ms() - t0));
  assert_int_equal(brr_engine_tracked(e, BRR_ENGINE_CONTAINER), 0);
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  for (int i = 0; i < N; i++) {
    free(ls[i].id);
    free(ls[i].error);
    free(cmds[i]);
  }
}

/* ---- cancellation ----------------------------------------------------------------------------- */

static char *start_sleeper(brr_engine *e) {
  box b = {0};
  const char *cmd[] = {"sleep", "300", NULL};
  brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = cmd, .network = "none"};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *id = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, id, box_cb, &b));
  ASSERT_OK(&b);
  box_clear(&b);
  return id;
}

static void test_cancel(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  char *id = start_sleeper(e);
  box w = {0}, b = {0};
  /* a running wait */
  brr_engine_req *r = brr_engine_container_wait(e, id, NULL, box_cb, &w);
  spin(&loop, 300);
  assert_int_equal(w.calls, 0);
  uint64_t t = brr_mono_ms();
  brr_engine_cancel(r);
  brr_engine_cancel(r);   /* twice is once */
  assert_int_equal(w.calls, 0);   /* never from inside the call */
  wait_one(&loop, &w, 5000);
  assert_int_equal(w.status, BRR_ECANCELED);
  assert_true(w.done_ms - t < 1000);
  spin(&loop, 300);
  assert_int_equal(w.calls, 1);
  /* the container did not notice */
  RUN(&loop, &b, brr_engine_container_inspect(e, id, box_cb, &b));
  ASSERT_OK(&b);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(b.json, "State"), "Running")));

  /* an exec that streams, cancelled mid-way; an attach likewise */
  const char *cmd[] = {"sh", "-c", "echo started; sleep 30", NULL};
  brr_engine_exec_spec x = {.cmd = cmd, .on_output = box_out};
  box_clear(&w);
  r = brr_engine_exec_run(e, id, &x, box_cb, &w);
  t = brr_mono_ms() + 10000;
  while (!w.out.len && brr_mono_ms() < t) uv_run(&loop, UV_RUN_ONCE);
  assert_string_equal(w.out.data, "started\n");
  brr_engine_cancel(r);
  wait_one(&loop, &w, 5000);
  assert_int_equal(w.status, BRR_ECANCELED);
  brr_engine_stream_opts so = {.tty = -1, .on_output = box_out};
  box_clear(&w);
  r = brr_engine_container_attach(e, id, &so, box_cb, &w);
  spin(&loop, 200);
  brr_engine_cancel(r);
  wait_one(&loop, &w, 5000);
  assert_int_equal(w.status, BRR_ECANCELED);

  /* a call still waiting for the version: never sent */
  brr_engine *e2 = engine_new(&loop, NULL, NULL);
  box_clear(&w);
  r = brr_engine_container_inspect(e2, id, box_cb, &w);
  brr_engine_cancel(r);
  wait_one(&loop, &w, 5000);
  assert_int_equal(w.status, BRR_ECANCELED);
  spin(&loop, 200);
  brr_engine_stats st;
  brr_engine_get_stats(e2, &st);
  assert_true(st.http_requests <= 1);   /* at most the version negotiation */
  assert_int_equal(st.in_flight, 0);
  engine_done(&loop, e2);

  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  free(id);
  box_clear(&w), box_clear(&b);
}

/* Freeing a client with calls in flight: each callback once, with ECANCELED, right away. */
typedef struct free_ctx {
  box boxes[4];
  brr_engine *e;
  box late;
  brr_engine_req *late_req;
} free_ctx;

static void late_cb(void *ud, const brr_engine_result *r) {
  free_ctx *f = ud;
  box_cb(&f->boxes[0], r);
  /* starting something while the client is being freed: refused at once */
  f->late_req = brr_engine_container_inspect(f->e, "whatever", box_cb, &f->late);
}

static void test_free_in_flight(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  char *run_id = brr_xstrdup(brr_engine_run_id(e));
  char *id = start_sleeper(e);
  free_ctx f = {.e = e};
  brr_engine_container_wait(e, id, NULL, late_cb, &f);
  const char *cmd[] = {"sleep", "30", NULL};
  brr_engine_exec_spec x = {.cmd = cmd};
  brr_engine_exec_run(e, id, &x, box_cb, &f.boxes[1]);
  brr_engine_stream_opts so = {.tty = -1, .follow = true, .on_output = box_out};
  brr_engine_container_logs(e, id, &so, box_cb, &f.boxes[2]);
  spin(&loop, 300);
  brr_engine_container_inspect(e, id, box_cb, &f.boxes[3]);   /* just sent */
  brr_engine_free(e);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(f.boxes[i].calls, 1);
    assert_int_equal(f.boxes[i].status, BRR_ECANCELED);
  }
  assert_null(f.late_req);
  assert_int_equal(f.late.calls, 1);
  assert_int_equal(f.late.status, BRR_ECANCELED);
  uv_run(&loop, UV_RUN_DEFAULT);   /* the handles close; nothing else runs */
  for (int i = 0; i < 4; i++) assert_int_equal(f.boxes[i].calls, 1);

  /* the container outlived its client; a new client of the same run finds it by label */
  brr_engine_opts o = {.run_id = run_id};
  char *err = NULL;
  assert_int_equal(brr_engine_new(&loop, &o, &e, &err), 0);
  assert_int_equal(leftovers(e), 1);
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  for (int i = 0; i < 4; i++) box_clear(&f.boxes[i]);
  box_clear(&f.late);
  free(id), free(run_id);
}

/* ---- networks ---------------------------------------------------------------------------------- */

static void test_network_alias(void **state) {
  (void)state;
  brr_engine *e = engine_new(&loop, NULL, NULL);
  box b = {0};
  char *net = brr_xasprintf("brr-e2e-net-%s", brr_engine_run_id(e));
  const char *nlabels[] = {"brr.test=net", NULL};
  RUN(&loop, &b, brr_engine_network_create(e, net, nlabels, box_cb, &b));
  ASSERT_OK(&b);
  char *net_id = brr_xstrdup(b.id);
  /* the same name twice is refused, not duplicated */
  RUN(&loop, &b, brr_engine_network_create(e, net, NULL, box_cb, &b));
  assert_int_equal(b.status, BRR_EFAILED);
  assert_non_null(strstr(b.error, "already exists"));
  RUN(&loop, &b, brr_engine_list(e, BRR_ENGINE_NETWORK, "brr.test=net", box_cb, &b));
  ASSERT_OK(&b);
  bool found = false;
  const cJSON *it;
  cJSON_ArrayForEach(it, b.json) found |= strcmp(cJSON_GetObjectItem(it, "Id")->valuestring, net_id) == 0;
  assert_true(found);

  /* a server on the default bridge, connected with an alias afterwards */
  const char *sleep_cmd[] = {"sleep", "300", NULL};
  brr_engine_container_spec spec = {.image = TEST_IMAGE, .cmd = sleep_cmd};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *srv = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, srv, box_cb, &b));
  ASSERT_OK(&b);
  const char *aliases[] = {"brr-srv", NULL};
  RUN(&loop, &b, brr_engine_network_connect(e, net, srv, aliases, box_cb, &b));
  ASSERT_OK(&b);
  /* a second one joins at creation with its alias */
  const char *aliases2[] = {"brr-srv2", NULL};
  spec = (brr_engine_container_spec){.image = TEST_IMAGE, .cmd = sleep_cmd, .network = net,
                                     .aliases = aliases2};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *srv2 = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, srv2, box_cb, &b));
  ASSERT_OK(&b);

  const char *ping[] = {"sh", "-c", "ping -c1 -W5 brr-srv && ping -c1 -W5 brr-srv2", NULL};
  spec = (brr_engine_container_spec){.image = TEST_IMAGE, .cmd = ping, .network = net};
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  ASSERT_OK(&b);
  char *client = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, client, box_cb, &b));
  ASSERT_OK(&b);
  RUN(&loop, &b, brr_engine_container_wait(e, client, NULL, box_cb, &b));
  ASSERT_OK(&b);
  box l = {0};
  brr_engine_stream_opts so = {.tty = 0, .on_output = box_out};
  RUN(&loop, &l, brr_engine_container_logs(e, client, &so, box_cb, &l));
  if (b.exit_code != 0) fail_msg("ping failed (%lld): %s%s", (long long)b.exit_code,
                                 brr_buf_cstr(&l.out), brr_buf_cstr(&l.err));
  assert_non_null(strstr(l.out.data, "1 packets received"));
  /* once disconnected, the alias is gone from the network */
  RUN(&loop, &b, brr_engine_network_disconnect(e, net, srv, true, box_cb, &b));
  ASSERT_OK(&b);
  const char *ping1[] = {"ping", "-c1", "-W1", "brr-srv", NULL};
  spec.cmd = ping1;
  RUN(&loop, &b, brr_engine_container_create(e, &spec, box_cb, &b));
  char *client2 = brr_xstrdup(b.id);
  RUN(&loop, &b, brr_engine_container_start(e, client2, box_cb, &b));
  RUN(&loop, &b, brr_engine_container_wait(e, client2, NULL, box_cb, &b));
  assert_int_not_equal(b.exit_code, 0);
  cleanup_and_check(&loop, e);
  engine_done(&loop, e);
  free(client2), free(client), free(srv2), free(srv), free(net_id), free(net);
  box_clear(&b), box_clear(&l);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      ENGINE_TEST(test_twenty_at_once),
      ENGINE_TEST(test_cancel),
      ENGINE_TEST(test_free_in_flight),
      ENGINE_TEST(test_network_alias),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
