/* Caches and artifacts of the run node without Docker: the lister container of steps that
 * run the image's own command (file and directory artifacts), errors at each of its calls,
 * a cache whose lock another holder has (waited for, then saved; or cancelled while
 * waiting), cache directories that cannot be made, and no save after a failed command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/task_harness.h"

static const char *LISTER =
    "steps:\n"
    "  img:\n"
    "    run:\n"
    "      image: reg.test/app:1\n"
    "      artifacts:\n"
    "        dist/*.txt:\n"
    "        dist/tree:\n"
    "        dist/flat:\n"
    "          format: uncompressed\n";

/* The lister's output: a file and two directories. */
static void script_lister(th *h) {
  /* the lister container is known to the fake by that name (so start, wait, removal work) */
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "lister", NULL);
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/create"), "brr_list"), 201,
                 "{\"Id\":\"lister\"}");
  char *mux = NULL;
  size_t len = 0;
  static const char listing[] = "0\0f\0dist/a.txt\0/source/dist/a.txt\0"
                                "1\0d\0dist/tree\0/source/dist/tree\0"
                                "2\0d\0dist/flat\0/source/dist/flat\0";
  fake_mux_frame(&mux, &len, 1, listing, sizeof listing - 1);
  fake_rule_reply(fake_engine_on(h->fe, "GET", "/containers/lister/logs"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
  free(mux);
  size_t tl = 0;
  char *tar = fake_tar(&tl, "a.txt", "A\n", (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "dist/a.txt"), 200,
                  "application/x-tar", tar, tl);
  free(tar);
  tar = fake_tar(&tl, "tree/", "", "tree/x", "X\n", "tree/sub/", "", "tree/sub/y", "Y\n", (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "dist/tree"), 200,
                  "application/x-tar", tar, tl);
  free(tar);
  tar = fake_tar(&tl, "flat/", "", "flat/f1", "F1\n", (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "dist/flat"), 200,
                  "application/x-tar", tar, tl);
  free(tar);
}

static void test_lister(void **state) {
  (void)state;
  th *h = th_new();
  script_lister(h);
  int rc = th_run(h, LISTER, NULL);
  th_assert(h, rc == 0);
  /* the lister ran busybox from the docker registry, on the run container's volumes */
  const fake_request *cr = fake_engine_find_create(h->fe, false, 1);
  th_assert(h, cr && strstr(cr->body, "busybox:latest") && strstr(cr->body, "VolumesFrom"));
  char *a = tu_read_rel(h->results, "img/a.txt");
  th_assert(h, a && !strcmp(a, "A\n"));
  free(a);
  /* an uncompressed directory keeps its path; others become one archive named after them */
  char *f1 = tu_read_rel(h->results, "img/dist/flat/f1");
  th_assert(h, f1 && !strcmp(f1, "F1\n"));
  free(f1);
  th_assert(h, tu_exists(h->results, "img/tree.tar.gz"));
  char *tgz = brr_path_join(h->results, "img/tree.tar.gz");
  tu_tar t;
  th_assert(h, tu_tar_read(tgz, &t));
  th_assert(h, tu_tar_find(&t, "tree/sub/y") != NULL);
  tu_tar_free(&t);
  free(tgz);
  char *json = tu_read_rel(h->results, "artifacts.json");
  th_assert(h, json && strstr(json, "img/tree.tar.gz") && strstr(json, "img/a.txt"));
  free(json);
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_lister_errors(void **state) {
  (void)state;
  static const struct {
    const char *method, *pattern, *json;
    int status;
  } calls[] = {
      {"POST", "/containers/create", NULL, 500},       /* matched with the lister's body below */
      {"POST", "/containers/lister/start", NULL, 500},
      {"POST", "/containers/lister/wait", NULL, 500},
      {"POST", "/containers/lister/wait", "{\"StatusCode\":2}", 200},
      {"GET", "/containers/lister/logs", NULL, 500},
      {"GET", "/containers/*/archive", NULL, 404},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(calls); i++) {
    th *h = th_new();
    script_lister(h);
    fake_rule *r = fake_engine_on(h->fe, calls[i].method, calls[i].pattern);
    if (i == 0) fake_rule_body_has(r, "brr_list");
    if (calls[i].json) fake_rule_json(r, calls[i].status, calls[i].json);
    else fake_rule_error(r, calls[i].status, "lister trouble");
    int rc = th_run(h, LISTER, NULL);
    if (rc != 1) fprintf(stderr, "lister call %zu\n", i);
    th_assert(h, rc == 1);
    th_assert(h, th_ended(h, calls[i].json ? "exited with code 2" : "lister trouble"));
    /* (the fake's "lister" stays when its creation was refused) */
    th_assert(h, fake_engine_live(h->fe, FAKE_CONTAINER) == (i == 0 ? 1u : 0u));
    th_free(h);
  }
  /* the listing script's output is not a listing */
  th *h = th_new();
  script_lister(h);
  fake_rule_reply(fake_engine_on(h->fe, "GET", "/containers/lister/logs"), 200,
                  "application/vnd.docker.multiplexed-stream", "\1\0\0\0\0\0\0\3abc", 11);
  int rc = th_run(h, LISTER, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "listing artifacts"));
  th_free(h);
}

/* ---- caches ---- */

static const char *CACHED =
    "steps:\n"
    "  c:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      caches:\n"
    "        deps: /cache/deps\n"
    "        /cache/shared: [shared-v2, shared-v1]\n"
    "      cmds:\n"
    "        - echo one\n"
    "        - echo two\n";

/* The same as a non-root user: caches then go in by a mkdir exec and a PUT into the started
 * container, and the commands run by exec (docs/run.md). */
static const char *CACHED_USER =
    "steps:\n"
    "  c:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      user: nobody\n"
    "      caches:\n"
    "        deps: /cache/deps\n"
    "        /cache/shared: [shared-v2, shared-v1]\n"
    "      cmds:\n"
    "        - echo one\n"
    "        - echo two\n";

static th *cached_new(char **archive) {
  th *h = th_new();
  char *caches = brr_path_join(h->dir, "caches");
  char *g = brr_xasprintf("caches-root: %s\n", caches);
  th_file(h, ".buildrunner.yaml", g);
  free(g);
  brr_mkdir_p(caches, 0755);
  /* a shared-v1 archive to restore (the newest of its family) */
  size_t tl = 0;
  char *tar = fake_tar(&tl, "stamp", "v1\n", (char *)NULL);
  char *old = brr_path_join(caches, "shared-v1.tar");
  brr_write_file(old, tar, tl);
  free(old);
  free(tar);
  *archive = brr_xasprintf("%s/%s-deps.tar", caches, brr_path_basename(h->dir));
  free(caches);
  return h;
}

typedef struct lock_ctx {
  brr_cache_lock lock;
  bool held, cancel;
} lock_ctx;

/* When brr says it waits for the lock: let go of it (or cancel the run). */
static void on_wait_log(th *h, const brr_event *ev) {
  lock_ctx *c = h->ud;
  if (ev->type != BRR_EV_LOG || !ev->text || !strstr(ev->text, "Waiting for the lock")) return;
  if (c->cancel) {
    raise(SIGINT);
  } else if (c->held) {
    brr_cache_lock_release(&c->lock);
    c->held = false;
  }
}

static void test_cache_lock_wait(void **state) {
  (void)state;
  char *archive;
  th *h = cached_new(&archive);
  lock_ctx c = {0};
  assert_int_equal(brr_cache_lock_try(archive, true, &c.lock), 0);
  c.held = true;
  h->ud = &c;
  h->on_event = on_wait_log;
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "HEAD", "/containers/*/archive"), "path=/cache/shared"),
                  404, "Could not find the file");
  int rc = th_run(h, CACHED, NULL);
  if (c.held) brr_cache_lock_release(&c.lock);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "Waiting for the lock on cache"));
  th_assert(h, th_said(h, "Saved cache"));
  /* restored into the created container (the commands are its own process): /cache/shared
   * is not there, /cache is, so one PUT at /cache makes shared/, then the shared-v1 archive
   * PUT at /cache/shared; no exec at all */
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/*/exec") == 0);
  const fake_request *st = fake_engine_find(h->fe, "HEAD", "/containers/*/archive", 1);
  th_assert(h, st && !strcmp(st->query, "path=/cache"));
  /* (/source came from the source container: no PUT of its own) */
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 2);
  const fake_request *mk = fake_engine_find(h->fe, "PUT", "/containers/*/archive", 0);
  th_assert(h, mk && !strcmp(mk->query, "path=/cache") && memmem(mk->body, mk->body_len, "shared/", 7));
  const fake_request *put = fake_engine_find(h->fe, "PUT", "/containers/*/archive", 1);
  th_assert(h, put && strstr(put->query, "path=/cache/shared"));
  tu_tar t;
  th_assert(h, tu_tar_read(archive, &t));
  tu_tar_free(&t);
  char *hist = brr_path_join(h->dir, "caches/cache_history.log");
  char *log = tu_read(hist);
  th_assert(h, log && strstr(log, "c"));
  free(log);
  free(hist);
  th_free(h);
  free(archive);

  /* cancelled while waiting for the lock */
  h = cached_new(&archive);
  c = (lock_ctx){.cancel = true};
  assert_int_equal(brr_cache_lock_try(archive, true, &c.lock), 0);
  c.held = true;
  h->ud = &c;
  h->on_event = on_wait_log;
  th_opts o = {.handle_signals = true};
  rc = th_run(h, CACHED, &o);
  brr_cache_lock_release(&c.lock);
  th_assert(h, rc == 130);
  th_assert(h, th_ended(h, "c/run canceled"));
  th_assert(h, th_clean(h));
  th_free(h);
  free(archive);
}

static void test_cache_troubles(void **state) {
  (void)state;
  char *archive;
  /* the cache directories cannot be made by the mkdir exec (a non-root user: caches go in
   * by exec into the started container): a warning, and the step goes on */
  th *h = cached_new(&archive);
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "mkdir"), 201,
                 "{\"Id\":\"mk\"}");
  fake_rule_json(fake_engine_on(h->fe, "GET", "/exec/mk/json"), 200, "{\"ExitCode\":1,\"Running\":false}");
  int rc = th_run(h, CACHED_USER, NULL);
  th_assert(h, rc == 0);
  const fake_request *mk = fake_engine_find(h->fe, "POST", "/containers/*/exec", 0);
  th_assert(h, mk && strstr(mk->body, "\"mkdir\",\"-p\",\"--\",\"/cache/shared\""));
  th_assert(h, th_said(h, "issue creating the cache directories"));
  th_assert(h, th_said(h, "Restored cache"));
  th_free(h);
  free(archive);

  /* the same on the own-process path: the PUT that makes the missing directories fails, a
   * warning, the cache is not put, and the step goes on */
  h = cached_new(&archive);
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "HEAD", "/containers/*/archive"), "path=/cache/shared"),
                  404, "Could not find the file");
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "PUT", "/containers/*/archive"), "path=/cache"), 500,
                  "read-only file system");
  rc = th_run(h, CACHED, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "An error occurred when trying to use cache"));
  th_assert(h, th_said(h, "read-only file system"));
  /* the one PUT is the failed mkdir (/source came from the source container) */
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 1);
  th_assert(h, !strcmp(fake_engine_find(h->fe, "PUT", "/containers/*/archive", 0)->query, "path=/cache"));
  th_assert(h, th_said(h, "Saved cache"));
  th_assert(h, th_clean(h));
  th_free(h);
  free(archive);

  /* the restore PUT fails: a warning */
  h = cached_new(&archive);
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "PUT", "/containers/*/archive"), "/cache/shared"), 500,
                  "no room");
  rc = th_run(h, CACHED, NULL);
  th_assert(h, th_said(h, "no room"));
  th_assert(h, th_clean(h));
  th_free(h);
  free(archive);

  /* what the container sends is not a tar: the old archive stays */
  h = cached_new(&archive);
  brr_write_file(archive, "old", 3);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "/cache/deps"), 200,
                  "application/x-tar", "not a tar at all", (size_t)-1);
  rc = th_run(h, CACHED, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "Error saving cache"));
  char *kept = tu_read(archive);
  th_assert(h, kept && !strcmp(kept, "old"));
  free(kept);
  th_free(h);
  free(archive);

  /* a failed command (an exec, as a non-root user): nothing is saved */
  h = cached_new(&archive);
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "echo two"), 201,
                 "{\"Id\":\"two\"}");
  fake_rule_json(fake_engine_on(h->fe, "GET", "/exec/two/json"), 200, "{\"ExitCode\":4,\"Running\":false}");
  rc = th_run(h, CACHED_USER, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_said(h, "Skipping cache save due to failed exit code"));
  th_assert(h, !tu_exists(h->dir, "caches/cache_history.log"));
  th_free(h);
  free(archive);

  /* a failed own process: nothing is saved either */
  h = cached_new(&archive);
  fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":4}");
  rc = th_run(h, CACHED, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_said(h, "Skipping cache save due to failed exit code"));
  th_assert(h, !tu_exists(h->dir, "caches/cache_history.log"));
  th_free(h);
  free(archive);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lister),
      cmocka_unit_test(test_lister_errors),
      cmocka_unit_test(test_cache_lock_wait),
      cmocka_unit_test(test_cache_troubles),
  };
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
