/* `docker buildx build` for one platform: the command line, the child on the loop with its
 * output in lines, and the result read from --metadata-file (the pushed digest and the image
 * id) and from the CLI's last "ERROR:" line. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "brr/engine.h"
#include "brr/spawn.h"

struct brr_buildx {
  brr_buildx_opts o;
  char *metadata_file;
  char *last_error;        /* the last "ERROR: ..." line */
  brr_spawn *child;
  bool cancelled, abandoned;
};

static void push_arg(char ***v, size_t *n, size_t *cap, const char *a) {
  BRR_VEC_PUSH(*v, *n, *cap, brr_xstrdup(a));
}

static void push_each(char ***v, size_t *n, size_t *cap, const char *flag, const char *const *vals) {
  for (const char *const *p = vals; p && *p; p++) {
    push_arg(v, n, cap, flag);
    push_arg(v, n, cap, *p);
  }
}

char **brr_buildx_argv(const brr_buildx_opts *o) {
  if (!o->context || !o->platform || !o->metadata_file || (!o->tag && o->push)) return NULL;
  char **v = NULL;
  size_t n = 0, cap = 0;
  const char *docker = o->docker ? o->docker : getenv("BRR_DOCKER");
  push_arg(&v, &n, &cap, docker && *docker ? docker : "docker");
  if (o->docker_context) {
    push_arg(&v, &n, &cap, "--context");
    push_arg(&v, &n, &cap, o->docker_context);
  }
  push_arg(&v, &n, &cap, "buildx");
  push_arg(&v, &n, &cap, "build");
  push_arg(&v, &n, &cap, o->context);
  if (o->tag) {
    push_arg(&v, &n, &cap, "--tag");
    push_arg(&v, &n, &cap, o->tag);
  }
  push_arg(&v, &n, &cap, "--platform");
  push_arg(&v, &n, &cap, o->platform);
  push_arg(&v, &n, &cap, o->push ? "--push" : "--load");
  /* plain progress: one line per event, the same on a terminal and in a log */
  push_arg(&v, &n, &cap, "--progress");
  push_arg(&v, &n, &cap, "plain");
  push_arg(&v, &n, &cap, "--metadata-file");
  push_arg(&v, &n, &cap, o->metadata_file);
  if (o->dockerfile) {
    push_arg(&v, &n, &cap, "--file");
    push_arg(&v, &n, &cap, o->dockerfile);
  }
  if (o->builder) {
    push_arg(&v, &n, &cap, "--builder");
    push_arg(&v, &n, &cap, o->builder);
  }
  if (o->target) {
    push_arg(&v, &n, &cap, "--target");
    push_arg(&v, &n, &cap, o->target);
  }
  if (o->no_cache) push_arg(&v, &n, &cap, "--no-cache");
  if (o->pull) push_arg(&v, &n, &cap, "--pull");
  push_each(&v, &n, &cap, "--build-arg", o->buildargs);
  push_each(&v, &n, &cap, "--secret", o->secrets);
  push_each(&v, &n, &cap, "--cache-from", o->cache_from);
  push_each(&v, &n, &cap, "--cache-to", o->cache_to);
  push_each(&v, &n, &cap, "--label", o->labels);
  BRR_VEC_PUSH(v, n, cap, NULL);
  return v;
}

static void on_line(void *ud, int stream, const char *line, size_t len) {
  brr_buildx *b = ud;
  if (len >= 6 && strncmp(line, "ERROR:", 6) == 0) {
    free(b->last_error);
    b->last_error = brr_xstrndup(line, len);
  }
  if (b->o.on_line) b->o.on_line(b->o.ud, stream, line, len);
}

static void on_exit_cb(void *ud, const brr_spawn_result *r) {
  brr_buildx *b = ud;
  brr_buildx_result res = {0};
  char *msg = NULL, *digest = NULL, *image = NULL;
  if (r->spawn_error) {
    res.status = BRR_EIO;
    msg = brr_xasprintf("cannot run docker buildx: %s", uv_strerror(r->spawn_error));
  } else if (b->cancelled) {
    res.status = BRR_ECANCELED;
  } else if (r->exit_status != 0 || r->term_signal != 0) {
    res.status = BRR_EFAILED;
    msg = b->last_error ? brr_xstrdup(b->last_error)
          : r->term_signal ? brr_xasprintf("docker buildx build was killed by signal %d", r->term_signal)
                           : brr_xasprintf("docker buildx build exited with status %lld", (long long)r->exit_status);
  } else {
    brr_buf text = BRR_BUF_INIT;
    if (brr_read_file(b->metadata_file, &text) == 0) {
      cJSON *j = cJSON_ParseWithLength(text.data, text.len);
      const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "containerimage.digest");
      const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "containerimage.config.digest");
      if (cJSON_IsString(d)) digest = brr_xstrdup(d->valuestring);
      if (cJSON_IsString(c)) image = brr_xstrdup(c->valuestring);
      /* the docker driver's --load names the image id containerimage.digest */
      else if (!b->o.push && cJSON_IsString(d)) image = brr_xstrdup(d->valuestring);
      cJSON_Delete(j);
    }
    brr_buf_free(&text);
  }
  res.error = msg;
  res.digest = digest;
  res.image_id = image;
  b->child = NULL;
  if (!b->abandoned && b->o.on_done) b->o.on_done(b->o.ud, &res);
  free(msg);
  free(digest);
  free(image);
  unlink(b->metadata_file);
  free(b->metadata_file);
  free(b->last_error);
  free(b);
}

brr_buildx *brr_buildx_build(uv_loop_t *loop, const brr_buildx_opts *o) {
  char **argv = brr_buildx_argv(o);
  if (!argv) return NULL;
  brr_buildx *b = brr_xcalloc(1, sizeof *b);
  b->o = *o;
  b->metadata_file = brr_xstrdup(o->metadata_file);
  /* a file from an earlier try must not pass for this one's result */
  unlink(b->metadata_file);
  brr_spawn_opts so = {0};
  so.argv = (const char *const *)argv;
  so.env = o->env;
  so.on_line = on_line;
  so.on_exit = on_exit_cb;
  so.ud = b;
  b->child = brr_spawn_start(loop, &so);
  brr_strv_free(argv);
  return b;
}

void brr_buildx_cancel(brr_buildx *b) {
  if (!b || b->cancelled) return;
  b->cancelled = true;
  brr_spawn_kill(b->child);
}

void brr_buildx_abandon(brr_buildx *b) {
  if (!b) return;
  b->abandoned = true;
  /* the exit still comes, and frees what is left, without telling the owner */
  brr_spawn_kill_now(b->child);
}

int brr_buildx_pid(const brr_buildx *b) { return b ? brr_spawn_pid(b->child) : 0; }
