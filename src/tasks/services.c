/* Services of a run step (spec §9.1): a network and a /source volume for the step, then each
 * service in config order, fully up (its wait_for ports answering) before the next starts.
 * Every service is reachable on the step network by its name and its hostname.
 *
 * wait_for connects from brr itself to the service's address on the step network (the host
 * reaches bridge networks directly); buildrunner starts a busybox `nc` container per second
 * of waiting instead. */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_internal.h"
#include "run_internal.h"

/* ---- the plan: names, container plans, build inputs, volumes_from ---- */

static int check_volumes_from(brr_run_task *r, const brr_runlike *c, size_t n_known, brr_diags *d) {
  brr_run_strv out = {0};
  int rc = brr_run_map_volumes_from(r, c, n_known, &out, d);
  brr_run_strv_free(&out);
  return rc;
}

int brr_run_services_plan(brr_run_task *r, brr_diags *d) {
  const brr_run *run = r->run;
  const char *step_id = r->rt->steps[r->step].id;
  r->svcs = brr_xcalloc(run->n_services + 1, sizeof *r->svcs);
  int rc = 0;
  for (size_t i = 0; i < run->n_services; i++) {
    const brr_service *s = &run->services[i];
    brr_run_svc *v = &r->svcs[r->n_svcs++];
    v->r = r;
    v->cfg = s;
    v->name = brr_xasprintf("%s-%s", step_id, s->name.s);
    v->source = brr_xasprintf("service-%s", s->name.s);
    if (brr_run_plan_make(r->rt, r->step, &s->c, s->name.s, NULL, &v->plan, d) != 0) rc = BRR_ECONFIG;
    /* a service may only take volumes from the ones started before it */
    if (check_volumes_from(r, &s->c, i, d) != 0) rc = BRR_ECONFIG;
    if (s->build) {
      char *label = brr_xasprintf("%s (service %s)", r->s->name.s, s->name.s);
      if (brr_build_inputs_resolve(s->build, r->rt->cfg->build_dir, label, &v->inputs, d) != 0)
        rc = BRR_ECONFIG;
      else
        v->built = true;
      free(label);
    }
  }
  if (check_volumes_from(r, &run->c, r->n_svcs, d) != 0) rc = BRR_ECONFIG;
  return rc;
}

int brr_run_map_volumes_from(const brr_run_task *r, const brr_runlike *c, size_t n_known,
                             brr_run_strv *out, brr_diags *d) {
  const char **names = brr_xcalloc(n_known + 1, sizeof *names);
  const char **containers = brr_xcalloc(n_known + 1, sizeof *containers);
  for (size_t i = 0; i < n_known; i++) {
    names[i] = r->svcs[i].cfg->name.s;
    containers[i] = r->svcs[i].name;
  }
  int rc = 0;
  for (size_t i = 0; i < c->volumes_from.n; i++) {
    const brr_str *e = &c->volumes_from.v[i];
    char *m = brr_run_volumes_from(e->s, names, containers, n_known);
    if (!m) {
      brr_diag_error(d, e->mark, NULL, "\"volumes_from\" configuration \"%s\" does not reference "
                     "a valid service container", e->s);
      rc = BRR_ECONFIG;
      continue;
    }
    brr_run_strv_add(out, "%s", m);
    free(m);
  }
  free(names);
  free(containers);
  return rc;
}

const char *brr_run_service_ip(const brr_run_task *r, const char *name) {
  for (size_t i = 0; i < r->n_svcs; i++)
    if (r->svcs[i].ip && brr_streq(r->svcs[i].cfg->name.s, name)) return r->svcs[i].ip;
  return NULL;
}

void brr_run_resolve_hosts(const brr_run_task *r, const brr_runlike *c, brr_run_strv *dns,
                           brr_run_strv *extra_hosts) {
  for (size_t i = 0; i < c->dns.n; i++) {
    const char *ip = brr_run_service_ip(r, c->dns.v[i].s);
    brr_run_strv_add(dns, "%s", ip ? ip : c->dns.v[i].s);
  }
  for (size_t i = 0; i < c->extra_hosts.n; i++) {
    const char *to = brr_val_cstr(c->extra_hosts.v[i].val);
    if (!to) continue;
    const char *ip = brr_run_service_ip(r, to);
    brr_run_strv_add(extra_hosts, "%s:%s", c->extra_hosts.v[i].key.s, ip ? ip : to);
  }
}

/* ---- shell provisioners (run container and services) ---- */

typedef struct provision_ctx {
  brr_run_task *r;
  const char *container;
  const char *source;  /* output source: NULL (the run container) or service-<name> */
  const brr_run_plan *p;
  size_t *index;
  void (*done)(brr_run_task *r);
  char *tar;         /* the script as a one-file tar */
  size_t tar_len;
} provision_ctx;

static void provision_step(provision_ctx *x);

static la_ssize_t tar_write(struct archive *a, void *ud, const void *buf, size_t n) {
  (void)a;
  brr_buf_append(ud, buf, n);
  return (la_ssize_t)n;
}

/* A one-entry tar holding the script, executable, for PUT at /tmp. */
static char *script_tar(const brr_run_script *s, size_t *len) {
  brr_buf out = BRR_BUF_INIT;
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, NULL, tar_write, NULL);
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, s->name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0755);
  archive_entry_set_size(e, (la_int64_t)s->len);
  archive_entry_set_mtime(e, (time_t)(brr_wall_ms() / 1000), 0);
  archive_write_header(a, e);
  archive_write_data(a, s->data, s->len);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  *len = out.len;
  return brr_buf_detach(&out);
}

static void script_output(void *ud, int stream, const char *data, size_t len) {
  provision_ctx *x = ud;
  brr_task_output(x->r->task, x->source, stream, data, len);
}

static void on_script_ran(void *ud, const brr_engine_result *res) {
  provision_ctx *x = ud;
  brr_run_task *r = x->r;
  if (!brr_run_ok(r, res)) {
    free(x);
    return;
  }
  if (res->exit_code != 0) {
    free(x);
    brr_run_fail(r, BRR_EFAILED, false, "Shell provisioner failed (exit code %lld)",
                 (long long)res->exit_code);
    return;
  }
  (*x->index)++;
  provision_step(x);
}

static void on_script_put(void *ud, const brr_engine_result *res) {
  provision_ctx *x = ud;
  brr_run_task *r = x->r;
  free(x->tar);
  x->tar = NULL;
  if (!brr_run_ok(r, res)) {
    free(x);
    return;
  }
  const brr_run_script *s = &x->p->scripts[*x->index];
  char *path = brr_xasprintf("/tmp/%s ", s->name);
  const char *argv[] = {x->p->shell ? x->p->shell : BRR_RUN_DEFAULT_SHELL, "-xc", path, NULL};
  brr_engine_exec_spec ex = {.cmd = argv, .on_output = script_output};
  r->req = brr_engine_exec_run(brr_rt_engine(r->rt, r->step), x->container, &ex, on_script_ran, x);
  free(path);
}

static void provision_step(provision_ctx *x) {
  brr_run_task *r = x->r;
  if (*x->index >= x->p->n_scripts) {
    void (*done)(brr_run_task *) = x->done;
    free(x);
    done(r);
    return;
  }
  const brr_run_script *s = &x->p->scripts[*x->index];
  brr_task_log(r->task, BRR_LOG_INFO, "Running shell provisioner %s", s->name);
  x->tar = script_tar(s, &x->tar_len);
  brr_engine_body body = {.data = x->tar, .len = x->tar_len};
  r->req = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), x->container, "/tmp", &body,
                                            on_script_put, x);
}

void brr_run_provision(brr_run_task *r, const char *container, const char *source,
                       const brr_run_plan *p, size_t *index, void (*done)(brr_run_task *r)) {
  provision_ctx *x = brr_xcalloc(1, sizeof *x);
  x->r = r;
  x->container = container;
  x->source = source;
  x->p = p;
  x->index = index;
  x->done = done;
  provision_step(x);
}

/* ---- network and volume ---- */

static void on_volume(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (res->status == 0) r->volume_made = true;
  if (brr_run_ok(r, res)) brr_run_next(r);
}

static void on_network(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (res->status == 0) r->network_made = true;
  if (!brr_run_ok(r, res)) return;
  r->volume = brr_xasprintf("%s-source", r->rt->steps[r->step].id);
  r->req = brr_engine_volume_create(brr_rt_engine(r->rt, r->step), r->volume, NULL, on_volume, r);
}

void brr_run_stage_network(brr_run_task *r) {
  if (r->n_svcs == 0) {
    brr_run_next(r);
    return;
  }
  r->network = brr_xasprintf("%s-network", r->rt->steps[r->step].id);
  brr_task_log(r->task, BRR_LOG_INFO, "Creating network %s", r->network);
  r->req = brr_engine_network_create(brr_rt_engine(r->rt, r->step), r->network, NULL, on_network, r);
}

static void on_net_removed(void *ud, const brr_engine_result *res);

static void remove_next_net(brr_run_task *r) {
  if (!r->base.aborted && r->network_made) {
    r->network_made = false;
    r->req = brr_engine_network_remove(brr_rt_engine(r->rt, r->step), r->network, on_net_removed, r);
    return;
  }
  if (!r->base.aborted && r->volume_made) {
    r->volume_made = false;
    r->req = brr_engine_volume_remove(brr_rt_engine(r->rt, r->step), r->volume, true, on_net_removed, r);
    return;
  }
  brr_run_next(r);
}

static void on_net_removed(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  if (res->status != 0 && res->status != BRR_ENOENT && res->status != BRR_ECANCELED)
    brr_task_log(r->task, BRR_LOG_WARNING, "%s", res->error ? res->error : "removal failed");
  remove_next_net(r);
}

void brr_run_stage_network_down(brr_run_task *r) { remove_next_net(r); }

/* ---- one service: image, container, /source, start, output, address, wait_for ---- */

enum { SVC_IMAGE, SVC_INSPECT, SVC_CREATE, SVC_PUT, SVC_START, SVC_PROVISION, SVC_OUTPUT,
       SVC_ADDRESS, SVC_WAIT, SVC_DONE };

static void svc_step(brr_run_task *r);

static void svc_next(brr_run_task *r) {
  r->svc_sub++;
  svc_step(r);
}

static brr_run_svc *cur(brr_run_task *r) { return &r->svcs[r->svc_i]; }

static void svc_output(void *ud, int stream, const char *data, size_t len) {
  brr_run_svc *v = ud;
  brr_task_output(v->r->task, v->source, stream, data, len);
}

/* A service build's output (ud is the run task, as for on_built). */
static void on_svc_progress(void *ud, const brr_engine_progress *p) {
  brr_run_task *r = ud;
  if (p->stream) svc_output(cur(r), BRR_ENGINE_STDOUT, p->stream, strlen(p->stream));
}

static void on_svc_ok(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (brr_run_ok(r, res)) svc_next(r);
}

static void on_built(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (r->build_ctx) {
    unlink(r->build_ctx);
    free(r->build_ctx);
    r->build_ctx = NULL;
  }
  if (res->status == 0 && res->id) {
    brr_runtime_set(&cur(r)->image, res->id);
    brr_runtime_generated(r->rt, res->id);
    brr_task_log(r->task, BRR_LOG_INFO, "Built image %s for service \"%s\"", res->id, cur(r)->cfg->name.s);
  }
  if (!brr_run_ok(r, res)) return;
  svc_next(r);
}

static void svc_build(brr_run_task *r) {
  brr_run_svc *v = cur(r);
  const brr_build *b = v->cfg->build;
  brr_diags d = BRR_DIAGS_INIT;
  char *dockerfile = NULL;
  r->build_ctx = brr_xasprintf("%s/service-%s-%s.tar", r->rt->temp_dir, r->rt->steps[r->step].id,
                               v->cfg->name.s);
  if (brr_build_context_tar(&v->inputs, r->build_ctx, &dockerfile, &d) != 0) {
    bool config = brr_diags_exit_code(&d) == BRR_EXIT_CONFIG;
    brr_run_fail(r, config ? BRR_ECONFIG : BRR_EIO, config, "service %s: %s", v->cfg->name.s,
                 d.n ? d.v[0].msg : "cannot make the build context");
    brr_diags_free(&d);
    return;
  }
  brr_diags_free(&d);
  char **args = brr_build_args(b, r->rt->cfg->global.docker_registry);
  brr_engine_build_opts o = {0};
  o.dockerfile = dockerfile;
  o.buildargs = (const char *const *)args;
  o.target = b->target.s;
  o.platform = b->platform.s;
  o.nocache = b->no_cache;
  o.pull = brr_build_should_pull(r->rt, b);
  brr_engine_body body = {.path = r->build_ctx};
  brr_task_log(r->task, BRR_LOG_INFO, "Building image for service \"%s\"", v->cfg->name.s);
  r->req = brr_engine_image_build(brr_rt_engine(r->rt, r->step), &o, &body, on_svc_progress, on_built, r);
  brr_strv_free(args);
  free(dockerfile);
}

static void on_svc_image(void *ud, int status, const char *error, const cJSON *inspect) {
  brr_run_task *r = ud;
  brr_run_svc *v = cur(r);
  if (status == BRR_ECANCELED || r->base.cancelled) {
    brr_run_next(r);
    return;
  }
  if (status != 0) {
    brr_run_fail(r, status == BRR_ENOENT ? BRR_EIO : status, false,
                 "service %s: image %s: %s", v->cfg->name.s, v->image, error ? error : "not found");
    return;
  }
  const brr_runlike *c = &v->cfg->c;
  v->systemd = c->systemd != BRR_UNSET ? c->systemd == BRR_TRUE
                                        : brr_run_label_truthy(inspect, "BUILDRUNNER_SYSTEMD");
  if (v->systemd)
    v->cgroup2 = c->systemd_cgroup2 != BRR_UNSET
                     ? c->systemd_cgroup2 == BRR_TRUE
                     : brr_run_label_truthy(inspect, "BUILDRUNNER_SYSTEMD_CGROUP2");
  if (v->cgroup2 && access("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0) {
    brr_run_fail(r, BRR_EFAILED, false, "cgroup v2 is not enabled on this host but is set on "
                 "the container, please check configuration");
    return;
  }
  svc_next(r);
}

static void svc_inspect_image(brr_run_task *r) {
  brr_run_svc *v = cur(r);
  bool pull = false;
  if (!v->built) {
    /* a service pulls unless it says otherwise (buildrunner: the run step's `pull` when the
     * service sets one, which reads as a slip) */
    for (char *p = v->image; *p; p++) *p = (char)tolower((unsigned char)*p);
    pull = !r->rt->opts.local_images && v->cfg->c.pull != BRR_FALSE;
  }
  brr_task_log(r->task, BRR_LOG_INFO, "Creating service container \"%s\" from image \"%s\"",
               v->cfg->name.s, v->image);
  brr_run_image_start(&r->img, r->rt, r->task, v->image, r->platform, pull, on_svc_image, r);
}

static void on_svc_created(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (res->status == 0 && res->id) cur(r)->id = brr_xstrdup(res->id);
  if (brr_run_ok(r, res)) svc_next(r);
}

static void svc_create(brr_run_task *r) {
  brr_run_svc *v = cur(r);
  const brr_runlike *c = &v->cfg->c;
  brr_run_strv binds = {0}, vf = {0}, dns = {0}, hosts = {0}, labels = {0}, tmpfs = {0};
  for (size_t i = 0; i < v->plan.binds.n; i++) brr_run_strv_add(&binds, "%s", v->plan.binds.v[i]);
  brr_run_strv_add(&binds, "%s:%s", r->volume, BRR_RUN_SOURCE_DIR);
  brr_engine_container_spec sp = {0};
  static const char *const init[] = {"/usr/sbin/init", NULL};
  static const char *const seccomp[] = {"seccomp=unconfined", NULL};
  const char *shell[] = {v->plan.shell, NULL};
  sp.cmd = v->plan.shell ? shell : NULL;
  if (v->systemd) {
    sp.cmd = init;
    sp.security_opt = seccomp;
    if (v->cgroup2) {
      brr_run_strv_add(&binds, "/sys/fs/cgroup/buildrunner.scope:/sys/fs/cgroup:rw");
      brr_run_strv_add(&tmpfs, "/run");
      sp.cgroupns = "host";
    } else {
      brr_run_strv_add(&binds, "/sys/fs/cgroup:/sys/fs/cgroup:ro");
    }
  }
  brr_diags d = BRR_DIAGS_INIT;
  brr_run_map_volumes_from(r, c, r->svc_i, &vf, &d);   /* checked by the plan */
  brr_diags_free(&d);
  brr_run_resolve_hosts(r, c, &dns, &hosts);
  brr_run_strv_add(&labels, "brr.step=%s", r->s->name.s);
  brr_run_strv_add(&labels, "brr.service=%s", v->cfg->name.s);
  const char *hostname = c->hostname.s ? c->hostname.s : v->cfg->name.s;
  const char *aliases[] = {v->cfg->name.s, NULL, NULL};
  if (strcmp(hostname, v->cfg->name.s) != 0) aliases[1] = hostname;
  sp.name = v->name;
  sp.image = v->image;
  sp.env = brr_run_strv_get(&v->plan.env);
  sp.working_dir = c->cwd.s;
  sp.user = c->user.s;
  sp.hostname = hostname;
  sp.tty = true;
  sp.open_stdin = true;
  sp.labels = brr_run_strv_get(&labels);
  sp.binds = brr_run_strv_get(&binds);
  sp.volumes_from = brr_run_strv_get(&vf);
  sp.dns = brr_run_strv_get(&dns);
  sp.dns_search = brr_run_strv_get(&v->plan.dns_search);
  sp.extra_hosts = brr_run_strv_get(&hosts);
  sp.tmpfs = brr_run_strv_get(&tmpfs);
  sp.ports = brr_run_strv_get(&v->plan.ports);
  sp.network = r->network;
  sp.aliases = aliases;
  sp.memory = v->plan.memory;
  sp.cpu_shares = c->has_cpu_shares ? c->cpu_shares : 0;
  sp.cpu_period = c->has_cpu_period ? c->cpu_period : 0;
  sp.cpu_quota = c->has_cpu_quota ? c->cpu_quota : 0;
  r->req = brr_engine_container_create(brr_rt_engine(r->rt, r->step), &sp, on_svc_created, r);
  brr_run_strv_free(&binds);
  brr_run_strv_free(&vf);
  brr_run_strv_free(&dns);
  brr_run_strv_free(&hosts);
  brr_run_strv_free(&labels);
  brr_run_strv_free(&tmpfs);
}

static void on_svc_put(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  r->source_put = true;
  svc_next(r);
}

/* The first container on the step volume fills it, before it starts. */
static void svc_put(brr_run_task *r) {
  if (r->source_put) {
    svc_next(r);
    return;
  }
  brr_engine_body body = {.path = r->source_tar};
  r->req = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), cur(r)->id, BRR_RUN_SOURCE_DIR, &body,
                                            on_svc_put, r);
}

static void svc_wait_stop(brr_run_task *r, const brr_run_svc *v, const brr_engine_result *res);

static void on_svc_stream(void *ud, const brr_engine_result *res) {
  brr_run_svc *v = ud;
  brr_run_task *r = v->r;
  v->stream = NULL;
  if (res->status == 0 && v->cfg->c.cmd.s && res->exit_code != 0 &&
      r->stage < BRR_RUN_ST_TEARDOWN)
    brr_task_log(r->task, BRR_LOG_INFO, "Service command \"%s\" exited with code %lld",
                 v->cfg->c.cmd.s, (long long)res->exit_code);
  /* A command that failed, or a container whose own command ended, will never open the port
   * the step waits for: fail now, not at the timeout. A command that ends with 0 may have
   * started a daemon (`nginx`, `service x start`), which buildrunner allows: keep waiting. */
  bool waiting = r->stage == BRR_RUN_ST_SERVICES && r->svc_i < r->n_svcs && cur(r) == v &&
                 r->svc_sub == SVC_WAIT && !r->base.cancelled && !r->status;
  if (waiting && res->status == 0 && (!v->cfg->c.cmd.s || res->exit_code != 0))
    svc_wait_stop(r, v, res);
  brr_run_stream_end(r);
}

/* Output for the rest of the step: the service's cmd by exec, or its own command attached. */
static void svc_stream(brr_run_task *r) {
  brr_run_svc *v = cur(r);
  brr_run_stream_begin(r);
  if (v->cfg->c.cmd.s) {
    const char *argv[] = {v->plan.shell, "-xc", v->cfg->c.cmd.s, NULL};
    brr_engine_exec_spec ex = {.cmd = argv, .on_output = svc_output};
    v->stream = brr_engine_exec_run(brr_rt_engine(r->rt, r->step), v->id, &ex, on_svc_stream, v);
  } else {
    brr_engine_stream_opts so = {.tty = 1, .logs = true, .on_output = svc_output};
    v->stream = brr_engine_container_attach(brr_rt_engine(r->rt, r->step), v->id, &so, on_svc_stream, v);
  }
  svc_next(r);
}

static void on_svc_inspect(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  const cJSON *nets = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(res->json, "NetworkSettings"), "Networks");
  const cJSON *ip = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(nets, r->network), "IPAddress");
  if (cJSON_IsString(ip) && *ip->valuestring) brr_runtime_set(&cur(r)->ip, ip->valuestring);
  svc_next(r);
}

/* defined with the wait_for polling below */
static void svc_wait(brr_run_task *r);

static void svc_provisioned(brr_run_task *r) {
  if (r->base.cancelled || r->status) {
    brr_run_next(r);
    return;
  }
  svc_next(r);
}

static void svc_step(brr_run_task *r) {
  if (r->base.cancelled || r->status) {
    brr_run_next(r);
    return;
  }
  if (r->svc_i >= r->n_svcs) {
    brr_run_next(r);
    return;
  }
  brr_run_svc *v = cur(r);
  switch (r->svc_sub) {
  case SVC_IMAGE:
    if (v->built) {
      svc_build(r);
      return;
    }
    brr_runtime_set(&v->image, v->cfg->c.image.s);
    svc_next(r);
    return;
  case SVC_INSPECT: svc_inspect_image(r); return;
  case SVC_CREATE: svc_create(r); return;
  case SVC_PUT: svc_put(r); return;
  case SVC_START:
    r->req = brr_engine_container_start(brr_rt_engine(r->rt, r->step), v->id, on_svc_ok, r);
    return;
  case SVC_PROVISION:
    r->script_i = 0;
    brr_run_provision(r, v->id, v->source, &v->plan, &r->script_i, svc_provisioned);
    return;
  case SVC_OUTPUT: svc_stream(r); return;
  case SVC_ADDRESS:
    r->req = brr_engine_container_inspect(brr_rt_engine(r->rt, r->step), v->id, on_svc_inspect, r);
    return;
  case SVC_WAIT:
    r->wait_i = 0;
    svc_wait(r);
    return;
  default:
    brr_task_log(r->task, BRR_LOG_INFO, "Started service container \"%s\" (%.10s)", v->cfg->name.s,
                 v->id);
    r->svc_i++;
    r->svc_sub = SVC_IMAGE;
    svc_step(r);
    return;
  }
}

void brr_run_stage_services(brr_run_task *r) {
  r->svc_i = 0;
  r->svc_sub = SVC_IMAGE;
  svc_step(r);
}

/* ---- wait_for: connect to the service's port until it answers, or time out ---- */

typedef struct brr_run_probe {
  uv_tcp_t tcp;
  uv_connect_t conn;
  brr_run_task *r;     /* NULL once dropped */
  brr_task *task;      /* counts the tcp handle: the task reports after it closed */
} brr_run_probe;

static void probe_closed(uv_handle_t *h) {
  brr_run_probe *p = h->data;
  brr_task_handle_closed(p->task);
  free(p);
}

static void probe_close(brr_run_probe *p) {
  p->r = NULL;
  p->tcp.data = p;
  if (!uv_is_closing((uv_handle_t *)&p->tcp)) uv_close((uv_handle_t *)&p->tcp, probe_closed);
}

bool brr_run_probe_drop(brr_run_task *r) {
  brr_run_probe *p = r->probe;
  if (!p) return false;
  r->probe = NULL;
  probe_close(p);
  return true;
}

static void wait_attempt(brr_run_task *r);

static void wait_retry(brr_run_task *r);

static void on_wait_timer(uv_timer_t *t) {
  brr_run_task *r = t->data;
  if (brr_run_probe_drop(r)) {
    /* the connection attempt took too long: count it as closed */
    wait_retry(r);
    return;
  }
  wait_attempt(r);
}

static void wait_retry(brr_run_task *r) {
  const brr_wait_for *w = &cur(r)->cfg->wait_for[r->wait_i];
  if (brr_mono_ms() >= r->wait_deadline) {
    brr_run_fail(r, BRR_EFAILED, false, "Timed out waiting for port %lld to be opened in container "
                 "%s with IP address %s after %lld seconds", (long long)w->port, cur(r)->name,
                 cur(r)->ip ? cur(r)->ip : "?", (long long)w->timeout);
    return;
  }
  uint64_t waited = brr_mono_ms() - r->wait_started;
  uv_timer_start(brr_run_timer(r), on_wait_timer, waited < 2000 ? 100 : 1000, 0);
}

static void on_probe(uv_connect_t *c, int status) {
  brr_run_probe *p = c->data;
  brr_run_task *r = p->r;
  if (!r) return;   /* dropped; the close frees it */
  r->probe = NULL;
  probe_close(p);
  uv_timer_stop(brr_run_timer(r));
  if (r->base.cancelled) {
    brr_run_next(r);
    return;
  }
  if (status == 0) {
    const brr_wait_for *w = &cur(r)->cfg->wait_for[r->wait_i];
    brr_task_log(r->task, BRR_LOG_INFO, "Port %lld is listening in container %s with IP address %s",
                 (long long)w->port, cur(r)->name, cur(r)->ip);
    r->wait_i++;
    svc_wait(r);
    return;
  }
  wait_retry(r);
}

/* A service that stopped will never open its port. */
static void on_wait_status(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(res->json, "State");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(state, "Status");
  const char *s = cJSON_IsString(st) ? st->valuestring : "unknown";
  const brr_wait_for *w = &cur(r)->cfg->wait_for[r->wait_i];
  if (strcmp(s, "created") != 0 && strcmp(s, "running") != 0) {
    brr_run_fail(r, BRR_EFAILED, false, "Unable to wait for a service port %lld to be ready, the "
                 "container %s status is %s", (long long)w->port, cur(r)->name, s);
    return;
  }
  struct sockaddr_storage sa;
  char port[16];
  snprintf(port, sizeof port, "%lld", (long long)w->port);
  if (!cur(r)->ip || (uv_ip4_addr(cur(r)->ip, (int)w->port, (struct sockaddr_in *)&sa) != 0 &&
                      uv_ip6_addr(cur(r)->ip, (int)w->port, (struct sockaddr_in6 *)&sa) != 0)) {
    brr_run_fail(r, BRR_EFAILED, false, "service %s has no address on the step network",
                 cur(r)->cfg->name.s);
    return;
  }
  brr_run_probe *p = brr_xcalloc(1, sizeof *p);
  p->r = r;
  p->conn.data = p;
  p->task = r->task;
  uv_tcp_init(r->rt->loop, &p->tcp);
  brr_task_handle_open(r->task);
  r->probe = p;
  if (uv_tcp_connect(&p->conn, &p->tcp, (const struct sockaddr *)&sa, on_probe) != 0) {
    brr_run_probe_drop(r);
    wait_retry(r);
    return;
  }
  uv_timer_start(brr_run_timer(r), on_wait_timer, 2000, 0);
}

/* The service stopped (its command ended, or its container, whose attach ended) while the
 * step waits for one of its ports: fail at once. What is in flight for the wait (an inspect,
 * a connection attempt, the retry timer) is dropped; a cancelled inspect's callback goes to
 * the teardown, otherwise this does. */
static void svc_wait_stop(brr_run_task *r, const brr_run_svc *v, const brr_engine_result *res) {
  const brr_wait_for *w = &v->cfg->wait_for[r->wait_i < v->cfg->n_wait_for ? r->wait_i : 0];
  if (v->cfg->c.cmd.s && res->status == 0)
    r->error = brr_xasprintf("service %s: its command \"%s\" exited with code %lld while waiting "
                             "for port %lld", v->cfg->name.s, v->cfg->c.cmd.s,
                             (long long)res->exit_code, (long long)w->port);
  else
    r->error = brr_xasprintf("service %s: its container stopped while waiting for port %lld",
                             v->cfg->name.s, (long long)w->port);
  r->status = BRR_EFAILED;
  brr_run_probe_drop(r);
  if (r->base.timer_open) uv_timer_stop(&r->base.timer);
  if (r->req) {
    brr_engine_cancel(r->req);
    return;
  }
  brr_run_next(r);   /* failed: to the teardown */
}

static void wait_attempt(brr_run_task *r) {
  if (r->base.cancelled) {
    brr_run_next(r);
    return;
  }
  r->req = brr_engine_container_inspect(brr_rt_engine(r->rt, r->step), cur(r)->id, on_wait_status, r);
}

static void svc_wait(brr_run_task *r) {
  brr_run_svc *v = cur(r);
  if (r->wait_i >= v->cfg->n_wait_for) {
    svc_next(r);
    return;
  }
  const brr_wait_for *w = &v->cfg->wait_for[r->wait_i];
  brr_task_log(r->task, BRR_LOG_INFO, "Waiting for port %lld to be listening for connections in "
               "container %s with IP address %s (timeout %lld seconds)", (long long)w->port,
               v->name, v->ip ? v->ip : "?", (long long)w->timeout);
  r->wait_started = brr_mono_ms();
  r->wait_deadline = r->wait_started + (uint64_t)(w->timeout > 0 ? w->timeout : 0) * 1000;
  wait_attempt(r);
}
