/* The own-process path of a run step (docs/run.md "Own process") through the fake engine:
 * several commands through the driver script and its marker lines, artifacts listed by the
 * process and read from the stopped container (and the lister fallback), caches put into the
 * created container by HEAD + PUT, and an engine error and a cancel at each of its calls.
 *
 * The driver's markers carry a token brr draws per step; the fake learns it from the create
 * request (Cmd[4]). Where the driver's own behaviour matters, the test runs the very script brr
 * sent (Cmd) with /bin/sh on this machine, and the fake's attach answers what it printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit/task_harness.h"

/* ---- the driver as the fake's container process ---- */

typedef struct frame {
  int stream;           /* 1 stdout, 2 stderr */
  const char *text;     /* "@T" stands for the step's token */
} frame;

typedef struct own_ctx {
  pthread_mutex_t mu;
  char *token;          /* from the create's Cmd */
  char **cmd;           /* the create's Cmd (NULL-terminated) */
  const frame *frames;  /* scripted output, or NULL: run the driver on the host */
  bool stderr_first;    /* host run: the stderr frame before the stdout one */
  brr_buf out, err;     /* the host run's output */
  int code;             /* the host run's exit code */
  bool ran;
  char *home;           /* HOME of the host run (the driver's git config goes there) */
  char *listing;        /* the listing file's content (NULL: 404) */
  bool self_listing;    /* the listing names the listing file itself and /tmp/.keep */
  size_t listing_len;
} own_ctx;

static void ctx_init(own_ctx *c, th *h) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
  c->home = brr_path_join(h->dir, "home");
  brr_mkdir_p(c->home, 0700);
}

static void ctx_free(own_ctx *c) {
  free(c->token);
  for (size_t i = 0; c->cmd && c->cmd[i]; i++) free(c->cmd[i]);
  free(c->cmd);
  brr_buf_free(&c->out);
  brr_buf_free(&c->err);
  free(c->home);
  pthread_mutex_destroy(&c->mu);
}

static void read_all(int fd, brr_buf *b) {
  char chunk[4096];
  ssize_t n;
  lseek(fd, 0, SEEK_SET);
  while ((n = read(fd, chunk, sizeof chunk)) > 0) brr_buf_append(b, chunk, (size_t)n);
}

/* Run Cmd on this machine: stdout and stderr into files, HOME a temp dir, cwd the home. */
static void host_run(own_ctx *c) {
  char po[] = "/tmp/brr-own-outXXXXXX", pe[] = "/tmp/brr-own-errXXXXXX";
  int fo = mkstemp(po), fe = mkstemp(pe);
  assert_true(fo >= 0 && fe >= 0);
  unlink(po);
  unlink(pe);
  char *home = brr_xasprintf("HOME=%s", c->home);
  char *envp[] = {home, (char *)"PATH=/usr/bin:/bin", NULL};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fo, 1);
    dup2(fe, 2);
    if (chdir(c->home) != 0) _exit(126);
    execve("/bin/sh", c->cmd, envp);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
  }
  c->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  read_all(fo, &c->out);
  read_all(fe, &c->err);
  close(fo);
  close(fe);
  free(home);
  c->ran = true;
}

/* The create of the run container: remember its Cmd and token (and run it, for a host run). */
static void on_create(void *ud, const fake_request *req) {
  own_ctx *c = ud;
  cJSON *b = cJSON_Parse(req->body ? req->body : "");
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(b, "Cmd");
  int n = cJSON_GetArraySize(cmd);
  const cJSON *tok = cJSON_GetArrayItem(cmd, 4);
  if (n >= 5 && cJSON_IsString(tok) && !strncmp(tok->valuestring, "brr-marker-", 11)) {
    pthread_mutex_lock(&c->mu);
    free(c->token);
    c->token = brr_xstrdup(tok->valuestring);
    c->cmd = brr_xcalloc((size_t)n + 1, sizeof *c->cmd);
    for (int i = 0; i < n; i++) c->cmd[i] = brr_xstrdup(cJSON_GetArrayItem(cmd, i)->valuestring);
    if (!c->frames) host_run(c);
    pthread_mutex_unlock(&c->mu);
  }
  cJSON_Delete(b);
}

static char *with_token(const char *text, const char *token) {
  brr_buf b = BRR_BUF_INIT;
  for (const char *p = text; *p; p++) {
    if (p[0] == '@' && p[1] == 'T') {
      brr_buf_puts(&b, token);
      p++;
    } else {
      brr_buf_append(&b, p, 1);
    }
  }
  return brr_buf_detach(&b);
}

/* The attach of the run container: the scripted frames or the host run's output. */
static void on_attach(void *ud, const fake_request *req, fake_reply *out) {
  (void)req;
  own_ctx *c = ud;
  pthread_mutex_lock(&c->mu);
  char *mux = NULL;
  size_t len = 0;
  if (c->frames) {
    for (const frame *f = c->frames; f->text; f++) {
      char *t = with_token(f->text, c->token ? c->token : "no-token");
      fake_mux_frame(&mux, &len, f->stream, t, strlen(t));
      free(t);
    }
  } else {
    int first = c->stderr_first ? 2 : 1;
    brr_buf *a = first == 1 ? &c->out : &c->err, *b = first == 1 ? &c->err : &c->out;
    if (a->len) fake_mux_frame(&mux, &len, first, a->data, a->len);
    if (b->len) fake_mux_frame(&mux, &len, 3 - first, b->data, b->len);
  }
  pthread_mutex_unlock(&c->mu);
  free(out->body);
  free(out->content_type);
  out->status = 200;
  out->content_type = brr_xstrdup("application/vnd.docker.multiplexed-stream");
  out->body = mux;
  out->body_len = len;
}

/* The wait: the host run's exit code (scripted runs set a rule of their own). */
static void on_wait(void *ud, const fake_request *req, fake_reply *out) {
  (void)req;
  own_ctx *c = ud;
  pthread_mutex_lock(&c->mu);
  char *j = brr_xasprintf("{\"StatusCode\":%d}", c->ran ? c->code : 0);
  pthread_mutex_unlock(&c->mu);
  free(out->body);
  out->body = j;
  out->body_len = strlen(j);
}

/* GET of the listing file: a tar of it, or 404 as the engine says for a missing path. */
static void on_list_get(void *ud, const fake_request *req, fake_reply *out) {
  (void)req;
  own_ctx *c = ud;
  free(out->body);
  free(out->content_type);
  out->content_type = NULL;
  char *own = NULL;
  if (c->self_listing) {
    brr_buf l = BRR_BUF_INIT;
    char *e = brr_xasprintf("0\037f\037.%s.list\037/tmp/.%s.list\037", c->token, c->token);
    size_t el = strlen(e);
    for (char *p = e; *p; p++)
      if (*p == '\037') *p = '\0';
    brr_buf_append(&l, e, el);
    static const char keep[] = "0\0f\0.keep\0/tmp/.keep\0";
    brr_buf_append(&l, keep, sizeof keep - 1);
    free(e);
    c->listing_len = l.len;
    c->listing = own = brr_buf_detach(&l);
  }
  if (!c->listing) {
    out->status = 404;
    out->body = brr_xstrdup("{\"message\":\"Could not find the file /tmp/.x.list in container c\"}");
    out->body_len = strlen(out->body);
    return;
  }
  size_t tl = 0;
  char *tar = fake_tar_bytes(&tl, "listing", c->listing, c->listing_len);
  out->status = 200;
  out->content_type = brr_xstrdup("application/x-tar");
  out->body_len = tl;
  out->body = tar;
  if (own) {
    free(own);
    c->listing = NULL;
  }
}

/* A handler that leaves the default answer as it is. */
static void keep_default(void *ud, const fake_request *req, fake_reply *out) {
  (void)ud;
  (void)req;
  (void)out;
}

static void own_rules(th *h, own_ctx *c) {
  fake_rule *cr = fake_engine_on(h->fe, "POST", "/containers/create");
  fake_rule_on_request(fake_rule_handler(cr, keep_default, NULL), on_create, c);
  fake_rule_handler(fake_engine_on(h->fe, "POST", "/containers/*/attach"), on_attach, c);
  if (!c->frames) fake_rule_handler(fake_engine_on(h->fe, "POST", "/containers/*/wait"), on_wait, c);
}

/* Where `needle` is in the output (SIZE_MAX: absent). */
static size_t at(th *h, const char *needle) {
  const char *o = brr_buf_cstr(&h->out), *p = strstr(o, needle);
  return p ? (size_t)(p - o) : SIZE_MAX;
}

/* Each needle appears, in this order. */
static bool in_order(th *h, const char *const *needles) {
  size_t last = 0;
  for (size_t i = 0; needles[i]; i++) {
    size_t p = at(h, needles[i]);
    if (p == SIZE_MAX || (i && p <= last)) {
      fprintf(stderr, "out of order or missing: %s\n", needles[i]);
      return false;
    }
    last = p;
  }
  return true;
}

/* ---- several commands: the real driver, run here ---- */

static const char *DRIVEN =
    "steps:\n"
    "  s:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      cmds:\n"
    "        - echo one\n"
    "        - echo two >&2; printf partial\n"
    "        - exit 3\n"
    "        - echo never\n";

static void test_driver_on_host(void **state) {
  (void)state;
  for (int order = 0; order < 2; order++) {
    th *h = th_new();
    own_ctx c;
    ctx_init(&c, h);
    c.stderr_first = order == 1;
    own_rules(h, &c);
    int rc = th_run(h, DRIVEN, NULL);
    th_assert(h, c.ran && c.code == 3);
    th_assert(h, rc == 1);
    /* no exec at all: the commands were the container's process, the driver its command */
    th_assert(h, fake_engine_count(h->fe, "POST", "/containers/*/exec") == 0);
    const char *seq[] = {"cmd> echo one",
                         "] one\n",
                         "Command \"echo one\" exited with code 0",
                         "cmd> echo two >&2; printf partial",
                         "] partial\n",
                         "Command \"echo two >&2; printf partial\" exited with code 0",
                         "cmd> exit 3",
                         "Command \"exit 3\" exited with code 3",
                         NULL};
    th_assert(h, in_order(h, seq));
    /* each command's stderr (its -x trace, its own) is between its header and its end */
    th_assert(h, at(h, "] + echo one\n") < at(h, "Command \"echo one\""));
    th_assert(h, at(h, "] two\n") > at(h, "cmd> echo two") && at(h, "] two\n") < at(h, "Command \"echo two"));
    /* the failure stops the commands after it, and is the step's */
    th_assert(h, !th_said(h, "never"));
    th_assert(h, th_ended(h, "command \"exit 3\" exited with code 3"));
    /* the markers are not output */
    th_assert(h, c.token && !th_said(h, c.token));
    th_assert(h, !th_said(h, "brr-marker-"));
    th_assert(h, th_clean(h));
    ctx_free(&c);
    th_free(h);
  }
}

/* ---- scripted markers: interleaving, forged markers, lines across frames ---- */

static const char *TWO =
    "steps:\n"
    "  s:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      cmds: [first, second]\n";

static void test_markers_scripted(void **state) {
  (void)state;
  static const frame frames[] = {
      {1, "x-out\n"},
      {2, "+ first\n"},
      /* a marker of another token, and the step's token with another index: output */
      {1, "brr-marker-00000000-0000-4000-8000-000000000000 0 0\n@T 7 0\n"},
      {1, "hal"},
      {1, "f@T 0 0\n"},   /* text before the marker without a newline: a line of its own */
      {1, "second-early\n"},   /* stdout is ahead: held until stderr shows the marker */
      {2, "@T 0"},
      {2, " 0\n+ second\n"},
      {1, "@T 1 0\n"},
      {2, "@T 1 0\n"},
      {1, "tail without newline"},
      {0, NULL}};
  th *h = th_new();
  own_ctx c;
  ctx_init(&c, h);
  c.frames = frames;
  own_rules(h, &c);
  int rc = th_run(h, TWO, NULL);
  th_assert(h, rc == 0);
  const char *seq[] = {"cmd> first",
                       "] x-out\n",
                       "] brr-marker-00000000-0000-4000-8000-000000000000 0 0\n",
                       " 7 0\n",
                       "] half\n",
                       "Command \"first\" exited with code 0",
                       "cmd> second",
                       "] second-early\n",
                       "Command \"second\" exited with code 0",
                       "] tail without newline\n",
                       NULL};
  th_assert(h, in_order(h, seq));
  th_assert(h, at(h, "] + first\n") < at(h, "Command \"first\""));
  th_assert(h, at(h, "] + second\n") > at(h, "Command \"first\""));
  /* the step's token shows only in the forged line with index 7 */
  char *forged = brr_xasprintf("%s 7 0", c.token);
  th_assert(h, th_said(h, forged));
  char *real0 = brr_xasprintf("%s 0 0", c.token);
  th_assert(h, !th_said(h, real0));
  free(forged);
  free(real0);
  ctx_free(&c);
  th_free(h);
}

static void test_markers_failures(void **state) {
  (void)state;
  /* the second command fails: its code is the step's, nothing of a third */
  static const frame fail2[] = {{1, "@T 0 0\n@T 1 5\n"}, {2, "@T 0 0\n@T 1 5\n"}, {0, NULL}};
  /* killed between its two markers: the one seen counts */
  static const frame half[] = {{1, "@T 0 0\n@T 1 5\n"}, {2, "@T 0 0\nlate\n"}, {0, NULL}};
  /* killed while the second ran (no marker of it): the process's code is its code */
  static const frame killed[] = {{1, "@T 0 0\n"}, {2, "@T 0 0\n"}, {0, NULL}};
  /* every command passed, then the process ended badly */
  static const frame after[] = {{1, "@T 0 0\n@T 1 0\n"}, {2, "@T 0 0\n@T 1 0\n"}, {0, NULL}};
  struct {
    const frame *frames;
    int wait;
    const char *said, *ended;
  } cases[] = {
      {fail2, 5, "Command \"second\" exited with code 5", "command \"second\" exited with code 5"},
      {half, 5, "Command \"second\" exited with code 5", "command \"second\" exited with code 5"},
      {killed, 137, "Command \"second\" exited with code 137", "command \"second\" exited with code 137"},
      {after, 9, "Command \"second\" exited with code 0", "the container exited with code 9"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    th *h = th_new();
    own_ctx c;
    ctx_init(&c, h);
    c.frames = cases[i].frames;
    own_rules(h, &c);
    char *w = brr_xasprintf("{\"StatusCode\":%d}", cases[i].wait);
    fake_rule_json(fake_engine_on(h->fe, "POST", "/containers/*/wait"), 200, w);
    free(w);
    int rc = th_run(h, TWO, NULL);
    if (rc != 1) fprintf(stderr, "case %zu\n", i);
    th_assert(h, rc == 1);
    th_assert(h, th_said(h, "Command \"first\" exited with code 0"));
    th_assert(h, th_said(h, cases[i].said));
    th_assert(h, th_ended(h, cases[i].ended));
    /* each command's end is said once */
    const char *o = brr_buf_cstr(&h->out), *p = strstr(o, "Command \"second\"");
    th_assert(h, p && !strstr(p + 1, "Command \"second\""));
    if (cases[i].frames == half)
      th_assert(h, at(h, "] late\n") > at(h, "Command \"first\"") && at(h, "] late\n") < at(h, "Command \"second\""));
    th_assert(h, th_clean(h));
    ctx_free(&c);
    th_free(h);
  }
}

/* ---- artifacts from the stopped container ---- */

static const char *ARTS =
    "steps:\n"
    "  a:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      cmd: make\n"
    "      artifacts:\n"
    "        dist/*.txt:\n";

static void test_artifacts_listing_file(void **state) {
  (void)state;
  static const frame frames[] = {{1, "built\n@T 0 0\n"}, {2, "@T 0 0\n"}, {0, NULL}};
  static const char listing[] = "0\0f\0dist/a.txt\0/source/dist/a.txt\0";
  th *h = th_new();
  own_ctx c;
  ctx_init(&c, h);
  c.frames = frames;
  c.listing = (char *)listing;
  c.listing_len = sizeof listing - 1;
  own_rules(h, &c);
  fake_rule_handler(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), ".list"),
                    on_list_get, &c);
  size_t tl = 0;
  char *tar = fake_tar(&tl, "a.txt", "A\n", (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "dist/a.txt"), 200,
                  "application/x-tar", tar, tl);
  free(tar);
  int rc = th_run(h, ARTS, NULL);
  th_assert(h, rc == 0);
  /* one command with artifacts goes through the driver, which lists them into its file */
  const fake_request *cr = fake_engine_find_create(h->fe, false, 0);
  th_assert(h, cr && strstr(cr->body, ".$t.list") && strstr(cr->body, "brr-marker-"));
  /* read once the container stopped: after the wait, no exec, no lister, no stop call */
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/*/exec") == 0);
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/*/stop") == 0);
  th_assert(h, fake_engine_created_containers(h->fe, false) == 1);
  char *want = brr_xasprintf("path=/tmp/.%s.list", c.token);
  const fake_request *g = fake_engine_find(h->fe, "GET", "/containers/*/archive", 0);
  th_assert(h, g && !strcmp(g->query, want));
  free(want);
  char *a = tu_read_rel(h->results, "a/a.txt");
  th_assert(h, a && !strcmp(a, "A\n"));
  free(a);
  th_assert(h, th_said(h, "] built\n"));
  th_assert(h, th_clean(h));
  ctx_free(&c);
  th_free(h);

  /* the listing file names itself (a pattern such as /tmp/.*): it is no artifact */
  h = th_new();
  ctx_init(&c, h);
  c.frames = frames;
  own_rules(h, &c);
  fake_rule_handler(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), ".list"),
                    on_list_get, &c);
  c.self_listing = true;
  rc = th_run(h, "steps:\n  a:\n    run:\n      image: reg.test/busybox:1\n      cmd: make\n"
                 "      artifacts:\n        /tmp/.*:\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count(h->fe, "GET", "/containers/*/archive") == 2);
  const fake_request *k = fake_engine_find(h->fe, "GET", "/containers/*/archive", 1);
  th_assert(h, k && !strcmp(k->query, "path=/tmp/.keep"));
  th_assert(h, tu_exists(h->results, "a/.keep"));
  ctx_free(&c);
  th_free(h);

  /* the listing is not a tar: the step fails saying so */
  h = th_new();
  ctx_init(&c, h);
  c.frames = frames;
  own_rules(h, &c);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), ".list"), 200,
                  "application/x-tar", "garbage", (size_t)-1);
  rc = th_run(h, ARTS, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "listing artifacts: the listing is not a readable file"));
  th_assert(h, th_clean(h));
  ctx_free(&c);
  th_free(h);

  /* a listing that is not one: the step fails */
  static const char bad[] = "zzz";
  h = th_new();
  ctx_init(&c, h);
  c.frames = frames;
  c.listing = (char *)bad;
  c.listing_len = 3;
  own_rules(h, &c);
  fake_rule_handler(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), ".list"),
                    on_list_get, &c);
  rc = th_run(h, ARTS, NULL);
  th_assert(h, rc == 1);
  th_assert(h, th_ended(h, "listing artifacts"));
  th_assert(h, th_clean(h));
  ctx_free(&c);
  th_free(h);
}

static void test_artifacts_lister_fallback(void **state) {
  (void)state;
  /* the driver left no listing (no writable /tmp, or killed): a lister container lists */
  static const frame frames[] = {{1, "@T 0 0\n"}, {2, "@T 0 0\n"}, {0, NULL}};
  th *h = th_new();
  own_ctx c;
  ctx_init(&c, h);
  c.frames = frames;
  own_rules(h, &c);
  fake_rule_handler(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), ".list"),
                    on_list_get, &c);
  fake_engine_add_object(h->fe, FAKE_CONTAINER, "lister", NULL);
  /* (the run container's create holds the listing script too: the lister's image tells them apart) */
  fake_rule_json(fake_rule_body_has(fake_engine_on(h->fe, "POST", "/containers/create"), "busybox:latest"), 201,
                 "{\"Id\":\"lister\"}");
  static const char listing[] = "0\0f\0dist/b.txt\0/source/dist/b.txt\0";
  char *mux = NULL;
  size_t len = 0;
  fake_mux_frame(&mux, &len, 1, listing, sizeof listing - 1);
  fake_rule_reply(fake_engine_on(h->fe, "GET", "/containers/lister/logs"), 200,
                  "application/vnd.docker.multiplexed-stream", mux, len);
  free(mux);
  size_t tl = 0;
  char *tar = fake_tar(&tl, "b.txt", "B\n", (char *)NULL);
  fake_rule_reply(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), "dist/b.txt"), 200,
                  "application/x-tar", tar, tl);
  free(tar);
  int rc = th_run(h, ARTS, NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count(h->fe, "GET", "/containers/*/archive") == 2);
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/lister/start") == 1);
  char *b = tu_read_rel(h->results, "a/b.txt");
  th_assert(h, b && !strcmp(b, "B\n"));
  free(b);
  th_assert(h, th_clean(h));
  ctx_free(&c);
  th_free(h);

  /* the container itself is gone (removed from outside): no lister, the step fails */
  h = th_new();
  ctx_init(&c, h);
  c.frames = frames;
  own_rules(h, &c);
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), ".list"), 404,
                  "No such container: c2");
  rc = th_run(h, ARTS, NULL);
  th_assert(h, rc == 1);
  th_assert(h, fake_engine_created_containers(h->fe, false) == 1);
  th_assert(h, th_ended(h, "No such container"));
  ctx_free(&c);
  th_free(h);
}

/* ---- caches into the created container ---- */

static th *caches_new(const char *root_rel) {
  th *h = th_new();
  char *caches = brr_path_join(h->dir, root_rel);
  char *g = brr_xasprintf("caches-root: %s\n", caches);
  th_file(h, ".buildrunner.yaml", g);
  free(g);
  brr_mkdir_p(caches, 0755);
  size_t tl = 0;
  char *tar = fake_tar(&tl, "stamp", "v1\n", (char *)NULL);
  char *old = brr_path_join(caches, "deep.tar");
  brr_write_file(old, tar, tl);
  free(old);
  free(tar);
  free(caches);
  return h;
}

static const char *DEEP =
    "steps:\n"
    "  c:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      caches:\n"
    "        /opt/a/b: [deep]\n"
    "      cmd: build\n";

static void head_404(th *h, const char *path) {
  char *q = brr_xasprintf("path=%s", path);
  fake_rule *r = fake_engine_on(h->fe, "HEAD", "/containers/*/archive");
  fake_rule_query_has(r, q);
  fake_rule_error(r, 404, "Could not find the file");
  free(q);
}

static void test_caches_stat_put(void **state) {
  (void)state;
  /* /opt/a/b and /opt/a missing, /opt there: one PUT at /opt makes a/ and a/b/ */
  th *h = caches_new("caches");
  head_404(h, "/opt/a/b");
  head_404(h, "/opt/a");
  int rc = th_run(h, DEEP, NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count(h->fe, "HEAD", "/containers/*/archive") == 3);
  /* (no PUT of /source: the source container brought it) */
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 2);
  const fake_request *mk = fake_engine_find(h->fe, "PUT", "/containers/*/archive", 0);
  th_assert(h, mk && !strcmp(mk->query, "path=/opt"));
  th_assert(h, memmem(mk->body, mk->body_len, "a/b/", 4) && memmem(mk->body, mk->body_len, "a/\0", 3));
  const fake_request *put = fake_engine_find(h->fe, "PUT", "/containers/*/archive", 1);
  th_assert(h, put && !strcmp(put->query, "path=/opt/a/b"));
  th_assert(h, memmem(put->body, put->body_len, "stamp", 5));
  th_assert(h, th_said(h, "Restored cache"));
  /* the cache went in before the start; saved from the stopped container after the wait */
  size_t n = fake_engine_n_requests(h->fe);
  size_t i_put = SIZE_MAX, i_start = SIZE_MAX, i_wait = SIZE_MAX, i_save = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    const fake_request *q = fake_engine_request(h->fe, i);
    if (!strcmp(q->method, "PUT") && !strcmp(q->query, "path=/opt/a/b")) i_put = i;
    if (strstr(q->path, "/start")) i_start = i;
    if (strstr(q->path, "/wait")) i_wait = i;
    if (!strcmp(q->method, "GET") && strstr(q->path, "/archive") && strstr(q->query, "/opt/a/b")) i_save = i;
  }
  th_assert(h, i_put < i_start && i_start < i_wait && i_wait < i_save && i_save != SIZE_MAX);
  th_assert(h, fake_engine_count(h->fe, "POST", "/containers/*/exec") == 0);
  th_assert(h, th_said(h, "Saved cache"));
  th_free(h);

  /* nothing of the path exists, / neither (a broken engine): a warning, the step goes on */
  h = caches_new("caches");
  fake_rule_error(fake_engine_on(h->fe, "HEAD", "/containers/*/archive"), 404, "Could not find the file");
  rc = th_run(h, DEEP, NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count(h->fe, "HEAD", "/containers/*/archive") == 4);
  th_assert(h, th_said(h, "An error occurred when trying to use cache"));
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 0);   /* no cache PUT */
  th_assert(h, th_clean(h));
  th_free(h);

  /* the HEAD fails otherwise (500): a warning naming the engine's error, no PUT */
  h = caches_new("caches");
  fake_engine_fail(h->fe, "HEAD", "/containers/*/archive", 0, 500);
  rc = th_run(h, DEEP, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "An error occurred when trying to use cache"));
  th_assert(h, fake_engine_count(h->fe, "PUT", "/containers/*/archive") == 0);
  th_assert(h, th_said(h, "Saved cache"));
  th_free(h);

  /* the cache PUT fails: the warning as before, the step goes on */
  h = caches_new("caches");
  fake_rule_error(fake_rule_query_has(fake_engine_on(h->fe, "PUT", "/containers/*/archive"), "path=/opt/a/b"), 500,
                  "no space left");
  rc = th_run(h, DEEP, NULL);
  th_assert(h, rc == 0);
  th_assert(h, th_said(h, "An error occurred when trying to use cache"));
  th_assert(h, th_said(h, "no space left"));
  th_assert(h, th_clean(h));
  th_free(h);

  /* a relative cache path keeps the exec path (mkdir exec into the started container) */
  h = caches_new("caches");
  rc = th_run(h, "steps:\n  c:\n    run:\n      image: reg.test/busybox:1\n      caches:\n"
                 "        rel/dir: [deep]\n      cmd: build\n", NULL);
  th_assert(h, rc == 0);
  th_assert(h, fake_engine_count(h->fe, "HEAD", "/containers/*/archive") == 0);
  const fake_request *ex = fake_engine_find(h->fe, "POST", "/containers/*/exec", 0);
  th_assert(h, ex && strstr(ex->body, "mkdir"));
  th_free(h);
}

/* ---- an engine error and a cancel at each call of the own path ---- */

static const char *ALL =
    "steps:\n"
    "  s:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      caches:\n"
    "        /opt/a/b: [deep]\n"
    "      cmds: [first, second]\n"
    "      artifacts:\n"
    "        dist/*.txt:\n";

static const char *COMMITTED =
    "steps:\n"
    "  s:\n"
    "    run:\n"
    "      image: reg.test/busybox:1\n"
    "      cmds: [first, second]\n"
    "    commit:\n"
    "      repository: reg.test/out\n"
    "      tags: [t1]\n";

typedef struct call {
  const char *method, *pattern, *query;   /* query: a needle, or NULL */
  const char *yaml;
  bool fails;                             /* an error fails the step (else a warning) */
} call;

static fake_rule *call_rule(th *h, const call *k) {
  fake_rule *r = fake_engine_on(h->fe, k->method, k->pattern);
  if (k->query) fake_rule_query_has(r, k->query);
  return r;
}

/* Whether the engine saw the call (its query holding the needle). */
static bool call_seen(th *h, const call *k) {
  for (size_t i = 0;; i++) {
    const fake_request *q = fake_engine_find(h->fe, k->method, k->pattern, i);
    if (!q) return false;
    if (!k->query || strstr(q->query, k->query)) return true;
  }
}

static void test_errors_and_cancels(void **state) {
  (void)state;
  static const frame frames[] = {{1, "@T 0 0\n@T 1 0\n"}, {2, "@T 0 0\n@T 1 0\n"}, {0, NULL}};
  static const char listing[] = "0\0f\0dist/a.txt\0/source/dist/a.txt\0";
  const call calls[] = {
      {"HEAD", "/containers/*/archive", "path=/opt/a/b", NULL, false},
      {"PUT", "/containers/*/archive", "path=/opt", NULL, false},
      {"PUT", "/containers/*/archive", "path=/opt/a/b", NULL, false},
      {"POST", "/containers/*/attach", NULL, NULL, true},
      {"POST", "/containers/*/wait", NULL, NULL, true},
      {"GET", "/containers/*/archive", ".list", NULL, true},
      {"GET", "/containers/*/archive", "path=/opt/a/b", NULL, false},
      {"GET", "/containers/*/archive", "dist/a.txt", NULL, true},
      {"POST", "/commit", "CMD", COMMITTED, true},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    for (int cancel = 0; cancel < 2; cancel++) {
      th *h = caches_new("caches");
      own_ctx c;
      ctx_init(&c, h);
      c.frames = frames;
      c.listing = (char *)listing;
      c.listing_len = sizeof listing - 1;
      own_rules(h, &c);
      fake_rule_handler(fake_rule_query_has(fake_engine_on(h->fe, "GET", "/containers/*/archive"), ".list"),
                        on_list_get, &c);
      head_404(h, "/opt/a/b");
      fake_rule *r = call_rule(h, &calls[i]);
      th_opts o = {0};
      if (cancel) {
        o.handle_signals = true;
        fake_rule_raise(fake_rule_hold(r, FAKE_HOLD_HEADERS), SIGINT, 1);
      } else {
        fake_rule_error(r, 500, "fake failure");
      }
      int rc = th_run(h, calls[i].yaml ? calls[i].yaml : ALL, &o);
      if (!fake_engine_count(h->fe, calls[i].method, calls[i].pattern) ||
          (cancel ? rc != 130 : rc != (calls[i].fails ? 1 : 0)))
        fprintf(stderr, "call %zu (%s %s %s) cancel %d: rc %d\n", i, calls[i].method, calls[i].pattern,
                calls[i].query ? calls[i].query : "", cancel, rc);
      th_assert(h, call_seen(h, &calls[i]));
      if (cancel) {
        th_assert(h, rc == 130);
        th_assert(h, th_ended(h, "s/run canceled"));
      } else if (calls[i].fails) {
        th_assert(h, rc == 1);
        th_assert(h, th_ended(h, "fake failure"));
      } else {
        /* (a HEAD answer has no body: the engine's message cannot be read, its status is) */
        th_assert(h, rc == 0);
        th_assert(h, th_said(h, strcmp(calls[i].method, "HEAD") ? "fake failure" : "HTTP 500"));
      }
      th_assert(h, th_clean(h));
      ctx_free(&c);
      th_free(h);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_driver_on_host),
      cmocka_unit_test(test_markers_scripted),
      cmocka_unit_test(test_markers_failures),
      cmocka_unit_test(test_artifacts_listing_file),
      cmocka_unit_test(test_artifacts_lister_fallback),
      cmocka_unit_test(test_caches_stat_put),
      cmocka_unit_test(test_errors_and_cancels),
  };
  if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
