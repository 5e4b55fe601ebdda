/* The BUILD node: a single-platform image build (spec §2.2, §3.1, §5, §7).
 *  - Legacy builder (the default): the context tar made off the loop, cache_from images
 *    pulled, credentials for the FROM registries, then POST /build with the tar streamed; the
 *    output streams live and an errorDetail fails the node with the builder's message.
 *  - `import`: POST /images/create?fromSrc of the tar.
 *  - buildx (`use-legacy-builder: false`): `docker buildx build --load` for the step's
 *    platform (or the native one), untagged; the image id from its metadata file.
 * The image (an id) becomes the step's build_image for its run and commit. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "brr/vcs.h"
#include "build_internal.h"

typedef struct build_task {
  brr_btask b;               /* first: the base */
  const brr_build *build;
  const char *platform;      /* the node's, or NULL (the engine's) */
  char **args;               /* "K=V" */
  size_t next_cache;
  char **hosts;              /* registries named by FROM lines, for X-Registry-Config */
  size_t n_hosts, next_host;
  brr_engine_auth *auths;
  size_t n_auths;
  brr_bx_args bx;
  char *tag;                 /* buildx: names the metadata file (the image gets no tag) */
  char *import_path;         /* import: the archive (the user's file: never removed) */
} build_task;

static void set_image(build_task *t, const char *id) {
  brr_runtime_set(&t->b.rt->steps[t->b.step].build_image, id);
  brr_runtime_generated(t->b.rt, id);
  brr_task_log(t->b.task, BRR_LOG_INFO, "Built image %s", id);
}

/* ---- legacy builder ---------------------------------------------------------------------------- */

static void on_progress(void *ud, const brr_engine_progress *p) {
  build_task *t = ud;
  if (p->stream) {
    brr_task_output(t->b.task, NULL, 1, p->stream, strlen(p->stream));
  } else if (p->status && !p->progress) {
    /* pull status of FROM images; progress bars are left out of logs */
    char *line = p->id ? brr_xasprintf("%s: %s\n", p->id, p->status) : brr_xasprintf("%s\n", p->status);
    brr_task_output(t->b.task, NULL, 1, line, strlen(line));
    free(line);
  }
}

static void built(void *ud, const brr_engine_result *res) {
  build_task *t = ud;
  t->b.req = NULL;
  if (res->status) {
    brr_btask_finish(&t->b, res->status, "%s", res->error ? res->error : "the build failed");
    return;
  }
  set_image(t, res->id);
  brr_btask_finish(&t->b, 0, NULL);
}

static void legacy_build(build_task *t) {
  brr_runtime *rt = t->b.rt;
  const brr_build *b = t->build;
  char **cache = brr_xcalloc(b->cache_from_refs.n + 1, sizeof *cache);
  for (size_t i = 0; i < b->cache_from_refs.n; i++) cache[i] = (char *)b->cache_from_refs.v[i].s;
  brr_engine_build_opts o = {0};
  o.dockerfile = t->b.prep.dockerfile_name;
  o.buildargs = (const char *const *)t->args;
  o.cache_from = b->cache_from_refs.n ? (const char *const *)cache : NULL;
  o.target = b->target.s;
  o.platform = t->platform;
  o.nocache = b->no_cache;
  o.pull = brr_build_should_pull(rt, b);
  o.auths = t->auths;
  o.n_auths = t->n_auths;
  brr_btask_phase(&t->b, "build");
  brr_task_log(t->b.task, BRR_LOG_INFO, "Running docker build (pull %s%s%s)", o.pull ? "true" : "false",
               t->platform ? ", platform " : "", t->platform ? t->platform : "");
  brr_engine_body body = {0};
  body.path = t->b.prep.tar_path;
  t->b.req = brr_engine_image_build(brr_rt_engine(rt, t->b.step), &o, &body, on_progress, built, t);
  free(cache);
}

static void next_host(build_task *t);

static void host_creds(void *ud, int status, const char *error, const brr_engine_auth *auth) {
  build_task *t = ud;
  t->b.rreq = NULL;
  if (t->b.base.cancelled) {
    brr_btask_finish(&t->b, BRR_ECANCELED, NULL);
    return;
  }
  if (status != 0) {
    brr_btask_finish(&t->b, status, "%s", error ? error : "credentials failed");
    return;
  }
  if (auth) {
    t->auths = brr_xrealloc(t->auths, (t->n_auths + 1) * sizeof *t->auths);
    brr_engine_auth a = *auth;
    /* the daemon looks credentials up by the key docker's CLI writes */
    a.serveraddress = t->hosts[t->next_host - 1 + t->n_hosts];
    t->auths[t->n_auths++] = a;
  }
  next_host(t);
}

/* Credentials for each registry the Dockerfile pulls from, one lookup at a time. */
static void next_host(build_task *t) {
  if (t->next_host == t->n_hosts) {
    legacy_build(t);
    return;
  }
  brr_build_state *bs = brr_build_state_get(t->b.rt);
  t->b.rreq = brr_registry_creds_get(bs->reg, t->hosts[t->next_host++], host_creds, t);
}

static void collect_hosts(build_task *t) {
  const brr_build_inputs *in = &t->b.prep.in;
  char *text = in->dockerfile_text ? brr_xstrdup(in->dockerfile_text) : NULL;
  if (!text && in->dockerfile_path) {
    brr_buf f = BRR_BUF_INIT;
    if (brr_read_file(in->dockerfile_path, &f) == 0) text = brr_buf_detach(&f);
    brr_buf_free(&f);
  }
  if (!text) return;
  brr_arena *a = brr_arena_new();
  brr_build_arg *args = brr_arena_alloc(a, sizeof *args);
  args[0].name = "DOCKER_REGISTRY";
  args[0].value = t->b.rt->cfg->global.docker_registry ? t->b.rt->cfg->global.docker_registry : "docker.io";
  brr_dockerfile_image *imgs;
  size_t n = brr_dockerfile_images(text, strlen(text), args, 1, a, &imgs);
  /* hosts first, then (from n_hosts on) the keys they are sent under */
  char **hosts = brr_xcalloc(2 * n + 1, sizeof *hosts);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    brr_registry_ref r;
    if (brr_registry_ref_parse(imgs[i].ref, &r) != 0) continue;
    bool dup = false;
    for (size_t j = 0; j < k; j++) dup |= !strcmp(hosts[j], r.host);
    if (!dup) hosts[k++] = brr_xstrdup(r.host);
    brr_registry_ref_free(&r);
  }
  for (size_t i = 0; i < k; i++) hosts[k + i] = brr_registry_config_key(hosts[i]);
  t->hosts = hosts;
  t->n_hosts = k;
  brr_arena_free(a);
  free(text);
}

static void next_cache(build_task *t);

static void cache_pulled(void *ud, const brr_engine_result *res) {
  build_task *t = ud;
  t->b.req = NULL;
  if (t->b.base.cancelled) {
    brr_btask_finish(&t->b, BRR_ECANCELED, NULL);
    return;
  }
  const char *ref = t->build->cache_from_refs.v[t->next_cache - 1].s;
  if (res->status) brr_task_log(t->b.task, BRR_LOG_WARNING, "Unable to pull the cache_from image %s: %s", ref, res->error);
  else brr_task_log(t->b.task, BRR_LOG_INFO, "Using cache_from image: %s", ref);
  next_cache(t);
}

static void next_cache(build_task *t) {
  const brr_build *b = t->build;
  if (t->next_cache == b->cache_from_refs.n || t->b.rt->opts.local_images) {
    collect_hosts(t);
    next_host(t);
    return;
  }
  const char *ref = b->cache_from_refs.v[t->next_cache++].s;
  brr_btask_phase(&t->b, "pull");
  t->b.req = brr_engine_image_pull(brr_rt_engine(t->b.rt, t->b.step), ref, t->platform, NULL, NULL, cache_pulled, t);
}

/* ---- buildx, one platform --------------------------------------------------------------------- */

static void bx_line(void *ud, int stream, const char *line, size_t len) {
  build_task *t = ud;
  brr_btask_line(&t->b, NULL, stream, line, len);
}

static void bx_inspected(void *ud, const brr_engine_result *res) {
  build_task *t = ud;
  t->b.req = NULL;
  const cJSON *id = res->status ? NULL : cJSON_GetObjectItemCaseSensitive(res->json, "Id");
  if (!cJSON_IsString(id)) {
    brr_btask_finish(&t->b, res->status ? res->status : BRR_EIO, "%s", res->error ? res->error : "the built image has no id");
    return;
  }
  brr_engine_track(brr_rt_engine(t->b.rt, t->b.step), BRR_ENGINE_IMAGE, id->valuestring);
  set_image(t, id->valuestring);
  brr_btask_finish(&t->b, 0, NULL);
}

static void bx_done(void *ud, const brr_buildx_result *res) {
  build_task *t = ud;
  t->b.bx = NULL;
  if (res->status) {
    brr_btask_finish(&t->b, res->status, "%s", res->error ? res->error : "docker buildx build failed");
    return;
  }
  if (!res->image_id) {
    brr_btask_finish(&t->b, BRR_EIO, "docker buildx build reported no image id");
    return;
  }
  /* what the engine holds under that id (the metadata could name another engine's image) */
  t->b.req = brr_engine_image_inspect(brr_rt_engine(t->b.rt, t->b.step), res->image_id, bx_inspected, t);
}

static void buildx_build(build_task *t) {
  brr_runtime *rt = t->b.rt;
  const char *platform = t->platform ? t->platform : rt->native_platform;
  const brr_step *s = &rt->cfg->steps[t->b.step];
  char *name = brr_vcs_sanitize_tag(s->name.s);
  t->tag = brr_xasprintf("brr-build-%s:%.100s", brr_engine_run_id(brr_rt_engine(rt, t->b.step)), name);
  free(name);
  brr_buildx_opts o;
  brr_bx_args_make(rt, t->build, t->b.n->builder, t->tag, &t->bx, &o);
  o.env = brr_rt_docker_env(rt, t->b.step);   /* the docker CLI reaches the step's engine */
  o.context = t->b.prep.ctx.dir;
  o.dockerfile = t->b.prep.ctx.dockerfile;
  o.platform = platform;
  /* no tag: a name of brr's on the image could only be removed with the image; the image id
   * comes from the metadata file */
  o.tag = NULL;
  o.push = false;
  o.on_line = bx_line;
  o.on_done = bx_done;
  o.ud = t;
  brr_btask_phase(&t->b, "build");
  brr_task_log(t->b.task, BRR_LOG_INFO, "Running docker buildx build for %s%s%s", platform,
               t->b.n->builder ? " on builder " : "", t->b.n->builder ? t->b.n->builder : "");
  t->b.bx = brr_buildx_build(rt->loop, &o);
}

/* ---- import and the start ------------------------------------------------------------------------- */

static void imported(void *ud, const brr_engine_result *res) {
  build_task *t = ud;
  t->b.req = NULL;
  if (res->status) {
    brr_btask_finish(&t->b, res->status, "%s", res->error ? res->error : "the import failed");
    return;
  }
  set_image(t, res->id);
  brr_btask_finish(&t->b, 0, NULL);
}

static void start_import(build_task *t) {
  brr_runtime *rt = t->b.rt;
  const brr_str *imp = &t->build->import;
  char *path = brr_path_join(rt->cfg->build_dir, imp->s);
  if (access(path, R_OK) != 0) {
    brr_diags d = BRR_DIAGS_INIT;
    brr_diag_error(&d, imp->mark, NULL, "step '%s': cannot read the import archive %s", rt->cfg->steps[t->b.step].name.s,
                   path);
    brr_btask_config_error(&t->b, &d);
    brr_diags_free(&d);
    free(path);
    return;
  }
  brr_btask_phase(&t->b, "import");
  brr_task_log(t->b.task, BRR_LOG_INFO, "Importing %s as a Docker image", imp->s);
  brr_engine_body body = {0};
  body.path = path;
  /* the engine streams the file; the path must live until the call ends */
  t->import_path = path;
  t->b.req = brr_engine_image_import(brr_rt_engine(rt, t->b.step), &body, NULL, NULL, imported, t);
}

static void prepared(brr_build_prep *p) {
  build_task *t = p->ud;
  if (t->b.base.cancelled || p->cancelled) {
    brr_btask_finish(&t->b, BRR_ECANCELED, NULL);
    return;
  }
  if (p->rc != 0) {
    if (brr_diags_exit_code(&p->d) == BRR_EXIT_CONFIG) brr_btask_config_error(&t->b, &p->d);
    else brr_btask_finish(&t->b, BRR_EIO, "%s", p->d.n ? p->d.v[0].msg : "cannot prepare the build context");
    return;
  }
  if (p->tar_path) next_cache(t);
  else buildx_build(t);
}

static int build_start(brr_task *task, uv_loop_t *loop) {
  build_task *t = task->impl;
  if (!brr_btask_begin(&t->b, loop)) return 0;
  brr_runtime *rt = t->b.rt;
  if (t->build->import.s) {
    start_import(t);
    return 0;
  }
  const brr_step *s = &rt->cfg->steps[t->b.step];
  brr_btask_phase(&t->b, "context");
  brr_build_prep *p = &t->b.prep;
  p->build = t->build;
  p->build_dir = rt->cfg->build_dir;
  p->step = s->name.s;
  p->temp_dir = rt->temp_dir;
  if (rt->cfg->use_legacy_builder) p->tar_path = brr_xasprintf("%s/context-%zu.tar", rt->temp_dir, t->b.node);
  p->done = prepared;
  p->ud = t;
  t->args = brr_build_args(t->build, rt->cfg->global.docker_registry);
  brr_build_prep_start(loop, p);
  return 0;
}

static void build_cancel(brr_task *task) { brr_btask_cancel(&((build_task *)task->impl)->b); }
static void build_abort(brr_task *task) { brr_btask_abort(&((build_task *)task->impl)->b); }

static void build_free(brr_task *task) {
  build_task *t = task->impl;
  brr_btask_free(&t->b);
  brr_strv_free(t->args);
  brr_strv_free(t->hosts);
  free(t->auths);
  brr_bx_args_free(&t->bx);
  free(t->tag);
  free(t->import_path);
}

static const brr_task_ops BUILD_OPS = {"build", build_start, build_cancel, build_free, build_abort};

int brr_task_build_new(brr_runtime *rt, size_t node, brr_task **out) {
  build_task *t = brr_task_new(sizeof *t, &BUILD_OPS);
  brr_btask_init(&t->b, rt, node);
  t->build = rt->cfg->steps[t->b.step].build;
  t->platform = t->b.n->platform;
  *out = t->b.task;
  return 0;
}
