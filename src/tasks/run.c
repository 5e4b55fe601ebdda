/* The run node (spec §9): services, one container for the step, its commands, caches and
 * artifacts, the commit of its final state, and the removal of everything it made.
 *
 * buildrunner spends a source container, a network, the run container and an artifact lister
 * per step. Here /source comes from a source container too, made from one source image per
 * build and engine (the run container takes its volume with volumes_from); with services, or a
 * build dir with ".wh.*" names, the tar is PUT into the step's volume instead (anonymous, or a
 * step volume the services share). The step network exists
 * only when there are services, and the commands run as the container's own process when
 * nothing needs it alive around them (else an idle shell and an exec per command); artifacts
 * are listed by that process, or by one exec in the run container.
 *
 * The work is a fixed sequence of stages (run_internal.h); each starts one engine operation
 * whose callback moves on. A failure or a cancel jumps to the teardown, which always runs. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_internal.h"

static void stage_end(brr_run_task *r);

/* ---- sequence plumbing ---- */

typedef void (*stage_fn)(brr_run_task *r);
static const stage_fn STAGES[BRR_RUN_ST_COUNT];

/* The phases the trace shows inside a run node (docs/output.md); NULL: no phase. */
static const char *const PHASES[BRR_RUN_ST_COUNT] = {
    [BRR_RUN_ST_SOURCE] = "source",        [BRR_RUN_ST_NETWORK] = "network",
    [BRR_RUN_ST_SERVICES] = "services",    [BRR_RUN_ST_IMAGE] = "pull",
    [BRR_RUN_ST_CREATE] = "create",        [BRR_RUN_ST_PUT_SOURCE] = "source upload",
    [BRR_RUN_ST_START] = "start",          [BRR_RUN_ST_PROVISION] = "provision",
    [BRR_RUN_ST_CACHE_RESTORE] = "caches", [BRR_RUN_ST_COMMANDS] = "command",
    [BRR_RUN_ST_CACHE_SAVE] = "caches",    [BRR_RUN_ST_LIST] = "artifacts",
    [BRR_RUN_ST_STOP] = "stop",            [BRR_RUN_ST_FETCH] = "artifacts",
    [BRR_RUN_ST_COMMIT] = "commit",        [BRR_RUN_ST_TEARDOWN] = "teardown",
    [BRR_RUN_ST_NETWORK_DOWN] = "teardown",
};

static void run_stage(brr_run_task *r, int stage) {
  brr_task_set_phase(r->task, PHASES[stage]);
  r->stage = stage;
  STAGES[stage](r);
}

static void to_teardown(brr_run_task *r) {
  if (r->stage < BRR_RUN_ST_TEARDOWN) run_stage(r, BRR_RUN_ST_TEARDOWN);
}

void brr_run_next(brr_run_task *r) {
  if ((r->base.cancelled || r->status) && r->stage < BRR_RUN_ST_TEARDOWN) {
    to_teardown(r);
    return;
  }
  run_stage(r, r->stage + 1);
}

void brr_run_fail(brr_run_task *r, int status, bool config, const char *fmt, ...) {
  if (!r->status && !r->base.cancelled) {
    va_list ap;
    va_start(ap, fmt);
    r->error = brr_xvasprintf(fmt, ap);
    va_end(ap);
    r->status = status ? status : BRR_EFAILED;
    r->config_error = config;
  }
  to_teardown(r);
}

/* ---- a run container removed by someone else ---- */

static bool container_live(int stage) {
  return stage >= BRR_RUN_ST_PUT_SOURCE && stage < BRR_RUN_ST_TEARDOWN;
}

static void gone_report(brr_run_task *r, bool removed, int64_t exit_code) {
  r->gone = true;
  if (!r->status && !r->base.cancelled) {
    r->status = BRR_EFAILED;
    char code[48] = "";
    if (exit_code) snprintf(code, sizeof code, " (exit code %lld)", (long long)exit_code);
    r->error = brr_xasprintf("container %.12s was %s while the step ran%s", r->id,
                             removed ? "removed" : "stopped or removed by someone else", code);
  }
  /* its anonymous /source volume stays behind such a removal: the teardown takes it */
  if (r->anon_volume && !r->volume) {
    r->volume = r->anon_volume;
    r->anon_volume = NULL;
    r->volume_made = true;
  }
}

/* A removal from outside shows late: docker rm -f kills first (the exec ends with 137, the
 * next exec with 126) while the container still reads as running. So a running container is
 * asked again a few times, 200 ms apart, before the failure counts as the step's own. */
#define GONE_TRIES 6

typedef struct brr_run_gone {
  int status;               /* what to report when the container is still there */
  char *error;
  int64_t exit_code;
  void (*then)(brr_run_task *r);   /* the container is there: go on (NULL: fail) */
  int tries;
} brr_run_gone;

static void gone_free(brr_run_task *r) {
  if (!r->gone_check) return;
  free(r->gone_check->error);
  free(r->gone_check);
  r->gone_check = NULL;
}

static void gone_ask(brr_run_task *r);

static void on_gone_timer(uv_timer_t *t) { gone_ask(t->data); }

static void on_gone_check(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  brr_run_gone *g = r->gone_check;
  r->req = NULL;
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(res->json, "State");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(state, "Status");
  const char *s = res->status == 0 && cJSON_IsString(st) ? st->valuestring : "";
  bool removing = res->status == BRR_ENOENT || !strcmp(s, "removing") || !strcmp(s, "dead");
  /* the shell a step's commands run in never ends by itself: not running means stopped from
   * outside -- but only between its start and brr's own stop (a failed start, artifact fetch
   * or commit is reported as itself, not as a stop from outside) */
  bool expect_running = r->stage > BRR_RUN_ST_START && r->stage < BRR_RUN_ST_STOP;
  bool stopped = r->plan.shell && !r->own && expect_running && res->status == 0 && *s &&
                 strcmp(s, "running") != 0 && strcmp(s, "restarting") != 0 && strcmp(s, "paused") != 0;
  if (r->base.cancelled || res->status == BRR_ECANCELED) {
    gone_free(r);
    to_teardown(r);
  } else if (removing || (stopped && g->tries + 1 >= GONE_TRIES)) {
    /* stopped: a removal (docker rm -f kills first) usually follows, asked again below */
    int64_t code = g->exit_code;
    gone_free(r);
    gone_report(r, removing, code);
    to_teardown(r);
  } else if (res->status == 0 && ++g->tries < GONE_TRIES) {
    uv_timer_start(brr_run_timer(r), on_gone_timer, 200, 0);
  } else if (g->then) {
    void (*then)(brr_run_task *r) = g->then;
    gone_free(r);
    then(r);
  } else {
    int status = g->status;
    char *error = g->error ? brr_xstrdup(g->error) : NULL;
    gone_free(r);
    brr_run_fail(r, status, false, "%s", error ? error : "the engine failed");
    free(error);
  }
}

static void gone_ask(brr_run_task *r) {
  if (r->base.cancelled) {
    gone_free(r);
    to_teardown(r);
    return;
  }
  r->req = brr_engine_container_inspect(brr_rt_engine(r->rt, r->step), r->id, on_gone_check, r);
}

/* Before a failure of the run container is reported as what it seems (an exec that failed,
 * a command killed with 137), ask the engine whether the container still exists: when it
 * was removed, that is what the step reports. `then` NULL: fail with status/error. */
static void check_gone(brr_run_task *r, int status, const char *error, int64_t exit_code,
                       void (*then)(brr_run_task *r)) {
  brr_run_gone *g = brr_xcalloc(1, sizeof *g);
  g->status = status;
  g->error = error ? brr_xstrdup(error) : NULL;
  g->exit_code = exit_code;
  g->then = then;
  r->gone_check = g;
  gone_ask(r);
}

void brr_run_fail_container(brr_run_task *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  if (r->id && !r->gone && !r->status && !r->base.cancelled && container_live(r->stage))
    check_gone(r, BRR_EFAILED, msg, r->exit_code, NULL);
  else
    brr_run_fail(r, BRR_EFAILED, false, "%s", msg);
  free(msg);
}

bool brr_run_ok(brr_run_task *r, const brr_engine_result *res) {
  r->req = NULL;
  if (r->base.cancelled || res->status == BRR_ECANCELED) {
    to_teardown(r);
    return false;
  }
  if (res->status != 0) {
    if (r->id && !r->gone && !r->status && container_live(r->stage)) {
      check_gone(r, res->status, res->error, 0, NULL);
      return false;
    }
    brr_run_fail(r, res->status, false, "%s", res->error ? res->error : "the engine failed");
    return false;
  }
  return true;
}

void brr_run_stream_begin(brr_run_task *r) { r->n_streams++; }

void brr_run_stream_end(brr_run_task *r) {
  r->n_streams--;
  if (r->stage == BRR_RUN_ST_END && r->n_streams == 0) stage_end(r);
}

void brr_run_output(void *ud, int stream, const char *data, size_t len) {
  brr_run_task *r = ud;
  brr_task_output(r->task, NULL, stream, data, len);
}

uv_timer_t *brr_run_timer(brr_run_task *r) {
  /* the timer's data is the base, which is the run task's first member */
  return brr_task_timer(r->task, r->rt->loop);
}

static bool has_commands(const brr_run_task *r) {
  return r->run->c.cmd.s || r->run->c.cmds.n;
}

/* Command i of the step: cmd, then each of cmds; NULL past the end. */
static const char *command_at(const brr_run_task *r, size_t i) {
  const brr_runlike *c = &r->run->c;
  if (c->cmd.s) {
    if (i == 0) return c->cmd.s;
    i--;
  }
  return i < c->cmds.n ? c->cmds.v[i].s : NULL;
}

/* The first command as `<shell> -xc <cmd>`, after what buildrunner runs in an exec of its own
 * and whose outcome it ignores: `git config --global --add safe.directory /source`. Doing it
 * silently in the same process saves an exec per step. `argv` has room for 5 and a NULL. */
static void first_command_argv(const brr_run_task *r, const char **argv) {
  argv[0] = r->plan.shell;
  argv[1] = "-c";
  argv[2] = "git config --global --add safe.directory " BRR_RUN_SOURCE_DIR " >/dev/null 2>&1; "
            "exec \"$0\" -xc \"$1\"";
  argv[3] = r->plan.shell;
  argv[4] = command_at(r, 0);
  argv[5] = NULL;
}

static size_t command_count(const brr_run_task *r) {
  return (r->run->c.cmd.s ? 1 : 0) + r->run->c.cmds.n;
}

/* Artifacts are listed as root (docs/run.md): the own process may list them after the
 * commands only when it runs as root. */
static bool runs_as_root(const brr_run_task *r) {
  const char *u = r->run->c.user.s ? r->run->c.user.s : r->image_user;
  if (!u || !*u) return true;
  size_t n = strcspn(u, ":");
  return (n == 1 && u[0] == '0') || (n == 4 && strncmp(u, "root", 4) == 0);
}

/* Whether the step's commands can be the container's own process instead of execs in an idle
 * shell: nothing needs the live container before them (provisioners, systemd; caches go in
 * before the start when the archive API can make their directories as root would) or after
 * them (artifacts are listed by the process itself, as root; caches saved and the commit made
 * from the stopped container). The container then costs create, attach, start, wait and a
 * removal of an exited container, as `docker run`. */
static bool own_process(const brr_run_task *r) {
  return command_count(r) >= 1 && r->plan.shell && !r->systemd && r->plan.n_scripts == 0 &&
         (!(r->caches_planned && r->caches.n) || (runs_as_root(r) && brr_run_own_caches_ok(r))) &&
         (r->run->artifacts.n == 0 || runs_as_root(r)) &&
         /* a commit takes the whole file system: the artifact listing file would be in it */
         !((r->s->n_commit || r->s->n_push || r->run->post_build) && r->run->artifacts.n);
}

/* Several commands as the container's own process: a driver runs each as `<shell> -xc <cmd>`
 * (a child, as an exec would run it: same environment, working directory, empty stdin), and
 * after each writes a marker line `<token> <index> <exit code>` on stdout and on stderr, then
 * stops at the first non-zero code with that code. brr turns the markers into the exec path's
 * log lines and takes them out of the output. The engine copies stdout and stderr apart, so
 * one may run ahead of the other: a command counts as ended once both streams showed its
 * marker, and lines of a stream that is ahead wait until then. Every line of a command thus
 * comes before its `Command ... exited` line, as with an exec per command. The token is random
 * per step, so a command's own output is not read as a marker; $1 is the token, $2... the
 * commands. */
static const char DRIVER_HEAD[] =
    "git config --global --add safe.directory " BRR_RUN_SOURCE_DIR " >/dev/null 2>&1\n"
    "t=$1; s=$0; shift; i=0; r=0\n"
    "for c in \"$@\"; do\n"
    "  \"$s\" -xc \"$c\"; e=$?\n"
    "  printf '%s %d %d\\n' \"$t\" \"$i\" \"$e\"\n"
    "  printf '%s %d %d\\n' \"$t\" \"$i\" \"$e\" >&2\n"
    "  if [ \"$e\" -ne 0 ]; then r=$e; break; fi\n"
    "  i=$((i + 1))\n"
    "done\n";

/* With artifacts, the driver then lists them (brr_artifact_list_script, in /source, as the
 * exec of the listing did) into a file of the container that brr reads with an archive GET
 * once the container has stopped: no exec, no live container needed. */
static char *driver_script(const brr_run_task *r) {
  brr_buf b = BRR_BUF_INIT;
  brr_buf_puts(&b, DRIVER_HEAD);
  size_t n = r->run->artifacts.n;
  if (n) {
    const char **pats = brr_xcalloc(n + 1, sizeof *pats);
    for (size_t i = 0; i < n; i++) pats[i] = r->run->artifacts.v[i].key.s;
    brr_buf_puts(&b, "(\ncd " BRR_RUN_SOURCE_DIR " || exit 1\n");
    brr_artifact_list_script(pats, n, &b);
    brr_buf_puts(&b, ") >\"" BRR_RUN_LIST_DIR "/.$t.list\" 2>/dev/null\n");
    free(pats);
  }
  brr_buf_puts(&b, "exit \"$r\"\n");
  return brr_buf_detach(&b);
}

/* The own process's argv (NULL-terminated, free the array only): one command is exec'd in
 * place of the shell (first_command_argv), several go through the driver. */
static const char **own_argv(brr_run_task *r) {
  size_t n = command_count(r);
  const char **argv = brr_xcalloc(n + 6, sizeof *argv);
  if (n == 1 && r->run->artifacts.n == 0) {
    first_command_argv(r, argv);
    return argv;
  }
  if (!r->token) {
    char *u = brr_uuid4();
    r->token = brr_xasprintf("brr-marker-%s", u);
    free(u);
  }
  free(r->driver);
  r->driver = driver_script(r);
  argv[0] = r->plan.shell;
  argv[1] = "-c";
  argv[2] = r->driver;
  argv[3] = r->plan.shell;
  argv[4] = r->token;
  for (size_t i = 0; i < n; i++) argv[5 + i] = command_at(r, i);
  return argv;
}

/* A marker line of the driver, "<token> <index> <code>", for command `want`. The token may
 * follow output of the command that did not end its line: *at is where it starts. */
static bool parse_marker(const brr_run_task *r, const char *line, size_t len, size_t want,
                         size_t *at, int64_t *code) {
  size_t tl = strlen(r->token);
  const char *t = NULL;
  for (const char *p = line; p + tl <= line + len; p++)
    if (memcmp(p, r->token, tl) == 0) t = p;
  if (!t) return false;
  char buf[64];
  size_t rest = len - (size_t)(t - line) - tl;
  if (rest == 0 || rest >= sizeof buf) return false;
  memcpy(buf, t + tl, rest);
  buf[rest] = '\0';
  unsigned long long i;
  long long c;
  int used = 0;
  if (buf[0] != ' ' || sscanf(buf, " %llu %lld%n", &i, &c, &used) != 2 || (size_t)used != rest)
    return false;
  if (i != want) return false;   /* markers come in order, one per command and stream */
  *at = (size_t)(t - line);
  *code = c;
  return true;
}

/* Command r->cmd_i ended (both its markers were seen): the log lines its exec would have
 * given, and the header of the next one. */
static void own_command_ended(brr_run_task *r, int64_t code) {
  const char *cmd = command_at(r, r->cmd_i);
  brr_task_log(r->task, code ? BRR_LOG_ERROR : BRR_LOG_INFO, "Command \"%s\" exited with code %lld",
               cmd, (long long)code);
  r->cmd_i++;
  if (code != 0) {
    r->exit_code = code;
    r->marker_failed = true;
    free(r->failed_what);
    r->failed_what = brr_xasprintf("command \"%s\"", cmd);
  } else if (r->cmd_i < r->n_cmds) {
    brr_task_log(r->task, BRR_LOG_INFO, "cmd> %s", command_at(r, r->cmd_i));
  }
}

static int stream_of(int k) { return k ? BRR_ENGINE_STDERR : BRR_ENGINE_STDOUT; }

static void own_feed(brr_run_task *r, int k, const char *data, size_t len);

/* One complete line (with its newline, or what is left at the end) of stream k. */
static void own_line(brr_run_task *r, int k, const char *line, size_t len) {
  if (r->past[k] > r->cmd_i) {
    /* this stream showed the running command's marker, the other not yet: wait */
    brr_buf_append(&r->held[k], line, len);
    return;
  }
  size_t body = len && line[len - 1] == '\n' ? len - 1 : len;
  size_t at;
  int64_t code;
  if (r->marker_failed || r->cmd_i >= r->n_cmds ||
      !parse_marker(r, line, body, r->cmd_i, &at, &code)) {
    brr_task_output(r->task, NULL, stream_of(k), line, len);
    return;
  }
  /* what the command wrote before it without a newline is a line of its own, as the end of
   * an exec's output would have made it */
  if (at) {
    brr_task_output(r->task, NULL, stream_of(k), line, at);
    brr_task_output(r->task, NULL, stream_of(k), "\n", 1);
  }
  r->past[k]++;
  if (r->past[!k] <= r->cmd_i) {
    r->marker_code = code;
    return;
  }
  /* both streams are past it: the command ended; the other stream's held lines go on */
  own_command_ended(r, code);
  brr_buf held = r->held[!k];
  r->held[!k] = (brr_buf)BRR_BUF_INIT;
  if (held.len) own_feed(r, !k, held.data, held.len);
  brr_buf_free(&held);
}

/* A line longer than this without a newline is passed on in pieces (no marker is that long). */
#define OWN_LINE_MAX 65536

/* Bytes of stream k, cut into lines. */
static void own_feed(brr_run_task *r, int k, const char *data, size_t len) {
  brr_buf *b = &r->line[k];
  while (len) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) + 1 : len;
    if (nl && b->len == 0) {
      own_line(r, k, data, take);   /* a whole line: no copy */
    } else {
      brr_buf_append(b, data, take);
      if (nl || b->len > OWN_LINE_MAX) {
        brr_buf line = *b;
        *b = (brr_buf)BRR_BUF_INIT;
        own_line(r, k, line.data, line.len);
        brr_buf_free(&line);
      }
    }
    data += take;
    len -= take;
  }
}

/* The output of the driver. */
static void own_output(void *ud, int stream, const char *data, size_t len) {
  own_feed(ud, stream == BRR_ENGINE_STDERR, data, len);
}

/* The end of the output: last lines without a newline, and lines held for a marker that
 * never came on the other stream (the process was killed between the two). */
static void own_output_flush(brr_run_task *r) {
  for (int k = 0; k < 2; k++) {
    brr_buf line = r->line[k];
    r->line[k] = (brr_buf)BRR_BUF_INIT;
    if (line.len) own_line(r, k, line.data, line.len);
    brr_buf_free(&line);
  }
  if ((r->past[0] > r->cmd_i || r->past[1] > r->cmd_i) && r->cmd_i < r->n_cmds)
    own_command_ended(r, r->marker_code);
  for (int k = 0; k < 2; k++) {
    if (r->held[k].len) brr_task_output(r->task, NULL, stream_of(k), r->held[k].data, r->held[k].len);
    brr_buf_free(&r->held[k]);
  }
}

/* ---- plan ---- */

static char *lower(const char *s) {
  char *l = brr_xstrdup(s);
  for (char *p = l; *p; p++) *p = (char)tolower((unsigned char)*p);
  return l;
}

static void stage_plan(brr_run_task *r) {
  brr_runtime *rt = r->rt;
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_step_begin(rt, r->step, &d) != 0) {
    brr_run_fail(r, BRR_EIO, false, "%s", d.n ? d.v[0].msg : "cannot create the results directory");
    brr_diags_free(&d);
    return;
  }
  const brr_runlike *c = &r->run->c;
  if (c->image.s) {
    r->image = lower(c->image.s);
    /* the committed set is matched verbatim, before lower-casing (spec §5) */
    r->pull = brr_runtime_should_pull(rt, c->pull, c->image.s);
  } else if (rt->steps[r->step].build_image) {
    r->image = brr_xstrdup(rt->steps[r->step].build_image);
    r->local_image = true;
  } else {
    brr_mark m = r->run->c.node ? r->run->c.node->mark : r->s->name.mark;
    brr_diag_error(&d, m, NULL, "Docker run context must specify a \"image\" attribute or be "
                   "preceded by a build context");
  }
  r->name = brr_uuid4();
  int rc = d.n_errors ? BRR_ECONFIG : 0;
  if (brr_run_plan_make(rt, r->step, c, NULL, r->name, &r->plan, &d) != 0) rc = BRR_ECONFIG;
  if (brr_run_services_plan(r, &d) != 0) rc = BRR_ECONFIG;
  if (brr_run_caches_plan(r, &d) != 0) rc = BRR_ECONFIG;
  if (rc != 0) {
    const brr_diag *g = d.v;
    for (size_t i = 0; i < d.n; i++)
      if (d.v[i].level == BRR_DIAG_ERROR) {
        g = &d.v[i];
        break;
      }
    char *where = g->mark.file ? brr_xasprintf("%s:%u:%u: ", g->mark.file, g->mark.line,
                                               g->mark.col) : brr_xstrdup("");
    bool config = g->exit_code == 0 || g->exit_code == BRR_EXIT_CONFIG;
    brr_run_fail(r, config ? BRR_ECONFIG : BRR_EIO, config, "%s%s", where, g->msg);
    free(where);
    brr_diags_free(&d);
    return;
  }
  for (size_t i = 0; i < d.n; i++) brr_task_log(r->task, BRR_LOG_WARNING, "%s", d.v[i].msg);
  brr_diags_free(&d);
  if (r->run->ssh_keys.n) {
    brr_diags ad = BRR_DIAGS_INIT;
    int arc = brr_run_agent_start(rt, r->step, r->run, &r->agent, &ad);
    if (arc != 0) {
      const brr_diag *g = ad.v;
      char *where = g && g->mark.file ? brr_xasprintf("%s:%u:%u: ", g->mark.file, g->mark.line, g->mark.col)
                                      : brr_xstrdup("");
      bool config = arc == BRR_ECONFIG;
      brr_run_fail(r, config ? BRR_ECONFIG : BRR_EFAILED, config, "%s%s", where, g ? g->msg : "ssh-keys");
      free(where);
      brr_diags_free(&ad);
      return;
    }
    brr_diags_free(&ad);
    brr_task_log(r->task, BRR_LOG_INFO, "ssh agent with %zu key(s) at %s (the container's /ssh-agent/agent)",
                 r->run->ssh_keys.n, r->agent.sock);
    brr_run_strv_add(&r->plan.binds, "%s:/ssh-agent", r->agent.dir);
    brr_run_strv_setenv(&r->plan.env, "SSH_AUTH_SOCK", "/ssh-agent/agent");
    /* services see the agent only when they ask (inject-ssh-agent, spec §6) */
    for (size_t i = 0; i < r->n_svcs; i++) {
      if (!r->svcs[i].cfg || !r->svcs[i].cfg->inject_ssh_agent) continue;
      brr_run_strv_add(&r->svcs[i].plan.binds, "%s:/ssh-agent", r->agent.dir);
      brr_run_strv_setenv(&r->svcs[i].plan.env, "SSH_AUTH_SOCK", "/ssh-agent/agent");
    }
  }
  brr_run_next(r);
}

/* ---- /source ---- */

static void on_source(void *ud, const char *path, const char *error) {
  brr_run_task *r = ud;
  if (!path) {
    brr_run_fail(r, BRR_EIO, false, "%s", error ? error : "no /source tar");
    return;
  }
  r->source_tar = path;
  brr_run_next(r);
}

static void on_source_image(void *ud, const char *id, const char *error) {
  brr_run_task *r = ud;
  if (id) {
    r->source_image = id;
    brr_run_next(r);
  } else if (error) {
    brr_run_fail(r, BRR_EIO, false, "%s", error);
  } else {
    /* names an image layer would read as deletions: the tar goes in as it is */
    brr_run_source_want(r->rt, &r->src_wait, on_source, r);
  }
}

/* Without services, /source comes from the source image: the engine copies it into the
 * source container's new volume (a copy inside the engine, where a PUT of the tar costs a
 * helper process per step: 60-70 ms of CPU, the whole gap to `docker run` with many steps
 * at once). With services, the step volume they share is filled by one PUT. */
static void stage_source(brr_run_task *r) {
  if (r->n_svcs == 0)
    brr_run_source_image_want(r->rt, brr_rt_engine(r->rt, r->step), &r->src_wait, on_source_image, r);
  else
    brr_run_source_want(r->rt, &r->src_wait, on_source, r);
}

/* ---- the run image ---- */

static void on_image(void *ud, int status, const char *error, const cJSON *inspect) {
  brr_run_task *r = ud;
  if (status == BRR_ECANCELED || r->base.cancelled) {
    to_teardown(r);
    return;
  }
  if (status == BRR_ENOENT) {
    /* exit 1, not buildrunner's 78 (ImageNotFound): the files are right, the registry lacks it */
    brr_run_fail(r, BRR_EIO, false, "image %s not found: %s", r->image, error ? error : "");
    return;
  }
  if (status != 0) {
    brr_run_fail(r, status, false, "%s", error ? error : "cannot get the image");
    return;
  }
  const brr_runlike *c = &r->run->c;
  const cJSON *user = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(inspect, "Config"), "User");
  if (cJSON_IsString(user) && *user->valuestring) brr_runtime_set(&r->image_user, user->valuestring);
  r->systemd = c->systemd != BRR_UNSET ? c->systemd == BRR_TRUE
                                        : brr_run_label_truthy(inspect, "BUILDRUNNER_SYSTEMD");
  if (r->systemd)
    r->cgroup2 = c->systemd_cgroup2 != BRR_UNSET
                     ? c->systemd_cgroup2 == BRR_TRUE
                     : brr_run_label_truthy(inspect, "BUILDRUNNER_SYSTEMD_CGROUP2");
  if (r->cgroup2 && access("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0) {
    brr_run_fail(r, BRR_EFAILED, false, "cgroup v2 is not enabled on this host but is set on "
                 "the container, please check configuration");
    return;
  }
  brr_run_next(r);
}

static void stage_image(brr_run_task *r) {
  brr_task_log(r->task, BRR_LOG_INFO, "Creating build container from image \"%s\"", r->image);
  brr_run_image_start(&r->img, r->rt, r->task, r->image, r->platform, r->pull, on_image, r);
}

/* ---- the container ---- */

/* systemd (spec §9.2): init as the command, and the cgroup recipe of the host's version. */
static void systemd_spec(bool cgroup2, brr_run_strv *binds, brr_run_strv *tmpfs,
                         brr_engine_container_spec *sp) {
  static const char *const init[] = {"/usr/sbin/init", NULL};
  static const char *const seccomp[] = {"seccomp=unconfined", NULL};
  sp->cmd = init;
  sp->security_opt = seccomp;
  if (cgroup2) {
    brr_run_strv_add(binds, "/sys/fs/cgroup/buildrunner.scope:/sys/fs/cgroup:rw");
    brr_run_strv_add(tmpfs, "/run");
    sp->cgroupns = "host";
  } else {
    brr_run_strv_add(binds, "/sys/fs/cgroup:/sys/fs/cgroup:ro");
  }
}

/* The anonymous /source volume's name: the container's removal takes the volume along, but
 * a removal by someone else (docker rm -f, without -v) leaves it, and then brr removes it. */
static void note_anon_volume(brr_run_task *r, const brr_engine_result *res) {
  const cJSON *it;
  if (res->status == 0)
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res->json, "Mounts")) {
      const cJSON *dst = cJSON_GetObjectItemCaseSensitive(it, "Destination");
      const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "Name");
      if (cJSON_IsString(dst) && strcmp(dst->valuestring, BRR_RUN_SOURCE_DIR) == 0 &&
          cJSON_IsString(name) && *name->valuestring)
        brr_runtime_set(&r->anon_volume, name->valuestring);
    }
}

static void on_created_inspect(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  note_anon_volume(r, res);
  if (!brr_run_ok(r, res)) return;
  brr_run_next(r);
}

static void on_created(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (res->status == 0 && res->id) r->id = brr_xstrdup(res->id);
  if (!brr_run_ok(r, res)) return;
  if (!r->volume && !r->own && !r->src_id) {
    /* (an own-process container is inspected while /source goes in) */
    r->req = brr_engine_container_inspect(brr_rt_engine(r->rt, r->step), r->id, on_created_inspect, r);
    return;
  }
  brr_run_next(r);
}

static void stage_create(brr_run_task *r);

static void on_src_created(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (res->status == 0 && res->id) r->src_id = brr_xstrdup(res->id);
  if (!brr_run_ok(r, res)) return;
  r->source_put = true;   /* the engine filled its /source volume from the image */
  stage_create(r);
}

/* The source container: never started; created from the source image with a volume at
 * /source, which the engine fills from the image, as buildrunner's source container. */
static void create_source_container(brr_run_task *r) {
  brr_engine_container_spec sp = {0};
  static const char *const cmd[] = {BRR_RUN_SOURCE_DIR, NULL};
  char *name = brr_xasprintf("%s-source", r->name);
  char *label = brr_xasprintf("brr.step=%s", r->s->name.s);
  const char *labels[] = {label, NULL};
  cJSON *extra = cJSON_CreateObject();
  cJSON_AddItemToObject(cJSON_AddObjectToObject(extra, "Volumes"), BRR_RUN_SOURCE_DIR,
                        cJSON_CreateObject());
  sp.name = name;
  sp.image = r->source_image;
  sp.cmd = cmd;
  sp.labels = labels;
  sp.network = "none";
  sp.extra_config = extra;
  r->req = brr_engine_container_create(brr_rt_engine(r->rt, r->step), &sp, on_src_created, r);
  cJSON_Delete(extra);
  free(label);
  free(name);
}

static void stage_create(brr_run_task *r) {
  if (r->source_image && !r->src_id) {
    create_source_container(r);
    return;
  }
  const brr_runlike *c = &r->run->c;
  brr_engine_container_spec sp = {0};
  brr_run_strv binds = {0}, vf = {0}, dns = {0}, hosts = {0}, caps = {0}, tmpfs = {0}, labels = {0};
  for (size_t i = 0; i < r->plan.binds.n; i++) brr_run_strv_add(&binds, "%s", r->plan.binds.v[i]);
  const char *shell_cmd[] = {r->plan.shell, NULL};
  const char **own_cmd = NULL;
  sp.cmd = r->plan.shell ? shell_cmd : NULL;
  r->n_cmds = command_count(r);
  r->own = own_process(r);
  if (r->own) sp.cmd = own_cmd = own_argv(r);
  if (r->systemd) systemd_spec(r->cgroup2, &binds, &tmpfs, &sp);
  cJSON *extra = NULL;
  if (r->volume) {
    brr_run_strv_add(&binds, "%s:%s", r->volume, BRR_RUN_SOURCE_DIR);
  } else if (r->src_id) {
    brr_run_strv_add(&vf, "%s:rw", r->src_id);
  } else {
    /* an anonymous volume: /source exists before start, the tar goes in, and it leaves
     * with the container */
    extra = cJSON_CreateObject();
    cJSON_AddItemToObject(cJSON_AddObjectToObject(extra, "Volumes"), BRR_RUN_SOURCE_DIR,
                          cJSON_CreateObject());
  }
  brr_diags d = BRR_DIAGS_INIT;
  brr_run_map_volumes_from(r, c, r->n_svcs, &vf, &d);   /* checked by the plan */
  brr_diags_free(&d);
  brr_run_resolve_hosts(r, c, &dns, &hosts);
  for (size_t i = 0; i < r->run->cap_add.n; i++) brr_run_strv_add(&caps, "%s", r->run->cap_add.v[i].s);
  brr_run_strv_add(&labels, "brr.step=%s", r->s->name.s);
  const char *aliases[] = {c->hostname.s, NULL};
  sp.name = r->name;
  sp.image = r->image;
  sp.env = brr_run_strv_get(&r->plan.env);
  sp.working_dir = c->cwd.s ? c->cwd.s : BRR_RUN_SOURCE_DIR;
  sp.user = c->user.s;
  sp.hostname = c->hostname.s;
  /* the idle shell needs a terminal to wait on; the command itself runs as an exec would:
   * no terminal, stdin empty, stdout and stderr apart */
  sp.tty = !r->own;
  sp.open_stdin = !r->own;
  sp.privileged = r->run->privileged;
  sp.labels = brr_run_strv_get(&labels);
  sp.binds = brr_run_strv_get(&binds);
  sp.volumes_from = brr_run_strv_get(&vf);
  sp.dns = brr_run_strv_get(&dns);
  sp.dns_search = brr_run_strv_get(&r->plan.dns_search);
  sp.extra_hosts = brr_run_strv_get(&hosts);
  sp.cap_add = brr_run_strv_get(&caps);
  sp.tmpfs = brr_run_strv_get(&tmpfs);
  sp.ports = brr_run_strv_get(&r->plan.ports);
  sp.network = r->network;
  sp.aliases = r->network && c->hostname.s ? aliases : NULL;
  sp.memory = r->plan.memory;
  sp.cpu_shares = c->has_cpu_shares ? c->cpu_shares : 0;
  sp.cpu_period = c->has_cpu_period ? c->cpu_period : 0;
  sp.cpu_quota = c->has_cpu_quota ? c->cpu_quota : 0;
  sp.extra_config = extra;
  r->req = brr_engine_container_create(brr_rt_engine(r->rt, r->step), &sp, on_created, r);
  cJSON_Delete(extra);
  free(own_cmd);
  brr_run_strv_free(&binds);
  brr_run_strv_free(&vf);
  brr_run_strv_free(&dns);
  brr_run_strv_free(&hosts);
  brr_run_strv_free(&caps);
  brr_run_strv_free(&tmpfs);
  brr_run_strv_free(&labels);
}

static void on_step_ok(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (brr_run_ok(r, res)) brr_run_next(r);
}

static void on_source_put(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  r->source_put = true;
  brr_run_next(r);
}

/* Both halves of putting /source in while the container starts have reported. */
static void join_done(brr_run_task *r, const brr_engine_result *res) {
  if (res->status != 0 && !r->join_status) {
    r->join_status = res->status;
    brr_runtime_set(&r->join_error, res->error ? res->error : "the engine failed");
  }
  if (--r->join_n > 0) return;
  if (r->base.cancelled || r->join_status == BRR_ECANCELED) {
    to_teardown(r);
    return;
  }
  if (r->join_status) {
    brr_run_fail(r, r->join_status, false, "%s", r->join_error);
    return;
  }
  r->source_put = true;
  if (!r->own) r->started = true;   /* the own process starts after /source is in */
  brr_run_next(r);
}

static void on_join_put(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req2 = NULL;
  join_done(r, res);
}

static void on_join_inspect(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  note_anon_volume(r, res);
  join_done(r, res);
}

static void on_join_start(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->req = NULL;
  join_done(r, res);
}

static void stage_put_source(brr_run_task *r) {
  if (!r->deps_put && !brr_run_engine_local(r->rt, r->step)) {
    /* no bind of the results dir there: the other steps' artifacts go in first (also when
     * a service already filled the step's /source volume) */
    brr_run_deps_put(r, stage_put_source);
    return;
  }
  if (r->source_put) {
    brr_run_next(r);
    return;
  }
  brr_engine_body body = {.path = r->source_tar};
  if (has_commands(r) && !r->systemd && !r->own) {
    /* the container only idles in its shell until the first exec: /source can go in while
     * it starts */
    r->join_n = 2;
    r->req = brr_engine_container_start(brr_rt_engine(r->rt, r->step), r->id, on_join_start, r);
    r->req2 = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), r->id, BRR_RUN_SOURCE_DIR, &body,
                                               on_join_put, r);
    return;
  }
  if (r->own && !r->volume) {
    /* the own process starts only once /source is in; the inspect for the name of the
     * anonymous volume goes at the same time */
    r->join_n = 2;
    r->req = brr_engine_container_inspect(brr_rt_engine(r->rt, r->step), r->id, on_join_inspect, r);
    r->req2 = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), r->id, BRR_RUN_SOURCE_DIR, &body,
                                               on_join_put, r);
    return;
  }
  r->req = brr_engine_container_archive_put(brr_rt_engine(r->rt, r->step), r->id, BRR_RUN_SOURCE_DIR, &body,
                                            on_source_put, r);
}

static void on_attach_end(void *ud, const brr_engine_result *res);

/* The image's own command: attached before it starts, so no output is lost. */
static void on_attach_open(void *ud) {
  brr_run_task *r = ud;
  if (r->base.cancelled || r->status || r->stage != BRR_RUN_ST_START) return;
  r->attach_open = true;
  r->req = brr_engine_container_start(brr_rt_engine(r->rt, r->step), r->id, on_step_ok, r);
}

static void stage_start(brr_run_task *r) {
  if (r->started) {
    brr_run_next(r);
    return;
  }
  if (r->own && r->caches_planned && r->caches.n && !r->restored) {
    /* caches go in before the process starts, as they would before the first exec */
    r->restored = true;
    brr_run_restore_before_start(r, stage_start);
    return;
  }
  r->started = true;
  if (r->own) brr_task_log(r->task, BRR_LOG_INFO, "cmd> %s", command_at(r, 0));
  if ((!r->plan.shell || r->own) && !r->systemd) {
    brr_engine_stream_opts so = {.tty = r->own ? 0 : 1,
                                 .on_output = r->token ? own_output : brr_run_output,
                                 .on_open = on_attach_open};
    brr_run_stream_begin(r);
    r->attach = brr_engine_container_attach(brr_rt_engine(r->rt, r->step), r->id, &so, on_attach_end, r);
    return;
  }
  r->req = brr_engine_container_start(brr_rt_engine(r->rt, r->step), r->id, on_step_ok, r);
}

static void stage_provision(brr_run_task *r) {
  brr_run_provision(r, r->id, NULL, &r->plan, &r->script_i, brr_run_next);
}

/* ---- commands ---- */

static void run_command(brr_run_task *r);

static void on_command(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  const char *cmd = command_at(r, r->cmd_i);
  brr_task_log(r->task, res->exit_code ? BRR_LOG_ERROR : BRR_LOG_INFO,
               "Command \"%s\" exited with code %lld", cmd, (long long)res->exit_code);
  if (res->exit_code != 0) {
    r->exit_code = res->exit_code;
    r->failed_what = brr_xasprintf("command \"%s\"", cmd);
    brr_task_finishing(r->task);
    /* killed (137): was it the container's removal? */
    if (res->exit_code == 137) check_gone(r, 0, NULL, res->exit_code, brr_run_next);
    else brr_run_next(r);
    return;
  }
  r->cmd_i++;
  run_command(r);
}

static void run_command(brr_run_task *r) {
  const char *cmd = command_at(r, r->cmd_i);
  if (!cmd) {
    r->ran = true;
    /* what follows (caches, artifacts, commit) completes the step even if a sibling fails */
    brr_task_finishing(r->task);
    brr_run_next(r);
    return;
  }
  brr_task_log(r->task, BRR_LOG_INFO, "cmd> %s", cmd);
  const char *argv[] = {r->plan.shell, "-xc", cmd, NULL, NULL, NULL};
  if (r->cmd_i == 0) first_command_argv(r, argv);
  const char *const *av = argv;
  brr_engine_exec_spec ex = {.cmd = av, .on_output = brr_run_output};
  r->req = brr_engine_exec_run(brr_rt_engine(r->rt, r->step), r->id, &ex, on_command, r);
}

/* The own process ended and its output too (and any check that it was not removed from
 * outside is done): on to what follows the commands. */
static void own_checked(brr_run_task *r) { brr_run_next(r); }

/* Both the wait and the output of the own process have ended: the outcome of its commands.
 * Markers reported every command that ended (several commands); the one running when the
 * process ended without one (a single command, or a kill) is reported with the process's
 * exit code, as its exec would have been. */
static void own_finish(brr_run_task *r) {
  own_output_flush(r);
  int64_t code = r->wait_code;
  if (!r->marker_failed && r->cmd_i < r->n_cmds) {
    const char *cmd = command_at(r, r->cmd_i);
    brr_task_log(r->task, code ? BRR_LOG_ERROR : BRR_LOG_INFO, "Command \"%s\" exited with code %lld",
                 cmd, (long long)code);
    if (code != 0) {
      r->exit_code = code;
      free(r->failed_what);
      r->failed_what = brr_xasprintf("command \"%s\"", cmd);
    }
  } else if (!r->marker_failed && code != 0) {
    /* every command passed, then the process ended badly (killed after the last marker) */
    r->exit_code = code;
    free(r->failed_what);
    r->failed_what = brr_xstrdup("the container");
  }
  if (r->exit_code == 0) {
    r->ran = true;
    own_checked(r);
  } else if (code == 137) {
    /* killed: was it the container's removal? */
    check_gone(r, 0, NULL, code, own_checked);
  } else {
    own_checked(r);
  }
}

static void on_exited(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  if (r->own) {
    /* the commands were the container's process: reported once its output has ended too */
    r->wait_code = res->exit_code;
    brr_task_finishing(r->task);
    r->exited = true;
    if (!r->attach) own_finish(r);
    return;
  }
  brr_task_log(r->task, BRR_LOG_INFO, "Container exited with code %lld", (long long)res->exit_code);
  r->ran = true;
  brr_task_finishing(r->task);
  if (res->exit_code != 0) {
    r->exit_code = res->exit_code;
    r->failed_what = brr_xstrdup("the container");
  }
  r->exited = true;
  if (!r->attach) brr_run_next(r);   /* else the end of its output goes on */
}

static void on_attach_end(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  r->attach = NULL;
  if (res->status != 0 && res->status != BRR_ECANCELED && !r->base.cancelled)
    brr_task_log(r->task, BRR_LOG_WARNING, "%s", res->error ? res->error : "attach failed");
  bool go_on = r->exited && r->stage == BRR_RUN_ST_COMMANDS;
  bool never_opened = r->stage == BRR_RUN_ST_START && !r->attach_open;
  brr_run_stream_end(r);
  if (go_on && r->own) own_finish(r);
  else if (go_on) brr_run_next(r);
  else if (never_opened) brr_run_fail(r, res->status ? res->status : BRR_EIO, false, "%s",
                                      res->error ? res->error : "attach failed");
}

static void stage_commands(brr_run_task *r) {
  if (has_commands(r) && !r->own) {
    run_command(r);
    return;
  }
  if (!r->attach && !r->attach_open) {
    /* a shell or init with no commands to exec: buildrunner waits for it as well */
    brr_engine_stream_opts so = {.tty = 1, .logs = true, .on_output = brr_run_output};
    brr_run_stream_begin(r);
    r->attach = brr_engine_container_attach(brr_rt_engine(r->rt, r->step), r->id, &so, on_attach_end, r);
  }
  r->req = brr_engine_container_wait(brr_rt_engine(r->rt, r->step), r->id, NULL, on_exited, r);
}

/* ---- after the commands ---- */

static bool commit_wanted(const brr_run_task *r) {
  bool wanted = r->s->n_commit || r->s->n_push || r->run->post_build;
  return wanted && r->exit_code == 0 && r->ran;
}

/* buildrunner stops the container (stop -t0) before it gathers artifacts and commits. When
 * neither follows, the teardown's forced removal kills it in one call instead of two. */
static void stage_stop(brr_run_task *r) {
  if (r->own || (!commit_wanted(r) && r->n_matches == 0)) {
    brr_run_next(r);
    return;
  }
  r->req = brr_engine_container_stop(brr_rt_engine(r->rt, r->step), r->id, 0, on_step_ok, r);
}

static void on_committed(void *ud, const brr_engine_result *res) {
  brr_run_task *r = ud;
  if (!brr_run_ok(r, res)) return;
  brr_runtime_set(&r->rt->steps[r->step].run_image, res->id);
  brr_runtime_generated(r->rt, res->id);
  brr_task_log(r->task, BRR_LOG_INFO, "Resulting build container image: %.19s", res->id);
  brr_run_next(r);
}

/* The final state becomes an image only when a later node of the step uses it. */
static void stage_commit(brr_run_task *r) {
  if (!commit_wanted(r)) {
    brr_run_next(r);
    return;
  }
  brr_task_log(r->task, BRR_LOG_INFO, "Committing build container %.10s as an image", r->id);
  brr_engine_commit_opts o = {0};
  /* an own process's container has its commands as its command: the image gets the shell,
   * as the idle-shell container gives it */
  char *cmd = NULL;
  const char *changes[2] = {NULL, NULL};
  if (r->own) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateString(r->plan.shell));
    char *json = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    cmd = brr_xasprintf("CMD %s", json);
    cJSON_free(json);
    changes[0] = cmd;
    o.changes = changes;
  }
  r->req = brr_engine_container_commit(brr_rt_engine(r->rt, r->step), r->id, &o, on_committed, r);
  free(cmd);
}

/* ---- teardown: every container of the step at once, then the network and the volume ---- */

static void removals_settled(brr_run_task *r) {
  if (r->n_removing > 0) return;
  if (r->src_id && !r->base.aborted) {
    /* the source container last: the run container used its /source volume, which goes
     * with whichever of the two is removed last */
    char *id = r->src_id;
    r->src_id = NULL;
    brr_run_remove_container(r, id, false);
    free(id);
    return;
  }
  while (r->removals) {
    brr_run_rm *x = r->removals;
    r->removals = x->next;
    free(x->ref);
    free(x);
  }
  brr_run_next(r);
}

static void on_labelled(void *ud, const brr_engine_result *res);

static void on_container_removed(void *ud, const brr_engine_result *res) {
  brr_run_rm *x = ud;
  brr_run_task *r = x->r;
  x->req = NULL;
  if (res->http_status == 409 && res->error && strstr(res->error, "already in progress") &&
      !r->base.aborted) {
    /* someone else removes it (a container removed mid-run): wait until it is gone, so that
     * its /source volume is free for the removal that follows */
    x->req = brr_engine_container_wait(brr_rt_engine(r->rt, r->step), x->ref, "removed", on_container_removed, x);
    return;
  }
  if (res->status == BRR_ENOENT && x->by_label && !r->base.aborted) {
    /* no container of that name: buildrunner then removes the containers with that label */
    x->req = brr_engine_list(brr_rt_engine(r->rt, r->step), BRR_ENGINE_CONTAINER, x->ref, on_labelled, x);
    return;
  }
  if (res->status != 0 && res->status != BRR_ENOENT && res->status != BRR_ECANCELED)
    brr_task_log(r->task, BRR_LOG_WARNING, "%s", res->error ? res->error : "removal failed");
  r->n_removing--;
  removals_settled(r);
}

static void on_labelled(void *ud, const brr_engine_result *res) {
  brr_run_rm *x = ud;
  brr_run_task *r = x->r;
  x->req = NULL;
  size_t found = 0;
  const cJSON *it;
  if (res->status == 0 && !r->base.aborted) {
    cJSON_ArrayForEach(it, res->json) {
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "Id");
      if (!cJSON_IsString(id)) continue;
      brr_run_remove_container(r, id->valuestring, false);
      found++;
    }
  }
  if (res->status == 0 && found == 0)
    brr_task_log(r->task, BRR_LOG_WARNING, "Unable to find docker container with name or label "
                 "\"%s\"", x->ref);
  r->n_removing--;
  removals_settled(r);
}

void brr_run_remove_container(brr_run_task *r, const char *ref, bool by_label) {
  brr_run_rm *x = brr_xcalloc(1, sizeof *x);
  x->r = r;
  x->ref = brr_xstrdup(ref);
  x->by_label = by_label;
  x->next = r->removals;
  r->removals = x;
  r->n_removing++;
  x->req = brr_engine_container_remove(brr_rt_engine(r->rt, r->step), ref, true, true, on_container_removed, x);
}

static void stage_teardown(brr_run_task *r) {
  if (r->base.aborted) {
    brr_run_next(r);   /* the scheduler's last-resort cleanup removes everything at once */
    return;
  }
  r->n_removing++;   /* held until every removal below is under way */
  if (r->id) brr_run_remove_container(r, r->id, false);
  for (size_t i = 0; i < r->run->c.containers.n; i++)
    brr_run_remove_container(r, r->run->c.containers.v[i].s, true);
  if (r->lister) brr_run_remove_container(r, r->lister, false);
  for (size_t i = r->n_svcs; i-- > 0;) {
    brr_run_svc *v = &r->svcs[i];
    if (v->id) brr_run_remove_container(r, v->id, false);
    for (size_t k = 0; v->id && k < v->cfg->c.containers.n; k++)
      brr_run_remove_container(r, v->cfg->c.containers.v[k].s, true);
  }
  r->n_removing--;
  removals_settled(r);
}

/* ---- the end ---- */

/* brr_task_end closes the timer (and waits for a dropped wait_for probe's close) before the
 * report goes out: no handle outlives the task. */
static void report(brr_run_task *r) {
  brr_runtime *rt = r->rt;
  /* the agent lives exactly as long as the step */
  brr_run_agent_stop(&r->agent);
  brr_run_probe_drop(r);
  if (r->base.cancelled) {
    brr_task_end(r->task, BRR_ECANCELED, NULL);
    return;
  }
  char *why = NULL;
  int status = r->status;
  if (status) {
    why = brr_xstrdup(r->error ? r->error : "failed");
  } else if (r->exit_code != 0 || !r->ran) {
    status = BRR_EFAILED;
    why = brr_xasprintf("Error running build container: %s exited with code %lld",
                        r->failed_what ? r->failed_what : "the container", (long long)r->exit_code);
  }
  if (status && r->run->xfail) {
    brr_task_log(r->task, BRR_LOG_INFO, "Step \"%s\" failed with exception: %s\n    Ignoring "
                 "due to XFAIL", r->s->name.s, why);
    free(why);
    brr_task_end(r->task, 0, NULL);
    return;
  }
  if (status && r->config_error) rt->config_failed = true;
  brr_task_end(r->task, status, why);
  free(why);
}

static void stage_end(brr_run_task *r) {
  if (r->base.ending) return;
  if (r->attach) brr_engine_cancel(r->attach);
  for (size_t i = 0; i < r->n_svcs; i++)
    if (r->svcs[i].stream) brr_engine_cancel(r->svcs[i].stream);
  if (r->n_streams > 0) return;   /* brr_run_stream_end comes back here */
  report(r);
}

static const stage_fn STAGES[BRR_RUN_ST_COUNT] = {
    [BRR_RUN_ST_PLAN] = stage_plan,
    [BRR_RUN_ST_SOURCE] = stage_source,
    [BRR_RUN_ST_NETWORK] = brr_run_stage_network,
    [BRR_RUN_ST_SERVICES] = brr_run_stage_services,
    [BRR_RUN_ST_IMAGE] = stage_image,
    [BRR_RUN_ST_CREATE] = stage_create,
    [BRR_RUN_ST_PUT_SOURCE] = stage_put_source,
    [BRR_RUN_ST_START] = stage_start,
    [BRR_RUN_ST_PROVISION] = stage_provision,
    [BRR_RUN_ST_CACHE_RESTORE] = brr_run_stage_cache_restore,
    [BRR_RUN_ST_COMMANDS] = stage_commands,
    [BRR_RUN_ST_CACHE_SAVE] = brr_run_stage_cache_save,
    [BRR_RUN_ST_LIST] = brr_run_stage_list,
    [BRR_RUN_ST_STOP] = stage_stop,
    [BRR_RUN_ST_FETCH] = brr_run_stage_fetch,
    [BRR_RUN_ST_COMMIT] = stage_commit,
    [BRR_RUN_ST_TEARDOWN] = stage_teardown,
    [BRR_RUN_ST_NETWORK_DOWN] = brr_run_stage_network_down,
    [BRR_RUN_ST_END] = stage_end,
};

/* ---- the task ---- */

static int run_start(brr_task *t, uv_loop_t *loop) {
  (void)loop;
  brr_run_task *r = t->impl;
  run_stage(r, BRR_RUN_ST_PLAN);
  return 0;
}

/* Stop what is in flight; its callback (or, for waits with no callback, this) goes on to the
 * teardown, which removes what was made. The scheduler set t->cancelled (and never calls
 * this after the end). */
static void run_cancel(brr_task *t) {
  brr_run_task *r = t->impl;
  if (r->stage >= BRR_RUN_ST_TEARDOWN) return;
  if (r->req || r->req2) {
    if (r->req) brr_engine_cancel(r->req);
    if (r->req2) brr_engine_cancel(r->req2);
    return;
  }
  if (r->deps_busy) return;   /* the /artifacts tar's end goes on to the teardown */
  if (brr_run_image_busy(&r->img)) {
    brr_run_image_cancel(&r->img);
    return;
  }
  if (r->src_wait.waiting) brr_run_source_drop(r->rt, &r->src_wait);
  if (r->base.timer_open) uv_timer_stop(&r->base.timer);
  gone_free(r);
  brr_run_probe_drop(r);
  to_teardown(r);
}

/* The last resort: no more removals (the scheduler's synchronous cleanup does them), only
 * the callbacks of what is in flight, then the report. */
static void run_abort(brr_task *t) {
  brr_run_task *r = t->impl;
  if (!t->cancelled) {
    t->cancelled = true;
    run_cancel(t);
    if (t->ending) return;
  }
  if (r->req) brr_engine_cancel(r->req);
  if (r->req2) brr_engine_cancel(r->req2);
  if (r->attach) brr_engine_cancel(r->attach);
  for (brr_run_rm *x = r->removals; x; x = x->next)
    if (x->req) brr_engine_cancel(x->req);
  for (size_t i = 0; i < r->n_svcs; i++)
    if (r->svcs[i].stream) brr_engine_cancel(r->svcs[i].stream);
}

static void run_free(brr_task *t) {
  brr_run_task *r = t->impl;
  brr_run_agent_stop(&r->agent);
  brr_run_plan_free(&r->plan);
  for (size_t i = 0; i < r->n_svcs; i++) {
    brr_run_svc *v = &r->svcs[i];
    brr_run_plan_free(&v->plan);
    free(v->name);
    free(v->source);
    free(v->id);
    free(v->image);
    free(v->ip);
    brr_build_inputs_free(&v->inputs);
  }
  free(r->svcs);
  free(r->network);
  free(r->volume);
  free(r->build_ctx);
  free(r->image);
  free(r->name);
  free(r->id);
  free(r->failed_what);
  free(r->image_user);
  free(r->token);
  free(r->driver);
  for (int k = 0; k < 2; k++) {
    brr_buf_free(&r->line[k]);
    brr_buf_free(&r->held[k]);
  }
  free(r->anon_volume);
  free(r->src_id);
  gone_free(r);
  free(r->error);
  free(r->join_error);
  free(r->img.ref);
  free(r->img.platform);
  brr_run_collect_free(r);
  brr_run_probe_drop(r);
}

static const brr_task_ops RUN_OPS = {"run", run_start, run_cancel, run_free, run_abort};

int brr_task_run_new(brr_runtime *rt, size_t node, brr_task **out) {
  const brr_node *n = &rt->graph->nodes[node];
  brr_run_task *r = brr_task_new(sizeof *r, &RUN_OPS);
  r->task = &r->base;
  r->rt = rt;
  r->step = n->step;
  r->s = &rt->cfg->steps[n->step];
  r->run = r->s->run;
  r->platform = n->platform;
  *out = r->task;
  return 0;
}
