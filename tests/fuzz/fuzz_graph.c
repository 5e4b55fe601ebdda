/* libFuzzer harness for the graph compiler. Input starting with "D" is a Dockerfile for
 * brr_dockerfile_images (every reference it finds is then normalised). Any other input is a
 * buildrunner.yaml: when it loads and validates, it must compile to a graph or give an error
 * diagnostic, and a graph must render in every format, with and without --push / --serial.
 * Build: CC=clang cmake -DBRR_FUZZ=ON ...; run: fuzz_graph -max_total_time=300 corpus/ */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brr/config.h"
#include "brr/graph.h"
#include "../../src/config/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dockerfile(const uint8_t *data, size_t size) {
  brr_arena *a = brr_arena_new();
  brr_build_arg args[] = {{"DOCKER_REGISTRY", "127.0.0.1:5000"}, {"TAG", "1"}};
  brr_dockerfile_image *im;
  size_t n = brr_dockerfile_images((const char *)data, size, args, 2, a, &im);
  for (size_t i = 0; i < n; i++) {
    if (!im[i].ref || im[i].line == 0) __builtin_trap();
    free(brr_image_ref_normalize(im[i].ref));
  }
  brr_arena_free(a);
}

static void compile(brr_config *cfg, const brr_graph_opts *o) {
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = NULL;
  int rc = brr_graph_compile(cfg, o, &g, &d);
  if (rc != 0 && d.n_errors == 0) __builtin_trap(); /* a failure must say why */
  if (rc == 0) {
    for (int f = BRR_GRAPH_TEXT; f <= BRR_GRAPH_JSON; f++) {
      brr_buf out = BRR_BUF_INIT;
      brr_graph_render(g, (brr_graph_format)f, &out);
      brr_buf_free(&out);
    }
    brr_graph_free(g);
  }
  brr_diags_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size && data[0] == 'D') {
    dockerfile(data + 1, size - 1);
    return 0;
  }
  brr_arena *a = brr_arena_new();
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *v = brr_yaml_load(a, (const char *)data, size, "fuzz.yaml", &d);
  if (v && v->type == BRR_VAL_MAP) {
    brr_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.arena = a;
    cfg.build_dir = "/nonexistent-brr-fuzz";
    cfg.build_docker_tag = "main-1.iabcdef.m0-1";
    cfg.use_legacy_builder = true;
    cfg.global.docker_registry = "docker.io";
    cfg.root = v;
    brr_schema_project(&cfg, &d);
    if (d.n_errors == 0) {
      brr_graph_opts plain = {.native_platform = "linux/amd64"};
      brr_graph_opts all = {.push = true, .serial = true, .native_platform = "linux/amd64"};
      compile(&cfg, &plain);
      compile(&cfg, &all);
    }
  }
  brr_diags_free(&d);
  brr_arena_free(a);
  return 0;
}
