/* The content hash of a source tree: what a run step sees at /source, minus what the caller
 * leaves out (.buildignore, the results dir), optionally narrowed to `inputs:` globs. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "brr/incr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* `inputs:` globs compiled by PCRE2's own glob conversion, `/` as the separator: `*` stays in a
 * component, `**` spans components. (PCRE2_CONVERT_GLOB_NO_WILD_SEPARATOR would do the opposite
 * of what its name says: with it, `*` becomes `.*?` in PCRE2 10.42.) */
typedef struct globset {
  pcre2_code **re;
  size_t n;
  pcre2_match_data *md;
} globset;

#define GLOB_OPTIONS PCRE2_CONVERT_GLOB

static pcre2_code *glob_compile(const char *glob, char *err, size_t errlen) {
  PCRE2_UCHAR *pattern = NULL;
  PCRE2_SIZE plen = 0;
  pcre2_convert_context *cc = pcre2_convert_context_create(NULL);
  pcre2_set_glob_separator(cc, '/');
  pcre2_set_glob_escape(cc, '\\');
  int rc = pcre2_pattern_convert((PCRE2_SPTR)glob, PCRE2_ZERO_TERMINATED, GLOB_OPTIONS, &pattern,
                                 &plen, cc);
  pcre2_convert_context_free(cc);
  if (rc != 0) {
    pcre2_get_error_message(rc, (PCRE2_UCHAR *)err, errlen);
    return NULL;
  }
  int ecode;
  PCRE2_SIZE eoff;
  pcre2_code *re = pcre2_compile(pattern, plen, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff,
                                 NULL);
  pcre2_converted_pattern_free(pattern);
  if (!re) pcre2_get_error_message(ecode, (PCRE2_UCHAR *)err, errlen);
  return re;
}

char *brr_incr_globs_check(const char *const *globs, size_t n, size_t *bad) {
  for (size_t i = 0; i < n; i++) {
    char err[256];
    if (!globs[i] || !*globs[i]) {
      if (bad) *bad = i;
      return brr_xstrdup("an empty glob matches nothing");
    }
    if (globs[i][0] == '/') {
      if (bad) *bad = i;
      return brr_xasprintf("\"%s\" is absolute: inputs are relative to the build directory",
                           globs[i]);
    }
    pcre2_code *re = glob_compile(globs[i], err, sizeof err);
    if (!re) {
      if (bad) *bad = i;
      return brr_xasprintf("\"%s\" is not a valid glob: %s", globs[i], err);
    }
    pcre2_code_free(re);
  }
  return NULL;
}

static bool globset_match(globset *g, const char *rel) {
  for (size_t i = 0; i < g->n; i++)
    if (pcre2_match(g->re[i], (PCRE2_SPTR)rel, PCRE2_ZERO_TERMINATED, 0, 0, g->md, NULL) >= 0)
      return true;
  return false;
}

typedef struct walk {
  const brr_tree_opts *o;
  brr_hashcache *cache;
  brr_hasher *h;
  globset g;
  size_t n_files;
  brr_diags *d;
  brr_buf abs;       /* root + "/" + rel of the entry being looked at */
  size_t root_len;   /* bytes of root + "/" in abs */
} walk;

static int walk_err(walk *w, int err, const char *what) {
  brr_diag *g = brr_diag_error(w->d, BRR_MARK_NONE, NULL, "%s %s: %s", what, w->abs.data,
                               strerror(err));
  g->exit_code = BRR_EXIT_FAILED;
  return -err;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_entry(walk *w, const char *rel, char type, unsigned mode, const char *content) {
  char m[16];
  snprintf(m, sizeof m, "%c%04o", type, mode & 07777u);
  brr_hasher_field(w->h, rel, m);
  brr_hasher_field(w->h, "", content);
}

static int walk_dir(walk *w) {
  DIR *dir = opendir(w->abs.data);
  if (!dir) return walk_err(w, errno, "reading the directory");
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(dir))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char *name = brr_xstrdup(de->d_name);
    BRR_VEC_PUSH(names, n, cap, name);
  }
  int rc = errno ? walk_err(w, errno, "reading the directory") : 0;
  closedir(dir);
  if (n) qsort(names, n, sizeof *names, cmp_names);
  size_t base = w->abs.len;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    w->abs.len = base;
    if (base > w->root_len) brr_buf_putc(&w->abs, '/');
    brr_buf_puts(&w->abs, names[i]);
    const char *rel = w->abs.data + w->root_len;
    struct stat st;
    if (lstat(w->abs.data, &st) < 0) {
      if (errno == ENOENT) continue;  /* gone meanwhile: as the tar's walk does */
      rc = walk_err(w, errno, "reading");
      break;
    }
    if (w->o && w->o->skip && w->o->skip(w->o->skip_ud, rel, &st)) continue;
    bool counts = w->g.n == 0 || (!S_ISDIR(st.st_mode) && globset_match(&w->g, rel));
    if (S_ISDIR(st.st_mode)) {
      if (counts) add_entry(w, rel, 'd', st.st_mode, NULL);
      rc = walk_dir(w);
    } else if (S_ISREG(st.st_mode)) {
      if (!counts) continue;
      char hex[BRR_INCR_HEX];
      int r = brr_hashcache_file(w->cache, w->abs.data, &st, hex);
      if (r == -ENOENT) continue;
      if (r < 0) {
        rc = walk_err(w, -r, "reading");
        break;
      }
      add_entry(w, rel, 'f', st.st_mode, hex);
      w->n_files++;
    } else if (S_ISLNK(st.st_mode)) {
      if (!counts) continue;
      char target[4096];
      ssize_t k = readlink(w->abs.data, target, sizeof target - 1);
      if (k < 0) continue;
      target[k] = '\0';
      add_entry(w, rel, 'l', 0, target);
    } else if (counts) {
      add_entry(w, rel, 'o', st.st_mode, NULL);  /* fifos and sockets: only that they exist */
    }
  }
  w->abs.len = base;
  if (w->abs.data) w->abs.data[base] = '\0';
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

int brr_incr_tree_hash(const char *root, const brr_tree_opts *o, brr_hashcache *c,
                       char hex[BRR_INCR_HEX], size_t *n_files, brr_diags *d) {
  walk w = {.o = o, .cache = c, .d = d};
  w.abs = (brr_buf)BRR_BUF_INIT;
  int rc = 0;
  if (o && o->n_inputs) {
    w.g.re = brr_xcalloc(o->n_inputs, sizeof *w.g.re);
    for (size_t i = 0; i < o->n_inputs; i++) {
      char err[256];
      w.g.re[i] = glob_compile(o->inputs[i], err, sizeof err);
      if (!w.g.re[i]) {
        brr_diag_error(d, BRR_MARK_NONE, NULL, "\"%s\" is not a valid glob: %s", o->inputs[i],
                       err);
        rc = BRR_EINVAL;
        break;
      }
      w.g.n++;
    }
    w.g.md = pcre2_match_data_create(1, NULL);
  }
  if (rc == 0) {
    w.h = brr_hasher_new();
    brr_hasher_field(w.h, "brr tree", "v1");
    brr_buf_puts(&w.abs, root);
    brr_buf_putc(&w.abs, '/');
    w.root_len = w.abs.len;
    rc = walk_dir(&w);
    brr_hasher_final(w.h, hex);
  }
  for (size_t i = 0; i < w.g.n; i++) pcre2_code_free(w.g.re[i]);
  free(w.g.re);
  if (w.g.md) pcre2_match_data_free(w.g.md);
  brr_buf_free(&w.abs);
  if (n_files) *n_files = w.n_files;
  return rc;
}
