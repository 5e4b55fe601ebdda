/* The results directory: refused when removing brr's files from it could hurt (it is a file,
 * or it holds the project), locked for the whole run, and cleared of what an earlier run made
 * there, and only of that: the entries brr created are listed in a manifest beside them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brr/util.h"

struct brr_results {
  char *dir;
  int lock_fd;            /* the directory itself, flock'ed */
  int manifest_fd;        /* <dir>/.brr-created, O_APPEND */
  brr_strmap noted;       /* names already in the manifest */
};

/* Names brr writes at the top of the results dir itself; a step may not take them. */
static const char *const OWN[] = {"logs", "build.log", "artifacts.json"};

char *brr_results_name(const char *step) {
  brr_buf b = BRR_BUF_INIT;
  bool own = false;
  for (size_t i = 0; i < BRR_ARRAY_LEN(OWN); i++) own |= !strcmp(step, OWN[i]);
  for (const unsigned char *p = (const unsigned char *)step; *p; p++) {
    bool first = p == (const unsigned char *)step;
    if (*p == '%' || *p == '/' || *p < 0x20 || *p == 0x7f || (first && (*p == '.' || own)))
      brr_buf_printf(&b, "%%%02X", *p);
    else
      brr_buf_putc(&b, (char)*p);
  }
  return brr_buf_detach(&b);
}

/* A manifest line that may be removed: one plain component, never the manifest itself. */
static bool removable(const char *name) {
  return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") &&
         strcmp(name, BRR_RESULTS_MANIFEST);
}

static int clear_previous(const char *dir, char **err) {
  char *path = brr_path_join(dir, BRR_RESULTS_MANIFEST);
  brr_buf text = BRR_BUF_INIT;
  int rc = brr_read_file(path, &text);
  if (rc == -ENOENT) rc = 0;
  else if (rc < 0) *err = brr_xasprintf("cannot read %s: %s", path, brr_strerror(rc));
  char *save = NULL;
  for (char *line = rc == 0 && text.len ? strtok_r(text.data, "\n", &save) : NULL; line;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#' || !removable(line)) continue;
    char *victim = brr_path_join(dir, line);
    int r = brr_rm_rf(victim);
    if (r < 0 && rc == 0) {
      *err = brr_xasprintf("cannot remove %s, made by an earlier run: %s", victim, brr_strerror(r));
      rc = r;
    }
    free(victim);
  }
  /* rewritten whole files: a stale artifacts.json would otherwise be merged into */
  char *aj = brr_path_join(dir, "artifacts.json");
  if (rc == 0 && unlink(aj) != 0 && errno != ENOENT && errno != EISDIR) {
    rc = -errno;
    *err = brr_xasprintf("cannot remove %s: %s", aj, strerror(errno));
  }
  free(aj);
  brr_buf_free(&text);
  free(path);
  return rc;
}

static int refuse(const char *dir, const brr_results_guard *protect, size_t n, char **err) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno == ENOENT) return 0;  /* made below: it holds nothing yet */
    int e = errno;
    *err = brr_xasprintf("cannot use the results directory %s: %s", dir, strerror(e));
    return -e;
  }
  if (!S_ISDIR(st.st_mode)) {
    *err = brr_xasprintf("the results directory %s exists and is not a directory; choose another "
                         "with -b", dir);
    return -ENOTDIR;
  }
  char *real = brr_path_realpath(dir);
  int rc = 0;
  for (size_t i = 0; real && rc == 0 && i < n; i++) {
    if (!protect[i].path) continue;
    char *p = brr_path_realpath(protect[i].path);
    const char *cmp = p ? p : protect[i].path;
    if (brr_path_is_under(cmp, real)) {
      *err = strcmp(cmp, real)
                 ? brr_xasprintf("the results directory %s holds %s %s; brr replaces what it "
                                 "writes there: choose another with -b", dir, protect[i].what,
                                 protect[i].path)
                 : brr_xasprintf("the results directory %s is %s; brr replaces what it writes "
                                 "there: choose another with -b", dir, protect[i].what);
      rc = -EINVAL;
    }
    free(p);
  }
  free(real);
  return rc;
}

int brr_results_open(const char *dir, const brr_results_guard *protect, size_t n_protect, bool keep,
                     brr_results **out, char **err) {
  *out = NULL;
  *err = NULL;
  int rc = refuse(dir, protect, n_protect, err);
  if (rc < 0) return rc;
  rc = brr_mkdir_p(dir, 0755);
  if (rc < 0) {
    *err = brr_xasprintf("cannot create the results directory %s: %s", dir, brr_strerror(rc));
    return rc;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    rc = -errno;
    *err = brr_xasprintf("cannot open the results directory %s: %s", dir, strerror(errno));
    return rc;
  }
  while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
    *err = rc == -EBUSY ? brr_xasprintf("another brr is running with the results directory %s; "
                                        "wait for it to end, or choose another with -b", dir)
                        : brr_xasprintf("cannot lock the results directory %s: %s", dir,
                                        strerror(errno));
    close(fd);
    return rc;
  }
  if (!keep && (rc = clear_previous(dir, err)) < 0) {
    close(fd);
    return rc;
  }
  char *path = brr_path_join(dir, BRR_RESULTS_MANIFEST);
  int mfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (keep ? 0 : O_TRUNC), 0644);
  if (mfd < 0) {
    rc = -errno;
    *err = brr_xasprintf("cannot write %s: %s", path, strerror(errno));
    free(path);
    close(fd);
    return rc;
  }
  free(path);
  brr_results *r = brr_xcalloc(1, sizeof *r);
  r->dir = brr_xstrdup(dir);
  r->lock_fd = fd;
  r->manifest_fd = mfd;
  *out = r;
  return 0;
}

int brr_results_note(brr_results *r, const char *name) {
  if (brr_strmap_get(&r->noted, name, NULL)) return 0;
  char *line = brr_xasprintf("%s\n", name);
  size_t len = strlen(line), off = 0;
  int rc = 0;
  while (off < len) {
    ssize_t w = write(r->manifest_fd, line + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      rc = -errno;
      break;
    }
    off += (size_t)w;
  }
  free(line);
  if (rc == 0) brr_strmap_put(&r->noted, brr_xstrdup(name), 1);
  return rc;
}

int brr_results_mkdir(brr_results *r, const char *name) {
  char *path = brr_path_join(r->dir, name);
  int rc = 0;
  if (mkdir(path, 0755) == 0) {
    rc = brr_results_note(r, name);
    if (rc < 0) rmdir(path);  /* unrecorded, it would stay for good */
  } else if (errno != EEXIST) {
    rc = -errno;
  } else {
    struct stat st;
    if (stat(path, &st) != 0) rc = -errno;
    else if (!S_ISDIR(st.st_mode)) rc = -ENOTDIR;
  }
  free(path);
  return rc;
}

void brr_results_close(brr_results *r) {
  if (!r) return;
  close(r->manifest_fd);
  close(r->lock_fd);
  /* the strmap does not own its keys */
  for (size_t i = 0; i < r->noted.cap; i++)
    if (r->noted.keys && r->noted.keys[i]) free((char *)r->noted.keys[i]);
  brr_strmap_free(&r->noted);
  free(r->dir);
  free(r);
}
