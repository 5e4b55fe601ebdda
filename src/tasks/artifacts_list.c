/* Finding artifacts inside the run container: a small sh script and the parser of its output.
 * buildrunner ran `stat -c "%n~!~%F" <pattern>` in a separate ubuntu container; brr runs one
 * script in the run container's shell and fetches each match with the archive API. */
#include "brr/tasks_files.h"

#include <stdlib.h>
#include <string.h>

/* IFS is empty so an unquoted "$2" is never split into words but still undergoes pathname
 * expansion: the pattern stays data (no variables, no command substitution) and names with
 * spaces survive. A pattern that matches nothing expands to itself, which the existence test
 * drops. `-d` follows links, so a link to a directory is a directory. The fetch path is
 * absolute (the archive API does not know the exec's working directory) and, for a link,
 * its target, because the archive API would return the link itself. */
static const char list_script_head[] =
    "IFS=''\n"
    "brr_list() {\n"
    "  for f in $2; do\n"
    "    if [ -d \"$f\" ]; then k=d; elif [ -e \"$f\" ]; then k=f; else continue; fi\n"
    "    case $f in /*) a=$f ;; *) a=$PWD/$f ;; esac\n"
    "    if [ -L \"$f\" ]; then r=$(readlink -f \"$f\" 2>/dev/null) && [ -n \"$r\" ] && a=$r; fi\n"
    "    printf '%s\\0%s\\0%s\\0%s\\0' \"$1\" \"$k\" \"$f\" \"$a\"\n"
    "  done\n"
    "}\n";

void brr_artifact_list_script(const char *const *patterns, size_t n, brr_buf *out) {
  brr_buf_puts(out, list_script_head);
  for (size_t i = 0; i < n; i++) {
    brr_buf_printf(out, "brr_list %zu '", i);
    for (const char *p = patterns[i]; *p; p++) {
      if (*p == '\'') brr_buf_puts(out, "'\\''");
      else brr_buf_putc(out, *p);
    }
    brr_buf_puts(out, "'\n");
  }
  brr_buf_puts(out, "exit 0\n");
}

static int bad_output(brr_diags *d, const char *why) {
  brr_diag *g = brr_diag_error(d, BRR_MARK_NONE, NULL, "unexpected output from the artifact listing: %s", why);
  g->exit_code = BRR_EXIT_FAILED;
  return BRR_EINVAL;
}

int brr_artifact_list_parse(const char *text, size_t len, size_t n_patterns,
                            brr_artifact_match **out, size_t *n_out, brr_diags *d) {
  *out = NULL;
  *n_out = 0;
  size_t cap = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *field[4];
    size_t flen[4];
    for (int i = 0; i < 4; i++) {
      const char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
      if (!z) {
        brr_artifact_matches_free(*out, *n_out);
        *out = NULL;
        *n_out = 0;
        return bad_output(d, "truncated record");
      }
      field[i] = p;
      flen[i] = (size_t)(z - p);
      p = z + 1;
    }
    char *endnum = NULL;
    unsigned long idx = strtoul(field[0], &endnum, 10);
    bool ok = flen[0] > 0 && endnum == field[0] + flen[0] && idx < n_patterns && flen[1] == 1 &&
              (field[1][0] == 'f' || field[1][0] == 'd') && flen[2] > 0 && flen[3] > 0;
    if (!ok) {
      brr_artifact_matches_free(*out, *n_out);
      *out = NULL;
      *n_out = 0;
      return bad_output(d, "malformed record");
    }
    brr_artifact_match m = {idx, field[1][0] == 'd' ? BRR_ARTIFACT_DIR : BRR_ARTIFACT_FILE,
                            brr_xstrndup(field[2], flen[2]), brr_xstrndup(field[3], flen[3])};
    BRR_VEC_PUSH(*out, *n_out, cap, m);
  }
  return 0;
}

void brr_artifact_matches_free(brr_artifact_match *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].path);
    free(v[i].fetch);
  }
  free(v);
}
