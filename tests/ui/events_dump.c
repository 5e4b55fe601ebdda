/* A scripted run through the real ui: JSON events on stdout (--progress=json) and, with a
 * results dir as argv[1], the logs and trace.json there. Input for check_events.py, which
 * holds them to docs/events.schema.json and the Chrome trace event format. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/ui.h"

static brr_bus *bus;
static int64_t t0;

static void emit(brr_event ev, int64_t at) {
  ev.ts_ms = t0 + at;
  brr_bus_emit(bus, &ev);
}

static void out(const char *step, const char *node, const char *line, size_t len, int64_t at) {
  emit((brr_event){.type = BRR_EV_NODE_OUTPUT, .step = step, .node = node, .stream = 1, .text = line, .len = len}, at);
}

static void phase(const char *step, const char *node, const char *name, bool end, int64_t at) {
  emit((brr_event){.type = BRR_EV_PHASE, .step = step, .node = node, .text = name, .len = strlen(name), .phase_end = end}, at);
}

int main(int argc, char **argv) {
  t0 = 1700000000000LL;
  bus = brr_bus_new();
  brr_ui_opts o = {.progress = BRR_PROGRESS_JSON, .fd = 1, .results_dir = argc > 1 ? argv[1] : NULL};
  brr_ui *ui = brr_ui_new(bus, &o);
  if (!ui) return 2;
  const char *ids[] = {"app/build", "app/run", "test/run", "push:registry/app:1"};
  const char *labels[] = {"app", "app", "test", "push:registry/app:1"};
  const char *kinds[] = {"build", "run", "run", "push"};
  const char *images[] = {NULL, NULL, NULL, "registry/app:1"};
  const char *files[] = {"/p/buildrunner.yaml", "/p/buildrunner.yaml", "/p/buildrunner.yaml", NULL};
  const unsigned lines[] = {2, 2, 8, 0};
  emit((brr_event){.type = BRR_EV_RUN_START, .n_total = 4, .node_ids = ids, .node_labels = labels,
                   .node_kinds = kinds, .node_images = images, .node_files = files, .node_lines = lines, .jobs = 2}, 0);
  emit((brr_event){.type = BRR_EV_NODE_START, .step = "app", .node = "app/build", .slot = 0}, 0);
  emit((brr_event){.type = BRR_EV_NODE_START, .step = "test", .node = "test/run", .slot = 1}, 0);
  phase("test", "test/run", "pull", false, 5);
  phase("test", "test/run", "pull", true, 400);
  phase("test", "test/run", "command", false, 450);
  out("app", "app/build", "Step 1/2 : FROM busybox", 23, 100);
  out("test", "test/run", "bytes \xff\xfe and \xc3\x28 and \0 nul", 25, 600);
  out("test", "test/run", "\xe2\x9c\x93 ok", 5, 700);
  emit((brr_event){.type = BRR_EV_FLUSH}, 700);
  phase("test", "test/run", "command", true, 1900);
  emit((brr_event){.type = BRR_EV_NODE_END, .step = "test", .node = "test/run", .status = BRR_STATUS_FAILED,
                   .duration = 2.0, .text = "exit status 1"}, 2000);
  emit((brr_event){.type = BRR_EV_NODE_END, .step = "app", .node = "app/build", .status = BRR_STATUS_SUCCEEDED,
                   .duration = 2.5}, 2500);
  emit((brr_event){.type = BRR_EV_NODE_START, .step = "app", .node = "app/run", .slot = 0, .wait_s = 0.25}, 2500);
  phase("app", "app/run", "create", false, 2510);
  phase("app", "app/run", "create", true, 2600);
  emit((brr_event){.type = BRR_EV_NODE_END, .step = "app", .node = "app/run", .status = BRR_STATUS_SUCCEEDED,
                   .duration = 1.0}, 3500);
  emit((brr_event){.type = BRR_EV_NODE_END, .node = "push:registry/app:1", .status = BRR_STATUS_SKIPPED,
                   .text = "depends on test/run, which failed"}, 3500);
  brr_bus_log(bus, BRR_LOG_WARNING, NULL, "a warning with \x80 a stray byte");
  const char *crit[] = {"app/build", "app/run"};
  emit((brr_event){.type = BRR_EV_RUN_END, .n_total = 4, .n_succeeded = 2, .n_failed = 1, .n_skipped = 1,
                   .wall_s = 3.5, .sum_s = 5.5, .critical_s = 3.5, .jobs = 2, .exit_code = 1,
                   .critical_ids = crit, .n_critical = 2}, 3500);
  brr_ui_free(ui);
  brr_bus_free(bus);
  return 0;
}
