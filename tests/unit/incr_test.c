/* incr: input hashing (what changes a hash and what does not), the file-hash cache's stat
 * keys, the artifact store's deduplication, eviction order and limit, and a crash between
 * writing an object and recording it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "brr/incr.h"
#include "unit/tasks_util.h"

static void tree_hex(const char *root, const brr_tree_opts *o, brr_hashcache *c,
                     char hex[BRR_INCR_HEX]) {
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_incr_tree_hash(root, o, c, hex, NULL, &d), 0);
  assert_int_equal(d.n, 0);
  brr_diags_free(&d);
}

static char *make_tree(void) {
  char *root = tu_mkdtemp();
  tu_write(root, "a.txt", "alpha\n", 0644);
  tu_write(root, "src/main.c", "int main(void) { return 0; }\n", 0644);
  tu_write(root, "src/lib/util.c", "int util;\n", 0644);
  tu_write(root, "docs/readme.md", "# hi\n", 0644);
  tu_write(root, "tmp/x.log", "log\n", 0644);
  tu_symlink(root, "link", "a.txt");
  return root;
}

static bool skip_logs(void *ud, const char *rel, const struct stat *st) {
  (void)ud;
  (void)st;
  return brr_endswith(rel, ".log");
}

static void test_sha256_known(void **state) {
  (void)state;
  char hex[BRR_INCR_HEX];
  brr_incr_sha256("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* fields are length-prefixed: ("ab","c") is not ("a","bc"), NULL is not "" */
  char h1[BRR_INCR_HEX], h2[BRR_INCR_HEX], h3[BRR_INCR_HEX];
  brr_hasher *h = brr_hasher_new();
  brr_hasher_field(h, "ab", "c");
  brr_hasher_final(h, h1);
  h = brr_hasher_new();
  brr_hasher_field(h, "a", "bc");
  brr_hasher_final(h, h2);
  assert_string_not_equal(h1, h2);
  h = brr_hasher_new();
  brr_hasher_field(h, "x", NULL);
  brr_hasher_final(h, h1);
  h = brr_hasher_new();
  brr_hasher_field(h, "x", "");
  brr_hasher_final(h, h3);
  assert_string_not_equal(h1, h3);
}

static void test_tree_changes(void **state) {
  (void)state;
  char *root = make_tree();
  char base[BRR_INCR_HEX], h[BRR_INCR_HEX];
  tree_hex(root, NULL, NULL, base);
  /* what does not change it: a second walk, mtimes alone, an ignored file */
  tree_hex(root, NULL, NULL, h);
  assert_string_equal(base, h);
  tu_set_mtime(root, "a.txt", 1500000000);
  tree_hex(root, NULL, NULL, h);
  assert_string_equal(base, h);
  brr_tree_opts skip = {.skip = skip_logs};
  char ign[BRR_INCR_HEX], ign2[BRR_INCR_HEX];
  tree_hex(root, &skip, NULL, ign);
  assert_string_not_equal(ign, base);
  tu_write(root, "tmp/x.log", "other log\n", 0644);
  tree_hex(root, &skip, NULL, ign2);
  assert_string_equal(ign, ign2);
  tree_hex(root, NULL, NULL, base);  /* the new log content, without the filter */

  /* what changes it: content, mode, a new file, a new empty dir, a rename, a link target */
  tu_write(root, "a.txt", "alphA\n", 0644);
  tree_hex(root, NULL, NULL, h);
  assert_string_not_equal(base, h);
  tu_write(root, "a.txt", "alpha\n", 0644);
  tree_hex(root, NULL, NULL, h);
  assert_string_equal(base, h);
  tu_write(root, "a.txt", "alpha\n", 0755);
  tree_hex(root, NULL, NULL, h);
  assert_string_not_equal(base, h);
  tu_write(root, "a.txt", "alpha\n", 0644);
  tu_mkdir(root, "empty");
  tree_hex(root, NULL, NULL, h);
  assert_string_not_equal(base, h);
  char *e = brr_path_join(root, "empty");
  assert_int_equal(rmdir(e), 0);
  free(e);
  tree_hex(root, NULL, NULL, h);
  assert_string_equal(base, h);
  char *from = brr_path_join(root, "docs/readme.md"), *to = brr_path_join(root, "docs/README.md");
  assert_int_equal(rename(from, to), 0);
  tree_hex(root, NULL, NULL, h);
  assert_string_not_equal(base, h);
  assert_int_equal(rename(to, from), 0);
  free(from);
  free(to);
  char *l = brr_path_join(root, "link");
  assert_int_equal(unlink(l), 0);
  tu_symlink(root, "link", "src/main.c");
  tree_hex(root, NULL, NULL, h);
  assert_string_not_equal(base, h);
  assert_int_equal(unlink(l), 0);
  tu_symlink(root, "link", "a.txt");
  free(l);
  tree_hex(root, NULL, NULL, h);
  assert_string_equal(base, h);
  brr_rm_rf(root);
  free(root);
}

static void test_inputs_narrow(void **state) {
  (void)state;
  char *root = make_tree();
  const char *globs[] = {"src/**/*.c"};
  brr_tree_opts o = {.inputs = globs, .n_inputs = 1};
  char base[BRR_INCR_HEX], h[BRR_INCR_HEX];
  brr_diags d = BRR_DIAGS_INIT;
  size_t n = 0;
  assert_int_equal(brr_incr_tree_hash(root, &o, NULL, base, &n, &d), 0);
  assert_int_equal(n, 2);  /* src/main.c and src/lib/util.c: `**` spans zero or more dirs */
  /* outside the globs: no change */
  tu_write(root, "a.txt", "changed\n", 0644);
  tu_write(root, "docs/new.md", "new\n", 0644);
  tu_write(root, "src/notes.txt", "not a .c file\n", 0644);
  tree_hex(root, &o, NULL, h);
  assert_string_equal(base, h);
  /* inside: a change */
  tu_write(root, "src/lib/util.c", "int util = 1;\n", 0644);
  tree_hex(root, &o, NULL, h);
  assert_string_not_equal(base, h);
  /* `*` stays inside one component */
  const char *star[] = {"src/*.c"};
  brr_tree_opts o2 = {.inputs = star, .n_inputs = 1};
  assert_int_equal(brr_incr_tree_hash(root, &o2, NULL, h, &n, &d), 0);
  assert_int_equal(n, 1);
  brr_diags_free(&d);

  size_t bad = 99;
  const char *globs_bad[] = {"ok/*", "/abs/*"};
  char *msg = brr_incr_globs_check(globs_bad, 2, &bad);
  assert_non_null(msg);
  assert_int_equal(bad, 1);
  assert_non_null(strstr(msg, "relative to the build directory"));
  free(msg);
  const char *globs_bad2[] = {"src/[a-"};
  msg = brr_incr_globs_check(globs_bad2, 1, &bad);
  assert_non_null(msg);
  assert_int_equal(bad, 0);
  free(msg);
  assert_null(brr_incr_globs_check(globs, 1, &bad));
  brr_rm_rf(root);
  free(root);
}

/* The cache: a second session reads no file whose stat keys match; a changed size, mtime or
 * inode (a replaced file) makes it read that file again; a file written just now is not
 * trusted yet. */
static void test_hashcache_keys(void **state) {
  (void)state;
  char *root = make_tree();
  tu_set_mtime(root, "a.txt", 1500000000);
  tu_set_mtime(root, "src/main.c", 1500000000);
  tu_set_mtime(root, "src/lib/util.c", 1500000000);
  tu_set_mtime(root, "docs/readme.md", 1500000000);
  tu_set_mtime(root, "tmp/x.log", 1500000000);
  char *tmp = tu_mkdtemp();
  char *cpath = brr_path_join(tmp, "hashcache");
  char first[BRR_INCR_HEX], h[BRR_INCR_HEX];

  brr_hashcache *c = brr_hashcache_open(cpath);
  tree_hex(root, NULL, c, first);
  assert_int_equal(brr_hashcache_reads(c), 5);
  assert_int_equal(brr_hashcache_save(c), 0);
  brr_hashcache_free(c);

  c = brr_hashcache_open(cpath);
  tree_hex(root, NULL, c, h);
  assert_string_equal(first, h);
  assert_int_equal(brr_hashcache_reads(c), 0);
  brr_hashcache_free(c);

  /* same size, other mtime: read again (and the hash says the content is the same) */
  tu_set_mtime(root, "a.txt", 1500000001);
  c = brr_hashcache_open(cpath);
  tree_hex(root, NULL, c, h);
  assert_string_equal(first, h);
  assert_int_equal(brr_hashcache_reads(c), 1);
  assert_int_equal(brr_hashcache_save(c), 0);
  brr_hashcache_free(c);

  /* same size and mtime, other inode (replaced by a rename): read again, content seen */
  char *p = brr_path_join(root, "src/main.c"), *q = brr_path_join(root, "main.new");
  tu_write(root, "main.new", "int main(void) { return 1; }\n", 0644);
  tu_set_mtime(root, "main.new", 1500000000);
  assert_int_equal(rename(q, p), 0);
  c = brr_hashcache_open(cpath);
  tree_hex(root, NULL, c, h);
  assert_string_not_equal(first, h);
  assert_int_equal(brr_hashcache_reads(c), 1);
  assert_int_equal(brr_hashcache_save(c), 0);
  brr_hashcache_free(c);
  free(p);
  free(q);

  /* other size: read again */
  tu_write(root, "docs/readme.md", "# hello\n", 0644);
  tu_set_mtime(root, "docs/readme.md", 1500000000);
  c = brr_hashcache_open(cpath);
  tree_hex(root, NULL, c, h);
  assert_int_equal(brr_hashcache_reads(c), 1);
  assert_int_equal(brr_hashcache_save(c), 0);
  brr_hashcache_free(c);

  /* a file written now: read now and again next time (it may change within the same tick) */
  tu_write(root, "fresh.txt", "new\n", 0644);
  for (int round = 0; round < 2; round++) {
    c = brr_hashcache_open(cpath);
    tree_hex(root, NULL, c, h);
    assert_int_equal(brr_hashcache_reads(c), 1);
    assert_int_equal(brr_hashcache_save(c), 0);
    brr_hashcache_free(c);
  }

  /* a cache file that is not one is an empty cache */
  assert_int_equal(brr_write_file(cpath, "garbage", 7), 0);
  c = brr_hashcache_open(cpath);
  tree_hex(root, NULL, c, h);
  assert_int_equal(brr_hashcache_reads(c), 6);
  brr_hashcache_free(c);
  free(cpath);
  brr_rm_rf(tmp);
  free(tmp);
  brr_rm_rf(root);
  free(root);
}

/* ---- the store ---- */

static char *file_of(const char *dir, const char *name, size_t size, char fill) {
  char *p = brr_path_join(dir, name);
  char *buf = brr_xmalloc(size + 1);
  memset(buf, fill, size);
  assert_int_equal(brr_write_file(p, buf, size), 0);
  free(buf);
  return p;
}

static void put_ok(brr_store *s, const char *path, char hex[BRR_INCR_HEX]) {
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_store_put(s, path, hex, &d), 0);
  brr_diags_free(&d);
}

static brr_store *open_ok(const char *dir, uint64_t limit) {
  brr_store *s = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_store_open(dir, limit, &s, &d), 0);
  brr_diags_free(&d);
  return s;
}

static void test_store_roundtrip_dedup(void **state) {
  (void)state;
  char *tmp = tu_mkdtemp();
  char *sdir = brr_path_join(tmp, "store");
  brr_store *s = open_ok(sdir, 0);
  char *a = file_of(tmp, "a.bin", 3000, 'a');
  char *a2 = file_of(tmp, "a-again.bin", 3000, 'a');
  char ha[BRR_INCR_HEX], ha2[BRR_INCR_HEX], hf[BRR_INCR_HEX];
  put_ok(s, a, ha);
  put_ok(s, a2, ha2);
  assert_string_equal(ha, ha2);
  assert_int_equal(brr_incr_file_sha256(a, hf), 0);
  assert_string_equal(ha, hf);
  size_t n = 0;
  assert_int_equal(brr_store_size(s, &n), 3000);
  assert_int_equal(n, 1);
  char *out = brr_path_join(tmp, "restored.bin");
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_store_get(s, ha, out, 0750, &d), 0);
  char *x = tu_read(a), *y = tu_read(out);
  assert_string_equal(x, y);
  struct stat st;
  assert_int_equal(stat(out, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0750);
  assert_int_equal(brr_store_get(s, "00000000000000000000000000000000000000000000000000000000000000aa",
                                 out, 0644, &d), BRR_ENOENT);
  assert_int_equal(d.n, 0);
  brr_diags_free(&d);
  free(x);
  free(y);
  brr_store_free(s);
  free(out);
  free(a);
  free(a2);
  free(sdir);
  brr_rm_rf(tmp);
  free(tmp);
}

/* Least recently used first: a get counts as a use; what this session used is kept even over
 * the limit; the next session evicts down to it. */
static void test_store_eviction(void **state) {
  (void)state;
  char *tmp = tu_mkdtemp();
  char *sdir = brr_path_join(tmp, "store");
  char h1[BRR_INCR_HEX], h2[BRR_INCR_HEX], h3[BRR_INCR_HEX], h4[BRR_INCR_HEX];
  char *f1 = file_of(tmp, "1", 1000, '1'), *f2 = file_of(tmp, "2", 1000, '2');
  char *f3 = file_of(tmp, "3", 1000, '3'), *f4 = file_of(tmp, "4", 1000, '4');
  brr_store *s = open_ok(sdir, 0);
  put_ok(s, f1, h1);
  put_ok(s, f2, h2);
  put_ok(s, f3, h3);
  brr_store_free(s);

  /* a new session uses 1: the order of use is now 2, 3, 1 */
  s = open_ok(sdir, 3000);
  char *out = brr_path_join(tmp, "out");
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_store_get(s, h1, out, 0644, &d), 0);
  brr_store_free(s);

  /* another session with room for 3: putting 4 evicts 2 (the least recently used) */
  s = open_ok(sdir, 3000);
  put_ok(s, f4, h4);
  assert_false(brr_store_has(s, h2));
  assert_true(brr_store_has(s, h1));
  assert_true(brr_store_has(s, h3));
  assert_true(brr_store_has(s, h4));
  assert_int_equal(brr_store_size(s, NULL), 3000);
  char *p2 = brr_xasprintf("%s/objects/%.2s/%s", sdir, h2, h2 + 2);
  assert_int_not_equal(access(p2, F_OK), 0);  /* its file is gone too */
  assert_int_equal(brr_store_get(s, h2, out, 0644, &d), BRR_ENOENT);
  brr_store_free(s);

  /* a limit smaller than what one session uses: its own objects stay */
  s = open_ok(sdir, 1500);
  assert_int_equal(brr_store_get(s, h3, out, 0644, &d), 0);  /* a get never evicts */
  assert_true(brr_store_has(s, h1));
  put_ok(s, f2, h2);
  /* 1 and 4 were not used by this session: evicted; 2 and 3 were: kept over the limit */
  assert_false(brr_store_has(s, h1));
  assert_false(brr_store_has(s, h4));
  assert_true(brr_store_has(s, h2));
  assert_true(brr_store_has(s, h3));
  brr_store_free(s);
  /* the next session evicts down to the limit: 3 and 2, which it did not use */
  s = open_ok(sdir, 1500);
  put_ok(s, f1, h1);
  assert_false(brr_store_has(s, h2));
  assert_false(brr_store_has(s, h3));
  assert_true(brr_store_has(s, h1));
  brr_store_free(s);
  brr_diags_free(&d);
  free(p2);
  free(out);
  free(f1);
  free(f2);
  free(f3);
  free(f4);
  free(sdir);
  brr_rm_rf(tmp);
  free(tmp);
}

static size_t count_files(const char *dir) {
  char *cmd = brr_xasprintf("find '%s' -type f | wc -l", dir);
  FILE *f = popen(cmd, "r");
  free(cmd);
  size_t n = 0;
  assert_int_equal(fscanf(f, "%zu", &n), 1);
  pclose(f);
  return n;
}

/* A crash after the object's rename but before its record: nothing serves it, the next open
 * removes it, and a later put of the same content records it whole. A crash while writing
 * (a temp file of a dead process) is removed by the next open too. */
static void test_store_crash(void **state) {
  (void)state;
  char *tmp = tu_mkdtemp();
  char *sdir = brr_path_join(tmp, "store");
  char *f = file_of(tmp, "f", 2048, 'f');
  char h[BRR_INCR_HEX], h2[BRR_INCR_HEX];
  brr_store *s = open_ok(sdir, 0);
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_store_put_unrecorded(s, f, h, &d), 0);
  char *obj = brr_xasprintf("%s/objects/%.2s/%s", sdir, h, h + 2);
  assert_int_equal(access(obj, F_OK), 0);       /* written */
  assert_false(brr_store_has(s, h));             /* but not recorded: not served */
  char *out = brr_path_join(tmp, "out");
  assert_int_equal(brr_store_get(s, h, out, 0644, &d), BRR_ENOENT);
  assert_int_not_equal(access(out, F_OK), 0);
  assert_int_equal(brr_store_size(s, NULL), 0);
  brr_store_free(s);

  /* a temp file left by a writer that is gone (pid 1's start time is not 12345) */
  char *tmpf = brr_xasprintf("%s/tmp/1.12345.abcdef", sdir);
  assert_int_equal(brr_write_file(tmpf, "half", 4), 0);
  s = open_ok(sdir, 0);
  assert_int_not_equal(access(obj, F_OK), 0);    /* the unrecorded object went */
  assert_int_not_equal(access(tmpf, F_OK), 0);   /* and the temp file */
  put_ok(s, f, h2);
  assert_string_equal(h, h2);
  assert_true(brr_store_has(s, h));
  assert_int_equal(brr_store_get(s, h, out, 0644, &d), 0);
  char *x = tu_read(f), *y = tu_read(out);
  assert_string_equal(x, y);
  free(x);
  free(y);
  assert_int_equal(brr_store_size(s, NULL), 2048);
  brr_store_free(s);
  /* objects/ holds the one object; tmp/ holds nothing */
  char *objs = brr_path_join(sdir, "objects"), *tmps = brr_path_join(sdir, "tmp");
  assert_int_equal(count_files(objs), 1);
  assert_int_equal(count_files(tmps), 0);
  brr_diags_free(&d);
  free(objs);
  free(tmps);
  free(tmpf);
  free(out);
  free(obj);
  free(f);
  free(sdir);
  brr_rm_rf(tmp);
  free(tmp);
}

static void test_record(void **state) {
  (void)state;
  char *tmp = tu_mkdtemp();
  char *path = brr_incr_record_path(tmp, "app/run");
  brr_incr_record r = {0};
  brr_incr_inputs_add(&r.inputs, "config", "image: alpine\ncommands: [true]\n");
  brr_incr_inputs_add(&r.inputs, "image", "sha256:1111");
  brr_incr_inputs_add_hex(&r.inputs, "source",
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  brr_incr_inputs_key(&r.inputs, r.key);
  r.outputs = brr_xstrdup("{\"artifacts\":[{\"path\":\"app/x.txt\"}]}");
  assert_int_equal(brr_incr_record_write(path, &r), 0);

  brr_incr_record back;
  assert_int_equal(brr_incr_record_read(path, &back), 0);
  assert_string_equal(back.key, r.key);
  assert_int_equal(back.inputs.n, 3);
  assert_string_equal(back.outputs, "{\"artifacts\":[{\"path\":\"app/x.txt\"}]}");

  brr_incr_inputs now = {0};
  brr_incr_inputs_add(&now, "config", "image: alpine\ncommands: [true]\n");
  brr_incr_inputs_add(&now, "image", "sha256:1111");
  brr_incr_inputs_add_hex(&now, "source",
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  assert_null(brr_incr_why(&back, &now));
  assert_string_equal(brr_incr_why(NULL, &now), "no earlier successful run");
  brr_incr_inputs_free(&now);
  brr_incr_inputs_add(&now, "config", "image: alpine\ncommands: [true]\n");
  brr_incr_inputs_add(&now, "image", "sha256:2222");
  brr_incr_inputs_add_hex(&now, "source",
                          "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
  assert_string_equal(brr_incr_why(&back, &now), "image");  /* the first that changed */
  brr_incr_inputs_free(&now);
  brr_incr_inputs_add(&now, "config", "image: alpine\ncommands: [true]\n");
  brr_incr_inputs_add(&now, "image", "sha256:1111");
  assert_string_equal(brr_incr_why(&back, &now), "source");  /* gone on one side */
  brr_incr_inputs_free(&now);
  brr_incr_record_free(&back);

  /* a file that is not a record, and none */
  assert_int_equal(brr_write_file(path, "{\"key\": 3}", 10), 0);
  assert_int_equal(brr_incr_record_read(path, &back), BRR_EINVAL);
  assert_int_equal(brr_incr_record_remove(path), 0);
  assert_int_equal(brr_incr_record_read(path, &back), BRR_ENOENT);
  assert_int_equal(brr_incr_record_remove(path), 0);
  brr_incr_record_free(&r);
  free(path);
  brr_rm_rf(tmp);
  free(tmp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_known),     cmocka_unit_test(test_tree_changes),
      cmocka_unit_test(test_inputs_narrow),    cmocka_unit_test(test_hashcache_keys),
      cmocka_unit_test(test_store_roundtrip_dedup), cmocka_unit_test(test_store_eviction),
      cmocka_unit_test(test_store_crash),      cmocka_unit_test(test_record),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
