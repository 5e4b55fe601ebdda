/* Pure helpers of the registry client: image references, WWW-Authenticate challenges,
 * rate-limit headers, platforms, the OCI index document, and docker's config.json. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "registry_internal.h"

/* ---- references ------------------------------------------------------------------------ */

static bool repo_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         c == '/';
}

static bool tag_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_')) return false;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-')) return false;
  return true;
}

static bool digest_ok(const char *d) {
  const char *colon = strchr(d, ':');
  if (!colon || colon == d || !colon[1]) return false;
  for (const char *p = colon + 1; *p; p++)
    if (!isxdigit((unsigned char)*p)) return false;
  return true;
}

void brr_registry_ref_free(brr_registry_ref *r) {
  if (!r) return;
  free(r->host);
  free(r->repository);
  free(r->tag);
  free(r->digest);
  memset(r, 0, sizeof *r);
}

int brr_registry_ref_parse(const char *ref, brr_registry_ref *out) {
  memset(out, 0, sizeof *out);
  if (!ref || !*ref) return BRR_EINVAL;
  char *s = brr_xstrdup(ref);
  char *at = strchr(s, '@');
  if (at) {
    *at = '\0';
    if (!digest_ok(at + 1)) goto bad;
    out->digest = brr_xstrdup(at + 1);
  }
  char *slash = strchr(s, '/');
  const char *path = s;
  if (slash && (memchr(s, '.', (size_t)(slash - s)) || memchr(s, ':', (size_t)(slash - s)) ||
                (slash - s == 9 && strncmp(s, "localhost", 9) == 0))) {
    out->host = brr_xstrndup(s, (size_t)(slash - s));
    path = slash + 1;
  } else {
    out->host = brr_xstrdup(BRR_REGISTRY_HUB);
  }
  if (!strcmp(out->host, "index.docker.io") || !strcmp(out->host, "registry-1.docker.io")) {
    free(out->host);
    out->host = brr_xstrdup(BRR_REGISTRY_HUB);
  }
  char *last = strrchr(path, '/');
  char *colon = strchr(last ? last : path, ':');
  if (colon) {
    *colon = '\0';
    if (!tag_ok(colon + 1)) goto bad;
    out->tag = brr_xstrdup(colon + 1);
  } else if (!out->digest) {
    out->tag = brr_xstrdup("latest");
  }
  if (!*path || path[strlen(path) - 1] == '/' || *path == '/' || strstr(path, "//")) goto bad;
  for (const char *p = path; *p; p++)
    if (!repo_char_ok(*p)) goto bad;
  bool hub = !strcmp(out->host, BRR_REGISTRY_HUB);
  out->repository = hub && !strchr(path, '/') ? brr_xasprintf("library/%s", path) : brr_xstrdup(path);
  free(s);
  return 0;
bad:
  free(s);
  brr_registry_ref_free(out);
  return BRR_EINVAL;
}

const char *brr_registry_ref_reference(const brr_registry_ref *r) {
  return r->digest ? r->digest : r->tag;
}

/* ---- challenges ------------------------------------------------------------------------ */

void brr_registry_challenge_free(brr_registry_challenge *c) {
  if (!c) return;
  free(c->scheme);
  free(c->realm);
  free(c->service);
  free(c->scope);
  memset(c, 0, sizeof *c);
}

/* One `key=value` or `key="quoted value"` parameter; returns the position after it. */
static const char *param(const char *p, char **key, char **val) {
  while (*p == ' ' || *p == '\t' || *p == ',') p++;
  const char *k = p;
  while (*p && *p != '=' && *p != ',' && *p != ' ') p++;
  *key = brr_xstrndup(k, (size_t)(p - k));
  *val = NULL;
  while (*p == ' ') p++;
  if (*p != '=') return p;
  p++;
  while (*p == ' ') p++;
  brr_buf v = BRR_BUF_INIT;
  if (*p == '"') {
    for (p++; *p && *p != '"'; p++) {
      if (*p == '\\' && p[1]) p++;
      brr_buf_putc(&v, *p);
    }
    if (*p == '"') p++;
  } else {
    while (*p && *p != ',' && *p != ' ') brr_buf_putc(&v, *p++);
  }
  *val = brr_buf_detach(&v);
  return p;
}

int brr_registry_challenge_parse(const char *header, brr_registry_challenge *out) {
  memset(out, 0, sizeof *out);
  if (!header) return BRR_EINVAL;
  const char *p = header;
  while (*p == ' ') p++;
  const char *s = p;
  while (*p && *p != ' ') p++;
  if (p == s) return BRR_EINVAL;
  out->scheme = brr_xstrndup(s, (size_t)(p - s));
  for (char *c = out->scheme; *c; c++) *c = (char)tolower((unsigned char)*c);
  while (*p) {
    char *k, *v;
    const char *next = param(p, &k, &v);
    if (next == p) {
      free(k);
      free(v);
      break;
    }
    p = next;
    char **slot = !strcasecmp(k, "realm") ? &out->realm : !strcasecmp(k, "service") ? &out->service
                : !strcasecmp(k, "scope") ? &out->scope : NULL;
    if (slot && v && !*slot) {
      *slot = v;
      v = NULL;
    }
    free(k);
    free(v);
  }
  return 0;
}

long brr_registry_ratelimit_parse(const char *value) {
  if (!value) return -1;
  while (*value == ' ') value++;
  if (!isdigit((unsigned char)*value)) return -1;
  char *end;
  long n = strtol(value, &end, 10);
  while (*end == ' ') end++;
  if (*end && *end != ';' && *end != ',') return -1;
  return n;
}

/* ---- platforms and the index ------------------------------------------------------------------ */

int brr_registry_platform_parse(const char *platform, char **os, char **arch, char **variant) {
  *os = *arch = *variant = NULL;
  size_t n;
  char **parts = brr_split(platform ? platform : "", '/', &n);
  int rc = BRR_EINVAL;
  if ((n == 2 || n == 3) && *parts[0] && *parts[1] && (n == 2 || *parts[2])) {
    *os = brr_xstrdup(parts[0]);
    *arch = brr_xstrdup(parts[1]);
    if (n == 3) *variant = brr_xstrdup(parts[2]);
    rc = 0;
  }
  brr_strv_free(parts);
  return rc;
}

char *brr_registry_index_json(const brr_registry_descriptor *v, size_t n) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddNumberToObject(root, "schemaVersion", 2);
  cJSON_AddStringToObject(root, "mediaType", BRR_REGISTRY_OCI_INDEX);
  cJSON *list = cJSON_AddArrayToObject(root, "manifests");
  for (size_t i = 0; i < n; i++) {
    char *os, *arch, *variant;
    if (brr_registry_platform_parse(v[i].platform, &os, &arch, &variant) != 0) {
      cJSON_Delete(root);
      return NULL;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "mediaType", v[i].media_type);
    cJSON_AddStringToObject(m, "digest", v[i].digest);
    cJSON_AddNumberToObject(m, "size", (double)v[i].size);
    cJSON *p = cJSON_AddObjectToObject(m, "platform");
    cJSON_AddStringToObject(p, "architecture", arch);
    cJSON_AddStringToObject(p, "os", os);
    if (variant) cJSON_AddStringToObject(p, "variant", variant);
    cJSON_AddItemToArray(list, m);
    free(os);
    free(arch);
    free(variant);
  }
  char *s = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  char *out = brr_xstrdup(s);
  cJSON_free(s);
  return out;
}

/* ---- config.json ------------------------------------------------------------------------------------ */

void brr_registry_creds_free(brr_registry_creds *c) {
  if (!c) return;
  /* secrets do not linger in freed memory */
  if (c->password) OPENSSL_cleanse(c->password, strlen(c->password));
  if (c->identitytoken) OPENSSL_cleanse(c->identitytoken, strlen(c->identitytoken));
  free(c->username);
  free(c->password);
  free(c->identitytoken);
  free(c->serveraddress);
  memset(c, 0, sizeof *c);
}

char *brr_registry_config_key(const char *host) {
  if (!strcmp(host, BRR_REGISTRY_HUB)) return brr_xstrdup("https://index.docker.io/v1/");
  return brr_xstrdup(host);
}

/* The host an `auths` key names: "https://h:5000/v1/" -> "h:5000" (docker's
 * ConvertToHostname); Hub's legacy keys -> docker.io. */
static char *key_host(const char *key) {
  const char *p = key;
  if (brr_startswith(p, "http://")) p += 7;
  else if (brr_startswith(p, "https://")) p += 8;
  const char *slash = strchr(p, '/');
  char *h = slash ? brr_xstrndup(p, (size_t)(slash - p)) : brr_xstrdup(p);
  if (!strcmp(h, "index.docker.io") || !strcmp(h, "registry-1.docker.io")) {
    free(h);
    h = brr_xstrdup(BRR_REGISTRY_HUB);
  }
  return h;
}

static int decode_auth(const char *b64, brr_registry_creds *out) {
  size_t n = strlen(b64);
  unsigned char *buf = brr_xmalloc(n + 4);
  int k = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
  if (k < 0) {
    free(buf);
    return BRR_EINVAL;
  }
  /* EVP_DecodeBlock counts the padding as zero bytes */
  while (n > 0 && b64[n - 1] == '=' && k > 0) {
    n--;
    k--;
  }
  buf[k] = '\0';
  char *colon = memchr(buf, ':', (size_t)k);
  if (!colon) {
    free(buf);
    return BRR_EINVAL;
  }
  out->username = brr_xstrndup((char *)buf, (size_t)(colon - (char *)buf));
  out->password = brr_xstrdup(colon + 1);
  free(buf);
  return 0;
}

static const char *str_field(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static int auths_entry(const cJSON *e, const char *host, brr_registry_creds *out) {
  const char *auth = str_field(e, "auth");
  const char *user = str_field(e, "username"), *pass = str_field(e, "password");
  const char *tok = str_field(e, "identitytoken");
  if (auth && decode_auth(auth, out) != 0) return BRR_EINVAL;
  if (!auth && user) {
    out->username = brr_xstrdup(user);
    out->password = brr_xstrdup(pass ? pass : "");
  }
  if (tok) out->identitytoken = brr_xstrdup(tok);
  if (out->username || out->identitytoken) out->serveraddress = brr_xstrdup(host);
  return 0;
}

int brr_registry_config_lookup(const char *json, size_t len, const char *host,
                               brr_registry_creds *out, char **helper) {
  memset(out, 0, sizeof *out);
  *helper = NULL;
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return BRR_EINVAL;
  }
  int rc = 0;
  const cJSON *helpers = cJSON_GetObjectItemCaseSensitive(root, "credHelpers");
  const cJSON *h = NULL;
  cJSON_ArrayForEach(h, helpers) {
    char *kh = key_host(h->string);
    bool match = !strcmp(kh, host);
    free(kh);
    if (match && cJSON_IsString(h) && h->valuestring[0]) {
      *helper = brr_xstrdup(h->valuestring);
      goto done;
    }
  }
  const cJSON *auths = cJSON_GetObjectItemCaseSensitive(root, "auths");
  const cJSON *e = NULL;
  cJSON_ArrayForEach(e, auths) {
    char *kh = key_host(e->string);
    bool match = !strcmp(kh, host);
    free(kh);
    if (!match || !cJSON_IsObject(e)) continue;
    rc = auths_entry(e, host, out);
    if (rc != 0 || out->username || out->identitytoken) goto done;
  }
  const char *store = str_field(root, "credsStore");
  if (store) *helper = brr_xstrdup(store);
done:
  if (rc != 0) brr_registry_creds_free(out);
  cJSON_Delete(root);
  return rc;
}

int brr_registry_helper_parse(const char *json, size_t len, const char *host,
                              brr_registry_creds *out) {
  memset(out, 0, sizeof *out);
  cJSON *root = cJSON_ParseWithLength(json, len);
  const char *user = str_field(root, "Username"), *secret = str_field(root, "Secret");
  int rc = cJSON_IsObject(root) && secret ? 0 : BRR_EINVAL;
  if (rc == 0) {
    /* docker's convention: a "<token>" user means the secret is an identity token */
    if (user && strcmp(user, "<token>") != 0) {
      out->username = brr_xstrdup(user);
      out->password = brr_xstrdup(secret);
    } else {
      out->identitytoken = brr_xstrdup(secret);
    }
    out->serveraddress = brr_xstrdup(host);
  }
  cJSON_Delete(root);
  return rc;
}
