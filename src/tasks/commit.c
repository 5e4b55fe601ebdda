/* The commit node: tag the step's final image with every repository:tag of its push and
 * commit specs (push first, as buildrunner runs the push task before the commit task), add
 * them to the committed set, and record push specs in artifacts.json (spec §8, §9.8). The
 * registry push itself is a separate node (push.c), only with --push. Push entries with
 * `security-scan` enabled are then scanned (scan.c), with or without --push, as buildrunner
 * does in its push task: the results go into the entry's artifact, and a max score at or
 * above the threshold fails the step. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "brr/tasks.h"
#include "brr/vcs.h"

typedef struct commit_task {
  brr_task base;         /* first: the task base (sched.h) */
  brr_task *task;        /* &base */
  brr_runtime *rt;
  size_t step;
  char *image;           /* what gets tagged */
  char **targets;        /* "repo:tag", in order */
  size_t n_targets, cap_targets, next;
  brr_engine_req *req;
  /* security scans of the push entries, after the tagging (scan.c) */
  struct scan_item {
    char *ref;             /* "repo:<last tag>", or a platform image of a multi-platform step */
    const char *platform;  /* the results' key: the platform as configured, NULL: native */
    char *key;             /* its artifacts.json key */
    brr_value *props;      /* its artifacts.json entry */
    brr_scan_settings s;
  } *scans;
  size_t n_scans, cap_scans, next_scan;
  brr_scan *scan;
} commit_task;

/* Repository lower-cased; a ":tag" after the last '/' is split off (spec §8 task). */
static char *split_repository(const char *repo, char **tag_out) {
  char *r = brr_xstrdup(repo);
  for (char *p = r; *p; p++) *p = (char)tolower((unsigned char)*p);
  *tag_out = NULL;
  char *slash = strrchr(r, '/');
  char *colon = strrchr(slash ? slash : r, ':');
  if (colon) {
    *colon = '\0';
    *tag_out = brr_xstrdup(colon + 1);
  }
  return r;
}

static void add_target(commit_task *c, const char *repo, const char *tag) {
  char *t = brr_xasprintf("%s:%s", repo, tag);
  BRR_VEC_PUSH(c->targets, c->n_targets, c->cap_targets, t);
}

/* A multi-platform push's artifact (spec §9.8): keyed by repository, the platforms' manifest
 * digests cut to 12 characters as buildrunner's trunc_digest. */
static brr_value *add_mp_artifact(commit_task *c, const char *repo, brr_value *tags) {
  brr_runtime *rt = c->rt;
  brr_mp_image imgs[64];
  size_t n = brr_build_mp_images(rt, c->step, imgs, 64);
  if (n > 64) n = 64;
  brr_buf ids = BRR_BUF_INIT;
  brr_value *plats = brr_val_list(rt->arena, BRR_MARK_NONE);
  for (size_t i = 0; i < n; i++) {
    const char *d = imgs[i].digest;
    if (brr_startswith(d, "sha256:")) d += 7;
    brr_buf_printf(&ids, "%s%.12s", i ? "," : "", d);
    char *p = brr_xasprintf("%s:%.12s", imgs[i].platform, d);
    brr_val_list_push(rt->arena, plats, brr_val_str(rt->arena, BRR_MARK_NONE, p));
    free(p);
  }
  brr_value *props = brr_val_map(rt->arena, BRR_MARK_NONE);
  brr_val_map_sets(rt->arena, props, "type", brr_val_str(rt->arena, BRR_MARK_NONE, "docker-image"));
  brr_val_map_sets(rt->arena, props, "docker:image", brr_val_str(rt->arena, BRR_MARK_NONE, brr_buf_cstr(&ids)));
  brr_val_map_sets(rt->arena, props, "docker:repository", brr_val_str(rt->arena, BRR_MARK_NONE, repo));
  brr_val_map_sets(rt->arena, props, "docker:tags", tags);
  brr_val_map_sets(rt->arena, props, "docker:platforms", plats);
  brr_val_map_sets(rt->arena, rt->artifacts, repo, props);
  brr_buf_free(&ids);
  return props;
}

/* Collect the targets of one spec and, for pushes of a single-platform step, its artifact. */
static void plan_spec(commit_task *c, const brr_pushspec *ps) {
  brr_runtime *rt = c->rt;
  char *extra = NULL;
  char *repo = split_repository(ps->repository.s, &extra);
  brr_value *tags = brr_val_list(rt->arena, BRR_MARK_NONE);
  for (size_t i = 0; i <= ps->tags.n; i++) {
    const char *raw = i < ps->tags.n ? ps->tags.v[i].s : extra;
    if (!raw || !*raw) continue;
    char *tag = brr_vcs_sanitize_tag(raw);
    add_target(c, repo, tag);
    brr_val_list_push(rt->arena, tags, brr_val_str(rt->arena, BRR_MARK_NONE, tag));
    free(tag);
  }
  if (ps->push && !rt->steps[c->step].multi_platform) {
    /* buildrunner names the image by its short id, as the legacy builder reports it:
     * "<step>/6f550067993b": {"docker:image": "6f550067993b", ...} */
    char *short_id = brr_xstrndup(brr_startswith(c->image, "sha256:") ? c->image + 7 : c->image, 12);
    brr_value *props = brr_val_map(rt->arena, BRR_MARK_NONE);
    brr_val_map_sets(rt->arena, props, "type", brr_val_str(rt->arena, BRR_MARK_NONE, "docker-image"));
    brr_val_map_sets(rt->arena, props, "docker:image", brr_val_str(rt->arena, BRR_MARK_NONE, short_id));
    brr_val_map_sets(rt->arena, props, "docker:repository", brr_val_str(rt->arena, BRR_MARK_NONE, repo));
    brr_val_map_sets(rt->arena, props, "docker:tags", tags);
    char *key = brr_xasprintf("%s/%s", rt->cfg->steps[c->step].name.s, short_id);
    brr_val_map_sets(rt->arena, rt->artifacts, key, props);
    brr_scan_settings ss;
    brr_scan_settings_resolve(rt->arena, rt->cfg->global.security_scan, ps->security_scan, &ss);
    const brr_value *last = tags->u.list.n ? tags->u.list.v[tags->u.list.n - 1] : NULL;
    if (ss.enabled && last) {
      struct scan_item it = {brr_xasprintf("%s:%s", repo, brr_val_cstr(last)), NULL, key, props, ss};
      BRR_VEC_PUSH(c->scans, c->n_scans, c->cap_scans, it);
      key = NULL;
    }
    free(key);
    free(short_id);
  } else if (ps->push) {
    brr_value *props = add_mp_artifact(c, repo, tags);
    brr_scan_settings ss;
    brr_scan_settings_resolve(rt->arena, rt->cfg->global.security_scan, ps->security_scan, &ss);
    /* each platform's image, as buildrunner scans the per-platform refs it pulls from the
     * build registry (here they are still tagged locally) */
    brr_mp_image imgs[64];
    size_t n = ss.enabled ? brr_build_mp_images(rt, c->step, imgs, 64) : 0;
    for (size_t i = 0; i < n && i < 64; i++) {
      if (!imgs[i].ref) continue;
      struct scan_item it = {brr_xstrdup(imgs[i].ref), imgs[i].platform, brr_xstrdup(repo), props, ss};
      BRR_VEC_PUSH(c->scans, c->n_scans, c->cap_scans, it);
    }
  }
  free(repo);
  free(extra);
}

static void tag_next(commit_task *c);
static void scan_next(commit_task *c);

/* The end of the task (the base ends the open trace phase first). */
static void commit_done(commit_task *c, int status, const char *error) {
  brr_task_end(c->task, status, error);
}

static void scanned(void *ud, int status, const char *error, brr_value *result, double max_score) {
  commit_task *c = ud;
  c->scan = NULL;
  struct scan_item *it = &c->scans[c->next_scan++];
  (void)max_score;
  if (status == BRR_EFAILED && result) {
    /* buildrunner raises while making the entry: the image's artifact is not recorded */
    brr_val_map_del(c->rt->artifacts, it->key);
    commit_done(c, BRR_EFAILED, error);
    return;
  }
  if (status != 0) {
    commit_done(c, c->base.cancelled ? BRR_ECANCELED : status, error ? error : "the security scan failed");
    return;
  }
  /* {"docker:security-scan": {<native platform>: {max_score, vulnerabilities}}} */
  brr_arena *a = c->rt->arena;
  brr_value *per = brr_val_get(it->props, "docker:security-scan");
  if (!per) {
    per = brr_val_map(a, BRR_MARK_NONE);
    brr_val_map_sets(a, it->props, "docker:security-scan", per);
  }
  const char *plat = it->platform ? it->platform : c->rt->native_platform ? c->rt->native_platform : "linux/amd64";
  brr_val_map_sets(a, per, plat, result);
  scan_next(c);
}

static void scan_next(commit_task *c) {
  if (c->base.cancelled) {
    commit_done(c, BRR_ECANCELED, NULL);
    return;
  }
  if (c->next_scan == c->n_scans) {
    commit_done(c, 0, NULL);
    return;
  }
  struct scan_item *it = &c->scans[c->next_scan];
  brr_task_set_phase(c->task, "scan");
  /* NULL: it could not start and `scanned` already ran (and went on) */
  brr_scan *sc = brr_scan_start(c->rt, c->task, &it->s, it->ref, scanned, c);
  if (sc) c->scan = sc;
}

static void on_tagged(void *ud, const brr_engine_result *res) {
  commit_task *c = ud;
  c->req = NULL;
  if (res->status != 0) {
    commit_done(c, c->base.cancelled ? BRR_ECANCELED : res->status, res->error ? res->error : "tagging failed");
    return;
  }
  const char *target = c->targets[c->next++];
  brr_runtime_commit_add(c->rt, target);
  brr_runtime_keep_image(c->rt, target);
  tag_next(c);
}

static void tag_next(commit_task *c) {
  if (c->base.cancelled) {
    commit_done(c, BRR_ECANCELED, NULL);
    return;
  }
  if (c->next == c->n_targets) {
    brr_runtime_keep_image(c->rt, c->image);
    scan_next(c);
    return;
  }
  brr_task_log(c->task, BRR_LOG_INFO, "Tagging image %s as %s", c->image, c->targets[c->next]);
  c->req = brr_engine_image_tag(brr_rt_engine(c->rt, c->step), c->image, c->targets[c->next], on_tagged, c);
}

static int commit_start(brr_task *t, uv_loop_t *loop) {
  commit_task *c = t->impl;
  brr_runtime *rt = c->rt;
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_step_begin(rt, c->step, &d) != 0) {
    brr_task_end(t, BRR_EIO, d.n ? d.v[0].msg : "cannot create the step's results directory");
    brr_diags_free(&d);
    return 0;
  }
  brr_diags_free(&d);
  const brr_step_state *st = &rt->steps[c->step];
  const char *image = st->post_build_image ? st->post_build_image
                      : st->run_image      ? st->run_image
                                           : st->build_image;
  if (!image) {
    brr_task_end(t, BRR_EFAILED, "Cannot find an image to tag/push from a previous task");
    return 0;
  }
  c->image = brr_xstrdup(image);
  const brr_step *s = &rt->cfg->steps[c->step];
  for (size_t i = 0; i < s->n_push; i++) plan_spec(c, &s->push[i]);
  for (size_t i = 0; i < s->n_commit; i++) plan_spec(c, &s->commit[i]);
  brr_task_set_phase(c->task, "tag");
  tag_next(c);
  return 0;
}

static void commit_cancel(brr_task *t) {
  commit_task *c = t->impl;
  if (c->req) brr_engine_cancel(c->req);
  if (c->scan) brr_scan_cancel(c->scan);
}

static void commit_free(brr_task *t) {
  commit_task *c = t->impl;
  for (size_t i = 0; i < c->n_scans; i++) {
    free(c->scans[i].ref);
    free(c->scans[i].key);
  }
  free(c->scans);
  for (size_t i = 0; i < c->n_targets; i++) free(c->targets[i]);
  free(c->targets);
  free(c->image);
}

static const brr_task_ops COMMIT_OPS = {"commit", commit_start, commit_cancel, commit_free, NULL};

int brr_task_commit_new(brr_runtime *rt, size_t node, brr_task **out) {
  const brr_node *n = &rt->graph->nodes[node];
  commit_task *c = brr_task_new(sizeof *c, &COMMIT_OPS);
  c->task = &c->base;
  c->rt = rt;
  c->step = n->step;
  *out = c->task;
  return 0;
}
