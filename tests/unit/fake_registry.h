/* A small in-memory Docker distribution (v2) registry for the build tasks' unit tests, on
 * 127.0.0.1 with a port of its own, served by libmicrohttpd in its own threads (no HTTP
 * parsing here). It keeps what is pushed: manifests under their tags and digests, blobs by
 * digest (any repository may mount any blob it holds), and answers the calls brr's registry
 * client makes: GET /v2/, HEAD/GET/PUT manifests, HEAD/GET blobs, POST uploads (mount or an
 * upload session) and the monolithic PUT that ends a session. Scripted faults: an answer
 * code, or silence until the test ends, for the next N requests matching "METHOD /prefix".
 * Every request is recorded. It stands in for registry:2 only where the unit tests cannot
 * have one; the e2e tests push to a real registry. Header-only, like the other helpers. */
#ifndef BRR_TEST_FAKE_REGISTRY_H
#define BRR_TEST_FAKE_REGISTRY_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brr/util.h"

#define FR_MAX_RULES 16

typedef struct fr_obj {
  char *key;        /* "m <repo>:<ref>" (tag or digest) or "b <digest>" */
  char *type;       /* manifests: the media type */
  char *digest;
  brr_buf body;
} fr_obj;

typedef struct fr_rule {
  char *method, *prefix;
  int code;         /* the answer; 0: no answer until the registry stops */
  int after;        /* matching requests it lets through first */
  int times;        /* how many requests it takes (-1: all) */
} fr_rule;

typedef struct fake_registry {
  struct MHD_Daemon *d;
  int port;
  char host[64];    /* "127.0.0.1:<port>" */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stopping;
  fr_obj *objs;
  size_t n_objs, cap_objs;
  fr_rule rules[FR_MAX_RULES];
  size_t n_rules;
  char **reqs;      /* "METHOD /path" */
  size_t n_reqs, cap_reqs;
  int hanging;      /* requests held without an answer right now */
  char *ratelimit;  /* RateLimit-Remaining on manifest answers ("7;w=21600"), or NULL */
  unsigned next_upload;
} fake_registry;

/* "sha256:<hex>" of `len` bytes. Heap. */
static inline char *fr_digest(const void *data, size_t len) {
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned hl = 0;
  EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL);
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned i = 0; i < hl; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
  return brr_xasprintf("sha256:%s", hex);
}

/* Under mu. */
static inline fr_obj *fr_find(fake_registry *r, const char *key) {
  for (size_t i = 0; i < r->n_objs; i++)
    if (!strcmp(r->objs[i].key, key)) return &r->objs[i];
  return NULL;
}

/* Under mu: store (or replace) `key`. */
static inline fr_obj *fr_put(fake_registry *r, const char *key, const char *type, const char *digest,
                             const void *data, size_t len) {
  fr_obj *o = fr_find(r, key);
  if (!o) {
    fr_obj n = {0};
    n.key = brr_xstrdup(key);
    BRR_VEC_PUSH(r->objs, r->n_objs, r->cap_objs, n);
    o = &r->objs[r->n_objs - 1];
  }
  free(o->type);
  free(o->digest);
  o->type = type ? brr_xstrdup(type) : NULL;
  o->digest = brr_xstrdup(digest);
  brr_buf_reset(&o->body);
  brr_buf_append(&o->body, data, len);
  return o;
}

typedef struct fr_conn {
  brr_buf body;
  bool recorded;
} fr_conn;

static inline enum MHD_Result fr_send_rl(struct MHD_Connection *c, int code, const char *type, const char *digest,
                                         const char *location, const void *body, size_t len, const char *ratelimit) {
  struct MHD_Response *res = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (type) MHD_add_response_header(res, "Content-Type", type);
  if (digest) MHD_add_response_header(res, "Docker-Content-Digest", digest);
  if (location) MHD_add_response_header(res, "Location", location);
  MHD_add_response_header(res, "Docker-Distribution-API-Version", "registry/2.0");
  if (ratelimit) MHD_add_response_header(res, "RateLimit-Remaining", ratelimit);
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)code, res);
  MHD_destroy_response(res);
  return rc;
}

static inline enum MHD_Result fr_send(struct MHD_Connection *c, int code, const char *type, const char *digest,
                                      const char *location, const void *body, size_t len) {
  return fr_send_rl(c, code, type, digest, location, body, len, NULL);
}

static inline enum MHD_Result fr_error(struct MHD_Connection *c, int code, const char *what) {
  char *j = brr_xasprintf("{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}", what, what);
  enum MHD_Result rc = fr_send(c, code, "application/json", NULL, NULL, j, strlen(j));
  free(j);
  return rc;
}

/* Under mu: the scripted answer for this request, or -1 for none (serve it). */
static inline int fr_rule_for(fake_registry *r, const char *method, const char *url) {
  for (size_t i = 0; i < r->n_rules; i++) {
    fr_rule *ru = &r->rules[i];
    if (ru->times == 0 || strcmp(ru->method, method) != 0 || !brr_startswith(url, ru->prefix)) continue;
    if (ru->after > 0) {
      ru->after--;
      continue;
    }
    if (ru->times > 0) ru->times--;
    return ru->code;
  }
  return -1;
}

/* The repository and what follows it: "/v2/<name>/<kind>/<rest>". False when not such a path. */
static inline bool fr_split(const char *url, const char *kind, char **name, const char **rest) {
  if (!brr_startswith(url, "/v2/")) return false;
  char *mark = brr_xasprintf("/%s/", kind);
  const char *p = NULL;
  for (const char *q = strstr(url + 4, mark); q; q = strstr(q + 1, mark)) p = q;
  if (p) {
    *name = brr_xstrndup(url + 4, (size_t)(p - url - 4));
    *rest = p + strlen(mark);
  }
  free(mark);
  return p != NULL;
}

static inline enum MHD_Result fr_serve(fake_registry *r, struct MHD_Connection *c, const char *method,
                                       const char *url, const brr_buf *body) {
  char *name = NULL;
  const char *rest = NULL;
  if (!strcmp(url, "/v2/") || !strcmp(url, "/v2")) return fr_send(c, 200, "application/json", NULL, NULL, "{}", 2);
  if (fr_split(url, "manifests", &name, &rest)) {
    char *key = brr_xasprintf("m %s:%s", name, rest);
    enum MHD_Result rc;
    if (!strcmp(method, "PUT")) {
      const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
      char *digest = fr_digest(body->data ? body->data : "", body->len);
      char *dkey = brr_xasprintf("m %s:%s", name, digest);
      fr_put(r, key, type, digest, body->data, body->len);
      fr_put(r, dkey, type, digest, body->data, body->len);
      char *loc = brr_xasprintf("/v2/%s/manifests/%s", name, digest);
      rc = fr_send(c, 201, NULL, digest, loc, "", 0);
      free(loc);
      free(dkey);
      free(digest);
    } else {
      fr_obj *o = fr_find(r, key);
      if (!o) rc = fr_error(c, 404, "MANIFEST_UNKNOWN");
      else rc = fr_send_rl(c, 200, o->type, o->digest, NULL, o->body.data, o->body.len, r->ratelimit);
    }
    free(key);
    free(name);
    return rc;
  }
  if (fr_split(url, "blobs", &name, &rest)) {
    enum MHD_Result rc;
    if (brr_startswith(rest, "uploads")) {
      const char *digest = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "digest");
      const char *mount = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mount");
      if (!strcmp(method, "POST")) {
        char *bkey = mount ? brr_xasprintf("b %s", mount) : NULL;
        if (bkey && fr_find(r, bkey)) {
          char *loc = brr_xasprintf("/v2/%s/blobs/%s", name, mount);
          rc = fr_send(c, 201, NULL, mount, loc, "", 0);
          free(loc);
        } else {
          char *loc = brr_xasprintf("/v2/%s/blobs/uploads/u%u", name, ++r->next_upload);
          rc = fr_send(c, 202, NULL, NULL, loc, "", 0);
          free(loc);
        }
        free(bkey);
      } else if (!strcmp(method, "PUT") && digest) {
        char *got = fr_digest(body->data ? body->data : "", body->len);
        if (strcmp(got, digest) != 0) {
          rc = fr_error(c, 400, "DIGEST_INVALID");
        } else {
          char *bkey = brr_xasprintf("b %s", digest);
          fr_put(r, bkey, NULL, digest, body->data, body->len);
          char *loc = brr_xasprintf("/v2/%s/blobs/%s", name, digest);
          rc = fr_send(c, 201, NULL, digest, loc, "", 0);
          free(loc);
          free(bkey);
        }
        free(got);
      } else {
        rc = fr_error(c, 405, "UNSUPPORTED");
      }
    } else {
      char *bkey = brr_xasprintf("b %s", rest);
      fr_obj *o = fr_find(r, bkey);
      if (!o) rc = fr_error(c, 404, "BLOB_UNKNOWN");
      else rc = fr_send(c, 200, "application/octet-stream", o->digest, NULL, o->body.data, o->body.len);
      free(bkey);
    }
    free(name);
    return rc;
  }
  return fr_error(c, 404, "NAME_UNKNOWN");
}

static inline enum MHD_Result fr_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                         const char *version, const char *upload_data, size_t *upload_size,
                                         void **con_cls) {
  (void)version;
  fake_registry *r = cls;
  fr_conn *fc = *con_cls;
  if (!fc) {
    fc = brr_xcalloc(1, sizeof *fc);
    *con_cls = fc;
    return MHD_YES;
  }
  if (*upload_size) {
    brr_buf_append(&fc->body, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  pthread_mutex_lock(&r->mu);
  char *line = brr_xasprintf("%s %s", method, url);
  BRR_VEC_PUSH(r->reqs, r->n_reqs, r->cap_reqs, line);
  int code = fr_rule_for(r, method, url);
  enum MHD_Result rc;
  if (code == 0) {
    /* silence: held until the registry stops */
    r->hanging++;
    while (!r->stopping) pthread_cond_wait(&r->cv, &r->mu);
    r->hanging--;
    rc = MHD_NO;
  } else if (code > 0) {
    rc = fr_error(c, code, "SCRIPTED");
  } else {
    rc = fr_serve(r, c, method, url, &fc->body);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

static inline void fr_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                                enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  fr_conn *fc = *con_cls;
  if (!fc) return;
  brr_buf_free(&fc->body);
  free(fc);
  *con_cls = NULL;
}

/* Start on 127.0.0.1 with a free port. False when it cannot listen. */
static inline bool fr_start(fake_registry *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  r->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                          fr_handler, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED,
                          fr_completed, r, MHD_OPTION_END);
  if (!r->d) return false;
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
  r->port = info ? info->port : 0;
  snprintf(r->host, sizeof r->host, "127.0.0.1:%d", r->port);
  return r->port > 0;
}

/* After `after` requests matching `method` and the path prefix went through, the next
 * `times` (-1: all) get `code` (0: no answer until the registry stops). Rules are tried in
 * the order they were added. */
static inline void fr_fault_after(fake_registry *r, const char *method, const char *prefix, int code, int after,
                                  int times) {
  pthread_mutex_lock(&r->mu);
  fr_rule *ru = &r->rules[r->n_rules++];
  ru->method = brr_xstrdup(method);
  ru->prefix = brr_xstrdup(prefix);
  ru->code = code;
  ru->after = after;
  ru->times = times;
  pthread_mutex_unlock(&r->mu);
}

static inline void fr_fault(fake_registry *r, const char *method, const char *prefix, int code, int times) {
  fr_fault_after(r, method, prefix, code, 0, times);
}

/* Store the manifest `repo:ref` (as if pushed) and answer its reads with RateLimit-Remaining
 * `ratelimit` (NULL: no such header), as Docker Hub does. */
static inline void fr_seed(fake_registry *r, const char *repo_ref, const char *ratelimit) {
  static const char body[] = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}";
  pthread_mutex_lock(&r->mu);
  char *key = brr_xasprintf("m %s", repo_ref);
  char *digest = fr_digest(body, sizeof body - 1);
  fr_put(r, key, "application/vnd.oci.image.manifest.v1+json", digest, body, sizeof body - 1);
  free(r->ratelimit);
  r->ratelimit = ratelimit ? brr_xstrdup(ratelimit) : NULL;
  free(digest);
  free(key);
  pthread_mutex_unlock(&r->mu);
}

/* How many requests started with `line_prefix` ("PUT /v2/x/manifests/"). */
static inline size_t fr_count(fake_registry *r, const char *line_prefix) {
  pthread_mutex_lock(&r->mu);
  size_t n = 0;
  for (size_t i = 0; i < r->n_reqs; i++) n += brr_startswith(r->reqs[i], line_prefix);
  pthread_mutex_unlock(&r->mu);
  return n;
}

static inline int fr_hanging(fake_registry *r) {
  pthread_mutex_lock(&r->mu);
  int n = r->hanging;
  pthread_mutex_unlock(&r->mu);
  return n;
}

/* The manifest `repo:ref` as stored (body and media type, heap), or NULL. */
static inline char *fr_manifest(fake_registry *r, const char *repo_ref, char **type, char **digest) {
  pthread_mutex_lock(&r->mu);
  char *key = brr_xasprintf("m %s", repo_ref);
  fr_obj *o = fr_find(r, key);
  char *body = o ? brr_xstrndup(o->body.data ? o->body.data : "", o->body.len) : NULL;
  if (type) *type = o && o->type ? brr_xstrdup(o->type) : NULL;
  if (digest) *digest = o ? brr_xstrdup(o->digest) : NULL;
  free(key);
  pthread_mutex_unlock(&r->mu);
  return body;
}

static inline void fr_stop(fake_registry *r) {
  pthread_mutex_lock(&r->mu);
  r->stopping = true;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  if (r->d) MHD_stop_daemon(r->d);
  for (size_t i = 0; i < r->n_objs; i++) {
    free(r->objs[i].key);
    free(r->objs[i].type);
    free(r->objs[i].digest);
    brr_buf_free(&r->objs[i].body);
  }
  free(r->objs);
  for (size_t i = 0; i < r->n_rules; i++) {
    free(r->rules[i].method);
    free(r->rules[i].prefix);
  }
  for (size_t i = 0; i < r->n_reqs; i++) free(r->reqs[i]);
  free(r->reqs);
  free(r->ratelimit);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
}

#endif
