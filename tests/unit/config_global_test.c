/* The global config chain (spec §1.2, §3): file order and deep merge, defaults, overrides,
 * local-files scrubbing for non-master files, redirects, validation, the env-var test hooks,
 * and the template variables a file is rendered with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_helpers.h"
#include "../../src/config/internal.h"
#include "test_lookup.h"

typedef struct fx {
  char *dir;       /* build dir */
  char *etc;       /* where master/user files live */
  brr_config *cfg;
  brr_diags d;
  brr_load_opts o;
  char *master, *user;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = th_tmpdir();
  f->etc = th_tmpdir();
  f->master = brr_path_join(f->etc, "master.yaml");
  f->user = brr_path_join(f->etc, "user.yaml");
  th_write(f->dir, "buildrunner.yaml", "steps:\n  a: {run: {image: busybox}}\n");
  f->o = th_opts(f->dir);
  f->o.master_config_path = f->master;
  f->o.user_config_path = f->user;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  brr_config_free(f->cfg);
  brr_diags_free(&f->d);
  th_rmdir(f->dir);
  th_rmdir(f->etc);
  free(f->master);
  free(f->user);
  free(f);
  return 0;
}

static const brr_global *load_ok(fx *f) {
  brr_config_free(f->cfg);
  f->cfg = NULL;
  brr_diags_clear(&f->d);
  int rc = brr_config_load(&f->o, &f->cfg, &f->d);
  if (rc != 0) th_dump(&f->d);
  assert_int_equal(rc, 0);
  return &f->cfg->global;
}

static const char *env_of(const brr_global *g, const char *k) {
  return brr_val_cstr(brr_val_get(g->env, k));
}

static void test_defaults(void **state) {
  fx *f = *state;
  setenv("TMPDIR", "/var/tmp", 1);
  unsetenv("BUILDRUNNER_TEMPDIR");
  const brr_global *g = load_ok(f);
  assert_int_equal(f->cfg->n_global_files, 0);
  assert_string_equal(g->docker_registry, "docker.io");
  assert_string_equal(g->build_registry, "local");
  char *caches = brr_path_expanduser("~/.buildrunner/caches");
  assert_string_equal(g->caches_root, caches);
  free(caches);
  assert_string_equal(g->temp_dir, "/var/tmp");
  assert_int_equal(g->disable_multi_platform, BRR_UNSET);
  assert_int_equal(g->moving_tags.n, 1);
  assert_string_equal(g->moving_tags.v[0].s, "latest");
  assert_int_equal(g->pools.n, 0);
  assert_int_equal(g->n_engines, 0);   /* no engines: one engine, chosen as the CLI does */
  assert_null(g->env);
  setenv("BUILDRUNNER_TEMPDIR", "/srv/tmp", 1);
  g = load_ok(f);
  assert_string_equal(g->temp_dir, "/srv/tmp");  /* the variable wins over the system's */
  th_write(f->dir, ".buildrunner.yaml", "temp-dir: /from/file\n");
  g = load_ok(f);
  assert_string_equal(g->temp_dir, "/from/file");  /* the file wins over both */
  unsetenv("BUILDRUNNER_TEMPDIR");
  unsetenv("TMPDIR");
}

static void test_chain_merge(void **state) {
  fx *f = *state;
  th_write(f->etc, "master.yaml",
           "env: {A: master, B: master}\ndocker-registry: reg.master\n"
           "ssh-keys: [{file: /k1, aliases: [one]}]\nplatform-builders: {linux/amd64: b1}\n"
           "caches-root: ~/caches\n");
  th_write(f->etc, "user.yaml", "env: {B: user, C: user}\nssh-keys: [{file: /k2, aliases: [two]}]\n"
                                "moving-tags: [stable, latest]\n");
  th_write(f->dir, ".buildrunner.yaml",
           "env: {C: project}\ndocker-registry: reg.project\npools: {engine: 3, 'push:r': 1}\n"
           "platform-builders: {linux/arm64: [b2, b3]}\nbuild-registry: 127.0.0.1:5000\n"
           "disable-multi-platform: 'true'\nincremental: yes\n");
  const brr_global *g = load_ok(f);
  assert_int_equal(g->incremental, BRR_TRUE);
  assert_int_equal(f->cfg->n_global_files, 3);
  assert_string_equal(f->cfg->global_files[0], f->master);
  assert_string_equal(env_of(g, "A"), "master");
  assert_string_equal(env_of(g, "B"), "user");
  assert_string_equal(env_of(g, "C"), "project");
  assert_string_equal(g->docker_registry, "reg.project");
  assert_string_equal(g->build_registry, "127.0.0.1:5000");
  assert_int_equal(g->disable_multi_platform, BRR_TRUE);
  /* maps merge per key; lists are replaced whole */
  assert_int_equal(g->platform_builders.n, 2);
  assert_int_equal(g->ssh_keys->u.list.n, 1);
  assert_string_equal(brr_val_cstr(brr_val_get(g->ssh_keys->u.list.v[0], "file")), "/k2");
  assert_int_equal(g->moving_tags.n, 2);   /* latest named already: not added twice */
  assert_int_equal(g->pools.n, 2);
  assert_int_equal(g->pools.v[0].val->u.i, 3);
  char *caches = brr_path_expanduser("~/caches");
  assert_string_equal(g->caches_root, caches);
  free(caches);
  /* values keep the marks of the file they came from */
  const brr_value *c = brr_val_get(g->env, "C");
  assert_non_null(strstr(c->mark.file, ".buildrunner.yaml"));
  assert_int_equal(c->mark.line, 1);
  /* -c replaces the build-dir file */
  th_write(f->dir, "ci.yaml", "env: {C: ci}\n");
  f->o.global_config = "ci.yaml";
  g = load_ok(f);
  assert_string_equal(env_of(g, "C"), "ci");
  assert_string_equal(g->docker_registry, "reg.master");
  f->o.global_config = NULL;
}

static void test_overrides_and_hooks(void **state) {
  fx *f = *state;
  th_write(f->etc, "master.yaml", "disable-multi-platform: false\nenv: {A: file}\n");
  f->o.disable_multi_platform = true;
  brr_arena *a = brr_arena_new();
  brr_value *over = brr_yaml_load(a, "env: {A: override}\n", 19, "overrides", &f->d);
  f->o.global_overrides = over;
  const brr_global *g = load_ok(f);
  assert_int_equal(g->disable_multi_platform, BRR_TRUE);
  assert_string_equal(env_of(g, "A"), "override");
  f->o.disable_multi_platform = false;
  f->o.global_overrides = NULL;
  /* with no path in the options, BRR_MASTER_CONFIG / BRR_USER_CONFIG name the files */
  f->o.master_config_path = NULL;
  f->o.user_config_path = NULL;
  setenv("BRR_MASTER_CONFIG", f->master, 1);
  th_write(f->etc, "other-user.yaml", "env: {U: from-env}\n");
  char *u = brr_path_join(f->etc, "other-user.yaml");
  setenv("BRR_USER_CONFIG", u, 1);
  g = load_ok(f);
  assert_string_equal(env_of(g, "A"), "file");
  assert_string_equal(env_of(g, "U"), "from-env");
  /* an empty variable reads no file */
  setenv("BRR_MASTER_CONFIG", "", 1);
  g = load_ok(f);
  assert_null(env_of(g, "A"));
  unsetenv("BRR_MASTER_CONFIG");
  unsetenv("BRR_USER_CONFIG");
  free(u);
  brr_arena_free(a);
}

static void test_local_files_scrubbing(void **state) {
  fx *f = *state;
  char *home = th_tmpdir();
  char *saved_home = getenv("HOME") ? brr_xstrdup(getenv("HOME")) : NULL;
  char *saved_logname = getenv("LOGNAME") ? brr_xstrdup(getenv("LOGNAME")) : NULL;
  setenv("HOME", home, 1);
  setenv("LOGNAME", "brr-test-user", 1);
  th_write(home, "settings.xml", "<x/>");
  /* a directory that is not ours: chown it when we may, else / (root's) serves */
  char *foreign = brr_path_join(f->etc, "foreign");
  brr_mkdir_p(foreign, 0755);
  const char *not_ours = geteuid() == 0 && chown(foreign, 12345, 12345) == 0 ? foreign : "/";
  char *user_yaml = brr_xasprintf("local-files:\n  home: '~/settings.xml'\n  num: 5\n  foreign: %s\n"
                                  "  gone: /nonexistent/brr/file\n", not_ours);
  th_write(f->etc, "user.yaml", user_yaml);
  th_write(f->etc, "master.yaml", "local-files:\n  literal: |\n    contents, not a path\n  m: /etc/hosts\n");
  const brr_global *g = load_ok(f);
  char *home_file = brr_path_join(home, "settings.xml");
  const brr_kvlist *lf = &g->local_files;
  assert_int_equal(lf->n, 3);
  assert_string_equal(lf->v[0].key.s, "literal");   /* the master's entries stay as written */
  assert_string_equal(brr_val_cstr(lf->v[0].val), "contents, not a path\n");
  assert_string_equal(lf->v[2].key.s, "home");
  assert_string_equal(brr_val_cstr(lf->v[2].val), home_file);  /* resolved */
  assert_non_null(th_find(&f->d, "'num' is dropped: the value must be a path", true));
  assert_non_null(th_find(&f->d, "'foreign' is dropped: user brr-test-user may not mount", true));
  assert_non_null(th_find(&f->d, "'gone' is dropped: /nonexistent/brr/file does not exist", true));
  /* root may mount anything */
  setenv("LOGNAME", "root", 1);
  g = load_ok(f);
  assert_int_equal(g->local_files.n, 5);
  assert_null(th_find(&f->d, "is dropped: user", true));
  free(home_file);
  free(user_yaml);
  free(foreign);
  if (saved_home) setenv("HOME", saved_home, 1);
  if (saved_logname) setenv("LOGNAME", saved_logname, 1);
  else unsetenv("LOGNAME");
  free(saved_home);
  free(saved_logname);
  th_rmdir(home);
}

static void test_engines(void **state) {
  fx *f = *state;
  th_write(f->dir, ".buildrunner.yaml",
           "engines:\n"
           "  here: {context: default, jobs: 2}\n"
           "  arm: {host: 'tcp://arm.example:2376', tls-verify: true, cert-path: /certs, jobs: '3',\n"
           "        platforms: [linux/arm64]}\n"
           "  plain: {host: 'ssh://me@build'}\n");
  const brr_global *g = load_ok(f);
  assert_int_equal(g->n_engines, 3);
  assert_string_equal(g->engines[0].name, "here");
  assert_string_equal(g->engines[0].context, "default");
  assert_null(g->engines[0].host);
  assert_int_equal(g->engines[0].jobs, 2);
  assert_string_equal(g->engines[1].host, "tcp://arm.example:2376");
  assert_int_equal(g->engines[1].tls_verify, BRR_TRUE);
  assert_string_equal(g->engines[1].cert_path, "/certs");
  assert_int_equal(g->engines[1].jobs, 3);
  assert_int_equal(g->engines[1].platforms.n, 1);
  assert_string_equal(g->engines[1].platforms.v[0].s, "linux/arm64");
  assert_int_equal(g->engines[2].jobs, 4);           /* the default */
  assert_int_equal(g->engines[2].tls_verify, BRR_UNSET);
  assert_int_equal(g->engines[1].mark.line, 3);      /* the key's place, for messages */
  /* every mistake at its key, exit 78 */
  th_write(f->dir, ".buildrunner.yaml",
           "engines:\n"
           "  a: {context: x, host: 'tcp://h'}\n"
           "  b: {jobs: 2}\n"
           "  c: {context: x, tls-verify: false}\n"
           "  d: {host: 'tcp://h', jobs: 0}\n"
           "  e: {host: 'tcp://h', jbos: 1}\n"
           "  f: {host: 'tcp://h', platforms: linux/arm64}\n"
           "  g: {host: 'tcp://h', jobs: many}\n");
  brr_config_free(f->cfg);
  f->cfg = NULL;
  brr_diags_clear(&f->d);
  assert_int_equal(brr_config_load(&f->o, &f->cfg, &f->d), BRR_ECONFIG);
  const brr_diag *dg = th_find(&f->d, "engines.a: give either context or host, not both", false);
  assert_non_null(dg);
  assert_int_equal(dg->mark.line, 2);
  assert_int_equal(dg->exit_code, 78);
  assert_non_null(th_find(&f->d, "engines.b: give context (a docker context) or host (an engine address)", false));
  assert_non_null(th_find(&f->d, "tls-verify and cert-path go with host", false));
  assert_non_null(th_find(&f->d, "engines.d.jobs: jobs must be between 1 and 100000, got 0", false));
  assert_non_null(th_find(&f->d, "unknown key 'jbos' in an engine; did you mean 'jobs'?", false));
  assert_non_null(th_find(&f->d, "engines.f.platforms: expected a list of strings, got a string", false));
  assert_non_null(th_find(&f->d, "engines.g.jobs: expected a positive integer", false));
  assert_int_equal(f->d.n_errors, 7);
  th_write(f->dir, ".buildrunner.yaml", "engines: [a]\n");
  brr_diags_clear(&f->d);
  assert_int_equal(brr_config_load(&f->o, &f->cfg, &f->d), BRR_ECONFIG);
  assert_non_null(th_find(&f->d, "engines: expected a map of engine names to engine settings, got a list", false));
  th_write(f->dir, ".buildrunner.yaml", "engines: {}\n");
  brr_diags_clear(&f->d);
  assert_int_equal(brr_config_load(&f->o, &f->cfg, &f->d), BRR_ECONFIG);
  assert_non_null(th_find(&f->d, "engines: no engine is named", false));
}

static void test_redirect_and_errors(void **state) {
  fx *f = *state;
  char *target = brr_path_join(f->etc, "real-global.yaml");
  char *redir = brr_xasprintf("redirect: %s\nenv: {IGNORED: 1}\n", target);
  th_write(f->dir, ".buildrunner.yaml", redir);
  th_write(f->etc, "real-global.yaml", "env: {R: redirected}\n");
  const brr_global *g = load_ok(f);
  assert_string_equal(env_of(g, "R"), "redirected");
  assert_null(env_of(g, "IGNORED"));
  free(redir);
  free(target);
  /* validation: unknown keys, types, nested models */
  th_write(f->dir, ".buildrunner.yaml",
           "docker-registery: x\nssh-keys: {file: /k, prompt-password: maybe}\n"
           "docker-build-cache: {builders: b, to: [x]}\nsecurity-scan: {enabled: true, max-score-threshold: high}\n"
           "platform-builders: {linux/amd64: 5}\ngithub: {corp: {endpoint: e, app_token: 7}}\n");
  brr_config_free(f->cfg);
  brr_diags_clear(&f->d);
  assert_int_not_equal(brr_config_load(&f->o, &f->cfg, &f->d), 0);
  assert_non_null(th_find(&f->d, "unknown key 'docker-registery' in the global configuration; did you mean 'docker-registry'?", false));
  assert_non_null(th_find(&f->d, "ssh-keys.prompt-password: expected a boolean", false));
  assert_non_null(th_find(&f->d, "docker-build-cache.builders: expected a list of strings, got a string", false));
  assert_non_null(th_find(&f->d, "docker-build-cache.to: expected a string or a map", false));
  assert_non_null(th_find(&f->d, "security-scan.max-score-threshold: expected a number", false));
  assert_non_null(th_find(&f->d, "platform-builders.linux/amd64: expected a string or a list of strings", false));
  assert_non_null(th_find(&f->d, "github.corp.app_token: expected a string", false));
  assert_int_equal(f->d.n_errors, 7);
  /* platform-builders: platform keys, builder names, non-empty lists, each at its line */
  th_write(f->dir, ".buildrunner.yaml",
           "platform-builders:\n  linux: b1\n  linux/arm64/v8/x: b2\n  linux/amd64: [ok, '--rm']\n"
           "  linux/386: []\n  linux/s390x: ''\n  linux/ppc64le: {a: b}\n  linux/arm/v7: [arm-1, arm_2]\n");
  brr_config_free(f->cfg);
  f->cfg = NULL;
  brr_diags_clear(&f->d);
  assert_int_not_equal(brr_config_load(&f->o, &f->cfg, &f->d), 0);
  const struct { const char *frag; unsigned line, col; } want[] = {
      {"platform-builders: 'linux' is not a platform: expected os/arch or os/arch/variant, e.g. linux/arm64", 2, 3},
      {"platform-builders: 'linux/arm64/v8/x' is not a platform", 3, 3},
      {"platform-builders.linux/amd64.1: '--rm' is not a buildx builder name", 4, 21},
      {"platform-builders.linux/386: the list names no builder", 5, 14},
      {"platform-builders.linux/s390x: '' is not a buildx builder name", 6, 16},
      {"platform-builders.linux/ppc64le: expected a string or a list of strings, got a map", 7, 18},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const brr_diag *hit = th_find(&f->d, want[i].frag, false);
    if (!hit) th_dump(&f->d);
    assert_non_null(hit);
    assert_non_null(strstr(hit->mark.file, ".buildrunner.yaml"));
    assert_int_equal(hit->mark.line, want[i].line);
    assert_int_equal(hit->mark.col, want[i].col);
  }
  assert_int_equal(f->d.n_errors, 6);
  /* a global file that is not a map */
  th_write(f->dir, ".buildrunner.yaml", "- a\n");
  brr_diags_clear(&f->d);
  assert_int_not_equal(brr_config_load(&f->o, &f->cfg, &f->d), 0);
  assert_non_null(th_find(&f->d, "a global config file must be a map, got a list", false));
}

static void test_template_vars(void **state) {
  (void)state;
  brr_arena *a = brr_arena_new();
  brr_value *base = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, base, "BUILDRUNNER_BUILD_ID", brr_val_str(a, BRR_MARK_NONE, "id"));
  brr_val_map_sets(a, base, "CONFIG_FILE", brr_val_str(a, BRR_MARK_NONE, "shadowed"));
  setenv("BRR_TEST_HOST_VAR", "host", 1);
  brr_value *v = brr_config_template_vars(a, base, "/x/y/buildrunner.yaml", NULL, NULL);
  assert_string_equal(brr_val_cstr(brr_val_get(v, "BUILDRUNNER_BUILD_ID")), "id");
  assert_string_equal(brr_val_cstr(brr_val_get(v, "CONFIG_FILE")), "/x/y/buildrunner.yaml");
  assert_string_equal(brr_val_cstr(brr_val_get(v, "CONFIG_DIR")), "/x/y");
  assert_int_equal(brr_val_get(v, "DOCKER_REGISTRY")->type, BRR_VAL_NULL);  /* None in globals */
  assert_string_equal(brr_val_cstr(val_path(v, "env.BRR_TEST_HOST_VAR")), "host");
  /* an earlier global file's keys are laid over, so its env: shadows the host environment */
  brr_value *over = brr_val_map(a, BRR_MARK_NONE);
  brr_value *genv = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, genv, "G", brr_val_str(a, BRR_MARK_NONE, "1"));
  brr_val_map_sets(a, over, "env", genv);
  brr_val_map_sets(a, over, "docker-registry", brr_val_str(a, BRR_MARK_NONE, "r"));
  v = brr_config_template_vars(a, base, "/b.yaml", "reg", over);
  assert_string_equal(brr_val_cstr(brr_val_get(v, "DOCKER_REGISTRY")), "reg");
  assert_string_equal(brr_val_cstr(val_path(v, "env.G")), "1");
  assert_null(val_path(v, "env.BRR_TEST_HOST_VAR"));
  assert_string_equal(brr_val_cstr(brr_val_get(v, "docker-registry")), "r");
  assert_string_equal(brr_val_cstr(brr_val_get(v, "CONFIG_DIR")), "/");
  unsetenv("BRR_TEST_HOST_VAR");
  brr_arena_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chain_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overrides_and_hooks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_local_files_scrubbing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redirect_and_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engines, setup, teardown),
      cmocka_unit_test(test_template_vars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
