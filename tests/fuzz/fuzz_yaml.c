/* libFuzzer harness for the YAML loader and the schema behind it: any bytes must give either
 * a tree or a diagnostic, never a crash, a leak or undefined behaviour; a tree that is a map
 * then goes through run-config validation, which must hold for any shape of tree.
 * Build: CC=clang cmake -DBRR_FUZZ=ON ...; run: fuzz_yaml -max_total_time=300 corpus/ */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "brr/config.h"
#include "../../src/config/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  brr_arena *a = brr_arena_new();
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *v = brr_yaml_load(a, (const char *)data, size, "fuzz.yaml", &d);
  if (v) {
    brr_buf out = BRR_BUF_INIT;
    brr_val_pyrepr(v, &out);
    brr_val_to_json(v, 2, &out);
    brr_buf_free(&out);
    if (v->type == BRR_VAL_MAP) {
      brr_config cfg;
      memset(&cfg, 0, sizeof cfg);
      cfg.arena = a;
      cfg.build_dir = "/nonexistent-brr-fuzz";
      cfg.build_docker_tag = "main-1.iabcdef.m0-1";
      cfg.root = v;
      brr_schema_project(&cfg, &d);
      brr_schema_global(&cfg, v, &d);
    }
  } else if (d.n_errors == 0) {
    __builtin_trap();  /* a failed load must say why */
  }
  for (size_t i = 0; i < d.n; i++)
    if (d.v[i].mark.file && strcmp(d.v[i].mark.file, "fuzz.yaml") != 0) __builtin_trap();
  brr_diags_free(&d);
  brr_arena_free(a);
  return 0;
}
