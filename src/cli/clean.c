/* What killed brr runs left behind (issue 11, SIGKILL): containers, networks and volumes
 * labelled with an owner process that is gone from this host, and temp dirs named by one.
 * Every run removes them before it starts; `brr --clean` does it on demand and reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "brr/cli.h"
#include "brr/engine.h"
#include "brr/tasks.h"
#include "brr/ui.h"

/* sysexits' EX_UNAVAILABLE: the engine cannot be reached (README's exit codes) */
enum { CLEAN_EXIT_UNAVAILABLE = 69 };

static const char *kind_name(brr_engine_kind k) {
  switch (k) {
  case BRR_ENGINE_CONTAINER: return "container";
  case BRR_ENGINE_NETWORK: return "network";
  case BRR_ENGINE_VOLUME: return "volume";
  default: return "image";
  }
}

/* Container and network ids are shown short, as docker does; volume names whole. */
static int id_width(brr_engine_kind k) { return k == BRR_ENGINE_VOLUME ? 200 : 12; }

static void run_swept(void *ud, brr_engine_kind kind, const char *id, const char *owner, const char *error) {
  brr_bus *bus = ud;
  if (error)
    brr_bus_log(bus, BRR_LOG_WARNING, NULL, "cannot remove the %s %.*s left by brr %s: %s", kind_name(kind),
                id_width(kind), id, owner, error);
  else
    brr_bus_log(bus, BRR_LOG_INFO, NULL, "Removed the %s %.*s left by brr %s, which is gone", kind_name(kind),
                id_width(kind), id, owner);
}

static void run_swept_dir(void *ud, const char *path) {
  brr_bus_log(ud, BRR_LOG_INFO, NULL, "Removed the temporary directory %s left by a brr that is gone", path);
}

void brr_cli_sweep_stale(brr_engine *e, brr_bus *bus, const char *tmp_root) {
  char *error = NULL;
  /* an engine that does not answer fails the run's first real call, with its own message */
  brr_engine_sweep_stale(e, run_swept, bus, &error);
  free(error);
  brr_runtime_sweep_temp(tmp_root, run_swept_dir, bus);
}

typedef struct clean_count {
  int removed, failed;
} clean_count;

static void clean_swept(void *ud, brr_engine_kind kind, const char *id, const char *owner, const char *error) {
  clean_count *c = ud;
  if (error) {
    c->failed++;
    fprintf(stderr, "brr: warning: cannot remove %s %.*s (owner %s): %s\n", kind_name(kind), id_width(kind), id,
            owner, error);
    return;
  }
  c->removed++;
  printf("removed %s %.*s (owner %s)\n", kind_name(kind), id_width(kind), id, owner);
}

static void clean_swept_dir(void *ud, const char *path) {
  ((clean_count *)ud)->removed++;
  printf("removed directory %s\n", path);
}

int brr_cli_clean(const brr_cli *cli) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_engine_opts eo = {0};
  eo.timeout_s = cli->docker_timeout;
  brr_engine *e = NULL;
  char *error = NULL;
  int code = BRR_EXIT_OK;
  clean_count c = {0, 0};
  if (brr_engine_new(&loop, &eo, &e, &error) != 0) {
    fprintf(stderr, "brr: error: Docker engine: %s\n", error ? error : "cannot make a client");
    code = CLEAN_EXIT_UNAVAILABLE;
  } else if (brr_engine_sweep_stale(e, clean_swept, &c, &error) < 0) {
    fprintf(stderr, "brr: error: --clean: %s\n", error);
    code = CLEAN_EXIT_UNAVAILABLE;
  }
  free(error);
  if (code == BRR_EXIT_OK) {
    const char *tmp = getenv("TMPDIR");
    brr_runtime_sweep_temp(tmp && *tmp ? tmp : "/tmp", clean_swept_dir, &c);
    printf("brr --clean: removed %d object(s) left by brr processes that are gone%s\n", c.removed,
           c.failed ? "; some could not be removed" : "");
    if (c.failed) code = BRR_EXIT_FAILED;
  }
  if (e) brr_engine_free(e);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (fflush(stdout) != 0 && code == BRR_EXIT_OK) code = BRR_EXIT_FAILED;
  return code;
}
