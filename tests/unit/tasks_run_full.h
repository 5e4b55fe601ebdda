/* The run step that goes through every stage of the run node, and the calls it makes in
 * order: shared by the tasks_run_* tests (header-only). */
#ifndef BRR_TESTS_TASKS_RUN_FULL_H
#define BRR_TESTS_TASKS_RUN_FULL_H

#include <glob.h>

#include "unit/task_harness.h"

#define TRF_UNUSED __attribute__((unused))

/* One step using every stage of the run node. */
static const char *FULL =
    "steps:\n"
    "  full:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      env:\n"
    "        A: b\n"
    "      services:\n"
    "        db:\n"
    "          image: reg.test/db:1\n"
    "          cmd: serve\n"
    "      caches:\n"
    "        deps: /cache/deps\n"
    "      provisioners:\n"
    "        shell: prov.sh\n"
    "      cmds:\n"
    "        - echo one\n"
    "        - echo two\n"
    "      artifacts:\n"
    "        out/*.txt:\n"
    "    commit:\n"
    "      repository: made/full\n"
    "      tags: [v1]\n";

static TRF_UNUSED th *full_new(void) {
  th *h = th_new();
  th_file(h, "prov.sh", "echo prov\n");
  char *caches = brr_path_join(h->dir, "caches");
  char *g = brr_xasprintf("caches-root: %s\n", caches);
  th_file(h, ".buildrunner.yaml", g);
  free(g);
  free(caches);
  /* command output (older than the lister's rules, which win) */
  char *mux = NULL;
  size_t len = 0;
  fake_mux_frame(&mux, &len, 1, "hello from one\n", (size_t)-1);
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/exec/*/start"), 200, "application/vnd.docker.multiplexed-stream",
                  mux, len);
  free(mux);
  /* fixed exec ids, so that the tests can name each exec whatever order they arrive in (the
   * service's command runs beside the run container's stages) */
  static const char *const EXECS[][2] = {{"serve", "svcexec"}, {"prov.sh", "provexec"},
                                         {"echo one", "cmd1"}, {"echo two", "cmd2"}};
  for (size_t i = 0; i < BRR_ARRAY_LEN(EXECS); i++) {
    char *id = brr_xasprintf("{\"Id\":\"%s\"}", EXECS[i][1]);
    fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), EXECS[i][0]), 201, id);
    free(id);
  }
  /* the listing exec: one file artifact; its archive: a tar holding it */
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/*/exec"), "brr_list"), 201,
                 "{\"Id\":\"lister\"}");
  mux = NULL;
  len = 0;
  static const char listing[] = "0\0f\0out/a.txt\0/source/out/a.txt\0";
  fake_mux_frame(&mux, &len, 1, listing, sizeof listing - 1);
  fake_rule_reply(fake_engine_on(h->fe, "POST", "/exec/lister/start"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
  free(mux);
  size_t tlen = 0;
  char *tar = fake_tar(&tlen, "a.txt", "artifact A\n", (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "path=/source/out/a.txt"),
                  200, "application/x-tar", tar, tlen);
  free(tar);
  return h;
}

static TRF_UNUSED size_t count_files(const char *pattern) {
  glob_t g;
  size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
  globfree(&g);
  return n;
}

/* ---- an engine error at each call ---- */

typedef struct call {
  const char *method, *pattern;
  unsigned nth;
  const char *filter; /* the query (GET, PUT, DELETE) or body (POST) must hold it, or NULL */
  int rc500, rcdrop;  /* the run's exit code when the call fails with HTTP 500 / when it and
                         every later call of its route lose the connection */
} call;

/* The calls of FULL in order (the fixed ids of full_new's rules included). */
static const call CALLS[] = {
    {"POST", "/networks/create", 1, NULL, 1, 1},
    {"POST", "/volumes/create", 1, NULL, 1, 1},
    {"GET", "/images/*/json", 1, NULL, 1, 1},
    {"POST", "/images/create", 1, NULL, 1, 1},
    {"POST", "/containers/create", 1, NULL, 1, 1},           /* the service */
    {"PUT", "/containers/*/archive", 1, NULL, 1, 1},         /* /source into the step volume */
    {"POST", "/containers/*/start", 1, NULL, 1, 1},
    /* the service's cmd is its output stream: a failure there is not the step's */
    {"POST", "/containers/*/exec", 1, "serve", 0, 0},
    {"POST", "/exec/svcexec/start", 1, NULL, 0, 0},
    {"GET", "/containers/*/json", 1, NULL, 1, 1},            /* the service's address */
    {"POST", "/images/create", 2, NULL, 1, 1},               /* the run image */
    {"POST", "/containers/create", 2, NULL, 1, 1},
    {"POST", "/containers/*/start", 2, NULL, 1, 1},
    {"PUT", "/containers/*/archive", 2, NULL, 1, 1},         /* the provisioner */
    {"POST", "/containers/*/exec", 1, "prov.sh", 1, 1},
    {"POST", "/exec/provexec/start", 1, NULL, 1, 1},
    {"GET", "/exec/provexec/json", 1, NULL, 1, 1},
    {"POST", "/exec/cmd1/start", 1, NULL, 1, 1},             /* the first command */
    {"GET", "/exec/cmd2/json", 1, NULL, 1, 1},               /* the second command */
    /* a cache that cannot be saved is a warning */
    {"GET", "/containers/*/archive", 1, "path=/cache/deps", 0, 0},
    {"POST", "/exec/lister/start", 1, NULL, 1, 1},
    {"GET", "/containers/*/archive", 1, "path=/source/out/a.txt", 1, 1},
    {"POST", "/containers/*/stop", 1, NULL, 1, 1},
    {"POST", "/commit", 1, NULL, 1, 1},
    /* removals: the end of the run tries again; what stays is reported by the finish */
    {"DELETE", "/containers/*", 1, NULL, 0, 0},
    {"DELETE", "/networks/*", 1, NULL, 0, 0},
    {"DELETE", "/volumes/*", 1, NULL, 0, 0},
    {"POST", "/images/*/tag", 1, NULL, 1, 1},                /* the commit node's */
};

static TRF_UNUSED fake_rule *on_call(th *h, const call *c, bool from) {
  fake_rule *r = fake_engine_on(h->fe, c->method, c->pattern);
  if (from) fake_rule_from(r, c->nth);
  else fake_rule_nth(r, c->nth);
  if (c->filter && !strcmp(c->method, "POST")) fake_rule_body_has(r, c->filter);
  else if (c->filter) fake_rule_query_has(r, c->filter);
  return r;
}

/* Each call of CALLS failing in turn, answered with HTTP 500 (`drop` false) or a dropped
 * connection: the run ends with the table's exit code, the node's error names the engine's,
 * and every object is removed (a removal never answered stays, and the end of the run says
 * so). */
static TRF_UNUSED void full_fail_each_call(bool drop) {
  for (size_t i = 0; i < BRR_ARRAY_LEN(CALLS); i++) {
    const call *c = &CALLS[i];
    th *h = full_new();
    fake_rule *r = fake_rule_error(on_call(h, c, drop), 500, "injected failure");
    if (drop) fake_rule_drop(r);
    int rc = th_run(h, FULL, NULL);
    int want = drop ? c->rcdrop : c->rc500;
    if (rc != want) fprintf(stderr, "call %zu: %s %s #%u drop=%d\n", i, c->method, c->pattern, c->nth, drop);
    th_assert(h, rc == want);
    /* a failure names the engine's error */
    if (want) th_assert(h, th_ended(h, drop ? "Empty reply from server" : "injected failure (HTTP 500)"));
    if (want && strcmp(c->pattern, "/images/*/tag") != 0) th_assert(h, th_ended(h, "full/run failed"));
    if (!strcmp(c->method, "DELETE") && drop) {
      /* never answered: it stays, and the end of the run says so */
      th_assert(h, !th_clean(h));
      th_assert(h, h->finish_rc != 0);
    } else {
      th_assert(h, th_clean(h));
      th_assert(h, h->finish_rc == 0);
    }
    th_free(h);
  }
}

#endif
