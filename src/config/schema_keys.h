/* The key sets of each config map (spec §2, §3); defined in schema_step.c and global.c. The
 * validator checks maps against them and schema_json.c makes the JSON Schema from them. */
#ifndef BRR_CONFIG_SCHEMA_KEYS_H
#define BRR_CONFIG_SCHEMA_KEYS_H

#include <stddef.h>

extern const char *const BRR_TOP_KEYS[];
extern const size_t BRR_N_TOP_KEYS;
extern const char *const BRR_STEP_KEYS[];
extern const size_t BRR_N_STEP_KEYS;
extern const char *const BRR_BUILD_KEYS[];
extern const size_t BRR_N_BUILD_KEYS;
extern const char *const BRR_RUN_KEYS[];
extern const size_t BRR_N_RUN_KEYS;
extern const char *const BRR_SERVICE_KEYS[];
extern const size_t BRR_N_SERVICE_KEYS;
extern const char *const BRR_GLOBAL_KEYS[];
extern const size_t BRR_N_GLOBAL_KEYS;


/* The key sets of the maps nested in those (the validator's own static tables). */
typedef struct brr_keyset {
  const char *const *keys;
  size_t n;
} brr_keyset;
extern const brr_keyset BRR_KEYS_PUSH, BRR_KEYS_PUSH_SCAN, BRR_KEYS_REMOTE, BRR_KEYS_PYPI,
    BRR_KEYS_WAIT_FOR;                                           /* schema_step.c */
extern const brr_keyset BRR_KEYS_GITHUB, BRR_KEYS_SSH, BRR_KEYS_BUILD_CACHE,
    BRR_KEYS_GLOBAL_SCAN;                                        /* global.c */
/* The strings brr_lax_bool takes as true and false (any case); NULL-terminated. */
extern const char *const BRR_LAX_TRUE[];
extern const char *const BRR_LAX_FALSE[];

#endif
