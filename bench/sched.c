/* bench_sched: per-task scheduling overhead of brr against ninja and make, measured in the
 * same run on the same random DAG of N process tasks that do nothing.
 *
 *   bench_sched [tasks=5000] [jobs=cores+2] [rounds=3] [seed=1]
 *
 * Every tool runs one short-lived process per task: ninja runs `/bin/sh -c true` (its rule
 * command goes through the shell), brr runs the same argv, make execs `true` directly (GNU
 * make skips the shell for simple commands), and brr is also timed execing /bin/true
 * directly to compare with make like for like. Each tool's best of `rounds` is kept, rounds
 * interleaved so machine noise hits all alike. Output goes to /dev/null everywhere (brr
 * through its plain renderer, so event formatting and writes are in its time). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/ui.h"

extern char **environ;

typedef struct dag {
  size_t n;
  size_t *from, *to;   /* edges */
  size_t n_edges;
} dag;

/* Each node depends on 0-3 random earlier nodes, mostly near it, so the graph has long
 * chains and wide levels both. */
static void dag_make(dag *d, size_t n, unsigned seed) {
  srand(seed);
  d->n = n;
  d->from = malloc(3 * n * sizeof(size_t));
  d->to = malloc(3 * n * sizeof(size_t));
  d->n_edges = 0;
  for (size_t i = 1; i < n; i++) {
    int k = rand() % 4;
    for (int e = 0; e < k; e++) {
      size_t span = i < 50 ? i : 50;
      size_t j = i - 1 - (size_t)rand() % span;
      d->from[d->n_edges] = j;
      d->to[d->n_edges] = i;
      d->n_edges++;
    }
  }
}

static double now_s(void) { return (double)uv_hrtime() / 1e9; }

/* ---- brr ---- */

static const char *const *bench_argv;

static int factory(void *ud, const brr_graph *g, size_t node, brr_task **out) {
  (void)ud;
  (void)g;
  (void)node;
  *out = brr_proc_task_new(bench_argv, NULL);
  return 0;
}

static double run_brr(const dag *d, int jobs, const char *const *argv) {
  double t0 = now_s();
  brr_graph *g = brr_graph_new(NULL);
  char id[32];
  for (size_t i = 0; i < d->n; i++) {
    snprintf(id, sizeof id, "n%zu", i);
    brr_graph_add_node(g, id, BRR_NODE_RUN, BRR_NO_STEP);
  }
  for (size_t e = 0; e < d->n_edges; e++)
    brr_graph_add_edge(g, d->from[e], d->to[e], BRR_EDGE_DEPENDS, BRR_MARK_NONE, NULL);
  brr_diags dg = BRR_DIAGS_INIT;
  if (brr_graph_finish(g, &dg) != 0) abort();
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  uv_loop_t loop;
  uv_loop_init(&loop);
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = BRR_PROGRESS_PLAIN, .fd = devnull, .no_color = true});
  bench_argv = argv;
  brr_sched_opts o = {.jobs = jobs, .bus = bus, .factory = factory};
  brr_sched_result res;
  brr_sched_run(&loop, g, &o, &res);
  double t = now_s() - t0;
  if (res.n_succeeded != d->n) {
    fprintf(stderr, "bench_sched: brr ran %zu of %zu tasks\n", res.n_succeeded, d->n);
    exit(1);
  }
  free(res.status);
  brr_ui_free(ui);
  brr_bus_free(bus);
  uv_loop_close(&loop);
  close(devnull);
  brr_graph_free(g);
  brr_diags_free(&dg);
  return t;
}

/* ---- ninja and make ---- */

static void write_ninja(const dag *d, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) abort();
  fprintf(f, "rule r\n  command = true\n");
  size_t e = 0;
  for (size_t i = 0; i < d->n; i++) {
    fprintf(f, "build n%zu: r", i);
    bool bar = false;
    for (; e < d->n_edges && d->to[e] == i; e++) {
      fprintf(f, "%s n%zu", bar ? "" : " |", d->from[e]);
      bar = true;
    }
    fputc('\n', f);
  }
  fclose(f);
}

static void write_make(const dag *d, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) abort();
  fprintf(f, ".PHONY: all");
  for (size_t i = 0; i < d->n; i++) fprintf(f, " n%zu", i);
  fprintf(f, "\nall:");
  for (size_t i = 0; i < d->n; i++) fprintf(f, " n%zu", i);
  fputc('\n', f);
  size_t e = 0;
  for (size_t i = 0; i < d->n; i++) {
    fprintf(f, "n%zu:", i);
    for (; e < d->n_edges && d->to[e] == i; e++) fprintf(f, " n%zu", d->from[e]);
    fprintf(f, "\n\t@true\n");
  }
  fclose(f);
}

/* Run a command in `dir` with stdout and stderr to /dev/null; its wall time. */
static double run_tool(const char *dir, char *const argv[]) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addchdir_np(&fa, dir);
  double t0 = now_s();
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    fprintf(stderr, "bench_sched: cannot run %s: %s\n", argv[0], strerror(rc));
    exit(1);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  double t = now_s() - t0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench_sched: %s failed\n", argv[0]);
    exit(1);
  }
  return t;
}

static double min_d(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)atol(argv[1]) : 5000;
  int jobs = argc > 2 ? atoi(argv[2]) : brr_sched_default_jobs();
  int rounds = argc > 3 ? atoi(argv[3]) : 3;
  unsigned seed = argc > 4 ? (unsigned)atoi(argv[4]) : 1;
  if (n < 1 || jobs < 1 || rounds < 1) {
    fprintf(stderr, "usage: bench_sched [tasks] [jobs] [rounds] [seed]\n");
    return 2;
  }
  dag d;
  dag_make(&d, n, seed);
  char dir[] = "/tmp/brr-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char *ninja_file = brr_path_join(dir, "build.ninja");
  char *make_file = brr_path_join(dir, "Makefile");
  char *ninja_log = brr_path_join(dir, ".ninja_log");
  write_ninja(&d, ninja_file);
  write_make(&d, make_file);
  char jobs_s[16];
  snprintf(jobs_s, sizeof jobs_s, "-j%d", jobs);
  char *ninja_argv[] = {"ninja", jobs_s, NULL};
  char *make_argv[] = {"make", "-s", jobs_s, NULL};
  static const char *const sh_true[] = {"/bin/sh", "-c", "true", NULL};
  static const char *const bin_true[] = {"/bin/true", NULL};

  double t_brr = 1e9, t_brr_exec = 1e9, t_ninja = 1e9, t_make = 1e9, t_brr_uv = 1e9;
  for (int r = 0; r < rounds; r++) {
    unlink(ninja_log);   /* no history: ninja must run everything, as brr does */
    t_ninja = min_d(t_ninja, run_tool(dir, ninja_argv));
    t_brr = min_d(t_brr, run_brr(&d, jobs, sh_true));
    t_make = min_d(t_make, run_tool(dir, make_argv));
    t_brr_exec = min_d(t_brr_exec, run_brr(&d, jobs, bin_true));
    setenv("BRR_SPAWN", "uv", 1);   /* the fork-based fallback, for comparison */
    t_brr_uv = min_d(t_brr_uv, run_brr(&d, jobs, sh_true));
    unsetenv("BRR_SPAWN");
  }
  double us = 1e6 / (double)n;
  printf("bench_sched: %zu tasks, %zu edges, -j%d, best of %d\n", n, d.n_edges, jobs, rounds);
  printf("  brr   sh -c true  %7.3f s  %6.1f us/task\n", t_brr, t_brr * us);
  printf("  ninja sh -c true  %7.3f s  %6.1f us/task\n", t_ninja, t_ninja * us);
  printf("  brr   sh -c true  %7.3f s  %6.1f us/task  (BRR_SPAWN=uv: fork-based uv_spawn)\n", t_brr_uv, t_brr_uv * us);
  printf("  brr   /bin/true   %7.3f s  %6.1f us/task\n", t_brr_exec, t_brr_exec * us);
  printf("  make  true        %7.3f s  %6.1f us/task\n", t_make, t_make * us);
  double ratio = t_brr / t_ninja;
  printf("  per-task ratio brr/ninja %.2f (target <= 1.50: %s)\n", ratio, ratio <= 1.5 ? "met" : "NOT met");
  printf("  per-task ratio brr/make  %.2f\n", t_brr_exec / t_make);
  printf("  per-task ratio brr(uv_spawn)/ninja %.2f\n", t_brr_uv / t_ninja);
  brr_rm_rf(dir);
  free(ninja_file);
  free(make_file);
  free(ninja_log);
  free(d.from);
  free(d.to);
  return 0;
}
