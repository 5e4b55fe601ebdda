/* Render a template file with brr's engine, as buildrunner would (the `do` extension and its
 * filters and globals): bench/template.sh times it against Jinja2 on the same input.
 *   bench_template_render TEMPLATE [VARS.json] [-n RUNS] [-q]
 * -n renders RUNS times in one process (to time the engine without process start-up);
 * -q suppresses the output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brr/template.h"

int main(int argc, char **argv) {
  const char *tmpl = NULL, *vars_file = NULL;
  long runs = 1;
  bool quiet = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) runs = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "-q")) quiet = true;
    else if (!tmpl) tmpl = argv[i];
    else vars_file = argv[i];
  }
  if (!tmpl) {
    fprintf(stderr, "usage: %s TEMPLATE [VARS.json] [-n RUNS] [-q]\n", argv[0]);
    return 2;
  }
  brr_buf src = BRR_BUF_INIT, js = BRR_BUF_INIT;
  if (brr_read_file(tmpl, &src) < 0) {
    fprintf(stderr, "cannot read %s\n", tmpl);
    return 2;
  }
  brr_arena *a = brr_arena_new();
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *vars = NULL;
  if (vars_file) {
    if (brr_read_file(vars_file, &js) < 0) {
      fprintf(stderr, "cannot read %s\n", vars_file);
      return 2;
    }
    vars = brr_val_from_json(a, js.data, js.len, vars_file, &d);
    if (!vars) {
      brr_diags_print(&d, stderr, false);
      return 2;
    }
  }
  brr_tmpl_env env = {.vars = vars, .buildrunner_globals = true, .build_time = 1700000000};
  int rc = 0;
  for (long r = 0; r < runs && rc == 0; r++) {
    brr_buf out = BRR_BUF_INIT;
    rc = brr_template_render(src.data ? src.data : "", src.len, tmpl, &env, &out, NULL, NULL, &d);
    if (rc == 0 && !quiet && r == runs - 1) fwrite(out.data ? out.data : "", 1, out.len, stdout);
    brr_buf_free(&out);
  }
  if (rc) brr_diags_print(&d, stderr, false);
  int code = rc ? brr_diags_exit_code(&d) : 0;
  brr_diags_free(&d);
  brr_arena_free(a);
  brr_buf_free(&src);
  brr_buf_free(&js);
  return code;
}
