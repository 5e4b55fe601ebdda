/* Decisions of the build tasks that need no Docker: build args, the pull default, the
 * references a push/commit spec names, buildx cache settings, the native platform of a
 * multi-platform step, FROM lines rewritten to the build registry, the Docker Hub pulls a run
 * will make, and the context preparation that runs off the loop. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brr/vcs.h"
#include "build_internal.h"

/* ---- build args and pull --------------------------------------------------------------------- */

char **brr_build_args(const brr_build *b, const char *docker_registry) {
  size_t n = b->buildargs.n;
  char **v = brr_xcalloc(n + 2, sizeof *v);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *key = b->buildargs.v[i].key.s;
    if (!key || !strcmp(key, "DOCKER_REGISTRY")) continue;
    brr_buf val = BRR_BUF_INIT;
    if (b->buildargs.v[i].val) brr_val_pystr(b->buildargs.v[i].val, &val);
    else brr_buf_puts(&val, "None");
    v[k++] = brr_xasprintf("%s=%s", key, brr_buf_cstr(&val));
    brr_buf_free(&val);
  }
  v[k++] = brr_xasprintf("DOCKER_REGISTRY=%s", docker_registry ? docker_registry : "docker.io");
  return v;
}

char *brr_build_dockerfile_text(const brr_build *b) {
  if (b->dockerfile_inline && b->dockerfile.s) return brr_xstrdup(b->dockerfile.s);
  if (!b->dockerfile_abs) return NULL;
  brr_buf t = BRR_BUF_INIT;
  if (brr_read_file(b->dockerfile_abs, &t) != 0) {
    brr_buf_free(&t);
    return NULL;
  }
  return brr_buf_detach(&t);
}

bool brr_build_should_pull(const brr_runtime *rt, const brr_build *b) {
  if (rt->opts.local_images) return false;
  if (b->pull != BRR_UNSET) return b->pull == BRR_TRUE;
  /* buildrunner matches re '^FROM (.*)' against the Dockerfile *text*; a file's path never
   * matches, so a Dockerfile on disk pulls */
  if (!b->dockerfile_inline || !b->dockerfile.s) return true;
  const char *t = b->dockerfile.s;
  if (strncasecmp(t, "FROM ", 5) != 0) return true;
  const char *eol = strchr(t + 5, '\n');
  char *image = eol ? brr_xstrndup(t + 5, (size_t)(eol - t - 5)) : brr_xstrdup(t + 5);
  bool pull = !brr_runtime_committed(rt, image);
  free(image);
  return pull;
}

/* ---- push and commit references ------------------------------------------------------------- */

void brr_build_spec_refs(const brr_pushspec *ps, brr_spec_refs *out) {
  memset(out, 0, sizeof *out);
  char *r = brr_xstrdup(ps->repository.s ? ps->repository.s : "");
  for (char *p = r; *p; p++) *p = (char)tolower((unsigned char)*p);
  char *slash = strrchr(r, '/');
  char *colon = strrchr(slash ? slash : r, ':');
  const char *extra = NULL;
  if (colon) {
    *colon = '\0';
    extra = colon + 1;
  }
  out->repo = brr_xstrdup(r);
  out->tags = brr_xcalloc(ps->tags.n + 2, sizeof *out->tags);
  out->refs = brr_xcalloc(ps->tags.n + 2, sizeof *out->refs);
  for (size_t i = 0; i <= ps->tags.n; i++) {
    const char *raw = i < ps->tags.n ? ps->tags.v[i].s : extra;
    if (!raw || !*raw) continue;
    out->tags[out->n] = brr_vcs_sanitize_tag(raw);
    out->refs[out->n] = brr_xasprintf("%s:%s", out->repo, out->tags[out->n]);
    out->n++;
  }
  free(r);
}

void brr_build_spec_refs_free(brr_spec_refs *r) {
  brr_strv_free(r->tags);
  brr_strv_free(r->refs);
  free(r->repo);
  memset(r, 0, sizeof *r);
}

/* ---- buildx cache settings ------------------------------------------------------------------- */

static void cache_spec_one(const brr_value *v, char ***out, size_t *n, size_t *cap) {
  if (brr_val_is(v, BRR_VAL_STR)) {
    BRR_VEC_PUSH(*out, *n, *cap, brr_xstrdup(brr_val_cstr(v)));
    return;
  }
  if (!brr_val_is(v, BRR_VAL_MAP) || v->u.map.n == 0) return;
  brr_buf b = BRR_BUF_INIT;
  for (size_t i = 0; i < v->u.map.n; i++) {
    brr_buf_puts(&b, i ? "," : "");
    brr_val_pystr(v->u.map.v[i].key, &b);
    brr_buf_putc(&b, '=');
    brr_val_pystr(v->u.map.v[i].val, &b);
  }
  BRR_VEC_PUSH(*out, *n, *cap, brr_buf_detach(&b));
}

char **brr_build_cache_specs(const brr_value *v) {
  char **out = NULL;
  size_t n = 0, cap = 0;
  if (brr_val_is(v, BRR_VAL_LIST))
    for (size_t i = 0; i < v->u.list.n; i++) cache_spec_one(v->u.list.v[i], &out, &n, &cap);
  else if (v)
    cache_spec_one(v, &out, &n, &cap);
  BRR_VEC_PUSH(out, n, cap, NULL);
  return out;
}

void brr_build_cache_for(const brr_config *cfg, const brr_build *b, const char *builder,
                         char ***from, char ***to) {
  const brr_value *gfrom = NULL, *gto = NULL;
  const brr_value *dbc = cfg->global.docker_build_cache;
  if (brr_val_is(dbc, BRR_VAL_MAP)) {
    const brr_value *builders = brr_val_get(dbc, "builders");
    bool applies = !builders || !brr_val_is(builders, BRR_VAL_LIST) || builders->u.list.n == 0;
    const char *name = builder ? builder : "default";
    for (size_t i = 0; !applies && i < builders->u.list.n; i++)
      applies = brr_streq(brr_val_cstr(builders->u.list.v[i]), name);
    if (applies) {
      gfrom = brr_val_get(dbc, "from");
      gto = brr_val_get(dbc, "to");
    }
  }
  *from = brr_build_cache_specs(b->cache_from ? b->cache_from : gfrom);
  *to = brr_build_cache_specs(b->cache_to ? b->cache_to : gto);
}

/* ---- platforms -------------------------------------------------------------------------------- */

char *brr_build_platform_tag(const char *platform) {
  char *t = brr_xstrdup(platform);
  for (char *p = t; *p; p++)
    if (*p == '/') *p = '-';
  return t;
}

size_t brr_build_native_index(const char *const *platforms, size_t n, const char *native) {
  const char *prefix = brr_streq(native, "linux/arm64") ? "linux-arm" : "linux-amd";
  size_t pick = 0;
  for (size_t i = 0; i < n; i++) {
    char *t = brr_build_platform_tag(platforms[i]);
    if (brr_startswith(t, prefix)) pick = i;
    free(t);
  }
  return pick;
}

/* ---- FROM rewriting ----------------------------------------------------------------------------- */

static brr_build_arg *arg_list(const brr_build *b, const char *docker_registry, brr_arena *a, size_t *n) {
  char **kv = brr_build_args(b, docker_registry);
  size_t k = 0;
  while (kv[k]) k++;
  brr_build_arg *args = brr_arena_alloc(a, (k + 1) * sizeof *args);
  /* the Dockerfile scanner takes the first of equal names: DOCKER_REGISTRY (last here) wins
   * anyway, since brr_build_args leaves the step's own out */
  for (size_t i = 0; i < k; i++) {
    char *eq = strchr(kv[i], '=');
    args[i].name = brr_arena_strndup(a, kv[i], (size_t)(eq - kv[i]));
    args[i].value = brr_arena_strdup(a, eq + 1);
  }
  brr_strv_free(kv);
  *n = k;
  return args;
}

/* Replace the image word of the FROM instruction starting at `line_start`; false when the
 * word is not on that line (a continuation). */
static bool replace_image(brr_buf *out, const char *line, size_t len, const char *image) {
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  if (len - i < 4 || strncasecmp(line + i, "FROM", 4) != 0) return false;
  i += 4;
  for (;;) {
    size_t ws = i;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == ws || i >= len || line[i] == '\\') return false;
    if (line[i] == '-' && i + 1 < len && line[i + 1] == '-') {
      while (i < len && line[i] != ' ' && line[i] != '\t') i++;
      continue;
    }
    break;
  }
  size_t w = i;
  while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') i++;
  brr_buf_append(out, line, w);
  brr_buf_puts(out, image);
  brr_buf_append(out, line + i, len - i);
  return true;
}

char *brr_build_rewrite_from(const char *text, const brr_build *b, const char *docker_registry,
                             const brr_from_map *map, size_t n) {
  brr_arena *a = brr_arena_new();
  size_t n_args;
  brr_build_arg *args = arg_list(b, docker_registry, a, &n_args);
  brr_dockerfile_image *imgs;
  size_t n_imgs = brr_dockerfile_images(text, strlen(text), args, n_args, a, &imgs);
  /* which line gets which image */
  unsigned *lines = brr_xcalloc(n_imgs + 1, sizeof *lines);
  const char **with = brr_xcalloc(n_imgs + 1, sizeof *with);
  size_t n_lines = 0;
  for (size_t i = 0; i < n_imgs; i++) {
    if (imgs[i].copy_from) continue;
    char *norm = brr_image_ref_normalize(imgs[i].ref);
    for (size_t k = 0; k < n; k++)
      if (!strcmp(norm, map[k].image)) {
        lines[n_lines] = imgs[i].line;
        with[n_lines++] = map[k].replace;
        break;
      }
    free(norm);
  }
  char *result = NULL;
  if (n_lines) {
    brr_buf out = BRR_BUF_INIT;
    unsigned lineno = 1;
    bool changed = false;
    for (const char *p = text; *p;) {
      const char *eol = strchr(p, '\n');
      size_t len = eol ? (size_t)(eol - p) : strlen(p);
      const char *image = NULL;
      for (size_t k = 0; k < n_lines && !image; k++)
        if (lines[k] == lineno) image = with[k];
      if (image && replace_image(&out, p, len, image)) changed = true;
      else brr_buf_append(&out, p, len);
      if (!eol) break;
      brr_buf_putc(&out, '\n');
      p = eol + 1;
      lineno++;
    }
    if (changed) result = brr_buf_detach(&out);
    brr_buf_free(&out);
  }
  free(lines);
  free(with);
  brr_arena_free(a);
  return result;
}

/* ---- Docker Hub pulls ------------------------------------------------------------------------------- */

static bool on_hub(const char *norm) { return brr_startswith(norm, "docker.io/"); }

static void want_ref(const char *ref, const brr_strmap *made, brr_strmap *seen, char ***v, size_t *n,
                     size_t *cap, brr_arena *a) {
  if (!ref || !*ref || !strcmp(ref, "scratch")) return;
  char *norm = brr_image_ref_normalize(ref);
  if (on_hub(norm) && !brr_strmap_get(made, norm, NULL) && !brr_strmap_get(seen, norm, NULL)) {
    brr_strmap_put(seen, brr_arena_strdup(a, norm), 1);
    BRR_VEC_PUSH(*v, *n, *cap, brr_xstrdup(ref));
  }
  free(norm);
}

static void want_build(const brr_config *cfg, const brr_build *b, const brr_strmap *made, brr_strmap *seen,
                       char ***v, size_t *n, size_t *cap, brr_arena *a) {
  if (!b || b->import.s || b->pull == BRR_FALSE) return;
  for (size_t i = 0; i < b->cache_from_refs.n; i++) want_ref(b->cache_from_refs.v[i].s, made, seen, v, n, cap, a);
  char *text = brr_build_dockerfile_text(b);
  if (!text && b->path_abs) {
    char *p = brr_path_join(b->path_abs, "Dockerfile");
    brr_buf t = BRR_BUF_INIT;
    if (brr_read_file(p, &t) == 0) text = brr_buf_detach(&t);
    brr_buf_free(&t);
    free(p);
  }
  if (!text) return;
  size_t n_args;
  brr_build_arg *args = arg_list(b, cfg->global.docker_registry, a, &n_args);
  brr_dockerfile_image *imgs;
  size_t k = brr_dockerfile_images(text, strlen(text), args, n_args, a, &imgs);
  for (size_t i = 0; i < k; i++) want_ref(imgs[i].ref, made, seen, v, n, cap, a);
  free(text);
}

char **brr_build_hub_pulls(const brr_config *cfg, const brr_graph *g, size_t *count) {
  *count = 0;
  const char *reg = cfg->global.docker_registry ? cfg->global.docker_registry : "docker.io";
  char **v = NULL;
  size_t n = 0, cap = 0;
  if (strcmp(reg, "docker.io") != 0 && strcmp(reg, "index.docker.io") != 0) {
    BRR_VEC_PUSH(v, n, cap, NULL);
    return v;
  }
  brr_arena *a = brr_arena_new();
  brr_strmap made = BRR_STRMAP_INIT, seen = BRR_STRMAP_INIT;
  /* what the run makes itself is never pulled */
  for (size_t i = 0; i < cfg->n_steps; i++) {
    const brr_step *s = &cfg->steps[i];
    for (size_t k = 0; k < s->n_push + s->n_commit; k++) {
      brr_spec_refs r;
      brr_build_spec_refs(k < s->n_push ? &s->push[k] : &s->commit[k - s->n_push], &r);
      for (size_t t = 0; t < r.n; t++) {
        char *norm = brr_image_ref_normalize(r.refs[t]);
        brr_strmap_put(&made, brr_arena_strdup(a, norm), 1);
        free(norm);
      }
      brr_build_spec_refs_free(&r);
    }
  }
  for (size_t j = 0; j < g->n_steps; j++) {
    const brr_step *s = &cfg->steps[g->steps[j]];
    want_build(cfg, s->build, &made, &seen, &v, &n, &cap, a);
    if (!s->run) continue;
    if (s->run->c.pull != BRR_FALSE) want_ref(s->run->c.image.s, &made, &seen, &v, &n, &cap, a);
    for (size_t k = 0; k < s->run->n_services; k++) {
      const brr_service *sv = &s->run->services[k];
      if (sv->build) want_build(cfg, sv->build, &made, &seen, &v, &n, &cap, a);
      else if (sv->c.pull != BRR_FALSE) want_ref(sv->c.image.s, &made, &seen, &v, &n, &cap, a);
    }
    want_build(cfg, s->run->post_build, &made, &seen, &v, &n, &cap, a);
  }
  brr_strmap_free(&made);
  brr_strmap_free(&seen);
  brr_arena_free(a);
  *count = n;
  BRR_VEC_PUSH(v, n, cap, NULL);
  return v;
}

/* ---- messages ------------------------------------------------------------------------------------------ */

char *brr_build_diag_line(const brr_diag *d) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return brr_xstrdup(d->msg);
  brr_diag_print(d, f, false);
  fclose(f);
  char *nl = strchr(buf, '\n');
  char *line = nl ? brr_xstrndup(buf, (size_t)(nl - buf)) : brr_xstrdup(buf);
  free(buf);
  return line;
}

/* ---- context preparation ------------------------------------------------------------------------------- */

static void prep_work(uv_work_t *w) {
  brr_build_prep *p = w->data;
  p->rc = brr_build_inputs_resolve(p->build, p->build_dir, p->step, &p->in, &p->d);
  if (p->rc != 0) return;
  if (p->tar_path) p->rc = brr_build_context_tar(&p->in, p->tar_path, &p->dockerfile_name, &p->d);
  else p->rc = brr_build_context_dir(&p->in, p->temp_dir, &p->ctx, &p->d);
}

static void prep_after(uv_work_t *w, int status) {
  brr_build_prep *p = w->data;
  p->running = false;
  if (status == UV_ECANCELED) {
    p->cancelled = true;
    p->rc = BRR_ECANCELED;
  }
  p->done(p);
}

void brr_build_prep_start(uv_loop_t *loop, brr_build_prep *p) {
  p->work.data = p;
  p->running = true;
  p->rc = 0;
  uv_queue_work(loop, &p->work, prep_work, prep_after);
}

void brr_build_prep_cancel(brr_build_prep *p) {
  p->cancelled = true;
  if (p->running) uv_cancel((uv_req_t *)&p->work);
}

void brr_build_prep_free(brr_build_prep *p) {
  brr_build_context_cleanup(&p->ctx);
  brr_build_inputs_free(&p->in);
  brr_diags_free(&p->d);
  free(p->dockerfile_name);
  p->dockerfile_name = NULL;
  if (p->tar_path) {
    remove(p->tar_path);
    free(p->tar_path);
    p->tar_path = NULL;
  }
}
