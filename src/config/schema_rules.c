/* Cross-step validation (spec §2.3): build secrets and the legacy builder, what a
 * multi-platform build step may not combine with, duplicate multi-platform tags, and the rule
 * that single-platform steps may not re-tag a multi-platform image. buildrunner stops at the
 * first failure; brr reports every one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"


static bool is_mp(const brr_step *s) { return s->build && s->build->platforms.n > 0; }

typedef struct tagent {
  char *image;
  const brr_step *owner;
} tagent;

typedef struct taglist {
  tagent *v;
  size_t n, cap;
} taglist;

static void taglist_free(taglist *t) {
  for (size_t i = 0; i < t->n; i++) free(t->v[i].image);
  free(t->v);
}

static const brr_step *taglist_find(const taglist *t, const char *s) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].image, s) == 0) return t->v[i].owner;
  return NULL;
}

/* "repo:tag" for every tag of every spec (the repository alone when there is no tag) */
static char **dest_images(const brr_pushspec *specs, size_t n, size_t *count) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += specs[i].tags.n ? specs[i].tags.n : 1;
  char **v = brr_xcalloc(total + 1, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!specs[i].tags.n) v[k++] = brr_xstrdup(specs[i].repository.s);
    for (size_t j = 0; j < specs[i].tags.n; j++)
      v[k++] = brr_xasprintf("%s:%s", specs[i].repository.s, specs[i].tags.v[j].s);
  }
  *count = k;
  return v;
}

static void check_push_tags(brr_schk *c, const brr_step *st, taglist *mp_tags, bool record) {
  for (size_t i = 0; i < st->n_push; i++) {
    size_t n;
    char **imgs = dest_images(&st->push[i], 1, &n);
    for (size_t j = 0; j < n; j++) {
      const brr_step *other = taglist_find(mp_tags, imgs[j]);
      if (other) {
        brr_schk_error_mark(c, st->push[i].mark, brr_arena_printf(c->a, "steps.%s.push", st->name.s),
                            "Cannot specify duplicate tag %s in build step %s (multi-platform step %s pushes it too)",
                            imgs[j], st->name.s, other->name.s);
      } else if (record) {
        tagent e = {brr_xstrdup(imgs[j]), st};
        BRR_VEC_PUSH(mp_tags->v, mp_tags->n, mp_tags->cap, e);
      }
    }
    brr_strv_free(imgs);
  }
}

static void check_mp_step(brr_schk *c, const brr_step *st, taglist *mp_tags) {
  const brr_build *b = st->build;
  const char *path = brr_arena_printf(c->a, "steps.%s.build", st->name.s);
  if (b->platform.s)
    brr_schk_error_mark(c, b->platform.mark, path,
                        "Cannot specify both platform (%s) and platforms in build step %s",
                        b->platform.s, st->name.s);
  const brr_value *cf = b->cache_from;
  if (cf && cf->type == BRR_VAL_LIST && cf->u.list.n > 0 && cf->u.list.v[0]->type == BRR_VAL_STR)
    brr_schk_error(c, cf, brr_arena_printf(c->a, "%s.cache_from", path),
                   "The cache_from arg must be a str, dict or list(dict) in the multi-platform "
                   "build step %s: it cannot be a list of strings", st->name.s);
  if (b->import.s)
    brr_schk_error_mark(c, b->import.mark, brr_arena_printf(c->a, "%s.import", path),
                        "import is not allowed in multi-platform build step %s", st->name.s);
  if (st->run)
    brr_schk_error_mark(c, brr_schk_key_mark(st->node, "run", st->run->c.node->mark),
                        brr_arena_printf(c->a, "steps.%s.run", st->name.s),
                        "run is not allowed in the same step as a multi-platform build step %s", st->name.s);
  check_push_tags(c, st, mp_tags, true);
}

/* The base image the last FROM line names, buildrunner's way: lower-cased, every "from"
 * removed, ":latest" added when there is no tag. NULL when there is no FROM line. */
static char *from_image(const char *text) {
  char *low = brr_xstrdup(text);
  for (char *p = low; *p; p++) *p = (char)tolower((unsigned char)*p);
  char *found = NULL;
  char **lines = brr_split(low, '\n', NULL);
  for (size_t i = 0; lines[i]; i++) {
    const char *l = lines[i];
    while (isspace((unsigned char)*l)) l++;
    if (strncmp(l, "from", 4) != 0) continue;
    brr_buf b = BRR_BUF_INIT;
    for (const char *p = l; *p;) {
      if (strncmp(p, "from", 4) == 0) {
        p += 4;
        continue;
      }
      brr_buf_putc(&b, *p++);
    }
    char *img = brr_buf_detach(&b);
    char *s = img;
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    free(found);
    found = memchr(s, ':', n) ? brr_xstrndup(s, n) : brr_xasprintf("%.*s:latest", (int)n, s);
    free(img);
  }
  brr_strv_free(lines);
  free(low);
  return found;
}

static char *source_image(const brr_step *st) {
  if (st->build) {
    const brr_build *b = st->build;
    if (b->dockerfile_inline) return from_image(b->dockerfile.s);
    if (b->dockerfile_abs) {
      brr_buf text = BRR_BUF_INIT;
      char *img = brr_read_file(b->dockerfile_abs, &text) == 0 ? from_image(brr_buf_cstr(&text)) : NULL;
      brr_buf_free(&text);
      return img;
    }
    return NULL;  /* injected or missing Dockerfile: nothing to compare */
  }
  if (st->run && st->run->c.image.s) {
    const char *img = st->run->c.image.s;
    return strchr(img, ':') ? brr_xstrdup(img) : brr_xasprintf("%s:latest", img);
  }
  return NULL;
}

static void check_retags(brr_schk *c, const brr_config *cfg) {
  brr_buf list = BRR_BUF_INIT;
  const brr_value *first = NULL;
  const char *first_path = NULL;
  for (size_t i = 0; i < cfg->n_steps; i++) {
    const brr_step *st = &cfg->steps[i];
    if (is_mp(st) || (st->n_push + st->n_commit) == 0) continue;
    char *src = source_image(st);
    if (!src) continue;
    for (size_t j = 0; j < cfg->n_steps; j++) {
      const brr_step *o = &cfg->steps[j];
      if (j == i || !is_mp(o)) continue;
      size_t np, nc;
      char **push = dest_images(o->push, o->n_push, &np);
      char **commit = dest_images(o->commit, o->n_commit, &nc);
      bool hit = false;
      for (size_t k = 0; k < np && !hit; k++) hit = strcmp(push[k], src) == 0;
      for (size_t k = 0; k < nc && !hit; k++) hit = strcmp(commit[k], src) == 0;
      brr_strv_free(push);
      brr_strv_free(commit);
      if (!hit) continue;
      brr_buf_printf(&list, "%s'%s'", list.len ? ", " : "", src);
      if (!first) {
        first = st->build ? st->build->node : st->run->c.node;
        first_path = brr_arena_printf(c->a, "steps.%s", st->name.s);
      }
    }
    free(src);
  }
  if (first)
    brr_schk_error(c, first, first_path,
                   "Multi-platform build steps cannot re-tag images. The following images are "
                   "re-tagged: [%s]", list.data);
  brr_buf_free(&list);
}

void brr_schema_cross(brr_schk *c, brr_config *cfg) {
  bool any_mp = false;
  for (size_t i = 0; i < cfg->n_steps; i++) {
    const brr_step *st = &cfg->steps[i];
    any_mp |= is_mp(st);
    if (st->build && st->build->secrets.v && !is_mp(st) && cfg->use_legacy_builder)
      brr_schk_error_mark(c, brr_schk_key_mark(st->build->node, "secrets", brr_val_get(st->build->node, "secrets")->mark),
                     brr_arena_printf(c->a, "steps.%s.build.secrets", st->name.s),
                     "Build secrets are not supported with the legacy builder. Please set "
                     "use-legacy-builder to false or add platforms to the build section in order "
                     "to use secrets in your build.");
  }
  if (!any_mp) return;
  taglist mp_tags = {0};
  for (size_t i = 0; i < cfg->n_steps; i++)
    if (is_mp(&cfg->steps[i])) check_mp_step(c, &cfg->steps[i], &mp_tags);
  for (size_t i = 0; i < cfg->n_steps; i++)
    if (!is_mp(&cfg->steps[i])) check_push_tags(c, &cfg->steps[i], &mp_tags, false);
  check_retags(c, cfg);
  taglist_free(&mp_tags);
}
