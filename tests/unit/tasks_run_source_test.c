/* How /source gets into a run container, against the fake engine (tests/unit/fake_engine.h):
 * a step without services takes it from the run's source image (the build dir under
 * "source/", imported once per engine: POST /images/create?fromSrc=-, tagged
 * brr-source:<run id>) through a never-started source container named "<run container>-source"
 * whose /source volume the run container takes (VolumesFrom); the source container goes after
 * the run container, the image at the end of the run. A tree holding a ".wh.*" name (an image
 * layer reads it as a deletion) keeps the PUT of the plain tar into an anonymous volume.
 *   - two steps: one import, one source container each, no PUT, nothing left;
 *   - a ".wh.x" file: no import, a PUT at /source carrying it;
 *   - the import refused (HTTP 500), a cancel while it is in flight, the source container's
 *     create refused: the step fails (or is cancelled) and nothing is left behind;
 *   - an error, a cancel and an abort at each call of such a step, on either path. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "unit/task_harness.h"

static const char *TWO =
    "steps:\n"
    "  a:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmd: cat /source/hello.txt\n"
    "  b:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmd: ls /source\n";

static const char *ONE =
    "steps:\n"
    "  a:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmd: cat /source/hello.txt\n";

static th *source_new(void) {
  th *h = th_new();
  fake_engine_add_image(h->fe, "reg.test/busybox:1");
  th_file(h, "hello.txt", "hello from the build dir\n");
  return h;
}

/* The content of member `name` of the tar `data` (heap), or NULL when it has none. */
static char *tar_member(const char *data, size_t len, const char *name) {
  struct archive *a = archive_read_new();
  archive_read_support_format_all(a);
  char *found = NULL;
  if (archive_read_open_memory(a, data, len) == ARCHIVE_OK) {
    struct archive_entry *e;
    while (!found && archive_read_next_header(a, &e) == ARCHIVE_OK) {
      const char *p = archive_entry_pathname(e);
      if (brr_startswith(p, "./")) p += 2;
      if (strcmp(p, name) != 0) continue;
      brr_buf b = BRR_BUF_INIT;
      char chunk[4096];
      la_ssize_t n;
      while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0) brr_buf_append(&b, chunk, (size_t)n);
      found = brr_buf_detach(&b);
    }
  }
  archive_read_free(a);
  return found;
}

/* The value of `key` in the query "k=v&..." (heap), or NULL. */
static char *query_value(const char *query, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = query; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n > kl && !strncmp(p, key, kl) && p[kl] == '=') return brr_xstrndup(p + kl + 1, n - kl - 1);
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

/* The index in the log of the first request `method path` (exact path), or SIZE_MAX. */
static size_t req_index(th *h, const char *method, const char *path) {
  for (size_t i = 0; i < fake_engine_n_requests(h->fe); i++) {
    const fake_request *q = fake_engine_request(h->fe, i);
    if (!strcmp(q->method, method) && !strcmp(q->path, path)) return i;
  }
  return SIZE_MAX;
}

/* ---- the ids the fake answered (its creates' answers are not in the log) ---- */

typedef struct answered {
  pthread_mutex_t mu;
  char *names[8], *ids[8];   /* container name -> id */
  size_t n;
  char *image;               /* the import's image id, "sha256:..." */
} answered;

static void on_container_created(void *ud, const fake_request *req, fake_reply *out) {
  answered *an = ud;
  cJSON *j = out->body ? cJSON_ParseWithLength(out->body, out->body_len) : NULL;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "Id");
  char *name = query_value(req->query, "name");
  pthread_mutex_lock(&an->mu);
  if (cJSON_IsString(id) && name && an->n < BRR_ARRAY_LEN(an->ids)) {
    an->names[an->n] = name;
    an->ids[an->n++] = brr_xstrdup(id->valuestring);
    name = NULL;
  }
  pthread_mutex_unlock(&an->mu);
  free(name);
  cJSON_Delete(j);
}

static void on_imported(void *ud, const fake_request *req, fake_reply *out) {
  (void)req;
  answered *an = ud;
  const char *s = out->body ? memmem(out->body, out->body_len, "sha256:", 7) : NULL;
  pthread_mutex_lock(&an->mu);
  if (s && !an->image) an->image = brr_xstrndup(s, 7 + 64);
  pthread_mutex_unlock(&an->mu);
}

static void answered_watch(th *h, answered *an) {
  memset(an, 0, sizeof *an);
  pthread_mutex_init(&an->mu, NULL);
  fake_rule_handler(fake_engine_on(h->fe, "POST", "/containers/create"), on_container_created, an);
  fake_rule_handler(fake_rule_query_has(fake_engine_on(h->fe, "POST", "/images/create"), "fromSrc"), on_imported, an);
}

static const char *answered_id(answered *an, const char *name) {
  for (size_t i = 0; i < an->n; i++)
    if (!strcmp(an->names[i], name)) return an->ids[i];
  return NULL;
}

static void answered_free(answered *an) {
  for (size_t i = 0; i < an->n; i++) {
    free(an->names[i]);
    free(an->ids[i]);
  }
  free(an->image);
  pthread_mutex_destroy(&an->mu);
}

/* The run's source image reference, from the import's query: "brr-source:<run id>" (heap). */
static char *source_ref(th *h) {
  const fake_request *imp = fake_engine_find_import(h->fe, 0);
  if (!imp) return NULL;
  char *repo = query_value(imp->query, "repo"), *tag = query_value(imp->query, "tag");
  char *ref = repo && tag ? brr_xasprintf("%s:%s", repo, tag) : NULL;
  free(repo);
  free(tag);
  return ref;
}

/* The source image was removed at the end of the run: a DELETE of its reference found it, and
 * the engine no longer knows the reference. */
static bool source_image_removed(th *h) {
  char *ref = source_ref(h);
  if (!ref) return false;
  char *path = brr_xasprintf("/images/%s", ref);
  bool removed = false;
  const fake_request *q;
  for (size_t i = 0; (q = fake_engine_find(h->fe, "DELETE", path, i)); i++) removed |= q->status == 200;
  free(path);
  free(ref);
  return removed;
}

/* ---- two steps without services ---- */

static void test_two_steps_one_import(void **state) {
  (void)state;
  th *h = source_new();
  answered an;
  answered_watch(h, &an);
  int rc = th_run(h, TWO, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "a/run succeeded") && th_ended(h, "b/run succeeded"));
  th_assert(h, h->finish_rc == 0);

  /* the build dir imported once, under source/, tagged brr-source:<run id> */
  th_assert(h, fake_engine_count_imports(h->fe) == 1);
  th_assert(h, fake_engine_count_pulls(h->fe) == 0);
  const fake_request *imp = fake_engine_find_import(h->fe, 0);
  th_assert(h, strstr(imp->query, "fromSrc=-") && strstr(imp->query, "repo=brr-source"));
  char *hello = tar_member(imp->body, imp->body_len, "source/hello.txt");
  th_assert(h, hello && !strcmp(hello, "hello from the build dir\n"));
  free(hello);
  th_assert(h, an.image != NULL);

  /* one source container per step, made from the image, never started */
  th_assert(h, fake_engine_count_creates(h->fe, true) == 2);
  th_assert(h, fake_engine_count_creates(h->fe, false) == 2);
  th_assert(h, fake_engine_created_containers(h->fe, true) == 2);
  th_assert(h, fake_engine_created_containers(h->fe, false) == 2);
  for (size_t k = 0; k < 2; k++) {
    const fake_request *run = fake_engine_find_create(h->fe, false, k);
    char *name = query_value(run->query, "name");
    char *src_name = brr_xasprintf("%s-source", name);
    const fake_request *src = NULL;
    for (size_t j = 0; (src = fake_engine_find_create(h->fe, true, j)); j++) {
      char *n = query_value(src->query, "name");
      bool same = n && !strcmp(n, src_name);
      free(n);
      if (same) break;
    }
    th_assert(h, src != NULL);
    cJSON *sb = cJSON_Parse(src->body);
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(sb, "Image");
    th_assert(h, cJSON_IsString(img) && !strcmp(img->valuestring, an.image));
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(sb, "Cmd");
    th_assert(h, cJSON_GetArraySize(cmd) == 1 && !strcmp(cJSON_GetArrayItem(cmd, 0)->valuestring, "/source"));
    th_assert(h, cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(sb, "Volumes"), "/source")));
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sb, "HostConfig"),
                                                       "NetworkMode");
    th_assert(h, cJSON_IsString(nm) && !strcmp(nm->valuestring, "none"));
    cJSON_Delete(sb);
    const char *src_id = answered_id(&an, src_name);
    const char *run_id = answered_id(&an, name);
    th_assert(h, src_id && run_id);

    /* the run container takes the source container's volume; no volume of its own */
    cJSON *rb = cJSON_Parse(run->body);
    const cJSON *vf = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rb, "HostConfig"),
                                                       "VolumesFrom");
    char *want = brr_xasprintf("%s:rw", src_id);
    th_assert(h, cJSON_GetArraySize(vf) == 1 && !strcmp(cJSON_GetArrayItem(vf, 0)->valuestring, want));
    th_assert(h, cJSON_GetObjectItemCaseSensitive(rb, "Volumes") == NULL);
    th_assert(h, strstr(run->body, ":/source") == NULL);   /* no bind of a volume at /source */
    free(want);
    cJSON_Delete(rb);

    /* the source container is created before the run container and removed after it (with
     * its volume); only the run container starts */
    size_t i_src = SIZE_MAX, i_run = SIZE_MAX;
    for (size_t i = 0; i < fake_engine_n_requests(h->fe); i++) {
      const fake_request *q = fake_engine_request(h->fe, i);
      if (q == src) i_src = i;
      if (q == run) i_run = i;
    }
    th_assert(h, i_src < i_run);
    char *p_src = brr_xasprintf("/containers/%s", src_id), *p_run = brr_xasprintf("/containers/%s", run_id);
    size_t d_src = req_index(h, "DELETE", p_src), d_run = req_index(h, "DELETE", p_run);
    th_assert(h, d_run != SIZE_MAX && d_src != SIZE_MAX && d_run < d_src);
    th_assert(h, strstr(fake_engine_request(h->fe, d_src)->query, "v=1"));
    th_assert(h, fake_engine_request(h->fe, d_src)->status == 204);
    char *start = brr_xasprintf("/containers/%s/start", src_id);
    th_assert(h, req_index(h, "POST", start) == SIZE_MAX);
    free(start);
    start = brr_xasprintf("/containers/%s/start", run_id);
    th_assert(h, req_index(h, "POST", start) != SIZE_MAX);
    free(start);
    free(p_src);
    free(p_run);
    free(src_name);
    free(name);
  }

  /* no PUT at all: /source came from the image */
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 0);
  th_assert(h, fake_engine_created(h->fe, FAKE_VOLUME) == 0);

  /* nothing left: containers, their volumes, the source image */
  th_assert(h, th_clean(h));
  th_assert(h, source_image_removed(h));
  th_assert(h, fake_engine_live(h->fe, FAKE_IMAGE) == 1);   /* reg.test/busybox:1, there before */
  answered_free(&an);
  th_free(h);
}

/* ---- a name an image layer would read as a deletion: the PUT as before ---- */

static void test_whiteout_name_puts(void **state) {
  (void)state;
  th *h = source_new();
  th_file(h, ".wh.x", "not a deletion\n");
  int rc = th_run(h, ONE, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "a/run succeeded"));
  th_assert(h, fake_engine_count_imports(h->fe) == 0);
  th_assert(h, fake_engine_count_creates(h->fe, true) == 0);
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 1);
  const fake_request *put = fake_engine_find(h->fe, "PUT", "/containers/*/archive", 0);
  th_assert(h, !strcmp(put->query, "path=/source"));
  char *wh = tar_member(put->body, put->body_len, ".wh.x");
  th_assert(h, wh && !strcmp(wh, "not a deletion\n"));
  free(wh);
  char *hello = tar_member(put->body, put->body_len, "hello.txt");
  th_assert(h, hello && !strcmp(hello, "hello from the build dir\n"));
  free(hello);
  /* into the run container's anonymous volume at /source */
  const fake_request *run = fake_engine_find_create(h->fe, false, 0);
  th_assert(h, run && strstr(run->body, "\"Volumes\":{\"/source\":{}}") && !strstr(run->body, "VolumesFrom"));
  th_assert(h, th_clean(h));
  th_assert(h, fake_engine_count(h->fe, "DELETE", "/images/brr-source:*") == 0);
  th_assert(h, h->finish_rc == 0);
  th_free(h);
}

/* ---- failures and a cancel ---- */

static void test_import_fails(void **state) {
  (void)state;
  th *h = source_new();
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "POST", "/images/create"), "fromSrc"), 500,
                  "no space for the layer");
  int rc = th_run(h, TWO, &(th_opts){.keep_going = true});
  th_assert(h, rc == 1);
  /* both steps fail with it; the engine was asked once */
  th_assert(h, fake_engine_count_imports(h->fe) == 1);
  th_assert(h, th_ended(h, "a/run failed: ") && th_ended(h, "b/run failed: "));
  th_assert(h, th_ended(h, "cannot make the /source image"));
  th_assert(h, th_ended(h, "no space for the layer"));
  const char *ends = brr_buf_cstr(&h->ends);
  const char *first = strstr(ends, "cannot make the /source image");
  th_assert(h, first && strstr(first + 1, "cannot make the /source image"));
  /* no container made; nothing left */
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 0);
  th_assert(h, th_clean(h));
  th_assert(h, fake_engine_live(h->fe, FAKE_IMAGE) == 1);
  th_free(h);
}

/* The fake's own answer to the import (the image then exists), its stream kept open. */
static void import_made_held(void *ud, const fake_request *req, fake_reply *out) {
  (void)ud, (void)req;
  out->hold = FAKE_HOLD_BODY;
}

/* SIGINT while the import is in flight: before the engine answers anything (it has made
 * nothing), and once it has made the image and said so but its stream has not ended. */
static void test_cancel_during_import(void **state) {
  (void)state;
  for (int made = 0; made < 2; made++) {
    th *h = source_new();
    fake_rule *r = fake_rule_query_has(fake_engine_on(h->fe, "POST", "/images/create"), "fromSrc");
    if (made) fake_rule_handler(r, import_made_held, NULL);
    else fake_rule_hold(r, FAKE_HOLD_HEADERS);
    fake_rule_raise(r, SIGINT, 1);
    th_opts o = {.handle_signals = true, .grace_s = 5};
    int rc = th_run(h, ONE, &o);
    th_assert(h, rc == 130);
    th_assert(h, th_ended(h, "a/run canceled"));
    th_assert(h, fake_engine_count_imports(h->fe) == 1);
    th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
    th_assert(h, h->res.n_abandoned == 0);
    th_assert(h, th_clean(h));
    /* the reference was tracked before the answer: the end of the run removes what the
     * engine made of the import (or finds nothing, and that is no error) */
    th_assert(h, fake_engine_count(h->fe, "DELETE", "/images/brr-source:*") >= 1);
    if (made) th_assert(h, source_image_removed(h));
    th_assert(h, fake_engine_live(h->fe, FAKE_IMAGE) == 1);
    th_assert(h, h->finish_rc == 0);
    th_free(h);
  }
}

static void test_source_container_create_fails(void **state) {
  (void)state;
  th *h = source_new();
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "POST", "/containers/create"), "-source"), 500,
                  "cannot make the source container");
  int rc = th_run(h, ONE, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "a/run failed: "));
  th_assert(h, th_ended(h, "cannot make the source container (HTTP 500)"));
  th_assert(h, fake_engine_count_creates(h->fe, true) == 1);
  th_assert(h, fake_engine_count_creates(h->fe, false) == 0);   /* no run container */
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
  th_assert(h, th_clean(h));
  th_assert(h, source_image_removed(h));
  th_assert(h, fake_engine_live(h->fe, FAKE_IMAGE) == 1);
  th_assert(h, h->finish_rc == 0);
  th_free(h);
}

/* ---- an engine error and a cancel at each call of a step without services ---- */

typedef struct src_call {
  const char *method, *pattern;
  unsigned nth;
  const char *query;   /* the query must hold it, or NULL */
} src_call;

/* The calls of ONE, with /source from the source image. */
static const src_call SRC_CALLS[] = {
    {"POST", "/images/create", 1, "fromSrc"},
    {"POST", "/containers/create", 1, NULL},   /* the source container */
    {"POST", "/containers/create", 2, NULL},   /* the run container */
    {"POST", "/containers/*/attach", 1, NULL},
    {"POST", "/containers/*/start", 1, NULL},
    {"POST", "/containers/*/wait", 1, NULL},
};

/* ...and with a ".wh.*" name in the tree: the PUT into the run container's own volume. */
static const src_call WH_CALLS[] = {
    {"POST", "/containers/create", 1, NULL},
    {"GET", "/containers/*/json", 1, NULL},      /* its anonymous volume's name */
    {"PUT", "/containers/*/archive", 1, "path=/source"},
    {"POST", "/containers/*/start", 1, NULL},
};

/* Each call failing (HTTP 500), held while SIGINT arrives, or held while SIGINT arrives and
 * the teardown's first container removal hangs past the grace period (an abort: the tasks'
 * abort, then the runtime's own cleanup): the step fails or is cancelled, and every
 * container, volume and the source image are gone by the end of the run. */
static void each_call(const src_call *calls, size_t n, bool whiteout) {
  for (size_t i = 0; i < n; i++) {
    for (int mode = 0; mode < 3; mode++) {
      const src_call *c = &calls[i];
      bool cancel = mode > 0;
      th *h = source_new();
      if (whiteout) th_file(h, ".wh.x", "not a deletion\n");
      fake_rule *r = fake_rule_nth(fake_engine_on(h->fe, c->method, c->pattern), c->nth);
      if (c->query) fake_rule_query_has(r, c->query);
      th_opts o = {.grace_s = 5};
      if (cancel) {
        o.handle_signals = true;
        fake_rule_raise(fake_rule_hold(r, FAKE_HOLD_HEADERS), SIGINT, 1);
      } else {
        fake_rule_error(r, 500, "injected failure");
      }
      if (mode == 2) {
        fake_rule_hold(fake_rule_nth(fake_engine_on(h->fe, "DELETE", "/containers/*"), 1), FAKE_HOLD_HEADERS);
        o.grace_s = 0.3;
      }
      int rc = th_run(h, ONE, &o);
      if (rc != (cancel ? 130 : 1))
        fprintf(stderr, "call %zu (%s %s #%u) mode %d: rc %d\n", i, c->method, c->pattern, c->nth, mode, rc);
      th_assert(h, rc == (cancel ? 130 : 1));
      th_assert(h, th_ended(h, cancel ? "a/run canceled" : "a/run failed"));
      if (!cancel) th_assert(h, th_ended(h, "injected failure (HTTP 500)"));
      th_assert(h, h->res.n_abandoned == 0);
      /* an abort happens only when something was left to remove */
      if (mode == 2 && fake_engine_count(h->fe, "DELETE", "/containers/*") > 0) th_assert(h, h->res.aborted);
      th_assert(h, th_clean(h));
      if (whiteout) {
        th_assert(h, fake_engine_count_imports(h->fe) == 0);
      } else {
        th_assert(h, fake_engine_count(h->fe, "DELETE", "/images/brr-source:*") >= 1);
        th_assert(h, i == 0 || source_image_removed(h));   /* (a held import made nothing) */
      }
      th_assert(h, fake_engine_live(h->fe, FAKE_IMAGE) == 1);
      th_assert(h, h->finish_rc == 0);
      th_free(h);
    }
  }
}

static void test_each_call_fails_or_cancels(void **state) {
  (void)state;
  each_call(SRC_CALLS, BRR_ARRAY_LEN(SRC_CALLS), false);
}

static void test_each_call_fails_or_cancels_whiteout(void **state) {
  (void)state;
  each_call(WH_CALLS, BRR_ARRAY_LEN(WH_CALLS), true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_steps_one_import),
      cmocka_unit_test(test_whiteout_name_puts),
      cmocka_unit_test(test_import_fails),
      cmocka_unit_test(test_cancel_during_import),
      cmocka_unit_test(test_source_container_create_fails),
      cmocka_unit_test(test_each_call_fails_or_cancels),
      cmocka_unit_test(test_each_call_fails_or_cancels_whiteout),
  };
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
