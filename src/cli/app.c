/* brr_main: parse the command line, then load, compile and run or print. Each stage lives
 * in its module; this file only wires them in order and maps results to exit codes. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/cli.h"
#include "brr/config.h"
#include "brr/diag.h"
#include "brr/graph.h"
#include "brr/sched.h"
#include "brr/tasks.h"
#include "brr/ui.h"

/* ---- loading the configuration ------------------------------------------------------------ */

typedef struct gen_out {
  bool print;  /* --print-generated-files: the project file to stdout, the rest to stderr */
  bool log;    /* --log-generated-files: everything to stderr */
} gen_out;

static void on_generated(void *ud, brr_generated_kind kind, const char *file, const char *text,
                         size_t len) {
  const gen_out *g = ud;
  char *disp = brr_path_display(file);
  fprintf(stderr, "Generated contents of %s:\n", disp);
  free(disp);
  if (g->print && kind == BRR_GEN_PROJECT) {
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return;
  }
  fwrite(text, 1, len, stderr);
  if (len && text[len - 1] != '\n') fputc('\n', stderr);
}

static void cli_to_load_opts(const brr_cli *cli, gen_out *gen, brr_load_opts *o) {
  memset(o, 0, sizeof *o);
  o->build_dir = cli->directory;
  o->file = cli->file;
  o->global_config = cli->global_config;
  o->results_dir = cli->results_dir;
  o->build_number = cli->build_number;
  o->platform = cli->platform;
  o->push = cli->push;
  o->disable_multi_platform = cli->disable_multi_platform;
  o->strict_templates = cli->strict_templates;
  o->steps = cli->steps;
  o->security_scan_enabled = cli->security_scan_enabled;
  o->security_scan_scanner = cli->security_scan_scanner;
  o->security_scan_version = cli->security_scan_version;
  o->security_scan_config_file = cli->security_scan_config_file;
  o->security_scan_max_score_threshold = cli->security_scan_max_score_threshold;
  gen->print = cli->print_generated_files;
  gen->log = cli->log_generated_files;
  if (gen->print || gen->log) {
    o->on_generated = on_generated;
    o->on_generated_ud = gen;
  }
}

/* diagnostics follow the same colour rules as the run's output (docs/output.md) */
static bool stderr_color(const brr_cli *cli) { return brr_ui_color_enabled(STDERR_FILENO, cli->no_color); }

/* On GitHub Actions every configuration error also becomes an annotation at its line, on
 * stdout where the runner reads workflow commands. */
static void github_annotations(const brr_diags *d) {
  if (brr_ui_ci_detect() != BRR_CI_GITHUB) return;
  for (size_t i = 0; i < d->n; i++) {
    const brr_diag *x = &d->v[i];
    if (x->level != BRR_DIAG_ERROR) continue;
    char *msg = x->path ? brr_xasprintf("%s: %s", x->path, x->msg) : brr_xstrdup(x->msg);
    brr_ui_github_error(stdout, x->mark.file, x->mark.line, x->mark.col, "brr: configuration error", msg);
    free(msg);
  }
}

/* Schema errors show the source line and a caret, as YAML errors do: the rendered project
 * text when the load got that far, else the file itself unless it is a template (its marks
 * are in the rendered text). */
static void add_snippets(brr_diags *d, const brr_config *cfg) {
  for (size_t i = 0; i < d->n; i++) {
    brr_diag *x = &d->v[i];
    if (x->snippet || !x->mark.file || !x->mark.line) continue;
    if (cfg && cfg->project_text && brr_streq(x->mark.file, cfg->project_file)) {
      brr_diag_set_snippet(x, cfg->project_text, cfg->project_text_len);
      continue;
    }
    if (brr_endswith(x->mark.file, ".j2")) continue;
    brr_buf text = BRR_BUF_INIT;
    if (brr_read_file(x->mark.file, &text) == 0) brr_diag_set_snippet(x, brr_buf_cstr(&text), text.len);
    brr_buf_free(&text);
  }
}

/* Load and validate; diagnostics (warnings too) go to stderr. Returns 0 or the exit code. */
static int load_config(const brr_cli *cli, brr_config **cfg) {
  brr_load_opts opts;
  gen_out gen;
  cli_to_load_opts(cli, &gen, &opts);
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_config_load(&opts, cfg, &d);
  add_snippets(&d, *cfg);
  brr_diags_print(&d, stderr, stderr_color(cli));
  github_annotations(&d);
  int code = rc == 0 ? 0 : brr_diags_exit_code(&d);
  if (rc != 0 && code == 0) code = BRR_EXIT_CONFIG;
  brr_diags_free(&d);
  return code;
}

/* ---- the graph ----------------------------------------------------------------------------- */

/* Compile the graph; diagnostics (warnings too) go to stderr. Returns 0 or the exit code. */
static int compile_graph(const brr_cli *cli, const brr_config *cfg, brr_graph **g) {
  brr_graph_opts o = {
      .push = cli->push,
      .serial = cli->serial || cli->jobs == 1,
      .steps = cli->steps,
      .with_deps = cli->with_deps,
      .platform = cli->platform,
      .disable_multi_platform =
          cli->disable_multi_platform || cfg->global.disable_multi_platform == BRR_TRUE,
      .native_platform = brr_native_platform(),
      .fs = &brr_host_fs,
  };
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_graph_compile(cfg, &o, g, &d);
  for (size_t i = 0; i < d.n; i++)
    if (brr_streq(d.v[i].mark.file, cfg->project_file))
      brr_diag_set_snippet(&d.v[i], cfg->project_text, cfg->project_text_len);
  brr_diags_print(&d, stderr, stderr_color(cli));
  github_annotations(&d);
  int code = rc == 0 ? 0 : brr_diags_exit_code(&d);
  brr_diags_free(&d);
  if (rc != 0) return code ? code : BRR_EXIT_CONFIG;
  return 0;
}

/* --graph --incremental: what a run would reuse, and the first input that changed for the
 * rest (docs/incremental.md). A runtime is made for the hashing, but no engine is asked. */
static void predict_reuse(const brr_cli *cli, const brr_config *cfg, brr_graph *g) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return;
  brr_bus *bus = brr_bus_new();
  /* what the environment input takes from the flags, as a run would */
  brr_runtime_opts ro = {.incremental = true, .platform = cli->platform,
                         .publish_ports = cli->publish_ports,
                         .container_labels = cli->container_labels};
  brr_runtime *rt = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_runtime_new(&loop, cfg, g, &ro, bus, &rt, &d) == 0) {
    brr_incr_predict(rt, g);
    brr_runtime_free(rt);
  } else {
    for (size_t i = 0; i < d.n; i++) fprintf(stderr, "brr: warning: --incremental: %s\n", d.v[i].msg);
  }
  brr_diags_free(&d);
  brr_bus_free(bus);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
}

/* --graph: print the graph (docs/graph.md); nothing runs and Docker is not contacted. */
static int print_graph(const brr_cli *cli, const brr_config *cfg, brr_graph *g) {
  if (cli->incremental || cfg->global.incremental == BRR_TRUE) predict_reuse(cli, cfg, g);
  /* the weights the scheduler would use: durations earlier runs measured */
  char *history = brr_sched_history_path(NULL, cfg->project_file);
  brr_sched_apply_history(g, history);
  free(history);
  brr_graph_format fmt = BRR_GRAPH_TEXT;
  brr_graph_format_parse(cli->graph, &fmt); /* brr_cli_parse already refused other values */
  return brr_graph_render_file(g, fmt, stdout) == 0 ? BRR_EXIT_OK : BRR_EXIT_FAILED;
}

/* ---- what brr prints about itself ---------------------------------------------------------- */

/* --version, --help-man, --completion, --print-schema: no configuration is read */
static int print_info(const brr_cli *cli) {
  int rc = 0;
  if (cli->version) {
    rc = brr_cli_print_version(stdout);
  } else if (cli->help_man) {
    rc = brr_cli_print_man(stdout);
  } else if (cli->completion) {
    rc = brr_cli_print_completion(stdout, cli->completion);
  } else {
    char *schema = brr_config_schema_json(strcmp(cli->print_schema, "global") == 0, NULL);
    rc = fputs(schema, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0 ? -1 : 0;
    free(schema);
  }
  if (rc != 0) {
    fprintf(stderr, "brr: error: cannot write to stdout\n");
    return BRR_EXIT_FAILED;
  }
  return BRR_EXIT_OK;
}

/* --list-steps: the step names in file order, one a line (what the shell completions offer) */
static int list_steps(const brr_config *cfg) {
  for (size_t i = 0; i < cfg->n_steps; i++) printf("%s\n", cfg->steps[i].name.s);
  return fflush(stdout) == 0 && !ferror(stdout) ? BRR_EXIT_OK : BRR_EXIT_FAILED;
}

/* ---- main ----------------------------------------------------------------------------------- */

int brr_main(int argc, char **argv) {
  brr_cli cli;
  int rc = brr_cli_parse(&cli, argc, argv, stderr);
  if (rc != 0) {
    brr_cli_free(&cli);
    return rc;
  }
  if (cli.help) {
    brr_cli_print_help(stdout, "brr");
    brr_cli_free(&cli);
    return BRR_EXIT_OK;
  }
  if (cli.version || cli.help_man || cli.completion || cli.print_schema) {
    rc = print_info(&cli);
    brr_cli_free(&cli);
    return rc;
  }
  if (cli.clean) {
    rc = brr_cli_clean(&cli);
    brr_cli_free(&cli);
    return rc;
  }
#ifdef M_MMAP_THRESHOLD
  /* --graph allocates once and exits: glibc's moving mmap threshold (raised when the read
   * config's buffer is freed) put the big arrays grown afterwards on the heap, 2.5 MB more
   * peak memory at 10,000 steps. Fixed at its default, big arrays keep their own mappings. */
  if (cli.graph) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
  brr_config *cfg = NULL;
  rc = load_config(&cli, &cfg);
  if (rc == 0 && cli.list_steps) {
    rc = list_steps(cfg);
    brr_config_free(cfg);
    brr_cli_free(&cli);
    return rc;
  }
  brr_graph *g = NULL;
  if (rc == 0 && !cli.print_generated_files) rc = compile_graph(&cli, cfg, &g);
  if (rc == 0 && g) rc = cli.graph ? print_graph(&cli, cfg, g) : brr_cli_run(&cli, cfg, g);
  brr_graph_free(g);
  brr_config_free(cfg);
  brr_cli_free(&cli);
  return rc;
}
