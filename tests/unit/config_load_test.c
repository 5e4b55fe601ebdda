/* brr_config_load as a whole: the env dict and its precedence (spec §6), redirects and the
 * generated-file hook, file and directory resolution, the version check's exit code, and
 * diagnostics that outlive the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/utsname.h>

#include "config_helpers.h"

typedef struct fx {
  char *dir;
  brr_config *cfg;
  brr_diags d;
  char cwd[4096];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = th_tmpdir();
  if (!getcwd(f->cwd, sizeof f->cwd)) abort();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  if (chdir(f->cwd) != 0) abort();  /* a test that failed in another dir must not strand the next */
  brr_config_free(f->cfg);
  brr_diags_free(&f->d);
  th_rmdir(f->dir);
  free(f);
  return 0;
}

static const brr_config *load(fx *f, brr_load_opts *o) {
  brr_config_free(f->cfg);
  f->cfg = NULL;
  brr_diags_clear(&f->d);
  int rc = brr_config_load(o, &f->cfg, &f->d);
  if (rc != 0) th_dump(&f->d);
  assert_int_equal(rc, 0);
  return f->cfg;
}

static const char *ed(const brr_config *c, const char *k) {
  return brr_val_cstr(brr_val_get(c->env_dict, k));
}

static void test_env_dict(void **state) {
  fx *f = *state;
  th_write(f->dir, "buildrunner.yaml", "steps:\n  a: {run: {image: x}}\n  b: {run: {image: x}}\n");
  th_write(f->dir, ".buildrunner.yaml", "env:\n  GLOBAL_VAR1: g1\n  BUILDRUNNER_ARCH: from-global\n  NUM: 5\n");
  setenv("ARTIFACTORY_USER", "art", 1);
  setenv("GAUNTLET_X", "gx", 1);
  setenv("BRR_UNPREFIXED", "no", 1);
  unsetenv("BUILDRUNNER_BUILD_ID");
  brr_load_opts o = th_opts(f->dir);
  const brr_config *c = load(f, &o);
  /* computed values, in their formats */
  assert_string_equal(ed(c, "BUILDRUNNER_BUILD_NUMBER"), "42");
  assert_string_equal(ed(c, "BUILDRUNNER_BUILD_TIME"), "1700000000");
  assert_string_equal(ed(c, "BUILDRUNNER_BUILD_ID"), "unknown-0.I000000.M0-42");
  assert_string_equal(ed(c, "BUILDRUNNER_BUILD_DOCKER_TAG"), "unknown-0.i000000.m0-42");
  assert_string_equal(c->build_docker_tag, "unknown-0.i000000.m0-42");
  assert_string_equal(ed(c, "VCSINFO_BRANCH"), "unknown");
  assert_string_equal(ed(c, "VCSINFO_SHORT_ID"), "0000000");
  assert_string_equal(ed(c, "VCSINFO_NAME"), brr_path_basename(f->dir));
  assert_false(c->vcs_found);
  assert_non_null(th_find(&f->d, "the build identity uses placeholders", true));
  const brr_value *steps = brr_val_get(c->env_dict, "BUILDRUNNER_STEPS");
  assert_int_equal(steps->type, BRR_VAL_LIST);
  assert_int_equal(steps->u.list.n, 0);
  assert_null(brr_val_get(c->env_dict, "BUILDRUNNER_DO_PUSH"));
  /* global env: over the computed values, kept with their types */
  assert_string_equal(ed(c, "BUILDRUNNER_ARCH"), "from-global");
  assert_string_equal(ed(c, "GLOBAL_VAR1"), "g1");
  assert_int_equal(brr_val_get(c->env_dict, "NUM")->u.i, 5);
  /* host variables with the five prefixes, and only those */
  assert_string_equal(ed(c, "ARTIFACTORY_USER"), "art");
  assert_string_equal(ed(c, "GAUNTLET_X"), "gx");
  assert_null(brr_val_get(c->env_dict, "BRR_UNPREFIXED"));
  /* a host BUILDRUNNER_* variable overrides the computed one; --push, --steps, --platform */
  setenv("BUILDRUNNER_BUILD_ID", "from-host", 1);
  th_write(f->dir, ".buildrunner.yaml", "env: {}\n");
  char *sel[] = {"b", NULL};
  o.steps = sel;
  o.push = true;
  o.platform = "linux/arm64";
  c = load(f, &o);
  assert_string_equal(ed(c, "BUILDRUNNER_BUILD_ID"), "from-host");
  assert_string_equal(c->build_id, "unknown-0.I000000.M0-42");  /* the model keeps its own */
  assert_int_equal(brr_val_get(c->env_dict, "BUILDRUNNER_DO_PUSH")->u.i, 1);
  assert_string_equal(ed(c, "BUILDRUNNER_ARCH"), "linux/arm64");
  steps = brr_val_get(c->env_dict, "BUILDRUNNER_STEPS");
  assert_int_equal(steps->u.list.n, 1);
  assert_string_equal(brr_val_cstr(steps->u.list.v[0]), "b");
  /* no --platform: uname -m; no -n: the build time */
  unsetenv("BUILDRUNNER_BUILD_ID");
  o = th_opts(f->dir);
  o.build_number = NULL;
  c = load(f, &o);
  struct utsname u;
  uname(&u);
  assert_string_equal(ed(c, "BUILDRUNNER_ARCH"), u.machine);
  assert_string_equal(c->build_number, "1700000000");
  unsetenv("ARTIFACTORY_USER");
  unsetenv("GAUNTLET_X");
  unsetenv("BRR_UNPREFIXED");
}

static void test_git_identity(void **state) {
  fx *f = *state;
  th_write(f->dir, "buildrunner.yaml", "steps:\n  a:\n    build: {dockerfile: x}\n    push: r/i\n");
  char *cmd = brr_xasprintf("cd '%s' && git init -q -b main && git -c user.name=b -c user.email=b@e "
                            "commit -q --allow-empty -m one", f->dir);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  brr_load_opts o = th_opts(f->dir);
  const brr_config *c = load(f, &o);
  assert_true(c->vcs_found);
  assert_null(th_find(&f->d, "placeholders", true));
  char *release = brr_xasprintf("1.I%.6s.M0", ed(c, "VCSINFO_ID"));
  char *want = brr_xasprintf("main-%s-42", release);
  assert_string_equal(ed(c, "VCSINFO_RELEASE"), release);
  assert_string_equal(c->build_id, want);
  assert_memory_equal(c->build_docker_tag, "main-1.i", 8);
  assert_string_equal(c->steps[0].push[0].tags.v[0].s, c->build_docker_tag);
  free(want);
  free(release);
}

typedef struct seen {
  brr_generated_kind kind[8];
  char *file[8];
  char *text[8];
  size_t n;
} seen;

static void on_gen(void *ud, brr_generated_kind kind, const char *file, const char *text, size_t len) {
  seen *s = ud;
  if (s->n == 8) return;
  s->kind[s->n] = kind;
  s->file[s->n] = brr_xstrdup(brr_path_basename(file));
  s->text[s->n] = brr_xstrndup(text, len);
  s->n++;
}

static void test_redirects_and_hook(void **state) {
  fx *f = *state;
  /* redirects are relative to the cwd, as buildrunner's fetcher reads them */
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(f->dir), 0);
  th_write(f->dir, "buildrunner.yaml", "redirect: hop.yaml\nsteps: {ignored: {}}\n");
  th_write(f->dir, "hop.yaml", "redirect: file://final.yaml\n");
  /* no trailing newline: the same text whether or not the renderer drops one */
  th_write(f->dir, "final.yaml", "steps:\n  real: {run: {image: x}}");
  th_write(f->dir, ".buildrunner.yaml", "env: {A: 1}");
  seen s = {0};
  brr_load_opts o = th_opts(f->dir);
  o.on_generated = on_gen;
  o.on_generated_ud = &s;
  const brr_config *c = load(f, &o);
  assert_int_equal(c->n_steps, 1);
  assert_string_equal(c->steps[0].name.s, "real");
  assert_string_equal(brr_path_basename(c->project_file), "final.yaml");
  assert_string_equal(c->project_text, "steps:\n  real: {run: {image: x}}");
  assert_int_equal(c->project_text_len, strlen(c->project_text));
  assert_int_equal(s.n, 4);
  assert_int_equal(s.kind[0], BRR_GEN_GLOBAL);
  assert_string_equal(s.file[0], ".buildrunner.yaml");
  assert_string_equal(s.text[0], "env: {A: 1}");
  assert_int_equal(s.kind[1], BRR_GEN_REDIRECT);
  assert_string_equal(s.file[1], "buildrunner.yaml");
  assert_int_equal(s.kind[2], BRR_GEN_REDIRECT);
  assert_string_equal(s.file[2], "hop.yaml");
  assert_int_equal(s.kind[3], BRR_GEN_PROJECT);
  assert_string_equal(s.file[3], "final.yaml");
  for (size_t i = 0; i < s.n; i++) {
    free(s.file[i]);
    free(s.text[i]);
  }
  /* a loop is found even when a hop names the file another way */
  th_write(f->dir, "final.yaml", "redirect: ./buildrunner.yaml\n");
  brr_config_free(f->cfg);
  f->cfg = NULL;
  brr_diags_clear(&f->d);
  o.on_generated = NULL;
  assert_int_not_equal(brr_config_load(&o, &f->cfg, &f->d), 0);
  const brr_diag *g = th_find(&f->d, "Redirect loop visiting previously visited file: ./buildrunner.yaml", false);
  assert_non_null(g);
  assert_string_equal(brr_path_basename(g->mark.file), "final.yaml");
  assert_int_equal(brr_diags_exit_code(&f->d), BRR_EXIT_CONFIG);
  assert_int_equal(chdir(cwd), 0);
}

static void test_paths(void **state) {
  fx *f = *state;
  th_write(f->dir, "ci/build.yaml", "steps:\n  a: {run: {image: x}}\n");
  brr_load_opts o = th_opts(f->dir);
  o.file = "ci/build.yaml";
  const brr_config *c = load(f, &o);
  char *want = brr_path_join(f->dir, "ci/build.yaml");
  assert_string_equal(c->project_file, want);
  free(want);
  assert_string_equal(c->build_dir, f->dir);
  want = brr_path_join(f->dir, "buildrunner.results");
  assert_string_equal(c->results_dir, want);
  free(want);
  /* -b is relative to the cwd */
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof cwd));
  o.results_dir = "out/res";
  c = load(f, &o);
  want = brr_xasprintf("%s/out/res", cwd);
  assert_string_equal(c->results_dir, want);
  free(want);
  /* a dockerfile path is resolved against the build dir, not the cwd */
  th_write(f->dir, "buildrunner.yaml", "steps:\n  a: {build: {dockerfile: ci/build.yaml}}\n");
  o = th_opts(f->dir);
  c = load(f, &o);
  assert_false(c->steps[0].build->dockerfile_inline);
}

static void test_errors_outlive_config(void **state) {
  fx *f = *state;
  th_write(f->dir, "buildrunner.yaml", "version: 9\nsteps:\n  a: {run: {image: x}}\n");
  brr_load_opts o = th_opts(f->dir);
  brr_diags_clear(&f->d);
  assert_int_not_equal(brr_config_load(&o, &f->cfg, &f->d), 0);
  assert_null(f->cfg);
  /* the version check stops the load with buildrunner's exit code, before the schema */
  assert_int_equal(brr_diags_exit_code(&f->d), BRR_EXIT_FAILED);
  assert_int_equal(f->d.n_errors, 1);
  const brr_diag *g = th_find(&f->d, "configuration version 9.0 is higher", false);
  assert_non_null(g);
  /* the config is gone; the mark's file name is still readable */
  assert_string_equal(brr_path_basename(g->mark.file), "buildrunner.yaml");
  FILE *null = fopen("/dev/null", "w");
  brr_diags_print(&f->d, null, true);
  fclose(null);
  /* an empty document is an empty map: steps missing */
  th_write(f->dir, "buildrunner.yaml", "");
  brr_diags_clear(&f->d);
  assert_int_not_equal(brr_config_load(&o, &f->cfg, &f->d), 0);
  assert_non_null(th_find(&f->d, "missing required key 'steps'", false));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_env_dict, setup, teardown),
      cmocka_unit_test_setup_teardown(test_git_identity, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redirects_and_hook, setup, teardown),
      cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_outlive_config, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
