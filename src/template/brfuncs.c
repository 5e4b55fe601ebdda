/* buildrunner's template globals and filters (buildrunner/config/jinja_context.py and
 * buildrunner/utils.py): read_yaml_file, raise, strftime, checksum, hash_sha1 and string
 * base64. SHA-1 and base64 come from OpenSSL, globbing from glob(3). */
#include <glob.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

static char *rel_path(tctx *c, const char *p) {
  if (!c->env->cwd || p[0] == '/') return brr__template_tstrdup(c, p);
  char *j = brr_path_join(c->env->cwd, p);
  char *r = brr__template_tstrdup(c, j);
  free(j);
  return r;
}

static void md_free(void *p) { brr_digest_free(p); }

/* feed a file into the hash; false when it cannot be read */
static bool hash_file(brr_digest *md, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  char buf[1 << 16];
  size_t n;
  bool ok = true;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) brr_digest_update(md, buf, n);
  if (ferror(f)) ok = false;
  fclose(f);
  return ok;
}

static tv hexdigest(tctx *c, brr_digest *md) {
  char hex[BRR_DIGEST_HEX_MAX];
  size_t len = brr_digest_final_hex(md, hex);
  return brr__template_tv_str(c, hex, len);
}

static brr_mark mark_of(tctx *c, const tnode *at) { return (brr_mark){c->file, at ? at->line : 0, at ? at->col : 0}; }

/* checksum(*paths): one SHA-1 over the files' bytes, paths sorted as strings, missing files
 * skipped with a warning */
tv brr__template_tbr_checksum(tctx *c, tcall *a) {
  if (a->nkw) brr__template_terr(c, a->at, "checksum() got an unexpected keyword argument '%s'", a->kw[0].name);
  tv *paths = brr__template_talloc(c, (a->npos ? a->npos : 1) * sizeof *paths);
  memcpy(paths, a->pos, a->npos * sizeof *paths);
  brr__template_tsort_values(c, a->at, paths, a->npos, NULL, false);
  brr_digest *md = brr_digest_new("sha1");
  size_t id = brr__template_tctx_track(c, md_free, md);
  for (size_t i = 0; i < a->npos; i++) {
    tv p = paths[i];
    if (p.t != TV_STR) brr__template_terr(c, a->at, "stat: path should be string, bytes, os.PathLike or integer, not %s", brr__template_tv_typename(p));
    char *full = rel_path(c, p.u.str);
    struct stat st;
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode) || !hash_file(md, full)) {
      if (c->diags) brr_diag_warn(c->diags, mark_of(c, a->at), NULL, "checksum: %s does not exist, skipping file.", p.u.str);
    }
  }
  tv r = hexdigest(c, md);
  brr__template_tctx_untrack(c, id);
  return r;
}

static void glob_free(void *p) {
  globfree(p);
  free(p);
}

/* hash_sha1(globs): one SHA-1 over the sorted matches of each glob, globs in order */
tv brr__template_tbr_hash_sha1(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "hash_sha1", args, "?file_name_globs");
  size_t n = 0;
  tv *globs = args[0].t == TV_MISSING || !brr__template_tv_truthy(c, a->at, args[0]) ? NULL : brr__template_tv_iterate(c, a->at, args[0], &n);
  brr_digest *md = brr_digest_new("sha1");
  size_t id = brr__template_tctx_track(c, md_free, md);
  for (size_t i = 0; i < n; i++) {
    if (globs[i].t != TV_STR) brr__template_terr(c, a->at, "expected str, bytes or os.PathLike object, not %s", brr__template_tv_typename(globs[i]));
    tbuf pat = {0};
    if (c->env->cwd && globs[i].u.str[0] != '/') { /* the cwd is literal text in the pattern */
      for (const char *q = c->env->cwd; *q; q++) {
        if (strchr("*?[\\", *q)) brr__template_tbuf_addc(c, &pat, '\\');
        brr__template_tbuf_addc(c, &pat, *q);
      }
      brr__template_tbuf_addc(c, &pat, '/');
    }
    brr__template_tbuf_add(c, &pat, globs[i].u.str, globs[i].slen);
    glob_t *g = brr_xcalloc(1, sizeof *g);
    size_t gid = brr__template_tctx_track(c, glob_free, g);
    if (glob(brr__template_tbuf_str(c, &pat).u.str, GLOB_NOSORT, NULL, g) == 0) {
      tv *names = brr__template_talloc(c, g->gl_pathc * sizeof *names);
      for (size_t k = 0; k < g->gl_pathc; k++) names[k] = brr__template_tv_strz(c, g->gl_pathv[k]);
      brr__template_tsort_values(c, a->at, names, g->gl_pathc, NULL, false);
      for (size_t k = 0; k < g->gl_pathc; k++) {
        struct stat st;
        if (stat(names[k].u.str, &st) != 0 || S_ISDIR(st.st_mode) || !hash_file(md, names[k].u.str))
          if (c->diags) brr_diag_warn(c->diags, mark_of(c, a->at), NULL, "hash_sha1: error reading file: %s", names[k].u.str);
      }
    }
    brr__template_tctx_untrack(c, gid);
  }
  tv r = hexdigest(c, md);
  brr__template_tctx_untrack(c, id);
  return r;
}

static tv b64_input(tctx *c, tcall *a, const char *name) {
  tv args[1];
  TARGS(c, a, name, args, "s");
  if (tv_is_undef(args[0])) brr__template_terr_undef(c, a->at, args[0]);
  if (args[0].t != TV_STR) brr__template_terr(c, a->at, "%s: expected a string, not %s", name, brr__template_tv_typename(args[0]));
  return args[0];
}

tv brr__template_tbr_b64encode(tctx *c, tcall *a) {
  tv s = b64_input(c, a, "base64encode");
  unsigned char *out = brr__template_talloc(c, 4 * (s.slen / 3 + 1) + 1);
  int n = EVP_EncodeBlock(out, (const unsigned char *)s.u.str, (int)s.slen);
  return tv_str_nocopy((const char *)out, (size_t)n);
}

/* Python's lenient b64decode: characters outside the alphabet are dropped; the result must
 * be UTF-8 text */
tv brr__template_tbr_b64decode(tctx *c, tcall *a) {
  tv s = b64_input(c, a, "base64decode");
  char *data = brr__template_talloc(c, s.slen + 4);
  size_t n = 0, pads = 0;
  for (size_t i = 0; i < s.slen; i++) {
    char ch = s.u.str[i];
    if (ch == '=') {
      if (n % 4 >= 2) pads++;
      if ((n + pads) % 4 == 0) break;
      continue;
    }
    if (pads) continue;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/')
      data[n++] = ch;
  }
  if (n % 4 == 1)
    brr__template_terr(c, a->at, "Invalid base64-encoded string: number of data characters (%zu) cannot be 1 more than a multiple of 4", n);
  size_t need = (4 - n % 4) % 4;
  if (pads < need) brr__template_terr(c, a->at, "Incorrect padding");
  for (size_t k = 0; k < need; k++) data[n++] = '=';
  unsigned char *out = brr__template_talloc(c, n / 4 * 3 + 1);
  int len = n ? EVP_DecodeBlock(out, (const unsigned char *)data, (int)n) : 0;
  if (len < 0) brr__template_terr(c, a->at, "Invalid base64-encoded string");
  len -= (int)need;
  for (size_t i = 0; i < (size_t)len;) {
    uint32_t cp;
    size_t l = brr__template_u8_decode((const char *)out, (size_t)len, i, &cp);
    if (cp >= 0xDC80 && cp <= 0xDCFF) brr__template_terr(c, a->at, "'utf-8' codec can't decode byte 0x%02x in position %zu", out[i], i);
    i += l;
  }
  out[len] = '\0';
  return tv_str_nocopy((const char *)out, (size_t)len);
}

tv brr__template_tbr_raise(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "raise_exception_jinja", args, "message");
  brr__template_terr_raise(c, a->at, brr__template_tv_to_str(c, args[0]).u.str);
}

/* strftime(format="%Y-%m-%d", ts=None): datetime.fromtimestamp(ts).strftime(format) */
tv brr__template_tbr_strftime(tctx *c, tcall *a) {
  tv args[2];
  TARGS(c, a, "strftime", args, "?_format", "?_ts");
  tv fmt = args[0].t == TV_MISSING ? tv_str_nocopy("%Y-%m-%d", 8) : args[0];
  if (fmt.t != TV_STR) brr__template_terr(c, a->at, "strftime() argument 1 must be str, not %s", brr__template_tv_typename(fmt));
  double ts;
  tv t = args[1];
  if (t.t == TV_MISSING || t.t == TV_NONE) ts = (double)c->env->build_time;
  else if (t.t == TV_INT || t.t == TV_BOOL) ts = (double)(t.t == TV_BOOL ? t.u.b : t.u.i);
  else if (t.t == TV_FLOAT) ts = t.u.f;
  else brr__template_terr(c, a->at, "'%s' object cannot be interpreted as an integer", brr__template_tv_typename(t));
  if (!isfinite(ts) || fabs(ts) > 1e14) brr__template_terr(c, a->at, "timestamp out of range for platform time_t");
  double whole = floor(ts);
  long usec = (long)nearbyint((ts - whole) * 1e6);
  if (usec >= 1000000) {
    whole += 1;
    usec -= 1000000;
  }
  time_t tt = (time_t)whole;
  struct tm tm;
  if (!localtime_r(&tt, &tm)) brr__template_terr(c, a->at, "timestamp out of range for platform localtime()");
  /* Python handles %f, %z and %Z itself (a naive datetime has no zone); a sentinel keeps
   * strftime's empty result distinguishable from an error */
  tbuf f = {0};
  for (size_t i = 0; i < fmt.slen; i++) {
    if (fmt.u.str[i] == '%' && i + 1 < fmt.slen) {
      char e = fmt.u.str[i + 1];
      if (e == 'f') {
        brr__template_tbuf_printf(c, &f, "%06ld", usec);
        i++;
        continue;
      }
      if (e == 'z' || e == 'Z') {
        i++;
        continue;
      }
      brr__template_tbuf_add(c, &f, fmt.u.str + i, 2);
      i++;
      continue;
    }
    brr__template_tbuf_addc(c, &f, fmt.u.str[i]);
  }
  brr__template_tbuf_addc(c, &f, '\x01');
  for (size_t cap = 256; cap < (1u << 24); cap *= 4) {
    char *buf = brr__template_talloc(c, cap);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = strftime(buf, cap, f.p, &tm); /* the template's own format string */
#pragma GCC diagnostic pop
    if (n > 0) return brr__template_tv_str(c, buf, n - 1);
  }
  brr__template_terr(c, a->at, "strftime result too long");
}

/* buildrunner's YAML loader makes every mapping an OrderedDict */
static void mark_ordered(tv v) {
  if (v.t == TV_DICT) {
    v.u.d->ordered = true;
    tdent *e;
    for (size_t i = 0; brr__template_td_next(v.u.d, &i, &e);) mark_ordered(e->val);
  } else if (v.t == TV_LIST) {
    for (size_t i = 0; i < v.u.l->n; i++) mark_ordered(v.u.l->v[i]);
  }
}

/* read_yaml_file(path): the file rendered as a plain jinja2.Template with the env dict, then
 * parsed as YAML */
tv brr__template_tbr_read_yaml_file(tctx *c, tcall *a) {
  tv args[1];
  TARGS(c, a, "read_yaml_file", args, "filename");
  if (args[0].t != TV_STR) brr__template_terr(c, a->at, "read_yaml_file: expected a path string, not %s", brr__template_tv_typename(args[0]));
  const char *name = args[0].u.str;
  if (++c->depth > 50) brr__template_terr(c, a->at, "read_yaml_file nested too deeply");
  char *path = rel_path(c, name);
  brr_buf text = BRR_BUF_INIT;
  int rc = brr_read_file(path, &text);
  if (rc < 0) {
    brr_buf_free(&text);
    brr__template_terr(c, a->at, "[Errno %d] %s: '%s'", -rc, brr_strerror(rc), name);
  }
  char *src = brr__template_tstrndup(c, text.data ? text.data : "", text.len);
  size_t srclen = text.len;
  brr_buf_free(&text);
  brr_tmpl_env sub = {.vars = c->env->read_yaml_vars, .buildrunner_globals = false, .read_yaml_vars = c->env->read_yaml_vars,
                      .parse_yaml = c->env->parse_yaml, .cwd = c->env->cwd, .build_time = c->env->build_time};
  brr_buf out = BRR_BUF_INIT;
  brr_diags d = BRR_DIAGS_INIT;
  rc = brr_template_render(src, srclen, name, &sub, &out, NULL, NULL, &d);
  char *msg = NULL;
  if (rc < 0 && d.n) {
    const brr_diag *g = &d.v[d.n - 1];
    msg = brr__template_tprintf(c, "read_yaml_file('%s'): %s:%u:%u: %s", name, name, g->mark.line, g->mark.col, g->msg);
  }
  char *rendered = brr__template_tstrndup(c, out.data ? out.data : "", out.len);
  size_t rlen = out.len;
  brr_buf_free(&out);
  brr_diags_free(&d);
  if (msg) brr__template_terr(c, a->at, "%s", msg);
  if (!c->env->parse_yaml) brr__template_terr(c, a->at, "read_yaml_file('%s'): no YAML parser available", name);
  brr_value *v = c->env->parse_yaml(c->a, rendered, rlen, brr__template_tstrdup(c, name), &d);
  if (d.n_errors) {
    const brr_diag *g = &d.v[0];
    msg = brr__template_tprintf(c, "read_yaml_file('%s'): %s:%u:%u: %s", name, name, g->mark.line, g->mark.col, g->msg);
    brr_diags_free(&d);
    brr__template_terr(c, a->at, "%s", msg);
  }
  brr_diags_free(&d);
  c->depth--;
  tv r = v ? brr__template_tv_from_brr(c, v) : BRR__TEMPLATE_TV_NONE_V;
  mark_ordered(r);
  return r;
}
