/* brr — the template engine: the Jinja2 subset buildrunner.yaml files use, rendering
 * byte-identical to Jinja2 (default Environment + the `do` extension, lenient Undefined, no
 * autoescape, trim_blocks/lstrip_blocks off, one trailing newline dropped).
 *
 * The engine knows nothing of YAML or files beyond what its hooks give it: the config layer
 * passes the variables and a YAML parser for read_yaml_file(). */
#ifndef BRR_TEMPLATE_H
#define BRR_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/diag.h"
#include "brr/util.h"
#include "brr/value.h"

/* Parse YAML text into a value tree (the config layer's brr_yaml_load fits). */
typedef brr_value *(*brr_tmpl_yaml_fn)(brr_arena *a, const char *text, size_t len,
                                       const char *file, brr_diags *d);

typedef struct brr_tmpl_env {
  /* Variables visible to the template (a map; NULL for none). Laid over the built-in
   * globals (range, dict, ..., checksum), so a variable named like one shadows it, as
   * Jinja2's context does; read_yaml_file, raise and strftime are laid over the variables,
   * as buildrunner adds them to the context after its env dict. */
  const brr_value *vars;
  /* buildrunner's globals and filters (read_yaml_file, raise, strftime, checksum, hash_sha1,
   * re_sub, re_split, base64encode, base64decode). false: a plain jinja2.Template, as
   * read_yaml_file renders its file (no `do`, no custom globals or filters). */
  bool buildrunner_globals;
  /* The variables read_yaml_file renders its file with (buildrunner: the env dict only). */
  const brr_value *read_yaml_vars;
  brr_tmpl_yaml_fn parse_yaml;   /* needed by read_yaml_file; NULL: read_yaml_file errors */
  const char *cwd;               /* base of relative paths (read_yaml_file, checksum,
                                    hash_sha1); NULL: the process cwd */
  int64_t build_time;            /* strftime's default timestamp (epoch seconds) */
  bool strict_undefined;         /* printing an undefined value is an error (Jinja2's
                                    StrictUndefined for output); default: "" as Jinja2 */
  size_t *peak_bytes;            /* not NULL: receives the most memory the render's values
                                    took at once (bytes; for tests and benchmarks) */
} brr_tmpl_env;

/* Render `src` (named `file` in errors) and append the output to `out`.
 * Returns 0, or a negative BRR_E* with one diagnostic added: file, line, column, message
 * and a source snippet with a caret. A raise() gives exit code 1 (as buildrunner), every
 * other template error exit code 78. Nothing is appended on error.
 * When `line_map` is not NULL it receives a heap array (free()) mapping each output line
 * (index 0 = line 1) to the source line that produced its first character, so later stages
 * can report marks in the user's file; *n_lines gets its length. */
int brr_template_render(const char *src, size_t len, const char *file, const brr_tmpl_env *env,
                        brr_buf *out, unsigned **line_map, size_t *n_lines, brr_diags *d);


#endif
