/* Incremental runs of builds (docs/incremental.md): before a single-platform build starts,
 * its inputs are hashed (the Dockerfile, the context as the build sends it, the build args,
 * target, platform, builder, secrets) and the images its Dockerfile starts from are looked up
 * on the engine (their ids: an image made earlier in this run is found by the tag its commit
 * node gave it), after a pull when the build would pull them. When all match the record of its last successful build and the image it made
 * is still on the engine, that image becomes the step's image again and the node ends
 * `reused`; otherwise the build task runs in its place and is recorded when it succeeds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "build_internal.h"
#include "incr_internal.h"

/* ---- which builds may be reused ---- */

const char *brr__tasks_incr_build_not_reusable(const brr_config *cfg, const brr_graph *g, size_t node) {
  const brr_node *n = &g->nodes[node];
  if (n->kind == BRR_NODE_PLATFORM_BUILD)
    return "a multi-platform build (its platform images live in a registry only for the run)";
  if (n->kind != BRR_NODE_BUILD || n->step == BRR_NO_STEP) return "only run steps and builds are reused";
  const brr_step *s = &cfg->steps[n->step];
  const brr_build *b = s->build;
  if (s->incremental == BRR_FALSE) return "incremental: false";
  if (!b) return "only run steps and builds are reused";
  if (b->import.s) return "an import (the archive is read by the engine)";
  if (b->no_cache) return "no-cache: true";
  return NULL;
}

/* ---- the context as the build sends it ---- */

typedef struct ctx_skip {
  brr_dockerignore *di;
} ctx_skip;

static bool ctx_skip_entry(void *ud, const char *rel, const struct stat *st) {
  ctx_skip *c = ud;
  if (!c->di || !brr_dockerignore_excluded(c->di, rel)) return false;
  /* an excluded directory with an exception inside is walked, as docker walks it */
  return !(S_ISDIR(st->st_mode) && brr_dockerignore_descend(c->di, rel));
}

static int hash_path(const char *path, brr_hashcache *c, char hex[BRR_INCR_HEX], brr_diags *d) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    brr_diag_error(d, (brr_mark){0}, NULL, "cannot read %s: %s", path, strerror(e));
    return -e;
  }
  if (S_ISDIR(st.st_mode)) return brr_incr_tree_hash(path, NULL, c, hex, NULL, d);
  int r = c ? brr_hashcache_file(c, path, &st, hex) : brr_incr_file_sha256(path, hex);
  if (r < 0) brr_diag_error(d, (brr_mark){0}, NULL, "cannot read %s: %s", path, strerror(-r));
  return r;
}

int brr_incr_build_context_hash(const brr_build_inputs *in, brr_hashcache *c, char hex[65],
                                brr_diags *d) {
  brr_hasher *h = brr_hasher_new();
  int rc = 0;
  if (in->context) {
    ctx_skip cs = {0};
    char *path = brr_path_join(in->context, ".dockerignore");
    brr_buf text = BRR_BUF_INIT;
    if (brr_read_file(path, &text) == 0) {
      cs.di = brr_dockerignore_parse(brr_buf_cstr(&text), text.len, path, d);
      if (!cs.di) rc = BRR_ECONFIG;
    }
    brr_buf_free(&text);
    free(path);
    if (cs.di) {
      /* docker always sends these, whatever the patterns say */
      brr_dockerignore_keep(cs.di, ".dockerignore");
      const char *df = in->dockerfile_path;
      size_t cl = strlen(in->context);
      if (df && !strncmp(df, in->context, cl) && df[cl] == '/') brr_dockerignore_keep(cs.di, df + cl + 1);
    }
    char tree[BRR_INCR_HEX];
    brr_tree_opts o = {.skip = ctx_skip_entry, .skip_ud = &cs};
    if (rc == 0) rc = brr_incr_tree_hash(in->context, &o, c, tree, NULL, d);
    brr_hasher_field(h, "context", rc == 0 ? tree : "");
    brr_dockerignore_free(cs.di);
  }
  for (size_t i = 0; rc == 0 && i < in->n_inject; i++) {
    char one[BRR_INCR_HEX];
    rc = hash_path(in->inject[i].src, c, one, d);
    brr_hasher_field(h, "inject", in->inject[i].dest);
    brr_hasher_field(h, "content", rc == 0 ? one : "");
  }
  brr_hasher_final(h, hex);
  return rc;
}

/* ---- the inputs known without the engine ---- */

typedef struct bkey {
  char *dockerfile;
  char ctx[BRR_INCR_HEX];
  bool have_ctx;
  char **args;          /* "K=V", NULL-terminated */
  size_t n_args;
  char **refs;          /* the images the Dockerfile uses, in its order */
  size_t n_refs;
} bkey;

static void bkey_free(bkey *k) {
  free(k->dockerfile);
  brr_strv_free(k->args);
  for (size_t i = 0; i < k->n_refs; i++) free(k->refs[i]);
  free(k->refs);
  memset(k, 0, sizeof *k);
}

static int bkey_make(brr_runtime *rt, incr_rt *ir, size_t step, bkey *k, brr_diags *d) {
  memset(k, 0, sizeof *k);
  const brr_step *s = &rt->cfg->steps[step];
  const brr_build *b = s->build;
  brr_build_inputs bi;
  int rc = brr_build_inputs_resolve(b, rt->cfg->build_dir, s->name.s, &bi, d);
  if (rc != 0) return rc;
  if (bi.dockerfile_text) {
    k->dockerfile = brr_xstrdup(bi.dockerfile_text);
  } else if (bi.dockerfile_path) {
    brr_buf f = BRR_BUF_INIT;
    rc = brr_read_file(bi.dockerfile_path, &f);
    if (rc == 0) k->dockerfile = brr_buf_detach(&f);
    else brr_diag_error(d, (brr_mark){0}, NULL, "cannot read %s: %s", bi.dockerfile_path, brr_strerror(rc));
    brr_buf_free(&f);
  }
  if (rc == 0 && (bi.context || bi.n_inject)) {
    rc = brr_incr_build_context_hash(&bi, ir->cache, k->ctx, d);
    k->have_ctx = true;
  }
  brr_build_inputs_free(&bi);
  k->args = brr_build_args(b, rt->cfg->global.docker_registry);
  while (k->args[k->n_args]) k->n_args++;
  if (rc != 0 || !k->dockerfile) return rc;
  /* the images it starts from, with the build args substituted as the builder does */
  brr_arena *a = brr_arena_new();
  brr_build_arg *args = brr_arena_alloc(a, (k->n_args + 1) * sizeof *args);
  for (size_t i = 0; i < k->n_args; i++) {
    char *kv = brr_arena_strdup(a, k->args[i]);
    char *eq = strchr(kv, '=');
    if (eq) *eq++ = '\0';
    args[i].name = kv;
    args[i].value = eq ? eq : "";
  }
  brr_dockerfile_image *imgs;
  size_t n = brr_dockerfile_images(k->dockerfile, strlen(k->dockerfile), args, k->n_args, a, &imgs);
  k->refs = brr_xcalloc(n ? n : 1, sizeof *k->refs);
  for (size_t i = 0; i < n; i++) k->refs[k->n_refs++] = brr_xstrdup(imgs[i].ref);
  brr_arena_free(a);
  return 0;
}

static void key_inputs(brr_runtime *rt, size_t node, const bkey *k, char **bases, size_t n_bases,
                       bool have_bases, brr_incr_inputs *in) {
  const brr_node *n = &rt->graph->nodes[node];
  const brr_build *b = rt->cfg->steps[n->step].build;
  const char **secrets = brr_xcalloc(b->secrets.n + 1, sizeof *secrets);
  for (size_t i = 0; i < b->secrets.n; i++) secrets[i] = b->secrets.v[i].s;
  brr_incr_build_key key = {
      .dockerfile = k->dockerfile,
      .context_hex = k->have_ctx ? k->ctx : NULL,
      .args = (const char *const *)k->args,
      .n_args = k->n_args,
      .target = b->target.s,
      /* the legacy builder without a platform builds the engine's own */
      .platform = n->platform ? n->platform : rt->cfg->use_legacy_builder ? NULL : rt->native_platform,
      .builder = rt->cfg->use_legacy_builder ? "legacy" : n->builder ? n->builder : "default",
      .secrets = secrets,
      .n_secrets = b->secrets.n,
      .have_bases = have_bases,
      .bases = (const char *const *)bases,
      .n_bases = n_bases,
  };
  brr_incr_build_inputs(&key, in);
  free(secrets);
}

/* ---- --graph --incremental ---- */

const char *brr__tasks_incr_build_predict(brr_runtime *rt, brr_graph *g, size_t node) {
  incr_rt *ir = rt->incr_state;
  const brr_node *n = &g->nodes[node];
  brr_incr_record rec;
  if (brr__tasks_incr_record_load(ir, node, &rec) != 0) return "runs: no earlier successful run";
  bkey k;
  brr_diags d = BRR_DIAGS_INIT;
  const char *why = NULL;
  brr_incr_inputs now = {0};
  if (bkey_make(rt, ir, n->step, &k, &d) != 0) why = "runs: its inputs cannot be read";
  else key_inputs(rt, node, &k, NULL, 0, false, &now);
  const char *changed = why ? NULL : brr_incr_changed_input(&rec, &now);
  if (changed) why = brr_arena_printf(g->arena, "runs: %s changed", changed);
  /* a base image another node of this run makes is the same only if that node is reused */
  for (size_t i = 0; !why && i < n->n_in; i++) {
    const brr_node *from = &g->nodes[g->edges[n->in[i]].from];
    if (from->step == BRR_NO_STEP || from->step == n->step) continue;
    if ((from->kind == BRR_NODE_RUN || from->kind == BRR_NODE_BUILD) && !from->incr_reused)
      why = brr_arena_printf(g->arena, "runs if the image of %s, which runs, changes", from->id);
  }
  bkey_free(&k);
  brr_incr_inputs_free(&now);
  brr_incr_record_free(&rec);
  brr_diags_free(&d);
  if (why) return why;
  g->nodes[node].incr_reused = true;
  return "reused, if its base images and the image it made are on the engine (--graph does not "
         "ask the engine)";
}

/* ---- the task ---- */

typedef struct ibuild {
  incr_wrap w;               /* the build task in w.inner, once it is decided to build */
  bkey k;
  char **bases;              /* "<ref> <id>" per k.refs, as they are found */
  size_t n_bases;
  brr_incr_record rec;       /* the matching record, while its image is looked for */
  char *image;               /* that image */
} ibuild;

static void run_inner(ibuild *t) {
  brr__tasks_incr_wrap_run(&t->w, brr_task_build_new, "build", BRR_EIO);
}

/* Run it, and record it if it succeeds. */
static void build_tracked(ibuild *t) {
  incr_node *in = &t->w.ir->nodes[t->w.base.node];
  in->tracked = in->inputs.n > 0;
  brr_buf_reset(&in->log);
  run_inner(t);
}

static void image_found(void *ud, const brr_engine_result *res) {
  ibuild *t = ud;
  if (!brr__tasks_incr_wrap_answered(&t->w)) return;
  if (res->status != 0) {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: the image it made, %.19s, is no longer on the engine",
                 t->image);
    build_tracked(t);
    return;
  }
  char when[64] = "an earlier run";
  time_t secs = (time_t)(t->rec.when_ms / 1000);
  struct tm tm;
  if (t->rec.when_ms && localtime_r(&secs, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  brr_task_log(&t->w.base, BRR_LOG_INFO, "reused: inputs unchanged since %s; its image %.19s is still on the engine",
               when, t->image);
  cJSON *out = t->rec.outputs ? cJSON_Parse(t->rec.outputs) : NULL;
  const cJSON *log = cJSON_GetObjectItemCaseSensitive(out, "log");
  if (cJSON_IsString(log) && brr_store_has(t->w.ir->store, log->valuestring)) {
    char *tmp = brr_xasprintf("%s/incr-log.XXXXXX", t->w.rt->temp_dir);
    int fd = mkstemp(tmp);
    if (fd >= 0) {
      close(fd);
      brr_buf text = BRR_BUF_INIT;
      if (brr_store_get(t->w.ir->store, log->valuestring, tmp, 0600, NULL) == 0 &&
          brr_read_file(tmp, &text) == 0)
        brr__tasks_incr_replay_log(&t->w.base, brr_buf_cstr(&text));
      brr_buf_free(&text);
      unlink(tmp);
    }
    free(tmp);
  }
  cJSON_Delete(out);
  /* the step's image again: its run, commit and push nodes use and tag it as after a build */
  brr_runtime_set(&t->w.rt->steps[t->w.step].build_image, t->image);
  brr_runtime_generated(t->w.rt, t->image);
  brr_task_reused(&t->w.base);
  brr_task_done(&t->w.base, 0, NULL);
}

static void decide(ibuild *t) {
  incr_rt *ir = t->w.ir;
  incr_node *in = &ir->nodes[t->w.base.node];
  brr_incr_inputs_free(&in->inputs);
  key_inputs(t->w.rt, t->w.base.node, &t->k, t->bases, t->n_bases, true, &in->inputs);
  brr_incr_inputs_key(&in->inputs, in->key);
  bool have = brr__tasks_incr_record_load(ir, t->w.base.node, &t->rec) == 0;
  const char *why = brr_incr_why(have ? &t->rec : NULL, &in->inputs);
  if (why) {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: %s%s", why, have ? " changed" : "");
    build_tracked(t);
    return;
  }
  cJSON *out = t->rec.outputs ? cJSON_Parse(t->rec.outputs) : NULL;
  const cJSON *img = cJSON_GetObjectItemCaseSensitive(out, "image");
  if (cJSON_IsString(img)) t->image = brr_xstrdup(img->valuestring);
  cJSON_Delete(out);
  if (t->image) t->w.req = brr_engine_image_inspect(brr_rt_task_engine(t->w.rt, &t->w.base), t->image, image_found, t);
  if (!t->w.req) {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: no image was recorded");
    build_tracked(t);
  }
}

static void next_base(ibuild *t);

static void base_found(void *ud, const brr_engine_result *res) {
  ibuild *t = ud;
  if (!brr__tasks_incr_wrap_answered(&t->w)) return;
  const char *ref = t->k.refs[t->n_bases];
  const cJSON *id = res->status == 0 ? cJSON_GetObjectItemCaseSensitive(res->json, "Id") : NULL;
  if (!cJSON_IsString(id)) {
    /* the build pulls it: what it gets is not known before */
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: its base image %s is not on the engine", ref);
    build_tracked(t);
    return;
  }
  t->bases[t->n_bases++] = brr_xasprintf("%s %s", ref, id->valuestring);
  next_base(t);
}

static void base_pulled(void *ud, const brr_engine_result *res) {
  ibuild *t = ud;
  if (!brr__tasks_incr_wrap_answered(&t->w)) return;
  if (res->status != 0) {
    brr_task_log(&t->w.base, BRR_LOG_INFO, "runs: its base image %s could not be pulled", t->k.refs[t->n_bases]);
    build_tracked(t);
    return;
  }
  t->w.req = brr_engine_image_inspect(brr_rt_task_engine(t->w.rt, &t->w.base), t->k.refs[t->n_bases], base_found, t);
  if (!t->w.req) build_tracked(t);
}

/* Each base image's id, one at a time. A build that pulls (`pull`, the default for images
 * not committed in this run) gets what the registry has now: it is pulled first (nothing is
 * downloaded when the engine has it), so a newer base in the registry makes the build run. */
static void next_base(ibuild *t) {
  if (t->n_bases == t->k.n_refs) {
    decide(t);
    return;
  }
  brr_runtime *rt = t->w.rt;
  const char *ref = t->k.refs[t->n_bases];
  if (brr_build_should_pull(rt, rt->cfg->steps[t->w.step].build) && !brr_runtime_committed(rt, ref))
    t->w.req = brr_engine_image_pull(brr_rt_task_engine(rt, &t->w.base), ref, rt->graph->nodes[t->w.base.node].platform, NULL,
                                   NULL, base_pulled, t);
  else
    t->w.req = brr_engine_image_inspect(brr_rt_task_engine(rt, &t->w.base), ref, base_found, t);
  if (!t->w.req) build_tracked(t);
}

static int ib_start(brr_task *bt, uv_loop_t *loop) {
  ibuild *t = (ibuild *)bt;
  t->w.loop = loop;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_runtime_step_begin(t->w.rt, t->w.step, &d);
  if (rc == 0) rc = t->w.ir->store ? bkey_make(t->w.rt, t->w.ir, t->w.step, &t->k, &d) : BRR_EIO;
  brr_diags_free(&d);
  if (rc != 0 || !t->k.dockerfile) {
    /* the build task meets the same problem and reports it where it belongs */
    run_inner(t);
    return 0;
  }
  t->bases = brr_xcalloc(t->k.n_refs + 1, sizeof *t->bases);
  next_base(t);
  return 0;
}

static void ib_free(brr_task *bt) {
  ibuild *t = (ibuild *)bt;
  brr_task_free(t->w.inner);  /* the block too: brr_task_new made it */
  bkey_free(&t->k);
  for (size_t i = 0; i < t->n_bases; i++) free(t->bases[i]);
  free(t->bases);
  brr_incr_record_free(&t->rec);
  free(t->image);
  free(t);
}

static const brr_task_ops IB_OPS = {"incremental build", ib_start, brr__tasks_incr_wrap_cancel, ib_free,
                                    brr__tasks_incr_wrap_abort};

int brr__tasks_incr_build_task_new(brr_runtime *rt, size_t node, brr_task **out) {
  ibuild *t = brr_xcalloc(1, sizeof *t);
  brr__tasks_incr_wrap_init(&t->w, &IB_OPS, rt, node);
  *out = &t->w.base;
  return 0;
}
