/* YAML 1.1 scalar typing (PyYAML's resolver and constructors); private to src/config. */
#ifndef BRR_CONFIG_YAML_SCALAR_H
#define BRR_CONFIG_YAML_SCALAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brr/util.h"

typedef enum {
  BRR_YTAG_STR,
  BRR_YTAG_BOOL,
  BRR_YTAG_FLOAT,
  BRR_YTAG_INT,
  BRR_YTAG_MERGE,
  BRR_YTAG_NULL,
  BRR_YTAG_TIMESTAMP,
  BRR_YTAG_VALUE,
  BRR_YTAG_BINARY,
  BRR_YTAG_COUNT,
  BRR_YTAG_UNKNOWN = BRR_YTAG_COUNT,
} brr_ytag;

/* Per-load matching state (the compiled patterns are shared by the process). */
typedef struct brr_yscalar_ctx brr_yscalar_ctx;
brr_yscalar_ctx *brr_yscalar_ctx_new(void);
void brr_yscalar_ctx_free(brr_yscalar_ctx *ctx);

/* The tag PyYAML's implicit resolver gives a plain scalar. */
brr_ytag brr_yscalar_resolve(brr_yscalar_ctx *ctx, const char *s, size_t n);
/* "tag:yaml.org,2002:int" -> BRR_YTAG_INT; BRR_YTAG_UNKNOWN for anything else. */
brr_ytag brr_yscalar_tag_from_name(const char *tag);

/* Constructors; each returns NULL on success or a static error message. */
const char *brr_yscalar_int(const char *s, size_t n, int64_t *out);
const char *brr_yscalar_float(const char *s, size_t n, double *out);
const char *brr_yscalar_bool(const char *s, size_t n, bool *out);
/* Base64 (blanks ignored) -> heap bytes, NUL-terminated; NULL when invalid. */
char *brr_yscalar_binary(const char *s, size_t n, size_t *out_len);

#endif
