/* Container operations of the Engine API: create (the spec as JSON), start, wait, attach
 * and logs, stop, kill, remove, inspect, archive get/put and commit. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- the create body --------------------------------------------------------------------------- */

static void add_strv(cJSON *o, const char *key, const char *const *v) {
  if (v) cJSON_AddItemToObject(o, key, brr_engine_strv_json(v));
}

static void add_str(cJSON *o, const char *key, const char *v) {
  if (v) cJSON_AddStringToObject(o, key, v);
}

/* Copy every key of `extra` into `obj`, replacing what is there. */
static void merge(cJSON *obj, const cJSON *extra) {
  const cJSON *it;
  cJSON_ArrayForEach(it, extra) {
    if (!it->string) continue;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, it->string);
    cJSON_AddItemToObject(obj, it->string, cJSON_Duplicate(it, true));
  }
}

/* "cport[/proto]", "hport:cport[/proto]" or "hostip:hport:cport[/proto]". */
static bool add_port(cJSON *exposed, cJSON *bindings, const char *spec) {
  size_t n;
  char **parts = brr_split(spec, ':', &n);
  bool ok = n >= 1 && n <= 3 && *parts[n - 1] && parts[n - 1][0] != '/';
  if (ok) {
    char *key = strchr(parts[n - 1], '/') ? brr_xstrdup(parts[n - 1])
                                          : brr_xasprintf("%s/tcp", parts[n - 1]);
    if (!cJSON_GetObjectItemCaseSensitive(exposed, key))
      cJSON_AddItemToObject(exposed, key, cJSON_CreateObject());
    cJSON *list = cJSON_GetObjectItemCaseSensitive(bindings, key);
    if (!list) list = cJSON_AddArrayToObject(bindings, key);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "HostIp", n == 3 ? parts[0] : "");
    cJSON_AddStringToObject(b, "HostPort", n >= 2 ? parts[n - 2] : "");
    cJSON_AddItemToArray(list, b);
    free(key);
  }
  brr_strv_free(parts);
  return ok;
}

static cJSON *host_config(brr_engine_req *r, const brr_engine_container_spec *s, cJSON *exposed) {
  cJSON *h = cJSON_CreateObject();
  add_strv(h, "Binds", s->binds);
  add_strv(h, "VolumesFrom", s->volumes_from);
  add_strv(h, "Links", s->links);
  add_strv(h, "Dns", s->dns);
  add_strv(h, "DnsSearch", s->dns_search);
  add_strv(h, "ExtraHosts", s->extra_hosts);
  add_strv(h, "CapAdd", s->cap_add);
  add_strv(h, "SecurityOpt", s->security_opt);
  if (s->tmpfs) {
    cJSON *t = cJSON_AddObjectToObject(h, "Tmpfs");
    for (const char *const *p = s->tmpfs; *p; p++) {
      const char *colon = strchr(*p, ':');
      char *path = colon ? brr_xstrndup(*p, (size_t)(colon - *p)) : brr_xstrdup(*p);
      cJSON_AddStringToObject(t, path, colon ? colon + 1 : "");
      free(path);
    }
  }
  if (s->ports) {
    cJSON *b = cJSON_AddObjectToObject(h, "PortBindings");
    for (const char *const *p = s->ports; *p; p++)
      if (!add_port(exposed, b, *p)) brr_engine_req_error(r, BRR_EINVAL, "bad port '%s'", *p);
  }
  if (s->privileged) cJSON_AddBoolToObject(h, "Privileged", true);
  add_str(h, "NetworkMode", s->network);
  add_str(h, "CgroupnsMode", s->cgroupns);
  if (s->memory) cJSON_AddNumberToObject(h, "Memory", (double)s->memory);
  if (s->cpu_shares) cJSON_AddNumberToObject(h, "CpuShares", (double)s->cpu_shares);
  if (s->cpu_period) cJSON_AddNumberToObject(h, "CpuPeriod", (double)s->cpu_period);
  if (s->cpu_quota) cJSON_AddNumberToObject(h, "CpuQuota", (double)s->cpu_quota);
  if (s->extra_host_config) merge(h, s->extra_host_config);
  return h;
}

static cJSON *create_body(brr_engine_req *r, const brr_engine_container_spec *s) {
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "Image", s->image);
  add_strv(c, "Cmd", s->cmd);
  add_strv(c, "Entrypoint", s->entrypoint);
  add_strv(c, "Env", s->env);
  add_str(c, "WorkingDir", s->working_dir);
  add_str(c, "User", s->user);
  add_str(c, "Hostname", s->hostname);
  cJSON_AddBoolToObject(c, "Tty", s->tty);
  cJSON_AddBoolToObject(c, "OpenStdin", s->open_stdin);
  cJSON_AddBoolToObject(c, "AttachStdout", true);
  cJSON_AddBoolToObject(c, "AttachStderr", true);
  for (const char *const *l = s->labels; l && *l; l++)
    if (**l == '=') brr_engine_req_error(r, BRR_EINVAL, "bad label '%s'", *l);
  cJSON_AddItemToObject(c, "Labels", brr_engine_labels_json(r->e, s->labels));
  cJSON *exposed = cJSON_CreateObject();
  cJSON_AddItemToObject(c, "HostConfig", host_config(r, s, exposed));
  if (cJSON_GetArraySize(exposed)) cJSON_AddItemToObject(c, "ExposedPorts", exposed);
  else cJSON_Delete(exposed);
  if (s->network && s->aliases) {
    cJSON *nc = cJSON_AddObjectToObject(c, "NetworkingConfig");
    cJSON *eps = cJSON_AddObjectToObject(nc, "EndpointsConfig");
    cJSON *ep = cJSON_AddObjectToObject(eps, s->network);
    add_strv(ep, "Aliases", s->aliases);
  }
  if (s->extra_config) merge(c, s->extra_config);
  return c;
}

static void created_container(brr_engine_req *r) { brr_engine_req_take_id(r, "Id", BRR_ENGINE_CONTAINER); }

brr_engine_req *brr_engine_container_create(brr_engine *e,
                                            const brr_engine_container_spec *spec,
                                            brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "create container", cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/containers/create");
  if (!spec || !spec->image || !*spec->image) {
    brr_engine_req_error(r, BRR_EINVAL, "no image given");
    return brr_engine_req_submit(r);
  }
  if (spec->name && !brr_engine_name_ok(spec->name))
    brr_engine_req_error(r, BRR_EINVAL, "bad container name '%s'", spec->name);
  brr_engine_req_query(r, "name", spec->name);
  brr_engine_req_query(r, "platform", spec->platform);
  brr_engine_req_json_body(r, create_body(r, spec));
  r->post = created_container;
  return brr_engine_req_submit(r);
}

/* ---- operations on one container ----------------------------------------------------------------- */

/* A request about object `id`: refuses ids that cannot go into a URL. */
static brr_engine_req *id_req(brr_engine *e, const char *what, const char *id,
                              brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, what, cb, ud);
  if (!brr_engine_name_ok(id))
    brr_engine_req_error(r, BRR_EINVAL, "bad id '%s'", id ? id : "(null)");
  return r;
}

#define SAFE(id) ((id) ? (id) : "")

brr_engine_req *brr_engine_container_start(brr_engine *e, const char *id, brr_engine_cb cb,
                                           void *ud) {
  brr_engine_req *r = id_req(e, "start container", id, cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s/start", SAFE(id));
  return brr_engine_req_submit(r);
}

static void waited(brr_engine_req *r) {
  if (r->status) return;
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(r->json, "StatusCode");
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(r->json, "Error");
  const cJSON *msg = err ? cJSON_GetObjectItemCaseSensitive(err, "Message") : NULL;
  if (cJSON_IsString(msg) && *msg->valuestring)
    brr_engine_req_error(r, BRR_EFAILED, "%s", msg->valuestring);
  else if (!cJSON_IsNumber(code))
    brr_engine_req_error(r, BRR_EIO, "the engine answered without a StatusCode");
  else
    r->exit_code = (int64_t)code->valuedouble;
}

static void removed_container(brr_engine_req *r);

static void waited_removed(brr_engine_req *r) {
  waited(r);
  removed_container(r);
}

brr_engine_req *brr_engine_container_wait(brr_engine *e, const char *id,
                                          const char *condition, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "wait for container", id, cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_STREAM, BRR_BODY_JSON, "/containers/%s/wait", SAFE(id));
  brr_engine_req_query(r, "condition", condition ? condition : "not-running");
  r->post = waited;
  if (brr_streq(condition, "removed")) {
    /* once it is gone it needs no cleanup */
    r->op = brr_xstrdup(SAFE(id));
    r->op_free = free;
    r->post = waited_removed;
  }
  return brr_engine_req_submit(r);
}

/* The HTTP part of attach and logs, once it is known whether the stream is raw. */
static brr_engine_req *mk_stream(brr_engine *e, const char *id, const brr_engine_stream_opts *o,
                                 bool attach, bool tty, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, attach ? "attach to container" : "read container logs", id, cb, ud);
  if (attach) {
    brr_engine_req_http(r, "POST", BRR_TO_STREAM, BRR_BODY_MUX, "/containers/%s/attach", SAFE(id));
    brr_engine_req_query(r, "stream", "1");
    brr_engine_req_query(r, "logs", o->logs ? "1" : "0");
  } else {
    brr_engine_req_http(r, "GET", o->follow ? BRR_TO_STREAM : BRR_TO_TRANSFER, BRR_BODY_MUX,
                        "/containers/%s/logs", SAFE(id));
    brr_engine_req_query(r, "follow", o->follow ? "1" : "0");
  }
  brr_engine_req_query(r, "stdout", o->no_stdout ? "0" : "1");
  brr_engine_req_query(r, "stderr", o->no_stderr ? "0" : "1");
  r->mux.raw = tty;
  r->on_output = o->on_output;
  r->on_open = o->on_open;
  return r;
}

typedef struct stream_op {
  char *id;
  brr_engine_stream_opts o;
  bool attach;
  bool inspected;    /* the first step (inspect) is over */
} stream_op;

static void stream_op_free(void *p) {
  stream_op *s = p;
  free(s->id);
  free(s);
}

/* tty unknown: inspect first, then attach/read with the right decoder */
static void stream_step(brr_engine_req *r, brr_engine_req *child, const brr_engine_result *res) {
  (void)child;
  stream_op *s = r->op;
  if (r->cancelled || res->status || s->inspected) {
    brr_engine_req_take_result(r, res);
    if (r->cancelled && !r->status) brr_engine_req_error(r, BRR_ECANCELED, "cancelled");
    brr_engine_req_finish(r);
    return;
  }
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(res->json, "Config");
  bool tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "Tty"));
  s->inspected = true;
  brr_engine_req_adopt(r, mk_stream(r->e, s->id, &s->o, s->attach, tty, NULL, r->sink_ud));
}

static brr_engine_req *stream(brr_engine *e, const char *id, const brr_engine_stream_opts *o,
                              bool attach, brr_engine_cb cb, void *ud) {
  static const brr_engine_stream_opts none = {.tty = -1};
  if (!o) o = &none;
  if (o->tty >= 0) return brr_engine_req_submit(mk_stream(e, id, o, attach, o->tty > 0, cb, ud));
  brr_engine_req *r = id_req(e, attach ? "attach to container" : "read container logs", id, cb, ud);
  if (r->status || e->freeing) return brr_engine_req_submit(r);
  stream_op *s = brr_xcalloc(1, sizeof *s);
  s->id = brr_xstrdup(id);
  s->o = *o;
  s->attach = attach;
  r->op = s;
  r->op_free = stream_op_free;
  r->child_done = stream_step;
  brr_engine_req *c = brr_engine_req_new(e, "inspect container", NULL, NULL);
  brr_engine_req_http(c, "GET", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s/json", id);
  brr_engine_req_adopt(r, c);
  return r;
}

brr_engine_req *brr_engine_container_attach(brr_engine *e, const char *id,
                                            const brr_engine_stream_opts *o,
                                            brr_engine_cb cb, void *ud) {
  return stream(e, id, o, true, cb, ud);
}

brr_engine_req *brr_engine_container_logs(brr_engine *e, const char *id,
                                          const brr_engine_stream_opts *o, brr_engine_cb cb,
                                          void *ud) {
  return stream(e, id, o, false, cb, ud);
}

brr_engine_req *brr_engine_container_stop(brr_engine *e, const char *id, int grace_s,
                                          brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "stop container", id, cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s/stop", SAFE(id));
  if (grace_s < 0) grace_s = 0;
  char t[24];
  snprintf(t, sizeof t, "%d", grace_s);
  brr_engine_req_query(r, "t", t);
  r->extra_ms = (long)grace_s * 1000;
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_container_kill(brr_engine *e, const char *id, const char *sig,
                                          brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "kill container", id, cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s/kill", SAFE(id));
  brr_engine_req_query(r, "signal", sig ? sig : "SIGKILL");
  return brr_engine_req_submit(r);
}

static void removed_container(brr_engine_req *r) {
  if (r->status == 0 || r->status == BRR_ENOENT) brr_engine_untrack(r->e, BRR_ENGINE_CONTAINER, r->op);
}

brr_engine_req *brr_engine_container_remove(brr_engine *e, const char *id, bool force,
                                            bool volumes, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "remove container", id, cb, ud);
  brr_engine_req_http(r, "DELETE", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s", SAFE(id));
  brr_engine_req_query(r, "force", force ? "1" : "0");
  brr_engine_req_query(r, "v", volumes ? "1" : "0");
  r->op = brr_xstrdup(SAFE(id));
  r->op_free = free;
  r->post = removed_container;
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_container_inspect(brr_engine *e, const char *id,
                                             brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "inspect container", id, cb, ud);
  brr_engine_req_http(r, "GET", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s/json", SAFE(id));
  return brr_engine_req_submit(r);
}

/* ---- archives and commit ---------------------------------------------------------------------------- */

brr_engine_req *brr_engine_container_archive_get(brr_engine *e, const char *id,
                                                 const char *path, brr_engine_data_cb on_data,
                                                 brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "copy from container", id, cb, ud);
  brr_engine_req_http(r, "GET", BRR_TO_TRANSFER, BRR_BODY_DATA, "/containers/%s/archive",
                      SAFE(id));
  if (!path || !*path) brr_engine_req_error(r, BRR_EINVAL, "no path given");
  if (!on_data) brr_engine_req_error(r, BRR_EINVAL, "no data callback given");
  brr_engine_req_query(r, "path", path);
  r->on_data = on_data;
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_container_archive_stat(brr_engine *e, const char *id,
                                                  const char *path, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "stat in container", id, cb, ud);
  brr_engine_req_http(r, "HEAD", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s/archive", SAFE(id));
  if (!path || !*path) brr_engine_req_error(r, BRR_EINVAL, "no path given");
  brr_engine_req_query(r, "path", path);
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_container_archive_put(brr_engine *e, const char *id,
                                                 const char *path, const brr_engine_body *body,
                                                 brr_engine_cb cb, void *ud) {
  brr_engine_req *r = id_req(e, "copy into container", id, cb, ud);
  brr_engine_req_http(r, "PUT", BRR_TO_TRANSFER, BRR_BODY_JSON, "/containers/%s/archive",
                      SAFE(id));
  if (!path || !*path) brr_engine_req_error(r, BRR_EINVAL, "no path given");
  if (!brr_engine_body_ok(body)) {
    brr_engine_req_error(r, BRR_EINVAL, "the body needs exactly one of data, path or read");
  } else {
    r->body = *body;
    r->has_body = true;
  }
  brr_engine_req_query(r, "path", path);
  brr_engine_req_header(r, "Content-Type: application/x-tar");
  return brr_engine_req_submit(r);
}

static void committed(brr_engine_req *r) { brr_engine_req_take_id(r, "Id", BRR_ENGINE_IMAGE); }

brr_engine_req *brr_engine_container_commit(brr_engine *e, const char *id,
                                            const brr_engine_commit_opts *o,
                                            brr_engine_cb cb, void *ud) {
  static const brr_engine_commit_opts none = {0};
  if (!o) o = &none;
  brr_engine_req *r = id_req(e, "commit container", id, cb, ud);
  /* committing writes layers and answers at the end: a transfer, limited by idleness */
  brr_engine_req_http(r, "POST", BRR_TO_TRANSFER, BRR_BODY_JSON, "/commit");
  brr_engine_req_query(r, "container", SAFE(id));
  brr_engine_req_query(r, "repo", o->repo);
  brr_engine_req_query(r, "tag", o->tag);
  brr_engine_req_query(r, "comment", o->comment);
  brr_engine_req_query(r, "author", o->author);
  brr_engine_req_query(r, "pause", o->pause ? "1" : "0");
  for (const char *const *c = o->changes; c && *c; c++) brr_engine_req_query(r, "changes", *c);
  cJSON *cfg = cJSON_CreateObject();
  /* no labels of brr's: the engine merges in the container's own */
  cJSON *labels = cJSON_CreateObject();
  brr_engine_kv_into(labels, o->labels, false);
  cJSON_AddItemToObject(cfg, "Labels", labels);
  brr_engine_req_json_body(r, cfg);
  r->post = committed;
  return brr_engine_req_submit(r);
}
