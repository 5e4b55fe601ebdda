/* Running a whole buildrunner.yaml through the public runtime and scheduler against the fake
 * engine (fake_engine.h), as `brr` does: config load, graph compile, runtime with the fake's
 * socket as DOCKER_HOST, stale sweep, scheduler, artifacts.json, runtime finish. The tests of
 * the node kinds use it so they do not depend on the task layer's internals. Header-only. */
#ifndef BRR_TESTS_TASK_HARNESS_H
#define BRR_TESTS_TASK_HARNESS_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "brr/config.h"
#include "brr/events.h"
#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/tasks.h"
#include "brr/util.h"
#include "unit/fake_engine.h"
#include "unit/tasks_util.h"

typedef struct th_opts {
  bool push, keep_going, cleanup_images, local_images, publish_ports, handle_signals;
  int jobs;                 /* 0: 4 */
  double grace_s;           /* 0: 5 */
  const char *platform;
  char **steps;             /* --steps */
  int docker_timeout;       /* 0: 20 */
  bool no_sweep;            /* skip brr_runtime_sweep */
  bool incremental;         /* --incremental (docs/incremental.md; the state under $XDG_CACHE_HOME) */
} th_opts;

typedef struct th {
  fake_engine *fe;
  char *dir;                /* the build dir (temp), with buildrunner.yaml */
  char *results;            /* <dir>/buildrunner.results */
  char *tmp;                /* TMPDIR of the run (its temp dirs go there) */
  int exit_code;
  int load_rc, compile_rc, runtime_rc, finish_rc;
  brr_sched_result res;
  brr_buf out;              /* every output and log line: "[step/source] text" or "log: text" */
  brr_buf ends;             /* one line per NODE_END: "<node> <status>[: error]" */
  brr_diags diags;          /* of load/compile/runtime_new */
  void (*during)(struct th *h, brr_runtime *rt);  /* called once, before the scheduler runs */
  void (*on_event)(struct th *h, const brr_event *ev);  /* every event of the run, or NULL */
  void *ud;
} th;

static inline th *th_new(void) {
  th *h = brr_xcalloc(1, sizeof *h);
  h->fe = fake_engine_start();
  h->dir = tu_mkdtemp();
  h->results = brr_path_join(h->dir, "buildrunner.results");
  h->tmp = brr_path_join(h->dir, "tmp");
  brr_mkdir_p(h->tmp, 0700);
  h->diags = (brr_diags)BRR_DIAGS_INIT;
  return h;
}

/* Write a file of the build dir. */
static inline void th_file(th *h, const char *rel, const char *content) { tu_write(h->dir, rel, content, 0644); }

static inline void th_free(th *h) {
  fake_engine_stop(h->fe);
  brr_rm_rf(h->dir);
  free(h->dir);
  free(h->results);
  free(h->tmp);
  free(h->res.status);
  brr_buf_free(&h->out);
  brr_buf_free(&h->ends);
  brr_diags_free(&h->diags);
  free(h);
}

static inline void th_event(void *ud, const brr_event *ev) {
  th *h = ud;
  if (h->on_event) h->on_event(h, ev);
  switch (ev->type) {
  case BRR_EV_NODE_OUTPUT:
    brr_buf_printf(&h->out, "[%s/%s] %.*s\n", ev->step ? ev->step : ev->node ? ev->node : "-",
                   ev->source ? ev->source : "", (int)ev->len, ev->text);
    break;
  case BRR_EV_LOG:
    brr_buf_printf(&h->out, "log%d %s: %.*s\n", (int)ev->level, ev->step ? ev->step : "-",
                   (int)(ev->len ? ev->len : strlen(ev->text)), ev->text);
    break;
  case BRR_EV_NODE_END:
    brr_buf_printf(&h->ends, "%s %s%s%s\n", ev->node, brr_status_name(ev->status),
                   ev->text ? ": " : "", ev->text ? ev->text : "");
    break;
  default:
    break;
  }
}

typedef struct th_end_ctx {
  th *h;
  brr_runtime *rt;
} th_end_ctx;

static inline int th_before_end(void *ud) {
  th_end_ctx *c = ud;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_runtime_write_artifacts(c->rt, &d);
  for (size_t i = 0; i < d.n; i++) brr_buf_printf(&c->h->out, "artifacts: %s\n", d.v[i].msg);
  brr_diags_free(&d);
  return rc != 0;
}

static inline void th_close_walk(uv_handle_t *hd, void *arg) {
  (void)arg;
  if (!uv_is_closing(hd)) uv_close(hd, NULL);
}

/* Write `yaml` as the build dir's buildrunner.yaml and run it. Returns the exit code brr
 * would have (78 for configuration errors found before the run). */
static inline int th_run_in(th *h, const th_opts *o);
static inline int th_run(th *h, const char *yaml, const th_opts *o) {
  th_opts dflt = {0};
  if (!o) o = &dflt;
  th_file(h, "buildrunner.yaml", yaml);
  char *old_tmp = getenv("TMPDIR") ? brr_xstrdup(getenv("TMPDIR")) : NULL;
  setenv("TMPDIR", h->tmp, 1);
  /* brr runs in the build dir (shell provisioners are read relative to the cwd) */
  char *cwd = getcwd(NULL, 0);
  if (!cwd || chdir(h->dir) != 0) abort();
  int code = th_run_in(h, o);
  if (chdir(cwd) != 0) abort();
  free(cwd);
  if (old_tmp) setenv("TMPDIR", old_tmp, 1);
  else unsetenv("TMPDIR");
  free(old_tmp);
  return code;
}

static inline int th_run_in(th *h, const th_opts *o) {
  brr_load_opts lo = {0};
  lo.build_dir = h->dir;
  lo.master_config_path = "";
  lo.user_config_path = "";
  lo.push = o->push;
  lo.platform = o->platform;
  lo.steps = o->steps;
  lo.build_number = "42";
  /* the run's temp dir under the test's own directory (the global temp-dir) */
  brr_arena *ga = brr_arena_new();
  brr_value *over = brr_val_map(ga, BRR_MARK_NONE);
  brr_val_map_sets(ga, over, "temp-dir", brr_val_str(ga, BRR_MARK_NONE, h->tmp));
  lo.global_overrides = over;
  brr_config *cfg = NULL;
  h->load_rc = brr_config_load(&lo, &cfg, &h->diags);
  if (h->load_rc != 0) {
    brr_config_free(cfg);
    brr_arena_free(ga);
    return h->exit_code = brr_diags_exit_code(&h->diags) ? brr_diags_exit_code(&h->diags) : 78;
  }
  brr_graph_opts go = {.push = o->push, .steps = o->steps, .platform = o->platform,
                       .native_platform = "linux/amd64", .fs = &brr_host_fs};
  brr_graph *g = NULL;
  h->compile_rc = brr_graph_compile(cfg, &go, &g, &h->diags);
  if (h->compile_rc != 0) {
    brr_graph_free(g);
    brr_config_free(cfg);
    brr_arena_free(ga);
    return h->exit_code = 78;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_bus_subscribe(bus, th_event, h);
  brr_runtime_opts ro = {0};
  ro.push = o->push;
  ro.local_images = o->local_images;
  ro.publish_ports = o->publish_ports;
  ro.cleanup_images = o->cleanup_images;
  ro.platform = o->platform;
  ro.docker_timeout = o->docker_timeout ? o->docker_timeout : 20;
  ro.docker_host = fake_engine_host(h->fe);
  ro.incremental = o->incremental;
  brr_runtime *rt = NULL;
  h->runtime_rc = brr_runtime_new(&loop, cfg, g, &ro, bus, &rt, &h->diags);
  if (h->runtime_rc == 0) {
    if (!o->no_sweep) brr_runtime_sweep(rt);
    if (h->during) h->during(h, rt);
    brr_sched_opts so = {0};
    so.jobs = o->jobs ? o->jobs : 4;
    so.keep_going = o->keep_going;
    so.grace_s = o->grace_s ? o->grace_s : 5;
    so.handle_signals = o->handle_signals;
    so.bus = bus;
    so.factory = brr_runtime_factory;
    so.factory_ud = rt;
    so.on_abort = brr_runtime_abort;
    so.abort_ud = rt;
    th_end_ctx ec = {h, rt};
    so.before_end = th_before_end;
    so.before_end_ud = &ec;
    free(h->res.status);
    memset(&h->res, 0, sizeof h->res);
    h->exit_code = brr_sched_run(&loop, g, &so, &h->res);
    if (h->exit_code == 1 && rt->config_failed) h->exit_code = 78;
    h->finish_rc = brr_runtime_finish(rt);
    brr_runtime_free(rt);
  } else {
    h->exit_code = 1;
  }
  brr_bus_free(bus);
  /* what is still on its way out (a killed ssh-agent's exit, a freed client's last
   * callbacks) finishes before the rest is closed, as it would in a brr that keeps running */
  for (int i = 0; i < 200 && uv_loop_alive(&loop); i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (uv_loop_alive(&loop)) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  uv_walk(&loop, th_close_walk, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) fprintf(stderr, "task harness: the loop still has handles\n");
  brr_graph_free(g);
  brr_config_free(cfg);
  brr_arena_free(ga);
  return h->exit_code;
}

/* Fail with the run's output and the fake's log when `cond` does not hold. */
#define th_assert(h, cond)                                                                  \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      char *dump_ = fake_engine_dump((h)->fe);                                              \
      fprintf(stderr, "%s:%d: %s\n--- output\n%s--- ends\n%s--- requests\n%s", __FILE__,    \
              __LINE__, #cond, brr_buf_cstr(&(h)->out), brr_buf_cstr(&(h)->ends), dump_);    \
      free(dump_);                                                                          \
      fail();                                                                               \
    }                                                                                       \
  } while (0)

/* Whether the output holds `needle`. */
static inline bool th_said(th *h, const char *needle) { return strstr(brr_buf_cstr(&h->out), needle) != NULL; }
static inline bool th_ended(th *h, const char *needle) { return strstr(brr_buf_cstr(&h->ends), needle) != NULL; }

/* Every container, network and volume the run created is gone. */
static inline bool th_clean(th *h) {
  return fake_engine_live(h->fe, FAKE_CONTAINER) == 0 && fake_engine_live(h->fe, FAKE_NETWORK) == 0 &&
         fake_engine_live(h->fe, FAKE_VOLUME) == 0;
}

#endif
