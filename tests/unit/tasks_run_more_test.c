/* More of the run side without Docker (see tasks_run_test.c for the sequence of the run
 * node): post-build, commit tags, services (wait_for against a port this test listens on, a
 * built service, volumes_from), ssh-keys (a real ssh-agent), the stale-object sweep and
 * --clean, --cleanup-images and --local-images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "unit/task_harness.h"

/* A rule that only watches: the default answer stands. */
static void keep_default(void *ud, const fake_request *req, fake_reply *out) {
  (void)ud;
  (void)req;
  (void)out;
}

/* ---- post-build ---- */

static const char *POST =
    "steps:\n"
    "  post:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      cmd: echo from-run > /run.txt\n"
    "      post-build:\n"
    "        dockerfile: |\n"
    "          RUN echo from-post-build > /post.txt\n"
    "    commit:\n"
    "      repository: made/post\n"
    "      tags: [v1, v2]\n";

static void test_post_build(void **state) {
  (void)state;
  th *h = th_new();
  int rc = th_run(h, POST, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_ended(h, "post/post-build succeeded") || th_ended(h, "post-build succeeded"));
  /* the run container committed, a legacy build FROM it, both tags given */
  th_assert(h, fake_engine_count(h->fe, "POST", "/commit") == 1);
  th_assert(h, fake_engine_count(h->fe, "POST", "/build") == 1);
  const fake_request *b = fake_engine_find(h->fe, "POST", "/build", 0);
  th_assert(h, b && b->body_len > 512 && brr_streq(b->content_type, "application/x-tar"));
  th_assert(h, b && memmem(b->body, b->body_len, "from-post-build", 15));
  th_assert(h, fake_engine_count(h->fe, "POST", "/images/*/tag") >= 3);
  th_assert(h, fake_engine_find(h->fe, "POST", "/images/*/tag", 0) != NULL);
  /* the temporary tag of the committed state is removed */
  th_assert(h, fake_engine_count(h->fe, "DELETE", "/images/*") >= 1);
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_post_build_errors(void **state) {
  (void)state;
  static const struct {
    const char *method, *pattern;
  } calls[] = {{"POST", "/commit"}, {"POST", "/images/*/tag"}, {"POST", "/build"}};
  for (size_t i = 0; i < BRR_ARRAY_LEN(calls); i++) {
    th *h = th_new();
    fake_engine_fail(h->fe, calls[i].method, calls[i].pattern, 1, 500);
    int rc = th_run(h, POST, NULL);
    th_assert(h, rc == 1);
    th_assert(h, th_ended(h, "fake failure (HTTP 500)"));
    th_assert(h, th_clean(h));
    th_free(h);
  }
  /* a build error reported in the stream */
  th *h = th_new();
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/build"), 200, "application/json",
                  "{\"stream\":\"Step 1/2 : FROM x\\n\"}\n{\"errorDetail\":{\"message\":\"RUN failed\"},\"error\":\"RUN failed\"}\n",
                  (size_t)-1);
  int rc = th_run(h, POST, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "RUN failed"));
  th_free(h);
  /* cancelled while the build runs */
  h = th_new();
  fake_rule_raise(fake_rule_hold(fake_engine_on(h->fe, "POST", "/build"), FAKE_HOLD_HEADERS), SIGINT, 1);
  th_opts o = {.handle_signals = true};
  rc = th_run(h, POST, &o);
  th_assert(h, rc == 130);
  th_assert(h, th_ended(h, "canceled"));
  th_assert(h, th_clean(h));
  th_free(h);
}

/* ---- commit ---- */

static void test_commit_tags_and_errors(void **state) {
  (void)state;
  const char *yaml =
      "steps:\n"
      "  c:\n"
      "    run:\n"
      "      image: reg.test/busybox:1\n"
      "      cmd: echo\n"
      "    commit:\n"
      "      - repository: Made/One:fixed\n"
      "      - repository: made/two\n"
      "        tags: [a, b]\n"
      "    push:\n"
      "      repository: reg.test/pushed\n"
      "      tags: [p1]\n";
  th *h = th_new();
  int rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 0);
  /* push targets first (buildrunner's push task comes before the commit task), names
   * lower-cased, an explicit :tag kept */
  const fake_request *t0 = fake_engine_find(h->fe, "POST", "/images/*/tag", 0);
  th_assert(h, t0 && strstr(t0->query, "repo=reg.test/pushed&tag=p1"));
  bool fixed = false, a = false, b = false;
  for (size_t i = 0; i < 10; i++) {
    const fake_request *t = fake_engine_find(h->fe, "POST", "/images/*/tag", i);
    if (!t) break;
    fixed |= strstr(t->query, "repo=made/one&tag=fixed") != NULL;
    a |= strstr(t->query, "repo=made/two&tag=a") != NULL;
    b |= strstr(t->query, "repo=made/two&tag=b") != NULL;
  }
  th_assert(h, fixed && a && b);
  char *json = tu_read_rel(h->results, "artifacts.json");
  th_assert(h, json && strstr(json, "reg.test/pushed"));
  free(json);
  th_free(h);

  /* cancelled while tagging */
  h = th_new();
  fake_rule_raise(fake_rule_hold(fake_engine_on(h->fe, "POST", "/images/*/tag"), FAKE_HOLD_HEADERS), SIGINT, 1);
  th_opts o = {.handle_signals = true};
  rc = th_run(h, yaml, &o);
  th_assert(h, rc == 130);
  th_assert(h, th_ended(h, "c/commit canceled"));
  th_assert(h, th_clean(h));
  th_free(h);

  /* a step that builds and commits without a run: the built image is tagged */
  h = th_new();
  rc = th_run(h, "steps:\n  b:\n    build:\n      dockerfile: FROM scratch\n    commit:\n      repository: made/built\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count(h->fe, "POST", "/build") == 1);
  const fake_request *t = fake_engine_find(h->fe, "POST", "/images/*/tag", 0);
  th_assert(h, t && strstr(t->query, "repo=made/built"));
  th_free(h);
}

/* ---- security scans of push entries (commit node) ---- */

static const char *TRIVY_REPORT =
    "{\"Results\":[{\"Target\":\"x\",\"Vulnerabilities\":[{\"VulnerabilityID\":\"CVE-2026-1\","
    "\"PkgName\":\"libz\",\"InstalledVersion\":\"1.0\",\"Severity\":\"HIGH\","
    "\"PrimaryURL\":\"https://cve.test/1\",\"CVSS\":{\"nvd\":{\"V3Score\":7.5}}}]}]}";

/* Play trivy: when the scan's exec is created, write its report where the scanner
 * container's first bind (the host's run directory) says. */
static void write_report(void *ud, const fake_request *req) {
  (void)req;
  th *h = ud;
  const fake_request *cr = NULL;
  for (size_t i = 0; (cr = fake_engine_find(h->fe, "POST", "/containers/create", i)); i++)
    if (strstr(cr->body, "aquasec/trivy")) break;
  if (!cr) return;
  const char *b = strstr(cr->body, "\"Binds\":[\"");
  if (!b) return;
  b += strlen("\"Binds\":[\"");
  const char *colon = strchr(b, ':');
  char *dir = brr_xstrndup(b, (size_t)(colon - b));
  char *path = brr_path_join(dir, "results.json");
  brr_write_file(path, TRIVY_REPORT, strlen(TRIVY_REPORT));
  free(path);
  free(dir);
}

static void test_security_scan(void **state) {
  (void)state;
  static const char yaml[] = "steps:\n  s:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n"
                     "    push:\n      repository: reg.test/pushed\n      tags: [t1]\n"
                     "      security-scan:\n        enabled: true\n        max-score-threshold: %s\n";
  for (int over = 0; over < 2; over++) {
    th *h = th_new();
    char *g = brr_xasprintf("docker-registry: reg.test\nsecurity-scan:\n  cache-dir: %s/trivy-cache\n", h->dir);
    th_file(h, ".buildrunner.yaml", g);
    free(g);
    fake_rule_on_request(fake_rule_handler(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"),
                                                              "image -f json"), keep_default, NULL),
                         write_report, h);
    char *y = brr_xasprintf(yaml, over ? "7.0" : "9.0");
    int rc = th_run(h, y, NULL);
    free(y);
    /* the run image's pull, then the scanner's */
    th_assert(h, fake_engine_count_pulls(h->fe) >= 2);
    const fake_request *pull = fake_engine_find_pull(h->fe, 1);
    th_assert(h, pull && strstr(pull->query, "fromImage=reg.test/aquasec/trivy"));
    if (over) {
      th_assert(h, rc == 1);
      th_assert(h, th_ended(h, "s/commit failed: Max vulnerability score (7.5) is above the configured threshold (7.0)"));
    } else {
      char *json = tu_read_rel(h->results, "artifacts.json");
      th_assert(h, json && strstr(json, "CVE-2026-1") && strstr(json, "7.5"));
      free(json);
      th_assert(h, rc == 0);
      th_assert(h, th_said(h, "is less than the configured threshold"));
    }
    th_assert(h, th_clean(h));
    th_free(h);
  }
  /* trivy wrote nothing */
  th *h = th_new();
  char *g = brr_xasprintf("docker-registry: reg.test\nsecurity-scan:\n  cache-dir: %s/trivy-cache\n", h->dir);
  th_file(h, ".buildrunner.yaml", g);
  free(g);
  char *y = brr_xasprintf(yaml, "9.0");
  int rc = th_run(h, y, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "does not exist"));
  th_assert(h, th_clean(h));
  th_free(h);
  /* cancelled while trivy runs */
  h = th_new();
  g = brr_xasprintf("docker-registry: reg.test\nsecurity-scan:\n  cache-dir: %s/trivy-cache\n", h->dir);
  th_file(h, ".buildrunner.yaml", g);
  free(g);
  fake_rule_raise(fake_rule_hold(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "image -f json"),
                                 FAKE_HOLD_HEADERS), SIGINT, 1);
  rc = th_run(h, y, &(th_opts){.handle_signals = true});
  free(y);
  th_assert(h, rc == 130);
  th_assert(h, th_ended(h, "s/commit canceled"));
  th_assert(h, th_clean(h));
  th_free(h);
}

/* ---- services ---- */

static int listen_port(int *fd) {
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(*fd, 16) != 0 ||
      getsockname(*fd, (struct sockaddr *)&a, &len) != 0)
    abort();
  return ntohs(a.sin_port);
}

static void test_services(void **state) {
  (void)state;
  th *h = th_new();
  /* the services' output stays open, as a running service's does (see below) */
  fake_engine_set_ip(h->fe, "127.0.0.1");
  fake_rule_hold(fake_rule_query_has(fake_engine_on(h->fe, "POST", "/containers/*/attach"), "logs=1"), FAKE_HOLD_BODY);
  int fd;
  int port = listen_port(&fd);
  th_file(h, "data-image/Dockerfile", "FROM scratch\nCOPY content.txt /data/\n");
  th_file(h, "data-image/content.txt", "built\n");
  char *yaml = brr_xasprintf(
      "steps:\n"
      "  svc:\n"
      "    run:\n"
      "      image: reg.test/busybox:1\n"
      "      services:\n"
      "        web:\n"
      "          image: reg.test/busybox:1\n"
      "          hostname: webhost\n"
      "          wait_for:\n"
      "            - port: %d\n"
      "              timeout: 30\n"
      "        data:\n"
      "          build:\n"
      "            path: data-image\n"
      "          env:\n"
      "            SVC_ENV: from-service\n"
      "          wait_for: [%d]\n"
      "      volumes_from:\n"
      "        - data:ro\n"
      "      extra_hosts:\n"
      "        alias-of-web: web\n"
      "      cmds:\n"
      "        - wget -q -O - http://web:8080/\n"
      "        - cat /data/content.txt\n",
      port, port);
  int rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "is listening in container"));
  th_assert(h, th_said(h, "Started service container \"web\""));
  th_assert(h, th_said(h, "Started service container \"data\""));
  /* the data service was built with the legacy builder from its context */
  const fake_request *b = fake_engine_find(h->fe, "POST", "/build", 0);
  th_assert(h, b && memmem(b->body, b->body_len, "content.txt", 11));
  /* the run container: volumes from the data service, the web service as an extra host */
  const fake_request *cr = fake_engine_find(h->fe, "POST", "/containers/create", 2);
  th_assert(h, cr && strstr(cr->body, "VolumesFrom") && strstr(cr->body, "-data:ro"));
  th_assert(h, cr && strstr(cr->body, "alias-of-web:127.0.0.1"));
  const fake_request *svc = fake_engine_find(h->fe, "POST", "/containers/create", 1);
  th_assert(h, svc && strstr(svc->body, "SVC_ENV=from-service"));
  th_assert(h, th_clean(h));
  th_free(h);

  /* nothing listens: the wait times out (1 s) and fails the step (the service's output stays
   * open, as a running service's does: the fake's default stream ends at once, and a service
   * whose output ended fails the wait first when the load delays the timer) */
  close(fd);
  h = th_new();
  fake_engine_set_ip(h->fe, "127.0.0.1");
  fake_rule_hold(fake_rule_query_has(fake_engine_on(h->fe, "POST", "/containers/*/attach"), "logs=1"), FAKE_HOLD_BODY);
  free(yaml);
  yaml = brr_xasprintf("steps:\n  svc:\n    run:\n      image: reg.test/busybox:1\n      services:\n"
                       "        web:\n          image: reg.test/busybox:1\n          wait_for:\n"
                       "            - port: %d\n              timeout: 1\n      cmd: echo\n", port);
  rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "Timed out waiting for port"));
  th_assert(h, th_clean(h));
  th_free(h);

  /* cancelled while waiting for the port */
  h = th_new();
  fake_engine_set_ip(h->fe, "127.0.0.1");
  fake_rule_hold(fake_rule_query_has(fake_engine_on(h->fe, "POST", "/containers/*/attach"), "logs=1"), FAKE_HOLD_BODY);
  char *long_wait = brr_xasprintf("steps:\n  svc:\n    run:\n      image: reg.test/busybox:1\n      services:\n"
                                  "        web:\n          image: reg.test/busybox:1\n          wait_for:\n"
                                  "            - port: %d\n              timeout: 60\n      cmd: echo\n"
                                  "  quick:\n    run:\n      image: reg.test/busybox:1\n      cmd: exit 1\n",
                                  port);
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/create"), "exit 1"), 201,
                 "{\"Id\":\"quick\"}");
  fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/quick/wait"), 200, "{\"StatusCode\":1}");
  rc = th_run(h, long_wait, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "svc/run canceled"));
  th_assert(h, th_ended(h, "quick/run failed"));
  th_free(h);
  free(long_wait);
  free(yaml);
}

static void release_rule(void *ud, const fake_request *req) {
  (void)req;
  fake_rule_release(ud);
}

static void test_service_stops_while_waited_for(void **state) {
  (void)state;
  const char *yaml = "steps:\n  svc:\n    run:\n      image: reg.test/busybox:1\n      services:\n"
                     "        web:\n          image: reg.test/busybox:1\n          cmd: serve\n          wait_for:\n"
                     "            - port: 1\n              timeout: 20\n      cmd: echo\n";
  /* its command exits with 3 while the step waits: no wait to the timeout */
  th *h = th_new();
  fake_engine_set_ip(h->fe, "127.0.0.1");
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "serve"), 201,
                 "{\"Id\":\"svc\"}");
  fake_rule *out = fake_rule_hold(fake_engine_on(h->fe, "POST", "/exec/svc/start"), FAKE_HOLD_BODY);
  fake_rule_json(fake_engine_on(h->fe, "GET", "/exec/svc/json"), 200, "{\"ExitCode\":3,\"Running\":false}");
  /* the wait's first look at the container (after brr's own inspect) ends the command */
  fake_rule_on_request(fake_rule_handler(fake_rule_from(fake_engine_on(h->fe, "GET", "/containers/*/json"), 2),
                                         keep_default, NULL),
                       release_rule, out);
  int rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "its command \"serve\" exited with code 3 while waiting for port 1"));
  th_assert(h, th_clean(h));
  th_free(h);
  /* its container is not running */
  h = th_new();
  fake_rule_hold(fake_engine_on(h->fe, "POST", "/exec/*/start"), FAKE_HOLD_BODY);
  fake_rule_json(fake_rule_from(fake_engine_on(h->fe, "GET", "/containers/*/json"), 2), 200,
                 "{\"State\":{\"Status\":\"exited\"}}");
  rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "status is exited"));
  th_assert(h, th_clean(h));
  th_free(h);
  /* no address on the step network */
  h = th_new();
  fake_rule_hold(fake_engine_on(h->fe, "POST", "/exec/*/start"), FAKE_HOLD_BODY);
  fake_rule_json(fake_engine_on(h->fe, "GET", "/containers/*/json"), 200, "{\"State\":{\"Status\":\"running\"}}");
  rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "has no address on the step network"));
  th_assert(h, th_clean(h));
  th_free(h);
}

static void test_post_build_edges(void **state) {
  (void)state;
  /* xfail: the run failed, nothing to build on */
  th *h = th_new();
  /* (its one command is the container's own process, post-build or not) */
  fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, "{\"StatusCode\":1}");
  int rc = th_run(h, "steps:\n  p:\n    run:\n      image: reg.test/busybox:1\n      xfail: true\n      cmd: x\n"
                     "      post-build:\n        dockerfile: RUN true\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count(h->fe, "POST", "/build") == 0);
  th_assert(h, th_said(h, "No post-build: the run failed and was ignored (xfail)"));
  th_free(h);
  /* a post-build path that is not there: 78 at its key */
  h = th_new();
  rc = th_run(h, "steps:\n  p:\n    run:\n      image: reg.test/busybox:1\n      cmd: x\n"
                 "      post-build:\n        path: nowhere\n", NULL);
  th_assert(h, rc == 78);
  th_assert(h, th_ended(h, "nowhere"));
  th_free(h);
}

/* ---- ssh-keys ---- */

static void test_ssh_keys(void **state) {
  (void)state;
  th *h = th_new();
  char *key = brr_path_join(h->dir, "id_test");
  char *argv[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key, NULL};
  assert_int_equal(tu_run(argv, NULL, NULL), 0);
  char *pem = tu_read(key);
  assert_non_null(pem);
  char *g = brr_xasprintf("ssh-keys:\n  - file: %s\n    aliases: [deploy]\n", key);
  th_file(h, ".buildrunner.yaml", g);
  free(g);
  const char *yaml = "steps:\n  s:\n    run:\n      image: reg.test/git:1\n      ssh-keys: [deploy]\n"
                     "      services:\n        helper:\n          image: reg.test/busybox:1\n"
                     "          inject-ssh-agent: true\n      cmd: ssh-add -l\n";
  int rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "ssh agent with 1 key(s)"));
  const fake_request *cr = fake_engine_find(h->fe, "POST", "/containers/create", 1);
  th_assert(h, cr && strstr(cr->body, ":/ssh-agent\"") && strstr(cr->body, "SSH_AUTH_SOCK=/ssh-agent/agent"));
  const fake_request *svc = fake_engine_find(h->fe, "POST", "/containers/create", 0);
  th_assert(h, svc && strstr(svc->body, "SSH_AUTH_SOCK=/ssh-agent/agent"));
  /* the agent's directory went with the run's temp dir */
  DIR *d = opendir(h->tmp);
  size_t left = 0;
  for (struct dirent *e; d && (e = readdir(d));) left += e->d_name[0] != '.';
  if (d) closedir(d);
  th_assert(h, left == 0);
  th_free(h);

  /* the key given inline in the global config, and an entry with neither file nor key */
  h = th_new();
  brr_buf gb = BRR_BUF_INIT;
  brr_buf_puts(&gb, "ssh-keys:\n  - key: |\n");
  for (char *line = pem, *nl; line && *line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    brr_buf_printf(&gb, "      %.*s\n", (int)(nl ? nl - line : (long)strlen(line)), line);
  }
  brr_buf_puts(&gb, "    aliases: [inline]\n  - aliases: [empty]\n");
  th_file(h, ".buildrunner.yaml", brr_buf_cstr(&gb));
  brr_buf_free(&gb);
  free(pem);
  rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/git:1\n      ssh-keys: [inline]\n      cmd: x\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "ssh agent with 1 key(s)"));
  rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/git:1\n      ssh-keys: [empty]\n      cmd: x\n", NULL);
  th_assert(h, rc == 78);
  th_assert(h, th_ended(h, "has neither `file` nor `key`"));
  th_free(h);

  /* an alias no global entry lists: 78 at the alias */
  h = th_new();
  rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/git:1\n      ssh-keys: [nope]\n      cmd: x\n", NULL);
  th_assert(h, rc == 78);
  th_assert(h, th_ended(h, "nope"));
  th_free(h);

  /* a key that does not load (a wrong passphrase): the step fails */
  h = th_new();
  char *key2 = brr_path_join(h->dir, "id_pw");
  char *argv2[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "right", "-f", key2, NULL};
  assert_int_equal(tu_run(argv2, NULL, NULL), 0);
  g = brr_xasprintf("ssh-keys:\n  - file: %s\n    password: wrong\n    aliases: [pw]\n", key2);
  th_file(h, ".buildrunner.yaml", g);
  free(g);
  rc = th_run(h, "steps:\n  s:\n    run:\n      image: reg.test/git:1\n      ssh-keys: [pw]\n      cmd: x\n", NULL);
  th_assert(h, rc == 1);
  th_assert(h, fake_engine_created(h->fe, FAKE_CONTAINER) == 0);
  th_free(h);
  free(key);
  free(key2);
}

/* ---- the sweep of what killed runs left ---- */

static char *dead_owner(void) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  /* this process's pid with a start time that is not its own: a brr that is gone */
  return brr_xasprintf("%s:%d:1", host, (int)getpid());
}

static void put_leftovers(th *h, const char *owner) {
  char *labels = brr_xasprintf("{\"brr.managed\":\"1\",\"brr.owner\":\"%s\"}", owner);
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "old-c", labels);
  fake_engine_add_object(h->fe, FAKE_NETWORK, "old-n", labels);
  fake_engine_add_object(h->fe, FAKE_VOLUME, "old-v", labels);
  /* not brr's: never touched */
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "someone-elses", "{\"app\":\"x\"}");
  free(labels);
}

typedef struct swept {
  int n;
  brr_buf what;
} swept;

static void on_swept(void *ud, const char *what, const char *owner, const char *error) {
  swept *s = ud;
  s->n++;
  brr_buf_printf(&s->what, "%s %s %s\n", what, owner ? owner : "-", error ? error : "ok");
}

static void test_sweep(void **state) {
  (void)state;
  th *h = th_new();
  char *owner = dead_owner();
  put_leftovers(h, owner);
  char *stale = brr_xasprintf("%s/brr-run.%d.1.abcdef", h->tmp, (int)getpid());
  brr_mkdir_p(stale, 0700);
  tu_write(stale, "x", "x", 0600);
  int rc = th_run(h, "steps:\n  a:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_live(h->fe, FAKE_CONTAINER) == 1);   /* someone-elses */
  th_assert(h, fake_engine_live(h->fe, FAKE_NETWORK) == 0);
  th_assert(h, fake_engine_live(h->fe, FAKE_VOLUME) == 0);
  th_assert(h, fake_engine_count(h->fe, "DELETE", "/containers/old-c") + fake_engine_count(h->fe, "DELETE", "/containers/c*") >= 1);
  struct stat st;
  th_assert(h, stat(stale, &st) != 0);
  th_assert(h, th_said(h, "old-v") || th_said(h, "volume"));
  th_free(h);

  /* brr --clean: its own client; a refused removal is counted as failed */
  h = th_new();
  put_leftovers(h, owner);
  fake_engine_fail(h->fe, "DELETE", "/volumes/*", 0, 500);
  brr_engine_endpoint ep = {.host = (char *)fake_engine_host(h->fe), .source = "test"};
  swept s = {0};
  int failed = 0;
  char *err = NULL;
  int n = brr_sweep_stale(&ep, 10, h->tmp, on_swept, &s, &failed, &err);
  th_assert(h, n == 2);
  th_assert(h, failed == 1);
  th_assert(h, err == NULL);
  th_assert(h, strstr(brr_buf_cstr(&s.what), owner) != NULL);
  brr_buf_free(&s.what);
  th_free(h);

  /* no engine there */
  brr_engine_endpoint none = {.host = "unix:///nonexistent/docker.sock", .source = "test"};
  err = NULL;
  n = brr_sweep_stale(&none, 2, "/nonexistent", NULL, NULL, &failed, &err);
  assert_int_equal(n, -1);
  assert_non_null(err);
  free(err);
  free(stale);
  free(owner);
}

/* ---- run options ---- */

/* Images removed (a DELETE that found one) other than the run's source image
 * (brr-source:<run id>, always removed; a second DELETE by its id finds nothing). */
static size_t built_images_removed(th *h) {
  size_t n = 0;
  const fake_request *q;
  for (size_t i = 0; (q = fake_engine_find(h->fe, "DELETE", "/images/*", i)); i++)
    n += q->status == 200 && strncmp(q->path, "/images/brr-source:", 19) != 0;
  return n;
}

static void test_runtime_options(void **state) {
  (void)state;
  const char *yaml = "steps:\n  b:\n    build:\n      dockerfile: FROM scratch\n"
                     "  r:\n    depends: [b]\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n";
  /* --cleanup-images: the image the build generated is removed at the end */
  th *h = th_new();
  th_opts o = {.cleanup_images = true};
  int rc = th_run(h, yaml, &o);
  th_assert(h, rc == 0);
  th_assert(h, built_images_removed(h) >= 1);
  th_free(h);
  /* without it the image stays */
  h = th_new();
  rc = th_run(h, yaml, NULL);
  th_assert(h, rc == 0);
  th_assert(h, built_images_removed(h) == 0);
  th_assert(h, fake_engine_count(h->fe, "DELETE", "/images/brr-source:*") == 1);
  th_free(h);
  /* --local-images: an image that is there is not pulled; one that is not is */
  h = th_new();
  fake_engine_add_image(h->fe, "reg.test/busybox:1");
  o = (th_opts){.local_images = true, .publish_ports = true};
  rc = th_run(h, "steps:\n  r:\n    run:\n      image: reg.test/busybox:1\n      ports:\n        8080: 18080\n      cmd: echo\n", &o);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count_pulls(h->fe) == 0);
  const fake_request *cr = fake_engine_find_create(h->fe, false, 0);
  th_assert(h, cr && strstr(cr->body, "18080"));
  th_free(h);
  /* an engine that is not there: the run fails, nothing hangs */
  h = th_new();
  th_file(h, "buildrunner.yaml", "steps:\n  r:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n");
  fake_engine_fail(h->fe, "GET", "/version", 0, 500);
  rc = th_run(h, "steps:\n  r:\n    run:\n      image: reg.test/busybox:1\n      cmd: echo\n", &(th_opts){.no_sweep = true});
  th_assert(h, rc == 1);
  th_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_post_build),
      cmocka_unit_test(test_post_build_errors),
      cmocka_unit_test(test_commit_tags_and_errors),
      cmocka_unit_test(test_security_scan),
      cmocka_unit_test(test_services),
      cmocka_unit_test(test_service_stops_while_waited_for),
      cmocka_unit_test(test_post_build_edges),
      cmocka_unit_test(test_ssh_keys),
      cmocka_unit_test(test_sweep),
      cmocka_unit_test(test_runtime_options),
  };
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
