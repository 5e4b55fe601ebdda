/* brr — the command line: buildrunner's flags (same meaning, short forms and defaults) plus
 * brr's own. main.c only dispatches: parse, load, compile, run or print. */
#ifndef BRR_CLI_H
#define BRR_CLI_H

#include <stdbool.h>
#include <stdio.h>

typedef struct brr_cli {
  /* buildrunner's flags (spec §10) */
  const char *global_config;      /* -c */
  const char *directory;          /* -d (default: cwd) */
  const char *results_dir;        /* -b (default: <dir>/buildrunner.results) */
  const char *file;               /* -f (default: buildrunner.yaml) */
  bool debug;                     /* -x */
  char **container_labels;        /* --container-labels k=v,...: "k=v" strings, NULL-terminated */
  const char *build_number;       /* -n */
  int docker_timeout;             /* -t, seconds; default 600, 0 -> 3600 */
  bool push;
  bool keep_images;               /* deprecated no-op */
  bool cleanup_images;
  bool local_images;
  const char *platform;
  bool keep_step_artifacts;
  bool clean_cache;
  char **steps;                   /* -s, repeated and comma-split; NULL-terminated or NULL */
  bool publish_ports;
  bool disable_timestamps;
  bool no_color;
  bool print_generated_files;
  bool log_generated_files;
  bool disable_multi_platform;
  const char *security_scan_enabled;        /* "true" / "false" */
  const char *security_scan_scanner;
  const char *security_scan_version;
  const char *security_scan_config_file;
  const char *security_scan_max_score_threshold;
  /* brr's own */
  int jobs;                       /* -j; 0: default (cores + 2, at least 16) */
  bool keep_going;                /* -k / --keep-going */
  bool serial;                    /* --serial: buildrunner's exact order */
  bool with_deps;                 /* --with-deps: --steps plus what they depend on */
  const char *graph;              /* --graph[=text|dot|mermaid|json]: print and exit */
  const char *progress;           /* --progress=auto|tty|plain|ci|json (or BRR_PROGRESS) */
  int heartbeat_s;                /* --heartbeat / BRR_HEARTBEAT: 0 default, -1 none */
  const char *trace;              /* --trace FILE, or NULL (trace.json in the results dir) */
  bool strict_templates;          /* --strict-templates */
  bool help, version;
  unsigned long long used_mask;   /* one bit per option seen (for the not-implemented check) */
} brr_cli;

/* Parse argv. Returns 0, or BRR_EXIT_USAGE after printing the problem to `err`. */
int brr_cli_parse(brr_cli *cli, int argc, char **argv, FILE *err);
/* Refuse flags whose feature is not there yet: prints which and returns BRR_EXIT_USAGE,
 * or 0 when every flag used is implemented. */
int brr_cli_check_implemented(const brr_cli *cli, FILE *err);
void brr_cli_print_help(FILE *out, const char *prog);
void brr_cli_free(brr_cli *cli);
/* Run the compiled graph (results dir, ui, runtime, scheduler) and return the exit code. */
struct brr_config;
struct brr_graph;
int brr_cli_run(const brr_cli *cli, struct brr_config *cfg, struct brr_graph *g);
/* Run brr with these arguments (what main() does); returns the exit code. */
int brr_main(int argc, char **argv);

#endif
