/* Running the compiled graph: the results dir, the ui on the event bus, the runtime that
 * makes tasks, and the scheduler, all on one libuv loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "brr/cli.h"
#include "brr/config.h"
#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/tasks.h"
#include "brr/ui.h"

/* spec §1.1, made safe: buildrunner empties the results dir (unless --keep-step-artifacts);
 * brr refuses a dir that holds the project, locks it for the run, and removes only what it
 * made there before (docs/output.md). Exit 69 when it cannot be used. */
static int prepare_results_dir(const brr_cli *cli, const brr_config *cfg, brr_results **out) {
  brr_results_guard *protect = brr_xcalloc(cfg->n_global_files + 2, sizeof *protect);
  size_t n = 0;
  protect[n++] = (brr_results_guard){cfg->build_dir, "the build directory"};
  protect[n++] = (brr_results_guard){cfg->project_file, "the config file"};
  for (size_t i = 0; i < cfg->n_global_files; i++)
    protect[n++] = (brr_results_guard){cfg->global_files[i], "the global config file"};
  char *err = NULL;
  int rc = brr_results_open(cfg->results_dir, protect, n, cli->keep_step_artifacts, out, &err);
  free(protect);
  if (rc == 0) rc = brr_results_note(*out, "build.log");
  if (rc == 0) rc = brr_results_mkdir(*out, "logs");
  if (rc == 0) rc = brr_results_note(*out, "artifacts.json");
  if (rc == 0 && !cli->trace) rc = brr_results_note(*out, "trace.json");
  if (rc != 0) {
    if (err) fprintf(stderr, "brr: error: %s\n", err);
    else fprintf(stderr, "brr: error: cannot prepare the results directory %s: %s\n", cfg->results_dir,
                 brr_strerror(rc));
    free(err);
    brr_results_close(*out);
    *out = NULL;
    return BRR_EXIT_RESULTS;
  }
  return 0;
}

static brr_pool_limit *pool_limits(const brr_config *cfg, size_t *n) {
  const brr_kvlist *kv = &cfg->global.pools;
  brr_pool_limit *v = brr_xcalloc(kv->n ? kv->n : 1, sizeof *v);
  size_t k = 0;
  for (size_t i = 0; i < kv->n; i++) {
    const brr_value *val = kv->v[i].val;
    if (!val || val->type != BRR_VAL_INT || val->u.i < 1) continue;  /* validated by config */
    v[k].name = kv->v[i].key.s;
    v[k].limit = val->u.i > 100000 ? 100000 : (int)val->u.i;
    k++;
  }
  *n = k;
  return v;
}

/* A signal while the run's objects are being removed: remove them at once and leave. */
static void on_late_signal(uv_signal_t *h, int signum) {
  brr_runtime_abort(h->data);
  fflush(NULL);
  _exit(BRR_EXIT_SIGNAL + signum);
}

/* -j (or the default) within what the open-file limit allows, saying so when it is cut. */
static int fd_capped_jobs(int jobs) {
  long limit = brr_fd_limit_raise();
  int want = jobs > 0 ? jobs : brr_sched_default_jobs();
  int cap = brr_fd_limit_jobs(limit);
  if (want <= cap) return jobs;
  fprintf(stderr, "brr: warning: the open-file limit is %ld (ulimit -n): running at most %d "
          "node%s at once instead of %d\n", limit, cap, cap == 1 ? "" : "s", want);
  return cap;
}

typedef struct end_ctx {
  brr_runtime *rt;
  brr_ui *ui;
} end_ctx;

/* Before RUN_END: artifacts.json, so that a failed write is in the summary and fails the run. */
static int before_end(void *ud) {
  end_ctx *c = ud;
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_write_artifacts(c->rt, &d) != 0)
    for (size_t i = 0; i < d.n; i++) brr_ui_results_error(c->ui, "%s", d.v[i].msg);
  brr_diags_free(&d);
  return brr_ui_results_failed(c->ui) ? 1 : 0;
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* The engine, chosen as the docker CLI chooses it; a bad address is reported about the
 * address and where it came from. */
static int choose_engine(const brr_cli *cli, brr_engine_endpoint *ep) {
  char *err = NULL;
  if (brr_engine_endpoint_resolve(cli->context, ep, &err) != 0) {
    fprintf(stderr, "brr: error: cannot use the Docker engine: %s\n", err);
    free(err);
    return BRR_EXIT_UNAVAILABLE;
  }
  return 0;
}

/* One GET /_ping (which negotiates the API version) before any node starts: an engine that
 * is not there is one line and exit 69, with nothing created and nothing to clean. */
static int preflight(const brr_cli *cli, brr_runtime *rt) {
  char *error = NULL;
  if (brr_runtime_preflight(rt, cli->docker_timeout, &error) == 0) return 0;
  fprintf(stderr, "brr: error: %s\n", error);
  free(error);
  return BRR_EXIT_UNAVAILABLE;
}

/* The buildx builders `platform-builders` names for this graph's builds, checked before any
 * node starts: one that does not exist (or whose engine cannot be reached) is one line and
 * exit 69, as for the engine. */
static int check_builders(const brr_cli *cli, brr_runtime *rt) {
  char *err = NULL;
  if (brr_runtime_builders_check(rt, cli->docker_timeout, &err) == 0) return 0;
  fprintf(stderr, "brr: error: %s\n", err);
  free(err);
  return BRR_EXIT_UNAVAILABLE;
}

int brr_cli_run(const brr_cli *cli, brr_config *cfg, brr_graph *g) {
  /* `brr | head`: a write to the closed pipe fails with EPIPE instead of killing brr with
   * its containers running; the scheduler sees the closed output and cancels the run as for
   * SIGTERM (exit 141). Children get the default disposition back when they are spawned. */
  struct sigaction ign = {.sa_handler = SIG_IGN};
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, NULL);
  brr_engine_endpoint ep;
  int code = choose_engine(cli, &ep);
  if (code) return code;
  brr_results *results = NULL;
  code = prepare_results_dir(cli, cfg, &results);
  if (code) {
    brr_engine_endpoint_free(&ep);
    return code;
  }
  if (cli->clean_cache && cfg->global.caches_root) {
    int rc = brr_cache_clean(cfg->global.caches_root);
    if (rc != 0)
      fprintf(stderr, "brr: warning: --clean-cache: cannot remove %s: %s\n", cfg->global.caches_root,
              brr_strerror(rc));
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_ui_opts uo = {0};
  brr_progress_choose(cli->progress, &uo.progress);  /* brr_cli_parse checked the value */
  uo.fd = STDOUT_FILENO;
  uo.no_color = cli->no_color;
  uo.timestamps = !cli->disable_timestamps;
  uo.debug = cli->debug;
  uo.results_dir = cfg->results_dir;
  uo.heartbeat_s = cli->heartbeat_s;
  uo.trace_path = cli->trace;
  brr_ui *ui = brr_ui_new(bus, &uo);
  if (!ui) {
    fprintf(stderr, "brr: error: cannot write logs in %s: %s\n", cfg->results_dir, strerror(errno));
    brr_bus_free(bus);
    uv_loop_close(&loop);
    brr_results_close(results);
    brr_engine_endpoint_free(&ep);
    return BRR_EXIT_RESULTS;
  }

  brr_runtime_opts ro = {0};
  ro.push = cli->push;
  ro.local_images = cli->local_images;
  ro.publish_ports = cli->publish_ports;
  ro.cleanup_images = cli->cleanup_images;
  ro.platform = cli->platform;
  ro.disable_multi_platform = cli->disable_multi_platform || cfg->global.disable_multi_platform == BRR_TRUE;
  ro.container_labels = cli->container_labels;
  ro.docker_timeout = cli->docker_timeout;
  ro.results = results;
  ro.endpoint = &ep;
  ro.incremental = cli->incremental || cfg->global.incremental == BRR_TRUE;
  brr_runtime *rt = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_runtime_new(&loop, cfg, g, &ro, bus, &rt, &d);
  if (rc != 0) {
    brr_diags_print(&d, stderr, brr_ui_color_enabled(STDERR_FILENO, cli->no_color));
    /* a step that cannot run on any engine of `engines:` is a configuration error */
    code = rc == BRR_ECONFIG ? BRR_EXIT_CONFIG : rc == BRR_EINVAL && cfg->global.n_engines ? BRR_EXIT_UNAVAILABLE
                                                                                          : BRR_EXIT_FAILED;
    brr_diags_free(&d);
    brr_ui_free(ui);
    brr_bus_free(bus);
    uv_loop_close(&loop);
    brr_results_close(results);
    brr_engine_endpoint_free(&ep);
    return code;
  }
  brr_diags_free(&d);
  brr_engine_endpoint_free(&ep);  /* the engine client and the runtime keep copies */
  code = preflight(cli, rt);
  if (!code) code = check_builders(cli, rt);
  if (code) {
    brr_runtime_free(rt);
    brr_ui_free(ui);
    brr_bus_free(bus);
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    brr_results_close(results);
    return code;
  }
  /* what runs killed with SIGKILL left on this engine and in the temp dir goes first */
  brr_runtime_sweep(rt);

  size_t n_pools = 0;
  brr_pool_limit *pools = pool_limits(cfg, &n_pools);
  char *history = brr_sched_history_path(NULL, cfg->project_file);
  brr_sched_opts so = {0};
  so.jobs = cli->serial ? 1 : fd_capped_jobs(cli->jobs);
  so.keep_going = cli->keep_going;
  so.pools = pools;
  so.n_pools = n_pools;
  so.history_path = history;
  so.handle_signals = true;
  so.bus = bus;
  so.factory = brr_runtime_factory;
  so.factory_ud = rt;
  so.on_abort = brr_runtime_abort;
  so.abort_ud = rt;
  end_ctx ec = {rt, ui};
  so.before_end = before_end;
  so.before_end_ud = &ec;
  if (cfg->global.n_engines) {
    /* several engines: each node goes where there is room (engines.c) */
    so.place = brr_runtime_place;
    so.unplace = brr_runtime_unplace;
    so.place_ud = rt;
  }
  brr_sched_result res = {0};
  code = brr_sched_run(&loop, g, &so, &res);
  if (code == BRR_EXIT_FAILED && rt->config_failed) code = BRR_EXIT_CONFIG;

  if (res.n_abandoned > 0) {
    /* tasks that never reported may still hold the loop's handles: everything was removed
     * synchronously by the abort hook; keep the loop as it is and leave */
    if (brr_ui_end(ui) && code == 0) code = BRR_EXIT_FAILED;
    brr_ui_free(ui);
    fflush(NULL);
    _exit(code);
  }
  uv_signal_t sigint, sigterm;
  uv_signal_init(&loop, &sigint);
  uv_signal_init(&loop, &sigterm);
  sigint.data = sigterm.data = rt;
  uv_signal_start(&sigint, on_late_signal, SIGINT);
  uv_signal_start(&sigterm, on_late_signal, SIGTERM);
  brr_runtime_finish(rt);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  if (brr_ui_end(ui) && code == 0) code = BRR_EXIT_FAILED;
  brr_ui_free(ui);
  brr_runtime_free(rt);
  brr_bus_free(bus);
  free(history);
  free(pools);
  free(res.status);
  uv_walk(&loop, close_walk, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  brr_results_close(results);
  return code;
}
