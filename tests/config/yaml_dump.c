/* Test tool: load a YAML file with brr's loader and print the tree as Python's repr() would
 * print what PyYAML loads, so yaml_oracle.py can compare the two byte for byte.
 * Usage: yaml_dump FILE   (exit 0 and the repr, or exit 1 and the error on stderr) */
#include <stdio.h>
#include <stdlib.h>

#include "brr/config.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: yaml_dump FILE\n");
    return 2;
  }
  brr_buf text = BRR_BUF_INIT;
  if (brr_read_file(argv[1], &text) != 0) {
    perror(argv[1]);
    return 2;
  }
  brr_arena *a = brr_arena_new();
  brr_diags d = BRR_DIAGS_INIT;
  brr_value *v = brr_yaml_load(a, brr_buf_cstr(&text), text.len, argv[1], &d);
  int rc = 0;
  if (v) {
    brr_buf out = BRR_BUF_INIT;
    brr_val_pyrepr(v, &out);
    printf("%s\n", brr_buf_cstr(&out));
    brr_buf_free(&out);
  } else {
    brr_diags_print(&d, stderr, false);
    rc = 1;
  }
  brr_diags_free(&d);
  brr_arena_free(a);
  brr_buf_free(&text);
  return rc;
}
