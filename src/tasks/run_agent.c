/* A run step's `ssh-keys`: an ssh agent of the step's own holding the keys the global
 * `ssh-keys` entries give for the step's aliases, its socket bind-mounted into the run
 * container at /ssh-agent/agent with SSH_AUTH_SOCK pointing there (spec §6).
 *
 * buildrunner starts an agent container; brr runs the system's `ssh-agent -D -a <sock>` as a
 * child of its own, in a directory inside the run's private temp dir (mode 0700, so no other
 * local user reaches the socket, while the container's user, whoever it is, may), and loads
 * each key with `ssh-add` (a passphrase comes from a small askpass script in the same
 * directory, SSH_ASKPASS_REQUIRE=force). The agent is killed and the directory removed when
 * the step ends, whatever the end. A bind mount needs the engine on this machine: with a
 * remote engine (tcp://, ssh://) ssh-keys are a configuration error. */
#include "brr/tasks.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "brr/spawn.h"
#include "run_internal.h"

/* The global ssh-keys entry that lists `alias` (a list of maps, or one map). */
static const brr_value *find_key(const brr_value *keys, const char *alias) {
  const brr_value *one[1] = {keys};
  const brr_value *const *v = one;
  size_t n = 1;
  if (brr_val_is(keys, BRR_VAL_LIST)) {
    v = (const brr_value *const *)keys->u.list.v;
    n = keys->u.list.n;
  } else if (!brr_val_is(keys, BRR_VAL_MAP)) {
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const brr_value *aliases = brr_val_get(v[i], "aliases");
    if (!brr_val_is(aliases, BRR_VAL_LIST)) continue;
    for (size_t k = 0; k < aliases->u.list.n; k++) {
      const char *a = brr_val_cstr(aliases->u.list.v[k]);
      if (a && strcmp(a, alias) == 0) return v[i];
    }
  }
  return NULL;
}

static int write_private(const char *path, const char *data, mode_t mode) {
  int rc = brr_write_file(path, data, strlen(data));
  if (rc == 0 && chmod(path, mode) != 0) rc = -errno;
  return rc;
}

static int fail(brr_diags *d, brr_mark m, bool config, const char *fmt, ...) BRR_PRINTF(4, 5);
static int fail(brr_diags *d, brr_mark m, bool config, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = brr_xvasprintf(fmt, ap);
  va_end(ap);
  brr_diag *g = brr_diag_error(d, m, NULL, "%s", msg);
  free(msg);
  g->exit_code = config ? BRR_EXIT_CONFIG : BRR_EXIT_FAILED;
  return config ? BRR_ECONFIG : BRR_EFAILED;
}

/* ssh-add one key (a file path); the passphrase, when given, through the askpass script. */
static int add_key(brr_run_agent *a, const char *keyfile, const char *password, size_t n, brr_mark m,
                   brr_diags *d) {
  char *pass = NULL, *askpass = NULL, *errf = brr_path_join(a->dir, "ssh-add.err");
  int rc = 0;
  brr_buf env_sock = BRR_BUF_INIT, env_ask = BRR_BUF_INIT;
  brr_buf_printf(&env_sock, "SSH_AUTH_SOCK=%s", a->sock);
  if (password) {
    pass = brr_xasprintf("%s/pass%zu", a->dir, n);
    askpass = brr_xasprintf("%s/askpass%zu", a->dir, n);
    /* once only: ssh-add asks again after a wrong passphrase, and an askpass that fails
     * makes it give up */
    char *script = brr_xasprintf("#!/bin/sh\n[ -e '%s.used' ] && exit 1\n: > '%s.used'\nexec cat '%s'\n",
                                 pass, pass, pass);
    char *line = brr_xasprintf("%s\n", password);
    if (write_private(pass, line, 0600) != 0 || write_private(askpass, script, 0700) != 0)
      rc = fail(d, m, false, "ssh-keys: cannot write the askpass helper in %s", a->dir);
    free(script);
    free(line);
    brr_buf_printf(&env_ask, "SSH_ASKPASS=%s", askpass);
  }
  if (rc == 0) {
    /* the environment ssh-add needs and nothing of the user's agent */
    char *env[] = {(char *)brr_buf_cstr(&env_sock), password ? (char *)brr_buf_cstr(&env_ask) : NULL,
                   password ? "SSH_ASKPASS_REQUIRE=force" : NULL, password ? "DISPLAY=:0" : NULL, NULL,
                   NULL};
    const char *path = getenv("PATH");
    char *penv = brr_xasprintf("PATH=%s", path ? path : "/usr/bin:/bin");
    env[password ? 4 : 1] = penv;
    const char *argv[] = {"ssh-add", "-q", keyfile, NULL};
    int st = brr_spawn_sync(argv, env, errf, 15);
    free(penv);
    if (st != 0) {
      brr_buf err = BRR_BUF_INIT;
      brr_read_file(errf, &err);
      while (err.len && (err.data[err.len - 1] == '\n' || err.data[err.len - 1] == '\r')) err.data[--err.len] = '\0';
      char *why = st < 0 ? brr_xasprintf("cannot run ssh-add: %s", brr_strerror(st))
                         : brr_xasprintf("ssh-add exited with %d%s%s", st, err.len ? ": " : "",
                                         brr_buf_cstr(&err));
      rc = fail(d, m, false, "ssh-keys: loading %s into the agent: %s", keyfile, why);
      free(why);
      brr_buf_free(&err);
    }
  }
  if (pass) {
    char *used = brr_xasprintf("%s.used", pass);
    unlink(used);
    free(used);
    unlink(pass);
  }
  if (askpass) unlink(askpass);
  unlink(errf);
  free(pass);
  free(askpass);
  free(errf);
  brr_buf_free(&env_sock);
  brr_buf_free(&env_ask);
  return rc;
}

static void agent_exited(void *ud, const brr_spawn_result *res) {
  (void)res;
  brr_run_agent *a = ud;
  a->proc = NULL;   /* the handle goes once this returns */
}

int brr_run_agent_start(brr_runtime *rt, size_t step, const brr_run *run, brr_run_agent *a, brr_diags *d) {
  memset(a, 0, sizeof *a);
  const brr_strlist *want = &run->ssh_keys;
  /* first the configuration: every alias known, the engine local */
  const brr_value **keys = brr_xcalloc(want->n + 1, sizeof *keys);
  int rc = 0;
  for (size_t i = 0; i < want->n && rc == 0; i++) {
    keys[i] = find_key(rt->cfg->global.ssh_keys, want->v[i].s);
    if (!keys[i])
      rc = fail(d, want->v[i].mark, true, "ssh-keys: no entry of the global ssh-keys has the alias '%s'",
                want->v[i].s);
  }
  brr_engine_target t;
  char *err = NULL;
  if (rc == 0) {
    const char *host = brr_engine_host(brr_rt_engine(rt, step));
    if (brr_engine_target_parse(host, false, &t, &err) != 0) {
      rc = fail(d, want->v[0].mark, true, "ssh-keys: %s", err ? err : "bad engine address");
      free(err);
    } else {
      if (!t.unix_path)
        rc = fail(d, want->v[0].mark, true,
                  "ssh-keys need a Docker engine on this machine (the agent's socket is bind-mounted "
                  "into the container); the engine is %s", host);
      brr_engine_target_free(&t);
    }
  }
  if (rc != 0) {
    free(keys);
    return rc;
  }
  char *tmpl = brr_path_join(rt->temp_dir, "ssh-agent.XXXXXX");
  if (!mkdtemp(tmpl)) {
    rc = fail(d, want->v[0].mark, false, "ssh-keys: cannot make %s: %s", tmpl, strerror(errno));
    free(tmpl);
    free(keys);
    return rc;
  }
  /* the container's user may be anyone: the directory and socket are open, the run's temp
   * dir (0700) around them keeps the machine's other users out */
  chmod(tmpl, 0755);
  a->dir = tmpl;
  a->sock = brr_path_join(a->dir, "agent");
  const char *argv[] = {"ssh-agent", "-D", "-a", a->sock, NULL};
  brr_spawn_opts o = {0};
  o.argv = argv;
  o.on_exit = agent_exited;
  o.ud = a;
  a->proc = brr_spawn_start(rt->loop, &o);
  /* the socket appears once the agent listens (a few ms) */
  struct stat st;
  bool up = false;
  for (int i = 0; i < 500 && !up; i++) {
    if (stat(a->sock, &st) == 0 && S_ISSOCK(st.st_mode)) up = true;
    else {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  if (!up) rc = fail(d, want->v[0].mark, false, "ssh-keys: ssh-agent did not start (no socket at %s)", a->sock);
  if (rc == 0) chmod(a->sock, 0666);
  for (size_t i = 0; i < want->n && rc == 0; i++) {
    const char *file = brr_val_cstr(brr_val_get(keys[i], "file"));
    const char *inline_key = brr_val_cstr(brr_val_get(keys[i], "key"));
    const char *password = brr_val_cstr(brr_val_get(keys[i], "password"));
    char *path = NULL;
    if (file) {
      path = brr_path_expanduser(file);
    } else if (inline_key) {
      path = brr_xasprintf("%s/key%zu", a->dir, i);
      /* ssh-add wants the key's last line ended */
      size_t len = strlen(inline_key);
      char *text = brr_xasprintf("%s%s", inline_key, len && inline_key[len - 1] == '\n' ? "" : "\n");
      if (write_private(path, text, 0600) != 0)
        rc = fail(d, want->v[i].mark, false, "ssh-keys: cannot write %s", path);
      free(text);
    } else {
      rc = fail(d, want->v[i].mark, true, "ssh-keys: the entry for '%s' has neither `file` nor `key`",
                want->v[i].s);
    }
    if (rc == 0) rc = add_key(a, path, password, i, want->v[i].mark, d);
    if (path && inline_key && !file) unlink(path);
    free(path);
  }
  free(keys);
  if (rc != 0) brr_run_agent_stop(a);
  return rc;
}

void brr_run_agent_stop(brr_run_agent *a) {
  if (a->proc) brr_spawn_abandon(a->proc);
  a->proc = NULL;
  if (a->dir) brr_rm_rf(a->dir);
  free(a->dir);
  free(a->sock);
  a->dir = a->sock = NULL;
}
