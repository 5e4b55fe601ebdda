/* Incremental run steps without Docker, the rest (src/tasks/incr_task.c, incr_record.c):
 *   - services' image ids and the read-only host files a step mounts are inputs;
 *   - directory artifacts (format: uncompressed) are restored as the tree they were;
 *   - the kinds never reused, with their reasons, and what --graph --incremental predicts;
 *   - an engine error (HTTP 500, a dropped connection) at each call of the incremental
 *     check, and a cancel while each is held; an abort while the real run goes on;
 *   - store errors: a cache dir that cannot be made, a state dir where nothing can be
 *     written, a damaged record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>

#include "unit/tasks_incr_support.h"

static const char *SVC =
    "steps:\n"
    "  s:\n"
    "    inputs: ['src/**']\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      files:\n"
    "        conf.txt: /etc/conf.txt\n"
    "        confdir: /etc/confdir\n"
    "      services:\n"
    "        db:\n"
    "          image: reg.test/db:1\n"
    "          pull: false\n"
    "          files:\n"
    "            conf.txt: /etc/db.conf\n"
    "      cmds: [echo one]\n";

static th *svc_new(void) {
  th *h = tis_new();
  fake_engine_add_image(h->fe, "reg.test/db:1");
  th_file(h, "conf.txt", "a=1\n");
  th_file(h, "confdir/x", "x\n");
  return h;
}

static void test_services_and_files(void **state) {
  (void)state;
  th *h = svc_new();
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_ended(h, "s/run succeeded"));
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_ended(h, "s/run reused"));
  th_assert(h, th_clean(h));
  /* the service's tag names another image */
  fake_rule_json(fake_engine_on(h->fe, "GET", "/images/reg.test/db:1/json"), 200,
                 "{\"Id\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\"}");
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_said(h, "runs: service images changed"));
  th_assert(h, th_ended(h, "s/run succeeded"));
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_ended(h, "s/run reused"));
  /* a host file it mounts (outside its `inputs:`) */
  th_file(h, "conf.txt", "a=2\n");
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_said(h, "runs: host files changed"));
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_ended(h, "s/run reused"));
  /* a file in a directory it mounts */
  th_file(h, "confdir/y", "y\n");
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_said(h, "runs: host files changed"));
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_service_errors(void **state) {
  (void)state;
  th *h = svc_new();
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  /* the check's inspect of the service image fails: the step runs (its own inspect works) */
  fake_rule_nth(fake_engine_fail(h->fe, "GET", "/images/reg.test/db:1/json", 0, 500), 1);
  th_assert(h, tis_run(h, SVC, NULL) == 0);
  th_assert(h, th_said(h, "runs: the image reg.test/db:1 of its service db is not on the engine yet"));
  th_assert(h, th_ended(h, "s/run succeeded"));
  /* every inspect of it loses its connection: the check runs the step, which fails */
  fake_rule_drop(fake_engine_on(h->fe, "GET", "/images/reg.test/db:1/json"));
  th_assert(h, tis_run(h, SVC, NULL) == 1);
  th_assert(h, th_said(h, "runs: the image reg.test/db:1 of its service db is not on the engine yet"));
  th_assert(h, th_ended(h, "s/run failed"));
  th_assert(h, th_clean(h));
  th_free(h);

  /* a service whose image is pulled each run */
  h = svc_new();
  char *y = brr_xstrdup(SVC);
  char *p = strstr(y, "          pull: false");
  memcpy(p, "          pull: true ", 21);
  th_assert(h, tis_run(h, y, NULL) == 0);
  th_assert(h, tis_run(h, y, NULL) == 0);
  th_assert(h, th_said(h, "runs: the image reg.test/db:1 of its service db is pulled each run"));
  th_assert(h, th_ended(h, "s/run succeeded"));
  free(y);
  /* a host file that is not there: the run task reports it */
  char *conf = brr_path_join(h->dir, "conf.txt");
  unlink(conf);
  free(conf);
  th_assert(h, tis_run(h, SVC, NULL) != 0);
  th_assert(h, th_ended(h, "s/run failed: ") && th_ended(h, "Cannot find valid alias for files entry 'conf.txt'"));
  th_assert(h, !th_ended(h, "s/run succeeded"));
  th_free(h);
}

static const char *IMG1 =
    "steps:\n"
    "  a:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo one]\n"
    "      user: nobody\n" /* artifacts of a non-root step: the exec path the fake answers */
    "      artifacts:\n"
    "        out/*.txt:\n";

static void test_image_inspect_errors(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  /* 500 at the check's inspect: the step runs, and records */
  fake_rule_nth(fake_engine_fail(h->fe, "GET", "/images/reg.test/busybox:1/json", 0, 500), 1);
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, th_said(h, "runs: its image reg.test/busybox:1 is not on the engine yet"));
  th_assert(h, th_ended(h, "a/run succeeded"));
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  th_assert(h, th_clean(h));
  th_free(h);

  h = tis_new();
  fake_rule_drop(fake_engine_on(h->fe, "GET", "/images/reg.test/busybox:1/json"));
  th_assert(h, tis_run(h, IMG1, NULL) == 1);
  th_assert(h, th_said(h, "runs: its image reg.test/busybox:1 is not on the engine yet"));
  th_assert(h, th_ended(h, "a/run failed"));
  /* nothing recorded for a failed run */
  th_assert(h, tis_records(h) == 0);
  th_assert(h, th_clean(h));
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

static void test_committed_inspect_errors(void **state) {
  (void)state;
  for (int drop = 0; drop < 2; drop++) {
    th *h = tis_new();
    th_assert(h, tis_run(h, COMMITTED, NULL) == 0);
    fake_rule *r = fake_engine_on(h->fe, "GET", "/images/sha256:*/json");
    if (drop) fake_rule_drop(r);
    else fake_rule_error(r, 500, "fake failure");
    th_assert(h, tis_run(h, COMMITTED, NULL) == 0);
    th_assert(h, th_said(h, "is no longer on the engine"));
    th_assert(h, th_ended(h, "c/run succeeded"));
    th_assert(h, th_ended(h, "c/commit succeeded"));
    th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 2);
    th_assert(h, th_clean(h));
    th_free(h);
  }
}

/* ---- cancel and abort ---- */

/* Hold the nth call matching the pattern and send SIGINT when it comes. */
static void cancel_at(th *h, const char *pattern, unsigned nth) {
  fake_rule_raise(fake_rule_hold(fake_rule_nth(fake_engine_on(h->fe, "GET", pattern), nth), FAKE_HOLD_HEADERS),
                  SIGINT, 1);
}

static void test_cancel_held_checks(void **state) {
  (void)state;
  th_opts o = {.handle_signals = true, .grace_s = 5};
  /* the image inspect of the first run */
  th *h = tis_new();
  cancel_at(h, "/images/reg.test/busybox:1/json", 1);
  th_assert(h, tis_run(h, IMG1, &o) == 130);
  th_assert(h, th_ended(h, "a/run canceled"));
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/create") == 0);
  th_assert(h, tis_records(h) == 0);
  th_assert(h, th_clean(h));
  th_free(h);
  /* the service image's inspect */
  h = svc_new();
  cancel_at(h, "/images/reg.test/db:1/json", 1);
  th_assert(h, tis_run(h, SVC, &o) == 130);
  th_assert(h, th_ended(h, "s/run canceled"));
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/create") == 0);
  th_assert(h, th_clean(h));
  th_free(h);
  /* the committed image's inspect of a run that would reuse */
  h = tis_new();
  th_assert(h, tis_run(h, COMMITTED, NULL) == 0);
  cancel_at(h, "/images/sha256:*/json", 1);
  th_assert(h, tis_run(h, COMMITTED, &o) == 130);
  th_assert(h, th_ended(h, "c/run canceled"));
  th_assert(h, th_ended(h, "c/commit skipped") || th_ended(h, "c/commit canceled"));
  th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 1);
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_abort_while_running(void **state) {
  (void)state;
  /* the check said run; SIGINT while the command runs; the teardown's removal hangs, so
   * the grace period runs out and the run is aborted through the incremental node */
  th *h = tis_new();
  fake_rule_raise(fake_rule_hold(fake_engine_on(h->fe, "POST", "/exec/*/start"), FAKE_HOLD_HEADERS), SIGINT, 1);
  fake_rule_hold(fake_rule_nth(fake_engine_on(h->fe, "DELETE", "/containers/*"), 1), FAKE_HOLD_HEADERS);
  th_opts o = {.handle_signals = true, .grace_s = 0.3};
  th_assert(h, tis_run(h, IMG1, &o) == 130);
  th_assert(h, th_ended(h, "a/run canceled"));
  th_assert(h, h->res.aborted);
  th_assert(h, th_clean(h));
  th_assert(h, tis_records(h) == 0);
  th_free(h);
}

/* ---- what is never reused ---- */

static const char *NEVER =
    "version: 2.0\n"
    "steps:\n"
    "  plain:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo one]\n"
    "  after:\n"
    "    depends: [plain]\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo two]\n"
    "  optout:\n"
    "    incremental: false\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      cmds: [echo optout]\n"
    "  cached:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      caches:\n"
    "        deps: /cache/deps\n"
    "  keys:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      ssh-keys: [k]\n"
    "  others:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      containers: [elsewhere]\n"
    "  rw:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      files:\n"
    "        conf.txt: /etc/conf.txt:rw\n"
    "  svcbuilt:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      services:\n"
    "        s:\n"
    "          build:\n"
    "            dockerfile: 'FROM scratch'\n"
    "  svccached:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      services:\n"
    "        s:\n"
    "          image: reg.test/db:1\n"
    "          caches:\n"
    "            deps: /cache/deps\n"
    "  svcothers:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      services:\n"
    "        s:\n"
    "          image: reg.test/db:1\n"
    "          containers: [elsewhere]\n"
    "  svcrw:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      services:\n"
    "        s:\n"
    "          image: reg.test/db:1\n"
    "          files:\n"
    "            conf.txt: /etc/conf.txt:rw\n"
    "  pushed:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo one]\n"
    "    push:\n"
    "      repository: made/pushed\n"
    "      tags: [v1]\n";

static bool noted(const brr_buf *notes, const char *needle) { return strstr(brr_buf_cstr(notes), needle) != NULL; }

static void test_never_reused_and_predict(void **state) {
  (void)state;
  th *h = tis_new();
  th_file(h, "conf.txt", "a=1\n");
  brr_buf notes = BRR_BUF_INIT;
  int rc = tis_predict(h, NEVER, &notes);
  if (rc != 0 || getenv("TIS_DEBUG")) fprintf(stderr, "%s", brr_buf_cstr(&notes));
  assert_int_equal(rc, 0);
  assert_true(noted(&notes, "plain/run: runs: no earlier successful run\n"));
  assert_true(noted(&notes, "optout/run: never reused: incremental: false\n"));
  assert_true(noted(&notes, "cached/run: never reused: it has caches\n"));
  assert_true(noted(&notes, "keys/run: never reused: it uses ssh keys"));
  assert_true(noted(&notes, "others/run: never reused: it uses containers brr does not make\n"));
  assert_true(noted(&notes, "rw/run: never reused: it mounts a host file read-write\n"));
  assert_true(noted(&notes, "svcbuilt/run: never reused: a service is built each run\n"));
  assert_true(noted(&notes, "svccached/run: never reused: a service has caches\n"));
  assert_true(noted(&notes, "svcothers/run: never reused: a service uses containers brr does not make\n"));
  assert_true(noted(&notes, "svcrw/run: never reused: a service mounts a host file read-write\n"));
  assert_true(noted(&notes, "never reused: only run steps and builds are reused\n"));  /* the push */

  /* run the plain steps and the push's step, then ask again */
  static const char *PLAIN =
      "version: 2.0\n"
      "steps:\n"
      "  plain:\n"
      "    run:\n"
      "      image: reg.test/busybox:1\n"
      "      pull: false\n"
      "      cmds: [echo one]\n"
      "  after:\n"
      "    depends: [plain]\n"
      "    run:\n"
      "      image: reg.test/busybox:1\n"
      "      pull: false\n"
      "      cmds: [echo two]\n";
  th_assert(h, tis_run(h, PLAIN, NULL) == 0);
  brr_buf_reset(&notes);
  assert_int_equal(tis_predict(h, PLAIN, &notes), 0);
  if (getenv("TIS_DEBUG")) fprintf(stderr, "%s", brr_buf_cstr(&notes));
  assert_true(noted(&notes, "plain/run: reused, if its image is the same"));
  assert_true(noted(&notes, "after/run: reused, if its image is the same"));
  /* the first input that changed; what waits for a node that runs */
  char *y = brr_xstrdup(PLAIN);
  memcpy(strstr(y, "echo one"), "echo uno", 8);
  brr_buf_reset(&notes);
  assert_int_equal(tis_predict(h, y, &notes), 0);
  if (getenv("TIS_DEBUG")) fprintf(stderr, "%s", brr_buf_cstr(&notes));
  assert_true(noted(&notes, "plain/run: runs: step config changed\n"));
  /* (buildrunner.yaml is in its source too: the config comes first) */
  assert_true(noted(&notes, "after/run: runs: step config changed\n") ||
              noted(&notes, "after/run: runs: source changed\n"));
  free(y);
  /* outputs gone from the store */
  char *objects = brr_path_join(TIS_CACHE, "brr/store/objects");
  brr_rm_rf(objects);
  free(objects);
  th_file(h, "unrelated", "");
  brr_buf_reset(&notes);
  assert_int_equal(tis_predict(h, PLAIN, &notes), 0);
  assert_true(noted(&notes, "plain/run: runs: source changed\n"));
  brr_buf_free(&notes);

  /* at run time: a step marked incremental: false runs every time */
  static const char *OFF =
      "steps:\n"
      "  optout:\n"
      "    incremental: false\n"
      "    run:\n"
      "      image: reg.test/busybox:1\n"
      "      pull: false\n"
      "      cmds: [echo optout]\n";
  th_assert(h, tis_run(h, OFF, NULL) == 0);
  th_assert(h, tis_run(h, OFF, NULL) == 0);
  th_assert(h, th_ended(h, "optout/run succeeded"));
  th_assert(h, !th_said(h, "reused"));
  th_free(h);
}

static void test_predict_store_unusable(void **state) {
  (void)state;
  th *h = tis_new();
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  /* the cache dir is a file: nothing can be opened */
  char *file = brr_path_join(TIS_CACHE, "file");
  assert_int_equal(brr_write_file(file, "x", 1), 0);
  setenv("XDG_CACHE_HOME", file, 1);
  brr_buf notes = BRR_BUF_INIT;
  assert_int_equal(tis_predict(h, IMG1, &notes), 0);
  assert_true(noted(&notes, "a/run: runs: the artifact store cannot be opened\n"));
  brr_buf_free(&notes);
  setenv("XDG_CACHE_HOME", TIS_CACHE, 1);
  free(file);
  th_free(h);
}

/* ---- directory artifacts ---- */

/* Every file under dir as "rel mode content" lines, sorted (heap). */
static void tree_lines(const char *root, const char *rel, brr_buf *out) {
  char *abs = *rel ? brr_path_join(root, rel) : brr_xstrdup(root);
  DIR *d = opendir(abs);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *r = *rel ? brr_xasprintf("%s/%s", rel, e->d_name) : brr_xstrdup(e->d_name);
    char *p = brr_path_join(root, r);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      brr_buf_printf(out, "%s/\n", r);
      tree_lines(root, r, out);
    } else if (lstat(p, &st) == 0) {
      char *c = tu_read(p);
      brr_buf_printf(out, "%s %o %s\n", r, (unsigned)(st.st_mode & 07777), c ? c : "?");
      free(c);
    }
    free(p);
    free(r);
  }
  if (d) closedir(d);
  free(abs);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *tree(const char *root) {
  brr_buf b = BRR_BUF_INIT;
  tree_lines(root, "", &b);
  char *text = brr_buf_detach(&b);
  char *lines[64];
  size_t n = 0;
  for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < 64; l = strtok_r(NULL, "\n", &save))
    lines[n++] = l;
  qsort(lines, n, sizeof *lines, cmp_str);
  brr_buf s = BRR_BUF_INIT;
  for (size_t i = 0; i < n; i++) brr_buf_printf(&s, "%s\n", lines[i]);
  free(text);
  return brr_buf_detach(&s);
}

static const char *DIRART =
    "steps:\n"
    "  d:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmds: [echo one]\n"
    "      user: nobody\n" /* artifacts of a non-root step: the exec path the fake answers */
    "      artifacts:\n"
    "        out/tree:\n"
    "          format: uncompressed\n";

static void test_directory_artifact(void **state) {
  (void)state;
  th *h = tis_new();
  /* the listing finds a directory; its archive holds files in sub directories */
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "brr_list"), 201,
                 "{\"Id\":\"dirlister\"}");
  char *mux = NULL;
  size_t len = 0;
  static const char listing[] = "0\0d\0out/tree\0/source/out/tree\0";
  fake_mux_frame(&mux, &len, 1, listing, sizeof listing - 1);
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/exec/dirlister/start"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
  free(mux);
  size_t tlen = 0;
  char *tar = fake_tar(&tlen, "tree/", "", "tree/x.txt", "x\n", "tree/sub/", "", "tree/sub/y.txt", "why\n",
                       (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "path=/source/out/tree"),
                  200, "application/x-tar", tar, tlen);
  free(tar);
  th_assert(h, tis_run(h, DIRART, NULL) == 0);
  char *step = brr_path_join(h->results, "d");
  /* a link and an empty directory beside the artifacts are kept too */
  tu_symlink(step, "link", "tree/x.txt");
  tu_mkdir(step, "empty");
  char *first = tree(step);
  th_assert(h, strstr(first, "y.txt 644 why\n"));
  /* recorded only by a run: run again so the link and the empty directory are in the record */
  th_file(h, "src/more.c", "int more;\n");
  th_assert(h, tis_run(h, DIRART, NULL) == 0);
  th_assert(h, th_ended(h, "d/run succeeded"));
  free(first);
  first = tree(step);
  char *json1 = tu_read_rel(h->results, "artifacts.json");
  brr_rm_rf(h->results);
  th_assert(h, tis_run(h, DIRART, NULL) == 0);
  th_assert(h, th_ended(h, "d/run reused"));
  char *second = tree(step);
  if (strcmp(first, second)) fprintf(stderr, "first:\n%ssecond:\n%s", first, second);
  th_assert(h, !strcmp(first, second));
  char *target = brr_path_join(step, "link");
  char buf[256];
  ssize_t n = readlink(target, buf, sizeof buf - 1);
  th_assert(h, n > 0);
  buf[n] = '\0';
  th_assert(h, !strcmp(buf, "tree/x.txt"));
  char *json2 = tu_read_rel(h->results, "artifacts.json");
  th_assert(h, json1 && json2 && !strcmp(json1, json2));
  free(json1);
  free(json2);
  free(target);
  free(first);
  free(second);
  free(step);
  th_free(h);
}

/* ---- the store and the state ---- */

static void test_cache_dir_unusable(void **state) {
  (void)state;
  th *h = tis_new();
  /* $XDG_CACHE_HOME is a file: nothing is reused, everything runs and succeeds */
  char *file = brr_path_join(TIS_CACHE, "file");
  assert_int_equal(brr_write_file(file, "x", 1), 0);
  setenv("XDG_CACHE_HOME", file, 1);
  for (int i = 0; i < 2; i++) {
    th_assert(h, tis_run(h, IMG1, NULL) == 0);
    th_assert(h, th_said(h, "incremental: nothing is reused this run"));
    th_assert(h, th_said(h, "incremental: cannot save the file-hash cache"));
    th_assert(h, th_ended(h, "a/run succeeded"));
  }
  setenv("XDG_CACHE_HOME", TIS_CACHE, 1);
  free(file);
  th_free(h);
}

static void test_state_unwritable(void **state) {
  (void)state;
  th *h = tis_new();
  /* the state dir's "nodes" is a file: no record can be written */
  char *sd = tis_state_dir(h);
  assert_int_equal(brr_mkdir_p(sd, 0755), 0);
  char *nodes = brr_path_join(sd, "nodes");
  assert_int_equal(brr_write_file(nodes, "x", 1), 0);
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, th_said(h, "incremental: cannot record this run"));
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, th_ended(h, "a/run succeeded"));
  th_assert(h, th_said(h, "runs: no earlier successful run"));
  unlink(nodes);
  /* the state dir itself is a file: nor is the key order of artifacts.json */
  brr_rm_rf(sd);
  char *parent = brr_path_dirname(sd);
  assert_int_equal(brr_mkdir_p(parent, 0755), 0);
  assert_int_equal(brr_write_file(sd, "x", 1), 0);
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, th_said(h, "incremental: cannot write"));
  th_assert(h, th_said(h, "artifacts-order.json"));
  th_assert(h, th_ended(h, "a/run succeeded"));
  unlink(sd);
  /* a damaged record: the step runs, and records again */
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, tis_records(h) == 1);
  char *rec = brr_incr_record_path(sd, "a/run");
  assert_int_equal(brr_write_file(rec, "{not json", 9), 0);
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, th_said(h, "runs: no earlier successful run"));
  th_assert(h, tis_run(h, IMG1, NULL) == 0);
  th_assert(h, th_ended(h, "a/run reused"));
  free(rec);
  free(parent);
  free(nodes);
  free(sd);
  th_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_services_and_files, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_service_errors, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_image_inspect_errors, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_committed_inspect_errors, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_cancel_held_checks, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_abort_while_running, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_never_reused_and_predict, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_predict_store_unusable, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_directory_artifact, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_cache_dir_unusable, tis_setup, tis_teardown),
      cmocka_unit_test_setup_teardown(test_state_unwritable, tis_setup, tis_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
