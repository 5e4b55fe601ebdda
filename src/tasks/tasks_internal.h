/* brr — tasks-internal helpers: walking a disk tree into a libarchive writer (a tar or zip
 * file, or a directory through archive_write_disk), and reading tar streams back.
 * Shared by the /source tar, build contexts, artifacts and caches; not a public header. */
#ifndef BRR_TASKS_INTERNAL_H
#define BRR_TASKS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "brr/diag.h"

struct archive;
struct archive_entry;
struct archive_entry_linkresolver;

/* What a walk filter decides for one entry below the walk root. */
typedef enum {
  BRR_TAR_TAKE,          /* write the entry (and walk into it when it is a directory) */
  BRR_TAR_SKIP,          /* leave the entry and everything below it out */
  BRR_TAR_DESCEND_ONLY,  /* leave the directory entry out but still visit its children */
} brr_tar_verdict;

/* `rel` is the path below the walk root ("a/b"); `st` its lstat (stat when following links). */
typedef brr_tar_verdict (*brr_tar_filter)(void *ctx, const char *rel, const struct stat *st);

/* One output being filled by walks. Either `a` is an archive writer (tar, zip) and entry
 * names are archive names, or `disk_root` is set, `a` is an archive_write_disk and names are
 * made absolute under disk_root. */
typedef struct brr_tar_out {
  struct archive *a;
  struct archive *rd;                           /* archive_read_disk: stat -> entry, names */
  struct archive_entry_linkresolver *links;     /* hard-link detection, or NULL */
  const char *disk_root;                        /* set for archive_write_disk outputs */
  bool root_owner;        /* record uid/gid 0 and no user names (docker build contexts) */
  bool follow_symlinks;   /* archive what links point to instead of the links */
  brr_diags *d;           /* errors go here */
} brr_tar_out;

/* Open a pax (restricted) tar writer on `path` (created 0644, truncated) with hard-link
 * detection. */
int brr_tar_out_open_file(brr_tar_out *o, const char *path, brr_diags *d);
/* Open an archive_write_disk output rooted at `root` (which must exist) with libarchive's
 * ARCHIVE_EXTRACT_* `flags`; the SECURE_SYMLINKS and SECURE_NODOTDOT guards are always on. */
int brr_tar_out_open_disk(brr_tar_out *o, const char *root, int flags, brr_diags *d);
/* Wrap an archive writer that the caller configured and opened (format, filters). */
void brr_tar_out_wrap(brr_tar_out *o, struct archive *a, bool detect_links, brr_diags *d);
/* Finish the archive (writes the end blocks) and free everything. Returns 0 or BRR_EIO. */
int brr_tar_out_close(brr_tar_out *o);
/* Free without finishing (error paths); the caller removes the partial output. */
void brr_tar_out_abort(brr_tar_out *o);

/* Add `disk_path` as `arcname` and, for a directory, everything below it in byte order of
 * names. `with_root`: write an entry for disk_path itself ("." or arcname). Children of the
 * root are named `<arcname>/<rel>`, or just `<rel>` when arcname is "." or "".
 * `filter` (may be NULL) is asked about every entry below the root. Entries that vanish during
 * the walk are skipped; sockets are skipped. Returns 0, BRR_ENOENT (disk_path missing) or
 * BRR_EIO, with a diagnostic. */
int brr_tar_add_tree(brr_tar_out *o, const char *disk_path, const char *arcname, bool with_root,
                     brr_tar_filter filter, void *ctx);
/* Add a regular file entry `arcname` holding `data`. */
int brr_tar_add_data(brr_tar_out *o, const char *arcname, const void *data, size_t len,
                     unsigned mode);

/* Open a reader on a file holding a tar (any compression). NULL with a diagnostic. */
struct archive *brr_tar_read_open(const char *path, brr_diags *d);
/* Copy the data of the current entry of `in` to `out` (archive writer or disk writer). */
int brr_tar_copy_data(struct archive *in, struct archive *out, const char *what, brr_diags *d);
/* Create a new file `<dir>/.<prefix>-<unique>` with mode 0666 minus the umask (mkstemp's
 * 0600 would leak into files renamed into place). Returns the fd (path in *path_out) or
 * -errno. */
int brr_tar_open_temp(const char *dir, const char *prefix, char **path_out);
/* Add an I/O error diagnostic (exit code 1) "<what>: <strerror>" and return BRR_EIO. */
int brr_tar_errno(brr_diags *d, int err, const char *fmt, ...) BRR_PRINTF(3, 4);
/* Add a libarchive error diagnostic (exit code 1) and return BRR_EIO. */
int brr_tar_aerr(brr_diags *d, struct archive *a, const char *what);

#endif
