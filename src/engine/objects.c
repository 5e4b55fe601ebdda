/* Networks, volumes and listing by label. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static brr_engine_req *name_req(brr_engine *e, const char *what, const char *name,
                                brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, what, cb, ud);
  if (!brr_engine_name_ok(name))
    brr_engine_req_error(r, BRR_EINVAL, "bad name '%s'", name ? name : "(null)");
  return r;
}

#define SAFE(s) ((s) ? (s) : "")

/* ---- networks --------------------------------------------------------------------------------- */

static void network_created(brr_engine_req *r) { brr_engine_req_take_id(r, "Id", BRR_ENGINE_NETWORK); }

brr_engine_req *brr_engine_network_create(brr_engine *e, const char *name,
                                          const char *const *labels, brr_engine_cb cb,
                                          void *ud) {
  brr_engine_req *r = name_req(e, "create network", name, cb, ud);
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/networks/create");
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "Name", SAFE(name));
  /* the engine would otherwise happily make a second network of the same name */
  cJSON_AddBoolToObject(b, "CheckDuplicate", true);
  cJSON_AddStringToObject(b, "Driver", "bridge");
  cJSON_AddItemToObject(b, "Labels", brr_engine_labels_json(e, labels));
  brr_engine_req_json_body(r, b);
  r->post = network_created;
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_network_connect(brr_engine *e, const char *net,
                                           const char *container, const char *const *aliases,
                                           brr_engine_cb cb, void *ud) {
  brr_engine_req *r = name_req(e, "connect to network", net, cb, ud);
  if (!brr_engine_name_ok(container))
    brr_engine_req_error(r, BRR_EINVAL, "bad container '%s'", SAFE(container));
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/networks/%s/connect", SAFE(net));
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "Container", SAFE(container));
  cJSON *ep = cJSON_AddObjectToObject(b, "EndpointConfig");
  if (aliases) cJSON_AddItemToObject(ep, "Aliases", brr_engine_strv_json(aliases));
  brr_engine_req_json_body(r, b);
  return brr_engine_req_submit(r);
}

brr_engine_req *brr_engine_network_disconnect(brr_engine *e, const char *net,
                                              const char *container, bool force,
                                              brr_engine_cb cb, void *ud) {
  brr_engine_req *r = name_req(e, "disconnect from network", net, cb, ud);
  if (!brr_engine_name_ok(container))
    brr_engine_req_error(r, BRR_EINVAL, "bad container '%s'", SAFE(container));
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/networks/%s/disconnect",
                      SAFE(net));
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "Container", SAFE(container));
  cJSON_AddBoolToObject(b, "Force", force);
  brr_engine_req_json_body(r, b);
  return brr_engine_req_submit(r);
}

static void untrack_op(brr_engine_req *r, brr_engine_kind kind) {
  if (r->status == 0 || r->status == BRR_ENOENT) brr_engine_untrack(r->e, kind, r->op);
}

static void network_removed(brr_engine_req *r) { untrack_op(r, BRR_ENGINE_NETWORK); }

brr_engine_req *brr_engine_network_remove(brr_engine *e, const char *net, brr_engine_cb cb,
                                          void *ud) {
  brr_engine_req *r = name_req(e, "remove network", net, cb, ud);
  brr_engine_req_http(r, "DELETE", BRR_TO_CALL, BRR_BODY_JSON, "/networks/%s", SAFE(net));
  r->op = brr_xstrdup(SAFE(net));
  r->op_free = free;
  r->post = network_removed;
  return brr_engine_req_submit(r);
}

/* ---- volumes ------------------------------------------------------------------------------------ */

static void volume_created(brr_engine_req *r) { brr_engine_req_take_id(r, "Name", BRR_ENGINE_VOLUME); }

brr_engine_req *brr_engine_volume_create(brr_engine *e, const char *name,
                                         const char *const *labels, brr_engine_cb cb,
                                         void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "create volume", cb, ud);
  if (name && !brr_engine_name_ok(name))
    brr_engine_req_error(r, BRR_EINVAL, "bad volume name '%s'", name);
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/volumes/create");
  cJSON *b = cJSON_CreateObject();
  if (name) cJSON_AddStringToObject(b, "Name", name);
  cJSON_AddItemToObject(b, "Labels", brr_engine_labels_json(e, labels));
  brr_engine_req_json_body(r, b);
  r->post = volume_created;
  return brr_engine_req_submit(r);
}

static void volume_removed(brr_engine_req *r) { untrack_op(r, BRR_ENGINE_VOLUME); }

brr_engine_req *brr_engine_volume_remove(brr_engine *e, const char *name, bool force,
                                         brr_engine_cb cb, void *ud) {
  brr_engine_req *r = name_req(e, "remove volume", name, cb, ud);
  brr_engine_req_http(r, "DELETE", BRR_TO_CALL, BRR_BODY_JSON, "/volumes/%s", SAFE(name));
  brr_engine_req_query(r, "force", force ? "1" : "0");
  r->op = brr_xstrdup(SAFE(name));
  r->op_free = free;
  r->post = volume_removed;
  return brr_engine_req_submit(r);
}

/* ---- listing ----------------------------------------------------------------------------------------- */

static void listed_volumes(brr_engine_req *r) {
  if (r->status) return;
  /* the engine wraps volumes in {"Volumes": [...], "Warnings": ...}; give the array alone */
  cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(r->json, "Volumes");
  cJSON_Delete(r->json);
  r->json = cJSON_IsArray(v) ? v : (cJSON_Delete(v), cJSON_CreateArray());
}

char *brr_engine_label_filter(const brr_engine *e, const char *label) {
  cJSON *f = cJSON_CreateObject();
  cJSON *l = cJSON_AddArrayToObject(f, "label");
  char *own = label ? NULL : brr_xasprintf("%s=%s", BRR_ENGINE_LABEL_RUN, e->run_id);
  cJSON_AddItemToArray(l, cJSON_CreateString(label ? label : own));
  free(own);
  char *s = cJSON_PrintUnformatted(f);
  cJSON_Delete(f);
  char *out = brr_xstrdup(s);
  cJSON_free(s);
  return out;
}

const char *brr_engine_list_path(brr_engine_kind kind) {
  switch (kind) {
  case BRR_ENGINE_CONTAINER: return "/containers/json";
  case BRR_ENGINE_NETWORK: return "/networks";
  case BRR_ENGINE_VOLUME: return "/volumes";
  case BRR_ENGINE_IMAGE: return "/images/json";
  default: return NULL;
  }
}

brr_engine_req *brr_engine_list(brr_engine *e, brr_engine_kind kind, const char *label,
                                brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "list objects", cb, ud);
  const char *path = brr_engine_list_path(kind);
  if (!path) {
    brr_engine_req_error(r, BRR_EINVAL, "unknown kind %d", (int)kind);
    return brr_engine_req_submit(r);
  }
  brr_engine_req_http(r, "GET", BRR_TO_CALL, BRR_BODY_JSON, "%s", path);
  if (kind == BRR_ENGINE_CONTAINER) brr_engine_req_query(r, "all", "1");
  char *filter = brr_engine_label_filter(e, label);
  brr_engine_req_query(r, "filters", filter);
  free(filter);
  if (kind == BRR_ENGINE_VOLUME) r->post = listed_volumes;
  return brr_engine_req_submit(r);
}
