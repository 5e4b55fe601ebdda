/* The `remote` task (buildrunner's remote builds): the step's `cmd` runs on a host over the
 * `ssh` in PATH, so the user's ssh config, agent and known hosts apply. Every stage is one
 * ssh command on the loop (brr/spawn.h):
 *   setup   mktemp -d on the host, the /source tar (the same file run steps get) on ssh's
 *           stdin, unpacked in <dir>/src; the directory name comes back on stdout
 *   cmd     cd <dir>/src, the shell's pid kept in <dir>/pid, `cmd`; its output live, by line
 *   list    the run steps' artifact listing script in <dir>/src (after a failed cmd too,
 *           as buildrunner gathers them before it fails the step)
 *   fetch   per match, a tar stream (the archive API's layout) into the run steps' artifact
 *           sink: results dir, `rename`/`archive`/`format` properties, artifacts.json
 *   clean   the process group of the cmd signalled, <dir> removed: after success, failure
 *           and cancel; a second SIGINT kills the stage's ssh and the runtime's abort runs the
 *           removal synchronously (brr_remote_abort). */
#include "brr/tasks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/spawn.h"
#include "run_internal.h"

/* A remote directory that exists: what the abort path must still remove. */
typedef struct remote_dir {
  char *host, *dir;
  struct remote_dir *next;
} remote_dir;

typedef enum { R_SOURCE, R_SETUP, R_CMD, R_LIST, R_FETCH, R_CLEAN, R_DONE } remote_stage;

typedef struct remote_task {
  brr_task base;            /* first: the task base (sched.h) */
  brr_task *task;           /* &base */
  brr_runtime *rt;
  size_t step;
  const brr_remote *remote;
  char *host;               /* after the build-servers aliases */
  char *dir;                /* the host's temp dir, once known */
  remote_dir *reg;          /* its entry in the runtime's list */
  brr_run_waiter src_wait;
  brr_spawn *child;
  remote_stage stage;
  int status;               /* the result, reported after the clean stage */
  char *error;
  bool config_error;
  brr_artifact_match *matches;
  size_t n_matches, match_i;
  brr_artifact_sink *sink;
} remote_task;

/* ---- helpers ---- */

/* `s` as one sh word: single quotes, a quote inside as '\'' */
static void sq(brr_buf *b, const char *s) {
  brr_buf_putc(b, '\'');
  for (; *s; s++) {
    if (*s == '\'') brr_buf_puts(b, "'\\''");
    else brr_buf_putc(b, *s);
  }
  brr_buf_putc(b, '\'');
}

/* The remote shell's command that ends the cmd's process group and removes the directory.
 * The login shell sshd started for the cmd leads its own session, so its pid names the
 * group of everything the cmd started (a shell without a tty would otherwise leave them
 * running when ssh goes). `kill -s TERM -- -<pid>` is the POSIX form: dash, a common login
 * shell, refuses `kill -TERM -- -<pid>` ("Illegal number") and would leave them running. */
static char *clean_command(const char *dir) {
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, "d=");
  sq(&b, dir);
  brr_buf_puts(&b, "; p=$(cat \"$d/pid\" 2>/dev/null) && [ -n \"$p\" ] && kill -s TERM -- -\"$p\" 2>/dev/null;"
                   " rm -rf -- \"$d\"");
  return brr_buf_detach(&b);
}

static void set_result(remote_task *r, int status, bool config, const char *fmt, ...) BRR_PRINTF(4, 5);
static void set_result(remote_task *r, int status, bool config, const char *fmt, ...) {
  if (r->status) return;   /* the first failure is the one reported */
  r->status = status;
  r->config_error = config;
  va_list ap;
  va_start(ap, fmt);
  free(r->error);
  r->error = brr_xvasprintf(fmt, ap);
  va_end(ap);
}

static void registry_add(remote_task *r) {
  remote_dir *e = brr_xcalloc(1, sizeof *e);
  e->host = brr_xstrdup(r->host);
  e->dir = brr_xstrdup(r->dir);
  e->next = r->rt->remote_state;
  r->rt->remote_state = e;
  r->reg = e;
}

static void registry_drop(remote_task *r) {
  if (!r->reg) return;
  for (remote_dir **p = (remote_dir **)&r->rt->remote_state; *p; p = &(*p)->next) {
    if (*p != r->reg) continue;
    *p = r->reg->next;
    break;
  }
  free(r->reg->host);
  free(r->reg->dir);
  free(r->reg);
  r->reg = NULL;
}

static void finish(remote_task *r) {
  r->stage = R_DONE;
  registry_drop(r);
  if (r->sink) brr_artifact_sink_free(r->sink);
  r->sink = NULL;
  int status = r->status;
  if (r->base.cancelled && (status == 0 || r->base.aborted)) status = BRR_ECANCELED;
  if (status && status != BRR_ECANCELED && r->config_error) r->rt->config_failed = true;
  brr_task_end(r->task, status, status == BRR_ECANCELED ? NULL : r->error);
}

typedef void (*stage_exit)(remote_task *r, const brr_spawn_result *res);

typedef struct spawn_ctx {
  remote_task *r;
  stage_exit next;
} spawn_ctx;

static void on_line(void *ud, int stream, const char *line, size_t len) {
  spawn_ctx *c = ud;
  brr_buf b = BRR_BUF_INIT;
  brr_buf_append(&b, line, len);
  brr_buf_putc(&b, '\n');
  brr_task_output(c->r->task, NULL, stream, b.data, b.len);
  brr_buf_free(&b);
}

static void on_exit_cb(void *ud, const brr_spawn_result *res) {
  spawn_ctx *c = ud;
  remote_task *r = c->r;
  stage_exit next = c->next;
  free(c);
  r->child = NULL;
  next(r, res);
}

/* Run `ssh -- <host> <command>`. collect: stdout kept (stderr's tail too); else both live. */
static void run_ssh(remote_task *r, const char *command, bool collect, int in_fd, int out_fd,
                    stage_exit next) {
  const char *argv[] = {"ssh", "-o", "BatchMode=yes", "--", r->host, command, NULL};
  spawn_ctx *c = brr_xcalloc(1, sizeof *c);
  c->r = r;
  c->next = next;
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.collect = collect;
  o.stdin_fd = in_fd;
  o.stdout_fd = out_fd;
  o.on_line = collect ? NULL : on_line;
  o.on_exit = on_exit_cb;
  o.ud = c;
  r->child = brr_spawn_start(r->rt->loop, &o);
}

/* Why an ssh command failed, in one line. */
static char *why(const brr_spawn_result *res) {
  if (res->spawn_error) return brr_xasprintf("cannot run ssh: %s", uv_strerror(res->spawn_error));
  brr_buf b = BRR_BUF_INIT;
  if (res->term_signal) brr_buf_printf(&b, "ssh killed by signal %d", res->term_signal);
  else if (res->exit_status == 255) brr_buf_puts(&b, "ssh failed (exit status 255)");
  else brr_buf_printf(&b, "exit status %lld", (long long)res->exit_status);
  if (res->err_len) {
    /* the last non-empty line of stderr says what went wrong */
    const char *e = res->err_tail, *end = e + res->err_len;
    while (end > e && (end[-1] == '\n' || end[-1] == '\r')) end--;
    const char *start = end;
    while (start > e && start[-1] != '\n') start--;
    if (end > start) brr_buf_printf(&b, ": %.*s", (int)(end - start), start);
  }
  return brr_buf_detach(&b);
}

static bool failed(const brr_spawn_result *res) {
  return res->spawn_error || res->term_signal || res->exit_status != 0;
}

/* ---- clean ---- */

static void cleaned(remote_task *r, const brr_spawn_result *res) {
  if (failed(res) && !r->base.aborted) {
    char *w = why(res);
    brr_task_log(r->task, BRR_LOG_WARNING, "could not remove %s:%s: %s", r->host, r->dir, w);
    free(w);
  } else if (!r->base.aborted) {
    /* removed: the abort path has nothing left to do for it */
    registry_drop(r);
  }
  finish(r);
}

static void clean(remote_task *r) {
  if (!r->dir || r->base.aborted) {
    finish(r);
    return;
  }
  r->stage = R_CLEAN;
  char *cmd = clean_command(r->dir);
  brr_task_log(r->task, BRR_LOG_DEBUG, "removing %s:%s", r->host, r->dir);
  run_ssh(r, cmd, true, 0, 0, cleaned);
  free(cmd);
}

/* ---- fetch ---- */

static void fetch_one(remote_task *r);

static void fetched(remote_task *r, const brr_spawn_result *res) {
  const brr_artifact_match *m = &r->matches[r->match_i];
  if (r->base.cancelled || failed(res)) {
    if (!r->base.cancelled) {
      char *w = why(res);
      set_result(r, BRR_EFAILED, false, "Error gathering artifact %s: %s", m->path, w);
      free(w);
    }
    brr_artifact_sink_free(r->sink);
    r->sink = NULL;
    clean(r);
    return;
  }
  brr_artifact_sink *sink = r->sink;
  r->sink = NULL;
  /* a failed write is reported by the finish, with the file and the error */
  if (res->out_len) brr_artifact_sink_write(sink, res->out, res->out_len);
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_artifact_sink_finish(sink, r->rt->arena, r->rt->artifacts, &d) != 0) {
    bool config = brr_diags_exit_code(&d) == BRR_EXIT_CONFIG;
    set_result(r, config ? BRR_ECONFIG : BRR_EIO, config, "Error gathering artifact %s: %s", m->path,
               d.n ? d.v[0].msg : "failed");
    brr_diags_free(&d);
    clean(r);
    return;
  }
  brr_diags_free(&d);
  r->match_i++;
  fetch_one(r);
}

static void fetch_one(remote_task *r) {
  if (r->base.cancelled || r->match_i == r->n_matches) {
    clean(r);
    return;
  }
  r->stage = R_FETCH;
  const brr_artifact_match *m = &r->matches[r->match_i];
  const brr_kv *kv = &r->remote->artifacts.v[m->pattern];
  brr_artifact_req req = {r->rt->cfg->steps[r->step].name.s, r->rt->cfg->results_dir, kv->key, kv->val,
                          m->path, m->kind};
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_artifact_sink_new(&req, &r->sink, &d) != 0) {
    bool config = brr_diags_exit_code(&d) == BRR_EXIT_CONFIG;
    const brr_diag *g = d.v;
    if (g && g->mark.file)
      set_result(r, config ? BRR_ECONFIG : BRR_EIO, config, "%s:%u:%u: %s", g->mark.file, g->mark.line,
                 g->mark.col, g->msg);
    else set_result(r, config ? BRR_ECONFIG : BRR_EIO, config, "%s", g ? g->msg : "bad artifact");
    brr_diags_free(&d);
    clean(r);
    return;
  }
  brr_diags_free(&d);
  brr_task_log(r->task, BRR_LOG_DEBUG, "- found %s %s", m->kind == BRR_ARTIFACT_DIR ? "directory" : "file",
               m->path);
  /* the archive API's layout: one tar whose root entry is the match's last component */
  char *parent = brr_path_dirname(m->fetch);
  const char *base = brr_path_basename(m->fetch);
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, "tar -cf - -C ");
  sq(&b, parent);
  brr_buf_puts(&b, " -- ");
  sq(&b, base);
  run_ssh(r, brr_buf_cstr(&b), true, 0, 0, fetched);
  brr_buf_free(&b);
  free(parent);
}

/* ---- list ---- */

static void listed(remote_task *r, const brr_spawn_result *res) {
  if (r->base.cancelled) {
    clean(r);
    return;
  }
  if (failed(res)) {
    char *w = why(res);
    set_result(r, BRR_EFAILED, false, "listing the artifacts on %s: %s", r->host, w);
    free(w);
    clean(r);
    return;
  }
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_artifact_list_parse(res->out, res->out_len, r->remote->artifacts.n, &r->matches, &r->n_matches,
                              &d) != 0) {
    set_result(r, BRR_EFAILED, false, "%s", d.n ? d.v[0].msg : "bad artifact listing");
    brr_diags_free(&d);
    clean(r);
    return;
  }
  brr_diags_free(&d);
  fetch_one(r);
}

static void list(remote_task *r) {
  if (r->remote->artifacts.n == 0) {
    clean(r);
    return;
  }
  r->stage = R_LIST;
  const char **pats = brr_xcalloc(r->remote->artifacts.n + 1, sizeof *pats);
  for (size_t i = 0; i < r->remote->artifacts.n; i++) pats[i] = r->remote->artifacts.v[i].key.s;
  brr_buf script = BRR_BUF_INIT, cmd = BRR_BUF_INIT;
  brr_artifact_list_script(pats, r->remote->artifacts.n, &script);
  free(pats);
  /* the script is POSIX sh; the login shell may be another one */
  brr_buf_puts(&cmd, "cd ");
  sq(&cmd, r->dir);
  brr_buf_puts(&cmd, "/src && exec sh -c ");
  sq(&cmd, brr_buf_cstr(&script));
  run_ssh(r, brr_buf_cstr(&cmd), true, 0, 0, listed);
  brr_buf_free(&script);
  brr_buf_free(&cmd);
}

/* ---- cmd ---- */

static void ran(remote_task *r, const brr_spawn_result *res) {
  if (r->base.cancelled) {
    clean(r);
    return;
  }
  if (failed(res)) {
    char *w = why(res);
    set_result(r, BRR_EFAILED, false, "remote command on %s failed: %s", r->host, w);
    free(w);
    /* buildrunner gathers the artifacts of a failed command too, then fails the step; not
     * when ssh itself failed (255) or was killed */
    if (res->spawn_error || res->exit_status == 255 || res->term_signal) {
      clean(r);
      return;
    }
  }
  /* the cmd has ended: what is left completes its result (artifacts, removal), so a
   * sibling's failure no longer cancels the node; a signal still does */
  brr_task_finishing(r->task);
  list(r);
}

static void run_cmd(remote_task *r) {
  r->stage = R_CMD;
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, "cd ");
  sq(&b, r->dir);
  brr_buf_puts(&b, "/src && echo $$ > ../pid && ");
  brr_buf_puts(&b, r->remote->cmd.s);
  /* one line of log: a multi-line cmd shows its first line */
  const char *cmd = r->remote->cmd.s;
  int first = (int)strcspn(cmd, "\r\n");
  brr_task_log(r->task, BRR_LOG_INFO, "Running on %s: %.*s%s", r->host, first, cmd, cmd[first] ? " ..." : "");
  run_ssh(r, brr_buf_cstr(&b), false, 0, 0, ran);
  brr_buf_free(&b);
}

/* ---- setup ---- */

static void set_up(remote_task *r, const brr_spawn_result *res) {
  /* the first line is the directory, printed before anything else can fail */
  if (!res->spawn_error && res->out_len) {
    size_t n = strcspn(res->out, "\n");
    if (n && res->out[0] == '/' && n < res->out_len) {
      r->dir = brr_xstrndup(res->out, n);
      registry_add(r);
    }
  }
  if (r->base.cancelled) {
    clean(r);
    return;
  }
  if (failed(res) || !r->dir) {
    char *w = failed(res) ? why(res) : brr_xstrdup("no directory name came back");
    set_result(r, BRR_EFAILED, false, "setting up a directory on %s: %s", r->host, w);
    free(w);
    clean(r);
    return;
  }
  brr_task_log(r->task, BRR_LOG_DEBUG, "%s:%s holds the source", r->host, r->dir);
  run_cmd(r);
}

static void on_source(void *ud, const char *path, const char *error) {
  remote_task *r = ud;
  if (!path) {
    set_result(r, BRR_EIO, false, "%s", error ? error : "no /source tar");
    finish(r);
    return;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_result(r, BRR_EIO, false, "%s: %s", path, strerror(errno));
    finish(r);
    return;
  }
  r->stage = R_SETUP;
  brr_task_log(r->task, BRR_LOG_INFO, "Sending the source to %s", r->host);
  run_ssh(r, "d=$(mktemp -d) && printf '%s\\n' \"$d\" && mkdir \"$d/src\" && tar -xf - -C \"$d/src\"", true,
          fd, 0, set_up);
  close(fd);
}

/* ---- the task ---- */

static int remote_start(brr_task *t, uv_loop_t *loop) {
  (void)loop;
  remote_task *r = t->impl;
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_step_begin(r->rt, r->step, &d) != 0) {
    brr_task_end(t, BRR_EIO, d.n ? d.v[0].msg : "cannot create the step's results directory");
    brr_diags_free(&d);
    return 0;
  }
  brr_diags_free(&d);
  r->stage = R_SOURCE;
  brr_run_source_want(r->rt, &r->src_wait, on_source, r);
  return 0;
}

static void remote_cancel(brr_task *t) {
  remote_task *r = t->impl;
  if (r->stage == R_DONE) return;
  if (r->stage == R_SOURCE) {
    brr_run_source_drop(r->rt, &r->src_wait);
    finish(r);
    return;
  }
  /* the clean stage runs to its end; any other stage stops and goes to it */
  if (r->stage != R_CLEAN && r->child) brr_spawn_kill(r->child);
}

static void remote_abort(brr_task *t) {
  remote_task *r = t->impl;
  if (r->stage == R_DONE) return;
  r->base.cancelled = true;
  if (r->stage == R_SOURCE) {
    brr_run_source_drop(r->rt, &r->src_wait);
    /* the directory list stays: brr_remote_abort removes what is on it */
    r->reg = NULL;
    finish(r);
    return;
  }
  r->reg = NULL;  /* left on the runtime's list for brr_remote_abort */
  if (r->child) brr_spawn_kill_now(r->child);
}

static void remote_free(brr_task *t) {
  remote_task *r = t->impl;
  brr_artifact_matches_free(r->matches, r->n_matches);
  free(r->host);
  free(r->dir);
  free(r->error);
}

static const brr_task_ops REMOTE_OPS = {"remote", remote_start, remote_cancel, remote_free, remote_abort};

int brr_task_remote_new(brr_runtime *rt, size_t node, brr_task **out) {
  const brr_node *n = &rt->graph->nodes[node];
  const brr_step *s = &rt->cfg->steps[n->step];
  if (!s->remote) return BRR_EINVAL;
  remote_task *r = brr_task_new(sizeof *r, &REMOTE_OPS);
  r->task = &r->base;
  r->rt = rt;
  r->step = n->step;
  r->remote = s->remote;
  r->host = brr_xstrdup(brr_remote_host(rt->cfg, s->remote->host.s));
  *out = r->task;
  return 0;
}

/* ---- the abort path: synchronous, the loop is about to go ---- */

static void remove_now(const char *host, const char *dir) {
  char *cmd = clean_command(dir);
  const char *argv[] = {"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "--", host, cmd, NULL};
  /* at most 15 s: the run is ending, a dead host must not hold it */
  brr_spawn_sync(argv, NULL, NULL, 15);
  free(cmd);
}

void brr_remote_forget(brr_runtime *rt) {
  for (remote_dir *e = rt->remote_state, *next; e; e = next) {
    next = e->next;
    free(e->host);
    free(e->dir);
    free(e);
  }
  rt->remote_state = NULL;
}

void brr_remote_abort(brr_runtime *rt) {
  remote_dir *e = rt->remote_state;
  rt->remote_state = NULL;
  while (e) {
    remote_dir *next = e->next;
    remove_now(e->host, e->dir);
    free(e->host);
    free(e->dir);
    free(e);
    e = next;
  }
}
