/* tasks: caches (spec §9.3) — archive names, restore selection, flock-based locking between
 * real processes, atomic saves, the history log and --clean-cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <time.h>

#include "brr/tasks_files.h"
#include "unit/tasks_util.h"

/* The blocking form of the lock a second process would use: retries until held or
 * `timeout_ms` passed (BRR_ETIMEOUT). */
static int lock_wait(const char *path, bool exclusive, unsigned timeout_ms,
                     brr_cache_lock *out) {
  uint64_t deadline = brr_mono_ms() + timeout_ms;
  for (unsigned attempt = 0;; attempt++) {
    int r = brr_cache_lock_try(path, exclusive, out);
    if (r <= 0) return r;
    uint64_t now = brr_mono_ms();
    if (now >= deadline) return BRR_ETIMEOUT;
    uint64_t wait = brr_cache_lock_backoff_ms(attempt);
    if (wait > deadline - now) wait = deadline - now;
    struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
}

static const char *yaml = "buildrunner.yaml";

typedef struct fixture {
  char *dir;
  char *home;       /* $HOME for the test, so ~ never touches the real one */
  char *old_home;
  brr_arena *a;
} fixture;

static int setup(void **state) {
  fixture *f = brr_xcalloc(1, sizeof *f);
  f->dir = tu_mkdtemp();
  f->home = brr_path_join(f->dir, "home");
  tu_mkdir(f->home, ".");
  const char *h = getenv("HOME");
  f->old_home = h ? brr_xstrdup(h) : NULL;
  setenv("HOME", f->home, 1);
  f->a = brr_arena_new();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (f->old_home) setenv("HOME", f->old_home, 1);
  brr_rm_rf(f->dir);
  brr_arena_free(f->a);
  free(f->old_home);
  free(f->home);
  free(f->dir);
  free(f);
  return 0;
}

static brr_value *vstr(fixture *f, const char *s, unsigned line) {
  return brr_val_str(f->a, (brr_mark){yaml, line, 9}, s);
}

static brr_value *vlist(fixture *f, unsigned line, const char *a, const char *b) {
  brr_value *l = brr_val_list(f->a, (brr_mark){yaml, line, 9});
  if (a) brr_val_list_push(f->a, l, vstr(f, a, line));
  if (b) brr_val_list_push(f->a, l, vstr(f, b, line));
  return l;
}

static char *describe(const brr_cache_plan *p, const char *root) {
  brr_buf b = BRR_BUF_INIT;
  for (size_t i = 0; i < p->n; i++) {
    const char *arch = p->v[i].archive;
    if (brr_startswith(arch, root)) arch += strlen(root) + 1;
    brr_buf_printf(&b, "%s%s>%s%s", i ? "|" : "", arch, p->v[i].docker_path, p->v[i].save ? "" : "(no save)");
  }
  return brr_buf_detach(&b);
}

static void test_plan(void **state) {
  fixture *f = *state;
  char *root = brr_path_join(f->dir, "caches");
  brr_kv kv[] = {
      {{"maven", {yaml, 1, 5}}, vstr(f, "/root/.m2", 1)},
      {{"/root/.npm", {yaml, 2, 5}}, vlist(f, 2, "npm-a", "npm-b")},
      {{"gradle", {yaml, 3, 5}}, vstr(f, "/root/.m2", 3)},
      {{"/x", {yaml, 4, 5}}, vlist(f, 4, "npm-a", NULL)},   /* npm-a again: its path moves */
      {{"sub/k", {yaml, 5, 5}}, vstr(f, "/p", 5)},
      {{"bad", {yaml, 6, 5}}, brr_val_int(f->a, (brr_mark){yaml, 6, 10}, 5)},
  };
  brr_kvlist caches = {kv, BRR_ARRAY_LEN(kv)};
  brr_cache_plan p;
  brr_diags d = BRR_DIAGS_INIT;
  tu_ok(brr_cache_plan_make(&caches, root, "brr", &p, &d), &d);
  char *got = describe(&p, root);
  assert_string_equal(got, "brr-maven.tar>/root/.m2|npm-a.tar>/x|npm-b.tar>/root/.npm|"
                           "brr-gradle.tar>/root/.m2(no save)|brr-sub/k.tar>/p");
  free(got);
  assert_true(tu_exists(root, "brr-sub"));  /* each archive's directory exists */
  /* the int value is skipped with a warning at its mark */
  assert_int_equal(d.n, 1);
  assert_int_equal(d.v[0].level, BRR_DIAG_WARNING);
  assert_int_equal(d.v[0].mark.line, 6);
  brr_diags_free(&d);
  brr_cache_plan_free(&p);
  /* no project name: just <key>.tar */
  brr_kvlist one = {kv, 1};
  tu_ok(brr_cache_plan_make(&one, root, NULL, &p, &d), &d);
  got = describe(&p, root);
  assert_string_equal(got, "maven.tar>/root/.m2");
  free(got);
  brr_cache_plan_free(&p);
  free(root);
}

/* A caches root that cannot be created falls back to ~/.buildrunner/caches. */
static void test_plan_fallback(void **state) {
  fixture *f = *state;
  tu_write(f->dir, "file", "not a directory", 0644);
  char *root = brr_path_join(f->dir, "file/caches");
  brr_kv kv[] = {{{"m", {yaml, 1, 5}}, vstr(f, "/m", 1)}};
  brr_kvlist caches = {kv, 1};
  brr_cache_plan p;
  brr_diags d = BRR_DIAGS_INIT;
  tu_ok(brr_cache_plan_make(&caches, root, "proj", &p, &d), &d);
  char *want = brr_path_join(f->home, ".buildrunner/caches/proj-m.tar");
  assert_string_equal(p.v[0].archive, want);
  assert_int_equal(d.v[0].level, BRR_DIAG_WARNING);
  free(want);
  brr_diags_free(&d);
  brr_cache_plan_free(&p);
  free(root);
}

static void touch(const char *dir, const char *name, const char *content, time_t mtime) {
  tu_write(dir, name, content, 0644);
  tu_set_mtime(dir, name, mtime);
}

static void test_restore_pick(void **state) {
  fixture *f = *state;
  char *c = brr_path_join(f->dir, "c");
  tu_mkdir(c, ".");
  touch(c, "brr-maven-old.tar", "x", 1000);
  touch(c, "brr-maven-new.tar", "x", 2000);
  touch(c, "brr-maven-empty.tar", "", 5000);    /* empty: what a failed save leaves */
  tu_mkdir(c, "brr-maven-dir");                  /* not a file */
  touch(c, "other.tar", "x", 9000);
  char *arch = brr_path_join(c, "brr-maven.tar");
  char *got = brr_cache_restore_pick(arch);
  char *want = brr_path_join(c, "brr-maven-new.tar");
  assert_string_equal(got, want);                /* the newest prefix match */
  free(got);
  free(want);
  touch(c, "brr-maven.tar", "x", 10);            /* the exact file, however old */
  got = brr_cache_restore_pick(arch);
  assert_string_equal(got, arch);
  free(got);
  /* the history log is never a cache, even when its name starts with the key */
  touch(c, "cache_history.log", "log", 9999);
  char *ca = brr_path_join(c, "c.tar");
  assert_null(brr_cache_restore_pick(ca));
  char *none = brr_path_join(f->dir, "missing-dir/x.tar");
  assert_null(brr_cache_restore_pick(none));
  free(none);
  free(ca);
  free(arch);
  free(c);
}

static void test_restore_list(void **state) {
  fixture *f = *state;
  char *c = brr_path_join(f->dir, "c");
  tu_mkdir(c, ".");
  char *files[4];
  const char *names[] = {"a.tar", "b.tar", "c.tar", "d.tar"};
  const char *paths[] = {"/p", "/p", "/q", "/r"};
  brr_cache_entry e[4];
  for (int i = 0; i < 4; i++) {
    files[i] = brr_path_join(c, names[i]);
    e[i] = (brr_cache_entry){files[i], paths[i], BRR_MARK_NONE, false};
  }
  brr_cache_plan p = {e, 4};
  touch(c, "b.tar", "b", 100);
  touch(c, "c.tar", "c", 100);
  brr_cache_restore *r;
  size_t n;
  assert_int_equal(brr_cache_restore_list(&p, &r, &n), 0);
  assert_int_equal(n, 2);  /* /p from its second archive, /q; /r has nothing */
  assert_string_equal(r[0].file, files[1]);
  assert_string_equal(r[0].docker_path, "/p");
  assert_string_equal(r[1].file, files[2]);
  brr_cache_restore_free(r, n);
  touch(c, "a.tar", "a", 100);  /* now /p is served by its first archive, b is skipped */
  assert_int_equal(brr_cache_restore_list(&p, &r, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(r[0].file, files[0]);
  brr_cache_restore_free(r, n);
  for (int i = 0; i < 4; i++) free(files[i]);
  free(c);
}

/* ---- locks between processes ---- */

static int child_try(const char *path, bool exclusive) {
  pid_t pid = fork();
  if (pid == 0) {
    brr_cache_lock l;
    int r = brr_cache_lock_try(path, exclusive, &l);
    brr_cache_lock_release(&l);
    _exit(r == 0 ? 0 : r == 1 ? 1 : 2);
  }
  int status;
  waitpid(pid, &status, 0);
  return WEXITSTATUS(status);
}

static void test_lock_conflicts(void **state) {
  fixture *f = *state;
  char *path = brr_path_join(f->dir, "k.tar");
  brr_cache_lock l;
  assert_int_equal(brr_cache_lock_try(path, false, &l), BRR_ENOENT);  /* restore needs a file */
  tu_write(f->dir, "k.tar", "x", 0644);
  assert_int_equal(brr_cache_lock_try(path, false, &l), 0);
  assert_int_equal(child_try(path, true), 1);    /* a saver waits for readers */
  assert_int_equal(child_try(path, false), 0);   /* readers share */
  brr_cache_lock_release(&l);
  assert_int_equal(child_try(path, true), 0);
  assert_int_equal(brr_cache_lock_try(path, true, &l), 0);
  assert_int_equal(child_try(path, false), 1);   /* readers wait for the saver */
  /* the blocking form gives up at its timeout */
  pid_t pid = fork();
  if (pid == 0) {
    brr_cache_lock l2;
    _exit(lock_wait(path, false, 300, &l2) == BRR_ETIMEOUT ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_int_equal(WEXITSTATUS(status), 0);
  brr_cache_lock_release(&l);
  static const unsigned backoff[] = {50, 100, 200, 400, 800, 1600, 2000, 2000};
  for (unsigned i = 0; i < BRR_ARRAY_LEN(backoff); i++)
    assert_int_equal(brr_cache_lock_backoff_ms(i), backoff[i]);
  free(path);
}

/* A tar of one file holding `fill` repeated, made by GNU tar. */
static void make_tar_bytes(const char *dir, char fill, brr_buf *out) {
  char *t = brr_xasprintf("%s/src-%c", dir, fill);
  tu_mkdir(t, ".");
  char *content = brr_xmalloc(200001);
  memset(content, fill, 200000);
  content[200000] = '\0';
  tu_write(t, "data", content, 0644);
  free(content);
  char *argv[] = {(char *)"tar", (char *)"-C", t, (char *)"-cf", (char *)"-", (char *)".", NULL};
  assert_int_equal(tu_run(argv, NULL, out), 0);
  free(t);
}

/* One saving process: lock, stream the bytes in pieces, commit, unlock — `rounds` times. */
static void saver(const char *archive, const brr_buf *bytes, int rounds) {
  for (int i = 0; i < rounds; i++) {
    brr_cache_lock l;
    if (lock_wait(archive, true, 20000, &l) != 0) _exit(10);
    brr_cache_writer *w;
    brr_diags d = BRR_DIAGS_INIT;
    if (brr_cache_writer_open(archive, &w, &d) != 0) _exit(11);
    for (size_t off = 0; off < bytes->len; off += 4096) {
      size_t n = bytes->len - off < 4096 ? bytes->len - off : 4096;
      if (brr_cache_writer_write(w, bytes->data + off, n) != 0) _exit(12);
      if (off % 65536 == 0) usleep(500);
    }
    if (brr_cache_writer_commit(w, &d) != 0) _exit(13);
    brr_cache_lock_release(&l);
    brr_diags_free(&d);
  }
  _exit(0);
}

/* One restoring process: under a shared lock the file is always one whole save. */
static void reader(const char *archive, const brr_buf *a, const brr_buf *b, int rounds) {
  int seen = 0;
  for (int i = 0; i < rounds; i++) {
    brr_cache_lock l;
    if (lock_wait(archive, false, 20000, &l) != 0) _exit(20);
    brr_buf got = BRR_BUF_INIT;
    char chunk[65536];
    ssize_t n;
    while ((n = read(l.fd, chunk, sizeof chunk)) > 0) brr_buf_append(&got, chunk, (size_t)n);
    bool whole = (got.len == a->len && !memcmp(got.data, a->data, a->len)) ||
                 (got.len == b->len && !memcmp(got.data, b->data, b->len));
    brr_cache_lock_release(&l);
    brr_buf_free(&got);
    if (!whole) _exit(21);
    seen++;
    usleep(1000);
  }
  _exit(seen == rounds ? 0 : 22);
}

static void test_concurrent_savers(void **state) {
  fixture *f = *state;
  brr_buf ta = BRR_BUF_INIT, tb = BRR_BUF_INIT;
  make_tar_bytes(f->dir, 'a', &ta);
  make_tar_bytes(f->dir, 'b', &tb);
  char *archive = brr_path_join(f->dir, "shared.tar");
  assert_int_equal(brr_write_file(archive, ta.data, ta.len), 0);
  pid_t pids[4];
  for (int i = 0; i < 4; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      if (i == 0) saver(archive, &ta, 15);
      if (i == 1) saver(archive, &tb, 15);
      reader(archive, &ta, &tb, 40);
    }
  }
  for (int i = 0; i < 4; i++) {
    int status;
    waitpid(pids[i], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_msg("process %d ended with %d", i, WEXITSTATUS(status));
  }
  /* no temporary file is left beside the archive */
  char *argv[] = {(char *)"find", f->dir, (char *)"-name", (char *)".brr-*", NULL};
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(tu_run(argv, NULL, &out), 0);
  assert_int_equal(out.len, 0);
  brr_buf_free(&out);
  free(archive);
  brr_buf_free(&ta);
  brr_buf_free(&tb);
}

/* ---- saves that fail ---- */

static void test_writer_failures(void **state) {
  fixture *f = *state;
  char *archive = brr_path_join(f->dir, "w.tar");
  tu_write(f->dir, "w.tar", "previous cache", 0644);
  brr_cache_writer *w;
  brr_diags d = BRR_DIAGS_INIT;
  /* bytes that are not a tar: the old archive stays */
  tu_ok(brr_cache_writer_open(archive, &w, &d), &d);
  assert_int_equal(brr_cache_writer_write(w, "not a tar at all", 16), 0);
  assert_int_equal(brr_cache_writer_commit(w, &d), BRR_EIO);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
  char *s = tu_read(archive);
  assert_string_equal(s, "previous cache");
  free(s);
  brr_diags_free(&d);
  /* abort keeps a real archive ... */
  tu_ok(brr_cache_writer_open(archive, &w, &d), &d);
  brr_cache_writer_abort(w);
  assert_true(tu_exists(f->dir, "w.tar"));
  /* ... and removes the empty file an exclusive lock created */
  char *fresh = brr_path_join(f->dir, "fresh.tar");
  brr_cache_lock l;
  assert_int_equal(brr_cache_lock_try(fresh, true, &l), 0);
  assert_true(tu_exists(f->dir, "fresh.tar"));
  tu_ok(brr_cache_writer_open(fresh, &w, &d), &d);
  brr_cache_writer_abort(w);
  brr_cache_lock_release(&l);
  assert_false(tu_exists(f->dir, "fresh.tar"));
  /* a good save replaces the archive */
  brr_buf t = BRR_BUF_INIT;
  make_tar_bytes(f->dir, 'z', &t);
  tu_ok(brr_cache_writer_open(archive, &w, &d), &d);
  assert_int_equal(brr_cache_writer_write(w, t.data, t.len), 0);
  tu_ok(brr_cache_writer_commit(w, &d), &d);
  brr_buf back = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(archive, &back), 0);
  assert_int_equal(back.len, t.len);
  assert_memory_equal(back.data, t.data, t.len);
  brr_buf_free(&back);
  brr_buf_free(&t);
  free(fresh);
  free(archive);
}

static void test_history_and_clean(void **state) {
  fixture *f = *state;
  char *root = brr_path_join(f->dir, "caches");
  tu_mkdir(root, ".");
  char *archive = brr_path_join(root, "proj-m.tar");
  setenv("TZ", "UTC", 1);
  tzset();
  brr_cache_history h = {"build-step", "proj", "main", "abc1234", "x86_64", 86400 + 3723};
  brr_diags d = BRR_DIAGS_INIT;
  tu_ok(brr_cache_history_append(archive, &h, &d), &d);
  brr_cache_history none = {NULL, NULL, NULL, NULL, NULL, 0};
  tu_ok(brr_cache_history_append(archive, &none, &d), &d);
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  char *want = brr_xasprintf(
      "01/02/1970 01:02:03 - The cache file \"%s\" was written by step \"build-step\" in "
      "\"proj:main:abc1234\" on host \"%s\" [x86_64] \n"
      "01/01/1970 00:00:00 - The cache file \"%s\" was written by step \"None\" in "
      "\"None:None:None\" on host \"%s\" [None] \n",
      archive, host, archive, host);
  char *got = tu_read_rel(root, "cache_history.log");
  assert_string_equal(got, want);
  free(got);
  free(want);
  /* --clean-cache, through ~ */
  assert_int_equal(brr_cache_clean("~/gone-already"), 0);
  tu_write(f->home, "cc/x/y.tar", "y", 0644);
  assert_int_equal(brr_cache_clean("~/cc"), 0);
  assert_false(tu_exists(f->home, "cc"));
  free(archive);
  free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_plan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plan_fallback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restore_pick, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restore_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_conflicts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_savers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writer_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_and_clean, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
