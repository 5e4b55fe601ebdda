/* Load a YAML file with brr's loader, as the config front end does (libyaml events, YAML 1.1
 * typing, merge keys, alias expansion): bench/config_load.sh times it against PyYAML's
 * Loader (what buildrunner uses) on the same input.
 *   bench_config_load FILE [-n RUNS]
 * Prints the mean milliseconds per load over RUNS loads in one process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brr/config.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  const char *file = NULL;
  long runs = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) runs = strtol(argv[++i], NULL, 10);
    else file = argv[i];
  }
  if (!file || runs < 1) {
    fprintf(stderr, "usage: %s FILE [-n RUNS]\n", argv[0]);
    return 2;
  }
  brr_buf src = BRR_BUF_INIT;
  if (brr_read_file(file, &src) < 0) {
    fprintf(stderr, "cannot read %s\n", file);
    return 2;
  }
  double start = now_ms();
  size_t nodes = 0;
  for (long r = 0; r < runs; r++) {
    brr_arena *a = brr_arena_new();
    brr_diags d = BRR_DIAGS_INIT;
    brr_value *v = brr_yaml_load(a, brr_buf_cstr(&src), src.len, file, &d);
    if (!v) {
      brr_diags_print(&d, stderr, false);
      return 1;
    }
    nodes += v->u.map.n;
    brr_diags_free(&d);
    brr_arena_free(a);
  }
  printf("%.4f\n", (now_ms() - start) / (double)runs);
  brr_buf_free(&src);
  return nodes ? 0 : 1;
}
