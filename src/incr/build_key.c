/* The inputs of an image build (docs/incremental.md): what a build's image depends on, in the
 * order brr names the first that changed. Pure: the caller reads files and asks the engine. */
#include <stdlib.h>
#include <string.h>

#include "brr/incr.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A list hashed field by field; `sorted` makes the order it is given in not count. */
static void add_list(brr_incr_inputs *in, const char *name, const char *const *v, size_t n,
                     bool sorted) {
  const char **s = brr_xcalloc(n ? n : 1, sizeof *s);
  for (size_t i = 0; i < n; i++) s[i] = v[i] ? v[i] : "";
  if (sorted && n > 1) qsort(s, n, sizeof *s, cmp_str);
  brr_hasher *h = brr_hasher_new();
  for (size_t i = 0; i < n; i++) brr_hasher_field(h, name, s[i]);
  char hex[BRR_INCR_HEX];
  brr_hasher_final(h, hex);
  brr_incr_inputs_add_hex(in, name, hex);
  free(s);
}

void brr_incr_build_inputs(const brr_incr_build_key *k, brr_incr_inputs *in) {
  brr_incr_inputs_add(in, "Dockerfile", k->dockerfile);
  if (k->context_hex) brr_incr_inputs_add_hex(in, "context", k->context_hex);
  else brr_incr_inputs_add(in, "context", NULL);
  /* build args are a map: the order they are written in does not change the build */
  add_list(in, "build args", k->args, k->n_args, true);
  brr_incr_inputs_add(in, "target", k->target);
  brr_incr_inputs_add(in, "platform", k->platform);
  brr_incr_inputs_add(in, "builder", k->builder);
  add_list(in, "secrets", k->secrets, k->n_secrets, true);
  /* in Dockerfile order: the same images in other stages make another image */
  if (k->have_bases) add_list(in, "base images", k->bases, k->n_bases, false);
}
