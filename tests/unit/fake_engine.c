/* The fake Docker engine of the unit tests (see fake_engine.h): libmicrohttpd, one thread per
 * connection, on a pre-bound unix socket. */
#include "fake_engine.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fnmatch.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "brr/util.h"

#define FAKE_POLL_MS 5

struct fake_rule {
  char *method, *pattern;
  char *body_has, *query_has;
  unsigned nth, times, from; /* window: only call nth (1-based), only the first `times`, or
                              every call from the `from`th on */
  unsigned seen;            /* matching calls so far */
  fake_reply reply;
  fake_handler handler;
  void *handler_ud;
  void (*on_request)(void *ud, const fake_request *req);
  void *on_request_ud;
  int raise_signo, raise_count;
  unsigned release_gen;     /* fake_rule_release */
  fake_rule *next;          /* older rule */
};

typedef struct fake_obj {
  fake_kind kind;
  char *id, *name, *image;
  char *network;            /* container: HostConfig.NetworkMode at creation, or NULL */
  struct timespec born;     /* when it was made (an image's Created) */
  cJSON *labels;            /* object, or NULL */
  bool tty, running, removed;
  bool preexisting;         /* put there by fake_engine_add_object, not created by the API */
} fake_obj;

struct fake_engine {
  char *dir, *sock, *host;
  struct MHD_Daemon *daemon;
  pthread_mutex_t mu;
  pthread_cond_t cond;      /* a request was logged */
  fake_rule *rules;         /* newest first */
  fake_request **reqs;
  size_t n_reqs, cap_reqs;
  fake_obj **objs;
  size_t n_objs, cap_objs;
  size_t created[4];
  unsigned counter;
  unsigned release_gen;
  char *ip;                 /* containers' address on their networks */
  bool stopping;
};

/* per connection: the request being received */
typedef struct fake_conn {
  fake_request *req;
  bool seen_first;
} fake_conn;

/* per streamed response */
typedef struct fake_stream {
  fake_engine *fe;
  char *body;
  size_t len;
  fake_hold hold;
  bool cut;
  int fd;
  fake_rule *rule;          /* the rule that answered (its holds release with it), or NULL */
  unsigned gen, rule_gen;
} fake_stream;

/* ---- small helpers ---------------------------------------------------------------------- */

static char *xstrdup_or_null(const char *s) { return s ? brr_xstrdup(s) : NULL; }

static void reply_clear(fake_reply *r) {
  free(r->content_type);
  free(r->body);
  free(r->headers);
  memset(r, 0, sizeof *r);
}

static void reply_copy(fake_reply *dst, const fake_reply *src) {
  *dst = *src;
  dst->content_type = xstrdup_or_null(src->content_type);
  dst->headers = xstrdup_or_null(src->headers);
  dst->body = NULL;
  if (src->body) {
    dst->body = brr_xmalloc(src->body_len + 1);
    memcpy(dst->body, src->body, src->body_len);
    dst->body[src->body_len] = '\0';
  }
}

static void reply_set(fake_reply *r, int status, const char *ctype, const void *body, size_t len) {
  free(r->content_type);
  free(r->body);
  r->status = status;
  r->content_type = xstrdup_or_null(ctype);
  r->body = NULL;
  r->body_len = 0;
  if (body) {
    if (len == (size_t)-1) len = strlen(body);
    r->body = brr_xmalloc(len + 1);
    memcpy(r->body, body, len);
    r->body[len] = '\0';
    r->body_len = len;
  }
}

static void reply_json(fake_reply *r, int status, cJSON *j) {
  char *s = cJSON_PrintUnformatted(j);
  reply_set(r, status, "application/json", s, (size_t)-1);
  free(s);
  cJSON_Delete(j);
}

static void reply_error(fake_reply *r, int status, const char *fmt, ...) BRR_PRINTF(3, 4);
static void reply_error(fake_reply *r, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "message", msg);
  free(msg);
  reply_json(r, status, j);
}

/* A request body's room for `len` bytes and its NUL: the next power of two, so that a body
 * of many chunks (an image load) grows in O(n) copies. Only bodies grown by append_body. */
static size_t body_room(size_t len) {
  size_t r = 64;
  while (r < len + 1) r *= 2;
  return r;
}

static void append_body(char **buf, size_t *len, const char *data, size_t n) {
  if (!*buf || body_room(*len) < *len + n + 1) *buf = brr_xrealloc(*buf, body_room(*len + n));
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
}

static void append(char **buf, size_t *len, const char *data, size_t n) {
  *buf = brr_xrealloc(*buf, *len + n + 1);
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
}

static void request_free(fake_request *q) {
  if (!q) return;
  free(q->method);
  free(q->path);
  free(q->query);
  free(q->body);
  free(q->content_type);
  free(q->registry_auth);
  free(q);
}

static bool path_match(const char *method, const char *pattern, const fake_request *q) {
  if (strcmp(method, "*") != 0 && strcmp(method, q->method) != 0) return false;
  return fnmatch(pattern, q->path, 0) == 0;
}

static bool rule_match(const fake_rule *r, const fake_request *q) {
  if (!path_match(r->method, r->pattern, q)) return false;
  if (r->body_has && (!q->body || !strstr(q->body, r->body_has))) return false;
  if (r->query_has && !strstr(q->query, r->query_has)) return false;
  return true;
}

/* The value of `key` in the decoded query "k=v&..." (heap), or NULL. */
static char *query_get(const fake_request *q, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = q->query; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n > kl && !strncmp(p, key, kl) && p[kl] == '=') return brr_xstrndup(p + kl + 1, n - kl - 1);
    if (n == kl && !strncmp(p, key, kl)) return brr_xstrdup("");
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

/* ---- the world ---------------------------------------------------------------------------- */

static const char *const KIND_TAG[] = {"c", "n", "v", "i"};

static char *new_id(fake_engine *fe, fake_kind kind) {
  fe->counter++;
  /* 64 hex digits: the kind, then the counter */
  return brr_xasprintf("%s%063x", kind == FAKE_CONTAINER ? "c" : kind == FAKE_NETWORK ? "a"
                                  : kind == FAKE_VOLUME  ? "b" : "d", fe->counter);
}

static fake_obj *obj_add(fake_engine *fe, fake_kind kind, const char *name, const cJSON *labels) {
  fake_obj *o = brr_xcalloc(1, sizeof *o);
  o->kind = kind;
  o->id = new_id(fe, kind);
  o->name = name ? brr_xstrdup(name) : brr_xasprintf("fake_%s%u", KIND_TAG[kind], fe->counter);
  o->labels = labels ? cJSON_Duplicate(labels, 1) : cJSON_CreateObject();
  clock_gettime(CLOCK_REALTIME, &o->born);
  BRR_VEC_PUSH(fe->objs, fe->n_objs, fe->cap_objs, o);
  fe->created[kind]++;
  return o;
}

static char *image_norm(const char *ref) {
  if (brr_startswith(ref, "sha256:")) return brr_xstrdup(ref);
  const char *slash = strrchr(ref, '/');
  const char *last = slash ? slash + 1 : ref;
  if (strchr(ref, '@') || strchr(last, ':')) return brr_xstrdup(ref);
  return brr_xasprintf("%s:latest", ref);
}

static fake_obj *obj_find(fake_engine *fe, fake_kind kind, const char *ref) {
  char *norm = kind == FAKE_IMAGE ? image_norm(ref) : NULL;
  fake_obj *hit = NULL;
  for (size_t i = 0; i < fe->n_objs && !hit; i++) {
    fake_obj *o = fe->objs[i];
    if (o->kind != kind || o->removed) continue;
    if (!strcmp(o->id, ref) || !strcmp(o->name, ref) || (norm && !strcmp(o->name, norm)) ||
        (ref[0] == '/' && !strcmp(o->name, ref + 1)) ||
        (strlen(ref) >= 6 && brr_startswith(o->id, ref)) ||
        (kind == FAKE_IMAGE && brr_startswith(ref, "sha256:") && !strcmp(o->id, ref + 7)))
      hit = o;
  }
  free(norm);
  return hit;
}

static fake_obj *image_add(fake_engine *fe, const char *ref) {
  char *norm = image_norm(ref);
  fake_obj *o = obj_find(fe, FAKE_IMAGE, norm);
  if (!o) o = obj_add(fe, FAKE_IMAGE, norm, NULL);
  free(norm);
  return o;
}

/* Whether `o` carries every label of filters={"label": [...]} in the query. */
static bool labels_match(const fake_obj *o, const fake_request *q) {
  char *f = query_get(q, "filters");
  if (!f) return true;
  cJSON *j = cJSON_Parse(f);
  free(f);
  bool ok = true;
  const cJSON *want = j ? cJSON_GetObjectItemCaseSensitive(j, "label") : NULL, *it;
  cJSON_ArrayForEach(it, want) {
    if (!cJSON_IsString(it)) continue;
    const char *eq = strchr(it->valuestring, '=');
    char *k = eq ? brr_xstrndup(it->valuestring, (size_t)(eq - it->valuestring)) : brr_xstrdup(it->valuestring);
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(o->labels, k);
    if (!cJSON_IsString(have) || (eq && strcmp(have->valuestring, eq + 1) != 0)) ok = false;
    free(k);
  }
  cJSON_Delete(j);
  return ok;
}

static cJSON *obj_listed(const fake_obj *o) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, o->kind == FAKE_VOLUME ? "Name" : "Id", o->kind == FAKE_VOLUME ? o->name : o->id);
  if (o->kind == FAKE_CONTAINER) {
    cJSON *names = cJSON_AddArrayToObject(j, "Names");
    char *n = brr_xasprintf("/%s", o->name);
    cJSON_AddItemToArray(names, cJSON_CreateString(n));
    free(n);
    cJSON_AddStringToObject(j, "Image", o->image ? o->image : "");
    cJSON_AddStringToObject(j, "State", o->running ? "running" : "exited");
  } else if (o->kind == FAKE_NETWORK) {
    cJSON_AddStringToObject(j, "Name", o->name);
  } else if (o->kind == FAKE_IMAGE) {
    cJSON *tags = cJSON_AddArrayToObject(j, "RepoTags");
    cJSON_AddItemToArray(tags, cJSON_CreateString(o->name));
  }
  cJSON_AddItemToObject(j, "Labels", cJSON_Duplicate(o->labels, 1));
  return j;
}

static void list_objs(fake_engine *fe, fake_kind kind, const fake_request *q, fake_reply *out) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < fe->n_objs; i++) {
    fake_obj *o = fe->objs[i];
    if (o->kind == kind && !o->removed && labels_match(o, q)) cJSON_AddItemToArray(arr, obj_listed(o));
  }
  if (kind == FAKE_VOLUME) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "Volumes", arr);
    reply_json(out, 200, j);
  } else {
    reply_json(out, 200, arr);
  }
}

/* ---- default answers ------------------------------------------------------------------------ */

static char *digest_of(const char *s) {
  /* not a real digest: a stable 64-hex string derived from the name */
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return brr_xasprintf("sha256:%016llx%016llx%016llx%016llx", (unsigned long long)h,
                       (unsigned long long)(h * 3), (unsigned long long)(h * 5),
                       (unsigned long long)(h * 7));
}

static void jsonl_add(char **buf, size_t *len, cJSON *j) {
  char *s = cJSON_PrintUnformatted(j);
  append(buf, len, s, strlen(s));
  append(buf, len, "\n", 1);
  free(s);
  cJSON_Delete(j);
}

static cJSON *status_msg(const char *status) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "status", status);
  return j;
}

static void container_inspect(const fake_obj *o, const char *ip, fake_reply *out) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "Id", o->id);
  char *n = brr_xasprintf("/%s", o->name);
  cJSON_AddStringToObject(j, "Name", n);
  free(n);
  char *img = digest_of(o->image ? o->image : "");
  cJSON_AddStringToObject(j, "Image", img);
  free(img);
  cJSON *st = cJSON_AddObjectToObject(j, "State");
  cJSON_AddStringToObject(st, "Status", o->running ? "running" : "exited");
  cJSON_AddBoolToObject(st, "Running", o->running);
  cJSON_AddNumberToObject(st, "ExitCode", 0);
  cJSON_AddNumberToObject(st, "Pid", o->running ? 4242 : 0);
  cJSON *cfg = cJSON_AddObjectToObject(j, "Config");
  cJSON_AddStringToObject(cfg, "Image", o->image ? o->image : "");
  cJSON_AddBoolToObject(cfg, "Tty", o->tty);
  cJSON_AddItemToObject(cfg, "Labels", cJSON_Duplicate(o->labels, 1));
  cJSON_AddObjectToObject(j, "HostConfig");
  cJSON *ns = cJSON_AddObjectToObject(j, "NetworkSettings");
  cJSON_AddStringToObject(ns, "IPAddress", ip);
  cJSON *nets = cJSON_AddObjectToObject(ns, "Networks");
  cJSON *br = cJSON_AddObjectToObject(nets, o->network ? o->network : "bridge");
  cJSON_AddStringToObject(br, "IPAddress", ip);
  reply_json(out, 200, j);
}

static void image_inspect(const fake_obj *o, fake_reply *out) {
  cJSON *j = cJSON_CreateObject();
  char *id = brr_xasprintf("sha256:%s", o->id);
  cJSON_AddStringToObject(j, "Id", id);
  free(id);
  cJSON *tags = cJSON_AddArrayToObject(j, "RepoTags");
  if (!brr_startswith(o->name, "sha256:")) cJSON_AddItemToArray(tags, cJSON_CreateString(o->name));
  cJSON_AddArrayToObject(j, "RepoDigests");
  cJSON_AddStringToObject(j, "Architecture", "amd64");
  cJSON_AddStringToObject(j, "Os", "linux");
  struct tm tm;
  gmtime_r(&o->born.tv_sec, &tm);
  char when[64], created[96];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(created, sizeof created, "%s.%09ldZ", when, o->born.tv_nsec);
  cJSON_AddStringToObject(j, "Created", created);
  cJSON *cfg = cJSON_AddObjectToObject(j, "Config");
  cJSON_AddItemToObject(cfg, "Labels", cJSON_Duplicate(o->labels, 1));
  reply_json(out, 200, j);
}

/* "/containers/<id>/<rest>": the id (heap) and rest (pointer into path, "" for none). */
static char *split_obj(const char *path, const char *prefix, const char **rest) {
  const char *p = path + strlen(prefix);
  const char *slash = strchr(p, '/');
  *rest = slash ? slash + 1 : "";
  return slash ? brr_xstrndup(p, (size_t)(slash - p)) : brr_xstrdup(p);
}

static void default_containers(fake_engine *fe, const fake_request *q, fake_reply *out) {
  const char *m = q->method;
  if (!strcmp(q->path, "/containers/create") && !strcmp(m, "POST")) {
    cJSON *b = cJSON_Parse(q->body ? q->body : "");
    const cJSON *img = b ? cJSON_GetObjectItemCaseSensitive(b, "Image") : NULL;
    if (!cJSON_IsString(img)) {
      reply_error(out, 400, "fake engine: create without an Image");
      cJSON_Delete(b);
      return;
    }
    char *name = query_get(q, "name");
    if (name && *name && obj_find(fe, FAKE_CONTAINER, name)) {
      reply_error(out, 409, "Conflict. The container name \"/%s\" is already in use", name);
    } else {
      fake_obj *o = obj_add(fe, FAKE_CONTAINER, name && *name ? name : NULL,
                            cJSON_GetObjectItemCaseSensitive(b, "Labels"));
      o->image = brr_xstrdup(img->valuestring);
      o->tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "Tty"));
      const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "HostConfig"), "NetworkMode");
      if (cJSON_IsString(nm) && *nm->valuestring) o->network = brr_xstrdup(nm->valuestring);
      cJSON *j = cJSON_CreateObject();
      cJSON_AddStringToObject(j, "Id", o->id);
      cJSON_AddArrayToObject(j, "Warnings");
      reply_json(out, 201, j);
    }
    free(name);
    cJSON_Delete(b);
    return;
  }
  if (!strcmp(q->path, "/containers/json")) {
    list_objs(fe, FAKE_CONTAINER, q, out);
    return;
  }
  const char *rest;
  char *id = split_obj(q->path, "/containers/", &rest);
  fake_obj *o = obj_find(fe, FAKE_CONTAINER, id);
  if (!o) {
    reply_error(out, 404, "No such container: %s", id);
    free(id);
    return;
  }
  free(id);
  if (!*rest && !strcmp(m, "DELETE")) {
    o->removed = true;
    o->running = false;
    reply_set(out, 204, NULL, NULL, 0);
  } else if (!strcmp(rest, "start") || !strcmp(rest, "restart")) {
    o->running = true;
    reply_set(out, 204, NULL, NULL, 0);
  } else if (!strcmp(rest, "stop") || !strcmp(rest, "kill")) {
    o->running = false;
    reply_set(out, 204, NULL, NULL, 0);
  } else if (!strcmp(rest, "wait")) {
    o->running = false;
    reply_set(out, 200, "application/json", "{\"StatusCode\":0}", (size_t)-1);
  } else if (!strcmp(rest, "attach") || !strcmp(rest, "logs")) {
    reply_set(out, 200, o->tty ? "application/vnd.docker.raw-stream"
                               : "application/vnd.docker.multiplexed-stream", NULL, 0);
  } else if (!strcmp(rest, "json")) {
    container_inspect(o, fe->ip ? fe->ip : "172.17.0.2", out);
  } else if (!strcmp(rest, "archive") && !strcmp(m, "PUT")) {
    reply_set(out, 200, NULL, NULL, 0);
  } else if (!strcmp(rest, "archive")) {
    char *p = query_get(q, "path");
    const char *base = p ? strrchr(p, '/') : NULL;
    base = base && base[1] ? base + 1 : p && *p && strcmp(p, "/") ? p : "root";
    size_t len = 0;
    char *tar = fake_tar(&len, base, "fake\n", (char *)NULL);
    reply_set(out, 200, "application/x-tar", tar, len);
    free(tar);
    free(p);
  } else if (!strcmp(rest, "exec")) {
    cJSON *j = cJSON_CreateObject();
    char *eid = new_id(fe, FAKE_CONTAINER);
    eid[0] = 'e';
    cJSON_AddStringToObject(j, "Id", eid);
    free(eid);
    reply_json(out, 201, j);
  } else {
    reply_error(out, 404, "fake engine: no default for %s %s", m, q->path);
  }
}

/* GET /images/{name}/get: what `docker save` gives, in small: a tar holding manifest.json
 * (the image's RepoTags) and its config. */
static void image_save(const fake_obj *o, fake_reply *out) {
  cJSON *man = cJSON_CreateArray();
  cJSON *one = cJSON_CreateObject();
  char *config = brr_xasprintf("%s.json", o->id);
  cJSON_AddStringToObject(one, "Config", config);
  cJSON *tags = cJSON_AddArrayToObject(one, "RepoTags");
  if (!brr_startswith(o->name, "sha256:")) cJSON_AddItemToArray(tags, cJSON_CreateString(o->name));
  cJSON_AddArrayToObject(one, "Layers");
  cJSON_AddItemToArray(man, one);
  char *mj = cJSON_PrintUnformatted(man);
  cJSON_Delete(man);
  size_t len = 0;
  char *tar = fake_tar(&len, "manifest.json", mj, config, "{\"architecture\":\"amd64\",\"os\":\"linux\"}",
                       (char *)NULL);
  reply_set(out, 200, "application/x-tar", tar, len);
  free(tar);
  free(mj);
  free(config);
}

/* POST /images/load: the body must be a whole tar with a manifest.json; the images its
 * RepoTags name then exist. A body cut short is refused, as the engine refuses it. */
static void image_load(fake_engine *fe, const fake_request *q, fake_reply *out) {
  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  char *manifest = NULL;
  bool whole = archive_read_open_memory(a, q->body, q->body_len) == ARCHIVE_OK;
  struct archive_entry *e;
  int rc;
  while (whole && (rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    la_int64_t size = archive_entry_size(e);
    char *data = brr_xcalloc(1, (size_t)size + 1);
    if (archive_read_data(a, data, (size_t)size) != size) {
      whole = false;
      free(data);
      break;
    }
    if (!strcmp(archive_entry_pathname(e), "manifest.json") && !manifest) manifest = data;
    else free(data);
  }
  if (whole && rc != ARCHIVE_EOF) whole = false;
  archive_read_free(a);
  cJSON *man = whole && manifest ? cJSON_Parse(manifest) : NULL;
  free(manifest);
  if (!cJSON_IsArray(man)) {
    reply_error(out, 500, "fake engine: the body is not a whole image archive (%zu bytes)", q->body_len);
    cJSON_Delete(man);
    return;
  }
  char *buf = NULL;
  size_t len = 0;
  const cJSON *img, *tag;
  cJSON_ArrayForEach(img, man) {
    cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(img, "RepoTags")) {
      if (!cJSON_IsString(tag)) continue;
      image_add(fe, tag->valuestring);
      cJSON *s = cJSON_CreateObject();
      char *line = brr_xasprintf("Loaded image: %s\n", tag->valuestring);
      cJSON_AddStringToObject(s, "stream", line);
      free(line);
      jsonl_add(&buf, &len, s);
    }
  }
  cJSON_Delete(man);
  reply_set(out, 200, "application/json", buf, len);
  free(buf);
}

static void default_images(fake_engine *fe, const fake_request *q, fake_reply *out) {
  const char *m = q->method;
  if (!strcmp(q->path, "/images/load") && !strcmp(m, "POST")) {
    image_load(fe, q, out);
    return;
  }
  if (!strcmp(q->path, "/images/create")) {
    char *from = query_get(q, "fromImage"), *src = query_get(q, "fromSrc");
    char *repo = query_get(q, "repo"), *tag = query_get(q, "tag");
    char *buf = NULL;
    size_t len = 0;
    if (from) {
      char *ref = tag && *tag ? brr_xasprintf("%s%s%s", from, brr_startswith(tag, "sha256:") ? "@" : ":", tag)
                              : brr_xstrdup(from);
      fake_obj *o = image_add(fe, ref);
      char *msg = brr_xasprintf("Pulling from %s", from);
      jsonl_add(&buf, &len, status_msg(msg));
      free(msg);
      char *d = digest_of(o->name);
      msg = brr_xasprintf("Digest: %s", d);
      jsonl_add(&buf, &len, status_msg(msg));
      free(msg);
      free(d);
      msg = brr_xasprintf("Status: Downloaded newer image for %s", ref);
      jsonl_add(&buf, &len, status_msg(msg));
      free(msg);
      free(ref);
    } else if (src) {
      char *ref = repo && *repo ? brr_xasprintf("%s:%s", repo, tag && *tag ? tag : "latest") : NULL;
      fake_obj *o = ref ? image_add(fe, ref) : obj_add(fe, FAKE_IMAGE, NULL, NULL);
      if (!ref) {
        free(o->name);
        o->name = brr_xasprintf("sha256:%s", o->id);
      }
      char *st = brr_xasprintf("sha256:%s", o->id);
      jsonl_add(&buf, &len, status_msg(st));
      free(st);
      free(ref);
    }
    reply_set(out, 200, "application/json", buf, len);
    free(buf);
    free(from);
    free(src);
    free(repo);
    free(tag);
    return;
  }
  if (!strcmp(q->path, "/images/json")) {
    list_objs(fe, FAKE_IMAGE, q, out);
    return;
  }
  /* /images/<name with slashes>[/json|/tag|/push] */
  const char *name = q->path + strlen("/images/");
  const char *verb = "";
  size_t nlen = strlen(name);
  static const char *const VERBS[] = {"/json", "/tag", "/push", "/history", "/get"};
  for (size_t i = 0; i < BRR_ARRAY_LEN(VERBS); i++)
    if (brr_endswith(name, VERBS[i]) && strcmp(m, "DELETE") != 0) {
      verb = VERBS[i] + 1;
      nlen -= strlen(VERBS[i]);
      break;
    }
  char *ref = brr_xstrndup(name, nlen);
  fake_obj *o = obj_find(fe, FAKE_IMAGE, ref);
  if (!strcmp(verb, "push")) {
    char *tag = query_get(q, "tag");
    char *full = tag && *tag ? brr_xasprintf("%s:%s", ref, tag) : brr_xstrdup(ref);
    if (!obj_find(fe, FAKE_IMAGE, full)) {
      reply_error(out, 404, "An image does not exist locally with the tag: %s", ref);
    } else {
      char *buf = NULL, *d = digest_of(full);
      size_t len = 0;
      char *st = brr_xasprintf("The push refers to repository [%s]", ref);
      jsonl_add(&buf, &len, status_msg(st));
      free(st);
      cJSON *aux = cJSON_CreateObject();
      cJSON *a = cJSON_AddObjectToObject(aux, "aux");
      cJSON_AddStringToObject(a, "Tag", tag && *tag ? tag : "latest");
      cJSON_AddStringToObject(a, "Digest", d);
      cJSON_AddNumberToObject(a, "Size", 528);
      jsonl_add(&buf, &len, aux);
      reply_set(out, 200, "application/json", buf, len);
      free(buf);
      free(d);
    }
    free(full);
    free(tag);
  } else if (!o) {
    reply_error(out, 404, "No such image: %s", ref);
  } else if (!strcmp(verb, "json")) {
    image_inspect(o, out);
  } else if (!strcmp(verb, "get") && !strcmp(m, "GET")) {
    image_save(o, out);
  } else if (!strcmp(verb, "tag")) {
    char *repo = query_get(q, "repo"), *tag = query_get(q, "tag");
    char *target = brr_xasprintf("%s:%s", repo ? repo : "", tag && *tag ? tag : "latest");
    fake_obj *t = image_add(fe, target);
    free(t->id);
    t->id = brr_xstrdup(o->id);
    reply_set(out, 201, NULL, NULL, 0);
    free(target);
    free(repo);
    free(tag);
  } else if (!strcmp(m, "DELETE")) {
    o->removed = true;
    cJSON *arr = cJSON_CreateArray();
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "Untagged", o->name);
    cJSON_AddItemToArray(arr, u);
    reply_json(out, 200, arr);
  } else {
    reply_error(out, 404, "fake engine: no default for %s %s", m, q->path);
  }
  free(ref);
}

static void default_objects(fake_engine *fe, fake_kind kind, const fake_request *q, fake_reply *out) {
  const char *prefix = kind == FAKE_NETWORK ? "/networks" : "/volumes";
  const char *m = q->method;
  if (!strcmp(q->path, prefix) && !strcmp(m, "GET")) {
    list_objs(fe, kind, q, out);
    return;
  }
  char *create = brr_xasprintf("%s/create", prefix);
  bool is_create = !strcmp(q->path, create) && !strcmp(m, "POST");
  free(create);
  if (is_create) {
    cJSON *b = cJSON_Parse(q->body ? q->body : "");
    const cJSON *name = b ? cJSON_GetObjectItemCaseSensitive(b, "Name") : NULL;
    const char *nm = cJSON_IsString(name) ? name->valuestring : NULL;
    if (nm && obj_find(fe, kind, nm) && kind == FAKE_NETWORK) {
      reply_error(out, 409, "network with name %s already exists", nm);
    } else {
      fake_obj *o = obj_add(fe, kind, nm, b ? cJSON_GetObjectItemCaseSensitive(b, "Labels") : NULL);
      cJSON *j = cJSON_CreateObject();
      if (kind == FAKE_NETWORK) {
        cJSON_AddStringToObject(j, "Id", o->id);
        cJSON_AddStringToObject(j, "Warning", "");
      } else {
        cJSON_AddStringToObject(j, "Name", o->name);
        cJSON_AddStringToObject(j, "Driver", "local");
        cJSON_AddItemToObject(j, "Labels", cJSON_Duplicate(o->labels, 1));
      }
      reply_json(out, 201, j);
    }
    cJSON_Delete(b);
    return;
  }
  char *pre = brr_xasprintf("%s/", prefix);
  const char *rest;
  char *id = split_obj(q->path, pre, &rest);
  free(pre);
  fake_obj *o = obj_find(fe, kind, id);
  if (!o) {
    reply_error(out, 404, "No such %s: %s", kind == FAKE_NETWORK ? "network" : "volume", id);
  } else if (!*rest && !strcmp(m, "DELETE")) {
    o->removed = true;
    reply_set(out, 204, NULL, NULL, 0);
  } else if (!strcmp(rest, "connect") || !strcmp(rest, "disconnect")) {
    reply_set(out, 200, NULL, NULL, 0);
  } else if (!*rest && !strcmp(m, "GET")) {
    cJSON *j = obj_listed(o);
    reply_json(out, 200, j);
  } else {
    reply_error(out, 404, "fake engine: no default for %s %s", m, q->path);
  }
  free(id);
}

static void default_answer(fake_engine *fe, const fake_request *q, fake_reply *out) {
  const char *p = q->path, *m = q->method;
  if (!strcmp(p, "/_ping")) {
    reply_set(out, 200, "text/plain", "OK", (size_t)-1);
    out->headers = brr_xstrdup("API-Version: 1.41\nOSType: linux\nDocker-Experimental: false\n");
  } else if (!strcmp(p, "/version")) {
    reply_set(out, 200, "application/json",
              "{\"Version\":\"24.0.0-fake\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\","
              "\"Os\":\"linux\",\"Arch\":\"amd64\",\"KernelVersion\":\"6.1.0\"}", (size_t)-1);
  } else if (!strcmp(p, "/info")) {
    reply_set(out, 200, "application/json",
              "{\"ID\":\"fake\",\"Name\":\"fake-engine\",\"OSType\":\"linux\",\"Architecture\":\"x86_64\","
              "\"NCPU\":2,\"ServerVersion\":\"24.0.0-fake\"}", (size_t)-1);
  } else if (brr_startswith(p, "/containers/")) {
    default_containers(fe, q, out);
  } else if (brr_startswith(p, "/exec/")) {
    if (brr_endswith(p, "/start"))
      reply_set(out, 200, "application/vnd.docker.multiplexed-stream", NULL, 0);
    else if (brr_endswith(p, "/json"))
      reply_set(out, 200, "application/json", "{\"ExitCode\":0,\"Running\":false,\"Pid\":0}", (size_t)-1);
    else
      reply_set(out, 201, NULL, NULL, 0);
  } else if (!strcmp(p, "/commit") && !strcmp(m, "POST")) {
    char *repo = query_get(q, "repo"), *tag = query_get(q, "tag");
    fake_obj *o;
    if (repo && *repo) {
      char *ref = brr_xasprintf("%s:%s", repo, tag && *tag ? tag : "latest");
      o = image_add(fe, ref);
      free(ref);
    } else {
      o = obj_add(fe, FAKE_IMAGE, NULL, NULL);
      free(o->name);
      o->name = brr_xasprintf("sha256:%s", o->id);
    }
    char *id = brr_xasprintf("{\"Id\":\"sha256:%s\"}", o->id);
    reply_set(out, 201, "application/json", id, (size_t)-1);
    free(id);
    free(repo);
    free(tag);
  } else if (!strcmp(p, "/build") && !strcmp(m, "POST")) {
    char *t = query_get(q, "t");
    fake_obj *o;
    if (t && *t) {
      o = image_add(fe, t);
    } else {
      o = obj_add(fe, FAKE_IMAGE, NULL, NULL);
      free(o->name);
      o->name = brr_xasprintf("sha256:%s", o->id);
    }
    char *buf = NULL;
    size_t len = 0;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "stream", "Step 1/1 : FROM scratch\n");
    jsonl_add(&buf, &len, s);
    cJSON *aux = cJSON_CreateObject();
    char *id = brr_xasprintf("sha256:%s", o->id);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(aux, "aux"), "ID", id);
    jsonl_add(&buf, &len, aux);
    s = cJSON_CreateObject();
    char *line = brr_xasprintf("Successfully built %.12s\n", o->id);
    cJSON_AddStringToObject(s, "stream", line);
    jsonl_add(&buf, &len, s);
    reply_set(out, 200, "application/json", buf, len);
    free(line);
    free(id);
    free(buf);
    free(t);
  } else if (brr_startswith(p, "/images/")) {
    default_images(fe, q, out);
  } else if (!strcmp(p, "/networks") || brr_startswith(p, "/networks/")) {
    default_objects(fe, FAKE_NETWORK, q, out);
  } else if (!strcmp(p, "/volumes") || brr_startswith(p, "/volumes/")) {
    default_objects(fe, FAKE_VOLUME, q, out);
  } else {
    reply_error(out, 404, "fake engine: no rule for %s %s", m, p);
  }
}

/* ---- serving ---------------------------------------------------------------------------------- */

/* Wait while held: true when released (all holds, or those of `rule`), false when the client
 * went away or the fake stops. */
static bool hold_wait(fake_engine *fe, int fd, unsigned gen, fake_rule *rule, unsigned rule_gen) {
  for (;;) {
    pthread_mutex_lock(&fe->mu);
    bool stop = fe->stopping;
    bool released = fe->release_gen != gen || (rule && rule->release_gen != rule_gen);
    pthread_mutex_unlock(&fe->mu);
    if (stop) return false;
    if (released) return true;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    int n = poll(&p, 1, FAKE_POLL_MS);
    if (n > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return false;
  }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  fake_stream *s = cls;
  if (pos < s->len) {
    size_t n = s->len - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, s->body + pos, n);
    return (ssize_t)n;
  }
  if (s->cut) return MHD_CONTENT_READER_END_WITH_ERROR;
  if (s->hold == FAKE_HOLD_BODY) {
    s->hold = FAKE_HOLD_NONE;
    if (!hold_wait(s->fe, s->fd, s->gen, s->rule, s->rule_gen)) return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  return MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls) {
  fake_stream *s = cls;
  free(s->body);
  free(s);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  brr_buf *b = cls;
  if (b->len) brr_buf_putc(b, '&');
  brr_buf_puts(b, key);
  if (value) {
    brr_buf_putc(b, '=');
    brr_buf_puts(b, value);
  }
  return MHD_YES;
}

/* The answer for `q` (under the lock): the chosen rule's, or the default. */
static fake_rule *choose(fake_engine *fe, const fake_request *q, fake_reply *out) {
  fake_rule *chosen = NULL;
  for (fake_rule *r = fe->rules; r; r = r->next) {
    if (!rule_match(r, q)) continue;
    r->seen++;
    if (chosen) continue;
    if (r->nth && r->seen != r->nth) continue;
    if (r->times && r->seen > r->times) continue;
    if (r->from && r->seen < r->from) continue;
    chosen = r;
  }
  if (chosen && !chosen->handler) {
    reply_copy(out, &chosen->reply);
  } else {
    default_answer(fe, q, out);
    if (chosen) {
      /* a handler starts from the rule's own answer when it set one, else the default */
      if (chosen->reply.status || chosen->reply.body) {
        reply_clear(out);
        reply_copy(out, &chosen->reply);
      }
      chosen->handler(chosen->handler_ud, q, out);
    }
  }
  return chosen;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size,
                              void **con_cls) {
  (void)version;
  fake_engine *fe = cls;
  fake_conn *fc = *con_cls;
  if (!fc) {
    fc = brr_xcalloc(1, sizeof *fc);
    fake_request *q = fc->req = brr_xcalloc(1, sizeof *q);
    q->method = brr_xstrdup(method);
    /* drop the /v1.NN prefix */
    const char *p = url;
    if (p[0] == '/' && p[1] == 'v' && p[2] >= '0' && p[2] <= '9') {
      const char *s = strchr(p + 1, '/');
      p = s ? s : "/";
    }
    q->path = brr_xstrdup(p);
    brr_buf qs = BRR_BUF_INIT;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &qs);
    q->query = brr_xstrdup(brr_buf_cstr(&qs));
    brr_buf_free(&qs);
    q->content_type = xstrdup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"));
    q->registry_auth = xstrdup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Registry-Auth"));
    *con_cls = fc;
    return MHD_YES;
  }
  fake_request *q = fc->req;
  if (*upload_size) {
    append_body(&q->body, &q->body_len, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (!q->body) q->body = brr_xstrdup("");
  fc->req = NULL;

  /* logging, choosing and reading the release generation in one locked section: a test
   * thread that sees the request logged and releases it cannot release too early */
  fake_reply rep = {0};
  pthread_mutex_lock(&fe->mu);
  BRR_VEC_PUSH(fe->reqs, fe->n_reqs, fe->cap_reqs, q);  /* the log owns it now */
  pthread_cond_broadcast(&fe->cond);
  fake_rule *r = choose(fe, q, &rep);
  void (*on_req)(void *, const fake_request *) = r ? r->on_request : NULL;
  void *on_req_ud = r ? r->on_request_ud : NULL;
  int signo = r ? r->raise_signo : 0, count = r ? r->raise_count : 0;
  unsigned gen = fe->release_gen, rule_gen = r ? r->release_gen : 0;
  pthread_mutex_unlock(&fe->mu);
  if (on_req) on_req(on_req_ud, q);
  for (int i = 0; i < count; i++) kill(getpid(), signo);

  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  int fd = ci ? ci->connect_fd : -1;
  if (rep.hold == FAKE_HOLD_HEADERS) {
    if (!hold_wait(fe, fd, gen, r, rule_gen)) {
      reply_clear(&rep);
      return MHD_NO;
    }
    rep.hold = FAKE_HOLD_NONE;
  }
  if (rep.status == 0) {
    reply_clear(&rep);
    return MHD_NO;
  }
  struct MHD_Response *resp;
  if (rep.hold == FAKE_HOLD_NONE && !rep.cut) {
    resp = MHD_create_response_from_buffer(rep.body_len, rep.body ? rep.body : (char *)"",
                                           MHD_RESPMEM_MUST_COPY);
  } else {
    fake_stream *s = brr_xcalloc(1, sizeof *s);
    s->fe = fe;
    s->body = rep.body;
    s->len = rep.body_len;
    rep.body = NULL;
    s->hold = rep.hold;
    s->cut = rep.cut;
    s->fd = fd;
    s->rule = r;
    s->gen = gen;
    s->rule_gen = rule_gen;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
  }
  MHD_add_response_header(resp, "Content-Type", rep.content_type ? rep.content_type : "application/json");
  MHD_add_response_header(resp, "Api-Version", "1.41");
  MHD_add_response_header(resp, "Server", "Docker/24.0.0-fake (linux)");
  for (char *line = rep.headers, *nl; line && *line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    char *colon = strchr(line, ':');
    if (colon) {
      *colon = '\0';
      const char *v = colon + 1;
      while (*v == ' ') v++;
      MHD_add_response_header(resp, line, v);
    }
  }
  pthread_mutex_lock(&fe->mu);
  q->status = rep.status;
  pthread_mutex_unlock(&fe->mu);
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)rep.status, resp);
  MHD_destroy_response(resp);
  reply_clear(&rep);
  return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  fake_conn *fc = *con_cls;
  if (!fc) return;
  request_free(fc->req);
  free(fc);
  *con_cls = NULL;
}

/* ---- life cycle --------------------------------------------------------------------------------- */

fake_engine *fake_engine_start(void) {
  fake_engine *fe = brr_xcalloc(1, sizeof *fe);
  const char *tmp = getenv("TMPDIR");
  char *tmpl = brr_xasprintf("%s/brr-fake-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(tmpl)) {
    fprintf(stderr, "fake engine: mkdtemp %s: %s\n", tmpl, strerror(errno));
    abort();
  }
  fe->dir = tmpl;
  fe->sock = brr_path_join(fe->dir, "docker.sock");
  fe->host = brr_xasprintf("unix://%s", fe->sock);
  pthread_mutex_init(&fe->mu, NULL);
  pthread_cond_init(&fe->cond, NULL);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(fe->sock) >= sizeof a.sun_path) {
    fprintf(stderr, "fake engine: socket %s: %s\n", fe->sock, strerror(errno));
    abort();
  }
  memcpy(a.sun_path, fe->sock, strlen(fe->sock) + 1);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0) {
    fprintf(stderr, "fake engine: bind %s: %s\n", fe->sock, strerror(errno));
    abort();
  }
  fe->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD, 0, NULL,
                                NULL, answer, fe, MHD_OPTION_LISTEN_SOCKET, fd,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, fe,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
  if (!fe->daemon) {
    fprintf(stderr, "fake engine: libmicrohttpd did not start\n");
    abort();
  }
  return fe;
}

const char *fake_engine_host(const fake_engine *fe) { return fe->host; }

void fake_engine_stop(fake_engine *fe) {
  if (!fe) return;
  pthread_mutex_lock(&fe->mu);
  fe->stopping = true;
  pthread_mutex_unlock(&fe->mu);
  MHD_stop_daemon(fe->daemon);  /* closes the listening socket, joins every thread */
  unlink(fe->sock);
  rmdir(fe->dir);
  for (fake_rule *r = fe->rules, *next; r; r = next) {
    next = r->next;
    free(r->method);
    free(r->pattern);
    free(r->body_has);
    free(r->query_has);
    reply_clear(&r->reply);
    free(r);
  }
  for (size_t i = 0; i < fe->n_reqs; i++) request_free(fe->reqs[i]);
  free(fe->reqs);
  for (size_t i = 0; i < fe->n_objs; i++) {
    fake_obj *o = fe->objs[i];
    free(o->id);
    free(o->name);
    free(o->image);
    free(o->network);
    cJSON_Delete(o->labels);
    free(o);
  }
  free(fe->objs);
  pthread_cond_destroy(&fe->cond);
  pthread_mutex_destroy(&fe->mu);
  free(fe->ip);
  free(fe->dir);
  free(fe->sock);
  free(fe->host);
  free(fe);
}

/* ---- rules ------------------------------------------------------------------------------------- */

/* the engine a rule belongs to, kept beside it */
typedef struct fake_rule_box {
  fake_rule rule;
  fake_engine *owner;
} fake_rule_box;

static fake_engine *owner_of(fake_rule *r) { return ((fake_rule_box *)r)->owner; }

fake_rule *fake_engine_on(fake_engine *fe, const char *method, const char *pattern) {
  fake_rule_box *b = brr_xcalloc(1, sizeof *b);
  b->owner = fe;
  fake_rule *r = &b->rule;
  r->method = brr_xstrdup(method);
  r->pattern = brr_xstrdup(pattern);
  r->reply.status = 200;
  pthread_mutex_lock(&fe->mu);
  r->next = fe->rules;
  fe->rules = r;
  pthread_mutex_unlock(&fe->mu);
  return r;
}

static void lock_rule(fake_rule *r) { pthread_mutex_lock(&owner_of(r)->mu); }
static void unlock_rule(fake_rule *r) { pthread_mutex_unlock(&owner_of(r)->mu); }

fake_rule *fake_rule_reply(fake_rule *r, int status, const char *content_type, const void *body, size_t len) {
  lock_rule(r);
  reply_set(&r->reply, status, content_type, body, len);
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_json(fake_rule *r, int status, const char *json) {
  return fake_rule_reply(r, status, "application/json", json, (size_t)-1);
}

fake_rule *fake_rule_error(fake_rule *r, int status, const char *message) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "message", message);
  char *s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  fake_rule_json(r, status, s);
  free(s);
  return r;
}

fake_rule *fake_rule_header(fake_rule *r, const char *line) {
  lock_rule(r);
  char *old = r->reply.headers;
  r->reply.headers = brr_xasprintf("%s%s\n", old ? old : "", line);
  free(old);
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_hold(fake_rule *r, fake_hold hold) {
  lock_rule(r);
  r->reply.hold = hold;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_drop(fake_rule *r) {
  lock_rule(r);
  r->reply.status = 0;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_cut(fake_rule *r) {
  lock_rule(r);
  r->reply.cut = true;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_nth(fake_rule *r, unsigned n) {
  lock_rule(r);
  r->nth = n;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_from(fake_rule *r, unsigned n) {
  lock_rule(r);
  r->from = n;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_times(fake_rule *r, unsigned n) {
  lock_rule(r);
  r->times = n;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_body_has(fake_rule *r, const char *needle) {
  lock_rule(r);
  free(r->body_has);
  r->body_has = brr_xstrdup(needle);
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_query_has(fake_rule *r, const char *needle) {
  lock_rule(r);
  free(r->query_has);
  r->query_has = brr_xstrdup(needle);
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_handler(fake_rule *r, fake_handler fn, void *ud) {
  lock_rule(r);
  r->handler = fn;
  r->handler_ud = ud;
  /* a handler starts from the default answer unless the rule's answer is set afterwards */
  r->reply.status = 0;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_on_request(fake_rule *r, void (*fn)(void *ud, const fake_request *req), void *ud) {
  lock_rule(r);
  r->on_request = fn;
  r->on_request_ud = ud;
  unlock_rule(r);
  return r;
}

fake_rule *fake_rule_raise(fake_rule *r, int signo, int count) {
  lock_rule(r);
  r->raise_signo = signo;
  r->raise_count = count;
  unlock_rule(r);
  return r;
}

fake_rule *fake_engine_fail(fake_engine *fe, const char *method, const char *pattern, unsigned nth, int status) {
  fake_rule *r = fake_engine_on(fe, method, pattern);
  fake_rule_nth(r, nth);
  return fake_rule_error(r, status, "fake failure");
}

void fake_engine_release(fake_engine *fe) {
  pthread_mutex_lock(&fe->mu);
  fe->release_gen++;
  pthread_mutex_unlock(&fe->mu);
}

void fake_rule_release(fake_rule *r) {
  lock_rule(r);
  r->release_gen++;
  unlock_rule(r);
}

/* ---- stream bodies -------------------------------------------------------------------------------- */

void fake_mux_frame(char **buf, size_t *len, int stream, const char *text, size_t text_len) {
  if (text_len == (size_t)-1) text_len = strlen(text);
  unsigned char h[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(text_len >> 24),
                        (unsigned char)(text_len >> 16), (unsigned char)(text_len >> 8),
                        (unsigned char)text_len};
  append(buf, len, (const char *)h, sizeof h);
  append(buf, len, text, text_len);
}

static la_ssize_t tar_write(struct archive *a, void *ud, const void *data, size_t n) {
  (void)a;
  brr_buf_append(ud, data, n);
  return (la_ssize_t)n;
}

char *fake_tar(size_t *len, ...) {
  brr_buf b = BRR_BUF_INIT;
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open(a, &b, NULL, tar_write, NULL) != ARCHIVE_OK) abort();
  va_list ap;
  va_start(ap, len);
  for (const char *name; (name = va_arg(ap, const char *));) {
    const char *content = va_arg(ap, const char *);
    struct archive_entry *e = archive_entry_new();
    size_t nl = strlen(name);
    bool dir = nl && name[nl - 1] == '/';
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_mtime(e, 1700000000, 0);
    archive_entry_set_size(e, dir ? 0 : (la_int64_t)strlen(content));
    if (archive_write_header(a, e) != ARCHIVE_OK) abort();
    if (!dir && *content && archive_write_data(a, content, strlen(content)) < 0) abort();
    archive_entry_free(e);
  }
  va_end(ap);
  if (archive_write_close(a) != ARCHIVE_OK) abort();
  archive_write_free(a);
  *len = b.len;
  return brr_buf_detach(&b);
}

char *fake_tar_bytes(size_t *len, const char *name, const void *data, size_t n) {
  brr_buf b = BRR_BUF_INIT;
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open(a, &b, NULL, tar_write, NULL) != ARCHIVE_OK) abort();
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_mtime(e, 1700000000, 0);
  archive_entry_set_size(e, (la_int64_t)n);
  if (archive_write_header(a, e) != ARCHIVE_OK) abort();
  if (n && archive_write_data(a, data, n) < 0) abort();
  archive_entry_free(e);
  if (archive_write_close(a) != ARCHIVE_OK) abort();
  archive_write_free(a);
  *len = b.len;
  return brr_buf_detach(&b);
}

/* ---- the world ---------------------------------------------------------------------------------------- */

void fake_engine_add_image(fake_engine *fe, const char *ref) {
  pthread_mutex_lock(&fe->mu);
  image_add(fe, ref);
  pthread_mutex_unlock(&fe->mu);
}

void fake_engine_add_object(fake_engine *fe, fake_kind kind, const char *name, const char *labels_json) {
  cJSON *labels = labels_json ? cJSON_Parse(labels_json) : NULL;
  pthread_mutex_lock(&fe->mu);
  size_t before = fe->created[kind];
  fake_obj *o = kind == FAKE_IMAGE ? image_add(fe, name) : obj_add(fe, kind, name, labels);
  if (kind == FAKE_CONTAINER) o->image = brr_xstrdup("fake/image:1");
  o->preexisting = true;
  fe->created[kind] = before;  /* not created through the API */
  pthread_mutex_unlock(&fe->mu);
  cJSON_Delete(labels);
}

void fake_engine_set_ip(fake_engine *fe, const char *ip) {
  pthread_mutex_lock(&fe->mu);
  free(fe->ip);
  fe->ip = brr_xstrdup(ip);
  pthread_mutex_unlock(&fe->mu);
}

size_t fake_engine_live(fake_engine *fe, fake_kind kind) {
  pthread_mutex_lock(&fe->mu);
  size_t n = 0;
  for (size_t i = 0; i < fe->n_objs; i++) n += fe->objs[i]->kind == kind && !fe->objs[i]->removed;
  pthread_mutex_unlock(&fe->mu);
  return n;
}

size_t fake_engine_created(fake_engine *fe, fake_kind kind) {
  pthread_mutex_lock(&fe->mu);
  size_t n = fe->created[kind];
  pthread_mutex_unlock(&fe->mu);
  return n;
}

/* ---- the log ---------------------------------------------------------------------------------------------- */

size_t fake_engine_n_requests(fake_engine *fe) {
  pthread_mutex_lock(&fe->mu);
  size_t n = fe->n_reqs;
  pthread_mutex_unlock(&fe->mu);
  return n;
}

const fake_request *fake_engine_request(fake_engine *fe, size_t i) {
  pthread_mutex_lock(&fe->mu);
  const fake_request *q = i < fe->n_reqs ? fe->reqs[i] : NULL;
  pthread_mutex_unlock(&fe->mu);
  return q;
}

static size_t count_locked(fake_engine *fe, const char *method, const char *pattern) {
  size_t n = 0;
  for (size_t i = 0; i < fe->n_reqs; i++) n += path_match(method, pattern, fe->reqs[i]);
  return n;
}

size_t fake_engine_count(fake_engine *fe, const char *method, const char *pattern) {
  pthread_mutex_lock(&fe->mu);
  size_t n = count_locked(fe, method, pattern);
  pthread_mutex_unlock(&fe->mu);
  return n;
}

const fake_request *fake_engine_find(fake_engine *fe, const char *method, const char *pattern, size_t nth) {
  pthread_mutex_lock(&fe->mu);
  const fake_request *hit = NULL;
  for (size_t i = 0; i < fe->n_reqs && !hit; i++)
    if (path_match(method, pattern, fe->reqs[i]) && nth-- == 0) hit = fe->reqs[i];
  pthread_mutex_unlock(&fe->mu);
  return hit;
}

/* ---- source containers, pulls and imports ---- */

static bool is_source_name(const char *name) { return name && brr_endswith(name, "-source"); }

bool fake_request_is_source_create(const fake_request *q) {
  if (!q || strcmp(q->method, "POST") != 0 || strcmp(q->path, "/containers/create") != 0) return false;
  char *name = query_get(q, "name");
  bool yes = is_source_name(name);
  free(name);
  return yes;
}

/* Whether `q` is a POST /images/create carrying query key `key` (fromImage, fromSrc). */
static bool is_images_create_with(const fake_request *q, const char *key) {
  if (strcmp(q->method, "POST") != 0 || strcmp(q->path, "/images/create") != 0) return false;
  char *v = query_get(q, key);
  bool yes = v != NULL;
  free(v);
  return yes;
}

typedef enum { SEL_RUN_CREATE, SEL_SOURCE_CREATE, SEL_PULL, SEL_IMPORT } sel_kind;

static bool sel_match(sel_kind k, const fake_request *q) {
  switch (k) {
  case SEL_RUN_CREATE:
    return !strcmp(q->method, "POST") && !strcmp(q->path, "/containers/create") && !fake_request_is_source_create(q);
  case SEL_SOURCE_CREATE:
    return fake_request_is_source_create(q);
  case SEL_PULL:
    return is_images_create_with(q, "fromImage");
  case SEL_IMPORT:
    return is_images_create_with(q, "fromSrc");
  }
  return false;
}

static size_t sel_count(fake_engine *fe, sel_kind k) {
  pthread_mutex_lock(&fe->mu);
  size_t n = 0;
  for (size_t i = 0; i < fe->n_reqs; i++) n += sel_match(k, fe->reqs[i]);
  pthread_mutex_unlock(&fe->mu);
  return n;
}

static const fake_request *sel_find(fake_engine *fe, sel_kind k, size_t nth) {
  pthread_mutex_lock(&fe->mu);
  const fake_request *hit = NULL;
  for (size_t i = 0; i < fe->n_reqs && !hit; i++)
    if (sel_match(k, fe->reqs[i]) && nth-- == 0) hit = fe->reqs[i];
  pthread_mutex_unlock(&fe->mu);
  return hit;
}

size_t fake_engine_count_creates(fake_engine *fe, bool source) {
  return sel_count(fe, source ? SEL_SOURCE_CREATE : SEL_RUN_CREATE);
}

const fake_request *fake_engine_find_create(fake_engine *fe, bool source, size_t nth) {
  return sel_find(fe, source ? SEL_SOURCE_CREATE : SEL_RUN_CREATE, nth);
}

size_t fake_engine_count_pulls(fake_engine *fe) { return sel_count(fe, SEL_PULL); }
const fake_request *fake_engine_find_pull(fake_engine *fe, size_t nth) { return sel_find(fe, SEL_PULL, nth); }
size_t fake_engine_count_imports(fake_engine *fe) { return sel_count(fe, SEL_IMPORT); }
const fake_request *fake_engine_find_import(fake_engine *fe, size_t nth) { return sel_find(fe, SEL_IMPORT, nth); }

size_t fake_engine_created_containers(fake_engine *fe, bool source) {
  pthread_mutex_lock(&fe->mu);
  size_t n = 0;
  for (size_t i = 0; i < fe->n_objs; i++) {
    const fake_obj *o = fe->objs[i];
    n += o->kind == FAKE_CONTAINER && !o->preexisting && is_source_name(o->name) == source;
  }
  pthread_mutex_unlock(&fe->mu);
  return n;
}

bool fake_engine_wait_for(fake_engine *fe, const char *method, const char *pattern, size_t count,
                          int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&fe->mu);
  bool ok;
  while (!(ok = count_locked(fe, method, pattern) >= count))
    if (pthread_cond_timedwait(&fe->cond, &fe->mu, &until) == ETIMEDOUT) {
      ok = count_locked(fe, method, pattern) >= count;
      break;
    }
  pthread_mutex_unlock(&fe->mu);
  return ok;
}

char *fake_engine_dump(fake_engine *fe) {
  brr_buf b = BRR_BUF_INIT;
  pthread_mutex_lock(&fe->mu);
  for (size_t i = 0; i < fe->n_reqs; i++) {
    const fake_request *q = fe->reqs[i];
    brr_buf_printf(&b, "%s %s%s%s -> %d\n", q->method, q->path, *q->query ? "?" : "", q->query, q->status);
  }
  pthread_mutex_unlock(&fe->mu);
  return brr_buf_detach(&b);
}
