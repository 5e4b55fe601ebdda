/* brr_main: parse the command line, then load, compile and run or print. Each stage lives
 * in its module; this file only wires them in order and maps results to exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/cli.h"
#include "brr/config.h"
#include "brr/diag.h"
#include "brr/graph.h"

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
  o->steps = cli->steps;
  gen->print = cli->print_generated_files;
  gen->log = cli->log_generated_files;
  if (gen->print || gen->log) {
    o->on_generated = on_generated;
    o->on_generated_ud = gen;
  }
}

static bool stderr_color(const brr_cli *cli) {
  const char *nc = getenv("NO_COLOR");
  return !cli->no_color && !(nc && *nc) && isatty(STDERR_FILENO);
}

/* Load and validate; diagnostics (warnings too) go to stderr. Returns 0 or the exit code. */
static int load_config(const brr_cli *cli, brr_config **cfg) {
  brr_load_opts opts;
  gen_out gen;
  cli_to_load_opts(cli, &gen, &opts);
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_config_load(&opts, cfg, &d);
  brr_diags_print(&d, stderr, stderr_color(cli));
  int code = rc == 0 ? 0 : brr_diags_exit_code(&d);
  if (rc != 0 && code == 0) code = BRR_EXIT_CONFIG;
  brr_diags_free(&d);
  return code;
}

/* ---- the pipeline summary (until the scheduler runs the steps) ----------------------------- */

static void summary_pushes(const char *verb, const brr_pushspec *ps, size_t n, FILE *out) {
  for (size_t i = 0; i < n; i++) {
    fprintf(out, "; %s %s:", verb, ps[i].repository.s);
    for (size_t j = 0; j < ps[i].tags.n; j++) fprintf(out, "%s%s", j ? "," : "", ps[i].tags.v[j].s);
  }
}

static void summary_build(const brr_build *b, FILE *out) {
  if (b->import.s) {
    fprintf(out, "import %s", b->import.s);
    return;
  }
  fprintf(out, "build");
  if (b->dockerfile_inline) fprintf(out, " (inline Dockerfile)");
  else if (b->dockerfile.s) fprintf(out, " (%s)", b->dockerfile.s);
  if (b->path.s) fprintf(out, " in %s", b->path.s);
  for (size_t i = 0; i < b->platforms.n; i++)
    fprintf(out, "%s%s", i ? "," : " for ", b->platforms.v[i].s);
  if (b->platform.s) fprintf(out, " for %s", b->platform.s);
}

static void summary_run(const brr_run *r, FILE *out) {
  size_t cmds = r->c.cmds.n + (r->c.cmd.s ? 1 : 0);
  fprintf(out, "run %s", r->c.image.s ? r->c.image.s : "the built image");
  if (cmds) fprintf(out, " (%zu command%s)", cmds, cmds == 1 ? "" : "s");
  if (r->n_services) fprintf(out, " with %zu service%s", r->n_services, r->n_services == 1 ? "" : "s");
  if (r->artifacts.n) fprintf(out, ", %zu artifact pattern%s", r->artifacts.n, r->artifacts.n == 1 ? "" : "s");
}

static void print_summary(const brr_config *cfg, FILE *out) {
  char *disp = brr_path_display(cfg->project_file);
  fprintf(out, "%s: %zu step%s", disp, cfg->n_steps, cfg->n_steps == 1 ? "" : "s");
  free(disp);
  if (cfg->has_version) fprintf(out, ", version %g", cfg->version);
  fprintf(out, ", build id %s\n", cfg->build_id);
  for (size_t i = 0; i < cfg->n_steps; i++) {
    const brr_step *s = &cfg->steps[i];
    fprintf(out, "  %s: ", s->name.s);
    const char *sep = "";
    if (s->remote) {
      fprintf(out, "remote %s", s->remote->host.s);
      sep = "; ";
    }
    if (s->build) {
      fputs(sep, out);
      summary_build(s->build, out);
      sep = "; ";
    }
    if (s->run) {
      fputs(sep, out);
      summary_run(s->run, out);
    }
    summary_pushes("push", s->push, s->n_push, out);
    summary_pushes("commit", s->commit, s->n_commit, out);
    if (s->n_pypi_push) fprintf(out, "; pypi-push %zu", s->n_pypi_push);
    for (size_t j = 0; j < s->depends.n; j++)
      fprintf(out, "%s%s", j ? ", " : " (after ", s->depends.v[j].s);
    fputs(s->depends.n ? ")\n" : "\n", out);
  }
}

/* ---- --graph ------------------------------------------------------------------------------- */

/* Compile and print the graph (docs/graph.md); nothing runs and Docker is not contacted. */
static int print_graph(const brr_cli *cli, const brr_config *cfg) {
  brr_graph_format fmt = BRR_GRAPH_TEXT;
  brr_graph_format_parse(cli->graph, &fmt); /* brr_cli_parse already refused other values */
  brr_graph_opts o = {
      .push = cli->push,
      .serial = cli->serial || cli->jobs == 1,
      .steps = cli->steps,
      .with_deps = cli->with_deps,
      .platform = cli->platform,
      .disable_multi_platform = cli->disable_multi_platform,
  };
  brr_diags d = BRR_DIAGS_INIT;
  brr_graph *g = NULL;
  int rc = brr_graph_compile(cfg, &o, &g, &d);
  for (size_t i = 0; i < d.n; i++)
    if (brr_streq(d.v[i].mark.file, cfg->project_file))
      brr_diag_set_snippet(&d.v[i], cfg->project_text, cfg->project_text_len);
  brr_diags_print(&d, stderr, stderr_color(cli));
  int code = rc == 0 ? 0 : brr_diags_exit_code(&d);
  brr_diags_free(&d);
  if (rc != 0) return code ? code : BRR_EXIT_CONFIG;
  brr_buf out = BRR_BUF_INIT;
  brr_graph_render(g, fmt, &out);
  fwrite(brr_buf_cstr(&out), 1, out.len, stdout);
  brr_buf_free(&out);
  brr_graph_free(g);
  return fflush(stdout) == 0 ? BRR_EXIT_OK : BRR_EXIT_FAILED;
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
  if (cli.version) {
    printf("brr %s\n", BRR_VERSION);
    brr_cli_free(&cli);
    return BRR_EXIT_OK;
  }
  rc = brr_cli_check_implemented(&cli, stderr);
  brr_config *cfg = NULL;
  if (rc == 0) rc = load_config(&cli, &cfg);
  if (rc == 0 && cli.graph && !cli.print_generated_files) rc = print_graph(&cli, cfg);
  else if (rc == 0 && !cli.print_generated_files) print_summary(cfg, stdout);
  brr_config_free(cfg);
  brr_cli_free(&cli);
  return rc;
}
