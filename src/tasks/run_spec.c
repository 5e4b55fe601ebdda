/* Container plans for run steps and services: what the config alone decides (spec §6 "Every
 * run container gets", §9.1, §9.2). Mistakes found here are configuration errors raised
 * before anything is created, so a bad `files` entry leaves nothing half-done. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "run_internal.h"

/* ---- string vectors ---- */

static void strv_push(brr_run_strv *s, char *owned, char *key) {
  if (s->n + 1 >= s->cap) {
    s->cap = s->cap ? s->cap * 2 : 8;
    s->v = brr_xrealloc(s->v, s->cap * sizeof *s->v);
    s->keys = brr_xrealloc(s->keys, s->cap * sizeof *s->keys);
  }
  s->keys[s->n] = key;
  s->v[s->n++] = owned;
  s->v[s->n] = NULL;
}

void brr_run_strv_add(brr_run_strv *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  strv_push(s, brr_xvasprintf(fmt, ap), NULL);
  va_end(ap);
}

void brr_run_strv_setenv(brr_run_strv *s, const char *key, const char *val) {
  char *item = val ? brr_xasprintf("%s=%s", key, val) : brr_xstrdup(key);
  size_t i;
  if (brr_strmap_get(&s->index, key, &i)) {
    free(s->v[i]);
    s->v[i] = item;
    return;
  }
  char *k = brr_xstrdup(key);
  strv_push(s, item, k);
  brr_strmap_put(&s->index, k, s->n - 1);
}

const char *const *brr_run_strv_get(const brr_run_strv *s) {
  return s->n ? (const char *const *)s->v : NULL;
}

void brr_run_strv_free(brr_run_strv *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i]);
    free(s->keys[i]);
  }
  free(s->v);
  free(s->keys);
  brr_strmap_free(&s->index);
  memset(s, 0, sizeof *s);
}

/* ---- small pure rules ---- */

int brr_run_mem_limit(const brr_value *v, int64_t *out) {
  *out = 0;
  if (!v || v->type == BRR_VAL_NULL) return 0;
  if (v->type == BRR_VAL_INT) {
    *out = v->u.i;
    return v->u.i < 0 ? BRR_EINVAL : 0;
  }
  brr_buf b = BRR_BUF_INIT;
  brr_val_pystr(v, &b);
  char *s = brr_buf_detach(&b);
  size_t len = strlen(s);
  int rc = BRR_EINVAL;
  if (len == 0) {
    rc = 0;
    goto out;
  }
  /* "512mb": a unit letter followed by b drops the b */
  if (len >= 2 && isalpha((unsigned char)s[len - 2]) && (s[len - 1] == 'b' || s[len - 1] == 'B'))
    s[--len] = '\0';
  char unit = (char)tolower((unsigned char)s[len - 1]);
  double mult = 1;
  if (isdigit((unsigned char)unit)) {
    unit = 'b';
  } else {
    s[--len] = '\0';
    switch (unit) {
    case 'b': mult = 1; break;
    case 'k': mult = 1024.0; break;
    case 'm': mult = 1024.0 * 1024; break;
    case 'g': mult = 1024.0 * 1024 * 1024; break;
    default: goto out;
    }
  }
  char *end;
  errno = 0;
  double digits = strtod(s, &end);
  if (len == 0 || *end || errno || !isfinite(digits) || digits < 0 || isspace((unsigned char)*s))
    goto out;
  double bytes = digits * mult;
  if (bytes > 9.2e18) goto out;
  *out = (int64_t)bytes;
  rc = 0;
out:
  free(s);
  return rc;
}

bool brr_run_label_truthy(const cJSON *inspect, const char *label) {
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(inspect, "Config");
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cfg, "Labels");
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, label);
  if (!cJSON_IsString(v)) return false;
  const char *s = v->valuestring;
  return *s && strcmp(s, "0") != 0 && strcmp(s, "False") != 0;
}

char *brr_run_file_bind(const char *local, const char *mount) {
  size_t n = strlen(mount);
  bool has_mode = n >= 3 && (!strcmp(mount + n - 3, ":ro") || !strcmp(mount + n - 3, ":rw"));
  return brr_xasprintf("%s:%s%s", local, mount, has_mode ? "" : ":ro");
}

char *brr_run_volumes_from(const char *entry, const char *const *svc_names,
                           const char *const *containers, size_t n) {
  /* buildrunner splits on every ':' and keeps the first two fields */
  const char *colon = strchr(entry, ':');
  size_t nlen = colon ? (size_t)(colon - entry) : strlen(entry);
  const char *opt = NULL;
  size_t olen = 0;
  if (colon) {
    opt = colon + 1;
    const char *c2 = strchr(opt, ':');
    olen = c2 ? (size_t)(c2 - opt) : strlen(opt);
  }
  for (size_t i = 0; i < n; i++) {
    if (strlen(svc_names[i]) != nlen || strncmp(svc_names[i], entry, nlen)) continue;
    if (opt && olen) return brr_xasprintf("%s:%.*s", containers[i], (int)olen, opt);
    return brr_xstrdup(containers[i]);
  }
  return NULL;
}

/* ---- files ---- */

static const char *local_file_alias(const brr_config *cfg, const char *alias) {
  const brr_kvlist *lf = &cfg->global.local_files;
  for (size_t i = 0; i < lf->n; i++)
    if (brr_streq(lf->v[i].key.s, alias)) return brr_val_cstr(lf->v[i].val);
  return NULL;
}

/* Literal local-files contents (master config only) become a file the container can read. */
static char *literal_file(const char *temp_dir, const char *alias, const char *text,
                          const brr_str *key, brr_diags *d) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)alias, strlen(alias), md);
  char hex[2 * SHA_DIGEST_LENGTH + 1];
  for (size_t i = 0; i < sizeof md; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  char *dir = brr_path_join(temp_dir, "local-files");
  char *path = brr_path_join(dir, hex);
  int rc = brr_mkdir_p(dir, 0755);
  if (rc == 0) rc = brr_write_file(path, text, strlen(text));
  free(dir);
  if (rc == 0 && chmod(path, 0644) != 0) rc = -errno;
  if (rc != 0) {
    brr_diag *g = brr_diag_error(d, key->mark, NULL, "cannot write the contents of local file "
                                 "\"%s\": %s", alias, brr_strerror(rc));
    g->exit_code = BRR_EXIT_FAILED;
    free(path);
    return NULL;
  }
  return path;
}

char *brr_run_file_source(const brr_config *cfg, const char *temp_dir, const brr_str *key,
                          brr_diags *d) {
  const char *alias = key->s;
  const char *target = local_file_alias(cfg, alias);
  if (target) {
    struct stat st;
    if (stat(target, &st) == 0) return brr_xstrdup(target);
    return literal_file(temp_dir, alias, target, key, d);
  }
  char *joined = brr_path_join(cfg->build_dir, alias);
  char *real = brr_path_realpath(joined);
  char *path = real ? real : brr_path_normalize(joined);
  free(joined);
  if (strcmp(path, cfg->build_dir) != 0 && !brr_path_is_under(path, cfg->build_dir)) {
    brr_diag_error(d, key->mark, NULL, "Mount path of \"%s\" attempts to step out of source "
                   "directory \"%s\"", alias, cfg->build_dir);
    free(path);
    return NULL;
  }
  if (!real) {
    brr_diag_error(d, key->mark, NULL, "Cannot find valid alias for files entry '%s' nor path "
                   "at '%s'", alias, path);
    free(path);
    return NULL;
  }
  return path;
}

/* ---- the plan ---- */

static void env_value(brr_run_strv *env, const char *key, const brr_value *v) {
  if (!v || v->type == BRR_VAL_NULL) {
    brr_run_strv_setenv(env, key, NULL);
    return;
  }
  brr_buf b = BRR_BUF_INIT;
  brr_val_pystr(v, &b);
  brr_run_strv_setenv(env, key, brr_buf_cstr(&b));
  brr_buf_free(&b);
}

/* The build's env dict (spec §6), then the step's own variables. */
static void plan_env(const brr_runtime *rt, size_t step, const brr_runlike *c,
                     const char *service, const char *container, brr_run_plan *p) {
  const brr_value *dict = rt->cfg->env_dict;
  for (size_t i = 0; dict && dict->type == BRR_VAL_MAP && i < dict->u.map.n; i++) {
    const char *k = brr_val_cstr(dict->u.map.v[i].key);
    if (k) env_value(&p->env, k, dict->u.map.v[i].val);
  }
  if (container) {
    /* the run container holds /source itself: it is also the "source container" */
    brr_run_strv_setenv(&p->env, "BUILDRUNNER_SOURCE_CONTAINER", container);
    brr_run_strv_setenv(&p->env, "BUILDRUNNER_BUILD_CONTAINER", container);
  }
  if (service) {
    char num[32];
    const struct passwd *pw = getpwuid(getuid());
    const struct group *gr = getgrgid(getgid());
    snprintf(num, sizeof num, "%u", (unsigned)getuid());
    brr_run_strv_setenv(&p->env, "BUILDRUNNER_INVOKE_USER", pw ? pw->pw_name : num);
    brr_run_strv_setenv(&p->env, "BUILDRUNNER_INVOKE_UID", num);
    snprintf(num, sizeof num, "%u", (unsigned)getgid());
    brr_run_strv_setenv(&p->env, "BUILDRUNNER_INVOKE_GROUP", gr ? gr->gr_name : num);
    brr_run_strv_setenv(&p->env, "BUILDRUNNER_INVOKE_GID", num);
  }
  const brr_step_state *st = &rt->steps[step];
  brr_run_strv_setenv(&p->env, "BUILDRUNNER_STEP_ID", st->id);
  brr_run_strv_setenv(&p->env, "BUILDRUNNER_STEP_NAME", rt->cfg->steps[step].name.s);
  for (size_t i = 0; i < c->env.n; i++) env_value(&p->env, c->env.v[i].key.s, c->env.v[i].val);
}

/* The engine's socket, mounted where buildrunner's daemon proxy put it. */
static void plan_daemon(const brr_runtime *rt, size_t step, brr_run_plan *p) {
  /* the engine's own address; TLS material and ssh do not go into containers */
  const char *host = brr_engine_host(brr_rt_engine(rt, step));
  brr_engine_target t;
  char *err = NULL;
  if (brr_engine_target_parse(host, false, &t, &err) != 0) {
    free(err);
    return;
  }
  if (t.unix_path) {
    struct stat st;
    if (stat(t.unix_path, &st) == 0) {
      brr_run_strv_add(&p->binds, "%s:%s", t.unix_path, BRR_RUN_DOCKER_SOCK);
      brr_run_strv_setenv(&p->env, "DOCKER_HOST", "unix://" BRR_RUN_DOCKER_SOCK);
    }
  } else if (!t.ssh_dest && !brr_engine_uses_tls(brr_rt_engine(rt, step))) {
    brr_run_strv_setenv(&p->env, "DOCKER_HOST", host);
  }
  brr_engine_target_free(&t);
}

static int plan_files(const brr_runtime *rt, const brr_runlike *c, brr_run_plan *p, brr_diags *d) {
  int rc = 0;
  for (size_t i = 0; i < c->files.n; i++) {
    const brr_kv *kv = &c->files.v[i];
    const char *mount = brr_val_cstr(kv->val);
    if (!mount || !*mount) {
      brr_diag_error(d, kv->key.mark, NULL, "files entry \"%s\" needs a mount point", kv->key.s);
      rc = BRR_ECONFIG;
      continue;
    }
    char *local = brr_run_file_source(rt->cfg, rt->temp_dir, &kv->key, d);
    if (!local) {
      rc = BRR_ECONFIG;
      continue;
    }
    char *bind = brr_run_file_bind(local, mount);
    brr_run_strv_add(&p->binds, "%s", bind);
    free(bind);
    free(local);
  }
  return rc;
}

/* Shell provisioners are read now (relative to the working directory, as buildrunner);
 * salt needs a salt bootstrap brr does not carry. */
static int plan_scripts(const brr_runlike *c, brr_run_plan *p, brr_diags *d) {
  int rc = 0;
  p->scripts = brr_xcalloc(c->provisioners.n + 1, sizeof *p->scripts);
  for (size_t i = 0; i < c->provisioners.n; i++) {
    const brr_kv *kv = &c->provisioners.v[i];
    const char *path = brr_val_cstr(kv->val);
    if (strcmp(kv->key.s, "shell") != 0) {
      brr_diag_error(d, kv->key.mark, NULL, "provisioner \"%s\" is not supported by brr (only "
                     "shell provisioners are)", kv->key.s);
      rc = BRR_ECONFIG;
      continue;
    }
    brr_buf b = BRR_BUF_INIT;
    int r = path ? brr_read_file(path, &b) : -ENOENT;
    if (r != 0) {
      brr_diag_error(d, kv->val ? kv->val->mark : kv->key.mark, NULL, "cannot read shell "
                     "provisioner \"%s\": %s", path ? path : "", brr_strerror(r));
      brr_buf_free(&b);
      rc = BRR_ECONFIG;
      continue;
    }
    brr_run_script *s = &p->scripts[p->n_scripts++];
    s->name = brr_xstrdup(brr_path_basename(path));
    s->len = b.len;
    s->data = brr_buf_detach(&b);
  }
  return rc;
}

static void plan_ports(const brr_runtime *rt, const brr_runlike *c, const char *service,
                       brr_run_plan *p) {
  if (!service && !rt->opts.publish_ports) return;
  for (size_t i = 0; i < c->ports.n; i++) {
    const brr_value *hv = c->ports.v[i].val;
    if (!hv) {
      brr_run_strv_add(&p->ports, "%s", c->ports.v[i].key.s);
      continue;
    }
    brr_buf b = BRR_BUF_INIT;
    brr_val_pystr(hv, &b);
    brr_run_strv_add(&p->ports, "%s:%s", brr_buf_cstr(&b), c->ports.v[i].key.s);
    brr_buf_free(&b);
  }
}

int brr_run_plan_make(const brr_runtime *rt, size_t step, const brr_runlike *c,
                      const char *service, const char *container, brr_run_plan *p,
                      brr_diags *d) {
  memset(p, 0, sizeof *p);
  p->c = c;
  p->service = service;
  bool has_cmds = c->cmd.s || c->cmds.n || c->provisioners.n;
  p->shell = has_cmds ? BRR_RUN_DEFAULT_SHELL : NULL;
  if (c->shell.s) p->shell = c->shell.s;
  plan_env(rt, step, c, service, container, p);
  /* an engine of another host would mount an empty directory of its own: there the run
   * container gets the other steps' artifacts through the archive API (run_deps.c) */
  if (brr_run_engine_local(rt, step))
    brr_run_strv_add(&p->binds, "%s:%s:ro", rt->cfg->results_dir, BRR_RUN_ARTIFACTS_DIR);
  plan_daemon(rt, step, p);
  int rc = plan_files(rt, c, p, d);
  if (plan_scripts(c, p, d) != 0) rc = BRR_ECONFIG;
  plan_ports(rt, c, service, p);
  if (c->dns_search.s) {
    size_t n;
    char **parts = brr_split(c->dns_search.s, ',', &n);
    for (size_t i = 0; i < n; i++) brr_run_strv_add(&p->dns_search, "%s", parts[i]);
    brr_strv_free(parts);
  }
  if (brr_run_mem_limit(c->mem_limit, &p->memory) != 0) {
    brr_buf b = BRR_BUF_INIT;
    brr_val_pystr(c->mem_limit, &b);
    brr_diag_error(d, c->mem_limit->mark, NULL, "The specified value for memory (%s) should "
                   "specify the units. The postfix should be one of the `b` `k` `m` `g` "
                   "characters", brr_buf_cstr(&b));
    brr_buf_free(&b);
    rc = BRR_ECONFIG;
  }
  if (rc != 0) brr_run_plan_free(p);
  return rc;
}

void brr_run_plan_free(brr_run_plan *p) {
  brr_run_strv_free(&p->env);
  brr_run_strv_free(&p->binds);
  brr_run_strv_free(&p->ports);
  brr_run_strv_free(&p->dns_search);
  for (size_t i = 0; i < p->n_scripts; i++) {
    free(p->scripts[i].name);
    free(p->scripts[i].data);
  }
  free(p->scripts);
  memset(p, 0, sizeof *p);
}
