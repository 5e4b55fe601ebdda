/* Diagnostics: collected, then printed gcc-style. */
#include "brr/diag.h"

#include <stdlib.h>
#include <string.h>

brr_diag *brr_diag_vadd(brr_diags *d, brr_diag_level level, brr_mark mark, const char *path,
                        const char *fmt, va_list ap) {
  brr_diag diag = {level, mark, path ? brr_xstrdup(path) : NULL, brr_xvasprintf(fmt, ap), NULL,
                   level == BRR_DIAG_ERROR ? BRR_EXIT_CONFIG : 0};
  BRR_VEC_PUSH(d->v, d->n, d->cap, diag);
  if (level == BRR_DIAG_ERROR) d->n_errors++;
  return &d->v[d->n - 1];
}

brr_diag *brr_diag_add(brr_diags *d, brr_diag_level level, brr_mark mark, const char *path,
                       const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  brr_diag *r = brr_diag_vadd(d, level, mark, path, fmt, ap);
  va_end(ap);
  return r;
}

void brr_diag_set_snippet(brr_diag *diag, const char *text, size_t len) {
  if (!text || diag->mark.line == 0) return;
  const char *p = text, *end = text + len;
  for (unsigned line = 1; line < diag->mark.line && p < end; p++)
    if (*p == '\n') line++;
  if (p >= end && diag->mark.line > 1) return;
  const char *eol = memchr(p, '\n', (size_t)(end - p));
  if (!eol) eol = end;
  brr_buf b = BRR_BUF_INIT;
  brr_buf_append(&b, p, (size_t)(eol - p));
  brr_buf_putc(&b, '\n');
  unsigned col = diag->mark.col ? diag->mark.col : 1;
  /* keep tabs so the caret lines up under tab-indented source */
  for (unsigned i = 1; i < col && p + i - 1 < eol; i++) brr_buf_putc(&b, p[i - 1] == '\t' ? '\t' : ' ');
  brr_buf_putc(&b, '^');
  free(diag->snippet);
  diag->snippet = brr_buf_detach(&b);
}

int brr_diags_exit_code(const brr_diags *d) {
  for (size_t i = 0; i < d->n; i++)
    if (d->v[i].level == BRR_DIAG_ERROR) return d->v[i].exit_code ? d->v[i].exit_code : BRR_EXIT_CONFIG;
  return 0;
}

void brr_diag_print(const brr_diag *g, FILE *out, bool color) {
  const char *bold = color ? "\033[1m" : "", *reset = color ? "\033[0m" : "";
  const char *red = color ? "\033[1;31m" : "", *mag = color ? "\033[1;35m" : "";
  const char *cyan = color ? "\033[1;36m" : "";
  brr_buf b = BRR_BUF_INIT;
  if (g->mark.file) {
    char *disp = brr_path_display(g->mark.file);
    brr_buf_printf(&b, "%s%s", bold, disp);
    free(disp);
    if (g->mark.line) brr_buf_printf(&b, ":%u", g->mark.line);
    if (g->mark.line && g->mark.col) brr_buf_printf(&b, ":%u", g->mark.col);
    brr_buf_printf(&b, ":%s ", reset);
  } else {
    brr_buf_puts(&b, "brr: ");
  }
  if (g->level == BRR_DIAG_WARNING) brr_buf_printf(&b, "%swarning:%s ", mag, reset);
  else if (g->level == BRR_DIAG_NOTE) brr_buf_printf(&b, "%snote:%s ", cyan, reset);
  else if (!g->mark.file) brr_buf_printf(&b, "%serror:%s ", red, reset);
  if (g->path && *g->path) brr_buf_printf(&b, "%s: ", g->path);
  brr_buf_puts(&b, g->msg);
  brr_buf_putc(&b, '\n');
  if (g->snippet) {
    const char *s = g->snippet;
    while (*s) {
      const char *e = strchr(s, '\n');
      size_t n = e ? (size_t)(e - s) : strlen(s);
      brr_buf_puts(&b, "  ");
      brr_buf_append(&b, s, n);
      brr_buf_putc(&b, '\n');
      s += n + (e ? 1 : 0);
    }
  }
  fwrite(b.data, 1, b.len, out);
  brr_buf_free(&b);
}

void brr_diags_print(const brr_diags *d, FILE *out, bool color) {
  for (size_t i = 0; i < d->n; i++) brr_diag_print(&d->v[i], out, color);
  fflush(out);
}

void brr_diags_clear(brr_diags *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].path);
    free(d->v[i].msg);
    free(d->v[i].snippet);
  }
  d->n = 0;
  d->n_errors = 0;
}

void brr_diags_free(brr_diags *d) {
  brr_diags_clear(d);
  free(d->v);
  d->v = NULL;
  d->cap = 0;
}
