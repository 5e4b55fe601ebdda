/* libFuzzer harness for the registry client's parsers: image references, WWW-Authenticate
 * challenges, rate-limit values, platforms, config.json lookups and credential-helper
 * answers, plus the Dockerfile FROM rewriting of multi-platform builds. The first byte picks
 * the parser; the rest is its input. Invariants are checked, not just "no crash".
 * Build: CC=clang cmake -DBRR_FUZZ=ON ...; run: fuzz_registry -max_total_time=300 corpus/ */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brr/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ref(const char *s) {
  brr_registry_ref r;
  if (brr_registry_ref_parse(s, &r) != 0) {
    if (r.host || r.repository) __builtin_trap();  /* a failure leaves nothing behind */
    return;
  }
  /* a parsed reference has a host, a repository without a leading '/', and a tag or digest */
  if (!r.host || !*r.host || !r.repository || r.repository[0] == '/' || !brr_registry_ref_reference(&r))
    __builtin_trap();
  brr_registry_ref_free(&r);
}

static void challenge(const char *s) {
  brr_registry_challenge c;
  if (brr_registry_challenge_parse(s, &c) == 0) {
    if (!c.scheme) __builtin_trap();
    for (const char *p = c.scheme; *p; p++)
      if (*p >= 'A' && *p <= 'Z') __builtin_trap();  /* lower-cased */
  }
  brr_registry_challenge_free(&c);
}

static void platform(const char *s) {
  char *os, *arch, *variant;
  if (brr_registry_platform_parse(s, &os, &arch, &variant) == 0) {
    if (!*os || !*arch) __builtin_trap();
    brr_registry_descriptor d = {BRR_REGISTRY_OCI_MANIFEST, "sha256:00", 1, s};
    char *j = brr_registry_index_json(&d, 1);
    if (!j) __builtin_trap();
    free(j);
  }
  free(os);
  free(arch);
  free(variant);
}

static void config(const char *s, size_t len) {
  brr_registry_creds c;
  char *helper = NULL;
  if (brr_registry_config_lookup(s, len, "127.0.0.1:5000", &c, &helper) == 0) {
    if (c.username && !c.password) __builtin_trap();
    brr_registry_creds_free(&c);
    free(helper);
  } else if (c.username || helper) {
    __builtin_trap();
  }
  if (brr_registry_helper_parse(s, len, "r.io", &c) == 0) {
    if (!c.password && !c.identitytoken) __builtin_trap();
    brr_registry_creds_free(&c);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  char *s = malloc(size);
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0';
  switch (data[0] % 5) {
  case 0: ref(s); break;
  case 1: challenge(s); break;
  case 2: (void)brr_registry_ratelimit_parse(s); break;
  case 3: platform(s); break;
  default: config(s, strlen(s)); break;
  }
  free(s);
  return 0;
}
