/* Paths and whole-file I/O. */
#include "brr/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *brr_path_join(const char *a, const char *b) {
  if (!a || !*a || b[0] == '/') return brr_xstrdup(b);
  size_t n = strlen(a);
  if (a[n - 1] == '/') return brr_xasprintf("%s%s", a, b);
  return brr_xasprintf("%s/%s", a, b);
}

char *brr_path_dirname(const char *p) {
  const char *slash = strrchr(p, '/');
  if (!slash) return brr_xstrdup(".");
  while (slash > p && slash[-1] == '/') slash--;
  if (slash == p) return brr_xstrdup("/");
  return brr_xstrndup(p, (size_t)(slash - p));
}

const char *brr_path_basename(const char *p) {
  const char *slash = strrchr(p, '/');
  return slash ? slash + 1 : p;
}

char *brr_path_expanduser(const char *p) {
  if (p[0] != '~' || (p[1] != '\0' && p[1] != '/')) return brr_xstrdup(p);
  const char *home = getenv("HOME");
  if (!home || !*home) return brr_xstrdup(p);
  return brr_xasprintf("%s%s", home, p + 1);
}

char *brr_path_realpath(const char *p) {
  char *r = realpath(p, NULL);
  return r;
}

char *brr_path_normalize(const char *p) {
  bool abs = p[0] == '/';
  size_t n = strlen(p);
  char **parts = brr_xcalloc(n + 1, sizeof(char *));
  size_t np = 0;
  const char *s = p;
  while (*s) {
    while (*s == '/') s++;
    if (!*s) break;
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == 1 && s[0] == '.') {
      /* skip */
    } else if (len == 2 && s[0] == '.' && s[1] == '.') {
      if (np > 0 && strcmp(parts[np - 1], "..") != 0) {
        free(parts[--np]);
      } else if (!abs) {
        parts[np++] = brr_xstrdup("..");
      }
    } else {
      parts[np++] = brr_xstrndup(s, len);
    }
    s += len;
  }
  brr_buf b = BRR_BUF_INIT;
  if (abs) brr_buf_putc(&b, '/');
  for (size_t i = 0; i < np; i++) {
    if (i) brr_buf_putc(&b, '/');
    brr_buf_puts(&b, parts[i]);
    free(parts[i]);
  }
  free(parts);
  if (b.len == 0) brr_buf_putc(&b, '.');
  return brr_buf_detach(&b);
}

bool brr_path_is_under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/') return path[0] == '/';
  if (strncmp(path, dir, n) != 0) return false;
  return path[n] == '\0' || path[n] == '/';
}

char *brr_path_display(const char *abs) {
  char cwd[PATH_MAX];
  if (abs[0] == '/' && getcwd(cwd, sizeof cwd) && brr_path_is_under(abs, cwd)) {
    size_t n = strlen(cwd);
    if (abs[n] == '/') return brr_xstrdup(abs + n + 1);
  }
  return brr_xstrdup(abs);
}

int brr_read_file(const char *path, brr_buf *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return -EISDIR;
  }
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0) break;
    brr_buf_append(out, chunk, (size_t)r);
  }
  brr_buf_reserve(out, 0);
  close(fd);
  return 0;
}

int brr_write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return -e;
    }
    p += w;
    len -= (size_t)w;
  }
  if (close(fd) != 0) return -errno;
  return 0;
}

int brr_mkdir_p(const char *path, unsigned mode) {
  char *p = brr_xstrdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, mode) != 0 && errno != EEXIST) {
      int e = errno;
      free(p);
      return -e;
    }
    *s = '/';
  }
  int rc = 0;
  if (mkdir(p, mode) != 0 && errno != EEXIST) rc = -errno;
  if (rc == 0) {
    struct stat st;
    if (stat(p, &st) != 0) rc = -errno;
    else if (!S_ISDIR(st.st_mode)) rc = -ENOTDIR;
  }
  free(p);
  return rc;
}

int brr_rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -errno;
  if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? 0 : -errno;
  DIR *d = opendir(path);
  if (!d) return -errno;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *child = brr_path_join(path, e->d_name);
    int r = brr_rm_rf(child);
    if (r && !rc) rc = r;
    free(child);
  }
  closedir(d);
  if (rmdir(path) != 0 && !rc) rc = -errno;
  return rc;
}
