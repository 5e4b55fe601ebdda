/* One config file from disk to value tree: read, render through the template engine, parse
 * with marks translated back to the user's source lines, follow `redirect:` (spec §1.3). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

/* ---- interned file names ------------------------------------------------------------------ */

typedef struct interned {
  struct interned *next;
  char s[];
} interned;

static interned *interned_head;
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;

const char *brr_config_intern(const char *s) {
  pthread_mutex_lock(&intern_lock);
  for (interned *i = interned_head; i; i = i->next) {
    if (strcmp(i->s, s) == 0) {
      pthread_mutex_unlock(&intern_lock);
      return i->s;
    }
  }
  size_t n = strlen(s);
  interned *i = brr_xmalloc(sizeof *i + n + 1);
  memcpy(i->s, s, n + 1);
  i->next = interned_head;
  interned_head = i;
  pthread_mutex_unlock(&intern_lock);
  return i->s;
}

/* ---- rendering ------------------------------------------------------------------------------ */

int brr_config_render_mapped(const char *text, size_t len, const char *file,
                             const brr_render_ctx *rc, brr_buf *out, unsigned **line_map,
                             size_t *n_lines, brr_diags *d) {
  brr_tmpl_env env = {
      .vars = rc->vars,
      .buildrunner_globals = true,
      .read_yaml_vars = rc->read_yaml_vars,
      .parse_yaml = brr_yaml_load,
      .cwd = NULL,
      .build_time = rc->build_time,
      .strict_undefined = rc->strict,
  };
  return brr_template_render(text, len, file, &env, out, line_map, n_lines, d);
}

static brr_value *host_env(brr_arena *a) {
  brr_value *m = brr_val_map(a, BRR_MARK_NONE);
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    brr_value *k = brr_val_strn(a, BRR_MARK_NONE, *e, (size_t)(eq - *e));
    brr_val_map_set(a, m, k, brr_val_str(a, BRR_MARK_NONE, eq + 1), NULL);
  }
  return m;
}

static void lay_over(brr_arena *a, brr_value *m, const brr_value *over) {
  brr_val_map_update(a, m, over);
}

brr_value *brr_config_template_vars(brr_arena *a, const brr_value *base, const char *config_file,
                                    const char *docker_registry, const brr_value *over) {
  brr_value *m = brr_val_map(a, BRR_MARK_NONE);
  lay_over(a, m, base);
  char *dir = brr_path_dirname(config_file);
  brr_val_map_sets(a, m, "CONFIG_FILE", brr_val_str(a, BRR_MARK_NONE, config_file));
  brr_val_map_sets(a, m, "CONFIG_DIR", brr_val_str(a, BRR_MARK_NONE, dir));
  free(dir);
  brr_val_map_sets(a, m, "env", host_env(a));
  brr_val_map_sets(a, m, "DOCKER_REGISTRY", docker_registry ? brr_val_str(a, BRR_MARK_NONE, docker_registry)
                                                            : brr_val_null(a, BRR_MARK_NONE));
  lay_over(a, m, over);
  return m;
}

/* ---- fetching and redirects -------------------------------------------------------------- */

/* Where a `redirect:` value points: a local path (optionally file://), relative to the cwd as
 * buildrunner's fetcher reads it. NULL with an error for the schemes brr does not fetch. */
static char *redirect_target(const brr_value *v, brr_diags *d) {
  const char *s = v->u.s.ptr;
  if (brr_startswith(s, "file://")) s += 7;
  else if (strstr(s, "://")) {
    brr_diag_error(d, v->mark, "redirect", "cannot fetch '%s': brr reads local files only (github:// and http(s):// redirects are not supported)", s);
    return NULL;
  }
  if (!*s) {
    brr_diag_error(d, v->mark, "redirect", "the redirect target is empty");
    return NULL;
  }
  char *exp = brr_path_expanduser(s);
  char cwd[4096];
  char *abs = brr_path_join(getcwd(cwd, sizeof cwd) ? cwd : "/", exp);
  free(exp);
  char *real = brr_path_realpath(abs);
  if (real) {
    free(abs);
    return real;
  }
  char *norm = brr_path_normalize(abs);
  free(abs);
  return norm;
}

typedef struct visited {
  char **v;
  size_t n, cap;
} visited;

static bool was_visited(const visited *vis, const char *p) {
  for (size_t i = 0; i < vis->n; i++)
    if (strcmp(vis->v[i], p) == 0) return true;
  return false;
}

/* Read, render and parse one file; NULL root on failure (diagnostic added). */
static int load_one(brr_arena *a, const char *file, const brr_render_ctx *rc, brr_mark from,
                    brr_loaded_file *out, brr_diags *d) {
  brr_buf src = BRR_BUF_INIT;
  int r = brr_read_file(file, &src);
  if (r != 0) {
    brr_diag_error(d, from, from.file ? "redirect" : NULL, "cannot read %s: %s", file, brr_strerror(r));
    brr_buf_free(&src);
    return BRR_ECONFIG;
  }
  brr_buf rendered = BRR_BUF_INIT;
  unsigned *map = NULL;
  size_t n_lines = 0;
  r = brr_config_render_mapped(brr_buf_cstr(&src), src.len, file, rc, &rendered, &map, &n_lines, d);
  if (r != 0) {
    brr_buf_free(&src);
    brr_buf_free(&rendered);
    free(map);
    return r;
  }
  out->path = file;
  out->len = rendered.len;
  out->text = brr_arena_strndup(a, brr_buf_cstr(&rendered), rendered.len);
  /* the source and the render's buffer go before the tree is made, which reuses them */
  brr_buf_free(&src);
  brr_buf_free(&rendered);
  out->root = brr_yaml_load_mapped(a, out->text, out->len, file, map, n_lines, d);
  free(map);
  return 0;
}

int brr_config_fetch(brr_arena *a, const char *path, const brr_render_ctx *rc,
                     const brr_load_opts *opts, brr_generated_kind kind, brr_loaded_file *out,
                     brr_diags *d) {
  memset(out, 0, sizeof *out);
  visited vis = {0};
  const char *cur = brr_config_intern(path);
  brr_mark from = BRR_MARK_NONE;
  int rc_out = 0;
  for (;;) {
    BRR_VEC_PUSH(vis.v, vis.n, vis.cap, brr_xstrdup(cur));
    int r = load_one(a, cur, rc, from, out, d);
    if (r != 0) {
      rc_out = r;
      break;
    }
    out->first_path = brr_config_intern(path);
    const brr_value *redir = out->root ? brr_val_get(out->root, "redirect") : NULL;
    bool redirects = redir && redir->type != BRR_VAL_NULL;
    if (opts && opts->on_generated)
      opts->on_generated(opts->on_generated_ud, redirects && kind == BRR_GEN_PROJECT ? BRR_GEN_REDIRECT : kind,
                         cur, out->text, out->len);
    if (!out->root) {
      rc_out = BRR_ECONFIG;
      break;
    }
    if (!redirects) break;
    if (redir->type != BRR_VAL_STR) {
      brr_diag_error(d, redir->mark, "redirect", "expected a file name, got %s", brr_val_type_desc(redir));
      rc_out = BRR_ECONFIG;
      break;
    }
    char *target = redirect_target(redir, d);
    if (!target) {
      rc_out = BRR_ECONFIG;
      break;
    }
    if (was_visited(&vis, target)) {
      brr_diag_error(d, redir->mark, "redirect", "Redirect loop visiting previously visited file: %s",
                     redir->u.s.ptr);
      free(target);
      rc_out = BRR_ECONFIG;
      break;
    }
    from = redir->mark;
    cur = brr_config_intern(target);
    free(target);
  }
  for (size_t i = 0; i < vis.n; i++) free(vis.v[i]);
  free(vis.v);
  if (rc_out == 0 && !out->first_path) out->first_path = brr_config_intern(path);
  return rc_out;
}
