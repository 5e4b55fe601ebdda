/* Exec: create, start (the output stream), inspect, and exec run, which chains the three and
 * reports the command's exit code. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void exec_created(brr_engine_req *r) { brr_engine_req_take_id(r, "Id", -1); }

static brr_engine_req *mk_create(brr_engine *e, const char *container,
                                 const brr_engine_exec_spec *s, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "create exec", cb, ud);
  if (!brr_engine_name_ok(container))
    brr_engine_req_error(r, BRR_EINVAL, "bad container id '%s'", container ? container : "(null)");
  if (!s || !s->cmd || !s->cmd[0]) brr_engine_req_error(r, BRR_EINVAL, "no command given");
  brr_engine_req_http(r, "POST", BRR_TO_CALL, BRR_BODY_JSON, "/containers/%s/exec",
                      container ? container : "");
  if (r->status) return r;
  cJSON *b = cJSON_CreateObject();
  cJSON_AddBoolToObject(b, "AttachStdout", true);
  cJSON_AddBoolToObject(b, "AttachStderr", true);
  cJSON_AddBoolToObject(b, "Tty", s->tty);
  cJSON_AddItemToObject(b, "Cmd", brr_engine_strv_json(s->cmd));
  if (s->env) cJSON_AddItemToObject(b, "Env", brr_engine_strv_json(s->env));
  if (s->working_dir) cJSON_AddStringToObject(b, "WorkingDir", s->working_dir);
  if (s->user) cJSON_AddStringToObject(b, "User", s->user);
  if (s->privileged) cJSON_AddBoolToObject(b, "Privileged", true);
  brr_engine_req_json_body(r, b);
  r->post = exec_created;
  return r;
}

static brr_engine_req *mk_start(brr_engine *e, const char *exec_id, bool tty,
                                brr_engine_output_cb on_output, brr_engine_cb cb, void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "run exec", cb, ud);
  if (!brr_engine_name_ok(exec_id))
    brr_engine_req_error(r, BRR_EINVAL, "bad exec id '%s'", exec_id ? exec_id : "(null)");
  brr_engine_req_http(r, "POST", BRR_TO_STREAM, BRR_BODY_MUX, "/exec/%s/start",
                      exec_id ? exec_id : "");
  cJSON *b = cJSON_CreateObject();
  cJSON_AddBoolToObject(b, "Detach", false);
  cJSON_AddBoolToObject(b, "Tty", tty);
  brr_engine_req_json_body(r, b);
  r->mux.raw = tty;
  r->on_output = on_output;
  return r;
}

static void exec_inspected(brr_engine_req *r) {
  if (r->status) return;
  const cJSON *running = cJSON_GetObjectItemCaseSensitive(r->json, "Running");
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(r->json, "ExitCode");
  if (!cJSON_IsTrue(running) && cJSON_IsNumber(code)) r->exit_code = (int64_t)code->valuedouble;
}

static brr_engine_req *mk_inspect(brr_engine *e, const char *exec_id, brr_engine_cb cb,
                                  void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "inspect exec", cb, ud);
  if (!brr_engine_name_ok(exec_id))
    brr_engine_req_error(r, BRR_EINVAL, "bad exec id '%s'", exec_id ? exec_id : "(null)");
  brr_engine_req_http(r, "GET", BRR_TO_CALL, BRR_BODY_JSON, "/exec/%s/json",
                      exec_id ? exec_id : "");
  r->post = exec_inspected;
  return r;
}

brr_engine_req *brr_engine_exec_inspect(brr_engine *e, const char *exec_id,
                                        brr_engine_cb cb, void *ud) {
  return brr_engine_req_submit(mk_inspect(e, exec_id, cb, ud));
}

/* ---- exec run ------------------------------------------------------------------------------- */

/* The engine records the exit code a moment after the output stream ends; poll for it. */
enum { POLL_MS = 20, POLL_MAX = 500 };

typedef struct run_op {
  char *exec_id;
  bool tty;
  brr_engine_output_cb on_output;
  int phase;          /* 0 create, 1 start, 2 inspect */
  int polls;
} run_op;

static void run_op_free(void *p) {
  run_op *o = p;
  free(o->exec_id);
  free(o);
}

static void poll_again(brr_engine_req *r) {
  run_op *o = r->op;
  brr_engine_req_adopt(r, mk_inspect(r->e, o->exec_id, NULL, NULL));
}

static void run_step(brr_engine_req *r, brr_engine_req *child, const brr_engine_result *res) {
  (void)child;
  run_op *o = r->op;
  if (r->cancelled || res->status) {
    brr_engine_req_take_result(r, res);
    if (r->cancelled && !r->status) brr_engine_req_error(r, BRR_ECANCELED, "cancelled");
    brr_engine_req_finish(r);
    return;
  }
  switch (o->phase) {
  case 0:
    o->exec_id = brr_xstrdup(res->id);
    r->id = brr_xstrdup(res->id);
    o->phase = 1;
    brr_engine_req_adopt(r, mk_start(r->e, o->exec_id, o->tty, o->on_output, NULL, r->sink_ud));
    return;
  case 1:
    o->phase = 2;
    poll_again(r);
    return;
  default:
    if (res->exit_code >= 0) {
      r->exit_code = res->exit_code;
      brr_engine_req_finish(r);
    } else if (++o->polls < POLL_MAX) {
      brr_engine_req_after(r, POLL_MS, poll_again);
    } else {
      brr_engine_req_error(r, BRR_ETIMEOUT, "the engine never reported the exit code");
      brr_engine_req_finish(r);
    }
  }
}

brr_engine_req *brr_engine_exec_run(brr_engine *e, const char *container,
                                    const brr_engine_exec_spec *spec, brr_engine_cb cb,
                                    void *ud) {
  brr_engine_req *r = brr_engine_req_new(e, "exec", cb, ud);
  if (e->freeing) return brr_engine_req_submit(r);
  brr_engine_req *c = mk_create(e, container, spec, NULL, NULL);
  run_op *o = brr_xcalloc(1, sizeof *o);
  o->tty = spec && spec->tty;
  o->on_output = spec ? spec->on_output : NULL;
  r->op = o;
  r->op_free = run_op_free;
  r->child_done = run_step;
  brr_engine_req_adopt(r, c);
  return r;
}
