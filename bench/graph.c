/* bench_graph: how long `brr --graph=json` takes on big pipelines, measured against
 * `ninja -t graph` (Debian's ninja-build) on a build.ninja with the same dependency
 * structure, both timed in the same run. It also times brr's stages in-process (load =
 * read + template + YAML + validation, compile, render) to show where the time goes.
 *
 *   bench_graph [--brr PATH] [--ninja PATH] [--runs N] [--sizes 1000,10000] [--keep]
 *
 * --keep leaves the generated directories (buildrunner.yaml, build.ninja) for profiling.
 *
 * Prints medians, the brr/ninja ratio, peak memory (ru_maxrss of each child) and how the
 * time grows from the smallest to the largest size. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "brr/config.h"
#include "brr/graph.h"
#include "brr/util.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) { /* xorshift64*: the same pipelines on every run */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- the generated pipeline ------------------------------------------------------------ */

typedef struct gen_stats {
  size_t n_depends, n_images;
} gen_stats;

/* N steps: 30% build and commit an image (FROM busybox or an earlier step's image), 70% run
 * a command (in busybox or an earlier step's image); each step depends on 0-3 earlier ones.
 * build.ninja gets one edge per step whose inputs are exactly the steps it waits for. */
static void generate(const char *dir, size_t n, gen_stats *st) {
  rng_state = 0x9e3779b97f4a7c15ull ^ n;
  brr_buf y = BRR_BUF_INIT, nj = BRR_BUF_INIT;
  brr_buf_puts(&y, "version: 2.0\nsteps:\n");
  brr_buf_puts(&nj, "rule r\n  command = true\n");
  size_t *producers = brr_xmalloc(n * sizeof *producers), n_prod = 0;
  memset(st, 0, sizeof *st);
  for (size_t i = 0; i < n; i++) {
    bool build = rng() % 10 < 3;
    size_t from = n_prod && rng() % 2 ? producers[rng() % n_prod] : (size_t)-1;
    char image[64];
    if (from != (size_t)-1) snprintf(image, sizeof image, "img/s%06zu:latest", from);
    else snprintf(image, sizeof image, "busybox:latest");
    brr_buf_printf(&y, "  s%06zu:\n", i);
    brr_buf_printf(&nj, "build s%06zu: r", i);
    if (from != (size_t)-1) {
      brr_buf_printf(&nj, " s%06zu", from);
      st->n_images++;
    }
    size_t n_dep = i ? rng() % 4 : 0, deps[3];
    size_t k = 0;
    for (size_t j = 0; j < n_dep; j++) {
      size_t d = rng() % i;
      bool dup = d == from;
      for (size_t m = 0; m < k; m++) dup |= deps[m] == d;
      if (!dup) deps[k++] = d;
    }
    if (k) {
      brr_buf_puts(&y, "    depends:\n");
      for (size_t j = 0; j < k; j++) {
        brr_buf_printf(&y, "      - s%06zu\n", deps[j]);
        brr_buf_printf(&nj, " s%06zu", deps[j]);
      }
      st->n_depends += k;
    }
    brr_buf_putc(&nj, '\n');
    if (build) {
      brr_buf_printf(&y, "    build:\n      dockerfile: |\n        FROM %s\n        RUN echo %zu > /n\n", image, i);
      brr_buf_printf(&y, "    commit:\n      repository: img/s%06zu\n      tags: [ latest ]\n", i);
      producers[n_prod++] = i;
    } else {
      brr_buf_printf(&y, "    run:\n      image: %s\n      cmd: echo step %zu\n", image, i);
    }
  }
  char *p = brr_path_join(dir, "buildrunner.yaml");
  brr_write_file(p, y.data, y.len);
  free(p);
  p = brr_path_join(dir, "build.ninja");
  brr_write_file(p, nj.data, nj.len);
  free(p);
  brr_buf_free(&y);
  brr_buf_free(&nj);
  free(producers);
}

/* ---- running a command ------------------------------------------------------------------ */

typedef struct sample {
  double ms;
  long maxrss_kb;
  int status;
} sample;

static sample run_cmd(char *const argv[], const char *cwd) {
  sample s = {0, 0, -1};
  double t0 = now_ms();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, STDOUT_FILENO);
    if (chdir(cwd) != 0) _exit(127);
    execvp(argv[0], argv);
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) return s;
  s.ms = now_ms() - t0;
  s.maxrss_kb = ru.ru_maxrss;
  s.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median wall time and the largest peak RSS over `runs` runs; -1 when a run failed. */
static double measure(char *const argv[], const char *cwd, int runs, long *maxrss) {
  double *t = brr_xmalloc((size_t)runs * sizeof *t);
  *maxrss = 0;
  for (int r = 0; r < runs; r++) {
    sample s = run_cmd(argv, cwd);
    if (s.status != 0) {
      fprintf(stderr, "bench_graph: %s failed (status %d) in %s\n", argv[0], s.status, cwd);
      free(t);
      return -1;
    }
    t[r] = s.ms;
    if (s.maxrss_kb > *maxrss) *maxrss = s.maxrss_kb;
  }
  double m = median(t, runs);
  free(t);
  return m;
}

/* ---- brr's stages in-process -------------------------------------------------------------- */

typedef struct stages {
  double load, compile, render;
  size_t nodes, edges;
} stages;

static int measure_stages(const char *dir, int runs, stages *out) {
  double *tl = brr_xmalloc((size_t)runs * 3 * sizeof *tl), *tc = tl + runs, *tr = tc + runs;
  for (int r = 0; r < runs; r++) {
    brr_load_opts lo = {.build_dir = dir, .master_config_path = "/nonexistent/brr-bench",
                        .user_config_path = "/nonexistent/brr-bench"};
    brr_diags d = BRR_DIAGS_INIT;
    brr_config *cfg = NULL;
    double t0 = now_ms();
    int rc = brr_config_load(&lo, &cfg, &d);
    double t1 = now_ms();
    brr_graph *g = NULL;
    brr_graph_opts go = {.native_platform = brr_native_platform(), .fs = &brr_host_fs};  /* as the CLI */
    if (rc == 0) rc = brr_graph_compile(cfg, &go, &g, &d);
    double t2 = now_ms();
    brr_buf b = BRR_BUF_INIT;
    if (rc == 0) brr_graph_render(g, BRR_GRAPH_JSON, &b);
    double t3 = now_ms();
    if (rc != 0) {
      brr_diags_print(&d, stderr, false);
      brr_diags_free(&d);
      brr_config_free(cfg);
      free(tl);
      return rc;
    }
    tl[r] = t1 - t0;
    tc[r] = t2 - t1;
    tr[r] = t3 - t2;
    out->nodes = g->n_nodes;
    out->edges = g->n_edges;
    brr_buf_free(&b);
    brr_graph_free(g);
    brr_config_free(cfg);
    brr_diags_free(&d);
  }
  out->load = median(tl, runs);
  out->compile = median(tc, runs);
  out->render = median(tr, runs);
  free(tl);
  return 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

static char *default_brr(const char *argv0) {
  const char *env = getenv("BRR");
  if (env && *env) return brr_xstrdup(env);
  char *self = brr_path_realpath(argv0);
  char *dir = self ? brr_path_dirname(self) : brr_xstrdup(".");
  char *p = brr_path_join(dir, "../brr"); /* build/bench/bench_graph -> build/brr */
  free(self);
  free(dir);
  return p;
}

int main(int argc, char **argv) {
  char *brr = NULL;
  const char *ninja = "ninja", *sizes_arg = "1000,10000";
  int runs = 5;
  bool keep = false;
  static const struct option longopts[] = {{"brr", required_argument, NULL, 'b'},
                                           {"ninja", required_argument, NULL, 'n'},
                                           {"runs", required_argument, NULL, 'r'},
                                           {"sizes", required_argument, NULL, 's'},
                                           {"keep", no_argument, NULL, 'k'},
                                           {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'b': brr = brr_xstrdup(optarg); break;
    case 'n': ninja = optarg; break;
    case 'r': runs = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
    case 's': sizes_arg = optarg; break;
    case 'k': keep = true; break;
    default:
      fprintf(stderr, "usage: %s [--brr PATH] [--ninja PATH] [--runs N] [--sizes A,B] [--keep]\n", argv[0]);
      return 2;
    }
  }
  if (!brr) brr = default_brr(argv[0]);
  size_t n_sizes;
  char **sizes = brr_split(sizes_arg, ',', &n_sizes);
  double first_brr = 0, first_ninja = 0, last_brr = 0, last_ninja = 0;
  size_t first_n = 0, last_n = 0;
  long last_kb = 0;
  printf("brr --graph=json vs ninja -t graph, same dependency structure, median of %d runs\n", runs);
  printf("%7s %7s %7s | %9s %9s %6s | %7s %8s | %8s %8s %8s\n", "steps", "nodes", "edges", "brr ms",
         "ninja ms", "ratio", "brr MB", "ninja MB", "load ms", "comp ms", "json ms");
  int rc = 0;
  for (size_t i = 0; i < n_sizes; i++) {
    size_t n = (size_t)strtoul(sizes[i], NULL, 10);
    char dir[] = "/tmp/brr-bench-graph-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    gen_stats gs;
    generate(dir, n, &gs);
    char *brr_argv[] = {brr, "--graph=json", "-d", dir, NULL};
    char *ninja_argv[] = {(char *)ninja, "-C", dir, "-t", "graph", NULL};
    long brr_kb, ninja_kb;
    double tb = measure(brr_argv, dir, runs, &brr_kb), tn = measure(ninja_argv, dir, runs, &ninja_kb);
    stages st = {0};
    if (tb < 0 || tn < 0 || measure_stages(dir, runs, &st) != 0) {
      rc = 1;
      brr_rm_rf(dir);
      break;
    }
    printf("%7zu %7zu %7zu | %9.1f %9.1f %6.2f | %7.1f %8.1f | %8.1f %8.1f %8.1f\n", n, st.nodes, st.edges, tb,
           tn, tb / tn, (double)brr_kb / 1024, (double)ninja_kb / 1024, st.load, st.compile, st.render);
    if (i == 0) first_n = n, first_brr = tb, first_ninja = tn;
    last_n = n, last_brr = tb, last_ninja = tn;
    last_kb = brr_kb;
    if (keep) printf("        kept %s\n", dir);
    else brr_rm_rf(dir);
  }
  if (rc == 0 && last_n > first_n)
    printf("scaling %zu -> %zu steps (x%.0f): brr x%.1f, ninja x%.1f\n", first_n, last_n,
           (double)last_n / (double)first_n, last_brr / first_brr, last_ninja / first_ninja);
  if (rc == 0 && last_n)
    printf("at %zu steps: brr / ninja wall %.2f (target <= 2, issue 15), brr peak %.1f MB (target <= 40)\n", last_n,
           last_brr / last_ninja, (double)last_kb / 1024);
  brr_strv_free(sizes);
  free(brr);
  return rc;
}
