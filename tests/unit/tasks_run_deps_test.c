/* Engines of another host, through the fake engine. /artifacts (src/tasks/run_deps.c): a
 * step reads another step's artifacts at /artifacts/<step>/. On an engine of this host the
 * results dir is bind-mounted there; on one of another host (the test marks the fake engine
 * so from the harness's `during` hook: the fake listens on a unix socket, which brr would
 * take for this host's) no path of this host is bound, and the created run container gets,
 * before it starts, an archive PUT at "/" holding "artifacts/" and the finished steps'
 * results with their bytes. A security scan there fails before its scanner exists (scan.c). */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/task_harness.h"

static const char *YAML =
    "steps:\n"
    "  a:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmd: echo made\n"
    "  b:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmd: cat /artifacts/a/made.txt\n";

/* step a's artifact, as its run would have left it (the results dir exists once the runtime
 * is made; a's step dir is made here and kept by the step's start) */
static void put_artifact(th *h, brr_runtime *rt) {
  (void)rt;
  char *p = brr_path_join(h->results, "a/sub");
  brr_mkdir_p(p, 0755);
  free(p);
  tu_write(h->results, "a/made.txt", "bytes of a\n", 0644);
  tu_write(h->results, "a/sub/deep.txt", "deeper\n", 0600);
}

static void remote(th *h, brr_runtime *rt) {
  put_artifact(h, rt);
  for (size_t k = 0; k < rt->n_engines; k++) rt->engines[k].local = false;
}

/* The members of a tar (name -> content) as "name=content|" lines, directories as "name/|". */
static char *tar_members(const char *data, size_t len) {
  struct archive *a = archive_read_new();
  archive_read_support_format_all(a);
  brr_buf out = BRR_BUF_INIT;
  if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
    archive_read_free(a);
    return brr_buf_detach(&out);
  }
  struct archive_entry *e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(e);
    if (archive_entry_filetype(e) == AE_IFDIR) {
      size_t n = strlen(name);
      brr_buf_printf(&out, "%.*s/|", (int)(n && name[n - 1] == '/' ? n - 1 : n), name);
      continue;
    }
    char buf[256];
    la_ssize_t got = archive_read_data(a, buf, sizeof buf - 1);
    buf[got > 0 ? got : 0] = 0;
    brr_buf_printf(&out, "%s=%s|", name, buf);
  }
  archive_read_free(a);
  return brr_buf_detach(&out);
}

/* The index of the first request `method path` at or after `from`, or SIZE_MAX. */
static size_t find_req(fake_engine *fe, const char *method, const char *path, size_t from) {
  for (size_t i = from; i < fake_engine_n_requests(fe); i++) {
    const fake_request *q = fake_engine_request(fe, i);
    if (!strcmp(q->method, method) && !strcmp(q->path, path)) return i;
  }
  return SIZE_MAX;
}

/* b with a service: the service fills the step's /source volume, the run container still
 * gets /artifacts */
static const char *YAML_SVC =
    "steps:\n"
    "  a:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      cmd: echo made\n"
    "  b:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      pull: false\n"
    "      services:\n"
    "        db:\n"
    "          image: reg.test/busybox:1\n"
    "      cmd: cat /artifacts/a/made.txt\n";

/* `want_creates` containers besides the `want_sources` source containers (steps without
 * services take /source from one) */
static void remote_run(const char *yaml, size_t want_creates, size_t want_sources) {
  th *h = th_new();
  h->during = remote;
  int rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "b/run succeeded"));
  /* no path of this host in any create body */
  size_t n_create = 0, n_source = 0, n_put = 0, with_a = 0;
  for (size_t i = 0; i < fake_engine_n_requests(h->fe); i++) {
    const fake_request *q = fake_engine_request(h->fe, i);
    if (!strcmp(q->method, "POST") && !strcmp(q->path, "/containers/create")) {
      if (fake_request_is_source_create(q)) n_source++;
      else n_create++;
      th_assert(h, strstr(q->body, h->results) == NULL);
      th_assert(h, strstr(q->body, ":/artifacts") == NULL);
    }
    if (strcmp(q->method, "PUT") != 0 || strcmp(q->query, "path=/") != 0) continue;
    n_put++;
    char *m = tar_members(q->body, q->body_len);
    /* the mount point always; a's files only in b's container, a's run having finished */
    th_assert(h, strncmp(m, "artifacts/|", 11) == 0);
    if (strstr(m, "artifacts/a/made.txt=bytes of a\n|")) {
      with_a++;
      th_assert(h, strstr(m, "artifacts/a/|") != NULL);
      th_assert(h, strstr(m, "artifacts/a/sub/deep.txt=deeper\n|") != NULL);
      th_assert(h, strstr(m, "artifacts/b") == NULL);
      /* ...into the container before it starts */
      char *start = brr_xstrdup(q->path);
      strcpy(strstr(start, "/archive"), "/start");
      size_t s = find_req(h->fe, "POST", start, 0);
      th_assert(h, s != SIZE_MAX && s > i);
      free(start);
    } else {
      th_assert(h, strcmp(m, "artifacts/|") == 0);
    }
    free(m);
  }
  th_assert(h, n_create == want_creates);
  th_assert(h, n_source == want_sources);
  th_assert(h, n_put == 2);
  th_assert(h, with_a == 1);
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_remote_engine_gets_artifacts_put(void **state) {
  (void)state;
  remote_run(YAML, 2, 2);
}

static void test_remote_engine_with_service(void **state) {
  (void)state;
  remote_run(YAML_SVC, 3, 1);
}

/* SIGINT (once, then twice: an abort) while b's /artifacts PUT is in flight, and an engine
 * error there: the run ends with b's node canceled or failed, and nothing is left. */
static void test_remote_put_cancel_and_error(void **state) {
  (void)state;
  for (int mode = 0; mode < 3; mode++) {
    th *h = th_new();
    h->during = remote;
    /* the second archive PUT: a's "/", then b's "/" (/source comes from their source
     * containers, with no PUT) */
    fake_rule *r = fake_rule_nth(fake_engine_on(h->fe, "PUT", "/containers/*/archive"), 2);
    th_opts o = {.handle_signals = true, .grace_s = 5};
    if (mode < 2) {
      fake_rule_raise(fake_rule_hold(r, FAKE_HOLD_HEADERS), SIGINT, 1);
      if (mode == 1) {
        /* b's run container: the third removal, after a's run and source containers */
        fake_rule_hold(fake_rule_nth(fake_engine_on(h->fe, "DELETE", "/containers/*"), 3), FAKE_HOLD_HEADERS);
        o.grace_s = 0.3;
      }
    } else {
      fake_rule_error(r, 500, "no room for artifacts");
    }
    int rc = th_run(h, YAML, &o);
    th_assert(h, rc == (mode < 2 ? 130 : 1));
    if (mode == 2) th_assert(h, th_ended(h, "no room for artifacts"));
    th_assert(h, th_ended(h, mode < 2 ? "b/run canceled" : "b/run failed"));
    th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 2);
    if (mode == 1) th_assert(h, h->res.aborted);   /* b's removal held past the grace period */
    th_assert(h, h->res.n_abandoned == 0);
    th_assert(h, th_clean(h));
    th_free(h);
  }
}

static void test_local_engine_binds(void **state) {
  (void)state;
  th *h = th_new();
  h->during = put_artifact;
  int rc = th_run(h, YAML, NULL);
  th_assert(h, rc == 0);
  char *bind = brr_xasprintf("%s:/artifacts:ro", h->results);
  size_t n_bind = 0;
  for (size_t i = 0; i < fake_engine_n_requests(h->fe); i++) {
    const fake_request *q = fake_engine_request(h->fe, i);
    if (!strcmp(q->method, "POST") && !strcmp(q->path, "/containers/create") && strstr(q->body, bind)) n_bind++;
    th_assert(h, strcmp(q->method, "PUT") != 0 || strcmp(q->query, "path=/") != 0);
  }
  th_assert(h, n_bind == 2);
  free(bind);
  th_assert(h, th_clean(h));
  th_free(h);
}

static void all_remote(th *h, brr_runtime *rt) {
  (void)h;
  for (size_t k = 0; k < rt->n_engines; k++) rt->engines[k].local = false;
}

/* A security scan on a single engine of another host: the commit node fails, naming the
 * engine, before any scanner container exists. */
static void test_remote_engine_scan_fails(void **state) {
  (void)state;
  th *h = th_new();
  h->during = all_remote;
  int rc = th_run(h,
                  "steps:\n"
                  "  s:\n"
                  "    run:\n"
                  "      image: reg.test/busybox:1\n"
                  "      pull: false\n"
                  "      cmd: 'true'\n"
                  "    push:\n"
                  "      repository: reg.test/scanned\n"
                  "      tags: [t1]\n"
                  "      security-scan:\n"
                  "        enabled: true\n",
                  NULL);
  th_assert(h, rc != 0);
  th_assert(h, th_ended(h, "security-scan needs a Docker engine on this machine"));
  th_assert(h, th_ended(h, fake_engine_host(h->fe)));
  for (size_t i = 0; i < fake_engine_n_requests(h->fe); i++)   /* no pull of the scanner */
    th_assert(h, strstr(fake_engine_request(h->fe, i)->query, "trivy") == NULL);
  th_assert(h, fake_engine_created_containers(h->fe, false) == 1);   /* the run container only */
  th_assert(h, th_clean(h));
  th_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_remote_engine_gets_artifacts_put),
                                     cmocka_unit_test(test_remote_engine_with_service),
                                     cmocka_unit_test(test_remote_put_cancel_and_error),
                                     cmocka_unit_test(test_local_engine_binds),
                                     cmocka_unit_test(test_remote_engine_scan_fails)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
