/* Composite registry operations: copying an image (a manifest, or a list/index with its
 * children) between repositories or registries, blob by blob, and assembling an OCI index
 * over per-platform manifests. Blobs of one manifest move side by side (a few at a time);
 * a blob the destination has is skipped; on the same host it is mounted from the source
 * repository; otherwise it is downloaded to a spool file, checked against its digest, and
 * uploaded in one PUT. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "registry_internal.h"

#define BLOBS_AT_ONCE 4

/* ---- copy ------------------------------------------------------------------------------------ */

typedef struct copy_op copy_op;

typedef struct blob_job {
  copy_op *op;
  char *digest;
  int64_t size;
  char *upload;          /* the upload session's URL */
  char *spool;           /* downloaded bytes */
  int fd;
  brr_digest *md;        /* SHA-256 of the bytes downloaded so far */
  int64_t got;
  bool done, started;
} blob_job;

/* One destination repository being written: the copy holding it and those waiting. The
 * registry's storage is not safe against two uploads of one blob into one repository at once
 * (a reader can see a half-written link), and the second copy has nothing left to upload
 * when the first is done. */
typedef struct repo_lock {
  struct repo_lock *next;
  char *key;                  /* "host/repository" */
  copy_op *holder;
  copy_op **waiting;
  size_t n, cap;
} repo_lock;

struct copy_op {
  brr_registry_req *q;
  repo_lock *lock;           /* the lock it holds or waits on */
  bool waiting;
  brr_registry_ref src, dst;
  bool same_host;
  /* the manifest being copied and, for a list, the children still to do */
  cJSON *top;
  char *top_body, *top_type, *top_digest;
  size_t top_len;
  char **children;       /* child digests (lists/indexes) */
  char **child_types;
  size_t n_children, next_child;
  char *cur_body, *cur_type, *cur_digest;   /* the single manifest whose blobs move now */
  size_t cur_len;
  blob_job *blobs;
  size_t n_blobs, next_blob, blobs_left;
};

static bool is_list(const char *type) {
  return brr_streq(type, BRR_REGISTRY_OCI_INDEX) || brr_streq(type, BRR_REGISTRY_DOCKER_LIST);
}

static void blob_reset_spool(blob_job *b) {
  if (b->fd >= 0) close(b->fd);
  b->fd = -1;
  if (b->spool) unlink(b->spool);
  free(b->spool);
  b->spool = NULL;
  brr_digest_free(b->md);
  b->md = NULL;
  b->got = 0;
}

static void blobs_free(copy_op *o) {
  for (size_t i = 0; i < o->n_blobs; i++) {
    blob_reset_spool(&o->blobs[i]);
    free(o->blobs[i].digest);
    free(o->blobs[i].upload);
  }
  free(o->blobs);
  o->blobs = NULL;
  o->n_blobs = o->next_blob = o->blobs_left = 0;
}

static void copy_begin(copy_op *o);
static void lock_release(copy_op *o);

static void copy_free(void *p) {
  copy_op *o = p;
  lock_release(o);
  blobs_free(o);
  brr_registry_ref_free(&o->src);
  brr_registry_ref_free(&o->dst);
  cJSON_Delete(o->top);
  free(o->top_body);
  free(o->top_type);
  free(o->top_digest);
  for (size_t i = 0; i < o->n_children; i++) {
    free(o->children[i]);
    free(o->child_types[i]);
  }
  free(o->children);
  free(o->child_types);
  free(o->cur_body);
  free(o->cur_type);
  free(o->cur_digest);
  free(o);
}

static char *url_for(copy_op *o, const brr_registry_ref *r, const char *kind, const char *ref) {
  return brr_reg_url(o->q->reg, r, kind, ref);
}

static void next_manifest(copy_op *o);
static void pump_blobs(copy_op *o);

/* -- one blob -- */

static void blob_finished(blob_job *b) {
  copy_op *o = b->op;
  b->done = true;
  blob_reset_spool(b);
  o->blobs_left--;
  pump_blobs(o);
}

static void blob_put_done(rcall *c, int status, const brr_http_response *res) {
  blob_job *b = c->ud;
  brr_registry_req *q = c->req;
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) return;
  blob_finished(b);
}

static void blob_put(blob_job *b) {
  copy_op *o = b->op;
  const char *sep = strchr(b->upload, '?') ? "&" : "?";
  char *url = brr_xasprintf("%s%sdigest=%s", b->upload, sep, b->digest);
  rcall *c = brr_reg_call_new(o->q, "PUT", o->dst.host, url, blob_put_done, b);
  free(url);
  brr_reg_call_scope(c, o->dst.repository, true);
  brr_reg_call_header(c, "Content-Type: application/octet-stream");
  c->body.path = b->spool;
  c->has_body = true;
  brr_reg_call_send(c);
}

/* An upload URL as the registry gave it: absolute, or a path on the destination. */
static char *resolve_location(copy_op *o, const char *loc) {
  if (brr_startswith(loc, "http://") || brr_startswith(loc, "https://")) return brr_xstrdup(loc);
  char *base = brr_reg_base_url(o->q->reg, o->dst.host);
  char *u = brr_xasprintf("%s%s%s", base, loc[0] == '/' ? "" : "/", loc);
  free(base);
  return u;
}

static void upload_started(rcall *c, int status, const brr_http_response *res) {
  blob_job *b = c->ud;
  brr_registry_req *q = c->req;
  char *loc = status == 0 ? brr_http_header(res->headers, "Location") : NULL;
  if (status == 0 && !loc) brr_reg_req_fail(q, BRR_EIO, res->status, "%s %s: no Location", c->method, c->url);
  else if (status != 0) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) {
    free(loc);
    return;
  }
  free(b->upload);
  b->upload = resolve_location(b->op, loc);
  free(loc);
  blob_put(b);
}

static void blob_upload_start(blob_job *b) {
  copy_op *o = b->op;
  char *url = url_for(o, &o->dst, "blobs/uploads", NULL);
  rcall *c = brr_reg_call_new(o->q, "POST", o->dst.host, url, upload_started, b);
  free(url);
  brr_reg_call_scope(c, o->dst.repository, true);
  brr_reg_call_send(c);
}

static int blob_data(void *ud, const char *data, size_t len) {
  blob_job *b = ud;
  size_t off = 0;
  while (off < len) {
    ssize_t k = write(b->fd, data + off, len - off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return BRR_EIO;
    off += (size_t)k;
  }
  brr_digest_update(b->md, data, len);
  b->got += (int64_t)len;
  return 0;
}

static int blob_spool_open(blob_job *b) {
  blob_reset_spool(b);
  b->spool = brr_path_join(b->op->q->reg->temp_dir, "brr-blob-XXXXXX");
  b->fd = mkstemp(b->spool);
  if (b->fd < 0) {
    free(b->spool);
    b->spool = NULL;
    return -errno;
  }
  b->md = brr_digest_new("sha256");
  return 0;
}

static void blob_reset(void *ud) {
  blob_job *b = ud;
  if (blob_spool_open(b) != 0) b->fd = -1;  /* the next write fails and ends the call */
}

static bool digest_matches(blob_job *b) {
  if (!brr_startswith(b->digest, "sha256:")) return true;  /* other algorithms: trust the registry */
  char hex[BRR_DIGEST_HEX_MAX];
  brr_digest_final_hex(b->md, hex);
  return strcmp(hex, b->digest + 7) == 0;
}

static void blob_got(rcall *c, int status, const brr_http_response *res) {
  blob_job *b = c->ud;
  brr_registry_req *q = c->req;
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  else if (!digest_matches(b))
    brr_reg_req_fail(q, BRR_EIO, 0, "blob %s from %s: the bytes do not match the digest", b->digest, b->op->src.repository);
  if (brr_reg_req_stopping(q)) return;
  if (b->upload) blob_put(b);
  else blob_upload_start(b);
}

static void blob_download(blob_job *b) {
  copy_op *o = b->op;
  int rc = blob_spool_open(b);
  if (rc != 0) {
    brr_reg_req_fail(o->q, BRR_EIO, 0, "cannot make a spool file in %s: %s", o->q->reg->temp_dir, brr_strerror(rc));
    brr_reg_req_stopping(o->q);
    return;
  }
  char *url = url_for(o, &o->src, "blobs", b->digest);
  rcall *c = brr_reg_call_new(o->q, "GET", o->src.host, url, blob_got, b);
  free(url);
  brr_reg_call_scope(c, o->src.repository, false);
  c->on_data = blob_data;
  c->on_reset = blob_reset;
  c->data_ud = b;
  c->follow = true;
  brr_reg_call_send(c);
}

static void mount_done(rcall *c, int status, const brr_http_response *res) {
  blob_job *b = c->ud;
  brr_registry_req *q = c->req;
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) return;
  if (res->status == 201) {
    blob_finished(b);
    return;
  }
  /* 202: the registry would not mount (no access to the source); upload into this session */
  char *loc = brr_http_header(res->headers, "Location");
  if (loc) {
    free(b->upload);
    b->upload = resolve_location(b->op, loc);
    free(loc);
  }
  blob_download(b);
}

static void blob_checked(rcall *c, int status, const brr_http_response *res) {
  blob_job *b = c->ud;
  copy_op *o = b->op;
  brr_registry_req *q = c->req;
  if (status != 0 && status != BRR_ENOENT) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) return;
  if (status == 0) {
    blob_finished(b);
    return;
  }
  if (!o->same_host) {
    blob_download(b);
    return;
  }
  char *base = url_for(o, &o->dst, "blobs/uploads", NULL);
  char *url = brr_xasprintf("%s?mount=%s&from=%s", base, b->digest, o->src.repository);
  free(base);
  rcall *m = brr_reg_call_new(q, "POST", o->dst.host, url, mount_done, b);
  free(url);
  brr_reg_call_scope(m, o->dst.repository, true);
  m->scope2 = brr_xasprintf("repository:%s:pull", o->src.repository);
  brr_reg_call_send(m);
}

static void blob_start(blob_job *b) {
  copy_op *o = b->op;
  b->started = true;
  char *url = url_for(o, &o->dst, "blobs", b->digest);
  rcall *c = brr_reg_call_new(o->q, "HEAD", o->dst.host, url, blob_checked, b);
  free(url);
  brr_reg_call_scope(c, o->dst.repository, true);
  brr_reg_call_send(c);
}

/* -- manifests -- */

static void manifest_put_done(rcall *c, int status, const brr_http_response *res) {
  copy_op *o = c->ud;
  brr_registry_req *q = c->req;
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) return;
  next_manifest(o);
}

static void put_manifest(copy_op *o, const char *reference, const char *type, const char *body, size_t len) {
  char *url = url_for(o, &o->dst, "manifests", reference);
  rcall *c = brr_reg_call_new(o->q, "PUT", o->dst.host, url, manifest_put_done, o);
  free(url);
  brr_reg_call_scope(c, o->dst.repository, true);
  brr_reg_call_header(c, "Content-Type: %s", type);
  c->owned_body = brr_xmalloc(len + 1);
  memcpy(c->owned_body, body, len);
  c->body.data = c->owned_body;
  c->body.len = len;
  c->has_body = true;
  brr_reg_call_send(c);
}

static void add_blob(copy_op *o, size_t *cap, const cJSON *desc) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(desc, "digest");
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(desc, "size");
  if (!cJSON_IsString(d)) return;
  for (size_t i = 0; i < o->n_blobs; i++)
    if (!strcmp(o->blobs[i].digest, d->valuestring)) return;
  blob_job b = {0};
  b.op = o;
  b.fd = -1;
  b.digest = brr_xstrdup(d->valuestring);
  b.size = cJSON_IsNumber(s) ? (int64_t)s->valuedouble : -1;
  BRR_VEC_PUSH(o->blobs, o->n_blobs, *cap, b);
}

/* Start moving the blobs of the manifest in cur_*; its PUT follows when all are there. */
static void copy_single(copy_op *o) {
  cJSON *m = cJSON_ParseWithLength(o->cur_body, o->cur_len);
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(m, "layers");
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(m, "config");
  if (!cJSON_IsObject(m) || !cJSON_IsArray(layers) || !cJSON_IsObject(config)) {
    brr_reg_req_fail(o->q, BRR_EIO, 0, "%s/%s@%s: not an image manifest brr can copy (%s)", o->src.host,
                     o->src.repository, o->cur_digest ? o->cur_digest : "?", o->cur_type ? o->cur_type : "no type");
    cJSON_Delete(m);
    brr_reg_req_stopping(o->q);
    return;
  }
  blobs_free(o);
  size_t cap = 0;
  add_blob(o, &cap, config);
  const cJSON *l;
  cJSON_ArrayForEach(l, layers) add_blob(o, &cap, l);
  cJSON_Delete(m);
  o->blobs_left = o->n_blobs;
  pump_blobs(o);
}

static void pump_blobs(copy_op *o) {
  if (o->blobs_left == 0) {
    /* a child goes by digest, the top manifest under the destination's tag */
    bool child = o->n_children > 0;
    put_manifest(o, child ? o->cur_digest : brr_registry_ref_reference(&o->dst), o->cur_type, o->cur_body, o->cur_len);
    return;
  }
  size_t running = 0;
  for (size_t i = 0; i < o->n_blobs; i++) running += o->blobs[i].started && !o->blobs[i].done;
  while (running < BLOBS_AT_ONCE && o->next_blob < o->n_blobs) {
    blob_start(&o->blobs[o->next_blob++]);
    running++;
  }
}

static void child_got(rcall *c, int status, const brr_http_response *res) {
  copy_op *o = c->ud;
  brr_registry_req *q = c->req;
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) return;
  free(o->cur_body);
  free(o->cur_type);
  o->cur_body = brr_xmalloc(res->body_len + 1);
  memcpy(o->cur_body, res->body, res->body_len);
  o->cur_body[res->body_len] = '\0';
  o->cur_len = res->body_len;
  char *t = brr_http_header(res->headers, "Content-Type");
  o->cur_type = t ? t : brr_xstrdup(o->child_types[o->next_child - 1]);
  copy_single(o);
}

/* After the top manifest: each child in turn, then the list itself. */
static void next_manifest(copy_op *o) {
  if (o->n_children == 0 || o->next_child > o->n_children) {
    /* the top manifest was put (a single manifest, or the list after its children) */
    free(o->q->digest);
    o->q->digest = brr_xstrdup(o->top_digest ? o->top_digest : "");
    brr_reg_req_finish(o->q);
    return;
  }
  if (o->next_child == o->n_children) {
    o->next_child++;
    const char *tag = brr_registry_ref_reference(&o->dst);
    /* the list goes under the tag; its children were put by digest */
    put_manifest(o, tag, o->top_type, o->top_body, o->top_len);
    return;
  }
  free(o->cur_digest);
  o->cur_digest = brr_xstrdup(o->children[o->next_child++]);
  char *url = url_for(o, &o->src, "manifests", o->cur_digest);
  rcall *c = brr_reg_call_new(o->q, "GET", o->src.host, url, child_got, o);
  free(url);
  brr_reg_call_scope(c, o->src.repository, false);
  brr_reg_call_header(c, "%s", BRR_REG_ACCEPT);
  brr_reg_call_send(c);
}

static void top_got(rcall *c, int status, const brr_http_response *res) {
  copy_op *o = c->ud;
  brr_registry_req *q = c->req;
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) return;
  o->top_body = brr_xmalloc(res->body_len + 1);
  memcpy(o->top_body, res->body, res->body_len);
  o->top_body[res->body_len] = '\0';
  o->top_len = res->body_len;
  o->top_type = brr_http_header(res->headers, "Content-Type");
  o->top_digest = brr_http_header(res->headers, "Docker-Content-Digest");
  o->top = cJSON_ParseWithLength(o->top_body, o->top_len);
  if (!o->top_type) {
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o->top, "mediaType");
    o->top_type = brr_xstrdup(cJSON_IsString(mt) ? mt->valuestring : BRR_REGISTRY_DOCKER_MANIFEST);
  }
  if (!is_list(o->top_type)) {
    o->cur_body = brr_xstrdup(o->top_body);
    o->cur_len = o->top_len;
    o->cur_type = brr_xstrdup(o->top_type);
    o->cur_digest = brr_xstrdup(o->top_digest ? o->top_digest : "");
    copy_single(o);
    return;
  }
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o->top, "manifests");
  const cJSON *m;
  size_t cap = 0, cap2 = 0, n2 = 0;
  cJSON_ArrayForEach(m, ms) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "digest");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "mediaType");
    if (!cJSON_IsString(d)) continue;
    BRR_VEC_PUSH(o->children, o->n_children, cap, brr_xstrdup(d->valuestring));
    BRR_VEC_PUSH(o->child_types, n2, cap2, brr_xstrdup(cJSON_IsString(t) ? t->valuestring : BRR_REGISTRY_DOCKER_MANIFEST));
  }
  if (o->n_children == 0) {
    brr_reg_req_fail(q, BRR_EIO, 0, "%s: an empty manifest list", c->url);
    brr_reg_req_stopping(q);
    return;
  }
  next_manifest(o);
}

/* -- one copy per destination repository at a time -- */

static void lock_release(copy_op *o) {
  repo_lock *l = o->lock;
  if (!l) return;
  o->lock = NULL;
  brr_registry *r = o->q->reg;
  if (o->waiting) {
    for (size_t i = 0; i < l->n; i++)
      if (l->waiting[i] == o) {
        memmove(l->waiting + i, l->waiting + i + 1, (l->n - i - 1) * sizeof *l->waiting);
        l->n--;
        break;
      }
  } else if (l->holder == o) {
    l->holder = NULL;
    if (l->n > 0 && !r->freeing) {
      copy_op *next = l->waiting[0];
      memmove(l->waiting, l->waiting + 1, (l->n - 1) * sizeof *l->waiting);
      l->n--;
      l->holder = next;
      next->waiting = false;
      next->q->calls--;
      copy_begin(next);
      return;
    }
  }
  if (l->holder || l->n > 0) return;
  for (repo_lock **p = &r->locks; *p; p = &(*p)->next)
    if (*p == l) {
      *p = l->next;
      break;
    }
  free(l->key);
  free(l->waiting);
  free(l);
}

static void copy_cancel(brr_registry_req *q) {
  copy_op *o = q->op;
  if (!o->waiting) return;
  lock_release(o);
  o->waiting = false;
  q->calls--;
}

/* Hold the destination's lock (or queue for it). */
static bool lock_take(copy_op *o) {
  brr_registry *r = o->q->reg;
  char *key = brr_xasprintf("%s/%s", o->dst.host, o->dst.repository);
  repo_lock *l = r->locks;
  while (l && strcmp(l->key, key) != 0) l = l->next;
  if (!l) {
    l = brr_xcalloc(1, sizeof *l);
    l->key = key;
    l->next = r->locks;
    r->locks = l;
  } else {
    free(key);
  }
  o->lock = l;
  if (!l->holder) {
    l->holder = o;
    return true;
  }
  BRR_VEC_PUSH(l->waiting, l->n, l->cap, o);
  o->waiting = true;
  o->q->calls++;  /* the wait counts as work in flight: the operation stays open */
  return false;
}

static void copy_begin(copy_op *o) {
  brr_registry_req *q = o->q;
  if (brr_reg_req_stopping(q)) return;
  char *url = url_for(o, &o->src, "manifests", brr_registry_ref_reference(&o->src));
  rcall *c = brr_reg_call_new(q, "GET", o->src.host, url, top_got, o);
  free(url);
  brr_reg_call_scope(c, o->src.repository, false);
  brr_reg_call_header(c, "%s", BRR_REG_ACCEPT);
  brr_reg_call_send(c);
}

brr_registry_req *brr_registry_copy(brr_registry *r, const char *src, const char *dst,
                                    brr_registry_cb cb, void *ud) {
  brr_registry_req *q = brr_reg_req_new(r, "copy image", cb, ud);
  if (q->status) return q;
  copy_op *o = brr_xcalloc(1, sizeof *o);
  o->q = q;
  q->op = o;
  q->op_free = copy_free;
  q->op_cancel = copy_cancel;
  if (brr_registry_ref_parse(src, &o->src) != 0 || brr_registry_ref_parse(dst, &o->dst) != 0 || !o->dst.tag) {
    brr_reg_req_fail(q, BRR_EINVAL, 0, "bad references '%s' -> '%s' (the destination needs a tag)", src ? src : "(null)",
                     dst ? dst : "(null)");
    brr_reg_req_finish_later(q);
    return q;
  }
  o->same_host = !strcmp(o->src.host, o->dst.host);
  if (lock_take(o)) copy_begin(o);
  return q;
}

/* ---- index ----------------------------------------------------------------------------------- */

typedef struct index_op {
  brr_registry_req *q;
  brr_registry_ref dst;
  brr_registry_descriptor *d;
  char **owned;            /* strings the descriptors point to */
  size_t n, nowned, capowned, left;
} index_op;

typedef struct index_child {
  index_op *o;
  size_t i;
} index_child;

static void index_free(void *p) {
  index_op *o = p;
  brr_registry_ref_free(&o->dst);
  for (size_t i = 0; i < o->nowned; i++) free(o->owned[i]);
  free(o->owned);
  free(o->d);
  free(o);
}

static const char *keep(index_op *o, char *s) {
  BRR_VEC_PUSH(o->owned, o->nowned, o->capowned, s);
  return s;
}

static void index_put_done(rcall *c, int status, const brr_http_response *res) {
  brr_registry_req *q = c->req;
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  if (brr_reg_req_stopping(q)) return;
  free(q->digest);
  q->digest = brr_http_header(res->headers, "Docker-Content-Digest");
  brr_reg_req_finish(q);
}

static void index_put(index_op *o) {
  char *json = brr_registry_index_json(o->d, o->n);
  if (!json) {
    brr_reg_req_fail(o->q, BRR_EINVAL, 0, "a platform is not os/arch[/variant]");
    brr_reg_req_stopping(o->q);
    return;
  }
  char *url = brr_reg_url(o->q->reg, &o->dst, "manifests", brr_registry_ref_reference(&o->dst));
  rcall *c = brr_reg_call_new(o->q, "PUT", o->dst.host, url, index_put_done, o);
  free(url);
  brr_reg_call_scope(c, o->dst.repository, true);
  brr_reg_call_header(c, "Content-Type: %s", BRR_REGISTRY_OCI_INDEX);
  c->owned_body = json;
  c->body.data = json;
  c->body.len = strlen(json);
  c->has_body = true;
  brr_reg_call_send(c);
}

static void index_child_done(rcall *c, int status, const brr_http_response *res) {
  index_child *ch = c->ud;
  index_op *o = ch->o;
  brr_registry_req *q = c->req;
  size_t i = ch->i;
  free(ch);
  if (status != 0) brr_reg_call_failed(q, c, status, res);
  char *digest = status == 0 ? brr_http_header(res->headers, "Docker-Content-Digest") : NULL;
  char *type = status == 0 ? brr_http_header(res->headers, "Content-Type") : NULL;
  char *len = status == 0 ? brr_http_header(res->headers, "Content-Length") : NULL;
  if (status == 0 && (!digest || !type || !len))
    brr_reg_req_fail(q, BRR_EIO, res->status, "HEAD %s: the registry did not describe the manifest", c->url);
  if (digest) o->d[i].digest = keep(o, digest);
  if (type) o->d[i].media_type = keep(o, type);
  if (len) o->d[i].size = strtoll(len, NULL, 10);
  free(len);
  if (brr_reg_req_stopping(q)) return;
  if (--o->left == 0) index_put(o);
}

brr_registry_req *brr_registry_index_create(brr_registry *r, const char *dst,
                                            const brr_registry_child *children, size_t n,
                                            brr_registry_cb cb, void *ud) {
  brr_registry_req *q = brr_reg_req_new(r, "create index", cb, ud);
  if (q->status) return q;
  index_op *o = brr_xcalloc(1, sizeof *o);
  o->q = q;
  q->op = o;
  q->op_free = index_free;
  o->d = brr_xcalloc(n ? n : 1, sizeof *o->d);
  o->n = o->left = n;
  brr_registry_ref *refs = brr_xcalloc(n ? n : 1, sizeof *refs);
  bool ok = n > 0 && brr_registry_ref_parse(dst, &o->dst) == 0 && o->dst.tag;
  for (size_t i = 0; ok && i < n; i++) {
    ok = brr_registry_ref_parse(children[i].ref, &refs[i]) == 0 && !strcmp(refs[i].host, o->dst.host) &&
         !strcmp(refs[i].repository, o->dst.repository) && children[i].platform;
    if (ok) o->d[i].platform = keep(o, brr_xstrdup(children[i].platform));
  }
  if (!ok) {
    brr_reg_req_fail(q, BRR_EINVAL, 0, "an index needs a tag and children in its own repository (%s)",
                     dst ? dst : "(null)");
    brr_reg_req_finish_later(q);
  }
  for (size_t i = 0; ok && i < n; i++) {
    index_child *ch = brr_xcalloc(1, sizeof *ch);
    ch->o = o;
    ch->i = i;
    char *url = brr_reg_url(r, &refs[i], "manifests", brr_registry_ref_reference(&refs[i]));
    rcall *c = brr_reg_call_new(q, "HEAD", refs[i].host, url, index_child_done, ch);
    free(url);
    brr_reg_call_scope(c, refs[i].repository, true);
    brr_reg_call_header(c, "%s", BRR_REG_ACCEPT);
    brr_reg_call_send(c);
  }
  for (size_t i = 0; i < n; i++) brr_registry_ref_free(&refs[i]);
  free(refs);
  return q;
}
