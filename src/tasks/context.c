/* Build contexts: the tar the legacy builder receives (POST /build) and the directory buildx
 * reads (spec §2.2, §3.1, §7 item 7). */
#include "brr/tasks_files.h"

#include <archive.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks_internal.h"

/* ---- .dockerignore of the context path ---- */

/* Read <context>/.dockerignore. A bad pattern is reported at the `path` key with the file and
 * line in the message, since the diagnostic's mark cannot own the file name. */
static int load_dockerignore(const brr_build_inputs *in, brr_dockerignore **out, brr_diags *d) {
  *out = NULL;
  if (!in->context) return 0;
  char *path = brr_path_join(in->context, ".dockerignore");
  brr_buf text = BRR_BUF_INIT;
  int r = brr_read_file(path, &text);
  int rc = 0;
  if (r == 0) {
    brr_diags local = BRR_DIAGS_INIT;
    *out = brr_dockerignore_parse(brr_buf_cstr(&text), text.len, path, &local);
    if (!*out) {
      brr_diag_error(d, in->context_mark, NULL, "%s:%u: %s", path, local.v[0].mark.line,
                     local.v[0].msg);
      rc = BRR_ECONFIG;
    }
    brr_diags_free(&local);
  } else if (r != -ENOENT) {
    rc = brr_tar_errno(d, -r, "reading %s", path);
  }
  brr_buf_free(&text);
  free(path);
  return rc;
}

/* ---- the legacy context tar ---- */

/* Which writer puts a non-directory entry last at each name: the context path is writer 0,
 * inject i is writer i+1, the final Dockerfile comes after all. An entry is skipped when a
 * later writer replaces it, so the tar never holds the same file twice. */
typedef struct ctx_filter {
  const brr_dockerignore *di;   /* applies to the context path's own entries only */
  brr_strmap last_writer;
  size_t writer;                /* the walk in progress */
  const char *prefix;           /* archive name of the walk root ("" for the context root) */
} ctx_filter;

static bool replaced_later(ctx_filter *f, const char *rel, const struct stat *st) {
  if (S_ISDIR(st->st_mode) || f->last_writer.n == 0) return false;
  char *name = *f->prefix ? brr_xasprintf("%s/%s", f->prefix, rel) : brr_xstrdup(rel);
  size_t w;
  bool later = brr_strmap_get(&f->last_writer, name, &w) && w > f->writer;
  free(name);
  return later;
}

static brr_tar_verdict ctx_verdict(void *ctx, const char *rel, const struct stat *st) {
  ctx_filter *f = ctx;
  if (replaced_later(f, rel, st)) return BRR_TAR_SKIP;
  if (f->writer == 0 && f->di && brr_dockerignore_excluded(f->di, rel)) {
    if (S_ISDIR(st->st_mode) && brr_dockerignore_descend(f->di, rel)) return BRR_TAR_DESCEND_ONLY;
    return BRR_TAR_SKIP;
  }
  return BRR_TAR_TAKE;
}

/* The Dockerfile's bytes (file or inline text) into `out`. */
static int dockerfile_bytes(const brr_build_inputs *in, brr_buf *out, brr_diags *d) {
  if (in->dockerfile_text) {
    brr_buf_puts(out, in->dockerfile_text);
    return 0;
  }
  int r = brr_read_file(in->dockerfile_path, out);
  return r ? brr_tar_errno(d, -r, "reading %s", in->dockerfile_path) : 0;
}

/* buildrunner's own tar (injects, or no path): path tree, injects, then `Dockerfile`. */
static int write_assembled(brr_tar_out *o, const brr_build_inputs *in, ctx_filter *f,
                           brr_diags *d) {
  const char *dockerfile_key = "Dockerfile";
  for (size_t i = 0; i < in->n_inject; i++)
    if (!in->inject[i].src_is_dir) brr_strmap_put(&f->last_writer, in->inject[i].dest, i + 1);
  bool final_dockerfile = !in->dockerfile_injected;
  if (final_dockerfile) brr_strmap_put(&f->last_writer, dockerfile_key, in->n_inject + 1);
  int rc = 0;
  if (in->context) {
    f->writer = 0;
    f->prefix = "";
    rc = brr_tar_add_tree(o, in->context, ".", false, ctx_verdict, f);
  }
  for (size_t i = 0; rc == 0 && i < in->n_inject; i++) {
    const brr_inject_item *it = &in->inject[i];
    f->writer = i + 1;
    f->prefix = strcmp(it->dest, ".") ? it->dest : "";
    size_t w;
    if (!it->src_is_dir && brr_strmap_get(&f->last_writer, it->dest, &w) && w > i + 1) continue;
    rc = brr_tar_add_tree(o, it->src, it->dest, strcmp(it->dest, ".") != 0, ctx_verdict, f);
  }
  if (rc == 0 && final_dockerfile) {
    brr_buf df = BRR_BUF_INIT;
    rc = dockerfile_bytes(in, &df, d);
    if (rc == 0) rc = brr_tar_add_data(o, dockerfile_key, df.data, df.len, 0644);
    brr_buf_free(&df);
  }
  return rc;
}

/* The .dockerignore sent when the Dockerfile travels under an added name: docker's CLI
 * appends that name, so the daemon drops the file once it has read it and `COPY .` never
 * copies it into the image. */
static int dockerignore_with(const brr_build_inputs *in, const char *name, brr_buf *out,
                             brr_diags *d) {
  char *path = brr_path_join(in->context, ".dockerignore");
  int r = brr_read_file(path, out);
  int rc = r && r != -ENOENT ? brr_tar_errno(d, -r, "reading %s", path) : 0;
  free(path);
  if (out->len && out->data[out->len - 1] != '\n') brr_buf_putc(out, '\n');
  brr_buf_printf(out, "%s\n", name);
  return rc;
}

/* docker's own client tar (a path and no injects): the path tree filtered by .dockerignore,
 * and the Dockerfile by its name inside the context, or added under a content-derived name. */
static int write_plain(brr_tar_out *o, const brr_build_inputs *in, ctx_filter *f, brr_dockerignore *di,
                       char **name, brr_diags *d) {
  const char *inside = NULL;
  if (in->dockerfile_path && brr_path_is_under(in->dockerfile_path, in->context) &&
      strcmp(in->dockerfile_path, in->context) != 0)
    inside = in->dockerfile_path + strlen(in->context) + 1;
  brr_buf df = BRR_BUF_INIT, ignore = BRR_BUF_INIT;
  int rc = 0;
  if (inside) {
    *name = brr_xstrdup(inside);
  } else {
    rc = dockerfile_bytes(in, &df, d);
    char hex[BRR_DIGEST_HEX_MAX];
    brr_digest_hex("sha1", df.data ? df.data : "", df.len, hex);
    *name = brr_xasprintf(".dockerfile.%s", hex);
    if (rc == 0) rc = dockerignore_with(in, *name, &ignore, d);
    brr_strmap_put(&f->last_writer, ".dockerignore", 1);  /* replaced below */
  }
  brr_dockerignore_keep(di, ".dockerignore");
  brr_dockerignore_keep(di, *name);
  f->writer = 0;
  f->prefix = "";
  if (rc == 0) rc = brr_tar_add_tree(o, in->context, ".", false, ctx_verdict, f);
  if (rc == 0 && !inside) rc = brr_tar_add_data(o, ".dockerignore", ignore.data, ignore.len, 0644);
  if (rc == 0 && !inside) rc = brr_tar_add_data(o, *name, df.data, df.len, 0644);
  brr_buf_free(&df);
  brr_buf_free(&ignore);
  return rc;
}

int brr_build_context_tar(const brr_build_inputs *in, const char *out_path,
                          char **dockerfile_name, brr_diags *d) {
  *dockerfile_name = NULL;
  brr_dockerignore *di = NULL;
  int rc = load_dockerignore(in, &di, d);
  if (rc) return rc;
  ctx_filter f = {di, BRR_STRMAP_INIT, 0, ""};
  brr_tar_out o;
  rc = brr_tar_out_open_file(&o, out_path, d);
  if (rc == 0) {
    o.root_owner = true;  /* as docker's CLI: owners in a context only spoil the build cache */
    if (in->n_inject > 0 || !in->context) {
      rc = write_assembled(&o, in, &f, d);
      if (rc == 0) *dockerfile_name = brr_xstrdup("Dockerfile");
    } else {
      rc = write_plain(&o, in, &f, di, dockerfile_name, d);
    }
    if (rc == 0) rc = brr_tar_out_close(&o);
    else brr_tar_out_abort(&o);
    if (rc) unlink(out_path);
  }
  if (rc) {
    free(*dockerfile_name);
    *dockerfile_name = NULL;
  }
  brr_strmap_free(&f.last_writer);
  brr_dockerignore_free(di);
  return rc;
}

/* ---- the buildx context directory ---- */

static brr_tar_verdict skip_git(void *ctx, const char *rel, const struct stat *st) {
  (void)ctx;
  (void)st;
  return strcmp(brr_path_basename(rel), ".git") ? BRR_TAR_TAKE : BRR_TAR_SKIP;
}

static char *make_temp_dir(const char *temp_dir, brr_diags *d) {
  const char *base = temp_dir && *temp_dir ? temp_dir : getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  /* libarchive refuses to write through symbolic links, so start from a real path */
  char *real = brr_path_realpath(base);
  char *tmpl = brr_xasprintf("%s/brr-context-XXXXXX", real ? real : base);
  free(real);
  if (!mkdtemp(tmpl)) {
    brr_tar_errno(d, errno, "creating a directory in %s", base);
    free(tmpl);
    return NULL;
  }
  return tmpl;
}

static int fill_context_dir(const brr_build_inputs *in, const char *dir, brr_diags *d) {
  brr_tar_out o;
  brr_tar_out_open_disk(&o, dir, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM, d);
  int rc = 0;
  if (in->context) rc = brr_tar_add_tree(&o, in->context, ".", false, skip_git, NULL);
  /* shutil.copytree and shutil.copy follow links in what is injected */
  o.follow_symlinks = true;
  for (size_t i = 0; rc == 0 && i < in->n_inject; i++) {
    const brr_inject_item *it = &in->inject[i];
    rc = brr_tar_add_tree(&o, it->src, it->dest, strcmp(it->dest, ".") != 0, NULL, NULL);
  }
  if (rc == 0 && !in->dockerfile_injected) {
    if (in->dockerfile_text) {
      rc = brr_tar_add_data(&o, "Dockerfile", in->dockerfile_text, strlen(in->dockerfile_text), 0644);
    } else {
      rc = brr_tar_add_tree(&o, in->dockerfile_path, "Dockerfile", true, NULL, NULL);
    }
  }
  if (rc == 0) rc = brr_tar_out_close(&o);
  else brr_tar_out_abort(&o);
  return rc;
}

int brr_build_context_dir(const brr_build_inputs *in, const char *temp_dir,
                          brr_build_context *out, brr_diags *d) {
  memset(out, 0, sizeof *out);
  int rc = 0;
  if (in->n_inject > 0) {
    out->temp = make_temp_dir(temp_dir, d);
    if (!out->temp) return BRR_EIO;
    out->dir = brr_xstrdup(out->temp);
    rc = fill_context_dir(in, out->dir, d);
  } else if (in->dockerfile_text) {
    out->temp = make_temp_dir(temp_dir, d);
    if (!out->temp) return BRR_EIO;
    out->dockerfile = brr_path_join(out->temp, "Dockerfile");
    rc = brr_write_file(out->dockerfile, in->dockerfile_text, strlen(in->dockerfile_text));
    if (rc) rc = brr_tar_errno(d, -rc, "writing %s", out->dockerfile);
    /* no path: the context is the Dockerfile alone, as with the legacy builder */
    out->dir = brr_xstrdup(in->context ? in->context : out->temp);
  } else if (in->dockerfile_path) {
    out->dir = in->context ? brr_xstrdup(in->context) : brr_path_dirname(in->dockerfile_path);
    out->dockerfile = brr_xstrdup(in->dockerfile_path);
  } else {
    out->dir = brr_xstrdup(in->context ? in->context : ".");
  }
  if (rc) brr_build_context_cleanup(out);
  return rc;
}

void brr_build_context_cleanup(brr_build_context *c) {
  if (c->temp) brr_rm_rf(c->temp);
  free(c->temp);
  free(c->dir);
  free(c->dockerfile);
  memset(c, 0, sizeof *c);
}
