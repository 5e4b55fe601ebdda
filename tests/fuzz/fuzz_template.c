/* libFuzzer harness for the template engine: any input must render or fail with a
 * diagnostic, never crash, hang on the stack, leak or read out of bounds.
 *   CC=clang cmake -S . -B build-fuzz -DBRR_FUZZ=ON -DBRR_TESTS=OFF -DBRR_BENCH=OFF
 *   ninja -C build-fuzz fuzz_template
 *   build-fuzz/tests/fuzz/fuzz_template -max_total_time=300 -max_len=2048 -timeout=10 CORPUS_DIR
 * A seed corpus: the templates of tests/template/cases/ (tools/template_fuzz_corpus.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brr/template.h"
#include "brr/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static brr_value *fuzz_vars(brr_arena *a) {
  static const char json[] =
      "{\"name\": \"brr\", \"n\": 3, \"f\": 2.5, \"items\": [\"a\", \"b\", 1, null, true],"
      " \"d\": {\"k\": \"v\", \"list\": [1, 2, 3], \"nested\": {\"x\": 1}},"
      " \"env\": {\"HOME\": \"/root\"}, \"CONFIG_FILE\": \"/src/buildrunner.yaml\","
      " \"CONFIG_DIR\": \"/src\", \"DOCKER_REGISTRY\": \"docker.io\"}";
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *v = brr_val_from_json(a, json, strlen(json), NULL, &d);
  brr_diags_free(&d);
  return v;
}

static brr_value *fuzz_yaml(brr_arena *a, const char *text, size_t len, const char *file, brr_diags *d) {
  return brr_val_from_json(a, text, len, file, d);
}

/* A directory of a few templates for include, extends and import (loops included), removed
 * at exit. Relative paths of read_yaml_file, checksum and hash_sha1 see only these. */
static char tmpl_dir[] = "/tmp/brr-fuzz-XXXXXX";

static void tmpl_dir_remove(void) { brr_rm_rf(tmpl_dir); }

static const char *make_tmpl_dir(void) {
  static const char *const files[][2] = {
      {"base.j2", "<{% block a %}A{% endblock %}|{% block b scoped %}{{ n }}{% endblock %}>{{ x }}"},
      {"mid.j2", "{% extends 'base.j2' %}{% block a %}[{{ super() }}{{ self.b() }}]{% endblock %}"},
      {"m.j2", "{% macro f(x, y=2) %}{{ x }}{{ y }}{{ caller() if caller else '' }}{% endmacro %}"
               "{% set v = [1, 2] %}{% from 'h.j2' import h %}body"},
      {"h.j2", "{% macro h() %}{{ varargs }}{% endmacro %}"},
      {"loop.j2", "{% include 'loop.j2' %}"},
      {"self.j2", "{% extends 'self.j2' %}"},
      {"imp.j2", "{% import 'imp.j2' as i %}"},
  };
  if (!mkdtemp(tmpl_dir)) abort();
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char *p = brr_path_join(tmpl_dir, files[i][0]);
    if (brr_write_file(p, files[i][1], strlen(files[i][1])) != 0) abort();
    free(p);
  }
  atexit(tmpl_dir_remove);
  return tmpl_dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static brr_arena *arena;
  static brr_value *vars;
  static const char *dir;
  if (!arena) {
    arena = brr_arena_new();
    vars = fuzz_vars(arena);
    dir = make_tmpl_dir();
  }
  if (size > 8192) return 0;
  brr_tmpl_env env = {.vars = vars, .buildrunner_globals = true, .read_yaml_vars = vars,
                      .parse_yaml = fuzz_yaml, .cwd = dir, .build_time = 1700000000};
  brr_buf out = BRR_BUF_INIT;
  brr_diags d = BRR_DIAGS_INIT;
  unsigned *map = NULL;
  size_t n = 0;
  int rc = brr_template_render((const char *)data, size, "fuzz.yaml", &env, &out, &map, &n, &d);
  /* the contract: an error adds one diagnostic and appends nothing */
  if (rc != 0 && (d.n_errors != 1 || out.len != 0)) abort();
  if (rc == 0 && d.n_errors != 0) abort();
  free(map);
  brr_buf_free(&out);
  brr_diags_free(&d);
  return 0;
}
