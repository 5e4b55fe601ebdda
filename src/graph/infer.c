/* Edges between steps, inferred from the whole file: explicit depends, images one step
 * produces and another uses, and /artifacts/<step>/ mentions. The result is a list of
 * step-level edges (compile.h); emit.c turns them into node edges for the selected steps. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

void brr_graph__add_sedge(compiler *c, sedge e) { BRR_VEC_PUSH(c->se, c->n_se, c->cap_se, e); }

static char *path_at(const char *s, const char *name) { return brr_xasprintf("steps.%s.%s", s, name); }

/* ---- depends ------------------------------------------------------------------------ */

static void unknown_dep(compiler *c, const brr_step *st, const brr_str *dep) {
  size_t n = c->cfg->n_steps;
  const char **cands = brr_arena_alloc(c->tmp, (n ? n : 1) * sizeof *cands);
  for (size_t i = 0; i < n; i++) cands[i] = c->cfg->steps[i].name.s;
  const char *best = brr_suggest(dep->s, cands, n);
  char *path = path_at(st->name.s, "depends");
  if (best)
    brr_diag_error(c->d, dep->mark, path, "step '%s' depends on '%s', which is not a step; did you mean '%s'?",
                   st->name.s, dep->s, best);
  else
    brr_diag_error(c->d, dep->mark, path, "step '%s' depends on '%s', which is not a step", st->name.s, dep->s);
  free(path);
  c->err = BRR_ECONFIG;
}

static void infer_depends(compiler *c) {
  const brr_config *cfg = c->cfg;
  bool v2 = cfg->has_version && cfg->version >= 2.0;
  for (size_t i = 0; i < cfg->n_steps; i++) {
    const brr_step *st = &cfg->steps[i];
    for (size_t j = 0; j < st->depends.n; j++) {
      const brr_str *dep = &st->depends.v[j];
      size_t k;
      if (!dep->s || !brr_strmap_get(&c->names, dep->s, &k)) {
        unknown_dep(c, st, dep);
        continue;
      }
      if (k == i) {
        char *path = path_at(st->name.s, "depends");
        brr_diag_error(c->d, dep->mark, path, "step '%s' depends on itself (dependency cycle: %s -> %s)",
                       st->name.s, st->name.s, st->name.s);
        free(path);
        c->err = BRR_ECONFIG;
        continue;
      }
      brr_graph__add_sedge(c, (sedge){k, i, ROLE_EXIT, ROLE_ENTRY, BRR_EDGE_DEPENDS, false, false, dep->mark, NULL});
    }
    if (st->depends.n && !v2) {
      char *path = path_at(st->name.s, "depends");
      char ver[40] = "";
      if (cfg->has_version) brr_fmt_pyfloat(cfg->version, ver, sizeof ver);
      brr_diag_warn(c->d, st->depends.v[0].mark, path,
                    "brr honours depends, but buildrunner ignores it %s%s (it needs version: 2.0 or later)",
                    cfg->has_version ? "with version " : "when the file has no version", ver);
      free(path);
    }
  }
}

/* ---- artifacts ------------------------------------------------------------------------ */

static bool name_end(char ch) {
  return ch == '/' || isspace((unsigned char)ch) || strchr("\"'`;&|()<>$*?[]{},=", ch) != NULL;
}

static void artifact_edge(compiler *c, size_t step, role r, const char *name, size_t n, brr_mark mark) {
  char buf[256];
  char *key = n < sizeof buf ? buf : brr_xmalloc(n + 1);
  memcpy(key, name, n);
  key[n] = 0;
  size_t k;
  if (brr_strmap_get(&c->names, key, &k) && k != step) {
    const char *detail = brr_arena_printf(c->tmp, "/artifacts/%s/", key);
    brr_graph__add_sedge(c, (sedge){k, step, ROLE_RUN, (unsigned char)r, BRR_EDGE_ARTIFACTS, false, false, mark, detail});
  }
  if (key != buf) free(key);
}

/* Every "/artifacts/<step>" in `text` (the results dir is mounted there read-only). */
static void scan_artifacts(compiler *c, size_t step, role r, const char *text, size_t len, brr_mark mark) {
  static const char needle[] = "/artifacts/";
  const size_t nn = sizeof needle - 1;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *hit = memmem(p, (size_t)(end - p), needle, nn);
    if (!hit) break;
    const char *name = hit + nn, *q = name;
    while (q < end && !name_end(*q)) q++;
    if (q > name) artifact_edge(c, step, r, name, (size_t)(q - name), mark);
    p = hit + nn;
  }
}

static void scan_str(compiler *c, size_t step, role r, const brr_str *s) {
  if (s && s->s) scan_artifacts(c, step, r, s->s, strlen(s->s), s->mark);
}

/* A path relative to the build dir inside the results dir (files keys, inject globs). */
static void scan_results_path(compiler *c, size_t step, role r, const brr_str *s) {
  if (!s->s || !c->results_rel) return;
  const char *p = s->s;
  if (p[0] == '.' && p[1] == '/') p += 2;
  size_t n = strlen(c->results_rel);
  if (strncmp(p, c->results_rel, n) != 0 || p[n] != '/') return;
  const char *name = p + n + 1, *q = name;
  while (*q && *q != '/') q++;
  if (q > name) artifact_edge(c, step, r, name, (size_t)(q - name), s->mark);
}

/* ---- image consumers -------------------------------------------------------------------- */

typedef struct site {
  size_t step;
  unsigned char role;
  bool base;                /* FROM / COPY --from: a multi-platform base when both are MP */
  const char *ref;          /* as written (substituted) */
  const char *norm;
  brr_mark mark;
} site;

typedef struct sites {
  site *v;
  size_t n, cap;
} sites;

static void add_site(compiler *c, sites *ss, size_t step, role r, bool base, const char *ref, brr_mark m) {
  if (!ref || !*ref) return;
  /* `ref` lives in the config or in c->tmp, both of which outlive the sites */
  char *norm = brr_image_ref_normalize(ref);
  site s = {step, (unsigned char)r, base, ref, brr_arena_strdup(c->tmp, norm), m};
  free(norm);
  BRR_VEC_PUSH(ss->v, ss->n, ss->cap, s);
}

static size_t build_args(compiler *c, const brr_build *b, brr_build_arg **out) {
  size_t n = b->buildargs.n + 1;
  brr_build_arg *args = brr_arena_alloc(c->tmp, n * sizeof *args);
  /* first, so it wins: buildrunner always sets DOCKER_REGISTRY */
  args[0].name = "DOCKER_REGISTRY";
  args[0].value = c->cfg->global.docker_registry ? c->cfg->global.docker_registry : "docker.io";
  for (size_t i = 0; i < b->buildargs.n; i++) {
    brr_buf v = BRR_BUF_INIT;
    if (b->buildargs.v[i].val) brr_val_pystr(b->buildargs.v[i].val, &v);
    else brr_buf_puts(&v, "None");
    args[i + 1].name = b->buildargs.v[i].key.s;
    args[i + 1].value = brr_arena_strdup(c->tmp, brr_buf_cstr(&v));
    brr_buf_free(&v);
  }
  *out = args;
  return n;
}

/* File access goes only through the caller's brr_fs_ops (the graph is pure data). */
static int fs_read(const compiler *c, const char *path, brr_buf *out) {
  const brr_fs_ops *fs = c->opts->fs;
  return fs && fs->read_file ? fs->read_file(fs->ud, path, out) : -1;
}

static bool dir_exists(const compiler *c, const char *file) {
  const brr_fs_ops *fs = c->opts->fs;
  if (!fs || !fs->is_dir) return false;
  char *dir = brr_path_dirname(file);
  bool ok = fs->is_dir(fs->ud, dir);
  free(dir);
  return ok;
}

static void collect_build(compiler *c, sites *ss, size_t step, const brr_build *b, role r) {
  if (!b || b->import.s) return;
  for (size_t i = 0; i < b->n_inject; i++) scan_results_path(c, step, r, &b->inject[i].glob);
  for (size_t i = 0; i < b->cache_from_refs.n; i++)
    add_site(c, ss, step, r, false, b->cache_from_refs.v[i].s, b->cache_from_refs.v[i].mark);
  brr_buf text = BRR_BUF_INIT;
  const char *file = NULL;
  if (brr_graph__dockerfile(c, b, &text, &file)) {
    brr_mark dm = b->dockerfile.s ? b->dockerfile.mark : b->path.mark;
    brr_mark tm = file ? (brr_mark){file, 0, 0} : dm;
    scan_artifacts(c, step, r, brr_buf_cstr(&text), text.len, tm);
    brr_build_arg *args;
    size_t n_args = build_args(c, b, &args);
    brr_dockerfile_image *im;
    size_t n = brr_dockerfile_images(brr_buf_cstr(&text), text.len, args, n_args, c->tmp, &im);
    /* an inline block scalar's mark is its `|` line: the text's line k is k lines below */
    bool block = !file && memchr(brr_buf_cstr(&text), '\n', text.len) != NULL;
    for (size_t i = 0; i < n; i++) {
      brr_mark m = file ? (brr_mark){file, im[i].line, 1}
                        : (brr_mark){dm.file, dm.line + (block && dm.line ? im[i].line : 0), block ? 0 : dm.col};
      add_site(c, ss, step, r, true, im[i].ref, m);
    }
  } else if (file && dir_exists(c, file)) {   /* a missing context was already reported */
    /* found by --graph, not only when the build starts; a step that runs earlier may still
     * write it, so this is a warning */
    brr_mark dm = b->dockerfile.s ? b->dockerfile.mark : b->path.mark;
    brr_diag_warn(c->d, dm, NULL, "step '%s': Dockerfile '%s' does not exist (yet): looked for %s",
                  c->cfg->steps[step].name.s, b->dockerfile.s && !b->dockerfile_inline ? b->dockerfile.s : "Dockerfile",
                  file);
  }
  brr_buf_free(&text);
}

static void collect_runlike(compiler *c, sites *ss, size_t step, const brr_runlike *rl) {
  add_site(c, ss, step, ROLE_RUN, false, rl->image.s, rl->image.mark);
  scan_str(c, step, ROLE_RUN, &rl->cmd);
  scan_str(c, step, ROLE_RUN, &rl->cwd);
  for (size_t i = 0; i < rl->cmds.n; i++) scan_str(c, step, ROLE_RUN, &rl->cmds.v[i]);
  for (size_t i = 0; i < rl->env.n; i++) {
    const char *v = brr_val_cstr(rl->env.v[i].val);
    if (v) scan_artifacts(c, step, ROLE_RUN, v, strlen(v), rl->env.v[i].val->mark);
  }
  for (size_t i = 0; i < rl->files.n; i++) {
    scan_str(c, step, ROLE_RUN, &rl->files.v[i].key);
    scan_results_path(c, step, ROLE_RUN, &rl->files.v[i].key);
    const char *v = brr_val_cstr(rl->files.v[i].val);
    if (v) scan_artifacts(c, step, ROLE_RUN, v, strlen(v), rl->files.v[i].val->mark);
  }
  for (size_t i = 0; i < rl->provisioners.n; i++) {
    const char *v = brr_val_cstr(rl->provisioners.v[i].val);
    if (!v) continue;
    brr_mark m = rl->provisioners.v[i].val->mark;
    scan_artifacts(c, step, ROLE_RUN, v, strlen(v), m);
    /* shell provisioners are scripts (relative to the cwd, as buildrunner reads them) */
    if (!brr_streq(rl->provisioners.v[i].key.s, "shell")) continue;
    brr_buf script = BRR_BUF_INIT;
    if (fs_read(c, v, &script) == 0) scan_artifacts(c, step, ROLE_RUN, brr_buf_cstr(&script), script.len, m);
    brr_buf_free(&script);
  }
}

static void collect_step(compiler *c, sites *ss, size_t i) {
  const brr_step *st = &c->cfg->steps[i];
  collect_build(c, ss, i, st->build, ROLE_BUILD);
  if (!st->run) return;
  collect_runlike(c, ss, i, &st->run->c);
  for (size_t k = 0; k < st->run->n_services; k++) {
    const brr_service *sv = &st->run->services[k];
    collect_runlike(c, ss, i, &sv->c);
    collect_build(c, ss, i, sv->build, ROLE_RUN);
  }
  collect_build(c, ss, i, st->run->post_build, ROLE_POST);
}

/* ---- producers and binding ---------------------------------------------------------------- */

typedef struct producers {
  size_t *steps;            /* producing steps, file order, each once */
  brr_mark *marks;
  size_t n, cap;
  const char *written;
} producers;

static void add_producer(compiler *c, brr_strmap *map, producers **pv, size_t *n_pv, size_t *cap_pv,
                         size_t step, const char *ref, brr_mark mark) {
  char *norm = brr_image_ref_normalize(ref);
  size_t k;
  if (!brr_strmap_get(map, norm, &k)) {
    producers p = {NULL, NULL, 0, 0, brr_arena_strdup(c->tmp, ref)};
    BRR_VEC_PUSH(*pv, *n_pv, *cap_pv, p);
    k = *n_pv - 1;
    brr_strmap_put(map, brr_arena_strdup(c->tmp, norm), k);
  }
  free(norm);
  producers *p = &(*pv)[k];
  if (p->n && p->steps[p->n - 1] == step) return;
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 2;
    p->steps = brr_xrealloc(p->steps, p->cap * sizeof *p->steps);
    p->marks = brr_xrealloc(p->marks, p->cap * sizeof *p->marks);
  }
  p->steps[p->n] = step;
  p->marks[p->n++] = mark;
}

/* The producer a consumer in `step` binds to: the nearest above it, else the first. */
static size_t bind(const producers *p, size_t step) {
  size_t lo = 0, hi = p->n; /* first index with steps[i] >= step */
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (p->steps[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  return lo ? lo - 1 : 0;
}

static void bind_sites(compiler *c, const sites *ss, const brr_strmap *map, const producers *pv) {
  for (size_t i = 0; i < ss->n; i++) {
    const site *s = &ss->v[i];
    size_t k;
    if (!brr_strmap_get(map, s->norm, &k)) continue;
    const producers *p = &pv[k];
    size_t at = bind(p, s->step), from = p->steps[at];
    if (from != s->step) {
      if (s->base && s->role == ROLE_BUILD && c->si[from].mp && c->si[s->step].mp)
        brr_graph__add_sedge(c, (sedge){from, s->step, ROLE_MANIFEST, ROLE_BUILD, BRR_EDGE_PLATFORM, false, true, s->mark, s->ref});
      else
        brr_graph__add_sedge(c, (sedge){from, s->step, ROLE_COMMIT, s->role, BRR_EDGE_IMAGE, false, false, s->mark, s->ref});
    }
    /* the next producer of this reference must not overwrite it while this reader needs it */
    if (at + 1 < p->n && p->steps[at + 1] != s->step)
      brr_graph__add_sedge(c, (sedge){s->step, p->steps[at + 1], s->role, ROLE_COMMIT, BRR_EDGE_IMAGE, true, false,
                                      p->marks[at + 1], s->ref});
  }
}

static void chain_producers(compiler *c, const producers *pv, size_t n_pv) {
  for (size_t k = 0; k < n_pv; k++)
    for (size_t j = 1; j < pv[k].n; j++)
      brr_graph__add_sedge(c, (sedge){pv[k].steps[j - 1], pv[k].steps[j], ROLE_COMMIT, ROLE_COMMIT, BRR_EDGE_IMAGE,
                                      true, false, pv[k].marks[j], pv[k].written});
}

static void infer_images(compiler *c) {
  const brr_config *cfg = c->cfg;
  brr_strmap map = BRR_STRMAP_INIT;
  producers *pv = NULL;
  size_t n_pv = 0, cap_pv = 0;
  for (size_t i = 0; i < cfg->n_steps; i++) {
    const brr_step *st = &cfg->steps[i];
    for (int push = 0; push < 2; push++) {
      const brr_pushspec *specs = push ? st->push : st->commit;
      size_t n_specs = push ? st->n_push : st->n_commit;
      for (size_t j = 0; j < n_specs; j++) {
        const char **refs;
        size_t n = brr_graph__spec_refs(c, &specs[j], &refs);
        for (size_t r = 0; r < n; r++) add_producer(c, &map, &pv, &n_pv, &cap_pv, i, refs[r], specs[j].mark);
      }
    }
  }
  sites ss = {NULL, 0, 0};
  for (size_t i = 0; i < cfg->n_steps; i++) collect_step(c, &ss, i);
  bind_sites(c, &ss, &map, pv);
  chain_producers(c, pv, n_pv);
  for (size_t k = 0; k < n_pv; k++) {
    free(pv[k].steps);
    free(pv[k].marks);
  }
  free(pv);
  free(ss.v);
  brr_strmap_free(&map);
}

void brr_graph__infer(compiler *c) {
  infer_depends(c);
  infer_images(c);
}

/* ---- reading a build's Dockerfile ------------------------------------------------------------ */

static char *first_glob_match(const compiler *c, const char *pattern) {
  const brr_fs_ops *fs = c->opts->fs;
  return fs && fs->glob_first ? fs->glob_first(fs->ud, pattern) : NULL;
}

bool brr_graph__dockerfile(compiler *c, const brr_build *b, brr_buf *out, const char **file) {
  const char *base = c->cfg->build_dir ? c->cfg->build_dir : ".";
  char *path = NULL;
  for (size_t i = 0; i < b->n_inject && !path; i++) {
    const char *dest = b->inject[i].dest.s;
    if (!brr_streq(dest, "Dockerfile") && !brr_streq(dest, "/Dockerfile")) continue;
    char *pat = brr_path_join(base, b->inject[i].glob.s);
    path = first_glob_match(c, pat);
    free(pat);
  }
  if (!path && b->dockerfile_inline && b->dockerfile.s) {
    brr_buf_puts(out, b->dockerfile.s);
    *file = NULL;
    return true;
  }
  if (!path && b->dockerfile_abs) path = brr_xstrdup(b->dockerfile_abs);
  if (!path && b->dockerfile.s) path = brr_path_join(base, b->dockerfile.s);
  if (!path && (b->path_abs || b->path.s)) {
    char *dir = b->path_abs ? brr_xstrdup(b->path_abs) : brr_path_join(base, b->path.s);
    path = brr_path_join(dir, "Dockerfile");
    free(dir);
  }
  bool ok = path && fs_read(c, path, out) == 0;
  /* on failure *file names the path searched (NULL when there was none) */
  *file = path ? brr_arena_strdup(c->g->arena, path) : NULL;
  free(path);
  return ok;
}

/* ---- commit/push references ---------------------------------------------------------------- */

static char *sanitize_tag(brr_arena *a, const char *tag) {
  /* buildrunner: re.sub(r'[^-_\w.]+', '-', tag.lower()); the result is never longer */
  char *r = brr_arena_alloc(a, strlen(tag) + 1), *w = r;
  bool run = false;
  for (const unsigned char *p = (const unsigned char *)tag; *p; p++) {
    bool ok = isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p >= 0x80;
    if (ok) *w++ = (char)tolower(*p);
    else if (!run) *w++ = '-';
    run = !ok;
  }
  *w = 0;
  return r;
}

static const char *join_ref(brr_arena *a, const char *name, size_t nn, const char *tag) {
  size_t tn = strlen(tag);
  char *r = brr_arena_alloc(a, nn + tn + 2);
  memcpy(r, name, nn);
  r[nn] = ':';
  memcpy(r + nn + 1, tag, tn + 1);
  return r;
}

size_t brr_graph__spec_refs(compiler *c, const brr_pushspec *ps, const char ***out) {
  const char *repo = ps->repository.s ? ps->repository.s : "";
  const char *slash = strrchr(repo, '/');
  const char *colon = strchr(slash ? slash : repo, ':');
  char *name = brr_arena_strndup(c->tmp, repo, colon ? (size_t)(colon - repo) : strlen(repo));
  for (char *p = name; *p; p++) *p = (char)tolower((unsigned char)*p);
  size_t cap = ps->tags.n + 2, n = 0;
  const char **tags = brr_arena_alloc(c->tmp, cap * sizeof *tags);
  for (size_t i = 0; i < ps->tags.n; i++)
    if (ps->tags.v[i].s) tags[n++] = sanitize_tag(c->tmp, ps->tags.v[i].s);
  if (colon && colon[1]) {
    const char *t = sanitize_tag(c->tmp, colon + 1);
    bool dup = false;
    for (size_t i = 0; i < n; i++) dup |= strcmp(tags[i], t) == 0;
    if (!dup) tags[n++] = t;
  }
  if (n == 0) tags[n++] = "latest"; /* what `docker tag repo` means */
  const char **refs = brr_arena_alloc(c->tmp, n * sizeof *refs);
  size_t nn = strlen(name);
  for (size_t i = 0; i < n; i++) refs[i] = join_ref(c->tmp, name, nn, tags[i]);
  *out = refs;
  return n;
}

/* ---- references ---------------------------------------------------------------------------- */

char *brr_image_ref_normalize(const char *ref) {
  while (isspace((unsigned char)*ref)) ref++;
  size_t len = strlen(ref);
  while (len && isspace((unsigned char)ref[len - 1])) len--;
  const char *at = memchr(ref, '@', len);
  size_t name_end = at ? (size_t)(at - ref) : len;
  /* a tag is a ':' after the last '/' (a ':' before it is a registry port) */
  size_t last_slash = 0;
  bool has_slash = false;
  for (size_t i = 0; i < name_end; i++)
    if (ref[i] == '/') last_slash = i, has_slash = true;
  size_t tag_at = name_end;
  for (size_t i = has_slash ? last_slash : 0; i < name_end; i++)
    if (ref[i] == ':') {
      tag_at = i;
      break;
    }
  /* the domain is the first component when it looks like a host */
  const char *first_slash = memchr(ref, '/', tag_at);
  bool domain = false;
  if (first_slash) {
    size_t fl = (size_t)(first_slash - ref);
    domain = memchr(ref, '.', fl) || memchr(ref, ':', fl) || (fl == 9 && strncmp(ref, "localhost", 9) == 0);
  }
  brr_buf b = BRR_BUF_INIT;
  brr_buf_reserve(&b, len + 32);
  size_t path_at = 0;
  if (domain) {
    size_t fl = (size_t)(first_slash - ref);
    char *host = brr_xstrndup(ref, fl);
    for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
    bool hub = strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0 ||
               strcmp(host, "registry-1.docker.io") == 0;
    brr_buf_puts(&b, hub ? "docker.io" : host);
    free(host);
    path_at = fl + 1;
    if (hub && !memchr(ref + path_at, '/', tag_at - path_at)) brr_buf_puts(&b, "/library");
  } else {
    brr_buf_puts(&b, "docker.io");
    if (!first_slash) brr_buf_puts(&b, "/library");
  }
  brr_buf_putc(&b, '/');
  /* repository paths are lower-case (buildrunner lower-cases what it tags and runs) */
  size_t lower_at = b.len;
  brr_buf_append(&b, ref + path_at, tag_at - path_at);
  for (size_t i = lower_at; i < b.len; i++) b.data[i] = (char)tolower((unsigned char)b.data[i]);
  if (tag_at < name_end) brr_buf_append(&b, ref + tag_at, name_end - tag_at);
  else if (!at) brr_buf_puts(&b, ":latest");
  if (at) brr_buf_append(&b, at, len - name_end);
  return brr_buf_detach(&b);
}
