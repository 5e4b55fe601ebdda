/* What a step's output costs brr's ui, without Docker: BYTES of LINE_LEN-byte lines (default
 * 20 MB of 2-byte lines, "x\n") fed through the line splitter in 32 KiB chunks, as the engine
 * delivers a container's stream, to the chosen console mode on /dev/null plus the results-dir
 * logs (build.log and the step's log), timestamps on. Prints CPU seconds and ns per line.
 * usage: bench_ui_output [bytes] [line_len] [plain|tty|ci|json] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "brr/ui.h"

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  size_t bytes = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
  size_t line_len = argc > 2 ? strtoull(argv[2], NULL, 10) : 2;
  brr_progress mode = BRR_PROGRESS_PLAIN;
  if (argc > 3 && brr_progress_parse(argv[3], &mode) != 0) return 2;
  if (line_len < 1) line_len = 1;
  char dir[] = "/tmp/brr-bench-ui-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  int devnull = open("/dev/null", O_WRONLY);
  brr_bus *bus = brr_bus_new();
  brr_ui *ui = brr_ui_new(bus, &(brr_ui_opts){.progress = mode, .fd = devnull, .timestamps = true,
                                              .results_dir = dir, .trace_path = ""});
  if (!ui) return 1;
  const char *ids[] = {"step/run"}, *labels[] = {"step"};
  brr_event ev = {.type = BRR_EV_RUN_START, .n_total = 1, .node_ids = ids, .node_labels = labels, .jobs = 1};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_NODE_START, .step = "step", .node = "step/run"};
  brr_bus_emit(bus, &ev);

  /* one chunk of whole lines, fed until `bytes` */
  size_t chunk = 32768 - 32768 % line_len;
  char *buf = malloc(chunk);
  for (size_t i = 0; i < chunk; i++) buf[i] = (i % line_len == line_len - 1) ? '\n' : 'x';
  brr_lines l;
  brr_lines_init(&l, bus, "step", "step/run", NULL, 1);
  double c0 = cpu_s();
  size_t fed = 0;
  while (fed < bytes) {
    size_t n = bytes - fed < chunk ? bytes - fed : chunk;
    brr_lines_feed(&l, buf, n);
    fed += n;
  }
  brr_lines_flush(&l);
  ev = (brr_event){.type = BRR_EV_NODE_END, .step = "step", .node = "step/run", .status = BRR_STATUS_SUCCEEDED};
  brr_bus_emit(bus, &ev);
  ev = (brr_event){.type = BRR_EV_RUN_END, .n_total = 1, .n_succeeded = 1, .jobs = 1};
  brr_bus_emit(bus, &ev);
  brr_ui_free(ui);
  double c1 = cpu_s();
  brr_lines_free(&l);
  brr_bus_free(bus);
  free(buf);
  close(devnull);
  brr_rm_rf(dir);
  size_t lines = bytes / line_len;
  printf("ui_output_cpu_s %.3f   (%zu bytes, %zu lines of %zu bytes, mode %s, logs on)\n", c1 - c0, bytes, lines,
         line_len, argc > 3 ? argv[3] : "plain");
  printf("ui_output_ns_per_line %.0f\n", (c1 - c0) * 1e9 / (double)(lines ? lines : 1));
  return 0;
}
