/* The key sets of each config map (spec §2, §3); defined in schema_step.c and global.c. */
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

#endif
