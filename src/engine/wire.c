/* Pure helpers for the engine's wire format: DOCKER_HOST, URLs, image references, API
 * versions and registry credentials. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "brr/engine.h"
#include "internal.h"

bool brr_engine_path_ok(const char *path) {
  if (!path || *path != '/') return false;
  for (const char *p = path; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\' || c == '"')
      return false;
    /* dot segments would be folded away by URL normalisation */
    if (c == '/' && p[1] == '.' && (p[2] == '/' || !p[2] || (p[2] == '.' && (p[3] == '/' || !p[3]))))
      return false;
  }
  return true;
}

char *brr_engine_url(const char *base, const char *api, const char *path,
                     const char *const *query) {
  if (!brr_engine_path_ok(path)) return NULL;
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, base);
  if (api) brr_buf_printf(&b, "/v%s", api);
  brr_buf_puts(&b, path);
  CURLU *u = curl_url();
  if (!u) abort();
  char *out = NULL;
  if (curl_url_set(u, CURLUPART_URL, b.data, 0) == CURLUE_OK) {
    bool ok = true;
    for (const char *const *q = query; ok && q && q[0]; q += 2) {
      if (!q[1]) continue;
      brr_buf kv = BRR_BUF_INIT;
      brr_buf_printf(&kv, "%s=%s", q[0], q[1]);
      ok = curl_url_set(u, CURLUPART_QUERY, kv.data, CURLU_APPENDQUERY | CURLU_URLENCODE) ==
           CURLUE_OK;
      brr_buf_free(&kv);
    }
    char *s = NULL;
    if (ok && curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
      out = brr_xstrdup(s);
      curl_free(s);
    }
  }
  curl_url_cleanup(u);
  brr_buf_free(&b);
  return out;
}

int brr_engine_ref_split(const char *ref, char **repo, char **tag) {
  *repo = *tag = NULL;
  if (!ref || !*ref) return BRR_EINVAL;
  for (const char *p = ref; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == '%') return BRR_EINVAL;
  const char *at = strchr(ref, '@');
  if (at) {
    if (at == ref || !at[1]) return BRR_EINVAL;
    /* a digest wins over a tag written before it, as the engine does */
    const char *slash = memrchr(ref, '/', (size_t)(at - ref));
    const char *colon = memrchr(slash ? slash : ref, ':', (size_t)(at - (slash ? slash : ref)));
    size_t rlen = (size_t)((colon ? colon : at) - ref);
    *repo = brr_xstrndup(ref, rlen);
    *tag = brr_xstrdup(at + 1);
    return 0;
  }
  const char *slash = strrchr(ref, '/');
  const char *colon = strrchr(slash ? slash : ref, ':');
  if (colon) {
    if (colon == ref || !colon[1] || colon[-1] == '/') return BRR_EINVAL;
    *repo = brr_xstrndup(ref, (size_t)(colon - ref));
    *tag = brr_xstrdup(colon + 1);
  } else {
    if (slash && !slash[1]) return BRR_EINVAL;
    *repo = brr_xstrdup(ref);
    *tag = brr_xstrdup("latest");
  }
  return 0;
}

int brr_engine_version_cmp(const char *a, const char *b) {
  while (*a || *b) {
    unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);
    if (x != y) return x < y ? -1 : 1;
    if (*a == '.') a++;
    if (*b == '.') b++;
    if ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b))) break;
  }
  return 0;
}

char *brr_engine_base64url(const void *data, size_t len) {
  char *out = brr_xmalloc(4 * ((len + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  /* the engine decodes these headers with Go's URL alphabet */
  for (char *p = out; *p; p++) {
    if (*p == '+') *p = '-';
    else if (*p == '/') *p = '_';
  }
  return out;
}

cJSON *brr_engine_auth_json(const brr_engine_auth *auth) {
  cJSON *o = cJSON_CreateObject();
  if (!auth) return o;
  if (auth->username) cJSON_AddStringToObject(o, "username", auth->username);
  if (auth->password) cJSON_AddStringToObject(o, "password", auth->password);
  if (auth->serveraddress) cJSON_AddStringToObject(o, "serveraddress", auth->serveraddress);
  if (auth->identitytoken) cJSON_AddStringToObject(o, "identitytoken", auth->identitytoken);
  return o;
}

char *brr_engine_json_b64(const cJSON *j) {
  char *s = cJSON_PrintUnformatted(j);
  if (!s) abort();
  char *out = brr_engine_base64url(s, strlen(s));
  cJSON_free(s);
  return out;
}

char *brr_engine_auth_encode(const brr_engine_auth *auth) {
  cJSON *o = brr_engine_auth_json(auth);
  char *out = brr_engine_json_b64(o);
  cJSON_Delete(o);
  return out;
}
