/* The global config chain (spec §1.2, §3): master, user, then -c or <build dir>/.buildrunner.yaml;
 * each rendered with the earlier files' merged result laid over its template context,
 * parsed, redirected, scrubbed (local-files of non-master files), deep-merged, then validated
 * into cfg->global. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "schema_keys.h"

#define MASTER_CONFIG "/etc/buildrunner/buildrunner.yaml"

const char *const BRR_GLOBAL_KEYS[] = {
    "github",   "env",       "build-servers",          "ssh-keys",       "local-files",
    "docker-build-cache",    "caches-root",            "docker-registry", "temp-dir",
    "disable-multi-platform", "build-registry",        "platform-builders", "security-scan",
    "moving-tags", "pools", "incremental", "engines"};
const size_t BRR_N_GLOBAL_KEYS = BRR_ARRAY_LEN(BRR_GLOBAL_KEYS);

static const char *const GITHUB_KEYS[] = {"endpoint", "version", "username", "app_token"};
static const char *const SSH_KEYS[] = {"file", "key", "password", "prompt-password", "aliases"};
static const char *const CACHE_KEYS[] = {"builders", "from", "to"};
static const char *const SCAN_KEYS[] = {"enabled", "scanner", "version", "cache-dir", "config",
                                        "max-score-threshold"};
static const char *const ENGINE_KEYS[] = {"context", "host", "tls-verify", "cert-path", "jobs",
                                          "platforms"};
const brr_keyset BRR_KEYS_GITHUB = {GITHUB_KEYS, BRR_ARRAY_LEN(GITHUB_KEYS)};
const brr_keyset BRR_KEYS_SSH = {SSH_KEYS, BRR_ARRAY_LEN(SSH_KEYS)};
const brr_keyset BRR_KEYS_BUILD_CACHE = {CACHE_KEYS, BRR_ARRAY_LEN(CACHE_KEYS)};
const brr_keyset BRR_KEYS_GLOBAL_SCAN = {SCAN_KEYS, BRR_ARRAY_LEN(SCAN_KEYS)};

/* ---- where the files are ------------------------------------------------------------------ */

static const char *pick(const char *opt, const char *env, const char *dflt) {
  if (opt) return opt;
  const char *e = getenv(env);
  return e ? e : dflt;
}

/* expanduser, relative to the build dir, realpath; NULL when the file does not exist */
static char *locate(const char *build_dir, const char *p) {
  if (!p || !*p) return NULL;
  char *exp = brr_path_expanduser(p);
  char *abs = brr_path_join(build_dir, exp);
  char *real = brr_path_realpath(abs);
  free(exp);
  free(abs);
  struct stat st;
  if (real && (stat(real, &st) != 0 || S_ISDIR(st.st_mode))) {
    free(real);
    real = NULL;
  }
  return real;
}

/* ---- local-files scrubbing ---------------------------------------------------------------- */

/* getpass.getuser(): the login name from the environment first, then the password database */
static const char *user_name(void) {
  static const char *const vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(vars); i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return v;
  }
  struct passwd *pw = getpwuid(getuid());
  return pw ? pw->pw_name : "";
}

static char *home_dir(void) {
  const char *h = getenv("HOME");
  if (h && *h) return brr_xstrdup(h);
  struct passwd *pw = getpwuid(getuid());
  return brr_xstrdup(pw ? pw->pw_dir : "/");
}

static bool may_mount(const char *resolved, const char *home, bool *missing) {
  *missing = false;
  if (strcmp(user_name(), "root") == 0) return true;
  if (brr_path_is_under(resolved, home)) return true;
  struct stat st;
  if (stat(resolved, &st) != 0) {
    *missing = true;
    return false;
  }
  if (st.st_uid == getuid()) return true;
  return !S_ISDIR(st.st_mode) && access(resolved, R_OK | W_OK) == 0;
}

/* Only the master may map an alias to any path or to literal contents; a user file's entries
 * are resolved and kept only when the user may mount them (spec §1.2). */
static void scrub_local_files(brr_arena *a, brr_value *root, const char *file, brr_diags *d) {
  brr_value *lf = brr_val_get(root, "local-files");
  if (!lf || lf->type != BRR_VAL_MAP) return;
  brr_value *out = brr_val_map(a, lf->mark);
  char *home = home_dir();
  for (size_t i = 0; i < lf->u.map.n; i++) {
    const brr_map_entry *e = &lf->u.map.v[i];
    brr_buf alias = BRR_BUF_INIT;
    brr_val_pystr(e->key, &alias);
    if (e->val->type != BRR_VAL_STR) {
      brr_diag_warn(d, e->val->mark, "local-files", "'%s' is dropped: the value must be a path, got %s",
                    alias.data, brr_val_type_desc(e->val));
      brr_buf_free(&alias);
      continue;
    }
    /* os.path.realpath(os.path.expanduser(v)): relative to the cwd */
    char *exp = brr_path_expanduser(e->val->u.s.ptr);
    char cwd[4096];
    char *abs = brr_path_join(getcwd(cwd, sizeof cwd) ? cwd : "/", exp);
    char *real = brr_path_realpath(abs);
    char *resolved = real ? real : brr_path_normalize(abs);
    bool missing;
    if (may_mount(resolved, home, &missing)) {
      brr_val_map_set(a, out, e->key, brr_val_str(a, e->val->mark, resolved), NULL);
    } else {
      brr_diag_warn(d, e->val->mark, "local-files",
                    missing ? "'%s' is dropped: %s does not exist"
                            : "'%s' is dropped: user %s may not mount %s from %s; only " MASTER_CONFIG
                              " may map it",
                    alias.data, missing ? resolved : user_name(), resolved, file);
    }
    free(resolved);
    free(abs);
    free(exp);
    brr_buf_free(&alias);
  }
  free(home);
  brr_val_map_sets(a, root, "local-files", out);
}

/* ---- schema -------------------------------------------------------------------------------- */

static bool val_github(brr_schk *c, const brr_value *v, const char *path) {
  if (!brr_schk_keys(c, v, path, GITHUB_KEYS, BRR_ARRAY_LEN(GITHUB_KEYS), "a github entry")) return false;
  size_t before = c->n_errors;
  if (brr_schk_required(c, v, path, "endpoint"))
    brr_schk_str(c, brr_val_get(v, "endpoint"), brr_schk_path(c, path, "endpoint"), NULL);
  for (size_t i = 1; i < BRR_ARRAY_LEN(GITHUB_KEYS); i++)
    brr_schk_str(c, brr_val_get(v, GITHUB_KEYS[i]), brr_schk_path(c, path, GITHUB_KEYS[i]), NULL);
  return before == c->n_errors;
}

static void check_ssh_key(brr_schk *c, const brr_value *v, const char *path) {
  if (!brr_schk_keys(c, v, path, SSH_KEYS, BRR_ARRAY_LEN(SSH_KEYS), "an ssh-keys entry")) return;
  brr_tri t;
  brr_schk_str(c, brr_val_get(v, "file"), brr_schk_path(c, path, "file"), NULL);
  brr_schk_str(c, brr_val_get(v, "key"), brr_schk_path(c, path, "key"), NULL);
  brr_schk_str(c, brr_val_get(v, "password"), brr_schk_path(c, path, "password"), NULL);
  brr_schk_bool(c, brr_val_get(v, "prompt-password"), brr_schk_path(c, path, "prompt-password"), &t);
  brr_schk_strlist(c, brr_val_get(v, "aliases"), brr_schk_path(c, path, "aliases"), NULL);
}

static void check_security_scan(brr_schk *c, const brr_value *v) {
  if (!v || v->type == BRR_VAL_NULL) return;
  if (!brr_schk_keys(c, v, "security-scan", SCAN_KEYS, BRR_ARRAY_LEN(SCAN_KEYS), "security-scan")) return;
  brr_tri t;
  brr_schk_bool(c, brr_val_get(v, "enabled"), "security-scan.enabled", &t);
  brr_schk_str(c, brr_val_get(v, "scanner"), "security-scan.scanner", NULL);
  brr_schk_str(c, brr_val_get(v, "version"), "security-scan.version", NULL);
  brr_schk_str(c, brr_val_get(v, "cache-dir"), "security-scan.cache-dir", NULL);
  const brr_value *cf = brr_val_get(v, "config");
  if (cf && cf->type != BRR_VAL_MAP) brr_schk_expected(c, cf, "security-scan.config", "a map");
  brr_schk_float(c, brr_val_get(v, "max-score-threshold"), "security-scan.max-score-threshold", NULL, NULL);
}

static bool val_positive_int(brr_schk *c, const brr_value *v, const char *path) {
  int64_t i;
  if (!v || v->type == BRR_VAL_BOOL || !brr_lax_int(v, &i) || i < 1) {
    if (v && v->type != BRR_VAL_BOOL && brr_lax_int(v, &i))
      brr_schk_error(c, v, path, "a pool size must be at least 1, got %lld", (long long)i);
    else
      brr_schk_expected(c, v, path, "a positive integer");
    return false;
  }
  return true;
}

/* A buildx builder name as the CLI accepts it (a context name for the docker driver): a letter
 * or digit first, so it can never pass for an option in the `docker buildx` command line. */
static bool builder_name_ok(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          strchr("_.+-", *s)))
      return false;
  return true;
}

static bool check_builder_name(brr_schk *c, const brr_value *v, const char *path) {
  if (builder_name_ok(v->u.s.ptr) && strlen(v->u.s.ptr) == v->u.s.len) return true;
  brr_buf b = BRR_BUF_INIT;
  brr_val_pyrepr(v, &b);
  brr_schk_error(c, v, path, "%s is not a buildx builder name (letters, digits, '_', '.', '+' "
                 "and '-', starting with a letter or digit)", b.data);
  brr_buf_free(&b);
  return false;
}

/* A `platform-builders` value: a builder name, or a non-empty list of them. */
static bool val_builders(brr_schk *c, const brr_value *v, const char *path) {
  if (!brr_schk_val_str_or_strlist(c, v, path)) return false;
  if (v->type == BRR_VAL_STR) return check_builder_name(c, v, path);
  if (v->u.list.n == 0) {
    brr_schk_error(c, v, path, "the list names no builder");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < v->u.list.n; i++)
    ok = check_builder_name(c, v->u.list.v[i], brr_schk_index(c, path, i)) && ok;
  return ok;
}

/* "os/arch" or "os/arch/variant", as buildx's --platform takes it ("linux/arm64/v8"). */
static bool platform_ok(const char *s, size_t len) {
  if (strlen(s) != len) return false;
  size_t parts = 1, run = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '/') {
      if (!run) return false;
      parts++;
      run = 0;
    } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '_' || *p == '.' || *p == '-') {
      run++;
    } else {
      return false;
    }
  }
  return run && (parts == 2 || parts == 3);
}

/* platform -> builder (or a list used in turn): each key a platform, each name a builder. */
static void check_platform_builders(brr_schk *c, const brr_value *v, brr_kvlist *out) {
  brr_schk_map(c, v, "platform-builders", val_builders, out);
  for (size_t i = 0; v && v->type == BRR_VAL_MAP && i < v->u.map.n; i++) {
    const brr_value *k = v->u.map.v[i].key;
    if (platform_ok(k->u.s.ptr, k->u.s.len)) continue;
    brr_buf b = BRR_BUF_INIT;
    brr_val_pyrepr(k, &b);
    brr_schk_error(c, k, "platform-builders", "%s is not a platform: expected os/arch or "
                   "os/arch/variant, e.g. linux/arm64", b.data);
    brr_buf_free(&b);
    *out = (brr_kvlist){NULL, 0};
  }
}

static const char *str_or(const brr_value *v, const char *dflt) {
  return v && v->type == BRR_VAL_STR ? v->u.s.ptr : dflt;
}

static char *default_temp_dir(brr_arena *a) {
  static const char *const vars[] = {"BUILDRUNNER_TEMPDIR", "TMPDIR", "TEMP", "TMP"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(vars); i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return brr_arena_strdup(a, v);
  }
  return brr_arena_strdup(a, "/tmp");
}

static void fill_moving_tags(brr_schk *c, const brr_value *root, brr_global *g) {
  brr_strlist user;
  if (!brr_schk_strlist(c, brr_val_get(root, "moving-tags"), "moving-tags", &user)) return;
  brr_str *v = brr_arena_alloc(c->a, (user.n + 1) * sizeof(brr_str));
  size_t n = 0;
  bool has_latest = false;
  for (size_t i = 0; i < user.n; i++) has_latest |= strcmp(user.v[i].s, "latest") == 0;
  if (!has_latest) v[n++] = (brr_str){"latest", BRR_MARK_NONE};
  for (size_t i = 0; i < user.n; i++) v[n++] = user.v[i];
  g->moving_tags = (brr_strlist){v, n};
}

#define BRR_ENGINE_DEFAULT_JOBS 4

/* `engines:` (brr's own): name -> {context: NAME} or {host: URL, tls-verify, cert-path},
 * plus jobs and platforms. */
static void fill_engines(brr_schk *c, const brr_value *v, brr_global *g) {
  if (!v || v->type == BRR_VAL_NULL) return;
  if (v->type != BRR_VAL_MAP) {
    brr_schk_expected(c, v, "engines", "a map of engine names to engine settings");
    return;
  }
  if (v->u.map.n == 0) {
    brr_schk_error(c, v, "engines", "no engine is named (leave the key out for the one engine the "
                   "docker CLI would use)");
    return;
  }
  g->engines = brr_arena_alloc(c->a, v->u.map.n * sizeof(brr_engine_conf));
  for (size_t i = 0; i < v->u.map.n; i++) {
    const brr_map_entry *e = &v->u.map.v[i];
    if (e->key->type != BRR_VAL_STR || !*e->key->u.s.ptr) {
      brr_schk_error(c, e->key, "engines", "an engine name must be a non-empty string");
      continue;
    }
    const char *name = e->key->u.s.ptr;
    const char *path = brr_schk_path(c, "engines", name);
    const brr_value *m = e->val;
    if (!brr_schk_keys(c, m, path, ENGINE_KEYS, BRR_ARRAY_LEN(ENGINE_KEYS), "an engine")) continue;
    size_t before = c->n_errors;
    brr_engine_conf ec = {.name = name, .tls_verify = BRR_UNSET, .jobs = BRR_ENGINE_DEFAULT_JOBS,
                          .mark = e->key->mark};
    brr_str s = {NULL, BRR_MARK_NONE};
    if (brr_schk_str(c, brr_val_get(m, "context"), brr_schk_path(c, path, "context"), &s)) ec.context = s.s;
    s.s = NULL;
    if (brr_schk_str(c, brr_val_get(m, "host"), brr_schk_path(c, path, "host"), &s)) ec.host = s.s;
    s.s = NULL;
    if (brr_schk_str(c, brr_val_get(m, "cert-path"), brr_schk_path(c, path, "cert-path"), &s)) ec.cert_path = s.s;
    brr_schk_bool(c, brr_val_get(m, "tls-verify"), brr_schk_path(c, path, "tls-verify"), &ec.tls_verify);
    const brr_value *jobs = brr_val_get(m, "jobs");
    int64_t n;
    if (jobs && jobs->type != BRR_VAL_NULL) {
      if (jobs->type == BRR_VAL_BOOL || !brr_lax_int(jobs, &n))
        brr_schk_expected(c, jobs, brr_schk_path(c, path, "jobs"), "a positive integer");
      else if (n < 1 || n > 100000)
        brr_schk_error(c, jobs, brr_schk_path(c, path, "jobs"), "jobs must be between 1 and 100000, got %lld",
                       (long long)n);
      else
        ec.jobs = (int)n;
    }
    brr_schk_strlist(c, brr_val_get(m, "platforms"), brr_schk_path(c, path, "platforms"), &ec.platforms);
    if (c->n_errors != before) continue;
    if (!ec.context == !ec.host) {
      brr_schk_error(c, m, path, ec.context ? "give either context or host, not both"
                                            : "give context (a docker context) or host (an engine address)");
      continue;
    }
    if (ec.context && (ec.tls_verify != BRR_UNSET || ec.cert_path)) {
      brr_schk_error(c, brr_val_get(m, "tls-verify") ? brr_val_get(m, "tls-verify") : brr_val_get(m, "cert-path"),
                     path, "tls-verify and cert-path go with host; a context carries its own TLS settings");
      continue;
    }
    if (ec.host && !*ec.host) {
      brr_schk_error(c, brr_val_get(m, "host"), brr_schk_path(c, path, "host"), "the engine address is empty");
      continue;
    }
    g->engines[g->n_engines++] = ec;
  }
}

size_t brr_schema_global(brr_config *cfg, const brr_value *root, brr_diags *d) {
  brr_schk ck = {cfg->arena, d, 0, NULL};
  brr_schk *c = &ck;
  brr_global *g = &cfg->global;
  g->root = root;
  g->disable_multi_platform = BRR_UNSET;
  if (!brr_schk_keys(c, root, "", BRR_GLOBAL_KEYS, BRR_N_GLOBAL_KEYS, "the global configuration"))
    return c->n_errors;
#define G(k) brr_val_get(root, k)
  brr_schk_map(c, G("github"), "github", val_github, NULL);
  g->github = G("github");
  brr_schk_env(c, G("env"), "env", NULL);
  g->env = G("env") && G("env")->type == BRR_VAL_MAP ? G("env") : NULL;
  brr_schk_map(c, G("build-servers"), "build-servers", brr_schk_val_strlist, NULL);
  g->build_servers = G("build-servers");
  const brr_value *keys = G("ssh-keys");
  if (keys && keys->type == BRR_VAL_MAP) {
    check_ssh_key(c, keys, "ssh-keys");
  } else if (keys && keys->type == BRR_VAL_LIST) {
    for (size_t i = 0; i < keys->u.list.n; i++)
      check_ssh_key(c, keys->u.list.v[i], brr_schk_index(c, "ssh-keys", i));
  } else if (keys && keys->type != BRR_VAL_NULL) {
    brr_schk_expected(c, keys, "ssh-keys", "a list of ssh key maps");
  }
  g->ssh_keys = keys;
  brr_schk_map(c, G("local-files"), "local-files", brr_schk_val_str, &g->local_files);
  const brr_value *dbc = G("docker-build-cache");
  if (dbc && dbc->type != BRR_VAL_NULL &&
      brr_schk_keys(c, dbc, "docker-build-cache", CACHE_KEYS, BRR_ARRAY_LEN(CACHE_KEYS), "docker-build-cache")) {
    brr_schk_strlist(c, brr_val_get(dbc, "builders"), "docker-build-cache.builders", NULL);
    for (size_t i = 1; i < 3; i++) {
      const brr_value *v = brr_val_get(dbc, CACHE_KEYS[i]);
      if (v && v->type != BRR_VAL_NULL && v->type != BRR_VAL_STR && v->type != BRR_VAL_MAP)
        brr_schk_expected(c, v, brr_schk_path(c, "docker-build-cache", CACHE_KEYS[i]), "a string or a map");
    }
    g->docker_build_cache = dbc;
  }
  static const char *const str_keys[] = {"caches-root", "docker-registry", "temp-dir", "build-registry"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(str_keys); i++) brr_schk_str(c, G(str_keys[i]), str_keys[i], NULL);
  char *caches = brr_path_expanduser(str_or(G("caches-root"), "~/.buildrunner/caches"));
  g->caches_root = brr_arena_strdup(cfg->arena, caches);
  free(caches);
  g->docker_registry = str_or(G("docker-registry"), "docker.io");
  /* the file's value, else $BUILDRUNNER_TEMPDIR, else the system's (buildrunner's default) */
  g->temp_dir = G("temp-dir") && G("temp-dir")->type == BRR_VAL_STR
                    ? brr_arena_strdup(cfg->arena, G("temp-dir")->u.s.ptr)
                    : default_temp_dir(cfg->arena);
  brr_schk_bool(c, G("disable-multi-platform"), "disable-multi-platform", &g->disable_multi_platform);
  g->build_registry = str_or(G("build-registry"), "local");
  check_platform_builders(c, G("platform-builders"), &g->platform_builders);
  check_security_scan(c, G("security-scan"));
  g->security_scan = G("security-scan");
  fill_moving_tags(c, root, g);
  brr_schk_map(c, G("pools"), "pools", val_positive_int, &g->pools);
  brr_schk_bool(c, G("incremental"), "incremental", &g->incremental);
  fill_engines(c, G("engines"), g);
#undef G
  return c->n_errors;
}

/* The --security-scan-* flags as a global config layer: {"security-scan": {...}} with only
 * the keys given (buildrunner deep-merges them over the files). */
static int scan_overrides(brr_arena *a, const brr_load_opts *o, brr_value **out, brr_diags *d) {
  *out = NULL;
  brr_value *ss = brr_val_map(a, BRR_MARK_NONE);
  if (o->security_scan_enabled)
    brr_val_map_sets(a, ss, "enabled", brr_val_bool(a, BRR_MARK_NONE, strcmp(o->security_scan_enabled, "true") == 0));
  if (o->security_scan_scanner) brr_val_map_sets(a, ss, "scanner", brr_val_str(a, BRR_MARK_NONE, o->security_scan_scanner));
  if (o->security_scan_version) brr_val_map_sets(a, ss, "version", brr_val_str(a, BRR_MARK_NONE, o->security_scan_version));
  if (o->security_scan_config_file) {
    const char *f = o->security_scan_config_file;
    brr_buf text = BRR_BUF_INIT;
    if (brr_read_file(f, &text) != 0) {
      brr_diag_error(d, BRR_MARK_NONE, NULL, "The specified security scan config file (%s) could not be found", f);
      brr_buf_free(&text);
      return BRR_ECONFIG;
    }
    size_t before = d->n;
    /* the marks outlive the config (diagnostics are printed after a failed load frees it) */
    brr_value *v = brr_yaml_load(a, text.data ? text.data : "", text.len, brr_config_intern(f), d);
    brr_buf_free(&text);
    if (!v) {
      if (d->n == before)
        brr_diag_error(d, BRR_MARK_NONE, NULL, "The specified security scan config file (%s) could not be loaded", f);
      return BRR_ECONFIG;
    }
    if (v->type != BRR_VAL_MAP || v->u.map.n == 0) {
      brr_diag_error(d, v->mark, NULL, "The specified security scan config file (%s) must contain a dictionary", f);
      return BRR_ECONFIG;
    }
    brr_val_map_sets(a, ss, "config", v);
  }
  if (o->security_scan_max_score_threshold) {
    char *end;
    double x = strtod(o->security_scan_max_score_threshold, &end);
    brr_val_map_sets(a, ss, "max-score-threshold",
                     *end == '\0' && end != o->security_scan_max_score_threshold
                         ? brr_val_float(a, BRR_MARK_NONE, x)
                         : brr_val_str(a, BRR_MARK_NONE, o->security_scan_max_score_threshold));
  }
  if (ss->u.map.n == 0) return 0;
  *out = brr_val_map(a, BRR_MARK_NONE);
  brr_val_map_sets(a, *out, "security-scan", ss);
  return 0;
}

/* ---- the chain ----------------------------------------------------------------------------- */

int brr_config_load_global(brr_config *cfg, const brr_load_opts *opts, brr_diags *d) {
  brr_arena *a = cfg->arena;
  const char *master = pick(opts->master_config_path, "BRR_MASTER_CONFIG", MASTER_CONFIG);
  const char *user = pick(opts->user_config_path, "BRR_USER_CONFIG", "~/.buildrunner.yaml");
  char *third_default = brr_path_join(cfg->build_dir, ".buildrunner.yaml");
  const char *names[3] = {master, user, opts->global_config ? opts->global_config : third_default};
  char *paths[3];
  for (int i = 0; i < 3; i++) paths[i] = locate(cfg->build_dir, names[i]);
  int rc = 0;
  if (opts->global_config && !paths[2]) {
    /* name the file looked for: a relative -c is resolved against -d, not the cwd */
    char *exp = brr_path_expanduser(opts->global_config);
    char *abs = brr_path_join(cfg->build_dir, exp);
    if (strcmp(abs, exp) == 0)
      brr_diag_error(d, BRR_MARK_NONE, NULL, "global config file '%s' (-c) does not exist", opts->global_config);
    else
      brr_diag_error(d, BRR_MARK_NONE, NULL, "global config file '%s' (-c) does not exist: looked for %s (resolved against -d %s)",
                     opts->global_config, abs, cfg->build_dir);
    free(exp);
    free(abs);
    rc = BRR_ECONFIG;
  }
  cfg->global_files = brr_arena_alloc(a, 3 * sizeof(char *));
  brr_value *merged = brr_val_map(a, BRR_MARK_NONE);
  brr_value *empty = brr_val_map(a, BRR_MARK_NONE);
  for (int i = 0; i < 3 && rc == 0; i++) {
    if (!paths[i]) continue;
    /* the same file named twice (e.g. -c ~/.buildrunner.yaml) is read once */
    bool seen = false;
    for (size_t j = 0; j < cfg->n_global_files; j++) seen |= strcmp(cfg->global_files[j], paths[i]) == 0;
    if (seen) continue;
    const char *file = brr_config_intern(paths[i]);
    cfg->global_files[cfg->n_global_files++] = file;
    brr_render_ctx rc_ctx = {brr_config_template_vars(a, empty, file, NULL, merged), empty, cfg->build_time,
                             opts->strict_templates};
    brr_loaded_file lf;
    if (brr_config_fetch(a, file, &rc_ctx, opts, BRR_GEN_GLOBAL, &lf, d) != 0) {
      rc = BRR_ECONFIG;
      break;
    }
    if (lf.root->type != BRR_VAL_MAP) {
      brr_diag_error(d, lf.root->mark, NULL, "a global config file must be a map, got %s",
                     brr_val_type_desc(lf.root));
      rc = BRR_ECONFIG;
      break;
    }
    if (i != 0) scrub_local_files(a, lf.root, file, d);
    merged = brr_val_merge(a, merged, lf.root);
  }
  for (int i = 0; i < 3; i++) free(paths[i]);
  free(third_default);
  if (rc != 0) return rc;
  if (opts->disable_multi_platform) {
    brr_value *over = brr_val_map(a, BRR_MARK_NONE);
    brr_val_map_sets(a, over, "disable-multi-platform", brr_val_bool(a, BRR_MARK_NONE, true));
    merged = brr_val_merge(a, merged, over);
  }
  if (opts->global_overrides) merged = brr_val_merge(a, merged, opts->global_overrides);
  brr_value *scan = NULL;
  if (scan_overrides(a, opts, &scan, d) != 0) return BRR_ECONFIG;
  if (scan) merged = brr_val_merge(a, merged, scan);
  return brr_schema_global(cfg, merged, d) ? BRR_ECONFIG : 0;
}
