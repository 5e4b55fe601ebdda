/* Storing one artifact match from its archive-API tar stream, laid out as buildrunner's lister
 * container leaves it in <results>/<step>/, with buildrunner's artifacts.json entries
 * (spec §9.6, §9.8). */
#include "brr/tasks_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks_internal.h"

struct brr_artifact_sink {
  char *step;              /* the step's results name (brr_results_name) */
  char *step_dir;          /* <results>/<step> */
  char *match;             /* normalised match path */
  brr_str pattern;
  const brr_value *props;  /* a map, or a falsy value, or NULL */
  const char *rename;      /* the `rename` property, or NULL */
  brr_artifact_kind kind;
  char *spool;             /* the stream, kept until the finish */
  int fd;
  int err;                 /* errno of a failed spool write */
};

/* ---- properties ---- */

static const brr_value *prop(const brr_value *props, const char *key) {
  return props && props->type == BRR_VAL_MAP ? brr_val_get(props, key) : NULL;
}

/* A property as text the way Python's str() prints it, or `dflt` when absent or null. */
static char *prop_str(const brr_value *map, const char *key, const char *dflt) {
  const brr_value *v = prop(map, key);
  if (!v || v->type == BRR_VAL_NULL) return dflt ? brr_xstrdup(dflt) : NULL;
  brr_buf b = BRR_BUF_INIT;
  brr_val_pystr(v, &b);
  return brr_buf_detach(&b);
}

static brr_mark mark_of(const brr_value *v, brr_mark dflt) { return v ? v->mark : dflt; }

/* Registration rule: no properties, or `push` not falsy. */
static bool registered(const brr_value *props) {
  if (!brr_val_truthy(props)) return true;
  const brr_value *push = prop(props, "push");
  return !push || brr_val_truthy(push);
}

/* An output name below the step directory: normalised, a leading `/` dropped, never above. */
static char *output_rel(const char *name) {
  char *n = brr_path_normalize(name);
  size_t skip = strspn(n, "/");
  memmove(n, n + skip, strlen(n + skip) + 1);
  if (!*n || !strcmp(n, ".") || !strcmp(n, "..") || brr_startswith(n, "../")) {
    free(n);
    return NULL;
  }
  return n;
}

static int escapes(brr_artifact_sink *s, const char *name, brr_mark mark, brr_diags *d) {
  brr_diag_error(d, mark, NULL, "artifact output \"%s\" for %s is outside the step's results "
                 "directory", name, s->match);
  return BRR_ECONFIG;
}

static int check_props(const brr_artifact_req *req, brr_artifact_sink *s, brr_diags *d) {
  const brr_value *props = req->props;
  if (brr_val_truthy(props) && props->type != BRR_VAL_MAP) {
    brr_diag_error(d, props->mark, NULL, "artifact properties for %s must be a map, not %s",
                   req->pattern.s, brr_val_type_desc(props));
    return BRR_ECONFIG;
  }
  const brr_value *rename = prop(props, "rename");
  if (brr_val_truthy(rename)) {
    if (rename->type != BRR_VAL_STR) {
      brr_diag_error(d, rename->mark, NULL, "rename must be a string, not %s",
                     brr_val_type_desc(rename));
      return BRR_ECONFIG;
    }
    if (strchr(req->pattern.s, '*')) {
      brr_diag_error(d, rename->mark, NULL,
                     "Rename is not supported with wildcard patterns. `%s` is not a valid pattern "
                     "to use with rename.", req->pattern.s);
      return BRR_ECONFIG;
    }
    s->rename = rename->u.s.ptr;
  }
  const brr_value *archive = prop(props, "archive");
  if (archive && archive->type != BRR_VAL_MAP && archive->type != BRR_VAL_NULL) {
    brr_diag_error(d, archive->mark, NULL, "archive must be a map, not %s", brr_val_type_desc(archive));
    return BRR_ECONFIG;
  }
  return 0;
}

int brr_artifact_sink_new(const brr_artifact_req *req, brr_artifact_sink **out, brr_diags *d) {
  *out = NULL;
  brr_artifact_sink *s = brr_xcalloc(1, sizeof *s);
  s->fd = -1;
  s->props = req->props;
  s->pattern = req->pattern;
  s->kind = req->kind;
  s->step = brr_results_name(req->step);
  s->match = brr_path_normalize(req->match);
  s->step_dir = brr_path_join(req->results_dir, s->step);
  int rc = check_props(req, s, d);
  if (rc == 0) {
    int r = brr_mkdir_p(s->step_dir, 0777);
    if (r) rc = brr_tar_errno(d, -r, "creating %s", s->step_dir);
  }
  if (rc == 0) {
    s->fd = brr_tar_open_temp(s->step_dir, "brr-artifact", &s->spool);
    if (s->fd < 0) rc = brr_tar_errno(d, -s->fd, "creating a spool file in %s", s->step_dir);
  }
  if (rc) {
    brr_artifact_sink_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int brr_artifact_sink_write(brr_artifact_sink *s, const void *data, size_t len) {
  if (s->err) return BRR_EIO;
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(s->fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      s->err = errno;
      return BRR_EIO;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

bool brr_artifact_sink_failed(const brr_artifact_sink *s) { return s->err != 0; }

void brr_artifact_sink_free(brr_artifact_sink *s) {
  if (!s) return;
  if (s->fd >= 0) close(s->fd);
  if (s->spool) unlink(s->spool);
  free(s->spool);
  free(s->step);
  free(s->step_dir);
  free(s->match);
  free(s);
}

/* ---- registration ---- */

static void add_entry(brr_arena *a, brr_value *artifacts, const char *step, const char *rel,
                      brr_value *val) {
  char *k = brr_xasprintf("%s/%s", step, rel);
  brr_value *key = brr_val_str(a, BRR_MARK_NONE, k);
  free(k);
  brr_val_map_set(a, artifacts, key, val ? val : brr_val_null(a, BRR_MARK_NONE), NULL);
}

/* The properties as buildrunner stores them once a file was renamed: `rename` becomes
 * {"old": <match>, "new": <name>} in place. */
static brr_value *renamed_props(brr_arena *a, const brr_artifact_sink *s) {
  brr_value *p = brr_val_copy(a, s->props);
  if (s->rename) {
    brr_value *r = brr_val_map(a, BRR_MARK_NONE);
    brr_val_map_sets(a, r, "old", brr_val_str(a, BRR_MARK_NONE, s->match));
    brr_val_map_sets(a, r, "new", brr_val_str(a, BRR_MARK_NONE, s->rename));
    brr_val_map_sets(a, p, "rename", r);
  }
  return p;
}

/* ---- outputs ---- */

static const int disk_flags = ARCHIVE_EXTRACT_SAFE_WRITES | ARCHIVE_EXTRACT_UNLINK;

/* The match as a file: the stream's first entry, written as <name or rename>. */
static int store_file(brr_artifact_sink *s, struct archive *in, brr_arena *a, brr_value *artifacts,
                      brr_diags *d) {
  struct archive_entry *e;
  int r = archive_read_next_header(in, &e);
  if (r != ARCHIVE_OK) return r == ARCHIVE_EOF ? brr_tar_errno(d, ENOENT, "%s", s->match)
                                                : brr_tar_aerr(d, in, s->match);
  if (archive_entry_filetype(e) != AE_IFREG) {
    brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL, "Error gathering artifact %s: the "
                                 "archive holds a %s, not a file", s->match,
                                 archive_entry_filetype(e) == AE_IFLNK ? "symbolic link" : "directory");
    g->exit_code = BRR_EXIT_FAILED;
    return BRR_EIO;
  }
  const char *name = s->rename ? s->rename : brr_path_basename(s->match);
  char *rel = output_rel(name);
  if (!rel) return escapes(s, name, mark_of(prop(s->props, "rename"), s->pattern.mark), d);
  brr_tar_out o;
  brr_tar_out_open_disk(&o, s->step_dir, disk_flags, d);
  char *full = brr_path_join(s->step_dir, rel);
  archive_entry_copy_pathname(e, full);
  /* cp -L: the mode with the umask applied, a fresh mtime, owned by us */
  archive_entry_unset_mtime(e);
  int rc = 0;
  if (archive_write_header(o.a, e) < ARCHIVE_WARN) rc = brr_tar_aerr(d, o.a, full);
  if (rc == 0) rc = brr_tar_copy_data(in, o.a, full, d);
  if (rc == 0 && archive_write_finish_entry(o.a) < ARCHIVE_WARN) rc = brr_tar_aerr(d, o.a, full);
  if (rc == 0) rc = brr_tar_out_close(&o);
  else brr_tar_out_abort(&o);
  if (rc != 0) unlink(full);  /* never a cut file that looks like the artifact */
  if (rc == 0 && registered(s->props)) add_entry(a, artifacts, s->step, rel, renamed_props(a, s));
  free(full);
  free(rel);
  return rc;
}

/* Archive entries are named <base>/<rest>; `rest` after the first component, or "" for the
 * root itself. */
static const char *below_root(const char *name) {
  while (*name == '/') name++;
  const char *slash = strchr(name, '/');
  if (!slash) return "";
  while (*slash == '/') slash++;
  return slash;
}

/* `format: uncompressed`: every regular file of the directory, as `find d -type f` copies
 * them, each registered as <step>/<match>/<rest> with the properties unchanged. */
static int store_tree(brr_artifact_sink *s, struct archive *in, brr_arena *a, brr_value *artifacts,
                      brr_diags *d) {
  char *base = output_rel(s->match);
  if (!base) return escapes(s, s->match, s->pattern.mark, d);
  brr_tar_out o;
  brr_tar_out_open_disk(&o, s->step_dir, disk_flags, d);
  struct archive_entry *e;
  int rc = 0, r;
  while (rc == 0 && (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
    /* regular files and hard links to them (a link member has no file type of its own) */
    bool link_member = archive_entry_filetype(e) == 0 && archive_entry_hardlink(e);
    if (archive_entry_filetype(e) != AE_IFREG && !link_member) continue;
    const char *rest = below_root(archive_entry_pathname(e));
    if (!*rest) continue;
    char *rel = brr_xasprintf("%s/%s", base, rest);
    char *clean = output_rel(rel);
    free(rel);
    if (!clean) continue;  /* a member trying to climb out of the directory */
    char *full = brr_path_join(s->step_dir, clean);
    archive_entry_copy_pathname(e, full);
    archive_entry_unset_mtime(e);
    const char *link = archive_entry_hardlink(e);
    if (link) {
      char *lrel = brr_xasprintf("%s/%s", base, below_root(link));
      char *lclean = output_rel(lrel);
      char *lfull = lclean ? brr_path_join(s->step_dir, lclean) : NULL;
      archive_entry_copy_hardlink(e, lfull);
      free(lrel);
      free(lclean);
      free(lfull);
    }
    if (archive_write_header(o.a, e) < ARCHIVE_WARN) rc = brr_tar_aerr(d, o.a, full);
    if (rc == 0 && archive_entry_size(e) > 0) rc = brr_tar_copy_data(in, o.a, full, d);
    if (rc == 0 && archive_write_finish_entry(o.a) < ARCHIVE_WARN) rc = brr_tar_aerr(d, o.a, full);
    if (rc != 0) unlink(full);  /* never a cut file that looks like the artifact */
    if (rc == 0 && registered(s->props)) add_entry(a, artifacts, s->step, clean, brr_val_copy(a, s->props));
    free(full);
    free(clean);
  }
  if (rc == 0 && r != ARCHIVE_EOF) rc = brr_tar_aerr(d, in, s->match);
  if (rc == 0) rc = brr_tar_out_close(&o);
  else brr_tar_out_abort(&o);
  free(base);
  return rc;
}

/* GNU tar's --auto-compress: the compressor named by the output's suffix, or none. */
static const char *auto_filter(const char *name) {
  static const struct { const char *suffix, *filter; } table[] = {
      {".gz", "gzip"},   {".tgz", "gzip"},  {".taz", "gzip"},   {".Z", "compress"},
      {".taZ", "compress"}, {".bz2", "bzip2"}, {".tbz", "bzip2"}, {".tbz2", "bzip2"},
      {".tz2", "bzip2"}, {".lz", "lzip"},   {".lzma", "lzma"},  {".tlz", "lzma"},
      {".lzo", "lzop"},  {".xz", "xz"},     {".txz", "xz"},     {".zst", "zstd"},
      {".tzst", "zstd"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(table); i++)
    if (brr_endswith(name, table[i].suffix)) return table[i].filter;
  return "none";
}

/* buildrunner's tar flag per `compression`; anything else is --auto-compress. */
static const char *tar_filter(const char *compression, const char *out_name) {
  static const struct { const char *compression, *filter; } table[] = {
      {"gz", "gzip"}, {"bz2", "bzip2"}, {"xz", "xz"},     {"lzma", "lzma"},
      {"lzip", "lzip"}, {"lzop", "lzop"}, {"z", "compress"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(table); i++)
    if (!strcmp(compression, table[i].compression)) return table[i].filter;
  return auto_filter(out_name);
}

/* `<name>/<rest>` for a member `<base>/<rest>` of the stream (tar's --xform s|^base|name|). */
static char *renamed_member(const char *name, const char *member) {
  const char *rest = below_root(member);
  return *rest ? brr_xasprintf("%s/%s", name, rest) : brr_xstrdup(name);
}

static int copy_members(struct archive *in, struct archive *w, const char *name, const char *what,
                        brr_diags *d) {
  struct archive_entry *e;
  int r, rc = 0;
  while (rc == 0 && (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
    char *member = renamed_member(name, archive_entry_pathname(e));
    archive_entry_copy_pathname(e, member);
    free(member);
    if (archive_entry_hardlink(e)) {
      char *link = renamed_member(name, archive_entry_hardlink(e));
      archive_entry_copy_hardlink(e, link);
      free(link);
    }
    if (archive_write_header(w, e) < ARCHIVE_WARN) rc = brr_tar_aerr(d, w, what);
    if (rc == 0 && archive_entry_size(e) > 0) rc = brr_tar_copy_data(in, w, what, d);
  }
  if (rc == 0 && r != ARCHIVE_EOF) rc = brr_tar_aerr(d, in, what);
  return rc;
}

/* Unpack the stream below `dir` (a fresh directory), links and modes as they are. */
static int unpack(struct archive *in, const char *dir, brr_diags *d) {
  brr_tar_out o;
  brr_tar_out_open_disk(&o, dir, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM, d);
  struct archive_entry *e;
  int r, rc = 0;
  while (rc == 0 && (r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
    char *full = brr_path_join(dir, archive_entry_pathname(e));
    archive_entry_copy_pathname(e, full);
    free(full);
    if (archive_entry_hardlink(e)) {
      char *link = brr_path_join(dir, archive_entry_hardlink(e));
      archive_entry_copy_hardlink(e, link);
      free(link);
    }
    if (archive_write_header(o.a, e) < ARCHIVE_WARN) rc = brr_tar_aerr(d, o.a, dir);
    if (rc == 0 && archive_entry_size(e) > 0) rc = brr_tar_copy_data(in, o.a, dir, d);
    if (rc == 0 && archive_write_finish_entry(o.a) < ARCHIVE_WARN) rc = brr_tar_aerr(d, o.a, dir);
  }
  if (rc == 0 && r != ARCHIVE_EOF) rc = brr_tar_aerr(d, in, dir);
  if (rc == 0) rc = brr_tar_out_close(&o);
  else brr_tar_out_abort(&o);
  return rc;
}

/* Zip has no hard links: the stream is unpacked beside the output, where every link is a
 * file, and the tree is zipped from there. */
static int write_zip(brr_artifact_sink *s, struct archive *in, struct archive *w, const char *name,
                     const char *what, brr_diags *d) {
  char *stage = brr_xasprintf("%s/.brr-artifact-zip-XXXXXX", s->step_dir);
  if (!mkdtemp(stage)) {
    int rc = brr_tar_errno(d, errno, "creating %s", stage);
    free(stage);
    return rc;
  }
  int rc = unpack(in, stage, d);
  DIR *dh = rc == 0 ? opendir(stage) : NULL;
  struct dirent *e = NULL;
  while (dh && (e = readdir(dh)) && e->d_name[0] == '.' &&
         (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) {
  }
  if (rc == 0 && e) {
    char *root = brr_path_join(stage, e->d_name);
    brr_tar_out o;
    brr_tar_out_wrap(&o, w, false, d);
    rc = brr_tar_add_tree(&o, root, name, true, NULL, NULL);
    o.a = NULL;  /* the caller closes and frees the writer */
    brr_tar_out_abort(&o);
    free(root);
  } else if (rc == 0) {
    rc = brr_tar_errno(d, ENOENT, "%s: empty archive stream", what);
  }
  if (dh) closedir(dh);
  brr_rm_rf(stage);
  free(stage);
  return rc;
}

/* The archive's output file, remembering why a write failed (ENOSPC...). */
typedef struct out_fd {
  int fd;
  int err;
} out_fd;

static la_ssize_t out_write(struct archive *a, void *ud, const void *buf, size_t n) {
  out_fd *o = ud;
  for (;;) {
    ssize_t w = write(o->fd, buf, n);
    if (w >= 0) return w;
    if (errno == EINTR) continue;
    o->err = errno;
    archive_set_error(a, errno, "%s", strerror(errno));
    return -1;
  }
}

/* The directory as one archive file at <step_dir>/<rel>, members renamed to <name>/...;
 * written to a temporary file first, so a failure leaves nothing behind. */
static int write_archive(brr_artifact_sink *s, struct archive *in, const char *name,
                         const char *type, const char *compression, const char *rel, brr_diags *d) {
  char *full = brr_path_join(s->step_dir, rel);
  char *dir = brr_path_dirname(full);
  int rc = brr_mkdir_p(dir, 0777);
  if (rc) rc = brr_tar_errno(d, -rc, "creating %s", dir);
  char *tmp = NULL;
  int fd = -1;
  if (rc == 0 && (fd = brr_tar_open_temp(dir, "brr-artifact-out", &tmp)) < 0)
    rc = brr_tar_errno(d, -fd, "creating a file in %s", dir);
  bool zip = !strcmp(type, "zip");
  if (rc == 0) {
    struct archive *w = archive_write_new();
    if (zip) {
      archive_write_set_format_zip(w);
    } else {
      archive_write_set_format_pax_restricted(w);
      const char *filter = tar_filter(compression, rel);
      int r = strcmp(filter, "none") ? archive_write_add_filter_by_name(w, filter)
                                     : archive_write_add_filter_none(w);
      if (r < ARCHIVE_WARN) rc = brr_tar_aerr(d, w, full);
    }
    out_fd of = {fd, 0};
    if (rc == 0 && archive_write_open2(w, &of, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
      rc = brr_tar_aerr(d, w, full);
    brr_diags sub = BRR_DIAGS_INIT;
    if (rc == 0) rc = zip ? write_zip(s, in, w, name, full, &sub) : copy_members(in, w, name, full, &sub);
    if (rc == 0 && archive_write_close(w) != ARCHIVE_OK) rc = brr_tar_aerr(&sub, w, full);
    /* a failed write of the file is the cause; libarchive's own text hides it */
    if (rc && of.err) brr_tar_errno(d, of.err, "writing %s", full);
    else
      for (size_t i = 0; i < sub.n; i++)
        brr_diag_add(d, sub.v[i].level, sub.v[i].mark, sub.v[i].path, "%s", sub.v[i].msg)->exit_code =
            sub.v[i].exit_code;
    brr_diags_free(&sub);
    archive_write_free(w);
  }
  if (fd >= 0 && close(fd) != 0 && rc == 0) rc = brr_tar_errno(d, errno, "writing %s", full);
  if (rc == 0 && rename(tmp, full) != 0) rc = brr_tar_errno(d, errno, "writing %s", full);
  if (rc && tmp) unlink(tmp);
  free(tmp);
  free(dir);
  free(full);
  return rc;
}

static int store_dir(brr_artifact_sink *s, struct archive *in, brr_arena *a, brr_value *artifacts,
                     brr_diags *d) {
  const brr_value *arch = prop(s->props, "archive");
  char *name = prop_str(arch, "name", s->rename ? s->rename : brr_path_basename(s->match));
  char *type = prop_str(arch, "type", "tar");
  char *out_name = NULL;
  int rc = 0;
  if (!strcmp(type, "tar")) {
    char *compression = prop_str(arch, "compression", "gz");
    char *dflt = brr_xasprintf(".tar.%s", compression);
    char *suffix = prop_str(arch, "suffix", dflt);
    out_name = brr_xasprintf("%s%s", name, suffix);
    free(compression);
    free(dflt);
    free(suffix);
  } else if (!strcmp(type, "zip")) {
    out_name = brr_xasprintf("%s.zip", name);
  } else {
    brr_diag_error(d, mark_of(prop(arch, "type"), s->pattern.mark), NULL,
                   "unsupported archive type \"%s\" for %s (tar or zip)", type, s->match);
    rc = BRR_ECONFIG;
  }
  char *rel = rc == 0 ? output_rel(out_name) : NULL;
  if (rc == 0 && !rel) rc = escapes(s, out_name, mark_of(prop(s->props, "rename"), s->pattern.mark), d);
  if (rc == 0) {
    char *compression = prop_str(arch, "compression", "gz");
    rc = write_archive(s, in, name, type, compression, rel, d);
    free(compression);
  }
  if (rc == 0) {
    brr_value *props = brr_val_truthy(s->props) ? renamed_props(a, s) : brr_val_map(a, BRR_MARK_NONE);
    brr_val_map_sets(a, props, "buildrunner.compressed.directory", brr_val_str(a, BRR_MARK_NONE, "true"));
    if (registered(props)) add_entry(a, artifacts, s->step, rel, props);
  }
  free(rel);
  free(out_name);
  free(type);
  free(name);
  return rc;
}

int brr_artifact_sink_finish(brr_artifact_sink *s, brr_arena *a, brr_value *artifacts,
                             brr_diags *d) {
  int rc = 0;
  /* the spool is a hidden file of the step's results dir: name the dir */
  int closed = close(s->fd);
  if (s->err) rc = brr_tar_errno(d, s->err, "writing in %s", s->step_dir);
  else if (closed != 0) rc = brr_tar_errno(d, errno, "writing in %s", s->step_dir);
  s->fd = -1;
  struct archive *in = rc == 0 ? brr_tar_read_open(s->spool, d) : NULL;
  if (rc == 0 && !in) rc = BRR_EIO;
  if (rc == 0) {
    bool uncompressed = false;
    char *format = prop_str(s->props, "format", NULL);
    uncompressed = format && !strcmp(format, "uncompressed");
    free(format);
    if (s->kind == BRR_ARTIFACT_FILE) rc = store_file(s, in, a, artifacts, d);
    else if (uncompressed) rc = store_tree(s, in, a, artifacts, d);
    else rc = store_dir(s, in, a, artifacts, d);
  }
  if (in) archive_read_free(in);
  brr_artifact_sink_free(s);
  return rc;
}
