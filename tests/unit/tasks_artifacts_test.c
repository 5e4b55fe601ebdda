/* tasks: artifacts — the listing script in real shells, the consumer of archive-API tar
 * streams (made here by GNU tar, as the engine makes them: members named after the fetched
 * path's basename), and artifacts.json against Python's json module (spec §9.6-§9.8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "brr/tasks_files.h"
#include "unit/tasks_util.h"

static const char *yaml = "buildrunner.yaml";

/* ---- the listing script ---- */

/* A pretend /source. */
static char *make_source(void) {
  char *s = tu_mkdtemp();
  tu_write(s, "my dir/a b.txt", "ab", 0644);
  tu_write(s, "my dir/c.txt", "c", 0644);
  tu_write(s, "out/sub/f", "F", 0775);
  char *f = brr_path_join(s, "out/sub/f"), *g = brr_path_join(s, "out/sub/g");
  if (link(f, g) != 0) abort();  /* a hard link: the stream carries it as a link member */
  free(f);
  free(g);
  tu_write(s, "out/top.txt", "top", 0644);
  tu_symlink(s, "out/ln", "top.txt");
  tu_mkdir(s, "out/empty");
  tu_symlink(s, "link", "my dir");
  tu_symlink(s, "flink", "out/sub/f");
  tu_symlink(s, "dangling", "nowhere");
  tu_write(s, "it's", "quote", 0644);
  return s;
}

static char *describe_matches(const brr_artifact_match *m, size_t n, const char *root) {
  brr_buf b = BRR_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    const char *fetch = m[i].fetch;
    if (brr_startswith(fetch, root)) fetch += strlen(root);
    brr_buf_printf(&b, "%s%zu %c [%s] [%s]", i ? "|" : "", m[i].pattern,
                   m[i].kind == BRR_ARTIFACT_DIR ? 'd' : 'f', m[i].path, fetch);
  }
  return brr_buf_detach(&b);
}

static void test_list_script(void **state) {
  (void)state;
  char *src = make_source();
  const char *patterns[] = {"my dir/*.txt", "out", "link", "flink", "nomatch*", "dangling",
                            "it's", "$(touch PWNED)", "*/sub/?", "my dir"};
  brr_buf script = BRR_BUF_INIT;
  brr_artifact_list_script(patterns, BRR_ARRAY_LEN(patterns), &script);
  const char *want =
      "0 f [my dir/a b.txt] [/my dir/a b.txt]|0 f [my dir/c.txt] [/my dir/c.txt]|"
      "1 d [out] [/out]|2 d [link] [/my dir]|3 f [flink] [/out/sub/f]|6 f [it's] [/it's]|"
      "8 f [out/sub/f] [/out/sub/f]|8 f [out/sub/g] [/out/sub/g]|9 d [my dir] [/my dir]";
  const char *shells[][3] = {{"dash", NULL}, {"bash", "--posix"}, {"busybox", "sh"}};
  int ran = 0;
  for (size_t i = 0; i < BRR_ARRAY_LEN(shells); i++) {
    if (!tu_have(shells[i][0])) continue;
    char *argv[5];
    size_t k = 0;
    argv[k++] = (char *)shells[i][0];
    if (shells[i][1]) argv[k++] = (char *)shells[i][1];
    argv[k++] = (char *)"-c";
    argv[k++] = script.data;
    argv[k] = NULL;
    brr_buf out = BRR_BUF_INIT;
    assert_int_equal(tu_run(argv, src, &out), 0);
    brr_artifact_match *m;
    size_t n;
    brr_diags d = BRR_DIAGS_INIT;
    assert_int_equal(brr_artifact_list_parse(out.data, out.len, BRR_ARRAY_LEN(patterns), &m, &n, &d), 0);
    char *got = describe_matches(m, n, src);
    if (strcmp(got, want) != 0) fail_msg("%s: got\n%s\nwant\n%s", shells[i][0], got, want);
    assert_false(tu_exists(src, "PWNED"));  /* patterns are data, never commands */
    free(got);
    brr_artifact_matches_free(m, n);
    brr_buf_free(&out);
    ran++;
  }
  assert_true(ran >= 1);
  brr_buf_free(&script);
  brr_rm_rf(src);
  free(src);
}

static void test_list_parse_errors(void **state) {
  (void)state;
  static const struct { const char *text; size_t len; } bad[] = {
      {"0\0f\0a\0", 6},           /* truncated */
      {"0\0x\0a\0/a\0", 9},       /* unknown kind */
      {"5\0f\0a\0/a\0", 9},       /* no such pattern */
      {"0\0f\0\0/a\0", 8},        /* empty path */
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(bad); i++) {
    brr_artifact_match *m;
    size_t n;
    brr_diags d = BRR_DIAGS_INIT;
    assert_int_equal(brr_artifact_list_parse(bad[i].text, bad[i].len, 2, &m, &n, &d), BRR_EINVAL);
    assert_null(m);
    assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
    brr_diags_free(&d);
  }
  brr_artifact_match *m;
  size_t n;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_artifact_list_parse("", 0, 1, &m, &n, &d), 0);
  assert_int_equal(n, 0);
  brr_artifact_matches_free(m, n);
}

/* ---- the stream consumer ---- */

typedef struct fixture {
  char *src;       /* the container's /source */
  char *results;   /* the results dir */
  brr_arena *a;
  brr_value *artifacts;
} fixture;

static int setup(void **state) {
  fixture *f = brr_xcalloc(1, sizeof *f);
  f->src = make_source();
  f->results = tu_mkdtemp();
  f->a = brr_arena_new();
  f->artifacts = brr_val_map(f->a, BRR_MARK_NONE);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  brr_rm_rf(f->src);
  brr_rm_rf(f->results);
  free(f->src);
  free(f->results);
  brr_arena_free(f->a);
  free(f);
  return 0;
}

/* What GET /containers/{id}/archive?path=<src>/<rel> returns: `rel`'s basename and below. */
static void archive_stream(const fixture *f, const char *rel, brr_buf *out) {
  char *full = brr_path_join(f->src, rel);
  char *dir = brr_path_dirname(full);
  char *argv[] = {(char *)"tar", (char *)"--sort=name", (char *)"-C", dir, (char *)"-cf",
                  (char *)"-", (char *)brr_path_basename(full), NULL};
  assert_int_equal(tu_run(argv, NULL, out), 0);
  free(dir);
  free(full);
}

/* Store one match fetched from `fetch`; returns the finish's result. */
static int store_from(fixture *f, const char *pattern, const char *match, const char *fetch,
                      brr_artifact_kind kind, const brr_value *props, brr_diags *d) {
  brr_buf stream = BRR_BUF_INIT;
  archive_stream(f, fetch, &stream);
  brr_artifact_req req = {"pkg", f->results, {pattern, {yaml, 30, 9}}, props, match, kind};
  brr_artifact_sink *s;
  int rc = brr_artifact_sink_new(&req, &s, d);
  if (rc == 0) {
    for (size_t off = 0; off < stream.len; off += 777) {
      size_t n = stream.len - off < 777 ? stream.len - off : 777;
      assert_int_equal(brr_artifact_sink_write(s, stream.data + off, n), 0);
    }
    rc = brr_artifact_sink_finish(s, f->a, f->artifacts, d);
  }
  brr_buf_free(&stream);
  return rc;
}

static int store(fixture *f, const char *pattern, const char *match, brr_artifact_kind kind,
                 const brr_value *props, brr_diags *d) {
  return store_from(f, pattern, match, match, kind, props, d);
}

static char *json_of(const brr_value *v) {
  brr_buf b = BRR_BUF_INIT;
  brr_val_to_json(v, -1, &b);
  return brr_buf_detach(&b);
}

static brr_value *props_of(fixture *f, const char *k1, brr_value *v1, const char *k2, brr_value *v2) {
  brr_value *m = brr_val_map(f->a, (brr_mark){yaml, 31, 11});
  if (k1) brr_val_map_sets(f->a, m, k1, v1);
  if (k2) brr_val_map_sets(f->a, m, k2, v2);
  return m;
}

static brr_value *str(fixture *f, const char *s) { return brr_val_str(f->a, (brr_mark){yaml, 32, 13}, s); }

/* No hidden spool or temporary file may stay behind in the step directory. */
static void assert_no_leftovers(const fixture *f) {
  char *argv[] = {(char *)"find", f->results, (char *)"-name", (char *)".brr-*", NULL};
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(tu_run(argv, NULL, &out), 0);
  if (out.len) fail_msg("left behind: %s", out.data);
  brr_buf_free(&out);
}

static void test_file(void **state) {
  fixture *f = *state;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(store(f, "out/sub/f", "out/sub/f", BRR_ARTIFACT_FILE, NULL, &d), 0);
  char *pkg = brr_path_join(f->results, "pkg");
  char *s = tu_read_rel(pkg, "f");
  assert_string_equal(s, "F");
  free(s);
  struct stat st;
  char *p = brr_path_join(pkg, "f");
  assert_int_equal(stat(p, &st), 0);
  mode_t um = umask(022);
  umask(um);
  assert_int_equal(st.st_mode & 07777, 0775 & ~um);  /* cp: the source mode under the umask */
  free(p);
  /* rename: the file takes the new name and `rename` becomes {old, new} in place */
  brr_value *props = props_of(f, "rename", str(f, "g.bin"), "type", str(f, "python-wheel"));
  assert_int_equal(store(f, "out/sub/f", "out/sub/f", BRR_ARTIFACT_FILE, props, &d), 0);
  s = tu_read_rel(pkg, "g.bin");
  assert_string_equal(s, "F");
  free(s);
  /* a link matched: the listing resolved it, the stream holds the target */
  assert_int_equal(store_from(f, "flink", "flink", "out/sub/f", BRR_ARTIFACT_FILE, NULL, &d), 0);
  s = tu_read_rel(pkg, "flink");
  assert_string_equal(s, "F");
  free(s);
  /* push: false stores the file but does not register it */
  assert_int_equal(store(f, "my dir/c.txt", "my dir/c.txt", BRR_ARTIFACT_FILE,
                         props_of(f, "push", brr_val_bool(f->a, BRR_MARK_NONE, false), NULL, NULL), &d), 0);
  assert_true(tu_exists(pkg, "c.txt"));
  /* empty properties are registered as they are */
  assert_int_equal(store(f, "my dir/a b.txt", "my dir/a b.txt", BRR_ARTIFACT_FILE,
                         props_of(f, NULL, NULL, NULL, NULL), &d), 0);
  char *j = json_of(f->artifacts);
  assert_string_equal(j, "{\"pkg/f\": null, \"pkg/g.bin\": {\"rename\": {\"old\": \"out/sub/f\", "
                         "\"new\": \"g.bin\"}, \"type\": \"python-wheel\"}, \"pkg/flink\": null, "
                         "\"pkg/a b.txt\": {}}");
  free(j);
  assert_int_equal(d.n, 0);
  assert_no_leftovers(f);
  free(pkg);
}

static void test_rename_with_star(void **state) {
  fixture *f = *state;
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *props = props_of(f, "rename", str(f, "x"), NULL, NULL);
  assert_int_equal(store(f, "out/sub/*", "out/sub/f", BRR_ARTIFACT_FILE, props, &d), BRR_ECONFIG);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_CONFIG);
  assert_string_equal(d.v[0].msg, "Rename is not supported with wildcard patterns. `out/sub/*` is "
                                  "not a valid pattern to use with rename.");
  assert_int_equal(d.v[0].mark.line, 32);
  assert_false(tu_exists(f->results, "pkg/x"));
  brr_diags_free(&d);
}

static void test_uncompressed_dir(void **state) {
  fixture *f = *state;
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *props = props_of(f, "format", str(f, "uncompressed"), "rename", str(f, "ignored"));
  assert_int_equal(store(f, "out", "out", BRR_ARTIFACT_DIR, props, &d), 0);
  char *pkg = brr_path_join(f->results, "pkg");
  char *s = tu_read_rel(pkg, "out/sub/f");
  assert_string_equal(s, "F");
  free(s);
  s = tu_read_rel(pkg, "out/sub/g");  /* the hard link member becomes a file too */
  assert_string_equal(s, "F");
  free(s);
  assert_true(tu_exists(pkg, "out/top.txt"));
  assert_false(tu_exists(pkg, "out/ln"));     /* find -type f: no links */
  assert_false(tu_exists(pkg, "out/empty"));  /* ... and no empty directories */
  char *j = json_of(f->artifacts);
  assert_string_equal(j, "{\"pkg/out/sub/f\": {\"format\": \"uncompressed\", \"rename\": \"ignored\"}, "
                         "\"pkg/out/sub/g\": {\"format\": \"uncompressed\", \"rename\": \"ignored\"}, "
                         "\"pkg/out/top.txt\": {\"format\": \"uncompressed\", \"rename\": \"ignored\"}}");
  free(j);
  assert_no_leftovers(f);
  free(pkg);
}

static void expect_archive(const fixture *f, const char *rel, int filter, int format_family,
                           const char *names) {
  char *p = brr_path_join(f->results, rel);
  tu_tar t;
  if (!tu_tar_read(p, &t)) fail_msg("cannot read %s", rel);
  assert_int_equal(t.filter, filter);
  assert_int_equal(t.format & ARCHIVE_FORMAT_BASE_MASK, format_family);
  char *got = tu_tar_names(&t);
  if (strcmp(got, names) != 0) fail_msg("%s: members %s, want %s", rel, got, names);
  free(got);
  tu_tar_free(&t);
  free(p);
}

static void test_dir_archives(void **state) {
  fixture *f = *state;
  brr_diags d = BRR_DIAGS_INIT;
  const char *members = "out/|out/empty/|out/ln|out/sub/|out/sub/f|out/sub/g|out/top.txt";
  /* no properties: <name>.tar.gz */
  assert_int_equal(store(f, "out", "out", BRR_ARTIFACT_DIR, NULL, &d), 0);
  expect_archive(f, "pkg/out.tar.gz", ARCHIVE_FILTER_GZIP, ARCHIVE_FORMAT_TAR, members);
  /* GNU tar reads it too */
  char *gz = brr_path_join(f->results, "pkg/out.tar.gz");
  char *argv[] = {(char *)"tar", (char *)"-xzOf", gz, (char *)"out/sub/f", NULL};
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(tu_run(argv, NULL, &out), 0);
  assert_string_equal(out.data, "F");
  brr_buf_free(&out);
  free(gz);
  /* rename and a nested archive map: the members follow the new name */
  brr_value *arch = props_of(f, "compression", str(f, "bz2"), NULL, NULL);
  brr_value *props = props_of(f, "rename", str(f, "renamed"), "archive", arch);
  assert_int_equal(store(f, "out", "out", BRR_ARTIFACT_DIR, props, &d), 0);
  expect_archive(f, "pkg/renamed.tar.bz2", ARCHIVE_FILTER_BZIP2, ARCHIVE_FORMAT_TAR,
                 "renamed/|renamed/empty/|renamed/ln|renamed/sub/|renamed/sub/f|renamed/sub/g|"
                 "renamed/top.txt");
  char *bz = brr_path_join(f->results, "pkg/renamed.tar.bz2");
  tu_tar t;
  assert_true(tu_tar_read(bz, &t));
  assert_string_equal(tu_tar_find(&t, "renamed/sub/g")->hardlink, "renamed/sub/f");
  tu_tar_free(&t);
  free(bz);
  /* top-level compression is not an archive option */
  assert_int_equal(store(f, "out", "out", BRR_ARTIFACT_DIR,
                         props_of(f, "compression", str(f, "tar"), NULL, NULL), &d), 0);
  /* each compression, a suffix picked by --auto-compress, a zip */
  static const struct { const char *compression, *suffix, *file; int filter; } table[] = {
      {"xz", NULL, "pkg/xz.tar.xz", ARCHIVE_FILTER_XZ},
      {"lzma", NULL, "pkg/lzma.tar.lzma", ARCHIVE_FILTER_LZMA},
      {"lzip", NULL, "pkg/lzip.tar.lzip", ARCHIVE_FILTER_LZIP},
      {"z", NULL, "pkg/z.tar.z", ARCHIVE_FILTER_COMPRESS},
      {"none", ".tgz", "pkg/auto.tgz", ARCHIVE_FILTER_GZIP},
      {"none", ".tar", "pkg/plain.tar", ARCHIVE_FILTER_NONE},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(table); i++) {
    char *name = brr_xstrndup(table[i].file + 4, strcspn(table[i].file + 4, "."));
    brr_value *am = props_of(f, "compression", str(f, table[i].compression), "name", str(f, name));
    if (table[i].suffix) brr_val_map_sets(f->a, am, "suffix", str(f, table[i].suffix));
    tu_ok(store(f, "out", "out", BRR_ARTIFACT_DIR, props_of(f, "archive", am, NULL, NULL), &d), &d);
    char *m = brr_xasprintf("%s/|%s/empty/|%s/ln|%s/sub/|%s/sub/f|%s/sub/g|%s/top.txt", name, name,
                            name, name, name, name, name);
    expect_archive(f, table[i].file, table[i].filter, ARCHIVE_FORMAT_TAR, m);
    free(m);
    free(name);
  }
  brr_value *zip = props_of(f, "type", str(f, "zip"), NULL, NULL);
  assert_int_equal(store(f, "out", "out", BRR_ARTIFACT_DIR, props_of(f, "archive", zip, "push", brr_val_bool(f->a, BRR_MARK_NONE, false)), &d), 0);
  expect_archive(f, "pkg/out.zip", ARCHIVE_FILTER_NONE, ARCHIVE_FORMAT_ZIP, members);
  /* the registrations: the flag appended, the zip (push: false) left out */
  char *j = json_of(f->artifacts);
  assert_string_equal(j,
      "{\"pkg/out.tar.gz\": {\"compression\": \"tar\", \"buildrunner.compressed.directory\": \"true\"}, "
      "\"pkg/renamed.tar.bz2\": {\"rename\": {\"old\": \"out\", \"new\": \"renamed\"}, \"archive\": "
      "{\"compression\": \"bz2\"}, \"buildrunner.compressed.directory\": \"true\"}, "
      "\"pkg/xz.tar.xz\": {\"archive\": {\"compression\": \"xz\", \"name\": \"xz\"}, "
      "\"buildrunner.compressed.directory\": \"true\"}, "
      "\"pkg/lzma.tar.lzma\": {\"archive\": {\"compression\": \"lzma\", \"name\": \"lzma\"}, "
      "\"buildrunner.compressed.directory\": \"true\"}, "
      "\"pkg/lzip.tar.lzip\": {\"archive\": {\"compression\": \"lzip\", \"name\": \"lzip\"}, "
      "\"buildrunner.compressed.directory\": \"true\"}, "
      "\"pkg/z.tar.z\": {\"archive\": {\"compression\": \"z\", \"name\": \"z\"}, "
      "\"buildrunner.compressed.directory\": \"true\"}, "
      "\"pkg/auto.tgz\": {\"archive\": {\"compression\": \"none\", \"name\": \"auto\", \"suffix\": \".tgz\"}, "
      "\"buildrunner.compressed.directory\": \"true\"}, "
      "\"pkg/plain.tar\": {\"archive\": {\"compression\": \"none\", \"name\": \"plain\", \"suffix\": \".tar\"}, "
      "\"buildrunner.compressed.directory\": \"true\"}}");
  free(j);
  assert_int_equal(d.n, 0);
  assert_no_leftovers(f);
}

/* lzop needs the external lzop program; without it the error is clear and nothing is left. */
static void test_lzop(void **state) {
  fixture *f = *state;
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *am = props_of(f, "compression", str(f, "lzop"), NULL, NULL);
  int rc = store(f, "out", "out", BRR_ARTIFACT_DIR, props_of(f, "archive", am, NULL, NULL), &d);
  if (tu_have("lzop")) {
    assert_int_equal(rc, 0);
    expect_archive(f, "pkg/out.tar.lzop", ARCHIVE_FILTER_LZOP, ARCHIVE_FORMAT_TAR,
                   "out/|out/empty/|out/ln|out/sub/|out/sub/f|out/sub/g|out/top.txt");
  } else {
    assert_int_equal(rc, BRR_EIO);
    assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
    assert_non_null(strstr(d.v[0].msg, "lzop"));
    assert_false(tu_exists(f->results, "pkg/out.tar.lzop"));
    assert_int_equal(f->artifacts->u.map.n, 0);
  }
  assert_no_leftovers(f);
  brr_diags_free(&d);
}

static void test_bad_input(void **state) {
  fixture *f = *state;
  brr_diags d = BRR_DIAGS_INIT;
  /* an unknown archive type */
  brr_value *am = props_of(f, "type", str(f, "rar"), NULL, NULL);
  assert_int_equal(store(f, "out", "out", BRR_ARTIFACT_DIR, props_of(f, "archive", am, NULL, NULL), &d),
                   BRR_ECONFIG);
  assert_non_null(strstr(d.v[0].msg, "unsupported archive type \"rar\""));
  brr_diags_free(&d);
  /* a rename climbing out of the step directory */
  assert_int_equal(store(f, "out/sub/f", "out/sub/f", BRR_ARTIFACT_FILE,
                         props_of(f, "rename", str(f, "../../escape"), NULL, NULL), &d), BRR_ECONFIG);
  assert_non_null(strstr(d.v[0].msg, "outside the step's results directory"));
  brr_diags_free(&d);
  /* a file expected, a directory received */
  assert_int_equal(store(f, "out", "out", BRR_ARTIFACT_FILE, NULL, &d), BRR_EIO);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
  brr_diags_free(&d);
  /* a stream that is not a tar */
  brr_artifact_req req = {"pkg", f->results, {"x", {yaml, 1, 1}}, NULL, "x", BRR_ARTIFACT_FILE};
  brr_artifact_sink *s;
  assert_int_equal(brr_artifact_sink_new(&req, &s, &d), 0);
  assert_int_equal(brr_artifact_sink_write(s, "garbage", 7), 0);
  assert_int_equal(brr_artifact_sink_finish(s, f->a, f->artifacts, &d), BRR_EIO);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
  brr_diags_free(&d);
  /* a stream dropped half way */
  assert_int_equal(brr_artifact_sink_new(&req, &s, &d), 0);
  brr_artifact_sink_free(s);
  assert_int_equal(f->artifacts->u.map.n, 0);
  assert_false(tu_exists(f->results, "pkg/x"));
  assert_no_leftovers(f);
}

/* ---- artifacts.json ---- */

static char *python(const char *script, const char *arg1, const char *arg2) {
  char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)script, (char *)arg1,
                  (char *)arg2, NULL};
  brr_buf out = BRR_BUF_INIT;
  if (tu_run(argv, NULL, &out) != 0) fail_msg("python failed");
  return brr_buf_detach(&out);
}

/* The same document as JSON text for Python and as a value tree for brr. */
static const char *doc_json =
    "{\"build.log\": {\"type\": \"log\"}, \"pkg/f\": null,"
    " \"pkg/g.bin\": {\"rename\": {\"old\": \"out/f\", \"new\": \"g.bin\"}, \"push\": true,"
    " \"n\": 3, \"x\": 1.0, \"y\": 0.1, \"z\": 1e16, \"neg\": -2.5, \"w\": 123456.789},"
    " \"uni\": \"caf\\u00e9 \\u2713 \\ud83d\\ude00\", \"ctl\": \"a\\nb\\tc\\u0001\\\"q\\\"\\\\/\","
    " \"empty\": {}, \"list\": [], \"l2\": [1, \"two\", false, null, {\"k\": []}]}";

static brr_value *doc_value(brr_arena *a) {
  brr_mark m = BRR_MARK_NONE;
  brr_value *root = brr_val_map(a, m);
  brr_value *log = brr_val_map(a, m);
  brr_val_map_sets(a, log, "type", brr_val_str(a, m, "log"));
  brr_val_map_sets(a, root, "build.log", log);
  brr_val_map_sets(a, root, "pkg/f", brr_val_null(a, m));
  brr_value *g = brr_val_map(a, m), *r = brr_val_map(a, m);
  brr_val_map_sets(a, r, "old", brr_val_str(a, m, "out/f"));
  brr_val_map_sets(a, r, "new", brr_val_str(a, m, "g.bin"));
  brr_val_map_sets(a, g, "rename", r);
  brr_val_map_sets(a, g, "push", brr_val_bool(a, m, true));
  brr_val_map_sets(a, g, "n", brr_val_int(a, m, 3));
  brr_val_map_sets(a, g, "x", brr_val_float(a, m, 1.0));
  brr_val_map_sets(a, g, "y", brr_val_float(a, m, 0.1));
  brr_val_map_sets(a, g, "z", brr_val_float(a, m, 1e16));
  brr_val_map_sets(a, g, "neg", brr_val_float(a, m, -2.5));
  brr_val_map_sets(a, g, "w", brr_val_float(a, m, 123456.789));
  brr_val_map_sets(a, root, "pkg/g.bin", g);
  brr_val_map_sets(a, root, "uni", brr_val_str(a, m, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"));
  brr_val_map_sets(a, root, "ctl", brr_val_str(a, m, "a\nb\tc\x01\"q\"\\/"));
  brr_val_map_sets(a, root, "empty", brr_val_map(a, m));
  brr_val_map_sets(a, root, "list", brr_val_list(a, m));
  brr_value *l2 = brr_val_list(a, m), *k = brr_val_map(a, m);
  brr_val_list_push(a, l2, brr_val_int(a, m, 1));
  brr_val_list_push(a, l2, brr_val_str(a, m, "two"));
  brr_val_list_push(a, l2, brr_val_bool(a, m, false));
  brr_val_list_push(a, l2, brr_val_null(a, m));
  brr_val_map_sets(a, k, "k", brr_val_list(a, m));
  brr_val_list_push(a, l2, k);
  brr_val_map_sets(a, root, "l2", l2);
  return root;
}

static void test_json_layout(void **state) {
  (void)state;
  char *dir = tu_mkdtemp();
  char *path = brr_path_join(dir, "artifacts.json");
  brr_arena *a = brr_arena_new();
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_artifacts_json_write(path, doc_value(a), &d), 0);
  char *got = tu_read(path);
  char *want = python("import json, sys\nfrom collections import OrderedDict\n"
                      "sys.stdout.write(json.dumps(json.loads(sys.argv[1], "
                      "object_pairs_hook=OrderedDict), indent=2))\n",
                      doc_json, NULL);
  assert_string_equal(got, want);
  free(got);
  free(want);
  /* an empty map writes nothing */
  char *other = brr_path_join(dir, "none.json");
  assert_int_equal(brr_artifacts_json_write(other, brr_val_map(a, BRR_MARK_NONE), &d), 0);
  assert_false(tu_exists(dir, "none.json"));
  assert_int_equal(d.n, 0);
  free(other);
  brr_arena_free(a);
  free(path);
  brr_rm_rf(dir);
  free(dir);
}

/* --keep-step-artifacts: old keys first, new values replace old ones in place; numbers keep
 * their spelling (7.0 stays a float, 2**53+1 stays exact); repeated keys as OrderedDict. */
static void test_json_merge(void **state) {
  (void)state;
  char *dir = tu_mkdtemp();
  char *path = brr_path_join(dir, "artifacts.json");
  const char *old_json =
      "{\n  \"build.log\": {\"type\": \"log\"},\n  \"a\": 1,\n  \"keep\": 7.0,\n"
      "  \"big\": 9007199254740993,\n  \"dup\": 1,\n  \"dup\": 2,\n  \"e\": 2.5e-07\n}";
  const char *new_json = "{\"build.log\": {\"type\": \"log\"}, \"a\": 2, \"new\": null}";
  tu_write(dir, "artifacts.json", old_json, 0644);
  brr_arena *a = brr_arena_new();
  brr_value *nv = brr_val_map(a, BRR_MARK_NONE);
  brr_value *log = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, log, "type", brr_val_str(a, BRR_MARK_NONE, "log"));
  brr_val_map_sets(a, nv, "build.log", log);
  brr_val_map_sets(a, nv, "a", brr_val_int(a, BRR_MARK_NONE, 2));
  brr_val_map_sets(a, nv, "new", brr_val_null(a, BRR_MARK_NONE));
  brr_diags d = BRR_DIAGS_INIT;
  tu_ok(brr_artifacts_json_write(path, nv, &d), &d);
  char *got = tu_read(path);
  char *want = python("import json, sys\nfrom collections import OrderedDict\n"
                      "old = json.loads(sys.argv[1], object_pairs_hook=OrderedDict)\n"
                      "new = json.loads(sys.argv[2], object_pairs_hook=OrderedDict)\n"
                      "m = OrderedDict(list(old.items()) + list(new.items()))\n"
                      "sys.stdout.write(json.dumps(m, indent=2))\n",
                      old_json, new_json);
  assert_string_equal(got, want);
  free(got);
  free(want);
  /* a file that is not a JSON object stays untouched and the write fails */
  tu_write(dir, "artifacts.json", "[1, 2]", 0644);
  assert_int_equal(brr_artifacts_json_write(path, nv, &d), BRR_EINVAL);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_FAILED);
  got = tu_read(path);
  assert_string_equal(got, "[1, 2]");
  free(got);
  brr_diags_free(&d);
  brr_arena_free(a);
  free(path);
  brr_rm_rf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_script),
      cmocka_unit_test(test_list_parse_errors),
      cmocka_unit_test_setup_teardown(test_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rename_with_star, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uncompressed_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dir_archives, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lzop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
      cmocka_unit_test(test_json_layout),
      cmocka_unit_test(test_json_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
