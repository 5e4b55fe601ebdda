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

/* spec §1.1: the results dir is emptied (unless --keep-step-artifacts) and made; exit 69 */
static int prepare_results_dir(const brr_cli *cli, const brr_config *cfg) {
  int rc = 0;
  if (!cli->keep_step_artifacts) rc = brr_rm_rf(cfg->results_dir);
  if (rc == 0) rc = brr_mkdir_p(cfg->results_dir, 0755);
  if (rc != 0) {
    fprintf(stderr, "brr: error: cannot create the results directory %s: %s\n", cfg->results_dir,
            strerror(-rc));
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

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

int brr_cli_run(const brr_cli *cli, brr_config *cfg, brr_graph *g) {
  /* `brr | head`: a write to the closed pipe fails with EPIPE instead of killing brr with
   * its containers running; the scheduler sees the closed output and cancels the run as for
   * SIGTERM (exit 141). Children get the default disposition back when they are spawned. */
  struct sigaction ign = {.sa_handler = SIG_IGN};
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, NULL);
  int code = prepare_results_dir(cli, cfg);
  if (code) return code;
  if (cli->clean_cache && cfg->global.caches_root) {
    int rc = brr_cache_clean(cfg->global.caches_root);
    if (rc != 0)
      fprintf(stderr, "brr: warning: --clean-cache: cannot remove %s: %s\n", cfg->global.caches_root,
              strerror(-rc));
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
  brr_ui *ui = brr_ui_new(bus, &uo);
  if (!ui) {
    fprintf(stderr, "brr: error: cannot write logs in %s: %s\n", cfg->results_dir, strerror(errno));
    brr_bus_free(bus);
    uv_loop_close(&loop);
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
  brr_runtime *rt = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_new(&loop, cfg, g, &ro, bus, &rt, &d) != 0) {
    brr_diags_print(&d, stderr, brr_ui_color_enabled(STDERR_FILENO, cli->no_color));
    brr_diags_free(&d);
    brr_ui_free(ui);
    brr_bus_free(bus);
    uv_loop_close(&loop);
    return BRR_EXIT_FAILED;
  }
  brr_diags_free(&d);

  size_t n_pools = 0;
  brr_pool_limit *pools = pool_limits(cfg, &n_pools);
  char *history = brr_sched_history_path(NULL, cfg->project_file);
  brr_sched_opts so = {0};
  so.jobs = cli->serial ? 1 : cli->jobs;
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
  brr_sched_result res = {0};
  code = brr_sched_run(&loop, g, &so, &res);
  if (code == BRR_EXIT_FAILED && rt->config_failed) code = BRR_EXIT_CONFIG;

  if (res.n_abandoned > 0) {
    /* tasks that never reported may still hold the loop's handles: everything was removed
     * synchronously by the abort hook; keep the loop as it is and leave */
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
  brr_ui_free(ui);
  brr_runtime_free(rt);
  brr_bus_free(bus);
  free(history);
  free(pools);
  free(res.status);
  uv_walk(&loop, close_walk, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return code;
}
