/* The run node's plans from the config alone (src/tasks/run_spec.c): mem-limit parsing as
 * docker-py's parse_bytes, systemd label truthiness, files sources and binds, volumes_from
 * mapping, environment layering, ports, and the configuration errors with their marks. Plans
 * are made from YAML loaded by the real config loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <uv.h>

#include "../../src/tasks/run_internal.h"
#include "unit/tasks_util.h"

/* ---- pure rules ---- */

static int64_t mem(brr_arena *a, const char *s, int *rc) {
  int64_t out = -1;
  *rc = brr_run_mem_limit(brr_val_str(a, BRR_MARK_NONE, s), &out);
  return out;
}

static void test_mem_limit(void **state) {
  (void)state;
  brr_arena *a = brr_arena_new();
  int rc;
  struct { const char *in; int64_t want; } ok[] = {
      {"512m", 512LL << 20}, {"1g", 1LL << 30}, {"1G", 1LL << 30}, {"10k", 10240},
      {"1024", 1024},        {"7b", 7},         {"512mb", 512LL << 20}, {"1.5g", 3LL << 29},
      {"64M", 64LL << 20},   {"", 0},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(ok); i++) {
    int64_t got = mem(a, ok[i].in, &rc);
    if (rc != 0 || got != ok[i].want) fail_msg("%s: rc %d, %lld", ok[i].in, rc, (long long)got);
  }
  const char *bad[] = {"12q", "abc", "m", "1.2.3m", " 5m", "-5m", "5 m"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(bad); i++) {
    mem(a, bad[i], &rc);
    if (rc == 0) fail_msg("%s accepted", bad[i]);
  }
  int64_t out;
  assert_int_equal(brr_run_mem_limit(brr_val_int(a, BRR_MARK_NONE, 1000), &out), 0);
  assert_int_equal(out, 1000);
  assert_int_not_equal(brr_run_mem_limit(brr_val_int(a, BRR_MARK_NONE, -1), &out), 0);
  assert_int_equal(brr_run_mem_limit(NULL, &out), 0);
  assert_int_equal(out, 0);
  brr_arena_free(a);
}

static void test_label_truthy(void **state) {
  (void)state;
  struct { const char *json; bool want; } cases[] = {
      {"{\"Config\":{\"Labels\":{\"BUILDRUNNER_SYSTEMD\":\"1\"}}}", true},
      {"{\"Config\":{\"Labels\":{\"BUILDRUNNER_SYSTEMD\":\"true\"}}}", true},
      {"{\"Config\":{\"Labels\":{\"BUILDRUNNER_SYSTEMD\":\"false\"}}}", true},
      {"{\"Config\":{\"Labels\":{\"BUILDRUNNER_SYSTEMD\":\"\"}}}", false},
      {"{\"Config\":{\"Labels\":{\"BUILDRUNNER_SYSTEMD\":\"0\"}}}", false},
      {"{\"Config\":{\"Labels\":{\"BUILDRUNNER_SYSTEMD\":\"False\"}}}", false},
      {"{\"Config\":{\"Labels\":{\"OTHER\":\"1\"}}}", false},
      {"{\"Config\":{\"Labels\":null}}", false},
      {"{}", false},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    cJSON *j = cJSON_Parse(cases[i].json);
    if (brr_run_label_truthy(j, "BUILDRUNNER_SYSTEMD") != cases[i].want) fail_msg("%s", cases[i].json);
    cJSON_Delete(j);
  }
}

static void test_file_bind(void **state) {
  (void)state;
  const char *cases[][3] = {{"/h/f", "/mnt/f", "/h/f:/mnt/f:ro"},
                            {"/h/f", "/mnt/f:rw", "/h/f:/mnt/f:rw"},
                            {"/h/f", "/mnt/f:ro", "/h/f:/mnt/f:ro"},
                            {"/h/f", "/mnt/f:z", "/h/f:/mnt/f:z:ro"}};
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    char *b = brr_run_file_bind(cases[i][0], cases[i][1]);
    assert_string_equal(b, cases[i][2]);
    free(b);
  }
}

static void test_volumes_from(void **state) {
  (void)state;
  const char *names[] = {"db", "data"};
  const char *conts[] = {"id-db", "id-data"};
  struct { const char *in, *want; } cases[] = {
      {"db", "id-db"}, {"data:ro", "id-data:ro"}, {"data:rw:x", "id-data:rw"},
      {"d", NULL},     {"dbx", NULL},             {"db:", "id-db"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    char *m = brr_run_volumes_from(cases[i].in, names, conts, 2);
    if (!brr_streq(m, cases[i].want)) fail_msg("%s -> %s", cases[i].in, m ? m : "(null)");
    free(m);
  }
  assert_null(brr_run_volumes_from("db", names, conts, 0));
}

static void test_setenv(void **state) {
  (void)state;
  brr_run_strv v = {0};
  assert_null(brr_run_strv_get(&v));
  brr_run_strv_setenv(&v, "A", "1");
  brr_run_strv_setenv(&v, "AB", "2");
  brr_run_strv_setenv(&v, "A", "3");
  brr_run_strv_setenv(&v, "BARE", NULL);
  brr_run_strv_setenv(&v, "BARE", "now");
  brr_run_strv_setenv(&v, "AB", NULL);
  const char *const *g = brr_run_strv_get(&v);
  assert_string_equal(g[0], "A=3");
  assert_string_equal(g[1], "AB");
  assert_string_equal(g[2], "BARE=now");
  assert_null(g[3]);
  brr_run_strv_free(&v);
}

/* ---- plans from a loaded config ---- */

typedef struct fixture {
  char *dir;
  uv_loop_t loop;
  brr_config *cfg;
  brr_graph *g;
  brr_runtime *rt;
  brr_bus *bus;
  brr_diags d;
} fixture;

static const char *PROJECT =
    "steps:\n"
    "  s:\n"
    "    run:\n"
    "      image: busybox\n"
    "      cmd: 'true'\n"
    "      env:\n"
    "        MINE: value\n"
    "        FLAG: true\n"
    "        EMPTY:\n"
    "        GLOBAL_VAR: overridden\n"
    "      files:\n"
    "        data/in.txt: /mnt/in\n"
    "        lit: /mnt/lit:rw\n"
    "      ports:\n"
    "        8080: 18080\n"
    "        9090:\n"
    "      dns_search: a.example,b.example\n"
    "      mem-limit: 1g\n"
    "  bad:\n"
    "    run:\n"
    "      image: busybox\n"
    "      files:\n"
    "        ../escape.txt: /mnt/x\n"
    "        data/missing.txt: /mnt/y\n"
    "      mem-limit: 3x\n"
    "      provisioners:\n"
    "        salt: top.sls\n";

static int setup(void **state) {
  fixture *f = brr_xcalloc(1, sizeof *f);
  f->dir = tu_mkdtemp();
  tu_write(f->dir, "buildrunner.yaml", PROJECT, 0644);
  tu_write(f->dir, "data/in.txt", "in\n", 0644);
  tu_write(f->dir, ".buildrunner.yaml", "env:\n  GLOBAL_VAR: from-global\n", 0644);
  char *master = brr_path_join(f->dir, "master.yaml");
  tu_write(f->dir, "master.yaml", "local-files:\n  lit: literal text\n", 0644);
  brr_load_opts o = {0};
  o.build_dir = f->dir;
  o.master_config_path = master;
  o.user_config_path = "";
  int rc = brr_config_load(&o, &f->cfg, &f->d);
  free(master);
  if (rc != 0) fail_msg("config: %s", f->d.n ? f->d.v[0].msg : "?");
  brr_graph_opts go = {0};
  assert_int_equal(brr_graph_compile(f->cfg, &go, &f->g, &f->d), 0);
  uv_loop_init(&f->loop);
  f->bus = brr_bus_new();
  brr_runtime_opts ro = {0};
  ro.docker_host = "unix:///nonexistent/docker.sock";
  ro.publish_ports = false;
  assert_int_equal(brr_runtime_new(&f->loop, f->cfg, f->g, &ro, f->bus, &f->rt, &f->d), 0);
  for (size_t i = 0; i < f->cfg->n_steps; i++)
    assert_int_equal(brr_runtime_step_begin(f->rt, i, &f->d), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  brr_runtime_free(f->rt);
  brr_bus_free(f->bus);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  uv_loop_close(&f->loop);
  brr_graph_free(f->g);
  brr_config_free(f->cfg);
  brr_diags_free(&f->d);
  brr_rm_rf(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static const char *find(const brr_run_strv *v, const char *prefix) {
  for (size_t i = 0; i < v->n; i++)
    if (brr_startswith(v->v[i], prefix)) return v->v[i];
  return NULL;
}

static void test_plan(void **state) {
  fixture *f = *state;
  brr_run_plan p;
  const brr_step *s = brr_config_step(f->cfg, "s");
  assert_int_equal(brr_run_plan_make(f->rt, 0, &s->run->c, NULL, "the-name", &p, &f->d), 0);
  assert_string_equal(p.shell, "/bin/sh");
  /* layering: env dict, the container's names, step variables, the step's env (str()) */
  assert_string_equal(find(&p.env, "MINE="), "MINE=value");
  assert_string_equal(find(&p.env, "FLAG="), "FLAG=True");
  assert_string_equal(find(&p.env, "EMPTY"), "EMPTY");
  assert_string_equal(find(&p.env, "GLOBAL_VAR="), "GLOBAL_VAR=overridden");
  assert_string_equal(find(&p.env, "BUILDRUNNER_BUILD_CONTAINER="), "BUILDRUNNER_BUILD_CONTAINER=the-name");
  assert_string_equal(find(&p.env, "BUILDRUNNER_SOURCE_CONTAINER="), "BUILDRUNNER_SOURCE_CONTAINER=the-name");
  assert_string_equal(find(&p.env, "BUILDRUNNER_STEP_NAME="), "BUILDRUNNER_STEP_NAME=s");
  char *id = brr_xasprintf("BUILDRUNNER_STEP_ID=%s", f->rt->steps[0].id);
  assert_string_equal(find(&p.env, "BUILDRUNNER_STEP_ID="), id);
  free(id);
  assert_non_null(find(&p.env, "BUILDRUNNER_BUILD_DOCKER_TAG="));
  assert_string_equal(find(&p.env, "BUILDRUNNER_STEPS="), "BUILDRUNNER_STEPS=[]");
  assert_null(find(&p.env, "BUILDRUNNER_INVOKE_UID="));   /* services only */
  /* /artifacts first, read-only; the build-dir file; the literal alias as a file */
  char *art = brr_xasprintf("%s:/artifacts:ro", f->cfg->results_dir);
  assert_string_equal(p.binds.v[0], art);
  free(art);
  char *in = brr_xasprintf("%s/data/in.txt:/mnt/in:ro", f->dir);
  assert_string_equal(p.binds.v[1], in);
  free(in);
  const char *lit = p.binds.v[2];
  assert_true(brr_startswith(lit, f->rt->temp_dir) && brr_endswith(lit, ":/mnt/lit:rw"));
  char *lit_path = brr_xstrndup(lit, strlen(lit) - strlen(":/mnt/lit:rw"));
  brr_buf b = BRR_BUF_INIT;
  assert_int_equal(brr_read_file(lit_path, &b), 0);
  assert_string_equal(brr_buf_cstr(&b), "literal text");
  brr_buf_free(&b);
  free(lit_path);
  /* a run step's ports stay private without --publish-ports */
  assert_int_equal(p.ports.n, 0);
  assert_int_equal(p.dns_search.n, 2);
  assert_string_equal(p.dns_search.v[1], "b.example");
  assert_int_equal(p.memory, 1LL << 30);
  brr_run_plan_free(&p);

  /* services publish always, and get the invoking user */
  assert_int_equal(brr_run_plan_make(f->rt, 0, &s->run->c, "svc", NULL, &p, &f->d), 0);
  assert_int_equal(p.ports.n, 2);
  assert_string_equal(p.ports.v[0], "18080:8080");
  assert_string_equal(p.ports.v[1], "9090");
  char *uid = brr_xasprintf("BUILDRUNNER_INVOKE_UID=%u", (unsigned)getuid());
  assert_string_equal(find(&p.env, "BUILDRUNNER_INVOKE_UID="), uid);
  free(uid);
  assert_null(find(&p.env, "BUILDRUNNER_BUILD_CONTAINER="));
  brr_run_plan_free(&p);
  assert_int_equal(f->d.n_errors, 0);
}

static void test_plan_errors(void **state) {
  fixture *f = *state;
  brr_run_plan p;
  const brr_step *s = brr_config_step(f->cfg, "bad");
  brr_diags_clear(&f->d);   /* the loader's warning about the missing git work tree */
  assert_int_equal(brr_run_plan_make(f->rt, 1, &s->run->c, NULL, "x", &p, &f->d), BRR_ECONFIG);
  /* every mistake reported, each at its key */
  assert_int_equal(f->d.n_errors, 4);
  struct { unsigned line, col; const char *text; } want[] = {
      {23, 9, "attempts to step out of source directory"},
      {24, 9, "Cannot find valid alias for files entry 'data/missing.txt'"},
      {27, 9, "provisioner \"salt\" is not supported"},
      {25, 18, "The specified value for memory (3x) should specify the units"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(want); i++) {
    const brr_diag *g = &f->d.v[i];
    if (g->mark.line != want[i].line || g->mark.col != want[i].col || !strstr(g->msg, want[i].text))
      fail_msg("diag %zu: %u:%u %s", i, g->mark.line, g->mark.col, g->msg);
    assert_true(brr_endswith(g->mark.file, "buildrunner.yaml"));
  }
  assert_null(p.env.v);   /* freed */
}

/* 200,000 variables: every key keeps the place it was first set at, the last value wins,
 * and a bare key (no value) replaces a value and is replaced by one. The index makes this
 * linear (it was a scan per key). */
static void test_setenv_many(void **state) {
  (void)state;
  enum { N = 200000 };
  brr_run_strv v = {0};
  char key[32], val[32];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "K%d", i);
    snprintf(val, sizeof val, "a%d", i);
    brr_run_strv_setenv(&v, key, val);
  }
  for (int i = 1; i < N; i += 2) {   /* odd keys: a new value */
    snprintf(key, sizeof key, "K%d", i);
    snprintf(val, sizeof val, "b%d", i);
    brr_run_strv_setenv(&v, key, val);
  }
  for (int i = 0; i < N; i += 7) {   /* multiples of 7: bare */
    snprintf(key, sizeof key, "K%d", i);
    brr_run_strv_setenv(&v, key, NULL);
  }
  brr_run_strv_setenv(&v, "K", "prefix-of-every-key");   /* a new key, not K0's prefix */
  assert_int_equal(v.n, N + 1);
  const char *const *g = brr_run_strv_get(&v);
  char want[64];
  for (int i = 0; i < N; i++) {
    if (i % 7 == 0) snprintf(want, sizeof want, "K%d", i);
    else snprintf(want, sizeof want, "K%d=%c%d", i, i % 2 ? 'b' : 'a', i);
    if (strcmp(g[i], want) != 0) fail_msg("entry %d: %s, expected %s", i, g[i], want);
  }
  assert_string_equal(g[N], "K=prefix-of-every-key");
  assert_null(g[N + 1]);
  brr_run_strv_free(&v);
}

/* "V<digits>=...": a variable of test_plan_many_env (not VCSINFO_*). */
static bool is_v(const char *e) { return e[0] == 'V' && e[1] >= '0' && e[1] <= '9'; }

/* The same through a plan: 100,000 variables from the global config, 200,000 in the step,
 * half of which override global ones, and one that overrides a variable brr sets. The
 * order is buildrunner's dict order: global keys first, then the step's new ones. */
static void test_plan_many_env(void **state) {
  (void)state;
  enum { G = 100000, S = 200000 };
  char *dir = tu_mkdtemp();
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, "env:\n");
  for (int i = 0; i < G; i++) brr_buf_printf(&b, "  V%d: global%d\n", i, i);
  tu_write(dir, ".buildrunner.yaml", brr_buf_cstr(&b), 0644);
  brr_buf_reset(&b);
  brr_buf_puts(&b, "steps:\n  s:\n    run:\n      image: busybox\n      cmd: 'true'\n      env:\n");
  brr_buf_puts(&b, "        BUILDRUNNER_STEP_NAME: mine\n");
  for (int i = G / 2; i < G / 2 + S; i++) brr_buf_printf(&b, "        V%d: step%d\n", i, i);
  tu_write(dir, "buildrunner.yaml", brr_buf_cstr(&b), 0644);
  brr_buf_free(&b);

  brr_diags d = BRR_DIAGS_INIT;
  brr_load_opts o = {0};
  o.build_dir = dir;
  o.master_config_path = "";
  o.user_config_path = "";
  brr_config *cfg = NULL;
  if (brr_config_load(&o, &cfg, &d) != 0) fail_msg("config: %s", d.n ? d.v[0].msg : "?");
  brr_graph *g = NULL;
  brr_graph_opts go = {0};
  assert_int_equal(brr_graph_compile(cfg, &go, &g, &d), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_runtime_opts ro = {0};
  ro.docker_host = "unix:///nonexistent/docker.sock";
  brr_runtime *rt = NULL;
  assert_int_equal(brr_runtime_new(&loop, cfg, g, &ro, bus, &rt, &d), 0);
  assert_int_equal(brr_runtime_step_begin(rt, 0, &d), 0);

  brr_run_plan p;
  const brr_step *s = brr_config_step(cfg, "s");
  assert_int_equal(brr_run_plan_make(rt, 0, &s->run->c, NULL, "the-name", &p, &d), 0);
  /* V0..V(G-1) come first in their order, the step's new keys after them in theirs */
  size_t first_v = 0;
  while (first_v < p.env.n && !is_v(p.env.v[first_v])) first_v++;
  char want[64];
  size_t at = first_v;
  for (int i = 0; i < G / 2 + S; i++, at++) {
    assert_true(at < p.env.n);
    /* the global keys run unbroken from first_v; brr's own variables follow them */
    if (i == G) {
      while (at < p.env.n && !is_v(p.env.v[at])) at++;
      assert_true(at < p.env.n);
    }
    if (i < G / 2) snprintf(want, sizeof want, "V%d=global%d", i, i);
    else snprintf(want, sizeof want, "V%d=step%d", i, i);
    if (strcmp(p.env.v[at], want) != 0) fail_msg("entry %zu: %s, expected %s", at, p.env.v[at], want);
  }
  assert_string_equal(find(&p.env, "BUILDRUNNER_STEP_NAME="), "BUILDRUNNER_STEP_NAME=mine");
  size_t n_step_name = 0;
  for (size_t i = 0; i < p.env.n; i++)
    n_step_name += brr_startswith(p.env.v[i], "BUILDRUNNER_STEP_NAME=");
  assert_int_equal(n_step_name, 1);
  brr_run_plan_free(&p);

  brr_runtime_free(rt);
  brr_bus_free(bus);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  brr_graph_free(g);
  brr_config_free(cfg);
  brr_diags_free(&d);
  brr_rm_rf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mem_limit),
      cmocka_unit_test(test_label_truthy),
      cmocka_unit_test(test_file_bind),
      cmocka_unit_test(test_volumes_from),
      cmocka_unit_test(test_setenv),
      cmocka_unit_test(test_setenv_many),
      cmocka_unit_test(test_plan_many_env),
      cmocka_unit_test_setup_teardown(test_plan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_plan_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
