/* tasks against the real engine: the pieces the run and build tasks will use, driven through
 * the Engine API exactly as those tasks will drive it (raw libcurl on the docker socket, so
 * this test does not depend on brr's engine client):
 *   - the /source tar PUT into a busybox container with a /source volume;
 *   - the artifact listing script run there by exec, each match fetched with GET archive and
 *     fed chunk by chunk to a sink;
 *   - legacy context tars POSTed to /build, the resulting image's files read back.
 * Every container and image made here is removed on every path. Needs busybox:latest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "brr/tasks.h"
#include "unit/tasks_util.h"

#define SOCK "/var/run/docker.sock"
#define IMAGE "busybox:latest"

typedef size_t (*write_fn)(char *, size_t, size_t, void *);

static size_t to_buf(char *p, size_t size, size_t n, void *ud) {
  brr_buf_append(ud, p, size * n);
  return size * n;
}

/* One Engine API request; the response body goes to `fn`/`ud` (default: `out`). */
static long api(const char *method, const char *path, const char *ctype, const void *body,
                size_t len, write_fn fn, void *ud, brr_buf *out) {
  CURL *c = curl_easy_init();
  char *url = brr_xasprintf("http://localhost/v1.41%s", path);
  struct curl_slist *h = NULL;
  if (ctype) {
    char *ct = brr_xasprintf("Content-Type: %s", ctype);
    h = curl_slist_append(h, ct);
    free(ct);
  }
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, SOCK);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fn ? fn : to_buf);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, fn ? ud : (void *)out);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  free(url);
  return status;
}

static char *json_field(const brr_buf *b, const char *key) {
  cJSON *j = cJSON_Parse(brr_buf_cstr(b));
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  char *r = cJSON_IsString(v) ? brr_xstrdup(v->valuestring) : NULL;
  cJSON_Delete(j);
  return r;
}

static char *create_container(const char *image, const char *json_tail) {
  char *body = brr_xasprintf("{\"Image\": \"%s\"%s}", image, json_tail);
  brr_buf out = BRR_BUF_INIT;
  long st = api("POST", "/containers/create", "application/json", body, strlen(body), NULL, NULL, &out);
  if (st != 201) fail_msg("create: %ld %s", st, brr_buf_cstr(&out));
  char *id = json_field(&out, "Id");
  brr_buf_free(&out);
  free(body);
  return id;
}

static void remove_container(const char *id) {
  char *p = brr_xasprintf("/containers/%s?force=1&v=1", id);
  brr_buf out = BRR_BUF_INIT;
  api("DELETE", p, NULL, NULL, 0, NULL, NULL, &out);
  brr_buf_free(&out);
  free(p);
}

/* Run `cmd` by exec in `id` (working directory `cwd`) and return its demultiplexed stdout. */
static void exec_stdout(const char *id, const char *cwd, const char *script, brr_buf *stdout_) {
  cJSON *req = cJSON_CreateObject();
  cJSON_AddBoolToObject(req, "AttachStdout", 1);
  cJSON_AddBoolToObject(req, "AttachStderr", 1);
  cJSON_AddStringToObject(req, "WorkingDir", cwd);
  cJSON *cmd = cJSON_AddArrayToObject(req, "Cmd");
  cJSON_AddItemToArray(cmd, cJSON_CreateString("sh"));
  cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
  cJSON_AddItemToArray(cmd, cJSON_CreateString(script));
  char *body = cJSON_PrintUnformatted(req);
  cJSON_Delete(req);
  char *p = brr_xasprintf("/containers/%s/exec", id);
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(api("POST", p, "application/json", body, strlen(body), NULL, NULL, &out), 201);
  char *exec_id = json_field(&out, "Id");
  brr_buf_reset(&out);
  free(p);
  free(body);
  p = brr_xasprintf("/exec/%s/start", exec_id);
  const char *start = "{\"Detach\": false, \"Tty\": false}";
  assert_int_equal(api("POST", p, "application/json", start, strlen(start), NULL, NULL, &out), 200);
  /* frames: stream id, three zero bytes, big-endian length, payload */
  for (size_t i = 0; i + 8 <= out.len;) {
    const unsigned char *hdr = (const unsigned char *)out.data + i;
    size_t n = (size_t)hdr[4] << 24 | (size_t)hdr[5] << 16 | (size_t)hdr[6] << 8 | hdr[7];
    if (hdr[0] == 1) brr_buf_append(stdout_, out.data + i + 8, n);
    i += 8 + n;
  }
  brr_buf_free(&out);
  free(p);
  free(exec_id);
}

/* ---- fixture: a running busybox container with a /source volume ---- */

typedef struct fixture {
  char *dir;
  char *container;
  char *image;      /* built by a test, removed by the teardown */
} fixture;

static int setup(void **state) {
  fixture *f = brr_xcalloc(1, sizeof *f);
  f->dir = tu_mkdtemp();
  brr_buf ping = BRR_BUF_INIT;
  if (api("GET", "/_ping", NULL, NULL, 0, NULL, NULL, &ping) != 200)
    fail_msg("the docker engine does not answer on " SOCK);
  brr_buf_free(&ping);
  f->container = create_container(IMAGE, ", \"Cmd\": [\"sleep\", \"600\"], \"Volumes\": {\"/source\": {}}");
  char *p = brr_xasprintf("/containers/%s/start", f->container);
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(api("POST", p, NULL, NULL, 0, NULL, NULL, &out), 204);
  brr_buf_free(&out);
  free(p);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (f->container) remove_container(f->container);
  if (f->image) {
    char *p = brr_xasprintf("/images/%s?force=1", f->image);
    brr_buf out = BRR_BUF_INIT;
    api("DELETE", p, NULL, NULL, 0, NULL, NULL, &out);
    brr_buf_free(&out);
    free(p);
  }
  brr_rm_rf(f->dir);
  free(f->dir);
  free(f->container);
  free(f->image);
  free(f);
  return 0;
}

static void put_file(const char *container, const char *where, const char *tar_path) {
  brr_buf tar = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(tar_path, &tar), 0);
  char *p = brr_xasprintf("/containers/%s/archive?path=%s", container, where);
  brr_buf out = BRR_BUF_INIT;
  long st = api("PUT", p, "application/x-tar", tar.data, tar.len, NULL, NULL, &out);
  if (st != 200) fail_msg("PUT archive: %ld %s", st, brr_buf_cstr(&out));
  brr_buf_free(&out);
  brr_buf_free(&tar);
  free(p);
}

static size_t to_sink(char *p, size_t size, size_t n, void *ud) {
  return brr_artifact_sink_write(ud, p, size * n) == 0 ? size * n : 0;
}

static void test_source_and_artifacts(void **state) {
  fixture *f = *state;
  char *build = brr_path_join(f->dir, "build");
  tu_write(build, "src/a.c", "int main;\n", 0644);
  tu_write(build, "my dir/x y.txt", "spaces\n", 0644);
  tu_write(build, "out/sub/f", "F\n", 0755);
  tu_symlink(build, "out/ln", "sub/f");
  tu_write(build, ".git/HEAD", "ref: refs/heads/main\n", 0644);
  tu_write(build, "buildrunner.results/old", "old\n", 0644);
  tu_write(build, ".buildignore", "*.log\n", 0644);
  tu_write(build, "junk.log", "x\n", 0644);
  char *results = brr_path_join(build, "buildrunner.results");
  char *tar = brr_path_join(f->dir, "source.tar");
  brr_diags d = BRR_DIAGS_INIT;
  tu_ok(brr_source_tar_create(build, results, tar, &d), &d);
  put_file(f->container, "/source", tar);

  brr_buf listing = BRR_BUF_INIT;
  exec_stdout(f->container, "/source", "find . | sort", &listing);
  assert_string_equal(brr_buf_cstr(&listing),
                      ".\n./.buildignore\n./.git\n./.git/HEAD\n./my dir\n./my dir/x y.txt\n"
                      "./out\n./out/ln\n./out/sub\n./out/sub/f\n./src\n./src/a.c\n");
  brr_buf_free(&listing);

  /* list with the script in the container's busybox sh, fetch each match, store it */
  const char *patterns[] = {"my dir/*.txt", "out", "out/ln", "nomatch*", "src"};
  brr_buf script = BRR_BUF_INIT, raw = BRR_BUF_INIT;
  brr_artifact_list_script(patterns, BRR_ARRAY_LEN(patterns), &script);
  exec_stdout(f->container, "/source", script.data, &raw);
  brr_artifact_match *m;
  size_t n;
  tu_ok(brr_artifact_list_parse(raw.data, raw.len, BRR_ARRAY_LEN(patterns), &m, &n, &d), &d);
  assert_int_equal(n, 4);
  assert_string_equal(m[2].path, "out/ln");
  assert_string_equal(m[2].fetch, "/source/out/sub/f");  /* busybox readlink -f */

  brr_arena *a = brr_arena_new();
  brr_value *artifacts = brr_val_map(a, BRR_MARK_NONE);
  brr_value *log = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, log, "type", brr_val_str(a, BRR_MARK_NONE, "log"));
  brr_val_map_sets(a, artifacts, "build.log", log);
  brr_value *uncompressed = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, uncompressed, "format", brr_val_str(a, BRR_MARK_NONE, "uncompressed"));
  for (size_t i = 0; i < n; i++) {
    brr_artifact_req req = {"pkg", results, {patterns[m[i].pattern], BRR_MARK_NONE},
                            m[i].pattern == 4 ? uncompressed : NULL, m[i].path, m[i].kind};
    brr_artifact_sink *s;
    tu_ok(brr_artifact_sink_new(&req, &s, &d), &d);
    char *esc = curl_easy_escape(NULL, m[i].fetch, 0);
    char *url = brr_xasprintf("/containers/%s/archive?path=%s", f->container, esc);
    long st = api("GET", url, NULL, NULL, 0, to_sink, s, NULL);
    if (st != 200) fail_msg("GET archive %s: %ld", m[i].fetch, st);
    tu_ok(brr_artifact_sink_finish(s, a, artifacts, &d), &d);
    curl_free(esc);
    free(url);
  }
  char *pkg = brr_path_join(results, "pkg");
  char *s = tu_read_rel(pkg, "x y.txt");
  assert_string_equal(s, "spaces\n");
  free(s);
  s = tu_read_rel(pkg, "ln");
  assert_string_equal(s, "F\n");
  free(s);
  s = tu_read_rel(pkg, "src/a.c");
  assert_string_equal(s, "int main;\n");
  free(s);
  char *gz = brr_path_join(pkg, "out.tar.gz");
  tu_tar t;
  assert_true(tu_tar_read(gz, &t));
  char *names = tu_tar_names(&t);
  assert_string_equal(names, "out/|out/ln|out/sub/|out/sub/f");
  assert_int_equal(t.filter, ARCHIVE_FILTER_GZIP);
  free(names);
  tu_tar_free(&t);
  free(gz);

  char *json = brr_path_join(results, "artifacts.json");
  tu_ok(brr_artifacts_json_write(json, artifacts, &d), &d);
  s = tu_read(json);
  assert_string_equal(s, "{\n  \"build.log\": {\n    \"type\": \"log\"\n  },\n"
                         "  \"pkg/x y.txt\": null,\n"
                         "  \"pkg/out.tar.gz\": {\n    \"buildrunner.compressed.directory\": \"true\"\n  },\n"
                         "  \"pkg/ln\": null,\n"
                         "  \"pkg/src/a.c\": {\n    \"format\": \"uncompressed\"\n  }\n}");
  free(s);
  free(json);
  free(pkg);
  brr_arena_free(a);
  brr_artifact_matches_free(m, n);
  brr_buf_free(&raw);
  brr_buf_free(&script);
  free(tar);
  free(results);
  free(build);
}

/* POST /build with a context tar; returns the image id (the stream's aux ID). */
static char *build_image(const char *tar_path, const char *dockerfile, fixture *f) {
  brr_buf tar = BRR_BUF_INIT, out = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(tar_path, &tar), 0);
  char *esc = curl_easy_escape(NULL, dockerfile, 0);
  char *p = brr_xasprintf("/build?dockerfile=%s&rm=1&forcerm=1", esc);
  assert_int_equal(api("POST", p, "application/x-tar", tar.data, tar.len, NULL, NULL, &out), 200);
  if (strstr(brr_buf_cstr(&out), "errorDetail")) fail_msg("build failed: %s", out.data);
  const char *ok = strstr(brr_buf_cstr(&out), "Successfully built ");
  if (!ok) fail_msg("no image in: %s", out.data);
  char *id = brr_xstrndup(ok + strlen("Successfully built "), 12);
  if (f->image) {  /* the previous build's image is done with */
    char *del = brr_xasprintf("/images/%s?force=1", f->image);
    brr_buf_reset(&out);
    api("DELETE", del, NULL, NULL, 0, NULL, NULL, &out);
    free(del);
  }
  free(f->image);
  f->image = brr_xstrdup(id);
  curl_free(esc);
  free(p);
  brr_buf_free(&out);
  brr_buf_free(&tar);
  return id;
}

/* The sorted file list under /ctx in `image`, read with GET archive from a created container. */
static char *ctx_listing(const char *image) {
  char *id = create_container(image, "");
  char *p = brr_xasprintf("/containers/%s/archive?path=/ctx", id);
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(api("GET", p, NULL, NULL, 0, NULL, NULL, &out), 200);
  remove_container(id);
  char *dir = tu_mkdtemp();
  char *tarp = brr_path_join(dir, "ctx.tar");
  assert_int_equal(brr_write_file(tarp, out.data, out.len), 0);
  tu_tar t;
  assert_true(tu_tar_read(tarp, &t));
  char *names = tu_tar_names(&t);
  tu_tar_free(&t);
  brr_rm_rf(dir);
  free(tarp);
  free(dir);
  brr_buf_free(&out);
  free(p);
  free(id);
  return names;
}

static void test_legacy_build(void **state) {
  fixture *f = *state;
  char *b = brr_path_join(f->dir, "b");
  tu_write(b, "ctx/Dockerfile", "FROM " IMAGE "\nCOPY . /ctx\n", 0644);
  tu_write(b, "ctx/app.txt", "app\n", 0644);
  tu_write(b, "ctx/x.tmp", "dropped\n", 0644);
  tu_write(b, "ctx/.dockerignore", "*.tmp\n", 0644);
  tu_write(b, "files/extra.txt", "extra\n", 0644);
  tu_write(b, "Dockerfile.out", "FROM " IMAGE "\nCOPY . /ctx\n", 0644);
  brr_diags d = BRR_DIAGS_INIT;
  char *tar = brr_path_join(f->dir, "ctx.tar");

  /* buildrunner's own tar: path, inject, Dockerfile */
  brr_inject inj = {{"files/extra.txt", BRR_MARK_NONE}, {"extra/", BRR_MARK_NONE}};
  brr_build bld = {0};
  bld.path = (brr_str){"ctx", BRR_MARK_NONE};
  bld.inject = &inj;
  bld.n_inject = 1;
  brr_build_inputs in;
  tu_ok(brr_build_inputs_resolve(&bld, b, "s", &in, &d), &d);
  char *df = NULL;
  tu_ok(brr_build_context_tar(&in, tar, &df, &d), &d);
  char *image = build_image(tar, df, f);
  char *names = ctx_listing(image);
  assert_string_equal(names, "ctx/|ctx/.dockerignore|ctx/Dockerfile|ctx/app.txt|ctx/extra/|ctx/extra/extra.txt");
  free(names);
  free(image);
  free(df);
  brr_build_inputs_free(&in);

  /* docker's client tar with a Dockerfile outside the context: the added file stays out */
  brr_build plain = {0};
  plain.path = (brr_str){"ctx", BRR_MARK_NONE};
  plain.dockerfile = (brr_str){"Dockerfile.out", BRR_MARK_NONE};
  tu_ok(brr_build_inputs_resolve(&plain, b, "s", &in, &d), &d);
  tu_ok(brr_build_context_tar(&in, tar, &df, &d), &d);
  assert_true(brr_startswith(df, ".dockerfile."));
  image = build_image(tar, df, f);
  names = ctx_listing(image);
  assert_string_equal(names, "ctx/|ctx/.dockerignore|ctx/Dockerfile|ctx/app.txt");
  free(names);
  free(image);
  free(df);
  brr_build_inputs_free(&in);
  free(tar);
  free(b);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_source_and_artifacts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_build, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
