/* What a build step's context is made of: inject globs and destinations (spec §3.1), the
 * context path and the Dockerfile (spec §2.2), resolved and checked at task time as
 * buildrunner does. */
#include "brr/tasks_files.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static brr_mark build_mark(const brr_build *b) { return b->node ? b->node->mark : BRR_MARK_NONE; }

static char *abs_in_build_dir(const char *build_dir, const char *p) {
  char *x = brr_path_expanduser(p);
  char *j = brr_path_join(build_dir, x);
  char *n = brr_path_normalize(j);
  free(x);
  free(j);
  return n;
}

/* Python's os.path.split(dest)[-1] in ('.', '..'), or a trailing slash: the destination names
 * a directory to put the match into. */
static bool dest_is_dir(const char *dest) {
  size_t n = strlen(dest);
  if (!n) return false;
  if (dest[n - 1] == '/') return true;
  const char *last = brr_path_basename(dest);
  return !strcmp(last, ".") || !strcmp(last, "..");
}

/* normpath(join(".", dest[, base])) with the leading `/` dropped (tar and the buildx copy both
 * strip it: it means the context root). */
static char *dest_path(const char *dest, const char *base) {
  char *j = base ? brr_xasprintf("%s/%s", *dest ? dest : ".", base) : brr_xstrdup(*dest ? dest : ".");
  char *n = brr_path_normalize(j);
  free(j);
  size_t skip = strspn(n, "/");
  if (skip) {
    memmove(n, n + skip, strlen(n + skip) + 1);
    if (!*n) {
      free(n);
      n = brr_xstrdup(".");
    }
  }
  return n;
}

static void push_item(brr_build_inputs *in, size_t *cap, const char *src, char *dest, bool is_dir,
                      brr_mark mark) {
  /* buildrunner keys its inject map by source: a second match keeps the place, last dest wins */
  for (size_t i = 0; i < in->n_inject; i++) {
    if (!strcmp(in->inject[i].src, src)) {
      free(in->inject[i].dest);
      in->inject[i].dest = dest;
      in->inject[i].mark = mark;
      return;
    }
  }
  brr_inject_item it = {brr_xstrdup(src), dest, is_dir, mark};
  BRR_VEC_PUSH(in->inject, in->n_inject, *cap, it);
}

static int expand_inject(const brr_inject *inj, const char *build_dir, const char *step,
                         brr_build_inputs *in, size_t *cap, brr_diags *d) {
  char *pattern = abs_in_build_dir(build_dir, inj->glob.s ? inj->glob.s : "");
  char *path = brr_xasprintf("steps.%s.build.inject", step);
  glob_t g;
  /* Python's glob: no backslash escapes, `*` skips dot files, `**` is just `*` */
  int r = glob(pattern, GLOB_NOESCAPE, NULL, &g);
  int rc = 0;
  if (r != 0) {
    brr_diag_error(d, inj->glob.mark, path, "Unable to expand inject glob: %s", pattern);
    rc = BRR_ECONFIG;
    if (r != GLOB_NOMATCH) d->v[d->n - 1].exit_code = BRR_EXIT_FAILED;
  }
  const char *dest = inj->dest.s ? inj->dest.s : "";
  for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
    const char *src = g.gl_pathv[i];
    struct stat st;
    bool is_dir = stat(src, &st) == 0 && S_ISDIR(st.st_mode);
    bool into = g.gl_pathc > 1 || dest_is_dir(dest);
    char *to = dest_path(dest, into ? brr_path_basename(src) : NULL);
    /* an empty destination means the context root; a file cannot be the root itself, so it
     * lands there under its own name (buildrunner would write a member named ".") */
    if (!strcmp(to, ".") && !is_dir) {
      free(to);
      to = brr_xstrdup(brr_path_basename(src));
    }
    if (!strcmp(to, "..") || brr_startswith(to, "../")) {
      brr_diag_error(d, inj->dest.s ? inj->dest.mark : inj->glob.mark, path,
                     "inject destination \"%s\" for %s is outside the build context", dest, src);
      free(to);
      rc = BRR_ECONFIG;
      break;
    }
    push_item(in, cap, src, to, is_dir, inj->glob.mark);
  }
  if (r == 0) globfree(&g);
  free(pattern);
  free(path);
  return rc;
}

static bool exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* The Dockerfile: the `dockerfile` key (a file when one exists there, else inline text),
 * else `<path>/Dockerfile`, which an inject to `Dockerfile` or `/Dockerfile` overrides. */
static void pick_dockerfile(const brr_build *b, const char *build_dir, brr_build_inputs *in) {
  if (b->dockerfile.s && *b->dockerfile.s) {
    if (!b->dockerfile_inline) {
      char *p = b->dockerfile_abs ? brr_xstrdup(b->dockerfile_abs)
                                  : abs_in_build_dir(build_dir, b->dockerfile.s);
      if (exists(p)) {
        in->dockerfile_path = brr_path_realpath(p);
        free(p);
        return;
      }
      free(p);
    }
    in->dockerfile_text = brr_xstrdup(b->dockerfile.s);
    return;
  }
  if (in->context) {
    char *p = brr_path_join(in->context, "Dockerfile");
    if (exists(p)) in->dockerfile_path = p;
    else free(p);
  }
  for (size_t i = 0; i < in->n_inject; i++) {
    if (strcmp(in->inject[i].dest, "Dockerfile") != 0) continue;
    free(in->dockerfile_path);
    in->dockerfile_path = brr_xstrdup(in->inject[i].src);
    in->dockerfile_injected = true;
  }
}

int brr_build_inputs_resolve(const brr_build *b, const char *build_dir, const char *step,
                             brr_build_inputs *out, brr_diags *d) {
  memset(out, 0, sizeof *out);
  out->context_mark = b->path.s ? b->path.mark : build_mark(b);
  size_t cap = 0;
  int rc = 0;
  for (size_t i = 0; i < b->n_inject; i++) {
    int r = expand_inject(&b->inject[i], build_dir, step, out, &cap, d);
    if (r && !rc) rc = r;
  }
  if (rc) goto fail;
  bool is_import = b->import.s != NULL;
  bool has_df = b->dockerfile.s && *b->dockerfile.s;
  bool has_path = b->path.s && *b->path.s;
  char *key = brr_xasprintf("steps.%s.build", step);
  if (!is_import && !has_path && !has_df && out->n_inject == 0) {
    brr_diag_error(d, build_mark(b), key,
                   "Docker build context must specify a \"path\", \"dockerfile\", or \"inject\" "
                   "attribute");
    rc = BRR_ECONFIG;
  }
  if (rc == 0 && has_path) {
    char *p = b->path_abs ? brr_xstrdup(b->path_abs) : abs_in_build_dir(build_dir, b->path.s);
    struct stat st;
    bool found = stat(p, &st) == 0;
    if (!found || !S_ISDIR(st.st_mode)) {
      brr_diag_error(d, b->path.mark, key, "invalid build context path: %s %s", p,
                     found ? "is not a directory" : "does not exist");
      rc = BRR_ECONFIG;
    } else {
      out->context = brr_path_realpath(p);
    }
    free(p);
  }
  if (rc == 0) pick_dockerfile(b, build_dir, out);
  if (rc == 0 && !is_import && !out->dockerfile_path && !out->dockerfile_text) {
    brr_diag_error(d, out->context_mark, key,
                   "Cannot find a Dockerfile in the given path or inject configurations");
    rc = BRR_ECONFIG;
  }
  free(key);
  if (rc == 0) return 0;
fail:
  brr_build_inputs_free(out);
  return rc;
}

void brr_build_inputs_free(brr_build_inputs *in) {
  for (size_t i = 0; i < in->n_inject; i++) {
    free(in->inject[i].src);
    free(in->inject[i].dest);
  }
  free(in->inject);
  free(in->context);
  free(in->dockerfile_path);
  free(in->dockerfile_text);
  memset(in, 0, sizeof *in);
}
