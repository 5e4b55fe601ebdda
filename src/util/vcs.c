/* Build identity from git (spec §6). Every question goes to the `git` command; see vcs.h for
 * why. Output formats follow vcsinfo exactly where buildrunner exposes them. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "brr/vcs.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brr/spawn.h"
#include "brr/util.h"

extern char **environ;

/* The child's environment: ours without GIT_DIR / GIT_WORK_TREE (they would make `git -C`
 * describe another repository) and with prompts off. */
static char **git_env(void) {
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  char **env = brr_xcalloc(n + 2, sizeof(char *));
  size_t k = 0;
  for (char **e = environ; *e; e++) {
    if (brr_startswith(*e, "GIT_DIR=") || brr_startswith(*e, "GIT_WORK_TREE=") ||
        brr_startswith(*e, "GIT_TERMINAL_PROMPT="))
      continue;
    env[k++] = *e;
  }
  env[k++] = "GIT_TERMINAL_PROMPT=0";
  env[k] = NULL;
  return env;
}

/* Run `git -C dir <args>` through brr's launcher; stdout goes to `out` (trailing newline
 * stripped). Returns the exit status (128+signal when killed by one), or a negative errno
 * when git could not be run. */
static int run_git(const char *dir, const char *const *args, brr_buf *out) {
  const char *argv[16] = {"git", "--no-pager", "-C", dir};
  size_t n = 4;
  for (size_t i = 0; args[i] && n < BRR_ARRAY_LEN(argv) - 1; i++) argv[n++] = args[i];
  argv[n] = NULL;
  char **env = git_env();
  brr_buf b = BRR_BUF_INIT;
  int rc = brr_spawn_capture(argv, env, out ? out : &b, 0);
  free(env);
  brr_buf_free(&b);
  if (out) {
    brr_buf_reserve(out, 0);
    while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
      out->data[--out->len] = '\0';
  }
  return rc;
}

static char *git_line(const char *dir, const char *const *args) {
  brr_buf b = BRR_BUF_INIT;
  if (run_git(dir, args, &b) != 0) {
    brr_buf_free(&b);
    return NULL;
  }
  return brr_buf_detach(&b);
}

/* os.path.splitext(os.path.basename(p))[0] */
static char *name_from_path(const char *p) {
  const char *base = brr_path_basename(p);
  const char *dot = strrchr(base, '.');
  const char *first = base;
  while (*first == '.') first++;
  if (dot && dot >= first) return brr_xstrndup(base, (size_t)(dot - base));
  return brr_xstrdup(base);
}

/* Detached HEAD: vcsinfo walks branches (master first) looking for one that contains HEAD.
 * `git for-each-ref --contains` answers the same question. */
static char *detached_branch(const char *dir) {
  const char *args[] = {"for-each-ref", "--format=%(refname:short)", "--contains", "HEAD",
                        "refs/heads", NULL};
  char *list = git_line(dir, args);
  if (!list || !*list) {
    free(list);
    return brr_xstrdup("DETACHED");
  }
  char **names = brr_split(list, '\n', NULL);
  char *pick = NULL;
  for (size_t i = 0; names[i]; i++)
    if (strcmp(names[i], "master") == 0) pick = brr_xstrdup("master");
  if (!pick) pick = brr_xstrdup(names[0]);
  brr_strv_free(names);
  free(list);
  return pick;
}

/* Newest integer mtime of the files `git status --porcelain` marks exactly M or A (its first
 * whitespace-separated token, as vcsinfo splits the line). */
static int64_t modified_time(const char *dir) {
  const char *args[] = {"--no-optional-locks", "status", "--porcelain", NULL};
  brr_buf b = BRR_BUF_INIT;
  int64_t newest = 0;
  if (run_git(dir, args, &b) == 0 && b.data) {
    char **lines = brr_split(b.data, '\n', NULL);
    for (size_t i = 0; lines[i]; i++) {
      char *save = NULL;
      char *tok = strtok_r(lines[i], " \t", &save);
      if (!tok || (strcmp(tok, "M") != 0 && strcmp(tok, "A") != 0)) continue;
      char *file = strtok_r(NULL, " \t", &save);
      if (!file) continue;
      char *path = brr_path_join(dir, file);
      struct stat st;
      if (stat(path, &st) == 0 && (int64_t)st.st_mtime > newest) newest = (int64_t)st.st_mtime;
      free(path);
    }
    brr_strv_free(lines);
  }
  brr_buf_free(&b);
  return newest;
}

static void placeholders(const char *dir, brr_vcs *v, char *problem) {
  v->found = false;
  v->problem = problem;
  v->root = brr_xstrdup(dir);
  v->name = name_from_path(dir);
  v->branch = brr_xstrdup("unknown");
  v->number = 0;
  v->id = brr_xstrdup("0000000000000000000000000000000000000000");
  memcpy(v->short_id, "0000000", 8);
  v->modified = 0;
  v->release = brr_xstrdup("0.I000000.M0");
}

void brr_vcs_detect(const char *dir, brr_vcs *v) {
  memset(v, 0, sizeof *v);
  const char *top_args[] = {"rev-parse", "--show-toplevel", NULL};
  char *top = git_line(dir, top_args);
  char *real_dir = brr_path_realpath(dir);
  char *real_top = top ? brr_path_realpath(top) : NULL;
  bool is_root = real_top && real_dir && strcmp(real_top, real_dir) == 0;
  free(real_top);
  free(real_dir);
  if (!top) {
    placeholders(dir, v, brr_xasprintf("%s is not in a git work tree", dir));
    return;
  }
  if (!is_root) {
    placeholders(dir, v, brr_xasprintf("%s is inside the git work tree %s but is not its root", dir, top));
    free(top);
    return;
  }
  const char *head_args[] = {"rev-parse", "--verify", "-q", "HEAD", NULL};
  char *id = git_line(dir, head_args);
  if (!id || strlen(id) < 7) {
    free(id);
    placeholders(dir, v, brr_xasprintf("the git work tree %s has no commit yet", dir));
    free(top);
    return;
  }
  v->found = true;
  v->root = top;
  v->id = id;
  memcpy(v->short_id, id, 7);
  v->short_id[7] = '\0';

  const char *branch_args[] = {"symbolic-ref", "-q", "--short", "HEAD", NULL};
  v->branch = git_line(dir, branch_args);
  if (!v->branch || !*v->branch) {
    free(v->branch);
    v->branch = detached_branch(dir);
  }

  const char *count_args[] = {"rev-list", "--count", "HEAD", NULL};
  char *count = git_line(dir, count_args);
  v->number = count ? strtoll(count, NULL, 10) : 0;
  free(count);

  const char *origin_args[] = {"config", "--get", "remote.origin.url", NULL};
  char *origin = git_line(dir, origin_args);
  v->name = name_from_path(origin && *origin ? origin : v->root);
  free(origin);

  v->modified = modified_time(dir);
  v->release = brr_xasprintf("%lld.I%.6s.M%lld", (long long)v->number, v->id, (long long)v->modified);
}

void brr_vcs_free(brr_vcs *v) {
  free(v->problem);
  free(v->root);
  free(v->name);
  free(v->branch);
  free(v->id);
  free(v->release);
  memset(v, 0, sizeof *v);
}

char *brr_vcs_build_id(const brr_vcs *v, const char *build_number) {
  return brr_xasprintf("%s-%s-%s", v->branch, v->release, build_number);
}

/* PCRE2 substitution; NULL when the subject is not valid UTF-8 (or on any failure). */
static char *substitute(const char *pattern, const char *subject, const char *repl, uint32_t extra) {
  int err;
  PCRE2_SIZE off;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_DOTALL, &err, &off, NULL);
  if (!re) return NULL;
  size_t cap = strlen(subject) * 4 + 16;
  char *out = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    out = brr_xmalloc(cap);
    PCRE2_SIZE len = cap;
    int rc = pcre2_substitute(re, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, 0,
                              PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH | extra, NULL,
                              NULL, (PCRE2_SPTR)repl, PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)out, &len);
    if (rc >= 0) break;
    free(out);
    out = NULL;
    if (rc != PCRE2_ERROR_NOMEMORY) break;
    cap = len + 1;
  }
  pcre2_code_free(re);
  return out;
}

char *brr_vcs_sanitize_tag(const char *tag) {
  /* Python: re.sub(r"[^-_\w.]+", "-", tag.lower()), both Unicode-aware */
  char *lower = substitute(".+", tag, "\\L$0", PCRE2_SUBSTITUTE_EXTENDED);
  char *r = lower ? substitute("[^-_\\w.]+", lower, "-", 0) : NULL;
  free(lower);
  if (r) return r;
  /* not UTF-8: the same rule over bytes, ASCII word characters only */
  brr_buf b = BRR_BUF_INIT;
  bool in_run = false;
  for (const unsigned char *p = (const unsigned char *)tag; *p; p++) {
    unsigned char c = (unsigned char)tolower(*p);
    bool keep = c < 0x80 && (isalnum(c) || c == '_' || c == '-' || c == '.');
    if (keep) brr_buf_putc(&b, (char)c);
    else if (!in_run) brr_buf_putc(&b, '-');
    in_run = !keep;
  }
  return brr_buf_detach(&b);
}
