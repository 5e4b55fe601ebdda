/* `twine upload` for the `pypi-push` step key: the command line, the child on the loop with
 * its output in lines. Credentials go to twine in its environment (TWINE_USERNAME,
 * TWINE_PASSWORD), never on the command line where `ps` shows them, and any output line that
 * would hold the password (an URL with credentials in it) has it masked. */
#include <stdlib.h>
#include <string.h>

#include "brr/engine.h"
#include "brr/spawn.h"

extern char **environ;

struct brr_twine {
  brr_twine_opts o;
  char *password;            /* to mask in output */
  char *last_error;          /* the last line twine printed that names an error */
  brr_spawn *child;
  bool cancelled, abandoned;
};

char **brr_twine_argv(const brr_twine_opts *o) {
  if (!o->repository || !*o->repository || !o->files || !o->files[0]) return NULL;
  char **v = NULL;
  size_t n = 0, cap = 0;
  const char *prog = o->twine ? o->twine : getenv("BRR_TWINE");
  BRR_VEC_PUSH(v, n, cap, brr_xstrdup(prog && *prog ? prog : "twine"));
  BRR_VEC_PUSH(v, n, cap, brr_xstrdup("upload"));
  /* never a prompt (stdin is /dev/null), no progress bars in a log */
  BRR_VEC_PUSH(v, n, cap, brr_xstrdup("--non-interactive"));
  BRR_VEC_PUSH(v, n, cap, brr_xstrdup("--disable-progress-bar"));
  BRR_VEC_PUSH(v, n, cap, brr_xstrdup(o->url ? "--repository-url" : "--repository"));
  BRR_VEC_PUSH(v, n, cap, brr_xstrdup(o->repository));
  if (o->skip_existing) BRR_VEC_PUSH(v, n, cap, brr_xstrdup("--skip-existing"));
  BRR_VEC_PUSH(v, n, cap, brr_xstrdup("--"));
  for (const char *const *f = o->files; *f; f++) BRR_VEC_PUSH(v, n, cap, brr_xstrdup(*f));
  BRR_VEC_PUSH(v, n, cap, NULL);
  return v;
}

/* brr's environment with the credentials set (and an inherited pair dropped, so the config's
 * repository never gets someone else's). */
static char **twine_env(const brr_twine_opts *o) {
  char **v = NULL;
  size_t n = 0, cap = 0;
  bool creds = o->username || o->password;
  for (char **e = environ; *e; e++) {
    if (creds && (strncmp(*e, "TWINE_USERNAME=", 15) == 0 || strncmp(*e, "TWINE_PASSWORD=", 15) == 0))
      continue;
    BRR_VEC_PUSH(v, n, cap, brr_xstrdup(*e));
  }
  if (o->username) BRR_VEC_PUSH(v, n, cap, brr_xasprintf("TWINE_USERNAME=%s", o->username));
  if (o->password) BRR_VEC_PUSH(v, n, cap, brr_xasprintf("TWINE_PASSWORD=%s", o->password));
  BRR_VEC_PUSH(v, n, cap, NULL);
  return v;
}

static void on_line(void *ud, int stream, const char *line, size_t len) {
  brr_twine *t = ud;
  brr_buf b = BRR_BUF_INIT;
  brr_buf_append(&b, line, len);
  size_t plen = t->password ? strlen(t->password) : 0;
  if (plen) {
    brr_buf m = BRR_BUF_INIT;
    const char *p = brr_buf_cstr(&b), *hit;
    while ((hit = strstr(p, t->password))) {
      brr_buf_append(&m, p, (size_t)(hit - p));
      brr_buf_puts(&m, "***");
      p = hit + plen;
    }
    brr_buf_puts(&m, p);
    brr_buf_free(&b);
    b = m;
  }
  const char *s = brr_buf_cstr(&b);
  if (strstr(s, "ERROR") || strstr(s, "Error") || strstr(s, "HTTPError")) {
    free(t->last_error);
    t->last_error = brr_xstrdup(s);
  }
  if (t->o.on_line) t->o.on_line(t->o.ud, stream, s, b.len);
  brr_buf_free(&b);
}

static void on_exit_cb(void *ud, const brr_spawn_result *r) {
  brr_twine *t = ud;
  int status = 0;
  char *msg = NULL;
  if (r->spawn_error) {
    status = BRR_EIO;
    msg = brr_xasprintf("cannot run twine: %s (is the twine package installed?)", uv_strerror(r->spawn_error));
  } else if (t->cancelled) {
    status = BRR_ECANCELED;
  } else if (r->exit_status != 0 || r->term_signal != 0) {
    status = BRR_EFAILED;
    msg = t->last_error ? brr_xasprintf("twine upload failed: %s", t->last_error)
          : r->term_signal ? brr_xasprintf("twine upload was killed by signal %d", r->term_signal)
                           : brr_xasprintf("twine upload exited with status %lld", (long long)r->exit_status);
  }
  t->child = NULL;
  if (!t->abandoned && t->o.on_done) t->o.on_done(t->o.ud, status, msg);
  free(msg);
  free(t->last_error);
  if (t->password) {
    memset(t->password, 0, strlen(t->password));
    free(t->password);
  }
  free(t);
}

brr_twine *brr_twine_upload(uv_loop_t *loop, const brr_twine_opts *o) {
  char **argv = brr_twine_argv(o);
  if (!argv) return NULL;
  brr_twine *t = brr_xcalloc(1, sizeof *t);
  t->o = *o;
  t->password = o->password && *o->password ? brr_xstrdup(o->password) : NULL;
  char **env = twine_env(o);
  brr_spawn_opts so = {0};
  so.argv = (const char *const *)argv;
  so.env = env;
  so.on_line = on_line;
  so.on_exit = on_exit_cb;
  so.ud = t;
  t->child = brr_spawn_start(loop, &so);
  brr_strv_free(argv);
  /* the child has its copy: do not keep the password in more heap than needed */
  for (char **e = env; *e; e++)
    if (strncmp(*e, "TWINE_PASSWORD=", 15) == 0) memset(*e, 0, strlen(*e));
  brr_strv_free(env);
  return t;
}

void brr_twine_cancel(brr_twine *t) {
  if (!t || t->cancelled) return;
  t->cancelled = true;
  brr_spawn_kill(t->child);
}

void brr_twine_abandon(brr_twine *t) {
  if (!t) return;
  t->abandoned = true;
  brr_spawn_kill_now(t->child);
}
