/* Benchmark: building the /source tar of a build directory.
 *
 * Peers, measured in the same run on the same tree:
 *   - buildrunner's own code path: Python's tarfile.add with the same filter (results dir
 *     and .buildignore patterns through fnmatch), run by /usr/bin/python3;
 *   - GNU tar -cf with the same exclusions, the usual command-line baseline.
 * Each is run `rounds` times and the best time is kept; ratios are peer / brr.
 *
 * usage: bench_tasks_source_tar [files (default 3000)] [rounds (default 3)] */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brr/tasks_files.h"

/* Times itself, so the interpreter's start-up is not charged to tarfile. */
static const char *python_peer =
    "import fnmatch, os, sys, tarfile, time\n"
    "t0 = time.perf_counter()\n"
    "build, results, out = sys.argv[1:4]\n"
    "ex = []\n"
    "p = os.path.join(build, '.buildignore')\n"
    "if os.path.exists(p):\n"
    "    ex = open(p).read().splitlines()\n"
    "base = os.path.basename(results)\n"
    "def f(ti):\n"
    "    if ti.name == base: return None\n"
    "    for e in ex:\n"
    "        if e and e.strip() and fnmatch.fnmatch(ti.name, e): return None\n"
    "    return ti\n"
    "with open(out, 'wb') as fo:\n"
    "    with tarfile.open(mode='w', fileobj=fo) as t:\n"
    "        t.add(build, arcname='', filter=f)\n"
    "print((time.perf_counter() - t0) * 1000)\n";

/* Run argv; its stdout goes to `out` (up to size-1 bytes) when given. */
static int run(char *const argv[], char *out, size_t size) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(fds[1], 1);
    dup2(null, 2);
    close(fds[0]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t r;
  char sink[256];
  while ((r = read(fds[0], out && n < size - 1 ? out + n : sink,
                   out && n < size - 1 ? size - 1 - n : sizeof sink)) > 0)
    if (out && n < size - 1) n += (size_t)r;
  if (out) out[n] = '\0';
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A build dir shaped like a project: sources in nested directories, some large files, a
 * results dir and ignored logs that must be left out. */
static void make_tree(const char *root, int files) {
  char *buf = brr_xmalloc(1 << 20);
  for (int i = 0; i < (1 << 20); i++) buf[i] = (char)('a' + (i * 7) % 26);
  for (int i = 0; i < files; i++) {
    char *dir = brr_xasprintf("%s/src/m%02d/p%02d", root, i % 37, i % 11);
    brr_mkdir_p(dir, 0755);
    /* mostly small files, one in fifty of 1 MiB */
    size_t size = i % 50 == 0 ? (1u << 20) : (size_t)(200 + (i * 131) % 6000);
    const char *ext = i % 9 == 0 ? "log" : "c";
    char *p = brr_xasprintf("%s/f%05d.%s", dir, i, ext);
    brr_write_file(p, buf, size);
    free(p);
    free(dir);
  }
  char *results = brr_xasprintf("%s/buildrunner.results", root);
  brr_mkdir_p(results, 0755);
  char *big = brr_xasprintf("%s/old.bin", results);
  brr_write_file(big, buf, 1u << 20);
  char *ignore = brr_xasprintf("%s/.buildignore", root);
  brr_write_file(ignore, "*.log\n", 6);
  free(ignore);
  free(big);
  free(results);
  free(buf);
}

typedef struct job {
  const char *build, *results, *out;
  double self_ms;  /* set by a peer that times itself, else < 0 */
} job;

static double best_of(int rounds, int (*fn)(void *), job *j) {
  double best = 1e30;
  for (int r = 0; r < rounds; r++) {
    j->self_ms = -1;
    uint64_t t0 = brr_mono_ms();
    if (fn(j) != 0) return -1;
    double ms = j->self_ms >= 0 ? j->self_ms : (double)(brr_mono_ms() - t0);
    if (ms < best) best = ms;
  }
  return best;
}

static int brr_job(void *ctx) {
  job *j = ctx;
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_source_tar_create(j->build, j->results, j->out, &d);
  if (rc) brr_diags_print(&d, stderr, false);
  brr_diags_free(&d);
  return rc;
}

static int python_job(void *ctx) {
  job *j = ctx;
  char *argv[] = {(char *)"/usr/bin/python3", (char *)"-c", (char *)python_peer, (char *)j->build,
                  (char *)j->results, (char *)j->out, NULL};
  char out[64];
  int rc = run(argv, out, sizeof out);
  if (rc == 0) j->self_ms = atof(out);
  return rc;
}

static int gnutar_job(void *ctx) {
  job *j = ctx;
  char *argv[] = {(char *)"/usr/bin/tar", (char *)"-C", (char *)j->build,
                  (char *)"--exclude=./buildrunner.results", (char *)"--exclude=*.log",
                  (char *)"-cf", (char *)j->out, (char *)".", NULL};
  return run(argv, NULL, 0);
}

static long long file_size(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

int main(int argc, char **argv) {
  int files = argc > 1 ? atoi(argv[1]) : 3000;
  int rounds = argc > 2 ? atoi(argv[2]) : 3;
  const char *tmp = getenv("TMPDIR");
  char *root = brr_xasprintf("%s/brr-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(root)) return 1;
  char *build = brr_xasprintf("%s/build", root);
  char *results = brr_xasprintf("%s/buildrunner.results", build);
  char *out = brr_xasprintf("%s/source.tar", root);
  make_tree(build, files);
  job j = {build, results, out, -1};

  double t_brr = best_of(rounds, brr_job, &j);
  long long s_brr = file_size(out);
  double t_py = best_of(rounds, python_job, &j);
  long long s_py = file_size(out);
  double t_tar = best_of(rounds, gnutar_job, &j);
  long long s_tar = file_size(out);

  printf("source tar of %d files (best of %d; python timed inside the interpreter)\n", files, rounds);
  printf("  brr (libarchive)        %8.0f ms  %10lld bytes\n", t_brr, s_brr);
  printf("  buildrunner (tarfile)   %8.0f ms  %10lld bytes  ratio %.2fx\n", t_py, s_py,
         t_brr > 0 ? t_py / t_brr : 0);
  printf("  GNU tar                 %8.0f ms  %10lld bytes  ratio %.2fx\n", t_tar, s_tar,
         t_brr > 0 ? t_tar / t_brr : 0);
  brr_rm_rf(root);
  free(out);
  free(results);
  free(build);
  free(root);
  return t_brr < 0 || t_py < 0 || t_tar < 0;
}
