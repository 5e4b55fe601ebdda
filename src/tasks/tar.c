/* Walking disk trees into libarchive writers, and small reading helpers. */
#include "tasks_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#include "brr/util.h"

#define CHUNK 65536

int brr_tar_errno(brr_diags *d, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *what = brr_xvasprintf(fmt, ap);
  va_end(ap);
  brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL, "%s: %s", what, strerror(err));
  g->exit_code = BRR_EXIT_FAILED;
  free(what);
  return err == ENOENT ? BRR_ENOENT : BRR_EIO;
}

int brr_tar_aerr(brr_diags *d, struct archive *a, const char *what) {
  const char *msg = a ? archive_error_string(a) : NULL;
  /* libarchive's text ("Write failed") often leaves out why: the errno says it (ENOSPC) */
  int e = a ? archive_errno(a) : 0;
  const char *why = e > 0 ? strerror(e) : NULL;
  brr_diag *g = why && (!msg || !strstr(msg, why))
                    ? brr_diag_error(d, BRR_MARK_NONE, NULL, "%s: %s: %s", what,
                                     msg ? msg : "archive error", why)
                    : brr_diag_error(d, BRR_MARK_NONE, NULL, "%s: %s", what, msg ? msg : "archive error");
  g->exit_code = BRR_EXIT_FAILED;
  return BRR_EIO;
}

int brr_tar_open_temp(const char *dir, const char *prefix, char **path_out) {
  static unsigned counter;
  for (int attempt = 0; attempt < 100; attempt++) {
    unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    char *p = brr_xasprintf("%s/.%s-%ld-%u-%llx", dir, prefix, (long)getpid(), n,
                            (unsigned long long)brr_mono_ms() ^ (unsigned long long)(uintptr_t)&n);
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      *path_out = p;
      return fd;
    }
    int e = errno;
    free(p);
    if (e != EEXIST) return -e;
  }
  return -EEXIST;
}

static void out_init(brr_tar_out *o, brr_diags *d) {
  memset(o, 0, sizeof *o);
  o->d = d;
  o->rd = archive_read_disk_new();
  /* Only what tar and docker use: no xattrs, ACLs, file flags or sparse maps, so the output
   * does not depend on the host's filesystem features. */
  archive_read_disk_set_behavior(o->rd, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                            ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);
  archive_read_disk_set_standard_lookup(o->rd);
}

int brr_tar_out_open_file(brr_tar_out *o, const char *path, brr_diags *d) {
  out_init(o, d);
  o->a = archive_write_new();
  archive_write_set_format_pax_restricted(o->a);
  archive_write_add_filter_none(o->a);
  /* no padding of the last block beyond the 1024 end bytes: the file is read by docker, not a tape */
  archive_write_set_bytes_in_last_block(o->a, 1);
  if (archive_write_open_filename(o->a, path) != ARCHIVE_OK) {
    int rc = brr_tar_aerr(d, o->a, path);
    brr_tar_out_abort(o);
    return rc;
  }
  o->links = archive_entry_linkresolver_new();
  archive_entry_linkresolver_set_strategy(o->links, archive_format(o->a));
  return 0;
}

int brr_tar_out_open_disk(brr_tar_out *o, const char *root, int flags, brr_diags *d) {
  out_init(o, d);
  o->disk_root = root;
  o->a = archive_write_disk_new();
  archive_write_disk_set_options(o->a, flags | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                           ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  archive_write_disk_set_standard_lookup(o->a);
  return 0;
}

void brr_tar_out_wrap(brr_tar_out *o, struct archive *a, bool detect_links, brr_diags *d) {
  out_init(o, d);
  o->a = a;
  if (detect_links) {
    o->links = archive_entry_linkresolver_new();
    archive_entry_linkresolver_set_strategy(o->links, archive_format(a));
  }
}

static void out_free(brr_tar_out *o) {
  if (o->links) archive_entry_linkresolver_free(o->links);
  if (o->rd) archive_read_free(o->rd);
  if (o->a) archive_write_free(o->a);
  o->links = NULL;
  o->rd = NULL;
  o->a = NULL;
}

int brr_tar_out_close(brr_tar_out *o) {
  int rc = 0;
  if (o->a && archive_write_close(o->a) != ARCHIVE_OK) rc = brr_tar_aerr(o->d, o->a, "finishing archive");
  out_free(o);
  return rc;
}

void brr_tar_out_abort(brr_tar_out *o) { out_free(o); }

/* Stream an open file's bytes into the current entry; stops at the size the header promised
 * (libarchive pads a file that shrank in the meantime). */
static int write_fd(brr_tar_out *o, int fd, const char *disk) {
  char *buf = brr_xmalloc(CHUNK);
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, buf, CHUNK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = brr_tar_errno(o->d, errno, "reading %s", disk);
      break;
    }
    if (n == 0) break;
    la_ssize_t w = archive_write_data(o->a, buf, (size_t)n);
    if (w < 0) {
      rc = brr_tar_aerr(o->d, o->a, disk);
      break;
    }
    if (w < n) break;  /* the file grew: the header's size is what counts */
  }
  free(buf);
  return rc;
}

static char *out_name(const brr_tar_out *o, const char *name) {
  if (!o->disk_root) return brr_xstrdup(name);
  if (!strcmp(name, ".") || !*name) return brr_xstrdup(o->disk_root);
  return brr_path_join(o->disk_root, name);
}

/* Write one entry from its stat; `fd` is an open descriptor for regular files, else -1. */
static int add_entry(brr_tar_out *o, const char *disk, const char *name, const struct stat *st,
                     int fd) {
  struct archive_entry *e = archive_entry_new2(o->a);
  archive_entry_copy_sourcepath(e, disk);
  int r = archive_read_disk_entry_from_file(o->rd, e, S_ISLNK(st->st_mode) ? -1 : fd, st);
  if (r < ARCHIVE_WARN) {
    archive_entry_free(e);
    return brr_tar_aerr(o->d, o->rd, disk);
  }
  char *full = out_name(o, name);
  archive_entry_copy_pathname(e, full);
  free(full);
  archive_entry_copy_sourcepath(e, NULL);
  if (o->root_owner) {
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_uname(e, NULL);
    archive_entry_set_gname(e, NULL);
  }
  struct archive_entry *spare = NULL;
  if (o->links) archive_entry_linkify(o->links, &e, &spare);
  int rc = 0;
  /* tar's strategy never defers an entry, so `e` is this file (maybe turned into a link) */
  if (e) {
    if (archive_write_header(o->a, e) < ARCHIVE_WARN) {
      rc = brr_tar_aerr(o->d, o->a, disk);
    } else if (fd >= 0 && archive_entry_size(e) > 0 && !archive_entry_hardlink(e)) {
      rc = write_fd(o, fd, disk);
    }
    if (rc == 0 && archive_write_finish_entry(o->a) < ARCHIVE_WARN) rc = brr_tar_aerr(o->d, o->a, disk);
    archive_entry_free(e);
  }
  if (spare) archive_entry_free(spare);
  return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dots(const struct dirent *e) {
  return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

/* Directories being walked, to stop a followed symlink from looping. */
typedef struct walk_stack {
  dev_t dev;
  ino_t ino;
  const struct walk_stack *up;
} walk_stack;

typedef struct walk {
  brr_tar_out *o;
  brr_tar_filter filter;
  void *ctx;
  const char *arcname;
} walk;

static char *child_rel(const char *rel, const char *name) {
  return *rel ? brr_xasprintf("%s/%s", rel, name) : brr_xstrdup(name);
}

static char *arc_of(const walk *w, const char *rel) {
  if (!*w->arcname || !strcmp(w->arcname, ".")) return brr_xstrdup(rel);
  return brr_xasprintf("%s/%s", w->arcname, rel);
}

static int walk_dir(walk *w, const char *disk, const char *rel, const walk_stack *up);

static int stat_path(const brr_tar_out *o, const char *disk, struct stat *st) {
  return o->follow_symlinks ? stat(disk, st) : lstat(disk, st);
}

/* Visit one child: ask the filter, write it, recurse. */
static int walk_child(walk *w, const char *dir, const char *rel_dir, const char *name,
                      const walk_stack *up) {
  char *disk = brr_path_join(dir, name);
  char *rel = child_rel(rel_dir, name);
  struct stat st;
  int rc = 0;
  if (stat_path(w->o, disk, &st) != 0) {
    /* vanished while we walked (or a dangling link being followed): nothing to archive */
    if (errno != ENOENT) rc = brr_tar_errno(w->o->d, errno, "%s", disk);
    goto out;
  }
  if (S_ISSOCK(st.st_mode)) goto out;
  brr_tar_verdict v = w->filter ? w->filter(w->ctx, rel, &st) : BRR_TAR_TAKE;
  if (v == BRR_TAR_SKIP || (v == BRR_TAR_DESCEND_ONLY && !S_ISDIR(st.st_mode))) goto out;
  if (v == BRR_TAR_TAKE) {
    int fd = -1;
    if (S_ISREG(st.st_mode)) {
      fd = open(disk, O_RDONLY | O_CLOEXEC | (w->o->follow_symlinks ? 0 : O_NOFOLLOW));
      if (fd < 0) {
        if (errno != ENOENT) rc = brr_tar_errno(w->o->d, errno, "opening %s", disk);
        goto out;
      }
      fstat(fd, &st);  /* describe the file we actually read */
    }
    char *arc = arc_of(w, rel);
    rc = add_entry(w->o, disk, arc, &st, fd);
    free(arc);
    if (fd >= 0) close(fd);
  }
  if (rc == 0 && S_ISDIR(st.st_mode)) {
    for (const walk_stack *s = up; s; s = s->up) {
      if (s->dev == st.st_dev && s->ino == st.st_ino) {
        brr_diag *g = brr_diag_error(w->o->d, BRR_MARK_NONE, NULL,
                                     "%s: symbolic link loop while copying", disk);
        g->exit_code = BRR_EXIT_FAILED;
        rc = BRR_EIO;
        goto out;
      }
    }
    walk_stack here = {st.st_dev, st.st_ino, up};
    rc = walk_dir(w, disk, rel, &here);
  }
out:
  free(disk);
  free(rel);
  return rc;
}

static int walk_dir(walk *w, const char *disk, const char *rel, const walk_stack *up) {
  struct dirent **list = NULL;
  int n = scandir(disk, &list, not_dots, by_name);
  if (n < 0) {
    if (errno == ENOENT) return 0;
    return brr_tar_errno(w->o->d, errno, "reading directory %s", disk);
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    if (rc == 0) rc = walk_child(w, disk, rel, list[i]->d_name, up);
    free(list[i]);
  }
  free(list);
  return rc;
}

int brr_tar_add_tree(brr_tar_out *o, const char *disk_path, const char *arcname, bool with_root,
                     brr_tar_filter filter, void *ctx) {
  struct stat st;
  if (stat_path(o, disk_path, &st) != 0) return brr_tar_errno(o->d, errno, "%s", disk_path);
  walk w = {o, filter, ctx, arcname};
  int rc = 0;
  if (with_root || !S_ISDIR(st.st_mode)) {
    int fd = -1;
    if (S_ISREG(st.st_mode)) {
      fd = open(disk_path, O_RDONLY | O_CLOEXEC | (o->follow_symlinks ? 0 : O_NOFOLLOW));
      if (fd < 0) return brr_tar_errno(o->d, errno, "opening %s", disk_path);
      fstat(fd, &st);
    }
    rc = add_entry(o, disk_path, *arcname ? arcname : ".", &st, fd);
    if (fd >= 0) close(fd);
  }
  if (rc == 0 && S_ISDIR(st.st_mode)) {
    walk_stack root = {st.st_dev, st.st_ino, NULL};
    rc = walk_dir(&w, disk_path, "", &root);
  }
  return rc;
}

int brr_tar_add_data(brr_tar_out *o, const char *arcname, const void *data, size_t len,
                     unsigned mode) {
  struct archive_entry *e = archive_entry_new2(o->a);
  char *full = out_name(o, arcname);
  archive_entry_copy_pathname(e, full);
  free(full);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, mode);
  archive_entry_set_size(e, (la_int64_t)len);
  archive_entry_set_mtime(e, (time_t)(brr_wall_ms() / 1000), 0);
  if (!o->root_owner) {
    archive_entry_set_uid(e, getuid());
    archive_entry_set_gid(e, getgid());
  }
  int rc = 0;
  if (archive_write_header(o->a, e) < ARCHIVE_WARN ||
      (len && archive_write_data(o->a, data, len) < 0) ||
      archive_write_finish_entry(o->a) < ARCHIVE_WARN)
    rc = brr_tar_aerr(o->d, o->a, arcname);
  archive_entry_free(e);
  return rc;
}

struct archive *brr_tar_read_open(const char *path, brr_diags *d) {
  struct archive *a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path, CHUNK) != ARCHIVE_OK) {
    brr_tar_aerr(d, a, path);
    archive_read_free(a);
    return NULL;
  }
  return a;
}

int brr_tar_copy_data(struct archive *in, struct archive *out, const char *what, brr_diags *d) {
  char *buf = brr_xmalloc(CHUNK);
  int rc = 0;
  for (;;) {
    la_ssize_t n = archive_read_data(in, buf, CHUNK);
    if (n < 0) {
      rc = brr_tar_aerr(d, in, what);
      break;
    }
    if (n == 0) break;
    if (archive_write_data(out, buf, (size_t)n) < 0) {
      rc = brr_tar_aerr(d, out, what);
      break;
    }
  }
  free(buf);
  return rc;
}
