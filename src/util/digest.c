/* Message digests (SHA-1 for the template functions and cache keys, SHA-256 for registry
 * blobs and engine names): one place that talks to OpenSSL's EVP interface, so every caller
 * gets the same hex form and the same handling of a failure. */
#include <openssl/evp.h>
#include <stdlib.h>

#include "brr/util.h"

struct brr_digest {
  EVP_MD_CTX *md;
};

brr_digest *brr_digest_new(const char *alg) {
  const EVP_MD *type = EVP_get_digestbyname(alg);
  if (!type) return NULL;
  brr_digest *d = brr_xmalloc(sizeof *d);
  d->md = EVP_MD_CTX_new();
  /* out of memory, or a digest the library lists but cannot run (FIPS): nothing to recover */
  if (!d->md || EVP_DigestInit_ex(d->md, type, NULL) != 1) abort();
  return d;
}

void brr_digest_update(brr_digest *d, const void *data, size_t len) {
  if (len && EVP_DigestUpdate(d->md, data, len) != 1) abort();
}

size_t brr_digest_final_hex(brr_digest *d, char hex[BRR_DIGEST_HEX_MAX]) {
  static const char digits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(d->md, md, &n) != 1 || 2 * (size_t)n >= BRR_DIGEST_HEX_MAX) abort();
  for (unsigned i = 0; i < n; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[2 * n] = '\0';
  return 2 * (size_t)n;
}

void brr_digest_free(brr_digest *d) {
  if (!d) return;
  EVP_MD_CTX_free(d->md);
  free(d);
}

size_t brr_digest_hex(const char *alg, const void *data, size_t len, char hex[BRR_DIGEST_HEX_MAX]) {
  brr_digest *d = brr_digest_new(alg);
  if (!d) {
    hex[0] = '\0';
    return 0;
  }
  brr_digest_update(d, data, len);
  size_t n = brr_digest_final_hex(d, hex);
  brr_digest_free(d);
  return n;
}
