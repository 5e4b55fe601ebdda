/* Making a run or service image available (spec §5 "How pull works"): look at what is there,
 * pull when asked to (at most once per build and reference) or when it is missing, never pull
 * an image id, then hand back the inspect document (systemd labels are read from it). */
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

static void inspect(brr_run_image *op);

static void finish(brr_run_image *op, int status, const char *error, const cJSON *json) {
  op->req = NULL;
  brr_run_image_cb cb = op->cb;
  op->cb = NULL;
  cb(op->ud, op->cancelled ? BRR_ECANCELED : status, error, json);
}

/* An image id (or an id prefix) names a local image: there is nothing to pull. */
static bool names_id(const brr_run_image *op, const cJSON *json) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "Id");
  if (!cJSON_IsString(id)) return false;
  const char *v = id->valuestring;
  return !strcmp(v, op->ref) || (brr_startswith(v, "sha256:") && brr_startswith(v + 7, op->ref));
}

static void on_pull(void *ud, const brr_engine_result *res) {
  brr_run_image *op = ud;
  op->req = NULL;
  if (op->cancelled || res->status != 0) {
    finish(op, res->status, res->error, NULL);
    return;
  }
  brr_run_mark_pulled(op->rt, op->ref, op->platform);
  op->pulled = true;
  inspect(op);
}

static void pull(brr_run_image *op) {
  brr_task_log(op->task, BRR_LOG_INFO, "Pulling image %s%s%s", op->ref,
               op->platform ? " for " : "", op->platform ? op->platform : "");
  op->req = brr_engine_image_pull(brr_rt_task_engine(op->rt, op->task), op->ref, op->platform, NULL, NULL, on_pull, op);
}

static void on_inspect(void *ud, const brr_engine_result *res) {
  brr_run_image *op = ud;
  op->req = NULL;
  if (op->cancelled) {
    finish(op, BRR_ECANCELED, NULL, NULL);
    return;
  }
  if (op->pulled || (res->status == 0 && names_id(op, res->json))) {
    finish(op, res->status, res->error, res->json);
    return;
  }
  if (res->status == BRR_ENOENT || (res->status == 0 && op->pull &&
                                    !brr_run_pulled(op->rt, op->ref, op->platform))) {
    pull(op);
    return;
  }
  finish(op, res->status, res->error, res->json);
}

static void inspect(brr_run_image *op) {
  op->req = brr_engine_image_inspect(brr_rt_task_engine(op->rt, op->task), op->ref, on_inspect, op);
}

void brr_run_image_start(brr_run_image *op, brr_runtime *rt, brr_task *t, const char *ref,
                         const char *platform, bool pull_it, brr_run_image_cb cb, void *ud) {
  free(op->ref);
  free(op->platform);
  memset(op, 0, sizeof *op);
  op->rt = rt;
  op->task = t;
  op->ref = brr_xstrdup(ref);
  op->platform = platform ? brr_xstrdup(platform) : NULL;
  op->pull = pull_it;
  op->cb = cb;
  op->ud = ud;
  inspect(op);
}

void brr_run_image_cancel(brr_run_image *op) {
  if (!op->cb) return;
  op->cancelled = true;
  if (op->req) brr_engine_cancel(op->req);
}

bool brr_run_image_busy(const brr_run_image *op) { return op->cb != NULL; }
