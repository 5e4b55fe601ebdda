/* Identity render stage, in place until the template engine (issue 3) replaces this file:
 * the text passes through unchanged. */
#include <string.h>

#include "brr/template.h"

int brr_template_render(const char *src, size_t len, const char *file, const brr_tmpl_env *env,
                        brr_buf *out, unsigned **line_map, size_t *n_lines, brr_diags *d) {
  brr_buf_append(out, src, len);
  if (line_map) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
      if (src[i] == '\n') n++;
    unsigned *map = brr_xmalloc(n * sizeof(unsigned));
    for (size_t i = 0; i < n; i++) map[i] = (unsigned)(i + 1);
    *line_map = map;
    *n_lines = n;
  }
  return 0;
}

bool brr_template_has_syntax(const char *src, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (src[i] == '{' && (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#')) return true;
  return false;
}
