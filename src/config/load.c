/* brr_config_load: the whole front end in buildrunner's order (spec §1.1): build identity, the
 * global chain, the env dict, the project file (render, redirect), the version check, schema
 * validation into the model, and the --steps check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "brr/vcs.h"
#include "internal.h"

extern char **environ;

/* The newest config version this implementation of buildrunner's format reads (3.26). */
#define BRR_CONFIG_VERSION 3.26

static const char *const ENV_PREFIXES[] = {"ARTIFACTORY_", "BUILDRUNNER_", "VCSINFO_", "PACKAGER_", "GAUNTLET_"};

static void set_str(brr_arena *a, brr_value *m, const char *k, const char *v) {
  brr_val_map_sets(a, m, k, brr_val_str(a, BRR_MARK_NONE, v));
}

static void set_int_str(brr_arena *a, brr_value *m, const char *k, long long v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", v);
  set_str(a, m, k, buf);
}

/* The env dict (spec §6): computed values, BUILDRUNNER_DO_PUSH, global env:, then host
 * variables with the five prefixes, later winning. */
static brr_value *env_dict(brr_config *cfg, const brr_load_opts *opts, const brr_vcs *vcs) {
  brr_arena *a = cfg->arena;
  brr_value *m = brr_val_map(a, BRR_MARK_NONE);
  struct utsname u;
  const char *arch = opts->platform ? opts->platform : uname(&u) == 0 ? u.machine : "unknown";
  set_str(a, m, "BUILDRUNNER_ARCH", arch);
  set_str(a, m, "BUILDRUNNER_BUILD_NUMBER", cfg->build_number);
  set_str(a, m, "BUILDRUNNER_BUILD_ID", cfg->build_id);
  set_str(a, m, "BUILDRUNNER_BUILD_DOCKER_TAG", cfg->build_docker_tag);
  set_int_str(a, m, "BUILDRUNNER_BUILD_TIME", (long long)cfg->build_time);
  brr_value *steps = brr_val_list(a, BRR_MARK_NONE);
  for (char **s = opts->steps; s && *s; s++) brr_val_list_push(a, steps, brr_val_str(a, BRR_MARK_NONE, *s));
  brr_val_map_sets(a, m, "BUILDRUNNER_STEPS", steps);
  set_str(a, m, "VCSINFO_NAME", vcs->name);
  set_str(a, m, "VCSINFO_BRANCH", vcs->branch);
  set_int_str(a, m, "VCSINFO_NUMBER", (long long)vcs->number);
  set_str(a, m, "VCSINFO_ID", vcs->id);
  set_str(a, m, "VCSINFO_SHORT_ID", vcs->short_id);
  set_int_str(a, m, "VCSINFO_MODIFIED", (long long)vcs->modified);
  set_str(a, m, "VCSINFO_RELEASE", vcs->release);
  if (opts->push) brr_val_map_sets(a, m, "BUILDRUNNER_DO_PUSH", brr_val_int(a, BRR_MARK_NONE, 1));
  /* linear however many keys the global env: has (dict.update, not a scan per key) */
  brr_val_map_update(a, m, cfg->global.env);
  brr_value *host = brr_val_map(a, BRR_MARK_NONE);
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    for (size_t i = 0; i < BRR_ARRAY_LEN(ENV_PREFIXES); i++) {
      if (!brr_startswith(*e, ENV_PREFIXES[i])) continue;
      brr_val_map_set(a, host, brr_val_strn(a, BRR_MARK_NONE, *e, (size_t)(eq - *e)),
                      brr_val_str(a, BRR_MARK_NONE, eq + 1), NULL);
      break;
    }
  }
  brr_val_map_update(a, m, host);
  return m;
}

static int identity(brr_config *cfg, const brr_load_opts *opts, brr_vcs *vcs, brr_diags *d) {
  brr_arena *a = cfg->arena;
  cfg->build_time = opts->build_time ? opts->build_time : (int64_t)time(NULL);
  cfg->build_number = opts->build_number ? brr_arena_strdup(a, opts->build_number)
                                         : brr_arena_printf(a, "%lld", (long long)cfg->build_time);
  brr_vcs_detect(cfg->build_dir, vcs);
  cfg->vcs_found = vcs->found;
  if (!vcs->found)
    brr_diag_warn(d, BRR_MARK_NONE, NULL,
                  "%s; the build identity uses placeholders (VCSINFO_BRANCH=unknown, VCSINFO_ID=0...)",
                  vcs->problem);
  char *id = brr_vcs_build_id(vcs, cfg->build_number);
  char *tag = brr_vcs_sanitize_tag(id);
  cfg->build_id = brr_arena_strdup(a, id);
  cfg->build_docker_tag = brr_arena_strdup(a, tag);
  free(id);
  free(tag);
  return 0;
}

static int locate_dirs(brr_config *cfg, const brr_load_opts *opts, brr_diags *d) {
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) {
    brr_diag_error(d, BRR_MARK_NONE, NULL, "cannot determine the current directory");
    return BRR_ECONFIG;
  }
  const char *dir = opts->build_dir ? opts->build_dir : cwd;
  char *exp = brr_path_expanduser(dir);
  char *real = brr_path_realpath(exp);
  struct stat st;
  if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    brr_diag_error(d, BRR_MARK_NONE, NULL, "build directory '%s' does not exist", dir);
    free(exp);
    free(real);
    return BRR_ECONFIG;
  }
  cfg->build_dir = brr_config_intern(real);
  /* the results dir is joined before -d is resolved, as buildrunner does: relative to the cwd */
  char *results = opts->results_dir ? brr_path_expanduser(opts->results_dir)
                                    : brr_path_join(exp, "buildrunner.results");
  char *abs = brr_path_join(cwd, results);
  char *norm = brr_path_normalize(abs);
  cfg->results_dir = brr_arena_strdup(cfg->arena, norm);
  free(norm);
  free(abs);
  free(results);
  free(real);
  free(exp);
  return 0;
}

/* §1.3: float(version) > 3.26 stops the load (exit 1, as buildrunner). */
static int check_version(const brr_value *root, brr_diags *d) {
  const brr_value *v = brr_val_get(root, "version");
  if (!v) return 0;
  double f;
  bool ok = true;
  if (v->type == BRR_VAL_INT) f = (double)v->u.i;
  else if (v->type == BRR_VAL_FLOAT) f = v->u.f;
  else if (v->type == BRR_VAL_BOOL) f = v->u.b;
  else if (v->type == BRR_VAL_STR) {
    char *end;
    f = strtod(v->u.s.ptr, &end);
    ok = end != v->u.s.ptr && *end == '\0' && !strpbrk(v->u.s.ptr, "xX");
  } else ok = false;
  brr_diag *g = NULL;
  if (!ok) {
    brr_buf b = BRR_BUF_INIT;
    brr_val_pystr(v, &b);
    g = brr_diag_error(d, v->mark, "version", "unable to convert config version \"%s\" to a float", b.data);
    brr_buf_free(&b);
  } else if (!isnan(f) && f > BRR_CONFIG_VERSION) {
    char num[40];
    g = brr_diag_error(d, v->mark, "version",
                       "configuration version %s is higher than the buildrunner version brr implements (%.2f)",
                       brr_fmt_pyfloat(f, num, sizeof num), BRR_CONFIG_VERSION);
  }
  if (!g) return 0;
  g->exit_code = BRR_EXIT_FAILED;
  return BRR_ECONFIG;
}

static int check_steps(const brr_config *cfg, const brr_load_opts *opts, brr_diags *d) {
  brr_buf missing = BRR_BUF_INIT;
  for (char **s = opts->steps; s && *s; s++)
    if (!brr_config_step(cfg, *s)) brr_buf_printf(&missing, "%s%s", missing.len ? ", " : "", *s);
  int rc = 0;
  if (missing.len) {
    /* did you mean: the closest step name for each name that is near one */
    const char **names = brr_xcalloc(cfg->n_steps + 1, sizeof *names);
    for (size_t i = 0; i < cfg->n_steps; i++) names[i] = cfg->steps[i].name.s;
    brr_buf hints = BRR_BUF_INIT;
    size_t n_missing = 0, n_hints = 0;
    for (char **s = opts->steps; s && *s; s++) n_missing += !brr_config_step(cfg, *s);
    for (char **s = opts->steps; s && *s; s++) {
      const char *best = brr_config_step(cfg, *s) ? NULL : brr_suggest(*s, names, cfg->n_steps);
      if (!best) continue;
      if (n_missing == 1) brr_buf_printf(&hints, "'%s'", best);
      else brr_buf_printf(&hints, "%s'%s' for '%s'", n_hints ? ", " : "", best, *s);
      n_hints++;
    }
    if (n_hints) brr_diag_error(d, BRR_MARK_NONE, NULL, "The following steps do not exist: %s (did you mean %s?)", missing.data, hints.data);
    else brr_diag_error(d, BRR_MARK_NONE, NULL, "The following steps do not exist: %s", missing.data);
    brr_buf_free(&hints);
    free(names);
    rc = BRR_ECONFIG;
  }
  brr_buf_free(&missing);
  return rc;
}

static int load_project(brr_config *cfg, const brr_load_opts *opts, brr_diags *d) {
  brr_arena *a = cfg->arena;
  char *exp = brr_path_expanduser(opts->file ? opts->file : "buildrunner.yaml");
  char *joined = brr_path_join(cfg->build_dir, exp);
  char *real = brr_path_realpath(joined);
  struct stat st;
  if (!real || stat(real, &st) != 0 || S_ISDIR(st.st_mode)) {
    brr_diag_error(d, BRR_MARK_NONE, NULL, "Cannot find build configuration file %s", joined);
    free(exp);
    free(joined);
    free(real);
    return BRR_ECONFIG;
  }
  const char *file = brr_config_intern(real);
  free(exp);
  free(joined);
  free(real);
  brr_render_ctx rc = {brr_config_template_vars(a, cfg->env_dict, file, cfg->global.docker_registry, NULL),
                       cfg->env_dict, cfg->build_time, opts->strict_templates};
  brr_loaded_file lf;
  int r = brr_config_fetch(a, file, &rc, opts, BRR_GEN_PROJECT, &lf, d);
  if (r != 0) return r;
  cfg->project_file = lf.path;
  cfg->project_text = lf.text;
  cfg->project_text_len = lf.len;
  cfg->root = lf.root;
  if (cfg->root->type != BRR_VAL_MAP) {
    brr_diag_error(d, cfg->root->mark, NULL, "the build configuration must be a map with 'steps', got %s",
                   brr_val_type_desc(cfg->root));
    return BRR_ECONFIG;
  }
  if ((r = check_version(cfg->root, d)) != 0) return r;
  if (brr_schema_project(cfg, d)) return BRR_ECONFIG;
  return check_steps(cfg, opts, d);
}

int brr_config_load(const brr_load_opts *opts, brr_config **out, brr_diags *d) {
  *out = NULL;
  size_t errors_before = d->n_errors;
  brr_config *cfg = brr_xcalloc(1, sizeof *cfg);
  cfg->arena = brr_arena_new();
  int rc = locate_dirs(cfg, opts, d);
  brr_vcs vcs = {0};
  if (rc == 0) rc = identity(cfg, opts, &vcs, d);
  if (rc == 0) rc = brr_config_load_global(cfg, opts, d);
  if (rc == 0) {
    cfg->env_dict = env_dict(cfg, opts, &vcs);
    rc = load_project(cfg, opts, d);
  }
  brr_vcs_free(&vcs);
  if (rc == 0 && d->n_errors > errors_before) rc = BRR_ECONFIG;
  if (rc != 0) {
    brr_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return 0;
}

void brr_config_free(brr_config *cfg) {
  if (!cfg) return;
  brr_arena_free(cfg->arena);
  free(cfg);
}

const brr_step *brr_config_step(const brr_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_steps; i++)
    if (strcmp(cfg->steps[i].name.s, name) == 0) return &cfg->steps[i];
  return NULL;
}
