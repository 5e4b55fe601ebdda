/* Which Docker engine to talk to, chosen as the docker CLI chooses it: --context, then
 * DOCKER_HOST (with DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH), then DOCKER_CONTEXT,
 * then currentContext in $DOCKER_CONFIG/config.json, then the default socket. Contexts are
 * the CLI's own files: contexts/meta/<sha256 of the name>/meta.json and
 * contexts/tls/<sha256 of the name>/docker/{ca,cert,key}.pem. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "brr/engine.h"
#include "internal.h"

extern char **environ;

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

char *brr_engine_docker_config_dir(void) {
  const char *d = env("DOCKER_CONFIG");
  return d ? brr_xstrdup(d) : brr_path_expanduser("~/.docker");
}

static char *sha256_hex(const char *s) {
  char hex[BRR_DIGEST_HEX_MAX];
  brr_digest_hex("sha256", s, strlen(s), hex);
  return brr_xstrdup(hex);
}

void brr_engine_endpoint_free(brr_engine_endpoint *ep) {
  if (!ep) return;
  free(ep->host);
  free(ep->source);
  free(ep->context);
  free(ep->ca);
  free(ep->cert);
  free(ep->key);
  memset(ep, 0, sizeof *ep);
}

/* The certificates of a TLS endpoint from the directory `certs`, as the CLI reads them:
 * ca.pem, which must be readable when verifying (else an error: "<verified_by> but the CA
 * certificate ... cannot be read"), and cert.pem with key.pem when both are there. */
static int certs_from_dir(brr_engine_endpoint *ep, const char *certs, const char *verified_by,
                          char **error) {
  char *ca = brr_path_join(certs, "ca.pem");
  char *cert = brr_path_join(certs, "cert.pem");
  char *key = brr_path_join(certs, "key.pem");
  int rc = 0;
  if (ep->tls_verify) {
    if (!file_exists(ca)) {
      *error = brr_xasprintf("%s but the CA certificate %s cannot be read: %s", verified_by, ca,
                             strerror(errno));
      rc = BRR_EINVAL;
    } else {
      ep->ca = ca;
      ca = NULL;
    }
  }
  /* the client certificate when it is there, as the CLI does */
  if (rc == 0 && file_exists(cert) && file_exists(key)) {
    ep->cert = cert;
    ep->key = key;
    cert = key = NULL;
  }
  free(ca);
  free(cert);
  free(key);
  return rc;
}

/* The environment's engine: DOCKER_HOST and the TLS variables, else the default socket. */
static int from_env(brr_engine_endpoint *ep, const char *why, char **error) {
  const char *host = env("DOCKER_HOST");
  ep->host = brr_xstrdup(host ? host : BRR_ENGINE_DEFAULT_HOST);
  if (!ep->source) ep->source = brr_xstrdup(host ? "DOCKER_HOST" : why);
  /* as the CLI: any non-empty value turns these on, "0" included */
  ep->tls_verify = env("DOCKER_TLS_VERIFY") != NULL;
  ep->tls = ep->tls_verify || env("DOCKER_TLS") != NULL;
  /* TLS is for tcp: a socket or ssh ignores the variables (and needs no certificates) */
  if (brr_startswith(ep->host, "unix://") || brr_startswith(ep->host, "ssh://"))
    ep->tls = ep->tls_verify = false;
  if (!ep->tls) return 0;
  const char *dir = env("DOCKER_CERT_PATH");
  char *certs = dir ? brr_xstrdup(dir) : brr_path_expanduser("~/.docker");
  int rc = certs_from_dir(ep, certs, "DOCKER_TLS_VERIFY is set", error);
  free(certs);
  return rc;
}

static int from_context(brr_engine_endpoint *ep, const char *name, char **error) {
  char *dir = brr_engine_docker_config_dir();
  char *hash = sha256_hex(name);
  char *meta = brr_xasprintf("%s/contexts/meta/%s/meta.json", dir, hash);
  brr_buf text = BRR_BUF_INIT;
  int rc = 0;
  if (brr_read_file(meta, &text) != 0) {
    *error = brr_xasprintf("context \"%s\" (%s): it does not exist (no %s)", name, ep->source, meta);
    rc = BRR_EINVAL;
    goto out;
  }
  cJSON *j = cJSON_ParseWithLength(text.data, text.len);
  const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "Endpoints");
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(eps, "docker");
  const cJSON *host = cJSON_GetObjectItemCaseSensitive(d, "Host");
  const cJSON *skip = cJSON_GetObjectItemCaseSensitive(d, "SkipTLSVerify");
  if (!j || !cJSON_IsString(host) || !*host->valuestring) {
    *error = brr_xasprintf("context \"%s\" (%s): %s has no Endpoints.docker.Host", name,
                           ep->source, meta);
    rc = BRR_EINVAL;
  } else {
    ep->host = brr_xstrdup(host->valuestring);
    ep->context = brr_xstrdup(name);
    char *tls = brr_xasprintf("%s/contexts/tls/%s/docker", dir, hash);
    char *ca = brr_path_join(tls, "ca.pem");
    char *cert = brr_path_join(tls, "cert.pem");
    char *key = brr_path_join(tls, "key.pem");
    free(tls);
    /* the CLI: TLS when the context has TLS material or skips verification */
    bool skip_verify = cJSON_IsTrue(skip);
    if (file_exists(ca)) { ep->ca = ca; ca = NULL; }
    if (file_exists(cert) && file_exists(key)) {
      ep->cert = cert;
      ep->key = key;
      cert = key = NULL;
    }
    ep->tls = skip_verify || ep->ca || ep->cert;
    ep->tls_verify = ep->tls && !skip_verify;
    free(ca);
    free(cert);
    free(key);
  }
  cJSON_Delete(j);
out:
  brr_buf_free(&text);
  free(meta);
  free(hash);
  free(dir);
  return rc;
}

/* currentContext from config.json, or NULL. */
static char *current_context(char **config_path) {
  char *dir = brr_engine_docker_config_dir();
  *config_path = brr_path_join(dir, "config.json");
  free(dir);
  brr_buf text = BRR_BUF_INIT;
  char *name = NULL;
  if (brr_read_file(*config_path, &text) == 0) {
    cJSON *j = cJSON_ParseWithLength(text.data, text.len);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "currentContext");
    if (cJSON_IsString(c) && *c->valuestring) name = brr_xstrdup(c->valuestring);
    cJSON_Delete(j);
  }
  brr_buf_free(&text);
  return name;
}

static int choose(brr_engine_endpoint *ep, const char *name, char **error) {
  if (strcmp(name, "default") == 0) return from_env(ep, ep->source, error);
  return from_context(ep, name, error);
}

int brr_engine_endpoint_resolve(const char *context, brr_engine_endpoint *out, char **error) {
  memset(out, 0, sizeof *out);
  *error = NULL;
  int rc;
  if (context && *context) {
    out->source = brr_xasprintf("--context %s", context);
    out->flag_context = true;
    rc = choose(out, context, error);
  } else if (env("DOCKER_HOST")) {
    rc = from_env(out, "DOCKER_HOST", error);
  } else if (env("DOCKER_CONTEXT")) {
    out->source = brr_xasprintf("DOCKER_CONTEXT=%s", env("DOCKER_CONTEXT"));
    rc = choose(out, env("DOCKER_CONTEXT"), error);
  } else {
    char *config = NULL;
    char *name = current_context(&config);
    if (name) {
      out->source = brr_xasprintf("currentContext %s in %s", name, config);
      rc = choose(out, name, error);
    } else {
      rc = from_env(out, "the default", error);
    }
    free(name);
    free(config);
  }
  if (rc == 0) {
    brr_engine_target t;
    rc = brr_engine_target_parse(out->host, out->tls, &t, error);
    if (rc == 0) {
      brr_engine_target_free(&t);
    } else {
      char *msg = brr_xasprintf("%s (from %s)", *error, out->source);
      free(*error);
      *error = msg;
    }
  }
  if (rc) brr_engine_endpoint_free(out);
  return rc;
}

int brr_engine_endpoint_named(const char *context, const char *host, int tls_verify,
                              const char *cert_path, const char *source, brr_engine_endpoint *out,
                              char **error) {
  *error = NULL;
  if (context) {
    int rc = brr_engine_endpoint_resolve(context, out, error);
    if (rc == 0) {
      free(out->source);
      out->source = brr_xasprintf("%s, context %s", source, context);
    }
    return rc;
  }
  memset(out, 0, sizeof *out);
  out->host = brr_xstrdup(host ? host : "");
  out->source = brr_xstrdup(source);
  out->tls = tls_verify >= 0 || cert_path;
  out->tls_verify = out->tls && tls_verify != 0;
  if (brr_startswith(out->host, "unix://") || brr_startswith(out->host, "ssh://"))
    out->tls = out->tls_verify = false;
  int rc = 0;
  if (out->tls) {
    char *certs = cert_path ? brr_path_expanduser(cert_path) : brr_path_expanduser("~/.docker");
    rc = certs_from_dir(out, certs, "TLS is verified", error);
    free(certs);
  }
  if (rc == 0) {
    brr_engine_target t;
    rc = brr_engine_target_parse(out->host, out->tls, &t, error);
    if (rc == 0) brr_engine_target_free(&t);
  }
  if (rc) {
    /* where the engine was named */
    char *msg = brr_xasprintf("%s (from %s)", *error, source);
    free(*error);
    *error = msg;
    brr_engine_endpoint_free(out);
  }
  return rc;
}

/* ---- the endpoint as a host: URL prefix, socket, ssh ---------------------------------------- */

void brr_engine_target_free(brr_engine_target *t) {
  free(t->base_url);
  free(t->unix_path);
  free(t->ssh_dest);
  free(t->ssh_port);
  memset(t, 0, sizeof *t);
}

static bool all_digits(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static bool port_ok(const char *s, size_t n) {
  if (!all_digits(s, n) || n > 5) return false;
  long v = 0;
  for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v >= 1 && v <= 65535;
}

/* Split "host[:port]" (host may be [v6]); *colon is the port's colon or NULL. */
static int split_hostport(const char *host, const char *addr, size_t n, const char **colon,
                          char **error) {
  *colon = NULL;
  if (n && addr[0] == '[') {
    const char *rb = memchr(addr, ']', n);
    if (!rb) {
      *error = brr_xasprintf("engine address %s: the IPv6 address has no closing ']'", host);
      return BRR_EINVAL;
    }
    if (rb == addr + 1) {
      *error = brr_xasprintf("engine address %s: no host", host);
      return BRR_EINVAL;
    }
    if (rb + 1 < addr + n) {
      if (rb[1] != ':') {
        *error = brr_xasprintf("engine address %s: unexpected text after ']'", host);
        return BRR_EINVAL;
      }
      *colon = rb + 1;
    }
    return 0;
  }
  const char *c = memchr(addr, ':', n);
  if (c && memchr(c + 1, ':', (size_t)(addr + n - c - 1))) {
    *error = brr_xasprintf("engine address %s: an IPv6 address needs brackets ([::1]:2376)", host);
    return BRR_EINVAL;
  }
  *colon = c;
  return 0;
}

int brr_engine_target_parse(const char *host, bool tls, brr_engine_target *t, char **error) {
  memset(t, 0, sizeof *t);
  *error = NULL;
  if (!host || !*host) host = BRR_ENGINE_DEFAULT_HOST;
  if (brr_startswith(host, "unix://")) {
    const char *path = host + strlen("unix://");
    if (*path != '/') {
      *error = brr_xasprintf("engine address %s: the socket path must be absolute", host);
      return BRR_EINVAL;
    }
    t->base_url = brr_xstrdup("http://localhost");
    t->unix_path = brr_xstrdup(path);
    return 0;
  }
  const char *sep = strstr(host, "://");
  bool is_tcp = brr_startswith(host, "tcp://");
  bool is_ssh = brr_startswith(host, "ssh://");
  if (!sep && *host != '/' && *host) is_tcp = true;  /* "host:port": tcp, as the CLI */
  if (!is_tcp && !is_ssh) {
    if (sep)
      *error = brr_xasprintf("engine address %s: the %.*s:// scheme is not supported (use unix://, "
                             "tcp:// or ssh://)", host, (int)(sep - host), host);
    else
      *error = brr_xasprintf("engine address %s: expected unix:///path, tcp://host:port or "
                             "ssh://[user@]host[:port]", host);
    return BRR_EINVAL;
  }
  const char *addr = sep ? sep + 3 : host;
  size_t n = strlen(addr);
  while (n && addr[n - 1] == '/') n--;
  if (memchr(addr, '/', n) || memchr(addr, '?', n) || memchr(addr, '#', n)) {
    *error = brr_xasprintf("engine address %s: a path is not allowed after the address", host);
    return BRR_EINVAL;
  }
  const char *at = is_ssh ? memchr(addr, '@', n) : NULL;
  if (!is_ssh && memchr(addr, '@', n)) {
    *error = brr_xasprintf("engine address %s: a user name is only allowed with ssh://", host);
    return BRR_EINVAL;
  }
  const char *hp = at ? at + 1 : addr;
  size_t hn = (size_t)(addr + n - hp);
  if (hn == 0) {
    *error = brr_xasprintf("engine address %s: no host", host);
    return BRR_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)addr[i];
    if (c <= ' ' || c >= 0x7f || c == '\\' || c == '"' || c == '%') {
      *error = brr_xasprintf("engine address %s: unexpected character", host);
      return BRR_EINVAL;
    }
  }
  const char *colon;
  if (split_hostport(host, hp, hn, &colon, error)) return BRR_EINVAL;
  if (colon && !port_ok(colon + 1, (size_t)(hp + hn - colon - 1))) {
    *error = brr_xasprintf("engine address %s: the port must be a number from 1 to 65535", host);
    return BRR_EINVAL;
  }
  if ((colon ? (size_t)(colon - hp) : hn) == 0 || (hp[0] == '[' && hn <= 2)) {
    *error = brr_xasprintf("engine address %s: no host", host);
    return BRR_EINVAL;
  }
  if (is_ssh) {
    size_t name_len = colon ? (size_t)(colon - addr) : n;
    t->ssh_dest = brr_xstrndup(addr, name_len);
    if (colon) t->ssh_port = brr_xstrndup(colon + 1, (size_t)(hp + hn - colon - 1));
    t->base_url = brr_xstrdup("http://localhost");
    return 0;
  }
  const char *scheme = tls ? "https" : "http";
  t->tls = tls;
  t->base_url = colon ? brr_xasprintf("%s://%.*s", scheme, (int)hn, hp)
                      : brr_xasprintf("%s://%.*s:%d", scheme, (int)hn, hp, tls ? 2376 : 2375);
  return 0;
}

static bool loopback_name(const char *h, size_t n) {
  return (n == 9 && !strncmp(h, "localhost", 9)) || (n > 4 && !strncmp(h, "127.", 4)) ||
         (n == 5 && !strncmp(h, "[::1]", 5));
}

char *brr_engine_host_remote_part(const char *host) {
  brr_engine_target t;
  char *err = NULL;
  if (brr_engine_target_parse(host, false, &t, &err) != 0) {
    free(err);
    return NULL;
  }
  char *out = NULL;
  const char *h = NULL;
  size_t n = 0;
  if (t.ssh_dest) {
    const char *at = strrchr(t.ssh_dest, '@');
    h = at ? at + 1 : t.ssh_dest;
    n = strlen(h);
  } else if (!t.unix_path) {
    h = strstr(t.base_url, "://") + 3;
    const char *end = h[0] == '[' ? strchr(h, ']') + 1 : strrchr(h, ':');
    n = (size_t)(end - h);
  }
  if (h && n && !loopback_name(h, n)) out = brr_xstrndup(h, n);
  brr_engine_target_free(&t);
  return out;
}

/* ---- the docker CLI's environment --------------------------------------------------------------- */

char **brr_engine_endpoint_env(const brr_engine_endpoint *ep) {
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  char **v = brr_xcalloc(n + 2, sizeof *v);
  size_t k = 0;
  bool pin = ep && ep->flag_context;
  for (char **e = environ; *e; e++) {
    if (pin && brr_startswith(*e, "DOCKER_CONTEXT=")) continue;
    /* a context named on brr's command line wins over DOCKER_HOST, as with `docker --context` */
    if (pin && ep->context && brr_startswith(*e, "DOCKER_HOST=")) continue;
    v[k++] = brr_xstrdup(*e);
  }
  if (pin) v[k++] = brr_xasprintf("DOCKER_CONTEXT=%s", ep->context ? ep->context : "default");
  v[k] = NULL;
  return v;
}
