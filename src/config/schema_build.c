/* Schema of `build` (steps, services, post-build) and of the keys run steps and services
 * share (spec §2.2), into the typed model. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "schema_keys.h"

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* build_dir/p, real path when it exists, else lexically normalised (arena). */
static char *resolve(brr_schk *c, const char *build_dir, const char *p) {
  char *exp = brr_path_expanduser(p);
  char *joined = brr_path_join(build_dir, exp);
  char *real = brr_path_realpath(joined);
  char *norm = real ? real : brr_path_normalize(joined);
  char *r = brr_arena_strdup(c->a, norm);
  if (real) free(real);
  else free(norm);
  free(joined);
  free(exp);
  return r;
}

/* image references a cache_from string names: "ref=" inside a buildx cache spec, else it all */
static void cache_ref_from_str(brr_schk *c, const brr_value *v, brr_str *out) {
  const char *s = v->u.s.ptr;
  const char *ref = strstr(s, "ref=");
  if (strchr(s, '=') && ref && (ref == s || ref[-1] == ',')) {
    const char *end = strchr(ref, ',');
    size_t n = end ? (size_t)(end - ref - 4) : strlen(ref + 4);
    *out = (brr_str){brr_arena_strndup(c->a, ref + 4, n), v->mark};
  } else if (!strchr(s, '=')) {
    *out = (brr_str){s, v->mark};
  } else {
    *out = (brr_str){NULL, v->mark};
  }
}

static bool is_strmap(const brr_value *v) {
  if (!v || v->type != BRR_VAL_MAP) return false;
  for (size_t i = 0; i < v->u.map.n; i++)
    if (v->u.map.v[i].key->type != BRR_VAL_STR || v->u.map.v[i].val->type != BRR_VAL_STR) return false;
  return true;
}

/* cache_from: str | map[str,str] | list[map[str,str]] | list[str] */
static void parse_cache_from(brr_schk *c, const brr_value *v, const char *path, brr_build *b) {
  b->cache_from = v;
  if (!v || v->type == BRR_VAL_NULL) {
    b->cache_from = NULL;
    return;
  }
  brr_str *refs = NULL;
  size_t n = 0;
  if (v->type == BRR_VAL_STR) {
    refs = brr_arena_alloc(c->a, sizeof(brr_str));
    cache_ref_from_str(c, v, &refs[0]);
    n = refs[0].s ? 1 : 0;
  } else if (is_strmap(v)) {
    const brr_value *ref = brr_val_get(v, "ref");
    if (ref) {
      refs = brr_arena_alloc(c->a, sizeof(brr_str));
      refs[n++] = (brr_str){ref->u.s.ptr, ref->mark};
    }
  } else if (v->type == BRR_VAL_LIST) {
    bool all_str = true, all_map = true;
    for (size_t i = 0; i < v->u.list.n; i++) {
      all_str &= v->u.list.v[i]->type == BRR_VAL_STR;
      all_map &= is_strmap(v->u.list.v[i]);
    }
    if (!all_str && !all_map) {
      brr_schk_error(c, v, path, "expected a string, a map of strings, or a list of only strings or only maps");
      return;
    }
    refs = brr_arena_alloc(c->a, (v->u.list.n + 1) * sizeof(brr_str));
    for (size_t i = 0; i < v->u.list.n; i++) {
      const brr_value *it = v->u.list.v[i];
      if (it->type == BRR_VAL_STR) {
        cache_ref_from_str(c, it, &refs[n]);
        if (refs[n].s) n++;
      } else {
        const brr_value *ref = brr_val_get(it, "ref");
        if (ref) refs[n++] = (brr_str){ref->u.s.ptr, ref->mark};
      }
    }
  } else {
    brr_schk_expected(c, v, path, "a string, a map of strings, or a list");
    return;
  }
  b->cache_from_refs = (brr_strlist){refs, n};
}

static void parse_inject(brr_schk *c, const brr_value *v, const char *path, brr_build *b) {
  brr_kvlist kv;
  if (!brr_schk_map(c, v, path, brr_schk_val_opt_str, &kv)) return;
  b->inject = brr_arena_alloc(c->a, (kv.n + 1) * sizeof(brr_inject));
  b->n_inject = kv.n;
  for (size_t i = 0; i < kv.n; i++) {
    b->inject[i].glob = kv.v[i].key;
    b->inject[i].dest = (brr_str){kv.v[i].val ? kv.v[i].val->u.s.ptr : NULL,
                                  kv.v[i].val ? kv.v[i].val->mark : kv.v[i].key.mark};
  }
}

static void resolve_dockerfile(brr_schk *c, const brr_config *cfg, brr_build *b) {
  if (b->dockerfile.s) {
    /* an existing file (relative to the build dir) is a path; anything else is the text.
     * Text with a newline is never a path: no resolving (a realpath per inline Dockerfile
     * was 8 % of --graph at 10,000 steps). */
    char *abs = strchr(b->dockerfile.s, '\n') ? NULL : resolve(c, cfg->build_dir, b->dockerfile.s);
    if (abs && is_file(abs)) {
      b->dockerfile_abs = abs;
    } else {
      b->dockerfile_inline = true;
    }
    return;
  }
  for (size_t i = 0; i < b->n_inject; i++) {
    const char *dest = b->inject[i].dest.s;
    if (dest && (strcmp(dest, "Dockerfile") == 0 || strcmp(dest, "/Dockerfile") == 0 ||
                 strcmp(dest, "./Dockerfile") == 0))
      return;  /* an injected Dockerfile: the build task finds it in the context */
  }
  if (b->path_abs) {
    char *df = brr_path_join(b->path_abs, "Dockerfile");
    if (is_file(df)) b->dockerfile_abs = brr_arena_strdup(c->a, df);
    free(df);
  }
}

brr_build *brr_schema_build(brr_schk *c, const brr_config *cfg, const brr_value *parent,
                            const char *key, const char *path) {
  const brr_value *node = brr_val_get(parent, key);
  if (!node || node->type == BRR_VAL_NULL) return NULL;
  brr_build *b = brr_arena_alloc(c->a, sizeof *b);
  b->node = node;
  b->pull = BRR_UNSET;
  if (node->type == BRR_VAL_STR) {
    b->path = (brr_str){node->u.s.ptr, node->mark};
  } else {
    if (!brr_schk_keys(c, node, path, BRR_BUILD_KEYS, BRR_N_BUILD_KEYS, "build")) return NULL;
    brr_schk_str(c, brr_val_get(node, "path"), brr_schk_path(c, path, "path"), &b->path);
    brr_schk_str(c, brr_val_get(node, "dockerfile"), brr_schk_path(c, path, "dockerfile"), &b->dockerfile);
    brr_schk_str(c, brr_val_get(node, "target"), brr_schk_path(c, path, "target"), &b->target);
    brr_schk_bool(c, brr_val_get(node, "pull"), brr_schk_path(c, path, "pull"), &b->pull);
    brr_schk_str(c, brr_val_get(node, "platform"), brr_schk_path(c, path, "platform"), &b->platform);
    const brr_value *pl = brr_val_get(node, "platforms");
    const char *pl_path = brr_schk_path(c, path, "platforms");
    if (brr_schk_strlist(c, pl, pl_path, &b->platforms) && pl && pl->type == BRR_VAL_LIST &&
        pl->u.list.n == 0)
      brr_schk_error(c, pl, pl_path, "must list at least one platform");
    brr_tri nc;
    brr_schk_bool(c, brr_val_get(node, "no-cache"), brr_schk_path(c, path, "no-cache"), &nc);
    b->no_cache = nc == BRR_TRUE;
    parse_inject(c, brr_val_get(node, "inject"), brr_schk_path(c, path, "inject"), b);
    brr_schk_map(c, brr_val_get(node, "buildargs"), brr_schk_path(c, path, "buildargs"), NULL, &b->buildargs);
    parse_cache_from(c, brr_val_get(node, "cache_from"), brr_schk_path(c, path, "cache_from"), b);
    const brr_value *ct = brr_val_get(node, "cache_to");
    if (ct && ct->type != BRR_VAL_NULL && ct->type != BRR_VAL_STR && !is_strmap(ct))
      brr_schk_expected(c, ct, brr_schk_path(c, path, "cache_to"), "a string or a map of strings");
    b->cache_to = ct && ct->type != BRR_VAL_NULL ? ct : NULL;
    brr_schk_str(c, brr_val_get(node, "import"), brr_schk_path(c, path, "import"), &b->import);
    brr_schk_strlist(c, brr_val_get(node, "secrets"), brr_schk_path(c, path, "secrets"), &b->secrets);
  }
  if (!b->path.s && !b->dockerfile.s && !b->n_inject && !b->import.s) {
    brr_schk_error_mark(c, brr_schk_key_mark(parent, key, node->mark), path,
                        "a build needs a path, a dockerfile, inject or import");
    return b;
  }
  if (b->path.s) {
    b->path_abs = resolve(c, cfg->build_dir, b->path.s);
    if (!is_dir(b->path_abs))
      brr_diag_warn(c->d, b->path.mark, brr_schk_path(c, path, "path"),
                    "build context '%s' does not exist (yet): looked for %s", b->path.s, b->path_abs);
  }
  resolve_dockerfile(c, cfg, b);
  return b;
}

/* ---- keys shared by run steps and services -------------------------------------------------- */

static bool val_port(brr_schk *c, const brr_value *v, const char *path) {
  if (!v || v->type == BRR_VAL_NULL) return true;
  int64_t i;
  if (!brr_lax_int(v, &i)) {
    brr_schk_expected(c, v, path, "a port number or null");
    return false;
  }
  return true;
}

/* ports: map int -> int or null; keys kept as text */
static void parse_ports(brr_schk *c, const brr_value *v, const char *path, brr_kvlist *out) {
  *out = (brr_kvlist){NULL, 0};
  if (!v || v->type == BRR_VAL_NULL) return;
  if (v->type != BRR_VAL_MAP) {
    brr_schk_expected(c, v, path, "a map of container port to host port");
    return;
  }
  brr_kv *items = brr_arena_alloc(c->a, (v->u.map.n + 1) * sizeof(brr_kv));
  size_t n = 0;
  for (size_t i = 0; i < v->u.map.n; i++) {
    const brr_map_entry *e = &v->u.map.v[i];
    int64_t port;
    if (!brr_lax_int(e->key, &port)) {
      brr_buf k = BRR_BUF_INIT;
      brr_val_pystr(e->key, &k);
      brr_schk_error(c, e->key, path, "port '%s' is not a port number", k.data);
      brr_buf_free(&k);
      continue;
    }
    const char *sub = brr_arena_printf(c->a, "%s.%lld", path, (long long)port);
    if (!val_port(c, e->val, sub)) continue;
    items[n++] = (brr_kv){{brr_arena_printf(c->a, "%lld", (long long)port), e->key->mark},
                          e->val && e->val->type == BRR_VAL_NULL ? NULL : e->val};
  }
  *out = (brr_kvlist){items, n};
}

static void parse_mem_limit(brr_schk *c, const brr_value *v, const char *path, brr_runlike *r) {
  if (!v || v->type == BRR_VAL_NULL) return;
  int64_t i;
  if (v->type == BRR_VAL_STR || (v->type != BRR_VAL_BOOL && brr_lax_int(v, &i))) {
    r->mem_limit = v;
    return;
  }
  brr_schk_expected(c, v, path, "a string (512m, 1g) or a number of bytes");
}

void brr_schema_runlike(brr_schk *c, const brr_value *node, const char *path, brr_runlike *r) {
  r->node = node;
  r->pull = r->systemd = r->systemd_cgroup2 = BRR_UNSET;
#define P(k) brr_schk_path(c, path, k)
#define G(k) brr_val_get(node, k)
/* A checker of a key that may be absent: the key's path is made only when the key is there
 * (these checkers do nothing with it otherwise; making every path was a tenth of --graph). */
#define CHK(fn, k, ...)                                                     \
  do {                                                                      \
    const brr_value *v_ = G(k);                                             \
    fn(c, v_, v_ ? brr_schk_path(c, path, k) : path, __VA_ARGS__);          \
  } while (0)
  CHK(brr_schk_str, "image", &r->image);
  CHK(brr_schk_str, "cmd", &r->cmd);
  CHK(brr_schk_map, "provisioners", brr_schk_val_str, &r->provisioners);
  CHK(brr_schk_str, "shell", &r->shell);
  CHK(brr_schk_str, "cwd", &r->cwd);
  CHK(brr_schk_str, "user", &r->user);
  CHK(brr_schk_str, "hostname", &r->hostname);
  CHK(brr_schk_strlist, "dns", &r->dns);
  CHK(brr_schk_str, "dns_search", &r->dns_search);
  CHK(brr_schk_map, "extra_hosts", brr_schk_val_str, &r->extra_hosts);
  CHK(brr_schk_env, "env", &r->env);
  CHK(brr_schk_map, "files", brr_schk_val_str, &r->files);
  CHK(brr_schk_strlist, "volumes_from", &r->volumes_from);
  CHK(parse_ports, "ports", &r->ports);
  CHK(brr_schk_bool, "pull", &r->pull);
  CHK(brr_schk_bool, "systemd", &r->systemd);
  CHK(brr_schk_bool, "systemd_cgroup2", &r->systemd_cgroup2);
  CHK(brr_schk_strlist, "containers", &r->containers);
  CHK(brr_schk_map, "caches", brr_schk_val_str_or_strlist, &r->caches);
  CHK(parse_mem_limit, "mem-limit", r);
  CHK(brr_schk_int, "cpu-shares", &r->has_cpu_shares, &r->cpu_shares);
  CHK(brr_schk_int, "cpu-period", &r->has_cpu_period, &r->cpu_period);
  CHK(brr_schk_int, "cpu-quota", &r->has_cpu_quota, &r->cpu_quota);
#undef P
#undef G
#undef CHK
}
