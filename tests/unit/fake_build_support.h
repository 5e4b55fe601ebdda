/* Shared by the build-side node kinds' unit tests (tests/unit/tasks_build_*_test.c): a whole
 * run driven through the public API (a buildrunner.yaml loaded from a temporary directory,
 * the graph compiled, the scheduler running the runtime's tasks) against the fake engine
 * (fake_engine.h), the fake registry (fake_registry.h) and the stand-ins for the docker CLI,
 * twine and ssh (tests/unit/fake_bin/, found first through $BRR_DOCKER, $BRR_TWINE and PATH).
 * It collects the events (each node's end, output lines, log lines) and can act at a
 * moment of the run (a signal once a condition holds), so a test can cancel or abort a node
 * in a given state. Header-only; every function is static. */
#ifndef BRR_TEST_FAKE_BUILD_SUPPORT_H
#define BRR_TEST_FAKE_BUILD_SUPPORT_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "brr/config.h"
#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/tasks.h"
#include "unit/fake_engine.h"
#include "unit/fake_registry.h"
#include "unit/tasks_util.h"

#define FB_MAX_NODES 64

typedef struct fb_world fb_world;
/* Polled every few ms while the run lasts: return true once it has acted (it is not
 * called again). */
typedef bool (*fb_when)(fb_world *w);

struct fb_world {
  char *dir;              /* everything the test makes is under it */
  char *build_dir;        /* dir/build: buildrunner.yaml, .buildrunner.yaml, sources */
  char *fake_dir;         /* dir/fake: the stand-ins' scripts and logs ($FAKE_DIR) */
  char *tmp_dir;          /* dir/tmp: the global temp-dir (the runtime's temp dir) */
  char *results;          /* build_dir/buildrunner.results */
  fake_registry reg;
  fake_engine *eng;
  /* the run */
  brr_config *cfg;
  brr_graph *g;
  bool push;
  bool keep_going;        /* --keep-going: a failure does not cancel the other nodes */
  bool hub;               /* no docker-registry: images come from "Docker Hub" (the fake
                             registry, through $BRR_DOCKER_HUB_URL) */
  const char *platform;
  bool incremental;       /* --incremental (docs/incremental.md; the state under $XDG_CACHE_HOME) */
  int exit_code;
  int finish_rc;
  bool config_failed;
  brr_status status[FB_MAX_NODES];
  char *error[FB_MAX_NODES];
  bool ended[FB_MAX_NODES];
  brr_buf out;            /* "<node>|<source>|<text>\n" per output line */
  brr_buf logs;           /* "<level>|<text>\n" per log line */
  brr_buf phases;         /* "<node> <phase>\n" for each phase begun */
  /* acting during the run */
  fb_when when[4];
  const char *at_method, *at_pattern;   /* fb_at */
  size_t n_when, next_when;
  uv_timer_t poll;
  uint64_t started_ms;
};

static inline char *fb_path(const fb_world *w, const char *rel) { return brr_path_join(w->dir, rel); }

static inline void fb_write(const char *dir, const char *rel, const char *text) { tu_write(dir, rel, text, 0644); }

/* A fresh world: directories, the registry, the fake engine, the stand-ins first. */
static inline void fb_setup(fb_world *w) {
  memset(w, 0, sizeof *w);
  w->dir = tu_mkdtemp();
  w->build_dir = brr_path_join(w->dir, "build");
  w->fake_dir = brr_path_join(w->dir, "fake");
  w->tmp_dir = brr_path_join(w->dir, "tmp");
  w->results = brr_path_join(w->build_dir, "buildrunner.results");
  tu_mkdir(w->dir, "build");
  tu_mkdir(w->dir, "fake");
  tu_mkdir(w->dir, "tmp");
  tu_mkdir(w->dir, "docker-config");
  fb_write(w->dir, "docker-config/config.json", "{}\n");
  if (!fr_start(&w->reg)) abort();
  w->eng = fake_engine_start();
  const char *src = getenv("BRR_SOURCE_DIR");
  char *bin = brr_path_join(src ? src : ".", "tests/unit/fake_bin");
  char *docker = brr_path_join(bin, "docker"), *twine = brr_path_join(bin, "twine");
  const char *old_path = getenv("PATH");
  char *path = brr_xasprintf("%s:%s", bin, old_path ? old_path : "/usr/bin:/bin");
  char *config = brr_path_join(w->dir, "docker-config");
  setenv("BRR_DOCKER", docker, 1);
  setenv("BRR_TWINE", twine, 1);
  setenv("PATH", path, 1);
  setenv("FAKE_DIR", w->fake_dir, 1);
  setenv("DOCKER_CONFIG", config, 1);
  /* no test ever asks the real Docker Hub */
  char *hub = brr_xasprintf("http://%s", w->reg.host);
  setenv("BRR_DOCKER_HUB_URL", hub, 1);
  free(hub);
  unsetenv("BUILDRUNNER_CONTAINER");
  free(bin), free(docker), free(twine), free(path), free(config);
}

static inline void fb_unload(fb_world *w) {
  brr_graph_free(w->g);
  brr_config_free(w->cfg);
  w->g = NULL;
  w->cfg = NULL;
}

static inline void fb_teardown(fb_world *w) {
  fb_unload(w);
  fake_engine_stop(w->eng);
  fr_stop(&w->reg);
  /* PATH back without the stand-ins */
  const char *p = getenv("PATH");
  const char *colon = p ? strchr(p, ':') : NULL;
  if (colon) {
    char *rest = brr_xstrdup(colon + 1);
    setenv("PATH", rest, 1);
    free(rest);
  }
  brr_rm_rf(w->dir);
  for (size_t i = 0; i < FB_MAX_NODES; i++) free(w->error[i]);
  brr_buf_free(&w->out);
  brr_buf_free(&w->logs);
  brr_buf_free(&w->phases);
  free(w->dir), free(w->build_dir), free(w->fake_dir), free(w->tmp_dir), free(w->results);
}

/* Write buildrunner.yaml and the global config (the registry as docker-registry unless
 * w->hub, the temp dir inside the world, then `global`), load and compile. */
static inline void fb_load(fb_world *w, const char *yaml, const char *global) {
  fb_unload(w);
  fb_write(w->build_dir, "buildrunner.yaml", yaml);
  char *reg = w->hub ? brr_xstrdup("") : brr_xasprintf("docker-registry: %s\n", w->reg.host);
  char *g = brr_xasprintf("%stemp-dir: %s\n%s", reg, w->tmp_dir, global ? global : "");
  free(reg);
  fb_write(w->build_dir, ".buildrunner.yaml", g);
  free(g);
  brr_diags d = BRR_DIAGS_INIT;
  brr_load_opts lo = {.build_dir = w->build_dir, .master_config_path = "", .user_config_path = "",
                      .push = w->push, .platform = w->platform};
  int rc = brr_config_load(&lo, &w->cfg, &d);
  if (rc != 0) brr_diags_print(&d, stderr, false);
  assert_int_equal(rc, 0);
  brr_graph_opts go = {.push = w->push, .platform = w->platform, .native_platform = "linux/amd64", .fs = &brr_host_fs};
  rc = brr_graph_compile(w->cfg, &go, &w->g, &d);
  if (rc != 0) brr_diags_print(&d, stderr, false);
  assert_int_equal(rc, 0);
  assert_true(w->g->n_nodes <= FB_MAX_NODES);
  brr_diags_free(&d);
}

/* The index of the node named `id` ("a/build", "push:r/x:1"); fails the test when none. */
static inline size_t fb_node(const fb_world *w, const char *id) {
  for (size_t i = 0; i < w->g->n_nodes; i++)
    if (!strcmp(w->g->nodes[i].id, id)) return i;
  fail_msg("no node %s", id);
  return 0;
}

static inline brr_status fb_status(const fb_world *w, const char *id) { return w->status[fb_node(w, id)]; }
static inline const char *fb_error(const fb_world *w, const char *id) {
  const char *e = w->error[fb_node(w, id)];
  return e ? e : "";
}

static inline void fb_on_event(void *ud, const brr_event *ev) {
  fb_world *w = ud;
  switch (ev->type) {
  case BRR_EV_NODE_END:
    for (size_t i = 0; ev->node && i < w->g->n_nodes; i++)
      if (!strcmp(w->g->nodes[i].id, ev->node)) {
        w->status[i] = ev->status;
        w->ended[i] = true;
        free(w->error[i]);
        w->error[i] = ev->text ? brr_xstrdup(ev->text) : NULL;
      }
    break;
  case BRR_EV_NODE_OUTPUT:
    brr_buf_printf(&w->out, "%s|%s|%.*s\n", ev->node ? ev->node : "", ev->source ? ev->source : "", (int)ev->len,
                   ev->text);
    break;
  case BRR_EV_LOG:
    brr_buf_printf(&w->logs, "%d|%.*s\n", (int)ev->level, (int)(ev->text ? (ev->len ? ev->len : strlen(ev->text)) : 0),
                   ev->text ? ev->text : "");
    break;
  case BRR_EV_PHASE:
    if (!ev->phase_end) brr_buf_printf(&w->phases, "%s %s\n", ev->node ? ev->node : "", ev->text ? ev->text : "");
    break;
  default:
    break;
  }
  if (getenv("FB_DEBUG") && (ev->type == BRR_EV_NODE_OUTPUT || ev->type == BRR_EV_LOG || ev->type == BRR_EV_NODE_END))
    fprintf(stderr, "fb: %d %s %.*s\n", (int)ev->type, ev->node ? ev->node : "-",
            (int)(ev->text ? (ev->len ? ev->len : strlen(ev->text)) : 0), ev->text ? ev->text : "");
}

/* Act when the next condition holds. */
static inline void fb_poll(uv_timer_t *t) {
  fb_world *w = t->data;
  if (w->next_when < w->n_when && w->when[w->next_when](w)) w->next_when++;
  if (w->next_when == w->n_when) uv_timer_stop(t);
}

/* Queue a condition-and-action for the next run (in order: the second is polled once the
 * first acted). */
static inline void fb_then(fb_world *w, fb_when fn) { w->when[w->n_when++] = fn; }

static inline void fb_sigint(void) { kill(getpid(), SIGINT); }

static inline bool fb_when_request(fb_world *w) {
  if (fake_engine_count(w->eng, w->at_method, w->at_pattern) == 0) return false;
  fb_sigint();
  return true;
}

/* Send `signals` SIGINTs from the loop (a few ms apart) once a request matching `method`
 * and `pattern` has arrived (hold it, so the run cannot end first). From the loop, not the
 * fake's thread: two signals raised at once may arrive as one, or after the scheduler is
 * gone. */
static inline void fb_at(fb_world *w, const char *method, const char *pattern, int signals) {
  w->at_method = method;
  w->at_pattern = pattern;
  for (int i = 0; i < signals; i++) fb_then(w, fb_when_request);
}

static inline bool fb_tmp_empty(const fb_world *w);

/* Run the loaded graph (8 jobs, signals handled as the CLI does); the exit code is returned
 * (also in w->exit_code). The runtime's end (brr_runtime_finish) runs too: its result is
 * w->finish_rc. Fails the test when a container, network or volume, or the run's temp dir,
 * is left. */
static inline int fb_run(fb_world *w) {
  for (size_t i = 0; i < FB_MAX_NODES; i++) {
    free(w->error[i]);
    w->error[i] = NULL;
    w->ended[i] = false;
    w->status[i] = BRR_STATUS_PENDING;
  }
  brr_buf_reset(&w->out);
  brr_buf_reset(&w->logs);
  brr_buf_reset(&w->phases);
  uint64_t t0 = uv_hrtime();
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_bus_subscribe(bus, fb_on_event, w);
  brr_runtime_opts ro = {0};
  ro.push = w->push;
  ro.platform = w->platform;
  ro.docker_host = fake_engine_host(w->eng);
  ro.docker_timeout = 30;
  ro.incremental = w->incremental;
  brr_runtime *rt = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_runtime_new(&loop, w->cfg, w->g, &ro, bus, &rt, &d);
  if (rc != 0) brr_diags_print(&d, stderr, false);
  assert_int_equal(rc, 0);
  brr_diags_free(&d);
  uv_timer_init(&loop, &w->poll);
  w->poll.data = w;
  w->next_when = 0;
  if (w->n_when) {
    uv_timer_start(&w->poll, fb_poll, 5, 5);
    uv_unref((uv_handle_t *)&w->poll);
  }
  brr_sched_opts so = {0};
  so.jobs = 8;
  so.keep_going = w->keep_going;
  so.bus = bus;
  so.factory = brr_runtime_factory;
  so.factory_ud = rt;
  so.on_abort = brr_runtime_abort;
  so.abort_ud = rt;
  so.handle_signals = true;
  so.grace_s = 10;
  if (w->cfg->global.n_engines) {
    /* several engines (`engines:` in the global config): placed as the CLI places them */
    so.place = brr_runtime_place;
    so.unplace = brr_runtime_unplace;
    so.place_ud = rt;
  }
  brr_sched_result res = {0};
  w->exit_code = brr_sched_run(&loop, w->g, &so, &res);
  w->config_failed = rt->config_failed;
  if (w->exit_code == 1 && rt->config_failed) w->exit_code = 78;
  uv_timer_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, NULL);
  w->n_when = 0;
  uint64_t t_end = uv_hrtime();
  w->finish_rc = brr_runtime_finish(rt);
  if (getenv("FB_DEBUG"))
    fprintf(stderr, "fb: run %.2fs, finish %.2fs (%d)\n", (double)(t_end - t0) / 1e9, (double)(uv_hrtime() - t_end) / 1e9,
            w->finish_rc);
  brr_runtime_free(rt);
  /* whatever the run did, every container, network and volume it made is gone, and so is
   * its temp dir */
  assert_int_equal(fake_engine_live(w->eng, FAKE_CONTAINER), 0);
  assert_int_equal(fake_engine_live(w->eng, FAKE_NETWORK), 0);
  assert_int_equal(fake_engine_live(w->eng, FAKE_VOLUME), 0);
  assert_true(fb_tmp_empty(w));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  brr_bus_free(bus);
  free(res.status);
  return w->exit_code;
}

static inline void fb_hold_handler(void *ud, const fake_request *req, fake_reply *out) {
  (void)ud, (void)req;
  out->hold = FAKE_HOLD_HEADERS;
}

/* Hold the requests matching `method` and `pattern` until fake_engine_release, then give
 * them the default answer. */
static inline fake_rule *fb_hold_default(fake_engine *fe, const char *method, const char *pattern) {
  return fake_rule_handler(fake_engine_on(fe, method, pattern), fb_hold_handler, NULL);
}

/* ---- the stand-ins ---- */

/* Script the stand-in `name` ("buildx.linux-amd64", "twine.script"): one outcome a line. */
static inline void fb_script(fb_world *w, const char *name, const char *lines) { fb_write(w->fake_dir, name, lines); }

/* A file the stand-ins wrote (log), or "" (heap). */
static inline char *fb_fake_file(const fb_world *w, const char *name) {
  char *s = tu_read_rel(w->fake_dir, name);
  return s ? s : brr_xstrdup("");
}

static inline bool fb_fake_exists(const fb_world *w, const char *name) { return tu_exists(w->fake_dir, name); }

/* How many times `needle` occurs in `hay`. */
static inline size_t fb_count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* Whether the runtime's temp dir under tmp_dir is gone, and nothing else is left there. */
static inline bool fb_tmp_empty(const fb_world *w) {
  DIR *d = opendir(w->tmp_dir);
  if (!d) return true;
  bool empty = true;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "trivy-cache")) empty = false;
  closedir(d);
  return empty;
}

/* Whether the process has ended (a zombie counts: its parent may be gone, and whoever
 * inherited it may not reap it); waits up to 2 s. */
static inline bool fb_pid_gone(const char *pid_text) {
  int pid = atoi(pid_text);
  assert_true(pid > 0);
  char *stat = brr_xasprintf("/proc/%d/stat", pid);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    char *s = tu_read(stat);
    const char *paren = s ? strrchr(s, ')') : NULL;
    gone = !s || (paren && paren[1] == ' ' && paren[2] == 'Z');
    free(s);
    if (!gone) usleep(10000);
  }
  free(stat);
  return gone;
}

#endif
