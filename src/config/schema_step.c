/* Schema of the run config (spec §2): the top level, each step and its tasks, into the typed
 * model of config.h. Every problem is collected; nothing stops at the first. The push/commit
 * part also does the loader's build-tag injection (spec §8), since it shapes the same list. */
#include <stdlib.h>
#include <string.h>

#include "brr/incr.h"
#include "internal.h"
#include "schema_keys.h"

#define RUNLIKE_KEYS                                                                           \
  "image", "cmd", "provisioners", "shell", "cwd", "user", "hostname", "dns", "dns_search",      \
      "extra_hosts", "env", "files", "volumes_from", "ports", "pull", "systemd",                \
      "systemd_cgroup2", "containers", "caches", "mem-limit", "cpu-shares", "cpu-period",       \
      "cpu-quota"

const char *const BRR_TOP_KEYS[] = {"version", "use-legacy-builder", "steps", "redirect"};
const size_t BRR_N_TOP_KEYS = BRR_ARRAY_LEN(BRR_TOP_KEYS);
const char *const BRR_STEP_KEYS[] = {"build", "run", "push", "commit", "remote", "pypi-push", "depends",
                                     "inputs", "incremental"};
const size_t BRR_N_STEP_KEYS = BRR_ARRAY_LEN(BRR_STEP_KEYS);
const char *const BRR_BUILD_KEYS[] = {"path", "dockerfile", "target", "pull", "platform",
                                      "platforms", "inject", "no-cache", "buildargs",
                                      "cache_from", "cache_to", "import", "secrets"};
const size_t BRR_N_BUILD_KEYS = BRR_ARRAY_LEN(BRR_BUILD_KEYS);
const char *const BRR_RUN_KEYS[] = {RUNLIKE_KEYS, "xfail", "services", "cmds", "ssh-keys",
                                    "artifacts", "platform", "cap_add", "privileged",
                                    "post-build", "no-cache"};
const size_t BRR_N_RUN_KEYS = BRR_ARRAY_LEN(BRR_RUN_KEYS);
const char *const BRR_SERVICE_KEYS[] = {RUNLIKE_KEYS, "build", "wait_for", "inject-ssh-agent", "run"};
const size_t BRR_N_SERVICE_KEYS = BRR_ARRAY_LEN(BRR_SERVICE_KEYS);

static const char *const PUSH_KEYS[] = {"repository", "tags", "add_build_tag", "push", "security-scan"};
static const char *const SCAN_KEYS[] = {"enabled", "scanner", "version", "config", "max-score-threshold"};
static const char *const REMOTE_KEYS[] = {"host", "cmd", "artifacts"};
static const char *const PYPI_KEYS[] = {"repository", "username", "password", "skip_existing"};
static const char *const WAIT_KEYS[] = {"port", "timeout"};
const brr_keyset BRR_KEYS_PUSH = {PUSH_KEYS, BRR_ARRAY_LEN(PUSH_KEYS)};
const brr_keyset BRR_KEYS_PUSH_SCAN = {SCAN_KEYS, BRR_ARRAY_LEN(SCAN_KEYS)};
const brr_keyset BRR_KEYS_REMOTE = {REMOTE_KEYS, BRR_ARRAY_LEN(REMOTE_KEYS)};
const brr_keyset BRR_KEYS_PYPI = {PYPI_KEYS, BRR_ARRAY_LEN(PYPI_KEYS)};
const brr_keyset BRR_KEYS_WAIT_FOR = {WAIT_KEYS, BRR_ARRAY_LEN(WAIT_KEYS)};

#define P(k) brr_schk_path(c, path, k)
#define G(n, k) brr_val_get(n, k)
/* A checker of a key that may be absent: the key's path is made only when the key is there
 * (these checkers do nothing with it otherwise; making every path was a tenth of --graph). */
#define CHK(fn, n, k, ...)                                                  \
  do {                                                                      \
    const brr_value *v_ = G(n, k);                                          \
    fn(c, v_, v_ ? brr_schk_path(c, path, k) : path, __VA_ARGS__);          \
  } while (0)
#define CHKC(fn, n, k, ...)                                                 \
  do {                                                                      \
    const brr_value *v_ = G(n, k);                                          \
    fn(c, cfg, v_, v_ ? brr_schk_path(c, path, k) : path, __VA_ARGS__);     \
  } while (0)
/* the path of key k of n when it is there, else the parent's (unused then) */
#define PIF(n, k) (G(n, k) ? P(k) : path)

/* ---- artifacts -------------------------------------------------------------------------- */

/* glob -> falsy, or a property map (format, compression, rename: str; push: bool; type: any;
 * anything else is kept: it is copied into artifacts.json) */
static void parse_artifacts(brr_schk *c, const brr_value *v, const char *path, brr_kvlist *out) {
  if (!brr_schk_map(c, v, path, NULL, out)) return;
  for (size_t i = 0; i < out->n; i++) {
    const brr_value *props = out->v[i].val;
    if (!props || !brr_val_truthy(props)) continue;
    const char *sub = brr_schk_path(c, path, out->v[i].key.s);
    if (props->type != BRR_VAL_MAP) {
      brr_schk_expected(c, props, sub, "a map of artifact properties or null");
      continue;
    }
    brr_tri push;
    brr_schk_str(c, G(props, "format"), brr_schk_path(c, sub, "format"), NULL);
    brr_schk_str(c, G(props, "compression"), brr_schk_path(c, sub, "compression"), NULL);
    brr_schk_str(c, G(props, "rename"), brr_schk_path(c, sub, "rename"), NULL);
    brr_schk_bool(c, G(props, "push"), brr_schk_path(c, sub, "push"), &push);
  }
}

/* ---- run and services -------------------------------------------------------------------- */

static void parse_wait_for(brr_schk *c, const brr_value *v, const char *path, brr_service *s) {
  if (!v || v->type == BRR_VAL_NULL) return;
  if (v->type != BRR_VAL_LIST) {
    brr_schk_expected(c, v, path, "a list of ports or {port, timeout} maps");
    return;
  }
  s->wait_for = brr_arena_alloc(c->a, (v->u.list.n + 1) * sizeof(brr_wait_for));
  for (size_t i = 0; i < v->u.list.n; i++) {
    const brr_value *it = v->u.list.v[i];
    const char *sub = brr_schk_index(c, path, i);
    brr_wait_for w = {0, 600, it->mark};
    bool set = false;
    if (it->type == BRR_VAL_MAP) {
      brr_schk_keys(c, it, sub, WAIT_KEYS, BRR_ARRAY_LEN(WAIT_KEYS), "a wait_for entry");
      if (!brr_schk_required(c, it, sub, "port")) continue;
      if (!brr_schk_int(c, G(it, "port"), brr_schk_path(c, sub, "port"), &set, &w.port)) continue;
      bool tset;
      int64_t t;
      if (!brr_schk_int(c, G(it, "timeout"), brr_schk_path(c, sub, "timeout"), &tset, &t)) continue;
      if (tset) w.timeout = t;
    } else if (it->type == BRR_VAL_BOOL || !brr_lax_int(it, &w.port)) {
      brr_schk_expected(c, it, sub, "a port number or a {port, timeout} map");
      continue;
    }
    if (w.port < 1 || w.port > 65535) {
      brr_schk_error(c, it, sub, "port %lld is out of range (1-65535)", (long long)w.port);
      continue;
    }
    s->wait_for[s->n_wait_for++] = w;
  }
}

static void parse_services(brr_schk *c, const brr_config *cfg, const brr_value *v,
                           const char *path, brr_run *r) {
  brr_kvlist kv;
  if (!brr_schk_map(c, v, path, NULL, &kv) || kv.n == 0) return;  /* most runs have none */
  r->services = brr_arena_alloc(c->a, (kv.n + 1) * sizeof(brr_service));
  for (size_t i = 0; i < kv.n; i++) {
    const brr_value *node = kv.v[i].val;
    const char *sub = brr_schk_path(c, path, kv.v[i].key.s);
    if (!node) {
      brr_schk_error_mark(c, kv.v[i].key.mark, sub, "a service needs a map with an image or a build");
      continue;
    }
    if (!brr_schk_keys(c, node, sub, BRR_SERVICE_KEYS, BRR_N_SERVICE_KEYS, "a service")) continue;
    brr_service *s = &r->services[r->n_services++];
    s->name = kv.v[i].key;
    brr_schema_runlike(c, node, sub, &s->c);
    s->build = brr_schema_build(c, cfg, node, "build", brr_schk_path(c, sub, "build"));
    parse_wait_for(c, G(node, "wait_for"), brr_schk_path(c, sub, "wait_for"), s);
    brr_tri agent;
    brr_schk_bool(c, G(node, "inject-ssh-agent"), brr_schk_path(c, sub, "inject-ssh-agent"), &agent);
    s->inject_ssh_agent = agent == BRR_TRUE;
    bool has_build = G(node, "build") && G(node, "build")->type != BRR_VAL_NULL;
    if (!has_build && !s->c.image.s)
      brr_schk_error_mark(c, kv.v[i].key.mark, sub, "a service needs an image or a build");
    else if (has_build && s->c.image.s)
      brr_schk_error_mark(c, kv.v[i].key.mark, sub, "a service takes an image or a build, not both");
  }
}

static brr_run *parse_run(brr_schk *c, const brr_config *cfg, const brr_value *node, const char *path) {
  if (!node || node->type == BRR_VAL_NULL) return NULL;
  if (!brr_schk_keys(c, node, path, BRR_RUN_KEYS, BRR_N_RUN_KEYS, "run")) return NULL;
  brr_run *r = brr_arena_alloc(c->a, sizeof *r);
  brr_schema_runlike(c, node, path, &r->c);
  CHK(brr_schk_strlist, node, "cmds", &r->c.cmds);
  brr_tri t;
  CHK(brr_schk_bool, node, "xfail", &t);
  r->xfail = t == BRR_TRUE;
  CHKC(parse_services, node, "services", r);
  CHK(brr_schk_strlist, node, "ssh-keys", &r->ssh_keys);
  CHK(parse_artifacts, node, "artifacts", &r->artifacts);
  CHK(brr_schk_str, node, "platform", &r->platform);
  const brr_value *cap = G(node, "cap_add");
  if (cap && cap->type == BRR_VAL_STR) {
    /* one capability may be given as a plain string */
    brr_str *one = brr_arena_alloc(c->a, sizeof(brr_str));
    *one = (brr_str){cap->u.s.ptr, cap->mark};
    r->cap_add = (brr_strlist){one, 1};
  } else {
    brr_schk_strlist(c, cap, P("cap_add"), &r->cap_add);
  }
  CHK(brr_schk_bool, node, "privileged", &t);
  r->privileged = t == BRR_TRUE;
  r->post_build = brr_schema_build(c, cfg, node, "post-build", PIF(node, "post-build"));
  CHK(brr_schk_bool, node, "no-cache", &t);  /* accepted, has no effect */
  return r;
}

/* ---- push and commit (with build-tag injection) ------------------------------------------ */

static bool has_tag(const brr_str *tags, size_t n, const char *tag) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(tags[i].s, tag) == 0) return true;
  return false;
}

/* "repo[:tag]": the tag is what follows the last ':' after the last '/', so a registry port
 * (host:5000/img) stays in the repository. */
static bool parse_push_str(brr_schk *c, const brr_config *cfg, const brr_value *v, const char *path,
                           brr_pushspec *ps) {
  const char *s = v->u.s.ptr;
  const char *slash = strrchr(s, '/');
  const char *colon = strrchr(slash ? slash : s, ':');
  if (!*s || colon == s) {
    brr_schk_error(c, v, path, "the image repository is empty");
    return false;
  }
  if (colon && !colon[1]) {
    brr_schk_error(c, v, path, "'%s' has an empty tag after ':'", s);
    return false;
  }
  ps->repository = (brr_str){colon ? brr_arena_strndup(c->a, s, (size_t)(colon - s)) : s, v->mark};
  brr_str *tags = brr_arena_alloc(c->a, 2 * sizeof(brr_str));
  size_t n = 0;
  if (colon) tags[n++] = (brr_str){colon + 1, v->mark};
  if (!has_tag(tags, n, cfg->build_docker_tag)) tags[n++] = (brr_str){cfg->build_docker_tag, v->mark};
  ps->tags = (brr_strlist){tags, n};
  ps->add_build_tag = true;
  return true;
}

static bool parse_push_map(brr_schk *c, const brr_config *cfg, const brr_value *v, const char *path,
                           brr_pushspec *ps) {
  size_t before = c->n_errors;
  brr_schk_keys(c, v, path, PUSH_KEYS, BRR_ARRAY_LEN(PUSH_KEYS), "a push or commit entry");
  if (brr_schk_required(c, v, path, "repository")) {
    CHK(brr_schk_str, v, "repository", &ps->repository);
    if (ps->repository.s && !*ps->repository.s)
      brr_schk_error(c, G(v, "repository"), P("repository"), "the image repository is empty");
  }
  brr_tri add;
  CHK(brr_schk_bool, v, "add_build_tag", &add);
  ps->add_build_tag = add != BRR_FALSE;
  brr_strlist user;
  const brr_value *tv = G(v, "tags");
  brr_schk_strlist(c, tv, P("tags"), &user);
  brr_str *tags = brr_arena_alloc(c->a, (user.n + 1) * sizeof(brr_str));
  size_t n = 0;
  for (size_t i = 0; i < user.n; i++) tags[n++] = user.v[i];
  if (ps->add_build_tag && !has_tag(tags, n, cfg->build_docker_tag))
    tags[n++] = (brr_str){cfg->build_docker_tag, v->mark};
  ps->tags = (brr_strlist){tags, n};
  if (n == 0 && before == c->n_errors)
    brr_schk_error(c, tv ? tv : v, P("tags"), "needs at least one tag when add_build_tag is false");
  const brr_value *scan = G(v, "security-scan");
  if (scan && scan->type != BRR_VAL_NULL) {
    const char *sp = P("security-scan");
    if (brr_schk_keys(c, scan, sp, SCAN_KEYS, BRR_ARRAY_LEN(SCAN_KEYS), "security-scan")) {
      brr_tri e;
      brr_schk_bool(c, G(scan, "enabled"), brr_schk_path(c, sp, "enabled"), &e);
      brr_schk_str(c, G(scan, "scanner"), brr_schk_path(c, sp, "scanner"), NULL);
      brr_schk_str(c, G(scan, "version"), brr_schk_path(c, sp, "version"), NULL);
      const brr_value *cf = G(scan, "config");
      if (cf && cf->type != BRR_VAL_NULL && cf->type != BRR_VAL_MAP)
        brr_schk_expected(c, cf, brr_schk_path(c, sp, "config"), "a map");
      brr_schk_float(c, G(scan, "max-score-threshold"), brr_schk_path(c, sp, "max-score-threshold"), NULL, NULL);
      ps->security_scan = scan;
    }
  }
  return before == c->n_errors;
}

static void parse_pushlist(brr_schk *c, const brr_config *cfg, const brr_value *v, const char *path,
                           bool push, brr_pushspec **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (!v || v->type == BRR_VAL_NULL) return;
  const brr_value *const *items = (const brr_value *const *)&v;
  size_t n = 1;
  bool listed = v->type == BRR_VAL_LIST;
  if (listed) {
    items = (const brr_value *const *)v->u.list.v;
    n = v->u.list.n;
  }
  brr_pushspec *specs = brr_arena_alloc(c->a, (n + 1) * sizeof(brr_pushspec));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const brr_value *it = items[i];
    const char *sub = listed ? brr_schk_index(c, path, i) : path;
    brr_pushspec *ps = &specs[k];
    memset(ps, 0, sizeof *ps);
    ps->mark = it->mark;
    ps->push = push;
    bool ok;
    if (it->type == BRR_VAL_STR) {
      ok = parse_push_str(c, cfg, it, sub, ps);
    } else if (it->type == BRR_VAL_MAP) {
      ok = parse_push_map(c, cfg, it, sub, ps);
    } else {
      brr_schk_expected(c, it, sub, listed ? "an image repository string or a map"
                                           : "an image repository string, a map or a list of them");
      ok = false;
    }
    if (ok) k++;
  }
  *out = specs;
  *n_out = k;
}

/* ---- remote and pypi-push (validated; brr does not run them) ------------------------------ */

static brr_remote *parse_remote(brr_schk *c, const brr_value *v, const char *path) {
  if (!v || v->type == BRR_VAL_NULL) return NULL;
  if (!brr_schk_keys(c, v, path, REMOTE_KEYS, BRR_ARRAY_LEN(REMOTE_KEYS), "remote")) return NULL;
  brr_remote *r = brr_arena_alloc(c->a, sizeof *r);
  if (brr_schk_required(c, v, path, "host")) CHK(brr_schk_str, v, "host", &r->host);
  if (brr_schk_required(c, v, path, "cmd")) CHK(brr_schk_str, v, "cmd", &r->cmd);
  CHK(parse_artifacts, v, "artifacts", &r->artifacts);
  return r;
}

static void parse_pypi(brr_schk *c, const brr_value *v, const char *path, brr_step *st) {
  if (!v || v->type == BRR_VAL_NULL) return;
  const brr_value *const *items = (const brr_value *const *)&v;
  size_t n = 1;
  bool listed = v->type == BRR_VAL_LIST;
  if (listed) {
    items = (const brr_value *const *)v->u.list.v;
    n = v->u.list.n;
  }
  st->pypi_push = brr_arena_alloc(c->a, (n + 1) * sizeof(brr_pypi_push));
  for (size_t i = 0; i < n; i++) {
    const brr_value *it = items[i];
    const char *sub = listed ? brr_schk_index(c, path, i) : path;
    brr_pypi_push *pp = &st->pypi_push[st->n_pypi_push];
    memset(pp, 0, sizeof *pp);
    pp->mark = it->mark;
    if (it->type == BRR_VAL_STR && *it->u.s.ptr) {
      pp->repository = (brr_str){it->u.s.ptr, it->mark};
    } else if (it->type == BRR_VAL_MAP) {
      size_t before = c->n_errors;
      brr_schk_keys(c, it, sub, PYPI_KEYS, BRR_ARRAY_LEN(PYPI_KEYS), "pypi-push");
      if (brr_schk_required(c, it, sub, "repository"))
        brr_schk_str(c, G(it, "repository"), brr_schk_path(c, sub, "repository"), &pp->repository);
      brr_schk_str(c, G(it, "username"), brr_schk_path(c, sub, "username"), &pp->username);
      brr_schk_str(c, G(it, "password"), brr_schk_path(c, sub, "password"), &pp->password);
      brr_tri skip;
      brr_schk_bool(c, G(it, "skip_existing"), brr_schk_path(c, sub, "skip_existing"), &skip);
      pp->skip_existing = skip == BRR_TRUE;
      if (before != c->n_errors) continue;
    } else {
      brr_schk_expected(c, it, sub, "a repository name or a map");
      continue;
    }
    st->n_pypi_push++;
  }
}

/* ---- a step ---------------------------------------------------------------------------- */

/* brr's `inputs:` (docs/incremental.md): globs relative to the build dir, each checked as the
 * source hash will compile it, the error at the glob itself. */
static void parse_inputs(brr_schk *c, const brr_value *v, const char *path, brr_step *st) {
  if (!brr_schk_strlist(c, v, path, &st->inputs)) return;
  for (size_t i = 0; i < st->inputs.n; i++) {
    const char *g = st->inputs.v[i].s;
    char *why = brr_incr_globs_check(&g, 1, NULL);
    if (why) {
      brr_schk_error_mark(c, st->inputs.v[i].mark, path, "%s", why);
      free(why);
    }
  }
}

void brr_schema_step(brr_schk *c, brr_config *cfg, const brr_value *key, const brr_value *node,
                     brr_step *st) {
  const char *path = brr_schk_path(c, "steps", key->u.s.ptr);
  st->name = (brr_str){key->u.s.ptr, key->mark};
  st->node = node;
  if (!node || node->type == BRR_VAL_NULL) {
    brr_schk_error(c, key, path, "a step needs a map of tasks (build, run, push, commit, ...)");
    return;
  }
  if (!brr_schk_keys(c, node, path, BRR_STEP_KEYS, BRR_N_STEP_KEYS, "a step")) return;
  st->build = brr_schema_build(c, cfg, node, "build", PIF(node, "build"));
  st->run = parse_run(c, cfg, G(node, "run"), PIF(node, "run"));
  CHKC(parse_pushlist, node, "push", true, &st->push, &st->n_push);
  CHKC(parse_pushlist, node, "commit", false, &st->commit, &st->n_commit);
  st->remote = parse_remote(c, G(node, "remote"), PIF(node, "remote"));
  CHK(parse_pypi, node, "pypi-push", st);
  CHK(brr_schk_strlist, node, "depends", &st->depends);
  CHK(parse_inputs, node, "inputs", st);
  CHK(brr_schk_bool, node, "incremental", &st->incremental);
  bool any = false;
  for (size_t i = 0; i < node->u.map.n; i++) {
    const brr_value *k = node->u.map.v[i].key;
    any |= k->type == BRR_VAL_STR && strcmp(k->u.s.ptr, "depends") != 0 &&
           strcmp(k->u.s.ptr, "inputs") != 0 && strcmp(k->u.s.ptr, "incremental") != 0 &&
           node->u.map.v[i].val->type != BRR_VAL_NULL;
  }
  if (!any) brr_diag_warn(c->d, node->mark, path, "the step has no task: it does nothing");
}

/* ---- the whole file ------------------------------------------------------------------------ */

/* A step name becomes a directory below the results dir and a log file name: one that could
 * reach outside it is refused before anything runs (buildrunner has no rule; brr must be
 * safe). Returns the reason, or NULL when the name is fine. */
static const char *unsafe_step_name(const brr_value *key) {
  const char *s = key->u.s.ptr;
  if (strlen(s) != key->u.s.len) return "holds a NUL byte";
  if (s[0] == '/') return "is an absolute path";
  for (const char *p = s;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0) return "has an empty path component";
    if (n == 2 && p[0] == '.' && p[1] == '.') return "has a \"..\" path component";
    if (!slash) return NULL;
    p = slash + 1;
  }
}

size_t brr_schema_project(brr_config *cfg, brr_diags *d) {
  brr_schk ck = {cfg->arena, d, 0, NULL};
  brr_schk *c = &ck;
  const brr_value *root = cfg->root;
  const char *path = "";
  cfg->use_legacy_builder = true;
  if (!brr_schk_keys(c, root, "", BRR_TOP_KEYS, BRR_N_TOP_KEYS, "the top level")) return c->n_errors;
  const brr_value *redir = G(root, "redirect");
  if (redir && redir->type != BRR_VAL_NULL)
    brr_schk_expected(c, redir, "redirect", "a file name");
  brr_tri legacy;
  CHK(brr_schk_bool, root, "use-legacy-builder", &legacy);
  cfg->use_legacy_builder = legacy != BRR_FALSE;
  brr_schk_float(c, G(root, "version"), P("version"), &cfg->has_version, &cfg->version);

  const brr_value *steps = G(root, "steps");
  if (!steps) {
    brr_schk_error(c, root, "steps", "missing required key 'steps'");
    return c->n_errors;
  }
  if (steps->type != BRR_VAL_MAP) {
    brr_schk_expected(c, steps, "steps", "a map of step names to steps");
    return c->n_errors;
  }
  if (steps->u.map.n == 0) {
    brr_schk_error(c, steps, "steps", "The \"steps\" configuration was not provided");
    return c->n_errors;
  }
  cfg->steps = brr_arena_alloc(cfg->arena, steps->u.map.n * sizeof(brr_step));
  for (size_t i = 0; i < steps->u.map.n; i++) {
    const brr_map_entry *e = &steps->u.map.v[i];
    if (e->key->type != BRR_VAL_STR || !*e->key->u.s.ptr) {
      brr_buf k = BRR_BUF_INIT;
      brr_val_pystr(e->key, &k);
      brr_schk_error(c, e->key, "steps", "step name %s must be a non-empty string (quote it)", k.data);
      brr_buf_free(&k);
      continue;
    }
    const char *why = unsafe_step_name(e->key);
    if (why) {
      brr_buf k = BRR_BUF_INIT;
      brr_val_pyrepr(e->key, &k);
      brr_schk_error(c, e->key, "steps", "step name %s %s: it names the step's results directory "
                     "and log, which must stay inside the results directory", k.data, why);
      brr_buf_free(&k);
      continue;
    }
    brr_step *st = &cfg->steps[cfg->n_steps++];
    st->index = cfg->n_steps - 1;
    /* a path per key checked was most of what checking allocated (11 MB at 10,000 steps),
     * and only diagnostics use them (they copy): a step's paths go when it is checked */
    c->paths = brr_arena_new();
    brr_schema_step(c, cfg, e->key, e->val, st);
    brr_arena_free(c->paths);
    c->paths = NULL;
  }
  if (c->n_errors == 0) brr_schema_cross(c, cfg);
  return c->n_errors;
}
